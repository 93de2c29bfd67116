"""Exact, vectorisation-friendly samplers that JAX lacks or makes slow on CPU.

``jax.random.gamma`` is exact but slow on CPU (about 16x NumPy's chi-square for a
large batch). :func:`log_chisquare` draws ``log chi2_k`` exactly by Marsaglia–Tsang
rejection, attempt ``i`` keyed by ``fold_in(key, i)`` so that every element's draw
depends only on its own key, whatever else runs beside it. It returns the logarithm,
because the Gaussian chain carries variances in log space (proofs/gc-7-sufficient-
statistics.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from collapse_jax._reduce import sequential_cumsum

__all__ = ["log_gamma", "log_chisquare", "multinomial"]


def log_gamma(key: jax.Array, shape_param: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Draw ``log G`` with ``G ~ Gamma(shape_param, 1)``, elementwise and exactly.

    Args:
      key: a typed key.
      shape_param: positive array (any shape); may be traced.
      dtype: floating dtype of the result.

    Returns:
      An array of ``shape_param``'s shape and ``dtype``.
    """
    a = jnp.asarray(shape_param, dtype)
    shape = a.shape
    k_loop, k_boost = jax.random.split(key)
    boost = a < 1
    a1 = jnp.where(boost, a + 1, a)  # Gamma(a) = Gamma(a + 1) * U**(1/a) for a < 1
    d = a1 - jnp.asarray(1.0 / 3.0, dtype)
    c = jax.lax.rsqrt(9 * d)
    tiny = jnp.finfo(dtype).tiny

    def attempt(i):
        kx, ku = jax.random.split(jax.random.fold_in(k_loop, i))
        x = jax.random.normal(kx, shape, dtype)
        u = jax.random.uniform(ku, shape, dtype, minval=tiny, maxval=1)
        v = (1 + c * x) ** 3
        vpos = jnp.where(v > 0, v, 1)
        ok = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * vpos + d * jnp.log(vpos))
        return ok, jnp.log(d) + jnp.log(vpos)

    def cond(carry):
        _, done, _ = carry
        return ~jnp.all(done)

    def body(carry):
        i, done, value = carry
        ok, logg = attempt(i)
        value = jnp.where(done, value, logg)
        return i + 1, done | ok, value

    init = (jnp.int32(0), jnp.zeros(shape, bool), jnp.zeros(shape, dtype))
    _, _, value = jax.lax.while_loop(cond, body, init)
    u = jax.random.uniform(k_boost, shape, dtype, minval=tiny, maxval=1)
    return jnp.where(boost, value + jnp.log(u) / a, value)


def log_chisquare(key: jax.Array, df: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Draw ``log X`` with ``X ~ chi2(df)`` exactly (``df > 0``, may be traced)."""
    df = jnp.asarray(df, dtype)
    return jnp.log(jnp.asarray(2.0, dtype)) + log_gamma(key, df / 2, dtype)


def multinomial(key: jax.Array, total: jax.Array, probs: jax.Array) -> jax.Array:
    """Multinomial counts by conditional binomials, with static shape.

    ``c_j ~ Bin(total - sum_{i<j} c_i, p_j / sum_{i>=j} p_i)``. The conditional
    probability uses the remaining mass summed from the right, so the last
    category with positive probability gets ratio exactly 1 and the counts always
    add up to ``total``. Key ``j`` is ``fold_in(key, j)``.

    Args:
      key: a typed key.
      total: scalar number of draws (may be traced).
      probs: ``(K,) float`` probabilities.

    Returns:
      ``(K,) int32`` counts summing to ``total``.
    """
    probs = jnp.asarray(probs)
    dtype = probs.dtype
    remaining_mass = sequential_cumsum(probs, reverse=True)
    ratio = jnp.where(
        remaining_mass > 0, probs / jnp.where(remaining_mass > 0, remaining_mass, 1), 0
    )
    ratio = jnp.clip(ratio, 0, 1)
    num = probs.shape[0]

    def body(left, j):
        q = ratio[j]
        draw = jax.random.binomial(jax.random.fold_in(key, j), left, q, dtype=dtype)
        draw = jnp.where(q >= 1, left, jnp.where(q <= 0, 0, draw))
        draw = jnp.minimum(jnp.round(draw), left)
        return left - draw, draw

    _, counts = jax.lax.scan(
        body, jnp.asarray(total, dtype), jnp.arange(num, dtype=jnp.int32)
    )
    return counts.astype(jnp.int32)
