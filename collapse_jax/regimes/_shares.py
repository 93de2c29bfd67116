"""The web regime's settings: synthetic-share schedules and detectors.

A synthetic share (a number, a sequence of one share per generation, or a
:func:`linear_share` / :func:`logistic_share` schedule) travels in the regime's
``hyper`` as one float vector, so the runner traces it and :func:`collapse_jax.sweep`
varies it like any other number: ``[kind, start, end, midpoint, steepness]``
followed, for a sequence, by its entries. A number is the linear ramp from ``c`` to
``c``. The share at generation ``t`` is computed inside the compiled step by
:func:`share_at`, so every number and schedule, and sequences of one length beside
them, are one compiled program (a sweep pads a number or schedule with zeros to a
sequence's width: ``share_checker.stack``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax.checks import check_real, described, fail

__all__ = [
    "ShareSchedule",
    "Detector",
    "linear_share",
    "logistic_share",
    "detector",
    "watermark",
    "share_vector",
    "share_checker",
    "rate_checker",
    "share_at",
    "share_values",
    "share_length",
    "describe_share",
    "misplaced_detector_fix",
    "unsupported_sampler",
]

# Layout of the encoded share: a head of five numbers, then a sequence's entries.
_KIND, _START, _END, _MIDPOINT, _STEEPNESS = range(5)
_HEAD = 5
_LINEAR, _LOGISTIC, _TABLE = 0.0, 1.0, 2.0


class ShareSchedule(NamedTuple):
    """A synthetic-share schedule evaluated at each generation ``t`` (traced).

    Build it with :func:`linear_share` or :func:`logistic_share`.

    Attributes:
      kind: ``"linear"`` or ``"logistic"``.
      start, end: the shares the schedule runs between, in ``[0, 1]``.
      midpoint: the logistic's midpoint generation (0 for a linear ramp).
      steepness: the logistic's rate per generation (0 for a linear ramp).
    """

    kind: str
    start: float
    end: float
    midpoint: float = 0.0
    steepness: float = 0.0


class Detector(NamedTuple):
    """A detector of synthetic items (:func:`detector`, :func:`watermark`).

    Attributes:
      recall: the probability that a synthetic item is flagged.
      false_positive_rate: the probability that a human item is flagged.
    """

    recall: float
    false_positive_rate: float = 0.0


def _unit(fn: str, name: str, value, low_means: str, high_means: str) -> float:
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        high=1.0,
        fix=f"Pass {name} between 0 ({low_means}) and 1 ({high_means}).",
    )


def _share_end(fn: str, name: str, value) -> float:
    return _unit(fn, name, value, "all human", "all synthetic")


def rate_checker(fn: str, name: str, value) -> float:
    """A detector's recall or false-positive rate as a float in ``[0, 1]``, or the
    house error (also the checker :func:`collapse_jax.sweep` calls on them)."""
    items = "human" if "false_positive_rate" in name else "synthetic"
    return _unit(
        fn, name, value, f"no {items} item flagged", f"every {items} item flagged"
    )


def linear_share(start: float, end: float) -> ShareSchedule:
    """A synthetic share rising (or falling) linearly over the run.

    The fit of generation ``t = 0 .. N - 1`` (the one that makes model ``t + 1``)
    sees the share ``start + (end - start) · t / (N - 1)``: ``start`` at the first
    fit, ``end`` at the last (``N``: the run's ``num_generations``; ``start`` when
    ``N = 1``).

    Args:
      start, end: shares in ``[0, 1]``.

    Examples:
      >>> linear_share(0.0, 0.9).end
      0.9
    """
    fn = "linear_share"
    return ShareSchedule(
        "linear", _share_end(fn, "start", start), _share_end(fn, "end", end)
    )


def logistic_share(
    midpoint: float, steepness: float, start: float = 0.0, end: float = 1.0
) -> ShareSchedule:
    """A logistic take-off of the synthetic share.

    The fit of generation ``t`` sees the share
    ``start + (end - start) / (1 + exp(-steepness · (t - midpoint)))``.

    Args:
      midpoint: the generation at which the share is half way (any real number).
      steepness: the rate per generation (any real number; negative falls).
      start, end: the shares long before and long after the midpoint, in ``[0, 1]``.

    Examples:
      >>> logistic_share(10, 0.5).kind
      'logistic'
    """
    fn = "logistic_share"
    mid = check_real(fn, "midpoint", midpoint, fix="Pass the midpoint generation.")
    steep = check_real(
        fn, "steepness", steepness, fix="Pass a finite rate per generation, e.g. 0.5."
    )
    return ShareSchedule(
        "logistic",
        _share_end(fn, "start", start),
        _share_end(fn, "end", end),
        mid,
        steep,
    )


def detector(recall: float, false_positive_rate: float = 0.0) -> Detector:
    """A detector that drops flagged items before each fit.

    Each synthetic item is flagged with probability ``recall``, each human item with
    probability ``false_positive_rate``, independently; a flagged item gets weight
    0. Both numbers are traced (sweepable under the names ``"recall"`` and
    ``"false_positive_rate"``). Pass it to :func:`collapse_jax.web`.

    Args:
      recall: in ``[0, 1]``.
      false_positive_rate: in ``[0, 1]``.

    Examples:
      >>> detector(0.9, 0.05).false_positive_rate
      0.05
    """
    fn = "detector"
    return Detector(
        rate_checker(fn, "recall", recall),
        rate_checker(fn, "false_positive_rate", false_positive_rate),
    )


def watermark(recall: float) -> Detector:
    """A watermark: a :func:`detector` with no false positives.

    Examples:
      >>> watermark(0.8)
      Detector(recall=0.8, false_positive_rate=0.0)
    """
    return Detector(rate_checker("watermark", "recall", recall), 0.0)


_SHARE_EXPECTED = (
    "a share in [0, 1], a sequence of one share per generation, or "
    "cj.linear_share(...) / cj.logistic_share(...)"
)


def share_vector(fn: str, name: str, value: Any) -> np.ndarray:
    """``value`` (a number, a sequence or a schedule) encoded as the hyper vector.

    Raises the house error (in ``fn``'s wording) for shares outside ``[0, 1]``.
    """
    if isinstance(value, Detector):  # a tuple: it would read as two shares
        fail(
            fn,
            name,
            _SHARE_EXPECTED,
            described(f"a detector, {value!r}"),
            "A detector is the web's second argument: pass "
            "cj.web(synthetic_share, detector=...).",
            error=TypeError,
        )
    if isinstance(value, ShareSchedule):
        kind = _LOGISTIC if value.kind == "logistic" else _LINEAR
        head = [kind, value.start, value.end, value.midpoint, value.steepness]
        return np.asarray(head, np.float64)
    if isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray | jax.Array) and np.ndim(value) == 0
    ):
        s = _share_end(fn, name, value)
        return np.asarray([_LINEAR, s, s, 0.0, 0.0], np.float64)
    if isinstance(value, str | bytes | dict) or not hasattr(value, "__len__"):
        fail(
            fn,
            name,
            _SHARE_EXPECTED,
            value,
            "Pass e.g. 0.5, [0.0, 0.2, 0.4] or cj.logistic_share(10, 0.5).",
            error=TypeError,
        )
    arr = np.asarray(value, dtype=object)
    if arr.ndim != 1 or arr.shape[0] < 1:
        fail(
            fn,
            name,
            "a 1-D sequence with one share per generation",
            described(f"shape {arr.shape}"),
            "Pass one share per generation, e.g. [0.0, 0.2, 0.4].",
        )
    table = [_share_end(fn, f"{name}[{i}]", v) for i, v in enumerate(arr)]
    return np.asarray([_TABLE, 0.0, 0.0, 0.0, 0.0] + table, np.float64)


class _ShareChecker:
    """The checker :func:`collapse_jax.sweep` calls on each swept share
    (``share_checker(fn, name, value)``: :func:`share_vector`), and how it stacks
    one sweep's encoded shares (:meth:`stack`)."""

    def __call__(self, fn: str, name: str, value: Any) -> np.ndarray:
        return share_vector(fn, name, value)

    @staticmethod
    def stack(fn: str, name: str, vectors: Sequence[np.ndarray]) -> np.ndarray:
        """One sweep's encoded shares as one ``(P, width)`` array.

        Numbers and schedules encode to the head alone, a sequence to the head and
        its entries: beside a sequence they are padded with zeros to its width.
        :func:`share_at` reads the entries only of a sequence (by its kind), so a
        padded number or schedule gives the same shares, bit for bit, and the
        sweep stays one compiled program. Sequences of different lengths cannot
        share one width (and at most one length is the run's
        ``num_generations``): the house error.
        """
        lengths = sorted({n for v in vectors if (n := share_length(v)) is not None})
        if len(lengths) > 1:
            fail(
                fn,
                name,
                "sequences of one length, num_generations (one share per "
                "generation), beside any numbers and schedules",
                described(f"sequences of lengths {lengths}"),
                "Give every sequence one share per generation, or sweep a schedule "
                "such as cj.linear_share(start, end).",
            )
        width = _HEAD + (lengths[0] if lengths else 0)
        return np.stack(
            [np.pad(np.asarray(v, np.float64), (0, width - len(v))) for v in vectors]
        )


#: The checker :func:`collapse_jax.sweep` calls on each swept share; its ``stack``
#: brings a sweep's numbers, schedules and sequences to one shape.
share_checker = _ShareChecker()


def share_length(vector) -> int | None:
    """The length of an encoded sequence, or None for a number or schedule."""
    v = np.asarray(vector)
    return None if float(v[_KIND]) != _TABLE else int(v.shape[0] - _HEAD)


def share_values(vector, num_generations: int) -> np.ndarray:
    """The shares ``s_0 .. s_{N-1}`` of an encoded share, on the host (float64)."""
    v = np.asarray(vector, np.float64)
    t = np.arange(num_generations, dtype=np.float64)
    if v[_KIND] == _TABLE:
        table = v[_HEAD:]
        return table[np.minimum(np.arange(num_generations), table.shape[0] - 1)]
    if v[_KIND] == _LOGISTIC:
        g = 1.0 / (1.0 + np.exp(-v[_STEEPNESS] * (t - v[_MIDPOINT])))
    else:
        g = t / max(num_generations - 1, 1)
    return v[_START] + (v[_END] - v[_START]) * g


def share_at(vector: jax.Array, t: jax.Array, num_generations: int) -> jax.Array:
    """The share of generation ``t`` (traced) of an encoded share (traced)."""
    tf = t.astype(vector.dtype)
    ramp = tf / max(num_generations - 1, 1)
    logistic = jax.nn.sigmoid(vector[_STEEPNESS] * (tf - vector[_MIDPOINT]))
    g = jnp.where(vector[_KIND] == _LOGISTIC, logistic, ramp)
    s = vector[_START] + (vector[_END] - vector[_START]) * g
    if vector.shape[0] > _HEAD:  # static: a sequence
        table = vector[_HEAD:]
        s = jnp.where(
            vector[_KIND] == _TABLE, table[jnp.minimum(t, table.shape[0] - 1)], s
        )
    return jnp.clip(s, 0, 1)


def describe_share(value: Any) -> Any:
    """A JSON-serialisable description of a share setting."""
    if isinstance(value, ShareSchedule):
        return {k: v for k, v in value._asdict().items()}
    if isinstance(value, numbers.Real):
        return float(value)
    return [float(v) for v in np.asarray(value, np.float64).ravel()]


def misplaced_detector_fix(value: Any, fix: str) -> str:
    """``fix``, or where a detector belongs when ``value`` is one.

    A detector flags items by their provenance, which only the web regime's items
    carry; the runner's checks of its ``regime=``, ``sampling=`` and ``curation=``
    arguments call this so a detector passed there is sent to
    :func:`collapse_jax.web`.
    """
    if isinstance(value, Detector):
        return (
            "A detector flags items by their provenance (synthetic or human), which "
            "only the web regime's items carry: pass it as "
            "regime=cj.web(synthetic_share, detector=...)."
        )
    return fix


def unsupported_sampler(regime: Any, sampler: str) -> tuple[str, str]:
    """``(expected, fix)`` of the house error for a ``sampler`` that ``regime`` does
    not support (the runner's check of ``sampler=``).

    The web regime (monitored or not: it is told by its share checker) refuses the
    exact sufficient-statistic draw for a reason of its own: that draw makes no
    items, and each item's provenance (synthetic or human) is what the regime mixes
    and what its detector flags.
    """
    web = dict(regime.checkers or {}).get("synthetic_share") is share_checker
    if web and sampler == "sufficient":
        return (
            f"'samples' (or the population limit, sample_size=None) for regime "
            f"{regime.name!r}: each item carries its provenance (synthetic or "
            "human), which the web mixes and the detector flags",
            "The exact sufficient-statistic draw makes no items: pass "
            "sampler='samples' (the default).",
        )
    return (
        f"one of {regime.samplers} for regime {regime.name!r}",
        "Choose a sampler the regime supports.",
    )
