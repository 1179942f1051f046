"""scikit-learn's array API dispatch (``sklearn.config_context(array_api_dispatch=True)``).

The oracle is gmmc itself on NumPy, without dispatch: the same data and
random_state must give the same numbers, returned in the input's namespace
and on its device. Namespaces and devices are read and converted here
without scikit-learn's helpers; scikit-learn's own array-API estimator checks
are a second opinion.
"""
import warnings

import numpy as np
import pytest

import gmmc

sklearn = pytest.importorskip("sklearn")
import sklearn.mixture  # noqa: E402
xps = pytest.importorskip("array_api_strict")

try:
    import torch
except ImportError:  # optional: the torch cases skip
    torch = None

STRICT_ARRAY = type(xps.asarray(0.0))
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
DISPATCH_MESSAGE = ("Allowed `init_params` are ['random', 'random_from_data'] if "
                    "'array_api_dispatch' is enabled. You passed init_params={!r}, which "
                    "are not implemented to work with 'array_api_dispatch' enabled. "
                    "Please disable 'array_api_dispatch' to use init_params={!r}.")


try:
    SKLEARN_SUPPORT = sklearn.mixture.GaussianMixture(
        init_params="random").__sklearn_tags__().array_api_support
except AttributeError:  # scikit-learn < 1.6: no tags
    SKLEARN_SUPPORT = False
if not SKLEARN_SUPPORT:
    pytest.skip(f"scikit-learn {sklearn.__version__}'s GaussianMixture does not support "
                "the array API", allow_module_level=True)


@pytest.fixture(autouse=True)
def scipy_array_api(monkeypatch):
    # scikit-learn refuses dispatch without it; gmmc hands SciPy NumPy arrays
    # only, so SciPy's own (import-time) setting does not matter here.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    try:
        with sklearn.config_context(array_api_dispatch=True):
            pass
    except ImportError as exc:  # a SciPy too old for scikit-learn's dispatch
        pytest.skip(str(exc))


# -- namespaces: (name, to(namespace), back to NumPy, same namespace and device) --

def _strict(device_name):
    device = xps.Device(device_name)

    def to(a):
        return xps.asarray(a, device=device)

    def back(a):
        return np.asarray(xps.asarray(a, device=xps.Device("CPU_DEVICE")))

    def owns(a):
        return type(a) is STRICT_ARRAY and a.device == device

    return to, back, owns


def _torch():
    def to(a):
        return torch.asarray(a, device="cpu")

    def back(a):
        return a.cpu().numpy()

    def owns(a):
        return isinstance(a, torch.Tensor) and a.device == torch.device("cpu")

    return to, back, owns


NAMESPACES = [
    pytest.param("strict-cpu", np.float64, id="array_api_strict-CPU_DEVICE-float64"),
    pytest.param("strict-device1", np.float32, id="array_api_strict-device1-float32"),
    pytest.param("torch", np.float64, id="torch-cpu-float64",
                 marks=pytest.mark.skipif(torch is None, reason="torch not installed")),
    pytest.param("torch", np.float32, id="torch-cpu-float32",
                 marks=pytest.mark.skipif(torch is None, reason="torch not installed")),
]


def namespace(name):
    if name == "torch":
        return _torch()
    return _strict("CPU_DEVICE" if name == "strict-cpu" else "device1")


