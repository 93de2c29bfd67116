"""Headless matplotlib figures drawn from a results :class:`xarray.Dataset`.

The Dataset follows the results schema (``ds.attrs["collapse_jax_format"] == 1``):
kind ``"chains"`` holds every chain, dims ``(sweep, chain, generation, ...)``; kind
``"summary"`` holds quantiles over chains, dims ``(sweep, quantile, generation,
...)``. Generation 0 is the truth. A partial results file (``attrs["complete"]``
0) plots what it has: generations past ``attrs["generations_done"]`` (records per
sweep point) hold fill values and are not drawn.

A theory curve ``theory__<metric>`` states one statistic of the metric across
chains (its ``statistic`` attribute: ``"mean"``, ``"median"``, ``"quantile:<q>"``
or ``"probability"``; see :mod:`collapse_jax._statistic`), and the figure draws the
same statistic of the chains beside it: the mean with ± 2 standard errors from the
independent chains beside an expected value, the median with a quantile band beside
a median. On a log axis, a series that is 0 (which a log axis cannot show) is named
in the legend instead of vanishing.

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot state:
headless, thread-safe, the caller's backend is left alone) with fixed sizes, so the
same Dataset gives the same bytes. Lines carry a ``gid`` naming what they show
(``"median:<sweep label>"``, ``"chain:<sweep label>:<chain id>"``,
``"theory:<sweep label>"``, ``"fraction:<sweep label>"``, ...), for tests and for
callers who restyle them. :func:`figures` draws the figure specs listed in
``attrs["figures"]`` and writes PNG and PDF files.

This module holds the line figures and the figure specs; the rest lives in
``collapse_jax._plotting``, one concept a module: reading a results Dataset
(``data``), matplotlib plumbing (``axes``), :func:`plot_histograms`,
:func:`plot_snapshots` and the demo Dataset of the examples.
"""

from __future__ import annotations

import numbers
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from collapse_jax._plotting.axes import MAX_DRAWN as _MAX_DRAWN
from collapse_jax._plotting.axes import (
    _band_and_centre,
    _figure_and_axes,
    _generation_axis,
    _has_positive,
    _new_figure,  # noqa: F401 - re-exported
    _positive,
    _theory_handle,
    _thinned,
    _title,
    _zero_note,
)
from collapse_jax._plotting.binned import plot_binned
from collapse_jax._plotting.compare import plot_overlay
from collapse_jax._plotting.data import (
    _check_bool,
    _check_component,
    _check_ds,
    _check_int,
    _check_metric,
    _generations,
    _generations_done,
    _is_bool_metric,
    _json_attr,
    _labels,
    _metric_label,
    _ok_mask,
    _refuse_bool,
    _series,
    _summary_statistic_at,
    _sweep_indices,
    _theory_curve,
    _theory_statistic,
)
from collapse_jax._plotting.demo import _demo_dataset  # noqa: F401 - the examples'
from collapse_jax._plotting.histograms import plot_histograms
from collapse_jax._plotting.images import plot_image_grid
from collapse_jax._plotting.snapshots import (
    _SNAPSHOT_DRAWS,  # noqa: F401 - re-exported (tests)
    _snapshot_drawer,
    plot_snapshots,
)
from collapse_jax._statistic import across_chains, check_statistic
from collapse_jax.checks import described, fail

__all__ = [
    "plot_metric",
    "plot_fraction",
    "plot_histograms",
    "plot_image_grid",
    "plot_binned",
    "plot_snapshots",
    "plot_overlay",
    "figures",
]


# Generations drawn per line at most (see _plotting.axes.MAX_DRAWN); a module
# global here so that plot_metric and plot_fraction read it when they draw.
MAX_DRAWN = _MAX_DRAWN


def _drawn(n: int) -> np.ndarray:
    """:func:`~collapse_jax._plotting.axes._thinned` to :data:`MAX_DRAWN`."""
    return _thinned(n, MAX_DRAWN)


