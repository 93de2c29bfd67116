"""``adaptive()``: a regime that injects fresh real data when the monitor alarms."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._collapse_monitor import (
    MONITOR_RECORDS,
    CollapseMonitor,
    MonitorState,
    _observe,
)
from collapse_jax._monitor_held_out import _held_out_hyper
from collapse_jax._monitored import (
    _batch_limit,
    _check_monitor,
    _check_regime,
    _combined_check,
    _merge,
)
from collapse_jax._reduce import tree_sum
from collapse_jax.checks import check_positive_int, fail
from collapse_jax.families.base import ModelFamily
from collapse_jax.keys import stream_number
from collapse_jax.regimes import Regime, StepContext, replace
from collapse_jax.regimes.pipeline import as_family_data, float_dtype, shares
from collapse_jax.regimes.validate import fraction_checker

# Sub-stream of the generation's ``regime`` key, from the registry (collapse_jax.keys).
_STREAM_INJECT = stream_number("monitor_inject")  # adaptive(): injected real draws

_FRACTION_HYPER = "adaptive_real_fraction"


class _Adaptive(NamedTuple):
    base: Any  # the base regime's state
    monitor: MonitorState
    injected: jax.Array  # () bool, the fit that made this model saw real draws
    fired: jax.Array  # () bool, the alarm has fired at some generation so far


def _injecting(ctx: StepContext, params, num_real, pooled) -> ModelFamily:
    """``ctx.family`` whose fits also see ``num_real`` fresh draws from the truth."""
    family = ctx.family
    key = jax.random.fold_in(ctx.keys.regime, _STREAM_INJECT)
    raw = ctx.truth_family.sample(key, ctx.truth, num_real)
    real = as_family_data(family, ctx.truth_family, raw, float_dtype(params))

    def fit(key, data, weights, prev):
        real_w = jnp.ones((num_real,), weights.dtype)
        a, b = shares(
            ctx.hyper.get(_FRACTION_HYPER, jnp.zeros((), weights.dtype)),
            tree_sum(real_w),
            tree_sum(weights),
            pooled,
        )
        both = jnp.concatenate([real.astype(data.dtype), data], axis=0)
        w = jnp.concatenate([a * real_w, b * weights], axis=0)
        return family.fit(key, both, w, prev)

    def refit(sample_key, fit_key, model, weights):
        data = family.sample(sample_key, model, weights.shape[0])
        return fit(fit_key, data, weights, model)

    return family._replace(fit=fit, refit=refit)


def _adaptive_init(base_init, mon_init, family, data, num_generations, *rest):
    return _Adaptive(
        # Points, not pooled statistics: the fed step swaps the family's fit.
        base_init(family._replace(pooled=None), data, num_generations, *rest),
        mon_init(family, data),
        jnp.zeros((), bool),
        jnp.zeros((), bool),
    )


def _adaptive_step(
    base_step, mon_update, num_real, pooled, persist, ctx, params, state
):
    inject = state.monitor.alarm | state.fired if persist else state.monitor.alarm
    plain = base_step(ctx, params, state.base)
    ctx_real = ctx._replace(family=_injecting(ctx, params, num_real, pooled))
    fed = base_step(ctx_real, params, state.base)
    new_params, base_state = jax.tree.map(
        lambda x, y: jnp.where(inject, y, x), plain, fed
    )
    mon = mon_update(ctx, new_params, state.monitor)
    return new_params, _Adaptive(base_state, mon, inject, state.fired | mon.alarm)


def _adaptive_observe(base_observe, state):
    out = {} if base_observe is None else dict(base_observe(state.base))
    out.update(_observe(state.monitor))
    out["injected"] = state.injected
    return out


@functools.lru_cache(maxsize=256)
def _adaptive_parts(
    base_init, base_step, base_observe, mon_init, mon_update, num_real, pooled, persist
):
    return (
        functools.partial(_adaptive_init, base_init, mon_init),
        functools.partial(
            _adaptive_step, base_step, mon_update, num_real, pooled, persist
        ),
        functools.partial(_adaptive_observe, base_observe),
    )


def adaptive(
    monitor: CollapseMonitor,
    num_real: int,
    *,
    base: Regime | None = None,
    real_fraction: float | None = None,
    persist: bool = False,
) -> Regime:
    """A regime that injects fresh real data into the fits when the alarm fires.

    Behaves like ``base`` (default :func:`~collapse_jax.replace`) while the alarm
    is quiet. When the model of generation ``t`` raised the alarm, the fit that
    makes model ``t + 1`` also sees ``num_real`` fresh draws from the truth, pooled
    with the base regime's data as in :func:`~collapse_jax.fresh` (``real_fraction``
    re-weights the two parts; None: plain pooling). The injection **stops when the
    alarm clears** (the next model passes the test), or, with ``persist=True``,
    continues for every later fit once the alarm has fired. Records
    :data:`MONITOR_RECORDS` and ``injected`` (the fit that made this model saw
    real draws). Until the first injection the chain equals ``base``'s chain; each
    generation computes both the base fit and the fed fit (twice the fitting work).

    Args:
      monitor: a :class:`CollapseMonitor`.
      num_real: real draws per injected fit (``>= 1``).
      base: the regime between alarms (any sample-based regime).
      real_fraction: the real share of the weight of an injected fit, in
        ``[0, 1]`` (traced, sweepable as ``adaptive_real_fraction``), or None.
      persist: keep injecting after the first alarm.

    Examples:
      >>> from collapse_jax import collapse_monitor
      >>> r = adaptive(collapse_monitor(100), num_real=50)
      >>> r.name, r.observed[-1]
      ('adaptive', 'injected')
    """
    fn = "adaptive"
    _check_monitor(fn, monitor)
    num_real = check_positive_int(fn, "num_real", num_real)
    base = replace() if base is None else base
    _check_regime(fn, "base", base)
    if "samples" not in base.samplers:
        fail(
            fn,
            "base",
            "a regime that fits drawn samples",
            base.name,
            "Use a sample-based regime, e.g. cj.replace().",
        )
    if not isinstance(persist, bool):
        fail(fn, "persist", "a bool", persist, "Pass True or False.", error=TypeError)
    f = (
        None
        if real_fraction is None
        else fraction_checker(fn, "real_fraction", real_fraction)
    )
    extra = dict(monitor.hyper)
    if f is not None:
        extra[_FRACTION_HYPER] = np.float64(f)
    hyper, observed = _merge(fn, base, extra, MONITOR_RECORDS + ("injected",))
    init, step, observe = _adaptive_parts(
        base.init,
        base.step,
        base.observe,
        monitor.init,
        monitor.update,
        num_real,
        f is None,
        persist,
    )
    checkers = dict(base.checkers) if base.checkers else {}
    if f is not None:
        checkers[_FRACTION_HYPER] = fraction_checker
    return Regime(
        "adaptive",
        ("samples",),
        init,
        step,
        hyper=hyper,
        check=functools.partial(_combined_check, base.check, monitor.check),
        sweepable=tuple(base.sweepable) + ((_FRACTION_HYPER,) if f is not None else ()),
        checkers=checkers,
        describe={
            "num_real": num_real,
            "real_fraction": f,
            "persist": persist,
            "base": base.name,
            "base_settings": base.describe or {},
            "monitor": monitor.describe,
        },
        observe=observe,
        observed=observed,
        cpu_batch_limit=_batch_limit(monitor, base),
        data_hyper=tuple(base.data_hyper) + _held_out_hyper(monitor),
    )
