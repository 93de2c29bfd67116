r"""Closed forms for Bayesian learners of counts: the categorical chain with a
Dirichlet prior (BL-5) and the Poisson chain with a Gamma prior (BL-6).

Re-exported by :mod:`collapse_jax.theory.bayes`, which states the learners and the
conventions (index ``n`` counts fits; ``n = 0`` is the truth); the derivations are in
``proofs/bl-5-categorical.md`` and ``proofs/bl-6-poisson.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import betabinom, binom, poisson

from collapse_jax.checks import described, fail
from collapse_jax.theory._bayes_checks import _learner, _nonneg
from collapse_jax.theory._schedule import check_constant_size, check_int

__all__ = [
    "categorical_count_transition",
    "categorical_expected_homozygosity",
    "categorical_expected_homozygosity_curve",
    "categorical_map_absorption_probability",
    "categorical_mean",
    "categorical_posterior_sample_eigenvalues",
    "poisson_map_absorption_probability",
    "poisson_mean_curve",
    "poisson_moments",
]


def _alpha(alpha: object, k: int, caller: str) -> np.ndarray:
    a = np.broadcast_to(np.asarray(alpha, np.float64), (k,)).copy()
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        fail(
            caller,
            "alpha",
            "Dirichlet concentrations > 0 (a scalar or (K,))",
            described(repr(alpha)),
            "Pass alpha > 0, e.g. alpha=0.5 (Jeffreys).",
        )
    return a


def _probs(p0: object, caller: str) -> np.ndarray:
    p = np.asarray(p0, np.float64)
    if p.ndim != 1 or p.size < 2 or np.any(p < 0) or abs(p.sum() - 1) > 1e-9:
        fail(
            caller,
            "p0",
            "a (K,) probability vector, K >= 2",
            described(repr(p0)),
            "Pass probabilities >= 0 summing to 1.",
        )
    return p


def _categorical_step(alpha, m, learner):
    """(den, shift, extra): E p'p'^T = [S + M(a p^T + p a^T) + M(M-1) P
    + diag(extra * p)] / den2, E p' = (shift + M p)/den."""
    big_a = alpha.sum()
    if learner == "map":
        shift = alpha - 1
        den = big_a - alpha.size + m
        return shift, den, den * den, np.outer(shift, shift), m
    den = big_a + m
    if learner == "posterior_sample":
        return (
            alpha,
            den,
            den * (den + 1),
            np.outer(alpha, alpha) + np.diag(alpha),
            2 * m,
        )
    return alpha, den, den * den, np.outer(alpha, alpha), m


def _categorical_moments(p0, alpha, m, n, learner, caller, path=False):
    p = _probs(p0, caller)
    a = _alpha(alpha, p.size, caller)
    m = check_constant_size(m, caller, minimum=1)
    n = check_int(n, "num_generations", caller)
    learner = _learner(learner, caller)
    if learner == "map" and np.any(a < 1):
        fail(
            caller,
            "alpha",
            "all >= 1 for the MAP learner's moments",
            described(repr(alpha)),
            "With some alpha < 1 the mode clips at 0 (no closed form); use "
            "categorical_map_absorption_probability.",
        )
    shift, den, den2, s, extra = _categorical_step(a, m, learner)
    # E p_0 = p0, E p_0 p_0^T = p0 p0^T (the truth is fixed).
    mean, second = p.copy(), np.outer(p, p)
    homozygosity = [np.trace(second)]
    for _ in range(n):
        second = (
            s
            + m * (np.outer(shift, mean) + np.outer(mean, shift))
            + m * (m - 1) * second
            + np.diag(extra * mean)
        ) / den2
        mean = (shift + m * mean) / den
        if path:
            homozygosity.append(np.trace(second))
    if path:
        return np.asarray(homozygosity, np.float64)
    return mean, second


