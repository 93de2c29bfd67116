r"""A minority in the neutral categorical chain: loss probability and time to loss.

In the categorical replace chain a group of categories (a minority, ``cj.minority``)
has a total share that is exactly a two-type Wright–Fisher chain, so it vanishes
with probability one minus its initial share; its mean time to loss has the
diffusion approximation of Kimura and Ohta and an exact value from the chain's
fundamental matrix. Host-side float64 (NumPy/SciPy). Re-exported by
:mod:`collapse_jax.theory.web`.

Proof: ``proofs/wb-5-minority.md``; docs/theory.md WB-5 (§17).
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr
from scipy.stats import binom

from collapse_jax.checks import fail
from collapse_jax.theory._schedule import check_constant_size
from collapse_jax.theory._web_checks import _check_unit, _scalar_or_array
from collapse_jax.theory.discrete import wright_fisher_matrix

__all__ = [
    "minority_mean_absorption_time",
    "minority_mean_time_to_loss",
    "minority_vanish_probability",
]


def _check_share(share: object, caller: str) -> np.ndarray:
    return _check_unit(share, "share", caller, "the group's initial share")


def minority_vanish_probability(share: object) -> float | np.ndarray:
    r"""Probability that a group of categories vanishes in the neutral chain.

    In the categorical replace chain (empirical refit on ``M`` draws), the total
    probability ``x_t`` of any group of categories is a two-type Wright–Fisher
    chain (lumping a multinomial gives a binomial): a bounded martingale absorbed at
    0 or 1, so :math:`P(\text{vanishes}) = 1 - x_0` exactly, for every ``M`` and
    every sample-size schedule (SH-3, WF-2).

    Args:
        share: the group's initial share :math:`x_0` in ``[0, 1]`` (broadcasts).

    Returns:
        :math:`1 - x_0`.

    Raises:
        ValueError: a share outside ``[0, 1]``.

    Examples:
        >>> round(minority_vanish_probability(0.1), 12)
        0.9

    References:
        docs/theory.md WB-5; proof: ``proofs/wb-5-minority.md``.
    """
    x = _check_share(share, "minority_vanish_probability")
    return _scalar_or_array(1.0 - x)


def _first_law(share: float | np.ndarray, m: int) -> np.ndarray:
    """Law of the group's count after one fit to ``M`` draws from share ``x``:
    ``Bin(M, x)``, shape ``x.shape + (M + 1,)`` (a row of the Wright–Fisher
    matrix when ``x M`` is a count)."""
    counts = np.arange(m + 1, dtype=np.float64)
    return binom.pmf(counts, m, np.asarray(share, np.float64)[..., None])


def _times_after_first(first: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
    """``(P(loss), E[T 1{loss}], E T)`` of the two-type chain whose count after the
    first fit has law ``first`` (``(..., M + 1)``); ``T`` is the first generation
    at which the chain is absorbed (at 0 for the loss), counting that first fit
    as generation 1.

    With ``h_c = 1 - c/M`` (the loss probability from count ``c``), ``Q`` the
    Wright–Fisher matrix on the transient counts ``1 .. M - 1`` and ``N = (I -
    Q)^{-1}`` its fundamental matrix: a chain at a transient count ``c`` after the
    first fit stays transient ``(N 1)_c`` more generations on average, and
    ``E[(T - 1) 1{loss}] = (N h)_c`` (it is transient at step ``k`` and lost later
    with probability ``(Q^k h)_c``). One solve serves every starting law.
    """
    h = 1.0 - np.arange(m + 1) / m
    p_loss = first @ h
    t_loss = p_loss.copy()  # T >= 1: the first fit counts once
    t_all = np.ones(first.shape[:-1])
    if m > 1:
        q = wright_fisher_matrix(m)[1:m, 1:m]
        rhs = np.stack([h[1:m], np.ones(m - 1)], axis=1)
        later = first[..., 1:m] @ np.linalg.solve(np.eye(m - 1) - q, rhs)
        t_loss = t_loss + later[..., 0]
        t_all = t_all + later[..., 1]
    return p_loss, t_loss, t_all


def _exact_wf_times(x: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(E[T | loss], E T)`` of the two-type chain started at the count
    ``round(x M)`` (elementwise in ``x``; 0 and ``M`` are absorbed at once)."""
    start = np.rint(np.asarray(x, np.float64) * m)
    p_loss, t_loss, t_all = _times_after_first(_first_law(start / m, m), m)
    inner = (start > 0) & (start < m)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.where(start == 0, 0.0, np.where(inner, t_loss / p_loss, np.nan))
    return cond, np.where(inner, t_all, 0.0)


