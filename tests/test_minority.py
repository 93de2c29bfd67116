"""Minority groups (collapse_jax.minority) and derived metrics (collapse_jax.derived).

The share metric against the recorded probabilities and mixture weights; the chain's
bits do not depend on it; first passages below a threshold and to 0; the exact law
of the neutral categorical chain (docs/theory.md WF-2, SH-3: a group is a two-type
Wright–Fisher chain, so it vanishes with probability 1 − its initial share) at k·SE;
the house errors.

Budget: 4 statistical assertions through ``tests.helpers.assert_within_se``.
4,000 chains, K = 5, group share m_0 = 0.3, M = 10, N = 60: binomial SE of the
vanished fraction sqrt(0.21 / 4000) ≈ 0.0072; the SE of E[T 1{loss}] comes from
the spread across the independent chains.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import jax

import collapse_jax as cj
from collapse_jax.minority import (
    mean_time_to_loss,
    vanished_by,
)
from collapse_jax.theory import minority_loss as tml
from collapse_jax.theory import web as tw
from tests.helpers import assert_within_se, binomial_se, mean_and_se, module_seed

P0 = np.array([0.1, 0.2, 0.2, 0.25, 0.25])
GROUP = cj.minority(categories=[0, 1])  # share 0.3
M, N, C = 10, 60, 4000


@functools.lru_cache(maxsize=1)
def _law_run():
    return cj.run_chains(
        cj.categorical(5),
        cj.categorical_params(P0),
        key=module_seed(__name__),
        num_chains=C,
        num_generations=N,
        sample_size=M,
        sampler="sufficient",
        metrics=[GROUP.metric],
        record_params=False,
        extra_metrics={GROUP.metric: GROUP},
        first_passage={
            "vanished": (GROUP.metric, "==", 0.0),
            "below": (GROUP.metric, "<", 0.15),
        },
    )


def test_share_is_the_groups_probability_and_leaves_the_bits_alone():
    kw = dict(
        key=3, num_chains=6, num_generations=5, sample_size=M, record_params=False
    )
    truth = cj.categorical_params(P0)
    plain = cj.run_chains(cj.categorical(5), truth, metrics=["probs"], **kw)
    with_share = cj.run_chains(
        cj.categorical(5),
        truth,
        metrics=["probs", GROUP.metric],
        extra_metrics={GROUP.metric: GROUP},
        **kw,
    )
    np.testing.assert_array_equal(plain.metrics["probs"], with_share.metrics["probs"])
    probs = with_share.metrics["probs"].astype(np.float64)
    np.testing.assert_allclose(
        with_share.metrics[GROUP.metric], probs[..., 0] + probs[..., 1], atol=1e-6
    )
    assert with_share.metrics[GROUP.metric][0, 0] == pytest.approx(0.3, abs=1e-7)
    # Default metrics: the family's own and the derived one.
    res = cj.run_chains(cj.categorical(5), truth, extra_metrics={"g": GROUP}, **kw)
    assert "g" in res.metrics and "probs" in res.metrics


def test_first_passage_below_a_threshold_and_to_zero_follow_the_records():
    res = _law_run()
    share = res.metrics[GROUP.metric]
    for name, hit in (("vanished", share == 0.0), ("below", share < 0.15)):
        got = res.first_passage[name]
        want = np.where(hit.any(axis=1), np.argmax(hit, axis=1), -1)
        np.testing.assert_array_equal(got, want)
    # 0 is absorbing without fresh data: once vanished, vanished for good.
    first = res.first_passage["vanished"]
    gens = np.arange(N + 1)[None, :]
    after = (first[:, None] >= 0) & (gens >= first[:, None])
    assert np.all(share[after] == 0.0)


def test_group_vanishes_with_probability_one_minus_its_share():
    res = _law_run()
    share = res.metrics[GROUP.metric][:, -1]
    exact = vanished_by(0.3, M, N)
    # By N = 60 the chain is absorbed but for ~1e-3 of the chains.
    assert abs(exact[-1] - 0.7) < 2e-3
    vanished = float(np.mean(share == 0.0))
    assert_within_se(
        vanished,
        exact[-1],
        binomial_se(exact[-1], C),
        what=f"P(group vanished by n={N}), {C} chains, M={M}",
    )
    # Its complement: the group takes over (share 1) with probability m_0.
    took = float(np.mean(share == 1.0))
    p_took = vanished_by(0.7, M, N)[-1]
    assert_within_se(
        took,
        p_took,
        binomial_se(p_took, C),
        what=f"P(group fixed by n={N}), {C} chains, M={M}",
    )


def test_time_to_loss_matches_the_exact_two_type_chain():
    res = _law_run()
    first = res.first_passage["vanished"]
    # E[T 1{T <= N}] from the exact P(vanished by n): no censoring bias.
    v = vanished_by(0.3, M, N)
    exact = float(np.sum(np.arange(1, N + 1) * np.diff(v)))
    est, se = mean_and_se(np.where(first >= 0, first, 0))
    assert_within_se(
        est, exact, se, what=f"E[T_loss 1(T_loss <= {N})], {C} chains, M={M}"
    )
    # The conditional mean over a long horizon is mean_time_to_loss.
    v = vanished_by(0.3, M, 2000)
    truncated = float(np.sum(np.arange(1, 2001) * np.diff(v)) / v[-1])
    assert truncated == pytest.approx(mean_time_to_loss(0.3, M), rel=1e-9)
    # Diffusion approximation: within 10 % at M = 100.
    assert tw.minority_mean_time_to_loss(0.1, 100) == pytest.approx(
        mean_time_to_loss(0.1, 100), rel=0.1
    )


def test_exact_law_oracles():
    # Generation 1: the group is missed by every draw, (1 - m0)^M.
    assert vanished_by(0.3, M, 1)[1] == pytest.approx(0.7**M, rel=1e-12)
    # M = 1: generation 1 decides everything.
    assert mean_time_to_loss(0.4, 1) == pytest.approx(1.0)
    v = vanished_by(0.3, 4, 400)
    assert np.all(np.diff(v) >= -1e-15) and v[-1] == pytest.approx(0.7, abs=1e-9)


def test_exact_laws_are_the_theory_modules_and_check_their_arguments():
    # One implementation of the two-type chain: with m_0 M a count, the group's
    # exact mean time to loss is theory.minority_loss's exact value.
    for share0, m in ((0.3, M), (0.1, 50), (0.5, 2)):
        assert mean_time_to_loss(share0, m) == pytest.approx(
            tml.minority_mean_time_to_loss(share0, m, exact=True), rel=1e-12
        )
    for call, match in (
        (lambda: vanished_by(0.1, 0, 3), r"vanished_by\(\): sample_size must be >= 1"),
        (lambda: vanished_by(0.1, M, -1), r"vanished_by\(\): num_generations must"),
        (lambda: vanished_by(float("nan"), M, 3), r"vanished_by\(\): share0 must be a "
         r"share in \(0, 1\); got nan"),
        (lambda: mean_time_to_loss(0.1, 0), r"mean_time_to_loss\(\): sample_size"),
        (lambda: mean_time_to_loss(0.0, M), r"mean_time_to_loss\(\): share0 must be"),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_components_share_of_a_mixture():
    # The share is the normalised weight of the named components; a dead component
    # (log weight -inf) counts 0.
    truth = cj.gmm_params(
        [0.6, 0.3, 0.1, 0.0], [[-2.0], [0.0], [2.0], [4.0]], [[[1.0]]] * 4
    )
    group = cj.minority(components=[2, 3], name="small")
    assert group.metric == "small_share"
    assert float(jax.jit(group)(truth)) == pytest.approx(0.1, abs=1e-6)
    assert group.share(truth) == pytest.approx(0.1)
    shifted = truth._replace(log_weights=truth.log_weights + 3.0)  # unnormalised
    assert float(jax.jit(group)(shifted)) == pytest.approx(0.1, abs=1e-6)


@pytest.mark.slow
def test_components_share_recorded_by_a_mixture_chain():
    truth = cj.gmm_params([0.9, 0.1], [[-2.0], [2.0]], [[[1.0]], [[1.0]]])
    group = cj.minority(components=[1], name="small")
    res = cj.run_chains(
        cj.gmm(2, 1),
        truth,
        key=0,
        num_chains=4,
        num_generations=2,
        sample_size=50,
        extra_metrics={group.metric: group},
        metrics=["small_share"],
    )
    w = np.exp(np.asarray(res.params.log_weights, np.float64))
    w = w / w.sum(-1, keepdims=True)
    np.testing.assert_allclose(res.metrics["small_share"], w[..., 1], atol=1e-6)


def test_summaries_and_sweeps_carry_the_share():
    kw = dict(
        key=1,
        num_chains=8,
        num_generations=3,
        sample_size=M,
        extra_metrics={GROUP.metric: GROUP},
        metrics=[GROUP.metric],
    )
    truth = cj.categorical_params(P0)
    s = cj.run_chains(cj.categorical(5), truth, output="summaries", **kw)
    assert s.stats[GROUP.metric]["mean"].shape[0] == 4
    sw = cj.sweep(
        cj.categorical(5),
        truth,
        regime=cj.fresh(M, real_fraction=0.5),
        over={"real_fraction": [0.0, 1.0]},
        **kw,
    )
    share = sw.metrics[GROUP.metric]
    assert share.shape == (2, 8, 4)
    assert np.all(share[1, :, 1:] > 0.0)  # all-fresh data keep every category...


# ------------------------------------------------------------------- errors ---


def _run(group, family=None, init=None, **kw):
    family = cj.categorical(5) if family is None else family
    init = cj.categorical_params(P0) if init is None else init
    return cj.run_chains(
        family,
        init,
        key=0,
        num_chains=2,
        num_generations=2,
        sample_size=M,
        extra_metrics={"g": group},
        **kw,
    )


def test_errors_name_what_does_not_exist():
    with pytest.raises(
        ValueError,
        match=r"run_chains\(\): extra_metrics\['g'\] must "
        r"be a group of categories that exist: indices in \[0, 4\].*"
        r"\[5, 7\] do not exist.*Name categories 0 \.\. 4",
    ):
        _run(cj.minority(categories=[1, 5, 7]))
    with pytest.raises(
        ValueError,
        match=r"a group of a model that has components.*"
        r"gaussian family",
    ):
        _run(cj.minority(components=[0]), cj.gaussian(), cj.gaussian_params(0.0, 1.0))
    with pytest.raises(ValueError, match=r"a group of a model that has categories"):
        _run(cj.minority(categories=[0]), cj.gaussian(), cj.gaussian_params(0.0, 1.0))
    truth = cj.gmm_params([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
    with pytest.raises(ValueError, match=r"components that exist: indices in \[0, 1\]"):
        _run(cj.minority(components=[2]), cj.gmm(2, 1), truth)
    with pytest.raises(
        ValueError, match=r"a proper subset of the model's 5 categories"
    ):
        _run(cj.minority(categories=range(5)))
    with pytest.raises(
        ValueError,
        match=r"sweep\(\): extra_metrics\['g'\] must be a "
        r"group of categories that exist",
    ):
        cj.sweep(
            cj.categorical(5),
            cj.categorical_params(P0),
            regime=cj.mix(0.5),
            over={"real_fraction": [0.5]},
            key=0,
            num_chains=2,
            num_generations=2,
            sample_size=M,
            extra_metrics={"g": cj.minority(categories=[9])},
        )


def test_errors_of_the_group_and_the_mapping():
    with pytest.raises(
        ValueError,
        match=r"minority\(\): categories, components must "
        r"be exactly one of the two",
    ):
        cj.minority()
    with pytest.raises(ValueError, match=r"exactly one of the two"):
        cj.minority(categories=[0], components=[1])
    with pytest.raises(ValueError, match=r"categories must be distinct indices"):
        cj.minority(categories=[1, 1])
    with pytest.raises(ValueError, match=r"categories must be indices >= 0"):
        cj.minority(categories=[-1])
    with pytest.raises(
        TypeError,
        match=r"categories must be a non-empty list of "
        r"indices \(ints >= 0\)",
    ):
        cj.minority(categories=[0.5])
    with pytest.raises(ValueError, match=r"categories must be a non-empty list"):
        cj.minority(categories=[])
    with pytest.raises(TypeError, match=r"name must be an identifier"):
        cj.minority(categories=[0], name="a b")
    truth = cj.categorical_params(P0)
    kw = dict(key=0, num_chains=2, num_generations=2, sample_size=M)
    with pytest.raises(
        ValueError,
        match=r"extra_metrics\['probs'\] must be a name "
        r"that the run does not record already",
    ):
        cj.run_chains(cj.categorical(5), truth, extra_metrics={"probs": GROUP}, **kw)
    with pytest.raises(
        TypeError,
        match=r"extra_metrics\['g'\] must be a function "
        r"params -> array",
    ):
        cj.run_chains(cj.categorical(5), truth, extra_metrics={"g": 3}, **kw)
    with pytest.raises(TypeError, match=r"extra_metrics must be a dict"):
        cj.run_chains(cj.categorical(5), truth, extra_metrics=[GROUP], **kw)
    with pytest.raises(ValueError, match=r"share0 must be a share in \(0, 1\)"):
        vanished_by(1.0, M, 3)


def test_with_metrics_checks_its_arguments():
    from collapse_jax.derived import with_metrics

    with pytest.raises(TypeError, match=r"with_metrics\(\): family must be a model "
                       r"family such as cj\.gaussian\(\).*; got 'int'"):
        with_metrics(3, {"g": GROUP})
    with pytest.raises(TypeError, match=r"with_metrics\(\): extra keys must be metric "
                       r"names"):
        with_metrics(cj.categorical(5), {"a b": GROUP})
    fam = with_metrics(cj.categorical(5), {"g": GROUP})
    assert fam.metric_names[-1] == "g"
    assert with_metrics(cj.categorical(5), {"g": GROUP}) is fam  # one program


def test_a_plain_function_is_a_derived_metric():
    res = cj.run_chains(
        cj.gaussian(),
        cj.gaussian_params(0.0, 1.0),
        key=0,
        num_chains=3,
        num_generations=2,
        sample_size=10,
        extra_metrics={"var": lambda p: 2 * p.chol_log_diag[0]},
        metrics=["log_var", "var"],
    )
    np.testing.assert_array_equal(res.metrics["var"], res.metrics["log_var"][..., 0])


@pytest.mark.slow
def test_the_verify_row_passes():
    from collapse_jax import verify

    (row,) = verify.run_claims(quick=True, only=["WF-2g"])
    assert row.passed, row
