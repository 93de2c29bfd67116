"""The linear-regression family and the supervised chain of docs/theory.md LR-0 to LR-7.

Deterministic: the LR-0 identity (replace = w* + sum e_i, accumulate = w* + sum e_i/i)
under common random numbers, in float64 (x64 pass) and float32; fits against NumPy;
the population (M = inf) chains; bitwise batch invariance; every error message.

Statistical (z = 5, docs/theory.md §12.1; SE across independent chains, not within one):
LR-1 (conditional on a fixed design, and unconditional with fresh anisotropic
designs), LR-2 (conditional value, the pi^2/6 bound and the replace contrast), LR-5
(two noise levels, two sample sizes), LR-6 (over-parameterised, noise-free) and LR-7
(ridge shrinkage). About 30 statistical assertions (40 with the x64 pass). Sizes and
SEs: 4,096 chains, d = 5, T = 20 fixed design: SE of the mean replace error at n = 10
is about 0.05 (1.2 % of the mean).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import keys as cjk
from collapse_jax.status import Status
from collapse_jax.theory import regression as tr
from tests.helpers import assert_within_se, mean_and_se, module_seed

Z = 5.0  # docs/theory.md §12.1
C = 4096
D, T = 5, 20  # the fixed design of the LR-1 / LR-2 runs
N = 10


def _seed(name: str) -> int:
    return module_seed(f"test_linear_regression.{name}")


@functools.cache
def _design(d: int = D, rows: int = T, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, d)), rng.standard_normal(d)


def _has_accumulate() -> bool:
    return hasattr(cj, "accumulate")


needs_accumulate = pytest.mark.skipif(
    not _has_accumulate(), reason="cj.accumulate() is not available yet"
)


@functools.cache
def _fixed_run(regime_name: str, dtype: str = "float32", first_chain=0, num_chains=C):
    x, w = _design()
    regime = cj.replace() if regime_name == "replace" else cj.accumulate()
    return cj.run_chains(
        cj.linear_regression(D, T),
        cj.linear_regression_params(w, design=x, noise_sd=1.0),
        key=_seed(f"fixed.{regime_name}.{dtype}"),
        num_chains=num_chains,
        first_chain=first_chain,
        num_generations=N,
        sample_size=T,
        regime=regime,
        dtype=dtype,
        metrics=["test_error"],
        record_params=False,
    )


# ------------------------------------------------------------------ LR-0 identity ---


def _noise(fam, params, seed, num_chains, num_generations, dtype):
    """The label noise sigma * eps the chains drew, rebuilt from the key scheme."""
    zero = fam.cast_params(
        params._replace(weights=np.zeros_like(params.weights)), dtype
    )
    rows = params.design.shape[0]

    def one(chain_key, t):
        keys = cjk.generation_keys(chain_key, t)
        return fam.sample(keys.sample, zero, rows)[:, -1]

    ck = cjk.chain_keys(jax.random.key(seed), jnp.arange(num_chains, dtype=jnp.int32))
    ts = jnp.arange(num_generations, dtype=jnp.int32)
    per_chain = jax.vmap(one, in_axes=(None, 0))
    return np.asarray(jax.jit(jax.vmap(per_chain, in_axes=(0, None)))(ck, ts))


def _check_identity(dtype, tol, seed):
    d, rows, n, chains = 3, 8, 6, 3
    x, w = _design(d, rows, seed=1)
    fam = cj.linear_regression(d, rows)
    p = cj.linear_regression_params(w, design=x, noise_sd=0.7)
    noise = _noise(fam, p, seed, chains, n, jnp.dtype(dtype))
    regimes = {"replace": cj.replace()}
    if _has_accumulate():
        regimes["accumulate"] = cj.accumulate()
    for name, regime in regimes.items():
        res = cj.run_chains(
            fam,
            p,
            key=seed,
            num_chains=chains,
            num_generations=n,
            sample_size=rows,
            regime=regime,
            dtype=dtype,
        )
        got = res.params.weights.astype(np.float64)
        for c in range(chains):
            want = tr.fixed_design_chain(w, x, noise[c], name)
            np.testing.assert_allclose(got[c], want, rtol=0, atol=tol, err_msg=name)
    if not _has_accumulate():
        pytest.skip("replace checked; cj.accumulate() is not available yet")


@pytest.mark.x64
def test_lr0_identity_float64(x64, seed):
    _check_identity(x64, 1e-10, seed % 2**31)


def test_lr0_identity_float32(seed):
    _check_identity("float32", 2e-5, seed % 2**31)


def test_fixed_design_chain_oracle_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    e = np.array([[1.0, 2.0, 5.0], [3.0, 0.0, 1.0]])  # X^+ E_i = (E_i0, E_i1 / 2)
    rep = tr.fixed_design_chain([1.0, 1.0], x, e, "replace")
    acc = tr.fixed_design_chain([1.0, 1.0], x, e, "accumulate")
    np.testing.assert_allclose(rep, [[1, 1], [2, 2], [5, 2]])
    np.testing.assert_allclose(acc, [[1, 1], [2, 2], [3.5, 2]])


# ------------------------------------------------------------- fits and contracts ---


def _rows(rng, n, d, dtype=np.float64):
    return rng.standard_normal((n, d + 1)).astype(dtype)


@pytest.mark.parametrize(
    "fit, ridge", [("ols", 0.0), ("ridge", 0.3), ("min_norm", 0.0)]
)
def test_weighted_fit_matches_numpy(fit, ridge, seed):
    rng = np.random.default_rng(seed)
    d, n = 3, 9
    data = _rows(rng, n, d, np.float32)
    wts = rng.integers(0, 3, n).astype(np.float32)
    wts[0] = 1.0
    fam = cj.linear_regression(d, n, fit=fit, ridge=ridge, design="fresh")
    prev = fam.cast_params(cj.linear_regression_params(np.zeros(d)), jnp.float32)
    got = jax.jit(fam.fit)(jax.random.key(0), jnp.asarray(data), jnp.asarray(wts), prev)
    x, y = data[:, :d].astype(np.float64), data[:, d].astype(np.float64)
    g = x.T @ (wts[:, None] * x)
    b = x.T @ (wts * y)
    want = np.linalg.solve(g + ridge * wts.sum() * np.eye(d), b)
    np.testing.assert_allclose(np.asarray(got.weights), want, rtol=2e-4, atol=2e-5)
    # Integer weights equal replication.
    rep = np.repeat(data, wts.astype(int), axis=0)
    got_rep = jax.jit(fam.fit)(
        jax.random.key(0), jnp.asarray(rep), jnp.ones(rep.shape[0], jnp.float32), prev
    )
    np.testing.assert_allclose(
        np.asarray(got_rep.weights), np.asarray(got.weights), rtol=2e-4, atol=2e-5
    )


@settings(deadline=None, max_examples=10)
@given(
    d=st.sampled_from([1, 2, 3]),
    n=st.sampled_from([4, 8]),
    fit=st.sampled_from(["ols", "ridge", "min_norm"]),
    scale=st.floats(0.25, 4.0),
    data_seed=st.integers(0, 2**31 - 1),
)
def test_fit_is_invariant_to_permutation_and_weight_scale(d, n, fit, scale, data_seed):
    rng = np.random.default_rng(data_seed)
    data = _rows(rng, n, d, np.float32)
    wts = rng.uniform(0.5, 2.0, n).astype(np.float32)
    perm = rng.permutation(n)
    fam = cj.linear_regression(
        d, fit=fit, ridge=0.5 if fit == "ridge" else 0.0, design="fresh"
    )
    prev = fam.cast_params(cj.linear_regression_params(np.zeros(d)), jnp.float32)
    f = jax.jit(fam.fit)
    k = jax.random.key(0)
    base = np.asarray(f(k, jnp.asarray(data), jnp.asarray(wts), prev).weights)
    permuted = f(k, jnp.asarray(data[perm]), jnp.asarray(wts[perm]), prev).weights
    scaled = f(k, jnp.asarray(data), jnp.asarray(wts * np.float32(scale)), prev).weights
    tol = 1e-3 * (1 + np.abs(base).max())
    np.testing.assert_allclose(np.asarray(permuted), base, rtol=0, atol=tol)
    np.testing.assert_allclose(np.asarray(scaled), base, rtol=0, atol=tol)


def test_sample_shapes_dtypes_and_fixed_design(seed):
    x, w = _design(3, 6, seed=2)
    fam = cj.linear_regression(3, 6)
    p = fam.cast_params(cj.linear_regression_params(w, design=x), jnp.float32)
    data = fam.sample(jax.random.key(seed % 2**31), p, 6)
    assert data.shape == (6, 4) and data.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(data[:, :3]), x.astype(np.float32))
    fresh = cj.linear_regression(3, design="fresh", feature_scale=[1.0, 2.0, 0.5])
    pf = fresh.cast_params(cj.linear_regression_params(w), jnp.float32)
    big = np.asarray(fresh.sample(jax.random.key(1), pf, 20000))
    np.testing.assert_allclose(big[:, :3].std(axis=0), [1.0, 2.0, 0.5], rtol=0.05)
    np.testing.assert_array_equal(
        np.asarray(fam.sample(jax.random.key(seed % 2**31), p, 4)), np.asarray(data[:4])
    )  # a prefix: the rows and the noise of the first 4 draws
    with pytest.raises(ValueError, match=r"n must be <= num_rows = 6"):
        fam.sample(jax.random.key(0), p, 7)


def test_log_prob_is_the_gaussian_label_likelihood(seed):
    rng = np.random.default_rng(seed)
    fam = cj.linear_regression(2, design="fresh")
    w = np.array([0.5, -1.0])
    p = fam.cast_params(cj.linear_regression_params(w, noise_sd=0.7), jnp.float32)
    data = _rows(rng, 5, 2, np.float32)
    want = stats.norm.logpdf(data[:, 2], data[:, :2] @ w, 0.7)
    np.testing.assert_allclose(
        np.asarray(fam.log_prob(p, jnp.asarray(data))), want, rtol=1e-5
    )
    p0 = fam.cast_params(cj.linear_regression_params(w, noise_sd=0.0), jnp.float32)
    exact = jnp.asarray(np.array([[1.0, 0.0, 0.5], [1.0, 0.0, 0.4]], np.float32))
    assert np.asarray(fam.log_prob(p0, exact)).tolist() == [np.inf, -np.inf]


def test_metrics_and_status(seed):
    fam = cj.linear_regression(2, design="fresh", feature_scale=[2.0, 1.0])
    truth = fam.cast_params(cj.linear_regression_params([1.0, 1.0]), jnp.float32)
    p = truth._replace(weights=jnp.asarray([2.0, 0.0], jnp.float32))
    m = fam.metrics(p, truth)
    assert float(m["test_error"]) == pytest.approx(4.0 * 1 + 1.0 * 1)
    assert float(m["weight_norm_sq"]) == pytest.approx(4.0)
    assert int(fam.status(p)) == Status.OK
    nan = p._replace(weights=jnp.asarray([np.nan, 0.0], jnp.float32))
    inf = p._replace(weights=jnp.asarray([np.inf, 0.0], jnp.float32))
    assert int(fam.status(nan)) == Status.DEGENERATE_FIT
    assert int(fam.status(inf)) == Status.NONFINITE_PARAMS


def test_singular_fit_is_reported_degenerate_and_frozen():
    # A collinear fixed design under ridge = 0 cannot be refused by OLS's rank check
    # at fit="ridge"; with zero penalty its Gram is singular: degenerate, frozen.
    x = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    fam = cj.linear_regression(2, 3, fit="ridge", ridge=0.0)
    with pytest.warns(cj.FailedChainsWarning, match="DEGENERATE_FIT"):
        res = cj.run_chains(
            fam,
            cj.linear_regression_params([1.0, 0.0], design=x),
            key=0,
            num_chains=2,
            num_generations=3,
            sample_size=3,
        )
    assert not res.ok
    assert {f.status for f in res.failures()} == {Status.DEGENERATE_FIT}
    assert np.all(np.isfinite(res.params.weights))  # the last good model is kept


@pytest.mark.x64
def test_min_norm_interpolates_in_the_row_space(x64, seed):
    rng = np.random.default_rng(seed)
    d, n = 7, 3
    data = rng.standard_normal((n, d + 1))
    fam = cj.linear_regression(d, fit="min_norm", design="fresh")
    prev = fam.cast_params(cj.linear_regression_params(np.zeros(d)), x64)
    got = np.asarray(
        jax.jit(fam.fit)(
            jax.random.key(0), jnp.asarray(data), jnp.ones(n, jnp.float64), prev
        ).weights
    )
    x, y = data[:, :d], data[:, d]
    np.testing.assert_allclose(x @ got, y, atol=1e-12)
    np.testing.assert_allclose(got, np.linalg.pinv(x) @ y, atol=1e-12)


# ------------------------------------------------------------- population chains ---


def test_population_fits():
    x, w = _design(3, 6, seed=3)
    ols = cj.run_chains(
        cj.linear_regression(3, 6),
        cj.linear_regression_params(w, design=x),
        key=0,
        num_chains=1,
        num_generations=3,
        sample_size=None,
    )
    np.testing.assert_allclose(ols.params.weights[0], np.tile(w, (4, 1)), rtol=1e-6)
    lam = 0.4
    g = x.T @ x / 6
    a = np.linalg.solve(g + lam * np.eye(3), g)
    ridge = cj.run_chains(
        cj.linear_regression(3, 6, fit="ridge", ridge=lam),
        cj.linear_regression_params(w, design=x),
        key=0,
        num_chains=1,
        num_generations=3,
        sample_size=None,
    )
    want = np.stack([np.linalg.matrix_power(a, k) @ w for k in range(4)])
    np.testing.assert_allclose(ridge.params.weights[0], want, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- bitwise batches ---


@pytest.mark.parametrize("case", ["replace", "accumulate", "fresh_min_norm"])
def test_one_chain_alone_equals_the_same_chain_in_a_batch(case):
    # Chain 13 run alone (padded to 8 chains) against the 4096-chain runs of the
    # statistical tests: same seed, configuration and dtype, so the same bits.
    if case == "accumulate" and not _has_accumulate():
        pytest.skip("cj.accumulate() is not available yet")
    if case == "fresh_min_norm":
        batch, run = _lr6_run("float32"), _lr6_run.__wrapped__
    else:
        batch, run = _fixed_run(case), _fixed_run.__wrapped__
    alone = run(
        case if case != "fresh_min_norm" else "float32", first_chain=13, num_chains=1
    )
    for name, values in alone.metrics.items():
        np.testing.assert_array_equal(values[0], batch.metrics[name][13])


# --------------------------------------------------------------------- LR-1 / LR-2 ---


def _conditional_check(res, fn, what):
    x, _ = _design()
    err = res.metrics["test_error"]
    for n in (1, 5, N):
        est, se = mean_and_se(err[:, n])
        assert_within_se(est, fn(n, x), se, Z, what=f"{what} n={n}")


def test_lr1_replace_conditional_on_the_design():
    _conditional_check(
        _fixed_run("replace"),
        tr.conditional_test_error_replace,
        "LR-1 replace E[err_n | X], 4096 chains, d=5, T=20",
    )


@pytest.mark.x64
def test_lr1_replace_conditional_float64(x64):
    _conditional_check(
        _fixed_run("replace", x64),
        tr.conditional_test_error_replace,
        "LR-1 replace float64",
    )


def test_lr1_replace_fresh_anisotropic_designs_unconditional():
    d, rows, s2, n = 4, 12, 0.7, 5
    scale = np.sqrt([4.0, 1.0, 0.25, 0.1])
    fam = cj.linear_regression(d, design="fresh", feature_scale=scale)
    res = cj.run_chains(
        fam,
        cj.linear_regression_params([1.0, -0.5, 2.0, 0.3], noise_sd=math.sqrt(s2)),
        key=_seed("lr1.fresh"),
        num_chains=C,
        num_generations=n,
        sample_size=rows,
        metrics=["test_error"],
        record_params=False,
    )
    for k in (1, n):
        est, se = mean_and_se(res.metrics["test_error"][:, k])
        assert_within_se(
            est,
            tr.expected_test_error_replace(k, d, rows, s2),
            se,
            Z,
            what=f"LR-1 fresh anisotropic designs, n={k}",
        )


@needs_accumulate
def test_lr2_accumulate_conditional_bound_and_replace_contrast():
    _conditional_check(
        _fixed_run("accumulate"),
        tr.conditional_test_error_accumulate,
        "LR-2 accumulate E[err_n | X], 4096 chains, d=5, T=20",
    )
    x, _ = _design()
    first = tr.conditional_test_error_replace(1, x)
    bound = tr.accumulate_test_error_bound(first)
    acc = _fixed_run("accumulate").metrics["test_error"]
    rep = _fixed_run("replace").metrics["test_error"]
    for n in range(1, N + 1):  # bounded: never above pi^2/6 x the first model's error
        est, se = mean_and_se(acc[:, n])
        assert est <= bound + Z * se, (n, est, bound, se)
    est, se = mean_and_se(rep[:, N])  # replace grows linearly, far past the bound
    assert est > bound + Z * se, (est, bound, se)


@needs_accumulate
@pytest.mark.x64
def test_lr2_accumulate_conditional_float64(x64):
    _conditional_check(
        _fixed_run("accumulate", x64),
        tr.conditional_test_error_accumulate,
        "LR-2 accumulate float64",
    )


# ------------------------------------------------------------------------- LR-5 ---


def test_lr5_two_noise_levels_and_two_sample_sizes():
    d, t0, t1, s02, s2, n = 4, 10, 16, 0.5, 1.0, 3
    fam = cj.linear_regression(d, design="fresh")
    w = np.array([0.3, -1.0, 0.5, 2.0])
    res = cj.run_chains(
        fam,
        cj.linear_regression_params(w, noise_sd=math.sqrt(s02)),
        key=_seed("lr5"),
        num_chains=C,
        num_generations=n,
        sample_size=t0,
        record_params=False,
        metrics=["test_error"],
    )
    gen = res.final_state.params
    gen = gen._replace(noise_sd=jnp.full_like(gen.noise_sd, math.sqrt(s2)))
    keys = jax.random.split(jax.random.key(_seed("lr5.downstream")), C)
    ones = jnp.ones((t1,), gen.weights.dtype)
    down = jax.jit(jax.vmap(lambda k, p: fam.refit(k, k, p, ones)))(keys, gen)
    err = np.sum((np.asarray(down.weights, np.float64) - w) ** 2, axis=1)
    est, se = mean_and_se(err)
    want = tr.expected_test_error_steps(d, [t0] * n + [t1], [s02] * n + [s2])
    assert want == pytest.approx(s2 * d / (t1 - d - 1) + n * s02 * d / (t0 - d - 1))
    assert_within_se(est, want, se, Z, what="LR-5 sigma0^2=0.5 T0=10 x3, then T=16")


# ------------------------------------------------------------------------- LR-6 ---


_LR6 = (20, 8, 6)  # d, T, n


def _lr6_truth():
    w = np.random.default_rng(5).standard_normal(_LR6[0])
    return w / np.linalg.norm(w)


@functools.cache
def _lr6_run(dtype, first_chain=0, num_chains=C):
    d, rows, n = _LR6
    return cj.run_chains(
        cj.linear_regression(d, fit="min_norm", design="fresh"),
        cj.linear_regression_params(_lr6_truth(), noise_sd=0.0),
        key=_seed(f"lr6.{dtype}"),
        num_chains=num_chains,
        first_chain=first_chain,
        num_generations=n,
        sample_size=rows,
        dtype=dtype,
        metrics=["test_error", "weights"],
        record_params=False,
    )


def _lr6(dtype):
    d, rows, n = _LR6
    res = _lr6_run(dtype)
    w = _lr6_truth()
    assert res.ok
    for k in (1, 3, n):
        est, se = mean_and_se(res.metrics["test_error"][:, k])
        want = tr.expected_test_error_overparameterised(k, d, rows)
        assert_within_se(est, want, se, Z, what=f"LR-6 err n={k} ({dtype})")
        along = res.metrics["weights"][:, k].astype(np.float64) @ w
        est, se = mean_and_se(along)
        want = tr.expected_weights_overparameterised(k, w, rows) @ w
        assert_within_se(est, want, se, Z, what=f"LR-6 <E w_n, w*> n={k} ({dtype})")


@pytest.mark.x64
def test_lr6_overparameterised_noise_free_float64(x64):
    _lr6(x64)


def test_lr6_overparameterised_noise_free_float32():
    _lr6("float32")


# ------------------------------------------------------------------ LR-7 (ridge) ---


def test_lr7_ridge_chain_shrinks_to_the_zero_predictor():
    d, rows, lam, n = 3, 12, 0.5, 30
    x, w = _design(d, rows, seed=6)
    res = cj.run_chains(
        cj.linear_regression(d, rows, fit="ridge", ridge=lam),
        cj.linear_regression_params(w, design=x, noise_sd=0.5),
        key=_seed("lr7"),
        num_chains=C,
        num_generations=n,
        sample_size=rows,
        metrics=["test_error", "weights"],
        record_params=False,
    )
    weights = res.metrics["weights"].astype(np.float64)  # (C, n + 1, d)
    # Exact mean: each refit applies A = (G + lam I)^{-1} G, G = X^T X / T, to the
    # previous weights in expectation (the noise has mean zero).
    g = x.T @ x / rows
    a = np.linalg.solve(g + lam * np.eye(d), g)
    for k in (1, 5, n):
        want = np.linalg.matrix_power(a, k) @ w
        est, se = mean_and_se(weights[:, k])
        assert_within_se(est, want, se, Z, what=f"LR-7 E w_n = A^n w*, n={k}")
    mean = weights.mean(axis=0)
    norms = np.linalg.norm(mean, axis=1)
    se_norm = np.sqrt(np.sum(weights.var(axis=0, ddof=1) / C, axis=1))
    # The mean weights shrink: monotone up to z = 5 Monte Carlo error.
    assert np.all(norms[1:] <= norms[:-1] + Z * (se_norm[1:] + se_norm[:-1])), norms
    assert norms[n] < 0.05 * norms[0]
    est, se = mean_and_se(res.metrics["test_error"][:, n])
    assert est > 0.9 * float(w @ w) - Z * se  # the zero predictor's risk, or more


# -------------------------------------------------------------------------- theory ---


def test_closed_form_values():
    assert tr.expected_test_error_replace(10, 5, 20) == pytest.approx(10 * 5 / 14)
    np.testing.assert_allclose(
        tr.expected_test_error_accumulate(np.array([1, 5, 10]), 5, 20),
        [5 / 14 * sum(1 / i**2 for i in range(1, m + 1)) for m in (1, 5, 10)],
        rtol=1e-12,
    )
    assert tr.accumulate_test_error_bound(5 / 14) == pytest.approx(0.58748, rel=1e-4)
    assert tr.expected_test_error_steps(5, [20, 20], 1.0) == pytest.approx(
        tr.expected_test_error_replace(2, 5, 20)
    )
    np.testing.assert_allclose(
        tr.expected_test_error_overparameterised(np.array([0, 1, 3, 6]), 20, 8),
        [0.0, 0.6, 0.936, 1 - 0.4**6],
    )
    x, _ = _design()
    k = np.trace(np.linalg.inv(x.T @ x))
    assert tr.conditional_test_error_replace(4, x) == pytest.approx(4 * k)
    assert tr.conditional_test_error_accumulate(2, x, 2.0) == pytest.approx(2.5 * k)
    sig = np.array([4.0, 1.0, 1.0, 1.0, 0.5])
    assert tr.conditional_test_error_replace(1, x, 1.0, sig) == pytest.approx(
        np.trace(np.diag(sig) @ np.linalg.inv(x.T @ x))
    )


def test_theory_docstrings_cite_existing_proofs():
    import inspect
    import pathlib
    import re

    proofs = pathlib.Path(__file__).resolve().parents[1] / "proofs"
    for name in tr.__all__:
        doc = inspect.getdoc(getattr(tr, name)) or ""
        cited = re.findall(r"proofs/([a-z0-9-]+\.md)", doc)
        assert cited, name
        assert all((proofs / f).exists() for f in cited), (name, cited)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: tr.expected_test_error_replace(1, 5, 6),
            r"num_rows must be >= dim \+ 2 = 7",
        ),
        (lambda: tr.expected_test_error_replace(-1, 5, 20), r"num_fits must be"),
        (
            lambda: tr.expected_test_error_accumulate(1, 0, 20),
            r"dim must be an int >= 1",
        ),
        (
            lambda: tr.expected_test_error_replace(1, 5, 20, -1.0),
            r"noise_var must be a finite number >= 0",
        ),
        (
            lambda: tr.expected_test_error_overparameterised(1, 5, 5),
            r"num_rows must be < dim = 5",
        ),
        (
            lambda: tr.conditional_test_error_replace(1, np.ones((4, 2))),
            r"design must be of full column rank 2",
        ),
        (
            lambda: tr.expected_test_error_steps(4, [10, 10], [1.0, 1.0, 1.0]),
            r"noise_var must be one entry per step",
        ),
        (
            lambda: tr.fixed_design_chain([0.0], np.eye(1), [[1.0]], "mix"),
            r"regime must be 'replace' or 'accumulate'",
        ),
    ],
)
def test_theory_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------- bad input ---


def _run(fam, p, **kw):
    args = dict(key=0, num_chains=2, num_generations=2, sample_size=4)
    args.update(kw)
    return cj.run_chains(fam, p, **args)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: cj.linear_regression(3, 10, fit="ridge", ridge=-0.1),
            ValueError,
            r"linear_regression\(\): ridge must be a finite penalty >= 0; got -0\.1\. "
            r"Pass ridge >= 0",
        ),
        (
            lambda: cj.linear_regression(3, 10, ridge=0.5),
            ValueError,
            r"ridge must be 0 with fit='ols'; got 0\.5\. Pass fit='ridge'",
        ),
        (
            lambda: cj.linear_regression(3, 10, fit="ridge", ridge=math.inf),
            ValueError,
            r"ridge must be a finite penalty",
        ),
        (
            lambda: cj.linear_regression(5, 3),
            ValueError,
            r"num_rows must be >= dim = 5 for fit='ols' .*; got 3\. .*fit='min_norm'",
        ),
        (
            lambda: cj.linear_regression(3, 10, fit="lasso"),
            ValueError,
            r"fit must be one of 'ols', 'ridge', 'min_norm'; got 'lasso'",
        ),
        (
            lambda: cj.linear_regression(3, 10, design="random"),
            ValueError,
            r"design must be one of 'fixed', 'fresh'; got 'random'",
        ),
        (
            lambda: cj.linear_regression(3),
            ValueError,
            r"num_rows must be the number of rows of the fixed design",
        ),
        (lambda: cj.linear_regression(0, 10), ValueError, r"dim must be a positive"),
        (
            lambda: cj.linear_regression(2, design="fresh", feature_scale=[1.0, -1.0]),
            ValueError,
            r"feature_scale must be None or 2 positive finite",
        ),
        (
            lambda: cj.linear_regression_params([1.0, np.nan]),
            ValueError,
            r"linear_regression_params\(\): weights must be finite",
        ),
        (
            lambda: cj.linear_regression_params([1.0, 2.0], design=np.ones((4, 3))),
            ValueError,
            r"design must be a matrix of shape \(T, 2\) matching",
        ),
        (
            lambda: cj.linear_regression_params([1.0], noise_sd=-1.0),
            ValueError,
            r"noise_sd must be a finite number >= 0; got -1\.0",
        ),
        (
            lambda: cj.linear_regression_params([1.0], design=[[np.inf]]),
            ValueError,
            r"design must be finite",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, 4),
                cj.linear_regression_params([1.0, 2.0], design=np.ones((3, 2))),
            ),
            ValueError,
            r"run_chains\(\): init\.design must be of shape \(4, 2\); "
            r"got shape \(3, 2\)",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, 4),
                cj.linear_regression_params([1.0, 2.0], design=np.ones((4, 2))),
            ),
            ValueError,
            r"init\.design must be of full column rank 2 for fit='ols'",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, 4),
                cj.linear_regression_params([1.0, 2.0], design=np.eye(4, 2)),
                sample_size=3,
            ),
            ValueError,
            r"sample_size must be >= 4 \(design='fixed' relabels",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, 4),
                cj.linear_regression_params([1.0, 2.0], design=np.eye(4, 2)),
                sample_size=5,
            ),
            ValueError,
            r"n must be <= num_rows = 4",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, design="fresh"),
                cj.linear_regression_params([1.0, 2.0], design=np.eye(4, 2)),
            ),
            ValueError,
            r"init\.design must be of shape \(0, 2\)",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, design="fresh"),
                cj.linear_regression_params([1.0, 2.0, 3.0]),
            ),
            ValueError,
            r"init must be parameters of a 2-dimensional linear regression",
        ),
        (
            lambda: _run(cj.linear_regression(2, design="fresh"), (1.0, 2.0)),
            TypeError,
            r"init must be LinearRegressionParams",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, design="fresh"),
                cj.linear_regression_params([1.0, 2.0]),
                sample_size=1,
            ),
            ValueError,
            r"sample_size must be >= 2 \(fit='ols' needs at least d = 2",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, design="fresh"),
                cj.LinearRegressionParams(
                    np.array([np.nan, 1.0]), np.zeros((0, 2)), np.array(1.0)
                ),
            ),
            ValueError,
            r"init\.weights must be finite",
        ),
        (
            lambda: _run(
                cj.linear_regression(2, design="fresh"),
                cj.LinearRegressionParams(
                    np.array([0.0, 1.0]), np.zeros((0, 2)), np.array(-0.5)
                ),
            ),
            ValueError,
            r"init\.noise_sd must be >= 0; got -0\.5",
        ),
    ],
)
def test_bad_input_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_factory_is_cached():
    a = cj.linear_regression(3, 10, fit="ridge", ridge=0.5)
    assert a is cj.linear_regression(3, 10, fit="ridge", ridge=0.5)
    assert cj.linear_regression(2, design="fresh", feature_scale=[1, 2]) is (
        cj.linear_regression(2, design="fresh", feature_scale=(1.0, 2.0))
    )
