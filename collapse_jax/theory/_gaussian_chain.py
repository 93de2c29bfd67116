r"""Private kernels of the 1-D Gaussian chain's closed forms (chi-square laws).

The fitted variance is a product of independent :math:`\chi^2_{M_i-1}/D_i`
factors (GC-1, :mod:`collapse_jax.theory.gaussian`); these helpers evaluate its
moments, its log-mean and the mean's drift from a validated float64 schedule, for
:mod:`collapse_jax.theory.gaussian` (the variance) and
:mod:`collapse_jax.theory._gaussian_distance` (the mean and the W2 distance).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from collapse_jax.theory._schedule import (
    SampleSize,
    as_schedule,
    check_estimator,
    check_positive_float,
)

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
