"""The registry of theoretical claims behind ``collapse-jax verify``.

Each :class:`Claim` runs the library's chains and compares a simulated statistic with
its closed form in :mod:`collapse_jax.theory`. Statistical rows pass when
``|z| <= Z_PASS`` (docs/theory.md §12.1: z = 5, false failure 5.7e-7 a row); exact rows
compare to a stated absolute tolerance; approximations add their stated allowance.
Rows sharing a configuration share one run (common random numbers). Rows whose
chains would not fit verify's memory budget at once run them in blocks of chain ids
and keep only the per-chain values they test (:mod:`collapse_jax.claims.blocks`;
the same values as one call).

Ids are docs/theory.md's claim ids; a letter suffix marks a second statistic of the same
claim (``GC-3m``: the MLE estimator).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from scipy import stats

import jax

import collapse_jax as cj
from collapse_jax.checks import check_dtype, check_nonnegative_int, fail
from collapse_jax.claims.blocks import run_blocked
from collapse_jax.theory import approximation as tha
from collapse_jax.theory import discrete as td
from collapse_jax.theory import expressivity as thx
from collapse_jax.theory import gaussian as tg
from collapse_jax.theory import multivariate as tmv

__all__ = ["Z_PASS", "Claim", "Row", "claims", "run_claims"]

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
    """A registered claim: its id, statement, and the function that checks it."""

    id: str
    claim: str
    check: Callable[[Context], Row]
    quick: bool = True


def _stat_row(cid, claim, theory, est, se, detail="", allowance=0.0) -> Row:
    z = (est - theory) / se if se > 0 else (0.0 if est == theory else math.inf)
    passed = bool(abs(est - theory) <= Z_PASS * se + allowance)
    return Row(cid, claim, float(theory), float(est), float(z), passed, None, detail)


def _exact_row(cid, claim, theory, value, tol, detail="") -> Row:
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


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.shape[0]))


# The row builders, for the claim modules under collapse_jax/claims/.
stat_row = _stat_row
exact_row = _exact_row
mean_se = _mean_se


# ----------------------------------------------------------------- shared runs ---


@functools.lru_cache(maxsize=32)
def _gauss(
    ctx: Context,
    size,
    generations: int,
    estimator="unbiased",
    dim=1,
    sampler="samples",
    chains: int | None = None,
    offset: int = 0,
):
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


@functools.lru_cache(maxsize=16)
def _cat(
    ctx: Context,
    probs: tuple,
    size: int,
    generations: int,
    sampler="samples",
    chains: int | None = None,
    offset: int = 0,
):
    return cj.run_chains(
        cj.categorical(len(probs)),
        cj.categorical_params(np.array(probs)),
        key=ctx.seed + offset,
        num_chains=chains or ctx.chains,
        num_generations=generations,
        sample_size=size,
        sampler=sampler,
        dtype=ctx.dtype,
        metrics=["probs", "gini_simpson", "absorbed", "support_size"],
        record_params=False,
    )


def _gauss_reduced(ctx: Context, reduce, size, generations: int, offset: int):
    """A 1-D sufficient-sampler chain of one row, reduced per block as it runs.

    The chains of :func:`_gauss` (same keys and bits), for a run that no other row
    shares: nothing is cached, and only ``mean`` and ``log_var`` are recorded.
    """
    return run_blocked(
        reduce,
        family=cj.gaussian(1, "unbiased"),
        init=cj.gaussian_params(np.zeros(1), np.eye(1)),
        key=ctx.seed + offset,
        num_chains=ctx.chains,
        num_generations=generations,
        sample_size=size,
        sampler="sufficient",
        dtype=ctx.dtype,
        metrics=["mean", "log_var"],
        record_params=False,
    )


def _log_var(res, n):
    return res.metrics["log_var"][:, n, 0].astype(np.float64)


# --------------------------------------------------------------------- claims ---
# Gaussian, 1-D, unbiased, M = 20, 40 generations: shared by GC-2/3/5, SH-4/5.
_M, _N = 20, 40


def _gc3(ctx):
    n = _N
    res = _gauss(ctx, _M, _N)
    est, se = _mean_se(_log_var(res, n))
    return _stat_row(
        "GC-3",
        f"E log σ_n² = Σ g(M_i)  (unbiased, M={_M}, n={n})",
        tg.expected_log_variance(_M, n),
        est,
        se,
    )


def _gc3_var(ctx):
    n = _N
    x = _log_var(_gauss(ctx, _M, _N), n)
    c = x.shape[0]
    var = float(x.var(ddof=1))
    m4 = float(np.mean((x - x.mean()) ** 4))
    se = math.sqrt(max(m4 - var**2, 0.0) / c)
    return _stat_row(
        "GC-3v",
        f"Var log σ_n² = Σ ψ′((M_i−1)/2)  (M={_M}, n={n})",
        tg.variance_log_variance(_M, n),
        var,
        se,
    )


def _gc3_mle(ctx):
    n = 20
    res = _gauss(ctx, _M, _N, "mle")
    est, se = _mean_se(_log_var(res, n))
    return _stat_row(
        "GC-3m",
        f"E log σ_n² = Σ g_MLE(M_i)  (MLE, M={_M}, n={n})",
        tg.expected_log_variance(_M, n, estimator="mle"),
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
    est, se = _mean_se(x)
    row = _stat_row(
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
    x = np.exp(_log_var(_gauss(ctx, _M, _N), n))
    est, se = _mean_se(x)
    return _stat_row(
        "GC-2",
        f"E σ_n² = σ²  (unbiased martingale, M={_M}, n={n} ≤ M)",
        tg.expected_variance(_M, n),
        est,
        se,
    )


def _gc2_mle(ctx):
    n = 10
    x = np.exp(_log_var(_gauss(ctx, _M, _N, "mle"), n))
    est, se = _mean_se(x)
    return _stat_row(
        "GC-2m",
        f"E σ_n² = σ² Π (M−1)/M  (MLE, M={_M}, n={n})",
        tg.expected_variance(_M, n, estimator="mle"),
        est,
        se,
    )


def _gc1(ctx):
    # KS of (M-1) σ_1²/σ² against chi2(M-1); z is the two-sided normal quantile of
    # the p-value, so |z| <= 5 means p >= 5.7e-7.
    x = (_M - 1) * np.exp(_log_var(_gauss(ctx, _M, _N), 1))
    res = stats.kstest(x, "chi2", args=(_M - 1,))
    z = float(stats.norm.isf(max(res.pvalue, 1e-300) / 2))
    return Row(
        "GC-1",
        f"(M−1)σ_1²/σ² ~ χ²(M−1)  (KS, M={_M})",
        float(_M - 1),
        float(x.mean()),
        z,
        bool(z <= Z_PASS),
        None,
        f"KS D={res.statistic:.4f}, p={res.pvalue:.3g}",
    )


def _gc5(ctx):
    n = 10
    res = _gauss(ctx, _M, _N)
    x = res.metrics["mean"][:, n, 0].astype(np.float64) ** 2
    est, se = _mean_se(x)
    return _stat_row(
        "GC-5",
        f"E(μ_n − μ)² = σ² Σ 1/M_i  (M={_M}, n={n} ≤ M)",
        tg.expected_squared_mean_error(_M, n),
        est,
        se,
    )


def _gc7(ctx):
    # Same law for the sample-based and the sufficient-statistic samplers.
    n = 20
    a = _log_var(_gauss(ctx, _M, _N), n)
    b = _log_var(_gauss(ctx, _M, _N, sampler="sufficient", offset=1), n)
    ma, sa = _mean_se(a)
    mb, sb = _mean_se(b)
    return _stat_row(
        "GC-7",
        f"sufficient-statistic sampler = sample-based chain "
        f"(E log σ_n², M={_M}, n={n})",
        ma,
        mb,
        math.hypot(sa, sb),
        detail="theory column: sample-based chain",
    )


def _sh4(ctx):
    n = 10
    res = _gauss(ctx, _M, _N)
    mu = res.metrics["mean"][:, n, 0].astype(np.float64)
    sd = np.exp(0.5 * _log_var(res, n))
    z = np.random.default_rng(ctx.seed).standard_normal(mu.shape[0])
    x = mu + sd * z
    dev = (x - x.mean()) ** 2
    est = float(x.var(ddof=1))
    se = float(dev.std(ddof=1) / math.sqrt(x.shape[0]))
    return _stat_row(
        "SH-4",
        f"Var X^n = σ²(1 + Σ 1/M_i)  (one sample per chain, M={_M}, n={n})",
        tg.marginal_sample_variance(_M, n),
        est,
        se,
    )


def _w2(ctx, n):
    res = _gauss(ctx, _M, _N)
    return _mean_se(res.metrics["w2_sq"][:, n].astype(np.float64))


def _sh5(ctx):
    n = 10
    est, se = _w2(ctx, n)
    return _stat_row(
        "SH-5",
        f"E W2²(truth, model n), exact  (M={_M}, n={n})",
        tg.expected_w2_sq(_M, n),
        est,
        se,
    )


def _sh5_leading(ctx):
    n = 10
    est, se = _w2(ctx, n)
    theory = tg.expected_w2_sq_leading_order(_M, n)
    return _stat_row(
        "SH-5a",
        f"E W2² ≈ (3/2)σ² Σ 1/M_i, leading order (5 % allowance; M={_M}, n={n})",
        theory,
        est,
        se,
        allowance=0.05 * theory,
    )


def _sh6(ctx):
    n = 200
    sched = tuple(int(v) for v in tg.quadratic_schedule(10, n))
    x = _gauss_reduced(ctx, lambda r: _log_var(r, n), list(sched), n, offset=2)
    est, se = _mean_se(x)
    frac = float(np.mean(x < math.log(0.5)))
    const = _gauss_reduced(ctx, lambda r: _log_var(r, n), 10, n, offset=3)
    frac_const = float(np.mean(const < math.log(0.5)))
    row = _stat_row(
        "SH-6",
        f"M_i = 10(i+1)²: E log σ_n² → finite limit, no collapse (n={n})",
        tg.expected_log_variance(sched, n),
        est,
        se,
        detail=f"P(σ²<σ²/2): {frac:.3f} (quadratic) vs {frac_const:.4f} (M=10)",
    )
    return dataclasses.replace(
        row, passed=row.passed and frac < 0.5 and frac_const > 0.999
    )


def _sh7(ctx):
    m, n, d = 12, 30, 3
    res = _gauss(ctx, m, n, dim=d, offset=4)
    x = res.metrics["log_det_cov"][:, n].astype(np.float64)
    est = float(x.mean())
    se = math.sqrt(tmv.variance_log_det_cov(m, n, d) / x.shape[0])
    return _stat_row(
        "SH-7",
        f"E log det Σ_n  (Theorem 3.1, d={d}, M={m}, n={n})",
        tmv.expected_log_det_cov(m, n, d),
        est,
        se,
    )


def _sh7_mean(ctx):
    m, n, d = 12, 10, 3
    res = _gauss(ctx, m, 30, dim=d, offset=4)
    x = np.sum(res.metrics["mean"][:, n].astype(np.float64) ** 2, axis=1)
    est, se = _mean_se(x)
    return _stat_row(
        "SH-7a",
        f"E‖μ_n − μ_0‖² = tr Σ_0 Σ 1/M_i  (d={d}, M={m}, n={n})",
        tg.expected_squared_mean_error(m, n, variance=float(d)),
        est,
        se,
    )


def _sh7_lyapunov(ctx):
    m, n, d = 12, 30, 3
    res = _gauss(ctx, m, n, dim=d, offset=4)
    s = res.params.chol_log_diag.astype(np.float64)
    slope = 2 * (s[:, n] - s[:, 0]) / n  # (chains, d)
    gam = tmv.lyapunov_exponents(m, d)
    zs = []
    for k in range(d):
        est, se = _mean_se(slope[:, k])
        zs.append((est - gam[k]) / se)
    worst = int(np.argmax(np.abs(zs)))
    est_w = float(slope[:, worst].mean())
    return Row(
        "SH-7b",
        f"Lyapunov exponents γ_k = ψ((M−k)/2) + log(2/(M−1)) as "
        f"Cholesky log-diagonal slopes (d={d}, M={m}, n={n})",
        float(gam[worst]),
        est_w,
        float(zs[worst]),
        bool(max(abs(z) for z in zs) <= Z_PASS),
        None,
        "γ = "
        + ", ".join(f"{g:.4f}" for g in gam)
        + "; sim = "
        + ", ".join(f"{v:.4f}" for v in slope.mean(axis=0)),
    )


def _sh7_collapse(ctx):
    m, d, eps = 12, 3, 1e-3
    n = tmv.collapse_generation(m, eps, dim=d)
    res = cj.run_chains(
        cj.gaussian(d),
        cj.gaussian_params(np.zeros(d), np.eye(d)),
        key=ctx.seed + 5,
        num_chains=ctx.chains,
        num_generations=n,
        sample_size=m,
        sampler="sufficient",
        dtype=ctx.dtype,
        metrics=["log_det_cov"],
        record_params=False,
    )
    frac = float(np.mean(res.metrics["log_det_cov"][:, n] < math.log(eps)))
    return Row(
        "SH-7c",
        f"Σ_n → 0 a.s.: det Σ_n < {eps:g} for ≥ 99.9 % of chains at "
        f"n = {n} (d={d}, M={m})",
        0.999,
        frac,
        None,
        frac >= 0.999,
        None,
        "theory column: required fraction",
    )


def _sh8(ctx):
    m, n = 10, 40
    mu = _gauss_reduced(
        ctx, lambda r: r.metrics["mean"][:, [n, 2 * n], 0], m, 2 * n, offset=6
    ).astype(np.float64)
    med = float(np.median(np.abs(mu[:, 1] - mu[:, 0])))
    scale = tg.mean_increment_scale(m, n)
    ratio = med / scale
    return Row(
        "SH-8",
        f"median |μ_2n − μ_n| tracks σ exp(n g(M)/2) within a factor 3 (M={m}, n={n})",
        scale,
        med,
        None,
        bool(1 / 3 <= ratio <= 3),
        None,
        f"ratio {ratio:.2f}",
    )


_P0 = (0.1, 0.15, 0.2, 0.25, 0.3)


def _wf1(ctx):
    n, m = 30, 20
    res = _cat(ctx, _P0, m, 100)
    p = res.metrics["probs"][:, n].astype(np.float64)
    zs = [
        (p[:, j].mean() - _P0[j]) / (p[:, j].std(ddof=1) / math.sqrt(p.shape[0]))
        for j in range(len(_P0))
    ]
    worst = int(np.argmax(np.abs(zs)))
    return Row(
        "WF-1",
        f"E p_n = p_0 (martingale; K={len(_P0)}, M={m}, n={n})",
        _P0[worst],
        float(p[:, worst].mean()),
        float(zs[worst]),
        bool(max(abs(z) for z in zs) <= Z_PASS),
        None,
        f"worst of {len(_P0)} categories (j={worst})",
    )


def _wf3(ctx):
    n, m = 30, 20
    res = _cat(ctx, _P0, m, 100)
    est, se = _mean_se(res.metrics["gini_simpson"][:, n])
    return _stat_row(
        "WF-3",
        f"E H_n = H_0 Π(1 − 1/M_i)  (Gini–Simpson; M={m}, n={n})",
        td.expected_gini_simpson(np.array(_P0), m, n),
        est,
        se,
    )


def _wf5(ctx):
    n, m = 60, 20
    res = _cat(ctx, _P0, m, 100)
    frac = float(np.mean(~res.metrics["absorbed"][:, n]))
    lo, hi = td.non_absorption_bounds(np.array(_P0), m, n)
    c = res.metrics["absorbed"].shape[0]
    se = math.sqrt(max(frac * (1 - frac), 1.0 / c) / c)
    ok = lo - Z_PASS * se <= frac <= hi + Z_PASS * se
    return Row(
        "WF-5",
        f"E H_n/(1−1/K) ≤ P(not absorbed) ≤ E H_n M²/(2(M−1)) (M={m}, n={n})",
        float(lo),
        frac,
        None,
        bool(ok),
        None,
        f"bounds [{lo:.4f}, {hi:.4f}], SE {se:.4f}",
    )


def _sh3(ctx):
    m = 20
    p0 = np.array(_P0)
    c = ctx.chains
    horizon = td.absorption_horizon(p0, m, c)
    absorbed, probs = run_blocked(
        lambda res: (res.metrics["absorbed"][:, -1], res.metrics["probs"][:, -1]),
        family=cj.categorical(len(_P0)),
        init=cj.categorical_params(p0),
        key=ctx.seed + 8,
        num_chains=c,
        num_generations=horizon,
        sample_size=m,
        dtype=ctx.dtype,
        metrics=["absorbed", "probs"],
        record_params=False,
    )
    winners = np.argmax(probs, axis=1)
    freq = np.bincount(winners[absorbed], minlength=len(_P0)) / c
    zs = (freq - p0) / np.sqrt(p0 * (1 - p0) / c)
    worst = int(np.argmax(np.abs(zs)))
    ok = bool(np.all(absorbed)) and bool(np.max(np.abs(zs)) <= Z_PASS)
    return Row(
        "SH-3",
        f"absorbed at δ_j with probability p_0(j) (K={len(_P0)}, M={m}, "
        f"horizon {horizon})",
        float(p0[worst]),
        float(freq[worst]),
        float(zs[worst]),
        ok,
        None,
        f"absorbed {absorbed.mean():.5f}; freq " + ", ".join(f"{f:.3f}" for f in freq),
    )


def _wf9(ctx):
    m = 10
    probs = (0.02, 0.03, 0.05, 0.1, 0.3, 0.5)
    res = _cat(ctx, probs, m, 1, offset=9)
    est, se = _mean_se(res.metrics["support_size"][:, 1])
    return _stat_row(
        "WF-9",
        f"E #surviving categories = Σ 1 − (1 − p_j)^M "
        f"(K={len(probs)}, M={m}, one generation)",
        td.expected_support_size(np.array(probs), m),
        est,
        se,
    )


def _wf4(ctx):
    del ctx
    errs = []
    for m in (5, 12, 30):
        num = np.sort(np.linalg.eigvals(td.wright_fisher_matrix(m)).real)[::-1]
        errs.append(np.max(np.abs(num - td.wright_fisher_eigenvalues(m))))
    lam2 = td.wright_fisher_eigenvalues(12)[2]
    return Row(
        "WF-4",
        "eigenvalues of the Wright–Fisher matrix = Π_{i<j}(1 − i/M) (M ∈ {5, 12, 30})",
        float(1 - 1 / 12),
        float(lam2),
        None,
        bool(max(errs) <= 1e-10),
        float(max(errs)),
        "λ_2 at M = 12 shown",
    )


# ------------------------------------------------- error sources as switches (SH-1) ---

_MIX_WEIGHTS = (0.3, 0.7)
_MIX_MEANS = ((-2.0, 0.0), (1.5, 1.0))
_MIX_COVS = (((0.5, 0.1), (0.1, 0.3)), ((1.0, -0.2), (-0.2, 0.6)))
_TOPK_PROBS = (0.04, 0.35, 0.06, 0.25, 0.2, 0.1)


def _rel_tol(ctx) -> float:
    """Tolerance of deterministic comparisons with a float64 oracle."""
    return 1e-10 if ctx.dtype == "float64" else 2e-6


def _max_dev_from_first(tree, start) -> float:
    """Largest |x_n - x_start| over generations n >= start and every leaf."""
    dev = 0.0
    for leaf in tree:
        x = np.asarray(leaf, np.float64)
        d = np.abs(x[:, start:] - x[:, start : start + 1])
        dev = max(dev, float(np.nanmax(d)) if d.size else 0.0)
    return dev


def _population(ctx, family, truth, gens, init_family=None):
    """A population-limit run (no randomness left): 8 chains, the context's dtype."""
    return cj.run_chains(
        family,
        truth,
        key=ctx.seed,
        num_chains=8,
        num_generations=gens,
        sample_size=None,
        dtype=ctx.dtype,
        init_family=init_family,
    )


