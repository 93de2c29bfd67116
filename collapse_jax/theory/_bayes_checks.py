"""Argument checks shared by the Bayesian learners' closed forms
(:mod:`collapse_jax.theory.bayes` and :mod:`collapse_jax.theory.bayes_discrete`)."""

from __future__ import annotations

import math

from collapse_jax.checks import described, fail

_LEARNERS = ("posterior_sample", "posterior_predictive", "map")


def _learner(learner: object, caller: str, allowed=_LEARNERS) -> str:
    if learner not in allowed:
        fail(
            caller,
            "learner",
            f"one of {allowed}",
            described(repr(learner)),
            f"Pass learner={allowed[0]!r} (plug-in chains: collapse_jax.theory."
            "gaussian, discrete and counting).",
        )
    return str(learner)


def _nonneg(value: object, name: str, caller: str, *, positive=False) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out = None
    bad = out is None or not math.isfinite(out) or out < 0 or (positive and out == 0)
    if bad:
        which = "> 0" if positive else ">= 0"
        fail(
            caller,
            name,
            f"a finite number {which}",
            described(repr(value)),
            f"Pass {name} {which}.",
        )
    return out  # type: ignore[return-value]


# --- Gaussian, 1-D ------------------------------------------------------------------