def plot_metric(
    ds,
    metric: str,
    *,
    ax=None,
    sweep: str | Sequence[str] | None = None,
    component: int = 0,
    chains_shown: int = 8,
    band: tuple[float, float] = (0.1, 0.9),
    log: bool | None = None,
    theory: bool = True,
    statistic: str | None = None,
):
    """A metric against the generation: a statistic of the chains, its band, theory.

    For each sweep point (one colour each; the legend names the sweep labels): a
    statistic over chains as a solid line with its band shaded, the first
    ``chains_shown`` chains as thin translucent lines (kind "chains" only), and the
    theory curve ``theory__<metric>`` dashed where the Dataset has one. The
    statistic is the one the theory curve states (its ``statistic`` attribute), so
    like is compared with like: beside an expected value, the mean over chains with
    ± 2 standard errors from the independent chains; beside a median, the median
    with the ``band`` quantiles. Without a theory curve it is the median. Chains
    whose status is non-zero at a generation are left out of every statistic
    there. A summary file (kind "summary") draws its stored quantiles nearest to
    the requested levels, or its stored mean with ± 2 SE from the stored standard
    deviation. On a log axis a sweep point whose statistic is 0 (or below) at some
    generations n >= 1 says so in the legend. Generations past
    ``attrs["generations_done"]`` are not drawn.

    Args:
      ds: a results Dataset (kind "chains" or "summary").
      metric: a numeric metric of ``ds``, stored as (sweep, chain | quantile,
        generation, *metric_dims).
      ax: a matplotlib Axes to draw in; None makes a new 7 x 4.5 inch figure.
      sweep: a sweep label or a list of them; None draws every sweep point.
      component: for a vector metric, the flat (C order) index into its trailing
        dims; the theory curve is that of component 0 and is drawn only for it.
      chains_shown: individual chains drawn per sweep point (0 for none).
      band: the lower and upper quantiles of the shaded band, 0 <= lo < hi <= 1.
      log: log y axis; None chooses it when ``metric`` is listed in
        ``attrs["log_metrics"]``. Non-positive values leave gaps on a log axis.
      theory: draw ``theory__<metric>`` when present (its "label" attribute goes
        in the legend, once).
      statistic: the statistic over chains: ``"mean"``, ``"median"`` or
        ``"quantile:<level>"``; None takes the theory curve's (the median when no
        curve is drawn). A statistic other than the drawn curve's is refused.

    Returns:
      The matplotlib Figure (``ax``'s figure when ``ax`` is given). Its lines carry
      gids ``"chain:<label>:<chain id>"``, ``"<statistic>:<label>"`` (``"mean:..."``,
      ``"median:..."``, ``"q0.9:..."``) and ``"theory:<label>"``; the band is a
      PolyCollection with gid ``"band:<label>"``.

    Raises:
      TypeError: ``ds`` is not a Dataset, or an argument has the wrong type.
      ValueError: ``ds`` is not a collapse_jax results Dataset, ``metric`` or a
        sweep label is unknown, ``metric`` is bool (use :func:`plot_fraction`),
        ``component`` is out of range, ``band`` is not two increasing quantiles,
        or ``statistic`` is unknown or not the theory curve's.

    Examples:
      >>> from collapse_jax.plots import _demo_dataset, plot_metric
      >>> fig = plot_metric(_demo_dataset(), "log_var", chains_shown=2)
      >>> [line.get_gid() for line in fig.axes[0].lines][:4]
      ['chain:M=10:0', 'chain:M=10:1', 'mean:M=10', 'theory:M=10']
      >>> fig = plot_metric(_demo_dataset(), "log_var", theory=False)
      >>> [line.get_gid() for line in fig.axes[0].lines][-1]
      'median:M=100'
    """
    fn = "plot_metric"
    kind = _check_ds(fn, ds)
    _check_metric(fn, ds, kind, metric)
    _refuse_bool(fn, ds, metric)
    points = _sweep_indices(fn, ds, sweep)
    component = _check_component(fn, ds, metric, kind, component)
    chains_shown = _check_int(
        fn, "chains_shown", chains_shown, 0, "Pass chains_shown=0 to draw no chains."
    )
    lo_q, hi_q = _check_band(fn, band)
    if log is None:
        log = metric in _json_attr(ds, "log_metrics", [])
    log = _check_bool(fn, "log", log)
    theory = _check_bool(fn, "theory", theory)
    statistic = _statistic_for(fn, ds, metric, theory and component == 0, statistic)
    fig, ax = _figure_and_axes(fn, ax, (7.0, 4.5))

    gens = _generations(ds)
    done = _generations_done(ds)
    if kind == "summary":
        of = f"{ds.attrs.get('num_chains', '?')} chains"
    else:
        chain_ids = np.asarray(ds["chain"].values).tolist()
        of = f"{ds.sizes['chain']} chains"
    theory_label, title = None, None
    for i, p in enumerate(points):
        colour = f"C{i % 10}"
        label = _labels(ds)[p]
        keep = gens <= done[p]
        x = gens[keep]
        if kind == "chains":
            values = _series(ds, kind, metric, p, component)[:, keep]
            for c in range(min(chains_shown, values.shape[0])):
                d = _drawn(x.size)
                ax.plot(
                    x[d],
                    _positive(values[c, d], log),
                    color=colour,
                    lw=0.6,
                    alpha=0.35,
                    gid=f"chain:{label}:{chain_ids[c]}",
                )
            stat = across_chains(values, statistic, (lo_q, hi_q))
        else:
            stat = _summary_statistic_at(
                ds, metric, p, component, statistic, (lo_q, hi_q), keep
            )
        title = title or stat.title
        d = _drawn(x.size)
        _band_and_centre(
            ax,
            x,
            stat,
            log,
            d,
            colour=colour,
            alpha=0.2,
            label=label + (_zero_note(x, stat.centre) if log else ""),
            band_gid=f"band:{label}",
            centre_gid=f"{stat.name}:{label}",
        )
        curve = _theory_curve(ds, metric, p) if theory and component == 0 else None
        if curve is not None and np.any(np.isfinite(curve[keep])):
            ax.plot(
                x[d],
                _positive(curve[keep][d], log),
                color="k",  # black over the median: visible where they agree
                lw=1.0,
                ls="--",
                zorder=4,
                gid=f"theory:{label}",
            )
            theory_label = str(ds[f"theory__{metric}"].attrs.get("label", "theory"))
    handles, _ = ax.get_legend_handles_labels()
    if theory_label is not None:
        handles.append(_theory_handle(theory_label))
    ax.legend(
        handles=handles,
        title=f"{title} of {of}",
        fontsize=8,
        title_fontsize=8,
    )
    if log and _has_positive(ax):
        ax.set_yscale("log")
    elif log:  # matplotlib cannot draw a log axis without a positive value
        ax.text(0.5, 0.5, "no positive values", transform=ax.transAxes, ha="center")
    _generation_axis(ax)
    ax.set_ylabel(_metric_label(ds, metric, component))
    ax.set_title(_title(ds))
    return fig


