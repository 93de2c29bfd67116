"""A collapse monitor inside a Gaussian chain, and the adaptive regime it drives.

A 1-D Gaussian truth ``N(0, 1)`` is refitted to ``M = 100`` of its own draws per
generation (:func:`~collapse_jax.replace`): the fitted variance drifts down and
halves after about ``M log 2 ≈ 69`` generations on average. A monitor
(:func:`~collapse_jax.collapse_monitor`, 500 held-out real points per chain,
per-generation false-alarm level 1 %) runs inside the chain. The same chains are
run with :func:`~collapse_jax.adaptive`: after an alarm of a two-sided monitor, the
next fit also sees ``num_real = 100`` fresh real draws.

:func:`run` returns both :class:`~collapse_jax.ChainResult`; :func:`plot` draws the
fitted variance per generation (median and 10-90 % band, log scale) for the two
regimes, with the first-alarm generations of the replace chains (median and the
distribution as a rug) and the halving generation marked.

Run ``python -m collapse_jax.experiments.monitor --out docs/figures``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import collapse_jax as cj
from collapse_jax.experiments._figures import save_figure
from collapse_jax.monitor import first_generation

__all__ = ["run", "first_generation", "plot", "main"]


def run(
    num_chains: int = 256,
    num_generations: int = 300,
    sample_size: int = 100,
    num_held_out: int = 500,
    level: float = 0.01,
    num_real: int = 100,
    seed: int = 0,
) -> dict[str, cj.ChainResult]:
    """``{"replace": ..., "adaptive": ...}``: monitored replace chains and adaptive
    chains (two-sided monitor) with the same chain keys."""
    family = cj.gaussian()
    truth = cj.gaussian_params(0.0, 1.0)
    kw: dict[str, Any] = dict(
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        record_params=False,
    )
    watch = cj.collapse_monitor(num_held_out, level=level)
    guard = cj.collapse_monitor(num_held_out, level=level, alternative="two-sided")
    return {
        "replace": cj.run_chains(
            family, truth, regime=cj.monitored(cj.replace(), watch), **kw
        ),
        "adaptive": cj.run_chains(
            family, truth, regime=cj.adaptive(guard, num_real), **kw
        ),
    }


def plot(results: dict[str, cj.ChainResult], path, *, title: str | None = None):
    """Fitted variance per generation for replace and adaptive, alarms marked.

    Writes ``path`` with suffixes ``.png`` and ``.pdf``; returns the file names.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rep, ada = results["replace"], results["adaptive"]
    fig = Figure(figsize=(9, 5.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, res, colour in (("replace", rep, "C3"), ("adaptive", ada, "C0")):
        var = np.exp(np.asarray(res.metrics["log_var"][..., 0], np.float64))
        gens = np.arange(var.shape[1])
        lo, med, hi = np.quantile(var, [0.1, 0.5, 0.9], axis=0)
        ax.fill_between(gens, lo, hi, color=colour, alpha=0.2, lw=0)
        ax.plot(gens, med, color=colour, lw=2, label=f"{name}: median, 10-90 %")
    num_gens = rep.metrics["log_var"].shape[1] - 1
    alarms = first_generation(rep.metrics["alarm"])
    halving = first_generation(rep.metrics["log_var"][..., 0] <= math.log(0.5))
    fired = alarms[alarms <= num_gens]
    ax.plot(
        fired,
        np.full(fired.shape, 0.0),
        "|",
        color="k",
        alpha=0.3,
        ms=12,
        transform=ax.get_xaxis_transform(),
    )
    ax.axvline(
        np.median(alarms),
        color="k",
        ls="--",
        lw=1,
        label=f"replace: median first alarm (n = {np.median(alarms):.0f})",
    )
    ax.axvline(
        np.median(halving),
        color="C3",
        ls=":",
        lw=1.2,
        label=f"replace: median halving generation (n = {np.median(halving):.0f})",
    )
    ax.axhline(0.5, color="0.5", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlim(0, num_gens)
    ax.set_xlabel("generation n (rug: first alarm of each replace chain)")
    ax.set_ylabel("fitted variance (log scale)")
    cfg = rep.config
    early = float(np.mean(alarms < halving))
    inj = float(np.mean(ada.metrics["injected"][:, 1:]))
    head = (
        f"Collapse monitor, Gaussian M = {cfg['sample_size'][0]}, "
        f"{cfg['num_chains']} chains: alarm before halving in {early:.0%} of chains; "
        f"adaptive injects in {inj:.0%} of fits"
    )
    ax.set_title(head if title is None else f"{head}\n{title}", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="docs/figures", help="output directory")
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--sample-size", type=int, default=100)
    parser.add_argument("--held-out", type=int, default=500)
    parser.add_argument("--level", type=float, default=0.01)
    parser.add_argument("--num-real", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    res = run(
        num_chains=args.chains,
        num_generations=args.generations,
        sample_size=args.sample_size,
        num_held_out=args.held_out,
        level=args.level,
        num_real=args.num_real,
        seed=args.seed,
    )
    rep, ada = res["replace"], res["adaptive"]
    alarms = first_generation(rep.metrics["alarm"])
    halving = first_generation(rep.metrics["log_var"][..., 0] <= math.log(0.5))
    print(
        f"replace: median first alarm {np.median(alarms):.0f}, median halving "
        f"{np.median(halving):.0f}, alarm before halving in "
        f"{np.mean(alarms < halving):.1%} of chains"
    )
    for name, r in res.items():
        lv = np.abs(np.asarray(r.metrics["log_var"][..., 0], np.float64))
        w2 = np.asarray(r.metrics["w2_sq"], np.float64)
        print(
            f"{name}: final mean |log var| {lv[:, -1].mean():.3g}, "
            f"mean W2^2 {w2[:, -1].mean():.3g}"
        )
    print(
        f"adaptive: injected in {np.mean(ada.metrics['injected'][:, 1:]):.1%} of fits"
    )
    files = plot(res, pathlib.Path(args.out) / "monitor")
    print(f"wrote {', '.join(files)} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
