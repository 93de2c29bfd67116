"""Verify rows of the Bayesian learners (BL-1 to BL-6): the library's chains with
``learner=`` against :mod:`collapse_jax.theory.bayes`.

Each configuration runs once (rows sharing it read one cached run). The chains
are the contract's: ``cj.gaussian(learner=...)``, ``cj.categorical(K, learner=...,
prior=cj.dirichlet_prior(...))``, ``cj.poisson(learner=..., prior=...)``. Heavy
tails (docs/theory.md BL-1, BL-3) keep the moment rows at small ``n``; the
log-variance rows read a longer run.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

import collapse_jax as cj
from collapse_jax.claims.registry import Z_PASS, Claim, Context, mean_se, stat_row
from collapse_jax.theory import bayes as tb
from collapse_jax.theory import gaussian as tg

__all__ = ["CLAIMS"]

_M, _N = 20, 20  # the Gaussian chains: M points a generation, 20 fits
_NS = 4  # the Gaussian moment rows' generation (light enough tails)
_NIG = dict(mean=0.0, precision=2.0, concentration=5.0, rate=4.0)
_NIG_MU0, _NIG_VAR0, _NIG_M = 3.0, 9.0, 5
_P0, _KM = (0.7, 0.2, 0.1), 8  # categorical truth, M
_Alpha = float | tuple[float, ...]
_ALPHA: _Alpha = 0.5  # Jeffreys
_LAM0, _PM = 0.4, 5  # Poisson truth and M


@functools.lru_cache(maxsize=8)
def _gauss(ctx: Context, learner: str, prior=None, offset=0):
    init, m = cj.gaussian_params(0.0, 1.0), _M
    if prior is not None:
        init, m = cj.gaussian_params(_NIG_MU0, _NIG_VAR0), _NIG_M
    return cj.run_chains(
        cj.gaussian(learner=learner, prior=prior),
        init,
        key=ctx.seed + 150 + offset,
        num_chains=ctx.chains,
        num_generations=_N,
        sample_size=m,
        dtype=ctx.dtype,
        metrics=["log_var", "mean"],
        record_params=False,
    )


def _log_var(res, n):
    return res.metrics["log_var"][:, n, 0].astype(np.float64)


def _mean(res, n):
    return res.metrics["mean"][:, n, 0].astype(np.float64)


def _var_se(x):
    """The sample variance of independent values and its standard error."""
    d = (x - x.mean()) ** 2
    return float(d.mean() * len(x) / (len(x) - 1)), float(
        d.std(ddof=1) / math.sqrt(len(x))
    )


def _worst(cid, claim, cases, detail=""):
    """One row for several ``(label, theory, estimate, se)``: the largest |z|."""
    zs = [(est - th) / se if se > 0 else math.inf for _, th, est, se in cases]
    i = int(np.argmax(np.abs(zs)))
    label, th, est, se = cases[i]
    listed = "; ".join(f"{lb}: {t:.5g} vs {e:.5g}" for lb, t, e, _ in cases)
    row = stat_row(cid, f"{claim} (worst: {label})", th, est, se, detail=listed)
    if detail:
        row = dataclasses.replace(row, detail=f"{listed}; {detail}")
    return row


# --- Gaussian -----------------------------------------------------------------------


def _bl1(ctx):
    lv = _log_var(_gauss(ctx, "posterior_sample"), _N)
    mean, var = tb.gaussian_posterior_sample_log_var_moments(_M, _N)
    est, _ = mean_se(lv)
    return stat_row(
        "BL-1",
        f"posterior draws, Jeffreys: E log σ_n² = log σ_0² (drift 0; M={_M}, n={_N})",
        mean,
        est,
        math.sqrt(var / lv.size),
        detail=f"plug-in (GC-3): {_N * tg.log_variance_factor_mean(_M):.4f}",
    )


def _bl1v(ctx):
    lv = _log_var(_gauss(ctx, "posterior_sample"), _N)
    _, var = tb.gaussian_posterior_sample_log_var_moments(_M, _N)
    est, se = _var_se(lv)
    return stat_row(
        "BL-1v",
        f"posterior draws: Var log σ_n² = 2n ψ'((M−1)/2) (M={_M}, n={_N})",
        var,
        est,
        se,
    )


def _bl1m(ctx):
    res = _gauss(ctx, "posterior_sample")
    cases = []
    for n in (1, _NS):
        ev, ed = tb.gaussian_posterior_sample_moments(1.0, _M, n)
        cases.append((f"E σ_{n}²", ev, *mean_se(np.exp(_log_var(res, n)))))
        cases.append((f"E μ_{n}²", ed, *mean_se(_mean(res, n) ** 2)))
    return _worst(
        "BL-1m",
        f"posterior draws: E σ_n² = ((M−1)/(M−3))^n, E μ_n² exact (M={_M})",
        cases,
    )


def _bl2(ctx):
    lv = _log_var(_gauss(ctx, "map", offset=1), _N)
    mean, var = tb.gaussian_map_log_var_moments(_M, _N)
    est, _ = mean_se(lv)
    return stat_row(
        "BL-2",
        f"MAP (S/(M+2)): E log σ_n² = n[ψ((M−1)/2) + log(2/(M+2))] (M={_M}, n={_N})",
        mean,
        est,
        math.sqrt(var / lv.size),
    )


def _bl2v(ctx):
    lv = _log_var(_gauss(ctx, "map", offset=1), _N)
    _, var = tb.gaussian_map_log_var_moments(_M, _N)
    est, se = _var_se(lv)
    return stat_row(
        "BL-2v", f"MAP: Var log σ_n² = n ψ'((M−1)/2) (M={_M}, n={_N})", var, est, se
    )


def _bl3(ctx):
    res = _gauss(ctx, "posterior_predictive", offset=2)
    cases = []
    for n in (1, 2):
        ev, ed = tb.gaussian_predictive_moments(1.0, _M, n)
        cases.append((f"E v_{n}", ev, *mean_se(np.exp(_log_var(res, n)))))
        cases.append((f"E μ_{n}²", ed, *mean_se(_mean(res, n) ** 2)))
    return _worst(
        "BL-3",
        f"predictive (Student-t): E v_n = σ_0² ((1+1/M)(M−1)/(M−3))^n, E μ_n² (M={_M})",
        cases,
    )


def _bl3b(ctx):
    res = _gauss(ctx, "posterior_predictive", offset=2)
    exact = tb.gaussian_predictive_log_var_bound(1.0, _M, 1)
    est, se = mean_se(_log_var(res, 1))
    row = stat_row(
        "BL-3b",
        f"predictive: E log v_1 exact; E log v_n below the Jensen bound (M={_M}, "
        f"n={_N})",
        exact,
        est,
        se,
    )
    bound = tb.gaussian_predictive_log_var_bound(1.0, _M, _N)
    late, late_se = mean_se(_log_var(res, _N))
    below = bool(late <= bound + Z_PASS * late_se)
    return dataclasses.replace(
        row,
        passed=row.passed and below,
        detail=f"n={_N}: {late:.4f} ± {late_se:.4f} vs bound {bound:.4f}; drift "
        f"{(late - est) / (_N - 1):.4f} per generation (no closed form; ≈ 2/M)",
    )


def _nig_prior():
    return cj.normal_inverse_gamma(**_NIG)


def _bl4(ctx, which):
    res = _gauss(ctx, "posterior_sample", _nig_prior(), offset=3)
    kw = dict(
        mean_offset=_NIG_MU0 - _NIG["mean"],
        precision=_NIG["precision"],
        concentration=_NIG["concentration"],
        rate=_NIG["rate"],
    )
    cases = []
    for n in (1, 3, _N):
        ev, ed = tb.gaussian_posterior_sample_moments(_NIG_VAR0, _NIG_M, n, **kw)
        if which == "var":
            cases.append((f"E σ_{n}²", ev, *mean_se(np.exp(_log_var(res, n)))))
        else:
            got = (_mean(res, n) - _NIG["mean"]) ** 2
            cases.append((f"E (μ_{n} − m_0)²", ed, *mean_se(got)))
    a0, b0 = _NIG["concentration"], _NIG["rate"]
    limit = b0 / (a0 - 1) / (1 if which == "var" else _NIG["precision"])
    name = "E σ_n²" if which == "var" else "E (μ_n − m_0)²"
    return _worst(
        "BL-4" if which == "var" else "BL-4m",
        f"NIG prior, posterior draws (Gibbs): {name} by the affine recursion, → the "
        f"prior's (M={_NIG_M})",
        cases,
        detail=f"the prior's value {limit:.4g}",
    )


# --- Categorical --------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cat(ctx: Context, learner: str, probs=_P0, alpha: _Alpha = _ALPHA, m=_KM,
         offset=0):
    return cj.run_chains(
        cj.categorical(len(probs), learner=learner, prior=cj.dirichlet_prior(alpha)),
        cj.categorical_params(np.array(probs)),
        key=ctx.seed + 160 + offset,
        num_chains=ctx.chains,
        num_generations=6,
        sample_size=m,
        dtype=ctx.dtype,
        metrics=["probs"],
        record_params=False,
    )


def _bl5(ctx, cid, learner, which, alpha: _Alpha = _ALPHA, offset=0):
    """Means and/or E Σp² at n = 2, 6 against the exact recursions; no loss."""
    res = _cat(ctx, learner, alpha=alpha, offset=offset)
    probs = res.metrics["probs"].astype(np.float64)
    cases = []
    for n in (2, 6):
        p = probs[:, n]
        if which in ("mean", "both"):
            th = tb.categorical_mean(_P0, alpha, _KM, n, learner)
            for j in range(len(_P0)):
                cases.append((f"E p_{n},{j}", th[j], *mean_se(p[:, j])))
        if which in ("second", "both"):
            th = tb.categorical_expected_homozygosity(_P0, alpha, _KM, n, learner)
            cases.append((f"E Σp_{n}²", th, *mean_se((p**2).sum(1))))
    lost = int(np.sum(probs[:, 1:].min(axis=2) <= 0))
    what = {"mean": "E p_n", "second": "E Σp_n²", "both": "E p_n and E Σp_n²"}[which]
    row = _worst(
        cid,
        f"categorical {learner}, Dir({alpha}): {what} by the exact recursion; no "
        f"category lost (K={len(_P0)}, M={_KM})",
        cases,
        detail=f"chains with a category at 0: {lost}",
    )
    return dataclasses.replace(row, passed=row.passed and lost == 0)


def _bl5a(ctx):
    p0, m = 0.3, 5
    res = _cat(ctx, "map", probs=(p0, 1 - p0), m=m, offset=3)
    probs = res.metrics["probs"]
    cases = []
    for n in (1, 3, 6):
        th = tb.categorical_map_absorption_probability(p0, _ALPHA, m, n)
        frac = float(np.mean(probs[:, n].min(axis=1) <= 0))
        cases.append((f"n={n}", th, frac, math.sqrt(th * (1 - th) / probs.shape[0])))
    sticky = bool(np.all(np.diff(probs.min(axis=2) <= 0, axis=1) >= 0))
    row = _worst(
        "BL-5a",
        f"categorical MAP, Dir(1/2): P(a category lost by n), exact two-category "
        f"chain; lost for ever (M={m})",
        cases,
        detail=f"lost categories stay lost: {sticky}",
    )
    return dataclasses.replace(row, passed=row.passed and sticky)


# --- Poisson ------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _pois(ctx: Context, learner: str, prior=None, offset=0):
    return cj.run_chains(
        cj.poisson(learner=learner, prior=prior),
        cj.poisson_params(_LAM0),
        key=ctx.seed + 170 + offset,
        num_chains=ctx.chains,
        num_generations=10,
        sample_size=_PM,
        dtype=ctx.dtype,
        metrics=["rate"],
        record_params=False,
    )


def _bl6(ctx, cid, learner, which, a=0.5, b=0.0, offset=0):
    """E λ_n or Var λ_n at n = 1, 10 against the exact recursions; no absorption."""
    prior = None if (a, b) == (0.5, 0.0) else cj.gamma_prior(a, b)
    rate = _pois(ctx, learner, prior, offset).metrics["rate"].astype(np.float64)
    cases = []
    for n in (1, 10):
        mean, var = tb.poisson_moments(_LAM0, _PM, n, learner, concentration=a, rate=b)
        if which == "mean":
            cases.append((f"E λ_{n}", mean, *mean_se(rate[:, n])))
        else:
            cases.append((f"Var λ_{n}", var, *_var_se(rate[:, n])))
    zero = int(np.sum(rate[:, 1:] <= 0))
    what = "E λ_n" if which == "mean" else "Var λ_n"
    limit = f", → {a / b if learner != 'map' else (a - 1) / b:.3g}" if b else ""
    row = _worst(
        cid,
        f"Poisson {learner}, Gamma({a}, {b}): {what} by the exact recursion{limit}; "
        f"never absorbed (λ_0={_LAM0}, M={_PM})",
        cases,
        detail=f"chains at rate 0: {zero}",
    )
    return dataclasses.replace(row, passed=row.passed and zero == 0)


def _bl6a(ctx):
    rate = _pois(ctx, "map", offset=3).metrics["rate"]
    cases = []
    for n in (1, 2, 10):
        th = tb.poisson_map_absorption_probability(_LAM0, _PM, n)
        frac = float(np.mean(rate[:, n] <= 0))
        cases.append((f"n={n}", th, frac, math.sqrt(th * (1 - th) / rate.shape[0])))
    sticky = bool(np.all(np.diff(rate <= 0, axis=1) >= 0))
    row = _worst(
        "BL-6a",
        f"Poisson MAP, Jeffreys (a = 1/2 < 1): P(λ_n = 0), exact chain of totals; "
        f"absorbing (λ_0={_LAM0}, M={_PM})",
        cases,
        detail=f"absorbed chains stay at 0: {sticky}",
    )
    return dataclasses.replace(row, passed=row.passed and sticky)


def _bl4v(ctx):
    return _bl4(ctx, "var")


def _bl4m(ctx):
    return _bl4(ctx, "mean")


def _bl5m(ctx):
    return _bl5(ctx, "BL-5", "posterior_sample", "mean")


def _bl5h(ctx):
    return _bl5(ctx, "BL-5h", "posterior_sample", "second")


def _bl5p(ctx):
    return _bl5(ctx, "BL-5p", "posterior_predictive", "both", offset=1)


def _bl5x(ctx):
    # alpha >= 1: the MAP's moments are linear (no clipping), with alpha > 1 no loss
    return _bl5(ctx, "BL-5m", "map", "both", alpha=(1.5, 2.0, 3.0), offset=2)


def _bl6m(ctx):
    return _bl6(ctx, "BL-6", "posterior_sample", "mean")


def _bl6v(ctx):
    return _bl6(ctx, "BL-6v", "posterior_sample", "var")


def _bl6p(ctx):
    return _bl6(ctx, "BL-6p", "posterior_predictive", "mean", offset=1)


def _bl6g(ctx):
    # a proper prior: the Gibbs sampler converges to Gamma(a, b), mean a/b
    return _bl6(ctx, "BL-6g", "posterior_sample", "mean", a=2.0, b=4.0, offset=2)


def _bl6x(ctx):
    return _bl6(ctx, "BL-6m", "map", "mean", a=2.0, b=1.0, offset=4)


_P = {
    1: "bl-1-gaussian-posterior-sample.md",
    2: "bl-2-gaussian-map.md",
    3: "bl-3-gaussian-predictive.md",
    4: "bl-4-gaussian-gibbs.md",
    5: "bl-5-categorical.md",
    6: "bl-6-poisson.md",
}

CLAIMS = (
    Claim(
        "BL-1", "Gaussian posterior draws: E log σ_n² has drift 0", _bl1, True, _P[1]
    ),
    Claim("BL-1v", "… Var log σ_n² = 2n ψ'((M−1)/2)", _bl1v, True, _P[1]),
    Claim("BL-1m", "… E σ_n² and E μ_n² exact", _bl1m, True, _P[1]),
    Claim("BL-2", "Gaussian MAP: the M + 2 divisor's drift", _bl2, True, _P[2]),
    Claim("BL-2v", "… Var log σ_n² = n ψ'", _bl2v, True, _P[2]),
    Claim("BL-3", "Gaussian predictive: E v_n geometric, E μ_n²", _bl3, True, _P[3]),
    Claim("BL-3b", "… E log v_1 exact, Jensen bound later", _bl3b, True, _P[3]),
    Claim("BL-4", "NIG posterior draws (Gibbs): E σ_n² → prior's", _bl4v, True, _P[4]),
    Claim("BL-4m", "… E (μ_n − m_0)² → the prior's", _bl4m, True, _P[4]),
    Claim("BL-5", "categorical posterior draws: E p_n → α/A", _bl5m, True, _P[5]),
    Claim("BL-5h", "… E Σ p_n² exact, no absorption", _bl5h, True, _P[5]),
    Claim("BL-5p", "categorical predictive: E p_n, E Σ p_n² exact", _bl5p, True, _P[5]),
    Claim("BL-5m", "categorical MAP, α > 1: exact moments", _bl5x, True, _P[5]),
    Claim("BL-5a", "categorical MAP, α < 1: exact absorption", _bl5a, True, _P[5]),
    Claim("BL-6", "Poisson posterior draws: E λ_n grows linearly", _bl6m, True, _P[6]),
    Claim("BL-6v", "… Var λ_n exact, no absorption", _bl6v, True, _P[6]),
    Claim("BL-6p", "Poisson predictive: E λ_n grows linearly", _bl6p, True, _P[6]),
    Claim("BL-6g", "Poisson, Gamma(2, 4): E λ_n → a/b (Gibbs)", _bl6g, True, _P[6]),
    Claim("BL-6m", "Poisson MAP, Gamma(2, 1): E λ_n exact", _bl6x, True, _P[6]),
    Claim("BL-6a", "Poisson MAP, a < 1: exact absorption", _bl6a, True, _P[6]),
)
