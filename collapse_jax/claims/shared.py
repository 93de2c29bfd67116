"""Runs and settings that several claim modules share (common random numbers).

Rows that test the same configuration read one cached run: the 1-D Gaussian chain
of ``M = 20, 40`` generations serves GC-1 to GC-7 (:mod:`.gaussian_chain`) and
SH-4, SH-5 (:mod:`.gaussian_collapse`); its 3-D run serves SH-7 to SH-7b. The
caches live until the end of a verify session
(:func:`collapse_jax.claims.registry.clear_caches`).
"""

from __future__ import annotations

import functools

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.registry import Context

__all__ = ["M", "N", "P0", "gauss", "log_var"]

# Gaussian, 1-D, unbiased, M = 20, 40 generations: shared by GC-2/3/5, SH-4/5.
M, N = 20, 40
# The categorical truth of SH-3 and the Wright–Fisher rows.
P0 = (0.1, 0.15, 0.2, 0.25, 0.3)


@functools.lru_cache(maxsize=32)
def gauss(
    ctx: Context,
    size,
    generations: int,
    estimator="unbiased",
    dim=1,
    sampler="samples",
    chains: int | None = None,
    offset: int = 0,
):
    """A Gaussian chain from N(0, I), cached for the rows that share it."""
    size = list(size) if isinstance(size, tuple) else size
    init = cj.gaussian_params(np.zeros(dim), np.eye(dim))
    # Shared runs stay cached until the end of verify: record only what their rows
    # read (SH-7b reads the Cholesky factor of the 3-D run).
    return cj.run_chains(
        cj.gaussian(dim, estimator),
        init,
        key=ctx.seed + offset,
        num_chains=chains or ctx.chains,
        num_generations=generations,
        sample_size=size,
        sampler=sampler,
        dtype=ctx.dtype,
        metrics=["mean", "log_var", "w2_sq", "log_det_cov"],
        record_params=dim > 1,
    )


def log_var(res, n):
    """``log σ_n²`` of every chain (float64)."""
    return res.metrics["log_var"][:, n, 0].astype(np.float64)
