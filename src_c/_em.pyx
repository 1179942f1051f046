# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""EM kernels for Gaussian mixtures.

Every kernel walks the samples in row chunks (``_chunk_rows``; the fused
statistics passes of small mixtures, and the AVX-512 one of wider diag and
spherical mixtures, in blocks of 64 rows). For one chunk
it computes the weighted log-density of each sample under each component, turns
it into responsibilities with a log-sum-exp, and (for fitting) adds the chunk's
sufficient statistics to the caller's float64 accumulators. X is therefore read
once per EM iteration, and the only N-sized memory is what the caller asks for.

Shapes are validated once here, at the Python boundary; the ``nogil`` helpers
take raw pointers. Parameters follow scikit-learn's layout: ``prec_chol`` is the
upper-triangular Cholesky factor U of each precision matrix (``P = U U^T``),
flattened: (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical.

Sufficient statistics are reported about a per-component reference point
``shift`` (K, D) (the current means, for full covariances), never as the
cancellation-prone ``E[x x^T] - mu mu^T`` of raw data:

    resp_sum[k]  = sum_n w_n r_nk
    sum_x[k]     = sum_n w_n r_nk (x_n - shift_k)
    sum_xx       = full: (K, D, D) sum_n w_n r_nk (x_n - shift_k)(x_n - shift_k)^T
                   tied: (D, D)    sum_n w_n (x_n - shift_0)(x_n - shift_0)^T
                   diag: (K, D) the diagonal of the full form;
                   spherical: (K,) its trace, sum_n w_n r_nk ||x_n - shift_k||^2.

For tied, diag and spherical all rows of ``shift`` must be equal (one centre).
The quadratic-feature path (below) sums about one centre and moves full sums
to ``shift`` at the end of a call; it is taken only while its rounding stays
small (``MAX_AMPLIFICATION_*``).
"""
import numpy as np

from gmmc import _team

from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.math cimport INFINITY, exp, fabs, log, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset

from _blas cimport gemm_rm, gram_upper, times_upper
from _team_run cimport (line_aligned, line_stride, line_up, row_blocks, team_run_fn,
                       team_run_from)
from _blas cimport cholesky_lower_inplace, invert_triangular_inplace


# Rows per chunk: MAX_CHUNK, or fewer where the chunk's work matrix would
# hold more than _chunk_elements values. The feature GEMMs read their (rows, F)
# operand in the E and the M step; with OpenBLAS on AVX-512 they run at ~90% of
# the GEMM peak for 48-64 rows at D = 32 (32 768 values), and at ~55% for 128
# rows or more; on AVX2 (OpenBLAS' Haswell kernels) the E-step of full D = 32,
# K = 16 takes 72 ms per 100 000 rows at 208 rows (131 072 values) against
# 83-96 ms at 48.
cdef enum:
    MAX_CHUNK = 256
    MIN_CHUNK = 16

cdef enum CovType:
    FULL = 0
    TIED = 1
    DIAG = 2
    SPHERICAL = 3

COVARIANCE_TYPES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}
cdef double LOG_2PI = 1.8378770664093453

# The quadratic-feature path. With x' = x - center, a Gaussian's quadratic form
# (x - mu)^T P (x - mu) is linear in the features phi(x') = [q(x'), x', 1],
# where q holds all products x'_a x'_b, a <= b (full), the squares x'_a^2
# (diag) or their sum ||x'||^2 (spherical). So the log-densities of a chunk
# under all K components are ONE GEMM of phi (n, F) with an (F, K) coefficient
# matrix, and the M-step sums sum_n r_nk phi(x'_n) are one more GEMM,
# resp^T phi. All work is level-3 BLAS and the per-row cost of building phi
# does not grow with K.


# The quadratic form summed term by term in the feature path loses digits in
# proportion to the size of its terms: for a point one spread from component k,
# about a_k = (|mu_k - c| + s_k)^T |P_k| (|mu_k - c| + s_k), with s_k the
# component's standard deviations and |.| taken element-wise; the exact form is
# about D. The same factor governs sums about c in the M-step. Full covariances,
# which scikit-learn computes exactly, use the feature path only for the
# components with eps * a_k below 1e-8 (float64) or 1e-4 (float32), where that
# error is far below the test tolerances; the others go per component (exact).
cdef double MAX_AMPLIFICATION_DOUBLE = 4e7
cdef double MAX_AMPLIFICATION_FLOAT = 8e2
# float32's bound leaves most components of separated clusters per component,
# which at D <= 8 is twice as slow as float64's feature GEMMs. So float32 input
# whose components pass float64's bound and not float32's takes the features
# in float64 (the "features64" path): the chunk's features, their GEMMs and the
# feature sums are float64, the log-densities and responsibilities float32.


cdef inline bint _features_possible(int cov, int d) noexcept nogil:
    return cov == DIAG or cov == SPHERICAL or (cov == FULL and d <= GMMC_FEATURE_MAX_D)


cdef inline int _n_quadratic(int cov, int d) noexcept nogil:
    return d * (d + 1) // 2 if cov == FULL else (1 if cov == SPHERICAL else d)


cdef inline int _n_features(int cov, int d) noexcept nogil:
    """Columns of phi: the quadratic terms, x', and a constant 1 that carries
    each component's offset through the same GEMM."""
    return _n_quadratic(cov, d) + d + 1


cdef struct Model:
    # Everything a chunk needs, prepared once per kernel call.
    int cov
    bint features          # run the quadratic-feature GEMMs
    bint features64        # features in float64 for float32 input (above)
    bint fused             # statistics passes: one fused kernel (_statistics_pass)
    bint diag_micro        # diag, spherical: statistics passes by _diag_micro_pass
    bint full_micro        # full: statistics passes by _fused_full_pass
    const unsigned char* exact  # (K,) full: 1 = this component per component
    bint micro             # per-component products by the micro-kernels
    int dp                 # micro: padded row length
    const void* prec_padded  # micro: (K, dp, dp) factors, zero-padded
    int d
    int k
    const void* means      # (K, D)
    const void* prec_chol  # see module docstring
    const void* aux        # tied: projected means^T (D, K); features: (F, K)
    const void* center     # (D,) centre of tied and feature computations
    const double* aux64    # features64: the feature coefficients (F, K)
    const double* center64  # (D,) the centre in float64, the same value
    const double* offset   # (K,) constant part of each weighted log-density


def _upper_triangles(const floating[:, :, ::1] a):
    """A copy of the stack of square matrices ``a`` with zeros below the
    diagonals (np.triu builds a mask: most of its time on small matrices)."""
    out = np.empty((a.shape[0], a.shape[1], a.shape[2]),
                   dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, ::1] view = out
    cdef Py_ssize_t m, i, j
    with nogil:
        for m in range(a.shape[0]):
            for i in range(a.shape[1]):
                for j in range(a.shape[2]):
                    view[m, i, j] = a[m, i, j] if j >= i else 0
    return out


cdef double _full_feature_terms(int d, const double* u, const double* cm,
                                double* quadratic, double* linear,
                                double* constant) noexcept nogil:
    """One full component's feature-GEMM terms and rounding amplification.

    u: the upper precision factor U (D x D), cm: mean - centre. With P = U U^T:
    quadratic = P's upper triangle, off-diagonal terms doubled (they appear
    twice in the quadratic form); linear = P cm; constant = cm^T P cm.
    Returns sum_ab reach_a |P_ab| reach_b, reach = |cm| + the standard
    deviations, the diagonal of inv(P) = inv(U)^T inv(U): squared column norms
    of inv(U), which exists whenever U's diagonal is positive, however
    ill-conditioned (inverting P itself can fail as singular).
    """
    cdef double p[GMMC_FEATURE_MAX_D * GMMC_FEATURE_MAX_D]
    cdef double v[GMMC_FEATURE_MAX_D * GMMC_FEATURE_MAX_D]
    cdef double reach[GMMC_FEATURE_MAX_D]
    cdef int a, b, c, f = 0
    cdef double total, amplification = 0.0
    for a in range(d):
        for b in range(a, d):  # P_ab = sum_{c >= b} U_ac U_bc (U upper, a <= b)
            total = 0.0
            for c in range(b, d):
                total = total + u[a * d + c] * u[b * d + c]
            p[a * d + b] = total
            p[b * d + a] = total
            quadratic[f] = total if a == b else 2.0 * total
            f += 1
    for b in range(d):  # V = inv(U), upper, by back substitution, column by column
        v[b * d + b] = 1.0 / u[b * d + b]
        for a in range(b - 1, -1, -1):
            total = 0.0
            for c in range(a + 1, b + 1):
                total = total + u[a * d + c] * v[c * d + b]
            v[a * d + b] = -total / u[a * d + a]
    for a in range(d):
        total = 0.0
        for c in range(a + 1):
            total = total + v[c * d + a] * v[c * d + a]
        reach[a] = fabs(cm[a]) + sqrt(total)
    constant[0] = 0.0
    for a in range(d):
        total = 0.0
        for b in range(d):
            total = total + p[a * d + b] * cm[b]
            amplification = amplification + reach[a] * fabs(p[a * d + b]) * reach[b]
        linear[a] = total
        constant[0] = constant[0] + total * cm[a]
    return amplification


cdef inline bint _finite(double v) noexcept nogil:
    return v - v == 0.0  # false for NaN and +-inf


cdef inline int _aux_size(int cov, int d, int k) noexcept nogil:
    """Values of a Model's ``aux``: tied's projected means (D, K), or the
    feature coefficients (F, K)."""
    if cov == TIED:
        return d * k
    return _n_features(cov, d) * k if _features_possible(cov, d) else 1


cdef inline size_t _work_size(int cov, int d, int k) noexcept nogil:
    """Doubles of _fill_model's work space."""
    return <size_t>k * (2 * d + _n_quadratic(cov, d) + 2) + d + (
        <size_t>d * d if cov == FULL and _features_possible(cov, d) else 0)


cdef void _fill_model(int cov, int d, int k, const double* log_weights,
                      const floating* means, const floating* prec,
                      const double* center_in, bint allow_features,
                      bint allow_micro, bint allow_fused, double* work,
                      floating* aux, double* aux64, floating* center_out,
                      double* center64, double* offset, unsigned char* exact,
                      floating* prec_padded, Model* model) noexcept nogil:
    """Build a Model: the per-component constants every chunk needs.

    prec: upper factors, zero below the diagonal. center_in: the centre of
    tied, diag and spherical computations (NULL: the mixture mean, which is
    accurate; any centre is exact). Full covariances take the feature GEMMs
    when at least half the components are accurate on them; the others are
    then done per component alone; float32 takes them in float64 where that
    leaves fewer components alone. Statistics passes of mixtures with few
    components are fused (``model.fused``) where ``allow_fused``, and so are
    those of wider diag and spherical mixtures (``model.diag_micro``) and of
    full ones from D = 22, float32 from 32 (``model.full_micro``, any K;
    gmmc_full_pass_pays) where ``allow_micro`` as well. work:
    _work_size doubles. OUT: aux and aux64 (_aux_size; aux64 only for
    float32 full covariances), center_out and
    center64 (D,), offset (K,), exact (K,), prec_padded
    (K, dp, dp) when micro-kernels may run, and ``model``, which points into
    them and into means and prec.
    """
    cdef int nq = _n_quadratic(cov, d), nf = _n_features(cov, d), j, a, b, n_exact = 0
    cdef int n_exact64 = 0, dp = _padded(d, sizeof(floating))
    cdef double total, p, value
    cdef double max_amplification = (MAX_AMPLIFICATION_FLOAT if floating is float
                                      else MAX_AMPLIFICATION_DOUBLE)
    cdef double* cm = work                        # (K, D) means - centre
    cdef double* quadratic = cm + k * d           # (K, nq)
    cdef double* linear = quadratic + k * nq      # (K, D)
    cdef double* constant = linear + k * d        # (K,)
    cdef double* center = constant + k            # (D,)
    cdef double* amplification = center + d       # (K,)
    cdef double* u64 = amplification + k          # (D, D) one full factor
    cdef bint features = _features_possible(cov, d) and (allow_features or cov != FULL)
    cdef bint features64 = False
    for j in range(k):  # log-density constants: log weight + log det(U)
        total = 0.0
        if cov == FULL:
            for a in range(d):
                total = total + log(<double>prec[j * d * d + a * d + a])
        elif cov == TIED:
            for a in range(d):
                total = total + log(<double>prec[a * d + a])
        elif cov == DIAG:
            for a in range(d):
                total = total + log(<double>prec[j * d + a])
        else:
            total = d * log(<double>prec[j])
        offset[j] = log_weights[j] + total - 0.5 * d * LOG_2PI
    for a in range(d):
        if center_in != NULL:
            center[a] = center_in[a]
        else:
            total = 0.0
            for j in range(k):
                total = total + exp(log_weights[j]) * <double>means[j * d + a]
            center[a] = total
        center_out[a] = <floating>center[a]
        center[a] = center_out[a]  # the features' centre, as the chunks see it
        center64[a] = center[a]
    for j in range(k):
        exact[j] = cov == FULL
        for a in range(d):
            cm[j * d + a] = <double>means[j * d + a] - center[a]
    # The feature GEMMs cost about half the per-component work of all K. But
    # with the micro-kernels and K <= 3 (4 from D = 16) their narrow GEMMs lose
    # (features / per component, E-step + statistics, one AVX-512 core: D = 8:
    # K = 2 1.43, K = 3 1.28, K = 4 0.97; D = 16: 1.68, 1.55, 1.23, K = 6 0.85;
    # D = 30: 1.81, 1.56, 1.34, 0.91): then their terms are not even computed
    # (an O(D^3) inverse per component and iteration, 11 % of a small fit).
    if cov == FULL and HAVE_AVX512 and allow_micro and (
            k <= 3 and d >= 8 or k <= 4 and d >= 16):
        features = False
    if cov == FULL and features:
        for j in range(k):
            for a in range(d * d):
                u64[a] = prec[j * d * d + a]
            amplification[j] = _full_feature_terms(
                d, u64, cm + j * d, quadratic + j * nq, linear + j * d, constant + j)
            # Not finite (an overflow): too large, so exact as well.
            exact[j] = not (amplification[j] <= max_amplification)
            n_exact += exact[j]
            n_exact64 += not (amplification[j] <= MAX_AMPLIFICATION_DOUBLE)
        if floating is float:
            features64 = n_exact64 < n_exact
            if features64:
                n_exact = n_exact64
                for j in range(k):
                    exact[j] = not (amplification[j] <= MAX_AMPLIFICATION_DOUBLE)
        features = 2 * n_exact <= k
        features64 = features64 and features
        if not features:
            for j in range(k):
                exact[j] = 1
    if cov == TIED:  # aux (D, K) = (means - centre) U, transposed
        for a in range(d):
            for j in range(k):
                total = 0.0
                for b in range(d):
                    total = total + cm[j * d + b] * <double>prec[b * d + a]
                aux[a * k + j] = <floating>total
    elif features:
        if cov != FULL:  # (full: quadratic, linear and constant computed above)
            for j in range(k):
                constant[j] = 0.0
                for a in range(d):
                    p = <double>prec[j * d + a] if cov == DIAG else <double>prec[j]
                    p = p * p
                    if cov == DIAG or a == 0:
                        quadratic[j * nq + a] = p
                    linear[j * d + a] = cm[j * d + a] * p
                    constant[j] = constant[j] + cm[j * d + a] * linear[j * d + a]
        # -0.5 [q(x'), x', 1] @ aux = offset - 0.5 (x - mu)^T P (x - mu)
        for j in range(k):
            for a in range(nf):
                if a < nq:
                    value = quadratic[j * nq + a]
                elif a < nq + d:
                    value = -2.0 * linear[j * d + a - nq]
                else:
                    value = -2.0 * (offset[j] - 0.5 * constant[j])
                if features64:
                    aux64[a * k + j] = value
                else:
                    aux[a * k + j] = <floating>value
    model.micro = False
    if cov == FULL and HAVE_AVX512 and allow_micro and d > GMMC_SMALL_D:
        for j in range(k):
            model.micro = model.micro or exact[j]
    if model.micro:
        for a in range(k * dp * dp):
            prec_padded[a] = 0
        for j in range(k):
            for a in range(d):
                for b in range(d):
                    prec_padded[(j * dp + a) * dp + b] = prec[(j * d + a) * d + b]
    model.diag_micro = (
        allow_micro and allow_fused and HAVE_AVX512 and (cov == DIAG or cov == SPHERICAL)
        and gmmc_diag_micro_pays(d, k, cov == SPHERICAL, floating is float))
    model.full_micro = (
        allow_micro and allow_fused and HAVE_AVX512 and cov == FULL
        and gmmc_full_pass_pays(d, k, floating is float))
    model.fused = allow_fused and not model.diag_micro and not model.full_micro and (
        gmmc_small_full_pass_pays(d, k) if cov == FULL
        else (cov == DIAG or cov == SPHERICAL)
        and gmmc_small_diag_pass_pays(d, k, cov == SPHERICAL))
    model.cov = cov
    model.features = features
    model.features64 = features64
    model.aux64 = aux64
    model.center64 = center64
    model.exact = exact
    model.dp = dp
    model.prec_padded = prec_padded
    model.d = d
    model.k = k
    model.means = means
    model.prec_chol = prec
    model.aux = aux
    model.center = center_out
    model.offset = offset


def prepare_model(const floating[:, ::1] X, log_weights, means, prec_chol,
                  str covariance_type, center, bint allow_features=True,
                  bint allow_microkernels=True, bint allow_fused=True):
    """Validate the parameters and build the arrays behind a ``Model``.

    X gives the dtype and D (its rows are not read); ``center`` is the centre
    of tied, diag and spherical computations (None: the mixture mean).
    ``allow_features=False`` keeps full covariances on the per-component path
    and ``allow_microkernels=False`` that path on BLAS and the statistics
    passes off their AVX-512 kernels (diag and spherical, full),
    ``allow_fused=False`` the statistics passes off both fused kernels and
    those (to test one path against the other). Returns an opaque tuple that
    ``posterior`` and ``accumulate_statistics`` accept as ``prepared``, so that
    threads sharing one model prepare it once.
    """
    cdef int d = X.shape[1]
    dtype = np.float32 if floating is float else np.float64
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    cdef int cov = COVARIANCE_TYPES[covariance_type]
    cdef const double[::1] log_w = np.ascontiguousarray(log_weights, dtype=np.float64)
    means = np.ascontiguousarray(means, dtype=dtype)
    cdef int k = log_w.shape[0]
    if k < 1 or d < 1:
        raise ValueError(f"need at least one component and one feature, got K={k}, D={d}")
    if means.shape != (k, d):
        raise ValueError(f"means must have shape {(k, d)}, got {means.shape}")
    expected = {FULL: (k, d, d), TIED: (d, d), DIAG: (k, d), SPHERICAL: (k,)}[cov]
    prec_chol = np.ascontiguousarray(prec_chol, dtype=dtype)
    if prec_chol.shape != expected:
        raise ValueError(
            f"{covariance_type} prec_chol must have shape {expected}, got {prec_chol.shape}")
    if cov == FULL or cov == TIED:  # times_upper may read the whole square
        prec_chol = _upper_triangles(prec_chol.reshape(-1, d, d)).reshape(expected)
    cdef const double[::1] center_in = (
        None if center is None else np.ascontiguousarray(center, dtype=np.float64))
    if center_in is not None and center_in.shape[0] != d:
        raise ValueError(f"center must have {d} entries, got {center_in.shape[0]}")
    cdef int dp = _padded(d, 4 if floating is float else 8)
    may_be_micro = cov == FULL and HAVE_AVX512 and allow_microkernels
    aux = np.zeros(_aux_size(cov, d, k), dtype=dtype)
    aux64 = np.zeros(_aux_size(cov, d, k) if floating is float and cov == FULL else 1)
    center_out = np.empty(d, dtype=dtype)
    center64 = np.empty(d)
    offset = np.empty(k)
    exact = np.empty(k, dtype=np.uint8)
    prec_padded = np.zeros(k * dp * dp if may_be_micro else 1, dtype=dtype)
    work = np.empty(_work_size(cov, d, k))
    cdef const floating[:, ::1] means_view = means
    cdef const floating[::1] prec_view = prec_chol.reshape(-1)
    cdef floating[::1] aux_view = aux, center_view = center_out
    cdef floating[::1] padded_view = prec_padded.reshape(-1)
    cdef double[::1] offset_view = offset, work_view = work
    cdef double[::1] aux64_view = aux64, center64_view = center64
    cdef unsigned char[::1] exact_view = exact
    cdef Model model
    with nogil:
        _fill_model(cov, d, k, &log_w[0], &means_view[0, 0], &prec_view[0],
                    NULL if center_in is None else &center_in[0], allow_features,
                    allow_microkernels, allow_fused, &work_view[0], &aux_view[0],
                    &aux64_view[0], &center_view[0], &center64_view[0], &offset_view[0],
                    &exact_view[0], &padded_view[0], &model)
    return (cov, means, prec_chol, aux, center_out, offset, bool(model.features), exact,
            bool(model.micro), prec_padded, bool(model.features64), aux64, center64,
            bool(model.fused), bool(model.diag_micro), bool(model.full_micro))


cdef Model _model_view(tuple prepared, const floating[:, ::1] X):
    """The Model behind ``prepared``, checked against X's dtype and width."""
    cdef Model model
    # const: the caller's parameters may be read-only (e.g. memory-mapped).
    cdef const floating[:, ::1] means = prepared[1]
    cdef const floating[::1] prec = prepared[2].reshape(-1)
    cdef const floating[::1] aux = prepared[3].reshape(-1)
    cdef const floating[::1] center = prepared[4]
    cdef const double[::1] offset = prepared[5]
    cdef const unsigned char[::1] exact = prepared[7]
    cdef const floating[::1] prec_padded = prepared[9].reshape(-1)
    cdef const double[::1] aux64 = prepared[11]
    cdef const double[::1] center64 = prepared[12]
    model.cov = prepared[0]
    model.features = prepared[6]
    model.features64 = prepared[10]
    model.fused = prepared[13]
    model.diag_micro = prepared[14]
    model.full_micro = prepared[15]
    model.aux64 = &aux64[0]
    model.center64 = &center64[0]
    model.exact = &exact[0]
    model.micro = prepared[8]
    model.prec_padded = &prec_padded[0]
    model.k = means.shape[0]
    model.d = means.shape[1]
    model.dp = _padded(model.d, sizeof(floating))
    if model.d != X.shape[1]:
        raise ValueError(f"the model has {model.d} features, X has {X.shape[1]}")
    model.means = &means[0, 0]
    model.prec_chol = &prec[0]
    model.aux = &aux[0]
    model.center = &center[0]
    model.offset = &offset[0]
    return model


cdef extern from "_vectorized.h":
    int GMMC_FACTOR_MAX_D
    int64_t gmmc_factor_work_size(int d) noexcept nogil
    int gmmc_precision_factor(const double* c, int d, double* u,
                              double* work) noexcept nogil
    void gmmc_column_sums_d(const double* x, int64_t n, int d, const double* weight,
                            const double* center, int square, double* out) noexcept nogil
    void gmmc_column_sums_f(const float* x, int64_t n, int d, const float* weight,
                            const double* center, int square, double* out) noexcept nogil
    void gmmc_column_moments_d(const double* x, int64_t n, int d, const double* weight,
                               const double* shift, double* sums,
                               double* squares) noexcept nogil
    void gmmc_column_moments_f(const float* x, int64_t n, int d, const float* weight,
                               const double* shift, double* sums,
                               double* squares) noexcept nogil
    void gmmc_center_rows_by_d(const double* x, int64_t n, int d, const double* shift,
                               double* out) noexcept nogil
    void gmmc_center_rows_by_f(const float* x, int64_t n, int d, const double* shift,
                               float* out) noexcept nogil
    void gmmc_scale_rows_d(double* rows, int64_t n, int d, const double* weight) noexcept nogil
    void gmmc_scale_rows_f(float* rows, int64_t n, int d, const float* weight) noexcept nogil
    void gmmc_tied_log_prob_d(const double* y, int n, int d, const double* aux, int k,
                              const double* offset, double* lp) noexcept nogil
    void gmmc_tied_log_prob_f(const float* y, int n, int d, const float* aux, int k,
                              const double* offset, float* lp) noexcept nogil
    int gmmc_value_range_d(const double* x, int64_t n, double* range) noexcept nogil
    int gmmc_value_range_f(const float* x, int64_t n, double* range) noexcept nogil
    void gmmc_label_moments_d(const double* x, int64_t n, int d, const double* weight,
                              const int* labels, const double* shift, int squares,
                              double* resp_sum, double* sum_x,
                              double* sum_xx) noexcept nogil
    void gmmc_label_moments_f(const float* x, int64_t n, int d, const float* weight,
                              const int* labels, const double* shift, int squares,
                              double* resp_sum, double* sum_x,
                              double* sum_xx) noexcept nogil
    # Full covariances with D <= GMMC_FEATURE_MAX_D take the quadratic-feature
    # path when it is accurate enough (prepare_model); otherwise per component.
    enum: GMMC_FEATURE_MAX_D
    double gmmc_normalize_rows_d(double* lp, int n, int k, const double* weight,
                                 double* log_norm) noexcept nogil
    double gmmc_normalize_rows_f(float* lp, int n, int k, const float* weight,
                                 float* log_norm) noexcept nogil
    void gmmc_center_rows_d(const double* x, int n, int d, const double* mu,
                            double* out) noexcept nogil
    void gmmc_center_rows_f(const float* x, int n, int d, const float* mu,
                            float* out) noexcept nogil
    void gmmc_half_sq_norms_d(const double* y, int n, int d, double offset,
                              double* out, int stride) noexcept nogil
    void gmmc_half_sq_norms_f(const float* y, int n, int d, double offset,
                              float* out, int stride) noexcept nogil
    double gmmc_weighted_center_d(const double* x, int n, int d, const double* ref,
                                  const double* resp, int stride, double* out,
                                  int out_stride, double* sum_x, int* rows) noexcept nogil
    double gmmc_weighted_center_f(const float* x, int n, int d, const double* ref,
                                  const float* resp, int stride, float* out,
                                  int out_stride, double* sum_x, int* rows) noexcept nogil
    void gmmc_quadratic_features_d(const double* x, int n, int d,
                                   const double* center, int n_quad,
                                   double* phi) noexcept nogil
    void gmmc_quadratic_features_f(const float* x, int n, int d,
                                   const float* center, int n_quad,
                                   float* phi) noexcept nogil
    void gmmc_quadratic_features_fd(const float* x, int n, int d,
                                    const double* center, int n_quad,
                                    double* phi) noexcept nogil
    void gmmc_narrow(const double* src, int64_t count, float* dst) noexcept nogil
    void gmmc_widen(const float* src, int64_t count, double* dst) noexcept nogil
    void gmmc_add_d(double* acc, const double* src, Py_ssize_t count) noexcept nogil
    void gmmc_add_f(double* acc, const float* src, Py_ssize_t count) noexcept nogil
    # Full covariances per component at D <= GMMC_SMALL_D: across rows.
    enum: GMMC_SMALL_D
    void gmmc_small_quadratic_forms_d(const double* x, int n, int d, const double* mu,
                                      const double* u, double offset, double* out,
                                      int stride) noexcept nogil
    void gmmc_small_quadratic_forms_f(const float* x, int n, int d, const float* mu,
                                      const float* u, double offset, float* out,
                                      int stride) noexcept nogil
    void gmmc_small_gram_d(const double* z, int n, int d, double* g) noexcept nogil
    void gmmc_small_gram_f(const float* z, int n, int d, float* g) noexcept nogil
    # Mixtures with few components, full (gmmc_small_full_pass_pays) or diag
    # and spherical (gmmc_small_diag_pass_pays): E-step and statistics in one
    # fused pass.
    enum: GMMC_NARROW_K
    bint gmmc_small_full_pass_pays(int d, int k) noexcept nogil
    bint gmmc_small_diag_pass_pays(int d, int k, int spherical) noexcept nogil
    int64_t GMMC_SMALL_FULL_ACC(int d, int k) noexcept nogil
    double gmmc_small_full_pass_d(const double* x, int64_t n, int d, int k,
                                  const double* means, const double* prec,
                                  const double* offset, const double* weight,
                                  const double* shift, double* resp_sum, double* sum_x,
                                  double* sum_xx, double* acc) noexcept nogil
    double gmmc_small_full_pass_f(const float* x, int64_t n, int d, int k,
                                  const float* means, const float* prec,
                                  const double* offset, const float* weight,
                                  const double* shift, double* resp_sum, double* sum_x,
                                  double* sum_xx, double* acc) noexcept nogil
    double gmmc_small_diag_pass_d(const double* x, int64_t n, int d, int k, int spherical,
                                  const double* means, const double* prec,
                                  const double* offset, const double* weight,
                                  const double* shift, double* resp_sum, double* sum_x,
                                  double* sum_xx) noexcept nogil
    double gmmc_small_diag_pass_f(const float* x, int64_t n, int d, int k, int spherical,
                                  const float* means, const float* prec,
                                  const double* offset, const float* weight,
                                  const double* shift, double* resp_sum, double* sum_x,
                                  double* sum_xx) noexcept nogil


# The process's one team of helper threads.
cdef team_run_fn team_run = team_run_from(_team.run)


cdef extern from "_microkernels.h":
    int gmmc_have_avx512() noexcept nogil
    void gmmc_upper_quadratic_forms_d(const double* x, int n, int d, const double* mu,
                                      int dp, const double* u, double offset,
                                      double* out, int stride, double* z) noexcept nogil
    void gmmc_upper_quadratic_forms_f(const float* x, int n, int d, const float* mu,
                                      int dp, const float* u, double offset,
                                      float* out, int stride, float* z) noexcept nogil
    void gmmc_gram_upper_d(const double* z, int n, int dp, double* g) noexcept nogil
    void gmmc_gram_upper_f(const float* z, int n, int dp, float* g) noexcept nogil
    enum: GMMC_BLOCK
    bint gmmc_diag_micro_pays(int d, int k, int spherical, int single) noexcept nogil
    double gmmc_diag_pass_d(const double* x, int64_t n, int d, int k, int spherical,
                            const double* means, const double* prec, const double* offset,
                            const double* weight, const double* shift, double* resp_sum,
                            double* sum_x, double* sum_xx, double* pc, double* z,
                            double* cols, double* sums) noexcept nogil
    bint gmmc_full_pass_pays(int d, int k, int single) noexcept nogil
    size_t gmmc_full_pass_bytes(int d, int k, int itemsize) noexcept nogil
    double gmmc_full_pass_d(const double* x, int64_t n, int d, int k, const double* means,
                            const double* prec, const double* offset, const double* weight,
                            const double* shift, double* resp_sum, double* sum_x,
                            double* sum_xx, void* work) noexcept nogil
    double gmmc_full_pass_f(const float* x, int64_t n, int d, int k, const float* means,
                            const float* prec, const double* offset, const float* weight,
                            const double* shift, double* resp_sum, double* sum_x,
                            double* sum_xx, void* work) noexcept nogil
    double gmmc_diag_pass_f(const float* x, int64_t n, int d, int k, int spherical,
                            const float* means, const float* prec, const double* offset,
                            const float* weight, const double* shift, double* resp_sum,
                            double* sum_x, double* sum_xx, float* pc, float* z,
                            float* cols, double* sums) noexcept nogil

# The per-component products of full covariances use the AVX-512 micro-kernels
# of _microkernels.h where the CPU has them (1.1-1.9x trmm/syrk or the GEMMs
# at D = 32-64, one thread), BLAS elsewhere.
cdef bint HAVE_AVX512 = gmmc_have_avx512()
cdef int _chunk_elements = 32768 if HAVE_AVX512 else 131072  # see MAX_CHUNK


SMALL_D = GMMC_SMALL_D  # full covariances per component: across rows up to this D


def microkernels_available():
    """Whether this CPU runs the AVX-512 micro-kernels (else BLAS does)."""
    return bool(HAVE_AVX512)


cdef inline int _padded(int d, int itemsize) noexcept nogil:
    """Row length for the micro-kernels: a multiple of their vectors (64 bytes)."""
    cdef int width = 64 // itemsize
    return (d + width - 1) // width * width


cdef inline void _quadratic_features(int cov, const floating* x, int n, int d,
                                     const floating* center, floating* phi) noexcept nogil:
    """phi (n, F) := [q(x'), x', 1] with x' = x - center (see above)."""
    if floating is double:
        gmmc_quadratic_features_d(x, n, d, center, _n_quadratic(cov, d), phi)
    else:
        gmmc_quadratic_features_f(x, n, d, center, _n_quadratic(cov, d), phi)


cdef void _chunk_log_prob(const Model* model, const floating* x, int n,
                          floating* scratch, floating* lp) noexcept nogil:
    """lp (n, K) := weighted log-density of each row of x (n, D).

    scratch: (n, _scratch_columns) work space on a cache line, SCRATCH_SLACK
    bytes more; on the feature path it is left holding the chunk's features
    (float64 ones on the features64 path). The micro-kernels centre their rows
    in the per-component block (GMMC_MK_ROWS rows of dp <= its width).
    """
    cdef int d = model.d, k = model.k, i, j, a
    cdef int n_feat = _n_features(model.cov, d)
    cdef double* phi64 = <double*>scratch
    cdef double* lp64 = phi64 + n * n_feat
    cdef const floating* means = <const floating*>model.means
    cdef const floating* prec = <const floating*>model.prec_chol
    cdef const floating* aux = <const floating*>model.aux
    cdef const floating* center = <const floating*>model.center
    cdef const double* offset = model.offset
    cdef floating* out
    cdef floating* y
    cdef floating* work = <floating*>line_up(
        scratch + _feature_columns(model.cov, d, k, model.features64) * n)
    cdef double t, v

    if floating is float and model.features64:
        gmmc_quadratic_features_fd(x, n, d, model.center64, _n_quadratic(model.cov, d),
                                   phi64)
        gemm_rm(False, False, n, k, n_feat, -0.5, phi64, n_feat, model.aux64, k, 0.0,
                lp64, k)
        gmmc_narrow(lp64, <int64_t>n * k, lp)
    elif model.features:
        _quadratic_features(model.cov, x, n, d, center, scratch)
        gemm_rm(False, False, n, k, n_feat, <floating>-0.5, scratch, n_feat,
                aux, k, <floating>0.0, lp, k)
    if model.cov == FULL:  # the components left to the exact path
        for j in range(k):
            if not model.exact[j]:
                continue
            if d <= GMMC_SMALL_D:
                if floating is double:
                    gmmc_small_quadratic_forms_d(x, n, d, means + j * d, prec + j * d * d,
                                                 offset[j], lp + j, k)
                else:
                    gmmc_small_quadratic_forms_f(x, n, d, means + j * d, prec + j * d * d,
                                                 offset[j], lp + j, k)
                continue
            if model.micro:
                if floating is double:
                    gmmc_upper_quadratic_forms_d(
                        x, n, d, means + j * d, model.dp,
                        <const double*>model.prec_padded + j * model.dp * model.dp,
                        offset[j], lp + j, k, work)
                else:
                    gmmc_upper_quadratic_forms_f(
                        x, n, d, means + j * d, model.dp,
                        <const float*>model.prec_padded + j * model.dp * model.dp,
                        offset[j], lp + j, k, work)
                continue
            if floating is double:
                gmmc_center_rows_d(x, n, d, means + j * d, work)
            else:
                gmmc_center_rows_f(x, n, d, means + j * d, work)
            y = times_upper(n, d, prec + j * d * d, work, work + n * d)
            if floating is double:
                gmmc_half_sq_norms_d(y, n, d, offset[j], lp + j, k)
            else:
                gmmc_half_sq_norms_f(y, n, d, offset[j], lp + j, k)
    elif model.cov == TIED:  # one product with the shared factor, K distances
        if floating is double:
            gmmc_center_rows_d(x, n, d, center, scratch)
        else:
            gmmc_center_rows_f(x, n, d, center, scratch)
        y = times_upper(n, d, prec, scratch, scratch + n * d)
        if floating is double:
            gmmc_tied_log_prob_d(y, n, d, aux, k, offset, lp)
        else:
            gmmc_tied_log_prob_f(y, n, d, aux, k, offset, lp)


cdef inline double _chunk_normalize(floating* lp, int n, int k, const floating* weight,
                                    floating* log_norm) noexcept nogil:
    """Turn each row of lp (n, K) into responsibilities, in place (log-sum-exp).

    Row i is scaled by weight[i] when weight is not NULL; log_norm (may be NULL)
    receives the per-row log-likelihood. Returns sum_i weight_i * log_norm_i.
    The loop is C (_vectorized.h) so that exp() vectorises.
    """
    if floating is double:
        return gmmc_normalize_rows_d(lp, n, k, weight, log_norm)
    else:
        return gmmc_normalize_rows_f(lp, n, k, weight, log_norm)


cdef void _chunk_statistics(int cov, int d, int k, const floating* x, int n,
                            const floating* weight, const floating* resp,
                            const double* shift, const floating* center,
                            bint features, bint features64, const double* center64,
                            const unsigned char* exact, bint micro,
                            bint features_ready, floating* scratch,
                            floating* small, double* feature_sums, double* sum_x,
                            double* sum_xx) noexcept nogil:
    """Add the chunk's sums about ``shift`` (or ``center``) to accumulators.

    resp (n, K) already carries the sample weights. The feature path adds
    sum_n r_nk phi(x'_n) to ``feature_sums`` (K, F), which _statistics_pass
    unpacks into resp_sum, sum_x and sum_xx, about ``shift``, once per call; the
    other paths add to sum_x and sum_xx (resp_sum is the caller's).
    ``features``: run the quadratic-feature GEMM; ``exact`` (K,): the full
    components done per component (all of them without features), by the
    micro-kernels if ``micro``; ``features64``: the features are float64 (about
    ``center64``), and so are their sums;
    ``features_ready``: scratch already holds the chunk's features, as the
    E-step (_chunk_log_prob) leaves them.
    scratch is (n, _scratch_columns) and small (max(dp^2, F*K),) work space, on
    cache lines (scratch with SCRATCH_SLACK bytes more, _chunk_log_prob). BLAS
    results land in ``small`` in the input precision and are added to the
    float64 accumulators once per chunk, so float32 input keeps float32 speed
    without float32 round-off piling up over millions of rows.
    """
    cdef int i, j, a, b, m
    cdef int n_feat = _n_features(cov, d)
    cdef const double* ref
    cdef double rsum, sr
    cdef double* acc
    cdef floating* work = <floating*>line_up(
        scratch + _feature_columns(cov, d, k, features64) * n)
    cdef int row_stride = _padded(d, sizeof(floating)) if micro else d
    cdef double* phi64 = <double*>scratch
    cdef double* resp64 = phi64 + n * n_feat

    if floating is float and features64:
        if not features_ready:
            gmmc_quadratic_features_fd(x, n, d, center64, _n_quadratic(cov, d), phi64)
        gmmc_widen(resp, <int64_t>n * k, resp64)
        gemm_rm(True, False, k, n_feat, n, 1.0, resp64, k, phi64, n_feat, 1.0,
                feature_sums, n_feat)
    elif features:
        if not features_ready:
            _quadratic_features(cov, x, n, d, center, scratch)
        gemm_rm(True, False, k, n_feat, n, <floating>1.0, resp, k, scratch, n_feat,
                <floating>0.0, small, n_feat)
        if floating is double:
            gmmc_add_d(feature_sums, small, k * n_feat)
        else:
            gmmc_add_f(feature_sums, small, k * n_feat)
    if cov == FULL:
        for j in range(k):
            if features and not exact[j]:
                continue
            ref = shift + j * d
            acc = sum_xx + j * d * d
            # work holds the rows of r != 0 only: the Gram matrix's rows.
            if floating is double:
                rsum = gmmc_weighted_center_d(x, n, d, ref, resp + j, k, work,
                                              row_stride, sum_x + j * d, &m)
            else:
                rsum = gmmc_weighted_center_f(x, n, d, ref, resp + j, k, work,
                                              row_stride, sum_x + j * d, &m)
            if rsum == 0.0 or m == 0:
                continue
            if d <= GMMC_SMALL_D:  # (never micro: row_stride is d)
                if floating is double:
                    gmmc_small_gram_d(work, m, d, small)
                else:
                    gmmc_small_gram_f(work, m, d, small)
            elif not micro:
                gram_upper(d, m, work, small)
            elif floating is double:
                gmmc_gram_upper_d(work, m, row_stride, small)
            else:
                gmmc_gram_upper_f(work, m, row_stride, small)
            for a in range(d):  # the upper triangle, row by row (vectorised adds)
                if floating is double:
                    gmmc_add_d(acc + a * d + a, small + a * row_stride + a, d - a)
                else:
                    gmmc_add_f(acc + a * d + a, small + a * row_stride + a, d - a)
    elif cov == TIED:  # sum_x by one GEMM, the shared scatter by one Gram matrix
        if floating is double:
            gmmc_center_rows_by_d(x, n, d, shift, scratch)
        else:
            gmmc_center_rows_by_f(x, n, d, shift, scratch)
        gemm_rm(True, False, k, d, n, <floating>1.0, resp, k, scratch, d,
                <floating>0.0, small, d)
        for a in range(k * d):
            sum_x[a] += small[a]
        if weight != NULL:
            if floating is double:
                gmmc_scale_rows_d(scratch, n, d, weight)
            else:
                gmmc_scale_rows_f(scratch, n, d, weight)
        gram_upper(d, n, scratch, small)
        for a in range(d):
            for b in range(a, d):
                sum_xx[a * d + b] += small[a * d + b]


cdef void _unpack_feature_sums(int cov, int d, int k, const double* feature_sums,
                               const unsigned char* exact, double* resp_sum,
                               double* sum_x, double* sum_xx) noexcept nogil:
    """Add feature sums (K, F), columns [q(x'), x', 1], to resp_sum (the
    constant column, every component), sum_x and sum_xx (full: upper
    triangles; not the ``exact`` components, which have their own)."""
    cdef int n_quad = _n_quadratic(cov, d), n_feat = _n_features(cov, d)
    cdef int j, a, b, f
    cdef const double* row
    for j in range(k):
        row = feature_sums + j * n_feat
        resp_sum[j] += row[n_feat - 1]
        if exact[j]:
            continue
        for a in range(d):
            sum_x[j * d + a] += row[n_quad + a]
        if cov == FULL:
            f = 0
            for a in range(d):
                for b in range(a, d):
                    sum_xx[j * d * d + a * d + b] += row[f]
                    f += 1
        else:  # n_quad is D (diag) or 1 (spherical)
            for a in range(n_quad):
                sum_xx[j * n_quad + a] += row[a]


cdef void _symmetrize_upper(double* a, int d, int count) noexcept nogil:
    cdef int m, i, j
    for m in range(count):
        for i in range(d):
            for j in range(i + 1, d):
                a[m * d * d + j * d + i] = a[m * d * d + i * d + j]


cdef void _move_full_sums(int d, int k, const double* center, const double* shift,
                          const unsigned char* exact, const double* resp_sum,
                          double* sum_x, double* sum_xx) noexcept nogil:
    """Re-express full sums taken about ``center`` about each row of ``shift``
    (upper triangles of sum_xx only), except the ``exact`` components'.

    With delta = shift_k - center and s = sum r (x - center):
    sum r (x - shift)(x - shift)^T = S - s delta^T - delta s^T + R delta delta^T.
    """
    cdef int j, a, b
    cdef double delta[GMMC_FEATURE_MAX_D]
    cdef double* s
    cdef double* m
    for j in range(k):
        if exact[j]:
            continue
        s = sum_x + j * d
        m = sum_xx + j * d * d
        for a in range(d):
            delta[a] = shift[j * d + a] - center[a]
        for a in range(d):
            for b in range(a, d):  # upper triangle, mirrored afterwards
                m[a * d + b] += (resp_sum[j] * delta[a] * delta[b]
                                 - s[a] * delta[b] - delta[a] * s[b])
        for a in range(d):
            s[a] -= resp_sum[j] * delta[a]


cdef inline int _feature_columns(int cov, int d, int k, bint features64) noexcept nogil:
    """Columns of the per-chunk work space before the per-component blocks
    of full covariances: the features, or on the features64 path (float32 input)
    the float64 features and (K,) log-densities, two float32 columns each."""
    if cov != FULL or not _features_possible(cov, d):
        return 0
    return 2 * (_n_features(cov, d) + k) if features64 else _n_features(cov, d)


cdef enum:
    # Bytes a chunk's work space is allocated beyond _scratch_columns: it starts
    # on a cache line, and so does its per-component block after the features
    # (line_up). The micro-kernels' vector stores that straddle two lines (a
    # malloc block starts 16 bytes past one) cost the rows' weighted centring
    # a third of its time: 27 -> 17 ms at 50 000 x 64, K = 16, one core.
    SCRATCH_SLACK = 128


cdef int _scratch_columns(int cov, int d, int k, bint features64) noexcept nogil:
    """Columns of the per-chunk work space: the features (_feature_columns),
    then (full, for the components left to the exact path) room for two D-wide
    blocks, or one padded block (micro-kernels); 2D without features."""
    cdef int per_component = max(2 * d, _padded(d, 4)) if cov == FULL else 2 * d
    if not _features_possible(cov, d):
        return per_component
    if cov == FULL:
        return _feature_columns(cov, d, k, features64) + per_component
    return max(per_component, _n_features(cov, d))


cdef size_t _small_size(int cov, int d, int k, bint features, int itemsize) noexcept nogil:
    """Values of the per-chunk BLAS result block: the feature sums (K, F) on the
    feature path; a (padded) D x D Gram matrix for full and tied, and tied's
    (K, D) sums. Diag and spherical never need D x D, which alone would take
    29 GB at D = 60 000."""
    cdef size_t size = <size_t>k * _n_features(cov, d) if features else 1
    cdef size_t dp = _padded(d, itemsize)
    if cov == FULL:
        size = max(size, dp * dp)
    elif cov == TIED:
        size = max(size, max(<size_t>d * d, <size_t>k * d))
    return size


cdef int _chunk_rows(int cov, int d, bint features) noexcept nogil:
    cdef int columns = _scratch_columns(cov, d, 0, False) if features else 2 * d
    cdef int rows = _chunk_elements // columns
    rows = rows - rows % MIN_CHUNK
    return max(MIN_CHUNK, min(MAX_CHUNK, rows))


def _check_rows(name, Py_ssize_t got, Py_ssize_t want):
    if got != want:
        raise ValueError(f"{name} must have {want} rows, got {got}")


def posterior(const floating[:, ::1] X, log_weights, means, prec_chol,
              str covariance_type, floating[::1] log_norm_out,
              floating[:, ::1] resp_out=None, prepared=None):
    """Per-sample log-likelihood and, optionally, responsibilities.

    Parameters
    ----------
    X : (N, D) float32 or float64, C-contiguous.  IN
    log_weights : (K,) log mixing weights.  IN
    means : (K, D).  IN
    prec_chol : precision Cholesky factors, shape per covariance_type.  IN
    covariance_type : {'full', 'tied', 'diag', 'spherical'}.  IN
    log_norm_out : (N,) same dtype as X.  OUT: log p(x_n).
    resp_out : (N, K) same dtype as X, or None.  OUT: p(k | x_n).
    prepared : ``prepare_model``'s result for these parameters, or None.  IN
    """
    cdef Py_ssize_t n_samples = X.shape[0], start, chunk
    _check_rows("log_norm_out", log_norm_out.shape[0], n_samples)
    if prepared is None:
        prepared = prepare_model(X, log_weights, means, prec_chol, covariance_type, None)
    cdef Model model = _model_view(prepared, X)
    cdef int d = model.d, k = model.k, n
    if resp_out is not None and (resp_out.shape[0] != n_samples or resp_out.shape[1] != k):
        raise ValueError(f"resp_out must have shape {(n_samples, k)}")
    cdef floating* resp_ptr = NULL if resp_out is None else &resp_out[0, 0]
    if n_samples == 0:
        return
    cdef int rows = _chunk_rows(model.cov, d, model.features)
    cdef void* scratch_block = malloc(
        rows * _scratch_columns(model.cov, d, k, model.features64) * sizeof(floating)
        + SCRATCH_SLACK)
    cdef floating* scratch = <floating*>line_up(scratch_block)
    cdef floating* lp = <floating*>malloc(rows * k * sizeof(floating))
    cdef floating* out
    if scratch_block == NULL or lp == NULL:
        free(scratch_block)
        free(lp)
        raise MemoryError()
    with nogil:
        for chunk in range((n_samples + rows - 1) // rows):
            start = chunk * rows
            n = <int>min(rows, n_samples - start)
            out = lp if resp_ptr == NULL else resp_ptr + start * k
            _chunk_log_prob(&model, &X[start, 0], n, scratch, out)
            _chunk_normalize(out, n, k, NULL, &log_norm_out[start])
    free(scratch_block)
    free(lp)


cdef double _fused_full_pass(const Model* model, const floating* X, Py_ssize_t n,
                             const floating* weight, const double* shift,
                             double* resp_sum, double* sum_x, double* sum_xx,
                             bint* failed) noexcept nogil:
    """_statistics_rows for full covariances in one kernel call over all rows:
    the AVX-512 pass where ``model.full_micro`` (gmmc_full_pass_pays), else
    the fused pass of few components (gmmc_small_full_pass_pays). Sets
    ``failed`` when out of memory."""
    cdef int d = model.d, k = model.k, i
    cdef double loglik
    cdef size_t work_bytes = (gmmc_full_pass_bytes(d, k, sizeof(floating)) if model.full_micro
                              else GMMC_SMALL_FULL_ACC(d, k) * sizeof(double))
    cdef double* xx_part = <double*>calloc(k * d * d, sizeof(double))
    cdef void* work = calloc(work_bytes, 1)  # (the fused pass's sums start at 0)
    if xx_part == NULL or work == NULL:
        free(xx_part); free(work)
        failed[0] = True
        return 0.0
    if floating is double:
        if model.full_micro:
            loglik = gmmc_full_pass_d(
                X, n, d, k, <const double*>model.means, <const double*>model.prec_chol,
                model.offset, weight, shift, resp_sum, sum_x, xx_part, work)
        else:
            loglik = gmmc_small_full_pass_d(
                X, n, d, k, <const double*>model.means, <const double*>model.prec_chol,
                model.offset, weight, shift, resp_sum, sum_x, xx_part, <double*>work)
    else:
        if model.full_micro:
            loglik = gmmc_full_pass_f(
                X, n, d, k, <const float*>model.means, <const float*>model.prec_chol,
                model.offset, weight, shift, resp_sum, sum_x, xx_part, work)
        else:
            loglik = gmmc_small_full_pass_f(
                X, n, d, k, <const float*>model.means, <const float*>model.prec_chol,
                model.offset, weight, shift, resp_sum, sum_x, xx_part, <double*>work)
    _symmetrize_upper(xx_part, d, k)
    for i in range(k * d * d):
        sum_xx[i] += xx_part[i]
    free(xx_part)
    free(work)
    return loglik


cdef double _small_diag_pass(const Model* model, const floating* X, Py_ssize_t n,
                             const floating* weight, const double* shift,
                             double* resp_sum, double* sum_x,
                             double* sum_xx) noexcept nogil:
    """_statistics_rows for diag and spherical covariances with few
    components (gmmc_small_diag_pass_pays): one fused kernel call
    (gmmc_small_diag_pass) over all rows, about the shared centre shift[0]."""
    cdef int spherical = model.cov == SPHERICAL
    if floating is double:
        return gmmc_small_diag_pass_d(
            X, n, model.d, model.k, spherical,
            <const double*>model.means, <const double*>model.prec_chol, model.offset,
            weight, shift, resp_sum, sum_x, sum_xx)
    else:
        return gmmc_small_diag_pass_f(
            X, n, model.d, model.k, spherical,
            <const float*>model.means, <const float*>model.prec_chol, model.offset,
            weight, shift, resp_sum, sum_x, sum_xx)


cdef double _diag_micro_pass(const Model* model, const floating* X, Py_ssize_t n,
                             const floating* weight, const double* shift,
                             double* resp_sum, double* sum_x, double* sum_xx,
                             bint* failed) noexcept nogil:
    """_statistics_rows for diag and spherical covariances where
    gmmc_diag_micro_pays: one AVX-512 kernel call (gmmc_diag_pass) over all
    rows, about the shared centre shift[0]. Sets ``failed`` when out of
    memory."""
    cdef int d = model.d, k = model.k, dp = _padded(d, sizeof(floating))
    cdef size_t values = <size_t>(2 * k + GMMC_BLOCK) * dp + <size_t>k * GMMC_BLOCK
    cdef void* block = malloc(values * sizeof(floating) + SCRATCH_SLACK)
    cdef double* sums = <double*>malloc(k * (1 + 2 * <size_t>dp) * sizeof(double))
    if block == NULL or sums == NULL:
        free(block); free(sums)
        failed[0] = True
        return 0.0
    # pc (K, 2, dp), z (GMMC_BLOCK, dp) and cols (K, GMMC_BLOCK), each on
    # 64-byte lines (dp values are whole lines).
    cdef floating* pc = <floating*>line_up(block)
    cdef floating* z = pc + 2 * k * dp
    cdef floating* cols = z + GMMC_BLOCK * dp
    cdef double loglik
    if floating is double:
        loglik = gmmc_diag_pass_d(
            X, n, d, k, model.cov == SPHERICAL, <const double*>model.means,
            <const double*>model.prec_chol, model.offset, weight, shift, resp_sum, sum_x,
            sum_xx, pc, z, cols, sums)
    else:
        loglik = gmmc_diag_pass_f(
            X, n, d, k, model.cov == SPHERICAL, <const float*>model.means,
            <const float*>model.prec_chol, model.offset, weight, shift, resp_sum, sum_x,
            sum_xx, pc, z, cols, sums)
    free(block)
    free(sums)
    return loglik


cdef double _statistics_pass(const Model* model, int cov, int d, int k,
                             const floating[:, ::1] X, const floating* weight,
                             const floating* given_resp, const double* shift,
                             const floating* center, double* resp_sum,
                             double* sum_x, double* sum_xx,
                             Py_ssize_t n_xx) except? -1.0:
    """_statistics_rows over all of X; raises MemoryError."""
    cdef bint failed = False
    cdef double loglik = 0.0
    if X.shape[0]:
        with nogil:
            loglik = _statistics_rows(model, cov, d, k, &X[0, 0], X.shape[0], weight,
                                      given_resp, shift, center, resp_sum, sum_x,
                                      sum_xx, n_xx, &failed)
    if failed:
        raise MemoryError()
    return loglik


cdef double _statistics_rows(const Model* model, int cov, int d, int k,
                             const floating* X, Py_ssize_t n_samples,
                             const floating* weight, const floating* given_resp,
                             const double* shift, const floating* center,
                             double* resp_sum, double* sum_x, double* sum_xx,
                             Py_ssize_t n_xx, bint* failed) noexcept nogil:
    """Chunk loop shared by the statistics kernels over the n_samples (> 0)
    rows of X; returns sum w log p(x) and sets ``failed`` when out of memory.

    With ``model`` the responsibilities come from the E-step; otherwise from
    ``given_resp`` (N, K), which is copied, never modified, and full
    covariances take the exact per-component path. Small mixtures with a
    model take one fused kernel call instead where ``model.fused``
    (_fused_full_pass, _small_diag_pass), and so do wider diag and spherical
    ones where ``model.diag_micro`` (_diag_micro_pass) and wider full ones
    where ``model.full_micro`` (_fused_full_pass).
    """
    if model != NULL and model.diag_micro:
        return _diag_micro_pass(model, X, n_samples, weight, shift, resp_sum, sum_x,
                                sum_xx, failed)
    cdef bint fused = model != NULL and model.fused
    if model != NULL and (model.full_micro or fused and cov == FULL):
        return _fused_full_pass(model, X, n_samples, weight, shift, resp_sum, sum_x,
                                sum_xx, failed)
    if fused:
        return _small_diag_pass(model, X, n_samples, weight, shift, resp_sum, sum_x,
                                sum_xx)
    cdef Py_ssize_t start, chunk, i
    cdef int n, j
    cdef double loglik = 0.0
    cdef bint features = model.features if model != NULL else (cov == DIAG or cov == SPHERICAL)
    # Without a model (given responsibilities) full covariances go per
    # component (no features) and the others have none on the exact path.
    cdef unsigned char* none_exact = <unsigned char*>calloc(k, 1)
    cdef const unsigned char* exact = model.exact if model != NULL else none_exact
    cdef bint micro = model.micro if model != NULL else False
    cdef bint features64 = model.features64 if model != NULL else False
    cdef int n_feat = _n_features(cov, d)
    cdef int rows = _chunk_rows(cov, d, features)
    cdef void* scratch_block = malloc(
        rows * _scratch_columns(cov, d, k, features64) * sizeof(floating) + SCRATCH_SLACK)
    cdef floating* scratch = <floating*>line_up(scratch_block)
    cdef floating* lp = <floating*>malloc(rows * k * sizeof(floating))
    cdef void* small_block = malloc(
        _small_size(cov, d, k, features, sizeof(floating)) * sizeof(floating) + 64)
    cdef floating* small = <floating*>line_up(small_block)
    # This call's sums are gathered in zeroed blocks, then added: the upper
    # triangles the chunks fill are mirrored, and sums about the centre moved to
    # the shift, once, on this call's part only.
    cdef double* rs_part = <double*>calloc(k, sizeof(double))
    cdef double* sx_part = <double*>calloc(k * d, sizeof(double))
    cdef double* xx_part = <double*>calloc(n_xx, sizeof(double))
    cdef double* center64 = <double*>malloc(d * sizeof(double))
    cdef double* feature_sums = <double*>calloc(k * n_feat if features else 1, sizeof(double))
    if (scratch_block == NULL or lp == NULL or small_block == NULL or rs_part == NULL
            or sx_part == NULL or xx_part == NULL or center64 == NULL
            or feature_sums == NULL or none_exact == NULL):
        free(scratch_block); free(lp); free(small_block); free(rs_part); free(sx_part)
        free(xx_part); free(center64); free(feature_sums); free(none_exact)
        failed[0] = True
        return 0.0
    for chunk in range((n_samples + rows - 1) // rows):
        start = chunk * rows
        n = <int>min(rows, n_samples - start)
        if model != NULL:
            _chunk_log_prob(model, X + start * d, n, scratch, lp)
            loglik += _chunk_normalize(
                lp, n, k, NULL if weight == NULL else weight + start, NULL)
        else:
            for i in range(n):
                for j in range(k):
                    lp[i * k + j] = given_resp[(start + i) * k + j] * (
                        1.0 if weight == NULL else weight[start + i])
        if not features:  # the feature path sums them in its GEMM
            if floating is double:
                gmmc_column_sums_d(lp, n, k, NULL, NULL, 0, rs_part)
            else:
                gmmc_column_sums_f(lp, n, k, NULL, NULL, 0, rs_part)
        _chunk_statistics(cov, d, k, X + start * d, n,
                          NULL if weight == NULL else weight + start, lp,
                          shift, center, features, features64,
                          NULL if model == NULL else model.center64, exact, micro,
                          model != NULL,
                          scratch, small, feature_sums, sx_part, xx_part)
    if features:
        _unpack_feature_sums(cov, d, k, feature_sums, exact, rs_part, sx_part,
                             xx_part)
    if cov == FULL and features:
        for j in range(d):
            center64[j] = center[j]
        _move_full_sums(d, k, center64, shift, exact, rs_part, sx_part, xx_part)
    if cov == FULL or cov == TIED:
        _symmetrize_upper(xx_part, d, k if cov == FULL else 1)
    gmmc_add_d(resp_sum, rs_part, k)
    gmmc_add_d(sum_x, sx_part, k * d)
    gmmc_add_d(sum_xx, xx_part, n_xx)
    free(scratch_block); free(lp); free(small_block); free(rs_part); free(sx_part)
    free(xx_part); free(center64); free(feature_sums); free(none_exact)
    return loglik


def _check_accumulators(int cov, Py_ssize_t n_samples, int k, int d, sample_weight,
                        const double[:, ::1] shift, double[::1] resp_sum,
                        double[:, ::1] sum_x, double[::1] sum_xx):
    if shift.shape[0] != k or shift.shape[1] != d:
        raise ValueError(f"shift must have shape {(k, d)}")
    _check_rows("resp_sum", resp_sum.shape[0], k)
    if sum_x.shape[0] != k or sum_x.shape[1] != d:
        raise ValueError(f"sum_x must have shape {(k, d)}")
    want_xx = {FULL: k * d * d, TIED: d * d, DIAG: k * d}.get(cov, k)
    if sum_xx.shape[0] != want_xx:
        raise ValueError(f"sum_xx must have {want_xx} entries, got {sum_xx.shape[0]}")
    if sample_weight is not None:
        _check_rows("sample_weight", len(sample_weight), n_samples)
        return float(np.sum(sample_weight, dtype=np.float64))
    return float(n_samples)


def accumulate_statistics(const floating[:, ::1] X, const floating[::1] sample_weight,
                          log_weights, means, prec_chol, str covariance_type,
                          const double[:, ::1] shift, double[::1] resp_sum,
                          double[:, ::1] sum_x, double[::1] sum_xx, prepared=None):
    """One fused E-step pass: add X's sufficient statistics to accumulators.

    Parameters
    ----------
    X : (N, D) float32 or float64, C-contiguous.  IN
    sample_weight : (N,) same dtype as X, or None for unit weights.  IN
    log_weights, means, prec_chol, covariance_type : current model.  IN
    shift : (K, D) reference point of the statistics (module docstring).  IN
    resp_sum : (K,).  IN/OUT
    sum_x : (K, D).  IN/OUT
    sum_xx : flattened (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical.
        IN/OUT; the full and tied matrices come out symmetric.
    prepared : ``prepare_model``'s result for these parameters, with centre
        shift[0] (None for full), or None.  IN

    Returns
    -------
    (loglik_sum, weight_sum) : sum_n w_n log p(x_n) and sum_n w_n.
    """
    cdef int cov = COVARIANCE_TYPES.get(covariance_type, -1)
    if prepared is None:
        prepared = prepare_model(X, log_weights, means, prec_chol, covariance_type,
                                 None if cov == FULL else shift[0])
    cdef Model model = _model_view(prepared, X)
    weight_sum = _check_accumulators(cov, X.shape[0], model.k, model.d, sample_weight,
                                     shift, resp_sum, sum_x, sum_xx)
    if X.shape[0] == 0:
        return 0.0, 0.0
    loglik = _statistics_pass(
        &model, cov, model.d, model.k, X,
        NULL if sample_weight is None else &sample_weight[0], NULL,
        &shift[0, 0], <const floating*>model.center, &resp_sum[0], &sum_x[0, 0],
        &sum_xx[0], sum_xx.shape[0])
    return loglik, weight_sum


def statistics_from_responsibilities(
        const floating[:, ::1] X, const floating[::1] sample_weight,
        const floating[:, ::1] resp, str covariance_type,
        const double[:, ::1] shift, double[::1] resp_sum,
        double[:, ::1] sum_x, double[::1] sum_xx):
    """Sufficient statistics of X for given responsibilities (initialisation).

    Same arguments and accumulators as ``accumulate_statistics``, with the
    model replaced by ``resp`` (N, K), same dtype as X.  IN
    Returns the weight sum.
    """
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    cdef int cov = COVARIANCE_TYPES[covariance_type]
    cdef int k = resp.shape[1], d = X.shape[1]
    _check_rows("resp", resp.shape[0], X.shape[0])
    weight_sum = _check_accumulators(cov, X.shape[0], k, d, sample_weight,
                                     shift, resp_sum, sum_x, sum_xx)
    if X.shape[0] == 0:
        return 0.0
    # Sums about the first shift row, moved to each row (full) at the end.
    cdef floating[::1] center = np.asarray(
        shift[0], dtype=np.float32 if floating is float else np.float64)
    _statistics_pass(
        NULL, cov, d, k, X, NULL if sample_weight is None else &sample_weight[0],
        &resp[0, 0], &shift[0, 0], &center[0], &resp_sum[0], &sum_x[0, 0],
        &sum_xx[0], sum_xx.shape[0])
    return weight_sum


cdef int _precision_cholesky(int cov, int d, int k, const double* covariances,
                             double* out) noexcept nogil:
    """Precision factors of float64 covariances, scikit-learn's layout: full
    and tied U with inv(C) = U U^T (upper, zero below), diag and spherical
    1 / sqrt(C). Returns the first component (tied: 0) whose covariance is
    not positive definite (or not finite), -1 when all succeeded."""
    cdef int count = k if cov == FULL else 1, j, a, b, info
    cdef double* m
    cdef double* work = NULL
    if cov == DIAG or cov == SPHERICAL:
        count = k * d if cov == DIAG else k
        for a in range(count):
            if not (covariances[a] > 0.0 and _finite(covariances[a])):
                return a // d if cov == DIAG else a
            out[a] = 1.0 / sqrt(covariances[a])
        return -1
    if d <= GMMC_FACTOR_MAX_D:  # (a failed malloc leaves LAPACK's path below)
        work = <double*>malloc(gmmc_factor_work_size(d) * sizeof(double))
    for j in range(count):
        m = out + j * d * d
        if work != NULL:
            if not gmmc_precision_factor(covariances + j * d * d, d, m, work):
                free(work)
                return j
            continue
        for a in range(d * d):
            if not _finite(covariances[j * d * d + a]):  # LAPACK may not flag NaN
                return j
            m[a] = covariances[j * d * d + a]
        # Row-major storage of the column-major lower factor L is L^T; the
        # inverse of L read row-major is inv(L)^T = U, the precision factor.
        info = cholesky_lower_inplace(d, m)
        if info == 0:
            info = invert_triangular_inplace(d, m)
        if info != 0:
            return j
        for a in range(d):
            for b in range(a):
                m[a * d + b] = 0.0
    free(work)
    return -1


def precision_cholesky(const double[:, :, ::1] covariances, double[:, :, ::1] out):
    """Upper-triangular precision Cholesky factors of covariance matrices.

    Parameters
    ----------
    covariances : (K, D, D) symmetric.  IN
    out : (K, D, D).  OUT: U_k with inv(covariances[k]) = U_k U_k^T (as
        scikit-learn's ``precisions_cholesky_``).

    Returns
    -------
    int : index of the first component whose covariance is not positive
        definite, or -1 when all factorisations succeeded.
    """
    cdef int k = covariances.shape[0], d = covariances.shape[1], failed
    if covariances.shape[2] != d or out.shape[0] != k or out.shape[1] != d or out.shape[2] != d:
        raise ValueError("covariances and out must both have shape (K, D, D)")
    if d < 1:
        raise ValueError("covariances must be at least 1 x 1")
    with nogil:
        failed = _precision_cholesky(FULL, d, k, &covariances[0, 0, 0], &out[0, 0, 0])
    return failed


def precision_factors(str covariance_type, covariances):
    """``_precision_cholesky`` of float64 covariances of any type (flattened).

    Returns (factors, with the covariances' shape; failed component or -1).
    """
    cdef int cov = COVARIANCE_TYPES[covariance_type], failed
    arr = np.ascontiguousarray(covariances, dtype=np.float64)
    cdef int k = arr.shape[0] if cov != TIED else 1
    cdef int d = arr.shape[arr.ndim - 1] if cov != SPHERICAL else 1
    out = np.empty_like(arr)
    cdef double[::1] out_view = out.reshape(-1)
    cdef const double[::1] flat = arr.reshape(-1)
    if flat.shape[0] == 0:
        return out, -1
    with nogil:
        failed = _precision_cholesky(cov, d, k, &flat[0], &out_view[0])
    return out, failed


cdef void _m_step(int cov, int d, int k, double eps10, double reg_covar,
                  const double* resp_sum, const double* sum_x, const double* sum_xx,
                  const double* shift, bint normalized, const double* total_x,
                  double weight_sum, double* work, double* weights, double* means,
                  double* covariances) noexcept nogil:
    """Weights, means and covariances (float64) maximising the expected
    log-likelihood, from sufficient statistics about ``shift``.

    eps10: 10 machine epsilons of the data's dtype, added, like scikit-learn,
    to each component's responsibility sum so that an empty component gives
    finite means. normalized: the responsibilities of each sample summed to
    one (an E-step; one-hot seeds need not), with total_x (D,) and weight_sum
    used otherwise (tied). work: K (D + 1) doubles. Full covariances, as
    scikit-learn's sum_n r (x - mean)(x - mean)^T / nk, are written with sums
    about the shift: sum_xx/nk - (2 - resp_sum/nk) delta delta^T, delta = mean
    - shift. Diag and spherical are scikit-learn's sum r x^2/nk - (sum r x /
    nk)^2 taken about the shift instead of the origin, sum_xx/nk - delta^2: for
    a component holding one sample, the margin of that formula over the exact
    scatter, 10 eps of the squared distance to the shift, keeps the computed
    variance positive whatever reg_covar (rounding is a few eps of it), as it
    does scikit-learn's; about the shift, it stays that small for data far
    from the origin.
    """
    cdef double* nk = work
    cdef double* delta = work + k
    cdef double total = 0.0, correction, t, unexplained_a, unexplained_b
    cdef int j, a, b
    for j in range(k):
        nk[j] = resp_sum[j] + eps10
        total = total + nk[j]
    for j in range(k):
        for a in range(d):
            delta[j * d + a] = sum_x[j * d + a] / nk[j]
            means[j * d + a] = shift[j * d + a] + delta[j * d + a]
        weights[j] = nk[j] / total
    if cov == FULL:
        for j in range(k):
            correction = 2.0 - resp_sum[j] / nk[j]
            for a in range(d):
                for b in range(a, d):  # upper triangle, mirrored: exactly symmetric
                    t = (sum_xx[(j * d + a) * d + b] / nk[j]
                         - correction * delta[j * d + a] * delta[j * d + b])
                    covariances[(j * d + a) * d + b] = t
                    covariances[(j * d + b) * d + a] = t
                covariances[(j * d + a) * d + a] += reg_covar
    elif cov == TIED:
        # scikit-learn's (X^T X - sum_k nk mu_k mu_k^T) / sum(nk), about the
        # centre c: sum_xx - sum_k nk delta_k delta_k^T, plus, when the
        # responsibilities of a sample need not sum to one (one-hot seeds),
        # c u^T + u c^T + (W - sum(nk)) c c^T with u = total_x - sum_k nk delta_k.
        # After an E-step those terms are rounding noise times c c^T: skipped.
        for a in range(d):
            for b in range(a, d):  # upper triangle, mirrored: exactly symmetric
                t = 0.0
                for j in range(k):
                    t = t + nk[j] * delta[j * d + a] * delta[j * d + b]
                t = sum_xx[a * d + b] - t
                if not normalized:
                    unexplained_a = total_x[a]
                    unexplained_b = total_x[b]
                    for j in range(k):
                        unexplained_a = unexplained_a - nk[j] * delta[j * d + a]
                        unexplained_b = unexplained_b - nk[j] * delta[j * d + b]
                    t = t + (shift[a] * unexplained_b + unexplained_a * shift[b]
                             + (weight_sum - total) * (shift[a] * shift[b]))
                covariances[a * d + b] = t
                covariances[b * d + a] = t
        for a in range(d * d):
            covariances[a] = covariances[a] / total
        for a in range(d):
            covariances[a * d + a] += reg_covar
    elif cov == DIAG:
        for a in range(k * d):
            covariances[a] = sum_xx[a] / nk[a // d] - delta[a] * delta[a] + reg_covar
    else:  # spherical: the mean of the diagonal variances, from the trace
        for j in range(k):
            t = 0.0
            for a in range(d):
                t = t + delta[j * d + a] * delta[j * d + a]
            covariances[j] = (sum_xx[j] / nk[j] - t) / d + reg_covar


def m_step(str covariance_type, double eps10, double reg_covar,
           const double[::1] resp_sum, const double[:, ::1] sum_x,
           const double[::1] sum_xx, const double[:, ::1] shift, bint normalized,
           const double[::1] total_x, double weight_sum):
    """The M-step (see ``_m_step``) from a ``SufficientStatistics``' arrays.

    Returns (weights (K,), means (K, D), covariances (flat, float64)).
    """
    cdef int cov = COVARIANCE_TYPES[covariance_type]
    cdef int k = sum_x.shape[0], d = sum_x.shape[1]
    if resp_sum.shape[0] != k or shift.shape[0] != k or shift.shape[1] != d:
        raise ValueError("resp_sum, sum_x and shift disagree on K or D")
    if sum_xx.shape[0] != {FULL: k * d * d, TIED: d * d, DIAG: k * d}.get(cov, k):
        raise ValueError("sum_xx has the wrong size")
    if total_x.shape[0] != d:
        raise ValueError("total_x must have D entries")
    weights, means = np.empty(k), np.empty((k, d))
    covariances = np.empty(sum_xx.shape[0])
    work = np.empty(k * (d + 1))
    cdef double[::1] w_view = weights, c_view = covariances, work_view = work
    cdef double[:, ::1] m_view = means
    with nogil:
        _m_step(cov, d, k, eps10, reg_covar, &resp_sum[0], &sum_x[0, 0], &sum_xx[0],
                &shift[0, 0], normalized, &total_x[0], weight_sum, &work_view[0],
                &w_view[0], &m_view[0, 0], &c_view[0])
    return weights, means, covariances


cdef struct StatisticsJob:
    # One E-step over row blocks, a task per block: task t adds the
    # statistics of rows blocks[t]:blocks[t + 1] to its own zeroed sums.
    const Model* model
    int cov, d, k
    Py_ssize_t n_xx
    const void* X          # (N, D), X's type
    const void* weight     # (N,) or NULL
    const double* shift
    const void* center
    const int64_t* blocks  # (n_tasks + 1,)
    double* loglik         # (n_tasks,)
    double* resp_sum       # (n_tasks, K)
    double* sum_x          # (n_tasks, K D)
    double* sum_xx         # (n_tasks, n_xx)
    bint* failed           # (n_tasks,)


cdef void _statistics_task(StatisticsJob* job, int task,
                           const floating* X, const floating* weight) noexcept nogil:
    cdef int64_t first = job.blocks[task], stop = job.blocks[task + 1]
    if stop > first:
        job.loglik[task] = _statistics_rows(
            job.model, job.cov, job.d, job.k, X + first * job.d, stop - first,
            NULL if weight == NULL else weight + first, <const floating*>NULL,
            job.shift, <const floating*>job.center, job.resp_sum + task * job.k,
            job.sum_x + task * job.k * job.d, job.sum_xx + task * job.n_xx, job.n_xx,
            &job.failed[task])


cdef void _statistics_task_d(void* ctx, int task) noexcept nogil:
    cdef StatisticsJob* job = <StatisticsJob*>ctx
    _statistics_task(job, task, <const double*>job.X, <const double*>job.weight)


cdef void _statistics_task_f(void* ctx, int task) noexcept nogil:
    cdef StatisticsJob* job = <StatisticsJob*>ctx
    _statistics_task(job, task, <const float*>job.X, <const float*>job.weight)


cdef inline bint _all_finite(const double* values, int64_t count) noexcept nogil:
    cdef double bounds[2]
    return count == 0 or not gmmc_value_range_d(values, count, bounds)


cdef inline void _store(const double* src, int64_t count, floating* dst) noexcept nogil:
    """dst := src, rounded to dst's type."""
    if floating is double:
        memcpy(dst, src, count * sizeof(double))
    else:
        gmmc_narrow(src, count, dst)


def em_loop(const floating[:, ::1] X, const floating[::1] sample_weight,
            double weight_sum, str covariance_type, floating[::1] weights,
            floating[:, ::1] means, floating[::1] covariances, floating[::1] prec_chol,
            double reg_covar, double eps10, double tol, int max_iter,
            double lower_bound, double[::1] bounds, blocks=None,
            int n_threads=1):
    """EM iterations from the given parameters, all in C: where per-iteration
    Python work and a Python thread's start would cost much of the E-step.

    Each iteration composes the same steps as the Python driver:
    ``prepare_model``'s ``_fill_model``, the statistics pass over the row
    blocks the driver would use (each block's sums apart, added in block
    order, as ``SufficientStatistics.merge``), ``_m_step`` and
    ``_precision_cholesky``, so the two give the same fits. The blocks run
    on ``n_threads`` threads of the team (``gmmc._team``: helpers that never
    take the GIL).

    Parameters
    ----------
    X : (N, D), C-contiguous.  IN
    sample_weight : (N,) same dtype, or None.  IN
    weight_sum : sum of the sample weights (N without).  IN
    weights, means, covariances (flat), prec_chol (flat, upper factors zero
        below the diagonal) : the start, X's dtype.  IN/OUT: the last M-step.
    reg_covar, eps10 : as ``_m_step``.  IN
    tol, max_iter : stop when the lower bound changes by less than tol, or
        after max_iter iterations.  IN
    lower_bound : the bound before the first iteration (-inf for a start).  IN
    bounds : (max_iter,).  OUT: the lower bound after each iteration.
    blocks : (B + 1,) int64 row bounds of the driver's blocks
        (``gmmc._parallel.row_block_bounds``), or None for one block.  IN
    n_threads : threads for the blocks, the calling one included.  IN

    Returns
    -------
    (n_iter, converged, lower_bound, status) : status -1 when all went well;
    -2 when an E-step's sums were not finite; otherwise the component whose
    covariance was not positive definite (the fit stopped there, the
    parameters are those of the previous iteration).
    """
    cdef int cov = COVARIANCE_TYPES[covariance_type]
    cdef int n = X.shape[0], d = X.shape[1], k = weights.shape[0]
    cdef int n_xx = {FULL: k * d * d, TIED: d * d, DIAG: k * d}.get(cov, k)
    cdef int dp = _padded(d, sizeof(floating))
    if (means.shape[0] != k or means.shape[1] != d or covariances.shape[0] != n_xx
            or prec_chol.shape[0] != n_xx or bounds.shape[0] < max_iter
            or (sample_weight is not None and sample_weight.shape[0] != n)):
        raise ValueError("em_loop: arrays of inconsistent shapes")
    if n == 0:
        raise ValueError("em_loop: X has no rows")
    cdef const int64_t[::1] row_bounds = row_blocks(blocks, n)
    cdef int n_tasks = row_bounds.shape[0] - 1
    dtype = np.float32 if floating is float else np.float64
    # Work arrays, allocated once per call.
    cdef double[::1] log_w = np.empty(k), shift = np.empty(k * d)
    cdef double[::1] resp_sum = np.empty(k), sum_x = np.empty(k * d), sum_xx = np.empty(n_xx)
    cdef double[::1] new_w = np.empty(k), new_means = np.empty(k * d)
    cdef double[::1] new_cov = np.empty(n_xx), new_prec = np.empty(n_xx)
    cdef double[::1] work = np.empty(max(_work_size(cov, d, k), <size_t>k * (d + 1)))
    cdef double[::1] offset = np.empty(k)
    cdef floating[::1] aux = np.zeros(_aux_size(cov, d, k), dtype=dtype)
    cdef floating[::1] center = np.empty(d, dtype=dtype)
    cdef double[::1] aux64 = np.zeros(_aux_size(cov, d, k) if floating is float else 1)
    cdef double[::1] center64 = np.empty(d)
    cdef floating[::1] padded = np.zeros(
        k * dp * dp if cov == FULL and HAVE_AVX512 else 1, dtype=dtype)
    cdef unsigned char[::1] exact = np.empty(k, dtype=np.uint8)
    # Each block's sums and log-likelihood, then their totals in block order.
    cdef double[::1] part_loglik = np.empty(n_tasks), part_resp = np.empty(n_tasks * k)
    cdef double[::1] part_x = np.empty(n_tasks * k * d), part_xx = np.empty(n_tasks * n_xx)
    cdef bint[::1] part_failed = np.zeros(n_tasks, dtype=np.intc)
    cdef StatisticsJob job
    cdef Model model
    cdef int it = 0, j, a, t, status = -1
    cdef bint converged = False
    cdef double loglik, previous, mixture_mean
    cdef const floating* w_ptr = NULL if sample_weight is None else &sample_weight[0]
    job.model, job.cov, job.d, job.k, job.n_xx = &model, cov, d, k, n_xx
    job.X, job.weight, job.shift, job.center = &X[0, 0], w_ptr, &shift[0], &center[0]
    job.blocks, job.loglik, job.resp_sum = &row_bounds[0], &part_loglik[0], &part_resp[0]
    job.sum_x, job.sum_xx, job.failed = &part_x[0], &part_xx[0], &part_failed[0]
    for it in range(1, max_iter + 1):
        with nogil:
            for j in range(k):
                log_w[j] = log(<double>weights[j])  # a weight of 0: -inf
            # The statistics' reference: the means (full), else the mixture mean.
            for a in range(d):
                mixture_mean = 0.0
                for j in range(k):
                    mixture_mean = mixture_mean + <double>weights[j] * <double>means[j, a]
                for j in range(k):
                    shift[j * d + a] = means[j, a] if cov == FULL else mixture_mean
            _fill_model(cov, d, k, &log_w[0], &means[0, 0], &prec_chol[0],
                        NULL if cov == FULL else &shift[0], True, True, True, &work[0],
                        &aux[0], &aux64[0], &center[0], &center64[0], &offset[0],
                        &exact[0], &padded[0], &model)
            # (memset, memcpy and the vectorised adds: at K D^2 = 40 960, digits,
            # Cython's element loops here took 2.6 % of a fit)
            memset(&part_loglik[0], 0, n_tasks * sizeof(double))
            memset(&part_resp[0], 0, n_tasks * k * sizeof(double))
            memset(&part_x[0], 0, n_tasks * k * d * sizeof(double))
            memset(&part_xx[0], 0, n_tasks * n_xx * sizeof(double))
            team_run(n_threads, n_tasks, _statistics_task_d if floating is double
                          else _statistics_task_f, &job)
            # Totals in block order; the first block's sums are 0 + its own.
            loglik = part_loglik[0]
            memcpy(&resp_sum[0], &part_resp[0], k * sizeof(double))
            memcpy(&sum_x[0], &part_x[0], k * d * sizeof(double))
            memcpy(&sum_xx[0], &part_xx[0], n_xx * sizeof(double))
            for t in range(1, n_tasks):
                loglik = loglik + part_loglik[t]
                gmmc_add_d(&resp_sum[0], &part_resp[t * k], k)
                gmmc_add_d(&sum_x[0], &part_x[t * k * d], k * d)
                gmmc_add_d(&sum_xx[0], &part_xx[t * n_xx], n_xx)
            for t in range(n_tasks):
                if part_failed[t]:
                    status = -3
        if status == -3:
            raise MemoryError()
        with nogil:
            status = -1 if (_finite(loglik) and _all_finite(&sum_x[0], k * d)
                            and _all_finite(&sum_xx[0], n_xx)) else -2
            if status == -1:
                _m_step(cov, d, k, eps10, reg_covar, &resp_sum[0], &sum_x[0], &sum_xx[0],
                        &shift[0], True, NULL, weight_sum, &work[0], &new_w[0],
                        &new_means[0], &new_cov[0])
                status = _precision_cholesky(cov, d, k, &new_cov[0], &new_prec[0])
            if status == -1:
                _store(&new_w[0], k, &weights[0])
                _store(&new_means[0], k * d, &means[0, 0])
                _store(&new_cov[0], n_xx, &covariances[0])
                _store(&new_prec[0], n_xx, &prec_chol[0])
                previous = lower_bound
                lower_bound = loglik / weight_sum
                bounds[it - 1] = lower_bound
                if fabs(lower_bound - previous) < tol:
                    converged = True
        if status != -1 or converged:
            break
        PyErr_CheckSignals()  # Ctrl-C between iterations, as the Python driver
    return it, converged, lower_bound, status


cdef struct RangeJob:
    # value_range over equal parts of the values, a task per part
    const void* values
    int64_t n, part
    double* bounds             # (n_tasks, 2)
    int* nonfinite             # (n_tasks,)


cdef void _range_part(RangeJob* job, int task, const floating* values) noexcept nogil:
    cdef int64_t first = min(job.n, task * job.part)
    cdef int64_t stop = min(job.n, first + job.part)
    job.bounds[2 * task], job.bounds[2 * task + 1] = INFINITY, -INFINITY
    job.nonfinite[task] = 0
    if stop > first:
        if floating is double:
            job.nonfinite[task] = gmmc_value_range_d(values + first, stop - first,
                                                     job.bounds + 2 * task)
        else:
            job.nonfinite[task] = gmmc_value_range_f(values + first, stop - first,
                                                     job.bounds + 2 * task)


cdef void _range_task_d(void* ctx, int task) noexcept nogil:
    _range_part(<RangeJob*>ctx, task, <const double*>(<RangeJob*>ctx).values)


cdef void _range_task_f(void* ctx, int task) noexcept nogil:
    _range_part(<RangeJob*>ctx, task, <const float*>(<RangeJob*>ctx).values)


# values per thread below which value_range runs on one: waking the team
# costs about what a thread scans of L2-resident values in that time
RANGE_VALUES_PER_THREAD = 1 << 18


def value_range(const floating[::1] values, int n_threads=1):
    """(least, greatest, nonfinite) of the values: the bounds over those that
    are not NaN (inf and -inf when there are none), and whether any is NaN or
    infinite; one pass, for input validation, in equal parts on up to
    ``n_threads`` of the team's threads (the same result: bounds and flags
    combine exactly)."""
    cdef int64_t n = values.shape[0]
    cdef int n_tasks = <int>max(1, min(n_threads, n // RANGE_VALUES_PER_THREAD))
    cdef double[::1] bounds = np.empty(2 * n_tasks)
    cdef int[::1] nonfinite = np.zeros(n_tasks, dtype=np.intc)
    cdef RangeJob job
    cdef int task
    cdef double least = INFINITY, greatest = -INFINITY
    if n == 0:
        return least, greatest, False
    job.values, job.n = &values[0], n
    job.part = (n + n_tasks - 1) // n_tasks
    job.bounds, job.nonfinite = &bounds[0], &nonfinite[0]
    with nogil:
        team_run(n_tasks, n_tasks, _range_task_d if floating is double else _range_task_f,
                 &job)
    for task in range(n_tasks):
        least, greatest = min(least, bounds[2 * task]), max(greatest, bounds[2 * task + 1])
    return least, greatest, any(nonfinite)


cdef enum:
    COLUMN_SUMS = 0
    LABEL_MOMENTS = 1
    COLUMN_MOMENTS = 2


cdef struct MomentsJob:
    # column_sums, column_moments or _label_moments over row blocks, a task per block, each
    # into its own zeroed row of ``part`` (out0 | out1 | out2 of the call).
    int kind, d, k
    const void* X              # (N, D), X's type
    const void* weight         # (N,) or NULL
    const double* center       # column sums: (D,) or NULL; column moments: the shift
    bint square
    const int* labels          # label moments
    const double* shift
    int squares
    const int64_t* blocks
    double* part               # (n_tasks, stride), line-aligned rows
    int64_t stride, n0, n1, n2  # sizes of out0, out1, out2 (0: absent)


cdef void _moments_task(MomentsJob* job, int task, const floating* X,
                        const floating* weight) noexcept nogil:
    cdef int64_t first = job.blocks[task], stop = job.blocks[task + 1], a
    cdef double* part = job.part + task * job.stride
    for a in range(job.stride):
        part[a] = 0.0
    if stop == first:
        return
    X = X + first * job.d
    weight = NULL if weight == NULL else weight + first
    if job.kind == COLUMN_SUMS:
        if floating is double:
            gmmc_column_sums_d(X, stop - first, job.d, weight, job.center, job.square, part)
        else:
            gmmc_column_sums_f(X, stop - first, job.d, weight, job.center, job.square, part)
    elif job.kind == COLUMN_MOMENTS:
        if floating is double:
            gmmc_column_moments_d(X, stop - first, job.d, weight, job.center, part,
                                  part + job.n0)
        else:
            gmmc_column_moments_f(X, stop - first, job.d, weight, job.center, part,
                                  part + job.n0)
    else:
        _label_moments(X, stop - first, job.d, weight, job.labels + first, job.shift,
                       job.squares, part, part + job.n0,
                       NULL if job.n2 == 0 else part + job.n0 + job.n1)


cdef void _moments_task_d(void* ctx, int task) noexcept nogil:
    cdef MomentsJob* job = <MomentsJob*>ctx
    _moments_task(job, task, <const double*>job.X, <const double*>job.weight)


cdef void _moments_task_f(void* ctx, int task) noexcept nogil:
    cdef MomentsJob* job = <MomentsJob*>ctx
    _moments_task(job, task, <const float*>job.X, <const float*>job.weight)


cdef int _run_moments(MomentsJob* job, const floating* X, const floating[::1] sample_weight,
                      Py_ssize_t n, int d, int k, blocks, int n_threads, double* out0,
                      double* out1, double* out2) except -1:
    """Run ``job`` (kind and its inputs set) over the row blocks and add the
    blocks' sums, in block order, to out0 (column sums: (D,); label moments:
    counts (K,)), out1 (sums (K, D)) and out2 (squares, (K, D) or (K,))."""
    cdef const int64_t[::1] bounds = row_blocks(blocks, n)
    cdef int n_tasks = bounds.shape[0] - 1, t, task
    if job.kind == COLUMN_SUMS:
        job.n0, job.n1, job.n2 = d, 0, 0
    elif job.kind == COLUMN_MOMENTS:
        job.n0, job.n1, job.n2 = d, d, 0
    else:
        job.n0, job.n1 = k, <int64_t>k * d
        job.n2 = 0 if out2 == NULL else (<int64_t>k * d if job.squares == 1 else k)
    job.stride = line_stride(job.n0 + job.n1 + job.n2)
    cdef double[::1] parts = np.empty(n_tasks * job.stride + 7)
    job.part = line_aligned(parts)
    job.X, job.weight, job.d, job.k = X, NULL, d, k
    if sample_weight is not None:
        job.weight = &sample_weight[0]
    job.blocks = &bounds[0]
    cdef double* outs[3]
    cdef int64_t sizes[3]
    cdef int64_t a, offset
    cdef double total
    outs[0], outs[1], outs[2] = out0, out1, out2
    sizes[0], sizes[1], sizes[2] = job.n0, job.n1, job.n2
    with nogil:
        team_run(n_threads, n_tasks, _moments_task_d if floating is double
                 else _moments_task_f, job)
        offset = 0
        for t in range(3):
            for a in range(sizes[t]):
                total = 0.0
                for task in range(n_tasks):
                    total = total + job.part[task * job.stride + offset + a]
                outs[t][a] += total
            offset += sizes[t]
    return 0


def column_sums(const floating[:, ::1] X, const floating[::1] sample_weight,
                const double[::1] center, bint square, double[::1] out, blocks=None,
                int n_threads=1):
    """out[a] += sum_n w_n y_na, y = X - center (X when center is None), squared
    when ``square``; w_n = 1 when sample_weight is None. Over row blocks on
    the team's threads when ``blocks`` are given: each block's sums apart,
    added in block order, as a sum of the blocks' calls.

    Parameters
    ----------
    X : (N, D) float32 or float64.  IN
    sample_weight : (N,) same dtype, or None.  IN
    center : (D,) float64, or None.  IN
    square : bool.  IN
    out : (D,) float64.  IN/OUT
    blocks : (B + 1,) int64 row bounds, or None for one block.  IN
    n_threads : threads for the blocks, the calling one included.  IN
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef int d = X.shape[1]
    if out.shape[0] != d or (center is not None and center.shape[0] != d):
        raise ValueError(f"out and center must have {d} entries")
    if sample_weight is not None:
        _check_rows("sample_weight", sample_weight.shape[0], n)
    if n == 0 or d == 0:
        return
    cdef MomentsJob job
    job.kind, job.square = COLUMN_SUMS, square
    job.center = NULL if center is None else &center[0]
    _run_moments(&job, &X[0, 0], sample_weight, n, d, 0, blocks, n_threads,
                 &out[0], NULL, NULL)


def column_moments(const floating[:, ::1] X, const floating[::1] sample_weight,
                   const double[::1] shift, double[::1] sums, double[::1] squares,
                   blocks=None, int n_threads=1):
    """sums[a] += sum_n w_n x_na (the bits of ``column_sums`` without a center)
    and squares[a] += sum_n w_n (x_na - shift_a)^2, in one pass; blocks as
    ``column_sums``.

    Parameters
    ----------
    X, sample_weight : as ``column_sums``.  IN
    shift : (D,) float64.  IN
    sums, squares : (D,) float64.  IN/OUT
    blocks, n_threads : as ``column_sums``.  IN
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef int d = X.shape[1]
    if sums.shape[0] != d or squares.shape[0] != d or shift.shape[0] != d:
        raise ValueError(f"shift, sums and squares must have {d} entries")
    if sample_weight is not None:
        _check_rows("sample_weight", sample_weight.shape[0], n)
    if n == 0 or d == 0:
        return
    cdef MomentsJob job
    job.kind, job.center = COLUMN_MOMENTS, &shift[0]
    _run_moments(&job, &X[0, 0], sample_weight, n, d, 0, blocks, n_threads,
                 &sums[0], &squares[0], NULL)


def label_sums(const floating[:, ::1] X, const floating[::1] sample_weight,
               const int[::1] labels, double[::1] counts, double[:, ::1] sums,
               blocks=None, int n_threads=1):
    """counts[j] += sum of w_n and sums[j] += sum of w_n x_n over the samples
    labelled j: the clusters' weights and means (``label_scatter``'s reference
    points), block by block. About the origin, so that the reference points
    round as the weighted mean of X does.

    Parameters
    ----------
    X : (N, D).  IN
    sample_weight : (N,) same dtype, or None.  IN
    labels : (N,) int32 in [0, K).  IN
    counts, sums : (K,), (K, D).  IN/OUT
    blocks, n_threads : as ``column_sums``.  IN
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef int d = X.shape[1], k = counts.shape[0]
    _check_labels(labels, n, k)
    if sums.shape[0] != k or sums.shape[1] != d:
        raise ValueError(f"sums must be ({k}, {d})")
    if sample_weight is not None:
        _check_rows("sample_weight", sample_weight.shape[0], n)
    if n == 0:
        return
    # the moments kernel, with the origin as every cluster's reference point
    cdef const double[:, ::1] origin = np.zeros((k, d))
    cdef MomentsJob job
    job.kind, job.labels, job.shift, job.squares = LABEL_MOMENTS, &labels[0], &origin[0, 0], 0
    _run_moments(&job, &X[0, 0], sample_weight, n, d, k, blocks, n_threads, &counts[0],
                 &sums[0, 0], NULL)


def label_scatter(const floating[:, ::1] X, const floating[::1] sample_weight,
                  const int[::1] labels, str covariance_type, const double[:, ::1] shift,
                  double[::1] resp_sum, double[:, ::1] sum_x, double[::1] sum_xx,
                  blocks=None, int n_threads=1):
    """Add the sufficient statistics of hard assignments (k-means labels) about
    ``shift``: those of their one-hot responsibilities
    (``statistics_from_responsibilities``), each sample's sums in its own
    component only.

    Parameters
    ----------
    X : (N, D).  IN
    sample_weight : (N,) same dtype, or None.  IN
    labels : (N,) int32 in [0, K).  IN
    covariance_type : str.  IN
    shift : (K, D) the reference points.  IN
    resp_sum, sum_x, sum_xx : accumulators, as ``accumulate_statistics``.  IN/OUT
    blocks, n_threads : as ``column_sums``, for diag and spherical (full and
        tied take one block, in this thread).  IN

    Returns
    -------
    weight_sum : float
    """
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    cdef int cov = COVARIANCE_TYPES[covariance_type]
    cdef Py_ssize_t n = X.shape[0]
    cdef int d = X.shape[1], k = shift.shape[0]
    weight_sum = _check_accumulators(cov, n, k, d, sample_weight, shift, resp_sum, sum_x,
                                     sum_xx)
    _check_labels(labels, n, k)
    if n == 0:
        return weight_sum
    cdef const floating* w = NULL if sample_weight is None else &sample_weight[0]
    cdef int squares = 1 if cov == DIAG else 2 if cov == SPHERICAL else 0
    if (cov == FULL or cov == TIED) and blocks is not None:
        raise ValueError("label_scatter: row blocks for diag and spherical only")
    cdef MomentsJob job
    job.kind, job.labels, job.shift, job.squares = (LABEL_MOMENTS, &labels[0],
                                                    &shift[0, 0], squares)
    _run_moments(&job, &X[0, 0], sample_weight, n, d, k, blocks, n_threads,
                 &resp_sum[0], &sum_x[0, 0], NULL if squares == 0 else &sum_xx[0])
    if cov == FULL or cov == TIED:
        _label_grams(cov, &X[0, 0], n, d, k, w, &labels[0], &shift[0, 0], &sum_xx[0])
    return weight_sum


def _check_labels(const int[::1] labels, Py_ssize_t n, int k):
    if labels.shape[0] != n:
        raise ValueError(f"labels must have {n} entries")
    cdef Py_ssize_t i
    cdef bint bad = False
    with nogil:
        for i in range(n):
            bad = bad or labels[i] < 0 or labels[i] >= k
    if bad:
        raise ValueError(f"labels must lie in [0, {k})")


cdef void _label_moments(const floating* x, Py_ssize_t n, int d, const floating* w,
                         const int* labels, const double* shift, int squares,
                         double* resp_sum, double* sum_x,
                         double* sum_xx) noexcept nogil:
    if floating is double:
        gmmc_label_moments_d(x, n, d, w, labels, shift, squares, resp_sum, sum_x, sum_xx)
    else:
        gmmc_label_moments_f(x, n, d, w, labels, shift, squares, resp_sum, sum_x, sum_xx)


cdef enum:
    LABEL_CHUNK = 2048  # rows per Gram block of label_scatter


cdef int _label_grams(int cov, const floating* x, Py_ssize_t n, int d, int k,
                      const floating* w, const int* labels, const double* shift,
                      double* sum_xx) except -1:
    """sum_xx += the scatter of hard assignments: (tied) sum_n w_n (x_n -
    shift_0)(...)^T, or (full) per cluster j, sum over its samples of w_n (x_n -
    shift_j)(...)^T. Chunk by chunk, the rows of each cluster are gathered
    (weighted by sqrt(w), centred) and their Gram matrix taken in the input
    precision, its upper triangle added to float64 sums, mirrored at the end."""
    cdef int rows = <int>min(n, LABEL_CHUNK), m, j, a, b, r, count
    cdef Py_ssize_t start, chunk, i
    cdef int groups = k if cov == FULL else 1
    cdef floating* work = <floating*>malloc(rows * d * sizeof(floating))
    cdef floating* small = <floating*>malloc(d * d * sizeof(floating))
    cdef int* order = <int*>malloc(rows * sizeof(int))
    cdef int* starts = <int*>calloc(groups + 1, sizeof(int))
    cdef double* upper = <double*>calloc(groups * d * d, sizeof(double))
    cdef const double* ref
    cdef double sr
    if (work == NULL or small == NULL or order == NULL or starts == NULL
            or upper == NULL):
        free(work); free(small); free(order); free(starts); free(upper)
        raise MemoryError()
    with nogil:
        for chunk in range((n + rows - 1) // rows):
            start = chunk * rows
            m = <int>min(rows, n - start)
            # rows by group (counting sort): order[starts[j]:starts[j + 1]]
            for j in range(groups + 1):
                starts[j] = 0
            for i in range(m):
                starts[(labels[start + i] if cov == FULL else 0) + 1] += 1
            for j in range(groups):
                starts[j + 1] += starts[j]
            for i in range(m):
                j = labels[start + i] if cov == FULL else 0
                order[starts[j]] = <int>i
                starts[j] += 1
            for j in range(groups - 1, 0, -1):  # back to the groups' starts
                starts[j] = starts[j - 1]
            starts[0] = 0
            for j in range(groups):
                count = starts[j + 1] - starts[j]
                if count == 0:
                    continue
                ref = shift + j * d
                for r in range(count):
                    i = start + order[starts[j] + r]
                    sr = 1.0 if w == NULL else sqrt(w[i])
                    for a in range(d):
                        work[r * d + a] = <floating>(sr * (x[i * d + a] - ref[a]))
                if d <= GMMC_SMALL_D:
                    if floating is double:
                        gmmc_small_gram_d(work, count, d, small)
                    else:
                        gmmc_small_gram_f(work, count, d, small)
                else:
                    gram_upper(d, count, work, small)
                for a in range(d):
                    for b in range(a, d):
                        upper[j * d * d + a * d + b] += small[a * d + b]
        _symmetrize_upper(upper, d, groups)
        for i in range(groups * d * d):
            sum_xx[i] += upper[i]
    free(work); free(small); free(order); free(starts); free(upper)
