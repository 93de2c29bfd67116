"""Hypothesis property tests: collapse laws over drawn configurations, fit invariances.

Every example draws its shape parameters from small fixed sets (each new static
configuration is a 2-4 s compile) and its PRNG seed from ``st.integers(0, 2**32 - 1)``.
To share compiles across examples, a run's schedule is padded with one extra final
generation at a fixed maximum size (``_pad``): the static ``n_max`` is then the same
for every drawn M, the runner masks the draws to each generation's M_t, and only the
generations before the padding are tested.

Budget: Monte Carlo assertions go through ``tests.helpers.assert_within_se`` with ``K``
from the suite-wide false-failure budget in ``tests/helpers.py`` (K = 4.65), SEs from
theory (GC-3, GC-2, SH-7 variances, exact binomial SEs) or from the spread across
independent chains. Every example is a separate set of assertions: with the example
counts below (``max_examples`` = 6-8 for the Monte Carlo properties) this module makes
about 140 statistical assertions per run under the ``dev``/``ci`` profiles. The
invariance properties are exact (float32 rounding tolerances only) and use the
profile's example count.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import theory as th
from tests.helpers import (
    ALPHA,
    K,
    assert_within_se,
    binomial_se,
    mean_and_se,
    prob_log_var_below,
)

seeds = st.integers(0, 2**32 - 1)
estimators = st.sampled_from(["unbiased", "mle"])
MC = settings(max_examples=8)  # Monte Carlo properties: each example is a full run
MC_LONG = settings(max_examples=6)


def _pad(sizes, last):
    """The schedule ``sizes`` followed by one generation of size ``last``."""
    return np.concatenate([np.asarray(sizes, np.int64), [last]])


def _run(
    family, init, *, seed, num_chains, sample_size, sampler="samples", metrics=None
):
    res = cj.run_chains(
        family,
        init,
        key=seed,
        num_chains=num_chains,
        num_generations=len(sample_size),
        sample_size=sample_size,
        sampler=sampler,
        metrics=metrics,
        record_params=False,
    )
    assert res.ok
    return res


# ------------------------------------------------------- Gaussian variance decay ---

# 1-D Gaussian, samples: 2^14 chains, 30 tested generations + 1 padding (n_max = 50).
G_C, G_N, G_PAD = 2**14, 30, 50


def _gauss_1d(estimator, m, var, seed):
    return _run(
        cj.gaussian(1, estimator),
        cj.gaussian_params(0.0, var),
        seed=seed,
        num_chains=G_C,
        sample_size=_pad(np.full(G_N, m), G_PAD),
    )


@pytest.mark.statistical
@MC
@given(
    m=st.sampled_from([5, 10, 20, 50]),
    estimator=estimators,
    var=st.sampled_from([0.25, 1.0, 4.0]),
    seed=seeds,
)
def test_log_variance_decay_gc3(m, estimator, var, seed):
    # 2^14 chains, M in {5, 10, 20, 50}, n in {10, 30} (up to 6M): E log sigma_n^2 =
    # log sigma^2 + n g(M). SE from theory sqrt(n psi'((M-1)/2) / C): 0.005-0.04.
    res = _gauss_1d(estimator, m, var, seed)
    ns = np.array([10, G_N])
    lv = res.metrics["log_var"][:, ns, 0].astype(np.float64)
    expected = [
        th.expected_log_variance(m, n, estimator=estimator, variance=var) for n in ns
    ]
    se = [math.sqrt(th.variance_log_variance(m, n) / G_C) for n in ns]
    assert_within_se(
        lv.mean(axis=0),
        expected,
        se,
        seed=seed,
        what=f"GC-3 E log sigma_n^2 ({estimator}, M={m}, var={var}, n={ns.tolist()})",
    )


@pytest.mark.statistical
@MC
@given(m=st.sampled_from([10, 20, 50]), estimator=estimators, seed=seeds)
def test_variance_raw_moment_gc2(m, estimator, seed):
    # 2^14 chains, M in {10, 20, 50}, n = M // 2 (raw moments only for n <= M; at
    # M / 2 the skewness of the chain mean stays below 0.1): E sigma_n^2 = 1
    # (unbiased) or ((M-1)/M)^n (MLE). SE from theory sqrt(Var sigma_n^2 / C) ~0.01.
    n = m // 2
    res = _gauss_1d(estimator, m, 1.0, seed)
    v = np.exp(res.metrics["log_var"][:, n, 0].astype(np.float64))
    se = math.sqrt(th.variance_of_variance(m, n, estimator=estimator) / G_C)
    assert_within_se(
        v.mean(),
        th.expected_variance(m, n, estimator=estimator),
        se,
        seed=seed,
        what=f"GC-2 E sigma_n^2 ({estimator}, M={m}, n={n})",
    )


@pytest.mark.statistical
@MC
@given(m=st.sampled_from([10, 20, 50]), estimator=estimators, seed=seeds)
def test_mean_random_walk_gc5(m, estimator, seed):
    # 2^14 chains, M in {10, 20, 50}, n = M // 2: E(mu_n - mu)^2 = sum_i E sigma_i^2 /
    # M_i (~n/M = 0.5). SE from the chains ~0.006.
    n = m // 2
    res = _gauss_1d(estimator, m, 1.0, seed)
    est, se = mean_and_se(res.metrics["mean"][:, n, 0].astype(np.float64) ** 2)
    assert_within_se(
        est,
        th.expected_squared_mean_error(m, n, estimator=estimator),
        se,
        seed=seed,
        what=f"GC-5 E(mu_n - mu)^2 ({estimator}, M={m}, n={n})",
    )


# 2-D and 3-D: 2^13 chains, 20 tested generations + 1 padding (n_max = 20).
MV_C, MV_N, MV_PAD = 2**13, 20, 20


@pytest.mark.statistical
@MC
@given(dim=st.sampled_from([2, 3]), m=st.sampled_from([5, 10, 20]), seed=seeds)
def test_log_det_decay_sh7(dim, m, seed):
    # 2^13 chains, d in {2, 3}, M in {5, 10, 20}, n in {5, 20}: E log det Sigma_n
    # (Bartlett). SE from theory sqrt(Var / C): 0.01-0.07.
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim))
    cov = a @ a.T + dim * np.eye(dim)
    res = _run(
        cj.gaussian(dim),
        cj.gaussian_params(np.zeros(dim), cov),
        seed=seed,
        num_chains=MV_C,
        sample_size=_pad(np.full(MV_N, m), MV_PAD),
        metrics=["log_det_cov"],
    )
    ns = np.array([5, MV_N])
    ld = res.metrics["log_det_cov"][:, ns].astype(np.float64)
    logdet0 = float(np.linalg.slogdet(cov)[1])
    expected = [th.expected_log_det_cov(m, n, dim, log_det_cov0=logdet0) for n in ns]
    se = [math.sqrt(th.variance_log_det_cov(m, n, dim) / MV_C) for n in ns]
    assert_within_se(
        ld.mean(axis=0),
        expected,
        se,
        seed=seed,
        what=f"SH-7 E log det Sigma_n (d={dim}, M={m}, n={ns.tolist()})",
    )


# --------------------------------------------------------- convergence to a delta ---

COLLAPSE_EPS, COLLAPSE_C = 1e-3, 2**12
COLLAPSE_N = th.collapse_generation(5, COLLAPSE_EPS)  # the largest over M in {3, 5}


@pytest.mark.statistical
@MC_LONG
@given(
    m=st.sampled_from([3, 5]),
    estimator=estimators,
    var=st.sampled_from([0.25, 4.0]),
    seed=seeds,
)
def test_gaussian_collapses_to_a_delta(m, estimator, var, seed):
    # 2^12 chains, sufficient sampler, M in {3, 5}, n = collapse_generation(M, 1e-3)
    # (56 to 270): the mean of log sigma_n^2 / sigma^2 is 5 SD below log 1e-3, so
    # >= 99.9 % of chains (all but ~3e-7 of them) have sigma_n^2 < 1e-3 sigma^2.
    n = th.collapse_generation(m, COLLAPSE_EPS, estimator=estimator)
    res = _run(
        cj.gaussian(1, estimator),
        cj.gaussian_params(0.0, var),
        seed=seed,
        num_chains=COLLAPSE_C,
        sampler="sufficient",
        metrics=["log_var"],
        sample_size=_pad(np.full(COLLAPSE_N, m), 5),
    )
    lv = res.metrics["log_var"][:, n, 0].astype(np.float64)
    frac = np.mean(lv - math.log(var) < math.log(COLLAPSE_EPS))
    assert frac >= 0.999, (frac, seed)


# Categorical: 2^12 chains, samples, to the WF-5 horizon of the worst case (K = 6,
# uniform, M = 5) at the budget's per-assertion level (99), + 1 padding (n_max = 5:
# the sample sampler draws n_max points per generation, so keep it small).
CAT_C, CAT_PAD = 2**12, 5
CAT_N = th.absorption_horizon(np.full(6, 1 / 6), 5, CAT_C, tolerance=ALPHA)

weights_k = st.sampled_from([2, 3, 4, 6]).flatmap(
    lambda k: st.lists(st.integers(1, 10), min_size=k, max_size=k)
)


def _simplex(weights):
    """p_0 on the simplex, bounded away from 0 (each p_j >= 1/51)."""
    w = np.asarray(weights, np.float64)
    return w / w.sum()


def _categorical(p0, sizes, seed):
    return _run(
        cj.categorical(p0.size),
        cj.categorical_params(p0),
        seed=seed,
        num_chains=CAT_C,
        sample_size=_pad(sizes, CAT_PAD),
    )


@pytest.mark.statistical
@MC
@given(weights=weights_k, m=st.sampled_from([3, 5]), seed=seeds)
def test_categorical_absorbed_with_fixation_p0(weights, m, seed):
    # 2^12 chains, K in {2, 3, 4, 6}, M in {3, 5}, p_0 random, n =
    # absorption_horizon(p_0, M, C, ALPHA) (<= 99): every chain absorbed
    # (P(some chain not) <= ALPHA by WF-5), and the fixation frequencies equal p_0
    # (exact binomial SE sqrt(p (1 - p) / C) <= 0.008).
    p0 = _simplex(weights)
    n = th.absorption_horizon(p0, m, CAT_C, tolerance=ALPHA)
    res = _categorical(p0, np.full(CAT_N, m), seed)
    absorbed = res.metrics["absorbed"][:, n]
    assert np.all(absorbed), (np.sum(~absorbed), seed)
    winner = np.argmax(res.metrics["probs"][:, n], axis=-1)
    freq = np.bincount(winner, minlength=p0.size) / CAT_C
    se = [binomial_se(p, CAT_C) for p in p0]
    assert_within_se(
        freq,
        th.fixation_probabilities(p0),
        se,
        seed=seed,
        what=f"SH-3 fixation frequencies (K={p0.size}, M={m}, n={n})",
    )


@pytest.mark.statistical
@MC
@given(
    weights=weights_k,
    sizes=st.lists(st.sampled_from([3, 4, 5]), min_size=8, max_size=8),
    seed=seeds,
)
def test_gini_simpson_decay_wf3(weights, sizes, seed):
    # 2^12 chains, K in {2, 3, 4, 6}, p_0 random, a random schedule of 8 sizes in
    # {3, 4, 5}, n in {3, 8}: E H_n = H_0 prod_{i<n} (1 - 1/M_i). SE from the
    # chains ~0.001-0.005. The sample SE needs enough unabsorbed chains: at worst
    # (K = 2, p_0 = (1, 10)/11, all M_i = 3) E H_8 = 0.0064, so >= 53 expected.
    p0 = _simplex(weights)
    sched = np.concatenate([sizes, np.full(CAT_N - len(sizes), CAT_PAD)])
    res = _categorical(p0, sched, seed)
    ns = np.array([3, 8])
    est, se = mean_and_se(res.metrics["gini_simpson"][:, ns])
    expected = [th.expected_gini_simpson(p0, sched, n) for n in ns]
    assert_within_se(
        est,
        expected,
        se,
        seed=seed,
        what=f"WF-3 E H_n (K={p0.size}, schedule {sizes}, n={ns.tolist()})",
    )


# ------------------------------------------------- quadratic schedule vs constant ---

# Sufficient sampler, 2^13 chains, 50 generations + 1 padding above every schedule.
Q_C, Q_N = 2**13, 50
Q_PAD = 20 * (Q_N + 1) ** 2


@pytest.mark.statistical
@MC
@given(m0=st.sampled_from([5, 10, 20]), seed=seeds)
def test_quadratic_schedule_prevents_collapse_sh6(m0, seed):
    # 2 x 2^13 chains, n = 50. Quadratic M_i = M_0 (i + 1)^2 against constant M_0:
    # E log sigma_50^2 for the quadratic schedule near its finite limit (SE from
    # theory ~0.007-0.01); P(sigma_50^2 < 1/2) for both against its exact value
    # (Gil-Pelaez on GC-1; binomial SE; quadrature error < 1e-8 as allowance); and
    # the constant-M chain's mean log-variance lies below the quadratic one's by
    # more than K SE (difference SE from the chains ~0.02-0.04).
    quad = th.quadratic_schedule(m0, Q_N)
    const = np.full(Q_N, m0)
    lv = {}
    for name, sizes in (("quadratic", quad), ("constant", const)):
        res = _run(
            cj.gaussian(1),
            cj.gaussian_params(0.0, 1.0),
            seed=seed ^ len(name),
            num_chains=Q_C,
            sample_size=_pad(sizes, Q_PAD),
            sampler="sufficient",
            metrics=["log_var"],
        )
        lv[name] = res.metrics["log_var"][:, Q_N, 0].astype(np.float64)
        p = prob_log_var_below(sizes, math.log(0.5))
        assert_within_se(
            np.mean(lv[name] < math.log(0.5)),
            p,
            binomial_se(p, Q_C),
            allowance=1e-8,
            seed=seed,
            what=f"SH-6 P(sigma_50^2 < 1/2), {name} M_0={m0}",
        )
    assert_within_se(
        lv["quadratic"].mean(),
        th.expected_log_variance(quad, Q_N),
        math.sqrt(th.variance_log_variance(quad, Q_N) / Q_C),
        seed=seed,
        what=f"SH-6 E log sigma_50^2, quadratic M_0={m0}",
    )
    mq, sq = mean_and_se(lv["quadratic"])
    mc, sc = mean_and_se(lv["constant"])
    assert mq - mc > K * math.hypot(sq, sc), (mq, mc, sq, sc, seed)


# ------------------------------------------------------------ fit invariances ---


@jax.jit
def _fit_gauss_unbiased(data, weights):
    return cj.gaussian(data.shape[1], "unbiased").fit(None, data, weights, None)


@jax.jit
def _fit_gauss_mle(data, weights):
    return cj.gaussian(data.shape[1], "mle").fit(None, data, weights, None)


_FIT_GAUSS = {"unbiased": _fit_gauss_unbiased, "mle": _fit_gauss_mle}


def _fit_cat(num_categories):
    return _FIT_CAT[num_categories]


_FIT_CAT = {
    k: jax.jit(
        lambda data, weights, k=k: cj.categorical(k).fit(None, data, weights, None)
    )
    for k in (2, 3, 4, 6)
}


def _gauss_data(seed, n, dim):
    """``n`` points in ``dim`` dimensions (float32), affine image of N(0, I) with
    singular values in [1, 3]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a = q * rng.uniform(1.0, 3.0, size=dim)
    x = rng.normal(size=(n, dim)) @ a.T + rng.normal(size=dim)
    return rng, x.astype(np.float32)


