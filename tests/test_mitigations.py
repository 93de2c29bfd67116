"""Mitigations: the weights they give, and the direction of their effect on collapse.

Each effect test compares paired chains (same keys, so the same draws up to the
curation) and asserts the sign with z = 5 on the per-chain differences. Directions
(README, table of regimes): tail weighting slows the loss of variance and overshoots
when its exponent is large; likelihood filtering speeds collapse up, and a diversity
quota partly undoes that; the repetition penalty (tests/test_sampling_bias.py) buys
diversity with fidelity.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.theory import bias as tb
from tests.helpers import assert_within_se

G = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 1.0)


def _weigh(curation, data, weights, params=None, reference=None, key=0):
    params = params or G.cast_params(TRUTH, jnp.float32)
    reference = reference or params
    hyper = {k: jnp.asarray(v, jnp.float32) for k, v in curation.hyper.items()}
    return np.asarray(curation.weigh(G, jax.random.key(key), params, reference,
                                     jnp.asarray(data, jnp.float32)[:, None],
                                     jnp.asarray(weights, jnp.float32), hyper))


def test_tail_weights_are_p_to_the_minus_tau_with_the_total_kept():
    x = np.array([-2.0, -0.5, 0.0, 1.0, 3.0, 9.0])
    w = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])  # the last point is masked
    got = _weigh(cj.tail_weighting(0.3), x, w)
    raw = np.exp(0.3 * x[:5] ** 2 / 2)
    want = np.append(raw / raw.sum() * 5, 0.0)
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_tail_weighting_under_the_reference_uses_its_density():
    ref = G.cast_params(cj.gaussian_params(0.0, 4.0), jnp.float32)
    x = np.array([-1.0, 0.5, 2.0])
    got = _weigh(cj.tail_weighting(1.0, under="reference"), x, np.ones(3),
                 reference=ref)
    raw = np.exp(x**2 / 8)
    np.testing.assert_allclose(got, raw / raw.sum() * 3, rtol=2e-6)


def test_tail_weighting_population_effect_is_the_closed_form(seed):
    """One generation at large M: the weighted fit's variance is sigma^2/(1 - tau)
    (importance weighting is consistent; z = 5 over chains)."""
    tau, chains = 0.2, 512
    res = cj.run_chains(G, TRUTH, key=seed, num_chains=chains, num_generations=1,
                        sample_size=20000, curation=cj.tail_weighting(tau),
                        record_params=False)
    v = np.exp(res.metrics["log_var"][:, 1, 0].astype(np.float64))
    assert_within_se(v.mean(), tb.tail_weighted_variance(1.0, tau),
                     v.std(ddof=1) / np.sqrt(chains), what="weighted variance",
                     allowance=2e-3)  # self-normalised weights: O(1/M) bias


def test_likelihood_filter_keeps_the_top_scores_plus_a_random_quota():
    x = np.array([0.1, -3.0, 2.5, 0.0, -0.4, 1.5, 4.0, -1.0, 0.7, 0.2])
    w = np.ones(10)
    got = _weigh(cj.likelihood_filter(0.5), x, w)
    keep = np.argsort(np.abs(x), kind="stable")[:5]
    np.testing.assert_array_equal(np.flatnonzero(got), np.sort(keep))
    got = _weigh(cj.likelihood_filter(0.6, diversity_quota=0.5), x, w, key=3)
    chosen = np.flatnonzero(got)
    assert chosen.size == 6
    top3 = set(np.argsort(np.abs(x), kind="stable")[:3])
    assert top3 <= set(chosen)
    # the other three come from the rest, chosen uniformly: not all the next best
    counts = np.zeros(10)
    for k in range(300):
        counts += _weigh(cj.likelihood_filter(0.6, diversity_quota=0.5), x, w,
                         key=k) > 0
    rest = [i for i in range(10) if i not in top3]
    np.testing.assert_allclose(counts[rest] / 300, 3 / 7, atol=5 * np.sqrt(
        (3 / 7) * (4 / 7) / 300))


def test_custom_score_is_a_verifier():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    got = _weigh(cj.likelihood_filter(0.4, score=lambda d: d[:, 0]), x, np.ones(5))
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 1])


def _paired(curation, seed, *, n=30, m=20, chains=2048, family=G, truth=TRUTH,
            metric="log_var"):
    kw = dict(key=seed, num_chains=chains, num_generations=n, sample_size=m,
              record_params=False)
    plain = cj.run_chains(family, truth, **kw).metrics[metric][:, -1]
    cur = cj.run_chains(family, truth, curation=curation, **kw).metrics[metric][:, -1]
    d = np.asarray(cur, np.float64) - np.asarray(plain, np.float64)
    d = d.reshape(chains, -1)[:, 0]
    return d.mean() / (d.std(ddof=1) / np.sqrt(chains)), np.asarray(cur, np.float64)


def test_tail_weighting_slows_the_loss_of_variance(seed):
    z, _ = _paired(cj.tail_weighting(0.05), seed)
    assert z > 5


def test_tail_weighting_overshoots_when_the_exponent_is_large(seed):
    """tau = 0.5 inflates the variance each generation (population map 1/(1-tau)):
    E log sigma_n^2 rises above the truth's 0 (z = 5)."""
    _, lv = _paired(cj.tail_weighting(0.5), seed, n=10, chains=512)
    lv = lv.reshape(512, -1)[:, 0]
    assert lv.mean() / (lv.std(ddof=1) / np.sqrt(512)) > 5


