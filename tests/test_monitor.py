"""The collapse monitor: false-alarm control, detection delay, the adaptive regime.

Tolerances are k·SE with k = 5 (the brief's z); SEs are binomial for independent
tests (one test per key), or from the spread across independent chains.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest
from scipy import stats

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.monitor import (
    MONITOR_RECORDS,
    _binomial_pvalues,
    _tail_set,
    first_generation,
)
from tests.helpers import assert_within_se, binomial_se, mean_and_se

Z = 5.0
GAUSS = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 1.0)
# A categorical truth with a light tail (K = 12): rare categories get lost.
CAT_PROBS = np.array(
    [0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.03, 0.02, 0.01, 0.005, 0.005]
)
CAT = cj.categorical(12)
CAT_TRUTH = cj.categorical_params(CAT_PROBS)


def _null_alarms(monitor, family, truth, num, seed):
    """``num`` independent tests of the truth against held-out draws from itself."""
    params = family.cast_params(truth, jnp.float32)
    n = monitor.num_held_out

    def one(key):
        held = family.sample(jax.random.fold_in(key, 0), params, n)
        return monitor.test(jax.random.fold_in(key, 1), family, params, held)

    keys = jax.random.split(jax.random.key(seed), num)
    stat, pvalue, alarm, lost = jax.jit(jax.vmap(one))(keys)
    assert not np.any(np.asarray(lost))  # impossible under the null
    return np.asarray(alarm), np.asarray(pvalue)


# ------------------------------------------------------------- false-alarm rate ---


@pytest.mark.statistical
def test_coverage_false_alarm_rate_is_the_exact_binomial_size(seed):
    # 20,000 tests, n = 500, q = 0.05: the count is Binomial(500, 0.05) exactly, so
    # the alarm rate is the attained size P(Bin >= k*) (<= level), SE ~ 7e-4.
    mon = cj.collapse_monitor(500, level=0.01, statistic="coverage")
    alarm, _ = _null_alarms(mon, GAUSS, TRUTH, 20_000, seed)
    table = _binomial_pvalues(500, 0.05, False)
    size = float(table[np.argmax(table <= 0.01)])
    assert 0.005 < size <= 0.01
    assert_within_se(
        alarm.mean(),
        size,
        binomial_se(size, alarm.size),
        Z,
        what="coverage false-alarm rate",
        seed=seed,
    )


@pytest.mark.statistical
@pytest.mark.parametrize("family,truth", [(GAUSS, TRUTH), (CAT, CAT_TRUTH)])
def test_rank_false_alarm_rate_is_the_level(family, truth, seed):
    # 10,000 Mann–Whitney tests (n = m = 400); the null law is distribution-free,
    # normal-approximated (ties corrected for the categorical): rate = level.
    mon = cj.collapse_monitor(400, level=0.01, statistic="rank")
    alarm, pvalue = _null_alarms(mon, family, truth, 10_000, seed)
    assert_within_se(
        alarm.mean(),
        0.01,
        binomial_se(0.01, alarm.size),
        Z,
        what=f"rank false-alarm rate ({family.name})",
        seed=seed,
    )
    # the p-values are roughly uniform: P(p <= 0.5) = 1/2
    assert_within_se(
        np.mean(pvalue <= 0.5),
        0.5,
        binomial_se(0.5, alarm.size),
        Z,
        what="rank P(p <= 0.5)",
        seed=seed,
    )


@pytest.mark.statistical
def test_tail_false_alarm_rate_is_the_exact_binomial_size(seed):
    # The truth's tail set (least probable categories, mass <= 0.05) has a known
    # mass p; the count is Binomial(300, p) and the alarm rate its attained size.
    mon = cj.collapse_monitor(300, level=0.01)
    alarm, _ = _null_alarms(mon, CAT, CAT_TRUTH, 20_000, seed)
    probs = jnp.asarray(CAT_PROBS, jnp.float32)
    mass = float(np.sum(CAT_PROBS[np.asarray(_tail_set(probs, 0.05))]))
    assert 0 < mass <= 0.05
    sf = stats.binom.sf(np.arange(301) - 1, 300, mass)
    size = float(sf[np.argmax(sf <= 0.01)])
    assert 0.003 < size <= 0.01
    assert_within_se(
        alarm.mean(),
        size,
        binomial_se(size, alarm.size),
        Z,
        what="tail false-alarm rate",
        seed=seed,
    )


@pytest.mark.statistical
def test_two_sided_coverage_false_alarm_rate_is_at_most_the_level(seed):
    # Bonferroni of the two-sided count (level/2) and the exact chi2 mean test
    # (level/2): the rate is <= level, and >= the mean test's exact level / 2.
    mon = cj.collapse_monitor(500, level=0.01, alternative="two-sided")
    alarm, _ = _null_alarms(mon, GAUSS, TRUTH, 20_000, seed)
    se = binomial_se(0.01, alarm.size)
    assert alarm.mean() <= 0.01 + Z * se
    assert alarm.mean() >= 0.005 - Z * se


@pytest.mark.statistical
def test_chain_at_the_truth_alarms_at_the_level(seed):
    # The population limit keeps every model at the truth: the null holds at every
    # generation. 256 chains x 40 generations of the rank test (fresh model draws
    # each generation, one held-out set per chain); the SE comes from the spread of
    # the per-chain alarm frequencies across the independent chains (~1.4e-3).
    mon = cj.collapse_monitor(300, level=0.02, statistic="rank")
    res = cj.run_chains(
        GAUSS,
        TRUTH,
        key=seed,
        num_chains=256,
        num_generations=40,
        sample_size=None,
        regime=cj.monitored(cj.replace(), mon),
        record_params=False,
    )
    per_chain = res.metrics["alarm"][:, 1:].mean(axis=1)
    mean, se = mean_and_se(per_chain)
    assert_within_se(mean, 0.02, se, Z, what="chain false-alarm rate", seed=seed)


# ---------------------------------------------------------------- detection ---


@pytest.fixture(scope="module")
def replace_chain():
    # M = 100: the variance halves after about M log 2 ~ 69 generations on average.
    mon = cj.collapse_monitor(500, level=0.01)
    return cj.run_chains(
        GAUSS,
        TRUTH,
        key=11,
        num_chains=256,
        num_generations=300,
        sample_size=100,
        regime=cj.monitored(cj.replace(), mon),
        record_params=False,
    )


@pytest.mark.statistical
def test_alarm_fires_before_the_variance_halves(replace_chain):
    res = replace_chain
    log_var = res.metrics["log_var"][..., 0]
    alarm = res.metrics["alarm"]
    assert not alarm[:, 0].any()
    assert np.all(np.isnan(res.metrics["monitor_pvalue"][:, 0]))
    first_alarm = first_generation(alarm)
    halving = first_generation(log_var <= math.log(0.5))
    assert np.median(first_alarm) < np.median(halving)
    early = first_alarm < halving
    # False alarms alone would fire before the halving with probability
    # 1 - (1 - level)^h per chain; the detections must beat that by far.
    chance = np.mean(1 - 0.99 ** np.minimum(halving, 300))
    frac = early.mean()
    se = binomial_se(max(chance, 0.5), early.size)
    assert frac > 0.5 + Z * binomial_se(0.5, early.size), (frac, chance)
    assert frac > chance + Z * se, (frac, chance)


@pytest.mark.statistical
def test_adaptive_keeps_the_distance_bounded(replace_chain, seed):
    # 256 chains x 300 generations, M = 100, 100 real draws injected after an alarm
    # of a two-sided monitor. Per chain, the mean |log sigma^2| over generations
    # 51-100 and 251-300; their per-chain difference has mean 0 on a plateau.
    mon = cj.collapse_monitor(500, level=0.01, alternative="two-sided")
    res = cj.run_chains(
        GAUSS,
        TRUTH,
        key=seed,
        num_chains=256,
        num_generations=300,
        sample_size=100,
        regime=cj.adaptive(mon, 100),
        record_params=False,
    )
    assert res.ok
    dist = np.abs(res.metrics["log_var"][..., 0])
    early = dist[:, 51:101].mean(axis=1)
    late = dist[:, 251:301].mean(axis=1)
    diff, se = mean_and_se(late - early)
    assert_within_se(diff, 0.0, se, Z, what="adaptive plateau of |log var|", seed=seed)
    rep = np.abs(replace_chain.metrics["log_var"][:, 251:301, 0]).mean(axis=1)
    m_ad, se_ad = mean_and_se(late)
    m_rep, se_rep = mean_and_se(rep)
    assert m_ad + Z * se_ad < 0.25 * (m_rep - Z * se_rep), (m_ad, m_rep)
    w2 = res.metrics["w2_sq"][:, 251:301].mean(axis=1)
    w2_rep = replace_chain.metrics["w2_sq"][:, 251:301].mean()
    assert w2.mean() < 0.1 * w2_rep
    injected = res.metrics["injected"]
    assert not injected[:, 0].any() and injected.any()
    # injection follows the alarm: the fit after an alarmed model is fed
    np.testing.assert_array_equal(injected[:, 1:], res.metrics["alarm"][:, :-1])


def test_adaptive_equals_its_base_until_the_first_injection():
    mon = cj.collapse_monitor(200, level=0.05)
    kw = dict(key=3, num_chains=16, num_generations=40, sample_size=50)
    ad = cj.run_chains(GAUSS, TRUTH, regime=cj.adaptive(mon, 20), **kw)
    base = cj.run_chains(GAUSS, TRUTH, regime=cj.monitored(cj.replace(), mon), **kw)
    first = first_generation(ad.metrics["injected"])
    assert np.any(first <= 40) and np.any(first > 1)
    for c in range(16):
        upto = min(first[c], 41)
        for a, b in zip(ad.params, base.params, strict=True):
            np.testing.assert_array_equal(a[c, :upto], b[c, :upto])
        np.testing.assert_array_equal(
            ad.metrics["alarm"][c, :upto], base.metrics["alarm"][c, :upto]
        )


def test_persisting_injection_never_stops():
    mon = cj.collapse_monitor(200, level=0.05)
    res = cj.run_chains(
        GAUSS,
        TRUTH,
        key=4,
        num_chains=16,
        num_generations=30,
        sample_size=50,
        regime=cj.adaptive(mon, 20, persist=True),
        record_params=False,
    )
    inj = res.metrics["injected"]
    first = first_generation(inj)
    for c in range(16):
        assert inj[c, first[c] :].all()


# --------------------------------------------------------------- categorical ---


def test_categorical_lost_support_alarm():
    # M = 30 draws per generation lose the rare categories within a few
    # generations; a held-out token on a lost category is impossible under the null,
    # so it alarms, and it can only happen on a category the model lost.
    mon = cj.collapse_monitor(400, level=0.01)
    res = cj.run_chains(
        CAT,
        CAT_TRUTH,
        key=5,
        num_chains=64,
        num_generations=40,
        sample_size=30,
        regime=cj.monitored(cj.replace(), mon),
        record_params=False,
    )
    lost = res.metrics["monitor_lost"]
    alarm = res.metrics["alarm"]
    assert lost.dtype == np.int32 and alarm.dtype == bool
    assert np.all(alarm[lost > 0])
    assert np.all(res.metrics["lost_mass"][lost > 0] > 0)
    assert np.mean(lost[:, -1] > 0) > 0.9
    # every chain alarms at or before its first lost-support hit
    assert np.all(first_generation(alarm) <= first_generation(lost > 0))


def test_user_held_out_is_shared_and_validated():
    held = np.random.default_rng(0).normal(size=(300, 1))
    mon = cj.collapse_monitor(held, level=0.01)
    assert mon.num_held_out == 300 and mon.user_held_out
    res = cj.run_chains(
        GAUSS,
        TRUTH,
        key=0,
        num_chains=8,
        num_generations=5,
        sample_size=50,
        regime=cj.monitored(cj.replace(), mon),
        record_params=False,
    )
    assert set(MONITOR_RECORDS) <= set(res.metrics)
    assert np.all(np.isfinite(res.metrics["monitor_pvalue"][:, 1:]))
    with pytest.raises(ValueError, match=r"held_out must be an array of shape"):
        cj.run_chains(
            cj.gaussian(dim=2),
            cj.gaussian_params([0.0, 0.0], np.eye(2)),
            key=0,
            num_chains=8,
            num_generations=2,
            sample_size=50,
            regime=cj.monitored(cj.replace(), mon),
        )
    cat_mon = cj.collapse_monitor(np.array([0.5, 1.5]))
    with pytest.raises(TypeError, match=r"held_out must be integer data"):
        cj.run_chains(
            CAT,
            CAT_TRUTH,
            key=0,
            num_chains=8,
            num_generations=2,
            sample_size=50,
            regime=cj.monitored(cj.replace(), cat_mon),
        )


def test_regimes_are_cached_and_records_named():
    a = cj.monitored(cj.replace(), cj.collapse_monitor(100))
    b = cj.monitored(cj.replace(), cj.collapse_monitor(100))
    assert a.step is b.step and a.init is b.init and a.observe is b.observe
    assert a.observed == MONITOR_RECORDS
    r = cj.adaptive(cj.collapse_monitor(100), 10)
    assert r.observed == MONITOR_RECORDS + ("injected",)
    assert r.step is cj.adaptive(cj.collapse_monitor(100), 10).step


# -------------------------------------------------------------------- errors ---


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_level_outside_the_unit_interval(level):
    with pytest.raises(
        ValueError,
        match=r"collapse_monitor\(\): level must be a "
        r"number in \(0, 1\)",
    ):
        cj.collapse_monitor(100, level=level)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"held_out must be a positive integer"):
        cj.collapse_monitor(0)
    with pytest.raises(TypeError, match=r"held_out must be a positive int"):
        cj.collapse_monitor(True)
    with pytest.raises(ValueError, match=r"held_out must be at least one point"):
        cj.collapse_monitor(np.zeros((0, 1)))
    with pytest.raises(ValueError, match=r"held_out must be finite values"):
        cj.collapse_monitor(np.array([[0.0], [np.nan]]))
    with pytest.raises(TypeError, match=r"held_out must be a positive int"):
        cj.collapse_monitor(np.float64(3.0)[()])
    with pytest.raises(ValueError, match=r"statistic must be one of"):
        cj.collapse_monitor(100, statistic="ks")
    with pytest.raises(ValueError, match=r"alternative must be one of"):
        cj.collapse_monitor(100, alternative="greater")
    with pytest.raises(ValueError, match=r"tail must be a number in \(0, 1\)"):
        cj.collapse_monitor(100, tail=0.0)
    mon = cj.collapse_monitor(100)
    with pytest.raises(ValueError, match=r"adaptive\(\): num_real must be a positive"):
        cj.adaptive(mon, 0)
    with pytest.raises(
        TypeError,
        match=r"adaptive\(\): monitor must be a "
        r"CollapseMonitor",
    ):
        cj.adaptive("monitor", 10)
    with pytest.raises(TypeError, match=r"monitored\(\): regime must be a Regime"):
        cj.monitored("replace", mon)
    with pytest.raises(ValueError, match=r"adaptive\(\): real_fraction must be"):
        cj.adaptive(mon, 10, real_fraction=1.5)
    with pytest.raises(
        ValueError,
        match=r"monitored\(\): regime must be a regime "
        r"without a monitor",
    ):
        cj.monitored(cj.monitored(cj.replace(), mon), mon)
    cov = cj.collapse_monitor(100, statistic="coverage")
    with pytest.raises(ValueError, match=r"'coverage' needs a Gaussian family"):
        cj.run_chains(
            CAT,
            CAT_TRUTH,
            key=0,
            num_chains=8,
            num_generations=2,
            sample_size=50,
            regime=cj.monitored(cj.replace(), cov),
        )


def test_experiment_runs_and_plots(tmp_path):
    from collapse_jax.experiments import monitor as exp

    res = exp.run(num_chains=8, num_generations=12, num_held_out=100)
    assert set(res) == {"replace", "adaptive"}
    files = exp.plot(res, tmp_path / "monitor")
    assert all(pathlib.Path(f).stat().st_size > 0 for f in files)
