"""Bitwise reproducibility: a chain depends only on (seed, chain id, config, dtype).

Batch size, chain offset, chunking, masking a schedule and running chains one at a
time must not change a single bit. These are exact tests: no tolerance. Batch and
chunk invariance, prefix-stable draws and masked draws of every family are checked
by the contract kit (collapse_jax.testing.check_family, tests/test_family_contract.py);
the runner-level tests here (chain offsets in a large batch, masked schedules, seeds,
key roles, x64) are what it does not cover.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax

import collapse_jax as cj
from collapse_jax import keys as cjk

FAMILIES = {
    "gaussian1": (cj.gaussian(1), cj.gaussian_params(0.5, 2.0)),
    "gaussian3": (cj.gaussian(3, "mle"),
                  cj.gaussian_params(np.arange(3.0), np.diag([1.0, 2.0, 3.0]) + 0.5)),
    "categorical": (cj.categorical(4), cj.categorical_params([0.1, 0.2, 0.3, 0.4])),
}
SAMPLERS = ["samples", "sufficient"]


def _run(name, sampler, **kw):
    family, init = FAMILIES[name]
    kw.setdefault("num_generations", 12)
    kw.setdefault("sample_size", 8)
    return cj.run_chains(family, init, key=kw.pop("key", 7), sampler=sampler, **kw)


def _assert_same(a, b, sl_a=slice(None), sl_b=slice(None)):
    for m in a.metrics:
        np.testing.assert_array_equal(a.metrics[m][sl_a], b.metrics[m][sl_b], err_msg=m)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x[sl_a], y[sl_b])
    np.testing.assert_array_equal(a.status[sl_a], b.status[sl_b])


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("name", list(FAMILIES))
def test_offset_chains_equal_the_same_ids_in_a_large_batch(name, sampler):
    offset = _run(name, sampler, num_chains=3, first_chain=5)
    big = _run(name, sampler, num_chains=1024)
    _assert_same(offset, big, slice(None), slice(5, 8))
    np.testing.assert_array_equal(offset.chain_ids, [5, 6, 7])


@pytest.mark.parametrize("chunk", [1, 5, 7])
def test_chunked_run_equals_one_scan_and_reports_progress(chunk):
    # Chunk sizes that do not divide the run, and the progress callback per chunk;
    # chunk and batch invariance of every family: collapse_jax.testing.check_family
    # (tests/test_family_contract.py).
    name, sampler = "gaussian3", "sufficient"
    whole = _run(name, sampler, num_chains=6)
    seen = []
    chunked = _run(name, sampler, num_chains=6, chunk_size=chunk,
                   progress=lambda done, total: seen.append((done, total)))
    _assert_same(whole, chunked)
    expected = list(range(chunk, 12, chunk)) + [12]
    assert seen == [(d, 12) for d in expected]


@pytest.mark.parametrize("name", ["gaussian1", "gaussian3", "categorical"])
def test_masked_sample_size_equals_true_sample_size(name):
    # Generation 1 is fitted to M_0 = 8 points in both runs; in the second run the
    # compiled program draws n_max = 20 points and masks 12 of them out.
    exact = _run(name, "samples", num_chains=5, num_generations=2, sample_size=[8, 8])
    masked = _run(name, "samples", num_chains=5, num_generations=2,
                  sample_size=[8, 20])
    _assert_same(exact, masked, (slice(None), slice(0, 2)), (slice(None), slice(0, 2)))


def test_int_seed_and_typed_key_agree():
    a = _run("gaussian1", "samples", num_chains=2, key=11)
    b = _run("gaussian1", "samples", num_chains=2, key=jax.random.key(11))
    _assert_same(a, b)


def test_different_seeds_and_chains_differ():
    a = _run("gaussian1", "samples", num_chains=2, key=1)
    b = _run("gaussian1", "samples", num_chains=2, key=2)
    lv_a, lv_b = a.metrics["log_var"], b.metrics["log_var"]
    assert not np.array_equal(lv_a[:, 1:], lv_b[:, 1:])
    assert not np.array_equal(lv_a[0, 1:], lv_a[1, 1:])


def test_generation_keys_have_fixed_roles():
    key = jax.random.fold_in(jax.random.key(0), 3)
    gk = cjk.generation_keys(key, 5)
    assert len(gk) == cjk.NUM_ROLES
    datas = [np.asarray(jax.random.key_data(k)).tobytes() for k in gk]
    assert len(set(datas)) == cjk.NUM_ROLES


def test_float32_is_bitwise_the_same_with_x64_on(x64):
    # With explicit dtypes, enabling x64 must not change float32 chains.
    # Reference bits computed in a subprocess with x64 off.
    import subprocess
    import sys
    code = (
        "import numpy as np, collapse_jax as cj;"
        "r=cj.run_chains(cj.gaussian(),cj.gaussian_params(0.,1.),key=3,num_chains=4,"
        "num_generations=6,sample_size=9);"
        "print(r.metrics['log_var'].tobytes().hex())"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.strip()
    here = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=3,
                         num_chains=4, num_generations=6, sample_size=9)
    assert here.metrics["log_var"].dtype == np.float32
    assert here.metrics["log_var"].tobytes().hex() == out
