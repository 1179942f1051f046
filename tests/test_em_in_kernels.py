"""The EM loop in the kernels (one block of rows, or the driver's blocks on
the kernels' own threads) against the Python driver's loop: the same steps,
so the same fits."""
import numpy as np
import pytest

import gmmc
from gmmc.mixture import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _blobs(n=400, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(3, d))
    return centers[rng.integers(3, size=n)] + rng.normal(size=(n, d))


def _fit(monkeypatch, in_kernels, **kwargs):
    with monkeypatch.context() as patch:
        if not in_kernels:
            patch.setattr(GaussianMixture, "_em_in_kernels", lambda *args: None)
        calls = []
        original = gmmc._stats.em_in_kernels
        patch.setattr(gmmc._stats, "em_in_kernels",
                      lambda *a, **k: calls.append(1) or original(*a, **k))
        X, weight = kwargs.pop("X"), kwargs.pop("sample_weight", None)
        gm = GaussianMixture(**kwargs).fit(X, sample_weight=weight)
    assert bool(calls) == in_kernels  # the path under test ran
    return gm


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_samples, n_threads", [(400, 1), (20000, 2)])
def test_kernel_loop_matches_the_driver(monkeypatch, covariance_type, dtype, weighted,
                                        n_samples, n_threads):
    # 20 000 rows on 2 threads: two blocks of rows, on the kernels' threads.
    if n_threads > 1 and not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=n_samples).astype(dtype)
    assert len(gmmc._parallel.row_block_bounds(n_samples, n_threads)) == n_threads + 1
    weight = (np.random.default_rng(1).uniform(0.2, 3.0, size=len(X)) if weighted
              else None)
    params = dict(X=X, sample_weight=weight, n_components=3,
                  covariance_type=covariance_type, random_state=0, tol=1e-8,
                  max_iter=60, n_init=2, n_threads=n_threads)
    a = _fit(monkeypatch, True, **params)
    b = _fit(monkeypatch, False, **params)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert getattr(a, name).dtype == dtype
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol,
                                   atol=1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert isinstance(a.lower_bounds_, list)


@pytest.mark.parametrize("extra, in_kernels", [(0, True), (-1, False)])
def test_threaded_fits_past_the_work_bound_keep_the_driver(monkeypatch, extra, in_kernels):
    """Ctrl-C is seen between the kernel loop's iterations only, so threaded
    fits of more than IN_KERNELS_MAX_WORK values x components keep the
    driver (a fit of one block of rows never has threads to stop)."""
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=20000)
    monkeypatch.setattr(gmmc._stats, "IN_KERNELS_MAX_WORK", X.size * 3 + extra)
    calls = []
    original = gmmc._stats.em_in_kernels
    monkeypatch.setattr(gmmc._stats, "em_in_kernels",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    GaussianMixture(3, random_state=0, max_iter=5, n_threads=2).fit(X)
    assert bool(calls) == in_kernels
    calls.clear()
    GaussianMixture(3, random_state=0, max_iter=5, n_threads=1).fit(X[:1000])
    assert calls  # one block: always in the kernels


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_loop_gives_the_same_bits_on_any_number_of_threads(covariance_type, dtype):
    """Each block's sums are its own and added in block order: the thread that
    ran a block, and how many ran, change nothing."""
    X = _blobs(n=30000, d=4, seed=5).astype(dtype)
    k, d = 3, X.shape[1]
    rng = np.random.default_rng(6)
    weight = rng.uniform(0.5, 2.0, size=len(X)).astype(dtype)
    blocks = np.array([0, 7000, 7000, 15001, 22000, 30000], dtype=np.int64)  # one empty
    n_cov = {"full": k * d * d, "tied": d * d, "diag": k * d, "spherical": k}[covariance_type]
    start = gmmc.GaussianMixture(k, covariance_type=covariance_type, max_iter=1,
                                 random_state=0).fit(X[:2000])
    results = []
    for n_threads in (1, 2, 3):
        params = [np.array(p, dtype=dtype).reshape(-1) if i > 1 else np.array(p, dtype=dtype)
                  for i, p in enumerate([start.weights_, start.means_, start.covariances_,
                                         start.precisions_cholesky_])]
        assert params[2].shape[0] == n_cov
        bounds = np.empty(8)
        out = gmmc._em.em_loop(X, weight, float(weight.sum(dtype=np.float64)),
                               covariance_type, *params, 1e-6, 10 * np.finfo(dtype).eps,
                               0.0, 8, -np.inf, bounds, blocks, n_threads)
        results.append((out, bounds.tolist(), [p.tolist() for p in params]))
    assert results[0][0][0] == 8  # tol 0: all iterations ran
    assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kernel_loop_matches_scikit_learn(covariance_type):
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    X = _blobs(seed=3)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0,
                  tol=1e-10, max_iter=200)
    a = GaussianMixture(**params).fit(X)
    b = sklearn_mixture.GaussianMixture(**params).fit(X)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-10)


