"""GaussianMixtureImputer: fill missing values from a Gaussian mixture.

A scikit-learn-style transformer. ``fit`` fits a
``GaussianMixture(nan_policy='marginalize')`` on data with NaN; ``transform``
replaces each NaN by its conditional mean given the row's observed features
(or a draw from the conditional mixture). With scikit-learn installed it is
a scikit-learn transformer (``TransformerMixin``, ``BaseEstimator``:
``set_output``, ``clone``, tags, metadata routing); without it, it works on
gmmc._base's stand-ins.
"""
import numpy as np

from . import _missing
from ._base import BaseEstimator, TransformerMixin
from ._validation import check_random_state
from .mixture import GaussianMixture, _BaseMixture

__all__ = ["GaussianMixtureImputer"]

_MIXTURE_PARAMS = ("n_components", "covariance_type", "tol", "reg_covar", "max_iter",
                   "n_init", "init_params", "random_state", "n_threads")


class GaussianMixtureImputer(TransformerMixin, BaseEstimator):
    """Impute missing values with a Gaussian mixture fitted on incomplete data.

    ``fit`` fits ``GaussianMixture(nan_policy='marginalize')`` (exact EM
    for data missing at random) on X, whose NaN entries are the missing
    values. ``transform`` fills each missing entry of a row with its
    conditional mean given the row's observed features o: the mixture of
    the components' conditional means ``mu_m + S_mo S_oo^-1 (x_o - mu_o)``
    weighted by the responsibilities p(k | x_o). With
    ``sample_posterior=True`` it draws the missing entries from that
    conditional mixture instead (for multiple imputation: transform
    several times). Observed entries are returned unchanged. A row with
    every feature missing gets the mixture's mean (or a draw from the
    mixture).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance type of the mixture. Only 'full' and 'tied' use the
        correlations between features; 'diag' and 'spherical' fill each
        entry from the responsibilities and the component means alone.
    tol : float, default=1e-3
        EM convergence threshold on the mean log-likelihood.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How EM starts (on the data with each NaN replaced by its feature's mean).
    sample_posterior : bool, default=False
        Draw each row's missing values from its conditional mixture instead
        of taking its conditional mean.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of the draws.
    n_threads : int, default=None
        Threads for the kernels (see ``GaussianMixture``).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture.
    n_iter_ : int
        EM iterations of the mixture's best initialisation.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit``, when X had string column names.

    See Also
    --------
    GaussianMixture : The mixture, with ``nan_policy='marginalize'``.

    Examples
    --------
    >>> import numpy as np
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> X_missing = X.copy()
    >>> X_missing[::10, 1] = np.nan
    >>> imputer = gmmc.GaussianMixtureImputer(2, random_state=0)
    >>> filled = imputer.fit_transform(X_missing)
    >>> bool(np.isnan(filled).any())
    False
    >>> print(filled[0].round(2), X[0])
    [ 3.6  76.01] [ 3.6 79. ]
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 sample_posterior=False, random_state=None, n_threads=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.sample_posterior = sample_posterior
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags: a transformer (TransformerMixin's)
        that takes NaN, as scikit-learn's imputers."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "mixture_")

    _check_fitted = _BaseMixture._check_fitted

    def fit(self, X, y=None):
        """Fit the mixture on X, whose NaN entries are missing values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with NaN for the missing values.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        GaussianMixtureImputer
            The fitted imputer itself.

        Raises
        ------
        ValueError
            For invalid parameters or data (infinite values, a row or a
            feature without any observed value).

        See Also
        --------
        GaussianMixtureImputer.transform : Fill the missing values.

        Examples
        --------
        >>> import numpy as np
        >>> import gmmc
        >>> X = gmmc.load_faithful().copy()
        >>> X[::5, 0] = np.nan
        >>> gmmc.GaussianMixtureImputer(2, random_state=0).fit(X).mixture_.means_.shape
        (2, 2)
        """
        if not isinstance(self.sample_posterior, (bool, np.bool_)):
            raise TypeError(f"sample_posterior must be a bool, got {self.sample_posterior!r}")
        params = {name: getattr(self, name) for name in _MIXTURE_PARAMS}
        self.mixture_ = GaussianMixture(nan_policy="marginalize", **params).fit(X)
        self.n_features_in_ = self.mixture_.n_features_in_
        self.n_iter_ = self.mixture_.n_iter_
        if hasattr(self.mixture_, "feature_names_in_"):
            self.feature_names_in_ = self.mixture_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        # Draws continue from one generator, so repeated transforms differ.
        self._draws = check_random_state(self.random_state) if self.sample_posterior \
            else None
        return self

    def transform(self, X):
        """Fill each missing (NaN) entry of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with NaN for the missing values.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
            X with each NaN replaced by its conditional mean given the row's
            observed features (a draw, with ``sample_posterior``); observed
            entries unchanged. float32 stays float32. A DataFrame after
            scikit-learn's ``set_output(transform="pandas")``.

        Raises
        ------
        NotFittedError
            When the imputer is not fitted.

        See Also
        --------
        GaussianMixtureImputer.fit_transform : Fit, then fill.

        Examples
        --------
        >>> import numpy as np
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> imputer = gmmc.GaussianMixtureImputer(2, random_state=0).fit(X)
        >>> print(imputer.transform([[np.nan, 50.0], [4.5, np.nan]]).round(2))
        [[ 1.98 50.  ]
         [ 4.5  81.13]]
        """
        self._check_fitted()
        gm = self.mixture_
        X = gm._check_X(X)  # feature names and count, NaN allowed
        return _missing.conditional_fill(X, gm.weights_, gm.means_,
                                         gm.precisions_cholesky_, gm.covariance_type,
                                         self._draws)

    def fit_transform(self, X, y=None):
        """Fit the mixture on X, then fill X's missing values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with NaN for the missing values.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
            ``fit(X).transform(X)``.

        See Also
        --------
        GaussianMixtureImputer.fit : Fit only.

        Examples
        --------
        >>> import numpy as np
        >>> import gmmc
        >>> X = gmmc.load_faithful().copy()
        >>> X[0, 1] = np.nan
        >>> filled = gmmc.GaussianMixtureImputer(2, random_state=0).fit_transform(X)
        >>> print(filled[0].round(2))
        [ 3.6  76.09]
        """
        return self.fit(X).transform(X)

    def get_feature_names_out(self, input_features=None):
        """Get the names of the output features: those of the input.

        Parameters
        ----------
        input_features : array-like of str, default=None
            The input names; None: ``feature_names_in_`` when fitted on a
            DataFrame, else ``x0, x1, ...``.

        Returns
        -------
        ndarray of str
            One name per feature.

        Raises
        ------
        ValueError
            When ``input_features`` does not match the fitted features.

        See Also
        --------
        GaussianMixtureImputer.transform : The output these names describe.

        Examples
        --------
        >>> import gmmc
        >>> imputer = gmmc.GaussianMixtureImputer(2, random_state=0)
        >>> imputer.fit(gmmc.load_faithful()).get_feature_names_out()
        array(['x0', 'x1'], dtype=object)
        """
        self._check_fitted()
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is None:
            if fitted is not None:
                return np.asarray(fitted, dtype=object)
            return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        names = np.asarray(input_features, dtype=object)
        if names.ndim != 1 or len(names) != self.n_features_in_:
            raise ValueError(f"input_features should have length equal to number of "
                             f"features ({self.n_features_in_}), got {len(names)}")
        if fitted is not None and not np.array_equal(names, fitted):
            raise ValueError("input_features is not equal to feature_names_in_")
        return names
