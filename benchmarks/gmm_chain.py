"""Benchmark: the 2-D GMM chain through ``cj.run_chains`` against scikit-learn's loop.

The chain of docs/theory.md SH-E2 (``collapse_jax.experiments.gmm_collapse``): a
two-component, full-covariance Gaussian mixture in 2-D (two well-separated
Gaussians), refitted by EM to ``M = 1000`` draws of the previous generation. Times,
in one process and after checking that the answers agree:

* **JAX** ``cj.run_chains(cj.gmm(2, dim=2, num_iters=I), ...)``: all chains at once
  (``vmap``), generations under ``lax.scan``, EM warm-started from the previous
  generation, a fixed ``I`` iterations: ``I = 20`` (the family's default) and
  ``I = 5`` (``gmm_collapse.NUM_ITERS``, the count whose last-iteration gain is
  already below scikit-learn's ``tol``; measured here).
* **scikit-learn, fresh** (the paper's notebook): per chain and generation a new
  ``GaussianMixture(n_components=2, covariance_type="full", tol=1e-5,
  max_iter=2000)`` (k-means start), ``fit``, then ``gm.sample(1000)``; a Python loop,
  one chain at a time, one BLAS thread (``threadpoolctl.threadpool_limits(1)``).
* **scikit-learn, warm**: the same with one ``warm_start=True`` estimator reused
  across a chain's generations (EM starts from the previous fit, as ours does).
* **NumPy batched**: scikit-learn's EM vectorised over chains (arrays ``(C, k, n,
  d)``), warm-started, the same fixed ``I`` iterations as its JAX twin, one thread.

Method (benchmarks/README.md, as ``gaussian_chain.py``):

* Correctness first. (a) ``em`` (the family's EM) from the same start as
  scikit-learn (``weights_init``, ``means_init``, ``precisions_init``) on a fixed
  data set gives scikit-learn's parameters, both after scikit-learn's own number of
  iterations at ``tol = 1e-5`` and at convergence; (b) the NumPy batched EM gives
  the same parameters as ``em`` on the same data and start after the same number of
  iterations; (c) the chains agree in law: after ``N`` generations, the mean and
  variance over chains of three statistics of the left component (log variance
  along x, log determinant, weight) agree with the scikit-learn fresh loop's within
  ``K_SE`` standard errors. A failed check skips that implementation's timing and
  makes the script exit 1.
* The first ``run_chains`` call of a configuration compiles (and gives the check's
  chains); steady state is the median and min of ``--repeats`` further calls (new
  seeds), interleaved with the baselines' calls. Compilation alone is timed last,
  cold (``jax.clear_caches()``), as ``_run_chunk.lower(...).compile()`` on the
  arguments ``run_chains`` passed; the persistent cache is off.
* scikit-learn runs a few chains for enough generations to give a stable rate
  (chain-generations per second do not depend on the number of chains of a loop).

Run ``python benchmarks/gmm_chain.py`` (under 10 minutes on 2 CPU cores),
``--quick`` for a smoke run (about a minute), ``--profile`` to also time the pieces
of one GMM generation and the alternatives named in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaussian_chain import (  # noqa: E402
    _aot_compile,
    _CaptureRunChunk,
    _cpu_model,
    _device_name,
    _fmt,
    _versions,
    _z,
)

import collapse_jax as cj  # noqa: E402
import collapse_jax.chain as cj_chain  # noqa: E402
from collapse_jax.experiments import gmm_collapse as exp  # noqa: E402
from collapse_jax.families.gmm import (  # noqa: E402
    em,
    gmm_params,
    gmm_weights_means_covs,
)

K_SE = 5.0  # tolerance of every statistical check, in standard errors
DTYPE = "float32"
SAMPLE_SIZE = 1000
TARGET = 50.0  # JAX at 256 chains >= 50x the scikit-learn loop (chain-generations/s)
SKLEARN_KW = dict(n_components=2, covariance_type="full", tol=1e-5, max_iter=2000)
REG_COVAR = exp.VARIANCE_FLOOR  # 1e-6, scikit-learn's default reg_covar
# Check (a)/(b): float32 EM against float64 references. Measured differences are
# ~3e-7 (float32 rounding); the tolerances leave a 30x margin.
TOL_PARAMS = 1e-5  # weights, means: absolute; covariances: relative to max |cov|
TOL_LOGLIK = 1e-5  # mean log-likelihood per point, absolute

JAX = "jax_em{}"
NUMPY = "numpy_em{}"
SK_FRESH = "sklearn_fresh"
SK_WARM = "sklearn_warm"


def _truth_np():
    t = exp.TRUTH
    return (
        np.asarray(t["weights"], np.float64),
        np.asarray(t["means"], np.float64),
        np.asarray(t["covs"], np.float64),
    )


@dataclasses.dataclass(frozen=True)
class Config:
    num_chains: int
    num_generations: int
    iters: tuple[int, ...]  # EM iteration counts of the JAX / NumPy implementations
    sklearn: bool = True  # time the scikit-learn loops and check against them

    @property
    def name(self) -> str:
        return f"{self.num_chains}x{self.num_generations}, M={SAMPLE_SIZE}"

    @property
    def chain_generations(self) -> int:
        return self.num_chains * self.num_generations


# ------------------------------------------------------------------ baselines ---

_LOG_2PI = math.log(2 * math.pi)


def numpy_batched_em(x, weights, means, covs, num_iters: int, reg_covar=REG_COVAR):
    """scikit-learn's EM for full covariances, vectorised over a leading chain axis.

    Args:
      x: ``(C, n, d)`` points; weights ``(C, k)``, means ``(C, k, d)``, covs
        ``(C, k, d, d)``: the start. Everything in ``x.dtype``.
      num_iters: E+M iterations (fixed, no stopping rule).

    Returns:
      ``((weights, means, covs), trace)``: the params after ``num_iters`` M-steps
      and the ``(C, num_iters + 1)`` mean log-likelihood per point (entry ``t``
      after ``t`` iterations), as ``em`` returns. The M-step is scikit-learn's
      (``nk + 10 eps``, covariance ``S_j + reg_covar I``).
    """
    c, n, d = x.shape
    dt = x.dtype
    eye = np.eye(d, dtype=dt)
    eps = 10 * np.finfo(dt).eps
    xk = x[:, None, :, :]  # (C, 1, n, d)
    trace = []
    for it in range(num_iters + 1):
        chol = np.linalg.cholesky(covs)  # (C, k, d, d)
        inv_t = np.swapaxes(np.linalg.inv(chol), -1, -2)
        y = (xk - means[:, :, None, :]) @ inv_t  # (C, k, n, d): L^-1 (x - mu)
        log_det = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)  # (C, k)
        const = np.log(weights) - log_det - 0.5 * d * _LOG_2PI
        lp = -0.5 * np.einsum("cknd,cknd->ckn", y, y) + const[:, :, None]
        top = lp.max(axis=1, keepdims=True)
        lse = np.log(np.exp(lp - top).sum(axis=1, keepdims=True)) + top  # (C,1,n)
        trace.append(lse[:, 0].mean(-1))
        if it == num_iters:
            break
        r = np.exp(lp - lse)  # (C, k, n) responsibilities
        nk = r.sum(-1) + eps  # (C, k)
        means = (r @ x) / nk[:, :, None]  # (C, k, d)
        diff = xk - means[:, :, None, :]  # (C, k, n, d)
        covs = (np.swapaxes(r[..., None] * diff, -1, -2) @ diff) / nk[
            :, :, None, None
        ] + reg_covar * eye
        weights = nk / n
    return (weights, means, covs), np.stack(trace, -1)


def numpy_batched_sample(rng, weights, means, covs, n: int):
    """``n`` draws per chain from ``(C,)`` mixtures: ``(C, n, d)`` in means.dtype."""
    c, k, d = means.shape
    dt = means.dtype
    cum = np.cumsum(weights, axis=-1)
    u = rng.random((c, n), dtype=dt)
    comp = (u[:, :, None] >= cum[:, None, :-1]).sum(-1)  # (C, n) in 0..k-1
    z = rng.standard_normal((c, n, d), dtype=dt)
    chol = np.linalg.cholesky(covs)
    xk = means[:, :, None, :] + z[:, None] @ np.swapaxes(chol, -1, -2)  # (C,k,n,d)
    return np.take_along_axis(xk, comp[:, None, :, None], axis=1)[:, 0]


def numpy_batched_chain(
    num_chains: int, num_generations: int, sample_size: int, seed: int, num_iters: int
):
    """The GMM chain with all chains at once, warm-started fixed-iteration EM.

    Starts from :data:`gmm_collapse.TRUTH`; returns the final ``(weights, means,
    covs)`` per chain (host arrays in ``DTYPE``)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(DTYPE)
    w, mu, cov = (np.broadcast_to(a, (num_chains,) + a.shape) for a in _truth_np())
    params = (w.astype(dt), mu.astype(dt), cov.astype(dt))
    for _ in range(num_generations):
        x = numpy_batched_sample(rng, *params, sample_size)
        params, _ = numpy_batched_em(x, *params, num_iters)
    return params


