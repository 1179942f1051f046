# cython: language_level=3
"""Which CPU a thread runs on (gmmc._parallel keeps helper threads off the
caller's CPU)."""

cdef extern from *:
    """
    #if defined(__linux__)
    #include <sched.h>
    static inline int gmmc_current_cpu(void) { return sched_getcpu(); }
    #else
    static inline int gmmc_current_cpu(void) { return -1; }
    #endif
    """
    int gmmc_current_cpu() nogil


def current_cpu():
    """The CPU the calling thread runs on, or -1 where that is not known."""
    return gmmc_current_cpu()
