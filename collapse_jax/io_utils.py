"""Small I/O helpers: atomic writes, so an interrupted run never leaves a torn file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_target", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``path``; on success it replaces ``path`` atomically.

    Write to the yielded path inside the ``with`` block. On a clean exit the file is
    fsynced and renamed onto ``path`` (readers see the old file or the new one, never
    a torn one); on an exception (a KeyboardInterrupt included) it is removed and
    ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (temp file, fsync, rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))
