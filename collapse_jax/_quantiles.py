"""NaN-ignoring quantiles over chains, vectorised over generations (host NumPy).

``np.nanquantile(x, q, axis=...)`` falls back to one Python-level call per column
when the array may hold NaN: 200,000 generations took 15 s for 8 chains, after a
chain that ran in 5 s. :func:`nanquantile` sorts once along the axis (NaN last)
and interpolates every column at once, with NumPy's default ("linear") rule and
its interpolation formula, so its values equal ``np.nanquantile``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["nanquantile"]


def nanquantile(x: np.ndarray, q: Sequence[float], axis: int) -> np.ndarray:
    """``np.nanquantile(x, q, axis=axis)`` (method "linear"), in O(columns) NumPy.

    Args:
      x: a float array.
      q: quantile levels in [0, 1].
      axis: the axis to reduce (e.g. chains).

    Returns:
      ``(len(q),) + shape of x without axis``, float64; NaN where a column is all
      NaN (without the RuntimeWarning NumPy gives).

    Examples:
      >>> x = np.array([[1.0, np.nan], [3.0, np.nan], [2.0, 5.0]])
      >>> nanquantile(x, [0.0, 0.5, 1.0], axis=0).tolist()
      [[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]
    """
    a = np.sort(np.moveaxis(np.asarray(x, np.float64), axis, 0), axis=0)  # NaN last
    count = np.sum(~np.isnan(a), axis=0)  # valid values per column
    levels = np.asarray(q, np.float64).reshape((-1,) + (1,) * (a.ndim - 1))
    last = np.maximum(count - 1, 0)
    virtual = last * levels  # NumPy's "linear": (n - 1) q
    below = np.floor(virtual)
    lo = np.minimum(below.astype(np.intp), last)
    hi = np.minimum(lo + 1, last)
    gamma = virtual - below
    shape = np.broadcast_shapes(levels.shape, a.shape[1:])
    lo, hi = np.broadcast_to(lo, shape), np.broadcast_to(hi, shape)
    a_lo, a_hi = _take(a, lo), _take(a, hi)
    # NumPy's _lerp: a + (b - a) t, and b - (b - a)(1 - t) for t >= 0.5.
    diff = a_hi - a_lo
    out = a_lo + diff * gamma
    out = np.where(gamma >= 0.5, a_hi - diff * (1 - gamma), out)
    return np.where(count == 0, np.nan, out)


def _take(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``a[index[k, ...], ...]`` for each level ``k``: shape ``index.shape``."""
    return np.stack([np.take_along_axis(a, i[None], axis=0)[0] for i in index])
