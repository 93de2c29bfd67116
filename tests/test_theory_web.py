"""Closed forms of ``collapse_jax.theory.web`` against NumPy oracles (WB-1 to WB-5).

Statistical checks simulate the web chains item by item in plain NumPy (float64, no
JAX, nothing shared with the library): each of the ``M`` items is synthetic with
probability ``s`` (a draw from the current model) or human (a draw from the truth),
the detector flags a synthetic item with probability ``r`` and a human one with
probability ``f``, and the model is refitted on the unflagged items (a generation
that keeps too few items to fit keeps its model, the convention of the closed
forms). Estimates are compared through ``tests.helpers.assert_within_se`` with ``K``
from the suite-wide budget and SEs over independent chains. Deterministic checks
tie the web chains to the library's other closed forms (SE-2, AL-3, BE-2, WF-3).
Proofs: ``proofs/wb-1-effective-share.md`` to ``proofs/wb-5-minority.md``.
About 70 statistical assertions in this module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import ArrayLike
from scipy.stats import binom

import jax

from collapse_jax import verify
from collapse_jax.theory import discrete as td
from collapse_jax.theory import minority_loss as tml
from collapse_jax.theory import mixing as tmx
from collapse_jax.theory import web as tw
from tests.helpers import assert_within_se, binomial_se, mean_and_se, module_seed

pytestmark = pytest.mark.statistical
X64 = pytest.mark.x64

P_STAR = np.array([0.5, 0.3, 0.2])
H_STAR = 1.0 - float(P_STAR @ P_STAR)


def _rng(name):
    return np.random.default_rng(module_seed(f"test_theory_web.{name}"))


def _provenance(rng, shape, s, r, f):
    """Per-item (synthetic, kept) masks: provenance first, then the detector."""
    synthetic = rng.random(shape) < s
    flagged = np.where(synthetic, rng.random(shape) < r, rng.random(shape) < f)
    return synthetic, ~flagged


def _categorical_chain(rng, p_star, m, gens, s, r, f, chains, p0=None):
    """``||p_t - p*||^2`` for ``t = 0..gens`` of the item-level web chain."""
    k = p_star.size
    p = np.tile(p_star if p0 is None else p0, (chains, 1))
    star_cdf = np.cumsum(p_star)
    out = [((p - p_star) ** 2).sum(1)]
    for _ in range(gens):
        synthetic, kept = _provenance(rng, (chains, m), s, r, f)
        u = rng.random((chains, m))
        own = (u[..., None] > np.cumsum(p, 1)[:, None, :]).sum(-1)
        human = (u[..., None] > star_cdf).sum(-1)
        x = np.minimum(np.where(synthetic, own, human), k - 1)
        counts = np.stack([((x == j) & kept).sum(1) for j in range(k)], 1)
        n = counts.sum(1, keepdims=True)
        p = np.where(n > 0, counts / np.maximum(n, 1), p)
        out.append(((p - p_star) ** 2).sum(1))
    return np.array(out), p


def _gaussian_chain(
    rng, m, gens, s, r, f, chains, ddof=1, mu0: ArrayLike = 0.0, var0: ArrayLike = 1.0
):
    """``(mu_t, sigma_t^2)`` for ``t = 0..gens``; truth N(0, 1)."""
    mu, sd = np.full(chains, mu0, float), np.full(chains, np.sqrt(var0), float)
    mus, vs = [mu], [sd**2]
    for _ in range(gens):
        synthetic, kept = _provenance(rng, (chains, m), s, r, f)
        z = rng.standard_normal((chains, m))
        x = np.where(synthetic, mu[:, None] + sd[:, None] * z, z)
        w = kept.astype(float)
        n = w.sum(1)
        fit = n >= 2
        mean = (w * x).sum(1) / np.maximum(n, 1)
        var = (w * (x - mean[:, None]) ** 2).sum(1) / (np.maximum(n, 2) - ddof)
        mu, sd = np.where(fit, mean, mu), np.where(fit, np.sqrt(var), sd)
        mus.append(mu)
        vs.append(sd**2)
    return np.array(mus), np.array(vs)


# ------------------------------------------------------------------------ WB-1 ---


def test_effective_share_formula_and_broadcasting():
    s = np.array([0.0, 0.3, 0.8, 1.0])
    got = tw.effective_share(s[:, None], np.array([0.0, 0.5, 0.9]), 0.2)
    a = s[:, None] * (1 - np.array([0.0, 0.5, 0.9]))
    np.testing.assert_allclose(got, a / (a + (1 - s[:, None]) * 0.8), rtol=1e-15)
    assert tw.effective_share(0.4, 0.0) == pytest.approx(0.4, abs=1e-15)
    assert tw.effective_share(0.4, 1.0) == 0.0
    assert tw.effective_share(1.0, 0.3, 0.5) == 1.0
    for nothing_kept in [(1.0, 1.0, 0.0), (0.0, 0.2, 1.0), (0.5, 1.0, 1.0)]:
        assert math.isnan(tw.effective_share(*nothing_kept))


@pytest.mark.parametrize("s,r,f", [(0.6, 0.5, 0.1), (0.9, 0.8, 0.3)])
def test_effective_share_is_the_kept_items_synthetic_frequency(s, r, f):
    rng = _rng(f"share{s}")
    synthetic, kept = _provenance(rng, 400_000, s, r, f)
    e = tw.effective_share(s, r, f)
    num_kept = int(kept.sum())
    assert_within_se(
        synthetic[kept].mean(), e, binomial_se(e, num_kept), what="P(synthetic | kept)"
    )


def test_kept_fraction_formula_and_frequency():
    s = np.array([0.0, 0.4, 1.0])
    np.testing.assert_allclose(
        tw.kept_fraction(s, 0.7, 0.2), s * 0.3 + (1 - s) * 0.8, rtol=1e-15
    )
    assert tw.kept_fraction(0.5, 0.8, 0.1) == pytest.approx(0.55, abs=1e-15)
    _, kept = _provenance(_rng("kept_fraction"), 200_000, 0.6, 0.5, 0.3)
    kappa = tw.kept_fraction(0.6, 0.5, 0.3)
    assert_within_se(kept.mean(), kappa, binomial_se(kappa, kept.size), what="kappa")


def test_kept_count_moments_against_the_simulated_count():
    m, s, r, f = 8, 0.7, 0.6, 0.2
    rng = _rng("kept")
    _, kept = _provenance(rng, (200_000, m), s, r, f)
    n = kept.sum(1)
    kappa, skip, nu = tw.kept_count_moments(m, s, r, f, min_kept=2)
    assert kappa == pytest.approx(s * (1 - r) + (1 - s) * (1 - f), abs=1e-15)
    assert_within_se((n < 2).mean(), skip, binomial_se(skip, n.size), what="P(n < 2)")
    est, se = mean_and_se(1.0 / n[n >= 2])
    assert_within_se(est, nu, se, what="E[1/n | n >= 2]")
    # Given n, the synthetic count among the kept items is Binomial(n, s_eff).
    synthetic, kept = _provenance(rng, (200_000, m), s, r, f)
    n = kept.sum(1)
    rows = n == 4
    e = tw.effective_share(s, r, f)
    est, se = mean_and_se((synthetic & kept)[rows].sum(1))
    assert_within_se(est, 4 * e, se, what="E[synthetic | n = 4]")


def test_kept_count_moments_edge_cases():
    kappa, skip, nu = tw.kept_count_moments(10, 0.5)
    assert (kappa, skip) == (1.0, 0.0)
    assert nu == pytest.approx(0.1, abs=1e-15)
    _, skip, nu = tw.kept_count_moments(10, 1.0, 1.0)
    assert skip == 1.0 and math.isnan(nu)
    # An explicit sum of the binomial law.
    pmf = binom.pmf(np.arange(11), 10, 0.35)
    _, skip, nu = tw.kept_count_moments(10, 0.5, 0.7, 0.0)  # kappa = 0.15 + 0.5
    pmf = binom.pmf(np.arange(11), 10, 0.65)
    assert skip == pytest.approx(pmf[0], rel=1e-12)
    assert nu == pytest.approx(np.sum(pmf[1:] / np.arange(1, 11)) / pmf[1:].sum())


# ------------------------------------------------------------------------ WB-2 ---

CAT_CASES = [
    # (M, s, r, f, p0)
    (20, 0.5, 0.5, 0.0, None),
    (5, 0.7, 0.3, 0.2, np.array([0.1, 0.1, 0.8])),
    (3, 0.9, 0.5, 0.5, None),  # P(n = 0) = 0.125: generations that keep the model
]


@pytest.mark.parametrize("case", range(len(CAT_CASES)))
def test_categorical_web_chain_matches_the_path(case):
    m, s, r, f, p0 = CAT_CASES[case]
    gens = 30
    d, _ = _categorical_chain(_rng(f"cat{case}"), P_STAR, m, gens, s, r, f, 12_000, p0)
    theory = tw.web_categorical_sq_error(P_STAR, m, gens, s, r, f, init_probs=p0)
    for t in (1, 3, 10, 30):
        est, se = mean_and_se(d[t])
        assert_within_se(
            est, theory[t], se, what=f"E||p_t - p*||^2, t={t}, case {case}"
        )


def test_categorical_stationary_gini_simpson():
    m, s, r, f = 10, 0.8, 0.25, 0.1
    _, p = _categorical_chain(_rng("catg"), P_STAR, m, 40, s, r, f, 12_000)
    d_inf, g_inf = tw.web_categorical_stationary(P_STAR, m, s, r, f)
    est, se = mean_and_se(1.0 - (p * p).sum(1))
    assert_within_se(est, g_inf, se, what="stationary Gini-Simpson")
    assert g_inf == pytest.approx(H_STAR - d_inf, abs=1e-15)


def test_categorical_stationary_is_the_limit_of_the_path():
    for m, s, r, f in [(20, 0.5, 0.5, 0.0), (3, 0.9, 0.5, 0.5), (50, 0.99, 0.0, 0.3)]:
        path = tw.web_categorical_sq_error(
            P_STAR, m, 4000, s, r, f, init_probs=[0.0, 0.0, 1.0]
        )
        d_inf, _ = tw.web_categorical_stationary(P_STAR, m, s, r, f)
        assert path[-1] == pytest.approx(d_inf, rel=1e-10)
        _, _, nu = tw.kept_count_moments(m, s, r, f)
        e = tw.effective_share(s, r, f)
        assert d_inf == pytest.approx(nu * H_STAR / (1 - e * e * (1 - nu)), rel=1e-13)


def test_categorical_special_cases():
    m = 25
    # s = 0, no detector: a fit on M human items, H/M every generation.
    np.testing.assert_allclose(
        tw.web_categorical_sq_error(P_STAR, m, 5, 0.0)[1:], H_STAR / m, rtol=1e-14
    )
    # s = 1, no detector: the replace chain, D_t = H - E H_t (WF-3) -> H.
    path = tw.web_categorical_sq_error(P_STAR, m, 40, 1.0)
    wf3 = [td.expected_gini_simpson(P_STAR, m, t) for t in range(41)]
    np.testing.assert_allclose(path, H_STAR - np.array(wf3), rtol=1e-12, atol=1e-15)
    assert tw.web_categorical_stationary(P_STAR, m, 1.0)[0] == pytest.approx(H_STAR)
    # A perfect watermark: only human items are fitted, nu H at once.
    # A generation that keeps nothing keeps p_0 = p* (probability skip).
    _, skip, nu = tw.kept_count_moments(m, 0.6, 1.0)
    np.testing.assert_allclose(
        tw.web_categorical_sq_error(P_STAR, m, 3, 0.6, 1.0)[1:],
        (1 - skip ** np.arange(1, 4)) * nu * H_STAR,
        rtol=1e-13,
    )
    # Nothing kept: the model never changes.
    np.testing.assert_allclose(
        tw.web_categorical_sq_error(P_STAR, m, 3, 1.0, 1.0, init_probs=[1, 0, 0]),
        float(((np.array([1, 0, 0]) - P_STAR) ** 2).sum()),
    )


def test_categorical_fixed_composition_is_se2_fresh():
    # n = 20 items, e = 0.25 synthetic: SE-2's fresh chain with N = 15 real and 5
    # synthetic draws, real fraction 0.75 (pooling), has D = (H/n)/(1 - e^2 + e/n);
    # the web chain's random composition gives (H/n)/(1 - e^2 + e^2/n): the extra
    # e(1 - e) D / n a generation of proofs/wb-2-categorical-web.md.
    n, e = 20, 0.25
    se2 = tmx.categorical_mixing_stationary_sq_error(P_STAR, 15, 5, regime="fresh")
    assert se2 == pytest.approx(H_STAR / n / (1 - e * e + e / n), rel=1e-13)
    web, _ = tw.web_categorical_stationary(P_STAR, n, e)
    assert web == pytest.approx(H_STAR / n / (1 - e * e + e * e / n), rel=1e-13)
    assert web - se2 == pytest.approx(
        e * (1 - e) * web / n / (1 - e * e + e / n), rel=1e-12
    )


# ------------------------------------------------------------------------ WB-3 ---

GAUSS_CASES = [
    # (M, s, r, f, ddof)
    (20, 0.5, 0.5, 0.0, 1),
    (6, 0.7, 0.3, 0.2, 0),
    (4, 0.6, 0.0, 0.3, 1),  # P(n < 2) = 0.08: generations that keep the model
]


@pytest.mark.parametrize("case", range(len(GAUSS_CASES)))
def test_gaussian_web_chain_matches_the_moments(case):
    m, s, r, f, ddof = GAUSS_CASES[case]
    gens = 20
    mu, var = _gaussian_chain(
        _rng(f"gauss{case}"), m, gens, s, r, f, 20_000, ddof, mu0=0.5, var0=2.0
    )
    estimator = "unbiased" if ddof else "mle"
    err, v = tw.web_gaussian_moments(
        m, gens, s, r, f, init_mean_error=0.5, init_variance=2.0, estimator=estimator
    )
    for t in (1, 3, 8, 20):
        est, se = mean_and_se(mu[t] ** 2)
        assert_within_se(est, err[t], se, what=f"E(mu_t - mu*)^2, t={t}, case {case}")
        est, se = mean_and_se(var[t])
        assert_within_se(est, v[t], se, what=f"E sigma_t^2, t={t}, case {case}")


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_gaussian_stationary_is_the_limit_of_the_path(estimator):
    for m, s, r, f in [(20, 0.5, 0.5, 0.0), (4, 0.6, 0.0, 0.3), (10, 0.9, 0.2, 0.1)]:
        err, v = tw.web_gaussian_moments(
            m, 3000, s, r, f, estimator=estimator, variance=2.0, init_mean_error=1.0
        )
        e_inf, v_inf = tw.web_gaussian_stationary_moments(
            m, s, r, f, estimator=estimator, variance=2.0
        )
        assert err[-1] == pytest.approx(e_inf, rel=1e-9)
        assert v[-1] == pytest.approx(v_inf, rel=1e-9)


def test_gaussian_stationary_closed_form_and_its_absence():
    m, s, r, f = 10, 0.9, 0.2, 0.1
    e = tw.effective_share(s, r, f)
    _, _, nu = tw.kept_count_moments(m, s, r, f, min_kept=2)
    e_inf, v_inf = tw.web_gaussian_stationary_moments(m, s, r, f, variance=3.0)
    assert e_inf == pytest.approx(3.0 * nu / (1 - e * e - nu * e), rel=1e-12)
    assert v_inf == pytest.approx(3.0 + e * e_inf, rel=1e-12)
    # Few human items kept: e^2 + nu e >= 1, no stationary moments; the exact path
    # grows without bound.
    assert tw.web_gaussian_stationary_moments(10, 0.95, 0.3) == (np.inf, np.inf)
    err, v = tw.web_gaussian_moments(10, 3000, 0.95, 0.3)
    assert err[-1] > 10 * err[100] > 0 and v[-1] > 10 * v[100]
    assert np.all(np.diff(err[1000:]) > 0)
    # s = 1 without a detector is the replace chain: E(mu_t - mu*)^2 = t sigma^2/M.
    err, v = tw.web_gaussian_moments(10, 5, 1.0)
    np.testing.assert_allclose(err, np.arange(6) / 10, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(v, 1.0, rtol=1e-13)


def test_gaussian_fixed_composition_is_al3_fresh():
    # One generation from (E, v): the web chain with n = 20 items, e = 0.25 (no
    # detector) against AL-3's fresh chain with N = 15 real and 5 synthetic draws,
    # pooled. They differ only by the composition term e(1 - e)E: + E/n in the mean
    # error, - E/(n - 1) in the variance (proofs/wb-3-gaussian-web.md).
    n, e, err0, v0 = 20, 0.25, 0.7, 1.6
    web_e, web_v = tw.web_gaussian_moments(
        n, 1, e, init_mean_error=err0, init_variance=v0
    )
    al3_e, al3_v = tmx.fresh_moments(15, 5, 1, init_mean_error=err0, init_variance=v0)
    comp = e * (1 - e) * err0**2
    assert web_e[1] == pytest.approx(al3_e[1] + comp / n, rel=1e-13)
    assert web_v[1] == pytest.approx(al3_v[1] - comp / (n - 1), rel=1e-13)


def test_population_limit_is_the_be2_toy_map():
    s, r, f = 0.8, 0.5, 0.2
    e = tw.effective_share(s, r, f)
    m, v = tw.web_population_path(1.5, 0.4, 30, s, r, f, mean=0.5, variance=2.0)
    mu, var = 1.5, 0.4
    for t in range(30):
        # The Gaussian fit of the mixture e N(mu, var) + (1 - e) N(0.5, 2).
        mu, var = (
            e * mu + (1 - e) * 0.5,
            e * var + (1 - e) * 2.0 + e * (1 - e) * (mu - 0.5) ** 2,
        )
        assert m[t + 1] == pytest.approx(mu, rel=1e-12)
        assert v[t + 1] == pytest.approx(var, rel=1e-12)
    toy_m, toy_v = tmx.stability_toy_path(
        1.5, 0.4, float(e / (1 - e)), 30, real_mean=0.5, real_variance=2.0
    )
    np.testing.assert_allclose(m, toy_m, rtol=1e-14)
    np.testing.assert_allclose(v, toy_v, rtol=1e-14)
    same_m, _ = tw.web_population_path(1.5, 0.4, 3, 1.0)
    np.testing.assert_allclose(same_m, 1.5)


# ---------------------------------------------------------- share schedules ---


def test_a_constant_schedule_is_the_constant_share():
    s = np.full(15, 0.7)
    for source in ("newest", "all"):
        np.testing.assert_allclose(
            tw.web_categorical_sq_error(P_STAR, 6, 15, s, 0.4, 0.1, source=source),
            tw.web_categorical_sq_error(P_STAR, 6, 15, 0.7, 0.4, 0.1, source=source),
            rtol=1e-14,
        )
        for a, b in zip(
            tw.web_gaussian_moments(6, 15, s, 0.4, 0.1, source=source),
            tw.web_gaussian_moments(6, 15, 0.7, 0.4, 0.1, source=source),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-14)


def test_the_regimes_schedule_object_gives_its_exact_curve():
    """The same ``cj.logistic_share`` / ``cj.linear_share`` object that a run takes
    gives the theory's curve: its shares at fits 0 .. n - 1, as inside the chain
    (a library run under a schedule against it: verify row WB-2s; the theory
    against item-level chains: the test below)."""
    import collapse_jax as cj

    n = 12
    t = np.arange(n)
    logistic = 0.1 + 0.8 / (1.0 + np.exp(-0.7 * (t - 4.0)))
    for schedule, shares in (
        (cj.logistic_share(4.0, 0.7, start=0.1, end=0.9), logistic),
        (cj.linear_share(0.2, 1.0), np.linspace(0.2, 1.0, n)),
    ):
        np.testing.assert_allclose(
            tw.web_categorical_sq_error(P_STAR, 6, n, schedule, 0.4, 0.1),
            tw.web_categorical_sq_error(P_STAR, 6, n, shares, 0.4, 0.1),
            rtol=1e-12,
        )
        for a, b in zip(
            tw.web_gaussian_moments(6, n, schedule, 0.4, 0.1),
            tw.web_gaussian_moments(6, n, shares, 0.4, 0.1),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def _ramp_chain_categorical(rng, m, shares, r, f, chains):
    p = np.tile(P_STAR, (chains, 1))
    out = [np.zeros(chains)]
    for s in shares:
        synthetic, kept = _provenance(rng, (chains, m), s, r, f)
        u = rng.random((chains, m))
        own = (u[..., None] > np.cumsum(p, 1)[:, None, :]).sum(-1)
        human = (u[..., None] > np.cumsum(P_STAR)).sum(-1)
        x = np.minimum(np.where(synthetic, own, human), 2)
        counts = np.stack([((x == j) & kept).sum(1) for j in range(3)], 1)
        n = counts.sum(1, keepdims=True)
        p = np.where(n > 0, counts / np.maximum(n, 1), p)
        out.append(((p - P_STAR) ** 2).sum(1))
    return np.array(out)


def test_a_share_schedule_matches_the_item_level_chains():
    # A linear ramp of the synthetic share from 0 to 1 (the replace chain at the
    # end), with a detector that keeps an eighth of the items at the top.
    gens, m, r, f = 16, 4, 0.5, 0.2
    shares = np.linspace(0.0, 1.0, gens)
    rng = _rng("schedule")
    d = _ramp_chain_categorical(rng, m, shares, r, f, 12_000)
    theory = tw.web_categorical_sq_error(P_STAR, m, gens, shares, r, f)
    mu, var = [np.zeros(12_000)], [np.ones(12_000)]
    for s in shares:
        m_t, v_t = _gaussian_chain(rng, 6, 1, s, r, f, 12_000, 1, mu[-1], var[-1])
        mu.append(m_t[-1])
        var.append(v_t[-1])
    err, v = tw.web_gaussian_moments(6, gens, shares, r, f)
    for t in (2, 8, 16):
        est, se = mean_and_se(d[t])
        assert_within_se(est, theory[t], se, what=f"ramp, E||p_t - p*||^2, t={t}")
        est, se = mean_and_se(mu[t] ** 2)
        assert_within_se(est, err[t], se, what=f"ramp, E(mu_t - mu*)^2, t={t}")
        est, se = mean_and_se(var[t])
        assert_within_se(est, v[t], se, what=f"ramp, E sigma_t^2, t={t}")


# --------------------------------------------------------------- source="all" ---


def _pool_draw(rng, t, chains, m):
    """Fit t's synthetic source: model 0 at t = 0, else uniform among 1 .. t."""
    if t == 0:
        return np.zeros((chains, m), int)
    return 1 + (rng.random((chains, m)) * t).astype(int)


