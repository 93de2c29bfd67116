r"""Closed forms for chains that keep real data: accumulation, mixing, fresh data.

docs/theory.md §11's regime table, as exact host-side float64 formulas (NumPy):

* **Accumulate** (LR-3) and the **stability toy** (BE-2) have their own modules,
  :mod:`collapse_jax.theory.accumulation` and :mod:`collapse_jax.theory.stability_toy`;
  their functions are re-exported here.
* **Fixed real set or fresh real data + synthetic** (AL-3, BE-2 finite sample):
  for the 1-D Gaussian chain, :math:`E(\mu_t - \mu_{\mathrm{ref}})^2` and
  :math:`E\sigma_t^2` obey an exact linear recursion with a finite fixed point.
  Proof: ``proofs/al-3-gaussian-mixing.md``.
* **Categorical** (SE-2 (b)): :math:`E\lVert p_t - p_{\mathrm{ref}}\rVert^2` obeys an
  exact scalar recursion with a finite fixed point.
  Proof: ``proofs/se-2-categorical-mixing.md``.

Weights follow the library's regimes (``collapse_jax.regimes``): without a
``real_fraction`` every point weighs 1 (pooling); with ``real_fraction = f`` the real
points carry a share ``f`` of the total weight and the over-represented side is
down-weighted so that no weight exceeds 1 (:func:`mixing_weights`). Weighted fits use
frequency weights: mean :math:`\sum w x/W`, variance
:math:`\sum w (x - \bar x)^2/(W - \mathrm{ddof})`, :math:`W = \sum w`.

Index ``t`` counts fits (``t = 0`` is the initial model). Generation ``t`` draws
``sample_size`` points from model ``t`` and model ``t + 1`` is fitted to them together
with the regime's real data.
"""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import fail
from collapse_jax.theory._mixing_checks import (
    _VARIANCE_REASON,
    _check_fraction,
    _check_init_probs,
    _check_nonnegative,
    _check_probs,
    _check_real,
    _check_regime,
)
from collapse_jax.theory._schedule import (
    check_constant_size,
    check_estimator,
    check_int,
    check_positive_float,
)

# The accumulating regime and the stability toy have their own modules; their names
# stay importable from here.
from collapse_jax.theory.accumulation import (
    accumulate_mean_error_bound,
    accumulate_squared_mean_error,
    accumulate_variance,
    accumulate_variance_limit,
)
from collapse_jax.theory.stability_toy import (
    stability_bound,
    stability_toy_map,
    stability_toy_path,
    toy_mean_contraction,
)

__all__ = [
    "accumulate_mean_error_bound",
    "accumulate_squared_mean_error",
    "accumulate_variance",
    "accumulate_variance_limit",
    "categorical_mixing_sq_error",
    "categorical_mixing_stationary_sq_error",
    "fixed_real_moments",
    "fresh_known_variance_stationary_error",
    "fresh_moments",
    "mixing_stationary_moments",
    "mixing_weights",
    "stability_bound",
    "stability_toy_map",
    "stability_toy_path",
    "toy_mean_contraction",
]


# ------------------------------------------------- fixed real set / fresh data ---


def mixing_weights(
    num_real: int, num_synthetic: int, real_fraction: float | None = None
) -> tuple[float, float]:
    r"""Per-point weights ``(a, b)`` of the real and synthetic points.

    ``None``: ``a = b = 1`` (pooling). Otherwise the real points carry the share
    :math:`f = aN/(aN + bM)` of the total weight and the over-represented side is
    down-weighted: :math:`a = 1, b = N(1-f)/(Mf)` when
    :math:`f \ge N/(N+M)`, else :math:`b = 1, a = Mf/(N(1-f))`.

    Args:
        num_real: ``N >= 1`` real points per fit.
        num_synthetic: ``M >= 1`` synthetic points per fit.
        real_fraction: ``f`` in ``[0, 1]``, or ``None``.

    Returns:
        ``(a, b)`` floats in ``[0, 1]``.

    Raises:
        ValueError: invalid counts or fraction.

    Examples:
        >>> mixing_weights(10, 40, 0.5)
        (1.0, 0.25)

    References:
        docs/theory.md BE-1, AL-1, AL-3; proof: ``proofs/al-3-gaussian-mixing.md``.
    """
    caller = "mixing_weights"
    n = check_int(num_real, "num_real", caller, minimum=1)
    m = check_int(num_synthetic, "num_synthetic", caller, minimum=1)
    return _weights(n, m, real_fraction, caller)


