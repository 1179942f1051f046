"""Bad input gives a clear ValueError/TypeError naming the argument, never a crash,
and leaves the caller's data unchanged; odd-but-valid input works.

Oracles: NumPy conversions of the same data (an int array must fit exactly as
its float64 copy does), scikit-learn's decisions, and the inputs' own copies.
"""
import copy
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from gmmc import GaussianMixture, NotFittedError, _em, _kmeans

from conftest import COVARIANCE_TYPES, iris

METHODS = ("fit", "fit_predict", "predict", "predict_proba", "score_samples", "score")
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def fitted():
    """A model fitted on iris (D=4); never modified by the tests."""
    return GaussianMixture(2, random_state=0, n_threads=1).fit(iris())


def call(model, method, X):
    if method in ("fit", "fit_predict"):
        return getattr(GaussianMixture(2, random_state=0, n_threads=1), method)(X)
    return getattr(model, method)(X)


def snapshot(X):
    """A deep copy of X, whatever it is, for checking that it is unchanged."""
    if sp.issparse(X):
        return X.copy()
    return copy.deepcopy(X)


def assert_unchanged(X, before):
    assert type(X) is type(before)
    if sp.issparse(X):
        assert_array_equal(X.toarray(), before.toarray())
    elif isinstance(X, np.ndarray):
        assert X.dtype == before.dtype and X.shape == before.shape
        if X.dtype.kind == "O":
            assert all(a is b or a == b or (a != a and b != b)
                       for a, b in zip(X.ravel(), before.ravel()))
        else:
            assert_array_equal(X, before)
    else:
        assert X == before


def _with(value, row=3, col=1):
    X = iris()
    X[row, col] = value
    return X


def _object_with(value):
    X = iris().astype(object)
    X[2, 2] = value
    return X


