"""NUTS and SVI on one data set inside jit (collapse_jax.bayes.inference).

Accuracy against closed forms, at k·SE over independent chains (one NUTS compile and
one SVI compile in this module):

* NUTS on a conjugate 1-D Gaussian model (Normal-InverseGamma prior): the kept
  draws' mean of mu and of log sigma^2 and their variances are the exact
  posterior's (mu's marginal is a Student-t, sigma^2's an inverse gamma).
* SVI with ``AutoNormal`` on a Gaussian model whose posterior is a correlated 2-D
  Gaussian: the mean-field optimum has the exact posterior means and variances
  ``1 / Lambda_ii`` (the inverse diagonal of the posterior precision), not the
  marginal variances ``(Lambda^-1)_ii``, which are twice as large here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma, polygamma

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

import collapse_jax as cj
from collapse_jax.bayes import inference as inf
from tests.helpers import K, assert_within_se, mean_and_se

# ------------------------------------------------------------------------ models ---

M0, K0, A0, B0 = 0.0, 1.0, 2.0, 2.0  # the Normal-InverseGamma prior


def nig_model(data=None, n=10):
    var = numpyro.sample("var", dist.InverseGamma(A0, B0))
    mu = numpyro.sample("mu", dist.Normal(M0, jnp.sqrt(var / K0)))
    with numpyro.plate("data", n):
        numpyro.sample("x", dist.Normal(mu, jnp.sqrt(var)), obs=data)


def nig_posterior(x):
    """The exact posterior's moments: E mu, Var mu, E log var, Var log var."""
    n = x.shape[0]
    xb = x.mean()
    kn = K0 + n
    mn = (K0 * M0 + n * xb) / kn
    an = A0 + n / 2
    bn = B0 + 0.5 * ((x - xb) ** 2).sum() + K0 * n * (xb - M0) ** 2 / (2 * kn)
    return {
        "mu": (mn, bn / ((an - 1) * kn)),  # Student-t with 2 a_n dof
        "log_var": (np.log(bn) - digamma(an), float(polygamma(1, an))),
    }


J = np.array([[1.0, 1.0], [0.0, 1.0]])  # the mean of a point is J (a, b)
PRIOR_SD = 10.0


def correlated_model(data=None, n=10):
    a = numpyro.sample("a", dist.Normal(0.0, PRIOR_SD))
    b = numpyro.sample("b", dist.Normal(0.0, PRIOR_SD))
    with numpyro.plate("data", n):
        numpyro.sample(
            "x", dist.Normal(jnp.stack([a + b, b]), 1.0).to_event(1), obs=data
        )


def correlated_posterior(x):
    """Posterior precision and mean of (a, b) (a Gaussian: conjugate)."""
    lam = x.shape[0] * J.T @ J + np.eye(2) / PRIOR_SD**2
    return lam, np.linalg.solve(lam, J.T @ x.sum(0))


# -------------------------------------------------------------------------- specs ---


def test_specs_are_frozen_hashable_and_validated():
    assert inf.svi(100) == inf.svi(100) and hash(inf.svi(100)) == hash(inf.svi(100))
    assert inf.nuts(10, 5) == inf.nuts(10, 5)
    assert inf.svi(100).guide == "normal" and inf.svi(100).start == "warm"
    assert cj.svi is inf.svi and cj.nuts is inf.nuts
    with pytest.raises(AttributeError):
        inf.nuts(10, 5).num_samples = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: inf.svi(0),
            r"svi\(\): num_steps must be a positive integer \(>= 1\); "
            r"got 0\. Pass num_steps >= 1",
        ),
        (lambda: inf.svi(1.5), r"svi\(\): num_steps must be a positive integer; got"),
        (
            lambda: inf.svi(10, guide="laplace"),
            r"svi\(\): guide must be 'normal', "
            r"'delta' or a numpyro guide callable; got 'laplace'",
        ),
        (lambda: inf.svi(10, optimizer="lbfgs"), r"svi\(\): optimizer must be one of"),
        (
            lambda: inf.svi(10, learning_rate=0.0),
            r"svi\(\): learning_rate must be a "
            r"number > 0; got 0",
        ),
        (
            lambda: inf.svi(10, start="cold"),
            r"svi\(\): start must be one of 'warm', "
            r"'fixed'; got 'cold'",
        ),
        (lambda: inf.svi(10, num_particles=0), r"svi\(\): num_particles must be"),
        (
            lambda: inf.nuts(10, 0),
            r"nuts\(\): num_samples must be a positive integer "
            r"\(>= 1\); got 0\. Pass num_samples >= 1 kept draws",
        ),
        (
            lambda: inf.nuts(-1, 5),
            r"nuts\(\): num_warmup must be a non-negative "
            r"integer; got -1",
        ),
        (
            lambda: inf.nuts(10, 5, target_accept=1.0),
            r"nuts\(\): target_accept must "
            r"be a number in \(0, 1\); got 1",
        ),
        (lambda: inf.nuts(10, 5, max_tree_depth=0), r"nuts\(\): max_tree_depth must"),
    ],
)
def test_spec_messages(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


# ------------------------------------------------------------------ model sites ---


def test_inspect_model_finds_latents_and_the_observed_site():
    sites = inf.inspect_model("t", nig_model)
    assert sites.latent == ("var", "mu") and sites.observed == "x"
    assert sites.shapes == {"var": (), "mu": ()} and sites.event_shape == ()
    assert inf.inspect_model("t", correlated_model).event_shape == (2,)


def _no_obs(data=None, n=10):
    numpyro.sample("mu", dist.Normal(0.0, 1.0))


def _two_obs(data=None, n=10):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=jnp.zeros(3))
    with numpyro.plate("data", n):
        numpyro.sample("x", dist.Normal(mu, 1.0), obs=data)


