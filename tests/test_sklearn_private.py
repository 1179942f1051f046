"""scikit-learn's private GaussianMixture methods on gmmc's class: the same
results as scikit-learn's on a model holding the same parameters."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmc import GaussianMixture

from conftest import COVARIANCE_TYPES, blobs, fit_quietly


def pair(covariance_type):
    X, _ = blobs(3, n_samples=200, centers=3, seed=1)
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    sk = SkGaussianMixture(3, covariance_type=covariance_type)
    sk._set_parameters(gm._get_parameters())
    return X, gm, sk


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_side_methods_match_sklearn(covariance_type):
    X, gm, sk = pair(covariance_type)
    for name in ("_estimate_log_prob", "_estimate_weighted_log_prob"):
        assert_allclose(getattr(gm, name)(X), getattr(sk, name)(X), rtol=1e-10,
                        err_msg=name)
    assert_allclose(gm._estimate_log_weights(), sk._estimate_log_weights(), rtol=1e-12)
    for got, want in zip(gm._estimate_log_prob_resp(X), sk._estimate_log_prob_resp(X)):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    (bound, log_resp), (sk_bound, sk_log_resp) = gm._e_step(X), sk._e_step(X)
    assert_allclose(bound, sk_bound, rtol=1e-12)
    assert_allclose(log_resp, sk_log_resp, rtol=1e-10, atol=1e-12)
    assert gm._compute_lower_bound(log_resp, bound) == sk._compute_lower_bound(log_resp,
                                                                              bound)
    assert gm._n_parameters() == sk._n_parameters()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_and_initialize_match_sklearn(covariance_type):
    X, gm, sk = pair(covariance_type)
    _, log_resp = sk._e_step(X)
    gm._m_step(X, log_resp)
    sk._m_step(X, log_resp)
    for got, want in zip(gm._get_parameters(), sk._get_parameters()):
        assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    resp = np.random.RandomState(0).uniform(size=(len(X), 3))
    resp /= resp.sum(axis=1, keepdims=True)
    gm._initialize(X, resp)
    sk._initialize(X, resp)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_allclose(getattr(gm, name), getattr(sk, name), rtol=1e-9, atol=1e-12,
                        err_msg=name)


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++"])
def test_initialize_parameters_draws_as_sklearn(init_params):
    X, gm, sk = pair("diag")
    for model in (gm, sk):
        model.set_params(init_params=init_params)
        model._initialize_parameters(X, np.random.RandomState(3))
    assert_allclose(gm.means_, sk.means_, rtol=1e-9)
    assert_allclose(gm.weights_, sk.weights_, rtol=1e-9)
