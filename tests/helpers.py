"""The suite-wide false-failure budget and the one k*SE assertion every check uses.

Budget: at most ``NUM_STATISTICAL_ASSERTIONS`` Monte Carlo assertions per full run
share a false-failure probability of ``FALSE_FAILURE_BUDGET``. Each two-sided
assertion then gets ``alpha = budget / N`` and ``K = Phi^{-1}(1 - alpha / 2)``:
with 1e-3 over 1000 assertions, alpha = 1e-6 and K = 4.90. Seeds are fixed in CI,
so a red statistical test means the code changed (or the seed lands in a tail with
probability at most alpha). Every assertion is counted (``ASSERTION_COUNT``) and
``tests/conftest.py`` fails the session if a run makes more than N, so K is
re-derived before the budget is silently exceeded.
"""

from __future__ import annotations

import math
import os
import zlib

import numpy as np
from scipy import integrate, stats
from scipy.special import gammaln, loggamma, polygamma

FALSE_FAILURE_BUDGET = 1e-3
NUM_STATISTICAL_ASSERTIONS = 1000
ALPHA = FALSE_FAILURE_BUDGET / NUM_STATISTICAL_ASSERTIONS
K = math.ceil(float(stats.norm.isf(ALPHA / 2)) * 100) / 100  # 4.90

# Assertions made in this process; conftest fails the session if a full run makes
# more than NUM_STATISTICAL_ASSERTIONS (then re-derive K with a larger N).
ASSERTION_COUNT = [0]


def assert_within_se(estimate, expected, se, k: float = K, *, what: str = "",
                     seed=None, allowance: float = 0.0):
    """Assert ``|estimate - expected| <= k * se + allowance`` elementwise.

    Args:
      estimate, expected, se: scalars or arrays of one shape.
      k: multiplier from the budget (default :data:`K`).
      what: description for the failure message (quantity, N chains, n, M).
      seed: the seed used, reported on failure.
      allowance: explicit model-error allowance for approximations (absolute).
    """
    ASSERTION_COUNT[0] += int(np.size(estimate))
    est = np.asarray(estimate, np.float64)
    exp = np.asarray(expected, np.float64)
    se = np.asarray(se, np.float64)
    if not np.all(np.isfinite(est)):
        raise AssertionError(f"{what}: non-finite estimate {est} (seed {seed})")
    if np.any(se < 0) or not np.all(np.isfinite(se)):
        raise AssertionError(f"{what}: invalid SE {se} (seed {seed})")
    z = (est - exp) / np.where(se > 0, se, np.inf)
    ok = np.abs(est - exp) <= k * se + allowance
    if not np.all(ok):
        raise AssertionError(
            f"{what}: estimate {est} vs expected {exp}, SE {se}, z {z}, k {k}, "
            f"allowance {allowance}, seed {seed}")
    return z


def mean_and_se(x, axis=0):
    """Sample mean and its standard error over independent chains (``axis``)."""
    x = np.asarray(x, np.float64)
    n = x.shape[axis]
    return x.mean(axis=axis), x.std(axis=axis, ddof=1) / math.sqrt(n)


def binomial_se(p, n):
    """Exact SE of a frequency with success probability ``p`` over ``n`` trials."""
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def ks_alpha():
    """The per-test rejection level for distribution tests (KS, chi-square)."""
    return ALPHA


def module_seed(name: str) -> int:
    """Seed of a run shared by several tests: crc32 of ``name`` (qualify it with the
    module). ``COLLAPSE_TEST_SEED``, when set, is the crc32 starting value, so a
    seed sweep moves every shared run while distinct runs keep distinct seeds."""
    override = os.environ.get("COLLAPSE_TEST_SEED")
    return zlib.crc32(name.encode(), int(override) % 2**32 if override else 0)


def assert_fraction_above(frac, bound, num, *, what, seed):
    """One-sided test that a probability exceeds ``bound``: the observed fraction of
    ``num`` independent chains must exceed it by ``K`` binomial SEs taken at
    ``p = bound`` (rejects H0: p <= bound at the budgeted level)."""
    ASSERTION_COUNT[0] += 1
    se = binomial_se(bound, num)
    z = (frac - bound) / se
    if not frac > bound + K * se:
        raise AssertionError(
            f"{what}: fraction {frac} not above {bound} by {K} SE (SE {se}, z {z}), "
            f"seed {seed}"
        )


def prob_log_var_below(schedule, log_threshold, estimator="unbiased"):
    """Exact ``P(log sigma_n^2 / sigma^2 < log_threshold)`` (GC-1), by Gil-Pelaez.

    ``log sigma_n^2 / sigma^2 = sum_i log(chi2_{M_i - 1} / D_i)`` with independent
    terms, whose characteristic function is
    ``E (chi2_k / D)^{it} = (2 / D)^{it} Gamma(k/2 + it) / Gamma(k/2)``;
    ``F(x) = 1/2 - (1/pi) int_0^inf Im(e^{-itx} phi(t)) / t dt``. Numerical error of
    the quadrature ~1e-9, far below any binomial SE here. Cross-checked against a
    2e5-draw NumPy simulation (quadratic schedule M_0 = 10, n = 200: 0.1965 vs 0.1960).
    """
    m = np.asarray(schedule, np.float64)
    a = (m - 1.0) / 2.0
    shift = np.log(2.0 / (m - (1.0 if estimator == "unbiased" else 0.0)))
    sd = math.sqrt(float(polygamma(1, a).sum()))

    def integrand(t):
        log_cf = np.sum(1j * t * shift + loggamma(a + 1j * t) - gammaln(a))
        return (np.exp(log_cf - 1j * t * log_threshold)).imag / t

    value, _ = integrate.quad(integrand, 0.0, 40.0 / sd, limit=2000)
    return 0.5 - value / math.pi
