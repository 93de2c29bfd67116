r"""Closed forms for the multivariate Gaussian chain (Theorem 3.1, SH-7).

Truth :math:`N(\mu_0, \Sigma_0)` in ``d`` dimensions; generation ``i`` draws ``M_i``
points and refits the mean and the covariance (ddof 1 or 0). By the Bartlett
decomposition the Cholesky factor of the fitted covariance of standard normal draws
is lower-triangular with independent :math:`\sqrt{\chi^2_{M_i-k}}` diagonal entries,
which gives the log-determinant, its variance, the Lyapunov exponents and the
generation by which almost every chain has collapsed. Derivations:
``proofs/sh-7-multivariate-collapse.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import polygamma

from collapse_jax.theory._schedule import (
    SampleSize,
    as_schedule,
    check_constant_size,
    check_estimator,
    check_int,
)
from collapse_jax.theory.gaussian import _log_chi2_mean

__all__ = [
    "collapse_generation",
    "expected_log_det_cov",
    "lyapunov_exponents",
    "variance_log_det_cov",
]


def _check_dim(dim: object, caller: str) -> int:
    return check_int(dim, "dim", caller, minimum=1)


def _check_log_det_cov0(value: Any, caller: str) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(
            f"{caller}(): log_det_cov0 must be finite; got {value}. Pass "
            "log det Sigma_0 of a non-singular covariance."
        )
    return value


def _covariance_schedule(
    sample_size: SampleSize, num_generations: int, dim: int, caller: str
) -> np.ndarray:
    # (n,) float64 sample sizes, each >= dim + 1.
    return as_schedule(
        sample_size,
        num_generations,
        caller=caller,
        minimum=dim + 1,
        reason=f"to estimate a {dim}-dimensional covariance (dim + 1)",
    ).astype(np.float64)


def _bartlett_terms(
    sample_size: SampleSize,
    num_generations: int,
    dim: int,
    caller: str,
) -> np.ndarray:
    # (n, d) float array of chi-square dofs M_i - k, k = 1..d (Bartlett).
    m = _covariance_schedule(sample_size, num_generations, dim, caller)
    k = np.arange(1, dim + 1, dtype=np.float64)
    return m[:, None] - k[None, :]


def expected_log_det_cov(
    sample_size: SampleSize,
    num_generations: int,
    dim: int,
    *,
    estimator: str = "unbiased",
    log_det_cov0: float = 0.0,
) -> float:
    r"""Expected log-determinant of the fitted covariance after ``n`` fits.

    By the Bartlett decomposition of the Wishart factor,

    .. math:: E\log\det\Sigma_n = \log\det\Sigma_0 + \sum_{i<n}\sum_{k=1}^{d}
       \left[\psi\!\left(\tfrac{M_i-k}{2}\right) + \log\frac{2}{D_i}\right],

    with :math:`D_i = M_i - 1` (unbiased) or :math:`M_i` (MLE). ``dim = 1``
    reduces to :func:`expected_log_variance`. The preferred test of
    multivariate collapse: light tails at every ``n``.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= dim + 1``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        dim: Dimension ``d >= 1``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        log_det_cov0: :math:`\log\det\Sigma_0` of the truth.

    Returns:
        :math:`E\log\det\Sigma_n` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_log_det_cov(12, 10, 3), 4)
        -6.0816

    References:
        docs/theory.md SH-7; proof: ``proofs/sh-7-multivariate-collapse.md``.
    """
    caller = "expected_log_det_cov"
    ddof = check_estimator(estimator, caller)
    dim = _check_dim(dim, caller)
    log_det_cov0 = _check_log_det_cov0(log_det_cov0, caller)
    dof = _bartlett_terms(sample_size, num_generations, dim, caller)
    m = dof[:, :1] + 1.0
    return float(log_det_cov0 + np.sum(_log_chi2_mean(dof) - np.log(m - ddof)))


def variance_log_det_cov(
    sample_size: SampleSize, num_generations: int, dim: int
) -> float:
    r"""Variance of the log-determinant of the fitted covariance after ``n`` fits.

    .. math:: \operatorname{Var}\log\det\Sigma_n = \sum_{i<n}\sum_{k=1}^{d}
       \psi'\!\left(\tfrac{M_i-k}{2}\right),

    for either estimator.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= dim + 1``) of length
            ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.
        dim: Dimension ``d >= 1``.

    Returns:
        :math:`\operatorname{Var}\log\det\Sigma_n` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(variance_log_det_cov(12, 10, 3), 4)
        6.6939

    References:
        docs/theory.md SH-7; proof: ``proofs/sh-7-multivariate-collapse.md``.
    """
    caller = "variance_log_det_cov"
    dim = _check_dim(dim, caller)
    dof = _bartlett_terms(sample_size, num_generations, dim, caller)
    return float(polygamma(1, dof / 2.0).sum())


def lyapunov_exponents(
    sample_size: int, dim: int, *, estimator: str = "unbiased"
) -> np.ndarray:
    r"""Lyapunov exponents per generation of the eigenvalues of :math:`\Sigma_n`.

    .. math:: \gamma_k = \psi\!\left(\tfrac{M-k}{2}\right) + \log\frac{2}{D},
       \qquad k = 1, \dots, d,

    with :math:`D = M - 1` (unbiased) or :math:`M` (MLE): the expected logs of
    the Bartlett diagonal entries. All negative, so :math:`\Sigma_n \to 0` a.s.
    The finite-``n`` average of :math:`\frac1n\log\lambda_{\max}` is biased
    upward; test through the log-determinant or a long QR product.

    Args:
        sample_size: Constant sample size ``M >= dim + 1``.
        dim: Dimension ``d >= 1``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).

    Returns:
        ``(dim,) float64`` array, decreasing.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> np.round(lyapunov_exponents(12, 3), 4).tolist()
        [-0.0937, -0.1986, -0.3159]

    References:
        docs/theory.md SH-7; proof: ``proofs/sh-7-multivariate-collapse.md``.
    """
    m, dim, ddof = _constant_mvn_args(sample_size, dim, estimator, "lyapunov_exponents")
    k = np.arange(1, dim + 1, dtype=np.float64)
    return _log_chi2_mean(m - k) - np.log(m - ddof)


def _constant_mvn_args(
    sample_size: object, dim: object, estimator: object, caller: str
) -> tuple[int, int, int]:
    ddof = check_estimator(estimator, caller)
    dim = _check_dim(dim, caller)
    m = check_constant_size(
        sample_size,
        caller,
        minimum=dim + 1,
        reason=f"to estimate a {dim}-dimensional covariance (dim + 1)",
    )
    return m, dim, ddof


def collapse_generation(
    sample_size: int,
    epsilon: float,
    *,
    estimator: str = "unbiased",
    dim: int = 1,
    z: float = 5.0,
) -> int:
    r"""A generation by which the determinant has almost surely collapsed.

    The smallest ``n >= 1`` with

    .. math:: n\sum_{k=1}^{d}\gamma_k + z\sqrt{n\sum_{k=1}^{d}
       \psi'\!\left(\tfrac{M-k}{2}\right)} < \log\varepsilon,

    i.e. the mean of :math:`\log\det\Sigma_n/\det\Sigma_0` lies ``z`` standard
    deviations below :math:`\log\varepsilon`. By the CLT on this sum of
    independent light-tailed terms, from that ``n`` on at least
    :math:`\Phi(z)` of chains have :math:`\det\Sigma_n/\det\Sigma_0 < \varepsilon`
    (docs/theory.md §12.1; SH-7 (iii)). With ``x = sqrt(n)`` the condition is a
    quadratic in ``x``, solved in closed form then checked on the integers.

    Args:
        sample_size: Constant sample size ``M >= dim + 1``.
        epsilon: Collapse threshold, ``0 < epsilon < 1``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        dim: Dimension ``d >= 1``.
        z: Number of standard deviations, finite and ``>= 0``.

    Returns:
        The generation ``n`` as an int.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> collapse_generation(10, 1e-3)
        583

    References:
        docs/theory.md SH-7, §12.1; proof: ``proofs/sh-7-multivariate-collapse.md``.
    """
    caller = "collapse_generation"
    try:
        epsilon = float(epsilon)
    except (TypeError, ValueError):
        epsilon = float("nan")
    if not 0.0 < epsilon < 1.0:
        raise ValueError(
            f"{caller}(): epsilon must satisfy 0 < epsilon < 1; got {epsilon}. Pass "
            "a collapse threshold such as 1e-3."
        )
    try:
        z = float(z)
    except (TypeError, ValueError):
        z = float("nan")
    if not (np.isfinite(z) and z >= 0.0):
        raise ValueError(
            f"{caller}(): z must be a finite number >= 0; got {z}. Pass e.g. 5.0."
        )
    m, dim, ddof = _constant_mvn_args(sample_size, dim, estimator, caller)
    dof = m - np.arange(1, dim + 1, dtype=np.float64)
    drift = float(np.sum(_log_chi2_mean(dof) - np.log(m - ddof)))
    spread = float(polygamma(1, dof / 2.0).sum())
    log_eps = np.log(epsilon)

    def collapsed(n: int) -> bool:
        return n * drift + z * np.sqrt(n * spread) < log_eps

    # drift * x^2 + z sqrt(spread) x - log_eps = 0 has one positive root (drift < 0,
    # log_eps < 0); the condition holds strictly beyond it.
    b = z * np.sqrt(spread)
    root = (b + np.sqrt(b * b + 4.0 * drift * log_eps)) / (-2.0 * drift)
    n = max(1, int(np.floor(root * root)))
    while n > 1 and collapsed(n - 1):
        n -= 1
    while not collapsed(n):
        n += 1
    return n
