"""Save and load fitted GaussianMixture models without pickle.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding

- ``metadata``: a JSON document (stored as a 0-d unicode array) with
  ``format`` ("gmmc.GaussianMixture"), ``format_version``, the gmmc version
  that wrote it, the constructor parameters, the covariance type, shapes,
  dtype and the scalar fitted attributes;
- the fitted arrays ``weights``, ``means``, ``covariances``, ``precisions``,
  ``precisions_cholesky``, ``lower_bound`` and ``lower_bounds``, and, when set,
  ``weights_init``, ``means_init``, ``precisions_init`` and the state of a
  ``random_state`` RandomState (``random_state_keys`` and friends);
- when set, ``n_samples_seen`` (the sample weight the model was fitted on,
  which ``partial_fit`` weights the model by) and ``partial_fit``'s running
  statistics: ``stepwise_shift``, ``stepwise_resp_sum``, ``stepwise_sum_x``,
  ``stepwise_sum_xx``, ``stepwise_total_x``, ``stepwise_loglik_sum``,
  ``stepwise_weight_sum``, ``stepwise_normalized`` and the batch count
  ``stepwise_n_batches``, so that a loaded model continues as a pickled one.

Loading never unpickles, so no code is executed. It reads only the members
the metadata calls for, each only after the size the zip declares for it
matches the shape and dtype the metadata implies (other members are ignored,
unread), so a small file cannot make it inflate gigabytes. The arrays must
describe Gaussians and the parameters must be ones ``fit`` accepts. The
round trip is exact: the loaded model has bit-identical arrays, the same
dtype and the same parameters.
"""
import os

from . import _model_file
from ._model_file import FORMAT, FORMAT_VERSION, ModelFileError  # noqa: F401
from .mixture import GaussianMixture

__all__ = ["save", "load", "ModelFileError"]


def save(model, file):
    """Write a fitted model to a file, without pickle.

    The file is a NumPy ``.npz`` archive holding the fitted arrays and a JSON
    metadata document (see the module's description); :func:`load` reads it
    back bit for bit.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    file : str, os.PathLike or binary file object
        Where to write. A path is written as given: no ``.npz`` suffix is
        added.

    Raises
    ------
    NotFittedError
        When the model is not fitted.

    See Also
    --------
    load : Read the model back.
    GaussianMixture.save : The same, as a method.

    Examples
    --------
    >>> import os, tempfile
    >>> import gmmc
    >>> from gmmc.io import save
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "faithful.npz")
    >>> save(gm, path)
    >>> print(gmmc.load(path).means_.round(2))
    [[ 2.04 54.48]
     [ 4.29 79.97]]
    """
    _model_file.write(model, file)


def load(file):
    """Read a model written by :func:`gmmc.io.save` or :meth:`GaussianMixture.save`.

    Nothing is unpickled, so loading runs no code from the file. Only the
    members the metadata calls for are read, each after checking its
    declared size; other members of the archive are ignored, unread.

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        The model file.

    Returns
    -------
    GaussianMixture
        The fitted model, with bit-identical arrays, the same dtype and the
        same parameters as the saved one (and, when it was saved after
        ``partial_fit``, the same running statistics).

    Raises
    ------
    FileNotFoundError
        When the path does not exist.
    ModelFileError
        For a file that is not a gmmc model, is truncated or corrupt, was
        written by a newer format version, has arrays that do not match its
        metadata or do not describe Gaussians, or parameters that ``fit``
        would refuse.

    See Also
    --------
    gmmc.io.save : Write a model.

    Examples
    --------
    >>> import io
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> gm.save(buffer)
    >>> same = gmmc.load(io.BytesIO(buffer.getvalue()))
    >>> same.covariance_type, bool((same.covariances_ == gm.covariances_).all())
    ('tied', True)
    """
    source = os.fspath(file) if isinstance(file, (str, os.PathLike)) else "model file"
    with _model_file.open_archive(file, source) as archive:
        contents = _model_file.read(archive, source)
        try:
            model = GaussianMixture(**contents.params)
        except TypeError as exc:
            _model_file.fail(source, f"unknown parameters ({exc})")
        try:  # what fit would refuse
            model._check_parameters(contents.n_features)
        except (ValueError, TypeError) as exc:
            _model_file.fail(source, f"invalid parameters: {exc}")
        return _model_file.restore(model, contents, archive, source)
