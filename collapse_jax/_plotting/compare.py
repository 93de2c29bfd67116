"""Several runs overlaid on shared metric panels (``collapse-jax plot A B ...``).

One panel per metric; every run draws the same statistic over its chains in its own
colour (its sweep points in different line styles), with the band, so like is
compared with like. Runs whose metric cannot share a panel (absent, bool, or of
another shape) are refused with the house message naming the run and the metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collapse_jax._plotting.axes import (
    _band_and_centre,
    _generation_axis,
    _has_positive,
    _panels,
    _thinned,
)
from collapse_jax._plotting.data import (
    _check_ds,
    _generations,
    _generations_done,
    _is_bool_metric,
    _json_attr,
    _labels,
    _metric_label,
    _series,
    _summary_statistic_at,
    _trailing,
)
from collapse_jax._statistic import across_chains, check_statistic
from collapse_jax.checks import described, fail
from collapse_jax.io import metric_names

_STYLES = ("-", "--", ":", "-.")  # one per sweep point of a run


def _size(ds, metric: str) -> tuple[int, ...]:
    return tuple(int(ds.sizes[d]) for d in _trailing(ds, metric))


def _default_metrics(ds) -> list[str]:
    """The metrics of the first run's metric figures, else its numeric metrics."""
    specs = _json_attr(ds, "figures", [])
    chosen = [
        s["metric"]
        for s in (specs if isinstance(specs, list) else [])
        if isinstance(s, dict) and s.get("kind") == "metric" and "metric" in s
    ]
    if not chosen:
        chosen = [m for m in sorted(metric_names(ds)) if not _is_bool_metric(ds, m)]
    return list(dict.fromkeys(chosen))


def _check_labels(fn: str, arg: str, labels: Any, count: int) -> list[str]:
    if (
        isinstance(labels, str)
        or not isinstance(labels, Sequence)
        or not all(isinstance(s, str) and s for s in labels)
    ):
        fail(
            fn,
            arg,
            f"a list of {count} non-empty labels (str), one per run",
            labels,
            "Pass e.g. ['baseline', 'curated'].",
            error=TypeError,
        )
    if len(labels) != count:
        fail(
            fn,
            arg,
            f"{count} labels, one per run",
            described(f"{len(labels)} labels {list(labels)}"),
            "Give every run one label, in the order of the runs.",
        )
    if len(set(labels)) != len(labels):
        fail(
            fn,
            arg,
            "distinct labels (the legend tells the runs apart by them)",
            list(labels),
            "Give every run its own label.",
        )
    return list(labels)


def _check_shared(fn: str, arg: str, datasets, labels, metrics: list[str]) -> None:
    first = datasets[0]
    for m in metrics:
        for ds, label in zip(datasets, labels, strict=True):
            names = metric_names(ds)
            if m not in names:
                got = f"run {label!r} without metric {m!r} (its metrics: "
                got += f"{', '.join(sorted(names)) or 'none'})"
            elif _is_bool_metric(ds, m):
                got = f"run {label!r} whose {m!r} is bool (a share of chains)"
            elif _size(ds, m) != _size(first, m):
                got = (
                    f"run {label!r} whose {m!r} has shape {_size(ds, m)}, against "
                    f"{_size(first, m)} in run {labels[0]!r}"
                )
            else:
                continue
            fail(
                fn,
                arg,
                f"runs whose metric {m!r} can share a panel (numeric, one shape)",
                described(got),
                "Compare runs of the same family, or choose metrics every run has.",
            )


def _point_statistic(ds, kind, metric, point, keep, statistic, band):
    """The statistic over chains of one sweep point at the generations ``keep``,
    as plot_metric computes it (stored quantiles or mean ± 2 SE in a summary)."""
    if kind == "chains":
        return across_chains(
            _series(ds, kind, metric, point, 0)[:, keep], statistic, band
        )
    return _summary_statistic_at(ds, metric, point, 0, statistic, band, keep)


