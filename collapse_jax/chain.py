"""The runner: a :class:`~collapse_jax.runspec.RunSpec` to a plan, chunks, a result.

One chain is a pure function of (seed, chain id, configuration, dtype). The host
prepares a run once (:func:`prepare`: the frame, the initial state, the keys, the
memory check) and loops over chunks of generations, one compiled scan
(:mod:`collapse_jax.compiled`) per chunk with the carry passed back in, so long runs
report progress and a chunked run gives the same bits as one scan
(tests/test_keys.py). :func:`run_chains`, :func:`collapse_jax.sweep` and the
experiment runner (:mod:`collapse_jax.runs`) all build a spec and run it here.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import _absorbed, memory, runspec
from collapse_jax import frame as _frame
from collapse_jax import keys as cjk

# The compiled core, called through this module's names: wrapping
# chain._run_chunk (tests, benchmarks) wraps what every run calls.
from collapse_jax.compiled import (  # noqa: F401 - re-exported
    DISTANCE_METRICS,
    ChainState,
    _generation_zero,
    _project,
    _record,
    _recorded_metrics,
    _run_chunk,
    _run_first,
    _step,
    _view,
    data_spec_n,
)
from collapse_jax.curation import Curation
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.regimes import Regime
from collapse_jax.result import ChainResult
from collapse_jax.run_checks import (  # noqa: F401 - re-exported (old import paths)
    _FN,
    _MAX_CHAIN_ID,
    PUBLIC_SAMPLERS,
    _check_numbers,
    _check_population_regime,
    _check_reference,
    _check_representable,
    _check_sample_size,
    _check_truth_metrics,
    _is_model_of,
    _validate,
    check_devices,
)
from collapse_jax.runspec import (  # noqa: F401 - re-exported (old import paths)
    ChainConfig,
    RunSpec,
    _cast_hyper,
    _strip,
    merged_hyper,
)
from collapse_jax.sampling import SamplingBias
from collapse_jax.status import failure_report, mark_failed, warn_failures

# jax.Device is bound by assignment in jax/__init__.py (no stub declares the class),
# so pyright refuses it in annotations: the `devices` arguments below silence
# that one rule (reportInvalidTypeForm).

__all__ = [
    "ChainConfig",
    "ChainState",
    "ChainResult",
    "Plan",
    "execute",
    "prepare",
    "run_chains",
    "run_spec",
]

# Old private names (memory.py, tests and forks import them from here).
_merged_hyper = merged_hyper
_check_devices = check_devices
CHAIN_PAD = 8  # the chain axis is padded to a multiple of this (see prepare)


# ---------------------------------------------------------------------- runner ---


def _head(x, n, c):
    """The first ``c`` chains and ``n`` generations of a record, on the host."""
    return np.asarray(x)[:c, :n]


def run_chains(
    family: ModelFamily,
    init: Params,
    *,
    key: int | jax.Array,
    num_chains: int,
    num_generations: int,
    sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = None,
    sampler: str = "samples",
    dtype: str = "float32",
    init_family: ModelFamily | None = None,
    first_chain: int = 0,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    metrics: Sequence[str] | None = None,
    record_params: bool = True,
    sampling: SamplingBias | None = None,
    curation: Curation | None = None,
    devices: int | Sequence[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
) -> ChainResult:
    """Run ``num_chains`` independent generation chains of ``family``.

    Generation 0 is ``init`` (the truth); generation ``n`` is the model after ``n``
    fits, each fitted to ``sample_size`` draws from the previous model.

    It builds the run's :class:`~collapse_jax.RunSpec` and runs it:
    ``cj.run_spec(...).run()`` with the same arguments is the same run, bit for bit.

    Args:
      family: the fitted family, e.g. ``cj.gaussian(dim=1)``.
      init: params of the generation-0 model (the truth).
      key: an int seed or a typed JAX key.
      num_chains: number of chains (``>= 1``).
      num_generations: number of fits ``N`` (``>= 1``); arrays have ``N + 1``
        entries along the generation axis.
      sample_size: ``M`` per generation: an int, a schedule of ``N`` ints
        ``(M_0, ..., M_{N-1})``, or ``None`` for the population limit ``M = inf``.
      regime: what each fit sees (:mod:`collapse_jax.regimes`); default
        :func:`~collapse_jax.replace`.
      sampler: ``"samples"`` (draw M points and fit) or ``"sufficient"`` (draw the
        fitted statistics directly, same law, O(1) per generation).
      dtype: ``"float32"`` or ``"float64"`` (needs x64 enabled at process start).
      init_family: family of ``init`` when it differs from ``family``: the
        expressivity error. Generation 1 is ``family`` fitted to draws from the
        truth (or, with ``sample_size=None``, its population best fit); generation
        0 of ``params`` and of the family's metrics is that best fit (see
        ``ChainResult.reference``), and the distances to the truth itself
        (``l2_to_truth``, ``w2_mm_sq_to_truth`` for continuous families,
        ``tv_to_truth`` for categoricals) are recorded by default.
      first_chain: global id of the first chain; chains are
        ``first_chain .. first_chain + num_chains - 1``. A chain's trajectory depends
        only on (seed, id, configuration, dtype), so big runs split across calls.
      chunk_size: generations per compiled scan (default ``min(N, 1000)``); the host
        loops over chunks and calls ``progress``. Does not change any result.
      progress: ``progress(done, total)`` called after each chunk, or ``None``.
      metrics: names of the metrics to record: the family's ``metric_names`` and
        the distances to the truth named above (default: the family's metrics, plus
        the distances when ``init_family`` differs).
      record_params: record the fitted params of every generation.
      sampling: a sampling bias (:mod:`collapse_jax.sampling`): the data are drawn
        from a distorted model, e.g. ``cj.temperature(0.8)``; default None.
      curation: a curation of the synthetic draws (:mod:`collapse_jax.curation`),
        e.g. ``cj.tail_weighting(0.05)``; default None.
      devices: spread the chains over these devices (a list of ``jax.Device``, or
        an int ``k`` for the first ``k`` of ``jax.devices()``); default None, the
        default device. The chain axis is sharded; results are the same bits.

    Returns:
      A :class:`ChainResult`; ``result.failures()`` lists chains that failed inside
      the run (non-finite or degenerate fits), which are frozen, not dropped: their
      float metrics are NaN from the generation they failed at, and a
      :class:`~collapse_jax.FailedChainsWarning` says how many failed and why.

    Raises:
      ValueError, TypeError: for invalid arguments, with the fix in the message.

    Examples:
      >>> import collapse_jax as cj
      >>> res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
      ...                     num_chains=8, num_generations=5, sample_size=10)
      >>> res.metrics["log_var"].shape
      (8, 6, 1)
    """
    spec = runspec.build(
        _FN,
        family,
        init,
        key=key,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        regime=regime,
        sampler=sampler,
        dtype=dtype,
        init_family=init_family,
        first_chain=first_chain,
        chunk_size=chunk_size,
        progress=progress,
        metrics=metrics,
        record_params=record_params,
        sampling=sampling,
        curation=curation,
        devices=devices,
        runner=execute,
    )
    return execute(spec, progress)


def run_spec(
    family: ModelFamily,
    init: Params,
    *,
    key: int | jax.Array,
    num_chains: int,
    num_generations: int,
    sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = None,
    sampler: str = "samples",
    dtype: str = "float32",
    init_family: ModelFamily | None = None,
    first_chain: int = 0,
    chunk_size: int | None = None,
    metrics: Sequence[str] | None = None,
    record_params: bool = True,
    sampling: SamplingBias | None = None,
    curation: Curation | None = None,
    devices: int | Sequence[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
) -> RunSpec:
    """Check a run's arguments once and return its frozen :class:`RunSpec`.

    The arguments are those of :func:`~collapse_jax.run_chains` (less
    ``progress``, which :meth:`RunSpec.run` takes); ``cj.run_spec(...).run()`` is
    ``cj.run_chains(...)``, bit for bit.

    Raises:
      ValueError, TypeError: for invalid arguments, with the fix in the message.

    Examples:
      >>> import collapse_jax as cj
      >>> spec = cj.run_spec(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
      ...                    num_chains=8, num_generations=5, sample_size=10)
      >>> spec.static.config.num_generations, spec.traced.schedule.tolist()
      (5, [10, 10, 10, 10, 10])
      >>> spec.run().metrics["log_var"].shape
      (8, 6, 1)
    """
    return runspec.build(
        "run_spec",
        family,
        init,
        key=key,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        regime=regime,
        sampler=sampler,
        dtype=dtype,
        init_family=init_family,
        first_chain=first_chain,
        chunk_size=chunk_size,
        metrics=metrics,
        record_params=record_params,
        sampling=sampling,
        curation=curation,
        devices=devices,
        runner=execute,
    )


@dataclasses.dataclass
class Plan:
    """Everything a run needs between chunks (built once by :func:`prepare`)."""

    fn: str
    family: ModelFamily
    source: ModelFamily
    static_regime: Regime
    config: ChainConfig
    state: ChainState  # the initial state, padded chain axis
    ckeys: jax.Array
    hyper: dict[str, Any]
    truth: Any
    reference: Any
    truth_view: Any
    sched: jax.Array
    total: int  # chains kept (points x num_chains)
    chain_ids: np.ndarray  # (padded,)
    cross: bool
    block: int | None
    first: dict[str, np.ndarray]  # generation-0 records, leading axes (total, 1)
    description: dict[str, Any]
    sharding: Any = None  # a NamedSharding of the chain axis, or None
    frame: _frame.Frame | None = None  # the run's translation (collapse_jax.frame)
    recorded: tuple[str, ...] = ()  # the metrics asked for (config.metrics may add
    # the inputs the frame needs to restore them)

    def generation_zero(self, absolute: bool = True):
        """Records of generation 0: ``(metrics, params, status)``, axes (total, 1);
        in absolute coordinates unless ``absolute=False`` (see :meth:`chunks`)."""
        params = jax.tree.map(
            lambda x: np.asarray(x)[: self.total, None], self.state.params
        )
        mets = dict(self.first)
        status = np.zeros((self.total, 1), np.int32)
        if absolute:
            mets, params = self.absolute(mets, params)
        return mets, params, status

    def absolute(self, mets, params):
        """Records in the truth's coordinates: the recorded metrics and the params
        with the frame's origin added back (float64), from the frame's records."""
        if self.frame is None:
            return mets, params
        return self.frame.metrics(mets, self.recorded), self.frame.params(params)

    def relative(self, mets) -> dict[str, np.ndarray]:
        """The frame's values of the recorded location metrics (ChainResult)."""
        if self.frame is None:
            return {}
        moved = self.frame.location.moved
        return {m: mets[m] for m in self.recorded if m in moved}

    def absolute_reference(self):
        """The reference model in the truth's coordinates (host arrays)."""
        ref = jax.tree.map(np.asarray, self.reference)
        return ref if self.frame is None else self.frame.params(ref)

    def place(self, state: ChainState) -> ChainState:
        """``state`` (host or device arrays, padded chain axis) placed for the run."""
        if self.sharding is None:
            return jax.tree.map(jnp.asarray, state)
        return jax.device_put(state, self.sharding)

    def chunks(self, state: ChainState, done: int, absolute: bool = True):
        """Run from ``done`` generations; yield ``(done, state, records)`` per chunk.

        ``records`` is ``(metrics, params, status)`` for the generations just run,
        host arrays with leading axes ``(total, valid)``; ``params`` is None unless
        the config records them. ``state`` keeps the padded chain axis, so it can be
        saved and passed back in to go on later with the same bits (it stays in
        the run's frame). Records are in the truth's coordinates; with
        ``absolute=False`` they are the frame's, with any metrics the frame needs
        to restore them (:meth:`absolute` converts them).
        """
        config = self.config

        def cut(mets, params, status, valid):
            head = functools.partial(_head, n=valid, c=self.total)
            mets = {m: head(mets[m]) for m in config.metrics}
            params = jax.tree.map(head, params) if config.record_params else None
            if absolute:
                mets, params = self.absolute(mets, params)
            return mets, params, head(status)

        def advance(state, compiled, *extra):
            """``compiled`` (_run_first or _run_chunk) over every block of chains."""
            args = (self.family, self.source, self.static_regime, config)
            rest = (self.truth, self.reference, self.truth_view, self.sched)
            return _in_blocks(
                self.block,
                config,
                state,
                self.ckeys,
                self.hyper,
                lambda st, ck, hy: compiled(*args, st, ck, *rest, hy, *extra),
            )

        if self.cross and done == 0:  # generation 1 from the truth's family
            state, (mets, params, status) = advance(state, _run_first)
            add_axis = functools.partial(jax.tree.map, lambda x: x[:, None])
            done = 1
            yield done, state, cut(add_axis(mets), add_axis(params), status[:, None], 1)
        skip = _absorbed.skippable(self.family, self.static_regime, config, self.cross)
        length, last = max(config.chunk_size, 2), None
        while done < config.num_generations:
            valid = min(config.chunk_size, config.num_generations - done)
            if last is not None and _absorbed.settled(
                self.family, state, self.sched, done, valid, length
            ):  # every chain absorbed or failed: the chunk would repeat its records
                state = state._replace(t=state.t + valid)
                mets, params, status = _absorbed.repeat(last, length)
            else:
                state, (mets, params, status) = advance(
                    state, _run_chunk, jnp.int32(done + valid)
                )
            if skip:
                last = jax.tree.map(
                    lambda x, v=valid: x[:, v - 1 : v], (mets, params, status)
                )
            done += valid
            yield done, state, cut(mets, params, status, valid)


