"""cj.sweep: many settings of the traced numbers in one compiled program."""

from __future__ import annotations

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax.chain import _run_chunk
from tests.helpers import assert_within_se

G = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 1.0)


def test_each_sweep_point_is_bitwise_its_own_run():
    fractions = [0.0, 0.3, 0.9]
    kw = dict(key=4, num_chains=12, num_generations=5, sample_size=10)
    sw = cj.sweep(G, TRUTH, regime=cj.mix(0.5), over={"real_fraction": fractions},
                  record_params=True, **kw)
    assert sw.metrics["log_var"].shape == (3, 12, 6, 1)
    assert sw.params.mean.shape == (3, 12, 6, 1)
    np.testing.assert_array_equal(sw.chain_ids, np.arange(12))
    for i, f in enumerate(fractions):
        one = cj.run_chains(G, TRUTH, regime=cj.mix(f), **kw)
        np.testing.assert_array_equal(sw.metrics["log_var"][i], one.metrics["log_var"])
        np.testing.assert_array_equal(sw.params.mean[i], one.params.mean)
    assert sw.config["sweep"] == {"real_fraction": fractions}
    assert sw.ok and sw.failures() == []


def test_sweeps_over_bias_and_curation_settings_match_single_runs():
    cat = cj.categorical(5)
    truth = cj.categorical_params(np.array([0.4, 0.3, 0.15, 0.1, 0.05]))
    kw = dict(key=2, num_chains=8, num_generations=4, sample_size=30)
    sw = cj.sweep(cat, truth, sampling=cj.temperature(1.0),
                  over={"temperature": [0.5, 2.0]}, **kw)
    for i, t in enumerate([0.5, 2.0]):
        one = cj.run_chains(cat, truth, sampling=cj.temperature(t), **kw)
        np.testing.assert_array_equal(sw.metrics["probs"][i], one.metrics["probs"])
    sw = cj.sweep(G, TRUTH, curation=cj.tail_weighting(0.0),
                  over={"tail_exponent": [0.0, 0.1]}, key=1, num_chains=8,
                  num_generations=3, sample_size=10)
    one = cj.run_chains(G, TRUTH, curation=cj.tail_weighting(0.1), key=1,
                        num_chains=8, num_generations=3, sample_size=10)
    np.testing.assert_array_equal(sw.metrics["log_var"][1], one.metrics["log_var"])


def test_zipped_schedules_sweep_general_mix():
    n = 4
    alphas = np.array([[1.0] * n, [0.5] * n])
    gammas = 1.0 - alphas
    sw = cj.sweep(G, TRUTH, regime=cj.general_mix(1.0, 0.0, 0.0),
                  over={"alpha": alphas, "gamma": gammas, "beta": np.zeros((2, n))},
                  key=0, num_chains=8, num_generations=n, sample_size=10)
    one = cj.run_chains(G, TRUTH, regime=cj.general_mix(0.5, 0.0, 0.5), key=0,
                        num_chains=8, num_generations=n, sample_size=10)
    np.testing.assert_array_equal(sw.metrics["log_var"][1], one.metrics["log_var"])


def test_eight_fractions_times_4096_chains_is_one_compiled_program(seed):
    """The issue's target: >= 8 real fractions x 4,096 chains in one program. Any
    real share stops the collapse of f = 0 (replace): paired chains (common random
    numbers across the sweep) keep a larger E log sigma_20^2 at every f > 0 (z = 5)."""
    fractions = np.linspace(0.0, 0.875, 8)
    before = _run_chunk._cache_size()
    sw = cj.sweep(G, TRUTH, regime=cj.mix(0.5), over={"real_fraction": fractions},
                  key=seed, num_chains=4096, num_generations=20, sample_size=10)
    assert _run_chunk._cache_size() - before <= 1
    assert sw.metrics["log_var"].shape == (8, 4096, 21, 1)
    assert sw.ok
    lv = sw.metrics["log_var"][:, :, -1, 0]
    theory = 20 * cj.theory.gaussian.log_variance_factor_mean(10)
    assert_within_se(lv[0].mean(), theory, lv[0].std(ddof=1) / 64, what="f = 0")
    for i in range(1, 8):
        d = lv[i] - lv[0]
        assert d.mean() / (d.std(ddof=1) / 64) > 5, fractions[i]


