"""Initialisation that neither fails spuriously, nor depends on where the data
sits, nor allocates anything N x D or N x K (issue 11, items 4, 5 and 12)."""
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmc
from gmmc import GaussianMixture, _init
from gmmc.exceptions import ConvergenceWarning


def fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


# -- item 4: one-sample starts of diag and spherical covariances ------------------------

@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("dtype, sigma", [(np.float32, 3.0), (np.float32, 100.0),
                                          (np.float64, 1e5), (np.float64, 1e6)])
def test_one_sample_starts_never_fail_where_sklearn_fits(covariance_type, init_params,
                                                         dtype, sigma):
    """Ordinary N(0, sigma^2) data: the starting variance of a component seeded
    on one sample was a difference of large sums, whose rounding exceeded
    reg_covar and raised "ill-defined empirical covariance"."""
    for seed in range(20):
        X = (np.random.RandomState(seed).standard_normal((200, 3)) * sigma).astype(dtype)
        params = dict(n_components=4, covariance_type=covariance_type,
                      init_params=init_params, random_state=seed, max_iter=2)
        fit(SkGaussianMixture(**params), X)  # the oracle: scikit-learn fits
        gm = fit(GaussianMixture(**params), X)
        assert np.isfinite(gm.lower_bound_)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_one_sample_start_is_sklearns(covariance_type):
    """With max_iter=0 the model is the start: scikit-learn's, parameter for
    parameter. On centred data (gmmc takes the one-sample variance about the
    data mean, scikit-learn about the origin) and with reg_covar well below
    it, the variance, 10 eps x^2 / nk, is the one compared."""
    X = np.random.RandomState(0).standard_normal((300, 4)) * 50
    X -= X.mean(axis=0)
    params = dict(n_components=5, covariance_type=covariance_type,
                  init_params="random_from_data", random_state=1, max_iter=0,
                  reg_covar=1e-14)
    gm = fit(GaussianMixture(**params), X)
    sk = fit(SkGaussianMixture(**params), X)
    assert_allclose(gm.means_, sk.means_, rtol=1e-12)
    assert_allclose(gm.weights_, sk.weights_, rtol=1e-12)
    # scikit-learn's difference of sums carries its own rounding (a few eps x^2).
    assert_allclose(gm.covariances_, sk.covariances_, rtol=0.5)
    assert (gm.covariances_ > params["reg_covar"]).all()


# -- item 5: k-means far from the origin ------------------------------------------------

def three_clusters(n=600, seed=0):
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.randint(3, size=n)
    return centers[labels] + rng.standard_normal((n, 2)), labels


@pytest.mark.parametrize("dtype, offset", [(np.float64, 1e10), (np.float32, 1e5),
                                           (np.float64, 2.0 ** 52)])
def test_kmeans_start_is_translation_invariant(dtype, offset):
    """Three clusters 10 apart with unit spread, moved far from the origin
    (timestamps, projected coordinates): the k-means labels are those of the
    original data, and so is the fit. Expanded about the origin, every
    distance was rounding error (ARI 0)."""
    X, truth = three_clusters()
    if offset == 2.0 ** 52:  # integers near 2**53, where float64 spacing is 1
        X = np.round(X * 3)
    far = (X + offset).astype(dtype)
    near = (far.astype(np.float64) - offset).astype(dtype)  # the same points, near 0
    for seed in range(5):
        labels_far = _init.kmeans(far, None, 3, np.random.RandomState(seed), 1)
        labels_near = _init.kmeans(near, None, 3, np.random.RandomState(seed), 1)
        assert_array_equal(labels_far, labels_near)
        assert adjusted_rand_score(truth, labels_far) > 0.99
    gm_far = fit(GaussianMixture(3, random_state=0), far)
    gm_near = fit(GaussianMixture(3, random_state=0), near)
    assert adjusted_rand_score(gm_far.predict(far), gm_near.predict(near)) == 1.0
    # Near 2**52 the fitted means themselves round to integers.
    rtol = 1e-6 if dtype == np.float64 and offset < 2.0 ** 52 else 1e-3
    assert_allclose(gm_far.lower_bound_, gm_near.lower_bound_, rtol=rtol)
    sk_far = fit(SkGaussianMixture(3, random_state=0), far)
    assert gm_far.lower_bound_ >= sk_far.lower_bound_ - rtol * abs(sk_far.lower_bound_)


