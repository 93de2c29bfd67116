"""Comparing runs: several run directories overlaid on shared metric panels.

``collapse-jax plot RUN_DIR RUN_DIR ...`` and :func:`plot_runs` read each run with
:func:`collapse_jax.load` (the same path as ``collapse-jax plot RUN_DIR``) and draw one
panel per metric, each run in its own colour and legend label
(:func:`collapse_jax.plots.plot_overlay`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

from collapse_jax import io as cio
from collapse_jax._plotting.compare import plot_overlay
from collapse_jax.checks import fail
from collapse_jax.wording import Wording

__all__ = ["plot_runs", "save_comparison", "COMPARISON_NAME", "DEFAULT_COMPARISON_DIR"]

COMPARISON_NAME = "comparison"  # the figure's file name (PNG and PDF)
DEFAULT_COMPARISON_DIR = "comparison"  # the CLI's --out, in the current directory


def _names(w: Wording) -> tuple[str, str, str]:
    """How the runs, labels and metrics arguments are spelled at this entry point."""
    if w.cli:
        return w.option("run_dir"), "--label", "--metric"
    return "runs", "labels", "metrics"


def _default_label(run: Any, i: int) -> str:
    if isinstance(run, str | os.PathLike):
        p = pathlib.Path(run)
        return (p if p.is_dir() else p.parent).resolve().name or str(p)
    return str(getattr(run, "attrs", {}).get("title", "")) or f"run {i}"


def _labels_for(runs: list, labels: Any) -> Any:
    if labels is not None:
        return labels
    out = [_default_label(r, i) for i, r in enumerate(runs)]
    if len(set(out)) == len(out):
        return out
    # Two runs of one name (a/run, b/run): their paths (or positions) tell them apart.
    return [
        str(r) if isinstance(r, str | os.PathLike) else f"run {i}"
        for i, r in enumerate(runs)
    ]


def _read(w: Wording, arg: str, run: Any, i: int):
    if not isinstance(run, str | os.PathLike):
        return run  # a Dataset: plot_overlay checks it
    return cio.load_run(run, w.fn, arg if w.cli else f"{arg}[{i}]")


def plot_runs(
    runs: Sequence[Any],
    *,
    labels: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    statistic: str = "median",
    out: str | os.PathLike | None = None,
    _wording: Wording | None = None,
):
    """Overlay several runs on one panel per metric, one colour and label per run.

    Args:
      runs: run directories, results files or results Datasets (one or more).
      labels: one distinct legend label per run; None names each run by its
        directory (a Dataset by its title).
      metrics: the metrics to compare, each a numeric metric of every run; None takes
        the first run's metric figures.
      statistic: what every run draws over its chains: ``"median"`` (with its 10 to
        90 % band), ``"mean"`` (± 2 SE) or ``"quantile:<level>"``.
      out: a directory to write ``comparison.png`` and ``comparison.pdf`` to (made
        if missing); None writes nothing.

    Returns:
      The matplotlib Figure (lines with gids ``"<statistic>:<label>:<sweep
      label>"``, run ``i`` in colour ``C<i>``).

    Raises:
      FileNotFoundError: a run directory or results file does not exist.
      TypeError, ValueError: labels are not one distinct string per run, or a metric
        cannot share a panel (absent from a run, bool, another shape): the message
        names the run.

    Examples:
      >>> import collapse_jax as cj
      >>> from collapse_jax.plots import _demo_dataset
      >>> fig = cj.plot_runs([_demo_dataset(), _demo_dataset()], labels=["a", "b"],
      ...                    metrics=["log_var"])
      >>> sorted({line.get_label() for line in fig.axes[0].lines})
      ['a: M=10', 'a: M=100', 'b: M=10', 'b: M=100']
    """
    w = _wording or Wording("plot_runs")
    runs_arg, labels_arg, metrics_arg = _names(w)
    if isinstance(runs, str | os.PathLike) or not isinstance(runs, Sequence):
        fail(
            w.fn,
            runs_arg,
            "a list of run directories, results files or Datasets",
            runs,
            f"Pass e.g. {runs_arg}=['runs/a', 'runs/b'] (a list, even of one run).",
            error=TypeError,
        )
    if not runs:
        fail(w.fn, runs_arg, "one run or more", list(runs), "Pass the runs to compare.")
    runs = list(runs)
    datasets = [_read(w, runs_arg, r, i) for i, r in enumerate(runs)]
    fig = plot_overlay(
        datasets,
        _labels_for(runs, labels),
        metrics=metrics,
        statistic=statistic,
        _fn=w.fn,
        _args=(runs_arg, labels_arg, metrics_arg),
    )
    if out is not None:
        save_comparison(fig, out, _wording=w)
    return fig


def save_comparison(
    fig, out: str | os.PathLike, *, _wording: Wording | None = None
) -> list[str]:
    """Write ``fig`` as ``out/comparison.png`` and ``.pdf`` (``out`` made if missing).

    Returns:
      The two paths written.
    """
    from collapse_jax.experiments._figures import save_figure

    w = _wording or Wording("save_comparison")
    target = pathlib.Path(out)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(
            w.fn,
            w.option("out"),
            "a writable directory",
            str(target),
            f"Pick another directory ({err.strerror}).",
        )
    return save_figure(fig, target / COMPARISON_NAME)
