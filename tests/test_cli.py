"""The ``collapse-jax`` command line: verify's table, JSON schema and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from collapse_jax import cli, verify

JSON_KEYS = {"id", "claim", "theory", "simulated", "z", "passed"}


def test_verify_quick_passes_and_writes_the_json_schema(tmp_path, capsys):
    # The done criterion: `verify --quick` lists >= 15 claims, all passing.
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
    assert cli.main(["verify", "--only", "NOPE-1"]) == 2
    err = capsys.readouterr().err
    assert "only" in err and "NOPE-1" in err and "--list" in err


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
