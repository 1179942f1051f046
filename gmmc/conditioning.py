"""Conditioning and marginalising a Gaussian mixture; Gaussian Mixture Regression.

Split the dimensions of x into observed ones I and the others O. Given x_I,
the mixture of the remaining dimensions is again a Gaussian mixture, with

- weights ``w_k' ∝ w_k N(x_I; mu_kI, S_kII)`` (each component's marginal
  likelihood of the observed values),
- means ``mu_kO + S_kOI S_kII^-1 (x_I - mu_kI)``,
- covariances ``S_kOO - S_kOI S_kII^-1 S_kIO`` (the Schur complement).

Every covariance type is preserved: 'tied' components share S, so they share
the conditional covariance; 'diag' and 'spherical' components have S_kOI = 0,
so their conditional means and covariances are those of the remaining
dimensions and only the weights change. A marginal (dropping dimensions) keeps
the weights and takes the sub-blocks, also preserving the type.

Gaussian Mixture Regression (``predict_regression``) returns, for many rows of
x_I at once, the mean of that conditional mixture, ``sum_k w_k' mu_k'``, and
optionally its covariance, ``sum_k w_k' (S_k' + (mu_k' - m)(mu_k' - m)^T)``.
"""
import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import logsumexp

from . import _stats
from .exceptions import NotFittedError

__all__ = ["condition", "marginal", "predict_regression"]

_LOG_2PI = np.log(2 * np.pi)


def _check_fitted(model):
    if not hasattr(model, "precisions_cholesky_"):
        raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet; "
                             "call 'fit' first.")


def _indices(model, indices, name):
    """Feature positions (ints, negative allowed, or feature names) as an intp array."""
    n_features = model.means_.shape[1]
    if isinstance(indices, (str, int, np.integer)):
        indices = [indices]
    items = np.asarray(list(indices), dtype=object)
    if items.ndim != 1 or items.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of feature indices")
    names = getattr(model, "feature_names_in_", None)
    out = []
    for item in items.tolist():
        if isinstance(item, str):
            if names is None:
                raise ValueError(f"{name}: feature name {item!r} given, but the model was "
                                 "not fitted with feature names")
            matches = np.flatnonzero(np.asarray(names) == item)
            if matches.size == 0:
                raise ValueError(f"{name}: unknown feature name {item!r}; the model has "
                                 f"{list(names)}")
            out.append(int(matches[0]))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -n_features <= item < n_features:
                raise ValueError(f"{name}: index {item} is out of range for a model of "
                                 f"{n_features} features")
            out.append(int(item) % n_features)
        else:
            raise TypeError(f"{name} must hold integers or feature names, got {item!r}")
    out = np.asarray(out, dtype=np.intp)
    if np.unique(out).size != out.size:
        raise ValueError(f"{name} has repeated features: {out.tolist()}")
    return out


def _split_indices(model, in_idx, out_idx):
    in_idx = _indices(model, in_idx, "in_idx")
    if out_idx is None:
        out_idx = np.setdiff1d(np.arange(model.means_.shape[1]), in_idx)
        if out_idx.size == 0:
            raise ValueError("every feature is observed: nothing is left to condition")
    else:
        out_idx = _indices(model, out_idx, "out_idx")
        common = np.intersect1d(in_idx, out_idx)
        if common.size:
            raise ValueError(f"features {common.tolist()} are both observed (in_idx) "
                             "and predicted (out_idx)")
    return in_idx, out_idx


def _check_values(values, n_rows_expected, n_in, name):
    array = np.asarray(values)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if n_rows_expected == 1:  # condition(): one vector of observed values
        array = array.reshape(-1) if array.ndim <= 1 else array
        if array.shape != (n_in,):
            raise ValueError(f"{name} must have {n_in} value(s), one per observed "
                             f"feature, got shape {np.shape(values)}")
        array = array[None, :]
    else:
        if array.ndim == 1 and n_in == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != n_in:
            raise ValueError(f"{name} must have shape (n_samples, {n_in}), one column per "
                             f"observed feature, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must contain only finite values")
    return array


