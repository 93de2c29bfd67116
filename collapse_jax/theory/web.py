"""The web regime (:func:`collapse_jax.web`): the synthetic share after detection.

Host-side closed forms (NumPy, float64).
"""

from __future__ import annotations

import numpy as np

__all__ = ["effective_share", "kept_fraction"]


def kept_fraction(s, recall, false_positive_rate=0.0):
    """The expected share of a generation's items a detector keeps.

    An item is synthetic with probability ``s`` and then kept with probability
    ``1 - recall``; human with probability ``1 - s`` and then kept with probability
    ``1 - false_positive_rate``:  ``s (1 - r) + (1 - s)(1 - f)``.

    Args:
      s, recall, false_positive_rate: numbers in ``[0, 1]`` (broadcast).
    """
    s = np.asarray(s, np.float64)
    r = np.asarray(recall, np.float64)
    f = np.asarray(false_positive_rate, np.float64)
    return s * (1 - r) + (1 - s) * (1 - f)


def effective_share(s, recall, false_positive_rate=0.0):
    """The synthetic share among the items a detector keeps.

    ``s (1 - r) / (s (1 - r) + (1 - s)(1 - f))``: by Bayes' rule, the probability
    that a kept item is synthetic (items are synthetic with probability ``s``,
    flagged with probability ``r`` if synthetic and ``f`` if human, independently).
    Given ``K`` kept items, the number of synthetic ones is Binomial(K, this share).
    NaN where nothing is kept (``s = 1, r = 1`` or ``s = 0, f = 1``).

    Args:
      s: the synthetic share of the scrape, in ``[0, 1]``.
      recall: the probability ``r`` that a synthetic item is flagged.
      false_positive_rate: the probability ``f`` that a human item is flagged.

    Examples:
      >>> round(float(effective_share(0.5, 0.8)), 6)
      0.166667
    """
    s = np.asarray(s, np.float64)
    r = np.asarray(recall, np.float64)
    syn = s * (1 - r)
    kept = kept_fraction(s, recall, false_positive_rate)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept > 0, syn / np.where(kept > 0, kept, 1.0), np.nan)
