"""BayesianGaussianMixture: scikit-learn's variational Gaussian mixture on gmmc's kernels.

Variational inference (Bishop, PRML section 10.2) for a Gaussian mixture with a
Dirichlet distribution or a truncated Dirichlet process (Blei and Jordan,
2006) over the weights, a Gaussian prior over the means and a Wishart prior
over the precisions. One iteration has the shape of an EM iteration of
GaussianMixture, and the same kernels run it:

* E-step. log rho_nk = E[log pi_k] + E[log|L_k|] / 2 - D log(2 pi) / 2
  - D / (2 beta_k) - nu_k (x_n - m_k)^T W_k (x_n - m_k) / 2. scikit-learn's
  ``precisions_`` are nu_k W_k, so this is the Gaussian log-density with
  ``precisions_cholesky_`` plus one constant per component,
  c_k = E[log pi_k] + (E[log|L_k|] - log|nu_k W_k| - D / beta_k) / 2, which
  the kernels take in place of log-weights (``_log_terms``).
* M-step. The kernels' sufficient statistics give the responsibility sums
  N_k, means x_k and covariances S_k of GaussianMixture's M-step, from which
  the posterior parameters follow in O(K D^2) (``_posterior_parameters``).
* Lower bound. scikit-learn's bound (constants dropped) needs the entropy of
  the responsibilities, -sum r log r. As sum_k r_nk = 1,
  sum_k r_nk log r_nk = sum_k r_nk log rho_nk - log sum_k rho_nk: the first
  sum is N_k c'_k - Q_k / 2 with Q_k = sum_n r_nk (x_n - m_k)^T P_k (x_n - m_k)
  from the same statistics, the second the E-step's log-likelihood. Nothing
  of size N x K is kept.
"""
import numbers
from collections import namedtuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

from . import _stats
from ._parallel import effective_n_threads
from ._validation import check_array, check_scalar
from .mixture import _BaseMixture
from . import _array_api

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
LOG_2PI = np.log(2.0 * np.pi)

# The priors of one fit (float64; ``dtype`` is the data's), published as the
# ``*_prior_`` attributes when the fit succeeds.
_Priors = namedtuple("_Priors", "weight_concentration mean_precision mean "
                                "degrees_of_freedom covariance dtype")


