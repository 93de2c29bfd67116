"""Argument checks shared by the web-regime closed forms (theory.web, minority_loss)."""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import as_float_array, described, fail

_FAMILIES = ("categorical", "gaussian")
#: The fewest kept items a fit needs: one for frequencies, two for a variance.
_MIN_KEPT = {"categorical": 1, "gaussian": 2}
_SOURCES = ("newest", "all")


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


def _check_scalar_unit(value: object, name: str, caller: str, what: str) -> float:
    out = _check_unit(value, name, caller, what)
    if out.ndim != 0:
        fail(
            caller,
            name,
            f"one number in [0, 1] ({what})",
            described(f"an array of shape {out.shape}"),
            "Pass one float; loop over values (or use effective_share, which "
            "broadcasts).",
        )
    return float(out)


def _check_detector(recall: object, false_positive_rate: object, caller: str):
    """``(r, f)``: one recall and one false-positive rate, each in ``[0, 1]``."""
    r = _check_scalar_unit(recall, "recall", caller, "synthetic items flagged")
    f = _check_scalar_unit(
        false_positive_rate, "false_positive_rate", caller, "human items flagged"
    )
    return r, f


def _web_args(synthetic_share, recall, false_positive_rate, caller):
    """``(s(1 - r), s(1 - r) + (1 - s)(1 - f))`` for one share, checked."""
    s = _check_scalar_unit(synthetic_share, "synthetic_share", caller, "a share")
    r, f = _check_detector(recall, false_positive_rate, caller)
    kept_synthetic = s * (1.0 - r)
    kept = kept_synthetic + (1.0 - s) * (1.0 - f)
    return kept_synthetic, kept


def _family(family: object, caller: str) -> str:
    if family not in _FAMILIES:
        fail(
            caller,
            "family",
            "'categorical' or 'gaussian'",
            described(repr(family)),
            f"Pass one of {_FAMILIES}.",
        )
    return family  # type: ignore[return-value]


def _source(source: object, moved: bool, init_name: str, caller: str) -> bool:
    """True for ``source="all"`` (checked: it needs the chain to start at the truth)."""
    if source not in _SOURCES:
        fail(
            caller,
            "source",
            "'newest' or 'all' (where the synthetic items come from)",
            described(repr(source)),
            f"Pass one of {_SOURCES}.",
        )
    if source == "all" and moved:
        fail(
            caller,
            init_name,
            "the default with source='all' (the chain starts at the truth, as the "
            "library's runs do)",
            described("a start away from the truth"),
            "Leave the start at its default, or use source='newest'.",
        )
    return source == "all"
