"""Argument checks shared by the closed forms of regimes that keep real data."""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import as_float_array, described, fail

_VARIANCE_REASON = "to estimate a variance"
_REGIMES = ("fixed", "fresh")


def _check_real(value: object, name: str, caller: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out = None
    if out is None or not np.isfinite(out):
        fail(
            caller,
            name,
            "a finite number",
            described(repr(value)),
            "Pass a finite float.",
        )
    return out


def _check_nonnegative(value: object, name: str, caller: str) -> float:
    out = _check_real(value, name, caller)
    if out < 0.0:
        fail(caller, name, "a finite number >= 0", out, "Pass a number >= 0.")
    return out


def _check_fraction(value: object, caller: str) -> float:
    out = _check_real(value, "real_fraction", caller)
    if not 0.0 <= out <= 1.0:
        fail(
            caller,
            "real_fraction",
            "in [0, 1] (the real points' share of the total weight)",
            out,
            "Pass a fraction in [0, 1], or None to pool with unit weights.",
        )
    return out


def _check_regime(regime: object, caller: str) -> str:
    if regime not in _REGIMES:
        fail(
            caller,
            "regime",
            "'fixed' (one real set reused) or 'fresh' (new real draws every "
            "generation)",
            described(repr(regime)),
            f"Pass one of {_REGIMES}.",
        )
    return regime  # type: ignore[return-value]


def _check_probs(probs: object, name: str, caller: str) -> np.ndarray:
    p = as_float_array(caller, name, probs)
    if (
        p.ndim != 1
        or p.size < 2
        or not np.all(np.isfinite(p))
        or np.any(p < 0)
        or abs(p.sum() - 1.0) > 1e-9
    ):
        fail(
            caller,
            name,
            "a 1-D probability vector (K >= 2 entries >= 0 summing to 1)",
            described(f"{np.array2string(np.atleast_1d(p), precision=4)}"),
            "Pass probabilities that sum to 1.",
        )
    return p


def _check_init_probs(init_probs: object, p: np.ndarray, like: str, caller: str):
    """``p_0``: ``p`` (the truth, named ``like``) when None, else checked like it."""
    if init_probs is None:
        return p
    p0 = _check_probs(init_probs, "init_probs", caller)
    if p0.shape != p.shape:
        fail(
            caller,
            "init_probs",
            f"of shape {p.shape} like {like}",
            described(f"shape {p0.shape}"),
            "Pass one probability per category.",
        )
    return p0
