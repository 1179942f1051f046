#!/usr/bin/env bash
# Run the kernel tests against kernels built with -DGMMC_PLAIN_LOOPS: the
# portable loops that clang and MSVC builds compile in place of the GCC vector
# extension code of src_c/_vectorized.h (the rest of CI tests the latter).
#
#   bash tools/plain_loops.sh          # about 2 minutes on 2 cores
#
# In a temporary copy of the repository (tracked files and untracked,
# non-ignored ones); the in-place gmmc/*.so files are never touched.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
# Build requirements (pip installs them in an isolated environment otherwise).
"$python" -c "import Cython, numpy, scipy, setuptools" 2>/dev/null \
    || "$python" -m pip install --quiet "Cython>=3.0.10" numpy scipy "setuptools>=77"
work=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-plain.XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck source=copy_tree.sh
source "$repo/tools/copy_tree.sh"
copy_tree "$repo" "$work"
(cd "$work" && CFLAGS="${CFLAGS:-} -DGMMC_PLAIN_LOOPS" \
    "$python" setup.py build_ext --inplace > build.log 2>&1) \
    || { cat "$work/build.log" >&2; echo "plain_loops.sh: build failed" >&2; exit 1; }
cd "$work"
"$python" -c "import gmmc._em, sys; assert gmmc._em.__file__.startswith('$work/')"
"$python" -m pytest tests/test_kernels.py tests/test_em_in_kernels.py -q -p no:cacheprovider
