"""The Cython kernels against plain NumPy/SciPy references written here.

Definitions follow the module docstring of src_c/_em.pyx:

    resp_sum[k] = sum_n w_n r_nk
    sum_x[k]    = sum_n w_n r_nk (x_n - shift_k)
    sum_xx      = full: (K, D, D) sum_n w_n r_nk (x_n - shift_k)(x_n - shift_k)^T
                  tied: (D, D)    sum_n w_n (x_n - shift_0)(x_n - shift_0)^T
                  diag: (K, D) the diagonal of the full form; spherical: (K,) its trace.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gmmc import _em, _init, _kmeans, _stats

from conftest import COVARIANCE_TYPES, full_covariances

DTYPES = (np.float64, np.float32)
# Widths on both sides of the kernels' switches: the feature builder's unrolled
# copies (D <= 8), the feature path for full covariances (D <= 32; its chunk
# height falls with D), and GEMM versus trmm/syrk per component (D < 49).
N_FEATURES = (1, 2, 3, 8, 9, 20, 32, 33, 48, 49)


# -- references ------------------------------------------------------------------

def upper_precision_factor(cov):
    """Upper-triangular U with U U^T = inv(cov), computed with NumPy only."""
    lower = np.linalg.cholesky(cov)
    return np.linalg.inv(lower).T


def random_model(n_components, n_features, covariance_type, seed):
    """Random valid mixture: (weights, means, covariances, prec_chol), float64."""
    rng = np.random.RandomState(seed)
    k, d = n_components, n_features
    weights = rng.uniform(0.2, 1.0, size=k)
    weights /= weights.sum()
    means = 3.0 * rng.standard_normal((k, d))
    if covariance_type == "full":
        covs = []
        for _ in range(k):
            a = rng.standard_normal((d, d))
            covs.append(a @ a.T / d + rng.uniform(0.3, 1.5) * np.eye(d))
        covariances = np.array(covs)
        prec_chol = np.array([upper_precision_factor(c) for c in covariances])
    elif covariance_type == "tied":
        a = rng.standard_normal((d, d))
        covariances = a @ a.T / d + 0.7 * np.eye(d)
        prec_chol = upper_precision_factor(covariances)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.3, 2.0, size=(k, d))
        prec_chol = 1.0 / np.sqrt(covariances)
    else:
        covariances = rng.uniform(0.3, 2.0, size=k)
        prec_chol = 1.0 / np.sqrt(covariances)
    return weights, means, covariances, prec_chol


def sample_points(means, n_samples, seed, scale=1.5):
    rng = np.random.RandomState(seed)
    idx = rng.randint(len(means), size=n_samples)
    return means[idx] + scale * rng.standard_normal((n_samples, means.shape[1]))


def reference_log_prob(X, weights, means, covariances, covariance_type):
    """(N, K) log w_k + log N(x_n | mu_k, Sigma_k) with scipy.stats."""
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    return np.column_stack([
        np.log(weights[j]) + multivariate_normal.logpdf(
            X.astype(np.float64), mean=means[j], cov=covs[j], allow_singular=False)
        for j in range(k)]).reshape(X.shape[0], k)


def reference_posterior(X, weights, means, covariances, covariance_type):
    lp = reference_log_prob(X, weights, means, covariances, covariance_type)
    log_norm = logsumexp(lp, axis=1)
    return log_norm, np.exp(lp - log_norm[:, None])


def covariances_from_factor(prec_chol, covariance_type):
    """Covariances implied by (possibly dtype-rounded) precision factors."""
    p = np.asarray(prec_chol, dtype=np.float64)
    if covariance_type == "full":
        return np.linalg.inv(p @ np.swapaxes(p, 1, 2))
    if covariance_type == "tied":
        return np.linalg.inv(p @ p.T)
    return 1.0 / p ** 2


def reference_statistics(X, w, resp, shift, covariance_type):
    """(resp_sum, sum_x, sum_xx) straight from the definitions."""
    X = X.astype(np.float64)
    w = np.ones(X.shape[0]) if w is None else w.astype(np.float64)
    wr = w[:, None] * resp.astype(np.float64)
    k = resp.shape[1]
    resp_sum = wr.sum(axis=0)
    diffs = [X - shift[j] for j in range(k)]
    sum_x = np.array([wr[:, j] @ diffs[j] for j in range(k)])
    if covariance_type == "full":
        sum_xx = np.array([(wr[:, j, None] * diffs[j]).T @ diffs[j] for j in range(k)])
    elif covariance_type == "tied":
        sum_xx = (w[:, None] * diffs[0]).T @ diffs[0]
    else:
        sum_xx = np.array([wr[:, j] @ diffs[j] ** 2 for j in range(k)])
        if covariance_type == "spherical":
            sum_xx = sum_xx.sum(axis=1)
    return resp_sum, sum_x, sum_xx


def tolerances(dtype):
    return dict(rtol=1e-9, atol=1e-9) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-4)


# -- posterior -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", N_FEATURES)
@pytest.mark.parametrize("covariance_type,k", [(c, 4) for c in COVARIANCE_TYPES]
                         + [("tied", 70)])  # tied: components in blocks of 64
def test_posterior_matches_scipy(covariance_type, k, n_features, dtype):
    n_samples = 700  # 700 = 2 * 256 + 188: a partial last chunk
    weights, means, covariances, prec_chol = random_model(k, n_features, covariance_type,
                                                          seed=n_features)
    X = sample_points(means, n_samples, seed=1).astype(dtype)
    # The kernel sees parameters rounded to dtype: build the oracle from those.
    means_d = means.astype(dtype)
    prec_d = prec_chol.astype(dtype)
    log_norm = np.full(n_samples, np.nan, dtype=dtype)
    resp = np.full((n_samples, k), np.nan, dtype=dtype)
    _em.posterior(X, np.log(weights), means_d, prec_d, covariance_type, log_norm, resp)

    ref_norm, ref_resp = reference_posterior(
        X, weights, means_d.astype(np.float64),
        covariances_from_factor(prec_d, covariance_type), covariance_type)
    tol = tolerances(dtype)
    scale = np.abs(ref_norm).max()
    assert_allclose(log_norm, ref_norm, rtol=tol["rtol"], atol=tol["atol"] * scale)
    assert_allclose(resp, ref_resp, rtol=tol["rtol"], atol=tol["atol"])
    assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps)

    # Without resp_out the log-likelihoods are the same.
    log_norm_only = np.full(n_samples, np.nan, dtype=dtype)
    _em.posterior(X, np.log(weights), means_d, prec_d, covariance_type, log_norm_only)
    assert_allclose(log_norm_only, log_norm, rtol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("n_samples", [1, 255, 256, 257, 1000])
def test_posterior_chunk_boundaries(n_samples):
    """Every row gets its own result, whatever N is relative to the chunk size."""
    weights, means, covariances, prec_chol = random_model(3, 10, "full", seed=0)
    X = sample_points(means, n_samples, seed=2)
    log_norm = np.empty(n_samples)
    resp = np.empty((n_samples, 3))
    _em.posterior(X, np.log(weights), means, prec_chol, "full", log_norm, resp)
    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances, "full")
    assert_allclose(log_norm, ref_norm, rtol=1e-10)
    assert_allclose(resp, ref_resp, atol=1e-10)
    # A row gives the same answer alone as inside a big block.
    for i in {0, n_samples // 2, n_samples - 1}:
        one = np.empty(1)
        _em.posterior(X[i:i + 1].copy(), np.log(weights), means, prec_chol, "full", one)
        assert_allclose(one[0], log_norm[i], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_posterior_zero_weight_component(covariance_type):
    weights, means, covariances, prec_chol = random_model(3, 4, covariance_type, seed=3)
    weights = np.array([0.6, 0.0, 0.4])
    X = sample_points(means, 300, seed=4)
    log_norm = np.empty(300)
    resp = np.empty((300, 3))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    _em.posterior(X, log_weights, means, prec_chol, covariance_type, log_norm, resp)
    assert np.all(resp[:, 1] == 0.0)
    keep = [0, 2]
    ref_norm, ref_resp = reference_posterior(
        X, weights[keep], means[keep],
        covariances if covariance_type == "tied" else covariances[keep], covariance_type)
    assert_allclose(log_norm, ref_norm, rtol=1e-10)
    assert_allclose(resp[:, keep], ref_resp, atol=1e-10)


def test_posterior_far_outliers_are_finite():
    """Log-sum-exp: samples far from every component still normalise."""
    weights, means, covariances, prec_chol = random_model(3, 5, "diag", seed=5)
    X = np.full((4, 5), 1e3)
    X[1] *= -1
    log_norm = np.empty(4)
    resp = np.empty((4, 3))
    _em.posterior(X, np.log(weights), means, prec_chol, "diag", log_norm, resp)
    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances, "diag")
    assert np.isfinite(log_norm).all()
    assert_allclose(log_norm, ref_norm, rtol=1e-10)
    assert_allclose(resp, ref_resp, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_posterior_responsibilities_are_never_subnormal(dtype):
    """Far components' responsibilities underflow to exactly zero, not to
    subnormal numbers (which every later product takes a slow microcode path
    on: float32 E-steps of separated clusters ran 4x slower). The normal ones
    keep the reference values."""
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0], [12.0, 0.0], [40.0, 0.0]])
    covariances = np.ones(3)
    prec_chol = np.ones(3)
    # Distances from component 0 that sweep the log-responsibility of the
    # other components through float32's and float64's subnormal ranges.
    X = np.column_stack([np.linspace(-45.0, 0.0, 4001), np.zeros(4001)])
    resp = np.empty((4001, 3), dtype=dtype)
    _em.posterior(X.astype(dtype), np.log(weights), means.astype(dtype),
                  prec_chol.astype(dtype), "spherical", np.empty(4001, dtype), resp)
    tiny = np.finfo(dtype).tiny
    assert not np.any((resp != 0) & (np.abs(resp) < tiny))
    _, ref_resp = reference_posterior(X, weights, means, covariances, "spherical")
    normal = ref_resp >= tiny * 4
    # float32 log-densities near -90 carry absolute errors ~1e-5, relative ones here.
    assert_allclose(resp[normal], ref_resp[normal], rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_float32_responsibilities_across_the_float_exp_range():
    """float32 rows are normalised with a float exp: responsibilities down to
    exp(-85) of the largest keep float32's accuracy (the log-densities' own
    rounding, ~1e-7 of |log p|), and below exp(-86) they are exactly 0."""
    x = np.linspace(-4.0, 5.0, 3001)  # log-ratio 50 - 10x: 90 down to 0
    X = np.column_stack([x, np.zeros_like(x)])
    weights, means = np.array([0.5, 0.5]), np.array([[0.0, 0.0], [10.0, 0.0]])
    resp = np.empty((len(x), 2), dtype=np.float32)
    _em.posterior(X.astype(np.float32), np.log(weights), means.astype(np.float32),
                  np.ones(2, dtype=np.float32), "spherical",
                  np.empty(len(x), dtype=np.float32), resp)
    log_ratio = 50.0 - 10.0 * x
    expected = np.exp(-log_ratio - np.logaddexp(0.0, -log_ratio))
    assert np.all(resp[log_ratio > 86.01, 1] == 0)
    kept = log_ratio < 85.0
    assert_allclose(resp[kept, 1], expected[kept], rtol=2e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_components", [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 40])
def test_posterior_normalization_on_both_sides_of_the_narrow_switch(n_components, dtype):
    """The log-sum-exp takes column blocks for K <= 16 and rows above: both
    against scipy, with a partial last block (N = 200 is not a multiple of 64),
    at every K whose block transposes have their own copy and at one without."""
    weights, means, covariances, prec_chol = random_model(n_components, 3, "diag", seed=7)
    X = sample_points(means, 200, seed=8)
    log_norm = np.empty(200, dtype=dtype)
    resp = np.empty((200, n_components), dtype=dtype)
    _em.posterior(X.astype(dtype), np.log(weights), means.astype(dtype),
                  prec_chol.astype(dtype), "diag", log_norm, resp)
    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances, "diag")
    tol = 2e-5 if dtype == np.float32 else 1e-10
    assert_allclose(log_norm, ref_norm, rtol=tol)
    assert_allclose(resp, ref_resp, atol=tol)

def test_posterior_rejects_bad_shapes():
    weights, means, covariances, prec_chol = random_model(3, 4, "full", seed=0)
    X = sample_points(means, 10, seed=0)
    with pytest.raises(ValueError):
        _em.posterior(X, np.log(weights), means[:2], prec_chol, "full", np.empty(10))
    with pytest.raises(ValueError):
        _em.posterior(X, np.log(weights), means, prec_chol[:, :3], "full", np.empty(10))
    with pytest.raises(ValueError):
        _em.posterior(X, np.log(weights), means, prec_chol, "full", np.empty(9))
    with pytest.raises(ValueError):
        _em.posterior(X, np.log(weights), means, prec_chol, "full", np.empty(10),
                      np.empty((10, 2)))
    with pytest.raises(ValueError):
        _em.posterior(X, np.log(weights), means, prec_chol, "banana", np.empty(10))


# -- accumulate_statistics --------------------------------------------------------

def shift_for(covariance_type, means, rng):
    k, d = means.shape
    if covariance_type == "full":  # any per-component point
        return means + rng.standard_normal((k, d))
    return np.tile(rng.standard_normal(d), (k, 1))  # one centre for all


def empty_accumulators(covariance_type, k, d, rng=None):
    xx_shape = {"full": (k, d, d), "tied": (d, d), "spherical": (k,)}.get(covariance_type,
                                                                       (k, d))
    if rng is None:
        return np.zeros(k), np.zeros((k, d)), np.zeros(xx_shape)
    sum_xx = rng.standard_normal(xx_shape)
    if covariance_type in ("full", "tied"):
        sum_xx = sum_xx + np.swapaxes(sum_xx, -1, -2)
    return rng.standard_normal(k), rng.standard_normal((k, d)), sum_xx


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", (2, 8, 12, 32, 33, 49))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_statistics_matches_numpy(covariance_type, n_features, dtype, weighted):
    rng = np.random.RandomState(n_features)
    n_samples, k = 600, 3
    weights, means, covariances, prec_chol = random_model(k, n_features, covariance_type,
                                                          seed=7)
    X = sample_points(means, n_samples, seed=8).astype(dtype)
    w = rng.uniform(0.0, 3.0, size=n_samples).astype(dtype) if weighted else None
    means_d, prec_d = means.astype(dtype), prec_chol.astype(dtype)
    shift = shift_for(covariance_type, means, rng)

    # Accumulators are IN/OUT: start from non-zero values, expect additions.
    start = empty_accumulators(covariance_type, k, n_features, rng)
    resp_sum, sum_x, sum_xx = (a.copy() for a in start)
    loglik, weight_sum = _em.accumulate_statistics(
        X, w, np.log(weights), means_d, prec_d, covariance_type, shift,
        resp_sum, sum_x, sum_xx.reshape(-1))

    ref_norm, ref_resp = reference_posterior(
        X, weights, means_d.astype(np.float64),
        covariances_from_factor(prec_d, covariance_type), covariance_type)
    wt = np.ones(n_samples) if w is None else w.astype(np.float64)
    exp_resp_sum, exp_sum_x, exp_sum_xx = reference_statistics(X, w, ref_resp, shift,
                                                               covariance_type)
    rtol = 1e-9 if dtype == np.float64 else 2e-4

    def check(got, initial, expected):
        scale = np.abs(expected).max() + 1.0
        assert_allclose(got - initial, expected, rtol=rtol, atol=rtol * scale)

    check(resp_sum, start[0], exp_resp_sum)
    check(sum_x, start[1], exp_sum_x)
    check(sum_xx, start[2], exp_sum_xx)
    assert_allclose(weight_sum, wt.sum(), rtol=1e-12 if dtype == np.float64 else 1e-6)
    assert_allclose(loglik, wt @ ref_norm, rtol=rtol)
    if covariance_type in ("full", "tied"):
        assert_array_equal(sum_xx, np.swapaxes(sum_xx, -1, -2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", (2, 4, 5, 7, 32, 33, 49, 64, 70))
def test_full_feature_and_exact_paths_agree(n_features, dtype):
    """Full covariances: the quadratic-feature GEMMs (D <= 32) and the
    per-component products (across rows at D <= 4; above, by the micro-kernels
    where the CPU has AVX-512 and by BLAS) give the same posterior and
    statistics (the statistics with the fused pass of small mixtures off; it
    has its own test)."""
    n_samples, k = 1001, 5  # 1001: a row block of the micro-kernels left over
    weights, means, covariances, prec_chol = random_model(k, n_features, "full", seed=11)
    X = sample_points(means, n_samples, seed=12).astype(dtype)
    means_d, prec_d = means.astype(dtype), prec_chol.astype(dtype)
    prepared = _em.prepare_model(X, np.log(weights), means_d, prec_d, "full", None,
                                 allow_fused=False)
    if dtype == np.float64 and n_features <= 32:  # well-conditioned: feature path
        assert prepared[6]
    ref_norm, ref_resp = reference_posterior(
        X, weights, means_d.astype(np.float64), covariances_from_factor(prec_d, "full"),
        "full")
    shift = means.copy()
    expected = reference_statistics(X, None, ref_resp, shift, "full")
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    exact = _em.prepare_model(X, np.log(weights), means_d, prec_d, "full", None,
                              allow_features=False, allow_fused=False)
    assert not exact[6] and exact[8] == (_em.microkernels_available()
                                         and n_features > _em.SMALL_D)
    blas = _em.prepare_model(X, np.log(weights), means_d, prec_d, "full", None,
                             allow_features=False, allow_microkernels=False,
                             allow_fused=False)
    assert not blas[6] and not blas[8]
    for path in (prepared, exact, blas):
        log_norm = np.empty(n_samples, dtype=dtype)
        resp = np.empty((n_samples, k), dtype=dtype)
        _em.posterior(X, np.log(weights), means_d, prec_d, "full", log_norm, resp,
                      prepared=path)
        assert_allclose(log_norm, ref_norm, rtol=rtol)
        assert_allclose(resp, ref_resp, atol=rtol)
        sums = (np.zeros(k), np.zeros((k, n_features)), np.zeros(k * n_features ** 2))
        _em.accumulate_statistics(X, None, np.log(weights), means_d, prec_d, "full",
                                  shift, *sums, prepared=path)
        for got, want in zip(sums, expected):
            assert_allclose(got.reshape(want.shape), want, rtol=rtol,
                            atol=rtol * (np.abs(want).max() + 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", (2, 4, 5, 33, 64, 70))
def test_full_statistics_leave_out_rows_of_zero_responsibility_exactly(n_features, dtype):
    """The per-component statistics of full covariances centre and weight only
    the rows whose responsibility is not 0 and form the Gram matrix of those:
    on every path (across rows at D <= 4, BLAS, the micro-kernels), with
    rows of zero responsibility in every pattern within the groups of four
    rows the centring takes at once, in a tail of fewer than four, and across
    chunks, the sums are the references'."""
    d, k = n_features, 3
    rng = np.random.RandomState(d)
    # Components 0 and 1 far apart (each takes none of the other's rows);
    # component 2, wider, shares component 0's rows and mean.
    means = np.zeros((k, d))
    means[1] = 60.0
    patterns = np.array([[(p >> b) & 1 for b in range(4)] for p in range(16)]).reshape(-1)
    labels = np.concatenate([patterns] * 40 + [[1, 0, 1]])  # 2 563 rows: a tail of 3
    X = means[labels] + rng.standard_normal((len(labels), d))
    X[::97] = 30.0 + 0.1 * rng.standard_normal((len(X[::97]), d))  # shared rows
    X = X.astype(dtype)
    weights = np.array([0.5, 0.3, 0.2])
    prec_chol = np.array([np.eye(d), np.eye(d), np.eye(d) / 1.2])
    means_d, prec_d = means.astype(dtype), prec_chol.astype(dtype)
    ref_norm, ref_resp = reference_posterior(
        X, weights, means, covariances_from_factor(prec_chol, "full"), "full")
    assert (ref_resp == 0).mean() > 0.3 and ((ref_resp > 0) & (ref_resp < 1)).any()
    shift = means + 0.5
    expected = reference_statistics(X, None, ref_resp, shift, "full")
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    paths = {
        "exact": _em.prepare_model(X, np.log(weights), means_d, prec_d, "full", None,
                                   allow_features=False, allow_fused=False),
        "blas": _em.prepare_model(X, np.log(weights), means_d, prec_d, "full", None,
                                  allow_features=False, allow_microkernels=False,
                                  allow_fused=False),
    }
    for name, path in paths.items():
        assert not path[6]
        sums = (np.zeros(k), np.zeros((k, d)), np.zeros(k * d * d))
        _em.accumulate_statistics(X, None, np.log(weights), means_d, prec_d, "full",
                                  shift, *sums, prepared=path)
        for got, want in zip(sums, expected):
            assert_allclose(got.reshape(want.shape), want, rtol=rtol,
                            atol=rtol * (np.abs(want).max() + 1.0), err_msg=name)
    # Given responsibilities take the same centring (no model: BLAS or across rows).
    sums = (np.zeros(k), np.zeros((k, d)), np.zeros(k * d * d))
    resp = ref_resp.astype(dtype)
    _em.statistics_from_responsibilities(X, None, resp, "full", shift, *sums)
    expected = reference_statistics(X, None, resp, shift, "full")
    for got, want in zip(sums, expected):
        assert_allclose(got.reshape(want.shape), want, rtol=rtol,
                        atol=rtol * (np.abs(want).max() + 1.0))


