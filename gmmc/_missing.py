"""EM with missing values (NaN) for ``nan_policy='marginalize'``.

Exact EM for data missing at random (Ghahramani & Jordan 1994). The E-step
scores each row by its marginal density over its observed features o, and
completes it, per component k, with the conditional mean of its missing
features m,

    x_hat_k = [x_o, mu_m + B_k (x_o - mu_o)],   B_k = S_mo S_oo^-1,

whose conditional covariance C_k = S_mm - B_k S_om is added, times the
responsibility, to the second-moment sums. The statistics are those of
``_stats.e_step`` (about the same reference points), so the M-step
(``_stats.m_step``) is unchanged and complete and incomplete rows merge.

Rows are grouped by missingness pattern. Complete rows go through the usual
fused kernels. A pattern with at least ``MIN_PATTERN_ROWS`` rows gets its
marginal factors (Cholesky of S_oo, B_k, C_k) once per iteration and its rows
the compiled posterior kernel on their observed columns (the marginal of a
full/tied/diag/spherical Gaussian has the same type over o). Rarer patterns
are done row by row in batched NumPy (a masked D x D inverse per row and
component; diag and spherical need none), which costs more per row but
nothing per pattern.

Memory: ``Patterns`` holds the rows regrouped by pattern, one copy of X (the
observed columns of each pattern, the complete rows, and the rare rows
whole); every other temporary is a bounded chunk of rows.
"""
import numpy as np
from scipy.linalg import cho_solve, solve_triangular

from . import _em, _stats
from ._parallel import map_row_blocks

# Rows a pattern needs to go through the kernels on its own: below it, the
# per-pattern set-up (K Cholesky factors and a kernel preparation) costs more
# than the batched per-row path.
MIN_PATTERN_ROWS = 64

LOG_2PI = np.log(2 * np.pi)


def has_nan(X):
    """Whether X holds a NaN (min propagates it: no N x D temporary)."""
    return X.size > 0 and bool(np.isnan(X.min()))


def _all_missing_error(row):
    return ValueError(f"row {row} of X has every feature missing (NaN): a row needs at "
                      "least one observed value to be scored or fitted; drop it first")


class Patterns:
    """The rows of X regrouped by missingness pattern (see module docstring).

    Attributes: ``complete`` (rows without NaN, C-contiguous), ``groups``
    (list of (row indices, observed column indices, X[rows][:, observed])),
    ``rare`` (row indices and X[rows] of the patterns with fewer than
    MIN_PATTERN_ROWS rows), each with its rows' sample weights.
    """

    def __init__(self, X, sample_weight=None):
        n, d = X.shape
        self.n_samples, self.n_features, self.dtype = n, d, X.dtype
        # One key per row: its missing mask packed in bits, computed in chunks.
        width = (d + 7) // 8
        keys = np.empty((n, width), dtype=np.uint8)
        for a, b in _stats.row_chunks(0, n):
            mask = np.isnan(X[a:b])
            empty = np.flatnonzero(mask.all(axis=1))
            if empty.size:
                raise _all_missing_error(a + int(empty[0]))
            keys[a:b] = np.packbits(mask, axis=1)
        void = keys.view(np.dtype((np.void, width))).ravel()
        unique, inverse, counts = np.unique(void, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])

        def weights(rows):
            return None if sample_weight is None else np.ascontiguousarray(
                sample_weight[rows])

        self.complete = self.complete_rows = self.complete_weight = None
        self.groups, rare = [], []
        for p, key in enumerate(unique):
            rows = order[bounds[p]:bounds[p + 1]]
            missing = np.unpackbits(np.frombuffer(key.tobytes(), dtype=np.uint8))[:d]
            if not missing.any():
                self.complete_rows = rows
                self.complete = np.ascontiguousarray(X[rows])
                self.complete_weight = weights(rows)
            elif len(rows) >= MIN_PATTERN_ROWS:
                observed = np.flatnonzero(missing == 0)
                self.groups.append((rows, observed,
                                    np.ascontiguousarray(X[np.ix_(rows, observed)]),
                                    weights(rows)))
            else:
                rare.append(rows)
        self.rare_rows = np.sort(np.concatenate(rare)) if rare else None
        self.rare = None if self.rare_rows is None else np.ascontiguousarray(
            X[self.rare_rows])
        self.rare_weight = None if self.rare_rows is None else weights(self.rare_rows)


