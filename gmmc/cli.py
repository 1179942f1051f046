"""Command line interface: ``gmmc fit | select | predict | demo`` (also ``python -m gmmc``).

Data files are ``.npy`` arrays (2-D, or 1-D for a single feature) or text
tables (CSV and the like; ``-`` reads standard input):

- the delimiter is a comma, else a tab, else a semicolon, else whitespace,
  whichever the first data line contains (``--delimiter`` forces one);
- blank lines and lines starting with ``#`` are skipped;
- header (``--header auto``, the default): the first row is a header of column
  names when *none* of its fields is a number, and data when all are; a row
  mixing both is an error (say ``--header yes`` or ``--header no``);
- every data field must be a finite number in plain decimal notation (``12``,
  ``-0.5``, ``3e-4``): anything else (text, an empty field, ``nan``, ``inf``,
  ``1_000``) or a row of the wrong length is an error naming its line and column.

An output (``-o``, ``--plot``) that is an input, or a link to one, or whose
folder does not exist, is refused before any work: no input is overwritten.
"""
import argparse
import csv
import io
import math
import os
import re
import sys
import time
import warnings

import numpy as np

from ._version import __version__
from .datasets import load_faithful
from .exceptions import ConvergenceWarning
from .mixture import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]
MAX_SHOWN_FEATURES = 8


class CLIError(ValueError):
    """An error in the user's input, reported as ``gmmc: error: ...``."""


# -- reading data ----------------------------------------------------------------

# A decimal number, inf or nan, in ASCII: float() alone would also take "1_000"
# and digits of other scripts.
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf(?:inity)?|nan)",
                     re.ASCII | re.IGNORECASE)


def _parse_number(field):
    return float(field) if _NUMBER.fullmatch(field) else None


def _split_rows(lines, delimiter):
    """(line number, fields) for each data line."""
    if delimiter is None:
        for number, line in lines:
            yield number, line.split()
    else:
        for number, line in lines:
            yield number, next(csv.reader([line], delimiter=delimiter))


def _guess_delimiter(line):
    for candidate in (",", "\t", ";"):
        if candidate in line:
            return candidate
    return None


