r"""The EM core of the Gaussian-mixture family (:mod:`collapse_jax.families.gmm`).

Private: the family's ``fit``, ``refit`` and ``fit_population_from`` and the public
:func:`~collapse_jax.families.gmm.em` all run :func:`_em_frames`. The semantics of the
variance floor, dead components and degenerate fits are in the docstring of
:mod:`collapse_jax.families.gmm`; this one says how EM is computed.

**EM in the previous model's frames.** Every fit is warm-started from the previous
model ``prev`` (component identities persist across generations) and runs in the
*whitened frame* of each previous component: point ``i`` is seen by component ``j``
as ``y_ij = L_j^{-1} (x_i - mu_j)``, and component ``j``'s iterate is a mean ``m_j``
and a factor ``A_j`` in that frame, so that ``mu_j' = mu_j + L_j m_j`` and
``L_j' = L_j A_j``. EM is affine-equivariant per component (responsibilities depend
only on the densities, and ``N(x; mu + L m, L A A^T L^T) = N(y; m, A A^T) / |det L|``),
so this is exactly EM on ``x``. It is what makes long chains stable:

* ``refit`` draws ``(c_i, z_i)`` (component, standard normal) and never forms
  ``x_i``: its own component sees ``y = z`` *exactly*, and another component sees
  ``L_k^{-1}(mu_c - mu_k) + (L_k^{-1} L_c) z``, whose factors involve only
  differences of log-scales. No ``x - mean(x)`` at a collapsed scale, as in the
  Gaussian family's standardised-draw refit (families/gaussian.py).
* ``A_j`` is O(1) (the change of scale in one generation), so its triangular factor is
  accurate whatever the absolute scale; it comes from a Householder LQ factorisation
  of the weighted residuals (:func:`_lq_lower_t`, the points-last twin of
  :func:`collapse_jax._linalg._lq_lower`), never from a formed covariance.
* Per-point arrays have the points on the last axis (``y`` is ``(k, d, n)``, the
  responsibilities ``(k, n)``), the axis XLA CPU vectorises along; sums over points
  are :func:`~collapse_jax._reduce.tree_sum_last` (the same tree as ``tree_sum``).
* Responsibilities are carried in log space (:func:`tree_logsumexp`); a component's
  responsibility mass ``N_j`` is ``log N_j`` and its weights ``w_i r_ij / N_j`` are
  the log-sum-exp's terms ``w_i exp(log r_ij - max_i log r_ij)`` over their sum, so a
  component with a tiny mass still gets an accurate mean and covariance.

**Variance floor.** The M-step covariance ``S_j + variance_floor * I`` is, in
component ``j``'s frame, ``variance_floor * L_j^{-1} L_j^{-T}``: the block
``sqrt(variance_floor) L_j^{-1}`` (:func:`_floor_block`) is appended to the
residuals before the LQ factorisation.

**Failures.** A component whose factor becomes singular or non-finite is marked in
the iterate and left out of the remaining E-steps; a weighted point with zero density
under every usable component marks the iterate broken. :func:`_mark_failures` turns
both into the visible states of the family's ``status``.

The params type is :class:`~collapse_jax.families.gmm.GmmParams`, defined in the
leaf module ``_gmm_params`` so that no gmm module imports another one back.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, overload

import jax
import jax.numpy as jnp

from collapse_jax._linalg import (
    _logsumexp_small,
    _normalised_log_weights,
    _scale_exp,
    _solve_unit_lower,
    _sum_small,
)
from collapse_jax._reduce import tree_sum, tree_sum_last
from collapse_jax.families._gmm_kmeans import kmeans_log_resp
from collapse_jax.families._gmm_params import GmmParams

_LOG_2PI = math.log(2 * math.pi)


def _solve_unit_lower_t(unit: jax.Array, rhs: jax.Array) -> jax.Array:
    """:func:`~collapse_jax._linalg._solve_unit_lower` with the points on the last
    axis: ``unit`` ``(..., d, d)``, ``rhs`` ``(..., d, n)``; the same forward
    substitution and tree-summed rows, vectorised along the points."""
    d = rhs.shape[-2]
    cols = []
    for a in range(d):
        acc = rhs[..., a, :]
        if a:
            prev = jnp.stack(cols, axis=-2)  # (..., a, n)
            acc = acc - _sum_small(unit[..., a, :a, None] * prev, axis=-2)
        cols.append(acc)
    return jnp.stack(cols, axis=-2)


def _whiten_data(prev: GmmParams, x: jax.Array):
    """``y[j, :, i] = L_j^{-1} (x_i - mu_j)`` ``(k, d, n)`` (points on the last axis,
    along which XLA vectorises) and a ``(k, n)`` flag of entries past the float
    range (set to 0 there; the density is taken as 0)."""
    r = x.T[None, :, :] - prev.means[:, :, None]
    u = _solve_unit_lower_t(prev.chol_unit_lower, r)
    y = _scale_exp(u, -prev.chol_log_diag[:, :, None])
    return _sanitise(y)


def _whiten_draws(prev: GmmParams, c: jax.Array, z: jax.Array):
    """:func:`_whiten_data` of ``x_i = mu_c + L_c z_i`` without forming ``x``.

    ``L_k^{-1} (x_i - mu_k) = h[k, c] + G[k, c] z_i`` with ``G[k, j] = L_k^{-1} L_j``
    (entries ``(U_k^{-1} U_j)_ab exp(s_jb - s_ka)``) and ``h[k, j] = L_k^{-1}(mu_j -
    mu_k)``; a point's own component sees ``y = z`` exactly.
    """
    k, d = prev.means.shape
    unit, s, mu = prev.chol_unit_lower, prev.chol_log_diag, prev.means
    # P[k, j, b, :] = U_k^{-1} U_j[:, b] (column b), so G[k, j, a, b] = P[k, j, b, a].
    cols = jnp.swapaxes(unit, -1, -2)[None, :, :, :]  # (1, j, b, d)
    p = _solve_unit_lower(unit[:, None, None, :, :], cols)  # (k, j, b, d)
    p = jnp.swapaxes(p, -1, -2)  # (k, j, a, b)
    g = _scale_exp(p, s[None, :, None, :] - s[:, None, :, None])
    q = _solve_unit_lower(unit[:, None, :, :], mu[None, :, :] - mu[:, None, :])
    h = _scale_exp(q, -s[:, None, :])  # (k, j, d)
    # G[:, c_i] and h[:, c_i] by a k-way select, not a gather: XLA fuses the
    # log/exp building the small tables into a gather and recomputes them per
    # gathered element. Points on the last axis: y is (k, d, n).
    zt = z.T  # (d, n)
    own = c[None, :] == jnp.arange(k, dtype=jnp.int32)[:, None]  # (k, n)
    gc = jnp.zeros((k, d, d, c.shape[0]), g.dtype)
    hc = jnp.zeros((k, d, c.shape[0]), h.dtype)
    for j in range(k):
        gc = jnp.where(own[j], g[:, j, :, :, None], gc)
        hc = jnp.where(own[j], h[:, j, :, None], hc)
    y = hc + _sum_small(gc * zt[None, None, :, :], axis=2)
    y = jnp.where(own[:, None, :], zt[None, :, :], y)
    return _sanitise(y)


def _sanitise(y):
    """``y`` ``(k, d, n)`` with non-finite points zeroed, and their ``(k, n)`` flag."""
    bad = ~jnp.all(jnp.isfinite(y), axis=1)
    return jnp.where(bad[:, None, :], jnp.zeros_like(y), y), bad


class _Iterate(NamedTuple):
    """EM iterate in the previous components' frames."""

    log_pi: jax.Array  # (k,) normalised log weights
    m: jax.Array  # (k, d) mean offsets: mu' = mu + L m
    a: jax.Array  # (k, d) log-diagonal of A: L' = L A
    v: jax.Array  # (k, d, d) unit lower-triangular part of A
    singular: jax.Array  # (k,) bool, sticky: the component's covariance became
    # singular (or non-finite) at an M-step; it is left out of later E-steps
    broken: jax.Array  # () bool, sticky: a weighted point had zero (or NaN)
    # density under every usable component