def _weights(n: int, m: int, real_fraction, caller: str) -> tuple[float, float]:
    if real_fraction is None:
        return 1.0, 1.0
    f = _check_fraction(real_fraction, caller)
    if f >= n / (n + m):
        return 1.0, (n * (1.0 - f) / (m * f))
    return (m * f / (n * (1.0 - f))), 1.0


def _gauss_mix_system(n, m, a, b, ddof, q, ss_real):
    """``x_{t+1} = A x_t + c`` for ``x = (E(mu_t - ref)^2, E sigma_t^2)``."""
    w = a * n + b * m
    f = a * n / w
    den = w - ddof
    cross = a * n * b * m / w  # weight of (xbar_R - xbar_S)^2 in the pooled SS
    mat = np.array(
        [
            [(1 - f) ** 2, (1 - f) ** 2 / m],
            [cross / den, (b * (m - 1) + cross / m) / den],
        ]
    )
    c = np.array([f**2 * q, (a * ss_real + cross * q) / den])
    return mat, c


def _gauss_mix_args(num_real, sample_size, real_fraction, estimator, caller):
    ddof = check_estimator(estimator, caller)
    n = check_int(num_real, "num_real", caller, minimum=1)
    m = check_constant_size(sample_size, caller, minimum=2, reason=_VARIANCE_REASON)
    a, b = _weights(n, m, real_fraction, caller)
    if a * n + b * m - ddof <= 0:
        fail(
            caller,
            "num_real",
            "large enough for a positive total weight minus ddof",
            n,
            "Pass more points or a different real_fraction.",
        )
    return n, m, a, b, ddof


def _iterate(mat, c, x0, num_generations):
    out = np.empty((num_generations + 1, 2))
    out[0] = x0
    for t in range(num_generations):
        out[t + 1] = mat @ out[t] + c
    return out[:, 0], out[:, 1]


def fixed_real_moments(
    num_real: int,
    sample_size: int,
    num_generations: int,
    *,
    real_mean: float = 0.0,
    real_variance: float = 1.0,
    init_mean: float = 0.0,
    init_variance: float = 1.0,
    real_fraction: float | None = None,
    estimator: str = "unbiased",
) -> tuple[np.ndarray, np.ndarray]:
    r"""Gaussian chain on a fixed real set plus synthetic draws: exact moments.

    Every fit sees the same ``N`` real points (sample mean :math:`m_R`, estimator
    fit :math:`s_R^2`) and ``M`` fresh draws from the current model. Conditionally on
    the real set, with :math:`E_t = E(\mu_t - m_R)^2`, :math:`v_t = E\sigma_t^2`,

    .. math:: E_{t+1} = (1-f)^2\,(E_t + v_t/M),\qquad
       v_{t+1} = \frac{a(N - \mathrm{ddof})s_R^2 + b(M-1)v_t
       + \frac{aNbM}{W}(E_t + v_t/M)}{W - \mathrm{ddof}},

    :math:`W = aN + bM`, :math:`f = aN/W` (:func:`mixing_weights`). BE-2's finite
    sample chain is pooling with ``M = λN``: :math:`f = 1/(1+\lambda)`.

    Args:
        num_real: ``N >= 1``.
        sample_size: ``M >= 2`` synthetic draws per generation.
        num_generations: ``n >= 0``.
        real_mean: :math:`m_R`, mean of the real set.
        real_variance: :math:`s_R^2 \ge 0`, the estimator's fit on the real set
            (sum of squares over ``N - ddof``).
        init_mean: :math:`\mu_0`.
        init_variance: :math:`\sigma_0^2 > 0`.
        real_fraction: ``f`` in ``[0, 1]`` or ``None`` (pooling).
        estimator: ``"unbiased"`` or ``"mle"``.

    Returns:
        ``(E(mu_t - m_R)^2, E sigma_t^2)``, two ``(n + 1,) float64`` arrays.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> e, v = fixed_real_moments(20, 5, 50)
        >>> round(float(e[-1]), 4), round(float(v[-1]), 4)
        (0.0083, 0.9913)

    References:
        docs/theory.md BE-2, AL-1, §11; proof: ``proofs/al-3-gaussian-mixing.md``.
    """
    caller = "fixed_real_moments"
    n, m, a, b, ddof = _gauss_mix_args(
        num_real, sample_size, real_fraction, estimator, caller
    )
    gens = check_int(num_generations, "num_generations", caller)
    mu_r = _check_real(real_mean, "real_mean", caller)
    s_r = _check_nonnegative(real_variance, "real_variance", caller)
    mu0 = _check_real(init_mean, "init_mean", caller)
    v0 = check_positive_float(init_variance, "init_variance", caller)
    mat, c = _gauss_mix_system(n, m, a, b, ddof, 0.0, (n - ddof) * s_r)
    return _iterate(mat, c, np.array([(mu0 - mu_r) ** 2, v0]), gens)