class BayesianGaussianMixture(_BaseMixture):
    """Variational Bayesian estimation of a Gaussian mixture.

    A drop-in replacement for ``sklearn.mixture.BayesianGaussianMixture``: the
    same parameters, fitted attributes and methods, and the same results from
    the same start, computed by gmmc's multithreaded kernels. The number of
    components is an upper bound: the weights of unneeded components shrink
    towards zero.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K (an upper bound on those used).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Form of the covariances, as in :class:`GaussianMixture`.
    tol : float, default=1e-3
        The iterations stop when the lower bound gains less.
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's empirical covariance.
    max_iter : int, default=100
        Maximum number of iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the best lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        Prior over the weights: a stick-breaking Dirichlet process truncated at
        K components, or a Dirichlet distribution.
    weight_concentration_prior : float, default=None
        Concentration of the weight prior (gamma); None: 1 / K.
    mean_precision_prior : float, default=None
        Precision prior of the means (beta_0); None: 1.
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean of the means (m_0); None: the mean of X.
    degrees_of_freedom_prior : float, default=None
        Degrees of freedom of the Wishart prior (nu_0), above n_features - 1;
        None: n_features.
    covariance_prior : float or array-like, default=None
        Prior of the covariances (Psi_0): (D, D) full and tied, (D,) diag, a
        float for spherical; None: the covariance of X (ddof=1).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution (with one initialisation).
    verbose : int, default=0
        1 prints each initialisation and iteration; 2 adds timings and the bound.
    verbose_interval : int, default=10
        Iterations between two progress lines.
    n_threads : int, default=None
        Threads for the kernels, as in :class:`GaussianMixture`. An addition
        to scikit-learn's parameters.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Expected mixing weights.
    means_ : ndarray of shape (n_components, n_features)
        Means of the posterior of the component means (m_k).
    covariances_ : ndarray
        W_k^-1 / nu_k: (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical.
    precisions_ : ndarray
        nu_k W_k, the expected precisions, shaped as ``covariances_``.
    precisions_cholesky_ : ndarray
        Upper-triangular factors of ``precisions_`` (square roots for diag and
        spherical).
    weight_concentration_ : tuple of two ndarrays or ndarray
        Beta parameters (a_k, b_k) of the stick-breaking process, or the
        Dirichlet parameters alpha_k.
    weight_concentration_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
        beta_k.
    mean_precision_prior_ : float
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_ : ndarray of shape (n_components,) or float (tied)
        nu_k.
    degrees_of_freedom_prior_ : float
    covariance_prior_ : float or ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Lower bound on the log evidence of the best initialisation (without
        its constant terms, as scikit-learn's).
    lower_bounds_ : list of float
        The lower bound at each iteration of the best initialisation.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    See Also
    --------
    GaussianMixture : Maximum-likelihood fit of a mixture.

    Notes
    -----
    The arrays have the training data's dtype (float32 stays float32; the
    O(K D^2) parameter updates are computed in float64). ``fit`` takes
    ``sample_weight`` (frequencies: weight 2 counts a sample twice, in the
    default priors too). ``fit`` streams what :class:`GaussianMixture` streams
    (a ``numpy.memmap``, an h5py dataset, a zarr array or a
    :class:`gmmc.RowBlocks` is read in blocks of rows, a ``dask.array`` is
    fitted on its chunks by Dask), through the same EM driver, and gives the
    in-memory fit's model; its default priors (the data's mean and
    covariance) are computed over the blocks too.

    Examples
    --------
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> bgm = gmmc.BayesianGaussianMixture(n_components=5, random_state=0).fit(X)
    >>> print(bgm.weights_.round(2))
    [0.36 0.64 0.   0.   0.  ]
    >>> bgm.converged_, bgm.n_iter_
    (True, 69)
    """

    def __init__(self, *, n_components=1, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None,
                 mean_prior=None, degrees_of_freedom_prior=None, covariance_prior=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_threads=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads

    @_array_api.fitting
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the variational posterior.

        Runs ``n_init`` initialisations, each followed by variational
        iterations until the lower bound changes by less than ``tol`` or
        ``max_iter`` iterations, and keeps the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. A ``numpy.memmap``, an h5py dataset, a zarr array or
            a :class:`gmmc.RowBlocks` wrapper is streamed in blocks of rows,
            never loaded whole (a few passes over the blocks set the default
            priors and the start, then one per iteration); a ``dask.array`` is
            fitted on its chunks by Dask. Both give the same model as the
            in-memory fit.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample: weight 2 counts a sample twice.

        Returns
        -------
        BayesianGaussianMixture
            The fitted estimator itself.

        Raises
        ------
        ValueError
            For invalid parameters or data.
        TypeError
            For parameters of the wrong type.

        See Also
        --------
        BayesianGaussianMixture.fit_predict : Fit, then label the training data.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> bgm = gmmc.BayesianGaussianMixture(n_components=3, max_iter=500,
        ...                                    random_state=0).fit(X)
        >>> bgm.n_iter_
        140
        >>> print(bgm.weights_.round(3))
        [0.36  0.004 0.636]
        """
        return super().fit(X, y, sample_weight)

    @_array_api.fitting
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then label each sample of X with its most probable component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, as in :meth:`fit` (streamed data are labelled block
            by block).
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component index of each sample.

        See Also
        --------
        BayesianGaussianMixture.fit : Fit only.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> labels = gmmc.BayesianGaussianMixture(n_components=3, max_iter=500,
        ...                                       random_state=0).fit_predict(X)
        >>> print(labels[:8])
        [2 0 2 0 2 0 2 2]
        """
        return super().fit_predict(X, y, sample_weight)

    # -- parameters and priors -------------------------------------------------

    def _check_parameters(self, n_features):
        """Validate the parameters; return the given (mean, covariance) priors.

        ``n_features`` may also be X itself, as scikit-learn's private
        ``_check_parameters(X)`` takes it.
        """
        if not isinstance(n_features, numbers.Integral):
            n_features = np.shape(n_features)[1]
        self._check_common_parameters()
        if (not isinstance(self.weight_concentration_prior_type, str)
                or self.weight_concentration_prior_type not in PRIOR_TYPES):
            raise ValueError(f"weight_concentration_prior_type must be one of "
                             f"{PRIOR_TYPES}, got {self.weight_concentration_prior_type!r}")
        for name in ("weight_concentration_prior", "mean_precision_prior",
                     "degrees_of_freedom_prior"):
            if getattr(self, name) is not None:
                check_scalar(getattr(self, name), name, float, low=0.0, low_inclusive=False)
        dof = self.degrees_of_freedom_prior
        if dof is not None and not dof > n_features - 1.0:
            raise ValueError(f"The parameter 'degrees_of_freedom_prior' should be greater "
                             f"than {n_features - 1}, but got {dof:.3f}.")
        mean = None
        if self.mean_prior is not None:
            mean = _prior_array(self.mean_prior, "mean_prior", (n_features,))
        covariance = None
        if self.covariance_prior is not None:
            covariance = self._checked_covariance_prior(n_features)
        return mean, covariance

    def _checked_covariance_prior(self, n_features):
        cov_type, value = self.covariance_type, _array_api.to_numpy(self.covariance_prior)
        if cov_type == "spherical":
            array = np.asarray(value)
            if array.ndim != 0 or array.dtype.kind not in "fiu":
                raise TypeError("covariance_prior must be a number for spherical "
                                f"covariances, got {value!r}")
            return float(check_scalar(float(array), "covariance_prior", float, low=0.0,
                                      low_inclusive=False))
        shape = (n_features,) if cov_type == "diag" else (n_features, n_features)
        name = f"{cov_type} covariance_prior"
        array = _prior_array(value, "covariance_prior", shape, name)
        if cov_type == "diag":
            if (array <= 0).any():
                raise ValueError(f"The parameter '{name}' should be positive")
        elif not (np.allclose(array, array.T, rtol=1e-5, atol=1e-8)
                  and (np.linalg.eigvalsh(array) > 0).all()):
            raise ValueError(f"The parameter '{name}' should be symmetric, "
                             "positive-definite")
        return array

    def _fit_context(self, moments, checked):
        """Set the priors of this fit (defaults from the weighted data, whose
        ``moments`` are computed in memory or over chunks)."""
        mean, covariance = checked
        n_features = moments.n_features
        if mean is None or covariance is None:
            center = moments.mean()
            mean = center if mean is None else mean
        if covariance is None:
            # The data covariance with ddof=1, the weights read as frequencies.
            total = moments.weight_sum
            if not total > 1.0:
                raise ValueError("the default covariance_prior, the covariance of X, "
                                 "needs a total sample weight above 1; pass "
                                 "covariance_prior or scale sample_weight")
            if self.covariance_type in ("full", "tied"):
                covariance = moments.scatter(center) / (total - 1.0)
            else:
                variance = moments.squares(center) / total
                covariance = variance * (total / (total - 1.0))
                if self.covariance_type == "spherical":
                    covariance = float(covariance.mean())
        self._priors = _Priors(
            weight_concentration=(1.0 / self.n_components
                                  if self.weight_concentration_prior is None
                                  else self.weight_concentration_prior),
            mean_precision=(1.0 if self.mean_precision_prior is None
                            else self.mean_precision_prior),
            mean=np.asarray(mean, dtype=np.float64),
            degrees_of_freedom=(n_features if self.degrees_of_freedom_prior is None
                                else self.degrees_of_freedom_prior),
            covariance=covariance, dtype=moments.dtype)
        return ()

    def _initialize_parameters(self, X, random_state):
        """scikit-learn's private start, for the code that calls it: the priors
        and the initial posterior parameters from ``init_params``."""
        X = check_array(X, min_samples=2, estimator=type(self).__name__)
        n_threads = effective_n_threads(self.n_threads)
        self._fit_context(_stats.ArrayMoments(X, None, n_threads),
                          self._check_parameters(X.shape[1]))
        self._set_parameters(self._initial_parameters(X, None, random_state, n_threads))

    # -- the model: start, E-step terms, M-step, lower bound --------------------

    def _initial_parameters_from(self, initial_statistics, dtype):
        # As scikit-learn, whose initial responsibilities have X's dtype.
        return self._posterior_parameters(initial_statistics(), dtype)

    def _m_step_parameters(self, stats, dtype):
        # scikit-learn's responsibilities are float64 here, whatever X's dtype.
        return self._posterior_parameters(stats, np.float64)

    def _posterior_parameters(self, stats, eps_dtype):
        """(weight_concentration, mean_precision, means, degrees_of_freedom,
        covariances, precisions_cholesky) from statistics, in float64.

        ``eps_dtype``: the dtype whose 10 epsilons guard the responsibility
        sums, as scikit-learn's.
        """
        p = self._priors
        nk = stats.resp_sum + 10 * np.finfo(eps_dtype).eps
        _, xk, sk = _stats.m_step(stats, self.reg_covar, eps_dtype)
        if self.weight_concentration_prior_type == "dirichlet_process":
            later = np.append(np.cumsum(nk[::-1])[-2::-1], 0.0)  # sum over j > k
            concentration = (1.0 + nk, p.weight_concentration + later)
        else:
            concentration = p.weight_concentration + nk
        mean_precision = p.mean_precision + nk
        means = (p.mean_precision * p.mean + nk[:, None] * xk) / mean_precision[:, None]
        diff = xk - p.mean
        shrink = p.mean_precision / mean_precision  # beta_0 / beta_k
        cov_type = self.covariance_type
        if cov_type == "tied":
            share = nk.sum() / self.n_components
            dof = p.degrees_of_freedom + share
            covariances = (p.covariance + share * sk
                           + (p.mean_precision / self.n_components)
                           * ((nk / mean_precision) * diff.T) @ diff) / dof
        else:
            dof = p.degrees_of_freedom + nk
            if cov_type == "full":
                covariances = (p.covariance + nk[:, None, None] * sk
                               + (nk * shrink)[:, None, None] * diff[:, :, None]
                               * diff[:, None, :]) / dof[:, None, None]
            elif cov_type == "diag":
                covariances = (p.covariance + nk[:, None] * (sk + shrink[:, None] * diff ** 2)
                               ) / dof[:, None]
            else:
                covariances = (p.covariance + nk * (sk + shrink * (diff ** 2).mean(axis=1))
                               ) / dof
        prec_chol = _stats.precision_cholesky(covariances, cov_type)
        return concentration, mean_precision, means, dof, covariances, prec_chol

    def _e_step_arguments(self, params):
        concentration, mean_precision, means, dof, _, prec_chol = params
        log_terms = self._log_terms(concentration, mean_precision, dof, means.shape[1])
        return _weights(concentration), means, prec_chol, log_terms

    def _log_terms(self, concentration, mean_precision, dof, n_features):
        """c_k: what log rho_nk adds to the log-density with ``precisions_``."""
        d = n_features
        dof = np.asarray(dof, dtype=np.float64)
        # E[log|L_k|] - log|nu_k W_k| = sum_i psi((nu_k - i) / 2) + D log 2 - D log nu_k
        log_det_gap = (digamma(0.5 * (dof[..., None] - np.arange(d))).sum(axis=-1)
                       + d * np.log(2.0) - d * np.log(dof))
        return (_expected_log_weights(concentration)
                + 0.5 * (log_det_gap - d / np.asarray(mean_precision, dtype=np.float64)))

    def _lower_bound(self, stats, params, new_params):
        """scikit-learn's lower bound: the entropy of the E-step's responsibilities
        (under ``params``) and the normalisers of the posterior (``new_params``)."""
        _, means, prec_chol, log_terms = self._e_step_arguments(params)
        d = means.shape[1]
        cov_type = self.covariance_type
        log_rho_sum = (stats.resp_sum @ (log_terms + _log_det_cholesky(prec_chol, cov_type, d)
                                          - 0.5 * d * LOG_2PI)
                       - 0.5 * _quadratic_sum(stats, means, prec_chol))
        entropy = stats.loglik_sum - log_rho_sum  # -sum_n w_n sum_k r log r
        concentration, mean_precision, _, dof, _, prec_chol = new_params
        log_det = _log_det_cholesky(prec_chol, cov_type, d) - 0.5 * d * np.log(dof)
        log_wishart = -(dof * log_det + dof * d * 0.5 * np.log(2.0)
                        + gammaln(0.5 * (np.asarray(dof)[..., None] - np.arange(d))).sum(-1))
        log_wishart = (self.n_components * log_wishart if cov_type == "tied"
                       else log_wishart.sum())
        if isinstance(concentration, tuple):  # Beta(a_k, b_k) sticks
            log_norm_weight = -betaln(*concentration).sum()
        else:
            log_norm_weight = gammaln(concentration.sum()) - gammaln(concentration).sum()
        return float(entropy - log_wishart - log_norm_weight
                     - 0.5 * d * np.log(mean_precision).sum())

    # -- fitted attributes ------------------------------------------------------

    def _fitted_parameters(self, dtype):
        concentration = self.weight_concentration_
        if isinstance(concentration, tuple):
            concentration = tuple(np.array(c, dtype=np.float64) for c in concentration)
        else:
            concentration = np.array(concentration, dtype=np.float64)
        return (concentration,) + tuple(np.array(p, dtype=np.float64) for p in (
            self.mean_precision_, self.means_, self.degrees_of_freedom_,
            self.covariances_, self.precisions_cholesky_))

    def _set_parameters(self, params):
        p = self.__dict__.pop("_priors")
        concentration, mean_precision, means, dof, covariances, prec_chol = params

        def cast(a):
            return np.asarray(a, dtype=p.dtype) if np.ndim(a) else p.dtype.type(a)

        self.weight_concentration_ = (tuple(cast(c) for c in concentration)
                                      if isinstance(concentration, tuple)
                                      else cast(concentration))
        self.mean_precision_ = cast(mean_precision)
        self.means_ = cast(means)
        self.degrees_of_freedom_ = cast(dof)
        self.covariances_ = cast(covariances)
        self.precisions_cholesky_ = cast(prec_chol)
        self.weights_ = cast(_weights(concentration))
        self.precisions_ = _stats.precisions_from_cholesky(self.precisions_cholesky_,
                                                           self.covariance_type)
        self.weight_concentration_prior_ = p.weight_concentration
        self.mean_precision_prior_ = p.mean_precision
        self.mean_prior_ = cast(p.mean)
        self.degrees_of_freedom_prior_ = p.degrees_of_freedom
        self.covariance_prior_ = cast(p.covariance)

    def _log_weight_terms(self):
        concentration = self.weight_concentration_
        concentration = (tuple(np.asarray(c, dtype=np.float64) for c in concentration)
                         if isinstance(concentration, tuple)
                         else np.asarray(concentration, dtype=np.float64))
        return self._log_terms(concentration, self.mean_precision_,
                               self.degrees_of_freedom_, self.means_.shape[1])


# -- helpers ------------------------------------------------------------------------

def _prior_array(value, name, shape, label=None):
    """A user-given prior as a finite float64 array of ``shape``."""
    array = np.asarray(_array_api.to_numpy(value))  # another namespace's, under dispatch
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if array.shape != shape:
        raise ValueError(f"The parameter '{label or name}' should have the shape of "
                         f"{shape}, but got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must contain only finite values")
    return array


def _weights(concentration):
    """Expected mixing weights (scikit-learn's ``weights_``)."""
    if isinstance(concentration, tuple):  # stick-breaking: E[v_k] prod_{j<k} E[1 - v_j]
        a, b = concentration
        total = a + b
        weights = a / total * np.append(1.0, np.cumprod(b / total)[:-1])
        return weights / weights.sum()
    return concentration / concentration.sum()


def _expected_log_weights(concentration):
    """E[log pi_k] under the variational posterior of the weights."""
    if isinstance(concentration, tuple):  # stick-breaking: E[log v_k] + sum E[log(1 - v_j)]
        a, b = concentration
        digamma_total = digamma(a + b)
        return (digamma(a) - digamma_total
                + np.append(0.0, np.cumsum(digamma(b) - digamma_total)[:-1]))
    return digamma(concentration) - digamma(concentration.sum())


def _log_det_cholesky(prec_chol, covariance_type, n_features):
    """log det of the precision Cholesky factors: (K,), or a scalar for tied."""
    u = np.asarray(prec_chol, dtype=np.float64)
    if covariance_type == "full":
        return np.log(np.diagonal(u, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(u)).sum()
    if covariance_type == "diag":
        return np.log(u).sum(axis=1)
    return n_features * np.log(u)


def _quadratic_sum(stats, means, prec_chol):
    """sum_k sum_n w_n r_nk (x_n - m_k)^T P_k (x_n - m_k) from the statistics,
    which are taken about ``stats.shift`` (the means for full covariances, one
    centre c otherwise): with d_k = m_k - c and s_k = sum_n w r (x - c),
    sum r (x - m)^T P (x - m) = tr(P sum r (x - c)(x - c)^T) - 2 d^T P s + N d^T P d."""
    means = np.asarray(means, dtype=np.float64)
    u = np.asarray(prec_chol, dtype=np.float64)
    cov_type = stats.covariance_type
    if cov_type == "full":
        scatter = stats.rebased(means).sum_xx  # about the means themselves
        return float(np.einsum("kab,kab->", u @ np.swapaxes(u, 1, 2), scatter))
    d = means - stats.shift
    nk, s = stats.resp_sum, stats.sum_x
    if cov_type == "tied":  # sum_xx: the scatter of all samples about c
        precision = u @ u.T
        pd = d @ precision
        return float((precision * stats.sum_xx).sum() - 2.0 * (pd * s).sum()
                     + (nk * (pd * d).sum(axis=1)).sum())
    precision = u ** 2
    if cov_type == "diag":
        return float((precision * (stats.sum_xx - 2.0 * d * s + nk[:, None] * d ** 2)).sum())
    return float((precision * (stats.sum_xx - 2.0 * (d * s).sum(axis=1)
                               + nk * (d ** 2).sum(axis=1))).sum())
