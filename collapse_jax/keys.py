"""The key scheme: a chain's randomness depends only on (seed, chain id, generation).

``root = fold_in(key(seed), STREAM_CHAINS)``;
``chain_key = fold_in(root, chain_id)``;
``generation_key = fold_in(chain_key, t)`` for the fit that produces generation
``t + 1``; the generation key is split with a fixed arity into named roles. ``fold_in``
is used for chains and generations because it does not depend on how many chains run
together nor on the threefry mode; a new consumer of randomness gets a new role slot,
so existing ones never shift. Any change to this scheme bumps ``KEY_SCHEME_VERSION``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import jax

from collapse_jax.checks import fail

__all__ = [
    "KEY_SCHEME_VERSION",
    "STREAM_CHAINS",
    "NUM_ROLES",
    "GenerationKeys",
    "canonicalize_key",
    "chain_keys",
    "generation_keys",
    "check_threefry_partitionable",
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
    if not jax.config.jax_threefry_partitionable:
        raise RuntimeError(
            f"{fn}(): jax_threefry_partitionable must be True for reproducible chains; "
            "got False. Remove the setting that turns it off (it is on by default "
            "since JAX 0.5)."
        )
