"""Streaming results: a run's checkpoints append part files instead of rewriting.

A run directory's ``results.nc`` is written whole once per session (at the first
checkpoint of a fresh run) and at the end. Between the two, each checkpoint writes
only the records computed since the previous one, as a small netCDF file
``RUN_DIR/parts/NNNNN.nc`` (atomic, with its SHA-256 record, like every file of the
run), before the checkpoint itself. A checkpoint then costs time and bytes in
proportion to the chunk, not to the run (``docs/runs.md`` has the measurement).

A part holds, for one sweep point ``point`` and the generations ``first_generation
.. end_generation - 1``, every variable of the records with the ``sweep`` axis
dropped; its attributes name the point, the generations, the point's run
description (``run_config``) and the run it belongs to (``run_key``: the
experiment, configuration, seed and summary setting). Readers of an unfinished run
(:func:`collapse_jax.load`, ``resume``, ``plot``) apply the parts, in the order
they were written, to the records of ``results.nc`` (:func:`consolidate`): they see
every checkpointed generation. A record's bits do not depend on when or how often
it was computed (tests/test_keys.py), so applying a part twice, or a part that
repeats generations a later session computed again, changes nothing: a kill
between a part and its checkpoint neither loses nor duplicates generations.
``generations_done`` counts, per point, only generations reached without a gap.

The complete ``results.nc`` is written from the records in memory at the end,
after which the parts are deleted (a complete results file ignores any left).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from collapse_jax.io_utils import (
    _ENGINE,
    TEMP_PREFIX,
    _xarray,
    atomic_target,
    checksum_path,
)

__all__ = [
    "PARTS_DIR",
    "PART_FORMAT",
    "part_paths",
    "next_index",
    "run_key",
    "write_part",
    "consolidate",
    "remove_parts",
    "is_part_file",
]

#: The folder of the part files, inside a run directory.
PARTS_DIR = "parts"
#: Version of the part-file layout; a part of another version is refused.
PART_FORMAT = 1
_NAME = re.compile(r"^(\d{5,})\.nc$")


def is_part_file(name: str) -> bool:
    """Whether ``name`` is one that collapse_jax writes in ``parts/``: a part, its
    checksum record, or a temporary file of an interrupted write."""
    if name.startswith(TEMP_PREFIX):
        return True
    if name.endswith(".sha256"):
        name = name[: -len(".sha256")]
    return _NAME.match(name) is not None


def part_paths(directory: str | os.PathLike) -> list[pathlib.Path]:
    """The part files of a run directory, in the order they were written."""
    folder = pathlib.Path(directory) / PARTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m is not None:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def next_index(directory: str | os.PathLike) -> int:
    """The number of the next part (one past the highest written)."""
    paths = part_paths(directory)
    return 0 if not paths else int(paths[-1].name.split(".")[0]) + 1


def run_key(experiment: Any, config: Any, seed: Any, summary: Any) -> str:
    """What makes two runs the same run, hashed: from a request (``config`` a
    mapping, ``summary`` a list or None) or a results file's attributes (both as
    the JSON text the file holds)."""
    if not isinstance(config, str):
        config = json.dumps(config, sort_keys=True)
    if not isinstance(summary, str):
        summary = json.dumps(None if summary is None else list(summary))
    text = json.dumps([str(experiment), config, int(seed), summary])
    return hashlib.sha256(text.encode()).hexdigest()


def _key_of(attrs: Mapping[str, Any]) -> str:
    return run_key(attrs["experiment"], attrs["config"], attrs["seed"],
                   attrs.get("summary", "null"))


def write_part(directory: str | os.PathLike, index: int, records, point: int,
               lo: int, hi: int, run_config: Any, key: str) -> pathlib.Path:
    """Write generations ``lo .. hi - 1`` of ``point`` of ``records``
    (:class:`collapse_jax.records.Records`) as part ``index``, atomically with its
    SHA-256 record."""
    xr = _xarray()
    data_vars = {}
    for name, arr in records.arrays.items():
        dims = records.dims[name]
        g = dims.index("generation")
        at = (point,) + (slice(None),) * (g - 1) + (slice(lo, hi),)
        data_vars[name] = (dims[1:], arr[at])
    ds = xr.Dataset(
        data_vars,
        coords={"generation": ("generation", np.arange(lo, hi, dtype=np.int32))},
        attrs={
            "collapse_jax_part": PART_FORMAT,
            "run_key": key,
            "point": int(point),
            "first_generation": int(lo),
            "end_generation": int(hi),
            "run_config": json.dumps(run_config, sort_keys=True),
        },
    )
    folder = pathlib.Path(directory) / PARTS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{index:05d}.nc"
    with atomic_target(path, suffix=".nc", checksum=True) as tmp:
        ds.to_netcdf(tmp, engine=_ENGINE)
    return path


def remove_parts(directory: str | os.PathLike) -> None:
    """Delete the part files, their records and ``parts/`` (when left empty)."""
    folder = pathlib.Path(directory) / PARTS_DIR
    if not folder.is_dir():
        return
    for p in sorted(folder.iterdir()):
        if p.is_file() and is_part_file(p.name):
            p.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass  # someone's own file is in there: left where it is


def consolidate(ds, directory: str | os.PathLike,
                refuse: Callable[[pathlib.Path, str], None],
                verify: Callable[[pathlib.Path], bool | None] | None = None):
    """Apply the part files of ``directory`` to ``ds``, the records of its
    ``results.nc`` (loaded, in memory); a complete file is returned as it is.

    Args:
      ds: the Dataset read from the run's results file.
      directory: the run directory.
      refuse: called with a part's path and what is wrong with it (damaged bytes,
        unreadable, of another run); it raises.
      verify: ``path -> bool | None``, the SHA-256 check
        (:func:`collapse_jax.io_utils.verify_checksum`); None: no check.

    Returns:
      ``ds`` with the parts' records in place and ``generations_done`` and
      ``run_config`` updated.
    """
    if int(ds.attrs.get("complete", 0)) == 1:
        return ds
    paths = part_paths(directory)
    if not paths:
        return ds
    xr = _xarray()
    key = _key_of(ds.attrs)
    done = list(json.loads(ds.attrs["generations_done"]))
    run_config = json.loads(ds.attrs["run_config"])
    spans: list[tuple[int, int, int]] = []
    for path in paths:
        if verify is not None and verify(path) is False:
            refuse(path, "its bytes differ from the SHA-256 recorded when it was "
                   f"written ({pathlib.Path(checksum_path(path)).name})")
        try:
            part = xr.load_dataset(path, engine=_ENGINE)
            fmt = int(part.attrs["collapse_jax_part"])
            p = int(part.attrs["point"])
            lo = int(part.attrs["first_generation"])
            hi = int(part.attrs["end_generation"])
            own = part.attrs["run_key"]
            config_p = json.loads(part.attrs["run_config"])
            if not (0 <= p < len(done) and 0 <= lo < hi <= ds.sizes["generation"]):
                raise ValueError(f"point {p}, generations {lo} to {hi}")
        except FileNotFoundError:
            continue  # deleted by the run's end meanwhile (io.load reads again)
        except (OSError, ValueError, KeyError, TypeError) as err:
            refuse(path, f"it cannot be read ({type(err).__name__}: {err})")
        if fmt != PART_FORMAT or own != key:
            refuse(path, "it belongs to another run" if own != key
                   else f"it is of part format {fmt}, not {PART_FORMAT}")
        for name, var in part.data_vars.items():
            if name not in ds.data_vars or tuple(ds[name].dims[1:]) != var.dims:
                refuse(path, f"its variable {name!r} is not one of the results'")
            target = ds[name].data
            g = ds[name].dims.index("generation")
            target[(p,) + (slice(None),) * (g - 1) + (slice(lo, hi),)] = var.data
        run_config[p] = config_p
        spans.append((p, lo, hi))
    # Generations reached without a gap (a part deleted by hand leaves one).
    for p, lo, hi in sorted(spans):
        if lo <= done[p]:
            done[p] = max(done[p], hi)
    ds.attrs["generations_done"] = json.dumps(done)
    ds.attrs["run_config"] = json.dumps(run_config, sort_keys=True)
    return ds
