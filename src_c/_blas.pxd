# Thin row-major wrappers over SciPy's BLAS/LAPACK for both precisions.
#
# scipy.linalg.cython_blas speaks Fortran (column-major). A C-contiguous (m, n)
# array is the column-major (n, m) matrix, i.e. its transpose; every wrapper
# below does that reasoning once so kernels can think in row-major terms.
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm, dsyrk, ssyrk, dtrmm, strmm
from scipy.linalg.cython_lapack cimport dpotrf, dtrtri


cdef inline void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k,
                         floating alpha, const floating* a, int lda,
                         const floating* b, int ldb, floating beta,
                         floating* c, int ldc) noexcept nogil:
    """C (m, n) := alpha op(A) op(B) + beta C, all row-major.

    Row-major C is column-major C^T = op(B)^T op(A)^T, so swap the operands.
    """
    cdef char* ta = b"T" if trans_a else b"N"
    cdef char* tb = b"T" if trans_b else b"N"
    if floating is double:
        dgemm(tb, ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda,
              &beta, c, &ldc)
    else:
        sgemm(tb, ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
              &beta, c, &ldc)


cdef inline void syrk_upper_ata(int n, int k, floating alpha, const floating* a,
                                int lda, floating beta, floating* c,
                                int ldc) noexcept nogil:
    """Upper triangle (row-major) of C (n, n) := alpha A^T A + beta C, A (k, n).

    Row-major A is column-major M = A^T (n, k), and A^T A = M M^T ("N").
    The row-major upper triangle is the column-major lower one ("L").
    """
    if floating is double:
        dsyrk(b"L", b"N", &n, &k, &alpha, <double*>a, &lda, &beta, c, &ldc)
    else:
        ssyrk(b"L", b"N", &n, &k, &alpha, <float*>a, &lda, &beta, c, &ldc)


cdef inline void trmm_right_upper(int m, int n, const floating* u,
                                  floating* b, int ldb) noexcept nogil:
    """B (m, n) := B U in place, U (n, n) upper triangular, all row-major.

    Column-major view: B^T := U^T B^T, and the row-major upper U read
    column-major is U^T, which is lower triangular: side "L", uplo "L".
    """
    cdef floating one = 1.0
    if floating is double:
        dtrmm(b"L", b"L", b"N", b"N", &n, &m, &one, <double*>u, &n, b, &ldb)
    else:
        strmm(b"L", b"L", b"N", b"N", &n, &m, &one, <float*>u, &n, b, &ldb)


cdef inline int cholesky_lower_inplace(int n, double* a) noexcept nogil:
    """Row-major A (n, n) symmetric := U with A = U^T U, U upper; 0 on success.

    Column-major LAPACK "L" factor of the symmetric A is L with A = L L^T;
    read row-major, its storage is L^T = U. The untouched half is not zeroed.
    """
    cdef int info = 0
    dpotrf(b"L", &n, a, &n, &info)
    return info


cdef inline int invert_triangular_inplace(int n, double* a) noexcept nogil:
    """Invert the triangular factor left by cholesky_lower_inplace, in place."""
    cdef int info = 0
    dtrtri(b"L", b"N", &n, a, &n, &info)
    return info


# For small orders OpenBLAS's triangular and symmetric kernels (trmm, syrk)
# reach a half or less of its general product's speed, so below this order a
# GEMM doing twice their flops is the faster way (measured on AVX-512: at
# D = 32 GEMM gives 1.2-2.2x the useful GFLOP/s, at D = 64 trmm/syrk win).
cdef enum:
    TRIANGULAR_MIN_ORDER = 49


cdef inline floating* times_upper(int m, int n, const floating* u, floating* b,
                                  floating* work) noexcept nogil:
    """B U for B (m, n) and U (n, n) upper triangular, zeros below its diagonal.

    Returns where the product is: ``work`` (m, n) for the GEMM of small
    orders, else ``b`` itself (trmm, in place).
    """
    if n < TRIANGULAR_MIN_ORDER:
        gemm_rm(False, False, m, n, n, <floating>1.0, b, n, u, n, <floating>0.0, work, n)
        return work
    trmm_right_upper(m, n, u, b, n)
    return b


cdef inline void gram_upper(int n, int k, const floating* a, floating* c) noexcept nogil:
    """Upper triangle (row-major) of C (n, n) := A^T A, A (k, n).

    The strict lower triangle of C is overwritten or left as it was.
    """
    if n < TRIANGULAR_MIN_ORDER:
        gemm_rm(True, False, n, n, k, <floating>1.0, a, n, a, n, <floating>0.0, c, n)
    else:
        syrk_upper_ata(n, k, <floating>1.0, a, n, <floating>0.0, c, n)
