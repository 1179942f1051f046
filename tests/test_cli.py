"""The command line: gmmc fit | select | predict | demo, data reading and errors.

Numbers printed or written by the CLI are checked against scikit-learn (fits
from its own initialisation, or its bic/score/predict_proba for the saved
parameters), not against gmmc's own output.
"""
import os
import re
import shutil
import subprocess
import sys
import warnings
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmc
from gmmc.cli import main

FAITHFUL = str(resources.files("gmmc").joinpath("data/faithful.csv"))
try:
    import matplotlib
    matplotlib.use("Agg")
    HAVE_MATPLOTLIB = True
except ImportError:  # the plot options are then checked to fail cleanly
    HAVE_MATPLOTLIB = False


@pytest.fixture
def faithful_csv(tmp_path):
    path = tmp_path / "faithful.csv"
    shutil.copy(FAITHFUL, path)
    return str(path)


@pytest.fixture(scope="module")
def faithful():
    return pd.read_csv(FAITHFUL).to_numpy()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def sklearn_with_parameters(model):
    sk = SkGaussianMixture(model.n_components, covariance_type=model.covariance_type)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(sk, name, getattr(model, name))
    return sk


def sorted_means(means):
    return means[np.argsort(means[:, 0])]


# -- fit -------------------------------------------------------------------------

def test_fit_prints_and_saves_the_model(capsys, faithful_csv, faithful, tmp_path):
    model_path = tmp_path / "model.npz"
    code, out, err = run(capsys, "fit", faithful_csv, "-k", 2, "--covariance-type", "full",
                         "-o", model_path)
    assert code == 0, err
    model = gmmc.load(model_path)
    sk_params = sklearn_with_parameters(model)
    # Printed numbers: scikit-learn's BIC/AIC/log-likelihood for the saved parameters.
    bic, aic = map(float, re.search(r"BIC: (\S+)\s+AIC: (\S+)", out).groups())
    assert_allclose(bic, sk_params.bic(faithful), atol=0.006)
    assert_allclose(aic, sk_params.aic(faithful), atol=0.006)
    total = float(re.search(r"log-likelihood: (\S+)", out).group(1))
    assert_allclose(total, sk_params.score(faithful) * len(faithful), atol=1e-4)
    assert "eruptions" in out and "waiting" in out  # header names
    rows = re.findall(r"^\s+(\d)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    assert len(rows) == 2
    printed = np.array([[float(v) for v in r[1:]] for r in rows])
    assert_allclose(printed[:, 0], model.weights_, atol=6e-4)
    assert_allclose(printed[:, 1:], model.means_, rtol=1e-3)
    # The fit itself: scikit-learn's own EM reaches the same two eruption types.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(2, n_init=3, random_state=0).fit(faithful)
    assert_allclose(sorted_means(model.means_), sorted_means(sk.means_), rtol=1e-3)
    assert "model saved to" in out


def test_fit_verbose_shows_each_iteration(capsys, faithful_csv, tmp_path):
    args = ["fit", faithful_csv, "-k", 3, "--covariance-type", "diag", "--n-init", 2,
            "--tol", 1e-6]
    code, quiet_out, _ = run(capsys, *args, "-o", tmp_path / "quiet.npz")
    code_v, out, err = run(capsys, *args, "--verbose", "-o", tmp_path / "verbose.npz")
    assert code == code_v == 0, err
    quiet, verbose = gmmc.load(tmp_path / "quiet.npz"), gmmc.load(tmp_path / "verbose.npz")
    for name in ("weights_", "means_", "covariances_"):
        assert_array_equal(getattr(verbose, name), getattr(quiet, name))
    assert verbose.n_iter_ == quiet.n_iter_ and verbose.lower_bounds_ == quiet.lower_bounds_
    blocks = out.split("initialisation ")[1:]
    assert len(blocks) == 2
    per_start = [[float(b) for b in re.findall(r"lower bound (\S+)", block)]
                 for block in blocks]
    for bounds in per_start:
        assert np.all(np.diff(bounds) >= -1e-9)  # EM never decreases the bound
    # One start printed exactly the bounds of the kept model.
    assert any(len(b) == quiet.n_iter_ and np.allclose(b, quiet.lower_bounds_, atol=1e-6)
               for b in per_start)
    # The rest of the output is that of the quiet run.
    assert out.splitlines()[-7:-1] == quiet_out.splitlines()[-7:-1]


def test_fit_npy_and_columns(capsys, faithful, tmp_path):
    np.save(tmp_path / "x.npy", faithful)
    np.save(tmp_path / "one.npy", faithful[:, 1])  # 1-D: a single feature
    code, out, _ = run(capsys, "fit", tmp_path / "x.npy", "-k", 2, "-o", tmp_path / "a.npz")
    assert code == 0 and "272 samples, 2 features" in out
    code, out, _ = run(capsys, "fit", tmp_path / "one.npy", "-k", 2)
    assert code == 0 and "2 features" not in out and "1 features" in out
    code, out, _ = run(capsys, "fit", FAITHFUL, "-k", 2, "--columns", "waiting",
                       "-o", tmp_path / "b.npz")
    assert code == 0
    by_name = gmmc.load(tmp_path / "b.npz")
    assert by_name.means_.shape == (2, 1)
    assert_allclose(np.sort(by_name.means_[:, 0]), [54.6, 80.1], atol=1.0)


# -- predict -------------------------------------------------------------------

def test_predict_writes_labels_and_probabilities(capsys, faithful_csv, faithful, tmp_path):
    model_path = tmp_path / "model.npz"
    assert run(capsys, "fit", faithful_csv, "-k", 2, "-o", model_path)[0] == 0
    model = gmmc.load(model_path)
    sk = sklearn_with_parameters(model)
    code, out, _ = run(capsys, "predict", model_path, faithful_csv)
    assert code == 0
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table.columns) == ["label", "proba_0", "proba_1"]
    assert_allclose(table[["proba_0", "proba_1"]], sk.predict_proba(faithful), atol=1e-6)
    assert_array_equal(table["label"], sk.predict(faithful))
    # To a file, labels only / with log-densities.
    out_path = tmp_path / "labels.csv"
    code, out, _ = run(capsys, "predict", model_path, faithful_csv, "-o", out_path,
                       "--log-density")
    assert code == 0 and "wrote 272 rows" in out
    written = pd.read_csv(out_path)
    assert_allclose(written["log_density"], sk.score_samples(faithful), rtol=1e-5)
    code, out, _ = run(capsys, "predict", model_path, faithful_csv, "--no-proba")
    assert out.splitlines()[0] == "label" and len(out.splitlines()) == 273


