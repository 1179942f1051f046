"""Helpers shared by the benchmark scripts (not a benchmark itself).

Importing this module puts the checkout that holds ``benchmarks/`` first on
``sys.path`` when that checkout has a built gmmc (``python setup.py
build_ext --inplace``), so ``python benchmarks/bench_*.py`` times the code
next to it rather than whichever gmmc is installed; ``describe_gmmc()`` names
the one imported.

Timing protocol of every script: the contenders' runs alternate, round after
round (the order flipped every other round), so that a slow spell of a shared
machine hits them alike; each row reports the median of the rounds, the
spread (min-max), and the ratio of the medians with the spread of the
per-round ratios. Each timed call starts after a short pause (``SETTLE``):
a BLAS library's worker threads keep spinning for a while after its last
call (OpenBLAS: ~0.1 s), and would otherwise take a core from whichever
contender runs next (measured: gmmc's tied fit at 50 000 x 32, K = 16, 37 ms
alone, 69 ms right after scikit-learn's fit, 38 ms after a 0.3 s pause).
"""
import contextlib
import glob
import os
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if glob.glob(os.path.join(ROOT, "gmmc", "_em*.so")) + glob.glob(
        os.path.join(ROOT, "gmmc", "_em*.pyd")):
    sys.path.insert(0, ROOT)


def describe_gmmc():
    """One line: the gmmc version and the directory it was imported from."""
    import gmmc
    return f"gmmc {gmmc.__version__} from {os.path.dirname(gmmc.__file__)}"


def versions_line(n_threads=None):
    """gmmc (with its path), scikit-learn and NumPy versions, threads and cores."""
    import sklearn
    from gmmc._parallel import effective_n_threads
    threads = effective_n_threads(n_threads)
    return (f"{describe_gmmc()}; scikit-learn {sklearn.__version__}, numpy "
            f"{np.__version__}; threads: {threads}; cores: {os.cpu_count()}")


