"""Out-of-core fits, sufficient statistics as a public unit of work, stepwise EM.

Oracles: the in-memory gmmc fit on the same array (itself tested against
scikit-learn elsewhere), NumPy/SciPy sums of responsibilities, and the
operating system's count of resident pages.
"""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmmc
from gmmc import (GaussianMixture, RowBlocks, SufficientStatistics, _chunked_init, _sources,
                  _stepwise, _streaming)
from conftest import COVARIANCE_TYPES, blobs, fit_quietly, full_covariances, init_kwargs, \
    random_init

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")
INITS = ("kmeans", "k-means++", "random", "random_from_data")


def _data(n_samples=1500, n_features=3, seed=0):
    X, _ = blobs(n_features, n_samples=n_samples, centers=3, seed=seed)
    return X


def _weights(n, seed=1):
    w = np.random.RandomState(seed).uniform(0.0, 2.0, n)
    w[::7] = 0.0  # some samples count for nothing
    return w


def _memmap(X, tmp_path, name="X.dat", order="C", mode="r", offset=0):
    path = tmp_path / name
    with open(path, "wb") as f:
        f.write(b"\xff" * offset)
        f.write(np.asarray(X, order=order).tobytes(order=order))
    return np.memmap(path, dtype=X.dtype, mode=mode, shape=X.shape, order=order,
                     offset=offset)


def assert_same_model(a, b, rtol=1e-10):
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    for name in FITTED:
        got, want = getattr(b, name), getattr(a, name)
        assert got.dtype == want.dtype, name
        assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=name)
    assert_allclose(b.lower_bound_, a.lower_bound_, rtol=rtol)


def _numpy_statistics(X, w, weights, means, covariances, covariance_type, shift):
    """E-step sums about ``shift`` with SciPy densities and NumPy sums only."""
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    log_p = np.column_stack([np.log(weights[j]) + multivariate_normal(means[j], covs[j])
                             .logpdf(X) for j in range(k)])
    log_norm = logsumexp(log_p, axis=1)
    r = np.exp(log_p - log_norm[:, None]) * w[:, None]
    y = X[:, None, :] - shift[None]  # (N, K, D)
    full_xx = np.einsum("nk,nka,nkb->kab", r, y, y)
    sum_xx = {"full": full_xx,
              "tied": np.einsum("n,na,nb->ab", w, y[:, 0], y[:, 0]),
              "diag": np.einsum("kaa->ka", full_xx),
              "spherical": np.einsum("kaa->k", full_xx)}[covariance_type]
    return dict(resp_sum=r.sum(axis=0), sum_x=np.einsum("nk,nka->ka", r, y), sum_xx=sum_xx,
                loglik_sum=w @ log_norm, weight_sum=w.sum())


