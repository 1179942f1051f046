"""Stepwise (online) EM and the E-step statistics as a public unit of work.

``partial_fit`` blends each batch's statistics into running statistics and
takes one M-step; ``sufficient_statistics`` and ``m_step`` are the two
halves of an EM iteration over data split anywhere; ``saved_state`` and
``restore_state`` keep partial_fit's running statistics in model files, so
that a loaded model continues as the saved one would.
"""
import numpy as np

from . import _missing, _stats, _streaming
from ._parallel import blas_limited, effective_n_threads, threads_for
from ._sources import is_block_source
from ._validation import (check_array, check_magnitude, check_random_state,
                          check_sample_weight, check_scalar, feature_names)

#: Default exponent alpha of the stepwise-EM step size eta_t = (t + 1) ** -alpha.
DEFAULT_STEP_EXPONENT = 0.6


# -- statistics as a public unit of work -------------------------------------------

def _model_arrays(estimator):
    """Writable copies of the fitted (weights, means, precisions_cholesky)."""
    return tuple(np.array(p) for p in (estimator.weights_, estimator.means_,
                                       estimator.precisions_cholesky_))


def sufficient_statistics(estimator, X, sample_weight=None):
    """E-step statistics of X (array, memmap, block source or Dask array) under
    the fitted model."""
    estimator._check_fitted()
    weights, means, prec_chol = _model_arrays(estimator)
    cov_type = estimator.covariance_type
    n_threads = effective_n_threads(estimator.n_threads)
    if is_block_source(X):
        data = estimator._chunk_executor(X, sample_weight)  # Dask's for a Dask array
        if data.n_features != means.shape[1]:
            raise ValueError(f"X has {data.n_features} features, but "
                             f"{type(estimator).__name__} is expecting {means.shape[1]} "
                             "features as input.")
        data.allow_nan = estimator._allows_nan()
        return data.map_reduce(_streaming.estep_chunk, weights, means, prec_chol, cov_type,
                               data.task_threads)
    X = estimator._check_X(X)
    weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    with blas_limited(threads_for(X.shape[0], n_threads)):
        # _stats.e_step itself when X holds no NaN (nan_policy='marginalize' otherwise)
        return _missing.e_step(X, weight, weights, means, prec_chol, cov_type, n_threads)


def m_step(estimator, stats):
    """Set the estimator's parameters to the M-step of ``stats``; returns it."""
    if not isinstance(stats, _stats.SufficientStatistics):
        raise TypeError(f"stats must be a gmmc.SufficientStatistics, got "
                        f"{type(stats).__name__}")
    if stats.covariance_type != estimator.covariance_type:
        raise ValueError(f"stats were taken for covariance_type="
                         f"{stats.covariance_type!r}, the estimator has "
                         f"{estimator.covariance_type!r}")
    n_components, n_features = stats.shift.shape
    if n_components != estimator.n_components:
        raise ValueError(f"stats have {n_components} components, the estimator has "
                         f"n_components={estimator.n_components}")
    check_scalar(estimator.reg_covar, "reg_covar", float, low=0.0)
    fitted = estimator.__sklearn_is_fitted__()
    if fitted and estimator.means_.shape[1] != n_features:
        raise ValueError(f"stats have {n_features} features, the fitted model has "
                         f"{estimator.means_.shape[1]}")
    if not stats.weight_sum > 0:
        raise ValueError("stats hold no samples (weight_sum is not positive)")
    dtype = estimator.means_.dtype if fitted else np.dtype(np.float64)
    weights, means, covariances = _stats.m_step(stats, estimator.reg_covar, dtype)
    prec_chol = _stats.precision_cholesky(covariances, estimator.covariance_type)
    estimator._set_parameters(tuple(np.asarray(p, dtype=dtype) for p in
                                    (weights, means, covariances, prec_chol)))
    estimator.n_features_in_ = n_features
    # partial_fit continues from these statistics, with their weight.
    estimator.n_samples_seen_ = stats.weight_sum
    estimator._stepwise_state = {"stats": stats.scaled(1.0 / stats.weight_sum),
                                 "n_batches": 0, "means": estimator.means_}
    return estimator


# -- stepwise EM -----------------------------------------------------------------------

