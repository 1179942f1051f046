"""
======================================
The four covariance types side by side
======================================

The ``covariance_type`` parameter decides the shape each component may take:

* ``'full'``: every component has its own covariance matrix — any
  orientation and elongation (K D (D + 1) / 2 covariance parameters);
* ``'tied'``: one full matrix shared by all components — the same shape and
  orientation everywhere (D (D + 1) / 2);
* ``'diag'``: a diagonal matrix per component — ellipses aligned with the
  axes (K D);
* ``'spherical'``: one variance per component — circles (K).

Here three clusters, each with its own orientation, are fitted with each
type. Only ``'full'`` can follow all three; the others trade flexibility for
fewer parameters, which the BIC in each title weighs against the fit.
"""

import matplotlib.pyplot as plt
import numpy as np

import gmmc
from gmmc import plot

rng = np.random.RandomState(0)
shapes = [np.array([[2.0, 1.2], [1.2, 1.0]]),
          np.array([[0.4, 0.0], [0.0, 2.5]]),
          np.array([[1.5, -1.1], [-1.1, 1.2]])]
centres = [(-4.0, 0.0), (0.5, 3.5), (4.0, -1.0)]
X = np.vstack([rng.multivariate_normal(c, s, 300) for c, s in zip(centres, shapes)])

fig, axes = plt.subplots(2, 2, figsize=(10, 9), layout="constrained", sharex=True,
                         sharey=True)
for ax, cov_type in zip(axes.ravel(), ["full", "tied", "diag", "spherical"]):
    gm = gmmc.GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    plot.ellipses(gm, X, ax=ax, title=f"{cov_type!r}: BIC {gm.bic(X):.0f}")
    print(f"{cov_type:9s} covariances_.shape = {gm.covariances_.shape}")
plt.show()

# %%
# ``covariances_`` has a different shape for each type: (K, D, D) for full,
# (D, D) for tied, (K, D) for diag and (K,) for spherical, as printed above.
