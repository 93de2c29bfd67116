"""Extension points a fork's package fills through entry points.

A research fork adds experiments, presets and verify claims in its own package and
declares them in its ``pyproject.toml``; ``collapse-jax list``, ``run``,
``reproduce`` and ``verify`` then see them beside the built-in ones::

    [project.entry-points."collapse_jax.experiments"]
    my_fork = "my_fork.presets"        # experiments and presets

    [project.entry-points."collapse_jax.claims"]
    my_fork = "my_fork.claims"         # verify claims

Each entry point names an object (``module`` or ``module:attribute``):

* group ``collapse_jax.experiments``: an
  :class:`~collapse_jax.experiments.Experiment` or
  :class:`~collapse_jax.experiments.Preset`, an iterable of them, or a module whose
  ``EXPERIMENTS`` and ``PRESETS`` hold them (a module that calls
  :func:`~collapse_jax.experiments.register` itself on import works too). The
  experiments of every plugin are registered before the presets.
* group ``collapse_jax.claims``: a :class:`~collapse_jax.claims.registry.Claim`, an
  iterable of them, or a module whose ``CLAIMS`` holds them; verify runs them after
  the built-in claims, in the entry points' order.

Entry points load lazily, once, the first time a listing or a lookup needs them.
A plugin that fails to import, holds the wrong kind of object or reuses a taken
name is skipped with a :class:`PluginWarning` naming its distribution and entry
point: a broken plugin never stops the command line.

This module imports nothing of the package (the registries import it).
"""

from __future__ import annotations

import functools
import importlib.metadata
import types
import warnings
from collections.abc import Iterable

__all__ = ["CLAIMS", "EXPERIMENTS", "GROUPS", "PluginWarning", "entries", "objects"]

#: The entry-point group of experiments and presets.
EXPERIMENTS = "collapse_jax.experiments"
#: The entry-point group of verify claims.
CLAIMS = "collapse_jax.claims"
GROUPS = (EXPERIMENTS, CLAIMS)


class PluginWarning(UserWarning):
    """A plugin (an entry point of a fork's package) was skipped."""


def warn(where: str, problem: str) -> None:
    """Warn that the plugin ``where`` is skipped, and why."""
    warnings.warn(
        f"collapse_jax: skipped the plugin {where}: {problem}. Fix or uninstall "
        "that distribution; the built-in entries are unaffected.",
        PluginWarning,
        stacklevel=3,
    )


def _where(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown"
    return f"{ep.name} = {ep.value!r} (group {ep.group}, distribution {name})"


@functools.cache
def entries(group: str) -> tuple[tuple[str, object], ...]:
    """The loaded entry points of ``group``: ``(where, object)`` pairs, in order.

    ``where`` names the entry point and its distribution (for messages). An entry
    point that fails to load is skipped with a :class:`PluginWarning`. Loaded once;
    ``entries.cache_clear()`` loads them again.
    """
    out = []
    seen = set()
    for ep in importlib.metadata.entry_points(group=group):
        # A distribution found twice on sys.path lists its entry points twice.
        if (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        where = _where(ep)
        try:
            obj = ep.load()
        except Exception as err:  # noqa: BLE001 - any import error of a plugin
            warn(where, f"loading it raised {type(err).__name__}: {err}")
            continue
        out.append((where, obj))
    return tuple(out)


def objects(
    group: str, kinds: type | tuple[type, ...], attributes: Iterable[str]
) -> list[tuple[str, list]]:
    """The objects of ``kinds`` each entry point of ``group`` provides.

    Args:
      group: :data:`EXPERIMENTS` or :data:`CLAIMS`.
      kinds: the accepted classes.
      attributes: the module attributes that hold them (``("CLAIMS",)``), in order.

    Returns:
      ``(where, [objects])`` per entry point that loaded and holds only objects of
      ``kinds`` (the others are skipped with a :class:`PluginWarning`).
    """
    attributes = tuple(attributes)
    out = []
    for where, obj in entries(group):
        if isinstance(obj, types.ModuleType):
            items = [x for a in attributes for x in _as_list(getattr(obj, a, ()))]
        else:
            items = _as_list(obj)
        bad = [x for x in items if not isinstance(x, kinds)]
        if bad:
            names = (
                "|".join(k.__name__ for k in kinds)
                if isinstance(kinds, tuple)
                else kinds.__name__
            )
            warn(where, f"it holds {bad[0]!r}, not a {names}")
            continue
        out.append((where, items))
    return out


def _as_list(obj) -> list:
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        return list(obj)
    return [obj]
