"""The files of a run directory: which ones collapse_jax writes, clearing, checking.

A run directory holds ``run.json``, ``results.nc`` and ``checkpoint.npz`` (each of
the last two with its SHA-256 record, ``*.sha256``), the lock file ``.lock``
(:mod:`collapse_jax.runlock`), the figures ``figures/<name>.png|.pdf`` named by the
results file's figure specs, and, after a kill, temporary files ``.tmp-*`` of an
interrupted atomic write. Only these are ever deleted: ``--overwrite`` clears them
and leaves any other file where it is (and says which); stale temporary files are
removed whenever a process takes the directory's lock, since no other process can
be writing them then.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile

from collapse_jax.checks import described, fail
from collapse_jax.io_utils import TEMP_PREFIX, checksum_path, verify_checksum
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
]

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
    for sub in (directory, directory / FIGURES_DIR):
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
        from collapse_jax import io as cio

        xr = cio._xarray()
        with xr.open_dataset(results, engine=cio._ENGINE) as ds:
            specs = json.loads(ds.attrs.get("figures", "[]"))
        return [str(s["name"]) for s in specs if isinstance(s, dict) and "name" in s]
    except Exception:  # noqa: BLE001 - a damaged file: its figures are unknown
        return None


def clear_run(directory: pathlib.Path) -> list[str]:
    """Delete what an earlier run wrote in ``directory`` (with the lock held).

    Deleted: run.json, the results file and the checkpoint with their checksum
    records, temporary files, and the figures that the earlier results file names
    (``figures/`` itself when that leaves it empty). Kept: everything else.

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
