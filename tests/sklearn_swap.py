"""pytest plugin (``-p sklearn_swap``): scikit-learn's mixture tests, unmodified,
run against gmmc's estimators, swapped in by ``gmmc.patch_sklearn()`` (which
also rebinds the names scikit-learn's own modules hold)."""
import gmmc

gmmc.patch_sklearn()
