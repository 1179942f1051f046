"""GaussianMixtureImputer against scikit-learn's imputers on scikit-learn's data.

For wine (178 x 13), breast cancer (569 x 30) and digits (1797 x 64), 10 %
and 30 % of the entries are removed completely at random (no row left
empty; one seed). Every imputer sees the same data, standardised with the
mean and standard deviation of the observed entries of each feature
(constant features keep scale 1), and the table gives the RMSE on the removed
entries in those units, and the fit_transform time:

- mean: SimpleImputer (baseline);
- knn: KNNImputer(n_neighbors=5);
- iterative: IterativeImputer(max_iter=10, random_state=0) (BayesianRidge);
- gmm K: GaussianMixtureImputer(K, covariance_type='full', reg_covar=0.05,
  n_init=2, random_state=0) for K = 1 and 3.

    python benchmarks/bench_impute.py
"""
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

import gmmc


def remove(X, fraction, seed=0):
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < fraction
    holes[holes.all(axis=1), 0] = False
    X = X.copy()
    X[holes] = np.nan
    return X, holes


def imputers():
    yield "mean", SimpleImputer()
    yield "knn", KNNImputer(n_neighbors=5)
    yield "iterative", IterativeImputer(max_iter=10, random_state=0)
    for k in (1, 3):
        yield f"gmm {k}", gmmc.GaussianMixtureImputer(k, reg_covar=0.05, n_init=2,
                                                      random_state=0)


def main():
    datasets = {"wine": load_wine().data, "breast cancer": load_breast_cancer().data,
                "digits": load_digits().data}
    names = [name for name, _ in imputers()]
    print("RMSE on the removed entries (standardised units) / fit_transform time")
    print("| data | removed | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for data_name, X in datasets.items():
        for fraction in (0.1, 0.3):
            Xm, holes = remove(X.astype(np.float64), fraction)
            center = np.nanmean(Xm, axis=0)
            scale = np.nanstd(Xm, axis=0)
            scale[scale == 0] = 1.0
            Z, truth = (Xm - center) / scale, (X - center) / scale
            cells = []
            for name, imputer in imputers():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    filled = imputer.fit_transform(Z)
                    seconds = time.perf_counter() - t
                if filled.shape != Z.shape:  # an imputer dropped an empty feature
                    cells.append("n/a")
                    continue
                rmse = np.sqrt(np.mean((filled[holes] - truth[holes]) ** 2))
                cells.append(f"{rmse:.3f} / {seconds:.2f} s")
            print(f"| {data_name} | {fraction:.0%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
