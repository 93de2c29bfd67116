"""Verify's memory plan: rows run in blocks of chain ids within a budget (issue 11).

The full ``collapse-jax verify --x64`` died allocating 31 GB in the TT-1 row
(V = 200,000, 1,024 chains) on a 24 GiB machine. The default pass checks the
mechanism (blocks give the values of one call; the large-vocabulary sampler's
temporaries are O(K)); the slow tests check the full set's compiled programs
against the budget and the peak memory of its largest rows.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import chain, memory, verify
from collapse_jax.claims import blocks
from collapse_jax.estimate import estimate_chains

cat_mod = importlib.import_module("collapse_jax.families.categorical")


def _old_cumsum(x):
    """The tree cumsum before issue 11: a zero-padded shift per round."""
    x = jax.lax.optimization_barrier(x)
    shift = 1
    while shift < x.shape[0]:
        x = x + jnp.concatenate([jnp.zeros((shift,), x.dtype), x[:-shift]])
        shift *= 2
    return x


def test_large_k_cumsum_keeps_one_temporary_and_the_same_bits():
    # Before: one (chains, K) temporary per round, log2 K of them (31 GB in TT-1).
    chains, k = 16, 2**15 + 3
    spec = jax.ShapeDtypeStruct((chains, k), jnp.float32)
    compiled = jax.jit(jax.vmap(cat_mod._sampling_cdf)).lower(spec).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    assert temp <= 3 * chains * k * 4, temp / (chains * k * 4)
    x = np.random.default_rng(0).random((8, 3000)).astype(np.float32)
    x[:, ::5] = 0.0
    new = np.asarray(jax.jit(jax.vmap(cat_mod._cumsum))(x))
    old = np.asarray(jax.jit(jax.vmap(_old_cumsum))(x))
    np.testing.assert_array_equal(new.view(np.int32), old.view(np.int32))


def test_block_size_fits_the_budget_in_multiples_of_eight():
    assert blocks.block_size(100, 10**6, budget=10_000) == 96
    assert blocks.block_size(100, 200, budget=10_000) == 72  # 72, 72, 56: not 96, 96, 8
    assert blocks.block_size(10, 65536, budget=2**17 * 10) == 2**16  # fits: one block
    assert blocks.block_size(10, 65536, budget=2**15 * 10) == 2**15
    assert blocks.block_size(100, 40, budget=10_000) == 40
    assert blocks.block_size(10**9, 1000, budget=10_000) == 8  # at least one pad


def test_run_blocked_gives_the_values_of_one_call():
    kw = dict(key=3, num_generations=6, sample_size=5, metrics=["log_var", "mean"])
    fam, init = cj.gaussian(), cj.gaussian_params(0.0, 1.0)
    whole = cj.run_chains(fam, init, num_chains=16, **kw)
    per_chain = memory.chain_bytes(estimate_chains(fam, init, **kw))
    got = blocks.run_blocked(
        lambda r: (r.metrics["log_var"][:, -1], r.metrics["mean"][:, 3]),
        family=fam,
        init=init,
        num_chains=16,
        budget=8 * per_chain,  # two blocks of 8 chains
        **kw,
    )
    np.testing.assert_array_equal(got[0], whole.metrics["log_var"][:, -1])
    np.testing.assert_array_equal(got[1], whole.metrics["mean"][:, 3])


def test_vmap_blocked_gives_the_values_of_one_call():
    def fn(key):
        x = jax.random.normal(key, (50,))
        return jnp.sum(x**2), x[0] > 0

    keys = jax.random.split(jax.random.key(1), 40)
    whole = jax.jit(jax.vmap(fn))(keys)
    got = blocks.vmap_blocked(fn, keys, budget=4096)  # blocks of 8 keys
    for a, b in zip(got, whole, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))


class _Compiled(Exception):
    pass


@pytest.mark.slow
def test_every_row_of_the_full_set_compiles_within_the_budget(monkeypatch):
    # Compile (do not run) each full row's first chain program in float64 and read
    # XLA's memory analysis: arguments, outputs and temporaries of one call. Rows
    # that vmap their own replicates size their blocks from the same analysis.
    jax.config.update("jax_enable_x64", True)
    seen = {}

    def capture(name):
        compiled_fn = getattr(chain, name)

        def lower_only(*args, **kwargs):
            seen["bytes"] = memory.compiled_bytes(
                compiled_fn.lower(*args, **kwargs).compile()
            )
            raise _Compiled

        return lower_only

    for name in ("_run_chunk", "_run_first"):
        monkeypatch.setattr(chain, name, capture(name))
    over = {}
    for claim in verify.claims(quick=False):
        seen.clear()
        # The CLI's promotion rules (the suite's strict ones refuse the int32 real
        # data of SE-2 beside int64 draws in float64 mode).
        with jax.numpy_dtype_promotion("standard"):
            try:
                verify.run_claims(only=[claim.id], dtype="float64")
            except _Compiled:
                pass
        if seen.get("bytes", 0) > blocks.VERIFY_BUDGET:
            over[claim.id] = round(seen["bytes"] / 2**30, 2)
    assert not over, f"GiB per compiled call over the budget: {over}"


@pytest.mark.slow
def test_largest_rows_of_the_full_x64_run_stay_within_their_memory(tmp_path):
    # TT-1 (V = 200,000, 1,024 replicates) allocated 31 GB; TT-2 (V = 200,000,
    # T = 100,000) 9 GB. The peak resident memory of a fresh process running them.
    out = tmp_path / "v.json"
    script = (
        "import resource, sys\n"
        "from collapse_jax import cli\n"
        f"rc = cli.main(['verify', '--x64', '--only', 'TT-1', 'TT-2', '--json', "
        f"{str(out)!r}])\n"
        "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["id"] for r in json.loads(out.read_text())] == ["TT-1", "TT-2"]
    peak = int(proc.stdout.split("PEAK_KIB")[1].split()[0]) * 1024
    assert peak <= 2 * blocks.VERIFY_BUDGET + 2 * 2**30, peak / 2**30
