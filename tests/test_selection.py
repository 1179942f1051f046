"""gmmc.select: a grid of fits scored by BIC / AIC / held-out log-likelihood.

Oracles: scikit-learn refitted from the same initial parameters (its own
EM, bic(), aic(), score() and _n_parameters()), scikit-learn's bic() on rows
repeated by their weights, and standalone gmmc fits with the same seed.
"""
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmc
from gmmc import GaussianMixture

from conftest import COVARIANCE_TYPES, blobs, fit_quietly

COLUMNS = ["n_components", "covariance_type", "n_parameters", "log_likelihood", "bic",
           "aic", "holdout_log_likelihood", "cv_log_likelihood", "cv_fold_log_likelihoods",
           "criterion", "converged", "n_iter", "selected", "error"]


def sklearn_refit(model, X, **fit_kwargs):
    """scikit-learn's EM from the initial parameters the gmmc candidate started from."""
    sk = SkGaussianMixture(model.n_components, covariance_type=model.covariance_type,
                           tol=model.tol, reg_covar=model.reg_covar, max_iter=model.max_iter,
                           weights_init=model.weights_init, means_init=model.means_init,
                           precisions_init=model.precisions_init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sk.fit(X)


def sklearn_with_parameters(model):
    """A scikit-learn model holding gmmc's fitted parameters (for its bic/score)."""
    sk = SkGaussianMixture(model.n_components, covariance_type=model.covariance_type)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "precisions_"):
        setattr(sk, name, getattr(model, name))
    return sk


@pytest.fixture(scope="module")
def faithful_selection():
    X = gmmc.load_faithful()
    return X, gmmc.select(X, n_components=range(1, 7), random_state=0, keep_models=True,
                          as_frame=False)


def test_faithful_bic_matches_sklearn_refits(faithful_selection):
    X, result = faithful_selection
    table = result.table
    assert [(r["n_components"], r["covariance_type"]) for r in table] == [
        (k, c) for k in range(1, 7) for c in COVARIANCE_TYPES]
    sk_bics = []
    for record in table:
        model = result.models[(record["n_components"], record["covariance_type"])]
        sk = sklearn_refit(model, X)
        sk_bics.append(sk.bic(X))
        assert_allclose(record["bic"], sk.bic(X), rtol=1e-6)
        assert_allclose(record["aic"], sk.aic(X), rtol=1e-6)
        assert_allclose(record["log_likelihood"], sk.score(X) * len(X), rtol=1e-6)
        assert record["n_parameters"] == sk._n_parameters()
        assert record["converged"] == sk.converged_
        assert record["n_iter"] == sk.n_iter_
        assert record["criterion"] == record["bic"]
        assert record["error"] is None
    best = int(np.argmin(sk_bics))
    assert [r["selected"] for r in table] == [i == best for i in range(len(table))]
    assert result.model is result.models[(table[best]["n_components"],
                                          table[best]["covariance_type"])]


def test_faithful_bic_chooses_two_eruption_types(faithful_selection):
    """Old Faithful: short eruptions (~2 min, ~55 min wait) and long ones (~4.3 min,
    ~80 min wait); BIC picks two full-covariance components."""
    X, result = faithful_selection
    model, table = result  # unpacks as (model, table)
    assert (model.n_components, model.covariance_type) == (2, "full")
    means = model.means_[np.argsort(model.means_[:, 0])]
    assert_allclose(means, [[2.04, 54.5], [4.29, 80.0]], rtol=0.02)
    assert_allclose(sorted(model.weights_), [0.36, 0.64], atol=0.02)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_candidates_are_the_standalone_fits(init_params):
    """With an int seed, each candidate is GaussianMixture(K, n_init, random_state).

    'k-means++' starts from weights 1/N (not summing to one) in a plain fit and
    from their normalisation in select: the same EM path, but the iteration
    count can differ by one, so both are run to convergence here."""
    X, _ = blobs(3, n_samples=200, centers=3, seed=2, cluster_std=2.0)
    settings = dict(n_init=2, random_state=7, init_params=init_params)
    if init_params == "k-means++":
        settings.update(tol=1e-9, max_iter=1000)
    result = gmmc.select(X, n_components=[1, 3, 4], keep_models=True, **settings)
    assert len(result.models) == 12
    for (k, cov), model in result.models.items():
        alone = fit_quietly(GaussianMixture(k, covariance_type=cov, **settings), X)
        for name in ("weights_", "means_", "covariances_"):
            assert_allclose(getattr(model, name), getattr(alone, name), rtol=1e-6,
                            atol=1e-8, err_msg=f"{k} {cov} {name}")
        assert abs(model.n_iter_ - alone.n_iter_) <= (init_params == "k-means++")


