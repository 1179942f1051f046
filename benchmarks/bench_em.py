"""gmmc against scikit-learn on synthetic data, side by side in one run.

Sections (``--section``, repeatable; all by default):

iter
    Time per EM iteration. Both estimators start from the same weights,
    means and precisions (``weights_init``, ``means_init``,
    ``precisions_init``: no initialisation timed) and run a fixed number of
    iterations with tol=0; the time of the fit over the iterations. Also
    gmmc's GFLOP/s (the level-3 work of its algorithm), that rate as a share
    of the machine's DGEMM/SGEMM peak measured in the same run (the largest
    of the measurements at the start and beside each row), and the peak extra
    memory of a gmmc fit relative to the size of X (tracemalloc, in a child
    process; not with --quick). Targets: issue #7's.
whole
    Whole fits from a given start: the time of a complete ``fit`` (input
    validation included) from the same weights_init/means_init/
    precisions_init, tol at its default, until convergence or max_iter, on
    two kinds of data ("blobs": overlapping clusters; "separated": clusters
    whose means are 5.6 sd or more apart). Also the iterations each library
    ran and the difference of their final lower bounds. Targets (issue #13):
    full 15x at D <= 8, 10x above; diag and spherical 10x; tied 8x.
default
    Default fits, start included: ``init_params='kmeans'``, tol=1e-3, the
    same random_state. Target (issue #13): 10x at N >= 100 000. "same lb"
    says whether the two fits ended at the same lower bound (to 1e-6).
float32
    gmmc float32 against gmmc float64, per EM iteration (as in "iter").
    Targets (issue #13): 1.6x for full covariances at D = 64, and no slower
    (1.0x) elsewhere.
bgm
    BayesianGaussianMixture against scikit-learn's. It takes no initial
    parameters, so both start from the same init_params='random_from_data'
    draw, and a time per iteration is (fit with n iterations - fit with none)
    / n, per round: initialisation, priors and scikit-learn's final E-step
    cancel out. Targets: issue #12's.
predict
    predict_proba and score_samples on a million rows.

Every row alternates the contenders' runs, ``--rounds`` rounds (5; 3 with
--quick), and reports the median time, the spread (min-max) and the ratio of
the medians with the range of the per-round ratios, then PASS or MISS against
the target. Both libraries use the machine's cores.

    python benchmarks/bench_em.py                   # everything (long)
    python benchmarks/bench_em.py --quick           # small shapes, a few minutes
    python benchmarks/bench_em.py --section whole   # one section
    python benchmarks/bench_em.py --only diag       # rows whose label contains "diag"
    python benchmarks/bench_em.py --only bgm        # the BayesianGaussianMixture rows
"""
import argparse
import multiprocessing
import sys
import time

import numpy as np

from _common import (DATA_KINDS, Table, alternate, initial_parameters, make_data, quiet,
                     ratio, ratio_cell, seconds, spread, verdict, versions_line)

SECTIONS = ("iter", "whole", "default", "float32", "bgm", "predict")

# Per-iteration grid: (covariance type, dtype, N, D, K, speed-up target); the
# targets are issue #7's. Full covariances at D >= PEAK_TARGET_MIN_D must also
# reach PEAK_TARGET of the GEMM peak. Each row runs on every data kind.
GRID = [
    ("full", "float64", 100_000, 2, 5, 15),
    ("full", "float64", 100_000, 8, 8, 15),
    ("full", "float64", 100_000, 32, 16, 10),
    ("full", "float64", 200_000, 64, 16, 4),
    ("diag", "float64", 200_000, 32, 16, 10),
    ("spherical", "float64", 200_000, 16, 16, 10),
    ("tied", "float64", 100_000, 32, 16, 8),
    ("full", "float32", 100_000, 32, 16, 10),
]
PEAK_TARGET, PEAK_TARGET_MIN_D = 0.70, 64
QUICK_GRID = [
    ("full", "float64", 20_000, 2, 5, 15),
    ("full", "float64", 20_000, 32, 16, 10),
    ("diag", "float64", 40_000, 32, 16, 10),
    ("tied", "float64", 20_000, 32, 16, 8),
]
QUICK_KINDS = {"blobs": None, "separated": {("full", 32), ("diag", 32)}}