def _sh1a(ctx):
    gens = 50
    cov = np.array([[2.0, 0.3], [0.3, 0.5]])
    runs = [
        (cj.gaussian(2), cj.gaussian_params([1.0, -1.0], cov)),
        (cj.categorical(6), cj.categorical_params(_TOPK_PROBS)),
        (
            cj.gmm(2, 2),
            cj.gmm_params(_MIX_WEIGHTS, _MIX_MEANS, _MIX_COVS),
        ),
    ]
    dev = 0.0
    for fam, truth in runs:
        res = _population(ctx, fam, truth, gens)
        dev = max(dev, _max_dev_from_first(res.params, 0))
    return Row(
        "SH-1a",
        f"population limit, exact well-specified fit: every generation is the truth "
        f"(Gaussian 2-D, categorical K=6, GMM k=2; {gens} generations)",
        0.0,
        dev,
        None,
        dev == 0.0,
        dev,
        "bitwise",
    )


def _sh1b(ctx):
    gens = 30
    truth = cj.gmm_params(_MIX_WEIGHTS, _MIX_MEANS, _MIX_COVS)
    res = _population(ctx, cj.gaussian(2), truth, gens, cj.gmm(2, 2))
    m, s = thx.moment_match_mixture(_MIX_WEIGHTS, _MIX_MEANS, _MIX_COVS)
    mean, cov = cj.gaussian_mean_cov(jax.tree.map(lambda x: x[:, 1], res.params))
    scale = float(np.max(np.abs(s)))
    err1 = max(
        float(np.max(np.abs(mean - m[None]))), float(np.max(np.abs(cov - s[None])))
    ) / max(scale, 1.0)
    drift = _max_dev_from_first(res.params, 1)
    tol = _rel_tol(ctx)
    return Row(
        "SH-1b",
        "expressivity only: a Gaussian fitted to a 2-component mixture (2-D) is the "
        "moment match at generation 1 and stays there",
        float(s[0, 0]),
        float(cov[0, 0, 0]),
        None,
        bool(err1 <= tol and drift == 0.0),
        err1,
        f"relative error at n=1 {err1:.1e} (tol {tol:.0e}); max |θ_n − θ_1| for "
        f"n ≤ {gens}: {drift:.1e}",
    )