def execute(
    spec: RunSpec, progress: Callable[[int, int], None] | None = None
) -> ChainResult:
    """Run ``spec`` to the end: the runner behind :func:`run_chains`,
    :meth:`RunSpec.run` and :func:`collapse_jax.sweep` (``progress(done, total)``
    after each chunk)."""
    plan = prepare(spec)
    config = plan.config
    first_mets, first_params, first_status = plan.generation_zero(absolute=False)
    rec_metrics = {m: [first_mets[m]] for m in config.metrics}
    rec_params = [first_params]
    rec_status = [first_status]
    state = plan.state
    for done, new_state, (mets, params, status) in plan.chunks(
        plan.state, 0, absolute=False
    ):
        state = new_state
        for m in config.metrics:
            rec_metrics[m].append(mets[m])
        if config.record_params:
            rec_params.append(params)
        rec_status.append(status)
        if progress is not None:
            progress(done, config.num_generations)
    out_status = np.concatenate(rec_status, axis=1)
    # A failed chain is frozen, so its records would read as results: missing.
    out_metrics = {
        m: mark_failed(np.concatenate(v, axis=1), out_status)
        for m, v in rec_metrics.items()
    }
    out_params = (
        jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *rec_params)
        if config.record_params
        else None
    )
    relative = plan.relative(out_metrics)
    out_metrics, out_params = plan.absolute(out_metrics, out_params)
    final = jax.tree.map(lambda x: x[: plan.total], state)
    if plan.frame is not None:
        final = final._replace(params=plan.frame.params_like(final.params))
    chain_ids = plan.chain_ids[: plan.total]
    # user -> run_chains / sweep / RunSpec.run -> execute -> warn_failures
    warn_failures(
        failure_report(out_status, chain_ids),
        plan.total,
        "res.failures()",
        stacklevel=4,
    )
    return ChainResult(
        out_params,
        out_metrics,
        out_status,
        chain_ids,
        final,
        plan.description,
        plan.absolute_reference(),
        None if plan.frame is None else plan.frame.offset,
        relative,
        _seed(spec.key),
    )


