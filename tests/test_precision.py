"""Representable ranges (docs/precision.md): a truth far from the origin, counts
past 2**24 and 2**31, samplers at large parameters.

A float32 Gaussian chain whose truth has mean 1e6 used to freeze silently (the
mean's steps, 0.01 at M = 10,000, are below float32's spacing 0.0625 there). Runs of
location families are now carried in a frame where the truth sits near 0
(collapse_jax.frame): the chain of a truth at ``mu0`` is, bit for bit, the chain of
the truth at 0, and the location metrics come back as ``mu0 +`` that, in float64.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import chain as cjc
from collapse_jax import random as cjr
from collapse_jax.frame import PrecisionWarning
from collapse_jax.status import Status
from collapse_jax.theory import gaussian as th
from tests.helpers import assert_within_se, mean_and_se, module_seed

SEED = module_seed("test_precision")

# ----------------------------------------------------------- Gaussian, far truth ---

# The case: variance 1, M = 10,000, n = 50 (sufficient sampler: the same law
# as drawing the points, O(1) per generation). 2,000 chains: E(mu_50 - mu_0)^2 =
# n/M = 0.005 (GC-5), SE from the chains about 1.6e-4 (a frozen walk gave 0.00036).
G_CHAINS, G_GENS, G_M = 2000, 50, 10_000


@functools.cache
def _gauss(mean, dim=1):
    cov = 1.0 if dim == 1 else np.array([[1.0, 0.5], [0.5, 2.0]])
    mean = mean if dim == 1 else np.asarray(mean)
    return cj.run_chains(
        cj.gaussian(dim),
        cj.gaussian_params(mean, cov),
        key=SEED,
        num_chains=G_CHAINS if dim == 1 else 500,
        num_generations=G_GENS if dim == 1 else 20,
        sample_size=G_M,
        sampler="sufficient",
    )


def _small(mean, **kw):
    """A sample-based run: 64 chains, 3 generations, M = 100."""
    return cj.run_chains(
        cj.gaussian(),
        cj.gaussian_params(mean, 1.0),
        key=SEED,
        num_chains=64,
        num_generations=3,
        sample_size=100,
        **kw,
    )


def _check_mean_drift(delta, dim_trace, gens, what):
    """E ||mu_n - mu_0||^2 = tr(Sigma_0) n / M (GC-5, SH-7), k*SE over chains."""
    sq = np.sum(np.asarray(delta, np.float64) ** 2, axis=-1)
    est, se = mean_and_se(sq)
    expected = th.expected_squared_mean_error(G_M, gens, variance=dim_trace)
    assert_within_se(est, expected, se, seed=SEED, what=what)


def test_far_gaussian_mean_walks_as_at_the_origin():
    far = _gauss(1e6)
    mean = far.metrics["mean"][:, :, 0]
    _check_mean_drift(
        (mean[:, G_GENS] - mean[:, 0])[:, None],
        1.0,
        G_GENS,
        "float32 truth mean 1e6: E(mu_50 - mu_0)^2 = n/M (2,000 chains, M=10,000)",
    )


@pytest.mark.parametrize("location", [1e6, 1e30])
def test_far_gaussian_is_the_origin_chain_moved(location):
    # 1e30 is representable in float32; its float64 neighbours are 1.4e14 apart, so
    # only the frame's values (relative) can show the walk: they are the bits of
    # the chain at the origin, and the absolute metric is origin + those, rounded
    # once in float64.
    base, far = _gauss(0.0), _gauss(location)
    np.testing.assert_array_equal(
        far.metrics["mean"], location + base.metrics["mean"].astype(np.float64)
    )
    assert far.metrics["mean"].dtype == np.float64
    assert base.origin is None and base.relative == {}
    np.testing.assert_array_equal(far.origin, [location])
    assert far.config["origin"] == [location]
    np.testing.assert_array_equal(far.relative["mean"], base.metrics["mean"])
    for name in ("log_var", "log_det_cov", "w2_sq", "tail_mass"):
        np.testing.assert_array_equal(far.metrics[name], base.metrics[name], name)
        assert far.metrics[name].dtype == np.float32
    np.testing.assert_array_equal(far.params.mean, far.metrics["mean"])
    np.testing.assert_array_equal(far.reference.mean, [location])
    rel = far.relative["mean"][:, :, 0]
    _check_mean_drift(
        (rel[:, G_GENS] - rel[:, 0])[:, None],
        1.0,
        G_GENS,
        f"float32 truth mean {location:g}, frame values: E(mu_50 - mu_0)^2 = n/M",
    )


def test_far_two_dimensional_gaussian():
    # 500 chains, d = 2, n = 20: E ||mu_n - mu_0||^2 = tr(Sigma) n / M = 0.006.
    loc = (1e6, -3e7)
    base, far = _gauss((0.0, 0.0), dim=2), _gauss(loc, dim=2)
    delta = far.metrics["mean"][:, 20] - far.metrics["mean"][:, 0]
    _check_mean_drift(delta, 3.0, 20, "d=2 truth at (1e6, -3e7): E||mu_20 - mu_0||^2")
    np.testing.assert_array_equal(far.relative["mean"], base.metrics["mean"])


def _prepare_args(**kw):
    """The keyword arguments of chain._prepare (what runs.py calls): run_chains'
    defaults (from its signature), ``key=SEED`` and ``kw``."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(cj.run_chains).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return {**defaults, "key": SEED, **kw}


