"""The key scheme: a chain's randomness depends only on (seed, chain id, generation).

Version 2 (:data:`KEY_SCHEME_VERSION`):

``root = fold_in(key(seed), STREAM_CHAINS)``; ``chain_key = fold_in(root, chain_id)``
(threefry keys, as in version 1). The role keys of the fit that produces generation
``t + 1`` are *counter keys* (:data:`COUNTER_IMPL`): the chain key's two words and a
position ``p = NUM_ROLES * t + role + 1``, with no hashing at all. A counter key is
an ordinary typed JAX key (``jax.random.normal``, ``fold_in``, ``split``, ... accept
it), whose bits are counter-mode threefry2x32 under the chain key:

* word ``j`` of a draw is output ``j % 2`` of the block
  ``threefry2x32(chain_key, (p, j // 2))``: both output words of every block are
  used (JAX's own threefry keys spend one block per 32-bit word), so ``W`` words
  cost ``ceil(W / 2)`` blocks, and a 64-bit word costs one block;
* ``fold_in(k, d)`` (and ``split(k, n)[d]``) is the counter key
  ``(threefry2x32(chain_key, (p | 2**31, d)), 1)``: one block, only when used.

Every counter is distinct: JAX's own ``fold_in``/``split``/``bits`` on the chain key
use first counter word 0, a role's draws ``p`` in ``[1, 2**31)``, its derived keys
``p | 2**31``; a derived key is a new threefry key (with position 1). So a chain's
bits are a pure function of (seed, chain id, generation, role, word index): the same
whatever the batch, the chunking or a resume, and prefix-stable (word ``j`` does not
depend on how many words were drawn). Generations are limited to ``t < 2**29``
(:data:`MAX_GENERATIONS`). Any change to this scheme bumps ``KEY_SCHEME_VERSION``;
version 1 derived the role keys as ``split(fold_in(chain_key, t), 4)`` (five blocks
per generation) and drew one block per word.

Inside a generation, each consumer of the ``regime`` role key (a regime's real
draws, a subsample, curation, a monitor's held-out set, ...) folds in its own
sub-stream number: ``fold_in(keys.regime, stream_number(name))``. The numbers are
allocated here, by name, so two consumers never share one by accident (a shared
number would silently correlate, e.g., a monitor's held-out set with the fits). The
library's own streams keep fixed small numbers (:data:`BUILTIN_STREAMS`); a fork
calls :func:`register_stream` once, at import, and gets a number derived from the
name alone, so its bits do not depend on which other modules were imported first.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.random import define_prng_impl

from collapse_jax.checks import described, fail

__all__ = [
    "KEY_SCHEME_VERSION",
    "STREAM_CHAINS",
    "NUM_ROLES",
    "MAX_GENERATIONS",
    "COUNTER_IMPL",
    "check_generations",
    "counter_blocks",
    "is_counter_key",
    "threefry2x32",
    "GenerationKeys",
    "canonicalize_key",
    "chain_keys",
    "generation_keys",
    "check_threefry_partitionable",
    "BUILTIN_STREAMS",
    "register_stream",
    "stream_number",
    "streams",
]

KEY_SCHEME_VERSION = 2
STREAM_CHAINS = 0  # chain trajectories; other streams (evaluation, ...) get other tags
NUM_ROLES = 4  # sample, fit, regime, spare: fixed arity, never data dependent
#: Generations ``t`` must stay below this: the position ``NUM_ROLES * t + role + 1``
#: of a role key is a 31-bit counter word.
MAX_GENERATIONS = 2**29 - 1

_DERIVED = np.uint32(2**31)  # first counter word of a counter key's derived keys
_MAX_BLOCKS = 2**32  # the second counter word indexes blocks


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(k0, k1, x0, x1) -> tuple[jax.Array, jax.Array]:
    """The threefry2x32 block function (20 rounds), unrolled into plain ``uint32``
    ops: bit for bit ``jax.extend.random.threefry2x32_p``, but XLA fuses it with
    what consumes the words. (JAX lowers that primitive on CPU as a rolled loop of
    five round groups, each writing its state to memory: 3-6x slower here.)
    """
    k0, k1, x0, x1 = (jnp.asarray(v, np.uint32) for v in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = (x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))
            x1 = x0 ^ x1
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def counter_blocks(key: jax.Array, index) -> tuple[jax.Array, jax.Array]:
    """Blocks ``index`` (an int or an integer array) of a counter key's draw, from
    its unbatched key data ``(k0, k1, p)``: word ``2 i`` of the draw is
    ``out[0]`` and word ``2 i + 1`` is ``out[1]`` at ``index == i``.

    Take a generation's words block by block with constant indices: XLA then fuses
    each block's rounds into its consumer and vectorises over chains, where
    slicing one array of blocks (or interleaving it) can fall back to scalar code.
    """
    index = jnp.asarray(index, np.uint32)
    hi = jnp.broadcast_to(key[2], index.shape)
    return threefry2x32(key[0], key[1], hi, index)


def _counter_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]):
    """Words of a counter key ``(k0, k1, p)``: both outputs of threefry2x32 on the
    counters ``(p, 0), (p, 1), ...``; word ``j`` is output ``j % 2`` of block
    ``j // 2`` (a 64-bit word is one block, high word first)."""
    n = math.prod(shape)
    if -(-n // (1 if bit_width == 64 else 2)) > _MAX_BLOCKS:
        raise NotImplementedError(f"a draw of more than {2 * _MAX_BLOCKS} words")
    if bit_width == 64:
        y0, y1 = counter_blocks(key, lax.iota(np.uint32, n))
        out = lax.shift_left(y0.astype(np.uint64), np.uint64(32)) | y1.astype(np.uint64)
    else:
        y0, y1 = counter_blocks(key, lax.iota(np.uint32, -(-n // 2)))
        out = jnp.stack([y0, y1], axis=-1).reshape(-1)[:n]
        if bit_width != 32:  # 8 or 16 bits: the low bits of each word
            out = out.astype(np.dtype(f"uint{bit_width}"))
    return out.reshape(shape)


def _counter_split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Derived keys ``d = 0, 1, ...``: block ``(p | 2**31, d)`` as a new threefry
    key, at position 1."""
    n = math.prod(shape)
    lo = lax.iota(np.uint32, n)
    hi = jnp.broadcast_to(key[2] | _DERIVED, lo.shape)
    y0, y1 = threefry2x32(key[0], key[1], hi, lo)
    one = jnp.ones_like(y0)
    return jnp.stack([y0, y1, one], axis=-1).reshape(shape + (3,))


def _counter_fold_in(key: jax.Array, data) -> jax.Array:
    """``split(key, n)[data]``: one block."""
    d = jnp.asarray(data).astype(np.uint32)
    y0, y1 = threefry2x32(key[0], key[1], key[2] | _DERIVED, d)
    return jnp.stack([y0, y1, jnp.ones_like(y0)])


def _counter_seed(seed) -> jax.Array:
    """A counter key from an int seed (not used by the key scheme itself): the
    threefry key of ``seed`` at position 1."""
    data = jax.random.key_data(jax.random.key(seed))
    return jnp.concatenate([data, jnp.ones((1,), np.uint32)])


#: The PRNG implementation of role keys: ``(k0, k1, position)``, counter-mode
#: threefry2x32 drawing two words per block (module docstring).
COUNTER_IMPL = define_prng_impl(
    key_shape=(3,),
    seed=_counter_seed,
    split=_counter_split,
    random_bits=_counter_bits,
    fold_in=_counter_fold_in,
    name="collapse_jax_counter_threefry2x32",
    tag="cjc",
)


class GenerationKeys(NamedTuple):
    """The named keys of one generation of one chain."""

    sample: jax.Array  # draws the synthetic data (or the sufficient statistics)
    fit: jax.Array  # randomness inside the fit (EM initialisation, SGD minibatches)
    regime: jax.Array  # regime choices (subsampling, mixing draws)
    spare: jax.Array  # reserved for a future consumer


def canonicalize_key(fn: str, key: Any) -> jax.Array:
    """Turn an int seed or a typed JAX key into a typed key (shape ``()``)."""
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        if not 0 <= int(key) < 2**32:
            fail(
                fn,
                "key",
                "an int seed in [0, 2**32)",
                key,
                "Pass a seed between 0 and 4294967295.",
            )
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(
        key.dtype, jax.dtypes.prng_key
    ):
        if key.shape != ():
            fail(
                fn,
                "key",
                "a single typed key (shape ())",
                key,
                "Pass one key; chain keys are derived from it.",
            )
        return key
    if (
        isinstance(key, jax.Array | np.ndarray)
        and key.shape == ()
        and np.issubdtype(key.dtype, np.integer)
    ):
        return canonicalize_key(fn, int(key))  # a 0-d integer array is a seed
    if (
        isinstance(key, jax.Array | np.ndarray)
        and key.dtype == np.uint32
        and key.shape[-1:] == (2,)
    ):
        fail(
            fn,
            "key",
            "an int seed or a typed key from jax.random.key",
            key,
            "Legacy uint32 PRNGKey arrays are not accepted: use jax.random.key(seed), "
            "or jax.random.wrap_key_data(raw_key).",
            error=TypeError,
        )
    fail(
        fn,
        "key",
        "an int seed or a typed JAX key",
        key,
        "Pass e.g. key=0 or key=jax.random.key(0).",
        error=TypeError,
    )


def chain_keys(key: jax.Array, chain_ids: jax.Array) -> jax.Array:
    """Per-chain keys ``fold_in(fold_in(key, STREAM_CHAINS), chain_id)``."""
    root = jax.random.fold_in(key, STREAM_CHAINS)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(root, chain_ids)


def check_generations(fn: str, num_generations: int) -> int:
    """Refuse more generations than the key scheme has counters for."""
    if num_generations > MAX_GENERATIONS:
        fail(
            fn,
            "num_generations",
            f"at most {MAX_GENERATIONS} generations (key scheme {KEY_SCHEME_VERSION})",
            num_generations,
            "Split the run: its keys' generation counter would wrap around.",
        )
    return num_generations


def is_counter_key(key: jax.Array) -> bool:
    """Whether ``key`` is a counter key (a role key of a chain's generation)."""
    return jax.random.key_impl(key) == COUNTER_IMPL


def generation_keys(chain_key: jax.Array, t: jax.Array) -> GenerationKeys:
    """The role keys of the fit that produces generation ``t + 1``.

    Counter keys ``(chain_key words, NUM_ROLES * t + role + 1)``: no hashing here;
    each role costs only the blocks of what is drawn from it (module docstring).
    ``t`` must be below :data:`MAX_GENERATIONS`.
    """
    data = jax.random.key_data(chain_key)
    pos = jnp.asarray(t).astype(np.uint32) * np.uint32(NUM_ROLES) + np.uint32(1)
    keys = [
        jax.random.wrap_key_data(
            jnp.concatenate([data, (pos + np.uint32(r))[None]]), impl=COUNTER_IMPL
        )
        for r in range(NUM_ROLES)
    ]
    return GenerationKeys(*keys)


def check_threefry_partitionable(fn: str) -> None:
    """Refuse to run if split prefixes could depend on the number of keys."""
    # jax's config options are attributes made at runtime (Config declares none).
    config: Any = jax.config
    if not config.jax_threefry_partitionable:
        raise RuntimeError(
            f"{fn}(): jax_threefry_partitionable must be True for reproducible chains; "
            "got False. Remove the setting that turns it off (it is on by default "
            "since JAX 0.5)."
        )


# ------------------------------------------------------------ regime sub-streams ---

#: The library's sub-streams of the ``regime`` role key, with the numbers they have
#: always had (changing one changes the bits of every run that uses it).
BUILTIN_STREAMS: Mapping[str, int] = MappingProxyType(
    {
        "fresh": 1,  # fresh(): new real draws from the truth
        "subsample": 2,  # accumulate_subsample(): the subsample of the pool
        "retain": 3,  # retain_original(): which original points are kept
        "curation": 4,  # a Curation's randomness (e.g. a filter's random quota)
        "monitor_held_out": 5,  # a collapse monitor's held-out set (generation 0)
        "monitor": 6,  # the monitor's rank-test draws from the current model
        "monitor_inject": 7,  # adaptive(): the injected real draws
    }
)

# Explicit numbers live below _HASHED_BASE; numbers derived from a name above it,
# so an explicit choice never meets a derived one.
_HASHED_BASE = 2**16
_STREAMS: dict[str, int] = dict(BUILTIN_STREAMS)


def _check_stream_name(fn: str, name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        fail(
            fn,
            "name",
            "a stream name (a Python identifier, e.g. 'best_half')",
            name,
            "Name the stream after the regime or stage that draws from it.",
            error=TypeError if not isinstance(name, str) else ValueError,
        )
    return name


def register_stream(name: str, number: int | None = None) -> int:
    """Allocate a sub-stream of the generation's ``regime`` key; return its number.

    Call it once per consumer, at import (``_STREAM = register_stream("best_half")``),
    and draw with ``jax.random.fold_in(ctx.keys.regime, _STREAM)`` or
    :func:`collapse_jax.regimes.stream_key`. Without ``number`` the number is derived
    from the name alone (CRC-32, in ``[2**16, 2**32)``): stable across sessions and
    independent of import order. A name or number that is already taken is refused.

    Args:
      name: the stream's name, a Python identifier unique in the process.
      number: an explicit number in ``[1, 2**16)``, or None to derive one.

    Returns:
      The stream's number, to pass to ``fold_in``.

    Examples:
      >>> from collapse_jax.keys import register_stream, stream_number
      >>> stream_number("fresh")
      1
    """
    fn = "register_stream"
    name = _check_stream_name(fn, name)
    if name in _STREAMS:
        fail(
            fn,
            "name",
            "a name no other sub-stream has",
            name,
            f"'{name}' is stream {_STREAMS[name]} already: pick another name "
            "(two consumers sharing a stream draw correlated randomness).",
        )
    if number is None:
        span = 2**32 - _HASHED_BASE
        number = _HASHED_BASE + zlib.crc32(name.encode()) % span
        hint = "Pick another name, or pass an explicit number= below 65536."
    else:
        if (
            isinstance(number, bool)
            or not isinstance(number, int | np.integer)
            or not 1 <= int(number) < _HASHED_BASE
        ):
            fail(
                fn,
                "number",
                f"an int in [1, {_HASHED_BASE}) (or None to derive it from the name)",
                number,
                "Pass a small positive int, or leave number out.",
            )
        number = int(number)
        hint = "Pick a number no stream uses (see collapse_jax.keys.streams())."
    owner = next((k for k, v in _STREAMS.items() if v == number), None)
    if owner is not None:
        fail(
            fn,
            "number",
            "a number no other sub-stream has",
            described(f"{number}, the number of stream '{owner}'"),
            hint,
        )
    _STREAMS[name] = number
    return number


def stream_number(name: str) -> int:
    """The number of the registered sub-stream ``name``.

    Examples:
      >>> stream_number("monitor_held_out")
      5
    """
    fn = "stream_number"
    name = _check_stream_name(fn, name)
    if name not in _STREAMS:
        fail(
            fn,
            "name",
            f"a registered stream ({', '.join(sorted(_STREAMS))})",
            name,
            "Register it first with collapse_jax.keys.register_stream(name).",
            error=LookupError,
        )
    return _STREAMS[name]


def streams() -> Mapping[str, int]:
    """Every registered sub-stream, ``{name: number}`` (a read-only view)."""
    return MappingProxyType(_STREAMS)
