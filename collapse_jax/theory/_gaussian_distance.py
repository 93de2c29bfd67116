r"""Closed forms for the 1-D Gaussian chain: the fitted mean's drift, W2 distance.

The mean's increments are martingale differences driven by the fitted variance
(GC-5, SH-4, SH-8); the squared W2 distance from the truth adds the mean's drift
and the scale's (SH-5), and stays bounded iff :math:`\sum_i 1/M_i < \infty`
(SH-6, :func:`quadratic_schedule`). The chain, its notation and the variance laws
are in :mod:`collapse_jax.theory.gaussian`, which re-exports every function here.
"""

from __future__ import annotations

import numpy as np

from collapse_jax.theory._gaussian_chain import (
    _VARIANCE_REASON,
    _gaussian_args,
    _log_chi2_mean,
    _log_sd_ratio,
    _mean_error,
    _variance_schedule,
)
from collapse_jax.theory._schedule import (
    SampleSize,
    check_constant_size,
    check_estimator,
    check_int,
    check_positive_float,
)

__all__ = [
    "expected_squared_mean_error",
    "expected_w2_sq",
    "expected_w2_sq_leading_order",
    "marginal_sample_variance",
    "mean_increment_scale",
    "quadratic_schedule",
    "w2_sq_upper_bound",
]