def _sh1g(ctx):
    gens = 20
    truth = cj.gmm_params(
        (0.2, 0.5, 0.3),
        ((-2.0, 0.0), (0.5, 1.0), (2.5, -0.5)),
        (
            ((0.5, 0.1), (0.1, 0.3)),
            ((1.0, -0.2), (-0.2, 0.6)),
            ((0.4, 0.0), (0.0, 0.4)),
        ),
    )
    res = _population(ctx, cj.gmm(2, 2), truth, gens, cj.gmm(3, 2))
    w2 = res.metrics["w2_mm_sq_to_truth"][:, 1:]
    l2 = res.metrics["l2_to_truth"][0, 1]
    drift = _max_dev_from_first(res.params, 1)
    tol = 1e-9 if ctx.dtype == "float64" else 1e-5
    err = float(np.max(np.abs(w2)))
    return Row(
        "SH-1g",
        "expressivity only: a 2-component mixture fitted to a 3-component one by "
        "population EM keeps the truth's mean and covariance (W2 between "
        "moment-matched Gaussians = 0), not its shape (L2 > 0), from generation 1 on",
        0.0,
        err,
        None,
        bool(err <= tol and drift == 0.0 and l2 > 1e-3),
        err,
        f"L2 to the truth {l2:.3g}; max |θ_n − θ_1| {drift:.1e}",
    )