def fresh_moments(
    num_real: int,
    sample_size: int,
    num_generations: int,
    *,
    variance: float = 1.0,
    init_mean_error: float = 0.0,
    init_variance: float | None = None,
    real_fraction: float | None = None,
    estimator: str = "unbiased",
) -> tuple[np.ndarray, np.ndarray]:
    r"""Gaussian fresh-data loop (AL-3), fitted variance: exact moments.

    Every fit sees ``N`` new draws from the truth :math:`N(\mu^*, \sigma^2)` and
    ``M`` draws from the current model. With :math:`E_t = E(\mu_t - \mu^*)^2`,
    :math:`v_t = E\sigma_t^2`, :math:`q = \sigma^2/N`:

    .. math:: E_{t+1} = f^2 q + (1-f)^2 (E_t + v_t/M),\qquad
       v_{t+1} = \frac{a(N-1)\sigma^2 + b(M-1)v_t
       + \frac{aNbM}{W}(q + E_t + v_t/M)}{W - \mathrm{ddof}}.

    Args:
        num_real: ``N >= 1`` fresh real draws per generation.
        sample_size: ``M >= 2`` synthetic draws per generation.
        num_generations: ``n >= 0``.
        variance: Truth :math:`\sigma^2 > 0`.
        init_mean_error: :math:`\mu_0 - \mu^*`.
        init_variance: :math:`\sigma_0^2` (default: the truth's).
        real_fraction: ``f`` in ``[0, 1]`` or ``None`` (pooling).
        estimator: ``"unbiased"`` or ``"mle"``.

    Returns:
        ``(E(mu_t - mu*)^2, E sigma_t^2)``, two ``(n + 1,) float64`` arrays.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> e, v = fresh_moments(10, 10, 100)
        >>> round(float(e[-1]), 4), round(float(v[-1]), 4)
        (0.0679, 1.0357)

    References:
        docs/theory.md AL-3, BO-1; proof: ``proofs/al-3-gaussian-mixing.md``.
    """
    caller = "fresh_moments"
    n, m, a, b, ddof = _gauss_mix_args(
        num_real, sample_size, real_fraction, estimator, caller
    )
    gens = check_int(num_generations, "num_generations", caller)
    var = check_positive_float(variance, "variance", caller)
    e0 = _check_real(init_mean_error, "init_mean_error", caller)
    v0 = (
        var
        if init_variance is None
        else check_positive_float(init_variance, "init_variance", caller)
    )
    mat, c = _gauss_mix_system(n, m, a, b, ddof, var / n, (n - 1) * var)
    return _iterate(mat, c, np.array([e0**2, v0]), gens)


def mixing_stationary_moments(
    num_real: int,
    sample_size: int,
    *,
    regime: str = "fresh",
    variance: float = 1.0,
    real_fraction: float | None = None,
    estimator: str = "unbiased",
) -> tuple[float, float]:
    r"""Fixed point :math:`(E_\infty, v_\infty)` of :func:`fresh_moments` or
    :func:`fixed_real_moments`.

    :math:`x_\infty = (I - A)^{-1}c` for the recursion :math:`x_{t+1} = Ax_t + c`;
    the limit of every path: the spectral radius of ``A`` is at most
    :math:`(1-f)W/(W - \mathrm{ddof}) < 1` when the real weight ``aN`` exceeds
    ddof. For ``regime="fixed"`` pass the real set's :math:`s_R^2` as
    ``variance``; the mean error is then about :math:`m_R`.
    Pooling (``real_fraction=None``), fixed real set:
    :math:`v_\infty = \frac{(N-1)(N+M)}{N(N+M-1) - M^2/(N+2M)} s_R^2` (unbiased).

    Args:
        num_real: ``N >= 1``.
        sample_size: ``M >= 2``.
        regime: ``"fresh"`` or ``"fixed"``.
        variance: Truth :math:`\sigma^2` (fresh) or :math:`s_R^2` (fixed), > 0.
        real_fraction: ``f`` in ``(0, 1]`` or ``None`` (pooling).
        estimator: ``"unbiased"`` or ``"mle"``.

    Returns:
        ``(E_inf, v_inf)`` floats.

    Raises:
        ValueError: invalid arguments, ``real_fraction = 0`` (no real data: no
            stationary law, the chain is the replace chain), or a spectral radius
            ``>= 1``.

    Examples:
        >>> e, v = mixing_stationary_moments(10, 10)
        >>> round(e, 4), round(v, 4)
        (0.0679, 1.0357)

    References:
        docs/theory.md AL-3, BE-2, SE-2, BO-1; proof:
        ``proofs/al-3-gaussian-mixing.md``.
    """
    caller = "mixing_stationary_moments"
    regime = _check_regime(regime, caller)
    n, m, a, b, ddof = _gauss_mix_args(
        num_real, sample_size, real_fraction, estimator, caller
    )
    var = check_positive_float(variance, "variance", caller)
    if a == 0.0:
        fail(
            caller,
            "real_fraction",
            "> 0 for a stationary law",
            0.0,
            "With no real data the chain is the replace chain (GC-3, GC-5).",
        )
    if regime == "fresh":
        mat, c = _gauss_mix_system(n, m, a, b, ddof, var / n, (n - 1) * var)
    else:
        mat, c = _gauss_mix_system(n, m, a, b, ddof, 0.0, (n - ddof) * var)
    # rho(A) <= (1 - f) W / (W - ddof) < 1 when aN > ddof (the proof's Lyapunov
    # functional); otherwise check the spectral radius itself.
    radius = float(np.max(np.abs(np.linalg.eigvals(mat))))
    if radius >= 1.0:
        fail(
            caller,
            "num_real",
            "large enough for a contraction (spectral radius < 1)",
            n,
            f"The moment recursion has spectral radius {radius:.4g}; pass more real "
            "points or a larger real_fraction.",
        )
    x = np.linalg.solve(np.eye(2) - mat, c)
    return float(x[0]), float(x[1])