def sklearn_loop_chain(
    num_chains: int,
    num_generations: int,
    sample_size: int,
    seed: int,
    warm: bool,
):
    """The published loop: one chain at a time, ``GaussianMixture`` refitted per
    generation (a new estimator, or one ``warm_start=True`` estimator per chain),
    the next generation drawn by ``gm.sample``. Float64. Call it under
    ``threadpool_limits(1)``.

    Returns:
      ``(weights, means, covs)`` of every chain's last fit and the list of
      ``n_iter_`` of every fit.
    """
    from sklearn.mixture import GaussianMixture

    w_t, mu_t, cov_t = _truth_np()
    chol_t = np.linalg.cholesky(cov_t)
    out_w = np.empty((num_chains, 2))
    out_mu = np.empty((num_chains, 2, 2))
    out_cov = np.empty((num_chains, 2, 2, 2))
    n_iter = []
    for c in range(num_chains):
        rs = np.random.RandomState([seed, c])
        comp = rs.choice(2, size=sample_size, p=w_t)
        z = rs.standard_normal((sample_size, 2))
        x = mu_t[comp] + np.einsum("nab,nb->na", chol_t[comp], z)
        gm = None
        for _ in range(num_generations):
            if gm is None or not warm:
                gm = GaussianMixture(**SKLEARN_KW, warm_start=warm, random_state=rs)
            gm.fit(x)
            n_iter.append(int(gm.n_iter_))
            x, _ = gm.sample(sample_size)
        out_w[c], out_mu[c], out_cov[c] = gm.weights_, gm.means_, gm.covariances_
    return (out_w, out_mu, out_cov), n_iter


# ----------------------------------------------------------- implementations ---


def _run_jax(cfg: Config, num_iters: int, seed: int):
    res = cj.run_chains(
        exp.family(num_iters),
        exp.truth_params(),
        key=seed,
        num_chains=cfg.num_chains,
        num_generations=cfg.num_generations,
        sample_size=SAMPLE_SIZE,
        dtype=DTYPE,
        metrics=["em_gain"],
        record_params=False,
    )
    jax.block_until_ready(res.final_state)
    return res


def _jax_impl(num_iters: int) -> Callable[[Config, int], dict[str, Any]]:
    def run(cfg: Config, seed: int) -> dict[str, Any]:
        res = _run_jax(cfg, num_iters, seed)
        gain = np.abs(np.asarray(res.metrics["em_gain"][:, 1:], np.float64))
        return {
            "final": gmm_weights_means_covs(res.final_state.params),
            "failures": len(res.failures()),
            "em_gain_abs": gain,
        }

    return run


def _numpy_impl(num_iters: int) -> Callable[[Config, int], dict[str, Any]]:
    def run(cfg: Config, seed: int) -> dict[str, Any]:
        final = numpy_batched_chain(
            cfg.num_chains, cfg.num_generations, SAMPLE_SIZE, seed, num_iters
        )
        return {"final": final, "failures": 0}

    return run


def _sklearn_impl(num_chains: int, num_generations: int, warm: bool):
    def run(cfg: Config, seed: int) -> dict[str, Any]:
        final, n_iter = sklearn_loop_chain(
            num_chains, num_generations, SAMPLE_SIZE, seed, warm
        )
        return {"final": final, "failures": 0, "n_iter": n_iter}

    return run


# -------------------------------------------------------------------- checks ---


def _param_diffs(a, b) -> dict[str, float]:
    """Largest differences of (weights, means, covs): absolute, covs relative."""
    (wa, ma, ca), (wb, mb, cb) = a, b
    return {
        "weights": float(np.max(np.abs(np.asarray(wa) - wb))),
        "means": float(np.max(np.abs(np.asarray(ma) - mb))),
        "covs_rel": float(np.max(np.abs(np.asarray(ca) - cb)) / np.max(np.abs(cb))),
    }


def _draw_truth(rng, n: int) -> np.ndarray:
    w, mu, cov = _truth_np()
    comp = rng.choice(2, size=n, p=w)
    z = rng.standard_normal((n, 2))
    return mu[comp] + np.einsum("nab,nb->na", np.linalg.cholesky(cov)[comp], z)


# A start away from the answer, so that the fits take several iterations.
_START = dict(
    weights=np.array([0.3, 0.7]),
    means=np.array([[-1.0, 1.5], [1.0, -1.5]]),
    covs=np.array([np.eye(2) * 3.0, np.eye(2) * 2.0]),
)


def check_em_vs_sklearn() -> dict[str, Any]:
    """(a) ``em`` from scikit-learn's start on a fixed data set gives its params."""
    from sklearn.mixture import GaussianMixture

    x = _draw_truth(np.random.default_rng(1), SAMPLE_SIZE)
    init = gmm_params(**_START)
    out: dict[str, Any] = {
        "n": SAMPLE_SIZE,
        "start": {k: v.tolist() for k, v in _START.items()},
    }
    passed = True
    for label, tol, ours_iters in (
        ("sklearn tol=1e-5 (paper)", 1e-5, None),
        ("sklearn converged (tol=1e-12)", 1e-12, 200),
    ):
        gm = GaussianMixture(
            **(SKLEARN_KW | {"tol": tol}),
            weights_init=_START["weights"],
            means_init=_START["means"],
            precisions_init=np.linalg.inv(_START["covs"]),
        ).fit(x)
        iters = ours_iters or int(gm.n_iter_)
        params, trace = em(
            jnp.asarray(x, DTYPE), jnp.ones(SAMPLE_SIZE), init, iters, REG_COVAR
        )
        diffs = _param_diffs(
            gmm_weights_means_covs(params),
            (gm.weights_, gm.means_, gm.covariances_),
        )
        diffs["loglik"] = abs(float(trace[-1]) - float(gm.score(x)))
        ok = max(diffs["weights"], diffs["means"], diffs["covs_rel"]) <= TOL_PARAMS
        ok = ok and diffs["loglik"] <= TOL_LOGLIK
        passed &= ok
        out[label] = {
            "sklearn_n_iter": int(gm.n_iter_),
            "ours_num_iters": iters,
            "max_diff": diffs,
            "passed": bool(ok),
        }
    out["tolerances"] = {"params": TOL_PARAMS, "loglik": TOL_LOGLIK}
    out["passed"] = bool(passed)
    return out