def _mul_exp(u, t):
    """``u * exp(t)`` for per-point ``u`` ``(k, d, n)`` and a table ``t`` ``(k, d)``:
    the exponentials on the table only (:func:`_scale_exp` takes a log and an exp of
    every point). ``exp(t)`` is applied as two factors ``exp(t / 2)`` and
    ``exp(t - t / 2)``, each finite for any ``|t|`` below twice the log of the
    largest float (an iterate's log-scale ``a`` is within that: it is the log of a
    pivot of finite residuals); the product overflows to ``+-inf`` or underflows
    to 0 as ``_scale_exp`` does, and 0 stays 0."""
    half = 0.5 * t
    e1 = jnp.exp(half)[:, :, None]
    e2 = jnp.exp(t - half)[:, :, None]
    y = (u * e1) * e2
    return jnp.where(u == 0, jnp.zeros_like(y), y)


def _estep(y, bad, w, frame_s, it: _Iterate, mean: bool = True):
    """Log responsibilities ``(k, n)``, the weighted mean log-likelihood ``()``, and
    whether some weighted point has zero or NaN density under the mixture.

    ``mean=False``: the weighted *sum* of the log-likelihoods instead of the mean.
    The tolerance loop (:func:`_em_to_tol`) compares sums with ``tol`` times the
    total weight and never divides inside the loop: there XLA rounded the division
    differently for a batch of one chain (measured), and the stopping iteration
    must not depend on the batch."""
    d = y.shape[1]
    r = y - it.m[:, :, None]
    u = _solve_unit_lower_t(it.v, r)
    t = _mul_exp(u, -it.a)
    quad = _sum_small(t * t, axis=1)  # (k, n)
    log_det = _sum_small(it.a + frame_s, axis=-1)  # (k,): log |det L A|
    log_n = -0.5 * quad - log_det[:, None] - 0.5 * d * _LOG_2PI
    skip = bad | it.singular[:, None]
    joint = jnp.where(skip, jnp.full_like(log_n, -jnp.inf), it.log_pi[:, None] + log_n)
    lse = _logsumexp_small(joint, axis=0)  # (n,): log p(x_i)
    has = w > 0
    log_r = jnp.where(
        has[None, :], joint - lse[None, :], jnp.full_like(joint, -jnp.inf)
    )
    num = tree_sum(jnp.where(has, w * lse, jnp.zeros_like(lse)))
    ll = num / tree_sum(w) if mean else num
    lost = jnp.any(has & ~(lse > -jnp.inf))  # also true for a NaN
    return log_r, ll, lost


