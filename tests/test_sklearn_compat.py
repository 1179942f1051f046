"""Drop-in compatibility with scikit-learn: check_estimator, error and warning
classes, patch_sklearn()/unpatch_sklearn(), parameters and attributes."""
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
import sklearn.exceptions
import sklearn.mixture
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils.estimator_checks import (check_dataframe_column_names_consistency,
                                            check_estimator)
from sklearn.utils.validation import check_is_fitted

import gmmc
from gmmc import GaussianMixture

from conftest import iris

ROOT = Path(gmmc.__file__).resolve().parents[1]

# With K > 1 the initialisation draws random numbers per row (k-means++ seeds,
# random responsibilities), so data with integer sample weights and the same
# data with repeated rows start EM from different points and may end in
# different local optima. EM itself is weight-equivalent from a common start:
# tests/test_robustness.py::test_equivalent_sample_weights_and_repeated_rows.
RANDOM_INIT_WEIGHTS = {
    "check_sample_weight_equivalence_on_dense_data":
        "with n_components > 1 the random initialisation sees weighted rows and "
        "repeated rows differently (EM from a common start is weight-equivalent)",
}

CONFIGURATIONS = [
    (GaussianMixture(), {}),
    (GaussianMixture(3, covariance_type="spherical", init_params="k-means++"),
     RANDOM_INIT_WEIGHTS),
    (GaussianMixture(2, covariance_type="tied", n_threads=2), RANDOM_INIT_WEIGHTS),
    (GaussianMixture(2, covariance_type="diag", init_params="random", n_init=2),
     RANDOM_INIT_WEIGHTS),
    (gmmc.BayesianGaussianMixture(), {}),
    (gmmc.BayesianGaussianMixture(n_components=3, covariance_type="diag",
                                  weight_concentration_prior_type="dirichlet_distribution",
                                  init_params="random"), RANDOM_INIT_WEIGHTS),
]


@pytest.mark.parametrize("estimator, expected_failed", CONFIGURATIONS,
                         ids=[repr(c[0]) for c in CONFIGURATIONS])
def test_check_estimator(estimator, expected_failed):
    with warnings.catch_warnings():
        # "does not inherit from BaseEstimator" (by design: no sklearn dependency)
        # and ConvergenceWarnings of the checks' tiny data sets.
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, expected_failed_checks=expected_failed,
                                  on_fail=None)
    by_status = {}
    for result in results:
        by_status.setdefault(result["status"], []).append(result)
    failed = [(r["check_name"], repr(r["exception"])) for r in by_status.get("failed", [])]
    assert not failed, failed
    # The only skips: the array-API checks, which need SCIPY_ARRAY_API=1 set before
    # scipy is imported (tests/test_array_api.py runs them).
    skipped = {r["check_name"] for r in by_status.get("skipped", [])}
    assert skipped <= {"check_array_api_input", "check_array_api_mixed_inputs",
                       "check_array_api_same_namespace"}, skipped
    assert len(by_status["passed"]) >= 40
    # Every expected failure still fails (otherwise the list is stale).
    xfailed = {r["check_name"] for r in by_status.get("xfail", [])}
    assert xfailed == set(expected_failed)


def test_column_names_consistency_check():
    pytest.importorskip("pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        check_dataframe_column_names_consistency("GaussianMixture", GaussianMixture())


def test_sklearn_tags_and_fitted_state():
    from sklearn.utils import get_tags
    sk_tags, tags = get_tags(SkGaussianMixture()), get_tags(GaussianMixture())
    assert tags == sk_tags
    gm = GaussianMixture(2)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(gm)
    gm.fit(iris())
    check_is_fitted(gm)
    assert gm.__sklearn_is_fitted__()


def test_same_parameters_and_defaults_as_sklearn():
    ours, theirs = GaussianMixture().get_params(), SkGaussianMixture().get_params()
    assert set(ours) - set(theirs) == {"n_threads", "nan_policy"}
    for name, value in theirs.items():
        assert ours[name] == value, name


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_same_fitted_attributes_as_sklearn(covariance_type):
    X = iris()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
        sk = SkGaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    theirs = {k for k in vars(sk) if k.endswith("_") and not k.startswith("_")}
    for name in theirs:
        assert hasattr(gm, name), name
        ours_, theirs_ = getattr(gm, name), getattr(sk, name)
        assert np.shape(ours_) == np.shape(theirs_), name
        assert np.asarray(ours_).dtype.kind == np.asarray(theirs_).dtype.kind, name
    assert isinstance(gm.converged_, (bool, np.bool_))


def test_clone_and_grid_search():
    """GridSearchCV (clone, set_params, score) picks what it picks for scikit-learn."""
    from sklearn.model_selection import GridSearchCV, KFold
    X = iris()
    grid = {"n_components": [1, 2, 3], "covariance_type": ["full", "diag"]}
    searches = [GridSearchCV(cls(random_state=0), grid, cv=KFold(3, shuffle=True,
                                                                random_state=0))
                for cls in (GaussianMixture, SkGaussianMixture)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        for search in searches:
            search.fit(X)
    ours, theirs = searches
    assert type(ours.best_estimator_) is GaussianMixture
    assert ours.best_params_ == theirs.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], rtol=1e-2)
    copy = clone(ours.best_estimator_)
    assert type(copy) is GaussianMixture and not hasattr(copy, "means_")