def test_kernel_loop_raises_the_driver_error_for_a_collapsed_component(monkeypatch):
    # A valid start; the first M-step gives the far point a component of its
    # own, of covariance 0 (reg_covar=0): an ill-defined covariance.
    X = np.array([[0.0, 0.0], [0.1, 0.3], [0.2, 0.1], [0.3, 0.2], [1e3, 1e3]])
    params = dict(X=X, n_components=2, reg_covar=0.0, covariance_type="full",
                  means_init=[[0.15, 0.15], [1e3, 1e3]],
                  precisions_init=np.array([np.eye(2), np.eye(2)]))
    messages = []
    for in_kernels in (True, False):
        with pytest.raises(ValueError, match="ill-defined empirical covariance") as err:
            _fit(monkeypatch, in_kernels, **params)
        messages.append(str(err.value))
    assert "(The first is component 1.)" in messages[0]
    assert messages[0] == messages[1]


def test_kernel_loop_max_iter_zero_keeps_the_start(monkeypatch):
    X = _blobs()
    params = dict(X=X, n_components=3, random_state=0, max_iter=0)
    a = _fit(monkeypatch, True, **params)
    b = _fit(monkeypatch, False, **params)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.n_iter_ == b.n_iter_ == 0 and a.lower_bounds_ == b.lower_bounds_ == []


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_samples, n_threads", [(600, 1), (20000, 2)])
def test_lloyd_loop_in_the_kernels_matches_the_step_by_step_loop(
        monkeypatch, dtype, weighted, seed, n_samples, n_threads):
    # 20 000 rows on 2 threads: two blocks, on the kernels' threads.
    if n_threads > 1 and not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    rng = np.random.default_rng(seed)
    X = _blobs(n=n_samples, d=4, seed=seed).astype(dtype)
    assert len(gmmc._parallel.row_block_bounds(n_samples, n_threads)) == n_threads + 1
    weight = rng.uniform(0.1, 2.0, size=len(X)).astype(dtype) if weighted else None
    labels = []
    for in_kernels in (True, False):
        with monkeypatch.context() as patch:
            if not in_kernels:
                patch.setattr(gmmc._init, "loops_in_kernels", lambda *args: False)
            calls = []
            original = gmmc._kmeans.lloyd_loop
            patch.setattr(gmmc._kmeans, "lloyd_loop",
                          lambda *a, **k: calls.append(1) or original(*a, **k))
            labels.append(gmmc._init.kmeans(X, weight, 6, np.random.RandomState(seed),
                                            n_threads=n_threads))
        assert bool(calls) == in_kernels  # the path under test ran
    np.testing.assert_array_equal(labels[0], labels[1])


def _lloyd_data(kind, n, d, seed):
    """Rows for Lloyd's bounds: 'blobs' (neighbours overlap), 'far' (groups
    1e6 apart, 1e-3 wide: the scores' rounding, about 1e-2, swamps the
    distances within a group, so only the rounding decides those labels),
    'wide' (float32's rounding as large as the distances, see below), 'grid'
    (small integers: many exact ties)."""
    rng = np.random.default_rng(seed)
    if kind == "blobs":
        return _blobs(n=n, d=d, seed=seed)
    if kind in ("far", "wide"):
        # 'wide': groups 3e3 apart, unit spread: in float32 the scores'
        # rounding (about 2 (D + 4) 2^-24 (3e3)^2 = 10 (D + 4)) is as large as
        # the distances that decide many labels, and Lloyd still runs on
        scale, spread = (1e6, 1e-3) if kind == "far" else (3e3, 1.0)
        groups = rng.choice([-scale, 0.0, scale], size=(n, 1)) * rng.normal(size=(1, d))
        return groups + spread * rng.normal(size=(n, d))
    return rng.integers(0, 4, size=(n, d)).astype(np.float64)


