"""Comparing runs: ``collapse-jax plot RUN_DIR RUN_DIR ...`` and ``cj.plot_runs``."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import cli, io
from collapse_jax.plots import _demo_dataset, plot_overlay

TINY = {"num_chains": 8, "num_generations": 6}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two small Gaussian runs (one sweep point each) and a categorical one."""
    root = tmp_path_factory.mktemp("compare")
    for name, seed, size in (("small-m", 0, 10), ("large-m", 1, 100)):
        cj.run_experiment(
            "gaussian",
            overrides=dict(TINY, sample_size=size),
            seed=seed,
            out=root / name,
            figures=False,
        )
    cj.run_experiment(
        "categorical",
        preset="discrete-absorption",
        overrides=dict(TINY, sample_size=5),
        out=root / "cat",
        figures=False,
    )
    return root


def _lines(ax):
    return [line for line in ax.lines if line.get_gid()]


def test_each_panel_draws_every_run_in_its_own_colour_and_label(runs):
    a, b = runs / "small-m", runs / "large-m"
    fig = cj.plot_runs([a, b])
    first = io.load(a)
    metrics = [
        s["metric"] for s in json.loads(first.attrs["figures"]) if s["kind"] == "metric"
    ]
    assert len(fig.axes) == len(dict.fromkeys(metrics)) >= 1
    for ax in fig.axes:
        lines = _lines(ax)
        assert [line.get_label() for line in lines] == ["small-m", "large-m"]
        colours = {line.get_color() for line in lines}
        assert len(colours) == 2
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["small-m", "large-m"]


def test_the_lines_are_the_statistic_plot_metric_draws(runs):
    # Same reading path and statistic as a single run's figure: the medians agree.
    a, b = runs / "small-m", runs / "large-m"
    fig = cj.plot_runs([a, b], labels=["A", "B"], metrics=["log_var"])
    (ax,) = fig.axes
    for path, label in ((a, "A"), (b, "B")):
        ds = io.load(path)
        single = cj.plots.plot_metric(ds, "log_var", theory=False).axes[0]
        (point,) = [str(s) for s in ds["sweep"].values]
        want = next(ln for ln in single.lines if ln.get_gid() == f"median:{point}")
        got = next(ln for ln in ax.lines if ln.get_gid() == f"median:{label}:{point}")
        np.testing.assert_array_equal(got.get_xdata(), want.get_xdata())
        np.testing.assert_array_equal(got.get_ydata(), want.get_ydata())


def test_sweep_points_of_a_run_share_its_colour_and_differ_in_style():
    ds = _demo_dataset()
    fig = plot_overlay([ds, ds], ["a", "b"], metrics=["log_var"])
    lines = _lines(fig.axes[0])
    assert [ln.get_label() for ln in lines] == [
        "a: M=10",
        "a: M=100",
        "b: M=10",
        "b: M=100",
    ]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_linestyle() != lines[1].get_linestyle()


