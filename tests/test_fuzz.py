"""Property-based tests (hypothesis): random shapes, dtypes, scales, covariance types.

Properties: the only exceptions are the documented ones; fitted parameters and
outputs have no NaN; log-likelihoods are finite; float32 stays float32;
score_samples agrees with a NumPy reference; invalid values give ValueError/TypeError.

The examples are derandomized (the same ones on every run, so CI is
reproducible); set GMMC_FUZZ_RANDOM=1 to draw new ones on each run.
"""
import os
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from gmmc import GaussianMixture  # noqa: E402

from conftest import COVARIANCE_TYPES, full_covariances  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    derandomize="GMMC_FUZZ_RANDOM" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])

# Errors a valid but hopeless data set may raise, with the words that say so.
DOCUMENTED = ("ill-defined empirical covariance", "Rescale X")


@st.composite
def data_sets(draw):
    """(X, n_components): clusters at random offsets and scales, sometimes with
    duplicated rows or constant features, in float32 or float64."""
    n_features = draw(st.integers(1, 5))
    n_components = draw(st.integers(1, 4))
    n_samples = draw(st.integers(max(2, n_components), 60))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = 10.0 ** draw(st.integers(-8, 8))
    offset = draw(st.sampled_from([0.0, 1.0, -1e3, 1e4]))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.RandomState(seed)
    centers = rng.standard_normal((n_components, n_features)) * 5
    labels = rng.randint(n_components, size=n_samples)
    X = centers[labels] + rng.standard_normal((n_samples, n_features))
    if draw(st.booleans()):  # duplicated rows
        X[n_samples // 2:] = X[: n_samples - n_samples // 2]
    if n_features > 1 and draw(st.booleans()):  # a constant feature
        X[:, -1] = 3.0
    return (offset + scale * X).astype(dtype), n_components


def fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning is allowed
        try:
            return GaussianMixture(n_threads=1, **params).fit(X)
        except ValueError as exc:
            assert any(words in str(exc) for words in DOCUMENTED), exc
            return None


@SETTINGS
@given(data=data_sets(), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
       random_state=st.integers(0, 1000))
def test_fit_and_predict_never_produce_nan(data, covariance_type, init_params, random_state):
    X, k = data
    gm = fit(X, n_components=k, covariance_type=covariance_type, init_params=init_params,
             random_state=random_state, max_iter=30)
    if gm is None:
        return
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_"):
        value = getattr(gm, name)
        assert value.dtype == X.dtype, name
        assert np.isfinite(value).all(), name
    assert np.isfinite(gm.lower_bound_)
    log_p = gm.score_samples(X)
    resp = gm.predict_proba(X)
    assert log_p.dtype == X.dtype and resp.dtype == X.dtype
    assert np.isfinite(log_p).all()
    assert np.isfinite(resp).all() and (resp >= 0).all()
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-4 if X.dtype == np.float32 else 1e-10)
    labels = gm.predict(X)
    assert ((0 <= labels) & (labels < k)).all()
    sample, _ = gm.sample(5)
    assert sample.dtype == X.dtype and np.isfinite(sample).all()


def gaussian_logpdf(X, mean, cov):
    """log N(x; mean, cov) by definition, with NumPy's LU (slogdet, solve)."""
    sign, log_det = np.linalg.slogdet(cov)
    diff = X - mean
    maha = np.einsum("ij,ij->i", diff, np.linalg.solve(cov, diff.T).T)
    return -0.5 * (X.shape[1] * np.log(2 * np.pi) + log_det + maha)


@SETTINGS
@given(data=data_sets(), covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_score_samples_match_numpy(data, covariance_type):
    X, k = data
    X = X.astype(np.float64)
    gm = fit(X, n_components=k, covariance_type=covariance_type, random_state=0,
             max_iter=10)
    if gm is None:
        return
    d = X.shape[1]
    covs = full_covariances(gm.covariances_, covariance_type, k, d)
    # The covariances can be very ill-conditioned (a rank-deficient scatter plus
    # reg_covar); the tolerance follows their condition number.
    cond = max(np.linalg.cond(c) for c in covs)
    assume(cond < 1e12)  # beyond, no float64 reference is meaningful
    lp = np.column_stack([np.log(gm.weights_[j]) + gaussian_logpdf(X, gm.means_[j], covs[j])
                          for j in range(k)])
    ref = np.logaddexp.reduce(lp, axis=1)
    eps = np.finfo(np.float64).eps
    rtol = 1e-8 + 100 * cond * eps
    # The kernels expand the quadratic forms about the mixture mean c: their
    # rounding error scales with max |x - c|^2 * max eigenvalue of the precisions.
    c = gm.weights_ @ gm.means_
    terms = ((X - c) ** 2).sum(axis=1).max() * max(1 / np.linalg.eigvalsh(covs).min(), 1)
    atol = rtol * np.abs(ref).max() + 64 * eps * terms
    assert_allclose(gm.score_samples(X), ref, rtol=rtol, atol=atol)


@SETTINGS
@given(X=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2,
                                                 max_side=12),
                    elements=st.floats(allow_nan=True, allow_infinity=True)),
       n_components=st.integers(1, 3))
def test_arbitrary_float_arrays(X, n_components):
    """Any float array, NaN, inf and 1e308 included: a fit or a documented error."""
    before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm = GaussianMixture(n_components, random_state=0, n_threads=1,
                                 max_iter=10).fit(X)
        except ValueError as exc:
            message = str(exc)
            assert any(words in message for words in DOCUMENTED + (
                "contains NaN", "contains infinity", "n_samples >= n_components")), message
            gm = None
    np.testing.assert_array_equal(X, before)
    if gm is not None:
        assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()
        assert np.isfinite(gm.lower_bound_)
        assert not np.isnan(gm.predict_proba(X)).any()
        assert not np.isnan(gm.score_samples(X)).any()


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 5),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                    st.lists(st.floats(-1, 2), max_size=3))


@SETTINGS
@given(params=st.fixed_dictionaries({}, optional={
    "n_components": _VALUES, "tol": _VALUES, "reg_covar": _VALUES, "max_iter": _VALUES,
    "n_init": _VALUES, "covariance_type": _VALUES, "init_params": _VALUES,
    "weights_init": _VALUES, "verbose_interval": _VALUES}))
def test_random_parameters_give_only_value_or_type_errors(params):
    X = np.random.RandomState(0).standard_normal((20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm = GaussianMixture(random_state=0, n_threads=1, **params).fit(X)
        except (ValueError, TypeError) as exc:
            assert str(exc)
            return
    assert np.isfinite(gm.means_).all()
