"""The collapse monitor's statistics: one test of one model against held-out data.

The rank (Mann–Whitney), coverage (Gaussian, ``chi2_d`` region) and tail
(categorical tail set) tests of :mod:`collapse_jax.monitor`, whose docstring states
their null laws and the false-alarm guarantee. A statistic asks the family for a
capability (a single-Gaussian location-scale, a probability vector), never for its
params type.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import stats

import jax
import jax.numpy as jnp

from collapse_jax._reduce import sequential_cumsum, tree_sum
from collapse_jax.families.base import ModelFamily, has

# -------------------------------------------------------------------- statistics ---


def _resolve(statistic: str, family: ModelFamily) -> str:
    if statistic != "auto":
        return statistic
    if has(family, "gaussian_center"):
        return "coverage"
    if has(family, "probability_vector"):
        return "tail"
    return "rank"


def _rank_test(two_sided, num_model_draws, key, family, params, lp_real):
    """Mann–Whitney: are held-out log-likelihoods stochastically smaller (larger)?

    ``U = sum_i #{j: l'_j < l_i} + #{l'_j = l_i} / 2`` over held-out ``l_i`` and
    model-draw ``l'_j`` log-likelihoods; under the null both are i.i.d. from one
    law, so ``U`` has the distribution-free Mann–Whitney law, mean ``nm / 2`` and
    variance ``nm/12 · (N + 1 - sum(t^3 - t) / (N (N - 1)))`` with ties of sizes
    ``t`` (``N = n + m``). Integer counts make ``U`` exact; the p-value is the
    normal approximation with a continuity correction. Returns ``(z, pvalue)``.
    """
    draws = family.sample(key, params, num_model_draws)
    lp_model = family.log_prob(params, draws)
    dtype = lp_model.dtype
    lp_real = lp_real.astype(dtype)
    n, m = lp_real.shape[0], num_model_draws
    big = n + m
    srt = jnp.sort(lp_model)
    below = jnp.searchsorted(srt, lp_real, side="left").astype(jnp.int32)
    upto = jnp.searchsorted(srt, lp_real, side="right").astype(jnp.int32)
    twice_u = jnp.sum(below + upto, dtype=jnp.int32)  # 2U, exact
    pooled = jnp.sort(jnp.concatenate([lp_real, lp_model]))
    run = jnp.searchsorted(pooled, pooled, side="right") - jnp.searchsorted(
        pooled, pooled, side="left"
    )
    run = run.astype(dtype)
    ties = tree_sum(run * run - 1)  # sum over groups of t^3 - t
    var = (n * m / 12.0) * ((big + 1) - ties / (big * (big - 1.0)))
    sd = jnp.sqrt(jnp.maximum(var, 0))
    safe = jnp.where(sd > 0, sd, 1)
    centred = 0.5 * twice_u.astype(dtype) - 0.5 * n * m
    z = jnp.where(sd > 0, centred / safe, 0)
    lower = jax.scipy.special.ndtr((centred + 0.5) / safe)
    if two_sided:
        upper = jax.scipy.special.ndtr(-(centred - 0.5) / safe)
        lower = jnp.minimum(1, 2 * jnp.minimum(lower, upper))
    return z, jnp.where(sd > 0, lower, 1).astype(dtype)


@functools.lru_cache(maxsize=64)
def _binomial_pvalues(n: int, q: float, two_sided: bool):
    """The p-value of every count ``k = 0..n`` against ``Binomial(n, q)`` (float64).

    One-sided: ``P(X >= k)``; two-sided: ``min(1, 2 min(P(X >= k), P(X <= k)))``.
    """
    k = np.arange(n + 1)
    upper = stats.binom.sf(k - 1, n, q)
    if not two_sided:
        return upper
    return np.minimum(1.0, 2.0 * np.minimum(upper, stats.binom.cdf(k, n, q)))


@functools.lru_cache(maxsize=64)
def _chi2_isf(q: float, dim: int) -> float:
    return float(stats.chi2.isf(q, dim))


def _coverage_test(two_sided, level, tail, family, params, held_out, lp_real):
    """Held-out points outside the model's central ``1 - tail`` region.

    For a Gaussian, ``log p(x) = log p(mean) - maha(x) / 2``, so "outside the region
    ``maha <= χ²_{d, 1-tail}``" is ``log p(x) < log p(mean) - χ²_{d,1-tail} / 2``.
    The p-values of all counts are computed on the host in float64, and the alarm
    is looked up there too (no float32 comparison at the boundary).

    Two-sided, a second exact test guards the location: ``n ||L^{-1}(x̄ - mean)||²``
    is ``χ²_d`` under the null (``x̄`` the held-out mean); each part runs at
    ``level / 2`` (Bonferroni), so the coverage count alone is blind to no
    direction the mean test misses (a wide model shifted to keep the count).
    Returns ``(count, pvalue, alarm)``.
    """
    n = lp_real.shape[0]
    dim = family.event_shape[0]
    dtype = lp_real.dtype
    top = family.log_prob(params, family.location_scale.center(params)[None, :])[0]
    cut = top - jnp.asarray(0.5 * _chi2_isf(tail, dim), dtype)
    count = jnp.sum(lp_real < cut, dtype=jnp.int32)
    table = _binomial_pvalues(n, tail, two_sided)
    part = level / 2 if two_sided else level
    pvalue = jnp.asarray(table, dtype)[count]
    alarm = jnp.asarray(table <= part)[count]
    if two_sided:
        xbar = tree_sum(held_out.astype(dtype), 0) / n
        at_mean = family.log_prob(params, xbar[None, :])[0]
        chi2 = jnp.maximum(2.0 * n * (top - at_mean), 0)
        p_mean = jax.scipy.special.gammaincc(
            jnp.asarray(dim / 2, dtype), 0.5 * chi2
        ).astype(dtype)
        alarm = alarm | (p_mean <= part)
        pvalue = jnp.minimum(1, 2 * jnp.minimum(pvalue, p_mean))
    return count.astype(dtype), pvalue, alarm


def _tail_set(probs, tail):
    """The model's least probable categories with cumulative mass ``<= tail``.

    Taken in increasing order of probability (lost categories first), always
    including the least probable category of positive probability; the set and
    its mass depend on the model alone, so under the null the held-out count on
    it is ``Binomial(n, mass)``.
    """
    order = jnp.argsort(probs, stable=True)
    srt = probs[order]
    cum = sequential_cumsum(srt)
    before = cum - srt  # exactly 0 up to the first positive category
    keep = (cum <= tail) | (before <= 0)
    return jnp.zeros(probs.shape, bool).at[order].set(keep)


def _tail_test(two_sided, tail, probs, held_out):
    """Held-out tokens on the model's tail set against ``Binomial(n, p_tail)``."""
    dtype = probs.dtype
    n = held_out.shape[0]
    in_tail = _tail_set(probs, jnp.asarray(tail, dtype))
    mass = jnp.clip(tree_sum(jnp.where(in_tail, probs, 0)), 0, 1)
    count = jnp.sum(in_tail[held_out], dtype=jnp.int32)
    # P(X >= k) = I_p(k, n - k + 1) for k >= 1; P(X <= k) = I_{1-p}(n - k, k + 1)
    # for k < n (regularised incomplete beta).
    a = jnp.maximum(count, 1).astype(dtype)
    b = (n - count + 1).astype(dtype)
    pvalue = jnp.where(count > 0, jax.scipy.special.betainc(a, b, mass), 1)
    if two_sided:
        c = jnp.maximum(n - count, 1).astype(dtype)
        d = (count + 1).astype(dtype)
        low = jnp.where(count < n, jax.scipy.special.betainc(c, d, 1 - mass), 1)
        pvalue = jnp.minimum(1, 2 * jnp.minimum(pvalue, low))
    return count.astype(dtype), pvalue.astype(dtype)


def _test(cfg, key, family, params, held_out):
    """One test of one model; see :attr:`CollapseMonitor.test`."""
    statistic, level, num_model_draws, tail, two_sided = cfg
    kind = _resolve(statistic, family)
    lp_real = family.log_prob(params, held_out)
    lost = jnp.sum(jnp.isneginf(lp_real), dtype=jnp.int32)
    if kind == "rank":
        stat, pvalue = _rank_test(
            two_sided, num_model_draws, key, family, params, lp_real
        )
        alarm = pvalue <= level
    elif kind == "coverage":
        stat, pvalue, alarm = _coverage_test(
            two_sided, level, tail, family, params, held_out, lp_real
        )
    else:
        probs = family.probability_vector.get(params)
        stat, pvalue = _tail_test(two_sided, tail, probs, held_out)
        alarm = pvalue <= level
    return stat, pvalue, alarm | (lost > 0), lost
