"""The files of a run directory: modes, the lock, checksums, overwrite, temp files.

Each test here failed before issue 11 was fixed: results readable by their owner
only, two processes in one run directory, damaged files read without a word (or
with a raw traceback), ``--overwrite`` leaving the previous run's figures, temporary
files piling up, ``resume`` of a finished run saying "wrote", ``reproduce`` failing
the second time, and a Ctrl-C hint to resume a run that did not exist.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import cli, io_utils, runs
from collapse_jax.experiments import core

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = {"num_chains": 8, "num_generations": 6, "sample_size": [10]}


def tiny(out, **kw):
    over = dict(TINY, **kw.pop("overrides", {}))
    return cj.run_experiment("gaussian", overrides=over, out=out,
                             figures=kw.pop("figures", False), **kw)


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


# ------------------------------------------------------------------ umask ---


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_respect_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        assert io_utils.current_umask() == mask
        io_utils.atomic_write_bytes(tmp_path / "a.bin", b"x", checksum=True)
        run = tiny(tmp_path / "run")
    finally:
        os.umask(old)
    want = 0o666 & ~mask
    assert mode(tmp_path / "a.bin") == want
    assert mode(tmp_path / "a.bin.sha256") == want
    for name in ("run.json", "results.nc", "results.nc.sha256", ".lock"):
        assert mode(run.directory / name) == want, name


# ------------------------------------------------------------------ the lock ---

HOLDER = """
import pathlib, sys
from collapse_jax import runlock
from collapse_jax.wording import Wording
lock = runlock.acquire(Wording("run_experiment"), "out", pathlib.Path(sys.argv[1]),
                       "run holder-test")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path):
    """A second, real process that holds the lock of ``tmp_path / "locked"``."""
    directory = tmp_path / "locked"
    directory.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield directory, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_a_second_process_is_refused_and_told_who_holds_the_run(holder, capsys):
    directory, proc = holder
    host = socket.gethostname()
    who = rf"locked by pid {proc.pid} on host {host} since .*\(run holder-test\)"
    with pytest.raises(ValueError, match=who):
        tiny(directory)
    assert not (directory / "run.json").exists()
    with pytest.raises(ValueError, match=r"run_experiment\(\): out must be .*no other"):
        tiny(directory)
    assert cli.main(["run", "gaussian", "--num-chains", "8", "--num-generations",
                     "3", "--no-progress", "-o", str(directory)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and f"pid {proc.pid}" in err and f"kill {proc.pid}" in err


def test_resume_and_plot_are_refused_while_another_process_works(tmp_path, holder):
    directory, proc = holder
    proc.kill()
    proc.wait()
    tiny(directory)  # the dead holder's lock is taken over
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    second = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=env, text=True)
    try:
        assert second.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=f"pid {second.pid}"):
            cj.resume(directory)
        with pytest.raises(ValueError, match=f"pid {second.pid}"):
            cj.plot_run(directory)
        drawn = cj.plot_run(directory, tmp_path / "elsewhere")  # not the run's own
        assert drawn and all("elsewhere" in p for p in drawn)
    finally:
        second.communicate("")  # ends it: the lock goes with the process
    assert cj.resume(directory).already_complete


def test_a_killed_holder_leaves_no_lock(holder):
    directory, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((directory / ".lock").read_text())["pid"] == proc.pid
    run = tiny(directory)
    assert run.dataset.attrs["complete"] == 1
    assert (directory / ".lock").read_text() == ""  # released, holder wiped


# ------------------------------------------------------------------ temp files ---


def test_taking_the_lock_clears_stale_temporary_files(tmp_path):
    run = tiny(tmp_path / "r")
    stale = [run.directory / ".tmp-abc123.nc", run.directory / ".tmp-x9",
             run.directory / ".probe-1"]
    for p in stale:
        p.write_bytes(b"left by a kill")
    before = run.results.stat().st_mtime_ns
    again = cj.resume(run.directory)
    assert again.already_complete and again.figures == []
    assert not any(p.exists() for p in stale)
    assert run.results.stat().st_mtime_ns == before  # nothing was written