@contextlib.contextmanager
def quiet():
    """Silence warnings (ConvergenceWarning from capped fits, mostly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


SETTLE = 0.3  # seconds of pause before each timed call, see above


def timed(func, settle=SETTLE):
    """(seconds, result) of one call of ``func()``, after a pause of ``settle`` s."""
    time.sleep(settle)
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


class Timings:
    """Seconds of the rounds of one contender, with the last result kept."""

    def __init__(self):
        self.seconds = []
        self.result = None

    @property
    def median(self):
        return float(np.median(self.seconds))

    @property
    def low(self):
        return min(self.seconds)

    @property
    def high(self):
        return max(self.seconds)


def alternate(funcs, rounds, scale=None, settle=SETTLE):
    """Run each of ``funcs`` once per round, in turns; returns a Timings each.

    ``scale(result)`` turns one call's seconds into the reported quantity
    (e.g. divides by the iterations the fit ran): ``seconds * scale(result)``.
    ``settle``: the pause before each call (0 where BLAS runs on one thread).
    """
    timings = [Timings() for _ in funcs]
    order = list(range(len(funcs)))
    for r in range(rounds):
        for i in (order if r % 2 == 0 else order[::-1]):
            seconds, result = timed(funcs[i], settle)
            timings[i].seconds.append(seconds * (scale(result) if scale else 1.0))
            timings[i].result = result
    return timings


def ratio(slow, fast):
    """(ratio of the medians, min and max of the per-round ratios)."""
    per_round = [s / f for s, f in zip(slow.seconds, fast.seconds)]
    return slow.median / fast.median, min(per_round), max(per_round)


def verdict(value, target):
    return "PASS" if value >= target else "MISS"


def seconds(value, unit="s"):
    """A time in a fixed width: seconds, or milliseconds with unit='ms'."""
    return f"{value * 1e3:.2f}" if unit == "ms" else f"{value:.4f}"


def spread(timings, unit="s"):
    return f"{seconds(timings.low, unit)}-{seconds(timings.high, unit)}"


def ratio_cell(r):
    """'12.3x (10.1-14.0)': ratio of medians and the range of the round ratios."""
    return f"{r[0]:.1f}x ({r[1]:.1f}-{r[2]:.1f})"


class Table:
    """A fixed-width table printed row by row (flushed: long runs show progress).

    ``columns``: (title, width, align) with align '<' or '>'.
    """

    def __init__(self, columns, title=None):
        self.columns = columns
        self.misses = 0
        self.rows = 0
        if title:
            print(f"\n{title}")
        line = "  ".join(f"{t:{a}{w}}" for t, w, a in columns)
        print(line)
        print("-" * len(line), flush=True)

    def row(self, *cells, ok=None):
        """Print one row; ``ok`` (True/False; None: no target) is counted."""
        print("  ".join(f"{str(c):{a}{w}}" for c, (_, w, a) in zip(cells, self.columns)),
              flush=True)
        if ok is not None:
            self.rows += 1
            self.misses += not ok

    def summary(self, what="rows"):
        met = self.rows - self.misses
        print(f"targets met: {met} of {self.rows} {what}", flush=True)
        return self.misses == 0


# --- data ---------------------------------------------------------------------------

DATA_KINDS = ("blobs", "separated")


def make_data(kind, n, d, k, dtype="float64", seed=0):
    """Synthetic mixture data, seeded.

    - ``blobs``: K blobs with centres drawn N(0, 4^2) per coordinate and random
      covariances (identity plus a random D x D mix): neighbours overlap.
    - ``separated``: K clusters whose means lie at least 8 apart (rejection
      sampling in a cube), random covariances with standard deviations between
      0.5 and 1.41 along random axes (so the means are 5.6 sd or more apart),
      and unequal weights (Dirichlet(5)).
    - ``overlapping``: K clusters of unit variance whose centres are about 3
      apart (N(0, 9 / (2 D)) per coordinate), equal weights in expectation:
      EM from a crude start keeps moving for tens of iterations (the kind
      for fixed-iteration comparisons with libraries that stop by
      themselves when the objective stops changing). Not in DATA_KINDS.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if kind == "blobs":
        centers = rng.normal(scale=4.0, size=(k, d))
        labels = rng.integers(k, size=n)
        mix = rng.normal(size=(k, d, d)) / np.sqrt(d) + np.eye(d)
        for j in range(k):
            members = labels == j
            X[members] = X[members] @ mix[j] + centers[j]
    elif kind == "separated":
        separation = 8.0
        side = 2.0 * separation * k ** (1.0 / d)
        means = []
        while len(means) < k:
            candidate = rng.uniform(-side / 2, side / 2, size=d)
            if all(np.linalg.norm(candidate - m) >= separation for m in means):
                means.append(candidate)
        labels = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 5.0)))
        for j in range(k):
            axes, _ = np.linalg.qr(rng.normal(size=(d, d)))
            sd = np.sqrt(rng.uniform(0.25, 2.0, size=d))
            members = labels == j
            X[members] = (X[members] * sd) @ axes.T + means[j]
    elif kind == "overlapping":
        centers = rng.normal(scale=3.0 / np.sqrt(2 * d), size=(k, d))
        X += centers[rng.integers(k, size=n)]
    else:
        raise ValueError(f"unknown data kind {kind!r}; one of {DATA_KINDS}")
    return X.astype(dtype)


def initial_parameters(X, k, covariance_type, seed=0):
    """A start shared by the contenders: scikit-learn's k-means start and one EM
    iteration on the first 20 000 rows (weights_init, means_init,
    precisions_init, symmetrised)."""
    from sklearn.mixture import GaussianMixture
    start = GaussianMixture(k, covariance_type=covariance_type, max_iter=1,
                            random_state=seed)
    with quiet():
        start.fit(X[:20_000].astype(np.float64))
    precisions = start.precisions_
    if precisions.ndim == 3:
        precisions = (precisions + np.swapaxes(precisions, 1, 2)) / 2
    elif precisions.ndim == 2 and covariance_type == "tied":
        precisions = (precisions + precisions.T) / 2
    return dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=precisions)