def _lloyd(X, weight, k, seed, max_iter, bounds, blocks=None, n_threads=1):
    """lloyd_loop from k rows of X (drawn with ``seed``), with distance bounds
    or without; returns its results and the bounds."""
    offset = X.mean(axis=0, dtype=np.float64)
    rows = np.random.default_rng(seed).choice(len(X), size=k, replace=False)
    centers = np.ascontiguousarray(X[rows] - offset, dtype=X.dtype)
    labels = np.full(len(X), -1, dtype=np.int32)
    sums, counts = np.empty((k, X.shape[1])), np.empty(k)
    distance_bounds = np.full((2, len(X)), np.nan) if bounds else None
    result = gmmc._kmeans.lloyd_loop(X, weight, offset, centers, labels, sums, counts,
                                     max_iter, 0.0, blocks, n_threads, distance_bounds)
    return (result, centers, labels, sums, counts), offset, distance_bounds


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["blobs", "far", "wide", "grid"])
@pytest.mark.parametrize("d, k", [(1, 12), (3, 10), (8, 16), (13, 21), (64, 32)])
def test_lloyd_distance_bounds_change_no_bit(dtype, weighted, kind, d, k):
    """The rows the bounds settle are not scored, and yet the labels, centres,
    sums and counts of every iteration are those of the pass that scores
    every row: the same bits. With one and two vectors of centres (K = 10 to
    32) and rows with and without a masked tail (D = 1, 3, 13; 8, 64)."""
    X = _lloyd_data(kind, 1500, d, seed=d + k).astype(dtype)
    weight = (np.random.default_rng(k).uniform(0.1, 2.0, size=len(X)).astype(dtype)
              if weighted else None)
    for max_iter in (1, 2, 5, 300):
        with_bounds, _, _ = _lloyd(X, weight, k, 0, max_iter, bounds=True)
        plain, _, _ = _lloyd(X, weight, k, 0, max_iter, bounds=False)
        assert with_bounds[0] == plain[0]
        for a, b in zip(with_bounds[1:], plain[1:]):
            np.testing.assert_array_equal(a, b)


def test_lloyd_distance_bounds_on_blocks_and_threads_change_no_bit():
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _lloyd_data("blobs", 30000, 5, seed=3)
    blocks = np.array([0, 7000, 7000, 15001, 22000, 30000], dtype=np.int64)  # one empty
    plain, _, _ = _lloyd(X, None, 9, 1, 50, bounds=False, blocks=blocks, n_threads=2)
    for n_threads in (1, 2, 3):
        with_bounds, _, _ = _lloyd(X, None, 9, 1, 50, bounds=True, blocks=blocks,
                                   n_threads=n_threads)
        assert with_bounds[0] == plain[0]
        for a, b in zip(with_bounds[1:], plain[1:]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(3))
def test_lloyd_distance_bounds_hold(dtype, seed):
    """After the loop ends on stable labels, each row's upper bound is at
    least its distance to its centre and its lower bound at most its distance
    to every other one (NumPy's distances between the same centred rows and
    centres), whether the last pass scored the row or moved its bounds."""
    if not gmmc._em.microkernels_available():
        pytest.skip("the bounds are used with the AVX-512 kernel only")
    X = _lloyd_data("blobs", 3000, 6, seed=seed).astype(dtype)
    (result, centers, labels, _, _), offset, bounds = _lloyd(X, None, 12, seed, 300,
                                                           bounds=True)
    assert result[1] == gmmc._kmeans.LLOYD_STABLE and result[0] > 2
    centred = (X.astype(np.float64) - offset).astype(dtype).astype(np.float64)
    distances = np.sqrt(((centred[:, None, :] - centers[None].astype(np.float64)) ** 2)
                        .sum(axis=-1))
    rows = np.arange(len(X))
    own = distances[rows, labels]
    distances[rows, labels] = np.inf
    upper, lower = bounds
    assert np.all(upper >= own * (1 - 1e-12))
    assert np.all(lower <= distances.min(axis=1) * (1 + 1e-12))
    # and they are bounds worth having: most rows' are within 2x
    assert np.mean(upper <= 2 * own + 1e-9) > 0.9


@pytest.mark.parametrize("kind, d, k, seed", [("blobs", 4, 10, 10), ("grid", 4, 30, 30),
                                              ("far", 2, 12, 3)])
