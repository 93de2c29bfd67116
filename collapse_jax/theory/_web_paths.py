r"""The web chains' moment recursions, every generation in one vectorised call.

Each path of :mod:`collapse_jax.theory.web` is a linear recursion
:math:`x_{t+1} = A_t x_t + c_t` over a few expected second moments, with per-fit
coefficients (a share schedule makes them vary with ``t``). :func:`affine_scan`
evaluates all its prefixes at once: an inclusive scan of the affine maps by
recursive doubling, :math:`\lceil\log_2 T\rceil` NumPy steps of ``T`` small
matrix products, instead of a Python step per generation. It sums the same terms
as the sequential recursion, in another order (equal to float64 rounding).

``source="all"`` (fit ``t >= 1`` draws each synthetic item from a model chosen
uniformly among ``1 .. t``; fit 0 from model 0, the truth) closes on the Gram
matrix :math:`G_{jk} = E\langle\theta_j - \theta^*, \theta_k - \theta^*\rangle`
(probability vectors, or the Gaussian means). Only three sums of it enter the next
fit: :math:`D_t = G_{tt}`, :math:`Q_t = E\lVert S_t\rVert^2` and
:math:`R_t = E\langle\theta_t - \theta^*, S_t\rangle` with
:math:`S_t = \sum_{k=1}^t (\theta_k - \theta^*)` (``t`` times the pool mean's
deviation), and a fit at ``t`` maps them linearly (the Gaussian adds ``v_t`` and
:math:`W_t = \sum_{k=1}^t (v_k + D_k)`): O(T) time and memory, not the Gram
matrix's O(T²). Proofs: ``proofs/wb-2-categorical-web.md`` (part 6) and
``proofs/wb-3-gaussian-web.md`` (part 7).
"""

from __future__ import annotations

import numpy as np


def affine_scan(mats: np.ndarray, forcing: np.ndarray, x0) -> np.ndarray:
    """``x_0 .. x_T`` of ``x_{t+1} = mats[t] @ x_t + forcing[t]``.

    Args:
        mats: ``(T, k, k)`` the maps' matrices.
        forcing: ``(T, k)`` their constant terms.
        x0: ``(k,)`` the start.

    Returns:
        ``(T + 1, k) float64``.
    """
    a = np.array(mats, np.float64)
    b = np.array(forcing, np.float64)
    x0 = np.asarray(x0, np.float64)
    # Fold the start into the first map: x_1 = A_0 x_0 + c_0 for every later x_t.
    if a.shape[0]:
        b[0] = a[0] @ x0 + b[0]
        a[0] = 0.0
    shift = 1
    while shift < a.shape[0]:
        # Map t becomes (map t) o (map t - shift): after the step it composes the
        # 2 * shift maps ending at t (all of them from 0 for t < 2 * shift).
        b[shift:] = np.matmul(a[shift:], b[:-shift, :, None])[..., 0] + b[shift:]
        a[shift:] = np.matmul(a[shift:], a[:-shift])
        shift *= 2
    return np.concatenate([x0[None], b])


def _inverse_pool_size(gens: int) -> np.ndarray:
    """``1/t`` for fits ``t = 1 .. gens - 1``, 0 at fit 0 (its pool is the truth)."""
    t = np.arange(gens, dtype=np.float64)
    return np.divide(1.0, t, out=np.zeros(gens), where=t > 0)


def categorical_newest(h: float, d0: float, lin0: float, e, skip, nu) -> np.ndarray:
    r"""``D_t = E||p_t - p*||^2``, ``t = 0..T``, synthetic items from model ``t``.

    :math:`D_{t+1} = \pi D_t + (1-\pi)[e^2(1-\nu)D_t + \nu(H - 2e\ell_t)]` with
    :math:`\ell_t = p^*\cdot E(p_t - p^*) = \ell_0\prod_{k<t}(\pi_k + (1-\pi_k)e_k)`.
    ``e``, ``skip`` (π), ``nu``: per-fit arrays of length ``T``.
    """
    e, skip, nu = (np.asarray(x, np.float64) for x in (e, skip, nu))
    fit = 1.0 - skip
    lin = lin0 * np.concatenate([[1.0], np.cumprod(skip + fit * e)[:-1]])
    mats = (skip + fit * e * e * (1.0 - nu))[:, None, None]
    forcing = (fit * nu * (h - 2.0 * e * lin))[:, None]
    return affine_scan(mats, forcing, [d0])[:, 0]


