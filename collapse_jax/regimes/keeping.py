"""Regimes that keep every draw: :func:`accumulate` and :func:`accumulate_subsample`.

:func:`accumulate` pools the sufficient statistic of the draws where the family has
one (:class:`~collapse_jax.families.base.PooledFit`: Gaussian, categorical,
Poisson, OLS and ridge regression), O(1) per chain and generation; for the others
(mixtures, neural and approximate fits, minimum-norm regression) it keeps every
point. :func:`accumulate_subsample` always keeps the points (it draws a subset of
them).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from collapse_jax.checks import check_positive_int, described, fail
from collapse_jax.families.base import pools
from collapse_jax.regimes.base import MIXING_SAMPLERS, Regime, StepContext
from collapse_jax.regimes.buffers import (
    Pooled,
    empty_pool,
    empty_pooled,
    pool_write,
    pooled_fit,
    pooled_write,
    population_init,
    weights_dtype,
)
from collapse_jax.regimes.pipeline import (
    distort,
    fit,
    float_dtype,
    population_fit,
    stream_key,
    synthetic,
)

__all__ = ["accumulate", "accumulate_subsample"]


def _pool_init(family, data, num_generations):
    del family
    return empty_pool(data, num_generations, weights_dtype(data))


def _accumulate_init(family, data, num_generations):
    if pools(family):
        return empty_pooled(family, data, weights_dtype(data))
    return _pool_init(family, data, num_generations)


def _accumulate_pop(ctx, params, q):
    """q_{t+1} = (t q_t + p_t) / (t + 1): every generation's model, equal shares."""
    t = ctx.t.astype(float_dtype(params))
    q = population_fit(ctx, [t / (t + 1), 1 / (t + 1)], [q, distort(ctx, params)])
    return q, q


def _accumulate_step(ctx: StepContext, params, pool):
    if ctx.sampler == "population":
        return _accumulate_pop(ctx, params, pool)
    data, weights = synthetic(ctx, params)
    if isinstance(pool, Pooled):  # the family's statistic of every draw so far
        pool = pooled_write("accumulate", ctx.family, pool, data, weights)
        return pooled_fit("accumulate", ctx.family, pool, params), pool
    pool = pool_write(pool, ctx.t, data, weights.astype(pool.weights.dtype))
    return fit(ctx, pool.data, pool.weights, params), pool


@functools.cache
def accumulate() -> Regime:
    """Each model is fitted to every generation's draws so far, with equal weights.

    Model ``t + 1`` sees ``D_0 ∪ D_1 ∪ … ∪ D_t`` (``D_0`` from the truth): the
    accumulation of Gerstgrasser et al. (docs/theory.md LR-0, LR-2, LR-3): it bounds the
    error where :func:`replace` lets it grow. For a family with pooled sufficient
    statistics (:class:`~collapse_jax.families.base.PooledFit`: Gaussian,
    categorical, Poisson, OLS and ridge regression) it keeps their statistic of
    every draw, O(1) per chain and generation, and the fit equals the fit to the
    pooled points up to float rounding; for other families it keeps
    ``num_generations × max(sample_size)`` points per chain.

    Examples:
      >>> accumulate().name
      'accumulate'
    """
    return Regime(
        "accumulate",
        MIXING_SAMPLERS,
        population_init(_accumulate_init),
        _accumulate_step,
        describe={},
        mixes_models=True,
    )


def _subsample_step(size, ctx: StepContext, params, pool):
    if ctx.sampler == "population":  # a subsample of the pooled law is the law
        return _accumulate_pop(ctx, params, pool)
    data, weights = synthetic(ctx, params)
    pool = pool_write(pool, ctx.t, data, weights.astype(pool.weights.dtype))
    u = jax.random.uniform(stream_key(ctx, "subsample"), pool.weights.shape)
    score = jnp.where(pool.weights > 0, u, 2.0)
    _, idx = jax.lax.top_k(-score, size)
    return fit(ctx, pool.data[idx], pool.weights[idx], params), pool


def _check_subsample(size, fn, family, data, schedule, num_generations, hyper):
    del family, data, num_generations, hyper
    if schedule is not None and size > int(schedule[0]):
        fail(
            fn,
            "regime",
            f"accumulate_subsample(size) with size <= the first sample size "
            f"M_0 = {int(schedule[0])} (the data available to the first fit)",
            described(f"size={size}"),
            "Lower the subsample size, or raise sample_size.",
        )


@functools.cache
def accumulate_subsample(size: int) -> Regime:
    """All draws are kept; each fit sees a uniform random subsample of ``size``.

    Kazdan et al.'s accumulate-subsample: the data pool grows as under
    :func:`accumulate`, but the training-set size stays fixed (drawn without
    replacement from every point drawn so far). ``size`` must not exceed the first
    generation's sample size.

    Examples:
      >>> accumulate_subsample(50).name
      'accumulate_subsample'
    """
    size = check_positive_int("accumulate_subsample", "size", size)
    return Regime(
        "accumulate_subsample",
        MIXING_SAMPLERS,
        population_init(_pool_init),
        functools.partial(_subsample_step, size),
        check=functools.partial(_check_subsample, size),
        describe={"size": size},
        mixes_models=True,
    )
