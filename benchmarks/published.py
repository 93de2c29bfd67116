"""Benchmark: collapse_jax against the published NumPy loops, on the same work.

Two chains of the issue's item 8, each against the per-chain Python/NumPy loop of
the published scripts (float64, one chain after the other, as they are written):

* **accumulate**, a 10-dimensional Gaussian (truth N(0, I_10)), 100 chains,
  ``--gens`` generations of ``--m`` points (default 100 x 1,000): the published loop
  is ``x = rng.multivariate_normal(mu, cov, M); pool.append(x); X =
  concatenate(pool); mu, cov = X.mean(0), np.cov(X.T)`` (it rescans the pool each
  generation, as collapse_jax did before it pooled sufficient statistics). Ours:
  ``cj.run_chains(cj.gaussian(10), ..., regime=cj.accumulate(),
  metrics=["log_det_cov", "mean"], record_params=False)``, which keeps the
  Chan-merged moments of every draw (O(1) per generation). ``--with-buffer`` also
  times our old path (the same chain with its points kept, a fit that rescans them).
* **Poisson**, the default chain: ``cj.run_chains(cj.poisson(), poisson_params(5),
  num_chains=100, num_generations=200, sample_size=1000)`` with every default
  (sampler ``"samples"``, every metric and the params recorded) against the
  published ``x = rng.poisson(lam, M); lam = x.mean()`` per chain.

Method (as benchmarks/README.md): the law is checked first (each statistic of the
last generation over chains agrees with the published loop's within 5 SE of the
difference, and with its closed form where there is one); a failed check skips the
timing of what failed and makes the script exit 1. The first call compiles; the
steady state is the median (and min) of ``--repeats`` further calls with new seeds,
JAX and NumPy interleaved; backend compile time is measured apart, cold
(``_run_chunk.lower(...).compile()`` on the captured arguments). Results go to
``benchmarks/results/published_<device>.json``.

Run ``python benchmarks/published.py`` (a few minutes on 2 CPU cores) or ``--quick``
for a smoke run of a few seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaussian_chain import (  # noqa: E402
    _aot_compile,
    _CaptureRunChunk,
    _cpu_model,
    _device_name,
    _versions,
    _z,
)

import collapse_jax as cj  # noqa: E402
import collapse_jax.chain as cj_chain  # noqa: E402

K_SE = 5.0
DIM = 10
LAM0 = 5.0


# ----------------------------------------------------------- the published loops ---


def published_accumulate(chains: int, gens: int, m: int, seed: int) -> dict:
    """The published accumulate loop, one chain after the other (float64)."""
    rng = np.random.default_rng(seed)
    log_det, dist2 = np.empty(chains), np.empty(chains)
    for c in range(chains):
        mu, cov = np.zeros(DIM), np.eye(DIM)
        pool = []
        for _ in range(gens):
            x = rng.multivariate_normal(mu, cov, m)
            pool.append(x)
            data = np.concatenate(pool)
            mu, cov = data.mean(0), np.cov(data.T)
        log_det[c] = np.linalg.slogdet(cov)[1]
        dist2[c] = float(mu @ mu)
    return {"log_det_cov": log_det, "mean_dist2": dist2}


def published_poisson(chains: int, gens: int, m: int, seed: int) -> dict:
    """The published Poisson loop, one chain after the other."""
    rng = np.random.default_rng(seed)
    lam_n = np.empty(chains)
    for c in range(chains):
        lam = LAM0
        for _ in range(gens):
            x = rng.poisson(lam, m)
            lam = x.mean()
        lam_n[c] = lam
    return {"rate": lam_n}


# ------------------------------------------------------------------------- ours ---


def _unpooled(family):
    """``family`` with an equal fit that is not its pooled statistic's: points kept."""
    return family._replace(fit=lambda k, x, w, p: family.fit(k, x, w, p))


G10 = cj.gaussian(DIM)
G10_BUFFER = _unpooled(G10)


def jax_accumulate(family) -> Callable[[int, int, int, int], dict]:
    def run(chains: int, gens: int, m: int, seed: int) -> dict:
        res = cj.run_chains(
            family,
            cj.gaussian_params(np.zeros(DIM), np.eye(DIM)),
            key=seed,
            num_chains=chains,
            num_generations=gens,
            sample_size=m,
            regime=cj.accumulate(),
            metrics=["log_det_cov", "mean"],
            record_params=False,
        )
        mean = np.asarray(res.metrics["mean"][:, -1], np.float64)
        return {
            "log_det_cov": np.asarray(res.metrics["log_det_cov"][:, -1], np.float64),
            "mean_dist2": np.sum(mean * mean, axis=1),
            "failures": int(np.sum(np.asarray(res.status)[:, -1] != 0)),
        }

    return run


def jax_poisson(chains: int, gens: int, m: int, seed: int) -> dict:
    res = cj.run_chains(
        cj.poisson(),
        cj.poisson_params(LAM0),
        key=seed,
        num_chains=chains,
        num_generations=gens,
        sample_size=m,
    )
    return {
        "rate": np.asarray(res.metrics["rate"][:, -1], np.float64),
        "failures": int(np.sum(np.asarray(res.status)[:, -1] != 0)),
    }


# ----------------------------------------------------------------------- checks ---