@pytest.mark.parametrize(
    "over, match",
    [
        ({"real_fraction": [0.1, 1.5]}, r"real_fraction.*\[0, 1\]"),
        ({"nope": [0.1]}, "sweepable"),
        ({}, "non-empty"),
        ({"real_fraction": 0.5}, "sequence"),
    ],
)
def test_bad_sweeps_are_clear_errors(over, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cj.sweep(G, TRUTH, regime=cj.mix(0.5), over=over, key=0, num_chains=8,
                 num_generations=2, sample_size=10)


def test_sweep_checks_every_points_regime_constraints():
    with pytest.raises(ValueError, match="alpha \\+ beta \\+ gamma = 1"):
        cj.sweep(G, TRUTH, regime=cj.general_mix(1.0, 0.0, 0.0),
                 over={"alpha": [1.0, 0.5]}, key=0, num_chains=8,
                 num_generations=2, sample_size=10)
    with pytest.raises(ValueError, match="pooling|sweepable"):
        cj.sweep(G, TRUTH, regime=cj.mix(), over={"real_fraction": [0.2]}, key=0,
                 num_chains=8, num_generations=2, sample_size=10)


def test_a_traced_setting_never_recompiles():
    """Fractions, temperatures and exponents are traced: new values reuse the
    compiled program (regimes and parts with equal static settings are equal)."""
    cat = cj.categorical(4)
    truth = cj.categorical_params(np.array([0.4, 0.3, 0.2, 0.1]))
    kw = dict(key=0, num_chains=8, num_generations=2, sample_size=10)
    runs = [
        lambda v: cj.run_chains(G, TRUTH, regime=cj.mix(v), **kw),
        lambda v: cj.run_chains(G, TRUTH, regime=cj.fresh(3, real_fraction=v), **kw),
        lambda v: cj.run_chains(G, TRUTH, regime=cj.retain_original(v), **kw),
        lambda v: cj.run_chains(G, TRUTH, curation=cj.tail_weighting(v), **kw),
        lambda v: cj.run_chains(G, TRUTH, curation=cj.likelihood_filter(0.5 + v), **kw),
        lambda v: cj.run_chains(cat, truth, sampling=cj.temperature(0.5 + v), **kw),
        lambda v: cj.run_chains(cat, truth,
                                sampling=cj.repetition_penalty(1 + v, 5), **kw),
    ]
    for run in runs:
        run(0.1)
        before = _run_chunk._cache_size()
        run(0.3)
        assert _run_chunk._cache_size() == before


def test_running_chains_in_blocks_changes_no_bit():
    """A regime may cap the chains per compiled call (the runner loops over blocks):
    the results, swept settings included, are those of one call."""
    kw = dict(key=5, num_chains=20, num_generations=4, sample_size=10)
    one = cj.sweep(G, TRUTH, regime=cj.mix(0.5), over={"real_fraction": [0.1, 0.7]},
                   **kw)
    blocked = cj.sweep(G, TRUTH, regime=cj.mix(0.5)._replace(cpu_batch_limit=8),
                       over={"real_fraction": [0.1, 0.7]}, **kw)
    np.testing.assert_array_equal(one.metrics["log_var"], blocked.metrics["log_var"])
    np.testing.assert_array_equal(one.metrics["mean"], blocked.metrics["mean"])


def test_cache_blocks_on_the_cpu_change_no_bit(monkeypatch):
    """The runner's default blocks of chains (collapse_jax._blocking), forced small
    here: blocks of one shape, the last overlapping its neighbour, give the bits of
    one call, for a sweep and for run_chains, params and final state included."""
    from collapse_jax import _blocking

    kw = dict(key=3, num_chains=21, num_generations=3, sample_size=10)
    over = {"real_fraction": [0.2, 0.6, 0.9]}  # 63 chains, padded to 64
    monkeypatch.setenv(_blocking.ENV_BLOCK, "off")
    one = cj.sweep(G, TRUTH, regime=cj.mix(0.5), over=over, record_params=True, **kw)
    single = cj.run_chains(G, TRUTH, **kw)
    monkeypatch.setenv(_blocking.ENV_BLOCK, "24")  # 3 blocks of 24: 0, 24, 40
    calls = []
    run = _blocking.in_blocks

    def counted(block, swept, state, ckeys, hyper, fn):
        return run(block, swept, state, ckeys, hyper,
                   lambda *a: calls.append(a[1].shape[0]) or fn(*a))

    monkeypatch.setattr(_blocking, "in_blocks", counted)
    blocked = cj.sweep(G, TRUTH, regime=cj.mix(0.5), over=over, record_params=True,
                       **kw)
    assert calls == [24, 24, 24]
    for m in ("log_var", "mean"):
        np.testing.assert_array_equal(one.metrics[m], blocked.metrics[m])
    np.testing.assert_array_equal(one.params.mean, blocked.params.mean)
    np.testing.assert_array_equal(one.status, blocked.status)
    again = cj.run_chains(G, TRUTH, **kw)  # 24 chains: 1 block
    np.testing.assert_array_equal(single.metrics["log_var"], again.metrics["log_var"])


def test_the_cpu_block_follows_the_cache_and_the_data_per_chain(monkeypatch):
    from collapse_jax import _blocking

    assert _blocking.cache_bytes() >= 2**16  # the L2s sysfs lists, or the default
    monkeypatch.delenv(_blocking.ENV_BLOCK, raising=False)
    monkeypatch.setattr(_blocking, "cache_bytes", lambda: 2**21)
    monkeypatch.setattr(_blocking, "shared_cache_bytes", lambda: 2**25)
    assert _blocking.block_size(None, 2048, None) == 1024
    # Chains whose data fit in the largest cache run in one call; more are cut.
    assert _blocking.block_size(None, 2048, None, padded=2**14) is None
    assert _blocking.block_size(None, 2048, None, padded=2**14 + 8) == 1024
    assert _blocking.block_size(None, 2000, None) == 1048  # a multiple of 8
    assert _blocking.block_size(None, 10**6, None) == _blocking.MIN_BLOCK
    assert _blocking.block_size(256, 2048, None) == 256  # the regime's cap
    assert _blocking.block_size(None, None, None) is None
    assert _blocking.block_size(None, 2048, ("a", "b")) is None  # sharded
    monkeypatch.setenv(_blocking.ENV_BLOCK, "off")
    assert _blocking.block_size(None, 2048, None) is None
    monkeypatch.setenv(_blocking.ENV_BLOCK, "100")
    assert _blocking.block_size(None, 2048, None) == 96
    monkeypatch.setenv(_blocking.ENV_BLOCK, "many")
    with pytest.raises(ValueError, match="COLLAPSE_JAX_CPU_BLOCK must be a number "
                       "of chains, 0 or off; got 'many'"):
        _blocking.block_size(None, 2048, None)


def test_values_of_different_shapes_are_a_house_error():
    # A checker without a stack() of its own: values must share one shape.
    regime = cj.mix(0.5)
    odd = regime._replace(checkers={"real_fraction": lambda fn, n, v: np.asarray(v)})
    with pytest.raises(ValueError, match=r"sweep\(\): over\['real_fraction'\] must "
                       r"be values of one shape .*; got values of shapes "
                       r"\[\(\), \(2,\)\]"):
        cj.sweep(G, TRUTH, regime=odd, over={"real_fraction": [0.5, [0.5, 0.5]]},
                 key=0, num_chains=2, num_generations=2, sample_size=5)

