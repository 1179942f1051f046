"""Serve MathJax from the built site instead of a CDN.

The documentation must render its equations offline (CI and many readers
have no route to a CDN). MathJax 3 comes from the ``sphinx-mathjax-offline``
package on PyPI (a dependency of the ``docs`` extra); this extension copies
only the files the TeX-to-CHTML component needs into ``_static/mathjax``:
the component itself, the TeX extensions it may load on demand, and the
CHTML web fonts.
"""
import importlib.util
import os

from sphinx.util.fileutil import copy_asset

_PACKAGE = "sphinx-mathjax-offline"
_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2",
          "output/chtml/fonts/tex.js")


def _mathjax_dir():
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the docs need the {_PACKAGE} package: pip install '.[docs]'")
    return os.path.join(list(spec.submodule_search_locations)[0], "static", "mathjax")


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_dir()
    target = os.path.join(app.outdir, "_static", "mathjax")
    for part in _PARTS:
        path = os.path.join(source, part)
        if os.path.isdir(path):
            copy_asset(path, os.path.join(target, part))
        elif os.path.exists(path):
            os.makedirs(os.path.dirname(os.path.join(target, part)), exist_ok=True)
            copy_asset(path, os.path.dirname(os.path.join(target, part)))


def setup(app):
    # conf.py sets mathjax_path = "mathjax/tex-chtml.js" (relative to _static)
    _mathjax_dir()  # fail early with a clear message
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