def test_resume_of_a_complete_run_says_so_and_writes_nothing(tmp_path, capsys):
    run = tiny(tmp_path / "r")
    assert cli.main(["resume", str(run.directory), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "already holds this run, complete; nothing was computed" in out
    assert "wrote" not in out and "figure" not in out
    assert cli.main(["resume", str(run.directory), "--figures"]) == 0
    assert "figures redrawn" in capsys.readouterr().out


# ------------------------------------------------------------------ overwrite ---


def test_overwrite_clears_the_previous_run_and_keeps_other_files(tmp_path, capsys):
    d = tmp_path / "r"
    first = tiny(d)
    # The figures the results file names (as a drawing would leave them; not drawn
    # here, which takes seconds): overwrite must delete exactly these.
    names = [f["name"] for f in json.loads(first.dataset.attrs["figures"])]
    assert names
    (d / "figures").mkdir()
    for n in names:
        for ext in (".png", ".pdf"):
            (d / "figures" / f"{n}{ext}").write_bytes(b"drawn")
    (d / "notes.txt").write_text("mine")
    (d / "figures" / "mine.png").write_bytes(b"mine")
    (d / ".tmp-old.nc").write_bytes(b"stale")
    second = tiny(d, seed=1, overwrite=True)
    assert sorted(second.kept) == ["figures/mine.png", "notes.txt"]
    assert (d / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (d / "figures").iterdir()) == ["mine.png"]
    assert not (d / ".tmp-old.nc").exists()
    assert cj.load(d).attrs["seed"] == 1
    # The command line names the files it kept.
    assert cli.main(["run", "gaussian", "--num-chains", "8", "--num-generations",
                     "6", "--sample-size", "10", "--no-progress", "--no-figures",
                     "--overwrite", "-o", str(d)]) == 0
    err = capsys.readouterr().err
    assert "kept 2 file(s)" in err and "notes.txt" in err


def test_an_empty_out_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "gaussian", "--num-chains", "8", "--no-progress",
                     "-o", ""]) == 2
    err = capsys.readouterr().err
    assert "--out must be a non-empty directory path" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="out must be a non-empty"):
        tiny(" ")


# ------------------------------------------------------------------ checksums ---


def flip_a_byte(path: pathlib.Path, at: float = 0.6) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_damaged_results_are_detected_on_load_and_resume(tmp_path, capsys):
    run = tiny(tmp_path / "r")
    record = json.loads((run.directory / "results.nc.sha256").read_text())
    assert record["sha256"] == io_utils.file_sha256(run.results)
    flip_a_byte(run.results)
    with pytest.raises(ValueError, match=r"load\(\): path must be .*SHA-256"):
        cj.load(run.directory)
    with pytest.raises(ValueError, match=r"resume\(\): run_dir .*results\.nc.*"
                       r"overwrite=True"):
        cj.resume(run.directory)
    assert cli.main(["resume", str(run.directory)]) == 2
    err = capsys.readouterr().err
    assert "results.nc" in err and "--overwrite" in err and "Traceback" not in err
    # Following the advice recomputes the run, bit for bit.
    run.results.unlink()
    again = cj.resume(run.directory)
    assert again.dataset["log_var"].values.tobytes() == (
        run.dataset["log_var"].values.tobytes())


def test_unreadable_results_without_a_record_get_the_house_message(tmp_path):
    run = tiny(tmp_path / "r")
    (run.directory / "results.nc.sha256").unlink()
    run.results.write_bytes(b"not netCDF at all")
    with pytest.raises(ValueError, match=r"resume\(\): run_dir must be a readable "
                       r"results\.nc"):
        cj.resume(run.directory)


class Stop(Exception):
    pass


def interrupted(out):
    def stop(done, total):
        if done >= 4:
            raise Stop

    with pytest.raises(Stop):
        tiny(out, progress=stop, chunk_size=2, checkpoint_interval=0)
    return pathlib.Path(out)


