"""Small I/O helpers: atomic writes, so an interrupted run never leaves a torn file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator

__all__ = [
    "atomic_target",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_umask",
    "file_sha256",
    "verify_checksum",
    "checksum_path",
    "TEMP_PREFIX",
    "CHECKSUM_SUFFIX",
]

#: Prefix of the temporary files :func:`atomic_target` creates beside its target.
TEMP_PREFIX = ".tmp-"
#: Suffix of a file's checksum record (``results.nc.sha256``).
CHECKSUM_SUFFIX = ".sha256"

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's file-mode creation mask.

    POSIX only lets a process read its umask by setting it; the set-and-restore is
    done under a lock so that no other thread of this process creates a file
    between the two calls with a wrong mask (Linux's ``/proc/self/status`` gives it
    without that window, and is read first).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_target(
    path: str | os.PathLike, suffix: str = "", *, checksum: bool = False
) -> Iterator[str]:
    """A temporary path beside ``path``; on success it replaces ``path`` atomically.

    Write to the yielded path inside the ``with`` block. On a clean exit the file is
    fsynced, given the mode an ordinary write would give it (``0o666`` less the
    umask: ``mkstemp`` creates it ``0o600``, which would keep colleagues out of a
    shared run directory) and renamed onto ``path`` (readers see the old file or
    the new one, never a torn one); on an exception (a KeyboardInterrupt included)
    it is removed and ``path`` is left as it was.

    With ``checksum=True`` the SHA-256 of the new bytes is recorded in
    ``path + ".sha256"`` (:func:`verify_checksum` checks it): first together with
    the sums already recorded, before the rename, then alone after it, so that a
    kill at any moment leaves a record that accepts the file in place.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        if checksum:
            digest = file_sha256(tmp)
            before = _recorded(path) or []
            _write_record(path, [digest] + [s for s in before if s != digest][:2])
        os.replace(tmp, path)
        if checksum:
            _write_record(path, [digest])
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(
    path: str | os.PathLike, data: bytes, *, checksum: bool = False
) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename); with
    ``checksum=True`` record its SHA-256 (see :func:`atomic_target`)."""
    with atomic_target(path, checksum=checksum) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (temp file, fsync, rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB blocks)."""
    with open(path, "rb") as f:
        return _sha256_of(f)


def _sha256_of(f) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def checksum_path(path: str | os.PathLike) -> str:
    """Where the checksum of ``path`` is recorded: ``path + ".sha256"``."""
    return os.fspath(path) + CHECKSUM_SUFFIX


def _recorded(path) -> list[str] | None:
    """The accepted sums of ``path`` (newest first); None: no record; []: damaged."""
    try:
        with open(checksum_path(path), encoding="utf-8") as f:
            data = json.load(f)
        sums = data["sha256"]
        return [str(x) for x in (sums if isinstance(sums, list) else [sums])]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write_record(path, sums: list[str]) -> None:
    record = {"sha256": sums if len(sums) > 1 else sums[0],
              "file": os.path.basename(os.fspath(path))}
    atomic_write_text(checksum_path(path), json.dumps(record, sort_keys=True) + "\n")


def verify_checksum(path: str | os.PathLike) -> bool | None:
    """Whether ``path``'s bytes match their recorded SHA-256.

    Returns:
      True when they match, None when no checksum is recorded (a file written
      without one, or copied away from its record), False when they differ or the
      record is unreadable (the file, or its record, was damaged after writing).
    """
    for _ in range(5):
        # The file is opened before its record is read: a writer renames a new
        # file in only after recording its sum beside the old one's, so the record
        # accepts what was opened unless the file was replaced meanwhile (then the
        # path names another inode, and the check is made again).
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return None
        with f:
            sums = _recorded(path)
            if sums is None:
                return None
            if _sha256_of(f) in sums:
                return True
            inode = os.fstat(f.fileno()).st_ino
        try:
            if os.stat(path).st_ino == inode:
                return False
        except FileNotFoundError:
            return None
    return False


#: The netCDF engine of results files (collapse_jax.io, collapse_jax.parts).
_ENGINE = "h5netcdf"


def _xarray():
    try:
        import xarray
    except ImportError as err:  # pragma: no cover - a core dependency
        raise ImportError(
            "collapse_jax.io needs xarray and h5netcdf: pip install xarray h5netcdf"
        ) from err
    return xarray