# name -> (make X, exception type, regex the message must match)
BAD_X = {
    "nan": (lambda: _with(np.nan), ValueError, r"Input X contains NaN"),
    "+inf": (lambda: _with(np.inf), ValueError, r"Input X contains infinity"),
    "-inf": (lambda: _with(-np.inf), ValueError, r"Input X contains infinity"),
    "nan float32": (lambda: _with(np.nan).astype(np.float32), ValueError, r"X contains NaN"),
    "empty": (lambda: np.empty((0, 4)), ValueError,
              r"X: found array with 0 sample\(s\) \(shape=\(0, 4\)\) while a minimum of \d "
              r"is required by GaussianMixture"),
    "no features": (lambda: np.empty((10, 0)), ValueError,
                    r"X: found array with 0 feature\(s\) \(shape=\(10, 0\)\)"),
    "1-D": (lambda: iris()[:, 0], ValueError, r"X must be a 2-D array, got 1-D.*Reshape"),
    "3-D": (lambda: iris()[None], ValueError, r"X must be a 2-D array, got 3-D"),
    "scalar": (lambda: 3.0, ValueError, r"X must be a 2-D array, got 0-D"),
    "None": (lambda: None, ValueError, r"X must be a 2-D array, got 0-D"),
    "strings": (lambda: iris().astype(str), ValueError, r"X holds strings"),
    "bytes": (lambda: iris().astype(bytes), ValueError, r"X holds strings"),
    "object dict": (lambda: _object_with({"a": 1}), TypeError,
                    r"X must contain only numbers.*argument must be a string or a real number"),
    "object None": (lambda: _object_with(None), ValueError, r"Input X contains NaN"),
    "object text": (lambda: _object_with("abc"), ValueError, r"X must contain only numbers"),
    "object nan": (lambda: _object_with(float("nan")), ValueError, r"Input X contains NaN"),
    "complex": (lambda: iris() + 1j, ValueError, r"Complex data not supported"),
    "complex64": (lambda: iris().astype(np.complex64), ValueError, r"Complex data not supported"),
    "datetime": (lambda: np.zeros((10, 4), dtype="datetime64[s]"), TypeError,
                 r"X must be numeric, got dtype datetime64"),
    "csr": (lambda: sp.csr_matrix(iris()), TypeError, r"Sparse data was passed for X"),
    "csr_array": (lambda: sp.csr_array(iris()), TypeError, r"Sparse data was passed for X"),
    "coo": (lambda: sp.coo_matrix(iris()), TypeError, r"Sparse data was passed for X"),
    "ragged list": (lambda: [[1.0, 2.0], [3.0]] * 5, ValueError,
                    r"X could not be converted to a numeric array"),
    "1e300": (lambda: iris() * 1e300, ValueError,
              r"X has values up to .* in magnitude.*overflow float64.*Rescale X"),
    "1e200 float32 limit": (lambda: (iris() * 1e19).astype(np.float32), ValueError,
                            r"overflow float32"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_X_raises_clear_error_and_leaves_X_unchanged(fitted, case, method):
    make, error, pattern = BAD_X[case]
    X = make()
    before = snapshot(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error, not a warning, must come first
        with pytest.raises(error, match=pattern):
            call(fitted, method, X)
    assert_unchanged(X, before)


@pytest.mark.parametrize("method", ["fit", "predict", "predict_proba", "score_samples"])
@pytest.mark.parametrize("case", ["nan", "+inf", "1e300", "1-D", "empty", "complex"])
def test_bad_memory_mapped_X(fitted, case, method, tmp_path):
    """Memory-mapped input (streamed by fit in blocks) gets the same checks."""
    make, error, pattern = BAD_X[case]
    X = _memmap(np.asarray(make()), tmp_path)
    before = np.array(X)
    with pytest.raises(error, match=pattern):
        call(fitted, method, X)
    assert_array_equal(X, before)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
@pytest.mark.parametrize("n_features", [1, 3, 5])
def test_wrong_n_features_at_predict(fitted, method, n_features):
    X = np.random.RandomState(0).standard_normal((6, n_features))
    with pytest.raises(ValueError, match=f"X has {n_features} features, but GaussianMixture "
                                         "is expecting 4 features as input"):
        getattr(fitted, method)(X)


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_n_samples_below_n_components(method):
    X = iris()[:3]
    # The same decision and message as scikit-learn.
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    with pytest.raises(ValueError) as sk_error:
        getattr(SkGaussianMixture(5), method)(X)
    with pytest.raises(ValueError) as error:
        getattr(GaussianMixture(5), method)(X)
    assert str(error.value) == str(sk_error.value)
    assert "n_components = 5, n_samples = 3" in str(error.value)


def test_a_single_sample_cannot_be_fitted():
    with pytest.raises(ValueError, match=r"1 sample\(s\) .* minimum of 2 is required"):
        GaussianMixture(1).fit(iris()[:1])


def _readonly(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _memmap(X, tmp_path):
    path = tmp_path / "X.dat"
    out = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    out[:] = X
    out.flush()
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)


# name -> (make X from float64 data, its float64 equivalent)
GOOD_X = {
    "int64": lambda X, tmp: np.round(X * 10).astype(np.int64),
    "int32": lambda X, tmp: np.round(X * 10).astype(np.int32),
    "uint8": lambda X, tmp: np.round(X * 10).astype(np.uint8),
    "float16": lambda X, tmp: X.astype(np.float16),
    "object": lambda X, tmp: X.astype(object),
    "fortran": lambda X, tmp: np.asfortranarray(X),
    "strided rows": lambda X, tmp: np.repeat(X, 2, axis=0)[::2],
    "strided columns": lambda X, tmp: np.hstack([X, X])[:, ::2],
    "negative strides": lambda X, tmp: X[::-1][::-1],
    "read-only": lambda X, tmp: _readonly(X),
    "read-only memmap": lambda X, tmp: _memmap(X, tmp),
    "list": lambda X, tmp: X.tolist(),
    "tuple of tuples": lambda X, tmp: tuple(map(tuple, X)),
}


@pytest.mark.parametrize("case", list(GOOD_X))
def test_valid_input_kinds_fit_as_their_float64_copy(case, tmp_path):
    base = iris()
    X = GOOD_X[case](base, tmp_path)
    before = snapshot(X) if not isinstance(X, np.memmap) else np.array(X)
    reference = np.array(np.asarray(X), dtype=np.float64)  # NumPy's conversion: the oracle
    a = GaussianMixture(3, random_state=0, n_threads=1).fit(X)
    b = GaussianMixture(3, random_state=0, n_threads=1).fit(reference)
    for name in FITTED:
        assert getattr(a, name).dtype == np.float64
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for method in ("predict", "predict_proba", "score_samples"):
        assert_array_equal(getattr(a, method)(X), getattr(b, method)(reference))
    if isinstance(X, np.memmap):
        assert_array_equal(X, before)
    else:
        assert_unchanged(X, before)


def test_boolean_input_is_float64_zeros_and_ones():
    X = iris() > np.median(iris(), axis=0)
    a = GaussianMixture(2, random_state=0, n_threads=1).fit(X)
    b = GaussianMixture(2, random_state=0, n_threads=1).fit(X.astype(np.float64))
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X.astype(np.float64)))


def test_pandas_dataframe_works_and_remembers_feature_names():
    pd = pytest.importorskip("pandas")
    X = iris()
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    before = df.copy()
    gm = GaussianMixture(3, random_state=0, n_threads=1).fit(df)
    ref = GaussianMixture(3, random_state=0, n_threads=1).fit(X)
    assert_array_equal(gm.feature_names_in_, ["sl", "sw", "pl", "pw"])
    assert gm.feature_names_in_.dtype == object
    assert gm.n_features_in_ == 4
    assert_array_equal(gm.means_, ref.means_)
    assert_array_equal(gm.predict_proba(df), ref.predict_proba(X))
    pd.testing.assert_frame_equal(df, before)
    # Columns in another order, or other names: an error, as in scikit-learn.
    with pytest.raises(ValueError, match="feature names should match those that were "
                                         "passed during fit.\nFeature names must be in "
                                         "the same order"):
        gm.predict(df[["sw", "sl", "pl", "pw"]])
    with pytest.raises(ValueError, match="unseen at fit time:\n- x\n.*yet now missing:"
                                         "\n- pw\n"):
        gm.predict(df.rename(columns={"pw": "x"}))
    # Names at fit but not at predict, or the reverse: a warning, as in scikit-learn.
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                                         "GaussianMixture was fitted with feature names"):
        gm.predict(X)
    with pytest.warns(UserWarning, match="X has feature names, but GaussianMixture was "
                                         "fitted without feature names"):
        ref.predict(df)
    # Refitting on an array forgets the names.
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_")
    # Non-string column names are no feature names; mixed ones are an error.
    gm.fit(pd.DataFrame(X))
    assert not hasattr(gm, "feature_names_in_")
    with pytest.raises(TypeError, match="column names must all be strings"):
        gm.fit(pd.DataFrame(X, columns=["a", "b", 3, 4]))


