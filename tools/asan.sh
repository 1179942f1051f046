#!/usr/bin/env bash
# Run gmmc's test suite against kernels built with AddressSanitizer (gcc).
#
#   bash tools/asan.sh                 # build, then run the whole suite
#   bash tools/asan.sh --self-check    # also prove that an injected out-of-bounds
#                                      # access in a kernel is caught
#   bash tools/asan.sh -- -k kernels   # arguments after -- go to pytest
#
# Everything happens in a temporary copy of the repository (tracked files and
# untracked, non-ignored ones): the in-place gmmc/*.so files are never touched.
# The extensions are built from setup.py's own Extension list, with
# -fsanitize=address -fno-omit-frame-pointer -O1 -g added last. Python itself is
# not instrumented, so libasan (and libstdc++) is LD_PRELOADed, and
# PYTHONMALLOC=malloc routes Python's allocations through it; leak detection is
# off (CPython keeps objects alive until exit by design). Any ASan report fails
# the run and is printed. About 3-4 minutes on 2 cores (--self-check: +40 s).
#
# Environment: PYTHON (default: python3), CC (default: gcc), KEEP=1 keeps the
# temporary directory. Missing build/test dependencies are pip-installed.
set -euo pipefail

self_check=0
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --self-check) self_check=1 ;;
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"; exit 0 ;;
        *) echo "asan.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
export CC=${CC:-gcc}
start_time=$(date +%s)

libasan=$("$CC" -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
    echo "asan.sh: $CC has no libasan.so (on Debian/Ubuntu: apt-get install gcc)" >&2
    exit 2
fi
libasan=$(readlink -f "$libasan")
# libstdc++ preloaded too: otherwise ASan's __cxa_throw interceptor finds no real
# __cxa_throw and aborts the first time a C++ extension (matplotlib, ...) throws.
libstdcxx=$(readlink -f "$("$CC" -print-file-name=libstdc++.so)")
preload="$libasan"
[ -e "$libstdcxx" ] && preload="$preload:$libstdcxx"

work=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-asan.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "asan.sh: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi

# -- dependencies ---------------------------------------------------------------------
missing=$("$python" - <<'EOF'
import importlib.util
need = {"Cython": "Cython>=3.0.10", "numpy": "numpy", "scipy": "scipy",
        "threadpoolctl": "threadpoolctl", "setuptools": "setuptools>=77",
        "pytest": "pytest", "sklearn": "scikit-learn", "pandas": "pandas",
        "hypothesis": "hypothesis"}
print(" ".join(spec for module, spec in need.items()
               if importlib.util.find_spec(module) is None))
EOF
)
if [ -n "$missing" ]; then
    echo "asan.sh: installing $missing"
    "$python" -m pip install --quiet $missing
fi

# -- copy the tree ----------------------------------------------------------------------
# shellcheck source=copy_tree.sh
source "$repo/tools/copy_tree.sh"

# -- build with AddressSanitizer ------------------------------------------------------------
build() {  # build TREE LOG
    (cd "$1" && "$python" - >"$2" 2>&1 <<'EOF'
import runpy
import sys

import setuptools

FLAGS = ["-fsanitize=address", "-fno-omit-frame-pointer", "-O1", "-g"]
captured = {}
real_setup = setuptools.setup
setuptools.setup = lambda **kwargs: captured.update(kwargs)
sys.argv = ["setup.py"]
runpy.run_path("setup.py", run_name="__main__")  # cythonizes; collects ext_modules
setuptools.setup = real_setup
extensions = captured["ext_modules"]
for ext in extensions:
    # Last on the command line, so they override setup.py's -O3/-g0.
    ext.extra_compile_args = list(ext.extra_compile_args or []) + FLAGS
    ext.extra_link_args = list(ext.extra_link_args or []) + ["-fsanitize=address"]
real_setup(ext_modules=extensions, script_args=["build_ext", "--inplace", "--force"])
EOF
    ) || { cat "$2" >&2; echo "asan.sh: build failed" >&2; exit 1; }
}

# quarantine_size_mb=16 (default 256): freed blocks are still poisoned for a while
# (use-after-free detection), yet an idle worker process stays near 135 MiB
# resident instead of 290, so the Dask tests' memory-limited workers can run.
asan_env() {  # asan_env LOGPREFIX -- runs the rest of the command under ASan
    local prefix=$1; shift
    env LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}" PYTHONMALLOC=malloc \
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:quarantine_size_mb=16:log_path=$prefix" \
        "$@"
}

