"""The web regime (cj.web): a scrape whose synthetic share grows, with detectors.

Exact facts tested here, at k*SE from independent chains:

* the kept items are synthetic with probability s(1-r) / (s(1-r) + (1-s)(1-f))
  (theory.web.effective_share): given K kept items the synthetic ones are
  Binomial(K, s_eff), so the recorded per-chain share has mean s_eff exactly;
* s = 0 is the all-human chain: every model is a fit to M fresh truth draws, so
  E log sigma_t^2 = log sigma_0^2 + g(M) at every t (no drift);
* s = 1 without a detector is the replace chain: E log sigma_t^2 = t g(M);
* r = 1, f = 0 keeps the human items only: the chain does not depend on what the
  synthetic items are (bit for bit), and E log sigma_t^2 = E g(K), K ~ Bin(M, 1-s);
* the population limit is the exact fit to (1 - s_eff) truth + s_eff source.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import chain
from collapse_jax.regimes import _shares
from collapse_jax.testing import check_regime
from collapse_jax.theory import web as tw
from collapse_jax.theory.web import effective_share, kept_fraction
from tests.helpers import assert_within_se, mean_and_se, module_seed

NAN = float("nan")
G = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 2.0)
SEED = module_seed(__name__)


def _g(k):
    """E log(chi2_{k-1} / (k-1)): the unbiased fit's log-variance factor, g(k)."""
    k = np.asarray(k, np.float64)
    return special.digamma((k - 1) / 2) + np.log(2 / (k - 1))


# ------------------------------------------------------------- settings ---


def test_share_schedules_evaluate_as_documented():
    n = 6
    t = np.arange(n)
    lin = _shares.share_vector("t", "s", cj.linear_share(0.2, 0.8))
    np.testing.assert_allclose(_shares.share_values(lin, n), 0.2 + 0.6 * t / 5)
    log = _shares.share_vector("t", "s", cj.logistic_share(2.0, 1.5, 0.1, 0.9))
    want = 0.1 + 0.8 / (1 + np.exp(-1.5 * (t - 2.0)))
    np.testing.assert_allclose(_shares.share_values(log, n), want)
    const = _shares.share_vector("t", "s", 0.3)
    np.testing.assert_allclose(_shares.share_values(const, n), 0.3)
    table = _shares.share_vector("t", "s", [0.0, 0.5, 1.0])
    np.testing.assert_allclose(_shares.share_values(table, 3), [0.0, 0.5, 1.0])
    # The traced evaluation inside the step agrees with the host's.
    for v, m in ((lin, n), (log, n), (const, n), (table, 3)):
        got = [float(_shares.share_at(jnp.asarray(v), jnp.int32(i), m))
               for i in range(m)]
        np.testing.assert_allclose(got, _shares.share_values(v, m), rtol=1e-6)


def test_effective_share_closed_form():
    assert effective_share(0.5, 0.8) == pytest.approx(0.1 / 0.6)
    assert effective_share(0.3, 0.0, 0.0) == pytest.approx(0.3)
    assert effective_share(0.7, 1.0, 0.2) == 0.0
    assert np.isnan(effective_share(1.0, 1.0, 0.0))
    assert kept_fraction(0.5, 0.8, 0.1) == pytest.approx(0.1 + 0.45)


