"""The family contract (collapse_jax.testing.check_family) on every built-in family,
on a family written outside the package, and the capabilities the library asks for.

The kit's checks replace the per-family copies of the invariance tests (batch, chunk,
masked draws, prefix stability, integer weights as replication) that test_keys.py,
test_poisson.py, test_gmm.py and test_properties.py carried.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest
from scipy.special import digamma

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.families.base import CAPABILITIES, family, has
from collapse_jax.testing import CHECKS, check_family
from tests.helpers import ASSERTION_COUNT, K, assert_within_se, mean_and_se

_G3 = cj.gaussian_params(np.arange(3.0), np.diag([1.0, 2.0, 3.0]) + 0.5)
_GMM = cj.gmm_params(
    [0.4, 0.6], [[-1.0, 0.0], [1.5, 0.5]], [np.eye(2), 0.5 * np.eye(2)]
)

# name -> (family, truth, options): the population check is skipped where its k·SE
# claim is not made (the family says why) or costs more than the default suite has.
BUILT_IN = {
    "gaussian1": (cj.gaussian(1), cj.gaussian_params(0.5, 2.0), {}),
    "gaussian3_mle": (cj.gaussian(3, "mle"), _G3, {}),
    "categorical": (
        cj.categorical(4),
        cj.categorical_params([0.1, 0.2, 0.3, 0.4]),
        {},
    ),
    "categorical_truncated": (
        cj.categorical(5, max_support=3),
        cj.categorical_params([0.1, 0.2, 0.3, 0.25, 0.15]),
        {"checks": tuple(c for c in CHECKS if c != "population_limit")},
    ),
    "poisson": (cj.poisson(), cj.poisson_params(2.0), {}),
    # EM and least squares keep masked draws bitwise within one padded power of
    # two (collapse_jax.testing.check_family, masked_size)
    "gmm": (cj.gmm(2, 2), _GMM, {"sample_size": 48, "masked_size": 60}),
    "linear_regression_fresh": (
        cj.linear_regression(2, design="fresh"),
        cj.linear_regression_params([1.0, -0.5]),
        {"sample_size": 24, "masked_size": 30},
    ),
    "approx_gaussian": (
        cj.approximate(cj.gaussian(2), optimizer="adam", learning_rate=0.05,
                       num_steps=20),
        cj.gaussian_params([0.0, 1.0], [[1.0, 0.3], [0.3, 2.0]]),
        # a finite optimiser run has no population claim at k·SE
        {"checks": tuple(c for c in CHECKS if c != "population_limit"),
         "rtol": 1e-3, "atol": 1e-4},
    ),
}


def _count(report):
    for verdict in report.values():
        if verdict.startswith("passed (") and "comparisons" in verdict:
            ASSERTION_COUNT[0] += int(verdict.split("(")[1].split()[0])


# Two halves per family, each a few seconds: the family's own functions, and what
# needs the runner (chunked runs) or many draws (the population limit).
GROUPS = {
    "functions": CHECKS[:4] + ("weighted_fit", "bad_input"),
    "runner_and_population": ("chunk_invariance", "population_limit"),
}


# The maximum-likelihood GMM's EM compiles dominate the default pass (about 4 and
# 2 minutes of a loaded core): its contract runs in the slow pass, every other
# family's in the default one.
_SLOW_CONTRACT = {"gmm"}


@pytest.mark.parametrize("name, group", [
    pytest.param(n, g, marks=pytest.mark.slow if n in _SLOW_CONTRACT else ())
    for n in BUILT_IN for g in GROUPS
])
def test_built_in_family_keeps_the_contract(name, group):
    fam, truth, options = BUILT_IN[name]
    options = dict(options)
    checks = [c for c in options.pop("checks", CHECKS) if c in GROUPS[group]]
    report = check_family(fam, truth, key=7, k=K, checks=checks, **options)
    _count(report)
    assert list(report) == [c for c in CHECKS if c in checks]
    assert all(v.startswith(("passed", "skipped")) for v in report.values())


@pytest.mark.x64
@pytest.mark.parametrize("name", ["gaussian3_mle", "poisson", "categorical"])
def test_built_in_family_keeps_its_dtypes_in_float64(x64, name):
    fam, truth, _ = BUILT_IN[name]
    report = check_family(fam, truth, dtypes=("float32", x64),
                          checks=("shapes_and_dtypes", "masked_draws"))
    assert report["shapes_and_dtypes"] == "passed (float32, float64)"


# ------------------------------------------------------ a family from outside ---

VON_MISES = '''
"""A von Mises family on the circle, written against the public builder only."""
import functools
from typing import NamedTuple

import numpy as np
import jax
import jax.numpy as jnp
from jax.scipy.special import i0e, i1e

import collapse_jax as cj
from collapse_jax.checks import fail
from collapse_jax.families.base import family

_ROUNDS = 24  # Best-Fisher accepts with probability >= 0.66: 24 rounds miss < 1e-11


class VonMisesParams(NamedTuple):
    mu: jax.Array  # () float, the mean direction in (-pi, pi]
    log_kappa: jax.Array  # () float, log of the concentration


def von_mises_params(mu, kappa):
    return VonMisesParams(np.float64(mu), np.log(np.float64(kappa)))


def _inverse_a(r):
    """Best and Fisher's approximation of A^-1(R), A = I1 / I0."""
    small = 2 * r + r**3 + 5 * r**5 / 6
    mid = -0.4 + 1.39 * r + 0.43 / (1 - r)
    large = 1 / (r**3 - 4 * r**2 + 3 * r)
    return jnp.where(r < 0.53, small, jnp.where(r < 0.85, mid, large))


