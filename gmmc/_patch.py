"""Make scikit-learn's ``GaussianMixture`` name gmmc's class.

After ``gmmc.patch_sklearn()``, code that does
``from sklearn.mixture import GaussianMixture`` (or uses
``sklearn.mixture.GaussianMixture``) gets :class:`gmmc.GaussianMixture`,
which takes the same parameters and has the same methods and fitted
attributes. ``gmmc.unpatch_sklearn()`` restores scikit-learn's class.

Only the public ``sklearn.mixture`` namespace is patched, and only names looked
up after the call see the change: a module that imported the class before
``patch_sklearn()`` keeps scikit-learn's.
"""
import importlib
import sys

_PATCHED = (("sklearn.mixture", "GaussianMixture"),)
_originals = {}


def patch_sklearn():
    """Make ``sklearn.mixture.GaussianMixture`` name gmmc's class.

    Imports scikit-learn (it must be installed). Calling it twice is harmless.
    Only names looked up after the call see gmmc's class: a module that
    imported scikit-learn's ``GaussianMixture`` earlier keeps it.

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
    from .mixture import GaussianMixture

    for module_name, name in _PATCHED:
        module = importlib.import_module(module_name)
        current = getattr(module, name)
        if current is not GaussianMixture:
            _originals.setdefault((module_name, name), current)
            setattr(module, name, GaussianMixture)


def unpatch_sklearn():
    """Restore scikit-learn's own ``GaussianMixture`` after :func:`patch_sklearn`.

    Does nothing when scikit-learn is not patched.

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
    for (module_name, name), original in list(_originals.items()):
        setattr(importlib.import_module(module_name), name, original)
        del _originals[(module_name, name)]


def sklearn_is_patched():
    """Whether ``sklearn.mixture.GaussianMixture`` is currently gmmc's class."""
    from .mixture import GaussianMixture

    module = sys.modules.get("sklearn.mixture")
    return getattr(module, "GaussianMixture", None) is GaussianMixture
