"""Shumailov et al.'s GMM experiment (docs/theory.md SH-E2): a mixture refits itself.

A two-component, full-covariance Gaussian mixture in 2-D (two well-separated
Gaussians, :data:`TRUTH`) is generation 0. Generation ``n + 1`` is the mixture fitted
by EM to ``M = 1000`` draws from generation ``n`` (the paper refits scikit-learn's
``GaussianMixture(n_components=2, covariance_type="full", tol=1e-5,
max_iter=2000)``; here ``cj.gmm(2, dim=2)`` with the same variance floor ``1e-6`` as
scikit-learn's ``reg_covar``). The distance is the closed-form L2 distance between the
generation-0 and the generation-``n`` mixtures (the family's ``l2`` metric), on a log
scale.

EM iterations: the family's exact fit (``num_iters=None``) is scikit-learn's, EM from
a k-means start to ``|gain| < 1e-5``. This experiment runs :data:`NUM_ITERS` = 5
warm-started iterations instead, an explicit functional approximation (cheaper:
a batch of exact fits runs as many iterations as its slowest chain; on these two
well-separated components the last-iteration gain is below
``1e-5`` in all but a few fits: 256 chains x 2000 generations, 28 of 512,000 fits
between ``1e-5`` and ``1e-4``; every run records ``em_gain`` and :func:`main` reports
it). Pass ``num_iters=None`` (``--num-iters 0`` on the command line) for the exact
fit. On the paper's released notebook setting (:data:`NOTEBOOK_TRUTH`, one blob fitted
by two components, where the likelihood is flat) the warm-started fit is measurably
biased; :func:`sklearn_notebook_chain` is scikit-learn's chain there, the reference of
tests/test_gmm_ml.py and ``benchmarks/gmm_chain.py --notebook-only``.

:func:`run` returns the :class:`~collapse_jax.ChainResult`; :func:`plot` draws the
log L2 distance to generation 0 over generations (median, 10-90 % band, a few
chains) and samples of one chain at the snapshot generations
``{0, 50, 100, 150, 200, 350, 2000}``.

Run ``python -m collapse_jax.experiments.gmm_collapse --out docs/figures``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time
from collections.abc import Callable, Sequence

import numpy as np

from collapse_jax.chain import ChainResult, run_chains
from collapse_jax.experiments._figures import save_figure
from collapse_jax.families import (
    GmmParams,
    ModelFamily,
    gmm,
    gmm_params,
    gmm_weights_means_covs,
)

__all__ = [
    "TRUTH",
    "NUM_ITERS",
    "SNAPSHOTS",
    "truth_params",
    "NOTEBOOK_TRUTH",
    "notebook_truth_params",
    "log_l2_sq",
    "sklearn_notebook_chain",
    "family",
    "run",
    "plot",
    "main",
]

#: The truth: two well-separated, correlated Gaussians in 2-D, equal weights.
TRUTH = dict(
    weights=[0.5, 0.5],
    means=[[-3.0, 0.0], [3.0, 0.0]],
    covs=[[[1.0, 0.4], [0.4, 0.6]], [[0.6, -0.3], [-0.3, 1.0]]],
)
#: EM iterations per fit (see the module docstring).
NUM_ITERS = 5
#: scikit-learn's ``reg_covar`` default, also the family's default floor.
VARIANCE_FLOOR = 1e-6
#: The paper's snapshot generations.
SNAPSHOTS = (0, 50, 100, 150, 200, 350, 2000)
#: Recorded per chain and generation (params are recorded too, for the snapshots).
METRICS = ("l2", "em_gain", "weights", "log_vars")
SKLEARN_TOL = 1e-5


#: The paper's released notebook (docs/theory.md SH-E2): one 2-D blob N(0, I), fitted
#: each generation by a 2-component full-covariance mixture. Generation 0 here is
#: scikit-learn's fit (tol=1e-5, k-means start, ``random_state=0``) to 1,000 draws
#: ``np.random.RandomState(0).standard_normal((1000, 2))``, rounded to 4 digits, so
#: that both chains of a comparison start from the same model.
NOTEBOOK_TRUTH = dict(
    weights=[0.5411, 0.4589],
    means=[[0.3782, 0.4035], [-0.4934, -0.4974]],
    covs=[
        [[0.8024, -0.2349], [-0.2349, 0.7894]],
        [[0.7117, -0.1769], [-0.1769, 0.7303]],
    ],
)


def notebook_truth_params() -> GmmParams:
    """Generation 0 of the notebook's chain, :data:`NOTEBOOK_TRUTH`."""
    return gmm_params(**NOTEBOOK_TRUTH)


