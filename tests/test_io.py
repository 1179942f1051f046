"""model.save / gmmc.load: portable .npz + JSON, exact round trip, no pickle."""
import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmc
from gmmc import GaussianMixture, NotFittedError
from gmmc.io import FORMAT_VERSION, ModelFileError

from conftest import blobs, fit_quietly, init_kwargs, random_init

ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def data():
    return blobs(3, n_samples=150, centers=3, seed=1)[0]


def assert_same(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert_array_equal(x, y, err_msg=name)
    for name in ("n_iter_", "converged_", "lower_bound_", "lower_bounds_", "n_features_in_"):
        assert getattr(a, name) == getattr(b, name), name
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for key in pa:
        if isinstance(pa[key], np.ndarray) or isinstance(pb[key], np.ndarray):
            assert_array_equal(pa[key], pb[key], err_msg=key)
        elif isinstance(pa[key], np.random.RandomState):
            assert pickle.dumps(pa[key].get_state()) == pickle.dumps(pb[key].get_state())
        else:
            assert pa[key] == pb[key] and type(pa[key]) is type(pb[key]), key


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_round_trip(covariance_type, dtype, tmp_path):
    X = data().astype(dtype)
    model = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, tol=1e-4,
                                        n_init=2, random_state=5, reg_covar=1e-5), X)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = gmmc.load(path)
    assert type(loaded) is GaussianMixture
    assert_same(model, loaded)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_array_equal(loaded.sample(20)[0], model.sample(20)[0])  # same int seed
    assert not hasattr(loaded, "feature_names_in_")


def test_round_trip_of_everything_optional(tmp_path):
    """Initial parameters, a RandomState's state, feature names, warm start."""
    X = data()
    df = pd.DataFrame(X, columns=["u", "v", "w"])
    model = GaussianMixture(3, covariance_type="tied", random_state=np.random.RandomState(2),
                            n_threads=1, warm_start=True, verbose=0,
                            **init_kwargs(random_init(X, 3, "tied", seed=3)))
    fit_quietly(model, df)
    model.save(str(tmp_path / "m.npz"))
    loaded = gmmc.load(str(tmp_path / "m.npz"))
    assert_same(model, loaded)
    assert list(loaded.feature_names_in_) == ["u", "v", "w"]
    assert_array_equal(loaded.sample(7)[0], model.sample(7)[0])  # the generator's state
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(df.rename(columns={"u": "z"}))
    # A loaded warm-start model continues EM where the saved one stopped.
    assert_allclose(fit_quietly(loaded, df).means_, fit_quietly(model, df).means_)


def test_path_is_used_as_given_and_file_objects(tmp_path):
    model = GaussianMixture(2, random_state=0).fit(data())
    model.save(tmp_path / "model.bin")
    assert os.listdir(tmp_path) == ["model.bin"]  # no ".npz" appended
    with open(tmp_path / "other", "wb") as f:
        model.save(f)
    with open(tmp_path / "other", "rb") as f:
        assert_same(gmmc.load(f), model)


def test_file_is_plain_numpy_and_json(tmp_path):
    """Readable without gmmc: numpy arrays (no objects) and JSON metadata; the
    arrays drive scikit-learn to the same predictions."""
    X = data()
    model = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assert all(a.dtype != object for a in arrays.values())
    meta = json.loads(str(arrays["metadata"]))
    assert meta["format"] == "gmmc.GaussianMixture"
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["params"]["covariance_type"] == "full"
    sk = SkGaussianMixture(3)
    sk.weights_, sk.means_ = arrays["weights"], arrays["means"]
    sk.covariances_ = arrays["covariances"]
    sk.precisions_cholesky_ = arrays["precisions_cholesky"]
    assert_allclose(sk.predict_proba(X), model.predict_proba(X), atol=1e-12)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (self.target,))


def rewrite(path, **changes):
    """Copy a model file with arrays replaced (None removes one)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def with_metadata(path, **updates):
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["metadata"]))
    for key, value in updates.items():
        if key == "params":
            meta["params"].update(value)
        else:
            meta[key] = value
    rewrite(path, metadata=np.asarray(json.dumps(meta)))


def test_pickled_content_is_never_executed(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    model = GaussianMixture(2, random_state=0).fit(data())
    model.save(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["means"] = np.array([_Exploit(str(target))], dtype=object)
    with open(path, "wb") as f:
        np.savez(f, allow_pickle=True, **arrays)
    with pytest.raises(ModelFileError):
        gmmc.load(path)
    assert not target.exists()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    GaussianMixture(3, covariance_type="diag", random_state=0).fit(data()).save(path)
    return path


@pytest.mark.parametrize("corrupt, match", [
    (lambda p: with_metadata(p, format_version=FORMAT_VERSION + 1), "newer|upgrade"),
    (lambda p: rewrite(p, means=np.zeros((3, 4))), "'means' has shape"),
    (lambda p: rewrite(p, covariances=np.ones((3, 3, 3))), "'covariances' has shape"),
    (lambda p: rewrite(p, precisions_cholesky=np.ones(3)), "shape"),
    (lambda p: rewrite(p, weights=np.ones(3, dtype=np.float32) / 3), "dtype"),
    (lambda p: rewrite(p, weights=np.array([0.5, 0.5, 0.5])), "sum to 1"),
    (lambda p: rewrite(p, covariances=np.full((3, 3), np.nan)), "non-finite"),
    (lambda p: rewrite(p, precisions=None), "missing"),
    (lambda p: rewrite(p, metadata=None), "metadata"),
    (lambda p: rewrite(p, metadata=np.asarray("{not json")), "JSON"),
    (lambda p: with_metadata(p, format="something.else"), "not a gmmc model"),
    (lambda p: with_metadata(p, params={"covariance_type": "full"}), "shape"),
    (lambda p: with_metadata(p, params={"covariance_type": "round"}), "covariance_type"),
    (lambda p: with_metadata(p, n_features=2), "shape"),
    (lambda p: with_metadata(p, params={"colour": "red"}), "unknown parameters"),
    (lambda p: with_metadata(p, feature_names=["a"]), "feature_names"),
    (lambda p: p.write_text("eruptions,waiting\n1,2\n"), "not a gmmc model file"),
    (lambda p: np.save(p, np.zeros(3)) or os.replace(f"{p}.npy", p), "not a gmmc model file"),
])
def test_bad_files_are_clear_errors(saved, corrupt, match):
    gmmc.load(saved)  # fine before
    corrupt(saved)
    with pytest.raises(ModelFileError, match=match):
        gmmc.load(saved)


def test_missing_file_and_unfitted_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        gmmc.load(tmp_path / "absent.npz")
    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