def categorical_mean(
    p0, alpha, sample_size: int, num_generations: int, learner="posterior_sample"
) -> np.ndarray:
    r""":math:`E p_n`: :math:`a + \lambda^n (p_0 - a)`, no absorption.

    posterior_sample and posterior_predictive: :math:`a = \alpha/A`,
    :math:`\lambda = M/(M + A)` (:math:`A = \sum\alpha`); map (all
    :math:`\alpha_i \ge 1`): :math:`a = (\alpha - 1)/(A - K)`,
    :math:`\lambda = M/(M + A - K)` (:math:`\alpha = 1` is the plug-in martingale,
    WF-1).

    Args:
      p0: the truth's probabilities ``(K,)``.
      alpha: Dirichlet concentrations, a scalar or ``(K,)``, all > 0 (>= 1 for map).
      sample_size: ``M >= 1``.
      num_generations: ``n >= 0``.
      learner: ``"posterior_sample"``, ``"posterior_predictive"`` or ``"map"``.

    Returns:
      ``(K,) float64``.

    Raises:
      ValueError: ``p0`` is not a probability vector, ``alpha`` not > 0 (or, for map,
        some alpha < 1), ``sample_size`` < 1 or ``learner`` unknown.

    Examples:
      >>> categorical_mean([1.0, 0.0], 0.5, 9, 1).tolist()
      [0.95, 0.05]

    References:
      docs/theory.md BL-5; proof: ``proofs/bl-5-categorical.md``.
    """
    return _categorical_moments(
        p0, alpha, sample_size, num_generations, learner, "categorical_mean"
    )[0]


def categorical_expected_homozygosity(
    p0, alpha, sample_size: int, num_generations: int, learner="posterior_sample"
) -> float:
    r""":math:`E\sum_j p_{n,j}^2`, exactly (a linear recursion with the mean's).

    ``1 -`` this is the expected Gini–Simpson index (compare WF-3, where it decays
    to 0 at rate ``1 - 1/M``): here it converges to a positive limit at rate
    :math:`M(M-1)/((A+M)(A+M+1))` (posterior_sample; the stationary value is
    Dir(alpha)'s :math:`(\sum\alpha_j^2 + A)/(A(A+1))`),
    :math:`M(M-1)/(A+M)^2` (posterior_predictive) or
    :math:`M(M-1)/(A - K + M)^2` (map, alpha >= 1).

    Args:
      p0, alpha, sample_size, num_generations, learner: as :func:`categorical_mean`.

    Returns:
      The expectation as a float.

    Raises:
      ValueError: as :func:`categorical_mean`.

    Examples:
      >>> round(categorical_expected_homozygosity([0.5, 0.5], 1.0, 2, 1), 4)
      0.65

    References:
      docs/theory.md BL-5; proof: ``proofs/bl-5-categorical.md``.
    """
    second = _categorical_moments(
        p0,
        alpha,
        sample_size,
        num_generations,
        learner,
        "categorical_expected_homozygosity",
    )[1]
    return float(np.trace(second))


def categorical_expected_homozygosity_curve(
    p0, alpha, sample_size: int, num_generations: int, learner="posterior_sample"
) -> np.ndarray:
    r""":math:`E\sum_j p_{n,j}^2` at every ``n = 0 .. N`` in one pass (O(N K^2)).

    The values of :func:`categorical_expected_homozygosity` at ``n = 0 .. N``, for
    theory curves over many generations.

    Args:
      p0, alpha, sample_size, learner: as :func:`categorical_mean`.
      num_generations: ``N >= 0``.

    Returns:
      ``(N + 1,) float64``.

    Examples:
      >>> categorical_expected_homozygosity_curve([0.5, 0.5], 1.0, 2, 1).round(4)
      array([0.5 , 0.65])

    References:
      docs/theory.md BL-5; proof: ``proofs/bl-5-categorical.md``.
    """
    curve = _categorical_moments(
        p0,
        alpha,
        sample_size,
        num_generations,
        learner,
        "categorical_expected_homozygosity_curve",
        path=True,
    )
    assert isinstance(curve, np.ndarray)  # path=True: the values at n = 0 .. N
    return curve


