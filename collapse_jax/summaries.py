"""Record only what is asked: thinning, summaries over chains, first-passage times.

A run records, by default, every metric of every chain at every generation: memory
``chains x generations``. Three switches of :func:`~collapse_jax.run_chains` (and
:func:`~collapse_jax.run_spec`, :func:`~collapse_jax.sweep`) record less:

* **thinning**: ``record_every=k`` records generations ``0, k, 2k, ...`` and ``N``;
  ``record_at=[...]`` records the listed generations. Generation 0 and the last
  generation ``N`` are always recorded. Inside the compiled chunk only the
  recorded generations are written (a buffer of the most recorded generations any
  ``chunk_size`` consecutive generations hold; a generation that is not recorded
  computes no metric), and the chain's bits do not change: a thinned run's records
  are the full run's at those generations, bit for bit.
* **summaries**: ``output="summaries"`` keeps, per recorded generation and metric,
  the mean, the variance and the ``quantiles`` over the chains that have not
  failed, computed on the device from each chunk's records, and the count of
  failed chains; no per-chain record reaches the host. Memory is the chain state
  plus one chunk of records on the device (``chains x`` the recorded generations
  of one chunk) plus ``recorded generations x statistics``. Quantiles are exact
  (a sort over the chains of each recorded generation, NumPy's "linear" rule);
  sums go through a pairwise tree (``collapse_jax._reduce.tree_sum``), so a
  mean over ``10^6`` chains is within a few ulps of the float64 mean of the
  recorded values.
* **first-passage times**: ``first_passage={"name": (metric, op, threshold)}``
  records, per chain, the first generation at which ``metric op threshold`` holds
  (for every entry of a metric with several), checked at every generation
  whether recorded or not; ``-1`` if it never does. A failed chain stops passing.
  E.g. ``{"absorbed": ("support_size", "<=", 1)}`` for a categorical chain, or
  ``{"collapsed": ("log_var", "<", -2.0)}`` for a Gaussian one. The generation a
  chain failed at is tracked the same way, so ``failures()`` is exact under
  thinning and summaries.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.checks import described, fail
from collapse_jax.status import ChainFailure, Status

__all__ = ["Recording", "SummaryResult", "OUTPUTS", "PASSAGE_OPS", "DEFAULT_QUANTILES"]

#: What a run outputs: every chain's records, or summaries over chains.
OUTPUTS = ("records", "summaries")
#: Comparisons a first-passage predicate may use.
PASSAGE_OPS: dict[str, Any] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
#: Quantile levels kept with ``output="summaries"`` unless ``quantiles=`` says.
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)


@dataclasses.dataclass(frozen=True)
class Recording:
    """What a run records (built and checked by :func:`check_recording`).

    Attributes:
      generations: the recorded generations, sorted, 0 and ``N`` included; None
        records every generation.
      output: ``"records"`` (every chain) or ``"summaries"``.
      quantiles: the quantile levels of the summaries.
      passage: ``((name, metric, op, threshold), ...)`` first-passage predicates.
    """

    generations: tuple[int, ...] | None = None
    output: str = "records"
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    passage: tuple[tuple[str, str, str, float], ...] = ()

    @property
    def thinned(self) -> bool:
        return self.generations is not None

    def slots(self, chunk: int) -> int:
        """The record buffer of a compiled chunk: the most recorded generations
        any ``chunk`` consecutive generations (from 1) hold; 0 when every
        generation is recorded (the chunk returns every generation)."""
        if self.generations is None:
            return 0
        gens = np.asarray(self.generations[1:], np.int64)  # generation 0: prepare's
        if gens.size == 0:
            return 1
        # For each recorded g, how many recorded generations lie in [g, g + chunk).
        ends = np.searchsorted(gens, gens + chunk, side="left")
        return max(int(np.max(ends - np.arange(gens.size))), 1)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral | np.integer) and not isinstance(v, bool)


def check_recording(
    fn: str,
    num_generations: int,
    record_every,
    record_at,
    output,
    quantiles,
    first_passage,
    known_metrics: Sequence[str],
) -> Recording:
    """Check the recording arguments of a run; return its :class:`Recording`."""
    if record_every is not None and record_at is not None:
        fail(
            fn,
            "record_every",
            "None when record_at is given (one way to thin)",
            record_every,
            "Pass either record_every=k or record_at=[...], not both.",
        )
    gens: tuple[int, ...] | None = None
    if record_every is not None:
        if not _is_int(record_every) or record_every < 1:
            fail(
                fn,
                "record_every",
                "an int >= 1",
                record_every,
                "Pass e.g. record_every=10 (generations 0, 10, 20, ... and the last).",
                error=TypeError if not _is_int(record_every) else ValueError,
            )
        k = int(record_every)
        if k > 1:
            g = list(range(0, num_generations + 1, k))
            gens = tuple(g + ([num_generations] if g[-1] != num_generations else []))
    if record_at is not None:
        if isinstance(record_at, str | bytes) or not isinstance(
            record_at, Sequence | np.ndarray
        ):
            fail(
                fn,
                "record_at",
                "a sequence of generations",
                record_at,
                "Pass e.g. record_at=[1, 10, 100].",
                error=TypeError,
            )
        vals = list(np.asarray(record_at).ravel()) if len(record_at) else []
        if not all(_is_int(v) for v in vals):
            fail(
                fn,
                "record_at",
                "a sequence of ints",
                record_at,
                "Pass whole generation numbers, e.g. record_at=[1, 10, 100].",
                error=TypeError,
            )
        vals = [int(v) for v in vals]
        bad = [v for v in vals if not 0 <= v <= num_generations]
        if bad:
            fail(
                fn,
                "record_at",
                f"generations in [0, num_generations={num_generations}]",
                described(f"{bad[0]}"),
                "Drop the generations past the run's end.",
            )
        if any(b <= a for a, b in zip(vals, vals[1:], strict=False)):
            fail(
                fn,
                "record_at",
                "sorted and without repeats",
                record_at,
                "Pass e.g. sorted(set(record_at)).",
            )
        g = sorted({0, num_generations, *vals})
        gens = None if len(g) == num_generations + 1 else tuple(g)
    if output not in OUTPUTS:
        fail(
            fn,
            "output",
            f"one of {OUTPUTS}",
            output,
            "Pass output='summaries' to keep only statistics over chains.",
        )
    try:
        levels = tuple(float(q) for q in quantiles)
    except TypeError:
        levels = None
    if (
        levels is None
        or isinstance(quantiles, str)
        or not all(0.0 <= q <= 1.0 for q in levels)
        or list(levels) != sorted(set(levels))
    ):
        fail(
            fn,
            "quantiles",
            "sorted distinct levels in [0, 1]",
            quantiles,
            "Pass e.g. quantiles=(0.1, 0.5, 0.9), or () for none.",
        )
    passage = _check_passage(fn, first_passage, known_metrics)
    return Recording(gens, output, levels, passage)


def _check_passage(fn, first_passage, known) -> tuple[tuple[str, str, str, float], ...]:
    if first_passage is None:
        return ()
    fix = (
        "Pass e.g. first_passage={'absorbed': ('support_size', '<=', 1)}: "
        "a name, then (metric, one of < <= > >= ==, a number)."
    )
    if not isinstance(first_passage, Mapping):
        fail(
            fn,
            "first_passage",
            "a dict {name: (metric, op, threshold)}",
            first_passage,
            fix,
            error=TypeError,
        )
    out = []
    for name, rule in first_passage.items():
        arg = f"first_passage[{name!r}]"
        if not isinstance(name, str) or not name.isidentifier():
            fail(fn, "first_passage", "names that are identifiers", name, fix)
        if (
            not isinstance(rule, tuple | list)
            or len(rule) != 3
            or not isinstance(rule[1], str)
        ):
            fail(
                fn, arg, "a (metric, op, threshold) triple", rule, fix, error=TypeError
            )
        metric, op, thr = rule
        if metric not in known:
            fail(fn, arg, f"a metric of this run, one of {tuple(known)}", metric, fix)
        if op not in PASSAGE_OPS:
            fail(fn, arg, f"an op in {tuple(PASSAGE_OPS)}", op, fix)
        if (
            isinstance(thr, bool)
            or not isinstance(thr, numbers.Real)
            or not np.isfinite(float(thr))
        ):
            fail(fn, arg, "a finite number as threshold", thr, fix, error=TypeError)
        out.append((name, str(metric), op, float(thr)))
    return tuple(out)


# ------------------------------------------------------------- on the device ---


def _passed(values, op: str, threshold: float):
    """Whether every entry of one chain's metric satisfies ``op threshold``."""
    v = jnp.asarray(values)
    thr = jnp.asarray(threshold, v.dtype if v.dtype != jnp.bool_ else jnp.float32)
    return jnp.all(PASSAGE_OPS[op](v.astype(thr.dtype), thr))