def _sh1t(ctx):
    gens, k = 30, 3
    truth = cj.categorical_params(_TOPK_PROBS)
    res = _population(
        ctx, cj.categorical(6, max_support=k), truth, gens, cj.categorical(6)
    )
    want = thx.top_k_tv_to_truth(_TOPK_PROBS, k)
    tv = res.metrics["tv_to_truth"][:, 1:]
    err = float(np.max(np.abs(tv - want)))
    drift = _max_dev_from_first(res.params, 1)
    tol = 1e-10 if ctx.dtype == "float64" else 1e-6
    return Row(
        "SH-1t",
        f"expressivity only: categorical restricted to its top {k} of 6 categories; "
        f"TV to the truth = 1 − p(top {k}) at every generation ≥ 1",
        want,
        float(tv[0, 0]),
        None,
        bool(err <= tol and drift == 0.0),
        err,
        f"max |θ_n − θ_1|: {drift:.1e}",
    )


_APPROX_TRUTH = ((0.5, -1.0), ((2.0, 0.6), (0.6, 1.0)))
_APPROX_INIT = ((0.0, 0.0), ((1.0, 0.0), (0.0, 1.0)))
_APPROX_REF = ((-1.0, 2.0), ((0.5, 0.1), (0.1, 1.5)))


def _population_run(ctx, family, gens):
    return _population(ctx, family, cj.gaussian_params(*_APPROX_TRUTH), gens)