def check_numpy_vs_ours(iters: tuple[int, ...], num_sets: int = 8) -> dict[str, Any]:
    """(b) the NumPy batched EM and ``em`` agree on the same data, start and
    number of iterations (float32 NumPy, as timed, and float64)."""
    rng = np.random.default_rng(2)
    x = np.stack([_draw_truth(rng, SAMPLE_SIZE) for _ in range(num_sets)])
    start = tuple(
        np.broadcast_to(_START[k], (num_sets,) + _START[k].shape)
        for k in ("weights", "means", "covs")
    )
    init = gmm_params(**_START)
    out: dict[str, Any] = {"num_data_sets": num_sets}
    passed = True
    for it in iters:
        batched_em = jax.vmap(
            lambda data, it=it: em(data, jnp.ones(SAMPLE_SIZE), init, it, REG_COVAR)
        )
        params, trace = batched_em(jnp.asarray(x, DTYPE))
        ours = gmm_weights_means_covs(params)
        for dtype in (DTYPE, "float64"):
            (w, m, c), tr = numpy_batched_em(
                x.astype(dtype), *(a.astype(dtype) for a in start), it
            )
            diffs = _param_diffs(ours, (w, m, c))
            diffs["loglik"] = float(np.max(np.abs(np.asarray(trace) - tr)))
            ok = max(diffs["weights"], diffs["means"], diffs["covs_rel"]) <= TOL_PARAMS
            ok = ok and diffs["loglik"] <= TOL_LOGLIK
            passed &= ok
            out[f"iters={it}, numpy {dtype}"] = {"max_diff": diffs, "passed": bool(ok)}
    out["passed"] = bool(passed)
    return out


def chain_statistics(final) -> dict[str, np.ndarray]:
    """Per chain: the left component's (smaller mean x) log variance along x, log
    determinant and weight (scikit-learn's fresh fits do not keep identities)."""
    w, mu, cov = (np.asarray(a, np.float64) for a in final)
    left = np.argmin(mu[:, :, 0], axis=1)
    idx = np.arange(w.shape[0])
    c = cov[idx, left]
    return {
        "log_var_x": np.log(c[:, 0, 0]),
        "log_det": np.log(np.linalg.det(c)),
        "weight": w[idx, left],
    }


def _moments(x: np.ndarray) -> dict[str, float]:
    n = x.shape[0]
    mean = float(np.mean(x))
    var = float(np.var(x, ddof=1))
    m4 = float(np.mean((x - mean) ** 4))
    return {
        "n_chains": n,
        "mean": mean,
        "var": var,
        "se_mean": math.sqrt(var / n),
        "se_var": math.sqrt(max(m4 - var**2, 0.0) / n),
    }


def check_chain_law(stats: dict[str, dict], reference: str) -> dict[str, Any]:
    """(c) mean and variance of each statistic against the reference's, in SE."""
    ref = stats[reference]
    out: dict[str, Any] = {"reference": reference, "k_se": K_SE, "impls": {}}
    for name, st in stats.items():
        entry: dict[str, Any] = {"failures": st["failures"], "z": {}}
        zs = []
        for key in ("log_var_x", "log_det", "weight"):
            a, b = st[key], ref[key]
            entry[key] = a
            if name != reference:
                zm = _z(a["mean"] - b["mean"], math.hypot(a["se_mean"], b["se_mean"]))
                zv = _z(a["var"] - b["var"], math.hypot(a["se_var"], b["se_var"]))
                entry["z"][key] = {"mean": zm, "var": zv}
                zs += [zm, zv]
        entry["passed"] = bool(all(abs(z) <= K_SE for z in zs)) and not st["failures"]
        out["impls"][name] = entry
    return out


def _summary_stats(out: dict[str, Any]) -> dict[str, Any]:
    stats = {k: _moments(v) for k, v in chain_statistics(out["final"]).items()}
    return stats | {"failures": out["failures"]}


# -------------------------------------------------------------------- timing ---


