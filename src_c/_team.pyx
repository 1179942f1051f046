# cython: language_level=3
"""The kernels' team of helper threads (_team.h), one per process.

_em and _kmeans both run their loops' row blocks on it, through the function
in the ``run`` capsule (see _team_run.pxd): compiled into each module, the
header would give each its own team, whose helpers would spin on one core
while the other team's helpers work.
"""
from cpython.pycapsule cimport PyCapsule_New

cdef extern from "_team.h":
    ctypedef void (*gmmc_task_fn)(void* ctx, int task) noexcept nogil
    int gmmc_team_available() noexcept nogil
    void gmmc_team_run(int n_threads, int n_tasks, gmmc_task_fn fn, void* ctx) noexcept nogil

run = PyCapsule_New(<void*>gmmc_team_run, b"gmmc._team.run", NULL)


def available():
    """Whether the team has helper threads (POSIX); elsewhere every job runs
    in its caller."""
    return bool(gmmc_team_available())
