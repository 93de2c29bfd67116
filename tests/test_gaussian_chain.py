"""Monte Carlo of the Gaussian chain against the closed forms of ``theory.gaussian``.

Claims: GC-2, GC-3, GC-5 (docs/theory.md §3), SH-2, SH-4 to SH-8 (§1), and the float32
long-run headline (docs/theory.md §12.2).

Budget: every statistical assertion is ``|estimate - theory| <= K * SE`` through
``tests.helpers.assert_within_se``, with ``K`` from the suite-wide false-failure
budget in ``tests/helpers.py`` (``FALSE_FAILURE_BUDGET`` shared by
``NUM_STATISTICAL_ASSERTIONS`` two-sided assertions: K = 4.65). An array assertion
counts once per element; this module makes about 55 (58 with the x64 pass). SEs
come from theory (GC-2, GC-3, SH-7 variances; exact binomial SEs) or from the spread
across independent chains (never from within-chain autocorrelated estimates). Raw
moments (E sigma^2, E(mu - mu0)^2, E W2^2) are tested only for n <= M (docs/theory.md
§12.3); beyond that, log-space quantities and probabilities. A few claims are
inequalities (a median below a level); those are one-sided tests at the same K
(``assert_fraction_above``).

Seeds are fixed (``seed`` fixture; module-level runs shared by several tests use
``module_seed``, both overridable by ``COLLAPSE_TEST_SEED``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy.special import polygamma

import collapse_jax as cj
from collapse_jax import theory as th
from tests.helpers import (
    K,
    assert_fraction_above,
    assert_within_se,
    binomial_se,
    mean_and_se,
    module_seed,
    prob_log_var_below,
)

pytestmark = pytest.mark.statistical

ESTIMATORS = ("unbiased", "mle")


# ----------------------------------------------------------------------- helpers ---


def _run(
    family,
    init,
    *,
    seed,
    num_chains,
    num_generations,
    sample_size,
    sampler="samples",
    metrics=None,
    record_params=False,
    dtype="float32",
):
    return cj.run_chains(
        family,
        init,
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        sampler=sampler,
        dtype=dtype,
        metrics=metrics,
        record_params=record_params,
    )


UNIT = cj.gaussian_params(0.0, 1.0)

# Shared runs. Every new static configuration costs a 2-4 s compile, so the tests
# below share a few: a short wide one for raw moments (n <= M) and a long one
# (n >> M) for log-space quantities and probabilities.
SHORT_M, SHORT_N, SHORT_C = 20, 20, 2**16
LONG_M, LONG_N, LONG_C = 10, 200, 2**14


def _cached_runs(label, num_chains, num_generations, sample_size):
    """A per-estimator cache of one shared 1-D run (seed from the label)."""

    @functools.cache
    def get(estimator):
        seed = module_seed(f"{__name__}::{label}[{estimator}]")
        res = _run(
            cj.gaussian(1, estimator),
            UNIT,
            seed=seed,
            num_chains=num_chains,
            num_generations=num_generations,
            sample_size=sample_size,
        )
        assert res.ok
        return res, seed

    return get


@pytest.fixture(scope="module")
def short_run():
    """2^16 chains, M = 20, N = 20 generations, sample-based, all metrics."""
    return _cached_runs("short_run", SHORT_C, SHORT_N, SHORT_M)


@pytest.fixture(scope="module")
def long_run():
    """2^14 chains, M = 10, N = 200 generations, sample-based, all metrics."""
    return _cached_runs("long_run", LONG_C, LONG_N, LONG_M)


# ------------------------------------------------------------------------- GC-3 ---


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_log_variance_mean_gc3(long_run, estimator):
    # 2^14 chains, M = 10, n in {10, 200} (n >> M): SE of mean log sigma_n^2 from
    # theory sqrt(Var/C): 0.012 (n = 10), 0.055 (n = 200).
    res, seed = long_run(estimator)
    ns = np.array([10, 200])
    lv = res.metrics["log_var"][:, ns, 0]
    expected = [th.expected_log_variance(LONG_M, n, estimator=estimator) for n in ns]
    se = [math.sqrt(th.variance_log_variance(LONG_M, n) / LONG_C) for n in ns]
    assert_within_se(
        lv.mean(axis=0),
        expected,
        se,
        seed=seed,
        what=f"GC-3 E log sigma_n^2 ({estimator}, M=10, n={ns.tolist()})",
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_log_variance_spread_gc3(long_run, estimator):
    # 2^14 chains, M = 10, n in {10, 200}: sample variance of log sigma_n^2 against
    # sum_i psi'((M-1)/2) (2.49 at n = 10, 49.7 at n = 200). SE from theory: log
    # sigma_n^2 is a sum of log-gamma terms whose cumulants are kappa_r =
    # sum_i psi^(r-1)((M_i-1)/2), so Var(s^2) = kappa_4/C + 2 kappa_2^2/(C-1);
    # SE 0.03 (n = 10), 0.55 (n = 200).
    res, seed = long_run(estimator)
    ns = np.array([10, 200])
    lv = res.metrics["log_var"][:, ns, 0].astype(np.float64)
    kappa2 = np.array([th.variance_log_variance(LONG_M, n) for n in ns])
    kappa4 = ns * polygamma(3, (LONG_M - 1) / 2.0)
    se = np.sqrt(kappa4 / LONG_C + 2 * kappa2**2 / (LONG_C - 1))
    assert_within_se(
        lv.var(axis=0, ddof=1),
        kappa2,
        se,
        seed=seed,
        what=f"GC-3 Var log sigma_n^2 ({estimator}, M=10, n={ns.tolist()})",
    )


# ------------------------------------------------------------------ GC-2, GC-5 ---


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_variance_raw_moment_gc2(short_run, estimator):
    # 2^16 chains, M = 20, n in {5, 20} (n <= M): E sigma_n^2 = 1 (unbiased, a
    # martingale) or 0.95^n (MLE: 0.77, 0.36). SE from theory sqrt(Var sigma_n^2/C):
    # unbiased 0.0027 (n = 5), 0.0099 (n = 20).
    res, seed = short_run(estimator)
    ns = np.array([5, 20])
    var = np.exp(res.metrics["log_var"][:, ns, 0].astype(np.float64))
    expected = [th.expected_variance(SHORT_M, n, estimator=estimator) for n in ns]
    se = [
        math.sqrt(th.variance_of_variance(SHORT_M, n, estimator=estimator) / SHORT_C)
        for n in ns
    ]
    assert_within_se(
        var.mean(axis=0),
        expected,
        se,
        seed=seed,
        what=f"GC-2 E sigma_n^2 ({estimator}, M=20, n={ns.tolist()})",
    )
    if estimator == "mle":  # the MLE decay is visible, not a martingale
        assert np.all(np.asarray(expected) + K * np.asarray(se) < 1.0)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_mean_drift_gc5(short_run, estimator):
    # 2^16 chains, M = 20, n in {5, 20} (n <= M): E (mu_n - mu)^2 = sum_i E
    # sigma_i^2 / M_i (0.25 and 1.0 unbiased). SE from the chains: 0.0014 (n = 5),
    # 0.008 (n = 20).
    res, seed = short_run(estimator)
    ns = np.array([5, 20])
    sq = res.metrics["mean"][:, ns, 0].astype(np.float64) ** 2
    est, se = mean_and_se(sq)
    expected = [
        th.expected_squared_mean_error(SHORT_M, n, estimator=estimator) for n in ns
    ]
    assert_within_se(
        est,
        expected,
        se,
        seed=seed,
        what=f"GC-5 E(mu_n - mu)^2 ({estimator}, M=20, n={ns.tolist()})",
    )


# ------------------------------------------------------------------------- SH-4 ---


def test_marginal_sample_variance_sh4(short_run):
    # 2^16 chains, M = 20, n in {5, 10} (n <= M/2): one fresh draw per chain,
    # X = mu_n + sigma_n Z; Var X = 1 + n/M (1.25, 1.5). E X = mu, so E(X - mu)^2
    # is the variance; SE from the chains: 0.007 (n = 5), 0.009 (n = 10).
    res, seed = short_run("unbiased")
    ns = np.array([5, 10])
    rng = np.random.default_rng(seed)
    mean = res.metrics["mean"][:, ns, 0].astype(np.float64)
    sd = np.exp(0.5 * res.metrics["log_var"][:, ns, 0].astype(np.float64))
    x = mean + sd * rng.standard_normal(mean.shape)
    est, se = mean_and_se(x**2)
    expected = [th.marginal_sample_variance(SHORT_M, n) for n in ns]
    assert_within_se(
        est, expected, se, seed=seed, what=f"SH-4 Var X^n (M=20, n={ns.tolist()})"
    )


# ------------------------------------------------------------------------- SH-5 ---


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_w2_exact_sh5(short_run, estimator):
    # 2^16 chains, M = 20, n in {5, 20} (n <= M): exact E W2^2 = E(mu_n - mu)^2 +
    # E sigma_n^2 - 2 E sigma_n + 1 (0.38 and 1.46 unbiased). SE from the chains:
    # 0.002 (n = 5), 0.01 (n = 20).
    res, seed = short_run(estimator)
    ns = np.array([5, 20])
    est, se = mean_and_se(res.metrics["w2_sq"][:, ns])
    expected = [th.expected_w2_sq(SHORT_M, n, estimator=estimator) for n in ns]
    assert_within_se(
        est,
        expected,
        se,
        seed=seed,
        what=f"SH-5 exact E W2^2 ({estimator}, M=20, n={ns.tolist()})",
    )


def test_w2_leading_order_sh5(short_run):
    # 2^16 chains, M = 20, n in {10, 20}: the paper's (3/2) sigma^2 n / M, with the
    # model-error allowance of docs/theory.md §12.1 (5 % relative, n <= M, M >= 8; the
    # exact form differs by 0.5 % at n = 10 and 2.6 % at n = 20). SE from the chains
    # ~0.005 and 0.01.
    res, seed = short_run("unbiased")
    ns = np.array([10, 20])
    est, se = mean_and_se(res.metrics["w2_sq"][:, ns])
    leading = np.array([th.expected_w2_sq_leading_order(SHORT_M, n) for n in ns])
    assert_within_se(
        est,
        leading,
        se,
        seed=seed,
        allowance=0.05 * leading,
        what=f"SH-5 leading-order E W2^2 (M=20, n={ns.tolist()})",
    )


# ------------------------------------------------------------------------- SH-6 ---


def test_quadratic_schedule_sh6(long_run, seed):
    # Quadratic schedule M_i = 10 (i + 1)^2 (up to 404,010: sufficient sampler),
    # 2^14 chains, n in {10, 200}.
    # (ii) E log sigma_n^2 -> finite limit (-0.171, -0.180): SE from theory 0.0043;
    #      its increment between n = 50 and 200 (-0.001): SE 1.4e-4.
    # (i)  exact E W2^2 (bounded): SE from the chains ~0.004.
    # (iii) P(sigma_200^2 < 1/2): 0.197 (exact, Gil-Pelaez on GC-1) with binomial SE
    #      0.003, against 0.99937 (SE 2e-4) for constant M = 10 (the shared long run).
    sched = th.quadratic_schedule(10, LONG_N)
    res = _run(
        cj.gaussian(1),
        UNIT,
        seed=seed,
        num_chains=LONG_C,
        num_generations=LONG_N,
        sample_size=sched,
        sampler="sufficient",
    )
    assert res.ok
    lv = res.metrics["log_var"][:, :, 0].astype(np.float64)
    ns = np.array([10, 200])
    expected = [th.expected_log_variance(sched, n) for n in ns]
    se = [math.sqrt(th.variance_log_variance(sched, n) / LONG_C) for n in ns]
    assert_within_se(
        lv[:, ns].mean(axis=0),
        expected,
        se,
        seed=seed,
        what="SH-6 E log sigma_n^2, quadratic schedule M_0=10, n=10, 200",
    )
    inc = lv[:, 200] - lv[:, 50]
    inc_var = th.variance_log_variance(sched, 200) - th.variance_log_variance(sched, 50)
    assert_within_se(
        inc.mean(),
        th.expected_log_variance(sched, 200) - th.expected_log_variance(sched, 50),
        math.sqrt(inc_var / LONG_C),
        seed=seed,
        what="SH-6 E[log sigma_200^2 - log sigma_50^2], quadratic M_0=10",
    )
    w2, w2_se = mean_and_se(res.metrics["w2_sq"][:, ns])
    assert_within_se(
        w2,
        [th.expected_w2_sq(sched, n) for n in ns],
        w2_se,
        seed=seed,
        what="SH-6 exact E W2^2, quadratic schedule M_0=10, n=10, 200",
    )

    log_half = math.log(0.5)
    p_quad = prob_log_var_below(sched, log_half)
    frac_quad = float(np.mean(lv[:, 200] < log_half))
    assert_within_se(
        frac_quad,
        p_quad,
        binomial_se(p_quad, LONG_C),
        seed=seed,
        what="SH-6 P(sigma_200^2 < 1/2), quadratic schedule M_0=10",
    )
    const, const_seed = long_run("unbiased")
    p_const = prob_log_var_below(np.full(LONG_N, LONG_M), log_half)
    assert p_const > 0.999 and p_quad < 0.25  # the claim, on the exact values
    frac_const = float(np.mean(const.metrics["log_var"][:, 200, 0] < log_half))
    assert_within_se(
        frac_const,
        p_const,
        binomial_se(p_const, LONG_C),
        seed=const_seed,
        what="SH-6 P(sigma_200^2 < 1/2), constant M=10",
    )


# ------------------------------------------------------------------------- SH-7 ---

SH7_M, SH7_C, SH7_EPS = 8, 2**14, 1e-3
SH7_TRUTH = {
    2: (np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 1.0]])),
    3: (
        np.array([1.0, -2.0, 0.5]),
        np.array([[2.0, 0.6, 0.2], [0.6, 1.0, -0.3], [0.2, -0.3, 0.5]]),
    ),
}


@pytest.fixture(scope="module")
def mvn_run():
    """2^14 chains, M = 8, up to collapse_generation(8, 1e-3, dim=d) generations."""

    @functools.cache
    def get(dim):
        seed = module_seed(f"{__name__}::mvn_run[{dim}]")
        n = th.collapse_generation(SH7_M, SH7_EPS, dim=dim)
        mean, cov = SH7_TRUTH[dim]
        res = _run(
            cj.gaussian(dim),
            cj.gaussian_params(mean, cov),
            seed=seed,
            num_chains=SH7_C,
            num_generations=n,
            sample_size=SH7_M,
            metrics=["mean", "log_det_cov"],
            record_params=True,
        )
        assert res.ok
        return res, n, seed

    return get


@pytest.mark.parametrize("dim", [2, 3])
def test_log_det_and_mean_sh7(mvn_run, dim):
    # 2^14 chains, M = 8, d in {2, 3}, non-identity Sigma_0.
    # E log det Sigma_n at n in {10, N} (N = collapse generation: 106 for d = 2, 42
    # for d = 3): SE from theory sqrt(Var/C) ~ 0.02-0.06.
    # E ||mu_n - mu_0||^2 = tr(Sigma_0) n / M at n = M = 8: SE from the chains ~0.02.
    res, n_last, seed = mvn_run(dim)
    mean0, cov0 = SH7_TRUTH[dim]
    logdet0 = float(np.linalg.slogdet(cov0)[1])
    ns = np.array([10, n_last])
    ld = res.metrics["log_det_cov"][:, ns].astype(np.float64)
    expected = [
        th.expected_log_det_cov(SH7_M, n, dim, log_det_cov0=logdet0) for n in ns
    ]
    se = [math.sqrt(th.variance_log_det_cov(SH7_M, n, dim) / SH7_C) for n in ns]
    assert_within_se(
        ld.mean(axis=0),
        expected,
        se,
        seed=seed,
        what=f"SH-7 E log det Sigma_n (d={dim}, M=8, n={ns.tolist()})",
    )

    drift = res.metrics["mean"][:, SH7_M].astype(np.float64) - mean0
    est, se_sq = mean_and_se(np.sum(drift**2, axis=-1))
    assert_within_se(
        est,
        th.expected_squared_mean_error(SH7_M, SH7_M, variance=float(np.trace(cov0))),
        se_sq,
        seed=seed,
        what=f"SH-7 E||mu_n - mu_0||^2 (d={dim}, M=8, n=8)",
    )


@pytest.mark.parametrize("dim", [2, 3])
def test_cholesky_log_diagonal_exponents_sh7(mvn_run, dim):
    # 2^14 chains, M = 8, n = N (106 for d = 2, 42 for d = 3). In the log-Cholesky
    # parameterisation each fit adds the Bartlett log-diagonal, so
    # 2 (s_k(n) - s_k(0)) = sum_i log(chi2_{M-k} / (M-1)) exactly for every n:
    # mean n gamma_k (the Lyapunov exponents), variance n psi'((M-k)/2). SE from
    # theory ~0.02-0.04.
    res, n_last, seed = mvn_run(dim)
    s = res.params.chol_log_diag.astype(np.float64)
    delta = 2 * (s[:, n_last] - s[:, 0])
    gamma = th.lyapunov_exponents(SH7_M, dim)
    k = np.arange(1, dim + 1)
    se = np.sqrt(n_last * polygamma(1, (SH7_M - k) / 2.0) / SH7_C)
    assert_within_se(
        delta.mean(axis=0),
        n_last * gamma,
        se,
        seed=seed,
        what=f"SH-7 E 2(s_k(n) - s_k(0)) = n gamma_k (d={dim}, M=8, n={n_last})",
    )


@pytest.mark.parametrize("dim", [2, 3])
def test_almost_sure_collapse_sh7(mvn_run, dim):
    # 2^14 chains, M = 8, n = collapse_generation(8, 1e-3, dim) (106 / 42): the CLT
    # on log det puts the mean 5 SD below log eps, so >= 99.9 % of chains (in fact
    # all but ~3e-7 of them) have det Sigma_n / det Sigma_0 < 1e-3 (SH-7 (iii)).
    res, n_last, seed = mvn_run(dim)
    ld = res.metrics["log_det_cov"].astype(np.float64)
    collapsed = np.mean(ld[:, n_last] - ld[:, 0] < math.log(SH7_EPS))
    assert collapsed >= 0.999, (collapsed, seed)


# ------------------------------------------------------------------------- SH-8 ---


def test_mean_converges_sh8(long_run):
    # 2^14 chains, M = 10, n in {10, 20, 40, 80} (n >> M at the end): the median of
    # |mu_2n - mu_n| tracks sigma exp(n g(M) / 2) within a factor 3 (docs/theory.md
    # SH-8:
    # ratio 0.53-0.71; the median of 2^14 chains has a relative SE ~1 %).
    res, seed = long_run("unbiased")
    mu = res.metrics["mean"][:, :, 0].astype(np.float64)
    for n in (10, 20, 40, 80):
        ratio = np.median(np.abs(mu[:, 2 * n] - mu[:, n])) / th.mean_increment_scale(
            LONG_M, n
        )
        assert 1 / 3 <= ratio <= 3, (n, ratio, seed)


# ------------------------------------------------------------------------- SH-2 ---


def test_tail_mass_sh2(long_run):
    # 2^14 chains, M = 10. Generation 0: the truth's outer 1 % region has mass 0.01.
    # Early collapse shows in the median: P(tail_5 < 0.01) > 1/2 and
    # P(tail_20 < 0.001) > 1/2 (n = 2M), one-sided at K binomial SEs (0.0039) at
    # p = 1/2 (observed ~0.58 and ~0.65). The mean rises meanwhile (~0.085 at n = 20;
    # SE from the chains 0.001).
    res, seed = long_run("unbiased")
    tail = res.metrics["tail_mass"][:, :, 0].astype(np.float64)
    np.testing.assert_allclose(tail[:, 0], 0.01, rtol=1e-5)
    assert_fraction_above(
        np.mean(tail[:, 5] < 0.01),
        0.5,
        LONG_C,
        seed=seed,
        what="SH-2 median tail mass below 0.01 at n=5 (M=10)",
    )
    assert_fraction_above(
        np.mean(tail[:, 20] < 0.001),
        0.5,
        LONG_C,
        seed=seed,
        what="SH-2 median tail mass ~0 at n=20 (M=10)",
    )
    est, se = mean_and_se(tail[:, 20])
    assert est > 0.01 + K * se, (est, se, seed)


# --------------------------------------------------------- long float32 headline ---

HEADLINE_M, HEADLINE_N, HEADLINE_C = 10, 10_000, 1024


def _long_chain_check(dtype, seed):
    res = _run(
        cj.gaussian(1),
        UNIT,
        seed=seed,
        num_chains=HEADLINE_C,
        num_generations=HEADLINE_N,
        sample_size=HEADLINE_M,
        metrics=["log_var"],
        dtype=dtype,
    )
    lv = res.metrics["log_var"][:, :, 0]
    assert lv.dtype == np.dtype(dtype)
    assert res.ok, res.failures()[:5]
    assert np.all(np.isfinite(lv))
    ns = np.array([1000, HEADLINE_N])
    expected = [th.expected_log_variance(HEADLINE_M, n) for n in ns]
    var = np.array([th.variance_log_variance(HEADLINE_M, n) for n in ns])
    x = lv[:, ns].astype(np.float64)
    assert_within_se(
        x.mean(axis=0),
        expected,
        np.sqrt(var / HEADLINE_C),
        seed=seed,
        what=f"GC-3 E log sigma_n^2, {dtype}, M=10, n={ns.tolist()}",
    )
    kappa4 = HEADLINE_N * polygamma(3, (HEADLINE_M - 1) / 2.0)
    se_var = math.sqrt(kappa4 / HEADLINE_C + 2 * var[1] ** 2 / (HEADLINE_C - 1))
    assert_within_se(
        x[:, 1].var(ddof=1),
        var[1],
        se_var,
        seed=seed,
        what=f"GC-3 Var log sigma_n^2, {dtype}, M=10, n=10000",
    )


def test_long_float32_chain_stays_finite(seed):
    # The headline. 1,024 chains, M = 10, 10,000 generations, float32,
    # sample-based: sigma^2 itself would underflow after ~760 generations
    # (E log sigma_n^2 = -1152 at n = 10^4), the log-Cholesky state does not.
    # SE of mean log sigma_n^2 from theory: 0.49 (n = 1000), 1.56 (n = 10^4);
    # of its variance (2487 at n = 10^4): 110.
    _long_chain_check("float32", seed)


@pytest.mark.x64
def test_long_float64_chain_stays_finite(x64, seed):
    # Same as the float32 headline under JAX_ENABLE_X64=1.
    _long_chain_check(x64, seed)
