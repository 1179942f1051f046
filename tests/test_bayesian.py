"""gmmc.BayesianGaussianMixture against sklearn.mixture.BayesianGaussianMixture.

scikit-learn is the oracle: both estimators draw the same start from the same
``random_state`` (or continue from the same parameters) and must then produce
the same variational fit, attribute by attribute, to rounding.
"""
import io
import re
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import gmmc

from conftest import COVARIANCE_TYPES, blobs, iris

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "mean_precision_", "degrees_of_freedom_", "mean_prior_", "covariance_prior_")
SCALARS = ("weight_concentration_prior_", "mean_precision_prior_",
           "degrees_of_freedom_prior_")


def close(actual, desired, rtol, err_msg=""):
    """assert_allclose with an absolute floor of rtol / 100 of the array's magnitude
    (entries that are zero up to cancellation carry absolute rounding errors)."""
    desired = np.asarray(desired, dtype=np.float64)
    scale = np.abs(desired).max() if desired.size else 0.0
    assert np.shape(actual) == desired.shape, (err_msg, np.shape(actual), desired.shape)
    assert_allclose(np.asarray(actual, dtype=np.float64), desired, rtol=rtol,
                    atol=rtol * 1e-2 * scale, err_msg=err_msg)


def bounds(model):
    # scikit-learn's tied bounds are (1,) arrays.
    return np.array([np.ravel(b)[0] for b in model.lower_bounds_])


