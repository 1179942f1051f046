"""sample_weight in fit and in the k-means initialisation.

The oracle throughout is duplication: a sample of integer weight w must act
exactly as w copies of it (weight 0: the sample is absent).
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import gmmc
from gmmc import GaussianMixture, _init

from conftest import COVARIANCE_TYPES, blobs, fit_quietly, init_kwargs, random_init

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def small_data(seed=0):
    X, _ = blobs(3, n_samples=120, centers=3, seed=seed, cluster_std=1.5)
    w = np.random.RandomState(seed).randint(0, 4, size=len(X))
    return X, w


def assert_same_model(a, b, rtol=1e-9):
    for name in FITTED:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol,
                        atol=rtol * np.abs(getattr(b, name)).max(), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    assert_allclose(a.lower_bound_, b.lower_bound_, rtol=rtol)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_samples(covariance_type):
    X, w = small_data()
    Xr = np.repeat(X, w, axis=0)
    init = init_kwargs(random_init(X, 3, covariance_type, seed=1))
    params = dict(n_components=3, covariance_type=covariance_type, tol=1e-10,
                  max_iter=30, **init)
    weighted = fit_quietly(GaussianMixture(**params), X, sample_weight=w)
    repeated = fit_quietly(GaussianMixture(**params), Xr)
    assert weighted.n_iter_ > 3  # EM really ran
    assert_same_model(weighted, repeated)
    assert_allclose(np.average(weighted.score_samples(X), weights=w), repeated.score(Xr),
                    rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_kmeans_init_equals_repeated_samples(covariance_type, monkeypatch):
    """With the k-means++ seeds fixed, weighted k-means (Lloyd steps, stopping
    tolerance, initial statistics) and then EM equal the run on repeated rows."""
    X, w = small_data(seed=2)
    Xr = np.repeat(X, w, axis=0)
    seeds = X[np.flatnonzero(w)[[0, 1, 2]]] + 0.5  # poor seeds: Lloyd must iterate
    monkeypatch.setattr(_init, "kmeans_plusplus",
                        lambda X, sw, k, rs, nt, offset: (seeds.astype(X.dtype), None))
    params = dict(n_components=3, covariance_type=covariance_type, init_params="kmeans",
                  random_state=0, tol=1e-10, max_iter=30)
    init_w = fit_quietly(GaussianMixture(**{**params, "max_iter": 0}), X, sample_weight=w)
    init_r = fit_quietly(GaussianMixture(**{**params, "max_iter": 0}), Xr)
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(init_w, name), getattr(init_r, name), rtol=1e-10,
                        err_msg=name)
    assert_same_model(fit_quietly(GaussianMixture(**params), X, sample_weight=w),
                      fit_quietly(GaussianMixture(**params), Xr))


def test_weighted_lloyd_iterations_equal_repeated_samples(monkeypatch):
    """k-means labels: weighted run vs repeated rows, from the same seeds. The
    stopping tolerance is relative to the data variance, which must be the
    weighted one: here a few heavy samples make it much larger than the
    unweighted variance."""
    for trial in range(20, 30):
        rng = np.random.RandomState(trial)
        X = rng.uniform(-5, 5, size=(300, 2)) * [3.0, 1.0]
        w = rng.randint(1, 3, size=len(X))
        w[np.argsort(X[:, 0])[-5:]] = 60
        Xr = np.repeat(X, w, axis=0)
        seeds = X[rng.choice(len(X), 5, replace=False)]
        monkeypatch.setattr(_init, "kmeans_plusplus",
                            lambda X, sw, k, rs, nt, offset, s=seeds: (s.astype(X.dtype),
                                                                      None))
        for tol in (1e-4, 1e-3):
            labels_w = _init.kmeans(X, w.astype(np.float64), 5, None, 1, tol=tol)
            labels_r = _init.kmeans(Xr, None, 5, None, 1, tol=tol)
            assert_array_equal(np.repeat(labels_w, w), labels_r, err_msg=f"{trial} {tol}")


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weight_samples_are_dropped(covariance_type, init_params):
    """Far outliers of weight 0 change nothing, even in the random initialisations
    (appended after the data, they leave every random draw where it was)."""
    X, _ = blobs(2, n_samples=90, centers=3, seed=4)
    outliers = np.array([[1e3, -1e3], [5e2, 5e2], [-8e2, 0.0], [0.0, 9e2]])
    X_all = np.vstack([X, outliers])
    w_all = np.r_[np.ones(len(X)), np.zeros(len(outliers))]
    params = dict(n_components=3, covariance_type=covariance_type,
                  init_params=init_params, random_state=3)
    with_zeros = fit_quietly(GaussianMixture(**params), X_all, sample_weight=w_all)
    without = fit_quietly(GaussianMixture(**params), X, sample_weight=np.ones(len(X)))
    assert_same_model(with_zeros, without, rtol=1e-10)
    # The zero-weight rows are still predicted like any other point.
    assert with_zeros.predict(outliers).shape == (4,)


def test_kmeans_plusplus_never_seeds_at_zero_weight_samples():
    """Even when every weighted sample already sits on a centre (fewer distinct
    weighted points than clusters), no seed lands on a zero-weight sample."""
    X = np.array([[0.0, 0.0]] * 3 + [[5.0, 5.0]] * 3 + [[1e3, 1e3], [-1e3, 2e3]])
    w = np.r_[np.ones(6), 0.0, 0.0]
    for seed in range(40):
        _, indices = _init.kmeans_plusplus(X, w, 4, np.random.RandomState(seed), 1)
        assert (w[indices] > 0).all(), (seed, indices)
        labels = _init.kmeans(X, w, 4, np.random.RandomState(seed), 1)
        # Centres are weighted means of their samples: a cluster holding only
        # zero-weight samples would sit on an outlier.
        for j in np.unique(labels[w > 0]):
            assert w[labels == j].sum() > 0


def test_scaling_all_weights_changes_nothing(covariance_type):
    X, w = small_data(seed=6)
    w = w + np.random.RandomState(0).uniform(0, 1, len(w))  # fractional weights
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    a = fit_quietly(GaussianMixture(**params), X, sample_weight=w)
    b = fit_quietly(GaussianMixture(**params), X, sample_weight=3.5 * w)
    assert_same_model(a, b, rtol=1e-8)


def test_fractional_weights_are_a_weighted_mle():
    """One Gaussian: the fit is the weighted mean and weighted (biased) covariance."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 3)) @ [[1, 0.5, 0], [0, 1, 0.3], [0, 0, 2]]
    w = rng.uniform(0.05, 2.0, len(X))
    gm = GaussianMixture(1, reg_covar=0.0).fit(X, sample_weight=w)
    mean = w @ X / w.sum()
    cov = ((X - mean).T * w) @ (X - mean) / w.sum()
    assert_allclose(gm.means_[0], mean, rtol=1e-12)
    assert_allclose(gm.covariances_[0], cov, rtol=1e-10)


