"""Build the Cython kernels in src_c/ as extension modules of the gmmc package."""
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# -O3 lets the compiler vectorise the small-D inner loops; MSVC has its own flags.
compile_args = [] if sys.platform == "win32" else ["-O3"]

extensions = [
    Extension(
        f"gmmc.{name}",
        [f"src_c/{name}.pyx"],
        include_dirs=["src_c"],
        extra_compile_args=compile_args,
    )
    for name in ("_em", "_kmeans")
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["src_c"],
        compiler_directives={"language_level": "3"},
    ),
)