def test_predict_with_mismatched_data(capsys, faithful_csv, tmp_path):
    model_path = tmp_path / "model.npz"
    run(capsys, "fit", faithful_csv, "-k", 2, "-o", model_path)
    data = tmp_path / "three.csv"
    data.write_text("1,2,3\n4,5,6\n")
    code, _, err = run(capsys, "predict", model_path, data)
    assert code == 2 and "3 features" in err and "2 features" in err
    code, _, err = run(capsys, "predict", faithful_csv, faithful_csv)
    assert code == 2 and "not a gmmc model file" in err


# -- select ----------------------------------------------------------------------

def test_select_prints_the_table(capsys, faithful_csv, faithful, tmp_path):
    plot = ["--plot", tmp_path / "sel.png"] if HAVE_MATPLOTLIB else []
    code, out, err = run(capsys, "select", faithful_csv, "-k", "1:4", "-o",
                         tmp_path / "best.npz", *plot)
    assert code == 0, err
    rows = re.findall(r"^([* ])\s+(\d+)\s+(full|tied|diag|spherical)\s+(\d+)\s+(\S+)\s+(\S+)"
                      r"\s+(\S+)\s+(yes|NO)$", out, re.M)
    assert len(rows) == 16
    assert [(int(r[1]), r[2]) for r in rows] == [
        (k, c) for k in range(1, 5) for c in ("full", "tied", "diag", "spherical")]
    bics = np.array([float(r[5]) for r in rows])
    selected = [i for i, r in enumerate(rows) if r[0] == "*"]
    assert selected == [int(np.argmin(bics))]
    assert rows[selected[0]][1:3] == ("2", "full")
    best = gmmc.load(tmp_path / "best.npz")
    assert_allclose(sklearn_with_parameters(best).bic(faithful), bics[selected[0]],
                    atol=0.006)
    assert "selected (*): 2 components, full covariance" in out
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "sel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_by_cross_validation(capsys, faithful_csv):
    code, out, _ = run(capsys, "select", faithful_csv, "-k", "1:3", "--covariance-types",
                       "full", "--criterion", "cv", "--folds", 3, "--random-state", 0)
    assert code == 0 and "3-fold cross-validated log-likelihood" in out
    rows = re.findall(r"^([* ])\s+(\d+)\s+full\s+\d+\s+(\S+)", out, re.M)
    assert len(rows) == 3
    X = gmmc.load_faithful()
    result = gmmc.select(X, n_components=[1, 2, 3], covariance_types="full",
                         criterion="cv", cv=3, random_state=0, as_frame=False)
    for (mark, k, value), record in zip(rows, result.table):
        assert float(value) == pytest.approx(record["cv_log_likelihood"], abs=1e-4)
        assert (mark == "*") == record["selected"]
    code, _, err = run(capsys, "select", faithful_csv, "--criterion", "cv", "--folds", 1)
    assert code == 2 and "cv must be an integer >= 2" in err