def _sh1c(ctx):
    gens, lr, steps = 50, 0.2, 4
    fam = cj.approximate(
        cj.gaussian(2),
        optimizer="sgd",
        learning_rate=lr,
        num_steps=steps,
        start="fixed",
        init_params=cj.gaussian_params(*_APPROX_INIT),
    )
    res = _population_run(ctx, fam, gens)
    path = tha.gradient_map_iterate(
        *_APPROX_TRUTH,
        optimizer="sgd",
        learning_rate=lr,
        num_steps=steps,
        start="fixed",
        init_mean=_APPROX_INIT[0],
        init_cov=_APPROX_INIT[1],
        num_generations=gens,
    )
    got = (res.params.mean, res.params.chol_log_diag, res.params.chol_unit_lower)
    want = (path.mean, path.chol_log_diag, path.chol_unit_lower)
    err = max(
        float(np.max(np.abs(g - w[None]))) for g, w in zip(got, want, strict=True)
    )
    spread = _max_dev_across_chains(res.params)
    eps = float(np.finfo(np.dtype(ctx.dtype)).eps)
    tol = 1e-10 if ctx.dtype == "float64" else 10 * gens * steps * eps
    return Row(
        "SH-1c",
        f"approximation only: {steps} SGD steps (η={lr}) from a fixed start per "
        f"generation, M = ∞: every chain follows the float64 map θ_(n+1) = T(θ_n) "
        f"({gens} generations, 2-D)",
        float(path.chol_log_diag[-1, 0]),
        float(res.params.chol_log_diag[0, -1, 0]),
        None,
        bool(err <= tol and spread == 0.0),
        err,
        f"tol {tol:.1e}; spread across chains {spread:.1e}",
    )


