"""In-memory vs memmap (out-of-core) vs Dask LocalCluster: time per EM iteration
and peak memory, on the same on-disk data from the same start.

A float64 file of N x D rows (a 3-component mixture) is written block by block.
Every path runs in a fresh child process and starts from the same weights,
means and precisions (from a short fit on the first rows), with tol=0:

* in-memory: ``np.fromfile`` then ``gmmc.GaussianMixture.fit`` (all cores);
* memmap: ``fit(np.memmap(...))``, streamed in blocks (all cores);
* dask: ``gmmc.dask.GaussianMixture.fit`` on a LocalCluster of 2 worker
  processes x 1 thread, X a lazy Dask array whose chunks the workers read
  from the file themselves.

Time per iteration is (fit with n iterations - fit with 0 iterations) / n, so
the validating pass and other setup are left out (shown as "setup"). Peak
memory is the peak resident set size (Linux VmHWM) above the process's
resident size before it touched the data: for Dask, the client and the
largest worker. Linux only (reads /proc).

    python benchmarks/bench_scale.py            # 1 GiB file
    python benchmarks/bench_scale.py --quick    # 256 MiB file, about a minute
"""
import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import warnings

import numpy as np

N_COMPONENTS = 3
COVARIANCE_TYPE = "diag"


def resident(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def write_data(path, n, d, seed=0, rows_per_write=1_000_000):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(N_COMPONENTS, d))
    with open(path, "wb") as f:
        for start in range(0, n, rows_per_write):
            rows = min(rows_per_write, n - start)
            block = rng.standard_normal((rows, d))
            block += centers[rng.integers(N_COMPONENTS, size=rows)]
            block.tofile(f)


def initial_parameters(path, n, d):
    import gmmc
    X = np.fromfile(path, dtype=np.float64, count=min(n, 50_000) * d).reshape(-1, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = gmmc.GaussianMixture(N_COMPONENTS, covariance_type=COVARIANCE_TYPE,
                                  max_iter=5, random_state=0).fit(X)
    return dict(weights_init=gm.weights_, means_init=gm.means_,
                precisions_init=gm.precisions_)


def _read_rows(path, d, block_info=None):
    """Rows of the file for one Dask chunk (runs on a worker)."""
    (start, stop), _ = block_info[None]["array-location"]
    return np.fromfile(path, dtype=np.float64, count=(stop - start) * d,
                       offset=start * d * 8).reshape(-1, d)


def _timed_fits(make_model, X, n_iter):
    times = []
    for max_iter in (0, n_iter):
        model = make_model(max_iter)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
        times.append(time.perf_counter() - start)
    return times[0], (times[1] - times[0]) / n_iter, model


def _child(queue, path_kind, path, n, d, init, n_iter):
    import gmmc
    baseline = resident()
    kw = dict(covariance_type=COVARIANCE_TYPE, tol=0.0, **init)
    result = {"workers": None}
    if path_kind == "dask":
        import dask.array as da
        import gmmc.dask
        from distributed import Client, LocalCluster
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        worker_base = client.run(resident)
        chunk = 250_000
        chunks = ((chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ()), (d,))
        X = da.map_blocks(_read_rows, path, d, chunks=chunks, dtype=np.float64)
        setup, per_iter, model = _timed_fits(
            lambda m: gmmc.dask.GaussianMixture(N_COMPONENTS, max_iter=m, **kw), X, n_iter)
        peaks = client.run(resident, "VmHWM")
        result["workers"] = max(peaks[w] - worker_base[w] for w in peaks)
        client.close()
        cluster.close()
    else:
        if path_kind == "in-memory":
            X = np.fromfile(path, dtype=np.float64).reshape(n, d)
        else:
            X = np.memmap(path, dtype=np.float64, mode="r", shape=(n, d))
        setup, per_iter, model = _timed_fits(
            lambda m: gmmc.GaussianMixture(N_COMPONENTS, max_iter=m, **kw), X, n_iter)
    result.update(setup=setup, per_iter=per_iter, peak=resident("VmHWM") - baseline,
                  means=model.means_, lower_bound=model.lower_bound_)
    queue.put(result)


def run(path_kind, path, n, d, init, n_iter):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue, path_kind, path, n, d, init, n_iter))
    child.start()
    result = queue.get()
    child.join()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 256 MiB file")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write the data file")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        sys.exit("bench_scale.py reads /proc: Linux only")
    d = args.features
    n = args.rows or (2_000_000 if args.quick else 8_000_000)
    paths = ["in-memory", "memmap"]
    if not args.skip_dask:
        try:
            import dask  # noqa: F401
            import distributed  # noqa: F401
            paths.append("dask")
        except ImportError:
            print("(dask and distributed are not installed: no Dask row)")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "X.f64")
        write_data(path, n, d)
        size = os.path.getsize(path)
        init = initial_parameters(path, n, d)
        print(f"{n:,} x {d} float64 ({size / 2**20:.0f} MiB on disk), K={N_COMPONENTS} "
              f"{COVARIANCE_TYPE}, {args.iterations} iterations, "
              f"{os.cpu_count()} CPUs; each path in a fresh process")
        print(f"{'path':<28}{'s/iteration':>12}{'setup s':>9}{'peak MiB':>10}"
              f"{'of file':>9}")
        results = {}
        for kind in paths:
            r = results[kind] = run(kind, path, n, d, init, args.iterations)
            label = {"in-memory": "in-memory (np.fromfile)",
                     "memmap": "memmap (streamed blocks)",
                     "dask": "Dask LocalCluster 2x1"}[kind]
            print(f"{label:<28}{r['per_iter']:>12.3f}{r['setup']:>9.2f}"
                  f"{r['peak'] / 2**20:>10.0f}{r['peak'] / size:>9.0%}")
            if r["workers"] is not None:
                print(f"{'  largest worker':<28}{'':>12}{'':>9}"
                      f"{r['workers'] / 2**20:>10.0f}{r['workers'] / size:>9.0%}")
        reference = results["in-memory"]
        for kind, r in results.items():
            gap = np.abs(r["means"] - reference["means"]).max()
            print(f"  {kind}: max |means - in-memory means| = {gap:.1e}, lower bound "
                  f"{r['lower_bound']:.10f}")


if __name__ == "__main__":
    main()
