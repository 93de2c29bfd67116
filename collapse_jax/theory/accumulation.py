r"""Closed forms for the accumulating regime (LR-3, docs/theory.md §11).

The 1-D Gaussian chain fitted to *every* draw so far (unit weights). The fitted mean
is a running average, so its error is bounded by :math:`\pi^2\sigma^2/(6M)`, and
:math:`E\sigma_n^2` decreases to a positive limit. Exact host-side float64 formulas
(NumPy). Proof: ``proofs/lr-3-gaussian-accumulation.md``.

Index ``t`` counts fits (``t = 0`` is the initial model).
"""

from __future__ import annotations

import math

import numpy as np

from collapse_jax.theory._mixing_checks import (
    _VARIANCE_REASON,
)
from collapse_jax.theory._schedule import (
    SampleSize,
    as_schedule,
    check_constant_size,
    check_estimator,
    check_positive_float,
)

__all__ = [
    "accumulate_mean_error_bound",
    "accumulate_squared_mean_error",
    "accumulate_variance",
    "accumulate_variance_limit",
]


def _accumulate_path(
    sample_size: SampleSize,
    num_generations: int,
    estimator: str,
    variance: float,
    caller: str,
) -> tuple[np.ndarray, np.ndarray]:
    """``(E(mu_t - mu)^2, E sigma_t^2)`` for ``t = 0..n`` (arrays of length n + 1)."""
    ddof = check_estimator(estimator, caller)
    var = check_positive_float(variance, "variance", caller)
    m = as_schedule(
        sample_size, num_generations, caller=caller, minimum=2, reason=_VARIANCE_REASON
    ).astype(np.float64)
    n = m.size
    seen = np.concatenate(([0.0], np.cumsum(m)))  # N_t: points seen by model t
    # Expected pooled sum of squares grows by v_t (M_t - 1 + N_t / N_{t+1}); model t
    # (t >= 1) has SS_t = (N_t - ddof) sigma_t^2, the truth contributes no SS.
    factor = np.empty(n)
    if n:
        factor[0] = (m[0] - 1.0) / (m[0] - ddof)
        nt, nt1 = seen[1:n], seen[2 : n + 1]
        factor[1:] = (nt - ddof + m[1:] - 1.0 + nt / nt1) / (nt1 - ddof)
    v = var * np.concatenate(([1.0], np.cumprod(factor)))
    # mu_{t+1} - mu_t = M_t (xbar_t - mu_t) / N_{t+1}: orthogonal increments.
    incr = m * v[:n] / seen[1:] ** 2
    e = np.concatenate(([0.0], np.cumsum(incr)))
    return e, v


