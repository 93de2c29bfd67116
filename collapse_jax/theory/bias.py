r"""Closed forms for sampling bias and tail weighting (docs/theory.md AL-2).

Independent float64 NumPy implementations of the distortions in
:mod:`collapse_jax.sampling` and of their exact effect in the population limit
(``sample_size=None``), where a chain is a deterministic map:

* temperature ``T``: :math:`p_n \propto p_0^{T^{-n}}` (the tempered model is
  refitted exactly, and tempering composes by multiplying inverse temperatures);
* top-k and nucleus: the first fit truncates, later fits keep the truncated model
  (top-k) or truncate again (nucleus) until the support stops shrinking;
* a Gaussian's variance scale ``λ``: :math:`\sigma_n^2 = \lambda^n\sigma_0^2`
  (with finite samples, :func:`collapse_jax.theory.gaussian.expected_log_variance`
  with ``sampling_bias=λ``);
* tail weighting ``w ∝ p^{-τ}`` of a Gaussian: the weighted population of
  :math:`N(\mu, \sigma^2)` is :math:`N(\mu, \sigma^2/(1-\tau))` under the current
  model and has precision :math:`1/\sigma^2 - \tau/\sigma_0^2` under the reference
  :math:`N(\mu, \sigma_0^2)`.

Derivations: ``proofs/al-2-sampling-bias.md``.
"""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import check_nonnegative_int, check_real, described, fail

__all__ = [
    "tempered_probs",
    "top_k_probs",
    "nucleus_probs",
    "population_chain_probs",
    "tail_weighted_variance",
]