def _assume_well_conditioned(x, w):
    """Skip draws whose weighted covariance is nearly singular (condition > 1e4):
    float32 Cholesky rounding, not the fit, would decide the comparison there."""
    x = x.astype(np.float64)
    w = np.asarray(w, np.float64)
    xc = x - w @ x / w.sum()
    cov = (xc * w[:, None]).T @ xc
    assume(np.linalg.cond(cov) < 1e4)


def _close(a, b, x, cov_factor=1.0):
    """Fits ``a`` and ``b`` of data ``x`` agree to float32 rounding: means, and
    covariances (``a``'s times ``cov_factor``). The covariance is compared rather than
    its log-Cholesky factor, whose small diagonal entries are ill-conditioned when a
    few points nearly span a lower-dimensional subspace. Tolerances scale with the
    data: a float32 sum of n products has rounding error ~n eps max x^2."""
    (ma, ca), (mb, cb) = cj.gaussian_mean_cov(a), cj.gaussian_mean_cov(b)
    scale = float(np.max(np.abs(x))) + 1e-30
    tol = 10 * x.shape[0] * np.finfo(np.float32).eps
    np.testing.assert_allclose(mb, ma, rtol=0, atol=tol * scale, err_msg="mean")
    np.testing.assert_allclose(
        cb, cov_factor * ca, rtol=0, atol=tol * scale**2, err_msg="covariance"
    )


