"""Per-chain status codes: failures inside jit are values, reported after the run.

A chain whose status turns non-zero freezes (its last good parameters are kept) and
every later generation records the same code, so one bad chain does not sink the
others. :func:`failure_report` turns the recorded codes into a host-side report.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np

import jax.numpy as jnp

__all__ = [
    "Status",
    "ChainFailure",
    "FailedChainsWarning",
    "failure_report",
    "fit_status",
    "mark_failed",
    "warn_failures",
]


class Status(enum.IntEnum):
    """Status codes carried per chain (``int32``) with their messages."""

    OK = 0
    NONFINITE_PARAMS = 1
    DEGENERATE_FIT = 2
    ZERO_TOTAL_WEIGHT = 3
    COUNT_OVERFLOW = 4
    PRECISION_LOSS = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.OK: "ok",
    Status.NONFINITE_PARAMS: (
        "the fitted parameters are not finite (overflow, or a NaN from the fit)"
    ),
    Status.DEGENERATE_FIT: (
        "the fit is degenerate (e.g. a covariance that is not positive definite: "
        "sample_size too small for the dimension, or all draws identical)"
    ),
    Status.ZERO_TOTAL_WEIGHT: "the fit saw zero total weight (no data)",
    Status.COUNT_OVERFLOW: (
        "an integer count reached 2**31 - 1, the int32 limit (a Poisson total "
        "M * rate too large to count); the chain is frozen at its last exact count"
    ),
    Status.PRECISION_LOSS: (
        "a weighted count lost the resolution of the run's dtype (float32 sums of "
        "more than 2**24 fractional weights); run with dtype='float64'"
    ),
}


def fit_status(degenerate, nonfinite):
    """The ``int32`` code of a fit: degenerate first, then non-finite, else OK.

    A degenerate fit (a singular covariance) usually also has non-finite entries;
    it is reported as degenerate, the more specific reason.
    """
    code = jnp.where(
        degenerate,
        Status.DEGENERATE_FIT,
        jnp.where(nonfinite, Status.NONFINITE_PARAMS, Status.OK),
    )
    return code.astype(jnp.int32)


class ChainFailure(NamedTuple):
    """One failed chain: its global id, the first failing generation and why."""

    chain_id: int
    generation: int
    status: Status

    def __str__(self) -> str:
        return (
            f"chain {self.chain_id} failed at generation {self.generation}: "
            f"{self.status.name} ({self.status.message})"
        )


def failure_report(status: np.ndarray, chain_ids: np.ndarray) -> list[ChainFailure]:
    """List the chains whose status became non-zero.

    Args:
      status: ``(num_chains, num_generations + 1) int32`` recorded status codes.
      chain_ids: ``(num_chains,) int`` global chain ids.

    Returns:
      One :class:`ChainFailure` per failed chain, in chain order.
    """
    status = np.asarray(status)
    bad = np.flatnonzero((status != 0).any(axis=1))
    out = []
    for i in bad:
        gen = int(np.argmax(status[i] != 0))
        out.append(ChainFailure(int(chain_ids[i]), gen, Status(int(status[i, gen]))))
    return out


class FailedChainsWarning(UserWarning):
    """Some chains failed inside a run (see :func:`failure_report`).

    Issued once per run, with the count, the first failure and where to find the
    rest; the failed generations are missing (NaN) in the float metrics.
    """


def mark_failed(values: np.ndarray, status: np.ndarray) -> np.ndarray:
    """``values`` with the entries of failed generations set to NaN.

    ``values`` has leading axes those of ``status`` (chains, generations); an entry
    is missing where the status is non-zero, i.e. from the generation a chain
    failed on (it froze at its last good model, whose numbers would otherwise read
    as results). Integer and bool arrays cannot hold NaN and are returned as they
    are: ``status != 0`` is their mask.
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        return values
    bad = np.asarray(status) != 0
    if not bad.any():
        return values
    bad = bad.reshape(bad.shape + (1,) * (values.ndim - bad.ndim))
    return np.where(bad, np.asarray(np.nan, values.dtype), values)


def warn_failures(failures: list[ChainFailure], total: int, where: str,
                  stacklevel: int = 3) -> None:
    """Issue one :class:`FailedChainsWarning` for ``failures`` (if any) of ``total``
    chains; ``where`` says how to list them all (``"res.failures()"``)."""
    if not failures:
        return
    import warnings

    first = failures[0]
    warnings.warn(
        f"{len(failures)} of {total} chains failed inside the run; the first: "
        f"chain {first.chain_id} at generation {first.generation}, "
        f"{first.status.name} ({first.status.message}). Their float metrics are "
        f"NaN from the generation they failed at (integer and bool metrics keep "
        f"the frozen chain's values: mask them with status != 0). {where} lists "
        "every failure.",
        FailedChainsWarning,
        stacklevel=stacklevel,
    )
