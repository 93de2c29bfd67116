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
from that representation; the derivations are in ``proofs/``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from collapse_jax.theory._schedule import (
    SampleSize,
    as_schedule,
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

_VARIANCE_REASON = "to estimate a variance"
_SQRT_CHI2_SERIES = np.array(
    [-1.0 / 8.0, 1.0 / 192.0, -1.0 / 640.0, 17.0 / 14336.0, -31.0 / 18432.0]
)


def _variance_schedule(
    sample_size: SampleSize, num_generations: int, caller: str
) -> np.ndarray:
    return as_schedule(
        sample_size, num_generations, caller=caller, minimum=2, reason=_VARIANCE_REASON
    )


def _log_chi2_mean(dof: np.ndarray | np.floating) -> np.ndarray:
    # E log chi2_k = psi(k/2) + log 2.
    return digamma(dof / 2.0) + np.log(2.0)


def _log_mean_sqrt_chi2_over_dof(dof: np.ndarray) -> np.ndarray:
    r"""``log E sqrt(chi2_k / k)`` for float64 ``k >= 1``, to full relative precision.

    :math:`E\sqrt{\chi^2_k} = \sqrt{2}\,\Gamma(x + 1/2)/\Gamma(x)` with ``x = k/2``,
    so the log is ``lgamma(x + 1/2) - lgamma(x) - log(x)/2``: a difference of
    numbers of size ``x log x`` whose result is about ``-1/(8x)``. For ``x >= 20``
    the gammaln difference loses digits (relative error ~1e-7 at k = 1e4), so we
    use the asymptotic series instead, whose truncation error is below 1e-16 there.
    """
    x = np.asarray(dof, dtype=np.float64) / 2.0
    small = x < 20.0
    xs = np.where(small, x, 20.0)
    exact = gammaln(xs + 0.5) - gammaln(xs) - 0.5 * np.log(xs)
    xl = np.where(small, 20.0, x)
    inv = 1.0 / xl
    # log(Gamma(x + 1/2) / (Gamma(x) sqrt(x))) = sum_j c_j x^(-2j-1), odd powers only.
    series = inv * np.polyval(_SQRT_CHI2_SERIES[::-1], inv * inv)
    return np.where(small, exact, series)


def _gaussian_args(
    sample_size: SampleSize,
    num_generations: int,
    estimator: str,
    variance: float,
    caller: str,
) -> tuple[np.ndarray, int, float]:
    # Validated (float64 schedule, ddof, variance) for the 1-D chain functions.
    ddof = check_estimator(estimator, caller)
    m = _variance_schedule(sample_size, num_generations, caller).astype(np.float64)
    return m, ddof, check_positive_float(variance, "variance", caller)


def _variance_moment(m: np.ndarray, ddof: int, moment: int) -> float:
    # E[(sigma_n^2 / sigma^2)^r] = prod_i prod_{j<r} (k_i + 2j) / D_i, k = M - 1.
    # A plain product of per-generation factors: each is exactly 1 for the unbiased
    # first moment, so the martingale property holds to the last bit.
    k = (m - 1.0)[:, None]
    j = np.arange(moment, dtype=np.float64)[None, :]
    return float(np.prod((k + 2.0 * j) / (m - ddof)[:, None]))


def _log_sd_ratio(m: np.ndarray, ddof: int) -> float:
    # log(E sigma_n / sigma) = sum_i [log E sqrt(chi2_k / k) + log(k / D) / 2].
    k = m - 1.0
    return float(np.sum(_log_mean_sqrt_chi2_over_dof(k) + 0.5 * np.log(k / (m - ddof))))


def _mean_error(m: np.ndarray, ddof: int) -> float:
    # E(mu_n - mu)^2 / sigma^2 = sum_i E[sigma_i^2 / sigma^2] / M_i, where
    # E sigma_i^2 / sigma^2 is the exclusive cumulative product of (M - 1) / D.
    shrink = (m - 1.0) / (m - ddof)
    before = np.concatenate(([1.0], np.cumprod(shrink)))[: m.size]
    return float(np.sum(before / m))


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
