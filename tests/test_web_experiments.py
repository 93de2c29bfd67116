"""The experiments of collapse_jax.experiments.web: minority-erasure, web and
late-entrants (designs, theory curves, records, errors).

The laws drawn as theory curves are tested where they are computed
(tests/test_minority.py, tests/test_theory_web.py); these tests check that the
designs draw them at the right points and generations, and that the records mean
what the figures say. Three statistical assertions (k·SE, tests/helpers.py): the
first mover of the late-entrant experiment is the fit to M human items, and a later
entrant's error and advantage follow the design's exact curve.
"""

from __future__ import annotations

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax.experiments import core
from collapse_jax.experiments import web as ew
from collapse_jax.minority import vanished_by
from collapse_jax.theory import web as tw
from tests.helpers import assert_within_se, mean_and_se, module_seed


def _design(name, preset=None, **overrides):
    exp = core.get_experiment(name)
    cfg = core.resolve_config(name, preset=preset, overrides=overrides)
    return cfg, exp.build(cfg)


def test_presets_are_registered():
    names = core.presets()
    for preset, exp in (("minority-erasure", "minority-erasure"),
                        ("web-detection", "web"), ("late-entrants", "late-entrants")):
        assert names[preset].experiment == exp


def test_minority_erasure_design_draws_the_exact_law_at_the_replace_point():
    cfg, d = _design("minority-erasure", preset="minority-erasure")
    assert [p.coords["mitigation"] for p in d.points] == list(ew.MITIGATIONS)
    assert d.metrics == ("minority_share", "minority_vanished")
    truth = d.points[0].init.probs
    np.testing.assert_allclose(np.asarray(truth)[-2:].sum(), 0.1, rtol=1e-6)
    n = cfg["num_generations"]
    gone = d.theory["minority_vanished"]
    assert gone.statistic == "probability"
    np.testing.assert_allclose(gone.curves[0], vanished_by(0.1, 50, n))
    assert all(np.isnan(c).all() for c in gone.curves[1:])
    regimes = [p.options["regime"].name for p in d.points]
    assert regimes == ["replace", "mix", "fresh", "replace", "web", "web"]
    assert d.points[3].options["curation"].name == "tail_weighting"
    assert d.points[5].options["regime"].describe["detector"]["recall"] == 0.9


def test_minority_erasure_records(tmp_path):
    run = cj.run_experiment(
        "minority-erasure", out=tmp_path,
        overrides={"mitigations": ["replace", "fresh"], "num_chains": 64,
                   "num_generations": 30, "sample_size": 10},
        figures=False)
    ds = run.dataset
    share = ds["minority_share"].values  # (points, chains, N + 1)
    gone = ds["minority_vanished"].values
    np.testing.assert_allclose(share[:, :, 0], 0.1, rtol=1e-6)
    np.testing.assert_array_equal(gone, share == 0)
    # replace: vanishing is absorbing (WF-2).
    rep = gone[0]
    assert np.all(rep[:, 1:] >= rep[:, :-1])
    assert rep[:, -1].any()  # M = 10, m0 = 0.1: most chains lose it by n = 30
    # fresh data bring a vanished minority back.
    fr = gone[1]
    assert np.any(fr[:, :-1] & ~fr[:, 1:])


def test_web_design_draws_the_exact_web_curves():
    cfg, d = _design("web", preset="web-detection")
    n = cfg["num_generations"]
    assert [p.coords["recall"] for p in d.points] == [0.0, 0.5, 0.9, 0.99]
    probs = np.full(10, 0.1)
    for p, curve, kept in zip(d.points, d.theory["sq_error"].curves,
                              d.theory["kept_synthetic_share"].curves, strict=True):
        r = p.coords["recall"]
        np.testing.assert_allclose(
            curve, tw.web_categorical_sq_error(probs, 50, n, 0.8, r, 0.0))
        assert kept[0] == 0.0  # generation 0, the truth: all human
        np.testing.assert_allclose(kept[1:], tw.effective_share(0.8, r, 0.0))
        assert p.options["regime"].describe["source"] == "newest"


def test_late_entrants_design_uses_every_past_model_and_the_schedule():
    cfg, d = _design("late-entrants", preset="late-entrants")
    assert [p.coords["recall"] for p in d.points] == [0.0, 0.5, 0.9]
    assert all(p.options["regime"].describe["source"] == "all" for p in d.points)
    # The kept share and the exact error (source="all", from the truth) follow the
    # schedule fit by fit.
    n = cfg["num_generations"]
    t = np.arange(n)
    s = 0.95 / (1 + np.exp(-0.3 * (t - 20.0)))
    np.testing.assert_allclose(d.theory["kept_synthetic_share"].curves[2][1:],
                               tw.effective_share(s, 0.9, 0.0))
    probs = np.full(10, 0.1)
    for p, curve in zip(d.points, d.theory["sq_error"].curves, strict=True):
        np.testing.assert_allclose(curve, tw.web_categorical_sq_error(
            probs, 50, n, s, p.coords["recall"], 0.0, source="all"), rtol=1e-12)
    assert "every past model" in d.theory["sq_error"].label


