"""gmmc's threads: forked children, Ctrl-C, the process's BLAS limits, and the
CPUs of the helper threads.

The fork and Ctrl-C checks run in a fresh interpreter with a timeout, so that a
regression fails the test instead of hanging the suite.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import gmmc

# Children import the gmmc under test, wherever it is installed, from a folder
# that has no source checkout to shadow it (a checkout has no compiled kernels).
CHILD = dict(cwd=Path(__file__).resolve().parent,
             env={**os.environ, "PYTHONPATH": str(Path(gmmc.__file__).resolve().parents[1])})

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs fork and SIGINT")


def _run_script(source, timeout):
    """Run ``source`` in a fresh interpreter; its last stdout line, parsed as JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], **CHILD,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- 1. a forked child ----------------------------------------------------------

FORK_SCRIPT = """
import hashlib, json, multiprocessing, threading
import numpy as np
from threadpoolctl import threadpool_info
from gmmc import GaussianMixture
from gmmc._parallel import effective_n_threads

def blas():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

X = np.random.default_rng(0).standard_normal((20000, 4))
gm = GaussianMixture(3, n_threads=2, random_state=0).fit(X)

def calls():
    refit = GaussianMixture(3, n_threads=2, random_state=0).fit(X)
    proba = hashlib.sha1(gm.predict_proba(X).tobytes()).hexdigest()
    return gm.score(X), proba, refit.lower_bound_, blas(), effective_n_threads()

def in_children(n):
    out = []
    for _ in range(n):
        with multiprocessing.get_context("fork").Pool(1) as pool:
            out.append(pool.apply(calls))
    return out

report = {"parent": calls(), "idle": in_children(1)}
# Fork while other threads are inside gmmc calls (BLAS held at one thread;
# the kernels' own threads in an EM loop).
stop = threading.Event()
def busy():
    Y = np.random.default_rng(1).standard_normal((400000, 4))
    while not stop.is_set():
        gm.score_samples(Y)
def fitting():
    while not stop.is_set():
        GaussianMixture(3, n_threads=2, random_state=1, max_iter=50, tol=0).fit(X)
workers = [threading.Thread(target=busy), threading.Thread(target=fitting)]
for worker in workers:
    worker.start()
try:
    report["busy"] = in_children(4)
finally:
    stop.set()
    for worker in workers:
        worker.join()
report["parent_after"] = [blas(), effective_n_threads()]
print(json.dumps(report))
"""


@posix_only
def test_calls_work_in_a_forked_child():
    report = _run_script(FORK_SCRIPT, timeout=120)
    score, proba, bound, blas, n_threads = report["parent"]
    for child in report["idle"] + report["busy"]:
        # Same data, model and thread count: the same result, bit for bit.
        assert child[0] == score
        assert child[1] == proba
        assert child[2] == bound
        # A call in flight in the parent does not leave the child's BLAS limited.
        assert child[3] == blas
        assert child[4] == n_threads
    assert report["parent_after"] == [blas, n_threads]


# -- 2. Ctrl-C --------------------------------------------------------------------

INTERRUPT_SCRIPT = """
import json, signal, sys, time
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignores it
from gmmc import GaussianMixture

method, n_threads = sys.argv[1], int(sys.argv[2])
X = np.random.default_rng(0).standard_normal((1_000_000, 48), dtype=np.float32)
K = 64
gm = GaussianMixture(K, max_iter=2, tol=0.0, warm_start=True, n_threads=n_threads,
                     weights_init=np.full(K, 1 / K), means_init=X[:K],
                     precisions_init=np.tile(np.eye(48), (K, 1, 1)))
gm.fit(X[:20000])
gm.max_iter = 100
call = {"score_samples": gm.score_samples, "predict_proba": gm.predict_proba,
        "fit": gm.fit}[method]
# A pass over all rows, estimated from a tenth of them (fit: one E-step).
timed = gm.sufficient_statistics if method == "fit" else call
start = time.perf_counter()
timed(X[:len(X) // 10])
full_pass = 10 * (time.perf_counter() - start)

names = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_",
         "lower_bound_", "n_iter_", "converged_")
before = {name: np.copy(getattr(gm, name)) for name in names}
print("calling", flush=True)
try:
    call(X)
    report = {"interrupted": False}
except KeyboardInterrupt:
    caught = time.time()
    # Stopped worker threads burn no CPU while the main thread sleeps.
    cpu = time.process_time()
    time.sleep(0.5)
    cpu = time.process_time() - cpu
    unchanged = all(np.array_equal(getattr(gm, name), value)
                    for name, value in before.items())
    report = {"interrupted": True, "caught": caught, "cpu_after": cpu,
              "unchanged": unchanged, "full_pass": full_pass}
report["end"] = time.time()
print(json.dumps(report), flush=True)
"""


