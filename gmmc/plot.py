"""Plots of fitted mixtures and model-selection tables (needs matplotlib).

Install with ``pip install gmmc[plot]``. matplotlib is imported only when a
function here is called. Each function draws on ``ax`` when given, otherwise
on a new figure that does not touch pyplot's global state (so it works
headless); it returns the Axes: save with ``ax.figure.savefig("out.png")``.
"""
import numpy as np

from .conditioning import marginal

__all__ = ["ellipses", "density", "selection"]


def _matplotlib():
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Ellipse
    except ImportError:
        raise ImportError("gmmc.plot needs matplotlib: pip install 'gmmc[plot]' "
                          "(or pip install matplotlib)") from None
    return Figure, Ellipse


def _axes(ax, figsize=(6.4, 4.8)):
    if ax is not None:
        return ax
    Figure, _ = _matplotlib()
    fig = Figure(figsize=figsize, layout="tight")
    return fig.add_subplot()


def _check_dims(model, dims):
    n_features = model.means_.shape[1]
    if n_features < 2:
        raise ValueError("plotting needs a model of at least 2 features")
    dims = tuple(int(d) for d in dims)
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= d < n_features for d in dims):
        raise ValueError(f"dims must be two different feature indices in [0, {n_features}),"
                         f" got {dims}")
    return dims


def _labels(model, dims):
    names = getattr(model, "feature_names_in_", None)
    return [str(names[d]) if names is not None else f"feature {d}" for d in dims]


def _colors(n):
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def ellipses(model, X=None, dims=(0, 1), ax=None, n_std=(1.0, 2.0), title=None):
    """Draw the component ellipses over the points of X coloured by component.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model of at least two features.
    X : array-like of shape (n_samples, n_features), optional
        Points to scatter, coloured by ``model.predict(X)``.
    dims : pair of int, default=(0, 1)
        The two features to show; ellipses are those of the marginal of each
        component on them.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure's.
    n_std : sequence of float, default=(1, 2)
        Draw one ellipse per value, at that many standard deviations.
    title : str, optional
        Axes title; by default the number of components and covariance type.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (save with ``ax.figure.savefig(path)``).

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        For a model of one feature or invalid ``dims``.

    See Also
    --------
    density : Contours of the mixture density.

    Examples
    --------
    >>> import gmmc
    >>> from gmmc import plot
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> ax = plot.ellipses(gm, X)
    >>> ax.get_title()
    '2-component full Gaussian mixture'
    >>> len(ax.patches)  # two ellipses (1 and 2 sd) per component
    4
    """
    Figure, Ellipse = _matplotlib()
    dims = _check_dims(model, dims)
    ax = _axes(ax)
    sub = marginal(model, list(dims))
    n_components = len(sub.weights_)
    colors = _colors(n_components)
    if X is not None:
        labels = model.predict(X)
        X = np.asarray(X)
        ax.scatter(X[:, dims[0]], X[:, dims[1]], c=[colors[i] for i in labels], s=10,
                   alpha=0.7, linewidths=0)
    covariances = _full_2x2(sub)
    for k in range(n_components):
        values, vectors = np.linalg.eigh(covariances[k])
        angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
        for scale in n_std:
            width, height = 2 * scale * np.sqrt(np.maximum(values[::-1], 0))
            ax.add_patch(Ellipse(sub.means_[k], width, height, angle=angle, fill=False,
                                 edgecolor=colors[k], linewidth=2,
                                 alpha=max(0.3, 1.0 - 0.25 * (scale - 1))))
        ax.plot(*sub.means_[k], marker="x", color="black", markersize=8)
    ax.autoscale_view()
    xlabel, ylabel = _labels(model, dims)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else
                 f"{n_components}-component {model.covariance_type} Gaussian mixture")
    return ax


def _full_2x2(model):
    c = np.asarray(model.covariances_, dtype=np.float64)
    k = len(model.weights_)
    if model.covariance_type == "full":
        return c
    if model.covariance_type == "tied":
        return np.repeat(c[None], k, axis=0)
    if model.covariance_type == "diag":
        return np.array([np.diag(row) for row in c])
    return np.array([v * np.eye(2) for v in c])