class _Model:
    """The mixture in float64 with each component's covariance S_k, for the
    marginal and conditional factors."""

    def __init__(self, weights, means, precisions_cholesky, covariance_type, log_weights):
        self.cov_type = covariance_type
        self.means = np.asarray(means, dtype=np.float64)
        self.prec_chol = np.asarray(precisions_cholesky, dtype=np.float64)
        if log_weights is None:
            with np.errstate(divide="ignore"):
                log_weights = np.log(np.asarray(weights, dtype=np.float64))
        self.log_weights = np.asarray(log_weights, dtype=np.float64)
        self.k, self.d = self.means.shape
        if covariance_type in ("full", "tied"):
            # S = inv(U U^T) = inv(U)^T inv(U), from the triangular inverse.
            inverse = np.linalg.inv(self.prec_chol)
            self.cov = np.swapaxes(inverse, -1, -2) @ inverse
        else:
            self.cov = 1.0 / self.prec_chol ** 2  # (K, D) diag, (K,) spherical

    def variances(self, j):
        """Component j's variances (D,) for diag and spherical."""
        if self.cov_type == "diag":
            return self.cov[j]
        return np.full(self.d, self.cov[j])

    def marginal(self, observed):
        """Kernel parameters over ``observed`` and, per component, (B_k, C_k)
        of the missing features given the observed ones (None for diag and
        spherical, whose B is 0 and C the missing variances)."""
        o = observed
        m = np.setdiff1d(np.arange(self.d), o)
        means = np.ascontiguousarray(self.means[:, o])
        if self.cov_type in ("diag", "spherical"):
            prec = self.prec_chol if self.cov_type == "spherical" else np.ascontiguousarray(
                self.prec_chol[:, o])
            return m, means, prec, None
        covs = self.cov if self.cov_type == "full" else self.cov[None]
        precs, conditionals = [], []
        for S in covs:
            S_oo, S_om = S[np.ix_(o, o)], S[np.ix_(o, m)]
            lower = np.linalg.cholesky(S_oo)
            # Upper U with inv(S_oo) = U U^T (scikit-learn's layout).
            precs.append(solve_triangular(lower, np.eye(len(o)), lower=True).T)
            B = cho_solve((lower, True), S_om).T
            conditionals.append((B, S[np.ix_(m, m)] - B @ S_om))
        prec = np.stack(precs) if self.cov_type == "full" else precs[0]
        if self.cov_type == "tied":
            conditionals = conditionals * self.k
        return m, means, prec, conditionals


def _completed(Xo, observed, missing, model, conditionals, j, shift):
    """Rows of component j completed by their conditional means, minus
    ``shift`` (float64, (n, D)); Xo holds the observed columns."""
    Y = np.empty((Xo.shape[0], model.d))
    Y[:, observed] = Xo
    Y[:, observed] -= shift[observed]
    mu = model.means[j]
    if conditionals is None:  # diag, spherical: the missing features' means
        Y[:, missing] = mu[missing] - shift[missing]
    else:
        B = conditionals[j][0]
        Y[:, missing] = ((Xo - mu[observed]) @ B.T) + (mu[missing] - shift[missing])
    return Y


def _add(stats, a, Y, j, extra):
    """Add rows Y (about the shift) with weights a to component j's sums, and
    ``extra``, the weighted conditional covariance (D x D, or its diagonal)."""
    total = a.sum()
    stats.resp_sum[j] += total
    stats.sum_x[j] += a @ Y
    cov_type = stats.covariance_type
    if cov_type in ("full", "tied"):
        scatter = (Y * a[:, None]).T @ Y + extra
        if cov_type == "full":
            stats.sum_xx[j] += scatter
        else:
            stats.sum_xx += scatter
    else:
        diagonal = a @ (Y * Y) + extra
        if cov_type == "diag":
            stats.sum_xx[j] += diagonal
        else:
            stats.sum_xx[j] += diagonal.sum()


