"""Run a nogil kernel over row blocks in threads, without oversubscribing cores.

The kernels release the GIL, so plain Python threads run them in parallel. The
rows are cut into sub-blocks of bounded work, handed out in order to the
calling thread and ``n_threads - 1`` helper threads; each sub-block has its
own accumulators and the caller reduces the results once. Between sub-blocks
the calling thread handles signals, so Ctrl-C stops a long call within one
sub-block. BLAS is held to one thread meanwhile, so gmmc threads x BLAS
threads never exceeds the thread budget.
"""
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

from . import _cpu, _team

# Below this many rows per thread, starting threads costs more than it saves.
MIN_ROWS_PER_THREAD = 4096
# At most this many rows per sub-block: tens of ms for the costliest kernels,
# long enough that handing a sub-block out costs well under 1 % of it.
SUB_BLOCK_ROWS = 32768
# How often a waiting calling thread looks for signals. On Linux a signal can
# land on a busy helper thread instead, leaving an untimed wait asleep.
_WAIT_S = 0.05

_controller = None
_lock = threading.Lock()  # guards the helper pool and the BLAS state below
_executor = None
_executor_size = 0
_blas_users = 0  # calls inside blas_limited(n > 1)
_blas_saved = []  # (library, thread limit) as the first of those found them
# True from before BLAS limits are first changed until they are restored: a
# child forked at any point in between (changes are per library) restores them.
_blas_changed = False
_fork_generation = 0  # bumped in a forked child


def _threadpool_controller():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def _after_fork_in_child():
    # The child has only the forking thread: the helper threads, any holder of
    # the lock and the calls that limited BLAS were left in the parent.
    global _lock, _executor, _executor_size, _blas_users, _blas_changed, _fork_generation
    _lock = threading.Lock()
    _executor, _executor_size = None, 0
    _helpers.clear()
    _fork_generation += 1
    _blas_users = 0
    if _blas_changed:
        _set_blas(_blas_saved)
        _blas_changed = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    respected), capped by the cores this process may run on. While gmmc calls
    hold BLAS to one thread, the limit they found on entry counts.
    """
    if n_threads is None:
        env = os.environ.get("GMMC_NUM_THREADS")
        if env:
            try:
                n_threads = int(env)
            except ValueError:
                raise ValueError(f"GMMC_NUM_THREADS must be an integer, got {env!r}")
    if n_threads is None:
        with _lock:
            limits = [n for _, n in _blas_saved] if _blas_users else [
                lib.num_threads for lib in _blas_libraries()]
        limits = [n for n in limits if n is not None]
        n_threads = min(limits) if limits else _available_cores()
        n_threads = min(n_threads, _available_cores())
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    return int(n_threads)


def threads_for(n_rows, n_threads):
    """Threads worth using on ``n_rows`` rows given a budget of ``n_threads``."""
    return max(1, min(n_threads, n_rows // MIN_ROWS_PER_THREAD))


def _blas_libraries():
    return [lib for lib in _threadpool_controller().lib_controllers
            if lib.user_api == "blas"]


def _set_blas(limits):
    for lib, n in limits:
        if n is not None:
            # threadpoolctl >= 3.8 lets only one Python thread at a time change
            # OpenBLAS' limit; gmmc's first and last caller may differ, and
            # _lock already orders gmmc's changes.
            getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


@contextlib.contextmanager
def blas_limited(n_threads):
    """Hold BLAS to one thread while gmmc runs ``n_threads`` > 1 threads.

    Overlapping calls share one limit: the first to enter records the limits
    in force and sets 1, the last to leave restores them.
    """
    if n_threads <= 1:
        yield
        return
    global _blas_users, _blas_saved, _blas_changed
    with _lock:
        if not _blas_users:
            libraries = _blas_libraries()
            _blas_saved = [(lib, lib.num_threads) for lib in libraries]
            _blas_changed = True
            _set_blas([(lib, 1) for lib in libraries])
        _blas_users += 1
        generation = _fork_generation
    try:
        yield
    finally:
        with _lock:
            if generation == _fork_generation:  # else a forked child reset the count
                _blas_users -= 1
                if not _blas_users:
                    _set_blas(_blas_saved)
                    _blas_changed = False


def _start_helpers(job, n):
    """Queue ``n`` helpers for ``job`` on the pool, grown to ``n`` threads."""
    global _executor, _executor_size
    with _lock:  # a pool being replaced takes no new work
        if _executor_size < n:
            if _executor is not None:
                _executor.shutdown(wait=False)  # its threads end once idle
            _executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix="gmmc")
            _executor_size = n
        try:
            for _ in range(n):
                _executor.submit(job.help)
        except RuntimeError:  # interpreter shutdown: the calling thread does it all
            pass


# The pool's threads by native id (Linux: for their affinity), with the CPUs
# each was allowed when it started; a thread that has ended is dropped before
# its id could be reused.
_helpers = {}


def _steer_helpers(cpu, thread_ids=None):
    """Let the helper threads run anywhere but ``cpu``, the caller's, before
    they are woken.

    On virtual machines the scheduler may wake a helper on the CPU of the
    thread that wakes it once the other virtual CPUs have idled a while (a
    halted virtual CPU counts as preempted, not idle): the helper then waits
    for the caller's time slice (~5 ms) and the two share one CPU. Measured on
    a 2-core VM, 16 EM iterations after a 0.3 s pause: 27 ms on one core,
    against 16 ms without the pause. The helpers' affinity is set before the
    wake-up, since a thread that is not running cannot move itself; the
    caller's is never touched. ``thread_ids``: those helpers only (default:
    all).
    """
    if cpu < 0:
        return
    for thread_id in list(_helpers) if thread_ids is None else thread_ids:
        thread, allowed = _helpers.get(thread_id, (None, None))
        if thread is None or not thread.is_alive():  # a thread of a replaced pool
            _helpers.pop(thread_id, None)
            continue
        if len(allowed) < 2 or cpu not in allowed:
            continue
        try:
            os.sched_setaffinity(thread_id, allowed - {cpu})
        except OSError:  # refused (container cpusets) or just ended: no matter
            pass


class _Job:
    """One map_row_blocks call: its sub-blocks, handed out in order."""

    def __init__(self, func, bounds):
        self.func, self.bounds = func, bounds
        self.caller_cpu = _cpu.current_cpu()
        self.results = [None] * (len(bounds) - 1)
        self.next = 0  # the next sub-block to hand out
        self.left = len(self.results)  # sub-blocks not done
        self.helping = 0  # helper threads inside run()
        self.stopped = False
        self.error = None
        self.cond = threading.Condition(threading.Lock())

    def _take(self):
        with self.cond:
            if self.stopped or self.next == len(self.results):
                return None
            self.next += 1
            return self.next - 1

    def run(self):
        """Do sub-blocks until none is left (or the job is stopped)."""
        while (i := self._take()) is not None:
            result = self.func(self.bounds[i], self.bounds[i + 1])
            with self.cond:
                self.results[i] = result
                self.left -= 1
                if not self.left:
                    self.cond.notify_all()

    def help(self):
        """A helper thread's share; a helper that starts late finds nothing to do."""
        with self.cond:
            if self.stopped:
                return
            self.helping += 1
        try:
            thread_id = threading.get_native_id()
            if hasattr(os, "sched_setaffinity") and thread_id not in _helpers:
                # A new thread: steer it now (later calls steer it before waking it).
                _helpers[thread_id] = (threading.current_thread(), os.sched_getaffinity(0))
                _steer_helpers(self.caller_cpu, [thread_id])
            self.run()
        except BaseException as exc:  # raised again in the calling thread
            with self.cond:
                self.error = self.error or exc
                self.stopped = True
        finally:
            with self.cond:
                self.helping -= 1
                self.cond.notify_all()

    def wait(self):
        """Until every sub-block is done; raises a helper's error."""
        with self.cond:
            while self.left and self.error is None:
                self.cond.wait(_WAIT_S)
        if self.error is not None:
            raise self.error

    def stop(self):
        """Hand out no more sub-blocks; wait for the helpers' current ones."""
        with self.cond:
            self.stopped = True
            while self.helping:
                self.cond.wait(_WAIT_S)


