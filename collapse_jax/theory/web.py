r"""Closed forms for the web regime: a synthetic share, detection and minorities.

The web regime (``cj.web``) trains generation ``t`` on ``M`` items, each synthetic
(drawn from the previous model) with probability ``s`` and human (a fresh draw from
the truth) otherwise; a detector flags each synthetic item with probability ``r``
(recall) and each human item with probability ``f`` (false-positive rate), and the
flagged items get weight 0 before the fit. Host-side float64 formulas (NumPy).

Proofs: ``proofs/wb-1-effective-share.md`` and the later ``proofs/wb-*.md``;
docs/theory.md §11 (the web regime).
"""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import as_float_array, described, fail

__all__ = ["effective_share"]


def _check_unit(value: object, name: str, caller: str, what: str) -> np.ndarray:
    """``value`` as a float64 array with every entry in ``[0, 1]``, or the error."""
    out = as_float_array(caller, name, value)
    if not np.all(np.isfinite(out)) or np.any(out < 0.0) or np.any(out > 1.0):
        bad = out[~(np.isfinite(out) & (out >= 0.0) & (out <= 1.0))]
        fail(
            caller,
            name,
            f"in [0, 1] ({what})",
            described(np.array2string(np.atleast_1d(bad)[:3], precision=4)),
            "Pass a probability in [0, 1].",
        )
    return out


def _scalar_or_array(out: np.ndarray) -> float | np.ndarray:
    return float(out) if out.ndim == 0 else out


def effective_share(
    synthetic_share: object, recall: object, false_positive_rate: object = 0.0
) -> float | np.ndarray:
    r"""The synthetic share among the items that survive detection.

    An item is synthetic with probability ``s``; the detector keeps a synthetic item
    with probability ``1 - r`` and a human item with probability ``1 - f``, so a kept
    item is synthetic with probability

    .. math:: s_{\mathrm{eff}} = \frac{s(1-r)}{s(1-r) + (1-s)(1-f)}.

    This is the law of one kept item; the number of kept items out of ``M`` is
    Binomial(``M``, ``s(1-r) + (1-s)(1-f)``) and, given it, the synthetic count
    among them is Binomial with success probability ``s_eff`` (binomial thinning),
    so the composition of each fit is random (``proofs/wb-1-effective-share.md``).

    Args:
        synthetic_share: ``s`` in ``[0, 1]``, a number or an array.
        recall: ``r`` in ``[0, 1]``, a number or an array.
        false_positive_rate: ``f`` in ``[0, 1]``, a number or an array.

    Returns:
        ``s_eff`` (broadcast over the arguments; a float for scalar input). Where
        the detector keeps nothing (``s(1-r) + (1-s)(1-f) = 0``: ``s = r = 1``,
        ``s = 0`` with ``f = 1``, or ``r = f = 1``) no item survives and the share is
        undefined: NaN.

    Raises:
        ValueError: an argument outside ``[0, 1]`` or not numeric.

    Examples:
        >>> round(effective_share(0.5, 0.9), 6)
        0.090909
        >>> effective_share(0.5, 0.0, 0.0)
        0.5

    References:
        docs/theory.md §11 WB-1; proof: ``proofs/wb-1-effective-share.md``.
    """
    caller = "effective_share"
    s = _check_unit(synthetic_share, "synthetic_share", caller, "a share of items")
    r = _check_unit(recall, "recall", caller, "the share of synthetic items flagged")
    f = _check_unit(
        false_positive_rate,
        "false_positive_rate",
        caller,
        "the share of human items flagged",
    )
    kept_synthetic = s * (1.0 - r)
    kept = kept_synthetic + (1.0 - s) * (1.0 - f)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(
            kept > 0.0, kept_synthetic / np.where(kept > 0, kept, 1.0), np.nan
        )
    return _scalar_or_array(np.asarray(out, dtype=np.float64))
