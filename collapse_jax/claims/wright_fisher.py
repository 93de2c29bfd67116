"""Verify rows of the categorical (Wright–Fisher) chain: WF-1 to WF-9.

The martingale, the Gini–Simpson decay, the transition matrix's spectrum, the
non-absorption bounds and the expected number of surviving categories.
"""

from __future__ import annotations

import functools
import math

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.registry import Z_PASS, Claim, Context, Row, mean_se, stat_row
from collapse_jax.claims.shared import P0
from collapse_jax.theory import discrete as td

__all__ = ["CLAIMS"]


@functools.lru_cache(maxsize=16)
def _cat(
    ctx: Context,
    probs: tuple,
    size: int,
    generations: int,
    sampler="samples",
    chains: int | None = None,
    offset: int = 0,
):
    return cj.run_chains(
        cj.categorical(len(probs)),
        cj.categorical_params(np.array(probs)),
        key=ctx.seed + offset,
        num_chains=chains or ctx.chains,
        num_generations=generations,
        sample_size=size,
        sampler=sampler,
        dtype=ctx.dtype,
        metrics=["probs", "gini_simpson", "absorbed", "support_size"],
        record_params=False,
    )


def _wf1(ctx):
    n, m = 30, 20
    res = _cat(ctx, P0, m, 100)
    p = res.metrics["probs"][:, n].astype(np.float64)
    zs = [
        (p[:, j].mean() - P0[j]) / (p[:, j].std(ddof=1) / math.sqrt(p.shape[0]))
        for j in range(len(P0))
    ]
    worst = int(np.argmax(np.abs(zs)))
    return Row(
        "WF-1",
        f"E p_n = p_0 (martingale; K={len(P0)}, M={m}, n={n})",
        P0[worst],
        float(p[:, worst].mean()),
        float(zs[worst]),
        bool(max(abs(z) for z in zs) <= Z_PASS),
        None,
        f"worst of {len(P0)} categories (j={worst})",
    )


def _wf3(ctx):
    n, m = 30, 20
    res = _cat(ctx, P0, m, 100)
    est, se = mean_se(res.metrics["gini_simpson"][:, n])
    return stat_row(
        "WF-3",
        f"E H_n = H_0 Π(1 − 1/M_i)  (Gini–Simpson; M={m}, n={n})",
        td.expected_gini_simpson(np.array(P0), m, n),
        est,
        se,
    )


def _wf5(ctx):
    n, m = 60, 20
    res = _cat(ctx, P0, m, 100)
    frac = float(np.mean(~res.metrics["absorbed"][:, n]))
    lo, hi = td.non_absorption_bounds(np.array(P0), m, n)
    c = res.metrics["absorbed"].shape[0]
    se = math.sqrt(max(frac * (1 - frac), 1.0 / c) / c)
    ok = lo - Z_PASS * se <= frac <= hi + Z_PASS * se
    return Row(
        "WF-5",
        f"E H_n/(1−1/K) ≤ P(not absorbed) ≤ E H_n M²/(2(M−1)) (M={m}, n={n})",
        float(lo),
        frac,
        None,
        bool(ok),
        None,
        f"bounds [{lo:.4f}, {hi:.4f}], SE {se:.4f}",
    )


def _wf9(ctx):
    m = 10
    probs = (0.02, 0.03, 0.05, 0.1, 0.3, 0.5)
    res = _cat(ctx, probs, m, 1, offset=9)
    est, se = mean_se(res.metrics["support_size"][:, 1])
    return stat_row(
        "WF-9",
        f"E #surviving categories = Σ 1 − (1 − p_j)^M "
        f"(K={len(probs)}, M={m}, one generation)",
        td.expected_support_size(np.array(probs), m),
        est,
        se,
    )


def _wf4(ctx):
    del ctx
    errs = []
    for m in (5, 12, 30):
        num = np.sort(np.linalg.eigvals(td.wright_fisher_matrix(m)).real)[::-1]
        errs.append(np.max(np.abs(num - td.wright_fisher_eigenvalues(m))))
    lam2 = td.wright_fisher_eigenvalues(12)[2]
    return Row(
        "WF-4",
        "eigenvalues of the Wright–Fisher matrix = Π_{i<j}(1 − i/M) (M ∈ {5, 12, 30})",
        float(1 - 1 / 12),
        float(lam2),
        None,
        bool(max(errs) <= 1e-10),
        float(max(errs)),
        "λ_2 at M = 12 shown",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim("WF-1", "martingale", _wf1, proof="wf-1-martingale.md"),
    Claim("WF-3", "Gini–Simpson decay", _wf3, proof="wf-3-gini-simpson.md"),
    Claim("WF-4", "Wright–Fisher spectrum", _wf4, proof="wf-4-spectrum.md"),
    Claim("WF-5", "non-absorption bounds", _wf5, proof="wf-5-absorption-bounds.md"),
    Claim("WF-9", "surviving categories", _wf9, proof="wf-9-surviving-categories.md"),
)
