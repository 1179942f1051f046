"""gmmc against oneDAL's EM for Gaussian mixtures (daal4py.em_gmm), per EM iteration.

The data: K overlapping unit-variance clusters, centres about 3 apart
(``_common.make_data('overlapping', ...)``). Both start from the same
weights, means and covariances (K rows of X drawn with a fixed seed as
means, X's covariance (or variances, for 'diag') for every component, equal
weights: a start from which EM keeps moving for all the iterations timed, so
oneDAL, which stops when its objective stops changing, runs them all), run
the same fixed number of
iterations (gmmc: tol=0, max_iter=n, reg_covar=0; oneDAL: accuracyThreshold=0,
maxIterations=n; oneDAL has no regularisation term), with the same number of
threads (daal4py.daalinit, gmmc's n_threads), on the same float64 data. The
time of a call (fit / compute) over the iterations, the two alternating, the
median of the rounds with the spread. oneDAL's covariance storages are full
and diagonal. Fairness check: the largest absolute difference between the
two libraries' means (and weights) after the fit, and oneDAL's own
iteration count (it stops early if the objective stops changing). Target
(issue #13): gmmc 2x oneDAL on every row.

daal4py comes with scikit-learn-intelex (``pip install scikit-learn-intelex``,
or the ``bench`` extra: ``pip install -e .[bench]``); without it the script
says so and exits.

    python benchmarks/bench_onedal.py            # N = 100 000, K = 5, D = 2, 8, 32, 64
    python benchmarks/bench_onedal.py --quick    # D = 2 and 32, fewer rounds
    python benchmarks/bench_onedal.py --threads 1
"""
import argparse
import sys

import numpy as np

from _common import (Table, alternate, make_data, quiet, ratio, ratio_cell, seconds, spread,
                     verdict, versions_line)

TARGET = 2.0
N, K = 100_000, 5
DIMENSIONS = (2, 8, 32, 64)
QUICK_DIMENSIONS = (2, 32)
COVARIANCE_TYPES = ("full", "diag")  # oneDAL's "full" and "diagonal" storages
SAME_MEANS = 1e-6


def common_start(X, k, covariance_type, seed=0):
    """(weights (K,), means (K, D), covariances (K, D, D) or (K, D)) shared by both."""
    rng = np.random.default_rng(seed)
    means = X[rng.choice(X.shape[0], size=k, replace=False)].copy()
    if covariance_type == "full":
        covariances = np.repeat(np.cov(X, rowvar=False)[None], k, axis=0)
    else:
        covariances = np.repeat(X.var(axis=0)[None], k, axis=0)
    return np.full(k, 1.0 / k), means, covariances


def fit_onedal(X, start, covariance_type, n_iter):
    import daal4py
    weights, means, covariances = start
    algorithm = daal4py.em_gmm(
        nComponents=len(weights), maxIterations=n_iter, accuracyThreshold=0.0,
        covarianceStorage="full" if covariance_type == "full" else "diagonal")
    covariances = [c if covariance_type == "full" else c[None, :] for c in covariances]
    return algorithm.compute(X, weights[None, :], means, covariances)


def fit_gmmc(X, start, covariance_type, n_iter, n_threads):
    import gmmc
    weights, means, covariances = start
    precisions = (np.linalg.inv(covariances) if covariance_type == "full"
                  else 1.0 / covariances)
    model = gmmc.GaussianMixture(
        len(weights), covariance_type=covariance_type, tol=0.0, max_iter=n_iter,
        reg_covar=0.0, weights_init=weights, means_init=means, precisions_init=precisions,
        n_threads=n_threads)
    with quiet():  # capped fits warn that they did not converge
        return model.fit(X)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="D = 2 and 32, 3 rounds of 10 iterations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating rounds per row (default 5, 3 with --quick)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="EM iterations per call (default 15, 10 with --quick)")
    args = parser.parse_args(argv)
    try:
        import daal4py
    except ImportError:
        print("daal4py is not installed (pip install scikit-learn-intelex): "
              "the oneDAL comparison is skipped")
        return 0
    daal4py.daalinit(args.threads)
    rounds = args.rounds or (3 if args.quick else 5)
    n_iter = args.iterations or (10 if args.quick else 15)
    dimensions = QUICK_DIMENSIONS if args.quick else DIMENSIONS
    version = getattr(daal4py, "__version__", None) or _distribution_version()
    print(versions_line(args.threads) + f"; daal4py {version} with "
          f"{daal4py.num_threads()} threads")
    print(f"seconds per EM iteration, N={N} K={K} float64, {n_iter} iterations per call "
          f"from a common start, median of {rounds} alternating rounds")
    table = Table([("cov", 4, "<"), ("N", 7, ">"), ("D", 3, ">"), ("K", 3, ">"),
                   ("iter 1DAL", 9, ">"), ("oneDAL s/it", 11, ">"), ("gmmc s/it", 9, ">"),
                   ("gmmc min-max", 15, ">"), ("speed-up (range)", 18, ">"),
                   ("target", 6, ">"), ("|d means|", 9, ">"), ("|d w|", 7, ">"),
                   ("", 4, "<")])
    all_same = True
    for cov in COVARIANCE_TYPES:
        for d in dimensions:
            X = make_data("overlapping", N, d, K)
            start = common_start(X, K, cov)
            t_dal, t_g = alternate([lambda: fit_onedal(X, start, cov, n_iter),
                                    lambda: fit_gmmc(X, start, cov, n_iter, args.threads)],
                                   rounds)
            dal, g = t_dal.result, t_g.result
            done = int(np.ravel(dal.nIterations)[0])
            # oneDAL's time over the iterations it ran (fewer if it stopped early);
            # gmmc always runs n_iter.
            t_dal.seconds = [s / max(done, 1) for s in t_dal.seconds]
            t_g.seconds = [s / n_iter for s in t_g.seconds]
            d_means = np.abs(dal.means - g.means_).max()
            d_weights = np.abs(np.ravel(dal.weights) - g.weights_).max()
            all_same &= done == n_iter and d_means <= SAME_MEANS
            r = ratio(t_dal, t_g)
            table.row(cov, N, d, K, done, seconds(t_dal.median), seconds(t_g.median),
                      spread(t_g), ratio_cell(r), f"{TARGET:g}x", f"{d_means:.1e}",
                      f"{d_weights:.0e}", verdict(r[0], TARGET), ok=r[0] >= TARGET)
    table.summary()
    print(f"same iterations and means (to {SAME_MEANS:g}) on every row: "
          f"{'yes' if all_same else 'NO (the comparison is not like for like)'}")
    return 0


def _distribution_version():
    from importlib import metadata
    for name in ("daal4py", "scikit-learn-intelex"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return "?"


if __name__ == "__main__":
    sys.exit(main())
