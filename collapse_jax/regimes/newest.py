"""The :func:`replace` regime: each fit sees the newest synthetic draws only."""

from __future__ import annotations

import functools

from collapse_jax.regimes.base import SAMPLERS, Regime, StepContext
from collapse_jax.regimes.buffers import no_state
from collapse_jax.regimes.pipeline import distort, fit, float_dtype, mask, synthetic

__all__ = ["replace"]


def _replace_step(ctx: StepContext, params, state):
    family = ctx.family
    custom_draws = ctx.curation is not None or (
        ctx.sampling is not None and ctx.sampling.sample is not None
    )
    if ctx.first_source and ctx.sampler == "population":
        # run_checks refuses a cross-family truth without it, and the population
        # limit (sample_size=None) without fit_population.
        assert family.fit_population_from is not None
        return family.fit_population_from(ctx.truth_family, ctx.truth), state
    if ctx.first_source or custom_draws:
        data, weights = synthetic(ctx, params)
        return fit(ctx, data, weights, params), state
    model = distort(ctx, params)
    if ctx.sampler == "population":
        assert family.fit_population is not None  # checked by run_checks
        return family.fit_population(model), state
    if ctx.sampler == "sufficient":
        assert family.sample_fit is not None  # checked by run_checks
        return family.sample_fit(ctx.keys.sample, model, ctx.sample_size), state
    # Draw n_max points and mask to M_t through the weights: one compile serves every
    # schedule, and samplers are prefix-stable so the masked fit equals the unmasked
    # fit to M_t points (pinned by tests/test_keys.py). ``refit`` draws and fits in a
    # stable frame (the Gaussian refits standardised draws).
    weights = mask(ctx.n_max, ctx.sample_size, float_dtype(params))
    return family.refit(ctx.keys.sample, ctx.keys.fit, model, weights), state


@functools.cache
def replace() -> Regime:
    """Each model is fitted to the newest synthetic data only (docs/theory.md SH-0).

    Supports every sampler: sample-based, the exact sufficient-statistic draw and the
    population limit (``sample_size=None``).

    Examples:
      >>> replace().name
      'replace'
    """
    return Regime("replace", SAMPLERS, no_state, _replace_step, describe={})
