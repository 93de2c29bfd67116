"""Sweeps: many settings of a run's traced numbers in one compiled program.

A regime's fractions and weights, a sampling bias's temperature or scale and a
curation's exponent are traced (``hyper``): :func:`sweep` gives every chain its own
value and runs all of them as one batch, so a sweep over 8 real-data fractions × 4,096
chains is one compile and one program. Chain ``c`` of every sweep point has the same
chain id and so the same keys (common random numbers across the sweep), and its
trajectory is bit for bit that of a :func:`~collapse_jax.run_chains` call with the
point's value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np

import jax

from collapse_jax import runspec
from collapse_jax.chain import execute
from collapse_jax.checks import described, fail
from collapse_jax.curation import Curation
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.regimes import Regime, replace
from collapse_jax.result import ChainResult
from collapse_jax.sampling import SamplingBias
from collapse_jax.status import failure_report
from collapse_jax.summaries import DEFAULT_QUANTILES, SummaryResult

__all__ = ["SweepResult", "sweep"]

_FN = "sweep"


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` returns (host NumPy arrays).

    Attributes:
      values: ``{name: (P,) + shape}`` the swept values, point by point.
      params: the params pytree with leading axes ``(P, num_chains,
        num_generations + 1)``, or None when ``record_params=False``.
      metrics: ``{name: array}`` with leading axes ``(P, num_chains,
        num_generations + 1)``.
      status: ``(P, num_chains, num_generations + 1)`` int32 status codes.
      chain_ids: ``(num_chains,)`` global chain ids (the same at every point).
      config: a JSON-serialisable description of the run.
      reference: as :attr:`ChainResult.reference`.
      origin, relative: as :attr:`ChainResult.origin` and
        :attr:`ChainResult.relative` (``relative`` with the leading sweep axis).
      generations: the recorded generations (the generation axis).
      first_passage: ``{name: (P, num_chains)}`` first-passage generations.
    """

    values: dict[str, np.ndarray]
    params: Params | None
    metrics: dict[str, np.ndarray]
    status: np.ndarray
    chain_ids: np.ndarray
    config: dict[str, Any]
    reference: Params | None = None
    origin: np.ndarray | None = None
    relative: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    generations: np.ndarray | None = None  # the recorded generations (thinning)
    first_passage: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def num_points(self) -> int:
        return int(self.status.shape[0])

    def failures(self, point: int | None = None) -> list[Any]:
        """Failed chains: of one point (``ChainFailure`` list), or of every point as
        ``(point, ChainFailure)`` pairs."""
        if point is not None:
            return failure_report(self.status[point], self.chain_ids)
        return [
            (p, f)
            for p in range(self.num_points)
            for f in failure_report(self.status[p], self.chain_ids)
        ]

    @property
    def ok(self) -> bool:
        """True when no chain failed at any point."""
        return not bool(np.any(self.status))

    def __repr__(self) -> str:
        p, c, n1 = np.shape(self.status)
        swept = ", ".join(f"{k} ({len(v)} values in [{np.min(v):g}, {np.max(v):g}])"
                          for k, v in self.values.items())
        mets = ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in self.metrics.items())
        failed = int(np.any(self.status != 0, axis=2).sum())
        return (
            f"SweepResult({p} points x {c} chains x {n1 - 1} generations over "
            f"{swept}; family={self.config.get('family')}; metrics: {mets}; "
            f"{failed} failed chain{'s' if failed != 1 else ''}"
            + (" (see .failures())" if failed else "") + ")"
        )


def _stacked(name, checker, seq):
    """The checked values of one swept name as one array with a leading point axis.

    A checker whose values may encode to different shapes (the web regime's
    synthetic share: a number, a schedule or a sequence) brings them to one with
    its ``stack(fn, arg, values)``; other values must already share a shape.
    """
    arg = f"over[{name!r}]"
    checked = [checker(_FN, arg, v) for v in seq]
    if not checked:
        fail(_FN, arg, "at least one value", [], "Pass values.")
    stack = getattr(checker, "stack", None)
    if stack is not None:
        return stack(_FN, arg, checked)
    shapes = sorted({np.shape(v) for v in checked})
    if len(shapes) > 1:
        fail(
            _FN,
            arg,
            "values of one shape (one traced array, one value per sweep point)",
            described(f"values of shapes {shapes}"),
            "Give every sweep point a value of the same shape.",
        )
    return np.asarray(checked)


