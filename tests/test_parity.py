"""gmmc.GaussianMixture against sklearn.mixture.GaussianMixture.

Both are started from the same initial parameters (or the same random draws)
and must then produce the same fit, to rounding.
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmc
from gmmc import _em

from conftest import (COVARIANCE_TYPES, DATASETS, blobs, dataset, fit_quietly, init_kwargs,
                      iris, random_init, sklearn_one_step_init)

FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_")


def close(actual, desired, rtol, err_msg="", atol_frac=1e-2):
    """assert_allclose with an absolute floor scaled to the array's magnitude.

    Entries that are zero up to cancellation (off-diagonal precisions, far-off
    probabilities) carry absolute, not relative, rounding errors.
    """
    desired = np.asarray(desired, dtype=np.float64)
    scale = np.abs(desired).max() if desired.size else 0.0
    assert_allclose(np.asarray(actual, dtype=np.float64), desired, rtol=rtol,
                    atol=rtol * atol_frac * scale, err_msg=err_msg)


def assert_same_fit(gm, sk, X, rtol=1e-6, proba_atol=1e-8, check_iterations=True,
                    atol_frac=1e-2):
    """Every fitted attribute and every method of the two models agree."""
    for name in FITTED_ARRAYS:
        assert getattr(gm, name).shape == getattr(sk, name).shape, name
        close(getattr(gm, name), getattr(sk, name), rtol, err_msg=name,
              atol_frac=atol_frac)
    if check_iterations:
        assert gm.n_iter_ == sk.n_iter_
        assert gm.converged_ == sk.converged_
        assert len(gm.lower_bounds_) == len(sk.lower_bounds_)
    assert_allclose(gm.lower_bound_, sk.lower_bound_, rtol=rtol)
    if check_iterations:
        assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=rtol)
    assert gm.n_features_in_ == sk.n_features_in_

    proba_gm, proba_sk = gm.predict_proba(X), sk.predict_proba(X)
    assert proba_gm.shape == proba_sk.shape
    assert_allclose(proba_gm, proba_sk, rtol=rtol, atol=proba_atol)
    score_samples_sk = sk.score_samples(X)
    assert_allclose(gm.score_samples(X), score_samples_sk, rtol=rtol,
                    atol=rtol * np.abs(score_samples_sk).max())
    # predict may only differ where the two largest probabilities tie.
    labels_gm, labels_sk = gm.predict(X), sk.predict(X)
    top2 = np.sort(np.column_stack([np.zeros(len(X)), proba_sk]), axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 10 * proba_atol + 1e-6
    assert clear.mean() > 0.9
    assert_array_equal(labels_gm[clear], labels_sk[clear])
    assert_allclose(gm.score(X), sk.score(X), rtol=rtol)
    assert_allclose(gm.bic(X), sk.bic(X), rtol=rtol)
    assert_allclose(gm.aic(X), sk.aic(X), rtol=rtol)


def fit_pair(X, **params):
    """The two estimators fitted with identical parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        warnings.simplefilter("ignore", gmmc.ConvergenceWarning)
        sk = SkGaussianMixture(**params).fit(X)
        gm = gmmc.GaussianMixture(**params).fit(X)
    return gm, sk


# -- fits from given initial parameters ------------------------------------------------

@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_from_given_init(name, covariance_type):
    X, k, reg_covar = dataset(name)
    init = random_init(X, k, covariance_type, seed=1)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      reg_covar=reg_covar, tol=1e-3, max_iter=200, **init_kwargs(init))
    assert sk.converged_  # the comparison is about converged fits
    assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("name", ["iris", "blobs2", "blobs16"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_from_sklearn_one_step_init(name, covariance_type):
    X, k, reg_covar = dataset(name)
    init = sklearn_one_step_init(X, k, covariance_type, seed=2, reg_covar=reg_covar)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      reg_covar=reg_covar, tol=1e-4, max_iter=300, **init_kwargs(init))
    assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("max_iter", [1, 2, 7])
def test_parity_fixed_iterations(covariance_type, max_iter):
    """Unconverged fits (tol=0): the same EM step, ``max_iter`` times."""
    X, k, reg_covar = dataset("blobs5")
    init = random_init(X, k, covariance_type, seed=3)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type, tol=0.0,
                      max_iter=max_iter, **init_kwargs(init))
    assert not gm.converged_ and gm.n_iter_ == max_iter
    assert_same_fit(gm, sk, X, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_partial_init(covariance_type):
    """Only means_init given: weights and covariances from init_params='random'."""
    X, k, _ = dataset("iris")
    _, means, _ = random_init(X, k, covariance_type, seed=4)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      init_params="random", random_state=5, means_init=means)
    assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_reg_covar_and_single_component(covariance_type):
    X, _, _ = dataset("blobs5")
    init = random_init(X, 1, covariance_type, seed=0)
    gm, sk = fit_pair(X, n_components=1, covariance_type=covariance_type, reg_covar=0.5,
                      **init_kwargs(init))
    assert_same_fit(gm, sk, X, rtol=1e-9)


