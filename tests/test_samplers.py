"""The two samplers have one law; the exact random primitives match scipy.

``sampler="samples"`` (draw M points, refit) against ``sampler="sufficient"`` (draw the
fitted statistics, GC-7): two-sample tests of means and of whole distributions; GC-1
(the law of the first fitted variance) for both; ``collapse_jax.random.log_chisquare``
and ``collapse_jax.random.multinomial`` against their exact laws; the Gaussian ``refit``
(standardised draws) against ``fit(sample(...))`` with the same keys.

Budget: mean comparisons go through ``tests.helpers.assert_within_se`` with ``K`` from
the suite-wide false-failure budget in ``tests/helpers.py`` (K = 4.65), the SE of a
difference of two independent means being sqrt(SE1^2 + SE2^2) from the chains; KS
tests reject at ``ks_alpha()`` (the same per-assertion level). An array assertion
counts once per element: about 45 assertions here (50 with the x64 pass).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import stats

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import random as cjr
from tests.helpers import assert_within_se, ks_alpha, mean_and_se, module_seed

SAMPLERS = ("samples", "sufficient")
ESTIMATORS = ("unbiased", "mle")
C, N, M = 2**14, 20, 10


def _assert_same_mean(a, b, *, what, seed):
    """Two-sample z-test: difference of chain means, SE = sqrt(SE_a^2 + SE_b^2)."""
    ma, sa = mean_and_se(a)
    mb, sb = mean_and_se(b)
    assert_within_se(ma - mb, np.zeros_like(ma), np.hypot(sa, sb), what=what, seed=seed)


def _assert_ks_2samp(a, b, *, what, seed):
    p = stats.ks_2samp(np.asarray(a, np.float64), np.asarray(b, np.float64)).pvalue
    assert p > ks_alpha(), (
        f"{what}: two-sample KS p-value {p} <= {ks_alpha()}, seed {seed}"
    )


def _assert_ks(x, cdf, *, what, seed, args=()):
    p = stats.kstest(np.asarray(x, np.float64), cdf, args=args).pvalue
    assert p > ks_alpha(), f"{what}: KS p-value {p} <= {ks_alpha()}, seed {seed}"


@pytest.fixture(scope="module")
def gauss_runs():
    """1-D Gaussian, 2^14 chains, M = 10, N = 20: one run per (estimator, sampler,
    truth); the truth is traced, so each (estimator, sampler) compiles once."""

    @functools.cache
    def get(estimator, sampler, mean=0.0, var=1.0):
        seed = module_seed(f"{__name__}::gauss[{estimator},{sampler},{mean},{var}]")
        res = cj.run_chains(
            cj.gaussian(1, estimator),
            cj.gaussian_params(mean, var),
            key=seed,
            num_chains=C,
            num_generations=N,
            sample_size=M,
            sampler=sampler,
            record_params=False,
        )
        assert res.ok
        return res, seed

    return get


# ------------------------------------------------------------ samples vs sufficient ---


@pytest.mark.statistical
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_gaussian_samplers_same_means(gauss_runs, estimator):
    # 2 x 2^14 chains, M = 10. log sigma_n^2 at n in {1, 20} (SE of the difference
    # ~0.008, 0.035); mu_n at n in {5, 10} (n <= M; SE ~0.009, 0.011).
    a, sa = gauss_runs(estimator, "samples")
    b, sb = gauss_runs(estimator, "sufficient")
    seeds = (sa, sb)
    ns = [1, 20]
    _assert_same_mean(
        a.metrics["log_var"][:, ns, 0],
        b.metrics["log_var"][:, ns, 0],
        seed=seeds,
        what=f"log sigma_n^2 samples - sufficient ({estimator}, M=10, n={ns})",
    )
    ns = [5, 10]
    _assert_same_mean(
        a.metrics["mean"][:, ns, 0],
        b.metrics["mean"][:, ns, 0],
        seed=seeds,
        what=f"mu_n samples - sufficient ({estimator}, M=10, n={ns})",
    )


@pytest.mark.statistical
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_gaussian_samplers_same_law_ks(gauss_runs, estimator):
    # 2 x 2^14 chains, M = 10: two-sample KS on log sigma_1^2 and log sigma_20^2.
    a, sa = gauss_runs(estimator, "samples")
    b, sb = gauss_runs(estimator, "sufficient")
    for n in (1, 20):
        _assert_ks_2samp(
            a.metrics["log_var"][:, n, 0],
            b.metrics["log_var"][:, n, 0],
            seed=(sa, sb),
            what=f"KS log sigma_{n}^2 ({estimator}, M=10)",
        )


@pytest.mark.statistical
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_first_fitted_variance_law_gc1(gauss_runs, estimator, sampler):
    # 2^14 chains, M = 10, n = 1, truth N(3, 2): (M - 1) sigma_1^2 / sigma^2 (MLE:
    # M sigma_1^2 / sigma^2) ~ chi2_{M-1}; one-sample KS at ks_alpha().
    var = 2.0
    res, seed = gauss_runs(estimator, sampler, 3.0, var)
    den = M - 1 if estimator == "unbiased" else M
    x = den * np.exp(res.metrics["log_var"][:, 1, 0].astype(np.float64)) / var
    _assert_ks(
        x,
        "chi2",
        args=(M - 1,),
        seed=seed,
        what=f"GC-1 law of sigma_1^2 ({estimator}, {sampler}, M=10)",
    )


@pytest.mark.statistical
def test_multivariate_samplers_same_log_det(seed):
    # 2 x 2^14 chains, d = 3, M = 8, n in {1, 20}: E log det Sigma_n equal for both
    # samplers. SE of the difference from the chains: ~0.02, 0.10.
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.5], [0.0, 0.5, 1.5]])
    init = cj.gaussian_params(np.zeros(3), cov)
    ld = {}
    for i, sampler in enumerate(SAMPLERS):
        res = cj.run_chains(
            cj.gaussian(3),
            init,
            key=seed ^ i,
            num_chains=C,
            num_generations=N,
            sample_size=8,
            sampler=sampler,
            metrics=["log_det_cov"],
            record_params=False,
        )
        assert res.ok
        ld[sampler] = res.metrics["log_det_cov"][:, [1, 20]]
    _assert_same_mean(
        ld["samples"],
        ld["sufficient"],
        seed=seed,
        what="log det Sigma_n samples - sufficient (d=3, M=8, n=1, 20)",
    )


@pytest.mark.statistical
def test_categorical_samplers_same_means(seed):
    # 2 x 2^14 chains, K = 4, M = 10: counts at n = 1 (SE of the difference
    # ~0.03-0.05) and Gini–Simpson at n in {5, 20} (SE ~0.003).
    p0 = np.array([0.1, 0.2, 0.3, 0.4])
    out = {}
    for i, sampler in enumerate(SAMPLERS):
        res = cj.run_chains(
            cj.categorical(4),
            cj.categorical_params(p0),
            key=seed ^ i,
            num_chains=C,
            num_generations=N,
            sample_size=M,
            sampler=sampler,
            metrics=["gini_simpson"],
            record_params=True,
        )
        assert res.ok
        out[sampler] = res
    a, b = out["samples"], out["sufficient"]
    for res in (a, b):  # counts are integers summing to M
        assert res.params.counts.dtype == np.int32
        assert np.all(res.params.counts[:, 1:].sum(axis=-1) == M)
    _assert_same_mean(
        a.params.counts[:, 1],
        b.params.counts[:, 1],
        seed=seed,
        what="counts_1 samples - sufficient (K=4, M=10)",
    )
    ns = [5, 20]
    _assert_same_mean(
        a.metrics["gini_simpson"][:, ns],
        b.metrics["gini_simpson"][:, ns],
        seed=seed,
        what=f"H_n samples - sufficient (K=4, M=10, n={ns})",
    )


# --------------------------------------------------------------- log_chisquare ---

DFS = (0.5, 1.0, 2.0, 9.0, 99.0, 999.0)


@functools.partial(jax.jit, static_argnames=("num", "dtype"))
def _log_chi2_draws(key, df, num, dtype):
    return cjr.log_chisquare(
        key, jnp.broadcast_to(df[:, None], (df.shape[0], num)), dtype
    )


def _check_log_chisquare(dtype, seed):
    num = 2**14
    y = _log_chi2_draws(jax.random.key(seed), jnp.asarray(DFS, dtype), num, dtype)
    assert y.dtype == jnp.dtype(dtype) and y.shape == (len(DFS), num)
    y = np.asarray(y, np.float64)
    assert np.all(np.isfinite(y))
    for df, row in zip(DFS, y, strict=True):
        # KS in log space: P(log X <= y) = chi2.cdf(exp(y)); no underflow of X.
        _assert_ks(
            row,
            lambda v, df=df: stats.chi2.cdf(np.exp(v), df),
            seed=seed,
            what=f"log_chisquare({df}) vs scipy chi2 ({dtype})",
        )


@pytest.mark.statistical
def test_log_chisquare_matches_scipy(seed):
    # 2^14 draws per df in {0.5, 1, 2, 9, 99, 999} (df < 2 uses the Gamma boost):
    # one-sample KS of log X against log of scipy's chi2, at ks_alpha().
    _check_log_chisquare("float32", seed)


@pytest.mark.statistical
@pytest.mark.x64
def test_log_chisquare_matches_scipy_float64(x64, seed):
    _check_log_chisquare(x64, seed)


# ----------------------------------------------------------------- multinomial ---


@functools.partial(jax.jit, static_argnames=("num",))
def _multinomial_draws(key, total, probs, num):
    keys = jax.random.split(key, num)
    return jax.vmap(lambda k: cjr.multinomial(k, total, probs))(keys)


@pytest.mark.statistical
def test_multinomial_mean_and_covariance(seed):
    # 2^14 draws of Multinomial(37, p), zero-probability categories included:
    # E c = N p (SE from theory sqrt(N p (1 - p) / C) ~0.02) and
    # Cov c = N (diag p - p p^T), each entry the mean of (c_i - N p_i)(c_j - N p_j)
    # with SE from the draws (~0.04-0.1).
    total, num = 37, 2**14
    p = np.array([0.3, 0.0, 0.45, 0.05, 0.2, 0.0])
    c = np.asarray(
        _multinomial_draws(
            jax.random.key(seed), jnp.int32(total), jnp.asarray(p, jnp.float32), num
        ),
        np.float64,
    )
    live = p > 0
    pl = p[live]
    assert_within_se(
        c[:, live].mean(axis=0),
        total * pl,
        np.sqrt(total * pl * (1 - pl) / num),
        seed=seed,
        what="E multinomial counts (N=37)",
    )
    dev = c[:, live] - total * pl
    iu = np.triu_indices(pl.size)
    prods = (dev[:, :, None] * dev[:, None, :])[:, iu[0], iu[1]]
    est, se = mean_and_se(prods)
    cov = total * (np.diag(pl) - np.outer(pl, pl))
    assert_within_se(
        est,
        cov[iu],
        se,
        seed=seed,
        what="Cov multinomial counts (N=37), upper triangle",
    )


@pytest.mark.parametrize("total", [0, 1, 37, 100_000])
@pytest.mark.parametrize(
    "probs",
    [
        [0.3, 0.0, 0.45, 0.05, 0.2, 0.0],  # zeros inside and at the end
        [0.0, 1.0, 0.0],  # a point mass
        [0.1] * 10,  # float32 rounding: the sum is not exactly 1
    ],
)
def test_multinomial_support_and_total(seed, total, probs):
    # 2^10 draws: counts are int32, sum to the total exactly, and are 0 wherever
    # the probability is 0 (deterministic properties of every draw).
    p = np.asarray(probs)
    c = np.asarray(
        _multinomial_draws(
            jax.random.key(seed), jnp.int32(total), jnp.asarray(p, jnp.float32), 2**10
        )
    )
    assert c.dtype == np.int32
    assert np.all(c.sum(axis=1) == total)
    assert np.all(c >= 0)
    assert np.all(c[:, p == 0] == 0)
    if total >= 37 and np.count_nonzero(p) > 1:  # the draws are random, not fixed
        assert np.unique(c, axis=0).shape[0] > 1


# ---------------------------------------------------------------- Gaussian refit ---

REFIT_CASES = {
    1: (np.array([0.7]), np.array([[2.5]])),
    3: (
        np.array([1.0, -2.0, 0.5]),
        np.array([[2.0, 0.6, 0.2], [0.6, 1.0, -0.3], [0.2, -0.3, 0.5]]),
    ),
}


def _refit_and_fit(dim, estimator, dtype, seed, n=12, n_live=9):
    fam = cj.gaussian(dim, estimator)
    mean, cov = REFIT_CASES[dim]
    params = fam.cast_params(cj.gaussian_params(mean, cov), jnp.dtype(dtype))
    k1, k2 = jax.random.split(jax.random.key(seed))
    weights = (jnp.arange(n) < n_live).astype(dtype)  # masked, as the runner does
    a = fam.refit(k1, k2, params, weights)
    b = fam.fit(k2, fam.sample(k1, params, n), weights, params)
    return a, b


def _assert_params_close(a, b, rtol, atol):
    for field, x, y in zip(a._fields, a, b, strict=True):
        assert x.dtype == y.dtype, field
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=field
        )


@pytest.mark.x64
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("dim", [1, 3])
def test_refit_equals_fit_of_sample_float64(x64, seed, dim, estimator):
    # Same keys: refit (standardised draws pushed through L) equals fitting the
    # explicit sample, to float64 rounding.
    a, b = _refit_and_fit(dim, estimator, x64, seed)
    _assert_params_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("dim", [1, 3])
def test_refit_equals_fit_of_sample_float32(seed, dim, estimator):
    # The float32 version of the identity, to float32 rounding (well-conditioned
    # truth, so a few ulps of the O(1) parameters).
    a, b = _refit_and_fit(dim, estimator, "float32", seed)
    _assert_params_close(a, b, rtol=2e-5, atol=2e-6)
    # Non-vacuous: a different sample key gives a different fit.
    c, _ = _refit_and_fit(dim, estimator, "float32", seed ^ 1)
    assert not np.allclose(np.asarray(a.mean), np.asarray(c.mean))


# ------------------------------------------- bulk Marsaglia-Tsang and fallback ---

def _word_for_normal(x):
    """A word that normal_from_bits maps to about ``x`` (top 23 bits of Phi(x))."""
    from scipy.special import ndtr
    return int(np.clip(ndtr(x), 0, 1 - 2**-23) * 2**23) << 9


def test_log_gamma_takes_the_first_accepted_bulk_attempt_then_the_fallback():
    # Lane 0: attempt 1 accepted. Lane 1: attempt 1 rejected, attempt 2 accepted.
    # Lane 2: both rejected, so the while_loop's first accepted attempt, keyed by
    # fold_in(key, i), gives the value. At a = 5 a normal of 0.3 with u = 1/2 is
    # accepted and word 0 (a normal of about -5.3) with u = 1/2 is rejected.
    a = jnp.full((3,), 5.0, jnp.float32)
    d = a - jnp.float32(1 / 3)
    c = jax.lax.rsqrt(9 * d)
    good, bad, half = _word_for_normal(0.3), 0, 1 << 31
    w = lambda *v: jnp.asarray(np.array(v, np.uint32))  # noqa: E731
    bits = [(w(good, bad, bad), w(half, half, half)),
            (w(bad, good, bad), w(half, half, half)),
            (w(0, 0, 0), w(0, 0, 0))]
    key = jax.random.key(3)
    out = np.asarray(cjr.log_gamma_from_bits(bits, key, a))
    x = cjr.normal_from_bits(w(good, bad, bad), jnp.float32)
    u = cjr.uniform_from_bits(w(half, half, half), jnp.float32)
    ok, value = cjr._mt_attempt(x, u, d, c)
    assert list(np.asarray(ok)) == [True, False, False]
    np.testing.assert_array_equal(out[:2], [value[0], value[0]])
    tiny = np.finfo(np.float32).tiny
    for i in range(100):
        kx, ku = jax.random.split(jax.random.fold_in(key, i))
        xi = jax.random.normal(kx, (3,), jnp.float32)
        ui = jax.random.uniform(ku, (3,), jnp.float32, minval=tiny, maxval=1)
        ok, value = cjr._mt_attempt(xi, ui, d, c)
        if ok[2]:
            break
    np.testing.assert_array_equal(out[2], value[2])


@pytest.mark.statistical
def test_log_gamma_fallback_keeps_the_law(seed):
    # With attempt 1 forced to reject in every lane (word 0 at a = 5), the draws come
    # from attempt 2 and the fallback only: still log Gamma(5), mean psi(5) and
    # variance psi'(5) within K SE (2^14 lanes).
    from scipy.special import digamma, polygamma
    n = 2**14
    a = jnp.full((n,), 5.0, jnp.float32)
    words = np.array(jax.random.bits(jax.random.key(seed), (4, n), jnp.uint32))
    words[0] = 0  # attempt 1: a normal of about -5.3 and u = 1 - 2^-23: rejected
    words[1] = 2**32 - 1
    bits = [(jnp.asarray(words[0]), jnp.asarray(words[1])),
            (jnp.asarray(words[2]), jnp.asarray(words[3])),
            (jnp.zeros(n, jnp.uint32), jnp.zeros(n, jnp.uint32))]
    y = cjr.log_gamma_from_bits(bits, jax.random.key(seed + 1), a)
    y = np.asarray(y, np.float64)
    var = float(polygamma(1, 5.0))
    assert_within_se(y.mean(), digamma(5.0), np.sqrt(var / n), seed=seed,
                     what="mean of log Gamma(5), attempt 1 always rejected")
    m4 = np.mean((y - y.mean()) ** 4)
    assert_within_se(y.var(), var, np.sqrt((m4 - var**2) / n), seed=seed,
                     what="variance of log Gamma(5), attempt 1 always rejected")
