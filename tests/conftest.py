"""Shared data sets and helpers for the gmmc test suite.

Everything here is independent of gmmc: data comes from scikit-learn's loaders
and generators, and initial parameters are built with plain NumPy (or from a
scikit-learn fit), so they can serve as a common start for both libraries.
"""
import functools
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(autouse=True, scope="session")
def single_threaded_blas():
    """Keep BLAS on one thread for the whole session.

    The data here are small: multithreaded OpenBLAS only adds spin-waiting, and
    on a loaded 2-core machine it made the suite ~10x slower. gmmc's own threads
    are tested explicitly (n_threads=2) in test_estimator.py.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# -- data sets ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _iris():
    return load_iris().data.astype(np.float64)


@functools.lru_cache(maxsize=None)
def _digits():
    # 400 rows, D=64; a little noise keeps the always-zero pixels from giving
    # exactly singular covariances (reg_covar alone would make them 1e-6).
    X = load_digits().data[:400].astype(np.float64)
    rng = np.random.RandomState(0)
    return X + 0.05 * rng.standard_normal(X.shape)


@functools.lru_cache(maxsize=None)
def _blobs(n_features, n_samples=600, centers=3, seed=0, cluster_std=1.0):
    X, y = make_blobs(n_samples=n_samples, n_features=n_features, centers=centers,
                      cluster_std=cluster_std, random_state=seed)
    return X.astype(np.float64), y


def iris():
    return _iris().copy()


def digits():
    return _digits().copy()


def blobs(n_features, n_samples=600, centers=3, seed=0, cluster_std=1.0):
    X, y = _blobs(n_features, n_samples, centers, seed, cluster_std)
    return X.copy(), y.copy()


# name -> (X, n_components, reg_covar)
def dataset(name):
    if name == "iris":
        return iris(), 3, 1e-6
    if name == "digits":
        return digits(), 4, 1e-3
    if name.startswith("blobs"):
        d = int(name[5:])
        return blobs(d)[0], 3, 1e-6
    raise KeyError(name)


DATASETS = ("iris", "digits", "blobs1", "blobs2", "blobs5", "blobs16", "blobs64")


# -- initial parameters ------------------------------------------------------

def precisions_from_covariances(covariances, covariance_type):
    """Precisions (inverse covariances) in the layout of ``precisions_init``."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / covariances


def random_init(X, n_components, covariance_type, seed=0):
    """Valid random (weights_init, means_init, precisions_init) for X.

    Means are distinct data rows plus a little jitter, weights a random point
    of the simplex, covariances the data covariance scaled by a random factor
    (and randomly rotated a bit for full), so every component is distinct.
    """
    rng = np.random.RandomState(seed)
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    weights = rng.uniform(0.5, 1.5, size=n_components)
    weights /= weights.sum()
    rows = rng.choice(n, size=n_components, replace=False)
    scale = X.std(axis=0) + 1e-3
    means = X[rows] + 0.1 * scale * rng.standard_normal((n_components, d))
    data_cov = np.atleast_2d(np.cov(X.T)) + 1e-3 * np.eye(d)
    if covariance_type == "full":
        covs = []
        for _ in range(n_components):
            a = 0.2 * rng.standard_normal((d, d)) * np.sqrt(np.diag(data_cov))[:, None]
            covs.append(rng.uniform(0.3, 1.0) * data_cov + a @ a.T / d)
        covariances = np.array(covs)
    elif covariance_type == "tied":
        covariances = rng.uniform(0.3, 1.0) * data_cov
    elif covariance_type == "diag":
        covariances = rng.uniform(0.3, 1.0, size=(n_components, d)) * np.diag(data_cov)
    else:
        covariances = rng.uniform(0.3, 1.0, size=n_components) * np.diag(data_cov).mean()
    precisions = precisions_from_covariances(covariances, covariance_type)
    if covariance_type in ("full", "tied"):
        precisions = (precisions + np.swapaxes(precisions, -1, -2)) / 2
    return weights, means, precisions


def sklearn_one_step_init(X, n_components, covariance_type, seed=0, reg_covar=1e-6):
    """(weights, means, precisions) of a one-iteration scikit-learn fit."""
    gm = SkGaussianMixture(n_components, covariance_type=covariance_type, max_iter=1,
                           init_params="random_from_data", random_state=seed,
                           reg_covar=reg_covar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        gm.fit(X)
    return gm.weights_.copy(), gm.means_.copy(), gm.precisions_.copy()


def init_kwargs(init):
    weights, means, precisions = init
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


# -- mixture moments -----------------------------------------------------------

def full_covariances(covariances, covariance_type, n_components, n_features):
    """(K, D, D) covariance matrices from any covariance layout."""
    c = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return c
    if covariance_type == "tied":
        return np.repeat(c[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.array([np.diag(row) for row in c])
    return np.array([v * np.eye(n_features) for v in c])


def fit_quietly(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, **kwargs)


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request):
    return request.param
