"""One process at a time in a run directory: an exclusive lock on ``RUN_DIR/.lock``.

``run``, ``resume``, ``reproduce`` and a ``plot`` into the run's own figures take the
lock (``fcntl.flock``, non-blocking) before they read or write anything there, and
write who holds it into the file: pid, host, command and start time. A second
process is refused with those details and the fix. The kernel drops a flock when its
process ends, however it ends (SIGKILL included), so the lock of a dead process is
simply taken over; the file itself stays (removing it would let two processes lock
two different files of the same name).

Where ``fcntl`` is missing (Windows) runs are not locked.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import socket
import sys
from typing import Any

from collapse_jax.checks import fail
from collapse_jax.wording import Wording

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["LOCK_FILE", "RunLock", "acquire", "holder"]

LOCK_FILE = ".lock"


class RunLock:
    """A held lock on a run directory; :meth:`release` (or ``with``) lets it go."""

    def __init__(self, path: pathlib.Path, fd: int | None):
        self.path = path
        self._fd = fd

    def release(self) -> None:
        """Unlock and close (idempotent). The holder's details are wiped first."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self._fd is not None else "released"
        return f"RunLock({str(self.path)!r}, {state})"


def holder(directory: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file of ``directory`` says about its holder, or None."""
    try:
        text = (pathlib.Path(directory) / LOCK_FILE).read_text()
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def acquire(w: Wording, arg: str, directory: pathlib.Path, command: str) -> RunLock:
    """Lock ``directory`` (which must exist) for this process, or refuse.

    Args:
      w: the caller's wording (for the message).
      arg: the argument naming the directory (``"out"`` or ``"run_dir"``).
      directory: the run directory.
      command: what this process does there (``"run gaussian"``), for the holder
        details another process reads.

    Raises:
      ValueError: another live process holds the lock (the house message names its
        pid, host, command and start time), or the lock file cannot be opened.
    """
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        fail(w.fn, w.option(arg), "a directory where a lock file can be created",
             str(directory), f"Pick a writable location ({err.strerror}).")
    if fcntl is None:  # pragma: no cover - not POSIX
        os.close(fd)
        return RunLock(path, None)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        info = holder(directory) or {}
        who = (f"pid {info.get('pid', '?')} on host {info.get('host', '?')} "
               f"since {info.get('since', '?')} ({info.get('command', '?')})")
        other = f"{w.option(arg)}" if w.cli else f"{arg}"
        fail(
            w.fn,
            w.option(arg),
            "a run directory that no other process is using",
            str(directory),
            f"It is locked by {who}. Wait until that process ends (its lock goes "
            "with it, even if it crashes or is killed), stop it (e.g. `kill "
            f"{info.get('pid', 'PID')}` on {info.get('host', 'its host')}), or "
            f"choose another {other}.",
        )
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[:8],
    }
    data = json.dumps(info, sort_keys=True).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return RunLock(path, fd)
