"""The base classes of gmmc's estimators: scikit-learn's when it is installed.

As LightGBM's and XGBoost's scikit-learn estimators do, gmmc's estimators
derive from ``sklearn.base.BaseEstimator`` and the mixin of their kind
(``DensityMixin`` for the mixtures, as scikit-learn's mixtures;
``TransformerMixin`` for the imputer, as scikit-learn's imputers) whenever
scikit-learn can be imported. ``get_params`` / ``set_params``, ``clone``, the
repr and the notebooks' HTML repr, estimator tags, ``set_output`` and
metadata routing (``set_fit_request(sample_weight=True)``) are then
scikit-learn's own. ``UNUSED`` marks a keyword argument that is not metadata
to route (scikit-learn's ``metadata_routing.UNUSED``).

Without scikit-learn the stand-ins below take their place, chosen once, at
import: the constructor-parameter protocol and a repr printed as
scikit-learn prints a short one, so gmmc imports and works on NumPy and SciPy
alone. They are the only copy of that protocol in gmmc.
"""
import inspect
import math
import numbers

__all__ = ["BaseEstimator", "DensityMixin", "TransformerMixin", "UNUSED"]


class FallbackEstimator:
    """``sklearn.base.BaseEstimator``'s parameter protocol, without scikit-learn.

    The parameters are the arguments of ``__init__``, which stores each
    unchanged under its own name.
    """

    @classmethod
    def _get_param_names(cls):
        """The names of the constructor's parameters, sorted, as scikit-learn."""
        if cls.__init__ is object.__init__:
            return []
        parameters = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in parameters
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Get the constructor parameters of this estimator.

        Parameters
        ----------
        deep : bool, default=True
            Accepted as scikit-learn's; gmmc's estimators hold no
            sub-estimators, so it changes nothing.

        Returns
        -------
        dict
            Parameter name to value, for every argument of ``__init__``.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters of this estimator.

        Fitted attributes are left as they are: refit to apply the change.

        Parameters
        ----------
        **params : dict
            New values, by constructor parameter name.

        Returns
        -------
        self : estimator instance
            The estimator itself.

        Raises
        ------
        ValueError
            For a name that is not a constructor parameter (scikit-learn's
            message).
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        """The class and the parameters that differ from their defaults, by
        name, as scikit-learn prints an estimator (on one line)."""
        defaults = {name: p.default
                    for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{name}={value!r}" for name, value in self.get_params(deep=False).items()
                   if _changed(value, defaults.get(name, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(changed)})"


class FallbackDensityMixin:
    """Stands for ``sklearn.base.DensityMixin`` without scikit-learn (the
    mixtures define ``score`` themselves)."""


class FallbackTransformerMixin:
    """Stands for ``sklearn.base.TransformerMixin`` without scikit-learn (the
    imputer defines ``fit_transform``; ``set_output`` needs scikit-learn)."""


def _changed(value, default):
    """scikit-learn's test of a parameter the repr shows: its repr differs
    from the default's, and they are not both NaN."""
    if default is inspect.Parameter.empty:
        return True
    return repr(value) != repr(default) and not (_is_nan(value) and _is_nan(default))


def _is_nan(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
            and math.isnan(value))


try:
    from sklearn.base import BaseEstimator, DensityMixin, TransformerMixin
    from sklearn.utils.metadata_routing import UNUSED
except ImportError:  # scikit-learn is not installed (or cannot be imported)
    UNUSED = None  # (no metadata routing without scikit-learn)
    BaseEstimator = FallbackEstimator
    DensityMixin = FallbackDensityMixin
    TransformerMixin = FallbackTransformerMixin
