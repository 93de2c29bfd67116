"""The files of a run directory: which ones collapse_jax writes, clearing, checking.

A run directory holds ``run.json``, ``results.nc`` and ``checkpoint.npz`` (each of
the last two with its SHA-256 record, ``*.sha256``), while a run is unfinished the
part files of its checkpoints ``parts/NNNNN.nc`` with their records
(:mod:`collapse_jax.parts`), the lock file ``.lock``
(:mod:`collapse_jax.runlock`), the figures ``figures/<name>.png|.pdf`` named by the
results file's figure specs, and, after a kill, temporary files ``.tmp-*`` of an
interrupted atomic write. Only these are ever deleted: ``--overwrite`` clears them
and leaves any other file where it is (and says which); stale temporary files are
removed whenever a process takes the directory's lock, since no other process can
be writing them then.

The checkpoint and the results file are read here too: each is checked against its
SHA-256 record first, and a damaged or unreadable one is refused with the house
message naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import io as _stdio
import json
import os
import pathlib
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

import jax

from collapse_jax import io as cio
from collapse_jax import parts
from collapse_jax.checks import described, fail
from collapse_jax.io_utils import (
    TEMP_PREFIX,
    atomic_write_bytes,
    checksum_path,
    verify_checksum,
)
from collapse_jax.runlock import LOCK_FILE
from collapse_jax.wording import Wording

__all__ = [
    "RUN_FILE",
    "RESULTS_FILE",
    "CHECKPOINT_FILE",
    "FIGURES_DIR",
    "make_directory",
    "clean_temporary",
    "clear_run",
    "check_intact",
    "save_checkpoint",
    "read_checkpoint",
    "remove_checkpoint",
    "restore_state",
    "load_results",
]

#: Version of the run-directory layout (run.json, checkpoint.npz).
RUN_FORMAT = 1
RUN_FILE = "run.json"
RESULTS_FILE = "results.nc"
CHECKPOINT_FILE = "checkpoint.npz"
FIGURES_DIR = "figures"
_PROBE_PREFIX = ".probe-"
_TEMP_PREFIXES = (TEMP_PREFIX, _PROBE_PREFIX)


def make_directory(w: Wording, arg: str, out) -> pathlib.Path:
    """``out`` as a path, created if needed; an empty or unwritable one is refused."""
    if not isinstance(out, str | os.PathLike):
        fail(w.fn, w.option(arg), "a directory path", type(out).__name__,
             f"Pass e.g. {w.option_value(arg, 'runs/my-run')}.", error=TypeError)
    if not os.fspath(out).strip():
        # pathlib.Path("") is ".": an empty value would write into the current
        # directory, which nobody asks for by leaving the value out.
        fail(w.fn, w.option(arg), "a non-empty directory path", os.fspath(out),
             f"Pass e.g. {w.option_value(arg, 'runs/my-run')} (or "
             f"{w.option_value(arg, '.')} for the current directory), or leave it "
             "out for runs/<name>.")
    path = pathlib.Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(w.fn, w.option(arg), "a directory that can be created and written",
             str(path), f"Pick a writable location ({err.strerror}).")
    return path


def check_writable(w: Wording, arg: str, path: pathlib.Path) -> None:
    """A real write, not os.access: root and read-only mounts make it lie."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        fail(w.fn, w.option(arg), "a writable directory", str(path),
             f"Pick a directory you can write to ({err.strerror}).")


def clean_temporary(directory: pathlib.Path) -> list[str]:
    """Remove the temporary files interrupted writes left (call with the lock held).

    Returns:
      The names removed.
    """
    removed = []
    for sub in (directory, directory / FIGURES_DIR, directory / parts.PARTS_DIR):
        if not sub.is_dir():
            continue
        for p in sub.iterdir():
            if p.is_file() and p.name.startswith(_TEMP_PREFIXES):
                try:
                    p.unlink()
                except FileNotFoundError:
                    continue
                removed.append(str(p.relative_to(directory)))
    return sorted(removed)


def _figure_names(results: pathlib.Path) -> list[str] | None:
    """The figure names a results file lists (attribute ``figures``), or None."""
    if not results.is_file():
        return []
    try:
        xr = cio._xarray()
        with xr.open_dataset(results, engine=cio._ENGINE) as ds:
            specs = json.loads(ds.attrs.get("figures", "[]"))
        return [str(s["name"]) for s in specs if isinstance(s, dict) and "name" in s]
    except Exception:  # noqa: BLE001 - a damaged file: its figures are unknown
        return None


def clear_run(directory: pathlib.Path) -> list[str]:
    """Delete what an earlier run wrote in ``directory`` (with the lock held).

    Deleted: run.json, the results file and the checkpoint with their checksum
    records, the part files (``parts/``), temporary files, and the figures that
    the earlier results file names (``figures/`` itself when that leaves it
    empty). Kept: everything else.

    Returns:
      The paths (relative to ``directory``) of the files kept: files collapse_jax
      did not write, and figures it cannot attribute when the earlier results file
      is unreadable.
    """
    names = _figure_names(directory / RESULTS_FILE)
    ours = {RUN_FILE, LOCK_FILE}
    for f in (RESULTS_FILE, CHECKPOINT_FILE):
        ours |= {f, pathlib.Path(checksum_path(f)).name}
    figures = {f"{n}{ext}" for n in names or () for ext in (".png", ".pdf")}
    clean_temporary(directory)
    kept = []
    for p in sorted(directory.iterdir()):
        if p.name == LOCK_FILE:
            continue
        if p.is_file() and p.name in ours:
            p.unlink()
        elif p.is_dir() and p.name == parts.PARTS_DIR:
            for q in sorted(p.iterdir()):
                if q.is_file() and parts.is_part_file(q.name):
                    q.unlink()
                else:
                    kept.append(str(q.relative_to(directory)))
            if not any(p.iterdir()):
                p.rmdir()
        elif p.is_dir() and p.name == FIGURES_DIR:
            for q in sorted(p.iterdir()):
                if q.is_file() and q.name in figures:
                    q.unlink()
                else:
                    kept.append(str(q.relative_to(directory)))
            if not any(p.iterdir()):
                p.rmdir()
        else:
            kept.append(p.name + ("/" if p.is_dir() else ""))
    return kept


