"""The Bayesian learners' closed forms (collapse_jax.theory.bayes) against chains
simulated here in NumPy, independently of the library and of the proofs' shortcuts
(the chains draw data points and posterior parameters, not the chi-square
representations of the proofs). Tolerances: k*SE from tests/helpers.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import polygamma

import jax

from collapse_jax import verify
from collapse_jax.theory import bayes, counting, discrete, gaussian
from tests.helpers import assert_within_se, binomial_se, mean_and_se

C = 20_000  # chains per Monte Carlo check
X64 = pytest.mark.x64
STAT = pytest.mark.statistical  # Monte Carlo against a closed form at k*SE


def _rng(tag: int) -> np.random.Generator:
    return np.random.default_rng(15_000 + tag)


def _var_se(x):
    """The sample variance of independent values and its standard error."""
    d = (x - x.mean()) ** 2
    return d.mean() * len(x) / (len(x) - 1), d.std(ddof=1) / math.sqrt(len(x))


# --- Gaussian ---------------------------------------------------------------------


def _gaussian_chain(rng, learner, m, n, var0=1.0, mu0=0.0, nig=None):
    """``(mu_i, var_i)`` for i = 0..n of C chains: the recorded mean and variance
    (the drawn / modal parameter, or the predictive's mean and variance)."""
    mu, var = np.full(C, mu0), np.full(C, var0)
    scale = np.full(C, math.sqrt(var0))  # the data's law: location mu, this scale
    df = None  # Student-t degrees of freedom of the data (None: Gaussian)
    out = [(mu.copy(), var.copy())]
    for _ in range(n):
        z = rng.standard_normal((C, m)) if df is None else rng.standard_t(df, (C, m))
        x = mu[:, None] + scale[:, None] * z
        xbar = x.mean(1)
        ss = ((x - xbar[:, None]) ** 2).sum(1)
        if learner == "posterior_sample":
            k0, m0, a0, b0 = nig if nig else (0.0, 0.0, -0.5, 0.0)
            kap = k0 + m
            b = b0 + ss / 2 + k0 * m * (xbar - m0) ** 2 / (2 * kap)
            var = b / rng.gamma(a0 + m / 2, 1.0, C)
            mu = (k0 * m0 + m * xbar) / kap + np.sqrt(var / kap) * rng.standard_normal(
                C
            )
            scale = np.sqrt(var)
        elif learner == "map":
            mu, var = xbar, ss / (m + 2)
            scale = np.sqrt(var)
        else:  # the Student-t predictive of the reference prior
            s2 = ss / (m - 1)
            mu, df = xbar, m - 1
            scale = np.sqrt(s2 * (1 + 1 / m))
            var = scale**2 * df / (df - 2)
        out.append((mu.copy(), var.copy()))
    return out


@STAT
def test_gaussian_posterior_sample_log_variance_is_a_driftless_walk():
    m, n = 10, 6
    chain = _gaussian_chain(_rng(1), "posterior_sample", m, n)
    drift, var = bayes.gaussian_posterior_sample_log_var_moments(m, n)
    lv = np.log(chain[n][1])
    est, se = mean_and_se(lv)
    assert_within_se(est, drift, se, what=f"E log sigma^2_n, M={m}, n={n}")
    est, se = _var_se(lv)
    assert_within_se(est, var, se, what=f"Var log sigma^2_n, M={m}, n={n}")
    # twice the plug-in's step variance (GC-3)
    assert var == pytest.approx(2 * gaussian.variance_log_variance(m, n), rel=1e-12)


@STAT
@pytest.mark.parametrize("nig", [None, (2.0, 1.0, 3.0, 4.0)], ids=["jeffreys", "nig"])
def test_gaussian_posterior_sample_moments(nig):
    m, var0, mu0 = 12, 1.0, 0.0
    chain = _gaussian_chain(_rng(2), "posterior_sample", m, 8, var0, mu0, nig)
    kw = (
        {}
        if nig is None
        else dict(
            mean_offset=mu0 - nig[1],
            precision=nig[0],
            concentration=nig[2],
            rate=nig[3],
        )
    )
    m0 = mu0 if nig is None else nig[1]
    for n in (1, 3, 8):
        ev, ed = bayes.gaussian_posterior_sample_moments(var0, m, n, **kw)
        mu, var = chain[n]
        est, se = mean_and_se(var)
        assert_within_se(est, ev, se, what=f"E sigma^2_{n}, M={m}, prior {nig}")
        est, se = mean_and_se((mu - m0) ** 2)
        assert_within_se(est, ed, se, what=f"E (mu_{n} - m0)^2, M={m}, prior {nig}")


def test_gaussian_nig_chain_forgets_the_truth_for_the_prior():
    # The Gibbs chain's stationary law is the prior: its moments are the limit.
    k0, a0, b0 = 2.0, 3.0, 4.0
    v, d = bayes.gaussian_posterior_sample_moments(
        9.0, 5, 400, mean_offset=5.0, precision=k0, concentration=a0, rate=b0
    )
    assert v == pytest.approx(b0 / (a0 - 1), rel=1e-10)
    assert d == pytest.approx(b0 / (a0 - 1) / k0, rel=1e-10)
    # Jeffreys: E sigma^2_n = ((M-1)/(M-3))^n, infinite for M <= 3
    v, _ = bayes.gaussian_posterior_sample_moments(2.0, 10, 5)
    assert v == pytest.approx(2.0 * (9 / 7) ** 5, rel=1e-12)
    assert bayes.gaussian_posterior_sample_moments(1.0, 3, 1)[0] == math.inf


@STAT
def test_gaussian_map_chain():
    m, n = 10, 5
    chain = _gaussian_chain(_rng(3), "map", m, n)
    drift, var = bayes.gaussian_map_log_var_moments(m, n)
    # the plug-in's law with divisor M + 2 (GC-3)
    g = float(polygamma(0, (m - 1) / 2)) + math.log(2 / (m + 2))
    assert drift == pytest.approx(n * g, rel=1e-12)
    lv = np.log(chain[n][1])
    est, se = mean_and_se(lv)
    assert_within_se(est, drift, se, what=f"E log sigma^2_n MAP, M={m}, n={n}")
    est, se = _var_se(lv)
    assert_within_se(est, var, se, what=f"Var log sigma^2_n MAP, M={m}, n={n}")
    ev, ed = bayes.gaussian_map_moments(1.0, m, n)
    est, se = mean_and_se(chain[n][1])
    assert_within_se(est, ev, se, what="E sigma^2_n MAP")
    est, se = mean_and_se(chain[n][0] ** 2)
    assert_within_se(est, ed, se, what="E mu_n^2 MAP")


@STAT
def test_gaussian_predictive_chain():
    m = 20
    chain = _gaussian_chain(_rng(4), "posterior_predictive", m, 4)
    for n in (1, 2, 4):
        ev, ed = bayes.gaussian_predictive_moments(1.0, m, n)
        mu, v = chain[n]
        est, se = mean_and_se(v)
        assert_within_se(est, ev, se, what=f"E v_{n} predictive, M={m}")
        est, se = mean_and_se(mu**2)
        assert_within_se(est, ed, se, what=f"E mu_{n}^2 predictive, M={m}")
    # E log v_1 is exact; later it is a Jensen upper bound
    est, se = mean_and_se(np.log(chain[1][1]))
    assert_within_se(
        est,
        bayes.gaussian_predictive_log_var_bound(1.0, m, 1),
        se,
        what="E log v_1 predictive",
    )
    est, se = mean_and_se(np.log(chain[4][1]))
    assert est <= bayes.gaussian_predictive_log_var_bound(1.0, m, 4) + 4.9 * se
    assert bayes.gaussian_predictive_moments(1.0, 3, 2)[0] == math.inf


# --- Categorical --------------------------------------------------------------------


def _categorical_chain(rng, learner, p0, alpha, m, n, chains=C):
    p = np.tile(np.asarray(p0, float), (chains, 1))
    alpha = np.broadcast_to(np.asarray(alpha, float), p.shape[1:])
    out = [p]
    for _ in range(n):
        c = rng.multinomial(m, p)
        if learner == "posterior_sample":
            g = rng.gamma(alpha + c)
            p = g / g.sum(1, keepdims=True)
        elif learner == "posterior_predictive":
            p = (alpha + c) / (alpha.sum() + m)
        else:
            w = np.maximum(c + alpha - 1, 0.0)
            p = w / w.sum(1, keepdims=True)
        out.append(p)
    return out


@STAT
@pytest.mark.parametrize(
    "learner,alpha",
    [
        ("posterior_sample", 0.5),
        ("posterior_predictive", [0.5, 1.0, 2.0]),
        ("map", [1.0, 1.5, 3.0]),
    ],
)
def test_categorical_mean_and_homozygosity(learner, alpha):
    p0, m = [0.7, 0.2, 0.1], 8
    chain = _categorical_chain(_rng(5), learner, p0, alpha, m, 6)
    for n in (2, 6):
        p = chain[n]
        est, se = mean_and_se(p)
        assert_within_se(
            est,
            bayes.categorical_mean(p0, alpha, m, n, learner),
            se,
            what=f"E p_{n} {learner}",
        )
        est, se = mean_and_se((p**2).sum(1))
        th = bayes.categorical_expected_homozygosity(p0, alpha, m, n, learner)
        assert_within_se(est, th, se, what=f"E sum p^2 at n={n} {learner}")
        if learner != "map" or min(np.atleast_1d(alpha)) > 1:
            assert np.all(p > 0), "a category was lost"


def test_categorical_posterior_sample_rates_and_limit():
    alpha, m = np.array([0.5, 1.0, 2.5]), 6
    big_a = alpha.sum()
    lam = bayes.categorical_posterior_sample_eigenvalues(big_a, m)
    p0 = np.array([1.0, 0.0, 0.0])
    h = [bayes.categorical_expected_homozygosity(p0, alpha, m, n) for n in range(60)]
    limit = (np.sum(alpha**2) + big_a) / (big_a * (big_a + 1))  # Dir(alpha)
    assert h[-1] == pytest.approx(limit, rel=1e-12)
    # the distance to the limit shrinks by lambda_1 or lambda_2 per step, and the
    # slowest mode of the mean is lambda_1: E p_n - a = lambda_1^n (p0 - a)
    mean = bayes.categorical_mean(p0, alpha, m, 5)
    np.testing.assert_allclose(mean - alpha / big_a, lam[1] ** 5 * (p0 - alpha / big_a))
    assert lam[2] == pytest.approx(m * (m - 1) / ((big_a + m) * (big_a + m + 1)))
    # the Dirichlet chain never reaches the Wright-Fisher limit 0 (WF-3)
    assert 1 - h[-1] > 0.3
    assert discrete.expected_gini_simpson(p0, m, 59) == 0.0


@pytest.mark.parametrize("alpha,m", [((0.5, 0.5), 6), ((1.0, 2.5), 9)])
def test_posterior_sample_spectrum_is_the_count_chains(alpha, m):
    # The count chain c -> p -> c' and the parameter chain p -> c -> p' share their
    # eigenvalues (AB and BA): the beta-binomial matrix checks the closed form.
    t = bayes.categorical_count_transition(alpha, m, "posterior_sample")
    eig = np.sort(np.linalg.eigvals(t).real)[::-1]
    lam = bayes.categorical_posterior_sample_eigenvalues(sum(alpha), m)
    np.testing.assert_allclose(eig, lam, atol=1e-10)


def test_gibbs_recursion_contracts_within_the_proved_bound():
    m, k0, a0, b0 = 5, 2.0, 5.0, 4.0
    a, _ = bayes._gaussian_ps_matrix(m, k0, a0, b0)
    lam1 = m / (2 * (a0 + m / 2 - 1))
    bound = (m + lam1 * k0) / (m + k0)  # proofs/bl-4-gaussian-gibbs.md, part 3
    radius = float(np.abs(np.linalg.eigvals(a)).max())
    assert radius <= bound < 1
    kw = dict(mean_offset=3.0, precision=k0, concentration=a0, rate=b0)
    gap = [
        bayes.gaussian_posterior_sample_moments(9.0, m, n, **kw)[0] - b0 / (a0 - 1)
        for n in (40, 41)
    ]
    assert gap[1] / gap[0] == pytest.approx(radius, rel=1e-6)


@STAT
def test_two_category_count_chains_match_simulation():
    m, n, p0 = 6, 5, 0.3
    for learner, alpha in (
        ("posterior_sample", [0.5, 0.5]),
        ("posterior_predictive", [1.0, 2.0]),
        ("map", [0.6, 0.8]),
    ):
        t = bayes.categorical_count_transition(alpha, m, learner)
        np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-12)
        law = np.asarray(
            [math.comb(m, c) * p0**c * (1 - p0) ** (m - c) for c in range(m + 1)]
        )
        for _ in range(n - 1):
            law = law @ t
        chain = _categorical_chain(_rng(6), learner, [p0, 1 - p0], alpha, m, n)
        counts = _rng(7).binomial(m, chain[n - 1][:, 0])
        freq = np.bincount(counts, minlength=m + 1) / C
        se = np.sqrt(law * (1 - law) / C)
        assert_within_se(freq, law, se, what=f"law of c_{n - 1}, {learner}")


