"""The compiled core of a run: one generation's step, ``lax.scan``, ``vmap``.

One chain is a pure function of (seed, chain id, configuration, dtype). A chunk of
generations is one jitted :func:`_run_chunk`: a ``lax.scan`` over generations inside
a ``vmap`` over chains, whose step never branches on the family. The host side (what
builds the arguments and loops over chunks) is :mod:`collapse_jax.chain`; the static
configuration is :class:`ChainConfig`, a static (hashable) argument.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

from collapse_jax import keys as cjk
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.regimes import Regime, StepContext

if TYPE_CHECKING:
    from collapse_jax.curation import Curation
    from collapse_jax.sampling import SamplingBias

__all__ = ["ChainConfig", "ChainState", "DISTANCE_METRICS"]


@dataclasses.dataclass(frozen=True)
class ChainConfig:
    """Static configuration of a run: whatever changes shapes or control flow."""

    num_generations: int
    n_max: int  # samples drawn per generation (max of the schedule); 0: population
    sampler: str  # "samples", "sufficient" or "population"
    dtype: str
    chunk_size: int
    record_params: bool
    metrics: tuple[str, ...]
    distances: tuple[str, ...] = ()  # the entries of ``metrics`` that are distances
    sampling: SamplingBias | None = None  # with its hyper stripped (traced apart)
    curation: Curation | None = None  # with its hyper stripped (traced apart)
    swept: tuple[str, ...] = ()  # hyper entries with a per-chain axis (cj.sweep)
    observed: tuple[str, ...] = ()  # the entries of ``metrics`` the regime records
    # Thinning (collapse_jax.summaries): records per chunk buffer; 0 records every
    # generation of the chunk (the scan's outputs, as before thinning existed).
    record_slots: int = 0
    # First-passage predicates (name, metric, op, threshold), checked every step.
    passage: tuple[tuple[str, str, str, float], ...] = ()
    summarised: bool = False  # output="summaries": no per-chain status reaches the host

    @property
    def tracks(self) -> bool:
        """Whether the chunk carries per-chain first-passage generations (the
        failure generation first): thinned, summarised or with predicates."""
        return bool(self.record_slots or self.passage or self.summarised)


class ChainState(NamedTuple):
    """The scan carry of one chain (batched over chains at the runner)."""

    params: Params  # the current model
    regime_state: Any  # the regime's own state (e.g. past data); () for replace
    t: jax.Array  # int32 (), generations done (index of the current model)
    status: jax.Array  # int32 (), a Status code; non-zero freezes the chain


# Distances to the truth computed from family-independent views (collapse_jax.metrics),
# so runs of different families (the expressivity switch) share a yardstick.
DISTANCE_METRICS: dict[str, tuple[str, ...]] = {
    "mixture": ("l2_to_truth", "w2_mm_sq_to_truth"),
    "probs": ("tv_to_truth",),
}


def _distances(view_kind, names, view, truth_view):
    if not names:
        return {}
    from collapse_jax import metrics as cjm

    if view_kind == "mixture":
        values = {
            "l2_to_truth": lambda: cjm.mixture_l2(view, truth_view),
            "w2_mm_sq_to_truth": lambda: cjm.w2_moment_matched_sq(view, truth_view),
        }
    else:
        values = {"tv_to_truth": lambda: cjm.total_variation(view, truth_view)}
    return {name: values[name]() for name in names}


def _step(
    family,
    regime,
    config,
    state,
    gkeys,
    m_t,
    hyper,
    active,
    truth,
    source_family,
    reference,
    first_source=False,
):
    """One generation of one chain, with failure freezing and masking."""
    ctx = StepContext(
        family=family,
        keys=gkeys,
        t=state.t,
        sample_size=m_t,
        n_max=config.n_max,
        sampler=config.sampler,
        hyper=hyper,
        truth=truth,
        truth_family=source_family,
        reference=reference,
        first_source=first_source,
        sampling=config.sampling,
        curation=config.curation,
        num_generations=config.num_generations,
    )
    new_params, new_rs = regime.step(ctx, state.params, state.regime_state)
    code = family.status(new_params)
    status = jnp.where(state.status != 0, state.status, code)
    keep = (status != 0) | ~active  # a failed chain keeps its last good model
    pick = functools.partial(jax.tree.map, lambda old, new: jnp.where(keep, old, new))
    params = pick(state.params, new_params)
    regime_state = pick(state.regime_state, new_rs)
    status = jnp.where(active, status, state.status)
    t = state.t
    return ChainState(params, regime_state, t + active.astype(t.dtype), status)


def _recorded_metrics(family, config, params, reference, view_family, view, truth_view):
    """The recorded metrics: the family's against ``reference``, distances by view."""
    own = [
        m
        for m in config.metrics
        if m not in config.distances and m not in config.observed
    ]
    values = family.metrics(params, reference) if own else {}
    out = {m: values[m] for m in own}
    if config.distances:
        kind = view_family.view_kind
        out.update(_distances(kind, config.distances, view(), truth_view))
    return {m: out[m] for m in config.metrics if m in out}


