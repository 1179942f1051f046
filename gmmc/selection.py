"""Model selection in one call: fit a grid of mixtures, score it, keep the best.

``select`` fits every (number of components, covariance type) pair of a grid
and ranks them by BIC, AIC, the log-likelihood of held-out data, or that of
K-fold cross-validation.

Work shared across the grid: for each number of components K and each of the
``n_init`` starts, the initial responsibilities (one k-means, or whichever
``init_params`` asks for) are computed once and turned into initial parameters
for every covariance type, which are then all fitted from that same partition.
With an integer ``random_state`` the starts for K are exactly those of
``GaussianMixture(K, n_init=n_init, random_state=random_state)``, so each
candidate is the model a plain fit would give (to rounding).
"""
import math
import numbers
import warnings

import numpy as np

from . import _init, _missing, _stats
from ._stats import n_parameters
from ._parallel import blas_limited, effective_n_threads, threads_for
from ._validation import (check_array, check_random_state, check_sample_weight, check_scalar,
                          feature_names)
from .exceptions import ConvergenceWarning
from .mixture import GaussianMixture

__all__ = ["select", "Selection"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CRITERIA = ("bic", "aic", "holdout", "cv")


class Selection:
    """The result of :func:`select`: the best model and the table of candidates.

    Unpacks as ``model, table = gmmc.select(X)``.

    Parameters
    ----------
    model : GaussianMixture
        The selected model.
    table : pandas.DataFrame or list of dict
        One row per candidate.
    criterion : {'bic', 'aic', 'holdout', 'cv'}
        The criterion the candidates were ranked by.
    models : dict, default=None
        Every fitted candidate, by ``(n_components, covariance_type)``.
    holdout_indices : ndarray, default=None
        The rows held out by ``criterion='holdout'``.
    folds : list of (ndarray, ndarray), default=None
        The (train, test) rows of ``criterion='cv'``.

    Attributes
    ----------
    model : GaussianMixture
        The best candidate, fitted (for ``criterion='holdout'``, refitted on all
        the data).
    table : pandas.DataFrame or list of dict
        One row per candidate, in grid order (see :func:`select`).
    criterion : str
    models : dict or None
        ``{(n_components, covariance_type): fitted model}`` for every candidate
        that could be fitted, when ``select(..., keep_models=True)``; with
        ``criterion='cv'`` the value is the list of the folds' models.
    holdout_indices : ndarray or None
        For ``criterion='holdout'``, the rows of X held out of the candidates'
        fits and scored.
    folds : list of (ndarray, ndarray) or None
        For ``criterion='cv'``, the (train, test) rows of each fold.

    See Also
    --------
    select : Makes it.
    gmmc.plot.selection : Plots its table.

    Examples
    --------
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> result = gmmc.select(X, n_components=[1, 2, 3], covariance_types="full",
    ...                      criterion="holdout", random_state=0)
    >>> result.criterion, result.model.n_components, result.holdout_indices.shape
    ('holdout', 3, (68,))
    >>> model, table = result
    >>> len(table)
    3
    """

    def __init__(self, model, table, criterion, models=None, holdout_indices=None,
                 folds=None):
        self.model = model
        self.table = table
        self.criterion = criterion
        self.models = models
        self.holdout_indices = holdout_indices
        self.folds = folds

    def __iter__(self):
        return iter((self.model, self.table))

    def __repr__(self):
        return f"Selection(model={self.model!r}, criterion={self.criterion!r})"


def _grid(n_components, covariance_types):
    if isinstance(n_components, (int, np.integer)):
        n_components = [n_components]
    ks = [check_scalar(k, "n_components", int, low=1) for k in n_components]
    if not ks:
        raise ValueError("n_components must name at least one number of components")
    if len(set(ks)) != len(ks):
        raise ValueError(f"n_components has repeated values: {list(ks)}")
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    covs = list(covariance_types)
    if not covs:
        raise ValueError("covariance_types must name at least one covariance type")
    for cov in covs:
        if cov not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_types must be among {COVARIANCE_TYPES}, got {cov!r}")
    if len(set(covs)) != len(covs):
        raise ValueError(f"covariance_types has repeated values: {covs}")
    return [int(k) for k in ks], covs


def _initial_parameters(X, weight, resp, covariance_type, reg_covar, n_threads):
    """(weights, means, precisions) from responsibilities, as GaussianMixture's init."""
    stats = resp.statistics(X, weight, covariance_type, n_threads)
    _, means, covariances = _stats.m_step(stats, reg_covar, X.dtype)
    weights = (stats.resp_sum + 10 * np.finfo(X.dtype).eps) / stats.weight_sum
    # GaussianMixture (like scikit-learn) starts 'k-means++' and
    # 'random_from_data' from weights 1/N each, which do not sum to one; a
    # weights_init must. Scaling all weights leaves the responsibilities, hence
    # the fit, unchanged (only the first lower bound, and so at most the
    # iteration count, can differ).
    weights = weights / weights.sum()
    # Raises scikit-learn's "ill-defined empirical covariance" error, as a fit would.
    u = _stats.precision_cholesky(covariances, covariance_type)
    precisions = _stats.precisions_from_cholesky(u, covariance_type)
    return weights, means, precisions


def _fit_grid(X, weight, ks, covs, settings, random_state, n_threads, verbose):
    # n_threads: the user's value, given to the models; threads: the effective count.
    """Fit every (K, covariance type); returns {(K, cov): model or exception}."""
    n_init, init_params = settings["n_init"], settings["init_params"]
    threads = effective_n_threads(n_threads)
    # With missing values the starts are computed, as by a plain fit, on X with
    # each NaN replaced by its feature's mean (see GaussianMixture's nan_policy).
    start_X = _missing.mean_filled(X, weight) if _missing.has_nan(X) else X
    results = {}
    for k in ks:
        if k > X.shape[0] or (weight is not None and np.count_nonzero(weight) < k):
            error = ValueError(f"{k} components need at least {k} samples "
                               "(of positive weight)")
            results.update({(k, cov): error for cov in covs})
            continue
        # An integer seed restarts for each K, as a standalone fit would.
        rng = check_random_state(random_state)
        best = {}
        for _ in range(n_init):
            with blas_limited(threads_for(X.shape[0], threads)):
                resp = _init.initial_responsibilities(start_X, weight, k, init_params,
                                                      rng, threads)
            for cov in covs:
                if isinstance(best.get(cov), Exception):
                    continue
                try:
                    with blas_limited(threads_for(X.shape[0], threads)):
                        w0, m0, p0 = _initial_parameters(start_X, weight, resp, cov,
                                                         settings["reg_covar"], threads)
                    model = GaussianMixture(
                        k, covariance_type=cov, tol=settings["tol"],
                        reg_covar=settings["reg_covar"], max_iter=settings["max_iter"],
                        init_params=init_params, weights_init=w0, means_init=m0,
                        precisions_init=p0, random_state=random_state, n_threads=n_threads,
                        nan_policy=settings["nan_policy"])
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(X, sample_weight=weight)
                except (ValueError, np.linalg.LinAlgError) as exc:
                    best[cov] = exc
                    continue
                if cov not in best or model.lower_bound_ > best[cov].lower_bound_:
                    best[cov] = model
        for cov in covs:
            results[(k, cov)] = best[cov]
            if verbose:
                outcome = best[cov]
                if isinstance(outcome, Exception):
                    print(f"  K={k:<3d} {cov:<9s} failed: {outcome}", flush=True)
                else:
                    print(f"  K={k:<3d} {cov:<9s} lower bound {outcome.lower_bound_:.5f}"
                          f"  ({'converged' if outcome.converged_ else 'not converged'}, "
                          f"{outcome.n_iter_} iterations)", flush=True)
    return results


def _weighted_loglik(model, X, weight):
    """Total log-likelihood sum_n w_n log p(x_n) (w_n = 1 without weights)."""
    logp = model.score_samples(X).astype(np.float64)
    return float(logp.sum() if weight is None else weight.astype(np.float64) @ logp)


def _split(n_samples, weight, fraction, random_state):
    """Random (train, validation) row indices; validation gets ``fraction``."""
    rng = np.random.RandomState(random_state) if isinstance(random_state, (int, np.integer)) \
        else check_random_state(random_state)
    order = rng.permutation(n_samples)
    n_valid = int(round(fraction * n_samples))
    if n_valid < 1 or n_valid >= n_samples:
        raise ValueError(f"holdout={fraction} leaves no data to fit or to validate on "
                         f"with {n_samples} samples")
    valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    if weight is not None and not (weight[valid].sum() > 0 and weight[train].sum() > 0):
        raise ValueError("the holdout split left a part with zero total sample weight")
    return train, valid


def _folds(X, cv, random_state):
    """[(train, test)] row indices: ``cv`` shuffled, disjoint folds covering the
    rows, or the splits of a scikit-learn style splitter (``cv.split(X)``)."""
    n_samples = X.shape[0]
    if isinstance(cv, numbers.Integral) and not isinstance(cv, (bool, np.bool_)):
        if cv < 2:
            raise ValueError(f"cv must be an integer >= 2 or a splitter, got {cv}")
        if cv > n_samples:
            raise ValueError(f"cv={cv} folds need at least {cv} samples, got {n_samples}")
        rng = np.random.RandomState(random_state) if isinstance(
            random_state, (int, np.integer)) else check_random_state(random_state)
        order = rng.permutation(n_samples)
        tests = [np.sort(part) for part in np.array_split(order, cv)]
        return [(np.setdiff1d(np.arange(n_samples), test), test) for test in tests]
    if isinstance(cv, str) or not hasattr(cv, "split"):
        raise TypeError(f"cv must be an integer >= 2 or a splitter with a split(X) "
                        f"method, got {cv!r}")
    return [(np.asarray(train), np.asarray(test)) for train, test in cv.split(X)]


def _cross_validate(X, weight, ks, covs, settings, random_state, n_threads, verbose, folds):
    """{(K, cov): (per-fold mean held-out log-likelihoods, fold models) or exception}."""
    outcomes = {}
    for train, test in folds:
        w_train = None if weight is None else weight[train]
        w_test = None if weight is None else weight[test]
        if w_test is not None and not w_test.sum() > 0:
            raise ValueError("a cross-validation fold has zero total sample weight")
        fitted = _fit_grid(X[train], w_train, ks, covs, settings, random_state, n_threads,
                           verbose)
        for key, model in fitted.items():
            if isinstance(outcomes.get(key), Exception):
                continue
            if isinstance(model, Exception):
                outcomes[key] = model
                continue
            held = _weighted_loglik(model, X[test], w_test)
            held /= len(test) if w_test is None else float(w_test.astype(np.float64).sum())
            scores, models = outcomes.setdefault(key, ([], []))
            scores.append(held)
            models.append(model)
    return outcomes


def _as_table(records, as_frame):
    if as_frame is False:
        return records
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise ImportError("as_frame=True needs pandas: pip install pandas") from None
        return records
    return pd.DataFrame.from_records(records)


def select(X, n_components=range(1, 11), covariance_types=COVARIANCE_TYPES,
           criterion="bic", *, n_init=1, random_state=None, sample_weight=None,
           init_params="kmeans", tol=1e-3, reg_covar=1e-6, max_iter=100, holdout=0.25,
           cv=5, nan_policy="raise", n_threads=None, as_frame=None, keep_models=False,
           verbose=0):
    """Fit a grid of Gaussian mixtures and return the best with a score table.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data (in memory; a DataFrame's column names are kept).
    n_components : int or iterable of int, default=range(1, 11)
        The numbers of components to try.
    covariance_types : str or iterable of str, default=all four
        Among 'full', 'tied', 'diag', 'spherical'.
    criterion : {'bic', 'aic', 'holdout', 'cv'}, default='bic'
        Lower is better for all four. 'bic' and 'aic' are computed on X.
        'holdout' fits each candidate on a random ``1 - holdout`` share of the
        rows and scores it by minus the mean log-likelihood of the rest. 'cv'
        fits each candidate on every training part of ``cv`` folds and scores
        it by minus the mean, over the folds, of the mean log-likelihood per
        held-out sample (weighted by ``sample_weight``). For both, the chosen
        configuration is then refitted on all of X.
    n_init : int, default=1
        Starts per candidate; the one with the best lower bound is kept.
    random_state : int, RandomState or None
        With an int, the starts for each K are those of
        ``GaussianMixture(K, n_init=n_init, random_state=random_state)``.
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights (weight 2 = the row twice): the log-likelihood is
        ``sum_n w_n log p(x_n)`` and the sample size in BIC is ``sum_n w_n``.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How each start is chosen, as in :class:`GaussianMixture`.
    tol : float, default=1e-3
        Convergence threshold of each fit, as in :class:`GaussianMixture`.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        Maximum number of EM iterations of each fit.
    holdout : float in (0, 1), default=0.25
        Share of the rows held out by ``criterion='holdout'``.
    cv : int or splitter, default=5
        The folds of ``criterion='cv'``: an int k >= 2 splits the shuffled rows
        (shuffled by ``random_state``) into k disjoint folds of nearly equal
        size; any object with a ``split(X)`` method yielding (train, test)
        row indices, such as scikit-learn's ``KFold``, is used as it is.
    nan_policy : {'raise', 'marginalize'}, default='raise'
        NaN in X: an error, or missing values, each candidate fitted and
        scored on the observed values as by
        ``GaussianMixture(nan_policy='marginalize')``.
    n_threads : int, default=None
        Kernel threads, as in :class:`GaussianMixture`.
    as_frame : bool or None, default=None
        Return the table as a pandas DataFrame (None: when pandas is
        importable) or as a list of dicts.
    keep_models : bool, default=False
        Keep every fitted candidate in ``Selection.models``.
    verbose : int, default=0
        Print one line per fitted candidate.

    Returns
    -------
    Selection
        Unpacks as ``(model, table)``. The table has one row per candidate, in
        grid order (K outer, covariance type inner), with columns
        ``n_components``, ``covariance_type``, ``n_parameters``,
        ``log_likelihood`` (total, on the data it was fitted on), ``bic``,
        ``aic``, ``holdout_log_likelihood`` (mean per held-out sample; NaN
        unless ``criterion='holdout'``), ``cv_log_likelihood`` (its mean over
        the folds) and ``cv_fold_log_likelihoods`` (the list per fold; NaN and
        None unless ``criterion='cv'``, where the columns of a single fit,
        ``log_likelihood``, ``bic`` and ``aic``, are NaN; ``converged`` is
        then true when every fold converged and ``n_iter`` is the largest),
        ``criterion`` (the value ranked, lower
        is better), ``converged``, ``n_iter``, ``selected`` and ``error`` (None,
        or why the candidate could not be fitted, e.g. too few samples for K;
        such rows have NaN scores). Non-convergence is reported in the table
        rather than warned about.

    Raises
    ------
    ValueError
        For an invalid grid or setting, or when no candidate could be fitted.

    See Also
    --------
    GaussianMixture.bic : The criterion of one model.
    gmmc.plot.selection : Plot the criterion against K.

    Notes
    -----
    The fitted models carry the initial parameters they were started from as
    ``weights_init``, ``means_init`` and ``precisions_init``, so refitting one
    reproduces it. With ``init_params='kmeans'`` or ``'random'`` and an int
    ``random_state``, each candidate is the model
    ``GaussianMixture(K, covariance_type=..., n_init=n_init, random_state=...)``
    fits, to rounding; with 'k-means++' and 'random_from_data' the initial
    weights are normalised to sum to one, which can change the iteration count
    by one.

    Examples
    --------
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> model, table = gmmc.select(X, n_components=range(1, 4), random_state=0)
    >>> model.n_components, model.covariance_type
    (2, 'full')
    >>> print(table[["n_components", "covariance_type", "bic"]].round(2)
    ...       .head(3).to_string(index=False))
     n_components covariance_type     bic
                1            full 2607.62
                1            tied 2607.62
                1            diag 3055.83
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    ks, covs = _grid(n_components, covariance_types)
    check_scalar(n_init, "n_init", int, low=1)
    check_scalar(holdout, "holdout", float, low=0.0, low_inclusive=False, high=1.0)
    check_scalar(tol, "tol", float, low=0.0)
    check_scalar(reg_covar, "reg_covar", float, low=0.0)
    check_scalar(max_iter, "max_iter", int, low=0)
    if init_params not in ("kmeans", "k-means++", "random", "random_from_data"):
        raise ValueError(f"unknown init_params {init_params!r}")
    names = feature_names(X)
    if nan_policy not in ("raise", "marginalize"):
        raise ValueError(f"nan_policy must be 'raise' or 'marginalize', got {nan_policy!r}")
    X = check_array(X, min_samples=2, allow_nan=nan_policy == "marginalize")
    n_samples, n_features = X.shape
    weight = check_sample_weight(sample_weight, n_samples, X.dtype)
    if n_threads is not None:
        check_scalar(n_threads, "n_threads", int, low=1)
    settings = dict(n_init=n_init, init_params=init_params, tol=tol, reg_covar=reg_covar,
                    max_iter=max_iter, nan_policy=nan_policy)

    folds = valid = None
    if criterion == "cv":
        folds = _folds(X, cv, random_state)
        outcomes = _cross_validate(X, weight, ks, covs, settings, random_state, n_threads,
                                   verbose, folds)
        results = {key: outcome if isinstance(outcome, Exception) else outcome[1]
                   for key, outcome in outcomes.items()}
    elif criterion == "holdout":
        train, valid = _split(n_samples, weight, holdout, random_state)
        X_fit, w_fit = X[train], None if weight is None else weight[train]
        X_val, w_val = X[valid], None if weight is None else weight[valid]
    else:
        X_fit, w_fit = X, weight
    if criterion != "cv":
        results = _fit_grid(X_fit, w_fit, ks, covs, settings, random_state, n_threads,
                            verbose)

    records = []
    for (k, cov), outcome in results.items():
        record = dict(n_components=k, covariance_type=cov,
                      n_parameters=n_parameters(k, n_features, cov),
                      log_likelihood=math.nan, bic=math.nan, aic=math.nan,
                      holdout_log_likelihood=math.nan, cv_log_likelihood=math.nan,
                      cv_fold_log_likelihoods=None, criterion=math.nan,
                      converged=False, n_iter=0, selected=False, error=None)
        if isinstance(outcome, Exception):
            record["error"] = str(outcome)
        elif criterion == "cv":  # the fold models: no single fit to report
            per_fold = outcomes[(k, cov)][0]
            record.update(cv_log_likelihood=float(np.mean(per_fold)),
                          cv_fold_log_likelihoods=per_fold,
                          criterion=-float(np.mean(per_fold)),
                          converged=all(m.converged_ for m in outcome),
                          n_iter=max(int(m.n_iter_) for m in outcome))
        else:
            loglik = _weighted_loglik(outcome, X_fit, w_fit)
            total_weight = float(X_fit.shape[0] if w_fit is None
                                 else w_fit.astype(np.float64).sum())
            p = record["n_parameters"]
            record.update(log_likelihood=loglik,
                          bic=-2 * loglik + p * math.log(total_weight),
                          aic=-2 * loglik + 2 * p,
                          converged=bool(outcome.converged_), n_iter=int(outcome.n_iter_))
            if criterion == "holdout":
                held = _weighted_loglik(outcome, X_val, w_val)
                held /= X_val.shape[0] if w_val is None else float(w_val.sum())
                record["holdout_log_likelihood"] = held
                record["criterion"] = -held
            else:
                record["criterion"] = record[criterion]
        records.append(record)

    scored = [i for i, r in enumerate(records) if np.isfinite(r["criterion"])]
    if not scored:
        errors = "; ".join(f"K={r['n_components']} {r['covariance_type']}: {r['error']}"
                           for r in records)
        raise ValueError(f"no candidate model could be fitted: {errors}")
    best = min(scored, key=lambda i: records[i]["criterion"])  # first of ties
    records[best]["selected"] = True
    k, cov = records[best]["n_components"], records[best]["covariance_type"]
    if criterion in ("holdout", "cv"):  # refitted on all the data
        model = _fit_grid(X, weight, [k], [cov], settings, random_state, n_threads,
                          verbose)[(k, cov)]
        if isinstance(model, Exception):
            raise model
    else:
        model = results[(k, cov)]
    fitted = [model] + [m for outcome in results.values() if not isinstance(outcome, Exception)
                        for m in (outcome if criterion == "cv" else [outcome])]
    if names is not None:  # the grid was fitted on the bare array
        for m in fitted:
            m.feature_names_in_ = names
    models = None
    if keep_models:
        models = {key: m for key, m in results.items() if not isinstance(m, Exception)}
    return Selection(model, _as_table(records, as_frame), criterion, models, valid, folds)
