"""Behaviour of gmmc.GaussianMixture as an estimator: EM properties, API, checks."""
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmc
from gmmc import ConvergenceWarning, GaussianMixture, NotFittedError

from conftest import (COVARIANCE_TYPES, blobs, fit_quietly, full_covariances, init_kwargs,
                      iris, precisions_from_covariances, random_init)

FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_")


def overlapping_blobs():
    """Overlapping clusters: EM needs many iterations to converge."""
    X, _ = blobs(3, n_samples=500, centers=4, seed=3, cluster_std=2.5)
    return X


def scipy_log_likelihood(X, weights, means, covariances, covariance_type):
    """(N,) log p(x_n) and (N, K) p(k | x_n) from scipy.stats, per definition."""
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    lp = np.column_stack([np.log(weights[j]) + multivariate_normal.logpdf(
        X, mean=means[j], cov=covs[j]) for j in range(k)]).reshape(len(X), k)
    log_norm = logsumexp(lp, axis=1)
    return log_norm, np.exp(lp - log_norm[:, None])


def n_free_parameters(covariance_type, k, d):
    cov = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d,
           "spherical": k}[covariance_type]
    return cov + k * d + (k - 1)


def assert_models_identical(a, b):
    for name in FITTED_ARRAYS:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    assert a.lower_bound_ == b.lower_bound_
    assert a.lower_bounds_ == b.lower_bounds_


# -- EM ---------------------------------------------------------------------------

