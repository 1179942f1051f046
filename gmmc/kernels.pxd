# cython: language_level=3
"""gmmc's public Cython API: Gaussian-mixture E-step kernels for other projects.

    from gmmc.kernels cimport COV_FULL, estimate_weighted_log_prob, normalize_log_rows

Every function here is ``cdef inline ... noexcept nogil`` and is defined in this
file, so it is compiled into the module that cimports it: that module needs gmmc
(this file) and Cython only when it is built, and imports nothing of gmmc when
it runs. There is no binary interface to keep in step with gmmc's own extension
modules, whose private kernels may change from release to release; the
signatures below change only with ``GMMC_KERNELS_API_VERSION``.

Conventions
-----------
* Arrays are raw pointers to C-contiguous (row-major) buffers; sizes are
  ``Py_ssize_t``. ``floating`` is float or double, and every array of one call
  has the same precision (sums are accumulated in double either way).
* Parameters are laid out as scikit-learn's and gmmc's fitted attributes, so a
  fitted ``GaussianMixture`` can be evaluated directly:
  ``log(weights_)`` (K,), ``means_`` (K, D) and ``precisions_cholesky_``:
  (K, D, D) for COV_FULL, (D, D) for COV_TIED, (K, D) for COV_DIAG and (K,) for
  COV_SPHERICAL. A precision Cholesky factor U is upper triangular with
  precision P = U U^T, so that (x - mu)^T P (x - mu) = ||(x - mu)^T U||^2.
* Nothing here allocates memory, takes the GIL, or checks shapes: validate
  once at the Python boundary, as gmmc's own kernels do.

The results are those of gmmc's ``GaussianMixture`` (``score_samples``,
``predict_proba``) to floating-point round-off; tests/test_cimport.py builds
an extension against the installed gmmc and checks that.
"""
from cython cimport floating
from libc.math cimport exp, log, INFINITY


cdef enum:
    # Bumped whenever a signature or a documented result below changes.
    GMMC_KERNELS_API_VERSION = 1

cdef enum:
    # covariance_type codes, in the order of gmmc's and scikit-learn's names.
    COV_FULL = 0
    COV_TIED = 1
    COV_DIAG = 2
    COV_SPHERICAL = 3


cdef inline double _row_max(const floating* row, Py_ssize_t k) noexcept nogil:
    """Largest of row[0:k]; -inf when k == 0 or every entry is -inf."""
    cdef Py_ssize_t j
    cdef double m = -INFINITY
    for j in range(k):
        if row[j] > m:
            m = row[j]
    return m


cdef inline double logsumexp_rows(const floating* a, Py_ssize_t n, Py_ssize_t k,
                                  floating* out) noexcept nogil:
    """out[i] := log(sum_j exp(a[i, j])) for a (n, k); returns sum_i out[i].

    a : (n, k).  IN
    out : (n,), or NULL when only the total is wanted.  OUT
    A row of -inf only (or k == 0) gives -inf. Stable for any finite input:
    the row maximum is factored out before exponentiating.
    """
    cdef Py_ssize_t i, j
    cdef double m, s, t, ln, total = 0.0
    cdef const floating* row
    for i in range(n):
        row = a + i * k
        m = _row_max(row, k)
        if m == -INFINITY:
            ln = -INFINITY
        else:
            s = 0.0
            for j in range(k):
                t = row[j] - m
                if t > -745.0:  # exp underflows to 0 below; skip libm's slow path
                    s = s + exp(t)
            ln = m + log(s)
        if out != NULL:
            out[i] = <floating>ln
        total = total + ln
    return total


cdef inline double normalize_log_rows(floating* a, Py_ssize_t n, Py_ssize_t k,
                                      floating* log_norm) noexcept nogil:
    """Turn log-probabilities into responsibilities, in place (the E-step).

    a : (n, k).  IN: weighted log-densities log w_j + log N(x_i | j), e.g. from
        estimate_weighted_log_prob.  OUT: p(j | x_i), each row summing to 1.
    log_norm : (n,), or NULL.  OUT: log p(x_i), the per-sample log-likelihood.
    Returns sum_i log p(x_i). A row of -inf only becomes zeros, log-norm -inf.
    """
    cdef Py_ssize_t i, j
    cdef double m, s, t, e, ln, scale, total = 0.0
    cdef floating* row
    for i in range(n):
        row = a + i * k
        m = _row_max(row, k)
        if m == -INFINITY:
            for j in range(k):
                row[j] = 0
            ln = -INFINITY
        else:
            s = 0.0
            for j in range(k):
                t = row[j] - m
                e = exp(t) if t > -745.0 else 0.0
                row[j] = <floating>e
                s = s + e
            ln = m + log(s)
            scale = 1.0 / s
            for j in range(k):
                row[j] = <floating>(row[j] * scale)
        if log_norm != NULL:
            log_norm[i] = <floating>ln
        total = total + ln
    return total


