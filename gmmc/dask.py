"""Gaussian mixtures on Dask arrays: distributed EM, one map-reduce per iteration.

Install with ``pip install 'gmmc[dask]'``. ``import gmmc`` never imports Dask;
this module does.

Every EM iteration is one map over the row chunks of X (each chunk task runs
gmmc's fused E-step kernel and returns a small ``gmmc.SufficientStatistics``)
and one tree reduction of those statistics (fan-in ``split_every``); the
M-step runs on the client. The validation pass and the initialisations are
built the same way (``gmmc._streaming`` holds the algorithms, shared with the
out-of-core memmap path):

* 'k-means++': the in-memory greedy k-means++, round by round: each round is
  one map over the chunks (candidate potentials) plus the few chunks the
  draws fall in; no N-sized state is kept between rounds;
* 'kmeans': k-means++ seeds, then Lloyd iterations as map-reduces;
* 'random_from_data' and given ``weights_init``/``means_init``/
  ``precisions_init``: exactly as in memory (the sample weights, when given
  and needed for the draw, are brought to the client: N numbers);
* 'random': the uniform responsibilities of each chunk are drawn from a seed
  of its own (taken from ``random_state``), so they differ from the in-memory
  draws (which come from one stream over all N rows).

All but 'random' draw the same rows from the same ``random_state`` as the
in-memory fit and so fit the same model, up to the order of floating-point
sums. X is never persisted: each pass recomputes its chunks from their graph
(a file read, a lazy generator), so data larger than the cluster's memory
fits; call ``X.persist()`` first when it fits in memory, to read it once.

The work runs on whatever Dask scheduler is active: a ``distributed.Client``
(a LocalCluster, or a cluster from dask-jobqueue or dask-kubernetes), or the
local threaded scheduler. Each chunk task uses ``n_threads`` kernel threads
(default 1: Dask runs the chunks in parallel).
"""
import copy

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gmmc.dask needs Dask: pip install 'gmmc[dask]' "
                      "(dask[array] and distributed)") from exc

from . import _streaming
from ._sources import is_dask_collection
from ._validation import (check_dtype, check_finite, check_sample_weight,
                          check_scalar)
from .mixture import GaussianMixture as _GaussianMixture

__all__ = ["GaussianMixture", "DaskChunks"]


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


def _fit(estimator, X, sample_weight):
    """``GaussianMixture._fit`` for a Dask array (any gmmc GaussianMixture)."""
    split_every = getattr(estimator, "split_every", 8)
    check_scalar(split_every, "split_every", int, low=2)
    if estimator.n_threads is not None:
        check_scalar(estimator.n_threads, "n_threads", int, low=1)
    data = DaskChunks(X, sample_weight, split_every=split_every,
                      task_threads=estimator.n_threads or 1)
    _streaming.fit_chunked(estimator, data)
    return data, None, data.task_threads


def _call(block, estimator, method):
    return getattr(_GaussianMixture, method)(estimator, block)


