"""The memory a run needs, estimated before anything is compiled or allocated.

A run's memory grows with chains x generations (the records every generation of
every chain leaves), with chains x ``n_max`` (the draws of one generation, all
chains of a compiled call at once), and with chains x the chain state (the model,
and the data a regime keeps). :func:`check_run` adds these up from shapes alone
(``jax.eval_shape``), compares the sum with the memory available now, and refuses
a run that cannot fit with the house message: the argument to change, the
estimate, the memory available and the fix. Without it such a run allocates until
the machine runs out (or fails deep inside XLA with a raw allocation error).

The estimate counts, per chain (``padded`` chains on the device):

* the carry (params, regime state, counters), three times: the initial state the
  runner keeps, a chunk's input and its output;
* the temporaries of one generation, for the chains of one compiled call (a block
  when the regime runs in blocks): ``DRAW_COPIES`` copies of the ``n_max`` draws
  (random bits, floats, the sample, weights) and ``CURATION_COPIES`` more with a
  curation, the larger of the sampler's temporaries and the fit's (one runs
  after the other), ``PARAM_COPIES`` of the params, one of the regime state. The
  family says how many floats its sampler holds per point it draws
  (``ModelFamily.sample_temporaries``: a categorical's Gumbel draws, one per
  category) and its fit per point it reads (``ModelFamily.fit_temporaries``:
  per-point outer products grow as the square of a Gaussian's or a regression's
  dimension; ``FIT_COPIES`` floats per float of a point when the family does not
  say). The points are counted by tracing one generation's step (shapes only):
  the fit reads the draws under ``replace``, every kept generation's under
  ``accumulate`` or ``general_mix``, the subsample under
  ``accumulate_subsample``, the real data and the draws under ``mix``; a
  sampling bias that draws in its own way (``repetition_penalty``) does not use
  the family's sampler;
* one chunk of records in flight (on the device, then on the host);
* the records of the whole run as the caller keeps them (:class:`Keep`):
  :func:`~collapse_jax.run_chains` holds the chunks and their concatenation (two
  copies); a run directory one array per variable for every sweep point, written
  and read back at the end, or only quantiles with ``summary``;
* the sample-size schedule (one Python int per generation in the description).

The factors were measured as peak RSS growth of CPU runs (records and draws
dominated runs, ``tests/test_memory.py``) and with XLA's memory analysis of the
compiled chunk (runs dominated by the data a regime keeps, for every family): the
estimate is within a factor of two of either. XLA's temporaries for one fit vary
with the number of points by up to a factor of about three (its fusion choices,
and the reductions padding the points to a power of two); the families' numbers
are near the top of that range.

:func:`collapse_jax.estimate.estimate_chains` gives the estimate of a
``run_chains`` call without running or refusing it; :func:`chain_bytes` what one
more chain costs (verify sizes its blocks of chain ids with them).

Overrides for experts: the environment variable ``COLLAPSE_JAX_MEMORY_LIMIT`` sets
the memory the check compares with (bytes, or with a binary suffix: ``512M``,
``64G``, ``1.5T``), in place of the available memory it reads (``MemAvailable``
of ``/proc/meminfo`` on Linux, ``os.sysconf`` elsewhere, and a GPU's
``memory_stats()``); ``0`` or ``off`` turns the check off.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import jax

from collapse_jax import compiled
from collapse_jax import keys as cjk
from collapse_jax.checks import described, fail

__all__ = [
    "Keep",
    "Estimate",
    "ENV_LIMIT",
    "available_memory",
    "estimate_run",
    "estimator",
    "chain_bytes",
    "compiled_bytes",
    "check_run",
    "format_bytes",
]

#: The environment variable that overrides the memory available (or, 0/off, the check).
ENV_LIMIT = "COLLAPSE_JAX_MEMORY_LIMIT"
#: Copies of the chain state alive during a chunk: kept initial state, input, output.
CARRY_COPIES = 3
#: Copies of one generation's draws per chain besides the sampler's and the fit's
#: temporaries (random bits, floats, the sample, weights; measured: a Gaussian run
#: drawing 10^5 points peaked at 6.1 draws per chain, 2 of them its fit's).
DRAW_COPIES = 4
#: Floats of a fit's temporaries per float of a point it reads, for a family that
#: does not give ``fit_temporaries``.
FIT_COPIES = 4
#: Copies of the draws a curation adds (its scores, their ranks, the new weights;
#: measured: 2 to 4 per draw for tail weighting and likelihood filters).
CURATION_COPIES = 4
#: Params-sized temporaries of one generation per chain (fit, freezing, metrics).
PARAM_COPIES = 4
#: Host bytes of one schedule entry: a Python int in the run's description.
SCHEDULE_ENTRY_BYTES = 48
#: Memory no run may plan to use: the process, its compiled programs, slack.
RESERVE = 256 * 2**20

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


@dataclasses.dataclass(frozen=True)
class Keep:
    """How the caller keeps the records of a run on the host.

    Attributes:
      points: sweep points whose records are allocated together (a run directory
        allocates every point's at the first; :func:`run_chains` one).
      copies: full copies of the records alive at the peak (chunks and their
        concatenation; a results file written and read back).
      quantiles: None to keep every chain; else the number of quantile levels
        kept instead (``--summary``): float64 quantiles and a mean per metric
        entry and generation, whatever the number of chains.
      chunk_copies: host copies of one chunk's records beyond the chunk itself
        while it is stored (quantiles over chains sort float64 copies); on CPU the
        chunk that the compiled call returns is already host memory.
      chunk_kept: the chunks the compiled calls return are kept as the first copy
        of the records (run_chains); on CPU they are then counted once.
      wording: None when the caller is a run_chains-like function; else the
        :class:`~collapse_jax.wording.Wording` of the run-directory entry point
        (``run_experiment``, ``resume``, ``collapse-jax run``), whose names the
        refusal uses (``--num-chains`` / ``overrides['num_chains']``).
    """

    points: int = 1
    copies: float = 2.0
    quantiles: int | None = None
    chunk_copies: float = 0.0
    chunk_kept: bool = False
    wording: Any = None


#: What run_chains keeps: every chunk, then their concatenation.
RUN_CHAINS = Keep(chunk_kept=True)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The memory a run needs, in bytes, by part (see the module docstring).

    Device parts live in the accelerator's memory (the host's on CPU), host parts
    in the host's.
    """

    state: int  # device: the carry of every chain, CARRY_COPIES times, and keys
    step: int  # device: one generation's temporaries for one compiled call
    chunk_device: int  # device: one chunk of records
    chunk_host: int  # host: one chunk of records while it is stored
    records: int  # host: the run's records as the caller keeps them
    fixed: int  # what does not grow with the chains (schedule, reserve)
    shared: int  # counted in both chunk_device and records: one memory on CPU
    parts: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def device(self) -> int:
        return self.state + self.step + self.chunk_device

    @property
    def host(self) -> int:
        return self.records + self.chunk_host + self.fixed

    @property
    def total(self) -> int:
        """Device and host memory together (the host's alone on CPU)."""
        return self.device + self.host - self.shared


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary units, three significant digits."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def compiled_bytes(compiled) -> int:
    """Bytes of a compiled XLA program's arguments, outputs and temporaries, from
    its memory analysis (``jax.jit(f).lower(...).compile()``): what one call
    holds at its peak."""
    m = compiled.memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes


def _nbytes(tree) -> int:
    return sum(
        math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)
    )