def vanished_by_curve(share: float, m: int, num_generations: int) -> np.ndarray:
    """``P(m_n = 0)`` for ``n = 0 .. N`` of the two-type chain whose truth has share
    ``x`` (generation 1's count is ``Bin(M, x)``); 0 at generation 0.

    The law at generation ``n + 1`` is the law at ``n`` times the Wright–Fisher
    matrix: a NumPy vector-matrix product per generation, ``O(N M^2)`` in all
    (repeated squaring would cost ``O(M^3 log N)``, more for the ``M`` of a run).
    """
    mat = wright_fisher_matrix(m)
    dist = _first_law(share, m)
    out = np.zeros(num_generations + 1)
    for n in range(1, num_generations + 1):
        out[n] = dist[0]
        dist = dist @ mat
    return out


def time_to_loss_from_share(share: float, m: int) -> float:
    """Exact ``E[T | loss]`` of the two-type chain whose truth has share ``x`` in
    (0, 1) (``x M`` need not be a count)."""
    p_loss, t_loss, _ = _times_after_first(_first_law(share, m), m)
    return float(t_loss / p_loss)


def _time_args(share, sample_size, exact, caller):
    x = _check_share(share, caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    if exact and m > _EXACT_MAX:
        fail(
            caller,
            "sample_size",
            f"<= {_EXACT_MAX} with exact=True (an (M-1)x(M-1) solve)",
            m,
            "Pass exact=False for the diffusion approximation.",
        )
    return x, m


_EXACT_MAX = 4000


def minority_mean_time_to_loss(
    share: object, sample_size: int, *, exact: bool = False
) -> float | np.ndarray:
    r"""Mean number of generations until a group vanishes, given that it does.

    Diffusion approximation (Kimura & Ohta 1969) of the two-type Wright–Fisher
    chain with ``M`` draws a generation (per-generation variance
    :math:`x(1-x)/M`):

    .. math:: E[T_0 \mid \text{loss}] \approx -\frac{2M\,x\log x}{1 - x},

    asymptotic as ``M → ∞`` with ``x`` fixed; the relative error is
    :math:`O(1/M)` away from the boundary and about 3 % at ``M = 100``, ``x = 0.1``
    (``proofs/wb-5-minority.md`` tabulates it against the exact chain). With
    ``exact=True`` the exact value of the chain started at count
    ``round(x M)``, from the fundamental matrix of
    :func:`~collapse_jax.theory.discrete.wright_fisher_matrix` (``M <= 4000``).

    Args:
        share: initial share :math:`x` in ``[0, 1)`` (broadcasts); 0 gives 0.
        sample_size: ``M >= 1`` draws per generation.
        exact: the exact chain instead of the diffusion.

    Returns:
        The mean time in generations (NaN at ``x = 1``: the group cannot vanish).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(minority_mean_time_to_loss(0.1, 100), 2)
        51.17

    References:
        docs/theory.md WB-5; proof: ``proofs/wb-5-minority.md``.
    """
    caller = "minority_mean_time_to_loss"
    x, m = _time_args(share, sample_size, exact, caller)
    if exact:
        return _scalar_or_array(_exact_wf_times(x, m)[0])
    # entr(x) = -x log x (0 at x = 0), as in minority_mean_absorption_time.
    loss = 2.0 * m * entr(x) / np.where(x < 1.0, 1.0 - x, 1.0)
    return _scalar_or_array(np.where(x >= 1.0, np.nan, loss))


def minority_mean_absorption_time(
    share: object, sample_size: int, *, exact: bool = False
) -> float | np.ndarray:
    r"""Mean number of generations until a group is lost or fixed.

    Diffusion approximation of the two-type Wright–Fisher chain:

    .. math:: E\,T \approx -2M\bigl(x\log x + (1-x)\log(1-x)\bigr),

    (:math:`(1-x)E[T_0 \mid \text{loss}] + xE[T_1 \mid \text{fixation}]`);
    asymptotic as ``M → ∞``, exact with ``exact=True`` (``M <= 4000``).

    Args:
        share: initial share :math:`x` in ``[0, 1]`` (broadcasts).
        sample_size: ``M >= 1`` draws per generation.
        exact: the exact chain instead of the diffusion.

    Returns:
        The mean absorption time in generations.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(minority_mean_absorption_time(0.5, 100), 2)
        138.63

    References:
        docs/theory.md WB-5; proof: ``proofs/wb-5-minority.md``.
    """
    caller = "minority_mean_absorption_time"
    x, m = _time_args(share, sample_size, exact, caller)
    if exact:
        return _scalar_or_array(_exact_wf_times(x, m)[1])
    out = 2.0 * m * (entr(x) + entr(1.0 - x))  # entr(x) = -x log x
    return _scalar_or_array(np.asarray(out, dtype=np.float64))
