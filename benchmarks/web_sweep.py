"""Benchmark: a recall x share-schedule sweep of the web regime as one program.

The issue's target: "A sweep over at least 4 recall values x 4 synthetic-share
schedules x 1,024 chains runs as one compiled program." The chain is the
categorical (K = 10, a Zipf truth ``p*_k ∝ 1/k``, ``M = 50`` items per
generation, float32) under ``cj.web(s, cj.detector(r, f))``: each item is
synthetic with probability ``s_t`` (a draw of the newest model), else human (a
fresh truth draw); a detector flags each synthetic item with probability ``r`` and
each human one with probability ``f = 0.05``; flagged items get weight 0; a
generation that keeps no item keeps its model. Points: recalls ``0, 0.5, 0.9,
0.99`` x schedules ``0.8`` (constant), ``cj.linear_share(0, 1)``,
``cj.logistic_share(N/2, 0.15)`` and a table (a sequence of ``N`` shares: ``0.3``
then ``0.9`` from ``N/2``).

``cj.sweep`` runs every point x every chain in one program; it is timed against

* a loop of ``P`` separate ``cj.run_chains(regime=cj.web(...))`` calls, one per
  point (the same chains: each call's result must equal its sweep point bit for
  bit, which is checked);
* the vectorised NumPy item-level chain of all ``P x C`` chains: per generation,
  ``(P, C, M)`` provenance, detection and category draws (inverse CDF), the kept
  counts by one-hot sums, the refit, float32 (the same law, not the same bits).

Correctness first (a failed check makes the script exit 1 before the timing):
(a) every point of the sweep equals its ``run_chains`` call bit for bit
(``D_t``, ``kept_synthetic_share`` and status of every generation); (b) at every
point the mean over chains of ``D_N = ||p_N - p*||^2`` agrees with the exact path
(``collapse_jax.theory.web.web_categorical_sq_error``, WB-2 with a share
schedule) within ``K_SE`` standard errors (SE from the chains), for the sweep and
for the NumPy chain; (c) the kept synthetic share, pooled over chains and
generations, agrees with ``effective_share(s_t, r, f)`` (WB-1) within ``K_SE``
SEs.

Timing: the first sweep call compiles (its time is reported apart, with the
number of programs it added: ``collapse_jax.chain._run_chunk._cache_size()``);
steady state is the median of ``--repeats`` further calls with new seeds (the key
is traced), interleaved with the baselines.

Run ``python benchmarks/web_sweep.py`` (16 x 1,024 x 50: about 6 minutes on 2 CPU
cores) or ``--quick`` (16 x 256 x 20). Results go to
``benchmarks/results/web_sweep_<device>[_quick].json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaussian_chain import _cpu_model, _device_name, _versions  # noqa: E402

import collapse_jax as cj  # noqa: E402
import collapse_jax.chain as cj_chain  # noqa: E402
from collapse_jax._reduce import tree_sum  # noqa: E402
from collapse_jax.regimes import _shares  # noqa: E402
from collapse_jax.theory import web as tw  # noqa: E402

K_SE = 5.0  # tolerance of every statistical check, in standard errors
K = 10
M = 50
FPR = 0.05
RECALLS = (0.0, 0.5, 0.9, 0.99)
TRUTH = (1.0 / np.arange(1, K + 1)) / (1.0 / np.arange(1, K + 1)).sum()
METRICS = ["kept_synthetic_share", "sq_error"]


def sq_error(params) -> jax.Array:
    """``||p - p*||^2`` of a categorical model (an ``extra_metrics`` entry).

    Summed by the library's fixed tree: ``jnp.sum``'s order depends on how XLA
    vectorises the batch, so a sweep point and its ``run_chains`` call would differ
    in the last bits of the metric although their models are the same bits.
    """
    d = params.probs - jnp.asarray(TRUTH, params.probs.dtype)
    return tree_sum(d * d)


EXTRA = {"sq_error": sq_error}


def schedules(num_generations: int) -> dict[str, Any]:
    """The four share schedules (labels -> the value ``cj.web`` takes)."""
    half = num_generations // 2
    table = tuple([0.3] * half + [0.9] * (num_generations - half))
    return {
        "constant 0.8": 0.8,
        "linear 0->1": cj.linear_share(0.0, 1.0),
        f"logistic mid {half}": cj.logistic_share(float(half), 0.15),
        f"table 0.3|0.9 at {half}": table,
    }


def points(num_generations: int) -> list[tuple[str, float, Any]]:
    """``(schedule label, recall, share)`` of every sweep point, schedule-major."""
    return [
        (label, r, share)
        for label, share in schedules(num_generations).items()
        for r in RECALLS
    ]


def _share_paths(pts, num_generations: int) -> np.ndarray:
    """``(P, N)`` float64: the share ``s_t`` of fit ``t`` at every point."""
    return np.stack(
        [
            _shares.share_values(
                _shares.share_vector("benchmark", "synthetic_share", s),
                num_generations,
            )
            for _, _, s in pts
        ]
    )


def numpy_web_chain(
    shares: np.ndarray, recalls: np.ndarray, num_chains: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The item-level web chain of every point and chain, vectorised, float32.

    Args:
        shares: ``(P, N)`` the share of each fit.
        recalls: ``(P,)`` the detector's recall at each point.
        num_chains: chains per point.
        seed: NumPy generator seed.

    Returns:
        ``(P, C, K)`` final probabilities and ``(P, C, N)`` kept synthetic shares
        (NaN where nothing was kept).
    """
    rng = np.random.default_rng(seed)
    p_count, n_gen = shares.shape
    f32 = np.float32
    truth_cdf = np.cumsum(TRUTH).astype(f32)
    probs = np.broadcast_to(TRUTH.astype(f32), (p_count, num_chains, K)).copy()
    kept_share = np.empty((p_count, num_chains, n_gen), f32)
    r = recalls.astype(f32)[:, None, None]
    classes = np.arange(K)
    for t in range(n_gen):
        s = shares[:, t].astype(f32)[:, None, None]
        synthetic = rng.random((p_count, num_chains, M), dtype=f32) < s
        flag = rng.random((p_count, num_chains, M), dtype=f32)
        kept = np.where(synthetic, flag >= r, flag >= FPR)
        u = rng.random((p_count, num_chains, M), dtype=f32)
        model_cdf = np.cumsum(probs, axis=-1)
        cdf = np.where(synthetic[..., None], model_cdf[:, :, None, :], truth_cdf)
        item = np.minimum((u[..., None] >= cdf).sum(-1), K - 1)
        counts = ((item[..., None] == classes) & kept[..., None]).sum(2).astype(f32)
        n = counts.sum(-1, keepdims=True)
        probs = np.where(n > 0, counts / np.maximum(n, 1), probs)
        n_syn = (synthetic & kept).sum(-1).astype(f32)
        with np.errstate(invalid="ignore", divide="ignore"):
            kept_share[..., t] = np.where(n[..., 0] > 0, n_syn / n[..., 0], np.nan)
    return probs, kept_share