# -- sufficient statistics: the unit of work --------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_blocks_add_up_and_match_numpy(covariance_type):
    X = _data(900)
    w = _weights(len(X))
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, max_iter=3,
                                     random_state=0, n_threads=1), X)
    whole = gm.sufficient_statistics(X, sample_weight=w)
    assert isinstance(whole, SufficientStatistics)
    parts = [gm.sufficient_statistics(X[a:b], sample_weight=w[a:b])
             for a, b in ((0, 100), (100, 101), (101, 650), (650, 900))]
    total = sum(parts)
    for name in ("resp_sum", "sum_x", "sum_xx", "total_x"):
        assert_allclose(getattr(total, name), getattr(whole, name), rtol=1e-11, atol=1e-9)
    assert_allclose(total.loglik_sum, whole.loglik_sum, rtol=1e-12)
    # a + b leaves its operands alone
    before = parts[0].resp_sum.copy()
    parts[0] + parts[1]
    assert_array_equal(parts[0].resp_sum, before)
    # Against SciPy densities and NumPy sums, about the same shift.
    oracle = _numpy_statistics(X, w, gm.weights_, gm.means_, gm.covariances_,
                               covariance_type, whole.shift)
    for name, value in oracle.items():
        assert_allclose(getattr(whole, name), value, rtol=1e-9, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_rebased_statistics_equal_sums_about_the_new_shift(covariance_type):
    X = _data(600)
    w = _weights(len(X))
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, max_iter=2,
                                     random_state=0, n_threads=1), X)
    stats = gm.sufficient_statistics(X, sample_weight=w)
    rng = np.random.RandomState(3)
    if covariance_type == "full":
        new_shift = stats.shift + rng.standard_normal(stats.shift.shape)
    else:
        new_shift = np.tile(stats.shift[0] + rng.standard_normal(X.shape[1]), (3, 1))
    moved = stats.rebased(new_shift)
    oracle = _numpy_statistics(X, w, gm.weights_, gm.means_, gm.covariances_,
                               covariance_type, new_shift)
    for name in ("resp_sum", "sum_x", "sum_xx"):
        assert_allclose(getattr(moved, name), oracle[name], rtol=1e-9, atol=1e-8,
                        err_msg=name)
    if covariance_type != "full":  # total_x: about the one centre
        assert_allclose(moved.total_x, w @ (X - new_shift[0]), rtol=1e-9, atol=1e-8)
    # The M-step does not depend on the point the sums are taken about, nor on
    # their scale.
    for other in (moved, stats.scaled(1e-3)):
        a = GaussianMixture(3, covariance_type=covariance_type).m_step(stats)
        b = GaussianMixture(3, covariance_type=covariance_type).m_step(other)
        for name in FITTED:
            assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-8, atol=1e-10)
    if covariance_type != "full":
        with pytest.raises(ValueError, match="all rows of shift must be equal"):
            stats.rebased(stats.shift + np.arange(3)[:, None])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_of_block_statistics_is_one_em_iteration(covariance_type):
    X = _data(1200)
    start = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, max_iter=2,
                                        random_state=0, n_threads=1), X)
    # The in-memory oracle: one more iteration, warm-started.
    reference = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, max_iter=2,
                                            random_state=0, n_threads=1), X)
    reference.set_params(warm_start=True, max_iter=1)
    fit_quietly(reference, X)
    stats = sum(start.sufficient_statistics(X[a:a + 250]) for a in range(0, 1200, 250))
    start.m_step(stats)
    for name in FITTED:
        assert_allclose(getattr(start, name), getattr(reference, name), rtol=1e-10,
                        atol=1e-12)
    assert_allclose(stats.mean_loglik, reference.lower_bound_, rtol=1e-12)


def test_statistics_api_errors():
    X = _data(300)
    gm = fit_quietly(GaussianMixture(3, random_state=0), X)
    stats = gm.sufficient_statistics(X)
    with pytest.raises(ValueError, match="covariance_type='full'"):
        GaussianMixture(3, covariance_type="diag").m_step(stats)
    with pytest.raises(ValueError, match="3 components"):
        GaussianMixture(2).m_step(stats)
    with pytest.raises(TypeError, match="SufficientStatistics"):
        GaussianMixture(3).m_step({"resp_sum": 1})
    with pytest.raises(gmmc.NotFittedError):
        GaussianMixture(3).sufficient_statistics(X)
    with pytest.raises(ValueError, match="3 features"):
        gm.sufficient_statistics(X[:, :2])
    with pytest.raises(ValueError, match="same shift"):
        stats.copy().merge(stats.rebased(stats.shift + 1.0))


# -- out-of-core fits: the same model as in memory --------------------------------

@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_memmap_fit_in_blocks_equals_in_memory_fit(init, covariance_type, tmp_path):
    X = _data(1500)
    w = _weights(len(X))
    kw = dict(n_components=3, covariance_type=covariance_type, init_params=init,
              random_state=0, n_threads=1, max_iter=40)
    for weight in (None, w):
        a = fit_quietly(GaussianMixture(**kw), X, sample_weight=weight)
        mm = _memmap(X, tmp_path)
        b = fit_quietly(GaussianMixture(**kw), RowBlocks(mm, block_rows=400),
                        sample_weight=weight)
        assert_same_model(a, b)