def _interrupted_child(script, *args):
    """Run ``script`` with ``args``; once it prints "calling", wait 0.3 s (well
    inside the call it then makes) and send it SIGINT. Returns its last line
    of JSON, when the signal was sent and when it exited."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        **CHILD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, child.kill)  # a hang fails, it does not block
    watchdog.start()
    try:
        assert child.stdout.readline().strip() == "calling", child.stderr.read()
        time.sleep(0.3)
        signalled = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate()
        exited = time.time()
    finally:
        watchdog.cancel()
        child.kill()
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), signalled, exited


@posix_only
@pytest.mark.no_asan  # its bounds are times
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("method", ["score_samples", "predict_proba", "fit"])
def test_ctrl_c_stops_a_long_call_promptly(method, n_threads):
    report, signalled, exited = _interrupted_child(INTERRUPT_SCRIPT, method, str(n_threads))
    assert report["interrupted"], "the call ended before the signal"
    assert report["full_pass"] > 0.6, "too little work to tell a prompt stop"
    latency = report["caught"] - signalled
    assert latency < min(1.0, report["full_pass"] / 3), report
    # No thread still computing: one would burn the whole 0.5 s. What is left
    # is BLAS's own pool (gmmc on one thread leaves BLAS its threads), whose
    # workers spin 2^28 cycles (OpenBLAS' THREAD_TIMEOUT, ~0.1 s) after their
    # last call before they sleep.
    assert report["cpu_after"] < 0.25, report
    assert report["unchanged"]
    assert exited - report["end"] < 1.0  # nothing left to wait for at exit


KERNEL_LOOP_INTERRUPT_SCRIPT = """
import json, signal, sys, time
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
from gmmc import _kmeans
from gmmc._parallel import blas_limited, kernel_blocks

loop = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.standard_normal((200_000, 8))
offset = X.mean(axis=0)
blocks, n_threads = kernel_blocks(len(X), 2)
assert blocks is not None and n_threads == 2


def kmeans_plusplus(n_centres):
    closest = np.full(len(X), np.inf)
    indices = np.zeros(n_centres, dtype=np.intp)
    potential = _kmeans.update_closest(X, None, offset, X[:1] - offset, closest)
    _kmeans.kmeans_plusplus_loop(X, None, offset, closest, potential,
                                 np.random.RandomState(0), 4, indices,
                                 np.empty((4, len(X))), blocks, n_threads)


def lloyd(n_iter):
    centres = np.ascontiguousarray(X[:500] - offset)
    labels = np.full(len(X), -1, dtype=np.int32)
    _kmeans.lloyd_loop(X, None, offset, centres, labels, np.empty((500, 8)),
                       np.empty(500), n_iter, -1.0, blocks, n_threads)


call, short, long = {"kmeans++": (kmeans_plusplus, 21, 100_000),
                     "lloyd": (lloyd, 3, 100_000)}[loop]
with blas_limited(n_threads):  # as a fit: BLAS on one thread under gmmc's
    start = time.perf_counter()
    call(short)
    unit = (time.perf_counter() - start) / (short - 1)  # one centre or iteration
    print("calling", flush=True)
    try:
        call(long)
        report = {"interrupted": False}
    except KeyboardInterrupt:
        caught = time.time()
        cpu = time.process_time()
        time.sleep(0.5)  # the team's helpers must be asleep by now
        report = {"interrupted": True, "caught": caught, "unit": unit,
                  "cpu_after": time.process_time() - cpu}
