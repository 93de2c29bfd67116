"""The generation pipeline every regime calls: draw, distort, curate, weigh, fit.

One generation of a sample-based regime is

1. :func:`distort`: the model the draws come from (the current model under the run's
   sampling bias, e.g. a temperature);
2. :func:`draw`: ``n_max`` draws from it (from the truth on a cross-family run's
   first fit), materialised once;
3. :func:`mask`: weights keeping the first ``M_t`` of them (one compiled program
   serves every schedule: the samplers are prefix-stable);
4. :func:`curate`: the run's curation re-weighs the draws (tail weighting, filters);
5. the regime's own part: pool the draws with real or past data (:func:`fit_with_real`,
   :mod:`collapse_jax.regimes.buffers`), then :func:`fit` the weighted data set.

:func:`synthetic` runs steps 1 to 4. A regime that needs randomness of its own draws
it from :func:`stream_key` with a stream registered in :mod:`collapse_jax.keys`,
never from a hand-picked number. In the population limit (``sample_size=None``) the
data sets are distributions: :func:`population_fit` fits a mixture of models.

All of these are pure functions of traced arrays, called inside the compiled scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.keys import stream_number
from collapse_jax.regimes.base import StepContext

__all__ = [
    "float_dtype",
    "mask",
    "source_data",
    "as_family_data",
    "distort",
    "draw",
    "curate",
    "synthetic",
    "fit",
    "stream_key",
    "truth_draws",
    "shares",
    "fit_with_real",
    "population_fit",
    "stacked_population_fit",
    "real_share_population",
]


def float_dtype(params: Params):
    """The dtype of the first floating leaf of ``params`` (float32 if none)."""
    for leaf in jax.tree.leaves(params):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.dtype
    return jnp.float32


def mask(n_max: int, sample_size: jax.Array, dtype) -> jax.Array:
    """Weights ``(n_max,)`` that keep the first ``sample_size`` of ``n_max`` draws."""
    float_dtype_ = dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32
    return (jnp.arange(n_max, dtype=jnp.int32) < sample_size).astype(float_dtype_)


def source_data(family: ModelFamily, source_family: ModelFamily, data):
    """Draws of ``source_family`` as data ``family`` can fit.

    A categorical on a numeric support yields category indices; a continuous family
    fits their values (``source_family.numeric``).
    """
    if source_family.numeric is not None and family.numeric is None:
        return source_family.numeric(data)
    return data


def as_family_data(family: ModelFamily, source_family: ModelFamily, data, dtype):
    """:func:`source_data`, with floating draws cast to ``dtype``."""
    data = source_data(family, source_family, data)
    if jnp.issubdtype(data.dtype, jnp.floating) and data.dtype != dtype:
        data = data.astype(dtype)
    return data


def distort(ctx: StepContext, params: Params) -> Params:
    """The model the draws come from: ``params`` under the run's sampling bias."""
    if ctx.sampling is None or ctx.sampling.distort is None:
        return params
    return ctx.sampling.distort(ctx.family, params, ctx.hyper)


def draw(ctx: StepContext, params: Params) -> jax.Array:
    """``n_max`` draws from the (distorted) current model, as data of ``ctx.family``.

    On the first fit of a cross-family run (``ctx.first_source``) the draws come
    from the truth instead. A sampling bias with its own sampler (e.g. top-k) draws
    them. Uses ``ctx.keys.sample``.
    """
    if ctx.first_source:
        source = ctx.truth_family
        raw = source.sample(ctx.keys.sample, ctx.truth, ctx.n_max)
        data = as_family_data(ctx.family, source, raw, float_dtype(params))
    else:
        model = distort(ctx, params)
        if ctx.sampling is not None and ctx.sampling.sample is not None:
            data = ctx.sampling.sample(
                ctx.family, ctx.keys.sample, model, ctx.n_max, ctx.hyper
            )
        else:
            data = ctx.family.sample(ctx.keys.sample, model, ctx.n_max)
    # Materialise the draws once (XLA would otherwise recompute them inside several
    # fusions, each free to round differently).
    return jax.lax.optimization_barrier(data)


def curate(
    ctx: StepContext, params: Params, data: jax.Array, weights: jax.Array
) -> jax.Array:
    """The weights after the run's curation (unchanged without one).

    The curation's randomness comes from the ``"curation"`` stream.
    """
    if ctx.curation is None:
        return weights
    return ctx.curation.weigh(
        ctx.family,
        stream_key(ctx, "curation"),
        params,
        ctx.reference,
        data,
        weights,
        ctx.hyper,
    )


