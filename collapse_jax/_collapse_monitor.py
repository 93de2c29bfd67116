"""The collapse monitor itself: its settings, its state, the test it runs each step.

:func:`collapse_monitor` builds a :class:`CollapseMonitor` (static settings and the
pure functions ``init``, ``update``, ``test``, ``observe``, ``check``); the
statistics are in ``_monitor_stats.py``, the held-out set in ``_monitor_held_out.py``.
The statistics and the false-alarm guarantee are described in
:mod:`collapse_jax.monitor`, the public module that re-exports these names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from collapse_jax._monitor_held_out import (
    _HELD_OUT_HYPER,
    _as_held_out,
    _check_held_out_for,
    _held_out,
)
from collapse_jax._monitor_stats import _test
from collapse_jax.checks import (
    check_choice,
    check_positive_int,
    check_real,
    described,
    fail,
)
from collapse_jax.families.base import CAPABILITIES, has
from collapse_jax.keys import stream_number
from collapse_jax.regimes import StepContext

STATISTICS = ("auto", "rank", "coverage", "tail")
ALTERNATIVES = ("collapse", "two-sided")
#: The per-generation records of a monitor (``observed`` of :func:`monitored`).
MONITOR_RECORDS = ("monitor_stat", "monitor_pvalue", "alarm", "monitor_lost")

# Sub-stream of the generation's ``regime`` key, from the registry (collapse_jax.keys).
_STREAM_MONITOR = stream_number("monitor")  # the rank test's draws from the model


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
        well, e.g. a model grown too wide; see :mod:`collapse_jax.monitor`).
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


def _observe(state: MonitorState) -> dict[str, jax.Array]:
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

    See :mod:`collapse_jax.monitor` for the statistics and the exact false-alarm
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
