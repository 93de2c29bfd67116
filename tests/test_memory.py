"""The memory check before a run (collapse_jax.memory).

The issue's five runs that allocated until the machine ran out are refused before
anything chain-sized exists, with the house message naming the argument, the
estimate, the memory available and the fix; a run that fits is not refused; the
estimate is within a factor of two of the peak memory measured in a subprocess.
Messages are checked against a fixed limit (``COLLAPSE_JAX_MEMORY_LIMIT``), so
they do not depend on the memory of the machine that runs the tests.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import cli, memory
from collapse_jax.estimate import estimate_chains

G, TRUTH = cj.gaussian(), cj.gaussian_params(0.0, 1.0)
LIMIT = "16G"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture
def limit(monkeypatch):
    monkeypatch.setenv(memory.ENV_LIMIT, LIMIT)


def _refused(call, match):
    """``call()`` raises ValueError matching ``match`` and allocates nothing big."""
    before_rss, before_peak = _rss(), _peak()
    with pytest.raises(ValueError, match=match) as err:
        call()
    # A refusal before allocating: the peak grew by less than 300 MiB (the issue's
    # runs allocate tens of GiB or more before failing).
    assert _peak() <= max(before_peak, before_rss + 300 * 2**20)
    return str(err.value)


AVAILABLE = r"\(16 GiB available, from COLLAPSE_JAX_MEMORY_LIMIT\)"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_a_billion_chains_are_refused_naming_num_chains(limit):
    msg = _refused(
        lambda: cj.run_chains(G, TRUTH, key=0, num_chains=10**9, num_generations=100,
                              sample_size=100),
        rf"run_chains\(\): num_chains must be at most [\d,]+ for this run to fit in "
        rf"memory {AVAILABLE}; got 1,000,000,000, which needs an estimated [\d.]+ "
        r"TiB\. The estimate: records [\d.]+ TiB",
    )
    assert "first_chain=" in msg and "record_params=False" in msg


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_half_a_billion_generations_are_refused_naming_num_generations(limit):
    # (key scheme 2 counts at most 2**29 - 1 generations: tests/test_keys.py)
    msg = _refused(
        lambda: cj.run_chains(G, TRUTH, key=0, num_chains=16,
                              num_generations=5 * 10**8, sample_size=100),
        rf"num_generations must be set so that even 8 chains fit in memory "
        rf"{AVAILABLE}; got 500,000,000, which needs an estimated [\d.]+ [GT]iB with "
        r"16 chains",
    )
    assert "fewer generations" in msg


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_ten_million_categories_are_refused_naming_record_params(limit):
    k = 10**7
    truth = cj.categorical_params(np.full(k, 1.0 / k))
    msg = _refused(
        lambda: cj.run_chains(cj.categorical(k), truth, key=0, num_chains=256,
                              num_generations=100, sample_size=1000),
        rf"record_params must be set so that even 8 chains fit in memory "
        rf"{AVAILABLE}; got True, which needs an estimated [\d.]+ TiB",
    )
    assert "record_params=False" in msg and "metrics=[...]" in msg


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_a_billion_chains_on_the_command_line_are_refused(limit, tmp_path, capsys):
    # Inside the documented range of --num-chains (up to 2,147,483,647).
    out = tmp_path / "run"
    before_rss, before_peak = _rss(), _peak()
    status = cli.main(["run", "gaussian", "--num-chains", "1000000000", "-o",
                       str(out), "--no-figures", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert _peak() <= max(before_peak, before_rss + 300 * 2**20)
    assert "collapse-jax run: run(): --num-chains must be at most" in err
    assert "which needs an estimated" in err and "--summary 0.1,0.5,0.9" in err
    # Refused before any result: no run is left behind in the directory.
    assert not (out / "run.json").exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_the_largest_sample_size_drawn_point_by_point_is_refused(limit, tmp_path):
    # --sample-size 100000000 --sampler samples: the documented maximum.
    msg = _refused(
        lambda: cj.run_experiment("gaussian", overrides={"sample_size": 10**8,
                                                         "sampler": "samples"},
                                  out=tmp_path, figures=False),
        rf"run_experiment\(\): overrides\['sample_size'\] must be set so that even 8 "
        rf"chains fit in "
        rf"memory {AVAILABLE}; got 100,000,000, which needs an estimated [\d.]+ [GT]iB",
    )
    assert "draws and fits of one generation" in msg
    assert "overrides={'sampler': 'sufficient'} (O(1) per generation)" in msg
    assert not (tmp_path / "run.json").exists()


def test_the_check_reads_the_machine_without_an_override(monkeypatch):
    monkeypatch.delenv(memory.ENV_LIMIT, raising=False)
    avail = memory.available_memory()
    assert avail is not None and avail.host > 0 and avail.device is None  # CPU
    with pytest.raises(ValueError, match=r"from (MemAvailable|free memory)\); got "
                       r"1,000,000,000"):
        cj.run_chains(G, TRUTH, key=0, num_chains=10**9, num_generations=100,
                      sample_size=100)


def test_a_run_that_fits_is_not_refused_and_the_limit_can_be_lowered_or_lifted(
    monkeypatch,
):
    kw = dict(key=0, num_chains=8, num_generations=5, sample_size=10)
    monkeypatch.setenv(memory.ENV_LIMIT, LIMIT)
    res = cj.run_chains(G, TRUTH, **kw)
    assert res.metrics["log_var"].shape == (8, 6, 1)
    monkeypatch.setenv(memory.ENV_LIMIT, "1M")  # below the reserve: refused
    with pytest.raises(ValueError, match=r"\(1 MiB available, from "
                       r"COLLAPSE_JAX_MEMORY_LIMIT\)"):
        cj.run_chains(G, TRUTH, **kw)
    monkeypatch.setenv(memory.ENV_LIMIT, "off")  # no check at all
    again = cj.run_chains(G, TRUTH, **kw)
    np.testing.assert_array_equal(again.metrics["log_var"], res.metrics["log_var"])
    monkeypatch.setenv(memory.ENV_LIMIT, "lots")
    with pytest.raises(ValueError, match=r"COLLAPSE_JAX_MEMORY_LIMIT must be a "
                       r"memory size in bytes, e\.g\. 64G.*; got 'lots'"):
        cj.run_chains(G, TRUTH, **kw)


@pytest.mark.parametrize(("text", "value"), [
    ("1024", 1024), ("64G", 64 * 2**30), ("64GiB", 64 * 2**30), ("1.5t", 1.5 * 2**40),
    ("512 MB", 512 * 2**20), ("0", None), ("off", None),
])
def test_the_limit_is_parsed_in_binary_units(text, value):
    assert memory._parse_limit(text) == value


def test_summary_runs_are_estimated_without_per_chain_records(monkeypatch, tmp_path):
    # 100,000 chains x 101 generations of records (2 x 16 B each) do not fit in
    # 400 MiB (256 MiB of which are the reserve), their quantiles do: the
    # run-directory path estimates what it keeps.
    monkeypatch.setenv(memory.ENV_LIMIT, "400M")
    over = {"num_chains": 100_000, "num_generations": 100}
    with pytest.raises(ValueError, match=r"run_experiment\(\): "
                       r"overrides\['num_chains'\] must be at most [\d,]+ "
                       r".*records [\d.]+ MiB.*summary="):
        cj.run_experiment("gaussian", overrides=over, out=tmp_path / "a",
                          chunk_size=5, figures=False)

    class Started(Exception):
        pass

    def stop(done, total):
        raise Started  # the first chunk ran: the memory check let the run through

    with pytest.raises(Started):
        cj.run_experiment("gaussian", overrides=over, out=tmp_path / "b",
                          chunk_size=5, figures=False, summary=[0.1, 0.5, 0.9],
                          progress=stop)


MEASURE = textwrap.dedent("""
    import json, os, resource, sys
    import collapse_jax as cj
    from collapse_jax import memory

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    seen = []
    check = memory.check_run
    memory.check_run = lambda *a, **k: seen.append(check(*a, **k)) or seen[-1]
    g, truth = cj.gaussian(), cj.gaussian_params(0.0, 1.0)
    kw = json.loads(sys.argv[1])
    if kw.pop("regression", False):  # a 5-feature regression, fresh rows
        g = cj.linear_regression(5, design="fresh")
        truth = cj.linear_regression_params([1.0] * 5, noise_sd=1.0)
    if kw.pop("accumulate", False):
        kw["regime"] = cj.accumulate()
    cj.run_chains(g, truth, key=0, num_chains=8, num_generations=2, sample_size=10,
                  regime=kw.get("regime"))
    seen.clear()
    base = rss()
    cj.run_chains(g, truth, key=0, **kw)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"growth": peak - base, "estimate": seen[0].total}))
