r"""Zipf tails and the memorisation learner (Dohmatob et al., "A Tale of Tails").

Tokens :math:`i = 1, \dots, V` have probabilities :math:`p_i \propto i^{-\beta}`,
:math:`\beta > 1`. The memorisation learner answers token ``i`` correctly iff ``i``
occurred among its ``T`` training tokens, drawn from a training distribution ``q``
(the truth ``p``, a tail-cut ``p``, or the model of a generation-``n`` categorical
chain). Its test error is the truth's mass on the tokens it never saw. Every function
is a host-side float64 closed form; the derivations are in
``proofs/tt-1-memorisation.md``, ``proofs/tt-2-tail-cutting.md`` and
``proofs/tt-3-generations.md``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from collapse_jax.checks import described, fail
from collapse_jax.theory._schedule import check_int
from collapse_jax.theory.counting import galton_watson_extinction

__all__ = [
    "zipf_probs",
    "memorisation_error",
    "memorisation_error_asymptotic",
    "tail_cut_probs",
    "tail_mass",
    "tail_mass_asymptotic",
    "lost_mass_after_generations",
    "equivalent_sample_size",
]

_SUM_TOLERANCE = 1e-6


def _check_beta(beta: object, caller: str) -> float:
    try:
        value = float(beta)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 1.0):
        fail(
            caller,
            "beta",
            "a finite number > 1 (a normalisable Zipf law)",
            described(repr(beta)),
            "Pass e.g. beta=2.0.",
        )
    return value


def _check_probs(probs: object, caller: str, name: str = "probs") -> np.ndarray:
    try:
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        p = None
    if p is None or p.ndim != 1 or p.size == 0:
        fail(
            caller,
            name,
            "a non-empty 1-D array of probabilities",
            described(repr(probs) if p is None else f"shape {p.shape}"),
            "Pass a (V,) array, e.g. zipf_probs(V, beta).",
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        fail(
            caller,
            name,
            "finite and non-negative",
            described(
                f"minimum {np.nanmin(p)}, {int(np.sum(~np.isfinite(p)))} NaN/inf"
            ),
            "Pass probabilities >= 0.",
        )
    total = float(p.sum())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        fail(
            caller,
            name,
            f"probabilities summing to 1 (within {_SUM_TOLERANCE:g})",
            described(f"entries summing to {total!r}"),
            f"Normalise it first ({name} / {name}.sum()).",
        )
    return p


def zipf_probs(num_tokens: int, beta: float) -> np.ndarray:
    r"""The Zipf law :math:`p_i = i^{-\beta} / \sum_{j \le V} j^{-\beta}` on ranks 1..V.

    Args:
      num_tokens: the vocabulary size ``V >= 1``.
      beta: the exponent, ``> 1``.

    Returns:
      ``(V,) float64`` probabilities, decreasing in rank (index 0 is rank 1).

    Examples:
      >>> zipf_probs(3, 2.0).round(4).tolist()
      [0.7347, 0.1837, 0.0816]

    References:
      docs/theory.md TT-1; proof: ``proofs/tt-1-memorisation.md``.
    """
    caller = "zipf_probs"
    v = check_int(num_tokens, "num_tokens", caller, minimum=1)
    b = _check_beta(beta, caller)
    w = np.arange(1, v + 1, dtype=np.float64) ** (-b)
    return w / w.sum()


def memorisation_error(probs, num_train_tokens: int, train_probs=None) -> float:
    r"""Exact expected test error :math:`\sum_i p_i (1 - q_i)^T` (TT-1).

    The learner trained on ``T`` i.i.d. tokens from ``q`` misses token ``i`` with
    probability :math:`(1 - q_i)^T`; the error weighs misses by the truth ``p``.

    Args:
      probs: ``(V,)`` the truth ``p``.
      num_train_tokens: ``T >= 0``.
      train_probs: ``(V,)`` the training distribution ``q`` (default ``p``).

    Returns:
      :math:`E_{\text{test}}` as a float.

    Examples:
      >>> memorisation_error([0.5, 0.5], 1)
      0.5

    References:
      docs/theory.md TT-1, TT-2; proof: ``proofs/tt-1-memorisation.md``.
    """
    caller = "memorisation_error"
    p = _check_probs(probs, caller)
    t = check_int(num_train_tokens, "num_train_tokens", caller)
    q = p if train_probs is None else _check_probs(train_probs, caller, "train_probs")
    if q.shape != p.shape:
        fail(
            caller,
            "train_probs",
            f"of the same shape as probs {p.shape}",
            described(f"shape {q.shape}"),
            "Pass both over the same vocabulary.",
        )
    # (1 - q)^T as exp(T log1p(-q)): accurate for tiny q and large T; q = 1 -> 0.
    with np.errstate(divide="ignore"):
        miss = np.exp(t * np.log1p(-np.minimum(q, 1.0))) if t > 0 else np.ones_like(q)
    return float(np.sum(p * miss))


def memorisation_error_asymptotic(beta: float, num_train_tokens: int) -> float:
    r"""Large-``T`` form of the clean memorisation error (TT-1).

    :math:`\Gamma(1 - 1/\beta)/(\beta\zeta(\beta)^{1/\beta})\,T^{-(1-1/\beta)}`.

    The clean (``q = p``) error of the memorisation learner on an infinite Zipf
    vocabulary (TT-1); within 0.2 % of the exact sum at ``beta`` in {2, 3},
    ``T`` in [1e3, 1e5], ``V = 2e5``.

    Args:
      beta: the Zipf exponent, ``> 1``.
      num_train_tokens: ``T >= 1``.

    Returns:
      The asymptotic error as a float.

    Examples:
      >>> round(memorisation_error_asymptotic(2.0, 10_000), 5)
      0.00691

    References:
      docs/theory.md TT-1; proof: ``proofs/tt-1-memorisation.md``.
    """
    caller = "memorisation_error_asymptotic"
    b = _check_beta(beta, caller)
    t = check_int(num_train_tokens, "num_train_tokens", caller, minimum=1)
    const = special.gamma(1 - 1 / b) / (b * special.zeta(b) ** (1 / b))
    return float(const * t ** (-(1 - 1 / b)))


def tail_cut_probs(probs, k: int) -> np.ndarray:
    r"""``probs`` cut to its first ``k`` entries (ranks) and renormalised (TT-2).

    Args:
      probs: ``(V,)`` probabilities, in rank order.
      k: ``1 <= k <= V`` ranks kept.

    Returns:
      ``(V,) float64``, zero past rank ``k``.

    Examples:
      >>> tail_cut_probs([0.5, 0.25, 0.25], 2).round(4).tolist()
      [0.6667, 0.3333, 0.0]

    References:
      docs/theory.md TT-2; proof: ``proofs/tt-2-tail-cutting.md``.
    """
    caller = "tail_cut_probs"
    p = _check_probs(probs, caller)
    k = _check_rank(k, p.size, caller)
    q = np.where(np.arange(p.size) < k, p, 0.0)
    total = q.sum()
    if total <= 0:
        fail(
            caller,
            "k",
            "a cut keeping positive mass",
            k,
            "Keep at least one rank with positive probability.",
        )
    return q / total


def _check_rank(k: object, size: int, caller: str) -> int:
    k = check_int(k, "k", caller, minimum=1)
    if k > size:
        fail(caller, "k", f"<= the vocabulary size {size}", k, f"Pass k <= {size}.")
    return k


def tail_mass(probs, k: int) -> float:
    r"""The tail mass :math:`\sum_{i > k} p_i`: the floor of the tail-cut error (TT-2).

    Args:
      probs: ``(V,)`` probabilities, in rank order.
      k: ``1 <= k <= V``.

    Returns:
      The mass past rank ``k``.

    Examples:
      >>> tail_mass([0.5, 0.25, 0.25], 1)
      0.5

    References:
      docs/theory.md TT-2; proof: ``proofs/tt-2-tail-cutting.md``.
    """
    caller = "tail_mass"
    p = _check_probs(probs, caller)
    k = _check_rank(k, p.size, caller)
    return float(p[k:].sum())


def tail_mass_asymptotic(beta: float, k: int) -> float:
    r"""Large-``k`` form :math:`k^{1-\beta}/((\beta - 1)\zeta(\beta))` of the Zipf tail.

    Args:
      beta: the Zipf exponent, ``> 1``.
      k: ``>= 1``.

    Returns:
      The asymptotic tail mass past rank ``k`` (infinite vocabulary).

    Examples:
      >>> round(tail_mass_asymptotic(2.0, 100), 5)
      0.00608

    References:
      docs/theory.md TT-2; proof: ``proofs/tt-2-tail-cutting.md``.
    """
    caller = "tail_mass_asymptotic"
    b = _check_beta(beta, caller)
    k = check_int(k, "k", caller, minimum=1)
    return float(k ** (1 - b) / ((b - 1) * special.zeta(b)))


def lost_mass_after_generations(
    probs, num_train_tokens: int, num_generations: int
) -> float:
    r"""TT-3: the truth's mass lost after ``n`` generations of ``T_0`` tokens.

    :math:`E \approx \sum_i p_i \exp(-T_0 p_i (1 - q_{n-1}))`, with :math:`q_s` the
    Poisson(1) Galton–Watson extinction probabilities
    (:func:`~collapse_jax.theory.counting.galton_watson_extinction`). The Poisson
    approximation of multinomial resampling (``T_0`` large, ``p_i`` small); at
    ``n = 1`` it is the Poissonised TT-1 sum :math:`\sum_i p_i e^{-T_0 p_i}`.

    Args:
      probs: ``(V,)`` the truth ``p`` (generation 0).
      num_train_tokens: ``T_0 >= 1`` tokens per generation.
      num_generations: ``n >= 1`` fits.

    Returns:
      The approximate expected lost mass.

    Examples:
      >>> round(lost_mass_after_generations([0.5, 0.5], 10, 1), 6)  # e^-5
      0.006738

    References:
      docs/theory.md TT-3; proof: ``proofs/tt-3-generations.md``.
    """
    caller = "lost_mass_after_generations"
    p = _check_probs(probs, caller)
    t = check_int(num_train_tokens, "num_train_tokens", caller, minimum=1)
    n = check_int(num_generations, "num_generations", caller, minimum=1)
    gap = 1.0 - galton_watson_extinction(n - 1)[-1]
    return float(np.sum(p * np.exp(-t * p * gap)))


def equivalent_sample_size(num_train_tokens: int, num_generations: int) -> float:
    r"""TT-3: one generation of :math:`T_0(1 - q_{n-1}) \approx 2T_0/n` tokens.

    ``n`` generations of resampling ``T_0`` tokens lose (in the Poisson approximation)
    the same mass as a single generation trained on this many tokens.

    Args:
      num_train_tokens: ``T_0 >= 1``.
      num_generations: ``n >= 1``.

    Returns:
      :math:`T_0(1 - q_{n-1})` as a float (``T_0`` at ``n = 1``).

    Examples:
      >>> round(equivalent_sample_size(1000, 10) / 1000, 4)
      0.1723

    References:
      docs/theory.md TT-3; proof: ``proofs/tt-3-generations.md``.
    """
    caller = "equivalent_sample_size"
    t = check_int(num_train_tokens, "num_train_tokens", caller, minimum=1)
    n = check_int(num_generations, "num_generations", caller, minimum=1)
    return float(t * (1.0 - galton_watson_extinction(n - 1)[-1]))
