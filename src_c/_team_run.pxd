# The team's entry point (gmmc._team, _team.h) for the kernel modules:
#     from gmmc import _team
#     cdef team_run_fn team_run = team_run_from(_team.run)
# then team_run(n_threads, n_tasks, task, ctx) runs task(ctx, 0 .. n_tasks - 1)
# on up to n_threads threads, the caller's included, and returns when all are done.
from cpython.pycapsule cimport PyCapsule_GetPointer

ctypedef void (*team_task_fn)(void* ctx, int task) noexcept nogil
ctypedef void (*team_run_fn)(int n_threads, int n_tasks, team_task_fn fn,
                             void* ctx) noexcept nogil


cdef inline team_run_fn team_run_from(object capsule) except NULL:
    return <team_run_fn>PyCapsule_GetPointer(capsule, b"gmmc._team.run")
