"""Pooled sufficient statistics (ModelFamily.pooled) and accumulate's use of them.

* exactness: the fit of the merged per-generation statistics equals the family's
  fit to the pooled points, to float32 rounding (relative 2e-5: a few ulps of the
  O(1) quantities, amplified at most d-fold by a Cholesky factor);
* precision: over 10^4 generations in float32, the compensated Chan merge stays
  within a few ulps of float64, where plain float32 running sums lose digits (the
  test measures both, so it fails for a naive pooled update);
* the chain: accumulate keeps O(1) numbers per chain for the pooling families,
  its chain follows the point-buffer chain path by path (same keys, same draws)
  and in law (k·SE, independent seeds), bit for bit across batch and chunking.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.families import _pooled
from collapse_jax.families.base import pools
from collapse_jax.regimes.buffers import Pool, Pooled
from collapse_jax.testing import check_regime
from tests.helpers import assert_within_se, mean_and_se, module_seed

LR_X = np.random.default_rng(1).standard_normal((12, 3))


def _families():
    return {
        "gaussian1": (cj.gaussian(), cj.gaussian_params(0.5, 2.0)),
        "gaussian3": (
            cj.gaussian(3, "mle"),
            cj.gaussian_params([1.0, -2.0, 0.5], np.diag([1.0, 2.0, 0.5])),
        ),
        "categorical": (
            cj.categorical(4),
            cj.categorical_params(np.array([0.4, 0.3, 0.2, 0.1])),
        ),
        "poisson": (cj.poisson(), cj.poisson_params(3.0)),
        "ols": (
            cj.linear_regression(3, design="fresh"),
            cj.linear_regression_params([1.0, -1.0, 0.5], noise_sd=1.0),
        ),
        "ridge_fixed": (
            cj.linear_regression(3, 12, fit="ridge", ridge=0.1),
            cj.linear_regression_params(
                [1.0, -1.0, 0.5], design=LR_X, noise_sd=1.0
            ),
        ),
    }


def test_which_families_pool():
    for name, (fam, _) in _families().items():
        assert pools(fam), name
    assert not pools(cj.gmm(2))
    assert not pools(cj.linear_regression(3, design="fresh", fit="min_norm"))
    # a replaced fit (an approximate fit, a wrapper) no longer matches its statistic
    approx = cj.approximate(cj.gaussian(), num_steps=5, learning_rate=0.1)
    assert approx.pooled is not None and not pools(approx)
    assert not pools(_unpooled(cj.gaussian()))


@pytest.mark.parametrize("name", list(_families()))
def test_accumulate_keeps_the_statistic_not_the_points(name):
    fam, truth = _families()[name]
    spec = jax.ShapeDtypeStruct((50,) + fam.event_shape, jnp.float32)
    if name in ("categorical", "poisson"):
        spec = jax.ShapeDtypeStruct((50,), jnp.int32)
    if name.startswith(("ols", "ridge")):
        spec = jax.ShapeDtypeStruct((50, 4), jnp.float32)
    state = jax.eval_shape(lambda: cj.accumulate().init(fam, spec, 1000))
    assert isinstance(state, Pooled)
    size = sum(np.prod(x.shape) for x in jax.tree.leaves(state))
    assert size < 100  # O(1): not 1000 generations x 50 points
    # points where the fit needs them
    gmm_state = jax.eval_shape(lambda: cj.accumulate().init(cj.gmm(2), spec, 10))
    assert isinstance(gmm_state, Pool)
    sub = jax.eval_shape(lambda: cj.accumulate_subsample(5).init(fam, spec, 10))
    assert isinstance(sub, Pool)


def _draws(fam, truth, key, n):
    params = fam.cast_params(truth, jnp.float32)
    return fam.sample(key, params, n), params


@pytest.mark.parametrize("name", list(_families()))
@pytest.mark.parametrize("weights", ["mask", "fractional"])
def test_pooled_fit_equals_the_fit_of_the_pooled_points(name, weights):
    fam, truth = _families()[name]
    hooks = fam.pooled
    n, gens = 12, 5
    keys = jax.random.split(jax.random.key(7), gens)
    rng = np.random.default_rng(3)
    parts, ws = [], []
    for g in range(gens):
        x, params = _draws(fam, truth, keys[g], n)
        if weights == "mask":
            w = (np.arange(n) < rng.integers(6, n + 1)).astype(np.float32)
        else:
            w = rng.uniform(0.0, 2.0, n).astype(np.float32)
            w[rng.integers(n)] = 0.0
        parts.append(x)
        ws.append(jnp.asarray(w))
    stats = jax.tree.map(jnp.zeros_like, hooks.stats(parts[0], ws[0]))
    for x, w in zip(parts, ws, strict=True):
        stats = hooks.merge(stats, hooks.stats(x, w))
    pooled = hooks.fit(stats, params)
    direct = fam.fit(None, jnp.concatenate(parts), jnp.concatenate(ws), params)
    for a, b in zip(jax.tree.leaves(pooled), jax.tree.leaves(direct), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if np.issubdtype(b.dtype, np.integer):
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_merging_into_the_empty_statistic_is_exact():
    fam = cj.gaussian(2)
    x = jax.random.normal(jax.random.key(0), (9, 2)) * 3.0 + 100.0
    w = jnp.ones(9)
    one = fam.pooled.stats(x, w)
    merged = fam.pooled.merge(jax.tree.map(jnp.zeros_like, one), one)
    for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(one), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _naive_pool(x):
    """Plain float32 running sums of x and x x^T, one generation at a time."""

    def body(carry, xg):
        n, s, ss = carry
        return (n + xg.shape[0], s + xg.sum(0), ss + xg.T @ xg), None

    d = x.shape[-1]
    init = (jnp.float32(0), jnp.zeros(d), jnp.zeros((d, d)))
    (n, s, ss), _ = jax.lax.scan(body, init, x)
    m = s / n
    return m, (ss - n * jnp.outer(m, m)) / n


def _chan_pool(x):
    stats0 = _pooled.moments(x[0], jnp.zeros(x.shape[1]))

    def body(st, xg):
        new = _pooled.moments(xg, jnp.ones(xg.shape[0]))
        return _pooled.merge_moments(st, new), None

    st, _ = jax.lax.scan(body, stats0, x)
    w = _pooled.value(st.weight)
    return _pooled.value(st.mean), _pooled.value(st.m2) / w


def test_float32_pooling_over_ten_thousand_generations_stays_near_float64():
    # 10^4 generations x 32 points of a 2-D Gaussian far from the origin (mean 300,
    # sd 1): 3.2e5 points, a total weight beyond float32's exact integers for sums
    # of squares. The pooled float32 moments must stay within a few ulps of the
    # float64 moments of the same float32 points.
    gens, m, d = 10_000, 32, 2
    rng = np.random.default_rng(11)
    x64 = rng.standard_normal((gens, m, d)) + np.array([300.0, -50.0])
    x32 = x64.astype(np.float32)
    flat = x32.reshape(-1, d).astype(np.float64)
    mean64, cov64 = flat.mean(0), np.cov(flat.T, bias=True)
    chan_m, chan_c = jax.jit(_chan_pool)(jnp.asarray(x32))
    naive_m, naive_c = jax.jit(_naive_pool)(jnp.asarray(x32))
    eps = np.finfo(np.float32).eps

    def rel(c):
        return np.max(np.abs(np.asarray(c, np.float64) - cov64)) / np.max(np.abs(cov64))

    mean_err = np.max(np.abs(np.asarray(chan_m, np.float64) - mean64) / 300.0)
    assert mean_err < 8 * eps, mean_err
    assert rel(chan_c) < 8 * eps, rel(chan_c)
    # the naive running sums lose several digits on the same data (this test
    # would fail for them)
    assert rel(naive_c) > 1e3 * eps, rel(naive_c)
    assert np.max(np.abs(np.asarray(naive_m, np.float64) - mean64) / 300) > 8 * eps


def test_compensated_counts_stay_exact_past_float32_integers():
    # 10^4 generations of Poisson counts totalling ~4e7 > 2**24: a float32 running
    # sum rounds; the compensated one keeps the exact total.
    fam = cj.poisson()
    gens, m = 10_000, 1_000
    counts = np.random.default_rng(5).poisson(4.0, (gens, m)).astype(np.int32)

    def body(st, xg):
        return fam.pooled.merge(st, fam.pooled.stats(xg, jnp.ones(m))), None

    first = fam.pooled.stats(jnp.asarray(counts[0]), jnp.ones(m))
    st0 = jax.tree.map(jnp.zeros_like, first)
    st, _ = jax.jit(lambda c: jax.lax.scan(body, st0, c))(jnp.asarray(counts))
    total = int(counts.astype(np.int64).sum())
    assert total > 2**24
    assert float(np.float64(st.total.hi) + np.float64(st.total.lo)) == total
    fit = fam.pooled.fit(st, None)
    assert int(fit.count) == total
    np.testing.assert_allclose(float(fit.rate), total / (gens * m), rtol=2 * 6e-8)


def _unpooled(fam):
    """``fam`` with an equal fit that is not the pooled statistic's: points kept."""
    return fam._replace(fit=lambda k, x, w, p: fam.fit(k, x, w, p))


