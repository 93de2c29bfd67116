"""Verify's memory plan: a row's chains run in blocks of chain ids, and each block
is reduced to the per-chain values the row needs before the next one starts.

A chain's trajectory depends only on (seed, chain id, configuration, dtype), not on
the batch it runs in (``first_chain=``; tests/test_keys.py), so a row run in blocks
has the same per-chain values, bit for bit, as the same row run in one call:
blocking changes no result and no statistical power. A row runs in as few blocks
as keep each block's estimated footprint within :data:`VERIFY_BUDGET`; what a block
keeps after its reduction (a few numbers per chain) is small, so a row's peak memory
is one block's, whatever its number of chains.

A block's size comes from the run's memory estimate
(:func:`collapse_jax.estimate.estimate_chains`, the one ``run_chains`` checks runs
against): what one more chain adds to it (:func:`collapse_jax.memory.chain_bytes`:
the state, one generation's draws and the fit's temporaries, a data-keeping
regime's buffers and their fit, one chunk of records and every generation's
records on the host). tests/test_verify_memory.py checks the blocks of the full
set against XLA's compiled memory analysis and the peak memory of its largest
rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import jax

import collapse_jax as cj
from collapse_jax import memory
from collapse_jax.estimate import estimate_chains

__all__ = [
    "VERIFY_BUDGET",
    "block_size",
    "run_blocked",
    "vmap_blocked",
]

# Bytes one block of a verify row may use. The full run's peak is one block plus
# the process (compiled programs, the rows' shared cached runs): several GiB below
# the 24 GiB of the 2-core machine the README targets.
VERIFY_BUDGET = 2 * 2**30


def block_size(per_chain: int, num_chains: int, budget: int = VERIFY_BUDGET) -> int:
    """Chains per block: as few blocks as fit ``budget``, of even sizes.

    A multiple of 8 (run_chains pads to it) and at least 8; blocks of one size
    share one compiled program.
    """
    fit = max(8, budget // max(per_chain, 1) // 8 * 8)
    if num_chains <= fit:
        return num_chains
    per_block = -(-num_chains // -(-num_chains // fit))  # ceil(chains / blocks)
    return -(-per_block // 8) * 8


def run_blocked(
    reduce: Callable[[Any], Any],
    *,
    family,
    init,
    num_chains: int,
    budget: int = VERIFY_BUDGET,
    **run_kwargs: Any,
) -> Any:
    """``reduce(cj.run_chains(...))`` for chains ``0 .. num_chains - 1``, in blocks.

    Args:
      reduce: maps a :class:`~collapse_jax.ChainResult` of one block to a pytree of
        arrays whose leading axis is the block's chains (e.g. one metric at one
        generation); the blocks' values are concatenated in chain order.
      family: the fitted family, as for :func:`collapse_jax.run_chains`.
      init: the truth, as for :func:`collapse_jax.run_chains`.
      num_chains: chains of the whole row.
      budget: bytes one block may use.
      **run_kwargs: the other arguments of :func:`collapse_jax.run_chains` (key,
        num_generations, ...), not ``first_chain``.

    Returns:
      The concatenated pytree: the same values as ``reduce`` of one call with
      ``num_chains`` chains.
    """
    per_chain = memory.chain_bytes(estimate_chains(family, init, **run_kwargs))
    block = block_size(per_chain, num_chains, budget)
    parts = []
    for first in range(0, num_chains, block):
        res = cj.run_chains(
            family,
            init,
            num_chains=min(block, num_chains - first),
            first_chain=first,
            **run_kwargs,
        )
        parts.append(jax.tree.map(np.asarray, reduce(res)))
        del res  # free the block's records before the next block runs
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)


def vmap_blocked(fn: Callable[[jax.Array], Any], keys: jax.Array, budget=VERIFY_BUDGET):
    """``jax.jit(jax.vmap(fn))(keys)`` in blocks of keys, for independent replicates.

    The block is sized from XLA's compiled memory analysis of the program for
    ``min(len(keys), 1024)`` keys (arguments, outputs and temporaries per key);
    each replicate sees only its own key, so the values are those of one call.

    Returns:
      ``fn``'s outputs for every key, as NumPy arrays with a leading key axis.
    """
    run = jax.jit(jax.vmap(fn))
    num = keys.shape[0]
    probe = min(num, 1024)
    footprint = memory.compiled_bytes(run.lower(keys[:probe]).compile())
    block = block_size(-(-footprint // probe), num, budget)
    parts = [
        jax.tree.map(np.asarray, run(keys[start : start + block]))
        for start in range(0, num, block)
    ]
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)