def test_pandas_nullable_and_object_columns():
    pd = pytest.importorskip("pandas")
    X = iris()
    df = pd.DataFrame({"a": pd.array(np.round(X[:, 0] * 10), dtype="Int64"),
                       "b": X[:, 1].astype(object), "c": X[:, 2]})
    gm = GaussianMixture(2, random_state=0, n_threads=1).fit(df)
    ref = GaussianMixture(2, random_state=0, n_threads=1).fit(
        np.c_[np.round(X[:, 0] * 10), X[:, 1:3]])
    assert_array_equal(gm.means_, ref.means_)
    df.loc[3, "a"] = pd.NA
    with pytest.raises((TypeError, ValueError), match="X"):
        gm.fit(df)


def _start_from_halves(X, covariance_type, reg_covar=1e-6):
    """(weights, means, precisions) of the two halves of X (NumPy only)."""
    halves = np.array_split(np.arange(len(X)), 2)
    weights = np.array([len(h) / len(X) for h in halves])
    means = np.array([X[h].mean(axis=0) for h in halves])
    covs = np.array([np.cov(X[h].T, bias=True) for h in halves])
    eye = np.eye(X.shape[1])
    if covariance_type == "full":
        precisions = np.linalg.inv(covs + reg_covar * eye)
    elif covariance_type == "tied":
        precisions = np.linalg.inv(np.tensordot(weights, covs, 1) + reg_covar * eye)
    elif covariance_type == "diag":
        precisions = 1.0 / (np.diagonal(covs, axis1=1, axis2=2) + reg_covar)
    else:
        precisions = 1.0 / (np.diagonal(covs, axis1=1, axis2=2).mean(axis=1) + reg_covar)
    if covariance_type in ("full", "tied"):
        precisions = (precisions + np.swapaxes(precisions, -1, -2)) / 2
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e-30, 1e30, 1e100, 1e150])
def test_extreme_but_representable_scales_fit_like_sklearn(scale, covariance_type):
    """Data scaled by 1e-300..1e150 fits, finite, as scikit-learn's from the same start.

    At 1e-300 every squared distance underflows to 0 and the covariances are
    reg_covar alone; at 1e150 squares are near the top of float64.
    """
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    X = iris() * scale
    init = _start_from_halves(X, covariance_type)
    params = dict(n_components=2, covariance_type=covariance_type, random_state=0)
    default = GaussianMixture(n_threads=1, **params)
    gm = GaussianMixture(n_threads=1, **params, **init)
    sk = SkGaussianMixture(**params, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default.fit(X)
        gm.fit(X)
        sk.fit(X)
    for model in (default, gm):
        for name in FITTED:
            assert np.isfinite(getattr(model, name)).all(), name
        for out in (model.score_samples(X), model.predict_proba(X)):
            assert np.isfinite(out).all()
        assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    assert gm.n_iter_ == sk.n_iter_
    assert_allclose(gm.means_, sk.means_, rtol=1e-6)
    assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-5,
                    atol=1e-12 * np.abs(sk.covariances_).max())
    assert_allclose(gm.lower_bound_, sk.lower_bound_, rtol=1e-6, atol=1e-6)
    assert_allclose(gm.score_samples(X), sk.score_samples(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples"])
def test_huge_values_at_predict_raise(fitted, method):
    X = iris()
    X[0, 0] = 1e300
    before = X.copy()
    with pytest.raises(ValueError, match="X has values up to 1e\\+300 in magnitude"):
        getattr(fitted, method)(X)
    assert_array_equal(X, before)


# -- parameters ---------------------------------------------------------------------

K, D = 2, 4
SPD = np.eye(D) * 2.0
NOT_PD = np.diag([1.0, 1.0, -1.0, 1.0])
NOT_SYMMETRIC = np.eye(D) + np.triu(np.ones((D, D)), 1)

# (parameters, exception type, words the message must contain)
BAD_PARAMS = [
    (dict(n_components=0), ValueError, ["n_components", ">= 1", "0"]),
    (dict(n_components=-3), ValueError, ["n_components", ">= 1"]),
    (dict(n_components=1.5), TypeError, ["n_components", "int"]),
    (dict(n_components="2"), TypeError, ["n_components", "int"]),
    (dict(n_components=None), TypeError, ["n_components"]),
    (dict(tol=-1e-3), ValueError, ["tol", ">= 0"]),
    (dict(tol=np.nan), ValueError, ["tol", "finite"]),
    (dict(tol="small"), TypeError, ["tol"]),
    (dict(reg_covar=-1.0), ValueError, ["reg_covar", ">= 0"]),
    (dict(reg_covar=np.inf), ValueError, ["reg_covar", "finite"]),
    (dict(max_iter=-1), ValueError, ["max_iter", ">= 0"]),
    (dict(max_iter=10.0), TypeError, ["max_iter", "int"]),
    (dict(n_init=0), ValueError, ["n_init", ">= 1"]),
    (dict(covariance_type="bogus"), ValueError, ["covariance_type", "bogus", "full"]),
    (dict(covariance_type=None), ValueError, ["covariance_type", "None"]),
    (dict(covariance_type=["full"]), ValueError, ["covariance_type"]),
    (dict(init_params="kmedoids"), ValueError, ["init_params", "kmedoids"]),
    (dict(random_state="seed"), ValueError, ["random_state", "seed"]),
    (dict(warm_start="yes"), TypeError, ["warm_start", "bool"]),
    (dict(verbose=-1), ValueError, ["verbose"]),
    (dict(verbose_interval=0), ValueError, ["verbose_interval"]),
    (dict(n_threads=0), ValueError, ["n_threads"]),
    (dict(weights_init=[0.3, 0.3]), ValueError, ["'weights'", "should be normalized"]),
    (dict(weights_init=[1.5, -0.5]), ValueError, ["'weights'", "in the range [0, 1]"]),
    (dict(weights_init=[1.0]), ValueError, ["'weights'", "shape of (2,)"]),
    (dict(weights_init=[[0.5, 0.5]]), ValueError, ["'weights'", "shape of (2,)"]),
    (dict(weights_init=[np.nan, 0.5]), ValueError, ["'weights'", "finite"]),
    (dict(weights_init=["a", "b"]), TypeError, ["'weights'", "numeric"]),
    (dict(means_init=np.zeros((3, D))), ValueError, ["'means'", "shape of (2, 4)"]),
    (dict(means_init=np.zeros((K, D + 1))), ValueError, ["'means'", "shape of (2, 4)"]),
    (dict(means_init=np.zeros(K * D)), ValueError, ["'means'", "shape of (2, 4)"]),
    (dict(means_init=np.full((K, D), np.inf)), ValueError, ["'means'", "finite"]),
    (dict(precisions_init=np.stack([SPD] * 3)), ValueError,
     ["'full precision'", "shape of (2, 4, 4)"]),
    (dict(precisions_init=SPD), ValueError, ["'full precision'", "shape of (2, 4, 4)"]),
    (dict(precisions_init=np.stack([SPD, NOT_PD])), ValueError,
     ["precisions_init[1]", "positive definite"]),
    (dict(precisions_init=np.stack([NOT_SYMMETRIC, SPD])), ValueError,
     ["precisions_init[0]", "symmetric"]),
    (dict(covariance_type="tied", precisions_init=NOT_PD), ValueError,
     ["'tied precision'", "positive-definite", "positive definite"]),
    (dict(covariance_type="tied", precisions_init=np.stack([SPD] * 2)), ValueError,
     ["'tied precision'", "shape of (4, 4)"]),
    (dict(covariance_type="diag", precisions_init=-np.ones((K, D))), ValueError,
     ["'diag precision'", "positive"]),
    (dict(covariance_type="diag", precisions_init=np.ones(K)), ValueError,
     ["'diag precision'", "shape of (2, 4)"]),
    (dict(covariance_type="spherical", precisions_init=np.array([1.0, 0.0])), ValueError,
     ["'spherical precision'", "positive"]),
    (dict(covariance_type="spherical", precisions_init=np.ones((K, D))), ValueError,
     ["'spherical precision'", "shape of (2,)"]),
]


@pytest.mark.parametrize("params, error, words", BAD_PARAMS,
                         ids=[repr(p[0])[:60] for p in BAD_PARAMS])
@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_bad_parameters(params, error, words, method):
    params = dict(dict(n_components=K), **params)
    before = copy.deepcopy(params)
    gm = GaussianMixture(**params)
    X = iris()
    with pytest.raises(error) as info:
        getattr(gm, method)(X)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    # Nothing the caller passed was modified, and the estimator is still unfitted.
    for name, value in params.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(value, before[name])
        else:
            assert value == before[name] or value != value
    assert_array_equal(X, iris())
    assert not hasattr(gm, "means_")


def test_bad_parameters_do_not_destroy_a_fitted_model(fitted):
    gm = copy.deepcopy(fitted)
    gm.set_params(n_components=0)
    with pytest.raises(ValueError, match="n_components"):
        gm.fit(iris())
    for name in FITTED:
        assert_array_equal(getattr(gm, name), getattr(fitted, name))


# -- sample ----------------------------------------------------------------------

@pytest.mark.parametrize("n_samples, error", [
    (0, ValueError), (-1, ValueError), (1.5, TypeError), ("3", TypeError),
    (None, TypeError), (np.array([3]), TypeError), (True, TypeError)])
def test_sample_bad_n_samples(fitted, n_samples, error):
    with pytest.raises(error, match="n_samples"):
        fitted.sample(n_samples)


def test_sample_accepts_numpy_integers(fitted):
    X, labels = fitted.sample(np.int64(7))
    assert X.shape == (7, 4) and labels.shape == (7,)
    assert np.isfinite(X).all()


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "sample", "bic", "aic"])
def test_unfitted_model(method):
    args = () if method == "sample" else (iris(),)
    with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
        getattr(GaussianMixture(2), method)(*args)