def test_kmeans_plusplus_seeds_are_translation_invariant():
    X, _ = three_clusters(seed=3)
    for seed in range(10):
        _, near = _init.kmeans_plusplus(X, None, 5, np.random.RandomState(seed), 1)
        _, far = _init.kmeans_plusplus(X + 1e10, None, 5, np.random.RandomState(seed), 1)
        assert_array_equal(near, far)


# -- item 12: no N x D or N x K temporaries in the initialisation -----------------------

@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random",
                                         "random_from_data"])
def test_initialization_stays_within_a_fraction_of_x(init_params):
    """Peak memory of a whole float32 fit beyond X, initialisation included,
    under 0.3 X (N = 400 000 here; the README quotes N = 2 M)."""
    n, d, k = 400_000, 16, 16
    rng = np.random.RandomState(0)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 50_000):  # no float64 N x D temporary here either
        X[start:start + 50_000] = rng.standard_normal((50_000, d))
    model = GaussianMixture(k, covariance_type="diag", init_params=init_params,
                            random_state=0, max_iter=2, n_threads=2)
    tracemalloc.start()
    try:
        fit(model, X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.3 * X.nbytes, f"{init_params}: {peak / X.nbytes:.2f} X"


def test_random_responsibilities_draw_as_one_n_by_k_draw():
    """'random': the block-by-block draws are scikit-learn's single (N, K) draw,
    replayed identically on a second pass, and the RandomState ends where
    that draw leaves it."""
    n, k = 20_000, 3
    rs = np.random.RandomState(7)
    resp = _init.initial_responsibilities(np.zeros((n, 1)), None, k, "random", rs, 1)
    reference = np.random.RandomState(7)
    expected = reference.uniform(size=(n, k))
    expected /= expected.sum(axis=1)[:, None]
    for _ in range(2):  # two passes, the same numbers
        got = np.vstack([resp.block(a, min(a + 8192, n), np.float64)
                         for a in range(0, n, 8192)])
        assert_array_equal(got, expected)
    assert rs.random_sample() == reference.random_sample()


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_streamed_kmeans_start_is_translation_invariant(init_params):
    """The chunked k-means of out-of-core fits works about the data mean too."""
    from gmmc import RowBlocks

    X, truth = three_clusters()
    far, near = X + 1e10, X
    params = dict(n_components=3, init_params=init_params, random_state=0)
    streamed = fit(GaussianMixture(**params), RowBlocks(far, block_rows=128))
    in_memory = fit(GaussianMixture(**params), near)
    assert adjusted_rand_score(truth, streamed.predict(far)) > 0.99
    assert_allclose(streamed.means_ - 1e10, in_memory.means_, atol=1e-4)
    assert_allclose(streamed.lower_bound_, in_memory.lower_bound_, rtol=1e-6)


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_tied_start_far_from_the_origin(init_params):
    """iris at 1e6 with its spread shrunk 1000 times: the tied start took
    10 eps of |centre|^2 (negative) from every covariance entry and failed as
    ill-defined (scikit-learn fails too); now it fits as the data near 0 do,
    in memory and streamed."""
    from sklearn.datasets import load_iris

    from gmmc import RowBlocks

    near = load_iris().data * 1e-3
    far = near + 1e6
    params = dict(n_components=3, covariance_type="tied", init_params=init_params,
                  random_state=0)
    reference = fit(GaussianMixture(**params), near)
    for X in (far, RowBlocks(far, block_rows=64)):
        gm = fit(GaussianMixture(**params), X)
        assert_allclose(gm.lower_bound_, reference.lower_bound_, rtol=1e-8)
        assert_allclose(gm.covariances_, reference.covariances_, rtol=1e-4)


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_too_few_distinct_points_warning_points_at_the_caller(method):
    """scikit-learn's k-means warning when X has fewer distinct rows than
    components is reported at the line that called fit."""
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(GaussianMixture(3, random_state=0), method)(X)
    found = [w for w in caught if "distinct clusters" in str(w.message)]
    assert found and all(w.filename == __file__ for w in found), [
        (w.filename, w.lineno) for w in found]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_feature_names_warning_points_at_the_caller(method):
    """The feature-name warnings of prediction, as scikit-learn's, are
    reported at the line that called the method."""
    pandas = pytest.importorskip("pandas")
    X = pandas.DataFrame(np.random.default_rng(0).normal(size=(50, 2)), columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(gm, method)(X.to_numpy())
    found = [w for w in caught if "feature names" in str(w.message)]
    assert found and all(w.filename == __file__ for w in found), [
        (w.filename, w.lineno) for w in found]


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "tied", "full"])
def test_kmeans_start_reads_the_data_mean_once(monkeypatch, covariance_type):
    """k-means works about the weighted mean and the label statistics (but
    full's) take it as their reference point: one pass computes it for both,
    and the statistics are those computed from the labels alone, bit for bit."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 4)) * [1, 2, 3, 4] + 10
    w = rng.uniform(0.5, 2.0, size=len(X))
    passes = []
    for name in ("column_sums", "column_moments", "label_sums"):
        original = getattr(gmmc._em, name)
        monkeypatch.setattr(gmmc._em, name, lambda *a, _f=original, _n=name, **k:
                            passes.append(_n) or _f(*a, **k))
    resp = _init.initial_responsibilities(X, w, 5, "kmeans", np.random.RandomState(0), 1)
    stats = resp.statistics(X, w, covariance_type, 1)
    # the mean with the variance (k-means' tolerance), and full's clusters' means
    expected = ["column_moments"] + (["label_sums"] if covariance_type == "full" else [])
    assert passes == expected
    alone = gmmc._stats.label_statistics(X, w, resp.labels, 5, covariance_type, 1)
    for name in ["shift", "resp_sum", "sum_x", "sum_xx", "total_x"]:
        assert_array_equal(getattr(stats, name), getattr(alone, name), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("first_row", ["typical", "far"])
def test_weighted_mean_variance_in_one_pass(monkeypatch, dtype, n_threads, first_row):
    """The mean and the features' variances from one pass (squares about the
    first row): the mean is weighted_mean's, bit for bit, the variances
    NumPy's to 1e-10 on data far from the origin; with the first row far out
    in a tail (the shifted formula would lose 8 digits) a second pass about
    the mean keeps them so. A constant feature's variance is ~0, not negative
    (the shifted formula's rounding would leave it below 0: a second pass)."""
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(40000, 6)) * [1, 2, 3, 4, 5, 6] + 1e4).astype(dtype)
    X[:, 5] = dtype(7.25)
    if first_row == "far":
        X[0, :5] += dtype(1e4)
    w = rng.uniform(0.5, 2.0, size=len(X)).astype(dtype)
    passes = []
    for name in ("column_sums", "column_moments"):
        original = getattr(gmmc._em, name)
        monkeypatch.setattr(gmmc._em, name, lambda *a, _f=original, _n=name, **k:
                            passes.append(_n) or _f(*a, **k))
    mean, variance = gmmc._stats.weighted_mean_variance(X, w, n_threads)
    assert passes[0] == "column_moments"
    del passes[:]
    assert_array_equal(mean, gmmc._stats.weighted_mean(X, w, n_threads))
    X64, w64 = X.astype(np.float64), w.astype(np.float64)
    reference = np.average((X64 - np.average(X64, axis=0, weights=w64)) ** 2, axis=0,
                           weights=w64)
    assert_allclose(variance[:5], reference[:5], rtol=1e-10)
    assert 0 <= variance[5] < 1e-20

    # without a constant feature, the shifted formula alone where it is accurate
    del passes[:]
    mean, variance = gmmc._stats.weighted_mean_variance(np.ascontiguousarray(X[:, :5]), w,
                                                        n_threads)
    assert passes == (["column_moments"] if first_row == "typical"
                      else ["column_moments", "column_sums"])
    assert_allclose(variance, reference[:5], rtol=1e-10)