def density(model, X=None, dims=(0, 1), ax=None, levels=12, grid=200, limits=None,
            title=None):
    """Draw filled contours of the mixture density on two features.

    The other features are integrated out (the marginal mixture on ``dims``).

    Parameters
    ----------
    model : GaussianMixture
        A fitted model of at least two features.
    X : array-like of shape (n_samples, n_features), optional
        Points to scatter over the contours.
    dims : pair of int, default=(0, 1)
        The two features to show.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure's.
    levels : int or array-like, default=12
        Contour levels, as ``matplotlib.axes.Axes.contourf`` takes them.
    grid : int, default=200
        Grid points per axis at which the density is evaluated.
    limits : pair of pairs of float, optional
        ``((xmin, xmax), (ymin, ymax))``; by default the component means
        +- 3 standard deviations, widened to the points of X.
    title : str, optional
        Axes title; by default "mixture density".

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on, with a colour bar of the density.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        For a model of one feature or invalid ``dims``.

    See Also
    --------
    ellipses : The components' ellipses.
    gmmc.conditioning.marginal : The mixture drawn.

    Examples
    --------
    >>> import gmmc
    >>> from gmmc import plot
    >>> X = gmmc.load_faithful()
    >>> gm = gmmc.GaussianMixture(2, random_state=0).fit(X)
    >>> ax = plot.density(gm, X, grid=50, title="Old Faithful")
    >>> ax.get_title(), ax.get_xlabel()
    ('Old Faithful', 'feature 0')
    """
    _matplotlib()
    dims = _check_dims(model, dims)
    ax = _axes(ax)
    sub = marginal(model, list(dims))
    if hasattr(sub, "feature_names_in_"):  # evaluated on a bare grid array below
        del sub.feature_names_in_
    if limits is None:
        sd = np.sqrt(np.array([np.diag(c) for c in _full_2x2(sub)]))
        low = (sub.means_ - 3 * sd).min(axis=0)
        high = (sub.means_ + 3 * sd).max(axis=0)
        if X is not None:
            pts = np.asarray(X)[:, dims]
            low, high = np.minimum(low, pts.min(axis=0)), np.maximum(high, pts.max(axis=0))
        limits = tuple(zip(low, high))
    xs = np.linspace(*limits[0], grid)
    ys = np.linspace(*limits[1], grid)
    xx, yy = np.meshgrid(xs, ys)
    points = np.column_stack([xx.ravel(), yy.ravel()]).astype(sub.means_.dtype)
    z = np.exp(sub.score_samples(points)).reshape(xx.shape)
    contours = ax.contourf(xx, yy, z, levels=levels, cmap="viridis")
    ax.figure.colorbar(contours, ax=ax, label="density")
    if X is not None:
        pts = np.asarray(X)
        ax.scatter(pts[:, dims[0]], pts[:, dims[1]], s=6, color="white", alpha=0.6,
                   linewidths=0)
    xlabel, ylabel = _labels(model, dims)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else "mixture density")
    return ax


def _criterion_name(records):
    """'BIC', 'AIC' or 'held-out log-likelihood': which column 'criterion' copies."""
    scored = [r for r in records if np.isfinite(r["criterion"])]
    for name in ("bic", "aic"):
        if scored and all(r["criterion"] == r[name] for r in scored):
            return name.upper()
    return "minus held-out log-likelihood"


def selection(table, ax=None, column="criterion", title=None):
    """Plot a model-selection criterion against the number of components.

    One line per covariance type; the selected candidate is circled.

    Parameters
    ----------
    table : Selection, pandas.DataFrame or list of dict
        The result of :func:`gmmc.select`, or its table.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure's.
    column : str, default='criterion'
        The column to plot: 'criterion' (the value ranked), or 'bic', 'aic',
        'log_likelihood', ...
    title : str, optional
        Axes title; by default names the criterion.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        For an empty table or an unknown column.

    See Also
    --------
    gmmc.select : Makes the table.

    Examples
    --------
    >>> import gmmc
    >>> from gmmc import plot
    >>> X = gmmc.load_faithful()
    >>> ax = plot.selection(gmmc.select(X, n_components=range(1, 4), random_state=0))
    >>> ax.get_title()
    'model selection: BIC'
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['full', 'tied', 'diag', 'spherical', 'selected: K=2 full']
    """
    _matplotlib()
    table = getattr(table, "table", table)  # a Selection
    records = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    if not records:
        raise ValueError("the table is empty")
    if column not in records[0]:
        raise ValueError(f"the table has no column {column!r}")
    label = _criterion_name(records) if column == "criterion" else column
    ax = _axes(ax)
    covs = list(dict.fromkeys(r["covariance_type"] for r in records))
    colors = _colors(len(covs))
    for cov, color in zip(covs, colors):
        rows = sorted((r for r in records if r["covariance_type"] == cov),
                      key=lambda r: r["n_components"])
        ks = [r["n_components"] for r in rows]
        values = [float(r[column]) for r in rows]
        ax.plot(ks, values, marker="o", color=color, label=cov)
    for r in records:
        if r.get("selected"):
            ax.plot(r["n_components"], float(r[column]), marker="o", markersize=16,
                    markerfacecolor="none", markeredgecolor="red", markeredgewidth=2,
                    linestyle="none", label=f"selected: K={r['n_components']} "
                                            f"{r['covariance_type']}")
    ax.set_xlabel("number of components K")
    lower_better = column in ("criterion", "bic", "aic")
    ax.set_ylabel(label + (" (lower is better)" if lower_better else ""))
    ax.legend()
    ax.set_title(title if title is not None else f"model selection: {label}")
    return ax
