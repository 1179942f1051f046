"""The initialisations over chunks: ``_init``'s starts on data seen chunk by chunk.

Written against the chunk executors of ``gmmc._streaming`` (``map_list``,
``map_reduce``, ``rows``, ...): greedy k-means++ round by round, Lloyd's
k-means as map-reduces, 'random_from_data' and 'random', each making the
same draws from ``random_state`` and computing the same statistics as the
in-memory start (Dask's 'random' excepted: its chunks draw from seeds of
their own). Nothing N-sized is kept between passes.
"""
import numpy as np

from . import _init, _stats


# -- chunk tasks (module level, so that they pickle to Dask workers) ----------

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



def _variance_chunk(X, w, start, mean):
    """Weighted sum of squared deviations from ``mean``, per feature (float64)."""
    centered = X.astype(np.float64) - mean if X.dtype != np.float64 else X - mean
    squared = centered ** 2
    return squared.sum(axis=0) if w is None else w.astype(np.float64) @ squared


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


def _responsibility_statistics(data, summary, responsibilities, covariance_type,
                               n_components):
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


def initial_statistics(data, summary, init_params, n_components, covariance_type,
                       random_state):
    """The statistics of the ``init_params`` start over chunks, as
    ``_init.initial_responsibilities(...).statistics(...)`` in memory: the
    same draws from ``random_state`` and the same statistics, chunk by chunk.

    ``summary`` is ``_streaming.summarize``'s: the data mean about which the
    distances are taken, and the weight sum.
    """
    if init_params == "kmeans":
        centers = kmeans_labels_centers(data, summary, n_components, random_state)
        responsibilities = _NearestCenter(centers, summary["mean"], data.task_threads)
    elif init_params == "k-means++":
        _, indices = kmeans_plusplus(data, n_components, random_state, summary["mean"])
        responsibilities = _OneHotRows(indices)
    elif init_params == "random_from_data":
        weight = data.all_weights() if data.has_weights else None
        p = None if weight is None else weight / weight.sum()
        indices = random_state.choice(data.n_samples, size=n_components, replace=False, p=p)
        responsibilities = _OneHotRows(indices)
    elif init_params == "random":
        responsibilities = _random_responsibilities(data, n_components, random_state)
    else:
        raise ValueError(f"unknown init_params {init_params!r}")
    if isinstance(responsibilities, _OneHotRows) and covariance_type != "tied":
        seeds, seed_weights = _read_rows(data, responsibilities.rows)
        stats = _stats.seed_statistics(seeds, seed_weights, summary["weight_sum"],
                                       summary["mean"], covariance_type)
    else:
        stats = _responsibility_statistics(data, summary, responsibilities, covariance_type,
                                           n_components)
    if isinstance(responsibilities, _UniformRows) and responsibilities.random_state is not None:
        # Leave random_state where the in-memory fit's N x K draw leaves it.
        random_state.set_state(responsibilities.random_state.get_state())
    return stats
