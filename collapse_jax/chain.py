"""The chain engine: ``lax.scan`` over generations, ``vmap`` over chains.

One chain is a pure function of (seed, chain id, configuration, dtype). The host runs
a loop over chunks of generations, one jitted scan per chunk with the carry passed
back in, so long runs report progress and a chunked run gives the same bits as one
scan (tests/test_keys.py).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import frame as _frame
from collapse_jax import keys as cjk
from collapse_jax import memory
from collapse_jax.checks import (
    check_choice,
    check_dtype,
    check_nonnegative_int,
    check_positive_int,
    described,
    fail,
)
from collapse_jax.curation import Curation, check_curation
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.regimes import Regime, StepContext, replace
from collapse_jax.sampling import SamplingBias, check_sampling
from collapse_jax.status import (
    ChainFailure,
    failure_report,
    mark_failed,
    warn_failures,
)

__all__ = ["ChainConfig", "ChainState", "ChainResult", "run_chains"]

_FN = "run_chains"
_MAX_CHAIN_ID = 2**31 - 1
CHAIN_PAD = 8  # the chain axis is padded to a multiple of this (see run_chains)
PUBLIC_SAMPLERS = ("samples", "sufficient")


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


class ChainState(NamedTuple):
    """The scan carry of one chain (batched over chains at the runner)."""

    params: Params  # the current model
    regime_state: Any  # the regime's own state (e.g. past data); () for replace
    t: jax.Array  # int32 (), generations done (index of the current model)
    status: jax.Array  # int32 (), a Status code; non-zero freezes the chain


@dataclasses.dataclass
class ChainResult:
    """What :func:`run_chains` returns (host NumPy arrays).

    A chain that fails inside the run (a non-finite or degenerate fit) freezes at
    its last good model and its status turns non-zero from that generation on;
    :func:`run_chains` then warns once (:class:`~collapse_jax.FailedChainsWarning`).

    Attributes:
      params: the family's params pytree, leading axes
        ``(num_chains, num_generations + 1)``; ``None`` if ``record_params=False``.
        A failed chain's params stay those of its last good model (the frozen
        state), so it can be inspected.
      metrics: ``{name: array}``, leading axes ``(num_chains, num_generations + 1)``.
        Float metrics are NaN (missing) where ``status != 0``, i.e. from the
        generation a chain failed at; integer and bool metrics (counts, support
        sizes, alarms) cannot hold NaN and keep the frozen chain's values there:
        mask them with :attr:`valid`.
      status: ``(num_chains, num_generations + 1) int32`` status codes.
      chain_ids: ``(num_chains,)`` global chain ids.
      final_state: the batched :class:`ChainState` after the last generation.
      config: a JSON-serialisable description of the run.
      reference: the model of the fitted family that generation 0 stands for, and
        that the family's metrics compare with: the truth itself when it is a valid
        model of the fitted family (e.g. a categorical truth of a ``max_support``
        family), else its population best fit in the fitted family (its
        projection, e.g. the moment-matched Gaussian of a mixture).
        ``params[:, 0]`` is this reference.
      origin: None, or the float64 point the run was translated by. A truth far
        enough from the origin that the dtype would round its steps there (its
        spacing above 1/1024 of one generation's step) is run in a frame where
        it sits near 0, so the chain keeps the dtype's resolution wherever the
        truth is (collapse_jax.frame, docs/precision.md). Location metrics (``mean``,
        ``means``, regression ``weights`` and ``weight_norm_sq``) and location
        params are then returned as ``origin +`` the frame's value, added on the
        host in **float64** (whatever the run's dtype); everything
        translation-invariant (variances, distances, test errors) is the
        frame's value in the run's dtype. ``final_state.params`` are absolute
        too, rounded to the run's dtype (so a downstream fit can start from
        them); its ``regime_state`` (e.g. buffers of past draws) is the frame's.
      relative: ``{name: array}``, the location metrics as the chain computed
        them in the frame (relative to ``origin``, in the run's dtype); empty
        when ``origin`` is None. Where ``origin`` dwarfs the chain's moves
        (float64 resolves ``1e30 + 0.01`` as ``1e30``), ``relative`` still holds
        them exactly: ``relative["mean"][:, n] - relative["mean"][:, 0]`` is
        ``mu_n - mu_0`` as computed.
    """

    params: Params | None
    metrics: dict[str, np.ndarray]
    status: np.ndarray
    chain_ids: np.ndarray
    final_state: ChainState
    config: dict[str, Any]
    reference: Params | None = None
    origin: np.ndarray | None = None
    relative: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def failures(self) -> list[ChainFailure]:
        """The chains whose status turned non-zero: id, generation and reason."""
        return failure_report(self.status, self.chain_ids)

    @property
    def ok(self) -> bool:
        """True when no chain failed."""
        return not bool(np.any(self.status))

    @property
    def valid(self) -> np.ndarray:
        """``(num_chains, num_generations + 1)`` bool: True where the record is a
        result (status 0), False from the generation a chain failed at."""
        return np.asarray(self.status) == 0

    def __repr__(self) -> str:
        c, n1 = np.shape(self.status)
        mets = ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in self.metrics.items())
        cfg = self.config
        keys = ("family", "regime", "sample_size", "sampler", "dtype")
        parts = []
        for k in keys:
            v = cfg.get(k)
            if k == "sample_size" and isinstance(v, list):
                v = v[0] if len(set(v)) == 1 else f"{min(v)}..{max(v)}"
            if v is not None:
                parts.append(f"{k}={v}")
        failed = int(np.any(self.status != 0, axis=1).sum())
        params = "recorded" if self.params is not None else "not recorded"
        return (
            f"ChainResult({c} chains x {n1 - 1} generations, {', '.join(parts)}; "
            f"metrics: {mets}; params {params}; "
            f"{failed} failed chain{'s' if failed != 1 else ''}"
            + (" (see .failures())" if failed else "")
            + (
                ""
                if self.origin is None
                else "; run in a frame at the truth: locations float64, see .relative"
            )
            + ")"
        )


# ------------------------------------------------------------------ compiled core ---

# Distances to the truth computed from family-independent views (collapse_jax.metrics),
# so runs of different families (the expressivity switch) share a yardstick.
DISTANCE_METRICS = {
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
):
    """Advance every chain to generation ``t_stop`` (traced; later steps are masked).

    The scan has ``max(chunk_size, 2)`` steps: XLA inlines a one-step loop and fuses
    it differently, which would change the bits of a chunk-size-1 run.
    """
    num_gen = config.num_generations

    def one_chain(state, chain_key, hyper):
        def body(state, _):
            t = state.t
            gkeys = cjk.generation_keys(chain_key, t)
            m_t = schedule[jnp.minimum(t, num_gen - 1)]
            new_state = _step(
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
            return new_state, _record(
                family, regime, config, new_state, reference, truth_view
            )

        return jax.lax.scan(body, state, None, length=max(config.chunk_size, 2))

    axes = (0, 0, _hyper_axes(config, hyper))
    return jax.vmap(one_chain, in_axes=axes)(state, chain_keys, hyper)


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
):
    """Generation 1 of a cross-family run: fit ``family`` to the truth's draws.

    Its params type can differ from the truth's, so it runs before the scan, whose
    carry holds models of ``family`` only. Keys are those of ``t = 0``, as in a
    same-family run.
    """

    def one_chain(state, chain_key, hyper):
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
        return new_state, _record(
            family, regime, config, new_state, reference, truth_view
        )

    axes = (0, 0, _hyper_axes(config, hyper))
    return jax.vmap(one_chain, in_axes=axes)(state, chain_keys, hyper)


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


# ------------------------------------------------------------------- validation ---


def _check_sample_size(family: ModelFamily, sample_size, num_generations, sampler):
    minimum = family.min_sample_size
    reason = family.min_sample_size_reason
    if sample_size is None:
        if family.fit_population is None:  # (cross-family: fit_population_from)
            fail(
                _FN,
                "sample_size",
                "a finite size for this family",
                None,
                f"The population limit (sample_size=None) is not yet supported for "
                f"{family.name!r}; pass an int >= {minimum}.",
            )
        if sampler == "sufficient":
            fail(
                _FN,
                "sampler",
                "'samples' with sample_size=None",
                sampler,
                "The population limit draws nothing; leave sampler at its default.",
            )
        return None, 0
    if isinstance(sample_size, bool):
        fail(
            _FN,
            "sample_size",
            "an int, a 1-D schedule or None",
            sample_size,
            "Pass e.g. sample_size=100.",
            error=TypeError,
        )
    if isinstance(sample_size, np.ndarray | jax.Array) and np.ndim(sample_size) == 0:
        sample_size = np.asarray(sample_size).item()  # a 0-d array is a scalar
    if isinstance(sample_size, numbers.Real) and not isinstance(
        sample_size, numbers.Integral
    ):
        if not (math.isfinite(sample_size) and sample_size == round(sample_size)):
            fail(
                _FN,
                "sample_size",
                "an integer",
                sample_size,
                "Pass a whole number of samples, e.g. sample_size=100.",
            )
        sample_size = int(sample_size)
    if isinstance(sample_size, numbers.Integral):
        if sample_size < minimum:
            fail(
                _FN,
                "sample_size",
                f">= {minimum} {reason}",
                int(sample_size),
                f"Pass >= {minimum}, or None for the population limit.",
            )
        if sample_size > _MAX_CHAIN_ID:
            fail(
                _FN,
                "sample_size",
                "< 2**31",
                int(sample_size),
                "Use the population limit (None) for effectively infinite samples.",
            )
        # A read-only view, not N ints: num_generations is checked against memory
        # (collapse_jax.memory) only after this.
        size = np.broadcast_to(np.int32(sample_size), (num_generations,))
        return size, int(sample_size)
    try:
        sched = np.asarray(sample_size)
    except Exception:  # noqa: BLE001 - anything not array-like gets the message
        sched = None
    if (
        sched is None
        or sched.dtype == object
        or sched.ndim != 1
        or not (np.issubdtype(sched.dtype, np.number))
    ):
        fail(
            _FN,
            "sample_size",
            "an int, a 1-D integer schedule, or None",
            sample_size,
            "Pass e.g. sample_size=100 or sample_size=[10, 40, 90, ...].",
            error=TypeError,
        )
    if sched.shape[0] != num_generations:
        fail(
            _FN,
            "sample_size",
            f"a schedule of length num_generations={num_generations}",
            described(f"length {sched.shape[0]}"),
            "Give one sample size per generation (M_0 .. M_{N-1}).",
        )
    if not np.all(np.isfinite(sched)) or not np.all(sched == np.round(sched)):
        fail(
            _FN,
            "sample_size",
            "a schedule of integers",
            sched.tolist(),
            "Round the schedule to integers, e.g. np.round(s).astype(int).",
        )
    if np.any(sched < minimum):
        bad = int(np.argmax(sched < minimum))
        fail(
            _FN,
            "sample_size",
            f"a schedule with every entry >= {minimum} {reason}",
            described(f"{sched[bad].item()} at generation {bad}"),
            f"Raise every entry to >= {minimum}.",
        )
    if np.any(sched > _MAX_CHAIN_ID):
        fail(
            _FN,
            "sample_size",
            "a schedule with entries < 2**31",
            sched.max().item(),
            "Use smaller sizes, or sampler='sufficient'.",
        )
    sched = sched.astype(np.int32)
    return sched, int(sched.max())


def _check_representable(init, dtype) -> None:
    """The truth must be finite in the run's dtype, not only in float64."""
    if dtype != "float32":
        return
    limit = float(np.finfo(np.float32).max)
    for path, leaf in jax.tree_util.tree_leaves_with_path(init):
        x = np.asarray(leaf)
        # -inf is a legitimate value (a dead mixture component has log weight
        # -inf); only finite values beyond the float32 range are refused.
        too_big = np.isfinite(x) & (np.abs(x) > limit)
        if np.issubdtype(x.dtype, np.floating) and np.any(too_big):
            where = jax.tree_util.keystr(path)
            fail(
                _FN,
                f"init{where}",
                "representable in float32 (|x| <= 3.4e38)",
                described(f"values up to {np.max(np.abs(x[np.isfinite(x)])):.3g}"),
                "Rescale the problem, or run with dtype='float64' (x64 enabled).",
            )


def _check_numbers(fn, family, reference, schedule, config) -> None:
    """Numbers the run's dtype cannot carry (docs/precision.md): the family's own
    limits (``check_run``, e.g. a Poisson count past 2**31) and the resolution of
    the truth's locations as the chain carries them (after any translation)."""
    host = jax.tree.map(np.asarray, reference)
    if family.check_run is not None:
        family.check_run(
            fn,
            "init",
            host,
            schedule,
            config.num_generations,
            config.sampler,
            config.dtype,
        )
    _frame.check_resolution(fn, family, host, config.n_max, config.dtype)


def _check_truth_metrics(first, dtype) -> None:
    """The truth's own metrics must be finite: else its scale overflows the dtype."""
    for name, value in first.items():
        v = np.asarray(value)
        if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
            fail(
                _FN,
                "init",
                f"a model whose metrics are finite in {dtype}",
                described(f"metric {name!r} = {v.tolist()} at generation 0"),
                "Rescale the problem (its natural scale overflows this dtype), or "
                "run with dtype='float64' (x64 enabled).",
            )


def _validate(
    family,
    init,
    num_chains,
    num_generations,
    sample_size,
    regime,
    sampler,
    dtype,
    init_family,
    first_chain,
    chunk_size,
    progress,
    metrics,
    record_params,
):
    if not isinstance(family, ModelFamily):
        fail(
            _FN,
            "family",
            "a model family such as cj.gaussian() or cj.categorical(K)",
            type(family).__name__,
            "Build one with a family factory.",
            error=TypeError,
        )
    if init_family is not None and not isinstance(init_family, ModelFamily):
        fail(
            _FN,
            "init_family",
            "None or a model family",
            type(init_family).__name__,
            "Pass None when init belongs to `family`.",
            error=TypeError,
        )
    cross = init_family is not None and init_family is not family
    if cross:
        if family.check_source is None or family.fit_population_from is None:
            fail(
                _FN,
                "init_family",
                f"None: the {family.name} family fits models of its own family only",
                init_family.name,
                "Pass init in the fitted family, or fit a family that accepts this "
                "truth (e.g. cj.gaussian() for a cj.gmm() truth).",
            )
        family.check_source(_FN, "init_family", init_family)
        init_family.validate_params(_FN, "init", init)
        if sampler == "sufficient":
            fail(
                _FN,
                "sampler",
                "'samples' when init_family differs from family",
                sampler,
                "The first fit draws from the truth of another family; use "
                "sampler='samples'.",
            )
    else:
        family.validate_params(_FN, "init", init)
    num_chains = check_positive_int(_FN, "num_chains", num_chains)
    num_generations = check_positive_int(_FN, "num_generations", num_generations)
    first_chain = check_nonnegative_int(_FN, "first_chain", first_chain)
    if first_chain + num_chains - 1 > _MAX_CHAIN_ID:
        fail(
            _FN,
            "first_chain + num_chains",
            f"<= {_MAX_CHAIN_ID + 1}",
            first_chain + num_chains,
            "Chain ids are int32; use smaller ids.",
        )
    if not isinstance(regime, Regime):
        fail(
            _FN,
            "regime",
            "a regime such as cj.replace()",
            type(regime).__name__,
            "Pass regime=cj.replace().",
            error=TypeError,
        )
    sampler = check_choice(_FN, "sampler", sampler, PUBLIC_SAMPLERS)
    if sampler == "sufficient" and family.sample_fit is None:
        fail(
            _FN,
            "sampler",
            f"'samples' for the {family.name} family",
            sampler,
            "This family has no exact sufficient-statistic draw; use 'samples'.",
        )
    dtype = check_dtype(_FN, dtype)
    _check_representable(init, dtype)
    schedule, n_max = _check_sample_size(family, sample_size, num_generations, sampler)
    effective = "population" if schedule is None else sampler
    if effective not in regime.samplers:
        fail(
            _FN,
            "sampler",
            f"one of {regime.samplers} for regime {regime.name!r}",
            effective,
            "Choose a sampler the regime supports.",
        )
    if chunk_size is None:
        chunk_size = min(num_generations, 1000)
    chunk_size = check_positive_int(_FN, "chunk_size", chunk_size)
    chunk_size = min(chunk_size, num_generations)
    if progress is not None and not callable(progress):
        fail(
            _FN,
            "progress",
            "None or a callable (done, total)",
            progress,
            "Pass e.g. progress=lambda done, total: print(done, total).",
            error=TypeError,
        )
    source = init_family if cross else family
    distance_names = ()
    if family.view_kind is not None and family.view_kind == source.view_kind:
        distance_names = DISTANCE_METRICS[family.view_kind]
    observed = tuple(regime.observed) if isinstance(regime, Regime) else ()
    known = family.metric_names + distance_names + observed
    if metrics is None:
        metrics = family.metric_names + (distance_names if cross else ()) + observed
    elif (
        isinstance(metrics, str)
        or not all(isinstance(m, str) and m in known for m in metrics)
        or len(set(metrics)) != len(metrics)
    ):
        fail(
            _FN,
            "metrics",
            f"a sequence of distinct names from {known}",
            metrics,
            "Pass None for the default metrics, or a list of known names.",
        )
    if not isinstance(record_params, bool):
        fail(
            _FN,
            "record_params",
            "a bool",
            record_params,
            "Pass True or False.",
            error=TypeError,
        )
    config = ChainConfig(
        num_generations,
        n_max,
        effective,
        dtype,
        chunk_size,
        record_params,
        tuple(metrics),
        tuple(m for m in metrics if m in distance_names),
        observed=tuple(m for m in metrics if m in observed),
    )
    return config, schedule, num_chains, first_chain, source


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
    devices: int | Sequence[jax.Device] | None = None,
) -> ChainResult:
    """Run ``num_chains`` independent generation chains of ``family``.

    Generation 0 is ``init`` (the truth); generation ``n`` is the model after ``n``
    fits, each fitted to ``sample_size`` draws from the previous model.

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
    return _execute(
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
    )


def _merged_hyper(fn, regime, sampling, curation):
    """One flat dict of the traced numbers of the regime, bias and curation."""
    out: dict[str, Any] = {}
    checkers: dict[str, Any] = {}
    sweepable: list[str] = []
    parts = [("regime", regime)]
    parts += [("sampling", sampling), ("curation", curation)]
    for arg, part in parts:
        if part is None:
            continue
        hyper = dict(part.hyper) if part.hyper else {}
        clash = sorted(set(hyper) & set(out))
        if clash:
            fail(
                fn,
                arg,
                "settings whose names differ from the other parts'",
                clash,
                "Report this: built-in parts use distinct names.",
            )
        out.update(hyper)
        checkers.update(dict(part.checkers) if part.checkers else {})
        names = part.sweepable if arg == "regime" else tuple(hyper)
        sweepable += [n for n in names if n in hyper]
    return out, checkers, tuple(sweepable)


def _cast_hyper(hyper, jdtype):
    def cast(v):
        arr = np.asarray(v)
        if np.issubdtype(arr.dtype, np.floating):
            return jnp.asarray(arr, jdtype)
        if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
            return jnp.asarray(arr, jnp.int32)
        return jnp.asarray(arr)

    return {k: cast(v) for k, v in hyper.items()}


def _strip(part):
    return None if part is None else part._replace(hyper=(), checkers=(), describe=())


@dataclasses.dataclass
class _Plan:
    """Everything a run needs between chunks (built once by :func:`_prepare`)."""

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
        while done < config.num_generations:
            valid = min(config.chunk_size, config.num_generations - done)
            state, (mets, params, status) = advance(
                state, _run_chunk, jnp.int32(done + valid)
            )
            done += valid
            yield done, state, cut(mets, params, status, valid)


def _execute(fn, family, init, *, progress, **kwargs):
    """The runner behind run_chains and sweep (see :func:`_prepare` for kwargs)."""
    plan = _prepare(fn, family, init, progress=progress, **kwargs)
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
    # user -> run_chains / sweep -> _execute -> warn_failures
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
    )


def _prepare(
    fn,
    family,
    init,
    *,
    key,
    num_chains,
    num_generations,
    sample_size,
    regime,
    sampler,
    dtype,
    init_family,
    first_chain,
    chunk_size,
    progress,
    metrics,
    record_params,
    sampling,
    curation,
    sweep=None,
    devices=None,
    keep=None,
    estimate_only=False,
) -> _Plan | Callable[[int], memory.Estimate]:
    """Validate a run and build its :class:`_Plan` (initial state, keys, records).

    ``sweep``: None, or ``(names, values)`` with ``values[name]`` of leading size
    ``P``: the run then has ``P * num_chains`` chains, point-major, and chain ``c``
    of every point uses chain id ``first_chain + c`` (common random numbers).
    ``devices``: None, or a sequence of devices to spread the chains over.
    ``keep``: how the caller keeps the records (:class:`collapse_jax.memory.Keep`),
    for the memory check; None: as :func:`run_chains` does.
    ``estimate_only``: validate, then return the run's memory estimate
    (``estimate(num_chains) -> Estimate``, :func:`collapse_jax.memory.estimator`)
    instead of checking it and building the plan: nothing chain-sized is made.
    """
    regime = replace() if regime is None else regime
    config, schedule, num_chains, first_chain, source = _validate(
        family,
        init,
        num_chains,
        num_generations,
        sample_size,
        regime,
        sampler,
        dtype,
        init_family,
        first_chain,
        chunk_size,
        progress,
        metrics,
        record_params,
    )
    devices = _check_devices(fn, devices)
    cross = source is not family
    check_sampling(fn, sampling, family, config.sampler, cross)
    check_curation(fn, curation, family, config.sampler, schedule, regime.name, sweep)
    hyper, _, _ = _merged_hyper(fn, regime, sampling, curation)
    described_curation = curation
    recorded = config.metrics
    # A truth far from the origin runs in a translated frame (collapse_jax.frame):
    # from here on, the truth, the families and user data are in that frame.
    frame = _frame.plan(family, source, init, config.n_max, config.dtype)
    if frame is not None:
        family, source, init = frame.family, frame.source, frame.init
        config = dataclasses.replace(config, metrics=frame.computed(recorded))
        hyper = _frame.move_hyper(frame, regime, hyper)
        curation = _frame.curation_in_frame(frame, curation)
    points = 1
    if sweep is not None:
        names, values = sweep
        points = int(np.shape(values[names[0]])[0])
        config = dataclasses.replace(config, swept=tuple(names))
    config = dataclasses.replace(
        config, sampling=_strip(sampling), curation=_strip(curation)
    )
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
    static_regime = regime._replace(hyper=(), checkers=(), describe=(), check=None)

    first = _generation_zero(family, source, config, reference, truth)
    _check_truth_metrics(first, config.dtype)
    rec_metrics = {
        m: np.broadcast_to(np.asarray(v)[None, None], (total, 1) + np.shape(v))
        for m, v in first.items()
    }
    if config.observed:  # the regime's records at generation 0: its initial state
        seen = jax.jit(jax.vmap(regime.observe))(regime_state)
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
        if curation is None
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
    return _Plan(
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


def _check_devices(fn, devices):
    """None, or a tuple of distinct devices (an int ``k``: the first ``k``)."""
    if devices is None:
        return None
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool):
        available = jax.devices()
        if not 1 <= devices <= len(available):
            fail(
                fn,
                "devices",
                f"an int in [1, {len(available)}] (the devices JAX sees) or a list "
                "of devices",
                devices,
                "Ask for at most jax.device_count() devices, or None for one.",
            )
        return tuple(available[: int(devices)])
    if isinstance(devices, str) or not isinstance(devices, Sequence) or not devices:
        fail(
            fn,
            "devices",
            "None, an int or a non-empty sequence of jax devices",
            devices,
            "Pass e.g. devices=jax.devices() or devices=4.",
            error=TypeError,
        )
    if not all(isinstance(d, jax.Device) for d in devices) or len(set(devices)) != len(
        devices
    ):
        fail(
            fn,
            "devices",
            "distinct jax.Device objects",
            devices,
            "Pass e.g. devices=jax.devices()[:2].",
            error=TypeError,
        )
    return tuple(devices)


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


def _check_population_regime(fn, regime, family, cross) -> None:
    """Mixing regimes in the population limit mix models of the fitted family."""
    if family.fit_population_mixture is None:
        fail(
            fn,
            "sample_size",
            f"a finite size for regime {regime.name!r} with the {family.name} family",
            None,
            "The population limit of a mixing regime needs the population fit to a "
            "mixture of models (Gaussian, categorical); pass a finite sample_size.",
        )
    if cross:
        fail(
            fn,
            "init_family",
            f"None for regime {regime.name!r} in the population limit",
            "another family",
            "Mix models of one family: pass init in the fitted family, or a finite "
            "sample_size.",
        )


def _block_size(regime, devices) -> int | None:
    """Chains per compiled call: the regime's CPU limit, or None (all at once).

    Chains run in blocks when the regime asks for it on this backend (a chain's
    bits do not depend on its batch, so blocking changes no result).
    """
    block = regime.cpu_batch_limit if jax.default_backend() == "cpu" else None
    if block is not None and devices is not None:
        block = None if len(devices) > 1 else block
    return block


def data_spec_n(spec, n):
    """The ``ShapeDtypeStruct`` of ``n`` draws, from that of one or more."""
    return jax.ShapeDtypeStruct((n,) + spec.shape[1:], spec.dtype)


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


def _is_model_of(family: ModelFamily, params) -> bool:
    """Whether ``params`` are valid params of ``family`` (type and shapes)."""
    try:
        family.validate_params(_FN, "init", params)
    except (TypeError, ValueError):
        return False
    return True


def _check_reference(reference, family, dtype) -> None:
    """The projection of the truth into the fitted family must be a valid model."""
    code = int(jax.jit(family.status)(reference))
    if code != 0:
        fail(
            _FN,
            "init",
            f"a truth whose best fit in the {family.name} family is a valid model",
            described(f"a projection with status code {code} in {dtype}"),
            "The truth is degenerate for this family (e.g. a point mass fitted by a "
            "Gaussian); pass a truth with spread.",
        )
