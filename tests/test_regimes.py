"""Regimes: each fit's weighted data set, checked draw by draw against NumPy.

The library's chains are recomputed outside the scan: the same keys give the same
draws (``keys.generation_keys``), and a float64 NumPy fit of the weighted data set
that the regime's documentation describes must give the recorded model. This pins
what every regime *means* (which points, which weights), not only that it runs.
Statistical behaviour (plateaus, bounds) is tested in test_mixing_chains.py and
test_linear_regression.py; bad input in test_regime_errors.py; batch, chunk and dtype
invariance, for every built-in regime, in test_regime_contract.py (the contract kit).
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import keys as cjk
from tests.helpers import assert_within_se

G = cj.gaussian()
TRUTH = cj.gaussian_params(0.5, 2.0)
M = 12
GENS = 6
CHAINS = 8


def _run(regime, *, sample_size=M, chains=CHAINS, gens=GENS, seed=3, **kw):
    return cj.run_chains(
        G,
        TRUTH,
        key=seed,
        num_chains=chains,
        num_generations=gens,
        sample_size=sample_size,
        regime=regime,
        **kw,
    )


def _keys(seed, chain, t):
    root = cjk.canonicalize_key("test", seed)
    ck = cjk.chain_keys(root, jnp.asarray([chain], jnp.int32))[0]
    return cjk.generation_keys(ck, jnp.int32(t))


def _params(res, c, t):
    return jax.tree.map(lambda x: jnp.asarray(x[c, t]), res.params)


def _draws(res, seed, c, t, n):
    """The n_max draws the chain made at generation t (from model t)."""
    k = _keys(seed, c, t)
    return np.asarray(G.sample(k.sample, _params(res, c, t), n), np.float64)[:, 0]


def _fresh_real(seed, c, t, n):
    k = _keys(seed, c, t)
    sub = jax.random.fold_in(k.regime, 1)
    truth = G.cast_params(TRUTH, jnp.float32)
    return np.asarray(G.sample(sub, truth, n), np.float64)[:, 0]


def _fit(x, w):
    """Weighted unbiased Gaussian fit (frequency weights), float64."""
    w = np.asarray(w, np.float64)
    m = np.sum(w * x) / np.sum(w)
    var = np.sum(w * (x - m) ** 2) / (np.sum(w) - 1)
    return m, np.log(var)


def _recorded(res, c, t):
    return float(res.metrics["mean"][c, t, 0]), float(res.metrics["log_var"][c, t, 0])


def _close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5, err_msg=what)


def test_accumulate_fits_the_union_of_all_draws():
    res = _run(cj.accumulate())
    for c in (0, 5):
        pool = []
        for t in range(GENS):
            pool.append(_draws(res, 3, c, t, M))
            x = np.concatenate(pool)
            _close(_recorded(res, c, t + 1), _fit(x, np.ones_like(x)), f"c{c} t{t}")


def test_accumulate_respects_a_schedule_through_the_weights():
    sched = [10, 6, 14, 8]
    res = _run(cj.accumulate(), sample_size=sched, gens=4)
    pool = []
    for t, m in enumerate(sched):
        pool.append(_draws(res, 3, 1, t, max(sched))[:m])
        x = np.concatenate(pool)
        _close(_recorded(res, 1, t + 1), _fit(x, np.ones_like(x)), f"t{t}")


def test_mix_pools_the_original_draws_with_each_new_sample():
    res = _run(cj.mix())
    c = 2
    d0 = _draws(res, 3, c, 0, M)
    _close(_recorded(res, c, 1), _fit(d0, np.ones(M)), "first fit: D_0 alone")
    for t in range(1, GENS):
        x = np.concatenate([d0, _draws(res, 3, c, t, M)])
        _close(_recorded(res, c, t + 1), _fit(x, np.ones(2 * M)), f"t{t}")


@pytest.mark.parametrize("f", [0.2, 0.5, 0.8])
def test_mix_real_fraction_sets_the_weight_share(f):
    real = np.linspace(-1.0, 3.0, 7)[:, None]
    res = _run(cj.mix(f, real_data=real))
    n = real.shape[0]
    for t in range(GENS):
        syn = _draws(res, 3, 4, t, M)
        # The larger side keeps weight 1; the real share of the total is f.
        a, b = (1.0, n * (1 - f) / (M * f)) if f * M >= (1 - f) * n else (
            M * f / (n * (1 - f)), 1.0)
        w = np.concatenate([np.full(n, a), np.full(M, b)])
        assert np.isclose(w[:n].sum() / w.sum(), f)
        x = np.concatenate([real[:, 0], syn])
        _close(_recorded(res, 4, t + 1), _fit(x, w), f"t{t}")


def test_mix_endpoints_are_replace_and_the_real_set():
    real = np.array([[-1.0], [0.0], [0.5], [2.0], [4.0]])
    only_real = _run(cj.mix(1.0, real_data=real))
    m, lv = _fit(real[:, 0], np.ones(5))
    np.testing.assert_allclose(only_real.metrics["mean"][:, 1:, 0], m, rtol=1e-6)
    np.testing.assert_allclose(only_real.metrics["log_var"][:, 1:, 0], lv, rtol=1e-5)
    none_real = _run(cj.mix(0.0, real_data=real))
    for t in range(GENS):
        x = _draws(none_real, 3, 3, t, M)
        _close(_recorded(none_real, 3, t + 1), _fit(x, np.ones(M)), f"t{t}")


def test_synthetic_ratio_is_the_real_fraction_1_over_1_plus_lambda():
    real = np.array([[0.0], [1.0], [2.0]])
    a = _run(cj.mix(synthetic_ratio=3.0, real_data=real))
    b = _run(cj.mix(0.25, real_data=real))
    np.testing.assert_array_equal(a.metrics["log_var"], b.metrics["log_var"])


def test_fresh_pools_new_real_draws_from_the_truth():
    res = _run(cj.fresh(5))
    for t in range(GENS):
        x = np.concatenate([_fresh_real(3, 6, t, 5), _draws(res, 3, 6, t, M)])
        _close(_recorded(res, 6, t + 1), _fit(x, np.ones(5 + M)), f"t{t}")


def test_retain_original_keeps_a_share_of_d0_without_replacement():
    res = _run(cj.retain_original(0.25))
    c = 1
    d0 = _draws(res, 3, c, 0, M)
    _close(_recorded(res, c, 1), _fit(d0, np.ones(M)), "first fit: D_0")
    k = round(0.25 * M)
    for t in range(1, GENS):
        syn = _draws(res, 3, c, t, M)[: M - k]
        key = jax.random.fold_in(_keys(3, c, t).regime, 3)
        u = np.asarray(jax.random.uniform(key, (M,)))
        kept = d0[np.argsort(u, kind="stable")[:k]]
        x = np.concatenate([kept, syn])
        _close(_recorded(res, c, t + 1), _fit(x, np.ones(M)), f"t{t}")


def test_retain_all_or_nothing():
    all_original = _run(cj.retain_original(1.0))
    first = all_original.metrics["log_var"][:, 1:2, 0]
    # The same points refitted each generation, the new draws weighted 0: equal to
    # float32 rounding of a log (absolute: log_var is near 0 for some chains).
    np.testing.assert_allclose(all_original.metrics["log_var"][:, 1:, 0],
                               np.broadcast_to(first, (CHAINS, GENS)), rtol=1e-6,
                               atol=16 * np.finfo(np.float32).eps)
    none = _run(cj.retain_original(0.0))
    for t in range(GENS):
        x = _draws(none, 3, 0, t, M)
        _close(_recorded(none, 0, t + 1), _fit(x, np.ones(M)), f"t{t}")


def test_accumulate_subsample_fits_a_uniform_subset_of_the_pool():
    size = 9
    res = _run(cj.accumulate_subsample(size))
    c = 7
    pool = []
    for t in range(GENS):
        pool.append(_draws(res, 3, c, t, M))
        x = np.concatenate(pool)
        key = jax.random.fold_in(_keys(3, c, t).regime, 2)
        u = np.asarray(jax.random.uniform(key, (GENS * M,)))[: x.size]
        sub = x[np.argsort(u, kind="stable")[:size]]
        _close(_recorded(res, c, t + 1), _fit(sub, np.ones(size)), f"t{t}")


def test_general_mix_weights_new_previous_and_original_data():
    alpha, beta, gamma = 0.5, 0.3, 0.2
    res = _run(cj.general_mix(alpha, beta, gamma))
    c = 3
    d0 = _draws(res, 3, c, 0, M)
    xs, ws = [d0], [np.ones(M)]  # the data set D~_1 = D_0
    _close(_recorded(res, c, 1), _fit(d0, np.ones(M)), "first fit")
    for t in range(1, GENS):
        new = _draws(res, 3, c, t, M)
        prev_total = sum(w.sum() for w in ws)
        ws = [beta * M / prev_total * w for w in ws]
        ws[0] = ws[0] + gamma * np.ones(M)  # D_0 scaled to total gamma * M
        xs.append(new)
        ws.append(alpha * np.ones(M))
        x, w = np.concatenate(xs), np.concatenate(ws)
        assert np.isclose(w.sum(), M)
        _close(_recorded(res, c, t + 1), _fit(x, w), f"t{t}")


def test_general_mix_corners():
    """(0, 1, 0) keeps the first data set, (0, 0, 1) refits D_0: both constant."""
    for weights in [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]:
        res = _run(cj.general_mix(*weights))
        lv = res.metrics["log_var"][:, 1:, 0]
        np.testing.assert_allclose(lv, np.broadcast_to(lv[:, :1], lv.shape),
                                   rtol=1e-5, err_msg=str(weights))


def test_general_mix_schedule_follows_the_generation():
    # alpha = 1 then (0, 0, 1): generation 2 is a replace step, the rest refit D_0.
    n = 5
    alpha = [1.0, 1.0, 0.0, 0.0, 0.0]
    gamma = [0.0, 0.0, 1.0, 1.0, 1.0]
    res = _run(cj.general_mix(alpha, [0.0] * n, gamma), gens=n)
    c = 0
    d0 = _draws(res, 3, c, 0, M)
    _close(_recorded(res, c, 2), _fit(_draws(res, 3, c, 1, M), np.ones(M)), "t1")
    for t in range(2, n):
        _close(_recorded(res, c, t + 1), _fit(d0, np.ones(M)), f"t{t}")


def test_categorical_regimes_run_on_category_indices():
    cat = cj.categorical(4)
    truth = cj.categorical_params(np.array([0.4, 0.3, 0.2, 0.1]))
    real = np.array([0, 0, 1, 2, 3, 3], np.int32)
    for regime in [cj.accumulate(), cj.mix(0.5, real_data=real), cj.fresh(6),
                   cj.retain_original(0.3), cj.general_mix(0.7, 0.2, 0.1)]:
        res = cj.run_chains(cat, truth, key=1, num_chains=16, num_generations=5,
                            sample_size=20, regime=regime)
        assert res.ok, regime.name
        np.testing.assert_allclose(res.metrics["probs"].sum(-1), 1.0, rtol=1e-6)
    # With the real set fixed at f = 1 every model is the real set's frequencies.
    res = cj.run_chains(cat, truth, key=1, num_chains=8, num_generations=3,
                        sample_size=20, regime=cj.mix(1.0, real_data=real))
    np.testing.assert_allclose(res.metrics["probs"][:, 1:],
                               np.broadcast_to([2 / 6, 1 / 6, 1 / 6, 2 / 6],
                                               (8, 3, 4)), rtol=1e-6)


def test_fresh_real_only_keeps_the_truth_at_sampling_error(seed):
    """fresh(n, real_fraction=1): each model is a fit to n new real points only, so
    at every generation E(mean - mu)^2 = sigma^2 / n (no drift)."""
    n, chains = 20, 4096
    res = cj.run_chains(G, TRUTH, key=seed, num_chains=chains, num_generations=30,
                        sample_size=10, regime=cj.fresh(n, real_fraction=1.0),
                        record_params=False)
    err = (res.metrics["mean"][:, -1, 0] - 0.5) ** 2
    assert_within_se(err.mean(), 2.0 / n, err.std(ddof=1) / np.sqrt(chains),
                     what="E(mean_30 - mu)^2")


def test_data_keeping_regimes_slow_collapse_against_replace(seed):
    """Contrast at n = 60, M = 10: replace's E log sigma^2 = 60 g(10) ~ -6.9. Every
    other regime keeps E log sigma^2 higher (paired chains, z = 5); accumulate, mix
    and fresh keep it within O(1) of the truth."""
    chains, n = 1024, 60
    kw = dict(key=seed, num_chains=chains, num_generations=n, sample_size=10,
              record_params=False)
    rep = cj.run_chains(G, TRUTH, **kw).metrics["log_var"][:, -1, 0]
    theory = np.log(2.0) + n * cj.theory.gaussian.log_variance_factor_mean(10)
    assert_within_se(rep.mean(), theory, rep.std(ddof=1) / np.sqrt(chains),
                     what="replace E log sigma^2")
    bounded = {"accumulate", "mix", "fresh"}
    for regime in [cj.accumulate(), cj.mix(), cj.fresh(10),
                   cj.accumulate_subsample(10), cj.retain_original(0.2)]:
        lv = cj.run_chains(G, TRUTH, regime=regime, **kw).metrics["log_var"][:, -1, 0]
        diff = lv - rep
        z = diff.mean() / (diff.std(ddof=1) / np.sqrt(chains))
        assert z > 5, (regime.name, z)  # every regime slows replace's collapse
        if regime.name in bounded:  # and these keep the variance near the truth's
            assert abs(np.median(lv) - np.log(2.0)) < 1.0, regime.name


POPULATION_REGIMES = [cj.accumulate(), cj.accumulate_subsample(5), cj.mix(0.3),
                      cj.fresh(4, real_fraction=0.6), cj.retain_original(0.25),
                      cj.general_mix(0.5, 0.3, 0.2)]


@pytest.mark.parametrize("regime", POPULATION_REGIMES, ids=lambda r: r.name)
def test_sh0_population_limit_keeps_a_well_specified_truth(regime):
    """docs/theory.md SH-0's deterministic test: M = inf, an exact well-specified fit,
    and
    every regime leaves the truth unchanged at every generation (float tolerance)."""
    g2 = cj.gaussian(2)
    truth = cj.gaussian_params(np.array([1.0, -2.0]), np.array([[2.0, 0.6],
                                                                [0.6, 0.5]]))
    res = cj.run_chains(g2, truth, key=0, num_chains=8, num_generations=12,
                        sample_size=None, regime=regime)
    np.testing.assert_allclose(res.metrics["mean"], np.broadcast_to(
        [1.0, -2.0], res.metrics["mean"].shape), atol=2e-6)
    lv = res.metrics["log_var"]
    np.testing.assert_allclose(lv, np.broadcast_to(lv[:, :1], lv.shape), atol=4e-6)
    cat = cj.categorical(4)
    ctruth = cj.categorical_params(np.array([0.4, 0.3, 0.2, 0.1]))
    res = cj.run_chains(cat, ctruth, key=0, num_chains=8, num_generations=12,
                        sample_size=None, regime=regime)
    np.testing.assert_allclose(res.metrics["probs"], np.broadcast_to(
        [0.4, 0.3, 0.2, 0.1], res.metrics["probs"].shape), atol=1e-6)


def test_population_mix_is_the_exact_moment_map():
    """Draws from N(mu, s sigma_t^2) mixed with the truth at real share f: the
    population fit is the moment match, sigma_{t+1}^2 = f sigma*^2 +
    (1 - f) s sigma_t^2 (the mean stays): BE-2's toy map with a biased sampler."""
    f, scale, n = 0.3, 0.6, 15
    res = cj.run_chains(G, TRUTH, key=0, num_chains=8, num_generations=n,
                        sample_size=None, regime=cj.mix(f),
                        sampling=cj.variance_scale(scale))
    v = [2.0]
    for _ in range(n):
        v.append(f * 2.0 + (1 - f) * scale * v[-1])
    np.testing.assert_allclose(res.metrics["log_var"][0, :, 0], np.log(v), atol=3e-6)
    np.testing.assert_allclose(res.metrics["mean"][0, :, 0], 0.5, atol=1e-6)


