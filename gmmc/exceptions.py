"""Warnings and errors raised by gmmc.

scikit-learn is not a dependency, so these classes cannot subclass
``sklearn.exceptions.ConvergenceWarning`` / ``NotFittedError`` statically. When
scikit-learn *is* loaded, gmmc raises (warns) a subclass of both gmmc's class
and scikit-learn's class of the same name, built on first use, so code written
against scikit-learn (``except sklearn.exceptions.NotFittedError``, warning
filters on ``sklearn.exceptions.ConvergenceWarning``, ``check_estimator``)
catches gmmc's errors and warnings too, and gmmc's own classes still match.

Any filter or ``except`` clause naming scikit-learn's class has imported
``sklearn.exceptions`` by then, so looking it up in ``sys.modules`` at raise
time is enough (and where scikit-learn is installed, gmmc's estimators
derive from its base classes, gmmc._base, so it is loaded).
"""
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_stacklevel():
    """``warnings.warn``'s stacklevel that reports the warning at the first
    caller outside gmmc, whatever the depth of gmmc's own frames (decorators,
    the shared driver) between the user's call and the warning; for the
    function that calls this one."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


class ConvergenceWarning(UserWarning):
    """Warning that EM stopped at ``max_iter`` before converging.

    Issued by :meth:`GaussianMixture.fit` when the best initialisation ran
    ``max_iter`` iterations and its lower bound still changed by ``tol`` or
    more. While scikit-learn is imported, the warning issued is also an
    instance of ``sklearn.exceptions.ConvergenceWarning``.

    See Also
    --------
    GaussianMixture : Its ``max_iter`` and ``tol`` parameters.

    Examples
    --------
    >>> import warnings
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     gm = gmmc.GaussianMixture(2, max_iter=1, random_state=0).fit(X)
    >>> issubclass(caught[0].category, gmmc.ConvergenceWarning)
    True
    >>> gm.converged_
    False
    """


class NotFittedError(ValueError, AttributeError):
    """Error raised when a method that needs a fitted model is called before ``fit``.

    A subclass of both ``ValueError`` and ``AttributeError``, as
    scikit-learn's; while scikit-learn is imported, the error raised is also
    an instance of ``sklearn.exceptions.NotFittedError``.

    See Also
    --------
    GaussianMixture.fit : Fit the model first.

    Examples
    --------
    >>> import gmmc
    >>> try:
    ...     gmmc.GaussianMixture(2).predict([[1.0, 2.0]])
    ... except gmmc.NotFittedError as error:
    ...     print(error)
    This GaussianMixture instance is not fitted yet. Call 'fit' with appropriate arguments before using this estimator.
    """


class InvalidParameterError(ValueError, TypeError):
    """Error raised for a constructor parameter of the wrong type or value.

    A subclass of both ``ValueError`` and ``TypeError``, as scikit-learn's;
    while scikit-learn is imported, the error raised is also an instance of
    scikit-learn's ``InvalidParameterError``, so code that catches it keeps
    working.

    See Also
    --------
    GaussianMixture : Its parameters.

    Examples
    --------
    >>> import gmmc
    >>> from gmmc.exceptions import InvalidParameterError
    >>> try:
    ...     gmmc.GaussianMixture(0).fit([[1.0], [2.0]])
    ... except InvalidParameterError as error:
    ...     print(error)
    n_components must be >= 1, got 0
    """


_TWIN_PREFIX = "_SklearnCompatible"
_twins = {}
# Where scikit-learn keeps each class (loaded by then if anything names it).
_SKLEARN_MODULES = {"InvalidParameterError": "sklearn.utils._param_validation"}


def sklearn_compatible(cls):
    """``cls``, or its twin that also subclasses scikit-learn's same-named class.

    The twin is returned only while scikit-learn's module of that class is
    imported.
    """
    module = sys.modules.get(_SKLEARN_MODULES.get(cls.__name__, "sklearn.exceptions"))
    base = getattr(module, cls.__name__, None)
    if not isinstance(base, type) or issubclass(cls, base):
        return cls
    twin = _twins.get(cls.__name__)
    if twin is None or not issubclass(twin, base):  # first use, or sklearn reloaded
        qualname = _TWIN_PREFIX + cls.__name__
        twin = type(cls.__name__, (cls, base),
                    {"__module__": __name__, "__qualname__": qualname,
                     "__doc__": cls.__doc__})
        _twins[cls.__name__] = twin
        globals()[qualname] = twin  # so that pickle finds it by name
    return twin


def __getattr__(name):
    # Unpickling a twin in a fresh process: build it (this needs scikit-learn,
    # which the pickling process had loaded).
    if name.startswith(_TWIN_PREFIX):
        cls = {"ConvergenceWarning": ConvergenceWarning, "NotFittedError": NotFittedError,
               "InvalidParameterError": InvalidParameterError}.get(name[len(_TWIN_PREFIX):])
        if cls is not None:
            import importlib
            importlib.import_module(_SKLEARN_MODULES.get(cls.__name__,
                                                         "sklearn.exceptions"))
            return sklearn_compatible(cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
