"""Bad input to the regimes gets the house message: argument, expected, got, fix."""

from __future__ import annotations

import numpy as np
import pytest

import collapse_jax as cj

G = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 1.0)
CAT = cj.categorical(3)
CAT_TRUTH = cj.categorical_params(np.array([0.5, 0.3, 0.2]))


def _run(regime, family=G, truth=TRUTH, **kw):
    args = dict(key=0, num_chains=8, num_generations=3, sample_size=10)
    args.update(kw)
    return cj.run_chains(family, truth, regime=regime, **args)


@pytest.mark.parametrize("make, match", [
    (lambda: cj.mix(-0.1), r"mix\(\): real_fraction must be a number in \[0, 1\]"),
    (lambda: cj.mix(1.5), r"real_fraction must be a number in \[0, 1\]"),
    (lambda: cj.mix(float("nan")), "real_fraction"),
    (lambda: cj.mix(synthetic_ratio=-1.0), "synthetic_ratio must be a number >= 0"),
    (lambda: cj.mix(0.5, synthetic_ratio=1.0), "synthetic_ratio must be None"),
    (lambda: cj.mix(0.5, real_data=3.0), "real_data must be an array"),
    (lambda: cj.fresh(0), "num_real"),
    (lambda: cj.fresh(5, real_fraction=2.0), "real_fraction"),
    (lambda: cj.retain_original(1.1), r"fraction must be a number in \[0, 1\]"),
    (lambda: cj.retain_original("half"), "fraction"),
    (lambda: cj.accumulate_subsample(0), "size"),
    (lambda: cj.general_mix(0.5, 0.5, 0.5), r"alpha \+ beta \+ gamma must be 1"),
    (lambda: cj.general_mix(-0.5, 1.0, 0.5), "alpha"),
    (lambda: cj.general_mix([[1.0]], 0.0, 0.0), "alpha"),
])
def test_bad_regime_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match) as err:
        make()
    assert "; got " in str(err.value)  # the house message: what was given


def test_real_set_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"real_data must be an array of shape \(N,\)"
                       r" \+ \(1,\)"):
        _run(cj.mix(0.5, real_data=np.zeros((5, 2))))
    with pytest.raises(ValueError, match="real_data"):
        _run(cj.mix(0.5, real_data=np.zeros(5)))  # (N,) for a (1,) event shape


def test_real_set_of_the_wrong_dtype():
    with pytest.raises(TypeError, match="integer data"):
        _run(cj.mix(0.5, real_data=np.array([0.0, 1.0, 2.0])), CAT, CAT_TRUTH)
    with pytest.raises(ValueError, match=r"category indices in \[0, 3\)"):
        _run(cj.mix(0.5, real_data=np.array([0, 1, 5])), CAT, CAT_TRUTH)
    with pytest.raises(TypeError, match="real numbers"):
        _run(cj.mix(0.5, real_data=np.array([["a"], ["b"]])))
    with pytest.raises(ValueError, match="finite values"):
        _run(cj.mix(0.5, real_data=np.array([[0.0], [np.inf]])))


def test_subsample_larger_than_the_data():
    with pytest.raises(ValueError, match=r"size <= the first sample size M_0 = 10"):
        _run(cj.accumulate_subsample(11))
    _run(cj.accumulate_subsample(10))  # the boundary is allowed


def test_retained_share_larger_than_the_original_data():
    with pytest.raises(ValueError, match="at most M_0 = 10 original points"):
        _run(cj.retain_original(0.5), sample_size=[10, 30, 30])


def test_general_mix_schedule_length_and_sums():
    with pytest.raises(ValueError, match="schedule of length num_generations=3"):
        _run(cj.general_mix([1.0, 1.0], [0.0, 0.0], [0.0, 0.0]))
    with pytest.raises(ValueError, match=r"alpha \+ beta \+ gamma = 1 in every"):
        _run(cj.general_mix([1.0, 0.5, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]))


@pytest.mark.parametrize("regime", [cj.accumulate(), cj.mix(0.5), cj.fresh(4)],
                         ids=lambda r: r.name)
def test_data_regimes_have_no_sufficient_sampler(regime):
    with pytest.raises(ValueError, match=r"sampler must be one of \('samples', "
                       r"'population'\)"):
        _run(regime, sampler="sufficient")


def test_population_limit_of_mixing_needs_a_share_a_truth_and_a_mixable_family():
    with pytest.raises(ValueError, match="real_fraction in the population limit"):
        _run(cj.mix(), sample_size=None)
    with pytest.raises(ValueError, match="real_fraction in the population limit"):
        _run(cj.fresh(4), sample_size=None)
    with pytest.raises(ValueError, match="real set drawn from the truth"):
        _run(cj.mix(0.5, real_data=np.zeros((4, 1))), sample_size=None)
    gmm = cj.gmm(2)
    truth = cj.gmm_params(np.array([0.5, 0.5]), np.array([[-1.0], [1.0]]),
                          np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match="finite size for regime 'accumulate'"):
        _run(cj.accumulate(), gmm, truth, sample_size=None)
    with pytest.raises(ValueError, match="init_family must be None for regime"):
        _run(cj.mix(0.5), G, truth, sample_size=None, init_family=gmm)


def test_regime_must_be_a_regime():
    with pytest.raises(TypeError, match="regime must be a regime"):
        _run("accumulate")


def test_a_buffer_too_large_for_memory_is_refused_before_running(monkeypatch):
    # The general memory estimate (collapse_jax.memory), against a fixed 16 GiB.
    # (cj.accumulate() of a Gaussian pools statistics and keeps no buffer since
    # issue 14; accumulate_subsample keeps every point.)
    monkeypatch.setenv("COLLAPSE_JAX_MEMORY_LIMIT", "16G")
    with pytest.raises(ValueError, match=r"num_chains must be at most [\d,]+ for "
                       r"this run to fit in memory.*chain state [\d.]+ GiB.*"
                       r"first_chain.*keep no buffer"):
        _run(cj.accumulate_subsample(100), num_chains=200_000,
             num_generations=1000, sample_size=100)