def test_select_component_lists_and_criteria(capsys, faithful_csv):
    code, out, _ = run(capsys, "select", faithful_csv, "-k", "2,3", "--covariance-types",
                       "tied,diag", "--criterion", "holdout", "--random-state", 1)
    assert code == 0 and "holdout" in out
    assert len(re.findall(r"^[* ]\s+\d+\s+(tied|diag)", out, re.M)) == 4
    code, out, _ = run(capsys, "select", faithful_csv, "-k", "3", "--criterion", "aic",
                       "--verbose")
    assert code == 0 and "AIC" in out and out.count("K=3") == 4


@pytest.mark.parametrize("spec", ["0:3", "a:b", "3:x", ""])
def test_select_bad_component_spec(capsys, faithful_csv, spec):
    with pytest.raises(SystemExit) as exc:
        main(["select", faithful_csv, "-k", spec])
    assert exc.value.code == 2
    assert "-k" in capsys.readouterr().err


# -- demo ------------------------------------------------------------------------

def test_demo_output_format(capsys, faithful, tmp_path):
    plot = ["--plot", tmp_path / "demo.png"] if HAVE_MATPLOTLIB else []
    code, out, _ = run(capsys, "demo", *plot)
    assert code == 0
    lines = out.splitlines()
    assert re.fullmatch(r"gmmc \S+: 2-component full Gaussian mixture on Old Faithful "
                        r"\(272 eruptions; columns: eruption duration \[min\], waiting time "
                        r"\[min\]\)", lines[0])
    assert re.fullmatch(r"converged: True after \d+ EM iterations", lines[1])
    assert all(re.fullmatch(r"  component \d: weight 0\.\d{3}  mean \[.*\]", line)
               for line in lines[2:4])
    assert re.fullmatch(r"mean log-likelihood: -?\d+\.\d{4}", lines[4])
    bic = float(re.fullmatch(r"BIC: (\S+)   AIC: \S+", lines[5]).group(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(2, n_init=5, random_state=0).fit(faithful)
    assert abs(bic - sk.bic(faithful)) < 0.5
    if not HAVE_MATPLOTLIB:
        return
    assert lines[6] == f"plot written to {tmp_path / 'demo.png'}"
    png = (tmp_path / "demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.parametrize("command", [["demo"], ["fit", FAITHFUL, "-k", "2"],
                                     ["select", FAITHFUL, "-k", "1:2"]])
def test_plot_without_matplotlib_fails_before_fitting(capsys, monkeypatch, tmp_path,
                                                      command):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.patches"):
        monkeypatch.setitem(sys.modules, name, None)
    code, out, err = run(capsys, *command, "--plot", tmp_path / "p.png")
    assert code == 2 and out == ""
    assert "pip install 'gmmc[plot]'" in err
    assert not (tmp_path / "p.png").exists()


# -- data files and errors -------------------------------------------------------

def fit_file(capsys, path, *extra):
    return run(capsys, "fit", path, "-k", 1, *extra)


@pytest.mark.parametrize("text", [
    "1.0,2.0\n3.0,4.5\n5,6\n",                  # no header
    "a,b\n1.0,2.0\n3.0,4.5\n5,6\n",             # header
    "# comment\n\n1.0 2.0\n3.0   4.5\n5 6\n",   # whitespace, comments, blank lines
    "a\tb\n1.0\t2.0\n3.0\t4.5\n5\t6\n",         # tabs
    "x;y\n1.0;2.0\n3.0;4.5\n5;6\n",             # semicolons
    '"a","b"\n"1.0","2.0"\n3.0,4.5\n5,6\n',     # quoted fields
])
def test_text_formats(capsys, tmp_path, text):
    path = tmp_path / "d.txt"
    path.write_text(text)
    code, out, err = fit_file(capsys, path, "-o", tmp_path / "m.npz")
    assert code == 0, err
    assert "3 samples, 2 features" in out
    assert_allclose(gmmc.load(tmp_path / "m.npz").means_, [[3.0, 4.1666666666666]])


def test_stdin(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", pd.io.common.StringIO("v\n1\n2\n4\n"))
    code, out, _ = fit_file(capsys, "-", "-o", tmp_path / "m.npz")
    assert code == 0
    assert_allclose(gmmc.load(tmp_path / "m.npz").means_, [[7 / 3]])


@pytest.mark.parametrize("text, names, mean", [
    ("\ufeffv\n1\n2\n4\n", "1 features: v)", [7 / 3]),
    ("\ufeff1,2\n3,4\n5,7\n", "2 features)", [3, 13 / 3]),
])
def test_stdin_byte_order_mark_is_skipped(capsys, monkeypatch, tmp_path, text, names, mean):
    """As for files (read as utf-8-sig), a BOM is no part of the first field."""
    monkeypatch.setattr(sys, "stdin", pd.io.common.StringIO(text))
    code, out, err = fit_file(capsys, "-", "-o", tmp_path / "m.npz")
    assert code == 0, err
    assert names in out
    assert_allclose(gmmc.load(tmp_path / "m.npz").means_, [mean])


def test_number_forms(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x\n1e5\n-.5\n+3.\n1E-02\n")
    code, out, err = fit_file(capsys, path, "-o", tmp_path / "m.npz")
    assert code == 0, err
    assert_allclose(gmmc.load(tmp_path / "m.npz").means_, [[(1e5 - 0.5 + 3 + 0.01) / 4]])


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n3,abc\n", "line 3, column 2: 'abc' is not a number"),
    ("1,2\n3,\n", "line 2, column 2: empty value"),
    ("1,2\n3,nan\n", "line 2, column 2: 'nan' is not a finite number"),
    ("1,2\n3,inf\n", "line 2, column 2: 'inf' is not a finite number"),
    ("1,2\n3,4,5\n", "line 2 has 3 fields, expected 2"),
    ("a,b\n1,2\n\n3\n", "line 4 has 1 fields, expected 2"),
    ("a,1\n2,3\n", "line 1, column 1: 'a' is not a number"),
    ("a,b\n", "a header but no data rows"),
    ("# only a comment\n", "no data"),
    ("a,a\n1,2\n", "repeated column names"),
    ("1,2\n1_000,3\n", "line 2, column 1: '1_000' is not a number"),  # float() takes it
    ("1,2\n3,\uff14\n", "line 2, column 2: '\uff14' is not a number"),  # a full-width 4
])
def test_data_errors_name_line_and_column(capsys, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = fit_file(capsys, path)
    assert code == 2
    assert err.startswith("gmmc: error: ") and message in err, err
    assert str(path) in err


def test_header_option(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,1\n2,3\n4,5\n")
    code, out, _ = fit_file(capsys, path, "--header", "yes")
    assert code == 0 and "2 samples" in out
    code, _, err = fit_file(capsys, path, "--header", "no")
    assert code == 2 and "line 1, column 1" in err


def test_file_errors(capsys, tmp_path):
    code, _, err = fit_file(capsys, tmp_path / "missing.csv")
    assert code == 2 and "missing.csv: no such file" in err
    code, _, err = fit_file(capsys, tmp_path)
    assert code == 2 and "directory" in err
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = fit_file(capsys, tmp_path / "obj.npy")
    assert code == 2 and "obj.npy" in err
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
    code, _, err = fit_file(capsys, tmp_path / "nan.npy")
    assert code == 2 and "row 0, column 1" in err
    (tmp_path / "empty.npy").write_bytes(b"")
    code, _, err = fit_file(capsys, tmp_path / "empty.npy")
    assert code == 2 and "empty.npy" in err
    np.save(tmp_path / "cut.npy", np.ones((10, 2)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-8])
    code, _, err = fit_file(capsys, tmp_path / "cut.npy")
    assert code == 2 and "cut.npy" in err
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    code, _, err = fit_file(capsys, tmp_path / "bin.csv")
    assert code == 2 and "bin.csv" in err
    code, _, err = run(capsys, "fit", FAITHFUL, "-k", 300)
    assert code == 2 and "n_components" in err
    code, _, err = run(capsys, "fit", FAITHFUL, "--columns", "nope")
    assert code == 2 and "no column named 'nope'" in err


def test_truncated_model_is_a_clean_error(capsys, faithful_csv, tmp_path):
    model_path = tmp_path / "model.npz"
    assert run(capsys, "fit", faithful_csv, "-k", 2, "-o", model_path)[0] == 0
    model_path.write_bytes(model_path.read_bytes()[:1000])
    code, out, err = run(capsys, "predict", model_path, faithful_csv)
    assert code == 2 and out == ""
    assert err.startswith(f"gmmc: error: {model_path}: truncated or corrupt"), err


# -- outputs ---------------------------------------------------------------------

@pytest.fixture
def inputs(capsys, faithful_csv, tmp_path):
    """A data file, a model fitted on it, and links to the data."""
    model = tmp_path / "m.npz"
    assert run(capsys, "fit", faithful_csv, "-k", 2, "-o", model)[0] == 0
    os.symlink(faithful_csv, tmp_path / "symlink.csv")
    os.link(faithful_csv, tmp_path / "hardlink.csv")
    (tmp_path / "sub").mkdir()
    return {"data": faithful_csv, "model": str(model)}


@pytest.mark.parametrize("argv", [
    ["fit", "{data}", "-k", 2, "-o", "{data}"],
    ["fit", "{data}", "-k", 2, "-o", "{tmp}/symlink.csv"],
    ["fit", "{data}", "-k", 2, "-o", "{tmp}/hardlink.csv"],
    ["fit", "{tmp}/symlink.csv", "-k", 2, "-o", "{tmp}/hardlink.csv"],
    ["fit", "{data}", "-k", 2, "--plot", "{data}"],
    ["select", "{data}", "-k", "1:2", "-o", "{data}"],
    ["predict", "{model}", "{data}", "-o", "{data}"],
    ["predict", "{model}", "{data}", "-o", "{model}"],
    ["predict", "{model}", "{data}", "-o", "{tmp}/sub/../m.npz"],
    ["fit", "{data}", "-k", 2, "-o", "{tmp}/new.npz", "--plot", "{tmp}/new.npz"],
])
def test_an_output_is_never_an_input(capsys, inputs, tmp_path, argv):
    before = {path: open(path, "rb").read() for path in inputs.values()}
    argv = [str(a).format(tmp=tmp_path, **inputs) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "", (out, err)  # refused before any work
    assert err.startswith("gmmc: error: ") and "overwrite" in err, err
    assert {path: open(path, "rb").read() for path in inputs.values()} == before
    assert not (tmp_path / "new.npz").exists()


@pytest.mark.parametrize("argv, message", [
    (["fit", "{data}", "-k", 2, "-o", "{tmp}/missing/m.npz"], "no such folder"),
    (["fit", "{data}", "-k", 2, "--plot", "{tmp}/missing/p.png"], "no such folder"),
    (["select", "{data}", "-k", "1:2", "-o", "{tmp}/missing/m.npz"], "no such folder"),
    (["predict", "{model}", "{data}", "-o", "{tmp}/missing/labels.csv"], "no such folder"),
    (["fit", "{data}", "-k", 2, "-o", "{tmp}/sub"], "is a directory"),
])
def test_output_folder_is_checked_before_fitting(capsys, inputs, tmp_path, argv, message):
    argv = [str(a).format(tmp=tmp_path, **inputs) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "", (out, err)
    assert err.startswith("gmmc: error: ") and message in err, err


@pytest.mark.parametrize("command", [[], ["fit"], ["select"], ["predict"], ["demo"]])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main(command + ["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gmmc")
    if command in (["fit"], ["select"]):
        assert "--verbose" in out and "--header" in out and "--n-init" in out


def test_python_dash_m(tmp_path):
    """`python -m gmmc` runs the same CLI (the console script calls the same main)."""
    env = dict(os.environ,
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(gmmc.__file__))))
    result = subprocess.run([sys.executable, "-m", "gmmc", "demo", "-k", "2"],
                            capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Old Faithful" in result.stdout and "BIC:" in result.stdout
    result = subprocess.run([sys.executable, "-m", "gmmc", "fit", "missing.csv"],
                            capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 2 and "no such file" in result.stderr