def test_lower_bound_is_monotone(covariance_type):
    X = overlapping_blobs()
    gm = fit_quietly(GaussianMixture(4, covariance_type=covariance_type, reg_covar=0.0,
                                     init_params="random", random_state=0, tol=1e-9,
                                     max_iter=300), X)
    bounds = np.asarray(gm.lower_bounds_)
    assert gm.n_iter_ >= 10  # enough iterations for the check to mean something
    assert len(bounds) == gm.n_iter_
    assert bounds[-1] == gm.lower_bound_
    steps = np.diff(bounds)
    assert np.all(steps >= -1e-12 * np.abs(bounds[1:])), steps.min()
    assert bounds[-1] > bounds[0]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bounds_are_log_likelihoods_of_previous_parameters(covariance_type):
    """lower_bounds_[j] is the mean log-likelihood of the parameters after j steps."""
    X = overlapping_blobs()
    init = random_init(X, 4, covariance_type, seed=0)
    weights, means, precisions = init
    params = dict(n_components=4, covariance_type=covariance_type, tol=0.0,
                  **init_kwargs(init))
    full = fit_quietly(GaussianMixture(max_iter=4, **params), X)
    inv = (np.linalg.inv(precisions) if covariance_type in ("full", "tied")
           else 1.0 / precisions)
    expected = [scipy_log_likelihood(X, weights, means, inv, covariance_type)[0].mean()]
    for j in range(1, 4):
        step = fit_quietly(GaussianMixture(max_iter=j, **params), X)
        expected.append(scipy_log_likelihood(X, step.weights_, step.means_,
                                             step.covariances_, covariance_type)[0].mean())
    assert_allclose(full.lower_bounds_, expected, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_model_methods_match_scipy(covariance_type):
    X = iris()
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    log_norm, resp = scipy_log_likelihood(X, gm.weights_, gm.means_, gm.covariances_,
                                          covariance_type)
    assert_allclose(gm.score_samples(X), log_norm, rtol=1e-10)
    assert_allclose(gm.predict_proba(X), resp, atol=1e-10)
    assert_allclose(gm.predict_proba(X).sum(axis=1), 1.0)
    assert_allclose(gm.score(X), log_norm.mean(), rtol=1e-10)
    assert_allclose(gm.precisions_, precisions_from_covariances(gm.covariances_,
                                                                covariance_type),
                    rtol=1e-8, atol=1e-10 * np.abs(gm.precisions_).max())
    # precisions_cholesky_: upper factors of precisions_ (square roots for diag/spherical)
    u = gm.precisions_cholesky_
    if covariance_type == "full":
        assert_array_equal(np.tril(u, -1), 0)
        assert_allclose(u @ np.swapaxes(u, 1, 2), gm.precisions_, rtol=1e-12)
    elif covariance_type == "tied":
        assert_array_equal(np.tril(u, -1), 0)
        assert_allclose(u @ u.T, gm.precisions_, rtol=1e-12)
    else:
        assert_allclose(u ** 2, gm.precisions_, rtol=1e-12)
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    assert gm.lower_bound_ == pytest.approx(gm.lower_bounds_[-1])


# -- sample ------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_reproduces_mixture_moments(covariance_type):
    X, _ = blobs(3, n_samples=400, centers=3, seed=1, cluster_std=1.5)
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    n = 40_000
    gm.random_state = 0
    S, labels = gm.sample(n)
    assert S.shape == (n, 3) and labels.shape == (n,)
    k, d = gm.means_.shape
    covs = full_covariances(gm.covariances_, covariance_type, k, d)
    w, mu = gm.weights_, gm.means_
    mix_mean = w @ mu
    mix_cov = sum(w[j] * (covs[j] + np.outer(mu[j], mu[j])) for j in range(k)) \
        - np.outer(mix_mean, mix_mean)

    # Component counts: binomial, within 5 standard deviations.
    counts = np.bincount(labels, minlength=k)
    assert np.all(np.abs(counts - n * w) <= 5 * np.sqrt(n * w * (1 - w)) + 1)
    # Mixture mean within 5 standard errors, covariance within a few percent.
    se = np.sqrt(np.diag(mix_cov) / n)
    assert np.all(np.abs(S.mean(axis=0) - mix_mean) <= 5 * se)
    scale = np.sqrt(np.outer(np.diag(mix_cov), np.diag(mix_cov)))
    assert np.all(np.abs(np.cov(S.T) - mix_cov) <= 0.04 * scale)
    # Each component: its own mean and covariance.
    for j in range(k):
        part = S[labels == j]
        cs = np.sqrt(np.outer(np.diag(covs[j]), np.diag(covs[j])))
        assert np.all(np.abs(part.mean(axis=0) - mu[j])
                      <= 5 * np.sqrt(np.diag(covs[j]) / len(part)))
        assert np.all(np.abs(np.cov(part.T) - covs[j]) <= 0.08 * cs)


def test_sample_labels_and_validation():
    gm = fit_quietly(GaussianMixture(3, random_state=0), iris())
    gm.random_state = 1
    S, labels = gm.sample(10)
    assert S.shape == (10, 4)
    assert np.all(np.diff(labels) >= 0)  # grouped by component, as scikit-learn
    with pytest.raises(ValueError):
        gm.sample(0)
    # An int seed restarts the generator at each call (as scikit-learn); a
    # RandomState instance goes on drawing.
    gm.random_state = 5
    first, second = gm.sample(50), gm.sample(50)
    assert_array_equal(first[0], second[0])
    gm.random_state = np.random.RandomState(5)
    first, second = gm.sample(50), gm.sample(50)
    assert not np.array_equal(first[0], second[0])


# -- dtypes --------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_in_float32_out(covariance_type):
    X = iris().astype(np.float32)
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    for name in FITTED_ARRAYS:
        assert getattr(gm, name).dtype == np.float32, name
    assert gm.predict_proba(X).dtype == np.float32
    assert gm.score_samples(X).dtype == np.float32
    gm.random_state = 0
    assert gm.sample(5)[0].dtype == np.float32
    assert np.isfinite(gm.lower_bound_)
    # float64 queries of a float32 model are answered too.
    assert_allclose(gm.score_samples(X.astype(np.float64)), gm.score_samples(X),
                    rtol=1e-4, atol=1e-4)
    # The float32 fit is close to the float64 one.
    gm64 = fit_quietly(GaussianMixture(3, covariance_type=covariance_type,
                                       random_state=0), X.astype(np.float64))
    if gm64.n_iter_ == gm.n_iter_:
        assert_allclose(gm.means_, gm64.means_, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32, np.float16])
def test_other_dtypes_become_float64(dtype):
    X = np.round(iris() * 10).astype(dtype)
    gm = fit_quietly(GaussianMixture(2, random_state=0), X)
    for name in FITTED_ARRAYS:
        assert getattr(gm, name).dtype == np.float64, name
    assert gm.predict_proba(X).dtype == np.float64
    ref = fit_quietly(GaussianMixture(2, random_state=0), X.astype(np.float64))
    assert_models_identical(gm, ref)