def test_categorical_source_all_matches_the_path():
    # P(n = 0) = 1/16: generations that keep their model (the pool still grows).
    m, s, r, f, gens, chains = 4, 0.9, 0.5, 0.5, 12, 12_000
    rng = _rng("cat_all")
    k = P_STAR.size
    history = [np.tile(P_STAR, (chains, 1))]
    d = [np.zeros(chains)]
    for t in range(gens):
        synthetic, kept = _provenance(rng, (chains, m), s, r, f)
        pick = _pool_draw(rng, t, chains, m)
        cdf = np.cumsum(np.stack(history, 1), 2)  # (chains, t + 1, K)
        src = np.take_along_axis(cdf, np.repeat(pick[..., None], k, 2), 1)
        u = rng.random((chains, m))
        own = (u[..., None] > src).sum(-1)
        human = (u[..., None] > np.cumsum(P_STAR)).sum(-1)
        x = np.minimum(np.where(synthetic, own, human), k - 1)
        counts = np.stack([((x == j) & kept).sum(1) for j in range(k)], 1)
        n = counts.sum(1, keepdims=True)
        history.append(np.where(n > 0, counts / np.maximum(n, 1), history[-1]))
        d.append(((history[-1] - P_STAR) ** 2).sum(1))
    theory = tw.web_categorical_sq_error(P_STAR, m, gens, s, r, f, source="all")
    newest = tw.web_categorical_sq_error(P_STAR, m, gens, s, r, f)
    np.testing.assert_allclose(theory[:3], newest[:3], rtol=1e-13)  # pools {0}, {1}
    assert theory[-1] < newest[-1]
    for t in (1, 3, 6, 12):
        est, se = mean_and_se(d[t])
        assert_within_se(est, theory[t], se, what=f"source=all, E||p_t - p*||^2, t={t}")


