"""The model file format: writing a fitted GaussianMixture's arrays and
metadata to an ``.npz`` archive, and reading them back safely.

Estimator-agnostic: the model is read and set through its attributes and
``get_params``; ``gmmc.io`` (which describes the format) builds the
estimator from what ``read`` returns, and ``GaussianMixture.save`` writes
with ``write``. Reading never unpickles, and checks each member's declared
size against its expected shape before inflating it.
"""
import contextlib
import json
import math
import numbers
import os
import zipfile
from collections import namedtuple

import numpy as np

from . import _stepwise
from ._stats import SufficientStatistics
from ._version import __version__
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



#: What ``read`` returns: the constructor parameters, the fitted arrays by
#: attribute name, the shape and the scalar fitted attributes, the feature
#: names (or None) and the names of the archive's members.
Contents = namedtuple("Contents", "params fitted n_features covariance_type n_components "
                                  "converged n_iter lower_bound lower_bounds feature_names "
                                  "present")


class ModelFileError(ValueError):
    """Error raised when a model file is unreadable, inconsistent, or from a newer format.

    A subclass of ``ValueError``. The message starts with the file's path
    (or "model file" for a file object) and says what is wrong.

    See Also
    --------
    load : Raises it.

    Examples
    --------
    >>> import io
    >>> import gmmc
    >>> try:
    ...     gmmc.load(io.BytesIO(b"not a model"))
    ... except gmmc.io.ModelFileError as error:
    ...     print(error)
    model file: not a gmmc model file (not an .npz archive)
    """


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


def write(model, file):
    """Write a fitted model (a GaussianMixture, read by its attributes) to
    ``file`` in the model file format; see ``gmmc.io.save``."""
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
    if params.get("nan_policy", "raise") != "raise":
        # Only when set: files of models without it stay readable by older gmmc.
        metadata["params"]["nan_policy"] = _json_scalar(params["nan_policy"], "nan_policy")
    arrays.update(_stepwise.saved_state(model))
    arrays["metadata"] = np.asarray(json.dumps(metadata, indent=1))
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:  # np.savez(path) would append ".npz"
            np.savez(f, **arrays)
    else:
        np.savez(file, **arrays)



def fail(source, message):
    raise ModelFileError(f"{source}: {message}")


_MAX_HEADER = 2 ** 16     # bytes of a .npy header (NumPy writes ~128 for these arrays)
_MAX_METADATA = 2 ** 26   # bytes of the metadata string (4 a character): 16 M characters
_NPY_HEADER = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}


@contextlib.contextmanager
def open_archive(file, source):
    """The model file as an open ZipFile; anything else is a ModelFileError."""
    is_path = isinstance(file, (str, os.PathLike))
    try:
        f = open(file, "rb") if is_path else file
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such file") from None
    except OSError as exc:
        fail(source, f"not a gmmc model file ({exc})")
    try:
        start = f.tell()
        head = f.read(len(np.lib.format.MAGIC_PREFIX))
        f.seek(start)
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            if head.startswith(b"PK"):
                fail(source, f"truncated or corrupt model file ({exc})")
            if head == np.lib.format.MAGIC_PREFIX:
                fail(source, "not a gmmc model file (a single .npy array, not an .npz "
                              "archive)")
            fail(source, "not a gmmc model file (not an .npz archive)")
        with archive:
            yield archive
    finally:
        if is_path:
            f.close()


