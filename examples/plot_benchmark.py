"""
========================================
Speed against scikit-learn (small sizes)
========================================

gmmc computes the same EM iterations as ``sklearn.mixture.GaussianMixture``
with fused, multithreaded kernels. This example times both on a few *small*
problems — small so that the documentation builds quickly — from the same
starting point and with a fixed number of iterations, and draws the time per
EM iteration as bars.

These numbers are only an illustration: at these sizes fixed overheads weigh
more, and the machine that builds the documentation may be busy. The
reference is the table in the README (``python benchmarks/bench_em.py``),
measured on larger problems on a quiet machine, which gives speed-ups of
about 8 to 29 times.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import gmmc

N_ITER = 5
cases = [("full", 20_000, 2, 4), ("full", 20_000, 8, 8), ("diag", 20_000, 16, 8),
         ("spherical", 20_000, 16, 8)]


def seconds_per_iteration(cls, X, cov_type, k, start, repeats=3):
    """Best time of ``repeats`` fits of N_ITER iterations, per iteration."""
    best = np.inf
    for _ in range(repeats):
        model = cls(k, covariance_type=cov_type, max_iter=N_ITER, tol=0.0, **start)
        t0 = time.perf_counter()
        model.fit(X)
        best = min(best, time.perf_counter() - t0)
    return best / N_ITER


rng = np.random.RandomState(0)
rows = []
for cov_type, n, d, k in cases:
    X = rng.normal(size=(n, d)) + rng.randint(0, 4, size=(n, 1)) * 3.0
    # A common start for both: a short gmmc fit's parameters.
    first = gmmc.GaussianMixture(k, covariance_type=cov_type, max_iter=2, tol=0.0,
                                 random_state=0)
    with warnings.catch_warnings():  # stopping at max_iter is the point here
        warnings.simplefilter("ignore")
        first.fit(X)
        start = dict(weights_init=first.weights_, means_init=first.means_,
                     precisions_init=first.precisions_)
        sk = seconds_per_iteration(SklearnGaussianMixture, X, cov_type, k, start)
        gm = seconds_per_iteration(gmmc.GaussianMixture, X, cov_type, k, start)
    rows.append((f"{cov_type}\nN={n} D={d} K={k}", sk, gm))
    print(f"{cov_type:9s} N={n} D={d:2d} K={k}: scikit-learn {sk * 1e3:7.2f} ms/it, "
          f"gmmc {gm * 1e3:6.2f} ms/it, {sk / gm:5.1f}x")

# %%
# Time per EM iteration (lower is better), on a logarithmic axis:

labels = [r[0] for r in rows]
positions = np.arange(len(rows))
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
ax.bar(positions - 0.2, [r[1] * 1e3 for r in rows], 0.4, label="scikit-learn")
ax.bar(positions + 0.2, [r[2] * 1e3 for r in rows], 0.4, label="gmmc")
for x, (_, sk, gm) in zip(positions, rows):
    ax.annotate(f"{sk / gm:.1f}x", (x + 0.2, gm * 1e3), ha="center", va="bottom",
                xytext=(0, 3), textcoords="offset points")
ax.set_xticks(positions, labels)
ax.set_yscale("log")
ax.set_ylabel("milliseconds per EM iteration")
ax.set_title("scikit-learn vs gmmc, small problems (see the README for the reference "
             "table)", fontsize=10)
ax.legend()
plt.show()