def _group_statistics(stats, Xo, w, observed, factors, prepared, model):
    """Add the statistics of rows of one pattern (observed columns Xo)."""
    missing, means_o, prec_o, conditionals = factors
    n = Xo.shape[0]
    log_norm = np.empty(n, dtype=Xo.dtype)
    resp = np.empty((n, model.k), dtype=Xo.dtype)
    _em.posterior(Xo, model.log_weights, means_o, prec_o, model.cov_type, log_norm,
                  resp, prepared)
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    stats.loglik_sum += float(w64 @ log_norm.astype(np.float64))
    stats.weight_sum += float(w64.sum())
    A = resp.astype(np.float64) * w64[:, None]
    X64 = Xo.astype(np.float64)
    for j in range(model.k):
        Y = _completed(X64, observed, missing, model, conditionals, j, stats.shift[j])
        a = A[:, j]
        if conditionals is None:
            extra = np.zeros(model.d)
            extra[missing] = a.sum() * model.variances(j)[missing]
        else:
            extra = np.zeros((model.d, model.d))
            extra[np.ix_(missing, missing)] = a.sum() * conditionals[j][1]
        _add(stats, a, Y, j, extra)


def _rare_posterior(X, model):
    """Per-row marginal log-densities of rows with NaN, in batched NumPy.

    Returns log p_k(x_o) + log w_k (n, K) and, for full and tied, the
    embedded inverses P_n = inv(S_oo) (zero outside o x o, (n, D, D) per
    component, shared for tied), and the completed rows (n, K, D).
    """
    n, d = X.shape
    X = X.astype(np.float64)
    obs = ~np.isnan(X)
    n_obs = obs.sum(axis=1)
    filled = np.where(obs, X, 0.0)
    log_p = np.empty((n, model.k))
    xhat = np.empty((n, model.k, d))
    inverses = []
    if model.cov_type in ("diag", "spherical"):
        for j in range(model.k):
            var = model.variances(j)
            z = np.where(obs, (filled - model.means[j]), 0.0)
            log_p[:, j] = (model.log_weights[j]
                           - 0.5 * (n_obs * LOG_2PI + obs @ np.log(var) + (z * z) @ (1 / var)))
            xhat[:, j] = np.where(obs, X, model.means[j])
        return log_p, None, xhat
    pair = obs[:, :, None] & obs[:, None, :]
    eye = np.eye(d, dtype=bool)
    covs = model.cov if model.cov_type == "full" else model.cov[None]
    for S in covs:
        # S restricted to o x o, identity elsewhere: same inverse and
        # determinant on o, batched over rows of any pattern.
        masked = np.where(pair, S, eye)
        inverse = np.linalg.inv(masked)
        inverse[~pair] = 0.0
        _, logdet = np.linalg.slogdet(masked)
        inverses.append((inverse, logdet))
    for j in range(model.k):
        S = covs[j if model.cov_type == "full" else 0]
        inverse, logdet = inverses[j if model.cov_type == "full" else 0]
        z = np.where(obs, filled - model.means[j], 0.0)
        alpha = np.einsum("nab,nb->na", inverse, z)
        log_p[:, j] = model.log_weights[j] - 0.5 * (n_obs * LOG_2PI + logdet
                                                     + np.einsum("na,na->n", z, alpha))
        # mu + S alpha is x_o on o (kept exact) and the conditional mean on m.
        xhat[:, j] = np.where(obs, X, model.means[j] + alpha @ S)
    return log_p, inverses, xhat


def _normalise(log_p):
    top = log_p.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        shifted = np.exp(log_p - top)
    total = shifted.sum(axis=1)
    return top[:, 0] + np.log(total), shifted / total[:, None]