# The result's shape follows the static `cholesky` flag (the iterate alone, or the
# iterate and the weak-pivot flag): these overloads type each caller's result.
@overload
def _mstep(
    y, w, log_r, floor_block, it: _Iterate, lost, cholesky: Literal[False] = ...
) -> _Iterate: ...
@overload
def _mstep(
    y, w, log_r, floor_block, it: _Iterate, lost, cholesky: Literal[True]
) -> tuple[_Iterate, jax.Array]: ...
def _mstep(
    y, w, log_r, floor_block, it: _Iterate, lost, cholesky: bool = False
) -> _Iterate | tuple[_Iterate, jax.Array]:
    """The next iterate from log responsibilities (frames of the previous model).

    ``cholesky``: the factor of the scatter by :func:`_cholesky_scatter` (one pass
    of ``d (d + 1) / 2`` sums) instead of the Householder LQ; the iterate's
    ``broken`` flag is not touched, and the second value returned says whether a
    pivot lost more than :data:`CHOLESKY_MIN_PIVOT` of its diagonal (the caller
    then redoes the fit with the LQ). Without ``cholesky`` only the iterate is
    returned.

    A component with zero responsibility mass, or a weight below the dtype's
    smallest normal number, is dead (log weight ``-inf``, frame values kept:
    ``m = 0``, ``A = I``). A component whose new factor is singular
    or non-finite is marked ``singular`` and keeps its last iterate.
    """
    k, d, n = y.shape
    dtype = y.dtype
    # log N_j = log sum_i w_i r_ij (tree_logsumexp, inlined to keep its terms:
    # w_i r_ij / N_j = term_ij / sum_i term_ij, with no second exponential).
    live = (w[None, :] > 0) & (log_r > -jnp.inf)
    top = jnp.max(jnp.where(live, log_r, -jnp.inf), axis=-1)
    shift = jnp.where(jnp.isfinite(top), top, jnp.zeros_like(top))
    terms = jnp.where(
        live,
        w[None, :] * jnp.exp(jnp.where(live, log_r - shift[:, None], 0)),
        jnp.zeros_like(log_r),
    )
    mass = tree_sum_last(terms)  # (k,): N_j e^{-shift_j}
    log_nk = jnp.log(mass) + shift  # (k,): log N_j
    # Dead: no responsibility mass, or a weight below the dtype's smallest normal
    # number (it could never be sampled nor regain mass in this dtype).
    log_tiny = math.log(float(jnp.finfo(dtype).tiny))
    dead = (log_nk == -jnp.inf) | (_normalised_log_weights(log_nk) < log_tiny)
    log_pi = _normalised_log_weights(
        jnp.where(dead, jnp.full_like(log_nk, -jnp.inf), log_nk)
    )
    safe_mass = jnp.where(dead, jnp.ones_like(mass), mass)
    rho = jnp.where(
        (w[None, :] > 0) & ~dead[:, None],
        terms / safe_mass[:, None],
        jnp.zeros_like(log_r),
    )  # (k, n): w_i r_ij / N_j, summing to 1 over i
    m = tree_sum_last(rho[:, None, :] * y)  # (k, d)
    resid = jnp.sqrt(rho)[:, None, :] * (y - m[:, :, None])  # (k, d, n)
    # B_j = [floor block, residual columns]: the floor first, so the residuals are
    # a prefix-stable tail (a fit to m points does not depend on how many masked
    # draws follow them).
    b = jnp.concatenate([floor_block, resid], axis=-1)  # (k, d, d + n)
    if cholesky:
        a, v, weak = _cholesky_scatter(b)
    else:
        a, v = _lq_lower_t(b)  # (k, d), (k, d, d)
    eye = jnp.broadcast_to(jnp.eye(d, dtype=dtype), (k, d, d))
    m = jnp.where(dead[:, None], jnp.zeros_like(m), m)
    a = jnp.where(dead[:, None], jnp.zeros_like(a), a)
    v = jnp.where(dead[:, None, None], eye, v)
    finite = (
        jnp.all(jnp.isfinite(a), axis=-1)
        & jnp.all(jnp.isfinite(m), axis=-1)
        & jnp.all(jnp.isfinite(v), axis=(-2, -1))
    )
    singular = it.singular | ~finite
    keep = singular[:, None]
    new = _Iterate(
        log_pi,
        jnp.where(keep, it.m, m),
        jnp.where(keep, it.a, a),
        jnp.where(keep[:, :, None], it.v, v),
        singular,
        it.broken | lost,
    )
    if cholesky:
        return new, jnp.any(weak & ~dead & ~singular)
    return new