# -- the public kernel functions ---------------------------------------------------------

RNG = np.random.RandomState(0)
KX = RNG.standard_normal((40, 3))
KMEANS = KX[:2].copy()
Z3 = np.zeros(3)  # the k-means kernels' offset: none
KPREC = np.stack([np.eye(3)] * 2)
KLOGW = np.log([0.5, 0.5])


def _rows(X):
    return np.shape(X)[0] if np.ndim(X) else 0


def _dtype(X):
    """The floating dtype of X's companions (float64 unless X is float32)."""
    return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64


def _posterior(X):
    dtype = _dtype(X)
    log_norm, resp = np.empty(_rows(X), dtype), np.empty((_rows(X), 2), dtype)
    _em.posterior(X, KLOGW, KMEANS, KPREC, "full", log_norm, resp)
    return log_norm, resp


def _accumulate(X):
    acc = (np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), np.zeros(18))
    return _em.accumulate_statistics(X, None, KLOGW, KMEANS, KPREC, "full", *acc)


def _from_resp(X):
    acc = (np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), np.zeros(18))
    resp = np.full((_rows(X), 2), 0.5, dtype=_dtype(X))
    return _em.statistics_from_responsibilities(X, None, resp, "full", *acc)


def _distances(X):
    out = np.empty((_rows(X), 2), _dtype(X))
    _kmeans.squared_distances(X, np.zeros(3), KMEANS.astype(_dtype(X)), out)
    return out


