"""Verify row of a minority group's loss: WF-2g (docs/theory.md WF-2, SH-3).

In the neutral categorical chain a group of categories is a two-type Wright–Fisher
chain (its count is binomial given the last model), so it vanishes with
probability 1 − its initial share (proofs/sh-3-discrete-absorption.md, the
corollary on groups). The row marks one category of a 90/10 population
(:func:`collapse_jax.minority`), runs every chain to the two-type absorption
horizon recording the group's share at the first and last generations only, and
compares the frequency of ``share == 0`` with ``1 − m_0`` at the binomial SE.
"""

from __future__ import annotations

import math

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.registry import Z_PASS, Claim, Row
from collapse_jax.minority import mean_time_to_loss
from collapse_jax.theory import discrete as td

__all__ = ["CLAIMS"]

#: 9 majority categories of 0.1 each and a minority category of 0.1 (90/10).
_PROBS = (0.1,) * 10
_M = 20
#: Chains of the row, in the full run too. Every chain runs to the two-type
#: absorption horizon (about 370 generations at M = 20: the loss takes 9 on
#: average, but the group's fixation, its complement, takes far longer), so the row
#: costs chains x horizon; 65,536 chains took 296 s (239 s of CPU) at load 4.
#: Power at 8,192 chains: the binomial SE of the vanishing frequency is
#: sqrt(0.9 * 0.1 / 8192) = 0.0033, so |z| > 5 flags a chain whose group vanishes
#: with probability 0.875 (or 0.925) instead of 0.9 in 99.4 % of runs and one with
#: 0.88 in 85 %; the quick run's 4,096 chains (SE 0.0047) flag 0.875 in 63 %.
_MAX_CHAINS = 8192


def _wf2g(ctx):
    group = cj.minority(categories=[9])
    share0 = 0.1
    c = min(ctx.chains, _MAX_CHAINS)
    # The group's count is a two-type chain: its horizon bounds the group's loss.
    horizon = td.absorption_horizon(np.array([share0, 1 - share0]), _M, c)
    res = cj.run_chains(
        cj.categorical(len(_PROBS)),
        cj.categorical_params(np.array(_PROBS)),
        key=ctx.seed + 31,
        num_chains=c,
        num_generations=horizon,
        sample_size=_M,
        sampler="sufficient",
        dtype=ctx.dtype,
        metrics=[group.metric],
        record_params=False,
        record_at=[horizon],
        extra_metrics={group.metric: group},
        first_passage={"vanished": (group.metric, "==", 0.0)},
    )
    final = np.asarray(res.metrics[group.metric][:, -1], np.float64)
    absorbed = float(np.mean((final == 0.0) | (final == 1.0)))
    vanished = float(np.mean(final == 0.0))
    theory = 1.0 - share0
    se = math.sqrt(theory * share0 / c)
    z = (vanished - theory) / se
    first = res.first_passage["vanished"]
    lost = first[first >= 0]
    return Row(
        "WF-2g",
        f"a group of share m_0 vanishes w.p. 1 − m_0 (K={len(_PROBS)}, group of 1 "
        f"category, m_0={share0}, M={_M}, horizon {horizon})",
        theory,
        vanished,
        float(z),
        bool(absorbed == 1.0 and abs(z) <= Z_PASS),
        None,
        f"absorbed {absorbed:.5f}; mean loss generation {lost.mean():.2f} "
        f"(exact {mean_time_to_loss(share0, _M):.2f})",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "WF-2g",
        "a minority group vanishes w.p. 1 − its initial share",
        _wf2g,
        proof="sh-3-discrete-absorption.md",
    ),
)
