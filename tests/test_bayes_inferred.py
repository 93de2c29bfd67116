"""Conjugate learners fitted by NUTS or SVI (cj.bayesian(..., inference=...)).

The exact learner of the same family and prior is the oracle:

* NUTS, posterior_sample, 1-D Gaussian under the reference prior: one generation
  from a fixed truth has the exact learner's law of log sigma_1^2 (BL-1: mean
  step 0, variance 2 psi'((M-1)/2)).
* SVI with AutoNormal on the same model reaches its mean-field optimum, derived
  here in the guide's coordinates (mu, u = log sigma^2): the unconstrained
  posterior density is exp(-(n/2) u - (S + n (mu - xbar)^2) e^(-u) / 2), and
  maximising the ELBO over q = N(m, s^2) x N(nu, tau^2) gives m = xbar,
  tau^2 = 2/n, nu = log(S/(n-1)) + 1/n, s^2 = S / (n (n-1)). The exact posterior
  of u has mean log(S/2) - psi((n-1)/2) and variance psi'((n-1)/2) (> 2/n): the
  mean-field guide is too narrow and sits below the exact mean. So an SVI
  posterior-draw chain has step variance psi'((n-1)/2) + 2/n, less than the
  exact 2 psi'((n-1)/2) (slow test).
* The categorical's NUTS draws and predictive (the mean of the kept draws) have
  the exact E p_1 of BL-5, a lost category included; the MAP by SVI with a point
  guide is the exact MAP (optimiser tolerance, not statistical).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import digamma, polygamma

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

import collapse_jax as cj
from collapse_jax.bayes import inference as inf
from collapse_jax.bayes import inferred
from collapse_jax.theory import bayes as tb
from tests.helpers import assert_within_se, mean_and_se, module_seed

SEED = module_seed(__name__)
M = 10
TRUTH = cj.gaussian_params(1.0, 2.0)


# ----------------------------------------------------------------------- errors ---


def _bad_guide(data=None, n=1):
    loc = numpyro.param("loc", 0.0)
    numpyro.sample("mu", dist.Normal(loc, 1.0))  # no "var" site


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (
            {"learner": "map", "inference": cj.nuts(10, 5)},
            ValueError,
            r"bayesian\(\): inference must be cj\.svi\(\.\.\., guide='delta'\) for "
            r"learner='map'; got cj\.nuts\(\.\.\.\), which has no mode\. Pass",
        ),
        (
            {"learner": "map", "inference": cj.svi(10)},
            ValueError,
            r"got cj\.svi\(\.\.\., guide='normal'\)\. Pass inference=cj\.svi\("
            r"num_steps, guide='delta'\)",
        ),
        (
            {"inference": "nuts"},
            TypeError,
            r"bayesian\(\): inference must be None \(exact\), cj\.nuts\(\.\.\.\) or "
            r"cj\.svi\(\.\.\.\); got 'str'\.",
        ),
        (
            {"inference": cj.svi(10, guide=_bad_guide)},
            ValueError,
            r"inference must be cj\.svi\(guide=g\) with g's sample sites the "
            r"model's latents .*got a guide with sample sites \{'mu': \(\)\}",
        ),
        (
            {"learner": "posterior_predictive", "inference": cj.nuts(10, 5)},
            ValueError,
            r"the Student-t and GammaPoisson predictives are not of the family's "
            r"params.*got 'posterior_predictive' with a normal model\. Fit the "
            r"predictive learner of a Gaussian or Poisson by cj\.numpyro_family\(",
        ),
        (
            {"inference": cj.svi(10, start="fixed")},
            ValueError,
            r"inference must be cj\.svi\(\.\.\., start='warm'\) for a conjugate "
            r"family; got start='fixed'",
        ),
        (
            {"learner": "plugin", "inference": cj.nuts(10, 5)},
            ValueError,
            r"inference must be None with learner='plugin'",
        ),
    ],
)
def test_messages(kwargs, err, match):
    with pytest.raises(err, match=match):
        cj.bayesian(cj.gaussian(), **kwargs)


def test_categorical_predictive_needs_nuts():
    with pytest.raises(ValueError, match=r"got 'posterior_predictive' with cj\.svi\."):
        cj.bayesian(cj.categorical(3), "posterior_predictive", inference=cj.svi(5))


def test_the_family_keeps_its_params_sampler_and_metrics():
    inner = cj.poisson()
    prior = cj.gamma_prior(2.0, 1.0)
    fam = cj.bayesian(inner, "posterior_sample", prior, cj.nuts(5, 2))
    assert fam is cj.bayesian(inner, "posterior_sample", prior, cj.nuts(5, 2))
    assert fam is not cj.bayesian(inner, "posterior_sample", prior)
    assert fam.params_type is inner.params_type
    assert fam.metric_names == inner.metric_names
    assert fam.sample is inner.sample
    assert fam.sample_fit is None and fam.conjugate is None


def test_models_are_the_conjugate_posteriors():
    """The numpyro model's log density (numpyro's potential) is the exact
    posterior's up to a constant: the difference at two points is the same."""
    from numpyro.infer.util import log_density

    x = jnp.asarray([[0.3], [1.2], [-0.4], [2.0]])
    prior = cj.normal_inverse_gamma(0.5, 2.0, 3.0, 1.5)
    model = inferred.numpyro_model("normal", prior)

    def logp(mu, var):
        return log_density(model, (), {"data": x, "n": 4}, {"mu": mu, "var": var})[0]

    # NIG posterior: kn = 6, mn = (2*0.5 + 3.1)/6, an = 5, bn = 1.5 + S/2 + ...
    xb, n = float(x.mean()), 4
    s = float(((x - xb) ** 2).sum())
    kn, an = 2.0 + n, 3.0 + n / 2
    mn = (2.0 * 0.5 + n * xb) / kn
    bn = 1.5 + s / 2 + 2.0 * n * (xb - 0.5) ** 2 / (2 * kn)

    def exact(mu, var):
        return (
            dist.InverseGamma(an, bn).log_prob(var)
            + dist.Normal(mn, jnp.sqrt(var / kn)).log_prob(mu)
        )

    a, b = (0.1, 0.7), (1.3, 2.2)
    np.testing.assert_allclose(
        logp(*a) - logp(*b), exact(*a) - exact(*b), rtol=1e-4, atol=1e-4
    )