def _sum(x, axis: int = 1):
    """Pairwise (tree) sum over ``axis``: accurate over 10^6 chains in float32."""
    return tree_sum(x, axis)


@functools.partial(jax.jit, static_argnames=("total", "points", "quantiles"))
def summarize(mets, status, *, total: int, points: int, quantiles: tuple[float, ...]):
    """Statistics over chains of one chunk's records, per recorded generation.

    Args:
      mets: ``{metric: (padded, R, ...)}`` records (device arrays).
      status: ``(padded, R) int32``.
      total: the chains kept (``points * chains``; the rest is padding).
      points: sweep points (chains are point-major).
      quantiles: quantile levels.

    Returns:
      ``({metric: {"mean", "var", "quantiles"}}, failed)``: ``mean`` and ``var``
      ``(points, R, ...)``, ``quantiles`` ``(points, Q, R, ...)`` over the chains
      that have not failed (variance with ddof 1; NaN below two chains; a bool
      metric keeps its mean, the share of chains where it holds), ``failed``
      ``(points, R)`` int32 counts.
    """
    c = total // points
    ok = (status[:total] == 0).reshape((points, c) + status.shape[1:])
    count = jnp.sum(ok, axis=1, dtype=jnp.int32)
    out = {}
    for m, v in mets.items():
        v = v[:total].reshape((points, c) + v.shape[1:])
        mask = ok.reshape(ok.shape + (1,) * (v.ndim - 3))
        n = count.reshape(count.shape + (1,) * (v.ndim - 3))
        if v.dtype == jnp.bool_:
            share = _sum(jnp.where(mask, v, False).astype(jnp.float32))
            out[m] = {"mean": share / jnp.maximum(n, 1).astype(jnp.float32)}
            continue
        fdt = v.dtype if jnp.issubdtype(v.dtype, jnp.floating) else jnp.float32
        x = v.astype(fdt)
        good = mask & ~jnp.isnan(x)  # a NaN metric of a live chain: missing too
        k = jnp.sum(good, axis=1, dtype=jnp.int32)
        kf = k.astype(fdt)
        mean = _sum(jnp.where(good, x, 0)) / kf
        dev = jnp.where(good, x - jnp.expand_dims(mean, 1), 0)
        var = _sum(dev * dev) / (kf - 1)
        var = jnp.where(k > 1, var, jnp.nan)
        stats = {"mean": jnp.where(k > 0, mean, jnp.nan), "var": var}
        if quantiles:
            stats["quantiles"] = _quantiles(jnp.where(good, x, jnp.nan), k, quantiles)
        out[m] = stats
    return out, c - count