#: The Cholesky M-step is kept when every pivot keeps at least this fraction of its
#: diagonal (``L_jj^2 >= CHOLESKY_MIN_PIVOT * S_jj``): the formed scatter's rounding
#: (``eps S_jj``) then moves a log-scale by at most ``eps / (2 CHOLESKY_MIN_PIVOT)``
#: (6e-6 in float32). Below it the fit is redone with the Householder LQ.
CHOLESKY_MIN_PIVOT = 1e-2


def _cholesky_scatter(b):
    """``(log_diag, unit, weak)`` of ``B B^T = L L^T`` for ``B`` ``(k, d, m)`` by a
    Cholesky factorisation of the formed ``d x d`` scatter (sums over ``m`` by
    :func:`tree_sum_last`, prefix-stable). In the previous components' frames the
    scatter is O(1) and well conditioned unless a component changes shape a lot in
    one generation; ``weak`` ``(k,)`` flags a pivot below
    :data:`CHOLESKY_MIN_PIVOT` of its diagonal (or not positive)."""
    k, d, _ = b.shape
    dtype = b.dtype
    scat = {}
    for i in range(d):
        for j in range(i + 1):
            scat[i, j] = tree_sum_last(b[:, i, :] * b[:, j, :])  # (k,)
    low: dict[tuple[int, int], jax.Array] = {}
    log_diag, weak = [], jnp.zeros((k,), bool)
    for j in range(d):
        acc = scat[j, j]
        if j:
            acc = acc - _sum_small(jnp.stack([low[j, c] ** 2 for c in range(j)], -1))
        weak = weak | ~(acc >= CHOLESKY_MIN_PIVOT * scat[j, j])
        piv = jnp.sqrt(jnp.where(acc > 0, acc, jnp.zeros_like(acc)))
        log_diag.append(jnp.log(piv))
        low[j, j] = piv
        safe = jnp.where(piv > 0, piv, jnp.ones_like(piv))
        for i in range(j + 1, d):
            acc_i = scat[i, j]
            if j:
                acc_i = acc_i - _sum_small(
                    jnp.stack([low[i, c] * low[j, c] for c in range(j)], -1)
                )
            low[i, j] = jnp.where(piv > 0, acc_i / safe, jnp.zeros_like(acc_i))
    rows = []
    for i in range(d):
        row = []
        for j in range(d):
            if j > i:
                row.append(jnp.zeros((k,), dtype))
            elif j == i:
                row.append(jnp.ones((k,), dtype))
            else:
                piv = low[j, j]
                ok = piv > 0
                ratio = low[i, j] / jnp.where(ok, piv, 1)
                row.append(jnp.where(ok, ratio, jnp.zeros_like(piv)))
        rows.append(jnp.stack(row, -1))
    return jnp.stack(log_diag, -1), jnp.stack(rows, -2), weak


