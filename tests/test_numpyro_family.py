"""Any numpyro model as a chain family (cj.numpyro_family).

Cheap by design: one NUTS compile of the runner's scan (the fork test's run, a
module fixture the run-based tests share); the SVI checks compile small programs;
the rest calls the family's functions directly. Reproducibility across chunking and
another padded batch, and the contract kit, are slow.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

import collapse_jax as cj
from collapse_jax import chain
from collapse_jax.bayes.numpyro_family import numpyro_family
from collapse_jax.testing import check_family
from tests.helpers import assert_within_se, binomial_se, mean_and_se


def gauss(data=None, n=10):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    with numpyro.plate("data", n):
        numpyro.sample("x", dist.Normal(mu, sigma), obs=data)


TRUTH = {"mu": 1.0, "sigma": 2.0}
FORK_RUN = dict(key=5, num_chains=32, num_generations=2, sample_size=50)


@pytest.fixture(scope="module")
def nuts_family():
    return numpyro_family(gauss, truth=TRUTH, inference=cj.nuts(30, 10))


# ------------------------------------------------------------------- the fork ---


@pytest.fixture(scope="module")
def fork():
    """A research fork: a new numpyro model as a chain family in under 20 lines of
    user code (a Student-t with unknown location and scale, not conjugate), run
    with cj.run_chains. The module's one NUTS compile: the tests below share it."""

    # --- user code: 11 lines ---
    def student(data=None, n=50):
        loc = numpyro.sample("loc", dist.Normal(2.0, 10.0))
        scale = numpyro.sample("scale", dist.HalfNormal(5.0))
        with numpyro.plate("data", n):
            numpyro.sample("x", dist.StudentT(4.0, loc, scale), obs=data)

    fam = cj.numpyro_family(
        student, truth={"loc": 2.0, "scale": 1.0}, inference=cj.nuts(50, 10)
    )
    res = cj.run_chains(fam, fam.generation0(), **FORK_RUN)
    # --- end of user code ---
    return fam, res


def test_fork_a_student_t_model_into_a_chain_family(fork):
    """The prior is symmetric about the truth's location and the Student-t data are
    symmetric about it, so the whole posterior-sample chain is symmetric under
    reflection about loc = 2: E[loc_n - 2] = 0 at every generation (k·SE over the
    chains); the fits are finite and move every generation."""
    _, res = fork
    assert np.all(res.status == 0)
    loc = res.metrics["loc"]
    assert np.all(loc[:, 1:] != loc[:, :-1])
    assert np.all(np.isfinite(res.metrics["log_lik"]))
    for gen in (1, 2):
        est, se = mean_and_se(loc[:, gen] - 2.0)
        assert_within_se(est, 0.0, se, what=f"E[loc_{gen} - loc_0], 32 chains")


# ------------------------------------------------------------------- the family ---


def test_params_metrics_and_generation_zero(fork):
    fam, res = fork
    assert fam.params_type._fields == ("loc", "scale", "divergences")
    assert fam.params_type.__name__ == "NumpyroStudentParams"
    assert fam.metric_names == ("loc", "scale", "log_lik", "divergences")
    assert fam.event_shape == () and fam.name == "numpyro_student"
    loc = res.metrics["loc"]
    assert loc.shape == (32, 3)
    np.testing.assert_array_equal(loc[:, 0], np.float32(2.0))
    np.testing.assert_array_equal(res.metrics["scale"][:, 0], np.float32(1.0))
    div = res.metrics["divergences"]
    assert np.all((div >= 0) & (div <= 1)) and np.all(div[:, 0] == 0)
    # the truth's log-likelihood of the reference set: a Student-t's, finite
    assert np.all(np.isfinite(res.metrics["log_lik"][:, 0]))


def test_compiled_once_and_bitwise_across_batch_sizes(fork):
    """A second run (another chain count within the same padded batch) compiles
    nothing new, and each chain's trajectory is the same bits in a batch of 27 as
    in a batch of 32."""
    fam, res32 = fork
    before = chain._run_chunk._cache_size()
    res = cj.run_chains(fam, fam.generation0(), **{**FORK_RUN, "num_chains": 27})
    assert chain._run_chunk._cache_size() == before
    np.testing.assert_array_equal(res.metrics["loc"], res32.metrics["loc"][:27])


