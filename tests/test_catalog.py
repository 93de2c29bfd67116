"""The built-in experiments: their theory curves match their simulations.

The curves stored in a results file (``theory__<metric>``) are the expected value of
the metric; these tests compare them with the mean over independent chains at k*SE
(SE from the chains, k from the suite budget, tests/helpers.py), so a wrong schedule,
index shift or parameterisation in the catalog fails here. Raw moments are tested at
n <= M only (docs/theory.md §12).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import plots
from collapse_jax.experiments import core

from .helpers import assert_within_se, binomial_se, mean_and_se, module_seed

pytestmark = pytest.mark.statistical


def run(tmp_path, experiment, name, **overrides):
    return cj.run_experiment(experiment, overrides=overrides, out=tmp_path / name,
                             seed=module_seed(f"test_catalog.{name}"),
                             figures=False).dataset


def check_mean(ds, metric, gens, what):
    ok = ds["status"].values == 0
    for p, label in enumerate(ds["sweep"].values):
        for g in gens:
            x = ds[metric].values[p, :, g]
            x = x.reshape(x.shape[0], -1)[:, 0]
            assert ok[p, :, g].all(), f"{what}: failed chains at {label}, n={g}"
            m, se = mean_and_se(x)
            theory = ds[f"theory__{metric}"].values[p, g]
            assert_within_se(m, theory, se, what=f"{what} {label} n={g}")


def test_gaussian_theory_curves_constant_and_quadratic_growth(tmp_path):
    ds = run(tmp_path, "gaussian", "growth", sample_size=[20],
             growth=["constant", "quadratic"], num_chains=4000, num_generations=20)
    check_mean(ds, "log_var", (1, 5, 20), "E log var (GC-3)")
    check_mean(ds, "w2_sq", (1, 5, 20), "E W2^2 (SH-5)")
    # The quadratic schedule keeps W2 bounded: theory at n = 20 below constant's.
    th = ds["theory__w2_sq"].values
    assert th[1, 20] < th[0, 20] / 3


def test_theorem_3_1_log_det_curve_in_several_dimensions(tmp_path):
    ds = run(tmp_path, "gaussian", "mvn", dim=[2, 4], sample_size=[12],
             num_chains=3000, num_generations=12)
    check_mean(ds, "log_det_cov", (1, 6, 12), "E log det (SH-7)")
    assert set(ds.data_vars) >= {"log_det_cov", "w2_sq"} and "mean" not in ds


def test_categorical_gini_simpson_and_exact_absorption(tmp_path):
    ds = run(tmp_path, "categorical", "cat", num_categories=2, initial_prob=0.3,
             sample_size=[8, 20], num_chains=4000, num_generations=20)
    check_mean(ds, "gini_simpson", (1, 5, 20), "E H_n (WF-3)")
    absorbed = ds["absorbed"].values
    for p in range(2):
        for g in (3, 10, 20):
            q = ds["theory__absorbed"].values[p, g]
            frac = absorbed[p, :, g].mean()
            assert_within_se(frac, q, binomial_se(q, absorbed.shape[1]),
                             what=f"P(absorbed by {g}) (WF-4) point {p}")


def test_regression_replace_and_accumulate_curves(tmp_path):
    ds = run(tmp_path, "regression", "lr", dim=3, num_rows=20, num_chains=4000,
             num_generations=8)
    check_mean(ds, "test_error", (1, 4, 8), "E err | X (LR-1, LR-2)")
    th = ds["theory__test_error"].values
    assert th[0, 8] > 3 * th[1, 8]  # replace grows, accumulate stays bounded


_NEURAL_TINY = {
    "lm": {"size": "test", "sample_size": 32, "steps": 5, "num_chains": 2,
           "num_generations": 2, "real_fraction": [0.0]},
    "vae-digits": {"sample_size": 64, "steps": 20, "pretrain_steps": 200,
                   "num_chains": 2, "num_generations": 2, "points": ["replace"]},
}


# The neural experiments' tiny runs train networks for minutes on a loaded core:
# slow pass (tests/test_neural_*.py cover the chains in the default one).
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow if n in _NEURAL_TINY else ())
    for n in sorted(core.experiments())
])
def test_every_experiment_runs_and_draws_at_a_tiny_size(tmp_path, name):
    if name == "word-forgetting":
        pytest.importorskip("wordfreq")
    exp = core.get_experiment(name)
    tiny = {"num_chains": 8, "num_generations": 6}
    if name == "decomposition":  # one of the eight combinations: eight compiles
        tiny["combos"] = ["S+E+A"]
    # The neural experiments train a network per generation: the test-suite sizes.
    tiny.update(_NEURAL_TINY.get(name, {}))
    run = cj.run_experiment(name, overrides=tiny, out=tmp_path / "r", figures=True)
    ds = run.dataset
    assert ds.attrs["complete"] == 1
    done = tiny["num_generations"] + 1
    assert json_list(ds.attrs["generations_done"]) == [done] * ds.sizes["sweep"]
    pngs = [p for p in run.figures if p.endswith(".png")]
    assert len(pngs) == len(json_list(ds.attrs["figures"])) >= 1
    assert len(run.figures) == 2 * len(pngs)  # PNG and PDF
    redrawn = cj.plot_run(run.directory, tmp_path / "again")
    assert [p.rsplit("/", 1)[1] for p in redrawn] == [
        p.rsplit("/", 1)[1] for p in run.figures]
    for a, b in zip(run.figures, redrawn, strict=True):
        if a.endswith(".png"):  # figures are reproducible, byte for byte
            assert open(a, "rb").read() == open(b, "rb").read(), a
    assert exp.description
    check_like_with_like(ds)


def check_like_with_like(ds):
    """Each metric figure with a theory curve draws, beside it, the statistic the
    curve states (checked on the Axes' data), e.g. the chains' mean beside E W2²."""
    import json

    for spec in json.loads(ds.attrs["figures"]):
        metric = spec.get("metric")
        if spec["kind"] != "metric" or f"theory__{metric}" not in ds:
            continue
        statistic = ds[f"theory__{metric}"].attrs["statistic"]
        ax = plots.plot_metric(ds, metric, chains_shown=0).axes[0]
        log = metric in json.loads(ds.attrs["log_metrics"])
        ok = ds["status"].values == 0
        for p, label in enumerate(ds["sweep"].values):
            if not np.isfinite(ds[f"theory__{metric}"].values[p]).any():
                continue
            x = ds[metric].values[p].reshape(ok.shape[1], ok.shape[2], -1)[..., 0]
            x = np.where(ok[p], x.astype(np.float64), np.nan)
            expected = {"mean": np.nanmean, "median": np.nanmedian}[statistic](x, 0)
            if log:  # a log axis leaves gaps at values <= 0 (the truth's 0 distance)
                expected = np.where(expected > 0, expected, np.nan)
            (line,) = [ln for ln in ax.lines if ln.get_gid() == f"{statistic}:{label}"]
            np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-9,
                                       err_msg=f"{metric} {label}")


def _ascii_math(text: str) -> bool:
    """ASCII stand-ins for mathematics ("σ²_n", "q_{n-1}", "(1 - 1/M)^n") outside
    matplotlib mathtext ($...$)."""
    return bool(re.search(r"[_^]", re.sub(r"\$[^$]*\$", "", text)))


@pytest.mark.parametrize("name", sorted(core.presets()))
def test_every_preset_states_its_theory_statistics_in_readable_labels(name):
    preset = core.get_preset(name)
    overrides = {"num_chains": 8, "num_generations": 6}
    if preset.experiment == "word-forgetting":  # the labels do not need wordfreq
        overrides["source"] = "zipf"
    config = core.resolve_config(preset.experiment, preset=name, overrides=overrides)
    design = core.get_experiment(preset.experiment).build(config)
    labels = [design.title, *design.metric_labels.values()]
    labels += [curve[0] for curve in design.theory.values()]
    assert not [t for t in labels if _ascii_math(t)], labels
    for metric, curve in design.theory.items():
        statistic = getattr(curve, "statistic", None)
        assert statistic in ("mean", "median", "probability"), metric
    for spec in design.figures:  # a share of chains is compared with a probability
        if spec["kind"] == "fraction" and spec["metric"] in design.theory:
            assert design.theory[spec["metric"]].statistic == "probability"
    assert _ascii_math("log σ²_n") and not _ascii_math(r"$\sigma^2_n$")


def json_list(text):
    import json

    return json.loads(text)