def _sh1p(ctx):
    gens, rho = 30, 0.5
    fam = cj.approximate(
        cj.gaussian(2),
        learning_rate=1 / (2 * (1 + rho)),
        num_steps=300,
        penalty=cj.pseudo_data(cj.gaussian_params(*_APPROX_REF), rho),
    )
    res = _population_run(ctx, fam, gens)
    mean, cov = cj.gaussian_mean_cov(jax.tree.map(lambda x: x[0], res.params))
    want_mean, want_cov = tha.pseudo_data_moments(
        *_APPROX_TRUTH, *_APPROX_REF, rho, gens
    )
    err = max(
        float(np.max(np.abs(mean - want_mean))), float(np.max(np.abs(cov - want_cov)))
    )
    tol = 1e-12 if ctx.dtype == "float64" else 1e-5
    return Row(
        "SH-1p",
        f"biased objective (pseudo-data, ρ = {rho}), M = ∞: moments follow the closed "
        f"form, geometric at rate 1/(1+ρ) to the reference ({gens} generations)",
        float(want_cov[-1, 0, 0]),
        float(cov[-1, 0, 0]),
        None,
        bool(err <= tol),
        err,
        f"tol {tol:.0e}",
    )


def _sh1s(ctx):
    gens = 20
    dev = 0.0
    for opt in ("sgd", "momentum", "adam"):
        fam = cj.approximate(
            cj.gaussian(2), optimizer=opt, learning_rate=0.05, num_steps=10
        )
        res = _population_run(ctx, fam, gens)
        dev = max(dev, _max_dev_from_first(res.params, 0))
    return Row(
        "SH-1s",
        "warm start, unbiased objective, M = ∞: the truth is a fixed point of every "
        f"optimiser (sgd, momentum, adam; {gens} generations)",
        0.0,
        dev,
        None,
        dev == 0.0,
        dev,
        "bitwise",
    )


