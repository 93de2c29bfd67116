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
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import jax

from collapse_jax._memory_model import (  # noqa: F401 - the model, re-exported
    CARRY_COPIES,
    CURATION_COPIES,
    DRAW_COPIES,
    FIT_COPIES,
    PARAM_COPIES,
    RESERVE,
    RUN_CHAINS,
    SCHEDULE_ENTRY_BYTES,
    Estimate,
    Keep,
    _nbytes,
    chain_bytes,
    compiled_bytes,
    estimate_run,
    format_bytes,
)
from collapse_jax._memory_trace import (  # noqa: F401 - re-exported
    _point_bytes,
    _traced_points,
    estimator,
)
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

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


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