@pytest.mark.slow
def test_bitwise_across_chunking_and_a_smaller_batch(fork):
    fam, res32 = fork
    for extra in ({"chunk_size": 1}, {"num_chains": 3}):
        res = cj.run_chains(fam, fam.generation0(), **{**FORK_RUN, **extra})
        n = res.metrics["loc"].shape[0]
        np.testing.assert_array_equal(res.metrics["loc"], res32.metrics["loc"][:n])


def test_weighted_log_prob_and_sample_are_the_observed_site(nuts_family):
    p = nuts_family.cast_params(nuts_family.generation0(), jnp.float32)
    x = jnp.array([0.0, 1.0, 5.0])
    want = dist.Normal(1.0, 2.0).log_prob(x)
    np.testing.assert_allclose(nuts_family.log_prob(p, x), want, rtol=1e-6)
    draws = nuts_family.sample(jax.random.key(0), p, 4000)
    assert draws.shape == (4000,) and draws.dtype == jnp.float32
    est, se = mean_and_se(np.asarray(draws))
    assert_within_se(est, 1.0, se, what="mean of 4000 draws from N(1, 2^2)")


def test_nuts_predictive_draws_each_point_from_a_chosen_kept_draw():
    """Kept draws at mu = -100 and +100 alternately: the points split between them
    (a binomial share 1/2); a shared draw for all points would put all on one."""
    fam = numpyro_family(
        gauss, truth=TRUTH, inference=cj.nuts(5, 10), learner="posterior_predictive"
    )
    p = fam.cast_params(fam.generation0(), jnp.float32)
    assert fam.params_type._fields == ("mu", "sigma", "draws", "divergences")
    np.testing.assert_array_equal(p.draws["mu"], np.ones(10, np.float32))
    mus = jnp.where(jnp.arange(10) % 2 == 0, -100.0, 100.0)
    p = p._replace(draws={"mu": mus, "sigma": jnp.ones(10)})
    x = np.asarray(fam.sample(jax.random.key(1), p, 2000))
    assert np.all(np.minimum(abs(x - 100), abs(x + 100)) < 10)
    share = float((x > 0).mean())
    assert_within_se(share, 0.5, binomial_se(0.5, 2000), what="share of points at +100")


def test_svi_predictive_draws_a_fresh_latent_per_point():
    """mu ~ N(0, 3^2) in the guide, sigma ~ 1: the points' variance is 1 + 9 (a
    shared mu per data set would give about 1)."""
    fam = numpyro_family(
        gauss, truth=TRUTH, inference=cj.svi(10), learner="posterior_predictive"
    )
    p = fam.cast_params(fam.generation0(), jnp.float32)
    assert fam.params_type._fields == ("mu", "sigma", "guide")
    guide = {
        "mu_auto_loc": jnp.float32(0.0),
        "mu_auto_scale": jnp.float32(3.0),
        "sigma_auto_loc": jnp.float32(0.0),  # log sigma
        "sigma_auto_scale": jnp.float32(1e-4),
    }
    n = 4000
    x = np.asarray(fam.sample(jax.random.key(2), p._replace(guide=guide), n))
    var = float(x.var(ddof=1))
    assert_within_se(var, 10.0, 10.0 * np.sqrt(2 / (n - 1)), what="predictive var")


# Normal-InverseGamma prior: the MAP learner's mode is in closed form.
M0, K0, A0, B0 = 0.0, 1.0, 2.0, 2.0


def nig(data=None, n=10):
    var = numpyro.sample("var", dist.InverseGamma(A0, B0))
    mu = numpyro.sample("mu", dist.Normal(M0, jnp.sqrt(var / K0)))
    with numpyro.plate("data", n):
        numpyro.sample("x", dist.Normal(mu, jnp.sqrt(var)), obs=data)


def test_map_learner_is_the_joint_posterior_mode():
    """AutoDelta maximises the posterior density of (mu, var): mode at mu = m_n,
    var = b_n / (a_n + 3/2). Deterministic (a point guide has no noise): the
    tolerance is the optimiser's convergence, not a statistical one."""
    fam = numpyro_family(
        nig,
        truth={"var": 1.0, "mu": 0.0},
        inference=cj.svi(1500, guide="delta", learning_rate=0.05),
        learner="map",
    )
    x = np.asarray(jax.random.normal(jax.random.key(4), (10,))) * 1.5 + 1.0
    w = np.array([1.0] * 8 + [2.0, 0.0], np.float32)
    p0 = fam.cast_params(fam.generation0(), jnp.float32)
    fit = jax.jit(fam.fit)(jax.random.key(0), jnp.asarray(x, jnp.float32), w, p0)
    xs = np.concatenate([x[:8], x[8:9], x[8:9]])  # weight 2: twice; weight 0: out
    n, xb = xs.size, xs.mean()
    kn, an = K0 + n, A0 + n / 2
    mn = (K0 * M0 + n * xb) / kn
    bn = B0 + 0.5 * ((xs - xb) ** 2).sum() + K0 * n * (xb - M0) ** 2 / (2 * kn)
    np.testing.assert_allclose(float(fit.mu), mn, rtol=2e-3)
    np.testing.assert_allclose(float(fit.var), bn / (an + 1.5), rtol=2e-3)


