"""Experiments and presets: named, validated configurations that the CLI can run.

An :class:`Experiment` is a set of typed :class:`Field` s (each settable from the
command line as ``--field value``) and a ``build`` function that turns a full
configuration into a :class:`Design`: the sweep points to run (each one
:func:`~collapse_jax.run_chains` call), the metrics to record, the theory curves and
the figures. A :class:`Preset` is a named configuration of an experiment, at a
CPU-friendly size and a ``--scale full`` size (the paper's).

Every experiment also has the fields ``num_chains``, ``num_generations`` and
``dtype``. Research forks add their own with :func:`register` and
:func:`register_preset`, or from their own package through the entry-point group
``collapse_jax.experiments`` (:mod:`collapse_jax.plugins`), loaded on the first
lookup. This module holds the registry and never imports the catalogs that fill
it (:mod:`collapse_jax.experiments` does).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from collapse_jax import plugins
from collapse_jax._statistic import check_statistic
from collapse_jax.checks import fail
from collapse_jax.wording import Wording, as_wording

__all__ = [
    "Field",
    "Point",
    "TheoryCurve",
    "Design",
    "Experiment",
    "Preset",
    "register",
    "register_preset",
    "experiments",
    "presets",
    "get_experiment",
    "get_preset",
    "resolve_config",
    "applicable",
    "SCALES",
]

SCALES = ("default", "full")
_KINDS = ("int", "float", "str", "bool", "ints", "floats", "strs")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclasses.dataclass(frozen=True)
class Field:
    """One setting of an experiment.

    Attributes:
      name: the Python name (``sample_size``); on the command line
        ``--sample-size`` (``--sample_size`` works too).
      kind: ``"int"``, ``"float"``, ``"str"``, ``"bool"``, or a list of them
        (``"ints"``, ``"floats"``, ``"strs"``; comma-separated on the command line).
        A list field is swept: the experiment runs one point per value.
      default: the value when neither the preset nor the user sets it.
      help: one line for ``--help`` and ``collapse-jax list``.
      choices: allowed values (for str kinds), or empty.
      minimum, maximum: inclusive bounds (for numeric kinds), or None.
      allow_none: whether ``None`` (``none`` on the command line) is allowed.
      applies: ``{other_field: values}``: the field is used only when every
        ``other_field`` takes one of ``values`` (a list field: when one of its
        values does), e.g. ``{"regime": ("mix", "fresh")}`` for a real-data
        share; setting it otherwise is refused (it would be ignored). Empty:
        always used.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    allow_none: bool = False
    applies: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"Field {self.name!r}: kind must be one of {_KINDS}")
        # Stored as a tuple of pairs: a Field stays hashable.
        object.__setattr__(self, "applies", tuple(
            (k, tuple(v)) for k, v in dict(self.applies).items()))

    def unused_by(self, config: Mapping[str, Any]) -> tuple[str, Any] | None:
        """``(other_field, value)`` that makes this field unused, or None."""
        for other, values in self.applies:
            have = config.get(other)
            seq = have if isinstance(have, list | tuple) else [have]
            if not any(v in values for v in seq):
                return other, have
        return None

    @property
    def option(self) -> str:
        """The command-line spelling, ``--sample-size``."""
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """``kind, default, choices/range`` for help texts."""
        parts = [self.kind]
        if self.choices:
            parts.append("one of " + "|".join(map(str, self.choices)))
        if self.minimum is not None or self.maximum is not None:
            lo = "-inf" if self.minimum is None else _num(self.minimum)
            hi = "inf" if self.maximum is None else _num(self.maximum)
            parts.append(f"in [{lo}, {hi}]")
        return ", ".join(parts)

    def parse(self, text: str, where: str | Wording) -> Any:
        """Convert command-line text to this field's type, then :meth:`check` it.

        ``where``: the entry point's :class:`~collapse_jax.wording.Wording` (a plain
        name: a command, whose messages use ``--flags``).
        """
        if not isinstance(text, str):
            return self.check(text, where)
        if self.allow_none and text.strip().lower() == "none":
            return None
        scalar = self.kind.rstrip("s")  # "ints" -> "int"; "bool" stays
        if self.kind.endswith("s"):
            items = [t.strip() for t in text.split(",") if t.strip()]
            value = [self._convert(scalar, t, where) for t in items]
        else:
            value = self._convert(scalar, text.strip(), where)
        return self.check(value, where)

    def _convert(self, scalar: str, text: str, where: str | Wording) -> Any:
        try:
            if scalar == "int":
                return int(text)
            if scalar == "float":
                return float(text)
            if scalar == "bool":
                low = text.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(text)
            return text
        except ValueError:
            w = as_wording(where)
            fail(
                w.fn,
                w.field(self.name),
                f"{'an' if scalar == 'int' else 'a'} {scalar}"
                + (" (true/false)" if scalar == "bool" else ""),
                text,
                f"Pass e.g. {self._pass(w)}.",
            )

    def _example(self) -> str:
        d = self.default
        if isinstance(d, list | tuple):
            return ",".join(map(str, d)) if d else "1,2"
        return str(d).lower() if isinstance(d, bool) else str(d)

    def _pass(self, w: Wording) -> str:
        """This field set to an example value, in ``w``'s spelling."""
        if w.cli:
            return f"{w.field(self.name)} {self._example()}"
        d = self.default
        if isinstance(d, list | tuple):
            d = list(d) if d else [1, 2]
        return w.field_value(self.name, d)

    def check(self, value: Any, where: str | Wording) -> Any:
        """Validate a Python value; return it normalised (lists as lists)."""
        where = as_wording(where)
        if value is None:
            if self.allow_none:
                return None
            fail(
                where.fn,
                where.field(self.name),
                f"a value of kind {self.describe()}",
                None,
                f"Pass e.g. {self._pass(where)}.",
                error=TypeError,
            )
        if self.kind.endswith("s"):
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                value = [value]
            if not value:
                fail(
                    where.fn,
                    where.field(self.name),
                    "a non-empty list",
                    value,
                    f"Pass e.g. {self._pass(where)}.",
                )
            out = [self._check_scalar(self.kind[:-1], v, where) for v in value]
            if len(set(out)) != len(out):
                fail(
                    where.fn,
                    where.field(self.name),
                    "distinct values",
                    value,
                    "Remove the repeats.",
                )
            return out
        return self._check_scalar(self.kind, value, where)

    def _check_scalar(self, kind: str, value: Any, where: Wording) -> Any:
        ok_type = {
            "int": isinstance(value, numbers.Integral) and not isinstance(value, bool),
            "float": isinstance(value, numbers.Real) and not isinstance(value, bool),
            "str": isinstance(value, str),
            "bool": isinstance(value, bool | np.bool_),
        }[kind]
        if not ok_type:
            fail(
                where.fn,
                where.field(self.name),
                f"{kind} values ({self.describe()})",
                f"{value!r} ({type(value).__name__})",
                f"Pass e.g. {self._pass(where)}.",
                error=TypeError,
            )
        if kind == "int":
            value = int(value)
        elif kind == "float":
            value = float(value)
            if not math.isfinite(value):
                fail(
                    where.fn,
                    where.field(self.name),
                    "a finite number",
                    value,
                    f"Pass e.g. {self._pass(where)}.",
                )
        elif kind == "bool":
            value = bool(value)
        if self.choices and value not in self.choices:
            close = difflib.get_close_matches(str(value), map(str, self.choices), 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            fail(
                where.fn,
                where.field(self.name),
                f"one of {', '.join(map(str, self.choices))}",
                value,
                f"Pick one of the choices.{hint}",
            )
        if kind in ("int", "float"):
            lo, hi = self.minimum, self.maximum
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                rng = f"[{'-inf' if lo is None else _num(lo)}, "
                rng += f"{'inf' if hi is None else _num(hi)}]"
                fail(
                    where.fn,
                    where.field(self.name),
                    f"a value in {rng}",
                    value,
                    f"Pass a value in {rng}.",
                )
        return value


def _num(x) -> str:
    """A bound as printed in ranges: integers in full (``2,147,483,647``)."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


#: Fields every experiment has.
COMMON_FIELDS = (
    Field("num_chains", "int", 256, "independent chains per sweep point", minimum=1,
          maximum=2**31 - 1),
    Field("num_generations", "int", 100, "fits per chain (generation 0 is the truth)",
          minimum=1, maximum=10**7),
    Field("dtype", "str", "float32", "float32, or float64 (needs --x64)",
          choices=("float32", "float64")),
)


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


_EXPERIMENTS: dict[str, Experiment] = {}
_PRESETS: dict[str, Preset] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry (a new name, or replace a fork's own)."""
    if not isinstance(experiment, Experiment):
        fail("register", "experiment", "an Experiment", type(experiment).__name__,
             "Build one with Experiment(...).", error=TypeError)
    _EXPERIMENTS[experiment.name] = experiment
    return experiment


def register_preset(preset: Preset) -> Preset:
    """Add a preset; its experiment must be registered and its values valid."""
    if not isinstance(preset, Preset):
        fail("register_preset", "preset", "a Preset", type(preset).__name__,
             "Build one with Preset(...).", error=TypeError)
    # Registered already (a catalog registers an experiment, then its presets): no
    # plugin load mid-way through a catalog.
    exp = _EXPERIMENTS.get(preset.experiment) or get_experiment(
        preset.experiment, "register_preset"
    )
    w = Wording("register_preset", container="values")
    for values in (preset.values, {**preset.values, **preset.full}):
        for k, v in values.items():
            exp.field(k, w).check(v, w)
    _PRESETS[preset.name] = preset
    return preset


def experiments() -> dict[str, Experiment]:
    """The registered experiments, by name."""
    _load_plugins()
    return dict(_EXPERIMENTS)


def presets() -> dict[str, Preset]:
    """The registered presets, by name."""
    _load_plugins()
    return dict(_PRESETS)


def _unknown(fn, arg, kind, name, known, fix):
    close = difflib.get_close_matches(str(name), known, 1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    fail(fn, arg, f"a known {kind}: {', '.join(known)}", name, fix + hint)


def get_experiment(name: str, where: str = "run") -> Experiment:
    """The experiment called ``name``, with a clear error listing the known ones."""
    _load_plugins()
    if not isinstance(name, str) or name not in _EXPERIMENTS:
        _unknown(where, "experiment", "experiment", name, sorted(_EXPERIMENTS),
                 "`collapse-jax list` shows them.")
    return _EXPERIMENTS[name]


def get_preset(name: str, where: str = "run") -> Preset:
    """The preset called ``name``, with a clear error listing the known ones."""
    _load_plugins()
    if not isinstance(name, str) or name not in _PRESETS:
        _unknown(where, "preset", "preset", name, sorted(_PRESETS),
                 "`collapse-jax list` shows them.")
    return _PRESETS[name]


def resolve_config(
    experiment: str | Experiment,
    *,
    preset: str | None = None,
    scale: str = "default",
    overrides: Mapping[str, Any] | None = None,
    where: str | Wording = "run",
    refuse_unused: bool = True,
) -> dict[str, Any]:
    """The full configuration: defaults, then the preset (at ``scale``), then yours.

    Override values may be Python values or command-line text (converted per the
    field's kind). Every value is validated, then the experiment's own ``check``.
    An override of a field that the configuration does not use (its
    :attr:`Field.applies` condition fails, e.g. a real-data share with regime
    replace) is refused rather than silently ignored.

    Args:
      where: the entry point's :class:`~collapse_jax.wording.Wording` (a plain
        name is a command: messages then name ``--flags``).
      refuse_unused: False to accept overrides of unused fields (a stored full
        configuration, e.g. when a run is resumed).

    Returns:
      ``{field: value}`` for every field of the experiment.
    """
    w = as_wording(where)
    exp = experiment if isinstance(experiment, Experiment) else get_experiment(
        experiment, w.fn
    )
    if scale not in SCALES:
        fail(w.fn, w.option("scale"), f"one of {SCALES}", scale,
             f"Pass {w.option_value('scale', 'default')} or "
             f"{w.option_value('scale', 'full')}.")
    config = exp.defaults()
    if preset is not None:
        p = get_preset(preset, w.fn)
        if p.experiment != exp.name:
            fail(w.fn, "preset",
                 f"a preset of experiment {exp.name!r}: "
                 + ", ".join(sorted(n for n, q in _PRESETS.items()
                                    if q.experiment == exp.name)),
                 preset, f"Preset {preset!r} belongs to {p.experiment!r}.")
        config.update(p.values)
        if scale == "full":
            config.update(p.full)
    if overrides is not None and not isinstance(overrides, Mapping):
        fail(w.fn, "overrides", "a mapping {field: value}", type(overrides).__name__,
             "Pass e.g. overrides={'num_chains': 64}.", error=TypeError)
    given = []
    for k, v in (overrides or {}).items():
        f = exp.field(k, w)
        config[f.name] = f.parse(v, w)  # text is converted, values checked
        given.append(f)
    for f in exp.all_fields:
        config[f.name] = f.check(config[f.name], w)
    if refuse_unused:
        for f in given:
            _refuse_unused(w, f, config)
    exp.run_check(config, w)
    return config


def _refuse_unused(w: Wording, f: Field, config: Mapping[str, Any]) -> None:
    """Refuse a setting the configuration would ignore (Field.applies)."""
    why = f.unused_by(config)
    if why is None:
        return
    other, have = why
    allowed = dict(f.applies)[other]
    shown = "|".join(map(str, allowed))
    fail(
        w.fn,
        w.field(f.name),
        f"left unset unless {w.field(other)} is {shown} (it is used only then)",
        config[f.name],
        f"Drop {w.field(f.name)} (with {w.field_value(other, have)} it would be "
        f"ignored), or pass e.g. {w.field_value(other, allowed[0])}.",
    )


def applicable(experiment: str | Experiment, config: Mapping[str, Any]
               ) -> dict[str, Any]:
    """The entries of a full configuration that it uses (see :attr:`Field.applies`).

    ``resolve_config(experiment, overrides=applicable(experiment, config))`` gives
    ``config`` back, without refusing the unused fields' stored defaults.
    """
    exp = experiment if isinstance(experiment, Experiment) else get_experiment(
        experiment, "applicable"
    )
    names = {f.name: f for f in exp.all_fields}
    return {k: v for k, v in config.items()
            if k not in names or names[k].unused_by(config) is None}


_plugins_loaded = False


def _load_plugins() -> None:
    """Register the experiments and presets of the entry points, once.

    The built-in catalogs register on import (:mod:`collapse_jax.experiments`
    imports them); a fork's package adds its own through the entry-point group
    ``collapse_jax.experiments`` (:mod:`collapse_jax.plugins`): every plugin's
    experiments first, then the presets. A name that is taken, or a preset whose
    values its experiment refuses, skips that entry with a warning.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # before loading: a plugin's own register_preset looks up
    found = plugins.objects(
        plugins.EXPERIMENTS, (Experiment, Preset), ("EXPERIMENTS", "PRESETS")
    )
    for kind, table, add in (
        (Experiment, _EXPERIMENTS, register),
        (Preset, _PRESETS, register_preset),
    ):
        for where, items in found:
            for item in items:
                if not isinstance(item, kind) or table.get(item.name) is item:
                    continue  # the other kind, or registered by the plugin itself
                if item.name in table:
                    plugins.warn(
                        where,
                        f"the {kind.__name__.lower()} name {item.name!r} is taken",
                    )
                    continue
                try:
                    add(item)
                except (TypeError, ValueError) as err:
                    plugins.warn(where, f"{kind.__name__} {item.name!r}: {err}")
