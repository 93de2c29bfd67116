"""``monitored()``: a regime with a collapse monitor running inside its chain.

Also the checks and merges the monitor's regime wrappers share (``adaptive()`` in
``_monitor_adaptive.py`` uses them): the argument checks, the merge of the
monitor's ``hyper`` and records into the wrapped regime's, and the CPU batch limit.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from collapse_jax._collapse_monitor import (
    MONITOR_RECORDS,
    CollapseMonitor,
    MonitorState,
    _observe,
)
from collapse_jax._monitor_held_out import _held_out_hyper
from collapse_jax.checks import described, fail
from collapse_jax.regimes import Regime


def _check_monitor(fn, monitor):
    if not isinstance(monitor, CollapseMonitor):
        fail(
            fn,
            "monitor",
            "a CollapseMonitor (from cj.collapse_monitor)",
            type(monitor).__name__,
            "Build one with cj.collapse_monitor(held_out=500).",
            error=TypeError,
        )


def _check_regime(fn, name, regime):
    if not isinstance(regime, Regime):
        fail(
            fn,
            name,
            "a Regime (e.g. cj.replace())",
            type(regime).__name__,
            "Pass a regime from collapse_jax, e.g. cj.replace().",
            error=TypeError,
        )


def _merge(fn, inner: Regime, extra_hyper: dict, extra_observed: tuple[str, ...]):
    hyper = dict(inner.hyper) if inner.hyper else {}
    clash = sorted(set(hyper) & set(extra_hyper))
    seen = sorted(set(inner.observed) & set(extra_observed))
    if clash or seen:
        fail(
            fn,
            "regime",
            "a regime without a monitor of its own",
            described(f"regime {inner.name!r} already records {clash or seen}"),
            "Monitor a regime once (adaptive() already runs its monitor).",
        )
    hyper.update(extra_hyper)
    return hyper, tuple(inner.observed) + tuple(extra_observed)


def _combined_check(inner_check, monitor_check, fn, family, data, schedule, n, hyper):
    if inner_check is not None:
        inner_check(fn, family, data, schedule, n, hyper)
    monitor_check(fn, family, data, hyper)


class _Monitored(NamedTuple):
    inner: Any  # the wrapped regime's state
    monitor: MonitorState


def _monitored_init(inner_init, mon_init, family, data, num_generations, *rest):
    # ``rest``: what the runner passes beyond the three (the population limit's
    # reference model), forwarded to the wrapped regime.
    inner = inner_init(family, data, num_generations, *rest)
    return _Monitored(inner, mon_init(family, data))


def _monitored_step(inner_step, mon_update, ctx, params, state):
    params, inner = inner_step(ctx, params, state.inner)
    return params, _Monitored(inner, mon_update(ctx, params, state.monitor))


def _monitored_observe(inner_observe, state):
    out = {} if inner_observe is None else dict(inner_observe(state.inner))
    out.update(_observe(state.monitor))
    return out


@functools.lru_cache(maxsize=256)
def _monitored_parts(inner_init, inner_step, inner_observe, mon_init, mon_update):
    return (
        functools.partial(_monitored_init, inner_init, mon_init),
        functools.partial(_monitored_step, inner_step, mon_update),
        functools.partial(_monitored_observe, inner_observe),
    )


# On XLA:CPU (jax 0.10) a run with the rank statistic over 512 or more chains in one
# compiled call can hang inside XLA's runtime (0 % CPU, blocked awaiting the result;
# seen with and without multi-threaded Eigen, cause not found; 256 chains ran
# reliably). The runner then runs the chains in blocks of this size: a chain's
# bits do not depend on its batch, so no result changes.
RANK_CPU_BATCH_LIMIT = 256


def _batch_limit(monitor, regime):
    limits = [regime.cpu_batch_limit] if regime.cpu_batch_limit else []
    if monitor.statistic in ("rank", "auto"):
        limits.append(RANK_CPU_BATCH_LIMIT)
    return min(limits) if limits else None


def monitored(regime: Regime, monitor: CollapseMonitor) -> Regime:
    """``regime`` with ``monitor`` running inside the chain.

    The fits are those of ``regime`` (bit for bit: the monitor uses key streams of
    its own). After each fit the new model is tested against the held-out data, and
    :data:`MONITOR_RECORDS` are recorded per generation (generation ``g``: the test
    of model ``g``; generation 0, the truth, records NaN and no alarm). The
    regime's samplers are kept (the population limit ``sample_size=None`` keeps
    the model at the truth: a chain on the null).

    Examples:
      >>> from collapse_jax import collapse_monitor, replace
      >>> r = monitored(replace(), collapse_monitor(100))
      >>> r.name, r.observed[2]
      ('monitored(replace)', 'alarm')
    """
    fn = "monitored"
    _check_regime(fn, "regime", regime)
    _check_monitor(fn, monitor)
    hyper, observed = _merge(fn, regime, monitor.hyper, MONITOR_RECORDS)
    init, step, observe = _monitored_parts(
        regime.init, regime.step, regime.observe, monitor.init, monitor.update
    )
    return Regime(
        f"monitored({regime.name})",
        regime.samplers,
        init,
        step,
        hyper=hyper,
        check=functools.partial(_combined_check, regime.check, monitor.check),
        sweepable=regime.sweepable,
        checkers=regime.checkers,
        describe={
            "regime": regime.name,
            "regime_settings": regime.describe or {},
            "monitor": monitor.describe,
        },
        observe=observe,
        observed=observed,
        mixes_models=regime.mixes_models,
        cpu_batch_limit=_batch_limit(monitor, regime),
        data_hyper=tuple(regime.data_hyper) + _held_out_hyper(monitor),
        init_reference=regime.init_reference,
    )