@pytest.mark.slow
def test_svi_family_keeps_the_runner_contract():
    """The contract kit: shapes and dtypes, prefix-stable draws, masked points,
    batch and chunk invariance, weighted fit = replication, bad input."""
    fam = numpyro_family(gauss, truth=TRUTH, inference=cj.svi(20))
    report = check_family(fam, fam.generation0())
    assert all(v.startswith(("passed", "skipped")) for v in report.values()), report
    assert report["masked_draws"] == "passed" and report["weighted_fit"] == "passed"


# ---------------------------------------------------------------------- errors ---


def _two_latent_guide(data=None, n=10):
    numpyro.sample("mu", dist.Normal(numpyro.param("m", 0.0), 1.0))


def _matching_guide(data=None, n=10):
    numpyro.sample("mu", dist.Normal(numpyro.param("m", 0.0), 1.0))
    numpyro.sample("sigma", dist.LogNormal(numpyro.param("s", 0.0), 0.1))


def _no_obs(data=None, n=10):
    numpyro.sample("mu", dist.Normal(0.0, 1.0))


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (
            dict(model=5),
            TypeError,
            r"numpyro_family\(\): model must be a numpyro model",
        ),
        (
            dict(model=_no_obs),
            ValueError,
            r"numpyro_family\(\): model must be a model with exactly one observed "
            r"site .*; got a model with no observed site",
        ),
        (
            dict(truth={"mu": 1.0}),
            ValueError,
            r"numpyro_family\(\): truth must be a dict with exactly the latent sites "
            r"\['mu', 'sigma'\]; got missing \['sigma'\]\. Give one value per latent",
        ),
        (
            dict(truth={**TRUTH, "nu": 3.0}),
            ValueError,
            r"truth must be a dict with exactly .*; got extra \['nu'\]",
        ),
        (
            dict(truth={"mu": 1.0, "sigma": -2.0}),
            ValueError,
            r"truth\['sigma'\] must be in the site's support",
        ),
        (
            dict(inference=cj.svi(5), guide=_two_latent_guide),
            ValueError,
            r"numpyro_family\(\): guide must be a guide whose sample sites are the "
            r"model's latents \['mu', 'sigma'\]; got sample sites \['mu'\]",
        ),
        (
            dict(guide=_matching_guide),
            ValueError,
            r"guide must be None with cj.nuts\(...\) \(a guide is for SVI\)",
        ),
        (
            dict(learner="posterior_mean"),
            ValueError,
            r"numpyro_family\(\): learner must be one of 'posterior_sample', "
            r"'posterior_predictive', 'map'; got 'posterior_mean'",
        ),
        (
            dict(learner="plugin"),
            ValueError,
            r"learner must be a Bayesian learner .*; got 'plugin'\. A numpyro model "
            r"has no plug-in fit",
        ),
        (
            dict(learner="map"),
            ValueError,
            r"learner must be a learner the inference supports; got learner='map' "
            r"with cj.nuts\(...\), which has no mode\. Pass inference=cj.svi",
        ),
        (
            dict(learner="map", inference=cj.svi(5)),
            ValueError,
            r"inference must be cj.svi\(..., guide='delta'\) for learner='map'; got "
            r"cj.svi\(..., guide='normal'\)",
        ),
        (
            dict(inference="nuts"),
            TypeError,
            r"inference must be cj.nuts\(...\) or cj.svi\(...\); got 'str'",
        ),
    ],
)
def test_messages(kwargs, err, match):
    kwargs = {"model": gauss, "truth": TRUTH, **kwargs}
    with pytest.raises(err, match=match):
        numpyro_family(kwargs.pop("model"), **kwargs)


def test_a_matching_user_guide_is_accepted_and_fits():
    fam = numpyro_family(gauss, truth=TRUTH, inference=cj.svi(5), guide=_matching_guide)
    p = fam.cast_params(fam.generation0(), jnp.float32)
    assert set(p.guide) == {"m", "s"}
    x = jnp.linspace(-1.0, 3.0, 12)
    fit = fam.fit(jax.random.key(0), x, jnp.ones(12), p)
    assert set(fit.guide) == {"m", "s"} and float(fit.sigma) > 0
    # warm start: one more fit starts from the fitted guide, not the initial one
    assert float(fit.guide["m"]) != 0.0


