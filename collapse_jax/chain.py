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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import _absorbed, _blocking, memory, runspec
from collapse_jax import _prepare as _prep
from collapse_jax import frame as _frame
from collapse_jax._prepare import (  # noqa: F401 - re-exported (old import paths)
    CHAIN_PAD,
    _block_size,
    _jsonable,
)

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
from collapse_jax.status import (
    ChainFailure,
    Status,
    failure_report,
    mark_failed,
    warn_failures,
)
from collapse_jax.summaries import (
    DEFAULT_QUANTILES,
    Recording,
    Summaries,
    SummaryResult,
    summarize,
)

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


# ---------------------------------------------------------------------- runner ---


def _head(x, n, c):
    """The first ``c`` chains and ``n`` generations of a record, on the host."""
    return np.asarray(x)[:c, :n]


# The result's type follows `output` (pyright checks callers against these
# overloads; the parameters are those of the implementation below).
# fmt: off
@overload
def run_chains(
    family: ModelFamily, init: Params, *, key: int | jax.Array, num_chains: int,
    num_generations: int, sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = ..., sampler: str = ..., dtype: str = ...,
    init_family: ModelFamily | None = ..., first_chain: int = ...,
    chunk_size: int | None = ..., progress: Callable[[int, int], None] | None = ...,
    metrics: Sequence[str] | None = ..., record_params: bool = ...,
    sampling: SamplingBias | None = ..., curation: Curation | None = ...,
    devices: int | Sequence[jax.Device] | None = ...,  # pyright: ignore[reportInvalidTypeForm]
    record_every: int | None = ..., record_at: Sequence[int] | None = ...,
    output: Literal["records"] = ..., quantiles: Sequence[float] = ...,
    first_passage: Mapping[str, tuple[str, str, float]] | None = ...,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = ...,
) -> ChainResult: ...
@overload
def run_chains(
    family: ModelFamily, init: Params, *, key: int | jax.Array, num_chains: int,
    num_generations: int, sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = ..., sampler: str = ..., dtype: str = ...,
    init_family: ModelFamily | None = ..., first_chain: int = ...,
    chunk_size: int | None = ..., progress: Callable[[int, int], None] | None = ...,
    metrics: Sequence[str] | None = ..., record_params: bool = ...,
    sampling: SamplingBias | None = ..., curation: Curation | None = ...,
    devices: int | Sequence[jax.Device] | None = ...,  # pyright: ignore[reportInvalidTypeForm]
    record_every: int | None = ..., record_at: Sequence[int] | None = ...,
    output: Literal["summaries"], quantiles: Sequence[float] = ...,
    first_passage: Mapping[str, tuple[str, str, float]] | None = ...,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = ...,
) -> SummaryResult: ...
@overload
def run_chains(
    family: ModelFamily, init: Params, *, key: int | jax.Array, num_chains: int,
    num_generations: int, sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = ..., sampler: str = ..., dtype: str = ...,
    init_family: ModelFamily | None = ..., first_chain: int = ...,
    chunk_size: int | None = ..., progress: Callable[[int, int], None] | None = ...,
    metrics: Sequence[str] | None = ..., record_params: bool = ...,
    sampling: SamplingBias | None = ..., curation: Curation | None = ...,
    devices: int | Sequence[jax.Device] | None = ...,  # pyright: ignore[reportInvalidTypeForm]
    record_every: int | None = ..., record_at: Sequence[int] | None = ...,
    output: str, quantiles: Sequence[float] = ...,
    first_passage: Mapping[str, tuple[str, str, float]] | None = ...,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = ...,
) -> ChainResult | SummaryResult: ...
# fmt: on


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
    record_every: int | None = None,
    record_at: Sequence[int] | None = None,
    output: str = "records",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    first_passage: Mapping[str, tuple[str, str, float]] | None = None,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = None,
) -> ChainResult | SummaryResult:
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
      record_every: record generations ``0, k, 2k, ...`` and ``N`` only (an int
        ``k >= 1``; default None, every generation). Generation 0 and the last
        generation are always recorded; ``result.generations`` lists those
        recorded. Unrecorded generations are not materialised, and the chain's
        bits do not change (a thinned run's records equal the full run's at
        those generations).
      record_at: record these generations only (sorted, distinct, in ``[0, N]``;
        0 and ``N`` are added). Not with ``record_every``.
      output: ``"records"`` (default: every chain's records) or ``"summaries"``:
        only the mean, variance and ``quantiles`` over chains of each recorded
        metric per recorded generation, computed on the device, and a
        :class:`~collapse_jax.summaries.SummaryResult` is returned; memory is
        the chain state plus recorded generations x statistics, not chains x
        generations. No params are kept.
      quantiles: the quantile levels of ``output="summaries"`` (default 0.1, 0.5,
        0.9; exact, over the chains that have not failed).
      first_passage: ``{name: (metric, op, threshold)}``: per chain, the first
        generation at which every entry of ``metric`` satisfies ``op`` (``<``,
        ``<=``, ``>``, ``>=``, ``==``) ``threshold``, checked at every generation
        (recorded or not); ``-1`` if never. E.g. ``{"absorbed": ("support_size",
        "<=", 1)}``. In ``result.first_passage``.
      extra_metrics: ``{name: fn}``: derived metrics, ``fn(params) -> array`` of
        one model (jittable), recorded beside the family's own (and usable in
        ``metrics``, ``first_passage`` and summaries), e.g. ``{g.metric: g}`` for
        a group ``g = cj.minority(categories=[9])`` (:mod:`collapse_jax.derived`).

    Returns:
      A :class:`ChainResult` (a :class:`~collapse_jax.summaries.SummaryResult`
      with ``output="summaries"``); ``result.failures()`` lists chains that failed
      inside the run (non-finite or degenerate fits), which are frozen, not
      dropped: their float metrics are NaN from the generation they failed at, and a
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
        record_every=record_every,
        record_at=record_at,
        output=output,
        quantiles=quantiles,
        first_passage=first_passage,
        extra_metrics=extra_metrics,
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
    record_every: int | None = None,
    record_at: Sequence[int] | None = None,
    output: str = "records",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    first_passage: Mapping[str, tuple[str, str, float]] | None = None,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = None,
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
        record_every=record_every,
        record_at=record_at,
        output=output,
        quantiles=quantiles,
        first_passage=first_passage,
        extra_metrics=extra_metrics,
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
    recording: Recording = dataclasses.field(default_factory=Recording)
    # First-passage generations at generation 0, (padded, 1 + len(passage)) int32,
    # or None when the config tracks none (collapse_jax.summaries).
    passage0: Any = None
    points: int = 1  # sweep points (chains are point-major)

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

        ``records`` is ``(metrics, params, status)`` for the recorded generations
        just run (every generation unless the run is thinned), host arrays with
        leading axes ``(total, recorded)``; ``params`` is None unless the config
        records them. ``state`` keeps the padded chain axis, so it can be saved
        and passed back in to go on later with the same bits (it stays in the
        run's frame). Records are in the truth's coordinates; with
        ``absolute=False`` they are the frame's, with any metrics the frame needs
        to restore them (:meth:`absolute` converts them).
        """
        for now, new_state, raw, _, gens in self.steps(state, done, self.passage0):
            yield now, new_state, self.cut(raw, len(gens), absolute)

    def cut(self, raw, n: int, absolute: bool = True):
        """Host records of the first ``n`` recorded generations of a chunk's
        raw outputs ``(metrics, params, status)`` (padded chains)."""
        config = self.config
        mets, params, status = raw
        head = functools.partial(_head, n=n, c=self.total)
        mets = {m: head(mets[m]) for m in config.metrics}
        params = jax.tree.map(head, params) if config.record_params else None
        if absolute:
            mets, params = self.absolute(mets, params)
        return mets, params, head(status)

    def steps(self, state: ChainState, done: int, passage=None):
        """Run from ``done``; yield ``(done, state, raw, passage, generations)``
        per chunk: ``raw`` the chunk's device records ``(metrics, params,
        status)`` (padded chains; the first ``len(generations)`` rows of axis 1
        are the recorded ``generations``), ``passage`` the first-passage
        generations carried so far (None unless ``config.tracks``)."""
        config = self.config
        gens = self.recording.generations
        recorded = None if gens is None else np.asarray(gens, np.int64)
        length = max(config.chunk_size, 2)

        def advance(state, passage, compiled, *extra):
            """``compiled`` (_run_first or _run_chunk) over every block of chains."""
            args = (self.family, self.source, self.static_regime, config)
            rest = (self.truth, self.reference, self.truth_view, self.sched)
            if passage is None:
                return _in_blocks(
                    self.block,
                    config,
                    state,
                    self.ckeys,
                    self.hyper,
                    lambda st, ck, hy: compiled(*args, st, ck, *rest, hy, *extra),
                ) + (None,)
            # The passage rides with the state, so blocks cut it alike.
            state, out, passage = _in_blocks(
                self.block,
                config,
                (state, passage),
                self.ckeys,
                self.hyper,
                lambda sp, ck, hy: compiled(
                    *args, sp[0], ck, *rest, hy, *extra, passage=sp[1]
                ),
            )
            return state, out, passage

        if self.cross and done == 0:  # generation 1 from the truth's family
            state, (mets, params, status), passage = advance(state, passage, _run_first)
            add_axis = functools.partial(jax.tree.map, lambda x: x[:, None])
            done = 1
            keep = recorded is None or 1 in recorded
            yield (
                done,
                state,
                (add_axis(mets), add_axis(params), status[:, None]),
                passage,
                np.arange(1, 2) if keep else np.arange(0),
            )
        skip = _absorbed.skippable(self.family, self.static_regime, config, self.cross)
        rows, last = config.record_slots or length, None
        while done < config.num_generations:
            valid = min(config.chunk_size, config.num_generations - done)
            extra: tuple[Any, ...] = (jnp.int32(done + valid),)
            here = np.arange(done + 1, done + valid + 1)
            if recorded is not None:
                mask = np.zeros(length, bool)
                mask[:valid] = np.isin(here, recorded)
                slots = np.where(mask, np.cumsum(mask) - 1, config.record_slots)
                extra += (jnp.asarray(slots, jnp.int32),)
                here = here[mask[:valid]]
            if last is not None and _absorbed.settled(
                self.family, state, self.sched, done, valid, length
            ):
                # Every chain absorbed or failed: the chunk would repeat its records
                # (and leave the first-passage generations as they are).
                state = state._replace(t=state.t + valid)
                out = _absorbed.repeat(last, rows)
            else:
                state, out, passage = advance(state, passage, _run_chunk, *extra)
                # The record of the chain's current model: the chunk's last row,
                # when the chunk's last generation is recorded (thinning).
                n = len(here)
                last = (
                    jax.tree.map(lambda x, n=n: x[:, n - 1 : n], out)
                    if skip and n and here[-1] == done + valid
                    else None
                )
            done += valid
            yield done, state, out, passage, here


def execute(
    spec: RunSpec, progress: Callable[[int, int], None] | None = None
) -> ChainResult | SummaryResult:
    """Run ``spec`` to the end: the runner behind :func:`run_chains`,
    :meth:`RunSpec.run` and :func:`collapse_jax.sweep` (``progress(done, total)``
    after each chunk). With ``output="summaries"`` the records of each chunk are
    summarised over chains on the device and a
    :class:`~collapse_jax.summaries.SummaryResult` is returned."""
    plan = prepare(spec)
    assert isinstance(plan, Plan)  # not estimate_only
    config = plan.config
    rec = plan.recording
    first_mets, first_params, first_status = plan.generation_zero(absolute=False)
    chain_ids = plan.chain_ids[: plan.total]
    if rec.output == "summaries":
        return _execute_summaries(spec, plan, first_mets, first_status, progress)
    rec_metrics = {m: [first_mets[m]] for m in config.metrics}
    rec_params = [first_params]
    rec_status = [first_status]
    state, passage = plan.state, plan.passage0
    for done, new_state, raw, new_passage, gens in plan.steps(state, 0, passage):
        state, passage = new_state, new_passage
        mets, params, status = plan.cut(raw, len(gens), absolute=False)
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
    final = _final_state(plan, state)
    passage_host = _passage_host(plan, passage)
    failed_at = None if passage_host is None else passage_host[0]
    generations = (
        None if rec.generations is None else np.asarray(rec.generations, np.int64)
    )
    # user -> run_chains / sweep / RunSpec.run -> execute -> warn_failures
    warn_failures(
        _failures(out_status, chain_ids, failed_at, final),
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
        generations,
        {} if passage_host is None else passage_host[1],
        failed_at,
    )


def _final_state(plan: Plan, state: ChainState) -> ChainState:
    final = jax.tree.map(lambda x: x[: plan.total], state)
    if plan.frame is not None:
        final = final._replace(params=plan.frame.params_like(final.params))
    return final


def _passage_host(plan: Plan, passage):
    """``(failed_at, {name: first passage})`` per kept chain, or None."""
    if passage is None:
        return None
    host = np.asarray(passage)[: plan.total]
    names = [name for name, _, _, _ in plan.config.passage]
    return host[:, 0].copy(), {n: host[:, 1 + i].copy() for i, n in enumerate(names)}


def _failures(status, chain_ids, failed_at, final):
    """The failures of a run: from the tracked failure generations when the run
    tracked them (exact under thinning), else from the recorded status."""
    if failed_at is None:
        return failure_report(status, chain_ids)
    final_status = np.asarray(final.status)
    return [
        ChainFailure(int(chain_ids[i]), int(failed_at[i]), Status(int(final_status[i])))
        for i in np.flatnonzero(failed_at >= 0)
    ]


def _execute_summaries(spec, plan, first_mets, first_status, progress):
    """:func:`execute` with ``output="summaries"``: each chunk's records are
    summarised over chains on the device; only the statistics reach the host."""
    config, rec = plan.config, plan.recording
    gens = np.asarray(
        rec.generations
        if rec.generations is not None
        else np.arange(config.num_generations + 1),
        np.int64,
    )
    summ = Summaries(plan.points, gens, rec.quantiles)
    summ.put_host(0, {m: first_mets[m] for m in plan.recorded}, first_status)
    lo = 1
    state, passage = plan.state, plan.passage0
    for done, new_state, raw, new_passage, here in plan.steps(state, 0, passage):
        state, passage = new_state, new_passage
        mets, _, status = raw
        if len(here):
            stats, failed = summarize(
                {m: mets[m] for m in plan.recorded},
                status,
                total=plan.total,
                points=plan.points,
                quantiles=rec.quantiles,
            )
            summ.put(lo, stats, failed, len(here))
            lo += len(here)
        if progress is not None:
            progress(done, config.num_generations)
    chain_ids = plan.chain_ids[: plan.total]
    final = _final_state(plan, state)
    tracked = _passage_host(plan, passage)
    assert tracked is not None  # a summarised run tracks (ChainConfig.tracks)
    failed_at, passages = tracked
    warn_failures(
        _failures(None, chain_ids, failed_at, final),
        plan.total,
        "res.failures()",
        stacklevel=5,
    )
    squeeze = plan.points == 1 and not spec.config.swept

    def one(x, axis=0):
        return np.take(x, 0, axis=axis) if squeeze else x

    stats = {m: {k: one(v) for k, v in st.items()} for m, st in summ.stats.items()}
    return SummaryResult(
        gens,
        rec.quantiles,
        stats,
        one(summ.failed),
        passages,
        failed_at,
        chain_ids,
        final,
        plan.description,
        plan.absolute_reference(),
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
    return _prep.prepare(spec, Plan, keep=keep, estimate_only=estimate_only)


def _in_blocks(block, config, state, ckeys, hyper, run):
    """``run(state, keys, hyper)`` over the chain axis, in blocks of ``block``
    chains at most, every call of one shape (collapse_jax._blocking)."""
    return _blocking.in_blocks(block, config.swept, state, ckeys, hyper, run)


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
