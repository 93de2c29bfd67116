"""Exact, vectorisation-friendly samplers that JAX lacks or makes slow on CPU.

``jax.random.gamma`` is exact but slow on CPU (about 16x NumPy's chi-square for a
large batch). :func:`log_chisquare` draws ``log chi2_k`` exactly by Marsaglia–Tsang
rejection: the first two attempts of every element come from one draw of raw words
(:func:`log_gamma_from_bits`), later ones from a ``while_loop`` keyed by
``fold_in(key, i)`` that runs only if an element was rejected twice, so every
element's draw depends only on its own key and position, whatever else runs beside
it. It returns the logarithm, because the Gaussian chain carries variances in log
space (proofs/gc-7-sufficient-statistics.md). :func:`normal_from_bits` and
:func:`uniform_from_bits` are ``jax.random.normal`` and ``uniform`` on words already
drawn, so a hot path takes all of a generation's words in one call (:func:`words`;
two words per threefry block with the chain's role keys, collapse_jax.keys).

``jax.random.poisson`` casts the mean to float32 and runs its transformed rejection
on ``k`` and ``-lam + k log lam - lgamma(k + 1)`` directly, which lose the float32
resolution for large means: measured over 10^6 to 10^7 draws, the variance is off by
+0.2 % at a mean of 6e4, +2.5 % at 1e6, +64 % at 1e9, and the draws saturate at
2**31 - 1; on a CPU it is also about 6x slower than NumPy's. :func:`poisson` draws
small means by inversion of one bulk uniform and the others by the same PTRS
algorithm centred on the mean, exact at every mean (docs/precision.md).
"""

from __future__ import annotations

import math

import numpy as np

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from collapse_jax import keys as cjk
from collapse_jax._reduce import sequential_cumsum

__all__ = [
    "log_gamma",
    "log_gamma_from_bits",
    "log_chisquare",
    "multinomial",
    "normal",
    "normal_from_bits",
    "poisson",
    "threefry_key",
    "uniform_from_bits",
    "word_dtype",
    "words",
    "word_pair",
    "GAMMA_PAIRS",
    "POISSON_SWITCH",
    "POISSON_INVERSION",
]

#: Up to this mean jax.random.poisson is exact to Monte Carlo precision (10^7 draws
#: at 1e4 and 3e4: mean and variance within 1.3 standard errors); above it rounds
#: in float32. :func:`poisson` no longer calls it (its own samplers are exact at
#: every mean); kept as the documented limit of jax.random.poisson.
POISSON_SWITCH = 1e4
#: :func:`poisson` draws means below this by inversion, larger ones by PTRS.
POISSON_INVERSION = 10.0
_INVERSION_CAP = 64  # P(X >= 64) < 1e-20 for a mean below 10
_INVERSION_UNROLL = 4  # CDF terms per loop trip (measured fastest of 1, 4, 8)
#: Means from here on cannot be drawn into an int32 (2**31 - 1) but for a
#: 22-sigma event: :func:`poisson` returns -1 for them (an overflow to report).
POISSON_MAX_MEAN = float(2**31 - 2**20)
_POISSON_STREAM = 0x9015  # fold_in of the key for the centred sampler's attempts


def _first_accepted(attempt, done: jax.Array, dtype) -> jax.Array:
    """Vectorised rejection sampling: each lane's value at its first acceptance.

    ``attempt(i) -> (ok, value)`` is tried for ``i = 0, 1, ...`` until every lane
    not already ``done`` has been accepted once (a ``done`` lane keeps 0); each
    lane's attempts depend only on ``i`` and its position, not on the others.
    """

    def cond(carry):
        _, finished, _ = carry
        return ~jnp.all(finished)

    def body(carry):
        i, finished, value = carry
        ok, proposal = attempt(i)
        return i + 1, finished | ok, jnp.where(finished, value, proposal)

    init = (jnp.int32(0), done, jnp.zeros(done.shape, dtype))
    return jax.lax.while_loop(cond, body, init)[2]