def _parse_limit(text: str) -> int | None:
    """``"64G"`` -> bytes; ``"0"``/``"off"`` -> None (no check)."""
    t = text.strip().lower().replace(" ", "")
    if t in ("0", "off", "none", "no", "false"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([kmgtp]?)(?:i?b)?", t)
    if m is None or float(m.group(1)) <= 0:
        fail(
            "collapse_jax",
            ENV_LIMIT,
            "a memory size in bytes, e.g. 64G, 512M or 1.5T (binary units), or "
            "0/off to turn the memory check off",
            text,
            f"Set e.g. {ENV_LIMIT}=64G.",
        )
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None  # unknown: no check


def _device_available(devices) -> int | None:
    """Free memory of the least free device (None on CPU or when unknown)."""
    free = []
    for d in devices:
        try:
            stats = d.memory_stats()
        except Exception:  # noqa: BLE001 - a backend without memory statistics
            stats = None
        if stats and "bytes_limit" in stats:
            free.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
    return min(free) if free else None


@dataclasses.dataclass(frozen=True)
class Available:
    """The memory a run may use: host, device (None when it is the host's)."""

    host: int
    device: int | None
    source: str  # where the numbers come from, for the message


def available_memory(devices: Sequence[Any] | None = None) -> Available | None:
    """The memory available now; None when the check is off or nothing is known.

    Args:
      devices: the devices of the run (default: JAX's default device).

    Returns:
      An :class:`Available`, its ``device`` None on CPU (device memory is host
      memory there), or None when ``COLLAPSE_JAX_MEMORY_LIMIT`` is ``0``/``off``
      or the host's free memory cannot be read.
    """
    env = os.environ.get(ENV_LIMIT)
    if env is not None and env.strip():
        limit = _parse_limit(env)
        return None if limit is None else Available(limit, None, ENV_LIMIT)
    host = _host_available()
    if host is None:
        return None
    devices = list(devices) if devices else [jax.devices()[0]]
    device = None
    if devices[0].platform != "cpu":
        device = _device_available(devices)
    source = "MemAvailable" if os.path.exists("/proc/meminfo") else "free memory"
    if device is not None:
        source += f" and {devices[0].platform.upper()} memory_stats()"
    return Available(host, device, source)


def estimate_run(
    *,
    config,
    params_spec,
    state_spec,
    record_spec,
    draw_spec,
    chains: int,
    padded: int,
    block: int | None,
    keep: Keep = RUN_CHAINS,
    fit_points: int = 0,
    fit_point_bytes: int = 0,
    sample_points: int = 0,
    sample_point_bytes: int = 0,
) -> Estimate:
    """The memory of a run from shapes (no allocation).

    Args:
      config: the run's ``ChainConfig`` (generations, chunk size, sampler).
      params_spec: the params of one chain (arrays or ``ShapeDtypeStruct``).
      state_spec: the regime state of one chain.
      record_spec: what one generation of one chain records: ``(metrics,
        params or None, status)``.
      draw_spec: one generation's draws of one chain (``n_max`` points), or None
        when nothing is drawn point by point (sufficient statistics, population).
      chains: chains whose records are kept (all sweep points of the call).
      padded: chains on the device (padded to a multiple of the devices).
      block: chains per compiled call, or None for all.
      keep: how the caller keeps the records (:class:`Keep`).
      fit_points: the data points one generation's fits read, per chain.
      fit_point_bytes: the fit's temporaries per point it reads.
      sample_points: the points one generation's draws by the family's sampler
        hold, per chain (a sampling bias may draw in its own way).
      sample_point_bytes: the sampler's temporaries per point it draws.

    Returns:
      An :class:`Estimate`.
    """
    n_gen, chunk = config.num_generations, config.chunk_size
    params = _nbytes(params_spec)
    regime = _nbytes(state_spec)
    carry = params + regime + 8  # t and status, int32 each
    draws = 0 if draw_spec is None else _nbytes(draw_spec)
    record = _nbytes(record_spec)
    blocked = block is not None and block < padded
    in_call = block if blocked and block is not None else padded
    fit = fit_points * fit_point_bytes
    sampling = sample_points * sample_point_bytes
    # Sampling, then fitting: their temporaries are not alive at once.
    temporaries = max(sampling, fit)
    copies = DRAW_COPIES + (CURATION_COPIES if config.curation is not None else 0)
    per_call_chain = copies * draws + temporaries + PARAM_COPIES * params + regime
    state = padded * (CARRY_COPIES * carry + 8)  # + one typed key per chain
    step = in_call * per_call_chain
    # One chunk's outputs; blocks' outputs are concatenated (a second copy).
    chunk_device = padded * chunk * record * (2 if blocked else 1)
    chunk_host = int(padded * chunk * record * keep.chunk_copies)
    if keep.quantiles is None:
        per_gen = chains * record
    else:  # float64 quantiles and mean of each metric entry, failed-chain counts
        metrics = jax.tree.leaves(record_spec[0])  # record: (metrics, params, status)
        elems = sum(math.prod(x.shape) for x in metrics)
        per_gen = (keep.quantiles + 1) * elems * 8 + 4
    records = int(keep.points * (n_gen + 1) * per_gen * keep.copies)
    fixed = n_gen * (SCHEDULE_ENTRY_BYTES + 4) + RESERVE
    shared = padded * chunk * record if keep.chunk_kept else 0
    return Estimate(
        state=int(state),
        step=int(step),
        chunk_device=int(chunk_device),
        chunk_host=chunk_host,
        records=records,
        fixed=int(fixed),
        shared=int(shared),
        parts={
            "params": params,
            "regime": regime,
            "draws": draws,
            "fit": fit,
            "fit_points": fit_points,
            "sampling": sampling,
            "copies": copies,
            "record": record,
        },
    )


def _fixes(w, part: str, sufficient: bool) -> str:
    """How to make a run smaller; ``w``: the run-directory wording, or None for
    run_chains and its kin (Python arguments)."""
    if part == "records":
        if w is not None:
            summary = w.option_value(
                "summary", "0.1,0.5,0.9" if w.cli else [0.1, 0.5, 0.9]
            )
            return (
                f"Keep only quantiles over chains with {summary}, or run fewer "
                f"chains ({w.field('num_chains')}) or generations "
                f"({w.field('num_generations')})"
            )
        return (
            "Run the chains in chunks of ids, one call each with first_chain= (the "
            "same chains, bit for bit), record fewer metrics (metrics=[...]) or "
            "pass record_params=False, or run fewer generations"
        )
    if part == "draws":
        if w is None:
            alt = "sampler='sufficient' (O(1) per generation), " if sufficient else ""
            return (
                f"Draw fewer points per generation, use {alt}or run fewer chains per "
                "call (first_chain= splits a run)"
            )
        alt = (
            f"{w.field_value('sampler', 'sufficient')} (O(1) per generation), "
            if sufficient
            else ""
        )
        return (
            f"Draw fewer points per generation ({w.field('sample_size')}), use "
            f"{alt}or run fewer chains ({w.field('num_chains')})"
        )
    if part == "chunk":
        name = "chunk_size" if w is None else w.option("chunk_size")
        return f"Pass a smaller {name}"
    if w is None:
        chains = (
            "Run fewer chains per call (first_chain= splits a run into chunks of ids)"
        )
    else:
        chains = f"Run fewer chains ({w.field('num_chains')})"
    return (
        f"{chains}, or a regime that keeps less data (mix, fresh, "
        "retain_original keep no buffer of past generations)"
    )


def _breakdown(est: Estimate) -> str:
    parts = [
        ("records", est.records),
        ("chain state", est.state),
        ("draws and fits of one generation", est.step),
        ("one chunk of records", est.chunk_device + est.chunk_host - est.shared),
    ]
    shown = [f"{name} {format_bytes(b)}" for name, b in parts if b >= 2**20]
    return ", ".join(shown) or "under 1 MiB"


def _over(est: Estimate, avail: Available, num_devices: int) -> tuple[int, int] | None:
    """``(need, limit)`` of the first memory the run overflows, or None."""
    if avail.device is None:  # CPU: one memory
        return (est.total, avail.host) if est.total > avail.host else None
    per_device = est.device // max(num_devices, 1)
    if per_device > avail.device:
        return per_device, avail.device
    return (est.host, avail.host) if est.host > avail.host else None


def _point_bytes(family, data_spec, dtype) -> tuple[int, int]:
    """Bytes of the sampler's temporaries per point it draws, and of the fit's per
    point it reads (``sample_temporaries``, ``fit_temporaries``)."""
    fit = family.fit_temporaries
    if fit is None:  # FIT_COPIES floats per float (or int) of one point
        fit = FIT_COPIES * math.prod(data_spec.shape[1:])
    size = np.dtype(dtype).itemsize
    return math.ceil((family.sample_temporaries or 0) * size), math.ceil(fit * size)


def _traced_points(config, family, source, regime, one, truth, reference, hyper):
    """``(drawn, fitted)``: the points one generation's step draws with the
    family's sampler and those its fits read, per chain (0, 0: no points).

    Traces one generation's step with shapes only (``jax.eval_shape``), with a
    family whose ``sample``, ``fit`` and ``refit`` note the points they are given:
    the draws, a regime's kept data, real data, whatever the regime passes.
    """
    if config.sampler != "samples":  # statistics or models, no points
        return 0, 0

    drawn, fitted = [], []

    def sample(key, params, n):
        drawn.append(n)
        return family.sample(key, params, n)

    def fit(key, data, weights, prev):
        fitted.append(weights.shape[0])
        return family.fit(key, data, weights, prev)

    def refit(sample_key, fit_key, params, weights):
        drawn.append(weights.shape[0])
        fitted.append(weights.shape[0])
        return family.refit(sample_key, fit_key, params, weights)

    noting = family._replace(sample=sample, fit=fit, refit=refit)

    def step(state, key, active):
        gkeys = cjk.generation_keys(key, state.t)
        return compiled._step(
            noting,
            regime,
            config,
            state,
            gkeys,
            state.t,
            hyper,
            active,
            truth,
            source,
            reference,
        )

    key = jax.eval_shape(lambda: jax.random.key(0))
    jax.eval_shape(step, one, key, jax.ShapeDtypeStruct((), np.bool_))
    # Several draws or fits in one generation may all be alive at once.
    return sum(drawn), sum(fitted)


def estimator(
    *,
    config,
    family,
    source,
    regime,
    reference,
    truth,
    truth_view,
    state_spec,
    data_spec,
    hyper,
    points: int,
    pad: int,
    block: int | None,
    keep: Keep | None = None,
) -> Callable[[int], Estimate]:
    """The estimate of a run as a function of its chains per sweep point.

    Called by the runner once the shapes are known (``jax.eval_shape``) and before
    any chain-sized array exists; :func:`check_run` compares it with the memory
    available, :func:`estimate_chains` returns it.

    Args:
      config: the run's ``ChainConfig``.
      family, source, regime, reference, truth, truth_view: as in the runner (one
        chain; ``source``: the truth's family).
      state_spec: the regime state of one chain (``ShapeDtypeStruct`` s).
      data_spec: one draw's ``ShapeDtypeStruct`` of the fitted family.
      hyper: the traced settings of one chain (regime, bias, curation).
      points: sweep points in the call; ``c`` chains per point make ``points * c``.
      pad: the chain axis is padded to a multiple of this.
      block: chains per compiled call, or None.
      keep: how the caller keeps the records (default: as run_chains does).

    Returns:
      ``estimate(c) -> Estimate`` for ``c`` chains per sweep point.
    """
    keep = RUN_CHAINS if keep is None else keep
    int32 = jax.ShapeDtypeStruct((), np.int32)
    params_spec = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), reference
    )
    # Abstract shapes for eval_shape, where ChainState holds arrays at run time.
    one = compiled.ChainState(params_spec, state_spec, int32, int32)  # pyright: ignore[reportArgumentType]
    record_spec = jax.eval_shape(  # shapes only: the truth is abstract too
        lambda st, ref: compiled._record(family, regime, config, st, ref, truth_view),
        one,
        params_spec,
    )
    draw_spec = None
    if config.sampler == "samples":
        draw_spec = compiled.data_spec_n(data_spec, config.n_max)
    sample_points, fit_points = _traced_points(
        config, family, source, regime, one, truth, reference, hyper
    )
    sample_point_bytes, fit_point_bytes = _point_bytes(family, data_spec, config.dtype)

    def estimate(c: int) -> Estimate:
        total = points * c
        return estimate_run(
            config=config,
            params_spec=params_spec,
            state_spec=state_spec,
            record_spec=record_spec,
            draw_spec=draw_spec,
            chains=total,
            padded=-(-total // pad) * pad,
            block=block,
            keep=keep,
            fit_points=fit_points,
            fit_point_bytes=fit_point_bytes,
            sample_points=sample_points,
            sample_point_bytes=sample_point_bytes,
        )

    return estimate


def chain_bytes(estimate: Callable[[int], Estimate], chains: int = 8) -> int:
    """Bytes one more chain adds to a run: the slope of ``estimate`` in the chains.

    What a block of ``b`` chains needs is about ``b`` times this, what does not
    grow with the chains (the reserve, the schedule) left out.

    Args:
      estimate: from :func:`estimate_chains` (or :func:`estimator`).
      chains: where the slope is taken, from ``chains`` to ``2 * chains``: a
        multiple of the chain padding (8).
    """
    low, high = estimate(chains), estimate(2 * chains)
    return max(-(-(high.total - low.total) // chains), 1)


def _kept_data_dominates(est: Estimate, config) -> bool:
    """Whether a generation's temporaries are more the fit of data the regime
    keeps (or is given) than the draws and their own fit."""
    p = est.parts
    if not p["draws"]:  # nothing drawn point by point
        return True
    per_point = p["fit"] // max(p["fit_points"], 1)
    fit_draws = min(p["fit_points"], config.n_max) * per_point
    draws = p["copies"] * p["draws"] + max(p["sampling"], fit_draws)
    kept = p["regime"] + max(p["fit_points"] - config.n_max, 0) * per_point
    return kept > draws


def check_run(
    fn: str,
    estimate: Callable[[int], Estimate],
    *,
    num_chains: int,
    pad: int,
    devices: Sequence[Any] | None,
    config,
    family,
    regime,
    keep: Keep | None = None,
) -> Estimate:
    """Refuse a run that cannot fit in memory, before anything is allocated.

    Args:
      fn: the public function, for the message.
      estimate: the run's :func:`estimator`.
      num_chains: chains per sweep point.
      pad: the chain axis is padded to a multiple of this.
      devices: the run's devices, or None for the default one.
      config, family, regime: the run's, for the message.
      keep: how the caller keeps the records (its wording for the message).

    Returns:
      The :class:`Estimate` (when it fits, or when the check is off).

    Raises:
      ValueError: the run does not fit, naming the argument to change, the
        estimate, the memory available and the fix.
    """
    w = None if keep is None else keep.wording
    if w is not None:
        fn = w.fn
    est = estimate(num_chains)
    avail = available_memory(devices)
    n_dev = 1 if devices is None else len(devices)
    over = None if avail is None else _over(est, avail, n_dev)
    if over is None:
        return est
    assert avail is not None  # over is None without it
    need, limit = over
    lo, hi = 0, num_chains  # the most chains that fit: estimate() is monotone
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _over(estimate(mid), avail, n_dev) is None:
            lo = mid
        else:
            hi = mid - 1
    parts = {
        "records": est.records + est.chunk_host,
        "state": est.state,
        "draws": est.step,
        "chunk": est.chunk_device,
    }
    part = max(parts, key=parts.__getitem__)
    if part == "draws" and _kept_data_dominates(est, config):
        part = "state"  # the data the regime keeps (and their fit), not the draws
    where = "device" if avail.device is not None and need != est.total else "memory"
    room = f"{format_bytes(limit)} available, from {avail.source}"
    sufficient = (
        family.sample_fit is not None
        and config.sampler == "samples"
        and "sufficient" in regime.samplers
    )
    fix = (
        f"The estimate: {_breakdown(est)}. {_fixes(w, part, sufficient)}. To plan "
        f"for another amount of memory set {ENV_LIMIT} (e.g. 64G; 0 turns this "
        "check off)."
    )
    needs = f"an estimated {format_bytes(need)}"
    if lo >= 1:
        fail(
            fn,
            "num_chains" if w is None else w.field("num_chains"),
            f"at most {lo:,} for this run to fit in {where} ({room})",
            described(f"{num_chains:,}, which needs {needs}"),
            fix,
        )
    record_params = (
        config.record_params and 2 * est.parts["params"] > (est.parts["record"])
    )
    name, value = {
        "records": ("record_params", True)
        if record_params
        else ("num_generations", config.num_generations),
        "draws": ("sample_size", config.n_max),
        "chunk": ("chunk_size", config.chunk_size),
        "state": ("regime", regime.name)
        if est.parts["regime"] > est.parts["params"]
        else ("init", f"a model of {format_bytes(est.parts['params'])}"),
    }[part]
    shown = f"{value:,}" if type(value) is int else str(value)
    if w is not None and name in ("num_generations", "sample_size", "regime"):
        name = w.field(name)
    elif w is not None and name == "chunk_size":
        name = w.option(name)
    fail(
        fn,
        name,
        f"set so that even {pad} chains fit in {where} ({room})",
        described(f"{shown}, which needs {needs} with {num_chains:,} chains"),
        fix,
    )
