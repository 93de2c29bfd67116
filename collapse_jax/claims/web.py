"""Verify rows of the web regime (docs/theory.md §17): WB-1 to WB-5.

The library's chains under ``cj.web`` against :mod:`collapse_jax.theory.web`:
the kept items' synthetic share (WB-1, the regime's ``kept_synthetic_share``
record), the categorical chain's exact squared error and Gini–Simpson index (WB-2;
WB-2a with ``source="all"``, WB-2s under a logistic take-off of the share),
the Gaussian chain's exact mean error and variance (WB-3), the recall that
:func:`~collapse_jax.theory.web.recall_needed` prescribes holding the Gaussian's
error at ``c`` times the all-human error (WB-4) and detection raising the
categorical error (WB-4c; WB-1, WB-2 and WB-4c share one sweep over the recall),
and the diffusion approximation of
a minority's time to loss against the exact two-type Wright–Fisher chain (WB-5,
deterministic; the loss probability itself is row WF-2g). Statistical rows use the
SE over independent chains (docs/theory.md §12.1). Proofs:
proofs/wb-1-effective-share.md to proofs/wb-5-minority.md.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.registry import Claim, Context, Row, mean_se, stat_row
from collapse_jax.regimes._shares import share_values, share_vector
from collapse_jax.status import FailedChainsWarning
from collapse_jax.theory import minority_loss as tml
from collapse_jax.theory import web as tw

__all__ = ["CLAIMS"]

_P_STAR = (0.5, 0.3, 0.2)
_H_STAR = 1.0 - float(np.dot(_P_STAR, _P_STAR))


# ------------------------------------------------------------- categorical ---
_CAT_M, _CAT_S, _CAT_F, _CAT_T = 20, 0.8, 0.1, 40
_CAT_RECALLS = (0.0, 0.5, 0.9)


@functools.lru_cache(maxsize=2)
def _categorical(ctx: Context):
    """One sweep over the recall: ``(||p_T - p*||^2, Gini-Simpson_T, shares)``."""
    sw = cj.sweep(
        cj.categorical(3),
        cj.categorical_params(np.array(_P_STAR)),
        regime=cj.web(_CAT_S, cj.detector(0.5, _CAT_F)),
        over={"recall": list(_CAT_RECALLS)},
        key=ctx.seed + 160,
        num_chains=ctx.chains,
        num_generations=_CAT_T,
        sample_size=_CAT_M,
        dtype=ctx.dtype,
        metrics=["probs", "kept_synthetic_share"],
        record_params=False,
    )
    probs = np.asarray(sw.metrics["probs"][:, :, -1], np.float64)  # (3, C, K)
    sq = ((probs - np.array(_P_STAR)) ** 2).sum(-1)
    gini = 1.0 - (probs**2).sum(-1)
    shares = np.asarray(sw.metrics["kept_synthetic_share"][:, :, 1:], np.float64)
    return sq, gini, shares


def _cat_theory(recall: float) -> float:
    path = tw.web_categorical_sq_error(_P_STAR, _CAT_M, _CAT_T, _CAT_S, recall, _CAT_F)
    return float(path[-1])


def _cat_sizes(recall) -> str:
    return f"(K=3, M={_CAT_M}, s={_CAT_S}, r={recall}, f={_CAT_F}, t={_CAT_T})"


def _wb1(ctx):
    _, _, shares = _categorical(ctx)
    x = shares[1]  # recall 0.5; NaN where a generation keeps nothing
    x = x[~np.isnan(x)]
    r = _CAT_RECALLS[1]
    theory = tw.effective_share(_CAT_S, r, _CAT_F)
    est, se = mean_se(x)
    return stat_row(
        "WB-1",
        f"kept items are synthetic w.p. s(1−r)/(s(1−r) + (1−s)(1−f)) {_cat_sizes(r)}",
        theory,
        est,
        se,
        detail=f"{x.size} chain-generations; kept fraction "
        f"{tw.kept_fraction(_CAT_S, r, _CAT_F):.3f}",
    )


def _wb2(ctx):
    sq, _, _ = _categorical(ctx)
    r = _CAT_RECALLS[1]
    est, se = mean_se(sq[1])
    d_inf, _ = tw.web_categorical_stationary(_P_STAR, _CAT_M, _CAT_S, r, _CAT_F)
    return stat_row(
        "WB-2",
        "categorical web chain: E‖p_t − p*‖² exact "
        f"(stationary νH/(1 − e²(1 − ν))) {_cat_sizes(r)}",
        _cat_theory(r),
        est,
        se,
        detail=f"stationary {d_inf:.5f}; all-human H/M = {_H_STAR / _CAT_M:.5f}, "
        f"replace → H = {_H_STAR:.3f}",
    )


def _wb2g(ctx):
    _, gini, _ = _categorical(ctx)
    r = _CAT_RECALLS[1]
    est, se = mean_se(gini[1])
    return stat_row(
        "WB-2g",
        f"categorical web chain: E Gini–Simpson = H − E‖p_t − p*‖² {_cat_sizes(r)}",
        _H_STAR - _cat_theory(r),
        est,
        se,
    )


def _wb4c(ctx):
    sq, _, _ = _categorical(ctx)
    lo, hi = _CAT_RECALLS[0], _CAT_RECALLS[2]
    (m_hi, se_hi), (m_lo, se_lo) = mean_se(sq[2]), mean_se(sq[0])
    return stat_row(
        "WB-4c",
        "detection raises the categorical stationary error: E‖p_t − p*‖²(r="
        f"{hi}) − (r={lo}) exact {_cat_sizes(f'{lo}→{hi}')}",
        _cat_theory(hi) - _cat_theory(lo),
        m_hi - m_lo,
        math.hypot(se_hi, se_lo),  # independent chains at the two sweep points
        detail=f"error factors {tw.web_error_factor(_CAT_M, _CAT_S, lo, _CAT_F):.3f}"
        f" → {tw.web_error_factor(_CAT_M, _CAT_S, hi, _CAT_F):.3f} × H/M",
    )


_ALL_M, _ALL_S, _ALL_R, _ALL_F, _ALL_T = 10, 0.8, 0.3, 0.1, 20


def _wb2a(ctx):
    res = cj.run_chains(
        cj.categorical(3),
        cj.categorical_params(np.array(_P_STAR)),
        key=ctx.seed + 163,
        num_chains=ctx.chains,
        num_generations=_ALL_T,
        sample_size=_ALL_M,
        regime=cj.web(_ALL_S, cj.detector(_ALL_R, _ALL_F), source="all"),
        dtype=ctx.dtype,
        metrics=["probs"],
        record_params=False,
        record_at=[_ALL_T],
    )
    probs = np.asarray(res.metrics["probs"][:, -1], np.float64)
    est, se = mean_se(((probs - np.array(_P_STAR)) ** 2).sum(-1))
    args = (_P_STAR, _ALL_M, _ALL_T, _ALL_S, _ALL_R, _ALL_F)
    theory = tw.web_categorical_sq_error(*args, source="all")[-1]
    newest = tw.web_categorical_sq_error(*args)[-1]
    return stat_row(
        "WB-2a",
        "categorical web chain, source='all' (synthetic items from a uniformly "
        f"chosen past model): E‖p_t − p*‖² exact, O(t) (K=3, M={_ALL_M}, "
        f"s={_ALL_S}, r={_ALL_R}, f={_ALL_F}, t={_ALL_T})",
        float(theory),
        est,
        se,
        detail=f"source='newest': {newest:.5f}",
    )


# A logistic take-off of the synthetic share (0 -> 1, midpoint 8) under a watermark
# of recall 0.9: the path of WB-2 fit by fit (proofs/wb-2-categorical-web.md part 7).
_SCH_M, _SCH_R, _SCH_T, _SCH_MID, _SCH_STEEP = 20, 0.9, 20, 8.0, 0.6


def _wb2s(ctx):
    schedule = cj.logistic_share(_SCH_MID, _SCH_STEEP)
    res = cj.run_chains(
        cj.categorical(3),
        cj.categorical_params(np.array(_P_STAR)),
        key=ctx.seed + 164,
        num_chains=ctx.chains,
        num_generations=_SCH_T,
        sample_size=_SCH_M,
        regime=cj.web(schedule, cj.watermark(_SCH_R)),
        dtype=ctx.dtype,
        metrics=["probs"],
        record_params=False,
        record_at=[_SCH_T],
    )
    probs = np.asarray(res.metrics["probs"][:, -1], np.float64)
    est, se = mean_se(((probs - np.array(_P_STAR)) ** 2).sum(-1))
    shares = share_values(share_vector("verify", "synthetic_share", schedule), _SCH_T)
    # The theory takes the run's own schedule object (evaluated as in the chain).
    path = tw.web_categorical_sq_error(_P_STAR, _SCH_M, _SCH_T, schedule, _SCH_R)
    bare = tw.web_categorical_sq_error(_P_STAR, _SCH_M, _SCH_T, schedule, 0.0)
    return stat_row(
        "WB-2s",
        "categorical web chain under a logistic take-off of the synthetic share "
        f"(midpoint {_SCH_MID:g}, steepness {_SCH_STEEP}): E‖p_t − p*‖² exact, fit by "
        f"fit (K=3, M={_SCH_M}, watermark r={_SCH_R}, t={_SCH_T})",
        float(path[-1]),
        est,
        se,
        detail=f"s_t {shares[0]:.3f} → {shares[-1]:.3f}; without the watermark "
        f"{bare[-1]:.4f}; H/M = {_H_STAR / _SCH_M:.4f}",
    )


# ---------------------------------------------------------------- Gaussian ---
_G_M, _G_S, _G_R, _G_F, _G_T = 20, 0.6, 0.5, 0.1, 30


@functools.lru_cache(maxsize=2)
def _gaussian(ctx: Context, size, share, recall, fpr, gens, offset):
    """``(mu_T, sigma_T^2, failed)`` over the chains that did not fail.

    A float32 fit on very few kept items can be degenerate (two equal draws: the
    chain fails); such chains (rare: none or one in 65,536 here) are left out and
    counted in the row's detail, not hidden.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FailedChainsWarning)
        res = cj.run_chains(
            cj.gaussian(),
            cj.gaussian_params(0.0, 1.0),
            key=ctx.seed + offset,
            num_chains=ctx.chains,
            num_generations=gens,
            sample_size=size,
            regime=cj.web(share, cj.detector(recall, fpr)),
            dtype=ctx.dtype,
            metrics=["mean", "log_var"],
            record_params=False,
            record_at=[gens],
        )
    mu = np.asarray(res.metrics["mean"][:, -1, 0], np.float64)
    var = np.exp(np.asarray(res.metrics["log_var"][:, -1, 0], np.float64))
    ok = np.isfinite(mu) & np.isfinite(var)
    return mu[ok], var[ok], int(ok.size - ok.sum())