def uniform_from_bits(
    bits: jax.Array, dtype, minval: ArrayLike = 0.0, maxval: ArrayLike = 1.0
) -> jax.Array:
    """Uniforms in ``[minval, maxval)`` from raw words, as ``jax.random.uniform``.

    ``bits`` are unsigned words as wide as ``dtype`` (uint32 for float32, uint64 for
    float64), e.g. from ``jax.random.bits``: the same transformation JAX applies
    (the top mantissa bits under exponent 0, minus 1, scaled), so
    ``uniform_from_bits(jax.random.bits(k, s, jnp.uint32), jnp.float32)`` equals
    ``jax.random.uniform(k, s, jnp.float32)`` bit for bit.
    """
    dtype = jnp.dtype(dtype)
    finfo = jnp.finfo(dtype)
    nbits, nmant = finfo.bits, finfo.nmant
    udtype = jnp.dtype(f"uint{nbits}")
    one = np.array(1.0, dtype).view(udtype)
    mant = jax.lax.shift_right_logical(bits, jnp.asarray(nbits - nmant, udtype))
    floats = jax.lax.bitcast_convert_type(mant | one, dtype) - jnp.asarray(1, dtype)
    lo = jnp.asarray(minval, dtype)
    hi = jnp.asarray(maxval, dtype)
    return jax.lax.max(lo, floats * (hi - lo) + lo)


