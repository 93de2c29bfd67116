r"""The categorical chain under the web regime (WB-2): the exact squared error.

Re-exported by :mod:`collapse_jax.theory.web`. Proof:
``proofs/wb-2-categorical-web.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from collapse_jax.theory._mixing_checks import _check_init_probs, _check_probs
from collapse_jax.theory._schedule import check_int
from collapse_jax.theory._web_checks import _source
from collapse_jax.theory._web_kept import _path_setup, _setup
from collapse_jax.theory._web_paths import categorical_all, categorical_newest


def web_categorical_sq_error(
    probs,
    sample_size: int,
    num_generations: int,
    synthetic_share: ArrayLike,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    init_probs=None,
    source: str = "newest",
) -> np.ndarray:
    r"""Categorical chain under the web regime: exact :math:`E\lVert p_t - p^*\rVert^2`.

    Generation ``t`` fits the empirical frequencies of the ``n`` kept items, which
    given ``n`` are i.i.d. draws of :math:`q_t = e\,p_t + (1-e)p^*`
    (``e`` = :func:`effective_share`). With :math:`H = 1 - \lVert p^*\rVert^2`,
    :math:`\nu = E[1/n \mid n \ge 1]`, ``π = P(n = 0)`` (the model is kept),
    :math:`\rho = \pi + (1-\pi)e` and :math:`e_0 = p_0 - p^*`:

    .. math:: D_{t+1} = \pi D_t + (1-\pi)\bigl[e^2(1-\nu)D_t
       + \nu\bigl(H - 2e\rho^t\,p^*\cdot e_0\bigr)\bigr]

    (with a share schedule, per-fit ``e``, ``π``, ``ν`` and
    :math:`\rho^t \to \prod_{k<t}\rho_k`).

    Args:
        probs: ``(K,)`` truth :math:`p^*` (the human items' law).
        sample_size: ``M >= 1`` items per generation (before detection).
        num_generations: ``n >= 0``.
        synthetic_share: ``s`` in ``[0, 1]``, or a schedule: a sequence of
            ``num_generations`` shares, ``s_t`` for fit ``t``, or the regime's
            own :func:`~collapse_jax.linear_share` /
            :func:`~collapse_jax.logistic_share` (evaluated at fits ``0 .. n - 1``
            as in the chain). The recursion is per fit, with ``e``, ``π``, ``ν``
            of that fit.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        init_probs: ``(K,)`` :math:`p_0` (default :math:`p^*`).
        source: ``"newest"``, or ``"all"``: fit ``t >= 1`` draws each synthetic
            item from a uniformly chosen model among ``1 .. t``; exact in
            :math:`O(n^2)` through the Gram matrix of the deviations, from
            :math:`p_0 = p^*` only (``proofs/wb-2-categorical-web.md``, part 6).

    Returns:
        ``(n + 1,) float64`` array :math:`D_0, \dots, D_n` (constant :math:`D_0`
        when the detector keeps nothing).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> d = web_categorical_sq_error([0.5, 0.3, 0.2], 20, 100, 0.5, 0.5)
        >>> round(float(d[-1]), 5)
        0.04695

    References:
        docs/theory.md WB-2; proof: ``proofs/wb-2-categorical-web.md``.
    """
    caller = "web_categorical_sq_error"
    p = _check_probs(probs, "probs", caller)
    gens = check_int(num_generations, "num_generations", caller)
    p0 = _check_init_probs(init_probs, p, "probs", caller)
    e, skip, nu = _path_setup(
        sample_size,
        synthetic_share,
        recall,
        false_positive_rate,
        "categorical",
        gens,
        caller,
    )
    all_past = _source(source, init_probs is not None, "init_probs", caller)
    h = 1.0 - float(p @ p)
    if all_past:
        return categorical_all(h, e, skip, nu)
    e0 = p0 - p
    return categorical_newest(h, float(e0 @ e0), float(p @ e0), e, skip, nu)


def web_categorical_stationary(
    probs,
    sample_size: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
) -> tuple[float, float]:
    r"""Stationary :math:`E\lVert p - p^*\rVert^2` and Gini–Simpson of the web chain.

    .. math:: D_\infty = \frac{\nu H}{1 - e^2(1 - \nu)},\qquad
       E\,G_\infty = H - D_\infty,

    the limit from every start when ``e < 1`` (:math:`E p_t \to p^*`), with
    :math:`\nu = E[1/n \mid n \ge 1]`, ``n ~ Binomial(M, κ)``. ``e = 0`` (all kept
    items human) gives :math:`\nu H` (``H/M`` with no detector: the all-human
    error); ``e = 1`` gives ``H``, the replace chain's absorption (SE-2r) from
    :math:`p_0 = p^*`. Web with
    a fixed composition (``(1-e)n`` human and ``en`` synthetic items) is SE-2's fresh
    chain with real fraction ``1 - e``; the random composition adds
    :math:`e(1-e)D_t/n` a generation (``proofs/wb-2-categorical-web.md``).

    Args:
        probs: ``(K,)`` truth :math:`p^*`.
        sample_size: ``M >= 1``.
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.

    Returns:
        ``(D_inf, G_inf)`` floats; NaN when the detector keeps nothing.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> d, g = web_categorical_stationary([0.5, 0.3, 0.2], 20, 0.5, 0.5)
        >>> round(d, 5), round(g, 5)
        (0.04695, 0.57305)

    References:
        docs/theory.md WB-2; proof: ``proofs/wb-2-categorical-web.md``.
    """
    caller = "web_categorical_stationary"
    p = _check_probs(probs, "probs", caller)
    _, e, _, nu = _setup(
        sample_size, synthetic_share, recall, false_positive_rate, "categorical", caller
    )
    h = 1.0 - float(p @ p)
    d = nu * h / (1.0 - e * e * (1.0 - nu))
    return float(d), float(h - d)
