# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""k-means kernels: squared distances and one Lloyd step, chunked over rows.

Distances use ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 with one GEMM per chunk.
"""
import numpy as np

from cython cimport floating
from libc.stdlib cimport malloc, free

from _blas cimport gemm_rm

cdef enum:
    CHUNK = 256


cdef void _chunk_distances(const floating* x, int n, int d, const floating* centers,
                           const double* center_sq, int k, floating* out) noexcept nogil:
    """out (n, K) := squared distances of rows of x (n, D) to centers (K, D)."""
    cdef int i, j, a
    cdef double x_sq, dist
    gemm_rm(False, True, n, k, d, <floating>-2.0, x, d, centers, d, <floating>0.0, out, k)
    for i in range(n):
        x_sq = 0.0
        for a in range(d):
            x_sq = x_sq + x[i * d + a] * x[i * d + a]
        for j in range(k):
            dist = out[i * k + j] + x_sq + center_sq[j]
            out[i * k + j] = dist if dist > 0.0 else 0.0  # rounding can go below 0


def _check_centers(const floating[:, ::1] X, const floating[:, ::1] centers):
    if centers.shape[1] != X.shape[1]:
        raise ValueError(
            f"centers have {centers.shape[1]} features, X has {X.shape[1]}")
    if centers.shape[0] == 0:
        raise ValueError("centers must not be empty")
    return np.einsum("ij,ij->i", centers, centers).astype(np.float64)


def squared_distances(const floating[:, ::1] X, const floating[:, ::1] centers,
                      floating[:, ::1] out):
    """Squared Euclidean distances between samples and centres.

    Parameters
    ----------
    X : (N, D) float32 or float64.  IN
    centers : (K, D) same dtype.  IN
    out : (N, K) same dtype.  OUT
    """
    cdef double[::1] center_sq = _check_centers(X, centers)
    cdef Py_ssize_t n_samples = X.shape[0], start, chunk
    cdef int d = X.shape[1], k = centers.shape[0]
    if out.shape[0] != n_samples or out.shape[1] != k:
        raise ValueError(f"out must have shape {(n_samples, k)}")
    with nogil:
        for chunk in range((n_samples + CHUNK - 1) // CHUNK):
            start = chunk * CHUNK
            _chunk_distances(&X[start, 0], <int>min(CHUNK, n_samples - start), d,
                             &centers[0, 0], &center_sq[0], k, &out[start, 0])


def lloyd_step(const floating[:, ::1] X, sample_weight,
               const floating[:, ::1] centers, int[::1] labels,
               double[:, ::1] sums, double[::1] counts):
    """Assign each sample to its closest centre and accumulate cluster sums.

    Parameters
    ----------
    X : (N, D) float32 or float64.  IN
    sample_weight : (N,) same dtype as X, or None.  IN
    centers : (K, D) same dtype.  IN
    labels : (N,) int32.  OUT
    sums : (K, D).  IN/OUT: += sum of w_n x_n over each cluster.
    counts : (K,).  IN/OUT: += sum of w_n over each cluster.

    Returns
    -------
    inertia : float, sum of w_n ||x_n - c_{label_n}||^2.
    """
    cdef double[::1] center_sq = _check_centers(X, centers)
    cdef Py_ssize_t n_samples = X.shape[0], start, chunk, i
    cdef int d = X.shape[1], k = centers.shape[0], n, j, a, best
    if labels.shape[0] != n_samples:
        raise ValueError(f"labels must have {n_samples} entries")
    if sums.shape[0] != k or sums.shape[1] != d or counts.shape[0] != k:
        raise ValueError("sums must be (K, D) and counts (K,)")
    cdef const floating[::1] weight_view
    cdef const floating* weight = NULL
    if sample_weight is not None:
        weight_view = sample_weight
        if weight_view.shape[0] != n_samples:
            raise ValueError(f"sample_weight must have {n_samples} entries")
        if n_samples:
            weight = &weight_view[0]
    cdef double inertia = 0.0, w
    if n_samples == 0:
        return inertia
    cdef floating* dist = <floating*>malloc(CHUNK * k * sizeof(floating))
    if dist == NULL:
        raise MemoryError()
    with nogil:
        for chunk in range((n_samples + CHUNK - 1) // CHUNK):
            start = chunk * CHUNK
            n = <int>min(CHUNK, n_samples - start)
            _chunk_distances(&X[start, 0], n, d, &centers[0, 0], &center_sq[0], k, dist)
            for i in range(n):
                best = 0
                for j in range(1, k):
                    if dist[i * k + j] < dist[i * k + best]:
                        best = j
                w = 1.0 if weight == NULL else weight[start + i]
                labels[start + i] = best
                inertia += w * dist[i * k + best]
                counts[best] += w
                for a in range(d):
                    sums[best, a] += w * X[start + i, a]
    free(dist)
    return inertia
