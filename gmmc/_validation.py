"""Input checks done once, at the public API, so kernels can trust their inputs."""
import numbers
import threading

import numpy as np

from . import _em


def _is_sparse(X):
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")


def feature_names(X):
    """Column names of a DataFrame-like X when they are all strings, else None.

    Mixed string and non-string names are ambiguous and raise TypeError, as in
    scikit-learn.
    """
    columns = getattr(X, "columns", None)
    if columns is None or _is_sparse(X):
        return None
    names = np.asarray(list(columns), dtype=object)
    kinds = {type(name).__name__ for name in names}
    if len(names) == 0 or not any(isinstance(name, str) for name in names):
        return None
    if not all(isinstance(name, str) for name in names):
        raise TypeError(
            "X's column names must all be strings to be used as feature names, but "
            f"they have types {sorted(kinds)}; convert them with "
            "X.columns = X.columns.astype(str)")
    return names


def check_dtype(dtype, name="X"):
    """Reject complex, string and other non-numeric dtypes (object passes: its
    elements are checked on conversion)."""
    kind = np.dtype(dtype).kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}; "
                         "gmmc needs real numbers")
    if kind in "US":
        raise ValueError(f"{name} holds strings (dtype {dtype}); gmmc needs numbers: "
                         f"convert {name} to a numeric dtype first")
    if kind not in "fiubO":
        raise TypeError(f"{name} must be numeric, got dtype {dtype}")


def check_array(X, name="X", dtype=None, min_samples=1, n_features=None,
                estimator=None, allow_nan=False, magnitude_terms=None, n_threads=1):
    """Return X as a finite, C-contiguous float32/float64 2-D array.

    float32 stays float32, every other real dtype (integers, booleans, float16,
    objects holding numbers) becomes float64 (unless ``dtype`` forces one).
    The caller's array is never modified: a copy is made whenever a conversion
    is needed, and kernels only read X. Errors name ``name`` and the problem:
    TypeError for a kind of input gmmc does not take (sparse, non-numeric
    objects), ValueError for a bad value or shape. ``estimator`` (a class
    name) is quoted in the messages, as scikit-learn does. ``magnitude_terms``
    (an int, or "samples" for X's number of rows): also ``check_magnitude``,
    from the same pass over the values, on up to ``n_threads`` threads.
    """
    by = f" by {estimator}" if estimator else ""
    if _is_sparse(X):
        raise TypeError(
            f"Sparse data was passed for {name} ({type(X).__name__}), but gmmc needs "
            f"dense data: convert it with {name}.toarray()")
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    check_dtype(array.dtype, name)
    if array.ndim != 2:
        if array.ndim == 1:
            hint = (" Reshape your data with X.reshape(-1, 1) if it has a single "
                    "feature or X.reshape(1, -1) if it is a single sample.")
        elif array.ndim == 0:
            hint = f" ({name} is {X!r:.60})"
        else:
            hint = ""
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim}-D "
                         f"with shape {array.shape}.{hint}")
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except TypeError as exc:
            raise TypeError(f"{name} must contain only numbers, but an element could not "
                            f"be converted: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{name} must contain only numbers, but an element could "
                             f"not be converted: {exc}") from None
    if dtype is None:
        dtype = np.float32 if array.dtype == np.float32 else np.float64
    if array.shape[0] < min_samples:
        raise ValueError(f"{name}: found array with {array.shape[0]} sample(s) (shape="
                         f"{array.shape}) while a minimum of {min_samples} is required{by}.")
    if array.shape[1] == 0:
        raise ValueError(f"{name}: found array with 0 feature(s) (shape={array.shape}) "
                         f"while a minimum of 1 is required{by}.")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{name} has {array.shape[1]} features, but "
                         f"{estimator or 'the model'} is expecting {n_features} features "
                         "as input.")
    array = np.ascontiguousarray(array, dtype=dtype)
    bounds = check_finite(array, name, allow_nan, n_threads)
    if magnitude_terms is not None:
        _check_magnitude_bounds(array, name, *bounds, array.shape[0]
                                if magnitude_terms == "samples" else magnitude_terms)
    return array