report_and_fail_if_any() {  # report_and_fail_if_any LOGPREFIX
    local logs
    logs=$(ls "$1".* 2>/dev/null || true)
    if [ -n "$logs" ]; then
        echo "asan.sh: AddressSanitizer reported errors:" >&2
        cat $logs >&2
        return 1
    fi
}

tree="$work/tree"
copy_tree "$repo" "$tree"
echo "asan.sh: building the kernels with -fsanitize=address in $tree"
build "$tree" "$work/build.log"
for so in "$tree"/gmmc/_em*.so "$tree"/gmmc/_kmeans*.so "$tree"/gmmc/_cpu*.so "$tree"/gmmc/_team*.so; do
    if ! nm -D "$so" | grep __asan_report_ >/dev/null; then  # not -q: no SIGPIPE
        echo "asan.sh: $so is not instrumented" >&2; exit 1
    fi
done
# The modules the tests import must be the instrumented ones.
(cd "$tree" && asan_env "$work/asan-import" "$python" -c "
import gmmc._em, gmmc._kmeans, gmmc._cpu, gmmc._team, sys
for m in (gmmc._em, gmmc._kmeans, gmmc._cpu, gmmc._team):
    assert m.__file__.startswith('$tree/'), m.__file__
")
report_and_fail_if_any "$work/asan-import"

# -- optional: an out-of-bounds access in a kernel must be caught ------------------------------
if [ "$self_check" = 1 ]; then
    broken="$work/broken"
    copy_tree "$repo" "$broken"
    # An off-by-one in a kernel's own loop: _chunk_distances reads one value
    # past each row of X, so past the end of X's buffer on its last row.
    "$python" - "$broken/src_c/_kmeans.pyx" <<'EOF'
import re, sys
path = sys.argv[1]
source = open(path).read()
pattern = r"for a in range\(d\):(\s*)x_sq = x_sq \+ x\[i \* d \+ a\]"
injected, count = re.subn(pattern, r"for a in range(d + 1):\1x_sq = x_sq + x[i * d + a]",
                          source)
if count != 1:
    sys.exit(f"asan.sh --self-check: the injection point is gone from {path}; update it")
open(path, "w").write(injected)
EOF
    echo "asan.sh: self-check: building a copy with an out-of-bounds read in a kernel loop"
    build "$broken" "$work/build-broken.log"
    set +e
    (cd "$broken" && asan_env "$work/asan-broken" "$python" -c "
import numpy as np, gmmc
X = np.random.RandomState(0).standard_normal((1000, 3))
gmmc.GaussianMixture(3, random_state=0, n_threads=1).fit(X)
print('the injected overflow was NOT detected')
") >"$work/broken.out" 2>&1
    status=$?
    set -e
    report=$(cat "$work/asan-broken".* 2>/dev/null || true)
    if [ "$status" -ne 0 ] && grep "heap-buffer-overflow" <<<"$report" >/dev/null \
            && grep "_chunk_distances" <<<"$report" >/dev/null; then
        echo "asan.sh: self-check passed: ASan caught the injected out-of-bounds read:"
        grep -m3 -E "ERROR: AddressSanitizer|READ of size| #0 " <<<"$report"
    else
        echo "asan.sh: self-check FAILED: the injected overflow went unnoticed" >&2
        cat "$work/broken.out" >&2
        exit 1
    fi
fi

# -- the test suite -------------------------------------------------------------------------
# Tests that assert on a process's resident memory measure the sanitizer's own
# overhead (shadow memory, redzones) under ASan, not gmmc: they are left out,
# by marker (@pytest.mark.no_asan) or by name here. Override with ASAN_DESELECT.
deselect=${ASAN_DESELECT-tests/test_dask.py::test_data_larger_than_a_worker_memory_limit_fits}
deselect_args=()
for id in $deselect; do deselect_args+=(--deselect "$id"); done
echo "asan.sh: running the test suite under AddressSanitizer"
set +e
(cd "$tree" && asan_env "$work/asan-tests" "$python" -m pytest tests -q -p no:cacheprovider \
    -m "not no_asan" "${deselect_args[@]}" "${pytest_args[@]}")
status=$?
set -e
report_and_fail_if_any "$work/asan-tests" || exit 1
if [ "$status" -ne 0 ]; then
    echo "asan.sh: the test suite failed under ASan (exit $status)" >&2
    exit "$status"
fi
echo "asan.sh: clean: no AddressSanitizer report ($(( $(date +%s) - start_time )) s)"
