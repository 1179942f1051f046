"""The public Cython API, gmmc/kernels.pxd, as another project uses it.

A module-scoped fixture writes two small Cython modules and a setup.py into a
temporary directory and builds them with setuptools, the way a downstream
project would: nothing points Cython at gmmc's sources, it finds
``gmmc/kernels.pxd`` in the installed package. ``EXAMPLE_PYX`` is the README's
example, verbatim; ``CHECKS_PYX`` wraps every function of the API. Results are
compared with gmmc's estimator and with SciPy. The tests skip (with the
compiler's message) only when no C compiler can build an extension here.
"""
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmmc

from conftest import COVARIANCE_TYPES, blobs, fit_quietly, full_covariances

# The README's example (tests below check the README still shows this text).
EXAMPLE_PYX = '''\
# cython: language_level=3
from gmmc.kernels cimport COV_FULL, estimate_weighted_log_prob, normalize_log_rows


def e_step(const double[:, ::1] X, const double[::1] log_weights,
           const double[:, ::1] means, const double[:, :, ::1] precisions_cholesky,
           double[:, ::1] resp):
    """Responsibilities of a full-covariance mixture into resp (N, K), without
    the GIL; returns the mean log-likelihood."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = means.shape[0]
    cdef double total
    assert resp.shape[0] == n and resp.shape[1] == k and n > 0
    with nogil:
        estimate_weighted_log_prob(COV_FULL, &X[0, 0], n, d, k, &log_weights[0],
                                   &means[0, 0], &precisions_cholesky[0, 0, 0],
                                   &resp[0, 0])
        total = normalize_log_rows(&resp[0, 0], n, k, NULL)
    return total / n
'''

EXAMPLE_SETUP = '''\
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize([Extension("gmmc_example", ["gmmc_example.pyx"])]))
'''

CHECKS_PYX = '''\
# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin Python wrappers over every function of gmmc.kernels, float32 and float64."""
from cython cimport floating
from gmmc.kernels cimport (
    GMMC_KERNELS_API_VERSION, COV_FULL, COV_TIED, COV_DIAG, COV_SPHERICAL,
    logsumexp_rows, normalize_log_rows, log_gaussian, estimate_weighted_log_prob)

API_VERSION = GMMC_KERNELS_API_VERSION
CODES = {"full": COV_FULL, "tied": COV_TIED, "diag": COV_DIAG,
         "spherical": COV_SPHERICAL}


def weighted_log_prob(int cov, const floating[:, ::1] X,
                      const floating[::1] log_weights, const floating[:, ::1] means,
                      const floating[::1] prec_chol, floating[:, ::1] out):
    cdef int status
    with nogil:
        status = estimate_weighted_log_prob(
            cov, &X[0, 0], X.shape[0], X.shape[1], means.shape[0], &log_weights[0],
            &means[0, 0], &prec_chol[0], &out[0, 0])
    return status


def component_log_density(int cov, const floating[:, ::1] X, const floating[::1] mean,
                          const floating[::1] prec_chol, floating[:, ::1] out,
                          Py_ssize_t column):
    cdef int status
    with nogil:
        status = log_gaussian(cov, &X[0, 0], X.shape[0], X.shape[1], &mean[0],
                              &prec_chol[0], &out[0, column], out.shape[1])
    return status


def lse_rows(const floating[:, ::1] a, floating[::1] out):
    cdef double total
    with nogil:
        total = logsumexp_rows(&a[0, 0], a.shape[0], a.shape[1], &out[0])
    return total


def lse_total(const floating[:, ::1] a):
    cdef double total
    with nogil:
        total = logsumexp_rows(&a[0, 0], a.shape[0], a.shape[1], <floating*>NULL)
    return total


def normalize(floating[:, ::1] a, floating[::1] log_norm):
    cdef double total
    with nogil:
        total = normalize_log_rows(&a[0, 0], a.shape[0], a.shape[1], &log_norm[0])
    return total
'''

CHECKS_SETUP = '''\
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize([Extension("gmmc_example", ["gmmc_example.pyx"]),
                             Extension("gmmc_kernels_checks", ["gmmc_kernels_checks.pyx"])]))
'''

PROBE_C = '''\
#include <Python.h>
static struct PyModuleDef probe = {PyModuleDef_HEAD_INIT, "gmmc_probe", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_gmmc_probe(void) { return PyModule_Create(&probe); }
'''

PROBE_SETUP = '''\
from setuptools import Extension, setup

setup(ext_modules=[Extension("gmmc_probe", ["gmmc_probe.c"])])
'''


