"""Gaussian mixtures on Dask arrays: distributed EM, one map-reduce per iteration.

Install with ``pip install 'gmmc[dask]'``. ``import gmmc`` never imports Dask;
this module does.

Every EM iteration is one map over the row chunks of X (each chunk task runs
gmmc's fused E-step kernel and returns a small ``gmmc.SufficientStatistics``)
and one tree reduction of those statistics (fan-in ``split_every``); the
M-step runs on the client. The validation pass and the initialisations are
built the same way (``gmmc._streaming`` and ``gmmc._chunked_init`` hold the
algorithms, shared with the out-of-core memmap path; ``DaskChunks`` runs them
as Dask tasks):

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
    import dask.array as da
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gmmc.dask needs Dask: pip install 'gmmc[dask]' "
                      "(dask[array] and distributed)") from exc

from ._dask_chunks import DaskChunks
from ._sources import is_dask_collection
from .mixture import GaussianMixture as _GaussianMixture

__all__ = ["GaussianMixture", "DaskChunks"]


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
