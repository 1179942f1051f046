"""EM in terms of sufficient statistics: E-step -> statistics -> M-step.

``SufficientStatistics`` is the unit of work: computed by the kernels on any
block of rows, merged by addition, and turned into parameters by ``m_step``.
The in-memory fit, and any path that sees the data in pieces, share it.
"""
import numpy as np

from . import _em, _team
from ._parallel import kernel_blocks, loops_in_kernels, map_row_blocks, single_block

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _sum_xx_shape(covariance_type, n_components, n_features):
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def n_parameters(n_components, n_features, covariance_type):
    """Number of free parameters of a Gaussian mixture.

    (K - 1) weights, K D means, and K D(D+1)/2 (full), D(D+1)/2 (tied), K D
    (diag) or K (spherical) covariance parameters.
    """
    k, d = n_components, n_features
    cov = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d,
           "spherical": k}[covariance_type]
    return cov + k * d + k - 1


def reference_points(weights, means, covariance_type):
    """Per-component point the statistics are taken about (see ``_em``).

    Full covariances use the current means, which makes the covariance update
    as accurate as a second pass over the data; the other types need a single
    centre, the mixture mean.
    """
    means = np.asarray(means, dtype=np.float64)
    if covariance_type == "full":
        return means.copy()
    center = np.asarray(weights, dtype=np.float64) @ means
    return np.tile(center, (means.shape[0], 1))


