"""Deterministic checks of the closed forms in ``collapse_jax.theory``.

No Monte Carlo and no JAX: every check compares a closed form with a published
reference value (docs/theory.md), with an independent computation (quadrature against
``scipy.stats``, matrix eigenvalues, exhaustive enumeration, an explicit loop),
or with a limit. Deterministic, so there is no false-failure budget; tolerances
are near float64 resolution unless a reference value is quoted to fewer digits.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import polygamma

from collapse_jax import theory
from collapse_jax.theory._schedule import as_schedule

# --------------------------------------------------------------------------------
# Published reference values (docs/theory.md)
# --------------------------------------------------------------------------------

# GC-3: per-generation g(M), unbiased / MLE, quoted to 3 significant digits.
G_TABLE = [
    (5, -0.270, -0.494),
    (10, -0.115, -0.221),
    (20, -0.0536, -0.105),
    (100, -0.0101, -0.0202),
]


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


@pytest.mark.parametrize(("m", "unbiased", "mle"), G_TABLE)
def test_log_variance_factor_mean_matches_gc3_table(m, unbiased, mle):
    assert _sig3(theory.log_variance_factor_mean(m)) == pytest.approx(unbiased)
    assert _sig3(theory.log_variance_factor_mean(m, "mle")) == pytest.approx(mle)


def test_lyapunov_exponents_match_sh7_reference():
    gamma = theory.lyapunov_exponents(12, 3)
    assert gamma.dtype == np.float64 and gamma.shape == (3,)
    np.testing.assert_allclose(gamma, [-0.0937, -0.1986, -0.3159], atol=5e-5)


def test_quadratic_schedule_log_variance_converges_to_sh6_reference():
    schedule = theory.quadratic_schedule(10, 200)
    got = [theory.expected_log_variance(schedule, n) for n in (10, 50, 200)]
    assert [round(x, 3) for x in got] == [-0.171, -0.179, -0.180]


def test_collapse_generation_is_below_2000_for_m10_and_satisfies_its_definition():
    n = theory.collapse_generation(10, 1e-3)
    assert 1 <= n < 2000

    def condition(k):
        mean = theory.expected_log_variance(10, k)
        sd = math.sqrt(theory.variance_log_variance(10, k))
        return mean + 5.0 * sd < math.log(1e-3)

    assert condition(n) and not condition(n - 1)


def test_collapse_generation_multivariate_uses_log_det_moments():
    m, d, eps = 12, 3, 1e-6
    n = theory.collapse_generation(m, eps, dim=d, z=4.0, estimator="mle")

    def condition(k):
        mean = theory.expected_log_det_cov(m, k, d, estimator="mle")
        sd = math.sqrt(theory.variance_log_det_cov(m, k, d))
        return mean + 4.0 * sd < math.log(eps)

    assert condition(n) and not condition(n - 1)


def test_collapse_generation_is_one_when_a_single_step_suffices():
    assert theory.collapse_generation(3, 0.999, z=0.0) == 1


# --------------------------------------------------------------------------------
# Gaussian chain: identities against independent computations
# --------------------------------------------------------------------------------


def _chi2_expect(func, dof):
    """E func(chi2_dof) by adaptive quadrature on the scipy.stats density."""
    pdf = stats.chi2(dof).pdf
    # A finite range holding all but ~1e-30 of the mass, split at the mode region so
    # that quad sees the peak even for large dof.
    upper = dof + 60.0 * math.sqrt(2.0 * dof) + 200.0
    value, _ = integrate.quad(
        lambda x: func(x) * pdf(x), 0.0, upper, points=[dof], limit=500
    )
    return value


@pytest.mark.parametrize("m", [2, 3, 5, 10, 50])
def test_log_variance_factor_mean_and_var_match_quadrature(m):
    k = m - 1
    mean_log = _chi2_expect(np.log, k)
    var_log = _chi2_expect(lambda x: (np.log(x) - mean_log) ** 2, k)
    assert theory.log_variance_factor_mean(m) == pytest.approx(
        mean_log - math.log(k), rel=1e-8, abs=1e-10
    )
    assert theory.log_variance_factor_mean(m, "mle") == pytest.approx(
        mean_log - math.log(m), rel=1e-8
    )
    assert theory.log_variance_factor_var(m) == pytest.approx(var_log, rel=1e-7)


@pytest.mark.parametrize("m", [2, 3, 10, 40, 41, 42, 100, 1000])
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_expected_sd_one_step_matches_quadrature(m, estimator):
    # m = 41 is the first size where the implementation switches from gammaln to
    # its asymptotic series (k / 2 >= 20).
    den = m - 1 if estimator == "unbiased" else m
    want = 1.5 * _chi2_expect(lambda x: np.sqrt(x / den), m - 1)
    got = theory.expected_sd(m, 1, estimator=estimator, variance=2.25)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("k", [100, 10**4, 10**6, 10**8])
def test_expected_sd_deficit_keeps_relative_precision_at_large_sizes(k):
    # log E sqrt(chi2_k / k) = -1/(4k) + 1/(24 k^3) + O(k^-5): the deficit
    # 1 - E sigma_1 / sigma is tiny, and a plain gammaln difference loses it.
    want = -math.expm1(-1.0 / (4 * k) + 1.0 / (24 * k**3))
    got = 1.0 - theory.expected_sd(k + 1, 1)
    assert got == pytest.approx(want, rel=1e-7)


def test_expected_sd_is_a_product_over_the_schedule():
    schedule = [3, 7, 60, 200]
    want = np.prod([theory.expected_sd(m, 1) for m in schedule])
    assert theory.expected_sd(schedule, 4) == pytest.approx(want, rel=1e-13)
    assert theory.expected_sd(schedule, 0, variance=4.0) == 2.0


@pytest.mark.parametrize(
    "schedule", [10, [2, 3, 50, 7], theory.quadratic_schedule(5, 6)]
)
def test_expected_variance_unbiased_is_exactly_the_truth(schedule):
    for n in range(5):
        assert theory.expected_variance(schedule, n) == 1.0
        assert theory.expected_variance(schedule, n, variance=3.5) == 3.5


def test_expected_variance_mle_is_product_of_shrinkage_factors():
    schedule = [4, 9, 20, 11, 5]
    want = 2.0 * np.prod([(m - 1) / m for m in schedule])
    got = theory.expected_variance(schedule, 5, estimator="mle", variance=2.0)
    assert got == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("moment", [1, 2, 3, 4])
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_expected_variance_moments_match_scipy_chi2_moments(moment, estimator):
    schedule = [6, 11, 25]
    want = 1.7**moment
    for m in schedule:
        den = m - 1 if estimator == "unbiased" else m
        want *= stats.chi2(m - 1).moment(moment) / den**moment
    got = theory.expected_variance(
        schedule, 3, estimator=estimator, variance=1.7, moment=moment
    )
    assert got == pytest.approx(want, rel=1e-12)


def test_variance_of_variance_equals_second_moment_minus_squared_mean():
    for estimator in ("unbiased", "mle"):
        for n in (0, 1, 5, 12):
            kw = dict(estimator=estimator, variance=2.0, sampling_bias=0.9)
            second = theory.expected_variance(10, n, moment=2, **kw)
            first = theory.expected_variance(10, n, **kw)
            got = theory.variance_of_variance(10, n, **kw)
            assert got == pytest.approx(second - first**2, rel=1e-11, abs=1e-15)
    # GC-2 closed form, unbiased: sigma^4 [prod (1 + 2 / (M - 1)) - 1].
    assert theory.variance_of_variance(21, 3) == pytest.approx(1.1**3 - 1, rel=1e-13)
    # Small values keep their relative precision.
    assert theory.variance_of_variance(10**9 + 1, 1) == pytest.approx(2e-9, rel=1e-12)


def test_sampling_bias_scales_moments_and_shifts_log_variance():
    lam, n = 0.9, 10
    assert theory.expected_variance(20, n, sampling_bias=lam) == pytest.approx(
        lam**n, rel=1e-13
    )
    shift = theory.expected_log_variance(20, n, sampling_bias=lam) - (
        theory.expected_log_variance(20, n)
    )
    assert shift == pytest.approx(n * math.log(lam), rel=1e-13)


def test_expected_log_variance_and_its_variance_sum_over_the_schedule():
    schedule = [3, 8, 8, 30]
    for estimator in ("unbiased", "mle"):
        want = math.log(5.0) + sum(
            theory.log_variance_factor_mean(m, estimator) for m in schedule
        )
        got = theory.expected_log_variance(
            schedule, 4, estimator=estimator, variance=5.0
        )
        assert got == pytest.approx(want, rel=1e-14)
    var = sum(theory.log_variance_factor_var(m) for m in schedule)
    assert theory.variance_log_variance(schedule, 4) == pytest.approx(var, rel=1e-14)
    assert theory.variance_log_variance(schedule, 0) == 0.0


def test_expected_squared_mean_error_matches_an_explicit_recursion():
    schedule = [5, 12, 3, 40, 9]
    for estimator, ddof in (("unbiased", 1), ("mle", 0)):
        # E(mu_{i+1} - mu)^2 = E(mu_i - mu)^2 + E sigma_i^2 / M_i.
        err, var = 0.0, 2.5
        for n, m in enumerate(schedule, start=1):
            err += var / m
            var *= (m - 1) / (m - ddof)
            got = theory.expected_squared_mean_error(
                schedule, n, estimator=estimator, variance=2.5
            )
            assert got == pytest.approx(err, rel=1e-14)
    assert theory.expected_squared_mean_error(20, 10) == pytest.approx(0.5, rel=1e-14)


def test_marginal_sample_variance_is_truth_plus_mean_drift():
    schedule = theory.quadratic_schedule(3, 10)
    for n in (0, 1, 10):
        want = 2.0 + theory.expected_squared_mean_error(schedule, n, variance=2.0)
        got = theory.marginal_sample_variance(schedule, n, variance=2.0)
        assert got == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
@pytest.mark.parametrize("m", [2, 5, 30])
def test_expected_w2_sq_one_step_matches_quadrature(estimator, m):
    # W2^2 = (mu_1 - mu)^2 + (sigma_1 - sigma)^2 with E(mu_1 - mu)^2 = sigma^2 / M.
    sigma = 1.3
    den = m - 1 if estimator == "unbiased" else m
    scale = _chi2_expect(lambda x: (sigma * np.sqrt(x / den) - sigma) ** 2, m - 1)
    want = sigma**2 / m + scale
    got = theory.expected_w2_sq(m, 1, estimator=estimator, variance=sigma**2)
    assert got == pytest.approx(want, rel=1e-9)


def test_expected_w2_sq_is_assembled_from_the_moments():
    schedule = [4, 10, 25, 7]
    for estimator in ("unbiased", "mle"):
        kw = dict(estimator=estimator, variance=0.7)
        want = (
            theory.expected_squared_mean_error(schedule, 4, **kw)
            + theory.expected_variance(schedule, 4, **kw)
            - 2.0 * math.sqrt(0.7) * theory.expected_sd(schedule, 4, **kw)
            + 0.7
        )
        assert theory.expected_w2_sq(schedule, 4, **kw) == pytest.approx(
            want, rel=1e-12
        )
    assert theory.expected_w2_sq(10, 0) == 0.0


@pytest.mark.parametrize("m", [8, 10, 20, 100, 400])
def test_expected_w2_sq_is_within_5_percent_of_leading_order_for_n_le_m(m):
    for n in sorted({1, 2, m // 2, m}):
        exact = theory.expected_w2_sq(m, n)
        approx = theory.expected_w2_sq_leading_order(m, n)
        assert abs(exact / approx - 1.0) < 0.05, (m, n, exact, approx)


def test_leading_order_w2_and_its_approach_at_large_m():
    assert theory.expected_w2_sq_leading_order(100, 10, variance=2.0) == (
        pytest.approx(0.3, rel=1e-14)
    )
    # One step: E W2^2 = sigma^2 (3 / (2M) + O(M^-2)); no cancellation at huge M.
    m = 10**6
    exact = theory.expected_w2_sq(m, 1)
    assert exact * m == pytest.approx(1.5, rel=1e-5)
    assert exact > theory.expected_w2_sq_leading_order(m, 1)


def test_w2_upper_bound_holds_and_is_bounded_only_for_a_summable_schedule():
    quad = theory.quadratic_schedule(10, 400)
    for n in (0, 1, 10, 100, 400):
        assert theory.expected_w2_sq(quad, n) <= theory.w2_sq_upper_bound(quad, n)
        assert theory.expected_w2_sq(10, n) <= theory.w2_sq_upper_bound(10, n)
        # sum 1 / (10 (i + 1)^2) < pi^2 / 60 for every n.
        assert theory.w2_sq_upper_bound(quad, n) < 2.0 + math.pi**2 / 60.0
    assert theory.w2_sq_upper_bound(10, 400) == pytest.approx(42.0, rel=1e-14)


def test_quadratic_schedule_values_and_dtype():
    schedule = theory.quadratic_schedule(7, 5)
    assert schedule.dtype == np.int64
    assert schedule.tolist() == [7, 28, 63, 112, 175]
    assert theory.quadratic_schedule(7, 0).shape == (0,)


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_log_det_cov_in_one_dimension_is_log_variance(estimator):
    schedule = [2, 5, 9, 100]
    for n in range(5):
        got = theory.expected_log_det_cov(
            schedule, n, 1, estimator=estimator, log_det_cov0=math.log(3.0)
        )
        want = theory.expected_log_variance(
            schedule, n, estimator=estimator, variance=3.0
        )
        assert got == pytest.approx(want, rel=1e-14, abs=1e-15)
        assert theory.variance_log_det_cov(schedule, n, 1) == pytest.approx(
            theory.variance_log_variance(schedule, n), rel=1e-14
        )


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_log_det_cov_for_constant_size_is_n_times_sum_of_exponents(estimator):
    m, d, n = 12, 3, 30
    gamma = theory.lyapunov_exponents(m, d, estimator=estimator)
    assert np.all(np.diff(gamma) < 0) and np.all(gamma < 0)
    got = theory.expected_log_det_cov(m, n, d, estimator=estimator, log_det_cov0=1.5)
    assert got == pytest.approx(1.5 + n * gamma.sum(), rel=1e-13)
    spread = n * sum(polygamma(1, (m - k) / 2.0) for k in range(1, d + 1))
    assert theory.variance_log_det_cov(m, n, d) == pytest.approx(spread, rel=1e-13)


def test_mean_increment_scale_is_the_typical_fitted_sd():
    for n in (0, 10, 80):
        want = math.sqrt(2.0 * math.exp(theory.expected_log_variance(10, n)) / 2.0)
        assert theory.mean_increment_scale(10, n) == pytest.approx(want, rel=1e-13)
    assert theory.mean_increment_scale(10, 0, variance=4.0) == 2.0


# --------------------------------------------------------------------------------
# Gaussian chain: limits
# --------------------------------------------------------------------------------


def test_log_variance_factor_limits():
    # g(M) = -1/(M-1) - 1/(3 (M-1)^2) + O(M^-3); g_MLE(M) = -2/M + O(M^-2).
    for m in (10**3, 10**5):
        g = theory.log_variance_factor_mean(m)
        assert g * (m - 1) == pytest.approx(-1.0, abs=1.0 / m)
        assert g == pytest.approx(-1 / (m - 1) - 1 / (3 * (m - 1) ** 2), rel=2 / m**2)
        assert theory.log_variance_factor_mean(m, "mle") * m == pytest.approx(
            -2.0, abs=3.0 / m
        )
        assert theory.log_variance_factor_var(m) * (m - 1) == pytest.approx(
            2.0, abs=5.0 / m
        )
    gs = [theory.log_variance_factor_mean(m) for m in (2, 3, 5, 10, 100)]
    assert all(g < 0 for g in gs) and gs == sorted(gs)


# --------------------------------------------------------------------------------
# Discrete chain
# --------------------------------------------------------------------------------


def test_gini_simpson_and_entropy_basic_values():
    for k in (1, 2, 5):
        uniform = np.full(k, 1.0 / k)
        assert theory.gini_simpson(uniform) == pytest.approx(1.0 - 1.0 / k)
        assert theory.entropy(uniform) == pytest.approx(math.log(k), abs=1e-15)
    point = [0.0, 1.0, 0.0]
    assert theory.gini_simpson(point) == 0.0
    assert theory.entropy(point) == 0.0


def test_martingale_and_fixation_probabilities_are_the_initial_probs():
    p0 = np.array([0.1, 0.2, 0.7])
    for got in (theory.expected_probs(p0, 50), theory.fixation_probabilities(p0)):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, p0)
        assert got is not p0


def test_expected_gini_simpson_at_zero_and_along_a_schedule():
    p0 = [0.5, 0.3, 0.2]
    h0 = theory.gini_simpson(p0)
    assert theory.expected_gini_simpson(p0, 10, 0) == h0
    want = h0 * (1 - 1 / 4) * (1 - 1 / 10) * (1 - 1 / 7)
    got = theory.expected_gini_simpson(p0, [4, 10, 7, 1], 3)
    assert got == pytest.approx(want, rel=1e-14)
    assert theory.expected_gini_simpson(p0, [4, 10, 7, 1], 4) == 0.0


@pytest.mark.parametrize("m", [5, 12, 30])
def test_wright_fisher_eigenvalues_match_numerical_eigenvalues(m):
    matrix = theory.wright_fisher_matrix(m)
    assert matrix.shape == (m + 1, m + 1) and matrix.dtype == np.float64
    numeric = np.sort(np.linalg.eigvals(matrix).real)[::-1]
    closed = theory.wright_fisher_eigenvalues(m)
    assert np.all(np.diff(closed) <= 0)
    np.testing.assert_allclose(numeric, closed, rtol=0, atol=1e-10)
    assert closed[0] == closed[1] == 1.0
    assert closed[2] == pytest.approx(1.0 - 1.0 / m)


def test_wright_fisher_matrix_is_a_martingale_with_gini_simpson_decay():
    m = 17
    matrix = theory.wright_fisher_matrix(m)
    c = np.arange(m + 1)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-13)
    np.testing.assert_allclose(matrix @ c, c, atol=1e-12)
    # Two-type heterozygosity H(c) = 1 - (c/M)^2 - (1 - c/M)^2 decays by 1 - 1/M.
    h = 1.0 - (c / m) ** 2 - (1.0 - c / m) ** 2
    for n in (1, 4, 20):
        power = np.linalg.matrix_power(matrix, n)
        p0 = [5 / m, 1 - 5 / m]
        got = (power @ h)[5]
        assert got == pytest.approx(theory.expected_gini_simpson(p0, m, n), rel=1e-11)


@pytest.mark.parametrize("m", [2, 7, 20])
def test_non_absorption_bounds_contain_the_exact_probability(m):
    matrix = theory.wright_fisher_matrix(m)
    for c0 in range(m + 1):
        p0 = [c0 / m, 1.0 - c0 / m]
        for n in (0, 1, 3, 10, 40):
            power = np.linalg.matrix_power(matrix, n)
            exact = 1.0 - power[c0, 0] - power[c0, m]
            lower, upper = theory.non_absorption_bounds(p0, m, n)
            assert 0.0 <= lower <= upper <= 1.0
            assert lower - 1e-12 <= exact <= upper + 1e-12, (m, c0, n)


def test_non_absorption_bounds_for_many_categories():
    p0 = [0.25] * 4
    assert theory.non_absorption_bounds(p0, 50, 0) == (1.0, 1.0)
    assert theory.non_absorption_bounds([0.0, 1.0], 50, 0) == (0.0, 0.0)
    for n in (1, 30, 100, 1000):
        lower, upper = theory.non_absorption_bounds(p0, 50, n)
        h_n = theory.expected_gini_simpson(p0, 50, n)
        assert lower == pytest.approx(h_n / 0.75)
        assert upper == pytest.approx(min(1.0, h_n * 2500 / 98))
        assert lower <= upper


def test_absorption_horizon_definition_monotonicity_and_wf5_use():
    p0 = [0.25] * 4

    def expected_survivors(t, chains):
        return chains * theory.non_absorption_bounds(p0, 50, t)[1]

    horizons = [theory.absorption_horizon(p0, 50, c) for c in (1, 2**4, 2**14, 2**20)]
    assert horizons == sorted(horizons) and len(set(horizons)) == 4
    t = theory.absorption_horizon(p0, 50, 2**14)
    assert expected_survivors(t, 2**14) <= 1e-4 < expected_survivors(t - 1, 2**14)
    # docs/theory.md WF-5 / SH-3: t = 20 M keeps C H_0 (1 - 1/M)^t M^2 / (2(M - 1)) << 1
    # (about 5e-4 at M = 50, C = 2^14); a tolerance of 1e-3 is reached by 20 M.
    assert theory.absorption_horizon(p0, 50, 2**14, tolerance=1e-3) <= 20 * 50
    assert t <= 22 * 50
    assert theory.absorption_horizon([1.0, 0.0], 50, 2**14) == 0


def test_expected_support_size_matches_multinomial_enumeration():
    p = np.array([0.5, 0.3, 0.2])
    m = 4
    want = 0.0
    for counts in itertools.product(range(m + 1), repeat=3):
        if sum(counts) == m:
            want += stats.multinomial.pmf(counts, m, p) * np.count_nonzero(counts)
    assert theory.expected_support_size(p, m) == pytest.approx(want, rel=1e-13)
    assert theory.expected_support_size([0.0, 1.0, 0.0], 9) == 1.0


def test_category_loss_probability_matches_binomial_zero_count():
    q = np.array([0.0, 1e-12, 0.01, 0.5, 1.0])
    got = theory.category_loss_probability(q, 100)
    assert isinstance(got, np.ndarray) and got.shape == (5,)
    np.testing.assert_allclose(got, stats.binom.pmf(0, 100, q), rtol=1e-12)
    assert theory.category_loss_probability(1e-12, 100) == pytest.approx(
        1.0 - 1e-10, rel=1e-15
    )
    scalar = theory.category_loss_probability(0.01, 100)
    assert isinstance(scalar, float) and scalar >= 1.0 - 100 * 0.01


# --------------------------------------------------------------------------------
# Schedules and error messages
# --------------------------------------------------------------------------------


def test_as_schedule_accepts_ints_and_sequences():
    assert as_schedule(np.int32(10), 3).dtype == np.int64
    assert as_schedule(10, 3).tolist() == [10, 10, 10]
    assert as_schedule([4, 5, 6, 7], 2).tolist() == [4, 5]
    assert as_schedule(np.array([4.0, 5.0]), 2).tolist() == [4, 5]
    assert as_schedule([], 0).shape == (0,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: theory.expected_log_variance(1, 3),
            r"expected_log_variance\(\): sample_size must be >= 2 to estimate a "
            r"variance; got 1\. Pass >= 2\.",
        ),
        (
            lambda: theory.expected_variance([5, 5, 1], 2),
            r"expected_variance\(\): sample_size\[2\] must be >= 2 .*got 1",
        ),
        (
            lambda: theory.expected_sd([5, 5], 3),
            r"expected_sd\(\): sample_size must have one entry per generation.*"
            r"num_generations = 3; got 2 entries",
        ),
        (
            lambda: theory.expected_log_variance(10, -1),
            r"expected_log_variance\(\): num_generations must be >= 0; got -1",
        ),
        (
            lambda: theory.expected_log_variance(10, 2.5),
            r"num_generations must be an int >= 0; got 2\.5",
        ),
        (
            lambda: theory.expected_w2_sq(2.5, 2),
            r"expected_w2_sq\(\): sample_size must be an int or a 1-D sequence",
        ),
        (
            lambda: theory.expected_w2_sq([[10, 10]], 2),
            r"sample_size must be an int or a 1-D sequence .*shape \(1, 2\)",
        ),
        (
            lambda: theory.expected_w2_sq([10.5, 10], 2),
            r"sample_size must hold integer sizes",
        ),
        (
            lambda: theory.log_variance_factor_mean(10, "ddof1"),
            r"estimator must be 'unbiased' \(ddof=1\) or 'mle' \(ddof=0\); "
            r"got 'ddof1'",
        ),
        (
            lambda: theory.expected_variance(10, 2, moment=0),
            r"expected_variance\(\): moment must be >= 1; got 0",
        ),
        (
            lambda: theory.expected_log_variance(10, 2, variance=-1.0),
            r"variance must be a finite number > 0; got -1\.0",
        ),
        (
            lambda: theory.expected_variance(10, 2, sampling_bias=float("nan")),
            r"sampling_bias must be a finite number > 0",
        ),
        (
            lambda: theory.expected_log_det_cov(3, 2, 3),
            r"expected_log_det_cov\(\): sample_size must be >= 4 to estimate a "
            r"3-dimensional covariance",
        ),
        (
            lambda: theory.lyapunov_exponents(12, 0),
            r"lyapunov_exponents\(\): dim must be >= 1; got 0",
        ),
        (
            lambda: theory.collapse_generation(10, 1.5),
            r"collapse_generation\(\): epsilon must satisfy 0 < epsilon < 1; got 1\.5",
        ),
        (
            lambda: theory.collapse_generation(10, 1e-3, z=-1.0),
            r"z must be a finite number >= 0",
        ),
        (
            lambda: theory.mean_increment_scale([10, 10], 2),
            r"mean_increment_scale\(\): sample_size must be a single int",
        ),
        (
            lambda: theory.quadratic_schedule(0, 3),
            r"quadratic_schedule\(\): base_size must be >= 1; got 0",
        ),
        (
            lambda: theory.gini_simpson([0.5, 0.6]),
            r"gini_simpson\(\): probs must sum to 1 \(within 1e-06\); got sum 1\.1",
        ),
        (
            lambda: theory.entropy([1.2, -0.2]),
            r"entropy\(\): probs must be non-negative",
        ),
        (
            lambda: theory.expected_probs([[0.5, 0.5]], 1),
            r"expected_probs\(\): probs0 must be a non-empty 1-D array",
        ),
        (
            lambda: theory.fixation_probabilities([np.nan, 1.0]),
            r"probs0 must be finite",
        ),
        (
            lambda: theory.non_absorption_bounds([0.5, 0.5], [10, 20], 2),
            r"non_absorption_bounds\(\): sample_size must be a single int",
        ),
        (
            lambda: theory.non_absorption_bounds([0.5, 0.5], 1, 2),
            r"sample_size must be >= 2 \(with M = 1",
        ),
        (
            lambda: theory.absorption_horizon([0.5, 0.5], 10, 0),
            r"absorption_horizon\(\): num_chains must be >= 1; got 0",
        ),
        (
            lambda: theory.absorption_horizon([0.5, 0.5], 10, 8, tolerance=0.0),
            r"tolerance must satisfy 0 < tolerance < 1",
        ),
        (
            lambda: theory.category_loss_probability(1.5, 10),
            r"category_loss_probability\(\): prob must lie in \[0, 1\]",
        ),
        (
            lambda: theory.expected_gini_simpson([0.5, 0.5], 0, 1),
            r"expected_gini_simpson\(\): sample_size must be >= 1; got 0",
        ),
        (
            lambda: theory.wright_fisher_matrix(True),
            r"wright_fisher_matrix\(\): sample_size must be an int",
        ),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------
# SH-1b: projections onto a smaller class (theory.expressivity)
# --------------------------------------------------------------------------------


def test_moment_match_of_a_1d_mixture_by_quadrature():
    w, mu, var = np.array([0.2, 0.5, 0.3]), np.array([-3.0, 0.5, 4.0]), [0.5, 1.0, 2.0]

    def density(x):
        return sum(
            wj * stats.norm.pdf(x, mj, math.sqrt(vj))
            for wj, mj, vj in zip(w, mu, var, strict=True)
        )

    m1 = integrate.quad(lambda x: x * density(x), -np.inf, np.inf)[0]
    m2 = integrate.quad(lambda x: (x - m1) ** 2 * density(x), -np.inf, np.inf)[0]
    m, s = theory.moment_match_mixture(w, mu[:, None], np.array(var)[:, None, None])
    assert m[0] == pytest.approx(m1, rel=1e-10)
    assert s[0, 0] == pytest.approx(m2, rel=1e-10)


def test_moment_match_minimises_the_gaussian_cross_entropy():
    """E_p[-log N(x; m, S)] is least at the moments (SH-1b (a)): perturb and compare."""
    rng = np.random.default_rng(0)
    w = np.array([0.4, 0.6])
    mu = rng.normal(size=(2, 2))
    covs = np.stack([np.eye(2) * 0.5, np.array([[1.0, 0.3], [0.3, 0.8]])])
    m, s = theory.moment_match_mixture(w, mu, covs)

    def cross_entropy(mean, cov):
        inv = np.linalg.inv(cov)
        out = 0.5 * np.linalg.slogdet(2 * np.pi * cov)[1]
        for wj, mj, cj in zip(w, mu, covs, strict=True):
            d = mj - mean
            out += wj * 0.5 * (np.trace(inv @ cj) + d @ inv @ d)
        return out

    best = cross_entropy(m, s)
    for _ in range(50):
        dm = rng.normal(scale=0.1, size=2)
        a = rng.normal(scale=0.1, size=(2, 2))
        assert cross_entropy(m + dm, s + a @ a.T + 1e-3 * np.eye(2)) > best
        assert cross_entropy(m + dm, s) > best


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_top_k_projection_minimises_the_reverse_kl_by_enumeration(k):
    p = np.array([0.04, 0.35, 0.06, 0.25, 0.2, 0.1])
    q = theory.top_k_projection(p, k)
    best = min(-np.log(p[list(a)].sum()) for a in itertools.combinations(range(6), k))
    kept = q > 0
    kl = float(np.sum(q[kept] * np.log(q[kept] / p[kept])))
    assert kl == pytest.approx(best, rel=1e-12, abs=1e-15)
    assert theory.top_k_kl_to_truth(p, k) == pytest.approx(best, rel=1e-12, abs=1e-15)
    assert theory.top_k_tv_to_truth(p, k) == pytest.approx(
        0.5 * np.abs(p - q).sum(), rel=1e-12, abs=1e-15
    )


def test_top_k_projection_keeps_a_model_in_the_class_and_breaks_ties_low():
    p = np.array([0.0, 0.5, 0.0, 0.5])
    assert np.array_equal(theory.top_k_projection(p, 2), p)
    q = theory.top_k_projection([0.25, 0.25, 0.25, 0.25], 2)
    assert q.tolist() == [0.5, 0.5, 0.0, 0.0]


def test_moment_match_categorical_by_definition():
    m, v = theory.moment_match_categorical([0.2, 0.3, 0.5], [-1.0, 2.0, 10.0])
    assert m == pytest.approx(-0.2 + 0.6 + 5.0)
    assert v == pytest.approx(0.2 * 1 + 0.3 * 4 + 0.5 * 100 - m**2)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (
            lambda: theory.moment_match_mixture(
                [0.5, 0.6], [[0.0], [1.0]], [[[1.0]], [[1.0]]]
            ),
            r"weights must be non-negative weights summing to 1",
        ),
        (
            lambda: theory.moment_match_mixture([1.0], [[0.0]], [[1.0]]),
            r"covs must be an array with 3 dimension",
        ),
        (
            lambda: theory.top_k_projection([0.5, 0.5], 0),
            r"k must be >= 1; got 0\. Pass an int >= 1",
        ),
        (
            lambda: theory.moment_match_categorical([0.5, 0.5], [1.0]),
            r"support must be 2 values, one per category",
        ),
    ],
)
def test_expressivity_closed_forms_reject_bad_input(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