def _conditional(model, in_idx, out_idx, X_in):
    """Posterior log-weights (N, K), conditional means (N, K, O) and covariances.

    The covariances keep the model's layout: (K, O, O) full, (O, O) tied,
    (K, O) diag, (K,) spherical.
    """
    cov_type = model.covariance_type
    means = np.asarray(model.means_, dtype=np.float64)
    cov = np.asarray(model.covariances_, dtype=np.float64)
    n_components = means.shape[0]
    n_rows, n_in = X_in.shape
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(model.weights_, dtype=np.float64))
    log_lik = np.empty((n_rows, n_components))
    cond_means = np.empty((n_rows, n_components, out_idx.size))
    if cov_type in ("full", "tied"):
        blocks = cov if cov_type == "full" else cov[None]
        cond_covs = np.empty((blocks.shape[0], out_idx.size, out_idx.size))
        for j, s in enumerate(blocks):
            s_ii = s[np.ix_(in_idx, in_idx)]
            s_oi = s[np.ix_(out_idx, in_idx)]
            try:
                factor = cho_factor(s_ii, lower=True)
            except np.linalg.LinAlgError:
                raise ValueError(f"the covariance of the observed features of component "
                                 f"{j} is not positive definite") from None
            # gain = S_OI S_II^-1, so that mean_O|I = mu_O + gain (x_I - mu_I).
            gain = cho_solve(factor, s_oi.T).T
            c = s[np.ix_(out_idx, out_idx)] - gain @ s_oi.T
            cond_covs[j] = (c + c.T) / 2
            log_det = 2 * np.log(np.diag(factor[0])).sum()
            for k in (range(n_components) if cov_type == "tied" else [j]):
                diff = X_in - means[k, in_idx]
                z = solve_triangular(factor[0], diff.T, lower=True)
                log_lik[:, k] = -0.5 * (np.einsum("ij,ij->j", z, z) + log_det
                                        + n_in * _LOG_2PI)
                cond_means[:, k] = means[k, out_idx] + diff @ gain.T
        if cov_type == "tied":
            cond_covs = cond_covs[0]
    else:
        var = cov if cov_type == "diag" else np.repeat(cov[:, None], means.shape[1], axis=1)
        v_in = var[:, in_idx]  # (K, I)
        diff2 = (X_in[:, None, :] - means[None, :, in_idx]) ** 2  # (N, K, I)
        log_lik = -0.5 * ((diff2 / v_in).sum(axis=2) + np.log(v_in).sum(axis=1)
                          + n_in * _LOG_2PI)
        cond_means[:] = means[None, :, out_idx]
        cond_covs = cov[:, out_idx] if cov_type == "diag" else cov.copy()
    log_post = log_weights + log_lik
    log_post -= logsumexp(log_post, axis=1)[:, None]
    return log_post, cond_means, cond_covs


def _mixture_like(model, weights, means, covariances, features):
    """A fitted model of ``model``'s class and settings with the given parameters."""
    params = model.get_params()
    params.update(n_components=len(weights), weights_init=None, means_init=None,
                  precisions_init=None, warm_start=False)
    new = type(model)(**params)
    dtype = model.means_.dtype
    cov_type = model.covariance_type
    covariances = np.asarray(covariances, dtype=np.float64)
    try:
        u = _stats.precision_cholesky(covariances, cov_type)
    except ValueError:
        raise ValueError(
            "a conditional covariance is not positive definite (the observed features "
            "nearly determine the others); refit with a larger reg_covar") from None
    precisions = _stats.precisions_from_cholesky(u, cov_type)
    new.weights_ = np.asarray(weights, dtype=dtype)
    new.means_ = np.ascontiguousarray(means, dtype=dtype)
    new.covariances_ = covariances.astype(dtype)
    new.precisions_cholesky_ = u.astype(dtype)
    new.precisions_ = precisions.astype(dtype)
    new.n_features_in_ = new.means_.shape[1]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        new.feature_names_in_ = np.asarray(names)[features]
    new.converged_ = bool(getattr(model, "converged_", True))
    new.n_iter_ = 0
    new.lower_bound_ = -np.inf
    new.lower_bounds_ = []
    return new


def condition(model, indices, values):
    """Condition a mixture on observed values of some of its features.

    Each component's weight is multiplied by its likelihood of the observed
    values (and the weights renormalised); its mean and covariance become the
    conditional ones, ``mu_O + S_OI S_II^-1 (x_I - mu_I)`` and the Schur
    complement ``S_OO - S_OI S_II^-1 S_IO``.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    indices : int, str or sequence of int or str
        The observed features I, by position (negative allowed) or by name
        (for a model fitted on a DataFrame).
    values : array-like of shape (len(indices),)
        Their observed values.

    Returns
    -------
    GaussianMixture
        A fitted model of the same class, settings and covariance type over
        the remaining O features, in increasing index order: ``means_``
        (K, O) and ``covariances_`` (K, O, O) full, (O, O) tied, (K, O) diag
        or (K,) spherical.

    Raises
    ------
    NotFittedError
        When the model is not fitted.
    ValueError
        For unknown or repeated features, when every feature is observed,
        for values of the wrong length or not finite, or when a conditional
        covariance is not positive definite.

    See Also
    --------
    GaussianMixture.condition : The same, as a method.
    predict_regression : Conditional means of many rows at once.
    marginal : Integrate features out instead.

    Examples
    --------
    >>> import gmmc
    >>> from gmmc.conditioning import condition
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> waiting = condition(gm, [0], [3.0])
    >>> print(waiting.weights_.round(3), waiting.means_.ravel().round(2))
    [0.125 0.875] [60.55 72.84]
    >>> print(waiting.covariances_.ravel().round(2))
    [30.96 30.84]
    """
    _check_fitted(model)
    in_idx, out_idx = _split_indices(model, indices, None)
    x_in = _check_values(values, 1, in_idx.size, "values")
    log_post, cond_means, cond_covs = _conditional(model, in_idx, out_idx, x_in)
    return _mixture_like(model, np.exp(log_post[0]), cond_means[0], cond_covs, out_idx)


