"""Matplotlib plumbing shared by every figure: a Figure without pyplot state, panel
grids, the generation axis, titles and legend handles, and what a log axis cannot
draw.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from collapse_jax.checks import described, fail

# Generations drawn per line at most: a figure is a few hundred pixels wide, and
# matplotlib's legend placement and layout scan every vertex (200,000 generations
# took 10 s to draw, against 6 s for the chains themselves).
MAX_DRAWN = 4001


def _thinned(n: int, max_drawn: int = MAX_DRAWN) -> np.ndarray:
    """Indices of the generations a line of ``n`` draws: every one up to
    ``max_drawn``, else that many evenly spaced, the first and last included.
    Statistics (means, quantiles, zero counts) are computed on every generation
    first; only what is drawn is thinned."""
    if n <= max_drawn:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_drawn)).astype(np.int64))


def _positive(y: np.ndarray, log: bool) -> np.ndarray:
    """On a log axis, non-positive values become NaN (gaps, not errors)."""
    y = np.asarray(y, np.float64)
    return np.where(y > 0, y, np.nan) if log else y


def _new_figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _figure_and_axes(fn: str, ax: Any, figsize: tuple[float, float]):
    from matplotlib.axes import Axes

    if ax is None:
        fig = _new_figure(figsize)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        fail(
            fn,
            "ax",
            "None or a matplotlib Axes",
            ax,
            "Pass ax=None for a new figure, or fig.add_subplot().",
            error=TypeError,
        )
    try:
        fig = ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        fig = ax.figure
    if fig is None:  # ax.remove() detaches an Axes from its figure
        fail(
            fn,
            "ax",
            "None or a matplotlib Axes on a figure",
            described("an Axes removed from its figure"),
            "Pass ax=None for a new figure, or fig.add_subplot().",
        )
    return fig, ax


def _panels(num: int, ncols_max: int, panel: tuple[float, float]):
    """A new figure with ``num`` panels on a grid at most ``ncols_max`` wide."""
    ncols = min(num, ncols_max)
    nrows = math.ceil(num / ncols)
    fig = _new_figure((panel[0] * ncols, panel[1] * nrows))
    return fig, [fig.add_subplot(nrows, ncols, i + 1) for i in range(num)]


def _generation_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _title(ds) -> str:
    """The run's title, wrapped so that a long one is not cut at the figure's edge."""
    import textwrap

    return textwrap.fill(str(ds.attrs.get("title", "")), width=70)


def _has_positive(ax) -> bool:
    """Whether any line or band of ``ax`` reaches a positive y."""
    ys = [np.asarray(line.get_ydata(), np.float64) for line in ax.lines]
    ys += [p.vertices[:, 1] for c in ax.collections for p in c.get_paths()]
    return any(np.any(y > 0) for y in ys)


def _theory_handle(label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.3", lw=1.2, ls="--", label=label)


def _band_and_centre(
    ax, x, stat, log, drawn, *, colour, alpha, label, band_gid, centre_gid, ls=None
):
    """Draw a statistic over chains: its band (``stat.lo`` to ``stat.hi``) filled
    and its centre as a line, at the generations ``x[drawn]``."""
    ax.fill_between(
        x[drawn],
        _positive(stat.lo[drawn], log),
        _positive(stat.hi[drawn], log),
        color=colour,
        alpha=alpha,
        lw=0,
        gid=band_gid,
    )
    style = {} if ls is None else {"ls": ls}
    ax.plot(
        x[drawn],
        _positive(stat.centre[drawn], log),
        color=colour,
        lw=1.8,
        label=label,
        gid=centre_gid,
        **style,
    )


def _zero_note(x: np.ndarray, y: np.ndarray) -> str:
    """A legend note for the generations n >= 1 where ``y`` is <= 0 (a log axis
    cannot draw them; generation 0, the truth, is often 0 by definition)."""
    later = (x > 0) & np.isfinite(y)
    zero = later & (y <= 0)
    if not zero.any():
        return ""
    what = "0" if np.all(y[zero] == 0) else "≤ 0"
    if zero.sum() == later.sum():
        return f": {what} at every generation (not drawn on the log axis)"
    return f": {what} at {int(zero.sum())} of {int(later.sum())} generations (gaps)"
