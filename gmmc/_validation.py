"""Input checks done once, at the public API, so kernels can trust their inputs."""
import numbers

import numpy as np


def _is_sparse(X):
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")


def feature_names(X):
    """Column names of a DataFrame-like X when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(name, str) for name in names):
        return names
    return None


def check_array(X, name="X", dtype=None, min_samples=1, n_features=None):
    """Return X as a finite, C-contiguous float32/float64 2-D array.

    float32 stays float32, every other real dtype becomes float64 (unless
    ``dtype`` forces one). The caller's array is never modified: a copy is made
    whenever a conversion is needed, and kernels only read X.
    """
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; gmmc needs dense data: pass {name}.toarray()")
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    if array.dtype.kind == "c":
        raise TypeError(f"{name} is complex ({array.dtype}); gmmc needs real data")
    if array.dtype.kind not in "fiub":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} must be numeric, got dtype {array.dtype}: {exc}") from None
    if dtype is None:
        dtype = np.float32 if array.dtype == np.float32 else np.float64
    if array.ndim != 2:
        hint = (" Reshape it with X.reshape(-1, 1) for a single feature or "
                "X.reshape(1, -1) for a single sample.") if array.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim}-D "
                         f"with shape {array.shape}.{hint}")
    if array.shape[0] < min_samples:
        raise ValueError(f"{name} has {array.shape[0]} sample(s); at least "
                         f"{min_samples} required")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has 0 features; at least 1 required")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{name} has {array.shape[1]} features, but the model was "
                         f"fitted with {n_features} features")
    array = np.ascontiguousarray(array, dtype=dtype)
    check_finite(array, name)
    return array


def check_finite(array, name):
    if not np.isfinite(array).all():
        kind = "NaN" if np.isnan(array).any() else "infinity"
        raise ValueError(f"{name} contains {kind}; remove or impute such values first")


def check_sample_weight(sample_weight, n_samples, dtype):
    """None, or a finite, non-negative (n_samples,) array of X's dtype."""
    if sample_weight is None:
        return None
    if _is_sparse(sample_weight):
        raise TypeError("sample_weight must be a dense 1-D array")
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must be numeric, got dtype {weight.dtype}")
    if weight.ndim == 0:
        weight = np.full(n_samples, weight)
    if weight.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {weight.shape}")
    weight = np.ascontiguousarray(weight, dtype=dtype)
    check_finite(weight, "sample_weight")
    if (weight < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not weight.sum() > 0:
        raise ValueError("sample_weight must have a positive sum")
    return weight


def check_scalar(value, name, kind, low=None, high=None, low_inclusive=True):
    """Check that ``value`` is a number of ``kind`` (int or float) within bounds."""
    types = (numbers.Integral,) if kind is int else (numbers.Real,)
    if isinstance(value, bool) or not isinstance(value, types):
        raise TypeError(f"{name} must be {'an int' if kind is int else 'a number'}, "
                        f"got {value!r} of type {type(value).__name__}")
    if kind is float and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return value


def check_random_state(seed):
    """A numpy RandomState from None, an int or a RandomState (as scikit-learn)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {seed!r}")