def test_kmeans_with_and_without_distance_bounds_gives_the_same_labels(
        monkeypatch, kind, d, k, seed):
    """Through _init.kmeans; on the 'far' data clusters empty twice, and the
    loop starts again (bounds afresh) from the reseeded centres."""
    X = _lloyd_data(kind, 3000, d, seed=seed)
    labels, reasons = [], []
    original = gmmc._kmeans.lloyd_loop

    def logged(*args):
        result = original(*args)
        reasons.append(result[1])
        return result

    for bounds_bytes in (gmmc._init.BOUNDS_BYTES, 0):
        with monkeypatch.context() as patch:
            patch.setattr(gmmc._init, "BOUNDS_BYTES", bounds_bytes)
            patch.setattr(gmmc._kmeans, "lloyd_loop", logged)
            labels.append(gmmc._init.kmeans(X, None, k, np.random.RandomState(seed), 1))
    np.testing.assert_array_equal(labels[0], labels[1])
    if kind == "far":
        assert reasons.count(gmmc._kmeans.LLOYD_EMPTY) == 4  # twice each way


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_clusters", [1, 2, 7, 20])
def test_kmeans_plusplus_in_the_kernels_matches_the_step_by_step_loop(
        monkeypatch, dtype, weighted, n_clusters):
    rng = np.random.default_rng(n_clusters)
    X = _blobs(n=500, d=3, seed=n_clusters).astype(dtype)
    weight = rng.uniform(0.1, 2.0, size=len(X)).astype(dtype) if weighted else None
    _assert_same_seeds_both_ways(monkeypatch, X, weight, n_clusters, seed=7, n_threads=1)


def _assert_same_seeds_both_ways(monkeypatch, X, weight, n_clusters, seed, n_threads,
                                 patches=()):
    """k-means++ seeds the same samples, and leaves the generator in the same
    state, whether the kernels' loop runs or the step-by-step one (one kernel
    call per step, a Python thread per block), both under the (module, name,
    value) ``patches``."""
    results = []
    for in_kernels in (True, False):
        random_state = np.random.RandomState(seed)
        with monkeypatch.context() as patch:
            for module, name, value in patches:
                patch.setattr(module, name, value)
            if not in_kernels:
                patch.setattr(gmmc._init, "loops_in_kernels", lambda *args: False)
            calls = []
            original = gmmc._kmeans.kmeans_plusplus_loop
            patch.setattr(gmmc._kmeans, "kmeans_plusplus_loop",
                          lambda *a, **k: calls.append(1) or original(*a, **k))
            _, indices = gmmc._init.kmeans_plusplus(X, weight, n_clusters, random_state,
                                                    n_threads=n_threads)
        assert bool(calls) == in_kernels  # the path under test ran
        results.append((indices, random_state.random_sample()))  # and the RNG after
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("keep_distances", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_plusplus_on_blocks_keeps_or_recomputes_the_same_distances(
        monkeypatch, dtype, keep_distances, weighted):
    """Over several blocks, on the kernels' threads or a Python thread per
    block, the chosen candidate's distances are kept from its pass (D = 40:
    they take under X / 8) or computed again: the seeds are the same."""
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=3000, d=40, seed=3).astype(dtype)
    weight = (np.random.default_rng(4).uniform(0.1, 2.0, size=len(X)).astype(dtype)
              if weighted else None)
    patches = [(gmmc._parallel, "SUB_BLOCK_ROWS", 700)]
    with monkeypatch.context() as patch:
        patch.setattr(gmmc._parallel, "SUB_BLOCK_ROWS", 700)
        assert len(gmmc._parallel.row_block_bounds(3000, 2)) > 3
    if not keep_distances:
        patches.append((gmmc._init, "KEPT_BYTES", 0))
    _assert_same_seeds_both_ways(monkeypatch, X, weight, 12, seed=11, n_threads=2,
                                 patches=patches)


