"""The library's regime chains against the exact and qualitative results of §11.

Claims: LR-3 (``accumulate``: the recursion for E(mu_n - mu)^2 and E sigma_n^2, the
pi^2 sigma^2/(6M) bound, the contrast with ``replace``), BE-2 finite sample (``mix``
with a fixed real set, lambda < 1/2), AL-3 (``fresh``), SE-2 (b) (categorical, fixed
real set and fresh real data; no real data tends to H = 1 - ||p*||^2), BO-1 (the two
regimes). Closed forms: ``collapse_jax.theory.mixing`` (proofs/lr-3-gaussian-
accumulation.md, proofs/al-3-gaussian-mixing.md, proofs/se-2-categorical-mixing.md).

Budget: every statistical assertion goes through ``tests.helpers.assert_within_se``
(two-sided, ``K`` = 4.90 from the suite-wide budget in ``tests/helpers.py``) or a
one-sided comparison at the same ``K``; SEs are sample SEs over independent chains.
Plateau tests (docs/theory.md §12.1) compare two horizons t1 < t2 through the per-chain
differences X_i(t2) - X_i(t1) (mean 0 within K SE of the differences), and besides
test the exact stationary recursions of ``theory.mixing`` at both horizons. Raw second
moments are light-tailed here: with real data (or accumulation) the variance is pulled
back every generation; the replace contrast is tested at n = M (docs/theory.md §12.3);
70 statistical assertions. Seeds: ``module_seed`` per shared run.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import theory as th
from tests.helpers import ASSERTION_COUNT, K, assert_within_se, mean_and_se, module_seed

pytestmark = pytest.mark.statistical

UNIT = cj.gaussian_params(0.0, 1.0)
P_STAR = np.array([0.5, 0.3, 0.2])
H_STAR = 1.0 - float(P_STAR @ P_STAR)


def _run(family, init, regime, *, name, chains, gens, size, metrics):
    seed = module_seed(f"test_mixing_chains.{name}")
    res = cj.run_chains(
        family,
        init,
        key=seed,
        num_chains=chains,
        num_generations=gens,
        sample_size=size,
        regime=regime,
        dtype="float32",
        metrics=metrics,
        record_params=False,
    )
    return res, seed


def _gauss(regime, *, name, chains, gens, size):
    res, seed = _run(
        cj.gaussian(),
        UNIT,
        regime,
        name=name,
        chains=chains,
        gens=gens,
        size=size,
        metrics=["mean", "log_var"],
    )
    mu = res.metrics["mean"][:, :, 0].astype(np.float64)
    var = np.exp(res.metrics["log_var"][:, :, 0].astype(np.float64))
    return mu, var, seed


def _at_most(est, bound, se, *, what, seed):
    """One-sided: ``est <= bound + K se`` (counted in the budget)."""
    ASSERTION_COUNT[0] += 1
    assert est <= bound + K * se, f"{what}: {est} > {bound} + {K} * {se} (seed {seed})"


def _assert_plateau(x1, x2, *, what, seed):
    """Per-chain differences between two horizons have mean 0 (docs/theory.md §12.1)."""
    est, se = mean_and_se(x2 - x1)
    assert_within_se(est, 0.0, se, what=f"plateau {what}", seed=seed)


# ----------------------------------------------------------------------- LR-3 ---

LR3_M, LR3_N, LR3_CHAINS = 10, 20, 2**16


@functools.cache
def _lr3(regime_name):
    regime = cj.accumulate() if regime_name == "accumulate" else cj.replace()
    return _gauss(
        regime, name=f"lr3.{regime_name}", chains=LR3_CHAINS, gens=LR3_N, size=LR3_M
    )


@pytest.mark.parametrize("n", [1, 5, LR3_N])
def test_lr3_accumulate_matches_the_recursion(n):
    mu, var, seed = _lr3("accumulate")
    est, se = mean_and_se(mu[:, n] ** 2)
    assert_within_se(
        est,
        th.accumulate_squared_mean_error(LR3_M, n),
        se,
        what=f"LR-3 E(mu_n - mu)^2, M={LR3_M}, n={n}",
        seed=seed,
    )
    est, se = mean_and_se(var[:, n])
    assert_within_se(
        est,
        th.accumulate_variance(LR3_M, n),
        se,
        what=f"LR-3 E sigma_n^2, M={LR3_M}, n={n}",
        seed=seed,
    )


def test_lr3_accumulate_is_below_the_bound_and_replace_is_not():
    mu, _, seed = _lr3("accumulate")
    bound = th.accumulate_mean_error_bound(LR3_M)
    est, se = mean_and_se(mu**2)  # every generation at once
    worst = int(np.argmax((est - bound) / np.maximum(se, 1e-300)))
    _at_most(est[worst], bound, se[worst], what=f"LR-3 bound at n={worst}", seed=seed)
    # replace, n = M (raw moments only up to n = M): sigma^2 n/M = 1, far above it.
    mu_r, _, seed_r = _lr3("replace")
    est_r, se_r = mean_and_se(mu_r[:, LR3_M] ** 2)
    assert_within_se(
        est_r,
        th.expected_squared_mean_error(LR3_M, LR3_M),
        se_r,
        what="replace E(mu_M - mu)^2 = sigma^2",
        seed=seed_r,
    )
    ASSERTION_COUNT[0] += 1
    assert est_r - K * se_r > 5 * bound


# ------------------------------------------------------- BE-2 finite sample ---

BE2_N, BE2_CHAINS, BE2_T1, BE2_T2 = 20, 2**15, 20, 40
# A fixed real set, shared by every chain (drawn once, from N(0.3, 1.2^2)).
BE2_REAL = np.random.default_rng(20240724).normal(0.3, 1.2, BE2_N)


@functools.cache
def _be2(lam):
    size = round(lam * BE2_N)
    regime = cj.mix(real_data=BE2_REAL.astype(np.float32)[:, None])  # (N, 1)
    mu, var, seed = _gauss(
        regime, name=f"be2.{lam}", chains=BE2_CHAINS, gens=BE2_T2, size=size
    )
    return mu, var, seed, size


def _real_fit():
    real = BE2_REAL.astype(np.float32).astype(np.float64)
    return real.mean(), real.var(ddof=1)


@pytest.mark.parametrize("lam", [0.25, 0.45])
def test_be2_fixed_real_set_plateau(lam):
    mu, var, seed, size = _be2(lam)
    m_r, s_r = _real_fit()
    err = (mu - m_r) ** 2 + (
        var - s_r
    ) ** 2  # ||theta_t - theta*||^2, theta = (mu, s^2)
    _assert_plateau(err[:, BE2_T1], err[:, BE2_T2], what=f"BE-2 lam={lam}", seed=seed)
    e, v = th.fixed_real_moments(BE2_N, size, BE2_T2, real_mean=m_r, real_variance=s_r)
    for t in (1, BE2_T1, BE2_T2):
        est, se = mean_and_se((mu[:, t] - m_r) ** 2)
        assert_within_se(est, e[t], se, what=f"BE-2 E(mu_t - m_R)^2 t={t}", seed=seed)
        est, se = mean_and_se(var[:, t])
        assert_within_se(est, v[t], se, what=f"BE-2 E sigma_t^2 t={t}", seed=seed)


# ----------------------------------------------------------------------- AL-3 ---

AL3_N, AL3_CHAINS, AL3_T1, AL3_T2 = 10, 2**14, 30, 60


@functools.cache
def _al3(lam, real_fraction):
    size = round(lam * AL3_N)
    regime = cj.fresh(AL3_N, real_fraction=real_fraction)
    mu, var, seed = _gauss(
        regime,
        name=f"al3.{lam}.{real_fraction}",
        chains=AL3_CHAINS,
        gens=AL3_T2,
        size=size,
    )
    return mu, var, seed, size


@pytest.mark.parametrize(
    ("lam", "f"), [(0.5, None), (1.0, None), (4.0, None), (3.0, 0.5)]
)
def test_al3_fresh_data_plateau(lam, f):
    mu, var, seed, size = _al3(lam, f)
    err = mu**2
    _assert_plateau(err[:, AL3_T1], err[:, AL3_T2], what=f"AL-3 lam={lam}", seed=seed)
    e, v = th.fresh_moments(AL3_N, size, AL3_T2, real_fraction=f)
    e_inf, _ = th.mixing_stationary_moments(AL3_N, size, real_fraction=f)
    assert e[AL3_T1] == pytest.approx(e_inf, rel=1e-3)  # stationary by t1
    for t in (1, AL3_T1, AL3_T2):
        est, se = mean_and_se(mu[:, t] ** 2)
        assert_within_se(est, e[t], se, what=f"AL-3 E(mu_t - mu*)^2 t={t}", seed=seed)
        est, se = mean_and_se(var[:, t])
        assert_within_se(est, v[t], se, what=f"AL-3 E sigma_t^2 t={t}", seed=seed)
    # Far below replace with the same per-generation sample size at t2.
    est, se = mean_and_se(err[:, AL3_T2])
    replace = th.expected_squared_mean_error(AL3_N + size, AL3_T2)
    _at_most(est, replace / 10, se, what="AL-3 << replace", seed=seed)


# ----------------------------------------------------------------------- SE-2 ---

SE2_CHAINS, SE2_T1, SE2_T2 = 2**14, 25, 50
# (i) a fixed real set of N = 20 category indices (empirical p_R), n_s = 20.
SE2_REAL = np.random.default_rng(7).choice(3, size=20, p=P_STAR).astype(np.int32)
SE2_P_R = np.bincount(SE2_REAL, minlength=3) / SE2_REAL.size


@functools.cache
def _cat(kind):
    regime = {
        "fixed": cj.mix(real_data=SE2_REAL),
        "d0": cj.mix(),
        "fresh": cj.fresh(10),
        "none": cj.replace(),
    }[kind]
    size = {"fresh": 30, "none": 5}.get(kind, 20)
    res, seed = _run(
        cj.categorical(3),
        cj.categorical_params(P_STAR),
        regime,
        name=f"se2.{kind}",
        chains=SE2_CHAINS,
        gens=SE2_T2,
        size=size,
        metrics=["probs"],
    )
    return res.metrics["probs"].astype(np.float64), seed


@pytest.mark.parametrize("kind", ["fixed", "fresh"])
def test_se2_categorical_plateau_far_below_h(kind):
    p, seed = _cat(kind)
    ref, n, m = (SE2_P_R, 20, 20) if kind == "fixed" else (P_STAR, 10, 30)
    d = ((p - ref) ** 2).sum(axis=2)
    _assert_plateau(d[:, SE2_T1], d[:, SE2_T2], what=f"SE-2 {kind}", seed=seed)
    want = th.categorical_mixing_sq_error(
        ref, n, m, SE2_T2, regime=kind, init_probs=P_STAR
    )
    for t in (1, SE2_T1, SE2_T2):
        est, se = mean_and_se(d[:, t])
        assert_within_se(est, want[t], se, what=f"SE-2 {kind} D_{t}", seed=seed)
    est, se = mean_and_se(d[:, SE2_T2])
    _at_most(est, H_STAR / 10, se, what=f"SE-2 {kind} far below H", seed=seed)


def test_se2_generation_zero_real_set():
    # mix() without real_data: D_0 (M = 20 draws per chain) is the real set; model 1
    # is its empirical law p_1 and, given D_0, D_t = c_t H(p_1) (linear in H(p_1)),
    # E H(p_1) = H (1 - 1/M) (WF-3).
    p, seed = _cat("d0")
    d = ((p - p[:, 1:2]) ** 2).sum(axis=2)
    _assert_plateau(d[:, SE2_T1], d[:, SE2_T2], what="SE-2 D_0", seed=seed)
    c = th.categorical_mixing_sq_error(P_STAR, 20, 20, SE2_T2 - 1, regime="fixed")
    for t in (2, SE2_T2):
        want = c[t - 1] * (1 - 1 / 20)
        est, se = mean_and_se(d[:, t])
        assert_within_se(
            est, want, se, what=f"SE-2 D_0 E||p_t - p_1||^2 t={t}", seed=seed
        )


def test_se2_no_real_data_tends_to_h():
    p, seed = _cat("none")
    d = ((p - P_STAR) ** 2).sum(axis=2)
    for t in (SE2_T1, SE2_T2):
        est, se = mean_and_se(d[:, t])
        want = H_STAR - th.expected_gini_simpson(P_STAR, 5, t)
        assert_within_se(est, want, se, what=f"SE-2 no real data t={t}", seed=seed)
    # By t2 = 50 (M = 5) E H_t = H (1 - 1/5)^50 < 2e-5 H: the error has reached H.
    assert th.expected_gini_simpson(P_STAR, 5, SE2_T2) < 2e-5 * H_STAR