def log_l2_sq(a, b) -> float:
    """``log`` of the squared L2 distance between two mixtures ``(weights, means,
    covs)`` (host, float64; closed form: ``int p q = sum w_i v_j N(m_i; m_j, S_i +
    S_j)``)."""

    def inner(p, q):
        (wp, mp, cp), (wq, mq, cq) = p, q
        total = 0.0
        for i in range(len(wp)):
            for j in range(len(wq)):
                s = np.asarray(cp[i]) + np.asarray(cq[j])
                r = np.asarray(mp[i]) - np.asarray(mq[j])
                quad = float(r @ np.linalg.solve(s, r))
                norm = math.sqrt(np.linalg.det(2 * math.pi * s))
                total += wp[i] * wq[j] * math.exp(-0.5 * quad) / norm
        return total

    return math.log(inner(a, a) + inner(b, b) - 2 * inner(a, b))


def sklearn_notebook_chain(
    num_chains: int, generations: Sequence[int], seed: int = 0, sample_size: int = 1000
) -> np.ndarray:
    """The notebook's chain by scikit-learn: ``log L2^2`` to generation 0.

    Per chain ``c`` (``np.random.RandomState([seed, c])``): from
    :data:`NOTEBOOK_TRUTH`, draw ``sample_size`` points (``GaussianMixture.sample``),
    fit a fresh ``GaussianMixture(n_components=2, covariance_type="full",
    tol=1e-5, max_iter=2000)`` (k-means start, the notebook's setting), repeat.
    Needs scikit-learn; run it under ``threadpoolctl.threadpool_limits(1)`` to time
    it on one core.

    Returns:
      ``(num_chains, len(generations))`` float64 ``log L2^2`` between the fit of
      each listed generation (``>= 1``) and generation 0.
    """
    from sklearn.mixture import GaussianMixture

    def fresh(rs: np.random.RandomState) -> GaussianMixture:
        return GaussianMixture(
            n_components=2,
            covariance_type="full",
            tol=SKLEARN_TOL,
            max_iter=2000,
            random_state=rs,
        )

    t = tuple(
        np.asarray(NOTEBOOK_TRUTH[k], np.float64) for k in ("weights", "means", "covs")
    )
    gens = list(generations)
    out = np.empty((num_chains, len(gens)))
    for c in range(num_chains):
        rs = np.random.RandomState([seed, c])
        gm = fresh(rs)
        gm.weights_, gm.means_, gm.covariances_ = t
        for g in range(1, max(gens) + 1):
            x, _ = gm.sample(sample_size)
            gm = fresh(rs).fit(x)
            if g in gens:
                fit = (gm.weights_, gm.means_, gm.covariances_)
                out[c, gens.index(g)] = log_l2_sq(fit, t)
    return out


def truth_params() -> GmmParams:
    """Generation 0, :data:`TRUTH` as :class:`~collapse_jax.GmmParams`."""
    return gmm_params(**TRUTH)


def family(num_iters: int | None = NUM_ITERS) -> ModelFamily:
    """``cj.gmm(2, dim=2)`` with ``num_iters`` warm-started EM iterations (``None``:
    the family's default maximum-likelihood fit) and the sklearn floor."""
    return gmm(2, dim=2, num_iters=num_iters, variance_floor=VARIANCE_FLOOR)