def test_weighted_fit_predict_and_threads():
    """Weights are sliced with the rows: two threads give the single-thread fit."""
    X, _ = blobs(2, n_samples=9000, centers=3, seed=1)
    w = np.random.RandomState(1).uniform(0, 3, len(X))
    init = init_kwargs(random_init(X, 3, "full", seed=0))
    one = fit_quietly(GaussianMixture(3, n_threads=1, max_iter=5, **init), X,
                      sample_weight=w)
    two = GaussianMixture(3, n_threads=2, max_iter=5, **init)
    with pytest.warns(gmmc.ConvergenceWarning):
        labels = two.fit_predict(X, sample_weight=w)
    assert_same_model(one, two, rtol=1e-10)
    assert_array_equal(labels, two.predict(X))


def test_float32_weights_equal_repeated_samples():
    X, w = small_data(seed=3)
    X32 = X.astype(np.float32)
    init = init_kwargs(random_init(X, 3, "full", seed=1))
    a = fit_quietly(GaussianMixture(3, max_iter=10, **init), X32, sample_weight=w)
    b = fit_quietly(GaussianMixture(3, max_iter=10, **init), np.repeat(X32, w, axis=0))
    assert a.means_.dtype == np.float32
    assert_allclose(a.means_, b.means_, rtol=1e-4)
    assert_allclose(a.covariances_, b.covariances_, rtol=1e-3)


@pytest.mark.parametrize("bad, error, match", [
    (lambda n: -np.ones(n), ValueError, "non-negative"),
    (lambda n: np.r_[np.ones(n - 1), -1e-12], ValueError, "non-negative"),
    (lambda n: np.r_[np.ones(n - 1), np.nan], ValueError, "NaN"),
    (lambda n: np.r_[np.ones(n - 1), np.inf], ValueError, "infinity"),
    (lambda n: np.r_[np.ones(n - 1), -np.inf], ValueError, "infinity"),
    (lambda n: np.ones(n + 1), ValueError, "shape"),
    (lambda n: np.ones((n, 1)), ValueError, "shape"),
    (lambda n: np.zeros(n), ValueError, "positive"),
    (lambda n: np.array(["1"] * n), TypeError, "numeric"),
    (lambda n: np.r_[1.0, 1.0, np.zeros(n - 2)], ValueError, "n_components"),
])
def test_invalid_weights_are_clear_errors(bad, error, match):
    X, _ = small_data()
    with pytest.raises(error, match=match):
        GaussianMixture(3, random_state=0).fit(X, sample_weight=bad(len(X)))
