r"""Population fits of the Gaussian-mixture family (:mod:`collapse_jax.families.gmm`).

Private: what ``fit_population_from`` and ``start_from`` of :func:`gmm` need.
Population EM against the exact distribution of another model (a Gaussian or a
mixture) runs the EM core (:mod:`collapse_jax.families._gmm_em`) on a weighted point
set: per source component, the nodes of a tensor-product Gauss-Hermite rule pushed
through ``mu_j + L_j xi`` with weights ``pi_j omega`` (:func:`_quadrature_target`).
``K`` source components give ``K q^d`` nodes, so the order ``q`` is capped
(:data:`MAX_QUADRATURE_NODES`; the default order from :func:`_auto_order`). EM is
started from :func:`_start_from` (a mixture source) or :func:`_start_from_gaussian`
(a Gaussian source); the rules are in :func:`~collapse_jax.families.gmm.gmm`'s
docstring.

The params type is :class:`~collapse_jax.families.gmm.GmmParams`, defined in the
leaf module ``_gmm_params`` so that no gmm module imports another one back.
"""

from __future__ import annotations

import functools
import math

import numpy as np

import jax.numpy as jnp

from collapse_jax._linalg import _normalised_log_weights, _scale_exp, _sum_small
from collapse_jax.checks import described, fail
from collapse_jax.families._gmm_params import GmmParams, _view
from collapse_jax.families.base import MixtureView, ModelFamily
from collapse_jax.families.gaussian import GaussianParams
from collapse_jax.metrics import gaussian_view

# Population fits by quadrature use K_source * q**d nodes; beyond this many they
# are refused with a message (memory and time grow as q**d).
MAX_QUADRATURE_NODES = 2**18
# The default order: q**d <= 4096 nodes per source component, q <= 64.
_AUTO_NODES, _AUTO_MAX_ORDER = 4096, 64


def _auto_order(dim: int) -> int:
    q = int(math.floor(_AUTO_NODES ** (1.0 / dim) + 1e-9))
    return max(2, min(_AUTO_MAX_ORDER, q))