def test_cli_overlays_runs_with_labels_and_writes_the_figure(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["plot", str(runs / "small-m"), str(runs / "large-m"), "-o", str(out)]
    assert cli.main([*argv, "--label", "ten", "--label", "hundred"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "comparison.png"), str(out / "comparison.pdf")]
    assert all((out / f"comparison{s}").stat().st_size > 0 for s in (".png", ".pdf"))


def test_cli_default_out_is_comparison_in_the_current_directory(
    runs, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = ["plot", str(runs / "small-m"), str(runs / "large-m"), "--metric", "w2_sq"]
    assert cli.main(argv) == 0
    assert (tmp_path / "comparison" / "comparison.png").is_file()


def test_plot_run_refuses_a_missing_run_in_python_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short path: the message shortens long values
    with pytest.raises(FileNotFoundError,
                       match=r"plot_run\(\): path must be a run directory .*"
                             r"'no-such-run', which does not exist"):
        cj.plot_run("no-such-run")


def test_a_single_run_dir_still_redraws_its_figures(runs, tmp_path, capsys):
    out = tmp_path / "figs"
    assert cli.main(["plot", str(runs / "small-m"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) != []
    assert not (out / "comparison.png").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["{a}", "/no/such/run"],
            r"plot\(\): RUN_DIR must be a run directory .*"
            r"'/no/such/run', which does not exist",
        ),
        (  # one run: the redraw path speaks the command's words too
            ["/no/such/run"],
            r"plot\(\): RUN_DIR must be a run directory .*"
            r"'/no/such/run', which does not exist",
        ),
        (
            ["{a}", "{cat}"],
            r"plot\(\): RUN_DIR must be runs whose metric '.*' can "
            r"share a panel .*got run 'cat' without metric",
        ),
        (
            ["{a}", "{b}", "--label", "x"],
            r"plot\(\): --label must be 2 labels, one "
            r"per run",
        ),
        (["{a}", "{b}", "--label", "x", "--label", "x"], r"--label must be distinct"),
        (
            ["{a}", "{b}", "--metric", "nope"],
            r"got run 'small-m' without metric "
            r"'nope'",
        ),
    ],
)
def test_cli_refuses_runs_that_cannot_be_compared(runs, argv, expected, capsys):
    where = {"a": runs / "small-m", "b": runs / "large-m", "cat": runs / "cat"}
    argv = [arg.format(**where) for arg in argv]
    assert cli.main(["plot", *argv]) != 0
    err = " ".join(capsys.readouterr().err.split())
    assert re.search(expected, err), err


def test_python_messages_name_python_arguments(runs):
    with pytest.raises(FileNotFoundError, match=r"plot_runs\(\): runs\[1\] must be"):
        cj.plot_runs([runs / "small-m", runs / "missing"])
    with pytest.raises(TypeError, match=r"plot_runs\(\): runs must be a list"):
        cj.plot_runs(runs / "small-m")
    with pytest.raises(ValueError, match=r"plot_runs\(\): labels must be 2 labels"):
        cj.plot_runs([runs / "small-m", runs / "large-m"], labels=["x"])
    with pytest.raises(
        ValueError, match=r"plot_runs\(\): runs must be runs whose metric .*run 'cat'"
    ):
        cj.plot_runs([runs / "small-m", runs / "cat"])
    with pytest.raises(ValueError, match=r"metrics must be a non-empty list"):
        cj.plot_runs([runs / "small-m"], metrics=[])


def test_runs_of_one_directory_name_are_labelled_by_their_paths(tmp_path):
    ds = _demo_dataset()
    for name in ("x/run", "y/run"):
        (tmp_path / name).mkdir(parents=True)
        io.save(ds, tmp_path / name / "results.nc")
    fig = cj.plot_runs([tmp_path / "x/run", tmp_path / "y/run"], metrics=["w2_sq"])
    labels = {ln.get_label().split(": ")[0] for ln in _lines(fig.axes[0])}
    assert labels == {str(tmp_path / "x/run"), str(tmp_path / "y/run")}


def test_bool_or_differently_shaped_metrics_cannot_share_a_panel():
    ds = _demo_dataset()
    wide = ds.drop_vars("mean")
    wide["mean"] = (ds["mean"].dims, np.repeat(ds["mean"].values, 2, axis=-1))
    with pytest.raises(ValueError, match=r"run 'a' whose 'shrunk' is bool"):
        plot_overlay([ds, ds], ["a", "b"], metrics=["log_var", "shrunk"])
    with pytest.raises(ValueError, match=r"run 'b' whose 'mean' has shape \(2,\)"):
        plot_overlay([ds, wide], ["a", "b"], metrics=["mean"])
    with pytest.raises(TypeError, match=r"plot_overlay\(\): ds must be an xarray"):
        plot_overlay([ds, "x"], ["a", "b"])


def test_a_summary_file_overlays_with_the_statistic_it_stores():
    # A summary file (quantiles over chains) draws the same median as its chains.
    ds = _demo_dataset()
    summary = io.summarize(ds, [0.1, 0.5, 0.9])
    fig = plot_overlay([ds, summary], ["chains", "summary"], metrics=["log_var"])
    lines = {ln.get_gid(): ln for ln in _lines(fig.axes[0])}
    for point in ("M=10", "M=100"):
        np.testing.assert_allclose(
            lines[f"median:summary:{point}"].get_ydata(),
            lines[f"median:chains:{point}"].get_ydata(),
        )
