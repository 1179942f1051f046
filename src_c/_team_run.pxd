# For the kernel modules' loops over row blocks on the process's team of
# helper threads (gmmc._team, _team.h):
#     from gmmc import _team
#     cdef team_run_fn team_run = team_run_from(_team.run)
# then team_run(n_threads, n_tasks, task, ctx) runs task(ctx, 0 .. n_tasks - 1)
# on up to n_threads threads, the caller's included, and returns when all are
# done; row_blocks checks the blocks' bounds a loop was given.
import numpy as np

from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport int64_t

ctypedef void (*team_task_fn)(void* ctx, int task) noexcept nogil
ctypedef void (*team_run_fn)(int n_threads, int n_tasks, team_task_fn fn,
                             void* ctx) noexcept nogil


cdef inline team_run_fn team_run_from(object capsule) except NULL:
    return <team_run_fn>PyCapsule_GetPointer(capsule, b"gmmc._team.run")


cdef inline int64_t[::1] row_blocks(blocks, Py_ssize_t n_rows) except *:
    """The (B + 1,) int64 row bounds of a loop's blocks, checked to rise from
    0 to n_rows: one block when ``blocks`` is None."""
    cdef int64_t[::1] bounds
    if blocks is None:
        bounds = np.empty(2, dtype=np.int64)
        bounds[0], bounds[1] = 0, n_rows
        return bounds
    bounds = blocks
    cdef Py_ssize_t b, last = bounds.shape[0] - 1
    cdef bint rising = last >= 1 and bounds[0] == 0 and bounds[last] == n_rows
    for b in range(last):
        rising = rising and bounds[b] <= bounds[b + 1]
    if not rising:
        raise ValueError(f"blocks must rise from 0 to {n_rows}")
    return bounds


# Per-task sums that threads add to row by row sit on cache lines of their
# own: callers allocate 7 doubles more and lay the tasks' rows line_stride
# doubles apart from line_aligned(buffer).
cdef inline int64_t line_stride(int64_t n) noexcept nogil:
    """n doubles rounded up to whole 64-byte cache lines."""
    return (n + 7) // 8 * 8


cdef inline void* line_up(void* p) noexcept nogil:
    """p rounded up to the next 64-byte cache line boundary."""
    return <void*>((<size_t>p + 63) // 64 * 64)


cdef inline double* line_aligned(double[::1] buffer) noexcept nogil:
    """The first 64-byte aligned double of ``buffer``."""
    return <double*>line_up(&buffer[0])