# -- randomness ------------------------------------------------------------------------

@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_same_result(init_params, covariance_type):
    X = overlapping_blobs()
    params = dict(n_components=4, covariance_type=covariance_type, init_params=init_params,
                  n_init=2, max_iter=20)
    a = fit_quietly(GaussianMixture(random_state=3, **params), X)
    b = fit_quietly(GaussianMixture(random_state=3, **params), X)
    assert_models_identical(a, b)
    c = fit_quietly(GaussianMixture(random_state=np.random.RandomState(3), **params), X)
    assert_models_identical(a, c)
    # A different seed starts elsewhere (the initial parameters differ).
    p0 = dict(params, max_iter=0, n_init=1)
    s1 = GaussianMixture(random_state=1, **p0).fit(X)
    s2 = GaussianMixture(random_state=2, **p0).fit(X)
    assert not np.allclose(s1.means_, s2.means_)


def test_global_random_state_is_used_when_none():
    X = overlapping_blobs()
    np.random.seed(0)
    a = GaussianMixture(3, init_params="random", max_iter=0).fit(X)
    np.random.seed(0)
    b = GaussianMixture(3, init_params="random", max_iter=0).fit(X)
    c = GaussianMixture(3, init_params="random", max_iter=0).fit(X)
    assert_array_equal(a.means_, b.means_)
    assert not np.array_equal(b.means_, c.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kmeans_init_recovers_separated_blobs(covariance_type):
    X, y = make_blobs(n_samples=800, n_features=3, centers=5, cluster_std=0.6,
                      center_box=(-30, 30), random_state=4)
    # The initialisation alone (max_iter=0) already finds the clusters ...
    init_only = GaussianMixture(5, covariance_type=covariance_type, init_params="kmeans",
                                random_state=0, max_iter=0).fit(X)
    assert adjusted_rand_score(y, init_only.predict(X)) == 1.0
    # ... and EM keeps them.
    gm = GaussianMixture(5, covariance_type=covariance_type, random_state=0).fit(X)
    assert adjusted_rand_score(y, gm.predict(X)) == 1.0
    assert gm.converged_
    # Responsibilities are all but one-hot: each mean is its cluster's mean.
    labels = gm.predict(X)
    for j in range(5):
        assert_allclose(gm.means_[j], X[labels == j].mean(axis=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_kmeans_inits_with_many_components(init_params):
    X, y = make_blobs(n_samples=1000, n_features=2, centers=12, cluster_std=0.3,
                      center_box=(-60, 60), random_state=7)
    gm = GaussianMixture(12, init_params=init_params, random_state=0).fit(X)
    # The fitted means sit on the true cluster means (up to order).
    true = np.array([X[y == j].mean(axis=0) for j in range(12)])
    d = np.sqrt(((gm.means_[:, None, :] - true[None]) ** 2).sum(-1))
    assert adjusted_rand_score(y, gm.predict(X)) == 1.0
    assert np.all(d.min(axis=1) < 0.1)
    assert gm.converged_


# -- estimator protocol ----------------------------------------------------------------

SKLEARN_PARAMS = {"n_components", "covariance_type", "tol", "reg_covar", "max_iter",
                  "n_init", "init_params", "weights_init", "means_init",
                  "precisions_init", "random_state", "warm_start", "verbose",
                  "verbose_interval"}


def test_get_params_and_set_params():
    gm = GaussianMixture(3, covariance_type="diag", tol=1e-4, random_state=5)
    params = gm.get_params()
    assert SKLEARN_PARAMS <= set(params)
    assert set(params) == set(SkGaussianMixture().get_params()) | {"n_threads", "nan_policy"}
    assert params["n_components"] == 3 and params["covariance_type"] == "diag"
    assert params["tol"] == 1e-4 and params["random_state"] == 5
    defaults = GaussianMixture().get_params()
    sk_defaults = SkGaussianMixture().get_params()
    for name in SKLEARN_PARAMS:
        assert defaults[name] == sk_defaults[name], name
    assert gm.set_params(n_components=4, max_iter=7) is gm
    assert gm.n_components == 4 and gm.get_params()["max_iter"] == 7
    with pytest.raises(ValueError):
        gm.set_params(not_a_parameter=1)


def test_clone():
    means = np.zeros((2, 4))
    gm = GaussianMixture(2, covariance_type="tied", means_init=means, random_state=3,
                         n_threads=1)
    fit_quietly(gm, iris())
    cl = clone(gm)
    assert type(cl) is GaussianMixture
    assert cl is not gm
    params = cl.get_params()
    assert set(params) == set(gm.get_params())
    for name, value in gm.get_params().items():
        if isinstance(value, np.ndarray):
            assert_array_equal(params[name], value)
        else:
            assert params[name] == value, name
    assert params["n_threads"] == 1 and params["covariance_type"] == "tied"
    assert not hasattr(cl, "means_")
    assert "covariance_type='tied'" in repr(cl)


def test_pickle_round_trip(covariance_type):
    X = iris()
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    back = pickle.loads(pickle.dumps(gm))
    assert_models_identical(gm, back)
    assert_array_equal(back.predict(X), gm.predict(X))
    assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    assert_array_equal(back.score_samples(X), gm.score_samples(X))
    # An unfitted estimator pickles too.
    assert pickle.loads(pickle.dumps(GaussianMixture(2))).get_params()["n_components"] == 2


def test_convergence_warning():
    X = overlapping_blobs()
    with pytest.warns(ConvergenceWarning):
        gm = GaussianMixture(4, max_iter=1, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 1
    assert issubclass(gmmc.ConvergenceWarning, Warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(4, max_iter=500, random_state=0).fit(X)
    assert gm.converged_ and gm.n_iter_ < 500
    # max_iter=0 only initialises: no warning (as scikit-learn).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(4, max_iter=0, random_state=0).fit(X)
    assert gm.n_iter_ == 0 and not gm.converged_


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError):
        getattr(GaussianMixture(2), method)(iris())
    assert issubclass(NotFittedError, ValueError)
    assert issubclass(NotFittedError, AttributeError)


def test_sample_not_fitted():
    with pytest.raises(NotFittedError):
        GaussianMixture(2).sample(3)


def test_feature_names_and_n_features_in():
    X = iris()
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    gm = GaussianMixture(3, random_state=0).fit(df)
    assert gm.n_features_in_ == 4
    assert_array_equal(gm.feature_names_in_, ["sl", "sw", "pl", "pw"])
    assert gm.feature_names_in_.dtype == object
    ref = GaussianMixture(3, random_state=0).fit(X)
    assert_models_identical(gm, ref)
    assert_array_equal(gm.predict(df), ref.predict(X))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        # plain arrays still accepted, with scikit-learn's warning
        assert_array_equal(gm.predict(X), ref.predict(X))
    with pytest.raises(ValueError):
        gm.predict(df.rename(columns={"sl": "other"}))
    with pytest.raises(ValueError):
        gm.predict(df[["sw", "sl", "pl", "pw"]])  # same names, other order
    # Refitting on an array forgets the names.
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_")
    assert gm.n_features_in_ == 4
    # Non-string column names are not feature names.
    gm2 = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X))
    assert not hasattr(gm2, "feature_names_in_")
    assert gm2.n_features_in_ == 4


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bic_aic_formulas(covariance_type):
    X = iris()
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    n = X.shape[0]
    log_lik = gm.score_samples(X).sum()
    p = n_free_parameters(covariance_type, 3, 4)
    assert_allclose(gm.bic(X), -2 * log_lik + p * np.log(n), rtol=1e-12)
    assert_allclose(gm.aic(X), -2 * log_lik + 2 * p, rtol=1e-12)
    # On other data too.
    Y = X[:37] + 0.1
    assert_allclose(gm.bic(Y), -2 * gm.score_samples(Y).sum() + p * np.log(37), rtol=1e-12)
    assert_allclose(gm.aic(Y), -2 * gm.score_samples(Y).sum() + 2 * p, rtol=1e-12)


@pytest.mark.parametrize("max_iter", [1, 100])
def test_fit_predict_equals_fit_then_predict(covariance_type, max_iter):
    X = overlapping_blobs()
    params = dict(n_components=4, covariance_type=covariance_type, random_state=1,
                  max_iter=max_iter, n_init=2, init_params="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(**params).fit_predict(X)
        gm = GaussianMixture(**params).fit(X)
    assert_array_equal(labels, gm.predict(X))
    assert labels.shape == (X.shape[0],)


def test_threads_give_the_same_result(covariance_type):
    X, _ = blobs(4, n_samples=20_000, centers=4, seed=2, cluster_std=2.0)
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0,
                  max_iter=30, tol=1e-6)
    one = fit_quietly(GaussianMixture(n_threads=1, **params), X)
    two = fit_quietly(GaussianMixture(n_threads=2, **params), X)
    assert one.n_iter_ == two.n_iter_
    assert one.converged_ == two.converged_
    for name in FITTED_ARRAYS:
        a, b = getattr(one, name), getattr(two, name)
        assert_allclose(b, a, rtol=1e-10, atol=1e-12 * np.abs(a).max(), err_msg=name)
    assert_allclose(two.lower_bounds_, one.lower_bounds_, rtol=1e-12)
    assert_allclose(two.predict_proba(X), one.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert_allclose(two.score_samples(X), one.score_samples(X), rtol=1e-12)


def test_n_threads_validation():
    with pytest.raises((ValueError, TypeError)):
        GaussianMixture(2, n_threads=0).fit(iris())


# -- warm start -------------------------------------------------------------------------

def test_warm_start_continues_em():
    X = overlapping_blobs()
    init = random_init(X, 4, "full", seed=0)
    warm = GaussianMixture(4, warm_start=True, max_iter=3, tol=0.0, **init_kwargs(init))
    for _ in range(3):
        fit_quietly(warm, X)
    cold = fit_quietly(GaussianMixture(4, max_iter=9, tol=0.0, **init_kwargs(init)), X)
    assert_allclose(warm.means_, cold.means_, rtol=1e-10)
    assert_allclose(warm.lower_bound_, cold.lower_bound_, rtol=1e-12)
    assert warm.n_iter_ == 3
    with pytest.raises(ValueError):
        warm.fit(X[:, :2])


# -- input validation --------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    dict(n_components=0),
    dict(n_components=-1),
    dict(covariance_type="banana"),
    dict(tol=-1.0),
    dict(reg_covar=-1e-3),
    dict(max_iter=-1),
    dict(n_init=0),
    dict(init_params="nope"),
    dict(verbose_interval=0),
], ids=lambda p: next(iter(p)) + "=" + repr(next(iter(p.values()))))
def test_bad_parameters_raise_value_error(params):
    with pytest.raises(ValueError):
        GaussianMixture(**{"n_components": 2, **params}).fit(iris())


@pytest.mark.parametrize("params", [dict(n_components=1.5), dict(n_components="2"),
                                    dict(max_iter=10.0)])
def test_parameters_of_wrong_type(params):
    with pytest.raises((TypeError, ValueError)):
        GaussianMixture(**params).fit(iris())


def test_bad_weights_init():
    X = iris()
    with pytest.raises(ValueError):
        GaussianMixture(3, weights_init=[0.5, 0.3, 0.3]).fit(X)
    with pytest.raises(ValueError):
        GaussianMixture(3, weights_init=[0.5, 0.5]).fit(X)
    with pytest.raises(ValueError):
        GaussianMixture(3, weights_init=[1.2, -0.1, -0.1]).fit(X)
    with pytest.raises(ValueError):
        GaussianMixture(3, weights_init=[np.nan, 0.5, 0.5]).fit(X)


def test_bad_means_init():
    X = iris()
    with pytest.raises(ValueError):
        GaussianMixture(3, means_init=np.zeros((2, 4))).fit(X)
    with pytest.raises(ValueError):
        GaussianMixture(3, means_init=np.zeros((3, 5))).fit(X)
    with pytest.raises(ValueError):
        GaussianMixture(3, means_init=np.zeros(12)).fit(X)


def test_bad_precisions_init(covariance_type):
    X = iris()
    k, d = 3, 4
    _, _, good = random_init(X, k, covariance_type, seed=0)
    bad = np.array(good, copy=True)
    if covariance_type == "full":
        bad[1] = -np.eye(d)
    elif covariance_type == "tied":
        bad = np.diag([1.0, 1.0, -1.0, 1.0])
    elif covariance_type == "diag":
        bad[2, 1] = -1.0
    else:
        bad[0] = 0.0
    with pytest.raises(ValueError):
        GaussianMixture(k, covariance_type=covariance_type, precisions_init=bad).fit(X)
    with pytest.raises(ValueError):  # wrong shape
        GaussianMixture(k, covariance_type=covariance_type,
                        precisions_init=good[..., :2]).fit(X)
    GaussianMixture(k, covariance_type=covariance_type, precisions_init=good).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_non_symmetric_precisions_init(covariance_type):
    X = iris()
    _, _, good = random_init(X, 3, covariance_type, seed=0)
    bad = np.array(good, copy=True)
    bad[..., 0, 1] += 1.0
    with pytest.raises(ValueError):
        GaussianMixture(3, covariance_type=covariance_type, precisions_init=bad).fit(X)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input(value):
    X = iris()
    X[5, 2] = value
    with pytest.raises(ValueError):
        GaussianMixture(2).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(iris())
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(ValueError):
            method(X)


def test_bad_shapes():
    X = iris()
    with pytest.raises(ValueError):
        GaussianMixture(2).fit(X[:, 0])  # 1-D
    with pytest.raises(ValueError):
        GaussianMixture(2).fit(X[None])  # 3-D
    with pytest.raises(ValueError):
        GaussianMixture(5).fit(X[:4])  # n_samples < n_components
    with pytest.raises(ValueError):
        GaussianMixture(1).fit(X[:1])  # a single sample
    with pytest.raises(ValueError):
        GaussianMixture(1).fit(np.empty((10, 0)))
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError):
        gm.predict(X[:, :3])
    with pytest.raises(ValueError):
        gm.score_samples(np.hstack([X, X]))
    with pytest.raises(ValueError):
        gm.predict(X[0])  # 1-D sample