def _run_kwargs(num_chains: int, num_generations: int, seed: int) -> dict[str, Any]:
    """What the sweep and every call of the loop share (so they run the same chains)."""
    return dict(
        key=seed,
        num_chains=num_chains,
        num_generations=num_generations,
        sample_size=M,
        sampler="samples",
        metrics=METRICS,
        extra_metrics=EXTRA,
    )


def _sweep(pts, num_chains: int, num_generations: int, seed: int):
    over = {
        "recall": [r for _, r, _ in pts],
        "synthetic_share": [s for _, _, s in pts],
    }
    return cj.sweep(
        cj.categorical(K),
        cj.categorical_params(TRUTH),
        regime=cj.web(0.5, cj.detector(0.5, FPR)),
        over=over,
        **_run_kwargs(num_chains, num_generations, seed),
    )


def _loop(pts, num_chains: int, num_generations: int, seed: int) -> list[Any]:
    return [
        cj.run_chains(
            cj.categorical(K),
            cj.categorical_params(TRUTH),
            regime=cj.web(s, cj.detector(r, FPR)),
            **_run_kwargs(num_chains, num_generations, seed),
        )
        for _, r, s in pts
    ]


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def check_bitwise(sw, loop) -> dict[str, Any]:
    bad = []
    for p, res in enumerate(loop):
        same = all(
            np.array_equal(sw.metrics[k][p], res.metrics[k], equal_nan=True)
            for k in ("sq_error", "kept_synthetic_share")
        ) and np.array_equal(sw.status[p], res.status)
        if not same:
            bad.append(p)
    return {"ok": not bad, "points_differing": bad, "points": len(loop)}


