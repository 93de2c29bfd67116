"""Derived metrics: metrics a run computes from the params by functions given at run
time (``run_chains(extra_metrics={name: fn})``).

A family's own metrics (``ModelFamily.metrics``) are fixed when the family is built.
A question about a particular run, such as the share of a minority group
(:func:`collapse_jax.minority`), needs a metric that the family does not know; it is
given as ``fn(params) -> array``, a jittable function of one model (no chain axis: the
runner adds it with ``vmap``), and recorded like the family's own: per generation, at
generation 0 on the run's reference, in summaries and in ``first_passage``
predicates. The mechanism is a family with the extra metrics appended
(:func:`with_metrics`): the compiled core is unchanged, and the chain's bits do not
depend on which metrics are recorded.

A function may carry a method ``check(fn, arg, family, init, init_family)`` that
raises the house error message (:func:`collapse_jax.checks.fail`) when it cannot be
computed for that run (e.g. a group naming categories the family does not have); it
is called once, on the host, when the run is built.

Derived metrics see the model in the run's coordinates: when a location family's
truth sits far from the origin the run carries it in a translated frame
(:mod:`collapse_jax.frame`), so a derived metric should be translation-invariant
(weights, probabilities, variances, distances between fitted models).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp

from collapse_jax.checks import fail
from collapse_jax.families.base import ModelFamily, check_is_family

__all__ = ["with_metrics", "attach"]

_NAME_FIX = "Pass e.g. extra_metrics={'minority_share': cj.minority(categories=[0])}."


def _checked(fn: str, arg: str, extra: Any, family: ModelFamily, reserved=()):
    """``((name, function), ...)`` from a mapping, or the house error."""
    if not isinstance(extra, Mapping):
        fail(
            fn,
            arg,
            "a dict {name: function of the params}",
            type(extra).__name__,
            _NAME_FIX,
            error=TypeError,
        )
    taken = set(family.metric_names) | set(reserved)
    items = []
    for name, metric in extra.items():
        if not isinstance(name, str) or not name.isidentifier():
            fail(
                fn,
                f"{arg} keys",
                "metric names (identifiers such as 'minority_share')",
                name,
                _NAME_FIX,
                error=TypeError,
            )
        if name in taken:
            fail(
                fn,
                f"{arg}[{name!r}]",
                "a name that the run does not record "
                f"already (taken: {', '.join(sorted(taken))})",
                name,
                "Choose another name for the derived metric.",
            )
        if not callable(metric):
            fail(
                fn,
                f"{arg}[{name!r}]",
                "a function params -> array",
                type(metric).__name__,
                _NAME_FIX,
                error=TypeError,
            )
        items.append((name, metric))
    return tuple(items)


@functools.lru_cache(maxsize=128)
def _wrapped(family: ModelFamily, items: tuple[tuple[str, Callable], ...]):
    """The family with ``items`` appended to its metrics (cached: the same
    arguments give the same family object, so runs share one compiled program)."""
    base = family.metrics

    def metrics(params, truth):
        out = dict(base(params, truth))
        for name, metric in items:
            out[name] = jnp.asarray(metric(params))
        return out

    return family._replace(
        metrics=metrics, metric_names=family.metric_names + tuple(n for n, _ in items)
    )


def with_metrics(
    family: ModelFamily, extra: Mapping[str, Callable[[Any], Any]]
) -> ModelFamily:
    """``family`` with the derived metrics ``extra`` appended to its own.

    Args:
      family: a :class:`~collapse_jax.ModelFamily`.
      extra: ``{name: fn}`` with ``fn(params) -> array`` jittable (one model, no
        chain axis); hashable functions (a module-level function, a frozen
        dataclass such as :class:`~collapse_jax.minority.Minority`) let runs
        share one compiled program.

    Returns:
      A family whose ``metric_names`` end with the names of ``extra``; everything
      else is ``family``'s.

    Examples:
      >>> import collapse_jax as cj
      >>> fam = with_metrics(cj.categorical(3), {"first": lambda p: p.probs[0]})
      >>> fam.metric_names[-1]
      'first'
    """
    check_is_family("with_metrics", family)
    items = _checked("with_metrics", "extra", extra, family)
    return _wrapped(family, items) if items else family


def attach(fn: str, extra, family, init, init_family, regime):
    """``(family, init_family)`` of a run with ``extra_metrics=extra`` (None: as
    given), after each function's own ``check`` (in the wording of ``fn``). The
    names must differ from every metric the run records already (the family's,
    the distances to the truth, the regime's own).
    """
    from collapse_jax.run_checks import known_metrics

    if extra is None:
        return family, init_family
    source = family if init_family is None else init_family
    if not isinstance(family, ModelFamily) or not isinstance(source, ModelFamily):
        return family, init_family  # the run's own check names the family's error
    reserved = known_metrics(family, source, regime)[0]
    items = _checked(fn, "extra_metrics", extra, family, reserved)
    if any(callable(getattr(m, "check", None)) for _, m in items):
        source.validate_params(fn, "init", init)  # before a check reads it
    for name, metric in items:
        check = getattr(metric, "check", None)
        if callable(check):
            check(fn, f"extra_metrics[{name!r}]", family, init, init_family)
    if not items:
        return family, init_family
    wrapped = _wrapped(family, items)
    # The same object as family: a run of one family, not a cross-family one.
    return wrapped, (wrapped if init_family is family else init_family)