@STAT
def test_categorical_map_absorption():
    m = 5
    # alpha = 1 is the plug-in: absorbed with the Wright-Fisher probability
    wf = bayes.categorical_map_absorption_probability(0.3, 1.0, m, 1)
    assert wf == pytest.approx(
        discrete.category_loss_probability(0.3, m)
        + discrete.category_loss_probability(0.7, m)
    )
    chain = _categorical_chain(_rng(8), "map", [0.3, 0.7], [0.5, 0.5], m, 6)
    for n in (1, 3, 6):
        th = bayes.categorical_map_absorption_probability(0.3, 0.5, m, n)
        frac = float(np.mean(chain[n].min(1) == 0))
        assert_within_se(frac, th, binomial_se(th, C), what=f"MAP absorbed by {n}")
    # alpha <= 1: certain; alpha > 1: never
    assert bayes.categorical_map_absorption_probability(0.3, 0.5, m, 400) > 0.999
    assert bayes.categorical_map_absorption_probability(0.3, 1.2, m, 50) == 0.0


# --- Poisson ------------------------------------------------------------------------


def _poisson_chain(rng, learner, lam0, m, n, a, b):
    lam = np.full(C, lam0)
    shape = None  # predictive: the points' Gamma mixing shape (None: Poisson)
    out = [lam]
    for _ in range(n):
        if shape is None:
            big_n = rng.poisson(m * lam)
        else:
            big_n = rng.poisson(rng.gamma(shape[:, None], 1 / (b + m), (C, m))).sum(1)
        if learner == "posterior_sample":
            lam = rng.gamma(a + big_n, 1 / (b + m))
        elif learner == "posterior_predictive":
            shape = a + big_n
            lam = shape / (b + m)
        else:
            lam = np.maximum(a - 1 + big_n, 0.0) / (b + m)
        out.append(lam)
    return out


