"""EM on data seen in chunks: out-of-core (memmap) fits, stepwise EM, and the
engine behind the Dask fit.

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

``BlockChunks`` below streams any ``RowBlocks`` source in this process;
``gmmc.dask`` provides the Dask executor. On top of it sit the validation pass,
the initialisations (k-means, k-means++, random, random_from_data and given
parameters, each reproducing the in-memory draws and arithmetic) and the EM
loop: an E-step is one ``map_reduce`` of ``SufficientStatistics`` and the
M-step is the in-memory one, so every path fits the same model as
``GaussianMixture.fit`` on an array, up to the order of floating-point sums.
"""
import mmap
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _init, _missing, _stats
from ._parallel import blas_limited, effective_n_threads, threads_for
from ._validation import (check_array, check_magnitude, check_random_state,
                          check_sample_weight, check_scalar, feature_names)

#: Default size of one block of rows read from a memmap or another block source.
#: Data no larger than one block is simply read whole and fitted in memory.
DEFAULT_BLOCK_BYTES = 32 * 2 ** 20

#: Default exponent alpha of the stepwise-EM step size eta_t = (t + 1) ** -alpha.
DEFAULT_STEP_EXPONENT = 0.6

# Modules of array-likes read in row blocks without being wrapped.
_BLOCK_MODULES = ("h5py", "zarr")


# -- row-block sources ---------------------------------------------------------

