"""The regime registry: name -> factory, for everything that picks a regime by name.

The CLI's presets, the verify claims and :func:`regime_names` all read this one
table. A built-in regime registers itself next to its factory; a fork registers its
own with one line, ``register_regime("best_half", best_half)``, and it is then
reachable wherever a regime is named.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from collapse_jax.checks import described, fail

__all__ = [
    "RegimeEntry",
    "register_regime",
    "regime_names",
    "regime_entry",
    "make_regime",
    "options_of",
]


class RegimeEntry(NamedTuple):
    """A registered regime.

    Attributes:
      name: the name it is reached by.
      factory: ``(**options) -> Regime``.
      options: the keyword options ``factory`` takes (from its signature).
      required: those of ``options`` without a default.
      summary: the first line of the factory's docstring.
    """

    name: str
    factory: Callable[..., Any]
    options: tuple[str, ...]
    required: tuple[str, ...]
    summary: str


_REGIMES: dict[str, RegimeEntry] = {}


def _options(fn: str, factory: Callable[..., Any]) -> tuple[tuple, tuple]:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        fail(
            fn,
            "factory",
            "a function with an inspectable signature (its options)",
            factory,
            "Register a plain function (or functools.cache of one) returning a Regime.",
            error=TypeError,
        )
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = [p for p in sig.parameters.values() if p.kind in kinds]
    options = tuple(p.name for p in params)
    required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
    return options, required


def register_regime(name: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``factory`` under ``name``; return ``factory`` (usable as a decorator
    via ``functools.partial(register_regime, name)``).

    Args:
      name: the regime's name (a Python identifier), unique among registered ones.
      factory: a function of keyword options returning a
        :class:`~collapse_jax.regimes.Regime`, e.g. :func:`collapse_jax.mix`.

    Examples:
      >>> "mix" in regime_names()
      True
    """
    fn = "register_regime"
    if not isinstance(name, str) or not name.isidentifier():
        fail(
            fn,
            "name",
            "a regime name (a Python identifier, e.g. 'best_half')",
            name,
            "Name the regime as users will type it.",
            error=TypeError if not isinstance(name, str) else ValueError,
        )
    if not callable(factory):
        fail(
            fn,
            "factory",
            "a callable returning a Regime",
            factory,
            "Pass the regime's factory function, e.g. register_regime('mine', mine).",
            error=TypeError,
        )
    old = _REGIMES.get(name)
    if old is not None and old.factory is not factory:
        fail(
            fn,
            "name",
            "a name no other regime has",
            described(f"'{name}', registered by {_where(old.factory)}"),
            "Pick another name for this regime.",
        )
    options, required = _options(fn, factory)
    doc = inspect.getdoc(factory) or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    _REGIMES[name] = RegimeEntry(name, factory, options, required, summary)
    return factory


def _where(factory) -> str:
    module = getattr(factory, "__module__", None) or "?"
    return f"{module}.{getattr(factory, '__qualname__', repr(factory))}"


def regime_names() -> tuple[str, ...]:
    """The names of every registered regime (built-in first, then in order of
    registration).

    Examples:
      >>> regime_names()[:3]
      ('replace', 'accumulate', 'accumulate_subsample')
    """
    return tuple(_REGIMES)


def regime_entry(name: str, *, fn: str = "regime_entry") -> RegimeEntry:
    """The :class:`RegimeEntry` of ``name``, or the house error naming the choices."""
    entry = _REGIMES.get(name) if isinstance(name, str) else None
    if entry is None:
        fail(
            fn,
            "name",
            f"a registered regime ({', '.join(_REGIMES)})",
            name,
            "Pick one of these, or register yours with "
            "collapse_jax.register_regime(name, factory).",
        )
    return entry


def make_regime(name: str, **options: Any):
    """Build the registered regime ``name`` from keyword options.

    Args:
      name: a name in :func:`regime_names`.
      **options: the factory's keyword options (``regime_entry(name).options``).

    Returns:
      The :class:`~collapse_jax.regimes.Regime`.

    Examples:
      >>> make_regime("fresh", num_real=10).describe["num_real"]
      10
    """
    fn = "make_regime"
    entry = regime_entry(name, fn=fn)
    unknown = [k for k in options if k not in entry.options]
    if unknown:
        fail(
            fn,
            unknown[0],
            f"an option of the {name} regime ({', '.join(entry.options) or 'none'})",
            described(f"{unknown[0]}={options[unknown[0]]!r}"),
            "Drop it, or pick a regime that takes it.",
            error=TypeError,
        )
    missing = [k for k in entry.required if k not in options]
    if missing:
        fail(
            fn,
            missing[0],
            f"given: the {name} regime needs {', '.join(entry.required)}",
            described("nothing"),
            f"Pass {missing[0]}=... .",
            error=TypeError,
        )
    return entry.factory(**options)


def options_of(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``settings`` that regime ``name`` takes as options.

    For callers holding one set of settings for several regimes (a preset's
    ``real_fraction`` and ``num_real``): each regime gets what it takes.
    """
    entry = regime_entry(name, fn="options_of")
    return {k: v for k, v in settings.items() if k in entry.options}
