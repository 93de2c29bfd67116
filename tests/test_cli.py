"""The ``collapse-jax`` command line: verify's table, JSON schema and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from collapse_jax import cli, verify

JSON_KEYS = {"id", "claim", "theory", "simulated", "z", "passed"}


@pytest.mark.slow
def test_verify_quick_passes_and_writes_the_json_schema(tmp_path, capsys):
    # The done criterion: `verify --quick` lists >= 15 claims, all passing.
    # About two minutes: each claim is also tested in its own module, so the whole
    # quick set runs with -m slow (and is the README's main job).
    out = tmp_path / "verify.json"
    status = cli.main(["verify", "--quick", "--json", str(out)])
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert status == 0, text
    assert len(rows) >= 15
    assert all(JSON_KEYS <= set(r) for r in rows)
    assert all(r["passed"] is True for r in rows)
    assert {r["id"] for r in rows} >= {"SH-3", "SH-4", "SH-5", "SH-6", "SH-7", "SH-8",
                                       "WF-1", "WF-3", "WF-4", "WF-5", "WF-9", "GC-1",
                                       "GC-2", "GC-3", "GC-5", "GC-7"}
    for r in rows:
        assert isinstance(r["theory"], float) and isinstance(r["simulated"], float)
        assert r["z"] is None or isinstance(r["z"], float)
        assert r["id"] in text
    assert f"{len(rows)}/{len(rows)} claims passed" in text


def test_verify_rows_of_each_kind_pass_and_write_the_json_schema(tmp_path, capsys):
    # Exact, statistical and deterministic rows from the quick set, through the CLI.
    ids = ["WF-4", "WF-9", "GC-3", "LR-0", "TT-1"]
    out = tmp_path / "verify.json"
    status = cli.main(["verify", "--quick", "--only", *ids, "--json", str(out)])
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert status == 0, text
    assert [r["id"] for r in rows] == ids
    assert all(JSON_KEYS <= set(r) and r["passed"] is True for r in rows)
    assert rows[2]["z"] is not None and rows[3]["z"] is None  # statistical, exact
    assert f"{len(ids)}/{len(ids)} claims passed" in text


def test_verify_exit_status_is_nonzero_when_a_claim_fails(monkeypatch, capsys):
    def failing(ctx):
        return verify.Row("XX-1", "a claim that fails", 1.0, 2.0, 9.0, False)

    registered = verify._all_claims()
    monkeypatch.setattr(verify, "_all_claims", lambda: registered + (
        verify.Claim("XX-1", "fails", failing),))
    assert cli.main(["verify", "--only", "WF-4", "XX-1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1/2 claims passed" in out


def test_verify_list_shows_every_claim(capsys):
    assert cli.main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    ids = [line.split()[0] for line in out.strip().splitlines()]
    assert ids == [c.id for c in verify.claims()]
    assert "(full run only)" in out  # GC-3L is not in the quick set


def test_verify_unknown_claim_is_a_clear_error(capsys):
    assert cli.main(["verify", "--only", "WF-4", "NOPE-1"]) == 2
    captured = capsys.readouterr()
    assert "argument '--only'" in captured.err and "['NOPE-1']" in captured.err
    assert "--list" in captured.err
    assert "WF-4" not in captured.out  # refused before any row ran


def test_verify_only_without_ids_is_a_clear_error(capsys):
    # It ran no row and reported "0/0 claims passed" with exit status 0.
    assert cli.main(["verify", "--only"]) == 2
    captured = capsys.readouterr()
    assert "claims passed" not in captured.out
    assert "argument '--only': expected one or more claim ids after it, got no ids" in (
        captured.err
    )
    assert "--list" in captured.err


def test_run_claims_only_empty_is_a_clear_error():
    with pytest.raises(ValueError, match=r"run_claims\(\): only must be one or more "
                       r"claim ids; got \[\]. .*only=None"):
        verify.run_claims(only=[])


def test_verify_json_to_unwritable_directory_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "missing" / "v.json"
    assert cli.main(["verify", "--only", "WF-4", "--json", str(target)]) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.parametrize("command, example", [
    ("verify", "collapse-jax verify --quick"),
    ("run", "collapse-jax run gaussian"),
    ("reproduce", "collapse-jax reproduce gaussian-drift"),
    ("resume", "collapse-jax resume runs/"),
    ("plot", "collapse-jax plot runs/"),
    ("list", "collapse-jax list gaussian"),
    ("decompose", "collapse-jax decompose"),
    ("info", "collapse-jax info"),
])
def test_every_command_has_help_with_examples(command, example, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out or "Example" in out
    assert example in out


def test_module_entry_point_and_x64_flag(tmp_path):
    # --x64 is applied by the CLI before any computation; the rows then run float64.
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    proc = subprocess.run(
        [sys.executable, "-m", "collapse_jax", "verify", "--x64", "--only", "WF-9",
         "--json", str(tmp_path / "v.json")],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "float64" in proc.stdout
    assert json.loads((tmp_path / "v.json").read_text())[0]["id"] == "WF-9"


def test_info_prints_versions(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "collapse_jax" in out and "jax" in out and "x64" in out
    assert "git revision" in out and "device" in out


# ------------------------------------------------------------ run, reproduce, ... ---

SMALL = ["--num-chains", "8", "--num-generations", "5", "--no-progress"]


def test_run_then_plot_then_resume_a_finished_run(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["run", "categorical", "--preset", "discrete-absorption",
                     "--sample-size=5,10", *SMALL, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert str(out / "results.nc") in text and "figure" in text
    from collapse_jax import io

    ds = io.load(out)
    assert list(ds["sweep"].values) == ["M=5", "M=10"]
    assert ds.attrs["preset"] == "discrete-absorption"
    assert cli.main(["plot", str(out), "-o", str(tmp_path / "figs")]) == 0
    pngs = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert pngs == sorted(p.name for p in (out / "figures").glob("*.png")) != []
    assert cli.main(["resume", str(out), "--no-progress", "--no-figures"]) == 0


def test_run_help_after_an_experiment_lists_its_fields(capsys):
    assert cli.main(["run", "gaussian", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--sample-size", "--growth", "--num-chains", "gaussian-drift"):
        assert option in out


def test_decompose_prints_the_additive_effects(tmp_path, capsys):
    assert cli.main(["decompose", "--combos", "none,S", "--sample-size", "20",
                     *SMALL, "-o", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "l2_to_truth at generation 5" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split() and line.split()[0] in ("none", "S")}
    assert float(rows["none"][0]) == 0.0  # well-specified, exact: no error
    assert float(rows["S"][0]) > 0 and float(rows["S"][1]) == float(rows["S"][0])


@pytest.mark.parametrize("argv, words", [
    (["run", "gausian"], ["experiment", "Did you mean 'gaussian'"]),
    (["run", "gaussian", "--preset", "gmm"], ["preset", "belongs to 'gmm'"]),
    (["run", "gaussian", "--bogus", "3"], ["--bogus", "collapse-jax list gaussian"]),
    (["run", "gaussian", "--num-chains", "x"], ["--num-chains", "an int", "'x'"]),
    (["run", "gaussian", "--num-chains", "0"],  # integers in full, not 2.14748e+09
     ["--num-chains", "a value in [1, 2,147,483,647]"]),
    (["run", "gaussian", "--sample-size", "1"], ["[2, 100,000,000]"]),
    (["run", "gaussian", "--num-chains"], ["--num-chains", "expected a value"]),
    (["run", "gaussian", "--estimator", "mel"], ["Did you mean 'mle'"]),
    (["run", "gaussian", "stray"], ["'stray'", "--FIELD VALUE"]),
    (["run", "gaussian", "--summary", "a,b"], ["--summary"]),
    (["reproduce", "nope"], ["preset", "gaussian-drift"]),
    (["list", "nope"], ["experiment", "gaussian"]),
    (["plot", "/no/such/run"], ["does not exist"]),
])
def test_bad_input_exits_2_with_a_clear_message(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)


def test_bad_output_directory_and_resume_targets(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["run", "gaussian", *SMALL, "-o", str(blocker / "r")]) == 2
    assert "writable" in capsys.readouterr().err
    assert cli.main(["resume", str(tmp_path)]) == 2
    assert "run.json" in capsys.readouterr().err


def test_usage_errors_of_the_command_line_library_exit_2(capsys):
    assert cli.main(["run"]) == 2  # missing EXPERIMENT
    assert cli.main(["no-such-command"]) == 2
    assert cli.main(["run", "gaussian", "--seed", "-3"]) == 2