def _timed(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def _quantiles(x) -> dict[str, float]:
    x = np.asarray(x, np.float64).ravel()
    q = np.quantile(x, [0.5, 0.9, 0.99, 1.0])
    return {"mean": float(x.mean()), "p50": q[0], "p90": q[1], "p99": q[2], "max": q[3]}


def bench_config(cfg: Config, repeats: int, loop: tuple[int, int], check_chains: int):
    """Check, then time every implementation of one configuration (interleaved)."""
    from threadpoolctl import threadpool_limits

    impls: dict[str, Callable] = {}
    em_iters: dict[str, Any] = {}
    for it in cfg.iters:
        impls[JAX.format(it)] = _jax_impl(it)
        em_iters[JAX.format(it)] = it
    for it in cfg.iters:
        impls[NUMPY.format(it)] = _numpy_impl(it)
        em_iters[NUMPY.format(it)] = it
    if cfg.sklearn:
        impls[SK_FRESH] = _sklearn_impl(*loop, warm=False)
        impls[SK_WARM] = _sklearn_impl(*loop, warm=True)
    res: dict[str, Any] = {
        "num_chains": cfg.num_chains,
        "num_generations": cfg.num_generations,
        "sample_size": SAMPLE_SIZE,
        "chain_generations": cfg.chain_generations,
        "implementations": {},
    }

    # First calls: compile / warm up, and give the chains the check compares.
    first: dict[str, float] = {}
    captures: dict[str, _CaptureRunChunk] = {}
    stats: dict[str, dict] = {}
    extra: dict[str, dict] = {name: {} for name in impls}
    for name, fn in impls.items():
        if name.startswith("jax"):
            cap = _CaptureRunChunk(cj_chain._run_chunk)
            cj_chain._run_chunk = cap
            try:
                first[name], _, out = _timed(fn, cfg, 0)
            finally:
                cj_chain._run_chunk = cap.real
            captures[name] = cap
            gain = out["em_gain_abs"]
            extra[name]["em_gain_abs"] = _quantiles(gain)
            extra[name]["em_gain_below_sklearn_tol"] = float(
                np.mean(gain < SKLEARN_KW["tol"])
            )
        elif name.startswith("sklearn"):
            with threadpool_limits(1):
                first[name], _, out = _timed(fn, cfg, 0)
            continue  # the check uses its own, larger, scikit-learn run below
        else:
            with threadpool_limits(1):
                first[name], _, out = _timed(fn, cfg, 0)
        stats[name] = _summary_stats(out)
    if cfg.sklearn:
        for name, warm in ((SK_FRESH, False), (SK_WARM, True)):
            with threadpool_limits(1):
                wall, _, out = _timed(
                    _sklearn_impl(check_chains, cfg.num_generations, warm), cfg, 10_000
                )
            stats[name] = _summary_stats(out)
            extra[name]["check_run"] = {
                "num_chains": check_chains,
                "num_generations": cfg.num_generations,
                "wall_s": wall,
                "chain_gens_per_s": check_chains * cfg.num_generations / wall,
                "n_iter": _quantiles(out["n_iter"]),
            }
    reference = SK_FRESH if cfg.sklearn else JAX.format(cfg.iters[0])
    check = check_chain_law(stats, reference)
    res["check"] = check
    passed = {n: check["impls"][n]["passed"] for n in impls}

    # Steady state, interleaved; an implementation that failed its check is not timed.
    timed = [n for n in impls if passed[n]]
    times: dict[str, list[float]] = {n: [] for n in timed}
    cpu: dict[str, list[float]] = {n: [] for n in timed}
    n_iters: dict[str, list[int]] = {n: [] for n in timed}
    for r in range(1, repeats + 1):
        for name in timed:
            with threadpool_limits(1):
                wall, cpu_s, out = _timed(impls[name], cfg, r)
            times[name].append(wall)
            cpu[name].append(cpu_s)
            n_iters[name] += out.get("n_iter", [])

    for name in impls:
        loop_impl = name.startswith("sklearn")
        chains, gens = loop if loop_impl else (cfg.num_chains, cfg.num_generations)
        cg = chains * gens
        entry: dict[str, Any] = {
            "num_chains_timed": chains,
            "num_generations_timed": gens,
            "chain_generations": cg,
            "em_iters": em_iters.get(name, "to tol=1e-5"),
            "first_call_s": first[name],
            "check_passed": passed[name],
        } | extra[name]
        if name in times:
            med, mn = statistics.median(times[name]), min(times[name])
            entry |= {
                "times_s": times[name],
                "cpu_times_s": cpu[name],
                "steady_median_s": med,
                "steady_min_s": mn,
                "chain_gens_per_s": cg / med,
                "chain_gens_per_s_best": cg / mn,
                "cpu_median_s": statistics.median(cpu[name]),
                "cpu_per_wall": statistics.median(cpu[name]) / med,
                "chain_gens_per_cpu_s": cg / statistics.median(cpu[name]),
            }
            if n_iters[name]:
                entry["n_iter"] = _quantiles(n_iters[name])
            if name.startswith("jax"):
                entry["first_minus_steady_s"] = first[name] - med
        res["implementations"][name] = entry

    # Compilation alone, cold (clears JAX's in-memory caches, so it runs last).
    for name, cap in captures.items():
        try:
            aot = _aot_compile(cap.args)
        except Exception as err:  # noqa: BLE001 - private API; report, don't fail
            aot = {"error": f"{type(err).__name__}: {err}"}
        res["implementations"][name]["aot"] = aot
    res["ratios"] = _ratios(res["implementations"], cfg.iters)
    return res


def _rate(impls, name, key="chain_gens_per_s"):
    entry = impls.get(name)
    return None if entry is None or key not in entry else entry[key]


def _ratios(impls, iters) -> dict[str, Any]:
    """Throughput ratios (chain-generations/s of the first over the second): of
    the medians, of the best calls, and per CPU second (process time, all threads:
    XLA may use both cores, NumPy and scikit-learn run on one)."""
    pairs = []
    for it in iters:
        j, n = JAX.format(it), NUMPY.format(it)
        pairs += [(j, SK_FRESH), (j, SK_WARM), (j, n), (n, SK_FRESH)]
    out: dict[str, Any] = {}
    for a, b in pairs:
        ra, rb = _rate(impls, a), _rate(impls, b)
        best = "chain_gens_per_s_best"
        if ra and rb:
            out[f"{a}/{b}"] = {
                "median": ra / rb,
                "best": _rate(impls, a, best) / _rate(impls, b, best),
                "per_cpu_s": _rate(impls, a, "chain_gens_per_cpu_s")
                / _rate(impls, b, "chain_gens_per_cpu_s"),
            }
    return out


# ------------------------------------------------------------------ profiling ---


def profile_step(num_chains: int, repeats: int) -> dict[str, Any]:
    """Time the pieces of one GMM generation, ``vmap``-ed over ``num_chains`` chains
    (one jitted call each, min and median of ``repeats``), and the alternatives
    that ``benchmarks/README.md`` proposes. ms per call for all chains."""
    import importlib

    g = importlib.import_module("collapse_jax.families.gmm")
    from collapse_jax._reduce import tree_logsumexp, tree_sum
    from collapse_jax.metrics import _lq_lower, _scale_exp, _sum_small

    n, k, d = SAMPLE_SIZE, 2, 2
    fam = exp.family(20)
    p = fam.cast_params(exp.truth_params(), jnp.float32)
    params = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_chains,) + x.shape), p)
    keys = jax.random.split(jax.random.key(0), num_chains)
    w = jnp.ones((n,), jnp.float32)
    out: dict[str, Any] = {"num_chains": num_chains, "sample_size": n, "pieces": {}}

    def bench(name, f, *args):
        f = jax.jit(f)
        jax.block_until_ready(f(*args))
        ts, cs = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(*args))
            ts.append(time.perf_counter() - t0)
            cs.append(time.process_time() - c0)
        out["pieces"][name] = {
            "ms_median": 1e3 * statistics.median(ts),
            "ms_min": 1e3 * min(ts),
            "cpu_ms_median": 1e3 * statistics.median(cs),
            "cpu_ms_min": 1e3 * min(cs),
        }
        print(
            f"    {name:<58} {1e3 * min(ts):8.2f} ms, CPU {1e3 * min(cs):8.2f} ms",
            flush=True,
        )

    def draw(key, prm):
        return g._draw(key, prm, n)

    c, z = jax.jit(jax.vmap(draw))(keys, params)
    y, bad = jax.jit(jax.vmap(g._whiten_draws))(params, c, z)
    start = g._Iterate(
        jnp.full((num_chains, k), math.log(0.5)),
        jnp.zeros((num_chains, k, d)),
        jnp.full((num_chains, k, d), 0.05),
        jnp.broadcast_to(jnp.eye(d), (num_chains, k, d, d)),
        jnp.zeros((num_chains, k), bool),
        jnp.zeros((num_chains,), bool),
    )

    def estep(y, bad, s, it):
        return g._estep(y, bad, w, s, it)

    log_r, _, lost = jax.jit(jax.vmap(estep))(y, bad, params.chol_log_diag, start)
    floor = jax.jit(jax.vmap(lambda q: g._floor_block(q, REG_COVAR)))(params)

    def mstep(y, lr, fb, it, lost):
        return g._mstep(y, w, lr, fb, it, lost)

    def em_frames(iters):
        return jax.vmap(lambda y, b, q: g._em_frames(y, b, w, q, iters, REG_COVAR)[0])

    def refit(iters):
        f = exp.family(iters)
        return jax.vmap(lambda key, q: f.refit(key, key, q, w))

    print(f"  profile: {num_chains} chains, M = {n}, min of {repeats}", flush=True)
    bench("library: draw (categorical + normals)", jax.vmap(draw), keys, params)
    bench("library: _whiten_draws", jax.vmap(g._whiten_draws), params, c, z)
    bench(
        "library: E-step (_estep)", jax.vmap(estep), y, bad, params.chol_log_diag, start
    )
    bench("library: M-step (_mstep)", jax.vmap(mstep), y, log_r, floor, start, lost)
    for it in (5, 20):
        bench(f"library: _em_frames, {it} iterations", em_frames(it), y, bad, params)
        bench(f"library: refit, num_iters={it}", refit(it), keys, params)
    a = start.a
    u = y - start.m[:, None]
    bench(
        "  E-step piece: _scale_exp(u, -a) on (n, k, d)",
        jax.vmap(lambda u, a: _scale_exp(u, -a[None])),
        u,
        a,
    )
    bench(
        "  E-step piece: u * exp(-a), exp on the (k, d) table only",
        jax.vmap(lambda u, a: u * jnp.exp(-a)[None]),
        u,
        a,
    )
    bench(
        "  E-step piece: _scale_exp on the same data as (k, d, n)",
        jax.vmap(lambda u, a: _scale_exp(u, -a[..., None])),
        jnp.transpose(u, (0, 2, 3, 1)),
        a,
    )
    bench(
        "  M-step piece: tree_logsumexp(log_r, axis=0, b=w)",
        jax.vmap(lambda lr: tree_logsumexp(lr, axis=0, b=w[:, None])),
        log_r,
    )
    bt = jnp.concatenate([jnp.transpose(floor, (0, 3, 1, 2)), y], axis=1)
    bench("  M-step piece: _lq_lower on (n + d, k, d)", jax.vmap(_lq_lower), bt)

    # Suggested change 1: _whiten_draws without the gather (XLA fuses the
    # log/exp of _scale_exp that builds the (k, k, d, d) table into the gather, so
    # they run once per gathered element); a k-way select is bitwise equal.
    def whiten_select(prev, c, z):
        unit, s, mu = prev.chol_unit_lower, prev.chol_log_diag, prev.means
        cols = jnp.swapaxes(unit, -1, -2)[None, :, :, :]
        pp = g._solve_unit_lower(unit[:, None, None, :, :], cols)
        gt = _scale_exp(
            jnp.swapaxes(pp, -1, -2), s[None, :, None, :] - s[:, None, :, None]
        )
        q = g._solve_unit_lower(unit[:, None, :, :], mu[None, :, :] - mu[:, None, :])
        h = _scale_exp(q, -s[:, None, :])
        onehot = c[:, None] == jnp.arange(k, dtype=jnp.int32)[None, :]
        gc = jnp.zeros((c.shape[0], k, d, d), gt.dtype)
        hc = jnp.zeros((c.shape[0], k, d), h.dtype)
        for j in range(k):
            gc = jnp.where(onehot[:, j, None, None, None], gt[None, :, j], gc)
            hc = jnp.where(onehot[:, j, None, None], h[None, :, j], hc)
        yy = hc + _sum_small(gc * z[:, None, None, :], axis=-1)
        yy = jnp.where(onehot[:, :, None], z[:, None, :], yy)
        return g._sanitise(yy)

    bench(
        "suggested: _whiten_draws with a k-way select",
        jax.vmap(whiten_select),
        params,
        c,
        z,
    )
    lib = jax.jit(jax.vmap(g._whiten_draws))(params, c, z)
    alt = jax.jit(jax.vmap(whiten_select))(params, c, z)
    out["whiten_select_bitwise_equal"] = bool(
        jnp.all(lib[0] == alt[0]) & jnp.all(lib[1] == alt[1])
    )

    # Suggested change 2 on top of 1: x * exp(t) for _scale_exp(x, t) (the exp on
    # the small table only; no 0 * inf guard), patched into the module for this
    # measurement only: the library's refit with both changes, and how far its
    # fit moves (not bitwise: x * exp(t) rounds differently).
    lib_fit = jax.jit(refit(5))(keys, params)
    # gmm.py calls _whiten_draws; the E-step may live in another module
    # (families/_gmm_em.py): patch _scale_exp wherever the EM code looks it up.
    em_mod = sys.modules[g._estep.__module__]
    patched = [(g, "_whiten_draws", whiten_select)] + [
        (mod, "_scale_exp", lambda x, t: x * jnp.exp(t))
        for mod in {g, em_mod}
        if hasattr(mod, "_scale_exp")
    ]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in patched]
    for mod, name, new in patched:
        setattr(mod, name, new)
    try:
        for it in (5, 20):
            bench(
                f"suggested: refit with changes 1 + 2, num_iters={it}",
                refit(it),
                keys,
                params,
            )
        new_fit = jax.jit(refit(5))(keys, params)
    finally:
        for mod, name, old in saved:
            setattr(mod, name, old)
    out["changes_1_2_max_param_diff"] = _param_diffs(
        gmm_weights_means_covs(new_fit), gmm_weights_means_covs(lib_fit)
    )

    # Reference EM iterations (not library code; no frames, no log-space M-step),
    # to show what the layout costs: per-point arrays with n on the minor axis.
    x = jnp.asarray(
        np.stack([_draw_truth(np.random.default_rng(i), n) for i in range(8)]), DTYPE
    )
    x = jnp.tile(x, (num_chains // 8, 1, 1))
    w0 = jnp.full((num_chains, k), 0.5)
    mu0 = jnp.asarray(np.broadcast_to(_START["means"], (num_chains, k, d)), DTYPE)
    cov0 = jnp.asarray(np.broadcast_to(_START["covs"], (num_chains, k, d, d)), DTYPE)

    def plain_nkd(x, wt, mu, cov):  # (n, k, d), jnp.sum, Cholesky of formed cov
        chol = jnp.linalg.cholesky(cov + REG_COVAR * jnp.eye(d))
        diff = x[:, None, :] - mu[None]
        yy = jax.scipy.linalg.solve_triangular(chol[None], diff[..., None], lower=True)
        yy = yy[..., 0]
        logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), -1)
        lp = -0.5 * jnp.sum(yy * yy, -1) - logdet + jnp.log(wt) - 0.5 * d * _LOG_2PI
        lse = jax.nn.logsumexp(lp, axis=1)
        r = jnp.exp(lp - lse[:, None])
        nk = r.sum(0)
        mu = (r.T @ x) / nk[:, None]
        diff = x[:, None, :] - mu[None]
        cov = jnp.einsum("nk,nkd,nke->kde", r, diff, diff) / nk[:, None, None]
        return nk / n, mu, cov

    def make_kn(total):  # (k, n): each coordinate a row, closed-form 2x2 Cholesky
        def step(xt, wt, mu, cov):
            l11 = jnp.sqrt(cov[:, 0, 0] + REG_COVAR)
            l21 = cov[:, 1, 0] / l11
            l22 = jnp.sqrt(cov[:, 1, 1] + REG_COVAR - l21 * l21)
            y0 = (xt[0][None] - mu[:, 0, None]) / l11[:, None]
            y1 = (xt[1][None] - mu[:, 1, None] - l21[:, None] * y0) / l22[:, None]
            const = jnp.log(wt) - jnp.log(l11) - jnp.log(l22) - _LOG_2PI
            lp = -0.5 * (y0 * y0 + y1 * y1) + const[:, None]
            top = jnp.maximum(lp[0], lp[1])
            e = jnp.exp(lp - top)
            r = e / (e[0] + e[1])
            nk = total(r)
            m0, m1 = total(r * xt[0]) / nk, total(r * xt[1]) / nk
            e0, e1 = xt[0][None] - m0[:, None], xt[1][None] - m1[:, None]
            s00, s01 = total(r * e0 * e0) / nk, total(r * e0 * e1) / nk
            s11 = total(r * e1 * e1) / nk
            cov = jnp.stack([jnp.stack([s00, s01], -1), jnp.stack([s01, s11], -1)], -1)
            return nk / n, jnp.stack([m0, m1], -1), cov

        return step

    def scan_em(step, transpose, iters):
        def run(x, wt, mu, cov):
            xx = x.T if transpose else x

            def body(carry, _):
                return step(xx, *carry), None

            return jax.lax.scan(body, (wt, mu, cov), None, length=iters)[0]

        return jax.vmap(run)

    variants = {
        "reference EM: (n, k, d) layout, jnp.sum": (plain_nkd, False),
        "reference EM: (k, n) layout, jnp.sum": (make_kn(lambda a: a.sum(-1)), True),
        "reference EM: (k, n) layout, tree_sum": (
            make_kn(lambda a: tree_sum(a, axis=-1)),
            True,
        ),
    }
    for name, (step, transpose) in variants.items():
        for it in (5, 20):
            bench(
                f"{name}, {it} iterations",
                scan_em(step, transpose, it),
                x,
                w0,
                mu0,
                cov0,
            )
    pieces = out["pieces"]

    def slope(prefix):
        a5 = pieces[f"{prefix}, 5 iterations"]["cpu_ms_min"]
        a20 = pieces[f"{prefix}, 20 iterations"]["cpu_ms_min"]
        return (a20 - a5) / 15

    out["ms_per_em_iteration"] = {
        "library": slope("library: _em_frames"),
        **{name: slope(name) for name in variants},
    }
    return out


