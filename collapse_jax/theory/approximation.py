r"""The functional-approximation error of the Gaussian chain (SH-1), host-side float64.

With ``sample_size=None`` (M = ∞) and an optimiser-based fit
(``collapse_jax.fitting.approximate``), a chain is the deterministic map
:math:`\theta_{n+1} = T(\theta_n)`: ``num_steps`` optimiser updates of the
cross-entropy of :math:`\theta_n`'s distribution (plus an optional pseudo-data term),
started from :math:`\theta_n` (warm) or from a fixed :math:`\theta_{init}`. This module
gives (proofs/sh-1c-approximation-pseudo-data.md):

* :func:`pseudo_data_moments` — the closed form of the converged pseudo-data chain:
  the moments approach the reference geometrically at rate :math:`1/(1+\rho)`.
* :func:`gradient_map_iterate` — an independent NumPy iteration of the exact same
  K-step map (hand-written gradients in the library's log-Cholesky parameterisation,
  hand-written sgd / momentum / Adam updates with optax's definitions): the oracle
  of the "approximation only" test of docs/theory.md SH-1.
* :func:`fixed_start_rates` and :func:`one_step_variance_fixed_point` — the local
  rates of the fixed-start SGD map at its fixed point :math:`\theta_{init}` and the
  other fixed point of the one-step variance map (1-D).

Parameterisation: :math:`\Sigma = LL^\top`, :math:`L = U\,\mathrm{diag}(e^{s})` with
``U`` unit lower-triangular; the free parameters are the mean, ``s`` and the strictly
lower part of ``U``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import lambertw

from collapse_jax.checks import described, fail
from collapse_jax.theory._schedule import check_int, check_positive_float

__all__ = [
    "GaussianPath",
    "fixed_start_rates",
    "gradient_map_iterate",
    "one_step_variance_fixed_point",
    "pseudo_data_moments",
]

# optax's definitions (what collapse_jax.fitting builds for the named optimisers).
MOMENTUM = 0.9
ADAM_B1 = 0.9
ADAM_B2 = 0.999
ADAM_EPS = 1e-8
_OPTIMIZERS = ("sgd", "momentum", "adam")
_STARTS = ("warm", "fixed")


class GaussianPath(NamedTuple):
    """A deterministic Gaussian chain, generations ``0..N`` along the first axis.

    Returned by :func:`gradient_map_iterate`
    (proofs/sh-1c-approximation-pseudo-data.md).
    """

    mean: np.ndarray  # (N + 1, d) float64
    cov: np.ndarray  # (N + 1, d, d) float64
    chol_log_diag: np.ndarray  # (N + 1, d) float64, s_n
    chol_unit_lower: np.ndarray  # (N + 1, d, d) float64, U_n


# ------------------------------------------------------------------ validation ---


def _moments(caller, mean_name, cov_name, mean, cov, dim=None):
    try:
        m = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        c = np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError):
        fail(
            caller,
            f"{mean_name}, {cov_name}",
            "numbers",
            described(f"{mean!r}, {cov!r}"),
            "Pass floats.",
        )
    if c.ndim == 0:
        c = c.reshape(1, 1)
    if m.ndim != 1:
        fail(
            caller,
            mean_name,
            "a vector of shape (d,)",
            described(f"shape {m.shape}"),
            "Pass a 1-D mean (or a scalar for d = 1).",
        )
    d = m.shape[0]
    if dim is not None and d != dim:
        fail(
            caller,
            mean_name,
            f"of dimension {dim} like mean0",
            described(f"dimension {d}"),
            "Use one dimension throughout.",
        )
    if c.shape != (d, d):
        fail(
            caller,
            cov_name,
            f"a matrix of shape ({d}, {d})",
            described(f"shape {c.shape}"),
            "Pass a (d, d) covariance for a (d,) mean.",
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c))):
        fail(
            caller,
            f"{mean_name}, {cov_name}",
            "finite",
            described("NaN or inf entries"),
            "Remove NaN or inf entries.",
        )
    if not np.allclose(c, c.T, rtol=1e-10, atol=0.0):
        fail(caller, cov_name, "symmetric", c.tolist(), "Pass (cov + cov.T) / 2.")
    if np.linalg.eigvalsh(c).min() <= 0:
        fail(
            caller,
            cov_name,
            "positive definite",
            described(f"smallest eigenvalue {np.linalg.eigvalsh(c).min():g}"),
            "Pass a covariance with strictly positive eigenvalues.",
        )
    return m, c


def _check_strength(value, caller, *, positive) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = None
    ok = x is not None and np.isfinite(x) and (x > 0 if positive else x >= 0)
    if not ok:
        fail(
            caller,
            "strength",
            "a finite number > 0" if positive else "a finite number >= 0",
            described(repr(value)),
            "Pass the pseudo-data weight rho, e.g. strength=0.5.",
        )
    assert x is not None  # ok implies it
    return x


def _choice(value, name, caller, choices):
    if value not in choices:
        fail(
            caller,
            name,
            f"one of {choices}",
            described(repr(value)),
            f"Pass one of {choices}.",
        )
    return value


# ------------------------------------------------------------------ closed form ---


def pseudo_data_moments(
    mean0, cov0, ref_mean, ref_cov, strength: float, num_generations: int
) -> tuple[np.ndarray, np.ndarray]:
    r"""Moments of the converged pseudo-data chain in the population limit.

    Each fit is the exact minimiser of :math:`CE(p_n, q) + \rho\,CE(r, q)`, the moment
    match of :math:`(p_n + \rho r)/(1+\rho)`. With :math:`\alpha = \rho/(1+\rho)`,
    :math:`\delta_0 = \mu_0 - \mu_r` and :math:`Q_0 = \Sigma_0 + \delta_0\delta_0^\top`:

    .. math:: \mu_n = \mu_r + (1-\alpha)^n\delta_0,\qquad
       \Sigma_n = \Sigma_r + (1-\alpha)^n(Q_0 - \Sigma_r)
       - (1-\alpha)^{2n}\delta_0\delta_0^\top .

    Args:
      mean0: ``(d,)`` mean of the truth (scalar for ``d = 1``).
      cov0: ``(d, d)`` covariance of the truth (scalar variance for ``d = 1``).
      ref_mean, ref_cov: the reference model of the penalty.
      strength: :math:`\rho \ge 0` (0: the chain stays at the truth).
      num_generations: ``N >= 0``.

    Returns:
      ``(means, covs)``: ``(N + 1, d)`` and ``(N + 1, d, d)`` float64 arrays, index
      ``n`` the model after ``n`` fits.

    Raises:
      ValueError: an argument is out of range.

    Examples:
      >>> m, c = pseudo_data_moments(2.0, 1.0, 0.0, 1.0, 1.0, 2)
      >>> m[:, 0].tolist(), c[:, 0, 0].tolist()
      ([2.0, 1.0, 0.5], [1.0, 2.0, 1.75])

    References:
      docs/theory.md SH-1; proof: ``proofs/sh-1c-approximation-pseudo-data.md``, part 1.
    """
    caller = "pseudo_data_moments"
    m0, c0 = _moments(caller, "mean0", "cov0", mean0, cov0)
    mr, cr = _moments(caller, "ref_mean", "ref_cov", ref_mean, ref_cov, m0.shape[0])
    rho = _check_strength(strength, caller, positive=False)
    n = check_int(num_generations, "num_generations", caller)
    keep = (1.0 / (1.0 + rho)) ** np.arange(n + 1, dtype=np.float64)  # (1 - alpha)^n
    delta = m0 - mr
    q0 = c0 + np.outer(delta, delta)
    means = mr[None, :] + keep[:, None] * delta[None, :]
    covs = (
        cr[None]
        + keep[:, None, None] * (q0 - cr)[None]
        - (keep**2)[:, None, None] * np.outer(delta, delta)[None]
    )
    return means, covs


def fixed_start_rates(
    learning_rate: float, num_steps: int, init_var: float
) -> tuple[float, float]:
    r"""Local rates of the fixed-start SGD map at its fixed point (1-D Gaussian).

    ``K`` SGD steps of size :math:`\eta` from :math:`\theta_{init} = (\mu_i, s_i)` on
    the cross-entropy of :math:`\theta`: :math:`\theta_{init}` is a fixed point of
    :math:`T` and the Jacobian there is diagonal in :math:`(\mu, s)`, with

    .. math:: \lambda_\mu = 1 - (1 - \eta/\sigma_i^2)^K,\qquad
       \lambda_s = 1 - (1 - 2\eta)^K,

    so the chain converges to the initialisation (forgetting the truth) when both
    lie in :math:`(-1, 1)`; deviations shrink by these factors per generation.

    Args:
      learning_rate: :math:`\eta > 0`.
      num_steps: ``K >= 1``.
      init_var: :math:`\sigma_i^2 > 0`, the variance of the initialisation.

    Returns:
      ``(lambda_mean, lambda_log_sd)``.

    Examples:
      >>> fixed_start_rates(0.25, 2, 1.0)
      (0.4375, 0.75)

    References:
      Proof: ``proofs/sh-1c-approximation-pseudo-data.md``, part 4.
    """
    caller = "fixed_start_rates"
    eta = check_positive_float(learning_rate, "learning_rate", caller)
    k = check_int(num_steps, "num_steps", caller, minimum=1)
    var = check_positive_float(init_var, "init_var", caller)
    return 1.0 - (1.0 - eta / var) ** k, 1.0 - (1.0 - 2.0 * eta) ** k


def one_step_variance_fixed_point(learning_rate: float) -> float:
    r"""The fixed point :math:`r^\dagger \ne 1` of the one-step variance map.

    With one SGD step from a fixed start of variance :math:`\sigma_i^2` and the mean
    at :math:`\mu_i`, the variance ratio :math:`r_n = \sigma_n^2/\sigma_i^2` follows
    :math:`r_{n+1} = \exp(2\eta(r_n - 1))`, whose fixed points are 1 and
    :math:`r^\dagger = -W_k(-2\eta e^{-2\eta})/(2\eta)` (Lambert W, branch
    :math:`k = -1` for :math:`2\eta < 1`, :math:`k = 0` for :math:`2\eta > 1`). For
    :math:`2\eta < 1`, :math:`r^\dagger > 1` is repelling and bounds the basin of
    :math:`r = 1`; for :math:`2\eta > 1`, :math:`r^\dagger < 1` attracts every
    :math:`r_0 < 1` (and 1 repels): the fitted variance settles at
    :math:`r^\dagger\sigma_i^2`, neither the truth's nor the initialisation's.

    Args:
      learning_rate: :math:`\eta > 0`, :math:`\eta \ne 1/2` (a double root there).

    Returns:
      :math:`r^\dagger` as a float.

    Examples:
      >>> round(one_step_variance_fixed_point(0.75), 6)
      0.417188

    References:
      Proof: ``proofs/sh-1c-approximation-pseudo-data.md``, part 4.
    """
    caller = "one_step_variance_fixed_point"
    eta = check_positive_float(learning_rate, "learning_rate", caller)
    if eta == 0.5:
        fail(
            caller,
            "learning_rate",
            "!= 0.5",
            eta,
            "At eta = 1/2 the two fixed points merge at r = 1.",
        )
    branch = -1 if 2 * eta < 1 else 0
    w = lambertw(-2 * eta * np.exp(-2 * eta), branch)
    return float(-w.real / (2 * eta))


# ----------------------------------------------------------- the K-step oracle ---


def _to_params(mean, cov):
    chol = np.linalg.cholesky(cov)
    diag = np.diag(chol)
    return mean.copy(), np.log(diag), chol / diag[None, :]


def _cov(s, u):
    chol = u * np.exp(s)[None, :]
    return chol @ chol.T


def _grad(mean, s, u, t_mean, t_s, t_u):
    r"""Gradient of :math:`E_t[-\log N(x;\mu, LL^\top)]`, ``L = U diag(e^s)``.

    With :math:`C = S_t + \delta\delta^\top`, :math:`\delta = m_t - \mu`,
    :math:`H = L^{-1}CL^{-\top}`: :math:`\partial_\mu = -\Sigma^{-1}\delta`,
    :math:`\partial_s = 1 - \mathrm{diag}\,H`,
    :math:`\partial_U = \mathrm{tril}_{-1}(U^{-\top}D^{-1}(I - H)D)`, :math:`D =
    \mathrm{diag}(e^s)` (proof, part 5).
    """
    d = mean.shape[0]
    eye = np.eye(d)
    chol = u * np.exp(s)[None, :]
    b = solve_triangular(chol, t_u * np.exp(t_s)[None, :], lower=True)  # L^-1 L_t
    y = solve_triangular(chol, t_mean - mean, lower=True)  # L^-1 delta
    h = b @ b.T + np.outer(y, y)
    g_mean = -solve_triangular(chol.T, y, lower=False)  # -L^-T y = -Sigma^-1 delta
    g_s = 1.0 - np.diag(h)
    w_t = solve_triangular(u.T, eye, lower=False)  # U^-T
    dd = np.exp(s)
    g_u = np.tril(w_t @ ((eye - h) * dd[None, :] / dd[:, None]), -1)
    return g_mean, g_s, g_u


def _descend(start, targets, optimizer, lr, num_steps):
    """``num_steps`` updates of ``sum_j weight_j CE(target_j, .)`` from ``start``."""
    params = [x.copy() for x in start]
    trace = [np.zeros_like(x) for x in params]
    mu = [np.zeros_like(x) for x in params]
    nu = [np.zeros_like(x) for x in params]
    for k in range(1, num_steps + 1):
        grads = [np.zeros_like(x) for x in params]
        for weight, target in targets:
            for g, gj in zip(grads, _grad(*params, *target), strict=True):
                g += weight * gj
        if optimizer == "sgd":
            steps = [lr * g for g in grads]
        elif optimizer == "momentum":  # optax.trace: t = g + beta t
            trace = [g + MOMENTUM * t for g, t in zip(grads, trace, strict=True)]
            steps = [lr * t for t in trace]
        else:  # optax.scale_by_adam, eps_root = 0
            pairs = list(zip(grads, mu, nu, strict=True))
            mu = [(1 - ADAM_B1) * g + ADAM_B1 * m for g, m, _ in pairs]
            nu = [(1 - ADAM_B2) * g**2 + ADAM_B2 * v for g, _, v in pairs]
            c1, c2 = 1 - ADAM_B1**k, 1 - ADAM_B2**k
            steps = [
                lr * (m / c1) / (np.sqrt(v / c2) + ADAM_EPS)
                for m, v in zip(mu, nu, strict=True)
            ]
        params = [x - st for x, st in zip(params, steps, strict=True)]
        params[2] = np.tril(params[2], -1) + np.eye(params[2].shape[0])  # project
        if not all(np.all(np.isfinite(x)) for x in params) or np.any(params[1] > 700):
            return None  # diverged (exp(s) overflows beyond s = 709)
    return params


def gradient_map_iterate(
    mean0,
    cov0,
    *,
    optimizer: str,
    learning_rate: float,
    num_steps: int,
    start: str,
    init_mean=None,
    init_cov=None,
    penalty_mean=None,
    penalty_cov=None,
    strength: float = 0.0,
    num_generations: int,
) -> GaussianPath:
    r"""Iterate the population map of an optimiser-based Gaussian fit (float64).

    :math:`\theta_{n+1} = T(\theta_n)`: ``num_steps`` updates of ``optimizer`` on
    :math:`CE(\theta_n, \cdot) + \rho\,CE(r, \cdot)` started from :math:`\theta_n`
    (``start="warm"``) or from :math:`\theta_{init}` (``"fixed"``), re-imposing the
    unit diagonal of ``U`` after each update. The same map as a
    ``collapse_jax.fitting.approximate`` chain with ``sample_size=None``, computed
    independently: hand-written gradients (triangular solves, see proof part 5),
    hand-written updates with optax's definitions (sgd: :math:`-\eta g`; momentum:
    optax.trace with :math:`\beta = 0.9`; Adam: :math:`b_1 = 0.9`,
    :math:`b_2 = 0.999`, :math:`\epsilon = 10^{-8}`, bias-corrected, fresh state at
    every fit).

    Args:
      mean0, cov0: the truth (``(d,)``, ``(d, d)``; scalars for ``d = 1``).
      optimizer: ``"sgd"``, ``"momentum"`` or ``"adam"``.
      learning_rate: :math:`\eta > 0`.
      num_steps: ``K >= 1`` optimiser steps per fit.
      start: ``"warm"`` or ``"fixed"``.
      init_mean, init_cov: the fixed initialisation (``start="fixed"``).
      penalty_mean, penalty_cov: the pseudo-data reference (with ``strength > 0``).
      strength: :math:`\rho \ge 0`.
      num_generations: ``N >= 0``.

    Returns:
      A :class:`GaussianPath` of generations ``0..N``.

    Raises:
      ValueError: an argument is out of range, or the iteration left the finite
        range (a divergent learning rate).

    Examples:
      >>> path = gradient_map_iterate(0.0, 1.0, optimizer="sgd", learning_rate=0.1,
      ...                             num_steps=3, start="warm", num_generations=2)
      >>> path.cov[:, 0, 0].tolist()  # a well-specified truth is a fixed point
      [1.0, 1.0, 1.0]

    References:
      docs/theory.md SH-1 ("approximation only"); proof:
      ``proofs/sh-1c-approximation-pseudo-data.md``, parts 2-5.
    """
    caller = "gradient_map_iterate"
    m0, c0 = _moments(caller, "mean0", "cov0", mean0, cov0)
    d = m0.shape[0]
    optimizer = _choice(optimizer, "optimizer", caller, _OPTIMIZERS)
    lr = check_positive_float(learning_rate, "learning_rate", caller)
    k = check_int(num_steps, "num_steps", caller, minimum=1)
    start = _choice(start, "start", caller, _STARTS)
    n = check_int(num_generations, "num_generations", caller)
    rho = _check_strength(strength, caller, positive=False)
    init = None
    if start == "fixed":
        if init_mean is None or init_cov is None:
            fail(
                caller,
                "init_mean, init_cov",
                "given with start='fixed'",
                described("None"),
                "Pass the fixed initialisation.",
            )
        init = _to_params(
            *_moments(caller, "init_mean", "init_cov", init_mean, init_cov, d)
        )
    penalty = None
    if rho > 0:
        if penalty_mean is None or penalty_cov is None:
            fail(
                caller,
                "penalty_mean, penalty_cov",
                "given with strength > 0",
                described("None"),
                "Pass the reference model of the penalty.",
            )
        penalty = _to_params(
            *_moments(
                caller, "penalty_mean", "penalty_cov", penalty_mean, penalty_cov, d
            )
        )
    theta = _to_params(m0, c0)
    path: list[tuple[np.ndarray, ...]] = [theta]
    for _ in range(n):
        targets = [(1.0, theta)] + ([] if penalty is None else [(rho, penalty)])
        theta = _descend(init if start == "fixed" else theta, targets, optimizer, lr, k)
        if theta is None:
            fail(
                caller,
                "learning_rate",
                "small enough for a finite iteration",
                lr,
                "Lower the learning rate or the number of steps.",
            )
        theta = tuple(theta)
        path.append(theta)
    mean = np.stack([p[0] for p in path])
    s = np.stack([p[1] for p in path])
    u = np.stack([p[2] for p in path])
    cov = np.stack([_cov(si, ui) for si, ui in zip(s, u, strict=True)])
    return GaussianPath(mean, cov, s, u)