def value_range(array, n_threads=1):
    """(least, greatest, nonfinite) of a float array's values: the bounds skip
    NaN; nonfinite says whether any value is NaN or infinite. One pass in the
    kernel (on up to ``n_threads`` threads) for contiguous float32/float64
    arrays, NumPy otherwise."""
    if array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
        return _em.value_range(array.reshape(-1), n_threads)
    if not array.size:
        return np.inf, -np.inf, False
    least, greatest = np.fmin.reduce(array, axis=None), np.fmax.reduce(array, axis=None)
    nonfinite = not (np.isfinite(array.min()) and np.isfinite(array.max()))
    return float(least), float(greatest), nonfinite


def check_finite(array, name, allow_nan=False, n_threads=1):
    """Raise ValueError on NaN (unless ``allow_nan``) or infinity; returns the
    least and the greatest value that is not NaN."""
    least, greatest, nonfinite = value_range(array, n_threads)
    if allow_nan:  # missing values (nan_policy='marginalize'): only NaN
        # (the bounds of no values, or of NaN alone, are inf and -inf)
        if least == -np.inf or greatest == np.inf:
            raise ValueError(f"Input {name} contains infinity; only NaN marks a "
                             "missing value")
    elif nonfinite:
        what = "NaN" if np.isnan(array).any() else "infinity"
        raise ValueError(f"Input {name} contains {what}; remove or impute such values "
                         "first")
    return least, greatest


def check_magnitude(X, name, n_terms=1):
    """Raise ValueError if sums of squared differences of X's values can overflow.

    EM and k-means sum squared differences of rows of X (``n_terms`` of them
    when fitting; one per sample when predicting) in X's dtype, so X's largest
    magnitude must stay below sqrt(max / (4 * n_features * n_terms)).
    """
    least, greatest, _ = value_range(X)  # NaN (missing values) skipped
    _check_magnitude_bounds(X, name, least, greatest, n_terms)


def _check_magnitude_bounds(X, name, least, greatest, n_terms):
    """check_magnitude, given X's least and greatest value (NaN skipped)."""
    if least > greatest:  # no values, or NaN alone
        return
    biggest = max(abs(least), abs(greatest))
    limit = np.sqrt(float(np.finfo(X.dtype).max) / (4.0 * X.shape[1] * max(n_terms, 1)))
    if biggest > limit:
        raise ValueError(
            f"{name} has values up to {biggest:.3g} in magnitude: their squared "
            f"differences overflow {X.dtype.name} (the limit for {X.shape[1]} feature(s)"
            f"{f' and {n_terms} samples' if n_terms > 1 else ''} is {limit:.3g}). "
            f"Rescale {name}, for example standardize each feature.")


def check_sample_weight(sample_weight, n_samples, dtype):
    """None, or a finite, non-negative (n_samples,) array of X's dtype."""
    if sample_weight is None:
        return None
    if _is_sparse(sample_weight):
        raise TypeError("sample_weight is a sparse matrix; it must be a dense 1-D array")
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
        raise ValueError("sample_weight must not be all zero: its sum must be positive")
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


_fit_generators = threading.local()


def fit_random_state(seed):
    """``check_random_state`` for the generator of one fit, which must not
    outlive it: an int re-seeds a generator kept per thread instead of
    building one (a new RandomState costs ~80 us, a quarter of a fit of iris;
    seeding one ~1.4 us). The draws are those of ``RandomState(seed)``."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        generator = getattr(_fit_generators, "generator", None)
        if generator is None:
            generator = _fit_generators.generator = np.random.RandomState()
        generator.seed(seed)
        return generator
    return check_random_state(seed)


def check_random_state(seed):
    """A numpy RandomState from None, an int or a RandomState (as scikit-learn)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {seed!r}")