@pytest.mark.parametrize("n_components, n_features", [(3, 7), (3, 8), (4, 8), (4, 15),
                                                      (4, 16), (5, 16), (2, 30)])
def test_full_few_components_take_the_per_component_path_with_microkernels(
        n_components, n_features):
    """With the micro-kernels, K <= 3 from D = 8 and K = 4 from D = 16 go per
    component (narrow feature GEMMs are slower there); the results are the
    references' either way (the statistics off the fused pass)."""
    k, d = n_components, n_features
    weights, means, covariances, prec_chol = random_model(k, d, "full", seed=13)
    X = sample_points(means, 700, seed=14)
    prepared = _em.prepare_model(X, np.log(weights), means, prec_chol, "full", None,
                                 allow_fused=False)
    per_component = _em.microkernels_available() and (k <= 3 and d >= 8
                                                      or k <= 4 and d >= 16)
    assert prepared[6] == (not per_component)
    log_norm, resp = np.empty(700), np.empty((700, k))
    _em.posterior(X, np.log(weights), means, prec_chol, "full", log_norm, resp,
                  prepared=prepared)
    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances, "full")
    assert_allclose(log_norm, ref_norm, rtol=1e-9)
    assert_allclose(resp, ref_resp, atol=1e-9)
    sums = (np.zeros(k), np.zeros((k, d)), np.zeros(k * d * d))
    _em.accumulate_statistics(X, None, np.log(weights), means, prec_chol, "full",
                              means.copy(), *sums, prepared=prepared)
    expected = reference_statistics(X, None, ref_resp, means.copy(), "full")
    for got, want in zip(sums, expected):
        assert_allclose(got.reshape(want.shape), want, rtol=1e-9,
                        atol=1e-9 * (np.abs(want).max() + 1.0))