@pytest.mark.parametrize("ddof", [1, 0])
def test_gaussian_source_all_matches_the_moments(ddof):
    # P(n < 2) = 0.07: generations that keep their model.
    m, s, r, f, gens, chains = 5, 0.8, 0.4, 0.3, 12, 12_000
    rng = _rng(f"gauss_all{ddof}")
    mus, sds = [np.zeros(chains)], [np.ones(chains)]
    for t in range(gens):
        synthetic, kept = _provenance(rng, (chains, m), s, r, f)
        pick = _pool_draw(rng, t, chains, m)
        z = rng.standard_normal((chains, m))
        own = (
            np.take_along_axis(np.stack(mus, 1), pick, 1)
            + np.take_along_axis(np.stack(sds, 1), pick, 1) * z
        )
        x = np.where(synthetic, own, z)
        w = kept.astype(float)
        n = w.sum(1)
        mean = (w * x).sum(1) / np.maximum(n, 1)
        var = (w * (x - mean[:, None]) ** 2).sum(1) / (np.maximum(n, 2) - ddof)
        mus.append(np.where(n >= 2, mean, mus[-1]))
        sds.append(np.where(n >= 2, np.sqrt(var), sds[-1]))
    estimator = "unbiased" if ddof else "mle"
    err, v = tw.web_gaussian_moments(
        m, gens, s, r, f, estimator=estimator, source="all"
    )
    for t in (1, 3, 6, 12):
        est, se = mean_and_se(mus[t] ** 2)
        assert_within_se(est, err[t], se, what=f"source=all, E(mu_t - mu*)^2, t={t}")
        est, se = mean_and_se(sds[t] ** 2)
        assert_within_se(est, v[t], se, what=f"source=all, E sigma_t^2, t={t}")
    if ddof == 0:  # MLE: the second moment about mu* is sigma^2 (WB-3 part 3)
        np.testing.assert_allclose(err + v, 1.0, rtol=1e-12)