@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_init_with_many_lloyd_iterations_streams_exactly(weighted, tmp_path):
    # Uniform data: no clusters, so Lloyd's iterations go on for a while and
    # empty clusters may be reseeded; the start (max_iter=0) must match exactly.
    X = np.random.RandomState(5).uniform(size=(3000, 2))
    w = _weights(len(X)) if weighted else None
    kw = dict(n_components=7, init_params="kmeans", max_iter=0, random_state=0, n_threads=1)
    a = GaussianMixture(**kw).fit(X, sample_weight=w)
    b = GaussianMixture(**kw).fit(RowBlocks(_memmap(X, tmp_path), block_rows=512),
                                  sample_weight=w)
    for name in FITTED:
        assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_more_components_than_distinct_points(weighted, monkeypatch):
    # k-means++ runs out of potential (every sample sits on a centre) and
    # draws its candidates at random; k-means then has empty clusters to reseed.
    rng = np.random.RandomState(1)
    points = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    X = points[rng.randint(0, 3, 2000)]
    w = rng.uniform(0.5, 1.5, len(X)) if weighted else None
    kw = dict(n_components=5, max_iter=0, random_state=0, n_threads=1, reg_covar=1e-3)
    a = GaussianMixture(init_params="k-means++", **kw).fit(X, sample_weight=w)
    b = GaussianMixture(init_params="k-means++", **kw).fit(RowBlocks(X, block_rows=300),
                                                           sample_weight=w)
    assert_same_model(a, b)
    reseeds = []
    worst = _chunked_init._worst_fitted_chunk
    monkeypatch.setattr(_chunked_init, "_worst_fitted_chunk",
                        lambda *args: reseeds.append(1) or worst(*args))
    # Which of several equally bad samples reseeds a cluster is a tie that
    # NumPy's (unstable) argsort breaks in no specified order, so only the
    # validity of the start is checked here.
    c = GaussianMixture(init_params="kmeans", **kw).fit(RowBlocks(X, block_rows=300),
                                                        sample_weight=w)
    assert reseeds
    assert np.isfinite(c.covariances_).all()
    assert min(np.abs(points - m).sum(axis=1).min() for m in c.means_) < 1e-12


