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
it (:mod:`collapse_jax.experiments` does); the types are in
:mod:`collapse_jax.experiments._fields` (:class:`Field`) and
:mod:`collapse_jax.experiments._design` (the others), re-exported here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, cast

from collapse_jax import plugins
from collapse_jax.checks import fail
from collapse_jax.experiments._design import (
    Design,
    Experiment,
    Point,
    Preset,
    TheoryCurve,
)
from collapse_jax.experiments._fields import (  # noqa: F401 - re-exported
    _FALSE,
    _KINDS,
    _TRUE,
    COMMON_FIELDS,
    Field,
    _num,
)
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
    # Each add takes items of its kind only (the isinstance below): typed as one.
    kinds = cast(
        "tuple[tuple[type, Mapping[str, Any], Callable[[Any], Any]], ...]",
        ((Experiment, _EXPERIMENTS, register), (Preset, _PRESETS, register_preset)),
    )
    for kind, table, add in kinds:
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
