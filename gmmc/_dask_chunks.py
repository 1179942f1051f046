"""The chunk executor over a Dask array: ``gmmc._streaming``'s passes as Dask tasks.

``DaskChunks`` maps a function over the row chunks of a Dask array (each
task validates its chunk, then runs the function on a worker) and reduces
the results in a tree; the streamed EM, its initialisations and the E-step
statistics run on it unchanged. The estimators use it for Dask input
(``_BaseMixture._chunk_executor``), and ``gmmc.dask`` publishes it. This
module imports Dask; importing gmmc does not import it.
"""
import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gmmc.dask needs Dask: pip install 'gmmc[dask]' "
                      "(dask[array] and distributed)") from exc

from . import _streaming
from ._sources import is_dask_collection
from ._validation import check_dtype, check_finite, check_sample_weight, check_scalar


def _apply(func, block, weight, start, args, allow_nan=False, fill=None):
    """Run a chunk task on a worker: validate the chunk (and fill its missing
    values while a start is computed, see ``_streaming.prepare_chunk``), then
    ``func``."""
    X = _streaming.prepare_chunk(block, allow_nan, fill)
    if weight is not None:
        weight = _chunk_weight(weight, X.dtype)
    return func(X, weight, start, *args)


def _chunk_weight(weight, dtype):
    weight = np.asarray(weight)
    if weight.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must be numeric, got dtype {weight.dtype}")
    weight = np.ascontiguousarray(weight, dtype=dtype)
    check_finite(weight, "sample_weight")
    if (weight < 0).any():
        raise ValueError("sample_weight must be non-negative")
    return weight


def _weight_total(weight, dtype):
    return float(_chunk_weight(weight, dtype).sum(dtype=np.float64))


def _combine_all(combine, *parts):
    total = parts[0]
    for part in parts[1:]:
        total = combine(total, part)
    return total