class SufficientStatistics:
    """Mergeable sums from an E-step over some rows: EM's unit of work.

    Public as ``gmmc.SufficientStatistics``. Statistics of disjoint row
    blocks under the same model share their ``shift`` and add up (``merge``,
    ``+``) to the statistics of all the rows, and one M-step
    (``GaussianMixture.m_step``) turns them into parameters: the in-memory
    fit, the out-of-core (memmap) fit, ``partial_fit`` and the Dask fit all
    run through this object. Compute it with
    ``GaussianMixture.sufficient_statistics(X_block)``. It pickles, so it can
    travel between processes.

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        The covariance type of the model, which decides the shape of ``sum_xx``.
    shift : array-like of shape (K, D)
        Reference points the sums are taken about (the current means for
        full covariances, K copies of the mixture mean otherwise). A new
        object holds zero sums.

    Attributes
    ----------
    covariance_type : str
    shift : (K, D) reference points the sums are taken about.
    resp_sum : (K,) sum of w_n r_nk.
    sum_x : (K, D) sum of w_n r_nk (x_n - shift_k).
    sum_xx : sum of w_n r_nk (x_n - shift_k)(x_n - shift_k)^T, (K, D, D) for
        full; for tied (D, D) summed over components; its diagonal (K, D) for
        diag and its trace (K,) for spherical.
    loglik_sum : sum of w_n log p(x_n) under the model that made the E-step.
    weight_sum : sum of w_n.
    total_x : (D,) sum of w_n (x_n - shift_0) over all samples, whatever their
        responsibilities; used by tied covariances only (all shift rows equal).
    normalized : bool, True when every sample's responsibilities sum to one,
        as after an E-step (not so for one-hot initial seeds).

    See Also
    --------
    GaussianMixture.sufficient_statistics : Compute the statistics of some rows.
    GaussianMixture.m_step : Turn statistics into parameters.

    Examples
    --------
    Statistics of two blocks add up to those of all the rows:

    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> first, rest = gm.sufficient_statistics(X[:100]), gm.sufficient_statistics(X[100:])
    >>> total = first + rest
    >>> first.weight_sum, rest.weight_sum, total.weight_sum
    (100.0, 172.0, 272.0)
    >>> total.sum_xx.shape  # (K, D, D) for full covariances
    (2, 2, 2)
    >>> round(total.mean_loglik, 4) == round(gm.score(X), 4)
    True
    """

    def __init__(self, covariance_type, shift):
        self.covariance_type = covariance_type
        self.shift = np.ascontiguousarray(shift, dtype=np.float64)
        n_components, n_features = self.shift.shape
        self.resp_sum = np.zeros(n_components)
        self.sum_x = np.zeros((n_components, n_features))
        self.sum_xx = np.zeros(_sum_xx_shape(covariance_type, n_components, n_features))
        self.loglik_sum = 0.0
        self.weight_sum = 0.0
        self.total_x = np.zeros(n_features)
        self.normalized = True

    def _accumulators(self):
        return (self.shift, self.resp_sum, self.sum_x, self.sum_xx.reshape(-1))

    def merge(self, other):
        """Add the sums of ``other`` into this object, in place.

        Parameters
        ----------
        other : SufficientStatistics
            Statistics of the same covariance type, taken about the same shift.

        Returns
        -------
        SufficientStatistics
            ``self``, now holding the sums of both.

        Raises
        ------
        ValueError
            When the covariance types or the shifts differ.

        See Also
        --------
        SufficientStatistics.copy : Merge into a copy to keep the original.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> stats = gm.sufficient_statistics(X[:100])
        >>> stats.merge(gm.sufficient_statistics(X[100:])).weight_sum
        272.0
        """
        if other.covariance_type != self.covariance_type or not np.array_equal(
                other.shift, self.shift):
            raise ValueError("can only merge statistics taken about the same shift")
        self.resp_sum += other.resp_sum
        self.sum_x += other.sum_x
        self.sum_xx += other.sum_xx
        self.loglik_sum += other.loglik_sum
        self.weight_sum += other.weight_sum
        self.total_x += other.total_x
        self.normalized = self.normalized and other.normalized
        return self

    @property
    def mean_loglik(self):
        """Weighted mean log-likelihood per sample: EM's lower bound.

        Returns
        -------
        float
            ``loglik_sum / weight_sum``, under the model that made the E-step.

        See Also
        --------
        GaussianMixture.score : The same number for a fitted model and data.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> round(gm.sufficient_statistics(X).mean_loglik, 4)
        -4.1554
        """
        return self.loglik_sum / self.weight_sum

    # -- algebra used by chunked, streaming and stepwise EM (gmmc._streaming) --

    def copy(self):
        """Return an independent copy.

        Returns
        -------
        SufficientStatistics
            A new object with copies of every sum.

        See Also
        --------
        SufficientStatistics.merge : Add statistics in place.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> stats = gm.sufficient_statistics(X)
        >>> twin = stats.copy()
        >>> twin.sum_x is stats.sum_x, bool((twin.sum_x == stats.sum_x).all())
        (False, True)
        """
        out = SufficientStatistics(self.covariance_type, self.shift)
        out.merge(self)
        return out

    def __add__(self, other):
        """``a + b``: a new object holding the sums of both (same shift)."""
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        return self.copy().merge(other)

    def __radd__(self, other):
        """``0 + a``, so that ``sum(list_of_statistics)`` works."""
        if isinstance(other, int) and other == 0:
            return self.copy()
        return NotImplemented

    def scaled(self, factor):
        """Return a copy with every sum multiplied by ``factor``.

        Weights and the log-likelihood are scaled too. The M-step is
        invariant to the scale of the statistics (up to its 10-epsilon
        guard), so ``scaled`` turns sums into averages and back.

        Parameters
        ----------
        factor : float
            The multiplier.

        Returns
        -------
        SufficientStatistics
            The scaled copy; ``self`` is unchanged.

        See Also
        --------
        SufficientStatistics.rebased : Move the reference points instead.

        Examples
        --------
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> stats = gm.sufficient_statistics(X)
        >>> average = stats.scaled(1 / stats.weight_sum)
        >>> print(average.weight_sum, average.resp_sum.round(3))
        1.0 [0.356 0.644]
        """
        out = self.copy()
        for name in ("resp_sum", "sum_x", "sum_xx", "total_x"):
            getattr(out, name)[...] *= factor
        out.loglik_sum *= factor
        out.weight_sum *= factor
        return out

    def rebased(self, shift):
        """Return the same statistics taken about other reference points.

        With x - b = (x - a) + (a - b), every sum about the old shift a is
        rewritten about b, exactly; only rounding differs from a pass taken
        about b.

        Parameters
        ----------
        shift : array-like of shape (K, D)
            The new reference points. For tied, diag and spherical
            covariances all rows must be equal, as the E-step requires.

        Returns
        -------
        SufficientStatistics
            A new object; ``self`` is unchanged.

        Raises
        ------
        ValueError
            For a shift of the wrong shape, or with unequal rows for a
            covariance type other than full.

        See Also
        --------
        SufficientStatistics.scaled : Scale the sums instead.

        Examples
        --------
        Statistics about the origin give the same M-step:

        >>> import numpy as np
        >>> import gmmc
        >>> X = gmmc.load_faithful()
        >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        >>> stats = gm.sufficient_statistics(X)
        >>> about_zero = stats.rebased(np.zeros((2, 2)))
        >>> a = gmmc.GaussianMixture(2).m_step(stats).means_
        >>> b = gmmc.GaussianMixture(2).m_step(about_zero).means_
        >>> bool(np.allclose(a, b))
        True
        """
        new = np.ascontiguousarray(shift, dtype=np.float64)
        if new.shape != self.shift.shape:
            raise ValueError(f"shift must have shape {self.shift.shape}, got {new.shape}")
        if self.covariance_type != "full" and not (new == new[0]).all():
            raise ValueError(f"{self.covariance_type} statistics need one centre: "
                             "all rows of shift must be equal")
        d = self.shift - new
        out = self.copy()
        out.shift = new
        if self.covariance_type == "full":
            out.sum_xx += (self.sum_x[:, :, None] * d[:, None, :]
                           + d[:, :, None] * self.sum_x[:, None, :]
                           + self.resp_sum[:, None, None] * d[:, :, None] * d[:, None, :])
        elif self.covariance_type == "tied":  # summed over all samples
            out.sum_xx += (np.outer(self.total_x, d[0]) + np.outer(d[0], self.total_x)
                           + self.weight_sum * np.outer(d[0], d[0]))
        elif self.covariance_type == "diag":
            out.sum_xx += 2.0 * self.sum_x * d + self.resp_sum[:, None] * d ** 2
        else:  # spherical: the trace
            out.sum_xx += (2.0 * (self.sum_x * d).sum(axis=1)
                           + self.resp_sum * (d ** 2).sum(axis=1))
        out.sum_x += self.resp_sum[:, None] * d
        out.total_x += self.weight_sum * d[0]
        return out


