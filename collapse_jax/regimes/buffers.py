"""A regime's per-chain state: buffers of past draws, the original data, and ``init``.

A data-keeping regime holds its buffers in the scan carry, with a fixed capacity
decided at ``init`` (``num_generations × n_max`` points for a pool of every draw),
so the compiled program never changes shape. Slots a generation has not reached yet
have weight zero.

A family whose fit reads its data through a statistic that pools exactly
(:class:`~collapse_jax.families.base.PooledFit`, :func:`~collapse_jax.families.base.
pools`) is pooled instead: :class:`Pooled` holds the statistic of every draw so far,
O(1) in the run's length, and each generation merges its own draws' statistic in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from collapse_jax._util import ascending_rank
from collapse_jax._util import static_partial as _static
from collapse_jax.checks import fail
from collapse_jax.families.base import pools

__all__ = [
    "Pool",
    "Pooled",
    "empty_pooled",
    "pooled_write",
    "pooled_fit",
    "Original",
    "weights_dtype",
    "no_state",
    "population_init",
    "empty_pool",
    "pool_write",
    "empty_original",
    "keep_first",
    "random_subset",
    "slot",
    "hyper_scalar",
]


class Pool(NamedTuple):
    """A fixed-capacity buffer of past draws with their weights."""

    data: jax.Array  # (num_generations * n_max,) + event shape
    weights: jax.Array  # (num_generations * n_max,)


class Pooled(NamedTuple):
    """The pooled statistic of every draw so far (``family.pooled``'s ``S``)."""

    stats: Any


class Original(NamedTuple):
    """The generation-0 draws D_0 from the truth (the 'original data')."""

    data: jax.Array  # (n_max,) + event shape
    weights: jax.Array  # (n_max,) masks D_0 to M_0


def weights_dtype(data) -> Any:
    """The dtype of weights for ``data``: its own if floating, else float32."""
    return data.dtype if jnp.issubdtype(data.dtype, jnp.floating) else jnp.float32


def no_state(family, data, num_generations, reference=None):
    """``init`` of a regime that keeps no state: ``()``."""
    del family, data, num_generations, reference
    return ()


def population_init(data_init: Callable[..., Any]) -> Callable[..., Any]:
    """``init`` that keeps the pooled model in the population limit.

    The runner passes ``reference`` (the truth as a model of the fitted family) when
    ``sample_size=None``: the state is then that model; otherwise
    ``data_init(family, data, num_generations)``. One object per ``data_init`` (the
    regime is a static argument of the compiled runner).
    """
    return _static(_dispatch_init, data_init)


def _dispatch_init(data_init, family, data, num_generations, reference=None):
    if reference is not None:  # the population limit: the pooled model q
        return reference
    return data_init(family, data, num_generations)


def empty_pool(data, num_generations: int, dtype) -> Pool:
    """A pool for ``num_generations`` generations of draws shaped like ``data``."""
    cap = num_generations * data.shape[0]
    return Pool(
        jnp.zeros((cap,) + data.shape[1:], data.dtype), jnp.zeros((cap,), dtype)
    )


def pool_write(pool: Pool, t, data, weights) -> Pool:
    """The pool with generation ``t``'s draws and weights in slot ``t``."""
    start = t * data.shape[0]
    idx = (start,) + (jnp.zeros_like(start),) * (data.ndim - 1)  # one index dtype
    return Pool(
        jax.lax.dynamic_update_slice(pool.data, data, idx),
        jax.lax.dynamic_update_slice(pool.weights, weights, (start,)),
    )


def empty_pooled(family, data, dtype) -> Pooled:
    """The statistic of no draws (zeros) for draws shaped like ``data``.

    ``family`` must pool (:func:`~collapse_jax.families.base.pools`).
    """
    assert family.pooled is not None  # callers check pools(family)
    weights = jax.ShapeDtypeStruct(data.shape[:1], dtype)
    spec = jax.eval_shape(family.pooled.stats, data, weights)
    return Pooled(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), spec))


def _pooling(fn, family):
    if not pools(family):
        # A wrapper replaced the family's fit inside a step after init pooled it.
        fail(
            fn,
            "regime",
            "a family whose fit is the one its pooled statistics reproduce "
            "(ModelFamily.pooled.fit_of)",
            f"{family.name}, whose fit was replaced after the regime's init",
            "Build the regime's state with the family whose fit the steps call.",
        )
    assert family.pooled is not None
    return family.pooled


def pooled_write(fn: str, family, pooled: Pooled, data, weights) -> Pooled:
    """``pooled`` with the statistic of ``data`` (weights ``weights``) merged in."""
    hooks = _pooling(fn, family)
    return Pooled(hooks.merge(pooled.stats, hooks.stats(data, weights)))


def pooled_fit(fn: str, family, pooled: Pooled, prev):
    """The family's fit to every draw the statistic pools."""
    return _pooling(fn, family).fit(pooled.stats, prev)


def empty_original(data, dtype) -> Original:
    """An empty :class:`Original` for draws shaped like ``data``."""
    return Original(jnp.zeros(data.shape, data.dtype), jnp.zeros(data.shape[:1], dtype))


def keep_first(t, original: Original, data, weights) -> Original:
    """Store the draws of generation 0 as the original data."""
    first = t == 0
    return Original(
        jnp.where(first, data, original.data),
        jnp.where(first, weights, original.weights),
    )


def random_subset(key, valid, k):
    """A uniform random subset of size ``k`` (traced) of the ``valid`` entries."""
    u = jax.random.uniform(key, valid.shape)
    score = jnp.where(valid, u, 2.0)
    return ascending_rank(score) < k


def slot(capacity: int, t, values):
    """A ``(capacity,)`` weight vector holding ``values`` in slot ``t``, else 0."""
    zeros = jnp.zeros((capacity,), values.dtype)
    return jax.lax.dynamic_update_slice(zeros, values, (t * values.shape[0],))


def hyper_scalar(hyper, name: str, t):
    """A per-generation hyper value: a scalar, or entry ``t`` of a schedule."""
    v = hyper[name]
    if v.ndim == 0:
        return v
    return v[jnp.minimum(t, v.shape[0] - 1)]
