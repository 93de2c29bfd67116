"""Regimes that keep real data: :func:`mix`, :func:`fresh` and :func:`retain_original`.

Each fit sees synthetic draws together with real points (a fixed real set, the
generation-0 draws, or fresh draws from the truth); the real share of the weight is
set by :func:`collapse_jax.regimes.pipeline.shares`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import jax.numpy as jnp

from collapse_jax._util import static_partial as _static
from collapse_jax.checks import check_positive_int, described, fail
from collapse_jax.regimes.base import MIXING_SAMPLERS, Regime, StepContext
from collapse_jax.regimes.buffers import (
    Original,
    empty_original,
    keep_first,
    no_state,
    population_init,
    random_subset,
    weights_dtype,
)
from collapse_jax.regimes.pipeline import (
    fit,
    fit_with_real,
    float_dtype,
    real_share_population,
    stream_key,
    synthetic,
    truth_draws,
)
from collapse_jax.regimes.validate import (
    check_population_share,
    check_real_data,
    fraction_checker,
    resolve_real_fraction,
)

__all__ = ["mix", "fresh", "retain_original"]


def _concat(*parts):
    return jnp.concatenate(parts, axis=0)


class _MixState(NamedTuple):
    original: Original


def _mix_init(has_real, family, data, num_generations):
    del family, num_generations
    if has_real:
        return ()
    return _MixState(empty_original(data, weights_dtype(data)))


def _mix_step(has_real, pooled, ctx: StepContext, params, state):
    if ctx.sampler == "population":
        return real_share_population(ctx, params, ctx.hyper["real_fraction"]), state
    data, weights = synthetic(ctx, params)
    wdtype = weights.dtype
    if has_real:
        real = ctx.hyper["real_data"]
        real_w = jnp.ones(real.shape[:1], wdtype)
        first = jnp.bool_(False)
    else:
        original = keep_first(ctx.t, state.original, data, weights)
        state = _MixState(original)
        real, real_w = original.data, original.weights
        first = ctx.t == 0  # the first fit sees D_0 once (it is the real set)
    fitted = fit_with_real(ctx, params, real, real_w, data, weights, pooled, first)
    return fitted, state


def _mix_check(fn, family, data, schedule, num_generations, hyper):
    del num_generations
    check_population_share(fn, schedule, hyper)
    if "real_data" in hyper:
        check_real_data(fn, family, data, hyper["real_data"])


def mix(
    real_fraction: float | None = None,
    *,
    real_data: Any = None,
    synthetic_ratio: float | None = None,
) -> Regime:
    """A fixed real data set mixed into every fit (AL-1's augmentation loop, BE-1).

    Each fit sees the real set together with the ``M_t`` draws from the current
    model. The real set is ``real_data`` (one array, shared by every chain) or, when
    None, each chain's generation-0 draws ``D_0`` from the truth (the first model's
    training set, kept for good).

    With ``real_fraction=None`` every point has weight one (plain pooling: BE-2's
    "N real plus λN synthetic points" is ``sample_size=λN``). With ``real_fraction=f``
    the real points carry the share ``f`` of the total weight; the over-represented
    side is down-weighted so that no weight exceeds one (``f = 0`` is
    :func:`replace`, ``f = 1`` fits the real set only). ``synthetic_ratio=λ`` is the
    same share written as Bertrand et al.'s ratio of synthetic to real weight,
    ``f = 1 / (1 + λ)``. The fraction is traced: :func:`collapse_jax.sweep` varies it
    in one compiled program.

    Args:
      real_fraction: the real share of the weight in ``[0, 1]``, or None (pooling).
      real_data: the real set, shape ``(N,) + event_shape`` (category indices for a
        categorical), or None for each chain's ``D_0``.
      synthetic_ratio: ``λ >= 0``, an alternative to ``real_fraction``.

    Examples:
      >>> mix(0.5).name
      'mix'
    """
    fn = "mix"
    f = resolve_real_fraction(fn, real_fraction, synthetic_ratio)
    has_real = real_data is not None
    hyper: dict[str, Any] = {}
    if f is not None:
        hyper["real_fraction"] = np.float64(f)
    if has_real:
        arr = np.asarray(real_data)
        if arr.dtype == object or arr.ndim < 1:
            fail(
                fn,
                "real_data",
                "an array of shape (N,) + event_shape",
                described(f"an object of shape {arr.shape}"),
                "Pass the real data set as an array with one row per point.",
            )
        hyper["real_data"] = arr
    return Regime(
        "mix",
        MIXING_SAMPLERS,
        population_init(_static(_mix_init, has_real)),
        _static(_mix_step, has_real, f is None),
        hyper=hyper,
        check=_mix_check,
        sweepable=("real_fraction",) if f is not None else (),
        checkers={"real_fraction": fraction_checker},
        describe={
            "real_fraction": f,
            "real_data": None if not has_real else list(np.shape(real_data)),
        },
        mixes_models=True,
        data_hyper=("real_data",) if has_real else (),
    )


def _fresh_step(num_real, pooled, ctx: StepContext, params, state):
    if ctx.sampler == "population":
        return real_share_population(ctx, params, ctx.hyper["real_fraction"]), state
    data, weights = synthetic(ctx, params)
    wdtype = weights.dtype
    real = truth_draws(ctx, num_real, "fresh", float_dtype(params))
    real_w = jnp.ones((num_real,), wdtype)
    return fit_with_real(ctx, params, real, real_w, data, weights, pooled), state


def _fresh_check(fn, family, data, schedule, num_generations, hyper):
    del family, data, num_generations
    check_population_share(fn, schedule, hyper)


def fresh(num_real: int, *, real_fraction: float | None = None) -> Regime:
    """New real data every generation, pooled with the synthetic draws (AL-1, AL-3).

    Each fit sees ``num_real`` fresh draws from the truth and the ``M_t`` draws from
    the current model: Alemohammad et al.'s fresh-data loop, whose error stays
    bounded (docs/theory.md AL-3, SE-2, BO-1). ``real_fraction`` re-weights the parts as
    in :func:`mix` (None: plain pooling).

    Examples:
      >>> fresh(10).name
      'fresh'
    """
    fn = "fresh"
    num_real = check_positive_int(fn, "num_real", num_real)
    f = resolve_real_fraction(fn, real_fraction, None)
    hyper = {} if f is None else {"real_fraction": np.float64(f)}
    return Regime(
        "fresh",
        MIXING_SAMPLERS,
        population_init(no_state),
        _static(_fresh_step, num_real, f is None),
        hyper=hyper,
        check=_fresh_check,
        sweepable=("real_fraction",) if f is not None else (),
        checkers={"real_fraction": fraction_checker},
        describe={"num_real": num_real, "real_fraction": f},
        mixes_models=True,
    )


# ------------------------------------------------------------- retain_original ---


def _retain_init(family, data, num_generations):
    del family, num_generations
    return _MixState(empty_original(data, weights_dtype(data)))


def _retain_step(ctx: StepContext, params, state):
    if ctx.sampler == "population":
        share = jnp.where(ctx.t == 0, 0, ctx.hyper["fraction"])
        return real_share_population(ctx, params, share), state
    data, weights = synthetic(ctx, params)
    original = keep_first(ctx.t, state.original, data, weights)
    m = ctx.sample_size
    fraction = ctx.hyper["fraction"]
    k = jnp.round(fraction * m.astype(fraction.dtype)).astype(jnp.int32)
    k = jnp.where(ctx.t == 0, 0, k)  # the first fit sees D_0 itself
    keep = random_subset(stream_key(ctx, "retain"), original.weights > 0, k)
    syn = (jnp.arange(ctx.n_max, dtype=jnp.int32) < m - k).astype(weights.dtype)
    w = _concat(jnp.where(keep, original.weights, 0), weights * syn)
    # At t = 0 the synthetic part is D_0 itself (drawn from the truth).
    return fit(ctx, _concat(original.data, data), w, params), _MixState(original)


def _retain_check(fn, family, data, schedule, num_generations, hyper):
    del family, data, num_generations
    if schedule is None:
        return
    k = np.round(float(hyper["fraction"]) * schedule.astype(np.float64))
    if np.any(k > schedule[0]):
        fail(
            fn,
            "regime",
            f"retain_original(fraction) keeping at most M_0 = {int(schedule[0])} "
            f"original points per generation",
            described(f"{int(k.max())} points at fraction {float(hyper['fraction'])}"),
            "Lower the fraction, or use a schedule whose sizes do not exceed M_0 / "
            "fraction.",
        )


def retain_original(fraction: float) -> Regime:
    """A random share of the original data is kept in every generation.

    Shumailov et al.'s language-model setting (10 % of the original data kept):
    each fit after the first sees ``round(fraction · M_t)`` points drawn without
    replacement from the generation-0 draws ``D_0`` and ``M_t`` minus that many new
    synthetic draws. The fraction is traced (sweepable).

    Examples:
      >>> retain_original(0.1).name
      'retain_original'
    """
    f = fraction_checker("retain_original", "fraction", fraction)
    return Regime(
        "retain_original",
        MIXING_SAMPLERS,
        population_init(_retain_init),
        _retain_step,
        hyper={"fraction": np.float64(f)},
        check=_retain_check,
        sweepable=("fraction",),
        checkers={"fraction": fraction_checker},
        describe={"fraction": f},
        mixes_models=True,
    )
