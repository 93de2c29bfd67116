"""The collapse monitor's held-out set: a user's array checked, or drawn per chain.

The held-out points come from the truth and no fit ever sees them (the false-alarm
guarantee of :mod:`collapse_jax.monitor` rests on that): either ``n`` points each
chain draws at generation 0 with the registered ``monitor_held_out`` key stream, or
a user's array shared by all chains, carried in the regime's ``hyper`` and checked
here against the fitted family.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax.checks import check_positive_int, described, fail
from collapse_jax.keys import stream_number
from collapse_jax.regimes import StepContext
from collapse_jax.regimes.pipeline import as_family_data, float_dtype

if TYPE_CHECKING:  # the state's type only; _collapse_monitor imports this module
    from collapse_jax._collapse_monitor import MonitorState

# Sub-stream of the generation's ``regime`` key, from the registry (collapse_jax.keys).
_STREAM_HELD_OUT = stream_number("monitor_held_out")  # drawn at generation 0

_HELD_OUT_HYPER = "monitor_held_out"


def _held_out(num_held_out, user, ctx: StepContext, params, state: MonitorState):
    """This chain's held-out set (and the state keeping it)."""
    if user:
        data = ctx.hyper[_HELD_OUT_HYPER]
        target = state.held_out.dtype
        return (data.astype(target) if data.dtype != target else data), state
    key = jax.random.fold_in(ctx.keys.regime, _STREAM_HELD_OUT)
    raw = ctx.truth_family.sample(key, ctx.truth, num_held_out)
    fresh = as_family_data(ctx.family, ctx.truth_family, raw, float_dtype(params))
    fresh = fresh.astype(state.held_out.dtype)
    data = jnp.where(ctx.t == 0, fresh, state.held_out)
    return data, state._replace(held_out=data)


def _check_held_out_for(fn, family, data_spec, held_out):
    """A user held-out set must be data of the fitted family: shape and dtype."""
    arr = np.asarray(held_out)
    event = tuple(family.event_shape)
    if arr.ndim != 1 + len(event) or tuple(arr.shape[1:]) != event:
        fail(
            fn,
            "held_out",
            f"an array of shape (n,) + {event} (n real points of the "
            f"{family.name} family)",
            described(f"shape {arr.shape}"),
            "Pass the held-out data with one row per point.",
        )
    integer = jnp.issubdtype(data_spec.dtype, jnp.integer)
    if integer and not np.issubdtype(arr.dtype, np.integer):
        fail(
            fn,
            "held_out",
            f"integer data (category indices) for the {family.name} family",
            described(f"dtype {arr.dtype}"),
            "Pass integer category indices, e.g. np.asarray(x, np.int32).",
            error=TypeError,
        )
    if integer:
        k = family.num_categories
        if k is not None and (arr.min() < 0 or arr.max() >= k):
            fail(
                fn,
                "held_out",
                f"category indices in [0, {k})",
                described(f"values in [{arr.min()}, {arr.max()}]"),
                "Pass indices of the family's categories.",
            )


def _as_held_out(fn, held_out):
    """``(n, array or None)`` from an int size or a user array."""
    if isinstance(held_out, bool):
        fail(
            fn,
            "held_out",
            "a positive int (points drawn per chain) or an array of real points",
            held_out,
            "Pass e.g. held_out=500.",
            error=TypeError,
        )
    if isinstance(held_out, int | np.integer):
        n = check_positive_int(
            fn,
            "held_out",
            held_out,
            "Pass the number of held-out points to draw per chain, e.g. 500.",
        )
        return n, None
    try:
        arr = np.asarray(held_out)
    except Exception:  # noqa: BLE001 - anything not array-like gets the message
        arr = np.asarray(None, dtype=object)
    if arr.dtype == object or arr.ndim < 1:
        fail(
            fn,
            "held_out",
            "a positive int (points drawn per chain) or an array of shape "
            "(n,) + event_shape",
            held_out if arr.dtype == object else described(f"shape {arr.shape}"),
            "Pass a size, e.g. held_out=500, or the real points, one row each.",
            error=TypeError,
        )
    if not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        fail(
            fn,
            "held_out",
            "numbers (real points, or category indices)",
            described(f"dtype {arr.dtype}"),
            "Pass a float array (or integer category indices).",
            error=TypeError,
        )
    if arr.shape[0] < 1:
        fail(
            fn,
            "held_out",
            "at least one point",
            described("0 points"),
            "Pass a non-empty held-out set.",
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        fail(
            fn,
            "held_out",
            "finite values",
            described("non-finite entries"),
            "Drop or repair the non-finite points.",
        )
    return int(arr.shape[0]), arr


def _held_out_hyper(monitor) -> tuple[str, ...]:
    """A user's held-out set is data in the truth's coordinates (Regime.data_hyper)."""
    return (_HELD_OUT_HYPER,) if _HELD_OUT_HYPER in (monitor.hyper or {}) else ()
