r"""Closed forms for the Gaussian chain: fitted variance, mean, W2 and collapse.

Truth :math:`N(\mu, \sigma^2)` (or :math:`N(\mu_0, \Sigma_0)` in ``d`` dimensions);
generation ``i`` draws ``M_i`` points from the current model and refits the mean
and the variance with the unbiased (ddof=1) or maximum-likelihood (ddof=0)
estimator. Index ``n`` counts fits (``n = 0`` is the truth). By Cochran's theorem
(GC-1)

.. math:: \sigma_n^2 = \sigma^2 \prod_{i<n} \lambda\,\chi^2_{M_i-1} / D_i,
   \qquad D_i = M_i - 1 \text{ (unbiased) or } M_i \text{ (MLE)},

with independent factors and an optional sampling bias :math:`\lambda` (AL-2).
Every function here is a host-side float64 closed form (NumPy/SciPy) derived
from that representation; the derivations are in ``proofs/``. The variance laws
(GC-1, GC-2, GC-3) are here; the fitted mean's drift and the W2 distance (GC-5,
SH-4 to SH-8) are in :mod:`collapse_jax.theory._gaussian_distance`, re-exported
here.
"""

from __future__ import annotations

import numpy as np
from scipy.special import polygamma

from collapse_jax.theory._gaussian_chain import (  # noqa: F401 - old import paths
    _SQRT_CHI2_SERIES,
    _VARIANCE_REASON,
    _gaussian_args,
    _log_chi2_mean,
    _log_mean_sqrt_chi2_over_dof,
    _log_sd_ratio,
    _mean_error,
    _variance_moment,
    _variance_schedule,
)
from collapse_jax.theory._gaussian_distance import (
    expected_squared_mean_error,
    expected_w2_sq,
    expected_w2_sq_leading_order,
    marginal_sample_variance,
    mean_increment_scale,
    quadratic_schedule,
    w2_sq_upper_bound,
)
from collapse_jax.theory._schedule import (
    SampleSize,
    check_constant_size,
    check_estimator,
    check_int,
    check_positive_float,
)

__all__ = [
    "expected_log_variance",
    "expected_sd",
    "expected_squared_mean_error",
    "expected_variance",
    "expected_w2_sq",
    "expected_w2_sq_leading_order",
    "log_variance_factor_mean",
    "log_variance_factor_var",
    "marginal_sample_variance",
    "mean_increment_scale",
    "quadratic_schedule",
    "variance_log_variance",
    "variance_of_variance",
    "w2_sq_upper_bound",
]


def log_variance_factor_mean(sample_size: int, estimator: str = "unbiased") -> float:
    r"""Mean log-factor of the fitted variance per generation, :math:`g(M)`.

    .. math:: g(M) = E\log\frac{\chi^2_{M-1}}{M-1}
       = \psi\!\left(\tfrac{M-1}{2}\right) + \log\frac{2}{M-1}
       \quad\text{(MLE: } \psi(\tfrac{M-1}{2}) + \log\tfrac{2}{M}\text{)}.

    Negative for every ``M``: the typical fitted variance shrinks by
    :math:`e^{g(M)}` per generation, :math:`g(M) \approx -1/(M-1)` (unbiased) and
    :math:`-2/M` (MLE), so the standard deviation loses a factor ``e`` every
    ``~2M`` (unbiased) or ``~M`` (MLE) generations (SU-3).

    Args:
        sample_size: Constant sample size ``M >= 2``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).

    Returns:
        :math:`g(M)` as a float.

    Raises:
        ValueError: ``sample_size`` is not an int ``>= 2`` or ``estimator`` is
            unknown.

    Examples:
        >>> round(log_variance_factor_mean(10), 4)
        -0.1152
        >>> round(log_variance_factor_mean(10, estimator="mle"), 4)
        -0.2206

    References:
        docs/theory.md GC-3, SU-3; proof: ``proofs/gc-3-log-variance.md``.
    """
    caller = "log_variance_factor_mean"
    ddof = check_estimator(estimator, caller)
    m = check_constant_size(sample_size, caller, minimum=2, reason=_VARIANCE_REASON)
    return float(_log_chi2_mean(np.float64(m - 1)) - np.log(m - ddof))


