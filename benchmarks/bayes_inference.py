"""Benchmark: what each approximate inference adds to collapse (issue 15, item 3).

The posterior-sample learner of the 1-D Gaussian under the reference prior
``p(mu, sigma^2) ∝ 1/sigma^2`` has drift exactly 0 in ``log sigma^2`` (BL-1); the
same learner with the posterior fitted by NUTS or SVI (``cj.bayesian(...,
inference=...)``, collapse_jax/bayes/inferred.py) has an inference error, and this
script measures what it adds per generation. All learners run with the same seed,
so generation 1's data are the same draws for all of them (common random numbers;
later generations differ as the parameters do). Rows:

* ``exact``: ``cj.bayesian(cj.gaussian(), "posterior_sample")``;
* ``nuts small`` / ``nuts large``: NUTS with a small and a larger warm-up and kept
  budget (the last kept draw);
* ``svi small`` / ``svi large``: AutoNormal SVI (Adam, learning rate 0.01) with two
  step budgets, a draw from the fitted guide. The mean-field optimum of the guide
  (tests/test_bayes_inferred.py) predicts a drift of ``psi((M-1)/2) + log 2 -
  log(M-1) + 1/M`` per generation and a step variance ``psi'((M-1)/2) + 2/M``
  (the exact learner's: 0 and ``2 psi'((M-1)/2)``).

Per row: the drift per generation ``(log sigma^2_N - log sigma^2_0) / N`` (mean
over chains and its SE from the chains), its difference to the exact learner's
(paired by chain, SE of the paired difference), the step variance, and the cost
per generation per chain (steady state: a second call with a new seed; the first
call's extra time, mostly compilation, apart). Then the same for the categorical
(K = 3, Dirichlet(1/2)): ``E p_n`` of the first category against BL-5's
``a + lambda^n (p_0 - a)`` (``cj.theory.bayes.categorical_mean``) and the expected
homozygosity ``E sum_j p_j^2`` (BL-5h), which sees the spread the mean does not.

Correctness first: the exact learners must match their theory (Gaussian drift 0,
categorical ``E p_N``) within ``K_SE`` standard errors, or the script exits 1 and
times nothing else.

Run ``python benchmarks/bayes_inference.py`` (200 chains x 50 generations, about
10-15 minutes on 2 loaded CPU cores) or ``--quick`` (16 chains x 3 generations,
three rows each: 1-4 minutes on the loaded 2 cores, nearly all of it compiling NUTS
and SVI; a few seconds per row once compiled).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import digamma, polygamma

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaussian_chain import _device_name, _versions  # noqa: E402

import collapse_jax as cj  # noqa: E402
from collapse_jax.theory import bayes as tb  # noqa: E402

K_SE = 5.0
M = 20
P0 = (0.2, 0.3, 0.5)


def _inferences(quick: bool) -> dict:
    if quick:  # one small budget each: the compiles dominate
        return {"exact": None, "nuts small": cj.nuts(10, 2), "svi small": cj.svi(20)}
    return {
        "exact": None,
        "nuts small": cj.nuts(20, 5),
        "nuts large": cj.nuts(200, 20),
        "svi small": cj.svi(100),
        "svi large": cj.svi(1000),
    }


def _run(fam, truth, chains, gens, key):
    t0 = time.perf_counter()
    res = cj.run_chains(fam, truth, key=key, num_chains=chains,
                        num_generations=gens, sample_size=M, record_params=True)
    jax.block_until_ready(res.params)
    return res, time.perf_counter() - t0


def _timed(fam, truth, chains, gens, key):
    """The result of ``key`` and (first-call s, steady s): the steady call runs
    the same configuration with another seed (nothing recompiles)."""
    res, first = _run(fam, truth, chains, gens, key)
    _, steady = _run(fam, truth, chains, gens, key + 1000)
    return res, first, steady


def _mean_se(x):
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def gaussian(quick, chains, gens, key):
    truth = cj.gaussian_params(0.0, 1.0)
    a = (M - 1) / 2
    rows, base = {}, None
    for label, spec in _inferences(quick).items():
        fam = cj.bayesian(cj.gaussian(), "posterior_sample", inference=spec)
        res, first, steady = _timed(fam, truth, chains, gens, key)
        lv = np.asarray(res.metrics["log_var"], np.float64)
        drift = (lv[:, -1] - lv[:, 0]) / gens
        steps = np.diff(lv, axis=1)
        row = {
            "inference": repr(spec),
            "drift_per_gen": _mean_se(drift),
            "step_var": float(steps.var()),
            "finite_share": float(np.isfinite(lv[:, -1]).mean()),
            "first_call_s": first,
            "steady_s": steady,
            "us_per_chain_gen": 1e6 * steady / (chains * gens),
        }
        if base is None:
            base = drift
            ok = abs(row["drift_per_gen"][0]) <= K_SE * row["drift_per_gen"][1]
            row["check"] = {"theory_drift": 0.0, "ok": bool(ok)}
            if not ok:
                return rows | {label: row}, False
        else:
            row["diff_to_exact"] = _mean_se(drift - base)
        if spec is not None and spec.kind == "svi":
            row["mean_field_drift"] = float(
                digamma(a) + math.log(2) - math.log(M - 1) + 1 / M
            )
            row["mean_field_step_var"] = float(polygamma(1, a) + 2 / M)
        else:
            row["exact_step_var"] = float(2 * polygamma(1, a))
        rows[label] = row
        print(_line(label, row), flush=True)
    return rows, True


def categorical(quick, chains, gens, key):
    truth = cj.categorical_params(list(P0))
    want = float(tb.categorical_mean(list(P0), 0.5, M, gens)[0])
    at = sorted({1, min(5, gens), gens})  # p_n relaxes to 1/3 as (M/(M+A))^n
    rows, base, base_probs = {}, None, None
    for label, spec in _inferences(quick).items():
        fam = cj.bayesian(cj.categorical(3), "posterior_sample", inference=spec)
        res, first, steady = _timed(fam, truth, chains, gens, key)
        all_probs = np.asarray(res.params.probs, np.float64)
        probs = all_probs[:, :, 0]
        p = probs[:, -1]
        row = {
            "inference": repr(spec),
            "p_N": _mean_se(p),
            "theory_p_N": want,
            "p_n": {n: _mean_se(probs[:, n]) for n in at},
            "theory_p_n": {
                n: float(tb.categorical_mean(list(P0), 0.5, M, n)[0]) for n in at
            },
            # E sum_j p_j^2: the spread the mean does not see (BL-5h).
            "homozygosity_n": {
                n: _mean_se(np.sum(all_probs[:, n] ** 2, axis=-1)) for n in at
            },
            "theory_homozygosity_n": {
                n: float(tb.categorical_expected_homozygosity(list(P0), 0.5, M, n))
                for n in at
            },
            "first_call_s": first,
            "steady_s": steady,
            "us_per_chain_gen": 1e6 * steady / (chains * gens),
        }
        if base is None:
            base, base_probs = p, probs
            ok = abs(row["p_N"][0] - want) <= K_SE * row["p_N"][1]
            row["check"] = {"ok": bool(ok)}
            if not ok:
                return rows | {label: row}, False
        else:
            row["diff_to_exact"] = _mean_se(p - base)
            row["diff_to_exact_n"] = {
                n: _mean_se(probs[:, n] - base_probs[:, n]) for n in at
            }
        rows[label] = row
        print(_line(label, row, "p_N"), flush=True)
        print("    E p_n " + ", ".join(
            f"n={n}: {row['p_n'][n][0]:.4f} ± {row['p_n'][n][1]:.4f} "
            f"(theory {row['theory_p_n'][n]:.4f})" for n in at), flush=True)
        print("    E sum p^2 " + ", ".join(
            f"n={n}: {row['homozygosity_n'][n][0]:.4f} ± "
            f"{row['homozygosity_n'][n][1]:.4f} "
            f"(theory {row['theory_homozygosity_n'][n]:.4f})" for n in at),
            flush=True)
    return rows, True


def _line(label, row, what="drift_per_gen"):
    m, se = row[what]
    diff = row.get("diff_to_exact")
    d = "" if diff is None else f"  diff {diff[0]:+.4f} ± {diff[1]:.4f}"
    return (f"  {label:11s} {what} {m:+.4f} ± {se:.4f}{d}  "
            f"{row['us_per_chain_gen']:.0f} µs/chain-gen "
            f"(first call {row['first_call_s']:.1f} s, steady {row['steady_s']:.1f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    chains = args.chains or (16 if args.quick else 200)
    gens = args.generations or (3 if args.quick else 50)
    plat, kind, tag = _device_name()
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parent / "results"
        / f"bayes_inference_{tag}{'_quick' if args.quick else ''}.json")
    results = {
        "benchmark": "bayes_inference",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": {"platform": plat, "kind": kind},
        "versions": _versions(),
        "quick": args.quick,
        "sample_size": M,
        "chains": chains,
        "generations": gens,
        "load_average_start": list(os.getloadavg()),
    }
    print(f"Gaussian, reference prior, M = {M}, {chains} chains x {gens} generations "
          f"(load {os.getloadavg()[0]:.1f})")
    results["gaussian"], ok = gaussian(args.quick, chains, gens, key=11)
    if ok:
        print(f"categorical K = 3, Dirichlet(1/2), p_0 = {P0}, M = {M}")
        results["categorical"], ok = categorical(args.quick, chains, gens, key=12)
    results["ok"] = ok
    results["load_average_end"] = list(os.getloadavg())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}" + ("" if ok else " (a correctness check FAILED)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