# -- errors and warnings ---------------------------------------------------------------------

def test_not_fitted_error_is_also_sklearns():
    gm = GaussianMixture()
    for catch in (sklearn.exceptions.NotFittedError, gmmc.NotFittedError, ValueError,
                  AttributeError):
        with pytest.raises(catch, match="This GaussianMixture instance is not fitted yet"):
            gm.predict(iris())
    # Same message as scikit-learn's.
    with pytest.raises(sklearn.exceptions.NotFittedError) as theirs:
        SkGaussianMixture().predict(iris())
    with pytest.raises(sklearn.exceptions.NotFittedError) as ours:
        gm.predict(iris())
    assert str(ours.value).replace("gmmc.", "") == str(theirs.value)
    # hasattr() on a missing fitted attribute is False, as for scikit-learn.
    assert not hasattr(gm, "means_")


def test_errors_and_warnings_pickle_across_processes(tmp_path):
    with pytest.raises(sklearn.exceptions.NotFittedError) as info:
        GaussianMixture().predict(iris())
    error = pickle.loads(pickle.dumps(info.value))
    assert type(error) is type(info.value)
    path = tmp_path / "error.pickle"
    path.write_bytes(pickle.dumps(info.value))
    # A fresh process, where scikit-learn is not imported yet: unpickling builds
    # the same class (importing scikit-learn, which the error came from).
    code = textwrap.dedent(f"""
        import pickle, sys, gmmc, sklearn.exceptions
        error = pickle.loads(open({str(path)!r}, "rb").read())
        assert isinstance(error, gmmc.NotFittedError), type(error).__mro__
        assert isinstance(error, sklearn.exceptions.NotFittedError), type(error).__mro__
        """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _fit_warnings(cls, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls(4, max_iter=2, random_state=0).fit(X)
    return caught


def test_convergence_warning_matches_sklearns():
    X, _ = sklearn.datasets.make_blobs(300, centers=4, cluster_std=3.0, random_state=0)
    ours, theirs = _fit_warnings(GaussianMixture, X), _fit_warnings(SkGaussianMixture, X)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert len(ours) == 1
    category = ours[0].category
    assert issubclass(category, sklearn.exceptions.ConvergenceWarning)
    assert issubclass(category, gmmc.ConvergenceWarning)
    assert category.__name__ == theirs[0].category.__name__ == "ConvergenceWarning"
    # Filters written for scikit-learn silence gmmc's warning too.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        GaussianMixture(4, max_iter=2, random_state=0).fit(X)
    assert not caught
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        GaussianMixture(4, max_iter=2, random_state=0).fit(X)
    # No warning when EM converges, as in scikit-learn.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(4, random_state=0, max_iter=500).fit(X)


@pytest.mark.parametrize("n_distinct, k", [(2, 4), (1, 3), (3, 3)])
def test_duplicate_points_warn_as_sklearns_kmeans(n_distinct, k):
    X = np.repeat(np.random.RandomState(0).randn(n_distinct, 3), 10, axis=0)
    caught = []
    for cls in (GaussianMixture, SkGaussianMixture):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            cls(k, random_state=0).fit(X)
        caught.append([(w.category.__name__, str(w.message)) for w in record])
    assert caught[0] == caught[1]
    assert bool(caught[0]) == (n_distinct < k)


# -- scikit-learn's base classes ---------------------------------------------------------------

def test_estimators_derive_from_sklearns_bases():
    """The bases of scikit-learn's mixtures and imputers: the parameter protocol,
    repr, HTML repr, tags and metadata routing are scikit-learn's own."""
    from sklearn.base import BaseEstimator, DensityMixin, TransformerMixin
    from sklearn.utils import get_tags

    for cls in (GaussianMixture, gmmc.BayesianGaussianMixture):
        assert issubclass(cls, DensityMixin) and issubclass(cls, BaseEstimator)
    assert issubclass(gmmc.GaussianMixtureImputer, TransformerMixin)
    assert issubclass(gmmc.GaussianMixtureImputer, BaseEstimator)
    for cls in (GaussianMixture, gmmc.BayesianGaussianMixture, gmmc.GaussianMixtureImputer):
        # No copy of BaseEstimator's protocol in gmmc's classes.
        defining = {name: next(k for k in cls.__mro__ if name in vars(k))
                    for name in ("get_params", "set_params", "__repr__", "_get_param_names")}
        assert set(defining.values()) == {BaseEstimator}, (cls, defining)
    estimators = [GaussianMixture(2, covariance_type="tied"),
                  gmmc.BayesianGaussianMixture(n_components=3),
                  gmmc.GaussianMixtureImputer(2, sample_posterior=True)]
    for estimator in estimators:
        html = estimator._repr_html_()
        assert type(estimator).__name__ in html
    assert get_tags(gmmc.BayesianGaussianMixture()) == get_tags(
        sklearn.mixture.BayesianGaussianMixture())
    tags = get_tags(gmmc.GaussianMixtureImputer())
    assert tags.input_tags.allow_nan and tags.transformer_tags is not None
    assert get_tags(GaussianMixture(nan_policy="marginalize")).input_tags.allow_nan


def test_repr_is_sklearns():
    assert repr(GaussianMixture(2).set_params(covariance_type="tied", max_iter=50)) == \
        "GaussianMixture(covariance_type='tied', max_iter=50, n_components=2)"
    means = np.zeros((3, 2))
    assert repr(GaussianMixture(3, means_init=means, tol=1e-5)) == \
        repr(SkGaussianMixture(3, means_init=means, tol=1e-5))


@pytest.mark.parametrize("cls", [GaussianMixture, gmmc.BayesianGaussianMixture])
def test_metadata_routing_passes_sample_weight_through_a_pipeline(cls):
    """With scikit-learn's metadata routing on, fit's sample_weight reaches the
    estimator that requested it, as it reaches scikit-learn's."""
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = iris()
    weight = np.random.RandomState(0).randint(0, 4, len(X)).astype(float)
    params = dict(n_components=2, random_state=0, max_iter=500)
    with sklearn.config_context(enable_metadata_routing=True):
        assert cls().set_fit_request(sample_weight=True).get_metadata_routing() \
            .fit.requests == {"sample_weight": True}
        if cls is GaussianMixture:  # step_exponent is a setting, not metadata
            assert cls().get_metadata_routing().partial_fit.requests == \
                {"sample_weight": None}
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                             cls(**params).set_fit_request(sample_weight=True))
        pipe.fit(X, sample_weight=weight)
        # A step that did not say whether it wants the weights: scikit-learn's error.
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                          cls(**params)).fit(X, sample_weight=weight)
    scaled = StandardScaler().fit_transform(X)
    direct = cls(**params).fit(scaled, sample_weight=weight)
    model = pipe[-1]
    assert model.n_samples_seen_ == weight.sum()
    assert_array_equal(model.weights_, direct.weights_)
    assert_array_equal(model.means_, direct.means_)
    assert_array_equal(model.covariances_, direct.covariances_)
    unweighted = cls(**params).fit(scaled)
    assert not np.allclose(unweighted.means_, direct.means_)