def test_full_mixed_paths_match_references():
    """A tight component far from the others cannot use the feature GEMMs (its
    rounding bound is too large): it alone goes per component while the rest
    keep the GEMMs, and everything still matches the references (the
    statistics off the fused pass)."""
    k, d, n_samples = 6, 8, 1200
    weights, means, covariances, _ = random_model(k, d, "full", seed=21)
    means[0] += 200.0
    covariances[0] *= 1e-4
    prec_chol = np.array([upper_precision_factor(c) for c in covariances])
    rng = np.random.RandomState(22)
    labels = rng.randint(k, size=n_samples)
    X = np.array([rng.multivariate_normal(means[j], covariances[j]) for j in labels])
    prepared = _em.prepare_model(X, np.log(weights), means, prec_chol, "full", None,
                                 allow_fused=False)
    assert prepared[6] and list(prepared[7]) == [1, 0, 0, 0, 0, 0]

    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances, "full")
    log_norm = np.empty(n_samples)
    resp = np.empty((n_samples, k))
    _em.posterior(X, np.log(weights), means, prec_chol, "full", log_norm, resp,
                  prepared=prepared)
    assert_allclose(log_norm, ref_norm, rtol=1e-9)
    assert_allclose(resp, ref_resp, atol=1e-9)

    shift = means + 0.1  # sums about points other than the means, too
    sums = (np.zeros(k), np.zeros((k, d)), np.zeros(k * d * d))
    loglik, _ = _em.accumulate_statistics(X, None, np.log(weights), means, prec_chol,
                                          "full", shift, *sums, prepared=prepared)
    assert_allclose(loglik, ref_norm.sum(), rtol=1e-9)
    for got, want in zip(sums, reference_statistics(X, None, ref_resp, shift, "full")):
        assert_allclose(got.reshape(want.shape), want, rtol=1e-9,
                        atol=1e-9 * (np.abs(want).max() + 1.0))


def _takes_the_diag_micro_pass(covariance_type, d, k, dtype):
    """gmmc_diag_micro_pays, where the CPU has AVX-512."""
    if not _em.microkernels_available() or covariance_type not in ("diag", "spherical"):
        return False
    spherical = covariance_type == "spherical"
    if dtype == np.float32:
        return d >= 24 and k <= 8 if spherical else d >= 32 and k <= 10
    if spherical:
        return d >= 24 and k <= 5
    return k <= 16 and (d >= 24 or d >= 16 and k >= 3)


def _takes_the_full_micro_pass(covariance_type, d, k, dtype):
    """gmmc_full_pass_pays, where the CPU has AVX-512."""
    if not _em.microkernels_available() or covariance_type != "full" or d > 64:
        return False
    return d >= 32 if dtype == np.float32 else d >= 24 or (d >= 22 and k <= 8)


def _takes_the_fused_pass(covariance_type, d, k, dtype=np.float64):
    if (k > 16 or _takes_the_diag_micro_pass(covariance_type, d, k, dtype)
            or _takes_the_full_micro_pass(covariance_type, d, k, dtype)):
        return False
    if covariance_type == "full":
        return d <= 32 and d * k <= 384
    bound = 160 if covariance_type == "diag" and k <= 8 else 80
    return d <= 32 and d * k <= bound


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type, n_features, k", [
    ("full", d, k) for d, k in [(1, 1), (2, 5), (3, 8), (4, 16), (4, 17), (5, 3), (8, 5),
                                (9, 16), (24, 16), (32, 12), (32, 13), (33, 2)]
] + [("diag", d, k) for d, k in [(1, 1), (2, 5), (5, 16), (6, 16), (16, 8), (16, 9),
                                   (32, 5), (32, 6), (33, 2), (4, 17)]
] + [("spherical", d, k) for d, k in [(1, 1), (2, 5), (16, 5), (16, 6), (32, 2),
                                        (33, 2), (4, 17)]])