def expected_squared_mean_error(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> float:
    r"""Mean-square drift of the fitted mean, :math:`E(\mu_n - \mu)^2`.

    The increments :math:`\mu_{i+1} - \mu_i` are martingale differences with
    conditional variance :math:`\sigma_i^2/M_i`, so

    .. math:: E(\mu_n - \mu)^2 = \sigma^2\sum_{i<n}\frac{1}{M_i}
       \quad\text{(MLE: }\sigma^2\sum_{i<n}\frac{1}{M_i}\prod_{k<i}
       \frac{M_k - 1}{M_k}\text{)}.

    For a ``d``-dimensional truth pass ``variance = tr(Sigma_0)`` to get
    :math:`E\lVert\mu_n - \mu_0\rVert^2` (SH-7 (i)). Grows like
    :math:`\sigma^2 n/M` although :math:`\mu_n` converges a.s. (SH-8): heavy tail,
    test only for ``n <= M``.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth (or
            :math:`\operatorname{tr}\Sigma_0`).

    Returns:
        :math:`E(\mu_n - \mu)^2` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_squared_mean_error(20, 10), 6)
        0.5
        >>> round(expected_squared_mean_error([10, 10], 2, estimator="mle"), 6)
        0.19

    References:
        docs/theory.md GC-5, SH-7, SH-8; proof: ``proofs/gc-5-mean.md``.
    """
    m, ddof, variance = _gaussian_args(
        sample_size, num_generations, estimator, variance, "expected_squared_mean_error"
    )
    return float(variance * _mean_error(m, ddof))


def marginal_sample_variance(
    sample_size: SampleSize, num_generations: int, *, variance: float = 1.0
) -> float:
    r"""Across-chain variance of one draw from the model after ``n`` fits.

    .. math:: \operatorname{Var}X^n = \sigma^2\left(1 + \sum_{i<n}
       \frac{1}{M_i}\right)

    for unbiased refits: exact, not only to second order in :math:`1/M`. This is
    an across-chain quantity; within a chain the fitted variance shrinks.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        :math:`\operatorname{Var}X^n` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(marginal_sample_variance(20, 10), 6)
        1.5

    References:
        docs/theory.md SH-4; proof: ``proofs/sh-4-marginal-variance.md``.
    """
    caller = "marginal_sample_variance"
    variance = check_positive_float(variance, "variance", caller)
    m = _variance_schedule(sample_size, num_generations, caller)
    return float(variance * (1.0 + np.sum(1.0 / m)))


def expected_w2_sq(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> float:
    r"""Exact expected squared W2 distance from the truth after ``n`` fits.

    Between 1-D normals :math:`W_2^2 = (\mu_n - \mu)^2 + (\sigma_n - \sigma)^2`,
    so

    .. math:: E W_2^2 = E(\mu_n - \mu)^2 + E\sigma_n^2 - 2\sigma E\sigma_n
       + \sigma^2,

    from :func:`expected_squared_mean_error`, :func:`expected_variance` and
    :func:`expected_sd`. The scale part is evaluated as
    :math:`(E\sigma_n^2 - \sigma^2) + 2\sigma(\sigma - E\sigma_n)` with
    ``expm1`` to avoid cancellation at large ``M``. Its leading order is
    :func:`expected_w2_sq_leading_order`. Heavy-tailed: test for ``n <= M``.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        :math:`E W_2^2` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_w2_sq(100, 10), 4)
        0.1499
        >>> expected_w2_sq(10, 0)
        0.0

    References:
        docs/theory.md SH-5 (exact form), GC-2, GC-5; proof:
        ``proofs/sh-5-wasserstein.md``.
    """
    m, ddof, variance = _gaussian_args(
        sample_size, num_generations, estimator, variance, "expected_w2_sq"
    )
    # E sigma_n^2 - sigma^2 = sigma^2 expm1(sum log((M - 1) / D)); 0 when unbiased.
    var_excess = np.expm1(np.log((m - 1.0) / (m - ddof)).sum())
    # 2 sigma (sigma - E sigma_n) = -2 sigma^2 expm1(log(E sigma_n / sigma)).
    sd_deficit = -2.0 * np.expm1(_log_sd_ratio(m, ddof))
    return float(variance * (_mean_error(m, ddof) + var_excess + sd_deficit))


def expected_w2_sq_leading_order(
    sample_size: SampleSize, num_generations: int, *, variance: float = 1.0
) -> float:
    r"""Leading-order expected squared W2 distance (the paper's form).

    .. math:: E W_2^2 \approx \tfrac{3}{2}\sigma^2\sum_{i<n}\frac{1}{M_i},

    unbiased refits, error :math:`O(M^{-2})` per generation: within 5 % of
    :func:`expected_w2_sq` for ``n <= M``, ``M >= 8``. The paper indexes the
    distance after the ``(n+1)``-th fit; here ``n`` counts fits.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        The leading-order :math:`E W_2^2` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_w2_sq_leading_order(100, 10), 6)
        0.15

    References:
        docs/theory.md SH-5 (leading order, from the paper); proof:
        ``proofs/sh-5-wasserstein.md``.
    """
    caller = "expected_w2_sq_leading_order"
    variance = check_positive_float(variance, "variance", caller)
    m = _variance_schedule(sample_size, num_generations, caller)
    return float(1.5 * variance * np.sum(1.0 / m))


def w2_sq_upper_bound(
    sample_size: SampleSize, num_generations: int, *, variance: float = 1.0
) -> float:
    r"""Upper bound on the expected squared W2 distance, valid at every ``n``.

    .. math:: E W_2^2 \le \sigma^2\sum_{i<n}\frac{1}{M_i} + 2\sigma^2,

    for unbiased refits, from :math:`E\sigma_n^2 = \sigma^2` and
    :math:`E\sigma_n \ge 0`. It stays finite as ``n -> infinity`` iff
    :math:`\sum_i 1/M_i < \infty` (e.g. :func:`quadratic_schedule`), which is the
    "if" half of SH-6; the "only if" half is
    :math:`E W_2^2 \ge E(\mu_n - \mu)^2`.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        The bound as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(w2_sq_upper_bound(quadratic_schedule(10, 50), 50), 4)
        2.1625

    References:
        docs/theory.md SH-6; proof: ``proofs/sh-6-superlinear-sample-size.md``.
    """
    caller = "w2_sq_upper_bound"
    variance = check_positive_float(variance, "variance", caller)
    m = _variance_schedule(sample_size, num_generations, caller)
    return float(variance * (np.sum(1.0 / m) + 2.0))


def quadratic_schedule(base_size: int, num_generations: int) -> np.ndarray:
    r"""Quadratically growing sample sizes :math:`M_i = M_0 (i + 1)^2`.

    :math:`\sum_i 1/M_i = \pi^2/(6 M_0) < \infty`, so the expected W2 distance
    stays bounded and the fitted variance does not collapse (SH-6).

    Args:
        base_size: :math:`M_0 \ge 1`.
        num_generations: Number of generations ``n >= 0`` (the length).

    Returns:
        ``(num_generations,) int64`` array of sizes.

    Raises:
        ValueError: ``base_size`` is not a positive int or ``num_generations`` is
            not a non-negative int.

    Examples:
        >>> quadratic_schedule(10, 4).tolist()
        [10, 40, 90, 160]

    References:
        docs/theory.md SH-6; proof: ``proofs/sh-6-superlinear-sample-size.md``.
    """
    caller = "quadratic_schedule"
    base_size = check_int(base_size, "base_size", caller, minimum=1)
    num_generations = check_int(num_generations, "num_generations", caller)
    i = np.arange(1, num_generations + 1, dtype=np.int64)
    return base_size * i * i


def mean_increment_scale(
    sample_size: int,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> float:
    r"""Typical size of the late increments of the fitted mean.

    .. math:: \sigma\exp\!\left(n\,g(M)/2\right),

    the typical fitted standard deviation after ``n`` fits (constant ``M``). The
    mean converges a.s. to a random limit because its increments are driven by
    :math:`\sigma_n`, which decays geometrically; the median over chains of
    :math:`|\mu_{2n} - \mu_n|` tracks this scale within a factor 3 for
    ``n >> M`` (SH-8).

    Args:
        sample_size: Constant sample size ``M >= 2`` (schedules are rejected).
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        The scale as a float.

    Raises:
        ValueError: An argument is out of range, or ``sample_size`` is a
            schedule.

    Examples:
        >>> round(mean_increment_scale(10, 20), 4)
        0.316

    References:
        docs/theory.md SH-8, GC-3; proof: ``proofs/sh-8-mean-limit.md``.
    """
    caller = "mean_increment_scale"
    ddof = check_estimator(estimator, caller)
    variance = check_positive_float(variance, "variance", caller)
    m = check_constant_size(sample_size, caller, minimum=2, reason=_VARIANCE_REASON)
    n = check_int(num_generations, "num_generations", caller)
    g = _log_chi2_mean(np.float64(m - 1)) - np.log(m - ddof)
    return float(np.sqrt(variance) * np.exp(n * g / 2.0))