def _merged(parts):
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


def e_step(X, sample_weight, weights, means, precisions_cholesky, covariance_type,
           n_threads, log_weights=None):
    """Sufficient statistics of X under the given mixture (one fused pass).

    ``log_weights`` (K,), default log(weights), are the constants added to each
    component's Gaussian log-density (a variational mixture passes its expected
    log-weights and precision terms); ``weights`` then only place the centre.
    """
    shift = reference_points(weights, means, covariance_type)
    if log_weights is None:
        with np.errstate(divide="ignore"):  # a weight of 0 is a log-weight of -inf
            log_weights = np.log(np.asarray(weights, dtype=np.float64))
    # Prepared once, shared by the threads (their kernels only read it).
    prepared = _em.prepare_model(X[:1], log_weights, means, precisions_cholesky,
                                 covariance_type,
                                 None if covariance_type == "full" else shift[0])

    def block(start, stop):
        stats = SufficientStatistics(covariance_type, shift)
        w = None if sample_weight is None else sample_weight[start:stop]
        stats.loglik_sum, stats.weight_sum = _em.accumulate_statistics(
            X[start:stop], w, log_weights, means, precisions_cholesky,
            covariance_type, *stats._accumulators(), prepared=prepared)
        # E-step responsibilities of a sample sum to one.
        stats.total_x = stats.sum_x.sum(axis=0)
        return stats

    return _merged(map_row_blocks(block, X.shape[0], n_threads))


# Rows per step of the Python-level loops below: their float64 temporaries
# stay a few MB whatever N is.
CHUNK_ROWS = 8192


def row_chunks(start, stop, rows=CHUNK_ROWS):
    """(a, b) bounds of consecutive chunks of at most ``rows`` rows in [start, stop)."""
    return ((a, min(a + rows, stop)) for a in range(start, stop, rows))


def _weighted_column_sums(X, sample_weight, n_threads, center=None, square=False):
    """sum_n w_n y_n (float64, (D,)) with y = x - center, squared when ``square``."""
    weight = None if sample_weight is None else sample_weight.astype(X.dtype, copy=False)
    center = None if center is None else np.ascontiguousarray(center, dtype=np.float64)
    if loops_in_kernels(X.shape[0], n_threads):
        total = np.zeros(X.shape[1])
        _em.column_sums(X, weight, center, square, total,
                        *kernel_blocks(X.shape[0], n_threads))
        return total

    def block(start, stop):
        total = np.zeros(X.shape[1])
        _em.column_sums(X[start:stop], None if weight is None else weight[start:stop],
                        center, square, total)
        return total

    return sum(map_row_blocks(block, X.shape[0], n_threads))