dims = st.sampled_from([1, 2, 3])
sizes_n = st.sampled_from([5, 8, 20])


@given(dim=dims, n=sizes_n, estimator=estimators, seed=seeds)
def test_gaussian_fit_permutation_invariant(dim, n, estimator, seed):
    # d in {1, 2, 3}, n in {5, 8, 20}, weights in {1, 2, 3}: permuting points and
    # weights together leaves the fitted mean and covariance unchanged (float32).
    rng, x = _gauss_data(seed, n, dim)
    w = rng.integers(1, 4, size=n).astype(np.float32)
    _assume_well_conditioned(x, w)
    perm = rng.permutation(n)
    fit = _FIT_GAUSS[estimator]
    _close(
        fit(jnp.asarray(x), jnp.asarray(w)),
        fit(jnp.asarray(x[perm]), jnp.asarray(w[perm])),
        x,
    )


@given(
    dim=dims,
    n=sizes_n,
    estimator=estimators,
    scale=st.sampled_from([0.5, 3.0, 64.0]),
    seed=seeds,
)
def test_gaussian_fit_weight_scale(dim, n, estimator, scale, seed):
    # Weights are frequency weights (families/base.py): the mean and the MLE
    # covariance are invariant to scaling them by c; the unbiased covariance is
    # sum w (x - m)(x - m)^T / (sum(w) - 1), so it changes by exactly
    # c (W - 1) / (c W - 1).
    rng, x = _gauss_data(seed, n, dim)
    w = rng.integers(1, 4, size=n).astype(np.float32)
    _assume_well_conditioned(x, w)
    fit = _FIT_GAUSS[estimator]
    a = fit(jnp.asarray(x), jnp.asarray(w))
    b = fit(jnp.asarray(x), jnp.asarray(w * np.float32(scale)))
    factor = 1.0
    if estimator == "unbiased":
        total = float(w.sum())
        factor = scale * (total - 1) / (scale * total - 1)
        assert abs(factor - 1) > 0.005  # the frequency-weight correction is visible
    _close(a, b, x, factor)


