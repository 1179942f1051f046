"""gmmc's version: the only place it is written (setuptools reads it for the
package metadata; ``gmmc.__version__`` is this)."""
__version__ = "0.1.0"