def _statistic_for(fn: str, ds, metric: str, theory: bool, statistic: Any) -> str:
    """The statistic plot_metric draws: the theory curve's, or the median."""
    stated = _theory_statistic(fn, ds, metric) if theory else None
    if statistic is None:
        statistic = stated or "median"
    else:
        statistic = check_statistic(fn, "statistic", statistic)
    if statistic == "probability":
        fail(
            fn,
            "statistic",
            "'mean', 'median' or 'quantile:<level>' for a numeric metric",
            statistic,
            "A probability is the share of chains where a bool metric holds: "
            "plot_fraction(ds, ...). Or pass statistic='mean'.",
        )
    if stated is not None and statistic != stated:
        fail(
            fn,
            "statistic",
            f"{stated!r}, the statistic that theory__{metric} states (like is "
            "compared with like)",
            statistic,
            f"Pass statistic=None, or theory=False to draw the {statistic} without "
            "the curve.",
        )
    return statistic


def _check_band(fn: str, band: Any) -> tuple[float, float]:
    ok = (
        isinstance(band, Sequence)
        and len(band) == 2
        and all(isinstance(q, numbers.Real) and not isinstance(q, bool) for q in band)
    )
    if not ok:
        fail(
            fn,
            "band",
            "a pair of quantiles (lo, hi)",
            band,
            "Pass e.g. band=(0.1, 0.9).",
            error=TypeError,
        )
    lo, hi = float(band[0]), float(band[1])
    if not 0.0 <= lo < hi <= 1.0:
        fail(fn, "band", "quantiles with 0 <= lo < hi <= 1", band, "E.g. (0.1, 0.9).")
    return lo, hi