def _event(data=None, n=10):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("x", dist.Normal(mu, 1.0).expand([n]).to_event(1), obs=data)


def _discrete(data=None, n=10):
    k = numpyro.sample("k", dist.Poisson(3.0))
    with numpyro.plate("data", n):
        numpyro.sample("x", dist.Normal(k, 1.0), obs=data)


def _local(data=None, n=10):
    with numpyro.plate("data", n):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        numpyro.sample("x", dist.Normal(z, 1.0), obs=data)


def _no_kwargs(data):
    numpyro.sample("x", dist.Normal(0.0, 1.0), obs=data)


@pytest.mark.parametrize(
    "model, err, match",
    [
        (
            3,
            TypeError,
            r"t\(\): model must be a numpyro model model\(data=None, "
            r"n=\.\.\.\); got 'int'",
        ),
        (
            _no_kwargs,
            TypeError,
            r"t\(\): model must be callable as model\(data=None, "
            r"n=\.\.\.\); got a model that raised",
        ),
        (
            _no_obs,
            ValueError,
            r"t\(\): model must be a model with exactly one observed "
            r"site .*; got a model with no observed site\.",
        ),
        (
            _two_obs,
            ValueError,
            r"exactly one observed site .*; got observed sites "
            r"\['x', 'y'\]",
        ),
        (
            _event,
            ValueError,
            r"observed site 'x' has batch shape \(n,\); got batch "
            r"shape \(\) with n = 3\. Draw the n points in a numpyro.plate",
        ),
        (_discrete, ValueError, r"continuous latents .*; got discrete latent site 'k'"),
        (
            _local,
            ValueError,
            r"latents are global .*; got latent site 'z' of shape "
            r"\(3,\) at n = 3",
        ),
    ],
)
def test_inspect_model_messages(model, err, match):
    with pytest.raises(err, match=match):
        inf.inspect_model("t", model)


def test_weights_scale_the_observed_log_likelihood_only():
    """Integer weights are replication; weight 0 removes a point even where its
    log-likelihood is -inf; the prior terms are not weighted."""

    def positive(data=None, n=10):
        s = numpyro.sample("s", dist.Gamma(2.0, 1.0))
        with numpyro.plate("data", n):
            numpyro.sample("x", dist.Exponential(s), obs=data)

    x = jnp.array([0.5, 2.0, -1.0, 1.5])  # -1 is outside the support
    w = jnp.array([2.0, 1.0, 0.0, 3.0])
    replicated = jnp.array([0.5, 0.5, 2.0, 1.5, 1.5, 1.5])
    z = {"s": jnp.asarray(0.3)}  # unconstrained log s
    target = inf.weighted(positive, "x", w)
    with inf.standard_promotion():
        got = numpyro.infer.util.potential_energy(target, (), {"data": x, "n": 4}, z)
        want = numpyro.infer.util.potential_energy(
            positive, (), {"data": replicated, "n": 6}, z
        )
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
    assert np.isfinite(float(got))


# --------------------------------------------------------------------- accuracy ---

NUTS_CHAINS = 1000