@given(k=st.sampled_from([2, 3, 4, 6]), n=sizes_n, seed=seeds)
def test_categorical_fit_invariances(k, n, seed):
    # Permutation: identical counts and probabilities. Weight scale: identical
    # probabilities. Integer weights (0 to 3) equal replication (padded to 3n with
    # zero weights): identical counts and probabilities.
    rng = np.random.default_rng(seed)
    data = rng.integers(0, k, size=n).astype(np.int32)
    w = rng.integers(0, 4, size=n)
    w[0] = max(w[0], 1)
    fit = _fit_cat(k)
    base = fit(jnp.asarray(data), jnp.asarray(w.astype(np.float32)))
    np.testing.assert_array_equal(
        np.asarray(base.counts), np.bincount(data, weights=w, minlength=k)
    )

    perm = rng.permutation(n)
    p = fit(jnp.asarray(data[perm]), jnp.asarray(w[perm].astype(np.float32)))
    np.testing.assert_array_equal(np.asarray(p.counts), np.asarray(base.counts))
    np.testing.assert_allclose(np.asarray(p.probs), np.asarray(base.probs), rtol=1e-6)

    s = fit(jnp.asarray(data), jnp.asarray((3.5 * w).astype(np.float32)))
    np.testing.assert_allclose(np.asarray(s.probs), np.asarray(base.probs), rtol=1e-6)

    rep = np.repeat(data, w)
    pad = 3 * n - rep.size
    rep = np.concatenate([rep, np.zeros(pad, np.int32)]).astype(np.int32)
    rep_w = np.concatenate([np.ones(w.sum()), np.zeros(pad)]).astype(np.float32)
    r = fit(jnp.asarray(rep), jnp.asarray(rep_w))
    np.testing.assert_array_equal(np.asarray(r.counts), np.asarray(base.counts))
    np.testing.assert_allclose(np.asarray(r.probs), np.asarray(base.probs), rtol=1e-6)