def data(dtype, n_samples=300):
    rng = np.random.RandomState(0)
    centers = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-3.0, 7.0, 4.0]])
    X = np.vstack([c + rng.standard_normal((n_samples // 3, 3)) * (i + 1) * 0.6
                   for i, c in enumerate(centers)])
    return X.astype(dtype)


def assert_same(result, expected, owns, back):
    assert owns(result), type(result)
    assert_close(back(result), expected)


def assert_close(actual, expected):
    actual = np.asarray(actual)
    assert actual.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=0)


def fitted_quietly(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmmc.ConvergenceWarning)
        return estimator.fit(X, **kwargs)


# -- dispatch on: outputs in the input's namespace, equal to NumPy's ---------------

@pytest.mark.parametrize("name, dtype", NAMESPACES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("estimator", [
    gmmc.GaussianMixture(3, init_params="random", random_state=0, max_iter=20),
    gmmc.GaussianMixture(3, init_params="random_from_data", random_state=1, n_init=2),
    # Not array-API aware in scikit-learn; gmmc converts it all the same, and
    # its k-means start is computed on NumPy too.
    gmmc.BayesianGaussianMixture(n_components=3, random_state=0, max_iter=30),
], ids=["gm-random", "gm-random_from_data", "bgm-kmeans"])
def test_outputs_in_the_input_namespace_equal_numpy(estimator, covariance_type, name,
                                                     dtype):
    to, back, owns = namespace(name)
    X = data(dtype)
    X_new = X[::7] + 0.5
    reference = fitted_quietly(sklearn.clone(estimator).set_params(
        covariance_type=covariance_type), X)
    gm = sklearn.clone(reference)
    with sklearn.config_context(array_api_dispatch=True):
        fitted_quietly(gm, to(X))
        for attribute in FITTED:
            assert_same(getattr(gm, attribute), getattr(reference, attribute), owns, back)
        assert gm.lower_bound_ == reference.lower_bound_
        assert gm.n_iter_ == reference.n_iter_
        assert_same(gm.predict(to(X_new)), reference.predict(X_new), owns, back)
        assert_same(gm.predict_proba(to(X_new)), reference.predict_proba(X_new), owns,
                    back)
        assert_same(gm.score_samples(to(X_new)), reference.score_samples(X_new), owns,
                    back)
        for method in ("score", "bic", "aic")[:1 if "Bayesian" in repr(gm) else 3]:
            value = getattr(gm, method)(to(X_new))
            assert isinstance(value, float)
            assert value == getattr(reference, method)(X_new)
        sample, labels = gm.sample(np.int64(20))  # NumPy scalars stay NumPy's
        expected_sample, expected_labels = reference.sample(20)
        assert_same(sample, expected_sample, owns, back)
        assert_same(labels, expected_labels, owns, back)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gmmc.ConvergenceWarning)
            labels = sklearn.clone(gm).fit_predict(to(X))
        assert_same(labels, reference.predict(X), owns, back)


@pytest.mark.parametrize("name, dtype", NAMESPACES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_initial_parameters_in_the_input_namespace(covariance_type, name, dtype):
    to, back, owns = namespace(name)
    X = data(dtype)
    reference = gmmc.GaussianMixture(3, covariance_type=covariance_type,
                                     init_params="random", random_state=0)
    fitted_quietly(reference, X)
    inits = {"weights_init": reference.weights_.astype(dtype),
             "means_init": reference.means_.astype(dtype) + 0.1,
             "precisions_init": reference.precisions_.astype(dtype)}
    expected = fitted_quietly(sklearn.clone(reference).set_params(**inits), X)
    gm = sklearn.clone(reference).set_params(**{k: to(v) for k, v in inits.items()})
    with sklearn.config_context(array_api_dispatch=True):
        fitted_quietly(gm, to(X))
    for attribute in FITTED:
        assert_same(getattr(gm, attribute), getattr(expected, attribute), owns, back)
    # The parameters are left as given.
    assert all(owns(getattr(gm, k)) for k in inits)


@pytest.mark.parametrize("name, dtype", NAMESPACES)
def test_warm_start_and_partial_fit_stay_in_the_namespace(name, dtype):
    to, back, owns = namespace(name)
    X = data(dtype)
    settings = dict(init_params="random", random_state=0, max_iter=2)
    expected = gmmc.GaussianMixture(3, warm_start=True, **settings)
    gm = sklearn.clone(expected)
    batches = np.array_split(X[np.random.RandomState(1).permutation(len(X))], 3)
    streamed = gmmc.GaussianMixture(3, **settings)
    expected_streamed = sklearn.clone(streamed)
    for batch in batches:
        fitted_quietly(expected, X)
        expected_streamed.partial_fit(batch)
        with sklearn.config_context(array_api_dispatch=True):
            fitted_quietly(gm, to(X))
            streamed.partial_fit(to(batch))
        for attribute in FITTED:
            assert_same(getattr(gm, attribute), getattr(expected, attribute), owns, back)
            assert_same(getattr(streamed, attribute),
                        getattr(expected_streamed, attribute), owns, back)


def test_dispatch_with_numpy_input_is_numpy():
    X = data(np.float64)
    reference = fitted_quietly(gmmc.GaussianMixture(3, init_params="random",
                                                    random_state=0), X)
    gm = sklearn.clone(reference)
    with sklearn.config_context(array_api_dispatch=True):
        fitted_quietly(gm, X)
        proba = gm.predict_proba(X)
        sample = gm.sample(5)[0]
    for attribute in FITTED:
        assert type(getattr(gm, attribute)) is np.ndarray
        np.testing.assert_array_equal(getattr(gm, attribute), getattr(reference, attribute))
    assert type(proba) is np.ndarray and type(sample) is np.ndarray
    np.testing.assert_array_equal(proba, reference.predict_proba(X))


@pytest.mark.parametrize("name", ["strict-cpu", "torch"])
def test_predicting_in_another_namespace_raises_as_scikit_learn(name):
    if name == "torch" and torch is None:
        pytest.skip("torch not installed")
    to = namespace(name)[0]
    X = data(np.float64)
    numpy_model = fitted_quietly(gmmc.GaussianMixture(3, init_params="random"), X)
    with sklearn.config_context(array_api_dispatch=True):
        other_model = fitted_quietly(sklearn.clone(numpy_model), to(X))
        for model, other in ((numpy_model, to(X)), (other_model, X)):
            for method in ("predict", "predict_proba", "score_samples", "score", "bic"):
                with pytest.raises(ValueError, match=(
                        rf"GaussianMixture\.{method}\(\) must use the same namespace")):
                    getattr(model, method)(other)


@pytest.mark.parametrize("check, kwargs", [
    ("check_array_api_input", dict(array_namespace="array_api_strict",
                                   device_name="CPU_DEVICE", dtype_name="float64",
                                   check_values=True)),
    ("check_array_api_input", dict(array_namespace="array_api_strict",
                                   device_name="device1", dtype_name="float32",
                                   check_values=True)),
    ("check_array_api_input", dict(array_namespace="torch", device_name="cpu",
                                   dtype_name="float64", check_values=True)),
    ("check_array_api_input", dict(array_namespace="torch", device_name="cpu",
                                   dtype_name="float32", check_values=True)),
    ("check_array_api_same_namespace", dict(array_namespace="array_api_strict")),
])
def test_scikit_learn_array_api_estimator_checks(check, kwargs):
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    if not hasattr(estimator_checks, check):
        pytest.skip(f"scikit-learn {sklearn.__version__} has no {check}")
    # The settings scikit-learn's own test of GaussianMixture uses.
    estimator = gmmc.GaussianMixture(max_iter=5, n_init=2, init_params="random_from_data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmmc.ConvergenceWarning)
        getattr(estimator_checks, check)("GaussianMixture", estimator, **kwargs)


# -- what scikit-learn does not implement under dispatch -----------------------------

@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
@pytest.mark.parametrize("name", ["numpy", "strict-cpu", "torch"])
def test_unsupported_init_raises_as_scikit_learn(init_params, name):
    if name == "torch" and torch is None:
        pytest.skip("torch not installed")
    X = data(np.float64)
    if name != "numpy":
        X = namespace(name)[0](X)
    message = DISPATCH_MESSAGE.format(init_params, init_params)
    for cls in (gmmc.GaussianMixture, sklearn.mixture.GaussianMixture):
        with sklearn.config_context(array_api_dispatch=True):
            with pytest.raises(NotImplementedError) as caught:
                cls(3, init_params=init_params).fit(X)
        assert str(caught.value) == message
    # Without dispatch the same estimator fits.
    gmmc.GaussianMixture(3, init_params=init_params, random_state=0).fit(
        data(np.float64))


def test_array_api_support_tag_as_scikit_learn():
    for params in ({}, {"init_params": "random"}, {"init_params": "random_from_data"},
                   {"init_params": "k-means++"},
                   {"init_params": "random", "warm_start": True}):
        ours = gmmc.GaussianMixture(**params).__sklearn_tags__().array_api_support
        theirs = sklearn.mixture.GaussianMixture(**params).__sklearn_tags__()
        assert ours == theirs.array_api_support, params


# -- dispatch off: as before (converted with np.asarray, or an error) ----------------

@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_without_dispatch_torch_input_is_read_as_numpy():
    X = data(np.float64)
    reference = fitted_quietly(gmmc.GaussianMixture(3, random_state=0), X)
    gm = fitted_quietly(sklearn.clone(reference), torch.asarray(X))
    for attribute in FITTED:
        assert type(getattr(gm, attribute)) is np.ndarray
        np.testing.assert_array_equal(getattr(gm, attribute), getattr(reference, attribute))
    labels = gm.predict(torch.asarray(X))
    assert type(labels) is np.ndarray
    np.testing.assert_array_equal(labels, reference.predict(X))


def test_without_dispatch_array_api_strict_input():
    X = data(np.float64)
    reference = fitted_quietly(gmmc.GaussianMixture(3, random_state=0), X)
    gm = fitted_quietly(sklearn.clone(reference), xps.asarray(X))  # CPU: np.asarray
    np.testing.assert_array_equal(gm.means_, reference.means_)
    assert type(gm.predict_proba(xps.asarray(X))) is np.ndarray
    # Another device cannot be read by np.asarray, for scikit-learn either.
    on_device1 = xps.asarray(X, device=xps.Device("device1"))
    for cls in (gmmc.GaussianMixture, sklearn.mixture.GaussianMixture):
        with pytest.raises(RuntimeError, match="Can't convert array"):
            cls(3, random_state=0).fit(on_device1)
