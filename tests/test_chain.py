"""Contracts of ``run_chains`` (shapes, dtypes, status, errors, chunks).

Exact tests, no statistics: shapes and dtypes of every recorded leaf, generation 0
equal to the truth, the population limit (docs/theory.md SH-1's deterministic check),
schedules, per-chain failure handling, progress, categorical absorption and counts.

Speed: almost every run shares one static configuration per family (``CHAINS``
chains padded to 8, ``GENS`` generations, ``n_max = M``), so the module compiles
about a dozen scans; runs are cached with ``functools.cache``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import chain
from collapse_jax.status import ChainFailure, Status

SEED = 20250611  # fixed: these are exact tests, any seed must pass
CHAINS = 8
GENS = 4
M = 5

P0 = np.array([0.05, 0.04, 0.5, 0.41])  # categorical truth (unsorted on purpose)
# The truth's rare set by hand: ascending 0.04, 0.05 (cumulative 0.09 <= 0.10), then
# 0.41 would pass 10 %, so the set is {0.04, 0.05} and its mass is 0.09.
P0_RARE_MASS = 0.09


def _spd(d: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


CASES = {
    "gaussian1-unbiased": (cj.gaussian(1, "unbiased"), cj.gaussian_params(0.5, 2.0)),
    "gaussian1-mle": (cj.gaussian(1, "mle"), cj.gaussian_params(-1.0, 0.3)),
    "gaussian3-unbiased": (
        cj.gaussian(3, "unbiased"),
        cj.gaussian_params([1.0, -2.0, 0.5], _spd(3, 3)),
    ),
    "gaussian3-mle": (
        cj.gaussian(3, "mle"),
        cj.gaussian_params([0.0, 3.0, -1.0], _spd(3, 4)),
    ),
    "categorical4": (cj.categorical(4), cj.categorical_params(P0)),
}
GAUSSIAN_CASES = [c for c in CASES if c.startswith("gaussian")]
DTYPES = ["float32", pytest.param("float64", marks=pytest.mark.x64)]


def _need(dtype: str, request) -> None:
    """float64 variants skip unless x64 is on (the ``x64`` fixture)."""
    if dtype == "float64":
        request.getfixturevalue("x64")


def _tol(dtype: str) -> float:
    return 2e-5 if dtype == "float32" else 1e-11


@functools.cache
def _base(case: str, dtype: str) -> cj.ChainResult:
    """The shared static configuration: CHAINS chains, GENS generations, M samples."""
    family, init = CASES[case]
    return cj.run_chains(
        family,
        init,
        key=SEED,
        num_chains=CHAINS,
        num_generations=GENS,
        sample_size=M,
        dtype=dtype,
    )


def _run(family, init, **kw) -> cj.ChainResult:
    """A run in the shared static configuration unless ``kw`` changes it."""
    args = dict(key=SEED, num_chains=CHAINS, num_generations=GENS, sample_size=M)
    args.update(kw)
    return cj.run_chains(family, init, **args)


def _leaves(params):
    return jax.tree.leaves(params)


# --------------------------------------------------------------- shapes, dtypes ---


def _expected_metrics(family, init):
    """name -> (event shape, dtype kind), README's metrics table."""
    if family.name == "gaussian":
        d = family.event_shape[0]
        return {
            "mean": ((d,), "float"),
            "log_var": ((d,), "float"),
            "log_det_cov": ((), "float"),
            "w2_sq": ((), "float"),
            "tail_mass": ((d,), "float"),
        }
    k = np.shape(init.probs)[0]
    return {
        "probs": ((k,), "float"),
        "gini_simpson": ((), "float"),
        "entropy": ((), "float"),
        "support_size": ((), np.int32),
        "absorbed": ((), np.bool_),
        "tail_mass": ((), "float"),
        "lost_mass": ((), "float"),
    }


