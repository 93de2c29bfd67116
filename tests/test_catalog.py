"""The built-in experiments: their theory curves match their simulations.

The curves stored in a results file (``theory__<metric>``) are the expected value of
the metric; these tests compare them with the mean over independent chains at k*SE
(SE from the chains, k from the suite budget, tests/helpers.py), so a wrong schedule,
index shift or parameterisation in the catalog fails here. Raw moments are tested at
n <= M only (THEORY §12).
"""

from __future__ import annotations

import pytest

import collapse_jax as cj
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


@pytest.mark.parametrize("name", sorted(core.experiments()))
def test_every_experiment_runs_and_draws_at_a_tiny_size(tmp_path, name):
    if name == "word-forgetting":
        pytest.importorskip("wordfreq")
    exp = core.get_experiment(name)
    tiny = {"num_chains": 8, "num_generations": 6}
    if name == "decomposition":  # one of the eight combinations: eight compiles
        tiny["combos"] = ["S+E+A"]
    run = cj.run_experiment(name, overrides=tiny, out=tmp_path / "r", figures=True)
    ds = run.dataset
    assert ds.attrs["complete"] == 1
    assert json_list(ds.attrs["generations_done"]) == [7] * ds.sizes["sweep"]
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


def json_list(text):
    import json

    return json.loads(text)
