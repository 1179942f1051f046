"""Save and load fitted GaussianMixture models without pickle.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding

- ``metadata``: a JSON document (stored as a 0-d unicode array) with
  ``format`` ("gmmc.GaussianMixture"), ``format_version``, the gmmc version
  that wrote it, the constructor parameters, the covariance type, shapes,
  dtype and the scalar fitted attributes;
- the fitted arrays ``weights``, ``means``, ``covariances``, ``precisions``,
  ``precisions_cholesky``, ``lower_bound`` and ``lower_bounds``, and, when set,
  ``weights_init``, ``means_init``, ``precisions_init`` and the state of a
  ``random_state`` RandomState (``random_state_keys`` and friends);
- when set, ``n_samples_seen`` (the sample weight the model was fitted on,
  which ``partial_fit`` weights the model by) and ``partial_fit``'s running
  statistics: ``stepwise_shift``, ``stepwise_resp_sum``, ``stepwise_sum_x``,
  ``stepwise_sum_xx``, ``stepwise_total_x``, ``stepwise_loglik_sum``,
  ``stepwise_weight_sum``, ``stepwise_normalized`` and the batch count
  ``stepwise_n_batches``, so that a loaded model continues as a pickled one.

Loading uses ``np.load(..., allow_pickle=False)``: no code is executed, and
every array is checked against the metadata before a model is built. The
round trip is exact: the loaded model has bit-identical arrays, the same
dtype and the same parameters.
"""
import json
import numbers
import os

import numpy as np

from . import _streaming
from .exceptions import NotFittedError

FORMAT = "gmmc.GaussianMixture"
FORMAT_VERSION = 1
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_FITTED = {"weights": "weights_", "means": "means_", "covariances": "covariances_",
           "precisions": "precisions_", "precisions_cholesky": "precisions_cholesky_"}
_INIT_ARRAYS = ("weights_init", "means_init", "precisions_init")
_SCALAR_PARAMS = ("n_components", "covariance_type", "tol", "reg_covar", "max_iter",
                  "n_init", "init_params", "warm_start", "verbose", "verbose_interval",
                  "n_threads")


class ModelFileError(ValueError):
    """A model file is unreadable, inconsistent, or from a newer format."""


def _covariance_shape(covariance_type, k, d):
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[
        covariance_type]


def _json_scalar(value, name):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"cannot save parameter {name}={value!r} of type "
                    f"{type(value).__name__}")


def save(model, file):
    """Write a fitted model to ``file`` (a path, written as given, or a binary file)."""
    from . import __version__

    if not hasattr(model, "precisions_cholesky_"):
        raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet; "
                             "call 'fit' first.")
    params = model.get_params()
    arrays = {key: np.asarray(getattr(model, attr)) for key, attr in _FITTED.items()}
    arrays["lower_bound"] = np.asarray(model.lower_bound_, dtype=np.float64)
    arrays["lower_bounds"] = np.asarray(model.lower_bounds_, dtype=np.float64).reshape(-1)
    for name in _INIT_ARRAYS:
        if params[name] is not None:
            arrays[name] = np.asarray(params[name], dtype=np.float64)
    random_state = params["random_state"]
    if isinstance(random_state, np.random.RandomState):
        if random_state is np.random.mtrand._rand:
            saved_state = None  # numpy's global generator: keep it global
        else:
            kind, keys, pos, has_gauss, cached = random_state.get_state()
            arrays["random_state_keys"] = np.asarray(keys, dtype=np.uint32)
            arrays["random_state_extra"] = np.asarray([pos, has_gauss], dtype=np.int64)
            arrays["random_state_gauss"] = np.asarray(cached, dtype=np.float64)
            saved_state = "RandomState"
    else:
        saved_state = _json_scalar(random_state, "random_state")
    names = getattr(model, "feature_names_in_", None)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gmmc_version": __version__,
        "params": {name: _json_scalar(params[name], name) for name in _SCALAR_PARAMS},
        "random_state": saved_state,
        "n_components": int(model.means_.shape[0]),
        "n_features": int(model.means_.shape[1]),
        "dtype": str(model.means_.dtype),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "feature_names": None if names is None else [str(n) for n in names],
    }
    arrays.update(_streaming.saved_state(model))
    arrays["metadata"] = np.asarray(json.dumps(metadata, indent=1))
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:  # np.savez(path) would append ".npz"
            np.savez(f, **arrays)
    else:
        np.savez(file, **arrays)


def _fail(source, message):
    raise ModelFileError(f"{source}: {message}")


def _read(file):
    source = os.fspath(file) if isinstance(file, (str, os.PathLike)) else "model file"
    try:
        archive = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        _fail(source, f"not a gmmc model file ({exc})")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        _fail(source, "not a gmmc model file (a single .npy array, not an .npz archive)")
    try:
        with archive:
            return source, {key: archive[key] for key in archive.files}
    except ValueError as exc:  # e.g. an object array, which would need pickle
        _fail(source, f"unreadable array ({exc})")
    except Exception as exc:  # a corrupt zip member
        _fail(source, f"corrupt model file ({type(exc).__name__}: {exc})")