BAD = [
    (lambda: cj.web(1.5), ValueError, r"web\(\): synthetic_share must be a number in "
     r"\[0, 1\]"),
    (lambda: cj.web(-0.1), ValueError, r"web\(\): synthetic_share must be a number in"),
    (lambda: cj.web([0.1, 1.2]), ValueError, r"synthetic_share\[1\] must be a number"),
    (lambda: cj.web("half"), TypeError, r"synthetic_share must be a share in \[0, 1\]"),
    (lambda: cj.web([[0.1]]), ValueError, r"synthetic_share must be a 1-D sequence"),
    (lambda: cj.web(0.5, detector=0.9), TypeError, r"detector must be None or a "),
    (lambda: cj.web(0.5, source="oldest"), ValueError, r"source must be one of"),
    (lambda: cj.detector(1.2), ValueError, r"detector\(\): recall must be a number in "
     r"\[0, 1\]"),
    (lambda: cj.detector(0.9, -0.1), ValueError,
     r"detector\(\): false_positive_rate must be a number in \[0, 1\]"),
    (lambda: cj.watermark(2), ValueError, r"watermark\(\): recall must be"),
    (lambda: cj.linear_share(0.0, 1.1), ValueError, r"linear_share\(\): end must be"),
    (lambda: cj.logistic_share(5, float("inf")), ValueError,
     r"logistic_share\(\): steepness must be a finite number"),
    (lambda: cj.logistic_share(5, 1.0, start=-1), ValueError,
     r"logistic_share\(\): start must be a number in \[0, 1\]"),
    # NaN is refused like any number outside [0, 1].
    (lambda: cj.web(NAN), ValueError, r"web\(\): synthetic_share must be a number in "
     r"\[0, 1\]; got nan"),
    (lambda: cj.web([0.1, NAN]), ValueError, r"synthetic_share\[1\] must be a number "
     r"in \[0, 1\]; got nan"),
    (lambda: cj.detector(NAN), ValueError, r"detector\(\): recall must be a number in "
     r"\[0, 1\]; got nan\. Pass recall between 0 \(no synthetic item flagged\)"),
    (lambda: cj.detector(0.5, NAN), ValueError, r"detector\(\): false_positive_rate "
     r"must be a number in \[0, 1\]; got nan\. Pass false_positive_rate between 0 "
     r"\(no human item flagged\)"),
    (lambda: cj.watermark(NAN), ValueError, r"watermark\(\): recall must be a number"),
    (lambda: cj.linear_share(NAN, 0.5), ValueError, r"linear_share\(\): start must be"),
    (lambda: cj.logistic_share(5, 1.0, end=NAN), ValueError,
     r"logistic_share\(\): end must be a number in \[0, 1\]; got nan"),
    (lambda: cj.logistic_share(NAN, 1.0), ValueError,
     r"logistic_share\(\): midpoint must be a finite number"),
    # A Detector built by hand is checked by web() in its own wording.
    (lambda: cj.web(0.5, cj.Detector(0.5, 1.5)), ValueError,
     r"web\(\): detector\.false_positive_rate must be a number in \[0, 1\]"),
]

P3 = np.array([0.2, 0.3, 0.5])
#: The closed forms (collapse_jax.theory.web) with a share, recall or
#: false-positive rate: each refuses NaN and numbers outside [0, 1] by name.
CLOSED_FORMS = [
    ("effective_share", lambda s, r, f: tw.effective_share(s, r, f)),
    ("kept_fraction", lambda s, r, f: tw.kept_fraction(s, r, f)),
    ("kept_count_moments", lambda s, r, f: tw.kept_count_moments(10, s, r, f)),
    ("web_categorical_sq_error",
     lambda s, r, f: tw.web_categorical_sq_error(P3, 10, 3, s, r, f)),
    ("web_categorical_stationary",
     lambda s, r, f: tw.web_categorical_stationary(P3, 10, s, r, f)),
    ("web_gaussian_moments", lambda s, r, f: tw.web_gaussian_moments(10, 3, s, r, f)),
    ("web_gaussian_stationary_moments",
     lambda s, r, f: tw.web_gaussian_stationary_moments(10, s, r, f)),
    ("web_population_path",
     lambda s, r, f: tw.web_population_path(0.0, 1.0, 3, s, r, f)),
    ("web_error_factor", lambda s, r, f: tw.web_error_factor(10, s, r, f)),
]


