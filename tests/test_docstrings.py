"""The public API's docstrings: numpydoc validation, and their examples as doctests.

The public API is everything in ``gmmc.__all__`` and in the ``__all__`` of
``gmmc.io``, ``gmmc.conditioning``, ``gmmc.plot``, ``gmmc.selection`` and
``gmmc.dask``: each class, function, and each public method or property a
class defines itself (inherited ones are checked on the class that defines
them). Methods inherited from scikit-learn's base classes (``get_params``,
``set_params``, ``set_output``, ``set_fit_request``, ...) are scikit-learn's,
documented and checked there, not here. The same list is the API reference
of the documentation (``docs/api.rst``), which a test here keeps in step.

numpydoc's checks that are not applied, and why:

- ES01 (no extended summary): a one-line summary is complete for simple
  methods such as ``score`` or ``RowBlocks.bounds``.
- GL01 (summary not on the line after the opening quotes): gmmc follows
  PEP 257, with the summary on the line of the opening quotes.
- RT02 (a name on the first line of Returns for a single value): numpydoc's
  format allows naming a returned value (``labels : ndarray of shape
  (n_samples,)``), and the names say what the arrays hold.

Every other check (Parameters, Returns, See Also, Examples present and
well-formed; summaries of one line in the infinitive, ending with a period;
...) must pass. The examples run as doctests with ELLIPSIS and
NORMALIZE_WHITESPACE; they print rounded numbers, so they hold across
platforms and NumPy versions.
"""
import doctest
import importlib
import inspect
import re
from pathlib import Path

import pytest

IGNORED_CHECKS = {"ES01", "GL01", "RT02"}

# module -> extra requirement to import it (None: always importable)
PUBLIC_MODULES = {"gmmc": None, "gmmc.io": None, "gmmc.conditioning": None,
                  "gmmc.plot": "matplotlib", "gmmc.selection": None, "gmmc.dask": "dask"}

# Modules whose docstrings hold the examples of the public API.
DOCTEST_MODULES = {"gmmc.mixture": None, "gmmc.bayesian": None, "gmmc._stats": None,
                   "gmmc.impute": None, "gmmc._sources": None,
                   "gmmc.exceptions": "sklearn", "gmmc.datasets": None,
                   "gmmc._patch": "sklearn", "gmmc.io": None, "gmmc._model_file": None,
                   "gmmc.conditioning": None, "gmmc.plot": "matplotlib",
                   "gmmc.selection": "pandas", "gmmc.dask": "dask",
                   "gmmc._dask_chunks": "dask"}

API_REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def _available(requirement):
    if requirement is None:
        return True
    try:
        importlib.import_module(requirement)
    except ImportError:
        return False
    return True


def public_objects():
    """(qualified name, object) of each public class, function, method and property."""
    found = {}
    for module_name, requirement in PUBLIC_MODULES.items():
        if not _available(requirement):
            continue
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # __version__
            qualified = f"{module_name}.{name}"
            found[qualified] = obj
            if inspect.isclass(obj):
                # Its own members and those of its private gmmc bases
                # (mixture._BaseMixture), which belong to no public class.
                for klass in obj.__mro__:
                    if klass is not obj and not (klass.__name__.startswith("_") and
                                                 klass.__module__.startswith("gmmc")):
                        continue
                    for member, value in vars(klass).items():
                        if member.startswith("_"):
                            continue
                        if isinstance(value, (property, classmethod, staticmethod)) or \
                                inspect.isfunction(value):
                            found.setdefault(f"{qualified}.{member}", value)
    return found


PUBLIC = public_objects()


def test_public_api_is_found():
    for name in ("gmmc.GaussianMixture", "gmmc.GaussianMixture.predict_proba",
                 "gmmc.io.save", "gmmc.conditioning.marginal",
                 "gmmc.RowBlocks.shape", "gmmc.SufficientStatistics.merge"):
        assert name in PUBLIC
    # Inherited from scikit-learn's BaseEstimator (or gmmc._base's stand-in).
    for name in ("gmmc.GaussianMixture.get_params", "gmmc.GaussianMixture.set_params",
                 "gmmc.GaussianMixtureImputer.set_output"):
        assert name not in PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_numpydoc_validation(name):
    validate = pytest.importorskip("numpydoc.validate")
    errors = [(code, message) for code, message in validate.validate(name)["errors"]
              if code not in IGNORED_CHECKS]
    assert not errors, f"{name}: " + "; ".join(f"{c} {m}" for c, m in errors)


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for module_name, requirement in DOCTEST_MODULES.items():
        if not _available(requirement):
            continue
        module = importlib.import_module(module_name)
        for test in finder.find(module, module_name):
            if test.examples:
                tests.append(pytest.param(test, id=test.name))
    return tests


@pytest.mark.parametrize("test", _doctests())
def test_docstring_examples(test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files an example writes land here
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    test.globs = dict(test.globs)
    report = []
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


def test_every_public_object_has_examples():
    """Each public object's examples are among the doctests (nothing escapes them)."""
    names = {t.values[0].name for t in _doctests()}
    for qualified, obj in PUBLIC.items():
        if isinstance(obj, property):
            obj = obj.fget
        target = f"{obj.__module__}.{obj.__qualname__}"
        assert target in names, f"{qualified} ({target}) has no doctest"


def test_api_reference_lists_the_public_api():
    """docs/api.rst documents every public class and function, and nothing else."""
    if not API_REFERENCE.exists():
        pytest.skip("no docs/api.rst in this tree")
    text = API_REFERENCE.read_text()
    listed = set()
    module = None
    for line in text.splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line.strip())
        if current:
            module = current.group(1)
            continue
        entry = re.fullmatch(r"\s{3,}(~?[\w.]+)", line)
        if entry and module and not line.strip().startswith(":"):
            listed.add(f"{module}.{entry.group(1).lstrip('~')}")
    # classes and functions of the public modules (not their methods)
    expected = {name for name in PUBLIC if name.rsplit(".", 1)[0] in PUBLIC_MODULES}
    assert listed == expected, (f"missing from docs/api.rst: {sorted(expected - listed)}; "
                                f"not public: {sorted(listed - expected)}")
