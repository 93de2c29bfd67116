"""Pooled sufficient statistics: compensated sums and Chan's merge of weighted moments.

A data-keeping regime (:func:`collapse_jax.accumulate`) that pools a statistic
instead of the points merges one generation's statistic into the pool's once per
generation: ``T`` merges over a run of ``T`` generations. Plain float32 sums of
``T`` positive terms drift by up to ``T * eps / 2`` relative (3e-4 at ``T = 10^4``);
every running sum here is compensated instead (Neumaier's variant of Kahan's sum:
the rounding error of each addition is kept in a second word), so the pooled
statistic stays within a few ulps of the exact sum of the per-generation ones
(tests/test_pooled.py measures it against float64).

Weighted moments pool by Chan, Golub and LeVeque's update: the statistic of a data
set is ``(W, mean, M2)`` with ``M2 = sum_i w_i (x_i - mean)(x_i - mean)^T``, each
generation's computed in two passes (mean, then centred products), and two sets
merge as ``mean = mean_a + (W_b / W) delta``, ``M2 = M2_a + M2_b + W_a W_b / W
delta delta^T`` with ``delta = mean_b - mean_a``: no sum of squares of raw values
is ever formed, so a mean far from 0 costs no digits of the covariance.

The all-zeros statistic is the empty data set's (``W = 0``); merging into it gives
the other statistic back.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum

__all__ = [
    "Compensated",
    "compensated",
    "add",
    "merge_sums",
    "value",
    "Moments",
    "moments",
    "merge_moments",
]


class Compensated(NamedTuple):
    """A running sum ``hi + lo``: ``lo`` holds the rounding errors of ``hi``'s adds."""

    hi: jax.Array
    lo: jax.Array


def compensated(x: jax.Array) -> Compensated:
    """``x`` as a compensated sum (no error yet)."""
    return Compensated(x, jnp.zeros_like(x))


def _two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def add(c: Compensated, x: jax.Array) -> Compensated:
    """``c + x``, the rounding error of the add kept in ``lo``."""
    s, e = _two_sum(c.hi, x)
    return Compensated(s, c.lo + e)


def merge_sums(a: Compensated, b: Compensated) -> Compensated:
    """The compensated sum of two compensated sums."""
    s, e = _two_sum(a.hi, b.hi)
    return Compensated(s, a.lo + b.lo + e)


def value(c: Compensated) -> jax.Array:
    """The sum as one number of the dtype."""
    return c.hi + c.lo


class Moments(NamedTuple):
    """Weighted moments of a point set: total weight, mean and centred scatter."""

    weight: Compensated  # () W = sum_i w_i
    mean: Compensated  # (d,) sum_i w_i x_i / W (0 for W = 0)
    m2: Compensated  # (d, d) sum_i w_i (x_i - mean)(x_i - mean)^T


def _wsum(weights, x):
    w = weights.reshape(weights.shape + (1,) * (x.ndim - 1))
    return tree_sum(w * x, 0)


def moments(x: jax.Array, weights: jax.Array) -> Moments:
    """The :class:`Moments` of points ``x`` ``(n, d)`` with weights ``(n,)``.

    Two passes (the mean, then the centred products), reduced by tree sums so a
    chain's bits do not depend on the batch (tests/test_keys.py).
    """
    w = weights.astype(x.dtype)
    total = tree_sum(w)
    safe = jnp.where(total > 0, total, jnp.ones_like(total))
    m = _wsum(w, x) / safe
    xc = x - m[None, :]
    if x.shape[1] == 1:  # 1-D: no outer products
        m2 = tree_sum(w * xc[:, 0] ** 2).reshape(1, 1)
    else:
        m2 = _wsum(w, xc[:, :, None] * xc[:, None, :])
    return Moments(compensated(total), compensated(m), compensated(m2))


def merge_moments(a: Moments, b: Moments) -> Moments:
    """The :class:`Moments` of the union of two weighted point sets (Chan et al.)."""
    wa, wb = value(a.weight), value(b.weight)
    weight = merge_sums(a.weight, b.weight)
    w = value(weight)
    share = jnp.where(w > 0, wb / jnp.where(w > 0, w, 1), jnp.zeros_like(w))
    delta = value(b.mean) - value(a.mean)
    mean = add(a.mean, share * delta)
    m2 = merge_sums(a.m2, b.m2)
    m2 = add(m2, (wa * share) * (delta[:, None] * delta[None, :]))
    return Moments(weight, mean, m2)