def check_intact(w: Wording, arg: str, path: pathlib.Path, fix: str) -> None:
    """Refuse a file whose bytes differ from its recorded SHA-256 (house message)."""
    if path.is_file() and verify_checksum(path) is False:
        fail(w.fn, w.option(arg),
             f"a run directory whose {path.name} matches the SHA-256 recorded when "
             f"it was written ({pathlib.Path(checksum_path(path)).name})",
             described(f"{str(path)!r}, whose bytes differ (damaged after "
                       "writing)"), fix)


# ------------------------------------------------------ checkpoints and results ---


def _fingerprint(request: Mapping[str, Any]) -> str:
    keep = {k: request[k] for k in ("experiment", "config", "seed", "summary")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def save_checkpoint(directory, request, point: int, done: int, state) -> None:
    """Write the chain state after ``done`` generations of sweep point ``point``
    (atomically, with its SHA-256 record)."""
    leaves = jax.tree.leaves(state)
    arrays = {}
    for i, leaf in enumerate(leaves):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        arrays[f"leaf{i}"] = np.asarray(leaf)
    meta = {
        "run_format": RUN_FORMAT,
        "fingerprint": _fingerprint(request),
        "point": point,
        "done": done,
        "num_leaves": len(leaves),
    }
    buf = _stdio.BytesIO()
    np.savez(buf, meta=np.asarray(json.dumps(meta)), **arrays)
    atomic_write_bytes(directory / CHECKPOINT_FILE, buf.getvalue(), checksum=True)


def remove_checkpoint(directory) -> None:
    """Delete the checkpoint and its record (the run is complete)."""
    (directory / CHECKPOINT_FILE).unlink(missing_ok=True)
    pathlib.Path(checksum_path(directory / CHECKPOINT_FILE)).unlink(missing_ok=True)


def _checkpoint_fix(w: Wording, directory) -> str:
    return (f"Delete {directory / CHECKPOINT_FILE} and go on with "
            f"{w.resume(directory)}: the run then starts again from its beginning "
            "(the same bits; records already in results.nc are recomputed).")


def read_checkpoint(w: Wording, directory, request):
    """``(point, done, leaves)`` of the checkpoint, None if there is none; a
    damaged one, or one of another run, is refused with the fix."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return None
    check_intact(w, "run_dir", path, _checkpoint_fix(w, directory))
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            leaves = [z[f"leaf{i}"] for i in range(meta["num_leaves"])]
    except Exception as err:  # noqa: BLE001 - any damage (zip, pickle, JSON) reads
        fail(w.fn, w.option("run_dir"), "a readable checkpoint.npz", str(path),
             f"The checkpoint is damaged ({type(err).__name__}: {err}). "
             + _checkpoint_fix(w, directory))
    if meta.get("run_format") != RUN_FORMAT or meta.get("fingerprint") != (
        _fingerprint(request)
    ):
        fail(w.fn, w.option("run_dir"), "a checkpoint of this run's configuration",
             str(path), "The checkpoint belongs to another run. "
             + _checkpoint_fix(w, directory))
    return meta["point"], meta["done"], leaves


def load_results(w: Wording, directory):
    """The run's results file with its part files applied (an unfinished run's
    checkpoints: collapse_jax.parts), each checked against its SHA-256; a damaged
    one is refused with the fix."""
    path = directory / RESULTS_FILE
    fix = (f"Its records cannot be rebuilt from the checkpoint (which holds the "
           f"chains' state only): delete {path} and go on with "
           f"{w.resume(directory)}, which recomputes the run (the same bits), or "
           f"start it again with {w.flag('overwrite')}.")
    check_intact(w, "run_dir", path, fix)
    try:
        ds = cio._load_file(path, verify=False)
    except (ValueError, OSError) as err:
        fail(w.fn, w.option("run_dir"), "a readable results.nc", str(path),
             f"The results file is damaged ({err}). {fix}")

    def refuse(part, why):
        fail(w.fn, w.option("run_dir"), "a run directory whose part files are "
             "intact", described(f"parts/{part.name}, which is damaged"),
             f"The part file {part} is refused: {why}. Delete it and go on with "
             f"{w.resume(directory)}: its generations are computed again (the "
             "same bits).")

    return parts.consolidate(ds, directory, refuse, verify_checksum)


def restore_state(template, leaves):
    """The chain state of a checkpoint's leaves, in the layout of ``template``."""
    t_leaves, treedef = jax.tree.flatten(template)
    out = []
    for t, x in zip(t_leaves, leaves, strict=True):
        if jax.dtypes.issubdtype(t.dtype, jax.dtypes.prng_key):
            x = jax.random.wrap_key_data(x, impl=jax.random.key_impl(t))
        elif np.shape(x) != t.shape or np.asarray(x).dtype != t.dtype:
            raise ValueError("checkpoint does not match the run's chain state")
        out.append(x)
    return jax.tree.unflatten(treedef, out)
