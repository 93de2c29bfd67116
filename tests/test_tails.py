"""Zipf tails and the memorisation learner (docs/theory.md TT-1, TT-2, TT-3) on the
categorical chain, and the large-vocabulary (inverse-CDF) sampler.

Budget: assertions through ``assert_within_se`` (K from tests/helpers.py). Sizes:
V = 20,000, beta = 2; TT-1: 256 replicates, T = 10^4 (SE of the mean error ~2e-5);
TT-3: 64 chains, T_0 = 5,000, n in {1, 5, 20} (SE ~3e-4 at n = 20).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.theory import tails as tt
from tests.helpers import assert_within_se, mean_and_se, module_seed

# the module (collapse_jax.families exports a function of the same name)
cat_mod = importlib.import_module("collapse_jax.families.categorical")

V, BETA = 20_000, 2.0
P = tt.zipf_probs(V, BETA)


def _errors(truth, train, t, chains, seed, sampler="samples"):
    res = cj.run_chains(
        cj.categorical(truth.shape[0]),
        cj.categorical_params(train),
        key=seed,
        num_chains=chains,
        num_generations=1,
        sample_size=t,
        sampler=sampler,
        metrics=["lost_mass"],
        record_params=False,
    )
    counts = np.asarray(res.final_state.params.counts)
    assert np.all(counts.sum(axis=1) == t)
    return np.sum(np.where(counts == 0, truth[None, :], 0.0), axis=1), res


@pytest.mark.statistical
@pytest.mark.parametrize(
    "sampler",
    [
        "samples",
        # the tree of binomials is exact but slow on CPU (jax.random.binomial)
        pytest.param("sufficient", marks=pytest.mark.slow),
    ],
)
def test_tt1_exact_sum_matches_the_learner(sampler):
    seed = module_seed(f"test_tails.tt1.{sampler}")
    t = 10_000
    errs, res = _errors(P, P, t, 256 if sampler == "samples" else 64, seed, sampler)
    # with truth = training distribution, the family's lost_mass metric is the error
    np.testing.assert_allclose(
        res.metrics["lost_mass"][:, 1], errs, rtol=1e-4, atol=1e-7
    )
    est, se = mean_and_se(errs)
    assert_within_se(
        est,
        tt.memorisation_error(P, t),
        se,
        what=f"TT-1 E_test, V={V}, T={t}, {sampler}",
        seed=seed,
    )


def test_tt1_asymptotic_constant():
    p = tt.zipf_probs(200_000, 2.0)
    for t in (1_000, 10_000, 100_000):
        ratio = tt.memorisation_error_asymptotic(2.0, t) / tt.memorisation_error(p, t)
        # docs/theory.md TT-1: 1 % for beta in [2, 3]
        assert abs(ratio - 1) < 0.01, (t, ratio)


@pytest.mark.statistical
def test_tt2_plateau_at_the_tail_mass():
    seed = module_seed("test_tails.tt2")
    k = 100
    q = tt.tail_cut_probs(P, k)
    floor = tt.tail_mass(P, k)
    assert abs(floor - tt.tail_mass_asymptotic(BETA, k)) / floor < 0.02
    exact = [tt.memorisation_error(P, t, q) for t in (10**3, 10**4, 10**5, 10**6)]
    assert np.all(np.diff(exact) < 0) and np.all(np.asarray(exact) >= floor)
    assert exact[-1] - floor < 1e-12  # the scaling law stops at the floor
    errs, _ = _errors(P, q, 10_000, 64, seed)
    assert np.all(errs >= floor - 1e-7)  # cut tokens are never learned
    est, se = mean_and_se(errs)
    assert_within_se(est, exact[1], se, what="TT-2 E_test, k=100, T=1e4", seed=seed)


@pytest.mark.statistical
def test_tt3_lost_mass_over_generations():
    seed = module_seed("test_tails.tt3")
    t0 = 5_000
    res = cj.run_chains(
        cj.categorical(V),
        cj.categorical_params(P),
        key=seed,
        num_chains=64,
        num_generations=20,
        sample_size=t0,
        metrics=["lost_mass"],
        record_params=False,
    )
    lm = res.metrics["lost_mass"].astype(np.float64)
    assert np.all(np.diff(lm, axis=1) >= 0)  # a lost token never comes back
    for n in (1, 5, 20):
        est, se = mean_and_se(lm[:, n])
        assert_within_se(
            est,
            tt.lost_mass_after_generations(P, t0, n),
            se,
            what=f"TT-3 lost mass n={n}, T0={t0}",
            seed=seed,
        )
    ess = tt.equivalent_sample_size(t0, 20)
    assert 0.9 < ess / (2 * t0 / 20) < 1.0


def test_inverse_cdf_sampler_is_exact_on_support_and_prefix_stable():
    probs = np.zeros(300)
    probs[[0, 7, 150, 299]] = [0.1, 0.2, 0.3, 0.4]
    x = cat_mod._inverse_cdf_draws(
        jax.random.key(1), jnp.asarray(probs, jnp.float32), 20_000
    )
    x = np.asarray(x)
    assert set(np.unique(x)) <= {0, 7, 150, 299}
    freq = np.bincount(x, minlength=300)[[0, 7, 150, 299]] / x.size
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.02)
    y = cat_mod._inverse_cdf_draws(
        jax.random.key(1), jnp.asarray(probs, jnp.float32), 100
    )
    np.testing.assert_array_equal(x[:100], np.asarray(y))
    c = cat_mod._tree_multinomial(
        jax.random.key(2), jnp.asarray(probs, jnp.float32), jnp.int32(1000)
    )
    c = np.asarray(c)
    assert c.sum() == 1000 and np.all(c[probs == 0] == 0)


def test_inverse_cdf_is_flat_at_zero_probabilities_and_monotone():
    # Zipf probabilities with random zeros, in float32: the tree sums round each
    # position differently, so the raw sums step over zeros (a forgotten word would
    # come back); the cdf the sampler inverts must not.
    rng = np.random.default_rng(0)
    raw_steps = 0
    for _ in range(20):
        p = np.arange(1, 1001, dtype=np.float64) ** -1.1
        p[rng.random(1000) < 0.5] = 0.0
        p = jnp.asarray(p / p.sum(), jnp.float32)
        sums = np.asarray(cat_mod._cumsum(p))
        cdf = np.asarray(cat_mod._sampling_cdf(p))
        zero = np.asarray(p)[1:] == 0
        raw_steps += int(np.sum(sums[1:][zero] != sums[:-1][zero]))
        np.testing.assert_array_equal(cdf[1:][zero], cdf[:-1][zero])
        assert np.all(np.diff(cdf) >= 0)
        assert cdf[np.asarray(p) > 0][0] > 0
        np.testing.assert_allclose(cdf, np.cumsum(np.asarray(p, np.float64)),
                                   atol=1e-6)
    assert raw_steps > 0  # the case the running maximum exists for


def test_cumsum_matches_numpy():
    x = np.random.default_rng(0).random(1000).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(cat_mod._cumsum(jnp.asarray(x))),
        np.cumsum(x, dtype=np.float64),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "sampler", ["samples", pytest.param("sufficient", marks=pytest.mark.slow)]
)
def test_large_k_chain_is_batch_invariant(sampler):
    p = tt.zipf_probs(cat_mod.LARGE_K, 1.5)
    kw = dict(key=4, num_generations=4, sample_size=500, sampler=sampler)
    fam = cj.categorical(cat_mod.LARGE_K)
    batch = cj.run_chains(fam, cj.categorical_params(p), num_chains=8, **kw)
    alone = cj.run_chains(
        fam, cj.categorical_params(p), num_chains=1, first_chain=5, **kw
    )
    np.testing.assert_array_equal(alone.params.counts[0], batch.params.counts[5])
    np.testing.assert_array_equal(
        alone.metrics["lost_mass"][0], batch.metrics["lost_mass"][5]
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: tt.zipf_probs(10, 1.0),
            r"zipf_probs\(\): beta must be a finite number > 1",
        ),
        (lambda: tt.zipf_probs(0, 2.0), r"num_tokens must be >= 1"),
        (
            lambda: tt.memorisation_error([0.5, 0.6], 3),
            r"probs must be probabilities summing",
        ),
        (
            lambda: tt.memorisation_error([0.5, 0.5], 3, [1.0]),
            r"train_probs must be of the same shape",
        ),
        (lambda: tt.tail_mass([0.5, 0.5], 3), r"k must be <= the vocabulary size 2"),
        (
            lambda: tt.lost_mass_after_generations([1.0], 10, 0),
            r"num_generations must be >= 1",
        ),
        (
            lambda: tt.memorisation_error_asymptotic(2.0, 0),
            r"num_train_tokens must be >= 1",
        ),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
