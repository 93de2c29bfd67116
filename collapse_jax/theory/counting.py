r"""Closed forms for counting chains: the Poisson chain and Galton–Watson extinction.

The Poisson chain (docs/theory.md SU-2): generation ``i`` draws ``M_i`` points from
Poisson(:math:`\lambda_i`) and refits the rate by the sample mean, so the integer
total :math:`N_{i+1} = M_i \lambda_{i+1} \sim \mathrm{Poisson}(M_i\lambda_i)`. With a
constant ``M`` this is a critical Galton–Watson process with Poisson(1) offspring;
the same branching approximation governs how a rare category of a categorical chain
dies out (SU-1, TT-3). Every function is a host-side float64 closed form; the
derivations are in ``proofs/su-2-poisson.md``.
"""

from __future__ import annotations

import math

import numpy as np

from collapse_jax.checks import described, fail
from collapse_jax.theory._schedule import SampleSize, as_schedule, check_int

__all__ = [
    "galton_watson_extinction",
    "expected_poisson_rate",
    "poisson_absorption_probability",
    "forgetting_generation_quantile",
]


def _check_rate(rate: object, caller: str) -> float:
    try:
        value = float(rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = None
    if value is None or not math.isfinite(value) or value < 0:
        fail(
            caller,
            "rate",
            "a finite number >= 0",
            described(repr(rate)),
            "Pass the truth's rate lambda_0, e.g. rate=0.5.",
        )
    return value


def galton_watson_extinction(num_generations: int) -> np.ndarray:
    r"""Extinction probabilities :math:`q_0, \dots, q_n`, Poisson(1) offspring.

    :math:`q_s` is the probability that the descendants of one individual are extinct
    after ``s`` generations: :math:`q_0 = 0`, :math:`q_{s+1} = f(q_s) = e^{q_s - 1}`
    (``f`` the Poisson(1) generating function). Critical process: :math:`q_s \to 1`
    with :math:`1 - q_s \sim 2/s`.

    Args:
      num_generations: ``n >= 0``.

    Returns:
      ``(n + 1,) float64`` array ``[q_0, ..., q_n]``.

    Raises:
      ValueError: ``num_generations`` is not an int ``>= 0``.

    Examples:
      >>> galton_watson_extinction(2).round(4).tolist()
      [0.0, 0.3679, 0.5315]

    References:
      docs/theory.md SU-2, TT-3; proof: ``proofs/su-2-poisson.md``.
    """
    n = check_int(num_generations, "num_generations", "galton_watson_extinction")
    q = np.zeros(n + 1)
    for s in range(n):
        q[s + 1] = math.exp(q[s] - 1.0)
    return q


def expected_poisson_rate(rate: float, num_generations: int) -> float:
    r""":math:`E\lambda_n = \lambda_0`: the fitted rate is a martingale (SU-2).

    Args:
      rate: the truth's rate :math:`\lambda_0 \ge 0`.
      num_generations: ``n >= 0`` fits.

    Returns:
      :math:`\lambda_0` (any sample-size schedule).

    Examples:
      >>> expected_poisson_rate(0.5, 100)
      0.5

    References:
      docs/theory.md SU-2; proof: ``proofs/su-2-poisson.md``.
    """
    caller = "expected_poisson_rate"
    lam = _check_rate(rate, caller)
    check_int(num_generations, "num_generations", caller)
    return lam


def poisson_absorption_probability(
    rate: float, sample_size: SampleSize, num_generations: int
) -> float:
    r""":math:`P(\lambda_n = 0)`, exactly: the chain is absorbed by generation ``n``.

    With :math:`a_{n-1} = M_{n-1}` and :math:`a_i = M_i(1 - e^{-a_{i+1}/M_i})`,
    :math:`P(\lambda_n = 0) = e^{-\lambda_0 a_0}`. For a constant ``M`` this is the
    Galton–Watson form :math:`\exp(-M\lambda_0(1 - q_{n-1}))`
    (:func:`galton_watson_extinction`). Non-decreasing in ``n``, tending to 1.

    Args:
      rate: the truth's rate :math:`\lambda_0 \ge 0`.
      sample_size: ``M`` or a schedule ``M_0, ..., M_{n-1}`` (each ``>= 1``).
      num_generations: ``n >= 0`` (``n = 0``: the truth, absorbed iff
        :math:`\lambda_0 = 0`).

    Returns:
      The probability as a float.

    Examples:
      >>> round(poisson_absorption_probability(0.5, 20, 1), 6)  # exp(-10)
      4.5e-05

    References:
      docs/theory.md SU-2; proof: ``proofs/su-2-poisson.md``.
    """
    caller = "poisson_absorption_probability"
    lam = _check_rate(rate, caller)
    sched = as_schedule(sample_size, num_generations, caller=caller).astype(float)
    if sched.size == 0:
        return 1.0 if lam == 0 else 0.0
    a = sched[-1]
    for m in sched[-2::-1]:
        a = -m * math.expm1(-a / m)
    return math.exp(-lam * a)


def forgetting_generation_quantile(count: int, prob: float = 0.5) -> int:
    r"""Branching approximation of when a category with ``count`` copies is forgotten.

    A category seen ``k`` times in the first dataset (model 1 holds ``k`` copies)
    is lost by generation ``n`` with probability :math:`\approx q_{n-1}^k` when its
    share is small and ``M`` large (each copy leaves Poisson(1) copies; SU-1). The
    ``prob`` quantile of the forgetting generation is the smallest ``n >= 1`` with
    :math:`q_{n-1}^k \ge` ``prob``; since :math:`1 - q_s \approx 2/s` it is about
    :math:`2k/\log(1/\text{prob})`: linear in the count (the median, ``prob = 1/2``,
    is :math:`\approx 2.885k`).

    Args:
      count: ``k >= 1`` copies in the first dataset.
      prob: the quantile level in ``(0, 1)``.

    Returns:
      The generation as an int.

    Examples:
      >>> forgetting_generation_quantile(5), forgetting_generation_quantile(10)
      (14, 28)

    References:
      docs/theory.md SU-1; proof: ``proofs/su-2-poisson.md`` (part 4).
    """
    caller = "forgetting_generation_quantile"
    k = check_int(count, "count", caller, minimum=1)
    try:
        level = float(prob)
    except (TypeError, ValueError):
        level = math.nan
    if not 0.0 < level < 1.0:
        fail(caller, "prob", "in (0, 1)", described(repr(prob)), "Pass e.g. 0.5.")
    log_target = math.log(level) / k
    q, n = 0.0, 1
    while q <= 0.0 or math.log(q) < log_target:
        q = math.exp(q - 1.0)
        n += 1
    return n
