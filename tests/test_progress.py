"""Progress reports: a bar on a terminal, plain lines elsewhere, silence on request.

A long run off a terminal (CI, nohup, a batch log) used to print nothing until the
end, after a preparation that took longer than the chain; now it creates its run
directory first and prints a line when it starts and at most every 10 s after.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

import collapse_jax as cj
from collapse_jax import cli, runs
from collapse_jax.progress import PLAIN_INTERVAL, progress_bar

LINE = re.compile(
    r"^(?P<desc>[\w-]+): (?P<where>.+) \((?P<pct>\d+) %\), (?P<elapsed>[\d.]+ "
    r"(s|min|h)) elapsed(, ~[\d.]+ (s|min|h) left)?$"
)


def test_plain_lines_off_a_terminal_at_most_every_interval():
    out = io.StringIO()  # not a terminal
    report = progress_bar("demo", file=out, interval=0.0)
    for done in (0, 5, 10):
        report(done, 10)
    lines = out.getvalue().splitlines()
    assert [LINE.match(x)["where"] for x in lines] == [
        "generation 0/10", "generation 5/10", "generation 10/10"]
    assert [LINE.match(x)["pct"] for x in lines] == ["0", "50", "100"]
    assert "left" in lines[1] and "left" not in lines[2]
    # The default interval: the first report and the end only, for a fast run.
    out = io.StringIO()
    report = progress_bar("demo", file=out)
    assert PLAIN_INTERVAL >= 10
    for done in range(0, 11):
        report(done, 10, f"point 1/2, generation {done}/10")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("demo: point 1/2, generation "
                                                   "10/10 (100 %)")
    report(3, 10)  # a reused callback reports the next run from its start
    assert out.getvalue().splitlines()[-1].startswith("demo: generation 3/10 (30 %)")


def test_disable_silences_and_a_forced_bar_draws_on_any_stream():
    out = io.StringIO()
    report = progress_bar(file=out, disable=True)
    report(5, 10)
    report(10, 10)
    assert out.getvalue() == ""
    report = progress_bar(file=out, disable=False)
    report(10, 10, "done")
    assert "10/10" in out.getvalue() and "done" in out.getvalue()


def test_run_chains_reports_plain_lines_to_a_log():
    log = io.StringIO()
    cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0, num_chains=8,
                  num_generations=6, sample_size=5, chunk_size=2,
                  progress=progress_bar("chains", file=log, interval=0.0))
    lines = log.getvalue().splitlines()
    assert [LINE.match(x)["where"] for x in lines] == [
        "generation 2/6", "generation 4/6", "generation 6/6"]


SMALL = ["--num-chains", "8", "--num-generations", "40", "--no-figures"]


def test_the_cli_prints_progress_lines_off_a_terminal_unless_quiet(tmp_path, capsys):
    assert cli.main(["run", "gaussian", *SMALL, "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "gaussian: preparing (0 %), 0.0 s elapsed"
    assert LINE.match(err[-1])["where"] == "generation 40/40, writing the results"
    assert LINE.match(err[-1])["pct"] == "100"
    for quiet in ("--quiet", "-q"):
        out = tmp_path / quiet.strip("-")
        assert cli.main(["run", "gaussian", *SMALL, "-o", str(out), quiet]) == 0
        assert "gaussian:" not in capsys.readouterr().err


def test_a_run_directory_names_its_sweep_points_in_the_progress_notes():
    points = [SimpleNamespace(label=lab) for lab in ("M=10", "M=100")]
    assert runs._note(1, points, 1200, 20_000) == (
        "point 2/2 (M=100), generation 1,200/20,000")
    assert runs._note(0, points, 0, 5, "preparing") == "point 1/2 (M=10), preparing"
    assert runs._note(0, points[:1], 7, 9) == "generation 7/9"


@pytest.mark.slow  # about 15 s: a process, a compile and 50,000 generations
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_a_long_cli_run_starts_at_once_and_reports_progress(tmp_path):
    # 50,000 generations: the theory curves used to take minutes (O(N^2)) before
    # anything was written or printed, for a chain of a few seconds. Now run.json
    # exists before the first line, which comes before the chain runs.
    out = tmp_path / "long"
    cmd = [sys.executable, "-m", "collapse_jax", "run", "gaussian",
           "--num-generations", "50000", "--num-chains", "8", "--no-figures",
           "-o", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        first = proc.stderr.readline()
        assert first == "gaussian: preparing (0 %), 0.0 s elapsed\n", first
        assert (out / "run.json").is_file()
        assert not (out / "results.nc").exists()
        rest, stdout = proc.stderr.read(), proc.stdout.read()
        assert proc.wait(timeout=600) == 0, rest
    finally:
        proc.kill()
    lines = [first.strip()] + rest.splitlines()
    assert all(LINE.match(x) for x in lines), lines
    last = LINE.match(lines[-1])
    assert last["where"] == "generation 50,000/50,000, writing the results"
    assert "wrote" in stdout and (out / "results.nc").is_file()