def weight_sum(sample_weight, n_samples):
    return float(n_samples if sample_weight is None
                 else np.sum(sample_weight, dtype=np.float64))


def weighted_mean(X, sample_weight, n_threads):
    """Weighted mean of the rows of X, (D,) float64, without an N x D temporary."""
    return (_weighted_column_sums(X, sample_weight, n_threads)
            / weight_sum(sample_weight, X.shape[0]))


def weighted_mean_variance(X, sample_weight, n_threads, mean=None):
    """Weighted mean and variance of each feature, float64.

    One pass: the sums (``weighted_mean``'s, the same bits) and the squares
    about X's first row, then variance = squares / W - (mean - row)^2. That
    difference loses about log10((mean - row)^2 / variance) digits: beyond 4
    (the row far out in a tail), and when ``mean`` is given, the squares are
    taken about the mean in a second pass.
    """
    total = weight_sum(sample_weight, X.shape[0])
    if mean is None:
        shift = np.asarray(X[0], dtype=np.float64)
        sums, squares = _weighted_column_moments(X, sample_weight, n_threads, shift)
        mean = sums / total
        shifted = (mean - shift) ** 2
        variance = squares / total - shifted
        if np.all(shifted <= 1e4 * variance):  # False for NaN
            return mean, variance
    squares = _weighted_column_sums(X, sample_weight, n_threads, center=mean, square=True)
    return mean, squares / total


def _weighted_column_moments(X, sample_weight, n_threads, shift):
    """(sum_n w_n x_n, sum_n w_n (x_n - shift)^2), float64 (D,) each, in one
    pass; the sums are ``_weighted_column_sums``' (the same blocks)."""
    weight = None if sample_weight is None else sample_weight.astype(X.dtype, copy=False)
    if loops_in_kernels(X.shape[0], n_threads):
        sums, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        _em.column_moments(X, weight, shift, sums, squares,
                           *kernel_blocks(X.shape[0], n_threads))
        return sums, squares

    def block(start, stop):
        sums, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        _em.column_moments(X[start:stop], None if weight is None else weight[start:stop],
                           shift, sums, squares)
        return sums, squares

    parts = map_row_blocks(block, X.shape[0], n_threads)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def statistics_from_responsibilities(X, sample_weight, responsibilities, covariance_type,
                                     n_threads):
    """Sufficient statistics of X for initial responsibilities.

    ``responsibilities.block(start, stop, dtype)`` gives rows start:stop of the
    (N, K) responsibilities (see ``gmmc._init.Responsibilities``); they are
    asked for a chunk at a time, in row order in one thread when
    ``responsibilities.sequential``, so N x K is never held.
    """
    if responsibilities.sequential:
        n_threads = 1
    n_components = responsibilities.n_components
    center = weighted_mean(X, sample_weight, n_threads)
    shift = np.tile(center, (n_components, 1))
    if covariance_type == "full":  # about each component's mean, as in EM
        def moments(start, stop):
            totals, sums = np.zeros(n_components), np.zeros((n_components, X.shape[1]))
            for a, b in row_chunks(start, stop):
                resp = responsibilities.block(a, b, np.float64)
                if sample_weight is not None:  # not in place: the block may be a view
                    resp = resp * sample_weight[a:b, None]
                totals += resp.sum(axis=0)
                sums += resp.T @ (X[a:b].astype(np.float64) - center)
            return totals, sums

        parts = map_row_blocks(moments, X.shape[0], n_threads)
        totals, sums = sum(p[0] for p in parts), sum(p[1] for p in parts)
        means = center + sums / np.maximum(totals, 1e-300)[:, None]
        shift = np.where(totals[:, None] > 0, means, center)

    def block(start, stop):
        stats = SufficientStatistics(covariance_type, shift)
        stats.normalized = False
        for a, b in row_chunks(start, stop):
            ws = None if sample_weight is None else sample_weight[a:b]
            stats.merge(responsibility_statistics(
                X[a:b], ws, responsibilities.block(a, b, X.dtype), covariance_type,
                shift, center))
        # Responsibilities that sum to one per sample (k-means labels, random
        # draws) let the tied M-step skip the terms of unexplained weight: for
        # them those are 10 eps of |centre|^2, which far from the origin swamp
        # (and, negative, break) the covariance.
        stats.normalized = responsibilities.normalized
        return stats

    return _merged(map_row_blocks(block, X.shape[0], n_threads))


