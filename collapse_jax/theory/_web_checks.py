"""Argument checks shared by the web-regime closed forms (theory.web, minority_loss)."""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import as_float_array, described, fail


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