def prepare(
    spec: RunSpec,
    *,
    keep: memory.Keep | None = None,
    estimate_only: bool = False,
) -> Plan | Callable[[int], memory.Estimate]:
    """Build the :class:`Plan` of a run (frame, initial state, keys, records).

    Args:
      spec: the run (:func:`collapse_jax.run_spec`, or
        :func:`collapse_jax.runspec.build` in another entry point's wording).
      keep: how the caller keeps the records (:class:`collapse_jax.memory.Keep`),
        for the memory check; None: as :func:`run_chains` does.
      estimate_only: return the run's memory estimate (``estimate(num_chains) ->
        Estimate``, :func:`collapse_jax.memory.estimator`) instead of checking it
        and building the plan: nothing chain-sized is made.
    """
    fn = spec.fn
    family, source, _, config, num_chains, first_chain, devices = spec.static
    init, schedule, hyper, swept = spec.traced
    regime, sampling, curation = spec.parts
    key = spec.key
    cross = source is not family
    hyper = dict(hyper)
    described_curation = curation
    recorded = config.metrics
    # A truth far from the origin runs in a translated frame (collapse_jax.frame):
    # from here on, the truth, the families and user data are in that frame.
    frame = _frame.plan(family, source, init, config.n_max, config.dtype)
    if frame is not None:
        family, source, init = frame.family, frame.source, frame.init
        hyper = _frame.move_hyper(frame, regime, hyper)
        curation = _frame.curation_in_frame(frame, curation)
        config = dataclasses.replace(
            config, metrics=frame.computed(recorded), curation=_strip(curation)
        )
    sweep = (tuple(swept), swept) if swept else None
    points = 1 if sweep is None else int(np.shape(swept[sweep[0][0]])[0])
    cjk.check_threefry_partitionable(fn)
    root = cjk.canonicalize_key(fn, key)
    jdtype = jnp.dtype(config.dtype)

    truth = source.cast_params(init, jdtype)
    reference = (
        _project(family.exact_family or family, source, truth)
        if cross and not _is_model_of(family, init)
        else (family.cast_params(init, jdtype) if cross else truth)
    )
    if cross:
        _check_reference(reference, family, config.dtype)
    _check_numbers(fn, family, reference, schedule, config)
    data_spec = jax.eval_shape(
        lambda p: family.sample(jax.random.key(0), p, max(config.n_max, 1)), reference
    )
    if regime.check is not None:
        per_point = (
            [hyper]
            if sweep is None
            else [
                {**hyper, **{n: sweep[1][n][i] for n in sweep[0]}}
                for i in range(points)
            ]
        )
        for h in per_point:
            regime.check(fn, family, data_spec, schedule, config.num_generations, h)
    truth_view = _view(source, truth) if config.distances else ()
    # Pad the chain axis to a multiple of CHAIN_PAD (per device): XLA compiles a batch
    # of one chain to scalar code whose rounding (FMA contraction) differs from the
    # vectorised code, which would make a lone chain differ from the same chain in a
    # batch. Padding chains get ids past the requested ones and are dropped.
    total = points * num_chains
    pad = CHAIN_PAD * (1 if devices is None else len(devices))
    padded = -(-total // pad) * pad
    population = config.sampler == "population"
    init_args = (family, data_spec_n(data_spec, config.n_max), config.num_generations)
    init_args += (reference,) if population else ()
    state_spec = jax.eval_shape(lambda: regime.init(*init_args))
    block = _block_size(regime, devices)
    jhyper = _cast_hyper(hyper, jdtype)
    estimate = memory.estimator(
        config=config,
        family=family,
        source=source,
        regime=regime,
        reference=reference,
        truth=truth,
        truth_view=truth_view,
        state_spec=state_spec,
        data_spec=data_spec,
        hyper=jhyper,
        points=points,
        pad=pad,
        block=block,
        keep=keep,
    )
    if estimate_only:
        return estimate
    memory.check_run(
        fn,
        estimate,
        num_chains=num_chains,
        pad=pad,
        devices=devices,
        config=config,
        family=family,
        regime=regime,
        keep=keep,
    )
    local = np.concatenate(
        [np.tile(np.arange(num_chains), points), num_chains + np.arange(padded - total)]
    ).astype(np.int64)
    chain_ids = (first_chain + local) % (_MAX_CHAIN_ID + 1)
    ckeys = cjk.chain_keys(root, jnp.asarray(chain_ids, jnp.int32))
    if sweep is not None:
        for n in sweep[0]:
            v = _cast_hyper({n: sweep[1][n]}, jdtype)[n]
            v = jnp.repeat(v, num_chains, axis=0)
            fill = jnp.broadcast_to(v[-1:], (padded - total,) + v.shape[1:])
            jhyper[n] = jnp.concatenate([v, fill], axis=0)
    batched = jax.tree.map(
        lambda x: jnp.broadcast_to(x, (padded,) + x.shape), reference
    )
    if population and regime.mixes_models:
        _check_population_regime(fn, regime, family, cross)
    regime_state = regime.init(*init_args)
    regime_state = jax.tree.map(
        lambda x: jnp.broadcast_to(x, (padded,) + jnp.shape(x)), regime_state
    )
    state = ChainState(
        batched,
        regime_state,
        jnp.zeros((padded,), jnp.int32),
        jnp.zeros((padded,), jnp.int32),
    )
    sched = jnp.asarray(
        schedule
        if schedule is not None
        else np.ones((config.num_generations,), np.int32)
    )
    static_regime = spec.static.regime

    first = _generation_zero(family, source, config, reference, truth)
    _check_truth_metrics(first, config.dtype)
    rec_metrics = {
        m: np.broadcast_to(np.asarray(v)[None, None], (total, 1) + np.shape(v))
        for m, v in first.items()
    }
    if config.observed:  # the regime's records at generation 0: its initial state
        observe = regime.observe
        assert observe is not None  # config.observed is empty without it
        seen = jax.jit(jax.vmap(observe))(regime_state)
        for m in config.observed:
            rec_metrics[m] = np.asarray(seen[m])[:total, None]
    rec_metrics = {m: rec_metrics[m] for m in config.metrics}

    sharding = None
    if devices is not None:
        mesh = jax.sharding.Mesh(np.asarray(devices), ("chains",))
        sharding = jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec("chains")
        )
        state = jax.device_put(state, sharding)
        ckeys = jax.device_put(ckeys, sharding)
        jhyper = {
            k: jax.device_put(v, sharding) if k in config.swept else v
            for k, v in jhyper.items()
        }
    description = {
        "family": family.name,
        "init_family": source.name,
        "event_shape": list(family.event_shape),
        "regime": regime.name,
        "regime_settings": _jsonable(regime.describe),
        "sampling": None if sampling is None else sampling.name,
        "sampling_settings": None if sampling is None else _jsonable(sampling.describe),
        "curation": None if curation is None else curation.name,
        "curation_settings": None
        if described_curation is None  # None exactly when curation is (frame.py)
        else _jsonable(described_curation.describe),
        "num_chains": num_chains,
        "first_chain": first_chain,
        "num_generations": config.num_generations,
        "sample_size": None if schedule is None else schedule.tolist(),
        "sampler": config.sampler,
        "dtype": config.dtype,
        "chunk_size": config.chunk_size,
        "key_scheme_version": cjk.KEY_SCHEME_VERSION,
    }
    if frame is not None:
        description["origin"] = frame.describe()
    return Plan(
        fn,
        family,
        source,
        static_regime,
        config,
        state,
        ckeys,
        jhyper,
        truth,
        reference,
        truth_view,
        sched,
        total,
        chain_ids,
        cross,
        block,
        rec_metrics,
        description,
        sharding,
        frame,
        recorded,
    )


