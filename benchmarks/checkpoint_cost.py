"""Checkpoint cost against run length: rewriting results.nc against appending a part.

Before issue 14 every checkpoint of ``run_experiment`` rewrote the whole results
file (``collapse_jax.io.save`` of all records so far: O(run)); now a checkpoint
appends one part file with the chunk's records (``collapse_jax.parts.write_part``:
O(chunk)). This script times both on records of the layout a Gaussian experiment
writes (per chain and generation: ``log_var`` and ``mean`` float32, ``status``
int32), for runs of growing length and a fixed chunk, in one process, interleaved.

Correctness first: results.nc written after the first chunk plus one part per later
chunk, read back by ``collapse_jax.load``, must equal the records bit for bit (the
law here is identity), for every size, before anything is timed.

The chain-state checkpoint (``checkpoint.npz``) is written in both schemes and is
O(chains): it is timed apart (``state_s``) for scale.

    python benchmarks/checkpoint_cost.py            # ~1-2 min on 2 cores
    python benchmarks/checkpoint_cost.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import collapse_jax as cj  # noqa: E402
from collapse_jax import io as cio  # noqa: E402
from collapse_jax import parts, rundir  # noqa: E402
from collapse_jax.records import RecordPoint, Records  # noqa: E402

REQUEST = {"experiment": "gaussian", "config": {"bench": True}, "seed": 0,
           "summary": None}


def records(num_chains: int, num_generations: int, seed: int = 0) -> Records:
    """Full records of one sweep point, random values (I/O does not care)."""
    rng = np.random.default_rng(seed)
    rec = Records([RecordPoint("M=100", {"sample_size": 100})], num_chains,
                  num_generations, None)
    n = num_generations + 1
    mets = {"log_var": rng.standard_normal((num_chains, n, 1)).astype(np.float32),
            "mean": rng.standard_normal((num_chains, n, 1)).astype(np.float32)}
    rec.put(0, 0, mets, None, np.zeros((num_chains, n), np.int32))
    return rec


def dataset(rec: Records, done: int):
    rec.done = [done]
    return rec.dataset(False, {"experiment": REQUEST["experiment"],
                               "config": json.dumps(REQUEST["config"]),
                               "seed": REQUEST["seed"], "run_config": "[null]"})


def key() -> str:
    return parts.run_key(REQUEST["experiment"], REQUEST["config"], REQUEST["seed"],
                         REQUEST["summary"])


def check(rec: Records, chunk: int, directory: pathlib.Path) -> bool:
    """results.nc after the first chunk + one part per later chunk == records."""
    cio.save(dataset(rec, chunk + 1), directory / "results.nc")
    n = rec.N + 1
    for i, lo in enumerate(range(chunk + 1, n, chunk)):
        parts.write_part(directory, i, rec, 0, lo, min(lo + chunk, n), None, key())
    got = cj.load(directory)
    ok = json.loads(got.attrs["generations_done"]) == [n]
    for name, arr in rec.arrays.items():
        ok &= got[name].values.tobytes() == arr.tobytes()
    parts.remove_parts(directory)
    return bool(ok)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", type=pathlib.Path, default=None)
    args = ap.parse_args()
    chains = 64 if args.quick else 256
    chunk = 50 if args.quick else 100
    lengths = [200, 800] if args.quick else [1000, 4000, 16000]
    out = args.out or ROOT / "benchmarks" / "results" / (
        "checkpoint_cost_cpu" + ("_quick" if args.quick else "") + ".json")
    load_start = os.getloadavg()
    rows, all_ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        for n in lengths:
            rec = records(chains, n)
            ok = check(rec, chunk, d)
            all_ok &= ok
            row = {"num_generations": n, "num_chains": chains, "chunk": chunk,
                   "check": ok, "records_mb": round(
                       sum(a.nbytes for a in rec.arrays.values()) / 2**20, 2)}
            if ok:
                # A checkpoint late in the run (the last chunk): the old scheme
                # saves every record so far, the new one the chunk.
                ds = dataset(rec, n + 1)
                full, part = [], []
                for r in range(args.repeats):  # interleaved
                    t = time.perf_counter()
                    cio.save(ds, d / "results.nc")
                    full.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    parts.write_part(d, r, rec, 0, n + 1 - chunk, n + 1, None, key())
                    part.append(time.perf_counter() - t)
                state = {"a": np.zeros((chains, 4), np.float32)}
                t = time.perf_counter()
                rundir.save_checkpoint(d, {**REQUEST}, 0, n, state)
                rewrite_mb = (d / "results.nc").stat().st_size / 2**20
                part_mb = parts.part_paths(d)[0].stat().st_size / 2**20
                # Bytes all checkpoints of such a run write (from these sizes):
                # the old scheme rewrote k chunks at checkpoint k, the new one
                # writes results.nc once (first chunk) and one part per later one.
                k = n // chunk
                per_chunk = rewrite_mb * chunk / (n + 1)
                row.update(rewrite_s=min(full), part_s=min(part),
                           rewrite_median_s=float(np.median(full)),
                           part_median_s=float(np.median(part)),
                           state_s=time.perf_counter() - t,
                           rewrite_mb=round(rewrite_mb, 2), part_mb=round(part_mb, 3),
                           run_checkpoints=k,
                           run_total_mb_rewrite=round(
                               per_chunk * k * (k + 1) / 2, 1),
                           run_total_mb_parts=round(per_chunk + (k - 1) * part_mb, 1),
                           speedup=min(full) / min(part))
                parts.remove_parts(d)
            rows.append(row)
            print(f"{n:>6} generations x {chains} chains, chunk {chunk}: "
                  + (f"rewrite {row['rewrite_s'] * 1e3:8.1f} ms "
                     f"(median {row['rewrite_median_s'] * 1e3:.1f}, "
                     f"{row['rewrite_mb']} MB), part {row['part_s'] * 1e3:6.1f} ms "
                     f"(median {row['part_median_s'] * 1e3:.1f}, {row['part_mb']} MB),"
                     f" x{row['speedup']:.1f}; chain state "
                     f"{row['state_s'] * 1e3:.1f} ms; all {row['run_checkpoints']} "
                     f"checkpoints write {row['run_total_mb_rewrite']} MB before, "
                     f"{row['run_total_mb_parts']} MB now"
                     if ok else "CHECK FAILED"),
                  flush=True)
    res = {"benchmark": "checkpoint_cost", "quick": args.quick, "rows": rows,
           "all_checks_passed": all_ok, "repeats": args.repeats,
           "timing": "min and median over repeats, interleaved; wall clock, fsync "
           "included (atomic writes)",
           "load_average_start": load_start, "load_average_end": os.getloadavg(),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "provenance": cio.provenance()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}; load average {load_start} -> {os.getloadavg()}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