print(json.dumps(report), flush=True)
"""


@posix_only
@pytest.mark.no_asan  # its bounds are times
@pytest.mark.parametrize("loop", ["kmeans++", "lloyd"])
def test_ctrl_c_stops_the_kernels_threaded_kmeans_loops(loop):
    """k-means++ and Lloyd's iterations run on the kernels' own threads in
    one call; Ctrl-C is seen between centres and between iterations."""
    from gmmc import _team
    if not _team.available():
        pytest.skip("no threads of the kernels' own here")
    report, signalled, _ = _interrupted_child(KERNEL_LOOP_INTERRUPT_SCRIPT, loop)
    assert report["interrupted"], "the call ended before the signal"
    # Seen within a few of its steps, not at the end of 100 000 of them. A
    # Lloyd step takes 0.06-0.07 s here (a centre of k-means++ 0.002 s), and
    # 0.12 s once with the other core busy: the bound on it only keeps the
    # 100 000 far longer than the latency allowed.
    assert report["unit"] < 0.5, report
    assert report["caught"] - signalled < 0.3 + 3 * report["unit"], report
    assert report["cpu_after"] < 0.1, report


# -- 3. concurrent calls and the process's BLAS limits ------------------------------

CONCURRENT_SCRIPT = """
import json, threading
import numpy as np
from threadpoolctl import threadpool_info
from gmmc import GaussianMixture
from gmmc._parallel import effective_n_threads

def blas():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

X = np.random.default_rng(0).standard_normal((8192, 4))
gm = GaussianMixture(3, n_threads=2, random_state=0, max_iter=5).fit(X)
before, default, seen, after = blas(), effective_n_threads(), [], []

def calls():
    for _ in range(4):
        seen.append(effective_n_threads())  # while other threads' calls run
        gm.score_samples(X)

for _ in range(5):
    threads = [threading.Thread(target=calls) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after.append(blas())
print(json.dumps({"before": before, "after": after, "default": default,
                  "seen": sorted(set(seen)), "default_after": effective_n_threads()}))
"""


def test_concurrent_calls_restore_blas_limits():
    # A fresh interpreter: pytest's session-wide BLAS limit would make
    # threadpoolctl (>= 3.8) ignore limits set from the calls' threads.
    report = _run_script(CONCURRENT_SCRIPT, timeout=120)
    assert report["after"] == [report["before"]] * len(report["after"])
    assert report["seen"] == [report["default"]]
    assert report["default_after"] == report["default"]


class _FakeBlas:
    """A BLAS library as threadpoolctl shows it: a thread limit to set."""

    def __init__(self, num_threads, on_set=None):
        self.num_threads = num_threads
        self.on_set = on_set

    def set_num_threads(self, n):
        self.num_threads = n
        if self.on_set is not None:
            self.on_set()


@pytest.mark.parametrize("fork_at", ["entering", "leaving"])
def test_a_child_forked_while_blas_limits_change_gets_them_back(monkeypatch, fork_at):
    """fork() can land between the changes of two BLAS libraries' limits (the
    parent's lock does not stop it): the child must still find every library
    at its limit from before gmmc's call, as a fork outside it would."""
    from gmmc import _parallel
    seen_by_child, forked = [], []

    def fork_here():  # what the child runs after a fork at this instant
        if not forked:
            forked.append(True)
            _parallel._after_fork_in_child()
            seen_by_child.append([lib.num_threads for lib in libraries])

    first = _FakeBlas(2)
    libraries = [first, _FakeBlas(2)]
    monkeypatch.setattr(_parallel, "_blas_libraries", lambda: libraries)
    for name in ("_blas_users", "_blas_saved", "_blas_changed", "_lock", "_fork_generation"):
        monkeypatch.setattr(_parallel, name, getattr(_parallel, name, False), raising=False)
    if fork_at == "entering":  # right after the first library went to 1 thread
        first.on_set = lambda: first.num_threads == 1 and fork_here()
        with _parallel.blas_limited(2):
            pass
    else:  # right after the first library got its limit back
        with _parallel.blas_limited(2):
            first.on_set = lambda: first.num_threads == 2 and fork_here()
    assert seen_by_child == [[2, 2]]


# -- 4. helper threads and the caller's CPU -------------------------------------

linux_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2
    or sys.platform != "linux", reason="needs Linux and two CPUs")