""")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
@pytest.mark.parametrize("kw", [
    # records: 6,000 chains x 1,001 generations x 36 B, kept twice
    dict(num_chains=6000, num_generations=1000, sample_size=100,
         sampler="sufficient"),
    # draws: 500 chains x 100,000 points per generation
    dict(num_chains=500, num_generations=4, sample_size=100_000),
    # kept data: each fit reads 40,000 rows through (rows, 5, 5) outer products
    # (estimated at a fifth of the peak before the fit's temporaries were counted)
    dict(regression=True, accumulate=True, num_chains=48, num_generations=40,
         sample_size=1000, metrics=["test_error"]),
], ids=["records", "draws", "kept-data"])
def test_the_estimate_is_within_a_factor_two_of_the_measured_peak(kw):
    env = dict(os.environ, **{memory.ENV_LIMIT: "off"})  # measured, not refused
    out = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(kw)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout.strip().splitlines()[-1])
    estimate = m["estimate"] - memory.RESERVE  # the reserve is slack, not the run
    assert m["growth"] > 200 * 2**20, m  # a run whose own memory dominates
    assert 0.5 <= estimate / m["growth"] <= 2.0, m


class _Compiled(Exception):
    pass


def _xla_bytes(monkeypatch, family, init, chains, **kw):
    """XLA's memory analysis of run_chains' compiled chunk, not run: arguments,
    outputs and temporaries of one call, per chain."""
    from collapse_jax import chain

    seen = {}
    compiled_fn = chain._run_chunk

    def lower_only(*args, **kwargs):
        compiled = compiled_fn.lower(*args, **kwargs).compile()
        seen["bytes"] = memory.compiled_bytes(compiled)
        raise _Compiled

    monkeypatch.setattr(chain, "_run_chunk", lower_only)
    with pytest.raises(_Compiled):
        cj.run_chains(family, init, key=0, num_chains=chains, **kw)
    return seen["bytes"] / chains


_X5 = np.random.default_rng(0).standard_normal((20, 5))
_LR = cj.linear_regression(5, design="fresh")
_LR_TRUTH = cj.linear_regression_params(np.ones(5), noise_sd=1.0)
_G5, _G5_TRUTH = cj.gaussian(5), cj.gaussian_params(np.zeros(5), np.eye(5))
_COMPILED_CASES = {
    # verify's LR-2 row: the fit reads N * T rows through a Gram of (rows, d, d)
    "regression-accumulate": (
        cj.linear_regression(5, 20),
        cj.linear_regression_params(np.ones(5), design=_X5, noise_sd=1.0),
        dict(num_generations=10, sample_size=20, regime=cj.accumulate()),
    ),
    # the kept data are counted once more, not as draws with their copies
    "gaussian-accumulate": (
        G, TRUTH, dict(num_generations=50, sample_size=1000, regime=cj.accumulate()),
    ),
    # the sampler's Gumbel draws: one per category and point
    "categorical-replace": (
        cj.categorical(10),
        cj.categorical_params(np.full(10, 0.1)),
        dict(num_generations=10, sample_size=10_000),
    ),
}
_SLOW_CASES = {
    "gaussian5-general-mix": (
        _G5, _G5_TRUTH,
        dict(num_generations=20, sample_size=1000, regime=cj.general_mix(.5, .3, .2)),
    ),
    "gaussian5-replace": (_G5, _G5_TRUTH, dict(num_generations=20, sample_size=2000)),
    "gmm-accumulate": (
        cj.gmm(3),
        cj.gmm_params([0.3, 0.3, 0.4], [-2.0, 0.0, 2.0], [1.0, 1.0, 1.0]),
        dict(num_generations=10, sample_size=500, regime=cj.accumulate()),
    ),
    "regression-accumulate-subsample": (
        _LR, _LR_TRUTH,
        dict(num_generations=20, sample_size=1000,
             regime=cj.accumulate_subsample(500)),
    ),
    "regression-min-norm-accumulate": (
        cj.linear_regression(5, design="fresh", fit="min_norm"), _LR_TRUTH,
        dict(num_generations=20, sample_size=1000, regime=cj.accumulate()),
    ),
    "regression20-replace": (
        cj.linear_regression(20, design="fresh"),
        cj.linear_regression_params(np.ones(20), noise_sd=1.0),
        dict(num_generations=10, sample_size=2000),
    ),
    "poisson-accumulate": (
        cj.poisson(), cj.poisson_params(3.0),
        dict(num_generations=20, sample_size=1000, regime=cj.accumulate()),
    ),
    "gaussian-retain-original": (
        G, TRUTH,
        dict(num_generations=20, sample_size=1000, regime=cj.retain_original(0.1)),
    ),
    "gaussian-mix-real-data": (
        G, TRUTH,
        dict(num_generations=20, sample_size=1000,
             regime=cj.mix(0.5, real_data=np.linspace(-2.0, 2.0, 1000)[:, None])),
    ),
    # a curation's scores and ranks: CURATION_COPIES more copies of the draws
    "gaussian-likelihood-filter": (
        G, TRUTH,
        dict(num_generations=2, sample_size=20_000,
             curation=cj.likelihood_filter(0.5, diversity_quota=0.1)),
    ),
    "gaussian-tail-weighting": (
        G, TRUTH,
        dict(num_generations=1, sample_size=20_000, curation=cj.tail_weighting(0.2)),
    ),
    # draws by the bias's own sampler, not the family's (no Gumbel per category)
    "categorical-repetition-penalty": (
        cj.categorical(50), cj.categorical_params(np.full(50, 0.02)),
        dict(num_generations=2, sample_size=3200,
             sampling=cj.repetition_penalty(1.5, 32)),
    ),
}
_COMPILED_CASES.update(_SLOW_CASES)


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.slow) if c in _SLOW_CASES else c
    for c in _COMPILED_CASES
])
def test_the_estimate_is_within_a_factor_two_of_the_compiled_program(
    monkeypatch, case
):
    # The device part of the estimate (state, one generation's draws, fits and
    # regime buffers, one chunk of records) against XLA's analysis of the program:
    # runs whose fits read the data a regime keeps, whose fits hold several
    # floats per point, whose sampler holds one per category. Before the fits'
    # temporaries were counted the regression and mixture runs were under-
    # estimated 3x, the categorical draws 4x.
    family, init, kw = _COMPILED_CASES[case]
    kw = dict(kw, metrics=[family.metric_names[0]], record_params=False)
    chains = 32
    est = estimate_chains(family, init, **kw)(chains)
    estimate = (est.state + est.step + est.chunk_device) / chains
    measured = _xla_bytes(monkeypatch, family, init, chains, **kw)
    assert 0.5 <= estimate / measured <= 2.0, (estimate, measured)


def test_estimate_chains_is_the_estimate_run_chains_checks(monkeypatch):
    kw = dict(num_generations=5, sample_size=50, regime=cj.accumulate())
    seen = []
    check = memory.check_run
    monkeypatch.setattr(
        memory, "check_run", lambda fn, estimate, **k: seen.append(estimate) or
        check(fn, estimate, **k)
    )
    cj.run_chains(G, TRUTH, key=3, num_chains=24, **kw)
    estimate = estimate_chains(G, TRUTH, **kw)
    assert estimate(24) == seen[0](24)
    assert memory.chain_bytes(estimate) == memory.chain_bytes(seen[0])
    # Per chain: the slope, the fixed part (the reserve) left out.
    assert 0 < memory.chain_bytes(estimate) * 24 < estimate(24).total - memory.RESERVE


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_estimate_chains_refuses_nothing_and_validates_as_run_chains(limit):
    before_rss, before_peak = _rss(), _peak()
    big = estimate_chains(G, TRUTH, num_generations=5 * 10**8, sample_size=100)
    assert big(10**9).total > 2**50  # far more than the 16 GiB limit: not refused
    assert _peak() <= max(before_peak, before_rss + 300 * 2**20)
    with pytest.raises(ValueError, match=r"run_chains\(\): sample_size must be"):
        estimate_chains(G, TRUTH, num_generations=5, sample_size=1)
    with pytest.raises(TypeError, match=r"estimate_chains\(\): kwargs must be "
                       r"arguments of run_chains \(key, num_chains, .*\); got "
                       r".*unexpected keyword argument 'num_chain'\. Pass"):
        estimate_chains(G, TRUTH, num_chain=5, num_generations=5,
                               sample_size=10)
    with pytest.raises(TypeError, match=r"missing a required argument: "
                       r"'num_generations'"):
        estimate_chains(G, TRUTH, sample_size=10)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_the_fix_offers_the_sufficient_sampler_only_to_regimes_that_take_it(limit):
    # retain_original runs with sampler 'samples' or 'population' only.
    kw = dict(key=0, num_chains=16, num_generations=10, sample_size=10**9)
    msg = _refused(
        lambda: cj.run_chains(G, TRUTH, regime=cj.retain_original(0.1), **kw),
        r"sample_size must be set so that even 8 chains fit",
    )
    assert "sufficient" not in msg and "Draw fewer points per generation" in msg
    msg = _refused(lambda: cj.run_chains(G, TRUTH, **kw), r"sample_size must be")
    assert "sampler='sufficient' (O(1) per generation)" in msg


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_a_fit_of_the_kept_data_is_blamed_on_the_regime(limit):
    # accumulate's fit reads N * M rows (the minimum-norm fit keeps its points;
    # OLS pools X'X, X'y and keeps O(1) numbers): the step is dominated by the kept
    # data, not by the draws of one generation.
    family = cj.linear_regression(20, design="fresh", fit="min_norm")
    truth = cj.linear_regression_params(np.ones(20), noise_sd=1.0)
    msg = _refused(
        lambda: cj.run_chains(family, truth, key=0, num_chains=16,
                              num_generations=1000, sample_size=10_000,
                              regime=cj.accumulate()),
        r"run_chains\(\): regime must be set so that even 8 chains fit in memory "
        rf"{AVAILABLE}; got accumulate",
    )
    assert "a regime that keeps less data" in msg and "sufficient" not in msg
