"""Verify rows for sampling bias, tail weighting and the SH-0 generational mixture."""

from __future__ import annotations

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.blocks import run_blocked
from collapse_jax.claims.registry import (
    Claim,
    Context,
    Row,
    exact_row,
    mean_se,
    stat_row,
)
from collapse_jax.theory import bias as tb
from collapse_jax.theory import gaussian as tg

__all__ = ["CLAIMS"]


def _gauss_run(ctx: Context, m, n, offset, **kw):
    return cj.run_chains(
        cj.gaussian(),
        cj.gaussian_params(0.0, 1.0),
        key=ctx.seed + offset,
        num_chains=ctx.chains,
        num_generations=n,
        sample_size=m,
        dtype=ctx.dtype,
        record_params=False,
        **kw,
    )


def _al2(ctx: Context) -> Row:
    lam, m, n = 0.9, 20, 10
    res = _gauss_run(ctx, m, n, 401, sampling=cj.variance_scale(lam))
    est, se = mean_se(res.metrics["log_var"][:, -1, 0])
    theory = tg.expected_log_variance(m, n, sampling_bias=lam)
    return stat_row(
        "AL-2",
        "E log σ_n², draws from N(μ, λσ²)",
        theory,
        est,
        se,
        f"λ={lam}, M={m}, n={n}, {ctx.chains} chains",
    )


def _al2t(ctx: Context) -> Row:
    p0 = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    temp, n = 0.8, 12
    res = cj.run_chains(
        cj.categorical(6),
        cj.categorical_params(p0),
        key=ctx.seed,
        num_chains=8,
        num_generations=n,
        sample_size=None,
        dtype=ctx.dtype,
        sampling=cj.temperature(temp),
        record_params=False,
        metrics=("probs",),
    )
    want = tb.population_chain_probs(p0, n, temperature=temp)
    got = np.asarray(res.metrics["probs"][0], np.float64)
    tol = 1e-12 if ctx.dtype == "float64" else 2e-5
    return exact_row(
        "AL-2t",
        "population chain at temperature T: p_n ∝ p_0^(T^-n)",
        want,
        got,
        tol,
        f"T={temp}, n={n}; error: max over every generation and category",
    )


def _tw1(ctx: Context) -> Row:
    tau, m = 0.2, 20000
    chains = 256 if ctx.quick else 2048
    # In blocks: each chain's fit weighs M = 20,000 draws (about 1 MiB of
    # temporaries per chain in float64).
    log_var = run_blocked(
        lambda res: res.metrics["log_var"][:, 1, 0],
        family=cj.gaussian(),
        init=cj.gaussian_params(0.0, 1.0),
        key=ctx.seed + 402,
        num_chains=chains,
        num_generations=1,
        sample_size=m,
        dtype=ctx.dtype,
        metrics=["log_var"],
        record_params=False,
        curation=cj.tail_weighting(tau),
    )
    v = np.exp(np.asarray(log_var, np.float64))
    est, se = mean_se(v)
    return stat_row(
        "TW-1",
        "tail weighting p^-τ: variance σ²/(1-τ)",
        tb.tail_weighted_variance(1.0, tau),
        est,
        se,
        f"τ={tau}, M={m}, {chains} chains, allowance 2e-3 (O(1/M) bias)",
        allowance=2e-3,
    )


def _sh0(ctx: Context) -> Row:
    m, n = 10, 20
    res = _gauss_run(ctx, m, n, 403, regime=cj.general_mix(1.0, 0.0, 0.0))
    est, se = mean_se(res.metrics["log_var"][:, -1, 0])
    return stat_row(
        "SH-0",
        "general mixture with α = 1 is replace (E log σ_n²)",
        tg.expected_log_variance(m, n),
        est,
        se,
        f"M={m}, n={n}, {ctx.chains} chains",
    )


def _sh0_population(ctx: Context) -> Row:
    g2 = cj.gaussian(2)
    mean = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    worst = 0.0
    for regime in (
        cj.accumulate(),
        cj.mix(0.3),
        cj.fresh(4, real_fraction=0.6),
        cj.retain_original(0.25),
        cj.general_mix(0.5, 0.3, 0.2),
    ):
        res = cj.run_chains(
            g2,
            cj.gaussian_params(mean, cov),
            key=ctx.seed,
            num_chains=8,
            num_generations=20,
            sample_size=None,
            dtype=ctx.dtype,
            regime=regime,
            record_params=False,
        )
        lv = np.asarray(res.metrics["log_var"], np.float64)
        mu = np.asarray(res.metrics["mean"], np.float64)
        worst = max(worst, float(np.max(np.abs(lv - lv[:, :1]))))
        worst = max(worst, float(np.max(np.abs(mu - mean))))
    tol = 1e-12 if ctx.dtype == "float64" else 1e-5
    return exact_row(
        "SH-0p",
        "M = ∞: every regime keeps a well-specified truth",
        0.0,
        worst,
        tol,
        "2-D Gaussian, accumulate/mix/fresh/retain/general_mix, 20 generations; "
        "error: max |Δ mean|, |Δ log var|",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "SH-0",
        "general mixture with α = 1 is replace",
        _sh0,
        proof="sh-0-generational-mixture.md",
    ),
    Claim(
        "SH-0p",
        "population limit keeps the truth in every regime",
        _sh0_population,
        proof="sh-0-generational-mixture.md",
    ),
    Claim("AL-2", "sampling bias λ: E log σ_n²", _al2, proof="al-2-sampling-bias.md"),
    Claim(
        "AL-2t",
        "temperature: exact population chain",
        _al2t,
        proof="al-2-sampling-bias.md",
    ),
    Claim("TW-1", "tail-weighted fit: σ²/(1-τ)", _tw1, proof="al-2-sampling-bias.md"),
)