def _record(family, regime, config, state, reference, truth_view):
    mets = _recorded_metrics(
        family,
        config,
        state.params,
        reference,
        family,
        lambda: family.view(state.params),
        truth_view,
    )
    if config.observed:
        seen = regime.observe(state.regime_state)
        mets = {m: mets[m] if m in mets else seen[m] for m in config.metrics}
    return (
        mets,
        state.params if config.record_params else None,
        state.status,
    )


def _metrics_of(family, regime, config, state, reference, truth_view, names):
    """The metrics ``names`` of ``state`` (recorded or not), as :func:`_record`
    computes them."""
    distances = {d for ds in DISTANCE_METRICS.values() for d in ds}
    observed = tuple(regime.observed) if regime.observed else ()
    cfg = dataclasses.replace(
        config,
        metrics=tuple(names),
        distances=tuple(n for n in names if n in distances),
        observed=tuple(n for n in names if n in observed),
        record_params=False,
    )
    return _record(family, regime, cfg, state, reference, truth_view)[0]


def _passage(family, regime, config, state, reference, truth_view, passage, active):
    """First-passage generations after a step: ``passage[0]`` the generation the
    chain failed at, ``passage[1 + i]`` that of ``config.passage[i]`` (-1: not
    yet). A predicate holds when every entry of its metric meets it, on a chain
    that has not failed."""
    from collapse_jax.summaries import _passed

    hits = [state.status != 0]
    if config.passage:
        names = tuple(dict.fromkeys(m for _, m, _, _ in config.passage))
        mets = _metrics_of(family, regime, config, state, reference, truth_view, names)
        for _, m, op, thr in config.passage:
            hits.append(_passed(mets[m], op, thr) & (state.status == 0))
    hit = jnp.stack(hits) & active
    return jnp.where((passage < 0) & hit, state.t, passage)


def _hyper_axes(config, hyper):
    return {k: 0 if k in config.swept else None for k in hyper}


