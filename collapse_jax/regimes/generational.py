"""The :func:`general_mix` regime: docs/theory.md SH-0's generational mixture."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.checks import described, fail
from collapse_jax.regimes.base import MIXING_SAMPLERS, Regime, StepContext
from collapse_jax.regimes.buffers import (
    Pool,
    empty_pool,
    hyper_scalar,
    pool_write,
    population_init,
    slot,
    weights_dtype,
)
from collapse_jax.regimes.pipeline import distort, fit, population_fit, synthetic
from collapse_jax.regimes.validate import weight_value

__all__ = ["general_mix"]


class _GeneralState(NamedTuple):
    pool: Pool  # every draw so far; its weights are the current data set's
    original: jax.Array  # (n_max,) the weights of D_0 (its points are pool slot 0)


def _general_init(family, data, num_generations):
    del family
    wdtype = weights_dtype(data)
    return _GeneralState(
        empty_pool(data, num_generations, wdtype), jnp.zeros(data.shape[:1], wdtype)
    )


def _general_pop(ctx, params, q):
    t = ctx.t
    alpha = hyper_scalar(ctx.hyper, "alpha", t)
    beta = hyper_scalar(ctx.hyper, "beta", t)
    gamma = hyper_scalar(ctx.hyper, "gamma", t)
    first = t == 0  # the first fit sees D_0: the truth
    zero, one = jnp.zeros_like(alpha), jnp.ones_like(alpha)
    q = population_fit(
        ctx,
        [
            jnp.where(first, zero, alpha),
            jnp.where(first, zero, beta),
            jnp.where(first, one, gamma),
        ],
        [distort(ctx, params), q, ctx.reference],
    )
    return q, q


def _general_step(ctx: StepContext, params, state):
    if ctx.sampler == "population":
        return _general_pop(ctx, params, state)
    data, weights = synthetic(ctx, params)
    t = ctx.t
    cap = state.pool.weights.shape[0]
    pool_data = pool_write(state.pool, t, data, weights).data
    original = jnp.where(t == 0, weights, state.original)
    alpha = hyper_scalar(ctx.hyper, "alpha", t).astype(weights.dtype)
    beta = hyper_scalar(ctx.hyper, "beta", t).astype(weights.dtype)
    gamma = hyper_scalar(ctx.hyper, "gamma", t).astype(weights.dtype)
    # Each part is scaled to the total weight M_t of the new draws.
    m = tree_sum(weights)
    prev = state.pool.weights
    prev_total = tree_sum(prev)
    prev_scale = m / jnp.where(prev_total > 0, prev_total, 1)
    orig_total = tree_sum(original)
    orig_scale = m / jnp.where(orig_total > 0, orig_total, 1)
    w = (
        beta * prev_scale * prev
        + slot(cap, t, alpha * weights)
        + slot(cap, jnp.zeros((), t.dtype), gamma * orig_scale * original)
    )
    # The first fit sees D_0 alone: the previous data and the original data are D_0.
    w = jnp.where(t == 0, slot(cap, t, weights), w)
    return fit(ctx, pool_data, w, params), _GeneralState(Pool(pool_data, w), original)


def _general_check(fn, family, data, schedule, num_generations, hyper):
    del family, data, schedule
    vals = {k: np.asarray(hyper[k], np.float64) for k in ("alpha", "beta", "gamma")}
    for k, v in vals.items():
        if v.ndim == 1 and v.shape[0] != num_generations:
            fail(
                fn,
                "regime",
                f"general_mix({k}=...) with a schedule of length "
                f"num_generations={num_generations}",
                described(f"length {v.shape[0]}"),
                "Give one weight per generation, or a scalar.",
            )
    total = vals["alpha"] + vals["beta"] + vals["gamma"]
    if not np.allclose(total, 1.0, rtol=0, atol=1e-9):
        fail(
            fn,
            "regime",
            "general_mix weights with alpha + beta + gamma = 1 in every generation",
            described(f"sums {np.unique(np.round(total, 12)).tolist()}"),
            "Normalise the weights.",
        )


def general_mix(alpha, beta, gamma) -> Regime:
    """docs/theory.md SH-0's generational mixture, with per-generation weights.

    Model ``t + 1`` is fitted to the weighted data set
    ``α_t · (new draws from model t) + β_t · (the previous data set) + γ_t · D_0``,
    each part scaled to the total weight ``M_t`` (``D_0``: the generation-0 draws
    from the truth; the previous data set is itself such a mixture, so older draws
    carry geometrically smaller weights). ``α = 1`` is :func:`replace`; the weights
    are traced (sweepable) and may be schedules of length ``num_generations``.
    Keeps ``num_generations × max(sample_size)`` points per chain.

    Args:
      alpha, beta, gamma: numbers in ``[0, 1]`` or schedules of them with
        ``α_t + β_t + γ_t = 1``.

    Examples:
      >>> general_mix(0.8, 0.1, 0.1).name
      'general_mix'
    """
    fn = "general_mix"
    hyper = {
        "alpha": weight_value(fn, "alpha", alpha),
        "beta": weight_value(fn, "beta", beta),
        "gamma": weight_value(fn, "gamma", gamma),
    }
    scalars = all(np.ndim(v) == 0 for v in hyper.values())
    if scalars:
        total = sum(float(v) for v in hyper.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            fail(
                fn,
                "alpha + beta + gamma",
                "1",
                total,
                "Normalise the weights, e.g. alpha=0.8, beta=0.1, gamma=0.1.",
            )
    return Regime(
        "general_mix",
        MIXING_SAMPLERS,
        population_init(_general_init),
        _general_step,
        hyper=hyper,
        check=_general_check,
        sweepable=("alpha", "beta", "gamma"),
        checkers=dict.fromkeys(hyper, weight_value),
        describe={k: np.asarray(v).tolist() for k, v in hyper.items()},
        mixes_models=True,
    )