@STAT
@pytest.mark.parametrize(
    "learner,a,b",
    [
        ("posterior_sample", 0.5, 0.0),
        ("posterior_sample", 2.0, 4.0),
        ("posterior_predictive", 0.5, 0.0),
        ("posterior_predictive", 1.5, 2.0),
        ("map", 2.0, 0.0),
    ],
)
def test_poisson_moments(learner, a, b):
    lam0, m = 0.4, 5
    chain = _poisson_chain(_rng(9), learner, lam0, m, 6, a, b)
    for n in (1, 6):
        mean, var = bayes.poisson_moments(lam0, m, n, learner, concentration=a, rate=b)
        est, se = mean_and_se(chain[n])
        assert_within_se(est, mean, se, what=f"E lambda_{n} {learner} a={a} b={b}")
        est, se = _var_se(chain[n])
        assert_within_se(est, var, se, what=f"Var lambda_{n} {learner} a={a} b={b}")
        assert np.all(chain[n] > 0), "absorbed"
    if b == 0:  # grows linearly
        shift = a - 1 if learner == "map" else a
        assert bayes.poisson_moments(lam0, m, 7, learner, concentration=a)[0] == (
            pytest.approx(lam0 + 7 * shift / m)
        )


@STAT
def test_poisson_map_absorption():
    lam0, m, a = 0.4, 5, 0.5
    chain = _poisson_chain(_rng(10), "map", lam0, m, 5, a, 0.0)
    for n in (1, 2, 5):
        th = bayes.poisson_map_absorption_probability(lam0, m, n, concentration=a)
        frac = float(np.mean(chain[n] == 0))
        assert_within_se(frac, th, binomial_se(th, C), what=f"P(lambda_{n} = 0) MAP")
    # a = 1, b = 0 is the plug-in chain (SU-2's Galton-Watson law)
    for n in (1, 4):
        assert bayes.poisson_map_absorption_probability(
            lam0, m, n, concentration=1.0
        ) == pytest.approx(
            counting.poisson_absorption_probability(lam0, m, n), rel=1e-9
        )
    assert bayes.poisson_map_absorption_probability(lam0, m, 200) > 0.99
    assert bayes.poisson_map_absorption_probability(lam0, m, 9, concentration=1.5) == 0