def _sub_block_bounds(n_rows, n_threads):
    # A multiple of n_threads sub-blocks of equal size: the threads finish
    # together, and the bounds (hence the rounding) depend only on the two.
    per_thread = max(1, -(-n_rows // (n_threads * SUB_BLOCK_ROWS)))
    n_blocks = n_threads * per_thread
    return [n_rows * i // n_blocks for i in range(n_blocks + 1)]


def row_block_bounds(n_rows, n_threads):
    """The row bounds of the blocks ``map_row_blocks`` would use."""
    return _sub_block_bounds(n_rows, threads_for(n_rows, n_threads))


def loops_in_kernels(n_rows, n_threads):
    """Whether a kernel that loops over the row blocks itself (``kernel_blocks``)
    should: on one block of rows, or on several with the kernels' own threads
    (gmmc._team). Elsewhere (Windows) a Python thread per block and call
    (``map_row_blocks``) keeps the work parallel."""
    return single_block(n_rows, n_threads) or _team.available()


def kernel_blocks(n_rows, n_threads):
    """For a kernel's own loop over the blocks of ``map_row_blocks``: their
    (B + 1,) int64 row bounds (None for one block: small fits spend no time
    on them), and the threads to run them on."""
    bounds = row_block_bounds(n_rows, n_threads)
    if len(bounds) == 2:
        return None, 1
    return np.array(bounds, dtype=np.int64), threads_for(n_rows, n_threads)


def single_block(n_rows, n_threads):
    """Whether ``map_row_blocks`` would make one call, in the calling thread."""
    return len(row_block_bounds(n_rows, n_threads)) == 2


def map_row_blocks(func, n_rows, n_threads):
    """Call ``func(start, stop)`` on contiguous row blocks covering ``n_rows``.

    Returns the list of results in row order: ``func`` must be additive over
    row ranges. Uses up to ``n_threads`` threads, the calling one included.
    Run inside ``blas_limited``. On an exception in any thread (Ctrl-C
    included), the other threads stop after their current sub-block and the
    exception is raised.
    """
    bounds = row_block_bounds(n_rows, n_threads)
    n_threads = threads_for(n_rows, n_threads)
    if len(bounds) == 2:  # one sub-block (single_block), in this thread: no one to share it with
        return [func(0, n_rows)]
    job = _Job(func, bounds)
    if n_threads > 1:
        _steer_helpers(job.caller_cpu)
        _start_helpers(job, n_threads - 1)
    try:
        job.run()
        job.wait()
    except BaseException:
        job.stop()
        raise
    return job.results
