"""gmmc.load on hostile or damaged files: bounded reading, clean errors, and
refusal of arrays that are not a Gaussian mixture.

The damaged files are built here from a saved model with zipfile and NumPy
alone; the checks are on what load does (the error it raises, the memory it
uses), never on values taken from gmmc's reader.
"""
import re
import struct
import tracemalloc
import zipfile
from io import BytesIO

import numpy as np
import pytest

import gmmc
from gmmc import GaussianMixture
from gmmc.conditioning import condition
from gmmc.io import ModelFileError

from conftest import blobs, fit_quietly, random_init
from test_io import assert_same, rewrite, with_metadata

MiB = 2 ** 20


def data():
    return blobs(3, n_samples=150, centers=3, seed=1)[0]


@pytest.fixture(params=["full", "diag"])
def saved(request, tmp_path):
    path = tmp_path / "model.npz"
    GaussianMixture(3, covariance_type=request.param, random_state=0).fit(data()).save(path)
    return path


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def repack(path, extra=None, replace=None):
    """Rewrite a model file as a deflated zip; ``replace`` and ``extra`` map member
    names to an iterable of byte chunks (streamed, so a large member costs no memory)."""
    contents = {name: [raw] for name, raw in members(path).items()}
    contents.update(replace or {})
    contents.update(extra or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, chunks in contents.items():
            with archive.open(name, "w", force_zip64=True) as f:
                for chunk in chunks:
                    f.write(chunk)


def zeros(n_bytes, chunk=MiB):
    for start in range(0, n_bytes, chunk):
        yield bytes(min(chunk, n_bytes - start))


def declare_size(path, name, size):
    """Forge the uncompressed size that the zip's central directory declares for a
    member (the data is unchanged). The file must have no zip64 size fields."""
    raw = bytearray(path.read_bytes())
    start = 0
    while True:
        start = raw.index(b"PK\x01\x02", start)
        name_length = struct.unpack_from("<H", raw, start + 28)[0]
        if raw[start + 46:start + 46 + name_length] == name.encode():
            struct.pack_into("<I", raw, start + 24, size)
            path.write_bytes(bytes(raw))
            return
        start += 4


def small_zip(path):
    """The model file rewritten by zipfile.writestr: 32-bit size fields, no zip64."""
    contents = members(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, raw in contents.items():
            archive.writestr(name, raw)


def peak_bytes(func, *args):
    tracemalloc.start()
    try:
        try:
            return func(*args), tracemalloc.get_traced_memory()[1]
        except Exception as exc:
            return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- item 7: read only the expected members, each within its expected size ------

def test_unexpected_members_are_ignored_unread(saved):
    original = gmmc.load(saved)
    repack(saved, extra={"junk.npy": zeros(64 * MiB), "notes.txt": [b"hello"]})
    loaded, peak = peak_bytes(gmmc.load, saved)
    assert isinstance(loaded, GaussianMixture), loaded
    assert_same(loaded, original)
    assert peak < 8 * MiB, f"load used {peak / MiB:.0f} MiB: the 64 MiB member was read"


def npy(shape, data_bytes):
    """A .npy file of float64 zeros: its header for ``shape``, then ``data_bytes`` zero
    bytes (which a valid file would make 8 * prod(shape))."""
    header = BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return [header.getvalue(), *zeros(data_bytes)]


@pytest.mark.parametrize("member, content, match", [
    # a valid header for the metadata's (K, D), followed by 64 MiB more than it needs
    ("means", npy((3, 3), 72 + 64 * MiB), r"'means'.*size"),
    # a file consistent in itself, but its shape is not the metadata's
    ("covariances", npy((8 * MiB,), 64 * MiB), r"'covariances'.*(size|shape)"),
    # far more lower bounds than the metadata's EM iterations
    ("lower_bounds", npy((8 * MiB,), 64 * MiB), r"'lower_bounds'.*(size|shape)"),
])
def test_oversized_members_are_refused_before_inflating(saved, member, content, match):
    repack(saved, replace={f"{member}.npy": content})
    error, peak = peak_bytes(gmmc.load, saved)
    assert isinstance(error, ModelFileError), repr(error)
    assert re.search(match, str(error)), str(error)
    assert peak < 8 * MiB, f"load used {peak / MiB:.0f} MiB before refusing"


@pytest.mark.parametrize("name", ["weights.npy", "precisions_cholesky.npy", "metadata.npy"])
@pytest.mark.parametrize("size", [2 ** 31, 1])
def test_forged_declared_sizes_are_refused(saved, name, size):
    small_zip(saved)
    gmmc.load(saved)  # fine as rewritten
    declare_size(saved, name, size)
    error, peak = peak_bytes(gmmc.load, saved)
    assert isinstance(error, ModelFileError), repr(error)
    assert repr(name.removesuffix(".npy")) in str(error), str(error)
    assert peak < 8 * MiB


# -- item 8: a damaged archive is a ModelFileError ----------------------------

@pytest.mark.parametrize("keep", [0, 4, 100, 0.5, -22, -1])
def test_truncated_files_are_model_file_errors(saved, keep):
    raw = saved.read_bytes()
    cut = int(len(raw) * keep) if isinstance(keep, float) else keep % len(raw)
    saved.write_bytes(raw[:cut])
    with pytest.raises(ModelFileError, match=re.escape(str(saved))):
        gmmc.load(saved)


def test_corrupted_array_data_is_a_model_file_error(saved):
    """A flipped byte inside an array's data fails the zip's CRC check."""
    raw = bytearray(saved.read_bytes())
    means = members(saved)["means.npy"]
    position = raw.index(means) + len(means) - 1  # np.savez stores members uncompressed
    raw[position] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="means"):
        gmmc.load(saved)


def test_corrupted_deflated_stream_is_a_model_file_error(saved):
    small_zip(saved)
    raw = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("covariances.npy")
    # past the local header (30 bytes, the name, no extra field) into the stream
    start = info.header_offset + 30 + len(info.filename)
    for position in range(start, start + info.compress_size):
        raw[position] ^= 0x55
    saved.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="covariances"):
        gmmc.load(saved)