def _swept_values(over, sweepable, checkers):
    if not isinstance(over, Mapping) or not over:
        fail(
            _FN,
            "over",
            "a non-empty dict {name: sequence of values}",
            over,
            f"Pass e.g. over={{'real_fraction': [0.0, 0.25, 0.5]}}; sweepable "
            f"names here: {list(sweepable)}.",
            error=TypeError,
        )
    values: dict[str, np.ndarray] = {}
    points = None
    for name, seq in over.items():
        if name not in sweepable:
            fail(
                _FN,
                "over",
                f"names of this run's sweepable settings {list(sweepable)}",
                name,
                "Sweep a traced number of the regime, sampling bias or curation "
                "(give the regime a value for it first, e.g. cj.mix(0.5)).",
            )
        if isinstance(seq, str | bytes) or not isinstance(
            seq, Sequence | np.ndarray | jax.Array
        ):
            fail(
                _FN,
                f"over[{name!r}]",
                "a sequence of values",
                seq,
                "Pass a list or a 1-D array.",
                error=TypeError,
            )
        arr = _stacked(name, checkers[name], seq)
        if points is None:
            points = arr.shape[0]
        elif arr.shape[0] != points:
            fail(
                _FN,
                "over",
                "sequences of one length (one value per sweep point)",
                described(f"{name!r} has {arr.shape[0]}, others {points}"),
                "Give every swept name the same number of values.",
            )
        values[name] = arr
    return values


# The return type follows `output` (as run_chains'): records give a SweepResult,
# summaries a SummaryResult.
# fmt: off
@overload
def sweep(
    family: ModelFamily, init: Params, *, over: Mapping[str, Sequence[Any]],
    key: int | jax.Array, num_chains: int, num_generations: int,
    sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = ..., sampler: str = ..., dtype: str = ...,
    init_family: ModelFamily | None = ..., first_chain: int = ...,
    chunk_size: int | None = ..., progress: Callable[[int, int], None] | None = ...,
    metrics: Sequence[str] | None = ..., record_params: bool = ...,
    sampling: SamplingBias | None = ..., curation: Curation | None = ...,
    devices=..., record_every: int | None = ..., record_at: Sequence[int] | None = ...,
    output: Literal["records"] = ...,
    quantiles: Sequence[float] = ...,
    first_passage: Mapping[str, tuple[str, str, float]] | None = ...,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = ...,
) -> SweepResult: ...
@overload
def sweep(
    family: ModelFamily, init: Params, *, over: Mapping[str, Sequence[Any]],
    key: int | jax.Array, num_chains: int, num_generations: int,
    sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = ..., sampler: str = ..., dtype: str = ...,
    init_family: ModelFamily | None = ..., first_chain: int = ...,
    chunk_size: int | None = ..., progress: Callable[[int, int], None] | None = ...,
    metrics: Sequence[str] | None = ..., record_params: bool = ...,
    sampling: SamplingBias | None = ..., curation: Curation | None = ...,
    devices=..., record_every: int | None = ..., record_at: Sequence[int] | None = ...,
    output: Literal["summaries"],
    quantiles: Sequence[float] = ...,
    first_passage: Mapping[str, tuple[str, str, float]] | None = ...,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = ...,
) -> SummaryResult: ...
@overload
def sweep(
    family: ModelFamily, init: Params, *, over: Mapping[str, Sequence[Any]],
    key: int | jax.Array, num_chains: int, num_generations: int,
    sample_size: int | Sequence[int] | np.ndarray | None,
    regime: Regime | None = ..., sampler: str = ..., dtype: str = ...,
    init_family: ModelFamily | None = ..., first_chain: int = ...,
    chunk_size: int | None = ..., progress: Callable[[int, int], None] | None = ...,
    metrics: Sequence[str] | None = ..., record_params: bool = ...,
    sampling: SamplingBias | None = ..., curation: Curation | None = ...,
    devices=..., record_every: int | None = ..., record_at: Sequence[int] | None = ...,
    output: str,
    quantiles: Sequence[float] = ...,
    first_passage: Mapping[str, tuple[str, str, float]] | None = ...,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = ...,
) -> SweepResult | SummaryResult: ...
# fmt: on