def test_small_fused_pass_on_both_sides_of_its_switch(covariance_type, n_features, k,
                                                      dtype):
    """Mixtures with few components take one fused E-step and statistics pass
    (the E-step in the input's precision, the sums in float64): K <= 16, D <=
    32 and D * K <= 384 (full), 160 (diag with K <= 8) or 80 (spherical, and
    diag with K > 8). Past any bound, the usual paths. Against the float64 references of the same
    values, with weighted rows (some zero), a component of weight 0
    (log-densities of -inf), sums about points other than the means (full)
    and a partial last block."""
    rng = np.random.RandomState(40 + n_features)
    n_samples, d = 1001, n_features
    weights, means, covariances, prec_chol = random_model(k, d, covariance_type, seed=41)
    if k > 1:
        weights[1] = 0.0
    X = sample_points(means, n_samples, seed=42).astype(dtype)
    w = rng.uniform(0.0, 3.0, size=n_samples).astype(dtype)
    w[::7] = 0.0
    means_d, prec_d = means.astype(dtype), prec_chol.astype(dtype)
    shift = shift_for(covariance_type, means, rng)
    start = empty_accumulators(covariance_type, k, d, rng)
    sums = tuple(a.copy() for a in start)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    loglik, _ = _em.accumulate_statistics(X, w, log_weights, means_d, prec_d,
                                          covariance_type, shift, sums[0], sums[1],
                                          sums[2].reshape(-1))
    with np.errstate(divide="ignore"):
        ref_norm, ref_resp = reference_posterior(
            X, weights, means_d.astype(np.float64),
            covariances_from_factor(prec_d, covariance_type), covariance_type)
    fused = _takes_the_fused_pass(covariance_type, d, k, dtype)
    prepared = _em.prepare_model(X, log_weights, means_d, prec_d, covariance_type,
                                 None if covariance_type == "full" else shift[0])
    assert prepared[13] == fused
    assert prepared[15] == _takes_the_full_micro_pass(covariance_type, d, k, dtype)
    if _takes_the_diag_micro_pass(covariance_type, d, k, dtype):
        rtol = 1e-9 if dtype == np.float64 else 1e-5
    else:
        rtol = (1e-9 if dtype == np.float64
                else 1e-6 if fused or prepared[15] else 2e-4)
    assert_allclose(loglik, w.astype(np.float64) @ ref_norm, rtol=rtol)
    expected = reference_statistics(X, w, ref_resp, shift, covariance_type)
    for got, initial, want in zip(sums, start, expected):
        assert_allclose(got - initial, want, rtol=rtol,
                        atol=rtol * (np.abs(want).max() + 1.0))
    if covariance_type == "full":
        assert_array_equal(sums[2], np.swapaxes(sums[2], 1, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type, n_features, k", [
    ("diag", d, k) for d, k in [(16, 2), (16, 3), (23, 2), (24, 1), (31, 10), (32, 10),
                                (32, 11), (33, 7), (64, 16), (64, 17), (70, 11)]
] + [("spherical", d, k) for d, k in [(23, 5), (24, 5), (24, 6), (40, 8), (40, 9)]])
def test_diag_micro_pass_on_both_sides_of_its_switch(covariance_type, n_features, k,
                                                     dtype):
    """Diag and spherical covariances at larger D take the AVX-512 statistics
    pass where it pays (gmmc_diag_micro_pays; never without AVX-512), and
    give the references' posterior sums either way: weighted rows (some
    zero), a component of weight 0, data and means far from the origin (the
    pass centres each component exactly, no features to cancel), D not a
    multiple of the vector width, and 1001 rows: 15 blocks of 64 and a
    partial one."""
    rng = np.random.RandomState(50 + n_features)
    n_samples, d = 1001, n_features
    weights, means, covariances, prec_chol = random_model(k, d, covariance_type, seed=51)
    if k > 1:
        weights[1] = 0.0
    means += 1e3  # (float32 keeps 1e3 to 6e-5: its references use the same values)
    X = sample_points(means, n_samples, seed=52).astype(dtype)
    w = rng.uniform(0.0, 3.0, size=n_samples).astype(dtype)
    w[::7] = 0.0
    means_d, prec_d = means.astype(dtype), prec_chol.astype(dtype)
    shift = np.tile(means.mean(axis=0) + rng.standard_normal(d), (k, 1))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
        ref_norm, ref_resp = reference_posterior(
            X, weights, means_d.astype(np.float64),
            covariances_from_factor(prec_d, covariance_type), covariance_type)
    expected = reference_statistics(X, w, ref_resp, shift, covariance_type)
    micro = _takes_the_diag_micro_pass(covariance_type, d, k, dtype)
    for allow in (True, False):
        prepared = _em.prepare_model(X, log_weights, means_d, prec_d, covariance_type,
                                     shift[0], allow_microkernels=allow)
        assert prepared[14] == (micro and allow)
        if not prepared[14] and not prepared[13]:
            continue  # the feature GEMMs: they cancel at 1e3 (their own tests)
        rtol = 1e-9 if dtype == np.float64 else 1e-5 if prepared[14] else 1e-6
        sums = empty_accumulators(covariance_type, k, d)
        loglik, _ = _em.accumulate_statistics(X, w, log_weights, means_d, prec_d,
                                              covariance_type, shift, sums[0], sums[1],
                                              sums[2].reshape(-1), prepared=prepared)
        assert_allclose(loglik, w.astype(np.float64) @ ref_norm, rtol=rtol)
        for got, want in zip(sums, expected):
            assert_allclose(got, want, rtol=rtol, atol=rtol * (np.abs(want).max() + 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features, k", [(21, 5), (22, 1), (22, 8), (22, 9), (24, 16),
                                           (31, 3), (32, 5), (32, 13), (33, 2), (47, 5),
                                           (64, 3), (64, 17), (65, 3)])