# ------------------------------------------------------------------- accuracy ---


def test_nuts_posterior_sample_has_the_exact_law_of_one_generation():
    """BL-1: log sigma_1^2 - log sigma_0^2 has mean 0 and variance
    2 psi'((M-1)/2), as the exact learner's (tests/test_bayes_learners.py)."""
    n = 1000
    fam = cj.bayesian(cj.gaussian(), "posterior_sample", inference=cj.nuts(100, 10))
    res = cj.run_chains(fam, TRUTH, key=SEED, num_chains=n, num_generations=1,
                        sample_size=M)
    step = np.asarray(res.metrics["log_var"], np.float64)[:, 1, 0] - math.log(2.0)
    mean, var = tb.gaussian_posterior_sample_log_var_moments(M, 1)
    est, se = mean_and_se(step)
    assert_within_se(est, mean, se, what=f"NUTS E log-variance step, {n} chains")
    sq, se_sq = mean_and_se((step - mean) ** 2)
    assert_within_se(sq, var, se_sq, what=f"NUTS Var log-variance step, {n} chains")
    # The plug-in's drift (GC-3) is far outside the band: the test can tell.
    plugin = digamma((M - 1) / 2) + math.log(2 / (M - 1))
    assert abs(plugin) > 4 * se


def test_svi_autonormal_reaches_the_mean_field_optimum_below_the_posterior():
    """The guide fitted by the family's model and engine (warm-started at the
    data's plug-in fit) is the mean-field optimum of the module docstring, over
    independent optimisation runs; its u-variance 2/n and its mean are below the
    exact posterior's by many SEs (the direction of the mean-field error)."""
    n, runs = 10, 400
    model = inferred.numpyro_model("normal", cj.jeffreys())
    sites = inf.inspect_model("t", model)
    x = np.asarray(jax.random.normal(jax.random.key(8), (n, 1))) * 2.0 - 1.0
    s = float(((x - x.mean()) ** 2).sum())
    spec = cj.svi(1000, learning_rate=1e-2)
    guide = inf.make_guide(spec, model, {"mu": 0.0, "var": 1.0}, None)
    start = {
        k: jnp.asarray(v)
        for k, v in inf.initial_guide_params(spec, model, guide, sites, x).items()
    }
    start["mu_auto_loc"] = jnp.float32(x.mean())
    start["var_auto_loc"] = jnp.float32(math.log(s / (n - 1)))
    run = jax.jit(jax.vmap(lambda k: inf.run_svi(
        spec, model, guide, sites, jnp.asarray(x, jnp.float32),
        jnp.ones(n, jnp.float32), k, start)))
    p = jax.tree.map(
        lambda a: np.asarray(a, np.float64),
        run(jax.random.split(jax.random.key(SEED), runs)).params,
    )
    optimum = {
        "mu_auto_loc": float(x.mean()),
        "mu_auto_scale": s / (n * (n - 1)),  # compared as a variance
        "var_auto_loc": math.log(s / (n - 1)) + 1 / n,
        "var_auto_scale": 2 / n,
    }
    got = {k: p[k] ** 2 if k.endswith("scale") else p[k] for k in optimum}
    for k, want in optimum.items():
        est, se = mean_and_se(got[k])
        assert_within_se(est, want, se, what=f"SVI mean-field optimum {k}")
    exact_mean = math.log(s / 2) - digamma((n - 1) / 2)
    exact_var = float(polygamma(1, (n - 1) / 2))
    _, se = mean_and_se(got["var_auto_loc"])
    assert exact_mean - got["var_auto_loc"].mean() > 5 * se
    _, se = mean_and_se(got["var_auto_scale"])
    assert exact_var - got["var_auto_scale"].mean() > 20 * se


