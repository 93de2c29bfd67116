"""How a run is prepared: the frame, initial state, keys, blocks and records.

:func:`prepare` builds the fields of a :class:`collapse_jax.chain.Plan` once per
run (the memory check included); :mod:`collapse_jax.chain` runs the plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import _blocking, memory
from collapse_jax import frame as _frame
from collapse_jax import keys as cjk
from collapse_jax.checks import fail
from collapse_jax.compiled import (
    DISTANCE_METRICS,
    ChainState,
    _generation_zero,
    _project,
    _view,
    data_spec_n,
)
from collapse_jax.run_checks import (
    _MAX_CHAIN_ID,
    _check_numbers,
    _check_population_regime,
    _check_reference,
    _check_truth_metrics,
    _is_model_of,
)
from collapse_jax.runspec import (
    RunSpec,
    _cast_hyper,
    _strip,
)
from collapse_jax.summaries import (
    Recording,
)

CHAIN_PAD = 8  # the chain axis is padded to a multiple of this (see prepare)


def prepare(
    spec: RunSpec,
    make: Callable[..., Any],
    *,
    keep: memory.Keep | None = None,
    estimate_only: bool = False,
) -> Any:
    """The body of :func:`collapse_jax.chain.prepare`: ``make(...)`` (the
    :class:`~collapse_jax.chain.Plan` class) gets the plan's fields in order."""
    fn = spec.fn
    family, source, _, config, num_chains, first_chain, devices = spec.static
    init, schedule, hyper, swept = spec.traced
    regime, sampling, curation = spec.parts
    key = spec.key
    cross = source is not family
    hyper = dict(hyper)
    described_curation = curation
    recorded = config.metrics
    recording = spec.recording
    summaries = recording.output == "summaries"
    if keep is None and (summaries or recording.thinned):
        kept = None if recording.generations is None else len(recording.generations)
        keep = (
            memory.Keep(  # statistics on the device, none per chain
                copies=1.0,
                quantiles=len(recording.quantiles),
                on_device=True,
                generations=kept,
            )
            if summaries
            else dataclasses.replace(memory.RUN_CHAINS, generations=kept)
        )
    # A truth far from the origin runs in a translated frame (collapse_jax.frame):
    # from here on, the truth, the families and user data are in that frame.
    frame = _frame.plan(family, source, init, config.n_max, config.dtype)
    if frame is not None:
        _check_frame_recording(fn, frame, recorded, recording)
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
    init_args += (reference,) if population or regime.init_reference else ()
    state_spec = jax.eval_shape(lambda: regime.init(*init_args))
    block = _block_size(
        regime, devices, config, data_spec, reference, state_spec, padded
    )
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
    passage0 = None
    if config.tracks:
        passage0 = _passage_zero(
            family, source, regime, config, reference, truth, regime_state, padded
        )
    rec_metrics = {m: rec_metrics[m] for m in config.metrics}

    sharding = None
    if devices is not None:
        mesh = jax.sharding.Mesh(np.asarray(devices), ("chains",))
        sharding = jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec("chains")
        )
        state = jax.device_put(state, sharding)
        ckeys = jax.device_put(ckeys, sharding)
        if passage0 is not None:
            passage0 = jax.device_put(passage0, sharding)
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
    if recording != Recording():  # only runs that thin, summarise or track
        description["recording"] = {
            "generations": None
            if recording.generations is None
            else list(recording.generations),
            "output": recording.output,
            "quantiles": list(recording.quantiles) if summaries else None,
            "first_passage": {n: [m, op, t] for n, m, op, t in recording.passage},
        }
    if frame is not None:
        description["origin"] = frame.describe()
    return make(
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
        recording,
        passage0,
        points,
    )


def _passage_zero(family, source, regime, config, reference, truth, rstate, padded):
    """First-passage generations at generation 0, ``(padded, 1 + P)`` int32: 0
    where a predicate already holds for the truth's model, -1 elsewhere (and for
    the failure column)."""
    from collapse_jax.summaries import _passed

    names = tuple(dict.fromkeys(m for _, m, _, _ in config.passage))
    observed = tuple(regime.observed) if regime.observed else ()
    own = tuple(n for n in names if n not in observed)
    distances = {d for ds in DISTANCE_METRICS.values() for d in ds}
    cfg = dataclasses.replace(
        config,
        metrics=own,
        distances=tuple(n for n in own if n in distances),
        observed=(),
    )
    values = dict(_generation_zero(family, source, cfg, reference, truth))
    if any(n in observed for n in names):
        assert regime.observe is not None  # regime.observed names its records
        seen = jax.jit(regime.observe)(jax.tree.map(lambda x: x[0], rstate))
        values.update({n: seen[n] for n in names if n in observed})
    row = [-1] + [
        0 if bool(_passed(values[m], op, t)) else -1 for _, m, op, t in config.passage
    ]
    return jnp.broadcast_to(jnp.asarray(row, jnp.int32), (padded, len(row)))


def _check_frame_recording(fn, frame, recorded, recording) -> None:
    """A run in a translated frame restores its location metrics per chain on
    the host (float64): first-passage thresholds and summaries over chains of
    those metrics would be in the frame's coordinates, so they are refused."""
    moved = frame.location.moved
    for name, metric, _, _ in recording.passage:
        if metric in moved:
            fail(
                fn,
                f"first_passage[{name!r}]",
                "a predicate on a metric that does not move with the truth's "
                f"location (this truth runs in a frame at {frame.describe()})",
                metric,
                "Use a translation-invariant metric (a variance, a distance), or "
                "keep the records and compute the passage from res.metrics.",
            )
    if recording.output == "summaries":
        bad = [m for m in recorded if m in moved]
        if bad:
            fail(
                fn,
                "output",
                "'records' when location metrics are recorded of a truth far from "
                "the origin (they are restored in float64 per chain)",
                recording.output,
                f"Leave {bad} out of metrics=[...], or output='records'.",
            )


def _block_size(
    regime,
    devices,
    config=None,
    data_spec=None,
    reference=None,
    state_spec=None,
    padded=None,
) -> int | None:
    """Chains per compiled call, or None (all at once): on the CPU, the regime's
    limit and, given the run's shapes and ``padded`` chains whose per-generation
    data (draws, params, regime state: :func:`collapse_jax._blocking.step_bytes`)
    outgrow the largest cache, a block whose data fit in a core's L2.

    A chain's bits do not depend on its batch, so blocking changes no result.
    """
    per_chain = None
    if config is not None:
        draws = (
            data_spec_n(data_spec, config.n_max)
            if config.sampler == "samples"
            else None
        )
        per_chain = _blocking.step_bytes(draws, reference, state_spec)
    return _blocking.block_size(regime.cpu_batch_limit, per_chain, devices, padded)


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