def _failed(count: int) -> str:
    return f"; {count} failed chain(s) left out" if count else ""


def _g_sizes() -> str:
    return f"(M={_G_M}, s={_G_S}, r={_G_R}, f={_G_F}, t={_G_T})"


def _g_theory():
    return tw.web_gaussian_moments(_G_M, _G_T, _G_S, _G_R, _G_F)


def _wb3(ctx):
    mu, _, failed = _gaussian(ctx, _G_M, _G_S, _G_R, _G_F, _G_T, 161)
    err, _ = _g_theory()
    est, se = mean_se(mu**2)
    e_inf, _ = tw.web_gaussian_stationary_moments(_G_M, _G_S, _G_R, _G_F)
    return stat_row(
        "WB-3",
        f"Gaussian web chain: E(μ_t − μ*)² exact {_g_sizes()}",
        float(err[-1]),
        est,
        se,
        detail=f"stationary νσ²/(1 − e² − νe) = {e_inf:.5f}; all-human σ²/M = "
        f"{1 / _G_M:.3f}" + _failed(failed),
    )


def _wb3v(ctx):
    _, var, failed = _gaussian(ctx, _G_M, _G_S, _G_R, _G_F, _G_T, 161)
    _, v = _g_theory()
    est, se = mean_se(var)
    return stat_row(
        "WB-3v",
        f"Gaussian web chain: E σ_t² exact, → σ² + eE_∞ (inflated) {_g_sizes()}",
        float(v[-1]),
        est,
        se,
        detail=_failed(failed).removeprefix("; "),
    )


