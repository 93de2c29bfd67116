"""10^6 chains x 10^4 generations of the sufficient Gaussian chain, summaries only.

``cj.run_chains(cj.gaussian(), ..., sampler="sufficient", output="summaries",
record_every=k, metrics=["log_var"])``: each chunk's records are summarised over the
chains on the device (mean, variance, quantiles per recorded generation), so memory
is the chain state plus one chunk of thinned records, not chains x generations.

1. **check** (before any timing): a smaller run of the same program
   (``--check-chains`` x ``--check-generations``) must match the closed forms of
   docs/theory.md §3 (GC-3, proofs/gc-3-log-variance.md) for log sigma^2_N:
   E = N [psi((M-1)/2) + log(2/(M-1))], Var = N psi'((M-1)/2), within 5 standard
   errors (SE of the mean sqrt(Var/C); of the variance Var sqrt(2/(C-1)),
   log sigma^2_N being a sum of N i.i.d. terms, near normal); the benchmark
   exits 1 otherwise.
2. **the scale run**, in a fresh process so that its peak RSS is its own: wall
   time, compile time (``_run_chunk.lower(...).compile()`` on the captured
   arguments, cold, timed after the run), peak RSS (``resource.getrusage``) against
   the library's memory estimate (``collapse_jax.estimate.estimate_chains``), and
   the final statistics against the closed form again.
3. **baseline**: the NumPy chi-square recursion (``baselines.numpy_sufficient_chain``,
   state of every chain, O(1) memory per chain) on ``--baseline-chains`` chains for
   the same generations, chain-gens/s compared.

When the full size takes too long on the machine at hand, run fewer generations
(``--generations``): memory does not grow with them (the record buffer holds
``chunk_size / record_every`` generations), and the time per chain-generation is
reported with the extrapolation to 10^4 generations.

Usage::

    python benchmarks/scale.py                       # 10^6 x 10^4 (long on 2 cores)
    python benchmarks/scale.py --generations 200 --chunk-size 100 --record-every 10
    python benchmarks/scale.py --quick               # smoke run, seconds
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import digamma, polygamma

import jax

try:
    import collapse_jax as cj
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import collapse_jax as cj
import collapse_jax.chain as cj_chain
from collapse_jax.estimate import estimate_chains
from collapse_jax.memory import format_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import numpy_sufficient_chain  # noqa: E402

K_SE = 5.0
RESULTS = Path(__file__).resolve().parent / "results"


def closed_form(n: int, m: int) -> dict[str, float]:
    """Mean and variance of log sigma^2_N (docs/theory.md §3, GC-3)."""
    a = (m - 1) / 2
    return {
        "mean": n * float(digamma(a) + math.log(2 / (m - 1))),
        "var": n * float(polygamma(1, a)),
    }


def _run(chains, generations, m, chunk, every, seed):
    return cj.run_chains(
        cj.gaussian(),
        cj.gaussian_params(0.0, 1.0),
        key=seed,
        num_chains=chains,
        num_generations=generations,
        sample_size=m,
        sampler="sufficient",
        metrics=["log_var"],
        output="summaries",
        record_every=every,
        chunk_size=chunk,
    )


def check(res, chains: int, generations: int, m: int) -> dict[str, Any]:
    """z of the final mean and variance of log sigma^2 against the closed form."""
    truth = closed_form(generations, m)
    st = res.stats["log_var"]
    mean, var = float(st["mean"][-1, 0]), float(st["var"][-1, 0])
    se_mean = math.sqrt(truth["var"] / chains)
    se_var = truth["var"] * math.sqrt(2 / (chains - 1))
    z = [(mean - truth["mean"]) / se_mean, (var - truth["var"]) / se_var]
    return {
        "chains": chains,
        "generations": generations,
        "mean": mean,
        "var": var,
        "closed_form": truth,
        "z_mean": z[0],
        "z_var": z[1],
        "failed": int(res.failed[-1]),
        "passed": bool(all(abs(v) <= K_SE for v in z)) and int(res.failed[-1]) == 0,
    }


class _Capture:
    """Stands in for ``collapse_jax.chain._run_chunk`` to record its arguments."""

    def __init__(self, real):
        self.real, self.args = real, None

    def __call__(self, *args, **kwargs):
        if self.args is None:
            self.args = (args, kwargs)
        return self.real(*args, **kwargs)


def scale_run(a) -> dict[str, Any]:
    """The scale run (in its own process): time, compile, peak RSS, estimate."""
    est = estimate_chains(
        cj.gaussian(),
        cj.gaussian_params(0.0, 1.0),
        num_generations=a.generations,
        sample_size=a.sample_size,
        sampler="sufficient",
        metrics=["log_var"],
        output="summaries",
        record_every=a.record_every,
        chunk_size=a.chunk_size,
    )(a.chains)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cap = _Capture(cj_chain._run_chunk)
    cj_chain._run_chunk = cap
    stamps: list[float] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    try:
        res = cj.run_chains(
            cj.gaussian(),
            cj.gaussian_params(0.0, 1.0),
            key=a.seed,
            num_chains=a.chains,
            num_generations=a.generations,
            sample_size=a.sample_size,
            sampler="sufficient",
            metrics=["log_var"],
            output="summaries",
            record_every=a.record_every,
            chunk_size=a.chunk_size,
            progress=lambda done, total: stamps.append(time.perf_counter()),
        )
    finally:
        cj_chain._run_chunk = cap.real
    assert isinstance(res, cj.SummaryResult)  # output="summaries"
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0  # CPU seconds: what load from others leaves
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    chunks = np.diff([t0] + stamps)
    steady = float(np.median(chunks[1:])) if len(chunks) > 1 else float("nan")
    compile_s = None
    if cap.args is not None:  # cold compile of the chunk on the run's arguments
        args, kwargs = cap.args
        jax.clear_caches()
        t1 = time.perf_counter()
        cap.real.lower(*args, **kwargs).compile()
        compile_s = time.perf_counter() - t1
    chain_gens = a.chains * a.generations
    return {
        "chains": a.chains,
        "generations": a.generations,
        "sample_size": a.sample_size,
        "chunk_size": a.chunk_size,
        "record_every": a.record_every,
        "recorded_generations": int(res.generations.size),
        "wall_s": wall,
        "cpu_s": cpu,
        "chain_gens_per_cpu_s": chain_gens / cpu,
        "compile_s": compile_s,
        "first_chunk_s": float(chunks[0]),
        "steady_chunk_s": steady,
        "chain_gens_per_s": chain_gens / wall,
        "chain_gens_per_s_steady": a.chains * a.chunk_size / steady
        if len(chunks) > 1
        else None,
        "peak_rss_bytes": int(peak),
        "rss_before_run_bytes": int(rss0),
        "estimate_bytes": int(est.total),
        "estimate_parts": {
            "state": est.state,
            "step": est.step,
            "chunk_device": est.chunk_device,
            "records": est.records,
            "fixed": est.fixed,
        },
        "check": check(res, a.chains, a.generations, a.sample_size),
        "load_average": os.getloadavg(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--chains", type=int, default=10**6)
    p.add_argument("--generations", type=int, default=10**4)
    p.add_argument("--sample-size", type=int, default=1000)
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--record-every", type=int, default=100)
    p.add_argument("--check-chains", type=int, default=65536)
    p.add_argument("--check-generations", type=int, default=200)
    p.add_argument("--baseline-chains", type=int, default=65536)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.quick:
        a.chains, a.generations, a.chunk_size, a.record_every = 20000, 40, 20, 10
        a.check_chains, a.check_generations, a.baseline_chains = 4096, 40, 4096
    if a.child:
        print(json.dumps(scale_run(a)))
        return 0
    out: dict[str, Any] = {
        "benchmark": "scale",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": str(jax.devices()[0].device_kind),
        "cpu_count": os.cpu_count(),
        "versions": {"jax": jax.__version__, "numpy": np.__version__},
        "load_average_start": os.getloadavg(),
    }
    # 1. the law, at a smaller size, before anything is timed
    small = _run(
        a.check_chains,
        a.check_generations,
        a.sample_size,
        min(a.chunk_size, a.check_generations),
        a.record_every,
        a.seed + 1,
    )
    out["check"] = check(small, a.check_chains, a.check_generations, a.sample_size)
    print(
        f"check {a.check_chains} x {a.check_generations}: z_mean "
        f"{out['check']['z_mean']:+.2f}, z_var {out['check']['z_var']:+.2f}: "
        f"{'ok' if out['check']['passed'] else 'FAILED'}",
        flush=True,
    )
    if not out["check"]["passed"]:
        _save(a, out)
        return 1
    # 2. the scale run, in its own process (its own peak RSS)
    cmd = [sys.executable, __file__, "--child"] + [
        f"--{k.replace('_', '-')}={getattr(a, k)}"
        for k in (
            "chains",
            "generations",
            "sample_size",
            "chunk_size",
            "record_every",
            "seed",
        )
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    out["scale"] = run
    # 3. the NumPy chi-square recursion on the same generations
    c0, t0 = time.process_time(), time.perf_counter()
    numpy_sufficient_chain(a.baseline_chains, a.generations, a.sample_size, a.seed)
    base, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    out["numpy_sufficient"] = {
        "chains": a.baseline_chains,
        "generations": a.generations,
        "wall_s": base,
        "cpu_s": base_cpu,
        "chain_gens_per_s": a.baseline_chains * a.generations / base,
        "chain_gens_per_cpu_s": a.baseline_chains * a.generations / base_cpu,
    }
    rate = run["chain_gens_per_s"]
    out["vs_numpy"] = rate / out["numpy_sufficient"]["chain_gens_per_s"]
    # Per CPU second: the ratio that load from other processes disturbs least.
    out["vs_numpy_cpu"] = (
        run["chain_gens_per_cpu_s"] / out["numpy_sufficient"]["chain_gens_per_cpu_s"]
    )
    full = 10**6 * 10**4
    out["extrapolated_1e6_x_1e4_s"] = full / (run["chain_gens_per_s_steady"] or rate)
    out["load_average_end"] = os.getloadavg()
    out["all_checks_passed"] = bool(out["check"]["passed"] and run["check"]["passed"])
    print(
        f"scale {run['chains']:,} x {run['generations']:,} (M={a.sample_size}, "
        f"{run['recorded_generations']} generations recorded): wall "
        f"{run['wall_s']:.1f} s, compile {run['compile_s']:.2f} s, "
        f"{rate:.3g} chain-gen/s ({out['vs_numpy']:.2f}x NumPy on "
        f"{a.baseline_chains:,} chains; per CPU second "
        f"{run['chain_gens_per_cpu_s']:.3g}, {out['vs_numpy_cpu']:.2f}x); peak RSS "
        f"{format_bytes(run['peak_rss_bytes'])}"
        f" vs estimate {format_bytes(run['estimate_bytes'])}; final z_mean "
        f"{run['check']['z_mean']:+.2f}, z_var {run['check']['z_var']:+.2f}; "
        f"10^6 x 10^4 at the steady rate: {out['extrapolated_1e6_x_1e4_s']:.0f} s; "
        f"load {out['load_average_end'][0]:.1f}",
        flush=True,
    )
    _save(a, out)
    return 0 if out["all_checks_passed"] else 1


def _save(a, out) -> None:
    path = a.out or RESULTS / f"scale_cpu{'_quick' if a.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, sort_keys=True))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
