"""Exact Bayesian learners (cj.bayesian and the factories' learner=/prior=).

Laws are checked against closed forms computed here in NumPy/SciPy, independently
of the library's numpyro posteriors, at k·SE (tests/helpers.py), with SEs from
theory or from the independent chains' own spread.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.bayes.predictive import PredictiveParams
from collapse_jax.families.base import CAPABILITIES, has
from collapse_jax.testing import check_family
from tests.helpers import assert_within_se, mean_and_se, module_seed

SEED = module_seed(__name__)
N_CHAINS = 20_000

TRUTHS = {
    "gaussian": (lambda **kw: cj.gaussian(**kw), cj.gaussian_params(1.0, 2.0)),
    "categorical": (
        lambda **kw: cj.categorical(3, **kw),
        cj.categorical_params([0.2, 0.3, 0.5]),
    ),
    "poisson": (lambda **kw: cj.poisson(**kw), cj.poisson_params(3.0)),
}
BAYES = ("posterior_sample", "map", "posterior_predictive")


# ------------------------------------------------------------------- the switch ---


@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_plugin_is_the_family_itself(name):
    make, _ = TRUTHS[name]
    fam = make()
    assert make(learner="plugin") is fam
    assert cj.bayesian(fam, "plugin") is fam
    assert cj.LEARNERS == ("plugin", "posterior_sample", "posterior_predictive", "map")


def test_learner_families_are_cached_by_family_learner_and_prior():
    fam = cj.gaussian(learner="map", prior=cj.normal_inverse_gamma(0, 1, 2, 1))
    assert fam is cj.bayesian(cj.gaussian(), "map", cj.normal_inverse_gamma(0, 1, 2, 1))
    assert cj.gaussian(learner="map") is cj.gaussian(learner="map", prior=cj.jeffreys())
    assert cj.gaussian(learner="map") is not fam
    assert cj.bayesian(cj.poisson()) is cj.poisson(learner="posterior_sample")
    assert hash(cj.dirichlet_prior([1, 2])) == hash(cj.dirichlet_prior((1.0, 2.0)))


def test_the_conjugate_capability():
    assert "conjugate" in CAPABILITIES
    for name, (make, _) in TRUTHS.items():
        assert has(make(), "conjugate"), name
        assert not has(make(learner="map"), "conjugate"), name  # no learner of one
    assert not has(cj.gmm(2, 1), "conjugate")
    assert not has(cj.categorical(3, max_support=2), "conjugate")


# One pair per family in the default pass (each learner once, the predictive's own
# params type included); the other pairs in the slow pass.
_DEFAULT_PAIRS = {("gaussian", "posterior_predictive"),
                  ("categorical", "posterior_sample"), ("poisson", "map")}


@pytest.mark.parametrize("name, learner", [
    pytest.param(n, lrn, marks=() if (n, lrn) in _DEFAULT_PAIRS else pytest.mark.slow)
    for n in sorted(TRUTHS) for lrn in BAYES
])
def test_every_learner_keeps_the_family_contract(name, learner):
    # The cheap contracts here (one compile each); the draws' invariances for
    # two learners below, and every contract of every pair in the slow pass.
    make, truth = TRUTHS[name]
    report = check_family(make(learner=learner), truth,
                          checks=("shapes_and_dtypes", "weighted_fit", "bad_input"))
    assert set(report.values()) <= {"passed", "passed (float32)",
                                    "passed (float32, float64)"}


def test_a_learner_chain_does_not_depend_on_its_batch_or_chunks():
    # The default pass's direct check (the contract kit's, both samplers and
    # more shapes, is the slow test below): chain c's bits in a batch of 7, in a
    # batch of 3 and in chunks of 2 generations.
    make, truth = TRUTHS["gaussian"]
    fam = make(learner="posterior_sample")
    kw = dict(key=SEED, num_generations=5, sample_size=6)
    full = cj.run_chains(fam, truth, num_chains=7, **kw)
    part = cj.run_chains(fam, truth, num_chains=3, **kw)
    chunked = cj.run_chains(fam, truth, num_chains=7, chunk_size=2, **kw)
    for metric in ("mean", "log_var"):
        a = np.asarray(full.metrics[metric])
        np.testing.assert_array_equal(a[:3], np.asarray(part.metrics[metric]))
        np.testing.assert_array_equal(a, np.asarray(chunked.metrics[metric]))
    assert np.all(np.diff(a[:, :, 0], axis=1) != 0)  # the chains moved


@pytest.mark.slow
@pytest.mark.parametrize("name, learner", [
    ("gaussian", "posterior_sample"),
    ("poisson", "posterior_predictive"),
])
def test_a_learner_chain_is_bitwise_batch_and_chunk_invariant(name, learner):
    make, truth = TRUTHS[name]
    report = check_family(make(learner=learner), truth,
                          checks=("batch_invariance", "chunk_invariance"))
    assert report["chunk_invariance"] == "passed (samples, sufficient)"


@pytest.mark.x64
@pytest.mark.parametrize("learner", BAYES)
def test_learners_keep_their_dtypes_in_float64(x64, learner):
    for name, (make, truth) in TRUTHS.items():
        report = check_family(make(learner=learner), truth, dtypes=("float64",),
                              checks=("shapes_and_dtypes",))
        assert report["shapes_and_dtypes"] == "passed (float64)", name


@pytest.mark.slow
@pytest.mark.parametrize("learner", BAYES)
@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_every_learner_keeps_the_whole_contract(name, learner):
    make, truth = TRUTHS[name]
    check_family(make(learner=learner), truth)


@pytest.mark.x64
@pytest.mark.parametrize("name", ["gaussian", "poisson"])
def test_float32_learner_chains_do_not_depend_on_x64(x64, name):
    # numpyro draws in the default float dtype; a float32 run traces its numpyro
    # calls with x64 off, so its bits are those of a process without x64.
    make, truth = TRUTHS[name]
    kw = dict(key=SEED, num_chains=4, num_generations=3, sample_size=6)
    for learner in BAYES:
        fam = make(learner=learner)
        on = cj.run_chains(fam, truth, **kw)
        with jax.enable_x64(False):
            off = cj.run_chains(fam, truth, **kw)
        for metric in fam.metric_names:
            np.testing.assert_array_equal(np.asarray(on.metrics[metric]),
                                          np.asarray(off.metrics[metric]),
                                          err_msg=f"{learner}: {metric}")


# -------------------------------------------------------- one-generation laws ---


def _one_generation(fam, truth, m, sampler, key=SEED, n=N_CHAINS):
    res = cj.run_chains(fam, truth, key=key, num_chains=n, num_generations=1,
                        sample_size=m, sampler=sampler, record_params=True)
    return res


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_gaussian_jeffreys_posterior_sample_has_zero_drift(sampler):
    # log sigma_1^2 - log sigma_0^2 = log chi2'_{M-1} - log chi2_{M-1}: mean 0,
    # variance 2 psi'((M-1)/2); mu_1 - mu_0 has variance (1 + (M-1)/(M-3)) / M.
    m = 10
    fam = cj.gaussian(learner="posterior_sample")
    res = _one_generation(fam, cj.gaussian_params(1.0, 2.0), m, sampler)
    step = np.asarray(res.metrics["log_var"], np.float64)[:, 1, 0] - math.log(2.0)
    var = 2 * special.polygamma(1, (m - 1) / 2)
    assert_within_se(step.mean(), 0.0, math.sqrt(var / N_CHAINS),
                     what=f"E log-variance step, posterior_sample, {sampler}")
    # The plug-in drift psi((M-1)/2) + log(2/(M-1)) < 0 is far outside that band.
    plugin = special.digamma((m - 1) / 2) + math.log(2 / (m - 1))
    assert abs(plugin) > 10 * math.sqrt(var / N_CHAINS)
    mu = np.asarray(res.metrics["mean"], np.float64)[:, 1, 0] - 1.0
    mu_var = 2.0 * (1 + (m - 1) / (m - 3)) / m
    # The SE of a variance estimate from the fourth moment (mu is a normal
    # scale mixture: E mu^4 from the chains themselves).
    m4, se4 = mean_and_se(mu**4)
    assert_within_se(np.mean(mu**2), mu_var, math.sqrt((m4 - mu_var**2) / N_CHAINS),
                     what="Var of the mean's step, posterior_sample")


def test_gaussian_jeffreys_map_is_s_over_m_plus_2():
    # sigma_1^2 = S / (M + 2), S = sigma_0^2 chi2_{M-1}.
    m = 8
    fam = cj.gaussian(learner="map")
    res = _one_generation(fam, cj.gaussian_params(0.0, 1.0), m, "sufficient")
    lv = np.asarray(res.metrics["log_var"], np.float64)[:, 1, 0]
    expect = special.digamma((m - 1) / 2) + math.log(2) - math.log(m + 2)
    se = math.sqrt(special.polygamma(1, (m - 1) / 2) / N_CHAINS)
    assert_within_se(lv.mean(), expect, se, what="E log sigma^2 of the Jeffreys MAP")


def _posterior_draws(fam, data, n=N_CHAINS):
    data = jnp.asarray(data)
    weights = jnp.ones(data.shape[:1], jnp.float32)

    def one(key):
        return fam.fit(key, data, weights, None)

    keys = jax.random.split(jax.random.key(SEED), n)
    return jax.jit(jax.vmap(one))(keys)


def test_gaussian_normal_inverse_gamma_posterior_matches_the_closed_form():
    m0, k0, a0, b0 = 0.5, 2.0, 3.0, 1.5
    prior = cj.normal_inverse_gamma(m0, k0, a0, b0)
    fam = cj.gaussian(learner="posterior_sample", prior=prior)
    x = np.array([0.3, 1.9, -0.4, 1.1, 0.8, 2.2], np.float32)[:, None]
    draws = _posterior_draws(fam, x)
    v = np.exp(2 * np.asarray(draws.chol_log_diag, np.float64)[:, 0])
    mu = np.asarray(draws.mean, np.float64)[:, 0]
    # Closed form (NumPy, from the raw points).
    n, xbar = len(x), float(x.mean())
    s = float(((x - xbar) ** 2).sum())
    kn, an = k0 + n, a0 + n / 2
    mn = (k0 * m0 + n * xbar) / kn
    bn = b0 + s / 2 + k0 * n * (xbar - m0) ** 2 / (2 * kn)
    # log sigma^2 = log bn - log G, G ~ Gamma(an, 1): mean log bn - psi(an),
    # variance psi'(an) (a multiplicative quantity, tested on the log scale).
    assert_within_se(np.log(v).mean(), math.log(bn) - special.digamma(an),
                     math.sqrt(special.polygamma(1, an) / N_CHAINS),
                     what="E log sigma^2 (NIG posterior draw)")
    ev = bn / (an - 1)
    sd_mu = math.sqrt(ev / kn)  # Var mu = E[sigma^2] / kn (a Student-t's variance)
    assert_within_se(mu.mean(), mn, sd_mu / math.sqrt(N_CHAINS), what="E mu (NIG)")
    mode = cj.gaussian(learner="map", prior=prior).fit(
        None, jnp.asarray(x), jnp.ones((n,), jnp.float32), None)
    np.testing.assert_allclose(float(mode.mean[0]), mn, rtol=1e-5)
    np.testing.assert_allclose(float(jnp.exp(2 * mode.chol_log_diag[0])),
                               bn / (an + 1.5), rtol=1e-5)


@pytest.mark.parametrize("prior", [None, cj.dirichlet_prior([0.3, 2.0, 1.0])])
def test_categorical_posterior_sample_mean_is_the_dirichlet_mean(prior):
    fam = cj.categorical(3, learner="posterior_sample", prior=prior)
    data = np.array([0, 2, 2, 1, 2, 0, 2], np.int32)
    probs = np.asarray(_posterior_draws(fam, data).probs, np.float64)
    alpha = np.full(3, 0.5) if prior is None else np.array([0.3, 2.0, 1.0])
    conc = alpha + np.bincount(data, minlength=3)
    total = conc.sum()
    mean = conc / total
    sd = np.sqrt(mean * (1 - mean) / (total + 1))
    assert_within_se(probs.mean(0), mean, sd / math.sqrt(N_CHAINS),
                     what="E probs of a Dirichlet posterior draw")
    mode = cj.categorical(3, learner="map", prior=prior).fit(
        None, jnp.asarray(data), jnp.ones((7,), jnp.float32), None)
    top = np.maximum(conc - 1, 0)
    np.testing.assert_allclose(np.asarray(mode.probs), top / top.sum(), rtol=1e-6)
    pred = cj.categorical(3, learner="posterior_predictive", prior=prior).fit(
        None, jnp.asarray(data), jnp.ones((7,), jnp.float32), None)
    np.testing.assert_allclose(np.asarray(pred.probs), mean, rtol=1e-6)


@pytest.mark.parametrize("a, b", [(0.5, 0.0), (2.5, 1.0), (0.7, 3.0)])
def test_poisson_map_and_posterior_sample(a, b):
    prior = None if b == 0 else cj.gamma_prior(a, b)
    for data in (np.array([0, 0, 0, 0], np.int32), np.array([3, 0, 1, 4], np.int32)):
        n, m = int(data.sum()), len(data)
        mode = cj.poisson(learner="map", prior=prior).fit(
            None, jnp.asarray(data), jnp.ones((m,), jnp.float32), None)
        np.testing.assert_allclose(float(mode.rate), max(a - 1 + n, 0) / (b + m),
                                   rtol=1e-6)
    fam = cj.poisson(learner="posterior_sample", prior=prior)
    rates = np.asarray(_posterior_draws(fam, data).rate, np.float64)
    conc, rate = a + n, b + m
    assert_within_se(np.log(rates).mean(), special.digamma(conc) - math.log(rate),
                     math.sqrt(special.polygamma(1, conc) / N_CHAINS),
                     what="E log rate of a Gamma posterior draw")


def test_poisson_map_absorbs_only_when_the_concentration_is_at_most_one():
    assert cj.poisson(learner="map").absorbing is not None  # Jeffreys: a = 1/2
    assert cj.poisson(learner="map", prior=cj.gamma_prior(1.5, 1.0)).absorbing is None
    assert cj.poisson(learner="posterior_sample").absorbing is None
    assert cj.categorical(3, learner="map").absorbing is not None
    assert cj.categorical(
        3, learner="map", prior=cj.dirichlet_prior([0.5, 1.2, 0.5])).absorbing is None
    # A rate-0 chain under the Jeffreys posterior sample leaves 0 at once.
    res = cj.run_chains(cj.poisson(learner="posterior_sample"), cj.poisson_params(0.01),
                        key=SEED, num_chains=64, num_generations=6, sample_size=5)
    assert np.all(np.asarray(res.metrics["rate"])[:, 1:] > 0)


# ------------------------------------------------------ the predictive learner ---


def test_gaussian_predictive_is_the_student_t():
    fam = cj.gaussian(learner="posterior_predictive")
    x = np.array([0.3, 1.9, -0.4, 1.1, 0.8, 2.2, 0.1, 1.4], np.float32)[:, None]
    n = len(x)
    prev = fam.cast_params(cj.gaussian_params(1.0, 2.0), jnp.float32)
    pred = fam.fit(None, jnp.asarray(x), jnp.ones((n,), jnp.float32), prev)
    assert isinstance(pred, PredictiveParams) and float(pred.weight) == n
    xbar, s2 = float(x.mean()), float(x.var(ddof=1))
    t = stats.t(df=n - 1, loc=xbar, scale=math.sqrt(s2 * (1 + 1 / n)))
    grid = np.linspace(-3, 5, 7, dtype=np.float32)[:, None]
    np.testing.assert_allclose(np.asarray(fam.log_prob(pred, jnp.asarray(grid))),
                               t.logpdf(grid[:, 0]), rtol=1e-5, atol=1e-5)
    metrics = fam.metrics(pred, fam.cast_params(cj.gaussian_params(1.0, 2.0),
                                                jnp.float32))
    np.testing.assert_allclose(float(metrics["log_var"][0]), math.log(t.var()),
                               rtol=1e-5)
    draws = np.asarray(fam.sample(jax.random.key(SEED), pred, 200_000), np.float64)
    mean, se = mean_and_se(draws[:, 0])
    assert_within_se(mean, xbar, se, what="mean of Student-t predictive draws")
    # The law at its quartiles (binomial SEs; the t's tails make moments noisy).
    q = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    below = (draws[:, :1] < t.ppf(q)[None, :]).mean(0)
    assert_within_se(below, q, np.sqrt(q * (1 - q) / draws.shape[0]),
                     what="Student-t predictive CDF at its quantiles")


def test_poisson_predictive_is_the_gamma_poisson():
    prior = cj.gamma_prior(2.0, 0.5)
    fam = cj.poisson(learner="posterior_predictive", prior=prior)
    data = np.array([3, 0, 1, 4, 2], np.int32)
    prev = fam.cast_params(cj.poisson_params(1.0), jnp.float32)
    pred = fam.fit(None, jnp.asarray(data), jnp.ones((5,), jnp.float32), prev)
    conc, rate = 2.0 + data.sum(), 0.5 + len(data)
    nb = stats.nbinom(conc, rate / (1 + rate))
    ks = np.arange(12, dtype=np.int32)
    np.testing.assert_allclose(np.asarray(fam.log_prob(pred, jnp.asarray(ks))),
                               nb.logpmf(ks), rtol=1e-5, atol=1e-5)
    draws = np.asarray(fam.sample(jax.random.key(SEED), pred, 50_000), np.float64)
    mean, se = mean_and_se(draws)
    assert_within_se(mean, nb.mean(), se, what="mean of GammaPoisson draws")
    sq, se_sq = mean_and_se((draws - nb.mean()) ** 2)
    assert_within_se(sq, nb.var(), se_sq, what="variance of GammaPoisson draws")
    # The sufficient draw of M points' total is GammaPoisson(M conc, rate).
    m = 7
    totals = jax.jit(jax.vmap(lambda k: fam.sample_fit(k, pred, m).fit.count))(
        jax.random.split(jax.random.key(SEED + 1), N_CHAINS))
    nb_m = stats.nbinom(m * conc, rate / (1 + rate))
    assert_within_se(np.mean(totals), nb_m.mean(),
                     nb_m.std() / math.sqrt(N_CHAINS), what="E total of M draws")


@pytest.mark.parametrize("name", ["gaussian", "poisson"])
def test_predictive_runs_from_a_truth_of_the_family(name):
    make, truth = TRUTHS[name]
    fam, plugin = make(learner="posterior_predictive"), make()
    res = cj.run_chains(fam, truth, key=SEED, num_chains=8, num_generations=3,
                        sample_size=20, record_params=True)
    ref = cj.run_chains(plugin, truth, key=SEED, num_chains=8, num_generations=1,
                        sample_size=20)
    # Generation 0 is the truth; generation 1 fits draws from the truth itself.
    w = np.asarray(res.params.weight)
    assert np.all(w[:, 0] == 0) and np.all(w[:, 1:] == 20)
    for metric in set(fam.metric_names) & set(plugin.metric_names):
        np.testing.assert_array_equal(np.asarray(res.metrics[metric])[:, 0],
                                      np.asarray(ref.metrics[metric])[:, 0])
    with pytest.raises(TypeError, match=r"run_chains\(\): init must be "
                       r".*Params \(the truth\) or PredictiveParams"):
        cj.run_chains(fam, (1.0, 2.0), key=0, num_chains=2, num_generations=1,
                      sample_size=5)


# ------------------------------------------------------------------- regimes ---


@pytest.mark.parametrize("learner", [
    "posterior_predictive",  # its own params type: the default pass
    pytest.param("posterior_sample", marks=pytest.mark.slow),
    pytest.param("map", marks=pytest.mark.slow),
])
def test_learners_run_under_a_mixing_regime_and_accumulate(learner):
    fam = cj.gaussian(learner=learner)
    truth = cj.gaussian_params(0.0, 1.0)
    for regime in (cj.fresh(5), cj.accumulate()):
        res = cj.run_chains(fam, truth, key=SEED, num_chains=8, num_generations=4,
                            sample_size=10, regime=regime)
        assert res.failures() == []
        assert np.all(np.isfinite(np.asarray(res.metrics["log_var"])))
    # The pooled statistic is the plug-in's, so the learner keeps its points.
    assert fam.pooled is None


def test_learners_in_the_population_limit_are_the_plugin_chain():
    truth = cj.gaussian_params(1.0, 2.0)
    ref = cj.run_chains(cj.gaussian(), truth, key=0, num_chains=2, num_generations=3,
                        sample_size=None)
    for learner in BAYES:
        res = cj.run_chains(cj.gaussian(learner=learner), truth, key=0, num_chains=2,
                            num_generations=3, sample_size=None)
        np.testing.assert_array_equal(np.asarray(res.metrics["log_var"]),
                                      np.asarray(ref.metrics["log_var"]))


def test_a_far_truth_runs_in_its_frame_with_the_prior_mean_moved():
    # The normal-inverse-gamma posterior is equivariant when the prior mean moves
    # with the data: the chain of a truth at 1e6 (prior mean 1e6 + 0.5) is, in its
    # frame, bit for bit the chain of the truth at 0 (prior mean 0.5).
    kw = dict(key=SEED, num_chains=8, num_generations=4, sample_size=10)
    near = cj.run_chains(
        cj.gaussian(learner="posterior_sample",
                    prior=cj.normal_inverse_gamma(0.5, 2.0, 3.0, 1.0)),
        cj.gaussian_params(0.0, 2.0), **kw)
    far = cj.run_chains(
        cj.gaussian(learner="posterior_sample",
                    prior=cj.normal_inverse_gamma(1e6 + 0.5, 2.0, 3.0, 1.0)),
        cj.gaussian_params(1e6, 2.0), **kw)
    np.testing.assert_array_equal(far.relative["mean"], near.metrics["mean"])
    np.testing.assert_array_equal(far.metrics["log_var"], near.metrics["log_var"])
    np.testing.assert_allclose(far.metrics["mean"] - 1e6, near.metrics["mean"],
                               atol=1e-9)


def test_a_collapsing_map_chain_keeps_its_exact_law_far_below_float32s_range():
    # Jeffreys MAP: log sigma_{n+1}^2 = log sigma_n^2 + log chi2_{M-1} - log(M + 2),
    # a drift of psi((M-1)/2) + log 2 - log(M + 2) per generation (-0.40 at M =
    # 10): about -800 after 2,000 generations, far below float32's exp range. The
    # refit from standardised draws keeps it exact; 64 chains, SE about 2.8.
    m, gens, n = 10, 2000, 64
    res = cj.run_chains(cj.gaussian(learner="map"), cj.gaussian_params(0.0, 1.0),
                        key=SEED, num_chains=n, num_generations=gens, sample_size=m)
    assert res.failures() == []
    lv = np.asarray(res.metrics["log_var"], np.float64)[:, -1, 0]
    a = (m - 1) / 2
    drift = special.digamma(a) + math.log(2) - math.log(m + 2)
    assert_within_se(lv.mean(), gens * drift,
                     math.sqrt(gens * special.polygamma(1, a) / n),
                     what=f"E log sigma^2 of the Jeffreys MAP chain at T = {gens}")
    assert lv.max() < -500


def test_the_gaussian_predictive_tail_mass_does_not_depend_on_the_batch():
    # The Student-t CDF's continued fraction runs until every element of a batched
    # call converges: evaluated lane by lane, a chain's tail_mass is the same bits in
    # a batch of 11 as in a batch of 3 (it differed by an ulp, under cj.fresh).
    make, truth = TRUTHS["gaussian"]
    fam = make(learner="posterior_predictive")
    kw = dict(key=SEED, num_generations=5, sample_size=5, regime=cj.fresh(4))
    big = cj.run_chains(fam, truth, num_chains=11, **kw)
    small = cj.run_chains(fam, truth, num_chains=3, **kw)
    tail = np.asarray(big.metrics["tail_mass"])
    np.testing.assert_array_equal(tail[:3], np.asarray(small.metrics["tail_mass"]))
    assert np.all((tail[:, 1:] > 0) & (tail[:, 1:] < 1))
