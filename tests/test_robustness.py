"""Degenerate data, overflow, thread safety and exact round trips.

Oracles: scikit-learn's decisions (fit or error) and fits from a common start,
scipy.stats densities, NumPy references, and the single-threaded result.
"""
import copy
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmc import GaussianMixture, _em, _kmeans
from gmmc import __file__ as gmmc_file

from conftest import COVARIANCE_TYPES, blobs, full_covariances, iris

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def fit_both(X, **params):
    """Fit gmmc and scikit-learn with the same parameters; each is a model or the
    ValueError it raised."""
    out = []
    for cls, extra in ((GaussianMixture, dict(n_threads=1)), (SkGaussianMixture, {})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out.append(cls(random_state=0, **params, **extra).fit(X))
            except ValueError as exc:
                out.append(exc)
    return out


def assert_sound(model, X):
    """No NaN anywhere; log-likelihoods finite; responsibilities sum to one."""
    for name in FITTED:
        assert np.isfinite(getattr(model, name)).all(), name
    assert np.isfinite(model.lower_bound_)
    assert np.isfinite(model.score_samples(X)).all()
    resp = model.predict_proba(X)
    assert np.isfinite(resp).all()
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-10)
    assert_allclose(model.weights_.sum(), 1.0, rtol=1e-12)


def _rng():
    return np.random.RandomState(0)


# name -> (X, n_components)
DEGENERATE = {
    "constant feature": (lambda: np.c_[iris()[:, :3], np.full(150, 7.0)], 3),
    "all features constant": (lambda: np.full((30, 3), -2.5), 1),
    "all points identical, K=3": (lambda: np.full((30, 3), 4.0), 3),
    "duplicated points, K = distinct": (lambda: np.repeat(_rng().randn(3, 2), 10, axis=0), 3),
    "K > distinct points": (lambda: np.repeat(_rng().randn(2, 3), 10, axis=0), 4),
    "one point per component": (lambda: _rng().randn(4, 3), 4),
    "collinear points": (lambda: np.outer(np.linspace(-1, 1, 40), [1.0, 2.0, -1.0]), 2),
}


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_data_fits_thanks_to_reg_covar(case, covariance_type):
    """Where scikit-learn fits (default reg_covar), gmmc fits, with no NaN."""
    make, k = DEGENERATE[case]
    X = make()
    gm, sk = fit_both(X, n_components=k, covariance_type=covariance_type)
    assert isinstance(sk, SkGaussianMixture), f"scikit-learn raised {sk!r}"
    assert isinstance(gm, GaussianMixture), f"gmmc raised {gm!r}"
    assert_sound(gm, X)
    # Never tighter than reg_covar, and as good a fit as scikit-learn's.
    covariances = full_covariances(gm.covariances_, covariance_type, k, X.shape[1])
    assert np.linalg.eigvalsh(covariances).min() >= 1e-6 * (1 - 1e-6)
    assert gm.lower_bound_ >= sk.lower_bound_ - 1e-3 * abs(sk.lower_bound_) - 1e-6


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_large_offset_small_spread(covariance_type):
    """Data at 1e8 with a spread of 1e-3: gmmc's statistics, taken about the
    means, do not cancel (scikit-learn's E[x^2] - E[x]^2 does, for tied, diag
    and spherical). Oracle: scikit-learn on the same data shifted to 0."""
    rng = np.random.RandomState(0)
    centred = 1e-3 * np.r_[rng.randn(40, 2), rng.randn(40, 2) + [4, 0]]
    X = 1e8 + centred
    halves = (slice(0, 40), slice(40, 80))
    means = np.array([centred[h].mean(axis=0) for h in halves])
    var = np.array([centred[h].var(axis=0) for h in halves]) + 1e-6
    precisions = {"full": np.array([np.diag(1 / v) for v in var]),
                  "tied": np.diag(1 / var.mean(axis=0)), "diag": 1 / var,
                  "spherical": 1 / var.mean(axis=1)}[covariance_type]
    common = dict(n_components=2, covariance_type=covariance_type,
                  weights_init=[0.5, 0.5], precisions_init=precisions)
    gm = GaussianMixture(means_init=means + 1e8, **common).fit(X)
    sk = SkGaussianMixture(means_init=means, **common).fit(centred)
    assert_sound(gm, X)
    assert gm.n_iter_ == sk.n_iter_
    assert_allclose(gm.means_ - 1e8, sk.means_, atol=3e-8)
    assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-4)
    assert_array_equal(gm.predict(X), sk.predict(centred))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", ["all points identical, K=3", "K > distinct points",
                                  "one point per component",
                                  "duplicated points, K = distinct"])