@pytest.mark.slow
def test_svi_posterior_sample_chain_has_the_mean_field_step_variance():
    """One generation of the SVI learner: log sigma_1^2 = nu + tau eps with the
    module docstring's optimum: mean psi((M-1)/2) + log 2 - log(M-1) + 1/M,
    variance psi'((M-1)/2) + 2/M, below the exact learner's 2 psi'((M-1)/2)."""
    n = 4000
    fam = cj.bayesian(cj.gaussian(), "posterior_sample",
                      inference=cj.svi(1000, learning_rate=1e-2))
    res = cj.run_chains(fam, TRUTH, key=SEED, num_chains=n, num_generations=1,
                        sample_size=M)
    step = np.asarray(res.metrics["log_var"], np.float64)[:, 1, 0] - math.log(2.0)
    a = (M - 1) / 2
    mean = digamma(a) + math.log(2) - math.log(M - 1) + 1 / M
    var = float(polygamma(1, a)) + 2 / M
    est, se = mean_and_se(step)
    assert_within_se(est, mean, se, what="SVI E log-variance step")
    sq, se_sq = mean_and_se((step - mean) ** 2)
    assert_within_se(sq, var, se_sq, what="SVI Var log-variance step")
    exact = tb.gaussian_posterior_sample_log_var_moments(M, 1)[1]
    assert exact - sq > 3 * se_sq


@pytest.mark.slow
def test_categorical_nuts_draws_and_predictive_have_the_exact_mean():
    """BL-5: E p_1 = (alpha + M p_0) / (K alpha + M) for a posterior draw and for
    the predictive (a posterior mean), a lost category (p_0 = 0) included: the
    warm start at a zero probability must not break the sampler."""
    n, m = 1000, 8
    p0 = [0.0, 0.3, 0.7]
    truth = cj.categorical_params(p0)
    want = tb.categorical_mean(p0, 0.5, m, 1)
    for learner in ("posterior_sample", "posterior_predictive"):
        fam = cj.bayesian(cj.categorical(3), learner, inference=cj.nuts(50, 10))
        res = cj.run_chains(fam, truth, key=SEED, num_chains=n, num_generations=1,
                            sample_size=m, record_params=True)
        probs = np.asarray(res.params.probs, np.float64)[:, -1]
        est, se = mean_and_se(probs)
        assert_within_se(est, want, se, what=f"NUTS {learner} E p_1")


