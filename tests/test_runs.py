"""Runs of named experiments: results files, metadata, summaries, checkpoints, resume.

The kill test sends SIGKILL to a real ``collapse-jax run`` process mid-way, resumes
it and compares the results file with an uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import cli, io, runs
from collapse_jax.experiments import core

TINY = {"num_chains": 8, "num_generations": 12}


def assert_same_results(a, b):
    """Every variable bit for bit, every attribute but the volatile ones."""
    assert set(a.data_vars) == set(b.data_vars)
    assert set(a.coords) == set(b.coords)
    for name in list(a.data_vars) + list(a.coords):
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if x.dtype == object:
            assert x.tolist() == y.tolist(), name
        else:
            assert x.tobytes() == y.tobytes(), name
    keys = (set(a.attrs) | set(b.attrs)) - set(io.VOLATILE_ATTRS)
    for k in keys:
        assert a.attrs.get(k) == b.attrs.get(k), k


def gaussian(tmp_path, name="a", **kw):
    over = dict(TINY, sample_size=[10, 50])
    over.update(kw.pop("overrides", {}))
    return cj.run_experiment("gaussian", overrides=over, out=tmp_path / name,
                             figures=False, **kw)


# ------------------------------------------------------------ results files ---


def test_results_round_trip_through_load_with_metadata(tmp_path):
    run = gaussian(tmp_path, seed=7)
    ds = cj.load(run.directory)
    assert_same_results(ds, run.dataset)
    assert ds.attrs["complete"] == 1 and ds.attrs["kind"] == "chains"
    assert ds["log_var"].dims == ("sweep", "chain", "generation", "log_var_dim0")
    assert ds["log_var"].shape == (2, 8, 13, 1)
    assert list(ds["sweep"].values) == ["M=10", "M=50"]
    assert ds["sample_size"].values.tolist() == [10, 50]
    assert ds.attrs["seed"] == 7 and ds.attrs["experiment"] == "gaussian"
    config = json.loads(ds.attrs["config"])
    assert config["sample_size"] == [10, 50] and config["num_chains"] == 8
    versions = json.loads(ds.attrs["versions"])
    assert versions["collapse_jax"] == cj.__version__
    assert {"jax", "jaxlib", "numpy", "xarray", "python"} <= set(versions)
    assert ds.attrs["key_scheme_version"] == cj.KEY_SCHEME_VERSION
    assert "fold_in" in ds.attrs["key_scheme"]
    assert ds.attrs["device"].startswith("cpu") or ds.attrs["device"]
    assert ds.attrs["git_revision"]
    assert json.loads(ds.attrs["generations_done"]) == [13, 13]
    described = json.loads(ds.attrs["run_config"])
    assert [d["sample_size"][0] for d in described] == [10, 50]


def test_results_equal_direct_run_chains(tmp_path):
    # The runner adds no randomness of its own: point p is run_chains at its settings.
    run = gaussian(tmp_path, seed=3, overrides={"sampler": "samples"})
    for p, m in enumerate((10, 50)):
        ref = cj.run_chains(cj.gaussian(1), cj.gaussian_params(0.0, 1.0), key=3,
                            num_chains=8, num_generations=12, sample_size=m,
                            metrics=["mean", "log_var", "w2_sq"])
        for name in ("mean", "log_var", "w2_sq"):
            np.testing.assert_array_equal(run.dataset[name].values[p],
                                          ref.metrics[name])
        np.testing.assert_array_equal(run.dataset["status"].values[p], ref.status)


def test_rerun_from_a_results_files_metadata(tmp_path):
    first = cj.run_experiment(
        "categorical", preset="discrete-absorption",
        overrides={"num_chains": 16, "num_generations": 20, "sample_size": "5,20"},
        seed=11, out=tmp_path / "first", figures=False)
    ds = cj.load(first.results)
    again = cj.run_experiment(**cj.run_arguments(ds), out=tmp_path / "again",
                              figures=False)
    assert_same_results(ds.drop_attrs(), again.dataset.drop_attrs())
    np.testing.assert_array_equal(ds["gini_simpson"].values,
                                  again.dataset["gini_simpson"].values)


def test_chunk_size_does_not_change_results(tmp_path):
    a = gaussian(tmp_path, "a", chunk_size=5)
    b = gaussian(tmp_path, "b", chunk_size=12)
    assert_same_results(a.dataset.drop_attrs(), b.dataset.drop_attrs())


def test_summary_file_holds_quantiles_of_the_chains(tmp_path):
    q = (0.1, 0.5, 0.9)
    full = gaussian(tmp_path, "full", overrides={"num_chains": 40})
    small = gaussian(tmp_path, "small", overrides={"num_chains": 40}, summary=q)
    ds = small.dataset
    assert ds.attrs["kind"] == "summary" and "chain" not in ds.dims
    assert ds["log_var"].dims[:3] == ("sweep", "quantile", "generation")
    ref = io.summarize(full.dataset, q)
    for name in ("log_var", "log_var__mean", "w2_sq", "failed"):
        np.testing.assert_allclose(ds[name].values, ref[name].values, rtol=1e-12)
    x = full.dataset["w2_sq"].values
    np.testing.assert_allclose(ds["w2_sq"].sel(quantile=0.5).values,
                               np.median(x, axis=1), rtol=1e-6)
    assert cj.load(small.results).attrs["summary"] == json.dumps(list(q))


def test_summary_leaves_failed_chains_out():
    values = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    ok = np.ones((1, 4, 3), bool)
    ok[0, 3, 2] = False  # chain 3 failed at generation 2
    out = io.summary_arrays("x", values, ok, (0.5,))
    assert out["x__mean"][0] == ("sweep", "generation")
    assert out["x__mean"][1][0, 2] == np.mean(values[0, :3, 2])
    assert out["x"][1][0, 0, 2] == np.median(values[0, :3, 2])
    none_ok = io.summary_arrays("x", values, np.zeros_like(ok), (0.5,))
    assert np.isnan(none_ok["x__mean"][1]).all()


def test_an_interrupted_save_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    run = gaussian(tmp_path)
    before = run.results.read_bytes()

    def torn(self, path, **kw):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(run.dataset), "to_netcdf", torn)
    with pytest.raises(KeyboardInterrupt):
        io.save(run.dataset, run.results)
    assert run.results.read_bytes() == before
    assert [p.name for p in run.directory.iterdir() if p.name.startswith(".tmp")] == []


# ------------------------------------------------------------ resumption ---


class Stop(Exception):
    pass


@pytest.mark.parametrize("summary", [None, (0.25, 0.5, 0.75)])
def test_resume_after_an_interruption_gives_the_same_bits(tmp_path, summary):
    kw = dict(overrides={"num_generations": 30, "sampler": "samples"},
              chunk_size=4, checkpoint_interval=0, summary=summary)
    whole = gaussian(tmp_path, "whole", **kw)
    assert whole.resumed_from is None  # a fresh run
    calls = []

    def interrupt(done, total):  # stop inside the second sweep point
        calls.append(done)
        if done >= 30 + 12:
            raise Stop

    with pytest.raises(Stop):
        gaussian(tmp_path, "cut", progress=interrupt, **kw)
    partial = cj.load(tmp_path / "cut")
    assert partial.attrs["complete"] == 0
    assert json.loads(partial.attrs["generations_done"]) == [31, 13]
    resumed = cj.resume(tmp_path / "cut", figures=False)
    assert resumed.resumed_from == (1, 12)
    assert_same_results(whole.dataset, resumed.dataset)
    assert_same_results(cj.load(whole.results), cj.load(resumed.results))
    assert not (tmp_path / "cut" / runs.CHECKPOINT_FILE).exists()
    again = cj.resume(tmp_path / "cut", figures=False)  # complete: left as it is
    assert again.resumed_from is None
    assert_same_results(again.dataset, resumed.dataset)


def test_kill_a_real_run_then_resume_bit_for_bit(tmp_path):
    args = ["gaussian", "--sample-size", "10,30", "--num-chains", "16",
            "--num-generations", "300", "--sampler", "samples", "--chunk-size", "10",
            "--checkpoint-every", "0", "--no-figures", "--no-progress"]
    cmd = [sys.executable, "-m", "collapse_jax", "run", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    subprocess.run(cmd + ["-o", str(tmp_path / "whole")], check=True, env=env,
                   timeout=600, capture_output=True)
    proc = subprocess.Popen(cmd + ["-o", str(tmp_path / "cut")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "cut" / runs.CHECKPOINT_FILE
    deadline = time.monotonic() + 600
    meta = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if checkpoint.exists():
                try:
                    with np.load(checkpoint) as z:
                        meta = json.loads(str(z["meta"]))
                except (OSError, ValueError, KeyError):
                    meta = None  # replaced while we read it
                if meta is not None and meta["point"] == 1 and meta["done"] >= 50:
                    break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it was killed"
    partial = cj.load(tmp_path / "cut")  # never torn
    assert partial.attrs["complete"] == 0
    status = cli.main(["resume", str(tmp_path / "cut"), "--no-figures",
                       "--no-progress"])
    assert status == 0
    assert_same_results(cj.load(tmp_path / "whole"), cj.load(tmp_path / "cut"))


def test_devices_do_not_change_results(tmp_path):
    # Four virtual CPU devices in a fresh process: chains sharded 4 ways.
    code = f"""
