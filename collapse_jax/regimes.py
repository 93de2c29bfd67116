"""Regimes: what each fit sees.

A regime is a value with a pure ``step`` that turns the current model (and the
regime's own per-chain state, e.g. a buffer of past data) into the next model. The
runner never branches on the regime: accumulate, mix and fresh-data regimes slot in
by providing another ``step`` and ``init``. Numbers one might sweep (fractions) go in
``hyper``, which the runner passes as a traced argument, so a sweep is one compile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.keys import GenerationKeys

__all__ = ["Regime", "replace", "source_data", "SAMPLERS"]

SAMPLERS = ("samples", "sufficient", "population")


class Regime(NamedTuple):
    """A data regime.

    Attributes:
      name: short name.
      samplers: the samplers this regime supports (subset of ``SAMPLERS``).
      init: ``(family, truth, n_max, dtype) -> state``, the regime's per-chain state
        (``()`` when it keeps none).
      step: ``(family, keys, params, state, sample_size, n_max, sampler, hyper,
        source=None) -> (params, state)``, one generation for one chain.
        ``sample_size`` is this generation's traced M_t; ``n_max`` the static
        maximum; ``sampler`` static. ``source`` is ``None`` or ``(source_family,
        source_params)``: the first fit of a run whose truth belongs to another
        family (the expressivity error); the data are then drawn from the source
        model and ``params`` (a model of ``family``) only warm-starts the fit.
      hyper: dynamic (traced, sweepable) numbers of the regime.
    """

    name: str
    samplers: tuple[str, ...]
    init: Callable[..., Any]
    step: Callable[..., tuple[Params, Any]]
    hyper: Any = ()


def _replace_init(family, truth, n_max, dtype):
    del family, truth, n_max, dtype
    return ()


def _replace_step(
    family: ModelFamily,
    keys: GenerationKeys,
    params,
    state,
    sample_size,
    n_max,
    sampler,
    hyper,
    source=None,
):
    del hyper
    if source is not None:
        return _draw_and_fit_source(
            family, keys, params, source, sample_size, n_max, sampler
        ), state
    if sampler == "population":
        return family.fit_population(params), state
    if sampler == "sufficient":
        return family.sample_fit(keys.sample, params, sample_size), state
    # Draw n_max points and mask to M_t through the weights: one compile serves every
    # schedule, and samplers are prefix-stable so the masked fit equals the unmasked
    # fit to M_t points (pinned by tests/test_keys.py).
    weights = _mask(n_max, sample_size, jax.tree.leaves(params)[0].dtype)
    return family.refit(keys.sample, keys.fit, params, weights), state


def _mask(n_max, sample_size, dtype):
    """Weights that keep the first ``sample_size`` of ``n_max`` draws."""
    float_dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32
    return (jnp.arange(n_max, dtype=jnp.int32) < sample_size).astype(float_dtype)


def source_data(family: ModelFamily, source_family: ModelFamily, data):
    """Draws of ``source_family`` as data ``family`` can fit.

    A categorical on a numeric support yields category indices; a continuous family
    fits their values (``source_family.numeric``).
    """
    if source_family.numeric is not None and family.numeric is None:
        return source_family.numeric(data)
    return data


def _draw_and_fit_source(family, keys, start, source, sample_size, n_max, sampler):
    """The first fit of a cross-family run: draw from the truth, fit ``family``."""
    source_family, source_params = source
    if sampler == "population":
        return family.fit_population_from(source_family, source_params)
    dtype = jax.tree.leaves(start)[0].dtype
    data = source_family.sample(keys.sample, source_params, n_max)
    data = jax.lax.optimization_barrier(source_data(family, source_family, data))
    if jnp.issubdtype(data.dtype, jnp.floating) and data.dtype != dtype:
        data = data.astype(dtype)
    return family.fit(keys.fit, data, _mask(n_max, sample_size, dtype), start)


@functools.cache
def replace() -> Regime:
    """Each model is fitted to the newest synthetic data only (THEORY SH-0, α = 1).

    Examples:
      >>> replace().name
      'replace'
    """
    return Regime("replace", SAMPLERS, _replace_init, _replace_step)