@functools.cache
def _gauss_hermite(order: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Hermite rule for ``N(0, I_d)``: nodes ``(q^d, d)`` and
    weights ``(q^d,)`` summing to 1 (float64, host). Exact for polynomials of degree
    ``<= 2q - 1`` in each coordinate."""
    x, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    nodes = np.stack([g.reshape(-1) for g in grids], axis=-1)
    wgrids = np.meshgrid(*([w] * dim), indexing="ij")
    weights = np.prod(np.stack([g.reshape(-1) for g in wgrids], axis=-1), axis=-1)
    return nodes, weights


def _is_gaussian(params) -> bool:
    return isinstance(params, GaussianParams)


def _source_view(source_family: ModelFamily, source_params) -> MixtureView:

    if _is_gaussian(source_params):
        return gaussian_view(source_params)
    if isinstance(source_params, GmmParams):
        return _view(source_params)
    # The gmm family's check_source admits only Gaussians, mixtures and families
    # with a mixture view.
    assert source_family.view is not None, f"{source_family.name} has no view"
    return source_family.view(source_params)


def _principal(s, unit):
    """The principal standard-deviation vector ``sqrt(lambda_1) u_1`` of ``L L^T``,
    sign fixed (largest-magnitude entry positive) so it is deterministic."""
    top = jnp.max(s)
    top = jnp.where(jnp.isfinite(top), top, jnp.zeros_like(top))
    lt = unit * jnp.exp(s - top)[None, :]
    u, sv, _ = jnp.linalg.svd(lt)
    vec = u[:, 0] * sv[0]
    big = jnp.argmax(jnp.abs(vec))
    sign = jnp.where(vec[big] < 0, -1.0, 1.0).astype(vec.dtype)
    return _scale_exp(sign * vec, top)


def _quadrature_target(order: int, source: MixtureView):
    """The source mixture as a weighted point set: per component, the Gauss-Hermite
    nodes pushed through ``mu_j + L_j xi`` with weights ``pi_j omega_q``."""
    k_src, d = source.means.shape
    dtype = source.means.dtype
    num = k_src * order**d
    if num > MAX_QUADRATURE_NODES:
        fail(
            "gmm",
            "quadrature_order",
            f"small enough for at most {MAX_QUADRATURE_NODES} quadrature nodes "
            f"(K * q^d, K = {k_src} source components, d = {d})",
            described(f"q = {order}: {num} nodes"),
            "Pass gmm(..., quadrature_order=q) with a smaller q, or use a finite "
            "sample_size instead of the population limit.",
        )
    nodes, node_w = _gauss_hermite(order, d)
    xi = jnp.asarray(nodes, dtype)  # (Q, d)
    log_omega = jnp.asarray(np.log(node_w), dtype)  # (Q,)
    lw = _normalised_log_weights(source.log_weights)
    live = lw > -jnp.inf
    scaled = jnp.exp(source.chol_log_diag)[:, None, :] * xi[None, :, :]  # (K, Q, d)
    pts = source.means[:, None, :] + _sum_small(
        source.chol_unit_lower[:, None, :, :] * scaled[:, :, None, :], axis=-1
    )
    pts = jnp.where(live[:, None, None], pts, jnp.zeros_like(pts))
    w = jnp.where(
        live[:, None],
        jnp.exp(lw[:, None] + log_omega[None, :]),
        jnp.zeros((k_src, xi.shape[0]), dtype),
    )
    return pts.reshape(-1, d), w.reshape(-1)


def _start_from(k: int, source: MixtureView, dtype) -> GmmParams:
    """A k-component start from a mixture view (see ``gmm`` for the rule)."""

    lw = _normalised_log_weights(source.log_weights)
    mu, s, unit = source.means, source.chol_log_diag, source.chol_unit_lower
    k_src = lw.shape[0]
    if k <= k_src:
        order = jnp.argsort(-lw, stable=True)[:k]  # heaviest first, ties by index
        keep = jnp.sort(order)  # original order: identities persist
        lw, mu, s, unit = lw[keep], mu[keep], s[keep], unit[keep]
    else:
        log2 = math.log(2.0)
        for _ in range(k - k_src):
            j = jnp.argmax(lw)  # the heaviest (first on ties)
            half = 0.5 * _principal(s[j], unit[j])
            lw = jnp.concatenate([lw.at[j].add(-log2), lw[j][None] - log2])
            mu = jnp.concatenate([mu.at[j].add(half), (mu[j] - half)[None, :]])
            s = jnp.concatenate([s, s[j][None, :]])
            unit = jnp.concatenate([unit, unit[j][None, :, :]])
    return GmmParams(
        _normalised_log_weights(lw).astype(dtype),
        mu.astype(dtype),
        s.astype(dtype),
        unit.astype(dtype),
        jnp.zeros((), dtype),
    )


def _start_from_gaussian(k: int, params: GaussianParams) -> GmmParams:
    """k equal-weight copies of a Gaussian, means spread over ``+-sd/2`` along its
    principal axis (offsets ``0.5 sd linspace(-1, 1, k)``; the Gaussian itself for
    ``k = 1``)."""

    mean = jnp.asarray(params.mean)
    dtype = mean.dtype
    s = jnp.asarray(params.chol_log_diag)
    unit = jnp.asarray(params.chol_unit_lower)
    d = mean.shape[0]
    offsets = np.linspace(-0.5, 0.5, k) if k > 1 else np.zeros(1)
    pv = _principal(s, unit)
    means = mean[None, :] + jnp.asarray(offsets, dtype)[:, None] * pv[None, :]
    return GmmParams(
        jnp.full((k,), -math.log(k), dtype),
        means,
        jnp.broadcast_to(s[None, :], (k, d)),
        jnp.broadcast_to(unit[None, :, :], (k, d, d)),
        jnp.zeros((), dtype),
    )
