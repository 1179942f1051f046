"""Make scikit-learn's mixture classes name gmmc's.

After ``gmmc.patch_sklearn()``, ``sklearn.mixture.GaussianMixture`` and
``sklearn.mixture.BayesianGaussianMixture`` are gmmc's classes, which take the
same parameters and have the same methods and fitted attributes, and so is
every reference to scikit-learn's classes that an already-imported module
holds (libraries that did ``from sklearn.mixture import GaussianMixture`` at
import time). ``gmmc.unpatch_sklearn()`` restores exactly what was changed.
"""
import importlib
import sys

_CLASSES = ("GaussianMixture", "BayesianGaussianMixture")
_rebound = []  # (module, attribute, scikit-learn's class) changed by patch_sklearn


def _replacements():
    """{scikit-learn's class: gmmc's class}."""
    from . import bayesian, mixture

    sklearn_mixture = importlib.import_module("sklearn.mixture")
    ours = {"GaussianMixture": mixture.GaussianMixture,
            "BayesianGaussianMixture": bayesian.BayesianGaussianMixture}
    return {getattr(sklearn_mixture, name): ours[name] for name in _CLASSES
            if getattr(sklearn_mixture, name) is not ours[name]}


def patch_sklearn():
    """Make scikit-learn's ``GaussianMixture`` and ``BayesianGaussianMixture`` gmmc's.

    Imports scikit-learn (it must be installed). Calling it twice is harmless.
    Every reference to scikit-learn's two classes held by an imported module
    is rebound, ``sklearn.mixture``'s and those of libraries that imported
    the classes earlier; modules imported later see ``sklearn.mixture``'s.

    Raises
    ------
    ModuleNotFoundError
        When scikit-learn is not installed.

    See Also
    --------
    unpatch_sklearn : Restore scikit-learn's class.

    Examples
    --------
    >>> import sklearn.mixture
    >>> import gmmc
    >>> gmmc.patch_sklearn()
    >>> sklearn.mixture.GaussianMixture is gmmc.GaussianMixture
    True
    >>> gmmc.unpatch_sklearn()
    >>> sklearn.mixture.GaussianMixture is gmmc.GaussianMixture
    False
    """
    replacements = _replacements()
    if not replacements:  # already patched
        return
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attribute, value in list(namespace.items()):
            try:
                ours = replacements.get(value)
            except TypeError:  # an unhashable value
                continue
            if ours is not None:
                _rebound.append((module, attribute, value))
                setattr(module, attribute, ours)


def unpatch_sklearn():
    """Restore scikit-learn's own classes after :func:`patch_sklearn`.

    Puts back exactly the references it changed; does nothing when
    scikit-learn is not patched.

    See Also
    --------
    patch_sklearn : Make scikit-learn use gmmc's class.

    Examples
    --------
    >>> import sklearn.mixture
    >>> import gmmc
    >>> gmmc.patch_sklearn()
    >>> gmmc.unpatch_sklearn()
    >>> sklearn.mixture.GaussianMixture is gmmc.GaussianMixture
    False
    """
    while _rebound:
        module, attribute, original = _rebound.pop()
        setattr(module, attribute, original)


def sklearn_is_patched():
    """Whether ``sklearn.mixture.GaussianMixture`` is currently gmmc's class."""
    from .mixture import GaussianMixture

    module = sys.modules.get("sklearn.mixture")
    return getattr(module, "GaussianMixture", None) is GaussianMixture