def test_squared_error_metrics_match_the_records():
    cfg, d = _design("web", family="gaussian", recalls=[0.5], num_chains=8,
                     num_generations=4, schedule="linear", start_share=0.2)
    # A schedule: the exact moments fit by fit (WB-3 part 8).
    shares = 0.2 + 0.6 * np.arange(4) / 3
    mse, var = tw.web_gaussian_moments(50, 4, shares, 0.5, 0.0)
    np.testing.assert_allclose(d.theory["mean_sq_error"].curves[0], mse, rtol=1e-12)
    np.testing.assert_allclose(d.theory["var"].curves[0], var, rtol=1e-12)
    (point,) = d.points
    res = cj.run_chains(point.family, point.init, key=0, num_chains=8,
                        num_generations=4, record_params=False,
                        metrics=["mean", "log_var", "mean_sq_error", "var"],
                        **point.options)
    mets = res.metrics
    np.testing.assert_allclose(mets["mean_sq_error"], mets["mean"][..., 0] ** 2,
                               rtol=1e-5)
    np.testing.assert_allclose(mets["var"], np.exp(mets["log_var"][..., 0]),
                               rtol=1e-5)
    sched = point.options["regime"].describe["synthetic_share"]
    assert (sched["kind"], sched["start"], sched["end"]) == ("linear", 0.2, 0.8)


def test_advantage_is_the_mean_difference_to_the_first_mover():
    d = np.array([[0.0, 1.0, 2.0, 4.0], [0.0, 3.0, 3.0, 6.0]])
    adv, se = ew.advantage(d)
    np.testing.assert_allclose(adv, [-2.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(se, [1.0, 0.0, 0.5, 0.0])


def test_errors():
    # resolve_config speaks the command line's language by default (--flags).
    with pytest.raises(ValueError, match=r"run\(\): --minority-categories must be "
                       r"fewer than --num-categories \(4\); got 4\. Leave some"):
        core.resolve_config("minority-erasure",
                            overrides={"num_categories": 4, "minority_categories": 4})
    with pytest.raises(ValueError, match=r"--mitigations must be distinct values"):
        core.resolve_config("minority-erasure",
                            overrides={"mitigations": ["mix", "mix"]})
    with pytest.raises(ValueError, match=r"--recalls must be distinct values"):
        core.resolve_config("web", overrides={"recalls": [0.5, 0.5]})
    with pytest.raises(ValueError, match=r"--midpoint must be left unset unless "
                       r"--schedule is logistic"):
        core.resolve_config("web", overrides={"midpoint": 3.0})
    with pytest.raises(ValueError, match=r"--recall must be left unset unless "
                       r"--mitigations is detection"):
        core.resolve_config("minority-erasure",
                            overrides={"mitigations": ["replace"], "recall": 0.5})
    with pytest.raises(ValueError, match=r"--mitigations"):
        core.resolve_config("minority-erasure", overrides={"mitigations": ["none"]})


def test_the_first_mover_is_fitted_to_the_pre_synthetic_web():
    # A linear ramp from share 0: model 1 (the first mover) is the fit to M human
    # items, E ||p_1 - p*||^2 = (1 - sum p*^2) / M = 0.9 / 50 exactly (multinomial).
    # 2,000 chains: SE of the mean about 0.018 * sqrt(2 / 2000) ~ 6e-4.
    cfg, d = _design("late-entrants", recalls=[0.5], schedule="linear",
                     start_share=0.0, synthetic_share=0.9, num_chains=2000,
                     num_generations=3)
    (point,) = d.points
    res = cj.run_chains(point.family, point.init, key=module_seed(__name__),
                        num_chains=2000, num_generations=3, record_params=False,
                        metrics=["sq_error", "kept_synthetic_share"],
                        **point.options)
    est, se = mean_and_se(res.metrics["sq_error"][:, 1])
    assert_within_se(est, 0.9 / 50, se,
                     what="E d(model 1), late entrants, 2,000 chains, M = 50")
    assert np.all(res.metrics["kept_synthetic_share"][:, 1] == 0.0)
    adv, adv_se = ew.advantage(res.metrics["sq_error"])
    assert adv[1] == 0.0 and adv_se[1] == 0.0
    # The design's exact curve (source="all", the ramp fit by fit) at the last
    # entrant, and the exact advantage: the curve minus its value at τ = 1.
    curve = d.theory["sq_error"].curves[0]
    assert curve[1] == pytest.approx(0.9 / 50, rel=1e-12)
    est, se = mean_and_se(res.metrics["sq_error"][:, 3])
    assert_within_se(est, curve[3], se,
                     what="E d(model 3), late entrants, 2,000 chains, M = 50")
    assert_within_se(adv[3], curve[3] - curve[1], adv_se[3],
                     what="first-mover advantage at τ = 3, 2,000 chains")