def test_plain_memmap_larger_than_a_block_is_streamed(tmp_path, monkeypatch):
    X = _data(2000)
    mm = _memmap(X, tmp_path)
    monkeypatch.setattr(_sources, "DEFAULT_BLOCK_BYTES", 300 * 8 * X.shape[1])
    reads = []
    original = RowBlocks.read
    monkeypatch.setattr(RowBlocks, "read",
                        lambda self, a, b, *more: reads.append((a, b))
                        or original(self, a, b, *more))
    kw = dict(n_components=3, random_state=0, n_threads=2)
    b = fit_quietly(GaussianMixture(**kw), mm)
    assert reads and max(b - a for a, b in reads) == 300  # never more than a block
    a = fit_quietly(GaussianMixture(**kw), X)
    assert_same_model(a, b)
    assert_array_equal(fit_quietly(GaussianMixture(**kw), mm).predict(X), a.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = GaussianMixture(**kw).fit_predict(mm)
    assert_array_equal(labels, a.predict(X))


@pytest.mark.parametrize("case", ["fortran", "offset", "row view", "column view",
                                  "big-endian", "int32", "copy-on-write", "generic"])
def test_block_sources_of_every_layout_fit_like_their_array(case, tmp_path):
    X = _data(1000)
    reference = X
    if case == "fortran":
        source = _memmap(X, tmp_path, order="F")
    elif case == "offset":
        source = _memmap(X, tmp_path, offset=24)
    elif case == "row view":
        source = _memmap(np.vstack([X[:5], X]), tmp_path)[5:]
    elif case == "column view":
        source = _memmap(np.hstack([X, X[:, :1]]), tmp_path)[:, :3]
    elif case == "big-endian":
        source = _memmap(X.astype(">f8"), tmp_path)
    elif case == "int32":
        reference = np.round(X * 100).astype(np.int32)
        source = _memmap(reference, tmp_path)
    elif case == "copy-on-write":
        source = _memmap(X + 1.0, tmp_path, mode="c")
        source[:] -= 1.0  # private changes: never written to the file
        reference = (X + 1.0) - 1.0
    else:  # any object with shape, dtype and row slices
        class Rows:
            shape, dtype, ndim = X.shape, X.dtype, 2

            def __getitem__(self, item):
                return X[item].copy()
        source = Rows()
    blocks = RowBlocks(source, block_rows=300)
    assert blocks.dtype == np.float64
    assert_array_equal(np.vstack([blocks.read(a, b) for a, b in blocks.bounds()]),
                       np.asarray(reference, dtype=np.float64))
    if blocks._file is not None:  # and the file-read path (platforms without madvise)
        by_file = RowBlocks(source, block_rows=300)
        by_file._mapped = False
        assert_array_equal(np.vstack([by_file.read(a, b) for a, b in by_file.bounds()]),
                           np.asarray(reference, dtype=np.float64))
    kw = dict(n_components=3, random_state=0, n_threads=1)
    a = fit_quietly(GaussianMixture(**kw), np.asarray(reference, dtype=np.float64))
    b = fit_quietly(GaussianMixture(**kw), blocks)
    assert_same_model(a, b)


def test_float32_memmap_gives_a_float32_model(tmp_path):
    X = _data(1200).astype(np.float32)
    kw = dict(n_components=3, random_state=0, n_threads=1, init_params="k-means++")
    a = fit_quietly(GaussianMixture(**kw), X)
    b = fit_quietly(GaussianMixture(**kw), RowBlocks(_memmap(X, tmp_path), block_rows=250))
    assert b.means_.dtype == np.float32
    assert_same_model(a, b, rtol=1e-4)


def test_given_inits_and_warm_start_stream_like_in_memory(tmp_path, covariance_type):
    X = _data(1500)
    init = init_kwargs(random_init(X, 3, covariance_type, seed=2))
    kw = dict(n_components=3, covariance_type=covariance_type, n_threads=1, max_iter=5,
              **init)
    blocks = RowBlocks(_memmap(X, tmp_path), block_rows=333)
    a = fit_quietly(GaussianMixture(**kw), X)
    b = fit_quietly(GaussianMixture(**kw), blocks)
    assert_same_model(a, b)
    for model in (a, b):
        model.set_params(warm_start=True)
    fit_quietly(a, X)
    fit_quietly(b, blocks)
    assert_same_model(a, b)
    b.set_params(weights_init=None, means_init=None, precisions_init=None)
    with pytest.raises(ValueError, match="warm-started model"):
        fit_quietly(b, RowBlocks(np.memmap(tmp_path / "X.dat", dtype=np.float64,
                                           mode="r", shape=(2250, 2)), block_rows=500))


def test_streamed_data_are_validated_block_by_block(tmp_path):
    X = _data(1000)
    bad = X.copy()
    bad[950, 1] = np.nan  # in the last block
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2).fit(RowBlocks(_memmap(bad, tmp_path), block_rows=100))
    bad[950, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        GaussianMixture(2).fit(RowBlocks(_memmap(bad, tmp_path, "b.dat"), block_rows=100))
    huge = X.copy()
    huge[999, 0] = 1e160
    with pytest.raises(ValueError, match="overflow"):
        GaussianMixture(2).fit(RowBlocks(_memmap(huge, tmp_path, "c.dat"), block_rows=100))
    blocks = RowBlocks(_memmap(X, tmp_path, "d.dat"), block_rows=100)
    with pytest.raises(ValueError, match="n_components = 2000"):
        GaussianMixture(2000).fit(blocks)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        GaussianMixture(2).fit(blocks, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="positive weight"):
        w = np.zeros(len(X))
        w[5] = 1
        GaussianMixture(2).fit(blocks, sample_weight=w)
    with pytest.raises(ValueError, match="2-D"):
        RowBlocks(np.zeros(5))
    with pytest.raises(ValueError, match="block_rows must be >= 1"):
        RowBlocks(X, block_rows=0)


def test_what_is_streamed():
    X = _data(10)
    assert not _sources.is_block_source(X)
    assert not _sources.is_block_source(X.tolist())
    assert _sources.is_block_source(RowBlocks(X))


def test_importing_gmmc_does_not_import_dask(tmp_path):
    code = ("import sys, gmmc, gmmc._sources, gmmc._streaming, gmmc._chunked_init, "
            "gmmc._stepwise; "
            "print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))")
    # The gmmc under test, wherever it is (a checkout without compiled kernels
    # must not shadow an installed one).
    env = dict(os.environ, PYTHONPATH=str(Path(gmmc.__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=env)
    assert out.stdout.strip() == "False"


# -- resident memory ---------------------------------------------------------------

def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _sources.mmap.PAGESIZE


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["in place", "file reads", "fortran"])
def test_streaming_a_memmap_keeps_its_pages_out_of_memory(how, tmp_path):
    n, d = 1_000_000, 8  # 64 MiB
    path = tmp_path / "big.dat"
    rng = np.random.RandomState(0)
    with open(path, "wb") as f:
        for _ in range(8):
            f.write(rng.standard_normal((n // 8, d)).tobytes())
    order = "F" if how == "fortran" else "C"
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=(n, d), order=order)
    blocks = RowBlocks(mm, block_rows=65536)  # 4 MiB
    assert blocks._mapped == (order == "C")  # used in place on Linux
    assert (blocks._file is not None) == (order == "C")
    if how == "file reads":
        blocks._mapped = False  # the path of platforms without madvise
    data = _streaming.BlockChunks(blocks, None, 1)
    before = _resident_bytes()
    sums = data.map_list(lambda X, w, start: X.sum(axis=0))
    grown = _resident_bytes() - before
    assert grown < 16 * 2 ** 20, grown
    # The control: reading through the mapping without releasing keeps the pages.
    other = np.memmap(path, dtype=np.float64, mode="r", shape=(n, d), order=order)
    before = _resident_bytes()
    total = np.asarray(other).sum(axis=0)
    assert _resident_bytes() - before > 48 * 2 ** 20
    assert_allclose(np.sum(sums, axis=0), total, rtol=1e-10)


# -- stepwise EM (partial_fit) -----------------------------------------------------

def test_partial_fit_on_one_batch_is_one_em_iteration(covariance_type):
    X = _data(800)
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0, n_threads=1)
    a = fit_quietly(GaussianMixture(max_iter=1, **kw), X)
    b = GaussianMixture(**kw).partial_fit(X)
    for name in FITTED:
        assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12, atol=1e-14)
    assert b.n_iter_ == 1 and b.converged_ is False
    assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_partial_fit_follows_the_documented_step_sizes(alpha):
    """NumPy oracle: raw moments of each batch, blended with eta_t = (t + 1) ** -alpha."""
    X = _data(1200)
    gm = GaussianMixture(3, reg_covar=1e-6, random_state=0, n_threads=1)
    # The first batch initialises the model exactly as fit does (max_iter=0).
    start = fit_quietly(GaussianMixture(3, random_state=0, n_threads=1, max_iter=0),
                        X[:300])
    weights, means, covs = start.weights_, start.means_, start.covariances_
    moments = None
    for t, batch in enumerate(np.array_split(X, 4)):
        log_p = np.column_stack([np.log(weights[j]) + multivariate_normal(
            means[j], covs[j]).logpdf(batch) for j in range(3)])
        r = np.exp(log_p - logsumexp(log_p, axis=1)[:, None])
        batch_moments = (r.mean(axis=0), r.T @ batch / len(batch),
                         np.einsum("nk,na,nb->kab", r, batch, batch) / len(batch))
        eta = (t + 1.0) ** -alpha
        moments = batch_moments if moments is None else tuple(
            (1 - eta) * m + eta * b for m, b in zip(moments, batch_moments))
        gm.partial_fit(batch, step_exponent=alpha)
        s0, s1, s2 = moments
        want_means = s1 / s0[:, None]
        want_covs = s2 / s0[:, None, None] - np.einsum("ka,kb->kab", want_means, want_means)
        want_covs += 1e-6 * np.eye(3)
        assert_allclose(gm.weights_, s0 / s0.sum(), rtol=1e-9)
        assert_allclose(gm.means_, want_means, rtol=1e-9, atol=1e-9)
        assert_allclose(gm.covariances_, want_covs, rtol=1e-7, atol=1e-9)
        weights, means, covs = gm.weights_, gm.means_, gm.covariances_
    assert gm.n_iter_ == 4 and len(gm.lower_bounds_) == 4


def test_partial_fit_approaches_the_full_batch_fit(covariance_type):
    X, y = blobs(2, n_samples=12000, centers=3, seed=4)
    # A start near each blob (both fits then find the same optimum); 2 of the 3
    # blobs overlap, so the components still move a lot.
    means = np.array([X[y == k].mean(axis=0) for k in range(3)])
    means += np.random.RandomState(1).uniform(-1.0, 1.0, means.shape)
    # random_state: the starting weights and precisions come from a k-means
    # start, which must not depend on the global RNG (the tests run before).
    kw = dict(n_components=3, covariance_type=covariance_type, n_threads=1,
              means_init=means, random_state=0)
    full = fit_quietly(GaussianMixture(tol=1e-8, max_iter=500, **kw), X)
    online = GaussianMixture(**kw)
    rng = np.random.RandomState(0)
    for _ in range(4):  # epochs of shuffled batches of 400
        for batch in np.array_split(X[rng.permutation(len(X))], 30):
            online.partial_fit(batch, step_exponent=0.6)
    # Each bound below is ~2x what 4 epochs reach, and fails for one batch alone.
    scale = X.std(axis=0).max()
    assert_allclose(online.weights_, full.weights_, atol=0.01)
    assert_allclose(online.means_, full.means_, atol=0.01 * scale)
    covariance_error = np.abs(online.covariances_ - full.covariances_).max()
    assert covariance_error < 0.04 * np.abs(full.covariances_).max()
    assert online.score(X) > full.score(X) - 1e-3
    first = GaussianMixture(**kw).partial_fit(X[:400])
    assert first.score(X) < full.score(X) - 1e-3


def test_partial_fit_state_and_errors():
    X = _data(600)
    gm = GaussianMixture(3, random_state=0, n_threads=1)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.partial_fit(X[:2])
    with pytest.raises(ValueError, match="step_exponent must be > 0.5"):
        gm.partial_fit(X, step_exponent=0.5)
    with pytest.raises(ValueError, match="step_exponent must be <= 1"):
        gm.partial_fit(X, step_exponent=1.5)
    gm.partial_fit(X[:300]).partial_fit(X[300:])
    assert gm.n_iter_ == 2
    with pytest.raises(ValueError, match="3 features"):
        gm.partial_fit(X[:, :2])
    # fit starts afresh; a following partial_fit counts its batches again
    fit_quietly(gm, X)
    gm.partial_fit(X[:300])
    assert gm.n_iter_ == 1 and len(gm.lower_bounds_) == 1


def _raw_moments(weights, means, covariances, covariance_type, reg_covar, total):
    """Zeroth, first and second raw moments (K,), (K, D), (K, D, D) of the data a
    fitted model stands for: ``total`` weight, split by ``weights``, with the
    fitted covariances less ``reg_covar``."""
    k, d = means.shape
    scatter = full_covariances(covariances, covariance_type, k, d) - reg_covar * np.eye(d)
    s0 = total * weights
    return s0, s0[:, None] * means, s0[:, None, None] * (
        scatter + np.einsum("ka,kb->kab", means, means))


def _batch_moments(X, w, weights, means, covariances, covariance_type):
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    log_p = np.column_stack([np.log(weights[j]) + multivariate_normal(means[j], covs[j])
                             .logpdf(X) for j in range(k)])
    r = np.exp(log_p - logsumexp(log_p, axis=1)[:, None]) * w[:, None]
    return r.sum(axis=0), r.T @ X, np.einsum("nk,na,nb->kab", r, X, X)


def _numpy_m_step(moments, covariance_type, reg_covar):
    """Weights, means and covariances (in covariance_type's layout) from raw moments."""
    s0, s1, s2 = moments
    means = s1 / s0[:, None]
    scatter = s2 - s0[:, None, None] * np.einsum("ka,kb->kab", means, means)
    d = means.shape[1]
    covariances = {"full": scatter / s0[:, None, None],
                   "tied": scatter.sum(axis=0) / s0.sum(),
                   "diag": np.einsum("kaa->ka", scatter) / s0[:, None],
                   "spherical": np.einsum("kaa->k", scatter) / s0 / d}[covariance_type]
    if covariance_type in ("full", "tied"):
        return s0 / s0.sum(), means, covariances + reg_covar * np.eye(d)
    return s0 / s0.sum(), means, covariances + reg_covar


@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_partial_fit_after_fit_weights_the_model_by_the_sample_weight_it_saw(
        covariance_type, alpha):
    """NumPy oracle: the fitted model's moments carry the weight W fit saw; a batch
    of weight b is blended in with eta = (1 + W / b) ** -alpha."""
    X = _data(1500)
    X1, X2 = X[:1200], X[1200:]
    w1, w2 = _weights(len(X1)), _weights(len(X2), seed=2)
    reg = 1e-4
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, reg_covar=reg,
                                     random_state=0, n_threads=1), X1, sample_weight=w1)
    assert_allclose(gm.n_samples_seen_, w1.sum(), rtol=1e-12)
    params = (gm.weights_, gm.means_, gm.covariances_)
    model = _raw_moments(*params, covariance_type, reg, w1.sum())
    batch = _batch_moments(X2, w2, *params, covariance_type)
    eta = (1.0 + w1.sum() / w2.sum()) ** -alpha
    blended = [(1 - eta) * m / w1.sum() + eta * b / w2.sum() for m, b in zip(model, batch)]
    gm.partial_fit(X2, sample_weight=w2, step_exponent=alpha)
    for got, want, name in zip((gm.weights_, gm.means_, gm.covariances_),
                               _numpy_m_step(blended, covariance_type, reg), FITTED):
        assert_allclose(got, want, rtol=1e-8, atol=1e-10, err_msg=name)
    assert_allclose(gm.n_samples_seen_, w1.sum() + w2.sum(), rtol=1e-12)
    assert gm.n_iter_ == 1