def log_variance_factor_var(sample_size: int) -> float:
    r"""Variance of the log-factor of the fitted variance per generation.

    .. math:: \operatorname{Var}\log\chi^2_{M-1} = \psi'\!\left(\tfrac{M-1}{2}\right),

    the same for both estimators (they differ by a constant factor).

    Args:
        sample_size: Constant sample size ``M >= 2``.

    Returns:
        :math:`\psi'((M-1)/2)` as a float.

    Raises:
        ValueError: ``sample_size`` is not an int ``>= 2``.

    Examples:
        >>> round(log_variance_factor_var(10), 4)
        0.2487

    References:
        docs/theory.md GC-3; proof: ``proofs/gc-3-log-variance.md``.
    """
    m = check_constant_size(
        sample_size, "log_variance_factor_var", minimum=2, reason=_VARIANCE_REASON
    )
    return float(polygamma(1, (m - 1) / 2.0))


def expected_log_variance(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
    sampling_bias: float = 1.0,
) -> float:
    r"""Expected log of the fitted variance after ``n`` fits.

    .. math:: E\log\sigma_n^2 = \log\sigma^2 + \sum_{i<n} g(M_i) + n\log\lambda,

    with :math:`g` from :func:`log_variance_factor_mean` and sampling bias
    :math:`\lambda` (draws from :math:`N(\mu_n, \lambda\sigma_n^2)`, AL-2). The
    preferred statistic for variance collapse: light tails at every ``n``.

    Args:
        sample_size: Int ``M`` or a schedule ``M_0, M_1, ...`` (each ``>= 2``) of
            length ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.
        sampling_bias: :math:`\lambda > 0`; 1 is unbiased sampling.

    Returns:
        :math:`E\log\sigma_n^2` as a float.

    Raises:
        ValueError: An argument is out of range (see :func:`as_schedule`).

    Examples:
        >>> round(expected_log_variance(20, 10), 4)
        -0.5355
        >>> expected_log_variance([5, 10], 0, variance=2.0) == float(np.log(2.0))
        True

    References:
        docs/theory.md GC-3, AL-2; proof: ``proofs/gc-3-log-variance.md``.
    """
    caller = "expected_log_variance"
    ddof = check_estimator(estimator, caller)
    variance = check_positive_float(variance, "variance", caller)
    sampling_bias = check_positive_float(sampling_bias, "sampling_bias", caller)
    m = _variance_schedule(sample_size, num_generations, caller).astype(np.float64)
    g = _log_chi2_mean(m - 1.0) - np.log(m - ddof)
    return float(np.log(variance) + g.sum() + m.size * np.log(sampling_bias))


def variance_log_variance(sample_size: SampleSize, num_generations: int) -> float:
    r"""Variance of the log of the fitted variance after ``n`` fits.

    .. math:: \operatorname{Var}\log\sigma_n^2 = \sum_{i<n}\psi'\!\left(
       \tfrac{M_i-1}{2}\right),

    for either estimator and any sampling bias (both shift the log by constants).

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.

    Returns:
        :math:`\operatorname{Var}\log\sigma_n^2` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(variance_log_variance(20, 10), 4)
        1.11

    References:
        docs/theory.md GC-3; proof: ``proofs/gc-3-log-variance.md``.
    """
    m = _variance_schedule(sample_size, num_generations, "variance_log_variance")
    return float(polygamma(1, (m - 1.0) / 2.0).sum())


