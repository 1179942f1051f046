"""Missing values: GaussianMixture(nan_policy='marginalize') and
GaussianMixtureImputer, checked against a plain-NumPy EM with missing values
(Ghahramani & Jordan 1994) written here, scipy's densities and scikit-learn."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmmc
from gmmc import GaussianMixture, _missing
from gmmc.exceptions import ConvergenceWarning

COV_TYPES = ["full", "tied", "diag", "spherical"]


# -- a plain-NumPy reference ----------------------------------------------

def full_covariances(covariances, cov_type, k, d):
    """(K, D, D) matrices of any covariance type."""
    c = np.asarray(covariances, dtype=np.float64)
    if cov_type == "full":
        return c.copy()
    if cov_type == "tied":
        return np.tile(c, (k, 1, 1))
    if cov_type == "diag":
        return np.stack([np.diag(row) for row in c])
    return np.stack([s * np.eye(d) for s in c])


def reference_step(X, w, weights, means, covs, cov_type, reg_covar):
    """One EM iteration with missing values, row by row.

    Returns the new (weights, means, covariances) and the mean
    log-likelihood of the observed data under the old parameters.
    """
    n, d = X.shape
    k = len(weights)
    S = full_covariances(covs, cov_type, k, d)
    log_p = np.empty((n, k))
    xhat = np.empty((n, k, d))
    cond = np.zeros((n, k, d, d))
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        for j in range(k):
            Soo = S[j][np.ix_(o, o)]
            diff = X[i, o] - means[j, o]
            _, logdet = np.linalg.slogdet(Soo)
            log_p[i, j] = (np.log(weights[j]) - 0.5 * (o.sum() * np.log(2 * np.pi) + logdet
                                                        + diff @ np.linalg.solve(Soo, diff)))
            xhat[i, j] = X[i]
            Smo = S[j][np.ix_(m, o)]
            xhat[i, j, m] = means[j, m] + Smo @ np.linalg.solve(Soo, diff)
            cond[i, j][np.ix_(m, m)] = S[j][np.ix_(m, m)] - Smo @ np.linalg.solve(Soo, Smo.T)
    log_norm = logsumexp(log_p, axis=1)
    resp = np.exp(log_p - log_norm[:, None]) * w[:, None]
    nk = resp.sum(axis=0)
    new_means = np.einsum("nk,nkd->kd", resp, xhat) / nk[:, None]
    scatter = np.empty((k, d, d))
    for j in range(k):
        dev = xhat[:, j] - new_means[j]
        scatter[j] = (np.einsum("n,na,nb->ab", resp[:, j], dev, dev)
                      + np.einsum("n,nab->ab", resp[:, j], cond[:, j]))
    if cov_type == "full":
        new_covs = scatter / nk[:, None, None] + reg_covar * np.eye(d)
    elif cov_type == "tied":
        new_covs = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif cov_type == "diag":
        new_covs = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
    else:
        new_covs = np.trace(scatter, axis1=1, axis2=2) / nk / d + reg_covar
    return nk / nk.sum(), new_means, new_covs, float(w @ log_norm / w.sum())


def with_holes(X, fraction, seed):
    """X with ``fraction`` of its entries set to NaN, no row left empty."""
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    holes = rng.random(X.shape) < fraction
    holes[holes.all(axis=1), 0] = False
    X[holes] = np.nan
    return X


def blobs(n=80, d=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(3, d))
    mix = rng.normal(size=(d, d)) * 0.5 + np.eye(d)
    return centers[rng.integers(0, 3, size=n)] + rng.normal(size=(n, d)) @ mix


def start(cov_type, k, d, seed=1):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(k) * 5)
    means = rng.normal(scale=3.0, size=(k, d))
    a = rng.normal(size=(k, d, d)) * 0.3
    covs = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    covs = {"full": covs, "tied": covs[0], "diag": np.diagonal(covs, axis1=1, axis2=2).copy(),
            "spherical": np.diagonal(covs, axis1=1, axis2=2).mean(axis=1)}[cov_type]
    precisions = (np.linalg.inv(covs) if cov_type in ("full", "tied") else 1.0 / covs)
    return weights, means, covs, precisions


@pytest.fixture(params=["patterns", "rows", "mixed"])
def engine_path(request, monkeypatch):
    """Run the missing-data E-step with every pattern on the kernels
    ('patterns'), every incomplete row on the per-row batched path ('rows'),
    or patterns of at least 4 rows on the kernels and the others by rows."""
    monkeypatch.setattr(_missing, "MIN_PATTERN_ROWS",
                        {"patterns": 1, "rows": 10 ** 9, "mixed": 4}[request.param])
    return request.param


@pytest.mark.parametrize("r", [1, 2, 3, 5, 8, 9])
def test_batched_inverse_and_log_det(r):
    rng = np.random.default_rng(r)
    a = rng.normal(size=(50, r, r))
    M = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(r)
    inverse, log_det = _missing._inverse_log_det(M)
    assert_allclose(inverse, np.linalg.inv(M), rtol=1e-9, atol=1e-12)
    assert_allclose(log_det, np.linalg.slogdet(M)[1], rtol=1e-10, atol=1e-12)


def test_patterns_split_rows_once(monkeypatch):
    monkeypatch.setattr(_missing, "MIN_PATTERN_ROWS", 4)
    X = with_holes(blobs(80, 4), 0.25, seed=2)
    patterns = _missing.Patterns(X)
    assert patterns.groups and patterns.rare_rows is not None
    seen = [patterns.complete_rows] + [g[0] for g in patterns.groups]
    if patterns.rare_rows is not None:
        seen.append(patterns.rare_rows)
    assert_array_equal(np.sort(np.concatenate(seen)), np.arange(80))
    assert_array_equal(patterns.complete, X[patterns.complete_rows])
    for rows, observed, Xo, _ in patterns.groups:
        assert len(rows) >= 4
        assert_array_equal(np.isnan(X[rows]), np.isnan(X[rows[:1]]).repeat(len(rows), 0))
        assert_array_equal(Xo, X[np.ix_(rows, observed)])
    keys = [tuple(row) for row in np.isnan(X)]
    for i in patterns.rare_rows:
        assert keys.count(keys[i]) < 4
    assert_array_equal(np.diff(patterns.rare_n_missing) >= 0, True)


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("n_iter", [1, 4])
def test_em_matches_numpy_reference(cov_type, n_iter, engine_path):
    X = with_holes(blobs(), 0.25, seed=2)
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=X.shape[0])
    k, d = 3, X.shape[1]
    weights, means, covs, precisions = start(cov_type, k, d)
    gm = GaussianMixture(k, covariance_type=cov_type, nan_policy="marginalize",
                         weights_init=weights, means_init=means, precisions_init=precisions,
                         max_iter=n_iter, tol=0.0, reg_covar=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=w)
    bounds = []
    for _ in range(n_iter):
        weights, means, covs, bound = reference_step(X, w, weights, means, covs, cov_type,
                                                     1e-3)
        bounds.append(bound)
    assert_allclose(gm.weights_, weights, rtol=1e-8)
    assert_allclose(gm.means_, means, rtol=1e-8, atol=1e-10)
    assert_allclose(gm.covariances_, covs, rtol=1e-8, atol=1e-12)
    assert_allclose(gm.lower_bounds_, bounds, rtol=1e-10)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_never_decreases(cov_type, engine_path):
    X = with_holes(blobs(300, 5, seed=4), 0.2, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(4, covariance_type=cov_type, nan_policy="marginalize",
                             max_iter=60, tol=0.0, random_state=0).fit(X)
    bounds = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    # The bound is the observed-data log-likelihood of the E-step's model.
    assert gm.lower_bounds_[-1] <= gm.score(X) + 1e-9


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_without_nan_identical_to_raise(cov_type, dtype):
    X = blobs(200, 3, seed=6).astype(dtype)
    a = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    b = GaussianMixture(3, covariance_type=cov_type, random_state=0,
                        nan_policy="marginalize").fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.lower_bounds_ == b.lower_bounds_
    assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_score_samples_is_marginal_density(cov_type, engine_path):
    X = with_holes(blobs(150, 4, seed=7), 0.3, seed=8)
    gm = GaussianMixture(3, covariance_type=cov_type, nan_policy="marginalize",
                         random_state=0).fit(X)
    k, d = gm.means_.shape
    S = full_covariances(gm.covariances_, cov_type, k, d)
    expected = []
    for x in X[:40]:
        o = ~np.isnan(x)
        dens = sum(gm.weights_[j] * multivariate_normal(gm.means_[j, o],
                                                        S[j][np.ix_(o, o)]).pdf(x[o])
                   for j in range(k))
        expected.append(np.log(dens))
    assert_allclose(gm.score_samples(X[:40]), expected, rtol=1e-9)
    proba = gm.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
    assert_array_equal(gm.predict(X), proba.argmax(axis=1))
    assert gm.score(X) == pytest.approx(gm.score_samples(X).mean())
    n = X.shape[0]
    p = gmmc.mixture._stats.n_parameters(k, d, cov_type)
    assert gm.bic(X) == pytest.approx(-2 * gm.score(X) * n + p * np.log(n))
    assert np.isfinite(gm.aic(X))


def test_all_nan_row_raises():
    X = with_holes(blobs(50, 3), 0.2, seed=1)
    X[7] = np.nan
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0)
    with pytest.raises(ValueError, match="row 7 .*every feature"):
        gm.fit(X)
    gm.fit(X[:7])
    with pytest.raises(ValueError, match="row 0 .*every feature"):
        gm.score_samples(X[7:8])


def test_raise_policy_rejects_nan_like_sklearn():
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    X = with_holes(blobs(50, 3), 0.2, seed=1)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SkGaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2).fit(X)
    fitted = GaussianMixture(2, random_state=0).fit(blobs(50, 3))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.score_samples(X)
    with pytest.raises(ValueError, match="nan_policy"):
        GaussianMixture(2, nan_policy="ignore").fit(blobs(50, 3))
    # Infinity stays an error with either policy.
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2, nan_policy="marginalize").fit(X)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_every_init_and_float32(init_params, cov_type):
    X = with_holes(blobs(200, 4, seed=9), 0.15, seed=10)
    gm64 = GaussianMixture(3, covariance_type=cov_type, init_params=init_params,
                           nan_policy="marginalize", random_state=0).fit(X)
    gm32 = GaussianMixture(3, covariance_type=cov_type, init_params=init_params,
                           nan_policy="marginalize", random_state=0).fit(X.astype(np.float32))
    assert gm32.means_.dtype == np.float32 and gm64.means_.dtype == np.float64
    for gm in (gm64, gm32):
        assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()
        assert np.isfinite(gm.score_samples(X)).all()
        assert gm.converged_


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_follows_float64(cov_type, engine_path):
    X = with_holes(blobs(200, 4, seed=9), 0.15, seed=10)
    weights, means, _, precisions = start(cov_type, 3, 4)
    kwargs = dict(nan_policy="marginalize", weights_init=weights, means_init=means,
                  precisions_init=precisions, max_iter=5, tol=0.0, covariance_type=cov_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm64 = GaussianMixture(3, **kwargs).fit(X)
        gm32 = GaussianMixture(3, **kwargs).fit(X.astype(np.float32))
    assert gm32.means_.dtype == np.float32
    assert_allclose(gm32.means_, gm64.means_, rtol=1e-3, atol=1e-3)
    assert_allclose(gm32.covariances_, gm64.covariances_, rtol=1e-3, atol=1e-3)
    assert gm32.score_samples(X.astype(np.float32)).dtype == np.float32


def test_n_init_warm_start_and_partial_fit():
    X = with_holes(blobs(200, 4, seed=11), 0.2, seed=12)
    best = GaussianMixture(3, nan_policy="marginalize", n_init=3, random_state=0).fit(X)
    single = GaussianMixture(3, nan_policy="marginalize", random_state=0).fit(X)
    assert best.lower_bound_ >= single.lower_bound_ - 1e-12
    warm = GaussianMixture(3, nan_policy="marginalize", random_state=0, max_iter=2,
                           warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)
        first = warm.lower_bound_
        warm.fit(X)
    assert warm.lower_bounds_[0] >= first - 1e-12
    # The first partial_fit batch is the start plus one EM iteration, as fit(max_iter=1).
    one = GaussianMixture(3, nan_policy="marginalize", random_state=0, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one.fit(X)
    online = GaussianMixture(3, nan_policy="marginalize", random_state=0).partial_fit(X)
    assert_allclose(online.means_, one.means_, rtol=1e-10)
    assert_allclose(online.covariances_, one.covariances_, rtol=1e-10)
    online.partial_fit(X[:50])
    assert np.isfinite(online.means_).all()


def test_sample_weight_equals_repeated_rows():
    X = with_holes(blobs(60, 3, seed=13), 0.25, seed=14)
    repeats = np.random.default_rng(0).integers(1, 4, size=X.shape[0])
    weights, means, _, precisions = start("full", 2, 3)
    kwargs = dict(nan_policy="marginalize", weights_init=weights, means_init=means,
                  precisions_init=precisions, max_iter=5, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(2, **kwargs).fit(X, sample_weight=repeats.astype(float))
        b = GaussianMixture(2, **kwargs).fit(np.repeat(X, repeats, axis=0))
    assert_allclose(a.means_, b.means_, rtol=1e-9)
    assert_allclose(a.covariances_, b.covariances_, rtol=1e-9)


def test_sufficient_statistics_and_save_keep_the_policy(tmp_path):
    X = with_holes(blobs(120, 3, seed=19), 0.2, seed=20)
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(X)
    stats = gm.sufficient_statistics(X[:50]) + gm.sufficient_statistics(X[50:])
    assert stats.mean_loglik == pytest.approx(gm.score(X), rel=1e-10)
    gm.save(tmp_path / "model.npz")
    loaded = gmmc.load(tmp_path / "model.npz")
    assert loaded.nan_policy == "marginalize"
    assert_array_equal(loaded.score_samples(X), gm.score_samples(X))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data",
                                         "random"])
def test_streamed_and_dask_fits_equal_the_in_memory_fit(tmp_path, init_params):
    """Missing values stream: a memmap, RowBlocks of 64 rows and a Dask array
    (chunks of 100 rows) give the in-memory model, start included (the start
    is computed on mean-filled chunks). Dask draws 'random' starts per chunk
    (as for complete data), so that start is compared for the others only."""
    da = pytest.importorskip("dask.array")
    import gmmc.dask

    X = with_holes(blobs(500, 3), 0.2, seed=1)
    w = np.random.RandomState(2).uniform(0.5, 2.0, len(X))
    path = tmp_path / "x.npy"
    np.save(path, X)
    params = dict(n_components=3, nan_policy="marginalize", random_state=0,
                  init_params=init_params, n_threads=1, tol=1e-8, max_iter=30)
    reference = GaussianMixture(**params).fit(X, sample_weight=w)
    sources = [np.load(path, mmap_mode="r"), gmmc.RowBlocks(X, block_rows=64)]
    fitted = [GaussianMixture(**params).fit(source, sample_weight=w) for source in sources]
    if init_params != "random":  # Dask draws 'random' per chunk, by design
        fitted.append(gmmc.dask.GaussianMixture(**params).fit(
            da.from_array(X, chunks=100), sample_weight=w))
    for gm in fitted:
        assert gm.n_iter_ == reference.n_iter_
        for name in ("weights_", "means_", "covariances_"):
            assert_allclose(getattr(gm, name), getattr(reference, name), rtol=1e-7,
                            atol=1e-9, err_msg=name)
    labels = GaussianMixture(**params).fit_predict(gmmc.RowBlocks(X, block_rows=64),
                                                   sample_weight=w)
    assert_array_equal(labels, reference.predict(X))
    streamed = reference.sufficient_statistics(gmmc.RowBlocks(X, block_rows=64))
    assert_allclose(streamed.mean_loglik, reference.score(X), rtol=1e-10)


def test_streamed_rows_with_every_feature_missing_are_named(tmp_path):
    X = with_holes(blobs(300, 3), 0.1, seed=3)
    X[250] = np.nan
    with pytest.raises(ValueError, match="row 250 of X has every feature missing"):
        GaussianMixture(2, nan_policy="marginalize").fit(gmmc.RowBlocks(X, block_rows=64))
    with pytest.raises(ValueError, match="Input X contains NaN"):  # the default policy
        GaussianMixture(2).fit(gmmc.RowBlocks(X, block_rows=64))


def test_check_estimator_with_marginalize():
    from sklearn.utils.estimator_checks import check_estimator
    expected = {"check_sample_weight_equivalence_on_dense_data":
                "with n_components > 1 the k-means start sees weighted and repeated "
                "rows differently (EM from a common start is weight-equivalent: "
                "test_sample_weight_equals_repeated_rows)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GaussianMixture(2, nan_policy="marginalize"),
                                  expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert not failed, failed
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(expected)


# -- the imputer ------------------------------------------------------------

def conditional_mean(gm, x):
    """E[x_m | x_o] under the fitted mixture, with scipy."""
    k, d = gm.means_.shape
    S = full_covariances(gm.covariances_, gm.covariance_type, k, d)
    o = ~np.isnan(x)
    m = ~o
    log_p = np.array([np.log(gm.weights_[j])
                      + multivariate_normal(gm.means_[j, o], S[j][np.ix_(o, o)]).logpdf(x[o])
                      for j in range(k)])
    post = np.exp(log_p - logsumexp(log_p))
    out = x.copy()
    out[m] = sum(post[j] * (gm.means_[j, m] + S[j][np.ix_(m, o)]
                            @ np.linalg.solve(S[j][np.ix_(o, o)], x[o] - gm.means_[j, o]))
                 for j in range(k))
    return out


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_imputer_fills_conditional_means(cov_type):
    X = with_holes(blobs(200, 4, seed=15), 0.2, seed=16)
    imputer = gmmc.GaussianMixtureImputer(3, covariance_type=cov_type, random_state=0)
    filled = imputer.fit_transform(X)
    observed = ~np.isnan(X)
    assert not np.isnan(filled).any()
    assert_array_equal(filled[observed], X[observed])
    expected = np.array([conditional_mean(imputer.mixture_, x) for x in X[:30]])
    assert_allclose(filled[:30], expected, rtol=1e-8, atol=1e-10)


def test_imputer_sample_posterior_and_pipeline():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    X = with_holes(blobs(200, 4, seed=17), 0.2, seed=18)
    observed = ~np.isnan(X)
    draws = [gmmc.GaussianMixtureImputer(3, sample_posterior=True, random_state=s)
             .fit(X).transform(X) for s in (0, 1)]
    for d in draws:
        assert not np.isnan(d).any()
        assert_array_equal(d[observed], X[observed])
    assert not np.array_equal(draws[0], draws[1])
    # Many draws average to the conditional mean.
    imp = gmmc.GaussianMixtureImputer(3, sample_posterior=True, random_state=0).fit(X)
    row = X[np.flatnonzero(~observed.all(axis=1))[:1]]
    many = np.stack([imp.transform(row) for _ in range(3000)])
    expected = conditional_mean(imp.mixture_, row[0])
    spread = many.std(axis=0)[0]
    assert np.all(np.abs(many.mean(axis=0)[0] - expected) <= 5 * spread / np.sqrt(3000) + 1e-12)
    y = np.nan_to_num(X[:, 0])
    pipe = make_pipeline(gmmc.GaussianMixtureImputer(2, random_state=0), LinearRegression())
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (200,)
    assert list(pipe[0].get_feature_names_out()) == ["x0", "x1", "x2", "x3"]


def test_imputer_pandas_output_in_a_pipeline():
    pd = pytest.importorskip("pandas")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = pd.DataFrame(with_holes(blobs(100, 3, seed=21), 0.2, seed=22),
                     columns=["a", "b", "c"], index=np.arange(100) + 1000)
    pipe = make_pipeline(gmmc.GaussianMixtureImputer(2, random_state=0),
                         StandardScaler()).set_output(transform="pandas")
    out = pipe.fit_transform(X)
    assert list(out.columns) == ["a", "b", "c"] and list(out.index) == list(X.index)
    assert not out.isna().any().any()


def test_imputer_follows_sklearns_output_configuration():
    """scikit-learn's set_output and its global transform_output setting."""
    pd = pytest.importorskip("pandas")
    import sklearn
    X = with_holes(blobs(60, 3, seed=23), 0.2, seed=24)
    imputer = gmmc.GaussianMixtureImputer(2, random_state=0)
    with sklearn.config_context(transform_output="pandas"):
        out = imputer.fit_transform(X)
        assert isinstance(out, pd.DataFrame) and list(out.columns) == ["x0", "x1", "x2"]
        assert isinstance(imputer.transform(X[:5]), pd.DataFrame)
    filled = imputer.transform(X)
    assert isinstance(filled, np.ndarray)
    assert_array_equal(filled, out.to_numpy())
    frame = pd.DataFrame(X, columns=["a", "b", "c"], index=np.arange(60) + 7)
    out = imputer.set_output(transform="pandas").fit(frame).transform(frame)
    assert list(out.columns) == ["a", "b", "c"] and list(out.index) == list(frame.index)
    assert isinstance(imputer.set_output(transform="default").transform(frame), np.ndarray)


def test_imputer_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(gmmc.GaussianMixtureImputer(2, random_state=0),
                                  on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert not failed, failed


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_fit_without_missing_values_does_not_look_for_nan_again(monkeypatch, init_params):
    """With nan_policy='raise' the validation has already ruled NaN out; the
    start must not scan X for it once more (a pass over X, 1 ms at 100 000 x
    32), while nan_policy='marginalize' still does."""
    X = np.random.default_rng(0).normal(size=(300, 3))
    looked = []
    real = gmmc._missing.has_nan
    monkeypatch.setattr(gmmc._missing, "has_nan", lambda A: looked.append(A) or real(A))
    GaussianMixture(2, init_params=init_params, random_state=0).fit(X)
    assert looked == []
    GaussianMixture(2, init_params=init_params, random_state=0,
                    nan_policy="marginalize").fit(X)
    assert looked
