"""Small shared pieces of the regime, sampling-bias, curation and monitor code."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["static_partial", "ascending_rank"]


@functools.cache
def static_partial(fn, *args):
    """``partial(fn, *args)``, one object per arguments.

    A partial compares by identity, and the jitted runner takes regimes, biases and
    curations as static arguments: equal settings must give the same object, else
    each call would compile anew.
    """
    return functools.partial(fn, *args)


def ascending_rank(x: jax.Array) -> jax.Array:
    """The 0-based rank of each entry in ascending order (ties: lower index first),
    int32."""
    order = jnp.argsort(x, stable=True)
    return jnp.argsort(order, stable=True).astype(jnp.int32)