def test_likelihood_filter_speeds_collapse_and_the_quota_offsets_it(seed):
    z_filter, lv_f = _paired(cj.likelihood_filter(0.8), seed, n=10)
    assert z_filter < -5
    z_quota, lv_q = _paired(cj.likelihood_filter(0.8, diversity_quota=0.5), seed,
                            n=10)
    d = lv_q[:, 0] - lv_f[:, 0]
    assert d.mean() / (d.std(ddof=1) / np.sqrt(d.size)) > 5


def test_likelihood_filter_loses_rare_categories_sooner(seed):
    cat = cj.categorical(6)
    truth = cj.categorical_params(np.array([0.35, 0.25, 0.2, 0.1, 0.07, 0.03]))
    z, _ = _paired(cj.likelihood_filter(0.8), seed, n=5, m=40, family=cat,
                   truth=truth, metric="support_size")
    assert z < -5


@pytest.mark.parametrize("make, match", [
    (lambda: cj.tail_weighting(-0.1), "exponent"),
    (lambda: cj.tail_weighting(0.1, under="model"), "under"),
    (lambda: cj.likelihood_filter(0.0), "keep_fraction"),
    (lambda: cj.likelihood_filter(1.2), "keep_fraction"),
    (lambda: cj.likelihood_filter(0.5, diversity_quota=-0.1), "diversity_quota"),
    (lambda: cj.likelihood_filter(0.5, score="loglik"), "score"),
])
def test_bad_mitigation_settings_are_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_curation_needs_the_sample_based_sampler():
    with pytest.raises(ValueError, match="'samples' with curation"):
        cj.run_chains(G, TRUTH, key=0, num_chains=8, num_generations=2,
                      sample_size=10, sampler="sufficient",
                      curation=cj.tail_weighting(0.1))
    with pytest.raises(TypeError, match="curation"):
        cj.run_chains(G, TRUTH, key=0, num_chains=8, num_generations=2,
                      sample_size=10, curation=0.1)


@pytest.mark.parametrize("regime, run", [
    ("replace", lambda cur, **kw: cj.run_chains(G, TRUTH, curation=cur, **kw)),
    ("accumulate", lambda cur, **kw: cj.run_chains(
        G, TRUTH, curation=cur, regime=cj.accumulate(), **kw)),
    ("replace", lambda cur, **kw: cj.sweep(
        G, TRUTH, curation=cj.likelihood_filter(0.5),
        over={"keep_fraction": [0.5, cur.hyper["keep_fraction"]]}, **kw)),
])
def test_a_filter_keeping_fewer_draws_than_a_fit_needs_is_refused(regime, run):
    # keep_fraction * M = 1e-7 keeps one draw: the Gaussian's variance needs two, so
    # every chain failed at generation 1 (DEGENERATE_FIT) while log_var stayed at
    # the truth. Refused before the run now.
    with pytest.raises(ValueError, match=rf"keeps >= 2 of the M = 100 draws .*"
                       rf"regime {regime} .*keeps 1\. Keep a share >= 0\.02"):
        run(cj.likelihood_filter(1e-9), key=0, num_chains=8, num_generations=2,
            sample_size=100, sampler="samples")


def test_a_filter_beside_real_data_is_not_refused():
    # With real data in every fit (fresh) the kept synthetic draws may be few.
    res = cj.run_chains(G, TRUTH, key=0, num_chains=8, num_generations=2,
                        sample_size=100, regime=cj.fresh(20),
                        curation=cj.likelihood_filter(1e-9))
    assert res.ok