def test_aic_criterion_and_dataframe():
    X = gmmc.load_faithful()
    model, table = gmmc.select(X, n_components=[1, 2, 3, 4], covariance_types="diag",
                               criterion="aic", random_state=1, as_frame=True)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == COLUMNS
    assert (table["criterion"] == table["aic"]).all()
    assert_allclose(table["aic"] - table["bic"],
                    table["n_parameters"] * (2 - np.log(len(X))))
    best = table.loc[table["aic"].idxmin()]
    assert table["selected"].sum() == 1 and table.loc[table["aic"].idxmin(), "selected"]
    assert model.n_components == best["n_components"] and model.covariance_type == "diag"
    # scikit-learn's aic for the parameters gmmc fitted
    assert_allclose(sklearn_with_parameters(model).aic(X), best["aic"], rtol=1e-10)


def test_records_without_pandas(monkeypatch):
    X = gmmc.load_faithful()
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    _, table = gmmc.select(X, n_components=[1, 2], covariance_types=("full", "tied"),
                           random_state=0)
    assert isinstance(table, list) and len(table) == 4
    assert list(table[0]) == COLUMNS
    with pytest.raises(ImportError, match="pandas"):
        gmmc.select(X, n_components=[1], as_frame=True)


def test_holdout_scores_the_held_out_rows():
    X, _ = blobs(2, n_samples=240, centers=3, seed=3, cluster_std=1.5)
    result = gmmc.select(X, n_components=[1, 2, 3, 5], covariance_types=("full", "spherical"),
                         criterion="holdout", holdout=0.3, random_state=4, keep_models=True,
                         as_frame=False)
    valid = result.holdout_indices
    assert len(valid) == 72 and len(np.unique(valid)) == 72
    train = np.setdiff1d(np.arange(len(X)), valid)
    for record in result.table:
        model = result.models[(record["n_components"], record["covariance_type"])]
        sk = sklearn_refit(model, X[train])  # fitted on the training rows only
        assert_allclose(model.means_, sk.means_, rtol=1e-6, atol=1e-8)
        assert_allclose(record["holdout_log_likelihood"], sk.score(X[valid]), rtol=1e-6)
        assert_allclose(record["criterion"], -sk.score(X[valid]), rtol=1e-6)
        assert_allclose(record["bic"], sk.bic(X[train]), rtol=1e-6)
    best = min(result.table, key=lambda r: -r["holdout_log_likelihood"])
    assert best["selected"] and best["n_components"] == 3
    # The chosen configuration is refitted on all the rows.
    alone = fit_quietly(GaussianMixture(3, covariance_type=best["covariance_type"],
                                        random_state=4), X)
    assert_allclose(result.model.means_, alone.means_, rtol=1e-7)


def test_weighted_bic_is_the_bic_of_repeated_rows():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.standard_normal((80, 2)), rng.standard_normal((70, 2)) + [6, 3]])
    w = rng.randint(0, 4, len(X))
    Xr = np.repeat(X, w, axis=0)
    result = gmmc.select(X, n_components=[1, 2, 3], sample_weight=w, random_state=0,
                         keep_models=True, as_frame=False)
    for record in result.table:
        sk = sklearn_with_parameters(
            result.models[(record["n_components"], record["covariance_type"])])
        assert_allclose(record["bic"], sk.bic(Xr), rtol=1e-9)
        assert_allclose(record["aic"], sk.aic(Xr), rtol=1e-9)
    assert result.model.n_components == 2


def test_failed_candidates_are_reported():
    X = np.random.RandomState(0).standard_normal((6, 2))
    model, table = gmmc.select(X, n_components=[1, 2, 7], covariance_types=("full",),
                               random_state=0, as_frame=False)
    assert table[2]["error"] is not None and "7" in table[2]["error"]
    assert np.isnan(table[2]["criterion"]) and not table[2]["selected"]
    assert model.n_components in (1, 2)
    with pytest.raises(ValueError, match="no candidate"):
        gmmc.select(X, n_components=[7, 8])