# ---------------------------------------------------------------------- output ---

LABELS = {
    SK_FRESH: "sklearn loop, fresh",
    SK_WARM: "sklearn loop, warm",
}


def _label(name: str, entry: dict) -> str:
    if name.startswith("jax"):
        return f"JAX run_chains, {entry['em_iters']} it"
    if name.startswith("numpy"):
        return f"NumPy batched, {entry['em_iters']} it"
    return LABELS[name] + f" ({entry['num_chains_timed']} ch)"


def format_table(results: dict[str, Any]) -> str:
    head = (
        f"| {'configuration':<17} | {'implementation':<27} | {'compile s':>9} | "
        f"{'1st call s':>10} | {'median s':>8} | {'min s':>8} | {'chain-gen/s':>11} | "
        f"{'vs sk fresh':>11} | {'vs sk warm':>10} | {'vs NumPy':>8} | "
        f"{'CPU/wall':>8} | {'per CPU-s':>9} | {'vs sk fresh':>11} | check |"
    )
    rule = "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"
    rows = [head, rule]
    for c in results["configs"]:
        name = f"{c['num_chains']}x{c['num_generations']}, M={c['sample_size']}"
        ratios = c["ratios"]
        for impl, e in c["implementations"].items():
            aot = e.get("aot") or {}
            r = {}
            for key, other in (
                ("fresh", SK_FRESH),
                ("warm", SK_WARM),
                ("numpy", impl.replace("jax", "numpy")),
            ):
                r[key] = ratios.get(f"{impl}/{other}", {}).get("median")
            if impl.startswith("numpy"):
                r["numpy"] = None
            r_cpu = ratios.get(f"{impl}/{SK_FRESH}", {}).get("per_cpu_s")

            def x(v, width):
                if v is None:
                    return f"{'-':>{width}}"
                spec = ".2f" if v < 10 else ".1f" if v < 100 else ".0f"
                return f"{format(v, spec):>{width - 1}}x"

            rows.append(
                f"| {name:<17} | {_label(impl, e):<27} | "
                f"{_fmt(aot.get('compile_s'), '.2f', 9)} | "
                f"{_fmt(e['first_call_s'], '.3f', 10)} | "
                f"{_fmt(e.get('steady_median_s'), '.3f', 8)} | "
                f"{_fmt(e.get('steady_min_s'), '.3f', 8)} | "
                f"{_fmt(e.get('chain_gens_per_s'), '.3g', 11)} | "
                f"{x(r['fresh'], 11)} | {x(r['warm'], 10)} | {x(r['numpy'], 8)} | "
                f"{_fmt(e.get('cpu_per_wall'), '.2f', 8)} | "
                f"{_fmt(e.get('chain_gens_per_cpu_s'), '.3g', 9)} | {x(r_cpu, 11)} | "
                f"{'ok' if e['check_passed'] else 'FAIL':<5} |"
            )
    return "\n".join(rows)


