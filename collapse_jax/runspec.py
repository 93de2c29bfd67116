"""The run specification: one validated, frozen description of a run.

:func:`~collapse_jax.run_spec` (and :func:`~collapse_jax.run_chains`,
:func:`~collapse_jax.sweep`, :func:`~collapse_jax.decompose` and the experiment
runner, which all build one) checks the arguments of a run once and splits them by
construction into

* :class:`StaticSpec`: the structure (families, the regime, bias and curation with
  their numbers taken out, generations, sampler, dtype, chunking, metrics, chain
  count), hashable; equal structures reuse the same compiled programs;
* :class:`TracedSpec`: the numbers the compiled core takes as traced arguments (the
  truth, the sample-size schedule, the regime's, bias's and curation's settings
  such as a real-data fraction or a temperature, and any swept values), so new
  numbers never recompile.

:func:`collapse_jax.chain.prepare` turns a :class:`RunSpec` into a plan (initial
state, keys, frame) and :meth:`RunSpec.run` runs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import jax.numpy as jnp

from collapse_jax import derived
from collapse_jax.checks import fail
from collapse_jax.compiled import ChainConfig
from collapse_jax.curation import Curation, check_curation
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.regimes import Regime, replace
from collapse_jax.run_checks import (  # noqa: F401 - re-exported
    _FN,
    _MAX_CHAIN_ID,
    PUBLIC_SAMPLERS,
    _validate,
    check_devices,
    known_metrics,
)
from collapse_jax.sampling import SamplingBias, check_sampling
from collapse_jax.summaries import (
    DEFAULT_QUANTILES,
    Recording,
    SummaryResult,
    check_recording,
)

if TYPE_CHECKING:
    from collapse_jax.result import ChainResult

__all__ = ["ChainConfig", "RunSpec", "StaticSpec", "TracedSpec", "build"]

# ------------------------------------------------------------------- settings ---


def merged_hyper(fn, regime, sampling, curation):
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
    """A bias or curation with its numbers taken out (they travel in ``hyper``)."""
    return None if part is None else part._replace(hyper=(), checkers=(), describe=())


# ------------------------------------------------------------------ the spec ---


class StaticSpec(NamedTuple):
    """The structure of a run: hashable, and what the compiled programs depend on.

    Attributes:
      family: the fitted family.
      source: the truth's family (``family`` unless ``init_family`` differs).
      regime: the regime with its numbers, checks and description taken out.
      config: the :class:`ChainConfig` (its sampling bias and curation without
        their numbers).
      num_chains: chains per sweep point.
      first_chain: the global id of the first chain.
      devices: None, or the devices the chain axis is spread over.
    """

    family: ModelFamily
    source: ModelFamily
    regime: Regime
    config: ChainConfig
    num_chains: int
    first_chain: int
    # jax.Device objects: jax.Device is a runtime alias of an extension type (no
    # stub), which a type checker cannot use as an annotation.
    devices: tuple[Any, ...] | None


class TracedSpec(NamedTuple):
    """The numbers of a run: traced arguments of the compiled core.

    Attributes:
      init: the truth's params (in the truth's family, as given).
      schedule: ``(num_generations,)`` int32 sample sizes, or None for the
        population limit.
      hyper: ``{name: value}``: the regime's, sampling bias's and curation's
        settings (e.g. ``real_fraction``, ``temperature``), one flat dict.
      sweep: ``{name: (P,) + shape}`` swept values (empty unless :func:`sweep`).
    """

    init: Params
    schedule: np.ndarray | None
    hyper: Mapping[str, Any]
    sweep: Mapping[str, np.ndarray]


class Parts(NamedTuple):
    """The regime, sampling bias and curation as given, numbers included: their
    descriptions and checks, and a curation's rebuild in a translated frame."""

    regime: Regime
    sampling: SamplingBias | None
    curation: Curation | None


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A validated run, split into structure and numbers (build with :func:`run_spec`).

    :func:`~collapse_jax.run_chains`, :func:`~collapse_jax.sweep`,
    :func:`~collapse_jax.decompose` and the experiment runner each build one and
    hand it to the runner (:mod:`collapse_jax.chain`). Two specs with equal
    :attr:`static` parts run the same compiled programs whatever their
    :attr:`traced` numbers.

    Attributes:
      static: the structure (:class:`StaticSpec`).
      traced: the numbers (:class:`TracedSpec`).
      key: the seed or typed JAX key, as given.
      parts: the regime, bias and curation as given (:class:`Parts`).
      fn: the entry point whose name error messages use.
      recording: what the run records (thinning, summaries, first-passage
        times: :class:`~collapse_jax.summaries.Recording`).
    """

    static: StaticSpec
    traced: TracedSpec
    key: Any
    parts: Parts
    fn: str = "run_spec"
    # The runner (collapse_jax.chain.execute), handed in by the entry point that
    # builds the spec: this module imports nothing of the runner (no import circle).
    runner: Callable[[RunSpec, Any], ChainResult | SummaryResult] | None = (
        dataclasses.field(default=None, compare=False, repr=False)
    )
    recording: Recording = dataclasses.field(default_factory=Recording)

    @property
    def config(self) -> ChainConfig:
        """The static :class:`ChainConfig` (shortcut for ``static.config``)."""
        return self.static.config

    def run(
        self, progress: Callable[[int, int], None] | None = None
    ) -> ChainResult | SummaryResult:
        """Run it: the :class:`~collapse_jax.ChainResult` of :func:`run_chains`
        (a :class:`~collapse_jax.summaries.SummaryResult` with
        ``output="summaries"``).

        Args:
          progress: ``progress(done, total)`` after each chunk, or None.
        """
        if progress is not None and not callable(progress):
            fail(
                "RunSpec.run",
                "progress",
                "None or a callable (done, total)",
                progress,
                "Pass e.g. progress=lambda done, total: print(done, total).",
                error=TypeError,
            )
        if self.runner is None:
            fail(
                "RunSpec.run",
                "self",
                "a spec built by an entry point that runs it (cj.run_spec)",
                "a spec with no runner",
                "Build it with cj.run_spec(...), or pass it to "
                "collapse_jax.chain.execute.",
            )
        return self.runner(self, progress)

    def __repr__(self) -> str:
        s, t = self.static, self.traced
        size = (
            "None"
            if t.schedule is None
            else (
                str(int(t.schedule[0]))
                if len(set(t.schedule.tolist())) == 1
                else f"{int(t.schedule.min())}..{int(t.schedule.max())}"
            )
        )
        swept = f", sweep over {sorted(t.sweep)}" if t.sweep else ""
        return (
            f"RunSpec({s.family.name}, regime={s.regime.name}, "
            f"{s.num_chains} chains x {s.config.num_generations} generations, "
            f"sample_size={size}, sampler={s.config.sampler}, "
            f"dtype={s.config.dtype}{swept})"
        )


def build(
    fn: str,
    family,
    init,
    *,
    key,
    num_chains,
    num_generations,
    sample_size,
    regime=None,
    sampler="samples",
    dtype="float32",
    init_family=None,
    first_chain=0,
    chunk_size=None,
    progress=None,
    metrics=None,
    record_params=True,
    sampling=None,
    curation=None,
    sweep=None,
    devices=None,
    runner=None,
    record_every=None,
    record_at=None,
    output="records",
    quantiles=DEFAULT_QUANTILES,
    first_passage=None,
    extra_metrics=None,
) -> RunSpec:
    """:func:`~collapse_jax.run_spec` in the wording of entry point ``fn`` (shared
    by the runners); ``runner`` is what :meth:`RunSpec.run` calls.

    ``progress`` is only checked (it is not part of the spec). ``sweep``: None, or
    ``(names, values)`` with ``values[name]`` of leading size ``P``: the run then
    has ``P * num_chains`` chains, point-major, and chain ``c`` of every point uses
    chain id ``first_chain + c`` (common random numbers). ``record_every``,
    ``record_at``, ``output``, ``quantiles`` and ``first_passage``: what the run
    records (:mod:`collapse_jax.summaries`). ``extra_metrics``: derived metrics
    (:mod:`collapse_jax.derived`), appended to the family's.
    """
    regime = replace() if regime is None else regime
    family, init_family = derived.attach(
        fn, extra_metrics, family, init, init_family, regime
    )
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
        fn,
    )
    devices = check_devices(fn, devices)
    known, _, _ = known_metrics(family, source, regime)
    recording = check_recording(
        fn,
        config.num_generations,
        record_every,
        record_at,
        output,
        quantiles,
        first_passage,
        known,
    )
    config = dataclasses.replace(
        config,
        record_slots=recording.slots(config.chunk_size),
        passage=recording.passage,
        summarised=recording.output == "summaries",
        # Summaries are of metrics: no params travel to the host.
        record_params=config.record_params and recording.output == "records",
    )
    cross = source is not family
    sampling = check_sampling(fn, sampling, family, config.sampler, cross)
    check_curation(fn, curation, family, config.sampler, schedule, regime.name, sweep)
    hyper, _, _ = merged_hyper(fn, regime, sampling, curation)
    swept: dict[str, np.ndarray] = {}
    if sweep is not None:
        names, values = sweep
        swept = {n: values[n] for n in names}
        config = dataclasses.replace(config, swept=tuple(names))
    config = dataclasses.replace(
        config, sampling=_strip(sampling), curation=_strip(curation)
    )
    static_regime = regime._replace(hyper=(), checkers=(), describe=(), check=None)
    return RunSpec(
        StaticSpec(
            family, source, static_regime, config, num_chains, first_chain, devices
        ),
        TracedSpec(init, schedule, hyper, swept),
        key,
        Parts(regime, sampling, curation),
        fn,
        runner,
        recording,
    )
