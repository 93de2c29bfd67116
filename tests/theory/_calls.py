"""Counting the package's Python calls: a curve's cost must not grow with N."""

from __future__ import annotations

import pathlib
import sys

import collapse_jax

_PACKAGE = str(pathlib.Path(collapse_jax.__file__).parent)


def python_calls_in_package(fn) -> int:
    """Calls of Python functions defined in collapse_jax while ``fn()`` runs."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(_PACKAGE):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count