def test_kmeans_plusplus_in_the_kernels_replays_when_samples_run_out(monkeypatch):
    # Three distinct points for five centres: the potential reaches 0, and
    # the next candidates are drawn differently (scikit-learn's order).
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 4, axis=0)
    _assert_same_seeds_both_ways(monkeypatch, X, None, 5, seed=3, n_threads=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kept", [False, True])
def test_kmeans_loops_give_the_same_bits_on_any_number_of_threads(dtype, kept):
    """Each block's sums and potentials are its own and added in block order:
    the thread that ran a block, and how many ran, change nothing."""
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=30000, d=5, seed=8).astype(dtype)
    weight = np.random.default_rng(9).uniform(0.5, 2.0, size=len(X)).astype(dtype)
    blocks = np.array([0, 7000, 7000, 15001, 22000, 30000], dtype=np.int64)  # one empty
    offset = X.mean(axis=0, dtype=np.float64)
    k, t = 9, 4
    results = []
    for n_threads in (1, 2, 3):
        random_state = np.random.RandomState(2)
        closest = np.full(len(X), np.inf, dtype=dtype)
        indices = np.zeros(k, dtype=np.intp)
        first = np.ascontiguousarray(X[:1] - offset, dtype=dtype)
        potential = gmmc._kmeans.update_closest(X, weight, offset, first, closest)
        c, potential = gmmc._kmeans.kmeans_plusplus_loop(
            X, weight, offset, closest, potential, random_state, t, indices,
            np.empty((t, len(X)), dtype=dtype) if kept else None, blocks, n_threads)
        assert c == k
        centers = np.ascontiguousarray(X[indices] - offset, dtype=dtype)
        labels = np.full(len(X), -1, dtype=np.int32)
        sums, counts = np.empty((k, X.shape[1])), np.empty(k)
        n_iter, reason = gmmc._kmeans.lloyd_loop(X, weight, offset, centers, labels, sums,
                                                 counts, 4, 0.0, blocks, n_threads)
        assert n_iter == 4 and reason == gmmc._kmeans.LLOYD_MAX_ITER
        results.append((indices.tolist(), potential, closest.tobytes(),
                        centers.tobytes(), labels.tobytes(), sums.tobytes(),
                        counts.tobytes()))
    assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("normalized", [True, False])
def test_m_step_against_a_numpy_reference(covariance_type, normalized):
    """The M-step from responsibilities r (N, K) and weights w, written
    directly: nk = sum w r + 10 eps, mean = sum w r x / nk, covariance the
    weighted scatter about the mean (+ reg_covar); tied pools the scatter of
    each sample about each mean over all of its weight."""
    rng = np.random.default_rng(0)
    n, d, k, reg = 300, 4, 3, 1e-4
    X = rng.normal(size=(n, d)) * [1.0, 2.0, 0.5, 3.0] + 5.0
    w = rng.uniform(0.5, 2.0, size=n)
    r = rng.dirichlet(np.ones(k), size=n)
    if not normalized:
        r = r * rng.uniform(0.5, 1.0, size=(n, 1))  # rows need not sum to one
    wr = w[:, None] * r
    eps10 = 10 * np.finfo(np.float64).eps
    nk = wr.sum(axis=0) + eps10
    means = wr.T @ X / nk[:, None]
    scatter = np.array([(wr[:, j, None] * (X - means[j])).T @ (X - means[j])
                        for j in range(k)])
    if covariance_type == "full":
        expected = scatter / nk[:, None, None] + reg * np.eye(d)
    elif covariance_type == "tied":
        # sum_n w_n [sum_k r_nk (x - mu_k)(x - mu_k)^T + (1 - sum_k r_nk) x x^T],
        # the scikit-learn formula X^T W X - sum_k nk mu_k mu_k^T, over sum nk.
        rest = w * (1.0 - r.sum(axis=1))
        expected = (scatter.sum(axis=0) + (rest[:, None] * X).T @ X
                    - (eps10 * means).T @ means) / nk.sum() + reg * np.eye(d)
    elif covariance_type == "diag":
        expected = np.array([np.diag(s) for s in scatter]) / nk[:, None] + reg
    else:
        expected = np.trace(scatter, axis1=1, axis2=2) / nk / d + reg
    # The statistics about the weighted mean (tied, diag, spherical) or the
    # given reference points (full), as the kernels hand them over.
    center = w @ X / w.sum()
    shift = means + 0.1 if covariance_type == "full" else np.tile(center, (k, 1))
    stats = gmmc.SufficientStatistics(covariance_type, shift)
    stats.resp_sum[:] = wr.sum(axis=0)
    stats.sum_x[:] = np.array([wr[:, j] @ (X - shift[j]) for j in range(k)])
    if covariance_type == "full":
        stats.sum_xx[:] = [(wr[:, j, None] * (X - shift[j])).T @ (X - shift[j])
                           for j in range(k)]
    elif covariance_type == "tied":
        stats.sum_xx[:] = (w[:, None] * (X - center)).T @ (X - center)
    elif covariance_type == "diag":
        stats.sum_xx[:] = [wr[:, j] @ (X - center) ** 2 for j in range(k)]
    else:
        stats.sum_xx[:] = [wr[:, j] @ ((X - center) ** 2).sum(axis=1) for j in range(k)]
    stats.weight_sum = w.sum()
    stats.total_x = w @ X - w.sum() * center
    stats.normalized = normalized
    weights, got_means, covariances = gmmc._stats.m_step(stats, reg, np.float64)
    np.testing.assert_allclose(weights, nk / nk.sum(), rtol=1e-12)
    np.testing.assert_allclose(got_means, means, rtol=1e-12)
    np.testing.assert_allclose(covariances, expected, rtol=1e-9, atol=1e-12)
    if covariance_type in ("full", "tied"):  # exactly symmetric
        np.testing.assert_array_equal(covariances, np.swapaxes(covariances, -1, -2))