def test_collapsed_components_without_reg_covar(case, covariance_type):
    """reg_covar=0 and a component on a single distinct point.

    Where scikit-learn fits (diag, spherical and tied, one point per
    component: its variance keeps 10 eps of each point's squared norm), gmmc
    fits too, with covariances as small and positive definite. Elsewhere both
    raise the same clear error.
    """
    make, k = DEGENERATE[case]
    X = make()
    gm, sk = fit_both(X, n_components=k, covariance_type=covariance_type, reg_covar=0.0)
    noise = 1e3 * np.finfo(np.float64).eps * max(np.abs(X).max(), 1.0) ** 2
    if isinstance(sk, SkGaussianMixture):
        assert np.abs(sk.covariances_).max() <= noise, sk.covariances_
    if isinstance(sk, SkGaussianMixture):
        assert isinstance(gm, GaussianMixture), gm
        assert_sound(gm, X)
        assert np.abs(gm.covariances_).max() <= noise
        if covariance_type == "tied":
            assert np.linalg.eigvalsh(gm.covariances_).min() > 0
        else:
            assert (gm.covariances_ > 0).all()
        assert len(set(gm.predict(X))) == len(set(sk.predict(X))) == k  # a point each
        return
    assert isinstance(gm, ValueError)
    message = str(gm)
    assert "ill-defined empirical covariance" in message
    assert "increase reg_covar" in message and "decrease the number of components" in message
    if not isinstance(sk, SkGaussianMixture):
        assert "ill-defined empirical covariance" in str(sk)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_component_that_loses_all_responsibility(covariance_type):
    """A component started far from every sample gets no responsibility; it
    stays finite (10 eps weight, reg_covar covariance), as in scikit-learn."""
    X, _ = blobs(2, n_samples=200, centers=2, seed=1)
    means = np.array([X[:100].mean(axis=0), X[100:].mean(axis=0), [1e4, 1e4]])
    precisions = {"full": np.stack([np.eye(2)] * 3), "tied": np.eye(2),
                  "diag": np.ones((3, 2)), "spherical": np.ones(3)}[covariance_type]
    init = dict(weights_init=[0.4, 0.4, 0.2], means_init=means, precisions_init=precisions)
    gm, sk = fit_both(X, n_components=3, covariance_type=covariance_type, **init)
    assert isinstance(gm, GaussianMixture) and isinstance(sk, SkGaussianMixture)
    assert_sound(gm, X)
    assert gm.weights_.min() < 1e-12
    assert gm.predict_proba(X)[:, gm.weights_.argmin()].max() < 1e-12
    assert_allclose(gm.weights_, sk.weights_, rtol=1e-6, atol=1e-12)
    assert_allclose(gm.means_[gm.weights_ > 1e-6], sk.means_[sk.weights_ > 1e-6],
                    rtol=1e-6)
    assert_allclose(gm.lower_bound_, sk.lower_bound_, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_equivalent_sample_weights_and_repeated_rows(covariance_type):
    """From the same start, integer sample weights fit as repeated rows do."""
    X = iris()
    weight = np.random.RandomState(1).randint(0, 4, size=len(X))
    weight[:3] = 1
    start = SkGaussianMixture(3, covariance_type=covariance_type, max_iter=1,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_)
    a = GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=30,
                        n_threads=1, **init)
    b = copy.deepcopy(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.fit(X, sample_weight=weight)
        b.fit(np.repeat(X, weight, axis=0))
    for name in FITTED:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-7, atol=1e-10,
                        err_msg=name)


# -- overflow --------------------------------------------------------------------------

