"""The key scheme: a chain's randomness depends only on (seed, chain id, generation).

``root = fold_in(key(seed), STREAM_CHAINS)``;
``chain_key = fold_in(root, chain_id)``;
``generation_key = fold_in(chain_key, t)`` for the fit that produces generation
``t + 1``; the generation key is split with a fixed arity into named roles. ``fold_in``
is used for chains and generations because it does not depend on how many chains run
together nor on the threefry mode; a new consumer of randomness gets a new role slot,
so existing ones never shift. Any change to this scheme bumps ``KEY_SCHEME_VERSION``.

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

import zlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

import jax

from collapse_jax.checks import described, fail

__all__ = [
    "KEY_SCHEME_VERSION",
    "STREAM_CHAINS",
    "NUM_ROLES",
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

KEY_SCHEME_VERSION = 1
STREAM_CHAINS = 0  # chain trajectories; other streams (evaluation, ...) get other tags
NUM_ROLES = 4  # sample, fit, regime, spare: fixed arity, never data dependent


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


def generation_keys(chain_key: jax.Array, t: jax.Array) -> GenerationKeys:
    """The role keys of the fit that produces generation ``t + 1``."""
    keys = jax.random.split(jax.random.fold_in(chain_key, t), NUM_ROLES)
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