@pytest.fixture(scope="module")
def nuts_run():
    """NUTS on one data set, vmapped over NUTS_CHAINS independent keys."""
    x = np.asarray(jax.random.normal(jax.random.key(5), (10,))) * 1.5 + 1.0
    sites = inf.inspect_model("t", nig_model)
    spec = inf.nuts(100, 50)
    start = {"var": jnp.float32(1.0), "mu": jnp.float32(0.0)}
    run = jax.jit(
        jax.vmap(
            lambda k: inf.run_nuts(
                spec,
                nig_model,
                sites,
                jnp.asarray(x, jnp.float32),
                jnp.ones(10, jnp.float32),
                k,
                start,
            )
        )
    )
    res = run(jax.random.split(jax.random.key(11), NUTS_CHAINS))
    return x, spec, jax.tree.map(np.asarray, res)


def test_nuts_matches_the_conjugate_posterior_moments(nuts_run):
    """Per chain: the mean of its kept draws and their mean squared deviation from
    the exact mean; across independent chains those average to the exact mean and
    variance, with SE from the chains' spread."""
    x, spec, res = nuts_run
    exact = nig_posterior(x)
    values = {"mu": res.draws["mu"], "log_var": np.log(res.draws["var"])}
    assert values["mu"].shape == (NUTS_CHAINS, spec.num_samples)
    for name, draws in values.items():
        mean, var = exact[name]
        est, se = mean_and_se(draws.mean(axis=1))
        assert_within_se(est, mean, se, what=f"NUTS E[{name}] over {NUTS_CHAINS}")
        est, se = mean_and_se(((draws - mean) ** 2).mean(axis=1))
        assert_within_se(est, var, se, what=f"NUTS Var[{name}] over {NUTS_CHAINS}")


def test_nuts_reports_divergences_and_acceptance(nuts_run):
    _, spec, res = nuts_run
    assert res.diverging.shape == (NUTS_CHAINS,)
    # The share of divergent kept draws is a multiple of 1/num_samples in [0, 1].
    share = res.diverging * spec.num_samples
    np.testing.assert_allclose(share, np.round(share), atol=1e-4)
    assert np.all((res.diverging >= 0) & (res.diverging <= 1))
    # A well-posed 2-D posterior: the adapted step size meets the target.
    assert res.accept.mean() > 0.6


SVI_CHAINS = 200


@pytest.fixture(scope="module")
def svi_run():
    x = np.asarray(jax.random.normal(jax.random.key(3), (20, 2))) + np.array([1.0, 0.5])
    sites = inf.inspect_model("t", correlated_model)
    spec = inf.svi(1000, learning_rate=0.01, start="fixed")
    guide = inf.make_guide(spec, correlated_model, {"a": 0.0, "b": 0.0}, None)
    p0 = inf.initial_guide_params(spec, correlated_model, guide, sites, x)
    start = {k: jnp.asarray(v) for k, v in p0.items()}
    run = jax.jit(
        jax.vmap(
            lambda k: inf.run_svi(
                spec,
                correlated_model,
                guide,
                sites,
                jnp.asarray(x, jnp.float32),
                jnp.ones(20, jnp.float32),
                k,
                start,
            )
        )
    )
    res = run(jax.random.split(jax.random.key(7), SVI_CHAINS))
    return x, guide, sites, p0, jax.tree.map(np.asarray, res)


def test_svi_autonormal_reaches_the_mean_field_optimum(svi_run):
    """The mean-field Gaussian closest (KL) to a Gaussian posterior has its means
    and variances 1 / Lambda_ii; the final iterates of independent chains average
    to them (SE from the chains: the iterates jitter around the optimum)."""
    x, _, _, _, res = svi_run
    lam, mean = correlated_posterior(x)
    marginal = np.diag(np.linalg.inv(lam))
    for i, site in enumerate(("a", "b")):
        est, se = mean_and_se(res.params[f"{site}_auto_loc"])
        assert_within_se(est, mean[i], se, what=f"SVI mean of {site}")
        var = res.params[f"{site}_auto_scale"] ** 2
        est, se = mean_and_se(var)
        assert_within_se(est, 1 / lam[i, i], se, what=f"SVI variance of {site}")
        # Mean field underestimates: the marginal variance is far outside.
        assert abs(est - marginal[i]) > K * se, (est, marginal[i], se)


