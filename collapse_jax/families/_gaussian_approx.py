r"""What optimiser-based fits (``collapse_jax.fitting``) need from a Gaussian.

A *target* is a :class:`~collapse_jax.GaussianParams` holding the first two moments
of the distribution to be fitted (ddof 0): the weighted sample moments, the moments
of a model, or those of a moment-matched mixture. The loss is the cross-entropy

.. math:: E_t[-\log N(x;\mu,\Sigma)] = \tfrac12\log\det\Sigma
   + \tfrac12\operatorname{tr}(\Sigma^{-1}S_t)
   + \tfrac12(m_t-\mu)^\top\Sigma^{-1}(m_t-\mu) + \tfrac d2\log2\pi,

which for a sample target equals the mean negative log-likelihood of the sample
exactly (ddof 0), so its gradient is the average score. It is computed from the
log-Cholesky factors, ``Sigma = L L^T`` with ``L = U diag(exp(s))``:
``tr(Sigma^-1 S_t) = ||L^-1 L_t||_F^2`` where ``(L^-1 L_t)_ij = (U^-1 U_t)_ij
exp(s_tj - s_i)`` (only differences of log-scales appear, so the loss is finite at
collapsed scales), and ``log det Sigma = 2 sum s``. ``U^-1 U_t`` and ``U^-1 (m_t -
mu)`` are forward substitutions written as multiply-then-``tree_sum`` (no triangular
solve, no dot: a chain's bits must not depend on the batch, tests/test_keys.py). When
the params equal the target the substitution gives exactly ``I`` and ``0``, so the
gradient is exactly zero and every optimiser (Adam included, whose update
``g / (|g| + eps)`` would amplify rounding noise) leaves the model where it is
(proofs/sh-1c-approximation-pseudo-data.md, part 3).

The free parameters are ``mean``, ``chol_log_diag`` and the strictly lower part of
``chol_unit_lower``: the loss reads nothing else, so the other entries get exactly
zero gradient, and :func:`project` re-imposes the unit diagonal and zero upper part
for optimisers that move them anyway (e.g. weight decay).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum

# the functions, at trace time): no import cycle, and no re-entrant call of the
# cached ``gaussian`` factory while it builds ``gaussian(dim, "mle")`` itself.

__all__ = ["gaussian_cross_entropy", "project"]


def _unit(u: jax.Array) -> jax.Array:
    """``tril(u, -1) + I``: the unit lower-triangular matrix ``u`` stands for."""
    d = u.shape[0]
    return jnp.tril(u, -1) + jnp.eye(d, dtype=u.dtype)


def _forward_substitution(unit: jax.Array, rhs: jax.Array) -> jax.Array:
    """Solve ``unit @ x = rhs`` for unit lower-triangular ``unit`` (reads only its
    strictly lower part); ``rhs`` is ``(d,)`` or ``(d, k)``.

    Row ``i`` is ``rhs_i - sum_{k<i} unit_ik x_k`` by :func:`tree_sum`: exact when
    ``rhs = unit`` (each row has one non-zero product, ``unit_ik * 1``), which makes
    the gradient at the optimum exactly zero.
    """
    d = unit.shape[0]
    rows = [rhs[0]]
    for i in range(1, d):
        prev = jnp.stack(rows)  # (i,) or (i, k)
        coef = unit[i, :i].reshape((i,) + (1,) * (prev.ndim - 1))
        rows.append(rhs[i] - tree_sum(coef * prev, 0))
    return jnp.stack(rows)


def gaussian_cross_entropy(params, target) -> jax.Array:
    r"""``E_target[-log N(x; params)]`` for two Gaussians given by log-Cholesky params.

    Args:
      params: the model, :class:`~collapse_jax.GaussianParams` (``(d,)``, ``(d,)``,
        ``(d, d)`` float arrays of one dtype).
      target: the moments of the fitted distribution, same layout and dtype.

    Returns:
      ``()`` float: :math:`\tfrac12\log\det\Sigma + \tfrac12\operatorname{tr}
      (\Sigma^{-1}S_t) + \tfrac12(m_t-\mu)^\top\Sigma^{-1}(m_t-\mu) + \tfrac d2
      \log 2\pi`, differentiable in every leaf of ``params``.
    """
    s = params.chol_log_diag
    d = s.shape[0]
    dtype = s.dtype
    u = _unit(params.chol_unit_lower)
    a = _forward_substitution(u, _unit(target.chol_unit_lower))  # U^-1 U_t
    z = _forward_substitution(u, target.mean - params.mean)  # U^-1 (m_t - mu)
    # Entries that are exactly zero (the optimum, or terms flushed to zero at
    # collapsed scales) stay zero, even where their scale factor overflows: the
    # double `where` keeps 0 * inf = NaN out of the values and the gradients.
    live = jnp.tril(jnp.ones((d, d), bool)) & (a != 0)
    gap = jnp.where(live, target.chol_log_diag[None, :] - s[:, None], 0)
    b = jnp.where(live, a * jnp.exp(gap), 0)  # L^-1 L_t
    # y_i = z_i e^{-s_i} in two halves: O(1) for a sample target, while e^{-s} alone
    # overflows float32 at s < -88 (where z, at scale e^s, is flushed to zero).
    z_live = z != 0
    half = jnp.exp(jnp.where(z_live, -0.5 * s, 0))
    y = jnp.where(z_live, (z * half) * half, 0)  # L^-1 (m_t - mu)
    trace = tree_sum(tree_sum(b * b, 1))
    return (
        tree_sum(s)
        + 0.5 * trace
        + 0.5 * tree_sum(y * y)
        + jnp.asarray(0.5 * d * math.log(2 * math.pi), dtype)
    )


def project(params):
    """``params`` with the unit diagonal and zero upper part of ``chol_unit_lower``
    re-imposed (for optimisers that move the entries the loss does not read)."""
    return params._replace(chol_unit_lower=_unit(params.chol_unit_lower))