def test_population_accumulate_averages_every_generations_model():
    """accumulate at M = inf: model t+1 fits the equal-share mixture of models 0..t;
    with a temperature the categorical recursion is explicit."""
    cat = cj.categorical(3)
    p0 = np.array([0.5, 0.3, 0.2])
    res = cj.run_chains(cat, cj.categorical_params(p0), key=0, num_chains=8,
                        num_generations=6, sample_size=None, regime=cj.accumulate(),
                        sampling=cj.temperature(0.5))
    models, want = [p0], [p0]
    for _ in range(6):
        sampled = [cj.theory.bias.tempered_probs(m, 0.5) for m in models]
        nxt = np.mean(sampled, axis=0)
        models.append(nxt)
        want.append(nxt)
    np.testing.assert_allclose(res.metrics["probs"][0], np.stack(want), atol=2e-6)


@pytest.mark.parametrize("regime", [cj.accumulate(), cj.general_mix(0.5, 0.3, 0.2),
                                    cj.fresh(5, real_fraction=0.4)],
                         ids=lambda r: r.name)
def test_regime_fits_in_float64_to_rounding(x64, regime):
    """The same recomputation in float64: agreement to 1e-12, not just float32's."""
    res = _run(regime, dtype="float64")
    c = 2
    d0 = _draws(res, 3, c, 0, M)
    if regime.name == "accumulate":
        pool = [d0]
        for t in range(1, GENS):
            pool.append(_draws(res, 3, c, t, M))
            x = np.concatenate(pool)
            np.testing.assert_allclose(_recorded(res, c, t + 1),
                                       _fit(x, np.ones_like(x)), rtol=1e-12)
    elif regime.name == "fresh":
        for t in range(GENS):
            syn = _draws(res, 3, c, t, M)
            real = _fresh_real_dtype(3, c, t, 5, "float64")
            a = M * 0.4 / (5 * 0.6) if 0.4 * M < 0.6 * 5 else 1.0
            b = 5 * 0.6 / (M * 0.4) if 0.4 * M >= 0.6 * 5 else 1.0
            w = np.concatenate([np.full(5, a), np.full(M, b)])
            np.testing.assert_allclose(_recorded(res, c, t + 1),
                                       _fit(np.concatenate([real, syn]), w),
                                       rtol=1e-12)
    else:
        xs, ws = [d0], [np.ones(M)]
        for t in range(1, GENS):
            prev_total = sum(w.sum() for w in ws)
            ws = [0.3 * M / prev_total * w for w in ws]
            ws[0] = ws[0] + 0.2 * np.ones(M)
            xs.append(_draws(res, 3, c, t, M))
            ws.append(0.5 * np.ones(M))
            np.testing.assert_allclose(
                _recorded(res, c, t + 1),
                _fit(np.concatenate(xs), np.concatenate(ws)), rtol=1e-12)


def _fresh_real_dtype(seed, c, t, n, dtype):
    k = _keys(seed, c, t)
    sub = jax.random.fold_in(k.regime, 1)
    truth = G.cast_params(TRUTH, jnp.dtype(dtype))
    return np.asarray(G.sample(sub, truth, n), np.float64)[:, 0]