def test_full_micro_pass_on_both_sides_of_its_switch(n_features, k, dtype):
    """Full covariances from D = 22 to 64 (float32: 32) take the AVX-512
    statistics pass (gmmc_full_pass_pays; never without AVX-512) and give the
    references' posterior sums either way: weighted rows (some zero), a
    component of weight 0 (log-densities of -inf), means 30 apart per
    coordinate (hundreds of the components' standard deviations: most
    responsibilities are 0) and 1e3 from the origin (the float64 E-step
    centres the rows once, at the means' average: its terms then carry the
    offsets), sums about points other than the means, and 1001 rows: 15
    blocks of 64 and a partial one. Against the path without the kernel, the
    same sums."""
    rng = np.random.RandomState(70 + n_features)
    n_samples, d = 1001, n_features
    weights, means, covariances, prec_chol = random_model(k, d, "full", seed=71)
    if k > 1:
        weights[1] = 0.0
    means = 1e3 + 10.0 * means
    X = sample_points(means, n_samples, seed=72).astype(dtype)
    w = rng.uniform(0.0, 3.0, size=n_samples).astype(dtype)
    w[::7] = 0.0
    means_d, prec_d = means.astype(dtype), prec_chol.astype(dtype)
    shift = shift_for("full", means, rng)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
        ref_norm, ref_resp = reference_posterior(
            X, weights, means_d.astype(np.float64),
            covariances_from_factor(prec_d, "full"), "full")
    expected = reference_statistics(X, w, ref_resp, shift, "full")
    results = []
    for allow in (True, False):
        prepared = _em.prepare_model(X, log_weights, means_d, prec_d, "full", None,
                                     allow_microkernels=allow, allow_features=False)
        assert prepared[15] == (allow and _takes_the_full_micro_pass("full", d, k, dtype))
        sums = empty_accumulators("full", k, d)
        loglik, _ = _em.accumulate_statistics(X, w, log_weights, means_d, prec_d, "full",
                                              shift, sums[0], sums[1], sums[2].reshape(-1),
                                              prepared=prepared)
        rtol = 1e-9 if dtype == np.float64 else 1e-5
        assert_allclose(loglik, w.astype(np.float64) @ ref_norm, rtol=rtol)
        for got, want in zip(sums, expected):
            assert_allclose(got.reshape(want.shape), want, rtol=rtol,
                            atol=rtol * (np.abs(want).max() + 1.0))
        assert_array_equal(sums[2], np.swapaxes(sums[2], 1, 2))
        results.append(sums)
    tol = 1e-11 if dtype == np.float64 else 1e-5
    for on, off in zip(*results):
        assert_allclose(on, off, rtol=tol, atol=tol * (np.abs(off).max() + 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features, allow", [(8, True), (40, True), (40, False)],
                         ids=["fused", "avx512-diag", "feature-gemms"])
def test_statistics_of_rows_of_zero_density_are_zeros_in_partial_blocks(
        n_features, allow, dtype):
    """Precisions so large that every log-density is -inf: every row's
    responsibilities are zeros on every path (the fused and AVX-512 passes
    pad their last block of 64 rows; padding once gave 0 / 0 = NaN there),
    and the log-likelihood is -inf. 200 rows: three blocks and 8 rows."""
    rng = np.random.RandomState(60)
    n, d, k = 200, n_features, 4
    X = (2.0 * rng.standard_normal((n, d))).astype(dtype)
    means = rng.standard_normal((k, d)).astype(dtype)
    big = 1e200 if dtype == np.float64 else 1e30
    prec = (big * rng.uniform(0.5, 2.0, (k, d))).astype(dtype)
    log_weights = np.log(np.full(k, 1.0 / k))
    shift = np.tile(X.mean(axis=0).astype(np.float64), (k, 1))
    prepared = _em.prepare_model(X, log_weights, means, prec, "diag", shift[0],
                                 allow_microkernels=allow)
    sums = empty_accumulators("diag", k, d)
    with np.errstate(all="ignore"):
        loglik, _ = _em.accumulate_statistics(X, None, log_weights, means, prec, "diag",
                                              shift, sums[0], sums[1],
                                              sums[2].reshape(-1), prepared=prepared)
    assert loglik == -np.inf
    for got in sums:
        assert_array_equal(got, 0.0)


@pytest.mark.parametrize("n_features, spread, in_float64", [
    (2, 1.0, False), (2, 10.0, True), (8, 10.0, True), (32, 10.0, True)])
def test_float32_full_features_go_float64_where_float32_rounding_is_too_large(
        n_features, spread, in_float64):
    """float32 full covariances whose components pass float64's rounding bound
    but not float32's (separated clusters) take the quadratic features in
    float64; a component past both bounds still goes per component. Posterior
    and statistics match the float64 references to float32's rounding of the
    log-densities, finer than the per-component path's 2e-4."""
    k, d, n_samples = 6, n_features, 1001
    weights, means, covariances, _ = random_model(k, d, "full", seed=31)
    means *= spread
    means[0] += 300.0
    covariances[0] *= 1e-6  # far and tight: past float64's bound as well
    weights[0] = 1e-3  # (and the mixture mean, the features' centre, stays put)
    weights /= weights.sum()
    prec_chol = np.array([upper_precision_factor(c) for c in covariances])
    rng = np.random.RandomState(32)
    # Wide samples, many between clusters (responsibilities neither 0 nor 1).
    X = sample_points(means[1:], n_samples, seed=33, scale=1.5 * spread)
    X[:20] = means[0] + 1e-3 * rng.standard_normal((20, d))
    X32, means32, prec32 = (a.astype(np.float32) for a in (X, means, prec_chol))
    sample_weight = rng.uniform(0.0, 2.0, n_samples).astype(np.float32)
    prepared = _em.prepare_model(X32, np.log(weights), means32, prec32, "full", None,
                                 allow_fused=False)
    assert prepared[6] and prepared[10] == in_float64
    assert list(prepared[7]) == [1, 0, 0, 0, 0, 0]

    covariances32 = covariances_from_factor(prec32, "full")
    ref_norm, ref_resp = reference_posterior(X32, weights, means32.astype(np.float64),
                                             covariances32, "full")
    log_norm = np.empty(n_samples, dtype=np.float32)
    resp = np.empty((n_samples, k), dtype=np.float32)
    _em.posterior(X32, np.log(weights), means32, prec32, "full", log_norm, resp,
                  prepared=prepared)
    tol = 2e-5 if in_float64 else 2e-4
    assert_allclose(log_norm, ref_norm, rtol=tol)
    assert_allclose(resp, ref_resp, atol=tol)

    shift = means + 0.1
    sums = (np.zeros(k), np.zeros((k, d)), np.zeros(k * d * d))
    loglik, _ = _em.accumulate_statistics(X32, sample_weight, np.log(weights), means32,
                                          prec32, "full", shift, *sums,
                                          prepared=prepared)
    assert_allclose(loglik, sample_weight.astype(np.float64) @ ref_norm, rtol=tol)
    expected = reference_statistics(X32, sample_weight, ref_resp, shift, "full")
    for got, want in zip(sums, expected):
        assert_allclose(got.reshape(want.shape), want, rtol=10 * tol,
                        atol=10 * tol * np.abs(want).max())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_statistics_integer_weights_equal_repeated_rows(covariance_type):
    """Weight 2 counts a sample twice, weight 0 drops it."""
    rng = np.random.RandomState(0)
    weights, means, covariances, prec_chol = random_model(3, 5, covariance_type, seed=1)
    X = sample_points(means, 300, seed=2)
    w = rng.randint(0, 4, size=300).astype(np.float64)
    shift = shift_for(covariance_type, means, rng)
    out_w = empty_accumulators(covariance_type, 3, 5)
    res_w = _em.accumulate_statistics(X, w, np.log(weights), means, prec_chol,
                                      covariance_type, shift, out_w[0], out_w[1],
                                      out_w[2].reshape(-1))
    Xr = np.repeat(X, w.astype(int), axis=0)
    out_r = empty_accumulators(covariance_type, 3, 5)
    res_r = _em.accumulate_statistics(Xr, None, np.log(weights), means, prec_chol,
                                      covariance_type, shift, out_r[0], out_r[1],
                                      out_r[2].reshape(-1))
    assert_allclose(res_w, res_r, rtol=1e-11)
    for a, b in zip(out_w, out_r):
        assert_allclose(a, b, rtol=1e-10, atol=1e-9)


def test_accumulate_statistics_empty_input():
    weights, means, covariances, prec_chol = random_model(2, 3, "full", seed=0)
    acc = empty_accumulators("full", 2, 3)
    res = _em.accumulate_statistics(np.empty((0, 3)), None, np.log(weights), means,
                                    prec_chol, "full", means.copy(), acc[0], acc[1],
                                    acc[2].reshape(-1))
    assert tuple(res) == (0.0, 0.0)
    for a in acc:
        assert not a.any()


def test_accumulate_statistics_rejects_bad_accumulators():
    weights, means, covariances, prec_chol = random_model(2, 3, "full", seed=0)
    X = sample_points(means, 20, seed=0)
    resp_sum, sum_x, sum_xx = empty_accumulators("full", 2, 3)
    with pytest.raises(ValueError):
        _em.accumulate_statistics(X, None, np.log(weights), means, prec_chol, "full",
                                  means.copy(), resp_sum, sum_x, np.zeros(17))
    with pytest.raises(ValueError):
        _em.accumulate_statistics(X, np.ones(19), np.log(weights), means, prec_chol,
                                  "full", means.copy(), resp_sum, sum_x,
                                  sum_xx.reshape(-1))


# -- statistics_from_responsibilities ------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", (1, 8, 11))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_from_responsibilities_matches_numpy(covariance_type, n_features, dtype,
                                                        weighted):
    rng = np.random.RandomState(n_features + 100)
    n_samples, k = 530, 4
    X = (2.0 * rng.standard_normal((n_samples, n_features)) + 5.0).astype(dtype)
    resp = rng.uniform(size=(n_samples, k))
    resp /= resp.sum(axis=1, keepdims=True)
    resp[::7] = 0.0  # rows with no responsibility at all
    resp[3::11] = np.eye(k)[rng.randint(k, size=len(resp[3::11]))]  # hard assignments
    resp = resp.astype(dtype)
    resp_before = resp.copy()
    w = rng.uniform(0.0, 2.0, size=n_samples).astype(dtype) if weighted else None
    shift = np.tile(X.astype(np.float64).mean(axis=0) + 0.3, (k, 1))
    if covariance_type == "full":
        shift = shift + rng.standard_normal(shift.shape)
    start = empty_accumulators(covariance_type, k, n_features, rng)
    resp_sum, sum_x, sum_xx = (a.copy() for a in start)
    weight_sum = _em.statistics_from_responsibilities(
        X, w, resp, covariance_type, shift, resp_sum, sum_x, sum_xx.reshape(-1))
    expected = reference_statistics(X, w, resp, shift, covariance_type)
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    for got, initial, exp in zip((resp_sum, sum_x, sum_xx), start, expected):
        scale = np.abs(exp).max() + 1.0
        assert_allclose(got - initial, exp, rtol=rtol, atol=rtol * scale)
    wt = np.ones(n_samples) if w is None else w.astype(np.float64)
    assert_allclose(weight_sum, wt.sum(), rtol=1e-12 if dtype == np.float64 else 1e-6)
    assert_array_equal(resp, resp_before)  # given responsibilities are only read


# -- precision_cholesky ----------------------------------------------------------------

# gmmc's own factorisation up to 128 features (blocks of 8 columns, panels of
# 4 rows), LAPACK's above: both sides, and orders that end blocks and panels
# part way.
FACTOR_ORDERS = (1, 2, 3, 4, 5, 7, 8, 9, 30, 63, 64, 65, 127, 128, 129, 140)