def test_pooled_chain_follows_the_point_buffer_chain():
    # Same keys, same draws: the two paths differ by float rounding of the fits.
    fam = cj.gaussian(2)
    truth = cj.gaussian_params([0.0, 1.0], [[1.0, 0.3], [0.3, 2.0]])
    kw = dict(key=4, num_chains=6, num_generations=12, sample_size=15,
              regime=cj.accumulate(), metrics=["mean", "log_var"])
    a = cj.run_chains(fam, truth, **kw)
    b = cj.run_chains(_unpooled(fam), truth, **kw)
    for name in ("mean", "log_var"):
        np.testing.assert_allclose(
            a.metrics[name], b.metrics[name], rtol=1e-4, atol=1e-4
        )


@pytest.mark.statistical
def test_pooled_chain_has_the_law_of_the_point_buffer_chain():
    fam, truth = cj.gaussian(), cj.gaussian_params(0.0, 1.0)
    seed = module_seed("test_pooled.law")
    kw = dict(num_chains=1024, num_generations=10, sample_size=8,
              regime=cj.accumulate(), metrics=["log_var"])
    a = cj.run_chains(fam, truth, key=seed, **kw).metrics["log_var"][:, -1, 0]
    b = cj.run_chains(_unpooled(fam), truth, key=seed + 1, **kw)
    b = b.metrics["log_var"][:, -1, 0]
    (ma, sa), (mb, sb) = mean_and_se(a), mean_and_se(b)
    assert_within_se(ma - mb, 0.0, float(np.hypot(sa, sb)),
                     what="E log sigma^2_10, pooled vs points, 1024 chains each",
                     seed=seed)


@pytest.mark.parametrize("name", ["poisson", "ols", "categorical"])
def test_pooled_accumulate_is_bitwise_batch_and_chunk_invariant(name):
    fam, truth = _families()[name]
    check_regime(cj.accumulate(), fam, truth, sample_size=(12, 9, 14, 10),
                 population=False)


def test_adaptive_over_accumulate_keeps_points_and_runs():
    mon = cj.collapse_monitor(held_out=20)
    res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=1,
                        num_chains=4, num_generations=4, sample_size=10,
                        regime=cj.adaptive(mon, 5, base=cj.accumulate()))
    assert res.ok
