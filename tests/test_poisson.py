"""The Poisson family and chain (docs/theory.md SU-2): contracts, exact absorption,
bitwise
batch invariance, the martingale and the Galton–Watson absorption law.

Budget: statistical assertions go through ``assert_within_se`` (K from
tests/helpers.py). 4,096 chains, M = 20, lambda_0 = 0.5: SE of the mean rate at
n = 10 is about 0.0078; SE of P(absorbed) at most 0.0078.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import random as cjr
from collapse_jax.theory import counting as tc
from tests.helpers import (
    assert_within_se,
    binomial_se,
    ks_alpha,
    mean_and_se,
    module_seed,
)

FAM = cj.poisson()
M, LAM0, N, C = 20, 0.5, 60, 4096


@pytest.fixture(scope="module", params=["samples", "sufficient"])
def run(request):
    seed = module_seed(f"test_poisson.run.{request.param}")
    res = cj.run_chains(
        FAM,
        cj.poisson_params(LAM0),
        key=seed,
        num_chains=C,
        num_generations=N,
        sample_size=M,
        sampler=request.param,
    )
    return res, seed


def test_contracts_and_dtypes():
    key = jax.random.key(0)
    params = FAM.cast_params(cj.poisson_params(2.0), jnp.float32)
    x = jax.jit(FAM.sample, static_argnums=2)(key, params, 16)
    assert x.shape == (16,) and x.dtype == jnp.int32 and bool(jnp.all(x >= 0))
    fit = FAM.fit(key, x, jnp.ones(16, jnp.float32), params)
    assert fit.rate.dtype == jnp.float32 and fit.count.dtype == jnp.int32
    assert int(fit.count) == int(x.sum())
    np.testing.assert_allclose(float(fit.rate), float(x.mean()), rtol=1e-6)
    lp = FAM.log_prob(params, jnp.array([0, 1, 3], jnp.int32))
    np.testing.assert_allclose(
        np.asarray(lp), [-2.0, np.log(2) - 2, 3 * np.log(2) - 2 - np.log(6)], rtol=1e-6
    )
    assert FAM.fit_population(params) is params
    assert int(FAM.status(params)) == 0


def test_weighted_fit_integer_weights_equal_replication():
    data = jnp.array([0, 3, 5, 1], jnp.int32)
    w = jnp.array([2.0, 1.0, 0.0, 3.0], jnp.float32)
    rep = jnp.array([0, 0, 3, 1, 1, 1], jnp.int32)
    a = FAM.fit(None, data, w, None)
    b = FAM.fit(None, rep, jnp.ones(6, jnp.float32), None)
    assert float(a.rate) == float(b.rate) and int(a.count) == int(b.count) == 6
    zero = FAM.fit(None, data, jnp.zeros(4, jnp.float32), None)
    assert int(FAM.status(zero)) == int(cj.Status.ZERO_TOTAL_WEIGHT)


def test_absorbed_chain_stays_at_zero_exactly(run):
    res, _ = run
    count, rate = res.metrics["count"], res.metrics["rate"]
    absorbed = res.metrics["absorbed"]
    assert count.dtype == np.int32
    assert np.array_equal(absorbed, rate == 0)
    assert np.array_equal(absorbed[:, 1:], count[:, 1:] == 0)
    # once at 0, always at 0 (exact integers), and log_rate is -inf exactly there
    assert np.all(absorbed[:, 1:] >= absorbed[:, :-1])
    assert np.all(np.isneginf(res.metrics["log_rate"][absorbed]))
    assert np.all(np.isfinite(res.metrics["log_rate"][~absorbed]))
    frac = absorbed.mean(axis=0)
    assert np.all(np.diff(frac) >= 0)
    assert frac[-1] > 0.5
    assert res.ok


def test_rate_is_count_over_m(run):
    res, _ = run
    np.testing.assert_array_equal(
        res.metrics["rate"][:, 1:],
        (res.metrics["count"][:, 1:] / np.float32(M)).astype(np.float32),
    )


@pytest.mark.statistical
@pytest.mark.parametrize("n", [1, 10, 60])
def test_martingale_su2(run, n):
    res, seed = run
    est, se = mean_and_se(res.metrics["rate"][:, n])
    assert_within_se(
        est,
        tc.expected_poisson_rate(LAM0, n),
        se,
        what=f"E lambda_{n}, C={C}, M={M}",
        seed=seed,
    )


@pytest.mark.statistical
@pytest.mark.parametrize("n", [3, 10, 60])
def test_absorption_probability_galton_watson(run, n):
    res, seed = run
    p = tc.poisson_absorption_probability(LAM0, M, n)
    frac = float(res.metrics["absorbed"][:, n].mean())
    assert_within_se(
        frac, p, binomial_se(p, C), what=f"P(lambda_{n} = 0), C={C}, M={M}", seed=seed
    )


@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 8]))
def test_poisson_zero_is_absorbing(seed, m):
    key = jax.random.key(seed)
    zero = FAM.cast_params(cj.poisson_params(1.0), jnp.float32)._replace(
        rate=jnp.float32(0)
    )
    out = jax.jit(FAM.sample_fit)(key, zero, m)
    assert float(out.rate) == 0.0 and int(out.count) == 0
    x = jax.jit(FAM.sample, static_argnums=2)(key, zero, m)
    assert not np.any(np.asarray(x))


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (-1.0, ValueError, r"poisson_params\(\): rate must be > 0"),
        (0.0, ValueError, r"rate must be > 0; got 0.0. Pass a positive rate"),
        (float("nan"), ValueError, r"rate must be finite"),
        (float("inf"), ValueError, r"rate must be finite"),
        ([1.0, 2.0], ValueError, r"rate must be a scalar"),
        ("x", TypeError, r"rate must be numeric"),
    ],
)
def test_bad_rate_messages(bad, err, match):
    with pytest.raises(err, match=match):
        cj.poisson_params(bad)


def test_run_chains_rejects_foreign_params():
    with pytest.raises(TypeError, match=r"init must be PoissonParams"):
        cj.run_chains(
            FAM,
            cj.gaussian_params(0.0, 1.0),
            key=0,
            num_chains=1,
            num_generations=1,
            sample_size=3,
        )
    bad = cj.PoissonParams(np.float64(-2.0), np.int32(0))
    with pytest.raises(ValueError, match=r"init.rate must be finite and > 0"):
        cj.run_chains(FAM, bad, key=0, num_chains=1, num_generations=1, sample_size=3)


def test_theory_counting_closed_forms():
    q = tc.galton_watson_extinction(2000)
    assert q[0] == 0 and np.all(np.diff(q) > 0) and q[-1] < 1
    assert abs((1 - q[2000]) * 2000 - 2) < 0.02  # 1 - q_s ~ 2/s
    # the schedule recursion reduces to the Galton-Watson form for constant M
    for n in (1, 2, 7, 30):
        want = np.exp(-M * LAM0 * (1 - q[n - 1]))
        assert abs(tc.poisson_absorption_probability(LAM0, M, n) - want) < 1e-12
    assert tc.poisson_absorption_probability(
        LAM0, [5, 10, 40], 3
    ) != tc.poisson_absorption_probability(LAM0, 40, 3)
    assert tc.poisson_absorption_probability(0.0, M, 0) == 1.0
    assert tc.poisson_absorption_probability(LAM0, M, 0) == 0.0
    for k in (5, 10, 40):
        med = tc.forgetting_generation_quantile(k)
        assert q[med - 1] ** k >= 0.5 > q[med - 2] ** k
    assert abs(tc.forgetting_generation_quantile(400) / 400 - 2 / np.log(2)) < 0.02
    with pytest.raises(ValueError, match=r"rate must be a finite number >= 0"):
        tc.poisson_absorption_probability(-1.0, 5, 2)
    with pytest.raises(ValueError, match=r"prob must be in \(0, 1\)"):
        tc.forgetting_generation_quantile(3, 1.5)


# ---------------------------------------------------- the sampler (cjr.poisson) ---

_DRAW = jax.jit(cjr.poisson, static_argnums=2)


@pytest.mark.statistical
@pytest.mark.parametrize("mean", [0.3, 3.0, 9.9, 10.0, 40.0])
def test_sampler_law_mean_variance_and_pmf(mean):
    # Inversion below POISSON_INVERSION (10), PTRS from it on: 2**18 draws each.
    # Mean and variance at k SE (variance SE from the fourth moment, exact for a
    # Poisson: mu4 = lam (1 + 3 lam)); the pmf by a chi-square test at the budget.
    seed = module_seed(f"test_poisson.sampler.{mean}")
    n = 2**18
    x = np.asarray(_DRAW(jax.random.key(seed), jnp.float32(mean), (n,)), np.float64)
    lam = float(np.float32(mean))
    var_se = math.sqrt((lam * (1 + 3 * lam) - lam**2) / n)
    assert_within_se([x.mean(), x.var()], [lam, lam],
                     [math.sqrt(lam / n), var_se], seed=seed,
                     what=f"Poisson({mean}) sampler mean and variance, {n} draws")
    k_max = int(scipy_stats.poisson.isf(1e-3, lam))
    observed = np.bincount(np.minimum(x.astype(np.int64), k_max + 1),
                           minlength=k_max + 2)
    probs = scipy_stats.poisson.pmf(np.arange(k_max + 1), lam)
    probs = np.append(probs, 1 - probs.sum())
    keep = probs * n >= 5
    exp, obs = probs[keep] * n, observed[keep]
    if np.any(~keep):  # the sparse bins together
        exp = np.append(exp, probs[~keep].sum() * n)
        obs = np.append(obs, observed[~keep].sum())
    p_value = scipy_stats.chisquare(obs, exp).pvalue
    assert p_value > ks_alpha(), (mean, p_value)


def test_sampler_edge_means_and_prefix_stability():
    lam = jnp.asarray([0.0, 1e-9, 2.5, 9.999, 10.0, 5e4, np.nan, 3e9], jnp.float32)
    draw = jax.jit(lambda key, means: cjr.poisson(key, means, (8,)))
    x = np.asarray(draw(jax.random.key(1), lam))
    assert x[0] == 0 and x[1] == 0 and x[6] == -1 and x[7] == -1
    assert np.all(x[2:6] >= 0) and x.dtype == np.int32
    a = _DRAW(jax.random.key(3), jnp.float32(4.0), (40,))
    b = _DRAW(jax.random.key(3), jnp.float32(4.0), (9,))
    np.testing.assert_array_equal(np.asarray(a)[:9], np.asarray(b))


def test_sampler_of_a_batch_of_small_means_never_enters_the_rejection_loop():
    # The PTRS loop runs only while a lane with a mean >= 10 is undecided: its
    # while_loop's trip count is 0 here (counted through a host callback).
    from collapse_jax import random as random_module

    calls = []
    real = random_module._first_accepted

    def counting(attempt, done, dtype):
        def traced(i):
            jax.debug.callback(lambda: calls.append(1))
            return attempt(i)

        return real(traced, done, dtype)

    random_module._first_accepted = counting
    try:
        lam = jnp.full((64,), 3.0, jnp.float32)
        jax.block_until_ready(cjr.poisson(jax.random.key(0), lam, (64,)))
        assert calls == []
        mixed = lam.at[0].set(50.0)
        jax.block_until_ready(cjr.poisson(jax.random.key(0), mixed, (64,)))
        assert calls
    finally:
        random_module._first_accepted = real
