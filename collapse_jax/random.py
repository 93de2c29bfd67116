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
    valid = a > 0  # NaN or a <= 0: no draw is possible; such lanes return NaN
    a = jnp.where(valid, a, 1)
    boost = a < 1
    a1 = jnp.where(boost, a + 1, a)  # Gamma(a) = Gamma(a + 1) * U**(1/a) for a < 1
    d = a1 - jnp.asarray(1.0 / 3.0, dtype)
    c = jax.lax.rsqrt(9 * d)
    tiny = jnp.finfo(dtype).tiny

    def attempt(i):
        kx, ku = jax.random.split(jax.random.fold_in(k_loop, i))
        x = jax.random.normal(kx, shape, dtype)
        u = jax.random.uniform(ku, shape, dtype, minval=tiny, maxval=1)
        # With y = c x and v = (1 + y)^3, the acceptance bound
        # x^2/2 + d - d v + d log v equals 3 d (log1p(y) - y + y^2/2 - y^3/3)
        # exactly (since 9 d c^2 = 1). Written that way it has no cancellation of
        # O(d) terms, which in float32 distorted the law for df >~ 1e7. For small |y|
        # the bracket is the series -y^4/4 + y^5/5 - ... (terms up to y^12).
        y = c * x
        positive = y > -1
        yp = jnp.where(positive, y, 0)
        direct = jnp.log1p(yp) - yp + yp * yp / 2 - yp * yp * yp / 3
        series = jnp.zeros_like(yp)
        for k in range(12, 3, -1):  # Horner form of sum_{k=4}^{12} (-1)^(k+1) y^k / k
            series = series * yp + ((-1.0) ** (k + 1)) / k
        series = series * yp**4
        bracket = jnp.where(jnp.abs(yp) < 0.1, series, direct)
        ok = positive & (jnp.log(u) < 3 * d * bracket)
        return ok, jnp.log(d) + 3 * jnp.log1p(yp)

    def cond(carry):
        _, done, _ = carry
        return ~jnp.all(done)

    def body(carry):
        i, done, value = carry
        ok, logg = attempt(i)
        value = jnp.where(done, value, logg)
        return i + 1, done | ok, value

    init = (jnp.int32(0), ~valid, jnp.zeros(shape, dtype))
    _, _, value = jax.lax.while_loop(cond, body, init)
    u = jax.random.uniform(k_boost, shape, dtype, minval=tiny, maxval=1)
    value = jnp.where(boost, value + jnp.log(u) / a, value)
    return jnp.where(valid, value, jnp.nan)


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
        # `left` is an int32, so the counts add up to `total` exactly even where the
        # float dtype cannot represent it (float32 above 2**24); the binomial itself
        # is drawn in the float dtype, as jax.random.binomial requires.
        q = ratio[j]
        n = left.astype(dtype)
        draw = jax.random.binomial(jax.random.fold_in(key, j), n, q, dtype=dtype)
        draw = jnp.minimum(jnp.round(draw).astype(jnp.int32), left)
        draw = jnp.where(q >= 1, left, jnp.where(q <= 0, 0, draw))
        return left - draw, draw

    _, counts = jax.lax.scan(
        body, jnp.asarray(total, jnp.int32), jnp.arange(num, dtype=jnp.int32)
    )
    return counts