@pytest.mark.parametrize("damage", ["flip", "garbage"])
def test_a_damaged_checkpoint_gets_the_house_message_and_a_fix(tmp_path, damage):
    d = interrupted(tmp_path / "r")
    ck = d / runs.CHECKPOINT_FILE
    assert io_utils.verify_checksum(ck) is True
    if damage == "flip":
        flip_a_byte(ck)
        match = r"checkpoint\.npz.*SHA-256"
    else:  # a torn or foreign file and no record: unreadable, not a traceback
        pathlib.Path(io_utils.checksum_path(ck)).unlink()
        ck.write_bytes(b"PK\x03\x04 not a zip")
        match = r"readable checkpoint\.npz.*damaged"
    with pytest.raises(ValueError, match=match) as exc:
        cj.resume(d)
    assert f"Delete {ck}" in str(exc.value)
    ck.unlink()
    resumed = cj.resume(d)
    whole = tiny(tmp_path / "whole")
    assert resumed.dataset["log_var"].values.tobytes() == (
        whole.dataset["log_var"].values.tobytes())


def test_a_kill_between_the_record_and_the_rename_is_not_damage(tmp_path,
                                                              monkeypatch):
    path = tmp_path / "f.bin"
    io_utils.atomic_write_bytes(path, b"old", checksum=True)

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        io_utils.atomic_write_bytes(path, b"new", checksum=True)
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert io_utils.verify_checksum(path) is True  # the record accepts both


def test_a_file_replaced_while_it_is_checked_is_not_damage(tmp_path, monkeypatch):
    # A reader (cj.load of a running run) opens the old file; a checkpoint then
    # replaces file and record before the reader reads the record.
    path = tmp_path / "f.bin"
    io_utils.atomic_write_bytes(path, b"old", checksum=True)
    real = io_utils._recorded
    calls = []

    def racing(p):
        if not calls:
            calls.append(p)
            monkeypatch.setattr(io_utils, "_recorded", real)
            io_utils.atomic_write_bytes(path, b"new", checksum=True)
            monkeypatch.setattr(io_utils, "_recorded", racing)
        return real(p)

    monkeypatch.setattr(io_utils, "_recorded", racing)
    assert io_utils.verify_checksum(path) is True
    assert calls and path.read_bytes() == b"new"


# ------------------------------------------------------------------ reproduce ---


@pytest.fixture
def tiny_preset(monkeypatch):
    name = "tiny-test-preset"
    core.experiments()  # the catalog first: the registry is then complete
    monkeypatch.setitem(core._PRESETS, name, core.Preset(
        name, "gaussian", "a tiny preset for tests", dict(TINY)))
    return name


def test_reproduce_twice_reuses_the_run(tmp_path, tiny_preset, capsys):
    d = tmp_path / "r"
    first = cj.reproduce(tiny_preset, out=d)
    assert not first.already_complete and first.figures
    before = first.results.stat().st_mtime_ns
    second = cj.reproduce(tiny_preset, out=d)
    assert second.already_complete and second.figures == first.figures
    assert first.results.stat().st_mtime_ns == before
    assert cli.main(["reproduce", tiny_preset, "-o", str(d), "--no-progress"]) == 0
    assert "already holds this run, complete" in capsys.readouterr().out
    # Another configuration is refused, in the caller's words.
    with pytest.raises(ValueError, match=r"another seed.*overwrite=True"):
        cj.reproduce(tiny_preset, out=d, seed=1)
    assert cli.main(["reproduce", tiny_preset, "-o", str(d), "--seed", "1",
                     "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_reproduce_finishes_a_partial_run(tmp_path, tiny_preset):
    d = tmp_path / "r"

    def stop(done, total):
        if done >= 4:
            raise Stop

    with pytest.raises(Stop):  # the same run as reproduce's, checkpointed often
        cj.run_experiment("gaussian", preset=tiny_preset, out=d, progress=stop,
                          chunk_size=2, checkpoint_interval=0)
    assert cj.load(d).attrs["complete"] == 0
    done = cj.reproduce(tiny_preset, out=d)
    assert done.resumed_from is not None and done.dataset.attrs["complete"] == 1
    whole = cj.reproduce(tiny_preset, out=tmp_path / "whole")
    assert done.dataset["log_var"].values.tobytes() == (
        whole.dataset["log_var"].values.tobytes())


# ------------------------------------------------------------------ Ctrl-C ---


def test_ctrl_c_during_preparation_does_not_suggest_a_resume(tmp_path, monkeypatch,
                                                             capsys):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "_claim_directory", interrupt)  # before run.json
    argv = ["run", "gaussian", "--num-chains", "8", "--num-generations", "3",
            "--no-progress", "-o", str(tmp_path / "r")]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "nothing that can be resumed" in err and "collapse-jax resume" not in err
    monkeypatch.undo()
    # run.json is written before the design is built: an interrupt while the
    # theory curves are computed leaves a run that resume takes up.
    monkeypatch.setattr(runs, "check_design", interrupt)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert f"collapse-jax resume {tmp_path / 'r'}" in err
    monkeypatch.undo()
    assert cli.main(["resume", str(tmp_path / "r"), "--no-progress"]) == 0


# ------------------------------------------------------------------ wording ---


@pytest.mark.parametrize("overrides, python, flags", [
    ({"regime": "replace", "real_fraction": 0.3},
     ["overrides['real_fraction']", "overrides={'regime': 'replace'}"],
     ["--real-fraction", "--regime replace"]),
    ({"regime": "mix", "sampler": "sufficient"},
     ["overrides['sampler']", "overrides={'sampler': 'samples'}"],
     ["--sampler", "--sampler samples"]),
    ({"num_chains": 0}, ["overrides['num_chains']"], ["--num-chains"]),
])
def test_one_check_speaks_python_from_python_and_flags_from_the_cli(
        tmp_path, capsys, overrides, python, flags):
    with pytest.raises(ValueError) as exc:
        cj.run_experiment("gaussian", overrides=overrides, out=tmp_path / "p")
    assert all(w in str(exc.value) for w in python) and "--" not in str(exc.value)
    argv = ["run", "gaussian", "--no-progress", "-o", str(tmp_path / "c")]
    for k, v in overrides.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in flags) and "overrides[" not in err


