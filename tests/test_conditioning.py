"""Conditioning (model.condition) and Gaussian Mixture Regression (predict_regression).

Oracles: single-Gaussian conditioning in closed form through the precision
matrix (a different route from gmmc's covariance Schur complement), the
factorisation p(x_R | x_I) = p(x) / p(x_I) with densities from scipy.stats,
and Monte-Carlo estimates from samples near the conditioning value.
"""
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmmc
from gmmc import GaussianMixture, NotFittedError

from conftest import fit_quietly, full_covariances


def mixture_data(n=600, seed=0):
    rng = np.random.RandomState(seed)
    a = rng.standard_normal((n // 2, 3)) @ [[1.0, 0.6, 0.2], [0, 0.8, -0.4], [0, 0, 0.5]]
    b = rng.standard_normal((n - n // 2, 3)) @ [[0.7, -0.3, 0], [0, 1.2, 0.5], [0, 0, 0.9]]
    return np.vstack([a, b + [3.0, -2.0, 1.0]])


def fitted(covariance_type, n_components=2, X=None):
    X = mixture_data() if X is None else X
    return fit_quietly(GaussianMixture(n_components, covariance_type=covariance_type,
                                       random_state=0), X)


def covariances_of(model):
    k, d = model.means_.shape
    return full_covariances(model.covariances_, model.covariance_type, k, d)


def log_mixture_density(x, weights, means, covs):
    """scipy.stats log-density of a Gaussian mixture at the rows of x."""
    x = np.atleast_2d(x)
    parts = [np.log(w) + np.atleast_1d(multivariate_normal.logpdf(x, m, c))
             for w, m, c in zip(weights, means, covs)]
    return logsumexp(np.column_stack(parts), axis=1)


def precision_route(mean, cov, obs, rest, x_obs):
    """Single-Gaussian conditional through the precision matrix Lambda = cov^-1:
    cov_R|I = Lambda_RR^-1, mean_R|I = mu_R - Lambda_RR^-1 Lambda_RI (x_I - mu_I)."""
    lam = np.linalg.inv(cov)
    lam_rr_inv = np.linalg.inv(lam[np.ix_(rest, rest)])
    mean_c = mean[rest] - lam_rr_inv @ lam[np.ix_(rest, obs)] @ (x_obs - mean[obs])
    return mean_c, lam_rr_inv


def test_single_gaussian_matches_closed_form(covariance_type):
    X = mixture_data()[:300]
    model = fitted(covariance_type, n_components=1, X=X)
    cov = covariances_of(model)[0]
    obs, rest, x_obs = [0, 2], [1], np.array([0.4, -0.3])
    cond = model.condition(obs, x_obs)
    mean_c, cov_c = precision_route(model.means_[0], cov, obs, rest, x_obs)
    assert cond.covariance_type == covariance_type
    assert_allclose(cond.weights_, [1.0])
    assert_allclose(cond.means_[0], mean_c, rtol=1e-10)
    assert_allclose(covariances_of(cond)[0], cov_c, rtol=1e-10)
    # The conditional of x_1 given x_0, x_2 for many rows at once.
    rows = X[:50][:, obs]
    mean, covs = model.predict_regression(rows, obs, rest, return_covariance=True)
    for row, m, c in zip(rows, mean, covs):
        expected_mean, expected_cov = precision_route(model.means_[0], cov, obs, rest, row)
        assert_allclose(m, expected_mean, rtol=1e-10, atol=1e-12)
        assert_allclose(c, expected_cov, rtol=1e-10)


def test_conditional_density_is_joint_over_marginal(covariance_type):
    """log p(x_R | x_I) = log p(x) - log p(x_I), all from scipy.stats."""
    model = fitted(covariance_type, n_components=3)
    weights, means, covs = model.weights_, model.means_, covariances_of(model)
    obs = [1]  # the rest: features 0 and 2
    rng = np.random.RandomState(1)
    for x_obs in ([-1.0], [0.2], [-2.5]):
        cond = model.condition(obs, x_obs)
        assert cond.covariance_type == covariance_type
        assert cond.means_.shape == (3, 2) and cond.n_features_in_ == 2
        x_rest = rng.standard_normal((6, 2)) * 1.5 + cond.weights_ @ cond.means_
        joint = np.column_stack([x_rest[:, 0], np.full(6, x_obs[0]), x_rest[:, 1]])
        log_joint = log_mixture_density(joint, weights, means, covs)
        log_marginal = log_mixture_density(
            np.array([x_obs]), weights, means[:, obs], covs[:, obs][:, :, obs])
        assert_allclose(cond.score_samples(x_rest), log_joint - log_marginal, rtol=1e-9)
        # New weights: prior weight times the component's likelihood of x_obs.
        lik = [w * multivariate_normal.pdf(x_obs, m[obs], c[np.ix_(obs, obs)])
               for w, m, c in zip(weights, means, covs)]
        assert_allclose(cond.weights_, np.array(lik) / np.sum(lik), rtol=1e-9)


def test_covariance_structure_is_preserved():
    """tied: one shared conditional covariance; diag/spherical: the observed
    dimensions carry no information within a component (only weights change)."""
    tied = fitted("tied").condition([0], [1.0])
    assert tied.covariances_.shape == (2, 2)
    for kind in ("diag", "spherical"):
        model = fitted(kind)
        cond = model.condition([0], [1.0])
        assert_allclose(cond.means_, model.means_[:, 1:])
        expected = model.covariances_[:, 1:] if kind == "diag" else model.covariances_
        assert_allclose(cond.covariances_, expected)
        assert not np.allclose(cond.weights_, model.weights_)


def test_predict_regression_equals_condition_row_by_row(covariance_type):
    model = fitted(covariance_type, n_components=3)
    X_in = mixture_data(seed=3)[:40, [2]]
    mean, cov = model.predict_regression(X_in, [2], [1, 0], return_covariance=True)
    assert mean.shape == (40, 2) and cov.shape == (40, 2, 2)
    for row, m, c in zip(X_in, mean, cov):
        cond = model.condition([2], row)  # features [0, 1]: reverse them
        mu = cond.means_[:, ::-1]
        sig = covariances_of(cond)[:, ::-1, ::-1]
        expected_mean = cond.weights_ @ mu
        spread = mu - expected_mean
        expected_cov = (np.einsum("k,kij->ij", cond.weights_, sig)
                        + np.einsum("k,ki,kj->ij", cond.weights_, spread, spread))
        assert_allclose(m, expected_mean, rtol=1e-10, atol=1e-12)
        assert_allclose(c, expected_cov, rtol=1e-9, atol=1e-12)
    assert_allclose(model.predict_regression(X_in, [2], [1, 0]), mean)
    # in_idx order matters: columns of X_in follow it.
    two = mixture_data(seed=4)[:5]
    assert_allclose(model.predict_regression(two[:, [2, 0]], [2, 0], [1]),
                    model.predict_regression(two[:, [0, 2]], [0, 2], [1]), rtol=1e-12)


def test_monte_carlo_conditional_moments():
    """Samples of the joint with x_0 within +-0.02 of v estimate E and Cov[x_1, x_2 | v]."""
    model = fitted("full", n_components=2)
    model.random_state = 0
    samples, _ = model.sample(400_000)
    for v in (0.5, 2.0):
        near = samples[np.abs(samples[:, 0] - v) < 0.02][:, 1:]
        assert len(near) > 1500
        mean, cov = model.predict_regression([[v]], [0], return_covariance=True)
        stderr = np.sqrt(np.diag(cov[0]) / len(near))
        assert np.all(np.abs(near.mean(axis=0) - mean[0]) < 4 * stderr)
        assert_allclose(np.cov(near.T), cov[0], rtol=0.15, atol=0.05)
        # The conditioned model's own samples agree too.
        cond = model.condition([0], [v])
        cond.random_state = 1
        draws, _ = cond.sample(50_000)
        assert_allclose(draws.mean(axis=0), mean[0], atol=0.03)


def test_gaussian_mixture_regression_learns_a_curve():
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 2 * np.pi, 1500)
    y = np.sin(x) + 0.1 * rng.standard_normal(len(x))
    model = fit_quietly(GaussianMixture(10, random_state=0, n_init=2),
                        np.column_stack([x, y]))
    grid = np.linspace(0.3, 2 * np.pi - 0.3, 200)
    pred, var = model.predict_regression(grid, [0], [1], return_covariance=True)
    assert np.sqrt(np.mean((pred[:, 0] - np.sin(grid)) ** 2)) < 0.06
    # The predictive variance is about the noise variance 0.01, not the spread of y.
    assert 0.004 < np.median(var[:, 0, 0]) < 0.03


def test_feature_names_and_negative_indices():
    df = pd.DataFrame(mixture_data(), columns=["a", "b", "c"])
    model = fit_quietly(GaussianMixture(2, random_state=0), df)
    cond = model.condition(["c"], [0.5])
    assert list(cond.feature_names_in_) == ["a", "b"]
    assert_allclose(cond.means_, model.condition([-1], [0.5]).means_)
    assert_allclose(model.predict_regression([[0.5]], ["c"], ["b"]),
                    model.predict_regression([[0.5]], [2], [1]))
    assert cond.predict(pd.DataFrame([[0.0, 0.0]], columns=["a", "b"])).shape == (1,)


def test_conditioned_model_is_a_working_model(tmp_path):
    model = fitted("full", n_components=2)
    cond = model.condition([1], [0.0])
    assert isinstance(cond, GaussianMixture)
    X = mixture_data()[:, [0, 2]]
    assert cond.predict_proba(X).shape == (len(X), 2)
    cond.save(tmp_path / "cond.npz")
    assert_allclose(gmmc.load(tmp_path / "cond.npz").score_samples(X), cond.score_samples(X))
    # Conditioning again: on both features at once, or one after the other.
    both = model.condition([1, 2], [0.0, 1.0])
    twice = cond.condition([1], [1.0])  # feature 2 of the original is 1 of cond
    assert_allclose(twice.means_, both.means_, rtol=1e-10)
    assert_allclose(twice.weights_, both.weights_, rtol=1e-10)
    assert_allclose(twice.covariances_, both.covariances_, rtol=1e-10)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: m.condition([0, 1, 2], [0, 0, 0]), ValueError, "every feature"),
    (lambda m: m.condition([3], [0]), ValueError, "out of range"),
    (lambda m: m.condition([0, 0], [1, 1]), ValueError, "repeated"),
    (lambda m: m.condition([0], [1, 2]), ValueError, "1 value"),
    (lambda m: m.condition([0], [np.nan]), ValueError, "finite"),
    (lambda m: m.condition(["a"], [0]), ValueError, "feature names"),
    (lambda m: m.condition([0.5], [0]), TypeError, "integers"),
    (lambda m: m.predict_regression([[1.0]], [0], [0]), ValueError, "both"),
    (lambda m: m.predict_regression([[1.0, 2.0]], [0], [1]), ValueError, "shape"),
    (lambda m: m.predict_regression([["x"]], [0], [1]), TypeError, "numeric"),
])
def test_invalid_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(fitted("full"))


def test_unfitted_model():
    with pytest.raises(NotFittedError):
        GaussianMixture(2).condition([0], [1.0])
    with pytest.raises(NotFittedError):
        GaussianMixture(2).predict_regression([[1.0]], [0])
