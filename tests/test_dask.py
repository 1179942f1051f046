"""Distributed EM on Dask arrays (``gmmc.dask``, the ``gmmc[dask]`` extra).

Oracle: the in-memory gmmc fit on the same data from the same start (itself
tested against scikit-learn elsewhere), and the streaming fit of the same
lazily generated data. The cluster is a ``distributed.LocalCluster`` of 2
worker processes with 1 thread each and a small memory limit.
"""
import importlib
import os
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import gmmc  # noqa: E402
import gmmc.dask  # noqa: E402
from gmmc import GaussianMixture, RowBlocks  # noqa: E402
from conftest import blobs, fit_quietly, init_kwargs, random_init  # noqa: E402

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")
WORKER_MEMORY = 320 * 2 ** 20
# Under AddressSanitizer (tools/asan.sh, which leaves out the test of data
# larger than a worker's memory) resident memory measures the sanitizer, not
# gmmc: its workers get room.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
CLUSTER_WORKER_MEMORY = 4 * WORKER_MEMORY if UNDER_ASAN else WORKER_MEMORY


def assert_same_model(a, b, rtol=1e-6):
    assert a.n_iter_ == b.n_iter_
    for name in FITTED:
        want = getattr(a, name)
        assert_allclose(getattr(b, name), want, rtol=rtol, atol=rtol * np.abs(want).max(),
                        err_msg=name)
    assert_allclose(b.lower_bound_, a.lower_bound_, rtol=rtol)