def test_without_sklearn_gmmc_works_on_its_own_base(tmp_path):
    """With scikit-learn not importable, gmmc imports and works: the parameter
    protocol and repr of the fallback base (printed as scikit-learn prints
    them), the plain gmmc exceptions, saving and loading."""
    reprs = {code: repr(eval(code, {"gmmc": gmmc, "np": np})) for code in [
        "gmmc.GaussianMixture()",
        "gmmc.GaussianMixture(2, covariance_type='tied', max_iter=50)",
        "gmmc.GaussianMixture(n_components=np.int64(2), tol=float('nan'), n_threads=1)",
        "gmmc.BayesianGaussianMixture(n_components=3, weight_concentration_prior=0.1)",
        "gmmc.GaussianMixtureImputer(2, sample_posterior=True, random_state=0)"]}
    code = textwrap.dedent(f"""
        import sys
        sys.modules["sklearn"] = None  # import sklearn -> ImportError
        import io, warnings
        import numpy as np
        import gmmc

        assert gmmc.GaussianMixture.get_params.__module__ == "gmmc._base"
        assert not [m for m in sys.modules if m.startswith("sklearn.")]
        for code, expected in {reprs!r}.items():
            assert repr(eval(code)) == expected, (repr(eval(code)), expected)

        X = np.random.RandomState(0).randn(200, 2) * [1, 5]
        for gm in (gmmc.GaussianMixture(3, covariance_type="diag", random_state=0),
                   gmmc.BayesianGaussianMixture(n_components=3, random_state=0)):
            labels = gm.fit(X).predict(X)
            assert labels.shape == (200,)
            params = gm.get_params()
            copy = type(gm)(**params)  # clone by get_params
            assert copy.get_params() == params and not hasattr(copy, "means_")
            assert np.array_equal(copy.fit(X).means_, gm.means_)
            assert copy.set_params(max_iter=7, tol=1e-2) is copy
            assert (copy.max_iter, copy.tol) == (7, 1e-2)
            try:
                copy.set_params(not_a_parameter=1)
            except ValueError as exc:
                assert "not_a_parameter" in str(exc), exc
            else:
                raise AssertionError("set_params took an unknown name")

        buffer = io.BytesIO()
        gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
        gm.save(buffer)
        back = gmmc.load(io.BytesIO(buffer.getvalue()))
        assert np.array_equal(back.means_, gm.means_) and repr(back) == repr(gm)

        X_missing = X.copy()
        X_missing[::7, 1] = np.nan
        imputer = gmmc.GaussianMixtureImputer(2, random_state=0)
        assert not np.isnan(imputer.fit_transform(X_missing)).any()
        assert imputer.set_params(n_components=3).get_params()["n_components"] == 3

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gmmc.GaussianMixture(3, max_iter=1, random_state=0).fit(X)
        assert [w.category for w in caught] == [gmmc.ConvergenceWarning], caught
        try:
            gmmc.GaussianMixture().predict(X)
        except gmmc.NotFittedError as exc:
            assert type(exc) is gmmc.NotFittedError
        assert not [m for m in sys.modules if m.startswith("sklearn.")]
        print("ok")
        """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


# -- patch_sklearn -----------------------------------------------------------------------------

# Written against scikit-learn's API only: it never names gmmc.
SKLEARN_SNIPPET = textwrap.dedent("""
    import warnings
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = load_iris().data
    bics = {}
    for k in range(1, 5):
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(n_components=k, covariance_type=cov, random_state=0)
            bics[k, cov] = gm.fit(X).bic(X)
    best_k, best_cov = min(bics, key=bics.get)
    model = GaussianMixture(best_k, covariance_type=best_cov, random_state=0).fit(X)
    labels = model.predict(X)
    proba = model.predict_proba(X)
    samples, sample_labels = model.sample(10)
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, cv=3)
    RESULT = dict(model=model, labels=labels, proba=proba, samples=samples,
                  scores=scores, best=(best_k, best_cov), pipe=pipe)
""")


def run_snippet():
    namespace = {}
    exec(compile(SKLEARN_SNIPPET, "<sklearn snippet>", "exec"), namespace)
    return namespace["RESULT"]


@pytest.fixture
def unpatched():
    gmmc.unpatch_sklearn()
    yield
    gmmc.unpatch_sklearn()


def test_patch_sklearn_runs_unmodified_sklearn_code_on_gmmc(unpatched):
    original = sklearn.mixture.GaussianMixture
    reference = run_snippet()
    assert type(reference["model"]) is original

    gmmc.patch_sklearn()
    gmmc.patch_sklearn()  # twice is harmless
    assert sklearn.mixture.GaussianMixture is GaussianMixture
    assert gmmc._patch.sklearn_is_patched()
    patched = run_snippet()
    assert type(patched["model"]) is GaussianMixture
    assert type(patched["pipe"][-1]) is GaussianMixture
    # Same model selected, same clustering (up to label order), finite scores.
    assert patched["best"] == reference["best"]
    ours, theirs = patched["labels"], reference["labels"]
    pairs = set(zip(ours.tolist(), theirs.tolist()))
    assert len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))
    assert np.isfinite(patched["scores"]).all()
    np.testing.assert_allclose(patched["scores"], reference["scores"], rtol=1e-3)
    assert patched["samples"].shape == reference["samples"].shape

    gmmc.unpatch_sklearn()
    assert sklearn.mixture.GaussianMixture is original
    assert not gmmc._patch.sklearn_is_patched()
    assert type(run_snippet()["model"]) is original
    gmmc.unpatch_sklearn()  # twice is harmless
    assert sklearn.mixture.GaussianMixture is original