# ------------------------------------------------------------------------ WB-4 ---


def test_error_factor_definition_and_leading_order():
    for m, s, r, f in [
        (50, 0.5, 0.0, 0.0),
        (200, 0.8, 0.6, 0.1),
        (1000, 0.3, 1.0, 0.2),
    ]:
        d, _ = tw.web_categorical_stationary(P_STAR, m, s, r, f)
        assert tw.web_error_factor(m, s, r, f) == pytest.approx(d / (H_STAR / m))
        err, _ = tw.web_gaussian_stationary_moments(m, s, r, f)
        assert tw.web_error_factor(m, s, r, f, family="gaussian") == pytest.approx(
            err * m
        )
        a, b = s * (1 - r), (1 - s) * (1 - f)
        lead = (a + b) / (b * (2 * a + b))
        assert tw.web_error_factor(m, s, r, f) == pytest.approx(lead, rel=5 / (m * b))
    assert tw.web_error_factor(30, 0.0) == pytest.approx(1.0, rel=1e-14)
    assert tw.web_error_factor(30, 0.0, family="gaussian") == pytest.approx(1.0)


def test_categorical_detection_raises_the_stationary_error():
    # WB-4: in the categorical chain, dropping synthetic items never lowers the
    # stationary squared error (exactly, on a grid of M, s, f).
    recalls = np.linspace(0, 1, 41)
    for m in (2, 5, 30, 300):
        for s in (0.1, 0.5, 0.9, 0.99):
            for f in (0.0, 0.3):
                factors = [tw.web_error_factor(m, s, r, f) for r in recalls]
                assert np.all(np.diff(factors) >= -1e-12), (m, s, f)