def _probs(fn, probs):
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or p.size < 1:
        fail(
            fn,
            "probs",
            "a 1-D probability vector",
            described(f"shape {p.shape}"),
            "Pass probabilities p_1..p_K.",
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        fail(
            fn,
            "probs",
            "non-negative and summing to 1",
            described(f"sum {p.sum():.6g}, minimum {p.min():.3g}"),
            "Normalise the probabilities.",
        )
    return p


def tempered_probs(probs, temperature: float) -> np.ndarray:
    r"""Temperature ``T``: :math:`p_i^{1/T} / \sum_j p_j^{1/T}` (zeros stay zero).

    Examples:
      >>> tempered_probs([0.5, 0.25, 0.25], 0.5).round(4).tolist()
      [0.6667, 0.1667, 0.1667]

    References:
      docs/theory.md AL-2; proof: ``proofs/al-2-sampling-bias.md``.
    """
    fn = "tempered_probs"
    p = _probs(fn, probs)
    t = check_real(fn, "temperature", temperature, low=0.0, low_open=True)
    pos = p > 0
    logits = np.where(pos, np.log(np.where(pos, p, 1.0)) / t, -np.inf)
    w = np.where(pos, np.exp(logits - logits[pos].max()), 0.0)
    return w / w.sum()


def _rank(p):
    order = np.argsort(-p, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(p.size)
    return rank


def top_k_probs(probs, k: int) -> np.ndarray:
    """The ``k`` most probable categories, renormalised (ties: lower index first).

    Examples:
      >>> top_k_probs([0.1, 0.5, 0.4], 2).tolist()
      [0.0, 0.5555555555555556, 0.4444444444444445]

    References:
      docs/theory.md AL-2; proof: ``proofs/al-2-sampling-bias.md``.
    """
    fn = "top_k_probs"
    p = _probs(fn, probs)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        fail(fn, "k", "an int >= 1", k, "Pass the number of categories to keep.")
    kept = np.where(_rank(p) < k, p, 0.0)
    return kept / kept.sum()


def nucleus_probs(probs, top_p: float) -> np.ndarray:
    """The smallest set of most probable categories with mass ``>= top_p``.

    A category is kept when the mass of the strictly more probable ones (in the
    stable order) is below ``top_p``; the most probable is always kept.

    Examples:
      >>> nucleus_probs([0.5, 0.3, 0.2], 0.7).tolist()
      [0.625, 0.37499999999999994, 0.0]

    References:
      docs/theory.md AL-2; proof: ``proofs/al-2-sampling-bias.md``.
    """
    fn = "nucleus_probs"
    p = _probs(fn, probs)
    mass = check_real(fn, "top_p", top_p, low=0.0, high=1.0, low_open=True)
    order = np.argsort(-p, kind="stable")
    sorted_p = p[order]
    before = np.cumsum(sorted_p) - sorted_p
    keep = np.zeros(p.size, bool)
    keep[order] = before < mass
    kept = np.where(keep, p, 0.0)
    return kept / kept.sum()


def population_chain_probs(
    probs, num_generations: int, *, temperature=None, k=None, top_p=None
) -> np.ndarray:
    r"""The population-limit categorical chain under one sampling bias.

    Each generation refits exactly the distorted model, so ``p_{n+1} = D(p_n)``:
    with a temperature, :math:`p_n \propto p_0^{T^{-n}}` in closed form; top-k and
    nucleus truncations are iterated. Returns ``(n + 1, K)``, row 0 the truth.

    Examples:
      >>> population_chain_probs([0.5, 0.3, 0.2], 2, temperature=0.5)[2].round(4)
      array([0.8657, 0.1122, 0.0222])

    References:
      docs/theory.md AL-2; proof: ``proofs/al-2-sampling-bias.md``.
    """
    fn = "population_chain_probs"
    p = _probs(fn, probs)
    n = check_nonnegative_int(fn, "num_generations", num_generations)
    given = [x is not None for x in (temperature, k, top_p)]
    if sum(given) != 1:
        fail(
            fn,
            "temperature/k/top_p",
            "exactly one sampling bias",
            described(f"{sum(given)} given"),
            "Pass one of temperature=, k= or top_p=.",
        )
    rows = [p]
    for i in range(1, n + 1):
        if temperature is not None:
            t = check_real(fn, "temperature", temperature, low=0.0, low_open=True)
            rows.append(tempered_probs(p, t**i))  # closed form, not iterated
        elif k is not None:
            rows.append(top_k_probs(rows[-1], k))
        else:
            assert top_p is not None  # exactly one bias is given (checked above)
            rows.append(nucleus_probs(rows[-1], top_p))
    return np.stack(rows)


def tail_weighted_variance(
    variance: float, exponent: float, *, reference_variance: float | None = None
) -> float:
    r"""The variance of a tail-weighted Gaussian population.

    Weighting :math:`N(\mu, \sigma^2)` by :math:`p(x)^{-\tau}` under the current
    model gives :math:`N(\mu, \sigma^2/(1-\tau))` (``τ < 1``); under a reference
    :math:`N(\mu, \sigma_0^2)` the precision becomes
    :math:`1/\sigma^2 - \tau/\sigma_0^2` (finite only while positive).

    Examples:
      >>> tail_weighted_variance(1.0, 0.5)
      2.0
      >>> tail_weighted_variance(0.5, 0.5, reference_variance=1.0)
      0.6666666666666666

    References:
      proof: ``proofs/al-2-sampling-bias.md``.
    """
    fn = "tail_weighted_variance"
    v = check_real(fn, "variance", variance, low=0.0, low_open=True)
    tau = check_real(fn, "exponent", exponent, low=0.0)
    if reference_variance is None:
        if tau >= 1:
            fail(
                fn,
                "exponent",
                "< 1 under the current model (else the weights are not integrable)",
                tau,
                "Pass 0 <= exponent < 1.",
            )
        return v / (1.0 - tau)
    v0 = check_real(
        fn, "reference_variance", reference_variance, low=0.0, low_open=True
    )
    precision = 1.0 / v - tau / v0
    if precision <= 0:
        fail(
            fn,
            "exponent",
            f"< variance_ratio reference/current = {v0 / v:g} (a positive precision)",
            tau,
            "Lower the exponent.",
        )
    return 1.0 / precision
