"""Sampling bias: distortions against independent NumPy, AL-2, and their effects."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.theory import bias as tb
from collapse_jax.theory import gaussian as tg
from tests.helpers import assert_within_se

CAT = cj.categorical(6)
P0 = np.array([0.35, 0.25, 0.2, 0.1, 0.07, 0.03])
TRUTH = cj.categorical_params(P0)


def _distort(bias, probs):
    params = CAT.cast_params(cj.categorical_params(probs), jnp.float32)
    hyper = {k: jnp.asarray(v) for k, v in bias.hyper.items()}
    hyper = {k: v.astype(jnp.float32) if v.dtype == jnp.float64 else v
             for k, v in hyper.items()}
    return np.asarray(bias.distort(CAT, params, hyper).probs, np.float64)


probs_strategy = st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6).filter(
    lambda v: sum(v) > 0.1).map(lambda v: np.asarray(v) / np.sum(v))


@given(probs_strategy, st.sampled_from([0.3, 0.7, 1.0, 2.5]))
def test_temperature_matches_numpy(p, t):
    np.testing.assert_allclose(_distort(cj.temperature(t), p),
                               tb.tempered_probs(p, t), rtol=2e-5, atol=1e-7)


@given(probs_strategy, st.sampled_from([1, 2, 4, 6]))
def test_top_k_matches_numpy(p, k):
    np.testing.assert_allclose(_distort(cj.top_k(k), p), tb.top_k_probs(p, k),
                               rtol=2e-6, atol=1e-7)


@given(probs_strategy, st.sampled_from([0.1, 0.5, 0.9, 1.0]))
def test_nucleus_matches_numpy(p, top_p):
    got = _distort(cj.nucleus(top_p), p)
    want = tb.nucleus_probs(p, top_p)
    # float32 cumulative sums can move a category sitting exactly at the boundary
    if not np.array_equal(got > 0, want > 0):
        before = np.cumsum(np.sort(p)[::-1]) - np.sort(p)[::-1]
        assert np.min(np.abs(before - top_p)) < 1e-6
        return
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("bias, kw", [
    (cj.temperature(0.6), {"temperature": 0.6}),
    (cj.top_k(3), {"k": 3}),
    (cj.nucleus(0.7), {"top_p": 0.7}),
])
def test_population_chain_under_bias_is_the_exact_map(bias, kw):
    res = cj.run_chains(CAT, TRUTH, key=0, num_chains=8, num_generations=6,
                        sample_size=None, sampling=bias)
    want = tb.population_chain_probs(P0, 6, **kw)
    np.testing.assert_allclose(res.metrics["probs"][0], want, rtol=3e-5, atol=1e-7)


def test_variance_scale_population_chain_is_geometric():
    g = cj.gaussian()
    res = cj.run_chains(g, cj.gaussian_params(1.0, 2.0), key=0, num_chains=8,
                        num_generations=10, sample_size=None,
                        sampling=cj.variance_scale(0.8))
    want = np.log(2.0) + np.arange(11) * np.log(0.8)
    np.testing.assert_allclose(res.metrics["log_var"][0, :, 0], want, atol=2e-6)
    np.testing.assert_allclose(res.metrics["mean"][0, :, 0], 1.0, atol=1e-6)


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_al2_biased_log_variance(seed, sampler):
    """AL-2: E log sigma_t^2 = t (log lambda + g(M)) and E sigma_t^2 = lambda^t."""
    lam, m, n, chains = 0.9, 20, 10, 8192
    res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=seed,
                        num_chains=chains, num_generations=n, sample_size=m,
                        sampler=sampler, sampling=cj.variance_scale(lam),
                        record_params=False)
    lv = res.metrics["log_var"][:, -1, 0].astype(np.float64)
    se = lv.std(ddof=1) / np.sqrt(chains)
    assert_within_se(lv.mean(), tg.expected_log_variance(m, n, sampling_bias=lam),
                     se, what="E log sigma_t^2")
    v = np.exp(lv)
    assert_within_se(v.mean(), tg.expected_variance(m, n, sampling_bias=lam),
                     v.std(ddof=1) / np.sqrt(chains), what="E sigma_t^2")


def test_repetition_penalty_one_is_unbiased_sampling(seed):
    """Penalty 1: the chain is a martingale, E p_1 = p_0 (z = 5 per category)."""
    chains = 4096
    res = cj.run_chains(CAT, TRUTH, key=seed, num_chains=chains, num_generations=1,
                        sample_size=64, sampling=cj.repetition_penalty(1.0, 16),
                        record_params=False)
    p1 = res.metrics["probs"][:, 1].astype(np.float64)
    for j in range(6):
        assert_within_se(p1[:, j].mean(), P0[j],
                         p1[:, j].std(ddof=1) / np.sqrt(chains), what=f"p_1[{j}]")


def test_repetition_penalty_raises_diversity_and_biases_the_model(seed):
    """Direction: penalising repeats flattens each sequence, so the fitted model has
    more entropy than unbiased sampling's, and it is biased towards uniform: the
    most probable category loses mass and the rarest gains (E p_1 != p_0). A
    diversity gain bought with fidelity. Paired chains, z = 5."""
    chains = 2048
    kw = dict(key=seed, num_chains=chains, num_generations=1, sample_size=64,
              record_params=False, metrics=("entropy", "probs"))
    plain = cj.run_chains(CAT, TRUTH, sampling=cj.repetition_penalty(1.0, 16), **kw)
    pen = cj.run_chains(CAT, TRUTH, sampling=cj.repetition_penalty(3.0, 16), **kw)
    d = (pen.metrics["entropy"][:, 1] - plain.metrics["entropy"][:, 1]).astype(float)
    assert d.mean() / (d.std(ddof=1) / np.sqrt(chains)) > 5
    p1 = pen.metrics["probs"][:, 1].astype(np.float64)
    se = p1.std(axis=0, ddof=1) / np.sqrt(chains)
    assert (P0[0] - p1[:, 0].mean()) / se[0] > 5
    assert (p1[:, 5].mean() - P0[5]) / se[5] > 5


def test_low_temperature_forgets_rare_categories_sooner(seed):
    """T < 1 sharpens the sampled model: the lost-support fraction at generation 5
    exceeds unbiased sampling's (paired chains, z = 5)."""
    chains = 2048
    kw = dict(key=seed, num_chains=chains, num_generations=5, sample_size=40,
              record_params=False)
    plain = cj.run_chains(CAT, TRUTH, **kw).metrics["support_size"][:, -1]
    cold = cj.run_chains(CAT, TRUTH, sampling=cj.temperature(0.7), **kw)
    d = (plain - cold.metrics["support_size"][:, -1]).astype(np.float64)
    assert d.mean() / (d.std(ddof=1) / np.sqrt(chains)) > 5


