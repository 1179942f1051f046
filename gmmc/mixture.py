"""GaussianMixture: scikit-learn's estimator, fitted by gmmc's kernels."""
import time
import warnings

import numpy as np

from . import _init, _missing, _model_file, _sources, _stats, _stepwise, _streaming
from ._base import UNUSED, BaseEstimator, DensityMixin
from ._parallel import blas_limited, effective_n_threads, threads_for
from ._sklearn_private import SklearnPrivateMethods
from . import _array_api
from ._validation import (check_array, check_random_state, fit_random_state,
                          check_sample_weight, check_scalar, feature_names)
from .exceptions import (ConvergenceWarning, InvalidParameterError, NotFittedError,
                         caller_stacklevel, sklearn_compatible)

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
NAN_POLICIES = ("raise", "marginalize")


def _threads_before_checks(n_threads):
    """Threads for checking X, which comes before the parameters' checks: one
    where ``n_threads`` is invalid (their check reports it, as scikit-learn's)."""
    try:
        return effective_n_threads(n_threads)
    except (TypeError, ValueError):
        return 1


class _BaseMixture(DensityMixin, BaseEstimator):
    """What GaussianMixture and BayesianGaussianMixture share: the bases of
    scikit-learn's mixtures (``DensityMixin`` and ``BaseEstimator``: the
    parameter protocol, repr, tags, metadata routing; gmmc._base's stand-ins
    without scikit-learn), input checks, the EM driver (``n_init`` starts,
    warm start, convergence, progress messages) and prediction by the kernels.

    A subclass supplies ``__init__`` and the model: ``_check_parameters``,
    ``_fit_context``, ``_initial_parameters_from``, ``_e_step_arguments``,
    ``_m_step_parameters``, ``_lower_bound``, ``_fitted_parameters``,
    ``_set_parameters`` and ``_log_weight_terms``. The parameters travel
    through the driver as an opaque tuple.
    """

    # -- scikit-learn's estimator protocol (its BaseEstimator, or gmmc._base's
    # stand-in without scikit-learn) -----------------------------------------

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags: a density estimator (DensityMixin's)
        that takes NaN with ``nan_policy='marginalize'``."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allows_nan()
        return tags

    def _allows_nan(self):
        """Whether NaN marks a missing value (``nan_policy='marginalize'``)."""
        return getattr(self, "nan_policy", "raise") == "marginalize"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "precisions_cholesky_")

    def _check_common_parameters(self):
        """Validate the parameters the mixtures share (scikit-learn's
        InvalidParameterError while scikit-learn is imported)."""
        try:
            self._check_shared_parameters()
        except (TypeError, ValueError) as exc:
            raise sklearn_compatible(InvalidParameterError)(str(exc)) from None

    def _check_shared_parameters(self):
        check_scalar(self.n_components, "n_components", int, low=1)
        if (not isinstance(self.covariance_type, str)
                or self.covariance_type not in _stats.COVARIANCE_TYPES):
            raise ValueError(f"covariance_type must be one of {_stats.COVARIANCE_TYPES}, "
                             f"got {self.covariance_type!r}")
        check_scalar(self.tol, "tol", float, low=0.0)
        check_scalar(self.reg_covar, "reg_covar", float, low=0.0)
        check_scalar(self.max_iter, "max_iter", int, low=0)
        check_scalar(self.n_init, "n_init", int, low=1)
        if not isinstance(self.init_params, str) or self.init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, "
                             f"got {self.init_params!r}")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool, got {self.warm_start!r}")
        check_scalar(self.verbose, "verbose", int, low=0)
        check_scalar(self.verbose_interval, "verbose_interval", int, low=1)
        if self.n_threads is not None:
            check_scalar(self.n_threads, "n_threads", int, low=1)

    # -- fitting -----------------------------------------------------------

    @_array_api.fitting
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with EM.

        Runs ``n_init`` initialisations, each followed by EM until the lower
        bound changes by less than ``tol`` or ``max_iter`` iterations, and
        keeps the parameters of the start with the best lower bound.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. A ``numpy.memmap``, an h5py dataset, a zarr array or
            a :class:`gmmc.RowBlocks` wrapper is streamed in blocks of rows,
            never loaded whole; a ``dask.array`` is fitted on its chunks by
            Dask (see :mod:`gmmc.dask`). Both give the same model as the
            in-memory fit.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample: weight 2 counts a sample twice.

        Returns
        -------
        GaussianMixture
            The fitted estimator itself, with ``weights_`` (K,), ``means_``
            (K, D), ``covariances_``, ``precisions_`` and
            ``precisions_cholesky_`` ((K, D, D) full, (D, D) tied, (K, D)
            diag, (K,) spherical) set.

        Raises
        ------
        ValueError
            For invalid parameters or data (NaN or infinite values, fewer
            samples than components, negative sample weights), and when a
            component collapses with ``reg_covar=0``.

        Warns
        -----
        ConvergenceWarning
            When the best initialisation did not converge within ``max_iter``.

        See Also
        --------
        GaussianMixture.fit_predict : Fit, then label the training data.
        GaussianMixture.partial_fit : Update the model one batch at a time.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
        >>> gm.covariances_.shape
        (2, 2)
        >>> round(gm.lower_bound_, 4)
        -4.2199
        """
        self._fit(X, sample_weight)
        return self

    @_array_api.fitting
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model, then label each sample of X with its most probable component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, as in :meth:`fit`.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component index of each sample, in ``0 .. K - 1``.

        See Also
        --------
        GaussianMixture.fit : Fit only.
        GaussianMixture.predict : Label new data with a fitted model.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> labels = gmmc.GaussianMixture(2, random_state=0).fit_predict(X)
        >>> print(labels[:8])
        [1 0 1 0 1 0 1 1]
        """
        X, weight, n_threads = self._fit(X, sample_weight)
        if not isinstance(X, np.ndarray):  # streamed or Dask data (gmmc._streaming)
            return _streaming.labels(self, X)
        return self._posterior(X, n_threads)[1].argmax(axis=1)

    def _fit(self, X, sample_weight):
        if _sources.is_block_source(X):  # memmap, h5py, zarr, RowBlocks, Dask
            return self._fit_streamed(X, sample_weight)
        names = feature_names(X)
        X = check_array(X, min_samples=2, estimator=type(self).__name__,
                        allow_nan=self._allows_nan(), magnitude_terms="samples",
                        n_threads=_threads_before_checks(self.n_threads))
        n_samples, n_features = X.shape
        checked = self._check_parameters(n_features)
        if n_samples < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {n_samples}")
        weight = check_sample_weight(sample_weight, n_samples, X.dtype)
        if weight is not None and np.count_nonzero(weight) < self.n_components:
            raise ValueError("fewer samples of positive weight than n_components")
        random_state = fit_random_state(self.random_state)
        n_threads = effective_n_threads(self.n_threads)
        cov_type = self.covariance_type
        # Missing values: rows grouped by pattern once per fit (gmmc._missing).
        patterns = (_missing.Patterns(X, weight)
                    if self._allows_nan() and _missing.has_nan(X) else None)
        with blas_limited(threads_for(n_samples, n_threads)):
            context = self._fit_context(_stats.ArrayMoments(X, weight, n_threads), checked)
            self._fit_loop(
                lambda: self._initial_parameters(X, weight, random_state, n_threads,
                                                 *context),
                lambda w, m, pc, log_w=None: _stats.e_step(
                    X, weight, w, m, pc, cov_type, n_threads, log_weights=log_w)
                if patterns is None else _missing.e_step(
                    X, weight, w, m, pc, cov_type, n_threads, log_weights=log_w,
                    patterns=patterns),
                X, names,
                run_em=None if patterns is not None else self._em_in_kernels(
                    X, weight, n_threads))
        self.n_samples_seen_ = float(n_samples if weight is None
                                     else weight.sum(dtype=np.float64))
        return X, weight, n_threads

    def _chunk_executor(self, X, sample_weight):
        """The chunk executor of gmmc._streaming over a streamed X: Dask's for a
        Dask collection, else one reading blocks of rows in this process."""
        if _sources.is_dask_collection(X):
            from . import _dask_chunks  # imports Dask, which importing gmmc never does
            return _dask_chunks.executor(self, X, sample_weight)
        return _streaming.block_chunks(X, sample_weight, effective_n_threads(self.n_threads))

    def _fit_streamed(self, X, sample_weight):
        """``_fit`` for inputs read in blocks of rows (memmap, h5py, zarr,
        RowBlocks) or fitted by Dask: the same EM, pass by pass (gmmc._streaming)."""
        return _streaming.fit(self, self._chunk_executor(X, sample_weight), sample_weight)

    def _fit_context(self, moments, checked):
        """What a fit sets up from the data before its starts, given the
        weighted ``moments`` of the data (``_stats.ArrayMoments``, or
        ``_streaming.ChunkMoments`` over chunks) and the checked parameters
        (``_check_parameters``); returns the arguments of
        ``_initial_parameters_from`` after its first two: here the checked
        parameters."""
        return checked

    def _initial_parameters(self, X, weight, random_state, n_threads, *context):
        """The parameters to start EM from (``_initial_parameters_from``), with
        the statistics of the ``init_params`` start on X, computed if needed."""
        def initial_statistics():
            # Missing values: the start is computed on a copy of X with each NaN
            # replaced by its feature's mean (see nan_policy). Otherwise the
            # validation has ruled NaN out: no pass over X to look again.
            Y = (_missing.mean_filled(X, weight)
                 if self._allows_nan() and _missing.has_nan(X) else X)
            return self._initial_statistics(Y, weight, random_state, n_threads)

        return self._initial_parameters_from(initial_statistics, X.dtype, *context)

    def _initial_statistics(self, X, weight, random_state, n_threads):
        """Sufficient statistics of the ``init_params`` start."""
        resp = _init.initial_responsibilities(
            X, weight, self.n_components, self.init_params, random_state, n_threads)
        if self.init_params == "kmeans":
            distinct = resp.n_distinct()
            if distinct < self.n_components:  # scikit-learn's KMeans warns so
                warnings.warn(
                    f"Number of distinct clusters ({distinct}) found smaller than "
                    f"n_clusters ({self.n_components}). Possibly due to duplicate "
                    "points in X.", sklearn_compatible(ConvergenceWarning),
                    stacklevel=caller_stacklevel())
        return resp.statistics(X, weight, self.covariance_type, n_threads)

    def _em_in_kernels(self, X, weight, n_threads):
        """A replacement for ``_em`` running every iteration in the kernels, or
        None (here: the driver's loop)."""
        return None

    def _fit_loop(self, initial_parameters, e_step, X, names, run_em=None):
        """The ``n_init`` starts of EM, keeping the best; sets the fitted attributes.

        Shared by the in-memory fit and the chunked ones (gmmc._streaming):
        ``initial_parameters()`` gives a start, ``e_step(weights, means,
        precisions_cholesky[, log_weights])`` (``_e_step_arguments``) the
        merged statistics of all the data, and X
        (the data, or one row of its largest magnitude) its dtype and width;
        ``run_em(params, lower_bound)``, when given, replaces ``_em``.
        """
        n_features = X.shape[1]
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init and self.means_.shape[1] != n_features:
            raise ValueError(f"X has {n_features} features, but the warm-started model "
                             f"has {self.means_.shape[1]}")
        best = None
        for init in range(self.n_init if do_init else 1):
            self._print_init_start(init)
            if do_init:
                params, lower_bound = initial_parameters(), -np.inf
            else:
                params = self._fitted_parameters(X.dtype)
                # As scikit-learn: a fit without iterations has no lower bound.
                lower_bound = self.lower_bound_ if self.max_iter > 0 else -np.inf
            result = (self._em(e_step, params, lower_bound, X) if run_em is None
                      else run_em(params, lower_bound))
            # Without iterations the last start is kept, as by scikit-learn.
            if best is None or result[1] > best[1] or self.max_iter == 0:
                best = result
        params, self.lower_bound_, self.lower_bounds_, self.n_iter_, self.converged_ = best
        self._set_parameters(params)
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if not self.converged_ and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          "degenerate data.", sklearn_compatible(ConvergenceWarning))

    def _em(self, e_step, params, lower_bound, X):
        """Run EM from ``params``; returns (params, bound, bounds, n_iter, converged)."""
        bounds, converged, n_iter = [], False, 0
        start = self._iteration_time = time.perf_counter()
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            stats = e_step(*self._e_step_arguments(params))
            _stats.check_statistics(stats, X)
            new_params = self._m_step_parameters(stats, X.dtype)
            lower_bound = self._lower_bound(stats, params, new_params)
            params = new_params
            bounds.append(lower_bound)
            change = lower_bound - previous
            self._print_iteration(n_iter, change, start)
            if abs(change) < self.tol:
                converged = True
                break
        self._print_init_end(lower_bound, converged, start)
        return params, lower_bound, bounds, n_iter, converged

    # -- prediction --------------------------------------------------------

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise sklearn_compatible(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def _check_X(self, X):
        """Validate X for a fitted model (as scikit-learn: feature names, then shape)."""
        self._check_fitted()
        cls = type(self).__name__
        names = feature_names(X)
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is None:
            warnings.warn(f"X does not have valid feature names, but {cls} was fitted "
                          "with feature names", UserWarning, stacklevel=caller_stacklevel())
        elif names is not None and fitted is None:
            warnings.warn(f"X has feature names, but {cls} was fitted without feature "
                          "names", UserWarning, stacklevel=caller_stacklevel())
        elif names is not None and not np.array_equal(names, fitted):
            raise ValueError(_feature_names_mismatch(names, fitted))
        return check_array(X, n_features=self.means_.shape[1], estimator=cls,
                           allow_nan=self._allows_nan(), magnitude_terms=1,
                           n_threads=_threads_before_checks(self.n_threads))

    def _posterior(self, X, n_threads=None, responsibilities=True):
        n_threads = effective_n_threads(self.n_threads) if n_threads is None else n_threads
        if self._allows_nan() and _missing.has_nan(X):  # marginal densities
            with blas_limited(threads_for(X.shape[0], n_threads)):
                return _missing.posterior(X, self.weights_, self.means_,
                                          self.precisions_cholesky_, self.covariance_type,
                                          n_threads, responsibilities,
                                          log_weights=self._log_weight_terms())
        with blas_limited(threads_for(X.shape[0], n_threads)):
            log_norm, resp = _stats.posterior(X, self.weights_, self.means_,
                                              self.precisions_cholesky_,
                                              self.covariance_type, n_threads,
                                              responsibilities,
                                              log_weights=self._log_weight_terms())
        far = ~np.isfinite(log_norm)
        if far.any():
            # Densities that under- or overflowed X's dtype (a point very far
            # from every component): redo those rows in scaled float64.
            log_norm[far], far_resp = self._far_posterior(X[far])
            if resp is not None:
                resp[far] = far_resp
        return log_norm, resp

    def _far_posterior(self, X):
        """(log p(x), p(k | x)) of a few rows, robust to overflow (numpy, float64).

        Each row is scaled so that its differences to the means are O(1); the
        quadratic forms are kept as logarithms. Rows whose density is below the
        float64 range get log p(x) = -inf and all their responsibility on the
        component with the smallest Mahalanobis distance.
        """
        X = X.astype(np.float64)
        means = self.means_.astype(np.float64)
        u = np.asarray(self.precisions_cholesky_, dtype=np.float64)
        cov_type = self.covariance_type
        n_components, n_features = means.shape
        scale = np.maximum(np.abs(X).max(axis=1), np.abs(means).max())
        scale[scale == 0] = 1.0
        scaled = X / scale[:, None]
        log_q = np.empty((X.shape[0], n_components))
        for k in range(n_components):
            diff = scaled - means[k] / scale[:, None]
            if cov_type == "full":
                y = diff @ u[k]
            elif cov_type == "tied":
                y = diff @ u
            else:
                y = diff * u[k]
            with np.errstate(divide="ignore"):
                log_q[:, k] = np.log(np.einsum("ij,ij->i", y, y)) + 2 * np.log(scale)
        if cov_type == "full":
            log_det = np.log(np.diagonal(u, axis1=1, axis2=2)).sum(axis=1)
        elif cov_type == "tied":
            log_det = np.log(np.diag(u)).sum()
        elif cov_type == "diag":
            log_det = np.log(u).sum(axis=1)
        else:
            log_det = n_features * np.log(u)
        with np.errstate(over="ignore", divide="ignore"):
            log_prob = (self._log_weight_terms() + log_det
                        - 0.5 * n_features * np.log(2 * np.pi) - 0.5 * np.exp(log_q))
        top = log_prob.max(axis=1)
        finite = np.isfinite(top)
        log_norm = np.full(X.shape[0], -np.inf)
        resp = np.zeros_like(log_prob)
        if finite.any():
            shifted = np.exp(log_prob[finite] - top[finite, None])
            total = shifted.sum(axis=1)
            log_norm[finite] = top[finite] + np.log(total)
            resp[finite] = shifted / total[:, None]
        rows = np.flatnonzero(~finite)
        resp[rows, np.argmin(log_q[rows], axis=1)] = 1.0
        return log_norm, resp

    @_array_api.predicting
    def score_samples(self, X):
        """Compute the log-density log p(x) of each sample under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log sum_k w_k N(x; mu_k, Sigma_k)``, in the model's dtype; -inf
            for a point whose density is below the floating-point range.

        Raises
        ------
        NotFittedError
            When the model is not fitted.

        See Also
        --------
        GaussianMixture.score : Their mean.
        GaussianMixture.predict_proba : The posterior component probabilities.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> print(gm.score_samples(X[:3]).round(3))
        [-4.638 -3.673 -5.808]
        """
        return self._posterior(self._check_X(X), responsibilities=False)[0]

    @_array_api.predicting
    def score(self, X, y=None):
        """Compute the mean log-likelihood of the samples of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        float
            ``mean(score_samples(X))``; higher is better.

        See Also
        --------
        GaussianMixture.score_samples : The log-density of each sample.
        GaussianMixture.bic : Penalised by the number of parameters.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> round(gm.score(X), 4)
        -4.1554
        """
        return float(self.score_samples(X).mean())

    @_array_api.predicting
    def predict_proba(self, X):
        """Compute the posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            The responsibilities ``p(k | x)``; each row sums to 1.

        Raises
        ------
        NotFittedError
            When the model is not fitted.

        See Also
        --------
        GaussianMixture.predict : The most probable component.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> proba = gm.predict_proba(X)
        >>> proba.shape
        (272, 2)
        >>> print(proba[:3].round(3))
        [[0. 1.]
         [1. 0.]
         [0. 1.]]
        """
        return self._posterior(self._check_X(X))[1]

    @_array_api.predicting
    def predict(self, X):
        """Label each sample with its most probable component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            ``argmax_k p(k | x)`` for each sample.

        Raises
        ------
        NotFittedError
            When the model is not fitted.

        See Also
        --------
        GaussianMixture.predict_proba : The probabilities behind the labels.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> print(gm.predict([[2.0, 55.0], [4.5, 80.0]]))
        [0 1]
        """
        return self._posterior(self._check_X(X))[1].argmax(axis=1)

    @_array_api.predicting(like="model")
    def sample(self, n_samples=1):
        """Draw random samples from the fitted mixture.

        The number of samples of each component is multinomial with the
        mixture weights; each component's samples are then drawn from its
        Gaussian. Uses ``random_state`` in the same order as scikit-learn, so
        both draw the same samples from the same parameters.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component, in the model's dtype.
        labels : ndarray of shape (n_samples,)
            The component each sample was drawn from.

        Raises
        ------
        NotFittedError
            When the model is not fitted.

        See Also
        --------
        GaussianMixture.score_samples : The density the samples come from.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> new, labels = gm.sample(1000)
        >>> new.shape, labels.shape
        ((1000, 2), (1000,))
        >>> print(labels[:5])
        [0 0 0 0 0]
        """
        self._check_fitted()
        check_scalar(n_samples, "n_samples", int)
        if n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples} . The sampling "
                             "requires at least one sample.")
        rng = check_random_state(self.random_state)
        weights = self.weights_.astype(np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        means = self.means_.astype(np.float64)
        covariances = np.asarray(self.covariances_, dtype=np.float64)
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(m, c, int(n))
                     for m, c, n in zip(means, covariances, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(m, covariances, int(n))
                     for m, n in zip(means, counts)]
        else:
            scale = np.sqrt(covariances)
            parts = [m + rng.standard_normal(size=(n, means.shape[1])) * s
                     for m, s, n in zip(means, scale, counts)]
        labels = np.repeat(np.arange(len(counts)), counts)
        return np.vstack(parts).astype(self.means_.dtype), labels

    # -- progress messages (same wording as scikit-learn) ------------------

    def _print_init_start(self, init):
        if self.verbose >= 1:
            print(f"Initialization {init}")

    def _print_iteration(self, n_iter, change, start):
        if self.verbose >= 1 and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time.perf_counter()
                print(f"  Iteration {n_iter}\t time lapse "
                      f"{now - self._iteration_time:.5f}s\t ll change {change:.5f}")
                self._iteration_time = now

    def _print_init_end(self, lower_bound, converged, start):
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            print(f"Initialization {status}. time lapse {time.perf_counter() - start:.5f}s"
                  f"\t lower bound {lower_bound:.5f}.")


class GaussianMixture(SklearnPrivateMethods, _BaseMixture):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for ``sklearn.mixture.GaussianMixture``: the same
    parameters, fitted attributes and methods, and the same results given the
    same initialisation, computed by fused, multithreaded Cython/BLAS kernels.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': one general covariance matrix per component; 'tied': one
        matrix shared by all; 'diag': one diagonal matrix per component;
        'spherical': one variance per component.
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood) gains less.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping them positive definite.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the best lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen.
    weights_init : array-like of shape (K,), default=None
        Initial mixture weights, non-negative and summing to 1.
    means_init : array-like of shape (K, D), default=None
        Initial component means.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped as ``precisions_``:
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical. Each must be
        symmetric positive definite (positive for diag and spherical).
        Any of the three that is given replaces what ``init_params`` computed.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of ``sample``. An int makes fits
        reproducible; scikit-learn's estimator draws the same numbers from it.
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution (with one initialisation).
    verbose : int, default=0
        1 prints each initialisation and iteration; 2 adds timings and the bound.
    verbose_interval : int, default=10
        Iterations between two progress lines.
    n_threads : int, default=None
        Threads for the kernels. None: the ``GMMC_NUM_THREADS`` environment
        variable, else the BLAS thread limit in force (threadpoolctl's limits are
        respected), capped by the available cores. An addition to
        scikit-learn's parameters.
    nan_policy : {'raise', 'marginalize'}, default='raise'
        'raise': NaN in X is an error, as in scikit-learn. 'marginalize': NaN
        marks a missing value (missing at random); each row is scored by the
        marginal mixture over its observed features (``fit``,
        ``partial_fit``, ``score_samples``, ``score``, ``predict``,
        ``predict_proba``, ``bic``, ``aic``), and EM is exact EM for
        incomplete data (Ghahramani & Jordan 1994): the M-step uses the
        conditional means and covariances of the missing features. The
        ``init_params`` start is computed on a copy of X with each NaN
        replaced by its feature's mean: unlike the complete rows, of which
        there may be few or none, that uses every row, and EM then corrects
        the shrunken spread. A row with every feature missing raises
        ValueError. Streamed (memmap, RowBlocks, h5py, zarr) and Dask data
        fit with missing values too, block by block. Data without NaN fits
        exactly as with 'raise'.
        An addition to scikit-learn's parameters.

    Attributes
    ----------
    weights_ : array of shape (K,)
    means_ : array of shape (K, D)
    covariances_ : array
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical.
    precisions_ : array, shaped as ``covariances_``
    precisions_cholesky_ : array, shaped as ``covariances_``
        Upper-triangular factors U with ``precisions_ = U U^T`` (square roots of
        the precisions for diag and spherical).
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood of the best initialisation at its last iteration.
    lower_bounds_ : list of float
        The lower bound at each iteration of the best initialisation.
    n_features_in_ : int
    feature_names_in_ : array of str, only when X had string column names.

    All arrays have the dtype of the training data (float32 or float64).

    See Also
    --------
    select : Fit a grid of numbers of components and covariance types, keep the best.
    gmmc.dask.GaussianMixture : The same estimator with lazy predictions on Dask arrays.
    load : Read a model written by :meth:`save`.

    Notes
    -----
    EM alternates an E-step, which computes each sample's responsibilities
    (posterior component probabilities) and the weighted sums they define,
    and an M-step, which turns those sums into new parameters. Iterations stop
    when the mean log-likelihood improves by less than ``tol``. The user guide
    derives both steps for every covariance type.

    Examples
    --------
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> print(gm.weights_.round(3))
    [0.356 0.644]
    >>> print(gm.means_.round(2))
    [[ 2.04 54.48]
     [ 4.29 79.97]]
    >>> gm.converged_, gm.n_iter_
    (True, 4)
    >>> gm.covariances_.shape
    (2, 2, 2)
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_threads=None, nan_policy="raise"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.nan_policy = nan_policy

    # scikit-learn's metadata routing: partial_fit's step_exponent is a setting
    # of the call, not metadata of the samples (as its trees' check_input).
    __metadata_request__partial_fit = {"step_exponent": UNUSED}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As scikit-learn's: array API inputs with the inits it implements for them.
        tags.array_api_support = _array_api.supports(self.init_params, self.warm_start)
        return tags

    # -- parameters --------------------------------------------------------

    def _check_parameters(self, n_features):
        """Validate the constructor parameters; return the checked inits."""
        self._check_common_parameters()
        if not isinstance(self.nan_policy, str) or self.nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, "
                             f"got {self.nan_policy!r}")
        k = self.n_components
        weights = means = precisions = None
        # scikit-learn's messages, word for word (its test suite matches them).
        if self.weights_init is not None:
            weights = _checked_init(self.weights_init, "weights", (k,))
            if (weights < 0).any() or (weights > 1).any():
                # (sic: scikit-learn prints the minimum as "max value" and v.v.)
                raise ValueError("The parameter 'weights' should be in the range [0, 1], "
                                 f"but got max value {weights.min():.5f}, min value "
                                 f"{weights.max():.5f}")
            init_dtype = np.asarray(_array_api.to_numpy(self.weights_init)).dtype
            atol = 1e-6 if init_dtype == np.float32 else 1e-8
            if not abs(1.0 - weights.sum()) <= atol:
                raise ValueError("The parameter 'weights' should be normalized, but got "
                                 f"sum(weights) = {weights.sum():.5f}")
        if self.means_init is not None:
            means = _checked_init(self.means_init, "means", (k, n_features))
        if self.precisions_init is not None:
            shape = _covariance_shape(self.covariance_type, k, n_features)
            precisions = _checked_init(self.precisions_init,
                                       f"{self.covariance_type} precision", shape)
        _array_api.check_init_params(self.init_params)  # as scikit-learn, under dispatch
        return weights, means, precisions

    # -- fitting -----------------------------------------------------------

    @_array_api.fitting
    def partial_fit(self, X, y=None, sample_weight=None, *, step_exponent=None):
        """Update the model with one step of stepwise (online) EM on a batch.

        An unfitted model is initialised from its first batch (``init_params``
        or the given inits, as ``fit``). Each batch gets an E-step under the
        current model; its statistics, per unit of sample weight, are blended
        into the running statistics with step size

            eta = (1 + S / b) ** -step_exponent,

        where b is the batch's sample weight and S the weight seen before it
        (``n_samples_seen_``; 0 for an unfitted model, whose first batch thus
        has eta = 1), and one M-step gives the new parameters. A batch counts
        as batch number S / b in batches of its own weight: for batches of
        equal weight this is the usual schedule eta_t = (t + 1) ** -alpha,
        t = 0, 1, 2, ... ``step_exponent`` (alpha) must be in (0.5, 1]; None
        means 0.6. alpha = 1 gives every sample the same weight (the running
        statistics are the weighted average of all); smaller alpha forgets
        early, poorly fitted batches faster. Over repeated passes of shuffled
        batches the model approaches the full-batch ``fit``.

        A model fitted by ``fit``, loaded, or set by ``m_step`` continues as
        it stands: its running statistics are the ones whose M-step gives back
        its parameters (those of its last E-step), and they carry the sample
        weight it was fitted on, ``n_samples_seen_``. So a batch moves it in
        proportion to its weight: with alpha = 1, continuing a converged fit
        on X1 with a batch X2 is one EM iteration on X1 and X2 together, and
        one new sample barely changes the model. ``n_samples_seen_`` grows by
        each batch's weight, ``n_iter_`` counts the batches since the model
        was fitted or initialised, ``lower_bound_`` is the running mean
        log-likelihood, and ``converged_`` stays False. ``save`` keeps the
        running statistics and the batch count, so a loaded model continues
        exactly as the saved one would. ``n_components`` and
        ``covariance_type`` cannot change between calls (ValueError; ``fit``
        starts afresh).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch of data.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample of the batch.
        step_exponent : float, default=None
            The exponent alpha of the step size, in (0.5, 1]; None means 0.6.

        Returns
        -------
        GaussianMixture
            The updated estimator itself.

        Raises
        ------
        ValueError
            When ``n_components`` or ``covariance_type`` changed since the
            last call, or for a ``step_exponent`` outside (0.5, 1].

        See Also
        --------
        GaussianMixture.fit : Fit on all the data at once.
        GaussianMixture.sufficient_statistics : The E-step statistics of a block.

        Examples
        --------
        >>> import numpy as np
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0)
        >>> for batch in np.array_split(X, 4):
        ...     gm = gm.partial_fit(batch)
        >>> print(gm.means_.round(2))
        [[ 4.29 79.93]
         [ 2.07 54.4 ]]
        >>> gm.n_samples_seen_, gm.n_iter_
        (272.0, 4)
        """
        return _stepwise.partial_fit(self, X, sample_weight, step_exponent)

    def sufficient_statistics(self, X, sample_weight=None):
        """Compute the E-step statistics of X under the fitted model.

        X may be any input ``fit`` takes (a memmap or Dask array is read in
        chunks). Statistics of disjoint blocks add up (``a + b``) to those of
        all the rows, and ``m_step`` turns them into parameters: one EM
        iteration over data split anywhere is
        ``gm.m_step(sum(gm.sufficient_statistics(b) for b in blocks))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to compute the statistics of.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        SufficientStatistics
            Sums of the responsibilities, of the responsibility-weighted rows
            and of their outer products (their diagonal for diag, their trace
            for spherical), and the log-likelihood.

        Raises
        ------
        NotFittedError
            When the model is not fitted.

        See Also
        --------
        GaussianMixture.m_step : Turn statistics into parameters.
        SufficientStatistics : The object returned.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> stats = gm.sufficient_statistics(X[:100]) + gm.sufficient_statistics(X[100:])
        >>> stats.weight_sum, round(stats.mean_loglik, 4)
        (272.0, -4.1554)
        """
        return _stepwise.sufficient_statistics(self, X, sample_weight)

    def m_step(self, stats):
        """Set the parameters from E-step statistics (one M-step).

        Sets ``weights_``, ``means_``, ``covariances_`` and the precisions
        from ``stats``, merged over any blocks of rows. The parameters keep
        the fitted model's dtype (float64 if unfitted).

        Parameters
        ----------
        stats : SufficientStatistics
            Statistics from :meth:`sufficient_statistics`, summed over blocks.

        Returns
        -------
        GaussianMixture
            The estimator itself, with its new parameters.

        See Also
        --------
        GaussianMixture.sufficient_statistics : The E-step half.

        Examples
        --------
        One EM iteration, with the data split in two blocks:

        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> stats = gm.sufficient_statistics(X[:100]) + gm.sufficient_statistics(X[100:])
        >>> print(gm.m_step(stats).means_.round(2))
        [[ 2.04 54.48]
         [ 4.29 79.97]]
        """
        return _stepwise.m_step(self, stats)

    def _em_in_kernels(self, X, weight, n_threads):
        # The whole loop runs in the kernels (the same steps in the same order)
        # where the driver's Python work per iteration would cost much of an
        # E-step; not when printing per iteration.
        if self.verbose or not _stats.em_in_kernels_suits(X, self.n_components,
                                                          n_threads):
            return None
        return lambda params, lower_bound: _stats.em_in_kernels(
            X, weight, params, self.covariance_type, self.reg_covar, self.tol,
            self.max_iter, lower_bound, n_threads)

    def _initial_parameters_from(self, initial_statistics, dtype, weights_init, means_init,
                                 precisions_init):
        """(weights, means, covariances, precisions_cholesky) to start EM from:
        those of ``initial_statistics()`` (the ``init_params`` start's, not
        computed when all three inits are given) and the given inits."""
        stats = None
        if weights_init is None or means_init is None or precisions_init is None:
            stats = initial_statistics()
        return self._start_from(stats, dtype, weights_init, means_init, precisions_init)

    def _start_from(self, stats, dtype, weights_init, means_init, precisions_init):
        """Initial parameters from the initial responsibilities' statistics (None
        when all three inits are given), overridden by the given inits."""
        cov_type = self.covariance_type
        weights = means = covariances = None
        if stats is not None:
            _, means, covariances = _stats.m_step(stats, self.reg_covar, dtype)
            # As scikit-learn: the initial weights are divided by the sample
            # count, not by their sum (which carries 10 eps per component).
            weights = (stats.resp_sum + 10 * np.finfo(dtype).eps) / stats.weight_sum
        if weights_init is not None:
            weights = weights_init
        if means_init is not None:
            means = means_init
        if precisions_init is None:
            prec_chol = _stats.precision_cholesky(covariances, cov_type, dtype)
        else:
            prec_chol = _precision_cholesky_from_precisions(precisions_init, cov_type)
            covariances = _covariances_from_precision_cholesky(prec_chol, cov_type)
        return tuple(np.asarray(p, dtype=dtype) for p in
                     (weights, means, covariances, prec_chol))

    def _e_step_arguments(self, params):
        """(weights, means, precisions_cholesky) for the E-step kernels."""
        weights, means, _, prec_chol = params
        return weights, means, prec_chol

    def _m_step_parameters(self, stats, dtype):
        """(weights, means, covariances, precisions_cholesky) from statistics."""
        weights, means, covariances = _stats.m_step(stats, self.reg_covar, dtype)
        prec_chol = _stats.precision_cholesky(covariances, self.covariance_type, dtype)
        return tuple(np.asarray(p, dtype=dtype) for p in
                     (weights, means, covariances, prec_chol))

    def _lower_bound(self, stats, params, new_params):
        """EM's lower bound: the mean log-likelihood of the E-step."""
        return stats.mean_loglik

    def _fitted_parameters(self, dtype):
        """The fitted parameters, to continue from (warm start)."""
        # Copies: the fitted arrays may be read-only (memory-mapped).
        return tuple(np.array(p, dtype=dtype) for p in (
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_))

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.precisions_ = _stats.precisions_from_cholesky(self.precisions_cholesky_,
                                                           self.covariance_type)

    def _log_weight_terms(self):
        """Per-component constants added to the Gaussian log-densities: log weights."""
        with np.errstate(divide="ignore"):  # a weight of 0 is a log-weight of -inf
            return np.log(np.asarray(self.weights_, dtype=np.float64))

    # -- model selection ---------------------------------------------------

    def _n_parameters(self):
        """Number of free parameters of the model."""
        return _stats.n_parameters(*self.means_.shape, self.covariance_type)

    @_array_api.predicting
    def bic(self, X):
        """Compute the Bayesian information criterion on X.

        ``BIC = -2 log L + p log N``, with ``log L`` the total log-likelihood
        of the N samples of X and p the number of free parameters: K - 1
        weights, K D means and K D (D + 1) / 2 (full), D (D + 1) / 2 (tied),
        K D (diag) or K (spherical) covariance parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate, usually the training data.

        Returns
        -------
        float
            The criterion; lower is better.

        See Also
        --------
        GaussianMixture.aic : A lighter penalty, 2 p.
        select : Compare many models by BIC, AIC or held-out likelihood.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> print(round(gm.bic(X), 2))
        2322.19
        """
        n_samples = np.shape(X)[0]
        return -2 * self.score(X) * n_samples + self._n_parameters() * np.log(n_samples)

    @_array_api.predicting
    def aic(self, X):
        """Compute the Akaike information criterion on X.

        ``AIC = -2 log L + 2 p``, with ``log L`` the total log-likelihood of
        X and p the number of free parameters (see :meth:`bic`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate, usually the training data.

        Returns
        -------
        float
            The criterion; lower is better.

        See Also
        --------
        GaussianMixture.bic : A penalty that grows with the sample size.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> print(round(gm.aic(X), 2))
        2282.53
        """
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    # -- conditioning, regression, saving (see gmmc.conditioning, gmmc.io) ---

    def condition(self, indices, values):
        """Condition the mixture on observed values of some features.

        Returns the mixture of the other features given
        ``x[indices] = values``: weights proportional to each component's
        likelihood of the observed values, conditional means and covariances
        (the Schur complement). See :mod:`gmmc.conditioning`.

        Parameters
        ----------
        indices : int, str or sequence of int or str
            The observed features, by position or by name (for a model fitted
            on a DataFrame).
        values : array-like of shape (len(indices),)
            Their observed values.

        Returns
        -------
        GaussianMixture
            A fitted model over the remaining features (in increasing index
            order) with the same settings and covariance type; its
            ``covariances_`` are (K, O, O) full, (O, O) tied, (K, O) diag or
            (K,) spherical for O remaining features.

        Raises
        ------
        NotFittedError
            When the model is not fitted.
        ValueError
            For unknown or repeated features, when every feature is observed,
            or when a conditional covariance is not positive definite.

        See Also
        --------
        GaussianMixture.predict_regression : Conditional means of many rows.
        gmmc.conditioning.marginal : Integrate features out instead.

        Examples
        --------
        The waiting time of Old Faithful given a 3-minute eruption:

        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> waiting = gm.condition([0], [3.0])
        >>> print(waiting.weights_.round(3))
        [0.125 0.875]
        >>> print(waiting.means_.ravel().round(2))
        [60.55 72.84]
        """
        from .conditioning import condition
        return condition(self, indices, values)

    def predict_regression(self, X_in, in_idx, out_idx=None, return_covariance=False):
        """Predict features from others by Gaussian Mixture Regression.

        Computes ``E[x[out_idx] | x[in_idx]]``, the mean of the conditional
        mixture, for each row of ``X_in``, and optionally its covariance.

        Parameters
        ----------
        X_in : array-like of shape (n_samples, len(in_idx))
            Observed values, columns in the order of ``in_idx`` (a 1-D array
            is one column when there is a single input feature).
        in_idx : int, str or sequence of int or str
            The observed features, by position or name.
        out_idx : int, str or sequence of int or str, default=None
            The features to predict; None: every other feature.
        return_covariance : bool, default=False
            Also return the covariance of the conditional mixture.

        Returns
        -------
        mean : ndarray of shape (n_samples, len(out_idx))
            The conditional means.
        covariance : ndarray of shape (n_samples, len(out_idx), len(out_idx))
            Only with ``return_covariance``: the within-component conditional
            covariances plus the spread of the component means.

        Raises
        ------
        NotFittedError
            When the model is not fitted.
        ValueError
            For unknown, repeated or overlapping features, or ``X_in`` of the
            wrong shape.

        See Also
        --------
        GaussianMixture.condition : The whole conditional mixture of one row.

        Examples
        --------
        >>> import numpy as np
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> mean, cov = gm.predict_regression([[2.0], [3.0], [4.5]], in_idx=[0],
        ...                                   out_idx=[1], return_covariance=True)
        >>> print(mean.ravel().round(2))
        [54.25 71.3  81.13]
        >>> print(np.sqrt(cov[:, 0, 0]).round(2))
        [5.56 6.88 5.55]
        """
        from .conditioning import predict_regression
        return predict_regression(self, X_in, in_idx, out_idx, return_covariance)

    def save(self, file):
        """Write the fitted model to a file, without pickle.

        The file is a NumPy ``.npz`` archive of the fitted arrays plus JSON
        metadata; read it back with :func:`gmmc.load`. See :mod:`gmmc.io`.

        Parameters
        ----------
        file : str, os.PathLike or binary file object
            Where to write; a path is used as given (no suffix is added).

        Raises
        ------
        NotFittedError
            When the model is not fitted.

        See Also
        --------
        load : Read the model back, bit for bit.

        Examples
        --------
        >>> import io
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> buffer = io.BytesIO()
        >>> gm.save(buffer)
        >>> same = gmmc.load(io.BytesIO(buffer.getvalue()))
        >>> bool((same.means_ == gm.means_).all())
        True
        """
        _model_file.write(self, file)