def test_recall_needed_solves_the_factor():
    # Gaussian, few human items: detection helps, and the factor is infinite on
    # a band of recalls (no stationary moments).
    r = tw.recall_needed(10.0, 10, 0.95, family="gaussian")
    assert tw.web_error_factor(10, 0.95, r, family="gaussian") == pytest.approx(10.0)
    below = np.linspace(0.0, r, 200)[:-1]
    assert all(tw.web_error_factor(10, 0.95, x, family="gaussian") > 10 for x in below)
    # Categorical: r = 0 is best; a reachable factor needs no detector.
    assert tw.recall_needed(1.5, 100, 0.5) == 0.0
    assert math.isnan(tw.recall_needed(1.2, 100, 0.5))
    # A larger false-positive rate needs a larger recall (Gaussian, M B < 1).
    r_f = tw.recall_needed(10.0, 10, 0.95, 0.1, family="gaussian")
    assert r_f > r


def test_human_share_to_zero():
    # f > 0, r < 1: e -> 1, the chain tends to the replace chain (D -> H).
    values = [
        tw.web_categorical_stationary(P_STAR, 20, s, 0.9, 0.1)[0]
        for s in (0.9, 0.999, 0.99999, 1.0)
    ]
    assert np.all(np.diff(values) > 0) and values[-1] == pytest.approx(H_STAR)
    # r = 1: only human items, about one of them kept when any: nu -> 1, D -> H.
    d, _ = tw.web_categorical_stationary(P_STAR, 20, 1 - 1e-7, 1.0, 0.1)
    assert d == pytest.approx(H_STAR, rel=1e-5)
    # Gaussian with r < 1: the stationary moments stop existing before s = 1.
    assert np.isinf(tw.web_gaussian_stationary_moments(20, 0.999, 0.9, 0.1)[0])