def format_details(results: dict[str, Any]) -> str:
    lines = []
    a = results["check_em_vs_sklearn"]
    lines.append(
        f"check (a) em vs sklearn, same start, n = {a['n']} "
        f"(tolerance {TOL_PARAMS:g}): {'ok' if a['passed'] else 'FAIL'}"
    )
    for label, v in a.items():
        if isinstance(v, dict) and "max_diff" in v:
            d = v["max_diff"]
            lines.append(
                f"    {label}: sklearn n_iter_ {v['sklearn_n_iter']}, ours "
                f"{v['ours_num_iters']} it; max diff weights {d['weights']:.1e}, means "
                f"{d['means']:.1e}, covs (rel) {d['covs_rel']:.1e}, loglik "
                f"{d['loglik']:.1e}"
            )
    b = results["check_numpy_vs_ours"]
    lines.append(
        f"check (b) NumPy batched EM vs em, {b['num_data_sets']} data sets: "
        f"{'ok' if b['passed'] else 'FAIL'}"
    )
    for label, v in b.items():
        if isinstance(v, dict):
            d = v["max_diff"]
            lines.append(
                f"    {label}: weights {d['weights']:.1e}, means {d['means']:.1e}, "
                f"covs (rel) {d['covs_rel']:.1e}, loglik {d['loglik']:.1e}"
            )
    for c in results["configs"]:
        ch = c["check"]
        lines.append(
            f"check (c) {c['num_chains']}x{c['num_generations']}: chain statistics "
            f"after {c['num_generations']} generations vs {ch['reference']} "
            f"(|z| <= {K_SE})"
        )
        for name, e in ch["impls"].items():
            parts = []
            for key in ("log_var_x", "log_det", "weight"):
                s = e[key]
                zz = e["z"].get(key)
                ztxt = f" z {zz['mean']:+.1f}/{zz['var']:+.1f}" if zz else ""
                parts.append(
                    f"{key} {s['mean']:+.4f} (sd {math.sqrt(s['var']):.3f}){ztxt}"
                )
            n_ch = e["log_var_x"]["n_chains"]
            lines.append(
                f"    {name:<14} n={n_ch:<5} "
                + "; ".join(parts)
                + f" {'ok' if e['passed'] else 'FAIL'}"
            )
        for name, e in c["implementations"].items():
            if "em_gain_abs" in e:
                q = e["em_gain_abs"]
                lines.append(
                    f"    {name}: last-iteration |em_gain| p50 {q['p50']:.1e}, p99 "
                    f"{q['p99']:.1e}, max {q['max']:.1e}; below sklearn tol "
                    f"{e['em_gain_below_sklearn_tol']:.2%}"
                )
            if "n_iter" in e:
                q = e["n_iter"]
                lines.append(
                    f"    {name}: n_iter_ mean {q['mean']:.2f}, p50 {q['p50']:.0f}, "
                    f"p90 {q['p90']:.0f}, max {q['max']:.0f}"
                )
    return "\n".join(lines)


