r"""Distances between continuous models, computed from their mixture views.

Every continuous family can show itself as a Gaussian mixture
(:class:`~collapse_jax.families.base.MixtureView`; a Gaussian is one component), so
runs of different families share one yardstick. All functions act on **one** pair of
models (no batch axis: the runner adds chains with ``vmap``), are jittable, and sum
only through :func:`~collapse_jax._reduce.tree_sum` (no ``jnp.sum``, ``@`` or
``einsum``): a chain's bits do not depend on how many chains run beside it.

Covariances stay factored, ``Sigma_j = L_j L_j^T`` with ``L_j = U_j diag(exp(s_j))``,
and are never formed at their own scale: every quantity is computed after dividing by
a common scale ``exp(c)`` and carried back in log space, so a model whose scales have
collapsed to ``1e-20`` is still handled in float32. Triangular factors of sums
``B B^T`` come from a Householder LQ factorisation of ``B``
(:func:`collapse_jax._linalg._lq_lower`)
rather than from a Cholesky factorisation of the formed product: the small pivots
keep relative accuracy ``eps`` instead of ``sqrt(eps)``, which matters for the very
anisotropic covariances of a collapsing chain (docs/theory.md SH-7).

Dead components (log weight ``-inf``) contribute exactly zero everywhere, whatever
their other parameters hold.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from collapse_jax._gaussians import GaussianParams, MixtureView
from collapse_jax._linalg import (
    LOG_2PI,
    _bures_sq,
    _logsumexp_small,  # noqa: F401 - re-exported: the kernel's old import path
    _lq_lower,
    _normalised_log_weights,
    _scale_exp,
    _solve_unit_lower,
    _sum_small,
)
from collapse_jax._reduce import tree_logsumexp, tree_sum

__all__ = [
    "gaussian_view",
    "moment_match",
    "mixture_l2_sq",
    "mixture_l2",
    "mixture_log_l2_sq",
    "w2_moment_matched_sq",
    "total_variation",
]


def _log_overlap(m1, s1, u1, m2, s2, u2):
    r"""``log N(m1; m2, S1 + S2)`` for two Gaussians in log-Cholesky form.

    ``= -d/2 log 2 pi - 1/2 log det(S1 + S2) - 1/2 delta^T (S1 + S2)^-1 delta``
    with ``delta = m1 - m2``. ``S1 + S2 = exp(2c) B B^T`` with ``B = [L1, L2]
    exp(-c)`` and ``c`` the largest log-scale, so ``B`` is O(1); the triangular
    factor of ``B B^T`` comes from :func:`_lq_lower`. A Mahalanobis term past the
    float range gives ``-inf`` (an overlap that underflows), never NaN.
    """
    d = m1.shape[0]
    c = jnp.maximum(jnp.max(s1), jnp.max(s2))
    c = jnp.where(jnp.isfinite(c), c, jnp.zeros_like(c))
    l1 = u1 * jnp.exp(s1 - c)[None, :]
    l2 = u2 * jnp.exp(s2 - c)[None, :]
    g, v = _lq_lower(jnp.concatenate([l1.T, l2.T], axis=0))
    z = _solve_unit_lower(v, m1 - m2)
    t = _scale_exp(z, -(g + c))
    quad = _sum_small(t * t)
    return -0.5 * d * LOG_2PI - _sum_small(g + c) - 0.5 * quad


_pairwise = jax.vmap(
    jax.vmap(_log_overlap, in_axes=(None, None, None, 0, 0, 0)),
    in_axes=(0, 0, 0, None, None, None),
)


def _l2_log_terms(a: MixtureView, b: MixtureView):
    """``log`` of the three terms of the L2 distance, and a NaN flag.

    Both mixtures are stacked into one and every pairwise overlap comes from one
    vectorised computation, so the terms of identical mixtures are bitwise equal
    and the distance of a model to itself is exactly 0.
    """
    ka, kb = a.log_weights.shape[0], b.log_weights.shape[0]
    lw = jnp.concatenate(
        [_normalised_log_weights(a.log_weights), _normalised_log_weights(b.log_weights)]
    )
    mu = jnp.concatenate([a.means, b.means])
    s = jnp.concatenate([a.chol_log_diag, b.chol_log_diag])
    u = jnp.concatenate([a.chol_unit_lower, b.chol_unit_lower])
    table = _pairwise(mu, s, u, mu, s, u)  # (ka + kb, ka + kb)
    terms = lw[:, None] + lw[None, :] + table
    live = (lw[:, None] > -jnp.inf) & (lw[None, :] > -jnp.inf)
    nan = jnp.any(live & jnp.isnan(table))
    size = max(ka, kb) ** 2

    def flat(block):
        block = block.reshape(-1)
        pad = jnp.full((size - block.shape[0],), -jnp.inf, block.dtype)
        return jnp.concatenate([block, pad])

    stacked = jnp.stack(
        [flat(terms[:ka, :ka]), flat(terms[ka:, ka:]), flat(terms[:ka, ka:])]
    )
    log_aa, log_bb, log_ab = tree_logsumexp(stacked, axis=1)
    return log_aa, log_bb, log_ab, nan


def _l2_sq_parts(a: MixtureView, b: MixtureView):
    log_aa, log_bb, log_ab, nan = _l2_log_terms(a, b)
    top = jnp.maximum(jnp.maximum(log_aa, log_bb), log_ab)
    inner = jnp.exp(log_aa - top) + jnp.exp(log_bb - top) - 2 * jnp.exp(log_ab - top)
    inner = jnp.maximum(inner, jnp.zeros_like(inner))
    inner = jnp.where(nan, jnp.full_like(inner, jnp.nan), inner)
    return top, inner


# ----------------------------------------------------------------------- public ---


def gaussian_view(params: GaussianParams) -> MixtureView:
    """A Gaussian as a one-component mixture (log weight 0).

    Args:
      params: :class:`~collapse_jax.GaussianParams` (mean ``(d,)``).

    Returns:
      A :class:`MixtureView` with ``k = 1``.

    Examples:
      >>> import collapse_jax as cj
      >>> g = cj.gaussian_params([0.0, 1.0], [[1.0, 0.0], [0.0, 1.0]])
      >>> gaussian_view(g).means.shape
      (1, 2)
    """
    mean = jnp.asarray(params.mean)
    return MixtureView(
        jnp.zeros((1,), mean.dtype),
        mean[None, :],
        jnp.asarray(params.chol_log_diag)[None, :],
        jnp.asarray(params.chol_unit_lower)[None, :, :],
    )


def moment_match(view: MixtureView) -> GaussianParams:
    r"""The Gaussian with the mixture's mean and covariance (its moment match).

    .. math:: \mu = \sum_j w_j \mu_j, \qquad
       \Sigma = \sum_j w_j \left(\Sigma_j + (\mu_j - \mu)(\mu_j - \mu)^\top\right),

    with ``w = softmax(log_weights)``. This is also the population maximum-likelihood
    Gaussian for the mixture (the minimiser of ``KL(p || N)``).

    The covariance is never formed: ``Sigma = exp(2c) B B^T`` with ``B`` the
    ``(d, k (d + 1))`` matrix of blocks ``sqrt(w_j) [L_j, mu_j - mu] exp(-c)``, ``c``
    the largest log-scale among the live ``s_j`` and ``log |mu_j - mu|``; its
    Cholesky factor is the LQ factor of ``B`` (relative accuracy ``eps`` on each
    pivot). Dead components (log weight ``-inf``) contribute exactly 0.

    Args:
      view: a :class:`MixtureView` with ``k`` components in ``d`` dimensions.

    Returns:
      :class:`~collapse_jax.GaussianParams` (mean ``(d,)``, ``chol_log_diag
      (d,)``, ``chol_unit_lower (d, d)``).

    Examples:
      >>> import jax.numpy as jnp
      >>> v = MixtureView(jnp.log(jnp.array([0.5, 0.5])), jnp.array([[-1.0], [1.0]]),
      ...                 jnp.zeros((2, 1)), jnp.ones((2, 1, 1)))
      >>> g = jax.jit(moment_match)(v)
      >>> round(float(g.mean[0]), 6), round(float(jnp.exp(2 * g.chol_log_diag[0])), 5)
      (0.0, 2.0)
    """
    lw, mu, s, u = view
    k, d = mu.shape
    dtype = mu.dtype
    lw = _normalised_log_weights(lw)
    live = lw > -jnp.inf
    w = jnp.where(live, jnp.exp(lw), jnp.zeros_like(lw))
    mu0 = jnp.where(live[:, None], mu, jnp.zeros_like(mu))
    mean = tree_sum(w[:, None] * mu0, axis=0)
    delta = jnp.where(live[:, None], mu0 - mean[None, :], jnp.zeros_like(mu))
    top_s = jnp.max(jnp.where(live[:, None], s, jnp.full_like(s, -jnp.inf)))
    top_d = jnp.max(jnp.log(jnp.abs(delta)))
    c = jnp.maximum(top_s, top_d)
    c = jnp.where(jnp.isfinite(c), c, jnp.zeros_like(c))
    root_w = jnp.where(live, jnp.exp(0.5 * lw), jnp.zeros_like(lw))
    scaled_l = (
        u * jnp.exp(jnp.where(live[:, None], s, jnp.zeros_like(s)) - c)[:, None, :]
    )
    blocks = jnp.concatenate(
        [scaled_l, _scale_exp(delta, -c)[:, :, None]], axis=2
    )  # (k, d, d + 1)
    blocks = jnp.where(
        live[:, None, None], root_w[:, None, None] * blocks, jnp.zeros_like(blocks)
    )
    bt = jnp.swapaxes(blocks, 1, 2).reshape(k * (d + 1), d)  # B^T
    log_diag, unit = _lq_lower(bt)
    return GaussianParams(mean, log_diag + c, unit.astype(dtype))


def mixture_l2_sq(a: MixtureView, b: MixtureView) -> jax.Array:
    r"""Squared L2 distance ``\int (p - q)^2 dx`` between two Gaussian mixtures.

    Closed form (the product of two Gaussian densities integrates to a Gaussian
    density of the difference of their means):

    .. math:: \|p - q\|_2^2 = \sum_{ij} a_i a_j N(\mu_i; \mu_j, \Sigma_i + \Sigma_j)
       + \sum_{ij} b_i b_j N(\nu_i; \nu_j, \Lambda_i + \Lambda_j)
       - 2 \sum_{ij} a_i b_j N(\mu_i; \nu_j, \Sigma_i + \Lambda_j).

    Each overlap is computed in log space (log-determinant from the triangular
    factor of the scaled sum), the three sums by :func:`tree_logsumexp`, and they
    are combined as ``exp(T) (e^{A-T} + e^{B-T} - 2 e^{C-T})`` with ``T`` the
    largest. The result is clamped at 0: when ``p ~ q`` the three terms cancel and
    rounding (about ``eps * exp(T)``) can leave a slightly negative number. Identical
    mixtures give exactly 0. Weights are renormalised (log-softmax) first; dead
    components contribute 0.

    Range: the self-overlap of a component is ``(4 pi)^{-d/2} |Sigma|^{-1/2}``, which
    grows as a model collapses. The result is finite while it stays below the
    dtype's maximum (float32: 3.4e38; e.g. in 2-D every component's covariance
    above about 1e-38 in determinant, sd ~ 1e-19 per axis; in 3-D sd ~ 1e-13): past
    that it is ``inf``. :func:`mixture_log_l2_sq` never overflows.

    Args:
      a, b: :class:`MixtureView` of the same dimension ``d`` (any numbers of
        components).

    Returns:
      ``()`` float, the squared distance (``>= 0``).
    """
    top, inner = _l2_sq_parts(a, b)
    return jnp.exp(top) * inner


def mixture_log_l2_sq(a: MixtureView, b: MixtureView) -> jax.Array:
    """``log`` of :func:`mixture_l2_sq`, computed without leaving log space.

    ``-inf`` for identical mixtures; finite for collapsed models whose squared
    distance overflows the dtype (the log is carried as ``T + log(...)``).
    """
    top, inner = _l2_sq_parts(a, b)
    return top + jnp.log(inner)


def mixture_l2(a: MixtureView, b: MixtureView) -> jax.Array:
    """The L2 distance ``sqrt(mixture_l2_sq(a, b))`` (see :func:`mixture_l2_sq`).

    Examples:
      >>> import collapse_jax as cj
      >>> v = gaussian_view(cj.gaussian_params(0.0, 1.0))
      >>> float(jax.jit(mixture_l2)(v, v))
      0.0
    """
    return jnp.sqrt(mixture_l2_sq(a, b))


def w2_moment_matched_sq(a: MixtureView, b: MixtureView) -> jax.Array:
    r"""Squared Wasserstein-2 distance between the moment matches of two mixtures.

    With ``N(m_a, S_a) = moment_match(a)`` and ``N(m_b, S_b) = moment_match(b)``:

    .. math:: W_2^2 = \|m_a - m_b\|^2 + \operatorname{tr} S_a + \operatorname{tr} S_b
       - 2 \operatorname{tr}(S_a^{1/2} S_b S_a^{1/2})^{1/2},

    the Bures term computed in Procrustes form from the Cholesky factors (a sum of
    squares, never negative), after dividing both by their common largest scale
    ``exp(c)`` and multiplying back by ``exp(2c)``. For two Gaussians this is their
    exact W2 distance; for mixtures it is a lower bound of the W2 distance
    (Gelbrich's bound).

    Args:
      a, b: :class:`MixtureView` of the same dimension.

    Returns:
      ``()`` float.
    """
    ga, gb = moment_match(a), moment_match(b)
    delta = ga.mean - gb.mean
    c = jnp.maximum(jnp.max(ga.chol_log_diag), jnp.max(gb.chol_log_diag))
    c = jnp.where(jnp.isfinite(c), c, jnp.zeros_like(c))
    la = ga.chol_unit_lower * jnp.exp(ga.chol_log_diag - c)[None, :]
    lb = gb.chol_unit_lower * jnp.exp(gb.chol_log_diag - c)[None, :]
    return tree_sum(delta * delta) + jnp.exp(2 * c) * _bures_sq(la, lb)


def total_variation(p: jax.Array, q: jax.Array) -> jax.Array:
    r"""Total-variation distance ``1/2 sum_k |p_k - q_k|`` of two probability vectors.

    Args:
      p, q: ``(K,)`` probabilities.

    Returns:
      ``()`` float in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(total_variation(jnp.array([0.5, 0.5]), jnp.array([1.0, 0.0])))
      0.5
    """
    return 0.5 * tree_sum(jnp.abs(p - q))
