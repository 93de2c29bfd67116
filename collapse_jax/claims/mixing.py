"""Verify rows for docs/theory.md §11: accumulation, fixed real sets and fresh data.

LR-3 (Gaussian accumulation: the exact recursion and the π²σ²/(6M) bound), BE-2 (the
stability toy map, deterministic; the finite-sample chain on a fixed real set), AL-3
(fresh-data loop), SE-2 (b) (categorical, fixed real set and fresh data; no real data
tends to H). Plateau rows compare two horizons through per-chain differences
(docs/theory.md §12.1); exact rows use :mod:`collapse_jax.theory.mixing`
(proofs/lr-3-gaussian-accumulation.md, proofs/be-2-stability-toy.md,
proofs/al-3-gaussian-mixing.md, proofs/se-2-categorical-mixing.md).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.registry import Z_PASS, Claim, Context, Row, mean_se, stat_row
from collapse_jax.theory import discrete as td
from collapse_jax.theory import expressivity as thx
from collapse_jax.theory import gaussian as tg
from collapse_jax.theory import mixing as tmx

__all__ = ["CLAIMS"]

_P_STAR = (0.5, 0.3, 0.2)
_H_STAR = 1.0 - float(np.dot(_P_STAR, _P_STAR))


def _run(ctx: Context, family, init, regime, size, gens, offset, metrics):
    return cj.run_chains(
        family,
        init,
        key=ctx.seed + offset,
        num_chains=ctx.chains,
        num_generations=gens,
        sample_size=size,
        regime=regime,
        dtype=ctx.dtype,
        metrics=metrics,
        record_params=False,
    )


@functools.lru_cache(maxsize=4)
def _gauss(ctx: Context, kind: str, size: int, gens: int, offset: int):
    # The regime by its registered name; the options each claim sets.
    options: dict[str, dict[str, Any]] = {"fresh": {"num_real": _AL3_N}}
    if kind == "mix":
        options["mix"] = {"real_data": _be2_real(ctx.dtype)}
    regime = cj.make_regime(kind, **options.get(kind, {}))
    res = _run(
        ctx,
        cj.gaussian(),
        cj.gaussian_params(0.0, 1.0),
        regime,
        size,
        gens,
        offset,
        ["mean", "log_var"],
    )
    mu = res.metrics["mean"][:, :, 0].astype(np.float64)
    var = np.exp(res.metrics["log_var"][:, :, 0].astype(np.float64))
    return mu, var


@functools.lru_cache(maxsize=4)
def _cat(ctx: Context, kind: str, size: int, gens: int, offset: int):
    options = {"mix": {"real_data": _SE2_REAL}, "fresh": {"num_real": _SE2_FRESH_N}}
    regime = cj.make_regime(kind, **options.get(kind, {}))
    res = _run(
        ctx,
        cj.categorical(3),
        cj.categorical_params(np.array(_P_STAR)),
        regime,
        size,
        gens,
        offset,
        ["probs"],
    )
    return res.metrics["probs"].astype(np.float64)


def _plateau(cid, claim, x1, x2, detail) -> Row:
    est, se = mean_se(x2 - x1)
    return stat_row(cid, claim, 0.0, est, se, detail=detail)


# ----------------------------------------------------------------------- LR-3 ---
_LR3_M, _LR3_N = 10, 20


def _lr3(ctx):
    mu, _ = _gauss(ctx, "accumulate", _LR3_M, _LR3_N, 40)
    est, se = mean_se(mu[:, _LR3_N] ** 2)
    return stat_row(
        "LR-3",
        f"accumulate: E(μ_n − μ)² = Σ_t E σ_t²/(M(t+1)²)  (M={_LR3_M}, n={_LR3_N})",
        tmx.accumulate_squared_mean_error(_LR3_M, _LR3_N),
        est,
        se,
    )


def _lr3_var(ctx):
    _, var = _gauss(ctx, "accumulate", _LR3_M, _LR3_N, 40)
    est, se = mean_se(var[:, _LR3_N])
    return stat_row(
        "LR-3v",
        f"accumulate: E σ_n² = Π(1 − 1/((t+1)((t+1)M − 1)))  (M={_LR3_M}, n={_LR3_N})",
        tmx.accumulate_variance(_LR3_M, _LR3_N),
        est,
        se,
        detail=f"limit {tmx.accumulate_variance_limit(_LR3_M):.4f}",
    )


def _lr3_bound(ctx):
    mu, _ = _gauss(ctx, "accumulate", _LR3_M, _LR3_N, 40)
    bound = tmx.accumulate_mean_error_bound(_LR3_M)
    x = mu[:, 1:] ** 2
    est = x.mean(axis=0)
    se = x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
    worst = int(np.argmax((est - bound) / se))
    mu_r, _ = _gauss(ctx, "replace", _LR3_M, _LR3_N, 41)
    rep, rep_se = mean_se(mu_r[:, _LR3_M] ** 2)
    ok = (
        bool(est[worst] <= bound + Z_PASS * se[worst]) and rep - Z_PASS * rep_se > bound
    )
    return Row(
        "LR-3b",
        f"accumulate: E(μ_n − μ)² ≤ π²σ²/(6M) for all n ≤ {_LR3_N}; replace exceeds "
        f"it (M={_LR3_M})",
        bound,
        float(est[worst]),
        float((est[worst] - bound) / se[worst]),
        ok,
        None,
        f"worst n={worst + 1}; replace E(μ_M − μ)² = {rep:.4f} ± {rep_se:.4f} "
        f"(theory {tg.expected_squared_mean_error(_LR3_M, _LR3_M):.4g})",
    )


# ----------------------------------------------------------------------- BE-2 ---
_BE2_N, _BE2_LAM, _BE2_T1, _BE2_T2 = 20, 0.25, 20, 40


@functools.cache
def _be2_real(dtype):
    real = np.random.default_rng(20240724).normal(0.3, 1.2, (_BE2_N, 1))
    return real.astype(dtype)


def _be2_fit(dtype):
    real = _be2_real(dtype)[:, 0].astype(np.float64)
    return real.mean(), real.var(ddof=1)


def _be2_toy(ctx):
    del ctx
    errs, ok_bound, ratios = [], True, []
    for lam in (0.25, 0.45, 2.0, 10.0):
        means, variances = tmx.stability_toy_path(3.0, 5.0, lam, 30)
        ratio = means[-1] / means[-2]
        ratios.append(ratio)
        errs.append(abs(ratio - lam / (1 + lam)))
        w = 1 / (1 + lam)
        m, s = thx.moment_match_mixture(
            [w, 1 - w], [[0.0], [means[-2]]], [[[1.0]], [[variances[-2]]]]
        )
        errs.append(abs(m[0] - means[-1]) + abs(s[0, 0] - variances[-1]))
        if lam < 0.5:
            ok_bound &= ratio <= tmx.stability_bound(lam)
    err = float(max(errs))
    return Row(
        "BE-2",
        "toy map (M = ∞, ε = 0): mean contraction λ/(1+λ), ≤ ρ(λ) = λ/(1−λ) for "
        "λ < 1/2; map = moment match of (p_data + λp_θ)/(1+λ)  "
        "(λ ∈ {0.25, 0.45, 2, 10})",
        tmx.toy_mean_contraction(0.25),
        float(ratios[0]),
        None,
        bool(err <= 1e-12 and ok_bound),
        err,
        f"λ = 0.25 shown; ρ(0.25) = {tmx.stability_bound(0.25):.4f}; "
        f"contractions " + ", ".join(f"{r:.4f}" for r in ratios),
    )


def _be2_err(ctx):
    mu, var = _gauss(ctx, "mix", round(_BE2_LAM * _BE2_N), _BE2_T2, 42)
    m_r, s_r = _be2_fit(ctx.dtype)
    return mu, var, m_r, s_r


def _be2_plateau(ctx):
    mu, var, m_r, s_r = _be2_err(ctx)
    err = (mu - m_r) ** 2 + (var - s_r) ** 2
    return _plateau(
        "BE-2p",
        f"fixed real set (N={_BE2_N}) + λN synthetic, λ={_BE2_LAM}: E‖θ_t − θ*‖² "
        f"plateaus (t = {_BE2_T2} minus t = {_BE2_T1}, per chain)",
        err[:, _BE2_T1],
        err[:, _BE2_T2],
        f"E‖θ−θ*‖² = {err[:, _BE2_T1].mean():.5f} (t={_BE2_T1}), "
        f"{err[:, _BE2_T2].mean():.5f} (t={_BE2_T2}); θ = (μ, σ²)",
    )


def _be2_exact(ctx):
    mu, _, m_r, s_r = _be2_err(ctx)
    size = round(_BE2_LAM * _BE2_N)
    e, v = tmx.fixed_real_moments(
        _BE2_N, size, _BE2_T2, real_mean=m_r, real_variance=s_r
    )
    est, se = mean_se((mu[:, _BE2_T2] - m_r) ** 2)
    return stat_row(
        "BE-2x",
        f"fixed real set + λN synthetic (λ={_BE2_LAM}, N={_BE2_N}): E(μ_t − m_R)² "
        f"from the exact recursion (t={_BE2_T2})",
        e[-1],
        est,
        se,
        detail=f"E σ_t² theory {v[-1]:.4f}; s_R² = {s_r:.4f}",
    )


# ----------------------------------------------------------------------- AL-3 ---
_AL3_N, _AL3_M, _AL3_T1, _AL3_T2 = 10, 10, 30, 60


def _al3(ctx):
    mu, var = _gauss(ctx, "fresh", _AL3_M, _AL3_T2, 43)
    e, v = tmx.fresh_moments(_AL3_N, _AL3_M, _AL3_T2)
    est, se = mean_se(mu[:, _AL3_T2] ** 2)
    known = tmx.fresh_known_variance_stationary_error(_AL3_N, _AL3_M)
    rep = tg.expected_squared_mean_error(_AL3_N + _AL3_M, _AL3_T2)
    return stat_row(
        "AL-3",
        f"fresh data: E(μ_t − μ*)² at its stationary value (N={_AL3_N} real + "
        f"M={_AL3_M} synthetic, fitted variance, t={_AL3_T2})",
        e[-1],
        est,
        se,
        detail=f"E σ_t²: {var[:, _AL3_T2].mean():.4f} vs {v[-1]:.4f}; known-variance "
        f"value {known:.4f}; replace (M={_AL3_N + _AL3_M}) {rep:.3g}",
    )


def _al3_plateau(ctx):
    mu, _ = _gauss(ctx, "fresh", _AL3_M, _AL3_T2, 43)
    err = mu**2
    return _plateau(
        "AL-3p",
        f"fresh data: E(μ_t − μ*)² plateaus (t = {_AL3_T2} minus t = {_AL3_T1}, "
        f"per chain; N={_AL3_N}, M={_AL3_M})",
        err[:, _AL3_T1],
        err[:, _AL3_T2],
        f"{err[:, _AL3_T1].mean():.5f} (t={_AL3_T1}), {err[:, _AL3_T2].mean():.5f} "
        f"(t={_AL3_T2})",
    )


# ----------------------------------------------------------------------- SE-2 ---
_SE2_N, _SE2_FRESH_N, _SE2_FRESH_M, _SE2_T1, _SE2_T2 = 20, 10, 30, 25, 50
_SE2_REAL = np.random.default_rng(7).choice(3, size=_SE2_N, p=_P_STAR).astype(np.int32)
_SE2_P_R = np.bincount(_SE2_REAL, minlength=3) / _SE2_N


def _se2_fixed(ctx):
    p = _cat(ctx, "mix", _SE2_N, _SE2_T2, 44)
    d = ((p - _SE2_P_R) ** 2).sum(axis=2)
    row = _plateau(
        "SE-2",
        f"categorical, fixed real set (N = n_s = {_SE2_N}, K=3): E‖p_t − p_R‖² "
        f"plateaus (t = {_SE2_T2} minus t = {_SE2_T1}) far below H",
        d[:, _SE2_T1],
        d[:, _SE2_T2],
        "",
    )
    want = tmx.categorical_mixing_stationary_sq_error(
        _SE2_P_R, _SE2_N, _SE2_N, regime="fixed"
    )
    level = float(d[:, _SE2_T2].mean())
    detail = (
        f"E‖p_t − p_R‖² = {level:.5f} (stationary theory {want:.5f}), H = {_H_STAR:.3f}"
    )
    return dataclasses.replace(
        row, detail=detail, passed=row.passed and level < _H_STAR / 10
    )


def _se2_fresh(ctx):
    p = _cat(ctx, "fresh", _SE2_FRESH_M, _SE2_T2, 45)
    d = ((p - np.array(_P_STAR)) ** 2).sum(axis=2)
    want = tmx.categorical_mixing_sq_error(
        _P_STAR, _SE2_FRESH_N, _SE2_FRESH_M, _SE2_T2, regime="fresh"
    )
    est, se = mean_se(d[:, _SE2_T2])
    diff, diff_se = mean_se(d[:, _SE2_T2] - d[:, _SE2_T1])
    row = stat_row(
        "SE-2f",
        f"categorical, fresh data (N_0={_SE2_FRESH_N}, N_1={_SE2_FRESH_M}): "
        f"E‖p_t − p*‖² = exact stationary value (t={_SE2_T2}), plateau, ≪ H",
        want[-1],
        est,
        se,
        detail=f"plateau difference {diff:.2e} ± {diff_se:.1e}; H = {_H_STAR:.3f}",
    )
    ok = abs(diff) <= Z_PASS * diff_se and est < _H_STAR / 10
    return dataclasses.replace(row, passed=row.passed and ok)


def _se2_none(ctx):
    m = 5
    p = _cat(ctx, "replace", m, _SE2_T2, 46)
    d = ((p - np.array(_P_STAR)) ** 2).sum(axis=2)
    est, se = mean_se(d[:, _SE2_T2])
    want = _H_STAR - td.expected_gini_simpson(np.array(_P_STAR), m, _SE2_T2)
    return stat_row(
        "SE-2r",
        f"categorical, no real data: E‖p_t − p*‖² → H = 1 − ‖p*‖² (M={m}, t={_SE2_T2})",
        want,
        est,
        se,
        detail=f"H = {_H_STAR:.4f}",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "LR-3",
        "accumulate: mean error recursion",
        _lr3,
        proof="lr-3-gaussian-accumulation.md",
    ),
    Claim(
        "LR-3v",
        "accumulate: variance recursion",
        _lr3_var,
        proof="lr-3-gaussian-accumulation.md",
    ),
    Claim(
        "LR-3b",
        "accumulate: π²σ²/(6M) bound vs replace",
        _lr3_bound,
        proof="lr-3-gaussian-accumulation.md",
    ),
    Claim(
        "BE-2",
        "stability toy map (deterministic)",
        _be2_toy,
        proof="be-2-stability-toy.md",
    ),
    Claim(
        "BE-2p",
        "fixed real set + synthetic: plateau",
        _be2_plateau,
        proof="be-2-stability-toy.md",
    ),
    Claim(
        "BE-2x",
        "fixed real set + synthetic: exact recursion",
        _be2_exact,
        proof="be-2-stability-toy.md",
    ),
    Claim(
        "AL-3",
        "fresh data: stationary mean error",
        _al3,
        proof="al-3-gaussian-mixing.md",
    ),
    Claim(
        "AL-3p",
        "fresh data: plateau",
        _al3_plateau,
        proof="al-3-gaussian-mixing.md",
    ),
    Claim(
        "SE-2",
        "categorical fixed real set: plateau",
        _se2_fixed,
        proof="se-2-categorical-mixing.md",
    ),
    Claim(
        "SE-2f",
        "categorical fresh data: exact stationary error",
        _se2_fresh,
        proof="se-2-categorical-mixing.md",
    ),
    Claim(
        "SE-2r",
        "categorical, no real data: error → H",
        _se2_none,
        proof="se-2-categorical-mixing.md",
    ),
)