# Whole fits (issue #13): (covariance type, D, K, target) at each N and data kind.
WHOLE_SHAPES = [
    ("full", 2, 5, 15),
    ("full", 8, 8, 15),
    ("full", 32, 16, 10),
    ("full", 64, 16, 10),
    ("diag", 32, 16, 10),
    ("spherical", 16, 16, 10),
    ("tied", 32, 16, 8),
]
WHOLE_N = (50_000, 200_000)
QUICK_WHOLE_SHAPES = [s for s in WHOLE_SHAPES if (s[0], s[1]) in
                      {("full", 2), ("full", 8), ("diag", 32), ("tied", 32)}]
QUICK_WHOLE_N = (20_000,)

# Default fits, k-means start included (issue #13): (cov, N, D, K, target)
# on every data kind; the target holds at N >= 100 000.
DEFAULT_GRID = [
    ("full", 100_000, 2, 5, 10),
    ("full", 100_000, 8, 8, 10),
    ("full", 100_000, 32, 16, 10),
    ("diag", 100_000, 32, 16, 10),
    ("spherical", 100_000, 16, 16, 10),
    ("tied", 100_000, 32, 16, 10),
    ("full", 200_000, 8, 8, 10),
    ("diag", 200_000, 32, 16, 10),
]
QUICK_DEFAULT_GRID = [
    ("full", 20_000, 8, 8, 10),
    ("diag", 20_000, 32, 16, 10),
]
DEFAULT_START = dict(init_params="kmeans", tol=1e-3, random_state=0)
SAME_LOWER_BOUND = 1e-6

# float32 against float64 (gmmc only): the float64 rows of the grid, plus
# FLOAT32_TARGETS[(cov, D)] where it has one (else no slower: 1.0x).
FLOAT32_TARGETS = {("full", 64): 1.6}
QUICK_FLOAT32_EXTRA = [("full", "float64", 20_000, 64, 16, None)]

# BayesianGaussianMixture rows (issue #12): (covariance type, dtype, N, D, K,
# speed-up target); full D = 32 is the target, the others the
# GaussianMixture targets of the same shapes.
BGM_GRID = [
    ("full", "float64", 100_000, 32, 16, 10),
    ("full", "float32", 100_000, 32, 16, 10),
    ("tied", "float64", 100_000, 32, 16, 8),
    ("diag", "float64", 200_000, 32, 16, 10),
    ("spherical", "float64", 200_000, 16, 16, 10),
]
QUICK_BGM_GRID = [
    ("full", "float64", 20_000, 32, 16, 10),
    ("diag", "float64", 40_000, 32, 16, 10),
]
BGM_START = dict(init_params="random_from_data", random_state=0)
PREDICT = (1_000_000, 8, 8, 5)
QUICK_PREDICT = (200_000, 8, 8, 5)


def fit(cls, X, k, covariance_type, **params):
    """A fitted ``cls`` (warnings silenced: capped fits warn)."""
    model = cls(n_components=k, covariance_type=covariance_type, **params)
    with quiet():
        return model.fit(X)


def per_iteration_pair(classes, X, k, cov, init, n_iter, rounds):
    """Timings (seconds per EM iteration) of each class, fits alternating."""
    return alternate([lambda c=c: fit(c, X, k, cov, tol=0.0, max_iter=n_iter, **init)
                      for c in classes], rounds, scale=lambda _: 1.0 / n_iter)