def test_sparse_input_raises_type_error():
    X = iris()
    with pytest.raises(TypeError):
        GaussianMixture(2).fit(sp.csr_matrix(X))
    gm = GaussianMixture(2, random_state=0).fit(X)
    for method in (gm.predict, gm.predict_proba, gm.score_samples):
        with pytest.raises(TypeError):
            method(sp.csr_matrix(X))
    with pytest.raises(TypeError):
        gm.predict(sp.csr_array(X))


def test_bad_sample_weight():
    X = iris()
    gm = GaussianMixture(2, random_state=0)
    with pytest.raises(ValueError):
        gm.fit(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError):
        gm.fit(X, sample_weight=np.ones(len(X) - 1))
    with pytest.raises(ValueError):
        gm.fit(X, sample_weight=np.zeros(len(X)))
    w = np.ones(len(X))
    w[3] = np.nan
    with pytest.raises(ValueError):
        gm.fit(X, sample_weight=w)


def test_unit_sample_weight_changes_nothing():
    X = overlapping_blobs()
    a = fit_quietly(GaussianMixture(3, random_state=0), X)
    b = fit_quietly(GaussianMixture(3, random_state=0), X, sample_weight=np.ones(len(X)))
    for name in FITTED_ARRAYS:
        assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10, err_msg=name)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("kind", ["float64", "float32", "fortran", "int", "non_contiguous"])
