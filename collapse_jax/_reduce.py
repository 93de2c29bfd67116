"""Batch-invariant reductions.

XLA vectorises a reduction differently depending on the shapes around it, so
``jnp.sum`` over a chain's samples can round differently when 3 or 1024 chains run
together. A chain's bits must not depend on its neighbours (tests/test_keys.py), so
every floating-point sum inside a chain step goes through :func:`tree_sum`: a fixed
pairwise tree of elementwise adds, whose association depends on the position of each
term alone.
Elementwise IEEE adds are exact per element however XLA vectorises them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "tree_sum",
    "tree_sum_last",
    "tree_logsumexp",
    "sequential_cumsum",
]


def tree_sum(x: jax.Array, axis: int = 0) -> jax.Array:
    """Sum over ``axis`` by a fixed adjacent-pair tree (static association order).

    The axis is zero-padded to a power of two and summed pairwise, ``(x0 + x1) +
    (x2 + x3)`` and so on. The tree is prefix-stable: the first ``m`` entries are
    combined the same way whatever the padded length, and zero entries (masked-out
    points) add exact zeros, so a fit to ``m`` points gives the same bits whether the
    program drew ``m`` or ``n_max`` points.
    """
    # The barrier materialises the terms: otherwise LLVM may contract a product that
    # feeds the first level of adds into an FMA in one fusion and not in another.
    x = jax.lax.optimization_barrier(jnp.moveaxis(x, axis, 0))
    n = x.shape[0]
    if n == 0:
        return jnp.zeros(x.shape[1:], x.dtype)
    size = 1 << (n - 1).bit_length()
    if size != n:
        x = jnp.concatenate([x, jnp.zeros((size - n,) + x.shape[1:], x.dtype)])
    while x.shape[0] > 1:
        pairs = x.reshape((x.shape[0] // 2, 2) + x.shape[1:])
        x = pairs[:, 0] + pairs[:, 1]
    return x[0]


def tree_sum_last(x: jax.Array) -> jax.Array:
    """:func:`tree_sum` over the last axis, without moving it to the front.

    The same adjacent-pair tree on the same zero padding, so bitwise equal to
    ``tree_sum(x, axis=-1)``; it avoids the transpose when the summed axis is the
    minor one (points on the last axis).
    """
    x = jax.lax.optimization_barrier(x)
    n = x.shape[-1]
    if n == 0:
        return jnp.zeros(x.shape[:-1], x.dtype)
    size = 1 << (n - 1).bit_length()
    if size != n:
        x = jnp.concatenate(
            [x, jnp.zeros(x.shape[:-1] + (size - n,), x.dtype)], axis=-1
        )
    while x.shape[-1] > 1:
        pairs = x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2))
        x = pairs[..., 0] + pairs[..., 1]
    return x[..., 0]


def tree_logsumexp(a: jax.Array, axis: int, b: jax.Array | None = None) -> jax.Array:
    """``log(sum(b * exp(a)))`` over ``axis`` with :func:`tree_sum` (``b >= 0``).

    The shift is the maximum over the terms that contribute (``b > 0``) of each
    output, so a row whose terms are all far below another row's does not underflow.
    """
    if b is None:
        b = jnp.ones_like(a)
    shape = jnp.broadcast_shapes(a.shape, b.shape)
    a = jnp.broadcast_to(a, shape)
    b = jnp.broadcast_to(b, shape)
    live = (b > 0) & (a > -jnp.inf)
    top = jnp.max(jnp.where(live, a, -jnp.inf), axis=axis, keepdims=True)
    shift = jnp.where(jnp.isfinite(top), top, 0)
    terms = jnp.where(live, b * jnp.exp(jnp.where(live, a - shift, 0)), 0)
    return jnp.log(tree_sum(terms, axis)) + jnp.squeeze(shift, axis)


def sequential_cumsum(x: jax.Array, reverse: bool = False) -> jax.Array:
    """Cumulative sum along axis 0, strictly left to right (or right to left)."""

    def body(acc, v):
        acc = acc + v
        return acc, acc

    _, out = jax.lax.scan(body, jnp.zeros(x.shape[1:], x.dtype), x, reverse=reverse)
    return out
