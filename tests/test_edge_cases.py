"""Regressions for numerical edge cases: extreme degrees of freedom, scales and sizes.

Each test pins a failure found in review: float32 cancellation in the Marsaglia–Tsang
test at large df, counts beyond float32's integers, log-variances of very anisotropic
covariances, tail masses at tiny scales, a Bures term that cancelled below zero, and
status codes for degenerate fits.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from scipy.special import polygamma

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import random as cjr
from collapse_jax.status import Status
from tests.helpers import assert_within_se


@pytest.mark.statistical
@pytest.mark.parametrize("df", [1e7, 1e9])
def test_log_chisquare_spread_at_large_df(df, seed):
    # 40,000 draws; Var log chi2_k = psi'(k/2) ~ 2/k. The SE of a sample SD is
    # SD / sqrt(2 (N - 1)) for light tails. Before the cancellation-free acceptance
    # test the float32 SD at df = 1e9 was 30 % too small.
    n = 40_000
    x = np.asarray(
        cjr.log_chisquare(jax.random.key(seed % 2**32), jnp.full((n,), df)), np.float64
    )
    sd = math.sqrt(float(polygamma(1, df / 2)))
    est = x.std(ddof=1)
    # float32 rounds log chi2 (about 20) to steps of 1.9e-6: an extra spread of
    # step / sqrt(12), added in quadrature, is the model-error allowance.
    step = np.spacing(np.float32(np.log(df)))
    allowance = math.sqrt(sd**2 + step**2 / 12) - sd
    assert_within_se(
        est,
        sd,
        sd / math.sqrt(2 * (n - 1)),
        what=f"SD log chi2({df:g})",
        seed=seed,
        allowance=allowance,
    )


def test_log_gamma_invalid_shape_is_nan_and_terminates():
    out = np.asarray(
        cjr.log_gamma(jax.random.key(0), jnp.array([-0.9, jnp.nan, 0.0, 2.0]))
    )
    assert np.isnan(out[:3]).all() and np.isfinite(out[3])


def test_multinomial_counts_sum_exactly_beyond_float32_integers():
    total = 2**24 + 3
    keys = jax.random.split(jax.random.key(1), 16)
    counts = jax.vmap(
        lambda k: cjr.multinomial(k, total, jnp.array([0.25, 0.25, 0.5], jnp.float32))
    )(keys)
    assert counts.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(counts).sum(axis=1), total)


def test_log_var_of_a_very_anisotropic_covariance_is_finite_and_right():
    init = cj.gaussian_params(np.zeros(2), np.diag([1e-25, 1e25]))
    res = cj.run_chains(
        cj.gaussian(2),
        init,
        key=0,
        num_chains=16,
        num_generations=3,
        sample_size=50,
        sampler="sufficient",
    )
    assert res.ok
    lv = res.metrics["log_var"]
    assert np.all(np.isfinite(lv))
    np.testing.assert_allclose(
        lv[:, 0], np.broadcast_to(np.log([1e-25, 1e25]), (16, 2)), rtol=1e-6
    )


@pytest.mark.parametrize("var", [1e-90, 1e-30, 1.0, 1e30])
def test_tail_mass_of_the_truth_is_the_nominal_level_at_any_scale(var):
    res = cj.run_chains(
        cj.gaussian(),
        cj.gaussian_params(3.0, var),
        key=0,
        num_chains=8,
        num_generations=1,
        sample_size=None,
    )
    np.testing.assert_allclose(res.metrics["tail_mass"], 0.01, rtol=1e-5)


def test_bures_term_is_nonnegative_in_float32():
    d = 5
    rng = np.random.default_rng(0)
    a = rng.standard_normal((d, d))
    init = cj.gaussian_params(np.zeros(d), a @ a.T + 0.1 * np.eye(d))
    res = cj.run_chains(
        cj.gaussian(d), init, key=0, num_chains=8, num_generations=2, sample_size=None
    )
    w2 = res.metrics["w2_sq"]
    assert np.all(w2 >= 0) and np.all(w2 < 1e-4)


def test_degenerate_fit_gets_its_own_status():
    family = cj.gaussian(1)
    truth = family.cast_params(cj.gaussian_params(0.0, 1.0), jnp.float32)
    # one point carries all the weight: a zero variance, log 0 = -inf
    weights = jnp.array([1.0, 0.0, 0.0], jnp.float32)
    fitted = family.refit(jax.random.key(0), jax.random.key(1), truth, weights)
    assert int(family.status(fitted)) == Status.DEGENERATE_FIT
    broken = truth._replace(mean=jnp.array([jnp.inf], jnp.float32))
    assert int(family.status(broken)) == Status.NONFINITE_PARAMS
    assert int(family.status(truth)) == Status.OK


def test_init_whose_natural_scale_overflows_is_rejected():
    with pytest.raises(
        ValueError,
        match=r"init must be a model whose metrics are "
        r"finite in float32; got metric 'w2_sq'",
    ):
        cj.run_chains(
            cj.gaussian(),
            cj.gaussian_params(0.0, 1e80),
            key=0,
            num_chains=8,
            num_generations=2,
            sample_size=5,
        )


def test_progress_bar_can_be_reused_across_runs():
    out = io.StringIO()
    bar = cj.progress_bar(disable=False, file=out)
    for _ in range(2):
        cj.run_chains(
            cj.gaussian(),
            cj.gaussian_params(0.0, 1.0),
            key=0,
            num_chains=8,
            num_generations=4,
            sample_size=5,
            chunk_size=2,
            progress=bar,
        )
    assert out.getvalue().count("4/4") >= 2