# --- errors ---------------------------------------------------------------------------


def test_bad_arguments_raise_the_house_message():
    with pytest.raises(ValueError, match=r"categorical_mean\(\): learner must be one"):
        bayes.categorical_mean([0.5, 0.5], 1.0, 3, 1, learner="plugin")
    with pytest.raises(ValueError, match=r"alpha must be Dirichlet concentrations > 0"):
        bayes.categorical_mean([0.5, 0.5], 0.0, 3, 1)
    with pytest.raises(ValueError, match=r"alpha must be all >= 1 for the MAP"):
        bayes.categorical_expected_homozygosity([0.5, 0.5], 0.5, 3, 1, "map")
    with pytest.raises(ValueError, match=r"p0 must be a \(K,\) probability vector"):
        bayes.categorical_mean([0.5, 0.6], 1.0, 3, 1)
    with pytest.raises(ValueError, match=r"precision must be a finite number > 0"):
        bayes.gaussian_posterior_sample_moments(1.0, 5, 1, precision=-1.0)
    with pytest.raises(ValueError, match=r"var0 must be a finite number > 0"):
        bayes.gaussian_map_moments(0.0, 5, 1)
    with pytest.raises(ValueError, match=r"concentration must be >= 1 for the MAP"):
        bayes.poisson_moments(1.0, 5, 1, "map", concentration=0.5)
    with pytest.raises(ValueError, match=r"rate must be a finite number >= 0"):
        bayes.poisson_moments(1.0, 5, 1, rate=-1.0)
    with pytest.raises(ValueError, match=r"num_generations must be >= 1"):
        bayes.gaussian_predictive_log_var_bound(1.0, 10, 0)
    with pytest.raises(ValueError, match=r"sample_size must be >= 4"):
        bayes.gaussian_predictive_log_var_bound(1.0, 3, 1)


