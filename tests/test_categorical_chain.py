"""Monte Carlo of the categorical (Wright–Fisher) chain against ``theory.discrete``.

Claims: WF-1, WF-3, WF-5, WF-9 (docs/theory.md §2), SH-3 (run to absorption), the SH-2
tail-mass metric, plus deterministic checks of the metrics on hand-built parameters.

Budget: every statistical assertion is ``|estimate - theory| <= K * SE`` through
``tests.helpers.assert_within_se``, with ``K`` from the suite-wide false-failure budget
in ``tests/helpers.py`` (K = 4.65); an array assertion counts once per element, about
25 here. SEs come from theory where it gives the variance (WF-1: the marginal of one
coordinate is a 2-type chain, Var p_n(j) = p_j (1 - p_j) - E H_n^(2) / 2 with
H^(2) the 2-type Gini–Simpson index; exact binomial SEs for frequencies) and otherwise
from the spread across independent chains. Bounds (WF-5) are checked against the
nearest bound with the binomial SE at that bound; a median claim is a one-sided test
at the same K. All quantities are bounded, so there are no heavy-tail caveats.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import theory as th
from tests.helpers import (
    ALPHA,
    assert_fraction_above,
    assert_within_se,
    binomial_se,
    mean_and_se,
    module_seed,
)

# The truth's rare set (least probable categories holding <= 10 % of the mass) is
# exactly categories {0, 1}, mass 0.10.
P0 = np.array([0.04, 0.06, 0.2, 0.3, 0.4])
RARE_MASS = 0.10
M, N, C = 20, 100, 2**14
# A variable schedule with the same maximum (20), so it shares the compile.
SCHEDULE = np.tile(np.array([5, 8, 12, 20]), N // 4)


def _run(
    init,
    *,
    seed,
    num_chains,
    num_generations,
    sample_size,
    metrics=None,
    sampler="samples",
):
    fam = cj.categorical(int(np.size(init.probs)))
    res = cj.run_chains(
        fam,
        init,
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        sampler=sampler,
        metrics=metrics,
        record_params=False,
    )
    assert res.ok
    return res


@pytest.fixture(scope="module")
def wf_run():
    """2^14 chains, K = 5, p_0 = P0, N = 100 generations, M = 20 or SCHEDULE."""

    @functools.cache
    def get(kind):
        seed = module_seed(f"{__name__}::wf_run[{kind}]")
        size = M if kind == "constant" else SCHEDULE
        res = _run(
            cj.categorical_params(P0),
            seed=seed,
            num_chains=C,
            num_generations=N,
            sample_size=size,
        )
        return res, seed

    return get


# ------------------------------------------------------------------------- WF-1 ---


@pytest.mark.statistical
def test_martingale_wf1(wf_run):
    # 2^14 chains, K = 5, M = 20, n in {5, 100}: E p_n = p_0 per coordinate. SE from
    # theory, sqrt((p (1 - p) - E H_n^(2) / 2) / C): 0.0007-0.0017 (n = 5),
    # 0.0015-0.0038 (n = 100).
    res, seed = wf_run("constant")
    for n in (5, 100):
        h2 = np.array([th.expected_gini_simpson([p, 1 - p], M, n) for p in P0])
        se = np.sqrt((P0 * (1 - P0) - h2 / 2) / C)
        assert_within_se(
            res.metrics["probs"][:, n].mean(axis=0),
            P0,
            se,
            seed=seed,
            what=f"WF-1 E p_n (K=5, M=20, n={n})",
        )


# ------------------------------------------------------------------------- WF-3 ---


@pytest.mark.statistical
@pytest.mark.parametrize("kind", ["constant", "schedule"])
def test_gini_simpson_wf3(wf_run, kind):
    # 2^14 chains, K = 5, n in {1, 20, 60} (up to 3M): E H_n = H_0 prod_i (1 - 1/M_i)
    # for M = 20 and for the schedule 5, 8, 12, 20, 5, ... SE from the chains:
    # ~0.001 (n = 1) to ~0.002 (n = 60).
    res, seed = wf_run(kind)
    size = M if kind == "constant" else SCHEDULE
    ns = np.array([1, 20, 60])
    est, se = mean_and_se(res.metrics["gini_simpson"][:, ns])
    expected = [th.expected_gini_simpson(P0, size, n) for n in ns]
    assert_within_se(
        est, expected, se, seed=seed, what=f"WF-3 E H_n ({kind}, K=5, n={ns.tolist()})"
    )


# ------------------------------------------------------------------------- WF-5 ---


@pytest.mark.statistical
def test_non_absorption_bounds_wf5(wf_run):
    # 2^14 chains, K = 5, M = 20, n in {30, 100}: P(not absorbed) within
    # [lower - K SE, upper + K SE] (n = 30: [0.19, 1]; n = 100: [0.053, 0.45]), the SE
    # binomial at the nearest bound (~0.003 and ~0.002).
    res, seed = wf_run("constant")
    for n in (30, 100):
        frac = 1.0 - float(np.mean(res.metrics["absorbed"][:, n]))
        lower, upper = th.non_absorption_bounds(P0, M, n)
        nearest = min(max(frac, lower), upper)
        assert_within_se(
            frac,
            nearest,
            binomial_se(nearest, C),
            seed=seed,
            what=f"WF-5 P(not absorbed) in [{lower:.4f}, {upper:.4f}] "
            f"(K=5, M=20, n={n})",
        )


# ------------------------------------------------------------------------- WF-9 ---


@pytest.mark.statistical
def test_support_size_after_one_generation_wf9(wf_run):
    # 2^14 chains, K = 5, M = 20, n = 1: E #{j: count_j > 0} = sum_j 1 - (1 - p_j)^M
    # = 4.27. SE from the chains: 0.005.
    res, seed = wf_run("constant")
    est, se = mean_and_se(res.metrics["support_size"][:, 1])
    assert_within_se(
        est,
        th.expected_support_size(P0, M),
        se,
        seed=seed,
        what="WF-9 E support size (K=5, M=20, n=1)",
    )


# ----------------------------------------------------------------- SH-2 tail mass ---


@pytest.mark.statistical
def test_tail_mass_martingale_and_median(wf_run):
    # 2^14 chains, K = 5, M = 20. Generation 0: the rare set's mass is exactly 0.10.
    # Mean over chains conserved (the rare set is one coordinate of a 2-type WF
    # chain): n in {5, 100}, SE from theory sqrt(0.09 (1 - (1 - 1/M)^n) / C) = 0.0011,
    # 0.0023. The median falls: P(tail_100 < 0.10) > 1/2, one-sided at K binomial SEs
    # (0.004) at p = 1/2.
    res, seed = wf_run("constant")
    tail = res.metrics["tail_mass"].astype(np.float64)
    np.testing.assert_allclose(tail[:, 0], RARE_MASS, rtol=1e-6)
    ns = np.array([5, 100])
    h2 = np.array(
        [th.expected_gini_simpson([RARE_MASS, 1 - RARE_MASS], M, n) for n in ns]
    )
    se = np.sqrt((RARE_MASS * (1 - RARE_MASS) - h2 / 2) / C)
    assert_within_se(
        tail[:, ns].mean(axis=0),
        [RARE_MASS] * 2,
        se,
        seed=seed,
        what=f"SH-2 E tail mass (K=5, M=20, n={ns.tolist()})",
    )
    assert_fraction_above(
        np.mean(tail[:, 100] < RARE_MASS),
        0.5,
        C,
        seed=seed,
        what="SH-2 median tail mass below 0.10 at n=100 (M=20)",
    )


# ------------------------------------------------------------ SH-3 to absorption ---

ABS_P0 = np.array([0.1, 0.2, 0.3, 0.4])
ABS_M, ABS_C = 10, 2**14


@pytest.fixture(scope="module")
def absorption_run():
    """2^14 chains, K = 4, M = 10, to the WF-5 horizon (225 generations)."""
    seed = module_seed(f"{__name__}::absorption_run")
    # tolerance = the per-assertion level of the budget: P(some chain unabsorbed).
    horizon = th.absorption_horizon(ABS_P0, ABS_M, ABS_C, tolerance=ALPHA)
    res = _run(
        cj.categorical_params(ABS_P0),
        seed=seed,
        num_chains=ABS_C,
        num_generations=horizon,
        sample_size=ABS_M,
        metrics=["probs", "absorbed"],
    )
    return res, horizon, seed


@pytest.mark.statistical
def test_all_chains_absorbed_by_horizon_sh3(absorption_run):
    # 2^14 chains, K = 4, M = 10, n = absorption_horizon(p_0, 10, 2^14, ALPHA) = 225:
    # the union bound of WF-5 puts P(some chain not absorbed) <= ALPHA (3.3e-6).
    res, horizon, seed = absorption_run
    absorbed = res.metrics["absorbed"]
    assert np.all(absorbed[:, horizon]), (np.sum(~absorbed[:, horizon]), seed)
    # Absorption is gradual, not at the first step.
    assert not np.all(absorbed[:, 1])


@pytest.mark.statistical
def test_fixation_probabilities_sh3(absorption_run):
    # 2^14 chains, K = 4, M = 10, n = 225: P(absorbed at delta_j) = p_0(j). Exact
    # binomial SE sqrt(p (1 - p) / C): 0.0023-0.0038.
    res, horizon, seed = absorption_run
    probs = res.metrics["probs"][:, horizon]
    winner = np.argmax(probs, axis=-1)
    freq = np.bincount(winner, minlength=ABS_P0.size) / ABS_C
    se = [binomial_se(p, ABS_C) for p in th.fixation_probabilities(ABS_P0)]
    assert_within_se(
        freq,
        th.fixation_probabilities(ABS_P0),
        se,
        seed=seed,
        what="SH-3 fixation frequencies (K=4, M=10, n=225)",
    )


def test_absorbed_chain_stays_absorbed(absorption_run):
    # 2^14 chains, K = 4, M = 10, all 225 generations (exact, no SE): once `absorbed`
    # is True it stays True, the probabilities never change afterwards, and
    # `absorbed` agrees with the integer-count definition (one category has all M).
    res, horizon, seed = absorption_run
    absorbed = res.metrics["absorbed"]
    probs = res.metrics["probs"]
    assert not np.any(absorbed[:, 0])
    assert np.all(absorbed[:, 1:] >= absorbed[:, :-1]), seed
    first = np.argmax(absorbed, axis=1)  # all chains absorb by the horizon
    final = probs[np.arange(ABS_C), first]
    after = np.arange(horizon + 1)[None, :] >= first[:, None]
    assert np.all(np.where(after[..., None], probs == final[:, None, :], True)), seed
    np.testing.assert_array_equal(absorbed[:, 1:], probs[:, 1:].max(axis=-1) == 1.0)
    # Non-vacuous: chains absorb at many different generations.
    assert np.unique(first).size > 20


# ------------------------------------------------------- deterministic metrics ---


def _metrics(probs, counts, truth_probs):
    fam = cj.categorical(len(probs))
    params = cj.CategoricalParams(
        jnp.asarray(probs, jnp.float32), jnp.asarray(counts, jnp.int32)
    )
    truth = fam.cast_params(cj.categorical_params(truth_probs), jnp.float32)
    return {k: np.asarray(v) for k, v in fam.metrics(params, truth).items()}


@pytest.mark.parametrize(
    "counts, support, absorbed",
    [
        ([3, 0, 7, 0], 2, False),
        ([0, 10, 0, 0], 1, True),
        ([1, 1, 1, 1], 4, False),
        ([0, 0, 0, 1], 1, True),
        ([2, 5, 0, 3], 3, False),
    ],
)
def test_categorical_metrics_on_counts(counts, support, absorbed):
    # Hand-built fitted params (probs = counts / total): exact metric values.
    counts = np.asarray(counts)
    probs = counts / counts.sum()
    truth = np.array([0.05, 0.05, 0.4, 0.5])  # rare set {0, 1}, mass 0.10
    m = _metrics(probs, counts, truth)
    np.testing.assert_allclose(m["probs"], probs, rtol=1e-6)
    np.testing.assert_allclose(m["entropy"], th.entropy(probs), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        m["gini_simpson"], th.gini_simpson(probs), rtol=1e-6, atol=1e-7
    )
    assert int(m["support_size"]) == support
    assert m["support_size"].dtype == np.int32
    assert bool(m["absorbed"]) is absorbed
    np.testing.assert_allclose(m["tail_mass"], probs[0] + probs[1], rtol=1e-6, atol=0)


def test_categorical_metrics_of_the_truth():
    # A given truth has zero counts: `absorbed` falls back on a point mass of probs.
    truth = [0.2, 0.3, 0.5]
    m = _metrics(truth, [0, 0, 0], truth)
    assert not bool(m["absorbed"])
    assert int(m["support_size"]) == 3
    np.testing.assert_allclose(m["gini_simpson"], th.gini_simpson(truth), rtol=1e-6)
    np.testing.assert_allclose(m["entropy"], th.entropy(truth), rtol=1e-6)
    # rare set: the least probable category alone (0.2 > 0.10)
    np.testing.assert_allclose(m["tail_mass"], 0.2, rtol=1e-6)
    point = _metrics([0.0, 1.0, 0.0], [0, 0, 0], truth)
    assert bool(point["absorbed"]) and int(point["support_size"]) == 1
    assert float(point["entropy"]) == 0.0 and float(point["gini_simpson"]) == 0.0


def test_uniform_metrics_closed_form():
    # Uniform over K: entropy log K, Gini–Simpson 1 - 1/K.
    k = 6
    m = _metrics(np.full(k, 1 / k), np.full(k, 3), np.full(k, 1 / k))
    np.testing.assert_allclose(m["entropy"], math.log(k), rtol=1e-6)
    np.testing.assert_allclose(m["gini_simpson"], 1 - 1 / k, rtol=1e-6)
    assert int(m["support_size"]) == k and not bool(m["absorbed"])


def test_absorbed_with_fractional_weights_is_not_fooled_by_rounded_counts():
    # Fractional weights round to counts [1, 0]; the model is still not a point mass.
    fam = cj.categorical(2)
    truth = fam.cast_params(cj.categorical_params([0.5, 0.5]), jnp.float32)
    fitted = fam.fit(None, jnp.array([0, 1], jnp.int32),
                     jnp.array([0.6, 0.4], jnp.float32), None)
    metrics = fam.metrics(fitted, truth)
    assert not bool(metrics["absorbed"])
    assert int(metrics["support_size"]) == 2
    point = fam.fit(None, jnp.array([1, 1], jnp.int32),
                    jnp.array([0.6, 0.4], jnp.float32), None)
    assert bool(fam.metrics(point, truth)["absorbed"])
