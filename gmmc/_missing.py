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
marginal factors (Cholesky of S_oo, B_k, C_k) once per iteration, and its
rows the same fused statistics kernel on their observed columns (the
marginal of a full/tied/diag/spherical Gaussian has the same type over o);
the sums of the completed rows follow from the kernel's in closed form
(``_group_statistics``), with no per-row work in NumPy. Rarer patterns
are done row by row in batched NumPy from the precision matrix (an r x r
inverse per row and component for r missing features, rows batched by r;
diag and spherical need none), which costs more per row but nothing per
pattern.

Memory: ``Patterns`` holds the rows regrouped by pattern, one copy of X (the
observed columns of each pattern, the complete rows, and the rare rows
whole); every other temporary is a bounded chunk of rows.
"""
import numpy as np

from . import _em, _stats
from ._parallel import map_row_blocks

# Rows a pattern needs to go through the kernels on its own: below it, the
# per-pattern set-up (batched Cholesky factors and a kernel preparation,
# ~0.3 ms at D = 16, K = 8) costs more than the per-row path (~4 us a row).
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

        masks = np.unpackbits(np.frombuffer(unique.tobytes(), dtype=np.uint8).reshape(
            -1, width), axis=1)[:, :d].astype(bool)
        complete = ~masks.any(axis=1)
        rare = ~complete & (counts < MIN_PATTERN_ROWS)
        self.complete = self.complete_rows = self.complete_weight = None
        self.groups = []
        for p in np.flatnonzero(~rare):  # the loop skips the (possibly many) rare ones
            rows = order[bounds[p]:bounds[p + 1]]
            if complete[p]:
                self.complete_rows = rows
                self.complete = np.ascontiguousarray(X[rows])
                self.complete_weight = weights(rows)
            else:
                observed = np.flatnonzero(~masks[p])
                self.groups.append((rows, observed,
                                    np.ascontiguousarray(X[np.ix_(rows, observed)]),
                                    weights(rows)))
        self.rare_rows = self.rare = self.rare_weight = self.rare_n_missing = None
        if rare.any():
            # Sorted by their number of missing features (the per-row path
            # takes rows with one number at a time).
            rows = np.flatnonzero(rare[inverse])
            n_missing = np.zeros(len(rows), dtype=np.intp)
            for a, b in _stats.row_chunks(0, len(rows)):
                n_missing[a:b] = np.isnan(X[rows[a:b]]).sum(axis=1)
            order = np.argsort(n_missing, kind="stable")
            self.rare_rows, self.rare_n_missing = rows[order], n_missing[order]
            self.rare = np.ascontiguousarray(X[self.rare_rows])
            self.rare_weight = weights(self.rare_rows)


class _Model:
    """The mixture in float64 with each component's covariance S_k (for the
    marginal factors of frequent patterns) and precision P_k (for the
    per-row path)."""

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
            u = self.prec_chol if covariance_type == "full" else self.prec_chol[None]
            # S = inv(U U^T) = inv(U)^T inv(U), from the triangular inverse.
            inverse = np.linalg.inv(u)
            self.cov = np.swapaxes(inverse, -1, -2) @ inverse  # (K or 1, D, D)
            self.precision = u @ np.swapaxes(u, -1, -2)
            self.log_det_precision = 2.0 * np.log(np.diagonal(u, axis1=1, axis2=2)).sum(
                axis=1)
        else:
            self.cov = 1.0 / self.prec_chol ** 2  # (K, D) diag, (K,) spherical

    def variances(self):
        """(K, D) variances of diag and spherical components."""
        if self.cov_type == "diag":
            return self.cov
        return np.repeat(self.cov[:, None], self.d, axis=1)

    def marginal(self, observed):
        """Factors of the pattern observing ``observed``: (missing columns,
        kernel means and precision factors over the observed ones, and for
        full and tied the (K, |m|, |o|) regression matrices B_k and (K, |m|,
        |m|) conditional covariances C_k; None for diag and spherical, whose
        B is 0 and C the missing variances)."""
        o = observed
        m = np.setdiff1d(np.arange(self.d), o)
        means = np.ascontiguousarray(self.means[:, o])
        if self.cov_type in ("diag", "spherical"):
            prec = self.prec_chol if self.cov_type == "spherical" else np.ascontiguousarray(
                self.prec_chol[:, o])
            return m, means, prec, None
        # All components at once (batched LAPACK: a pattern costs a few calls).
        S_oo = self.cov[:, o[:, None], o[None, :]]
        S_mo = self.cov[:, m[:, None], o[None, :]]
        lower_inverse = np.linalg.inv(np.linalg.cholesky(S_oo))  # L^-1, lower
        # Upper U = L^-T with inv(S_oo) = U U^T (scikit-learn's layout).
        upper = np.swapaxes(lower_inverse, 1, 2)
        B = (S_mo @ upper) @ lower_inverse  # S_mo inv(S_oo)
        C = self.cov[:, m[:, None], m[None, :]] - B @ np.swapaxes(S_mo, 1, 2)
        if self.cov_type == "tied":
            return m, means, upper[0], (np.repeat(B, self.k, axis=0),
                                        np.repeat(C, self.k, axis=0))
        return m, means, np.ascontiguousarray(upper), (B, C)


def _add(stats, A, Y, extra):
    """Add completed rows, Y (K, D, n) (rows along the last axis, where
    NumPy's loops are long), taken about the shift, with weights A (n, K),
    and ``extra``, the weighted conditional covariances (K, D, D), or their
    diagonals (K, D), to the sums. Y is overwritten."""
    stats.resp_sum += A.sum(axis=0)
    weights = np.ascontiguousarray(A.T)
    stats.sum_x += np.matmul(Y, weights[:, :, None])[:, :, 0]
    cov_type = stats.covariance_type
    if cov_type in ("full", "tied"):
        Y *= np.sqrt(weights)[:, None, :]  # in place: sum_n a y y^T = Y' Y'^T
        second = np.matmul(Y, np.swapaxes(Y, 1, 2)) + extra
        stats.sum_xx += second if cov_type == "full" else second.sum(axis=0)
    else:
        np.square(Y, out=Y)
        second = np.matmul(Y, weights[:, :, None])[:, :, 0] + extra
        stats.sum_xx += second if cov_type == "diag" else second.sum(axis=1)


def _group_statistics(stats, Xo, w, observed, factors, prepared, model):
    """Add the statistics of rows of one pattern (observed columns Xo).

    The fused kernel takes the rows' statistics over their observed
    features, about the shift's observed part; those of the completed rows
    follow in closed form, since each component's conditional mean is affine
    in the observed part: x_hat_m - shift_m = B_k y + d_k with y = x_o -
    shift_o and d_k = mu_m - shift_m - B_k (mu_o - shift_o) (0 for full,
    whose shift is the means; B_k = 0 for diag and spherical). So

        sum r (x_hat_m - shift_m) = B_k s_k + n_k d_k,
        sum r (x_hat_m - shift_m) y^T = B_k S_k + d_k s_k^T,
        sum r (x_hat_m - shift_m)(...)^T = B_k S_k B_k^T + B_k s_k d_k^T
                                           + d_k s_k^T B_k^T + n_k d_k d_k^T,

    with n_k, s_k and S_k the kernel's sums, and n_k C_k is added to the last.
    """
    missing, means_o, prec_o, conditionals = factors
    cov_type, shift, means = model.cov_type, stats.shift, model.means
    part = _stats.SufficientStatistics(cov_type, shift[:, observed])
    loglik, weight = _em.accumulate_statistics(Xo, w, model.log_weights, means_o, prec_o,
                                               cov_type, *part._accumulators(),
                                               prepared=prepared)
    stats.loglik_sum += loglik
    stats.weight_sum += weight
    nk, s = part.resp_sum, part.sum_x
    stats.resp_sum += nk
    o, m = observed, missing
    stats.sum_x[:, o] += s
    if conditionals is None:  # diag, spherical: x_hat_m = mu_m
        d = means[:, m] - shift[:, m]
        stats.sum_x[:, m] += nk[:, None] * d
        missing_squares = nk[:, None] * (d ** 2 + model.variances()[:, m])
        if cov_type == "diag":
            stats.sum_xx[:, o] += part.sum_xx
            stats.sum_xx[:, m] += missing_squares
        else:
            stats.sum_xx += part.sum_xx + missing_squares.sum(axis=1)
        return
    B, C = conditionals
    d = (means[:, m] - shift[:, m]
         - np.einsum("kmo,ko->km", B, means[:, o] - shift[:, o]))
    Bs = np.einsum("kmo,ko->km", B, s)
    stats.sum_x[:, m] += Bs + nk[:, None] * d
    if cov_type == "full":
        S = part.sum_xx  # (K, o, o)
        S_mo = B @ S + d[:, :, None] * s[:, None, :]
        S_mm = (S_mo @ np.swapaxes(B, 1, 2) + Bs[:, :, None] * d[:, None, :]
                + nk[:, None, None] * (d[:, :, None] * d[:, None, :] + C))
        stats.sum_xx[:, o[:, None], o[None, :]] += S
        stats.sum_xx[:, m[:, None], o[None, :]] += S_mo
        stats.sum_xx[:, o[:, None], m[None, :]] += np.swapaxes(S_mo, 1, 2)
        stats.sum_xx[:, m[:, None], m[None, :]] += S_mm
    else:  # tied: one B and C; the sums run over the components too
        S = part.sum_xx  # (o, o), summed over components
        B0 = B[0]
        S_mo = B0 @ S + d.T @ s
        S_mm = (S_mo @ B0.T + Bs.T @ d + nk.sum() * C[0]
                + (nk[:, None] * d).T @ d)
        stats.sum_xx[o[:, None], o[None, :]] += S
        stats.sum_xx[m[:, None], o[None, :]] += S_mo
        stats.sum_xx[o[:, None], m[None, :]] += S_mo.T
        stats.sum_xx[m[:, None], m[None, :]] += S_mm


# Up to this size the batched inverses are vectorised over the matrices;
# NumPy's LAPACK loop costs ~1 us a matrix, several times more for these.
SMALL_INVERSE = 8


def _inverse_log_det(M):
    """inv(M) and log det(M) of a stack (n, r, r) of positive definite matrices."""
    r = M.shape[-1]
    if r > SMALL_INVERSE:
        return np.linalg.inv(M), np.linalg.slogdet(M)[1]
    # Cholesky M = L L^T, one column at a time across the stack...
    L = np.zeros_like(M)
    for j in range(r):
        L[:, j, j] = np.sqrt(M[:, j, j] - np.einsum("nk,nk->n", L[:, j, :j], L[:, j, :j]))
        L[:, j + 1:, j] = (M[:, j + 1:, j] - np.einsum("nik,nk->ni", L[:, j + 1:, :j],
                                                       L[:, j, :j])) / L[:, j, j, None]
    # ...then inv(L) by forward substitution, and inv(M) = inv(L)^T inv(L).
    inverse = np.zeros_like(M)
    eye = np.eye(r)
    for i in range(r):
        inverse[:, i] = (eye[i] - np.einsum("nk,nkc->nc", L[:, i, :i], inverse[:, :i])
                         ) / L[:, i, i, None]
    log_det = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    return np.matmul(np.swapaxes(inverse, 1, 2), inverse), log_det


def _rare_posterior(X, model):
    """Marginal log-densities and completed rows of rows with NaN, by rows.

    For full and tied every row of X must miss the same number r of features
    (``Patterns`` sorts the rare rows so). Each row and component then needs
    only an r x r inverse: with P = inv(S), the missing features given the
    observed ones are Gaussian with covariance C = inv(P_mm) and mean
    mu_m - C P_mo (x_o - mu_o); the marginal's quadratic form is that of the
    completed row under P, and log det S_oo = log det P_mm - log det P.

    Returns log w_k + log p_k(x_o) (n, K), the completed rows (K, n, D), and
    for full and tied (the missing columns (n, r), [C_k (n, r, r)]), else None.
    """
    n, d = X.shape
    X = X.astype(np.float64)
    missing = np.isnan(X)
    observed = ~missing
    n_obs = observed.sum(axis=1)
    filled = np.where(observed, X, 0.0)
    log_p = np.empty((n, model.k))
    xhat = np.empty((model.k, n, d))
    if model.cov_type in ("diag", "spherical"):
        var = model.variances()
        for j in range(model.k):
            z = np.where(observed, filled - model.means[j], 0.0)
            log_p[:, j] = (model.log_weights[j]
                           - 0.5 * (n_obs * LOG_2PI + observed @ np.log(var[j])
                                    + (z * z) @ (1.0 / var[j])))
            xhat[j] = np.where(observed, X, model.means[j])
        return log_p, xhat, None
    r = int(missing[0].sum())
    columns = np.nonzero(missing)[1].reshape(n, r)
    rows = np.arange(n)[:, None]
    conditionals, cache = [], {}
    for j in range(model.k):
        c = j if model.cov_type == "full" else 0
        P = model.precision[c]
        if c not in cache:
            P_m = P[columns]  # (n, r, D)
            P_mm = np.take_along_axis(P_m, columns[:, None, :], axis=2)
            cache[c] = (P_m, *_inverse_log_det(P_mm))
        P_m, C, log_det_mm = cache[c]
        z = np.where(observed, filled - model.means[j], 0.0)  # zero on m
        z[rows, columns] = -np.einsum("nab,nb->na", C, np.einsum("nrd,nd->nr", P_m, z))
        quadratic = np.einsum("nd,nd->n", z @ P, z)
        log_p[:, j] = model.log_weights[j] - 0.5 * (
            n_obs * LOG_2PI + log_det_mm - model.log_det_precision[c] + quadratic)
        z += model.means[j]
        xhat[j] = np.where(observed, X, z)  # observed entries exactly
        conditionals.append(C)
    return log_p, xhat, (columns, conditionals)


def _normalise(log_p):
    top = log_p.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        shifted = np.exp(log_p - top)
    total = shifted.sum(axis=1)
    return top[:, 0] + np.log(total), shifted / total[:, None]


def _rare_statistics(stats, X, w, model):
    """Add the statistics of rows of rare patterns (X with NaN)."""
    log_p, xhat, conditionals = _rare_posterior(X, model)
    log_norm, resp = _normalise(log_p)
    n, d = X.shape
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    stats.loglik_sum += float(w64 @ log_norm)
    stats.weight_sum += float(w64.sum())
    A = resp * w64[:, None]
    if conditionals is None:
        extra = (A.T @ np.isnan(X)) * model.variances()
    else:
        # sum_n a_nk C_nk, each C_nk added at its row's missing columns.
        columns, Cs = conditionals
        index = (columns[:, :, None] * d + columns[:, None, :]).ravel()
        extra = np.stack([np.bincount(index, weights=(A[:, j, None, None] * C).ravel(),
                                      minlength=d * d).reshape(d, d)
                          for j, C in enumerate(Cs)])
    _add(stats, A, np.swapaxes(xhat - stats.shift[:, None, :], 1, 2), extra)


def _chunk_rows(k, d):
    # Rows per step of the per-row path: its (K, rows, D) arrays stay ~ 2 MB.
    return max(1, min(_stats.CHUNK_ROWS, (1 << 18) // (k * d)))


def _rare_chunks(n_missing, start, stop, rows):
    """Chunks of at most ``rows`` rows in [start, stop) of rows sorted by
    their number of missing features, each with one number."""
    cuts = np.flatnonzero(np.diff(n_missing[start:stop])) + start + 1
    edges = [start, *cuts.tolist(), stop]
    for a, b in zip(edges[:-1], edges[1:]):
        yield from _stats.row_chunks(a, b, rows)


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
    step = _chunk_rows(model.k, model.d)
    for rows, observed, Xo, w in patterns.groups:
        factors = model.marginal(observed)
        # Prepared once per pattern and iteration, shared by the threads; the
        # centre of tied, diag and spherical sums is the shift's.
        prepared = _em.prepare_model(
            Xo[:1], model.log_weights, factors[1], factors[2], covariance_type,
            None if covariance_type == "full" else shift[0, observed])

        def block(start, stop, Xo=Xo, w=w, observed=observed, factors=factors,
                  prepared=prepared):
            stats = _stats.SufficientStatistics(covariance_type, shift)
            _group_statistics(stats, Xo[start:stop], None if w is None else w[start:stop],
                              observed, factors, prepared, model)
            return stats

        parts.extend(map_row_blocks(block, Xo.shape[0], n_threads))
    if patterns.rare is not None:
        def rare_block(start, stop):
            stats = _stats.SufficientStatistics(covariance_type, shift)
            w = patterns.rare_weight
            for a, b in _rare_chunks(patterns.rare_n_missing, start, stop, step):
                _rare_statistics(stats, patterns.rare[a:b], None if w is None else w[a:b],
                                 model)
            return stats

        # One thread: these small NumPy operations mostly hold the GIL, and a
        # second thread made this path slower (benchmarks/bench_missing.py).
        parts.extend(map_row_blocks(rare_block, patterns.rare.shape[0], 1))
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

    def put(rows, ln, r):
        log_norm[rows] = ln
        if resp is not None:
            resp[rows] = r

    if patterns.complete is not None:
        put(patterns.complete_rows, *_stats.posterior(
            patterns.complete, weights, means, precisions_cholesky, covariance_type,
            n_threads, responsibilities, log_weights))
    model = _Model(weights, means, precisions_cholesky, covariance_type, log_weights)
    for rows, observed, Xo, _ in patterns.groups:
        _, means_o, prec_o, _ = model.marginal(observed)
        ln = np.empty(len(rows), dtype=X.dtype)
        r = np.empty((len(rows), k), dtype=X.dtype)
        _em.posterior(Xo, model.log_weights, means_o, prec_o, covariance_type, ln, r)
        put(rows, ln, r)
    if patterns.rare is not None:
        for a, b in _rare_chunks(patterns.rare_n_missing, 0, patterns.rare.shape[0],
                                 _chunk_rows(model.k, model.d)):
            put(patterns.rare_rows[a:b],
                *_normalise(_rare_posterior(patterns.rare[a:b], model)[0]))
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
    n_missing = np.empty(out.shape[0], dtype=np.intp)
    for a, b in _stats.row_chunks(0, out.shape[0]):
        n_missing[a:b] = np.isnan(out[a:b]).sum(axis=1)
    incomplete = np.flatnonzero(n_missing)
    incomplete = incomplete[np.argsort(n_missing[incomplete], kind="stable")]
    for a, b in _rare_chunks(n_missing[incomplete], 0, len(incomplete),
                             _chunk_rows(model.k, model.d)):
        rows = incomplete[a:b]
        chunk = out[rows].astype(np.float64)
        missing = np.isnan(chunk)
        log_p, xhat, conditionals = _rare_posterior(chunk, model)
        _, resp = _normalise(log_p)
        if random_state is None:
            filled = np.einsum("nk,knd->nd", resp, xhat)
        else:
            filled = _draw(missing, resp, xhat, conditionals, model, random_state)
        out[rows] = np.where(missing, filled, chunk).astype(out.dtype)
    return out


def _draw(missing, resp, xhat, conditionals, model, random_state):
    """One draw per row from its conditional mixture: a component from
    p(k | x_o), then the missing features from that component's conditional
    Gaussian N(x_hat_m, C_k)."""
    n, d = missing.shape
    cumulative = resp.cumsum(axis=1)
    u = random_state.uniform(size=n)[:, None]
    labels = np.minimum((cumulative < u * cumulative[:, -1:]).sum(axis=1), model.k - 1)
    noise = random_state.standard_normal(size=(n, d))
    out = xhat[labels, np.arange(n)]
    if conditionals is None:
        return out + np.where(missing, noise * np.sqrt(model.variances()[labels]), 0.0)
    columns, Cs = conditionals
    r = columns.shape[1]
    C = np.stack(Cs)[labels, np.arange(n)]  # (n, r, r)
    # A symmetric square root: C may be semi-definite to rounding.
    values, vectors = np.linalg.eigh((C + np.swapaxes(C, 1, 2)) / 2)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]
    rows = np.arange(n)[:, None]
    out[rows, columns] += np.einsum("nab,nb->na", root, noise[:, :r])
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