# --- the verify rows ------------------------------------------------------------------


BL_ROWS = [c.id for c in verify.claims(quick=True) if c.id.startswith("BL-")]


def test_every_bl_claim_has_quick_rows_with_proofs():
    assert {r.split("-")[1].rstrip("abghmpsv") for r in BL_ROWS} == {
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    }
    for claim in verify.claims():
        if claim.id.startswith("BL-"):
            assert claim.proof.startswith("bl-"), claim.id


@pytest.mark.slow  # compiles ten chain programs: about a minute on two loaded cores
@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=X64)])
def test_the_bl_verify_rows_pass(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    # The CLI's promotion rules (verify runs under them).
    with jax.numpy_dtype_promotion("standard"):
        rows = verify.run_claims(quick=True, only=BL_ROWS, dtype=dtype)
    failed = [(r.id, r.z, r.detail) for r in rows if not r.passed]
    assert not failed, failed


# --- properties ---------------------------------------------------------------------


@settings(deadline=None, max_examples=40)
@given(
    k=st.sampled_from([2, 3, 5]),
    m=st.sampled_from([1, 2, 5, 8]),
    n=st.integers(0, 8),
    learner=st.sampled_from(["posterior_sample", "posterior_predictive", "map"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_categorical_moments_stay_on_the_simplex(k, m, n, learner, seed):
    rng = np.random.default_rng(seed)
    p0 = rng.dirichlet(np.ones(k))
    alpha = rng.uniform(1.0 if learner == "map" else 0.05, 4.0, k)
    mean = bayes.categorical_mean(p0, alpha, m, n, learner)
    h = bayes.categorical_expected_homozygosity(p0, alpha, m, n, learner)
    assert np.all(mean >= -1e-12) and mean.sum() == pytest.approx(1.0)
    # E sum p^2 lies between sum (E p)^2 >= 1/K (Jensen, Cauchy-Schwarz) and 1
    assert np.sum(mean**2) - 1e-12 <= h <= 1 + 1e-12
    if learner != "map" or np.all(alpha > 1):
        assert 1 - h > 0  # the expected Gini-Simpson index never reaches 0


@settings(deadline=None, max_examples=40)
@given(
    m=st.sampled_from([4, 5, 10, 30]),
    n=st.integers(1, 30),
    learner=st.sampled_from(["posterior_sample", "posterior_predictive", "map"]),
    a=st.floats(1.0, 5.0),
    b=st.sampled_from([0.0, 0.5, 3.0]),
)
def test_poisson_and_gaussian_moments_are_ordered(m, n, learner, a, b):
    mean, var = bayes.poisson_moments(0.7, m, n, learner, concentration=a, rate=b)
    assert mean >= 0 and var >= 0
    # posterior draws spread more than the predictive's mean (same mean recursion)
    if learner == "posterior_sample":
        other = bayes.poisson_moments(
            0.7, m, n, "posterior_predictive", concentration=a, rate=b
        )
        assert other[0] == pytest.approx(mean) and other[1] <= var
    # the learners' E sigma^2_n: MAP shrinks < 1 < posterior draws
    ps = bayes.gaussian_posterior_sample_moments(1.0, m, n)[0]
    mp = bayes.gaussian_map_moments(1.0, m, n)[0]
    assert mp < 1.0 < ps
    if m > 3:
        assert bayes.gaussian_predictive_moments(1.0, m, n)[0] > 1.0


def test_the_curves_are_the_pointwise_closed_forms():
    # One pass over n = 0 .. N equals N + 1 calls of the pointwise closed forms.
    p0, n_gen = [0.2, 0.3, 0.5], 7
    for learner, alpha in (("posterior_sample", 0.5), ("posterior_predictive", 2.0),
                           ("map", 1.5)):
        curve = bayes.categorical_expected_homozygosity_curve(p0, alpha, 6, n_gen,
                                                              learner)
        pointwise = [bayes.categorical_expected_homozygosity(p0, alpha, 6, n, learner)
                     for n in range(n_gen + 1)]
        np.testing.assert_allclose(curve, pointwise, rtol=1e-13)
        kw = dict(concentration=max(alpha, 1.0), rate=1.0)
        curve = bayes.poisson_mean_curve(0.7, 6, n_gen, learner, **kw)
        pointwise = [bayes.poisson_moments(0.7, 6, n, learner, **kw)[0]
                     for n in range(n_gen + 1)]
        np.testing.assert_allclose(curve, pointwise, rtol=1e-13)
