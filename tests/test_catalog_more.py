"""The word-forgetting and monitor experiments (collapse_jax.experiments.catalog_more).

Each experiment runs once at a small size (module fixtures); the statistical checks
compare means over chains with exact theory at several standard errors, so they
hold for any seed with overwhelming probability (the margins are argued inline).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from collapse_jax import runs, theory
from collapse_jax.experiments import core

from .helpers import assert_within_se

WF = "word-forgetting"
MON = "monitor"


def _mean_se(x):
    x = np.asarray(x, np.float64)
    return x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])


# ---------------------------------------------------------------- word forgetting ---

WF_CHAINS, WF_GENS, WF_V = 64, 20, 300


@pytest.fixture(scope="module")
def wf_run(tmp_path_factory):
    return runs.run_experiment(
        WF,
        overrides={"source": "zipf", "vocabulary": WF_V, "zipf_exponent": 1.0,
                   "sample_size": [200, 2000], "num_generations": WF_GENS,
                   "num_chains": WF_CHAINS},
        out=tmp_path_factory.mktemp("wf"), figures=False,
    )


def test_word_forgetting_dataset(wf_run):
    ds = wf_run.dataset
    assert list(ds["sweep"].values) == ["M=200", "M=2000"]
    assert list(ds["sample_size"].values) == [200, 2000]
    for m in ("lost_mass", "support_size", "entropy", "gini_simpson", "tail_mass"):
        assert ds[m].dims == ("sweep", "chain", "generation"), m
        assert ds[m].shape == (2, WF_CHAINS, WF_GENS + 1), m
    assert "probs" not in ds  # (C, N+1, V) would not scale to real vocabularies
    assert not np.any(ds["status"].values)
    for m in ("lost_mass", "support_size", "gini_simpson"):
        curve = ds[f"theory__{m}"]
        assert curve.dims == ("sweep", "generation")
        assert np.all(np.isfinite(curve.values)), m
    lost = ds["lost_mass"].values
    support = ds["support_size"].values
    assert np.all(lost[:, :, 0] == 0) and np.all(support[:, :, 0] == WF_V)
    assert np.all(support[:, :, -1] < support[:, :, 1])  # words are forgotten
    specs = {s["name"]: s for s in json.loads(ds.attrs["figures"])}
    assert specs["lost_mass"]["kind"] == "metric"
    assert specs["support_size_histogram"]["kind"] == "histogram"
    assert "lost_mass" in ds.attrs["log_metrics"]


def test_word_forgetting_forgotten_words_stay_forgotten(wf_run):
    # A word of probability 0 is never drawn again: support only shrinks and the
    # lost mass only grows (sums of more non-negative terms).
    ds = wf_run.dataset
    assert np.all(np.diff(ds["support_size"].values, axis=-1) <= 0)
    assert np.all(np.diff(ds["lost_mass"].values, axis=-1) >= 0)


def test_word_forgetting_matches_theory(wf_run):
    ds = wf_run.dataset
    p0 = np.arange(1, WF_V + 1, dtype=np.float64) ** -1.0
    p0 /= p0.sum()
    for i, m in enumerate((200, 2000)):
        # WF-3 is exact: E Gini-Simpson = H_0 (1 - 1/M)^n, at K*SE over 64 chains.
        mean, se = _mean_se(ds["gini_simpson"].values[i])
        for n in (1, WF_GENS // 2, WF_GENS):
            want = theory.discrete.expected_gini_simpson(p0, m, n)
            assert ds["theory__gini_simpson"].values[i, n] == pytest.approx(want)
            assert_within_se(mean[n], want, se[n], allowance=1e-6,
                             what=f'WF-3 M={m} n={n}')
        # Generation 1: the lost mass is the memorisation error, exactly (TT-1).
        mean, se = _mean_se(ds["lost_mass"].values[i])
        exact1 = theory.tails.memorisation_error(p0, m)
        assert_within_se(mean[1], exact1, se[1], what=f'TT-1 M={m}')
        # TT-3 is a branching approximation (within 2 % here): K*SE plus 5 %.
        th = ds["theory__lost_mass"].values[i]
        for n in (1, WF_GENS):
            assert th[n] == pytest.approx(
                theory.tails.lost_mass_after_generations(p0, m, n))
            assert_within_se(mean[n], th[n], se[n], allowance=0.05 * th[n],
                             what=f'TT-3 M={m} n={n}')
        mean, se = _mean_se(ds["support_size"].values[i])
        th = ds["theory__support_size"].values[i]
        assert th[1] == pytest.approx(theory.discrete.expected_support_size(p0, m))
        assert_within_se(mean[1], th[1], se[1], allowance=1e-9, what='WF-9')
        assert_within_se(mean[-1], th[-1], se[-1], allowance=0.05 * th[-1],
                         what='support (TT-3 survival)')


def test_word_forgetting_wordfreq_truth():
    from collapse_jax.datasets import word_frequencies

    exp = core.get_experiment(WF)
    cfg = core.resolve_config(WF, overrides={"vocabulary": 50, "language": "de",
                                             "sample_size": [10]})
    design = exp.build(cfg)
    want = word_frequencies(50, "de").probs
    np.testing.assert_allclose(np.asarray(design.points[0].init.probs), want)
    assert "'de'" in design.title


def test_word_forgetting_presets_validate():
    cfg = core.resolve_config(WF, preset=WF)
    assert cfg["source"] == "wordfreq" and cfg["vocabulary"] == 2000
    assert cfg["sample_size"] == [1000, 10000]
    full = core.resolve_config(WF, preset=WF, scale="full")
    assert full["vocabulary"] == 10000 and full["num_chains"] == 512
    assert core.get_preset(WF).experiment == WF


@pytest.mark.parametrize(
    ("overrides", "option", "error"),
    [
        ({"vocabulary": 1}, "--vocabulary", ValueError),
        ({"vocabulary": 2.5}, "--vocabulary", TypeError),
        ({"vocabulary": "many"}, "--vocabulary", ValueError),
        ({"vocabulary": 10**6}, "--vocabulary", ValueError),  # > wordfreq's list
        ({"language": "xx"}, "--language", ValueError),
        ({"source": "wordfrek"}, "--source", ValueError),
        ({"sample_size": [0]}, "--sample-size", ValueError),
        ({"sample_size": [10, 10]}, "--sample-size", ValueError),
        ({"sampler": "exact"}, "--sampler", ValueError),
        ({"zipf_exponent": -1.0}, "--zipf-exponent", ValueError),
    ],
)
def test_word_forgetting_bad_values(overrides, option, error):
    with pytest.raises(error, match=option):
        core.resolve_config(WF, overrides=overrides)


def test_word_forgetting_without_wordfreq(monkeypatch):
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # `import wordfreq` fails
    with pytest.raises(ImportError, match=r"collapse-jax\[data\].*--source zipf"):
        core.resolve_config(WF)
    with pytest.raises(ValueError, match="--source"):  # the CLI reports ValueErrors
        core.resolve_config(WF, overrides={"vocabulary": 123})
    cfg = core.resolve_config(WF, overrides={"source": "zipf"})  # needs no wordfreq
    assert len(core.get_experiment(WF).build(cfg).points) == 2


# ---------------------------------------------------------------- monitor ---

MON_CHAINS, MON_GENS, MON_M = 256, 30, 20


@pytest.fixture(scope="module")
def mon_run(tmp_path_factory):
    return runs.run_experiment(
        MON,
        overrides={"num_chains": MON_CHAINS, "num_generations": MON_GENS,
                   "sample_size": MON_M, "held_out": 200},
        out=tmp_path_factory.mktemp("mon"), figures=False,
    )


def test_monitor_dataset(mon_run):
    ds = mon_run.dataset
    assert list(ds["sweep"].values) == ["replace", "adaptive"]
    shape = (2, MON_CHAINS, MON_GENS + 1)
    for m in ("w2_sq", "alarm", "monitor_pvalue", "monitor_stat"):
        assert ds[m].dims == ("sweep", "chain", "generation"), m
        assert ds[m].shape == shape, m
    assert ds["log_var"].shape == shape + (1,)
    assert ds["alarm"].dtype == bool
    assert not np.any(ds["alarm"].values[:, :, 0])  # the truth is never tested
    assert not np.any(ds["status"].values)
    for m in ("log_var", "w2_sq"):  # theory for the replace point only
        curve = ds[f"theory__{m}"].values
        assert np.all(np.isfinite(curve[0])) and np.all(np.isnan(curve[1])), m
    n = np.arange(1, MON_GENS + 1)
    np.testing.assert_allclose(
        ds["theory__log_var"].values[0, 1:],
        [theory.gaussian.expected_log_variance(MON_M, int(k)) for k in n])
    kinds = {s["name"]: s["kind"] for s in json.loads(ds.attrs["figures"])}
    assert kinds["alarm"] == "fraction" and kinds["log_var"] == "metric"
    assert "w2_sq" in ds.attrs["log_metrics"]


def test_monitor_replace_follows_gc3(mon_run):
    # log σ²_n of the (monitored) replace chain is a sum of n log-χ² steps: light
    # tails, sd ≈ sqrt(2n/(M-1)) ≈ 1.8, SE ≈ 0.11 over 256 chains. 5 SE: P < 1e-6.
    # (A wrong estimator in the theory, e.g. "mle", is off by 30 log(19/20) ≈ -1.5.)
    ds = mon_run.dataset
    mean, se = _mean_se(ds["log_var"].values[0, :, :, 0])
    th = ds["theory__log_var"].values[0]
    for n in (1, MON_GENS // 2, MON_GENS):
        assert_within_se(mean[n], th[n], se[n], what=f'GC-3 monitor replace n={n}')


def test_monitor_adaptive_equals_replace_until_first_alarm(mon_run):
    # Common random numbers and one monitor for both points: an adaptive chain is
    # the replace chain with the same id up to its first alarm (the injection uses
    # a key stream of its own); from the next fit on, injection changes it.
    ds = mon_run.dataset
    alarm = ds["alarm"].values[0]
    fired = alarm.any(axis=1)
    first = np.where(fired, alarm.argmax(axis=1), MON_GENS)
    assert fired.sum() > MON_CHAINS // 2  # M = 20 vs 200 held-out: fast alarms
    lv = ds["log_var"].values[..., 0]
    changed = 0
    for c in range(MON_CHAINS):
        t = first[c]
        for m in ("log_var", "alarm", "monitor_pvalue"):
            a, b = ds[m].values[0, c, : t + 1], ds[m].values[1, c, : t + 1]
            np.testing.assert_array_equal(a, b, err_msg=f"{m}, chain {c}")
        if t < MON_GENS:
            changed += lv[0, c, t + 1] != lv[1, c, t + 1]
    assert changed == fired.sum()  # every injected fit sees other data


def test_monitor_adaptive_stays_near_the_truth(mon_run):
    # Mean W2² at generation 30 over 256 chains (M = 20, 200 held-out, two-sided
    # coverage at 1 %, 100 real draws per injected fit). Measured on 8192 chains:
    # replace E W2² = 2.15 (SH-5, exact), heavy-tailed (sd 5.2), but the mean is at
    # least the mean of min(W2², 1) ∈ [0, 1], whose expectation is 0.75: by
    # Hoeffding P(mean < 0.4) <= exp(-2 · 256 · 0.35²) < 1e-27. Adaptive: mean
    # 0.065, sd 0.093 (99.9 % quantile 0.82), SE 0.006 over 256 chains, so a mean
    # above 0.1 is a 6-SE event. The assertion fails only if one of the two happens.
    ds = mon_run.dataset
    last = ds["w2_sq"].values[:, :, -1].astype(np.float64).mean(axis=1)
    replace, adaptive = last
    assert adaptive < 0.25 * replace, (adaptive, replace)


def test_monitor_presets_and_points(tmp_path):
    cfg = core.resolve_config(MON, preset=MON)
    assert cfg["points"] == ["replace", "adaptive"] and cfg["num_chains"] == 256
    full = core.resolve_config(MON, preset=MON, scale="full")
    assert full["num_chains"] == 4096 and full["num_generations"] == 1000
    design = core.get_experiment(MON).build(
        core.resolve_config(MON, overrides={"points": "adaptive", "statistic": "rank",
                                            "alternative": "collapse"}))
    assert [p.label for p in design.points] == ["adaptive"]
    assert design.points[0].options["regime"].name == "adaptive"


@pytest.mark.parametrize(
    ("overrides", "option", "error"),
    [
        ({"points": ["replace", "fresh"]}, "--points", ValueError),
        ({"points": []}, "--points", ValueError),
        ({"statistic": "tail"}, "--statistic", ValueError),
        ({"level": 0.0}, "--level", ValueError),
        ({"level": "0.7"}, "--level", ValueError),
        ({"held_out": 0}, "--held-out", ValueError),
        ({"held_out": "1.5"}, "--held-out", ValueError),
        ({"num_real": 2.0}, "--num-real", TypeError),
        ({"sample_size": 1}, "--sample-size", ValueError),
        ({"alternative": "greater"}, "--alternative", ValueError),
        ({"num_realz": 3}, "--num-real", ValueError),  # unknown: "did you mean"
    ],
)
def test_monitor_bad_values(overrides, option, error):
    with pytest.raises(error, match=option):
        core.resolve_config(MON, overrides=overrides)


def test_module_registers_both():
    names = core.experiments()
    assert WF in names and MON in names
    assert {WF, MON} <= set(core.presets())