def _one(key, mu, kappa):
    """One Best-Fisher draw: a fixed number of proposals, the first accepted."""
    tau = 1 + jnp.sqrt(1 + 4 * kappa**2)
    rho = (tau - jnp.sqrt(2 * tau)) / (2 * kappa)
    r = (1 + rho**2) / (2 * rho)
    u = jax.random.uniform(key, (3, _ROUNDS), mu.dtype)
    z = jnp.cos(jnp.pi * u[0])
    f = (1 + r * z) / (r + z)
    c = kappa * (r - f)
    ok = (c * (2 - c) - u[1] > 0) | (jnp.log(c / u[1]) + 1 - c >= 0)
    first = jnp.argmax(ok)
    angle = mu + jnp.sign(u[2, first] - 0.5) * jnp.arccos(f[first])
    return jnp.arctan2(jnp.sin(angle), jnp.cos(angle))  # back to (-pi, pi]


def _sample(key, params, n):
    # One key per point (fold_in by index): draws are prefix-stable in n.
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    kappa = jnp.exp(params.log_kappa)
    return jax.vmap(lambda k: _one(k, params.mu, kappa))(keys)


def _fit(key, data, weights, prev):
    del key, prev
    w = weights.astype(data.dtype)
    total = jnp.sum(w)
    c, s = jnp.sum(w * jnp.cos(data)) / total, jnp.sum(w * jnp.sin(data)) / total
    return VonMisesParams(jnp.arctan2(s, c), jnp.log(_inverse_a(jnp.hypot(c, s))))


def _log_prob(params, data):
    kappa = jnp.exp(params.log_kappa)
    return kappa * (jnp.cos(data - params.mu) - 1) - jnp.log(2 * jnp.pi * i0e(kappa))


def _fit_population(params):
    # The fit to the exact law: R = A(kappa), then the estimator's A^-1.
    kappa = jnp.exp(params.log_kappa)
    r = i1e(kappa) / i0e(kappa)
    return VonMisesParams(params.mu, jnp.log(_inverse_a(r)))


def _check_params(fn, name, params):
    if any(np.shape(x) != () for x in params):
        fail(fn, name, "scalars (mu, log_kappa)", [np.shape(x) for x in params],
             "Build the truth with von_mises_params(mu, kappa).")


@functools.cache
def von_mises():
    return family(
        name="von_mises",
        params_type=VonMisesParams,
        sample=_sample,
        fit=_fit,
        log_prob=_log_prob,
        min_sample_size=2,
        fit_population=_fit_population,
        built_by="von_mises_params(mu, kappa)",
        check_params=_check_params,
    )
