"""The functional-approximation error switch (docs/theory.md SH-1; proofs/sh-1c-...).

* Approximation only (``sample_size=None``): the chain is the deterministic map
  ``theta_{n+1} = T(theta_n)``; every chain is identical and equals the independent
  NumPy float64 iteration ``gradient_map_iterate`` (float64: 1e-10; float32: a
  linear-accumulation bound ``10 N K eps32``, proof "Numerical notes").
* The converged pseudo-data chain follows its closed form; warm start without a
  penalty keeps the truth bit for bit; a fixed start converges to the
  initialisation at the rates of ``fixed_start_rates`` (or, one step with
  ``2 eta > 1``, to the variance ``r_dagger``).
* Finite samples: one warm SGD step keeps ``E log det`` constant with an exact
  chi-square law; five steps collapse slower than the exact fit (direction test).
* Bitwise batch/chunk invariance; every bad input gets the house message.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import jax
import jax.numpy as jnp
import optax

import collapse_jax as cj
from collapse_jax.families._gaussian_approx import gaussian_cross_entropy
from collapse_jax.families.gaussian import gaussian_approx_hooks
from collapse_jax.fitting import adam, approximate, pseudo_data
from collapse_jax.theory import approximation as th
from collapse_jax.theory.multivariate import expected_log_det_cov
from tests.helpers import ASSERTION_COUNT, K, assert_within_se, mean_and_se

EPS32 = float(np.finfo(np.float32).eps)
MEAN0 = np.array([0.5, -1.0])
COV0 = np.array([[2.0, 0.6], [0.6, 1.0]])
INIT_M = np.array([0.2, 0.1])
INIT_C = np.array([[1.0, -0.3], [-0.3, 0.8]])
REF_M = np.array([-1.0, 2.0])
REF_C = np.array([[0.5, 0.1], [0.1, 1.5]])
TRUTH = cj.gaussian_params(MEAN0, COV0)
G2 = cj.gaussian(2)
N = 50  # generations of the deterministic chains
X64 = pytest.mark.x64  # float64 variants run in the x64 pass (and skip without x64)

# name: (optimizer, learning rate, steps, start, pseudo-data strength or None)
CASES = {
    "sgd-fixed": ("sgd", 0.2, 4, "fixed", None),
    "adam-fixed": ("adam", 0.05, 6, "fixed", None),
    "sgd-penalty-warm": ("sgd", 0.1, 3, "warm", 0.5),
    "momentum-penalty-warm": ("momentum", 0.05, 4, "warm", 0.5),
    "adam-penalty-warm": ("adam", 0.05, 3, "warm", 0.5),
}


def _family(case):
    opt, lr, steps, start, rho = CASES[case]
    kw = {}
    if start == "fixed":
        kw["init_params"] = cj.gaussian_params(INIT_M, INIT_C)
    if rho is not None:
        kw["penalty"] = pseudo_data(cj.gaussian_params(REF_M, REF_C), rho)
    return approximate(
        G2, optimizer=opt, learning_rate=lr, num_steps=steps, start=start, **kw
    )


def _oracle(case):
    opt, lr, steps, start, rho = CASES[case]
    kw = {}
    if start == "fixed":
        kw.update(init_mean=INIT_M, init_cov=INIT_C)
    if rho is not None:
        kw.update(penalty_mean=REF_M, penalty_cov=REF_C, strength=rho)
    return th.gradient_map_iterate(
        MEAN0,
        COV0,
        optimizer=opt,
        learning_rate=lr,
        num_steps=steps,
        start=start,
        num_generations=N,
        **kw,
    )


def _population(family, init, dtype, seed, num_generations=N, num_chains=3):
    return cj.run_chains(
        family,
        init,
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=None,
        dtype=dtype,
    )


def _assert_identical_chains(res):
    for leaf in jax.tree.leaves(res.params):
        for c in range(1, leaf.shape[0]):
            np.testing.assert_array_equal(leaf[c], leaf[0])
    assert res.ok


def _compare(res, path, atol, rtol):
    got = res.params
    for name, x, want in [
        ("mean", got.mean[0], path.mean),
        ("chol_log_diag", got.chol_log_diag[0], path.chol_log_diag),
        ("chol_unit_lower", got.chol_unit_lower[0], path.chol_unit_lower),
    ]:
        np.testing.assert_allclose(
            np.asarray(x, np.float64), want, rtol=rtol, atol=atol, err_msg=name
        )


# ------------------------------------------------------ approximation only (SH-1) ---


@pytest.mark.parametrize("case", list(CASES))
def test_approximation_only_chain_is_the_float64_map(case, x64, seed):
    res = _population(_family(case), TRUTH, x64, seed)
    _assert_identical_chains(res)
    _compare(res, _oracle(case), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("case", list(CASES))
def test_approximation_only_chain_float32(case, seed):
    # Each of the N K steps rounds at eps32 relative; along these non-expansive
    # orbits the errors add at most linearly (proof, numerical notes), so allow
    # 10 N K eps32 on parameters of order one.
    res = _population(_family(case), TRUTH, "float32", seed)
    _assert_identical_chains(res)
    tol = 10 * N * CASES[case][2] * EPS32
    _compare(res, _oracle(case), atol=tol, rtol=tol)


@pytest.mark.parametrize(
    "dtype,tol", [("float32", 1e-5), pytest.param("float64", 1e-12, marks=X64)]
)
def test_converged_pseudo_data_chain_follows_the_closed_form(dtype, tol, seed, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    rho = 0.5
    # eta = 1 / (2 (1 + rho)): the s-recursion converges quadratically; 300 steps
    # take the mean and U to the exact minimiser (proof part 1, numerical notes).
    fam = approximate(
        G2,
        learning_rate=1 / (2 * (1 + rho)),
        num_steps=300,
        penalty=pseudo_data(cj.gaussian_params(REF_M, REF_C), rho),
    )
    res = _population(fam, TRUTH, dtype, seed, num_generations=30, num_chains=1)
    mean, cov = cj.gaussian_mean_cov(res.params)
    want_mean, want_cov = th.pseudo_data_moments(MEAN0, COV0, REF_M, REF_C, rho, 30)
    np.testing.assert_allclose(mean[0], want_mean, atol=tol, rtol=tol)
    np.testing.assert_allclose(cov[0], want_cov, atol=tol, rtol=tol)
    # The reference is approached geometrically: after 30 generations 1.5^-30.
    np.testing.assert_allclose(want_mean[-1], REF_M, atol=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=X64)])
def test_warm_start_without_penalty_keeps_the_truth_bit_for_bit(
    optimizer, dtype, seed, request
):
    if dtype == "float64":
        request.getfixturevalue("x64")
    fam = approximate(G2, optimizer=optimizer, learning_rate=0.3, num_steps=4)
    res = _population(fam, TRUTH, dtype, seed, num_generations=6, num_chains=2)
    truth = G2.cast_params(TRUTH, jnp.dtype(dtype))
    for leaf, t in zip(res.params, truth, strict=True):
        np.testing.assert_array_equal(leaf, np.broadcast_to(t, leaf.shape))


def test_gradient_at_the_target_is_exactly_zero(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3, 3))
    p = cj.gaussian(3).cast_params(
        cj.gaussian_params(rng.normal(size=3), a @ a.T + 0.1 * np.eye(3)), jnp.float32
    )
    grads = jax.jit(jax.grad(gaussian_cross_entropy))(p, p)
    for g in grads:
        np.testing.assert_array_equal(g, np.zeros_like(g))


def test_fixed_start_converges_to_the_init_at_the_predicted_rates(x64, seed):
    lr, steps, init_var = 0.2, 3, 1.5
    fam = approximate(
        cj.gaussian(1),
        learning_rate=lr,
        num_steps=steps,
        start="fixed",
        init_params=cj.gaussian_params(0.0, init_var),
    )
    res = _population(
        fam, cj.gaussian_params(1.0, 0.8), x64, seed, num_generations=60, num_chains=1
    )
    lam_mean, lam_s = th.fixed_start_rates(lr, steps, init_var)
    dev_mean = res.params.mean[0, :, 0]  # init mean 0
    dev_s = res.params.chol_log_diag[0, :, 0] - 0.5 * math.log(init_var)
    # The linearisation error of a ratio is of the order of the deviations: take
    # the s-ratio where |dev_s| ~ 1e-5, the mean ratio at the end (dev_s ~ 1e-6;
    # the init mean is 0, so the tiny mean deviation keeps full relative precision).
    n_s = int(np.argmax(np.abs(dev_s) < 1e-5))
    assert 0 < n_s < 59 and abs(dev_s[-1]) < 1e-5
    np.testing.assert_allclose(dev_mean[-1] / dev_mean[-2], lam_mean, rtol=1e-4)
    np.testing.assert_allclose(dev_s[n_s + 1] / dev_s[n_s], lam_s, rtol=1e-4)


def test_one_step_fixed_start_settles_at_r_dagger(seed):
    # 2 eta > 1: the variance ratio converges to r_dagger < 1, neither the truth's
    # (0.5) nor the initialisation's (1); the mean contracts by eta to the init's.
    lr = 0.75
    fam = approximate(
        cj.gaussian(1),
        learning_rate=lr,
        num_steps=1,
        start="fixed",
        init_params=cj.gaussian_params(0.0, 1.0),
    )
    res = _population(
        fam,
        cj.gaussian_params(0.3, 0.5),
        "float32",
        seed,
        num_generations=60,
        num_chains=1,
    )
    r = np.exp(2 * res.params.chol_log_diag[0, -1, 0].astype(np.float64))
    np.testing.assert_allclose(r, th.one_step_variance_fixed_point(lr), rtol=1e-5)
    assert abs(res.params.mean[0, -1, 0]) < 1e-6


# ------------------------------------------------------------- finite samples ---

M, GENS, CHAINS, LR = 20, 30, 512, 0.1
LOG_DET0 = float(np.linalg.slogdet(COV0)[1])


def _log_det_change(num_steps, sampler, seed):
    fam = approximate(G2, learning_rate=LR, num_steps=num_steps)
    res = cj.run_chains(
        fam,
        TRUTH,
        key=seed,
        num_chains=CHAINS,
        num_generations=GENS,
        sample_size=M,
        sampler=sampler,
        metrics=["log_det_cov"],
        record_params=False,
    )
    assert res.ok
    return res.metrics["log_det_cov"][:, -1].astype(np.float64) - LOG_DET0


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_one_warm_sgd_step_has_no_log_det_drift(sampler, seed):
    # Proof part 6: log det_n - log det_0 = 2 eta (chi2_{n d M} / M - n d) exactly.
    x = _log_det_change(1, sampler, seed)
    dof = GENS * 2 * M
    var = 8 * LR**2 * GENS * 2 / M
    what = f"log det change, K=1, {CHAINS} chains, n={GENS}, M={M}, {sampler}"
    assert_within_se(x.mean(), 0.0, math.sqrt(var / CHAINS), what=what, seed=seed)
    kurt = 12 / dof  # excess kurtosis of a chi-square with dof degrees of freedom
    se_var = var * math.sqrt(2 / (CHAINS - 1) + kurt / CHAINS)
    assert_within_se(x.var(ddof=1), var, se_var, what=what + " (variance)", seed=seed)


def test_few_warm_steps_collapse_slower_than_the_exact_fit(seed):
    # Direction (proof part 6): five SGD steps per fit keep E log det above the
    # exact MLE chain's (SH-7) by more than K standard errors.
    est, se = mean_and_se(_log_det_change(5, "sufficient", seed))
    exact = expected_log_det_cov(M, GENS, 2, estimator="mle")
    ASSERTION_COUNT[0] += 1
    z = (est - exact) / se
    assert z > K, f"E log det change {est} (SE {se}) not above {exact}, seed {seed}"
    assert est < 0  # but it still collapses


# --------------------------------------------------------- invariance (bitwise) ---


@pytest.mark.parametrize(
    "sampler,optimizer",
    [("samples", "adam"), pytest.param("sufficient", "sgd", marks=pytest.mark.slow)],
)
def test_a_chain_does_not_depend_on_its_neighbours_or_chunks(sampler, optimizer):
    fam = approximate(
        G2,
        optimizer=optimizer,
        learning_rate=0.05,
        num_steps=3,
        penalty=pseudo_data(cj.gaussian_params([0.0, 0.0], np.eye(2)), 0.1),
    )
    kw = dict(key=11, num_generations=6, sample_size=12, sampler=sampler)
    alone = cj.run_chains(fam, TRUTH, num_chains=1, first_chain=5, **kw)
    batch = cj.run_chains(fam, TRUTH, num_chains=16, **kw)
    chunked = cj.run_chains(fam, TRUTH, num_chains=16, chunk_size=3, **kw)
    for x, y, z in zip(alone.params, batch.params, chunked.params, strict=True):
        np.testing.assert_array_equal(x[0], y[5])
        np.testing.assert_array_equal(z, y)
    for m in batch.metrics:
        np.testing.assert_array_equal(alone.metrics[m][0], batch.metrics[m][5])
        np.testing.assert_array_equal(chunked.metrics[m], batch.metrics[m])


# ------------------------------------------------------- pieces and the oracle ---


def test_factory_is_cached_and_delegates():
    a = approximate(
        G2,
        learning_rate=0.1,
        num_steps=2,
        start="fixed",
        init_params=cj.gaussian_params(INIT_M, INIT_C),
    )
    b = approximate(
        G2,
        learning_rate=0.1,
        num_steps=2,
        start="fixed",
        init_params=cj.gaussian_params(INIT_M.copy(), INIT_C.copy()),
    )
    assert a is b
    assert a is not approximate(
        G2,
        learning_rate=0.2,
        num_steps=2,
        start="fixed",
        init_params=cj.gaussian_params(INIT_M, INIT_C),
    )
    assert a.name == "approx(gaussian)"
    assert a.metric_names == G2.metric_names and a.sample is G2.sample
    assert a.approx is gaussian_approx_hooks(2)
    hooked = G2._replace(approx=gaussian_approx_hooks(2))
    assert approximate(hooked, learning_rate=0.1, num_steps=2) is approximate(
        hooked, learning_rate=0.1, num_steps=2
    )


def test_fit_entry_points_agree_with_the_exact_fit(seed):
    # Many steps from a warm start converge to the exact MLE fit of the data.
    fam = approximate(G2, learning_rate=0.3, num_steps=400)
    mle = cj.gaussian(2, "mle")
    truth = G2.cast_params(TRUTH, jnp.float32)
    data = jax.jit(G2.sample, static_argnums=2)(jax.random.key(seed), truth, 64)
    weights = (jnp.arange(64) < 50).astype(jnp.float32)
    got = jax.jit(fam.fit)(jax.random.key(0), data, weights, truth)
    want = jax.jit(mle.fit)(jax.random.key(0), data, weights, truth)
    for x, y in zip(got, want, strict=True):
        np.testing.assert_allclose(x, y, atol=2e-5)
    # fit_population_from a Gaussian source equals fit_population.
    moved = truth._replace(mean=truth.mean + 1.0)
    a = jax.jit(fam.fit_population)(moved)
    b = jax.jit(fam.fit_population_from, static_argnums=0)(G2, moved)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_cross_entropy_of_a_sample_is_its_mean_negative_log_likelihood(seed):
    hooks = gaussian_approx_hooks(2)
    truth = G2.cast_params(TRUTH, jnp.float32)
    data = jax.jit(G2.sample, static_argnums=2)(jax.random.key(seed), truth, 40)
    weights = jnp.ones((40,), jnp.float32)
    target = jax.jit(hooks.target_from_data)(data, weights)
    model = truth._replace(mean=truth.mean + 0.3)
    both = jax.jit(
        lambda m, t, x: (gaussian_cross_entropy(m, t), -jnp.mean(G2.log_prob(m, x)))
    )
    ce, nll = both(model, target, data)
    np.testing.assert_allclose(ce, nll, rtol=1e-5)


def _random_problem(rng, d):
    def params():
        a = rng.normal(size=(d, d))
        mean, cov = rng.normal(size=d), a @ a.T + 0.5 * np.eye(d)
        return th._to_params(mean, cov)

    return params(), params()


def test_oracle_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    theta, target = _random_problem(rng, 3)

    def ce(mean, s, u):
        cov = th._cov(s, u)
        t_cov = th._cov(target[1], target[2])
        delta = target[0] - mean
        inv = np.linalg.inv(cov)
        return 0.5 * (
            np.linalg.slogdet(cov)[1] + np.trace(inv @ t_cov) + delta @ inv @ delta
        )

    grads = th._grad(*theta, *target)
    h = 1e-6
    for which in range(3):
        for idx in np.ndindex(theta[which].shape):
            if which == 2 and idx[0] <= idx[1]:
                assert grads[2][idx] == 0.0  # not a free parameter
                continue
            up = [x.copy() for x in theta]
            dn = [x.copy() for x in theta]
            up[which][idx] += h
            dn[which][idx] -= h
            fd = (ce(*up) - ce(*dn)) / (2 * h)
            np.testing.assert_allclose(grads[which][idx], fd, rtol=1e-6, atol=1e-7)


def test_jax_gradient_matches_the_oracle(x64, seed):
    rng = np.random.default_rng(seed)
    theta, target = _random_problem(rng, 3)
    as_params = lambda p: cj.GaussianParams(*(jnp.asarray(x, jnp.float64) for x in p))  # noqa: E731
    got = jax.jit(jax.grad(gaussian_cross_entropy))(as_params(theta), as_params(target))
    want = th._grad(*theta, *target)
    np.testing.assert_allclose(got.mean, want[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.chol_log_diag, want[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        np.tril(got.chol_unit_lower, -1), want[2], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(np.triu(got.chol_unit_lower), 0.0)


def test_adam_is_optax_adam(seed):
    rng = np.random.default_rng(seed)
    params = jnp.asarray(rng.normal(size=5), jnp.float32)
    grads = [jnp.asarray(rng.normal(size=5), jnp.float32) for _ in range(4)]
    ours, ref = adam(0.05), optax.adam(0.05)
    s_ours, s_ref = ours.init(params), ref.init(params)
    for g in grads:
        u_ours, s_ours = ours.update(g, s_ours)
        with jax.numpy_dtype_promotion("standard"):
            u_ref, s_ref = ref.update(g, s_ref)
        assert u_ours.dtype == jnp.float32
        if jax.config.jax_enable_x64:
            # optax forms 1 - b2**k in float64 here; in float32, 1 - 0.999 keeps
            # only ~1.3e-5 relative accuracy (half of it reaches the step).
            np.testing.assert_allclose(u_ours, u_ref, rtol=2e-5)
        else:
            np.testing.assert_array_equal(u_ours, u_ref)


def test_theory_closed_forms():
    means, covs = th.pseudo_data_moments(2.0, 1.0, 0.0, 1.0, 1.0, 2)
    np.testing.assert_allclose(means[:, 0], [2.0, 1.0, 0.5])
    np.testing.assert_allclose(covs[:, 0, 0], [1.0, 2.0, 1.75])
    # strength 0: the truth stays; the limit is the reference.
    m, c = th.pseudo_data_moments(MEAN0, COV0, REF_M, REF_C, 0.0, 3)
    np.testing.assert_allclose(c, np.broadcast_to(COV0, (4, 2, 2)))
    m, c = th.pseudo_data_moments(MEAN0, COV0, REF_M, REF_C, 2.0, 200)
    np.testing.assert_allclose(c[-1], REF_C, atol=1e-12)
    assert th.fixed_start_rates(0.25, 2, 1.0) == (0.4375, 0.75)
    for lr in (0.1, 0.3, 0.75, 2.0):
        r = th.one_step_variance_fixed_point(lr)
        np.testing.assert_allclose(r, math.exp(2 * lr * (r - 1)), rtol=1e-12)
        assert (r > 1) == (lr < 0.5)
    # The oracle's exact minimiser at many steps is the closed form too.
    path = th.gradient_map_iterate(
        MEAN0,
        COV0,
        optimizer="sgd",
        learning_rate=1 / 3,
        num_steps=300,
        start="warm",
        penalty_mean=REF_M,
        penalty_cov=REF_C,
        strength=0.5,
        num_generations=2,
    )
    m, c = th.pseudo_data_moments(MEAN0, COV0, REF_M, REF_C, 0.5, 2)
    np.testing.assert_allclose(path.mean, m, atol=1e-12)
    np.testing.assert_allclose(path.cov, c, atol=1e-12)


# --------------------------------------------------------------- bad inputs ---

_P1 = cj.gaussian_params(0.0, 1.0)
_G1 = cj.gaussian(1)


def _approx(**kw):
    args = dict(learning_rate=0.1, num_steps=3)
    args.update(kw)
    return approximate(
        kw.pop("family", _G1), **{k: v for k, v in args.items() if k != "family"}
    )


# fmt: off
BAD = [
    ("num_steps=0", lambda: _approx(num_steps=0), ValueError,
     r"approximate\(\): num_steps must be a positive integer \(>= 1\); got 0\. "
     r"Pass num_steps >= 1"),
    ("num_steps=2.5", lambda: _approx(num_steps=2.5), TypeError,
     r"num_steps must be a positive integer; got 2\.5\."),
    ("learning_rate=0", lambda: _approx(learning_rate=0.0), ValueError,
     r"learning_rate must be positive and finite; got 0\.0\."),
    ("learning_rate=-1", lambda: _approx(learning_rate=-1), ValueError,
     r"learning_rate must be positive and finite; got -1\."),
    ("learning_rate=nan", lambda: _approx(learning_rate=float("nan")), ValueError,
     r"learning_rate must be positive and finite; got nan\."),
    ("learning_rate=inf", lambda: _approx(learning_rate=math.inf), ValueError,
     r"learning_rate must be positive and finite; got inf\."),
    ("learning_rate='0.1'", lambda: _approx(learning_rate="0.1"), TypeError,
     r"learning_rate must be a positive number; got '0\.1'\."),
    ("learning_rate missing", lambda: _approx(learning_rate=None), TypeError,
     r"learning_rate must be given with optimizer='sgd'; got None\."),
    ("optimizer='rmsprop'", lambda: _approx(optimizer="rmsprop"), ValueError,
     r"optimizer must be one of 'sgd', 'momentum', 'adam'; got 'rmsprop'\."),
    ("optimizer=3", lambda: _approx(optimizer=3), TypeError,
     r"optimizer must be one of .* or an optax.GradientTransformation; got 'int'"),
    ("transformation with learning_rate",
     lambda: _approx(optimizer=optax.sgd(0.1), learning_rate=0.1), ValueError,
     r"learning_rate must be None with an optax transformation; got 0\.1\."),
    ("start='cold'", lambda: _approx(start="cold"), ValueError,
     r"start must be one of 'warm', 'fixed'; got 'cold'\."),
    ("fixed without init", lambda: _approx(start="fixed"), ValueError,
     r"init_params must be given with start='fixed'; got None\. Pass the fixed"),
    ("init of another dimension",
     lambda: _approx(start="fixed", init_params=TRUTH), ValueError,
     r"approximate\(\): init_params must be parameters of a 1-dimensional Gaussian"),
    ("init not params", lambda: _approx(start="fixed", init_params=(0.0, 1.0)),
     TypeError, r"approximate\(\): init_params must be GaussianParams"),
    ("penalty not pseudo_data", lambda: _approx(penalty=_P1), TypeError,
     r"penalty must be None or collapse_jax.fitting.pseudo_data\(...\); "
     r"got 'GaussianParams'\."),
    ("penalty of another dimension",
     lambda: _approx(penalty=pseudo_data(TRUTH, 1.0)), ValueError,
     r"penalty\.reference must be parameters of a 1-dimensional Gaussian"),
    ("strength=0", lambda: pseudo_data(_P1, 0.0), ValueError,
     r"pseudo_data\(\): strength must be positive and finite; got 0\.0\. Pass "
     r"strength > 0, or penalty=None"),
    ("strength='1'", lambda: pseudo_data(_P1, "1"), TypeError,
     r"pseudo_data\(\): strength must be a positive number; got '1'\."),
    ("family without hooks",
     lambda: _approx(family=_G1._replace(name="custom", approx=None)), ValueError,
     r"family must be a family with optimiser hooks \(ModelFamily\.approx\); got "
     r"'custom'\. Approximate fitting is not supported for the 'custom' family"),
    ("family not a family", lambda: _approx(family="gaussian"), TypeError,
     r"approximate\(\): family must be a model family"),
    ("oracle fixed without init",
     lambda: th.gradient_map_iterate(0.0, 1.0, optimizer="sgd", learning_rate=0.1,
                                     num_steps=1, start="fixed", num_generations=1),
     ValueError, r"gradient_map_iterate\(\): init_mean, init_cov must be given with "
     r"start='fixed'"),
    ("oracle bad optimizer",
     lambda: th.gradient_map_iterate(0.0, 1.0, optimizer="lbfgs", learning_rate=0.1,
                                     num_steps=1, start="warm", num_generations=1),
     ValueError, r"optimizer must be one of"),
    ("oracle divergent",
     lambda: th.gradient_map_iterate(0.0, 1.0, optimizer="sgd", learning_rate=50.0,
                                     num_steps=5, start="fixed", init_mean=3.0,
                                     init_cov=0.01, num_generations=3),
     ValueError, r"learning_rate must be small enough for a finite iteration"),
    ("moments not PD",
     lambda: th.pseudo_data_moments([0.0, 0.0], -np.eye(2), [0.0, 0.0], np.eye(2),
                                    1.0, 2),
     ValueError, r"pseudo_data_moments\(\): cov0 must be positive definite"),
    ("negative strength",
     lambda: th.pseudo_data_moments(0.0, 1.0, 0.0, 1.0, -1.0, 2),
     ValueError, r"strength must be a finite number >= 0"),
    ("eta = 1/2", lambda: th.one_step_variance_fixed_point(0.5), ValueError,
     r"one_step_variance_fixed_point\(\): learning_rate must be != 0\.5"),
    ("rates: no steps", lambda: th.fixed_start_rates(0.1, 0, 1.0), ValueError,
     r"fixed_start_rates\(\): num_steps must be >= 1"),
]
# fmt: on


@pytest.mark.parametrize("name,call,error,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_the_house_message(name, call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call()
    assert re.match(r"^\w+\(\): .+ must be .+; got .+\. [A-Z].*", str(info.value)), (
        name,
        str(info.value),
    )