def _model_statistics(estimator):
    """Statistics, per unit of weight, whose M-step gives back the fitted model:
    those of the E-step that made it (its lower bound as their log-likelihood)."""
    cov_type, reg = estimator.covariance_type, estimator.reg_covar
    weights, means, covariances = (np.asarray(p, dtype=np.float64) for p in (
        estimator.weights_, estimator.means_, estimator.covariances_))
    stats = _stats.SufficientStatistics(cov_type, _stats.reference_points(weights, means,
                                                                          cov_type))
    d = means - stats.shift
    # The scatter about the means, without the reg_covar the M-step adds back.
    n_features = means.shape[1]
    scatter = covariances - reg * (np.eye(n_features) if cov_type in ("full", "tied") else 1)
    if cov_type == "full":
        stats.sum_xx = weights[:, None, None] * (scatter + d[:, :, None] * d[:, None, :])
    elif cov_type == "tied":
        stats.sum_xx = weights.sum() * scatter + (weights[:, None] * d).T @ d
    elif cov_type == "diag":
        stats.sum_xx = weights[:, None] * (scatter + d ** 2)
    else:  # spherical: the trace
        stats.sum_xx = weights * (n_features * scatter + (d ** 2).sum(axis=1))
    stats.resp_sum = weights.copy()
    stats.sum_x = weights[:, None] * d
    stats.total_x = stats.sum_x.sum(axis=0)
    stats.weight_sum = 1.0
    stats.loglik_sum = getattr(estimator, "lower_bound_", np.nan)
    return stats


def _current_state(estimator):
    """partial_fit's running statistics, unless the model was refitted, or set
    otherwise, since they were made (None)."""
    state = getattr(estimator, "_stepwise_state", None)
    return state if state is not None and state["means"] is estimator.means_ else None


def _stepwise_state(estimator):
    """The running statistics partial_fit continues from (None: start from the
    fitted parameters), after checking that the model's shape has not changed."""
    state = _current_state(estimator)
    k, d = estimator.means_.shape
    if estimator.n_components != k:
        raise ValueError(f"n_components={estimator.n_components}, but the fitted model "
                         f"has {k} components: partial_fit cannot change them; call fit "
                         "to start afresh")
    cov_type = estimator.covariance_type
    fitted_type = None if state is None else state["stats"].covariance_type
    if fitted_type not in (None, cov_type) or np.shape(
            estimator.covariances_) != _stats._sum_xx_shape(cov_type, k, d):
        fitted_as = (repr(fitted_type) if fitted_type else
                     f"covariances_ of shape {np.shape(estimator.covariances_)}")
        raise ValueError(f"covariance_type={cov_type!r}, but the model was fitted with "
                         f"{fitted_as}: partial_fit cannot change it; call fit to start "
                         "afresh")
    if not hasattr(estimator, "n_samples_seen_"):
        raise ValueError("partial_fit weights a fitted model by the sample weight it was "
                         "fitted on, n_samples_seen_, which this model lacks (parameters "
                         "set by hand, or loaded from an older file): set it, or call fit")
    return state


def partial_fit(estimator, X, sample_weight=None, step_exponent=None):
    """Stepwise (online) EM: one E-step on the batch, blended into running
    statistics with step size eta = (1 + seen / batch weight) ** -alpha, then
    one M-step (see ``GaussianMixture.partial_fit``)."""
    alpha = DEFAULT_STEP_EXPONENT if step_exponent is None else step_exponent
    check_scalar(alpha, "step_exponent", float, low=0.5, high=1.0, low_inclusive=False)
    fitted = estimator.__sklearn_is_fitted__()
    names = feature_names(X)
    if fitted:
        X = estimator._check_X(X)
        X = X.astype(estimator.means_.dtype, copy=False)  # the model keeps its dtype
    else:
        X = check_array(X, min_samples=1, estimator=type(estimator).__name__,
                        allow_nan=estimator._allows_nan())
    n_samples, n_features = X.shape
    inits = estimator._check_parameters(n_features)
    state = _stepwise_state(estimator) if fitted else None
    weight = check_sample_weight(sample_weight, n_samples, X.dtype)
    n_threads = effective_n_threads(estimator.n_threads)
    cov_type, dtype = estimator.covariance_type, X.dtype
    with blas_limited(threads_for(n_samples, n_threads)):
        check_magnitude(X, "X", n_terms=n_samples)
        if fitted:
            weights, means, prec_chol = _model_arrays(estimator)
        else:
            if n_samples < estimator.n_components:
                raise ValueError(
                    "The first partial_fit batch initialises the model: expected "
                    f"n_samples >= n_components but got n_components = "
                    f"{estimator.n_components}, n_samples = {n_samples}")
            if weight is not None and np.count_nonzero(weight) < estimator.n_components:
                raise ValueError("fewer samples of positive weight than n_components")
            random_state = check_random_state(estimator.random_state)
            weights, means, _, prec_chol = estimator._initial_parameters(
                X, weight, random_state, n_threads, *inits)
        # Takes _stats.e_step when X holds no NaN (nan_policy='marginalize' otherwise).
        stats = _missing.e_step(X, weight, weights, means, prec_chol, cov_type, n_threads)
    _stats.check_statistics(stats, X)
    batch = stats.scaled(1.0 / stats.weight_sum)  # per unit of weight
    if fitted:
        # The running statistics stand for the weight seen so far: this batch
        # counts as batch number seen / b of its own weight b.
        seen = float(estimator.n_samples_seen_)
        running = _model_statistics(estimator) if state is None else state["stats"]
        eta = (1.0 + seen / stats.weight_sum) ** -alpha
        running = running.rebased(batch.shift).scaled(1.0 - eta) + batch.scaled(eta)
    else:
        seen, running = 0.0, batch
    seen += stats.weight_sum
    # The M-step is scale-free up to its 10-epsilon guard; at the scale of the
    # weight seen so far that guard acts as in a full-batch fit.
    weights, means, covariances = _stats.m_step(running.scaled(seen), estimator.reg_covar,
                                                dtype)
    prec_chol = _stats.precision_cholesky(covariances, cov_type)
    estimator._set_parameters(tuple(np.asarray(p, dtype=dtype) for p in
                                    (weights, means, covariances, prec_chol)))
    estimator.n_features_in_ = n_features
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    n_batches = 1 if state is None else state["n_batches"] + 1
    estimator.lower_bound_ = running.mean_loglik
    estimator.lower_bounds_ = ([] if n_batches == 1 else list(estimator.lower_bounds_)) + [
        estimator.lower_bound_]
    estimator.n_iter_ = n_batches
    estimator.converged_ = False
    estimator.n_samples_seen_ = seen
    estimator._stepwise_state = {"stats": running, "n_batches": n_batches,
                                 "means": estimator.means_}
    return estimator