class RowBlocks:
    """A 2-D array-like read in blocks of rows, so that it is never loaded whole.

    ``GaussianMixture.fit`` streams a ``numpy.memmap``, an h5py dataset or a
    zarr array through this class on its own; wrap anything else that is
    2-D, has a ``dtype`` and returns rows for ``data[start:stop]`` (or a
    memmap, to choose the block size) explicitly: ``fit(RowBlocks(data,
    block_rows=100_000))``.

    Each block is validated as it is read (finite values; float32 stays
    float32, every other dtype becomes float64). A ``numpy.memmap`` never
    stays resident: on Linux, a C-ordered float32/float64 memmap (opened 'r',
    'r+' or 'w+') is used in place, block by block, without a copy, and each
    block's pages are released (``madvise(MADV_DONTNEED)``) once it has been
    processed; elsewhere such a memmap is read with plain file I/O, so its
    pages are never mapped. Other memmaps (Fortran order, column views, other
    dtypes) are copied through the mapping in small slices whose pages are
    released as they are copied, where the platform has ``madvise``. A
    copy-on-write ('c') memmap keeps its pages: its private changes live only
    there.

    Parameters
    ----------
    data : 2-D array-like
        The source: anything with ``shape``, ``dtype`` and row slices
        ``data[start:stop]``, or a ``RowBlocks`` (whose block size is kept
        unless ``block_rows`` is given).
    block_rows : int, default=None
        Rows per block; None: as many as fit in ``DEFAULT_BLOCK_BYTES`` (32 MiB)
        of float64.

    Raises
    ------
    ValueError
        When ``data`` is not 2-D or ``block_rows`` is not a positive integer.

    See Also
    --------
    GaussianMixture.fit : Streams a ``RowBlocks`` block by block.

    Examples
    --------
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> blocks = gmmc.RowBlocks(X, block_rows=100)
    >>> blocks.shape, blocks.block_rows
    ((272, 2), 100)
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(blocks)
    >>> print(gm.means_.round(2))
    [[ 2.04 54.48]
     [ 4.29 79.97]]
    """

    def __init__(self, data, block_rows=None):
        if isinstance(data, RowBlocks):
            block_rows = data.block_rows if block_rows is None else block_rows
            data = data.data
        shape = tuple(getattr(data, "shape", ()))
        if len(shape) != 2:
            raise ValueError(f"RowBlocks needs 2-D data, got shape {shape}")
        self.data = data
        self.n_samples, self.n_features = int(shape[0]), int(shape[1])
        self.dtype = np.dtype(np.float32 if np.dtype(data.dtype) == np.float32
                              else np.float64)
        if block_rows is None:
            block_rows = max(1, DEFAULT_BLOCK_BYTES // max(1, 8 * self.n_features))
        check_scalar(block_rows, "block_rows", int, low=1)
        self.block_rows = int(block_rows)
        self._file = _memmap_file_layout(data)
        # Linux: use the mapping in place and drop each block's pages after use.
        self._mapped = (self._file is not None and sys.platform.startswith("linux")
                        and hasattr(mmap, "MADV_DONTNEED") and data.dtype.isnative
                        and data.dtype in (np.float32, np.float64))

    @property
    def shape(self):
        """The shape of the whole source.

        Returns
        -------
        tuple of int
            ``(n_samples, n_features)``.

        See Also
        --------
        RowBlocks.bounds : How the rows are split into blocks.

        Examples
        --------
        >>> import gmmc
        >>> gmmc.RowBlocks(gmmc.load_faithful()).shape
        (272, 2)
        """
        return (self.n_samples, self.n_features)

    def bounds(self):
        """List the rows of each block.

        Returns
        -------
        list of tuple of int
            ``(start, stop)`` of each block, in order.

        See Also
        --------
        RowBlocks.read : Read one block.

        Examples
        --------
        >>> import gmmc
        >>> gmmc.RowBlocks(gmmc.load_faithful(), block_rows=100).bounds()
        [(0, 100), (100, 200), (200, 272)]
        """
        n, step = self.n_samples, self.block_rows
        return [(start, min(start + step, n)) for start in range(0, n, step)]

    def read_raw(self, start, stop):
        """Read rows ``start:stop`` as they are, without validation.

        For a memmap used in place this is a view of the mapping: call
        ``release(start, stop)`` when done with it.

        Parameters
        ----------
        start, stop : int
            The first row and one past the last.

        Returns
        -------
        ndarray of shape (stop - start, n_features)
            The rows, in the source's dtype.

        See Also
        --------
        RowBlocks.read : The validated rows.
        RowBlocks.release : Drop the pages of rows read in place.

        Examples
        --------
        >>> import gmmc
        >>> gmmc.RowBlocks(gmmc.load_faithful()).read_raw(0, 2).shape
        (2, 2)
        """
        if self._mapped:
            return np.asarray(self.data[start:stop])
        if self._file is not None:
            return _read_file_rows(self.data, self._file, start, stop)
        block = self.data[start:stop]
        if isinstance(self.data, np.memmap):
            # Copy through the mapping in slices of ~8 MiB, releasing each
            # slice's pages once copied.
            out = np.empty(block.shape, dtype=block.dtype)
            step = max(1, 2 ** 23 // max(1, block.shape[1] * block.itemsize))
            for a in range(0, block.shape[0], step):
                part = block[a:a + step]
                out[a:a + step] = part
                _release_pages(self.data, part)
            return out
        return np.asarray(block)

    def read(self, start, stop, allow_nan=False):
        """Read rows ``start:stop``, validated as ``fit`` validates its input.

        Parameters
        ----------
        start, stop : int
            The first row and one past the last.
        allow_nan : bool, default=False
            Accept NaN, as missing values (``nan_policy='marginalize'``).

        Returns
        -------
        ndarray of shape (stop - start, n_features)
            A finite, C-contiguous float32 (for float32 sources) or float64
            array.

        Raises
        ------
        ValueError
            When the rows hold infinite values, or NaN without ``allow_nan``.

        See Also
        --------
        RowBlocks.read_raw : The rows as stored.

        Examples
        --------
        >>> import gmmc
        >>> print(gmmc.RowBlocks(gmmc.load_faithful()).read(0, 2))
        [[ 3.6 79. ]
         [ 1.8 54. ]]
        """
        return check_array(self.read_raw(start, stop), name="X", min_samples=0,
                           allow_nan=allow_nan)

    def release(self, start, stop):
        """Signal that rows ``start:stop`` are no longer needed.

        For a memmap used in place, their mapped pages are dropped from
        memory; for any other source this does nothing.

        Parameters
        ----------
        start, stop : int
            The first row and one past the last.

        See Also
        --------
        RowBlocks.read_raw : Rows that may be views of a mapping.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import gmmc
        >>> path = os.path.join(tempfile.mkdtemp(), "faithful.npy")
        >>> np.save(path, gmmc.load_faithful())
        >>> blocks = gmmc.RowBlocks(np.load(path, mmap_mode="r"), block_rows=128)
        >>> first = blocks.read_raw(0, 128)
        >>> float(first.sum()) > 0
        True
        >>> blocks.release(0, 128)
        """
        if self._mapped:
            _release_pages(self.data, self.data[start:stop])


def _mapping_address(mm):
    """Address of the first byte of memmap ``mm``'s underlying mmap."""
    return np.frombuffer(mm._mmap, dtype=np.uint8, count=1).ctypes.data


def _memmap_file_layout(data):
    """(filename, file offset of row 0, row bytes) of a memmap whose rows lie
    contiguously in its file and that may be read there (not copy-on-write);
    None for any other input."""
    if not isinstance(data, np.memmap) or getattr(data, "_mmap", None) is None:
        return None
    if not data.filename or data.mode == "c" or data.size == 0:
        return None
    itemsize = data.dtype.itemsize
    n, d = data.shape
    if (d > 1 and data.strides[1] != itemsize) or (n > 1 and data.strides[0] != d * itemsize):
        return None  # rows are not contiguous in the file
    map_start = data.offset - data.offset % mmap.ALLOCATIONGRANULARITY
    offset = map_start + (data.ctypes.data - _mapping_address(data))
    return str(data.filename), offset, d * itemsize


def _read_file_rows(data, layout, start, stop):
    filename, offset, row_bytes = layout
    out = np.empty((stop - start, data.shape[1]), dtype=data.dtype)
    buffer = out.reshape(-1).view(np.uint8)
    with open(filename, "rb", buffering=0) as f:
        f.seek(offset + start * row_bytes)
        done = 0
        while done < buffer.size:
            got = f.readinto(buffer[done:])
            if not got:
                raise OSError(f"{filename} ended before row {stop} of the memmap")
            done += got
    return out


def _release_pages(data, block):
    """Drop the mapped pages behind ``block`` (a view of memmap ``data``) from memory."""
    advise = getattr(mmap, "MADV_DONTNEED", None)
    mapping = getattr(data, "_mmap", None)
    if advise is None or mapping is None or data.mode == "c" or block.size == 0:
        return
    low = high = block.ctypes.data
    for n, stride in zip(block.shape, block.strides):
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    high += block.itemsize
    base = _mapping_address(data)
    first = low - base
    first -= first % mmap.PAGESIZE
    last = min(len(mapping), high - base)
    if last > first:
        try:
            mapping.madvise(advise, first, last - first)
        except (OSError, ValueError):  # advisory only
            pass


def is_dask_collection(X):
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")


def is_block_source(X):
    """True for inputs that ``fit`` streams instead of loading whole."""
    if isinstance(X, RowBlocks):
        return True
    if isinstance(X, np.memmap):
        return X.ndim == 2
    if isinstance(X, np.ndarray):
        return False
    if is_dask_collection(X):
        return getattr(X, "ndim", None) == 2
    return (type(X).__module__.split(".")[0] in _BLOCK_MODULES
            and getattr(X, "ndim", None) == 2)


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


def _variance_chunk(X, w, start, mean):
    """Weighted sum of squared deviations from ``mean``, per feature (float64)."""
    centered = X.astype(np.float64) - mean if X.dtype != np.float64 else X - mean
    squared = centered ** 2
    return squared.sum(axis=0) if w is None else w.astype(np.float64) @ squared


def _rows_chunk(X, w, start, rows):
    """This chunk's rows among ``rows`` (global, sorted) and their weights (1 without)."""
    local = rows[(rows >= start) & (rows < start + X.shape[0])] - start
    return X[local], np.ones(local.size) if w is None else w[local].astype(np.float64)


def _read_rows(data, rows):
    """The rows ``rows`` of X and their weights, read a whole chunk at a time."""
    order = np.argsort(rows)
    ordered = np.asarray(rows, dtype=np.intp)[order]
    starts = np.array([start for start, _ in data.bounds])
    chunks = sorted(set((np.searchsorted(starts, ordered, side="right") - 1).tolist()))
    parts = data.map_list(_rows_chunk, ordered, chunks=chunks)
    seeds, weights = np.empty((len(rows), data.n_features), dtype=data.dtype), np.empty(len(rows))
    seeds[order] = np.concatenate([p[0] for p in parts])
    weights[order] = np.concatenate([p[1] for p in parts])
    return seeds, weights


def _estep_chunk(X, w, start, weights, means, prec_chol, covariance_type, n_threads):
    # _stats.e_step itself when the chunk holds no NaN (missing values).
    return _missing.e_step(X, w, weights, means, prec_chol, covariance_type, n_threads)


class _OneHotRows:
    """Responsibilities putting component k wholly on global row ``rows[k]``."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=np.intp)

    def __call__(self, X, w, start):
        resp = np.zeros((X.shape[0], len(self.rows)), dtype=X.dtype)
        local = self.rows - start
        inside = (local >= 0) & (local < X.shape[0])
        resp[local[inside], np.flatnonzero(inside)] = 1
        return resp


class _NearestCenter:
    """One-hot responsibilities of each sample's closest centre (k-means labels)."""

    def __init__(self, centers, offset, n_threads):
        self.centers = centers
        self.offset = offset
        self.n_threads = n_threads

    def __call__(self, X, w, start):
        labels = _nearest(X, self.centers, self.offset, self.n_threads)
        resp = np.zeros((X.shape[0], self.centers.shape[0]), dtype=X.dtype)
        resp[np.arange(X.shape[0]), labels] = 1
        return resp


class _UniformRows:
    """'random' responsibilities: uniform draws normalised per sample.

    Sequential executors draw from one RandomState in row order, exactly as
    the in-memory fit (the stream restarts at row 0, so every pass sees the
    same draws and the object ends a pass where the in-memory draw ends);
    other executors seed each chunk from ``seeds[start]``.
    """

    def __init__(self, n_components, state=None, seeds=None):
        self.n_components = n_components
        self.initial_state = state
        self.random_state = None
        if state is not None:
            self.random_state = np.random.RandomState()
            self.random_state.set_state(state)
        self.seeds = seeds

    def __call__(self, X, w, start):
        if self.random_state is None:
            rs = np.random.RandomState(self.seeds[start])
        else:
            rs = self.random_state
            if start == 0:
                rs.set_state(self.initial_state)
        resp = rs.uniform(size=(X.shape[0], self.n_components)).astype(X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp


def _resp_moments_chunk(X, w, start, responsibilities):
    """(sum_n w r_nk, sum_n w r_nk x_n) for given responsibilities (float64)."""
    resp = responsibilities(X, w, start)
    weighted = resp if w is None else resp * w[:, None]
    return weighted.sum(axis=0, dtype=np.float64), (weighted.T @ X).astype(np.float64)


def _resp_stats_chunk(X, w, start, responsibilities, covariance_type, shift, center):
    return _stats.responsibility_statistics(X, w, responsibilities(X, w, start),
                                            covariance_type, shift, center)


def _closest(X, centers, offset, n_threads):
    """Squared distance (float64) from each row to its closest centre."""
    return _init.squared_distances(X, centers, n_threads, offset).astype(np.float64).min(
        axis=1)


def _nearest(X, centers, offset, n_threads):
    """Label of each row's closest centre (centres given centred: c - offset)."""
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    _init._lloyd_step(X, None, offset, centers, labels, n_threads)
    return labels


def _locate_chunk(X, w, start, targets_by_start, side, centers, offset, n_threads):
    """Local rows where the cumulative weight (times the squared distance to the
    closest of ``centers``, when given) reaches this chunk's targets."""
    values = np.ones(X.shape[0]) if w is None else w.astype(np.float64)
    if centers is not None:
        values = values * _closest(X, centers, offset, n_threads)
    local = np.searchsorted(np.cumsum(values), targets_by_start[start], side=side)
    return np.minimum(local, X.shape[0] - 1)


def _potentials_chunk(X, w, start, chosen, candidates, offset, n_threads):
    """Per candidate, sum_n w_n min(d(x_n, candidate), d(x_n, chosen centres))."""
    closest = _closest(X, chosen, offset, n_threads)
    distances = _init.squared_distances(X, candidates, n_threads, offset).astype(np.float64)
    np.minimum(distances, closest[:, None], out=distances)
    weight = np.ones(X.shape[0]) if w is None else w.astype(np.float64)
    return weight @ distances


def _lloyd_chunk(X, w, start, centers, previous, offset, n_threads):
    """(cluster sums about offset, cluster weights, labels changed since
    ``previous`` centres)."""
    labels = np.full(X.shape[0], -1, dtype=np.int32) if previous is None \
        else _nearest(X, previous, offset, n_threads)
    sums, counts, _, changed = _init._lloyd_step(X, w, offset, centers, labels, n_threads)
    return sums, counts, changed if previous is not None else 0


def _worst_fitted_chunk(X, w, start, centers, n_worst, offset, n_threads):
    """The ``n_worst`` samples farthest from their centre: (costs, indices, rows)."""
    labels = _nearest(X, centers, offset, n_threads)
    diff = X.astype(np.float64) - offset - centers[labels]
    cost = np.einsum("ij,ij->i", diff, diff)
    if w is not None:  # never reseed at a zero-weight sample
        cost[w == 0] = -1
    top = np.argsort(cost)[::-1][:n_worst]
    return cost[top].astype(np.float64), start + top, X[top]


def _worst_combine(a, b):
    cost = np.concatenate([a[0], b[0]])
    order = np.argsort(-cost, kind="stable")[: len(a[0])]
    return cost[order], np.concatenate([a[1], b[1]])[order], np.concatenate([a[2], b[2]])[order]


def _labels_chunk(X, w, start, estimator, n_threads):
    return estimator._posterior(X, n_threads)[1].argmax(axis=1)


# -- locating rows by cumulative weight (k-means++ and weighted draws) --------

def _locate(data, chunk_totals, targets, side, centers=None, offset=None):
    """Global rows i where a cumulative per-row value first reaches each target.

    The chunked form of ``np.searchsorted(np.cumsum(values), targets, side)``
    (clipped to the last row): values are the sample weights, times the
    squared distance to the closest of ``centers`` when given;
    ``chunk_totals`` are their per-chunk sums. Only the chunks holding a
    target are read.
    """
    targets = np.atleast_1d(np.asarray(targets, dtype=np.float64))
    offsets = np.concatenate([[0.0], np.cumsum(chunk_totals)])
    which = np.minimum(np.searchsorted(offsets[1:], targets, side=side),
                       len(chunk_totals) - 1)
    chunks = sorted(set(which.tolist()))
    by_start = {data.bounds[c][0]: targets[which == c] - offsets[c] for c in chunks}
    results = data.map_list(_locate_chunk, by_start, side, centers, offset,
                            data.task_threads, chunks=chunks)
    found = np.empty(targets.size, dtype=np.intp)
    for c, local in zip(chunks, results):
        found[which == c] = data.bounds[c][0] + local
    return found


# -- initialisation --------------------------------------------------------------

def kmeans_plusplus(data, n_clusters, random_state, offset):
    """Greedy k-means++ over chunks: ``_init.kmeans_plusplus``'s draws, pass by pass.

    Nothing N-sized is kept: each round recomputes the distance to the chosen
    centres chunk by chunk (one pass for the candidates' potentials, plus a
    read of the few chunks the draws fall in). Distances are taken about
    ``offset``, the data mean. Returns (centers, indices).
    """
    weight_totals = data.chunk_weight_totals()
    n_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    # random_state.choice(n_samples, p=weight / weight.sum()) draws one uniform
    # and takes the first row whose cumulative probability exceeds it.
    u = random_state.random_sample()
    indices[0] = _locate(data, weight_totals, u * weight_totals.sum(), "right")[0]
    chosen = data.rows(indices[:1])
    # Per chunk, sum_n w_n d(x_n, closest chosen centre).
    chunk_potential = np.array(data.map_list(_potentials_chunk, chosen, chosen, offset,
                                             data.task_threads))[:, 0]
    potential = chunk_potential.sum()
    for c in range(1, n_clusters):
        if potential <= 0:  # every sample already sits on a centre
            if data.has_weights:  # choice(n_samples, size, p=weight / weight.sum())
                draws = random_state.random_sample(n_trials) * weight_totals.sum()
                candidates = _locate(data, weight_totals, draws, "right")
            else:
                candidates = random_state.choice(data.n_samples, size=n_trials)
        else:
            draws = random_state.uniform(size=n_trials) * potential
            candidates = _locate(data, chunk_potential, draws, "left", chosen, offset)
        candidate_rows = data.rows(candidates)
        per_chunk = np.array(data.map_list(_potentials_chunk, chosen, candidate_rows,
                                           offset, data.task_threads))
        totals = per_chunk.sum(axis=0)
        best = int(np.argmin(totals))
        indices[c] = candidates[best]
        chosen = np.vstack([chosen, candidate_rows[best:best + 1]])
        chunk_potential = per_chunk[:, best]
        potential = totals[best]
    return chosen, indices


def kmeans_labels_centers(data, summary, n_clusters, random_state, max_iter=300, tol=1e-4):
    """Lloyd's k-means over chunks, as ``_init.kmeans``; returns the centres whose
    nearest-centre assignment is ``_init.kmeans``'s final labels. Like it,
    works about the data mean: the centres are centred (c - mean)."""
    threads = data.task_threads
    mean = summary["mean"]
    seeds, _ = kmeans_plusplus(data, n_clusters, random_state, mean)
    centers = _init._centred(seeds, mean, data.dtype)
    variance = data.map_reduce(_variance_chunk, mean) / summary["weight_sum"]
    tol = tol * np.mean(variance)
    previous = None  # the centres the current labels were assigned to
    for _ in range(max_iter):
        sums, counts, changed = data.map_reduce(_lloyd_chunk, centers, previous, mean,
                                                threads)
        if previous is not None and changed == 0:
            return centers  # no label changed
        empty = np.flatnonzero(counts == 0)
        new_centers = sums / np.maximum(counts, np.finfo(np.float64).tiny)[:, None]
        if empty.size:  # reseed empty clusters at the worst-fitted samples
            _, _, worst = data.map_reduce(_worst_fitted_chunk, centers, empty.size, mean,
                                          threads, combine=_worst_combine)
            new_centers[empty] = worst.astype(np.float64) - mean
        new_centers = new_centers.astype(data.dtype)
        shift = ((new_centers - centers) ** 2).sum()
        previous, centers = centers, new_centers
        if shift <= tol:
            return centers
    return previous  # max_iter reached: the labels are those of the last step


def _random_responsibilities(data, n_components, random_state):
    """The responsibility maker for init_params='random'."""
    if data.sequential:  # the in-memory stream of draws, block after block
        return _UniformRows(n_components, state=random_state.get_state())
    starts = [start for start, _ in data.bounds]
    seeds = random_state.randint(np.iinfo(np.int32).max, size=len(starts))
    return _UniformRows(n_components, seeds=dict(zip(starts, seeds.tolist())))


def initial_statistics(data, summary, responsibilities, covariance_type, n_components):
    """``_stats.statistics_from_responsibilities`` over chunks (two passes for full)."""
    center = summary["mean"]
    shift = np.tile(center, (n_components, 1))
    if covariance_type == "full":  # about each component's mean, as in EM
        totals, weighted_x = data.map_reduce(_resp_moments_chunk, responsibilities)
        means = weighted_x / np.maximum(totals, 1e-300)[:, None]
        shift = np.where(totals[:, None] > 0, means, center)
    stats = data.map_reduce(_resp_stats_chunk, responsibilities, covariance_type, shift,
                            center)
    # As in memory: k-means labels and random draws sum to one per sample.
    stats.normalized = not isinstance(responsibilities, _OneHotRows)
    return stats


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


def initial_parameters(estimator, data, summary, random_state, inits):
    """``GaussianMixture._initial_parameters`` over chunks: the same draws from
    ``random_state`` and the same statistics, chunk by chunk."""
    weights_init, means_init, precisions_init = inits
    cov_type, dtype = estimator.covariance_type, data.dtype
    n_components = estimator.n_components
    if weights_init is not None and means_init is not None and precisions_init is not None:
        # No responsibilities are needed: nothing depends on the data.
        return estimator._start_from(None, dtype, *inits)
    init = estimator.init_params
    if init == "kmeans":
        centers = kmeans_labels_centers(data, summary, n_components, random_state)
        responsibilities = _NearestCenter(centers, summary["mean"],
                                          data.task_threads)
    elif init == "k-means++":
        _, indices = kmeans_plusplus(data, n_components, random_state,
                                     summary["mean"])
        responsibilities = _OneHotRows(indices)
    elif init == "random_from_data":
        weight = data.all_weights() if data.has_weights else None
        p = None if weight is None else weight / weight.sum()
        indices = random_state.choice(data.n_samples, size=n_components, replace=False, p=p)
        responsibilities = _OneHotRows(indices)
    elif init == "random":
        responsibilities = _random_responsibilities(data, n_components, random_state)
    else:
        raise ValueError(f"unknown init_params {init!r}")
    if isinstance(responsibilities, _OneHotRows) and cov_type != "tied":
        seeds, seed_weights = _read_rows(data, responsibilities.rows)
        stats = _stats.seed_statistics(seeds, seed_weights, summary["weight_sum"],
                                       summary["mean"], cov_type)
    else:
        stats = initial_statistics(data, summary, responsibilities, cov_type, n_components)
    if isinstance(responsibilities, _UniformRows) and responsibilities.random_state is not None:
        # Leave random_state where the in-memory fit's N x K draw leaves it.
        random_state.set_state(responsibilities.random_state.get_state())
    return estimator._start_from(stats, dtype, *inits)


def _mean_filled_start(estimator, data, summary, random_state, inits):
    """``initial_parameters``, computed (as in memory) on the data with each
    missing value replaced by its feature's mean."""
    data.fill = summary["mean"] if summary["n_missing"] else None
    try:
        return initial_parameters(estimator, data, summary, random_state, inits)
    finally:
        data.fill = None


def fit_chunked(estimator, data):
    """``GaussianMixture._fit`` on a chunk executor; sets the fitted attributes."""
    n_samples, n_features = data.n_samples, data.n_features
    check_shape(estimator, n_samples, n_features)
    inits = estimator._check_parameters(n_features)
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
    estimator._fit_loop(
        lambda: _mean_filled_start(estimator, data, summary, random_state, inits),
        lambda w, m, pc: data.map_reduce(_estep_chunk, w, m, pc, cov_type, data.task_threads),
        probe, None)
    estimator.n_samples_seen_ = summary["weight_sum"]


def _block_chunks(X, sample_weight, n_threads):
    source = X if isinstance(X, RowBlocks) else RowBlocks(X)
    weight = check_sample_weight(sample_weight, source.n_samples, source.dtype)
    return BlockChunks(source, weight, n_threads)


def fit(estimator, X, sample_weight):
    """``GaussianMixture._fit`` for inputs ``is_block_source`` accepts.

    Returns ``(data, sample_weight, n_threads)``, as ``_fit`` does, where
    ``data`` is the chunk executor (or the array itself when the data fitted
    in one block and were fitted in memory).
    """
    if is_dask_collection(X):
        from .dask import _fit
        return _fit(estimator, X, sample_weight)
    source = X if isinstance(X, RowBlocks) else RowBlocks(X)
    if source.n_samples <= source.block_rows:  # one block: simply the in-memory fit
        return estimator._fit(source.read_raw(0, source.n_samples), sample_weight)
    n_threads = effective_n_threads(estimator.n_threads)
    data = _block_chunks(source, sample_weight, n_threads)
    fit_chunked(estimator, data)
    return data, data.weight, n_threads


def labels(estimator, data):
    """Most probable component of every row of a chunk executor's data."""
    parts = data.map_list(_labels_chunk, estimator, data.task_threads)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)


# -- statistics as a public unit of work, and stepwise EM -------------------------

def _model_arrays(estimator):
    """Writable copies of the fitted (weights, means, precisions_cholesky)."""
    return tuple(np.array(p) for p in (estimator.weights_, estimator.means_,
                                       estimator.precisions_cholesky_))


def sufficient_statistics(estimator, X, sample_weight=None):
    """E-step statistics of X (array, memmap, block source or Dask array) under
    the fitted model."""
    estimator._check_fitted()
    weights, means, prec_chol = _model_arrays(estimator)
    cov_type = estimator.covariance_type
    n_threads = effective_n_threads(estimator.n_threads)
    if is_block_source(X):
        if is_dask_collection(X):
            from .dask import DaskChunks
            data = DaskChunks(X, sample_weight)
        else:
            data = _block_chunks(X, sample_weight, n_threads)
        if data.n_features != means.shape[1]:
            raise ValueError(f"X has {data.n_features} features, but "
                             f"{type(estimator).__name__} is expecting {means.shape[1]} "
                             "features as input.")
        data.allow_nan = estimator._allows_nan()
        return data.map_reduce(_estep_chunk, weights, means, prec_chol, cov_type,
                               data.task_threads)
    X = estimator._check_X(X)
    weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    with blas_limited(threads_for(X.shape[0], n_threads)):
        # _stats.e_step itself when X holds no NaN (nan_policy='marginalize' otherwise)
        return _missing.e_step(X, weight, weights, means, prec_chol, cov_type, n_threads)


def m_step(estimator, stats):
    """Set the estimator's parameters to the M-step of ``stats``; returns it."""
    if not isinstance(stats, _stats.SufficientStatistics):
        raise TypeError(f"stats must be a gmmc.SufficientStatistics, got "
                        f"{type(stats).__name__}")
    if stats.covariance_type != estimator.covariance_type:
        raise ValueError(f"stats were taken for covariance_type="
                         f"{stats.covariance_type!r}, the estimator has "
                         f"{estimator.covariance_type!r}")
    n_components, n_features = stats.shift.shape
    if n_components != estimator.n_components:
        raise ValueError(f"stats have {n_components} components, the estimator has "
                         f"n_components={estimator.n_components}")
    check_scalar(estimator.reg_covar, "reg_covar", float, low=0.0)
    fitted = estimator.__sklearn_is_fitted__()
    if fitted and estimator.means_.shape[1] != n_features:
        raise ValueError(f"stats have {n_features} features, the fitted model has "
                         f"{estimator.means_.shape[1]}")
    if not stats.weight_sum > 0:
        raise ValueError("stats hold no samples (weight_sum is not positive)")
    dtype = estimator.means_.dtype if fitted else np.dtype(np.float64)
    weights, means, covariances = _stats.m_step(stats, estimator.reg_covar, dtype)
    prec_chol = _stats.precision_cholesky(covariances, estimator.covariance_type)
    estimator._set_parameters(tuple(np.asarray(p, dtype=dtype) for p in
                                    (weights, means, covariances, prec_chol)))
    estimator.n_features_in_ = n_features
    # partial_fit continues from these statistics, with their weight.
    estimator.n_samples_seen_ = stats.weight_sum
    estimator._stepwise_state = {"stats": stats.scaled(1.0 / stats.weight_sum),
                                 "n_batches": 0, "means": estimator.means_}
    return estimator


def _model_statistics(estimator):
    """Statistics, per unit of weight, whose M-step gives back the fitted model:
    those of the E-step that made it (its lower bound as their log-likelihood)."""
    cov_type, reg = estimator.covariance_type, estimator.reg_covar
    weights, means, covariances = (np.asarray(p, dtype=np.float64) for p in (
        estimator.weights_, estimator.means_, estimator.covariances_))
    stats = _stats.SufficientStatistics(cov_type, _stats.reference_points(weights, means,
                                                                          cov_type))
    d = means - stats.shift
    # The scatter about the means, without the reg_covar the M-step adds back.
    n_features = means.shape[1]
    scatter = covariances - reg * (np.eye(n_features) if cov_type in ("full", "tied") else 1)
    if cov_type == "full":
        stats.sum_xx = weights[:, None, None] * (scatter + d[:, :, None] * d[:, None, :])
    elif cov_type == "tied":
        stats.sum_xx = weights.sum() * scatter + (weights[:, None] * d).T @ d
    elif cov_type == "diag":
        stats.sum_xx = weights[:, None] * (scatter + d ** 2)
    else:  # spherical: the trace
        stats.sum_xx = weights * (n_features * scatter + (d ** 2).sum(axis=1))
    stats.resp_sum = weights.copy()
    stats.sum_x = weights[:, None] * d
    stats.total_x = stats.sum_x.sum(axis=0)
    stats.weight_sum = 1.0
    stats.loglik_sum = getattr(estimator, "lower_bound_", np.nan)
    return stats


def _current_state(estimator):
    """partial_fit's running statistics, unless the model was refitted, or set
    otherwise, since they were made (None)."""
    state = getattr(estimator, "_stepwise_state", None)
    return state if state is not None and state["means"] is estimator.means_ else None


def _stepwise_state(estimator):
    """The running statistics partial_fit continues from (None: start from the
    fitted parameters), after checking that the model's shape has not changed."""
    state = _current_state(estimator)
    k, d = estimator.means_.shape
    if estimator.n_components != k:
        raise ValueError(f"n_components={estimator.n_components}, but the fitted model "
                         f"has {k} components: partial_fit cannot change them; call fit "
                         "to start afresh")
    cov_type = estimator.covariance_type
    fitted_type = None if state is None else state["stats"].covariance_type
    if fitted_type not in (None, cov_type) or np.shape(
            estimator.covariances_) != _stats._sum_xx_shape(cov_type, k, d):
        fitted_as = (repr(fitted_type) if fitted_type else
                     f"covariances_ of shape {np.shape(estimator.covariances_)}")
        raise ValueError(f"covariance_type={cov_type!r}, but the model was fitted with "
                         f"{fitted_as}: partial_fit cannot change it; call fit to start "
                         "afresh")
    if not hasattr(estimator, "n_samples_seen_"):
        raise ValueError("partial_fit weights a fitted model by the sample weight it was "
                         "fitted on, n_samples_seen_, which this model lacks (parameters "
                         "set by hand, or loaded from an older file): set it, or call fit")
    return state


def partial_fit(estimator, X, sample_weight=None, step_exponent=None):
    """Stepwise (online) EM: one E-step on the batch, blended into running
    statistics with step size eta = (1 + seen / batch weight) ** -alpha, then
    one M-step (see ``GaussianMixture.partial_fit``)."""
    alpha = DEFAULT_STEP_EXPONENT if step_exponent is None else step_exponent
    check_scalar(alpha, "step_exponent", float, low=0.5, high=1.0, low_inclusive=False)
    fitted = estimator.__sklearn_is_fitted__()
    names = feature_names(X)
    if fitted:
        X = estimator._check_X(X)
        X = X.astype(estimator.means_.dtype, copy=False)  # the model keeps its dtype
    else:
        X = check_array(X, min_samples=1, estimator=type(estimator).__name__,
                        allow_nan=estimator._allows_nan())
    n_samples, n_features = X.shape
    inits = estimator._check_parameters(n_features)
    state = _stepwise_state(estimator) if fitted else None
    weight = check_sample_weight(sample_weight, n_samples, X.dtype)
    n_threads = effective_n_threads(estimator.n_threads)
    cov_type, dtype = estimator.covariance_type, X.dtype
    with blas_limited(threads_for(n_samples, n_threads)):
        check_magnitude(X, "X", n_terms=n_samples)
        if fitted:
            weights, means, prec_chol = _model_arrays(estimator)
        else:
            if n_samples < estimator.n_components:
                raise ValueError(
                    "The first partial_fit batch initialises the model: expected "
                    f"n_samples >= n_components but got n_components = "
                    f"{estimator.n_components}, n_samples = {n_samples}")
            if weight is not None and np.count_nonzero(weight) < estimator.n_components:
                raise ValueError("fewer samples of positive weight than n_components")
            random_state = check_random_state(estimator.random_state)
            weights, means, _, prec_chol = estimator._initial_parameters(
                X, weight, random_state, n_threads, *inits)
        # Takes _stats.e_step when X holds no NaN (nan_policy='marginalize' otherwise).
        stats = _missing.e_step(X, weight, weights, means, prec_chol, cov_type, n_threads)
    _stats.check_statistics(stats, X)
    batch = stats.scaled(1.0 / stats.weight_sum)  # per unit of weight
    if fitted:
        # The running statistics stand for the weight seen so far: this batch
        # counts as batch number seen / b of its own weight b.
        seen = float(estimator.n_samples_seen_)
        running = _model_statistics(estimator) if state is None else state["stats"]
        eta = (1.0 + seen / stats.weight_sum) ** -alpha
        running = running.rebased(batch.shift).scaled(1.0 - eta) + batch.scaled(eta)
    else:
        seen, running = 0.0, batch
    seen += stats.weight_sum
    # The M-step is scale-free up to its 10-epsilon guard; at the scale of the
    # weight seen so far that guard acts as in a full-batch fit.
    weights, means, covariances = _stats.m_step(running.scaled(seen), estimator.reg_covar,
                                                dtype)
    prec_chol = _stats.precision_cholesky(covariances, cov_type)
    estimator._set_parameters(tuple(np.asarray(p, dtype=dtype) for p in
                                    (weights, means, covariances, prec_chol)))
    estimator.n_features_in_ = n_features
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    n_batches = 1 if state is None else state["n_batches"] + 1
    estimator.lower_bound_ = running.mean_loglik
    estimator.lower_bounds_ = ([] if n_batches == 1 else list(estimator.lower_bounds_)) + [
        estimator.lower_bound_]
    estimator.n_iter_ = n_batches
    estimator.converged_ = False
    estimator.n_samples_seen_ = seen
    estimator._stepwise_state = {"stats": running, "n_batches": n_batches,
                                 "means": estimator.means_}
    return estimator


# -- the partial_fit state in model files (gmmc.io) -------------------------------

_STATE_ARRAYS = ("shift", "resp_sum", "sum_x", "sum_xx", "total_x", "loglik_sum",
                 "weight_sum")
_STEPWISE_KEYS = tuple(f"stepwise_{name}" for name in _STATE_ARRAYS
                       + ("normalized", "n_batches"))
#: The members of a model file that ``saved_state`` may write.
STATE_KEYS = ("n_samples_seen",) + _STEPWISE_KEYS


def saved_state(estimator):
    """Arrays for a model file: n_samples_seen_ and partial_fit's running
    statistics (``stepwise_*``), where the model has them."""
    arrays = {}
    if hasattr(estimator, "n_samples_seen_"):
        arrays["n_samples_seen"] = np.asarray(estimator.n_samples_seen_, dtype=np.float64)
    state = _current_state(estimator)
    if state is not None:
        stats = state["stats"]
        for name in _STATE_ARRAYS:
            arrays[f"stepwise_{name}"] = np.asarray(getattr(stats, name), dtype=np.float64)
        arrays["stepwise_normalized"] = np.asarray(stats.normalized)
        arrays["stepwise_n_batches"] = np.asarray(state["n_batches"], dtype=np.int64)
    return arrays


def restore_state(estimator, arrays):
    """Set what ``saved_state`` wrote on a loaded model; ValueError when invalid."""
    if "n_samples_seen" in arrays:
        seen = arrays["n_samples_seen"]
        if seen.shape != () or seen.dtype != np.float64 or not seen > 0 or not np.isfinite(seen):
            raise ValueError("n_samples_seen must be a positive float64 scalar")
        estimator.n_samples_seen_ = float(seen)
    present = [name for name in _STEPWISE_KEYS if name in arrays]
    if not present:
        return
    if len(present) < len(_STEPWISE_KEYS) or "n_samples_seen" not in arrays:
        raise ValueError("incomplete partial_fit state: needs " + ", ".join(STATE_KEYS))
    k, d = estimator.means_.shape
    stats = _stats.SufficientStatistics(estimator.covariance_type, np.zeros((k, d)))
    for name in _STATE_ARRAYS:
        array, want = arrays[f"stepwise_{name}"], np.shape(getattr(stats, name))
        if array.shape != want or array.dtype != np.float64:
            raise ValueError(f"array 'stepwise_{name}' must be float64 of shape {want}, got "
                             f"{array.dtype} {array.shape}")
        if name != "loglik_sum" and not np.isfinite(array).all():
            raise ValueError(f"array 'stepwise_{name}' has non-finite values")
        setattr(stats, name, array.copy() if array.ndim else float(array))
    normalized, n_batches = arrays["stepwise_normalized"], arrays["stepwise_n_batches"]
    if normalized.shape != () or normalized.dtype != np.bool_ or n_batches.shape != () \
            or n_batches.dtype.kind not in "iu" or n_batches < 0 or not stats.weight_sum > 0:
        raise ValueError("invalid partial_fit state (stepwise_normalized, "
                         "stepwise_n_batches or stepwise_weight_sum)")
    stats.normalized = bool(normalized)
    estimator._stepwise_state = {"stats": stats, "n_batches": int(n_batches),
                                 "means": estimator.means_}