def test_inputs_are_not_modified(kind, covariance_type):
    base = iris()
    X = {"float64": base, "float32": base.astype(np.float32),
         "fortran": np.asfortranarray(base), "int": np.round(base * 10).astype(np.int64),
         "non_contiguous": np.hstack([base, base])[:, ::2]}[kind]
    X_before = X.copy(order="K")
    weights, means, precisions = random_init(base, 3, covariance_type, seed=0)
    w = np.linspace(0.5, 2.0, len(X))
    inits = [np.array(a, copy=True) for a in (weights, means, precisions, w)]
    gm = GaussianMixture(3, covariance_type=covariance_type, weights_init=weights,
                         means_init=means, precisions_init=precisions, random_state=0)
    fit_quietly(gm, X, sample_weight=w)
    gm.predict(X)
    gm.predict_proba(X)
    gm.score_samples(X)
    gm.score(X)
    gm.bic(X)
    gm.fit_predict(X)
    assert_array_equal(X, X_before)
    assert X.dtype == X_before.dtype
    for a, b in zip((weights, means, precisions, w), inits):
        assert_array_equal(a, b)
    # The model does not keep references to the caller's init arrays it could modify.
    means_fitted = gm.means_.copy()
    means[:] = 1e6
    assert_array_equal(gm.means_, means_fitted)


