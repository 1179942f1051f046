"""Small real data sets: a default fit, start included, gmmc against scikit-learn.

Each row fits one real data set with the library defaults (``init_params=
'kmeans'``, ``tol=1e-3``) and the same ``random_state``, one thread for both
(BLAS held to one thread too), as model selection, bootstraps and per-group
fits do thousands of times. The two libraries' fits alternate; each row
reports the median of the repeats and the ratio of the medians, and the
spread (min-max over the repeats) of gmmc's time. The table ends with the
median ratio over all rows.

    python benchmarks/bench_small.py             # 15 repeats per row
    python benchmarks/bench_small.py --repeats 5
"""
import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

import gmmc

# (name, loader, number of components)
DATA = [
    ("iris", lambda: datasets.load_iris().data, 3),
    ("wine", lambda: datasets.load_wine().data, 3),
    ("breast cancer", lambda: datasets.load_breast_cancer().data, 2),
    ("digits", lambda: datasets.load_digits().data, 10),
    ("diabetes", lambda: datasets.load_diabetes().data, 3),
    ("Old Faithful", gmmc.load_faithful, 2),
    ("linnerud", lambda: np.hstack([datasets.load_linnerud().data,
                                     datasets.load_linnerud().target]), 2),
]
COVARIANCE_TYPES = ("full", "diag")


def timed(fit):
    start = time.perf_counter()
    fit()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"gmmc {gmmc.__version__}; one thread; default fits (kmeans start, tol=1e-3); "
          f"median of {args.repeats} alternating repeats")
    header = (f"{'data':<14} {'N':>5} {'D':>3} {'K':>3} {'cov':<5} {'sklearn ms':>10} "
              f"{'gmmc ms':>8} {'gmmc min-max':>13} {'speed-up':>8}")
    print(header + "\n" + "-" * len(header))
    ratios = []
    with threadpool_limits(1):
        for name, load, k in DATA:
            X = np.ascontiguousarray(load(), dtype=np.float64)
            for cov in COVARIANCE_TYPES:
                params = dict(n_components=k, covariance_type=cov, random_state=0)
                ours, theirs = [], []
                for _ in range(args.repeats):
                    ours.append(timed(lambda: gmmc.GaussianMixture(**params,
                                                                   n_threads=1).fit(X)))
                    theirs.append(timed(lambda: SkGaussianMixture(**params).fit(X)))
                ratio = np.median(theirs) / np.median(ours)
                ratios.append(ratio)
                print(f"{name:<14} {X.shape[0]:>5} {X.shape[1]:>3} {k:>3} {cov:<5} "
                      f"{1e3 * np.median(theirs):>10.2f} {1e3 * np.median(ours):>8.2f} "
                      f"{1e3 * min(ours):>6.2f}-{1e3 * max(ours):<6.2f} {ratio:>7.1f}x",
                      flush=True)
    print(f"median speed-up: {np.median(ratios):.1f}x (min {min(ratios):.1f}x)")


if __name__ == "__main__":
    main()
