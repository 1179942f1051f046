"""Build the Cython kernels in src_c/ as extension modules of the gmmc package.

Everything else (metadata, version, packages, package data, the cibuildwheel
configuration) is declared in pyproject.toml.
"""
import sys
from glob import glob

from Cython.Build import cythonize
from setuptools import Extension, setup

# Wheels must run on every CPU of their platform, so no -march here: the
# kernels pick ISA-specific code paths at load time where they have them.
# -O3 lets the compiler vectorise the small inner loops; -g0 keeps DWARF debug
# information (most of a -g build's size) out of the wheels, symbol names stay.
# -fno-trapping-math: without it GCC keeps the selects of the branch-free exp
# and log (_vectorized.h) as branches for AVX2, which then run scalar (no
# masked stores before AVX-512); gmmc never enables floating-point traps, and
# IEEE results, NaN and infinities included, are unchanged (no -ffast-math).
# MSVC: setuptools' defaults (/O2, no debug information in the .pyd).
# -pthread: the kernels' own helper threads (_team.h; none on Windows).
compile_args = [] if sys.platform == "win32" else ["-O3", "-g0", "-fno-trapping-math",
                                                   "-pthread"]
link_args = [] if sys.platform == "win32" else ["-pthread"]

# Rebuild when a header or .pxd the kernels include changes.
depends = sorted(glob("src_c/*.h") + glob("src_c/*.pxd"))

extensions = [
    Extension(
        f"gmmc.{name}",
        [f"src_c/{name}.pyx"],
        include_dirs=["src_c"],
        depends=depends,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    for name in ("_em", "_kmeans", "_cpu", "_team")
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["src_c"],
        compiler_directives={"language_level": "3"},
    ),
)
