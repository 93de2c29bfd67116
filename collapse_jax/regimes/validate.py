"""Host-side checks of regime settings, in the house message of the calling factory."""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp

from collapse_jax.checks import check_real, described, fail

__all__ = [
    "fraction_checker",
    "resolve_real_fraction",
    "check_real_data",
    "check_population_share",
    "weight_value",
]


def fraction_checker(fn, name, value):
    """``value`` as a float in ``[0, 1]`` (a share of real data), or the house error."""
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        high=1.0,
        fix=f"Pass {name} between 0 (synthetic only) and 1 (real only).",
    )


def resolve_real_fraction(fn, real_fraction, synthetic_ratio):
    """The real share from ``real_fraction`` or ``synthetic_ratio`` (λ gives
    ``1 / (1 + λ)``); None when neither is given (plain pooling)."""
    if real_fraction is not None and synthetic_ratio is not None:
        fail(
            fn,
            "synthetic_ratio",
            "None when real_fraction is given (they are two names for one share)",
            synthetic_ratio,
            "Pass one of real_fraction or synthetic_ratio.",
        )
    if synthetic_ratio is not None:
        lam = check_real(
            fn,
            "synthetic_ratio",
            synthetic_ratio,
            low=0.0,
            fix="Pass the synthetic-to-real weight ratio λ >= 0.",
        )
        return 1.0 / (1.0 + lam)
    if real_fraction is None:
        return None
    return fraction_checker(fn, "real_fraction", real_fraction)


def check_real_data(fn, family, probe, real):
    """The real set must be data of the fitted family: shape and dtype."""
    event = family.event_shape
    arr = np.asarray(real)
    if arr.dtype == object or arr.ndim != 1 + len(event) or arr.shape[1:] != event:
        fail(
            fn,
            "real_data",
            f"an array of shape (N,) + {event} (N real points of the "
            f"{family.name} family)",
            described(f"shape {arr.shape}"),
            "Pass the real data set as an array with one row per point.",
        )
    if arr.shape[0] < 1:
        fail(
            fn,
            "real_data",
            "a non-empty array",
            described("0 points"),
            "Pass at least one real point.",
        )
    integer = jnp.issubdtype(probe.dtype, jnp.integer)
    if integer and not np.issubdtype(arr.dtype, np.integer):
        fail(
            fn,
            "real_data",
            f"integer data (category indices) for the {family.name} family",
            described(f"dtype {arr.dtype}"),
            "Pass integer category indices, e.g. np.asarray(x, np.int32).",
            error=TypeError,
        )
    if not integer and not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        fail(
            fn,
            "real_data",
            f"real numbers for the {family.name} family",
            described(f"dtype {arr.dtype}"),
            "Pass a float array.",
            error=TypeError,
        )
    if not integer and not np.all(np.isfinite(arr)):
        fail(
            fn,
            "real_data",
            "finite values",
            described("non-finite entries"),
            "Drop or repair the non-finite points.",
        )
    if integer:
        k = family.num_categories
        if k is not None and (arr.min() < 0 or arr.max() >= k):
            fail(
                fn,
                "real_data",
                f"category indices in [0, {k})",
                described(f"values in [{arr.min()}, {arr.max()}]"),
                "Pass indices of the family's categories.",
            )


def check_population_share(fn, schedule, hyper):
    """In the population limit (``schedule`` None) a real share must be a fraction of
    the truth itself: no fixed real set, no plain pooling."""
    if schedule is not None:
        return
    if "real_data" in hyper:
        fail(
            fn,
            "regime",
            "a real set drawn from the truth (real_data=None) in the population "
            "limit (sample_size=None)",
            described("a fixed real_data array"),
            "Drop real_data (the real data are then the truth itself), or pass a "
            "finite sample_size.",
        )
    if "real_fraction" not in hyper:
        fail(
            fn,
            "regime",
            "a real_fraction in the population limit (sample_size=None): plain "
            "pooling of N real and M synthetic points has no limit as M -> inf",
            described("real_fraction=None (pooling)"),
            "Pass real_fraction= (or synthetic_ratio=), or a finite sample_size.",
        )


def weight_value(fn, name, value):
    """A mixture weight in ``[0, 1]`` or a 1-D schedule of them, as float64."""
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 0:
        return np.float64(fraction_checker(fn, name, value))
    if arr.ndim != 1 or arr.shape[0] < 1:
        fail(
            fn,
            name,
            "a number in [0, 1] or a 1-D schedule of them (one per generation)",
            described(f"shape {arr.shape}"),
            "Pass a scalar or a list with one weight per generation.",
        )
    return np.array([fraction_checker(fn, name, v) for v in arr], np.float64)