def normal_from_bits(bits: jax.Array, dtype) -> jax.Array:
    """Standard normals from raw words, as ``jax.random.normal`` (``sqrt(2)
    erfinv(u)``, ``u`` uniform on ``(-1, 1)``): bit for bit the same for the same
    words, one word per draw."""
    dtype = jnp.dtype(dtype)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = uniform_from_bits(bits, dtype, lo, 1.0)
    return jnp.asarray(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


def word_dtype(dtype):
    """The unsigned word type :func:`normal_from_bits` and :func:`uniform_from_bits`
    take for ``dtype`` (uint32 for float32, uint64 for float64)."""
    return jnp.dtype(f"uint{jnp.finfo(dtype).bits}")


def words(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Raw words for draws of ``dtype``, in one call (``jax.random.bits``).

    Word ``j`` does not depend on how many are drawn. Drawing twice from one key
    gives the same words: slice one draw instead. Hot paths use :func:`word_pairs`.
    """
    return jax.random.bits(key, shape, word_dtype(dtype))


def word_pair(key: jax.Array, index, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """Words ``2 i`` and ``2 i + 1`` of ``words(key, ..., dtype)`` at ``i = index``
    (an int or an integer array, e.g. a constant ``np.arange``): the way for a hot
    path to take a generation's randomness.

    With a chain's role keys (counter keys, collapse_jax.keys) a 32-bit pair is the
    two output words of one threefry block (a 64-bit pair two blocks), computed by
    ops XLA fuses into what uses them; taking the pairs one constant index at a
    time keeps that fusion vectorised over chains, where slicing or interleaving a
    drawn array can fall back to scalar code (3-8x slower here). Transform with
    :func:`normal_from_bits`, :func:`uniform_from_bits`, :func:`log_gamma_from_bits`.
    """
    wdtype = word_dtype(dtype)
    index = np.asarray(index)
    if cjk.is_counter_key(key):
        data = jax.random.key_data(key)
        if wdtype == jnp.uint32:
            return cjk.counter_blocks(data, index)
        pair = []
        for j in (0, 1):  # a 64-bit word is one block, high word first
            hi, lo = cjk.counter_blocks(data, 2 * index + j)
            pair.append((hi.astype(wdtype) << wdtype.type(32)) | lo.astype(wdtype))
        return pair[0], pair[1]
    flat = words(key, (int(index.max(initial=0)) + 1, 2), dtype)
    return flat[index, 0], flat[index, 1]


def normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """``jax.random.normal(key, shape, dtype)``, bit for bit, drawn faster with a
    chain's role keys: both words of each threefry block are transformed before
    they are interleaved (interleaving the words first costs more than the draw).
    """
    dtype = jnp.dtype(dtype)
    n = math.prod(shape)
    if not cjk.is_counter_key(key) or word_dtype(dtype) != jnp.uint32 or n < 2:
        return jax.random.normal(key, shape, dtype)
    data = jax.random.key_data(key)
    y0, y1 = cjk.counter_blocks(data, jax.lax.iota(jnp.uint32, -(-n // 2)))
    z = jnp.stack([normal_from_bits(y0, dtype), normal_from_bits(y1, dtype)], -1)
    return z.reshape(-1)[:n].reshape(shape)


#: Word pairs per element that :func:`log_gamma_from_bits` takes: two
#: Marsaglia-Tsang attempts (a normal and a uniform each), then the uniform of the
#: ``a < 1`` boost and a spare word the caller may use for something else.
GAMMA_PAIRS = 3


def _mt_attempt(x, u, d, c):
    """One Marsaglia-Tsang attempt: ``(accepted, log of the proposal)``."""
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


def log_gamma_from_bits(
    bits, key: jax.Array, shape_param: jax.Array, dtype=jnp.float32
) -> jax.Array:
    """:func:`log_gamma` from words already drawn; ``key`` only for the fallback.

    Args:
      bits: :data:`GAMMA_PAIRS` pairs of words of :func:`word_dtype`, each word of
        ``shape_param``'s shape (e.g. from :func:`word_pair`): the normal and
        uniform of attempts 1 and 2, then the boost uniform; the second word of the
        last pair is not read (the caller's spare).
      key: a typed key whose ``fold_in(key, i)`` streams are independent of
        ``bits`` (e.g. the key ``bits`` came from: derived keys and draws use
        different counters). Attempt ``3 + i`` of an element rejected twice is
        keyed by ``fold_in(key, i)``; the ``while_loop`` runs only if some element
        was rejected twice (about 4e-7 per element at ``shape_param`` 50).
      shape_param: positive array; may be traced.
      dtype: floating dtype of the result.
    """
    a = jnp.asarray(shape_param, dtype)
    shape = a.shape
    valid = a > 0  # NaN or a <= 0: no draw is possible; such lanes return NaN
    a = jnp.where(valid, a, 1)
    boost = a < 1
    a1 = jnp.where(boost, a + 1, a)  # Gamma(a) = Gamma(a + 1) * U**(1/a) for a < 1
    d = a1 - jnp.asarray(1.0 / 3.0, dtype)
    c = jax.lax.rsqrt(9 * d)
    tiny = jnp.finfo(dtype).tiny

    def attempt_from(wx, wu):
        x = normal_from_bits(wx, dtype)
        u = uniform_from_bits(wu, dtype, tiny, 1)
        return _mt_attempt(x, u, d, c)

    ok1, v1 = attempt_from(*bits[0])
    ok2, v2 = attempt_from(*bits[1])

    def attempt(i):
        kx, ku = jax.random.split(jax.random.fold_in(key, i))
        x = jax.random.normal(kx, shape, dtype)
        u = jax.random.uniform(ku, shape, dtype, minval=tiny, maxval=1)
        return _mt_attempt(x, u, d, c)

    bulk = ok1 | ok2
    late = _first_accepted(attempt, bulk | ~valid, dtype)
    value = jnp.where(ok1, v1, jnp.where(ok2, v2, late))
    u = uniform_from_bits(bits[2][0], dtype, tiny, 1)
    value = jnp.where(boost, value + jnp.log(u) / a, value)
    return jnp.where(valid, value, jnp.nan)


def log_gamma(key: jax.Array, shape_param: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Draw ``log G`` with ``G ~ Gamma(shape_param, 1)``, elementwise and exactly.

    Marsaglia-Tsang: the first two attempts and the ``a < 1`` boost come from one
    draw of :data:`GAMMA_PAIRS` word pairs per element (:func:`log_gamma_from_bits`),
    later attempts from a fallback ``while_loop`` that runs only when an element
    was rejected twice.

    Args:
      key: a typed key.
      shape_param: positive array (any shape); may be traced.
      dtype: floating dtype of the result.

    Returns:
      An array of ``shape_param``'s shape and ``dtype``.
    """
    a = jnp.asarray(shape_param, dtype)
    # Element e's pairs are GAMMA_PAIRS * e + j: prefix-stable in the elements.
    base = GAMMA_PAIRS * np.arange(a.size).reshape(a.shape)
    bits = [word_pair(key, base + j, dtype) for j in range(GAMMA_PAIRS)]
    return log_gamma_from_bits(bits, key, a, dtype)


def threefry_key(key: jax.Array) -> jax.Array:
    """A JAX threefry key for ``key`` (for the few ``jax.random`` functions that
    accept nothing else, e.g. ``poisson``): ``key`` itself if it is one, else a
    threefry key made of ``fold_in(key, 2**32 - 1)``'s first two words (one block).
    """
    if jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(0)):
        return key
    data = jax.random.key_data(jax.random.fold_in(key, 2**32 - 1))
    return jax.random.wrap_key_data(data[..., :2], impl="threefry2x32")


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


def poisson(key: jax.Array, lam: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Poisson draws, exact for every mean below :data:`POISSON_MAX_MEAN`, ``int32``.

    Means below :data:`POISSON_INVERSION` are drawn by inversion: one uniform per
    draw (bulk bits), then a vectorised sequential search of the CDF
    ``F(k) = sum_{j <= k} e^-lam lam^j / j!`` in the dtype of ``lam`` (about
    ``lam`` steps; the CDF rounds at ``k`` ulps of 1, a law off by at most ~1e-6
    absolute in the extreme tail). Larger means use Hörmann's transformed rejection
    (PTRS) written around the mean: the draw is ``floor(lam) + j`` with ``j`` of
    order ``sqrt(lam)``, and the acceptance test compares with ``log p(k) = -lam
    phi((k - lam) / lam) - log(2 pi k) / 2 - stirlerr(k)`` (Loader's saddle-point
    form, ``phi(v) = (1 + v) log1p(v) - v`` by its series near 0), so neither the
    draw nor the test rounds at the scale of ``lam`` (docs/precision.md). Both
    loops run only while a lane of their kind is undecided: a batch of small means
    never enters the rejection loop. About 6x faster than ``jax.random.poisson`` on
    a CPU for small means (benchmarks/published.py). Prefix-stable along the leading
    axis (each element reads its own position of every uniform draw). A mean from
    :data:`POISSON_MAX_MEAN` on (or not finite) gives -1.

    Args:
      key: a typed key.
      lam: float means ``>= 0``, broadcast to ``shape``.
      shape: the shape of the draws.
    """
    lam = jnp.broadcast_to(jnp.asarray(lam), shape)
    if not jnp.issubdtype(lam.dtype, jnp.floating):
        lam = lam.astype(jnp.float32)
    big = ~(lam < POISSON_INVERSION)  # NaN lanes too: they report -1 below
    ok = lam < POISSON_MAX_MEAN
    small = _poisson_inversion(key, jnp.where(big, 0, lam), big)
    safe = jnp.where(big & ok, lam, 2 * POISSON_INVERSION)
    large = _poisson_centred(jax.random.fold_in(key, _POISSON_STREAM), safe, ~big)
    out = jnp.where(big, large, small)
    return jnp.where(big & ~ok, -1, out)


def _poisson_inversion(key: jax.Array, lam: jax.Array, done: jax.Array) -> jax.Array:
    """Inversion by sequential search for means ``< POISSON_INVERSION``.

    ``X = #{k >= 0 : u > F(k)}`` with one uniform ``u`` per lane, counted while
    the CDF is walked up in steps of ``_INVERSION_UNROLL`` terms until no lane has
    ``u > F`` (or :data:`_INVERSION_CAP` terms: a mean below 10 exceeds it with
    probability below 1e-20). Past the mode a float ``F`` stops growing short of
    1; a lane whose ``u`` lies above that rounded limit (probability ~1e-7) counts
    only the terms that still grew ``F``: its draw is that far tail point.
    ``done`` lanes (other means) give 0.
    """
    dtype = lam.dtype
    lam = jnp.where(done, 0, lam)  # F(0) = 1: such lanes never count
    u = jax.random.uniform(key, lam.shape, dtype)
    p = jnp.exp(-lam)

    def cond(carry):
        j, _, f, _ = carry
        return (j < _INVERSION_CAP) & jnp.any(u > f)

    def body(carry):
        j, p, f, k = carry
        for _ in range(_INVERSION_UNROLL):  # fewer loop trips and reductions
            j = j + 1
            p = p * lam / j.astype(dtype)
            grown = f + p
            k = k + ((u > grown) & (grown > f)).astype(jnp.int32)
            f = grown
        return j, p, f, k

    init = (jnp.int32(0), p, p, (u > p).astype(jnp.int32))
    return jax.lax.while_loop(cond, body, init)[3]


def _log1p_phi(v):
    """``phi(v) / v**2 = ((1 + v) log1p(v) - v) / v**2`` for ``|v| < 0.1`` (series
    ``sum_n (-1)^n v^(n-2) / (n (n - 1))``, terms to ``v^10``: error below 1e-13)."""
    out = jnp.zeros_like(v)
    for n in range(12, 1, -1):
        out = out * v + ((-1.0) ** n) / (n * (n - 1))
    return out


def _log_poisson_pmf(k, lam, delta):
    """``log p(k)`` of Poisson(lam) with ``delta = k - lam`` exact (Loader's form)."""
    dtype = lam.dtype
    v = delta / lam
    near = jnp.abs(v) < 0.1
    vs = jnp.where(near, v, 0)
    vf = jnp.where(near, 0, v)
    bd0 = jnp.where(
        near, delta * v * _log1p_phi(vs), lam * ((1 + vf) * jnp.log1p(vf) - vf)
    )
    kk = jnp.maximum(k, 1)
    inv = 1 / kk
    inv2 = inv * inv
    series = (1 / 12 - (1 / 360 - inv2 / 1260) * inv2) * inv
    direct = jax.lax.lgamma(kk + 1) - (
        (kk + 0.5) * jnp.log(kk) - kk + jnp.asarray(0.5 * math.log(2 * math.pi), dtype)
    )
    stirlerr = jnp.where(kk > 15, series, direct)
    log_p = -bd0 - 0.5 * jnp.log(jnp.asarray(2 * math.pi, dtype) * kk) - stirlerr
    return jnp.where(k <= 0, -lam, log_p)


def _poisson_centred(key: jax.Array, lam: jax.Array, done: jax.Array) -> jax.Array:
    """PTRS (Hörmann 1993) for means ``>= 10``, centred on ``floor(lam)``; ``done``
    lanes (other means) are never attempted."""
    dtype = lam.dtype
    shape = lam.shape
    top = jnp.asarray(2**31 - 2, dtype)

    def attempt(i):
        # Everything is computed in the loop: a batch with no lane to draw (every
        # ``done``) never pays for it.
        base = jnp.floor(lam)
        frac = lam - base  # exact
        b = 0.931 + 2.53 * jnp.sqrt(lam)
        a = -0.059 + 0.02483 * b
        log_inv_alpha = jnp.log(1.1239 + 1.1328 / (b - 3.4))
        v_r = 0.9277 - 3.6224 / (b - 2)
        k_u, k_v = jax.random.split(jax.random.fold_in(key, i))
        u = jax.random.uniform(k_u, shape, dtype) - 0.5
        v = jax.random.uniform(k_v, shape, dtype)
        us = 0.5 - jnp.abs(u)
        # j = k - floor(lam): O(sqrt(lam)) where it matters, exact as a float.
        j = jnp.floor((2 * a / us + b) * u + frac + 0.43)
        j = jnp.clip(j, -(2.0**30), 2.0**30)
        k = base + j
        fast = (us >= 0.07) & (v <= v_r)
        reject = (k < 0) | (k > top) | ((us < 0.013) & (v > us))
        lhs = jnp.log(v) + log_inv_alpha - jnp.log(a / (us * us) + b)
        ok = fast | (~reject & (lhs <= _log_poisson_pmf(k, lam, j - frac)))
        return ok, base.astype(jnp.int32) + j.astype(jnp.int32)

    return _first_accepted(attempt, done, jnp.int32)