def _lq_lower_t(b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`~collapse_jax._linalg._lq_lower` of ``B`` given as ``(..., d, m)``
    (the long axis last, where XLA vectorises; ``_lq_lower`` takes ``B^T``): the
    same Householder reflections, sums by :func:`tree_sum_last` (the same tree)."""
    d = b.shape[-2]
    dtype = b.dtype
    lead = b.shape[:-2]
    a = b
    log_diag, columns = [], []
    for j in range(d):
        x = a[..., 0, :]  # row j of B (column j of B^T), entries j..
        scale = jnp.max(jnp.abs(x), axis=-1)
        safe = jnp.where(scale > 0, scale, jnp.ones_like(scale))
        xs = x / safe[..., None]
        norm = jnp.sqrt(tree_sum_last(xs * xs))
        sgn = jnp.where(xs[..., 0] >= 0, 1.0, -1.0).astype(dtype)
        v = jnp.concatenate([(xs[..., 0] + sgn * norm)[..., None], xs[..., 1:]], -1)
        vv = tree_sum_last(v * v)
        proj = tree_sum_last(a * v[..., None, :])  # (..., d - j)
        coef = jnp.where(
            vv[..., None] > 0, 2 * proj / jnp.where(vv > 0, vv, 1)[..., None], 0
        )
        a = a - v[..., None, :] * coef[..., :, None]
        # Entry 0 is now (-sgn |x|, R_j,j+1..); flip the signs for a positive pivot.
        pivot = scale * norm
        below = -sgn[..., None] * a[..., 1:, 0]
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
        a = a[..., 1:, 1:]
    return jnp.stack(log_diag, axis=-1), jnp.stack(columns, axis=-1)


def _floor_block(prev: GmmParams, variance_floor):
    """``sqrt(floor) L_j^{-1} = sqrt(floor) diag(e^{-s_j}) U_j^{-1}``, ``(k, d, d)``:
    the floor ``floor * I`` in component ``j``'s frame is this block times its
    transpose. Zero for ``floor = 0``."""
    k, d = prev.means.shape
    dtype = prev.means.dtype
    eye = jnp.broadcast_to(jnp.eye(d, dtype=dtype), (k, d, d))
    inv_t = _solve_unit_lower(prev.chol_unit_lower[:, None, :, :], eye)  # rows: cols
    inv = jnp.swapaxes(inv_t, -1, -2)  # U_j^{-1}
    floor = jnp.asarray(variance_floor, dtype)
    half_log = 0.5 * jnp.log(floor)  # -inf for a zero floor: the block is 0
    return _scale_exp(inv, half_log - prev.chol_log_diag[:, :, None])


def _compose(prev: GmmParams, it: _Iterate, em_gain) -> GmmParams:
    """Map an iterate from the frames back: ``mu' = mu + L m``, ``L' = L A``.

    ``L A = U diag(e^s) V diag(e^a) = U [diag(e^s) V diag(e^-s)] diag(e^(s + a))``:
    only ``exp(s_i - s_j)`` for ``i > j`` appears (as in the Gaussian family).
    A dead component (``m = 0``, ``A = I``) keeps its previous values exactly.
    """

    k, d = prev.means.shape
    s, unit = prev.chol_log_diag, prev.chol_unit_lower
    lower = jnp.tril(jnp.ones((d, d), bool), -1)[None, :, :]
    gap = jnp.where(lower, s[:, :, None] - s[:, None, :], jnp.zeros((k, d, d), s.dtype))
    eye = jnp.broadcast_to(jnp.eye(d, dtype=s.dtype), (k, d, d))
    inner = jnp.where(lower, it.v * jnp.exp(gap), eye)
    new_unit = _sum_small(unit[:, :, :, None] * inner[:, None, :, :], axis=2)
    step = _sum_small(unit * (jnp.exp(s) * it.m)[:, None, :], axis=-1)
    return GmmParams(
        it.log_pi,
        prev.means + step,
        s + it.a,
        new_unit,
        jnp.asarray(em_gain, s.dtype),
    )


def _em_frames(y, bad, weights, prev: GmmParams, num_iters: int, variance_floor):
    """EM on whitened points; returns (params, mean log-likelihood trace)."""
    dtype = y.dtype
    k, d = prev.means.shape
    w = weights.astype(dtype)
    floor_block = _floor_block(prev, variance_floor)
    start = _Iterate(
        _normalised_log_weights(prev.log_weights),
        jnp.zeros((k, d), dtype),
        jnp.zeros((k, d), dtype),
        jnp.broadcast_to(jnp.eye(d, dtype=dtype), (k, d, d)),
        jnp.zeros((k,), bool),
        jnp.zeros((), bool),
    )
    frame_s = prev.chol_log_diag

    def body(it, _):
        log_r, ll, lost = _estep(y, bad, w, frame_s, it)
        return _mstep(y, w, log_r, floor_block, it, lost), ll

    it, trace = jax.lax.scan(body, start, None, length=num_iters)
    _, last, lost = _estep(y, bad, w, frame_s, it)
    trace = jnp.concatenate([trace, last[None]])
    params = _compose(prev, it, trace[-1] - trace[-2])
    return _mark_failures(params, it.singular, it.broken | lost), trace


def _identity_iterate(prev: GmmParams, dtype) -> _Iterate:
    """The iterate of ``prev`` itself in its own frames (``m = 0``, ``A = I``)."""
    k, d = prev.means.shape
    return _Iterate(
        _normalised_log_weights(prev.log_weights.astype(dtype)),
        jnp.zeros((k, d), dtype),
        jnp.zeros((k, d), dtype),
        jnp.broadcast_to(jnp.eye(d, dtype=dtype), (k, d, d)),
        jnp.zeros((k,), bool),
        jnp.zeros((), bool),
    )


class _Converge(NamedTuple):
    """State of EM run to a tolerance (:func:`_em_to_tol`)."""

    it: _Iterate
    ll: jax.Array  # () weighted sum of log-likelihoods at the last E-step
    gain: jax.Array  # () its change from the E-step before (+inf before two)
    count: jax.Array  # () int32 EM iterations (E-step + M-step) done
    weak: jax.Array  # () bool, sticky: a Cholesky M-step lost a pivot


def _em_to_tol(
    y, bad, w, frame_s, floor_block, start: _Iterate, tol, max_iters, cholesky=False
):
    """EM from ``start`` until ``|gain| < tol`` or ``max_iters`` iterations.

    scikit-learn's loop (``BaseMixture.fit``): each iteration is an E-step, whose mean
    log-likelihood per point is compared with the previous E-step's, then an M-step;
    it stops after the M-step of the iteration whose gain is below ``tol`` (so at
    least 2 iterations), or after ``max_iters``, or once the iterate is broken (a
    point no component explains: ``_mark_failures`` reports it). ``tol`` and
    ``max_iters`` are traced: one compiled program serves every tolerance. The
    state carries weighted *sums* of log-likelihoods, compared with ``tol`` times
    the total weight (``_estep``'s ``mean=False``); ``gain`` is the change of the
    sum.

    A ``while_loop``: under ``vmap`` its body runs until every chain of the batch
    has stopped, and a stopped chain's state is frozen by a select (JAX's batching
    rule for a batched predicate), so a chain's bits do not depend on how many
    iterations its batch neighbours need (tests/test_gmm_ml.py).
    """
    dtype = y.dtype
    bound = jnp.asarray(tol, dtype) * tree_sum(w)

    def cond(c: _Converge):
        return (c.count < max_iters) & ~(jnp.abs(c.gain) < bound) & ~c.it.broken

    def body(c: _Converge):
        log_r, ll, lost = _estep(y, bad, w, frame_s, c.it, mean=False)
        if cholesky:
            new, weak = _mstep(y, w, log_r, floor_block, c.it, lost, True)
        else:
            new, weak = _mstep(y, w, log_r, floor_block, c.it, lost), False
        return _Converge(new, ll, ll - c.ll, c.count + 1, c.weak | weak)

    init = _Converge(
        start,
        jnp.asarray(-jnp.inf, dtype),
        jnp.asarray(jnp.inf, dtype),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), bool),
    )
    return jax.lax.while_loop(cond, body, init)


def _fit_frames(
    key,
    y,
    bad,
    weights,
    prev: GmmParams,
    num_iters,
    kmeans: bool,
    tol,
    max_iters,
    variance_floor,
):
    """The family's fit on whitened points: returns ``(params, iterations)``.

    ``kmeans``: start from the k-means clustering of the points
    (:mod:`collapse_jax.families._gmm_kmeans`, random from ``key``), else from
    ``prev`` itself (warm start). ``num_iters``: a fixed number of EM iterations
    (static), or ``None`` for EM to ``|gain| < tol`` with at most ``max_iters``
    (scikit-learn's rule, :func:`_em_to_tol`). The warm start with a fixed count is
    :func:`_em_frames` exactly.
    """
    if not kmeans and num_iters is not None:
        params, _ = _em_frames(y, bad, weights, prev, num_iters, variance_floor)
        return params, jnp.asarray(num_iters, jnp.int32)
    dtype = y.dtype
    w = weights.astype(dtype)
    floor_block = _floor_block(prev, variance_floor)
    frame_s = prev.chol_log_diag
    log_r0 = kmeans_log_resp(key, prev, y, bad, w)[0] if kmeans else None

    def run(cholesky: bool) -> tuple[_Iterate, jax.Array, jax.Array, jax.Array]:
        """EM with Cholesky (or LQ) M-steps: ``(iterate, gain, count, weak)``."""
        start = _identity_iterate(prev, dtype)
        weak0 = jnp.zeros((), bool)
        if kmeans:
            args = (y, w, log_r0, floor_block, start, jnp.zeros((), bool))
            if cholesky:
                start, weak0 = _mstep(*args, True)
            else:
                start = _mstep(*args)
        if num_iters is None:
            c = _em_to_tol(
                y, bad, w, frame_s, floor_block, start,
                jnp.asarray(tol, dtype), jnp.asarray(max_iters, jnp.int32), cholesky,
            )  # fmt: skip
            # The loop carries sums (_em_to_tol); the division of materialised
            # operands: fused into its consumers, XLA rounded it differently for
            # a batch of one chain (measured).
            gain_sum, total = jax.lax.optimization_barrier((c.gain, tree_sum(w)))
            return c.it, gain_sum / total, c.count, weak0 | c.weak

        def body(carry, _):
            it, weak = carry
            log_r, ll, lost = _estep(y, bad, w, frame_s, it)
            if cholesky:
                new, now = _mstep(y, w, log_r, floor_block, it, lost, True)
            else:
                new, now = _mstep(y, w, log_r, floor_block, it, lost), False
            return (new, weak | now), ll

        (it, weak), trace = jax.lax.scan(body, (start, weak0), None, length=num_iters)
        _, last, _ = _estep(y, bad, w, frame_s, it)
        return it, last - trace[-1], jnp.asarray(num_iters, jnp.int32), weak

    # Cholesky M-steps first; a fit in which one lost a pivot is redone with the
    # Householder LQ. A while_loop of at most one pass: under vmap it runs only when
    # some chain of the batch needs it, and only those chains take its result.
    first = run(True)

    def again(state) -> tuple[_Iterate, jax.Array, jax.Array, jax.Array]:
        return (*run(False)[:3], jnp.zeros((), bool))

    it, gain, count, _ = jax.lax.while_loop(lambda st: st[3], again, first)
    # The last measured log-likelihood is of the iterate before the last M-step
    # (scikit-learn's rule); a broken iterate is caught here as well.
    _, _, lost = _estep(y, bad, w, frame_s, it)
    params = _compose(prev, it, gain)
    return _mark_failures(params, it.singular, it.broken | lost), count


def _mark_failures(params: GmmParams, singular, broken) -> GmmParams:
    """Make a failed fit visible to ``status`` (never a silently dead component).

    A component whose covariance became singular gets a finite log weight and a NaN
    ``chol_log_diag``: ``DEGENERATE_FIT`` (the root cause, even if points were then
    left without a component). Otherwise a point no component could explain (zero
    or NaN density everywhere) makes the log weights and ``em_gain`` NaN:
    ``NONFINITE_PARAMS``.
    """
    lw = jnp.where(singular, jnp.zeros_like(params.log_weights), params.log_weights)
    lw = jnp.where(broken & ~jnp.any(singular), jnp.full_like(lw, jnp.nan), lw)
    s = jnp.where(
        singular[:, None],
        jnp.full_like(params.chol_log_diag, jnp.nan),
        params.chol_log_diag,
    )
    gain = jnp.where(broken, jnp.full_like(params.em_gain, jnp.nan), params.em_gain)
    return params._replace(log_weights=lw, chol_log_diag=s, em_gain=gain)


def _cast_like(params: GmmParams, dtype) -> GmmParams:

    return GmmParams(*(jnp.asarray(x, dtype) for x in params))


def _em(data, weights, init, num_iters: int, variance_floor):
    init = _cast_like(init, data.dtype)
    y, bad = _whiten_data(init, data)
    return _em_frames(y, bad, weights, init, num_iters, variance_floor)


_em_jit = jax.jit(_em, static_argnames=("num_iters",))


def _em_tol(data, weights, init, tol, max_iters, variance_floor):
    """EM from ``init`` to ``|gain| < tol`` (at most ``max_iters``): ``(params,
    iterations)``, scikit-learn's ``GaussianMixture`` from a given start."""
    init = _cast_like(init, data.dtype)
    y, bad = _whiten_data(init, data)
    return _fit_frames(
        None, y, bad, weights, init, None, False, tol, max_iters, variance_floor
    )


_em_tol_jit = jax.jit(_em_tol)
