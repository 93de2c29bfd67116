"""Which real English words a model forgets first (docs/theory.md SU-1, TT-3).

Generation 0 is the empirical distribution of the ``V`` most frequent English words
(wordfreq's list, :func:`collapse_jax.datasets.word_frequencies`, renormalised over
the ``V`` words). Generation ``n + 1`` is the categorical model refitted to ``M``
words drawn from generation ``n`` (the replace regime): a neutral Wright–Fisher
chain. A word is *forgotten* at the first generation whose model gives it
probability 0; it can never come back.

SU-1 says the time to forget a word grows linearly with its count in the first
dataset: with ``k ~ M p_i`` copies, each copy leaving about Poisson(1) copies per
generation, the word is lost by generation ``n`` with probability about
``q_{n-1}^k`` (Galton–Watson, proofs/su-2-poisson.md), so the median forgetting
generation is about ``2k / log 2``
(:func:`collapse_jax.theory.counting.forgetting_generation_quantile`). TT-3 gives
the truth's mass on forgotten words, the test error of a memorisation learner
(:func:`collapse_jax.theory.tails.lost_mass_after_generations`).

:func:`run` returns a :class:`WordForgetting` record; :func:`plot` draws the median
forgetting generation against the expected first count ``M p_i`` with the
branching prediction, and the mean lost mass over generations (± 2 SE) against
TT-3's expected value.

Run ``python -m collapse_jax.experiments.word_forgetting --out docs/figures``.
"""

from __future__ import annotations

import argparse
import pathlib
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

import collapse_jax as cj
from collapse_jax._statistic import across_chains
from collapse_jax.datasets import WordFrequencies, word_frequencies
from collapse_jax.experiments._figures import save_figure
from collapse_jax.theory import counting, curves, tails

__all__ = ["WordForgetting", "forgetting_generations", "run", "plot", "main"]


class WordForgetting(NamedTuple):
    """The outcome of :func:`run`.

    Attributes:
      words: ``(V,)`` the words, most frequent first.
      probs: ``(V,) float64`` the truth (generation 0).
      forget_generation: ``(num_chains, V) int32``: the first generation whose model
        gives the word probability 0; ``num_generations + 1`` when the word
        survives the whole run (censored).
      lost_mass: ``(num_chains, num_generations + 1) float64``: the truth's mass on
        forgotten words, per generation.
      sample_size: ``M``.
      num_generations: ``N``.
      seconds: wall time of the chain run (compilation included).
    """

    words: tuple[str, ...]
    probs: np.ndarray
    forget_generation: np.ndarray
    lost_mass: np.ndarray
    sample_size: int
    num_generations: int
    seconds: float


def forgetting_generations(probs: np.ndarray) -> np.ndarray:
    """First generation with probability 0, per chain and category.

    Args:
      probs: ``(num_chains, N + 1, V)`` recorded probabilities (generation 0 first).

    Returns:
      ``(num_chains, V) int32``; ``N + 1`` where the category is never lost.
    """
    probs = np.asarray(probs)
    lost = probs <= 0
    first = np.argmax(lost, axis=1)
    never = ~np.any(lost, axis=1)
    return np.where(never, probs.shape[1], first).astype(np.int32)


def run(
    num_words: int = 2000,
    sample_size: int = 10_000,
    num_chains: int = 32,
    num_generations: int = 150,
    seed: int = 0,
    *,
    words: WordFrequencies | None = None,
    sampler: str = "samples",
) -> WordForgetting:
    """Run the word-forgetting chains (defaults: about 10 s on two CPU cores).

    Args:
      num_words: ``V``, the vocabulary (the ``V`` most frequent English words).
      sample_size: ``M`` words drawn per generation.
      num_chains: independent chains.
      num_generations: ``N``.
      seed: the run's seed.
      words: a truth to use instead of wordfreq's list (e.g. from
        :func:`collapse_jax.datasets.load_word_counts`); ``num_words`` is then
        ignored.
      sampler: ``"samples"`` (default, the fast inverse-CDF draws for large ``V``)
        or ``"sufficient"``.

    Returns:
      A :class:`WordForgetting`.
    """
    wf = word_frequencies(num_words) if words is None else words
    v = len(wf.words)
    t0 = time.perf_counter()
    res = cj.run_chains(
        cj.categorical(v),
        cj.categorical_params(wf.probs),
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        sampler=sampler,
        metrics=["probs", "lost_mass"],
        record_params=False,
    )
    forget = forgetting_generations(res.metrics["probs"])
    seconds = time.perf_counter() - t0
    return WordForgetting(
        wf.words,
        wf.probs,
        forget,
        np.asarray(res.metrics["lost_mass"], np.float64),
        int(sample_size),
        int(num_generations),
        seconds,
    )


def _median_forgetting(result: WordForgetting) -> np.ndarray:
    """Median forgetting generation per word; NaN where half the chains keep it."""
    g = result.forget_generation.astype(np.float64)
    g[g > result.num_generations] = np.inf  # censored: after the horizon
    med = np.median(g, axis=0)
    return np.where(np.isfinite(med), med, np.nan)


