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
"""

from __future__ import annotations

import json
import math
import numbers
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from collapse_jax._quantiles import nanquantile
from collapse_jax._statistic import across_chains, check_statistic, quantile_level
from collapse_jax.checks import described, fail
from collapse_jax.io import metric_names

__all__ = [
    "plot_metric",
    "plot_fraction",
    "plot_histograms",
    "plot_snapshots",
    "figures",
]

_KINDS = ("chains", "summary")
_GMM_PARAMS = ("params__weights", "params__means", "params__covs")
_SNAPSHOT_DRAWS = 600  # draws per 2-D GMM snapshot panel
_SNAPSHOT_SEED = 0
# Generations drawn per line at most: a figure is a few hundred pixels wide, and
# matplotlib's legend placement and layout scan every vertex (200,000 generations
# took 10 s to draw, against 6 s for the chains themselves).
MAX_DRAWN = 4001

# --------------------------------------------------------------------------------
# Validation and reading the Dataset.


def _check_ds(fn: str, ds: Any) -> str:
    """Return the kind of a results Dataset, or raise the house error."""
    try:
        import xarray as xr
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{fn}() needs xarray to read results; install it with "
            "`pip install xarray h5netcdf`."
        ) from err
    if not isinstance(ds, xr.Dataset):
        fail(
            fn,
            "ds",
            "an xarray.Dataset of collapse_jax results",
            ds if not hasattr(ds, "dims") else described(f"a {type(ds).__name__}"),
            "Open a results file with xarray.open_dataset(path).",
            error=TypeError,
        )
    fmt = ds.attrs.get("collapse_jax_format")
    if fmt is None:
        fail(
            fn,
            "ds",
            "a collapse_jax results Dataset (with attrs['collapse_jax_format'])",
            described(f"a Dataset with attrs {sorted(ds.attrs)}"),
            "Pass a Dataset written by collapse_jax (results.nc).",
        )
    if str(fmt) != "1":
        fail(
            fn,
            "ds",
            "in results format 1",
            described(f"a Dataset in format {fmt!r}"),
            "Upgrade collapse_jax to read this file.",
        )
    kind = ds.attrs.get("kind", "chains")
    if kind not in _KINDS:
        fail(
            fn,
            "ds",
            "of kind 'chains' or 'summary' (attrs['kind'])",
            described(f"a Dataset of kind {kind!r}"),
            "Pass a results Dataset written by collapse_jax.",
        )
    for dim in ("sweep", _members(kind), "generation"):
        if dim not in ds.dims:
            fail(
                fn,
                "ds",
                f"a Dataset with a {dim!r} dimension (kind {kind!r})",
                described(f"a Dataset with dims {sorted(ds.dims)}"),
                "Pass a results Dataset written by collapse_jax.",
            )
    return kind


def _members(kind: str) -> str:
    """The dim that runs over chains: "chain", or "quantile" in a summary."""
    return "chain" if kind == "chains" else "quantile"


def _trailing(ds, metric: str) -> tuple:
    """The metric's own dims (after sweep, chain|quantile, generation)."""
    if metric in ds:
        return tuple(ds[metric].dims[3:])
    return tuple(ds[f"{metric}__mean"].dims[2:])


def _check_metric(fn: str, ds, kind: str, metric: Any) -> str:
    names = metric_names(ds)
    if not isinstance(metric, str):
        fail(
            fn,
            "metric",
            "a metric name (str)",
            metric,
            f"Pass one of {', '.join(map(repr, sorted(names)))}.",
            error=TypeError,
        )
    if metric not in names:
        fail(
            fn,
            "metric",
            "a metric of the Dataset",
            metric,
            f"Available metrics: {', '.join(map(repr, sorted(names))) or 'none'}.",
        )
    return metric


def _refuse_bool(fn: str, ds, metric: str) -> None:
    if _is_bool_metric(ds, metric):
        fail(
            fn,
            "metric",
            "a numeric metric (not bool)",
            metric,
            f"Plot the share of chains where it holds: plot_fraction(ds, {metric!r}).",
        )