def label_statistics(X, sample_weight, labels, n_components, covariance_type, n_threads,
                     mean=None):
    """``statistics_from_responsibilities`` of hard assignments (``labels``,
    int32, one component per sample), with the same reference points: the
    weighted mean of X (tied, diag, spherical; ``mean`` when given, which must
    be ``weighted_mean(X, sample_weight, n_threads)``), or each cluster's
    weighted mean (full; the overall mean for a cluster of no weight). Two
    passes, threaded (one when ``mean`` is given): the reference points
    (full: the clusters' weights and means, ``_em.label_sums``), then each
    sample's sums in its own component only (``_em.label_scatter``)."""
    # Reference points from sums about the origin, as the weighted mean of X
    # (on repeated points, tied covariances then come out singular, as
    # scikit-learn's, rather than as noise of either sign).
    in_kernels = loops_in_kernels(X.shape[0], n_threads)
    if covariance_type != "full":
        if mean is None:
            mean = weighted_mean(X, sample_weight, n_threads)
        return _label_scatter(X, sample_weight, labels, covariance_type,
                              np.tile(mean, (n_components, 1)), in_kernels, n_threads)

    def sums(start, stop, *blocks):
        counts, total = np.zeros(n_components), np.zeros((n_components, X.shape[1]))
        _em.label_sums(X[start:stop], None if sample_weight is None
                       else sample_weight[start:stop], labels[start:stop], counts, total,
                       *blocks)
        return counts, total

    if in_kernels:
        counts, cluster_sums = sums(0, X.shape[0], *kernel_blocks(X.shape[0], n_threads))
    else:
        parts = map_row_blocks(sums, X.shape[0], n_threads)
        counts = sum(p[0] for p in parts)
        cluster_sums = sum(p[1] for p in parts)
    shift = np.tile(cluster_sums.sum(axis=0) / counts.sum(), (n_components, 1))
    filled = counts > 0
    shift[filled] = cluster_sums[filled] / counts[filled, None]
    return _label_scatter(X, sample_weight, labels, covariance_type, shift, in_kernels,
                          n_threads)


def _label_scatter(X, sample_weight, labels, covariance_type, shift, in_kernels, n_threads):
    """``label_statistics`` about the reference points ``shift`` (K, D)."""
    def scatter(start, stop, *blocks):
        stats = SufficientStatistics(covariance_type, shift)
        stats.weight_sum = _em.label_scatter(
            X[start:stop], None if sample_weight is None else sample_weight[start:stop],
            labels[start:stop], covariance_type, *stats._accumulators(), *blocks)
        return stats

    if in_kernels and covariance_type in ("diag", "spherical"):
        blocks, threads = kernel_blocks(X.shape[0], n_threads)
        stats = scatter(0, X.shape[0], blocks, threads)
        if blocks is not None:  # the blocks' weights, added as _merged adds them
            stats.weight_sum = sum(weight_sum(None if sample_weight is None
                                              else sample_weight[a:b], b - a)
                                   for a, b in zip(blocks[:-1], blocks[1:]))
    else:
        stats = _merged(map_row_blocks(scatter, X.shape[0], n_threads))
    # each sample wholly in one component, as in E-step statistics
    stats.total_x = stats.sum_x.sum(axis=0)
    stats.normalized = True
    return stats