def categorical_posterior_sample_eigenvalues(
    total_alpha: float, sample_size: int
) -> np.ndarray:
    r"""Spectrum of the posterior-draw chain: :math:`\lambda_k =
    \frac{M(M-1)\cdots(M-k+1)}{(A+M)(A+M+1)\cdots(A+M+k-1)}`, ``k = 0..M``.

    :math:`\lambda_k` is the eigenvalue on polynomials of degree ``k`` in ``p``
    (Diaconis, Khare & Saloff-Coste 2008); ``lambda_1`` is the mean's rate and
    ``lambda_2`` the homozygosity's.

    Args:
      total_alpha: :math:`A = \sum_j\alpha_j > 0`.
      sample_size: ``M >= 1``.

    Returns:
      ``(M + 1,) float64``, decreasing from 1.

    Raises:
      ValueError: ``total_alpha`` is not > 0 or ``sample_size`` < 1.

    Examples:
      >>> categorical_posterior_sample_eigenvalues(1.0, 2).round(4).tolist()
      [1.0, 0.6667, 0.1667]

    References:
      docs/theory.md BL-5; proof: ``proofs/bl-5-categorical.md``.
    """
    caller = "categorical_posterior_sample_eigenvalues"
    a = _nonneg(total_alpha, "total_alpha", caller, positive=True)
    m = check_constant_size(sample_size, caller, minimum=1)
    k = np.arange(m + 1)
    return np.cumprod(np.concatenate([[1.0], (m - k[:-1]) / (a + m + k[:-1])]))


def _two_category_q(alpha, m, learner):
    """The next model's probability of category 0 from each count c = 0..M."""
    c = np.arange(m + 1, dtype=np.float64)
    if learner == "posterior_predictive":
        return (alpha[0] + c) / (alpha.sum() + m)
    top = np.maximum(c + alpha[0] - 1, 0.0)
    rest = np.maximum(m - c + alpha[1] - 1, 0.0)
    return top / (top + rest)