def plot_fraction(
    ds,
    metric: str,
    *,
    ax=None,
    sweep: str | Sequence[str] | None = None,
    theory: bool = True,
):
    """The share of chains where a bool metric holds, against the generation.

    Per sweep point: the share among chains with status 0 (kind "chains"), or the
    stored ``<metric>__mean`` (kind "summary", over ``num_chains - failed``
    chains), with a binomial band of +- 2 standard errors,
    ``2 sqrt(p (1 - p) / n)``, clipped to [0, 1], and the theory curve
    ``theory__<metric>`` dashed where present: a probability (its ``statistic``
    attribute ``"probability"``, or ``"mean"``, the same for a bool). A vector bool
    metric uses component 0, like its theory curve.

    Args:
      ds: a results Dataset (kind "chains" or "summary").
      metric: a bool metric of ``ds``, e.g. "absorbed".
      ax: a matplotlib Axes to draw in; None makes a new 7 x 4.5 inch figure.
      sweep: a sweep label or a list of them; None draws every sweep point.
      theory: draw ``theory__<metric>`` when present.

    Returns:
      The matplotlib Figure; lines carry gids ``"fraction:<label>"`` and
      ``"theory:<label>"``.

    Raises:
      TypeError: ``ds`` is not a Dataset, or an argument has the wrong type.
      ValueError: ``ds`` is not a results Dataset, ``metric`` or a sweep label is
        unknown, ``metric`` is not bool (use :func:`plot_metric`), a summary
        file lacks ``<metric>__mean``, or the theory curve states a median or a
        quantile (not comparable with a share).

    Examples:
      >>> from collapse_jax.plots import _demo_dataset, plot_fraction
      >>> fig = plot_fraction(_demo_dataset(), "shrunk", sweep="M=100")
      >>> [line.get_gid() for line in fig.axes[0].lines]
      ['fraction:M=100']
    """
    fn = "plot_fraction"
    kind = _check_ds(fn, ds)
    _check_metric(fn, ds, kind, metric)
    if not _is_bool_metric(ds, metric):
        fail(
            fn,
            "metric",
            "a bool metric",
            described(f"{metric!r} of dtype {ds[metric].dtype}"),
            f"Plot a numeric metric with plot_metric(ds, {metric!r}).",
        )
    if kind == "summary" and f"{metric}__mean" not in ds:
        fail(
            fn,
            "metric",
            f"a bool metric with its share stored as {metric}__mean (summary file)",
            metric,
            "Summarise the run again with the shares of bool metrics.",
        )
    points = _sweep_indices(fn, ds, sweep)
    theory = _check_bool(fn, "theory", theory)
    stated = _theory_statistic(fn, ds, metric) if theory else None
    if stated not in (None, "mean", "probability"):
        fail(
            fn,
            f"ds['theory__{metric}'].attrs['statistic']",
            "'probability' (or 'mean') beside a share of chains",
            stated,
            "Draw it with theory=False, or store the curve's probability.",
        )
    fig, ax = _figure_and_axes(fn, ax, (7.0, 4.5))
    gens = _generations(ds)
    done = _generations_done(ds)
    theory_label = None
    for i, p in enumerate(points):
        colour = f"C{i % 10}"
        label = _labels(ds)[p]
        keep = gens <= done[p]
        x = gens[keep]
        if kind == "chains":
            ok = _ok_mask(ds, p)
            hit = _series(ds, kind, metric, p, 0) == 1.0
            n = ok.sum(axis=0).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(n > 0, (hit & ok).sum(axis=0) / n, np.nan)
        else:
            mean = ds[f"{metric}__mean"].isel(sweep=p).transpose("generation", ...)
            share = np.asarray(mean.values, np.float64).reshape(len(gens), -1)[:, 0]
            failed = (
                np.asarray(ds["failed"].isel(sweep=p).values, np.float64)
                if "failed" in ds
                else np.zeros(len(gens))
            )
            n = float(ds.attrs.get("num_chains", np.nan)) - failed
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(share * (1.0 - share) / n)
        d = _drawn(x.size)
        share, se, x = share[keep][d], se[keep][d], x[d]
        ax.fill_between(
            x,
            np.clip(share - 2 * se, 0.0, 1.0),
            np.clip(share + 2 * se, 0.0, 1.0),
            color=colour,
            alpha=0.2,
            lw=0,
            gid=f"band:{label}",
        )
        ax.plot(x, share, color=colour, lw=1.8, label=label, gid=f"fraction:{label}")
        curve = _theory_curve(ds, metric, p) if theory else None
        if curve is not None and np.any(np.isfinite(curve[keep])):
            ax.plot(
                x,
                curve[keep][d],
                color="k",
                lw=1.0,
                ls="--",
                zorder=4,
                gid=f"theory:{label}",
            )
            theory_label = str(ds[f"theory__{metric}"].attrs.get("label", "theory"))
    handles, _ = ax.get_legend_handles_labels()
    if theory_label is not None:
        handles.append(_theory_handle(theory_label))
    ax.legend(handles=handles, title="share ± 2 SE", fontsize=8, title_fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    _generation_axis(ax)
    ax.set_ylabel(f"share of chains: {_metric_label(ds, metric)}")
    ax.set_title(_title(ds))
    return fig


_SPEC_OPTIONS = {
    "metric": (
        ("metric",),
        ("sweep", "component", "chains_shown", "band", "log", "theory", "statistic"),
    ),
    "fraction": (("metric",), ("sweep", "theory")),
    "histogram": (("metric", "generations"), ("sweep", "component", "bins")),
    "snapshot": (("generations",), ("sweep", "chains_shown")),
    "image_grid": (("metric", "generations"), ("sweep", "chain", "images")),
    "binned": (("metric", "generations", "edges"), ("sweep", "x_label", "log_x")),
}


def figures(ds, out_dir) -> list[str]:
    """Draw every figure spec of ``ds.attrs["figures"]`` and save PNG and PDF.

    The specs are a JSON list of dicts, each with a "kind" and a "name":

    * ``{"kind": "metric", "metric": ..., "name": ...}``, optional "sweep",
      "component", "chains_shown", "band", "log", "theory", "statistic":
      :func:`plot_metric`;
    * ``{"kind": "fraction", "metric": ..., "name": ...}``, optional "sweep",
      "theory": :func:`plot_fraction`;
    * ``{"kind": "histogram", "metric": ..., "generations": [...], "name": ...}``,
      optional "sweep", "component", "bins": :func:`plot_histograms`;
    * ``{"kind": "snapshot", "generations": [...], "name": ...}``, optional
      "sweep" (one label), "chains_shown": :func:`plot_snapshots`;
    * ``{"kind": "image_grid", "metric": ..., "generations": [...], "name": ...}``,
      optional "sweep", "chain", "images": :func:`plot_image_grid` (a metric of
      images, trailing dims ``(k, H, W)``);
    * ``{"kind": "binned", "metric": ..., "generations": [...], "edges": [...],
      "name": ...}``, optional "sweep", "x_label", "log_x": :func:`plot_binned`
      (a metric of binned shares, trailing dim ``(bins,)``).

    Each figure is written as ``out_dir/<name>.png`` and ``.pdf`` (the PDF without
    a creation date), so the same Dataset gives the same bytes. A summary file
    (kind "summary") skips the specs that need every chain: histograms, image
    grids, and snapshots of a GMM (its params are not summarised).

    Args:
      ds: a results Dataset.
      out_dir: the directory to write to (created if missing).

    Returns:
      The paths written, in spec order, PNG then PDF for each spec; an empty list
      when ``ds`` lists no figures.

    Raises:
      TypeError: ``ds`` is not a Dataset or ``out_dir`` is not a path.
      ValueError: a spec is malformed (not a dict, no name, an unknown kind or
        key) or its plot rejects it; the message names the spec.

    Examples:
      >>> import tempfile
      >>> from collapse_jax.plots import _demo_dataset, figures
      >>> paths = figures(_demo_dataset(), tempfile.mkdtemp())
      >>> [p.rsplit("/", 1)[-1] for p in paths][:2]
      ['log_var.png', 'log_var.pdf']
    """
    from collapse_jax.experiments._figures import save_figure

    fn = "figures"
    summary = _check_ds(fn, ds) == "summary"
    if not isinstance(out_dir, str | os.PathLike):
        fail(
            fn,
            "out_dir",
            "a directory path (str or os.PathLike)",
            out_dir,
            "Pass e.g. 'results/figures'.",
            error=TypeError,
        )
    specs = _json_attr(ds, "figures", [])
    if not isinstance(specs, list):
        fail(
            fn,
            "ds.attrs['figures']",
            "a JSON list of figure specs",
            specs,
            "Write a list of dicts.",
        )
    out = pathlib.Path(out_dir)
    paths: list[str] = []
    for i, spec in enumerate(specs):
        where = f"ds.attrs['figures'][{i}]"
        kind, name, kwargs = _parse_spec(fn, where, spec)
        if summary and (
            kind in ("histogram", "image_grid", "binned")
            or (kind == "snapshot" and _snapshot_drawer(ds, "summary") is None)
        ):
            continue  # needs every chain; a summary file has quantiles only
        try:
            if kind == "metric":
                fig = plot_metric(ds, kwargs.pop("metric"), **kwargs)
            elif kind == "fraction":
                fig = plot_fraction(ds, kwargs.pop("metric"), **kwargs)
            elif kind == "histogram":
                metric, gens = kwargs.pop("metric"), kwargs.pop("generations")
                fig = plot_histograms(ds, metric, gens, **kwargs)
            elif kind == "image_grid":
                metric, gens = kwargs.pop("metric"), kwargs.pop("generations")
                fig = plot_image_grid(ds, metric, gens, **kwargs)
            elif kind == "binned":
                metric, gens = kwargs.pop("metric"), kwargs.pop("generations")
                fig = plot_binned(ds, metric, gens, **kwargs)
            else:
                fig = plot_snapshots(ds, kwargs.pop("generations"), **kwargs)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{fn}(): figure spec {i} ({name!r}): {err}") from err
        paths.extend(save_figure(fig, out / name))
        fig.clear()
    return paths


def _parse_spec(fn: str, where: str, spec: Any) -> tuple[str, str, dict]:
    if not isinstance(spec, dict):
        fail(fn, where, "a dict with 'kind' and 'name'", spec, "See the schema.")
    kind = spec.get("kind")
    if kind not in _SPEC_OPTIONS:
        options = ", ".join(map(repr, _SPEC_OPTIONS))
        fail(fn, f"{where}['kind']", f"one of {options}", kind, "See the schema.")
    name = spec.get("name")
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
    ):
        fail(
            fn,
            f"{where}['name']",
            "a file name without directories",
            name,
            "Use e.g. 'log_var'.",
        )
    required, optional = _SPEC_OPTIONS[kind]
    allowed = {"kind", "name", *required, *optional}
    for key in required:
        if key not in spec:
            fail(
                fn,
                where,
                f"a {kind!r} spec with key {key!r}",
                spec,
                f"Add {key!r} to the spec.",
            )
    unknown = sorted(set(spec) - allowed)
    if unknown:
        fail(
            fn,
            where,
            f"a {kind!r} spec with keys among {sorted(allowed)}",
            described(f"unknown keys {unknown}"),
            "Remove them or fix their spelling.",
        )
    kwargs = {k: v for k, v in spec.items() if k not in ("kind", "name")}
    if isinstance(kwargs.get("band"), list):
        kwargs["band"] = tuple(kwargs["band"])
    return kind, name, kwargs