def test_list_input():
    X = iris()
    a = GaussianMixture(2, random_state=0).fit(X.tolist())
    b = GaussianMixture(2, random_state=0).fit(X)
    assert_models_identical(a, b)
    assert_array_equal(a.predict(X[:5].tolist()), b.predict(X[:5]))


# -- verbose -----------------------------------------------------------------------------

@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("max_iter", [3, 100])
def test_verbose_messages_match_sklearn(capsys, verbose, max_iter):
    import re

    X = iris()
    init = random_init(X, 3, "full", seed=0)
    params = dict(n_components=3, verbose=verbose, verbose_interval=2, max_iter=max_iter,
                  n_init=2, **init_kwargs(init))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SkGaussianMixture(**params).fit(X)
        expected = capsys.readouterr().out
        GaussianMixture(**params).fit(X)
        got = capsys.readouterr().out

    def mask(text):  # timings differ
        return re.sub(r"time lapse \d+\.\d+s", "time lapse Ts", text)

    assert "Initialization 1" in got
    assert mask(got) == mask(expected)


def test_gmmc_num_threads_environment(monkeypatch):
    X = iris()
    ref = GaussianMixture(2, random_state=0, n_threads=1).fit(X)
    monkeypatch.setenv("GMMC_NUM_THREADS", "2")
    assert_models_identical(GaussianMixture(2, random_state=0).fit(X), ref)
    monkeypatch.setenv("GMMC_NUM_THREADS", "two")
    with pytest.raises(ValueError):
        GaussianMixture(2, random_state=0).fit(X)