def accumulate_squared_mean_error(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> float:
    r"""Exact :math:`E(\mu_n - \mu)^2` of the 1-D Gaussian chain under accumulation.

    Model ``t + 1`` is fitted (mean and variance) to all
    :math:`N_{t+1} = M_0 + \dots + M_t` points drawn so far, so
    :math:`\mu_{t+1} - \mu_t = M_t(\bar x_t - \mu_t)/N_{t+1}` and

    .. math:: E(\mu_n - \mu)^2 = \sum_{t<n} \frac{M_t\,E\sigma_t^2}{N_{t+1}^2}
       \;\overset{M_t \equiv M}{=}\; \sum_{t<n}\frac{E\sigma_t^2}{M (t+1)^2}
       \le \frac{\pi^2\sigma^2}{6M},

    with :math:`E\sigma_t^2` from :func:`accumulate_variance`.

    Args:
        sample_size: ``M`` (int ``>= 2``) or a schedule ``M_0, M_1, ...``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Truth variance :math:`\sigma^2 > 0`.

    Returns:
        :math:`E(\mu_n - \mu)^2` as a float.

    Raises:
        ValueError: invalid sizes, generations, estimator or variance.

    Examples:
        >>> round(accumulate_squared_mean_error(10, 200), 4)
        0.1624

    References:
        docs/theory.md LR-3; proof: ``proofs/lr-3-gaussian-accumulation.md``.
    """
    e, _ = _accumulate_path(
        sample_size,
        num_generations,
        estimator,
        variance,
        "accumulate_squared_mean_error",
    )
    return float(e[-1])


def accumulate_variance(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> float:
    r"""Exact :math:`E\sigma_n^2` of the 1-D Gaussian chain under accumulation.

    Unbiased: :math:`E\sigma_1^2 = \sigma^2` and, for :math:`t \ge 1`,
    :math:`E\sigma_{t+1}^2 = E\sigma_t^2\,(1 - \frac{M_t/N_{t+1}}{N_{t+1} - 1})`
    (:math:`= 1 - 1/((t+1)((t+1)M - 1))` for constant ``M``). MLE:
    :math:`E\sigma_{t+1}^2 = E\sigma_t^2(1 - M_t/N_{t+1}^2)` for every
    :math:`t \ge 0`.

    Args:
        sample_size: ``M`` (int ``>= 2``) or a schedule ``M_0, M_1, ...``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Truth variance :math:`\sigma^2 > 0`.

    Returns:
        :math:`E\sigma_n^2` as a float.

    Raises:
        ValueError: invalid sizes, generations, estimator or variance.

    Examples:
        >>> round(accumulate_variance(10, 10), 4)
        0.9441

    References:
        docs/theory.md LR-3; proof: ``proofs/lr-3-gaussian-accumulation.md``.
    """
    _, v = _accumulate_path(
        sample_size, num_generations, estimator, variance, "accumulate_variance"
    )
    return float(v[-1])


def accumulate_variance_limit(
    sample_size: int, *, estimator: str = "unbiased", variance: float = 1.0
) -> float:
    r""":math:`\lim_n E\sigma_n^2` under accumulation with a constant ``M``.

    The infinite products of :func:`accumulate_variance` in closed form:

    .. math:: \text{unbiased: } \sigma^2\,
       \frac{\Gamma(2 - 1/M)}{\Gamma(2 - k_+)\,\Gamma(2 - k_-)},\quad
       k_\pm = \frac{1 \pm \sqrt{1 + 4M}}{2M};\qquad
       \text{MLE: } \sigma^2\,\frac{\sin(\pi/\sqrt M)}{\pi/\sqrt M}.

    Args:
        sample_size: Constant ``M >= 2``.
        estimator: ``"unbiased"`` or ``"mle"``.
        variance: Truth variance :math:`\sigma^2 > 0`.

    Returns:
        The limit as a float (positive: the variance does not collapse).

    Raises:
        ValueError: invalid size, estimator or variance.

    Examples:
        >>> round(accumulate_variance_limit(10), 4)
        0.9351

    References:
        docs/theory.md LR-3; proof: ``proofs/lr-3-gaussian-accumulation.md``.
    """
    caller = "accumulate_variance_limit"
    ddof = check_estimator(estimator, caller)
    m = float(
        check_constant_size(sample_size, caller, minimum=2, reason=_VARIANCE_REASON)
    )
    var = check_positive_float(variance, "variance", caller)
    if ddof == 0:
        x = math.pi / math.sqrt(m)
        return var * math.sin(x) / x
    root = math.sqrt(1.0 + 4.0 * m)
    k_plus, k_minus = (1.0 + root) / (2.0 * m), (1.0 - root) / (2.0 * m)
    log_ratio = (
        math.lgamma(2.0 - 1.0 / m)
        - math.lgamma(2.0 - k_plus)
        - math.lgamma(2.0 - k_minus)
    )
    return var * math.exp(log_ratio)


def accumulate_mean_error_bound(sample_size: int, *, variance: float = 1.0) -> float:
    r"""The LR-3 bound :math:`\pi^2\sigma^2/(6M)` on :math:`E(\mu_n - \mu)^2`.

    Holds for every ``n`` and both estimators (:math:`E\sigma_t^2 \le \sigma^2`).

    Args:
        sample_size: Constant ``M >= 2``.
        variance: Truth variance :math:`\sigma^2 > 0`.

    Returns:
        :math:`\pi^2\sigma^2/(6M)` as a float.

    Raises:
        ValueError: invalid size or variance.

    Examples:
        >>> round(accumulate_mean_error_bound(10), 4)
        0.1645

    References:
        docs/theory.md LR-3; proof: ``proofs/lr-3-gaussian-accumulation.md``.
    """
    caller = "accumulate_mean_error_bound"
    m = check_constant_size(sample_size, caller, minimum=2, reason=_VARIANCE_REASON)
    var = check_positive_float(variance, "variance", caller)
    return math.pi**2 * var / (6.0 * m)