def _member(archive, source, name, dtype, shape):
    """Array ``name`` of the archive, of exactly ``dtype`` and ``shape``.

    ``dtype`` None means the metadata: a unicode string of at most
    _MAX_METADATA bytes; an int ``shape`` n means 1-D with at most n entries.
    The size the zip declares for the member is checked against these before
    it is opened, and against its .npy header before its data is inflated:
    a forged or oversized member costs no more than its header to refuse.
    """
    try:
        info = archive.getinfo(f"{name}.npy")
    except KeyError:
        fail(source, f"missing array {name!r}")
    dtype = None if dtype is None else np.dtype(dtype)
    at_most = isinstance(shape, int)
    limit = _MAX_METADATA if dtype is None else dtype.itemsize * (
        shape if at_most else math.prod(shape))
    if info.file_size > _MAX_HEADER + limit:
        fail(source, f"array {name!r} has a declared size of {info.file_size} bytes, more "
                      f"than {'the metadata' if dtype is None else 'its expected shape'} "
                      f"needs ({limit} bytes and a header)")
    try:
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in _NPY_HEADER:
                raise ValueError(f".npy format version {version} is not supported")
            found_shape, fortran, found_dtype = _NPY_HEADER[version](f, _MAX_HEADER)
            header_size = f.tell()
            dtype_ok = found_dtype.kind == "U" if dtype is None else found_dtype == dtype
            if not dtype_ok:
                fail(source, f"array {name!r} has dtype {found_dtype}, expected "
                              f"{'a unicode string' if dtype is None else dtype}")
            shape_ok = (len(found_shape) == 1 and found_shape[0] <= shape) if at_most else (
                found_shape == shape)
            if not shape_ok:
                fail(source, f"array {name!r} has shape {found_shape}, expected "
                              + (f"at most {shape} entries" if at_most else f"{shape}"))
            n_bytes = found_dtype.itemsize * math.prod(found_shape)
            if info.file_size != header_size + n_bytes:
                fail(source, f"array {name!r} has a declared size of {info.file_size} "
                              f"bytes, but its header describes {header_size + n_bytes}")
            data = f.read(n_bytes)  # to the end, where zipfile checks the CRC
            if len(data) != n_bytes:
                raise EOFError(f"{len(data)} of {n_bytes} bytes of data")
    except ModelFileError:
        raise
    except Exception as exc:  # any failure of the zip or .npy reader: a damaged member
        fail(source, f"array {name!r} is truncated or corrupt "
                      f"({type(exc).__name__}: {exc})")
    array = np.frombuffer(data, found_dtype).reshape(found_shape, order="F" if fortran
                                                      else "C")
    return array.copy()  # writable, as np.load's


def _gaussian_problem(cov_type, covariances, precisions, precisions_cholesky):
    """What keeps these arrays from describing Gaussians, as a message, or None.

    Each U = precisions_cholesky[k] must be upper triangular with a positive
    diagonal, each covariance C positive definite, P = precisions[k] = U U^T
    and C P = I. The model's dtype rounds all three and C may be badly
    conditioned, so the products are compared with the sums of their terms'
    absolute values (|U| |U|^T, |C| |P|): rounding (or computing C as an
    inverse of P) leaves residuals of a few epsilons of those.
    """
    # Every layout as a stack of matrices: diag and spherical give 1 x 1 ones.
    shape = {"full": covariances.shape, "tied": (1, *covariances.shape),
             "diag": (*covariances.shape, 1, 1), "spherical": (*covariances.shape, 1, 1)}
    c, p, u = (np.asarray(a, dtype=np.float64).reshape(shape[cov_type])
               for a in (covariances, precisions, precisions_cholesky))
    n = c.shape[-1]
    tol = 32 * (n + 2) * np.finfo(covariances.dtype).eps
    u_t = np.swapaxes(u, -1, -2)
    checks = (
        (np.tril(u, -1) != 0, "{u} is not upper triangular"),
        (~(np.diagonal(u, axis1=-2, axis2=-1) > 0),
         "{u} has a diagonal entry that is not positive"),
        (_not_positive_definite(c, tol), "{c} is not positive definite"),
        (np.abs(p - u @ u_t) > tol * (np.abs(u) @ np.abs(u_t)),
         "{p} is not U U^T for U = {u}"),
        (np.abs(c @ p - np.eye(n)) > tol * (np.abs(c) @ np.abs(p)),
         "{c} is not the inverse of {p}"),
    )
    for bad, message in checks:
        bad = bad.reshape(len(c), -1).any(axis=1)
        if bad.any():
            k = "" if cov_type == "tied" else f"[{np.argmax(bad)}]"
            return message.format(u=f"precisions_cholesky{k}", c=f"covariances{k}",
                                  p=f"precisions{k}")
    return None


def _not_positive_definite(c, tol):
    """Per matrix of the stack c: not positive definite, even after adding tol times
    its diagonal (more than rounding a positive definite matrix can take away)."""
    variances = np.diagonal(c, axis1=-2, axis2=-1)
    bad = ~(variances > 0).all(axis=-1)
    if c.shape[-1] == 1:
        return bad
    scale = np.sqrt(np.where(bad[..., None], 1.0, variances))
    unit = c / (scale[..., :, None] * scale[..., None, :]) + tol * np.eye(c.shape[-1])
    for index in zip(*np.nonzero(~bad)):
        try:
            np.linalg.cholesky(unit[index])
        except np.linalg.LinAlgError:
            bad[index] = True
    return bad


def _state_members(archive, source, present, cov_type, k, d):
    """The saved partial_fit state (see _stepwise.saved_state), each member read at
    the shape that k components in d dimensions give it."""
    layout = {"n_samples_seen": (np.float64, ()), "stepwise_normalized": (np.bool_, ()),
              "stepwise_n_batches": (np.int64, ())}
    empty = SufficientStatistics(cov_type, np.zeros((k, d)))
    for name in _stepwise._STATE_ARRAYS:
        layout[f"stepwise_{name}"] = (np.float64, np.shape(getattr(empty, name)))
    return {name: _member(archive, source, name, dtype, shape)
            for name, (dtype, shape) in layout.items() if name in present}