def _hard_assignment_statistics(X, weight, labels, k, covariance_type):
    """The statistics of hard assignments in float64 NumPy: reference points
    the weighted mean (tied, diag, spherical) or each cluster's (full; the
    mean for an empty cluster), sums about them."""
    X = X.astype(np.float64)
    w = np.ones(len(X)) if weight is None else weight.astype(np.float64)
    center = w @ X / w.sum()
    shift = np.tile(center, (k, 1))
    resp_sum = np.bincount(labels, weights=w, minlength=k)
    if covariance_type == "full":
        for j in np.flatnonzero(resp_sum):
            shift[j] = w[labels == j] @ X[labels == j] / resp_sum[j]
    y = X - shift[labels]
    sum_x = np.zeros((k, X.shape[1]))
    np.add.at(sum_x, labels, w[:, None] * y)
    if covariance_type == "full":
        sum_xx = np.zeros((k, X.shape[1], X.shape[1]))
        for j in range(k):
            sel = labels == j
            sum_xx[j] = (w[sel, None] * y[sel]).T @ y[sel]
    elif covariance_type == "tied":
        sum_xx = (w[:, None] * y).T @ y
    elif covariance_type == "diag":
        sum_xx = np.zeros((k, X.shape[1]))
        np.add.at(sum_xx, labels, w[:, None] * y * y)
    else:
        sum_xx = np.bincount(labels, weights=w * (y * y).sum(axis=1), minlength=k)
    total_x = sum_x.sum(axis=0)  # sum w (x - shift_0) where the rows are equal
    return dict(shift=shift, resp_sum=resp_sum, sum_x=sum_x, sum_xx=sum_xx,
                total_x=total_x, weight_sum=w.sum())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("d", [2, 5])
def test_label_statistics_match_numpy(monkeypatch, covariance_type, dtype, weighted,
                                      n_threads, d):
    """Hard assignments' statistics (each sample's sums in its own component,
    in several row blocks on two threads, Gram blocks over several chunks)
    against float64 NumPy, on data far from the origin; the generic path
    given the one-hot responsibilities agrees to its float32 rounding."""
    if n_threads == 2:  # blocks of 700 rows, shared by two threads
        monkeypatch.setattr(gmmc._parallel, "MIN_ROWS_PER_THREAD", 700)
        monkeypatch.setattr(gmmc._parallel, "SUB_BLOCK_ROWS", 700)
    rng = np.random.default_rng(0)
    X = (_blobs(n=5000, d=d) + 1e3).astype(dtype)
    weight = rng.uniform(0.1, 2.0, size=len(X)).astype(dtype) if weighted else None
    labels = rng.integers(0, 4, size=len(X)).astype(np.int32)  # cluster 4 empty
    fast = gmmc._init.HardAssignments(labels, 5).statistics(X, weight, covariance_type,
                                                            n_threads)
    expected = _hard_assignment_statistics(X, weight, labels, 5, covariance_type)
    assert fast.normalized
    # Sums are taken in float64 from the input values, except the float32
    # Gram blocks of full and tied.
    gram32 = dtype == np.float32 and covariance_type in ("full", "tied")
    for name in ["shift", "resp_sum", "sum_x", "sum_xx", "total_x"]:
        want = expected[name]
        rtol = 1e-6 if gram32 and name == "sum_xx" else 1e-9
        scale = np.abs(expected["sum_xx"]).max() if name == "sum_xx" else len(X)
        np.testing.assert_allclose(getattr(fast, name).reshape(want.shape), want,
                                   rtol=rtol, atol=rtol * scale, err_msg=name)
    assert fast.weight_sum == pytest.approx(expected["weight_sum"], rel=1e-12)
    if covariance_type in ("full", "tied"):  # exactly symmetric
        xx = fast.sum_xx.reshape(-1, d, d)
        np.testing.assert_array_equal(xx, np.swapaxes(xx, -1, -2))
    onehot = np.zeros((len(X), 5))
    onehot[np.arange(len(X)), labels] = 1
    generic = gmmc._init.ArrayResponsibilities(onehot).statistics(X, weight,
                                                                  covariance_type, 1)
    loose = 1e-9 if dtype == np.float64 else 1e-4
    for name in ["resp_sum", "sum_xx"]:
        np.testing.assert_allclose(getattr(fast, name), getattr(generic, name),
                                   rtol=loose, atol=loose * np.abs(getattr(generic, name)).max())