cdef inline int log_gaussian(int covariance_type, const floating* x, Py_ssize_t n,
                             Py_ssize_t d, const floating* mean,
                             const floating* prec_chol, floating* out,
                             Py_ssize_t out_stride) noexcept nogil:
    """out[i * out_stride] := log N(x_i | mean, P^-1) for the rows of x (n, d).

    covariance_type : COV_FULL, COV_TIED, COV_DIAG or COV_SPHERICAL.  IN
    x : (n, d).  IN
    mean : (d,).  IN
    prec_chol : this component's precision Cholesky factor: (d, d) upper
        triangular for COV_FULL and COV_TIED, (d,) for COV_DIAG, a single value
        for COV_SPHERICAL.  IN
    out : OUT, written with stride out_stride: pass ``out + j`` and the number
        of components to fill column j of an (n, K) array.
    Returns 0, or -1 (and writes nothing) for an unknown covariance_type.
    """
    cdef Py_ssize_t i, a, b
    cdef double log_det = 0.0, s, y, t, p
    cdef const floating* row
    # -0.5 * d * log(2 pi) + log det(U)
    if covariance_type == COV_FULL or covariance_type == COV_TIED:
        for a in range(d):
            log_det = log_det + log(<double>prec_chol[a * d + a])
    elif covariance_type == COV_DIAG:
        for a in range(d):
            log_det = log_det + log(<double>prec_chol[a])
    elif covariance_type == COV_SPHERICAL:
        log_det = d * log(<double>prec_chol[0])
    else:
        return -1
    log_det = log_det - 0.5 * d * 1.8378770664093453

    for i in range(n):
        row = x + i * d
        s = 0.0
        if covariance_type == COV_FULL or covariance_type == COV_TIED:
            # y = (x - mean)^T U; U upper triangular, so y_b sums over a <= b.
            for b in range(d):
                y = 0.0
                for a in range(b + 1):
                    y = y + (row[a] - mean[a]) * prec_chol[a * d + b]
                s = s + y * y
        elif covariance_type == COV_DIAG:
            for a in range(d):
                t = (row[a] - mean[a]) * prec_chol[a]
                s = s + t * t
        else:
            for a in range(d):
                t = row[a] - mean[a]
                s = s + t * t
            p = prec_chol[0]
            s = s * p * p
        out[i * out_stride] = <floating>(log_det - 0.5 * s)
    return 0


cdef inline int estimate_weighted_log_prob(
        int covariance_type, const floating* x, Py_ssize_t n, Py_ssize_t d,
        Py_ssize_t k, const floating* log_weights, const floating* means,
        const floating* prec_chol, floating* out) noexcept nogil:
    """out (n, k) := log w_j + log N(x_i | mean_j, P_j^-1) for a whole mixture.

    covariance_type : COV_FULL, COV_TIED, COV_DIAG or COV_SPHERICAL.  IN
    x : (n, d).  IN
    log_weights : (k,) log mixing weights.  IN
    means : (k, d).  IN
    prec_chol : precisions_cholesky_ in the layout of covariance_type (see the
        module docstring).  IN
    out : (n, k).  OUT; normalize_log_rows turns it into responsibilities and
        log-likelihoods, logsumexp_rows into log-likelihoods only.
    Returns 0, or -1 (and writes nothing) for an unknown covariance_type.
    """
    cdef Py_ssize_t i, j
    cdef const floating* factor
    if (covariance_type != COV_FULL and covariance_type != COV_TIED
            and covariance_type != COV_DIAG and covariance_type != COV_SPHERICAL):
        return -1
    for j in range(k):
        if covariance_type == COV_FULL:
            factor = prec_chol + j * d * d
        elif covariance_type == COV_TIED:
            factor = prec_chol
        elif covariance_type == COV_DIAG:
            factor = prec_chol + j * d
        else:
            factor = prec_chol + j
        log_gaussian(covariance_type, x, n, d, means + j * d, factor, out + j, k)
        for i in range(n):
            out[i * k + j] = <floating>(out[i * k + j] + log_weights[j])
    return 0
