"""A run in stages: a change of architecture between generations.

``run_stages([(family_a, 5), (family_b, 5)], ...)`` runs generations 1-5 with the
network of ``family_a`` and generations 6-10 with that of ``family_b``: generation
6 trains network B on draws from each chain's *own* generation-5 network A, and
every later generation goes on as usual (B on draws from B). It is the expressivity
switch of ``run_chains(init_family=...)`` chain by chain: there the first fit of
the new family sees draws from one truth shared by every chain; here it sees the
chain's own model of the previous stage.

How it runs, with the compiled core unchanged (one ``lax.scan`` over generations,
one ``vmap`` over chains, per stage):

* every stage is one :class:`~collapse_jax.RunSpec` of its family over the
  generations of all stages so far, so the generation index goes on across stages
  and the keys of stage ``s`` (``generation_keys(chain_key, t)`` for its ``t``) are
  never those of an earlier stage: stage 2's chains do not reuse stage 1's
  randomness, and a chain's bits still depend only on (seed, chain id,
  configuration), not on the other chains, the chunking or the batch of chains;
* the first generation of a new stage is the regime's ordinary step of the new
  family, vmapped over chains, with the synthetic draws taken from the chain's
  previous-stage model (the previous family's ``sample``); the regime's state
  (the original data ``D_0`` of ``retain_original``/``mix``, the pool of
  ``accumulate``) is carried over, so real data and accumulated draws go on
  across the switch; the new network starts where its ``Training.start`` says
  (its own generation 0, or a fresh initialisation);
* the remaining generations are the new stage's run, resumed from that state
  (``Plan.chunks``), exactly as a resumed run goes on.

The truth of every stage is its family's ``generation0()`` (real data), so a
regime's real draws are real data in every stage. Metrics are those every stage
records (e.g. ``held_out_nll``: comparable across stages when the stages share
their held-out data), in one :class:`~collapse_jax.ChainResult` over all
generations; its params are not recorded (they change structure between stages:
``final_state`` holds the last stage's networks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import chain, runspec
from collapse_jax import keys as cjk
from collapse_jax.checks import check_positive_int, described, fail
from collapse_jax.compiled import ChainState, _hyper_axes, _record, _step
from collapse_jax.families.base import ModelFamily, _default_refit
from collapse_jax.regimes import Regime
from collapse_jax.result import ChainResult
from collapse_jax.status import failure_report, mark_failed, warn_failures

__all__ = ["run_stages"]

_FN = "run_stages"


def run_stages(
    stages: Sequence[tuple[ModelFamily, int]],
    *,
    key: int | jax.Array,
    num_chains: int,
    sample_size: int,
    regime: Regime | None = None,
    dtype: str = "float32",
    first_chain: int = 0,
    chunk_size: int | None = None,
    metrics: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ChainResult:
    """Run chains whose network changes architecture between stages.

    Args:
      stages: ``[(family, generations), ...]``: each stage's learned family (with
        ``generation0()``, e.g. :func:`~collapse_jax.neural.learned_family`) and
        how many generations it trains. Stage ``s + 1``'s first generation trains
        its network on draws from each chain's last network of stage ``s``.
        Every family must draw data of one event shape.
      key: an int seed or a typed JAX key.
      num_chains: chains trained together (``>= 1``).
      sample_size: draws per generation (one int for every stage: the regimes'
        buffers are laid out per generation).
      regime: the regime of every stage (default ``replace``); its state goes on
        across stages.
      dtype: ``"float32"`` or ``"float64"``.
      first_chain: global id of the first chain.
      chunk_size: generations per compiled scan (does not change any result).
      metrics: metrics to record; every stage's family must record them
        (default: the metrics all stages' families record).
      progress: ``progress(done, total)`` after each chunk, or None.

    Returns:
      A :class:`~collapse_jax.ChainResult` over all ``sum(generations)``
      generations (params not recorded; ``config["stages"]`` holds each stage's
      run description and ``config["stage_starts"]`` the generation each stage
      starts at).

    Raises:
      ValueError, TypeError: for invalid arguments, in the house message.
    """
    families, lengths = _check_stages(stages)
    names = _common_metrics(families, metrics)
    total = sum(lengths)
    records: list[tuple[dict, np.ndarray]] = []
    starts: list[int] = []
    descriptions: list[dict[str, Any]] = []
    done = 0
    prev_plan = prev_state = None
    for i, (fam, length) in enumerate(zip(families, lengths, strict=True)):
        spec = runspec.build(
            _FN,
            fam,
            _truth(fam, i),
            key=key,
            num_chains=num_chains,
            num_generations=done + length,
            sample_size=sample_size,
            regime=regime,
            dtype=dtype,
            first_chain=first_chain,
            chunk_size=chunk_size,
            metrics=names,
            record_params=False,
            runner=chain.execute,
        )
        plan = chain.prepare(spec)
        assert isinstance(plan, chain.Plan)
        descriptions.append(plan.description)
        starts.append(done + 1)
        if prev_plan is None:
            mets, _, status = plan.generation_zero()
            records.append((mets, status))
            state = plan.state
        else:
            assert prev_state is not None
            state = _switch(prev_state, plan, done, _FN)
            state, mets, status = _first_of_stage(
                plan, prev_plan.family, state, prev_state.params
            )
            records.append((mets, status))
            done += 1
            if progress is not None:
                progress(done, total)
        for now, new_state, (mets, _, status) in plan.chunks(state, done):
            state, done = new_state, now
            records.append((mets, status))
            if progress is not None:
                progress(done, total)
        prev_plan, prev_state = plan, state
    assert prev_plan is not None and prev_state is not None
    out_status = np.concatenate([s for _, s in records], axis=1)
    out_metrics = {
        m: mark_failed(np.concatenate([r[m] for r, _ in records], axis=1), out_status)
        for m in names
    }
    chain_ids = prev_plan.chain_ids[: prev_plan.total]
    warn_failures(
        failure_report(out_status, chain_ids),
        prev_plan.total,
        "res.failures()",
        stacklevel=2,
    )
    config = dict(descriptions[-1])
    config.update(
        family="+".join(f.name for f in families),
        stages=descriptions,
        stage_starts=starts,
        num_generations=total,
    )
    return ChainResult(
        None,
        out_metrics,
        out_status,
        chain_ids,
        jax.tree.map(lambda x: np.asarray(x)[: prev_plan.total], prev_state),
        config,
        None,
        None,
        {},
        chain._seed(key),
    )


def _truth(family: ModelFamily, index: int):
    if family.generation0 is None:
        fail(
            _FN,
            f"stages[{index}]",
            "a learned family with generation0() (e.g. cj.learned_family(...))",
            described(f"the {family.name} family, which has none"),
            "Run families of their own truth with cj.run_chains.",
            error=TypeError,
        )
    return family.generation0()


def _check_stages(stages) -> tuple[list[ModelFamily], list[int]]:
    if (
        isinstance(stages, str | bytes)
        or not isinstance(stages, Sequence)
        or len(stages) < 1
    ):
        fail(
            _FN,
            "stages",
            "a non-empty list of (family, generations) pairs",
            described(type(stages).__name__),
            "Pass e.g. [(small_net, 5), (large_net, 5)].",
            error=TypeError,
        )
    families, lengths = [], []
    for i, stage in enumerate(stages):
        if (
            not isinstance(stage, tuple | list)
            or len(stage) != 2
            or not isinstance(stage[0], ModelFamily)
        ):
            fail(
                _FN,
                f"stages[{i}]",
                "a (family, generations) pair",
                described(repr(stage)[:60]),
                "Pass e.g. (cj.learned_family(...), 5).",
                error=TypeError,
            )
        families.append(stage[0])
        lengths.append(check_positive_int(_FN, f"stages[{i}][1]", stage[1]))
        _truth(stage[0], i)
        if stage[0].event_shape != families[0].event_shape:
            fail(
                _FN,
                f"stages[{i}][0]",
                f"a family of data shaped {families[0].event_shape} (stage 0's)",
                described(f"event shape {stage[0].event_shape}"),
                "Every stage trains on the previous stage's draws: use one data "
                "shape throughout.",
            )
    return families, lengths


def _common_metrics(families, metrics) -> tuple[str, ...]:
    if metrics is None:
        return tuple(
            m
            for m in families[0].metric_names
            if all(m in f.metric_names for f in families)
        )
    names = tuple(metrics)
    for i, fam in enumerate(families):
        missing = [m for m in names if m not in fam.metric_names]
        if missing:
            fail(
                _FN,
                "metrics",
                f"metrics every stage records (stage {i}: {fam.metric_names})",
                missing,
                "Record metrics common to every stage's family.",
            )
    return names


def _switch(prev_state: ChainState, plan, done: int, fn: str) -> ChainState:
    """The new stage's initial state: its own truth as the model, the chains'
    clocks at ``done``, the regime's state carried over from the previous stage.

    A buffer laid out per generation (``accumulate``'s pool) is longer in the new
    stage's run (it spans all stages so far): the previous one fills its start.
    """

    def carry(new, old):
        new, old = np.asarray(new), np.asarray(old)
        if new.shape == old.shape:
            return old
        if new.shape[0] == old.shape[0] and new.shape[2:] == old.shape[2:]:
            if old.shape[1] <= new.shape[1]:
                out = np.array(new)
                out[:, : old.shape[1]] = old
                return out
        fail(
            fn,
            "regime",
            "a regime whose state carries over from one stage to the next",
            described(f"state shapes {old.shape} and {new.shape}"),
            "Use the same sample_size and data shape in every stage.",
        )

    regime_state = jax.tree.map(carry, plan.state.regime_state, prev_state.regime_state)
    t = jnp.full_like(plan.state.t, done)
    state = plan.state._replace(
        regime_state=regime_state, t=t, status=jnp.asarray(prev_state.status)
    )
    return plan.place(state)


def _first_of_stage(plan, source_family, state, source_params):
    """The new stage's first generation: its regime step, vmapped over chains,
    with the synthetic draws from each chain's previous-stage model.

    Returns:
      ``(state, metrics, status)``: the state after it (padded chain axis) and its
      records, host arrays with leading axes ``(chains kept, 1)``.
    """
    new_state, (mets, _, status) = _stage_step(
        plan.family,
        source_family,
        plan.static_regime,
        plan.config,
        state,
        plan.ckeys,
        jax.tree.map(jnp.asarray, source_params),
        plan.truth,
        plan.reference,
        plan.truth_view,
        plan.sched,
        plan.hyper,
    )
    head = functools.partial(chain._head, n=1, c=plan.total)
    mets = {m: head(np.asarray(mets[m])[:, None]) for m in plan.config.metrics}
    return new_state, mets, head(np.asarray(status)[:, None])


def _bridge(family: ModelFamily, source: ModelFamily, source_params) -> ModelFamily:
    """``family`` whose draws come from ``source_params`` (a model of ``source``):
    the regime's synthetic data are the previous stage's, its fits ``family``'s."""

    def sample(key, params, n):
        del params  # the new family's current model: not where the draws come from
        return source.sample(key, source_params, n)

    return family._replace(sample=sample, refit=_default_refit(sample, family.fit))


@functools.partial(
    jax.jit, static_argnames=("family", "source_family", "regime", "config")
)
def _stage_step(
    family,
    source_family,
    regime,
    config,
    state,
    chain_keys,
    source_params,
    truth,
    reference,
    truth_view,
    schedule,
    hyper,
):
    def one_chain(state, chain_key, source, hyper):
        gkeys = cjk.generation_keys(chain_key, state.t)
        m_t = schedule[jnp.minimum(state.t, config.num_generations - 1)]
        bridge = _bridge(family, source_family, source)
        new_state = _step(
            bridge,
            regime,
            config,
            state,
            gkeys,
            m_t,
            hyper,
            jnp.bool_(True),
            truth,
            family,
            reference,
        )
        return new_state, _record(
            family, regime, config, new_state, reference, truth_view
        )

    axes = (0, 0, 0, _hyper_axes(config, hyper))
    return jax.vmap(one_chain, in_axes=axes)(state, chain_keys, source_params, hyper)
