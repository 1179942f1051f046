"""Initial responsibilities: k-means, k-means++, random, random_from_data.

The random draws follow scikit-learn's order for every ``init_params``, so the
same ``random_state`` gives the same start. Nothing N x D or N x K is
allocated: k-means works on centred chunks in the kernels, keeping one
distance (k-means++) or one label (Lloyd) per sample, and the responsibilities
are handed to the statistics block by block (``Responsibilities``).
"""
import numpy as np

from . import _kmeans, _stats
from ._parallel import kernel_blocks, loops_in_kernels, map_row_blocks, single_block


# k-means++'s candidate distances (N x (2 + log K)) save a pass over X per
# centre (otherwise the chosen one's are computed again). They are kept up to
# KEPT_BYTES, and up to X.nbytes / 8 beyond KEPT_ALWAYS_BYTES (which never
# matter), so that a fit of large data stays within a fraction of X.
KEPT_BYTES = 64 << 20
KEPT_ALWAYS_BYTES = 4 << 20
# Lloyd's distance bounds (2 x N float64) let a pass skip the rows whose
# label cannot change; the same policy (they are not held together).
BOUNDS_BYTES = 64 << 20


def _work_space_fits(nbytes, X, cap):
    """Whether N-sized work space of ``nbytes`` may be held beside X: up to
    ``cap``, and up to X.nbytes / 8 beyond KEPT_ALWAYS_BYTES."""
    return nbytes <= min(cap, max(KEPT_ALWAYS_BYTES, X.nbytes // 8))


def _typed_weights(sample_weight, dtype):
    return None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)


def _centred(rows, offset, dtype):
    """Rows of X minus ``offset``, computed in float64, in X's dtype (the kernels' centres)."""
    return np.ascontiguousarray(np.asarray(rows, dtype=np.float64) - offset, dtype=dtype)


def squared_distances(X, centers, n_threads, offset=None):
    """(N, K) squared Euclidean distances from the rows of X to ``centers``.

    ``offset`` (D,), default the origin, is subtracted from rows and centres
    before the distances are expanded (pass the data mean for accuracy).
    """
    offset = np.zeros(X.shape[1]) if offset is None else np.asarray(offset, np.float64)
    centers = _centred(centers, offset, X.dtype)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    map_row_blocks(
        lambda a, b: _kmeans.squared_distances(X[a:b], offset, centers, out[a:b]),
        X.shape[0], n_threads)
    return out


def kmeans_plusplus(X, sample_weight, n_clusters, random_state, n_threads, offset=None):
    """Greedy k-means++ seeding; returns (centers, indices into X).

    Each new centre is the best, by total weighted squared distance, of
    ``2 + log(K)`` candidates drawn with probability proportional to the
    weighted squared distance to the closest centre chosen so far. Distances
    are taken about ``offset`` (default: the weighted mean of X).
    """
    n_samples = X.shape[0]
    weight = _typed_weights(sample_weight, X.dtype)
    if offset is None:
        offset = _stats.weighted_mean(X, weight, n_threads)
    n_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    if weight is None:  # random_state.choice(n, p=ones / n), without N-sized arrays
        indices[0] = _kmeans.uniform_choice(n_samples, random_state.random_sample())
    else:
        w = weight.astype(np.float64)
        indices[0] = random_state.choice(n_samples, p=w / w.sum())
    closest = np.full(n_samples, np.inf, dtype=X.dtype)
    potential = _update_closest(X, weight, offset, X[indices[:1]], closest, n_threads)
    kept_bytes = n_samples * n_trials * X.itemsize
    kept = (np.empty((n_trials, n_samples), dtype=X.dtype)
            if single_block(n_samples, n_threads)
            or _work_space_fits(kept_bytes, X, KEPT_BYTES)
            else None)
    first = 1
    if loops_in_kernels(n_samples, n_threads):
        # The same steps and draws in one kernel call, up to the end or to a
        # centre drawn differently (every sample on a centre).
        first, potential = _kmeans.kmeans_plusplus_loop(
            X, weight, offset, closest, potential, random_state, n_trials, indices, kept,
            *kernel_blocks(n_samples, n_threads))
    for c in range(first, n_clusters):
        if potential <= 0:  # every sample already sits on a centre
            # Draw among the samples of positive weight: a zero-weight sample
            # must never become a centre.
            p = None if weight is None else w / w.sum()
            candidates = random_state.choice(n_samples, size=n_trials, p=p)
        else:
            draws = random_state.uniform(size=n_trials) * potential
            order = np.argsort(draws, kind="stable")
            candidates = np.empty(n_trials, dtype=np.intp)
            candidates[order] = _kmeans.cumulative_search(closest, weight, draws[order],
                                                          False)
        centred = _centred(X[candidates], offset, X.dtype)
        potentials = _candidate_potentials(X, weight, offset, centred, closest, kept,
                                           n_threads)
        best = int(np.argmin(potentials))
        indices[c] = candidates[best]
        potential = potentials[best]
        _closest_to_candidate(X, offset, centred, best, closest, kept, n_threads)
    return X[indices].copy(), indices


def _update_closest(X, weight, offset, center, closest, n_threads):
    """closest := min(closest, distance to ``center``); returns the new potential."""
    center = _centred(center, offset, X.dtype)
    if loops_in_kernels(X.shape[0], n_threads):
        return _kmeans.update_closest(X, weight, offset, center, closest,
                                      *kernel_blocks(X.shape[0], n_threads))
    parts = map_row_blocks(
        lambda a, b: _kmeans.update_closest(
            X[a:b], None if weight is None else weight[a:b], offset, center, closest[a:b]),
        X.shape[0], n_threads)
    return sum(parts)


def _candidate_potentials(X, weight, offset, candidates, closest, kept, n_threads):
    """Potential of each (centred) candidate; their distances go to ``kept``
    (T, N) unless it is None."""
    def block(a, b):
        potentials = np.zeros(candidates.shape[0])
        _kmeans.candidate_potentials(X[a:b], None if weight is None else weight[a:b],
                                     offset, candidates, closest[a:b], potentials,
                                     None if kept is None else kept[:, a:b])
        return potentials

    return sum(map_row_blocks(block, X.shape[0], n_threads))


def _closest_to_candidate(X, offset, candidates, best, closest, kept, n_threads):
    """closest := min(closest, distance to candidate ``best``)."""
    map_row_blocks(
        lambda a, b: _kmeans.closest_to_candidate(
            X[a:b], offset, candidates, best, closest[a:b],
            None if kept is None else kept[:, a:b]),
        X.shape[0], n_threads)


def _lloyd_step(X, sample_weight, offset, centers, labels, n_threads):
    """One Lloyd assignment; returns (sums about offset, counts, inertia, changed)."""
    weight = _typed_weights(sample_weight, X.dtype)

    def block(start, stop):
        sums = np.zeros(centers.shape, dtype=np.float64)
        counts = np.zeros(centers.shape[0])
        w = None if weight is None else weight[start:stop]
        inertia, changed = _kmeans.lloyd_step(X[start:stop], w, offset, centers,
                                              labels[start:stop], sums, counts)
        return sums, counts, inertia, changed

    parts = map_row_blocks(block, X.shape[0], n_threads)
    return tuple(sum(p[i] for p in parts) for i in range(4))


def _worst_fitted(X, sample_weight, offset, centers, labels, count):
    """Indices of the ``count`` samples farthest from their centre (positive weight)."""
    cost = np.empty(X.shape[0])
    for a, b in _stats.row_chunks(0, X.shape[0]):
        diff = X[a:b].astype(np.float64) - offset - centers[labels[a:b]]
        cost[a:b] = np.einsum("ij,ij->i", diff, diff)
    if sample_weight is not None:  # never reseed at a zero-weight sample
        cost[sample_weight == 0] = -1
    return np.argsort(cost)[::-1][:count]


def kmeans(X, sample_weight, n_clusters, random_state, n_threads, max_iter=300, tol=1e-4,
           mean=None, variance=None):
    """Lloyd's k-means from k-means++ seeds; returns the labels (int32).

    Stops when no label changes or the centres move by less than ``tol`` times
    the mean feature variance (in squared distance), as scikit-learn's KMeans.
    Works about the weighted mean of X (``mean``, computed when not given with
    the features' weighted ``variance``), so a translated data set gets the
    same labels.
    """
    weight = _typed_weights(sample_weight, X.dtype)
    # The variance of the weighted data, so that weight 2 acts as a repeated sample.
    offset = mean
    if mean is None or variance is None:
        offset, variance = _stats.weighted_mean_variance(X, weight, n_threads, mean)
    seeds, _ = kmeans_plusplus(X, weight, n_clusters, random_state, n_threads, offset)
    centers = _centred(seeds, offset, X.dtype)
    tol = tol * np.mean(variance)
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    distance_bounds = (np.empty((2, X.shape[0]))
                       if _work_space_fits(16 * X.shape[0], X, BOUNDS_BYTES) else None)
    remaining = max_iter
    while remaining > 0:
        if loops_in_kernels(X.shape[0], n_threads):
            # The iterations up to an emptied cluster in one call.
            sums, counts = np.empty(centers.shape), np.empty(centers.shape[0])
            n_iter, reason = _kmeans.lloyd_loop(X, weight, offset, centers, labels, sums,
                                                counts, remaining, tol,
                                                *kernel_blocks(X.shape[0], n_threads),
                                                distance_bounds)
            remaining -= n_iter
            if reason != _kmeans.LLOYD_EMPTY:
                break
        else:
            sums, counts, _, changed = _lloyd_step(X, weight, offset, centers, labels,
                                                   n_threads)
            remaining -= 1
            if not changed:
                break
        empty = np.flatnonzero(counts == 0)
        new_centers = sums / np.maximum(counts, np.finfo(np.float64).tiny)[:, None]
        if empty.size:  # reseed empty clusters at the worst-fitted samples
            worst = _worst_fitted(X, weight, offset, centers, labels, empty.size)
            new_centers[empty] = X[worst].astype(np.float64) - offset
        new_centers = new_centers.astype(X.dtype)
        shift = ((new_centers - centers) ** 2).sum()
        centers = new_centers
        if shift <= tol:
            _lloyd_step(X, weight, offset, centers, labels, n_threads)
            break
    return labels


# -- responsibilities, block by block --------------------------------------------

class Responsibilities:
    """Initial (N, K) responsibilities, produced a block of rows at a time.

    ``block(start, stop, dtype)`` returns rows start:stop. Subclasses with
    ``sequential = True`` must be asked for their blocks in row order, from
    row 0 (each pass restarts there).
    """

    sequential = False
    normalized = False  # True: every sample's responsibilities sum to one

    def __init__(self, n_samples, n_components):
        self.n_samples = n_samples
        self.n_components = n_components

    def statistics(self, X, sample_weight, covariance_type, n_threads):
        """Sufficient statistics of X under these responsibilities."""
        return _stats.statistics_from_responsibilities(X, sample_weight, self,
                                                       covariance_type, n_threads)


class ArrayResponsibilities(Responsibilities):
    """Given (N, K) responsibilities, served block by block."""

    def __init__(self, resp):
        super().__init__(*resp.shape)
        self.resp = resp

    def block(self, start, stop, dtype):
        return np.asarray(self.resp[start:stop], dtype=dtype)


class HardAssignments(Responsibilities):
    """Each sample wholly in the component of its label (k-means)."""

    normalized = True

    def __init__(self, labels, n_components, mean=None):
        super().__init__(labels.shape[0], n_components)
        self.labels = labels
        # The weighted mean of the X and weights that statistics() will be
        # given, when the caller has it (k-means computed it): saves a pass.
        self.mean = mean

    def block(self, start, stop, dtype):
        resp = np.zeros((stop - start, self.n_components), dtype=dtype)
        resp[np.arange(stop - start), self.labels[start:stop]] = 1
        return resp

    def statistics(self, X, sample_weight, covariance_type, n_threads):
        # each sample's sums in its own component only (not K one-hot columns)
        return _stats.label_statistics(X, sample_weight, self.labels, self.n_components,
                                       covariance_type, n_threads, self.mean)

    def n_distinct(self):
        """Number of components that received at least one sample."""
        return int(np.count_nonzero(np.bincount(self.labels, minlength=self.n_components)))


class SeedRows(Responsibilities):
    """Component k wholly on sample ``rows[k]``, nothing on the others
    (k-means++ and random_from_data starts)."""

    def __init__(self, n_samples, rows):
        super().__init__(n_samples, len(rows))
        self.rows = np.asarray(rows, dtype=np.intp)

    def block(self, start, stop, dtype):
        resp = np.zeros((stop - start, self.n_components), dtype=dtype)
        inside = (self.rows >= start) & (self.rows < stop)
        resp[self.rows[inside] - start, np.flatnonzero(inside)] = 1
        return resp

    def statistics(self, X, sample_weight, covariance_type, n_threads):
        if covariance_type == "tied":  # its scatter is that of all the samples
            return super().statistics(X, sample_weight, covariance_type, n_threads)
        seed_weights = (np.ones(len(self.rows)) if sample_weight is None
                        else sample_weight[self.rows])
        return _stats.seed_statistics(
            X[self.rows], seed_weights, _stats.weight_sum(sample_weight, X.shape[0]),
            _stats.weighted_mean(X, sample_weight, n_threads), covariance_type)


class UniformDraws(Responsibilities):
    """'random': uniform draws normalised per sample, in scikit-learn's order.

    The first pass draws from the caller's ``random_state``, which ends where
    scikit-learn's single (N, K) draw leaves it; later passes replay the
    same numbers from a copy of the starting state.
    """

    sequential = True
    normalized = True

    def __init__(self, n_samples, n_components, random_state):
        super().__init__(n_samples, n_components)
        self._live = random_state
        self._start_state = random_state.get_state()
        self._generator = None

    def block(self, start, stop, dtype):
        if start == 0:
            if self._generator is None:
                self._generator = self._live
            else:
                self._generator = np.random.RandomState()
                self._generator.set_state(self._start_state)
        resp = self._generator.uniform(size=(stop - start, self.n_components)).astype(dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp


def initial_responsibilities(X, sample_weight, n_components, init_params, random_state,
                             n_threads):
    """The ``Responsibilities`` to start EM from."""
    n_samples = X.shape[0]
    if init_params == "kmeans":
        # k-means works about the weighted mean (its tolerance scales with the
        # variance), the statistics take it as their reference point: one
        # pass over X for all
        mean, variance = _stats.weighted_mean_variance(
            X, _typed_weights(sample_weight, X.dtype), n_threads)
        labels = kmeans(X, sample_weight, n_components, random_state, n_threads, mean=mean,
                        variance=variance)
        return HardAssignments(labels, n_components, mean)
    if init_params == "random":
        return UniformDraws(n_samples, n_components, random_state)
    if init_params == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = random_state.choice(n_samples, size=n_components, replace=False, p=p)
        return SeedRows(n_samples, indices)
    if init_params == "k-means++":
        _, indices = kmeans_plusplus(X, sample_weight, n_components, random_state, n_threads)
        return SeedRows(n_samples, indices)
    raise ValueError(f"unknown init_params {init_params!r}")
