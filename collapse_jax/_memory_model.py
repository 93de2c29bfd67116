"""The memory model of a run: its parts, in bytes, from shapes alone.

:func:`estimate_run` adds up what a run holds (the carry, one generation's
temporaries, a chunk of records, the records the caller keeps) from the shapes of
one chain, with the factors below; :class:`Keep` says how the caller keeps the
records. The factors and what they count are in :mod:`collapse_jax.memory`, which
re-exports every name here; :mod:`collapse_jax._memory_trace` traces a run's step
to find its shapes, and :func:`collapse_jax.memory.check_run` compares the sum with
the memory available.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import jax

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
#: Chunk-of-records copies the device summaries hold besides the records (the
#: float copy with missing values, its sort, the masked deviations).
SUMMARY_COPIES = 3
#: Memory no run may plan to use: the process, its compiled programs, slack.
RESERVE = 256 * 2**20


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
      on_device: the quantiles are computed on the device from each chunk's
        records (``keep="summaries"``): a sort and masked copies of one chunk
        of records there, nothing per chain on the host.
      generations: the recorded generations (thinning), or None for every one.
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
    on_device: bool = False
    generations: int | None = None


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
    fit_fixed_bytes: int = 0,
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
      fit_fixed_bytes: what a fit holds whatever the points it reads (a learned
        family's optimiser state and minibatch activations), per chain.

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
    fit = fit_points * fit_point_bytes + (fit_fixed_bytes if fit_points else 0)
    sampling = sample_points * sample_point_bytes
    # Sampling, then fitting: their temporaries are not alive at once.
    temporaries = max(sampling, fit)
    copies = DRAW_COPIES + (CURATION_COPIES if config.curation is not None else 0)
    per_call_chain = copies * draws + temporaries + PARAM_COPIES * params + regime
    state = padded * (CARRY_COPIES * carry + 8)  # + one typed key per chain
    step = in_call * per_call_chain
    # Thinned: a chunk holds a buffer of the generations it records, not all.
    rows = config.record_slots or chunk
    kept_gens = n_gen + 1 if keep.generations is None else keep.generations
    # One chunk's outputs; blocks' outputs are concatenated (a second copy).
    chunk_device = padded * rows * record * (2 if blocked else 1)
    if keep.on_device:  # summaries over chains: a sort and masked copies there
        chunk_device += padded * rows * record * SUMMARY_COPIES
    chunk_host = int(padded * rows * record * keep.chunk_copies)
    if keep.quantiles is None:
        per_gen = chains * record
    else:  # float64 quantiles and mean of each metric entry, failed-chain counts
        metrics = jax.tree.leaves(record_spec[0])  # record: (metrics, params, status)
        elems = sum(math.prod(x.shape) for x in metrics)
        per_gen = (keep.quantiles + 1) * elems * 8 + 4
    records = int(keep.points * kept_gens * per_gen * keep.copies)
    # First-passage generations (and the failure's) ride with the carry.
    tracked = (len(config.passage) + 1) * 4 if config.tracks else 0
    state += padded * CARRY_COPIES * tracked
    fixed = n_gen * (SCHEDULE_ENTRY_BYTES + 4) + RESERVE
    shared = padded * rows * record if keep.chunk_kept else 0
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