def _mean_se(x):
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def compare(ours: dict, ref: dict, names, closed: dict | None = None) -> dict:
    out: dict[str, Any] = {"failures": ours.get("failures", 0)}
    zs = []
    for name in names:
        (a, sa), (b, sb) = _mean_se(ours[name]), _mean_se(ref[name])
        z = _z(a - b, math.hypot(sa, sb))
        out[name] = {
            "ours": a,
            "se_ours": sa,
            "published": b,
            "se_published": sb,
            "z_vs_published": z,
        }
        zs.append(z)
        if closed and name in closed:
            zc = _z(a - closed[name], sa)
            out[name]["closed_form"] = closed[name]
            out[name]["z_vs_closed_form"] = zc
            zs.append(zc)
    out["passed"] = bool(all(abs(z) <= K_SE for z in zs)) and out["failures"] == 0
    return out


# ----------------------------------------------------------------------- timing ---


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def bench(name, impls: dict, size: tuple, repeats: int, check_names, closed=None):
    """Check the law, then time every implementation (interleaved)."""
    chains, gens, m = size
    result: dict[str, Any] = {"size": {"chains": chains, "generations": gens, "M": m}}
    first: dict[str, float] = {}
    outs: dict[str, dict] = {}
    compile_s: dict[str, Any] = {}
    for label, fn in impls.items():
        capture = None
        if label.startswith("jax"):
            capture = _CaptureRunChunk(cj_chain._run_chunk)
            cj_chain._run_chunk = capture  # type: ignore[assignment]
        try:
            first[label], outs[label] = _timed(fn, chains, gens, m, 1)
        finally:
            if capture is not None:
                cj_chain._run_chunk = capture.real
        if capture is not None:
            compile_s[label] = capture.args
    ref = outs["published"]
    checks = {
        label: compare(out, ref, check_names, closed)
        for label, out in outs.items()
        if label != "published"
    }
    result["check"] = checks
    steady: dict[str, list[float]] = {label: [] for label in impls}
    for r in range(repeats):
        for label, fn in impls.items():
            if label != "published" and not checks[label]["passed"]:
                continue
            steady[label].append(_timed(fn, chains, gens, m, 100 + r)[0])
    result["implementations"] = {}
    for label in impls:
        times = steady[label]
        entry: dict[str, Any] = {"first_call_s": first[label]}
        if times:
            med = statistics.median(times)
            entry.update(
                median_s=med,
                min_s=min(times),
                times_s=times,
                chain_gens_per_s=chains * gens / med,
                first_minus_steady_s=first[label] - med,
            )
        result["implementations"][label] = entry
    for label, captured in compile_s.items():
        result["implementations"][label]["aot"] = _aot_compile(captured)
    pub = result["implementations"]["published"].get("median_s")
    for label, entry in result["implementations"].items():
        if label != "published" and pub and entry.get("median_s"):
            entry["speedup_vs_published"] = pub / entry["median_s"]
            entry["speedup_vs_published_best"] = (
                result["implementations"]["published"]["min_s"] / entry["min_s"]
            )
    result["name"] = name
    return result


def format_rows(res: dict) -> str:
    lines = [
        f"{'chain':<28} {'implementation':<22} {'compile s':>9} {'1st s':>8} "
        f"{'median s':>9} {'min s':>8} {'vs published':>12} {'check':>6}"
    ]
    for r in res["results"]:
        size = r["size"]
        tag = f"{r['name']} {size['chains']}x{size['generations']}, M={size['M']}"
        for label, e in r["implementations"].items():
            aot = e.get("aot") or {}
            comp = aot.get("compile_s")
            check = (
                "ok"
                if label == "published"
                else ("ok" if r["check"][label]["passed"] else "FAIL")
            )
            sp = e.get("speedup_vs_published")
            lines.append(
                f"{tag:<28} {label:<22} "
                f"{'-' if comp is None else f'{comp:.2f}':>9} "
                f"{e['first_call_s']:>8.3f} "
                f"{'-' if 'median_s' not in e else format(e['median_s'], '.3f'):>9} "
                f"{'-' if 'min_s' not in e else format(e['min_s'], '.3f'):>8} "
                f"{'-' if sp is None else f'{sp:.2f}x':>12} {check:>6}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run, seconds")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--gens", type=int, default=100, help="accumulate generations")
    ap.add_argument("--m", type=int, default=1000, help="accumulate sample size")
    ap.add_argument(
        "--with-buffer",
        action="store_true",
        help="also time accumulate with the point buffer (slow)",
    )
    ap.add_argument("--out", type=str, default=None)
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_compilation_cache", False)
    platform_, kind, tag = _device_name()
    if args.quick:
        acc_size, poi_size = (20, 10, 100), (20, 20, 100)
    else:
        acc_size, poi_size = (args.chains, args.gens, args.m), (args.chains, 200, 1000)
    acc_impls: dict[str, Callable] = {
        "published": published_accumulate,
        "jax pooled": jax_accumulate(G10),
    }
    if args.with_buffer:
        acc_impls["jax point buffer"] = jax_accumulate(G10_BUFFER)
    load_start = os.getloadavg()
    results = [
        bench(
            "accumulate, d=10",
            acc_impls,
            acc_size,
            args.repeats,
            ["log_det_cov", "mean_dist2"],
        ),
        bench(
            "Poisson (defaults)",
            {"published": published_poisson, "jax default": jax_poisson},
            poi_size,
            args.repeats,
            ["rate"],
            closed={"rate": LAM0},
        ),
    ]
    res = {
        "benchmark": "published",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": {
            "platform": platform_,
            "kind": kind,
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
        },
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "versions": _versions(),
        "quick": args.quick,
        "repeats": args.repeats,
        "results": results,
    }
    out = args.out or str(
        Path(__file__).resolve().parent
        / "results"
        / f"published_{tag}{'_quick' if args.quick else ''}.json"
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(format_rows(res))
    print(f"load average {load_start} -> {res['load_average_end']}; wrote {out}")
    ok = all(c["passed"] for r in results for c in r["check"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