@pytest.mark.slow
def test_map_by_a_point_guide_is_the_exact_map():
    """The SVI point guide's optimum is the exact posterior mode, to the
    optimiser's tolerance (deterministic: a point guide's ELBO has no noise)."""
    cases = [
        (cj.gaussian(), None, TRUTH, "log_var"),
        (cj.poisson(), cj.gamma_prior(2.0, 1.0), cj.poisson_params(3.0), "rate"),
        (cj.categorical(3), cj.dirichlet_prior(2.0),
         cj.categorical_params([0.2, 0.3, 0.5]), "gini_simpson"),
    ]
    spec = cj.svi(1500, guide="delta", learning_rate=1e-2)
    for inner, prior, truth, metric in cases:
        kw = dict(key=SEED, num_chains=16, num_generations=1, sample_size=M)
        exact = cj.run_chains(cj.bayesian(inner, "map", prior), truth, **kw)
        got = cj.run_chains(cj.bayesian(inner, "map", prior, spec), truth, **kw)
        np.testing.assert_allclose(
            np.asarray(got.metrics[metric])[:, 1],
            np.asarray(exact.metrics[metric])[:, 1],
            rtol=2e-3, atol=2e-3, err_msg=inner.name,
        )


@pytest.mark.slow  # two NUTS compiles, ~20-40 s on 2 loaded cores
def test_chains_are_bitwise_independent_of_the_batch():
    """A chain's trajectory depends on (seed, chain id), not on how many chains
    run beside it (NUTS's tree building is a while_loop under vmap)."""
    fam = cj.bayesian(cj.poisson(), "posterior_sample", inference=cj.nuts(5, 2))
    kw = dict(key=SEED, num_generations=2, sample_size=M, record_params=True)
    # 3 and 11 chains: batches padded to 8 and 16, two programs.
    few = cj.run_chains(fam, cj.poisson_params(3.0), num_chains=3, **kw)
    many = cj.run_chains(fam, cj.poisson_params(3.0), num_chains=11, **kw)
    np.testing.assert_array_equal(
        np.asarray(few.params.rate), np.asarray(many.params.rate)[:3]
    )


@pytest.mark.x64
def test_float64_runs_fit_in_float64_and_float32_bits_ignore_x64(x64):
    """Under x64 a float64 run's inference runs in float64; a float32 run traces
    its numpyro calls with x64 off (conjugate.scoped), so its bits are those of a
    process without x64."""
    fam = cj.bayesian(cj.gaussian(), "posterior_sample", inference=cj.svi(20))
    kw = dict(key=SEED, num_chains=4, num_generations=2, sample_size=M,
              record_params=True)
    res = cj.run_chains(fam, TRUTH, dtype=x64, **kw)
    assert np.asarray(res.params.mean).dtype == np.float64
    assert np.all(np.isfinite(np.asarray(res.metrics["log_var"])))
    on = cj.run_chains(fam, TRUTH, **kw)
    with jax.enable_x64(False):
        off = cj.run_chains(fam, TRUTH, **kw)
    np.testing.assert_array_equal(np.asarray(on.metrics["log_var"]),
                                  np.asarray(off.metrics["log_var"]))


@pytest.mark.slow  # ~70 s on 2 loaded cores
def test_an_svi_learner_keeps_the_whole_family_contract():
    """The contract kit (masked draws, weights, batch and chunk invariance, the
    population limit) on an SVI learner; NUTS's bits are not invariant to
    padding with weight-0 points (docs/bayes.md, Reproducibility)."""
    from collapse_jax.testing import check_family

    fam = cj.bayesian(cj.poisson(), "posterior_sample", inference=cj.svi(10))
    check_family(fam, cj.poisson_params(3.0))
