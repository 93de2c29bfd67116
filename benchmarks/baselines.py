"""NumPy baselines for the 1-D Gaussian chain (unbiased estimator, replace regime).

Each function runs ``num_chains`` independent chains for ``num_generations`` refits
to ``sample_size`` draws, starting from the truth N(0, 1), and returns the final
``(mu, log_var)`` per chain as host arrays. They are the same chain as
``cj.run_chains(cj.gaussian(), ...)`` in law, not in bits (different generators):

* :func:`numpy_vectorised_chain` draws the ``(C, M)`` standardised sample of every
  chain at once and refits in log space, as the library's ``sampler="samples"`` does:
  ``mu += sd * mean(z)``, ``log_var += log(var(z, ddof=1))``.
* :func:`numpy_sufficient_chain` draws the fitted statistics directly, as
  ``sampler="sufficient"`` does: ``mu += sd * N(0, 1) / sqrt(M)``,
  ``log_var += log(chi2(M - 1)) - log(M - 1)``.
* :func:`python_loop_chain` is the per-chain, per-generation loop published with the
  papers (``x = rng.normal(mu, sd, M)``; ``mu, sd = x.mean(), x.std(ddof=1)``), in
  float64 and linear scale; it is timed on a few chains only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["numpy_vectorised_chain", "numpy_sufficient_chain", "python_loop_chain"]


def numpy_vectorised_chain(
    num_chains: int,
    num_generations: int,
    sample_size: int,
    seed: int,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Sample-based chain, all chains at once: ``(C, M)`` normals per generation.

    The draws and the chain state are in ``dtype`` (float32 matches the library's
    default); NumPy's ``standard_normal`` has a float32 ziggurat.
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    mu = np.zeros(num_chains, dt)
    log_var = np.zeros(num_chains, dt)
    for _ in range(num_generations):
        z = rng.standard_normal((num_chains, sample_size), dtype=dt)
        sd = np.exp(0.5 * log_var)
        mu += sd * z.mean(axis=1)
        log_var += np.log(z.var(axis=1, ddof=1))
    return mu, log_var


def numpy_sufficient_chain(
    num_chains: int,
    num_generations: int,
    sample_size: int,
    seed: int,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Sufficient-statistic recursion, vectorised over chains; O(1) in M.

    ``Generator.chisquare`` has no float32 variant: it draws in float64 and the
    increment is cast to ``dtype``.
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    mu = np.zeros(num_chains, dt)
    log_var = np.zeros(num_chains, dt)
    inv_sqrt_m = dt.type(1.0 / np.sqrt(sample_size))
    log_den = np.log(sample_size - 1.0)
    for _ in range(num_generations):
        sd = np.exp(0.5 * log_var)
        mu += sd * rng.standard_normal(num_chains, dtype=dt) * inv_sqrt_m
        log_c2 = np.log(rng.chisquare(sample_size - 1, num_chains)) - log_den
        log_var += log_c2.astype(dt)
    return mu, log_var


def python_loop_chain(
    num_chains: int,
    num_generations: int,
    sample_size: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The per-chain Python loop of the published code (float64, linear scale)."""
    rng = np.random.default_rng(seed)
    mu_out = np.empty(num_chains)
    log_var_out = np.empty(num_chains)
    for c in range(num_chains):
        mu, sd = 0.0, 1.0
        for _ in range(num_generations):
            x = rng.normal(mu, sd, sample_size)
            mu, sd = x.mean(), x.std(ddof=1)
        mu_out[c] = mu
        log_var_out[c] = 2.0 * np.log(sd)
    return mu_out, log_var_out