def test_feature_names_verbose_and_no_warnings(capsys):
    df = pd.DataFrame(gmmc.load_faithful(), columns=["eruptions", "waiting"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # non-convergence goes to the table, not a warning
        model, table = gmmc.select(df, n_components=[1, 2], covariance_types=("diag",),
                                   max_iter=2, verbose=1, random_state=0)
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    assert not table["converged"].all()
    out = capsys.readouterr().out
    assert out.count("K=") == 2 and "diag" in out


@pytest.mark.parametrize("kwargs, match", [
    (dict(criterion="loglik"), "criterion"),
    (dict(covariance_types=("full", "bogus")), "covariance_types"),
    (dict(covariance_types=()), "covariance"),
    (dict(n_components=[]), "n_components"),
    (dict(n_components=[2, 2]), "repeated"),
    (dict(n_components=[0, 1]), "n_components"),
    (dict(holdout=1.5, criterion="holdout"), "holdout"),
    (dict(sample_weight=-np.ones(272)), "non-negative"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gmmc.select(gmmc.load_faithful(), **kwargs)


# -- criterion='cv' -----------------------------------------------------------------------

def hand_rolled_cv(X, w, folds, k, cov, random_state):
    """Mean over folds of the (weighted) mean held-out log-likelihood per sample,
    each fold's model a plain GaussianMixture fit on the other rows."""
    scores = []
    for train, test in folds:
        gm = fit_quietly(GaussianMixture(k, covariance_type=cov, random_state=random_state),
                         X[train], sample_weight=None if w is None else w[train])
        logp = gm.score_samples(X[test])
        scores.append(np.average(logp, weights=None if w is None else w[test]))
    return np.mean(scores), scores


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cv_is_the_mean_held_out_log_likelihood_of_a_k_fold_loop(weighted):
    from sklearn.model_selection import KFold

    X, _ = blobs(2, n_samples=300, centers=3, seed=5, cluster_std=1.2)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(X)) if weighted else None
    splitter = KFold(4, shuffle=True, random_state=0)
    folds = list(splitter.split(X))
    result = gmmc.select(X, n_components=[1, 2, 3, 4], covariance_types=("full", "diag"),
                         criterion="cv", cv=splitter, random_state=2, sample_weight=w,
                         as_frame=False)
    assert result.criterion == "cv"
    for record in result.table:
        mean, per_fold = hand_rolled_cv(X, w, folds, record["n_components"],
                                        record["covariance_type"], 2)
        assert_allclose(record["cv_log_likelihood"], mean, rtol=1e-6)
        assert_allclose(record["cv_fold_log_likelihoods"], per_fold, rtol=1e-6)
        assert_allclose(record["criterion"], -mean, rtol=1e-6)
    best = min(result.table, key=lambda r: r["criterion"])
    assert best["selected"] and sum(r["selected"] for r in result.table) == 1
    # The winner is refitted on all the data, as a plain fit would be.
    alone = fit_quietly(GaussianMixture(best["n_components"],
                                        covariance_type=best["covariance_type"],
                                        random_state=2), X, sample_weight=w)
    assert_allclose(result.model.means_, alone.means_, rtol=1e-7)


def test_cv_with_an_integer_makes_disjoint_covering_folds():
    X, _ = blobs(2, n_samples=101, centers=2, seed=6)
    result = gmmc.select(X, n_components=[1, 2], covariance_types="full", criterion="cv",
                         cv=5, random_state=0, as_frame=False)
    tests = [test for _, test in result.folds]
    assert len(tests) == 5
    assert_allclose(np.sort(np.concatenate(tests)), np.arange(len(X)))
    for train, test in result.folds:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(X)
    mean, _ = hand_rolled_cv(X, None, result.folds, 2, "full", 0)
    assert_allclose(result.table[1]["cv_log_likelihood"], mean, rtol=1e-6)


def test_cv_finds_well_separated_clusters():
    X, _ = blobs(2, n_samples=400, centers=4, seed=7, cluster_std=0.5)
    model, table = gmmc.select(X, n_components=range(1, 8), covariance_types="full",
                               criterion="cv", cv=5, random_state=0)
    assert model.n_components == 4
    assert table["cv_log_likelihood"].idxmax() == 3


@pytest.mark.parametrize("cv, match", [(1, "cv must be"), (0, "cv must be"),
                                       (1000, "cv=1000 folds"), ("five", "cv must be"),
                                       (2.5, "cv must be"), (True, "cv must be")])
def test_cv_rejects_bad_folds(cv, match):
    X, _ = blobs(2, n_samples=50, centers=2, seed=6)
    with pytest.raises((ValueError, TypeError), match=match):
        gmmc.select(X, n_components=[1], criterion="cv", cv=cv)


@pytest.mark.parametrize("criterion", ["bic", "cv"])
def test_select_with_missing_values(criterion):
    """nan_policy='marginalize': every candidate is the model a plain fit with
    missing values gives, scored on the observed values."""
    X, _ = blobs(3, n_samples=300, centers=3, seed=8, cluster_std=0.7)
    X[np.random.RandomState(0).uniform(size=X.shape) < 0.1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gmmc.select(X, n_components=[1, 2])
    result = gmmc.select(X, n_components=[1, 2, 3, 4], covariance_types=("full", "diag"),
                         criterion=criterion, random_state=0, nan_policy="marginalize",
                         cv=3, as_frame=False)
    assert result.model.n_components == 3
    assert np.isnan(result.model.means_).sum() == 0
    for record in result.table:
        alone = fit_quietly(GaussianMixture(record["n_components"],
                                            covariance_type=record["covariance_type"],
                                            random_state=0, nan_policy="marginalize"), X)
        if criterion == "bic":
            assert_allclose(record["bic"], alone.bic(X), rtol=1e-6)
        else:
            assert np.isfinite(record["cv_log_likelihood"])
