r"""The web chains against the all-human error (WB-4): the factor, the recall needed.

Re-exported by :mod:`collapse_jax.theory.web`. Proof: ``proofs/wb-4-detection.md``.
"""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import fail
from collapse_jax.theory._schedule import (
    check_constant_size,
    check_estimator,
    check_int,
    check_positive_float,
)
from collapse_jax.theory._web_categorical import web_categorical_stationary
from collapse_jax.theory._web_checks import (
    _MIN_KEPT,
    _check_scalar_unit,
    _family,
    _web_args,
)
from collapse_jax.theory._web_gaussian import web_gaussian_stationary_moments


def _factor(fam, m, synthetic_share, recall, fpr, estimator, caller) -> float:
    # Checked here, in the caller's name (the stationary forms would name
    # themselves in the message).
    _web_args(synthetic_share, recall, fpr, caller)
    if fam == "categorical":
        # D_inf is proportional to H: the factor does not depend on p*.
        d, _ = web_categorical_stationary([0.5, 0.5], m, synthetic_share, recall, fpr)
        return d / 0.5 * m
    err, _ = web_gaussian_stationary_moments(
        m, synthetic_share, recall, fpr, estimator=estimator
    )
    return err * m


def web_error_factor(
    sample_size: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    family: str = "categorical",
    estimator: str = "unbiased",
) -> float:
    r"""Stationary error of the web chain over the all-human error.

    The all-human error is that of a fit on ``M`` human items (``s = 0``, no
    detector): ``H/M`` for the categorical chain (:math:`E\lVert p - p^*\rVert^2`)
    and :math:`\sigma^2/M` for the Gaussian (:math:`E(\mu - \mu^*)^2`). The factor
    is :math:`M\nu/(1 - e^2(1-\nu))` (categorical) or
    :math:`M\nu/(1 - e^2 - \nu e)` (Gaussian, unbiased); to leading order in
    ``1/M`` with :math:`A = s(1-r)`, :math:`B = (1-s)(1-f)`, the categorical factor
    is :math:`(A + B)/(B(2A + B))`: it falls as ``A`` grows, so removing synthetic
    items (a higher recall) raises it, whereas false positives (a smaller ``B``)
    raise it too (``proofs/wb-4-detection.md``).

    Args:
        sample_size: ``M`` (>= 1 categorical, >= 2 Gaussian).
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        family: ``"categorical"`` or ``"gaussian"``.
        estimator: the Gaussian refit, ``"unbiased"`` or ``"mle"``.

    Returns:
        The factor (>= 0; ``inf`` when the Gaussian has no stationary moments, NaN
        when nothing is kept).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(web_error_factor(100, 0.5, 0.0), 4)
        1.3289
        >>> round(web_error_factor(100, 0.5, 1.0), 4)
        2.0206

    References:
        docs/theory.md WB-4; proof: ``proofs/wb-4-detection.md``.
    """
    caller = "web_error_factor"
    fam = _family(family, caller)
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    check_estimator(estimator, caller)
    return _factor(
        fam, m, synthetic_share, recall, false_positive_rate, estimator, caller
    )


def recall_needed(
    factor: float,
    sample_size: int,
    synthetic_share: float,
    false_positive_rate: float = 0.0,
    *,
    family: str = "categorical",
    estimator: str = "unbiased",
    grid: int = 2001,
) -> float:
    r"""The smallest recall that keeps the stationary error within ``factor`` of the
    all-human error.

    Solves :func:`web_error_factor` ``(r) <= factor`` for ``r`` in ``[0, 1]``: a
    scan on ``grid`` points, then a root refined by bisection between the
    last failing and the first passing point. The factor is not monotone in ``r``
    in general (``proofs/wb-4-detection.md``): in the categorical chain it rises
    with ``r`` (detection never helps the stationary squared error, so the answer
    is 0 or none); in the Gaussian chain it falls with ``r`` when few human items
    are kept (``M B < 1`` to leading order), where the synthetic items' resampling
    noise outweighs their information.

    Args:
        factor: ``c >= 1``, the allowed multiple of the all-human error.
        sample_size: ``M``.
        synthetic_share: ``s`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        family: ``"categorical"`` or ``"gaussian"``.
        estimator: the Gaussian refit, ``"unbiased"`` or ``"mle"``.
        grid: scan points (>= 2).

    Returns:
        The recall as a float; NaN when no recall in ``[0, 1]`` reaches the factor.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(recall_needed(10.0, 10, 0.95, family="gaussian"), 4)
        0.9343
        >>> recall_needed(1.5, 100, 0.5)
        0.0

    References:
        docs/theory.md WB-4; proof: ``proofs/wb-4-detection.md``.
    """
    caller = "recall_needed"
    c = check_positive_float(factor, "factor", caller)
    if c < 1.0:
        fail(
            caller,
            "factor",
            ">= 1 (a multiple of the all-human error)",
            c,
            "Pass a factor >= 1.",
        )
    fam = _family(family, caller)
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    check_estimator(estimator, caller)
    points = check_int(grid, "grid", caller, minimum=2)
    s = _check_scalar_unit(synthetic_share, "synthetic_share", caller, "a share")
    f = _check_scalar_unit(
        false_positive_rate, "false_positive_rate", caller, "human items flagged"
    )

    def excess(r: float) -> float:
        value = _factor(fam, m, s, r, f, estimator, caller)
        return (np.inf if np.isnan(value) else value) - c  # NaN: nothing kept

    recalls = np.linspace(0.0, 1.0, points)
    values = np.array([excess(r) for r in recalls])
    passing = np.flatnonzero(values <= 0.0)
    if passing.size == 0:
        return np.nan
    first = int(passing[0])
    if first == 0:
        return 0.0
    # Bisection between the last failing and the first passing point: robust where
    # the factor is infinite (no stationary moments) on the failing side.
    lo, hi = float(recalls[first - 1]), float(recalls[first])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if excess(mid) <= 0.0:
            hi = mid
        else:
            lo = mid
    return hi