# -- the partial_fit state in model files (gmmc.io) -------------------------------

_STATE_ARRAYS = ("shift", "resp_sum", "sum_x", "sum_xx", "total_x", "loglik_sum",
                 "weight_sum")
_STEPWISE_KEYS = tuple(f"stepwise_{name}" for name in _STATE_ARRAYS
                       + ("normalized", "n_batches"))
#: The members of a model file that ``saved_state`` may write.
STATE_KEYS = ("n_samples_seen",) + _STEPWISE_KEYS


def saved_state(estimator):
    """Arrays for a model file: n_samples_seen_ and partial_fit's running
    statistics (``stepwise_*``), where the model has them."""
    arrays = {}
    if hasattr(estimator, "n_samples_seen_"):
        arrays["n_samples_seen"] = np.asarray(estimator.n_samples_seen_, dtype=np.float64)
    state = _current_state(estimator)
    if state is not None:
        stats = state["stats"]
        for name in _STATE_ARRAYS:
            arrays[f"stepwise_{name}"] = np.asarray(getattr(stats, name), dtype=np.float64)
        arrays["stepwise_normalized"] = np.asarray(stats.normalized)
        arrays["stepwise_n_batches"] = np.asarray(state["n_batches"], dtype=np.int64)
    return arrays


def restore_state(estimator, arrays):
    """Set what ``saved_state`` wrote on a loaded model; ValueError when invalid."""
    if "n_samples_seen" in arrays:
        seen = arrays["n_samples_seen"]
        if seen.shape != () or seen.dtype != np.float64 or not seen > 0 or not np.isfinite(seen):
            raise ValueError("n_samples_seen must be a positive float64 scalar")
        estimator.n_samples_seen_ = float(seen)
    present = [name for name in _STEPWISE_KEYS if name in arrays]
    if not present:
        return
    if len(present) < len(_STEPWISE_KEYS) or "n_samples_seen" not in arrays:
        raise ValueError("incomplete partial_fit state: needs " + ", ".join(STATE_KEYS))
    k, d = estimator.means_.shape
    stats = _stats.SufficientStatistics(estimator.covariance_type, np.zeros((k, d)))
    for name in _STATE_ARRAYS:
        array, want = arrays[f"stepwise_{name}"], np.shape(getattr(stats, name))
        if array.shape != want or array.dtype != np.float64:
            raise ValueError(f"array 'stepwise_{name}' must be float64 of shape {want}, got "
                             f"{array.dtype} {array.shape}")
        if name != "loglik_sum" and not np.isfinite(array).all():
            raise ValueError(f"array 'stepwise_{name}' has non-finite values")
        setattr(stats, name, array.copy() if array.ndim else float(array))
    normalized, n_batches = arrays["stepwise_normalized"], arrays["stepwise_n_batches"]
    if normalized.shape != () or normalized.dtype != np.bool_ or n_batches.shape != () \
            or n_batches.dtype.kind not in "iu" or n_batches < 0 or not stats.weight_sum > 0:
        raise ValueError("invalid partial_fit state (stepwise_normalized, "
                         "stepwise_n_batches or stepwise_weight_sum)")
    stats.normalized = bool(normalized)
    estimator._stepwise_state = {"stats": stats, "n_batches": int(n_batches),
                                 "means": estimator.means_}
