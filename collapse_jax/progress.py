"""Host-side progress reports for chunked runs (the library itself never prints).

:func:`progress_bar` returns the ``progress(done, total)`` callback that
:func:`~collapse_jax.run_chains` and :func:`~collapse_jax.run_experiment` call after
each chunk of generations: a ``tqdm`` bar on a terminal, and elsewhere (CI, nohup,
batch logs, where a bar would print nothing useful until the end) plain lines at
most every ``interval`` seconds::

    gaussian: point 1/4 (M=100), generation 12,000/200,000 (6 %), 4.1 s elapsed,
    ~60 s left

(one line each; wrapped here).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm.auto import tqdm

__all__ = ["progress_bar", "PLAIN_INTERVAL"]

#: Seconds between plain progress lines off a terminal (a line is also printed at
#: the first report and at the end).
PLAIN_INTERVAL = 10.0


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


class _PlainLines:
    """``update(done, total, note=None)`` printing a plain line now and then."""

    def __init__(self, desc: str, stream: TextIO | None, interval: float):
        self.desc = desc
        self.stream = stream
        self.interval = interval
        self._reset()

    def _reset(self) -> None:
        self.start = None  # (time, done) of the first call of this run
        self.last = -float("inf")

    def __call__(self, done: int, total: int, note: str | None = None) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start = (now, done)
        finished = done >= total
        if finished or now - self.last >= self.interval:
            self._line(now, done, total, note, finished)
            self.last = now
        if finished:
            self._reset()  # a reused callback reports the next run afresh

    def _line(self, now, done, total, note, finished) -> None:
        assert self.start is not None  # set by __call__ before the first line
        t0, done0 = self.start
        elapsed = now - t0
        where = f"generation {done:,}/{total:,}" if note is None else note
        pct = 100 * done // total if total else 100  # 100 % only when done
        text = f"{self.desc}: {where} ({pct} %), {_seconds(elapsed)} elapsed"
        if not finished and done > done0 and elapsed > 0:
            left = elapsed * (total - done) / (done - done0)
            text += f", ~{_seconds(left)} left"
        stream = sys.stderr if self.stream is None else self.stream
        print(text, file=stream, flush=True)


class _Bar:
    """``update(done, total, note=None)`` drawing a tqdm bar (note as postfix)."""

    def __init__(self, desc: str, kwargs: dict[str, Any]):
        self.desc, self.kwargs = desc, kwargs
        self.bar = None

    def __call__(self, done: int, total: int, note: str | None = None) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, initial=done, desc=self.desc, unit="gen", **self.kwargs
            )
        if note is not None:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()
            self.bar = None  # a reused callback starts a new bar for the next run


def progress_bar(
    desc: str = "generations",
    *,
    disable: bool | None = None,
    interval: float = PLAIN_INTERVAL,
    **tqdm_kwargs: Any,
) -> Callable[..., None]:
    """A ``progress(done, total)`` callback for :func:`~collapse_jax.run_chains`.

    Updated once per chunk of generations, on the host, with no callback inside
    the compiled scan; it estimates the time left from the chunks done. On a
    terminal it draws a tqdm bar; elsewhere (a pipe, a log file, CI) it prints a
    plain line at the first call, then at most every ``interval`` seconds, and at
    the end. The callback also takes an optional third argument, a note that
    replaces "generation done/total" in the line (the bar's postfix), e.g. the
    sweep point.

    Args:
      desc: the label.
      disable: ``None`` (default): a bar on a terminal, plain lines elsewhere;
        ``True``: silent; ``False``: always a bar.
      interval: seconds between plain lines (the bar redraws as tqdm does).
      **tqdm_kwargs: passed to ``tqdm`` (e.g. ``file=``, ``leave=``); ``file``
        is also where plain lines go (default stderr).

    Examples:
      >>> import io, collapse_jax as cj
      >>> out = io.StringIO()
      >>> res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
      ...                     num_chains=8, num_generations=6, sample_size=5,
      ...                     chunk_size=2,
      ...                     progress=cj.progress_bar(disable=False, file=out))
      >>> "6/6" in out.getvalue()
      True
      >>> log = io.StringIO()  # not a terminal: plain lines
      >>> res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
      ...                     num_chains=8, num_generations=6, sample_size=5,
      ...                     chunk_size=2, progress=cj.progress_bar("demo", file=log))
      >>> log.getvalue().splitlines()[0].startswith("demo: generation 2/6 (33 %)")
      True
    """
    if disable:
        return lambda done, total, note=None: None
    stream = tqdm_kwargs.get("file", sys.stderr)
    if disable is None and not _is_terminal(stream):
        return _PlainLines(desc, tqdm_kwargs.get("file"), interval)
    return _Bar(desc, tqdm_kwargs)