def load(file):
    """Read a model written by :func:`save` (or ``GaussianMixture.save``).

    Raises ``ModelFileError`` (a ValueError) for a file that is not a gmmc
    model, was written by a newer format version, or whose arrays do not match
    its metadata.
    """
    from .mixture import GaussianMixture

    source, arrays = _read(file)
    if "metadata" not in arrays:
        _fail(source, "not a gmmc model file (no metadata)")
    try:
        metadata = json.loads(str(arrays["metadata"]))
    except (ValueError, TypeError) as exc:
        _fail(source, f"metadata is not valid JSON ({exc})")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        _fail(source, f"not a gmmc model file (format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _fail(source, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        _fail(source, f"written in format version {version} by gmmc "
                      f"{metadata.get('gmmc_version', '?')}; this gmmc reads format "
                      f"versions up to {FORMAT_VERSION}: upgrade gmmc to load it")
    try:
        params = dict(metadata["params"])
        cov_type, k, d = (metadata["params"]["covariance_type"], metadata["n_components"],
                          metadata["n_features"])
        dtype = np.dtype(metadata["dtype"])
        converged, n_iter = metadata["converged"], metadata["n_iter"]
        names = metadata["feature_names"]
        random_state = metadata["random_state"]
    except (KeyError, TypeError, ValueError) as exc:
        _fail(source, f"incomplete or invalid metadata ({type(exc).__name__}: {exc})")
    if cov_type not in COVARIANCE_TYPES:
        _fail(source, f"unknown covariance_type {cov_type!r}")
    for name, value in (("n_components", k), ("n_features", d), ("n_iter", n_iter)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (
                0 if name == "n_iter" else 1):
            _fail(source, f"invalid {name} {value!r}")
    if params.get("n_components") != k:
        _fail(source, f"params n_components {params.get('n_components')!r} != {k}")
    if dtype not in (np.float32, np.float64):
        _fail(source, f"unsupported dtype {dtype}")
    if names is not None and (not isinstance(names, list) or len(names) != d
                              or not all(isinstance(n, str) for n in names)):
        _fail(source, f"feature_names must be a list of {d} strings")

    expected = {"weights": (k,), "means": (k, d)}
    for key in ("covariances", "precisions", "precisions_cholesky"):
        expected[key] = _covariance_shape(cov_type, k, d)
    fitted = {}
    for key, shape in expected.items():
        if key not in arrays:
            _fail(source, f"missing array {key!r}")
        array = arrays[key]
        if array.shape != shape:
            _fail(source, f"array {key!r} has shape {array.shape}, expected {shape} for "
                          f"{k} {cov_type} components in {d} dimensions")
        if array.dtype != dtype:
            _fail(source, f"array {key!r} has dtype {array.dtype}, expected {dtype}")
        if not np.isfinite(array).all():
            _fail(source, f"array {key!r} has non-finite values")
        fitted[_FITTED[key]] = array
    weights = fitted["weights_"]
    if (weights < 0).any() or abs(float(weights.sum(dtype=np.float64)) - 1) > 1e-4:
        _fail(source, "weights must be non-negative and sum to 1")
    for key in ("lower_bound", "lower_bounds"):
        if key not in arrays or arrays[key].dtype != np.float64:
            _fail(source, f"missing or non-float64 array {key!r}")
    if arrays["lower_bound"].shape != () or arrays["lower_bounds"].ndim != 1:
        _fail(source, "lower_bound must be a scalar and lower_bounds 1-D")

    init_shapes = {"weights_init": (k,), "means_init": (k, d),
                   "precisions_init": _covariance_shape(cov_type, k, d)}
    for name, shape in init_shapes.items():
        if name in arrays:
            if arrays[name].shape != shape or arrays[name].dtype.kind != "f":
                _fail(source, f"array {name!r} has shape {arrays[name].shape}, "
                              f"expected {shape}")
            params[name] = arrays[name]
        else:
            params[name] = None
    if random_state == "RandomState":
        try:
            keys, extra, gauss = (arrays["random_state_keys"], arrays["random_state_extra"],
                                  arrays["random_state_gauss"])
            rng = np.random.RandomState()
            rng.set_state(("MT19937", keys, int(extra[0]), int(extra[1]), float(gauss)))
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            _fail(source, f"invalid saved random state ({exc})")
        params["random_state"] = rng
    elif random_state is None or (isinstance(random_state, int)
                                  and not isinstance(random_state, bool)):
        params["random_state"] = random_state
    else:
        _fail(source, f"invalid random_state {random_state!r}")

    try:
        model = GaussianMixture(**params)
    except TypeError as exc:
        _fail(source, f"unknown parameters ({exc})")
    for attr, array in fitted.items():
        setattr(model, attr, array)
    model.converged_ = bool(converged)
    model.n_iter_ = n_iter
    model.lower_bound_ = float(arrays["lower_bound"])
    model.lower_bounds_ = arrays["lower_bounds"].tolist()
    model.n_features_in_ = d
    try:
        _streaming.restore_state(model, arrays)
    except ValueError as exc:
        _fail(source, str(exc))
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    return model
