"""Reading a results Dataset for a figure: checks in the house wording, series per
sweep point (failed chains masked), generations recorded, theory curves and the
statistics a summary file stores.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from collapse_jax._quantiles import nanquantile
from collapse_jax._statistic import check_statistic, quantile_level
from collapse_jax.checks import described, fail
from collapse_jax.io import metric_names

_KINDS = ("chains", "summary")


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
                described(f"a Dataset with dims {sorted(map(str, ds.dims))}"),
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


def _check_trailing(fn: str, ds, metric: str, ndim: int, what: str, fix: str) -> tuple:
    """The metric's own dims, refused in the house message unless there are
    ``ndim`` of them (``what``: e.g. "a metric of images, trailing dims (k, H, W)")."""
    trailing = _trailing(ds, metric)
    if len(trailing) != ndim:
        fail(fn, "metric", what, f"{metric!r} with trailing dims {trailing}", fix)
    return trailing


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


def _metric_label(ds, metric: str, component: int = 0) -> str:
    label = str(_json_attr(ds, "metric_labels", {}).get(metric, metric))
    trailing = _trailing(ds, metric)
    if trailing and int(np.prod([ds.sizes[d] for d in trailing])) > 1:
        label = f"{label} [{component}]"
    return label


def _percent(q: float) -> str:
    return f"{100 * q:.3g} %"


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


def _summary_statistic_at(ds, metric, point, component, statistic, band, keep):
    """:func:`_summary_statistic` at the generations ``keep`` (those the run has
    reached), from the file's stored quantile levels."""
    stored = np.asarray(ds["quantile"].values, np.float64)
    stat = _summary_statistic(ds, metric, point, component, statistic, band, stored)
    return type(stat)(
        stat.centre[keep], stat.lo[keep], stat.hi[keep], stat.name, stat.title
    )


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


def _is_bool_metric(ds, metric: str) -> bool:
    """Stored as bool, or (in a summary) only as its share ``<metric>__mean``."""
    return metric not in ds or ds[metric].dtype == bool