def test_svi_starts_from_the_given_guide_params(svi_run):
    """One Adam step moves each parameter by at most about the learning rate: the
    fit starts where it is told (the warm start of the next generation)."""
    x, guide, sites, p0, _ = svi_run
    spec = inf.svi(1, learning_rate=0.01)
    far = {
        k: jnp.asarray(v + (3.0 if k.endswith("loc") else 0.5)) for k, v in p0.items()
    }
    res = inf.run_svi(
        spec,
        correlated_model,
        guide,
        sites,
        jnp.asarray(x, jnp.float32),
        jnp.ones(20, jnp.float32),
        jax.random.key(0),
        far,
    )
    for k, v in far.items():
        assert abs(float(res.params[k]) - float(v)) <= 0.011, k
    # The guide draws from the fitted params (a, b near their locations).
    draw = inf.guide_draw(guide, sites, res.params, jax.random.key(1), None, 1)
    assert set(draw) == {"a", "b"} and all(np.isfinite(float(v)) for v in draw.values())


def test_nuts_starts_from_the_given_latents():
    """No warm-up, one kept draw of one tree level from mu = 1000 (prior sd about
    1): the step size 1 is far too large there, the trajectory diverges and the
    draw stays where it started; started at the data instead, it moves."""
    x = jnp.linspace(-1.0, 3.0, 10)
    sites = inf.inspect_model("t", nig_model)
    spec = inf.nuts(0, 1, max_tree_depth=1)
    run = jax.jit(
        lambda start: inf.run_nuts(
            spec, nig_model, sites, x, jnp.ones(10), jax.random.key(0), start
        )
    )
    far = run({"var": jnp.float32(1.0), "mu": jnp.float32(1000.0)})
    assert abs(float(far.draws["mu"][0]) - 1000.0) < 10.0
    assert float(far.diverging) == 1.0
    near = run({"var": jnp.float32(1.0), "mu": jnp.float32(1.0)})
    assert abs(float(near.draws["mu"][0]) - 1.0) < 10.0


def jeffreys_model(data=None, n=10):
    """p(mu, var) ∝ 1 / var: improper, a flat site and a factor."""
    mu = numpyro.sample("mu", dist.ImproperUniform(constraints.real, (), ()))
    var = numpyro.sample("var", dist.ImproperUniform(constraints.positive, (), ()))
    numpyro.factor("jeffreys", -jnp.log(var))
    with numpyro.plate("data", n):
        numpyro.sample("x", dist.Normal(mu, jnp.sqrt(var)), obs=data)


def test_improper_priors_and_factors_are_inspected():
    """An improper prior's site cannot be sampled: the build-time trace gives it a
    feasible value; a numpyro.factor is a log-density term, not an observed site."""
    sites = inf.inspect_model("t", jeffreys_model)
    assert sites.latent == ("mu", "var") and sites.observed == "x"


@pytest.mark.slow
def test_nuts_matches_the_jeffreys_posterior():
    """Under p(mu, var) ∝ 1/var: var | x ~ InvGamma((n-1)/2, S/2), so log var has
    mean log(S/2) - psi((n-1)/2) and variance psi'((n-1)/2); mu | x is a Student-t
    with n-1 dof about the mean, variance S / (n (n-3))."""
    n, chains = 10, 500
    x = np.asarray(jax.random.normal(jax.random.key(8), (n,))) * 2.0 - 1.0
    ss = float(((x - x.mean()) ** 2).sum())
    exact = {
        "mu": (x.mean(), ss / (n * (n - 3))),
        "log_var": (
            np.log(ss / 2) - digamma((n - 1) / 2),
            float(polygamma(1, (n - 1) / 2)),
        ),
    }
    sites = inf.inspect_model("t", jeffreys_model)
    spec = inf.nuts(200, 50)
    start = {"mu": jnp.float32(0.0), "var": jnp.float32(1.0)}
    run = jax.jit(
        jax.vmap(
            lambda k: inf.run_nuts(
                spec,
                jeffreys_model,
                sites,
                jnp.asarray(x, jnp.float32),
                jnp.ones(n, jnp.float32),
                k,
                start,
            )
        )
    )
    res = jax.tree.map(np.asarray, run(jax.random.split(jax.random.key(2), chains)))
    values = {"mu": res.draws["mu"], "log_var": np.log(res.draws["var"])}
    for name, draws in values.items():
        mean, var = exact[name]
        est, se = mean_and_se(draws.mean(axis=1))
        assert_within_se(est, mean, se, what=f"Jeffreys NUTS E[{name}]")
        est, se = mean_and_se(((draws - mean) ** 2).mean(axis=1))
        assert_within_se(est, var, se, what=f"Jeffreys NUTS Var[{name}]")