def _max_dev_across_chains(tree) -> float:
    dev = 0.0
    for leaf in tree:
        x = np.asarray(leaf, np.float64)
        dev = max(dev, float(np.max(np.abs(x - x[:1]))))
    return dev


_CLAIMS: tuple[Claim, ...] = (
    Claim("SH-3", "discrete chain absorbed at δ_j w.p. p_0(j)", _sh3),
    Claim("SH-4", "marginal variance σ²(1 + Σ1/M_i)", _sh4),
    Claim("SH-5", "exact E W2²", _sh5),
    Claim("SH-5a", "E W2² leading order", _sh5_leading),
    Claim("SH-6", "quadratic schedule: no collapse", _sh6),
    Claim("SH-7", "E log det Σ_n", _sh7),
    Claim("SH-7a", "E‖μ_n − μ_0‖²", _sh7_mean),
    Claim("SH-7b", "Lyapunov exponents", _sh7_lyapunov),
    Claim("SH-7c", "a.s. covariance collapse", _sh7_collapse),
    Claim("SH-8", "mean increments decay geometrically", _sh8),
    Claim("WF-1", "martingale", _wf1),
    Claim("WF-3", "Gini–Simpson decay", _wf3),
    Claim("WF-4", "Wright–Fisher spectrum", _wf4),
    Claim("WF-5", "non-absorption bounds", _wf5),
    Claim("WF-9", "surviving categories", _wf9),
    Claim("GC-1", "law of the fitted variance", _gc1),
    Claim("GC-2", "E σ_n² (unbiased)", _gc2),
    Claim("GC-2m", "E σ_n² (MLE)", _gc2_mle),
    Claim("GC-3", "E log σ_n²", _gc3),
    Claim("GC-3v", "Var log σ_n²", _gc3_var),
    Claim("GC-3m", "E log σ_n² (MLE)", _gc3_mle),
    Claim("GC-3L", "10,000 generations in log space", _gc3_long, quick=False),
    Claim("GC-5", "mean random walk", _gc5),
    Claim("GC-7", "sufficient-statistic sampler", _gc7),
    Claim("SH-1a", "population limit keeps a well-specified truth", _sh1a),
    Claim("SH-1b", "expressivity error acts once (Gaussian ← mixture)", _sh1b),
    Claim("SH-1g", "population EM keeps the truth's moments", _sh1g),
    Claim("SH-1t", "expressivity error acts once (top-k categorical)", _sh1t),
    Claim("SH-1c", "approximation only: the chain is the float64 map", _sh1c),
    Claim("SH-1p", "pseudo-data objective: closed form", _sh1p),
    Claim("SH-1s", "warm start keeps a well-specified truth", _sh1s),
)


# Claims of later topics live in their own modules under ``collapse_jax/claims/``,
# each exporting ``CLAIMS``; they are imported on first use (they import this module).
_CLAIM_MODULES = (
    "collapse_jax.claims.regression",
    "collapse_jax.claims.counting",
    "collapse_jax.claims.mixing",
    "collapse_jax.claims.regimes",
    "collapse_jax.claims.monitoring",
)


@functools.cache
def _all_claims() -> tuple[Claim, ...]:
    import importlib

    out = list(_CLAIMS)
    for name in _CLAIM_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a missing dependency inside it is a real error
                raise
            continue
        out.extend(module.CLAIMS)
    ids = [c.id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise RuntimeError(f"duplicate claim ids in the verify registry: {dup}")
    return tuple(out)


def _clear_claim_caches() -> None:
    """Drop the shared runs the claim modules cache (functools caches)."""
    import sys

    for name in _CLAIM_MODULES:
        module = sys.modules.get(name)
        for value in vars(module).values() if module is not None else ():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


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
        _gauss.cache_clear()
        _cat.cache_clear()
        _clear_claim_caches()
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
