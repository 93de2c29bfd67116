"""Verify's memory plan: a row's chains run in blocks of chain ids, and each block
is reduced to the per-chain values the row needs before the next one starts.

A chain's trajectory depends only on (seed, chain id, configuration, dtype), not on
the batch it runs in (``first_chain=``; tests/test_keys.py), so a row run in blocks
has the same per-chain values, bit for bit, as the same row run in one call:
blocking changes no result and no statistical power. A row runs in as few blocks
as keep each block's estimated footprint within :data:`VERIFY_BUDGET`; what a block
keeps after its reduction (a few numbers per chain) is small, so a row's peak memory
is one block's, whatever its number of chains.

:func:`bytes_per_chain` is a rough, deliberately generous estimate for this purpose
only (verify's rows, CPU): the state, one generation's draws and the temporaries of
sampling and fitting them, a data-keeping regime's buffers, one chunk of records on
the device and every generation's records on the host (the chunks and their
concatenation). tests/test_verify_memory.py checks it against XLA's compiled memory
analysis for the largest rows of the full set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

import collapse_jax as cj

__all__ = [
    "VERIFY_BUDGET",
    "block_size",
    "bytes_per_chain",
    "run_blocked",
    "vmap_blocked",
]

# Bytes one block of a verify row may use. The full run's peak is one block plus
# the process (compiled programs, the rows' shared cached runs): several GiB below
# the 24 GiB of the 2-core machine the README targets.
VERIFY_BUDGET = 2 * 2**30

# Live copies of the per-chain state and of one generation's draws while a step
# runs (the carry in and out, the draws, their weights and the fit's temporaries).
# Calibrated on XLA's memory analysis of the blocked rows (test_verify_memory.py):
# the linear-regression fit on accumulated rows holds about 15 copies of its data.
_STATE_COPIES = 8
_DRAW_COPIES = 16
_CHUNK = 1000  # run_chains' default generations per compiled scan


def _nbytes(tree) -> int:
    return sum(
        math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)
    )


def bytes_per_chain(
    family,
    init,
    *,
    num_generations: int,
    sample_size,
    dtype: str = "float32",
    regime=None,
    sampler: str = "samples",
    metrics=None,
    record_params: bool = True,
    chunk_size: int | None = None,
    init_family=None,
    **_: Any,
) -> int:
    """Estimated bytes one chain of ``cj.run_chains(family, init, ...)`` holds.

    Takes :func:`collapse_jax.run_chains`' arguments (the others are ignored). A
    generous estimate for sizing verify's blocks, not a bound for every family.
    """
    jdtype = jnp.dtype(dtype)
    # A cross-family run's models are the fitted family's, started from the truth.
    params = (
        family.cast_params(init, jdtype)
        if init_family is None
        else jax.eval_shape(
            lambda p: family.start_from(init_family, p),
            init_family.cast_params(init, jdtype),
        )
    )
    state = _nbytes(params)
    sizes = np.atleast_1d(np.asarray(sample_size if sample_size is not None else 0))
    n_max = int(sizes.max())
    draws = 0
    data = None
    if n_max > 0:
        data = jax.eval_shape(
            lambda p: family.sample(jax.random.key(0), p, n_max), params
        )
        # Each draw also carries a weight and, in the fit, a float copy.
        draws = _nbytes(data) + n_max * 2 * jdtype.itemsize
    if sampler == "sufficient":
        draws = 0
    buffers = 0
    if regime is not None and data is not None:
        buffers = _nbytes(
            jax.eval_shape(lambda: regime.init(family, data, num_generations))
        )
    shapes = jax.eval_shape(family.metrics, params, params)
    names = family.metric_names if metrics is None else tuple(metrics)
    record = sum(
        _nbytes(shapes[m]) if m in shapes else jdtype.itemsize for m in names
    ) + (state if record_params else 0)
    chunk = min(num_generations, chunk_size or _CHUNK)
    # A data-keeping regime's fit reads its buffers as data: the draws' copies.
    device = _STATE_COPIES * state + _DRAW_COPIES * (draws + buffers)
    return device + (chunk + 1) * record + 2 * (num_generations + 1) * record


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
    block = block_size(bytes_per_chain(family, init, **run_kwargs), num_chains, budget)
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
    memory = run.lower(keys[:probe]).compile().memory_analysis()
    footprint = (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
    )
    block = block_size(-(-footprint // probe), num, budget)
    parts = [
        jax.tree.map(np.asarray, run(keys[start : start + block]))
        for start in range(0, num, block)
    ]
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)