@pytest.mark.parametrize("n_features", FACTOR_ORDERS)
def test_precision_cholesky_matches_numpy(n_features):
    rng = np.random.RandomState(n_features)
    k = 3
    covs = []
    for _ in range(k):
        a = rng.standard_normal((n_features, n_features))
        covs.append(a @ a.T + 0.1 * np.eye(n_features))
    covs = np.array(covs)
    covs_before = covs.copy()
    out = np.full_like(covs, np.nan)
    assert _em.precision_cholesky(covs, out) == -1
    assert_array_equal(covs, covs_before)
    for j in range(k):
        u = out[j]
        assert_array_equal(np.tril(u, -1), 0.0)  # upper triangular
        assert (np.diag(u) > 0).all()
        inv = np.linalg.inv(covs[j])
        assert_allclose(u @ u.T, inv, rtol=1e-8, atol=1e-10 * np.abs(inv).max())
        # The upper factor with positive diagonal is unique: same as NumPy's.
        assert_allclose(u, upper_precision_factor(covs[j]), rtol=1e-8,
                        atol=1e-10 * np.abs(u).max())


@pytest.mark.parametrize("bad", [0, 1, 2])
def test_precision_cholesky_reports_failing_component(bad):
    rng = np.random.RandomState(0)
    d = 4
    covs = []
    for _ in range(3):
        a = rng.standard_normal((d, d))
        covs.append(a @ a.T + np.eye(d))
    covs = np.array(covs)
    covs[bad] = np.diag([1.0, -2.0, 1.0, 1.0])  # indefinite
    out = np.empty_like(covs)
    assert _em.precision_cholesky(covs, out) == bad


def _factor_with_pivot(d, pivot_row, pivot_value, seed):
    """C = R^T R (R upper, positive diagonal) but for C[p, p], set so that the
    Cholesky pivot of row p (what is left of C[p, p] once the rows above it
    are taken off) is ``pivot_value``; the pivots below p change too, so
    p = d - 1 with a positive value gives a positive definite C."""
    rng = np.random.RandomState(seed)
    r = np.triu(rng.standard_normal((d, d))) / np.sqrt(d)  # well conditioned
    r[np.diag_indices(d)] = 1.0 + rng.random_sample(d)
    c = r.T @ r
    p = pivot_row
    c[p, p] = r[:p, p] @ r[:p, p] + pivot_value
    return c