def categorical_all(h: float, e, skip, nu) -> np.ndarray:
    """``D_t = E||p_t - p*||^2``, ``t = 0..T``, from ``p_0 = p*``, ``source="all"``.

    State ``(D, Q, R)``; with ``i = 1/t`` and ``X = E<p_{t+1} - p*, S_t>``:
    ``D' = π D + (1-π)(e²(1-ν) i² Q + ν H)``, ``X = π R + (1-π) e i Q``,
    ``Q' = Q + 2X + D'``, ``R' = X + D'``.
    """
    e, skip, nu = (np.asarray(x, np.float64) for x in (e, skip, nu))
    gens = e.size
    fit, inv = 1.0 - skip, _inverse_pool_size(gens)
    zero = np.zeros(gens)
    d_row = np.stack([skip, fit * e * e * (1.0 - nu) * inv * inv, zero], -1)
    x_row = np.stack([zero, fit * e * inv, skip], -1)
    d_const = fit * nu * h
    q_row = 2.0 * x_row + d_row + np.array([0.0, 1.0, 0.0])
    mats = np.stack([d_row, q_row, x_row + d_row], 1)
    forcing = np.stack([d_const, d_const, d_const], -1)
    return affine_scan(mats, forcing, np.zeros(3))[:, 0]


def _gauss_rows(e, skip, nu, c, z_row, z_const, width):
    """The rows of ``D' = E(mu' - mu*)^2`` and ``v' = E sigma'^2`` (state index 0, 1).

    ``z_row``/``z_const``: the expected variance of the kept items' mixture,
    linear in the state; a fit gives ``D' = e^2 B + nu Z`` (``B`` the squared
    deviation of the mixture's mean: ``e_row``) and ``v' = c Z``.
    """
    fit = 1.0 - skip
    keep_d = np.zeros((e.size, width))
    keep_d[:, 0] = skip
    keep_v = np.zeros((e.size, width))
    keep_v[:, 1] = skip
    d_row = keep_d + (fit * nu)[:, None] * z_row
    v_row = keep_v + (fit * c)[:, None] * z_row
    return d_row, v_row, fit * nu * z_const, fit * c * z_const


def gaussian_newest(var: float, x0, e, skip, nu, c):
    """``(E(mu_t - mu*)^2, E sigma_t^2)``, ``t = 0..T``, from ``x0 = (D_0, v_0)``.

    The kept law ``e N(mu_t, sigma_t^2) + (1-e) N(mu*, var)`` has expected variance
    ``Z = (1-e) var + e v + e(1-e) D``; a fit gives ``D' = e^2 D + nu Z`` and
    ``v' = c Z`` (``c = 1`` unbiased, ``1 - nu`` MLE), a kept model ``x' = x``.
    """
    e, skip, nu, c = (np.asarray(x, np.float64) for x in (e, skip, nu, c))
    z_row = np.stack([e * (1.0 - e), e], -1)
    d_row, v_row, d_const, v_const = _gauss_rows(
        e, skip, nu, c, z_row, (1.0 - e) * var, 2
    )
    d_row[:, 0] += (1.0 - skip) * e * e
    out = affine_scan(np.stack([d_row, v_row], 1), np.stack([d_const, v_const], -1), x0)
    return out[:, 0], out[:, 1]


def gaussian_all(var: float, e, skip, nu, c):
    """``(E(mu_t - mu*)^2, E sigma_t^2)``, ``t = 0..T``, from the truth, ``"all"``.

    The kept law ``(1 - e) N(mu*, var) + e (1/t) sum_k N(mu_k, sigma_k^2)`` has
    expected variance ``Z = (1 - e) var + e W/t - e^2 Q/t^2`` (fit 0: ``var``).
    State ``(D, v, Q, R, W)``: ``D' = π D + (1-π)(e² Q/t² + ν Z)``,
    ``v' = π v + (1-π) c Z``, ``X = π R + (1-π) e Q/t``, ``Q' = Q + 2X + D'``,
    ``R' = X + D'``, ``W' = W + v' + D'``.
    """
    e, skip, nu, c = (np.asarray(x, np.float64) for x in (e, skip, nu, c))
    gens = e.size
    fit, inv = 1.0 - skip, _inverse_pool_size(gens)
    zero = np.zeros(gens)
    z_row = np.stack([zero, zero, -e * e * inv * inv, zero, e * inv], -1)
    # Fit 0 draws from model 0, the truth: the mixture's variance is var.
    z_const = (1.0 - e) * var + np.where(inv == 0.0, e * var, 0.0)
    d_row, v_row, d_const, v_const = _gauss_rows(e, skip, nu, c, z_row, z_const, 5)
    d_row[:, 2] += fit * e * e * inv * inv
    x_row = np.stack([zero, zero, fit * e * inv, skip, zero], -1)
    eye = np.eye(5)
    mats = np.stack(
        [
            d_row,
            v_row,
            eye[2] + 2.0 * x_row + d_row,
            x_row + d_row,
            eye[4] + v_row + d_row,
        ],
        1,
    )
    forcing = np.stack([d_const, v_const, d_const, d_const, v_const + d_const], -1)
    out = affine_scan(mats, forcing, [0.0, var, 0.0, 0.0, 0.0])
    return out[:, 0], out[:, 1]