# ------------------------------------------------------------------------ WB-5 ---


def _neutral_group_chain(rng, p0, group, m, chains, max_gens=2000):
    """(vanished, generation of absorption) of a group in the neutral chain."""
    p = np.tile(p0, (chains, 1))
    absorbed = np.full(chains, -1)
    share = p[:, group].sum(1)
    for t in range(1, max_gens + 1):
        counts = rng.multinomial(m, p)
        p = counts / m
        share = p[:, group].sum(1)
        newly = (absorbed < 0) & ((share == 0) | (share == 1))
        absorbed[newly] = t
        if np.all(absorbed >= 0):
            break
    assert np.all(absorbed >= 0)
    return share == 0, absorbed


def test_minority_vanishes_with_one_minus_its_share_and_mean_time():
    p0 = np.array([0.04, 0.06, 0.3, 0.3, 0.3])  # a 90/10 population, group {0, 1}
    m, chains = 20, 20_000
    gone, when = _neutral_group_chain(_rng("minority"), p0, [0, 1], m, chains)
    x = 0.1
    prob = tw.minority_vanish_probability(x)
    assert prob == pytest.approx(0.9, abs=1e-15)
    assert_within_se(gone.mean(), prob, binomial_se(prob, chains), what="P(vanish)")
    est, se = mean_and_se(when[gone])
    exact = tw.minority_mean_time_to_loss(x, m, exact=True)
    assert_within_se(est, exact, se, what="E[T | loss], exact WF")
    est, se = mean_and_se(when)
    exact = tw.minority_mean_absorption_time(x, m, exact=True)
    assert_within_se(est, exact, se, what="E T, exact WF")