class GaussianMixture(_GaussianMixture):
    """Gaussian mixture for Dask arrays: distributed EM and lazy predictions.

    ``fit`` on a ``dask.array`` runs each EM iteration as one map over the row
    chunks (statistics per chunk, by gmmc's kernels on the workers) and one
    tree reduction; see the module docstring for the initialisations. It fits
    the same model as the in-memory fit on the same data and start.
    ``predict``, ``predict_proba``, ``score_samples`` and ``fit_predict`` of a
    Dask array return lazy Dask arrays (chunked as X's rows); ``score``,
    ``bic`` and ``aic`` compute their number. NumPy and other inputs behave as
    in ``gmmc.GaussianMixture``. (``gmmc.GaussianMixture.fit`` also accepts a
    Dask array; this class adds the lazy predictions and ``split_every``.)

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        As in :class:`gmmc.GaussianMixture`.
    tol : float, default=1e-3
        Convergence threshold on the lower bound.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the start is chosen, distributed as the module's description says.
    weights_init : array-like of shape (K,), default=None
        Initial weights.
    means_init : array-like of shape (K, D), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions, shaped as ``precisions_``.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of ``sample``.
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution.
    verbose : int, default=0
        Progress messages, as in :class:`gmmc.GaussianMixture`.
    verbose_interval : int, default=10
        Iterations between two progress lines.
    n_threads : int, default=None
        Kernel threads of one chunk task (None: 1, as Dask runs chunks in
        parallel).
    nan_policy : {'raise', 'marginalize'}, default='raise'
        NaN in X: an error, or missing values, as in
        :class:`gmmc.GaussianMixture`.
    split_every : int, default=8
        Fan-in of the tree reduction of the per-chunk statistics.

    See Also
    --------
    gmmc.GaussianMixture : The in-memory estimator, whose methods this one has.
    DaskChunks : How the chunks are visited.

    Examples
    --------
    >>> import dask.array as da
    >>> import gmmc
    >>> import gmmc.dask
    >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
    >>> gm = gmmc.dask.GaussianMixture(2, random_state=0).fit(X)
    >>> print(gm.means_.round(2))
    [[ 2.04 54.48]
     [ 4.29 79.97]]
    >>> labels = gm.predict(X)  # lazy
    >>> labels.chunks
    ((100, 100, 72),)
    >>> print(labels[:5].compute())
    [1 0 1 0 1]
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_threads=None, nan_policy="raise", split_every=8):
        super().__init__(n_components, covariance_type=covariance_type, tol=tol,
                         reg_covar=reg_covar, max_iter=max_iter, n_init=n_init,
                         init_params=init_params, weights_init=weights_init,
                         means_init=means_init, precisions_init=precisions_init,
                         random_state=random_state, warm_start=warm_start,
                         verbose=verbose, verbose_interval=verbose_interval,
                         n_threads=n_threads, nan_policy=nan_policy)
        self.split_every = split_every

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model, then label each sample with its most probable component.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        labels : dask.array.Array or ndarray of shape (n_samples,)
            Lazy, chunked as X's rows, for a Dask X; an ndarray otherwise.

        See Also
        --------
        GaussianMixture.predict : Label data with the fitted model.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> import gmmc.dask
        >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
        >>> labels = gmmc.dask.GaussianMixture(2, random_state=0).fit_predict(X)
        >>> print(labels[:5].compute())
        [1 0 1 0 1]
        """
        if not is_dask_collection(X):
            return super().fit_predict(X, sample_weight=sample_weight)
        self.fit(X, sample_weight=sample_weight)
        return self.predict(X)

    def _lazy(self, X, method, dtype, columns=None):
        self._check_fitted()
        X = da.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.means_.shape[1]:
            raise ValueError(f"X has shape {X.shape}, but {type(self).__name__} is "
                             f"expecting {self.means_.shape[1]} features as input.")
        X = X.rechunk({1: -1})
        model = copy.deepcopy(self)  # a snapshot: later refits do not change the result
        if columns is None:
            return X.map_blocks(_call, model, method, dtype=dtype, drop_axis=1,
                                meta=np.empty((0,), dtype=dtype))
        return X.map_blocks(_call, model, method, dtype=dtype,
                            chunks=(X.chunks[0], (columns,)),
                            meta=np.empty((0, 0), dtype=dtype))

    def predict(self, X):
        """Label each sample with its most probable component.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Points to label.

        Returns
        -------
        labels : dask.array.Array or ndarray of shape (n_samples,)
            Lazy, chunked as X's rows, for a Dask X; an ndarray otherwise.

        See Also
        --------
        GaussianMixture.predict_proba : The probabilities behind the labels.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> import gmmc.dask
        >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
        >>> gm = gmmc.dask.GaussianMixture(2, random_state=0).fit(X)
        >>> print(gm.predict(X)[:5].compute())
        [1 0 1 0 1]
        """
        if is_dask_collection(X):
            return self._lazy(X, "predict", np.intp)
        return super().predict(X)

    def predict_proba(self, X):
        """Compute the posterior probability of each component for each sample.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Points to evaluate.

        Returns
        -------
        proba : dask.array.Array or ndarray of shape (n_samples, n_components)
            Lazy, chunked as X's rows, for a Dask X; an ndarray otherwise.

        See Also
        --------
        GaussianMixture.predict : The most probable component.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> import gmmc.dask
        >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
        >>> gm = gmmc.dask.GaussianMixture(2, random_state=0).fit(X)
        >>> gm.predict_proba(X).shape
        (272, 2)
        """
        if is_dask_collection(X):
            return self._lazy(X, "predict_proba", self.means_.dtype, self.n_components)
        return super().predict_proba(X)

    def score_samples(self, X):
        """Compute the log-density of each sample under the mixture.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Points to evaluate.

        Returns
        -------
        log_density : dask.array.Array or ndarray of shape (n_samples,)
            Lazy, chunked as X's rows, for a Dask X; an ndarray otherwise.

        See Also
        --------
        GaussianMixture.score : Their mean, computed.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> import gmmc.dask
        >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
        >>> gm = gmmc.dask.GaussianMixture(2, random_state=0).fit(X)
        >>> print(gm.score_samples(X)[:3].compute().round(3))
        [-4.638 -3.673 -5.808]
        """
        if is_dask_collection(X):
            return self._lazy(X, "score_samples", self.means_.dtype)
        return super().score_samples(X)

    def score(self, X, y=None):
        """Compute the mean log-likelihood of the samples of X.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Points to evaluate.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        float
            The mean of :meth:`score_samples`, computed.

        See Also
        --------
        GaussianMixture.score_samples : The log-density of each sample.

        Examples
        --------
        >>> import dask.array as da
        >>> import gmmc
        >>> import gmmc.dask
        >>> X = da.from_array(gmmc.load_faithful(), chunks=100)
        >>> gm = gmmc.dask.GaussianMixture(2, random_state=0).fit(X)
        >>> round(gm.score(X), 4)
        -4.1554
        """
        if is_dask_collection(X):
            return float(self.score_samples(X).mean().compute())
        return super().score(X)