def check_theory(pts, final_sq_error, kept_share, num_generations: int) -> dict:
    """Mean D_N against WB-2 and the kept share against WB-1, per point."""
    paths = _share_paths(pts, num_generations)
    rows, ok = [], True
    for p, (label, r, _) in enumerate(pts):
        mean, se = _mean_se(final_sq_error[p])
        want = float(
            tw.web_categorical_sq_error(TRUTH, M, num_generations, paths[p], r, FPR)[-1]
        )
        x = np.asarray(kept_share[p], np.float64)
        eff = np.broadcast_to(tw.effective_share(paths[p], r, FPR), x.shape)
        keep = ~np.isnan(x)
        dev_mean, dev_se = _mean_se((x - eff)[keep])
        z_d, z_s = (mean - want) / se, dev_mean / dev_se
        good = abs(z_d) <= K_SE and abs(z_s) <= K_SE
        ok &= good
        rows.append(
            {
                "schedule": label,
                "recall": r,
                "mean_D_N": mean,
                "se": se,
                "exact_D_N": want,
                "z": z_d,
                "kept_share_minus_effective": dev_mean,
                "kept_share_z": z_s,
                "ok": bool(good),
            }
        )
    return {"ok": bool(ok), "k_se": K_SE, "points": rows}


def _median_time(fn, repeats: int, seeds) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(seeds[i])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(num_chains: int, num_generations: int, repeats: int) -> dict[str, Any]:
    pts = points(num_generations)
    paths = _share_paths(pts, num_generations)
    recalls = np.array([r for _, r, _ in pts])
    size = {
        "points": len(pts),
        "num_chains": num_chains,
        "num_generations": num_generations,
        "sample_size": M,
        "num_categories": K,
        "false_positive_rate": FPR,
        "chain_generations": len(pts) * num_chains * num_generations,
    }

    before = cj_chain._run_chunk._cache_size()
    t0 = time.perf_counter()
    sw = _sweep(pts, num_chains, num_generations, seed=0)
    first = time.perf_counter() - t0
    programs = cj_chain._run_chunk._cache_size() - before

    t0 = time.perf_counter()
    loop = _loop(pts, num_chains, num_generations, seed=0)
    loop_first = time.perf_counter() - t0

    t0 = time.perf_counter()
    np_probs, np_kept = numpy_web_chain(paths, recalls, num_chains, seed=0)
    np_first = time.perf_counter() - t0

    checks = {
        "bitwise_sweep_vs_loop": check_bitwise(sw, loop),
        "sweep_vs_theory": check_theory(
            pts,
            sw.metrics["sq_error"][:, :, -1],
            sw.metrics["kept_synthetic_share"][:, :, 1:],
            num_generations,
        ),
        "numpy_vs_theory": check_theory(
            pts, ((np_probs - TRUTH) ** 2).sum(-1), np_kept, num_generations
        ),
        "one_program": {"ok": programs == 1, "programs_added": programs},
    }
    out: dict[str, Any] = {"size": size, "checks": checks}
    if not all(c["ok"] for c in checks.values()):
        out["ok"] = False
        return out

    seeds = list(range(1, repeats + 1))
    steady = {"jax_sweep": [], "jax_run_chains_loop": [], "numpy_vectorised": []}
    for seed in seeds:  # interleaved: the load drifts alike for all three
        steady["jax_sweep"].append(
            _median_time(
                lambda k: _sweep(pts, num_chains, num_generations, k), 1, [seed]
            )
        )
        steady["jax_run_chains_loop"].append(
            _median_time(
                lambda k: _loop(pts, num_chains, num_generations, k), 1, [seed]
            )
        )
        steady["numpy_vectorised"].append(
            _median_time(
                lambda k: numpy_web_chain(paths, recalls, num_chains, k), 1, [seed]
            )
        )
    med = {k: statistics.median(v) for k, v in steady.items()}
    out.update(
        ok=True,
        first_call_s={
            "jax_sweep": first,
            "jax_run_chains_loop": loop_first,
            "numpy_vectorised": np_first,
        },
        compile_s_estimate={
            "jax_sweep": first - med["jax_sweep"],
            "jax_run_chains_loop": loop_first - med["jax_run_chains_loop"],
        },
        steady_median_s=med,
        steady_all_s=steady,
        ns_per_chain_generation={
            k: 1e9 * v / size["chain_generations"] for k, v in med.items()
        },
        speedup_vs_numpy=med["numpy_vectorised"] / med["jax_sweep"],
        speedup_vs_loop=med["jax_run_chains_loop"] / med["jax_sweep"],
    )
    return out