@pytest.mark.parametrize("n_features", FACTOR_ORDERS)
def test_precision_cholesky_flags_the_first_failing_pivot(n_features):
    d = n_features
    rows = sorted({0, d // 2, d - 1, min(4, d - 1), min(9, d - 1)})
    for p in rows:
        for pivot_value in (-1.0, -1e-3):
            good = _factor_with_pivot(d, d - 1, 1.0, seed=p)
            bad = _factor_with_pivot(d, p, pivot_value, seed=p)
            covs = np.array([good, good, bad, good])
            assert _em.precision_cholesky(covs, np.empty_like(covs)) == 2, (p, pivot_value)
    # A pivot just above zero passes, and gives the exact inverse factor.
    c = _factor_with_pivot(d, d - 1, 1e-3, seed=1)
    out = np.empty((1, d, d))
    assert _em.precision_cholesky(c[None], out) == -1
    assert_allclose(out[0], upper_precision_factor(c), rtol=1e-6,
                    atol=1e-9 * np.abs(out).max())


@pytest.mark.parametrize("n_features", FACTOR_ORDERS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_precision_cholesky_flags_values_that_are_not_finite(n_features, value):
    d = n_features
    good = _factor_with_pivot(d, d - 1, 1.0, seed=0)
    for a, b in {(0, 0), (d - 1, 0), (0, d - 1), (d // 2, d // 3), (d - 1, d - 1)}:
        covs = np.array([good, good, good])
        covs[1, a, b] = value  # below the diagonal too: all of C is checked
        before = covs.copy()
        assert _em.precision_cholesky(covs, np.empty_like(covs)) == 1, (a, b)
        assert_array_equal(covs, before)


def test_precision_cholesky_singular_matrix_fails():
    covs = np.ones((1, 3, 3))  # rank 1
    assert _em.precision_cholesky(covs, np.empty_like(covs)) == 0


def test_stats_precision_cholesky_raises_for_non_pd(covariance_type):
    d, k = 3, 2
    if covariance_type == "full":
        cov = np.array([np.eye(d), -np.eye(d)])
    elif covariance_type == "tied":
        cov = -np.eye(d)
    elif covariance_type == "diag":
        cov = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    else:
        cov = np.array([1.0, -1.0])
    with pytest.raises(ValueError, match="ill-defined"):
        _stats.precision_cholesky(cov, covariance_type)


# -- k-means kernels -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (300, 2, 5), (513, 17, 8), (256, 64, 3)])
def test_squared_distances_matches_cdist(shape, dtype):
    n, d, k = shape
    rng = np.random.RandomState(n)
    X = (rng.standard_normal((n, d)) * 3 + 1).astype(dtype)
    centers = (rng.standard_normal((k, d)) * 3).astype(dtype)
    out = np.full((n, k), np.nan, dtype=dtype)
    _kmeans.squared_distances(X, np.zeros(d), centers, out)
    ref = cdist(X.astype(np.float64), centers.astype(np.float64), "sqeuclidean")
    # ||x||^2 - 2 x.c + ||c||^2 loses absolute (not relative) precision.
    scale = (np.sum(X.astype(np.float64) ** 2, axis=1)[:, None]
             + np.sum(centers.astype(np.float64) ** 2, axis=1)[None, :])
    eps = 1e-13 if dtype == np.float64 else 1e-5
    assert np.all(np.abs(out - ref) <= eps * scale + eps)
    assert (out >= 0).all()


@pytest.mark.parametrize("dtype, offset", [(np.float64, 1e10), (np.float32, 1e5)])
def test_squared_distances_far_from_the_origin_are_exact_about_the_offset(dtype, offset):
    """Data around 1e10 (float64) or 1e5 (float32): expanded about the origin
    every distance would be rounding error; about the data mean they keep the
    precision of the data's spread."""
    rng = np.random.RandomState(0)
    X = (offset + rng.standard_normal((600, 3)) * 5).astype(dtype)
    mean = X.astype(np.float64).mean(axis=0)
    centers = X[[0, 200, 400]]
    out = np.empty((600, 3), dtype=dtype)
    _kmeans.squared_distances(X, mean, (centers.astype(np.float64) - mean).astype(dtype),
                              out)
    ref = cdist(X.astype(np.float64), centers.astype(np.float64), "sqeuclidean")
    eps = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(out, ref, rtol=eps, atol=eps * ref.max())


def test_squared_distances_of_a_point_to_itself_is_not_negative():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((50, 6)) * 1e3
    out = np.empty((50, 50))
    _kmeans.squared_distances(X, np.zeros(6), X.copy(), out)
    assert (out >= 0).all()
    assert np.all(np.diag(out) <= 1e-9 * np.sum(X ** 2, axis=1))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, k", [(5, 6), (1, 8), (7, 9), (8, 10), (9, 16), (16, 17),
                                  (17, 32), (4, 33)])
@pytest.mark.parametrize("lanes", [True, False], ids=["lanes", "gemm"])
def test_lloyd_step_matches_numpy(dtype, weighted, d, k, lanes):
    """Both assignment paths, the chunked GEMM and (with AVX-512, 8 or 10 to
    32 centres) the kernel with the centres in its lanes, at widths around
    its vectors and bounds, with a partial block of rows."""
    rng = np.random.RandomState(d * 100 + k)
    n = 777
    X = (rng.standard_normal((n, d)) * 4 + 3).astype(dtype)
    offset = X.astype(np.float64).mean(axis=0)
    centers = X[rng.choice(n, k, replace=False)] + dtype(0.5)
    centred = np.ascontiguousarray(centers - offset, dtype=dtype)
    w = rng.uniform(0.1, 2.0, size=n).astype(dtype) if weighted else None
    X64 = X.astype(np.float64)
    dist = cdist(X64, centred.astype(np.float64) + offset, "sqeuclidean")
    # Near-ties could legitimately go either way: leave those rows out.
    sorted_d = np.sort(dist, axis=1)
    clear = sorted_d[:, 1] - sorted_d[:, 0] > 1e-3 * (1 + sorted_d[:, 0])
    X, X64, dist = X[clear], X64[clear], dist[clear]
    w = None if w is None else w[clear]
    n = len(X)
    assert n > 600
    labels = np.full(n, -1, dtype=np.int32)
    labels[:100] = 0  # some of them already right: not counted as changed
    sums0 = rng.standard_normal((k, d))
    counts0 = rng.uniform(size=k)
    sums, counts = sums0.copy(), counts0.copy()
    inertia, changed = _kmeans.lloyd_step(X, w, offset, centred, labels, sums, counts,
                                          lanes)

    ref_labels = dist.argmin(axis=1)
    assert_array_equal(labels, ref_labels)
    assert changed == n - np.count_nonzero(ref_labels[:100] == 0)
    wt = np.ones(n) if w is None else w.astype(np.float64)
    exp_counts = np.bincount(ref_labels, weights=wt, minlength=k)
    exp_sums = np.array([(wt[ref_labels == j, None] * (X64[ref_labels == j] - offset)).sum(
        axis=0) for j in range(k)])
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(counts - counts0, exp_counts, rtol=rtol)
    assert_allclose(sums - sums0, exp_sums, rtol=rtol, atol=rtol * np.abs(exp_sums).max())
    exp_inertia = wt @ dist[np.arange(n), ref_labels]
    assert_allclose(inertia, exp_inertia, rtol=1e-10 if dtype == np.float64 else 1e-4)
    # A second step from the same centres changes nothing.
    assert _kmeans.lloyd_step(X, w, offset, centred, labels, sums, counts, lanes)[1] == 0


@pytest.mark.parametrize("d", [1, 3, 7, 8, 9, 15, 16, 17, 32, 40])
@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_distances_match_numpy_on_both_paths(dtype, d):
    """k-means++'s distances, AVX-512 (8 rows and 8 or 16 features per
    vector) and portable, against NumPy, at widths around the vectors and a
    row count that leaves a partial block; the two paths sum in the same
    order."""
    rng = np.random.RandomState(d)
    n = 8 * 37 + 5
    X = (rng.standard_normal((n, d)) * 3 + 50).astype(dtype)
    offset = X.astype(np.float64).mean(axis=0)
    centers = np.ascontiguousarray(X[[0, 9, n - 1]].astype(np.float64) - offset,
                                   dtype=dtype)
    Xc = (X.astype(np.float64) - offset).astype(dtype).astype(np.float64)
    ref = ((Xc[None] - centers.astype(np.float64)[:, None]) ** 2).sum(axis=-1)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    outs = []
    for vectorized in (True, False):
        out = np.full((3, n), np.nan, dtype=dtype)
        _kmeans.seed_distances(X, offset, centers, out, vectorized)
        assert_allclose(out, ref, rtol=tol, atol=tol * ref.max())
        outs.append(out)
    assert_allclose(outs[0], outs[1], rtol=4 * np.finfo(dtype).eps)
    # rows of a strided (T, N) output: only its own columns are written
    wide = np.full((3, n + 4), -1.0, dtype=dtype)
    _kmeans.seed_distances(X, offset, centers, wide[:, 2:n + 2])
    assert_array_equal(wide[:, 2:n + 2], outs[0])
    assert (wide[:, :2] == -1).all() and (wide[:, n + 2:] == -1).all()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_kmeans_plusplus_kernels_match_numpy(dtype, weighted):
    """update_closest, candidate_potentials, closest_to_candidate and
    cumulative_search against the N x T NumPy computation they replace."""
    rng = np.random.RandomState(2)
    n, d = 1000, 4
    X = (rng.standard_normal((n, d)) * 2 + 7).astype(dtype)
    w = rng.uniform(0.0, 2.0, size=n).astype(dtype) if weighted else None
    wt = np.ones(n) if w is None else w.astype(np.float64)
    offset = X.astype(np.float64).mean(axis=0)

    def centred(rows):
        return np.ascontiguousarray(X[rows].astype(np.float64) - offset, dtype=dtype)

    closest = np.full(n, np.inf, dtype=dtype)
    potential = _kmeans.update_closest(X, w, offset, centred([3]), closest)
    potential = _kmeans.update_closest(X, w, offset, centred([40]), closest)
    X64 = X.astype(np.float64)
    ref_closest = cdist(X64, X64[[3, 40]], "sqeuclidean").min(axis=1)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(closest, ref_closest, rtol=tol, atol=tol * ref_closest.max())
    assert_allclose(potential, wt @ closest.astype(np.float64), rtol=1e-10)

    candidates = [5, 6, 700]
    potentials = np.zeros(3)
    _kmeans.candidate_potentials(X, w, offset, centred(candidates), closest, potentials)
    ref = wt @ np.minimum(cdist(X64, X64[candidates], "sqeuclidean"),
                          closest.astype(np.float64)[:, None])
    assert_allclose(potentials, ref, rtol=tol)

    # The chosen candidate's distances update closest, from the distances kept
    # by the same pass or computed again: identical either way.
    kept = np.empty((3, n), dtype=dtype)
    again = np.zeros(3)
    _kmeans.candidate_potentials(X, w, offset, centred(candidates), closest, again, kept)
    assert_array_equal(again, potentials)
    from_kept, recomputed = closest.copy(), closest.copy()
    _kmeans.closest_to_candidate(X, offset, centred(candidates), 2, from_kept, kept)
    _kmeans.closest_to_candidate(X, offset, centred(candidates), 2, recomputed)
    assert_array_equal(from_kept, recomputed)
    ref_closest = np.minimum(ref_closest, cdist(X64, X64[[700]], "sqeuclidean")[:, 0])
    assert_allclose(from_kept, ref_closest, rtol=tol, atol=tol * ref_closest.max())
    closest = from_kept

    cumulative = np.cumsum(wt * closest.astype(np.float64))
    targets = np.sort(np.r_[rng.uniform(size=20) * cumulative[-1], cumulative[[0, 17, -1]],
                            0.0, 2 * cumulative[-1]])
    for right in (False, True):
        expected = np.minimum(np.searchsorted(cumulative, targets,
                                              side="right" if right else "left"), n - 1)
        assert_array_equal(_kmeans.cumulative_search(closest, w, targets, right), expected)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d", [(1, 3), (13, 8), (300, 17), (523, 32), (70, 40)])
def test_candidate_potentials_from_registers_add_the_lanes_in_order(n, d, dtype, weighted):
    """The kernel adds the potentials up from the distances in its registers,
    in gmmc_seed_potentials' lanes: sample i in lane i % 8, in row order (a
    multiply-add per sample where weighted), over chunk ends and partial
    groups of 8; checked exactly against the distances it kept, and to
    rounding against the portable loops, which read them back."""
    from fractions import Fraction

    rng = np.random.RandomState(n + d)
    X = (rng.standard_normal((n, d)) * 3 + 5).astype(dtype)
    w = rng.uniform(0.0, 2.0, size=n).astype(dtype) if weighted else None
    offset = X.astype(np.float64).mean(axis=0)
    rows = rng.randint(0, n, size=4)
    candidates = np.ascontiguousarray(X[rows].astype(np.float64) - offset, dtype=dtype)
    # closest mixes values below and above the candidates' distances
    closest = (rng.uniform(0, 2 * d * 9, size=n)).astype(dtype)
    results = []
    for vectorized in (True, False):
        potentials, kept = np.zeros(4), np.full((4, n), -1.0, dtype=dtype)
        _kmeans.candidate_potentials(X, w, offset, candidates, closest, potentials, kept,
                                     vectorized=vectorized)
        results.append((potentials, kept))
    (potentials, kept), (portable, portable_kept) = results
    least = np.minimum(kept, closest).astype(np.float64)
    expected = np.zeros(4)
    for j in range(4):
        lanes = [0.0] * 8
        for i in range(n):
            if w is None:
                lanes[i % 8] += least[j, i]
            else:  # one rounding per multiply-add
                lanes[i % 8] = float(Fraction(float(w[i])) * Fraction(least[j, i])
                                     + Fraction(lanes[i % 8]))
        expected[j] = (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                       + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))
    assert_array_equal(potentials, expected)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert_allclose(kept, portable_kept, rtol=tol)
    assert_allclose(potentials, portable, rtol=tol)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cumulative_search_on_spans_finds_what_the_running_sum_finds(dtype, weighted):
    """The search that locates targets by span sums gives np.searchsorted's
    indices on the running sum, also for targets on a running sum's value or
    one rounding step from it (where the span sums cannot tell, and it falls
    back), on values of very different sizes, zeros, and N not a multiple of
    the span."""
    rng = np.random.RandomState(5)
    n = 50_003
    values = (rng.exponential(size=n) * 10.0 ** rng.uniform(-8, 4, size=n)).astype(dtype)
    values[rng.rand(n) < 0.1] = 0
    w = rng.uniform(0.0, 3.0, size=n).astype(dtype) if weighted else None
    terms = values.astype(np.float64) * (1.0 if w is None else w.astype(np.float64))
    cumulative = np.cumsum(terms)
    picks = rng.randint(0, n, size=40)
    on_values = cumulative[picks]
    targets = np.sort(np.r_[
        rng.uniform(size=200) * cumulative[-1], on_values,
        np.nextafter(on_values, np.inf), np.nextafter(on_values, -np.inf),
        np.nextafter(on_values, np.inf) * (1 + 1e-13), on_values * (1 - 1e-13),
        0.0, cumulative[-1], 2 * cumulative[-1]])
    for right in (False, True):
        expected = np.minimum(np.searchsorted(cumulative, targets,
                                              side="right" if right else "left"), n - 1)
        # one target at a time, so that one falling back leaves the others located
        found = [_kmeans.cumulative_search(values, w, targets[i:i + 1], right)[0]
                 for i in range(targets.size)]
        assert_array_equal(found, expected)
        assert_array_equal(_kmeans.cumulative_search(values, w, targets, right), expected)
        assert_array_equal(_kmeans.cumulative_search(values, w, targets, right, False),
                           expected)


def test_cumulative_search_with_a_negative_or_nan_term_keeps_the_running_sum():
    """A negative term breaks the span sums' bound (the running sum is no
    longer nondecreasing), a NaN every comparison: both take the running sum."""
    values = np.ones(5000)
    values[500] = -400.0  # the first span ends below 300, which its row 299 reaches
    cumulative = np.cumsum(values)
    targets = np.array([30.5, 300.5, 2000.5])
    expected = [np.argmax(cumulative >= target) for target in targets]  # the first
    assert_array_equal(_kmeans.cumulative_search(values, None, targets, False), expected)
    values[100] = np.nan
    assert_array_equal(_kmeans.cumulative_search(values, None, targets, False),
                       _kmeans.cumulative_search(values, None, targets, False, False))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000, 99991])
