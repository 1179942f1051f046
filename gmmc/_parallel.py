"""Run a nogil kernel over row blocks in threads, without oversubscribing cores.

The kernels release the GIL, so plain Python threads run them in parallel. Each
thread gets one contiguous block of rows and its own accumulators; the caller
reduces the per-block results once. BLAS is held to one thread meanwhile, so
gmmc threads x BLAS threads never exceeds the thread budget.
"""
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import ThreadpoolController

# Below this many rows per thread, starting threads costs more than it saves.
MIN_ROWS_PER_THREAD = 4096

_controller = None
_executor = None
_executor_size = 0


def _threadpool_controller():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def _available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def effective_n_threads(n_threads=None):
    """Number of threads gmmc may use.

    An explicit ``n_threads`` wins, then the ``GMMC_NUM_THREADS`` environment
    variable; otherwise the BLAS thread limit in force (so threadpoolctl's
    ``threadpool_limits`` and ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` are
    respected), capped by the cores this process may run on.
    """
    if n_threads is None:
        env = os.environ.get("GMMC_NUM_THREADS")
        if env:
            try:
                n_threads = int(env)
            except ValueError:
                raise ValueError(f"GMMC_NUM_THREADS must be an integer, got {env!r}")
    if n_threads is None:
        blas = [info["num_threads"] for info in _threadpool_controller().info()
                if info["user_api"] == "blas"]
        n_threads = min(blas) if blas else _available_cores()
        n_threads = min(n_threads, _available_cores())
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    return int(n_threads)


def threads_for(n_rows, n_threads):
    """Threads worth using on ``n_rows`` rows given a budget of ``n_threads``."""
    return max(1, min(n_threads, n_rows // MIN_ROWS_PER_THREAD))


@contextlib.contextmanager
def blas_limited(n_threads):
    """Hold BLAS to one thread while gmmc runs ``n_threads`` > 1 threads."""
    if n_threads <= 1:
        yield
        return
    with _threadpool_controller().limit(limits=1, user_api="blas"):
        yield


def map_row_blocks(func, n_rows, n_threads):
    """Call ``func(start, stop)`` on ``n_threads`` contiguous row blocks.

    Returns the list of results in block order. Run inside ``blas_limited``.
    """
    n_threads = threads_for(n_rows, n_threads)
    if n_threads == 1:
        return [func(0, n_rows)]
    global _executor, _executor_size
    if _executor_size < n_threads:
        _executor = ThreadPoolExecutor(max_workers=n_threads,
                                       thread_name_prefix="gmmc")
        _executor_size = n_threads
    bounds = [n_rows * i // n_threads for i in range(n_threads + 1)]
    futures = [_executor.submit(func, bounds[i], bounds[i + 1])
               for i in range(n_threads)]
    return [f.result() for f in futures]
