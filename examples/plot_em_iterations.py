"""
=====================================================
EM at work: the model after 1, 2, 5 and 20 iterations
=====================================================

Expectation-Maximization improves a mixture step by step. Each iteration
computes the responsibilities :math:`r_{nk} = p(k \\mid x_n)` under the
current parameters (E-step), then re-estimates weights, means and covariances
as responsibility-weighted averages (M-step). The log-likelihood never
decreases.

To watch it work, this example starts EM deliberately badly — all three
components crowded in a corner, outside the data — and stops it after 1, 2,
5 and 20 iterations (``max_iter``, with ``tol=0`` so that it does not stop
earlier). Stopping early is what a :class:`~gmmc.ConvergenceWarning`
reports; it is silenced here on purpose.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

import gmmc
from gmmc import plot

rng = np.random.RandomState(1)
X = np.vstack([rng.multivariate_normal(m, c, 250) for m, c in [
    ((0.0, 0.0), [[1.0, 0.6], [0.6, 1.0]]),
    ((5.0, 1.0), [[0.5, 0.0], [0.0, 2.0]]),
    ((2.0, 5.0), [[1.5, -0.5], [-0.5, 0.6]])]])

# A poor start: three unit-variance components crowded in the lower-left corner.
start = dict(weights_init=np.full(3, 1 / 3),
             means_init=np.array([[-2.0, -2.0], [-1.0, -2.5], [-2.0, -1.0]]),
             precisions_init=np.repeat(np.eye(2)[None], 3, axis=0))

fig, axes = plt.subplots(2, 2, figsize=(10, 9), layout="constrained", sharex=True,
                         sharey=True)
for ax, n_iter in zip(axes.ravel(), [1, 2, 5, 20]):
    gm = gmmc.GaussianMixture(3, max_iter=n_iter, tol=0.0, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmmc.ConvergenceWarning)
        gm.fit(X)
    plot.ellipses(gm, X, ax=ax, title=f"after {n_iter} iteration{'s' * (n_iter > 1)}: "
                                      f"mean log-likelihood {gm.score(X):.3f}")
plt.show()

# %%
# The lower bound (here, the mean log-likelihood) at each iteration of a full
# run from the same start rises quickly, then flattens as EM converges:

gm = gmmc.GaussianMixture(3, tol=1e-6, max_iter=200, **start).fit(X)
fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
ax.plot(np.arange(1, gm.n_iter_ + 1), gm.lower_bounds_, marker=".")
ax.set_xscale("log")
ax.set_xlabel("EM iteration")
ax.set_ylabel("mean log-likelihood")
ax.set_title(f"converged after {gm.n_iter_} iterations")
plt.show()
