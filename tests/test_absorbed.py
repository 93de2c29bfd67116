"""Absorbed chains cost no work: chunks in which every chain is absorbed (or failed)
are skipped and their records repeated, with the bits of running them.

Each run is compared with the same run whose family has no ``absorbing`` predicate
(every chunk runs): results must be equal bit for bit, and the skipping run must
have compiled and called fewer chunks (counted through ``chain._run_chunk``).
"""

from __future__ import annotations

import numpy as np
import pytest

import collapse_jax as cj
import collapse_jax.chain as cj_chain

CASES = {
    # lambda_0 M = 0.4: every chain absorbs within a few tens of generations (SU-2)
    "poisson-samples": (cj.poisson(), cj.poisson_params(0.02), 20, "samples"),
    "poisson-sufficient": (cj.poisson(), cj.poisson_params(0.02), 20, "sufficient"),
    # K = 3 with one dominant category: point masses within tens of generations
    "categorical": (
        cj.categorical(3),
        cj.categorical_params(np.array([0.9, 0.05, 0.05])),
        5,
        "samples",
    ),
}


class _Counting:
    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


def _run(monkeypatch, fam, truth, m, sampler, **kw):
    counter = _Counting(cj_chain._run_chunk)
    monkeypatch.setattr(cj_chain, "_run_chunk", counter)
    res = cj.run_chains(fam, truth, key=5, num_chains=8, num_generations=60,
                        sample_size=m, sampler=sampler, chunk_size=5, **kw)
    return res, counter.calls


def _same(a, b):
    for name in a.metrics:
        assert a.metrics[name].tobytes() == b.metrics[name].tobytes(), name
    for x, y in zip(a.params, b.params, strict=True):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
    assert np.array_equal(a.status, b.status)


@pytest.mark.parametrize("case", [
    c if c == "poisson-samples" else pytest.param(c, marks=pytest.mark.slow)
    for c in CASES
])
def test_absorbed_chunks_are_skipped_with_the_same_bits(monkeypatch, case):
    fam, truth, m, sampler = CASES[case]
    plain = fam._replace(absorbing=None)  # no predicate: every chunk runs
    got, calls = _run(monkeypatch, fam, truth, m, sampler)
    want, all_calls = _run(monkeypatch, plain, truth, m, sampler)
    assert all_calls == 12
    absorbed = got.metrics["absorbed"]
    assert absorbed[:, -1].all()  # the case does absorb every chain
    assert calls < all_calls
    _same(got, want)


@pytest.mark.slow
def test_a_schedule_that_changes_the_point_mass_count_is_run(monkeypatch):
    # A categorical point mass counts M_t: where M_t changes the counts change, so
    # the chunk must run (the predicate checks every M_t of the chunk).
    fam, truth = cj.categorical(3), cj.categorical_params(np.array([0.9, 0.05, 0.05]))
    sched = [5] * 40 + [7] * 20
    got, _ = _run(monkeypatch, fam, truth, sched, "samples")
    want, _ = _run(monkeypatch, fam._replace(absorbing=None), truth, sched, "samples")
    _same(got, want)
    assert got.params.counts[:, -1].sum(axis=-1).tolist() == [7] * 8


def test_other_regimes_are_not_skipped(monkeypatch):
    fam, truth, m, _ = CASES["poisson-samples"]
    _, calls = _run(monkeypatch, fam, truth, m, "samples", regime=cj.accumulate())
    assert calls == 12


@pytest.mark.slow  # ~20 s on 2 cores: six runs, three configurations
def test_skipping_keeps_the_bits_of_thinned_and_summarised_runs(monkeypatch):
    # The skip repeats the chunk's last record: under thinning that is only sound
    # when the chunk's last generation was recorded (record_every=5 = chunk_size
    # here; record_every=3 leaves some chunk ends unrecorded), and a first-passage
    # generation, once set, stays as it is.
    fam, truth, m, sampler = CASES["poisson-samples"]
    plain = fam._replace(absorbing=None)
    for kw in ({"record_every": 5}, {"record_every": 3}):
        got, calls = _run(monkeypatch, fam, truth, m, sampler, **kw)
        want, all_calls = _run(monkeypatch, plain, truth, m, sampler, **kw)
        np.testing.assert_array_equal(got.generations, want.generations)
        _same(got, want)
        if kw["record_every"] == 5:
            assert calls < all_calls
    kw = {"output": "summaries", "first_passage": {"zero": ("rate", "<=", 0.0)}}
    got, calls = _run(monkeypatch, fam, truth, m, sampler, **kw)
    want, all_calls = _run(monkeypatch, plain, truth, m, sampler, **kw)
    assert calls < all_calls
    assert (got.first_passage["zero"] >= 0).all()  # every chain reached 0
    np.testing.assert_array_equal(got.first_passage["zero"], want.first_passage["zero"])
    for name, stats in want.stats.items():
        for stat, value in stats.items():
            assert np.asarray(got.stats[name][stat]).tobytes() == np.asarray(
                value
            ).tobytes(), (name, stat)