def fresh_known_variance_stationary_error(
    num_real: int,
    sample_size: int,
    *,
    real_fraction: float | None = None,
    variance: float = 1.0,
) -> float:
    r"""AL-3 with the variance known: stationary :math:`E(\mu_t - \mu^*)^2`.

    Only the mean is refitted (:math:`\sigma^2` known), so
    :math:`E_{t+1} = (1-f)^2E_t + \sigma^2(f^2/N + (1-f)^2/M)` and

    .. math:: E_\infty = \sigma^2\frac{f^2/N + (1-f)^2/M}{1 - (1-f)^2}
       \;\overset{M = \lambda N,\ f = 1/(1+\lambda)}{=}\;
       \frac{\sigma^2(1+\lambda)}{N(1+2\lambda)},

    finite for every :math:`\lambda \ge 0` (between :math:`\sigma^2/(2N)` and
    :math:`\sigma^2/N`).

    Args:
        num_real: ``N >= 1`` fresh real draws per generation.
        sample_size: ``M >= 1`` synthetic draws per generation.
        real_fraction: ``f`` in ``(0, 1]`` or ``None`` (pooling, ``f = N/(N+M)``).
        variance: :math:`\sigma^2 > 0`.

    Returns:
        :math:`E_\infty` as a float.

    Raises:
        ValueError: invalid arguments or ``real_fraction = 0``.

    Examples:
        >>> round(fresh_known_variance_stationary_error(10, 10), 6)
        0.066667

    References:
        docs/theory.md AL-3; proof: ``proofs/al-3-gaussian-mixing.md``.
    """
    caller = "fresh_known_variance_stationary_error"
    n = check_int(num_real, "num_real", caller, minimum=1)
    m = check_constant_size(sample_size, caller, minimum=1)
    var = check_positive_float(variance, "variance", caller)
    a, b = _weights(n, m, real_fraction, caller)
    f = a * n / (a * n + b * m)
    if f == 0.0:
        fail(
            caller,
            "real_fraction",
            "> 0 for a stationary law",
            0.0,
            "With no real data the error grows like σ²t/M (GC-5).",
        )
    return var * (f**2 / n + (1 - f) ** 2 / m) / (1 - (1 - f) ** 2)


# ------------------------------------------------------------------ categorical ---


def _cat_args(ref_probs, num_real, sample_size, regime, real_fraction, caller):
    p = _check_probs(ref_probs, "ref_probs", caller)
    regime = _check_regime(regime, caller)
    n = check_int(num_real, "num_real", caller, minimum=1)
    m = check_constant_size(sample_size, caller, minimum=1)
    a, b = _weights(n, m, real_fraction, caller)
    f = a * n / (a * n + b * m)
    h = 1.0 - float(p @ p)
    h_real = h / n if regime == "fresh" else 0.0
    return p, m, f, h, h_real


