"""Binned shares of a vector metric per generation (plot_binned).

A metric whose trailing dim is ``(bins,)`` holds, per chain and generation, the
shares of some quantity in fixed bins (e.g. the language model's
``gen0_log_ppl_hist``: the share of generated blocks per bin of log-perplexity
under generation 0). It is drawn as one line per chosen generation, the shares
averaged over chains, one panel per sweep point: the paper's histograms of how
the generated data move. Any metric of that shape works.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from collapse_jax._plotting.axes import _title
from collapse_jax._plotting.data import (
    _check_chains_kind,
    _check_ds,
    _check_generations,
    _check_metric,
    _check_trailing,
    _generations,
    _generations_done,
    _labels,
    _sweep_indices,
)
from collapse_jax.checks import fail


def plot_binned(
    ds,
    metric: str,
    generations: int | Sequence[int],
    *,
    edges: Sequence[float],
    sweep: str | Sequence[str] | None = None,
    x_label: str | None = None,
    log_x: bool = False,
):
    """Binned shares stored in a metric, one line per generation (mean over chains).

    Args:
      ds: a results Dataset of kind "chains".
      metric: a metric whose trailing dim is ``(bins,)``.
      generations: a generation or a list of them (one line each); generations
        past a sweep point's ``generations_done`` are left out.
      edges: the ``bins + 1`` bin edges, increasing (the x axis; each share is
        drawn at its bin's centre).
      sweep: a sweep label or a list of them (one panel each); None: all.
      x_label: the x axis's label (default: the metric's name).
      log_x: a log x axis (edges must then be positive).

    Returns:
      The matplotlib Figure; each line has gid ``"binned:<label>:<generation>"``.

    Raises:
      TypeError: ``ds`` is not a Dataset.
      ValueError: ``ds`` is a summary file; the metric, a sweep label or a
        generation is unknown; the metric is not binned; or the edges do not fit.
    """
    fn = "plot_binned"
    kind = _check_ds(fn, ds)
    _check_chains_kind(fn, kind)
    _check_metric(fn, ds, kind, metric)
    trailing = _check_trailing(
        fn,
        ds,
        metric,
        1,
        "a binned metric, one trailing dim (bins,)",
        "Pick a metric such as 'gen0_log_ppl_hist'.",
    )
    bins = ds.sizes[trailing[0]]
    e = np.asarray(edges, np.float64)
    if e.ndim != 1 or e.size != bins + 1 or np.any(np.diff(e) <= 0):
        fail(
            fn,
            "edges",
            f"{bins + 1} increasing bin edges (the metric has {bins} bins)",
            e.tolist(),
            "Pass the edges the metric was binned with.",
        )
    if log_x and e[0] <= 0:
        fail(fn, "edges", "positive with log_x=True", e.tolist(), "Pass log_x=False.")
    chosen = _check_generations(fn, ds, generations)
    points = _sweep_indices(fn, ds, sweep)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    centres = np.sqrt(e[1:] * e[:-1]) if log_x else 0.5 * (e[1:] + e[:-1])
    position = {int(g): i for i, g in enumerate(_generations(ds))}
    done = _generations_done(ds)
    labels = _labels(ds)
    values = np.asarray(ds[metric].values, np.float64)
    fig = Figure(figsize=(4.2 * len(points) + 0.6, 3.6))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(points), sharey=True, squeeze=False)[0])
    colours = _colours(len(chosen))
    for ax, p in zip(axes, points, strict=True):
        for colour, g in zip(colours, chosen, strict=True):
            if g > done[p]:
                continue
            ax.plot(
                centres,
                np.nanmean(values[p, :, position[g]], axis=0),
                color=colour,
                label=f"generation {g}",
                gid=f"binned:{labels[p]}:{g}",
            )
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x_label or metric)
        ax.set_title(labels[p], fontsize=9, loc="left")
    axes[0].set_ylabel("share (mean over chains)")
    axes[-1].legend(fontsize="small")
    fig.suptitle(f"{_title(ds)}: {metric}", fontsize=10)
    fig.tight_layout()
    return fig


def _colours(n: int):
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0.0, 0.9, max(n, 1)))[:n]