def sweep(
    family: ModelFamily,
    init: Params,
    *,
    over: Mapping[str, Sequence[Any]],
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
    record_params: bool = False,
    sampling: SamplingBias | None = None,
    curation: Curation | None = None,
    devices=None,
    record_every: int | None = None,
    record_at: Sequence[int] | None = None,
    output: str = "records",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    first_passage: Mapping[str, tuple[str, str, float]] | None = None,
    extra_metrics: Mapping[str, Callable[[Any], Any]] | None = None,
) -> SweepResult | SummaryResult:
    """Run ``num_chains`` chains at every point of a sweep, as one program.

    Args:
      over: ``{name: values}``: the traced settings to vary, one value per sweep
        point (names such as ``"real_fraction"`` of :func:`~collapse_jax.mix` or
        :func:`~collapse_jax.fresh`, ``"fraction"`` of
        :func:`~collapse_jax.retain_original`, ``"alpha"``/``"beta"``/``"gamma"`` of
        :func:`~collapse_jax.general_mix`, ``"variance_scale"``,
        ``"temperature"``, ``"top_k"``, ``"top_p"``, ``"repetition_penalty"``,
        ``"tail_exponent"``, ``"keep_fraction"``, ``"diversity_quota"``,
        ``"synthetic_share"``/``"recall"``/``"false_positive_rate"`` of
        :func:`~collapse_jax.web`: its share axis may mix numbers, schedules and
        sequences of ``num_generations`` shares). Several names are varied
        together (zipped).
      record_params: default False (a sweep is usually large).
      others: as :func:`~collapse_jax.run_chains` (thinning with
        ``record_every``/``record_at``, ``output="summaries"``, ``first_passage``
        and ``extra_metrics`` included); the regime, bias and curation give the
        settings that are not swept.

    Returns:
      A :class:`SweepResult` whose arrays have a leading sweep axis; with
      ``output="summaries"`` a :class:`~collapse_jax.summaries.SummaryResult`
      whose statistics have a leading sweep axis (one summary per point) and
      whose per-chain arrays are ``(P, num_chains)``.

    Examples:
      >>> import collapse_jax as cj
      >>> res = cj.sweep(cj.gaussian(), cj.gaussian_params(0.0, 1.0),
      ...                regime=cj.fresh(10, real_fraction=0.5),
      ...                over={"real_fraction": [0.0, 0.5, 1.0]}, key=0,
      ...                num_chains=8, num_generations=4, sample_size=10)
      >>> res.metrics["log_var"].shape
      (3, 8, 5, 1)
    """
    regime = replace() if regime is None else regime
    if not isinstance(regime, Regime):
        fail(
            _FN,
            "regime",
            "a regime such as cj.mix(0.5)",
            type(regime).__name__,
            "Pass a regime built by a regime factory.",
            error=TypeError,
        )
    _, checkers, sweepable = runspec.merged_hyper(_FN, regime, sampling, curation)
    values = _swept_values(over, sweepable, checkers)
    names = tuple(values)
    spec = runspec.build(
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
        sweep=(names, values),
        devices=devices,
        runner=execute,
        record_every=record_every,
        record_at=record_at,
        output=output,
        quantiles=quantiles,
        first_passage=first_passage,
        extra_metrics=extra_metrics,
    )
    res = execute(spec, progress)
    points = next(iter(values.values())).shape[0]
    c = len(res.chain_ids) // points

    def split(x):
        x = np.asarray(x)
        return x.reshape((points, c) + x.shape[1:])

    config = dict(res.config, sweep={k: v.tolist() for k, v in values.items()})
    if isinstance(res, SummaryResult):
        return dataclasses.replace(
            res,
            first_passage={k: split(v) for k, v in res.first_passage.items()},
            failed_at=split(res.failed_at),
            chain_ids=res.chain_ids[:c],
            config=config,
        )
    assert isinstance(res, ChainResult)  # output="records"
    return SweepResult(
        values,
        None if res.params is None else jax.tree.map(split, res.params),
        {k: split(v) for k, v in res.metrics.items()},
        split(res.status),
        res.chain_ids[:c],
        config,
        res.reference,
        res.origin,
        {k: split(v) for k, v in res.relative.items()},
        res.generations,
        {k: split(v) for k, v in res.first_passage.items()},
    )