def test_default_n_threads_follows_blas_limit():
    from threadpoolctl import threadpool_limits

    from gmmc._parallel import effective_n_threads

    with threadpool_limits(limits=1, user_api="blas"):
        assert effective_n_threads() == 1
    assert effective_n_threads(2) == 2


# -- numerical accuracy --------------------------------------------------------------------

def numpy_em(X, weights, means, covariances, covariance_type, n_iter, reg_covar):
    """Plain two-pass EM in float64: returns (weights, means, covariances, bounds).

    Log-densities from a Cholesky solve of (x - mu), covariances from
    (x - mu)(x - mu)^T: no cancellation however far the data sit from 0.
    """
    X = X.astype(np.float64)
    n, d = X.shape
    k = len(weights)
    bounds = []
    for _ in range(n_iter):
        covs = full_covariances(covariances, covariance_type, k, d)
        lp = np.empty((n, k))
        for j in range(k):
            lower = np.linalg.cholesky(covs[j])
            z = np.linalg.solve(lower, (X - means[j]).T)
            lp[:, j] = (np.log(weights[j]) - 0.5 * (z ** 2).sum(axis=0)
                        - np.log(np.diag(lower)).sum() - 0.5 * d * np.log(2 * np.pi))
        log_norm = logsumexp(lp, axis=1)
        bounds.append(log_norm.mean())
        resp = np.exp(lp - log_norm[:, None])
        nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
        means = resp.T @ X / nk[:, None]
        scatter = np.array([(resp[:, j, None] * (X - means[j])).T @ (X - means[j])
                            for j in range(k)])
        if covariance_type == "full":
            covariances = scatter / nk[:, None, None] + reg_covar * np.eye(d)
        elif covariance_type == "tied":
            covariances = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
        elif covariance_type == "diag":
            covariances = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
        else:
            covariances = (np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None]).mean(1) \
                + reg_covar
        weights = nk / nk.sum()
    return weights, means, covariances, bounds


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_matches_numpy_em(covariance_type):
    """A second oracle besides scikit-learn: textbook EM written with NumPy."""
    X = overlapping_blobs()
    weights, means, precisions = random_init(X, 4, covariance_type, seed=5)
    covariances = (np.linalg.inv(precisions) if covariance_type in ("full", "tied")
                   else 1.0 / precisions)
    gm = fit_quietly(GaussianMixture(4, covariance_type=covariance_type, tol=0.0,
                                     max_iter=6, weights_init=weights, means_init=means,
                                     precisions_init=precisions), X)
    w, m, c, bounds = numpy_em(X, weights, means, covariances, covariance_type, 6, 1e-6)
    assert_allclose(gm.weights_, w, rtol=1e-9)
    assert_allclose(gm.means_, m, rtol=1e-9, atol=1e-9)
    assert_allclose(gm.covariances_, c, rtol=1e-9, atol=1e-11)
    assert_allclose(gm.lower_bounds_, bounds, rtol=1e-11)