def flops_per_iteration(covariance_type, n, d, k):
    """Floating-point work of one gmmc EM iteration (multiply and add counted)."""
    if covariance_type == "full":  # trmm (E) + syrk (M): n d^2 each per component
        return 2.0 * n * k * d * d + 6.0 * n * k * d
    if covariance_type == "tied":  # one trmm + one syrk, and the K distances
        return 2.0 * n * d * d + 6.0 * n * k * d
    return 8.0 * n * k * d  # diag/spherical: two GEMMs of (n, 2d) x (2d, k)


def gemm_peak(dtype, size=3000):
    """GFLOP/s of NumPy's GEMM on large square matrices: best of five."""
    a = np.random.default_rng(0).normal(size=(size, size)).astype(dtype)
    a @ a
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def _peak_memory_child(queue, kind, covariance_type, dtype, n, d, k, bayesian):
    import tracemalloc

    import gmmc
    X = make_data(kind, n, d, k, dtype)
    if bayesian:
        model = gmmc.BayesianGaussianMixture(n_components=k, covariance_type=covariance_type,
                                             max_iter=3, tol=0.0, **BGM_START)
    else:
        model = gmmc.GaussianMixture(k, covariance_type=covariance_type, max_iter=3, tol=0.0,
                                     **initial_parameters(X, k, covariance_type))
    tracemalloc.start()  # NumPy reports its allocations to tracemalloc
    with quiet():
        model.fit(X)
    queue.put(tracemalloc.get_traced_memory()[1] / X.nbytes)


