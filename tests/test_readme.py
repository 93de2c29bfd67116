"""The README is executable: its commands match CI and its examples run as stated."""

from __future__ import annotations

import math
import pathlib
import re

import numpy as np
import pytest

from collapse_jax.theory import gaussian as tg
from tests.helpers import K

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_the_two_setup_commands_are_there_and_ci_runs_the_test_command():
    commands = [line for block in _blocks("bash") for line in block.splitlines()
                if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    main_job, tests = commands
    assert " && .venv/bin/collapse-jax verify --quick && " in main_job
    assert main_job.endswith(".venv/bin/collapse-jax reproduce gaussian-drift")
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run runs the same steps, adding the exit-status-5 check around pytest.
    for step in tests.split(" && "):
        step = step.replace("JAX_ENABLE_X64=1 ", "env JAX_ENABLE_X64=1 ")
        assert step in ci.replace("run_pytest ", ""), step


def test_python_examples_run_and_their_comments_hold():
    first, second = _blocks("python")[:2]
    ns: dict = {}
    exec(first, ns)  # noqa: S102 - the README's own example
    lv = ns["res"].metrics["log_var"][:, 200, 0].astype(np.float64)
    expected = tg.expected_log_variance(10, 200)
    se = math.sqrt(tg.variance_log_variance(10, 200) / lv.shape[0])
    assert abs(expected - (-23.0)) < 0.05  # the number quoted in the comment
    assert abs(lv.mean() - expected) <= K * se
    assert ns["res"].failures() == []
    exec(second, ns)  # noqa: S102
    assert ns["res"].metrics["absorbed"][:, -1].all()


def test_error_sources_example_runs_and_its_comments_hold():
    ns: dict = {"np": np}
    exec("import collapse_jax as cj\n" + _blocks("python")[2], ns)  # noqa: S102
    res = ns["res"]
    assert np.max(np.abs(res.metrics["w2_mm_sq_to_truth"][0])) < 1e-5
    l2 = res.metrics["l2_to_truth"][0]
    assert l2[0] == 0 and l2[1] > 0.01
    assert np.all(l2[1:] == l2[1])
    dec = ns["dec"]
    assert dec.median("l2_to_truth").shape == (4, 6)
    assert dec.effects("l2_to_truth")["S+E"].shape == (6,)


def test_regimes_sweep_example_runs_and_its_comment_holds(capsys):
    blocks = [b for b in _blocks("python") if "cj.sweep(" in b]
    assert len(blocks) == 1
    ns: dict = {}
    exec(blocks[0], ns)  # noqa: S102
    res = ns["res"]
    assert res.metrics["log_var"].shape == (8, 4096, 51, 1)  # 8 fractions x 4,096
    med = np.median(res.metrics["log_var"][:, :, -1, 0], axis=1)
    assert med[0] < -4 and np.all(med[1:] > -1)  # replace collapses, mixing does not
    assert "[" in capsys.readouterr().out


def test_command_line_example_loads_and_reruns_from_metadata(tmp_path, monkeypatch):
    # The README's `collapse-jax run gaussian --sample-size 100,1000 ... -o runs/mine`
    # at a small size, then its Python block, run as written.
    from collapse_jax import cli

    monkeypatch.chdir(tmp_path)
    command = [b for b in _blocks("bash") if "-o runs/mine" in b][0]
    assert "collapse-jax run gaussian --sample-size 100,1000" in command
    assert cli.main(["run", "gaussian", "--sample-size", "100,1000", "--num-chains",
                     "8", "--num-generations", "5", "-o", "runs/mine",
                     "--no-figures", "--no-progress"]) == 0
    block = [b for b in _blocks("python") if "cj.load(" in b][0]
    ns: dict = {}
    exec(block, ns)  # noqa: S102 - the README's own example
    assert ns["ds"]["log_var"].sel(sweep="M=100").shape == (8, 6, 1)
    np.testing.assert_array_equal(ns["again"].dataset["log_var"].values,
                                  ns["ds"]["log_var"].values)


def test_comparing_runs_and_exporting_to_a_table_run_as_written(tmp_path, monkeypatch):
    # Two small runs in runs/mine and runs/again, then the README's comparison
    # command and its export block, as written.
    import shlex

    import pandas as pd

    from collapse_jax import cli

    monkeypatch.chdir(tmp_path)
    small = ["--num-chains", "8", "--num-generations", "5", "--no-figures",
             "--no-progress"]
    for out, seed in (("runs/mine", "0"), ("runs/again", "1")):
        assert cli.main(["run", "gaussian", "--sample-size", "100,1000", *small,
                         "--seed", seed, "-o", out]) == 0
    command = [b for b in _blocks("bash") if "plot runs/mine runs/again --" in b][0]
    assert cli.main(shlex.split(command.strip())[1:]) == 0
    assert (tmp_path / "comparison" / "comparison.png").is_file()
    block = [b for b in _blocks("python") if ".to_dataframe()" in b][0]
    exec(block, {})  # noqa: S102 - the README's own example
    table = pd.read_csv("runs/mine/log_var.csv")
    assert len(table) == 2 * 8 * 6  # sweep points x chains x generations (d = 1)
    assert {"log_var", "status"} <= set(table.columns)


@pytest.mark.slow
def test_the_main_command_can_be_run_twice(tmp_path, monkeypatch, capsys):
    # Command 1 ends with `collapse-jax reproduce gaussian-drift` (its `verify
    # --quick` writes nothing). Run twice, the second finds the complete run and
    # redraws its figures instead of failing on the existing directory.
    from collapse_jax import cli

    main_job = [line for block in _blocks("bash") for line in block.splitlines()
                if line.startswith("python3 -m venv")][0]
    argv = main_job.split(" && ")[-1].split("collapse-jax ", 1)[1].split()
    assert argv == ["reproduce", "gaussian-drift"]
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "wrote runs/gaussian-drift/results.nc" in first
    assert cli.main([*argv, "--no-progress"]) == 0
    second = capsys.readouterr().out
    assert "already holds this run, complete" in second and "figure" in second


@pytest.mark.slow
def test_neural_example_runs_and_its_comments_hold():
    pytest.importorskip("sklearn")
    (block,) = [b for b in _blocks("py") if "cj.language_model(" in b]
    ns: dict = {}
    exec(block, ns)  # noqa: S102 - the README's own example
    lm, vae = ns["lm_res"].metrics, ns["vae_res"].metrics
    assert lm["held_out_perplexity"].shape == (4, 4)
    assert lm["gen0_log_ppl_hist"].shape == (4, 4, 20)
    assert vae["latent_spread"].shape == vae["class_entropy"].shape == (4, 4)
    # The comments' directions, in the mean over chains (3 generations).
    assert vae["latent_spread"][:, -1].mean() < vae["latent_spread"][:, 0].mean()
    assert vae["class_entropy"][:, -1].mean() < vae["class_entropy"][:, 0].mean()


def test_bayesian_learner_example_runs_and_follows_bl1():
    (block,) = [b for b in _blocks("py") if 'cj.gaussian(learner=' in b]
    ns: dict = {}
    exec("import collapse_jax as cj\n" + block, ns)  # noqa: S102 - the README's own
    lv = np.asarray(ns["res"].metrics["log_var"], np.float64)[..., 0]
    assert lv.shape == (1000, 201)
    # BL-1: log σ²_n is a random walk with drift exactly 0 and step variance
    # 2ψ′((M − 1)/2), so the mean over the 1,000 chains has SE sqrt(n · 2ψ′ / C).
    from scipy.special import polygamma

    n, m = 200, 20
    se = math.sqrt(n * 2 * float(polygamma(1, (m - 1) / 2)) / lv.shape[0])
    assert abs(lv[:, n].mean()) < K * se
    # The plug-in chain's drift (GC-3) would put the mean many SE below 0.
    assert n * tg.log_variance_factor_mean(m) < -K * se