@pytest.mark.parametrize("start", ["warm", "fixed"])
def test_svi_start_warm_carries_the_guide_fixed_does_not(start):
    fam = numpyro_family(gauss, truth=TRUTH, inference=cj.svi(3, start=start))
    p = fam.cast_params(fam.generation0(), jnp.float32)
    moved = p._replace(guide={k: v + 1.0 for k, v in p.guide.items()})
    x = jnp.linspace(-1.0, 3.0, 12)
    fit = jax.jit(fam.fit)
    a = fit(jax.random.key(0), x, jnp.ones(12), p).guide
    b = fit(jax.random.key(0), x, jnp.ones(12), moved).guide
    same = all(np.array_equal(a[k], b[k]) for k in a)
    assert same == (start == "fixed")


def test_float64_run(x64):
    fam = numpyro_family(gauss, truth=TRUTH, inference=cj.svi(20))
    res = cj.run_chains(
        fam,
        fam.generation0(),
        key=0,
        num_chains=2,
        num_generations=2,
        sample_size=10,
        dtype="float64",
    )
    assert res.metrics["mu"].dtype == np.float64 and np.all(res.status == 0)
    assert res.params.guide["mu_auto_loc"].dtype == np.float64


def test_validate_params_refuses_foreign_params(fork):
    fam, _ = fork
    with pytest.raises(
        TypeError, match=r"run_chains\(\): init must be NumpyroStudentParams"
    ):
        cj.run_chains(fam, cj.poisson_params(1.0), **FORK_RUN)


# ------------------------------------------------------------------ measurement ---


@pytest.mark.slow
@pytest.mark.bench
def test_print_seconds_per_generation_per_chain(capsys):
    """Printed, not asserted (docs/bayes.md, Costs): the marginal cost of a
    generation (44 against 4 generations, min of 2 runs after the compile), 16
    chains, M = 50, float32, with the load average."""
    import os
    import time

    for inference in (cj.nuts(100, 100), cj.nuts(500, 500), cj.svi(500), cj.svi(2000)):
        fam = numpyro_family(gauss, truth=TRUTH, inference=inference)
        best = {}
        for gens in (4, 44):
            run = dict(
                num_chains=16, num_generations=gens, sample_size=50, chunk_size=4
            )
            cj.run_chains(fam, fam.generation0(), key=0, **run)  # compile
            times = []
            for key in (1, 2):
                t = time.perf_counter()
                cj.run_chains(fam, fam.generation0(), key=key, **run)
                times.append(time.perf_counter() - t)
            best[gens] = min(times)
        per = (best[44] - best[4]) / (40 * 16)
        with capsys.disabled():
            print(
                f"\n{inference}: {1e3 * per:.2f} ms per generation per chain "
                f"(load {os.getloadavg()[0]:.2f})"
            )


def test_user_metrics_and_the_nonfinite_status():
    fam = numpyro_family(
        gauss,
        truth=TRUTH,
        inference=cj.svi(5),
        metrics=lambda lat: {"cv": lat["sigma"] / lat["mu"]},
    )
    assert fam.metric_names == ("mu", "sigma", "log_lik", "cv")
    p = fam.cast_params(fam.generation0(), jnp.float32)
    values = fam.metrics(p, p)
    np.testing.assert_allclose(values["cv"], 2.0)
    want = np.mean(dist.Normal(1.0, 2.0).log_prob(jnp.asarray(fam_reference(fam))))
    np.testing.assert_allclose(values["log_lik"], want, rtol=1e-5)
    assert int(fam.status(p)) == cj.Status.OK
    bad = p._replace(mu=jnp.float32(jnp.nan))
    assert int(fam.status(bad)) == cj.Status.NONFINITE_PARAMS


def fam_reference(fam):
    """The reference set: 256 draws from the truth with key 0 (docs/bayes.md)."""
    p = fam.cast_params(fam.generation0(), jnp.float32)
    return fam.sample(jax.random.key(0), p, 256)


def test_import_collapse_jax_does_not_load_numpyro():
    import subprocess
    import sys

    code = (
        "import sys, collapse_jax as cj; assert 'numpyro' not in sys.modules; "
        "cj.numpyro_family; assert 'numpyro' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
