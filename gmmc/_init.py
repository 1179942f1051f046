"""Initial responsibilities: k-means, k-means++, random, random_from_data.

The random draws follow scikit-learn's order for 'random' and
'random_from_data', so the same ``random_state`` gives the same start.
"""
import numpy as np

from . import _kmeans
from ._parallel import map_row_blocks


def squared_distances(X, centers, n_threads):
    """(N, K) squared Euclidean distances from the rows of X to ``centers``."""
    centers = np.ascontiguousarray(centers, dtype=X.dtype)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    map_row_blocks(lambda a, b: _kmeans.squared_distances(X[a:b], centers, out[a:b]),
                   X.shape[0], n_threads)
    return out


def kmeans_plusplus(X, sample_weight, n_clusters, random_state, n_threads):
    """Greedy k-means++ seeding; returns (centers, indices into X).

    Each new centre is the best, by total weighted squared distance, of
    ``2 + log(K)`` candidates drawn with probability proportional to the
    weighted squared distance to the closest centre chosen so far.
    """
    n_samples = X.shape[0]
    weight = np.ones(n_samples) if sample_weight is None else sample_weight.astype(np.float64)
    n_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = random_state.choice(n_samples, p=weight / weight.sum())
    closest = squared_distances(X, X[indices[:1]], n_threads)[:, 0].astype(np.float64)
    potential = weight @ closest
    for c in range(1, n_clusters):
        if potential <= 0:  # every sample already sits on a centre
            # Draw among the samples of positive weight: a zero-weight sample
            # must never become a centre.
            p = None if sample_weight is None else weight / weight.sum()
            candidates = random_state.choice(n_samples, size=n_trials, p=p)
        else:
            draws = random_state.uniform(size=n_trials) * potential
            candidates = np.searchsorted(np.cumsum(weight * closest), draws)
            np.clip(candidates, None, n_samples - 1, out=candidates)
        distances = squared_distances(X, X[candidates], n_threads).astype(np.float64)
        np.minimum(distances, closest[:, None], out=distances)
        potentials = weight @ distances
        best = int(np.argmin(potentials))
        indices[c] = candidates[best]
        closest = distances[:, best]
        potential = potentials[best]
    return X[indices].copy(), indices


def _lloyd_step(X, sample_weight, centers, labels, n_threads):
    def block(start, stop):
        sums = np.zeros(centers.shape, dtype=np.float64)
        counts = np.zeros(centers.shape[0])
        w = None if sample_weight is None else sample_weight[start:stop]
        inertia = _kmeans.lloyd_step(X[start:stop], w, centers, labels[start:stop],
                                     sums, counts)
        return sums, counts, inertia

    parts = map_row_blocks(block, X.shape[0], n_threads)
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))


def kmeans(X, sample_weight, n_clusters, random_state, n_threads, max_iter=300, tol=1e-4):
    """Lloyd's k-means from k-means++ seeds; returns the labels (int32).

    Stops when no label changes or the centres move by less than ``tol`` times
    the mean feature variance (in squared distance), as scikit-learn's KMeans.
    """
    centers, _ = kmeans_plusplus(X, sample_weight, n_clusters, random_state, n_threads)
    # The variance of the weighted data, so that weight 2 acts as a repeated sample.
    if sample_weight is None:
        variance = np.var(X, axis=0, dtype=np.float64)
    else:
        w = sample_weight.astype(np.float64)
        mean = w @ X / w.sum()
        variance = w @ (X - mean) ** 2 / w.sum()
    tol = tol * np.mean(variance)
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    previous = np.empty_like(labels)
    for _ in range(max_iter):
        previous[:] = labels
        sums, counts, _ = _lloyd_step(X, sample_weight, centers, labels, n_threads)
        if np.array_equal(labels, previous):
            break
        empty = np.flatnonzero(counts == 0)
        new_centers = sums / np.maximum(counts, np.finfo(np.float64).tiny)[:, None]
        if empty.size:  # reseed empty clusters at the worst-fitted samples
            cost = ((X - centers[labels]) ** 2).sum(axis=1)
            if sample_weight is not None:  # never reseed at a zero-weight sample
                cost[sample_weight == 0] = -1
            new_centers[empty] = X[np.argsort(cost)[::-1][: empty.size]]
        new_centers = new_centers.astype(X.dtype)
        shift = ((new_centers - centers) ** 2).sum()
        centers = new_centers
        if shift <= tol:
            _lloyd_step(X, sample_weight, centers, labels, n_threads)
            break
    return labels


def _one_hot(n_samples, rows, dtype):
    """Responsibilities putting component k wholly on sample rows[k]."""
    resp = np.zeros((n_samples, len(rows)), dtype=dtype)
    resp[rows, np.arange(len(rows))] = 1
    return resp


def initial_responsibilities(X, sample_weight, n_components, init_params, random_state,
                             n_threads):
    """(N, K) responsibilities to start EM from."""
    n_samples = X.shape[0]
    if init_params == "kmeans":
        labels = kmeans(X, sample_weight, n_components, random_state, n_threads)
        resp = np.zeros((n_samples, n_components), dtype=X.dtype)
        resp[np.arange(n_samples), labels] = 1
        return resp
    if init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components)).astype(X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp
    if init_params == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = random_state.choice(n_samples, size=n_components, replace=False, p=p)
        return _one_hot(n_samples, indices, X.dtype)
    if init_params == "k-means++":
        _, indices = kmeans_plusplus(X, sample_weight, n_components, random_state, n_threads)
        return _one_hot(n_samples, indices, X.dtype)
    raise ValueError(f"unknown init_params {init_params!r}")