@pytest.mark.parametrize("blocks", [[0, 50], [10, 100], [0, 60, 40, 100], [0]])
def test_kernel_loops_reject_blocks_that_do_not_rise_from_0_to_n(blocks):
    X = _blobs(n=100, d=2)
    blocks = np.array(blocks, dtype=np.int64)
    k = 3
    with pytest.raises(ValueError, match="blocks must rise from 0 to 100"):
        gmmc._kmeans.lloyd_loop(X, None, np.zeros(2), np.ascontiguousarray(X[:k]),
                                np.zeros(100, dtype=np.int32), np.empty((k, 2)),
                                np.empty(k), 5, 0.0, blocks, 2)
    with pytest.raises(ValueError, match="blocks must rise from 0 to 100"):
        gmmc._kmeans.kmeans_plusplus_loop(X, None, np.zeros(2), np.ones(100), 100.0,
                                          np.random.RandomState(0), 2,
                                          np.zeros(k, dtype=np.intp), None, blocks, 2)
    with pytest.raises(ValueError, match="blocks must rise from 0 to 100"):
        gmmc._em.em_loop(X, None, 100.0, "spherical", np.full(k, 1 / k), X[:k].copy(),
                         np.ones(k), np.ones(k), 1e-6, 1e-15, 0.0, 3, -np.inf,
                         np.empty(3), blocks, 2)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_start_statistics_on_the_team_match_the_step_by_step_ones(
        monkeypatch, covariance_type, dtype, weighted):
    """The data's mean and variance, and the statistics of k-means labels,
    over the driver's row blocks on the kernels' threads: the same bits as a
    Python thread per block."""
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=30000, d=5, seed=4).astype(dtype)
    monkeypatch.setattr(gmmc._parallel, "SUB_BLOCK_ROWS", 4000)
    assert len(gmmc._parallel.row_block_bounds(len(X), 2)) > 4  # blocks' order shows
    weight = (np.random.default_rng(5).uniform(0.2, 2.0, size=len(X)).astype(dtype)
              if weighted else None)
    labels = np.random.default_rng(6).integers(4, size=len(X)).astype(np.int32)
    results = []
    for in_kernels in (True, False):
        with monkeypatch.context() as patch:
            if not in_kernels:
                patch.setattr(gmmc._stats, "loops_in_kernels", lambda *a: False)
            calls = []
            for name in ("column_sums", "label_sums"):
                original = getattr(gmmc._em, name)
                patch.setattr(gmmc._em, name, lambda *a, _f=original, **k:
                              calls.append(len(a)) or _f(*a, **k))
            mean, variance = gmmc._stats.weighted_mean_variance(X, weight, 2)
            stats = gmmc._stats.label_statistics(X, weight, labels, 4, covariance_type, 2)
        # the blocks were passed to the kernels (7 and 7 arguments with them)
        assert (max(calls) == 7) == in_kernels
        results.append([mean, variance, stats.resp_sum, stats.sum_x, stats.sum_xx,
                        stats.shift, stats.total_x, np.array(stats.weight_sum)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("squares", ["diag", "spherical"])
def test_moment_kernels_give_the_same_bits_on_any_number_of_threads(dtype, squares):
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=30000, d=5, seed=8).astype(dtype)
    weight = np.random.default_rng(9).uniform(0.5, 2.0, size=len(X)).astype(dtype)
    labels = np.random.default_rng(10).integers(3, size=len(X)).astype(np.int32)
    blocks = np.array([0, 7000, 7000, 15001, 22000, 30000], dtype=np.int64)  # one empty
    center = X.mean(axis=0, dtype=np.float64)
    shift = np.tile(center, (3, 1))
    results = []
    for n_threads in (1, 2, 3):
        out = np.zeros(5)
        gmmc._em.column_sums(X, weight, center, True, out, blocks, n_threads)
        stats = gmmc.SufficientStatistics(squares, shift)
        gmmc._em.label_scatter(X, weight, labels, squares, *stats._accumulators(), blocks,
                               n_threads)
        results.append([out.tobytes(), stats.resp_sum.tobytes(), stats.sum_x.tobytes(),
                        stats.sum_xx.tobytes()])
    assert results[1] == results[0] and results[2] == results[0]
    # against one block, to rounding
    out = np.zeros(5)
    gmmc._em.column_sums(X, weight, center, True, out)
    np.testing.assert_allclose(np.frombuffer(results[0][0]), out, rtol=1e-12)


def _separated_blobs(n, d, k, seed, integer=False):
    """k tight clusters far apart (the k-means++ passes get pruned), and a
    tenth of the rows between them (where a looser bound would go wrong); or
    the same rounded to integers: many exactly equal distances."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=10.0, size=(k, d))
    X = centers[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    between = rng.random(n) < 0.1
    pairs = rng.integers(k, size=(between.sum(), 2))
    share = rng.random((between.sum(), 1))
    X[between] = share * centers[pairs[:, 0]] + (1 - share) * centers[pairs[:, 1]]
    return np.round(X) if integer else X


@pytest.mark.parametrize("dtype, d, k", [
    (np.float64, 16, 24), (np.float64, 33, 24), (np.float64, 40, 24), (np.float32, 32, 24),
    (np.float32, 47, 24), (np.float64, 33, 70), (np.float32, 32, 70)])  # 70: past 64
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("integer", [False, True])
def test_kmeans_plusplus_pruned_passes_give_the_same_bits(dtype, d, k, weighted, kept,
                                                          integer):
    """Where the triangle inequality proves a candidate no nearer than a row's
    closest centre, its distance to the row is not computed: the seeds, the
    closest distances, the potential and the generator are those of the
    passes that compute every distance, bit for bit (integer data: distances
    tie exactly); and the pruning did run. K = 70: the centres' limits are
    looked up by a gather rather than permutes of 16."""
    X = _separated_blobs(5000, d, k, seed=d, integer=integer).astype(dtype)
    weight = (np.random.default_rng(1).uniform(0.2, 3.0, size=len(X)).astype(dtype)
              if weighted else None)
    offset = X.mean(axis=0, dtype=np.float64)
    t = 5
    blocks = np.array([0, 1700, 1700, 3333, 5000], dtype=np.int64)  # one empty
    results, pruned = [], np.zeros(k, dtype=np.int8)
    for prune in (True, False):
        random_state = np.random.RandomState(4)
        closest = np.full(len(X), np.inf, dtype=dtype)
        indices = np.zeros(k, dtype=np.intp)
        indices[0] = 17
        first = np.ascontiguousarray(X[17:18] - offset, dtype=dtype)
        potential = gmmc._kmeans.update_closest(X, weight, offset, first, closest)
        c, potential = gmmc._kmeans.kmeans_plusplus_loop(
            X, weight, offset, closest, potential, random_state, t, indices,
            np.empty((t, len(X)), dtype=dtype) if kept else None, blocks, 2,
            prune=prune, pruned_passes=pruned)
        assert c == k
        results.append((indices.tolist(), potential, closest.tobytes(),
                        random_state.random_sample()))
        if prune and gmmc._kmeans.AVX512:
            assert pruned[1:].sum() >= 5, pruned  # the later passes were pruned
        else:
            assert not pruned.any()
    assert results[0] == results[1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_update_closest_on_blocks_is_the_sum_of_the_blocks_calls(dtype, weighted):
    """k-means++'s first pass on the kernels' threads: each block's potential
    apart, added in block order, gives the potential (and the distances) of
    one call per block added up in Python (gmmc._parallel.map_row_blocks'
    path), bit for bit, on any number of threads."""
    if not gmmc._team.available():
        pytest.skip("no threads of the kernels' own here")
    X = _blobs(n=30000, d=7, seed=2).astype(dtype)
    weight = (np.random.default_rng(3).uniform(0.5, 2.0, size=len(X)).astype(dtype)
              if weighted else None)
    offset = X.mean(axis=0, dtype=np.float64)
    center = np.ascontiguousarray(X[11:12] - offset, dtype=dtype)
    blocks = np.array([0, 7000, 7000, 15001, 22000, 30000], dtype=np.int64)  # one empty
    expected_closest = np.full(len(X), np.inf, dtype=dtype)
    expected = sum(gmmc._kmeans.update_closest(
        X[a:b], None if weight is None else weight[a:b], offset, center,
        expected_closest[a:b]) for a, b in zip(blocks[:-1], blocks[1:]))
    for n_threads in (1, 2, 3):
        closest = np.full(len(X), np.inf, dtype=dtype)
        potential = gmmc._kmeans.update_closest(X, weight, offset, center, closest, blocks,
                                                n_threads)
        assert potential == expected
        assert closest.tobytes() == expected_closest.tobytes()
