"""Benchmark: a sweep over the real-data fraction as one compiled program.

The issue's target: "A sweep over the real-data fraction (at least 8 values) x 4,096
chains runs as one compiled program." The chain is the 1-D Gaussian (unbiased
estimator, truth N(0, 1), float32) under ``cj.mix(real_fraction)`` with the real set
each chain's generation-0 draws ``D_0``: the first fit sees ``D_0`` alone, every later
fit sees ``D_0`` (weight ``a``) pooled with ``M`` draws of the current model (weight
``b``), the real share of the weight being ``f`` and the larger of ``a``, ``b`` one
(``cj.mix``'s documentation). ``cj.sweep`` runs every fraction x every chain in one
program; it is timed against

* the vectorised NumPy chain of all ``P x C`` chains (``(P, C, M)`` draws per
  generation, the same weighted fit, float32);
* a loop of ``P`` separate ``cj.run_chains(regime=cj.mix(f))`` calls, one per
  fraction (the same chains: chain ``c`` of every point has the same keys, so each
  call's result must equal its sweep point bit for bit);
* the per-chain Python loop of the published code (``rng.normal``, ``np.average``
  with weights, float64), timed on a few chains per fraction and scaled per
  chain-generation.

Method (benchmarks/README.md, as ``gaussian_chain.py``):

* Correctness first. (a) Every sweep point equals its ``run_chains`` call bit for
  bit (``mean``, ``log_var`` and status of every generation). (b) At every fraction
  the mean over chains of ``mu_N`` and of ``log sigma^2_N``, and the variance over
  chains of ``log sigma^2_N``, agree with the NumPy chain within 5 standard errors of
  the difference (SEs from the chains); at ``f = 0`` (the replace chain) the
  log-variance also agrees with its closed form. (c) ``cj.accumulate()`` against a
  vectorised NumPy pool of every generation's draws, same statistics. A failed check
  skips the timing of what failed and makes the script exit 1.
* The first call compiles; steady state is the median of ``--repeats`` further calls
  with new seeds (the key is traced), interleaved across implementations. The number
  of compiled programs is ``collapse_jax.chain._run_chunk._cache_size()`` before and
  after each first call. Backend compilation alone is timed last and cold
  (``jax.clear_caches()``, ``_run_chunk.lower(...).compile()`` on the captured
  arguments); the persistent compilation cache is off.
* The loop builds ``cj.mix(f)`` in every call, as a script would. The fraction is
  traced and the regime's static parts are cached, so the loop compiles one program
  too; ``compile_probes`` counts the programs that small runs add (a new value, a new
  regime object, a new sweep) to pin that down.

Run ``python benchmarks/regime_sweep.py`` (a few minutes on 2 CPU cores) or
``--quick`` for a smoke run; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from scipy.special import digamma, polygamma

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaussian_chain import (  # noqa: E402
    _aot_compile,
    _CaptureRunChunk,
    _cpu_model,
    _device_name,
    _fmt,
    _versions,
    _z,
    summarise,
)

import collapse_jax as cj  # noqa: E402
import collapse_jax.chain as cj_chain  # noqa: E402
from collapse_jax import _blocking  # noqa: E402
from collapse_jax._blocking import ENV_BLOCK  # noqa: E402

K_SE = 5.0  # tolerance of every statistical check, in standard errors
DTYPE = "float32"
METRICS = ["mean", "log_var"]
G = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 1.0)

JAX_SWEEP = "jax_sweep"
JAX_SWEEP_UNBLOCKED = "jax_sweep_unblocked"
JAX_LOOP = "jax_run_chains_loop"
NP_VECTORISED = "numpy_vectorised"
PY_LOOP = "python_loop"
LABELS = {
    JAX_SWEEP: "JAX cj.sweep (1 program)",
    JAX_SWEEP_UNBLOCKED: "JAX cj.sweep, 1 call",
    JAX_LOOP: "JAX run_chains x P",
    NP_VECTORISED: "NumPy vectorised",
    PY_LOOP: "Python loop",
}


@dataclasses.dataclass(frozen=True)
class Config:
    fractions: tuple[float, ...]
    num_chains: int
    num_generations: int
    sample_size: int

    @property
    def points(self) -> int:
        return len(self.fractions)

    @property
    def chain_generations(self) -> int:
        return self.points * self.num_chains * self.num_generations

    @property
    def name(self) -> str:
        return (
            f"{self.points}x{self.num_chains}x{self.num_generations}, "
            f"M={self.sample_size}"
        )


# ----------------------------------------------------------------- implementations ---


def mix_weights(fraction, num_real: int, num_synthetic: int):
    """``cj.mix``'s per-point weights ``(a, b)`` for the real and synthetic parts.

    The real points carry the share ``f`` of the total weight and the larger of
    ``a``, ``b`` is one: ``a / b`` solves ``f = a R / (a R + b S)``.
    """
    f = np.asarray(fraction, np.float64)
    num_a = f * num_synthetic
    num_b = (1.0 - f) * num_real
    big = np.maximum(num_a, num_b)
    big = np.where(big > 0, big, 1.0)
    return num_a / big, num_b / big


def numpy_mix_chain(
    fractions,
    num_chains: int,
    num_generations: int,
    sample_size: int,
    seed: int,
    dtype: str = DTYPE,
) -> tuple[np.ndarray, np.ndarray]:
    """``cj.mix(f)`` with the real set ``D_0``, all ``(P, C)`` chains at once.

    Returns the final ``(mu, log_var)``, each ``(P, C)``. Chains are independent
    across fractions (``(P, C, M)`` draws per generation: the same number of draws as
    the sweep makes). Weighted unbiased fit, two-pass, in ``dtype``:
    ``m = sum(w x) / W``, ``var = sum(w (x - m)^2) / (W - 1)``.
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    m = sample_size
    a, b = mix_weights(np.asarray(fractions, np.float64), m, m)
    a = a.astype(dt)[:, None, None]  # (P, 1, 1)
    b = b.astype(dt)[:, None, None]
    shape = (len(fractions), num_chains, m)
    d0 = rng.standard_normal(shape, dtype=dt)  # generation 0: the truth N(0, 1)
    mu = d0.mean(axis=-1)
    log_var = np.log(d0.var(axis=-1, ddof=1))  # the first fit sees D_0 alone
    total = (a + b)[..., 0] * dt.type(m)  # (P, 1)
    real_sum = a[..., 0] * d0.sum(axis=-1)
    for _ in range(1, num_generations):
        sd = np.exp(dt.type(0.5) * log_var)
        x = mu[..., None] + sd[..., None] * rng.standard_normal(shape, dtype=dt)
        mean = (real_sum + b[..., 0] * x.sum(axis=-1)) / total
        c = mean[..., None]
        ss = a[..., 0] * np.sum((d0 - c) ** 2, axis=-1) + b[..., 0] * np.sum(
            (x - c) ** 2, axis=-1
        )
        mu = mean
        log_var = np.log(ss / (total - dt.type(1)))
    return mu, log_var


