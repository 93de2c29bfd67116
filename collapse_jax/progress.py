"""A host-side progress bar for chunked runs (the library itself never prints)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(
    desc: str = "generations", *, disable: bool | None = None, **tqdm_kwargs: Any
) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for :func:`~collapse_jax.run_chains`.

    The bar is updated once per chunk of generations, on the host, with no callback
    inside the compiled scan; it estimates the remaining time from the chunks done.

    Args:
      desc: the bar's label.
      disable: ``None`` (default) hides the bar when stderr is not a terminal;
        ``True``/``False`` force it off/on.
      **tqdm_kwargs: passed to ``tqdm`` (e.g. ``file=``, ``leave=``).

    Examples:
      >>> import io, collapse_jax as cj
      >>> out = io.StringIO()
      >>> res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
      ...                     num_chains=8, num_generations=6, sample_size=5,
      ...                     chunk_size=2,
      ...                     progress=cj.progress_bar(disable=False, file=out))
      >>> "6/6" in out.getvalue()
      True
    """
    if disable is None:
        stream = tqdm_kwargs.get("file", sys.stderr)
        disable = not (hasattr(stream, "isatty") and stream.isatty())
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total, desc=desc, unit="gen", disable=disable, **tqdm_kwargs
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            bar = None  # a reused callback starts a new bar for the next run

    return update