def extra_memory_ratio(kind, covariance_type, dtype, n, d, k, bayesian=False):
    """Peak memory allocated during a gmmc fit (tracemalloc, in a fresh child
    process), as a multiple of X's size."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_memory_child,
                        args=(queue, kind, covariance_type, dtype, n, d, k, bayesian))
    child.start()
    value = queue.get()
    child.join()
    return value


class Run:
    """What every section needs: the options, the two classes, the row filter."""

    def __init__(self, args):
        from sklearn.mixture import GaussianMixture
        import gmmc
        self.args = args
        self.quick = args.quick
        self.rounds = args.rounds or (3 if args.quick else 5)
        self.n_iter = args.iterations or (3 if args.quick else 5)
        self.sk, self.gmmc = GaussianMixture, gmmc.GaussianMixture
        self.all_ok = True
        self._data = {}

    def wanted(self, label):
        return self.args.only is None or self.args.only in label

    def data(self, kind, n, d, k, dtype="float64"):
        """The data set of a shape, kept while the same shape is asked for again."""
        key = (kind, n, d, k, dtype)
        if key not in self._data:
            self._data = {key: make_data(kind, n, d, k, dtype)}
        return self._data[key]

    def record(self, ok):
        self.all_ok &= ok
        return ok


def section_iter(run):
    rows = [(kind,) + row for kind in DATA_KINDS
            for row in (QUICK_GRID if run.quick else GRID)
            if not (run.quick and QUICK_KINDS[kind] is not None
                    and (row[0], row[3]) not in QUICK_KINDS[kind])
            and run.wanted(f"iter-{kind}-{row[0]}-{row[1]}-D{row[3]}-N{row[2]}")]
    if not rows:
        return
    peak_size = 1500 if run.quick else 3000
    peaks = {dt: gemm_peak(dt, peak_size) for dt in ("float64", "float32")}
    print(f"\n[iter] seconds per EM iteration from a common start: {run.n_iter} iterations "
          f"per fit, tol=0, median of {run.rounds} alternating rounds")
    print(f"measured peak: DGEMM {peaks['float64']:.1f} GFLOP/s, SGEMM "
          f"{peaks['float32']:.1f} GFLOP/s; PASS: speed-up >= target, and for full "
          f"covariances at D >= {PEAK_TARGET_MIN_D} also >= {PEAK_TARGET:.0%} of the peak")
    table = Table([("kind", 9, "<"), ("cov", 9, "<"), ("dtype", 7, "<"), ("N", 7, ">"),
                   ("D", 3, ">"), ("K", 3, ">"), ("sklearn s/it", 12, ">"),
                   ("gmmc s/it", 9, ">"), ("gmmc min-max", 15, ">"),
                   ("speed-up (range)", 18, ">"), ("target", 6, ">"), ("GFLOP/s", 7, ">"),
                   ("% peak", 6, ">"), ("mem/X", 5, ">"), ("", 4, "<")])
    for kind, cov, dtype, n, d, k, target in rows:
        X = run.data(kind, n, d, k, dtype)
        init = initial_parameters(X, k, cov)
        t_sk, t_g = per_iteration_pair((run.sk, run.gmmc), X, k, cov, init, run.n_iter,
                                       run.rounds)
        # The largest peak seen so far, re-measured beside each row: a slow
        # spell during one peak measurement must not inflate the % column.
        peaks[dtype] = max(peaks[dtype], gemm_peak(dtype, peak_size))
        gflops = flops_per_iteration(cov, n, d, k) / t_g.median / 1e9
        share = gflops / peaks[dtype]
        memory = "-" if run.quick else f"{extra_memory_ratio(kind, cov, dtype, n, d, k):.2f}"
        r = ratio(t_sk, t_g)
        ok = run.record(r[0] >= target and (cov != "full" or d < PEAK_TARGET_MIN_D
                                            or share >= PEAK_TARGET))
        table.row(kind, cov, dtype, n, d, k, seconds(t_sk.median), seconds(t_g.median),
                  spread(t_g), ratio_cell(r), f"{target}x", f"{gflops:.1f}",
                  f"{100 * share:.0f}%", memory, "PASS" if ok else "MISS", ok=ok)
    table.summary()


def section_whole(run):
    shapes, sizes = ((QUICK_WHOLE_SHAPES, QUICK_WHOLE_N) if run.quick
                     else (WHOLE_SHAPES, WHOLE_N))
    rows = [(kind, n) + shape for kind in DATA_KINDS for n in sizes for shape in shapes
            if run.wanted(f"whole-{kind}-{shape[0]}-float64-D{shape[1]}-N{n}")]
    if not rows:
        return
    print(f"\n[whole] a complete fit from a common start (validation included, tol=1e-3, "
          f"max_iter=100): seconds, median of {run.rounds} alternating rounds")
    table = Table([("kind", 9, "<"), ("cov", 9, "<"), ("N", 7, ">"), ("D", 3, ">"),
                   ("K", 3, ">"), ("iter sk/g", 9, ">"), ("sklearn s", 9, ">"),
                   ("gmmc s", 7, ">"), ("gmmc min-max", 15, ">"),
                   ("speed-up (range)", 18, ">"), ("target", 6, ">"), ("|d lb|", 7, ">"),
                   ("", 4, "<")])
    for kind, n, cov, d, k, target in rows:
        X = run.data(kind, n, d, k)
        init = initial_parameters(X, k, cov)
        t_sk, t_g = alternate([lambda c=c: fit(c, X, k, cov, **init)
                               for c in (run.sk, run.gmmc)], run.rounds)
        r = ratio(t_sk, t_g)
        ok = run.record(r[0] >= target)
        m_sk, m_g = t_sk.result, t_g.result
        table.row(kind, cov, n, d, k, f"{m_sk.n_iter_}/{m_g.n_iter_}",
                  seconds(t_sk.median), seconds(t_g.median), spread(t_g), ratio_cell(r),
                  f"{target}x", f"{abs(m_sk.lower_bound_ - m_g.lower_bound_):.0e}",
                  verdict(r[0], target), ok=ok)
    table.summary()


def section_default(run):
    rows = [(kind,) + row for kind in DATA_KINDS
            for row in (QUICK_DEFAULT_GRID if run.quick else DEFAULT_GRID)
            if run.wanted(f"default-{kind}-{row[0]}-float64-D{row[2]}-N{row[1]}")]
    if not rows:
        return
    note = " (N under 100 000 with --quick: indicative only)" if run.quick else ""
    print(f"\n[default] default fits, k-means start included (init_params='kmeans', "
          f"tol=1e-3, random_state=0): seconds, median of {run.rounds} alternating "
          f"rounds{note}")
    table = Table([("kind", 9, "<"), ("cov", 9, "<"), ("N", 7, ">"), ("D", 3, ">"),
                   ("K", 3, ">"), ("iter sk/g", 9, ">"), ("sklearn s", 9, ">"),
                   ("gmmc s", 7, ">"), ("gmmc min-max", 15, ">"),
                   ("speed-up (range)", 18, ">"), ("target", 6, ">"), ("|d lb|", 7, ">"),
                   ("same lb", 7, "<"), ("", 4, "<")])
    same = []
    for kind, cov, n, d, k, target in rows:
        X = run.data(kind, n, d, k)
        t_sk, t_g = alternate([lambda c=c: fit(c, X, k, cov, **DEFAULT_START)
                               for c in (run.sk, run.gmmc)], run.rounds)
        r = ratio(t_sk, t_g)
        ok = run.record(r[0] >= target)
        m_sk, m_g = t_sk.result, t_g.result
        gap = abs(m_sk.lower_bound_ - m_g.lower_bound_)
        same.append(gap <= SAME_LOWER_BOUND)
        table.row(kind, cov, n, d, k, f"{m_sk.n_iter_}/{m_g.n_iter_}",
                  seconds(t_sk.median), seconds(t_g.median), spread(t_g), ratio_cell(r),
                  f"{target}x", f"{gap:.0e}", "yes" if same[-1] else "NO",
                  verdict(r[0], target), ok=ok)
    table.summary()
    if same:
        print(f"same lower bound (to {SAME_LOWER_BOUND:g}): {sum(same)} of {len(same)} fits")


def section_float32(run):
    grid = [row for row in (QUICK_GRID if run.quick else GRID) if row[1] == "float64"]
    if run.quick:
        grid += QUICK_FLOAT32_EXTRA
    grid = [row for row in grid
            if run.wanted(f"float32-blobs-{row[0]}-float32-D{row[3]}-N{row[2]}")]
    if not grid:
        return
    print(f"\n[float32] gmmc float32 against gmmc float64, seconds per EM iteration "
          f"({run.n_iter} iterations, tol=0, common start, blobs), median of "
          f"{run.rounds} alternating rounds; target 1.0x (no slower) unless given")
    table = Table([("cov", 9, "<"), ("N", 7, ">"), ("D", 3, ">"), ("K", 3, ">"),
                   ("float64 s/it", 12, ">"), ("float32 s/it", 12, ">"),
                   ("float32 min-max", 15, ">"), ("speed-up (range)", 18, ">"),
                   ("target", 6, ">"), ("", 4, "<")])
    for cov, _, n, d, k, _ in grid:
        target = FLOAT32_TARGETS.get((cov, d), 1.0)
        X64 = run.data("blobs", n, d, k)
        X32 = X64.astype(np.float32)
        init = initial_parameters(X64, k, cov)
        t64, t32 = alternate(
            [lambda X=X: fit(run.gmmc, X, k, cov, tol=0.0, max_iter=run.n_iter, **init)
             for X in (X64, X32)], run.rounds, scale=lambda _: 1.0 / run.n_iter)
        r = ratio(t64, t32)
        ok = run.record(r[0] >= target)
        table.row(cov, n, d, k, seconds(t64.median), seconds(t32.median), spread(t32),
                  ratio_cell(r), f"{target}x", verdict(r[0], target), ok=ok)
    table.summary()


def section_bgm(run):
    from sklearn.mixture import BayesianGaussianMixture
    import gmmc
    grid = [row for row in (QUICK_BGM_GRID if run.quick else BGM_GRID)
            if run.wanted(f"bgm-blobs-{row[0]}-{row[1]}-D{row[3]}-N{row[2]}")]
    if not grid:
        return
    print(f"\n[bgm] BayesianGaussianMixture, seconds per iteration ((fit with "
          f"{run.n_iter} iterations - fit with none) / {run.n_iter}, per round), median of "
          f"{run.rounds} alternating rounds")
    table = Table([("cov", 9, "<"), ("dtype", 7, "<"), ("N", 7, ">"), ("D", 3, ">"),
                   ("K", 3, ">"), ("sklearn s/it", 12, ">"), ("gmmc s/it", 9, ">"),
                   ("gmmc min-max", 15, ">"), ("speed-up (range)", 18, ">"),
                   ("target", 6, ">"), ("mem/X", 5, ">"), ("", 4, "<")])
    classes = (BayesianGaussianMixture, gmmc.BayesianGaussianMixture)
    for cov, dtype, n, d, k, target in grid:
        X = run.data("blobs", n, d, k, dtype)
        # One round: a fit with n_iter iterations and one with none, per class.
        funcs = [lambda c=c, m=m: fit(c, X, k, cov, tol=0.0, max_iter=m, **BGM_START)
                 for c in classes for m in (run.n_iter, 0)]
        t_sk_n, t_sk_0, t_g_n, t_g_0 = alternate(funcs, run.rounds)
        for full, empty in ((t_sk_n, t_sk_0), (t_g_n, t_g_0)):
            full.seconds = [(a - b) / run.n_iter for a, b in zip(full.seconds, empty.seconds)]
        r = ratio(t_sk_n, t_g_n)
        ok = run.record(r[0] >= target)
        memory = ("-" if run.quick
                  else f"{extra_memory_ratio('blobs', cov, dtype, n, d, k, True):.2f}")
        table.row(cov, dtype, n, d, k, seconds(t_sk_n.median), seconds(t_g_n.median),
                  spread(t_g_n), ratio_cell(r), f"{target}x", memory, verdict(r[0], target),
                  ok=ok)
    table.summary()


def section_predict(run):
    n, d, k, target = QUICK_PREDICT if run.quick else PREDICT
    X = run.data("blobs", n, d, k)
    init = initial_parameters(X, k, "full")
    models = [fit(c, X[:50_000], k, "full", tol=0.0, max_iter=2, **init)
              for c in (run.sk, run.gmmc)]
    print(f"\n[predict] N={n} D={d} K={k}, full: seconds, median of {run.rounds} "
          f"alternating rounds")
    table = Table([("method", 14, "<"), ("sklearn s", 9, ">"), ("gmmc s", 7, ">"),
                   ("gmmc min-max", 15, ">"), ("speed-up (range)", 18, ">"),
                   ("target", 6, ">"), ("", 4, "<")])
    for method in ("predict_proba", "score_samples"):
        t_sk, t_g = alternate([lambda m=m: getattr(m, method)(X) for m in models],
                              run.rounds)
        r = ratio(t_sk, t_g)
        ok = run.record(r[0] >= target)
        table.row(method, seconds(t_sk.median), seconds(t_g.median), spread(t_g),
                  ratio_cell(r), f"{target}x", verdict(r[0], target), ok=ok)
    table.summary()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small shapes and 3 rounds: a smoke run")
    parser.add_argument("--section", action="append", choices=SECTIONS,
                        help="run this section (repeatable; default: all)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating rounds per row (default 5, 3 with --quick)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="EM iterations per timed fit in iter/float32/bgm "
                             "(default 5, 3 with --quick)")
    parser.add_argument("--only", default=None, metavar="TEXT",
                        help="run the rows whose label 'section-kind-cov-dtype-DD-NN' "
                             "contains TEXT (e.g. whole-separated, full-float64-D64, bgm), "
                             "and no prediction timing")
    args = parser.parse_args(argv)
    sections = args.section or list(SECTIONS)
    if args.only is not None and "predict" in sections:
        sections.remove("predict")
    run = Run(args)
    print(versions_line())
    for name in sections:
        globals()[f"section_{name}"](run)
    print(f"\nall targets met: {'yes' if run.all_ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
