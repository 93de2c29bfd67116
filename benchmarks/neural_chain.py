"""Benchmark: training throughput of a neural chain, vmapped against a loop.

One generation of a neural chain is a training run: ``family.fit`` trains the
network for a fixed number of optax steps inside one ``lax.scan``. This script
measures the training throughput (tokens per second for the language model, images
per second for the VAE) of

* one chain (``jax.jit(family.fit)``),
* the vmapped batch of 1, 4, 16 and 64 chains (``jax.jit(jax.vmap(family.fit))``,
  what ``run_chains`` compiles), and
* the obvious baseline: the same model trained one chain at a time, a Python loop
  calling the jitted one-chain fit (compiled once) for each chain,

all in one process, on the same data (draws from the truth, i.e. real data) and the
same per-chain keys.

Method:

* Correctness first. The vmapped batch must train the same networks as the loop:
  every chain's held-out loss after training agrees between the two within
  ``TOL_REL`` (XLA may reassociate a batched matmul, so not bitwise on every
  backend; the measured difference is in the JSON), and every chain's held-out
  loss must stay finite and within 50 % of generation 0's (training did not
  diverge). A failed check makes
  the script exit 1 before any timing.
* Compile time is measured apart: ``jax.jit(...).lower(...).compile()`` on the
  exact arguments, then every timed call uses the compiled program.
* Steady state: the median and min of ``--repeats`` calls, each ending in
  ``jax.block_until_ready``; the loop and the vmapped batch are interleaved so that
  load from other processes hits both alike. The machine's load average is
  recorded before and after.

Run ``python benchmarks/neural_chain.py`` (a few minutes on 2 CPU cores) or
``--quick`` for a smoke run; ``--model vae`` for the digit VAE.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

try:
    import collapse_jax as cj
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import collapse_jax as cj

TOL_REL = 1e-3  # held-out loss, vmapped vs loop, relative
TARGET = 4.0  # vmapped batch of 16 >= 4x the one-at-a-time loop (total throughput)
CHAIN_COUNTS = (1, 4, 16, 64)


def build(model: str, quick: bool, batch_size: int | None = None):
    """``(family, training, units_per_point, unit)`` for ``model``: the test-suite
    sizes with ``--quick``, the CPU defaults otherwise, each with its own
    per-generation training settings (generation 0 comes from the disk cache)."""
    if model == "lm":
        from collapse_jax.neural.lm import SIZES  # noqa: PLC0415

        size = "test" if quick else "tiny"
        spec = SIZES[size]
        tr = cj.training(
            steps=spec["steps"],
            batch_size=batch_size or spec["batch_size"],
            learning_rate=spec["learning_rate"],
        )
        fam = cj.language_model(size=size, training=tr)
        return fam, tr, fam.event_shape[0], "tokens"
    tr = cj.vae_training(steps=50 if quick else 200, batch_size=batch_size or 64)
    fam = cj.vae(training=tr)
    return fam, tr, 1, "images"


def _loads() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def _compile(fn, *args):
    jax.clear_caches()  # compile cold, not from the in-memory cache
    t0 = time.perf_counter()
    lowered = jax.jit(fn).lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    return compiled, {"lower_s": t1 - t0, "compile_s": t2 - t1}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="lm", choices=("lm", "vae"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-size", type=int, default=None)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="per-chain minibatch (default: the model's own); smaller minibatches "
        "leave one chain further from the machine's speed, where vmap gains most",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    fam, tr, units, unit = build(args.model, args.quick, args.batch_size)
    truth = fam.generation0()
    dtype = jnp.float32
    truth = fam.cast_params(truth, dtype)
    m = args.sample_size or (128 if args.quick else 512)
    counts = (1, 4, 16) if args.quick else CHAIN_COUNTS
    cmax = max(counts)
    root = jax.random.key(20261206)
    keys = jax.random.split(root, 2 * cmax)
    data = jax.vmap(lambda k: fam.sample(k, truth, m))(keys[:cmax])
    weights = jnp.ones((cmax, m), dtype)
    fit_keys = keys[cmax:]
    prev = jax.tree.map(lambda x: jnp.broadcast_to(x, (cmax,) + x.shape), truth)
    # Trained from the untrained truth's weights marked as a model (real = 0).
    prev = prev._replace(real=jnp.zeros((cmax,), jnp.int32))

    def one(key, x, w, p):
        return fam.fit(key, x, w, p)

    def batch(key, x, w, p):
        return jax.vmap(fam.fit)(key, x, w, p)

    def held_out(p):
        return fam.metrics(p, truth)["held_out_nll"]

    pick = lambda tree, i: jax.tree.map(lambda x: x[i], tree)  # noqa: E731
    first = [pick(a, 0) for a in (fit_keys, data, weights, prev)]
    one_c, one_compile = _compile(one, *first)
    # XLA counts a while loop's body once: the flops of one optimiser step (plus
    # the fit's set-up), to put the throughput against the machine's speed.
    cost = one_c.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    step_flops = float((cost or {}).get("flops", float("nan")))
    score = jax.jit(held_out)

    # ---------------------------------------------------------------- check ---
    n_check = min(4, cmax)
    sl = lambda tree: jax.tree.map(lambda x: x[:n_check], tree)  # noqa: E731
    batch_check = jax.jit(batch)(*(sl(a) for a in (fit_keys, data, weights, prev)))
    loop_scores = np.asarray(
        [
            score(one_c(*(pick(a, i) for a in (fit_keys, data, weights, prev))))
            for i in range(n_check)
        ]
    )
    batch_scores = np.asarray(jax.vmap(held_out)(batch_check))
    untrained = float(score(truth))
    rel = np.abs(batch_scores - loop_scores) / np.abs(loop_scores)
    check = {
        "held_out_loop": loop_scores.tolist(),
        "held_out_vmapped": batch_scores.tolist(),
        "held_out_generation0": untrained,
        "max_rel_diff": float(rel.max()),
        "bitwise": bool(np.array_equal(batch_scores, loop_scores)),
        "passed": bool(
            rel.max() <= TOL_REL
            and np.all(np.isfinite(loop_scores))
            and np.all(np.abs(loop_scores - untrained) < 0.5 * abs(untrained))
        ),
    }
    print(f"check: {json.dumps(check)}")
    if not check["passed"]:
        print("neural_chain.py: the vmapped batch does not train the loop's networks")
        return 1

    steps = tr.num_steps(m)
    per_chain = steps * tr.batch_size * units
    results: dict[str, Any] = {
        "one_chain": {"compile": one_compile},
        "vmapped": {},
        "loop": {},
    }
    loads_before = _loads()
    for c in counts:
        args_c = [
            jax.tree.map(lambda x, c=c: x[:c], a)
            for a in (fit_keys, data, weights, prev)
        ]
        batch_c, batch_compile = _compile(batch, *args_c)
        jax.block_until_ready(batch_c(*args_c))  # warm
        # The loop's per-chain arguments are sliced before timing: the baseline
        # pays for its calls, not for indexing.
        chains = [[pick(a, i) for a in args_c] for i in range(c)]
        jax.block_until_ready(chains)
        loop_t, batch_t = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for chain_args in chains:
                jax.block_until_ready(one_c(*chain_args))
            loop_t.append(time.perf_counter() - t0)
            batch_t.append(_timed(batch_c, *args_c))
        total = c * per_chain
        results["vmapped"][str(c)] = {
            "compile": batch_compile,
            "median_s": statistics.median(batch_t),
            "min_s": min(batch_t),
            f"{unit}_per_s": total / statistics.median(batch_t),
        }
        results["loop"][str(c)] = {
            "median_s": statistics.median(loop_t),
            "min_s": min(loop_t),
            f"{unit}_per_s": total / statistics.median(loop_t),
        }
        ratio = statistics.median(loop_t) / statistics.median(batch_t)
        for kind, times in (("vmapped", batch_t), ("loop", loop_t)):
            results[kind][str(c)]["gflop_per_s"] = (
                c * steps * step_flops / statistics.median(times) / 1e9
            )
        results["vmapped"][str(c)]["speedup_over_loop"] = ratio
        print(
            f"{c:3d} chains: vmapped {total / statistics.median(batch_t):12,.0f} "
            f"{unit}/s, loop {total / statistics.median(loop_t):12,.0f} {unit}/s, "
            f"vmapped/loop {ratio:5.2f}x, "
            f"{results['vmapped'][str(c)]['gflop_per_s']:.1f} GFLOP/s vmapped "
            f"(compile {batch_compile['compile_s']:.1f} s)"
        )
    one_rate = results["loop"]["1"][f"{unit}_per_s"]
    results["one_chain"][f"{unit}_per_s"] = one_rate
    target_c = "16" if "16" in results["vmapped"] else str(max(counts))
    speedup = results["vmapped"][target_c]["speedup_over_loop"]
    out = {
        "benchmark": "neural_chain",
        "model": args.model,
        "quick": args.quick,
        "family": fam.name,
        "sample_size": m,
        "steps_per_generation": steps,
        "xla_flops_per_step": step_flops,
        "batch_size": tr.batch_size,
        f"{unit}_per_chain_generation": per_chain,
        "check": check,
        "results": results,
        "target": {
            "chains": int(target_c),
            "ratio": TARGET,
            "measured": speedup,
            "met": speedup >= TARGET,
        },
        "device": str(jax.devices()[0].device_kind),
        "platform": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "load_average_before": loads_before,
        "load_average_after": _loads(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    print(f"target: vmapped {target_c} chains / loop = {speedup:.2f}x (>= {TARGET}x)")
    suffix = ("_quick" if args.quick else "") + (
        f"_batch{args.batch_size}" if args.batch_size else ""
    )
    path = (
        Path(args.out)
        if args.out
        else (
            Path(__file__).resolve().parent
            / "results"
            / f"neural_chain_{args.model}_{jax.default_backend()}{suffix}.json"
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