class DaskChunks:
    """Run functions over the row chunks of a Dask array: the Dask fit's engine.

    The chunk executor of ``gmmc._streaming``: the EM loop and the
    initialisations are written against its methods, so that the Dask fit
    and the out-of-core fit share them. X is rechunked to whole rows (one
    chunk along the features) and unknown chunk sizes are computed; each task
    gets a validated chunk, its weights (a NumPy slice or a Dask chunk) and
    the index of its first row. Most users need only
    :class:`gmmc.dask.GaussianMixture`.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        The data, in any chunking.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None
        Non-negative weight of each row; a scalar Dask array is broadcast.
    split_every : int, default=8
        Fan-in of the tree reduction in :meth:`map_reduce` (at least 2).
    task_threads : int, default=1
        Kernel threads one chunk task may use.

    Raises
    ------
    ValueError
        When X is not 2-D, holds complex numbers or strings, or the weights
        have the wrong shape.
    TypeError
        When X's dtype is otherwise not numeric.

    See Also
    --------
    GaussianMixture : The estimator built on it.

    Examples
    --------
    >>> import dask.array as da
    >>> import gmmc
    >>> from gmmc.dask import DaskChunks
    >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
    >>> chunks = DaskChunks(X)
    >>> chunks.bounds
    [(0, 100), (100, 200), (200, 272)]
    """

    sequential = False

    def __init__(self, X, sample_weight=None, split_every=8, task_threads=1):
        X = da.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array, got {X.ndim}-D with shape {X.shape}")
        check_dtype(X.dtype)
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        if any(np.isnan(size) for size in X.chunks[0]):
            X = X.compute_chunk_sizes()
        self.X = X
        self.n_samples, self.n_features = (int(n) for n in X.shape)
        self.dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        self.split_every = max(2, int(split_every))
        self.task_threads = int(task_threads)
        sizes = [int(n) for n in X.chunks[0]]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        keep = [i for i, n in enumerate(sizes) if n > 0]
        blocks = X.to_delayed().ravel()
        self.bounds = [(starts[i], starts[i] + sizes[i]) for i in keep]
        self._blocks = [blocks[i] for i in keep]
        self.has_weights = sample_weight is not None
        self.allow_nan = False  # NaN are missing values (nan_policy='marginalize')
        self.fill = None  # (D,): what replaces NaN while a start is computed
        self._weight = None
        self._weights = [None] * len(keep)
        if sample_weight is None:
            return
        if is_dask_collection(sample_weight):
            weight = da.asarray(sample_weight)
            if weight.ndim == 0:
                weight = da.full(self.n_samples, weight, chunks=(tuple(sizes),))
            if weight.shape != (self.n_samples,):
                raise ValueError(f"sample_weight must have shape ({self.n_samples},), got "
                                 f"{weight.shape}")
            weight = weight.rechunk((tuple(sizes),))
            parts = weight.to_delayed().ravel()
            self._weights = [parts[i] for i in keep]
        else:  # in memory: validated once here
            weight = check_sample_weight(sample_weight, self.n_samples, self.dtype)
            self._weights = [weight[a:b] for a, b in self.bounds]
        self._weight = weight

    def _tasks(self, func, args, chunks):
        indices = range(len(self.bounds)) if chunks is None else chunks
        return [dask.delayed(_apply)(func, self._blocks[i], self._weights[i],
                                     self.bounds[i][0], args, self.allow_nan, self.fill)
                for i in indices]

    def map_list(self, func, *args, chunks=None):
        """Compute ``func(X, w, start, *args)`` on each chunk, as a list.

        Parameters
        ----------
        func : callable
            Called on each validated chunk ``X`` with its weights ``w`` (None
            without sample weights) and the index ``start`` of its first row.
        *args : object
            Passed on to ``func``.
        chunks : sequence of int, default=None
            Positions of the chunks to run on (in ``bounds``); None: all.

        Returns
        -------
        list
            The results, in chunk order.

        See Also
        --------
        DaskChunks.map_reduce : Reduce the results instead.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> from gmmc.dask import DaskChunks
        >>> chunks = DaskChunks(da.from_array(gmmc.load_faithful(), chunks=100))
        >>> chunks.map_list(lambda X, w, start: (start, len(X)))
        [(0, 100), (100, 100), (200, 72)]
        """
        return list(dask.compute(*self._tasks(func, args, chunks)))

    def map_reduce(self, func, *args, combine=_streaming.add):
        """Compute ``func`` on each chunk and combine the results in a tree.

        Parameters
        ----------
        func : callable
            As in :meth:`map_list`.
        *args : object
            Passed on to ``func``.
        combine : callable, default=addition
            Combines two results (numbers, arrays, ``SufficientStatistics``
            or tuples of them are added); ``split_every`` results per node.

        Returns
        -------
        object
            The combined result.

        See Also
        --------
        DaskChunks.map_list : The results one by one.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> from gmmc.dask import DaskChunks
        >>> chunks = DaskChunks(da.from_array(gmmc.load_faithful(), chunks=100))
        >>> chunks.map_reduce(lambda X, w, start: len(X))
        272
        """
        parts = self._tasks(func, args, None)
        while len(parts) > 1:  # a tree: split_every parts per node
            step = self.split_every
            parts = [dask.delayed(_combine_all)(combine, *parts[i:i + step])
                     for i in range(0, len(parts), step)]
        return dask.compute(parts[0])[0]

    def rows(self, indices):
        """Fetch a few rows by global index.

        Parameters
        ----------
        indices : array-like of int
            Row positions.

        Returns
        -------
        ndarray of shape (len(indices), n_features)
            The rows, validated (float32 or float64).

        See Also
        --------
        DaskChunks.map_list : Work on whole chunks.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> from gmmc.dask import DaskChunks
        >>> chunks = DaskChunks(da.from_array(gmmc.load_faithful(), chunks=100))
        >>> print(chunks.rows([0, 271]))
        [[ 3.6   79.   ]
         [ 4.467 74.   ]]
        """
        indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        return _streaming.prepare_chunk(self.X[indices].compute(), self.allow_nan,
                                        self.fill)

    def chunk_weight_totals(self):
        """Total sample weight of each chunk.

        Returns
        -------
        ndarray of shape (n_chunks,)
            The sum of the weights of each chunk's rows (its row count
            without sample weights), as float64.

        See Also
        --------
        DaskChunks.all_weights : The weights themselves.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> from gmmc.dask import DaskChunks
        >>> chunks = DaskChunks(da.from_array(gmmc.load_faithful(), chunks=100))
        >>> print(chunks.chunk_weight_totals())
        [100. 100.  72.]
        """
        if not self.has_weights:
            return np.array([b - a for a, b in self.bounds], dtype=np.float64)
        if isinstance(self._weight, np.ndarray):
            return np.array([w.sum(dtype=np.float64) for w in self._weights])
        return np.array(dask.compute(*[dask.delayed(_weight_total)(w, self.dtype)
                                       for w in self._weights]))

    def all_weights(self):
        """All the sample weights, computed and validated.

        Returns
        -------
        ndarray of shape (n_samples,) or None
            The weights in X's float dtype, or None without sample weights.

        See Also
        --------
        DaskChunks.chunk_weight_totals : Their sums per chunk.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> import gmmc
        >>> from gmmc.dask import DaskChunks
        >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
        >>> print(DaskChunks(X).all_weights())
        None
        >>> print(DaskChunks(X, sample_weight=np.full(272, 2.0)).all_weights()[:3])
        [2. 2. 2.]
        """
        if not self.has_weights:
            return None
        if isinstance(self._weight, np.ndarray):
            return self._weight
        return _chunk_weight(self._weight.compute(), self.dtype)


def executor(estimator, X, sample_weight):
    """The ``DaskChunks`` over X that fits ``estimator``: its ``split_every``
    (default 8; ``gmmc.dask.GaussianMixture`` has the parameter) and
    ``n_threads`` kernel threads per chunk task (None: 1, as Dask runs the
    chunks in parallel)."""
    split_every = getattr(estimator, "split_every", 8)
    check_scalar(split_every, "split_every", int, low=2)
    if estimator.n_threads is not None:
        check_scalar(estimator.n_threads, "n_threads", int, low=1)
    return DaskChunks(X, sample_weight, split_every=split_every,
                      task_threads=estimator.n_threads or 1)