def expected_variance(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
    sampling_bias: float = 1.0,
    moment: int = 1,
) -> float:
    r"""Raw moment :math:`E\sigma_n^{2r}` of the fitted variance after ``n`` fits.

    .. math:: E\sigma_n^{2r} = \sigma^{2r}\prod_{i<n}\lambda^r
       \frac{E(\chi^2_{M_i-1})^r}{D_i^r},\qquad
       E(\chi^2_k)^r = \prod_{j<r}(k + 2j),

    with :math:`D_i = M_i - 1` (unbiased) or :math:`M_i` (MLE). ``moment = 1``
    gives :math:`\sigma^2` for the unbiased estimator (a martingale) and
    :math:`\sigma^2\prod_i (M_i - 1)/M_i` for the MLE. Heavy-tailed for
    ``n >> M``: test these only for ``n <= M`` (docs/theory.md §12.3).

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.
        sampling_bias: :math:`\lambda > 0`; 1 is unbiased sampling.
        moment: Integer ``r >= 1``.

    Returns:
        :math:`E\sigma_n^{2r}` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> expected_variance(10, 5)
        1.0
        >>> round(expected_variance(10, 1, estimator="mle"), 6)
        0.9
        >>> round(expected_variance(11, 1, moment=2), 6)
        1.2

    References:
        docs/theory.md GC-1, GC-2, AL-2; proof: ``proofs/gc-2-variance-moments.md``.
    """
    caller = "expected_variance"
    m, ddof, variance = _gaussian_args(
        sample_size, num_generations, estimator, variance, caller
    )
    sampling_bias = check_positive_float(sampling_bias, "sampling_bias", caller)
    moment = check_int(moment, "moment", caller, minimum=1)
    return float(
        variance**moment
        * sampling_bias ** (moment * m.size)
        * _variance_moment(m, ddof, moment)
    )


def variance_of_variance(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
    sampling_bias: float = 1.0,
) -> float:
    r"""Variance of the fitted variance after ``n`` fits.

    .. math:: \operatorname{Var}\sigma_n^2 = (E\sigma_n^2)^2\left[\prod_{i<n}
       \left(1 + \frac{2}{M_i - 1}\right) - 1\right],

    i.e. :math:`\sigma^4[\prod_i(1 + 2/(M_i-1)) - 1]` for the unbiased estimator.
    Computed with ``expm1``/``log1p``, so it keeps full relative precision when
    small.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.
        sampling_bias: :math:`\lambda > 0`; 1 is unbiased sampling.

    Returns:
        :math:`\operatorname{Var}\sigma_n^2` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(variance_of_variance(11, 1), 6)
        0.2

    References:
        docs/theory.md GC-2; proof: ``proofs/gc-2-variance-moments.md``.
    """
    caller = "variance_of_variance"
    m, ddof, variance = _gaussian_args(
        sample_size, num_generations, estimator, variance, caller
    )
    sampling_bias = check_positive_float(sampling_bias, "sampling_bias", caller)
    mean = _variance_moment(m, ddof, 1) * variance * sampling_bias**m.size
    # E sigma^4 / (E sigma^2)^2 = prod (k + 2) / k with k = M - 1.
    return float(mean**2 * np.expm1(np.log1p(2.0 / (m - 1.0)).sum()))


def expected_sd(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> float:
    r"""Expected fitted standard deviation :math:`E\sigma_n` after ``n`` fits.

    .. math:: E\sigma_n = \sigma\prod_{i<n} E\sqrt{\chi^2_{M_i-1}/D_i},\qquad
       E\sqrt{\chi^2_k} = \sqrt{2}\,\frac{\Gamma((k+1)/2)}{\Gamma(k/2)},

    with :math:`D_i = M_i - 1` (unbiased) or :math:`M_i` (MLE). Below
    :math:`\sigma` even for the unbiased variance (Jensen). Needed for the exact
    :math:`E W_2^2` (:func:`expected_w2_sq`).

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        :math:`E\sigma_n` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_sd(10, 1), 4)
        0.9727

    References:
        docs/theory.md GC-1, SH-5; proof: ``proofs/sh-5-wasserstein.md``.
    """
    m, ddof, variance = _gaussian_args(
        sample_size, num_generations, estimator, variance, "expected_sd"
    )
    return float(np.sqrt(variance) * np.exp(_log_sd_ratio(m, ddof)))