def plot_overlay(
    datasets: Sequence[Any],
    labels: Sequence[str],
    *,
    metrics: Sequence[str] | None = None,
    statistic: str = "median",
    band: tuple[float, float] = (0.1, 0.9),
    _fn: str = "plot_overlay",
    _args: tuple[str, str, str] = ("datasets", "labels", "metrics"),
):
    """Overlay several runs' results on one panel per metric.

    Args:
      datasets: results Datasets (kind "chains" or "summary"), at least one.
      labels: one distinct legend label per Dataset.
      metrics: the metrics to draw (each a numeric metric of every run); None takes
        the metrics of the first run's metric figures (``attrs["figures"]``).
      statistic: the statistic over chains every run draws: ``"mean"`` (band:
        ± 2 SE), ``"median"`` or ``"quantile:<level>"`` (band: ``band``).
      band: the quantiles of the shaded band around a median or quantile.

    Returns:
      A matplotlib Figure with one Axes per metric. Each run's lines carry the gid
      ``"<statistic>:<label>:<sweep label>"`` and its bands ``"band:<label>:<sweep
      label>"``; a run's colour is ``C<i>`` for the ``i``-th run.

    Raises:
      TypeError, ValueError: a Dataset is not a results Dataset, labels are not one
        distinct string per run, or a metric cannot share a panel across the runs
        (absent from a run, bool, or of another shape); the message names the run.
    """
    fn, runs_arg, labels_arg = _fn, _args[0], _args[1]
    if isinstance(datasets, str) or not isinstance(datasets, Sequence) or not datasets:
        fail(
            fn,
            runs_arg,
            "a non-empty list of results",
            datasets,
            "Pass one or more runs.",
            error=TypeError,
        )
    kinds = [_check_ds(fn, ds) for ds in datasets]
    labels = _check_labels(fn, labels_arg, labels, len(datasets))
    if metrics is None:
        metrics = _default_metrics(datasets[0])
    elif isinstance(metrics, str):
        metrics = [metrics]
    if not metrics or not all(isinstance(m, str) for m in metrics):
        fail(
            fn,
            _args[2],
            "a non-empty list of metric names",
            metrics,
            f"Pass metrics among {sorted(metric_names(datasets[0]))}.",
        )
    metrics = list(dict.fromkeys(metrics))
    _check_shared(fn, runs_arg, datasets, labels, metrics)
    statistic = check_statistic(fn, "statistic", statistic)
    if statistic == "probability":
        fail(
            fn,
            "statistic",
            "'mean', 'median' or 'quantile:<level>' for a numeric metric",
            statistic,
            "Pass statistic='median'.",
        )
    first = datasets[0]
    fig, axes = _panels(len(metrics), 2, (6.0, 4.0))
    for ax, metric in zip(axes, metrics, strict=True):
        log = metric in _json_attr(first, "log_metrics", [])
        title = None
        for i, (ds, kind, label) in enumerate(
            zip(datasets, kinds, labels, strict=True)
        ):
            gens = _generations(ds)
            done = _generations_done(ds)
            sweep = _labels(ds)
            for p, point in enumerate(sweep):
                keep = gens <= done[p]
                x = gens[keep]
                stat = _point_statistic(ds, kind, metric, p, keep, statistic, band)
                title = title or stat.title
                name = label if len(sweep) == 1 else f"{label}: {point}"
                colour, ls = f"C{i % 10}", _STYLES[p % len(_STYLES)]
                _band_and_centre(
                    ax,
                    x,
                    stat,
                    log,
                    _thinned(x.size),
                    colour=colour,
                    alpha=0.15,
                    label=name,
                    band_gid=f"band:{label}:{point}",
                    centre_gid=f"{stat.name}:{label}:{point}",
                    ls=ls,
                )
        ax.legend(title=title, fontsize=8, title_fontsize=8)
        if log and _has_positive(ax):
            ax.set_yscale("log")
        _generation_axis(ax)
        ax.set_ylabel(_metric_label(first, metric))
    fig.suptitle(f"{len(datasets)} runs compared")
    return fig