'''


@pytest.fixture(scope="module")
def von_mises(tmp_path_factory):
    """The von Mises module, imported from a file outside the package."""
    folder = tmp_path_factory.mktemp("fork")
    (folder / "fork_von_mises.py").write_text(textwrap.dedent(VON_MISES))
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("fork_von_mises")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("fork_von_mises", None)


def test_a_family_from_outside_keeps_the_contract_and_runs(von_mises):
    fam = von_mises.von_mises()
    truth = von_mises.von_mises_params(0.5, 2.0)
    report = check_family(fam, truth, key=3, k=K, rtol=1e-4, atol=1e-5)
    _count(report)
    assert report["population_limit"].startswith("passed")
    # No registration: the runner takes any family.
    res = cj.run_chains(fam, truth, key=1, num_chains=4, num_generations=5,
                        sample_size=20)
    assert res.ok and set(res.metrics) == {"mu", "log_kappa"}
    assert res.metrics["log_kappa"].shape == (4, 6)
    # The builder's defaults: refit, cast_params, status, validate_params.
    p32 = fam.cast_params(truth, jnp.float32)
    assert p32.mu.dtype == jnp.float32
    with pytest.raises(TypeError, match=r"run_chains\(\): init must be VonMisesParams "
                       r"\(from von_mises_params\(mu, kappa\)\); got 'tuple'\. "
                       r"Build the truth with von_mises_params\."):
        cj.run_chains(fam, (0.0, 1.0), key=1, num_chains=2, num_generations=2,
                      sample_size=20)
    with pytest.raises(ValueError, match=r"init\.log_kappa must be finite"):
        cj.run_chains(fam, truth._replace(log_kappa=np.nan), key=1, num_chains=2,
                      num_generations=2, sample_size=20)


def _broken(von_mises, **replace):
    fam = von_mises.von_mises()
    return fam._replace(**replace)


@pytest.mark.parametrize("what, contract", [
    ("reversed draws", "prefix_stability"),
    ("weights ignored", "weighted_fit"),
    ("accepts anything", "bad_input"),
    ("wrong population fit", "population_limit"),
    ("float64 fit", "shapes_and_dtypes"),
])
def test_the_kit_names_a_broken_contract(von_mises, what, contract):
    fam = von_mises.von_mises()
    if what == "reversed draws":
        bad = fam._replace(sample=lambda k, p, n: fam.sample(k, p, n)[::-1])
    elif what == "weights ignored":
        bad = fam._replace(
            fit=lambda k, x, w, prev: fam.fit(k, x, jnp.ones_like(w), prev))
    elif what == "accepts anything":
        bad = fam._replace(validate_params=lambda fn, name, params: None)
    elif what == "wrong population fit":
        bad = fam._replace(fit_population=lambda p: p._replace(
            log_kappa=p.log_kappa + 0.1))
    else:
        bad = fam._replace(fit=lambda k, x, w, prev: jax.tree.map(
            lambda a: a.astype(jnp.float16), fam.fit(k, x, w, prev)))
    truth = von_mises.von_mises_params(0.5, 2.0)
    with pytest.raises(AssertionError, match=f"contract '{contract}' broken"):
        check_family(bad, truth, key=3, checks=(contract,))


def test_check_family_refuses_an_unknown_contract():
    with pytest.raises(ValueError, match=r"check_family\(\): checks must be names"):
        check_family(cj.poisson(), cj.poisson_params(1.0), checks=("speed",))


# --------------------------------------------------------------- capabilities ---


def test_capabilities_of_the_built_in_families():
    expect = {
        "gaussian1": {"location_scale", "gaussian_center", "mixture_view",
                      "exact_sufficient_draw", "population_fit",
                      "approximation_hooks", "conjugate"},
        "gmm": {"location_scale", "mixture_view", "population_fit",
                "approximation_hooks"},
        "categorical": {"probability_vector", "exact_sufficient_draw",
                        "population_fit", "numeric_support", "conjugate"},
        "poisson": {"exact_sufficient_draw", "population_fit", "conjugate"},
    }
    for name, caps in expect.items():
        fam = BUILT_IN[name][0]
        assert {c for c in CAPABILITIES if has(fam, c)} == caps, name
    assert cj.categorical(4).num_categories == 4
    assert cj.gaussian().num_categories is None
    # approximate keeps the capabilities of the family it wraps
    approx = BUILT_IN["approx_gaussian"][0]
    assert has(approx, "location_scale") and has(approx, "gaussian_center")


def test_builder_refuses_unknown_fields():
    with pytest.raises(TypeError, match=r"family\(\): unknown ModelFamily fields "
                       r"\['speed'\]"):
        family(name="x", params_type=cj.PoissonParams, sample=None, fit=None,
               log_prob=None, speed=1)


def test_variance_scale_acts_on_an_approximate_gaussian():
    # AL-2 with an optimiser fit: after one generation of M draws from N(0, lam),
    # a converged (maximum-likelihood) fit has E log sigma_1^2 = log lam +
    # psi((M - 1) / 2) + log(2 / M). The allowance is the optimiser's distance to
    # the exact MLE (same draws: the exact gaussian(estimator="mle") run), measured.
    lam, m, c, seed = 0.5, 20, 512, 23
    fam = cj.approximate(cj.gaussian(), optimizer="adam", learning_rate=0.05,
                         num_steps=200)
    kw = dict(key=seed, num_chains=c, num_generations=1, sample_size=m,
              sampling=cj.variance_scale(lam))
    res = cj.run_chains(fam, cj.gaussian_params(0.0, 1.0), **kw)
    exact = cj.run_chains(cj.gaussian(estimator="mle"), cj.gaussian_params(0.0, 1.0),
                          **kw)
    lv = res.metrics["log_var"][:, 1, 0]
    allowance = float(np.max(np.abs(lv - exact.metrics["log_var"][:, 1, 0])))
    assert allowance < 0.05  # the optimiser converged: the check is about lam
    est, se = mean_and_se(lv)
    theory = np.log(lam) + digamma((m - 1) / 2) + np.log(2 / m)
    assert_within_se(est, theory, se, allowance=allowance,
                     what=f"E log sigma_1^2 under variance_scale({lam}), M={m}, C={c}",
                     seed=seed)
    # Not vacuous: without the bias the mean is log 2 higher, >> k SE.
    assert abs(np.log(lam)) > K * se + allowance


def test_a_bias_refusal_names_the_missing_capability():
    with pytest.raises(
        ValueError,
        match=r"run_chains\(\): sampling must be for a family with a location-scale "
        r"\(ModelFamily\.location_scale\); got variance_scale for the categorical "
        r"family, which has none\. Choose a bias",
    ):
        cj.run_chains(cj.categorical(3), cj.categorical_params([0.2, 0.3, 0.5]),
                      key=0, num_chains=2, num_generations=2, sample_size=10,
                      sampling=cj.variance_scale(0.9))