def assert_same_fit(gm, sk, X, rtol=1e-5, proba_atol=1e-7, methods=True):
    """Every fitted attribute and every method of the two models agree."""
    for name in ARRAYS:
        close(getattr(gm, name), getattr(sk, name), rtol, err_msg=name)
    for name in SCALARS:
        assert_allclose(getattr(gm, name), getattr(sk, name), rtol=1e-12, err_msg=name)
    if sk.weight_concentration_prior_type == "dirichlet_process":
        assert isinstance(gm.weight_concentration_, tuple)
        assert len(gm.weight_concentration_) == 2
        for part_gm, part_sk in zip(gm.weight_concentration_, sk.weight_concentration_):
            close(part_gm, part_sk, rtol, err_msg="weight_concentration_")
    else:
        close(gm.weight_concentration_, sk.weight_concentration_, rtol,
              err_msg="weight_concentration_")
    assert gm.n_iter_ == sk.n_iter_
    assert gm.converged_ == sk.converged_
    assert gm.n_features_in_ == sk.n_features_in_
    assert np.ndim(gm.lower_bound_) == 0
    assert_allclose(gm.lower_bound_, np.ravel(sk.lower_bound_)[0], rtol=rtol)
    assert len(gm.lower_bounds_) == len(sk.lower_bounds_)
    assert_allclose(bounds(gm), bounds(sk), rtol=rtol)
    if not methods:
        return
    proba_gm, proba_sk = gm.predict_proba(X), sk.predict_proba(X)
    assert_allclose(proba_gm, proba_sk, rtol=rtol, atol=proba_atol)
    ss_sk = sk.score_samples(X)
    assert_allclose(gm.score_samples(X), ss_sk, rtol=rtol, atol=rtol * np.abs(ss_sk).max())
    assert_allclose(gm.score(X), sk.score(X), rtol=rtol)
    # predict may only differ where the two largest probabilities tie.
    top2 = np.sort(np.column_stack([np.zeros(len(X)), proba_sk]), axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 10 * proba_atol + 1e-6
    assert_array_equal(gm.predict(X)[clear], sk.predict(X)[clear])


def fit_pair(X, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        warnings.simplefilter("ignore", gmmc.ConvergenceWarning)
        sk = SkBGM(**params).fit(X)
        gm = gmmc.BayesianGaussianMixture(**params).fit(X, sample_weight=sample_weight)
    return gm, sk


# -- the parity matrix: every covariance type, both priors, every start, 1/5/100 steps --

# k-means: gmmc's k-means is scikit-learn's (same k-means++ seeds, same Lloyd
# steps); on these well-separated blobs both converge to the same labels.
@pytest.mark.parametrize("max_iter", [1, 5, 100])
@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++",
                                         "kmeans"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_fixed_iterations(covariance_type, prior_type, init_params, max_iter):
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=4, covariance_type=covariance_type,
                      weight_concentration_prior_type=prior_type,
                      init_params=init_params, random_state=3, tol=0.0,
                      max_iter=max_iter)
    assert sk.n_iter_ == max_iter and not sk.converged_
    assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("name", ["iris", "blobs2", "blobs16"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_until_convergence(covariance_type, prior_type, name):
    """Default tol: the same number of iterations and the same converged fit."""
    X = iris() if name == "iris" else blobs(int(name[5:]))[0]
    gm, sk = fit_pair(X, n_components=5, covariance_type=covariance_type,
                      weight_concentration_prior_type=prior_type,
                      init_params="random", random_state=0, max_iter=500)
    assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_float32(covariance_type, prior_type):
    """float32 fits agree with scikit-learn's float32 ones; the probabilities
    to within twice scikit-learn's own float32 error (against its float64 fit
    of the same data), at least 1e-4."""
    X64 = blobs(5)[0]
    X = X64.astype(np.float32)
    for max_iter in (1, 5, 100):
        params = dict(n_components=4, covariance_type=covariance_type,
                      weight_concentration_prior_type=prior_type,
                      init_params="random", random_state=1, tol=0.0, max_iter=max_iter)
        gm, sk = fit_pair(X, **params)
        sk64 = fit_pair(X64, **params)[1]
        sk_error = np.abs(sk.predict_proba(X) - sk64.predict_proba(X64)).max()
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert getattr(gm, name).dtype == np.float32, name
        assert gm.predict_proba(X).dtype == np.float32
        assert_same_fit(gm, sk, X, rtol=2e-3, proba_atol=max(1e-4, 2 * sk_error))


# -- priors given by the user ------------------------------------------------------------

def given_priors(X, covariance_type, seed=0):
    rng = np.random.RandomState(seed)
    d = X.shape[1]
    a = rng.standard_normal((d, d))
    cov = {"full": a @ a.T / d + np.eye(d), "tied": a @ a.T / d + np.eye(d),
           "diag": rng.uniform(0.5, 2.0, d), "spherical": 1.7}[covariance_type]
    return dict(weight_concentration_prior=0.3, mean_precision_prior=0.05,
                mean_prior=X.mean(axis=0) + rng.standard_normal(d),
                degrees_of_freedom_prior=d + 2.5, covariance_prior=cov)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_given_priors(covariance_type, prior_type):
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=4, covariance_type=covariance_type,
                      weight_concentration_prior_type=prior_type,
                      init_params="random_from_data", random_state=2, tol=0.0,
                      max_iter=20, **given_priors(X, covariance_type))
    assert_same_fit(gm, sk, X)


def test_parity_degrees_of_freedom_prior_just_above_limit():
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=3, degrees_of_freedom_prior=4.01, random_state=0,
                      init_params="random", max_iter=10, tol=0.0)
    assert_same_fit(gm, sk, X)


# -- several starts, warm start, max_iter=0 ------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_n_init(covariance_type):
    X = blobs(5, centers=4, cluster_std=2.5)[0]
    params = dict(n_components=4, covariance_type=covariance_type, init_params="random",
                  tol=0.0, max_iter=3)
    gm, sk = fit_pair(X, n_init=4, random_state=13, **params)
    # The four starts, drawn one by one from the same generator, decide which
    # one wins; the winner must beat the others by more than rounding.
    rng = np.random.RandomState(13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        each = [SkBGM(random_state=rng, **params).fit(X).lower_bound_ for _ in range(4)]
    top = np.sort(np.ravel(each))
    assert top[-1] - top[-2] > 1e-8 * abs(top[-1])
    assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_warm_start(covariance_type, prior_type):
    X, _ = blobs(5)
    params = dict(n_components=4, covariance_type=covariance_type, warm_start=True,
                  weight_concentration_prior_type=prior_type, init_params="random",
                  random_state=4, max_iter=2, tol=1e-12)
    sk, gm = SkBGM(**params), gmmc.BayesianGaussianMixture(**params)
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
            gm.fit(X)
        assert_same_fit(gm, sk, X)


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_initial_parameters(covariance_type, init_params):
    """max_iter=0 returns the start itself (the last of the n_init starts, as
    scikit-learn), with lower_bound_ = -inf and no iteration."""
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=4, covariance_type=covariance_type,
                      init_params=init_params, random_state=0, max_iter=0, n_init=2)
    assert gm.n_iter_ == sk.n_iter_ == 0 and gm.lower_bounds_ == sk.lower_bounds_ == []
    assert gm.lower_bound_ == -np.inf and not gm.converged_
    assert_same_fit(gm, sk, X, rtol=1e-9)


def test_max_iter_zero_does_not_warn():
    X, _ = blobs(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gmmc.BayesianGaussianMixture(n_components=2, max_iter=0).fit(X)


def test_convergence_warning_as_sklearn():
    X, _ = blobs(2)
    for cls in (SkBGM, gmmc.BayesianGaussianMixture):
        with pytest.warns(SkConvergenceWarning, match="did not converge"):
            cls(n_components=3, max_iter=2, random_state=0).fit(X)


# -- sample weights ---------------------------------------------------------------------------

@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_weight_equals_repeated_rows(covariance_type, prior_type):
    """Integer weights act as repeated rows: scikit-learn on the repeated rows is
    the oracle, both continuing from the same start (warm start), priors
    included (the weighted mean and covariance of the data)."""
    X, _ = blobs(2)
    w = np.random.RandomState(0).randint(0, 4, size=len(X))
    Xr = np.repeat(X, w, axis=0)
    params = dict(n_components=3, covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type, random_state=1,
                  init_params="random", tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkBGM(max_iter=1, **params).fit(Xr)
        gm = gmmc.BayesianGaussianMixture(**params)
        for name in ("weight_concentration_", "mean_precision_", "means_",
                     "degrees_of_freedom_", "covariances_", "precisions_cholesky_",
                     "converged_", "lower_bound_"):
            value = getattr(sk, name)
            setattr(gm, name, tuple(np.copy(v) for v in value) if isinstance(value, tuple)
                    else np.copy(value))
        gm.means_ = gm.means_.copy()
        sk.set_params(warm_start=True, max_iter=6)
        gm.set_params(warm_start=True, max_iter=6)
        sk.fit(Xr)
        gm.fit(X, sample_weight=w)
    assert_same_fit(gm, sk, Xr)


# -- prediction on other data, sampling, fit_predict, threads ---------------------------------

def test_methods_on_new_data_and_fit_predict():
    X, _ = blobs(5)
    X_new = X[::3] + 0.5
    gm, sk = fit_pair(X, n_components=4, init_params="random", random_state=0)
    assert_same_fit(gm, sk, X_new)
    labels = gmmc.BayesianGaussianMixture(n_components=4, init_params="random",
                                          random_state=0).fit_predict(X)
    assert_array_equal(labels, gm.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_parity(covariance_type):
    X, _ = blobs(5)
    gm, sk = fit_pair(X, n_components=4, covariance_type=covariance_type,
                      init_params="random", random_state=0, max_iter=20)
    for n in (1, 9, 500):
        gm.random_state = sk.random_state = 42
        X_gm, y_gm = gm.sample(n)
        X_sk, y_sk = sk.sample(n)
        assert_array_equal(y_gm, y_sk)
        assert_allclose(X_gm, X_sk, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_threads_do_not_change_the_fit(covariance_type):
    X, _ = blobs(5, n_samples=30_000, centers=4)
    params = dict(n_components=5, covariance_type=covariance_type, init_params="random",
                  random_state=0, max_iter=10, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = gmmc.BayesianGaussianMixture(n_threads=1, **params).fit(X)
        two = gmmc.BayesianGaussianMixture(n_threads=2, **params).fit(X)
    for name in ARRAYS:
        close(getattr(two, name), getattr(one, name), 1e-10, err_msg=name)
    assert_allclose(two.lower_bounds_, one.lower_bounds_, rtol=1e-12)


# -- verbose output, feature names, parameters -------------------------------------------------

def printed(model, X):
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return re.sub(r"\d+\.\d+", "#", out.getvalue())


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_output_as_sklearn(verbose):
    X, _ = blobs(2)
    params = dict(n_components=3, verbose=verbose, verbose_interval=2, n_init=2,
                  max_iter=5, random_state=0, init_params="random")
    assert printed(gmmc.BayesianGaussianMixture(**params), X) == printed(SkBGM(**params), X)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = blobs(2)
    df = pd.DataFrame(X, columns=["a", "b"])
    gm = gmmc.BayesianGaussianMixture(n_components=2, random_state=0).fit(df)
    sk = SkBGM(n_components=2, random_state=0).fit(df)
    assert_array_equal(gm.feature_names_in_, sk.feature_names_in_)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        gm.predict(X)
    with pytest.raises(ValueError, match="feature names should match"):
        gm.predict(df.rename(columns={"a": "c"}))


def test_constructor_is_sklearns():
    gm, sk = gmmc.BayesianGaussianMixture(), SkBGM()
    ours = gm.get_params()
    assert ours.pop("n_threads") is None
    assert ours == sk.get_params()
    with pytest.raises(TypeError):
        gmmc.BayesianGaussianMixture(3)  # keyword-only, as scikit-learn's
    assert "BayesianGaussianMixture(n_components=3)" == repr(
        gmmc.BayesianGaussianMixture(n_components=3))


def test_unfitted():
    with pytest.raises(gmmc.NotFittedError, match="not fitted yet"):
        gmmc.BayesianGaussianMixture().predict(iris())


D = 5
BAD_PARAMS = [
    dict(n_components=0), dict(tol=-1.0), dict(reg_covar=-1.0), dict(max_iter=-1),
    dict(n_init=0), dict(covariance_type="bogus"), dict(init_params="bogus"),
    dict(verbose_interval=0), dict(random_state="seed"),
    dict(weight_concentration_prior_type="bogus"),
    dict(weight_concentration_prior=0.0), dict(weight_concentration_prior=-1.0),
    dict(weight_concentration_prior="big"),
    dict(mean_precision_prior=0.0), dict(mean_precision_prior=-2.0),
    dict(mean_prior=np.zeros(D + 1)), dict(mean_prior=np.zeros((1, D))),
    dict(mean_prior=np.full(D, np.nan)),
    dict(degrees_of_freedom_prior=D - 1.0), dict(degrees_of_freedom_prior=0.5),
    dict(degrees_of_freedom_prior=-1.0),
    dict(covariance_prior=np.eye(D + 1)),
    dict(covariance_prior=np.eye(D) - 2 * np.eye(D)),
    dict(covariance_prior=np.eye(D) + np.triu(np.ones((D, D)), 1)),
    dict(covariance_prior=-1.0),
    dict(covariance_type="tied", covariance_prior=np.ones(D)),
    dict(covariance_type="diag", covariance_prior=-np.ones(D)),
    dict(covariance_type="diag", covariance_prior=np.ones(D + 1)),
    dict(covariance_type="spherical", covariance_prior=0.0),
    dict(covariance_type="spherical", covariance_prior=-3.0),
]


@pytest.mark.parametrize("params", BAD_PARAMS, ids=[repr(p)[:50] for p in BAD_PARAMS])
def test_bad_parameters_raise_as_sklearn(params):
    """scikit-learn rejects each of these; gmmc does too, with a ValueError or a
    TypeError that names the parameter, before touching the model."""
    X, _ = blobs(D)
    params = dict(dict(n_components=2), **params)
    with pytest.raises(ValueError):  # InvalidParameterError is a ValueError
        SkBGM(**params).fit(X)
    gm = gmmc.BayesianGaussianMixture(**params)
    with pytest.raises((ValueError, TypeError)) as info:
        gm.fit(X)
    name = list(params)[-1]
    assert name.split("_prior")[0] in str(info.value) or name in str(info.value)
    assert not hasattr(gm, "means_")


def test_spherical_covariance_prior_must_be_a_number():
    X, _ = blobs(D)
    with pytest.raises((TypeError, ValueError), match="covariance_prior"):
        gmmc.BayesianGaussianMixture(covariance_type="spherical",
                                     covariance_prior="wide").fit(X)


# -- streamed data: the in-memory fit, block by block ---------------------------------

def assert_same_streamed_fit(streamed, ref, rtol=1e-7):
    """Every fitted attribute of a streamed fit is the in-memory one's, to rtol."""
    for name in ARRAYS + ("weights_", "means_", "covariances_"):
        close(getattr(streamed, name), getattr(ref, name), rtol, err_msg=name)
    for name in SCALARS:
        assert_allclose(getattr(streamed, name), getattr(ref, name), rtol=1e-12, err_msg=name)
    for part, want in zip(np.atleast_2d(streamed.weight_concentration_),
                          np.atleast_2d(ref.weight_concentration_)):
        close(part, want, rtol, err_msg="weight_concentration_")
    assert streamed.n_iter_ == ref.n_iter_
    assert streamed.converged_ == ref.converged_
    assert_allclose(streamed.lower_bound_, ref.lower_bound_, rtol=rtol)
    assert_allclose(streamed.lower_bounds_, ref.lower_bounds_, rtol=rtol)
    assert streamed.n_samples_seen_ == pytest.approx(ref.n_samples_seen_, rel=1e-12)
    assert streamed.means_.dtype == ref.means_.dtype


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streamed_memmap_fit_equals_the_in_memory_fit(covariance_type, prior_type, tmp_path,
                                                      monkeypatch):
    """A memmap read in several blocks (with the priors' defaults, the data's mean
    and covariance, computed over the blocks) fits the model np.asarray gives."""
    X, _ = blobs(3, n_samples=900, centers=3, seed=1)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    monkeypatch.setattr(gmmc._sources, "DEFAULT_BLOCK_BYTES", 128 * 8 * X.shape[1])
    reads = []
    read = gmmc.RowBlocks.read
    monkeypatch.setattr(gmmc.RowBlocks, "read", lambda self, start, stop, *more:
                        reads.append(stop - start) or read(self, start, stop, *more))
    params = dict(n_components=5, covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type, max_iter=300,
                  random_state=0)
    ref = gmmc.BayesianGaussianMixture(**params).fit(np.asarray(mm))
    assert not reads
    streamed = gmmc.BayesianGaussianMixture(**params).fit(mm)
    assert max(reads) == 128 and sum(reads) > 2 * len(X)  # block by block, pass by pass
    assert_same_streamed_fit(streamed, ref)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_streamed_row_blocks_fit_equals_the_in_memory_fit(init_params):
    """RowBlocks with sample weights and given priors, each start, and fit_predict."""
    X, _ = blobs(2, n_samples=700, centers=4, seed=2)
    w = np.random.RandomState(3).uniform(0.0, 2.0, len(X))
    w[::9] = 0.0
    for cov, extra in (("full", {}), ("diag", dict(mean_prior=[0.0, 1.0],
                                                   covariance_prior=[2.0, 3.0]))):
        params = dict(n_components=4, covariance_type=cov, init_params=init_params,
                      max_iter=200, random_state=0, **extra)
        ref = gmmc.BayesianGaussianMixture(**params)
        labels = ref.fit_predict(X, sample_weight=w)
        streamed = gmmc.BayesianGaussianMixture(**params)
        streamed_labels = streamed.fit_predict(gmmc.RowBlocks(X, block_rows=100),
                                               sample_weight=w)
        assert_same_streamed_fit(streamed, ref)
        assert_array_equal(streamed_labels, labels)


def test_streamed_fit_checks_as_the_in_memory_fit(tmp_path):
    X, _ = blobs(2, n_samples=300)
    blocks = gmmc.RowBlocks(X, block_rows=50)
    w = np.zeros(len(X))
    w[:3] = 0.25  # a total weight of 0.75: no default covariance_prior
    for data in (X, blocks):
        with pytest.raises(ValueError, match="needs a total sample weight above 1"):
            gmmc.BayesianGaussianMixture(n_components=2).fit(data, sample_weight=w)
        with pytest.raises(ValueError, match="n_samples >= n_components"):
            gmmc.BayesianGaussianMixture(n_components=400).fit(data)
        with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
            gmmc.BayesianGaussianMixture(degrees_of_freedom_prior=0.5).fit(data)
    bad = X.copy()
    bad[123, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gmmc.BayesianGaussianMixture(n_components=2).fit(gmmc.RowBlocks(bad, block_rows=50))


def test_no_n_by_d_temporaries():
    """Peak NumPy memory of a float32 fit beyond X stays a fraction of X (a few MB
    of fixed-size chunk temporaries, as GaussianMixture; N = 400 000)."""
    import tracemalloc

    n, d = 400_000, 16
    rng = np.random.RandomState(0)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 50_000):
        X[start:start + 50_000] = rng.standard_normal((50_000, d))
    for cov in COVARIANCE_TYPES:
        model = gmmc.BayesianGaussianMixture(n_components=8, covariance_type=cov,
                                             init_params="k-means++", random_state=0,
                                             max_iter=2, n_threads=2)
        tracemalloc.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 0.3 * X.nbytes, f"{cov}: {peak / X.nbytes:.2f} X"


def test_select_and_patch_are_for_gaussian_mixture_only():
    assert issubclass(gmmc.BayesianGaussianMixture, object)
    assert not issubclass(gmmc.BayesianGaussianMixture, gmmc.GaussianMixture)
    assert not hasattr(gmmc.BayesianGaussianMixture, "bic")