# ----------------------------------------------------------------- recall ---
# Few human items kept (M B = 0.8 < 1): detection lowers the Gaussian's error here
# (WB-4 part 3). e = 0.17 at the prescribed recall keeps (mu - mu*)^2 light-tailed
# (kurtosis about 4); settings with e near the moment threshold are heavy-tailed and
# their sample means unreliable (proofs/wb-4-detection.md).
_R_FACTOR, _R_M, _R_S, _R_T = 10.0, 20, 0.96, 100


def _wb4(ctx):
    r = tw.recall_needed(_R_FACTOR, _R_M, _R_S, family="gaussian")
    mu, _, failed = _gaussian(ctx, _R_M, _R_S, r, 0.0, _R_T, 162)
    err, _ = tw.web_gaussian_moments(_R_M, _R_T, _R_S, r)
    est, se = mean_se(mu**2)
    return stat_row(
        "WB-4",
        f"the recall r = {r:.4f} that recall_needed gives keeps E(μ − μ*)² at "
        f"{_R_FACTOR:g}σ²/M (M={_R_M}, s={_R_S}, f=0, t={_R_T})",
        float(err[-1]),
        est,
        se,
        detail=f"target {_R_FACTOR / _R_M:.4f}; without a detector "
        f"{tw.web_error_factor(_R_M, _R_S, 0.0, family='gaussian'):.1f}σ²/M"
        + _failed(failed),
    )


