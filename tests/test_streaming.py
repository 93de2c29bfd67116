"""Streaming results: checkpoints append part files instead of rewriting results.nc.

A run writes results.nc whole once (its first checkpoint) and then, at each later
checkpoint, one part file with the chunk's records (collapse_jax.parts). The tests
kill a run (an exception raised by a monkeypatched writer) at every point between
the writes and check that the resumed results equal an uninterrupted run's bit for
bit, that a reader of the unfinished directory sees every checkpointed generation,
and that damaged or foreign parts are refused with the house message.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

import collapse_jax as cj
from collapse_jax import cli, io_utils, parts, rundir
from collapse_jax import io as cio
from collapse_jax.wording import Wording

from .test_runs import assert_same_results

N = 12
OVER = {"num_chains": 8, "num_generations": N, "sample_size": [10, 50],
        "sampler": "samples"}


class Stop(Exception):
    pass


def run(out, summary=None, **kw):
    return cj.run_experiment("gaussian", overrides=OVER, out=out, figures=False,
                             chunk_size=2, checkpoint_interval=0, summary=summary,
                             **kw)


SUMMARY = (0.25, 0.5)


@pytest.fixture(scope="module")
def wholes(tmp_path_factory):
    """The uninterrupted runs' results, by summary setting (made when asked)."""
    made = {}

    def get(summary):
        if summary not in made:
            d = tmp_path_factory.mktemp("whole") / "r"
            made[summary] = cj.load(run(d, summary).directory)
        return made[summary]

    return get


def kill_at(monkeypatch, owner, name, call, after=False):
    """Raise Stop at the ``call``-th call of ``owner.name`` (before it runs, or
    right after it returned)."""
    real = getattr(owner, name)
    calls = []

    def killed(*a, **k):
        calls.append(1)
        if len(calls) == call and not after:
            raise Stop
        out = real(*a, **k)
        if len(calls) == call and after:
            raise Stop
        return out

    monkeypatch.setattr(owner, name, killed)
    return calls


def test_checkpoints_write_results_once_then_parts_of_one_chunk(tmp_path,
                                                                monkeypatch):
    saves = kill_at(monkeypatch, cio, "save", 10**9)  # counts only
    kill_at(monkeypatch, rundir, "save_checkpoint", 8)  # stop at the 8th
    with pytest.raises(Stop):
        run(tmp_path / "r")
    assert len(saves) == 1  # results.nc, at the first checkpoint only
    head = cio._load_file(tmp_path / "r" / "results.nc", verify=True)
    assert json.loads(head.attrs["generations_done"]) == [3, 0]
    found = parts.part_paths(tmp_path / "r")
    assert [p.name for p in found] == [f"{i:05d}.nc" for i in range(7)]
    spans = []
    for p in found:
        assert io_utils.verify_checksum(p) is True
        a = cio._xarray().load_dataset(p).attrs
        spans.append((a["point"], a["first_generation"], a["end_generation"]))
    # One chunk each (2 generations; generation 0 comes with a point's first).
    assert spans == [(0, 3, 5), (0, 5, 7), (0, 7, 9), (0, 9, 11), (0, 11, 13),
                     (1, 0, 3), (1, 3, 5)]


KILLS = {
    "head": (cio, "save", 1, False),  # before results.nc is first written
    "head-ck": (rundir, "save_checkpoint", 1, False),  # results.nc, no checkpoint
    "part": (parts, "write_part", 3, False),  # before a part
    "part-ck": (rundir, "save_checkpoint", 4, False),  # between part and checkpoint
    "close-ck": (rundir, "save_checkpoint", 6, False),  # ... closing point 0
    "after-ck": (rundir, "save_checkpoint", 8, True),  # after one of point 1
    "final": (cio, "save", 2, False),  # before the complete results.nc
    "final-ck": (rundir, "remove_checkpoint", 1, False),  # complete, checkpoint left
    "final-parts": (parts, "remove_parts", 2, False),  # complete, parts left (1:
}                                                      # the first results.nc's)
# The default pass kills at the writes whose order matters most; -m slow at all.
FAST = {None: ("head-ck", "part", "part-ck", "close-ck", "final", "final-parts"),
        SUMMARY: ("part-ck",)}
CASES = [
    pytest.param(summary, k, id=f"{'chains' if summary is None else 'summary'}-{k}",
                 marks=() if k in FAST[summary] else pytest.mark.slow)
    for summary in (None, SUMMARY) for k in KILLS
]


@pytest.mark.parametrize(("summary", "kill"), CASES)
def test_a_kill_between_any_two_writes_loses_and_duplicates_nothing(
        tmp_path, monkeypatch, wholes, summary, kill):
    owner, name, call, after = KILLS[kill]
    want = wholes(summary)
    d = tmp_path / "r"
    kill_at(monkeypatch, owner, name, call, after)
    with pytest.raises(Stop):
        run(d, summary)
    monkeypatch.undo()
    if (d / "results.nc").exists():
        seen = cj.load(d)  # every generation that was written, no more
        done = json.loads(seen.attrs["generations_done"])
        for var in want.data_vars:
            if var.startswith("theory__"):
                continue
            for p, n in enumerate(done):
                got = seen[var].isel(sweep=p, generation=slice(0, n)).values
                ref = want[var].isel(sweep=p, generation=slice(0, n)).values
                assert got.tobytes() == ref.tobytes(), (var, p)
        ck = rundir.read_checkpoint(Wording("resume"), d,
                                    json.loads((d / "run.json").read_text()))
        if ck is not None:  # the records hold at least what the checkpoint says
            p, g, _ = ck
            assert all(x == N + 1 for x in done[:p]) and (g == 0 or done[p] > g)
    resumed = cj.resume(d, figures=False)
    assert_same_results(want, resumed.dataset)
    assert_same_results(want, cj.load(d))
    assert not (d / parts.PARTS_DIR).exists()
    assert not (d / rundir.CHECKPOINT_FILE).exists()