def _lloyd(X):
    return _kmeans.lloyd_step(X, None, np.zeros(3), KMEANS.astype(_dtype(X)),
                              np.empty(_rows(X), np.int32), np.zeros((2, 3)), np.zeros(2))


def _cholesky(C):
    return _em.precision_cholesky(C, np.empty(np.shape(C)))


KERNELS = {"posterior": _posterior, "accumulate_statistics": _accumulate,
           "statistics_from_responsibilities": _from_resp,
           "squared_distances": _distances, "lloyd_step": _lloyd}

# Kinds of X the kernels reject. They take only C-contiguous float32/float64 2-D
# buffers: the estimator converts once and the kernels trust it.
KERNEL_BAD_X = {
    "1-D": KX[:, 0].copy(), "3-D": KX[None].copy(), "int": KX.astype(np.int64),
    "bool": KX > 0, "object": KX.astype(object), "strings": KX.astype(str),
    "complex": KX.astype(complex), "fortran": np.asfortranarray(KX),
    "strided": KX[::2], "sparse": sp.csr_matrix(KX), "list": KX.tolist(), "None": None,
}


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("case", list(KERNEL_BAD_X))
def test_kernels_reject_bad_buffers(kernel, case):
    X = KERNEL_BAD_X[case]
    before = snapshot(X)
    with pytest.raises((TypeError, ValueError)):
        KERNELS[kernel](X)
    assert_unchanged(X, before)


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_take_empty_and_read_only_input(kernel, dtype):
    empty = np.empty((0, 3), dtype)
    KERNELS[kernel](empty)
    X = KX.astype(dtype)
    X.flags.writeable = False
    KERNELS[kernel](X)  # const buffers: read-only X is fine
    assert_array_equal(X, KX.astype(dtype))


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_kernels_do_not_crash_on_non_finite_values(kernel, value):
    """The kernels do not validate values (the estimator does): NaN and inf must
    propagate into the affected results, never crash or touch other rows."""
    X = KX.copy()
    X[5, 1] = value
    KERNELS[kernel](X)
    if kernel == "posterior":
        log_norm, resp = _posterior(X)
        assert not np.isfinite(log_norm[5]) or value == -np.inf
        clean, clean_resp = _posterior(np.delete(X, 5, axis=0))
        assert_array_equal(np.delete(log_norm, 5), clean)
        assert_array_equal(np.delete(resp, 5, axis=0), clean_resp)
    if kernel == "squared_distances":
        assert_array_equal(np.delete(_distances(X), 5, axis=0),
                           _distances(np.delete(X, 5, axis=0)))


