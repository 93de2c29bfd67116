"""What a theory curve states about the chains, and that statistic of simulated chains.

A theory curve is a statement about one statistic of a metric's law across chains:
its expected value (``"mean"``), its ``"median"``, a quantile (``"quantile:0.9"``) or,
for a bool metric, the probability that it holds (``"probability"``). A figure that
draws the curve must draw the same statistic of the simulation beside it, or the two
are not comparable: the mean of a heavy-tailed metric such as W₂² can sit above the
90 % quantile of the chains (docs/theory.md §12.3). :func:`across_chains` computes
each statistic with an uncertainty band of its own kind: ± 2 standard errors from
the independent chains for a mean or a probability, and a quantile band (the spread
of the chains) for a median or a quantile.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from collapse_jax._quantiles import nanquantile
from collapse_jax.checks import fail

__all__ = ["KINDS", "check_statistic", "quantile_level", "across_chains", "Summary"]

#: The statistics a theory curve may state ("quantile:<level>" for a quantile).
KINDS = ("mean", "median", "probability", "quantile:<level>")

#: Standard errors on each side of a mean or a probability.
SE_MULTIPLE = 2.0


def quantile_level(statistic: str) -> float | None:
    """The level of ``"quantile:<level>"`` (0.5 for ``"median"``), else None."""
    if statistic == "median":
        return 0.5
    if statistic.startswith("quantile:"):
        return float(statistic.split(":", 1)[1])
    return None


def check_statistic(fn: str, arg: str, statistic: Any) -> str:
    """Validate a statistic name; return it normalised (``"quantile:0.9"``).

    Examples:
      >>> check_statistic("f", "statistic", "quantile:.9")
      'quantile:0.9'
      >>> check_statistic("f", "statistic", "mean")
      'mean'
    """
    if isinstance(statistic, str):
        if statistic in ("mean", "median", "probability"):
            return statistic
        if statistic.startswith("quantile:"):
            try:
                level = float(statistic.split(":", 1)[1])
            except ValueError:
                level = math.nan
            if 0.0 < level < 1.0:
                return f"quantile:{level:g}"
    fail(
        fn,
        arg,
        "one of " + ", ".join(map(repr, KINDS)) + " (level in (0, 1))",
        statistic,
        "A theory curve of an expected value is 'mean'; of a share of chains, "
        "'probability'.",
        error=TypeError if not isinstance(statistic, str) else ValueError,
    )


@dataclasses.dataclass(frozen=True)
class Summary:
    """One statistic of the chains per generation, with its band.

    Attributes:
      centre: the statistic, ``(generations,)``.
      lo, hi: the band, ``(generations,)``: ± 2 SE (mean, probability) or the
        ``band`` quantiles of the chains (median, quantile).
      name: the statistic's short name for gids: ``"mean"``, ``"share"``,
        ``"median"`` or ``"q0.9"``.
      title: the legend title's description, e.g. ``"mean ± 2 SE"``.
    """

    centre: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    name: str
    title: str


def _percent(q: float) -> str:
    return f"{100 * q:.3g} %"


def across_chains(
    values: np.ndarray, statistic: str, band: Sequence[float] = (0.1, 0.9)
) -> Summary:
    """``statistic`` over the chains (axis 0) of ``values``, NaN entries left out.

    Args:
      values: ``(chains, generations)``; NaN marks a failed chain at a generation.
      statistic: a normalised name (:func:`check_statistic`).
      band: the quantile band drawn around a median or a quantile.

    Returns:
      A :class:`Summary`. The SE of a mean is the chains' sample standard deviation
      over the square root of their count (independent chains); of a probability,
      ``sqrt(p (1 - p) / n)``. A generation with fewer than two chains has no band.

    Examples:
      >>> x = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
      >>> s = across_chains(x, "mean")
      >>> s.centre.tolist(), (s.hi - s.centre).round(3).tolist(), s.title
      ([2.0, 1.0], [2.309, 0.0], 'mean ± 2 SE')
    """
    values = np.asarray(values, np.float64)
    ok = np.isfinite(values)
    n = ok.sum(axis=0).astype(np.float64)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN
        level = quantile_level(statistic)
        if level is None:
            total = np.where(ok, values, 0.0).sum(axis=0)
            centre = np.where(n > 0, total / n, np.nan)
            if statistic == "probability":
                se = np.sqrt(centre * (1.0 - centre) / n)
                name, what = "share", "share"
            else:
                se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)
                name, what = "mean", "mean"
            se = np.where(n >= 2, se, np.nan)
            lo, hi = centre - SE_MULTIPLE * se, centre + SE_MULTIPLE * se
            return Summary(centre, lo, hi, name, f"{what} ± {SE_MULTIPLE:g} SE")
        if values.shape[1] == 0:
            empty = np.zeros(0)
            lo = hi = centre = empty
        else:
            lo, centre, hi = nanquantile(values, [band[0], level, band[1]], axis=0)
    if statistic == "median":
        name, what = "median", "median"
    else:
        name, what = f"q{level:g}", f"{_percent(level)} quantile"
    return Summary(
        centre, lo, hi, name, f"{what}, {_percent(band[0])} to {_percent(band[1])}"
    )
