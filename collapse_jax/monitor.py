"""A collapse monitor that runs inside a chain, and a regime that acts on its alarm.

Every generation the monitor compares the current model with **held-out real data**
(points from the truth that no fit ever sees) and raises an alarm when the model
explains them worse than a model equal to the truth would:

=============  ==================================================================
``"rank"``     any family with ``log_prob``: a one-sided Mann–Whitney test of the
               model's log-likelihood of the held-out points against that of
               ``num_model_draws`` fresh draws from the model (two-sample,
               distribution-free; "real data less likely" is collapse).
``"coverage"`` Gaussian: the number of held-out points outside the model's central
               ``1 - tail`` Mahalanobis region (the ``χ²_d`` quantile), exactly
               ``Binomial(n, tail)`` under the null; alarm above its ``1 - level``
               quantile (computed on the host).
``"tail"``     categorical: the number of held-out tokens on the model's tail set
               (its least probable categories, cumulative mass ``<= tail``, at
               least one), exactly ``Binomial(n, p_tail)`` under the null, with
               ``p_tail`` the model's mass on the set: tail mass, support and
               diversity loss all show as too many real tokens there.
``"auto"``     ``"coverage"`` for Gaussians, ``"tail"`` for categoricals, else
               ``"rank"`` (decided by the family's capabilities: a
               single-Gaussian location-scale, a probability vector).
=============  ==================================================================

Every statistic also counts the held-out points the model gives probability zero
(``log_prob = -inf``: lost support); one such point raises the alarm.

``alternative="collapse"`` (default) alarms only in the direction of collapse (too
many held-out points in the model's tails, real data less likely than the model's
own draws). ``alternative="two-sided"`` also alarms when the model explains the
held-out data too well (a model grown too wide): each tail at ``level / 2``, and for
the Gaussian coverage statistic an exact ``χ²_d`` test of the held-out mean
(``n ||L^{-1}(x̄ - mean)||²``) joins the count, each at ``level / 2``
(Bonferroni), since the count alone cannot see a wide model shifted so as to keep
it. :func:`adaptive` needs the two-sided monitor to hold a chain near the truth
(a one-sided monitor lets the model drift wide and off-centre unnoticed).

**The false-alarm guarantee.** Fix a generation ``t`` and the null ``H0(t)``: model
``t`` equals the truth (the law of the held-out points). The held-out points are
independent of every fit (drawn once per chain from the truth with their own key
stream, or given by the user, and never fitted), so conditionally on model ``t``
they are i.i.d. draws from it under ``H0(t)``, and

* ``"coverage"`` and ``"tail"``: ``P(alarm at t | H0(t)) <= level`` exactly (the
  binomial null; conservative only by the discreteness of the count; two-sided
  coverage adds the exact mean test under a union bound);
* ``"rank"``: ``P(alarm at t | H0(t)) = level`` up to the normal approximation of
  the Mann–Whitney null (with continuity and tie corrections): distribution-free,
  accurate to well under ``10^-3`` at ``level = 0.01`` for a few hundred points;
* the lost-support part never fires under ``H0(t)`` (a draw from the truth has
  positive probability under the truth).

The guarantee is **per generation**. Alarms at different generations of one chain
share the held-out set and are dependent; over ``T`` generations the chance of at
least one false alarm is at most ``T · level`` (pass ``level / T`` for a run-wise
guarantee, Bonferroni). Away from the null an alarm is the point of the monitor:
``tests/test_monitor.py`` measures the false-alarm rates on chains that stay at the
truth and the detection delay on a collapsing Gaussian chain.

:func:`monitored` runs a monitor inside any regime and records, per generation,
``monitor_stat``, ``monitor_pvalue``, ``alarm`` and ``monitor_lost``;
:func:`adaptive` injects fresh real data into the fits after an alarm.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._monitor_stats import (  # noqa: F401 (_tail_set: claims, tests)
    _binomial_pvalues,
    _resolve,
    _tail_set,
    _test,
)
from collapse_jax._reduce import tree_sum
from collapse_jax.checks import (
    check_choice,
    check_positive_int,
    check_real,
    described,
    fail,
)
from collapse_jax.families.base import CAPABILITIES, ModelFamily, has
from collapse_jax.keys import stream_number
from collapse_jax.regimes import Regime, StepContext, replace
from collapse_jax.regimes.pipeline import as_family_data, float_dtype, shares
from collapse_jax.regimes.validate import fraction_checker

__all__ = [
    "STATISTICS",
    "ALTERNATIVES",
    "MONITOR_RECORDS",
    "MonitorState",
    "CollapseMonitor",
    "collapse_monitor",
    "monitored",
    "adaptive",
    "first_generation",
]

STATISTICS = ("auto", "rank", "coverage", "tail")
ALTERNATIVES = ("collapse", "two-sided")
#: The per-generation records of a monitor (``observed`` of :func:`monitored`).
MONITOR_RECORDS = ("monitor_stat", "monitor_pvalue", "alarm", "monitor_lost")

# Sub-streams of the generation's ``regime`` key, from the registry (collapse_jax.keys).
_STREAM_HELD_OUT = stream_number("monitor_held_out")  # drawn at generation 0
_STREAM_MONITOR = stream_number("monitor")  # the rank test's draws from the model
_STREAM_INJECT = stream_number("monitor_inject")  # adaptive(): injected real draws

_HELD_OUT_HYPER = "monitor_held_out"
_FRACTION_HYPER = "adaptive_real_fraction"


class MonitorState(NamedTuple):
    """The monitor's part of a chain's carry (one chain).

    At generation 0 (the truth, never tested) ``stat`` and ``pvalue`` are NaN,
    ``alarm`` False and ``lost`` 0.
    """

    held_out: jax.Array  # (n,) + event_shape, this chain's held-out set (drawn at
    # t = 0); (0,) + event_shape when the held-out data are given by the user
    stat: jax.Array  # () float, the statistic (see CollapseMonitor)
    pvalue: jax.Array  # () float, its one-sided p-value under the null
    alarm: jax.Array  # () bool, pvalue <= level or a held-out point is impossible
    lost: jax.Array  # () int32, held-out points with model probability zero


class CollapseMonitor(NamedTuple):
    """A collapse monitor: static settings and the pure functions that run it.

    Attributes:
      statistic: ``"auto"``, ``"rank"``, ``"coverage"`` or ``"tail"``.
      level: the per-generation false-alarm bound, in ``(0, 1)`` (static: it sets
        host-computed critical values).
      num_held_out: ``n``, the number of held-out real points.
      num_model_draws: ``m``, the rank test's draws from the model per generation.
      tail: ``q``, the tail mass of the coverage and tail statistics.
      alternative: ``"collapse"`` (one-sided: the model explains the held-out data
        worse than a model equal to the truth would) or ``"two-sided"`` (also too
        well, e.g. a model grown too wide; see the module docstring).
      user_held_out: True when the held-out data are a user array shared by all
        chains (carried in ``hyper``), False when drawn per chain.
      init: ``(family, data_spec) -> MonitorState``.
      update: ``(ctx: StepContext, params, state) -> MonitorState``: test the
        model ``params`` (the one just fitted); draws the held-out set at
        ``ctx.t == 0``.
      test: ``(key, family, params, held_out) -> (stat, pvalue, alarm, lost)``:
        one test of one model against held-out points ``(n,) + event_shape``
        (jit- and vmap-able; ``key`` feeds the rank test's model draws). The
        statistic is the rank test's ``z`` (negative: the held-out points are
        less likely than the model's own draws), or the count of held-out points
        outside the central region (coverage) or on the tail set (tail).
      observe: ``(state) -> {name: array}`` for :data:`MONITOR_RECORDS`.
      check: ``(fn, family, data_spec, hyper) -> None``: host-side validation
        against a run's family.
      hyper: ``{"monitor_held_out": array}`` for user held-out data, else ``{}``.
      describe: a JSON-serialisable description.
    """

    statistic: str
    level: float
    num_held_out: int
    num_model_draws: int
    tail: float
    alternative: str
    user_held_out: bool
    init: Callable[..., MonitorState]
    update: Callable[..., MonitorState]
    test: Callable[..., tuple[jax.Array, jax.Array, jax.Array, jax.Array]]
    observe: Callable[..., dict[str, jax.Array]]
    check: Callable[..., None]
    hyper: Any
    describe: Any


# ------------------------------------------------------------- the monitor parts ---


def _init(cfg, num_held_out, user, family, data_spec):
    del cfg
    shape = (0 if user else num_held_out,) + tuple(data_spec.shape[1:])
    float_dtype = (
        data_spec.dtype if jnp.issubdtype(data_spec.dtype, jnp.floating) else "float32"
    )
    nan = jnp.full((), jnp.nan, float_dtype)
    del family
    return MonitorState(
        jnp.zeros(shape, data_spec.dtype),
        nan,
        nan,
        jnp.zeros((), bool),
        jnp.zeros((), jnp.int32),
    )


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


def _update(cfg, num_held_out, user, ctx: StepContext, params, state: MonitorState):
    held, state = _held_out(num_held_out, user, ctx, params, state)
    key = jax.random.fold_in(ctx.keys.regime, _STREAM_MONITOR)
    stat, pvalue, alarm, lost = _test(cfg, key, ctx.family, params, held)
    return state._replace(
        stat=stat.astype(state.stat.dtype),
        pvalue=pvalue.astype(state.pvalue.dtype),
        alarm=alarm,
        lost=lost,
    )


def _observe(state: MonitorState):
    return dict(
        zip(
            MONITOR_RECORDS,
            (state.stat, state.pvalue, state.alarm, state.lost),
            strict=True,
        )
    )


def _check(cfg, num_held_out, user, fn, family, data_spec, hyper):
    statistic = cfg[0]
    if statistic == "coverage" and not has(family, "gaussian_center"):
        fail(
            fn,
            "monitor",
            "a statistic the family supports ('coverage' needs a Gaussian family: "
            f"{CAPABILITIES['gaussian_center'][0]})",
            described(f"statistic 'coverage' for the {family.name} family"),
            "Use statistic='rank' (any family) or 'auto'.",
        )
    if statistic == "tail" and not has(family, "probability_vector"):
        fail(
            fn,
            "monitor",
            "a statistic the family supports ('tail' needs a categorical family: "
            f"{CAPABILITIES['probability_vector'][0]})",
            described(f"statistic 'tail' for the {family.name} family"),
            "Use statistic='rank' (any family) or 'auto'.",
        )
    if user:
        _check_held_out_for(fn, family, data_spec, hyper[_HELD_OUT_HYPER])


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


@functools.lru_cache(maxsize=256)
def _parts(statistic, level, num_held_out, num_model_draws, tail, two_sided, user):
    """The monitor's pure functions, cached: equal settings give the same objects,
    so a regime built from them compiles once (jit's static arguments hash them)."""
    cfg = (statistic, level, num_model_draws, tail, two_sided)
    return (
        functools.partial(_init, cfg, num_held_out, user),
        functools.partial(_update, cfg, num_held_out, user),
        functools.partial(_test, cfg),
        _observe,
        functools.partial(_check, cfg, num_held_out, user),
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


def collapse_monitor(
    held_out: int | Any = 500,
    level: float = 0.01,
    statistic: str = "auto",
    *,
    num_model_draws: int | None = None,
    tail: float = 0.05,
    alternative: str = "collapse",
) -> CollapseMonitor:
    """A collapse monitor comparing each generation's model with held-out real data.

    See the module docstring for the statistics and the exact false-alarm
    guarantee (per generation, under the null "the current model equals the
    truth").

    Args:
      held_out: an int ``n``: each chain draws ``n`` points from the truth at
        generation 0 with its own key stream (never fitted); or an array of real
        points ``(n,) + event_shape`` (category indices for a categorical) shared
        by every chain.
      level: the per-generation false-alarm bound in ``(0, 1)``.
      statistic: ``"auto"``, ``"rank"``, ``"coverage"`` (Gaussian) or ``"tail"``
        (categorical).
      num_model_draws: the rank test's draws from the model per generation
        (default ``n``).
      tail: the tail mass ``q`` in ``(0, 1)`` of the coverage and tail statistics.
      alternative: ``"collapse"`` (one-sided) or ``"two-sided"``; the latter is what
        :func:`adaptive` needs to hold a chain near the truth in every direction.

    Raises:
      ValueError, TypeError: for invalid arguments, with the fix in the message.

    Examples:
      >>> mon = collapse_monitor(200, level=0.01)
      >>> mon.num_held_out, mon.statistic
      (200, 'auto')
    """
    fn = "collapse_monitor"
    n, arr = _as_held_out(fn, held_out)
    level = check_real(
        fn,
        "level",
        level,
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
        fix="Pass the per-generation false-alarm rate, e.g. level=0.01.",
    )
    statistic = check_choice(fn, "statistic", statistic, STATISTICS)
    m = (
        n
        if num_model_draws is None
        else check_positive_int(fn, "num_model_draws", num_model_draws)
    )
    tail = check_real(
        fn,
        "tail",
        tail,
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
        fix="Pass the tail mass, e.g. tail=0.05.",
    )
    user = arr is not None
    alternative = check_choice(fn, "alternative", alternative, ALTERNATIVES)
    two_sided = alternative == "two-sided"
    init, update, test, observe, check = _parts(
        statistic, level, n, m, tail, two_sided, user
    )
    return CollapseMonitor(
        statistic=statistic,
        level=level,
        num_held_out=n,
        num_model_draws=m,
        tail=tail,
        alternative=alternative,
        user_held_out=user,
        init=init,
        update=update,
        test=test,
        observe=observe,
        check=check,
        hyper={_HELD_OUT_HYPER: arr} if user else {},
        describe={
            "statistic": statistic,
            "level": level,
            "num_held_out": n,
            "num_model_draws": m,
            "tail": tail,
            "alternative": alternative,
            "held_out": "given" if user else "drawn per chain",
        },
    )


# -------------------------------------------------------------------- monitored ---


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


def _held_out_hyper(monitor) -> tuple[str, ...]:
    """A user's held-out set is data in the truth's coordinates (Regime.data_hyper)."""
    return (_HELD_OUT_HYPER,) if _HELD_OUT_HYPER in (monitor.hyper or {}) else ()


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
    )


# --------------------------------------------------------------------- adaptive ---


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
        base_init(family, data, num_generations, *rest),
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


# --------------------------------------------------------------------- reading ---


def first_generation(flags) -> np.ndarray:
    """Per chain, the first generation where ``flags`` is True (``T + 1``: never).

    ``flags`` is ``(num_chains, T + 1)`` bool, e.g. a run's ``alarm`` record or
    ``log_var <= log(1/2)``.

    Examples:
      >>> from collapse_jax.monitor import first_generation
      >>> first_generation([[False, True, True], [False, False, False]]).tolist()
      [1, 3]
    """
    flags = np.asarray(flags, bool)
    return np.where(flags.any(1), flags.argmax(1), flags.shape[1])
