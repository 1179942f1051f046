"""
===========================================================
Choosing the number of components: BIC and cross-validation
===========================================================

The log-likelihood of the training data only grows with the number of
components K, so it cannot choose K by itself. Two remedies:

* penalise the number of parameters p: the Bayesian information criterion
  :math:`\\mathrm{BIC} = -2 \\log L + p \\log N` (lower is better), here for
  every K and covariance type at once with :func:`gmmc.select`;
* score each K on data it was not fitted on: the mean log-likelihood of the
  held-out fold in 5-fold cross-validation (higher is better), with
  ``gmmc.select(..., criterion="cv")``.

The data are drawn from a mixture of four Gaussians that share one
covariance matrix. BIC has its minimum at K = 4, and prefers ``'tied'``
covariances, which describe such data with the fewest parameters; the
held-out likelihood rises until K = 4, then levels off (and would slowly
fall as extra components overfit).
"""

import matplotlib.pyplot as plt
import numpy as np

import gmmc
from gmmc import plot

rng = np.random.RandomState(0)
means = [(0.0, 0.0), (4.0, 0.5), (1.0, 4.0), (5.0, 5.0)]
X = np.vstack([rng.multivariate_normal(m, [[0.8, 0.3], [0.3, 0.6]], 200) for m in means])

ks = range(1, 9)
result = gmmc.select(X, n_components=ks, random_state=0)
print(f"BIC selects K = {result.model.n_components}, "
      f"covariance_type = {result.model.covariance_type!r}")

# %%
# Five-fold cross-validation of the held-out log-likelihood, full covariances.
# The table keeps each fold's score, which gives the error bars.

cv_result = gmmc.select(X, n_components=ks, covariance_types="full", criterion="cv",
                        cv=5, random_state=0)
cv = np.array(cv_result.table["cv_fold_log_likelihoods"].tolist())
print(f"cross-validation selects K = {cv_result.model.n_components}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot.selection(result, ax=axes[0], title="BIC (lower is better)")
axes[1].errorbar(list(ks), cv.mean(axis=1), yerr=cv.std(axis=1), marker="o", capsize=3)
axes[1].axvline(int(np.argmax(cv.mean(axis=1))) + 1, color="red", linestyle=":",
                label="best mean score")
axes[1].set_xlabel("number of components K")
axes[1].set_ylabel("held-out mean log-likelihood (higher is better)")
axes[1].set_title("5-fold cross-validation, full covariances")
axes[1].legend()
plt.show()

# %%
# The table behind the left panel has one row per candidate; the three best
# by BIC:

print(result.table.nsmallest(3, "bic")[["n_components", "covariance_type",
                                        "n_parameters", "bic"]].to_string(index=False))