@pytest.mark.parametrize("m", [10, 30, 100, 300])
def test_diffusion_times_within_their_stated_accuracy(m):
    # proofs/wb-5-minority.md: for shares in [0.05, 0.95] the diffusion exceeds the
    # exact two-type chain by a relative error below log(M)/M.
    for x in (0.05, 0.1, 0.3, 0.5, 0.9):
        x = round(x * m) / m
        if not 0 < x < 1:
            continue
        for fn in (tw.minority_mean_time_to_loss, tw.minority_mean_absorption_time):
            exact, approx = fn(x, m, exact=True), fn(x, m)
            assert 0 < approx / exact - 1 <= math.log(m) / m, (fn.__name__, x, m)


def test_minority_functions_live_in_minority_loss_and_web_reexports_them():
    for name in tml.__all__:
        assert getattr(tw, name) is getattr(tml, name)
        assert name in tw.__all__


def test_minority_time_closed_forms():
    x = np.array([0.0, 0.2, 0.5])
    np.testing.assert_allclose(
        tw.minority_mean_time_to_loss(x, 50),
        [0.0, -100 * 0.2 * math.log(0.2) / 0.8, 100 * math.log(2)],
    )
    assert math.isnan(tw.minority_mean_time_to_loss(1.0, 50))
    np.testing.assert_allclose(
        tw.minority_mean_absorption_time([0.0, 0.5, 1.0], 50), [0, 100 * math.log(2), 0]
    )
    # Unconditional = (1 - x) E[T | loss] + x E[T | fixation], by symmetry.
    t_loss = tw.minority_mean_time_to_loss(0.3, 50, exact=True)
    t_fix = tw.minority_mean_time_to_loss(0.7, 50, exact=True)
    t_all = tw.minority_mean_absorption_time(0.3, 50, exact=True)
    assert t_all == pytest.approx(0.7 * t_loss + 0.3 * t_fix, rel=1e-10)
    np.testing.assert_allclose(tw.minority_vanish_probability([0.0, 0.25]), [1, 0.75])


