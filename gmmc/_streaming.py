"""EM on data seen in chunks: the chunk executors and the streamed EM passes,
behind out-of-core (memmap, h5py, zarr, ``RowBlocks``) and Dask fits.

Everything here is written against a small *chunk executor* interface:

* ``n_samples``, ``n_features``, ``dtype`` (float32 or float64), ``bounds``
  (the (start, stop) rows of each chunk), ``task_threads`` (threads one chunk
  task may use) and ``sequential`` (chunks are visited one after another, in
  order, in this process);
* ``map_list(func, *args, chunks=None)``: ``func(X, w, start, *args)`` on each
  chunk (validated float rows ``X``, their weights ``w`` or None, the index of
  the first row), results in chunk order;
* ``map_reduce(func, *args, combine=add)``: the same, reduced with ``combine``;
* ``rows(indices)``: a few rows, by global index;
* ``chunk_weight_totals()``: the sample weight of each chunk;
* ``all_weights()``: the (N,) sample weights, or None (rarely needed).

``BlockChunks`` below streams a ``gmmc._sources.RowBlocks`` source in this
process; ``gmmc._dask_chunks`` provides the Dask executor, which the
estimator picks for a Dask collection. On top of them sit the validation
pass, the initialisations (``gmmc._chunked_init``: k-means, k-means++,
random, random_from_data and given parameters, each reproducing the
in-memory draws and arithmetic) and the EM loop: an E-step is one
``map_reduce`` of ``SufficientStatistics`` and the M-step is the in-memory
one, so every path fits the same model as ``fit`` on an array, up to the
order of floating-point sums.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _chunked_init, _missing, _stats
from ._parallel import blas_limited, threads_for
from ._sources import RowBlocks
from ._validation import check_array, check_magnitude, check_random_state, check_sample_weight

# -- the in-process executor ---------------------------------------------------

def add(a, b):
    """Default ``combine``: sums of statistics, arrays, numbers and tuples of them."""
    if isinstance(a, tuple):
        return tuple(add(x, y) for x, y in zip(a, b))
    if a is None:
        return b
    return a + b


class BlockChunks:
    """Chunk executor over a ``RowBlocks`` source, block after block, in this process.

    Kernels run in ``n_threads`` threads inside each block, while a
    background thread reads and validates the next block: two blocks (plus the
    kernels' small scratch) are in memory at a time.
    """

    sequential = True

    def __init__(self, source, weight, n_threads):
        self.source = source
        self.weight = weight
        self.has_weights = weight is not None
        self.n_samples, self.n_features = source.shape
        self.dtype = source.dtype
        self.task_threads = n_threads
        self.bounds = source.bounds()
        self.allow_nan = False  # NaN are missing values (nan_policy='marginalize')
        self.fill = None  # (D,): what replaces NaN while a start is computed

    def _read(self, i):
        start, stop = self.bounds[i]
        w = None if self.weight is None else self.weight[start:stop]
        return fill_missing(self.source.read(start, stop, self.allow_nan), self.fill), w, start

    def _chunks(self, chunks):
        """Yield (X, w, start) per chunk; the next block is read in a background
        thread meanwhile (file reads release the GIL), so at most two blocks
        are in memory."""
        indices = list(range(len(self.bounds)) if chunks is None else chunks)
        if not indices:
            return
        with blas_limited(threads_for(self.source.block_rows, self.task_threads)), \
                ThreadPoolExecutor(1, thread_name_prefix="gmmc-read") as reader:
            pending = reader.submit(self._read, indices[0])
            for n, i in enumerate(indices):
                chunk = pending.result()
                pending = (reader.submit(self._read, indices[n + 1])
                           if n + 1 < len(indices) else None)
                yield chunk
                del chunk
                self.source.release(*self.bounds[i])

    def map_list(self, func, *args, chunks=None):
        out = []
        for X, w, start in self._chunks(chunks):
            out.append(func(X, w, start, *args))
            del X  # the next block is in flight: keep two, not three, in memory
        return out

    def map_reduce(self, func, *args, combine=add):
        total = None
        for X, w, start in self._chunks(None):
            part = func(X, w, start, *args)
            del X  # the next block is in flight: keep two, not three, in memory
            total = part if total is None else combine(total, part)
        return total

    def rows(self, indices):
        indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        out = np.empty((indices.size, self.n_features), dtype=self.dtype)
        for j, i in enumerate(indices):
            out[j] = fill_missing(self.source.read(int(i), int(i) + 1, self.allow_nan),
                                  self.fill)[0]
            self.source.release(int(i), int(i) + 1)
        return out

    def chunk_weight_totals(self):
        if self.weight is None:
            return np.array([stop - start for start, stop in self.bounds], dtype=np.float64)
        return np.array([self.weight[a:b].sum(dtype=np.float64) for a, b in self.bounds])

    def all_weights(self):
        return self.weight


def block_chunks(X, sample_weight, n_threads):
    """The in-process executor over X (a ``RowBlocks`` or anything it wraps)."""
    source = X if isinstance(X, RowBlocks) else RowBlocks(X)
    weight = check_sample_weight(sample_weight, source.n_samples, source.dtype)
    return BlockChunks(source, weight, n_threads)


# -- chunk tasks (module level, so that they pickle to Dask workers) ----------

def fill_missing(X, fill):
    """X with its NaN (missing values) replaced by ``fill``'s entries (D,), or X
    itself when ``fill`` is None: a start is computed on mean-filled data (see
    nan_policy)."""
    if fill is None or not _missing.has_nan(X):
        return X
    return np.where(np.isnan(X), np.asarray(fill, dtype=X.dtype), X)


def prepare_chunk(block, allow_nan=False, fill=None):
    """A block of rows validated as ``fit`` validates X (NaN allowed as missing
    values with ``allow_nan``), then ``fill_missing``."""
    return fill_missing(check_array(block, name="X", min_samples=0, allow_nan=allow_nan),
                        fill)


def _summary_chunk(X, w, start):
    """(largest magnitude, weight sum, weighted sum of x, count of positive
    weights, weight of the observed values of each feature, count of missing
    values); NaN (missing values) count as 0 in the sums."""
    if not _missing.has_nan(X):
        biggest = max(abs(float(X.max())), abs(float(X.min()))) if X.size else 0.0
        if w is None:
            return (biggest, float(X.shape[0]), X.sum(axis=0, dtype=np.float64),
                    X.shape[0], np.full(X.shape[1], float(X.shape[0])), 0)
        w64 = w.astype(np.float64)
        return (biggest, float(w64.sum()), w64 @ X, int(np.count_nonzero(w)),
                np.full(X.shape[1], float(w64.sum())), 0)
    missing = np.isnan(X)
    empty = np.flatnonzero(missing.all(axis=1))
    if empty.size:
        raise _missing._all_missing_error(start + int(empty[0]))
    filled = np.where(missing, 0.0, X.astype(np.float64))
    w64 = np.ones(X.shape[0]) if w is None else w.astype(np.float64)
    n_positive = X.shape[0] if w is None else int(np.count_nonzero(w))
    return (float(np.abs(filled).max()), float(w64.sum()), w64 @ filled, n_positive,
            w64 @ ~missing, int(missing.sum()))


def _summary_combine(a, b):
    return tuple(max(x, y) if i == 0 else x + y for i, (x, y) in enumerate(zip(a, b)))


def estep_chunk(X, w, start, weights, means, prec_chol, covariance_type, n_threads,
                log_weights=None):
    # _stats.e_step itself when the chunk holds no NaN (missing values).
    return _missing.e_step(X, w, weights, means, prec_chol, covariance_type, n_threads,
                           log_weights=log_weights)


def _labels_chunk(X, w, start, estimator, n_threads):
    return estimator._posterior(X, n_threads)[1].argmax(axis=1)


def _moment_chunk(X, w, start, name, center, n_threads):
    """``_stats.ArrayMoments`` of the chunk: its ``name`` sum about ``center``."""
    return getattr(_stats.ArrayMoments(X, w, n_threads), name)(center)


# -- validation, initial parameters, EM and the fit driver ------------------------

def summarize(data):
    """One validating pass: every chunk is checked finite (and its weights, on
    Dask); returns the largest magnitude, the weight sum, the weighted sum of
    the rows and the number of samples of positive weight."""
    biggest, weight_sum, sum_x, n_positive, observed, n_missing = data.map_reduce(
        _summary_chunk, combine=_summary_combine)
    # With missing values, each feature's mean is over its observed values.
    mean = sum_x / (observed if n_missing else weight_sum)
    return {"biggest": biggest, "weight_sum": weight_sum, "sum_x": sum_x,
            "n_positive": n_positive, "mean": mean, "n_missing": n_missing}


class ChunkMoments:
    """``_stats.ArrayMoments`` of a chunk executor's data, for ``_fit_context``:
    the mean and the weight sum from ``summarize``'s pass, the other sums one
    pass each, when asked."""

    def __init__(self, data, summary):
        self.data = data
        self.n_samples, self.n_features = data.n_samples, data.n_features
        self.dtype = data.dtype
        self.weight_sum = summary["weight_sum"]
        self._mean = summary["mean"]

    def mean(self):
        return self._mean

    def squares(self, center):
        return self.data.map_reduce(_moment_chunk, "squares", center, self.data.task_threads)

    def scatter(self, center):
        return self.data.map_reduce(_moment_chunk, "scatter", center, self.data.task_threads)


def check_shape(estimator, n_samples, n_features, min_samples=2):
    """check_array's sample and feature count errors, for data never loaded whole."""
    by = f" by {type(estimator).__name__}"
    shape = (n_samples, n_features)
    if n_samples < min_samples:
        raise ValueError(f"X: found array with {n_samples} sample(s) (shape={shape}) while "
                         f"a minimum of {min_samples} is required{by}.")
    if n_features == 0:
        raise ValueError(f"X: found array with 0 feature(s) (shape={shape}) while a "
                         f"minimum of 1 is required{by}.")


def initial_parameters(estimator, data, summary, random_state, context):
    """The estimator's ``_initial_parameters`` over chunks: the statistics of the
    start (if it needs them) from the same draws from ``random_state`` and the
    same arithmetic, chunk by chunk (``gmmc._chunked_init``)."""
    return estimator._initial_parameters_from(
        lambda: _chunked_init.initial_statistics(data, summary, estimator.init_params,
                                                 estimator.n_components,
                                                 estimator.covariance_type, random_state),
        data.dtype, *context)


def _mean_filled_start(estimator, data, summary, random_state, context):
    """``initial_parameters``, computed (as in memory) on the data with each
    missing value replaced by its feature's mean."""
    data.fill = summary["mean"] if summary["n_missing"] else None
    try:
        return initial_parameters(estimator, data, summary, random_state, context)
    finally:
        data.fill = None


def fit_chunked(estimator, data):
    """The estimator's ``_fit`` on a chunk executor, with the same checks, set-up
    (``_fit_context``), starts and EM loop (``_fit_loop``); sets the fitted
    attributes."""
    n_samples, n_features = data.n_samples, data.n_features
    check_shape(estimator, n_samples, n_features)
    checked = estimator._check_parameters(n_features)
    data.allow_nan = estimator._allows_nan()
    if n_samples < estimator.n_components:
        raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                         f"{estimator.n_components}, n_samples = {n_samples}")
    summary = summarize(data)
    check_magnitude(np.full((1, n_features), summary["biggest"], dtype=data.dtype), "X",
                    n_terms=n_samples)
    if data.has_weights:
        if not summary["weight_sum"] > 0:
            raise ValueError("sample_weight must not be all zero: its sum must be positive")
        if summary["n_positive"] < estimator.n_components:
            raise ValueError("fewer samples of positive weight than n_components")
    random_state = check_random_state(estimator.random_state)
    cov_type = estimator.covariance_type
    # One row of X's largest magnitude stands for X in the overflow message.
    probe = np.full((1, n_features), summary["biggest"], dtype=data.dtype)
    context = estimator._fit_context(ChunkMoments(data, summary), checked)
    estimator._fit_loop(
        lambda: _mean_filled_start(estimator, data, summary, random_state, context),
        lambda w, m, pc, log_w=None: data.map_reduce(estep_chunk, w, m, pc, cov_type,
                                                     data.task_threads, log_w),
        probe, None)
    estimator.n_samples_seen_ = summary["weight_sum"]


def fit(estimator, data, sample_weight):
    """``_fit`` on a chunk executor (``sample_weight``: the weights it was made with).

    Returns ``(data, None, n_threads)``, as ``_fit`` returns (X, weights,
    threads), the executor holding the weights; or, when the rows fit in one
    block, what the in-memory fit of that block returns.
    """
    if isinstance(data, BlockChunks) and len(data.bounds) <= 1:
        # One block: simply the in-memory fit.
        return estimator._fit(data.source.read_raw(0, data.n_samples), sample_weight)
    fit_chunked(estimator, data)
    return data, None, data.task_threads


def labels(estimator, data):
    """Most probable component of every row of a chunk executor's data."""
    parts = data.map_list(_labels_chunk, estimator, data.task_threads)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)