def test_patch_sklearn_in_a_fresh_process(tmp_path):
    """A user script, run unmodified after `gmmc.patch_sklearn()`."""
    script = tmp_path / "user_script.py"
    script.write_text(SKLEARN_SNIPPET + textwrap.dedent("""
        import gmmc
        assert type(RESULT["model"]) is gmmc.GaussianMixture, type(RESULT["model"])
        print("ok", RESULT["best"])
        """))
    code = (f"import gmmc; gmmc.patch_sklearn(); "
            f"exec(compile(open({str(script)!r}).read(), 'user_script.py', 'exec'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_patched_model_matches_sklearns_fit(unpatched):
    X = iris()
    init = dict(init_params="random_from_data", random_state=3)
    sk = SkGaussianMixture(3, **init).fit(X)
    gmmc.patch_sklearn()
    gm = sklearn.mixture.GaussianMixture(3, **init).fit(X)
    assert type(gm) is GaussianMixture
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-6)
    assert_array_equal(gm.predict(X), sk.predict(X))


def test_patch_sklearn_rebinds_names_imported_before_it(unpatched):
    """Libraries (PyOD, scikit-lego, astroML, FlowCal) import the classes at
    module load: patch_sklearn() rebinds those names too, both classes, and
    unpatch_sklearn() restores exactly what it changed."""
    import types

    import sklearn.mixture

    original_gm = sklearn.mixture.GaussianMixture
    original_bgm = sklearn.mixture.BayesianGaussianMixture
    library = types.ModuleType("a_library_importing_sklearn_mixture")
    library.GaussianMixture = original_gm
    library.BGM = original_bgm  # under another name
    library.unrelated = object()
    sys.modules[library.__name__] = library
    try:
        gmmc.patch_sklearn()
        assert library.GaussianMixture is gmmc.GaussianMixture
        assert library.BGM is gmmc.BayesianGaussianMixture
        assert sklearn.mixture.BayesianGaussianMixture is gmmc.BayesianGaussianMixture
        assert gmmc._patch.sklearn_is_patched()
        gmmc.unpatch_sklearn()
        assert library.GaussianMixture is original_gm and library.BGM is original_bgm
        assert sklearn.mixture.GaussianMixture is original_gm
        assert sklearn.mixture.BayesianGaussianMixture is original_bgm
        assert not gmmc._patch.sklearn_is_patched()
    finally:
        del sys.modules[library.__name__]


@pytest.mark.parametrize("params", [dict(n_components=0), dict(tol=-1.0),
                                    dict(covariance_type="fool"), dict(max_iter="3"),
                                    dict(warm_start=1), dict(n_threads=0),
                                    dict(init_params="bad"), dict(reg_covar=float("nan"))])
@pytest.mark.parametrize("cls", ["GaussianMixture", "BayesianGaussianMixture"])
def test_bad_parameters_raise_sklearns_invalid_parameter_error(cls, params):
    """Code that catches scikit-learn's InvalidParameterError (a ValueError and a
    TypeError) keeps working with gmmc's estimators; the message still names
    the parameter."""
    from sklearn.utils._param_validation import InvalidParameterError

    estimator = getattr(gmmc, cls)(**params)
    with pytest.raises(InvalidParameterError, match=list(params)[0]):
        estimator.fit(np.random.RandomState(0).standard_normal((20, 2)))