def _feature_names_mismatch(names, fitted):
    """scikit-learn's message for feature names that differ from fit's."""
    def listing(title, items):
        items = sorted(items)
        shown = [f"- {name}" for name in items[:5]] + (["- ..."] if len(items) > 5 else [])
        return f"{title}:\n" + "\n".join(shown) + "\n"

    unseen = set(names) - set(fitted)
    missing = set(fitted) - set(names)
    message = "The feature names should match those that were passed during fit.\n"
    if unseen:
        message += listing("Feature names unseen at fit time", unseen)
    if missing:
        message += listing("Feature names seen at fit time, yet now missing", missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    return message


def _covariance_shape(covariance_type, n_components, n_features):
    return {"full": (n_components, n_features, n_features),
            "tied": (n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components,)}[covariance_type]


def _checked_init(value, name, shape):
    """A user-given initial parameter as a finite float64 array of ``shape``;
    ``name`` as scikit-learn calls it ('weights', 'means', 'full precision')."""
    array = np.asarray(_array_api.to_numpy(value))  # another namespace's, under dispatch
    if array.dtype.kind not in "fiu":
        raise TypeError(f"The parameter '{name}' must be a real numeric array, got "
                        f"dtype {array.dtype}")
    array = array.astype(np.float64)
    if array.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but "
                         f"got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"The parameter '{name}' must contain only finite values")
    return array


def _precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper U with P = U U^T for each given precision P (validating P)."""
    if covariance_type in ("diag", "spherical"):
        if (precisions <= 0).any():
            raise ValueError(f"'{covariance_type} precision' should be positive")
        return np.sqrt(precisions)
    # scikit-learn's message, naming the first matrix that is not.
    message = f"'{covariance_type} precision' should be symmetric, positive-definite"
    stack = precisions.reshape(-1, *precisions.shape[-2:])
    symmetric = np.isclose(stack, np.swapaxes(stack, 1, 2)).all(axis=(1, 2))
    if not symmetric.all():
        raise ValueError(f"{message} (precisions_init[{np.flatnonzero(~symmetric)[0]}] "
                         "is not symmetric)")
    # Reversing rows and columns turns the lower Cholesky factor of the
    # reversed matrix into the upper factor U with P = U U^T.
    try:
        lower = np.linalg.cholesky(stack[:, ::-1, ::-1])
    except np.linalg.LinAlgError:
        for k, precision in enumerate(stack):  # name the first that fails
            try:
                np.linalg.cholesky(precision)
            except np.linalg.LinAlgError:
                raise ValueError(f"{message} (precisions_init[{k}] is not positive "
                                 "definite)") from None
        raise
    return np.ascontiguousarray(lower[:, ::-1, ::-1]).reshape(precisions.shape)


def _covariances_from_precision_cholesky(prec_chol, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return 1.0 / prec_chol ** 2
    # inv(U U^T) = inv(U)^T inv(U): U's triangular inverse exists whenever its
    # diagonal is positive, and is more accurate than inverting U U^T.
    inverse = np.linalg.inv(prec_chol)
    return np.swapaxes(inverse, -1, -2) @ inverse