def test_a_resumed_run_goes_on_appending_parts(tmp_path, monkeypatch, wholes):
    want = wholes(None)
    d = tmp_path / "r"
    kill_at(monkeypatch, rundir, "save_checkpoint", 4)
    with pytest.raises(Stop):
        run(d)
    monkeypatch.undo()
    before = (d / "results.nc").stat().st_ino
    saves = kill_at(monkeypatch, cio, "save", 10**9)
    kill_at(monkeypatch, rundir, "save_checkpoint", 3)
    with pytest.raises(Stop):
        cj.resume(d, figures=False)
    assert len(saves) == 0 and (d / "results.nc").stat().st_ino == before
    assert len(parts.part_paths(d)) == 5  # 3 before, 2 after the resume
    monkeypatch.undo()
    assert_same_results(want, cj.resume(d, figures=False).dataset)


def cut(d):
    def stop(done, total):
        if done >= N + 1 + 6:
            raise Stop

    with pytest.raises(Stop):
        run(d, progress=stop)
    return parts.part_paths(d)


def test_a_damaged_part_is_refused_and_deleting_it_recomputes(tmp_path, capsys,
                                                              wholes):
    d = tmp_path / "r"
    found = cut(d)
    data = bytearray(found[2].read_bytes())
    data[len(data) // 2] ^= 0xFF
    found[2].write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"load\(\): path must be a run directory "
                       r"whose part files are intact; got parts/00002\.nc.*SHA-256"
                       r".*Delete it and go on with `collapse-jax resume"):
        cj.load(d)
    with pytest.raises(ValueError, match=r"resume\(\): run_dir must be a run "
                       r"directory whose part files are intact.*00002\.nc is "
                       r"refused.*SHA-256.*Delete it and go on with "
                       r"collapse_jax\.resume"):
        cj.resume(d)
    assert cli.main(["resume", str(d), "--no-progress", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "00002.nc" in err and "collapse-jax resume" in err
    assert "Traceback" not in err
    found[2].unlink()  # the advice: a gap, so the run is computed again
    partial = cj.load(d)
    assert json.loads(partial.attrs["generations_done"])[0] == 7  # up to the gap
    assert_same_results(wholes(None), cj.resume(d, figures=False).dataset)


def test_a_part_of_another_run_or_garbage_is_refused(tmp_path):
    d = tmp_path / "r"
    target = cut(d)[1]
    # The same layout with another run's key (as a part copied from elsewhere).
    ds = cio._xarray().load_dataset(target)
    ds.attrs["run_key"] = "0" * 64
    pathlib.Path(io_utils.checksum_path(target)).unlink()
    target.unlink()
    ds.to_netcdf(target, engine="h5netcdf")
    with pytest.raises(ValueError, match=r"part files are intact.*belongs to "
                       r"another run"):
        cj.load(d)
    target.write_bytes(b"not netCDF")
    with pytest.raises(ValueError, match=r"part files are intact.*cannot be read"):
        cj.load(d)


def test_overwrite_and_the_lock_clear_parts(tmp_path):
    d = tmp_path / "r"
    found = cut(d)
    stale = d / parts.PARTS_DIR / ".tmp-abc.nc"
    stale.write_bytes(b"torn")
    (d / parts.PARTS_DIR / "mine.txt").write_text("mine")
    cj.resume(d, figures=False)  # the lock clears temporary files; the end, parts
    assert not stale.exists() and not any(p.exists() for p in found)
    assert (d / parts.PARTS_DIR / "mine.txt").exists()
    cut(tmp_path / "s")
    again = cj.run_experiment("gaussian", overrides=OVER, out=tmp_path / "s",
                              figures=False, overwrite=True)
    assert again.kept == [] and not (tmp_path / "s" / parts.PARTS_DIR).exists()


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_parts_respect_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        found = cut(tmp_path / "r")
    finally:
        os.umask(old)
    for p in found:
        assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask
        assert os.stat(io_utils.checksum_path(p)).st_mode & 0o777 == 0o666 & ~mask
    folder = tmp_path / "r" / parts.PARTS_DIR
    assert os.stat(folder).st_mode & 0o777 == 0o777 & ~mask


def test_a_results_file_saved_on_its_own_ignores_parts(tmp_path):
    d = tmp_path / "r"
    cut(d)
    head = cio._load_file(d / "results.nc", verify=True)
    cio.save(head, d / "copy.nc")
    assert cj.load(d / "copy.nc").attrs["generations_done"] == "[3, 0]"
    assert cj.load(d).attrs["generations_done"] == "[13, 9]"