def parse_table(text, source="<data>", header="auto", delimiter=None):
    """Parse a text table into (float64 array, column names or None)."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CLIError(f"{source}: no data")
    if delimiter is None:
        delimiter = _guess_delimiter(lines[0][1])
    elif delimiter in ("\\t", "tab"):
        delimiter = "\t"
    elif delimiter in ("space", "whitespace", " "):
        delimiter = None
    rows = _split_rows(lines, delimiter)
    first_number, first = next(rows)
    first = [f.strip() for f in first]
    names = None
    if header == "yes":
        names = first
    elif header == "auto":
        parsed = [_parse_number(f) for f in first]
        if all(p is None for p in parsed):
            names = first
        elif any(p is None for p in parsed):
            column = next(i for i, p in enumerate(parsed) if p is None) + 1
            raise CLIError(
                f"{source}: line {first_number}, column {column}: {first[column - 1]!r} is "
                "not a number, but other fields of this first row are; if it is a header "
                "row, pass --header yes, else fix the value")
    if names is not None:
        if len(set(names)) != len(names):
            raise CLIError(f"{source}: line {first_number}: repeated column names in the "
                           f"header {names}")
        data_rows = rows
    else:
        data_rows = _chain_first((first_number, first), rows)
    n_columns = None if names is None else len(names)
    values = []
    for number, fields in data_rows:
        if n_columns is None:
            n_columns = len(fields)
        if len(fields) != n_columns:
            raise CLIError(f"{source}: line {number} has {len(fields)} fields, expected "
                           f"{n_columns}")
        row = []
        for column, field in enumerate(fields, start=1):
            field = field.strip()
            if not field:
                raise CLIError(f"{source}: line {number}, column {column}: empty value")
            value = _parse_number(field)
            if value is None:
                raise CLIError(f"{source}: line {number}, column {column}: {field!r} is not "
                               "a number")
            if not math.isfinite(value):
                raise CLIError(f"{source}: line {number}, column {column}: {field!r} is not "
                               "a finite number")
            row.append(value)
        values.append(row)
    if not values:
        raise CLIError(f"{source}: a header but no data rows")
    return np.array(values, dtype=np.float64), names


def _chain_first(first, rest):
    yield first
    yield from rest


def read_data(path, header="auto", delimiter=None, columns=None):
    """(X, column names or None) from a .npy file, a text table, or '-' (stdin)."""
    if path == "-":
        text = sys.stdin.read().removeprefix("\ufeff")  # as utf-8-sig does for files
        X, names = parse_table(text, "<stdin>", header, delimiter)
    elif not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    elif os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a data file")
    elif path.endswith(".npy"):
        try:
            X = np.load(path, allow_pickle=False)
        except (ValueError, EOFError) as exc:  # EOFError: an empty file
            raise CLIError(f"{path}: not a readable .npy array ({exc})") from None
        if X.dtype.kind not in "fiub":
            raise CLIError(f"{path}: the array is not numeric (dtype {X.dtype})")
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise CLIError(f"{path}: expected a 2-D array, got shape {X.shape}")
        X = X.astype(np.float64) if X.dtype.kind != "f" else X
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            raise CLIError(f"{path}: row {bad[0][0]}, column {bad[0][1]}: "
                           f"{X[tuple(bad[0])]} is not a finite number")
        names = None
    else:
        try:
            with open(path, encoding="utf-8-sig") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise CLIError(f"{path}: not a text file (expected CSV or .npy)") from None
        X, names = parse_table(text, path, header, delimiter)
    if columns:
        X, names = _select_columns(X, names, columns, path)
    return X, names


def _select_columns(X, names, spec, source):
    picked = []
    for item in spec.split(","):
        item = item.strip()
        if names is not None and item in names:
            picked.append(names.index(item))
            continue
        try:
            index = int(item)
        except ValueError:
            raise CLIError(f"{source}: no column named {item!r}"
                           + (f"; columns are {names}" if names else "")) from None
        if not -X.shape[1] <= index < X.shape[1]:
            raise CLIError(f"{source}: column index {index} out of range for "
                           f"{X.shape[1]} columns")
        picked.append(index % X.shape[1])
    return X[:, picked], None if names is None else [names[i] for i in picked]


def parse_components(spec):
    """'3' -> [3]; '1:10' -> 1..10 (inclusive); '2,4,8' -> [2, 4, 8]."""
    try:
        if ":" in spec:
            low, high = (int(part) for part in spec.split(":"))
            values = list(range(low, high + 1))
        else:
            values = [int(part) for part in spec.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected K, LOW:HIGH or K1,K2,... with integers, got {spec!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"numbers of components must be >= 1, got {spec!r}")
    return values


def _covariance_list(spec):
    values = [v.strip() for v in spec.split(",")]
    for v in values:
        if v not in COVARIANCE_TYPES:
            raise argparse.ArgumentTypeError(
                f"unknown covariance type {v!r}; choose among {','.join(COVARIANCE_TYPES)}")
    return values


# -- printing --------------------------------------------------------------------

def _names_for(model, names, n_features):
    if names is not None:
        return list(names)
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        return [str(n) for n in fitted]
    return [f"x{j}" for j in range(n_features)]


def _print_parameters(model, names):
    n_features = model.means_.shape[1]
    names = _names_for(model, names, n_features)
    shown = min(n_features, MAX_SHOWN_FEATURES)
    width = max(10, *(len(n) + 2 for n in names[:shown]))
    head = "  component  weight" + "".join(f"{n:>{width}}" for n in names[:shown])
    print(head + ("  ..." if shown < n_features else ""))
    for k in range(len(model.weights_)):
        means = "".join(f"{v:>{width}.4g}" for v in model.means_[k, :shown])
        print(f"  {k:>9d}  {model.weights_[k]:6.3f}{means}"
              + ("  ..." if shown < n_features else ""))


def _source_line(path, X, names):
    what = f"{X.shape[0]} samples, {X.shape[1]} features"
    if names is not None and X.shape[1] <= MAX_SHOWN_FEATURES:
        what += ": " + ", ".join(names)
    return f"{path} ({what})"


def _save_plot(ax, path):
    ax.figure.savefig(path, dpi=100)
    print(f"plot written to {path}")


# -- commands --------------------------------------------------------------------

def _model_from_args(args, k, random_state):
    return GaussianMixture(n_components=k, covariance_type=args.covariance_type,
                           tol=args.tol, reg_covar=args.reg_covar, max_iter=args.max_iter,
                           n_init=args.n_init, init_params=args.init_params,
                           random_state=random_state, n_threads=args.n_threads)


def fit_with_progress(model, X, out=None):
    """Fit ``model`` as ``model.fit(X)`` does, printing the lower bound at every iteration.

    Each start is initialised by a ``max_iter=0`` fit and then advanced one EM
    iteration at a time with ``warm_start``; the starts draw from one random
    generator in turn, as ``fit`` does, so the result is the same model.
    """
    out = sys.stdout if out is None else out
    params = model.get_params()
    rng = np.random.RandomState(params["random_state"]) if isinstance(
        params["random_state"], (int, np.integer)) else params["random_state"]
    best = None
    for init in range(params["n_init"]):
        start = time.perf_counter()
        current = GaussianMixture(**{**params, "n_init": 1, "max_iter": 0,
                                     "random_state": rng, "verbose": 0})
        current.fit(X)
        current.set_params(warm_start=True, max_iter=1)
        print(f"initialisation {init + 1}/{params['n_init']}", file=out, flush=True)
        converged, n_iter, bounds = False, 0, []
        for n_iter in range(1, params["max_iter"] + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                current.fit(X)
            bounds.append(current.lower_bound_)
            change = f"  change {bounds[-1] - bounds[-2]:.3e}" if len(bounds) > 1 else ""
            print(f"  iteration {n_iter:4d}  lower bound {current.lower_bound_:.6f}{change}",
                  file=out, flush=True)
            if current.converged_:
                converged = True
                break
        print(f"  {'converged' if converged else 'did not converge'} after {n_iter} "
              f"iterations ({time.perf_counter() - start:.2f}s)", file=out, flush=True)
        current.converged_, current.n_iter_, current.lower_bounds_ = converged, n_iter, bounds
        if best is None or current.lower_bound_ > best.lower_bound_:
            best = current
    best.set_params(**{name: params[name] for name in ("warm_start", "max_iter", "n_init",
                                                       "random_state", "verbose")})
    if not best.converged_ and params["max_iter"] > 0:
        warnings.warn("Best performing initialization did not converge. Try different "
                      "init parameters, or increase max_iter, tol, or check for "
                      "degenerate data.", ConvergenceWarning)
    return best


def _fit(args):
    X, names = read_data(args.data, args.header, args.delimiter, args.columns)
    model = _model_from_args(args, args.n_components, args.random_state)
    print(f"gmmc {__version__}: {args.n_components}-component {args.covariance_type} "
          f"Gaussian mixture on {_source_line(args.data, X, names)}", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if args.verbose:
            model = fit_with_progress(model, X)
        else:
            model.fit(X)
    print(f"converged: {model.converged_} after {model.n_iter_} EM iterations"
          + (f" (best of {args.n_init} initialisations)" if args.n_init > 1 else ""))
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        print("warning: EM did not converge; increase --max-iter or --tol",
              file=sys.stderr)
    _print_parameters(model, names)
    loglik = model.score(X)
    print(f"log-likelihood: {loglik * X.shape[0]:.4f} (mean {loglik:.4f} per sample)")
    print(f"BIC: {model.bic(X):.2f}   AIC: {model.aic(X):.2f}")
    if args.output:
        model.save(args.output)
        print(f"model saved to {args.output}")
    if args.plot:
        from . import plot
        _save_plot(plot.ellipses(model, X), args.plot)
    return 0


def _format_table(table, criterion):
    records = table.to_dict("records") if hasattr(table, "to_dict") else table
    holdout, cv = criterion == "holdout", criterion == "cv"
    # Cross-validation has no single fit whose log-likelihood, BIC or AIC to show.
    scores = (f"{'cv mean':>10} {'fold min':>10} {'fold max':>10}" if cv else
              f"{'log-lik':>11} {'BIC':>10} {'AIC':>10}"
              + (f" {'holdout':>10}" if holdout else ""))
    head = f"  {'K':>3}  {'covariance':<10} {'params':>6} {scores}  converged"
    lines = [head]
    for r in records:
        mark = "*" if r["selected"] else " "
        start = f"{mark} {r['n_components']:>3}  {r['covariance_type']:<10} {r['n_parameters']:>6}"
        if r["error"] is not None:
            lines.append(f"{start}  failed: {r['error']}")
            continue
        if cv:
            folds = r["cv_fold_log_likelihoods"]
            line = (f"{start} {r['cv_log_likelihood']:>10.4f} {min(folds):>10.4f} "
                    f"{max(folds):>10.4f}")
        else:
            line = (f"{start} {r['log_likelihood']:>11.2f} {r['bic']:>10.2f} "
                    f"{r['aic']:>10.2f}"
                    + (f" {r['holdout_log_likelihood']:>10.4f}" if holdout else ""))
        lines.append(line + f"  {'yes' if r['converged'] else 'NO'}")
    return "\n".join(lines)


def _select(args):
    from .selection import select

    X, names = read_data(args.data, args.header, args.delimiter, args.columns)
    label = {"bic": "BIC", "aic": "AIC",
             "holdout": f"held-out log-likelihood ({args.holdout:g} of the rows)",
             "cv": f"{args.folds}-fold cross-validated log-likelihood"}
    print(f"gmmc {__version__}: model selection on {_source_line(args.data, X, names)}; "
          f"criterion: {label[args.criterion]}", flush=True)
    result = select(X, n_components=args.n_components,
                    covariance_types=args.covariance_types, criterion=args.criterion,
                    n_init=args.n_init, random_state=args.random_state,
                    init_params=args.init_params, tol=args.tol, reg_covar=args.reg_covar,
                    max_iter=args.max_iter, holdout=args.holdout, cv=args.folds,
                    n_threads=args.n_threads, as_frame=False, verbose=args.verbose)
    print(_format_table(result.table, args.criterion))
    best = next(r for r in result.table if r["selected"])
    if args.criterion == "holdout":
        value = f"held-out log-likelihood {best['holdout_log_likelihood']:.4f} per sample"
    elif args.criterion == "cv":
        value = (f"cross-validated log-likelihood {best['cv_log_likelihood']:.4f} per "
                 "sample")
    else:
        value = f"{args.criterion.upper()} {best[args.criterion]:.2f}"
    print(f"selected (*): {best['n_components']} components, {best['covariance_type']} "
          f"covariance ({value})")
    if args.output:
        result.model.save(args.output)
        print(f"model saved to {args.output}")
    if args.plot:
        from . import plot
        _save_plot(plot.selection(result.table), args.plot)
    return 0


def _predict(args):
    from .io import load

    model = load(args.model)
    X, _ = read_data(args.data, args.header, args.delimiter, args.columns)
    proba = model.predict_proba(X)
    labels = proba.argmax(axis=1)
    buffer = io.StringIO()
    columns = ["label"] if args.no_proba else ["label"] + [
        f"proba_{k}" for k in range(proba.shape[1])]
    if args.log_density:
        columns.append("log_density")
        log_density = model.score_samples(X)
    buffer.write(",".join(columns) + "\n")
    for n in range(X.shape[0]):
        fields = [str(labels[n])]
        if not args.no_proba:
            fields += [f"{p:.6g}" for p in proba[n]]
        if args.log_density:
            fields.append(f"{log_density[n]:.6g}")
        buffer.write(",".join(fields) + "\n")
    if args.output:
        with open(args.output, "w") as f:
            f.write(buffer.getvalue())
        counts = np.bincount(labels, minlength=proba.shape[1])
        print(f"wrote {X.shape[0]} rows to {args.output}; samples per component: "
              + ", ".join(f"{k}: {c}" for k, c in enumerate(counts)))
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


def _demo(args):
    X = load_faithful()
    model = GaussianMixture(n_components=args.n_components,
                            covariance_type=args.covariance_type,
                            n_init=5, random_state=args.random_state).fit(X)
    print(f"gmmc {__version__}: {args.n_components}-component {args.covariance_type} "
          f"Gaussian mixture on Old Faithful ({X.shape[0]} eruptions; "
          "columns: eruption duration [min], waiting time [min])")
    print(f"converged: {model.converged_} after {model.n_iter_} EM iterations")
    order = np.argsort(model.means_[:, 0])
    with np.printoptions(precision=3, suppress=True):
        for k in order:
            print(f"  component {k}: weight {model.weights_[k]:.3f}  mean {model.means_[k]}")
    print(f"mean log-likelihood: {model.score(X):.4f}")
    print(f"BIC: {model.bic(X):.2f}   AIC: {model.aic(X):.2f}")
    if args.plot:
        from . import plot
        ax = plot.ellipses(model, X, title=f"Old Faithful: {args.n_components}-component "
                                           f"{args.covariance_type} mixture")
        ax.set_xlabel("eruption duration [min]")
        ax.set_ylabel("waiting time [min]")
        _save_plot(ax, args.plot)
    return 0


# -- argument parsing -----------------------------------------------------------

DATA_HELP = ("data file: .npy array, or a CSV/TSV/whitespace table ('-' for stdin); a "
             "first row of column names is detected and skipped")

EPILOG = """examples:
  gmmc fit data.csv -k 3 --covariance-type full -o model.npz
  gmmc select data.csv -k 1:10
  gmmc predict model.npz data.csv -o labels.csv
  gmmc demo --plot faithful.png
