"""Checks of a run's arguments and of its truth, in the house wording.

:func:`_validate` checks the arguments of :func:`~collapse_jax.run_chains` (and of
every entry point that builds a :class:`~collapse_jax.runspec.RunSpec`) before
anything is built; the checks of the truth against the run's dtype and the fitted
family (:func:`_check_numbers`, :func:`_check_reference`, ...) run while the runner
prepares a run (:func:`collapse_jax.chain.prepare`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

import jax

from collapse_jax import frame as _frame
from collapse_jax import keys as cjk
from collapse_jax.checks import (
    check_choice,
    check_dtype,
    check_nonnegative_int,
    check_positive_int,
    described,
    fail,
)
from collapse_jax.compiled import DISTANCE_METRICS, ChainConfig
from collapse_jax.families.base import ModelFamily, check_is_family
from collapse_jax.regimes import Regime
from collapse_jax.regimes._shares import misplaced_detector_fix, unsupported_sampler

__all__ = ["check_devices", "known_metrics"]

_FN = "run_chains"
_MAX_CHAIN_ID = 2**31 - 1
PUBLIC_SAMPLERS = ("samples", "sufficient")


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
        sample_size = math.trunc(sample_size)  # int(): a whole number here
    if isinstance(sample_size, numbers.Integral):
        if sample_size < minimum:
            fail(
                fn,
                "sample_size",
                f">= {minimum} {reason}",
                int(sample_size),
                f"Pass >= {minimum}, or None for the population limit.",
            )
        if int(sample_size) > _MAX_CHAIN_ID:
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
    check_is_family(fn, family)
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
        assert init_family is not None  # cross: a family other than `family`
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
    cjk.check_generations(fn, num_generations)  # the key scheme's counter limit
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
            misplaced_detector_fix(regime, "Pass regime=cj.replace()."),
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
        expected, fix = unsupported_sampler(regime, effective)
        fail(fn, "sampler", expected, effective, fix)
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
    source = family if init_family is None else init_family  # `family` unless cross
    known, distance_names, observed = known_metrics(family, source, regime)
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


def known_metrics(family, source, regime):
    """``(known, distances, observed)``: the metrics a run of ``family`` from a
    truth of ``source`` under ``regime`` can record, its distances to the truth
    and the regime's own records."""
    distance_names = ()
    if family.view_kind is not None and family.view_kind == source.view_kind:
        distance_names = DISTANCE_METRICS[family.view_kind]
    observed = tuple(regime.observed) if isinstance(regime, Regime) else ()
    return family.metric_names + distance_names + observed, distance_names, observed


def check_devices(fn, devices):
    """None, or a tuple of distinct devices of this process.

    ``"all"``: every local device; an int ``k``: the first ``k`` of them. In a
    multi-process run (:mod:`collapse_jax.distributed`) a process runs its chains
    on its own devices only, so a list must hold local devices.
    """
    if devices is None:
        return None
    local = jax.local_devices()
    if isinstance(devices, str):
        if devices != "all":
            fail(
                fn,
                "devices",
                "None, 'all', an int or a sequence of jax devices",
                devices,
                "Pass devices='all' for every local device, or e.g. devices=4.",
            )
        return tuple(local)
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool):
        if not 1 <= int(devices) <= len(local):
            fail(
                fn,
                "devices",
                f"an int in [1, {len(local)}] (the devices this process sees) or "
                "a list of devices",
                devices,
                "Ask for at most jax.device_count() devices (jax.local_device_count() "
                "in a distributed run), 'all', or None for one.",
            )
        return tuple(local[: int(devices)])
    if not isinstance(devices, Sequence) or not devices:
        fail(
            fn,
            "devices",
            "None, 'all', an int or a non-empty sequence of jax devices",
            devices,
            "Pass e.g. devices=jax.local_devices() or devices=4.",
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
            "Pass e.g. devices=jax.local_devices()[:2].",
            error=TypeError,
        )
    if not set(devices) <= set(local):
        fail(
            fn,
            "devices",
            f"devices of this process (process {jax.process_index()})",
            described(f"{sum(d not in local for d in devices)} of another process"),
            "Pass local devices (jax.local_devices()); every process of a "
            "distributed run runs its own chains (collapse_jax.distributed).",
        )
    return tuple(devices)


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
