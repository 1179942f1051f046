"""gmmc: fast Gaussian mixture models, a drop-in backend for scikit-learn's GaussianMixture."""
from ._version import __version__
from .bayesian import BayesianGaussianMixture
from .datasets import load_faithful
from .exceptions import ConvergenceWarning, NotFittedError
from .impute import GaussianMixtureImputer
from .io import load
from .mixture import GaussianMixture
from ._patch import patch_sklearn, unpatch_sklearn
from .selection import select
from ._stats import SufficientStatistics
from ._sources import RowBlocks

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "GaussianMixtureImputer",
           "ConvergenceWarning",
           "NotFittedError", "load_faithful", "load", "select", "patch_sklearn",
           "unpatch_sklearn", "SufficientStatistics", "RowBlocks", "__version__"]
