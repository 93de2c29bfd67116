"""Verify rows of the 1-D Gaussian chain: GC-1 to GC-7 (docs/theory.md §3).

The law of the fitted variance, its moments, the log-space expectation (also over
10,000 generations in float32), the mean's random walk, and the equality in law of
the sample-based and sufficient-statistic samplers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

import collapse_jax as cj
from collapse_jax.claims.registry import Z_PASS, Claim, Row, mean_se, stat_row
from collapse_jax.claims.shared import M, N, gauss, log_var
from collapse_jax.theory import gaussian as tg

__all__ = ["CLAIMS"]


def _gc3(ctx):
    n = N
    res = gauss(ctx, M, N)
    est, se = mean_se(log_var(res, n))
    return stat_row(
        "GC-3",
        f"E log σ_n² = Σ g(M_i)  (unbiased, M={M}, n={n})",
        tg.expected_log_variance(M, n),
        est,
        se,
    )


def _gc3_var(ctx):
    n = N
    x = log_var(gauss(ctx, M, N), n)
    c = x.shape[0]
    var = float(x.var(ddof=1))
    m4 = float(np.mean((x - x.mean()) ** 4))
    se = math.sqrt(max(m4 - var**2, 0.0) / c)
    return stat_row(
        "GC-3v",
        f"Var log σ_n² = Σ ψ′((M_i−1)/2)  (M={M}, n={n})",
        tg.variance_log_variance(M, n),
        var,
        se,
    )


def _gc3_mle(ctx):
    n = 20
    res = gauss(ctx, M, N, "mle")
    est, se = mean_se(log_var(res, n))
    return stat_row(
        "GC-3m",
        f"E log σ_n² = Σ g_MLE(M_i)  (MLE, M={M}, n={n})",
        tg.expected_log_variance(M, n, estimator="mle"),
        est,
        se,
    )


def _gc3_long(ctx):
    # The headline: float32-safe log-space chain over 10,000 generations.
    m, n = 10, 10_000
    res = cj.run_chains(
        cj.gaussian(),
        cj.gaussian_params(0.0, 1.0),
        key=ctx.seed + 7,
        num_chains=1024,
        num_generations=n,
        sample_size=m,
        dtype=ctx.dtype,
        metrics=["log_var"],
        record_params=False,
    )
    x = res.metrics["log_var"][:, n, 0].astype(np.float64)
    finite = bool(np.all(np.isfinite(res.metrics["log_var"])))
    est, se = mean_se(x)
    row = stat_row(
        "GC-3L",
        f"E log σ_n² after {n} generations stays finite and "
        f"tracks Σ g(M) ({ctx.dtype}, M={m})",
        tg.expected_log_variance(m, n),
        est,
        se,
        detail=f"all log_var finite: {finite}",
    )
    return dataclasses.replace(row, passed=row.passed and finite)


def _gc2(ctx):
    n = 10
    x = np.exp(log_var(gauss(ctx, M, N), n))
    est, se = mean_se(x)
    return stat_row(
        "GC-2",
        f"E σ_n² = σ²  (unbiased martingale, M={M}, n={n} ≤ M)",
        tg.expected_variance(M, n),
        est,
        se,
    )


def _gc2_mle(ctx):
    n = 10
    x = np.exp(log_var(gauss(ctx, M, N, "mle"), n))
    est, se = mean_se(x)
    return stat_row(
        "GC-2m",
        f"E σ_n² = σ² Π (M−1)/M  (MLE, M={M}, n={n})",
        tg.expected_variance(M, n, estimator="mle"),
        est,
        se,
    )


def _gc1(ctx):
    # KS of (M-1) σ_1²/σ² against chi2(M-1); z is the two-sided normal quantile of
    # the p-value, so |z| <= 5 means p >= 5.7e-7.
    x = (M - 1) * np.exp(log_var(gauss(ctx, M, N), 1))
    res = stats.kstest(x, "chi2", args=(M - 1,))
    z = float(stats.norm.isf(max(res.pvalue, 1e-300) / 2))
    return Row(
        "GC-1",
        f"(M−1)σ_1²/σ² ~ χ²(M−1)  (KS, M={M})",
        float(M - 1),
        float(x.mean()),
        z,
        bool(z <= Z_PASS),
        None,
        f"KS D={res.statistic:.4f}, p={res.pvalue:.3g}",
    )


def _gc5(ctx):
    n = 10
    res = gauss(ctx, M, N)
    x = res.metrics["mean"][:, n, 0].astype(np.float64) ** 2
    est, se = mean_se(x)
    return stat_row(
        "GC-5",
        f"E(μ_n − μ)² = σ² Σ 1/M_i  (M={M}, n={n} ≤ M)",
        tg.expected_squared_mean_error(M, n),
        est,
        se,
    )


def _gc7(ctx):
    # Same law for the sample-based and the sufficient-statistic samplers.
    n = 20
    a = log_var(gauss(ctx, M, N), n)
    b = log_var(gauss(ctx, M, N, sampler="sufficient", offset=1), n)
    ma, sa = mean_se(a)
    mb, sb = mean_se(b)
    return stat_row(
        "GC-7",
        f"sufficient-statistic sampler = sample-based chain (E log σ_n², M={M}, n={n})",
        ma,
        mb,
        math.hypot(sa, sb),
        detail="theory column: sample-based chain",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim("GC-1", "law of the fitted variance", _gc1, proof="gc-1-variance-law.md"),
    Claim("GC-2", "E σ_n² (unbiased)", _gc2, proof="gc-2-variance-moments.md"),
    Claim("GC-2m", "E σ_n² (MLE)", _gc2_mle, proof="gc-2-variance-moments.md"),
    Claim("GC-3", "E log σ_n²", _gc3, proof="gc-3-log-variance.md"),
    Claim("GC-3v", "Var log σ_n²", _gc3_var, proof="gc-3-log-variance.md"),
    Claim("GC-3m", "E log σ_n² (MLE)", _gc3_mle, proof="gc-3-log-variance.md"),
    Claim(
        "GC-3L",
        "10,000 generations in log space",
        _gc3_long,
        quick=False,
        proof="gc-3-log-variance.md",
    ),
    Claim("GC-5", "mean random walk", _gc5, proof="gc-5-mean.md"),
    Claim(
        "GC-7",
        "sufficient-statistic sampler",
        _gc7,
        proof="gc-7-sufficient-statistics.md",
    ),
)
