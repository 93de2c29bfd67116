"""The suite-wide false-failure budget and the one k*SE assertion every check uses.

Budget: at most ``NUM_STATISTICAL_ASSERTIONS`` Monte Carlo assertions per full run
share a false-failure probability of ``FALSE_FAILURE_BUDGET``. Each two-sided
assertion then gets ``alpha = budget / N`` and ``K = Phi^{-1}(1 - alpha / 2)``:
with 1e-3 over 300 assertions, alpha = 3.3e-6 and K = 4.65. Seeds are fixed in CI,
so a red statistical test means the code changed (or the seed lands in a tail with
probability at most alpha); re-derive K if the suite grows past 300 assertions
(``tests/test_budget.py`` counts them).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

FALSE_FAILURE_BUDGET = 1e-3
NUM_STATISTICAL_ASSERTIONS = 300
ALPHA = FALSE_FAILURE_BUDGET / NUM_STATISTICAL_ASSERTIONS
K = math.ceil(float(stats.norm.isf(ALPHA / 2)) * 100) / 100  # 4.65


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