def format_targets(results: dict[str, Any]) -> str:
    lines = []
    for c in results["configs"]:
        for it in c.get("iters", []):
            key = f"{JAX.format(it)}/{SK_FRESH}"
            if key in c["ratios"]:
                r = c["ratios"][key]["median"]
                r_cpu = c["ratios"][key]["per_cpu_s"]
                lines.append(
                    f"target {c['num_chains']} chains, JAX {it} it vs sklearn fresh: "
                    f"{r:.1f}x wall, {r_cpu:.1f}x per CPU second (target >= "
                    f"{TARGET:g}x) {'MET' if r >= TARGET else 'MISSED'}"
                )
    return "\n".join(lines)


def format_profile(prof: dict[str, Any]) -> str:
    lines = [
        f"profile: ms per call, {prof['num_chains']} chains, M = {prof['sample_size']}"
    ]
    for name, p in prof["pieces"].items():
        lines.append(
            f"  {name:<60} {p['ms_min']:8.2f} (median {p['ms_median']:.2f}), CPU "
            f"{p['cpu_ms_min']:8.2f}"
        )
    lines.append("  CPU ms per EM iteration (slope 5 -> 20 iterations):")
    for name, v in prof["ms_per_em_iteration"].items():
        lines.append(f"    {name:<58} {v:8.2f}")
    lines.append(
        f"  k-way select bitwise equal to _whiten_draws: "
        f"{prof['whiten_select_bitwise_equal']}"
    )
    d = prof["changes_1_2_max_param_diff"]
    lines.append(
        f"  refit with changes 1 + 2 vs library (5 it): max diff weights "
        f"{d['weights']:.1e}, means {d['means']:.1e}, covs (rel) {d['covs_rel']:.1e}"
    )
    return "\n".join(lines)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# ------------------------------------------------------------------------ main ---


# ------------------------------------------------- the notebook's chain (law) ---

NOTEBOOK_GENS = (1, 2, 5, 10, 20, 50, 100, 200)


def _notebook_jax(fam, num_chains: int, num_generations: int, seed: int):
    res = cj.run_chains(
        fam,
        exp.notebook_truth_params(),
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=SAMPLE_SIZE,
        dtype=DTYPE,
        metrics=["l2", "em_converged"],
        record_params=False,
    )
    jax.block_until_ready(res.final_state)
    return res


def _fit_iterations(num_chains: int, seed: int) -> dict[str, float]:
    """EM iterations of the default fit of generation 1 (from the notebook's
    generation 0), per chain: mean, max (the batch's while_loop runs the max)."""
    from collapse_jax.families._gmm_em import _fit_frames, _whiten_draws
    from collapse_jax.families.gmm import _draw

    p = cj.gmm(2, 2).cast_params(exp.notebook_truth_params(), jnp.float32)

    def one(key):
        ks, kf = jax.random.split(key)
        c, z = _draw(ks, p, SAMPLE_SIZE)
        y, bad = _whiten_draws(p, c, z)
        w = jnp.ones((SAMPLE_SIZE,), jnp.float32)
        return _fit_frames(kf, y, bad, w, p, None, True, 1e-5, 2000, REG_COVAR)[1]

    n = np.asarray(
        jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(seed), num_chains))
    )
    return {
        "mean": float(n.mean()),
        "median": float(np.median(n)),
        "max": int(n.max()),
        "min": int(n.min()),
    }


def bench_notebook(
    quick: bool, repeats: int, sizes: tuple[int, int, int] | None = None
) -> dict[str, Any]:
    """The paper's notebook chain (one 2-D blob, 2-component fit, k-means start,
    tol 1e-5): the law of ``cj.gmm(2, 2)``'s chain against scikit-learn's, then the
    speed of both. Law first: the mean over chains of log L2^2 to generation 0 at
    :data:`NOTEBOOK_GENS`, ours against scikit-learn's, z from both sides' SEs;
    also for the warm-started fits (converged, and the earlier default of 20
    iterations) to show the bias the k-means start removes."""
    from threadpoolctl import threadpool_limits

    chains, sk_chains, last = sizes or ((32, 4, 10) if quick else (256, 48, 200))
    gens = tuple(g for g in NOTEBOOK_GENS if g <= last)
    num_gens = max(gens)
    out: dict[str, Any] = {
        "generations": list(gens),
        "chains": chains,
        "sklearn_chains": sk_chains,
        "truth": exp.NOTEBOOK_TRUTH,
    }
    t0 = time.perf_counter()
    with threadpool_limits(1):
        sk = exp.sklearn_notebook_chain(sk_chains, gens, seed=1)
    sk_s = time.perf_counter() - t0
    sk_rate = sk_chains * num_gens / sk_s
    m_sk, s_sk = sk.mean(0), sk.std(0, ddof=1) / math.sqrt(sk_chains)
    out["sklearn"] = {
        "wall_s": sk_s,
        "chain_gens_per_s": sk_rate,
        "mean_log_l2sq": m_sk.tolist(),
        "se": s_sk.tolist(),
    }
    fams = {
        "jax_default": cj.gmm(2, 2),
        "jax_warm_converged": cj.gmm(2, 2, init="warm"),
        "jax_warm_20it": cj.gmm(2, 2, num_iters=20),
    }
    if quick:
        fams = {"jax_default": fams["jax_default"]}
    passed = True
    for name, fam in fams.items():
        t0 = time.perf_counter()
        res = _notebook_jax(fam, chains, num_gens, seed=0)
        first = time.perf_counter() - t0
        lg = 2 * np.log(np.asarray(res.metrics["l2"], np.float64)[:, list(gens)])
        m, se = lg.mean(0), lg.std(0, ddof=1) / math.sqrt(chains)
        z = (m - m_sk) / np.hypot(se, s_sk)
        entry: dict[str, Any] = {
            "mean_log_l2sq": m.tolist(),
            "se": se.tolist(),
            "z_vs_sklearn": z.tolist(),
            "failures": len(res.failures()),
            "non_converged_fits": int((~res.metrics["em_converged"][:, 1:]).sum()),
            "first_call_s": first,
        }
        if name == "jax_default":
            ok = bool(np.all(np.abs(z) <= K_SE)) and res.ok
            entry["passed"] = ok
            passed &= ok
            times = []
            if ok:  # timed only once its law is checked
                for r in range(repeats):
                    t0 = time.perf_counter()
                    _notebook_jax(fam, chains, num_gens, seed=100 + r)
                    times.append(time.perf_counter() - t0)
                med = statistics.median(times)
                entry |= {
                    "times_s": times,
                    "median_s": med,
                    "compile_s_estimate": first - med,
                    "chain_gens_per_s": chains * num_gens / med,
                    "vs_sklearn": chains * num_gens / med / sk_rate,
                    "fit_iterations_gen1": _fit_iterations(chains, 0),
                }
        out[name] = entry
        print(f"    {name}: {first:.1f} s first call", flush=True)
    out["passed"] = bool(passed)
    return out


