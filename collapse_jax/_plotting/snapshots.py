"""Snapshots of the fitted models at chosen generations: densities of Gaussian
chains, draws of 2-D GMMs, probability vectors of categoricals
(:func:`plot_snapshots`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from collapse_jax._plotting.axes import (
    _panels,
    _title,
)
from collapse_jax._plotting.data import (
    _check_chains_kind,
    _check_ds,
    _check_generations,
    _check_int,
    _generations,
    _generations_done,
    _labels,
    _members,
    _nearest,
    _ok_mask,
    _quantiles,
    _series,
    _sweep_indices,
)
from collapse_jax.checks import described, fail
from collapse_jax.io import metric_names

_GMM_PARAMS = ("params__weights", "params__means", "params__covs")


_SNAPSHOT_DRAWS = 600  # draws per 2-D GMM snapshot panel


_SNAPSHOT_SEED = 0


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