def numpy_accumulate_chain(
    num_chains: int,
    num_generations: int,
    sample_size: int,
    seed: int,
    dtype: str = DTYPE,
) -> tuple[np.ndarray, np.ndarray]:
    """``cj.accumulate()``: fit ``t + 1`` sees every draw so far, ``(C, (t+1) M)``."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    mu = np.zeros(num_chains, dt)
    log_var = np.zeros(num_chains, dt)
    pool = np.empty((num_chains, num_generations * sample_size), dt)
    for t in range(num_generations):
        sd = np.exp(dt.type(0.5) * log_var)
        z = rng.standard_normal((num_chains, sample_size), dtype=dt)
        pool[:, t * sample_size : (t + 1) * sample_size] = mu[:, None] + sd[:, None] * z
        seen = pool[:, : (t + 1) * sample_size]
        mu = seen.mean(axis=1)
        log_var = np.log(seen.var(axis=1, ddof=1))
    return mu, log_var


def python_loop_mix(
    fractions,
    chains_per_point: int,
    num_generations: int,
    sample_size: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The published style: one chain at a time, float64, ``np.average`` weights."""
    rng = np.random.default_rng(seed)
    m = sample_size
    mu_out = np.empty((len(fractions), chains_per_point))
    log_var_out = np.empty((len(fractions), chains_per_point))
    for p, f in enumerate(fractions):
        a, b = (float(v) for v in mix_weights(f, m, m))
        w = np.concatenate([np.full(m, a), np.full(m, b)])
        for c in range(chains_per_point):
            real = rng.normal(0.0, 1.0, m)
            mu, var = real.mean(), real.var(ddof=1)
            for _ in range(1, num_generations):
                x = np.concatenate([real, rng.normal(mu, math.sqrt(var), m)])
                mu = np.average(x, weights=w)
                var = np.sum(w * (x - mu) ** 2) / (w.sum() - 1)
            mu_out[p, c] = mu
            log_var_out[p, c] = math.log(var)
    return mu_out, log_var_out


