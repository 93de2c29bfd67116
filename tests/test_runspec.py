"""The run spec (one frozen description every runner builds) and the one results path
(ChainResult.to_dataset, the layout an experiment's results file has)."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

import jax

import collapse_jax as cj
from collapse_jax import chain, runspec
from collapse_jax.experiments import core

TRUTH = cj.gaussian_params(0.5, 2.0)
ARGS = dict(key=3, num_chains=6, num_generations=4, sample_size=12)


def _leaves(tree):
    return jax.tree.leaves(tree)


def _assert_same_run(a: cj.ChainResult, b: cj.ChainResult) -> None:
    assert sorted(a.metrics) == sorted(b.metrics)
    for m in a.metrics:
        np.testing.assert_array_equal(a.metrics[m], b.metrics[m], m)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.chain_ids, b.chain_ids)
    for x, y in zip(_leaves(a.params), _leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ the spec ---


def test_run_spec_runs_the_same_bits_as_run_chains():
    regime = cj.mix(0.25)
    spec = cj.run_spec(cj.gaussian(), TRUTH, regime=regime, **ARGS)
    _assert_same_run(spec.run(), cj.run_chains(cj.gaussian(), TRUTH, regime=regime,
                                               **ARGS))


def test_spec_splits_structure_from_numbers():
    # Different numbers (truth, schedule with the same maximum, regime fraction,
    # variance scale, seed): equal, hashable static parts; the numbers differ.
    a = cj.run_spec(cj.gaussian(), TRUTH, regime=cj.mix(0.25),
                    sampling=cj.variance_scale(0.9), **ARGS)
    b = cj.run_spec(cj.gaussian(), cj.gaussian_params(-4.0, 0.5),
                    regime=cj.mix(0.75), sampling=cj.variance_scale(0.5),
                    **{**ARGS, "key": 11, "sample_size": [12, 3, 5, 12]})
    assert a.static == b.static and hash(a.static) == hash(b.static)
    assert a.traced.hyper["real_fraction"] == 0.25
    assert b.traced.hyper["real_fraction"] == 0.75
    assert a.traced.hyper["variance_scale"] == 0.9
    assert b.traced.schedule.tolist() == [12, 3, 5, 12]
    # the static regime and bias hold no numbers
    assert a.static.regime.hyper == () and a.static.config.sampling.hyper == ()
    # a structural change is a different static part
    c = cj.run_spec(cj.gaussian(), TRUTH, **{**ARGS, "num_generations": 5})
    assert c.static != a.static


def test_spec_is_frozen():
    spec = cj.run_spec(cj.gaussian(), TRUTH, **ARGS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.key = 4  # type: ignore[misc]
    assert "RunSpec(gaussian, regime=replace, 6 chains x 4 generations" in repr(spec)


def test_two_specs_with_equal_structure_share_one_compile():
    if not hasattr(chain._run_chunk, "_cache_size"):
        pytest.skip("this JAX has no jit(...)._cache_size()")
    cj.run_spec(cj.gaussian(), TRUTH, regime=cj.mix(0.25), **ARGS).run()
    before = chain._run_chunk._cache_size()
    cj.run_spec(cj.gaussian(), cj.gaussian_params(1.0, 3.0), regime=cj.mix(0.5),
                **{**ARGS, "key": 5}).run()
    assert chain._run_chunk._cache_size() == before


def test_spec_errors_name_the_entry_point():
    with pytest.raises(ValueError, match=r"run_spec\(\): num_chains must"):
        cj.run_spec(cj.gaussian(), TRUTH, **{**ARGS, "num_chains": 0})
    with pytest.raises(ValueError, match=r"run_chains\(\): num_chains must"):
        cj.run_chains(cj.gaussian(), TRUTH, **{**ARGS, "num_chains": 0})
    with pytest.raises(ValueError, match=r"sweep\(\): num_chains must"):
        cj.sweep(cj.gaussian(), TRUTH, regime=cj.mix(0.5),
                 over={"real_fraction": [0.0, 1.0]}, **{**ARGS, "num_chains": 0})
    spec = cj.run_spec(cj.gaussian(), TRUTH, **ARGS)
    with pytest.raises(TypeError, match=r"RunSpec\.run\(\): progress must"):
        spec.run(progress=3)
    # a spec built without a runner (runspec imports nothing of the runner)
    bare = runspec.build("run_spec", cj.gaussian(), TRUTH, **ARGS)
    with pytest.raises(ValueError, match=r"RunSpec\.run\(\): self must be a spec"):
        bare.run()
    _assert_same_run(chain.execute(bare), spec.run())


def test_runners_use_no_private_runner_functions():
    # sweep, runs and decompose build a spec and call the shared runner.
    import inspect

    from collapse_jax import decompose, runs, sweep

    for module in (sweep, runs, decompose):
        text = inspect.getsource(module)
        for private in ("_chain.", "chain._", "_execute(", "_prepare(",
                        "_merged_hyper", "_check_devices"):
            assert private not in text, (module.__name__, private)


def test_old_import_paths_still_work():
    from collapse_jax.chain import ChainConfig, ChainResult, ChainState, run_chains

    assert run_chains is cj.run_chains and ChainResult is cj.ChainResult
    assert ChainConfig is runspec.ChainConfig and ChainState is cj.ChainState


# ----------------------------------------------------------- one results path ---


def _round_trip(res: cj.ChainResult, tmp_path, name="run.nc"):
    ds = res.to_dataset()
    path = tmp_path / name
    cj.save(ds, path)
    back = cj.load(path)
    assert back.identical(ds)
    return ds, back


@pytest.mark.parametrize("regime", [None, "accumulate"])
def test_to_dataset_round_trips_float32(tmp_path, regime):
    reg = None if regime is None else cj.accumulate()
    res = cj.run_chains(cj.gaussian(), TRUTH, regime=reg, **ARGS)
    ds, back = _round_trip(res, tmp_path)
    for m, v in res.metrics.items():
        assert back[m].dims[:3] == ("sweep", "chain", "generation")
        assert back[m].dtype == v.dtype
        np.testing.assert_array_equal(back[m].values[0], v)
    np.testing.assert_array_equal(back["params__mean"].values[0], res.params.mean)
    np.testing.assert_array_equal(back["status"].values[0], res.status)
    np.testing.assert_array_equal(back["chain"].values, res.chain_ids)
    assert json.loads(back.attrs["config"]) == res.config
    assert back.attrs["seed"] == 3 and back.attrs["complete"] == 1
    assert back.attrs["dtype"] == "float32"


def test_to_dataset_round_trips_float64(tmp_path, x64):
    res = cj.run_chains(cj.gaussian(2), cj.gaussian_params([1.0, -1.0], np.eye(2)),
                        dtype=x64, **ARGS)
    _, back = _round_trip(res, tmp_path)
    assert back["log_var"].dtype == np.float64
    np.testing.assert_array_equal(back["log_var"].values[0], res.metrics["log_var"])
    np.testing.assert_array_equal(back["params__mean"].values[0], res.params.mean)


def test_save_takes_a_chain_result(tmp_path):
    res = cj.run_chains(cj.categorical(4), cj.categorical_params([0.1, 0.2, 0.3, 0.4]),
                        **ARGS)
    cj.save(res, tmp_path / "direct.nc")
    back = cj.load(tmp_path / "direct.nc")
    for m, v in res.metrics.items():
        np.testing.assert_array_equal(back[m].values[0], v, m)
    np.testing.assert_array_equal(back["params__counts"].values[0], res.params.counts)
    with pytest.raises(TypeError, match=r"save\(\): ds must be .* or a ChainResult"):
        cj.save(object(), tmp_path / "x.nc")


def test_failed_chains_keep_their_status(tmp_path):
    # A learning rate of 1e10 makes the fits diverge (tests/test_chain.py): a
    # failed chain keeps a non-zero status and NaN float metrics from the
    # generation it failed at, in the file as in the result.
    fam = cj.approximate(cj.gaussian(1), learning_rate=1e10, num_steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cj.FailedChainsWarning)
        res = cj.run_chains(fam, cj.gaussian_params(0.0, 1.0), regime=cj.mix(0.5),
                            **ARGS)
    assert not res.ok
    _, back = _round_trip(res, tmp_path)
    np.testing.assert_array_equal(back["status"].values[0], res.status)
    failed = back["status"].values[0] != 0
    assert failed[:, 1:].any() and not failed[:, 0].any()
    assert (np.diff(failed.astype(np.int32), axis=1) >= 0).all()  # frozen once failed
    np.testing.assert_array_equal(np.isnan(back["log_var"].values[0, ..., 0]), failed)
    summary = res.to_dataset(summary=(0.5,))
    np.testing.assert_array_equal(summary["failed"].values[0], failed.sum(axis=0))


def test_to_dataset_summary_matches_summarize():
    res = cj.run_chains(cj.gaussian(), TRUTH, **ARGS)
    q = (0.1, 0.5, 0.9)
    mine = res.to_dataset(summary=q)
    theirs = cj.io.summarize(res.to_dataset(), q)
    for name in ("log_var", "log_var__mean", "log_var__sd", "failed"):
        np.testing.assert_array_equal(mine[name].values, theirs[name].values, name)
    with pytest.raises(ValueError, match=r"to_dataset\(\): quantiles must"):
        res.to_dataset(summary=(2.0,))


def test_to_dataset_is_the_experiment_results_layout(tmp_path):
    # The same run through run_experiment (results.nc) and through run_chains:
    # the same variables, dims, coordinates and bits.
    config = core.resolve_config(core.get_experiment("gaussian"), overrides={
        "num_chains": 6, "num_generations": 3})
    design = core.get_experiment("gaussian").build(config)
    run = cj.run_experiment("gaussian", overrides={"num_chains": 6,
                                                   "num_generations": 3},
                            seed=7, out=tmp_path / "run", figures=False)
    point = design.points[0]
    res = cj.run_chains(point.family, point.init, key=7, num_chains=6,
                        num_generations=3, dtype=config["dtype"],
                        metrics=design.metrics,
                        record_params=design.params is not None, **point.options)
    ds = res.to_dataset()
    file = run.dataset.isel(sweep=[0])
    names = [n for n in file.data_vars if not str(n).startswith(("theory__",
                                                                 "params__"))]
    assert names and sorted(names) == sorted(
        n for n in ds.data_vars if not str(n).startswith("params__"))
    for n in names:
        assert file[n].dims == ds[n].dims, n
        assert file[n].dtype == ds[n].dtype, n
        np.testing.assert_array_equal(file[n].values, ds[n].values, n)
    assert file["chain"].dtype == ds["chain"].dtype
    for attr in ("collapse_jax_format", "kind", "key_scheme_version", "num_chains",
                 "num_generations", "dtype", "summary", "complete"):
        assert file.attrs[attr] == ds.attrs[attr], attr
    assert json.loads(file.attrs["run_config"])[0] == res.config