@pytest.mark.parametrize("make, match", [
    (lambda: cj.temperature(0.0), "temperature"),
    (lambda: cj.temperature(-1.0), "temperature"),
    (lambda: cj.top_k(0), "k"),
    (lambda: cj.nucleus(0.0), "top_p"),
    (lambda: cj.nucleus(1.5), "top_p"),
    (lambda: cj.variance_scale(0.0), "scale"),
    (lambda: cj.repetition_penalty(0.0), "penalty"),
    (lambda: cj.repetition_penalty(1.5, 0), "sequence_length"),
    (lambda: cj.temperature("hot"), "temperature"),
])
def test_bad_bias_settings_are_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bias_must_fit_the_family_and_sampler():
    with pytest.raises(
        ValueError,
        match=r"sampling must be for a family with a probability vector "
        r"\(ModelFamily.probability_vector\); got temperature for the gaussian "
        r"family, which has none\.",
    ):
        cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
                      num_chains=8, num_generations=2, sample_size=10,
                      sampling=cj.temperature(0.5))
    with pytest.raises(ValueError, match="'samples' with sampling=repetition"):
        cj.run_chains(CAT, TRUTH, key=0, num_chains=8, num_generations=2,
                      sample_size=10, sampler="sufficient",
                      sampling=cj.repetition_penalty(2.0))
    with pytest.raises(TypeError, match="sampling bias"):
        cj.run_chains(CAT, TRUTH, key=0, num_chains=8, num_generations=2,
                      sample_size=10, sampling="hot")
