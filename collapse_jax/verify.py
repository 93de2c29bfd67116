"""``collapse-jax verify``: every registered claim, checked against simulation.

Each :class:`Claim` runs the library's chains and compares a simulated statistic with
its closed form in :mod:`collapse_jax.theory`. Statistical rows pass when
``|z| <= Z_PASS`` (docs/theory.md §12.1: z = 5, false failure 5.7e-7 a row); exact rows
compare to a stated absolute tolerance; approximations add their stated allowance.
Rows sharing a configuration share one run (common random numbers). Rows whose
chains would not fit verify's memory budget at once run them in blocks of chain ids
and keep only the per-chain values they test (:mod:`collapse_jax.claims.blocks`;
the same values as one call).

The claims are declared by topic under ``collapse_jax/claims/``, one module each,
exporting ``CLAIMS`` (:mod:`collapse_jax.claims.registry` says what a claim is);
:data:`BUILTIN` lists those modules in the order of the table, and a fork's
package adds its own through the entry-point group ``collapse_jax.claims``
(:mod:`collapse_jax.plugins`). Ids are docs/theory.md's claim ids; a letter suffix
marks a second statistic of the same claim (``GC-3m``: the MLE estimator).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Sequence

import jax

from collapse_jax import plugins
from collapse_jax.checks import check_dtype, check_nonnegative_int, fail
from collapse_jax.claims import (
    absorption,
    bayes,
    counting,
    error_sources,
    gaussian_chain,
    gaussian_collapse,
    minority,
    mixing,
    monitoring,
    regimes,
    regression,
    web,
    wright_fisher,
)
from collapse_jax.claims.registry import (
    Z_PASS,
    Claim,
    Context,
    Row,
    clear_caches,
    collect,
    exact_row,
    mean_se,
    stat_row,
)

__all__ = [
    "BUILTIN",
    "Z_PASS",
    "Claim",
    "Context",
    "Row",
    "claims",
    "exact_row",
    "mean_se",
    "run_claims",
    "stat_row",
]

#: The package's claim modules, in the order of verify's table: registering a new
#: module of claims is one entry here (a fork's: one entry point, see above).
BUILTIN = (
    absorption,
    gaussian_collapse,
    wright_fisher,
    gaussian_chain,
    error_sources,
    regression,
    counting,
    mixing,
    regimes,
    bayes,
    minority,
    web,
    monitoring,
)


@functools.cache
def _all_claims() -> tuple[Claim, ...]:
    """The built-in claims, then those of the plugins (entry points), checked.

    A plugin whose claim ids are taken (by the package or an earlier plugin) is
    skipped with a warning; two built-in claims with one id are an error.
    """
    registered = list(collect((m.__name__, m.CLAIMS) for m in BUILTIN))
    taken = {c.id for c in registered}
    for where, found in plugins.objects(plugins.CLAIMS, Claim, ("CLAIMS",)):
        ids = [c.id for c in found]
        clash = sorted({i for i in ids if i in taken or ids.count(i) > 1})
        if clash:
            plugins.warn(where, f"its claim ids {clash} are taken")
            continue
        taken.update(ids)
        registered.extend(found)
    return tuple(registered)


def claims(quick: bool = False) -> tuple[Claim, ...]:
    """The registered claims (the quick subset when ``quick``)."""
    return tuple(c for c in _all_claims() if c.quick or not quick)


def run_claims(
    *,
    quick: bool = False,
    seed: int = 0,
    dtype: str = "float32",
    only: Sequence[str] | None = None,
    callback: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Check every registered claim against simulation.

    Args:
      quick: run the reduced set with 4,096 chains (about a minute on two cores)
        instead of the full set with 65,536.
      seed: the base seed (rows use fixed offsets from it).
      dtype: ``"float32"`` or ``"float64"`` (needs x64).
      only: claim ids to run, at least one (default None: all).
      callback: called with each :class:`Row` as it completes (for streaming).

    Returns:
      The rows in registry order.

    Examples:
      >>> rows = run_claims(quick=True, only=["WF-4"])
      >>> rows[0].id, rows[0].passed
      ('WF-4', True)
    """
    seed = check_nonnegative_int("run_claims", "seed", seed)
    dtype = check_dtype("run_claims", dtype)
    selected = claims(quick)
    if isinstance(only, str):
        only = [only]
    if only is not None:
        known = {c.id for c in _all_claims()}
        unknown = [i for i in only if i not in known]
        if not only:
            fail(
                "run_claims",
                "only",
                "one or more claim ids",
                list(only),
                "Pass ids such as only=['GC-3'], or only=None to run every claim.",
            )
        if unknown:
            fail(
                "run_claims",
                "only",
                f"claim ids from {sorted(known)}",
                unknown,
                "Run `collapse-jax verify --list` to see the ids.",
            )
        selected = tuple(c for c in _all_claims() if c.id in set(only))
    ctx = Context(seed, dtype, quick)
    rows = []
    try:
        for c in selected:
            t0 = time.perf_counter()
            row = dataclasses.replace(c.check(ctx), seconds=time.perf_counter() - t0)
            rows.append(row)
            # Each XLA:CPU program holds hundreds of memory mappings; a full run
            # compiles enough of them to reach vm.max_map_count without this.
            jax.clear_caches()
            if callback is not None:
                callback(row)
    finally:
        clear_caches(_all_claims())
    return rows


def format_table(rows: Iterable[Row]) -> str:
    """A plain-text table of rows."""
    lines = [
        f"{'id':<6} {'pass':<4} {'theory':>11} {'simulated':>11} {'z/err':>9}  claim"
    ]
    for r in rows:
        lines.append(format_row(r))
    return "\n".join(lines)


def format_row(r: Row) -> str:
    """One table line (the ``detail`` on a second, indented line)."""
    score = (
        f"{r.z:+.2f}"
        if r.z is not None
        else (f"{r.error:.1e}" if r.error is not None else "—")
    )
    line = (
        f"{r.id:<6} {'ok' if r.passed else 'FAIL':<4} {r.theory:>11.5g} "
        f"{r.simulated:>11.5g} {score:>9}  {r.claim}"
    )
    note = f"{r.detail}; {r.seconds:.1f}s" if r.detail else f"{r.seconds:.1f}s"
    return line + "\n" + " " * 46 + f"({note})"
