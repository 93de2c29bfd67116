"""Closed forms of ``collapse_jax.theory.mixing`` against NumPy oracles.

Claims: LR-3 (Gaussian accumulation), BE-2 (stability toy map and bound), AL-3 and
the BE-2 finite-sample chain (Gaussian, fixed real set or fresh real data), SE-2 (b)
(categorical, fixed real set or fresh real data). Proofs: ``proofs/lr-3-gaussian-
accumulation.md``, ``proofs/be-2-stability-toy.md``, ``proofs/al-3-gaussian-mixing.md``,
``proofs/se-2-categorical-mixing.md``.

Two kinds of checks. Deterministic: published values (docs/theory.md LR-3 and BE-2,
independent float64 checks), independent computations (the moment match of a
two-component mixture, the explicit map iterated, explicit products and limits) at
float64 resolution. Statistical: plain NumPy simulations (float64, no JAX, no code in
common with the library) of the chains the closed forms describe, compared through
``tests.helpers.assert_within_se`` with ``K`` from the suite-wide budget; the SE is the
sample SE over independent chains. Raw second moments are tested at horizons where the
chains are light-tailed (accumulation and mixing pull the variance back; t <= M for the
replace limits). About 80 statistical assertions in this module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from collapse_jax import theory
from collapse_jax.theory import mixing as mx
from tests.helpers import assert_within_se, mean_and_se, module_seed

pytestmark = pytest.mark.statistical

# ------------------------------------------------------------------ LR-3, exact ---


def test_lr3_matches_reference_check_values():
    # docs/theory.md LR-3: the independent Monte Carlo check's values (M = 10).
    got_e = [mx.accumulate_squared_mean_error(10, n) for n in (1, 10, 200)]
    got_v = [mx.accumulate_variance(10, n) for n in (1, 10, 200)]
    assert [round(x, 3) for x in got_e] == [0.100, 0.154, 0.162]
    assert [round(x, 3) for x in got_v] == [1.0, 0.944, 0.936]
    assert mx.accumulate_mean_error_bound(10) == pytest.approx(math.pi**2 / 60, 1e-15)


def test_lr3_matches_the_reference_loop():
    # The reference script's recursion, written out independently.
    m, sigma2 = 7, 2.5
    e_var, e_mu2 = sigma2, 0.0
    for t in range(1, 60):
        e_mu2 += e_var / (m * t**2)
        e_var = sigma2 if t == 1 else e_var * (1 - 1 / (t * (t * m - 1)))
        assert mx.accumulate_squared_mean_error(m, t, variance=sigma2) == pytest.approx(
            e_mu2, rel=1e-13
        )
        assert mx.accumulate_variance(m, t, variance=sigma2) == pytest.approx(
            e_var, rel=1e-13
        )


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
@pytest.mark.parametrize("m", [2, 3, 10, 50])
def test_lr3_bound_monotonicity_and_limit(m, estimator):
    n = 20_000
    e = [mx.accumulate_squared_mean_error(m, k, estimator=estimator) for k in (1, 5, n)]
    v = [mx.accumulate_variance(m, k, estimator=estimator) for k in (1, 5, n)]
    bound = mx.accumulate_mean_error_bound(m)
    assert e[0] < e[1] < e[2] <= bound
    assert v[0] >= v[1] >= v[2] > 0
    limit = mx.accumulate_variance_limit(m, estimator=estimator)
    # The tail of the product beyond n is 1 - O(1/(M n)).
    assert v[2] == pytest.approx(limit, rel=2.0 / (m * n))
    assert v[2] >= limit


def test_lr3_mle_limit_is_sinc():
    m = 10
    assert mx.accumulate_variance_limit(m, estimator="mle") == pytest.approx(
        np.prod([1 - 1 / (k * k * m) for k in range(1, 2_000_000)]), rel=1e-6
    )


def test_lr3_schedule_equals_constant_and_first_step_is_gc():
    assert mx.accumulate_variance([6] * 9, 9) == mx.accumulate_variance(6, 9)
    # One fit = the replace chain's first fit (GC-2, GC-5).
    for est in ("unbiased", "mle"):
        assert mx.accumulate_variance(8, 1, estimator=est) == pytest.approx(
            theory.expected_variance(8, 1, estimator=est)
        )
        assert mx.accumulate_squared_mean_error(8, 1, estimator=est) == pytest.approx(
            theory.expected_squared_mean_error(8, 1, estimator=est)
        )


def _accumulate_mc(rng, schedule, chains, ddof):
    """NumPy accumulation chain from raw draws: returns mean, var after each fit."""
    s1 = np.zeros(chains)
    s2 = np.zeros(chains)
    cnt = 0
    mu, var = np.zeros(chains), np.ones(chains)
    out = []
    for m in schedule:
        x = mu[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((chains, m))
        s1 += x.sum(axis=1)
        s2 += (x**2).sum(axis=1)
        cnt += m
        mu = s1 / cnt
        var = (s2 - cnt * mu**2) / (cnt - ddof)
        out.append((mu.copy(), var.copy()))
    return out


@pytest.mark.parametrize(
    ("schedule", "estimator"),
    [
        ((5,) * 12, "unbiased"),
        ((5,) * 12, "mle"),
        ((3, 4, 6, 9, 12, 16, 20), "unbiased"),
    ],
)
def test_lr3_monte_carlo(schedule, estimator):
    chains = 40_000
    seed = module_seed(f"test_mixing.lr3.{schedule}.{estimator}")
    rng = np.random.default_rng(seed)
    ddof = 1 if estimator == "unbiased" else 0
    path = _accumulate_mc(rng, schedule, chains, ddof)
    for n in (1, len(schedule) // 2, len(schedule)):
        mu, var = path[n - 1]
        est, se = mean_and_se(mu**2)
        assert_within_se(
            est,
            mx.accumulate_squared_mean_error(list(schedule), n, estimator=estimator),
            se,
            what=f"LR-3 E(mu_n - mu)^2, {schedule}, n={n}, {estimator}",
            seed=seed,
        )
        est, se = mean_and_se(var)
        assert_within_se(
            est,
            mx.accumulate_variance(list(schedule), n, estimator=estimator),
            se,
            what=f"LR-3 E sigma_n^2, {schedule}, n={n}, {estimator}",
            seed=seed,
        )


# ------------------------------------------------------------------ BE-2 toy map ---


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.45, 1.0, 2.0, 10.0])
def test_be2_toy_map_is_the_moment_match_of_the_mixture(lam):
    mu, var, mu_s, var_s = 3.0, 5.0, -0.5, 1.7
    got = mx.stability_toy_map(mu, var, lam, real_mean=mu_s, real_variance=var_s)
    w = 1.0 / (1.0 + lam)
    m, s = theory.moment_match_mixture(
        [w, 1.0 - w], [[mu_s], [mu]], [[[var_s]], [[var]]]
    )
    assert got[0] == pytest.approx(float(m[0]), abs=1e-13)
    assert got[1] == pytest.approx(float(s[0, 0]), abs=1e-13)


@pytest.mark.parametrize("lam", [0.25, 0.45, 2.0, 10.0])
def test_be2_toy_path_and_contraction(lam):
    # docs/theory.md BE-2's independent numerical check: start (3, 5), truth N(0, 1),
    # 30 iterations.
    gens = 30
    means, variances = mx.stability_toy_path(3.0, 5.0, lam, gens)
    mu, v = 3.0, 5.0
    for t in range(1, gens + 1):
        mu, v = mx.stability_toy_map(mu, v, lam)
        assert means[t] == pytest.approx(mu, abs=1e-12)
        assert variances[t] == pytest.approx(v, abs=1e-12)
    ratio = means[-1] / means[-2]
    assert ratio == pytest.approx(mx.toy_mean_contraction(lam), abs=1e-12)
    assert ratio == pytest.approx(lam / (1 + lam), abs=1e-12)
    if lam < 0.5:
        assert ratio <= mx.stability_bound(lam)
    # Fixed point (mu*, sigma*^2) is globally stable for every lambda.
    far_m, far_v = mx.stability_toy_path(40.0, 1e-3, lam, 400)
    assert abs(far_m[-1]) < 1e-10 and far_v[-1] == pytest.approx(1.0, abs=1e-9)


def test_be2_stability_bound():
    assert mx.stability_bound(0.0) == 0.0
    assert mx.stability_bound(0.25) == pytest.approx(1 / 3, abs=1e-15)
    assert mx.stability_bound(0.499) < 1.0
    # General form: kappa = alpha + eps L.
    assert mx.stability_bound(
        0.1, epsilon=0.5, lipschitz=2.0, strong_concavity=4.0
    ) == pytest.approx(0.1 * 5 / (4 - 0.1 * 5), abs=1e-15)
    with pytest.raises(ValueError, match=r"stability_bound\(\): synthetic_ratio must"):
        mx.stability_bound(0.5)
    with pytest.raises(ValueError, match="λ\\(1 \\+ Lε/α\\) < 1/2"):
        mx.stability_bound(0.3, epsilon=1.0, lipschitz=1.0)


# ---------------------------------------------------- Gaussian fixed / fresh data ---


def test_mixing_weights_follow_the_regime_convention():
    assert mx.mixing_weights(10, 40) == (1.0, 1.0)
    assert mx.mixing_weights(10, 40, 0.5) == (1.0, 0.25)
    assert mx.mixing_weights(40, 10, 0.5) == (0.25, 1.0)
    assert mx.mixing_weights(10, 40, 0.2) == (1.0, 1.0)  # the pooled share
    assert mx.mixing_weights(10, 40, 0.0) == (0.0, 1.0)
    assert mx.mixing_weights(10, 40, 1.0) == (1.0, 0.0)
    for f in (0.05, 0.3, 0.9):
        a, b = mx.mixing_weights(7, 13, f)
        assert a * 7 / (a * 7 + b * 13) == pytest.approx(f, abs=1e-15)
        assert max(a, b) == 1.0


def _weighted_fit(xr, xs, a, b, ddof):
    w = a * xr.shape[1] + b * xs.shape[1]
    mean = (a * xr.sum(1) + b * xs.sum(1)) / w
    ss = a * ((xr - mean[:, None]) ** 2).sum(1) + b * ((xs - mean[:, None]) ** 2).sum(1)
    return mean, ss / (w - ddof)


def _mix_mc(rng, chains, n, m, gens, *, fresh, real_fraction, ddof, real=None):
    """NumPy chain: N real (fixed ``real`` or fresh N(0, 1)) + M synthetic draws."""
    a, b = mx.mixing_weights(n, m, real_fraction)
    mu, var = np.zeros(chains), np.ones(chains)
    path = [(mu, var)]
    for _ in range(gens):
        xr = (
            rng.standard_normal((chains, n))
            if fresh
            else np.broadcast_to(real, (chains, n))
        )
        xs = mu[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((chains, m))
        mu, var = _weighted_fit(xr, xs, a, b, ddof)
        path.append((mu, var))
    return path


_MIX_CASES = [
    # (n, m, real_fraction, estimator)
    (10, 5, None, "unbiased"),
    (6, 12, None, "mle"),
    (10, 20, 0.5, "unbiased"),
    (20, 4, 0.3, "unbiased"),
]


@pytest.mark.parametrize(("n", "m", "f", "estimator"), _MIX_CASES)
def test_fixed_real_moments_monte_carlo(n, m, f, estimator):
    seed = module_seed(f"test_mixing.fixed.{n}.{m}.{f}.{estimator}")
    rng = np.random.default_rng(seed)
    ddof = 1 if estimator == "unbiased" else 0
    real = rng.standard_normal(n) * 1.3 + 0.4
    m_r = real.mean()
    s_r = ((real - m_r) ** 2).sum() / (n - ddof)
    gens = 25
    path = _mix_mc(
        rng, 30_000, n, m, gens, fresh=False, real_fraction=f, ddof=ddof, real=real
    )
    e, v = mx.fixed_real_moments(
        n,
        m,
        gens,
        real_mean=m_r,
        real_variance=s_r,
        real_fraction=f,
        estimator=estimator,
    )
    for t in (1, 3, gens):
        mu, var = path[t]
        for stat, want, name in (
            ((mu - m_r) ** 2, e[t], "E(mu-m_R)^2"),
            (var, v[t], "E s^2"),
        ):
            est, se = mean_and_se(stat)
            assert_within_se(
                est, want, se, what=f"fixed {name} t={t} {n, m, f}", seed=seed
            )


@pytest.mark.parametrize(("n", "m", "f", "estimator"), _MIX_CASES)
def test_fresh_moments_monte_carlo(n, m, f, estimator):
    seed = module_seed(f"test_mixing.fresh.{n}.{m}.{f}.{estimator}")
    rng = np.random.default_rng(seed)
    ddof = 1 if estimator == "unbiased" else 0
    gens = 25
    path = _mix_mc(rng, 30_000, n, m, gens, fresh=True, real_fraction=f, ddof=ddof)
    e, v = mx.fresh_moments(n, m, gens, real_fraction=f, estimator=estimator)
    for t in (1, 3, gens):
        mu, var = path[t]
        for stat, want, name in ((mu**2, e[t], "E(mu-mu*)^2"), (var, v[t], "E s^2")):
            est, se = mean_and_se(stat)
            assert_within_se(
                est, want, se, what=f"fresh {name} t={t} {n, m, f}", seed=seed
            )


@pytest.mark.parametrize(("n", "m", "f", "estimator"), _MIX_CASES)
@pytest.mark.parametrize("regime", ["fixed", "fresh"])
def test_stationary_moments_are_the_limit_of_the_paths(n, m, f, estimator, regime):
    e_inf, v_inf = mx.mixing_stationary_moments(
        n, m, regime=regime, variance=1.7, real_fraction=f, estimator=estimator
    )
    if regime == "fresh":
        e, v = mx.fresh_moments(
            n,
            m,
            3000,
            variance=1.7,
            init_mean_error=5.0,
            real_fraction=f,
            estimator=estimator,
        )
    else:
        e, v = mx.fixed_real_moments(
            n,
            m,
            3000,
            real_variance=1.7,
            init_mean=5.0,
            real_fraction=f,
            estimator=estimator,
        )
    assert e[-1] == pytest.approx(e_inf, rel=1e-10)
    assert v[-1] == pytest.approx(v_inf, rel=1e-10)


@pytest.mark.parametrize(
    ("n", "m", "f", "estimator"),
    [*_MIX_CASES, (1, 9, None, "mle"), (3, 50, 0.02, "unbiased")],
)
def test_spectral_radius_is_below_the_lyapunov_rate(n, m, f, estimator):
    # proofs/al-3-gaussian-mixing.md part 1: rho(A) <= (1 - f) W / (W - ddof).
    ddof = 1 if estimator == "unbiased" else 0
    a, b = mx.mixing_weights(n, m, f)
    w = a * n + b * m
    for q, ss in ((0.0, 1.0), (0.1, 2.0)):
        mat, _ = mx._gauss_mix_system(n, m, a, b, ddof, q, ss)
        radius = np.max(np.abs(np.linalg.eigvals(mat)))
        kappa = (1 - a * n / w) * w / (w - ddof)
        assert radius <= kappa + 1e-15
        if a * n > ddof:
            assert kappa < 1


def test_fixed_real_pooled_stationary_variance_formula():
    for n, m in ((20, 5), (10, 10), (4, 40)):
        _, v = mx.mixing_stationary_moments(n, m, regime="fixed", variance=1.0)
        want = (n - 1) * (n + m) / (n * (n + m - 1) - m**2 / (n + 2 * m))
        assert v == pytest.approx(want, rel=1e-12)


def test_limits_real_fraction_zero_is_replace_and_one_is_real_only():
    # f = 0: the replace chain (GC-5, GC-2), for both regimes.
    for regime_fn in (mx.fresh_moments, mx.fixed_real_moments):
        e, v = regime_fn(10, 8, 6, real_fraction=0.0)
        assert e[6] == pytest.approx(
            theory.expected_squared_mean_error(8, 6), rel=1e-13
        )
        assert v[6] == pytest.approx(theory.expected_variance(8, 6), rel=1e-13)
    # f = 1, fixed: the fit of the real set, at once and for good.
    e, v = mx.fixed_real_moments(
        10, 8, 5, real_mean=0.3, real_variance=2.0, init_mean=1.0, real_fraction=1.0
    )
    assert np.allclose(e[1:], 0.0) and np.allclose(v[1:], 2.0, rtol=1e-14)
    with pytest.raises(ValueError, match="real_fraction must be > 0"):
        mx.mixing_stationary_moments(10, 8, real_fraction=0.0)


@pytest.mark.parametrize("lam", [0.5, 1.0, 4.0])
def test_fresh_known_variance_closed_form(lam):
    n = 10
    m = int(lam * n)
    got = mx.fresh_known_variance_stationary_error(n, m)
    assert got == pytest.approx((1 + lam) / (n * (1 + 2 * lam)), rel=1e-13)
    # Monte Carlo of the AL-3 setting itself (variance known, only the mean refit).
    seed = module_seed(f"test_mixing.al3.known.{lam}")
    rng = np.random.default_rng(seed)
    chains, gens = 40_000, 60
    mu = np.zeros(chains)
    for _ in range(gens):
        xr = rng.standard_normal((chains, n)).sum(1)
        xs = (mu[:, None] + rng.standard_normal((chains, m))).sum(1)
        mu = (xr + xs) / (n + m)
    est, se = mean_and_se(mu**2)
    # After 60 steps the transient (1-f)^(2t) is below 1e-9 for lam <= 4 (f >= 0.2).
    assert_within_se(est, got, se, what=f"AL-3 known variance, lam={lam}", seed=seed)


# ----------------------------------------------------------------- categorical ---

_P = np.array([0.5, 0.3, 0.2])


def _cat_mc(rng, chains, n, m, gens, *, fresh, real_fraction, p_ref, p0):
    a, b = mx.mixing_weights(n, m, real_fraction)
    w = a * n + b * m
    p = np.broadcast_to(p0, (chains, p0.size)).copy()
    out = [p]
    for _ in range(gens):
        syn = _multinomial(rng, m, p)
        real = rng.multinomial(n, p_ref, size=chains) if fresh else n * p_ref
        p = (a * real + b * syn) / w
        out.append(p)
    return out


def _multinomial(rng, m, p):
    # Row-wise multinomial through conditional binomials (vectorised over chains).
    counts = np.zeros_like(p)
    left = np.full(p.shape[0], m)
    rest = np.ones(p.shape[0])
    for j in range(p.shape[1] - 1):
        q = np.clip(np.where(rest > 0, p[:, j] / np.where(rest > 0, rest, 1), 0), 0, 1)
        counts[:, j] = rng.binomial(left, q)
        left = left - counts[:, j].astype(np.int64)
        rest = rest - p[:, j]
    counts[:, -1] = left
    return counts


@pytest.mark.parametrize(
    ("regime", "n", "m", "f"),
    [
        ("fixed", 20, 20, None),
        ("fresh", 10, 30, None),
        ("fixed", 5, 15, 0.6),
        ("fresh", 8, 8, 0.25),
    ],
)
def test_categorical_mixing_monte_carlo(regime, n, m, f):
    seed = module_seed(f"test_mixing.cat.{regime}.{n}.{m}.{f}")
    rng = np.random.default_rng(seed)
    p0 = np.array([0.2, 0.2, 0.6])  # start away from the reference
    gens = 30
    path = _cat_mc(
        rng,
        30_000,
        n,
        m,
        gens,
        fresh=regime == "fresh",
        real_fraction=f,
        p_ref=_P,
        p0=p0,
    )
    d = mx.categorical_mixing_sq_error(
        _P, n, m, gens, regime=regime, init_probs=p0, real_fraction=f
    )
    for t in (1, 4, gens):
        est, se = mean_and_se(((path[t] - _P) ** 2).sum(1))
        assert_within_se(
            est, d[t], se, what=f"SE-2 {regime} D_{t} {n, m, f}", seed=seed
        )
    long = mx.categorical_mixing_sq_error(
        _P, n, m, 3000, regime=regime, init_probs=p0, real_fraction=f
    )
    assert long[-1] == pytest.approx(
        mx.categorical_mixing_stationary_sq_error(
            _P, n, m, regime=regime, real_fraction=f
        ),
        rel=1e-12,
    )


def test_categorical_no_real_data_is_wright_fisher():
    # f = 0: D_t = H - E H_t = H (1 - (1 - 1/M)^t) (WF-3), limit H.
    h = 1 - float(_P @ _P)
    d = mx.categorical_mixing_sq_error(_P, 5, 12, 40, real_fraction=0.0)
    for t in (1, 10, 40):
        assert d[t] == pytest.approx(
            h - theory.expected_gini_simpson(_P, 12, t), rel=1e-12
        )
    assert mx.categorical_mixing_stationary_sq_error(_P, 5, 12, real_fraction=0.0) == (
        pytest.approx(h, rel=1e-14)
    )
    assert mx.categorical_mixing_stationary_sq_error(_P, 10, 30) < 0.1 * h


# ---------------------------------------------------------------- validation ---


def test_error_messages():
    with pytest.raises(ValueError, match=r"accumulate_variance\(\): sample_size"):
        mx.accumulate_variance(1, 3)
    with pytest.raises(
        ValueError, match=r"fresh_moments\(\): real_fraction must be in"
    ):
        mx.fresh_moments(10, 10, 3, real_fraction=1.5)
    with pytest.raises(ValueError, match=r"mixing_stationary_moments\(\): regime"):
        mx.mixing_stationary_moments(10, 10, regime="accumulate")
    with pytest.raises(ValueError, match=r"categorical_mixing_sq_error\(\): ref_probs"):
        mx.categorical_mixing_sq_error([0.5, 0.6], 10, 10, 3)
    with pytest.raises(ValueError, match=r"init_probs must be of shape"):
        mx.categorical_mixing_sq_error(_P, 10, 10, 3, init_probs=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"stability_toy_map\(\): synthetic_ratio"):
        mx.stability_toy_map(0.0, 1.0, -1.0)
    with pytest.raises(ValueError, match=r"toy_mean_contraction\(\): synthetic_ratio"):
        mx.toy_mean_contraction(float("nan"))