def test_partial_fit_after_a_converged_fit_is_one_em_iteration_on_all_the_data(
        covariance_type):
    """scikit-learn oracle: with alpha = 1 the model's statistics and the batch's
    are pooled by weight, so continuing a converged fit on X1 with the batch X2
    is one EM iteration on X1 and X2 together."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    X = _data(1500)
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, tol=1e-14,
                                     max_iter=5000, random_state=0, n_threads=1), X[:1000])
    assert gm.converged_
    sk = SkGaussianMixture(3, covariance_type=covariance_type, max_iter=1,
                           weights_init=gm.weights_, means_init=gm.means_,
                           precisions_init=gm.precisions_)
    fit_quietly(sk, X)
    gm.partial_fit(X[1000:], step_exponent=1.0)
    for name in FITTED:
        assert_allclose(getattr(gm, name), getattr(sk, name), rtol=1e-6, atol=1e-9,
                        err_msg=name)


def test_one_new_row_barely_changes_a_fitted_or_loaded_model(tmp_path):
    X = _data(1501)
    gm = fit_quietly(GaussianMixture(3, random_state=0, n_threads=1), X[:1500])
    gm.save(tmp_path / "m.npz")
    loaded = gmmc.load(tmp_path / "m.npz")
    assert loaded.n_samples_seen_ == gm.n_samples_seen_ == 1500
    score = gm.score(X[:1500])
    for model in (gm, loaded):
        model.partial_fit(X[1500:])
        # Weight 1 against 1500: eta = 1501 ** -0.6 ~ 0.012.
        assert abs(model.score(X[:1500]) - score) < 1e-3 * abs(score)
        assert model.n_samples_seen_ == 1501
    for name in FITTED:
        assert_array_equal(getattr(loaded, name), getattr(gm, name), err_msg=name)


def test_streamed_fit_and_m_step_record_the_sample_weight_they_saw(tmp_path):
    X = _data(1000)
    w = _weights(len(X))
    gm = fit_quietly(GaussianMixture(3, random_state=0, n_threads=1),
                     RowBlocks(_memmap(X, tmp_path), block_rows=300), sample_weight=w)
    assert_allclose(gm.n_samples_seen_, w.sum(), rtol=1e-12)
    stats = gm.sufficient_statistics(X[:400], sample_weight=w[:400])
    fresh = GaussianMixture(3).m_step(stats)
    assert_allclose(fresh.n_samples_seen_, w[:400].sum(), rtol=1e-12)
    # Continuing from m_step's statistics: one row barely moves the model.
    before = fresh.score(X)
    fresh.partial_fit(X[400:401])
    assert abs(fresh.score(X) - before) < 1e-2 * abs(before)
    # A model whose parameters were set by hand has no sample weight to go by.
    manual = GaussianMixture(3, n_threads=1)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "precisions_", "n_features_in_"):
        setattr(manual, name, getattr(gm, name))
    with pytest.raises(ValueError, match="n_samples_seen_"):
        manual.partial_fit(X[:10])
    manual.n_samples_seen_ = 1000.0
    manual.partial_fit(X[:10])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_partial_fit_state_survives_save_and_load(covariance_type, dtype, tmp_path):
    """Oracle: a pickled copy, which keeps every attribute."""
    import pickle
    X = _data(1800).astype(dtype)
    batches = np.array_split(X, 9)
    for start in ("partial_fit", "fit"):
        gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0, n_threads=1)
        if start == "fit":
            fit_quietly(gm, X[:400])
        for batch in batches[:3]:
            gm.partial_fit(batch)
        pickled = pickle.loads(pickle.dumps(gm))
        gm.save(tmp_path / "m.npz")
        loaded = gmmc.load(tmp_path / "m.npz")
        for batch in batches[3:8]:
            pickled.partial_fit(batch)
            loaded.partial_fit(batch)
        for name in FITTED:
            assert_array_equal(getattr(loaded, name), getattr(pickled, name), err_msg=name)
        assert loaded.n_iter_ == pickled.n_iter_ == 8
        assert loaded.lower_bounds_ == pickled.lower_bounds_
        assert loaded.n_samples_seen_ == pickled.n_samples_seen_
    # A state that fit made stale is not saved: the refitted model continues
    # from its own parameters.
    fit_quietly(gm, X)
    gm.save(tmp_path / "refit.npz")
    with np.load(tmp_path / "refit.npz") as archive:
        assert not [key for key in archive.files if key.startswith("stepwise")]


def test_invalid_partial_fit_state_in_a_model_file_is_refused(tmp_path):
    X = _data(600)
    gm = GaussianMixture(3, random_state=0, n_threads=1).partial_fit(X[:300])
    gm.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        arrays = dict(archive)
    assert {"stepwise_sum_xx", "stepwise_n_batches", "n_samples_seen"} <= arrays.keys()
    # gmmc.io reads the members the state may have, listed in STATE_KEYS
    assert {key for key in arrays if key.startswith("stepwise_")
            or key == "n_samples_seen"} == set(_stepwise.STATE_KEYS)
    for key, value, message in (
            ("stepwise_sum_x", np.zeros((2, 3)), "stepwise_sum_x"),
            ("stepwise_sum_xx", np.full((3, 3, 3), np.nan), "non-finite"),
            ("stepwise_weight_sum", np.float64(0.0), "stepwise_weight_sum"),
            ("stepwise_n_batches", np.int64(-1), "stepwise_n_batches"),
            ("n_samples_seen", np.float64(-2.0), "n_samples_seen"),
            ("stepwise_shift", None, "incomplete")):
        bad = dict(arrays)
        if value is None:
            del bad[key]
        else:
            bad[key] = value
        with open(tmp_path / "bad.npz", "wb") as f:
            np.savez(f, **bad)
        with pytest.raises(gmmc.io.ModelFileError, match=message):
            gmmc.load(tmp_path / "bad.npz")


def test_changing_the_model_between_partial_fit_calls_raises():
    X = _data(900)
    for start in ("partial_fit", "fit"):
        gm = GaussianMixture(3, random_state=0, n_threads=1)
        if start == "fit":
            fit_quietly(gm, X[:300])
        else:
            gm.partial_fit(X[:300])
        before = {name: getattr(gm, name).copy() for name in FITTED}
        gm.set_params(n_components=4)
        with pytest.raises(ValueError, match="n_components=4.*3 components"):
            gm.partial_fit(X[300:600])
        for covariance_type in ("tied", "diag", "spherical"):
            gm.set_params(n_components=3, covariance_type=covariance_type)
            with pytest.raises(ValueError, match=f"covariance_type='{covariance_type}'"):
                gm.partial_fit(X[300:600])
        for name in FITTED:
            assert_array_equal(getattr(gm, name), before[name], err_msg=name)
        gm.set_params(covariance_type="full")
        gm.partial_fit(X[300:600])
    # Three diagonal components in three dimensions look like one tied
    # covariance: the running statistics still know their type.
    gm = GaussianMixture(3, covariance_type="diag", random_state=0, n_threads=1)
    gm.partial_fit(X[:300]).set_params(covariance_type="tied")
    with pytest.raises(ValueError, match="covariance_type='tied'.*'diag'"):
        gm.partial_fit(X[300:600])
