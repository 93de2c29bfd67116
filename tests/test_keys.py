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
import jax.numpy as jnp
from jax.extend.random import threefry2x32_p

import collapse_jax as cj
from collapse_jax import keys as cjk
from collapse_jax import random as cjr

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


# ------------------------------------------------------------ key scheme 2 ---

def _chain_and_role(chain=3, t=5, role=0):
    ck = cjk.chain_keys(jax.random.key(0), jnp.asarray([chain], jnp.int32))[0]
    return ck, cjk.generation_keys(ck, jnp.int32(t))[role]


def test_unrolled_threefry_is_jax_threefry_bit_for_bit():
    rng = np.random.default_rng(0)
    args = [jnp.asarray(rng.integers(0, 2**32, 257, dtype=np.uint64), jnp.uint32)
            for _ in range(4)]
    ours = jax.jit(cjk.threefry2x32)(*args)
    for want, got in zip(threefry2x32_p.bind(*args), ours, strict=True):
        np.testing.assert_array_equal(got, want)


def test_role_key_words_are_both_outputs_of_its_counter_blocks():
    # Word j of generation t, role r is output j % 2 of the block
    # threefry2x32(chain key, (NUM_ROLES t + r + 1, j // 2)): no hashing per
    # generation or role, two words per block, and prefix-stable.
    ck, key = _chain_and_role(t=5, role=2)
    k0, k1 = np.asarray(jax.random.key_data(ck))
    pos = jnp.full((4,), cjk.NUM_ROLES * 5 + 2 + 1, jnp.uint32)
    y0, y1 = threefry2x32_p.bind(jnp.uint32(k0), jnp.uint32(k1), pos,
                                 jnp.arange(4, dtype=jnp.uint32))
    want = np.stack([y0, y1], -1).reshape(-1)
    np.testing.assert_array_equal(jax.random.bits(key, (7,), jnp.uint32), want[:7])
    np.testing.assert_array_equal(jax.random.bits(key, (3,), jnp.uint32), want[:3])
    assert cjk.is_counter_key(key) and not cjk.is_counter_key(ck)


def test_counters_of_roles_generations_and_derived_keys_are_all_distinct():
    # Words of every role of generations 0-3, keys derived from them, and the chain
    # key's own fold_in/split children and bits: no two 64-bit blocks coincide.
    ck, _ = _chain_and_role()
    seen = []
    for t in range(4):
        for key in cjk.generation_keys(ck, jnp.int32(t)):
            words = np.asarray(jax.random.bits(key, (8,), jnp.uint32))
            seen += list(words.reshape(4, 2))
            for d in range(4):
                kid = jax.random.key_data(jax.random.fold_in(key, d))
                seen.append(np.asarray(kid)[:2])
    for d in range(16):
        seen.append(np.asarray(jax.random.key_data(jax.random.fold_in(ck, d))))
    seen += list(np.asarray(jax.random.bits(ck, (32,), jnp.uint32)).reshape(-1, 2))
    blocks = {tuple(int(v) for v in b) for b in seen}
    assert len(blocks) == len(seen)


def test_counter_keys_serve_every_jax_random_function_and_fold_in_is_split():
    _, key = _chain_and_role()
    kids = jax.random.split(key, 3)
    for i in range(3):
        np.testing.assert_array_equal(jax.random.key_data(kids[i]),
                                      jax.random.key_data(jax.random.fold_in(key, i)))
    assert jax.random.gamma(key, 2.0, (3,)).shape == (3,)
    assert jax.random.permutation(key, 5).shape == (5,)
    counts = cjr.poisson(key, jnp.asarray([3.0, 3e5]), (2,))  # threefry-only inside
    assert counts.dtype == jnp.int32 and np.all(np.asarray(counts) >= 0)


@pytest.mark.parametrize("counter", [True, False])
def test_word_pairs_and_transforms_are_jax_random_on_the_same_words(counter):
    key = _chain_and_role()[1] if counter else jax.random.key(5)
    w0, w1 = jax.jit(lambda k: cjr.word_pair(k, np.arange(5)))(key)
    flat = cjr.words(key, (10,))
    np.testing.assert_array_equal(np.stack([w0, w1], -1).reshape(-1), flat)
    np.testing.assert_array_equal(cjr.normal_from_bits(flat, jnp.float32),
                                  jax.random.normal(key, (10,), jnp.float32))
    np.testing.assert_array_equal(
        cjr.uniform_from_bits(flat, jnp.float32, 0.25, 2.0),
        jax.random.uniform(key, (10,), jnp.float32, 0.25, 2.0))


@pytest.mark.x64
def test_word_pairs_float64_are_64_bit_words(x64):
    key = _chain_and_role()[1]
    w0, w1 = cjr.word_pair(key, np.arange(3), jnp.float64)
    flat = cjr.words(key, (6,), jnp.float64)
    assert flat.dtype == jnp.uint64
    np.testing.assert_array_equal(np.stack([w0, w1], -1).reshape(-1), flat)
    np.testing.assert_array_equal(cjr.normal_from_bits(flat, jnp.float64),
                                  jax.random.normal(key, (6,), jnp.float64))


def test_results_record_key_scheme_2_and_runs_of_scheme_1_are_not_resumed(tmp_path):
    import json

    from collapse_jax import runs
    assert cj.KEY_SCHEME_VERSION == 2
    over = {"num_chains": 2, "num_generations": 3, "sample_size": 10}
    run = cj.run_experiment("gaussian", overrides=over, out=tmp_path / "a",
                            figures=False)
    assert run.dataset.attrs["key_scheme_version"] == 2
    path = run.directory / runs.RUN_FILE
    request = json.loads(path.read_text())
    request["key_scheme_version"] = 1
    path.write_text(json.dumps(request))
    with pytest.raises(ValueError, match="key scheme 2.*key scheme 1"):
        cj.resume(run.directory)


def test_more_generations_than_the_key_scheme_counts_are_refused():
    with pytest.raises(ValueError, match=r"run_chains\(\).*num_generations.*at most "
                       f"{cjk.MAX_GENERATIONS}.*wrap"):
        cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
                      num_chains=1, num_generations=cjk.MAX_GENERATIONS + 1,
                      sample_size=4)