def categorical_mixing_sq_error(
    ref_probs,
    num_real: int,
    sample_size: int,
    num_generations: int,
    *,
    regime: str = "fresh",
    init_probs=None,
    real_fraction: float | None = None,
) -> np.ndarray:
    r"""Categorical chain with real data: exact :math:`E\lVert p_t - p_{ref}\rVert^2`.

    Each fit is the weighted empirical distribution of ``N`` real points and ``M``
    draws from :math:`p_t`: :math:`p_{t+1} = f\hat q_t + (1-f)\hat p_t`.
    ``regime="fixed"``: :math:`\hat q_t \equiv p_R` (one real set, ``ref_probs`` =
    its empirical distribution); ``"fresh"``: :math:`\hat q_t` from ``N`` new draws of
    :math:`p^*` (``ref_probs``). With :math:`e_0 = p_0 - p_{ref}`,
    :math:`H = 1 - \lVert p_{ref}\rVert^2`, :math:`h = H/N` (fresh) or 0 (fixed):

    .. math:: D_{t+1} = (1-f)^2(1 - \tfrac1M)D_t + f^2h
       + \tfrac{(1-f)^2}{M}\bigl(H - 2(1-f)^t\,p_{ref}\cdot e_0\bigr).

    Args:
        ref_probs: ``(K,)`` :math:`p_R` (fixed) or :math:`p^*` (fresh).
        num_real: ``N >= 1``.
        sample_size: ``M >= 1`` synthetic draws per generation.
        num_generations: ``n >= 0``.
        regime: ``"fresh"`` or ``"fixed"``.
        init_probs: ``(K,)`` :math:`p_0` (default ``ref_probs``).
        real_fraction: ``f`` in ``[0, 1]`` or ``None`` (pooling).

    Returns:
        ``(n + 1,) float64`` array :math:`D_0, \dots, D_n`.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> d = categorical_mixing_sq_error([0.5, 0.3, 0.2], 10, 30, 200)
        >>> round(float(d[-1]), 4)
        0.034

    References:
        docs/theory.md SE-2 (b), BO-1; proof: ``proofs/se-2-categorical-mixing.md``.
    """
    caller = "categorical_mixing_sq_error"
    p, m, f, h, h_real = _cat_args(
        ref_probs, num_real, sample_size, regime, real_fraction, caller
    )
    gens = check_int(num_generations, "num_generations", caller)
    p0 = _check_init_probs(init_probs, p, "ref_probs", caller)
    e0 = p0 - p
    lin = float(p @ e0)
    g = (1.0 - f) ** 2
    out = np.empty(gens + 1)
    out[0] = float(e0 @ e0)
    for t in range(gens):
        drift = h - 2.0 * (1.0 - f) ** t * lin
        out[t + 1] = g * (1.0 - 1.0 / m) * out[t] + f**2 * h_real + g * drift / m
    return out


def categorical_mixing_stationary_sq_error(
    ref_probs,
    num_real: int,
    sample_size: int,
    *,
    regime: str = "fresh",
    real_fraction: float | None = None,
) -> float:
    r"""Limit of :func:`categorical_mixing_sq_error` (SE-2 (b)).

    .. math:: D_\infty = \frac{f^2h + (1-f)^2H/M}{1 - (1-f)^2(1 - 1/M)},

    the limit for every start when ``f > 0``, far below the no-real-data value
    :math:`H = 1 - \lVert p^*\rVert^2`; ``f = 0`` returns ``H``, the limit of the
    replace chain started at :math:`p_{ref}` (absorption, WF-3).

    Args:
        ref_probs: ``(K,)`` :math:`p_R` (fixed) or :math:`p^*` (fresh).
        num_real: ``N >= 1``.
        sample_size: ``M >= 1``.
        regime: ``"fresh"`` or ``"fixed"``.
        real_fraction: ``f`` in ``[0, 1]`` or ``None`` (pooling).

    Returns:
        :math:`D_\infty` as a float.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(categorical_mixing_stationary_sq_error([0.5, 0.3, 0.2], 10, 30), 4)
        0.034

    References:
        docs/theory.md SE-2 (b), BO-1; proof: ``proofs/se-2-categorical-mixing.md``.
    """
    caller = "categorical_mixing_stationary_sq_error"
    _, m, f, h, h_real = _cat_args(
        ref_probs, num_real, sample_size, regime, real_fraction, caller
    )
    g = (1.0 - f) ** 2
    # f = 0 (no real data) gives D_inf = H: the replace chain started at p_ref is
    # absorbed at a point mass (WF-3, SH-3).
    return (f**2 * h_real + g * h / m) / (1.0 - g * (1.0 - 1.0 / m))