def run(
    num_chains: int = 256,
    num_generations: int = 2000,
    sample_size: int = 1000,
    seed: int = 0,
    dtype: str = "float32",
    chunk_size: int | None = 100,
    progress: Callable[[int, int], None] | None = None,
    *,
    num_iters: int | None = NUM_ITERS,
    record_params: bool = True,
) -> ChainResult:
    """Run the SH-E2 chains: ``num_chains`` independent refits of :data:`TRUTH`.

    Records the metrics :data:`METRICS` for every generation and, with
    ``record_params`` (default), the params of every generation (256 chains x 2001
    generations x 19 floats is 39 MB in float32), which :func:`plot` needs for the
    snapshots. ``chunk_size`` generations run per compiled scan; ``progress(done,
    total)`` is called after each chunk (e.g. :func:`collapse_jax.progress_bar`).
    """
    return run_chains(
        family(num_iters),
        truth_params(),
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        dtype=dtype,
        chunk_size=None if chunk_size is None else min(chunk_size, num_generations),
        progress=progress,
        metrics=list(METRICS),
        record_params=record_params,
    )


def _snapshots(num_generations: int, snapshots: Sequence[int]) -> list[int]:
    """The snapshot generations that exist; the last generation stands in for
    snapshots past it (a shorter run still shows its end)."""
    out = sorted({g for g in snapshots if g <= num_generations})
    if any(g > num_generations for g in snapshots) or not out:
        out = sorted(set(out) | {num_generations})
    return out


def _ellipse(mean, cov, num_sd: float = 2.0, num_points: int = 100):
    """Points of the ``num_sd`` standard-deviation ellipse of a 2-D Gaussian."""
    t = np.linspace(0.0, 2.0 * np.pi, num_points)
    vals, vecs = np.linalg.eigh(cov)
    circle = np.stack([np.cos(t), np.sin(t)])
    return mean[:, None] + num_sd * (vecs * np.sqrt(np.maximum(vals, 0))) @ circle


def _draw(weights, means, covs, n: int, rng) -> np.ndarray:
    """``n`` draws from one mixture (host, float64); components with a non-finite
    weight, mean or covariance (a failed fit) are left out."""
    ok = (
        np.isfinite(weights)
        & np.all(np.isfinite(means), axis=-1)
        & np.all(np.isfinite(covs), axis=(-2, -1))
    )
    w = np.where(ok, weights, 0.0)
    comp = rng.choice(len(w), size=n, p=w / w.sum())
    out = np.empty((n, means.shape[1]))
    for j in range(len(w)):
        sel = comp == j
        if np.any(sel):
            out[sel] = rng.multivariate_normal(means[j], covs[j], size=int(sel.sum()))
    return out