def _quantiles(x, k, levels):
    """NumPy's "linear" quantiles over axis 1 of ``x`` (NaN sorted last, ``k``
    valid values per column): ``(points, Q, ...)``."""
    s = jnp.sort(x, axis=1)
    last = jnp.maximum(k - 1, 0)
    outs = []
    for q in levels:
        virtual = last.astype(x.dtype) * q
        below = jnp.floor(virtual)
        lo = jnp.minimum(below.astype(jnp.int32), last)
        hi = jnp.minimum(lo + 1, last)
        gamma = virtual - below
        a = jnp.take_along_axis(s, lo[:, None], axis=1)[:, 0]
        b = jnp.take_along_axis(s, hi[:, None], axis=1)[:, 0]
        d = b - a
        val = jnp.where(gamma >= 0.5, b - d * (1 - gamma), a + d * gamma)
        outs.append(jnp.where(k > 0, val, jnp.nan))
    return jnp.stack(outs, axis=1)


class Summaries:
    """Host arrays of the summaries of a run, filled chunk by chunk."""

    def __init__(self, points: int, generations: np.ndarray, quantiles):
        self.points = points
        self.generations = np.asarray(generations, np.int64)
        self.quantiles = tuple(quantiles)
        self.stats: dict[str, dict[str, np.ndarray]] = {}
        self.failed = np.zeros((points, self.generations.size), np.int32)

    def put(self, lo: int, stats, failed, n: int) -> None:
        """Store the first ``n`` recorded generations of a chunk's statistics at
        recorded index ``lo``."""
        host = jax.device_get((stats, failed))
        stats, failed = host
        for m, st in stats.items():
            dest = self.stats.setdefault(m, {})
            for s, v in st.items():
                v = np.asarray(v)
                axis = 2 if s == "quantiles" else 1
                v = np.take(v, np.arange(n), axis=axis)
                if s not in dest:
                    shape = list(v.shape)
                    shape[axis] = self.generations.size
                    dest[s] = np.full(shape, np.nan, v.dtype)
                idx = [slice(None)] * v.ndim
                idx[axis] = slice(lo, lo + n)
                dest[s][tuple(idx)] = v
        self.failed[:, lo : lo + n] = np.asarray(failed)[:, :n]

    def put_host(self, lo: int, mets, status) -> None:
        """Generation-0 (or other host) records ``(total, n, ...)``: summarised
        on the device like a chunk."""
        n = status.shape[1]
        total = status.shape[0]
        stats, failed = summarize(
            {m: jnp.asarray(v) for m, v in mets.items()},
            jnp.asarray(status),
            total=total,
            points=self.points,
            quantiles=self.quantiles,
        )
        self.put(lo, stats, failed, n)


