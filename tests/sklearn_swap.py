"""pytest plugin (``-p sklearn_swap``): scikit-learn's mixture tests, unmodified,
run against gmmc's estimators swapped into scikit-learn's modules."""
import sklearn.mixture
import sklearn.mixture._gaussian_mixture

import gmmc

sklearn.mixture.GaussianMixture = gmmc.GaussianMixture
sklearn.mixture._gaussian_mixture.GaussianMixture = gmmc.GaussianMixture
