"""Input validation shared by the closed forms in :mod:`collapse_jax.theory`.

Every public theory function validates its arguments on the host and raises a
``ValueError`` in the house format: the function, the argument, what was expected,
what was got, and how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np

from collapse_jax.checks import described, fail

#: A sample size: one int (the same M every generation) or a 1-D schedule
#: ``M_0, M_1, ...`` with one entry per generation.
SampleSize = int | Sequence[int] | np.ndarray

_ESTIMATORS = ("unbiased", "mle")


def _is_integer(value: object) -> TypeGuard[numbers.Integral]:
    return isinstance(value, numbers.Integral) and not isinstance(
        value, bool | np.bool_
    )


def check_int(value: object, name: str, caller: str, *, minimum: int = 0) -> int:
    """Return ``value`` as a Python int, or raise if it is not an int >= minimum."""
    if not _is_integer(value):
        fail(
            caller,
            name,
            f"an int >= {minimum}",
            described(f"{value!r} of type {type(value).__name__}"),
            "Pass an int.",
        )
    value = int(value)
    if value < minimum:
        fail(caller, name, f">= {minimum}", value, f"Pass an int >= {minimum}.")
    return value


def check_positive_float(value: object, name: str, caller: str) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out = None
    if out is None or not np.isfinite(out) or out <= 0.0:
        fail(
            caller,
            name,
            "a finite number > 0",
            described(repr(value) if out is None else str(out)),
            "Pass a positive float.",
        )
    return out


def check_estimator(estimator: object, caller: str) -> int:
    """Return the ddof of ``estimator``: 1 for "unbiased", 0 for "mle".

    The per-generation variance factor divides a chi-square by ``M - ddof``.
    """
    if estimator not in _ESTIMATORS:
        fail(
            caller,
            "estimator",
            "'unbiased' (ddof=1) or 'mle' (ddof=0)",
            described(repr(estimator)),
            f"Pass one of {_ESTIMATORS}.",
        )
    return 1 if estimator == "unbiased" else 0


def _too_small(caller: str, where: str, value: int, minimum: int, reason: str):
    why = f" {reason}" if reason else ""
    fail(caller, where, f">= {minimum}{why}", value, f"Pass >= {minimum}.")


def _check_size(sample_size: object, caller: str, minimum: int, reason: str) -> int:
    value = sample_size.item() if isinstance(sample_size, np.ndarray) else sample_size
    if isinstance(value, float) and np.isfinite(value) and value == round(value):
        value = int(value)
    if not _is_integer(value):
        fail(
            caller,
            "sample_size",
            "an int or a 1-D sequence of per-generation sizes",
            described(f"{value!r} of type {type(value).__name__}"),
            "Pass an int.",
        )
    size = int(value)  # type: ignore[call-overload]
    if size < minimum:
        _too_small(caller, "sample_size", size, minimum, reason)
    return size


def as_schedule(
    sample_size: SampleSize,
    num_generations: int,
    *,
    caller: str = "as_schedule",
    minimum: int = 1,
    reason: str = "",
) -> np.ndarray:
    """Per-generation sample sizes ``M_0, ..., M_{n-1}`` as an int64 array.

    Generation ``i`` (0-based) draws ``M_i`` points; the model after ``n`` fits has
    seen ``M_0, ..., M_{n-1}``.

    Args:
        sample_size: One int ``M`` (the same size every generation) or a 1-D
            sequence of per-generation sizes of length ``>= num_generations``; only
            the first ``num_generations`` entries are used, all are validated.
        num_generations: Number of fits ``n >= 0``.
        caller: Name of the public function, used in error messages.
        minimum: Smallest allowed size (2 to estimate a variance, ``d + 1`` for a
            ``d``-dimensional covariance).
        reason: Why ``minimum`` is needed, completing the error message
            ("to estimate a variance").

    Returns:
        ``(num_generations,) int64`` array of sample sizes.

    Raises:
        ValueError: ``num_generations`` is not a non-negative int, a size is not
            an integer ``>= minimum``, or the schedule is too short or not 1-D.

    Examples:
        >>> as_schedule(10, 3).tolist()
        [10, 10, 10]
        >>> as_schedule([5, 6, 7, 8], 2).tolist()
        [5, 6]
    """
    num_generations = check_int(num_generations, "num_generations", caller)
    if np.ndim(sample_size) == 0:
        size = _check_size(sample_size, caller, minimum, reason)
        return np.full(num_generations, size, dtype=np.int64)

    sizes = np.asarray(sample_size)
    if sizes.ndim != 1:
        fail(
            caller,
            "sample_size",
            "an int or a 1-D sequence of per-generation sizes",
            described(f"an array of shape {sizes.shape}"),
            "Pass one int or a 1-D schedule.",
        )
    if sizes.dtype.kind in "iu":
        sizes = sizes.astype(np.int64)
    elif (
        sizes.dtype.kind == "f"
        and np.all(np.isfinite(sizes))
        and np.all(sizes == np.round(sizes))
    ):
        sizes = sizes.astype(np.int64)
    else:
        # "must hold" / "must have" do not fit fail()'s "must be ..." wording
        raise ValueError(
            f"{caller}(): sample_size must hold integer sizes; got dtype "
            f"{sizes.dtype} with values {sizes[:5].tolist()}"
            f"{'...' if sizes.size > 5 else ''}. Pass integers."
        )
    if sizes.size < num_generations:
        raise ValueError(
            f"{caller}(): sample_size must have one entry per generation, at least "
            f"num_generations = {num_generations}; got {sizes.size} entries. Pass a "
            f"longer schedule or a single int."
        )
    bad = np.flatnonzero(sizes < minimum)
    if bad.size:
        i = int(bad[0])
        _too_small(caller, f"sample_size[{i}]", int(sizes[i]), minimum, reason)
    return sizes[:num_generations].copy()


def check_constant_size(
    sample_size: Any, caller: str, *, minimum: int = 1, reason: str = ""
) -> int:
    """Return a constant sample size as an int; schedules are rejected."""
    if np.ndim(sample_size) != 0:
        fail(
            caller,
            "sample_size",
            "a single int (a constant size for every generation)",
            described(f"a sequence of length {np.size(sample_size)}"),
            "Pass one int.",
        )
    return _check_size(sample_size, caller, minimum, reason)