def _check_chains_kind(fn: str, kind: str) -> None:
    if kind != "chains":
        fail(
            fn,
            "ds",
            "a Dataset of kind 'chains' (every chain stored)",
            described("a Dataset of kind 'summary' (quantiles over chains only)"),
            "Plot the per-chain results file, or use plot_metric / plot_fraction, "
            "which read summaries.",
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(fn: str, name: str, value: Any, low: int, fix: str) -> int:
    if not _is_int(value):
        fail(fn, name, "an integer", value, fix, error=TypeError)
    if value < low:
        fail(fn, name, f"an integer >= {low}", value, fix)
    return int(value)


def _check_bool(fn: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        fail(
            fn,
            name,
            "True or False",
            value,
            f"Pass {name}=True or False.",
            error=TypeError,
        )
    return bool(value)


def _labels(ds) -> list[str]:
    return [str(s) for s in np.asarray(ds["sweep"].values).tolist()]


def _sweep_indices(fn: str, ds, sweep: Any) -> list[int]:
    """Positions of the chosen sweep points: None is all, a label or a list of
    labels picks those."""
    labels = _labels(ds)
    if sweep is None:
        return list(range(len(labels)))
    chosen = [sweep] if isinstance(sweep, str) else sweep
    if (
        not isinstance(chosen, Sequence)
        or isinstance(chosen, bytes)
        or not all(isinstance(s, str) for s in chosen)
    ):
        fail(
            fn,
            "sweep",
            "None, a sweep label (str) or a list of sweep labels",
            sweep,
            f"Pass labels among {', '.join(map(repr, labels))}.",
            error=TypeError,
        )
    if len(chosen) == 0:
        fail(fn, "sweep", "a non-empty list of sweep labels", sweep, "Or pass None.")
    for s in chosen:
        if s not in labels:
            fail(
                fn,
                "sweep",
                "a sweep label of the Dataset",
                s,
                f"Available labels: {', '.join(map(repr, labels))}.",
            )
    return [labels.index(s) for s in chosen]


def _json_attr(ds, name: str, default: Any) -> Any:
    """A JSON attribute of ``ds`` (already-decoded lists and dicts pass through)."""
    value = ds.attrs.get(name)
    if value is None:
        return default
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            fail(
                "plots",
                f"ds.attrs[{name!r}]",
                "a JSON string",
                value,
                "Rewrite the attribute with json.dumps.",
            )
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _generations(ds) -> np.ndarray:
    return np.asarray(ds["generation"].values).astype(np.int64)


def _generations_done(ds) -> np.ndarray:
    """The last generation with records, per sweep point (-1: none, not even the
    truth).

    A complete file (``attrs["complete"] == 1``, or no ``generations_done``) has
    every generation. A partial one has ``generations_done[p]`` records per point,
    the truth included (collapse_jax.io): generations ``0 .. generations_done[p] -
    1``, and fill values (NaN, or 0 for ints and bools) after them.
    """
    gens = _generations(ds)
    num_points = ds.sizes["sweep"]
    last = int(gens.max()) if gens.size else 0
    done = _json_attr(ds, "generations_done", None)
    if done is None or str(ds.attrs.get("complete", 0)) == "1":
        return np.full(num_points, last, np.int64)
    done = np.asarray(done, np.int64).reshape(-1)
    if done.size == 1:
        done = np.repeat(done, num_points)
    if done.size != num_points:
        fail(
            "plots",
            "ds.attrs['generations_done']",
            f"a list of {num_points} integers (one per sweep point)",
            done.tolist(),
            "Write one count per sweep point.",
        )
    return np.clip(done - 1, -1, last)


def _check_generations(fn: str, ds, generations: Any) -> list[int]:
    gens = _generations(ds)
    lo, hi = int(gens.min()), int(gens.max())
    chosen = [generations] if _is_int(generations) else generations
    if (
        isinstance(chosen, str)
        or not isinstance(chosen, Sequence)
        or not all(_is_int(g) for g in chosen)
    ):
        fail(
            fn,
            "generations",
            "an integer or a list of integers",
            generations,
            f"Pass generations in {lo}..{hi}, e.g. [{lo}, {hi}].",
            error=TypeError,
        )
    if len(chosen) == 0:
        fail(fn, "generations", "a non-empty list", generations, f"E.g. [{lo}, {hi}].")
    for g in chosen:
        if not lo <= g <= hi:
            fail(
                fn,
                "generations",
                f"in the Dataset's range {lo}..{hi}",
                int(g),
                f"Pick generations between {lo} and {hi}.",
            )
    return [int(g) for g in chosen]


def _check_component(fn: str, ds, metric: str, kind: str, component: Any) -> int:
    """The flat index of ``component`` into the trailing dims of ``metric``."""
    trailing = ds[metric].dims[3:]
    size = int(np.prod([ds.sizes[d] for d in trailing])) if trailing else 1
    if not _is_int(component):
        fail(
            fn,
            "component",
            "an integer",
            component,
            f"Pass an index in 0..{size - 1}.",
            error=TypeError,
        )
    if not 0 <= component < size:
        fail(
            fn,
            "component",
            f"in 0..{size - 1} for metric {metric!r} (dims {tuple(trailing)})",
            component,
            f"Pass an index in 0..{size - 1} (flat, C order, over the trailing dims).",
        )
    return int(component)


def _series(ds, kind: str, metric: str, point: int, component: int) -> np.ndarray:
    """``metric`` at one sweep point: (members, generations) float64; for kind
    "chains", entries whose status is non-zero are NaN."""
    var = ds[metric]
    members = _members(kind)
    trailing = var.dims[3:]
    values = var.isel(sweep=point).transpose(members, "generation", *trailing).values
    values = np.asarray(values).reshape(values.shape[0], values.shape[1], -1)
    values = values[..., component].astype(np.float64)
    if kind == "chains" and "status" in ds:
        status = ds["status"].isel(sweep=point).transpose("chain", "generation").values
        values = np.where(np.asarray(status) == 0, values, np.nan)
    return values


def _ok_mask(ds, point: int) -> np.ndarray:
    """(chain, generation) bool: status 0 (all True when status is absent)."""
    shape = (ds.sizes["chain"], ds.sizes["generation"])
    if "status" not in ds:
        return np.ones(shape, bool)
    status = ds["status"].isel(sweep=point).transpose("chain", "generation").values
    return np.asarray(status) == 0


def _quantiles(values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """NaN-ignoring quantiles over axis 0; all-NaN columns give NaN silently."""
    if values.shape[1] == 0:  # no generation recorded yet
        return np.zeros((len(qs), 0))
    return nanquantile(values, list(qs), axis=0)  # np.nanquantile, vectorised


def _nearest(stored: np.ndarray, q: float) -> int:
    return int(np.argmin(np.abs(stored - q)))


def _drawn(n: int) -> np.ndarray:
    """Indices of the generations a line of ``n`` draws: every one up to
    :data:`MAX_DRAWN`, else that many evenly spaced, the first and last included.
    Statistics (means, quantiles, zero counts) are computed on every generation
    first; only what is drawn is thinned."""
    if n <= MAX_DRAWN:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, MAX_DRAWN)).astype(np.int64))


