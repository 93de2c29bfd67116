"""Chains in cache-sized blocks on the CPU: how many per compiled call, and the loop.

On XLA:CPU one generation's step streams every chain's draws through a chain of
fused loops; once the draws of all chains of a call outgrow the caches, each loop
reads them back from memory and the rate per chain falls with the batch width
(benchmarks/regime_sweep.py: 8 x 4,096 chains in one call ran slower than 8 calls
of 4,096). The runner therefore cuts the chain axis of a CPU run into blocks whose
per-generation data fit in the L2 caches and runs one compiled scan per block. A
chain's bits depend only on (seed, chain id, configuration, dtype), never on its
batch (tests/test_keys.py), so blocking changes no result (tests/test_sweep.py).

Every block has one size (the last one overlaps its neighbour and only its new
chains are kept), so blocking compiles one program whatever the chain count.

``COLLAPSE_JAX_CPU_BLOCK`` overrides the choice: a number of chains per call, or
``0`` / ``off`` for all chains in one call (the benchmarks compare the two).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._memory_model import DRAW_COPIES, PARAM_COPIES
from collapse_jax.checks import fail

#: The environment variable that sets the chains per block (0 or off: no blocks).
ENV_BLOCK = "COLLAPSE_JAX_CPU_BLOCK"
#: Cache assumed where the machine does not say (sysfs): 1 MiB of L2.
DEFAULT_CACHE = 2**20
#: Fewest chains per block: narrower calls lose more to dispatch and to short
#: vector loops than they gain from the cache (a multiple of the chain padding).
MIN_BLOCK = 256
PAD = 8  # the chain padding of the runner (chain.CHAIN_PAD)


@functools.cache
def cache_bytes() -> int:
    """Bytes of one core's L2 cache (sysfs on Linux; :data:`DEFAULT_CACHE` where
    the machine does not say).

    One core's, not their sum: XLA:CPU runs most of a step's fused loops on one
    thread, and measured on the 2-core machine (benchmarks/regime_sweep.py's
    sweep of 8 x 4,096 chains), blocks of 512 chains (1 MiB of draws a
    generation) beat blocks of 1,024 and 2,048.
    """
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (index / "level").read_text().strip() == "2":
                sizes.append(_parse_size((index / "size").read_text()))
        except (OSError, ValueError):
            continue
    return max(sizes, default=DEFAULT_CACHE)


@functools.cache
def shared_cache_bytes() -> int:
    """Bytes of the largest cache (the L3 on most CPUs; :data:`DEFAULT_CACHE` x 8
    where sysfs does not say): a call whose per-generation data fit in it is not
    cut into blocks, the dispatch of each block costing more than it saves."""
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            sizes.append(_parse_size((index / "size").read_text()))
        except (OSError, ValueError):
            continue
    return max(sizes, default=8 * DEFAULT_CACHE)


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    for unit, factor in (("K", 2**10), ("M", 2**20), ("G", 2**30)):
        if text.endswith(unit):
            return int(text[:-1]) * factor
    return int(text)


def _env_block() -> int | None:
    """The block the environment asks for: chains, 0 for none, None if unset."""
    text = os.environ.get(ENV_BLOCK, "").strip().lower()
    if not text:
        return None
    if text in ("0", "off"):
        return 0
    if not text.isdigit():
        fail(
            "run_chains",
            ENV_BLOCK,
            "a number of chains, 0 or off",
            text,
            f"Set e.g. {ENV_BLOCK}=1024, or unset it for the automatic choice.",
        )
    return max(int(text) // PAD * PAD, PAD)


def _nbytes(tree) -> int:
    return sum(
        math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)
    )


def step_bytes(draw_spec, params_spec, state_spec) -> int:
    """One chain's data in one generation: its draws (the copies the memory model
    counts: bits, floats, sample, weights), params and regime state."""
    draws = 0 if draw_spec is None else _nbytes(draw_spec)
    return (
        DRAW_COPIES * draws + PARAM_COPIES * _nbytes(params_spec) + _nbytes(state_spec)
    )


def block_size(
    limit: int | None, per_chain: int | None, devices, padded: int | None = None
) -> int | None:
    """Chains per compiled call on this backend, or None (all at once).

    Args:
      limit: the regime's ``cpu_batch_limit`` (a cap on the CPU), or None.
      per_chain: :func:`step_bytes` of the run, or None (no cache blocking).
      devices: the run's devices; a run sharded over several is not blocked.
      padded: the chains of the run; when their per-generation data fit in the
        largest cache (:func:`shared_cache_bytes`) they run in one call.
    """
    if jax.default_backend() != "cpu":
        return None
    if devices is not None and len(devices) > 1:
        return None
    env = _env_block()
    if env is not None:
        cache = env or None
    elif per_chain and (padded is None or padded * per_chain > shared_cache_bytes()):
        cache = max(cache_bytes() // per_chain // PAD * PAD, MIN_BLOCK)
    else:
        cache = None
    sizes = [b for b in (limit, cache) if b]
    return min(sizes) if sizes else None


@functools.partial(jax.jit, static_argnums=(2,))
def _take(tree, start, size):
    """``size`` chains of every leaf from ``start``: one dispatch per block."""
    return jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, start, size), tree)


@functools.partial(jax.jit, static_argnums=(1,))
def _join(outs, skip):
    """The blocks' outputs along the chain axis, the last one's first ``skip``
    chains (run by the block before) left out: one dispatch."""
    last = jax.tree.map(lambda x: x[skip:], outs[-1])
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *outs[:-1], last)


def in_blocks(block, swept, state, ckeys, hyper, run):
    """``run(state, keys, hyper)`` over the chain axis, in blocks of one size.

    ``padded`` chains (a multiple of :data:`PAD`) make ``n = ceil(padded / block)``
    blocks of ``size = ceil(padded / n)`` rounded up to a multiple of :data:`PAD`
    (at most ``block``); the last block ends at the last chain and keeps only the
    chains the others did not run, so every call has one shape (one compile).
    """
    padded = ckeys.shape[0]
    if block is None or padded <= block:
        return run(state, ckeys, hyper)
    n = -(-padded // block)
    size = -(-padded // n)
    size = min(-(-size // PAD) * PAD, padded)
    swept_hyper = {k: v for k, v in hyper.items() if k in swept}
    outs = []
    done = skip = 0
    while done < padded:
        start = min(done, padded - size)
        skip = done - start  # the overlap the previous block ran
        st, ck, hy = _take((state, ckeys, swept_hyper), start, size)
        outs.append(run(st, ck, {**hyper, **hy}))
        done = start + size
    return _join(outs, skip)
