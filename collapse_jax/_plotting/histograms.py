"""Histograms of a metric over chains at chosen generations (plot_histograms)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from collapse_jax._plotting.axes import (
    _panels,
    _title,
)
from collapse_jax._plotting.data import (
    _check_chains_kind,
    _check_component,
    _check_ds,
    _check_generations,
    _check_int,
    _check_metric,
    _generations,
    _generations_done,
    _json_attr,
    _labels,
    _metric_label,
    _refuse_bool,
    _series,
    _sweep_indices,
)


def plot_histograms(
    ds,
    metric: str,
    generations: int | Sequence[int],
    *,
    sweep: str | Sequence[str] | None = None,
    component: int = 0,
    bins: int = 40,
):
    """Histograms of a metric across chains at chosen generations.

    One panel per sweep point (at most three panels a row), each overlaying step
    histograms (``Axes.stairs``, shared bin edges within the panel) of the metric
    over the chains with status 0 at each chosen generation. A metric listed in
    ``attrs["log_metrics"]`` gets log-spaced bins over its positive values and a log
    x axis. A generation past the sweep point's ``generations_done`` is left out and
    named in the panel title.

    Args:
      ds: a results Dataset of kind "chains".
      metric: a numeric metric of ``ds``.
      generations: a generation or a list of them, within the Dataset's range.
      sweep: a sweep label or a list of them; None draws every sweep point.
      component: for a vector metric, the flat index into its trailing dims.
      bins: number of bins.

    Returns:
      The matplotlib Figure. Each histogram is a StepPatch with gid
      ``"hist:<label>:<generation>"``.

    Raises:
      TypeError: ``ds`` is not a Dataset, or an argument has the wrong type.
      ValueError: ``ds`` is a summary file, ``metric``, a sweep label or a
        generation is unknown or out of range, or ``metric`` is bool.

    Examples:
      >>> from collapse_jax.plots import _demo_dataset, plot_histograms
      >>> fig = plot_histograms(_demo_dataset(), "log_var", [0, 5, 20])
      >>> len(fig.axes), [p.get_gid() for p in fig.axes[0].patches]
      (2, ['hist:M=10:0', 'hist:M=10:5', 'hist:M=10:20'])
    """
    fn = "plot_histograms"
    kind = _check_ds(fn, ds)
    _check_chains_kind(fn, kind)
    _check_metric(fn, ds, kind, metric)
    _refuse_bool(fn, ds, metric)
    chosen = _check_generations(fn, ds, generations)
    points = _sweep_indices(fn, ds, sweep)
    component = _check_component(fn, ds, metric, kind, component)
    bins = _check_int(fn, "bins", bins, 1, "Pass e.g. bins=40.")
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    log = metric in _json_attr(ds, "log_metrics", [])
    gens = _generations(ds)
    position = {int(g): i for i, g in enumerate(gens)}
    done = _generations_done(ds)
    colours = colormaps["viridis"](np.linspace(0.0, 0.9, len(chosen)))
    fig, axes = _panels(len(points), 3, (4.4, 3.4))
    for ax, p in zip(axes, points, strict=True):
        label = _labels(ds)[p]
        values = _series(ds, kind, metric, p, component)
        reached = [g for g in chosen if g <= done[p]]
        data, hidden = {}, {}
        for g in reached:
            v = values[:, position[g]]
            v = v[np.isfinite(v)]
            data[g] = v[v > 0] if log else v
            hidden[g] = v.size - data[g].size  # <= 0: off a log axis
        pooled = np.concatenate([v for v in data.values()] + [np.zeros(0)])
        if pooled.size:
            edges = _edges(pooled, bins, log)
            for g, v in data.items():
                counts, _ = np.histogram(v, edges)
                ax.stairs(
                    counts,
                    edges,
                    color=colours[chosen.index(g)],
                    lw=1.3,
                    label=f"generation {g}" + _histogram_note(hidden[g], v.size),
                    gid=f"hist:{label}:{g}",
                )
            ax.legend(fontsize=8)
            if log:
                ax.set_xscale("log")
        else:
            empty = "no data"
            if any(hidden.values()):
                empty = "every value ≤ 0 (not drawn on a log axis)"
            ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center")
        missing = [g for g in chosen if g > done[p]]
        note = f"\n(not reached: {', '.join(map(str, missing))})" if missing else ""
        ax.set_title(f"{label}{note}", fontsize=10)
        ax.set_xlabel(_metric_label(ds, metric, component))
        ax.set_ylabel("chains")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(_title(ds))
    return fig


def _histogram_note(hidden: int, shown: int) -> str:
    """What a histogram's legend adds: chains <= 0 left off a log axis, or none."""
    if hidden:
        return f" ({hidden} chains ≤ 0 not shown)"
    return "" if shown else " (no values)"


def _edges(values: np.ndarray, bins: int, log: bool) -> np.ndarray:
    """Shared bin edges; log-spaced on a log axis; a zero range is widened."""
    lo, hi = float(values.min()), float(values.max())
    if log:
        if hi <= lo:
            lo, hi = lo / 1.5, hi * 1.5
        return np.geomspace(lo, hi, bins + 1)
    return np.histogram_bin_edges(values, bins)
