"""Smoke runs of the benchmark scripts (``--quick``), in a subprocess.

The benchmarks set process-wide JAX options (compilation cache off), so they run in a
fresh interpreter; each must exit 0 (every correctness check passed) and write its
JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quick(tmp_path, script: str, *args: str) -> dict:
    """Run ``benchmarks/<script> --quick *args`` in a fresh interpreter; it must
    exit 0 (every check passed); return the JSON it wrote."""
    out = tmp_path / f"{Path(script).stem}_quick.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / script),
            "--quick",
            *args,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.slow  # ~20-30 s on 2 CPU cores (four compilations, sklearn loops)
def test_gmm_benchmark_quick(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("threadpoolctl")
    res = _quick(tmp_path, "gmm_chain.py", "--repeats", "1")
    assert res["all_checks_passed"]
    assert res["check_em_vs_sklearn"]["passed"]
    assert res["check_numpy_vs_ours"]["passed"]
    impls = res["configs"][0]["implementations"]
    for name in ("jax_em20", "jax_em5", "numpy_em5", "sklearn_fresh", "sklearn_warm"):
        assert impls[name]["chain_gens_per_s"] > 0


@pytest.mark.slow  # ~20-30 s on 2 CPU cores (two compilations, NumPy and loops)
def test_regime_sweep_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "regime_sweep.py", "--repeats", "1")
    assert res["all_checks_passed"]
    check = res["sweep"]["check"]
    assert check["bitwise_sweep_vs_run_chains"]["passed"]
    assert check["one_program"]["sweep_programs_compiled"] == 1
    assert res["check_accumulate"]["passed"]
    impls = res["sweep"]["implementations"]
    assert impls["jax_sweep"]["programs_compiled_steady"] == 0
    for name in ("jax_sweep", "jax_run_chains_loop", "numpy_vectorised", "python_loop"):
        assert impls[name]["chain_gens_per_s"] > 0


@pytest.mark.slow  # ~35 s on 2 CPU cores (two compilations, NumPy)
def test_web_sweep_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "web_sweep.py", "--repeats", "1")
    assert res["ok"]
    checks = res["checks"]
    assert checks["bitwise_sweep_vs_loop"]["points_differing"] == []
    assert checks["one_program"]["programs_added"] == 1
    assert len(checks["sweep_vs_theory"]["points"]) == 16  # 4 recalls x 4 shares
    for name in ("jax_sweep", "jax_run_chains_loop", "numpy_vectorised"):
        assert res["steady_median_s"][name] > 0


@pytest.mark.slow  # ~30-60 s on 2 CPU cores (two compilations, ceilings, NumPy)
def test_gaussian_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "gaussian_chain.py", "--repeats", "1")
    assert res["all_checks_passed"]
    ceilings = res["ceilings"]
    for name in ("words_per_s", "normals_per_s", "bandwidth_bytes_per_s"):
        assert ceilings[name] > 0
    impls = res["configs"][0]["implementations"]
    for name in ("jax_samples", "jax_sufficient"):
        assert 0 < impls[name]["floors"]["fraction_of_rng_floor"]
        assert impls[name]["chain_gens_per_s"] > 0


@pytest.mark.slow  # ~30 s on 2 CPU cores (three compilations and a child process)
def test_scale_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "scale.py")
    assert res["all_checks_passed"]
    run = res["scale"]
    assert run["recorded_generations"] == 5  # 0, 10, 20, 30, 40
    assert run["peak_rss_bytes"] > 0 and run["estimate_bytes"] > 0


@pytest.mark.slow  # a few seconds of I/O, plus the interpreter's start
def test_checkpoint_cost_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "checkpoint_cost.py", "--repeats", "1")
    assert res["all_checks_passed"]
    for row in res["rows"]:  # a part's size does not grow with the run
        assert row["part_mb"] == res["rows"][0]["part_mb"]
    assert res["rows"][-1]["rewrite_mb"] > 2 * res["rows"][0]["rewrite_mb"]


@pytest.mark.slow  # ~30-60 s on 2 CPU cores (two compilations, the published loops)
def test_published_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "published.py", "--repeats", "1")
    for r in res["results"]:
        assert all(c["passed"] for c in r["check"].values()), r["name"]
        for entry in r["implementations"].values():
            assert entry["chain_gens_per_s"] > 0


@pytest.mark.slow  # 1-4 min on 2 loaded CPU cores: compiling NUTS and SVI chains
def test_bayes_inference_benchmark_quick(tmp_path):
    res = _quick(tmp_path, "bayes_inference.py")
    assert res["ok"]
    assert set(res["gaussian"]) == {"exact", "nuts small", "svi small"}
    assert res["gaussian"]["exact"]["check"]["ok"]
    assert "diff_to_exact" in res["categorical"]["nuts small"]