# --------------------------------------------------------------- minority ---
_MIN_M, _MIN_SHARES = 100, (0.1, 0.5)


def _wb5(ctx):
    del ctx
    tol = math.log(_MIN_M) / _MIN_M
    worst, ok, parts = 0.0, True, []
    for x in _MIN_SHARES:
        for fn in (tml.minority_mean_time_to_loss, tml.minority_mean_absorption_time):
            exact, approx = fn(x, _MIN_M, exact=True), fn(x, _MIN_M)
            rel = approx / exact - 1.0
            ok &= 0.0 < rel <= tol
            worst = max(worst, rel)
            parts.append(f"{fn.__name__.removeprefix('minority_')}({x}) {exact:.2f}")
    shown = tml.minority_mean_time_to_loss(0.1, _MIN_M)
    return Row(
        "WB-5",
        "a minority's mean time to loss −2Mx log x/(1−x) and absorption time "
        f"(diffusion) within log(M)/M of the exact WF chain (M={_MIN_M}, "
        f"x ∈ {set(_MIN_SHARES)})",
        float(shown),
        float(tml.minority_mean_time_to_loss(0.1, _MIN_M, exact=True)),
        None,
        bool(ok),
        float(worst),
        "exact: " + ", ".join(parts) + f"; tolerance {tol:.4f} (relative)",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "WB-1",
        "web: the kept items' synthetic share is s(1−r)/(s(1−r) + (1−s)(1−f))",
        _wb1,
        proof="wb-1-effective-share.md",
    ),
    Claim(
        "WB-2",
        "web, categorical: exact E‖p_t − p*‖² (stationary νH/(1 − e²(1 − ν)))",
        _wb2,
        proof="wb-2-categorical-web.md",
    ),
    Claim(
        "WB-2g",
        "web, categorical: E Gini–Simpson = H − E‖p_t − p*‖²",
        _wb2g,
        proof="wb-2-categorical-web.md",
    ),
    Claim(
        "WB-2a",
        "web, categorical, source='all': exact E‖p_t − p*‖² (O(t) recursion)",
        _wb2a,
        proof="wb-2-categorical-web.md",
    ),
    Claim(
        "WB-2s",
        "web, categorical, a share schedule (logistic take-off): exact E‖p_t − p*‖²",
        _wb2s,
        proof="wb-2-categorical-web.md",
    ),
    Claim(
        "WB-3",
        "web, Gaussian: exact E(μ_t − μ*)²",
        _wb3,
        proof="wb-3-gaussian-web.md",
    ),
    Claim(
        "WB-3v",
        "web, Gaussian: exact E σ_t² (inflated, not collapsed, in mean)",
        _wb3v,
        proof="wb-3-gaussian-web.md",
    ),
    Claim(
        "WB-4",
        "web, Gaussian: recall_needed's recall holds the error at c × all-human",
        _wb4,
        proof="wb-4-detection.md",
    ),
    Claim(
        "WB-4c",
        "web, categorical: detection raises the stationary squared error (exact)",
        _wb4c,
        proof="wb-4-detection.md",
    ),
    Claim(
        "WB-5",
        "minority: diffusion times to loss within log(M)/M of the exact WF chain",
        _wb5,
        proof="wb-5-minority.md",
    ),
)