# -- item 9: only a valid Gaussian mixture loads -------------------------------

def full_only(func):
    def damage(path, cov_type):
        if cov_type != "full":
            pytest.skip("a full-covariance damage")
        func(path)
    return damage


def arrays(path):
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def edit(path, name, func):
    array = arrays(path)[name]
    func(array)
    rewrite(path, **{name: array})


def flip_first_column(u):
    u[0][:, 0] *= -1  # U U^T is unchanged: precisions and covariances stay consistent


def rotate(u):
    c, s = np.cos(0.5), np.sin(0.5)
    q = np.eye(u.shape[-1])
    q[:2, :2] = [[c, -s], [s, c]]
    u[0] = u[0] @ q  # still U U^T = P, but no longer triangular


def indefinite(c):
    values, vectors = np.linalg.eigh(c[1])
    values[0] = -values[0]
    c[1] = vectors @ np.diag(values) @ vectors.T


def scale(factor):
    def damage(a):
        a *= factor
    return damage


def set_inf(a):
    a[1, 2] = np.inf


def negate_first(a):
    a.reshape(-1)[0] *= -1


def zero_first(a):
    a.reshape(-1)[0] = 0


@pytest.mark.parametrize("damage, match", [
    (full_only(lambda p: edit(p, "precisions_cholesky", flip_first_column)),
     r"precisions_cholesky\[0\].*positive"),
    (full_only(lambda p: edit(p, "precisions_cholesky", rotate)),
     r"precisions_cholesky\[0\].*upper triangular"),
    (lambda p, t: edit(p, "precisions_cholesky", negate_first),
     r"precisions_cholesky\[0\].*positive"),
    (lambda p, t: edit(p, "precisions_cholesky", zero_first),
     r"precisions_cholesky\[0\].*positive"),
    (full_only(lambda p: edit(p, "covariances", indefinite)),
     r"covariances\[1\].*positive definite"),
    (lambda p, t: edit(p, "covariances", negate_first), r"covariances\[0\].*positive"),
    (lambda p, t: edit(p, "covariances", scale(1.5)),
     r"covariances\[0\].*precisions"),
    (lambda p, t: edit(p, "precisions", scale(2)),
     r"precisions\[0\].*precisions_cholesky"),
    (lambda p, t: rewrite(p, weights=np.array([1.2, -0.1, -0.1])), "weights"),
    (lambda p, t: edit(p, "means", set_inf),
     "'means' has non-finite"),
    (lambda p, t: rewrite(p, weights_init=np.ones(3)), "The parameter 'weights' should be normalized"),
    (lambda p, t: with_metadata(p, params={"n_threads": -5}), "n_threads"),
    (lambda p, t: with_metadata(p, params={"tol": "abc"}), "tol"),
    (lambda p, t: with_metadata(p, params={"reg_covar": float("nan")}), "reg_covar"),
    (lambda p, t: with_metadata(p, params={"max_iter": -1}), "max_iter"),
    (lambda p, t: with_metadata(p, params={"n_init": 0}), "n_init"),
    (lambda p, t: with_metadata(p, params={"init_params": "bogus"}), "init_params"),
    (lambda p, t: with_metadata(p, params={"warm_start": "yes"}), "warm_start"),
])
def test_what_is_not_a_gaussian_mixture_is_refused(saved, damage, match):
    cov_type = gmmc.load(saved).covariance_type
    damage(saved, cov_type)
    with pytest.raises(ModelFileError, match=match):
        gmmc.load(saved)


def collinear(dtype, n=400, d=6, seed=0):
    """Nearly collinear features: covariances with condition numbers near 4e8
    (float64) or 5e5 (float32), about the most that fit accepts."""
    rng = np.random.RandomState(seed)
    noise = 0.01 if dtype == np.float64 else 0.3
    X = 100 * rng.standard_normal((n, 1)) + noise * rng.standard_normal((n, d))
    return (X + np.arange(d)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_valid_ill_conditioned_models_still_load(covariance_type, dtype, tmp_path):
    """No false alarm: badly conditioned fits, a model that only holds its
    (rounded) initial precisions, a conditional model and a partial_fit one
    with its running statistics all load unchanged."""
    X = collinear(dtype)
    models = [fit_quietly(GaussianMixture(3, covariance_type=covariance_type,
                                          random_state=0), X)]
    weights, means, precisions = random_init(X, 3, covariance_type, seed=1)
    models.append(fit_quietly(GaussianMixture(
        3, covariance_type=covariance_type, max_iter=0, weights_init=weights,
        means_init=means, precisions_init=precisions), X))
    models.append(condition(models[0], [0, 2], X[0, [0, 2]]))
    stepwise = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for batch in np.array_split(X, 4):
        stepwise.partial_fit(batch)
    models.append(stepwise)
    for n, model in enumerate(models):
        path = tmp_path / f"{n}.npz"
        model.save(path)
        assert_same(gmmc.load(path), model)
