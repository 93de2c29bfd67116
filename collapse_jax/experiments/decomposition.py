"""The three error sources of Shumailov et al., switched on and off (SH-1).

A 1-D two-component Gaussian mixture is the truth. The three switches:

* **S** statistical: ``M`` samples per generation, or the population limit;
* **E** expressivity: fit a two-component mixture (well-specified) or one Gaussian;
* **A** approximation: exact fits, or ``num_steps`` Adam steps from a fixed
  initialisation on the negative log-likelihood (an imperfect learner that never
  reaches the optimum).

:func:`run` returns a :class:`~collapse_jax.Decomposition` with the L2 distance to
the truth and the W2 distance between moment-matched Gaussians for all eight
combinations (common random numbers); :func:`plot` draws the median distance per
generation and the additive decomposition at the last generation.

Run ``python -m collapse_jax.experiments.decomposition --out docs/figures``.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from collapse_jax.decompose import Decomposition, decompose
from collapse_jax.experiments._figures import save_figure
from collapse_jax.families import (
    ModelFamily,
    gaussian,
    gaussian_params,
    gmm,
    gmm_params,
)
from collapse_jax.fitting import approximate

__all__ = ["TRUTH", "approximation", "run", "plot", "main"]

#: The truth: 0.4 N(-2, 0.6^2) + 0.6 N(1.5, 0.8^2).
TRUTH = dict(
    weights=[0.4, 0.6],
    means=[[-2.0], [1.5]],
    covs=[[[0.36]], [[0.64]]],
)


def approximation(
    family: ModelFamily, *, num_steps: int = 20, learning_rate: float = 0.05
) -> ModelFamily:
    """The imperfect learner: Adam from a fixed start, ``num_steps`` per generation."""
    if family.name == "gaussian":
        init = gaussian_params(0.0, 1.0)
    else:
        init = gmm_params([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
    return approximate(
        family,
        optimizer="adam",
        learning_rate=learning_rate,
        num_steps=num_steps,
        start="fixed",
        init_params=init,
    )


def run(
    *,
    num_chains: int = 64,
    num_generations: int = 100,
    sample_size: int = 100,
    seed: int = 0,
    dtype: str = "float32",
    combos=None,
    progress=None,
) -> Decomposition:
    """All eight on/off combinations of the three errors on the mixture truth."""
    return decompose(
        gmm(2, 1),
        gmm_params(**TRUTH),
        restricted_family=gaussian(1),
        approximation=approximation,
        sample_size=sample_size,
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        combos=combos,
        dtype=dtype,
        progress=progress,
    )


def plot(dec: Decomposition, path, metric: str = "l2_to_truth") -> list[str]:
    """Median distance per generation for every combination, and the effects.

    Writes ``path`` with suffixes ``.png`` and ``.pdf``; returns the file names.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = dec.median(metric)
    gens = np.arange(med.shape[1])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {0: ":", 1: "--", 2: "-.", 3: "-"}
    for i, (label, combo) in enumerate(zip(dec.labels, dec.combos, strict=True)):
        y = np.where(med[i] > 0, med[i], np.nan)
        ax.plot(
            gens[1:],
            y[1:],
            styles[sum(combo)],
            lw=1.8,
            label=label if np.any(med[i] > 0) else f"{label} (0: not drawn)",
            color=f"C{i}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("generation n")
    ax.set_ylabel(f"median {metric.replace('_', ' ')}")
    ax.set_title("distance to the truth, each error source on/off")
    ax.legend(title="errors on", fontsize=8, ncol=2)
    effects = dec.effects(metric, statistic="mean")
    names = [k for k in effects if k != "none"]
    values = [float(effects[k][-1]) for k in names]
    bx.bar(names, values, color=[f"C{dec.labels.index(k)}" for k in names])
    bx.axhline(0, color="k", lw=0.8)
    bx.set_title(f"decomposition of the mean {metric} at n = {gens[-1]}")
    bx.set_ylabel("main effect / interaction")
    bx.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    out = save_figure(fig, path)
    plt.close(fig)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="docs/figures", help="output directory")
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--sample-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    dec = run(
        num_chains=args.chains,
        num_generations=args.generations,
        sample_size=args.sample_size,
        seed=args.seed,
        progress=lambda label, done, total: print(f"{label:>6}: {done}/{total}"),
    )
    files = plot(dec, pathlib.Path(args.out) / "decomposition")
    final = dec.median("l2_to_truth")[:, -1]
    for label, value in zip(dec.labels, final, strict=True):
        print(f"{label:>6}  median L2 at n={args.generations}: {value:.4g}")
    print(f"wrote {', '.join(files)} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