def plot(
    result: ChainResult,
    path,
    *,
    title: str | None = None,
    chain: int | None = None,
    num_examples: int = 5,
    snapshots: Sequence[int] = SNAPSHOTS,
    seed: int = 0,
) -> list[str]:
    """Left: log L2 distance to generation 0; right: one chain at the snapshots.

    Left: median over chains, 10-90 % band and ``num_examples`` individual chains of
    the ``l2`` metric against the generation (log y-axis; generation 0, at distance
    0, is left out). Right: 1,000 draws from the fitted mixture of one chain at each
    snapshot generation, with the 2-sd ellipse of each live component and, in grey,
    the truth's; the last panel overlays the 2-sd ellipses of all snapshots. All
    snapshot panels share axes, so the narrowing is visible. ``chain`` defaults to
    the chain with the median distance at the last generation.

    Writes ``path`` with suffixes ``.png`` and ``.pdf`` (matplotlib's Agg canvas,
    no pyplot: the caller's backend is left alone); returns the file names.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if result.params is None:
        raise ValueError("plot needs the recorded params: run with record_params=True.")
    l2 = np.asarray(result.metrics["l2"], np.float64)
    l2 = np.where(np.isfinite(l2) & (l2 > 0), l2, np.nan)
    num_chains, num_gens = l2.shape[0], l2.shape[1] - 1
    gens = np.arange(num_gens + 1)
    weights, means, covs = gmm_weights_means_covs(result.params)
    final = l2[:, -1]
    if chain is None:
        order = np.argsort(np.where(np.isnan(final), np.inf, final))
        finite = int(np.sum(~np.isnan(final)))
        chain = int(order[max(finite - 1, 0) // 2])
    snaps = _snapshots(num_gens, snapshots)

    fig = Figure(figsize=(16, 6.6))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 6, width_ratios=[1.4, 1.4, 1, 1, 1, 1])
    ax = fig.add_subplot(grid[:, :2])
    lo, med, hi = np.nanquantile(l2[:, 1:], [0.1, 0.5, 0.9], axis=0)
    ax.fill_between(gens[1:], lo, hi, color="C0", alpha=0.25, lw=0, label="10-90 %")
    ax.plot(gens[1:], med, color="C0", lw=2, label=f"median of {num_chains} chains")
    rng = np.random.default_rng(seed)
    examples = rng.choice(num_chains, size=min(num_examples, num_chains), replace=False)
    for i, c in enumerate(examples):
        ax.plot(
            gens[1:],
            l2[c, 1:],
            color="0.35",
            lw=0.6,
            alpha=0.8,
            label="single chains" if i == 0 else None,
        )
    ax.plot(gens[1:], l2[chain, 1:], color="C3", lw=1.0, label=f"chain {chain} (right)")
    for g in snaps[1:]:
        ax.axvline(g, color="0.7", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlim(0, num_gens)
    ax.set_xlabel("generation n")
    ax.set_ylabel("L2 distance to generation 0 (log scale)")
    ax.set_title("L2 distance between generation-0 and generation-n GMM")
    ax.legend(loc="lower right", fontsize=8)
    w_all = (
        np.asarray(result.metrics["weights"]) if "weights" in result.metrics else None
    )
    if w_all is not None:
        lost = float(np.mean(np.any(~(w_all[:, -1] > 0), axis=-1)))
        ax.text(
            0.02,
            0.97,
            f"chains that lost a component by n = {num_gens}: {lost:.0%}",
            transform=ax.transAxes,
            va="top",
            fontsize=9,
        )

    live = [np.isfinite(weights[chain, g]) & (weights[chain, g] > 0) for g in snaps]
    pts = [
        _draw(weights[chain, g], means[chain, g], covs[chain, g], 1000, rng)
        for g in snaps
    ]
    tw, tm, tc = weights[chain, 0], means[chain, 0], covs[chain, 0]
    ext = np.concatenate(
        list(pts) + [_ellipse(tm[j], tc[j], 2.5).T for j in range(len(tw)) if tw[j] > 0]
    )
    lo_xy, hi_xy = ext.min(0), ext.max(0)
    pad = 0.05 * (hi_xy - lo_xy).max()
    lim = np.stack([lo_xy - pad, hi_xy + pad])
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(snaps)))
    panels = [(r, c) for r in range(2) for c in range(2, 6)]
    overlay = fig.add_subplot(grid[panels[-1]])
    for i, g in enumerate(snaps[: len(panels) - 1]):
        bx = fig.add_subplot(grid[panels[i]])
        for j in range(len(tw)):
            if tw[j] > 0:
                e = _ellipse(tm[j], tc[j])
                bx.plot(e[0], e[1], color="0.6", lw=0.8)
        bx.scatter(pts[i][:, 0], pts[i][:, 1], s=1.5, color=colours[i], alpha=0.5)
        w_g, m_g, c_g = weights[chain, g], means[chain, g], covs[chain, g]
        for j in np.flatnonzero(live[i]):
            e = _ellipse(m_g[j], c_g[j])
            bx.plot(e[0], e[1], color="k", lw=0.8)
            overlay.plot(e[0], e[1], color=colours[i], lw=1.0)
        sds = [
            math.sqrt(max(float(np.linalg.det(c_g[j])), 0.0)) ** 0.5
            for j in np.flatnonzero(live[i])
        ]
        wtxt = "/".join(f"{w:.2f}" for w in np.where(live[i], w_g, 0.0))
        bx.set_title(
            f"n = {g}: weights {wtxt}\ngeometric-mean sd "
            + "/".join(f"{s:.2g}" for s in sds),
            fontsize=8,
        )
        bx.set_xlim(*lim[:, 0])
        bx.set_ylim(*lim[:, 1])
        bx.tick_params(labelsize=7)
    for j in range(len(tw)):
        if tw[j] > 0:
            e = _ellipse(tm[j], tc[j])
            overlay.plot(e[0], e[1], color="0.6", lw=0.8, ls="--")
    overlay.set_xlim(*lim[:, 0])
    overlay.set_ylim(*lim[:, 1])
    overlay.tick_params(labelsize=7)
    overlay.set_title(
        f"2-sd ellipses, n = {snaps[0]} to {snaps[-1]}\n"
        "(purple to yellow; dashed: truth)",
        fontsize=8,
    )
    cfg = result.config
    head = (
        f"GMM collapse (Shumailov et al., SH-E2): 2 components in 2-D, "
        f"M = {cfg['sample_size'][0] if cfg['sample_size'] else 'inf'}, "
        f"{num_chains} chains x {num_gens} generations, EM warm-started; right: "
        f"chain {chain} (median final distance), 1,000 draws per snapshot"
    )
    fig.suptitle(head if title is None else f"{head}\n{title}", fontsize=11)
    fig.tight_layout()
    out = save_figure(fig, path)
    return out


def _printer(total_chains: int) -> Callable[[int, int], None]:
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        dt = time.perf_counter() - start
        rate = total_chains * done / dt if dt > 0 else float("nan")
        eta = (total - done) * dt / done if done else float("nan")
        print(
            f"  generation {done}/{total}: {dt:.0f} s, {rate:.0f} chain-generations/s, "
            f"~{eta:.0f} s left",
            flush=True,
        )

    return progress


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="docs/figures", help="output directory")
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--generations", type=int, default=2000)
    parser.add_argument("--sample-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num-iters",
        type=int,
        default=NUM_ITERS,
        help="warm-started EM iterations per fit; 0: EM to convergence (exact fit)",
    )
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--note", default=None, help="second line of the title")
    args = parser.parse_args(argv)
    num_iters = args.num_iters if args.num_iters > 0 else None
    t0 = time.perf_counter()
    res = run(
        num_chains=args.chains,
        num_generations=args.generations,
        sample_size=args.sample_size,
        seed=args.seed,
        chunk_size=args.chunk_size,
        progress=_printer(args.chains),
        num_iters=num_iters,
    )
    t_run = time.perf_counter() - t0
    gain = np.abs(np.asarray(res.metrics["em_gain"][:, 1:], np.float64))
    l2 = np.asarray(res.metrics["l2"], np.float64)
    weights = np.asarray(res.metrics["weights"])
    note = args.note
    if args.num_iters != NUM_ITERS:
        extra = f"EM num_iters = {args.num_iters}"
        note = extra if note is None else f"{note}; {extra}"
    files = plot(res, pathlib.Path(args.out) / "gmm_collapse", title=note)
    print(
        f"run: {args.chains} chains x {args.generations} generations, M = "
        f"{args.sample_size}, num_iters = {args.num_iters}: {t_run:.0f} s "
        f"({args.chains * args.generations / t_run:.0f} chain-generations/s, "
        "compilation included)"
    )
    print(
        f"em_gain (last EM iteration): max |gain| {np.nanmax(gain):.2g}, fraction "
        f">= {SKLEARN_TOL:g} (sklearn's tol): {np.mean(~(gain < SKLEARN_TOL)):.2g}"
    )
    for g in _snapshots(args.generations, SNAPSHOTS)[1:]:
        q = np.nanquantile(np.where(l2[:, g] > 0, l2[:, g], np.nan), [0.1, 0.5, 0.9])
        dead = np.mean(np.any(~(weights[:, g] > 0), axis=-1))
        print(
            f"  n = {g:>4}: L2 to generation 0, median {q[1]:.3g} (10-90 %: "
            f"{q[0]:.3g}-{q[2]:.3g}); chains with a dead component {dead:.1%}"
        )
    print(f"failures: {len(res.failures())}")
    print(f"wrote {', '.join(files)} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