def marginal(model, indices):
    """Marginalise a mixture: the mixture of some features, the others integrated out.

    The weights are unchanged; each component keeps the sub-vector of its
    mean and the sub-block of its covariance, so the covariance type is
    preserved.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    indices : int, str or sequence of int or str
        The features to keep, by position or by name, in the order given.

    Returns
    -------
    GaussianMixture
        A fitted model of the same class and settings over the M kept
        features: ``means_`` (K, M) and ``covariances_`` (K, M, M) full,
        (M, M) tied, (K, M) diag or (K,) spherical.

    Raises
    ------
    NotFittedError
        When the model is not fitted.
    ValueError
        For unknown or repeated features.

    See Also
    --------
    condition : Fix features at observed values instead.
    gmmc.plot.density : Draws the marginal density on two features.

    Examples
    --------
    The distribution of the waiting time alone:

    >>> import gmmc
    >>> from gmmc.conditioning import marginal
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> waiting = marginal(gm, [1])
    >>> print(waiting.weights_.round(3), waiting.means_.ravel().round(2))
    [0.356 0.644] [54.48 79.97]
    >>> waiting.covariances_.shape
    (2, 1, 1)
    """
    _check_fitted(model)
    idx = _indices(model, indices, "indices")
    cov = np.asarray(model.covariances_, dtype=np.float64)
    cov_type = model.covariance_type
    if cov_type == "full":
        sub = cov[:, idx[:, None], idx[None, :]]
    elif cov_type == "tied":
        sub = cov[np.ix_(idx, idx)]
    elif cov_type == "diag":
        sub = cov[:, idx]
    else:
        sub = cov
    means = np.asarray(model.means_, dtype=np.float64)[:, idx]
    return _mixture_like(model, np.asarray(model.weights_, dtype=np.float64), means, sub, idx)


def predict_regression(model, X_in, in_idx, out_idx=None, return_covariance=False):
    """Gaussian Mixture Regression: predict ``x[out_idx]`` from ``x[in_idx]``.

    For each row of ``X_in``, the mean ``m = sum_k w_k' mu_k'`` of the
    conditional mixture (see :func:`condition`) and optionally its covariance
    ``sum_k w_k' (S_k' + (mu_k' - m)(mu_k' - m)^T)``.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    X_in : array-like of shape (n_samples, len(in_idx))
        Observed values, columns in the order of ``in_idx`` (a 1-D array is
        taken as one column when there is a single input feature).
    in_idx : int, str or sequence of int or str
        The observed features, by position or name.
    out_idx : int, str or sequence of int or str, default=None
        The features to predict; None: all the others.
    return_covariance : bool, default=False
        Also return the covariance of each conditional mixture.

    Returns
    -------
    mean : ndarray of shape (n_samples, len(out_idx))
        The conditional means.
    covariance : ndarray of shape (n_samples, len(out_idx), len(out_idx))
        Only when ``return_covariance``: the covariance of the conditional
        mixture (within-component covariances plus the spread of the
        component means).

    Raises
    ------
    NotFittedError
        When the model is not fitted.
    ValueError
        For unknown, repeated or overlapping features, or ``X_in`` of the
        wrong shape or not finite.

    See Also
    --------
    GaussianMixture.predict_regression : The same, as a method.
    condition : The whole conditional mixture of one row.

    Examples
    --------
    >>> import gmmc
    >>> from gmmc.conditioning import predict_regression
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> print(predict_regression(gm, [2.0, 3.0, 4.5], in_idx=0).ravel().round(2))
    [54.25 71.3  81.13]
    """
    _check_fitted(model)
    in_idx, out_idx = _split_indices(model, in_idx, out_idx)
    x_in = _check_values(X_in, None, in_idx.size, "X_in")
    log_post, cond_means, cond_covs = _conditional(model, in_idx, out_idx, x_in)
    post = np.exp(log_post)  # (N, K)
    mean = np.einsum("nk,nko->no", post, cond_means)
    if not return_covariance:
        return mean
    n_out = out_idx.size
    cov_type = model.covariance_type
    if cov_type == "full":
        within = (post @ cond_covs.reshape(len(cond_covs), -1)).reshape(-1, n_out, n_out)
    elif cov_type == "tied":
        within = np.broadcast_to(cond_covs, (len(post), n_out, n_out)).copy()
    else:
        variances = cond_covs if cov_type == "diag" else np.repeat(
            cond_covs[:, None], n_out, axis=1)
        within = np.zeros((len(post), n_out, n_out))
        diag = np.arange(n_out)
        within[:, diag, diag] = post @ variances
    spread = cond_means - mean[:, None, :]  # (N, K, O)
    between = np.einsum("nk,nko,nkp->nop", post, spread, spread)
    return mean, within + between