def test_uniform_choice_draws_as_randomstate_choice(n):
    for seed in range(30):
        expected = np.random.RandomState(seed).choice(n, p=np.ones(n) / n)
        u = np.random.RandomState(seed).random_sample()
        assert _kmeans.uniform_choice(n, u) == expected


def test_lloyd_step_rejects_bad_shapes():
    X = np.zeros((10, 3))
    centers = np.zeros((2, 3))
    with pytest.raises(ValueError):
        _kmeans.lloyd_step(X, None, np.zeros(3), np.zeros((2, 4)), np.zeros(10, np.int32),
                           np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError):
        _kmeans.lloyd_step(X, None, np.zeros(3), centers, np.zeros(9, np.int32),
                           np.zeros((2, 3)),
                           np.zeros(2))
    with pytest.raises(ValueError):
        _kmeans.lloyd_step(X, np.ones(9), np.zeros(3), centers, np.zeros(10, np.int32),
                           np.zeros((2, 3)), np.zeros(2))


# -- M-step ------------------------------------------------------------------------

def numpy_m_step(X, w, resp, covariance_type, reg_covar, dtype):
    """Weighted M-step from explicit responsibilities, by the textbook formulas."""
    X = X.astype(np.float64)
    w = np.ones(X.shape[0]) if w is None else w.astype(np.float64)
    wr = w[:, None] * resp
    nk = wr.sum(axis=0) + 10 * np.finfo(dtype).eps
    means = (wr.T @ X) / nk[:, None]
    k, d = means.shape
    covs = np.array([((wr[:, j, None] * (X - means[j])).T @ (X - means[j])) / nk[j]
                     for j in range(k)])
    if covariance_type == "full":
        covariances = covs + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        covariances = (nk[:, None, None] * covs).sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        covariances = np.array([np.diag(c) for c in covs]) + reg_covar
    else:
        covariances = np.array([np.diag(c).mean() for c in covs]) + reg_covar
    return nk / nk.sum(), means, covariances


def stats_from_numpy(X, w, resp, covariance_type, shift):
    stats = _stats.SufficientStatistics(covariance_type, shift)
    stats.resp_sum, stats.sum_x, stats.sum_xx = reference_statistics(X, w, resp, shift,
                                                                     covariance_type)
    wt = np.ones(X.shape[0]) if w is None else w.astype(np.float64)
    stats.weight_sum = wt.sum()
    stats.total_x = wt @ (X - shift[0])
    return stats


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_features", (1, 4, 10))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_matches_numpy(covariance_type, n_features, weighted):
    rng = np.random.RandomState(n_features)
    n, k, reg = 400, 3, 1e-4
    X = rng.standard_normal((n, n_features)) * 2 + 10.0  # far from the origin
    resp = rng.uniform(size=(n, k)) ** 3
    resp /= resp.sum(axis=1, keepdims=True)
    w = rng.uniform(0.0, 2.0, size=n) if weighted else None
    expected = numpy_m_step(X, w, resp, covariance_type, reg, np.float64)

    # m_step from statistics computed here, about a shift of our choosing ...
    center = X.mean(axis=0) - 1.0
    shift = np.tile(center, (k, 1))
    if covariance_type == "full":
        shift = shift + rng.standard_normal(shift.shape)
    got = _stats.m_step(stats_from_numpy(X, w, resp, covariance_type, shift), reg,
                        np.float64)
    for g, e in zip(got, expected):
        assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    # ... and from the kernels' statistics (what initialisation uses).
    stats = _stats.statistics_from_responsibilities(X, w, _init.ArrayResponsibilities(resp),
                                                    covariance_type, 1)
    got = _stats.m_step(stats, reg, np.float64)
    for g, e in zip(got, expected):
        assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_then_m_step_is_one_em_iteration(covariance_type):
    """_stats.e_step + m_step == a NumPy EM iteration with SciPy responsibilities."""
    n_features, k = 6, 3
    weights, means, covariances, prec_chol = random_model(k, n_features, covariance_type,
                                                          seed=11)
    X = sample_points(means, 900, seed=12)
    stats = _stats.e_step(X, None, weights, means, prec_chol, covariance_type, 1)
    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances,
                                             covariance_type)
    assert_allclose(stats.mean_loglik, ref_norm.mean(), rtol=1e-11)
    assert_allclose(stats.weight_sum, 900)
    got = _stats.m_step(stats, 1e-6, np.float64)
    expected = numpy_m_step(X, None, ref_resp, covariance_type, 1e-6, np.float64)
    for g, e in zip(got, expected):
        assert_allclose(g, e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_features", (3, 8, 9))
def test_full_kernels_accurate_far_from_the_mixture_mean(n_features):
    """Full covariances: statistics about shift = the component means are as
    accurate as a second pass (_stats.reference_points), and log-densities come
    from x - mu, even when components sit 1e6 spreads away from each other."""
    rng = np.random.RandomState(0)
    k, std = 2, 1e-2
    means = np.array([np.full(n_features, -1e4), np.full(n_features, 1e4)])
    means[:, 0] += 5.0
    covariances = np.array([std ** 2 * (np.eye(n_features) + 0.3 * np.diag(
        np.ones(n_features - 1), 1) + 0.3 * np.diag(np.ones(n_features - 1), -1))] * k)
    prec_chol = np.array([upper_precision_factor(c) for c in covariances])
    weights = np.array([0.5, 0.5])
    X = np.vstack([rng.multivariate_normal(means[j], covariances[j], 300) for j in range(k)])

    log_norm = np.empty(len(X))
    resp = np.empty((len(X), k))
    _em.posterior(X, np.log(weights), means, prec_chol, "full", log_norm, resp)
    ref_norm, ref_resp = reference_posterior(X, weights, means, covariances, "full")
    assert_allclose(log_norm, ref_norm, rtol=0, atol=1e-6)

    resp_sum, sum_x, sum_xx = empty_accumulators("full", k, n_features)
    _em.accumulate_statistics(X, None, np.log(weights), means, prec_chol, "full",
                              means.copy(), resp_sum, sum_x, sum_xx.reshape(-1))
    exp_resp_sum, exp_sum_x, exp_sum_xx = reference_statistics(X, None, ref_resp, means,
                                                               "full")
    assert_allclose(sum_x, exp_sum_x, rtol=1e-8, atol=1e-8 * np.abs(exp_sum_x).max())
    assert_allclose(sum_xx, exp_sum_xx, rtol=1e-6, atol=1e-6 * np.abs(exp_sum_xx).max())


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 7, 8, 33])
def test_column_sums_match_numpy(dtype, weighted, d):
    """The weighted column sums behind the data's mean and variance, about the
    origin or a centre, plain or squared, accumulated into ``out``."""
    rng = np.random.RandomState(d)
    n = 301
    X = (rng.standard_normal((n, d)) * 2 + 1e3).astype(dtype)
    w = rng.uniform(0.0, 2.0, size=n).astype(dtype) if weighted else None
    wt = np.ones(n) if w is None else w.astype(np.float64)
    center = X.astype(np.float64).mean(axis=0)
    X64 = X.astype(np.float64)
    for c, square in [(None, False), (None, True), (center, False), (center, True)]:
        y = X64 if c is None else X64 - c
        ref = wt @ (y * y if square else y)
        out = np.full(d, 5.0)
        _em.column_sums(X, w, c, square, out)
        assert_allclose(out - 5.0, ref, rtol=1e-12, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [4, 12, 20])
@pytest.mark.parametrize("lanes", [True, False], ids=["lanes", "gemm"])
def test_lloyd_step_breaks_ties_towards_the_first_centre(dtype, k, lanes):
    """Equal centres: every sample closest to them takes the first, in whole
    blocks of rows and in the partial one alike, on both paths (k = 12, 20:
    the lanes kernel's first and second vectors of centres, with AVX-512)."""
    rng = np.random.RandomState(3)
    n, d = 203, 9
    X = rng.standard_normal((n, d)).astype(dtype)
    offset = np.zeros(d)
    centers = np.full((k, d), 50.0, dtype=dtype)  # far from every sample
    centers[k - 4] = 10.0
    centers[k - 2] = 10.0  # k-3 and k-1 equal (the origin), k-4 and k-2 equal
    centers[k - 3] = centers[k - 1] = 0.0
    labels = np.full(n, -1, dtype=np.int32)
    _kmeans.lloyd_step(X, None, offset, centers, labels, np.zeros((k, d)), np.zeros(k),
                       lanes)
    assert set(np.unique(labels)) <= {k - 4, k - 3}
    assert (labels == k - 3).sum() > n // 2