@pytest.mark.parametrize("experiment, overrides, field", [
    ("gaussian", {"real_fraction": 0.2}, "real_fraction"),
    ("categorical", {"regime": "accumulate", "sampler": "samples",
                     "real_fraction": 0.2}, "real_fraction"),
    ("categorical", {"init": "zipf", "initial_prob": 0.2}, "initial_prob"),
    ("categorical", {"zipf_exponent": 2.0}, "zipf_exponent"),
    ("monitor", {"points": "replace", "num_real": 5}, "num_real"),
])
def test_options_the_configuration_does_not_use_are_refused(experiment, overrides,
                                                            field):
    with pytest.raises(ValueError, match=rf"--{field.replace('_', '-')} must be "
                       r"left unset unless .*ignored"):
        core.resolve_config(experiment, overrides=overrides)


def test_options_that_apply_are_accepted_and_reruns_leave_unused_ones_out(tmp_path):
    cfg = core.resolve_config("gaussian", overrides={"regime": "mix",
                                                     "sampler": "samples",
                                                     "real_fraction": 0.2})
    assert cfg["real_fraction"] == 0.2
    assert core.resolve_config("categorical", overrides={
        "init": "zipf", "zipf_exponent": 2.0})["zipf_exponent"] == 2.0
    assert core.resolve_config("monitor", overrides={
        "num_real": 5})["num_real"] == 5  # the default points include adaptive
    run = tiny(tmp_path / "r")
    args = cj.run_arguments(run.dataset)
    assert "real_fraction" not in args["overrides"]
    again = cj.run_experiment(**args, out=tmp_path / "again", figures=False)
    assert json.loads(again.dataset.attrs["config"]) == json.loads(
        run.dataset.attrs["config"])


# ------------------------------------------------------------------ reprs ---


def test_result_objects_have_short_reprs(tmp_path):
    res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
                        num_chains=200, num_generations=20, sample_size=10,
                        sampler="sufficient", metrics=("log_var",))
    text = repr(res)
    assert len(text) < 500, len(text)  # was 49,495 characters at 1,000 x 100
    assert "200 chains x 20 generations" in text and "0 failed chains" in text
    sw = cj.sweep(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
                  regime=cj.mix(0.5), over={"real_fraction": [0.0, 0.5]},
                  num_chains=8, num_generations=4, sample_size=10)
    assert len(repr(sw)) < 500 and "2 points x 8 chains" in repr(sw)
    run = tiny(tmp_path / "r")
    assert len(repr(run)) < 500 and "complete" in repr(run)
    assert np.isfinite(res.metrics["log_var"]).all()