def test_kernel_shape_errors_name_the_argument():
    cases = [
        (lambda: _em.posterior(KX, KLOGW, KX[:3].copy(), KPREC, "full", np.empty(40),
                               None), "means must have shape"),
        (lambda: _em.posterior(KX, KLOGW, KMEANS, np.eye(3), "full", np.empty(40), None),
         "prec_chol must have shape"),
        (lambda: _em.posterior(KX, KLOGW, KMEANS, KPREC, "full", np.empty(39), None),
         "log_norm_out must have 40 rows"),
        (lambda: _em.posterior(KX, KLOGW, KMEANS, KPREC, "full", np.empty(40),
                               np.empty((40, 3))), "resp_out must have shape"),
        (lambda: _em.posterior(KX, KLOGW, KMEANS, KPREC, "fullish", np.empty(40), None),
         "covariance_type"),
        (lambda: _em.accumulate_statistics(KX, np.ones(3), KLOGW, KMEANS, KPREC, "full",
                                           np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)),
                                           np.zeros(18)), "sample_weight"),
        (lambda: _em.accumulate_statistics(KX, None, KLOGW, KMEANS, KPREC, "full",
                                           np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)),
                                           np.zeros(17)), "sum_xx"),
        (lambda: _em.accumulate_statistics(KX, None, KLOGW, KMEANS, KPREC, "full",
                                           np.zeros((1, 3)), np.zeros(2), np.zeros((2, 3)),
                                           np.zeros(18)), "shift"),
        (lambda: _em.statistics_from_responsibilities(
            KX, None, np.ones((39, 2)), "full", np.zeros((2, 3)), np.zeros(2),
            np.zeros((2, 3)), np.zeros(18)), "resp must have 40 rows"),
        (lambda: _kmeans.squared_distances(KX, Z3, KMEANS, np.empty((39, 2))),
         "out must have"),
        (lambda: _kmeans.squared_distances(KX, Z3, np.empty((0, 3)), np.empty((40, 0))),
         "centers"),
        (lambda: _kmeans.squared_distances(KX, Z3, np.ones((2, 4)), np.empty((40, 2))),
         "centers have 4 features"),
        (lambda: _kmeans.squared_distances(KX, np.zeros(2), KMEANS, np.empty((40, 2))),
         "offset must have 3 entries"),
        (lambda: _kmeans.lloyd_step(KX, np.ones(3), Z3, KMEANS, np.empty(40, np.int32),
                                    np.zeros((2, 3)), np.zeros(2)), "sample_weight"),
        (lambda: _kmeans.lloyd_step(KX, None, Z3, KMEANS, np.empty(39, np.int32),
                                    np.zeros((2, 3)), np.zeros(2)), "labels"),
        (lambda: _em.precision_cholesky(np.ones((2, 3, 2)), np.empty((2, 3, 2))),
         "covariances and out"),
    ]
    for run, words in cases:
        with pytest.raises(ValueError, match=re.escape(words)):
            run()


