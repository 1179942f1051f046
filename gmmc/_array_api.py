"""scikit-learn's array API dispatch at the estimators' public methods.

Under ``sklearn.config_context(array_api_dispatch=True)``, scikit-learn's
GaussianMixture takes arrays of any array-API namespace (array_api_strict,
torch, CuPy...) and returns its results, fitted attributes included, in the
namespace and on the device of its input. gmmc computes on the CPU with
NumPy: the decorated methods convert such inputs to NumPy, run unchanged,
and convert the arrays they return (``fit``: the public fitted arrays) back
with scikit-learn's own helpers. NumPy inputs are not touched, so streaming
(memmaps) and Dask arrays work as without dispatch.

Dispatch can only be on when scikit-learn is imported, and while it is off
the decorators call the method at once: neither imports scikit-learn.
"""
import functools
import sys

import numpy as np

# The init_params scikit-learn's GaussianMixture implements under dispatch.
DISPATCH_INIT_PARAMS = ["random", "random_from_data"]


def dispatching():
    """Whether scikit-learn's ``array_api_dispatch`` is on (False without it)."""
    config = sys.modules.get("sklearn._config")
    get_config = getattr(config, "get_config", None)
    return get_config is not None and bool(get_config().get("array_api_dispatch"))


def check_init_params(init_params):
    """scikit-learn's NotImplementedError, word for word, for an
    ``init_params`` its GaussianMixture does not implement under dispatch
    (raised whatever the input, NumPy included, as scikit-learn does)."""
    if dispatching() and init_params not in DISPATCH_INIT_PARAMS:
        raise NotImplementedError(
            f"Allowed `init_params` are {DISPATCH_INIT_PARAMS} if 'array_api_dispatch' "
            f"is enabled. You passed init_params={init_params!r}, which are not "
            "implemented to work with 'array_api_dispatch' enabled. Please disable "
            f"'array_api_dispatch' to use init_params={init_params!r}.")


def supports(init_params, warm_start):
    """scikit-learn's ``array_api_support`` tag of GaussianMixture."""
    return init_params in DISPATCH_INIT_PARAMS and not warm_start


def to_numpy(value):
    """``value`` as a NumPy array if it is another namespace's array under
    dispatch, else as given."""
    return _to_numpy(value) if dispatching() else value