def seed_statistics(seeds, seed_weights, weight_sum, mean, covariance_type):
    """Statistics of one-hot seeds: component k wholly on the sample
    ``seeds[k]`` of weight ``seed_weights[k]`` (k-means++ and random_from_data
    starts; not tied, whose scatter is that of all the samples). ``weight_sum``
    and ``mean`` are those of all the samples.

    Each component's mean is its sample: taken from the K rows in float64,
    the sums hold no rounding that could cancel. Full covariances take them
    about the samples themselves (no scatter, as scikit-learn's up to
    eps^2); diag and spherical about ``mean``, so that m_step gives them
    scikit-learn's one-sample variance, 10 eps w (x - mean)^2 / nk^2 (about
    the origin in scikit-learn), rather than a difference of large sums that
    can round below zero in float32, or far from the origin in float64.
    """
    seeds = np.asarray(seeds, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    w = np.asarray(seed_weights, dtype=np.float64)
    shift = seeds if covariance_type == "full" else np.tile(mean, (len(seeds), 1))
    stats = SufficientStatistics(covariance_type, shift)
    stats.resp_sum[:] = w
    stats.weight_sum = weight_sum
    if covariance_type != "full":
        deviation = seeds - mean
        stats.sum_x[:] = w[:, None] * deviation
        squares = w[:, None] * deviation ** 2
        stats.sum_xx[:] = squares if covariance_type == "diag" else squares.sum(axis=1)
    stats.total_x = weight_sum * (mean - shift[0])
    stats.normalized = False
    return stats


def responsibility_statistics(X, sample_weight, resp, covariance_type, shift, center):
    """Statistics of one block of rows for given responsibilities, about
    ``shift``; ``center`` (D,) is shift's common row for tied covariances."""
    stats = SufficientStatistics(covariance_type, shift)
    stats.weight_sum = _em.statistics_from_responsibilities(
        X, sample_weight, resp, covariance_type, *stats._accumulators())
    # Given responsibilities need not sum to one per sample (one-hot seeds).
    total = (X.sum(axis=0, dtype=np.float64) if sample_weight is None
             else sample_weight.astype(np.float64) @ X)
    stats.total_x = total - stats.weight_sum * center
    stats.normalized = False
    return stats


# em_in_kernels on several blocks of rows: up to this many values of X times
# components. Ctrl-C is seen between its iterations (within a block in the
# Python driver), so an iteration stays short: at the bound, full covariances
# at D = 64 take about 0.35 s per iteration on 2 threads (200 000 x 64,
# K = 16, 0.29 s measured).
IN_KERNELS_MAX_WORK = 2 ** 27


def em_in_kernels_suits(X, n_components, n_threads):
    """Whether ``em_in_kernels`` should replace the Python driver on X: where
    the driver's per-iteration Python work, and its Python threads' start
    before each block, would cost much of an E-step. On one block of rows in
    this thread, or on the driver's blocks with the kernels' own threads
    (``_team.available``) up to IN_KERNELS_MAX_WORK."""
    return single_block(X.shape[0], n_threads) or (
        _team.available() and X.size * n_components <= IN_KERNELS_MAX_WORK)


def em_in_kernels(X, sample_weight, params, covariance_type, reg_covar, tol, max_iter,
                  lower_bound, n_threads):
    """EM from ``params`` (weights, means, covariances, precisions_cholesky in
    X's dtype) with every iteration in the kernels (``_em.em_loop``): the
    Python driver's E-step (on the same row blocks, up to ``n_threads``
    threads), ``m_step`` and ``precision_cholesky``, without its
    per-iteration Python work.

    Returns (params, lower_bound, bounds, n_iter, converged), as the driver,
    and raises its errors.
    """
    weights, means, covariances, prec_chol = (np.array(p, dtype=X.dtype) for p in params)
    bounds = np.empty(max_iter)
    n_iter, converged, lower_bound, status = _em.em_loop(
        X, sample_weight, weight_sum(sample_weight, X.shape[0]), covariance_type,
        weights, means, covariances.reshape(-1), prec_chol.reshape(-1), reg_covar,
        10 * np.finfo(X.dtype).eps, tol, max_iter, lower_bound, bounds,
        *kernel_blocks(X.shape[0], n_threads))
    if status == -2:
        raise _not_finite_error(X)
    if status >= 0:
        raise _ill_defined(status, covariance_type, X.dtype)
    return ((weights, means, covariances, prec_chol), lower_bound,
            bounds[:n_iter].tolist(), n_iter, converged)


def check_statistics(stats, X):
    """Raise a clear ValueError when an E-step over- or underflowed X's dtype."""
    if not (np.isfinite(stats.loglik_sum) and np.isfinite(stats.sum_x).all()
            and np.isfinite(stats.sum_xx).all()):
        raise _not_finite_error(X)


def _not_finite_error(X):
    biggest = float(np.nanmax(np.abs(X)))
    return ValueError(
        "EM failed: the log-likelihood of some samples is not finite in "
        f"{X.dtype.name} (the largest magnitude in X is {biggest:.3g}, and some "
        "samples are too far from a narrow component). Rescale X, for example "
        "standardize each feature, or increase reg_covar.")


def m_step(stats, reg_covar, dtype):
    """Weights, means and covariances (float64) maximising the expected loglik.

    ``dtype`` is the data's dtype: like scikit-learn, 10 machine epsilons of it
    are added to each component's responsibility sum so that an empty
    component gives finite means (the formulas: ``_em._m_step``).
    """
    weights, means, covariances = _em.m_step(
        stats.covariance_type, 10 * np.finfo(dtype).eps, reg_covar, stats.resp_sum,
        stats.sum_x, stats.sum_xx.reshape(-1), stats.shift, stats.normalized,
        stats.total_x, stats.weight_sum)
    return weights, means, covariances.reshape(stats.sum_xx.shape)


# scikit-learn's message word for word (code matches it), then the first
# component that failed.
_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)
_FLOAT32_HINT = (" The numerical accuracy can also be improved by passing float64"
                 " data instead of float32.")


