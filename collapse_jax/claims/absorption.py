"""Verify row of the categorical chain's absorption: SH-3 (docs/theory.md §4).

The chain is absorbed at a single category ``j`` with probability ``p_0(j)``; the
row runs every chain to the absorption horizon in blocks of chain ids.
"""

from __future__ import annotations

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.blocks import run_blocked
from collapse_jax.claims.registry import Z_PASS, Claim, Row
from collapse_jax.claims.shared import P0
from collapse_jax.theory import discrete as td

__all__ = ["CLAIMS"]


def _sh3(ctx):
    m = 20
    p0 = np.array(P0)
    c = ctx.chains
    horizon = td.absorption_horizon(p0, m, c)
    absorbed, probs = run_blocked(
        lambda res: (res.metrics["absorbed"][:, -1], res.metrics["probs"][:, -1]),
        family=cj.categorical(len(P0)),
        init=cj.categorical_params(p0),
        key=ctx.seed + 8,
        num_chains=c,
        num_generations=horizon,
        sample_size=m,
        dtype=ctx.dtype,
        metrics=["absorbed", "probs"],
        record_params=False,
    )
    winners = np.argmax(probs, axis=1)
    freq = np.bincount(winners[absorbed], minlength=len(P0)) / c
    zs = (freq - p0) / np.sqrt(p0 * (1 - p0) / c)
    worst = int(np.argmax(np.abs(zs)))
    ok = bool(np.all(absorbed)) and bool(np.max(np.abs(zs)) <= Z_PASS)
    return Row(
        "SH-3",
        f"absorbed at δ_j with probability p_0(j) (K={len(P0)}, M={m}, "
        f"horizon {horizon})",
        float(p0[worst]),
        float(freq[worst]),
        float(zs[worst]),
        ok,
        None,
        f"absorbed {absorbed.mean():.5f}; freq " + ", ".join(f"{f:.3f}" for f in freq),
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "SH-3",
        "discrete chain absorbed at δ_j w.p. p_0(j)",
        _sh3,
        proof="sh-3-discrete-absorption.md",
    ),
)