def synthetic(ctx: StepContext, params: Params) -> tuple[jax.Array, jax.Array]:
    """The generation's synthetic data set: draw, distort, mask to ``M_t``, curate.

    Returns:
      ``(data, weights)``: ``n_max`` draws and weights masking them to ``M_t``,
      re-weighed by the curation.
    """
    weights = mask(ctx.n_max, ctx.sample_size, float_dtype(params))
    data = draw(ctx, params)
    return data, curate(ctx, params, data, weights)


def fit(ctx: StepContext, data, weights, prev: Params) -> Params:
    """The family's weighted fit of ``data`` (randomness from ``ctx.keys.fit``)."""
    return ctx.family.fit(ctx.keys.fit, data, weights, prev)


def stream_key(ctx: StepContext, name: str) -> jax.Array:
    """The key of the registered sub-stream ``name`` of this generation's regime key.

    Register a regime's own stream once with :func:`collapse_jax.keys.register_stream`;
    the number is looked up when the step is traced.
    """
    return jax.random.fold_in(ctx.keys.regime, stream_number(name))


def truth_draws(ctx: StepContext, num: int, stream: str, dtype) -> jax.Array:
    """``num`` fresh draws from the truth, as data of ``ctx.family``.

    Args:
      ctx: the step's context.
      num: static, how many points.
      stream: the registered sub-stream to draw them with.
      dtype: the floating dtype of the fitted family's params.
    """
    raw = ctx.truth_family.sample(stream_key(ctx, stream), ctx.truth, num)
    return as_family_data(ctx.family, ctx.truth_family, raw, dtype)


def shares(real_fraction, real_total, synthetic_total, pooled: bool):
    """Per-point multipliers ``(a, b)`` for real and synthetic weights.

    The real points then carry the share ``real_fraction`` of the total weight, and
    the over-represented side is down-weighted, so no weight exceeds its input:
    ``real_fraction = 0`` fits the synthetic draws only, ``1`` the real set only, and
    ``real_total / (real_total + synthetic_total)`` is plain pooling (``a = b = 1``).
    """
    one = jnp.ones((), real_total.dtype)
    if pooled:
        return one, one
    f = real_fraction.astype(real_total.dtype)
    # a / b solves f = a R / (a R + b S); the larger of a, b is 1.
    num_a = f * synthetic_total
    num_b = (1 - f) * real_total
    big = jnp.maximum(num_a, num_b)
    safe = jnp.where(big > 0, big, one)
    return num_a / safe, num_b / safe


def fit_with_real(
    ctx: StepContext, params, real, real_w, data, weights, pooled: bool, first=None
):
    """Fit real points together with the synthetic draws, shares set by :func:`shares`.

    ``real_fraction`` comes from ``ctx.hyper`` (0 when absent); ``pooled`` keeps
    every weight as it is. Where ``first`` (a traced bool) holds, the draws alone.
    """
    wdtype = weights.dtype
    a, b = shares(
        ctx.hyper.get("real_fraction", jnp.zeros((), wdtype)),
        tree_sum(real_w),
        tree_sum(weights),
        pooled,
    )
    if first is not None:
        a = jnp.where(first, jnp.zeros((), wdtype), a)
        b = jnp.where(first, jnp.ones((), wdtype), b)
    w = jnp.concatenate((a * real_w, b * weights), axis=0)
    return fit(ctx, jnp.concatenate((real, data), axis=0), w, params)


# ------------------------------------------------------------ population limit ---
#
# With ``sample_size=None`` the data sets are distributions: each fit is the
# population fit to a mixture of models (``family.fit_population_mixture``), and
# a data-keeping regime's state is the pooled model itself (a moment match for a
# Gaussian, mixed probabilities for a categorical: both exact for the next fit).


def population_fit(ctx: StepContext, weights: Sequence, models: Sequence[Params]):
    """The population fit to ``sum_j weights[j] * models[j]`` (weights sum to 1)."""
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *models)
    dtype = float_dtype(models[0])
    w = jnp.stack([jnp.asarray(x, dtype) for x in weights])
    return stacked_population_fit(ctx, w, stacked)


def stacked_population_fit(ctx: StepContext, w: jax.Array, stacked: Params) -> Params:
    """The population fit to the models stacked on axis 0 of ``stacked``, weighted
    by ``w`` (sums to 1; a zero weight drops its model)."""
    log_w = jnp.where(w > 0, jnp.log(jnp.where(w > 0, w, 1)), -jnp.inf)
    # run_checks refuses a mixing regime's population limit without it.
    assert ctx.family.fit_population_mixture is not None
    return ctx.family.fit_population_mixture(log_w, stacked)


def real_share_population(ctx: StepContext, params: Params, real_weight) -> Params:
    """Population fit to ``f * truth + (1 - f) * (distorted current model)``."""
    f = real_weight.astype(float_dtype(params))
    return population_fit(ctx, [f, 1 - f], [ctx.reference, distort(ctx, params)])
