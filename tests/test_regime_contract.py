"""Every built-in regime through the contract kit (collapse_jax.testing.check_regime).

The kit asserts batch and chunk (resume) invariance bit for bit, dtype preservation,
the total weight each fit sees (what the regime's documentation claims), the
population limit, and refusals. The kit itself is tested here too: a regime that
breaks one property must be caught.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.regimes import pipeline
from collapse_jax.regimes.buffers import no_state
from collapse_jax.testing import check_regime
from collapse_jax.testing.regime import weight_probe

REAL = np.linspace(-1.0, 2.0, 7)[:, None]  # a fixed real set of N = 7 points


def _shared(f, real_total, m):
    """Total weight when the real side carries the share f (pipeline.shares)."""
    return min(real_total / f, m / (1 - f))


def _with_d0(t, m):
    return m[0] if t == 0 else m[0] + m[t]


# (regime, expected total weight of fit t given the schedule m, a bad input)
BUILTINS = [
    (cj.replace(), lambda t, m: m[t], None),
    (cj.accumulate(), lambda t, m: m[: t + 1].sum(), None),
    (cj.accumulate_subsample(5), lambda t, m: 5,
     (lambda: cj.accumulate_subsample(-1), "size")),
    (cj.mix(), _with_d0, None),
    (cj.mix(0.3, real_data=REAL), lambda t, m: _shared(0.3, 7, m[t]),
     (lambda: cj.mix(1.5), r"real_fraction must be a number in \[0, 1\]")),
    (cj.fresh(4), lambda t, m: 4 + m[t], (lambda: cj.fresh(0), "num_real")),
    (cj.fresh(4, real_fraction=0.6), lambda t, m: _shared(0.6, 4, m[t]), None),
    (cj.retain_original(0.5), lambda t, m: m[t],
     (lambda: cj.retain_original(2.0), "fraction")),
    (cj.general_mix(0.6, 0.2, 0.2), lambda t, m: m[t],
     (lambda: cj.general_mix(0.5, 0.5, 0.5), r"alpha \+ beta \+ gamma must be 1")),
    (cj.web(cj.linear_share(0.2, 0.9), cj.detector(0.5, 0.2), source="all"), None,
     (lambda: cj.web(2.0), r"synthetic_share must be a number in \[0, 1\]")),
]


def _id(case):
    regime = case[0] if isinstance(case, tuple) else case
    return f"{regime.name}{sorted(regime.describe.items()) if regime.describe else ''}"


@pytest.mark.parametrize("case", BUILTINS, ids=_id)
def test_builtin_regime_keeps_the_contract(case):
    regime, weight, bad = case
    bad_inputs = [bad] if bad else ()
    res = check_regime(
        regime, expected_weight=weight, population=False, bad_inputs=bad_inputs
    )
    assert res.ok


def test_every_registered_builtin_is_checked():
    assert {r.name for r, _, _ in BUILTINS} == set(cj.regime_names())


def _has_population_limit(regime):
    """A fixed real set, or plain pooling of real and synthetic points, has none."""
    pooling = regime.name in ("mix", "fresh") and "real_fraction" not in regime.hyper
    return "real_data" not in regime.hyper and not pooling


@pytest.mark.slow
@pytest.mark.parametrize("case", BUILTINS, ids=_id)
def test_builtin_regime_population_limit_keeps_the_contract(case):
    regime = case[0]
    if _has_population_limit(regime):
        check_regime(regime, population=True)
    else:  # the regime's own refusal comes through the kit unchanged
        with pytest.raises(ValueError, match=r"run_chains\(\): regime must be .* in "
                           r"the population limit \(sample_size=None\)"):
            check_regime(regime, population=True)


@pytest.mark.slow
def test_categorical_regimes_keep_the_contract():
    cat = cj.categorical(3)
    truth = cj.categorical_params(np.array([0.5, 0.3, 0.2]))
    real = np.array([0, 1, 1, 2], np.int32)
    for regime in (cj.accumulate(), cj.mix(0.4, real_data=real), cj.fresh(5),
                   cj.retain_original(0.3), cj.general_mix(0.7, 0.2, 0.1)):
        check_regime(regime, cat, truth, sample_size=(12, 9, 14, 10),
                     population=_has_population_limit(regime))


@pytest.mark.slow
def test_monitored_regimes_keep_the_contract():
    mon = cj.collapse_monitor(held_out=30)
    check_regime(cj.monitored(cj.accumulate(), mon),
                 expected_weight=lambda t, m: m[: t + 1].sum(), population=False)
    check_regime(cj.adaptive(mon, 4), population=False)


def test_float64_runs_keep_float64(x64):
    check_regime(cj.general_mix(0.5, 0.3, 0.2), dtype="float64", population=False)


# ---------------------------------------------------------- the kit catches faults ---


_TRACES = [0]


def _trace_counting_step(ctx, params, state):
    """A fault: Python state read while tracing (each compiled program differs)."""
    _TRACES[0] += 1
    data, weights = pipeline.synthetic(ctx, params)
    shift = jnp.asarray(_TRACES[0] * 1e-3, data.dtype)
    return pipeline.fit(ctx, data + shift, weights, params), state


def _half_step(ctx, params, state):
    """Fits only the first half of the draws (what a regime might do by mistake)."""
    data, weights = pipeline.synthetic(ctx, params)
    half = jnp.arange(ctx.n_max) < ctx.sample_size // 2
    kept = weights * half.astype(weights.dtype)
    return pipeline.fit(ctx, data, kept, params), state


def test_the_kit_catches_a_regime_that_fits_other_data_than_it_claims():
    regime = cj.Regime("half", ("samples",), no_state, _half_step, describe={})
    with pytest.raises(AssertionError, match="the fits saw total weights"):
        check_regime(regime, expected_weight=lambda t, m: m[t], population=False)


def test_the_kit_catches_a_step_whose_bits_depend_on_the_compiled_program():
    regime = cj.Regime("traced", ("samples",), no_state, _trace_counting_step,
                       describe={})
    with pytest.raises(AssertionError, match="alone in one scan vs in a batch"):
        check_regime(regime, population=False)


def test_the_kit_catches_a_regime_that_refuses_nothing():
    """A bad input that is accepted fails the kit."""
    with pytest.raises(AssertionError, match="no error was raised"):
        check_regime(cj.replace(), population=False,
                     bad_inputs=[(lambda: cj.mix(0.5), "real_fraction")])


def test_the_kit_catches_a_message_that_is_not_the_house_message():
    def raise_plain():
        raise ValueError("bad fraction")

    with pytest.raises(AssertionError, match="house message"):
        check_regime(cj.replace(), population=False,
                     bad_inputs=[(raise_plain, "fraction")])


def test_the_kit_refuses_bad_settings_with_the_house_message():
    with pytest.raises(TypeError, match=r"check_regime\(\): regime must be a "
                       r"collapse_jax.Regime; got"):
        check_regime("accumulate")
    with pytest.raises(ValueError, match=r"sample_size must be a schedule of at "
                       r"least 3"):
        check_regime(cj.replace(), sample_size=(8, 8))


def test_the_weight_probe_reports_the_total_weight():
    probe = weight_probe()
    data = jnp.zeros((6, 1))
    w = jnp.array([1.0, 1.0, 0.5, 0.0, 2.0, 0.0])
    fitted = probe.fit(jax.random.key(0), data + jnp.arange(6.0)[:, None], w,
                       cj.gaussian_params(0.0, 1.0))
    assert float(fitted.mean[0]) == pytest.approx(4.5)