@pytest.mark.parametrize("name,call", CLOSED_FORMS,
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("bad", [NAN, -0.1, 1.5])
def test_closed_forms_refuse_shares_and_rates_outside_the_unit_interval(name, call,
                                                                        bad):
    for arg, args in (("synthetic_share", (bad, 0.5, 0.1)),
                      ("recall", (0.5, bad, 0.1)),
                      ("false_positive_rate", (0.5, 0.5, bad))):
        with pytest.raises(ValueError, match=rf"{name}\(\): {arg} must be .*"
                           r"in \[0, 1\].*; got \[?(nan|-0\.1|1\.5)"):
            call(*args)
    with pytest.raises(ValueError, match=r"recall_needed\(\): synthetic_share must"):
        tw.recall_needed(2.0, 10, bad)
    for fn in (tw.minority_vanish_probability,
               lambda x: tw.minority_mean_time_to_loss(x, 10),
               lambda x: tw.minority_mean_absorption_time(x, 10, exact=True)):
        with pytest.raises(ValueError, match=r"minority_\w+\(\): share must be in "
                           r"\[0, 1\]"):
            fn(bad)


@pytest.mark.parametrize("make,error,match", BAD, ids=range(len(BAD)))
def test_bad_settings_are_house_errors(make, error, match):
    with pytest.raises(error, match=match) as info:
        make()
    assert "; got " in str(info.value)


def test_bad_runs_are_house_errors():
    kw = dict(key=0, num_chains=2, num_generations=3, sample_size=5)
    with pytest.raises(ValueError, match=r"run_chains\(\): regime must be "
                       r"web\(synthetic_share=...\) with a sequence of length "
                       r"num_generations=3 .*; got length 2"):
        cj.run_chains(G, TRUTH, regime=cj.web([0.1, 0.2]), **kw)
    # The sufficient statistic has no items to carry provenance: refused, saying
    # why and what to pass, in the entry point's wording (monitored too).
    why = (r"sampler must be 'samples' \(or the population limit, sample_size=None\) "
           r"for regime '(monitored\()?web\)?': each item carries its provenance "
           r"\(synthetic or human\), which the web mixes and the detector flags; got "
           r"'sufficient'\. The exact sufficient-statistic draw makes no items: pass "
           r"sampler='samples'")
    with pytest.raises(ValueError, match=r"run_chains\(\): " + why):
        cj.run_chains(G, TRUTH, regime=cj.web(0.5, cj.watermark(0.9)),
                      sampler="sufficient", **kw)
    with pytest.raises(ValueError, match=r"sweep\(\): " + why):
        cj.sweep(G, TRUTH, regime=cj.web(0.5), over={"recall": [0.5]},
                 sampler="sufficient", **kw)
    with pytest.raises(ValueError, match=r"run_chains\(\): " + why):
        cj.run_chains(G, TRUTH, regime=cj.monitored(
            cj.web(0.5), cj.collapse_monitor(held_out=30)), sampler="sufficient", **kw)
    # Another regime keeps the generic wording.
    with pytest.raises(ValueError, match=r"sampler must be one of \('samples', "
                       r"'population'\) for regime 'mix'; got 'sufficient'"):
        cj.run_chains(G, TRUTH, regime=cj.mix(0.5), sampler="sufficient", **kw)
    # Nor can another regime, or a curation slot, carry a detector.
    with pytest.raises(TypeError, match=r"detector must be an option of the mix"):
        cj.make_regime("mix", real_fraction=0.5, detector=cj.watermark(0.9))
    hint = r"; got 'Detector'\. A detector flags items by their provenance .*cj\.web"
    with pytest.raises(TypeError, match=r"curation must be None or a .*" + hint):
        cj.run_chains(G, TRUTH, curation=cj.watermark(0.9), **kw)
    with pytest.raises(TypeError, match=r"regime must be a regime such as .*" + hint):
        cj.run_chains(G, TRUTH, regime=cj.detector(0.9, 0.1), **kw)
    with pytest.raises(TypeError, match=r"sampling must be None or a .*" + hint):
        cj.run_chains(G, TRUTH, sampling=cj.watermark(0.9), **kw)
    # A detector in the share's place (a tuple: it would read as two shares).
    det = r"; got a detector, Detector\(recall=0\.9.*\. A detector is the web's second "
    with pytest.raises(TypeError, match=r"web\(\): synthetic_share must be a share "
                       r"in \[0, 1\], a sequence .*" + det):
        cj.web(cj.watermark(0.9))
    with pytest.raises(TypeError, match=r"sweep\(\): over\['synthetic_share'\] must "
                       r"be a share .*" + det):
        cj.sweep(G, TRUTH, regime=cj.web(0.5),
                 over={"synthetic_share": [cj.watermark(0.9)]}, **kw)
    # A swept sequence of the wrong length: the sweep's wording.
    with pytest.raises(ValueError, match=r"sweep\(\): regime or "
                       r"over\['synthetic_share'\] must be web\(synthetic_share=...\) "
                       r"with a sequence of length num_generations=3 .*; got length 2"):
        cj.sweep(G, TRUTH, regime=cj.web(0.5),
                 over={"synthetic_share": [[0.1, 0.2], 0.5]}, **kw)
    # A family without the population mixture fit has no population limit here.
    fam = cj.gmm(2, dim=1)
    with pytest.raises(ValueError, match=r"population"):
        cj.run_chains(fam, fam_truth_gmm(), regime=cj.web(0.5),
                      **dict(kw, sample_size=None))
    # A sweep's share values are checked like the regime's own.
    with pytest.raises(ValueError, match=r"sweep\(\): over\['synthetic_share'\] must "
                       r"be a number in \[0, 1\]"):
        cj.sweep(G, TRUTH, regime=cj.web(0.5), over={"synthetic_share": [0.2, 1.5]},
                 **kw)
    with pytest.raises(ValueError, match=r"sweep\(\): over\['recall'\] must be"):
        cj.sweep(G, TRUTH, regime=cj.web(0.5), over={"recall": [0.2, -1.0]}, **kw)


def fam_truth_gmm():
    return cj.gmm_params(np.array([0.5, 0.5]), np.array([[-1.0], [1.0]]),
                         np.array([[[1.0]], [[1.0]]]))


# ----------------------------------------------------------- the contract ---


@pytest.mark.slow
@pytest.mark.parametrize("source", ["newest", "all"])
def test_web_keeps_the_contract_with_every_family(source):
    """The contract kit (batch and chunk invariance, dtype, population limit,
    refusals) on every family the fresh regime runs with; the default pass runs
    the kit on the 1-D Gaussian (tests/test_regime_contract.py)."""
    regime = cj.web(cj.logistic_share(1.5, 2.0), cj.detector(0.4, 0.1), source=source)
    res = check_regime(regime, population=True,
                       bad_inputs=[(lambda: cj.web(2.0), "synthetic_share")])
    assert set(cj.web(0.5).observed) <= set(res.metrics)
    cases = [
        (cj.categorical(3), cj.categorical_params(np.array([0.5, 0.3, 0.2])), True),
        (cj.gaussian(dim=2), cj.gaussian_params(np.zeros(2), np.eye(2)), True),
        (cj.gaussian(learner="map"), TRUTH, True),
        # The predictive's tail_mass is batch invariant (evaluated lane by lane).
        (cj.gaussian(learner="posterior_predictive"), TRUTH, True),
        (cj.gaussian(learner="posterior_sample"), TRUTH, True),
        (cj.poisson(), cj.poisson_params(3.0), False),
        (cj.gmm(2, dim=1), fam_truth_gmm(), False),
    ]
    for fam, truth, pop in cases:
        check_regime(regime, fam, truth, sample_size=(12, 9, 14, 10), population=pop)
    lr = cj.linear_regression(2, design="fresh")
    truth = cj.linear_regression_params(np.array([1.0, -0.5]), noise_sd=0.5)
    check_regime(regime, lr, truth, sample_size=(12, 9, 14, 10), population=False)


# ---------------------------------------------------------------- laws ---


def test_nothing_kept_keeps_the_previous_model():
    """Every item flagged (s = 1, r = 1; or s = 0, f = 1): no fit, the model stays
    the truth, the chain does not fail, and kept_fraction records 0."""
    for regime in (cj.web(1.0, cj.watermark(1.0)), cj.web(0.0, cj.detector(0.0, 1.0))):
        res = cj.run_chains(G, TRUTH, key=SEED, num_chains=4, num_generations=3,
                            sample_size=6, regime=regime)
        assert res.ok
        np.testing.assert_array_equal(res.metrics["log_var"][:, 1:, 0],
                                      np.float32(np.log(2.0)))
        np.testing.assert_array_equal(res.metrics["kept_fraction"][:, 1:], 0.0)
        assert np.all(np.isnan(res.metrics["kept_synthetic_share"][:, 1:]))
        # Generation 0 is the truth: all of its data kept, none synthetic.
        np.testing.assert_array_equal(res.metrics["kept_fraction"][:, 0], 1.0)
        np.testing.assert_array_equal(res.metrics["kept_synthetic_share"][:, 0], 0.0)


def test_kept_share_matches_effective_share_over_a_recall_by_share_sweep():
    """4 recalls x 4 share schedules in ONE compiled program; at every point the
    recorded synthetic share of the kept items has mean effective_share(s_t, r, f)
    (given K kept items it is Binomial(K, s_eff) / K: exact; chains and generations
    are independent draws of it)."""
    recalls = [0.0, 0.5, 0.9, 1.0]
    shares = [0.5, cj.linear_share(0.2, 0.8), cj.logistic_share(1.5, 2.0, 0.1, 0.9),
              cj.linear_share(0.9, 0.3)]
    over = {"recall": [r for _ in shares for r in recalls],
            "synthetic_share": [s for s in shares for _ in recalls]}
    fpr, gens, chains, m = 0.1, 4, 64, 30
    regime = cj.web(0.5, cj.detector(0.5, fpr))
    before = chain._run_chunk._cache_size()
    sw = cj.sweep(G, TRUTH, regime=regime, over=over, key=SEED, num_chains=chains,
                  num_generations=gens, sample_size=m)
    assert chain._run_chunk._cache_size() == before + 1  # one program, 16 points
    assert sw.ok
    got = sw.metrics["kept_synthetic_share"][:, :, 1:]  # (16, chains, gens)
    est, se, want = [], [], []
    for p in range(16):
        s_t = _shares.share_values(sw.values["synthetic_share"][p], gens)
        r = sw.values["recall"][p]
        x = got[p]
        ok = ~np.isnan(x)  # K = 0: no share (conditioning on K > 0 keeps the mean)
        eff = np.broadcast_to(effective_share(s_t, r, fpr), x.shape)[ok]
        d = x[ok] - eff  # per-draw deviation from its own generation's s_eff
        est.append(d.mean())
        se.append(d.std(ddof=1) / np.sqrt(d.size))
        want.append(0.0)
    assert_within_se(np.array(est), np.array(want), np.array(se),
                     what="kept synthetic share - effective_share, 16 sweep points")
    # The kept fraction of the items: s(1-r) + (1-s)(1-f), at one point.
    p = 6  # recall 0.9, the linear ramp
    s_t = _shares.share_values(sw.values["synthetic_share"][p], gens)
    kf = sw.metrics["kept_fraction"][p, :, 1:] - kept_fraction(s_t, 0.9, fpr)
    mean, se1 = mean_and_se(kf.ravel())
    assert_within_se(mean, 0.0, se1, what="kept fraction - s(1-r) - (1-s)(1-f)")


def test_a_sweep_mixing_sequences_numbers_and_schedules_is_one_program():
    """A share axis holding a sequence, a number and schedules stacks to one shape
    (the number and schedules padded beside the sequence): one compiled program,
    and every point is bit for bit the run_chains call with its share."""
    shares = [[0.1, 0.9, 0.3], 0.5, cj.linear_share(0.0, 1.0),
              cj.logistic_share(1.0, 2.0)]
    kw = dict(key=SEED, num_chains=4, num_generations=3, sample_size=8,
              record_params=False)
    regime = cj.web(0.5, cj.watermark(0.5))
    before = chain._run_chunk._cache_size()
    sw = cj.sweep(G, TRUTH, regime=regime, over={"synthetic_share": shares}, **kw)
    assert chain._run_chunk._cache_size() == before + 1
    assert sw.values["synthetic_share"].shape == (4, 5 + 3)
    for i in (0, 1, 3):  # a sequence, a number, a schedule (numbers and schedules
        one = cj.run_chains(G, TRUTH, regime=cj.web(shares[i], cj.watermark(0.5)),
                            **kw)  # share one program of their own: 2 compiles)
        for name, want in one.metrics.items():
            np.testing.assert_array_equal(sw.metrics[name][i], want, err_msg=name)
    # Sequences of two lengths cannot stack (and one of them is not N long).
    with pytest.raises(ValueError, match=r"sweep\(\): over\['synthetic_share'\] must "
                       r"be sequences of one length, num_generations .*; got "
                       r"sequences of lengths \[2, 3\]\. Give every sequence"):
        cj.sweep(G, TRUTH, regime=regime,
                 over={"synthetic_share": [[0.1, 0.2, 0.3], 0.5, [0.1, 0.2]]}, **kw)


def test_population_limit_records_the_exact_effective_share():
    s, r, f = cj.linear_share(0.1, 0.9), 0.6, 0.2
    res = cj.run_chains(G, TRUTH, key=0, num_chains=2, num_generations=4,
                        sample_size=None, regime=cj.web(s, cj.detector(r, f)))
    s_t = _shares.share_values(_shares.share_vector("t", "s", s), 4)
    np.testing.assert_allclose(res.metrics["kept_synthetic_share"][:, 1:],
                               np.broadcast_to(effective_share(s_t, r, f), (2, 4)),
                               rtol=1e-6)
    np.testing.assert_allclose(res.metrics["kept_fraction"][:, 1:],
                               np.broadcast_to(kept_fraction(s_t, r, f), (2, 4)),
                               rtol=1e-6)


@pytest.mark.parametrize("source", ["newest", "all"])
def test_population_limit_is_the_exact_mixture_fit(source):
    """With the synthetic draws' variance scaled by lam (cj.variance_scale), the
    moment-matched fit to (1 - w) N(0, v0) + w * source has variance
    (1 - w) v0 + w lam v_t (newest) or (1 - w) v0 + w lam mean(v_1..v_t) (all)."""
    s, r, f, lam, gens = 0.7, 0.5, 0.1, 0.5, 5
    w = float(effective_share(s, r, f))
    res = cj.run_chains(G, TRUTH, key=0, num_chains=1, num_generations=gens,
                        sample_size=None, regime=cj.web(s, cj.detector(r, f),
                                                        source=source),
                        sampling=cj.variance_scale(lam))
    v = [2.0]
    for t in range(gens):
        src = v[t] if source == "newest" or t == 0 else np.mean(v[1: t + 1])
        v.append((1 - w) * 2.0 + w * lam * src)
    np.testing.assert_allclose(np.exp(res.metrics["log_var"][0, :, 0]), v, rtol=1e-5)


def test_all_human_and_all_synthetic_ends_follow_theory():
    """One program, two sweep points: s = 0 (a fit to M fresh truth draws each
    generation: E log sigma_t^2 = log 2 + g(M) at every t) and s = 1 without a
    detector (the replace chain: E log sigma_t^2 = log 2 + t g(M))."""
    m, gens, chains = 10, 8, 512
    sw = cj.sweep(G, TRUTH, regime=cj.web(0.5), over={"synthetic_share": [0.0, 1.0]},
                  key=SEED, num_chains=chains, num_generations=gens, sample_size=m)
    lv = sw.metrics["log_var"][:, :, -1, 0]
    means = lv.mean(axis=1)
    ses = lv.std(axis=1, ddof=1) / np.sqrt(chains)
    want = np.log(2.0) + np.array([1.0, gens]) * _g(m)
    assert_within_se(means, want, ses, what="E log sigma_8^2 at s = 0 and s = 1")


def test_watermark_keeps_only_the_human_items():
    """r = 1, f = 0: the synthetic items are all dropped, so the chain is the same
    bits whatever they are (here: drawn under a sampling bias), and each
    model is a fit to K ~ Bin(M, 1 - s) fresh human items: E log sigma^2 = log 2 +
    E g(K) at every generation (K >= 2 here but for 1e-11)."""
    s, m, gens, chains = 0.5, 40, 3, 512
    kw = dict(key=SEED, num_chains=chains, num_generations=gens, sample_size=m,
              record_params=False)
    base = cj.run_chains(G, TRUTH, regime=cj.web(s, cj.watermark(1.0)), **kw)
    few = dict(kw, num_chains=8)  # a chain's bits do not depend on its batch
    res = cj.run_chains(G, TRUTH, regime=cj.web(s, cj.watermark(1.0)),
                        sampling=cj.variance_scale(0.3), **few)
    for name in ("log_var", "mean"):
        np.testing.assert_array_equal(res.metrics[name], base.metrics[name][:8])
    k = np.arange(2, m + 1)
    pk = stats.binom.pmf(k, m, 1 - s)
    want = np.log(2.0) + np.sum(pk * _g(k)) / pk.sum()
    lv = base.metrics["log_var"][:, 1:, 0].ravel()  # independent across generations
    mean, se = mean_and_se(lv)
    assert_within_se(mean, want, se, what="E log sigma^2 of the human-only fits")


@pytest.mark.slow
def test_watermarked_chain_is_the_same_bits_from_any_source():
    """r = 1, f = 0: drawing the (dropped) synthetic items from every past model
    instead of the newest changes no bit of the chain."""
    kw = dict(key=SEED, num_chains=8, num_generations=4, sample_size=20)
    a = cj.run_chains(G, TRUTH, regime=cj.web(0.5, cj.watermark(1.0)), **kw)
    b = cj.run_chains(G, TRUTH, regime=cj.web(0.5, cj.watermark(1.0), source="all"),
                      **kw)
    for name in ("log_var", "mean", "kept_fraction"):
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])


