"""Row sources: data read in blocks of rows, never loaded whole.

``RowBlocks`` wraps a ``numpy.memmap``, an h5py dataset, a zarr array or
anything 2-D with row slices, and reads it block by block, validated; for a
memmap it also decides how the rows are read (in place, by file reads, or
copied in slices) and releases each block's pages once used.
``is_block_source`` says which inputs ``fit`` streams instead of loading
whole (these, and Dask collections, which are recognised here without
importing Dask). What is done with the blocks is ``gmmc._streaming``'s job.
"""
import mmap
import sys

import numpy as np

from ._validation import check_array, check_scalar

#: Default size of one block of rows read from a memmap or another block source.
#: Data no larger than one block is simply read whole and fitted in memory.
DEFAULT_BLOCK_BYTES = 32 * 2 ** 20

# Modules of array-likes read in row blocks without being wrapped.
_BLOCK_MODULES = ("h5py", "zarr")


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


# -- which inputs are streamed ----------------------------------------------------

def is_dask_collection(X):
    """True for a Dask collection (told by its type's module: Dask is not imported)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")


def is_block_source(X):
    """True for inputs that ``fit`` streams instead of loading whole: 2-D
    memmaps, h5py datasets, zarr arrays, ``RowBlocks`` and Dask collections."""
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

