"""gmmc.plot, rendered to PNG with the Agg backend."""
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.image import imread  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

import gmmc  # noqa: E402
from gmmc import GaussianMixture, plot  # noqa: E402

from conftest import fit_quietly  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(path, min_bytes=8_000, min_colours=30):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    colours = np.unique(image.reshape(-1, image.shape[2]).round(3), axis=0)
    assert len(colours) >= min_colours  # not a blank canvas
    white = np.all(image[..., :3] > 0.99, axis=2).mean()
    assert white < 0.97


@pytest.fixture(scope="module")
def faithful_model():
    X = gmmc.load_faithful()
    return X, GaussianMixture(2, random_state=0).fit(X)


def test_ellipses_png(faithful_model, tmp_path):
    X, model = faithful_model
    ax = plot.ellipses(model, X)
    ax.figure.savefig(tmp_path / "e.png", dpi=60)
    check_png(tmp_path / "e.png")
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2 * 2  # two components at 1 and 2 standard deviations
    scatter = ax.collections[0]
    assert scatter.get_offsets().shape == (272, 2)
    labels = model.predict(X)
    colours = scatter.get_facecolors()
    for k in (0, 1):  # one colour per predicted component
        assert len(np.unique(colours[labels == k], axis=0)) == 1
    assert not np.allclose(colours[labels == 0][0], colours[labels == 1][0])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_ellipse_geometry_is_the_marginal_covariance(covariance_type):
    """dims (0, 2) of a 3-D model: centre = means[k, dims], axes = 2 n_std sqrt(eig)."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.standard_normal((150, 3)) @ [[1, 0.5, 0.3], [0, 1, 0], [0, 0, 0.5]],
                   rng.standard_normal((150, 3)) + [4, 0, 3]])
    model = fit_quietly(GaussianMixture(2, covariance_type=covariance_type,
                                        random_state=0), X)
    ax = plot.ellipses(model, dims=(0, 2), n_std=(2.0,))
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2
    cov = np.asarray(model.covariances_)
    for k, e in enumerate(ellipses):
        full = {"full": lambda: cov[k], "tied": lambda: cov,
                "diag": lambda: np.diag(cov[k]),
                "spherical": lambda: cov[k] * np.eye(3)}[covariance_type]()
        block = full[np.ix_([0, 2], [0, 2])]
        values = np.linalg.eigvalsh(block)
        assert_allclose(e.center, model.means_[k, [0, 2]])
        assert_allclose(sorted([e.width, e.height]), 4 * np.sqrt(values), rtol=1e-10)


def test_density_png(faithful_model, tmp_path):
    X, model = faithful_model
    ax = plot.density(model, X, grid=80)
    ax.figure.savefig(tmp_path / "d.png", dpi=60)
    check_png(tmp_path / "d.png")
    # The contour levels cover the density's peak, computed with scipy.
    xs, ys = np.meshgrid(np.linspace(1, 6, 200), np.linspace(40, 100, 200))
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    density = sum(w * multivariate_normal.pdf(grid, m, c) for w, m, c in
                  zip(model.weights_, model.means_, model.covariances_))
    levels = [c for c in ax.collections if hasattr(c, "levels")][0].levels
    assert density.max() * 0.95 <= levels[-1] <= density.max() * 1.6
    assert levels[0] <= 1e-6


def test_density_of_a_pair_of_dimensions(tmp_path):
    rng = np.random.RandomState(1)
    X = rng.standard_normal((200, 4))
    model = fit_quietly(GaussianMixture(2, covariance_type="diag", random_state=0), X)
    ax = plot.density(model, dims=(3, 1), limits=((-3, 3), (-3, 3)), grid=60)
    assert ax.get_xlabel() == "feature 3" and ax.get_ylabel() == "feature 1"
    ax.figure.savefig(tmp_path / "d2.png", dpi=60)
    check_png(tmp_path / "d2.png")


def test_selection_png(tmp_path):
    X = gmmc.load_faithful()
    result = gmmc.select(X, n_components=range(1, 6), random_state=0)
    for table in (result, result.table, result.table.to_dict("records")):
        ax = plot.selection(table)
        lines = {line.get_label(): line for line in ax.get_lines()}
        for cov in ("full", "tied", "diag", "spherical"):
            rows = result.table[result.table["covariance_type"] == cov]
            assert_allclose(lines[cov].get_xdata(), rows["n_components"])
            assert_allclose(lines[cov].get_ydata(), rows["bic"])
        marker = lines["selected: K=2 full"]
        assert_allclose(marker.get_ydata(), [result.table["bic"].min()])
        assert "BIC" in ax.get_ylabel()
    ax.figure.savefig(tmp_path / "s.png", dpi=60)
    check_png(tmp_path / "s.png")


def test_drawing_on_given_axes(faithful_model):
    from matplotlib.figure import Figure

    X, model = faithful_model
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot.ellipses(model, X, ax=left) is left
    assert plot.density(model, ax=right) is right


def test_errors(faithful_model, monkeypatch):
    X, model = faithful_model
    with pytest.raises(ValueError, match="dims"):
        plot.ellipses(model, X, dims=(0, 0))
    with pytest.raises(ValueError, match="dims"):
        plot.density(model, dims=(0, 2))
    one_d = GaussianMixture(2, random_state=0).fit(X[:, :1])
    with pytest.raises(ValueError, match="2 features"):
        plot.ellipses(one_d)
    with pytest.raises(ValueError, match="column"):
        plot.selection([{"n_components": 1, "covariance_type": "full"}])
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.patches"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"gmmc\[plot\]"):
        plot.ellipses(model, X)
