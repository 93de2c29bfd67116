"""What an experiment is: :class:`Experiment`, the :class:`Design` it builds, presets.

An :class:`Experiment` names its fields and a ``build(config) -> Design``; a
:class:`Design` holds the sweep :class:`Point` s, the metrics, the
:class:`TheoryCurve` s and the figures; a :class:`Preset` is a named configuration.
:mod:`collapse_jax.experiments.core` holds the registry and re-exports these types.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from collapse_jax._statistic import check_statistic
from collapse_jax.checks import fail
from collapse_jax.experiments._fields import COMMON_FIELDS, Field
from collapse_jax.wording import Wording, as_wording


@dataclasses.dataclass(frozen=True)
class Point:
    """One sweep point: a :func:`~collapse_jax.run_chains` call.

    Attributes:
      label: e.g. ``"M=100"``.
      coords: the swept settings at this point, e.g. ``{"sample_size": 100}``.
      family, init: the fitted family and the truth.
      options: other :func:`~collapse_jax.run_chains` keyword arguments
        (``sample_size``, ``regime``, ``sampler``, ``init_family``, ``sampling``,
        ``curation``); key, chain count, generations, dtype, chunking and devices
        come from the run.
    """

    label: str
    coords: Mapping[str, Any]
    family: Any
    init: Any
    options: Mapping[str, Any]


class TheoryCurve(NamedTuple):
    """The theory of one metric: what it states, at every sweep point.

    Attributes:
      label: the legend text, naming the statistic and the claim, e.g.
        ``"E log σ²ₙ (GC-3)"``.
      curves: one ``(num_generations + 1,)`` array per point (NaN where there is
        none).
      statistic: what the curve is a statistic of, across chains: ``"mean"`` (an
        expected value), ``"median"``, ``"quantile:<level>"`` or ``"probability"``
        (of a bool metric). Figures draw the same statistic of the chains beside
        it (:func:`collapse_jax.plots.plot_metric`).
    """

    label: str
    curves: Sequence[np.ndarray]
    statistic: str = "mean"


@dataclasses.dataclass(frozen=True)
class Design:
    """What an experiment runs and how its results are shown.

    Attributes:
      points: the sweep points, run one after another; chain ``c`` of every point
        has the same chain id (common random numbers).
      metrics: the metrics recorded at every point (same shapes at every point).
      title: the figures' title.
      theory: ``{metric: TheoryCurve(label, curves, statistic)}`` (a tuple
        ``(label, curves)`` or ``(label, curves, statistic)`` is converted; the
        statistic defaults to ``"mean"``) with one ``(num_generations + 1,)``
        array per point (NaN where there is none).
      figures: figure specs (:func:`collapse_jax.plots.figures`).
      log_metrics: metrics drawn on a log axis (multiplicative quantities).
      metric_labels: axis labels.
      params: ``params -> {name: array}`` (over leading axes), the model
        parameters to keep in the results file as ``params__<name>``, e.g. for
        density snapshots; None to keep none.
    """

    points: tuple[Point, ...]
    metrics: tuple[str, ...]
    title: str
    theory: Mapping[str, TheoryCurve] = dataclasses.field(default_factory=dict)
    figures: tuple[Mapping[str, Any], ...] = ()
    log_metrics: tuple[str, ...] = ()
    metric_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    params: Callable[[Any], Mapping[str, np.ndarray]] | None = None

    def __post_init__(self):
        theory = {}
        for metric, entry in dict(self.theory).items():
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                fail("Design", f"theory[{metric!r}]",
                     "a TheoryCurve(label, curves, statistic)", entry,
                     "Build it with TheoryCurve(label, curves, 'mean').",
                     error=TypeError)
            curve = TheoryCurve(*entry)
            theory[metric] = curve._replace(statistic=check_statistic(
                "Design", f"theory[{metric!r}].statistic", curve.statistic))
        object.__setattr__(self, "theory", theory)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment: fields, a design builder and a description.

    Attributes:
      name: e.g. ``"gaussian"``.
      description: one line for ``collapse-jax list``.
      fields: its own :class:`Field` s (the common ones are added).
      build: ``build(config) -> Design`` from the full configuration dict.
      check: ``check(config, wording)`` for constraints between fields (raise
        ValueError through :func:`collapse_jax.checks.fail`, naming fields with
        ``wording.field(name)`` so that the message speaks the caller's language:
        ``--flags`` or Python names; a ``check(config)`` of one argument is called
        without it), or None.
      details: a paragraph for ``collapse-jax list NAME`` (theory ids, sources).
    """

    name: str
    description: str
    fields: tuple[Field, ...]
    build: Callable[[dict[str, Any]], Design]
    check: Callable[..., None] | None = None
    details: str = ""

    @property
    def all_fields(self) -> tuple[Field, ...]:
        own = {f.name for f in self.fields}
        return self.fields + tuple(f for f in COMMON_FIELDS if f.name not in own)

    def field(self, name: str, where: str | Wording = "run") -> Field:
        """The field called ``name`` (dashes or underscores), with a clear error."""
        w = as_wording(where)
        key = name.lstrip("-").replace("-", "_") if isinstance(name, str) else name
        for f in self.all_fields:
            if f.name == key:
                return f
        names = [f.name for f in self.all_fields]
        close = difflib.get_close_matches(str(key), names, 1)
        hint = f" Did you mean {w.field(close[0])}?" if close else ""
        known = ", ".join(w.field(n) if w.cli else repr(n) for n in names)
        fail(
            w.fn,
            w.field(str(key)),
            f"a field of experiment {self.name!r}: {known}",
            name,
            f"`collapse-jax list {self.name}` shows the fields.{hint}",
        )

    def run_check(self, config: dict[str, Any], where: str | Wording) -> None:
        """Call :attr:`check` (with the wording when it takes one)."""
        if self.check is None:
            return
        try:
            takes = len(inspect.signature(self.check).parameters) >= 2
        except (TypeError, ValueError):  # a builtin without a signature
            takes = False
        if takes:
            self.check(config, as_wording(where))
        else:
            self.check(config)

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.all_fields}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration of an experiment (a paper's figure).

    Attributes:
      name: e.g. ``"gaussian-drift"``.
      experiment: the experiment's name.
      description: one line for ``collapse-jax list``.
      values: field values at the CPU-friendly default scale.
      full: field values changed at ``--scale full`` (the paper's sizes).
      source: the paper, figure or docs/theory.md ids it reproduces.
    """

    name: str
    experiment: str
    description: str
    values: Mapping[str, Any]
    full: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""