def test_translated_run_resumes_bit_for_bit():
    # run_experiment's resume: the checkpointed state is the frame's, the origin is
    # recomputed from the truth, the records are absolute (runs.py).
    kw = _prepare_args(num_chains=4, num_generations=6, sample_size=50, chunk_size=2)
    truth = cj.gaussian_params(-2.5e7, 4.0)

    def plan():
        return cjc._prepare("run_chains", cj.gaussian(), truth, **kw)

    whole = list(plan().chunks(plan().state, 0))
    done, state, _ = whole[0]
    again = plan()
    host = jax.tree.map(np.asarray, state)
    rest = list(again.chunks(again.place(host), done))
    assert len(rest) == len(whole) - 1
    for (d1, _, (m1, p1, s1)), (d2, _, (m2, p2, s2)) in zip(
        whole[1:], rest, strict=True
    ):
        assert d1 == d2
        for m in m1:
            np.testing.assert_array_equal(m1[m], m2[m], m)
        for x, y in zip(jax.tree.leaves(p1), jax.tree.leaves(p2), strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(s1, s2)
    assert whole[0][2][0]["mean"].dtype == np.float64  # records are absolute


def test_real_data_move_with_the_truth():
    # mix(real_data=...) given in absolute coordinates: moved into the frame in
    # float64, so the sweep at 5e6 is the sweep at 0 with the real set moved, bit
    # for bit (sweep assembles the records as run_chains does).
    real = np.random.default_rng(0).normal(size=(40, 1))

    def run(center):
        return cj.sweep(
            cj.gaussian(),
            cj.gaussian_params(center, 1.0),
            regime=cj.mix(0.5, real_data=real + center),
            over={"real_fraction": [0.0, 0.5]},
            key=SEED,
            num_chains=16,
            num_generations=3,
            sample_size=100,
        )

    base, far = run(0.0), run(5e6)
    np.testing.assert_allclose(
        far.metrics["mean"] - 5e6, base.metrics["mean"], rtol=0, atol=1e-8
    )
    np.testing.assert_array_equal(far.origin, [5e6])
    np.testing.assert_array_equal(far.relative["mean"], base.metrics["mean"])
    np.testing.assert_array_equal(far.metrics["log_var"], base.metrics["log_var"])
    assert far.metrics["mean"].shape == (2, 16, 4, 1)


def _above_4096(d):
    return jnp.sign(d[:, 0] - 4096.0)


def _above_0(d):
    return jnp.sign(d[:, 0])


@pytest.mark.slow  # two compiles, about 10 s
def test_custom_score_sees_absolute_points():
    # A score written for absolute points (keep those above 4096) keeps its meaning
    # in the frame: the runner feeds it the frame's points moved back. Kept: the
    # top half of each sample, so the first fit's mean moves up by about 0.79
    # (64 chains, M = 100: SE 0.01), as in the run at 0 with the score sign(x);
    # near 4096 float32 flips the sign of a point within 2.4e-4 of it (a few of
    # 19,200). Fed the frame's points, every score would be -1: an unbiased half.
    far = _small(4096.0, curation=cj.likelihood_filter(0.5, score=_above_4096))
    base = _small(0.0, curation=cj.likelihood_filter(0.5, score=_above_0))
    np.testing.assert_array_equal(far.origin, [4096.0])
    step_far = far.relative["mean"][:, 1, 0] - far.relative["mean"][:, 0, 0]
    step_base = base.metrics["mean"][:, 1, 0] - base.metrics["mean"][:, 0, 0]
    assert np.mean(step_base) > 0.6
    est, se = mean_and_se((step_far - step_base).astype(np.float64))
    assert_within_se(
        est,
        0.0,
        se,
        seed=SEED,
        what="first step, score of absolute points vs at the origin",
    )


# --------------------------------------------------------------- mixtures, OLS ---


def _gmm_run(center):
    return cj.run_chains(
        cj.gmm(2, num_iters=2),
        cj.gmm_params([0.4, 0.6], [[center - 3.0], [center + 2.0]], [1.0, 0.5]),
        key=SEED,
        num_chains=8,
        num_generations=3,
        sample_size=100,
    )


def test_far_mixture_is_the_origin_mixture_moved():
    # Mixture mean 0.4 (c - 3) + 0.6 (c + 2) = c: the frame's origin is c, and the
    # chain is that of the mixture centred at 0.
    center = 2.0**22
    base, far = _gmm_run(0.0), _gmm_run(center)
    np.testing.assert_allclose(
        far.metrics["means"] - center, base.metrics["means"], rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(far.origin, [center])
    np.testing.assert_array_equal(far.relative["means"], base.metrics["means"])
    for name in ("weights", "log_vars", "l2", "w2_mm_sq", "em_gain"):
        np.testing.assert_array_equal(far.metrics[name], base.metrics[name], name)


def _ols(weights, fit="ols", ridge=0.0):
    return cj.run_chains(
        cj.linear_regression(2, fit=fit, ridge=ridge, design="fresh"),
        cj.linear_regression_params(weights, noise_sd=1.0),
        key=SEED,
        num_chains=200,
        num_generations=10,
        sample_size=50,
    )


def test_large_regression_weights_walk_as_at_zero():
    # OLS is translation-equivariant: weights (3e6, -2e7) walk as weights 0 do
    # (float32 spacing there: 0.25 and 2, against steps of about 0.14).
    w0 = np.array([3e6, -2e7])
    base, far = _ols([0.0, 0.0]), _ols(w0)
    np.testing.assert_allclose(
        far.metrics["weights"] - w0, base.metrics["weights"], rtol=0, atol=1e-8
    )
    np.testing.assert_array_equal(far.relative["weights"], base.metrics["weights"])
    np.testing.assert_array_equal(far.metrics["test_error"], base.metrics["test_error"])
    np.testing.assert_allclose(
        far.metrics["weight_norm_sq"],
        np.sum(far.metrics["weights"] ** 2, axis=-1),
        rtol=1e-15,
    )


def test_ridge_with_unresolvable_weights_is_refused():
    # Ridge shrinks towards 0: not translation-equivariant, so the run cannot be
    # moved, and weights 1e9 (float32 spacing 64) against steps of 0.14 are refused.
    with pytest.raises(
        ValueError,
        match=r"init must be a truth whose locations "
        r"float32 resolves.*spacing 64.*not translation-equivariant",
    ):
        _ols([1e9, 0.0], fit="ridge", ridge=0.1)


def test_design_whose_normal_equations_overflow_is_refused():
    # X^T X of a design with entries 1e20 is 1e40 > 3.4e38 in float32: the fit
    # would report a "degenerate" chain; the run is refused with the reason.
    design = 1e20 * np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(
        ValueError,
        match=r"init\.design must be a problem whose "
        r"normal equations X\^T X w = X\^T y fit in float32",
    ):
        cj.run_chains(
            cj.linear_regression(2, 3),
            cj.linear_regression_params([1.0, 2.0], design=design),
            key=0,
            num_chains=2,
            num_generations=2,
            sample_size=3,
        )


def test_ridge_with_coarsely_resolved_weights_warns():
    # Weights 3e5 (float32 spacing 0.03) against steps of 0.14: a fifth of a step,
    # which adds about 0.4 % to a step's variance: a PrecisionWarning, not an error.
    # (The check runs while the run is prepared, before anything compiles.)
    with pytest.warns(PrecisionWarning, match=r"spacing 0\.0312.*distorts"):
        cjc._prepare(
            "run_chains",
            cj.linear_regression(2, fit="ridge", ridge=0.1, design="fresh"),
            cj.linear_regression_params([3e5, 0.0], noise_sd=1.0),
            **_prepare_args(num_chains=1, num_generations=1, sample_size=50),
        )


# --------------------------------------------------------------------- Poisson ---


def test_poisson_count_likely_to_overflow_is_refused():
    # poisson_params(1e30) fell to 2.147e9 after one generation, its count pinned
    # at 2**31 - 1 with no failure.
    with pytest.raises(
        ValueError,
        match=r"init must be a truth whose count M \* "
        r"rate stays below 2\*\*31.*Doob's bound",
    ):
        cj.run_chains(
            cj.poisson(),
            cj.poisson_params(1e30),
            key=0,
            num_chains=2,
            num_generations=3,
            sample_size=10,
        )
    cj.run_chains(
        cj.poisson(),
        cj.poisson_params(1e30),
        key=0,
        num_chains=2,
        num_generations=3,
        sample_size=None,
    )  # counts nothing: allowed


def test_poisson_overflow_inside_a_run_stops_the_chain():
    # accumulate pools every generation's draws: M rate = 0.3 * 2**31 per
    # generation passes 2**31 at the fourth fit, certainly (fluctuations ~3e4).
    rate = 0.3 * 2**31 / 8
    with pytest.warns(cj.FailedChainsWarning, match="3 of 3 chains.*COUNT_OVERFLOW"):
        res = cj.run_chains(
            cj.poisson(),
            cj.poisson_params(rate),
            key=SEED,
            num_chains=3,
            num_generations=6,
            sample_size=8,
            regime=cj.accumulate(),
        )
    np.testing.assert_array_equal(res.status[:, :4], 0)
    assert np.all(res.status[:, 4:] != 0)  # the count did not silently saturate
    np.testing.assert_array_equal(res.status[:, 4:], int(Status.COUNT_OVERFLOW))
    count = res.metrics["count"]
    assert np.all(count[:, 3] > 1.9e9) and np.all(count[:, 4:] == count[:, 3:4])
    assert "COUNT_OVERFLOW" in str(res.failures()[0])


@pytest.mark.parametrize(
    # (the sample-based variant, draws the sampler cannot count, is slow-only; a
    # fit's total past 2**31 runs by default in the accumulate test above)
    "sampler",
    [pytest.param("samples", marks=pytest.mark.slow), "sufficient"],
)
def test_poisson_draw_past_int32_is_an_overflow(sampler):
    fam = cj.poisson()
    p = fam.cast_params(cj.poisson_params(3e9), jnp.float32)
    key = jax.random.key(0)
    if sampler == "sufficient":
        new = jax.jit(fam.sample_fit, static_argnums=2)(key, p, 1)
    else:
        new = jax.jit(fam.refit)(key, key, p, jnp.ones(4, jnp.float32))
    assert int(fam.status(new)) != 0  # not a count pinned at 2**31 - 1
    assert int(fam.status(new)) == Status.COUNT_OVERFLOW


@pytest.mark.parametrize("mean", [1e6, 1e9])
def test_poisson_sufficient_draw_has_the_poisson_law(mean):
    # 2**18 chains' first generation (M = 1000): N = M lambda_1 ~ Poisson(mean).
    # jax.random.poisson rounds in float32 above ~1e5 (variance +2.5 % at 1e6, +64 %
    # at 1e9); the family's draws must give E N = Var N = mean within k SE (the SE
    # of a sample variance, sqrt(2/S) relative, for a near-Gaussian law).
    fam = cj.poisson()
    m = 1000
    p = fam.cast_params(cj.poisson_params(mean / m), jnp.float32)
    keys = jax.random.split(jax.random.key(SEED), 2**18)
    draw = jax.jit(jax.vmap(lambda k: fam.sample_fit(k, p, m).count))
    n = np.asarray(draw(keys)).astype(np.float64)
    lam = float(np.float32(mean / m)) * m
    z = (n - lam) / np.sqrt(lam)
    s = z.size
    assert_within_se(
        [z.mean(), z.var()],
        [0.0, 1.0],
        [s**-0.5, (2 / s) ** 0.5],
        seed=SEED,
        what=f"Poisson({mean:g}) mean and variance",
    )


@pytest.mark.slow
def test_exact_poisson_sampler_is_prefix_stable():
    draw = jax.jit(cjr.poisson, static_argnums=2)
    lam = jnp.float32(5e7)
    a = draw(jax.random.key(3), lam, (20,))
    b = draw(jax.random.key(3), lam, (8,))
    np.testing.assert_array_equal(np.asarray(a)[:8], np.asarray(b))


# ----------------------------------------------------------------- categorical ---


def test_categorical_counts_past_two_to_the_24():
    # A float32 segment sum stops adding ones at 2**24: a category drawn 1.9e7
    # times counted 16,777,216, and the frequencies were off by 0.011.
    fam = cj.categorical(2)
    p = fam.cast_params(cj.categorical_params([0.9, 0.1]), jnp.float32)
    m = 2**24 + 2**22
    new = jax.jit(fam.refit)(
        jax.random.key(SEED), jax.random.key(1), p, jnp.ones(m, jnp.float32)
    )
    counts = np.asarray(new.counts)
    assert counts.sum() == m and int(fam.status(new)) == 0
    se = (0.09 / m) ** 0.5
    assert_within_se(
        float(new.probs[0]),
        0.9,
        se,
        seed=SEED,
        what="frequency of p=0.9 from 2**24 + 2**22 draws",
    )


def test_categorical_fractional_sum_that_loses_resolution_is_reported():
    # 2**25 points of weight 0.3 in one category: a float32 sum stalls near 2**23
    # (0.3 is below half its spacing there). The fit's total then disagrees with
    # the tree sum of the weights: the status says so instead of a silent result.
    fam = cj.categorical(2)
    n = 2**25
    data = jnp.zeros(n, jnp.int32).at[: n // 8].set(1)
    prev = fam.cast_params(cj.categorical_params([0.5, 0.5]), jnp.float32)
    new = jax.jit(fam.fit)(jax.random.key(0), data, jnp.full(n, 0.3, jnp.float32), prev)
    right = abs(float(new.probs[1]) - 0.125) < 1e-4
    assert right or int(fam.status(new)) != 0
    assert right or int(fam.status(new)) == Status.PRECISION_LOSS


def test_float32_sufficient_categorical_beyond_its_binomials_is_refused():
    with pytest.raises(
        ValueError,
        match=r"sample_size must be <= 1,048,576 for a "
        r"categorical with sampler='sufficient' in float32",
    ):
        cj.run_chains(
            cj.categorical(3),
            cj.categorical_params([0.2, 0.3, 0.5]),
            key=0,
            num_chains=2,
            num_generations=2,
            sample_size=2**21,
            sampler="sufficient",
        )


# ---------------------------------------------------------- numeric categorical ---


def test_numeric_support_far_from_the_origin_is_moved():
    # A categorical on values 1e7 + (0, 1, 2) fitted by a Gaussian: the support
    # moves with the frame (a categorical has no located params of its own). It
    # used to run at 1e7, where float32 moves in steps of 1.
    probs = cj.categorical_params([0.2, 0.5, 0.3])

    def run(shift):
        return cj.run_chains(
            cj.gaussian(),
            probs,
            init_family=cj.categorical(3, support=[shift, shift + 1.0, shift + 2.0]),
            key=SEED,
            num_chains=8,
            num_generations=4,
            sample_size=100,
        )

    # Mean 1e7 + 1.1, SD 0.7 (float32 spacing 1 there, against steps of 0.07):
    # the frame's origin is the mean rounded to 0.5, 1e7 + 1, and the support
    # lands on (-1, 0, 1), whose own run (mean 0.1) is not moved.
    base, far = run(-1.0), run(1e7)
    np.testing.assert_allclose(
        far.metrics["mean"] - (1e7 + 1.0), base.metrics["mean"], rtol=0, atol=1e-8
    )
    assert base.origin is None
    np.testing.assert_array_equal(far.origin, [1e7 + 1.0])
    np.testing.assert_array_equal(far.relative["mean"], base.metrics["mean"])
    np.testing.assert_array_equal(far.metrics["log_var"], base.metrics["log_var"])


# ------------------------------------------------------------------ approximate ---


def _approx_run(center, **kw):
    fam = cj.approximate(cj.gaussian(), num_steps=3, **kw)
    return cj.run_chains(
        fam,
        cj.gaussian_params(center, 1.0),
        key=SEED,
        num_chains=16,
        num_generations=3,
        sample_size=G_M,
        sampler="sufficient",
    )


@pytest.mark.slow
def test_approximate_fit_from_a_fixed_start_moves_with_the_truth():
    # start="fixed": the initialisation is given in absolute coordinates and moves
    # into the frame with the truth (one wrapped family per origin).
    base = _approx_run(
        0.0,
        learning_rate=0.5,
        start="fixed",
        init_params=cj.gaussian_params(-0.5, 2.0),
    )
    far = _approx_run(
        1e6,
        learning_rate=0.5,
        start="fixed",
        init_params=cj.gaussian_params(1e6 - 0.5, 2.0),
    )
    np.testing.assert_allclose(
        far.metrics["mean"] - 1e6, base.metrics["mean"], rtol=0, atol=1e-8
    )
    np.testing.assert_array_equal(far.relative["mean"], base.metrics["mean"])
    np.testing.assert_array_equal(far.metrics["log_var"], base.metrics["log_var"])


def test_approximate_fit_by_a_custom_transformation_is_not_moved():
    # A transformation passed as is may act on the parameters themselves (weight
    # decay pulls them to 0), so the run stays where the truth is, and a mean of
    # 1e6 (float32 spacing 0.0625) against steps of 0.01 is refused.
    import optax

    with pytest.raises(ValueError, match=r"spacing 0\.0625.*not translation"):
        _approx_run(1e6, optimizer=optax.sgd(0.5))
