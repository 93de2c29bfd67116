"""Host-side validators that raise the house error message.

Every message names the function and the argument, says what was expected and what
was given, and how to fix it::

    run_chains(): sample_size must be >= 2 to estimate a variance; got 1.
    Pass >= 2, or None for the population limit.

Validators never use ``assert`` (it vanishes under ``python -O``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

import jax

__all__ = [
    "fail",
    "described",
    "as_float_array",
    "check_positive_int",
    "check_nonnegative_int",
    "check_choice",
    "check_dtype",
    "canonicalize_dtype_name",
    "check_real",
]


def fail(
    fn: str,
    name: str,
    expected: str,
    got: Any,
    fix: str,
    *,
    error: type[Exception] = ValueError,
) -> NoReturn:
    """Raise ``error`` with the house message."""
    raise error(f"{fn}(): {name} must be {expected}; got {_show(got)}. {fix}")


class described(str):  # noqa: N801 - used like a function
    """A description shown verbatim after "got" (not quoted like a user string)."""

    def __repr__(self) -> str:
        return str(self)


def as_float_array(fn: str, name: str, value: Any) -> np.ndarray:
    """``np.asarray(value, float64)``, or the house error if it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(
            fn,
            name,
            "numeric (an array of numbers)",
            value,
            "Pass numbers, e.g. a NumPy array of floats.",
            error=TypeError,
        )


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray | jax.Array) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    if isinstance(value, np.ndarray | jax.Array):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(fn: str, name: str, value: Any, fix: str | None = None) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise."""
    if not _is_int(value):
        fail(
            fn,
            name,
            "a positive integer",
            value,
            fix or f"Pass an int, e.g. {name}=100.",
            error=TypeError,
        )
    if value < 1:
        fail(fn, name, "a positive integer (>= 1)", value, fix or f"Pass {name} >= 1.")
    return int(value)


def check_nonnegative_int(
    fn: str, name: str, value: Any, fix: str | None = None
) -> int:
    """Return ``value`` as an int if it is an integer >= 0, else raise."""
    if not _is_int(value):
        fail(
            fn,
            name,
            "a non-negative integer",
            value,
            fix or f"Pass an int, e.g. {name}=0.",
            error=TypeError,
        )
    if value < 0:
        fail(
            fn,
            name,
            "a non-negative integer (>= 0)",
            value,
            fix or f"Pass {name} >= 0.",
        )
    return int(value)


def check_choice(fn: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        fail(fn, name, f"one of {options}", value, f"Pass one of {options}.")
    return value


_DTYPES = {"float32": "float32", "float64": "float64"}


def canonicalize_dtype_name(fn: str, dtype: Any) -> str:
    """Map ``"float32"``, ``np.float32``, ``jnp.float32`` ... to a dtype name."""
    try:
        name = None if dtype is None else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        fail(
            fn,
            "dtype",
            "'float32' or 'float64'",
            dtype,
            "Pass dtype='float32' (fast) or dtype='float64' (validation).",
        )
    return name


def check_dtype(fn: str, dtype: Any) -> str:
    """Validate ``dtype`` and that float64 is available (x64 enabled)."""
    name = canonicalize_dtype_name(fn, dtype)
    # jax defines its flags as properties at run time: invisible to type checkers.
    if name == "float64" and not jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]
        fail(
            fn,
            "dtype",
            "available",
            "float64 while JAX's x64 mode is off",
            "Enable x64 at process start: set the environment variable "
            "JAX_ENABLE_X64=1, call jax.config.update('jax_enable_x64', True) "
            "before any computation, or use `collapse-jax ... --x64`. "
            "collapse_jax never changes this setting itself.",
        )
    return name


def check_real(
    fn: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str | None = None,
) -> float:
    """A finite real number in ``[low, high]`` (ends open when asked)."""
    lo_b = "(" if low_open else "["
    hi_b = ")" if high_open else "]"
    if low is not None and high is not None:
        expected = f"a number in {lo_b}{low:g}, {high:g}{hi_b}"
    elif low is not None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        expected = f"a number {'<' if high_open else '<='} {high:g}"
    else:
        expected = "a finite number"
    if isinstance(value, np.ndarray | jax.Array) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(fn, name, expected, value, fix or "Pass a number.", error=TypeError)
    x = float(value)
    bad = not np.isfinite(x)
    if low is not None:
        bad |= x <= low if low_open else x < low
    if high is not None:
        bad |= x >= high if high_open else x > high
    if bad:
        fail(fn, name, expected, value, fix or f"Pass {expected}.")
    return x