def _positive(y: np.ndarray, log: bool) -> np.ndarray:
    """On a log axis, non-positive values become NaN (gaps, not errors)."""
    y = np.asarray(y, np.float64)
    return np.where(y > 0, y, np.nan) if log else y


def _metric_label(ds, metric: str, component: int = 0) -> str:
    label = str(_json_attr(ds, "metric_labels", {}).get(metric, metric))
    trailing = _trailing(ds, metric)
    if trailing and int(np.prod([ds.sizes[d] for d in trailing])) > 1:
        label = f"{label} [{component}]"
    return label


def _percent(q: float) -> str:
    return f"{100 * q:.3g} %"


# --------------------------------------------------------------------------------
# Figures and axes.


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


def _theory_statistic(fn: str, ds, metric: str) -> str | None:
    """The statistic that ``theory__<metric>`` states, or None without a curve.

    Files written before curves declared it hold expected values: "mean".
    """
    name = f"theory__{metric}"
    if name not in ds:
        return None
    return check_statistic(
        fn, f"ds[{name!r}].attrs['statistic']", ds[name].attrs.get("statistic", "mean")
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


def _summary_statistic(ds, metric, point, component, statistic, band, stored):
    """The statistic of a summary file's sweep point: stored quantiles nearest the
    requested levels, or the stored mean with ± 2 SE from the stored standard
    deviation over the ``num_chains - failed`` chains."""
    from collapse_jax._statistic import SE_MULTIPLE, Summary

    level = quantile_level(statistic)
    if level is not None:
        picks = [_nearest(stored, q) for q in (band[0], level, band[1])]
        lo, centre, hi = _series(ds, "summary", metric, point, component)[picks]
        got = float(stored[picks[1]])
        name = "median" if statistic == "median" else f"q{got:g}"
        what = "median" if name == "median" else f"{_percent(got)} quantile"
        band = (float(stored[picks[0]]), float(stored[picks[2]]))
        title = f"{what}, {_percent(band[0])} to {_percent(band[1])}"
        return Summary(centre, lo, hi, name, title)

    def stored_mean(suffix):
        var = ds[f"{metric}__{suffix}"].isel(sweep=point).transpose("generation", ...)
        values = np.asarray(var.values, np.float64)
        return values.reshape(values.shape[0], -1)[:, component]

    centre = stored_mean("mean")
    if f"{metric}__sd" not in ds:  # a summary written before SDs were stored
        nan = np.full_like(centre, np.nan)
        return Summary(centre, nan, nan, "mean", "mean (no SE stored)")
    failed = (
        np.asarray(ds["failed"].isel(sweep=point).values, np.float64)
        if "failed" in ds
        else np.zeros(centre.shape)
    )
    n = float(ds.attrs.get("num_chains", np.nan)) - failed
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(n >= 2, stored_mean("sd") / np.sqrt(n), np.nan)
    lo, hi = centre - SE_MULTIPLE * se, centre + SE_MULTIPLE * se
    return Summary(centre, lo, hi, "mean", f"mean ± {SE_MULTIPLE:g} SE")


def _theory_curve(ds, metric: str, point: int) -> np.ndarray | None:
    name = f"theory__{metric}"
    if name not in ds:
        return None
    curve = ds[name].isel(sweep=point).transpose("generation", ...).values
    return np.asarray(curve, np.float64).reshape(curve.shape[0], -1)[:, 0]


# --------------------------------------------------------------------------------
# Public functions.


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
        stored = np.asarray(ds["quantile"].values, np.float64)
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
            stat = _summary_statistic(
                ds, metric, p, component, statistic, (lo_q, hi_q), stored
            )
            stat = type(stat)(
                stat.centre[keep], stat.lo[keep], stat.hi[keep], stat.name, stat.title
            )
        title = title or stat.title
        d = _drawn(x.size)
        ax.fill_between(
            x[d],
            _positive(stat.lo[d], log),
            _positive(stat.hi[d], log),
            color=colour,
            alpha=0.2,
            lw=0,
            gid=f"band:{label}",
        )
        ax.plot(
            x[d],
            _positive(stat.centre[d], log),
            color=colour,
            lw=1.8,
            label=label + (_zero_note(x, stat.centre) if log else ""),
            gid=f"{stat.name}:{label}",
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
                x, curve[keep][d], color="k", lw=1.0, ls="--", zorder=4,
                gid=f"theory:{label}"
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


def _is_bool_metric(ds, metric: str) -> bool:
    """Stored as bool, or (in a summary) only as its share ``<metric>__mean``."""
    return metric not in ds or ds[metric].dtype == bool


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


def plot_snapshots(
    ds,
    generations: int | Sequence[int],
    *,
    sweep: str | None = None,
    chains_shown: int = 5,
):
    """The fitted models at chosen generations, one panel per generation.

    What is drawn depends on what the Dataset holds, for one sweep point:

    * GMM (``params__weights``, ``params__means``, ``params__covs``): in 2-D (or
      the first two coordinates of more), 600 draws (seeded, reproducible) from
      one chain's mixture (the first chain with status 0 at every chosen
      generation) with the 2-sd ellipses of its live components in black and the
      truth's in grey, all panels on the same axes; in 1-D, the mixture densities
      of ``chains_shown`` chains and the truth in black.
    * Gaussian (metrics "mean" and "log_var"): the densities
      N(mean[..., 0], exp(log_var[..., 0])) of ``chains_shown`` chains with status
      0 and the truth (generation 0) in black; a summary file draws the densities
      at the stored quantiles nearest 0.1, 0.5 and 0.9 of ``log_var`` around the
      median mean. A variance that underflows to 0 is drawn as a vertical line.
    * Categorical (metric "probs"): per category, sorted by the truth's
      probability, a bar at the median over chains with a 10-90 % error bar, and
      the truth as a red tick.

    A generation past ``generations_done`` gets an empty panel saying so.

    Args:
      ds: a results Dataset (GMM snapshots need kind "chains").
      generations: a generation or a list of them, within the Dataset's range.
      sweep: one sweep label; None takes the first sweep point.
      chains_shown: density curves drawn per panel (Gaussian and 1-D GMM).

    Returns:
      The matplotlib Figure, with one Axes per generation (at most four a row).

    Raises:
      TypeError: ``ds`` is not a Dataset, or an argument has the wrong type.
      ValueError: ``ds`` holds none of the three kinds of model, or a sweep label
        or generation is unknown or out of range.

    Examples:
      >>> from collapse_jax.plots import _demo_dataset, plot_snapshots
      >>> fig = plot_snapshots(_demo_dataset(), [0, 10, 20], chains_shown=3)
      >>> len(fig.axes), len(fig.axes[1].lines)
      (3, 4)
    """
    fn = "plot_snapshots"
    kind = _check_ds(fn, ds)
    chosen = _check_generations(fn, ds, generations)
    if sweep is not None and not isinstance(sweep, str):
        fail(
            fn,
            "sweep",
            "None or one sweep label (str)",
            sweep,
            f"Pass one of {', '.join(map(repr, _labels(ds)))}.",
            error=TypeError,
        )
    point = _sweep_indices(fn, ds, sweep)[0]
    chains_shown = _check_int(
        fn, "chains_shown", chains_shown, 1, "Pass e.g. chains_shown=5."
    )
    draw = _snapshot_drawer(ds, kind)
    if draw is None:
        fail(
            fn,
            "ds",
            "a Dataset with GMM params (params__weights, params__means, "
            "params__covs), Gaussian metrics ('mean' and 'log_var') or a "
            "categorical metric ('probs')",
            described(f"a {kind!r} Dataset with variables {sorted(ds.data_vars)}"),
            "Record the model params (record_params=True) or those metrics when "
            "running the chains.",
        )
    fig, axes = _panels(len(chosen), 4, (3.6, 3.3))
    gens = _generations(ds)
    position = {int(g): i for i, g in enumerate(gens)}
    done = int(_generations_done(ds)[point])
    reached = [(ax, g) for ax, g in zip(axes, chosen, strict=True) if g <= done]
    for ax, g in zip(axes, chosen, strict=True):
        ax.set_title(f"generation {g}", fontsize=10)
        if g > done:
            ax.text(
                0.5,
                0.5,
                f"not reached\n(recorded up to {done})" if done >= 0 else "no records",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
    draw(ds, kind, point, [(ax, position[g]) for ax, g in reached], chains_shown)
    label = _labels(ds)[point]
    title = _title(ds)
    fig.suptitle(f"{title}: {label}" if title else label)
    return fig


def _snapshot_drawer(ds, kind: str):
    """The snapshot drawer for the model that ``ds`` holds, or None."""
    metrics = set(metric_names(ds))
    if all(name in ds for name in _GMM_PARAMS):
        return _snapshot_gmm
    if {"mean", "log_var"} <= metrics:
        return _snapshot_gaussian
    if "probs" in metrics:
        return _snapshot_categorical
    return None


def _first_ok_chains(ok: np.ndarray, count: int) -> np.ndarray:
    return np.flatnonzero(ok)[:count]


def _normal_pdf(x: np.ndarray, mean: float, var: float) -> np.ndarray:
    return np.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2.0 * math.pi * var)


def _density_x(centres: np.ndarray, sds: np.ndarray, own: tuple[float, float]):
    """A panel-wide grid plus a fine grid around one curve's own centre, so a
    collapsed (very narrow) density is not missed between grid points."""
    ok = np.isfinite(centres) & np.isfinite(sds)
    lo = float(np.min(centres[ok] - 4 * sds[ok]))
    hi = float(np.max(centres[ok] + 4 * sds[ok]))
    mean, sd = own
    local = mean + sd * np.linspace(-4.0, 4.0, 161)
    x = np.concatenate([np.linspace(lo, hi, 400), local[(local > lo) & (local < hi)]])
    return np.unique(x)


def _draw_densities(ax, curves, truth) -> None:
    """Density curves of normal mixtures, each a list of (weight, mean, var)
    components, keyed for :func:`_density_style`; a zero variance draws a vertical
    line."""
    live = [(m, v) for _, comps in curves for w, m, v in comps if w > 0]
    live += [(m, v) for w, m, v in truth if w > 0]
    centres = np.array([m for m, _ in live] + [np.nan])
    sds = np.sqrt(np.maximum(np.array([v for _, v in live] + [np.nan]), 0.0))
    if not np.any(np.isfinite(centres) & np.isfinite(sds)):
        return
    for key, comps in [("truth", truth)] + curves:
        live = [(w, m, v) for w, m, v in comps if np.isfinite(m) and w > 0]
        if not live:
            continue
        if any(not v > 0 or not np.isfinite(v) for _, _, v in live):
            ax.axvline(live[0][1], **_density_style(key))
            continue
        main = max(live, key=lambda c: c[0])
        x = _density_x(centres, sds, (main[1], math.sqrt(main[2])))
        y = sum(w * _normal_pdf(x, m, v) for w, m, v in live)
        ax.plot(x, y, **_density_style(key))


def _density_style(key) -> dict:
    """Line style of a density curve: key "truth", or (index, gid, legend label)."""
    if key == "truth":
        return dict(color="k", lw=1.5, zorder=3, gid="truth", label="truth (n = 0)")
    i, gid, text = key
    return dict(color=f"C{i % 10}", lw=1.0, alpha=0.8, gid=gid, label=text)


def _snapshot_gaussian(ds, kind, point, panels, chains_shown) -> None:
    label = _labels(ds)[point]
    mean = _series(ds, kind, "mean", point, 0)
    var = np.exp(_series(ds, kind, "log_var", point, 0))
    if kind == "summary":
        stored = np.asarray(ds["quantile"].values, np.float64)
        med = _nearest(stored, 0.5)
        picks = [_nearest(stored, q) for q in (0.1, 0.5, 0.9)]
        truth = [(1.0, mean[med, 0], var[med, 0])]
        for ax, gi in panels:
            curves = [
                (
                    (j, f"quantile:{label}:{stored[q]:g}", f"σ² at q = {stored[q]:g}"),
                    [(1.0, mean[med, gi], var[q, gi])],
                )
                for j, q in enumerate(picks)
            ]
            _draw_densities(ax, curves, truth)
            _finish_density_axes(ax)
        return
    ok = np.isfinite(mean) & np.isfinite(var)
    chain_ids = np.asarray(ds["chain"].values).tolist()
    first = _first_ok_chains(ok[:, 0], 1)
    c0 = int(first[0]) if first.size else 0
    truth = [(1.0, mean[c0, 0], var[c0, 0])]
    for ax, gi in panels:
        shown = _first_ok_chains(ok[:, gi], chains_shown)
        curves = [
            (
                (j, f"chain:{label}:{chain_ids[c]}", None),
                [(1.0, mean[c, gi], var[c, gi])],
            )
            for j, c in enumerate(shown)
        ]
        _draw_densities(ax, curves, truth)
        _finish_density_axes(ax)


def _finish_density_axes(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.tick_params(labelsize=7)


def _gmm_arrays(ds, point: int):
    out = []
    for name in _GMM_PARAMS:
        var = ds[name].isel(sweep=point).transpose("chain", "generation", ...)
        out.append(np.asarray(var.values, np.float64))
    return out


def _snapshot_gmm(ds, kind, point, panels, chains_shown) -> None:
    from collapse_jax.experiments.gmm_collapse import _draw, _ellipse

    label = _labels(ds)[point]
    _check_chains_kind("plot_snapshots", kind)
    weights, means, covs = _gmm_arrays(ds, point)
    ok = _ok_mask(ds, point)
    chain_ids = np.asarray(ds["chain"].values).tolist()
    if means.shape[-1] == 1:
        first = _first_ok_chains(ok[:, 0], 1)
        c0 = int(first[0]) if first.size else 0

        def comps(c, gi):
            return list(
                zip(
                    weights[c, gi],
                    means[c, gi, :, 0],
                    covs[c, gi, :, 0, 0],
                    strict=True,
                )
            )

        for ax, gi in panels:
            shown = _first_ok_chains(ok[:, gi], chains_shown)
            curves = [
                ((j, f"chain:{label}:{chain_ids[c]}", None), comps(c, gi))
                for j, c in enumerate(shown)
            ]
            _draw_densities(ax, curves, comps(c0, 0))
            _finish_density_axes(ax)
        return
    # Two coordinates: the marginal of a mixture on (x0, x1) keeps the weights
    # and takes the means' and covariances' leading block.
    means, covs = means[..., :2], covs[..., :2, :2]
    columns = [gi for _, gi in panels]
    good = np.flatnonzero(ok[:, columns].all(axis=1)) if columns else np.zeros(0)
    c = int(good[0]) if good.size else 0
    rng = np.random.default_rng(_SNAPSHOT_SEED)

    def live(gi):
        w, m, s = weights[c, gi], means[c, gi], covs[c, gi]
        finite = (
            np.isfinite(w)
            & np.all(np.isfinite(m), axis=-1)
            & np.all(np.isfinite(s), axis=(-2, -1))
        )
        return finite & (w > 0)

    truth = [_ellipse(means[c, 0, j], covs[c, 0, j]) for j in np.flatnonzero(live(0))]
    draws, extent = {}, [e.T for e in truth]
    for _, gi in panels:
        if live(gi).any():
            w = np.where(live(gi), weights[c, gi], 0.0)
            draws[gi] = _draw(w, means[c, gi], covs[c, gi], _SNAPSHOT_DRAWS, rng)
            extent.append(draws[gi])
    extent = np.concatenate(extent) if extent else np.zeros((1, 2))
    lo, hi = extent.min(axis=0), extent.max(axis=0)
    pad = 0.05 * max(float((hi - lo).max()), 1e-12)
    for ax, gi in panels:
        for e in truth:
            ax.plot(e[0], e[1], color="0.6", lw=0.8, gid="truth")
        if gi in draws:
            pts = draws[gi]
            ax.scatter(pts[:, 0], pts[:, 1], s=1.5, color="C0", alpha=0.5)
            for j in np.flatnonzero(live(gi)):
                e = _ellipse(means[c, gi, j], covs[c, gi, j])
                ax.plot(e[0], e[1], color="k", lw=0.8, gid=f"component:{j}")
        else:
            ax.text(0.5, 0.5, "failed fit", transform=ax.transAxes, ha="center")
        ax.set_title(f"{ax.get_title()} (chain {chain_ids[c]})", fontsize=10)
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad)
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.tick_params(labelsize=7)


def _snapshot_categorical(ds, kind, point, panels, chains_shown) -> None:
    del chains_shown
    var = ds["probs"]
    members = _members(kind)
    probs = var.isel(sweep=point).transpose(members, "generation", *var.dims[3:])
    probs = np.asarray(probs.values, np.float64)
    probs = probs.reshape(probs.shape[0], probs.shape[1], -1)
    if kind == "chains":
        ok = _ok_mask(ds, point)
        probs = np.where(ok[..., None], probs, np.nan)
        first = _first_ok_chains(ok[:, 0], 1)
        truth = probs[int(first[0]) if first.size else 0, 0]
    else:
        stored = np.asarray(ds["quantile"].values, np.float64)
        picks = [_nearest(stored, q) for q in (0.1, 0.5, 0.9)]
        truth = probs[picks[1], 0]
    order = np.argsort(-np.nan_to_num(truth, nan=-np.inf), kind="stable")
    k = np.arange(order.size)
    for ax, gi in panels:
        if kind == "chains":
            lo, med, hi = _quantiles(probs[:, gi, order], (0.1, 0.5, 0.9))
        else:
            lo, med, hi = probs[picks][:, gi, order]
        err = np.stack([np.maximum(med - lo, 0.0), np.maximum(hi - med, 0.0)])
        ax.bar(
            k,
            med,
            yerr=err,
            color="C0",
            alpha=0.7,
            error_kw=dict(lw=0.8, capsize=2, ecolor="0.35"),
            label="median, 10-90 %",
            gid="median",
        )
        ax.plot(
            k, truth[order], "_", color="C3", ms=12, mew=2, label="truth", gid="truth"
        )
        if order.size <= 20:
            ax.set_xticks(k, [str(i) for i in order])
        ax.set_xlabel("category (by truth probability)")
        ax.set_ylabel("probability")
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)


_SPEC_OPTIONS = {
    "metric": (
        ("metric",),
        ("sweep", "component", "chains_shown", "band", "log", "theory", "statistic"),
    ),
    "fraction": (("metric",), ("sweep", "theory")),
    "histogram": (("metric", "generations"), ("sweep", "component", "bins")),
    "snapshot": (("generations",), ("sweep", "chains_shown")),
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
      "sweep" (one label), "chains_shown": :func:`plot_snapshots`.

    Each figure is written as ``out_dir/<name>.png`` and ``.pdf`` (the PDF without
    a creation date), so the same Dataset gives the same bytes. A summary file
    (kind "summary") skips the specs that need every chain: histograms, and
    snapshots of a GMM (its params are not summarised).

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
            kind == "histogram"
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


# --------------------------------------------------------------------------------
# A tiny synthetic results Dataset for the examples above.


def _demo_dataset():
    """A small Gaussian results Dataset (2 sweep points x 8 chains x 20
    generations) following the schema, for the docstring examples."""
    import xarray as xr

    rng = np.random.default_rng(0)
    sizes = (10, 100)
    num_chains, num_gens = 8, 20
    shape = (len(sizes), num_chains, num_gens + 1)
    steps = np.stack([np.log(rng.chisquare(m - 1, shape[1:]) / (m - 1)) for m in sizes])
    steps[..., 0] = 0.0
    log_var = np.cumsum(steps, axis=-1)
    mean = np.cumsum(
        rng.normal(size=shape) * np.exp(log_var / 2) / np.sqrt(sizes)[:, None, None],
        axis=-1,
    )
    mean[..., 0] = 0.0
    w2_sq = mean**2 + (np.exp(log_var / 2) - 1.0) ** 2
    from scipy.special import digamma

    drift = [digamma((m - 1) / 2) + np.log(2 / (m - 1)) for m in sizes]
    theory = np.array(drift)[:, None] * np.arange(num_gens + 1)
    dims = ("sweep", "chain", "generation")
    ds = xr.Dataset(
        {
            "mean": (dims + ("mean_dim0",), mean[..., None].astype(np.float32)),
            "log_var": (dims + ("log_var_dim0",), log_var[..., None]),
            "w2_sq": (dims, w2_sq),
            "shrunk": (dims, log_var < np.log(0.5)),
            "status": (dims, np.zeros(shape, np.int32)),
            "theory__log_var": (
                ("sweep", "generation"),
                theory,
                {"label": "E log σ²ₙ", "statistic": "mean"},
            ),
        },
        coords={
            "sweep": [f"M={m}" for m in sizes],
            "chain": np.arange(num_chains, dtype=np.int32),
            "generation": np.arange(num_gens + 1, dtype=np.int32),
            "sample_size": ("sweep", np.array(sizes)),
        },
    )
    ds.attrs.update(
        collapse_jax_format=1,
        kind="chains",
        title="Gaussian chain (demo)",
        num_chains=num_chains,
        num_generations=num_gens,
        complete=1,
        generations_done=json.dumps([num_gens + 1] * len(sizes)),
        sweep_fields=json.dumps(["sample_size"]),
        log_metrics=json.dumps(["w2_sq"]),
        metric_labels=json.dumps({"log_var": "log σ²ₙ", "w2_sq": "W₂²"}),
        figures=json.dumps(
            [
                {"kind": "metric", "metric": "log_var", "name": "log_var"},
                {"kind": "metric", "metric": "w2_sq", "name": "w2_sq"},
                {"kind": "fraction", "metric": "shrunk", "name": "shrunk"},
                {
                    "kind": "histogram",
                    "metric": "log_var",
                    "generations": [0, 10, 20],
                    "name": "log_var_hist",
                },
                {"kind": "snapshot", "generations": [0, 10, 20], "name": "densities"},
            ]
        ),
    )
    return ds