@dataclasses.dataclass
class SummaryResult:
    """What a run with ``output="summaries"`` returns (host NumPy arrays).

    Attributes:
      generations: ``(G,)`` the recorded generations.
      quantiles: the quantile levels.
      stats: ``{metric: {"mean": (G, ...), "var": (G, ...), "quantiles": (Q, G,
        ...)}}`` over the chains that had not failed at each recorded
        generation (a sweep adds a leading point axis); a bool metric has its
        ``mean`` only (the share of chains where it holds).
      failed: ``(G,)`` chains failed by each recorded generation.
      first_passage: ``{name: (num_chains,) int32}`` the generation each chain
        first met the predicate, ``-1`` if never.
      failed_at: ``(num_chains,) int32``: the generation each chain failed at,
        ``-1`` if it did not.
      chain_ids: ``(num_chains,)`` global chain ids.
      final_state: the batched chain state after the last generation.
      config: a JSON-serialisable description of the run.
      reference: as :attr:`collapse_jax.ChainResult.reference`.
      seed: the run's int seed, or None.
    """

    generations: np.ndarray
    quantiles: tuple[float, ...]
    stats: dict[str, dict[str, np.ndarray]]
    failed: np.ndarray
    first_passage: dict[str, np.ndarray]
    failed_at: np.ndarray
    chain_ids: np.ndarray
    final_state: Any
    config: dict[str, Any]
    reference: Any = None
    seed: int | None = None

    @property
    def ok(self) -> bool:
        """True when no chain failed."""
        return not bool(np.any(self.failed_at >= 0))

    def failures(self) -> list[ChainFailure]:
        """The chains that failed: id, generation and reason (exact under
        thinning: the generation is tracked at every step)."""
        failed_at = np.asarray(self.failed_at).reshape(-1)  # a sweep: point-major
        status = np.asarray(self.final_state.status)[: failed_at.size]
        ids = np.resize(np.asarray(self.chain_ids), failed_at.size)
        return [
            ChainFailure(int(ids[i]), int(failed_at[i]), Status(int(status[i])))
            for i in np.flatnonzero(failed_at >= 0)
        ]

    def to_dataset(self):
        """The results Dataset in the ``"summary"`` layout of
        :mod:`collapse_jax.io` (:func:`collapse_jax.io.summarize`): per metric
        ``name`` ``(sweep, quantile, generation, ...)``, ``name__mean`` and
        ``name__sd`` ``(sweep, generation, ...)``, ``failed`` ``(sweep,
        generation)``, the ``generation`` coordinate the recorded generations."""
        from collapse_jax import io as cio

        xr = cio._xarray()
        sweep = self.failed.ndim == 2
        lead = (lambda a: a) if sweep else (lambda a: np.asarray(a)[None])
        data = {}
        for m, st in self.stats.items():
            own = st["mean"].shape[(2 if sweep else 1) :]
            dims = tuple(f"{m}_dim{i}" for i in range(len(own)))
            data[f"{m}__mean"] = (
                ("sweep", "generation") + dims,
                lead(st["mean"]).astype(np.float64),
            )
            if "var" in st:
                data[f"{m}__sd"] = (
                    ("sweep", "generation") + dims,
                    np.sqrt(lead(st["var"]).astype(np.float64)),
                )
            if "quantiles" in st:
                data[m] = (
                    ("sweep", "quantile", "generation") + dims,
                    lead(st["quantiles"]).astype(np.float64),
                )
        data["failed"] = (("sweep", "generation"), lead(self.failed))
        points = int(lead(self.failed).shape[0])
        cfg = self.config
        attrs = {
            "collapse_jax_format": cio.RESULTS_FORMAT,
            "kind": "summary",
            "summary": json.dumps(list(self.quantiles)),
            "num_chains": int(cfg.get("num_chains", len(self.chain_ids))),
            "num_generations": int(cfg.get("num_generations", self.generations[-1])),
            "complete": 1,
            "config": json.dumps(cfg, sort_keys=True),
            "dtype": str(cfg.get("dtype", "")),
        }
        if self.seed is not None:
            attrs["seed"] = int(self.seed)
        coords = {
            "sweep": (
                "sweep",
                np.asarray(
                    [f"point{p}" for p in range(points)] if sweep else ["run"],
                    dtype=object,
                ),
            ),
            "generation": ("generation", self.generations.astype(np.int32)),
            "quantile": ("quantile", np.asarray(self.quantiles, np.float64)),
        }
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def __repr__(self) -> str:
        mets = ", ".join(self.stats)
        failed = int(np.sum(np.asarray(self.failed_at) >= 0))
        return (
            f"SummaryResult({len(self.chain_ids)} chains, {self.generations.size} "
            f"recorded generations of {int(self.generations[-1])}; summaries of "
            f"{mets}; quantiles {list(self.quantiles)}; first passage "
            f"{sorted(self.first_passage)}; {failed} failed chain"
            f"{'s' if failed != 1 else ''})"
        )
