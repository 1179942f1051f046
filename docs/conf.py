"""Sphinx configuration of gmmc's documentation.

Build with ``make -C docs html`` after ``pip install ".[docs]"``. The API
pages document the *installed* gmmc (the source tree has no compiled
kernels unless built in place), so this file does not put the repository on
``sys.path``.
"""
import os
import sys
import warnings

import gmmc

project = "gmmc"
author = "The gmmc developers"
copyright = "The gmmc developers"
version = release = gmmc.__version__

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "sphinx_design",
    "local_mathjax",      # docs/_ext: MathJax served from the site, not a CDN
    "gmmc_references",    # docs/_ext: short names in See Also resolve to gmmc.*
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "sg_execution_times.rst"]
root_doc = "index"
mathjax_path = "mathjax/tex-chtml.js"  # copied into _static by _ext/local_mathjax.py
language = "en"

# Every cross-reference must resolve: a broken one fails the build (-W).
nitpicky = True
nitpick_ignore_regex = [
    # Types named in prose and signatures that have no page here (no
    # intersphinx: CI reaches no documentation site).
    ("py:class", r"(numpy|np|dask|matplotlib|pandas|os)\..*"),
    ("py:(class|obj)", r"(ndarray|array-like|optional|callable)"),
]

# -- autodoc / autosummary / numpydoc -------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"exclude-members": "__init__"}
toc_object_entries_show_parents = "hide"   # "fit()", not "GaussianMixture.fit()", in the page TOC

numpydoc_show_class_members = False     # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()      # validated by tests/test_docstrings.py



def _skip_foreign_member(app, what, name, obj, skip, options):
    """Document inherited members only when gmmc defines them (a public class
    inherits from gmmc's private bases, not Python's exception methods)."""
    if what not in ("class", "exception"):
        return None
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None) or ""
    if not module.startswith("gmmc"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)


# -- HTML ------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"gmmc {release}"
html_logo = "_static/gmmc-logo.svg"
html_favicon = "_static/gmmc-logo.svg"
html_static_path = ["_static"]
html_css_files = ["gmmc.css"]
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
html_theme_options = {
    "github_url": "https://github.com/gmmc-dev/gmmc",
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}

# -- gallery -----------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "min_reported_time": 0,
    "write_computation_times": False,
}

# Figures drawn headless; the examples' own warnings are errors in the build.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("error", category=DeprecationWarning, module="gmmc")
