"""What a verify claim is, and the rows it returns: the leaf every claim module imports.

A claim is declared in ONE module that exports ``CLAIMS``, a tuple of :class:`Claim`:
its row id (docs/theory.md's claim id, a letter suffix for a second statistic of the
same claim, ``GC-3m``), a one-line statement, the proof file under ``proofs/``, the
check (``check(ctx) -> Row``, built with :func:`stat_row`, :func:`exact_row` or
:class:`Row` itself) and whether the quick run includes it. It is registered with
one line: the module's name in :data:`collapse_jax.verify.BUILTIN` for the
package's own claims, or an entry point of the group ``collapse_jax.claims`` for a
fork's (:mod:`collapse_jax.plugins`)::

    [project.entry-points."collapse_jax.claims"]
    my_claims = "my_fork.claims"

Statistical rows pass when ``|z| <= Z_PASS`` (docs/theory.md §12.1: z = 5, false
failure 5.7e-7 a row); exact rows compare to a stated absolute tolerance;
approximations add their stated allowance.

This module imports nothing of the package (claim modules import it, and
:mod:`collapse_jax.verify` imports the claim modules: no import circle).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "Z_PASS",
    "Claim",
    "Context",
    "Row",
    "clear_caches",
    "collect",
    "exact_row",
    "mean_se",
    "stat_row",
]

Z_PASS = 5.0


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the verify table (the JSON object of ``--json``)."""

    id: str
    claim: str
    theory: float
    simulated: float
    z: float | None  # z-score, or None for exact/deterministic rows (see `error`)
    passed: bool
    error: float | None = None  # absolute error of exact rows
    detail: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for k in ("theory", "simulated", "z", "error"):
            if out[k] is not None:
                out[k] = float(out[k])
        return out


@dataclasses.dataclass(frozen=True)
class Context:
    """Settings of one verify session."""

    seed: int
    dtype: str
    quick: bool

    @property
    def chains(self) -> int:
        return 4096 if self.quick else 65536


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim: its id, statement, and the function that checks it.

    Attributes:
      id: the row id, e.g. ``"GC-3"`` (unique across the registry).
      claim: a short statement for ``collapse-jax verify --list``.
      check: ``check(ctx: Context) -> Row``; the row's own ``claim`` text is the
        full statement with its sizes.
      quick: whether ``verify --quick`` runs it (False: only the full run).
      proof: the proof's file name under ``proofs/`` (``"gc-3-log-variance.md"``),
        or empty where the statement has none of its own.
    """

    id: str
    claim: str
    check: Callable[[Context], Row]
    quick: bool = True
    proof: str = ""


def stat_row(cid, claim, theory, est, se, detail="", allowance=0.0) -> Row:
    """A statistical row: passes when ``|est - theory| <= Z_PASS * se + allowance``."""
    z = (est - theory) / se if se > 0 else (0.0 if est == theory else math.inf)
    passed = bool(abs(est - theory) <= Z_PASS * se + allowance)
    return Row(cid, claim, float(theory), float(est), float(z), passed, None, detail)


def exact_row(cid, claim, theory, value, tol, detail="") -> Row:
    """An exact row: passes when the largest absolute error is at most ``tol``."""
    err = float(np.max(np.abs(np.asarray(value) - np.asarray(theory))))
    return Row(
        cid,
        claim,
        float(np.ravel(theory)[0]),
        float(np.ravel(value)[0]),
        None,
        bool(err <= tol),
        err,
        detail,
    )


def mean_se(x) -> tuple[float, float]:
    """The mean of independent values and its standard error (float64)."""
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.shape[0]))


def collect(sources: Iterable[tuple[str, Iterable[Any]]]) -> tuple[Claim, ...]:
    """The claims of ``(where, claims)`` pairs, in order, checked.

    Args:
      sources: ``where`` names the module or plugin (for the error messages);
        ``claims`` is its ``CLAIMS``.

    Raises:
      TypeError: an entry is not a :class:`Claim`.
      RuntimeError: two claims share an id (a row would be run twice under one id).
    """
    out: list[Claim] = []
    seen: dict[str, str] = {}
    for where, claims in sources:
        for c in claims:
            if not isinstance(c, Claim):
                raise TypeError(
                    f"{where}: CLAIMS must hold Claim objects; got "
                    f"{type(c).__name__} {c!r}. Build each with "
                    "collapse_jax.claims.registry.Claim(id, statement, check)."
                )
            if c.id in seen:
                raise RuntimeError(
                    f"duplicate claim ids in the verify registry: {[c.id]} "
                    f"({seen[c.id]} and {where})"
                )
            seen[c.id] = where
            out.append(c)
    return tuple(out)


def clear_caches(claims: Iterable[Claim]) -> None:
    """Drop the shared runs the claims' modules cache (their ``functools`` caches).

    Claims that share a configuration share one cached run (common random
    numbers); the caches live until the end of a verify session.
    """
    for name in dict.fromkeys(getattr(c.check, "__module__", None) for c in claims):
        module = sys.modules.get(name) if name else None
        for value in vars(module).values() if module is not None else ():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
