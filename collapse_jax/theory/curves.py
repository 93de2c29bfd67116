r"""Theory curves over generations: the closed forms at ``n = 0, 1, ..., N`` at once.

Each function returns the ``(N + 1,) float64`` array whose entry ``n`` is the
scalar closed form of the same name at ``num_generations = n`` (entry 0 the
truth), computed in O(N) by cumulative sums and products over generations instead
of ``N`` calls that each cost O(n). The values equal the scalar functions' to
float64 rounding (``tests/theory/test_curves.py``): a 200,000-generation run
builds its curves in milliseconds, where ``N`` scalar calls took tens of minutes.

* :func:`expected_log_variance_curve`, :func:`expected_w2_sq_curve`: the 1-D
  Gaussian chain (:mod:`collapse_jax.theory.gaussian`).
* :func:`expected_log_det_cov_curve`: the d-dimensional Gaussian chain
  (:mod:`collapse_jax.theory.multivariate`).
* :func:`expected_gini_simpson_curve`, :func:`absorption_probability_curve`: the
  categorical chain (:mod:`collapse_jax.theory.discrete`).
* :func:`lost_mass_curve`, :func:`expected_support_size_curve`: forgetting of rare
  categories (:mod:`collapse_jax.theory.tails`), O(N V) for ``V`` categories, the
  order of one generation of the chain itself.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from collapse_jax.theory._schedule import (
    SampleSize,
    as_schedule,
    check_constant_size,
    check_estimator,
    check_int,
    check_positive_float,
)
from collapse_jax.theory.counting import galton_watson_extinction
from collapse_jax.theory.discrete import (
    _check_prob,
    expected_support_size,
    gini_simpson,
    wright_fisher_matrix,
)
from collapse_jax.theory.discrete import _check_probs as _check_simplex
from collapse_jax.theory.gaussian import (
    _gaussian_args,
    _log_chi2_mean,
    _log_mean_sqrt_chi2_over_dof,
    _variance_schedule,
)
from collapse_jax.theory.multivariate import (
    _check_dim,
    _check_log_det_cov0,
    _covariance_schedule,
)
from collapse_jax.theory.tails import _check_probs as _check_tail_probs

__all__ = [
    "absorption_probability_curve",
    "expected_gini_simpson_curve",
    "expected_log_det_cov_curve",
    "expected_log_variance_curve",
    "expected_support_size_curve",
    "expected_w2_sq_curve",
    "lost_mass_curve",
]

#: float64 entries per block of a (generations x categories) evaluation: 32 MiB.
_BLOCK_ELEMENTS = 2**22
#: The WF-4 recursion stops once the unabsorbed mass is below this: later values
#: then differ from the last one by less than half a float64 ulp of 1.
_UNABSORBED_EPS = 2.0**-60


def _running(terms: np.ndarray) -> np.ndarray:
    """``(0, t_0, t_0 + t_1, ...)``: the sums over generations ``i < n``."""
    return np.concatenate(([0.0], np.cumsum(terms)))


def _per_size(fn, sizes: np.ndarray) -> np.ndarray:
    """``fn(sizes)`` evaluated once per distinct size (a schedule repeats few)."""
    unique, inverse = np.unique(sizes, return_inverse=True)
    return fn(unique)[inverse]


def expected_log_variance_curve(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
    sampling_bias: float = 1.0,
) -> np.ndarray:
    r""":math:`E\log\sigma_n^2` for ``n = 0 .. N`` (GC-3, AL-2).

    Entry ``n`` is
    :func:`~collapse_jax.theory.gaussian.expected_log_variance` ``(sample_size,
    n, ...)``: :math:`\log\sigma^2 + \sum_{i<n} g(M_i) + n\log\lambda`.

    Args:
        sample_size: Int ``M`` or a schedule ``M_0, M_1, ...`` (each ``>= 2``) of
            length ``>= num_generations``.
        num_generations: ``N >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.
        sampling_bias: :math:`\lambda > 0`; 1 is unbiased sampling.

    Returns:
        ``(N + 1,) float64`` array.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> expected_log_variance_curve(20, 10)[[0, 10]].round(4).tolist()
        [0.0, -0.5355]

    References:
        Proof: ``proofs/gc-3-log-variance.md``.
    """
    caller = "expected_log_variance_curve"
    ddof = check_estimator(estimator, caller)
    variance = check_positive_float(variance, "variance", caller)
    sampling_bias = check_positive_float(sampling_bias, "sampling_bias", caller)
    m = _variance_schedule(sample_size, num_generations, caller).astype(np.float64)
    g = _per_size(lambda u: _log_chi2_mean(u - 1.0) - np.log(u - ddof), m)
    n = np.arange(m.size + 1, dtype=np.float64)
    return np.log(variance) + _running(g) + n * np.log(sampling_bias)


def expected_w2_sq_curve(
    sample_size: SampleSize,
    num_generations: int,
    *,
    estimator: str = "unbiased",
    variance: float = 1.0,
) -> np.ndarray:
    r"""Exact :math:`E W_2^2` between the truth and model ``n``, ``n = 0 .. N`` (SH-5).

    Entry ``n`` is :func:`~collapse_jax.theory.gaussian.expected_w2_sq`
    ``(sample_size, n, ...)``: the mean drift, the variance excess and the
    standard-deviation deficit, each a running sum or product over generations.

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= 2``) of length
            ``>= num_generations``.
        num_generations: ``N >= 0``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        variance: Variance :math:`\sigma^2 > 0` of the truth.

    Returns:
        ``(N + 1,) float64`` array; entry 0 is 0.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> expected_w2_sq_curve(100, 10)[[0, 10]].round(4).tolist()
        [0.0, 0.1499]

    References:
        Proof: ``proofs/sh-5-wasserstein.md``.
    """
    m, ddof, variance = _gaussian_args(
        sample_size, num_generations, estimator, variance, "expected_w2_sq_curve"
    )
    shrink = (m - 1.0) / (m - ddof)
    # E(mu_n - mu)^2 / sigma^2 = sum_{i<n} E[sigma_i^2 / sigma^2] / M_i (GC-5).
    before = np.concatenate(([1.0], np.cumprod(shrink)))[: m.size]
    mean_error = _running(before / m)
    var_excess = np.expm1(_running(np.log(shrink)))
    k = m - 1.0
    log_sd = _per_size(lambda u: _log_mean_sqrt_chi2_over_dof(u), k)
    sd_deficit = -2.0 * np.expm1(_running(log_sd + 0.5 * np.log(k / (m - ddof))))
    return variance * (mean_error + var_excess + sd_deficit)


def expected_log_det_cov_curve(
    sample_size: SampleSize,
    num_generations: int,
    dim: int,
    *,
    estimator: str = "unbiased",
    log_det_cov0: float = 0.0,
) -> np.ndarray:
    r""":math:`E\log\det\Sigma_n` for ``n = 0 .. N`` (SH-7, Bartlett).

    Entry ``n`` is
    :func:`~collapse_jax.theory.multivariate.expected_log_det_cov`
    ``(sample_size, n, dim, ...)``. The digamma terms are evaluated once per
    distinct sample size, so a constant ``M`` costs O(N + d).

    Args:
        sample_size: Int ``M`` or a schedule (each ``>= dim + 1``) of length
            ``>= num_generations``.
        num_generations: ``N >= 0``.
        dim: Dimension ``d >= 1``.
        estimator: ``"unbiased"`` (ddof=1) or ``"mle"`` (ddof=0).
        log_det_cov0: :math:`\log\det\Sigma_0` of the truth.

    Returns:
        ``(N + 1,) float64`` array.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(float(expected_log_det_cov_curve(12, 10, 3)[10]), 4)
        -6.0816

    References:
        Proof: ``proofs/sh-7-multivariate-collapse.md``.
    """
    caller = "expected_log_det_cov_curve"
    ddof = check_estimator(estimator, caller)
    dim = _check_dim(dim, caller)
    log_det_cov0 = _check_log_det_cov0(log_det_cov0, caller)
    m = _covariance_schedule(sample_size, num_generations, dim, caller)
    k = np.arange(1, dim + 1, dtype=np.float64)

    def per_generation(u):
        return np.sum(
            _log_chi2_mean(u[:, None] - k[None, :]) - np.log(u - ddof)[:, None], axis=1
        )

    return log_det_cov0 + _running(_per_size(per_generation, m))


def expected_gini_simpson_curve(
    probs0: np.ndarray, sample_size: SampleSize, num_generations: int
) -> np.ndarray:
    r""":math:`E H_n = H_0\prod_{i<n}(1 - 1/M_i)` for ``n = 0 .. N`` (WF-3).

    Entry ``n`` is
    :func:`~collapse_jax.theory.discrete.expected_gini_simpson` ``(probs0,
    sample_size, n)``.

    Args:
        probs0: ``(K,) float`` probabilities of the truth.
        sample_size: Int ``M`` or a schedule (each ``>= 1``) of length
            ``>= num_generations``.
        num_generations: ``N >= 0``.

    Returns:
        ``(N + 1,) float64`` array.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> expected_gini_simpson_curve([0.5, 0.5], 10, 2).round(6).tolist()
        [0.5, 0.45, 0.405]

    References:
        Proof: ``proofs/wf-3-gini-simpson.md``.
    """
    caller = "expected_gini_simpson_curve"
    h0 = gini_simpson(_check_simplex(probs0, "probs0", caller))
    m = as_schedule(sample_size, num_generations, caller=caller).astype(np.float64)
    return h0 * np.concatenate(([1.0], np.cumprod(1.0 - 1.0 / m)))


def absorption_probability_curve(
    prob0: float,
    sample_size: int,
    num_generations: int,
    *,
    max_steps: int | None = None,
) -> np.ndarray:
    r"""P(a 2-type Wright–Fisher chain is a point mass by generation n), exactly.

    The law of the count of one category is propagated by the transition matrix
    (:func:`~collapse_jax.theory.discrete.wright_fisher_matrix`, WF-4) from
    :math:`\mathrm{Bin}(M, p_0)` at generation 1; entry ``n`` is the mass on the
    two absorbing states. Each generation costs :math:`O(M^2)`. Once the
    unabsorbed mass is below :math:`2^{-60}` the curve is constant to float64
    rounding and the propagation stops, after about :math:`41 M` generations.

    Args:
        prob0: :math:`p_0 \in [0, 1]`, the truth's probability of the category.
        sample_size: Constant ``M >= 1``.
        num_generations: ``N >= 0``.
        max_steps: At most this many matrix products (a cost bound for large
            ``M``); entries past it are NaN unless the chain was absorbed to
            rounding by then. None: no bound.

    Returns:
        ``(N + 1,) float64`` array; entry 0 is 0 (the truth is not a point mass
        unless :math:`p_0 \in \{0, 1\}`, where every entry is 1).

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> absorption_probability_curve(0.5, 2, 2).tolist()
        [0.0, 0.5, 0.75]

    References:
        Proof: ``proofs/wf-4-spectrum.md``.
    """
    caller = "absorption_probability_curve"
    p0 = float(_check_prob(prob0, caller))
    m = check_constant_size(sample_size, caller, minimum=1)
    n_gen = check_int(num_generations, "num_generations", caller)
    steps = (
        n_gen
        if max_steps is None
        else min(n_gen, check_int(max_steps, "max_steps", caller))
    )
    out = np.full(n_gen + 1, np.nan)
    out[0] = 1.0 if p0 in (0.0, 1.0) else 0.0
    if n_gen == 0:
        return out
    mat = wright_fisher_matrix(m)
    dist = binom.pmf(np.arange(m + 1), m, p0)  # the counts of generation 1
    for n in range(1, n_gen + 1):
        out[n] = dist[0] + dist[-1]
        if dist[1:-1].sum() < _UNABSORBED_EPS:
            out[n:] = out[n]
            break
        if n == n_gen or n > steps:  # n - 1 products done so far
            break
        dist = dist @ mat
    return out


def _generation_sums(coef: np.ndarray, gaps: np.ndarray, term) -> np.ndarray:
    """``out[j] = sum_i term(coef_i * gaps[j])``, in blocks of generations."""
    out = np.empty(gaps.size)
    rows = max(1, _BLOCK_ELEMENTS // max(coef.size, 1))
    for lo in range(0, gaps.size, rows):
        block = gaps[lo : lo + rows]
        out[lo : lo + rows] = term(np.multiply.outer(block, coef))
    return out


def lost_mass_curve(probs, num_train_tokens: int, num_generations: int) -> np.ndarray:
    r"""TT-3's lost mass :math:`\sum_i p_i e^{-T_0 p_i(1 - q_{n-1})}`, ``n = 0 .. N``.

    Entry ``n >= 1`` is
    :func:`~collapse_jax.theory.tails.lost_mass_after_generations` ``(probs,
    num_train_tokens, n)``; entry 0 is 0 (the truth has lost nothing). The
    Galton–Watson probabilities :math:`q` are computed once, so the cost is
    O(N V) for ``V`` categories.

    Args:
        probs: ``(V,)`` the truth ``p``.
        num_train_tokens: ``T_0 >= 1`` tokens per generation.
        num_generations: ``N >= 0``.

    Returns:
        ``(N + 1,) float64`` array.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> lost_mass_curve([0.5, 0.5], 10, 1).round(6).tolist()  # e^-5 at n = 1
        [0.0, 0.006738]

    References:
        Proof: ``proofs/tt-3-generations.md``.
    """
    caller = "lost_mass_curve"
    p = _check_tail_probs(probs, caller)
    t = check_int(num_train_tokens, "num_train_tokens", caller, minimum=1)
    n_gen = check_int(num_generations, "num_generations", caller)
    gaps = 1.0 - galton_watson_extinction(max(n_gen - 1, 0))[:n_gen]
    coef = -t * p
    lost = _generation_sums(coef, gaps, lambda x: np.exp(x) @ p)
    return np.concatenate(([0.0], lost))


def expected_support_size_curve(
    probs, num_train_tokens: int, num_generations: int
) -> np.ndarray:
    r"""Expected number of surviving categories, ``n = 0 .. N`` (WF-9, TT-3).

    Exact at ``n = 0`` (the truth's support) and ``n = 1``
    (:func:`~collapse_jax.theory.discrete.expected_support_size`, WF-9); for
    ``n >= 2`` TT-3's per-category survival :math:`1 - e^{-T_0 p_i(1 - q_{n-1})}`
    (the Poisson approximation of :func:`lost_mass_curve`, ``q`` the Poisson(1)
    Galton–Watson extinction probabilities). O(N V).

    Args:
        probs: ``(V,)`` the truth ``p``.
        num_train_tokens: ``T_0 >= 1`` draws per generation.
        num_generations: ``N >= 0``.

    Returns:
        ``(N + 1,) float64`` array.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> expected_support_size_curve([0.5, 0.25, 0.25], 2, 1).tolist()
        [3.0, 1.625]

    References:
        Proofs: ``proofs/wf-9-surviving-categories.md``,
        ``proofs/tt-3-generations.md``.
    """
    caller = "expected_support_size_curve"
    p = _check_tail_probs(probs, caller)
    t = check_int(num_train_tokens, "num_train_tokens", caller, minimum=1)
    n_gen = check_int(num_generations, "num_generations", caller)
    out = np.empty(n_gen + 1)
    out[0] = np.count_nonzero(p > 0)
    if n_gen >= 1:
        out[1] = expected_support_size(p, t)
    if n_gen >= 2:
        gaps = 1.0 - galton_watson_extinction(n_gen - 1)[1:n_gen]
        coef = -t * p
        out[2:] = _generation_sums(coef, gaps, lambda x: -np.expm1(x).sum(axis=1))
    return out
