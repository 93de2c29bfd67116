r"""Closed forms for the categorical chain (neutral Wright–Fisher model).

Generation ``i`` draws ``M_i`` points from the current probabilities :math:`p_i`
over ``K`` categories and refits by empirical frequencies:
:math:`p_{i+1} = \mathrm{counts}_{i+1}/M_i` with
:math:`\mathrm{counts}_{i+1} \sim \mathrm{Multinomial}(M_i, p_i)`. The chain is a
bounded martingale absorbed at a point mass. Every function here is a host-side
float64 closed form (NumPy/SciPy); the derivations are in ``proofs/``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr
from scipy.stats import binom

from collapse_jax.checks import described, fail
from collapse_jax.theory._schedule import (
    SampleSize,
    as_schedule,
    check_constant_size,
    check_int,
)

__all__ = [
    "absorption_horizon",
    "category_loss_probability",
    "entropy",
    "expected_gini_simpson",
    "expected_probs",
    "expected_support_size",
    "fixation_probabilities",
    "gini_simpson",
    "non_absorption_bounds",
    "wright_fisher_eigenvalues",
    "wright_fisher_matrix",
]

_SUM_TOLERANCE = 1e-6


def _check_probs(probs: object, name: str, caller: str) -> np.ndarray:
    """Return ``probs`` as a float64 ``(K,)`` array on the simplex, or raise."""
    fix = "Pass a (K,) array of non-negative floats summing to 1."
    try:
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        fail(caller, name, "a 1-D array of probabilities", described(repr(probs)), fix)
    if p.ndim != 1 or p.size == 0:
        fail(
            caller,
            name,
            "a non-empty 1-D array of probabilities",
            described(f"shape {p.shape}"),
            fix,
        )
    if not np.all(np.isfinite(p)):
        fail(caller, name, "finite", p.tolist(), "Pass finite probabilities.")
    if np.any(p < 0.0):
        fail(
            caller,
            name,
            "non-negative",
            described(f"minimum {p.min()}"),
            "Pass probabilities >= 0.",
        )
    total = float(p.sum())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        # "must sum to 1" does not fit fail()'s "must be ..." wording
        raise ValueError(
            f"{caller}(): {name} must sum to 1 (within {_SUM_TOLERANCE:g}); got sum "
            f"{total!r}. Normalise it first, e.g. {name} / {name}.sum()."
        )
    return p


def _check_prob(prob: object, caller: str) -> np.ndarray:
    try:
        q = np.asarray(prob, dtype=np.float64)
    except (TypeError, ValueError):
        q = np.asarray(np.nan)
    if not np.all(np.isfinite(q)) or np.any(q < 0.0) or np.any(q > 1.0):
        raise ValueError(
            f"{caller}(): prob must lie in [0, 1]; got {prob!r}. Pass a category "
            "probability (or an array of them) in [0, 1]."
        )
    return q


def _float_or_array(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=np.float64)


def gini_simpson(probs: np.ndarray) -> float:
    r"""Gini–Simpson index (heterozygosity) :math:`H = 1 - \sum_j p_j^2`.

    Zero exactly at a point mass, :math:`1 - 1/K` at the uniform distribution.

    Args:
        probs: ``(K,) float`` probabilities (non-negative, summing to 1).

    Returns:
        :math:`H` as a float.

    Raises:
        ValueError: ``probs`` is not a valid probability vector.

    Examples:
        >>> gini_simpson([0.25, 0.25, 0.25, 0.25])
        0.75

    References:
        docs/theory.md WF-3, SH-2; proof: ``proofs/wf-3-gini-simpson.md``.
    """
    p = _check_probs(probs, "probs", "gini_simpson")
    return float(1.0 - np.dot(p, p))


def entropy(probs: np.ndarray) -> float:
    r"""Shannon entropy :math:`-\sum_j p_j\log p_j` in nats (``0 log 0 = 0``).

    Args:
        probs: ``(K,) float`` probabilities (non-negative, summing to 1).

    Returns:
        The entropy as a float.

    Raises:
        ValueError: ``probs`` is not a valid probability vector.

    Examples:
        >>> round(entropy([0.5, 0.5, 0.0]), 6)
        0.693147

    References:
        docs/theory.md SH-2 (metrics); proof: ``proofs/wf-3-gini-simpson.md``.
    """
    p = _check_probs(probs, "probs", "entropy")
    return float(entr(p).sum())


def expected_probs(probs0: np.ndarray, num_generations: int) -> np.ndarray:
    r"""Expected fitted probabilities after ``n`` fits: :math:`E p_n = p_0`.

    :math:`E[p_{n+1}\mid p_n] = p_n` (martingale), for any schedule of sample
    sizes; the pooled marginal of one draw is :math:`p_0` at every generation.

    Args:
        probs0: ``(K,) float`` probabilities of the truth.
        num_generations: Number of fits ``n >= 0``.

    Returns:
        ``(K,) float64`` array equal to ``probs0``.

    Raises:
        ValueError: ``probs0`` is not a valid probability vector or
            ``num_generations`` is not a non-negative int.

    Examples:
        >>> expected_probs([0.2, 0.8], 100).tolist()
        [0.2, 0.8]

    References:
        docs/theory.md WF-1; proof: ``proofs/wf-1-martingale.md``.
    """
    caller = "expected_probs"
    p = _check_probs(probs0, "probs0", caller)
    check_int(num_generations, "num_generations", caller)
    return p.copy()


def fixation_probabilities(probs0: np.ndarray) -> np.ndarray:
    r"""Probability that the chain is absorbed at category ``j``: :math:`p_0(j)`.

    The chain is absorbed with probability 1 and :math:`p_n` is a bounded
    martingale, so :math:`P(\text{absorbed at } \delta_j) = p_0(j)` and category
    ``j`` is eventually lost with probability :math:`1 - p_0(j)`.

    Args:
        probs0: ``(K,) float`` probabilities of the truth.

    Returns:
        ``(K,) float64`` array equal to ``probs0``.

    Raises:
        ValueError: ``probs0`` is not a valid probability vector.

    Examples:
        >>> fixation_probabilities([0.1, 0.3, 0.6]).tolist()
        [0.1, 0.3, 0.6]

    References:
        docs/theory.md SH-3, WF-2; proof: ``proofs/sh-3-discrete-absorption.md``.
    """
    return _check_probs(probs0, "probs0", "fixation_probabilities").copy()


def category_loss_probability(
    prob: float | np.ndarray, sample_size: int
) -> float | np.ndarray:
    r"""Probability that a category gets no draw in one generation: :math:`(1-q)^M`.

    At least :math:`1 - Mq`, so a category with :math:`q \le 1/M` is likely lost
    early: the tails go first.

    Args:
        prob: Category probability ``q`` in ``[0, 1]``, a float or an array.
        sample_size: Sample size ``M >= 1`` of the generation.

    Returns:
        :math:`(1 - q)^M`: a float for a scalar ``prob``, else a float64 array of
        the same shape.

    Raises:
        ValueError: ``prob`` is outside ``[0, 1]`` or ``sample_size`` is not a
            positive int.

    Examples:
        >>> round(category_loss_probability(0.01, 100), 4)
        0.366

    References:
        docs/theory.md SH-3; proof: ``proofs/sh-3-discrete-absorption.md``.
    """
    caller = "category_loss_probability"
    q = _check_prob(prob, caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    # exp(M log1p(-q)) keeps relative precision for tiny q; log1p(-1) = -inf -> 0.
    with np.errstate(divide="ignore"):
        return _float_or_array(np.exp(m * np.log1p(-q)))


def expected_gini_simpson(
    probs0: np.ndarray, sample_size: SampleSize, num_generations: int
) -> float:
    r"""Expected Gini–Simpson index after ``n`` fits.

    .. math:: E H_n = H_0\prod_{i<n}\left(1 - \frac{1}{M_i}\right),

    exact for any ``K``, any :math:`p_0` and any schedule: for multinomial
    counts :math:`E[H_{i+1}\mid p_i] = (1 - 1/M_i) H_i`.

    Args:
        probs0: ``(K,) float`` probabilities of the truth.
        sample_size: Int ``M`` or a schedule ``M_0, M_1, ...`` (each ``>= 1``) of
            length ``>= num_generations``.
        num_generations: Number of fits ``n >= 0``.

    Returns:
        :math:`E H_n` as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_gini_simpson([0.5, 0.5], 10, 2), 6)
        0.405

    References:
        docs/theory.md WF-3, SE-1; proof: ``proofs/wf-3-gini-simpson.md``.
    """
    caller = "expected_gini_simpson"
    h0 = gini_simpson(_check_probs(probs0, "probs0", caller))
    m = as_schedule(sample_size, num_generations, caller=caller).astype(np.float64)
    return float(h0 * np.prod(1.0 - 1.0 / m))


def wright_fisher_matrix(sample_size: int) -> np.ndarray:
    r"""Transition matrix of the 2-type Wright–Fisher chain on counts.

    .. math:: P_{c, c'} = \binom{M}{c'}\left(\frac{c}{M}\right)^{c'}
       \left(1 - \frac{c}{M}\right)^{M - c'},\qquad c, c' = 0, \dots, M,

    the law of one category's count (any ``K``) under resampling.

    Args:
        sample_size: Constant sample size ``M >= 1``.

    Returns:
        ``(M + 1, M + 1) float64`` row-stochastic matrix.

    Raises:
        ValueError: ``sample_size`` is not a positive int.

    Examples:
        >>> np.round(wright_fisher_matrix(2), 12).tolist()
        [[1.0, 0.0, 0.0], [0.25, 0.5, 0.25], [0.0, 0.0, 1.0]]

    References:
        docs/theory.md WF-4; proof: ``proofs/wf-4-spectrum.md``.
    """
    m = check_constant_size(sample_size, "wright_fisher_matrix", minimum=1)
    counts = np.arange(m + 1)
    return binom.pmf(counts[None, :], m, counts[:, None] / m).astype(np.float64)


def wright_fisher_eigenvalues(sample_size: int) -> np.ndarray:
    r"""Eigenvalues of :func:`wright_fisher_matrix`, sorted in descending order.

    .. math:: \lambda_j = \prod_{i<j}\left(1 - \frac{i}{M}\right),
       \qquad j = 0, \dots, M,

    so :math:`\lambda_0 = \lambda_1 = 1` (the two absorbing states) and
    :math:`\lambda_2 = 1 - 1/M` sets the absorption rate. In the basis of falling
    factorials of ``c`` the matrix is triangular with this diagonal.

    Args:
        sample_size: Constant sample size ``M >= 1``.

    Returns:
        ``(M + 1,) float64`` array, descending.

    Raises:
        ValueError: ``sample_size`` is not a positive int.

    Examples:
        >>> wright_fisher_eigenvalues(4).tolist()
        [1.0, 1.0, 0.75, 0.375, 0.09375]

    References:
        docs/theory.md WF-4; proof: ``proofs/wf-4-spectrum.md``.
    """
    m = check_constant_size(sample_size, "wright_fisher_eigenvalues", minimum=1)
    factors = 1.0 - np.arange(m, dtype=np.float64) / m
    return np.concatenate(([1.0], np.cumprod(factors)))


def non_absorption_bounds(
    probs0: np.ndarray, sample_size: int, num_generations: int
) -> tuple[float, float]:
    r"""Bounds on the probability that the chain is not yet absorbed after ``n`` fits.

    .. math:: \frac{E H_n}{1 - 1/K} \le P(\text{not absorbed at } n) \le
       \min\!\left(1, E H_n\frac{M^2}{2(M-1)}\right),

    with :math:`E H_n` from :func:`expected_gini_simpson`. ``H = 0`` on absorbed
    states, and every state has :math:`H \le 1 - 1/K`; for ``n >= 1``,
    :math:`p_n` lies on the grid :math:`\{c/M\}` (here ``M`` is the size of the
    sample that produced :math:`p_n`), where a non-absorbed state has
    :math:`H \ge 2(M-1)/M^2`. For simplicity ``M`` must be constant, so this grid
    is the same at every generation. At ``n = 0`` the answer is exact: ``(1, 1)``
    unless :math:`p_0` is a point mass, ``(0, 0)`` if it is (:math:`p_0` need not
    lie on the grid, so the upper bound does not apply there).

    Args:
        probs0: ``(K,) float`` probabilities of the truth.
        sample_size: Constant sample size ``M >= 2`` (schedules are rejected).
        num_generations: Number of fits ``n >= 0``.

    Returns:
        ``(lower, upper)`` as floats, ``0 <= lower <= upper <= 1``.

    Raises:
        ValueError: An argument is out of range, or ``sample_size`` is a
            schedule.

    Examples:
        >>> lower, upper = non_absorption_bounds([0.25] * 4, 50, 100)
        >>> round(lower, 4), round(upper, 4)
        (0.1326, 1.0)

    References:
        docs/theory.md WF-5; proof: ``proofs/wf-5-absorption-bounds.md``.
    """
    caller = "non_absorption_bounds"
    p = _check_probs(probs0, "probs0", caller)
    m = check_constant_size(
        sample_size,
        caller,
        minimum=2,
        reason="(with M = 1 every chain is absorbed after one generation)",
    )
    n = check_int(num_generations, "num_generations", caller)
    h_n = expected_gini_simpson(p, m, n)
    if n == 0 or h_n == 0.0:
        exact = 1.0 if h_n > 0.0 else 0.0
        return exact, exact
    lower = h_n / (1.0 - 1.0 / p.size)
    upper = min(1.0, h_n * m * m / (2.0 * (m - 1)))
    return float(lower), float(upper)


def absorption_horizon(
    probs0: np.ndarray,
    sample_size: int,
    num_chains: int,
    tolerance: float = 1e-4,
) -> int:
    r"""Number of generations after which all chains are absorbed, up to ``tolerance``.

    The smallest ``t`` with ``num_chains * upper(t) <= tolerance``, where
    ``upper`` is the upper bound of :func:`non_absorption_bounds`: by the union
    bound, the probability that any of ``num_chains`` independent chains is
    still unabsorbed after ``t`` generations is at most ``tolerance``. Use it as
    the fixed horizon of "run to absorption" tests.

    Args:
        probs0: ``(K,) float`` probabilities of the truth.
        sample_size: Constant sample size ``M >= 2``.
        num_chains: Number of independent chains ``C >= 1``.
        tolerance: Allowed probability that some chain is not absorbed, in
            ``(0, 1)``.

    Returns:
        The horizon ``t`` as an int (0 if :math:`p_0` is a point mass).

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> absorption_horizon([0.25] * 4, 50, 2**14)
        1083

    References:
        docs/theory.md WF-5 ("use"), SH-3; proof: ``proofs/wf-5-absorption-bounds.md``.
    """
    caller = "absorption_horizon"
    p = _check_probs(probs0, "probs0", caller)
    m = check_constant_size(sample_size, caller, minimum=2)
    c = check_int(num_chains, "num_chains", caller, minimum=1)
    try:
        tolerance = float(tolerance)
    except (TypeError, ValueError):
        tolerance = float("nan")
    if not 0.0 < tolerance < 1.0:
        raise ValueError(
            f"{caller}(): tolerance must satisfy 0 < tolerance < 1; got {tolerance}. "
            "Pass e.g. 1e-4."
        )
    h0 = gini_simpson(p)
    if h0 == 0.0:
        return 0

    def ok(t: int) -> bool:
        return c * non_absorption_bounds(p, m, t)[1] <= tolerance

    # Solve c H_0 (1 - 1/M)^t M^2 / (2(M - 1)) = tolerance, then fix up on integers.
    scale = c * h0 * m * m / (2.0 * (m - 1))
    t = max(1, int(np.ceil(np.log(tolerance / scale) / np.log1p(-1.0 / m))))
    while t > 1 and ok(t - 1):
        t -= 1
    while not ok(t):
        t += 1
    return t


def expected_support_size(probs: np.ndarray, sample_size: int) -> float:
    r"""Expected number of categories that survive one generation.

    .. math:: E\,\#\{j : \mathrm{count}_j > 0\} = \sum_j
       \left[1 - (1 - p_j)^M\right],

    by linearity of expectation, with :math:`\mathrm{count}_j \sim
    \mathrm{Bin}(M, p_j)`.

    Args:
        probs: ``(K,) float`` probabilities of the current model.
        sample_size: Sample size ``M >= 1`` of the generation.

    Returns:
        The expected support size as a float.

    Raises:
        ValueError: An argument is out of range.

    Examples:
        >>> round(expected_support_size([0.5, 0.25, 0.25], 2), 6)
        1.625

    References:
        docs/theory.md WF-9; proof: ``proofs/wf-9-surviving-categories.md``.
    """
    caller = "expected_support_size"
    p = _check_probs(probs, "probs", caller)
    m = check_constant_size(sample_size, caller, minimum=1)
    with np.errstate(divide="ignore"):
        return float(-np.expm1(m * np.log1p(-p)).sum())
