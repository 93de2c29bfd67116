"""JAX's persistent compilation cache, for the command line and for scripts.

A chain program is traced, lowered and compiled by XLA the first time it runs in
a process; the compile is most of the start-up time of a short run (``collapse-jax
verify --quick`` compiles dozens of programs). JAX can keep compiled executables on
disk and load them in the next process instead of compiling again: the
*persistent compilation cache*. :func:`enable_compile_cache` switches it on in a
directory of the user cache, the same root as the trained-weights cache
(:mod:`collapse_jax.neural.cache`): ``$COLLAPSE_JAX_CACHE/xla``, by default
``~/.cache/collapse_jax/xla``.

The command line calls it before every command; ``collapse-jax
--no-compile-cache ...`` or ``COLLAPSE_JAX_COMPILE_CACHE=0`` turn it off, and
``COLLAPSE_JAX_COMPILE_CACHE=/some/dir`` puts it elsewhere. From Python it is
off unless a script calls :func:`enable_compile_cache` (a library should not
write to the user's home directory on import).

What is cached is XLA's compile only: tracing and lowering to StableHLO are
repeated in every process (they are what a warm second run still spends before
its first chain runs). Results do not depend on the cache: a cached executable is
the one the compiler would build, so chains have the same bits with and without
it (the cache key covers the program, the jax and jaxlib versions, the device and
the compile options).

The cache is trusted code: do not point it at a directory that others can write.
"""

from __future__ import annotations

import os
import pathlib

__all__ = [
    "COMPILE_CACHE_ENV",
    "compile_cache_dir",
    "default_compile_cache_dir",
    "enable_compile_cache",
    "disable_compile_cache",
]

#: The environment variable that moves (a path) or turns off (``0``, ``off``,
#: ``false``, ``no``) the command line's compilation cache.
COMPILE_CACHE_ENV = "COLLAPSE_JAX_COMPILE_CACHE"
_OFF = ("0", "off", "false", "no", "none")
#: Programs that compile faster than this are not worth a disk entry. JAX's
#: default (1 s) leaves out most chain programs, which compile in 0.1 to 1 s on
#: a CPU but are run dozens at a time (measured: ``verify --quick``).
MIN_COMPILE_SECONDS = 0.0


def default_compile_cache_dir() -> pathlib.Path:
    """``$COLLAPSE_JAX_CACHE/xla`` (default ``~/.cache/collapse_jax/xla``)."""
    # The root the trained-weights cache uses, so one variable moves both.
    from collapse_jax.neural.cache import cache_dir

    return cache_dir() / "xla"


def compile_cache_dir() -> pathlib.Path | None:
    """The directory JAX's persistent compilation cache uses now (None: off)."""
    import jax

    path = jax.config.values.get("jax_compilation_cache_dir")
    return None if not path else pathlib.Path(path)


def enable_compile_cache(
    path: str | os.PathLike | None = None,
    *,
    min_compile_seconds: float = MIN_COMPILE_SECONDS,
) -> pathlib.Path:
    """Keep compiled chain programs on disk, so the next process loads them.

    Call it before the first run of a script (a program compiled before the call
    is compiled again once, then cached). The command line calls it by itself.

    Args:
      path: the cache directory (created if needed); None for
        :func:`default_compile_cache_dir`.
      min_compile_seconds: programs that compile faster are not stored.

    Returns:
      The cache directory.

    Raises:
      ValueError: ``path`` cannot be created or written, or
        ``min_compile_seconds`` is negative.

    Examples:
      >>> import tempfile, collapse_jax as cj
      >>> path = cj.enable_compile_cache(tempfile.mkdtemp())
      >>> cj.compile_cache_dir() == path
      True
      >>> cj.disable_compile_cache()
    """
    from collapse_jax.checks import fail

    fn = "enable_compile_cache"
    if not isinstance(min_compile_seconds, int | float) or isinstance(
        min_compile_seconds, bool
    ) or not min_compile_seconds >= 0:
        fail(fn, "min_compile_seconds", "seconds >= 0", min_compile_seconds,
             "Pass e.g. min_compile_seconds=0.0 to store every program.")
    if path is not None and not isinstance(path, str | os.PathLike):
        fail(fn, "path", "None or a directory path", type(path).__name__,
             "Pass e.g. path='~/.cache/collapse_jax/xla'.", error=TypeError)
    directory = (default_compile_cache_dir() if path is None
                 else pathlib.Path(path).expanduser())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        fail(fn, "path", "a directory that can be created and written",
             str(directory), f"Pick a writable directory or pass "
             f"{COMPILE_CACHE_ENV}=0 to run without the cache ({err.strerror}).")
    _configure(str(directory.resolve()), float(min_compile_seconds))
    return directory.resolve()


def disable_compile_cache() -> None:
    """Stop using the persistent compilation cache in this process."""
    _configure(None, None)


def _configure(path: str | None, min_seconds: float | None) -> None:
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    if jax.config.values.get("jax_compilation_cache_dir") != path:
        # JAX opens its cache once per process, at the first compile: a cache
        # already opened in another directory (or none) is closed so the next
        # compile opens this one.
        cc.reset_cache()
    jax.config.update("jax_compilation_cache_dir", path)
    if min_seconds is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_seconds)
        # Every executable, however small (0 would let JAX pick a size floor).
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def cli_setup(enabled: bool) -> pathlib.Path | None:
    """What the command line does before a command: the cache in
    ``$COLLAPSE_JAX_COMPILE_CACHE`` (a path, or ``0``/``off`` for none) or the
    default directory, unless ``--no-compile-cache``. An unusable directory only
    costs the cache (a warning on stderr), never the command."""
    import sys

    env = os.environ.get(COMPILE_CACHE_ENV)
    if not enabled or (env is not None and env.strip().lower() in _OFF):
        return None
    try:
        return enable_compile_cache(env.strip() if env and env.strip() else None)
    except (ValueError, TypeError) as err:
        print(f"collapse-jax: running without the compilation cache: {err}",
              file=sys.stderr)
        return None
