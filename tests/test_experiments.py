"""The experiment scripts behind the README's figures run, and mean what they say.

The default pass runs the deterministic half of the decomposition (the population
limit: no statistical error) and draws its figure; the full eight-way run is slow.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from collapse_jax.experiments import decomposition

DETERMINISTIC = ["none", "E", "A", "E+A"]


@pytest.fixture(scope="module")
def population_decomposition():
    return decomposition.run(
        num_chains=8, num_generations=6, sample_size=50, combos=DETERMINISTIC
    )


def test_population_decomposition_is_deterministic(population_decomposition):
    dec = population_decomposition
    l2 = dec.distances["l2_to_truth"]
    assert l2.shape == (4, 8, 7)
    assert np.all(l2[0] == 0)  # exact, well-specified, M = inf: no error at all
    for i in range(1, 4):  # no randomness left: every chain is the same
        assert np.array_equal(l2[i], np.broadcast_to(l2[i, :1], l2[i].shape))
    e = dec.labels.index("E")
    assert np.all(l2[e, :, 1:] == l2[e, 0, 1])  # expressivity acts once
    assert l2[e, 0, 1] > 0.05
    # W2 between moment-matched Gaussians: a Gaussian keeps the mixture's moments
    w2 = dec.distances["w2_mm_sq_to_truth"]
    assert np.max(np.abs(w2[e, :, 1:])) < 1e-5
    a = dec.labels.index("A")
    assert l2[a, 0, -1] > 1e-3  # the imperfect learner misses a reachable truth


def test_effects_add_up_to_every_run(population_decomposition):
    dec = population_decomposition
    eff = dec.effects("l2_to_truth")
    mean = dec.mean("l2_to_truth")
    np.testing.assert_allclose(
        eff["none"] + eff["E"] + eff["A"] + eff["E+A"],
        mean[dec.labels.index("E+A")],
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        eff["none"] + eff["E"], mean[dec.labels.index("E")], rtol=1e-12, atol=1e-12
    )


def test_decomposition_figure_is_written(population_decomposition, tmp_path):
    files = decomposition.plot(population_decomposition, tmp_path / "dec")
    assert [f.rsplit(".", 1)[1] for f in files] == ["png", "pdf"]
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(8)
        assert head.startswith(b"\x89PNG") or head.startswith(b"%PDF")


@pytest.mark.slow
def test_full_decomposition_statistical_error_dominates_late():
    dec = decomposition.run(num_chains=32, num_generations=60, sample_size=50)
    med = dec.median("l2_to_truth")
    s = dec.labels.index("S")
    assert med[s, -1] > med[s, 1]  # collapse: the sampled chain drifts away


def test_gmm_collapse_runs_and_draws(tmp_path):
    from collapse_jax.experiments import gmm_collapse

    res = gmm_collapse.run(
        num_chains=8, num_generations=4, sample_size=200, chunk_size=2
    )
    assert res.ok
    assert res.metrics["l2"].shape == (8, 5)
    assert np.all(res.metrics["l2"][:, 0] == 0)
    assert np.all(res.metrics["l2"][:, 1:] > 0)  # finite samples move the model
    files = gmm_collapse.plot(res, tmp_path / "gmm", snapshots=(0, 2, 4))
    assert len(files) == 2 and all(pathlib.Path(f).stat().st_size > 0 for f in files)
