"""
====================================================
Old Faithful: mixture density and component ellipses
====================================================

The Old Faithful data set holds 272 eruptions of the geyser: how long each
eruption lasted and how long the wait was until the next one. Short eruptions
are followed by short waits and long eruptions by long ones, so the points
form two elongated clouds — the textbook case for a two-component Gaussian
mixture with full covariances.

This example fits that mixture and draws it twice: as the ellipses of its
components (one and two standard deviations, points coloured by their most
probable component), and as contours of the mixture density
:math:`p(x) = \\sum_k w_k \\, \\mathcal{N}(x \\mid \\mu_k, \\Sigma_k)`.
"""

import matplotlib.pyplot as plt

import gmmc
from gmmc import plot

X = gmmc.load_faithful()
gm = gmmc.GaussianMixture(n_components=2, covariance_type="full", random_state=0).fit(X)

print(f"converged: {gm.converged_} after {gm.n_iter_} iterations")
for k in range(gm.n_components):
    print(f"component {k}: weight {gm.weights_[k]:.3f}, mean {gm.means_[k].round(2)}")

# %%
# The two components, with the points coloured by ``gm.predict(X)``:

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot.ellipses(gm, X, ax=axes[0], title="components (1 and 2 sd)")
plot.density(gm, X, ax=axes[1], title="mixture density")
for ax in axes:
    ax.set_xlabel("eruption duration [min]")
    ax.set_ylabel("waiting time [min]")
plt.show()

# %%
# The responsibilities :math:`p(k \mid x)` are almost 0 or 1 except for the
# few eruptions between the clouds:

proba = gm.predict_proba(X)
uncertain = (proba.max(axis=1) < 0.9).sum()
print(f"{uncertain} of {len(X)} eruptions have no component above 90 %")
