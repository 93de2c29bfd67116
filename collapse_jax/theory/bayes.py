r"""Closed forms for Bayesian learners: posterior draws, MAP and posterior predictive.

A Bayesian chain replaces the plug-in fit of generation ``i`` by a posterior
quantity given the ``M`` points it drew (docs/theory.md §16, claims BL-1 to BL-6):

* ``"posterior_sample"``: model ``i + 1`` is ONE draw of the parameters from the
  posterior. This is the data-augmentation Gibbs sampler of the joint law of
  (parameter, data): with a proper prior its stationary law is the prior.
* ``"map"``: the posterior mode in the family's natural parameters
  (:math:`(\mu, \sigma^2)`, probabilities, rate).
* ``"posterior_predictive"``: model ``i + 1`` is the posterior predictive law.

Priors are given by their hyperparameters (defaults: the families' reference
priors, :math:`p(\mu, \sigma^2) \propto 1/\sigma^2`, Dirichlet(1/2), Gamma(1/2,
rate 0)). Every function is a host-side float64 closed form for a constant sample
size ``M``; index ``n`` counts fits (``n = 0`` is the truth). The derivations are in
``proofs/bl-*.md``. The categorical and Poisson closed forms live in
:mod:`collapse_jax.theory.bayes_discrete` and are re-exported here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import polygamma

from collapse_jax.theory._bayes_checks import _nonneg
from collapse_jax.theory._schedule import check_constant_size, check_int
from collapse_jax.theory.bayes_discrete import (
    categorical_count_transition,
    categorical_expected_homozygosity,
    categorical_expected_homozygosity_curve,
    categorical_map_absorption_probability,
    categorical_mean,
    categorical_posterior_sample_eigenvalues,
    poisson_map_absorption_probability,
    poisson_mean_curve,
    poisson_moments,
)
from collapse_jax.theory.gaussian import log_variance_factor_mean

__all__ = [
    "categorical_count_transition",
    "categorical_expected_homozygosity",
    "categorical_expected_homozygosity_curve",
    "categorical_map_absorption_probability",
    "categorical_mean",
    "categorical_posterior_sample_eigenvalues",
    "gaussian_map_log_var_moments",
    "gaussian_map_moments",
    "gaussian_posterior_sample_log_var_moments",
    "gaussian_posterior_sample_moments",
    "gaussian_predictive_log_var_bound",
    "gaussian_predictive_moments",
    "poisson_map_absorption_probability",
    "poisson_mean_curve",
    "poisson_moments",
]


def gaussian_posterior_sample_log_var_moments(
    sample_size: int, num_generations: int
) -> tuple[float, float]:
    r"""Mean and variance of :math:`\log\sigma_n^2 - \log\sigma_0^2`, posterior draws.

    Under the reference prior :math:`p(\mu, \sigma^2) \propto 1/\sigma^2` the drawn
    variance is :math:`\sigma_{n+1}^2 = \sigma_n^2 Q/Q'` with independent
    :math:`Q, Q' \sim \chi^2_{M-1}` (the data's scatter and the posterior draw), so
    :math:`\log\sigma_n^2` is a random walk with drift exactly 0 and step variance
    :math:`2\psi'(\frac{M-1}2)` (twice the plug-in's, GC-3).

    Args:
      sample_size: ``M >= 2``.
      num_generations: ``n >= 0``.

    Returns:
      ``(0.0, 2 n psi'((M-1)/2))``.

    Raises:
      ValueError: ``sample_size`` is not an int >= 2 or ``num_generations`` not an
        int >= 0.

    Examples:
      >>> [round(x, 4) for x in gaussian_posterior_sample_log_var_moments(10, 3)]
      [0.0, 1.4924]

    References:
      docs/theory.md BL-1; proof: ``proofs/bl-1-gaussian-posterior-sample.md``.
    """
    caller = "gaussian_posterior_sample_log_var_moments"
    m = check_constant_size(sample_size, caller, minimum=2, reason="(M - 1 >= 1)")
    n = check_int(num_generations, "num_generations", caller)
    return 0.0, float(2 * n * polygamma(1, (m - 1) / 2))


def _nig(caller, precision, concentration, rate):
    """The Normal-Inverse-Gamma hyperparameters, or the reference prior's."""
    if precision == 0 and concentration == -0.5 and rate == 0:
        return 0.0, -0.5, 0.0
    k0 = _nonneg(precision, "precision", caller, positive=True)
    a0 = _nonneg(concentration, "concentration", caller, positive=True)
    b0 = _nonneg(rate, "rate", caller, positive=True)
    return k0, a0, b0


def _gaussian_ps_matrix(m, k0, a0, b0):
    """E[(sigma'^2, d') | sigma^2, d] = A (sigma^2, d) + c, d = (mu - m0)^2."""
    alpha = a0 + m / 2 - 1  # E[sigma'^2 | data] = b_M / alpha
    kappa = k0 + m
    a11 = (m - 1 + k0 / kappa) / (2 * alpha)
    a12 = k0 * m / kappa / (2 * alpha)
    a21 = m / kappa**2 + a11 / kappa
    a22 = (m / kappa) ** 2 + a12 / kappa
    return np.array([[a11, a12], [a21, a22]]), np.array(
        [b0 / alpha, b0 / alpha / kappa]
    )


def gaussian_posterior_sample_moments(
    var0: float,
    sample_size: int,
    num_generations: int,
    *,
    mean_offset: float = 0.0,
    precision: float = 0.0,
    concentration: float = -0.5,
    rate: float = 0.0,
) -> tuple[float, float]:
    r""":math:`E\sigma_n^2` and :math:`E(\mu_n - m_0)^2` of the posterior-draw chain.

    Prior :math:`\mu \mid \sigma^2 \sim N(m_0, \sigma^2/\kappa_0)`,
    :math:`\sigma^2 \sim \mathrm{InvGamma}(a_0, b_0)`; the defaults
    (:math:`\kappa_0 = 0, a_0 = -\frac12, b_0 = 0`) are the reference prior
    :math:`\propto 1/\sigma^2`. The pair :math:`(E\sigma_n^2, E(\mu_n - m_0)^2)`
    follows an exact affine recursion; with a proper prior it converges to the
    prior's moments :math:`b_0/(a_0 - 1)` and :math:`b_0/((a_0 - 1)\kappa_0)`
    (stationary law = prior). Under the reference prior
    :math:`E\sigma_n^2 = \sigma_0^2 (\frac{M-1}{M-3})^n` and ``m_0`` is the truth's
    mean, so the second value is the mean's random-walk variance.

    Args:
      var0: the truth's variance :math:`\sigma_0^2 > 0`.
      sample_size: ``M``; needs :math:`a_0 + M/2 > 1` (``M > 3`` under the reference
        prior), else the moments are infinite (``inf`` is returned).
      num_generations: ``n >= 0``.
      mean_offset: :math:`\mu_0 - m_0` (the truth's mean minus the prior's).
      precision, concentration, rate: :math:`\kappa_0, a_0, b_0` (all > 0), or the
        defaults for the reference prior.

    Returns:
      ``(E sigma_n^2, E (mu_n - m_0)^2)``.

    Raises:
      ValueError: ``var0`` is not > 0, ``sample_size`` < 2, ``num_generations`` < 0,
        or a hyperparameter is not > 0 (other than the reference prior's defaults).

    Examples:
      >>> [round(x, 4) for x in gaussian_posterior_sample_moments(1.0, 10, 2)]
      [1.6531, 0.5224]

    References:
      docs/theory.md BL-1, BL-4; proofs: ``proofs/bl-1-gaussian-posterior-sample.md``,
      ``proofs/bl-4-gaussian-gibbs.md``.
    """
    caller = "gaussian_posterior_sample_moments"
    v0 = _nonneg(var0, "var0", caller, positive=True)
    m = check_constant_size(sample_size, caller, minimum=2, reason="(M - 1 >= 1)")
    n = check_int(num_generations, "num_generations", caller)
    k0, a0, b0 = _nig(caller, precision, concentration, rate)
    x = np.array([v0, float(mean_offset) ** 2])
    if n == 0:
        return float(x[0]), float(x[1])
    if a0 + m / 2 <= 1:
        return math.inf, math.inf
    a, c = _gaussian_ps_matrix(m, k0, a0, b0)
    for _ in range(n):
        x = a @ x + c
    return float(x[0]), float(x[1])


def gaussian_map_log_var_moments(
    sample_size: int, num_generations: int
) -> tuple[float, float]:
    r"""Mean and variance of :math:`\log\sigma_n^2 - \log\sigma_0^2`, MAP learner.

    The joint posterior mode under :math:`p \propto 1/\sigma^2` is
    :math:`(\bar x, S/(M+2))`: the plug-in chain with divisor ``M + 2``, drift
    :math:`\psi(\frac{M-1}2) + \log\frac2{M+2}` and step variance
    :math:`\psi'(\frac{M-1}2)` per generation.

    Args:
      sample_size: ``M >= 2``.
      num_generations: ``n >= 0``.

    Returns:
      ``(n g_map(M), n psi'((M-1)/2))``.

    Raises:
      ValueError: ``sample_size`` is not an int >= 2 or ``num_generations`` < 0.

    Examples:
      >>> [round(x, 4) for x in gaussian_map_log_var_moments(10, 1)]
      [-0.4029, 0.2487]

    References:
      docs/theory.md BL-2; proof: ``proofs/bl-2-gaussian-map.md``.
    """
    caller = "gaussian_map_log_var_moments"
    m = check_constant_size(sample_size, caller, minimum=2, reason="(M - 1 >= 1)")
    n = check_int(num_generations, "num_generations", caller)
    g = log_variance_factor_mean(m) + math.log((m - 1) / (m + 2))
    return float(n * g), float(n * polygamma(1, (m - 1) / 2))


def gaussian_map_moments(
    var0: float, sample_size: int, num_generations: int
) -> tuple[float, float]:
    r""":math:`E\sigma_n^2 = \sigma_0^2\rho^n` and :math:`E(\mu_n - \mu_0)^2`, MAP.

    :math:`\rho = (M-1)/(M+2)` and
    :math:`E(\mu_n - \mu_0)^2 = \frac{\sigma_0^2}{M}\sum_{i<n}\rho^i`.

    Args:
      var0: :math:`\sigma_0^2 > 0`.
      sample_size: ``M >= 2``.
      num_generations: ``n >= 0``.

    Returns:
      ``(E sigma_n^2, E (mu_n - mu_0)^2)``.

    Raises:
      ValueError: ``var0`` is not > 0, ``sample_size`` < 2 or ``num_generations`` < 0.

    Examples:
      >>> [round(x, 4) for x in gaussian_map_moments(1.0, 10, 2)]
      [0.5625, 0.175]

    References:
      docs/theory.md BL-2; proof: ``proofs/bl-2-gaussian-map.md``.
    """
    caller = "gaussian_map_moments"
    v0 = _nonneg(var0, "var0", caller, positive=True)
    m = check_constant_size(sample_size, caller, minimum=2, reason="(M - 1 >= 1)")
    n = check_int(num_generations, "num_generations", caller)
    rho = (m - 1) / (m + 2)
    return float(v0 * rho**n), float(v0 / m * sum(rho**i for i in range(n)))


def _predictive_factor(m: int) -> float:
    """E[v_{n+1} | v_n] / v_n: (1 + 1/M)(M - 1)/(M - 3)."""
    return (1 + 1 / m) * (m - 1) / (m - 3)


def gaussian_predictive_moments(
    var0: float, sample_size: int, num_generations: int
) -> tuple[float, float]:
    r"""Predictive learner: :math:`E v_n` and :math:`E(\mu_n - \mu_0)^2`.

    Model ``n`` is the Student-:math:`t_{M-1}(\bar x, s^2(1 + 1/M))` predictive of
    the reference prior; :math:`v_n` is its variance
    :math:`s^2(1 + 1/M)\frac{M-1}{M-3}` and :math:`\mu_n = \bar x` its mean.
    :math:`E v_n = \sigma_0^2 r^n` with :math:`r = (1 + \frac1M)\frac{M-1}{M-3} > 1`
    and :math:`E(\mu_n - \mu_0)^2 = \frac{\sigma_0^2}M\sum_{i<n} r^i`.

    Args:
      var0: :math:`\sigma_0^2 > 0`.
      sample_size: ``M``; for ``M <= 3`` the predictive has no variance (``inf``).
      num_generations: ``n >= 0``.

    Returns:
      ``(E v_n, E (mu_n - mu_0)^2)``.

    Raises:
      ValueError: ``var0`` is not > 0, ``sample_size`` < 2 or ``num_generations`` < 0.

    Examples:
      >>> [round(x, 4) for x in gaussian_predictive_moments(1.0, 10, 1)]
      [1.4143, 0.1]

    References:
      docs/theory.md BL-3; proof: ``proofs/bl-3-gaussian-predictive.md``.
    """
    caller = "gaussian_predictive_moments"
    v0 = _nonneg(var0, "var0", caller, positive=True)
    m = check_constant_size(sample_size, caller, minimum=2, reason="(M - 1 >= 1)")
    n = check_int(num_generations, "num_generations", caller)
    if n == 0:
        return v0, 0.0
    if m <= 3:
        return math.inf, (v0 / m if n == 1 else math.inf)
    r = _predictive_factor(m)
    return float(v0 * r**n), float(v0 / m * sum(r**i for i in range(n)))


def gaussian_predictive_log_var_bound(
    var0: float, sample_size: int, num_generations: int
) -> float:
    r"""Upper bound on :math:`E\log v_n` for the predictive learner (exact at n = 1).

    :math:`E\log v_n \le \log\sigma_0^2 + g(M) + \log\frac{(M+1)(M-1)}{M(M-3)} +
    (n - 1)\log r` (conditional Jensen), with equality at ``n = 1``; ``g`` is GC-3's.
    :math:`\log v_n` is a random walk from ``n = 1`` on (i.i.d. steps, the log of
    ``(1 + 1/M)`` times the sample variance of ``M`` standard :math:`t_{M-1}` draws);
    its drift has no closed form.

    Args:
      var0: :math:`\sigma_0^2 > 0`.
      sample_size: ``M >= 4``.
      num_generations: ``n >= 1``.

    Returns:
      The bound (the exact value at ``n = 1``).

    Raises:
      ValueError: ``var0`` is not > 0, ``sample_size`` < 4 or ``num_generations`` < 1.

    Examples:
      >>> round(gaussian_predictive_log_var_bound(1.0, 10, 1), 4)
      0.2314

    References:
      docs/theory.md BL-3; proof: ``proofs/bl-3-gaussian-predictive.md``.
    """
    caller = "gaussian_predictive_log_var_bound"
    v0 = _nonneg(var0, "var0", caller, positive=True)
    m = check_constant_size(sample_size, caller, minimum=4, reason="(a variance)")
    n = check_int(num_generations, "num_generations", caller, minimum=1)
    r = _predictive_factor(m)
    return float(math.log(v0) + log_variance_factor_mean(m) + n * math.log(r))


# --- Categorical, Dirichlet prior ---------------------------------------------------
