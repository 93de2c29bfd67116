r"""Private linear algebra in log-Cholesky form, shared by the families and metrics.

A leaf: it imports nothing of collapse_jax but the batch-invariant reductions of
:mod:`collapse_jax._reduce` (itself a leaf), so any module may import it without an
import circle. Every sum goes through :func:`~collapse_jax._reduce.tree_sum`'s
fixed pairwise tree (no ``jnp.sum``, ``@`` or ``einsum``): a chain's bits do not
depend on how many chains run beside it.

Triangular factors of sums ``B B^T`` come from a Householder LQ factorisation of
``B`` (:func:`_lq_lower`) rather than from a Cholesky factorisation of the formed
product: the small pivots keep relative accuracy ``eps`` instead of ``sqrt(eps)``,
which matters for the very anisotropic covariances of a collapsing chain
(docs/theory.md SH-7).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_logsumexp, tree_sum

LOG_2PI = math.log(2 * math.pi)


def _scale_exp(x: jax.Array, t: jax.Array) -> jax.Array:
    """``x * exp(t)`` as ``sign(x) exp(log|x| + t)``: 0 stays 0 when ``exp(t)``
    overflows (never ``0 * inf = NaN``), and a product past the float range is
    ``+-inf``."""
    return jnp.sign(x) * jnp.exp(jnp.log(jnp.abs(x)) + t)


def _sum_small(x: jax.Array, axis: int = -1) -> jax.Array:
    """:func:`tree_sum` over a short static axis (a dimension ``d`` or a component
    count ``k``) without moving it first: bitwise equal to ``tree_sum(x, axis)``
    (same adjacent-pair tree; an odd entry is carried, which equals adding tree_sum's
    zero padding), and several times faster on a trailing axis."""
    x = jax.lax.optimization_barrier(x)
    parts = [
        jax.lax.index_in_dim(x, i, axis % x.ndim, keepdims=False)
        for i in range(x.shape[axis])
    ]
    if not parts:
        return jnp.zeros(
            x.shape[: axis % x.ndim] + x.shape[axis % x.ndim + 1 :], x.dtype
        )
    while len(parts) > 1:
        pairs = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
        parts = pairs + parts[len(pairs) * 2 :]
    return parts[0]


def _logsumexp_small(a: jax.Array, axis: int = -1) -> jax.Array:
    """:func:`tree_logsumexp` (no ``b``) over a short static axis, by
    :func:`_sum_small`: bitwise equal to it."""
    live = a > -jnp.inf
    top = jnp.max(jnp.where(live, a, -jnp.inf), axis=axis, keepdims=True)
    shift = jnp.where(jnp.isfinite(top), top, 0)
    terms = jnp.where(live, jnp.exp(jnp.where(live, a - shift, 0)), 0)
    return jnp.log(_sum_small(terms, axis)) + jnp.squeeze(shift, axis)


def _solve_unit_lower(unit: jax.Array, rhs: jax.Array) -> jax.Array:
    """Solve ``unit @ x = rhs`` for unit lower-triangular ``unit`` (strictly lower
    part read), by forward substitution with tree-summed rows.

    Args:
      unit: ``(..., d, d)``.
      rhs: ``(..., d)``, with the same number of leading axes as ``unit`` (size-1
        axes broadcast).
    """
    d = rhs.shape[-1]
    lead = jnp.broadcast_shapes(unit.shape[:-2], rhs.shape[:-1])
    rhs = jnp.broadcast_to(rhs, lead + (d,))
    cols = []
    for a in range(d):
        acc = rhs[..., a]
        if a:
            prev = jnp.stack(cols, axis=-1)
            acc = acc - _sum_small(unit[..., a, :a] * prev, axis=-1)
        cols.append(acc)
    return jnp.stack(cols, axis=-1)


def _lq_lower(bt: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The lower-triangular factor ``L`` of ``B B^T = L L^T``, without forming it.

    Householder reflections reduce ``B^T`` to ``[R; 0]`` (the QR factorisation of
    ``B^T``, i.e. LQ of ``B``), so ``B B^T = R^T R`` and ``L = R^T`` up to the signs
    of its columns, chosen to make the diagonal positive. Each reflection is built
    from its column scaled by the column's largest entry, so nothing is squared at
    the raw scale; sums over the long axis are :func:`tree_sum` on axis 0
    (batch-invariant, and prefix-stable: zero rows appended at the end change no
    bit).

    Args:
      bt: ``(m, ..., d)`` float, the transpose of ``B`` (its columns as rows),
        ``m >= d``.

    Returns:
      ``(log_diag, unit)``: ``(..., d)`` logs of the (non-negative) diagonal of
      ``L`` and the ``(..., d, d)`` unit lower-triangular ``L diag(L)^-1``. A zero
      pivot (``B B^T`` singular) gives ``log_diag = -inf`` and a zero column below it.
    """
    d = bt.shape[-1]
    dtype = bt.dtype
    lead = bt.shape[1:-1]
    a = bt
    log_diag, columns = [], []
    for j in range(d):
        x = a[..., 0]  # column j, rows j.. (the previous ones are done)
        scale = jnp.max(jnp.abs(x), axis=0)
        safe = jnp.where(scale > 0, scale, jnp.ones_like(scale))
        xs = x / safe[None]
        norm = jnp.sqrt(tree_sum(xs * xs, axis=0))
        sgn = jnp.where(xs[0] >= 0, 1.0, -1.0).astype(dtype)
        v = jnp.concatenate([(xs[0] + sgn * norm)[None], xs[1:]], axis=0)
        vv = tree_sum(v * v, axis=0)
        proj = tree_sum(a * v[..., None], axis=0)  # (..., d - j)
        coef = jnp.where(
            vv[..., None] > 0, 2 * proj / jnp.where(vv > 0, vv, 1)[..., None], 0
        )
        a = a - v[..., None] * coef[None]
        # Row 0 is now (-sgn |x|, R_j,j+1..); flip the signs for a positive pivot.
        pivot = scale * norm
        below = -sgn[..., None] * a[0, ..., 1:]
        ratio = jnp.where(
            pivot[..., None] > 0, below / jnp.where(pivot > 0, pivot, 1)[..., None], 0
        )
        log_diag.append(jnp.log(pivot))
        columns.append(
            jnp.concatenate(
                [jnp.zeros(lead + (j,), dtype), jnp.ones(lead + (1,), dtype), ratio],
                axis=-1,
            )
        )
        a = a[1:, ..., 1:]
    return jnp.stack(log_diag, axis=-1), jnp.stack(columns, axis=-1)


def _normalised_log_weights(log_weights: jax.Array) -> jax.Array:
    """``log_softmax`` by :func:`tree_logsumexp` (``-inf`` entries stay ``-inf``)."""
    return log_weights - tree_logsumexp(log_weights, axis=0)


def _matmul(a, b):
    """``a @ b`` for ``(m, k)`` by ``(k, n)`` with tree-summed products."""
    return tree_sum(a[:, :, None] * b[None, :, :], 1)


def _bures_sq(chol0, chol1):
    """``tr S0 + tr S1 - 2 tr (S0^1/2 S1 S0^1/2)^1/2`` from Cholesky factors.

    Computed in the Procrustes form ``min_Q ||L0 - L1 Q||_F^2 = ||L0 - L1 U V^T||_F^2``
    with ``L1^T L0 = U diag(sv) V^T``: a sum of squares, so it cannot cancel to a
    negative number as ``tr S0 + tr S1 - 2 sum(sv)`` does in float32.
    """
    u, _, vt = jnp.linalg.svd(_matmul(chol1.T, chol0))
    diff = chol0 - _matmul(chol1, _matmul(u, vt))
    return tree_sum(tree_sum(diff * diff, 1))
