# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""k-means kernels: distances, k-means++ potentials and Lloyd steps, chunked over rows.

Every kernel works on centred rows x - offset (offset: float64, typically the
data mean), chunk by chunk: ||x - c||^2 = ||x'||^2 - 2 x'.c' + ||c'||^2 with one
GEMM per chunk loses precision in proportion to ||x'||^2, so data far from the
origin (timestamps, projected coordinates) would otherwise get distances that
are all rounding error. Centres are passed and returned centred as well.
Nothing N x D or N x K is allocated: the work space is one chunk.
"""
import numpy as np

from gmmc import _team

from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.stdint cimport int32_t, int64_t
from libc.float cimport DBL_EPSILON, DBL_MAX
from libc.math cimport INFINITY, sqrt
from libc.stdlib cimport malloc, free

from _blas cimport gemm_rm
from _team_run cimport line_aligned, line_stride, row_blocks, team_run_fn, team_run_from

cdef extern from "_vectorized.h":
    void gmmc_center_sq_norms_d(const double* x, int n, int d, const double* offset,
                                double* centred, double* sq) noexcept nogil
    void gmmc_center_sq_norms_f(const float* x, int n, int d, const double* offset,
                                float* centred, double* sq) noexcept nogil
    void gmmc_direct_distances_d(const double* x, int n, int d, const double* offset,
                                 const double* centers, int t, double* centred,
                                 double* out, int64_t ld) noexcept nogil
    void gmmc_direct_distances_f(const float* x, int n, int d, const double* offset,
                                 const float* centers, int t, float* centred,
                                 float* out, int64_t ld) noexcept nogil
    void gmmc_seed_potentials_d(const double* dist, int64_t ld, int n, int t,
                                const double* closest, const double* weight,
                                double* lanes) noexcept nogil
    void gmmc_seed_potentials_f(const float* dist, int64_t ld, int n, int t,
                                const float* closest, const float* weight,
                                double* lanes) noexcept nogil
    enum: GMMC_SEARCH_SPAN
    double gmmc_span_sums_d(const double* values, const double* weight, int64_t n,
                            double* spans) noexcept nogil
    double gmmc_span_sums_f(const float* values, const float* weight, int64_t n,
                            double* spans) noexcept nogil
    void gmmc_min_into_d(double* closest, const double* values, int64_t n) noexcept nogil
    void gmmc_min_into_f(float* closest, const float* values, int64_t n) noexcept nogil
    void gmmc_min_into_labelled_d(double* closest, int32_t* labels, const double* values,
                                  int64_t n, int32_t label) noexcept nogil
    void gmmc_min_into_labelled_f(float* closest, int32_t* labels, const float* values,
                                  int64_t n, int32_t label) noexcept nogil
    void gmmc_lloyd_assign_d(const double* g, int64_t ld, int n, int k, const double* x_sq,
                             const double* c_sq, const double* centred, int d,
                             const double* weight, int* labels, double* sums,
                             double* counts, double* inertia,
                             int64_t* n_changed) noexcept nogil
    void gmmc_lloyd_assign_f(const float* g, int64_t ld, int n, int k, const double* x_sq,
                             const double* c_sq, const float* centred, int d,
                             const float* weight, int* labels, double* sums,
                             double* counts, double* inertia,
                             int64_t* n_changed) noexcept nogil

cdef extern from "_microkernels.h":
    int gmmc_have_avx512() noexcept nogil
    void gmmc_seed_distances_d(const double* x, int n, int d, const double* offset,
                               const double* centers, int t, double* work,
                               double* out, int64_t ld, const double* closest,
                               const double* weight, double* lanes) noexcept nogil
    void gmmc_seed_distances_f(const float* x, int n, int d, const double* offset,
                               const float* centers, int t, float* work,
                               float* out, int64_t ld, const float* closest,
                               const float* weight, double* lanes) noexcept nogil
    enum: GMMC_PRUNED_ROWS, GMMC_PRUNED_QUEUE
    void gmmc_seed_pruned_d(const double* x, int64_t n, int d, const double* offset,
                            const double* centers, int t, double* work, double* out,
                            int64_t ld, int out_moves, const double* closest,
                            const double* weight, double* lanes, const int32_t* labels,
                            const double* min_limit, int kt, int32_t* queue) noexcept nogil
    void gmmc_seed_pruned_f(const float* x, int64_t n, int d, const double* offset,
                            const float* centers, int t, float* work, float* out,
                            int64_t ld, int out_moves, const float* closest,
                            const float* weight, double* lanes, const int32_t* labels,
                            const double* min_limit, int kt, int32_t* queue) noexcept nogil
    void gmmc_pruned_update_d(double* closest, int32_t* labels, const double* out,
                              int64_t n, int32_t label, const double* min_limit,
                              int kt) noexcept nogil
    void gmmc_pruned_update_f(float* closest, int32_t* labels, const float* out,
                              int64_t n, int32_t label, const double* min_limit,
                              int kt) noexcept nogil
    int GMMC_LLOYD_MIN_K, GMMC_LLOYD_MIN_K_F, GMMC_LLOYD_MAX_K
    ctypedef struct GmmcLloydBounds:
        const double* move
        const double* half_gap
        double move_max, c_norm_max, err_scale, slack
        int fresh
    void gmmc_lloyd_bounded_rows_d(const double* x, int64_t n, int d, const double* offset,
                                   const double* ct, int kp, const double* c_sq,
                                   const double* weight, int* labels, double* sums,
                                   double* counts, int64_t* n_changed, double* centred,
                                   double* upper, double* lower,
                                   const GmmcLloydBounds* bounds) noexcept nogil
    void gmmc_lloyd_bounded_rows_f(const float* x, int64_t n, int d, const double* offset,
                                   const float* ct, int kp, const double* c_sq,
                                   const float* weight, int* labels, double* sums,
                                   double* counts, int64_t* n_changed, float* centred,
                                   double* upper, double* lower,
                                   const GmmcLloydBounds* bounds) noexcept nogil
    void gmmc_lloyd_rows_d(const double* x, int64_t n, int d, const double* offset,
                           const double* ct, int kp, const double* c_sq,
                           const double* weight, int* labels, double* sums,
                           double* counts, double* inertia, int64_t* n_changed,
                           double* centred) noexcept nogil
    void gmmc_lloyd_rows_f(const float* x, int64_t n, int d, const double* offset,
                           const float* ct, int kp, const double* c_sq,
                           const float* weight, int* labels, double* sums,
                           double* counts, double* inertia, int64_t* n_changed,
                           float* centred) noexcept nogil

cdef enum:
    CHUNK = 256  # GMMC_PRUNED_ROWS too: the pruned kernel's chunks fill a chunk's work space
if GMMC_PRUNED_ROWS != CHUNK:
    raise ImportError("gmmc._kmeans: GMMC_PRUNED_ROWS must equal CHUNK")

# The process's one team of helper threads.
cdef team_run_fn team_run = team_run_from(_team.run)

# k-means++'s distances use the AVX-512 kernel where the CPU has it.
cdef bint HAVE_AVX512 = gmmc_have_avx512()
AVX512 = bool(HAVE_AVX512)  # for tests


cdef void _chunk_distances(const floating* x, int n, int d, const double* offset,
                           const floating* centers, const double* center_sq, int k,
                           floating* centred, floating* out) noexcept nogil:
    """out (n, K) := squared distances of rows of x - offset (n, D) to centers (K, D).

    ``centred`` (n, D) is work space; it holds the centred rows afterwards.
    n <= CHUNK.
    """
    cdef int i, j
    cdef double dist
    cdef double x_sq[CHUNK]
    if floating is double:
        gmmc_center_sq_norms_d(x, n, d, offset, centred, x_sq)
    else:
        gmmc_center_sq_norms_f(x, n, d, offset, centred, x_sq)
    gemm_rm(False, True, n, k, d, <floating>-2.0, centred, d, centers, d,
            <floating>0.0, out, k)
    for i in range(n):
        for j in range(k):
            dist = out[i * k + j] + x_sq[i] + center_sq[j]
            out[i * k + j] = dist if dist > 0.0 else 0.0  # rounding can go below 0


cdef inline void _seed_distances(const floating* x, int n, int d, const double* offset,
                                const floating* centers, int t, floating* centred,
                                floating* out, int64_t ld, bint vectorized) noexcept nogil:
    """out[j * ld + i] := squared distance of row i of x - offset to centred
    centre j (n <= CHUNK rows, t centres), a sum of squared differences:
    k-means++ scores a few candidates per pass, too few for a GEMM
    (``_chunk_distances``) to pay. ``centred``: CHUNK * d values of work space.
    ``vectorized``: the AVX-512 kernel (callers pass HAVE_AVX512); both
    versions sum in the same order."""
    if vectorized:
        if floating is double:
            gmmc_seed_distances_d(x, n, d, offset, centers, t, centred, out, ld,
                                  NULL, NULL, NULL)
        else:
            gmmc_seed_distances_f(x, n, d, offset, centers, t, centred, out, ld,
                                  NULL, NULL, NULL)
    elif floating is double:
        gmmc_direct_distances_d(x, n, d, offset, centers, t, centred, out, ld)
    else:
        gmmc_direct_distances_f(x, n, d, offset, centers, t, centred, out, ld)


def seed_distances(const floating[:, ::1] X, const double[::1] offset,
                   const floating[:, ::1] centers, floating[:, :] out,
                   bint vectorized=True):
    """out (T, N) := the distances k-means++ uses (``_seed_distances``);
    ``vectorized=False``, or a CPU without AVX-512, takes the portable loop.
    For tests."""
    _check_centers(X, offset, centers)
    cdef Py_ssize_t n_samples = X.shape[0], start, chunk
    cdef int d = X.shape[1], t = centers.shape[0]
    _check_kept(out, t, n_samples, sizeof(floating))
    cdef _Work work = _Work(d, t, sizeof(floating))
    if n_samples == 0:
        return
    with nogil:
        for chunk in range((n_samples + CHUNK - 1) // CHUNK):
            start = chunk * CHUNK
            _seed_distances(&X[start, 0], <int>min(CHUNK, n_samples - start), d,
                            &offset[0], &centers[0, 0], t, <floating*>work.centred,
                            &out[0, start], out.strides[0] // sizeof(floating),
                            vectorized and HAVE_AVX512)


cdef class _Work:
    """A chunk's work space, centred rows and distances, for each of
    ``n_tasks`` blocks of rows (task t's at t * centred_bytes, t * dist_bytes,
    t * queue_bytes). Centred rows may be padded to whole 64-byte lines (the
    pruned k-means++ kernel's, whose chunks are CHUNK rows); ``queues``: that
    kernel's lists of rows."""
    cdef char* centred
    cdef char* dist
    cdef char* queue
    cdef size_t centred_bytes, dist_bytes, queue_bytes

    def __cinit__(self, int d, int k, int itemsize, int n_tasks=1, bint queues=False):
        self.centred_bytes = <size_t>CHUNK * ((<size_t>d * itemsize + 63) // 64 * 64)
        self.dist_bytes = <size_t>CHUNK * k * itemsize
        self.queue_bytes = GMMC_PRUNED_QUEUE * sizeof(int32_t) if queues else 0
        self.centred = <char*>malloc(n_tasks * self.centred_bytes)
        self.dist = <char*>malloc(n_tasks * self.dist_bytes)
        self.queue = <char*>malloc(n_tasks * self.queue_bytes + 1)
        if self.centred == NULL or self.dist == NULL or self.queue == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.centred)
        free(self.dist)
        free(self.queue)


cdef struct CenterLanes:
    # The centres laid out for gmmc_lloyd_rows_*: ct = -2 C^T (D, kp) in X's
    # type and c_sq = ||c||^2 (kp,), kp = K rounded up to 16, +inf past K
    # (never chosen). ct is NULL where that kernel does not run: Lloyd's
    # steps then take the chunked GEMM.
    void* ct
    double* c_sq
    int kp, d, k


cdef class _CenterLanes:
    """Owns a CenterLanes; ``ct`` stays NULL without AVX-512, outside
    GMMC_LLOYD_MIN_K .. GMMC_LLOYD_MAX_K centres, or when not ``wanted``."""
    cdef CenterLanes lanes

    def __cinit__(self, int d, int k, int itemsize, bint wanted=True):
        self.lanes.kp = (k + 15) // 16 * 16
        self.lanes.d, self.lanes.k = d, k
        self.lanes.ct = NULL
        self.lanes.c_sq = NULL
        cdef int min_k = GMMC_LLOYD_MIN_K if itemsize == 8 else GMMC_LLOYD_MIN_K_F
        if wanted and HAVE_AVX512 and min_k <= k <= GMMC_LLOYD_MAX_K:
            self.lanes.ct = malloc(<size_t>d * self.lanes.kp * itemsize)
            self.lanes.c_sq = <double*>malloc(self.lanes.kp * sizeof(double))
            if self.lanes.ct == NULL or self.lanes.c_sq == NULL:
                raise MemoryError()

    def __dealloc__(self):
        free(self.lanes.ct)
        free(self.lanes.c_sq)


cdef void _fill_lanes(CenterLanes* lanes, const floating* centers,
                      const double* center_sq) noexcept nogil:
    """lanes := the layout of centres (K, D) with squared norms center_sq."""
    cdef int j, b, kp = lanes.kp, k = lanes.k, d = lanes.d
    cdef floating* ct = <floating*>lanes.ct
    if ct == NULL:
        return
    for b in range(d):
        for j in range(kp):
            ct[b * kp + j] = <floating>(-2.0) * centers[j * d + b] if j < k else 0
    for j in range(kp):
        lanes.c_sq[j] = center_sq[j] if j < k else INFINITY


def _check_centers(const floating[:, ::1] X, const double[::1] offset,
                   const floating[:, ::1] centers):
    if centers.shape[1] != X.shape[1]:
        raise ValueError(
            f"centers have {centers.shape[1]} features, X has {X.shape[1]}")
    if centers.shape[0] == 0:
        raise ValueError("centers must not be empty")
    if offset.shape[0] != X.shape[1]:
        raise ValueError(f"offset must have {X.shape[1]} entries, got {offset.shape[0]}")
    # ||c||^2 in float64 (a loop: einsum's set-up costs more on small K x D).
    squares = np.empty(centers.shape[0])
    cdef double[::1] out = squares
    cdef double total
    cdef Py_ssize_t j, a
    with nogil:
        for j in range(centers.shape[0]):
            total = 0.0
            for a in range(centers.shape[1]):
                total = total + <double>centers[j, a] * <double>centers[j, a]
            out[j] = total
    return squares


cdef inline const floating* _weights(const floating[::1] view,
                                     Py_ssize_t n_samples) except? NULL:
    """Pointer to the sample weights, NULL without them (or without samples)."""
    if view is None or n_samples == 0:
        return NULL
    if view.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have {n_samples} entries")
    return &view[0]


def squared_distances(const floating[:, ::1] X, const double[::1] offset,
                      const floating[:, ::1] centers, floating[:, ::1] out):
    """Squared Euclidean distances between samples and centres.

    Parameters
    ----------
    X : (N, D) float32 or float64.  IN
    offset : (D,) float64 subtracted from every row of X.  IN
    centers : (K, D) same dtype as X, already centred (c - offset).  IN
    out : (N, K) same dtype.  OUT
    """
    cdef double[::1] center_sq = _check_centers(X, offset, centers)
    cdef Py_ssize_t n_samples = X.shape[0], start, chunk
    cdef int d = X.shape[1], k = centers.shape[0]
    if out.shape[0] != n_samples or out.shape[1] != k:
        raise ValueError(f"out must have shape {(n_samples, k)}")
    cdef _Work work = _Work(d, k, sizeof(floating))
    with nogil:
        for chunk in range((n_samples + CHUNK - 1) // CHUNK):
            start = chunk * CHUNK
            _chunk_distances(&X[start, 0], <int>min(CHUNK, n_samples - start), d,
                             &offset[0], &centers[0, 0], &center_sq[0], k,
                             <floating*>work.centred, &out[start, 0])


cdef struct ClosestJob:
    # update_closest over row blocks, a task per block, each block's
    # potential apart (parts[task])
    const void* X              # (N, D), X's type
    const void* weight         # (N,) or NULL
    const double* offset
    const void* center         # (D,) centred
    void* closest              # (N,)
    int d
    const int64_t* blocks
    double* parts              # (n_tasks,)
    char* centred              # (n_tasks,) work spaces of centred_bytes
    char* dist
    size_t centred_bytes, dist_bytes


cdef double _update_closest(const floating* X, Py_ssize_t n_samples, int d,
                            const floating* weight, const double* offset,
                            const floating* center, floating* closest,
                            floating* centred, floating* dist) noexcept nogil:
    """closest := min(closest, squared distance to center) for n_samples
    rows (``_closest_to_candidate``); returns sum of w_n closest_n, added in
    row order."""
    cdef Py_ssize_t i
    cdef double potential = 0.0
    _closest_to_candidate(X, n_samples, d, offset, center, closest, centred, dist)
    for i in range(n_samples):
        potential += closest[i] * (1.0 if weight == NULL else weight[i])
    return potential


cdef void _closest_task(ClosestJob* job, int task, const floating* X,
                        const floating* weight) noexcept nogil:
    cdef int64_t first = job.blocks[task], stop = job.blocks[task + 1]
    job.parts[task] = _update_closest(
        X + first * job.d, stop - first, job.d, NULL if weight == NULL else weight + first,
        job.offset, <const floating*>job.center, <floating*>job.closest + first,
        <floating*>(job.centred + task * job.centred_bytes),
        <floating*>(job.dist + task * job.dist_bytes))


cdef void _closest_task_d(void* ctx, int task) noexcept nogil:
    cdef ClosestJob* job = <ClosestJob*>ctx
    _closest_task(job, task, <const double*>job.X, <const double*>job.weight)


cdef void _closest_task_f(void* ctx, int task) noexcept nogil:
    cdef ClosestJob* job = <ClosestJob*>ctx
    _closest_task(job, task, <const float*>job.X, <const float*>job.weight)


def update_closest(const floating[:, ::1] X, sample_weight, const double[::1] offset,
                   const floating[:, ::1] center, floating[::1] closest, blocks=None,
                   int n_threads=1):
    """closest := min(closest, squared distance to ``center``); returns the potential.

    Parameters
    ----------
    X : (N, D) float32 or float64.  IN
    sample_weight : (N,) same dtype as X, or None.  IN
    offset : (D,) float64.  IN
    center : (1, D) same dtype, centred.  IN
    closest : (N,) same dtype.  IN/OUT (start from +inf for the first centre)
    blocks, n_threads : as ``lloyd_loop``: each block's potential apart,
        added in block order (as a sum of the blocks' calls).  IN

    Returns
    -------
    potential : float, sum of w_n closest_n after the update.
    """
    _check_centers(X, offset, center)
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef int d = X.shape[1], task
    if center.shape[0] != 1 or closest.shape[0] != n_samples:
        raise ValueError(f"center must be (1, D) and closest ({n_samples},)")
    if n_samples == 0:
        return 0.0
    cdef const floating[::1] weight_view = sample_weight
    cdef int64_t[::1] bounds = row_blocks(blocks, n_samples)
    cdef int n_tasks = bounds.shape[0] - 1
    cdef double[::1] parts = np.empty(n_tasks)
    cdef _Work work = _Work(d, 1, sizeof(floating), n_tasks)
    cdef double potential = 0.0
    cdef ClosestJob job
    job.X, job.weight, job.offset = &X[0, 0], _weights(weight_view, n_samples), &offset[0]
    job.center, job.closest, job.d = &center[0, 0], &closest[0], d
    job.blocks, job.parts = &bounds[0], &parts[0]
    job.centred, job.dist = work.centred, work.dist
    job.centred_bytes, job.dist_bytes = work.centred_bytes, work.dist_bytes
    with nogil:
        team_run(n_threads, n_tasks, _closest_task_d if floating is double
                 else _closest_task_f, &job)
        for task in range(n_tasks):
            potential = potential + parts[task]
    return potential


cdef inline void _min_into(floating* closest, const floating* values,
                           Py_ssize_t n, int32_t* labels=NULL, int32_t label=0) noexcept nogil:
    """closest := min(closest, values), and labels := label where values are
    nearer, unless labels is NULL."""
    if labels != NULL:
        if floating is double:
            gmmc_min_into_labelled_d(closest, labels, values, n, label)
        else:
            gmmc_min_into_labelled_f(closest, labels, values, n, label)
    elif floating is double:
        gmmc_min_into_d(closest, values, n)
    else:
        gmmc_min_into_f(closest, values, n)


def candidate_potentials(const floating[:, ::1] X, sample_weight,
                         const double[::1] offset, const floating[:, ::1] candidates,
                         const floating[::1] closest, double[::1] potentials,
                         floating[:, :] kept=None, bint vectorized=True):
    """k-means++ potential of each candidate centre, without an N x T temporary.

    potentials[t] += sum_n w_n min(closest_n, ||x_n - candidates_t||^2).
    ``candidates`` (T, D) are centred; ``closest`` (N,) is each sample's
    squared distance to the centres chosen so far. ``kept`` (T, N), if given
    (rows may be a slice of longer ones), receives the distances, for
    ``closest_to_candidate``. ``vectorized=False`` takes the portable loops
    (for tests).
    """
    _check_centers(X, offset, candidates)
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef int d = X.shape[1], t = candidates.shape[0]
    if closest.shape[0] != n_samples or potentials.shape[0] != t:
        raise ValueError(f"closest must be ({n_samples},) and potentials ({t},)")
    _check_kept(kept, t, n_samples, sizeof(floating))
    cdef const floating[::1] weight_view = sample_weight
    cdef const floating* weight = _weights(weight_view, n_samples)
    cdef _Work work = _Work(d, t, sizeof(floating))
    if n_samples == 0:
        return
    cdef floating* kept_ptr = NULL if kept is None else &kept[0, 0]
    cdef int64_t kept_ld = 0 if kept is None else kept.strides[0] // sizeof(floating)
    cdef double[::1] lanes = np.zeros(8 * t)
    with nogil:
        _candidate_potentials(&X[0, 0], n_samples, d, weight, &offset[0],
                              &candidates[0, 0], t, &closest[0], &lanes[0],
                              <floating*>work.centred, <floating*>work.dist,
                              kept_ptr, kept_ld, vectorized and HAVE_AVX512)
    for j in range(t):
        potentials[j] += _sum_lanes(&lanes[8 * j])


def _check_kept(kept, int t, Py_ssize_t n_samples, int itemsize):
    if kept is not None and (kept.shape[0] != t or kept.shape[1] != n_samples
                             or (n_samples > 1 and kept.strides[1] != itemsize)):
        raise ValueError(f"kept must be ({t}, {n_samples}) with contiguous rows")


cdef inline double _sum_lanes(const double* lanes) noexcept nogil:
    """The lanes of gmmc_seed_potentials added pairwise."""
    return (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))


cdef struct Pruning:
    # What gmmc_seed_pruned_* needs besides the candidates' pass: each row's
    # closest centre and, per centre, the distance to it within which no
    # candidate can be nearer (kmeans_plusplus_loop).
    const int32_t* labels      # (N,) of the rows passed
    const double* min_limit    # (kt,), padded to a multiple of 16
    int kt                     # centres so far
    int32_t* queue             # work space: _Work's queues


cdef void _candidate_potentials(const floating* X, Py_ssize_t n_samples, int d,
                                const floating* weight, const double* offset,
                                const floating* candidates, int t,
                                const floating* closest, double* lanes,
                                floating* centred, floating* dist,
                                floating* kept, int64_t kept_ld,
                                bint vectorized, const Pruning* pruning=NULL) noexcept nogil:
    """lanes (8 t): the candidates' potentials (gmmc_seed_potentials); the
    distances go to kept (T rows kept_ld apart) unless it is NULL.
    ``vectorized``: the AVX-512 kernel, which adds the potentials up as it
    goes (callers pass HAVE_AVX512); with ``pruning`` too, its pruned version
    (the same potentials; a distance it proves unneeded is not written to
    kept: gmmc_pruned_update_* knows which)."""
    cdef Py_ssize_t start, chunk
    cdef int n
    cdef int64_t ld = CHUNK
    if vectorized and pruning != NULL:  # its own chunks (GMMC_PRUNED_ROWS = CHUNK)
        if floating is double:
            gmmc_seed_pruned_d(X, n_samples, d, offset, candidates, t, centred,
                               dist if kept == NULL else kept,
                               CHUNK if kept == NULL else kept_ld, kept != NULL, closest,
                               weight, lanes, pruning.labels, pruning.min_limit,
                               pruning.kt, pruning.queue)
        else:
            gmmc_seed_pruned_f(X, n_samples, d, offset, candidates, t, centred,
                               dist if kept == NULL else kept,
                               CHUNK if kept == NULL else kept_ld, kept != NULL, closest,
                               weight, lanes, pruning.labels, pruning.min_limit,
                               pruning.kt, pruning.queue)
        return
    for chunk in range((n_samples + CHUNK - 1) // CHUNK):
        start = chunk * CHUNK
        n = <int>min(CHUNK, n_samples - start)
        if kept != NULL:
            dist = kept + start
            ld = kept_ld
        if vectorized:
            if floating is double:
                gmmc_seed_distances_d(X + start * d, n, d, offset, candidates, t, centred,
                                      dist, ld, closest + start,
                                      NULL if weight == NULL else weight + start, lanes)
            else:
                gmmc_seed_distances_f(X + start * d, n, d, offset, candidates, t, centred,
                                      dist, ld, closest + start,
                                      NULL if weight == NULL else weight + start, lanes)
            continue
        _seed_distances(X + start * d, n, d, offset, candidates, t, centred, dist, ld,
                        False)
        if floating is double:
            gmmc_seed_potentials_d(dist, ld, n, t, closest + start,
                                   NULL if weight == NULL else weight + start, lanes)
        else:
            gmmc_seed_potentials_f(dist, ld, n, t, closest + start,
                                   NULL if weight == NULL else weight + start, lanes)


def closest_to_candidate(const floating[:, ::1] X, const double[::1] offset,
                         const floating[:, ::1] candidates, int best,
                         floating[::1] closest, const floating[:, :] kept=None):
    """closest := min(closest, squared distance to candidate ``best``).

    The distances are those ``candidate_potentials`` computed (which also gave
    the new potential): read from ``kept`` (T, N) when it was given one, else
    computed again for ``best`` alone, the same way, so with the same rounding.
    """
    _check_centers(X, offset, candidates)
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef int d = X.shape[1], t = candidates.shape[0]
    if closest.shape[0] != n_samples or not 0 <= best < t:
        raise ValueError(f"closest must be ({n_samples},) and best in [0, {t})")
    _check_kept(kept, t, n_samples, sizeof(floating))
    cdef _Work work = _Work(d, 1, sizeof(floating))
    if n_samples == 0:
        return
    with nogil:
        if kept is not None:
            _min_into(&closest[0], &kept[best, 0], n_samples)
        else:
            _closest_to_candidate(&X[0, 0], n_samples, d, &offset[0],
                                  &candidates[best, 0], &closest[0],
                                  <floating*>work.centred, <floating*>work.dist)


cdef void _closest_to_candidate(const floating* X, Py_ssize_t n_samples, int d,
                                const double* offset, const floating* candidate,
                                floating* closest, floating* centred,
                                floating* dist, int32_t* labels=NULL,
                                int32_t label=0) noexcept nogil:
    cdef Py_ssize_t start, chunk
    cdef int n
    for chunk in range((n_samples + CHUNK - 1) // CHUNK):
        start = chunk * CHUNK
        n = <int>min(CHUNK, n_samples - start)
        _seed_distances(X + start * d, n, d, offset, candidate, 1, centred, dist, CHUNK,
                        HAVE_AVX512)
        _min_into(closest + start, dist, n, NULL if labels == NULL else labels + start,
                  label)


def cumulative_search(const floating[::1] values, sample_weight,
                      const double[::1] targets, bint right, bint located=True):
    """``np.searchsorted(np.cumsum(w * values), targets, side)`` without the
    N-sized cumulative sum (k-means++ draws).

    The terms w_n * values_n (w_n = 1 without weights) are summed in order in
    float64, as np.cumsum does, so the indices are the same. ``targets`` must
    be sorted; the result is clipped to the last index. ``located=False``
    takes the plain running sum (``_located_search`` is skipped; for tests).
    """
    cdef Py_ssize_t n = values.shape[0], n_targets = targets.shape[0]
    cdef const floating[::1] weight_view = sample_weight
    cdef const floating* weight = _weights(weight_view, n)
    out = np.empty(n_targets, dtype=np.intp)
    cdef Py_ssize_t[::1] found = out
    if n == 0:
        raise ValueError("values must not be empty")
    if n_targets == 0:
        return out
    cdef double[::1] spans = np.empty(_n_spans(n))
    with nogil:
        _cumulative_search(&values[0], n, weight, &targets[0], n_targets, right,
                           &found[0], &spans[0] if located else NULL)
    return out


cdef inline Py_ssize_t _n_spans(Py_ssize_t n) noexcept nogil:
    return (n + GMMC_SEARCH_SPAN - 1) // GMMC_SEARCH_SPAN


cdef void _cumulative_search(const floating* values, Py_ssize_t n, const floating* weight,
                             const double* targets, Py_ssize_t n_targets, bint right,
                             Py_ssize_t* found, double* spans) noexcept nogil:
    """``cumulative_search``; ``spans``: _n_spans(n) values of work space, or
    NULL for the plain running sum."""
    if spans != NULL and n > 2 * GMMC_SEARCH_SPAN:
        if _located_search(values, n, weight, targets, n_targets, found, spans):
            return
    cdef Py_ssize_t i = 0, t = 0
    cdef double total = 0.0
    while i < n and t < n_targets:
        total += values[i] * (1.0 if weight == NULL else <double>weight[i])
        # side='left': first i with cumsum >= target; 'right': > target.
        while t < n_targets and (total > targets[t] if right else total >= targets[t]):
            found[t] = i
            t += 1
        i += 1
    while t < n_targets:
        found[t] = n - 1
        t += 1


cdef bint _located_search(const floating* values, Py_ssize_t n, const floating* weight,
                          const double* targets, Py_ssize_t n_targets, Py_ssize_t* found,
                          double* spans) noexcept nogil:
    """The plain running sum's answers without its N dependent additions
    (0.06-0.07 ms a k-means++ centre at N = 100 000, against 0.03 here), or
    False where it cannot be sure of one.

    The running sum S_i of nonnegative terms is nondecreasing, and S_i and
    any other order's sum A_i of the same terms (here: the spans' sums, in
    8 lanes, then a running sum from the spans before i) are each
    within (N + 2 GMMC_SEARCH_SPAN) u S_N (u = 2^-53) of the exact sum; the
    margin is twice their sum. So A_i below target - margin means S_i is
    below the target, above target + margin that S_i is above it, for
    either side. A target within the margin of some A_i, or a negative, NaN
    or infinite term, leaves it to the plain running sum.
    """
    cdef double total
    if floating is double:
        total = gmmc_span_sums_d(values, weight, n, spans)
    else:
        total = gmmc_span_sums_f(values, weight, n, spans)
    if not total < INFINITY:  # NaN: a term negative or NaN
        return False
    cdef double margin = 4.0 * (n + 2 * GMMC_SEARCH_SPAN) * (DBL_EPSILON / 2) * total
    cdef Py_ssize_t n_spans = _n_spans(n), s = 0, t, i
    cdef double start = 0.0, running, target
    for t in range(n_targets):
        target = targets[t]
        while s < n_spans and start + spans[s] < target - margin:
            start += spans[s]
            s += 1
        found[t] = n - 1  # past the total: clipped, as np.searchsorted then min
        running = start
        for i in range(s * GMMC_SEARCH_SPAN, n):
            running += values[i] * (1.0 if weight == NULL else <double>weight[i])
            if running >= target - margin:
                if running <= target + margin:
                    return False
                found[t] = i
                break
    return True


def uniform_choice(Py_ssize_t n, double u):
    """``RandomState.choice(n, p=np.full(n, 1 / n))``'s index for its uniform draw u.

    choice builds cdf = cumsum(p), divides it by its last entry and takes the
    first index whose cdf exceeds u; the same sums in the same order give the
    same index, without the two N-sized arrays.
    """
    if n < 1:
        raise ValueError("n must be positive")
    cdef double p = 1.0 / <double>n, last = 0.0, total = 0.0
    cdef Py_ssize_t i, found = n - 1
    with nogil:
        for i in range(n):
            last += p
        for i in range(n):
            total += p
            if total / last > u:
                found = i
                break
    return found


def lloyd_step(const floating[:, ::1] X, sample_weight, const double[::1] offset,
               const floating[:, ::1] centers, int[::1] labels,
               double[:, ::1] sums, double[::1] counts, bint lanes=True):
    """Assign each sample to its closest centre and accumulate cluster sums.

    Parameters
    ----------
    X : (N, D) float32 or float64.  IN
    sample_weight : (N,) same dtype as X, or None.  IN
    offset : (D,) float64 subtracted from every row.  IN
    centers : (K, D) same dtype, centred.  IN
    labels : (N,) int32.  IN/OUT: the previous labels, replaced by the new ones.
    sums : (K, D).  IN/OUT: += sum of w_n (x_n - offset) over each cluster.
    counts : (K,).  IN/OUT: += sum of w_n over each cluster.
    lanes : the AVX-512 kernel with the centres in its lanes where it runs
        (``_CenterLanes``); False: the chunked GEMM. For tests.

    Returns
    -------
    (inertia, n_changed) : sum of w_n ||x_n - c_{label_n}||^2, and the number of
        labels that differ from the ones passed in.
    """
    cdef double[::1] center_sq = _check_centers(X, offset, centers)
    cdef Py_ssize_t n_samples = X.shape[0], n_changed = 0
    cdef int d = X.shape[1], k = centers.shape[0]
    if labels.shape[0] != n_samples:
        raise ValueError(f"labels must have {n_samples} entries")
    if sums.shape[0] != k or sums.shape[1] != d or counts.shape[0] != k:
        raise ValueError("sums must be (K, D) and counts (K,)")
    cdef const floating[::1] weight_view = sample_weight
    cdef const floating* weight = _weights(weight_view, n_samples)
    cdef double inertia = 0.0
    cdef _Work work = _Work(d, k, sizeof(floating))
    cdef _CenterLanes center_lanes = _CenterLanes(d, k, sizeof(floating), lanes)
    if n_samples == 0:
        return inertia, n_changed
    with nogil:
        _fill_lanes(&center_lanes.lanes, &centers[0, 0], &center_sq[0])
        inertia = _lloyd_step(&X[0, 0], n_samples, d, weight, &offset[0], &centers[0, 0],
                              &center_sq[0], k, &center_lanes.lanes, &labels[0], &sums[0, 0],
                              &counts[0], <floating*>work.centred, <floating*>work.dist,
                              &n_changed)
    return inertia, n_changed


cdef double _lloyd_step(const floating* X, Py_ssize_t n_samples, int d,
                        const floating* weight, const double* offset,
                        const floating* centers, const double* center_sq, int k,
                        const CenterLanes* lanes, int* labels, double* sums,
                        double* counts,
                        floating* centred, floating* dist,
                        Py_ssize_t* n_changed) noexcept nogil:
    """``dist``: CHUNK * k values of work space, for -2 C x'^T (k, chunk);
    ``lanes``: the centres filled in (``_fill_lanes``), for the AVX-512
    kernel where its ``ct`` is not NULL."""
    cdef Py_ssize_t start, chunk
    cdef int n
    cdef int64_t changed = 0
    cdef double inertia = 0.0
    cdef double x_sq[CHUNK]
    if lanes.ct != NULL:
        if floating is double:
            gmmc_lloyd_rows_d(X, n_samples, d, offset, <const double*>lanes.ct, lanes.kp,
                              lanes.c_sq, weight, labels, sums, counts, &inertia, &changed,
                              centred)
        else:
            gmmc_lloyd_rows_f(X, n_samples, d, offset, <const float*>lanes.ct, lanes.kp,
                              lanes.c_sq, weight, labels, sums, counts, &inertia, &changed,
                              centred)
        n_changed[0] += changed
        return inertia
    for chunk in range((n_samples + CHUNK - 1) // CHUNK):
        start = chunk * CHUNK
        n = <int>min(CHUNK, n_samples - start)
        if floating is double:
            gmmc_center_sq_norms_d(X + start * d, n, d, offset, centred, x_sq)
        else:
            gmmc_center_sq_norms_f(X + start * d, n, d, offset, centred, x_sq)
        # centre by centre (k, n): the closest-centre search then runs across rows
        gemm_rm(False, True, k, n, d, <floating>-2.0, centers, d, centred, d,
                <floating>0.0, dist, n)
        if floating is double:
            gmmc_lloyd_assign_d(dist, n, n, k, x_sq, center_sq, centred, d,
                                weight if weight == NULL else weight + start,
                                labels + start, sums, counts, &inertia, &changed)
        else:
            gmmc_lloyd_assign_f(dist, n, n, k, x_sq, center_sq, centred, d,
                                weight if weight == NULL else weight + start,
                                labels + start, sums, counts, &inertia, &changed)
    n_changed[0] += changed
    return inertia

# -- the loops, on row blocks and the team's threads -----------------------------------

cdef struct LloydJob:
    # One assignment over row blocks, a task per block: task b assigns rows
    # blocks[b]:blocks[b + 1] and adds their sums to its own zeroed ones.
    const void* X              # (N, D), X's type
    const void* weight         # (N,) or NULL
    const double* offset
    const void* centers        # (K, D) centred
    const double* center_sq
    const CenterLanes* lanes
    int d, k
    int* labels
    const int64_t* blocks
    double* sums               # (n_tasks, K D) rows sums_ld apart, line-aligned
    double* counts             # (n_tasks, K) rows counts_ld apart, line-aligned
    int64_t sums_ld, counts_ld
    double* inertia            # (n_tasks,)
    Py_ssize_t* changed        # (n_tasks,)
    char* centred              # (n_tasks,) work spaces of centred_bytes
    char* dist
    size_t centred_bytes, dist_bytes
    # Hamerly's bounds (gmmc_lloyd_bounded_rows_*), or NULL: every row scored
    const GmmcLloydBounds* bounds
    double* upper              # (N,)
    double* lower              # (N,)


cdef void _lloyd_task(LloydJob* job, int task, const floating* X,
                      const floating* weight) noexcept nogil:
    cdef int64_t first = job.blocks[task], stop = job.blocks[task + 1], a
    cdef double* sums = job.sums + task * job.sums_ld
    cdef double* counts = job.counts + task * job.counts_ld
    for a in range(<int64_t>job.k * job.d):
        sums[a] = 0.0
    for a in range(job.k):
        counts[a] = 0.0
    job.changed[task] = 0
    job.inertia[task] = 0.0
    cdef int64_t changed = 0
    if stop > first and job.bounds != NULL:
        if floating is double:
            gmmc_lloyd_bounded_rows_d(
                X + first * job.d, stop - first, job.d, job.offset,
                <const double*>job.lanes.ct, job.lanes.kp, job.lanes.c_sq,
                NULL if weight == NULL else weight + first, job.labels + first, sums, counts,
                &changed, <double*>(job.centred + task * job.centred_bytes),
                job.upper + first, job.lower + first, job.bounds)
        else:
            gmmc_lloyd_bounded_rows_f(
                X + first * job.d, stop - first, job.d, job.offset,
                <const float*>job.lanes.ct, job.lanes.kp, job.lanes.c_sq,
                NULL if weight == NULL else weight + first, job.labels + first, sums, counts,
                &changed, <float*>(job.centred + task * job.centred_bytes),
                job.upper + first, job.lower + first, job.bounds)
        job.changed[task] = changed
    elif stop > first:
        job.inertia[task] = _lloyd_step(
            X + first * job.d, stop - first, job.d,
            NULL if weight == NULL else weight + first, job.offset,
            <const floating*>job.centers, job.center_sq, job.k, job.lanes,
            job.labels + first, sums, counts, <floating*>(job.centred + task * job.centred_bytes),
            <floating*>(job.dist + task * job.dist_bytes), &job.changed[task])


cdef void _lloyd_task_d(void* ctx, int task) noexcept nogil:
    cdef LloydJob* job = <LloydJob*>ctx
    _lloyd_task(job, task, <const double*>job.X, <const double*>job.weight)


cdef void _lloyd_task_f(void* ctx, int task) noexcept nogil:
    cdef LloydJob* job = <LloydJob*>ctx
    _lloyd_task(job, task, <const float*>job.X, <const float*>job.weight)


cdef Py_ssize_t _lloyd_blocks(LloydJob* job, int n_tasks, int n_threads, bint is_double,
                              double* sums, double* counts) noexcept nogil:
    """One assignment on the team; sums and counts := the blocks' totals,
    added in block order (as the step-by-step loop). Returns the labels changed."""
    cdef int t, j
    cdef int64_t a
    cdef Py_ssize_t changed = 0
    team_run(n_threads, n_tasks, _lloyd_task_d if is_double else _lloyd_task_f, job)
    for a in range(<int64_t>job.k * job.d):
        sums[a] = 0.0
    for j in range(job.k):
        counts[j] = 0.0
    for t in range(n_tasks):
        for a in range(<int64_t>job.k * job.d):
            sums[a] = sums[a] + job.sums[t * job.sums_ld + a]
        for j in range(job.k):
            counts[j] = counts[j] + job.counts[t * job.counts_ld + j]
        changed += job.changed[t]
    return changed


# Units in the last place of 1: the scores' rounding (GmmcLloydBounds.err_scale).
cdef double DOUBLE_UNIT = 2.0 ** -53, FLOAT_UNIT = 2.0 ** -24


cdef void _centre_gaps(const floating* centers, const double* center_sq, int k, int d,
                       GmmcLloydBounds* bounds) noexcept nogil:
    """bounds.half_gap := half the distance from each centre to its nearest
    other, rounded down; bounds.c_norm_max := the largest centre norm, rounded
    up. K^2 D operations: nothing beside a pass over the rows."""
    cdef int i, j, a
    cdef double gap, diff, norm_sq = 0.0
    cdef double* half_gap = <double*>bounds.half_gap
    for j in range(k):
        half_gap[j] = INFINITY
        norm_sq = max(norm_sq, center_sq[j])
    for i in range(k):
        for j in range(i + 1, k):
            gap = 0.0
            for a in range(d):
                diff = <double>centers[i * d + a] - <double>centers[j * d + a]
                gap += diff * diff
            gap = 0.5 * sqrt(gap) * (1.0 - bounds.slack)
            half_gap[i] = min(half_gap[i], gap)
            half_gap[j] = min(half_gap[j], gap)
    bounds.c_norm_max = sqrt(norm_sq) * (1.0 + bounds.slack)


# lloyd_loop's reasons to stop.
cdef enum:
    STABLE = 0       # no label changed
    MOVED_LITTLE = 1  # the centres moved by at most tol (labels then updated)
    EMPTY = 2        # a cluster lost all its samples (the caller reseeds it)
    MAX_ITER = 3
LLOYD_STABLE, LLOYD_MOVED_LITTLE, LLOYD_EMPTY, LLOYD_MAX_ITER = STABLE, MOVED_LITTLE, EMPTY, MAX_ITER


def lloyd_loop(const floating[:, ::1] X, sample_weight, const double[::1] offset,
               floating[:, ::1] centers, int[::1] labels, double[:, ::1] sums,
               double[::1] counts, int max_iter, double tol, blocks=None,
               int n_threads=1, double[:, ::1] distance_bounds=None):
    """Lloyd iterations in one call, on row blocks and the team's threads.

    Each iteration is ``lloyd_step`` on every block (each block's sums apart,
    added in block order, so the thread that ran a block changes nothing)
    followed by the centre update of ``gmmc._init.kmeans``: new centres
    sums / counts; stop when no label changes, or when the centres moved by
    at most ``tol`` (squared distance, summed), after one more assignment.
    Ctrl-C is seen between iterations.

    Parameters
    ----------
    X, sample_weight, offset : as ``lloyd_step``.  IN
    centers : (K, D) centred.  IN/OUT
    labels : (N,) int32.  IN/OUT
    sums, counts : (K, D), (K,).  OUT: the last step's sums (needed when a
        cluster emptied: centers are then left as they were for that step).
    max_iter : iterations allowed.  IN
    tol : as above.  IN
    blocks : (B + 1,) int64 row bounds (``gmmc._parallel.row_block_bounds``),
        or None for one block.  IN
    n_threads : threads for the blocks, the calling one included.  IN
    distance_bounds : (2, N) work space for Hamerly's bounds, or None. Where the
        kernel with the centres in its lanes runs, a row they settle is not
        scored again (gmmc_lloyd_bounded_rows_*); the results are the same,
        bit for bit.  OUT

    Returns
    -------
    (n_iter, reason) : iterations done (the extra assignment not counted) and
        one of LLOYD_STABLE, LLOYD_MOVED_LITTLE, LLOYD_EMPTY, LLOYD_MAX_ITER.
    """
    cdef double[::1] center_sq = _check_centers(X, offset, centers)
    cdef Py_ssize_t n_samples = X.shape[0], n_changed
    cdef int k = centers.shape[0], d = centers.shape[1], it, j, a
    if labels.shape[0] != n_samples:
        raise ValueError(f"labels must have {n_samples} entries")
    if sums.shape[0] != k or sums.shape[1] != d or counts.shape[0] != k:
        raise ValueError("sums must be (K, D) and counts (K,)")
    if n_samples == 0:
        raise ValueError("X must not be empty")
    cdef int64_t[::1] bounds = row_blocks(blocks, n_samples)
    cdef int n_tasks = bounds.shape[0] - 1
    cdef const floating[::1] weight_view = sample_weight
    cdef const floating* weight = _weights(weight_view, n_samples)
    cdef _Work work = _Work(d, k, sizeof(floating), n_tasks)
    cdef _CenterLanes center_lanes = _CenterLanes(d, k, sizeof(floating))
    cdef int64_t sums_ld = line_stride(<int64_t>k * d), counts_ld = line_stride(k)
    cdef double[::1] part_sums = np.empty(n_tasks * sums_ld + 7)
    cdef double[::1] part_counts = np.empty(n_tasks * counts_ld + 7)
    cdef double[::1] part_inertia = np.empty(n_tasks)
    cdef Py_ssize_t[::1] part_changed = np.empty(n_tasks, dtype=np.intp)
    cdef LloydJob job
    job.X, job.weight, job.offset, job.centers = &X[0, 0], weight, &offset[0], &centers[0, 0]
    job.center_sq, job.d, job.k, job.labels = &center_sq[0], d, k, &labels[0]
    job.lanes = &center_lanes.lanes
    job.blocks, job.sums_ld, job.counts_ld = &bounds[0], sums_ld, counts_ld
    job.sums, job.counts = line_aligned(part_sums), line_aligned(part_counts)
    job.inertia, job.changed = &part_inertia[0], &part_changed[0]
    job.centred, job.dist = work.centred, work.dist
    job.centred_bytes, job.dist_bytes = work.centred_bytes, work.dist_bytes
    cdef double shift, moved, tiny = np.finfo(np.float64).tiny
    cdef floating new
    cdef bint empty
    cdef int reason = MAX_ITER
    cdef GmmcLloydBounds pass_bounds
    cdef double[::1] move = np.zeros(k), half_gap = np.empty(k)
    pass_bounds.move, pass_bounds.half_gap = &move[0], &half_gap[0]
    pass_bounds.move_max, pass_bounds.c_norm_max, pass_bounds.fresh = 0.0, 0.0, 1
    # A score's error: D multiply-adds and a few adds, each rounded in X's
    # type, on terms of at most (|x'| + |c|)^2; twice that, to spare.
    pass_bounds.err_scale = 2.0 * (d + 4) * (FLOAT_UNIT if floating is float else DOUBLE_UNIT)
    # the bounds' own rounding: a few units per operation, over all passes
    pass_bounds.slack = 1e-9 + (4.0 * (d + 4) + max_iter + 8) * DOUBLE_UNIT
    job.bounds = NULL
    if distance_bounds is not None and center_lanes.lanes.ct != NULL:
        if distance_bounds.shape[0] != 2 or distance_bounds.shape[1] != n_samples:
            raise ValueError(f"distance_bounds must be (2, {n_samples})")
        job.bounds = &pass_bounds
        job.upper, job.lower = &distance_bounds[0, 0], &distance_bounds[1, 0]
    for it in range(1, max_iter + 1):
        with nogil:
            _fill_lanes(&center_lanes.lanes, &centers[0, 0], &center_sq[0])
            if job.bounds != NULL and not pass_bounds.fresh:  # the first pass scores all
                _centre_gaps(&centers[0, 0], &center_sq[0], k, d, &pass_bounds)
            n_changed = _lloyd_blocks(&job, n_tasks, n_threads, floating is double,
                                      &sums[0, 0], &counts[0])
            pass_bounds.fresh = 0
            if n_changed == 0:
                reason = STABLE
            else:
                empty = False
                for j in range(k):
                    empty = empty or counts[j] == 0.0
                if empty:
                    reason = EMPTY
            if reason == MAX_ITER:
                shift = 0.0
                pass_bounds.move_max = 0.0
                for j in range(k):
                    center_sq[j] = 0.0
                    moved = 0.0
                    for a in range(d):
                        new = <floating>(sums[j, a] / (counts[j] if counts[j] > tiny else tiny))
                        shift += (new - centers[j, a]) * (new - centers[j, a])
                        moved += (<double>new - centers[j, a]) * (<double>new - centers[j, a])
                        centers[j, a] = new
                        center_sq[j] += <double>new * <double>new
                    move[j] = sqrt(moved) * (1.0 + pass_bounds.slack)
                    pass_bounds.move_max = max(pass_bounds.move_max, move[j])
                if shift <= tol:
                    _fill_lanes(&center_lanes.lanes, &centers[0, 0], &center_sq[0])
                    if job.bounds != NULL:
                        _centre_gaps(&centers[0, 0], &center_sq[0], k, d, &pass_bounds)
                    _lloyd_blocks(&job, n_tasks, n_threads, floating is double,
                                  &sums[0, 0], &counts[0])
                    reason = MOVED_LITTLE
        if reason != MAX_ITER:
            break
        PyErr_CheckSignals()  # Ctrl-C between iterations
    return (it if reason != MAX_ITER else max_iter), reason


cdef double PRUNE_SHARE = 0.7


cdef double _scored_share(const floating* closest, const int32_t* labels, Py_ssize_t n,
                          const double* min_limit) noexcept nogil:
    """An estimate, from about 500 rows, of the share of rows that a pruned
    k-means++ pass would score (gmmc_pruned_rows)."""
    cdef Py_ssize_t i = 0, step = max(1, n // 512), seen = 0, scored = 0
    while i < n:
        seen += 1
        scored += not (closest[i] <= min_limit[labels[i]])
        i += step
    return scored / <double>seen


cdef struct SeedJob:
    # k-means++ over row blocks, a task per block: the candidates' potentials
    # (into the task's own lanes), then the chosen one's distances into closest.
    const void* X              # (N, D), X's type
    const void* weight         # (N,) or NULL
    const double* offset
    int d, t
    const void* candidates     # (t, D) centred
    void* closest              # (N,)
    void* kept                 # (t, N) rows kept_ld apart, or NULL: computed again
    int64_t kept_ld
    bint potentials            # the stage: potentials, else the closest update
    int best                   # the candidate chosen
    int32_t* labels            # (N,) each row's closest centre, or NULL: no pruning
    const double* min_limit    # Pruning's, or NULL: this centre's pass is not pruned
    int32_t centre             # the centre being chosen: its label, and how many are
    char* queue                # (n_tasks,) work spaces of queue_bytes
    size_t queue_bytes
    const int64_t* blocks
    double* lanes              # (n_tasks, 8 t)
    char* centred              # (n_tasks,) work spaces of centred_bytes
    char* dist
    size_t centred_bytes, dist_bytes


cdef void _seed_task(SeedJob* job, int task, const floating* X,
                     const floating* weight) noexcept nogil:
    cdef int64_t first = job.blocks[task], stop = job.blocks[task + 1], a
    cdef double* lanes = job.lanes + <int64_t>task * 8 * job.t
    cdef floating* closest = <floating*>job.closest + first
    cdef floating* kept = <floating*>job.kept
    cdef floating* centred = <floating*>(job.centred + task * job.centred_bytes)
    cdef floating* dist = <floating*>(job.dist + task * job.dist_bytes)
    cdef int32_t* labels = NULL if job.labels == NULL else job.labels + first
    cdef Pruning pruning
    if job.potentials:
        for a in range(8 * job.t):
            lanes[a] = 0.0
    if stop == first:
        return
    if job.potentials:
        pruning.labels, pruning.min_limit, pruning.kt = labels, job.min_limit, job.centre
        pruning.queue = <int32_t*>(job.queue + task * job.queue_bytes)
        _candidate_potentials(X + first * job.d, stop - first, job.d,
                              NULL if weight == NULL else weight + first, job.offset,
                              <const floating*>job.candidates, job.t, closest, lanes,
                              centred, dist, NULL if kept == NULL else kept + first,
                              job.kept_ld, HAVE_AVX512,
                              NULL if job.min_limit == NULL else &pruning)
    elif kept != NULL and job.min_limit != NULL:
        if floating is double:
            gmmc_pruned_update_d(closest, labels, kept + job.best * job.kept_ld + first,
                                 stop - first, job.centre, job.min_limit, job.centre)
        else:
            gmmc_pruned_update_f(closest, labels, kept + job.best * job.kept_ld + first,
                                 stop - first, job.centre, job.min_limit, job.centre)
    elif kept != NULL:
        _min_into(closest, kept + job.best * job.kept_ld + first, stop - first, labels,
                  job.centre)
    else:
        _closest_to_candidate(X + first * job.d, stop - first, job.d, job.offset,
                              <const floating*>job.candidates + job.best * job.d,
                              closest, centred, dist, labels, job.centre)


cdef void _seed_task_d(void* ctx, int task) noexcept nogil:
    cdef SeedJob* job = <SeedJob*>ctx
    _seed_task(job, task, <const double*>job.X, <const double*>job.weight)


cdef void _seed_task_f(void* ctx, int task) noexcept nogil:
    cdef SeedJob* job = <SeedJob*>ctx
    _seed_task(job, task, <const float*>job.X, <const float*>job.weight)


def kmeans_plusplus_loop(const floating[:, ::1] X, sample_weight,
                         const double[::1] offset, floating[::1] closest,
                         double potential, random_state, int n_trials,
                         Py_ssize_t[::1] indices, floating[:, :] kept=None,
                         blocks=None, int n_threads=1, bint prune=True,
                         signed char[::1] pruned_passes=None):
    """Greedy k-means++ centres 1 .. K-1 in one call, on row blocks and the
    team's threads.

    The steps of ``gmmc._init.kmeans_plusplus``, with its draws in its order:
    for centre c, ``random_state.uniform(size=n_trials) * potential`` picks
    the candidates against the cumulative weighted distances
    (``cumulative_search``), the one of least ``candidate_potentials`` is
    kept and ``closest`` updated from its distances (``closest_to_candidate``).
    Each block's potentials are its own, added in block order, so the thread
    that ran a block changes nothing. Ctrl-C is seen between centres.

    With AVX-512, a candidate's distance to a row is not computed where the
    triangle inequality proves the candidate no nearer than the row's
    closest centre (gmmc_seed_pruned_*): ||c_j - c_l|| >= 2 sqrt(closest)
    for the row's centre l. As computed, closest and the distances carry
    relative errors under e = (D + 4) u (u: the unit roundoff of X's type;
    the candidates are the rows centred, so the geometry is exact on those
    values), and the gaps ||c_j - c_l||^2, summed in float64, under e too:
    skipping where gap >= 4 (1 + 8 e) closest leaves the candidate's
    computed distance >= closest, so min(distance, closest) -- all that the
    potentials and the update use -- is unchanged, and so are the results,
    bit for bit (``prune=False``, for tests, computes every distance). It
    runs where rows span two 64-byte lines or more, for the centres whose
    pass it would spare scoring 30 % of the rows or more (estimated on a
    sample): otherwise its lists cost more than the scores they save.

    Parameters
    ----------
    X, sample_weight, offset : as ``lloyd_step``.  IN
    closest : (N,) distances to centre indices[0], as ``update_closest``
        computes them (the pruning takes each row's as exact to e).  IN/OUT
    potential : sum of w_n closest_n.  IN
    random_state : numpy RandomState.  IN/OUT
    n_trials : candidates per centre.  IN
    indices : (K,) int.  IN: indices[0], the first centre; OUT: the others.
    kept : (n_trials, N) work space for the candidates' distances (rows may
        be slices of longer ones), or None: the chosen one's are computed
        again, the same way.  OUT
    blocks, n_threads : as ``lloyd_loop``.  IN
    prune : whether the passes may be pruned (tests compare both).  IN
    pruned_passes : (K,) int8 or None: 1 for each centre whose pass was
        pruned, else 0 (tests).  OUT

    Returns
    -------
    (c, potential) : c = K when all centres were chosen; otherwise every
        sample sat on a centre before centre c (potential 0), which the
        caller draws differently, as ``closest`` and the generator are left.
    """
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef int k = indices.shape[0], t = n_trials, d = X.shape[1], c, j, m, task, best
    if closest.shape[0] != n_samples or t < 1 or offset.shape[0] != d or n_samples == 0:
        raise ValueError("closest must be (N,), offset (D,) and n_trials positive")
    if pruned_passes is not None and pruned_passes.shape[0] != k:
        raise ValueError("pruned_passes must be (K,)")
    _check_kept(kept, t, n_samples, sizeof(floating))
    cdef int64_t[::1] bounds = row_blocks(blocks, n_samples)
    cdef int n_tasks = bounds.shape[0] - 1
    dtype = np.float32 if floating is float else np.float64
    cdef const floating[::1] weight_view = sample_weight
    cdef const floating* weight = _weights(weight_view, n_samples)
    cdef const double[::1] draws
    cdef double[::1] targets = np.empty(t), sorted_targets = np.empty(t)
    cdef double[::1] potentials = np.empty(t), lanes = np.empty(n_tasks * 8 * t + 7)
    cdef double[::1] spans = np.empty(_n_spans(n_samples))
    cdef Py_ssize_t[::1] order = np.empty(t, dtype=np.intp)
    cdef Py_ssize_t[::1] found = np.empty(t, dtype=np.intp)
    cdef Py_ssize_t[::1] candidates = np.empty(t, dtype=np.intp)
    cdef floating[:, ::1] centred = np.empty((t, d), dtype=dtype)
    cdef _Work work = _Work(d, t, sizeof(floating), n_tasks, True)
    cdef Py_ssize_t tmp
    cdef SeedJob job
    # the pruning's margin (above): off where e is not small
    cdef double err = (d + 4) * (DOUBLE_UNIT if floating is double else FLOAT_UNIT)
    cdef double scale = 1.0 / (4.0 * (1.0 + 8.0 * err)), gap, diff
    # rows of under two lines score too fast for the pruning to pay
    cdef bint pruned = (prune and HAVE_AVX512 and err < 1e-3
                        and d * sizeof(floating) >= 128)
    cdef int32_t[::1] labels
    cdef floating[:, ::1] chosen     # the centres so far, centred
    cdef double[::1] min_limit
    if pruned:
        labels = np.zeros(n_samples, dtype=np.int32)
        chosen = np.empty((k, d), dtype=dtype)
        min_limit = np.full((k + 15) // 16 * 16, -1.0)  # gmmc_lookup8's padding
        for m in range(d):
            chosen[0, m] = <floating>(<double>X[indices[0], m] - offset[m])
    job.X, job.weight, job.offset, job.d, job.t = &X[0, 0], weight, &offset[0], d, t
    job.candidates, job.closest = &centred[0, 0], &closest[0]
    job.kept = NULL if kept is None else &kept[0, 0]
    job.kept_ld = 0 if kept is None else kept.strides[0] // sizeof(floating)
    job.blocks, job.lanes = &bounds[0], line_aligned(lanes)
    job.centred, job.dist = work.centred, work.dist
    job.centred_bytes, job.dist_bytes = work.centred_bytes, work.dist_bytes
    job.labels, job.min_limit = (&labels[0] if pruned else NULL), NULL
    job.queue, job.queue_bytes = work.queue, work.queue_bytes
    if pruned_passes is not None:
        pruned_passes[:] = 0
    for c in range(1, k):
        if potential <= 0:
            return c, potential
        PyErr_CheckSignals()  # Ctrl-C between centres
        draws = random_state.uniform(size=t)
        with nogil:
            for j in range(t):
                targets[j] = draws[j] * potential
                order[j] = j
            for j in range(1, t):  # stable insertion sort of the targets' order
                m = j
                while m > 0 and targets[order[m - 1]] > targets[order[m]]:
                    tmp = order[m]
                    order[m] = order[m - 1]
                    order[m - 1] = tmp
                    m -= 1
            for j in range(t):
                sorted_targets[j] = targets[order[j]]
            _cumulative_search(&closest[0], n_samples, weight, &sorted_targets[0], t,
                               False, &found[0], &spans[0])
            for j in range(t):
                candidates[order[j]] = found[j]
            for j in range(t):
                for m in range(d):
                    centred[j, m] = <floating>(<double>X[candidates[j], m] - offset[m])
            if pruned:
                for m in range(c):
                    min_limit[m] = INFINITY
                    for j in range(t):
                        gap = 0.0
                        for task in range(d):
                            diff = <double>centred[j, task] - <double>chosen[m, task]
                            gap += diff * diff
                        # -1: never pruned (an infinite gap says nothing)
                        min_limit[m] = min(min_limit[m], gap * scale if gap <= DBL_MAX
                                           else -1.0)
                # pruning pays once it skips enough rows
                job.min_limit = (&min_limit[0] if _scored_share(&closest[0], &labels[0],
                                                                n_samples, &min_limit[0])
                                 <= PRUNE_SHARE else NULL)
            if pruned_passes is not None:
                pruned_passes[c] = job.min_limit != NULL
            job.potentials, job.centre = True, c
            team_run(n_threads, n_tasks, _seed_task_d if floating is double
                     else _seed_task_f, &job)
            for j in range(t):
                potentials[j] = 0.0
                for task in range(n_tasks):
                    potentials[j] = potentials[j] + _sum_lanes(job.lanes + (task * t + j) * 8)
            best = 0
            for j in range(1, t):
                if potentials[j] < potentials[best]:
                    best = j
            indices[c] = candidates[best]
            potential = potentials[best]
            job.best, job.potentials = best, False
            team_run(n_threads, n_tasks, _seed_task_d if floating is double
                     else _seed_task_f, &job)
            if pruned:
                for m in range(d):
                    chosen[c, m] = centred[best, m]
    return k, potential