def test_far_points_get_finite_probabilities():
    """Points so far away that every density underflows: log p(x) = -inf (the
    rounded value), never NaN, and all responsibility on the component with the
    smallest Mahalanobis distance: in 1-D, far out, the widest one."""
    rng = np.random.RandomState(0)
    X = np.r_[1e-3 * rng.randn(100, 1), 10 + 1e-2 * rng.randn(100, 1)]
    for covariance_type in ("full", "diag", "spherical"):
        gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
        widest = int(np.argmax(gm.covariances_.reshape(2)))
        far = np.array([[1e153], [-1e153], [1e100]])
        resp = gm.predict_proba(far)
        assert_array_equal(resp[:, widest], 1.0)
        assert_array_equal(gm.predict(far), widest)
        log_p = gm.score_samples(far)
        assert not np.isnan(log_p).any()
        assert (log_p[:2] == -np.inf).all()
        # 1e100: -0.5 * 1e200 / var is representable; the reference value.
        var = gm.covariances_.reshape(2)[widest]
        assert_allclose(log_p[2], -0.5 * (1e100 - gm.means_[widest, 0]) ** 2 / var,
                        rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_points_in_several_dimensions_never_give_nan(covariance_type):
    X, _ = blobs(3, n_samples=300, centers=3, seed=2, cluster_std=0.01)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    far = np.array([[1e153, 1e153, -1e153], [1e153, -1e153, 1e153], [5e152, 0, 0],
                    [1e120, 1e120, 1e120], [1e30, -1e30, 0]])
    rows = np.r_[X[:5], far]
    resp = gm.predict_proba(rows)
    log_p = gm.score_samples(rows)
    assert np.isfinite(resp).all()
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    assert not np.isnan(log_p).any()
    assert np.isfinite(log_p[:5]).all()
    assert_array_equal(gm.predict(rows), resp.argmax(axis=1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_overflow_fallback_matches_scipy(covariance_type):
    """The scaled float64 path used for under/overflowing rows, on ordinary rows,
    against scipy.stats (so it is right whenever it is used)."""
    X = iris()
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    log_norm, resp = gm._far_posterior(X[::7])
    covs = full_covariances(gm.covariances_, covariance_type, 3, 4)
    lp = np.column_stack([np.log(gm.weights_[j]) + multivariate_normal.logpdf(
        X[::7], gm.means_[j], covs[j]) for j in range(3)])
    ref = np.logaddexp.reduce(lp, axis=1)
    assert_allclose(log_norm, ref, rtol=1e-9)
    assert_allclose(resp, np.exp(lp - ref[:, None]), rtol=1e-7, atol=1e-12)


def test_overflowing_em_raises_a_clear_error():
    """Samples 1e150 apart with singleton starts: every density underflows in the
    first E-step; gmmc says so instead of returning NaN parameters."""
    X = iris() * 1e150
    gm = GaussianMixture(2, init_params="random_from_data", random_state=0)
    with pytest.raises(ValueError, match="log-likelihood of some samples is not finite.*"
                                         "Rescale X.*increase reg_covar"):
        gm.fit(X)
    assert not hasattr(gm, "means_")


# -- threads -----------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predict_proba_from_8_threads_is_exact(covariance_type):
    X, _ = blobs(5, n_samples=600, centers=4, seed=0)
    gm = GaussianMixture(4, covariance_type=covariance_type, random_state=0,
                         n_threads=2).fit(X)
    rows = np.tile(X, (15, 1))  # 9000 rows: two row blocks inside each call
    expected = gm.predict_proba(rows), gm.score_samples(rows), gm.predict(rows)
    barrier = threading.Barrier(8)
    results, errors = [None] * 8, []

    def work(i):
        try:
            barrier.wait()
            results[i] = [(gm.predict_proba(rows), gm.score_samples(rows),
                           gm.predict(rows)) for _ in range(3)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for per_thread in results:
        for proba, log_p, labels in per_thread:
            assert_array_equal(proba, expected[0])
            assert_array_equal(log_p, expected[1])
            assert_array_equal(labels, expected[2])


def _kernel_calls(n, d=16, k=64):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, d))
    means = X[:k].copy()
    prec = np.stack([np.eye(d)] * k)
    log_w = np.full(k, -np.log(k))
    resp = np.full((n, k), 1.0 / k)
    shift = np.tile(X.mean(axis=0), (k, 1))

    def acc():
        return shift, np.zeros(k), np.zeros((k, d)), np.zeros(k * d * d)

    return {
        "posterior": lambda: _em.posterior(X, log_w, means, prec, "full", np.empty(n)),
        "accumulate_statistics": lambda: _em.accumulate_statistics(
            X, None, log_w, means, prec, "full", means.copy(), *acc()[1:]),
        "statistics_from_responsibilities": lambda: _em.statistics_from_responsibilities(
            X, None, resp, "diag", shift, np.zeros(k), np.zeros((k, d)), np.zeros(k * d)),
        "squared_distances": lambda: _kmeans.squared_distances(X, np.zeros(d), means,
                                                               np.empty((n, k))),
        "lloyd_step": lambda: _kmeans.lloyd_step(X, None, np.zeros(d), means,
                                                 np.empty(n, np.int32),
                                                 np.zeros((k, d)), np.zeros(k)),
    }


def _longest_pause_while(call):
    """(longest gap between two iterations of a Python loop in this thread while
    ``call`` runs once in another thread, duration of the call)."""
    done = threading.Event()
    timing = {}

    def run():
        start = time.perf_counter()
        call()
        timing["duration"] = time.perf_counter() - start
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    last, gap = time.perf_counter(), 0.0
    while not done.is_set():
        now = time.perf_counter()
        gap = max(gap, now - last)
        last = now
    worker.join()
    return gap, timing["duration"]


@pytest.mark.parametrize("kernel", ["posterior", "accumulate_statistics",
                                    "statistics_from_responsibilities",
                                    "squared_distances", "lloyd_step"])
def test_kernels_release_the_gil(kernel):
    """While a kernel runs in one thread, Python code keeps running in another.

    A kernel holding the GIL for its whole call would stop this thread's loop
    for about the call's duration (>= 30 ms here); with the GIL released, the
    loop only pauses for scheduling. Three tries absorb a loaded machine.
    """
    n = 1 << 14
    while True:
        call = _kernel_calls(n)[kernel]
        start = time.perf_counter()
        call()
        # (at most 1 << 19 rows x 64 components: 256 MiB of responsibilities)
        if time.perf_counter() - start >= 0.03 or n >= 1 << 19:
            break
        n *= 2
    results = []
    for _ in range(3):
        gap, duration = _longest_pause_while(call)
        results.append((gap, duration))
        if duration >= 0.02 and gap < 0.4 * duration:
            return
    pytest.fail(f"{kernel}: longest pause of the Python thread vs kernel duration: "
                f"{results}")


# -- round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pickle_and_deepcopy_are_exact(covariance_type, dtype):
    X = iris().astype(dtype)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    for name in FITTED:
        assert getattr(gm, name).dtype == dtype, name
    outputs = gm.predict_proba(X), gm.score_samples(X), gm.predict(X), gm.sample(20)
    assert outputs[0].dtype == dtype and outputs[1].dtype == dtype
    assert outputs[3][0].dtype == dtype
    for copy_ in (pickle.loads(pickle.dumps(gm, protocol=p)) for p in (2, 5)):
        assert type(copy_) is GaussianMixture
        for other in (copy_, copy.deepcopy(gm)):
            assert other.get_params().keys() == gm.get_params().keys()
            for name in FITTED:
                value = getattr(other, name)
                assert value.dtype == dtype
                assert_array_equal(value, getattr(gm, name))
            for attr in ("n_iter_", "converged_", "lower_bound_", "lower_bounds_",
                         "n_features_in_"):
                assert getattr(other, attr) == getattr(gm, attr)
            again = (other.predict_proba(X), other.score_samples(X), other.predict(X),
                     other.sample(20))
            for a, b in zip(outputs[:3], again[:3]):
                assert a.dtype == b.dtype
                assert_array_equal(a, b)
            assert_array_equal(outputs[3][0], again[3][0])


def test_deepcopy_is_independent():
    gm = GaussianMixture(2, random_state=0).fit(iris())
    other = copy.deepcopy(gm)
    other.means_[:] = 0
    other.set_params(n_components=5)
    assert gm.n_components == 2
    assert np.abs(gm.means_).sum() > 0


def test_warm_start_from_a_memory_mapped_model(tmp_path):
    """A model whose arrays are read-only (joblib memory map) predicts and refits."""
    joblib = pytest.importorskip("joblib")
    X = iris()
    gm = GaussianMixture(2, random_state=0, warm_start=True, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    joblib.dump(gm, tmp_path / "gm.joblib")
    back = joblib.load(tmp_path / "gm.joblib", mmap_mode="r")
    assert not back.means_.flags.writeable
    assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back.fit(X)
        gm.fit(X)
    assert_array_equal(back.means_, gm.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ill_conditioned_fits_give_the_documented_error(covariance_type):
    """reg_covar=0 with more components than iris supports: each fit either
    succeeds (no NaN) or raises the documented ill-defined-covariance error,
    never a bare numpy.linalg.LinAlgError from deep inside (full, K = 8, seed 0
    raised LinAlgError('Singular matrix') from the kernels' model preparation)."""
    X = iris()
    for k in (5, 8, 12):
        for seed in range(4):
            gm = GaussianMixture(k, covariance_type=covariance_type, reg_covar=0.0,
                                 random_state=seed, n_threads=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    gm.fit(X)
                except ValueError as exc:
                    assert not isinstance(exc, np.linalg.LinAlgError)
                    assert "ill-defined empirical covariance" in str(exc)
                    continue
            assert_sound(gm, X)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS semantics")
@pytest.mark.no_asan  # ASan reserves terabytes of address space for its shadow
def test_diag_and_spherical_need_no_d_by_d_workspace(tmp_path):
    """D = 100 000 features: diag and spherical fit, score and predict within a
    2 GiB address space (scikit-learn needs about 0.3 GB here). A D x D work
    block (80 GB) made them raise MemoryError."""
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import numpy as np
        from gmmc import GaussianMixture
        X = np.random.RandomState(0).standard_normal((40, 100_000))
        X[20:] += 3.0
        for cov in ("diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, random_state=0, n_threads=1)
            labels = gm.fit(X).predict(X)
            assert (labels[:20] != labels[20:]).all(), labels
            assert np.isfinite(gm.score(X))
        print("ok")
    """)
    # The gmmc under test, wherever it is (not a checkout without its kernels).
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.path.dirname(os.path.dirname(gmmc_file))}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