def _sweep_kwargs(cfg: Config, seed: int) -> dict[str, Any]:
    return dict(
        key=seed,
        num_chains=cfg.num_chains,
        num_generations=cfg.num_generations,
        sample_size=cfg.sample_size,
        metrics=METRICS,
        record_params=False,
        dtype=DTYPE,
    )


def _last(metrics: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(metrics[name])[..., -1, 0].astype(np.float64)


def _jax_sweep(regime) -> Callable[[Config, int], dict[str, Any]]:
    def run(cfg: Config, seed: int) -> dict[str, Any]:
        sw = cj.sweep(
            G,
            TRUTH,
            regime=regime,
            over={"real_fraction": list(cfg.fractions)},
            **_sweep_kwargs(cfg, seed),
        )
        return {
            "mu": _last(sw.metrics, "mean"),
            "log_var": _last(sw.metrics, "log_var"),
            "raw": sw.metrics | {"status": sw.status},
            "failures": len(sw.failures()),
        }

    return run


def _unblocked(run: Callable[[Config, int], dict[str, Any]]):
    """``run`` with every chain in one compiled call (no CPU cache blocks,
    collapse_jax._blocking): the runner before blocks existed."""

    def unblocked(cfg: Config, seed: int) -> dict[str, Any]:
        old = os.environ.get(ENV_BLOCK)
        os.environ[ENV_BLOCK] = "off"
        try:
            return run(cfg, seed)
        finally:
            if old is None:
                del os.environ[ENV_BLOCK]
            else:
                os.environ[ENV_BLOCK] = old

    return unblocked


def _jax_loop(cfg: Config, seed: int) -> dict[str, Any]:
    outs = [
        cj.run_chains(G, TRUTH, regime=cj.mix(f), **_sweep_kwargs(cfg, seed))
        for f in cfg.fractions
    ]
    raw = {m: np.stack([o.metrics[m] for o in outs]) for m in METRICS}
    raw["status"] = np.stack([o.status for o in outs])
    return {
        "mu": _last(raw, "mean"),
        "log_var": _last(raw, "log_var"),
        "raw": raw,
        "failures": sum(len(o.failures()) for o in outs),
    }


def _numpy(cfg: Config, seed: int) -> dict[str, Any]:
    mu, log_var = numpy_mix_chain(
        cfg.fractions, cfg.num_chains, cfg.num_generations, cfg.sample_size, seed
    )
    return {"mu": mu.astype(np.float64), "log_var": log_var.astype(np.float64)}


def _loop(chains_per_point: int) -> Callable[[Config, int], dict[str, Any]]:
    def run(cfg: Config, seed: int) -> dict[str, Any]:
        mu, log_var = python_loop_mix(
            cfg.fractions, chains_per_point, cfg.num_generations, cfg.sample_size, seed
        )
        return {"mu": mu, "log_var": log_var}

    return run


# ------------------------------------------------------------------------ checks ---


def closed_form_replace(num_generations: int, sample_size: int) -> dict[str, float]:
    """Mean and variance of log sigma^2_N under replace (``f = 0``)."""
    a = (sample_size - 1) / 2
    return {
        "mean": num_generations * float(digamma(a) + math.log(2 / (sample_size - 1))),
        "var": num_generations * float(polygamma(1, a)),
    }


def _stats(mu: np.ndarray, log_var: np.ndarray) -> dict[str, Any]:
    return {"mu": summarise(mu), "log_var": summarise(log_var)}


def compare(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """z of the differences: mean of mu_N, mean and variance of log sigma^2_N."""
    z = {
        "z_mean_mu": _z(
            ours["mu"]["mean"] - ref["mu"]["mean"],
            math.hypot(ours["mu"]["se_mean"], ref["mu"]["se_mean"]),
        ),
        "z_mean_log_var": _z(
            ours["log_var"]["mean"] - ref["log_var"]["mean"],
            math.hypot(ours["log_var"]["se_mean"], ref["log_var"]["se_mean"]),
        ),
        "z_var_log_var": _z(
            ours["log_var"]["var"] - ref["log_var"]["var"],
            math.hypot(ours["log_var"]["se_var"], ref["log_var"]["se_var"]),
        ),
    }
    return z | {"passed": bool(all(abs(v) <= K_SE for v in z.values()))}


def check_statistics(
    cfg: Config, jax_out: dict[str, Any], np_out: dict[str, Any]
) -> dict[str, Any]:
    """(b): per fraction, the JAX sweep against the NumPy chain (and f = 0 against
    its closed form)."""
    points = []
    for p, f in enumerate(cfg.fractions):
        ours = _stats(jax_out["mu"][p], jax_out["log_var"][p])
        ref = _stats(np_out["mu"][p], np_out["log_var"][p])
        entry = {"fraction": f, "jax": ours, "numpy": ref, **compare(ours, ref)}
        if f == 0.0:
            cf = closed_form_replace(cfg.num_generations, cfg.sample_size)
            lv = ours["log_var"]
            entry["closed_form"] = cf
            entry["z_mean_log_var_vs_closed_form"] = _z(
                lv["mean"] - cf["mean"], lv["se_mean"]
            )
            entry["z_var_log_var_vs_closed_form"] = _z(
                lv["var"] - cf["var"], lv["se_var"]
            )
            entry["passed"] = entry["passed"] and all(
                abs(entry[k]) <= K_SE
                for k in (
                    "z_mean_log_var_vs_closed_form",
                    "z_var_log_var_vs_closed_form",
                )
            )
        points.append(entry)
    return {
        "points": points,
        "failures": jax_out["failures"],
        "passed": all(e["passed"] for e in points) and jax_out["failures"] == 0,
    }


def check_bitwise(sweep_out: dict[str, Any], loop_out: dict[str, Any]) -> dict:
    """(a): every sweep point is its own run_chains call, bit for bit."""
    mism = {
        k: int(np.sum(sweep_out["raw"][k] != loop_out["raw"][k]))
        for k in sweep_out["raw"]
    }
    same_shape = all(
        sweep_out["raw"][k].shape == loop_out["raw"][k].shape for k in sweep_out["raw"]
    )
    return {
        "compared": sorted(sweep_out["raw"]),
        "shape": list(sweep_out["raw"]["log_var"].shape),
        "mismatches": mism,
        "passed": same_shape and not any(mism.values()),
    }


def check_python_loop(cfg: Config, loop_out, np_out) -> dict[str, Any]:
    """Informational: the Python loop (few chains) against NumPy, per fraction."""
    points = []
    for p, f in enumerate(cfg.fractions):
        ours = _stats(loop_out["mu"][p], loop_out["log_var"][p])
        ref = _stats(np_out["mu"][p], np_out["log_var"][p])
        z = compare(ours, ref)
        points.append({"fraction": f, "n_chains": ours["mu"]["n_chains"], **z})
    return {
        "points": points,
        "max_abs_z": max(
            abs(e[k]) for e in points for k in ("z_mean_mu", "z_mean_log_var")
        ),
    }


def check_accumulate(
    num_chains: int, num_generations: int, sample_size: int, seed: int = 11
) -> dict[str, Any]:
    """(c): cj.accumulate() against the NumPy pool, final mu and log sigma^2."""
    t0 = time.perf_counter()
    res = cj.run_chains(
        G,
        TRUTH,
        regime=cj.accumulate(),
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=sample_size,
        metrics=METRICS,
        record_params=False,
        dtype=DTYPE,
    )
    t1 = time.perf_counter()
    mu, log_var = numpy_accumulate_chain(num_chains, num_generations, sample_size, seed)
    t2 = time.perf_counter()
    ours = _stats(_last(res.metrics, "mean"), _last(res.metrics, "log_var"))
    ref = _stats(mu.astype(np.float64), log_var.astype(np.float64))
    z = compare(ours, ref)
    failures = len(res.failures())
    return {
        "num_chains": num_chains,
        "num_generations": num_generations,
        "sample_size": sample_size,
        "jax": ours,
        "numpy": ref,
        **z,
        "failures": failures,
        "passed": z["passed"] and failures == 0,
        "jax_first_call_s": t1 - t0,
        "numpy_s": t2 - t1,
    }


def compile_probes(fractions) -> dict[str, Any]:
    """How many programs small runs compile (``_run_chunk`` cache growth)."""
    small = dict(
        num_chains=16,
        num_generations=2,
        sample_size=10,
        metrics=METRICS,
        record_params=False,
    )
    size = cj_chain._run_chunk._cache_size
    out: dict[str, Any] = {}

    before = size()
    for f in fractions:
        cj.run_chains(G, TRUTH, regime=cj.mix(f), key=0, **small)
    out["run_chains_fresh_mix_each_value"] = size() - before

    regimes = [cj.mix(f) for f in fractions]
    before = size()
    for _ in range(2):
        for r in regimes:
            cj.run_chains(G, TRUTH, regime=r, key=0, **small)
    out["run_chains_prebuilt_mix_objects_two_passes"] = size() - before

    before = size()
    for _ in range(2):
        cj.run_chains(G, TRUTH, regime=cj.mix(0.5), key=0, **small)
    out["run_chains_same_fraction_new_mix_object_twice"] = size() - before

    before = size()
    for _ in range(2):
        cj.sweep(
            G,
            TRUTH,
            regime=cj.mix(0.5),
            over={"real_fraction": fractions},
            key=0,
            **small,
        )
    out["sweep_new_mix_object_twice"] = size() - before

    reg = cj.mix(0.5)
    before = size()
    for f in (fractions, list(fractions)[::-1]):
        cj.sweep(G, TRUTH, regime=reg, over={"real_fraction": f}, key=0, **small)
    out["sweep_same_mix_object_other_values"] = size() - before
    return out


# ------------------------------------------------------------------------ timing ---


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def bench(cfg: Config, repeats: int, chains_per_point: int) -> dict[str, Any]:
    impls: dict[str, Callable] = {
        JAX_SWEEP: _jax_sweep(cj.mix(0.5)),  # the swept values replace 0.5
        JAX_SWEEP_UNBLOCKED: _unblocked(_jax_sweep(cj.mix(0.5))),
        JAX_LOOP: _jax_loop,
        NP_VECTORISED: _numpy,
        PY_LOOP: _loop(chains_per_point),
    }
    res: dict[str, Any] = {
        "fractions": list(cfg.fractions),
        "num_points": cfg.points,
        "num_chains": cfg.num_chains,
        "num_generations": cfg.num_generations,
        "sample_size": cfg.sample_size,
        "chain_generations": cfg.chain_generations,
        "implementations": {},
    }

    # First calls: compile (JAX), warm up, and give the results to check.
    first: dict[str, float] = {}
    outs: dict[str, dict] = {}
    programs: dict[str, int] = {}
    captures: dict[str, _CaptureRunChunk] = {}
    for name, fn in impls.items():
        print(f"    first call: {LABELS[name]} ...", flush=True)
        if name.startswith("jax"):
            cap = _CaptureRunChunk(cj_chain._run_chunk)
            before = cap.real._cache_size()
            cj_chain._run_chunk = cap
            try:
                first[name], outs[name] = _timed(fn, cfg, 0)
            finally:
                cj_chain._run_chunk = cap.real
            programs[name] = cap.real._cache_size() - before
            captures[name] = cap
        else:
            first[name], outs[name] = _timed(fn, cfg, 0)

    checks = {
        "bitwise_sweep_vs_run_chains": check_bitwise(outs[JAX_SWEEP], outs[JAX_LOOP]),
        "bitwise_blocked_vs_one_call": check_bitwise(
            outs[JAX_SWEEP], outs[JAX_SWEEP_UNBLOCKED]
        ),
        "sweep_vs_numpy": check_statistics(cfg, outs[JAX_SWEEP], outs[NP_VECTORISED]),
        "python_loop_vs_numpy_informational": check_python_loop(
            cfg, outs[PY_LOOP], outs[NP_VECTORISED]
        ),
    }
    checks["one_program"] = {
        "sweep_programs_compiled": programs[JAX_SWEEP],
        "passed": programs[JAX_SWEEP] == 1,
    }
    res["check"] = checks
    ok = {
        JAX_SWEEP: checks["sweep_vs_numpy"]["passed"]
        and checks["bitwise_sweep_vs_run_chains"]["passed"]
        and checks["one_program"]["passed"],
        JAX_SWEEP_UNBLOCKED: checks["bitwise_blocked_vs_one_call"]["passed"],
        JAX_LOOP: checks["bitwise_sweep_vs_run_chains"]["passed"]
        and outs[JAX_LOOP]["failures"] == 0,
        NP_VECTORISED: checks["sweep_vs_numpy"]["passed"],
        PY_LOOP: True,  # its check is informational (few chains)
    }

    # Steady state, interleaved; what failed its check is not timed.
    timed = [n for n in impls if ok[n]]
    times: dict[str, list[float]] = {n: [] for n in timed}
    grew: dict[str, int] = {n: 0 for n in timed}
    for r in range(1, repeats + 1):
        print(f"    steady state, repeat {r}/{repeats} ...", flush=True)
        for name in timed:
            before = cj_chain._run_chunk._cache_size()
            times[name].append(_timed(impls[name], cfg, r)[0])
            grew[name] += cj_chain._run_chunk._cache_size() - before

    for name in impls:
        loop = name == PY_LOOP
        cg = (
            cfg.points * chains_per_point * cfg.num_generations
            if loop
            else cfg.chain_generations
        )
        entry: dict[str, Any] = {
            "chain_generations": cg,
            "num_chains_timed": cfg.points
            * (chains_per_point if loop else cfg.num_chains),
            "first_call_s": first[name],
            "check_passed": ok[name],
        }
        if name in programs:
            entry["programs_compiled_first_call"] = programs[name]
        if name in times:
            med, mn = statistics.median(times[name]), min(times[name])
            entry |= {
                "times_s": times[name],
                "steady_median_s": med,
                "steady_min_s": mn,
                "chain_gens_per_s": cg / med,
                "chain_gens_per_s_best": cg / mn,
            }
            if name in programs:
                entry["first_minus_steady_s"] = first[name] - med
                entry["programs_compiled_steady"] = grew[name]
        res["implementations"][name] = entry

    # Compilation alone, cold (clears JAX's in-memory caches, so it runs last). The
    # loop's capture holds the first fraction's call: one of its P programs.
    for name, cap in captures.items():
        try:
            aot = _aot_compile(cap.args)
        except Exception as err:  # noqa: BLE001 - private API; report, don't fail
            aot = {"error": f"{type(err).__name__}: {err}"}
        res["implementations"][name]["aot"] = aot

    res["ratios"] = _ratios(res["implementations"])
    return res


def _ratios(impls: dict[str, Any]) -> dict[str, Any]:
    def rate(n):
        return impls.get(n, {}).get("chain_gens_per_s")

    out = {}
    for a, b in [
        (JAX_SWEEP, NP_VECTORISED),
        (JAX_SWEEP, JAX_LOOP),
        (JAX_SWEEP, JAX_SWEEP_UNBLOCKED),
        (JAX_SWEEP_UNBLOCKED, JAX_LOOP),
        (JAX_SWEEP, PY_LOOP),
        (JAX_LOOP, NP_VECTORISED),
        (NP_VECTORISED, PY_LOOP),
    ]:
        if rate(a) and rate(b):
            out[f"{a}/{b}"] = rate(a) / rate(b)
    fa, fb = impls[JAX_SWEEP]["first_call_s"], impls[JAX_LOOP]["first_call_s"]
    out["first_call_loop_over_sweep"] = fb / fa
    return out


# ------------------------------------------------------------------------ output ---


def format_table(res: dict[str, Any]) -> str:
    head = (
        f"| {'implementation':<26} | {'programs':>8} | {'compile s':>9} | "
        f"{'1st call s':>10} | {'median s':>8} | {'min s':>8} | "
        f"{'chain-gen/s':>11} | {'sweep vs':>8} | check |"
    )
    rule = "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"
    rows = [head, rule]
    sweep_rate = res["implementations"][JAX_SWEEP].get("chain_gens_per_s")
    for name, e in res["implementations"].items():
        label = LABELS[name]
        if name == PY_LOOP:
            label += f" ({e['num_chains_timed']} ch)"
        aot = e.get("aot") or {}
        rate = e.get("chain_gens_per_s")
        vs = sweep_rate / rate if (sweep_rate and rate and name != JAX_SWEEP) else None
        progs = e.get("programs_compiled_first_call")
        rows.append(
            f"| {label:<26} | {_fmt(progs, 'd', 8)} | "
            f"{_fmt(aot.get('compile_s'), '.2f', 9)} | "
            f"{_fmt(e['first_call_s'], '.3f', 10)} | "
            f"{_fmt(e.get('steady_median_s'), '.3f', 8)} | "
            f"{_fmt(e.get('steady_min_s'), '.3f', 8)} | "
            f"{_fmt(rate, '.3g', 11)} | "
            f"{_fmt(vs, '.2f', 7)}{'x' if vs is not None else ' '} | "
            f"{'ok' if e['check_passed'] else 'FAIL':<5} |"
        )
    return "\n".join(rows)


def format_checks(res: dict[str, Any], acc: dict[str, Any]) -> str:
    ch = res["check"]
    bw = ch["bitwise_sweep_vs_run_chains"]
    lines = [
        f"checks (|z| <= {K_SE}):",
        f"  (a) sweep point == run_chains, bitwise, {bw['compared']} "
        f"shape {bw['shape']}: mismatches {bw['mismatches']} "
        f"{'ok' if bw['passed'] else 'FAIL'}",
        f"  blocks of chains == one call, bitwise: mismatches "
        f"{ch['bitwise_blocked_vs_one_call']['mismatches']} "
        f"{'ok' if ch['bitwise_blocked_vs_one_call']['passed'] else 'FAIL'}",
        f"  one program: sweep compiled {ch['one_program']['sweep_programs_compiled']}"
        f" {'ok' if ch['one_program']['passed'] else 'FAIL'}",
        "  (b) sweep vs NumPy at the last generation: z of mean mu, mean log s2, "
        "var log s2",
    ]
    for e in ch["sweep_vs_numpy"]["points"]:
        extra = ""
        if "closed_form" in e:
            extra = (
                f"; vs closed form z {e['z_mean_log_var_vs_closed_form']:+.2f}, "
                f"{e['z_var_log_var_vs_closed_form']:+.2f}"
            )
        lines.append(
            f"    f={e['fraction']:.3f}: E log s2 {e['jax']['log_var']['mean']:+.4f} "
            f"(NumPy {e['numpy']['log_var']['mean']:+.4f}) z {e['z_mean_mu']:+.2f}, "
            f"{e['z_mean_log_var']:+.2f}, {e['z_var_log_var']:+.2f}{extra} "
            f"{'ok' if e['passed'] else 'FAIL'}"
        )
    lines.append(
        f"  (c) accumulate {acc['num_chains']}x{acc['num_generations']}, "
        f"M={acc['sample_size']}: E log s2 {acc['jax']['log_var']['mean']:+.4f} "
        f"(NumPy {acc['numpy']['log_var']['mean']:+.4f}) z {acc['z_mean_mu']:+.2f}, "
        f"{acc['z_mean_log_var']:+.2f}, {acc['z_var_log_var']:+.2f} "
        f"{'ok' if acc['passed'] else 'FAIL'}"
    )
    pl = ch["python_loop_vs_numpy_informational"]
    lines.append(
        f"  Python loop vs NumPy (informational, {pl['points'][0]['n_chains']} "
        f"chains per fraction): max |z| of the means {pl['max_abs_z']:.2f}"
    )
    return "\n".join(lines)


# -------------------------------------------------------------------------- main ---


def build_config(quick: bool) -> Config:
    fractions = tuple(float(f) for f in np.linspace(0.0, 0.875, 8))
    if quick:
        return Config(fractions, 256, 20, 100)
    return Config(fractions, 4096, 100, 100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument("--repeats", type=int, default=3, help="steady-state calls")
    parser.add_argument(
        "--loop-chains",
        type=int,
        default=None,
        help="Python-loop chains per fraction (8; 2 with --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    jax.config.update("jax_enable_compilation_cache", False)
    plat, kind, tag = _device_name()
    out_path = args.out or (
        Path(__file__).resolve().parent
        / "results"
        / f"regime_sweep_{tag}{'_quick' if args.quick else ''}.json"
    )
    chains_per_point = args.loop_chains or (2 if args.quick else 8)
    cfg = build_config(args.quick)
    acc_size = (512, 10, 20) if args.quick else (4096, 30, 50)

    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "regime_sweep",
        "description": (
            "1-D Gaussian chain, unbiased estimator, truth N(0, 1), cj.mix(f) with "
            "the real set D_0, swept over f by cj.sweep as one program"
        ),
        "target": "a sweep over the real-data fraction (>= 8 values) x 4,096 "
        "chains runs as one compiled program",
        "timestamp_utc": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "argv": sys.argv[1:] if argv is None else argv,
        "quick": args.quick,
        "versions": _versions(),
        "platform": plat,
        "device_kind": kind,
        "num_devices": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "load_average_start": list(os.getloadavg()),
        "dtype": DTYPE,
        "repeats": args.repeats,
        "k_se": K_SE,
        "loop_chains_per_fraction": chains_per_point,
        "recording": f"metrics={METRICS}, record_params=False",
    }
    print(
        f"regime_sweep benchmark on {plat} ({kind}), {os.cpu_count()} CPUs, {DTYPE}, "
        f"jax {jax.__version__}, repeats {args.repeats}; {cfg.name}",
        flush=True,
    )
    print("  compile probes (small runs) ...", flush=True)
    results["compile_probes"] = compile_probes(list(cfg.fractions))
    print(f"  accumulate check {acc_size} ...", flush=True)
    acc = check_accumulate(*acc_size)
    results["check_accumulate"] = acc
    print(f"  sweep {cfg.name} ...", flush=True)
    results["sweep"] = bench(cfg, args.repeats, chains_per_point)

    ch = results["sweep"]["check"]
    passed = (
        acc["passed"]
        and ch["bitwise_sweep_vs_run_chains"]["passed"]
        and ch["bitwise_blocked_vs_one_call"]["passed"]
        and ch["sweep_vs_numpy"]["passed"]
        and ch["one_program"]["passed"]
    )
    results["all_checks_passed"] = passed
    sweep_entry = results["sweep"]["implementations"][JAX_SWEEP]
    results["target_met"] = bool(
        passed
        and cfg.points >= 8
        and cfg.num_chains >= 4096
        and sweep_entry.get("programs_compiled_first_call") == 1
        and sweep_entry.get("programs_compiled_steady") == 0
    )
    ratios = results["sweep"]["ratios"]
    results["sweep_faster_than_loop"] = bool(
        passed and ratios.get(f"{JAX_SWEEP}/{JAX_LOOP}", 0.0) > 1.0
    )
    results["cpu_block"] = {
        # The plans of a run as wide as the sweep (points x chains) and of one
        # fraction's run (a call of the loop): blocks only where the chains' data
        # outgrow the largest cache.
        "chains_per_block": cj_chain.prepare(
            cj.run_spec(
                G,
                TRUTH,
                regime=cj.mix(0.5),
                **{
                    **_sweep_kwargs(cfg, 0),
                    "num_chains": cfg.points * cfg.num_chains,
                },
            )
        ).block,
        "chains_per_block_loop_call": cj_chain.prepare(
            cj.run_spec(G, TRUTH, regime=cj.mix(0.5), **_sweep_kwargs(cfg, 0))
        ).block,
        "largest_cache_bytes": _blocking.shared_cache_bytes(),
        "l2_cache_bytes": _blocking.cache_bytes(),
    }
    results["load_average_end"] = list(os.getloadavg())
    results["total_wall_s"] = time.perf_counter() - t_start

    print()
    print(format_table(results["sweep"]))
    print()
    print(
        "ratios (chain-gen/s): "
        + ", ".join(f"{k} {v:.2f}x" for k, v in results["sweep"]["ratios"].items())
    )
    print("compile probes (_run_chunk programs added):")
    for k, v in results["compile_probes"].items():
        print(f"  {k}: {v}")
    print()
    print(format_checks(results["sweep"], acc))
    print(
        f"\nCPU blocks: sweep {results['cpu_block']['chains_per_block']} chains, "
        f"a loop call {results['cpu_block']['chains_per_block_loop_call']} (L2 "
        f"{results['cpu_block']['l2_cache_bytes']} B, largest cache "
        f"{results['cpu_block']['largest_cache_bytes']} B); sweep faster than the "
        f"loop: "
        f"{'YES' if results['sweep_faster_than_loop'] else 'no'}"
    )
    print(
        f"\ntarget (>= 8 fractions x 4,096 chains as one program): "
        f"{'MET' if results['target_met'] else 'not met at these sizes'}"
    )
    print(
        f"load average start {results['load_average_start']}, "
        f"end {results['load_average_end']}; total {results['total_wall_s']:.0f} s"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out_path}")
    if not passed:
        print("FAILED: a correctness check did not pass", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