# ---------------------------------------------------------------------- errors ---


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: tw.effective_share(1.2, 0.5), r"effective_share\(\): synthetic_share"),
        (lambda: tw.effective_share(0.5, -0.1), r"recall must be in \[0, 1\]"),
        (lambda: tw.effective_share(0.5, 0.1, 2), r"false_positive_rate must be"),
        (lambda: tw.kept_fraction(0.5, 1.5), r"kept_fraction\(\): recall must be in"),
        (
            lambda: tw.web_categorical_stationary(P_STAR, 10, [0.1, 0.2], 0.0),  # pyright: ignore[reportArgumentType]
            r"web_categorical_stationary\(\): synthetic_share must be one number",
        ),
        (
            lambda: tw.web_categorical_sq_error(P_STAR, 10, 5, 0.5, init_probs=[1, 0]),
            r"init_probs must be of shape \(3,\)",
        ),
        (
            lambda: tw.web_categorical_sq_error(P_STAR, 10, 5, [0.1, 0.2, 0.3]),
            r"synthetic_share must be one number or a sequence of num_generations=5",
        ),
        (
            lambda: tw.web_gaussian_moments(1, 5, 0.5),
            r"web_gaussian_moments\(\): sample_size",
        ),
        (
            lambda: tw.web_gaussian_moments(10, 5, 0.5, estimator="ols"),
            r"estimator must be",
        ),
        (
            lambda: tw.web_error_factor(10, 0.5, family="poisson"),
            r"web_error_factor\(\): family must be 'categorical' or 'gaussian'",
        ),
        (lambda: tw.recall_needed(0.5, 10, 0.5), r"recall_needed\(\): factor must be"),
        (
            lambda: tw.minority_vanish_probability(1.5),
            r"minority_vanish_probability\(\): share must be in \[0, 1\]",
        ),
        (
            lambda: tw.minority_mean_time_to_loss(0.1, 5000, exact=True),
            r"sample_size must be <= 4000 with exact=True",
        ),
        (
            lambda: tw.web_categorical_sq_error(P_STAR, 10, 5, 0.5, source="first"),
            r"web_categorical_sq_error\(\): source must be 'newest' or 'all'",
        ),
        (
            lambda: tw.web_gaussian_moments(
                10, 5, 0.5, init_mean_error=1, source="all"
            ),
            r"init_mean_error must be the default with source='all'",
        ),
        (
            lambda: tw.kept_count_moments(10, 0.5, min_kept=0),
            r"kept_count_moments\(\): min_kept must be",
        ),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numeric_share_is_a_type_error():
    with pytest.raises(
        TypeError, match=r"effective_share\(\): synthetic_share must be"
    ):
        tw.effective_share("x", 0.1)


# ---------------------------------------------------------------- verify rows ---

WB_ROWS = [c.id for c in verify.claims(quick=True) if c.id.startswith("WB-")]


def test_the_wb_rows_are_registered_before_the_monitoring_rows():
    ids = [c.id for c in verify.claims()]
    assert len(WB_ROWS) == 10 and ids[-1] == "MON-2"
    assert max(ids.index(i) for i in WB_ROWS) < ids.index("MON-1")
    for claim in verify.claims():
        if claim.id.startswith("WB-"):
            assert claim.proof.startswith("wb-"), claim.id


@pytest.mark.slow  # six chain programs: about a minute on two loaded cores
@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=X64)])
def test_the_wb_verify_rows_pass(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    with jax.numpy_dtype_promotion("standard"):
        rows = verify.run_claims(quick=True, only=WB_ROWS, dtype=dtype)
    failed = [(r.id, r.z, r.detail) for r in rows if not r.passed]
    assert not failed, failed