def _expected_params(family, init):
    if family.name == "gaussian":
        d = family.event_shape[0]
        return {
            "mean": ((d,), "float"),
            "chol_log_diag": ((d,), "float"),
            "chol_unit_lower": ((d, d), "float"),
        }
    k = np.shape(init.probs)[0]
    return {"probs": ((k,), "float"), "counts": ((k,), np.int32)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_shapes_and_dtypes_of_every_leaf(case, dtype, request):
    _need(dtype, request)
    family, init = CASES[case]
    res = _base(case, dtype)
    lead = (CHAINS, GENS + 1)

    # A truth far from 0 relative to its scale runs in a translated frame; its
    # location metrics and params come back as origin + frame value, in float64
    # (collapse_jax.frame). Every other leaf keeps the run's dtype.
    moved = () if res.origin is None else family.location.moved + ("mean",)

    def check(name, x, shape, kind):
        assert isinstance(x, np.ndarray), f"{name}: {type(x)} is not a host array"
        assert x.shape == lead + shape, f"{name}: shape {x.shape}"
        want = np.dtype(dtype) if kind == "float" else np.dtype(kind)
        want = np.dtype(np.float64) if name in moved else want
        assert x.dtype == want, f"{name}: dtype {x.dtype}, want {want}"

    expected = _expected_metrics(family, init)
    assert set(res.metrics) == set(expected) == set(family.metric_names)
    for name, (shape, kind) in expected.items():
        check(name, res.metrics[name], shape, kind)

    assert type(res.params) is family.params_type
    for name, (shape, kind) in _expected_params(family, init).items():
        check(name, getattr(res.params, name), shape, kind)

    assert res.status.shape == lead and res.status.dtype == np.int32
    assert res.ok and res.failures() == []
    np.testing.assert_array_equal(res.chain_ids, np.arange(CHAINS))

    # the final state is the last recorded generation, in the run's dtype (a
    # translated run's float64 locations rounded to it)
    final = res.final_state
    np.testing.assert_array_equal(final.t, np.full(CHAINS, GENS))
    np.testing.assert_array_equal(final.status, res.status[:, -1])
    for x, y in zip(_leaves(final.params), _leaves(res.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), y[:, -1].astype(x.dtype))
        assert x.dtype == (np.dtype(dtype) if y.dtype.kind == "f" else y.dtype)

    cfg = res.config
    assert cfg["family"] == family.name
    assert cfg["num_chains"] == CHAINS and cfg["num_generations"] == GENS
    assert cfg["first_chain"] == 0 and cfg["dtype"] == dtype
    assert cfg["sampler"] == "samples" and cfg["sample_size"] == [M] * GENS


def test_chain_ids_are_first_chain_plus_arange():
    family, init = CASES["categorical4"]
    res = _run(family, init, first_chain=1000, num_chains=5)
    np.testing.assert_array_equal(res.chain_ids, 1000 + np.arange(5))
    assert res.status.shape == (5, GENS + 1)
    assert all(x.shape[0] == 5 for x in _leaves(res.params))
    assert all(v.shape[0] == 5 for v in res.metrics.values())
    # the ids reach the top of int32 without wrapping
    top = _run(family, init, first_chain=2**31 - 3, num_chains=3)
    np.testing.assert_array_equal(top.chain_ids, 2**31 - 3 + np.arange(3))


# ------------------------------------------------------------ generation 0 ---


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_generation_zero_is_the_truth(case, dtype, request):
    _need(dtype, request)
    family, init = CASES[case]
    res = _base(case, dtype)
    tol = _tol(dtype)

    # params at generation 0 are the init cast to the run's dtype, bit for bit
    for x, leaf in zip(_leaves(res.params), _leaves(init), strict=True):
        want = np.asarray(leaf, x.dtype)
        np.testing.assert_array_equal(x[:, 0], np.broadcast_to(want, x[:, 0].shape))
    np.testing.assert_array_equal(res.status[:, 0], 0)

    met = {k: v[:, 0] for k, v in res.metrics.items()}
    if family.name == "gaussian":
        mean, cov = cj.gaussian_mean_cov(init)
        d = mean.shape[0]
        np.testing.assert_array_equal(
            met["mean"], np.broadcast_to(mean.astype(dtype), (CHAINS, d))
        )
        np.testing.assert_allclose(
            met["log_var"],
            np.broadcast_to(np.log(np.diag(cov)), (CHAINS, d)),
            rtol=0,
            atol=tol,
        )
        np.testing.assert_allclose(
            met["log_det_cov"], np.linalg.slogdet(cov)[1], rtol=0, atol=tol * d
        )
        np.testing.assert_allclose(met["w2_sq"], 0.0, rtol=0, atol=tol * np.trace(cov))
        np.testing.assert_allclose(met["tail_mass"], 0.01, rtol=0, atol=tol)
        # batched natural parameters from the recorded params (float tolerance)
        _, cov0 = cj.gaussian_mean_cov(jax.tree.map(lambda x: x[:, 0], res.params))
        np.testing.assert_allclose(
            cov0, np.broadcast_to(cov, (CHAINS, d, d)), rtol=tol, atol=tol
        )
    else:
        p = np.asarray(init.probs, np.float64)
        nz = p[p > 0]
        np.testing.assert_allclose(
            met["gini_simpson"], 1 - np.sum(p * p), rtol=0, atol=tol
        )
        np.testing.assert_allclose(
            met["entropy"], -np.sum(nz * np.log(nz)), rtol=0, atol=tol
        )
        np.testing.assert_array_equal(met["support_size"], 4)
        np.testing.assert_array_equal(met["absorbed"], False)
        np.testing.assert_allclose(met["tail_mass"], P0_RARE_MASS, rtol=0, atol=tol)
        np.testing.assert_array_equal(
            met["probs"], np.broadcast_to(p.astype(dtype), (CHAINS, 4))
        )


@pytest.mark.parametrize(
    "probs, rare_mass, support",
    [
        # every category holds more than 10 %: the rare set is the single least
        # probable one (ties: one of them), mass 0.25
        ([0.25, 0.25, 0.25, 0.25], 0.25, 4),
        # a zero category is never rare (no model can lose it): 0.06 <= 0.10,
        # 0.06 + 0.44 is not
        ([0.5, 0.0, 0.44, 0.06], 0.06, 3),
        # the boundary is inclusive: 0.02 + 0.03 + 0.05 = 0.10 exactly
        ([0.05, 0.9, 0.02, 0.03], 0.10, 4),
        # a point mass: the only possible category exceeds 10 %, so the rare set is
        # that single category (the empty ones are excluded), mass 1
        ([0.0, 1.0, 0.0, 0.0], 1.0, 1),
        # zeros sort first by probability but are skipped: the least probable
        # possible category (0.3 > 10 %) is the rare set alone
        ([0.0, 0.3, 0.0, 0.7], 0.3, 2),
    ],
)
def test_categorical_generation_zero_tail_mass_by_hand(probs, rare_mass, support):
    family = cj.categorical(4)
    res = _run(family, cj.categorical_params(probs))  # shared configuration
    np.testing.assert_allclose(res.metrics["tail_mass"][:, 0], rare_mass, atol=1e-6)
    np.testing.assert_array_equal(res.metrics["support_size"][:, 0], support)
    np.testing.assert_array_equal(res.metrics["absorbed"][:, 0], support == 1)


# ------------------------------------------------- constructors and caching ---


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_gaussian_params_round_trip(d, seed):
    rng = np.random.default_rng(seed)
    for scale in (1e-6, 1.0, 1e6):
        a = rng.normal(size=(d, d))
        cov = scale * (a @ a.T + 0.1 * np.eye(d))
        mean = rng.normal(size=d) * 10
        p = cj.gaussian_params(mean, cov)
        assert all(x.dtype == np.float64 for x in p)
        # L = U diag(exp(s)) with U unit lower-triangular
        np.testing.assert_array_equal(np.diag(p.chol_unit_lower), 1.0)
        np.testing.assert_array_equal(np.triu(p.chol_unit_lower, 1), 0.0)
        m2, c2 = cj.gaussian_mean_cov(p)
        np.testing.assert_array_equal(m2, mean)
        np.testing.assert_allclose(c2, cov, rtol=1e-10, atol=1e-12 * scale)


def test_gaussian_params_scalar_form():
    p = cj.gaussian_params(0.5, 2.0)
    assert p.mean.shape == (1,) and p.chol_unit_lower.shape == (1, 1)
    mean, cov = cj.gaussian_mean_cov(p)
    np.testing.assert_array_equal(mean, [0.5])
    np.testing.assert_allclose(cov, [[2.0]], rtol=1e-15)


def test_categorical_params_keeps_probs():
    dyadic = [0.25, 0.5, 0.125, 0.125]
    q = cj.categorical_params(dyadic)
    np.testing.assert_array_equal(q.probs, dyadic)
    assert q.probs.dtype == np.float64
    np.testing.assert_array_equal(q.counts, np.zeros(4, np.int32))
    assert q.counts.dtype == np.int32
    p = [0.1, 0.2, 0.3, 0.4]
    np.testing.assert_allclose(cj.categorical_params(p).probs, p, rtol=1e-15)
    # within 1e-6 of summing to 1: accepted and renormalised
    near = cj.categorical_params([0.5, 0.5 + 5e-7]).probs
    assert abs(near.sum() - 1) < 1e-15


def test_factories_are_cached():
    assert cj.gaussian(2) is cj.gaussian(2)
    assert cj.gaussian(dim=2, estimator="unbiased") is cj.gaussian(2)
    assert cj.gaussian(np.int64(2)) is cj.gaussian(2)
    assert cj.gaussian(2, "mle") is cj.gaussian(dim=2, estimator="mle")
    assert cj.gaussian(2, "mle") is not cj.gaussian(2)
    assert cj.gaussian(3) is not cj.gaussian(2)
    assert cj.categorical(3) is cj.categorical(num_categories=3)
    assert cj.categorical(np.int32(3)) is cj.categorical(3)
    assert cj.replace() is cj.replace()


def test_same_static_configuration_does_not_recompile():
    if not hasattr(chain._run_chunk, "_cache_size"):
        pytest.skip("this JAX has no jit(...)._cache_size()")
    family, _ = CASES["gaussian1-unbiased"]
    _base("gaussian1-unbiased", "float32")  # compiled here (or earlier)
    before = chain._run_chunk._cache_size(), chain._generation_zero._cache_size()
    # new values for everything dynamic: truth, key, chain ids, count (padded to the
    # same 8), a schedule with the same maximum
    res = cj.run_chains(
        family,
        cj.gaussian_params(-3.0, 0.25),
        key=jax.random.key(99),
        num_chains=5,
        num_generations=GENS,
        sample_size=[M, 2, 4, 3],
        first_chain=17,
        chunk_size=100,
    )
    after = chain._run_chunk._cache_size(), chain._generation_zero._cache_size()
    assert after == before
    np.testing.assert_array_equal(res.chain_ids, 17 + np.arange(5))


# ------------------------------------------------------------ population limit ---


POPULATION_CASES = ["gaussian1-mle", "gaussian3-unbiased", "categorical4"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POPULATION_CASES)
def test_population_limit_stays_at_the_truth(case, dtype, request):
    """docs/theory.md SH-1: with M = inf every fit returns the truth exactly."""
    _need(dtype, request)
    family, init = CASES[case]
    res = _run(family, init, sample_size=None, dtype=dtype)
    assert res.config["sample_size"] is None
    assert res.config["sampler"] == "population"
    np.testing.assert_array_equal(res.status, 0)
    for x, leaf in zip(_leaves(res.params), _leaves(init), strict=True):
        want = np.broadcast_to(np.asarray(leaf, x.dtype)[None, None], x.shape)
        np.testing.assert_array_equal(x, want)
    for name, v in res.metrics.items():
        # generations 1.. come from one compiled scan: identical bits
        later = v[:, 1:]
        np.testing.assert_array_equal(
            later, np.broadcast_to(v[:, 1:2], later.shape), err_msg=name
        )
        # generation 0 comes from a separate (unbatched) computation: equal to
        # rounding (see the report: tail_mass differs by an ulp in float32)
        if v.dtype.kind == "f":
            np.testing.assert_allclose(
                v[:, 0],
                v[:, 1],
                rtol=4 * np.finfo(v.dtype).eps,
                atol=4 * np.finfo(v.dtype).eps,  # w2_sq of the truth to itself is ~0
                err_msg=name,
            )
        else:
            np.testing.assert_array_equal(v[:, 0], v[:, 1], err_msg=name)


# ------------------------------------------------------------------- schedules ---


def test_constant_schedule_equals_the_int():
    family, init = CASES["gaussian1-unbiased"]
    ref = _base("gaussian1-unbiased", "float32")
    for schedule in ([M] * GENS, np.full(GENS, M, np.int64), [float(M)] * GENS):
        res = _run(family, init, sample_size=schedule)
        assert res.config["sample_size"] == [M] * GENS
        for x, y in zip(_leaves(res.params), _leaves(ref.params), strict=True):
            np.testing.assert_array_equal(x, y)
        for name in ref.metrics:
            np.testing.assert_array_equal(res.metrics[name], ref.metrics[name])


def _static(sample_size, sampler="samples"):
    family, init = CASES["gaussian1-unbiased"]
    config, *_ = chain._validate(
        family=family,
        init=init,
        num_chains=8,
        num_generations=3,
        sample_size=sample_size,
        regime=cj.replace(),
        sampler=sampler,
        dtype="float32",
        init_family=None,
        first_chain=0,
        chunk_size=None,
        progress=None,
        metrics=None,
        record_params=True,
    )
    return config


def test_n_max_is_the_schedule_maximum():
    assert _static([3, 9, 4]).n_max == 9
    assert _static(np.array([9, 3, 4])).n_max == 9
    assert _static(6).n_max == 6
    assert _static([3, 9, 4], "sufficient").n_max == 9
    none = _static(None)
    assert (none.n_max, none.sampler) == (0, "population")


SCHEDULE = [4096, 4096, 4096, 2, 2, 2]


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_schedule_sets_each_generations_sample_size(sampler):
    """Huge M keeps the variance put, M = 2 moves it; in the schedule's order.

    Not statistical: after three fits to 4,096 points each the SD of log sigma^2 is
    about sqrt(3 * 2 / 4095) = 0.04, so |log sigma^2| < 0.3 is a 7.5 SD bound; three
    fits to 2 points move log sigma^2 by log chi2_1 steps (SD 2.2 each), so the median
    chain moves by far more than 0.5. Ignoring or reversing the schedule fails both.
    """
    res = cj.run_chains(
        cj.gaussian(1),
        cj.gaussian_params(0.0, 1.0),
        key=SEED,
        num_chains=32,
        num_generations=len(SCHEDULE),
        sample_size=SCHEDULE,
        sampler=sampler,
        metrics=["mean", "log_var"],
        record_params=False,  # a cheaper compile
    )
    assert res.config["sample_size"] == SCHEDULE
    assert res.ok
    log_var = res.metrics["log_var"][..., 0]
    assert np.max(np.abs(log_var[:, 1:4])) < 0.3
    assert np.max(np.abs(res.metrics["mean"][:, 1:4, 0])) < 0.3
    assert np.median(np.abs(log_var[:, 6] - log_var[:, 3])) > 0.5


CAT_SCHEDULE = [1, M, 3, 2]  # max M: the shared static configuration


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_categorical_counts_are_integers_summing_to_m(sampler):
    family, init = CASES["categorical4"]
    for sample_size, sizes in ((M, [M] * GENS), (CAT_SCHEDULE, CAT_SCHEDULE)):
        res = _run(family, init, sample_size=sample_size, sampler=sampler)
        counts, probs = res.params.counts, res.params.probs
        assert counts.dtype == np.int32
        np.testing.assert_array_equal(counts[:, 0], 0)  # the truth has no counts
        assert np.all(counts >= 0)
        m = np.asarray(sizes)[None, :]
        np.testing.assert_array_equal(
            counts[:, 1:].sum(-1), np.broadcast_to(m, (CHAINS, GENS))
        )
        # probs are counts / M_t exactly (one correctly rounded division)
        want = counts[:, 1:].astype(probs.dtype) / m[..., None].astype(probs.dtype)
        np.testing.assert_array_equal(probs[:, 1:], want)
        # M_0 = 1: every chain is absorbed after the first fit
        if sizes[0] == 1:
            np.testing.assert_array_equal(res.metrics["absorbed"][:, 1:], True)


# ------------------------------------------------------------ failure handling ---


def _failing(family, init, **kw) -> cj.ChainResult:
    """:func:`_run` of a configuration where some chains fail: it must warn once."""
    with pytest.warns(cj.FailedChainsWarning) as caught:
        res = _run(family, init, **kw)
    mine = [w for w in caught if issubclass(w.category, cj.FailedChainsWarning)]
    assert len(mine) == 1, [str(w.message) for w in mine]
    first = res.failures()[0]
    text = str(mine[0].message)
    assert f"{len(res.failures())} of {res.status.shape[0]} chains failed" in text
    assert f"chain {first.chain_id} at generation {first.generation}" in text
    assert first.status.name in text and "res.failures()" in text
    assert mine[0].filename == __file__  # points at the caller, not the library
    return res


def _check_frozen_after_failure(res, expected):
    """Failed chains keep their last good model; status holds from then on; their
    float metrics are missing (NaN) from the failing generation on.

    ``expected``: {row: (generation, Status)} for the chains that must fail; all
    others must stay OK.
    """
    assert not res.ok
    want = [
        ChainFailure(int(res.chain_ids[i]), g, s)
        for i, (g, s) in sorted(expected.items())
    ]
    assert res.failures() == want
    for i in range(res.status.shape[0]):
        if i not in expected:
            np.testing.assert_array_equal(res.status[i], 0)
            continue
        g, code = expected[i]
        np.testing.assert_array_equal(res.status[i, :g], 0)
        np.testing.assert_array_equal(res.status[i, g:], int(code))
        for x in _leaves(res.params):
            np.testing.assert_array_equal(
                x[i, g:], np.broadcast_to(x[i, g - 1], x[i, g:].shape)
            )
        for name, v in res.metrics.items():
            if np.issubdtype(v.dtype, np.floating):
                assert np.isnan(v[i, g:]).all(), name
                assert not np.isnan(v[i, :g]).any(), name
            else:  # integer and bool records keep the frozen values: mask them
                np.testing.assert_array_equal(
                    v[i, g:], np.broadcast_to(v[i, g], v[i, g:].shape), err_msg=name
                )
        assert not res.valid[i, g:].any() and res.valid[i, :g].all()
    for x in _leaves(res.params):
        assert np.all(np.isfinite(x)), "a frozen chain kept non-finite params"


# A float32 truth at the edge of the range: mean 3e38, SD 1e38. A fitted mean that
# steps above 3.4e38 overflows to inf (float32), which the family reports as
# NONFINITE_PARAMS. Chains that step down stay finite.
EDGE_TRUTH = cj.gaussian_params(3e38, 1e76)


def test_overflowing_chains_freeze_and_are_reported():
    family, _ = CASES["gaussian1-unbiased"]
    res = _failing(family, EDGE_TRUTH)
    failed = np.flatnonzero(res.status.any(axis=1))
    # the construction must give both kinds of chain for the test to mean anything
    assert 0 < failed.size < CHAINS, f"SEED gives no mix of chains: {res.status}"
    expected = {
        int(i): (int(np.argmax(res.status[i] != 0)), Status.NONFINITE_PARAMS)
        for i in failed
    }
    _check_frozen_after_failure(res, expected)
    # each failed chain's last good mean was finite: it is the next fit that overflowed
    for i, (g, _) in expected.items():
        assert np.isfinite(res.params.mean[i, g - 1, 0])
    text = str(res.failures()[0])
    assert "failed at generation" in text and "NONFINITE_PARAMS" in text


def test_a_chain_is_the_same_alone_as_beside_failing_chains():
    family, _ = CASES["gaussian1-unbiased"]
    res = _failing(family, EDGE_TRUTH)
    for i in range(CHAINS):
        with warnings.catch_warnings():  # some of them fail: that is the point
            warnings.simplefilter("ignore", cj.FailedChainsWarning)
            alone = _run(family, EDGE_TRUTH, first_chain=i, num_chains=1)
        for x, y in zip(_leaves(alone.params), _leaves(res.params), strict=True):
            np.testing.assert_array_equal(x[0], y[i])
        for name, v in res.metrics.items():
            np.testing.assert_array_equal(alone.metrics[name][0], v[i], err_msg=name)
        np.testing.assert_array_equal(alone.status[0], res.status[i])


# Flag a fitted mean above FLAG_HIGH as DEGENERATE_FIT and below FLAG_LOW as
# ZERO_TOTAL_WEIGHT (truth mean 0.5, SD 1.4, M = 5): about half the chains leave the
# band within GENS generations.
FLAG_HIGH = 1.6
FLAG_LOW = -1.0
FLAG_METRICS = ("mean", "log_var", "w2_sq")  # fewer metrics compile faster


@functools.cache
def _flagging_gaussian():
    """gaussian(1) whose status flags fitted means outside [FLAG_LOW, FLAG_HIGH].

    Tests the freeze-and-report machinery with chosen codes; the family is a static
    jit argument, so this compiles once more.
    """
    base = cj.gaussian(1)

    def status(params):
        mean = params.mean[0]
        code = jnp.where(
            mean > FLAG_HIGH,
            jnp.int32(Status.DEGENERATE_FIT),
            jnp.where(
                mean < FLAG_LOW,
                jnp.int32(Status.ZERO_TOTAL_WEIGHT),
                base.status(params),
            ),
        )
        return code.astype(jnp.int32)

    return base._replace(status=status)


def test_flagged_chains_freeze_and_good_chains_are_untouched():
    case = "gaussian1-unbiased"
    family, init = CASES[case]
    ref = _base(case, "float32")  # the same run with nothing flagged
    assert ref.ok
    res = _failing(_flagging_gaussian(), init, metrics=FLAG_METRICS)

    # where the reference run first leaves [FLAG_LOW, FLAG_HIGH], and with which code
    mean = ref.params.mean[..., 0]
    expected = {}
    for i in range(CHAINS):
        out = np.flatnonzero((mean[i] > FLAG_HIGH) | (mean[i] < FLAG_LOW))
        if out.size:
            g = int(out[0])
            code = (
                Status.DEGENERATE_FIT
                if mean[i, g] > FLAG_HIGH
                else (Status.ZERO_TOTAL_WEIGHT)
            )
            expected[i] = (g, code)
    assert 0 < len(expected) < CHAINS, f"SEED gives no mix of chains: {mean}"
    _check_frozen_after_failure(res, expected)

    for i in range(CHAINS):
        g = expected.get(i, (GENS + 1, None))[0]
        # before a chain fails (and for good chains, always) the bits are those of
        # the run without failures; afterwards the chain holds generation g - 1
        for x, y in zip(_leaves(res.params), _leaves(ref.params), strict=True):
            np.testing.assert_array_equal(x[i, :g], y[i, :g])
            if g <= GENS:
                np.testing.assert_array_equal(
                    x[i, g:], np.broadcast_to(y[i, g - 1], x[i, g:].shape)
                )
        for name, v in res.metrics.items():
            np.testing.assert_array_equal(
                v[i, :g], ref.metrics[name][i, :g], err_msg=name
            )
            if g <= GENS:  # missing from the failing generation on
                assert np.isnan(v[i, g:]).all(), name


# -------------------------------------------------------------------- progress ---


def test_progress_is_called_once_per_chunk():
    case = "gaussian1-unbiased"
    family, init = CASES[case]
    calls = []
    res = _run(
        family,
        init,
        chunk_size=3,
        progress=lambda *a: calls.append(a),
        record_params=False,
        metrics=["log_var", "w2_sq"],
    )
    assert calls == [(3, GENS), (GENS, GENS)]
    assert all(type(x) is int for c in calls for x in c)
    # chunking, fewer metrics and no params change nothing that is recorded
    ref = _base(case, "float32")
    assert res.params is None and set(res.metrics) == {"log_var", "w2_sq"}
    for name in res.metrics:
        np.testing.assert_array_equal(res.metrics[name], ref.metrics[name])
    np.testing.assert_array_equal(res.status, ref.status)

    calls.clear()  # one chunk (chunk_size is clipped to N): one call
    _run(family, init, chunk_size=100, progress=lambda *a: calls.append(a))
    assert calls == [(GENS, GENS)]


# ------------------------------------------------------- categorical absorption ---


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_point_mass_stays_absorbed(sampler):
    family = cj.categorical(4)
    point = [0.0, 1.0, 0.0, 0.0]
    res = _run(family, cj.categorical_params(point), sampler=sampler)
    assert res.ok
    np.testing.assert_array_equal(res.metrics["absorbed"], True)
    np.testing.assert_array_equal(res.metrics["support_size"], 1)
    np.testing.assert_array_equal(res.metrics["entropy"], 0)
    np.testing.assert_array_equal(res.metrics["gini_simpson"], 0)
    # the rare set of a point mass is its one possible category (zeros excluded)
    np.testing.assert_array_equal(res.metrics["tail_mass"], 1)
    np.testing.assert_array_equal(
        res.params.probs, np.broadcast_to(point, (CHAINS, GENS + 1, 4))
    )
    np.testing.assert_array_equal(
        res.params.counts[:, 1:], np.broadcast_to([0, M, 0, 0], (CHAINS, GENS, 4))
    )


# ------------------------------------------------------- failed chains are visible ---


def test_an_optimiser_that_diverges_warns_and_leaves_no_fake_results():
    # learning_rate=1e10 is finite and positive, so it cannot be refused up front;
    # every chain fails at generation 1. Before issue 11 log_var stayed at the
    # truth (0.0) with no warning: a perfect-looking result.
    fam = cj.approximate(cj.gaussian(1), learning_rate=1e10, num_steps=3)
    res = _failing(fam, cj.gaussian_params(0.0, 1.0), sample_size=20)
    assert len(res.failures()) == CHAINS
    assert {f.generation for f in res.failures()} == {1}
    lv = res.metrics["log_var"]
    assert (lv[:, 0] == 0).all() and np.isnan(lv[:, 1:]).all()
    assert not res.ok and "8 failed chains" in repr(res)


def test_no_warning_when_no_chain_fails():
    with warnings.catch_warnings():
        warnings.simplefilter("error", cj.FailedChainsWarning)
        res = _run(*CASES["gaussian1-unbiased"])
    assert res.ok and res.valid.all()


@pytest.mark.parametrize("make, match", [
    (lambda: cj.approximate(cj.gaussian(1), learning_rate=float("inf"),
                            num_steps=3), "learning_rate must be positive and finite"),
    (lambda: cj.approximate(cj.gaussian(1), learning_rate=0.0, num_steps=3),
     "learning_rate must be positive and finite"),
])
def test_optimiser_settings_that_cannot_work_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
