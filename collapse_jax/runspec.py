"""The run specification: one validated, frozen description of a run.

:func:`run_spec` (and :func:`run_chains`, :func:`sweep` and the experiment runner,
which all build one) checks the arguments of a run once and splits them by
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
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax.checks import (
    check_choice,
    check_dtype,
    check_nonnegative_int,
    check_positive_int,
    described,
    fail,
)
from collapse_jax.compiled import DISTANCE_METRICS
from collapse_jax.curation import Curation, check_curation
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.regimes import Regime, replace
from collapse_jax.sampling import SamplingBias, check_sampling

if TYPE_CHECKING:
    from collapse_jax.result import ChainResult

__all__ = ["ChainConfig", "RunSpec", "StaticSpec", "TracedSpec", "run_spec"]

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


# ------------------------------------------------------------------- validation ---


def _check_sample_size(
    family: ModelFamily, sample_size, num_generations, sampler, fn: str = _FN
):
    minimum = family.min_sample_size
    reason = family.min_sample_size_reason
    if sample_size is None:
        if family.fit_population is None:  # (cross-family: fit_population_from)
            fail(
                fn,
                "sample_size",
                "a finite size for this family",
                None,
                f"The population limit (sample_size=None) is not yet supported for "
                f"{family.name!r}; pass an int >= {minimum}.",
            )
        if sampler == "sufficient":
            fail(
                fn,
                "sampler",
                "'samples' with sample_size=None",
                sampler,
                "The population limit draws nothing; leave sampler at its default.",
            )
        return None, 0
    if isinstance(sample_size, bool):
        fail(
            fn,
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
                fn,
                "sample_size",
                "an integer",
                sample_size,
                "Pass a whole number of samples, e.g. sample_size=100.",
            )
        sample_size = int(sample_size)
    if isinstance(sample_size, numbers.Integral):
        if sample_size < minimum:
            fail(
                fn,
                "sample_size",
                f">= {minimum} {reason}",
                int(sample_size),
                f"Pass >= {minimum}, or None for the population limit.",
            )
        if sample_size > _MAX_CHAIN_ID:
            fail(
                fn,
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
            fn,
            "sample_size",
            "an int, a 1-D integer schedule, or None",
            sample_size,
            "Pass e.g. sample_size=100 or sample_size=[10, 40, 90, ...].",
            error=TypeError,
        )
    if sched.shape[0] != num_generations:
        fail(
            fn,
            "sample_size",
            f"a schedule of length num_generations={num_generations}",
            described(f"length {sched.shape[0]}"),
            "Give one sample size per generation (M_0 .. M_{N-1}).",
        )
    if not np.all(np.isfinite(sched)) or not np.all(sched == np.round(sched)):
        fail(
            fn,
            "sample_size",
            "a schedule of integers",
            sched.tolist(),
            "Round the schedule to integers, e.g. np.round(s).astype(int).",
        )
    if np.any(sched < minimum):
        bad = int(np.argmax(sched < minimum))
        fail(
            fn,
            "sample_size",
            f"a schedule with every entry >= {minimum} {reason}",
            described(f"{sched[bad].item()} at generation {bad}"),
            f"Raise every entry to >= {minimum}.",
        )
    if np.any(sched > _MAX_CHAIN_ID):
        fail(
            fn,
            "sample_size",
            "a schedule with entries < 2**31",
            sched.max().item(),
            "Use smaller sizes, or sampler='sufficient'.",
        )
    sched = sched.astype(np.int32)
    return sched, int(sched.max())


def _check_representable(init, dtype, fn: str = _FN) -> None:
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
                fn,
                f"init{where}",
                "representable in float32 (|x| <= 3.4e38)",
                described(f"values up to {np.max(np.abs(x[np.isfinite(x)])):.3g}"),
                "Rescale the problem, or run with dtype='float64' (x64 enabled).",
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
    fn: str = _FN,
):
    if not isinstance(family, ModelFamily):
        fail(
            fn,
            "family",
            "a model family such as cj.gaussian() or cj.categorical(K)",
            type(family).__name__,
            "Build one with a family factory.",
            error=TypeError,
        )
    if init_family is not None and not isinstance(init_family, ModelFamily):
        fail(
            fn,
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
                fn,
                "init_family",
                f"None: the {family.name} family fits models of its own family only",
                init_family.name,
                "Pass init in the fitted family, or fit a family that accepts this "
                "truth (e.g. cj.gaussian() for a cj.gmm() truth).",
            )
        family.check_source(fn, "init_family", init_family)
        init_family.validate_params(fn, "init", init)
        if sampler == "sufficient":
            fail(
                fn,
                "sampler",
                "'samples' when init_family differs from family",
                sampler,
                "The first fit draws from the truth of another family; use "
                "sampler='samples'.",
            )
    else:
        family.validate_params(fn, "init", init)
    num_chains = check_positive_int(fn, "num_chains", num_chains)
    num_generations = check_positive_int(fn, "num_generations", num_generations)
    first_chain = check_nonnegative_int(fn, "first_chain", first_chain)
    if first_chain + num_chains - 1 > _MAX_CHAIN_ID:
        fail(
            fn,
            "first_chain + num_chains",
            f"<= {_MAX_CHAIN_ID + 1}",
            first_chain + num_chains,
            "Chain ids are int32; use smaller ids.",
        )
    if not isinstance(regime, Regime):
        fail(
            fn,
            "regime",
            "a regime such as cj.replace()",
            type(regime).__name__,
            "Pass regime=cj.replace().",
            error=TypeError,
        )
    sampler = check_choice(fn, "sampler", sampler, PUBLIC_SAMPLERS)
    if sampler == "sufficient" and family.sample_fit is None:
        fail(
            fn,
            "sampler",
            f"'samples' for the {family.name} family",
            sampler,
            "This family has no exact sufficient-statistic draw; use 'samples'.",
        )
    dtype = check_dtype(fn, dtype)
    _check_representable(init, dtype, fn)
    schedule, n_max = _check_sample_size(
        family, sample_size, num_generations, sampler, fn
    )
    effective = "population" if schedule is None else sampler
    if effective not in regime.samplers:
        fail(
            fn,
            "sampler",
            f"one of {regime.samplers} for regime {regime.name!r}",
            effective,
            "Choose a sampler the regime supports.",
        )
    if chunk_size is None:
        chunk_size = min(num_generations, 1000)
    chunk_size = check_positive_int(fn, "chunk_size", chunk_size)
    chunk_size = min(chunk_size, num_generations)
    if progress is not None and not callable(progress):
        fail(
            fn,
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
            fn,
            "metrics",
            f"a sequence of distinct names from {known}",
            metrics,
            "Pass None for the default metrics, or a list of known names.",
        )
    if not isinstance(record_params, bool):
        fail(
            fn,
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


def check_devices(fn, devices):
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
    devices: tuple[jax.Device, ...] | None


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
    """

    static: StaticSpec
    traced: TracedSpec
    key: Any
    parts: Parts
    fn: str = "run_spec"

    @property
    def config(self) -> ChainConfig:
        """The static :class:`ChainConfig` (shortcut for ``static.config``)."""
        return self.static.config

    def run(self, progress: Callable[[int, int], None] | None = None) -> ChainResult:
        """Run it: the :class:`~collapse_jax.ChainResult` of :func:`run_chains`.

        Args:
          progress: ``progress(done, total)`` after each chunk, or None.
        """
        from collapse_jax import chain  # the runner builds specs: imported late

        if progress is not None and not callable(progress):
            fail(
                "RunSpec.run",
                "progress",
                "None or a callable (done, total)",
                progress,
                "Pass e.g. progress=lambda done, total: print(done, total).",
                error=TypeError,
            )
        return chain.execute(self, progress)

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
    devices: int | Sequence[jax.Device] | None = None,
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
    return build(
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
) -> RunSpec:
    """:func:`run_spec` in the wording of entry point ``fn`` (shared by the runners).

    ``progress`` is only checked (it is not part of the spec). ``sweep``: None, or
    ``(names, values)`` with ``values[name]`` of leading size ``P``: the run then
    has ``P * num_chains`` chains, point-major, and chain ``c`` of every point uses
    chain id ``first_chain + c`` (common random numbers).
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
        fn,
    )
    devices = check_devices(fn, devices)
    cross = source is not family
    check_sampling(fn, sampling, family, config.sampler, cross)
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
    )