@linux_two_cpus
def test_helpers_are_steered_off_the_callers_cpu_and_ended_ones_forgotten(monkeypatch):
    """A waiting helper is allowed every CPU it started with but the caller's,
    the caller's own affinity is left alone, and a helper that has ended is
    dropped (its id is never touched again)."""
    from gmmc import _parallel
    allowed = os.sched_getaffinity(0)
    first = min(allowed)
    waiting, done = threading.Event(), threading.Event()
    masks = {}

    def helper():
        waiting.set()
        done.wait(10)
        masks["helper"] = os.sched_getaffinity(0)

    thread = threading.Thread(target=helper)
    thread.start()
    waiting.wait(10)
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    monkeypatch.setattr(_parallel, "_helpers", {thread.native_id: (thread, allowed),
                                                ended.native_id: (ended, allowed)})
    _parallel._steer_helpers(first)
    done.set()
    thread.join()
    assert masks["helper"] == allowed - {first}
    assert os.sched_getaffinity(0) == allowed  # the caller's is untouched
    assert list(_parallel._helpers) == [thread.native_id]


@linux_two_cpus
def test_helper_blocks_run_beside_the_caller_not_on_its_cpu():
    """The caller pinned to one CPU (in a child: affinity is per thread) and
    idle for a while, as between fits: the helper's sub-blocks run elsewhere."""
    result = _run_script("""
        import json, os, threading, time
        from gmmc import _cpu, _parallel
        allowed = os.sched_getaffinity(0)
        caller = min(allowed)
        _parallel.map_row_blocks(lambda a, b: b - a, 1 << 20, 2)  # helpers: any CPU
        os.sched_setaffinity(0, {caller})
        records = []

        def block(a, b):
            records.append((threading.get_ident(), _cpu.current_cpu()))
            end = time.perf_counter() + 0.02
            while time.perf_counter() < end:
                pass
            return b - a

        for _ in range(5):
            time.sleep(0.3)
            _parallel.map_row_blocks(block, 1 << 20, 2)
        me = threading.get_ident()
        print(json.dumps({"caller": caller,
                          "helper cpus": sorted({c for t, c in records if t != me})}))
        """, timeout=60)
    assert result["helper cpus"] and result["caller"] not in result["helper cpus"]


# -- 5. the kernels' own threads (_team.h) ---------------------------------------

TEAM_SCRIPT = """
import json, os, threading, time
import numpy as np
from gmmc import GaussianMixture

def helpers():
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                names.append(comm.read().strip())
        except OSError:  # a thread that just ended
            pass
    return names.count("gmmc-team")

X = np.random.default_rng(0).standard_normal((40000, 4))
params = dict(n_components=3, random_state=0, max_iter=20, tol=0.0, n_threads=2)
before = helpers()
means = GaussianMixture(**params).fit(X).means_.tolist()
after = helpers()
time.sleep(0.05)  # past the helpers' 2 ms of looking for the next job
cpu = time.process_time()
time.sleep(0.3)
idle_cpu = time.process_time() - cpu
# Fits from several Python threads at once: one has the team, the others run
# their blocks alone.
results = [None] * 4
def fit(i):
    results[i] = GaussianMixture(**params).fit(X).means_.tolist()
threads = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"before": before, "after": after, "idle_cpu": idle_cpu,
                  "same": [r == means for r in results]}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads thread names from /proc")
def test_em_loop_threads_start_once_sleep_when_idle_and_share_safely():
    """A threaded fit of small data runs its EM loop on the kernels' own helper
    threads: one helper for 2 threads, started once, asleep (no CPU) between
    fits; fits from several Python threads at once give the same bits."""
    from gmmc import _team
    if not _team.available():
        pytest.skip("no threads of the kernels' own here")
    report = _run_script(TEAM_SCRIPT, timeout=120)
    assert report["before"] == 0 and report["after"] == 1
    assert report["idle_cpu"] < 0.05, report
    assert report["same"] == [True] * 4