@pytest.fixture(scope="module")
def client():
    """2 worker processes, 1 thread each, 320 MiB of memory each (more under ASan)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=True, memory_limit=CLUSTER_WORKER_MEMORY,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def _data(n_samples=2400, n_features=3):
    X, _ = blobs(n_features, n_samples=n_samples, centers=3, seed=0)
    return X


def _weights(n):
    w = np.random.RandomState(1).uniform(0.0, 2.0, n)
    w[::7] = 0.0
    return w


# -- the same model as in memory, on the local threaded scheduler -------------------

@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random_from_data", "given"])
def test_dask_fit_equals_in_memory_fit(init, covariance_type, threads):
    X = _data()
    w = _weights(len(X))
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0,
              n_threads=1, max_iter=40)
    if init == "given":
        kw.update(init_kwargs(random_init(X, 3, covariance_type, seed=2)))
    else:
        kw["init_params"] = init
    dX = da.from_array(X, chunks=(500, 2))  # uneven row chunks, split features
    for weight, dweight in ((None, None), (w, w), (w, da.from_array(w, chunks=700))):
        a = fit_quietly(GaussianMixture(**kw), X, sample_weight=weight)
        b = fit_quietly(gmmc.dask.GaussianMixture(**kw), dX, sample_weight=dweight)
        assert_same_model(a, b, rtol=1e-9)


def test_bayesian_dask_fit_equals_in_memory_fit(covariance_type, threads):
    """BayesianGaussianMixture.fit runs the same streamed driver on Dask chunks."""
    X = _data(n_samples=1200)
    w = _weights(len(X))
    kw = dict(n_components=4, covariance_type=covariance_type, random_state=0,
              n_threads=1, max_iter=200, weight_concentration_prior_type="dirichlet_process")
    dX = da.from_array(X, chunks=(250, 2))
    for weight in (w, None):
        a = fit_quietly(gmmc.BayesianGaussianMixture(**kw), X, sample_weight=weight)
        b = fit_quietly(gmmc.BayesianGaussianMixture(**kw), dX, sample_weight=weight)
        assert_same_model(a, b, rtol=1e-7)
        for name in ("mean_prior_", "covariance_prior_", "degrees_of_freedom_"):
            assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-7, err_msg=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = gmmc.BayesianGaussianMixture(**kw).fit_predict(dX)
    assert_array_equal(labels, a.predict(X))  # a: the unweighted fit


@pytest.mark.parametrize("split_every", [2, 3])
def test_tree_reduction_over_many_chunks(split_every, threads):
    X = _data()
    kw = dict(n_components=3, random_state=0, init_params="kmeans", n_threads=1)
    a = fit_quietly(GaussianMixture(**kw), X)
    b = fit_quietly(gmmc.dask.GaussianMixture(split_every=split_every, **kw),
                    da.from_array(X, chunks=(110, 3)))  # 22 chunks, 3 or 5 levels
    assert_same_model(a, b, rtol=1e-9)


def test_random_init_is_seeded_per_chunk(threads):
    X = _data()
    dX = da.from_array(X, chunks=600)
    kw = dict(n_components=3, init_params="random", random_state=0, max_iter=0)
    a = fit_quietly(gmmc.dask.GaussianMixture(**kw), dX)
    b = fit_quietly(gmmc.dask.GaussianMixture(**kw), dX)
    assert_array_equal(a.means_, b.means_)  # reproducible
    # Its start is the M-step of uniform responsibilities: near the data mean.
    assert_allclose(a.means_, np.tile(X.mean(axis=0), (3, 1)), atol=0.1 * X.std())
    full = fit_quietly(gmmc.dask.GaussianMixture(3, init_params="random", random_state=0),
                       dX)
    assert np.isfinite(full.lower_bound_)


def test_lazy_predictions_equal_numpy_predictions(threads):
    X = _data()
    dX = da.from_array(X, chunks=(700, 3))
    gm = fit_quietly(gmmc.dask.GaussianMixture(3, random_state=0), dX)
    labels = gm.predict(dX)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), gm.predict(X))
    assert_allclose(gm.predict_proba(dX).compute(), gm.predict_proba(X), rtol=1e-12)
    assert_allclose(gm.score_samples(dX).compute(), gm.score_samples(X), rtol=1e-12)
    assert_allclose(gm.score(dX), gm.score(X), rtol=1e-12)
    assert_allclose(gm.bic(dX), gm.bic(X), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lazy = gmmc.dask.GaussianMixture(3, random_state=0).fit_predict(dX)
    assert_array_equal(lazy.compute(), gm.predict(X))
    # gmmc.GaussianMixture takes Dask arrays too, through the same engine.
    plain = fit_quietly(GaussianMixture(3, random_state=0), dX)
    assert_same_model(gm, plain, rtol=1e-12)
    stats = gm.sufficient_statistics(dX)
    assert_allclose(stats.resp_sum, gm.sufficient_statistics(X).resp_sum, rtol=1e-12)
    assert gmmc.dask.GaussianMixture(3).get_params()["split_every"] == 8


def test_errors_raised_on_chunks_reach_the_caller(threads):
    X = _data()
    X[2000, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        gmmc.dask.GaussianMixture(3).fit(da.from_array(X, chunks=500))
    w = _weights(len(X))
    w[2100] = -1
    with pytest.raises(ValueError, match="non-negative"):
        gmmc.dask.GaussianMixture(3).fit(da.from_array(_data(), chunks=500),
                                         sample_weight=da.from_array(w, chunks=500))
    with pytest.raises(ValueError, match="2-D"):
        gmmc.dask.GaussianMixture(3).fit(da.ones(10, chunks=5))
    with pytest.raises(ValueError, match="strings"):
        gmmc.dask.GaussianMixture(3).fit(da.from_array(np.array([["a", "b"]] * 4)))
    with pytest.raises(ValueError, match="split_every must be >= 2"):
        gmmc.dask.GaussianMixture(3, split_every=1).fit(da.from_array(_data(), chunks=500))


def test_chunks_of_unknown_size(threads):
    X = _data()
    dX = da.from_array(X, chunks=400)
    filtered = dX[dX[:, 0] > -np.inf]  # the same rows, chunk sizes unknown
    assert np.isnan(filtered.shape[0])
    kw = dict(n_components=3, random_state=0, init_params="k-means++", n_threads=1)
    assert_same_model(fit_quietly(GaussianMixture(**kw), X),
                      fit_quietly(gmmc.dask.GaussianMixture(**kw), filtered), rtol=1e-9)


# -- a LocalCluster: processes, 2 workers, 1 thread each ----------------------------

@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_local_cluster_fit_equals_in_memory_fit(client, covariance_type):
    X = _data(4000, 4)
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0,
              init_params="k-means++", n_threads=1)
    a = fit_quietly(GaussianMixture(**kw), X)
    with distributed.get_task_stream(client) as tasks:
        b = fit_quietly(gmmc.dask.GaussianMixture(**kw), da.from_array(X, chunks=700))
    assert_same_model(a, b)
    # The chunk tasks ran on the cluster, on both workers.
    assert len({task["worker"] for task in tasks.data}) == 2


def _block_generator():
    """A function making the rows of a 3-component mixture from each block's seed.

    Defined locally so that it travels to the workers by value: a module-level
    function of this file would make every worker import the test suite (and
    scikit-learn with it), which alone takes most of its memory limit.
    """
    def generated_block(block_info=None):
        info = block_info[None]
        (start, stop), _ = info["array-location"]
        rng = np.random.default_rng(info["chunk-location"][0])
        out = rng.standard_normal(info["chunk-shape"])
        out += np.array([0.0, 4.0, -4.0])[np.arange(start, stop) % 3][:, None]
        return out
    return generated_block


class _GeneratedRows:
    """The same rows as the Dask array below, for a streaming fit in this process."""

    def __init__(self, n_samples, n_features, chunk):
        self.shape, self.dtype, self.ndim = (n_samples, n_features), np.dtype(np.float64), 2
        self.chunk = chunk
        self.make = _block_generator()

    def __getitem__(self, rows):
        i = rows.start // self.chunk
        assert rows.start == i * self.chunk and rows.stop - rows.start <= self.chunk
        info = {None: {"array-location": [(rows.start, rows.stop), (0, self.shape[1])],
                       "chunk-location": (i, 0),
                       "chunk-shape": (rows.stop - rows.start, self.shape[1])}}
        return self.make(block_info=info)


def _peak_resident_bytes_reader():
    """A function giving its process's peak resident memory; asked to
    ``reset``, it first restarts the peak from the current resident memory
    (Linux's clear_refs).

    Defined locally so that it travels to the workers by value (see
    ``_block_generator``).
    """
    def peak_resident_bytes(reset=False):
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    return peak_resident_bytes


@pytest.mark.skipif(sys.platform == "win32", reason="memory limits of spawned workers")
def test_data_larger_than_a_worker_memory_limit_fits(client):
    n, d, chunk = 2_800_000, 16, 100_000  # 342 MiB of float64, never all in memory
    assert n * d * 8 > WORKER_MEMORY
    X = da.map_blocks(_block_generator(), chunks=((chunk,) * (n // chunk), (d,)),
                      dtype=np.float64)
    kw = dict(n_components=3, covariance_type="diag", init_params="random_from_data",
              random_state=0, max_iter=2, n_threads=1)
    workers = set(client.scheduler_info()["workers"])
    on_linux = sys.platform.startswith("linux")
    if on_linux:
        client.run(importlib.import_module, "gmmc.dask")  # its libraries: not the fit's
        before = client.run(_peak_resident_bytes_reader(), reset=True)
    gm = fit_quietly(gmmc.dask.GaussianMixture(**kw), X)
    # No worker passed 95% of its limit: the nanny would have restarted it,
    # under a new address.
    assert set(client.scheduler_info()["workers"]) == workers
    if on_linux:
        # A worker's memory before the fit is its libraries' (170-190 MiB,
        # varying with their versions); what it grew by during the fit is
        # gmmc's: a few blocks at a time, far from the 171 MiB of rows each
        # worker reads.
        after = client.run(_peak_resident_bytes_reader())
        growth = {w: after[w] - before[w] for w in after}
        assert max(growth.values()) < 6 * chunk * d * 8, growth
    # The oracle: the streaming fit of the same rows in this process.
    streamed = fit_quietly(GaussianMixture(**kw),
                           RowBlocks(_GeneratedRows(n, d, chunk), block_rows=chunk))
    assert_same_model(streamed, gm)
    assert_allclose(np.sort(gm.means_.mean(axis=1)), [-4.0, 0.0, 4.0], atol=0.05)
