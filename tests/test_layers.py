"""The import contracts of pyproject.toml ([tool.importlinter]): gmmc's modules
form layers (entry points, tools, estimators, the EM engine, the kernels) and
no import cycle, function-level imports included.

CI also runs ``lint-imports``; running the contracts here makes a plain
``pytest`` (and every wheel's test run) catch a new cycle or an upward import.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gmmc

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# The gmmc under test, wherever it is (an installed wheel or the checkout).
GMMC_PARENT = str(Path(gmmc.__file__).resolve().parents[1])
KERNELS = {"_em", "_kmeans", "_cpu", "_team"}

pytestmark = pytest.mark.skipif(not PYPROJECT.exists(),
                                reason="needs the source tree's pyproject.toml")


def test_import_contracts_are_kept(tmp_path):
    pytest.importorskip("importlinter")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))")
    env = dict(os.environ, PYTHONPATH=GMMC_PARENT)
    out = subprocess.run([sys.executable, "-c", code, str(PYPROJECT)], capture_output=True,
                         text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout, out.stdout


def test_the_package_itself_is_imported_only_for_its_kernels():
    """import-linter reads ``from . import _em`` (a compiled module it cannot
    see) as an import of the package gmmc, whose __init__ imports everything;
    the contracts ignore those lines. Any other import of the package (say
    ``from . import __version__``) would be a hidden cycle: there is none."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("gmmc", cache_dir=None)
    modules = {name.rpartition(".")[2] for name in graph.modules}
    importers = graph.find_modules_that_directly_import("gmmc")
    assert importers, "the kernels are imported somewhere"
    for importer in sorted(importers):
        for detail in graph.get_import_details(importer=importer, imported="gmmc"):
            line = detail["line_contents"]
            match = re.fullmatch(r"from \. import (.+)", line)
            assert match, f"{importer} line {detail['line_number']}: {line}"
            names = {name.strip().split(" as ")[0] for name in match.group(1).split(",")}
            assert names <= modules | KERNELS, (
                f"{importer} line {detail['line_number']} imports {names - modules} from "
                "the package gmmc itself")
            assert names & KERNELS, f"{importer} line {detail['line_number']}: {line}"