# -- random initialisations ----------------------------------------------------------

@pytest.mark.parametrize("name", ["iris", "blobs5", "digits"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_init_random(covariance_type, name):
    X, k, reg_covar = dataset(name)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      reg_covar=reg_covar, init_params="random", random_state=7,
                      max_iter=300)
    assert_same_fit(gm, sk, X)


# Singleton starting components (init 'random_from_data') have a variance of
# about reg_covar, where scikit-learn's own rounding (E[x^2] - E[x]^2 with
# 10 eps in the count) is a visible relative error, and iris' repeated rows keep
# such a component alive: continuous data keeps the comparison meaningful.
@pytest.mark.parametrize("name", ["blobs2", "blobs5", "blobs16"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_init_random_from_data(covariance_type, name):
    X, k, reg_covar = dataset(name)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      reg_covar=reg_covar, init_params="random_from_data",
                      random_state=11, max_iter=300)
    assert_same_fit(gm, sk, X)


# With several initialisations that all converge to the same optimum, which one
# wins is decided by rounding (and the components come out permuted). A few
# EM iterations from each start keep their bounds clearly apart.
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("name", ["iris", "overlapping"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_n_init(covariance_type, name, init_params):
    X = iris() if name == "iris" else blobs(5, centers=4, cluster_std=2.5)[0]
    params = dict(n_components=4, covariance_type=covariance_type,
                  init_params=init_params, tol=0.0, max_iter=2)
    gm, sk = fit_pair(X, n_init=4, random_state=13, **params)
    # The four starts, one by one from the same generator, are the oracle for
    # which start wins; the winner must beat the others by more than rounding.
    rng = np.random.RandomState(13)
    bounds = [fit_quietly(SkGaussianMixture(random_state=rng, **params), X).lower_bound_
              for _ in range(4)]
    top = np.sort(bounds)
    assert top[-1] - top[-2] > 1e-10 * abs(top[-1])
    assert_allclose(sk.lower_bound_, top[-1], rtol=1e-13)
    assert_same_fit(gm, sk, X, rtol=1e-6 if init_params == "random" else 1e-5)


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_initial_parameters(covariance_type, init_params):
    """max_iter=0 returns the initial parameters themselves: they must agree."""
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=4, covariance_type=covariance_type,
                      init_params=init_params, random_state=0, max_iter=0,
                      reg_covar=1e-2)
    assert gm.n_iter_ == sk.n_iter_ == 0
    assert gm.converged_ == sk.converged_
    for name in FITTED_ARRAYS:
        close(getattr(gm, name), getattr(sk, name), 1e-9, err_msg=name)


def test_parity_initial_parameters_of_several_starts():
    """max_iter=0 with n_init > 1 keeps the last start, as scikit-learn, and no
    lower bound; a warm start with max_iter=0 has none either."""
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=3, init_params="random", random_state=0,
                      max_iter=0, n_init=3)
    for name in FITTED_ARRAYS:
        close(getattr(gm, name), getattr(sk, name), 1e-9, err_msg=name)
    assert gm.lower_bound_ == sk.lower_bound_ == -np.inf
    for model in (gm, sk):
        fit_quietly(model.set_params(max_iter=2, n_init=1), X)
        assert model.lower_bound_ > -np.inf
        model.set_params(warm_start=True, max_iter=0).fit(X)
    assert gm.lower_bound_ == sk.lower_bound_ == -np.inf


def test_parity_random_state_instance():
    """A RandomState instance is consumed the same way as by scikit-learn."""
    X, _ = blobs(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(3, init_params="random", n_init=2,
                               random_state=np.random.RandomState(3)).fit(X)
        gm = gmmc.GaussianMixture(3, init_params="random", n_init=2,
                                  random_state=np.random.RandomState(3)).fit(X)
    assert_same_fit(gm, sk, X)


# -- sample() --------------------------------------------------------------------------

def copy_fitted(source, target):
    for name in FITTED_ARRAYS:
        setattr(target, name, np.array(getattr(source, name), copy=True))
    target.n_features_in_ = source.n_features_in_
    target.converged_ = source.converged_
    target.n_iter_ = source.n_iter_
    target.lower_bound_ = source.lower_bound_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_parity_same_parameters(covariance_type):
    X = iris()
    sk = fit_quietly(SkGaussianMixture(3, covariance_type=covariance_type,
                                       random_state=0), X)
    gm = gmmc.GaussianMixture(3, covariance_type=covariance_type)
    copy_fitted(sk, gm)
    for seed in (0, 1, 123):
        sk.random_state = gm.random_state = seed
        X_sk, y_sk = sk.sample(500)
        X_gm, y_gm = gm.sample(500)
        assert_array_equal(y_gm, y_sk)
        assert X_gm.shape == X_sk.shape == (500, 4)
        assert_allclose(X_gm, X_sk, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_parity_after_identical_fits(covariance_type):
    X, k, _ = dataset("blobs5")
    init = random_init(X, k, covariance_type, seed=9)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      **init_kwargs(init))
    for n in (1, 7, 1000):
        gm.random_state = sk.random_state = 42
        X_gm, y_gm = gm.sample(n)
        X_sk, y_sk = sk.sample(n)
        assert_array_equal(y_gm, y_sk)
        assert_allclose(X_gm, X_sk, rtol=1e-6, atol=1e-6)


# -- float32 -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["iris", "blobs2", "blobs5", "blobs16"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_float32(covariance_type, name):
    X, k, reg_covar = dataset(name)
    X = X.astype(np.float32)
    init = random_init(X, k, covariance_type, seed=1)
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      reg_covar=reg_covar, max_iter=200, **init_kwargs(init))
    assert gm.means_.dtype == np.float32
    assert_same_fit(gm, sk, X, rtol=1e-3, proba_atol=1e-4, atol_frac=0.1)


def test_parity_float32_separated_clusters_take_float64_features():
    """float32 full covariances of separated clusters fail float32's rounding
    bound of the quadratic-feature path and pass float64's: their posterior
    (predict_proba, score_samples) takes the features in float64 (checked on
    the fitted model; the fit's statistics take the fused pass), and the fit
    is still scikit-learn's."""
    X = blobs(8, centers=5)[0].astype(np.float32)
    init = random_init(X, 5, "full", seed=1)
    gm, sk = fit_pair(X, n_components=5, covariance_type="full", max_iter=200,
                      **init_kwargs(init))
    prepared = _em.prepare_model(X, np.log(gm.weights_), gm.means_,
                                 gm.precisions_cholesky_, "full", None)
    assert prepared[6] and prepared[10]
    assert_same_fit(gm, sk, X, rtol=1e-3, proba_atol=1e-4, atol_frac=0.1)


# -- warm start ------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_warm_start(covariance_type):
    X, k, _ = dataset("blobs5")
    init = random_init(X, k, covariance_type, seed=6)
    params = dict(n_components=k, covariance_type=covariance_type, warm_start=True,
                  max_iter=2, tol=1e-10, **init_kwargs(init))
    sk = SkGaussianMixture(**params)
    gm = gmmc.GaussianMixture(**params)
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
            gm.fit(X)
        assert_same_fit(gm, sk, X, rtol=1e-9)
    # Warm-started fits continue EM: the bound keeps improving across fits.
    cold = fit_quietly(gmmc.GaussianMixture(
        n_components=k, covariance_type=covariance_type, max_iter=6, tol=1e-10,
        **init_kwargs(init)), X)
    close(gm.means_, cold.means_, 1e-9)
    assert_allclose(gm.lower_bound_, cold.lower_bound_, rtol=1e-9)


def test_parity_warm_start_reaches_convergence():
    X, k, _ = dataset("iris")
    init = random_init(X, k, "full", seed=0)
    params = dict(n_components=k, warm_start=True, max_iter=3, **init_kwargs(init))
    sk, gm = SkGaussianMixture(**params), gmmc.GaussianMixture(**params)
    for _ in range(20):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
            gm.fit(X)
        assert gm.converged_ == sk.converged_
        assert gm.n_iter_ == sk.n_iter_
    assert sk.converged_
    assert_same_fit(gm, sk, X)


# -- sample weights -------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_weight_equals_repeated_rows(covariance_type):
    """Integer weights: scikit-learn fitted on the rows repeated is the oracle."""
    X, k, _ = dataset("blobs2")
    rng = np.random.RandomState(0)
    w = rng.randint(0, 4, size=X.shape[0])
    Xr = np.repeat(X, w, axis=0)
    init = random_init(X, k, covariance_type, seed=2)
    params = dict(n_components=k, covariance_type=covariance_type, **init_kwargs(init))
    sk = fit_quietly(SkGaussianMixture(**params), Xr)
    gm = fit_quietly(gmmc.GaussianMixture(**params), X, sample_weight=w)
    assert_same_fit(gm, sk, Xr)


# -- k-means++ seeding --------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_clusters", [1, 2, 3, 8])
def test_kmeans_plusplus_seeding_matches_sklearn(n_clusters, weighted):
    """gmmc's greedy k-means++ draws as scikit-learn's kmeans_plusplus."""
    from sklearn.cluster import kmeans_plusplus

    from gmmc import _init

    X, _ = blobs(3, n_samples=500, centers=5, cluster_std=2.0)
    w = np.random.RandomState(1).uniform(0.1, 3.0, len(X)) if weighted else None
    for seed in range(4):
        centers_sk, idx_sk = kmeans_plusplus(X, n_clusters, sample_weight=w,
                                             random_state=seed)
        centers_gm, idx_gm = _init.kmeans_plusplus(X, w, n_clusters,
                                                   np.random.RandomState(seed), 1)
        assert_array_equal(idx_gm, idx_sk)
        assert_array_equal(centers_gm, centers_sk)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_init_kmeans_plusplus(covariance_type):
    X, k, reg_covar = dataset("blobs5")
    gm, sk = fit_pair(X, n_components=k, covariance_type=covariance_type,
                      reg_covar=reg_covar, init_params="k-means++", random_state=5)
    assert_same_fit(gm, sk, X)