def far_tight_clusters(offset, std, n_features, dtype=np.float64, seed=0):
    """Two tight clusters far from each other (and from the origin)."""
    rng = np.random.RandomState(seed)
    centre = np.linspace(1.0, 2.0, n_features)
    X = np.vstack([rng.normal(-offset, std, (200, n_features)) + centre,
                   rng.normal(offset, std, (200, n_features)) + centre])
    y = np.repeat([0, 1], 200)
    return X.astype(dtype), y


@pytest.mark.parametrize("n_features", [3, 10])
def test_full_covariance_far_tight_clusters_float64(n_features):
    """Full covariances are taken about the current means (see _stats.reference_points):
    as accurate as a second pass, so they must match two-pass EM even where the
    cluster spread is 1e-6 of the distance between clusters."""
    X, y = far_tight_clusters(1e4, 1e-2, n_features)
    means = np.array([X[y == j].mean(axis=0) + 3e-3 for j in range(2)])
    covariances = np.array([np.cov(X[y == j].T) * 2.0 for j in range(2)])
    weights = np.array([0.4, 0.6])
    gm = fit_quietly(GaussianMixture(2, tol=0.0, max_iter=4, reg_covar=0.0,
                                     weights_init=weights, means_init=means,
                                     precisions_init=np.linalg.inv(covariances)), X)
    w, m, c, bounds = numpy_em(X, weights, means, covariances, "full", 4, 0.0)
    assert_allclose(gm.means_, m, rtol=1e-12)
    assert_allclose(gm.covariances_, c, rtol=1e-6, atol=1e-6 * np.abs(c).max())
    assert_allclose(gm.lower_bounds_, bounds, rtol=1e-8)


@pytest.mark.parametrize("init", ["given", "kmeans"])
@pytest.mark.parametrize("n_features", [3, 10])
def test_full_covariance_far_tight_clusters_float32(n_features, init):
    """float32 data: clusters at +-100 with spread 0.1 fit like the float64 data
    (scikit-learn fits them in float32 too)."""
    X, y = far_tight_clusters(100.0, 0.1, n_features, dtype=np.float32)
    X64 = X.astype(np.float64)
    params = dict(n_components=2, random_state=0)
    if init == "given":  # EM alone, without the initialisation's statistics
        params.update(weights_init=[0.5, 0.5],
                      means_init=np.array([X64[y == j].mean(axis=0) for j in range(2)]),
                      precisions_init=np.array([np.linalg.inv(np.cov(X64[y == j].T))
                                                for j in range(2)]))
    gm32 = GaussianMixture(**params).fit(X)
    gm64 = GaussianMixture(**params).fit(X64)
    assert adjusted_rand_score(y, gm32.predict(X)) == 1.0
    assert_allclose(gm32.means_, gm64.means_, rtol=1e-5)
    assert_allclose(gm32.covariances_, gm64.covariances_, rtol=1e-2,
                    atol=1e-2 * np.abs(gm64.covariances_).max())
    assert_allclose(gm32.lower_bound_, gm64.lower_bound_, rtol=1e-3)
    # The float32 log-densities of the fitted model, against float64 arithmetic
    # on the same (float32) parameters and data.
    log_norm, _ = scipy_log_likelihood(X.astype(np.float64), gm32.weights_.astype(np.float64),
                                       gm32.means_.astype(np.float64),
                                       gm32.covariances_.astype(np.float64), "full")
    assert_allclose(gm32.score_samples(X), log_norm, rtol=0, atol=1e-2)


def test_full_covariance_far_tight_clusters_default_init():
    """Data at +-1e5 with spread 1e-3 (well within float64's precision): the
    k-means initialisation must not break the covariance (scikit-learn fits it)."""
    X, y = far_tight_clusters(1e5, 1e-3, 3)
    sk = SkGaussianMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert adjusted_rand_score(y, gm.predict(X)) == 1.0
    assert_allclose(gm.lower_bound_, sk.lower_bound_, rtol=1e-6)