def test_float64_web_keeps_float64(x64):
    check_regime(cj.web(cj.logistic_share(1.0, 1.0), cj.detector(0.5, 0.1),
                        source="all"), dtype="float64", population=False)


def test_a_monitored_web_chain_keeps_its_past_models_and_records():
    """monitored() passes the truth to the web regime's init (Regime.init_reference),
    so source='all' keeps its past models under a monitor, and both records come."""
    regime = cj.monitored(cj.web(0.5, cj.watermark(0.5), source="all"),
                          cj.collapse_monitor(held_out=30))
    res = cj.run_chains(G, TRUTH, key=SEED, num_chains=4, num_generations=3,
                        sample_size=20, regime=regime)
    assert res.ok
    assert {"kept_fraction", "kept_synthetic_share", "alarm"} <= set(res.metrics)
    kept = res.metrics["kept_fraction"]
    assert np.all((kept > 0) & (kept <= 1))


@pytest.mark.slow
def test_web_keeps_the_contract_with_a_learned_family():
    """A flax network family (tests/_neural_toy.py): source='all' keeps copies of
    the past networks' parameters in the carry."""
    from tests import _neural_toy as toys

    fam = toys.toy()
    check_regime(cj.web(0.5, cj.detector(0.5, 0.1), source="all"), fam,
                 fam.generation0(), sample_size=(32, 24, 30), population=False)