"""


def _add_data_options(parser):
    parser.add_argument("--header", choices=["auto", "yes", "no"], default="auto",
                        help="is the first row of a text table a header of column names? "
                             "auto (default): yes when none of its fields is a number")
    parser.add_argument("--delimiter", default=None,
                        help="field separator of a text table (default: a comma, tab or "
                             "semicolon if the first line has one, else whitespace)")
    parser.add_argument("--columns", default=None,
                        help="comma-separated columns to use, by 0-based index or header "
                             "name (default: all)")


def _add_fit_options(parser, covariance=True):
    if covariance:
        parser.add_argument("--covariance-type", default="full", choices=COVARIANCE_TYPES,
                            help="covariance structure (default: full)")
    parser.add_argument("--n-init", type=int, default=1,
                        help="initialisations per model; the best is kept (default: 1)")
    parser.add_argument("--init-params", default="kmeans", choices=INIT_PARAMS,
                        help="initialisation method (default: kmeans)")
    parser.add_argument("--max-iter", type=int, default=100,
                        help="maximum EM iterations (default: 100)")
    parser.add_argument("--tol", type=float, default=1e-3,
                        help="convergence threshold on the lower bound (default: 1e-3)")
    parser.add_argument("--reg-covar", type=float, default=1e-6,
                        help="added to covariance diagonals (default: 1e-6)")
    parser.add_argument("--random-state", type=int, default=0,
                        help="seed of the initialisation (default: 0)")
    parser.add_argument("--n-threads", type=int, default=None,
                        help="threads for the kernels (default: all available)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show progress (fit: the lower bound at every EM iteration; "
                             "select: each fitted candidate)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gmmc", description="Fast Gaussian mixture models.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gmmc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit", help="fit a mixture to a data file, print it, optionally save it",
        description="Fit a Gaussian mixture by EM; print the weights, means, "
                    "log-likelihood, BIC and AIC.")
    fit.add_argument("data", help=DATA_HELP)
    fit.add_argument("-k", "--n-components", type=int, default=1,
                     help="number of components (default: 1)")
    _add_fit_options(fit)
    fit.add_argument("-o", "--output", help="save the fitted model to this .npz file")
    fit.add_argument("--plot", metavar="PNG", help="write a plot of the components "
                                                   "(first two features; needs matplotlib)")
    _add_data_options(fit)
    fit.set_defaults(run=_fit)

    select = commands.add_parser(
        "select", help="fit a grid of mixtures and pick the best by BIC, AIC or holdout",
        description="Fit every number of components and covariance type, print the "
                    "table of criteria and the selected model.")
    select.add_argument("data", help=DATA_HELP)
    select.add_argument("-k", "--n-components", type=parse_components,
                        default=list(range(1, 11)), metavar="K|LOW:HIGH|K1,K2,...",
                        help="numbers of components to try (LOW:HIGH inclusive; "
                             "default: 1:10)")
    select.add_argument("--covariance-types", type=_covariance_list,
                        default=list(COVARIANCE_TYPES), metavar="TYPE,...",
                        help="covariance types to try (default: full,tied,diag,spherical)")
    select.add_argument("--criterion", choices=["bic", "aic", "holdout", "cv"],
                        default="bic",
                        help="bic (default), aic, holdout: the log-likelihood of a "
                             "random share of the rows held out of the fit, or cv: the "
                             "mean held-out log-likelihood of K-fold cross-validation")
    select.add_argument("--holdout", type=float, default=0.25,
                        help="share of the rows held out by --criterion holdout "
                             "(default: 0.25)")
    select.add_argument("--folds", type=int, default=5,
                        help="number of folds of --criterion cv (default: 5)")
    _add_fit_options(select, covariance=False)
    select.add_argument("-o", "--output", help="save the selected model to this .npz file")
    select.add_argument("--plot", metavar="PNG",
                        help="write a plot of the criterion against K (needs matplotlib)")
    _add_data_options(select)
    select.set_defaults(run=_select)

    predict = commands.add_parser(
        "predict", help="label data with a saved model",
        description="Write, as CSV, the most probable component (label) of each row and "
                    "the probability of each component.")
    predict.add_argument("model", help="a model saved by 'gmmc fit -o' or 'gmmc select -o'")
    predict.add_argument("data", help=DATA_HELP)
    predict.add_argument("-o", "--output", help="write the CSV here (default: stdout)")
    predict.add_argument("--no-proba", action="store_true",
                         help="write the labels only")
    predict.add_argument("--log-density", action="store_true",
                         help="add a column with the log-density log p(x) of each row")
    _add_data_options(predict)
    predict.set_defaults(run=_predict)

    demo = commands.add_parser("demo", help="fit a mixture on the built-in Old Faithful data",
                               description="Fit a mixture to the Old Faithful eruptions "
                                           "(shipped with gmmc) and print it.")
    demo.add_argument("-k", "--n-components", type=int, default=2,
                      help="number of components (default: 2)")
    demo.add_argument("--covariance-type", default="full", choices=COVARIANCE_TYPES,
                      help="covariance structure (default: full)")
    demo.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    demo.add_argument("--plot", metavar="PNG",
                      help="also write a plot of the components (needs matplotlib)")
    demo.set_defaults(run=_demo)
    return parser


def _check_outputs(args):
    """Refuse, before any work, an output that would overwrite an input (or another
    output), also through a link, or whose folder does not exist."""
    inputs = [path for path in (getattr(args, "model", None), getattr(args, "data", None))
              if path is not None and path != "-"]
    outputs = [path for path in (getattr(args, "output", None), getattr(args, "plot", None))
               if path is not None]
    for n, path in enumerate(outputs):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise CLIError(f"{path}: no such folder {folder}")
        if os.path.isdir(path):
            raise CLIError(f"{path}: is a directory, not a file to write")
        for other in inputs + outputs[:n]:
            if _same_file(path, other):
                what = "input" if other in inputs else "other output"
                raise CLIError(f"{path}: would overwrite the {what} {other}; choose "
                               "another output file")


def _same_file(a, b):
    """The same file: one path, a symbolic or a hard link to the other."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        _check_outputs(args)
        if getattr(args, "plot", None):  # fail before a long fit, not after it
            from .plot import _matplotlib
            _matplotlib()
        return args.run(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"gmmc: error: {exc}", file=sys.stderr)
        return 2