def categorical_count_transition(alpha, sample_size: int, learner: str) -> np.ndarray:
    r"""The exact transition matrix of two-category counts, ``(M+1, M+1)``.

    The count :math:`c_n` of category 0 among generation ``n``'s ``M`` points is a
    finite Markov chain for every learner: posterior_sample gives a beta-binomial
    step :math:`\mathrm{BetaBin}(M, \alpha_0 + c, \alpha_1 + M - c)`,
    posterior_predictive a binomial with :math:`(\alpha_0 + c)/(A + M)`, map a
    binomial with the clipped mode :math:`(c + \alpha_0 - 1)_+ / \ldots`.

    Args:
      alpha: ``(2,)`` Dirichlet concentrations (or a scalar).
      sample_size: ``M >= 1``.
      learner: ``"posterior_sample"``, ``"posterior_predictive"`` or ``"map"``.

    Returns:
      Row-stochastic ``(M + 1, M + 1)`` float64 matrix ``T[c, c']``.

    Raises:
      ValueError: ``alpha`` is not > 0, ``sample_size`` < 1 or ``learner`` unknown.

    Examples:
      >>> categorical_count_transition(1.0, 1, "map").tolist()
      [[1.0, 0.0], [0.0, 1.0]]

    References:
      docs/theory.md BL-5; proof: ``proofs/bl-5-categorical.md``.
    """
    caller = "categorical_count_transition"
    a = _alpha(alpha, 2, caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    learner = _learner(learner, caller)
    c = np.arange(m + 1)
    if learner == "posterior_sample":
        return betabinom.pmf(c[None, :], m, a[0] + c[:, None], a[1] + m - c[:, None])
    return binom.pmf(c[None, :], m, _two_category_q(a, m, learner)[:, None])


def categorical_map_absorption_probability(
    p0: float, alpha, sample_size: int, num_generations: int
) -> float:
    r""":math:`P(\min_j p_{n,j} = 0)` for the two-category MAP chain, exactly.

    With :math:`\alpha_j \le 1` a category whose count is 0 gets mode 0 and is lost
    for ever, and absorption at a vertex is certain; with :math:`\alpha_j > 1` it is
    never lost. Computed from :func:`categorical_count_transition`.

    Args:
      p0: the truth's probability of category 0, in [0, 1].
      alpha: ``(2,)`` or scalar concentrations > 0.
      sample_size: ``M >= 1``.
      num_generations: ``n >= 0``.

    Returns:
      The probability that model ``n`` gives a category probability 0.

    Raises:
      ValueError: ``p0`` is not in [0, 1], ``alpha`` not > 0, ``sample_size`` < 1 or
        ``num_generations`` < 0.

    Examples:
      >>> round(categorical_map_absorption_probability(0.5, 1.0, 2, 1), 4)
      0.5

    References:
      docs/theory.md BL-5; proof: ``proofs/bl-5-categorical.md``.
    """
    caller = "categorical_map_absorption_probability"
    q0 = _nonneg(p0, "p0", caller)
    if q0 > 1:
        fail(caller, "p0", "a probability in [0, 1]", q0, "Pass p0 in [0, 1].")
    a = _alpha(alpha, 2, caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    n = check_int(num_generations, "num_generations", caller)
    if n == 0:
        return float(q0 in (0.0, 1.0))
    law = binom.pmf(np.arange(m + 1), m, q0)  # counts of generation 0
    t = categorical_count_transition(a, m, "map")
    for _ in range(n - 1):
        law = law @ t
    q = _two_category_q(a, m, "map")
    return float(law[(q == 0) | (q == 1)].sum())


# --- Poisson, Gamma prior -------------------------------------------------------------


def _gamma_prior(caller, concentration, rate):
    a = _nonneg(concentration, "concentration", caller, positive=True)
    b = _nonneg(rate, "rate", caller)
    return a, b


def poisson_moments(
    lam0: float,
    sample_size: int,
    num_generations: int,
    learner: str = "posterior_sample",
    *,
    concentration: float = 0.5,
    rate: float = 0.0,
) -> tuple[float, float]:
    r""":math:`E\lambda_n` and :math:`\operatorname{Var}\lambda_n` of a Bayesian
    Poisson chain with a Gamma(a, b) prior (rate parametrisation).

    :math:`\lambda_n` is the drawn rate (posterior_sample), the predictive's mean
    :math:`(a + N)/(b + M)` (posterior_predictive) or the mode
    :math:`(a - 1 + N)/(b + M)` (map, :math:`a \ge 1`). All three have
    :math:`E[\lambda' \mid \lambda] = (s + M\lambda)/(b + M)` (:math:`s = a`, or
    :math:`a - 1` for map) and second moments linear in :math:`\lambda,
    \lambda^2`; with ``b = 0`` (Jeffreys: a = 1/2) :math:`E\lambda_n = \lambda_0 +
    ns/M` grows linearly.

    Args:
      lam0: the truth's rate :math:`\ge 0`.
      sample_size: ``M >= 1``.
      num_generations: ``n >= 0``.
      learner: ``"posterior_sample"``, ``"posterior_predictive"`` or ``"map"``.
      concentration: :math:`a > 0` (:math:`\ge 1` for map).
      rate: :math:`b \ge 0`.

    Returns:
      ``(E lambda_n, Var lambda_n)``.

    Raises:
      ValueError: ``lam0`` < 0, ``sample_size`` < 1, ``learner`` unknown,
        ``concentration`` not > 0 (>= 1 for map) or ``rate`` < 0.

    Examples:
      >>> [round(x, 4) for x in poisson_moments(1.0, 10, 2)]
      [1.1, 0.42]

    References:
      docs/theory.md BL-6; proof: ``proofs/bl-6-poisson.md``.
    """
    mean, var = _poisson_path(
        "poisson_moments",
        lam0,
        sample_size,
        num_generations,
        learner,
        concentration,
        rate,
    )
    return float(mean[-1]), float(var[-1])


def poisson_mean_curve(
    lam0: float,
    sample_size: int,
    num_generations: int,
    learner: str = "posterior_sample",
    *,
    concentration: float = 0.5,
    rate: float = 0.0,
) -> np.ndarray:
    r""":math:`E\lambda_n` at every ``n = 0 .. N`` in one pass.

    The first values of :func:`poisson_moments` at ``n = 0 .. N``, for theory curves
    over many generations.

    Args:
      lam0, sample_size, learner, concentration, rate: as :func:`poisson_moments`.
      num_generations: ``N >= 0``.

    Returns:
      ``(N + 1,) float64``.

    Examples:
      >>> poisson_mean_curve(1.0, 10, 2).round(4)
      array([1.  , 1.05, 1.1 ])

    References:
      docs/theory.md BL-6; proof: ``proofs/bl-6-poisson.md``.
    """
    return _poisson_path(
        "poisson_mean_curve",
        lam0,
        sample_size,
        num_generations,
        learner,
        concentration,
        rate,
    )[0]


def _poisson_path(
    caller, lam0, sample_size, num_generations, learner, concentration, rate
):
    """``(E lambda_n, Var lambda_n)`` for ``n = 0 .. N``, float64 arrays."""
    lam = _nonneg(lam0, "lam0", caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    n = check_int(num_generations, "num_generations", caller)
    learner = _learner(learner, caller)
    a, b = _gamma_prior(caller, concentration, rate)
    if learner == "map" and a < 1:
        fail(
            caller,
            "concentration",
            ">= 1 for the MAP learner's moments",
            a,
            "With a < 1 the mode clips at 0; use poisson_map_absorption_probability.",
        )
    d = b + m
    # E[x'^2 | lam] = (c0 + c1 lam + M^2 lam^2) / d^2, E[x' | lam] = (s + M lam)/d.
    if learner == "posterior_sample":
        s, c0, c1 = a, a * (a + 1), 2 * (a + 1) * m
    elif learner == "posterior_predictive":
        s, c0, c1 = a, a * a, 2 * a * m + m * (1 + 1 / d)
    else:
        s, c0, c1 = a - 1, (a - 1) ** 2, 2 * (a - 1) * m + m
    mean, second = lam, lam * lam
    means, variances = [mean], [0.0]
    for i in range(n):
        # The truth is Poisson: the predictive's extra spread starts at the 2nd step.
        c1_i = c1 if i or learner != "posterior_predictive" else c1 - m / d
        mean, second = (s + m * mean) / d, (c0 + c1_i * mean + m * m * second) / d**2
        means.append(mean)
        variances.append(max(second - mean * mean, 0.0))
    return np.asarray(means, np.float64), np.asarray(variances, np.float64)


def poisson_map_absorption_probability(
    lam0: float,
    sample_size: int,
    num_generations: int,
    *,
    concentration: float = 0.5,
    rate: float = 0.0,
    tol: float = 1e-13,
) -> float:
    r""":math:`P(\lambda_n = 0)` for the MAP learner :math:`(a - 1 + N)_+/(b + M)`.

    With :math:`a < 1` a generation with no events gives rate 0 for ever, and
    absorption is certain; with :math:`a > 1` the rate never reaches 0. Computed on
    the chain of totals :math:`N` truncated where the Poisson tail is below ``tol``
    (the truncated mass bounds the error).

    Args:
      lam0: the truth's rate :math:`\ge 0`.
      sample_size: ``M >= 1``.
      num_generations: ``n >= 0``.
      concentration, rate: the Gamma prior :math:`a > 0, b \ge 0`.
      tol: tail mass dropped per step.

    Returns:
      The probability.

    Raises:
      ValueError: ``lam0`` < 0, ``sample_size`` < 1, ``concentration`` not > 0 or
        ``rate`` < 0.

    Examples:
      >>> round(poisson_map_absorption_probability(0.1, 10, 1), 4)  # exp(-1)
      0.3679

    References:
      docs/theory.md BL-6; proof: ``proofs/bl-6-poisson.md``.
    """
    caller = "poisson_map_absorption_probability"
    lam = _nonneg(lam0, "lam0", caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    n = check_int(num_generations, "num_generations", caller)
    a, b = _gamma_prior(caller, concentration, rate)
    if n == 0:
        return float(lam == 0)
    if a > 1:
        return 0.0
    top = 2 * int(poisson.isf(tol, m * lam)) + 20
    while True:
        states = np.arange(top + 1)
        law = poisson.pmf(states, m * lam)
        means = m * np.maximum(a - 1 + states, 0.0) / (b + m)
        t = poisson.pmf(states[None, :], means[:, None])
        for _ in range(n - 1):
            law = law @ t
        # Mass that left the truncated states bounds the error (a < 1: the totals
        # are a supermartingale, so it stays tiny).
        if 1.0 - law.sum() <= tol * (n + 1) or top > 10**5:
            break
        top *= 2
    return float(law[means == 0].sum())