def format_notebook(nb: dict[str, Any]) -> str:
    gens = nb["generations"]
    lines = [
        "notebook chain: mean log L2^2 to generation 0 (SE), z against scikit-learn",
        "| implementation | " + " | ".join(f"n={g}" for g in gens) + " |",
        "|---|" + "---|" * len(gens),
    ]
    sk = nb["sklearn"]
    lines.append(
        f"| sklearn fresh ({nb['sklearn_chains']} ch) | "
        + " | ".join(
            f"{m:.2f} ({s:.2f})"
            for m, s in zip(sk["mean_log_l2sq"], sk["se"], strict=True)
        )
        + " |"
    )
    for name in ("jax_default", "jax_warm_converged", "jax_warm_20it"):
        if name not in nb:
            continue
        e = nb[name]
        lines.append(
            f"| {name} ({nb['chains']} ch) | "
            + " | ".join(
                f"{m:.2f} (z {z:+.1f})"
                for m, z in zip(e["mean_log_l2sq"], e["z_vs_sklearn"], strict=True)
            )
            + " |"
        )
    d = nb["jax_default"]
    if "chain_gens_per_s" in d:
        lines.append(
            f"speed: jax_default {d['chain_gens_per_s']:.0f} chain-gen/s "
            f"(median of {len(d['times_s'])}, compile ~{d['compile_s_estimate']:.1f} s "
            f"apart), sklearn fresh loop {sk['chain_gens_per_s']:.1f} chain-gen/s "
            f"(one BLAS thread): {d['vs_sklearn']:.1f}x; EM iterations per fit at "
            f"generation 1: {d['fit_iterations_gen1']}"
        )
    return "\n".join(lines)


def build_configs(quick: bool, large: bool) -> list[Config]:
    if quick:
        return [Config(64, 3, (20, exp.NUM_ITERS))]
    configs = [Config(256, 20, (20, exp.NUM_ITERS))]
    if large:
        configs.append(Config(1024, 5, (20, exp.NUM_ITERS), sklearn=False))
    return configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (~1 min)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument("--repeats", type=int, default=3, help="steady-state calls")
    parser.add_argument(
        "--no-large", action="store_true", help="skip the 1,024-chain configuration"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also time the pieces of one generation"
    )
    parser.add_argument(
        "--profile-only", action="store_true", help="only the profile (no checks)"
    )
    parser.add_argument(
        "--notebook-only",
        action="store_true",
        help="only the notebook chain (one blob): law against scikit-learn, speed",
    )
    parser.add_argument(
        "--notebook-sizes",
        type=int,
        nargs=3,
        metavar=("CHAINS", "SKLEARN_CHAINS", "GENERATIONS"),
        default=None,
        help="sizes of --notebook-only (default 256 48 200; --quick 32 4 10)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    warnings.filterwarnings("ignore", module="sklearn")
    jax.config.update("jax_enable_compilation_cache", False)
    plat, kind, tag = _device_name()
    out_path = args.out or (
        Path(__file__).resolve().parent
        / "results"
        / f"gmm_chain_{tag}{'_quick' if args.quick else ''}.json"
    )
    loop = (2, 10) if args.quick else (4, 50)  # scikit-learn chains x generations
    check_chains = 32 if args.quick else 64
    configs = build_configs(args.quick, not args.no_large)

    import sklearn
    import threadpoolctl

    t_start = time.perf_counter()
    gmm_file = Path(cj.__file__).resolve().parent / "families" / "gmm.py"
    results: dict[str, Any] = {
        "benchmark": "gmm_chain",
        "description": (
            "2-component full-covariance GMM in 2-D (gmm_collapse.TRUTH), replace "
            f"regime, M = {SAMPLE_SIZE}, EM refit per generation"
        ),
        "timestamp_utc": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "argv": sys.argv[1:] if argv is None else argv,
        "quick": args.quick,
        "versions": _versions()
        | {
            "scikit-learn": sklearn.__version__,
            "threadpoolctl": threadpoolctl.__version__,
        },
        "gmm_py_sha256_16": _file_sha256(gmm_file),
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
        "truth": exp.TRUTH,
        "sklearn_kwargs": SKLEARN_KW,
        "variance_floor": REG_COVAR,
        "sklearn_loop": {"chains": loop[0], "generations": loop[1]},
        "sklearn_check_chains": check_chains,
        "blas_threads": 1,
        "recording": "metrics=['em_gain'], record_params=False (final params from "
        "final_state)",
        "target": f"JAX chain-gen/s >= {TARGET:g}x the scikit-learn loop at 256 chains",
        "configs": [],
    }
    print(
        f"gmm_chain benchmark on {plat} ({kind}), {os.cpu_count()} CPUs, {DTYPE}, "
        f"jax {jax.__version__}, scikit-learn {sklearn.__version__}, repeats "
        f"{args.repeats}",
        flush=True,
    )
    if args.profile_only:
        results["profile"] = profile_step(64 if args.quick else 256, 5)
        results["load_average_end"] = list(os.getloadavg())
        print()
        print(format_profile(results["profile"]))
        out_path = out_path.with_name(out_path.stem + "_profile.json")
        out_path.write_text(json.dumps(results, indent=2, default=_json_default))
        print(f"wrote {out_path}")
        return 0
    if args.notebook_only:
        print("  notebook chain ...", flush=True)
        sizes = tuple(args.notebook_sizes) if args.notebook_sizes else None
        nb = bench_notebook(args.quick, args.repeats, sizes)
        results["notebook"] = nb
        results["load_average_end"] = list(os.getloadavg())
        results["total_wall_s"] = time.perf_counter() - t_start
        print(format_notebook(nb))
        print(
            f"load average start {results['load_average_start']}, "
            f"end {results['load_average_end']}"
        )
        out_path = out_path.with_name(out_path.stem + "_notebook.json")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
        print(f"wrote {out_path}")
        return 0 if nb["passed"] else 1
    print("  check (a): em vs scikit-learn ...", flush=True)
    results["check_em_vs_sklearn"] = check_em_vs_sklearn()
    print("  check (b): NumPy batched EM vs em ...", flush=True)
    results["check_numpy_vs_ours"] = check_numpy_vs_ours(configs[0].iters)
    for cfg in configs:
        print(f"  running {cfg.name} ...", flush=True)
        c = bench_config(cfg, args.repeats, loop, check_chains)
        c["iters"] = list(cfg.iters)
        results["configs"].append(c)
    if args.profile:
        print("  profiling one generation ...", flush=True)
        results["profile"] = profile_step(64 if args.quick else 256, 5)

    passed = (
        results["check_em_vs_sklearn"]["passed"]
        and results["check_numpy_vs_ours"]["passed"]
        and all(
            e["passed"]
            for c in results["configs"]
            for e in c["check"]["impls"].values()
        )
    )
    results["all_checks_passed"] = bool(passed)
    results["load_average_end"] = list(os.getloadavg())
    results["total_wall_s"] = time.perf_counter() - t_start

    print()
    print(format_table(results))
    print()
    print(format_targets(results))
    print()
    print(format_details(results))
    if "profile" in results:
        print()
        print(format_profile(results["profile"]))
    print(
        f"\nload average start {results['load_average_start']}, "
        f"end {results['load_average_end']}; total {results['total_wall_s']:.0f} s"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    print(f"wrote {out_path}")
    if not passed:
        print("FAILED: a result disagrees with scikit-learn or NumPy", file=sys.stderr)
        return 1
    return 0


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x).__name__)


if __name__ == "__main__":
    sys.exit(main())