def _rare_statistics(stats, X, w, model):
    """Add the statistics of rows of rare patterns (X with NaN)."""
    log_p, inverses, xhat = _rare_posterior(X, model)
    log_norm, resp = _normalise(log_p)
    n = X.shape[0]
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    stats.loglik_sum += float(w64 @ log_norm)
    stats.weight_sum += float(w64.sum())
    A = resp * w64[:, None]
    missing = np.isnan(X)
    for j in range(model.k):
        a = A[:, j]
        if inverses is None:
            extra = a @ (missing * model.variances(j))
        else:
            S = model.cov[j] if model.cov_type == "full" else model.cov
            inverse = inverses[j if model.cov_type == "full" else 0][0]
            # sum_n a_n C_n = sum(a) S - S (sum_n a_n P_n) S, C_n = S - S P_n S.
            extra = a.sum() * S - S @ np.einsum("n,nab->ab", a, inverse) @ S
        _add(stats, a, xhat[:, j] - stats.shift[j], j, extra)


def _rare_chunk_rows(d):
    # The batched inverses hold a few (rows, D, D) arrays: keep them ~ 8 MB.
    return max(1, min(_stats.CHUNK_ROWS, (1 << 20) // (d * d)))


def e_step(X, sample_weight, weights, means, precisions_cholesky, covariance_type,
           n_threads, log_weights=None, patterns=None):
    """``_stats.e_step`` for X that may hold NaN (``patterns``: X's
    ``Patterns``, built once per fit; None builds them when X holds NaN).

    X without NaN takes ``_stats.e_step`` itself.
    """
    if patterns is None:
        if not has_nan(X):
            return _stats.e_step(X, sample_weight, weights, means, precisions_cholesky,
                                 covariance_type, n_threads, log_weights=log_weights)
        patterns = Patterns(X, sample_weight)
    shift = _stats.reference_points(weights, means, covariance_type)
    parts = []
    if patterns.complete is not None:
        parts.append(_stats.e_step(patterns.complete, patterns.complete_weight, weights,
                                   means, precisions_cholesky, covariance_type, n_threads,
                                   log_weights=log_weights))
    model = _Model(weights, means, precisions_cholesky, covariance_type, log_weights)
    for rows, observed, Xo, w in patterns.groups:
        factors = model.marginal(observed)
        prepared = _em.prepare_model(Xo[:1], model.log_weights, factors[1], factors[2],
                                     covariance_type, None)

        def block(start, stop, Xo=Xo, w=w, observed=observed, factors=factors,
                  prepared=prepared):
            stats = _stats.SufficientStatistics(covariance_type, shift)
            for a, b in _stats.row_chunks(start, stop):
                _group_statistics(stats, Xo[a:b], None if w is None else w[a:b],
                                  observed, factors, prepared, model)
            return stats

        parts.extend(map_row_blocks(block, Xo.shape[0], n_threads))
    if patterns.rare is not None:
        rows = _rare_chunk_rows(model.d)

        def rare_block(start, stop):
            stats = _stats.SufficientStatistics(covariance_type, shift)
            w = patterns.rare_weight
            for a, b in _stats.row_chunks(start, stop, rows):
                _rare_statistics(stats, patterns.rare[a:b], None if w is None else w[a:b],
                                 model)
            return stats

        parts.extend(map_row_blocks(rare_block, patterns.rare.shape[0], n_threads))
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    # E-step responsibilities of a sample sum to one (as in _stats.e_step).
    total.total_x = total.sum_x.sum(axis=0)
    return total


def posterior(X, weights, means, precisions_cholesky, covariance_type, n_threads,
              responsibilities=True, log_weights=None):
    """``_stats.posterior`` for X that holds NaN: each row's log marginal
    density over its observed features and, when ``responsibilities``, p(k | x_o)."""
    patterns = Patterns(X)
    n = X.shape[0]
    k = len(weights)
    log_norm = np.empty(n, dtype=X.dtype)
    resp = np.empty((n, k), dtype=X.dtype) if responsibilities else None
    if patterns.complete is not None:
        ln, r = _stats.posterior(patterns.complete, weights, means, precisions_cholesky,
                                 covariance_type, n_threads, responsibilities, log_weights)
        log_norm[patterns.complete_rows] = ln
        if resp is not None:
            resp[patterns.complete_rows] = r
    model = _Model(weights, means, precisions_cholesky, covariance_type, log_weights)
    for rows, observed, Xo, _ in patterns.groups:
        _, means_o, prec_o, _ = model.marginal(observed)
        ln = np.empty(len(rows), dtype=X.dtype)
        r = np.empty((len(rows), k), dtype=X.dtype)
        _em.posterior(Xo, model.log_weights, means_o, prec_o, covariance_type, ln, r)
        log_norm[rows] = ln
        if resp is not None:
            resp[rows] = r
    if patterns.rare is not None:
        step = _rare_chunk_rows(model.d)
        for a, b in _stats.row_chunks(0, patterns.rare.shape[0], step):
            ln, r = _normalise(_rare_posterior(patterns.rare[a:b], model)[0])
            rows = patterns.rare_rows[a:b]
            log_norm[rows] = ln
            if resp is not None:
                resp[rows] = r
    return log_norm, resp


def conditional_fill(X, weights, means, precisions_cholesky, covariance_type,
                     random_state=None):
    """X with each NaN replaced by its conditional mean given the row's
    observed features under the mixture (posterior-weighted component
    conditional means), or, with a ``random_state``, by a draw from the
    conditional mixture; a row with every feature missing gets the mixture
    itself. Returns a new array of X's dtype."""
    out = np.array(X, copy=True)
    if not has_nan(out):
        return out
    model = _Model(weights, means, precisions_cholesky, covariance_type, None)
    incomplete = np.flatnonzero(np.isnan(out).any(axis=1))
    for a, b in _stats.row_chunks(0, len(incomplete), _rare_chunk_rows(model.d)):
        rows = incomplete[a:b]
        chunk = out[rows].astype(np.float64)
        missing = np.isnan(chunk)  # a row missing everything gets the prior mixture
        log_p, inverses, xhat = _rare_posterior(chunk, model)
        _, resp = _normalise(log_p)
        if random_state is None:
            filled = np.einsum("nk,nkd->nd", resp, xhat)
        else:
            filled = _draw(chunk, missing, resp, inverses, xhat, model, random_state)
        out[rows] = np.where(missing, filled, chunk).astype(out.dtype)
    return out


def _draw(chunk, missing, resp, inverses, xhat, model, random_state):
    """One draw per row from its conditional mixture: a component from
    p(k | x_o), then the missing features from that component's conditional
    Gaussian N(x_hat_m, C_k)."""
    n, d = chunk.shape
    cumulative = resp.cumsum(axis=1)
    u = random_state.uniform(size=n)[:, None]
    labels = np.minimum((cumulative < u * cumulative[:, -1:]).sum(axis=1), model.k - 1)
    noise = random_state.standard_normal(size=(n, d))
    out = xhat[np.arange(n), labels].copy()
    for i in range(n):
        m = missing[i]
        j = labels[i]
        if inverses is None:
            out[i, m] += noise[i, m] * np.sqrt(model.variances(j)[m])
            continue
        S = model.cov[j] if model.cov_type == "full" else model.cov
        P = inverses[j if model.cov_type == "full" else 0][0][i]
        C = (S - S @ P @ S)[np.ix_(m, m)]
        # C may be semi-definite to rounding: a symmetric square root is safe.
        values, vectors = np.linalg.eigh((C + C.T) / 2)
        out[i, m] += vectors @ (np.sqrt(np.clip(values, 0.0, None)) * noise[i, m])
    return out


def mean_filled(X, sample_weight):
    """A copy of X with each NaN replaced by its feature's (weighted) mean over
    the observed values: the data the ``init_params`` start is computed on."""
    n, d = X.shape
    sums, counts = np.zeros(d), np.zeros(d)
    w = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    for a, b in _stats.row_chunks(0, n):
        chunk = X[a:b].astype(np.float64)
        observed = ~np.isnan(chunk)
        sums += w[a:b] @ np.where(observed, chunk, 0.0)
        counts += w[a:b] @ observed
    if not (counts > 0).all():
        raise ValueError(f"feature {int(np.flatnonzero(counts <= 0)[0])} of X has no "
                         "observed value (of positive weight): it cannot be modelled")
    means = (sums / counts).astype(X.dtype)
    out = np.array(X, copy=True)
    for a, b in _stats.row_chunks(0, n):
        chunk = out[a:b]
        np.copyto(chunk, means, where=np.isnan(chunk))
    return out