def fitting(method):
    """For fit, fit_predict, partial_fit: the fitted arrays (and the labels
    returned) in X's namespace and on its device; NumPy for NumPy X."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not dispatching():
            return method(self, *args, **kwargs)
        where = _where(_first_argument(args, kwargs))
        before = _model_where(self)
        if where is None and before is None and not _any_foreign(args, kwargs):
            return method(self, *args, **kwargs)
        args, kwargs = _converted(args, kwargs)
        _move_attributes(self, None)  # a warm start continues from NumPy
        try:
            result = method(self, *args, **kwargs)
        except BaseException:
            _move_attributes(self, before)
            raise
        _move_attributes(self, where)
        return self if result is self else _from_numpy(result, where)
    return wrapper


def predicting(method=None, *, like="X"):
    """For the methods of a fitted model: run on NumPy copies of the fitted
    arrays and of the arguments, and return arrays in X's namespace and
    device (``like="model"``: those of the fitted ``means_``, as
    scikit-learn's ``sample``).

    X must be in the namespace and on the device of the fitted arrays:
    otherwise scikit-learn's ``check_same_namespace`` raises its ValueError
    (which tells how to move the estimator).
    """
    if method is None:
        return functools.partial(predicting, like=like)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not dispatching():
            return method(self, *args, **kwargs)
        model = _model_where(self)
        where = model if like == "model" else _where(_first_argument(args, kwargs))
        if model is None and where is None and not _any_foreign(args, kwargs):
            return method(self, *args, **kwargs)
        if like == "X" and hasattr(self, "means_"):
            _check_same_namespace(_first_argument(args, kwargs), self, method.__name__)
        if model is not None:  # a shallow copy whose fitted arrays are NumPy
            self = _numpy_copy(self)
        args, kwargs = _converted(args, kwargs)
        return _from_numpy(method(self, *args, **kwargs), where)
    return wrapper


# -- conversions (only reached under dispatch, so scikit-learn is imported) ------------

def _first_argument(args, kwargs):
    return args[0] if args else kwargs.get("X")


def _where(value):
    """(namespace, device) of an array of a namespace other than NumPy (and
    Dask, whose arrays gmmc reads in chunks), else None."""
    from sklearn.externals import array_api_compat
    from sklearn.utils._array_api import get_namespace_and_device

    if (not array_api_compat.is_array_api_obj(value)
            or array_api_compat.is_numpy_array(value)  # arrays and scalars
            or array_api_compat.is_dask_array(value)):
        return None
    xp, _, device = get_namespace_and_device(value)
    return xp, device


def _check_same_namespace(X, estimator, method):
    from sklearn.utils import _array_api

    if hasattr(_array_api, "check_same_namespace"):  # recent scikit-learn only
        _array_api.check_same_namespace(X, estimator, attribute="means_", method=method)


def _to_numpy(value):
    where = _where(value)
    if where is None:
        return value
    from sklearn.utils import _array_api

    if hasattr(_array_api, "move_to"):
        return _array_api.move_to(value, xp=np, device="cpu")
    return _array_api._convert_to_numpy(value, where[0])  # older scikit-learn


def _from_numpy(value, where):
    """NumPy arrays (also in a tuple) of numbers moved to ``where``."""
    if where is None:
        return value
    if isinstance(value, tuple):
        return tuple(_from_numpy(v, where) for v in value)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        return value
    from sklearn.utils import _array_api

    xp, device = where
    if hasattr(_array_api, "move_to"):
        return _array_api.move_to(value, xp=xp, device=device)
    return xp.asarray(value, device=device)  # older scikit-learn


def _any_foreign(args, kwargs):
    return any(_where(value) is not None for value in (*args, *kwargs.values()))


def _converted(args, kwargs):
    return (tuple(_to_numpy(value) for value in args),
            {name: _to_numpy(value) for name, value in kwargs.items()})


def _fitted_arrays(estimator):
    """{name: value} of the public fitted attributes that are arrays, or
    tuples of arrays (not ``feature_names_in_``, an array of strings)."""
    def is_array(value):
        if isinstance(value, tuple):
            return bool(value) and all(map(is_array, value))
        return (getattr(value, "ndim", 0) > 0 and hasattr(value, "dtype")
                and getattr(value.dtype, "kind", "f") in "biuf")

    return {name: value for name, value in vars(estimator).items()
            if name.endswith("_") and not name.startswith("_") and is_array(value)}


def _model_where(estimator):
    """(namespace, device) of the fitted arrays when not NumPy's, else None."""
    for value in _fitted_arrays(estimator).values():
        where = _where(value[0] if isinstance(value, tuple) else value)
        if where is not None:
            return where
    return None


def _move_attributes(estimator, where):
    """Move the fitted arrays to ``where`` (NumPy for None), in place.

    A private dict that refers to a fitted array by identity (partial_fit's
    running statistics, valid while ``means_`` is the array they were made
    with) is replaced by a copy that refers to the moved array.
    """
    moved = {}  # id(old array): (old array, kept alive so the id stays its, new array)
    for name, value in _fitted_arrays(estimator).items():
        numpy_value = _to_numpy(value) if not isinstance(value, tuple) else tuple(
            _to_numpy(v) for v in value)
        new = _from_numpy(numpy_value, where)
        if new is not value:
            moved[id(value)] = value, new
            setattr(estimator, name, new)
    for name, value in list(vars(estimator).items()):
        if name.startswith("_") and isinstance(value, dict) and any(
                id(v) in moved for v in value.values()):
            setattr(estimator, name, {key: moved[id(v)][1] if id(v) in moved else v
                                      for key, v in value.items()})


def _numpy_copy(estimator):
    copy = object.__new__(type(estimator))
    copy.__dict__.update(vars(estimator))
    _move_attributes(copy, None)
    return copy