_ROW = (
    "    {schedule:>22} r={recall:<5} D_N {mean_D_N:.5f} ± {se:.5f} "
    "exact {exact_D_N:.5f} (z {z:+.2f}); kept share z {kept_share_z:+.2f}"
)


def format_report(res: dict[str, Any]) -> str:
    lines = []
    size = res["size"]
    lines.append(
        "web sweep: {points} points x {num_chains} chains x {num_generations} "
        "generations, M = {sample_size}, K = {num_categories}".format(**size)
    )
    for name, chk in res["checks"].items():
        lines.append(f"  check {name}: {'ok' if chk['ok'] else 'FAILED'}")
        rows = chk.get("points")
        for row in rows if isinstance(rows, list) else []:
            lines.append(_ROW.format(**row))
    if not res["ok"]:
        return "\n".join(lines)
    lines.append("  impl                  first call   steady (median)  ns/chain-gen")
    for k, v in res["steady_median_s"].items():
        lines.append(
            f"  {k:<22}{res['first_call_s'][k]:>9.2f} s {v:>12.2f} s "
            f"{res['ns_per_chain_generation'][k]:>12.0f}"
        )
    lines.append(
        f"  sweep: {res['checks']['one_program']['programs_added']} program; "
        f"{res['speedup_vs_numpy']:.2f}x NumPy, {res['speedup_vs_loop']:.2f}x the "
        "run_chains loop"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 x 256 chains x 20 gens")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    # Compile times are measured: no persistent cache (as regime_sweep.py).
    jax.config.update("jax_enable_compilation_cache", False)
    chains, gens = (256, 20) if args.quick else (1024, 50)
    res = bench(chains, gens, args.repeats)
    platform_, kind, tag = _device_name()
    res["machine"] = {
        "platform": platform_,
        "device": kind,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    res["versions"] = _versions()
    res["date"] = datetime.datetime.now(datetime.UTC).isoformat()
    print(format_report(res))
    out = args.out or (
        Path(__file__).resolve().parent
        / "results"
        / f"web_sweep_{tag}{'_quick' if args.quick else ''}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(f"wrote {out}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    jax.config.parse_flags_with_absl()
    sys.exit(main())
