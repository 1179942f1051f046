"""gmmc: fast Gaussian mixture models, a drop-in backend for scikit-learn's GaussianMixture."""
__version__ = "0.1.0"

from .datasets import load_faithful
from .exceptions import ConvergenceWarning, NotFittedError
from .mixture import GaussianMixture

__all__ = ["GaussianMixture", "ConvergenceWarning", "NotFittedError", "load_faithful",
           "__version__"]
