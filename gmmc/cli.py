"""Command line interface: ``gmmc demo`` (also ``python -m gmmc demo``)."""
import argparse
import sys

import numpy as np

from . import __version__
from .datasets import load_faithful
from .mixture import GaussianMixture


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
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="gmmc", description="Fast Gaussian mixture models.")
    parser.add_argument("--version", action="version", version=f"gmmc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit a mixture on the built-in Old Faithful data")
    demo.add_argument("-k", "--n-components", type=int, default=2)
    demo.add_argument("--covariance-type", default="full",
                      choices=["full", "tied", "diag", "spherical"])
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"gmmc: error: {exc}", file=sys.stderr)
        return 2