def _ill_defined(component, covariance_type, dtype):
    what = "the tied covariance" if covariance_type == "tied" else f"component {component}"
    hint = _FLOAT32_HINT if np.dtype(dtype) == np.float32 else ""
    return ValueError(f"{_ILL_DEFINED}{hint} (The first is {what}.)")


def precision_cholesky(covariances, covariance_type, dtype=np.float64):
    """Upper Cholesky factor of each precision matrix (scikit-learn's layout).

    Raises scikit-learn's ValueError, naming the first component whose
    covariance is not positive definite; ``dtype`` is the data's (float32
    data get scikit-learn's hint about float64).
    """
    covariances = np.ascontiguousarray(covariances, dtype=np.float64)
    out, failed = _em.precision_factors(covariance_type, covariances)
    if failed >= 0:
        raise _ill_defined(failed, covariance_type, dtype)
    return out


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices U U^T (full, tied) or squares (diag, spherical)."""
    u = precisions_cholesky
    if covariance_type == "full":
        return u @ np.swapaxes(u, 1, 2)
    if covariance_type == "tied":
        return u @ u.T
    return u ** 2


def posterior(X, weights, means, precisions_cholesky, covariance_type, n_threads,
              responsibilities=True, log_weights=None):
    """log p(x_n) for each row, and p(k | x_n) when ``responsibilities``.

    ``log_weights``: as in ``e_step``.
    """
    n_samples = X.shape[0]
    log_norm = np.empty(n_samples, dtype=X.dtype)
    resp = np.empty((n_samples, len(weights)), dtype=X.dtype) if responsibilities else None
    center = None  # the mixture mean, from exp(log_weights)
    if log_weights is None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(weights, dtype=np.float64))
    else:
        center = np.asarray(weights, dtype=np.float64) @ np.asarray(means, dtype=np.float64)
    prepared = _em.prepare_model(X[:1], log_weights, means, precisions_cholesky,
                                 covariance_type, center)

    def block(start, stop):
        _em.posterior(X[start:stop], log_weights, means, precisions_cholesky,
                      covariance_type, log_norm[start:stop],
                      None if resp is None else resp[start:stop], prepared)

    map_row_blocks(block, n_samples, n_threads)
    return log_norm, resp


class ArrayMoments:
    """Weighted moments of the rows of an in-memory X, each computed when asked
    (in float64): what a fit's set-up may need of the data besides its EM
    passes (``BayesianGaussianMixture``'s default priors, see ``_fit_context``).
    ``gmmc._streaming.ChunkMoments`` computes the same over chunks.
    """

    def __init__(self, X, sample_weight, n_threads):
        self.X, self.sample_weight, self.n_threads = X, sample_weight, n_threads
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self.weight_sum = weight_sum(sample_weight, X.shape[0])

    def mean(self):
        """The weighted mean of the rows, (D,)."""
        return weighted_mean(self.X, self.sample_weight, self.n_threads)

    def squares(self, center):
        """sum_n w_n (x_n - center) ** 2, per feature, (D,)."""
        return _weighted_column_sums(self.X, self.sample_weight, self.n_threads,
                                     center=center, square=True)

    def scatter(self, center):
        """sum_n w_n (x_n - center)(x_n - center)^T, (D, D), a few rows at a time."""
        X, weight = self.X, self.sample_weight
        rows = max(16, 2 ** 17 // X.shape[1])  # float64 temporaries of about 1 MB

        def block(start, stop):
            total = np.zeros((X.shape[1], X.shape[1]))
            for a, b in row_chunks(start, stop, rows):
                y = X[a:b].astype(np.float64)
                y -= center
                total += (y if weight is None else y * weight[a:b, None]).T @ y
            return total

        return sum(map_row_blocks(block, X.shape[0], self.n_threads))