import numpy as np, jax, collapse_jax as cj
assert jax.device_count() == 4
kw = dict(overrides={{"num_chains": 12, "num_generations": 9, "sample_size": [10, 40],
          "sampler": "samples"}}, figures=False)
a = cj.run_experiment("gaussian", out={str(tmp_path / 'one')!r}, **kw)
b = cj.run_experiment("gaussian", out={str(tmp_path / 'four')!r}, devices=4, **kw)
for v in a.dataset.data_vars:
    assert a.dataset[v].values.tobytes() == b.dataset[v].values.tobytes(), v
print("ok")
"""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


# ------------------------------------------------------------ bad input ---


def ov(name):
    """A field as the Python API names it in messages."""
    return f"overrides[{name!r}]"


@pytest.mark.parametrize("kwargs, error, words", [
    ({"experiment": "gausian"}, ValueError, ["experiment", "gaussian", "Did you mean"]),
    ({"preset": "no-such"}, ValueError, ["preset", "gaussian-drift"]),
    ({"preset": "discrete-absorption"}, ValueError, ["preset", "categorical"]),
    ({"overrides": {"num_chain": 4}}, ValueError, [ov("num_chain"), ov("num_chains")]),
    ({"overrides": {"num_chains": "four"}}, ValueError, [ov("num_chains"), "int"]),
    ({"overrides": {"num_chains": 2.5}}, TypeError, [ov("num_chains"), "int"]),
    ({"overrides": {"num_chains": 0}}, ValueError, [ov("num_chains"), "[1,"]),
    ({"overrides": {"sample_size": "10,x"}}, ValueError, [ov("sample_size"), "'x'"]),
    ({"overrides": {"sample_size": [1]}}, ValueError, [ov("sample_size"), "[2,"]),
    ({"overrides": {"estimator": "mel"}}, ValueError, [ov("estimator"), "'mle'"]),
    ({"overrides": {"growth": "cubic"}}, ValueError, [ov("growth"), "quadratic"]),
    ({"overrides": {"variance": float("nan")}}, ValueError, [ov("variance"), "finite"]),
    ({"overrides": {"dtype": "float16"}}, ValueError, [ov("dtype"), "float64"]),
    ({"overrides": {"regime": "mix", "sampler": "sufficient"}}, ValueError,
     [ov("sampler"), "overrides={'sampler': 'samples'}"]),
    ({"overrides": {"dim": 3, "sample_size": 3}}, ValueError, [ov("sample_size")]),
    ({"overrides": {"real_fraction": 0.3}}, ValueError,
     [ov("real_fraction"), "overrides={'regime': 'replace'}", "ignored"]),
    ({"scale": "huge"}, ValueError, ["scale", "full"]),
    ({"seed": -1}, ValueError, ["seed", "seed=0"]),
    ({"summary": (0.5, 2.0)}, ValueError, ["quantiles"]),
    ({"checkpoint_interval": -1}, ValueError,
     ["checkpoint_interval", "checkpoint_interval=60"]),
    ({"devices": 99}, ValueError, ["devices", "jax.device_count"]),
    ({"out": ""}, ValueError, ["out", "non-empty"]),
])
def test_bad_input_is_a_clear_error(tmp_path, kwargs, error, words):
    # Python names from Python: never a command-line flag (--num-chains).
    kwargs = {"out": tmp_path / "x", **kwargs}
    experiment = kwargs.pop("experiment", "gaussian")
    with pytest.raises(error) as exc:
        cj.run_experiment(experiment, figures=False, **kwargs)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))
    assert "--" not in str(exc.value), str(exc.value)
    assert not (tmp_path / "x" / "run.json").exists()


def test_an_output_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="out.*writ"):
        cj.run_experiment("gaussian", overrides=TINY, out=blocker / "run")


def test_an_output_directory_that_holds_a_run(tmp_path):
    gaussian(tmp_path, "a")
    with pytest.raises(ValueError, match="resume"):
        gaussian(tmp_path, "a")
    again = gaussian(tmp_path, "a", overwrite=True)
    assert again.dataset.attrs["complete"] == 1


def test_resume_on_a_directory_without_a_run(tmp_path):
    with pytest.raises(ValueError, match="holding run.json"):
        cj.resume(tmp_path)
    with pytest.raises(ValueError, match="run directory"):
        cj.resume(tmp_path / "missing")


def test_resume_on_a_run_of_another_version(tmp_path):
    run = gaussian(tmp_path)
    path = run.directory / runs.RUN_FILE
    request = json.loads(path.read_text())
    request["collapse_jax_version"] = "0.0.1"
    path.write_text(json.dumps(request))
    with pytest.raises(ValueError) as exc:
        cj.resume(run.directory)
    assert "0.0.1" in str(exc.value) and cj.__version__ in str(exc.value)
    request["collapse_jax_version"] = cj.__version__
    request["run_format"] = 99
    path.write_text(json.dumps(request))
    with pytest.raises(ValueError, match="run format 99"):
        cj.resume(run.directory)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        cj.resume(run.directory)


def test_load_refuses_what_is_not_a_results_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cj.load(tmp_path / "none.nc")
    bad = tmp_path / "bad.nc"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a results file"):
        cj.load(bad)


# ------------------------------------------------------------ presets ---


def test_every_preset_is_valid_at_both_scales_and_listed(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name, preset in core.presets().items():
        assert name in out
        for scale in core.SCALES:
            cfg = core.resolve_config(preset.experiment, preset=name, scale=scale)
            design = core.get_experiment(preset.experiment).build(cfg)
            assert len(design.points) >= 1
            for m, (_, curves, _) in design.theory.items():
                assert m in design.metrics
                assert all(np.shape(c) == (cfg["num_generations"] + 1,)
                           for c in curves)
    for name in core.experiments():
        assert name in out


def test_presets_reproduce_the_literatures_figures():
    names = set(core.presets())
    assert {"gaussian-drift", "theorem-3.1", "discrete-absorption", "sample-growth",
            "gmm", "regression-accumulate", "three-errors"} <= names
    drift = core.resolve_config("gaussian", preset="gaussian-drift")
    assert drift["sample_size"] == [100, 500, 1000, 10000]
    assert drift["num_generations"] == 1000
    assert core.resolve_config("gaussian", preset="gaussian-drift", scale="full")[
        "num_chains"] > drift["num_chains"]


def test_a_malformed_design_is_refused_before_anything_runs(tmp_path):
    exp = core.get_experiment("gaussian")
    good = exp.build(core.resolve_config("gaussian", overrides=TINY))
    cfg = core.resolve_config("gaussian", overrides=TINY)
    import dataclasses

    bad_curve = dataclasses.replace(good, theory={"log_var": ("x", [np.zeros(3)])})
    with pytest.raises(ValueError, match="theory"):
        runs.check_design(bad_curve, cfg)
    point = dataclasses.replace(good.points[0], options={"key": 1})
    with pytest.raises(ValueError, match="options"):
        runs.check_design(dataclasses.replace(good, points=(point,)), cfg)
    twice = dataclasses.replace(good, points=good.points * 2)
    with pytest.raises(ValueError, match="distinct labels"):
        runs.check_design(twice, cfg)
    runs.check_design(good, cfg)