def read(archive, source):
    """What a model file holds, checked: ``Contents`` with the constructor
    parameters, the fitted arrays and attributes (ModelFileError otherwise).
    The saved partial_fit state is read by ``restore``."""
    present = {name.removesuffix(".npy") for name in archive.namelist()}
    if "metadata" not in present:
        fail(source, "not a gmmc model file (no metadata)")
    text = str(_member(archive, source, "metadata", None, ()))
    try:
        metadata = json.loads(text)
    except ValueError as exc:
        fail(source, f"metadata is not valid JSON ({exc})")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        fail(source, f"not a gmmc model file (format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fail(source, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        fail(source, f"written in format version {version} by gmmc "
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
        fail(source, f"incomplete or invalid metadata ({type(exc).__name__}: {exc})")
    if cov_type not in COVARIANCE_TYPES:
        fail(source, f"unknown covariance_type {cov_type!r}")
    for name, value in (("n_components", k), ("n_features", d), ("n_iter", n_iter)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (
                0 if name == "n_iter" else 1):
            fail(source, f"invalid {name} {value!r}")
    if params.get("n_components") != k:
        fail(source, f"params n_components {params.get('n_components')!r} != {k}")
    if dtype not in (np.float32, np.float64):
        fail(source, f"unsupported dtype {dtype}")
    if names is not None and (not isinstance(names, list) or len(names) != d
                              or not all(isinstance(n, str) for n in names)):
        fail(source, f"feature_names must be a list of {d} strings")

    expected = {"weights": (k,), "means": (k, d)}
    for key in ("covariances", "precisions", "precisions_cholesky"):
        expected[key] = _covariance_shape(cov_type, k, d)
    fitted = {}
    for key, shape in expected.items():
        array = _member(archive, source, key, dtype, shape)
        if not np.isfinite(array).all():
            fail(source, f"array {key!r} has non-finite values")
        fitted[_FITTED[key]] = array
    weights = fitted["weights_"]
    if (weights < 0).any() or abs(float(weights.sum(dtype=np.float64)) - 1) > 1e-4:
        fail(source, "weights must be non-negative and sum to 1")
    problem = _gaussian_problem(cov_type, fitted["covariances_"], fitted["precisions_"],
                                fitted["precisions_cholesky_"])
    if problem:
        fail(source, problem)
    lower_bound = _member(archive, source, "lower_bound", np.float64, ())
    # one bound per EM iteration (per batch for partial_fit)
    lower_bounds = _member(archive, source, "lower_bounds", np.float64, n_iter)

    init_shapes = {"weights_init": (k,), "means_init": (k, d),
                   "precisions_init": _covariance_shape(cov_type, k, d)}
    for name, shape in init_shapes.items():
        params[name] = _member(archive, source, name, np.float64, shape) if (
            name in present) else None
    if random_state == "RandomState":
        keys = _member(archive, source, "random_state_keys", np.uint32, (624,))
        extra = _member(archive, source, "random_state_extra", np.int64, (2,))
        gauss = _member(archive, source, "random_state_gauss", np.float64, ())
        try:
            rng = np.random.RandomState()
            rng.set_state(("MT19937", keys, int(extra[0]), int(extra[1]), float(gauss)))
        except (ValueError, TypeError) as exc:
            fail(source, f"invalid saved random state ({exc})")
        params["random_state"] = rng
    elif random_state is None or (isinstance(random_state, int)
                                  and not isinstance(random_state, bool)):
        params["random_state"] = random_state
    else:
        fail(source, f"invalid random_state {random_state!r}")
    return Contents(params, fitted, d, cov_type, k, converged, n_iter, float(lower_bound),
                    lower_bounds.tolist(), names, present)


def restore(model, contents, archive, source):
    """Set what a model file holds (``read``'s ``contents``, then the partial_fit
    state, read from ``archive``) on ``model``, a new estimator made from
    ``contents.params``; returns it."""
    cov_type, k, d = contents.covariance_type, contents.n_components, contents.n_features
    for attr, array in contents.fitted.items():
        setattr(model, attr, array)
    model.converged_ = bool(contents.converged)
    model.n_iter_ = contents.n_iter
    model.lower_bound_ = contents.lower_bound
    model.lower_bounds_ = contents.lower_bounds
    model.n_features_in_ = d
    try:
        _stepwise.restore_state(model, _state_members(archive, source, contents.present,
                                                      cov_type, k, d))
    except ValueError as exc:
        fail(source, str(exc))
    if contents.feature_names is not None:
        model.feature_names_in_ = np.asarray(contents.feature_names, dtype=object)
    return model