def plot(result: WordForgetting, path, *, title: str | None = None) -> list[str]:
    """Left: median forgetting generation vs first count; right: lost mass.

    Left: one point per word, at its expected count ``M p_i`` in the first dataset
    (x, log scale) and its median forgetting generation over chains (y, log scale);
    words kept by at least half the chains at the horizon are left out. The line is
    the Galton–Watson median (SU-1: about ``2k / log 2``). A few words are labelled.
    Right: the truth's mass on forgotten words, its mean over chains with ± 2 standard
    errors (from the independent chains) against TT-3's approximation of its
    expected value: the same statistic on both sides.

    Writes ``path`` with suffixes ``.png`` and ``.pdf``; returns the file names.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    m, n_gen = result.sample_size, result.num_generations
    counts = m * result.probs
    med = _median_forgetting(result)
    shown = np.isfinite(med)

    fig = Figure(figsize=(13, 5.2))
    FigureCanvasAgg(fig)
    ax, bx = fig.subplots(1, 2)
    ax.scatter(
        counts[shown],
        med[shown],
        s=6,
        alpha=0.5,
        color="C0",
        lw=0,
        label="words (median over chains)",
    )
    ks = np.unique(
        np.geomspace(1, max(2.0, counts[shown].max() if shown.any() else 2), 40).astype(
            int
        )
    )
    pred = [counting.forgetting_generation_quantile(int(k)) for k in ks]
    ax.plot(
        ks,
        pred,
        color="C3",
        lw=1.5,
        label=r"branching median for $k$ copies, $\approx 2k/\log 2$",
    )
    rng = np.random.default_rng(0)
    idx = np.flatnonzero(shown)
    if idx.size:
        pick = np.unique(
            np.concatenate([idx[:3], rng.choice(idx, min(8, idx.size), replace=False)])
        )
        for i in pick:
            ax.annotate(
                result.words[i],
                (counts[i], med[i]),
                fontsize=7,
                xytext=(3, 2),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"expected count in the first dataset, $M p_i$")
    ax.set_ylabel("median generation at which the word is forgotten")
    kept = int(np.sum(~shown))
    ax.set_title(
        f"forgetting time grows linearly with the count (SU-1)\n"
        f"{kept} of {len(result.words)} words kept by most chains at "
        f"n = {n_gen}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")

    gens = np.arange(n_gen + 1)
    lm = result.lost_mass
    stat = across_chains(lm, "mean")  # TT-3 is an expected value: compare means
    bx.fill_between(
        gens, stat.lo, stat.hi, color="C0", alpha=0.25, lw=0, label="± 2 SE"
    )
    bx.plot(gens, stat.centre, color="C0", lw=2, label=f"mean of {lm.shape[0]} chains")
    theory_gens = gens[1:]
    theo = curves.lost_mass_curve(result.probs, m, n_gen)[1:]  # O(N), not O(N^2)
    bx.plot(
        theory_gens,
        theo,
        color="C3",
        ls="--",
        lw=1.5,
        label="E lost mass, TT-3 (Galton–Watson approximation)",
    )
    bx.set_xlabel("generation n")
    bx.set_ylabel("truth's probability mass on forgotten words")
    bx.set_title("lost mass = test error of a memorisation learner (TT-3)", fontsize=10)
    bx.set_xlim(0, n_gen)
    bx.legend(fontsize=8, loc="lower right")
    head = (
        f"Word forgetting: categorical chain on the top {len(result.words)} "
        f"English words (wordfreq), M = {m}, {lm.shape[0]} chains x {n_gen} "
        "generations"
    )
    fig.suptitle(head if title is None else f"{head}\n{title}", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="docs/figures", help="output directory")
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--sample-size", type=int, default=10_000)
    parser.add_argument("--chains", type=int, default=32)
    parser.add_argument("--generations", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.words, args.sample_size, args.chains, args.generations, args.seed)
    med = _median_forgetting(res)
    files = plot(res, pathlib.Path(args.out) / "word_forgetting")
    print(
        f"run: {args.chains} chains x {args.generations} generations, V = "
        f"{args.words}, M = {args.sample_size}: {res.seconds:.1f} s"
    )
    for i in (0, 9, 99, 499, len(res.words) - 1):
        if i < len(res.words):
            print(
                f"  rank {i + 1:>5} {res.words[i]!r:>14}: M p = "
                f"{res.sample_size * res.probs[i]:9.2f}, median forgetting "
                f"generation {med[i]:.0f}"
            )
    tt3 = tails.lost_mass_after_generations(
        res.probs, args.sample_size, args.generations
    )
    final = across_chains(res.lost_mass[:, -1:], "mean")
    print(
        f"  lost mass at n = {args.generations}: mean "
        f"{final.centre[0]:.4f} ± {(final.hi - final.centre)[0] / 2:.4f} (SE; TT-3: "
        f"{tt3:.4f})"
    )
    print(f"wrote {', '.join(files)} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
