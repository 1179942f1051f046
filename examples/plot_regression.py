"""
====================================================
Gaussian mixture regression with an uncertainty band
====================================================

Fit a mixture to the joint distribution of an input x and an output y; then
the distribution of y given x is again a Gaussian mixture (each component's
conditional Gaussian, reweighted by how likely x is under the component).
:meth:`~gmmc.GaussianMixture.predict_regression` returns its mean — the
regression curve — and, with ``return_covariance=True``, its variance, which
includes both the noise within components and the disagreement between them.

The data follow a sine curve whose noise grows with x; the band of two
standard deviations widens accordingly.
"""

import matplotlib.pyplot as plt
import numpy as np

import gmmc

rng = np.random.RandomState(0)
x = rng.uniform(0, 10, 600)
y = np.sin(x) + rng.normal(scale=0.05 + 0.04 * x)
data = np.column_stack([x, y])

gm = gmmc.GaussianMixture(8, covariance_type="full", random_state=0).fit(data)
grid = np.linspace(0, 10, 300)
mean, cov = gm.predict_regression(grid, in_idx=0, out_idx=1, return_covariance=True)
mean, sd = mean[:, 0], np.sqrt(cov[:, 0, 0])

fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
ax.scatter(x, y, s=6, color="0.6", label="data")
ax.plot(grid, np.sin(grid), color="black", linestyle=":", label="true mean, sin(x)")
ax.plot(grid, mean, color="tab:blue", linewidth=2, label="E[y | x]")
ax.fill_between(grid, mean - 2 * sd, mean + 2 * sd, color="tab:blue", alpha=0.2,
                label="± 2 sd of y | x")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend(loc="lower left")
ax.set_title("Gaussian mixture regression, 8 components")
plt.show()

# %%
# The whole conditional distribution at one input, here x = 7, is a
# one-dimensional mixture (:meth:`~gmmc.GaussianMixture.condition`):

at_7 = gm.condition([0], [7.0])
print("weights:", at_7.weights_.round(3))
print("means:  ", at_7.means_.ravel().round(2))