def _in_blocks(block, config, state, ckeys, hyper, run):
    """``run(state, keys, hyper)`` over the chain axis, in blocks of ``block``."""
    padded = ckeys.shape[0]
    if block is None or padded <= block:
        return run(state, ckeys, hyper)
    outs = []
    for start in range(0, padded, block):
        part = slice(start, min(start + block, padded))
        cut = functools.partial(jax.tree.map, lambda x, part=part: x[part])
        hy = {k: v[part] if k in config.swept else v for k, v in hyper.items()}
        outs.append(run(cut(state), ckeys[part], hy))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *outs)


def _block_size(regime, devices) -> int | None:
    """Chains per compiled call: the regime's CPU limit, or None (all at once).

    Chains run in blocks when the regime asks for it on this backend (a chain's
    bits do not depend on its batch, so blocking changes no result).
    """
    block = regime.cpu_batch_limit if jax.default_backend() == "cpu" else None
    if block is not None and devices is not None:
        block = None if len(devices) > 1 else block
    return block


def _jsonable(obj):
    if obj is None or obj == ():
        return {}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _seed(key) -> int | None:
    """The int seed of a run (recorded in its results Dataset), or None."""
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return int(key)
    return None


def _prepare(fn, family, init, *, keep=None, estimate_only=False, **kwargs):
    """:func:`prepare` of the spec that ``kwargs`` (run_chains' keywords, plus
    ``sweep``) build in the wording of ``fn`` (estimate.estimate_chains' path)."""
    spec = runspec.build(fn, family, init, **kwargs)
    return prepare(spec, keep=keep, estimate_only=estimate_only)


_Plan = Plan