def test_kernel_precision_cholesky_reports_the_failing_component():
    C = np.stack([np.eye(3), np.diag([1.0, -1.0, 1.0]), np.eye(3)])
    before = C.copy()
    assert _cholesky(C) == 1
    assert_array_equal(C, before)
    assert _cholesky(np.stack([np.eye(3)] * 2)) == -1


def test_fit_random_state_draws_as_a_new_randomstate_each_time():
    """The per-thread generator of fits, re-seeded, draws what RandomState(seed)
    draws, whatever drew from it before; other kinds pass through."""
    from gmmc._validation import fit_random_state
    first = fit_random_state(3).random_sample(5)
    fit_random_state(4).standard_normal(7)  # leaves a cached Gaussian behind
    assert_array_equal(fit_random_state(3).random_sample(5), first)
    assert_array_equal(first, np.random.RandomState(3).random_sample(5))
    assert_array_equal(fit_random_state(5).standard_normal(3),
                       np.random.RandomState(5).standard_normal(3))
    given = np.random.RandomState(0)
    assert fit_random_state(given) is given
    assert fit_random_state(None) is np.random.mtrand._rand
    with pytest.raises(ValueError):
        fit_random_state(-1)


def test_fits_with_an_int_seed_equal_fits_with_a_fresh_randomstate():
    from gmmc import GaussianMixture
    X = np.random.RandomState(0).standard_normal((300, 3))
    for init in ("kmeans", "random", "random_from_data", "k-means++"):
        a = GaussianMixture(3, init_params=init, random_state=7).fit(X)
        GaussianMixture(2, init_params=init, random_state=8).fit(X)
        b = GaussianMixture(3, init_params=init, random_state=np.random.RandomState(7)).fit(X)
        assert_array_equal(a.means_, b.means_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("where", ["none", "first", "middle", "last"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_value_range_on_several_threads_is_numpys(dtype, where, bad):
    """The validation pass split over threads (parts of 2^18 values and more)
    finds NumPy's least and greatest value (NaN skipped) and any NaN or
    infinity, wherever they lie: in the first part, at a part's edge, in the
    last part's tail."""
    n = 3 * _em.RANGE_VALUES_PER_THREAD + 5
    values = np.random.default_rng(3).normal(size=n).astype(dtype)
    values[n // 3] = 40.0  # the greatest at the second part's first value
    values[-1] = -50.0  # the least at the very end
    if where != "none":
        values[{"first": 7, "middle": n // 2, "last": n - 2}[where]] = bad
    finite = values[np.isfinite(values)] if np.isnan(bad) else values[~np.isnan(values)]
    for n_threads in (1, 2, 3, 4):
        least, greatest, nonfinite = _em.value_range(values, n_threads)
        assert (least, greatest) == (np.nanmin(finite), np.nanmax(finite))
        assert nonfinite == (where != "none")