def _build_ext(directory, files):
    """Write files into directory and run `setup.py build_ext --inplace` there."""
    for name, text in files.items():
        (directory / name).write_text(text)
    # The package directory that holds the gmmc being tested (site-packages for
    # an installed wheel) is put on the path, as it is for a downstream build.
    env = dict(os.environ)
    package_root = str(Path(gmmc.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "--parallel", "2"],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Import the two modules, compiled against the gmmc under test."""
    # setuptools and Cython are test requirements: fail, don't skip, without them.
    import Cython  # noqa: F401
    import setuptools  # noqa: F401

    probe = _build_ext(tmp_path_factory.mktemp("probe"),
                       {"gmmc_probe.c": PROBE_C, "setup.py": PROBE_SETUP})
    if probe.returncode != 0:
        pytest.skip("no working C compiler for Python extensions here:\n"
                    + probe.stdout[-2000:])
    directory = tmp_path_factory.mktemp("cimport")
    result = _build_ext(directory, {"gmmc_example.pyx": EXAMPLE_PYX,
                                    "gmmc_kernels_checks.pyx": CHECKS_PYX,
                                    "setup.py": CHECKS_SETUP})
    assert result.returncode == 0, result.stdout[-6000:]
    sys.path.insert(0, str(directory))
    try:
        yield (importlib.import_module("gmmc_example"),
               importlib.import_module("gmmc_kernels_checks"))
    finally:
        sys.path.remove(str(directory))
        for name in ("gmmc_example", "gmmc_kernels_checks"):
            sys.modules.pop(name, None)


def test_pxd_is_installed_with_the_package():
    pxd = Path(gmmc.__file__).with_name("kernels.pxd")
    assert pxd.is_file(), f"{pxd} is missing: the wheel must ship gmmc/kernels.pxd"


def test_readme_example(built):
    example, _ = built
    X = np.ascontiguousarray(gmmc.load_faithful())
    gm = gmmc.GaussianMixture(n_components=2, covariance_type="full",
                              random_state=0).fit(X)
    resp = np.empty((len(X), 2))
    mean_loglik = example.e_step(X, np.log(gm.weights_), gm.means_,
                                 gm.precisions_cholesky_, resp)
    assert_allclose(mean_loglik, gm.score(X), rtol=1e-10)
    assert_allclose(resp, gm.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_readme_shows_the_tested_example():
    readme = Path(__file__).resolve().parent.parent / "README.md"
    if not readme.is_file():
        pytest.skip("no README.md beside the tests (installed test run)")
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", readme.read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    examples = [b for b in blocks if "from gmmc.kernels cimport" in b]
    if not examples:
        pytest.skip("README.md has no gmmc.kernels example yet")
    assert EXAMPLE_PYX in examples, (
        "README's `from gmmc.kernels cimport` example differs from EXAMPLE_PYX in "
        "tests/test_cimport.py, which is the one compiled and run here")


def test_api_version(built):
    _, checks = built
    assert checks.API_VERSION == 1
    assert checks.CODES == {"full": 0, "tied": 1, "diag": 2, "spherical": 3}


def _reference_weighted_log_prob(X, weights, means, covariances, covariance_type):
    n_components, n_features = means.shape
    covs = full_covariances(covariances, covariance_type, n_components, n_features)
    return np.column_stack([
        np.log(weights[j]) + multivariate_normal(means[j], covs[j]).logpdf(X)
        for j in range(n_components)])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_the_estimator_and_scipy(built, covariance_type, dtype):
    _, checks = built
    X64, _ = blobs(5, n_samples=300, centers=3, seed=3)
    X = np.ascontiguousarray(X64, dtype=dtype)
    gm = fit_quietly(gmmc.GaussianMixture(3, covariance_type=covariance_type,
                                          random_state=0), X64)
    args = [np.ascontiguousarray(a, dtype=dtype) for a in
            (np.log(gm.weights_), gm.means_, np.ravel(gm.precisions_cholesky_))]
    code = checks.CODES[covariance_type]
    rtol = 1e-10 if dtype == np.float64 else 2e-5

    wlp = np.empty((len(X), 3), dtype=dtype)
    assert checks.weighted_log_prob(code, X, *args, wlp) == 0
    reference = _reference_weighted_log_prob(X64, gm.weights_, gm.means_,
                                             gm.covariances_, covariance_type)
    assert_allclose(wlp, reference, rtol=rtol, atol=rtol * np.abs(reference).max())

    log_norm = np.empty(len(X), dtype=dtype)
    lse = np.empty(len(X), dtype=dtype)
    assert_allclose(checks.lse_rows(wlp, lse), checks.lse_total(wlp), rtol=1e-12)
    total = checks.normalize(wlp, log_norm)
    assert_allclose(lse, log_norm, rtol=1e-12)
    assert_allclose(log_norm, gm.score_samples(X64), rtol=rtol * 10)
    assert_allclose(total / len(X), gm.score(X64), rtol=rtol * 10)
    assert_allclose(wlp, gm.predict_proba(X64), atol=rtol * 100)


def test_single_component_column(built):
    _, checks = built
    X, _ = blobs(4, n_samples=50, seed=1)
    mean = X.mean(axis=0)
    cov = np.cov(X.T)
    # scikit-learn's factor: U = inv(L)^T with cov = L L^T, so P = U U^T.
    u = np.ascontiguousarray(np.linalg.inv(np.linalg.cholesky(cov)).T)
    out = np.full((len(X), 3), np.nan)
    assert checks.component_log_density(0, X, mean, u.ravel(), out, 1) == 0
    assert_allclose(out[:, 1], multivariate_normal(mean, cov).logpdf(X), rtol=1e-10)
    assert np.isnan(out[:, [0, 2]]).all()  # the stride leaves other columns alone


def test_edge_cases(built):
    _, checks = built
    a = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [-1e4, 0.0, -800.0]])
    out = np.empty(3)
    checks.lse_rows(a, out)
    assert_allclose(out, logsumexp(a, axis=1))
    resp = a.copy()
    log_norm = np.empty(3)
    checks.normalize(resp, log_norm)
    assert_allclose(log_norm, out)
    assert_allclose(resp[1], 0.0)
    assert_allclose(resp[[0, 2]].sum(axis=1), 1.0)
    assert_allclose(resp[0], np.exp(a[0] - out[0]))

    bad = np.zeros((4, 2))
    assert checks.weighted_log_prob(7, np.zeros((4, 2)), np.zeros(2), np.zeros((2, 2)),
                                    np.ones(2), bad) == -1
    assert (bad == 0).all()
    assert checks.component_log_density(-1, np.zeros((4, 2)), np.zeros(2), np.ones(1),
                                        bad, 0) == -1