@functools.partial(
    jax.jit, static_argnames=("family", "source_family", "regime", "config")
)
def _run_chunk(
    family: ModelFamily,
    source_family: ModelFamily,
    regime: Regime,
    config: ChainConfig,
    state: ChainState,
    chain_keys,
    truth,
    reference,
    truth_view,
    schedule,
    hyper,
    t_stop,
    slots=None,
    passage=None,
):
    """Advance every chain to generation ``t_stop`` (traced; later steps are masked).

    The scan has ``max(chunk_size, 2)`` steps: XLA inlines a one-step loop and fuses
    it differently, which would change the bits of a chunk-size-1 run.

    Under thinning (``config.record_slots > 0``) ``slots[i]`` is the buffer row
    that step ``i`` records into, or ``record_slots`` for a step that records
    nothing: a generation that is not recorded computes no record (the write is a
    ``lax.cond`` on an unbatched predicate), and the records are a
    ``(record_slots, ...)`` buffer per chain. With ``config.tracks``, ``passage``
    (``(chains, 1 + len(config.passage))`` int32) is carried through every step
    (:func:`_passage`) and returned third. The chain's own computation is the
    same in every mode, so its bits do not change with thinning.
    """
    num_gen = config.num_generations
    slots_n = config.record_slots

    def advance(state, chain_key, hyper):
        t = state.t
        gkeys = cjk.generation_keys(chain_key, t)
        m_t = schedule[jnp.minimum(t, num_gen - 1)]
        return _step(
            family,
            regime,
            config,
            state,
            gkeys,
            m_t,
            hyper,
            t < t_stop,
            truth,
            source_family,
            reference,
        )

    def record(state):
        return _record(family, regime, config, state, reference, truth_view)

    def one_chain(state, chain_key, hyper):
        def body(state, _):
            new_state = advance(state, chain_key, hyper)
            return new_state, record(new_state)

        return jax.lax.scan(body, state, None, length=max(config.chunk_size, 2))

    def one_tracked(state, chain_key, hyper, passage):
        def body(carry, slot):
            state, buf, passage = carry
            new_state = advance(state, chain_key, hyper)
            passage = _passage(
                family,
                regime,
                config,
                new_state,
                reference,
                truth_view,
                passage,
                state.t < t_stop,
            )
            if not slots_n:
                return (new_state, buf, passage), record(new_state)

            def write(b):
                return jax.tree.map(
                    lambda x, r: x.at[slot].set(r), b, record(new_state)
                )

            buf = jax.lax.cond(slot < slots_n, write, lambda b: b, buf)
            return (new_state, buf, passage), None

        buf = ()
        if slots_n:
            spec = jax.eval_shape(record, state)
            buf = jax.tree.map(lambda s: jnp.zeros((slots_n,) + s.shape, s.dtype), spec)
        (state, buf, passage), recs = jax.lax.scan(
            body,
            (state, buf, passage),
            slots,
            length=max(config.chunk_size, 2),
        )
        return state, (buf if slots_n else recs), passage

    axes = (0, 0, _hyper_axes(config, hyper))
    if not config.tracks:
        return jax.vmap(one_chain, in_axes=axes)(state, chain_keys, hyper)
    return jax.vmap(one_tracked, in_axes=axes + (0,))(state, chain_keys, hyper, passage)


@functools.partial(
    jax.jit, static_argnames=("family", "source_family", "regime", "config")
)
def _run_first(
    family: ModelFamily,
    source_family: ModelFamily,
    regime: Regime,
    config: ChainConfig,
    state: ChainState,
    chain_keys,
    truth,
    reference,
    truth_view,
    schedule,
    hyper,
    passage=None,
):
    """Generation 1 of a cross-family run: fit ``family`` to the truth's draws.

    Its params type can differ from the truth's, so it runs before the scan, whose
    carry holds models of ``family`` only. Keys are those of ``t = 0``, as in a
    same-family run. With ``config.tracks`` the first-passage generations
    ``passage`` are updated and returned third, as by :func:`_run_chunk`.
    """

    def one_chain(state, chain_key, hyper, passage):
        gkeys = cjk.generation_keys(chain_key, state.t)
        new_state = _step(
            family,
            regime,
            config,
            state,
            gkeys,
            schedule[0],
            hyper,
            jnp.bool_(True),
            truth,
            source_family,
            reference,
            first_source=True,
        )
        rec = _record(family, regime, config, new_state, reference, truth_view)
        if passage is None:
            return new_state, rec
        passage = _passage(
            family,
            regime,
            config,
            new_state,
            reference,
            truth_view,
            passage,
            jnp.bool_(True),
        )
        return new_state, rec, passage

    axes = (0, 0, _hyper_axes(config, hyper), 0)
    return jax.vmap(one_chain, in_axes=axes)(state, chain_keys, hyper, passage)


@functools.partial(jax.jit, static_argnames=("family", "source_family", "config"))
def _generation_zero(family, source_family, config, reference, truth):
    """Generation-0 metrics: the family's on the reference, distances on the truth."""
    truth_view = source_family.view(truth) if config.distances else ()
    return _recorded_metrics(
        family,
        config,
        reference,
        reference,
        source_family,
        lambda: truth_view,
        truth_view,
    )


@functools.partial(jax.jit, static_argnames=("family", "source_family"))
def _project(family, source_family, truth):
    return family.fit_population_from(source_family, truth)


@functools.partial(jax.jit, static_argnames=("family",))
def _view(family, params):
    return family.view(params)


def data_spec_n(spec, n):
    """The ``ShapeDtypeStruct`` of ``n`` draws, from that of one or more."""
    return jax.ShapeDtypeStruct((n,) + spec.shape[1:], spec.dtype)
