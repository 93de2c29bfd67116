"""The VAE chain on real digits (collapse_jax/neural/vae.py, neural/digits.py).

Fast tests use a tiny generation 0 (a few hundred pre-training steps, cached on
disk by its configuration, so the suite trains it once) and a few training steps
per generation. The direction tests (``slow``) run the chain the experiment runs
(>= 5 generations, >= 4 chains) and check, with a tolerance from the chains'
spread, that class entropy and latent spread decline under replace and decline
less with 10 % real data kept.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import jax
from flax import nnx

pytest.importorskip("sklearn")

import collapse_jax as cj  # noqa: E402
from collapse_jax.neural import digits as digits_mod  # noqa: E402
from collapse_jax.neural import vae as vae_mod  # noqa: E402
from tests.helpers import ASSERTION_COUNT, K, mean_and_se  # noqa: E402

# A tiny configuration for the default suite: generation 0 trains in about a second
# (then comes from the cache), a generation in a few hundred milliseconds.
TINY = dict(latent_dim=2, hidden=16, pretrain_steps=300, eval_samples=100, grid=4,
            training=cj.vae_training(steps=30, batch_size=16))


def assert_exceeds(a, b, *, what: str, seed=None):
    """Chain-paired direction: ``mean(a - b) > K * SE`` over independent chains.

    ``a`` and ``b`` are ``(num_chains,)`` values of two runs with the same chain
    ids; the differences are independent across chains, so their SE comes from
    the chains' spread (tests/helpers.py: K from the suite's false-failure budget).
    """
    ASSERTION_COUNT[0] += 1
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    mean, se = mean_and_se(diff)
    if not mean > K * se:
        raise AssertionError(
            f"{what}: mean difference {mean:.4g} not above K*SE = {K} * {se:.4g} "
            f"(per chain {np.round(diff, 4)}, seed {seed})")


@pytest.fixture(scope="module")
def tiny():
    return cj.vae(**TINY)


@pytest.fixture(scope="module")
def tiny_run(tiny):
    return cj.run_chains(tiny, tiny.generation0(), key=3, num_chains=3,
                         num_generations=2, sample_size=64)


# ------------------------------------------------------------------ data ---


def test_digits_are_the_real_scikit_learn_images():
    images, labels = digits_mod.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and set(np.unique(labels)) == set(range(10))
    assert images.min() == 0.0 and images.max() == 1.0
    # Grey levels 0..16 scaled by 1/16: every pixel is a multiple of 1/16.
    np.testing.assert_array_equal(images * 16, np.round(images * 16))


def test_split_is_stratified_seeded_and_disjoint():
    data = vae_mod.vae_data(held_out=0.2, split_seed=5)
    again = vae_mod.vae_data(held_out=0.2, split_seed=5)
    other = vae_mod.vae_data(held_out=0.2, split_seed=6)
    for a, b in zip(data, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(data.held_out, other.held_out)
    assert data.train.shape[0] + data.held_out.shape[0] == 1797
    counts = np.bincount(digits_mod.load_digits()[1], minlength=10)
    held = np.bincount(data.held_out_labels, minlength=10)
    np.testing.assert_array_equal(held, np.round(0.2 * counts).astype(int))
    # Disjoint: no held-out image is a training row (the digits have no duplicates
    # within a class at this split, so compare rows).
    train_rows = {r.tobytes() for r in data.train}
    assert not any(r.tobytes() in train_rows for r in data.held_out)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import raises ImportError
    with pytest.raises(digits_mod.ScikitLearnMissing,
                       match=r"vae\(\): images must be .*collapse-jax\[digits\]"):
        cj.vae(**TINY)
    with pytest.raises(ImportError):
        digits_mod.load_digits()


@pytest.mark.parametrize("images, match", [
    (np.zeros((10, 64)), r"images must be an array of images of shape \(N, H, W\)"),
    (np.zeros((10, 8, 8, 1)), r"images must be an array of images of shape"),
    (np.full((10, 8, 8), 2.0), r"images must be grey levels in \[0, 1\]; got values "
                               r"in \[2, 2\]\. Scale the images"),
    (-np.ones((10, 8, 8)), r"images must be grey levels in \[0, 1\]"),
    (np.full((10, 8, 8), np.nan), r"images must be finite; got NaN or inf"),
    (np.zeros((1, 8, 8)), r"images must be at least 2 images"),
    ("digits", r"images must be numeric"),
])
def test_bad_images_are_refused_naming_the_argument(images, match):
    with pytest.raises((ValueError, TypeError), match=r"^vae\(\): " + match):
        cj.vae(images=images)


def test_bad_labels_and_settings_are_refused():
    x = np.random.default_rng(0).uniform(size=(20, 8, 8))
    with pytest.raises(ValueError, match=r"vae\(\): labels must be one integer "
                                         r"class >= 0 per image, shape \(20,\)"):
        cj.vae(images=x, labels=np.zeros(19, int))
    with pytest.raises(ValueError, match=r"vae\(\): labels must be"):
        cj.vae(images=x, labels=np.full(20, 0.5))
    with pytest.raises(ValueError, match=r"vae\(\): grid must be an integer in "
                                         r"\[0, eval_samples = 10\]"):
        cj.vae(grid=11, eval_samples=10)
    with pytest.raises(TypeError, match=r"vae\(\): training must be Training settings"):
        cj.vae(training={"steps": 3})
    with pytest.raises(ValueError, match=r"vae\(\): latent_dim must be"):
        cj.vae(latent_dim=0)
    with pytest.raises(ValueError, match=r"vae\(\): held_out must be"):
        cj.vae(held_out=1.0)
    with pytest.raises(ValueError, match=r"vae_training\(\): start must be one of"):
        cj.vae_training(start="fresh")
    with pytest.raises(ValueError, match=r"vae_training\(\): ewc must be a number"):
        cj.vae_training(ewc=-1.0)


# ------------------------------------------------------------------ classifier ---


def test_classifier_is_trained_once_and_accurate():
    clf = vae_mod.digit_classifier()
    assert clf is vae_mod.digit_classifier()  # fitted once per process
    assert clf.weights.shape == (64, 10) and clf.bias.shape == (10,)
    # A fixed, deterministic fit (lbfgs): logistic regression on these digits is
    # about 96 % accurate on held-out images.
    assert clf.accuracy > 0.9
    data = vae_mod.vae_data()
    pred = np.asarray(clf.predict(jax.numpy.asarray(data.held_out)))
    assert np.mean(pred == data.held_out_labels) == pytest.approx(clf.accuracy)


# ------------------------------------------------------------------ family ---


@pytest.mark.slow
def test_generation0_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_JAX_CACHE", str(tmp_path))
    monkeypatch.setattr(vae_mod, "_FAMILIES", {})
    calls = []
    real = vae_mod._pretrain
    monkeypatch.setattr(vae_mod, "_pretrain",
                        lambda *a: calls.append(a) or real(*a))
    fam = cj.vae(**{**TINY, "pretrain_steps": 20})
    assert len(calls) == 1 and list((tmp_path / "weights").glob("vae-*.npz"))
    monkeypatch.setattr(vae_mod, "_FAMILIES", {})  # a new process, in effect
    again = cj.vae(**{**TINY, "pretrain_steps": 20})
    assert len(calls) == 1  # loaded, not trained again
    for a, b in zip(jax.tree.leaves(fam.generation0().weights),
                    jax.tree.leaves(again.generation0().weights), strict=True):
        np.testing.assert_array_equal(a, b)
    cj.vae(**{**TINY, "pretrain_steps": 21})  # another configuration trains
    assert len(calls) == 2


def test_family_is_cached_by_its_settings(tiny):
    assert cj.vae(**TINY) is tiny
    assert cj.vae(**{**TINY, "grid": 2}) is not tiny


def test_metrics_shapes_ranges_and_generation0(tiny, tiny_run):
    m = tiny_run.metrics
    assert set(vae_mod.VAE_METRICS) <= set(m)
    assert m["class_shares"].shape == (3, 3, 10)
    assert m["sample_grid"].shape == (3, 3, 4, 8, 8)
    np.testing.assert_allclose(np.sum(m["class_shares"], -1), 1.0, rtol=1e-5)
    assert np.all((m["sample_grid"] >= 0) & (m["sample_grid"] <= 1))
    np.testing.assert_allclose(m["held_out_elbo"], -m["held_out_nll"], rtol=1e-6)
    shares = np.asarray(m["class_shares"])
    ent = np.sum(np.where(shares > 0, -shares * np.log(np.where(shares > 0, shares,
                                                                 1)), 0), -1)
    np.testing.assert_allclose(m["class_entropy"], ent, rtol=1e-5, atol=1e-6)
    assert np.all(m["class_entropy"] <= math.log(10) + 1e-6)
    # Generation 0 (the truth) is measured on real training images: the same for
    # every chain, near-uniform classes, the real digits in the grid.
    data = vae_mod.vae_data()
    rows = np.random.default_rng(vae_mod._EVAL_SEED).integers(
        0, data.train.shape[0], TINY["eval_samples"])
    np.testing.assert_array_equal(m["sample_grid"][:, 0],
                                  np.broadcast_to(data.train[rows[:4]], (3, 4, 8, 8)))
    clf = vae_mod.digit_classifier()
    real_shares = np.bincount(np.asarray(clf.predict(jax.numpy.asarray(
        data.train[rows]))), minlength=10) / rows.size
    np.testing.assert_allclose(m["class_shares"][:, 0],
                               np.broadcast_to(real_shares, (3, 10)), atol=1e-6)
    # The latent spread: std over images of the generation-0 encoder's means.
    model0 = vae_mod.VAE((8, 8), TINY["latent_dim"], TINY["hidden"],
                         rngs=nnx.Rngs(0))
    state = nnx.state(model0, nnx.Param)
    nnx.replace_by_pure_dict(state, tiny.generation0().weights)
    nnx.update(model0, state)
    mean0 = np.asarray(model0.encode(jax.numpy.asarray(data.train[rows]))[0])
    np.testing.assert_allclose(m["latent_spread"][:, 0],
                               np.mean(np.std(mean0, axis=0)), rtol=1e-4)
    # Later generations draw from the trained networks: the chains differ.
    assert not np.array_equal(m["sample_grid"][0, 1], m["sample_grid"][1, 1])


def test_to_dataset_keeps_the_vector_metrics(tiny_run):
    ds = tiny_run.to_dataset()
    assert ds["class_shares"].dims == ("sweep", "chain", "generation",
                                       "class_shares_dim0")
    assert ds["class_shares"].shape == (1, 3, 3, 10)
    assert ds["sample_grid"].shape == (1, 3, 3, 4, 8, 8)


def test_chains_are_bitwise_independent_of_the_batch(tiny, tiny_run):
    one = cj.run_chains(tiny, tiny.generation0(), key=3, num_chains=1,
                        num_generations=2, sample_size=64)
    for name in ("held_out_nll", "latent_spread", "sample_grid"):
        np.testing.assert_array_equal(one.metrics[name][0], tiny_run.metrics[name][0])


def test_user_images_without_labels_skip_the_class_metrics():
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(40, 4, 6)) > 0.5).astype(np.float32)
    fam = cj.vae(images=x, latent_dim=2, hidden=8, pretrain_steps=20,
                 eval_samples=10, grid=2, training=cj.vae_training(steps=5,
                                                                   batch_size=8))
    assert "class_entropy" not in fam.metric_names
    assert fam.event_shape == (4, 6)


@pytest.mark.slow
def test_user_images_run_in_the_chain():
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(40, 4, 6)) > 0.5).astype(np.float32)
    fam = cj.vae(images=x, latent_dim=2, hidden=8, pretrain_steps=20,
                 eval_samples=10, grid=2, training=cj.vae_training(steps=5,
                                                                   batch_size=8))
    res = cj.run_chains(fam, fam.generation0(), key=0, num_chains=2,
                        num_generations=1, sample_size=16)
    assert res.metrics["sample_grid"].shape == (2, 2, 2, 4, 6)
    assert np.all(np.isfinite(res.metrics["held_out_nll"]))


@pytest.mark.slow
def test_user_labels_give_a_classifier_of_their_classes():
    data = vae_mod.vae_data()
    keep = data.train_labels < 3  # three classes only
    fam = cj.vae(images=data.train[keep], labels=data.train_labels[keep],
                 latent_dim=2, hidden=8, pretrain_steps=20, eval_samples=10,
                 grid=0, training=cj.vae_training(steps=5, batch_size=8))
    assert "sample_grid" not in fam.metric_names
    res = cj.run_chains(fam, fam.generation0(), key=0, num_chains=1,
                        num_generations=1, sample_size=16)
    assert res.metrics["class_shares"].shape == (1, 2, 3)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["generation0", "previous", "scratch"])
def test_start_modes_and_ewc_run(start):
    fam = cj.vae(**{**TINY, "training": cj.vae_training(
        steps=5, batch_size=8, start=start, ewc=0.5)})
    res = cj.run_chains(fam, fam.generation0(), key=0, num_chains=2,
                        num_generations=2, sample_size=16)
    assert np.all(np.isfinite(res.metrics["held_out_nll"]))
    if start == "generation0":  # generation 1 and 2 start from the same network
        assert not np.array_equal(res.metrics["sample_grid"][:, 1],
                                  res.metrics["sample_grid"][:, 2])


@pytest.mark.slow
def test_contract_kit(tiny):
    from collapse_jax.testing import CHECKS, check_family

    # batch_invariance is left out: see test_batch_invariance_of_the_mlp below.
    checks = [c for c in CHECKS if c != "batch_invariance"]
    report = check_family(tiny, tiny.generation0(), checks=checks)
    assert all(v.startswith(("passed", "skipped")) for v in report.values()), report


# ------------------------------------------------------------------ direction ---

# The chain of the experiment at its CPU size, shortened: 8 chains, 5 generations.
DIRECTION = dict(num_chains=8, num_generations=5, sample_size=1437)


@pytest.fixture(scope="module")
def direction_runs():
    fam = cj.vae()
    runs = {}
    for name, regime in (("replace", cj.replace()),
                         ("retain", cj.retain_original(0.1))):
        runs[name] = cj.run_chains(fam, fam.generation0(), key=11, regime=regime,
                                   **DIRECTION)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["class_entropy", "latent_spread"])
def test_replace_declines_and_real_data_slow_the_decline(direction_runs, metric):
    rep = np.asarray(direction_runs["replace"].metrics[metric])
    ret = np.asarray(direction_runs["retain"].metrics[metric])
    n = DIRECTION["num_generations"]
    # Under replace: generation n below generation 1 (the first trained network).
    assert_exceeds(rep[:, 1], rep[:, n], what=f"{metric} decline under replace",
                   seed=11)
    # With 10 % real data kept: less decline, summarised over the generations
    # (the mean over generations 1..n of the metric is larger).
    assert_exceeds(ret[:, 1:].mean(1), rep[:, 1:].mean(1),
                   what=f"{metric}: retain_original(0.1) above replace", seed=11)


# ------------------------------------------------------------------ figures ---


def test_image_grid_figure(tiny_run, tmp_path):
    from collapse_jax.plots import figures, plot_image_grid

    ds = tiny_run.to_dataset()
    fig = plot_image_grid(ds, "sample_grid", [0, 2], images=3)
    gids = sorted(im.get_gid() for ax in fig.axes for im in ax.images)
    label = str(ds["sweep"].values[0])
    assert gids == sorted(f"image:{label}:{g}:{i}" for g in (0, 2) for i in range(3))
    # The drawn pixels are the metric's (chain 1 here).
    fig = plot_image_grid(ds, "sample_grid", 1, chain=1, images=1)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(),
                                  ds["sample_grid"].values[0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"plot_image_grid\(\): metric must be a "
                                         r"metric of images"):
        plot_image_grid(ds, "held_out_nll", [0])
    with pytest.raises(ValueError, match=r"plot_image_grid\(\): chain must be in "
                                         r"0\.\.2"):
        plot_image_grid(ds, "sample_grid", [0], chain=3)
    ds.attrs["figures"] = ('[{"kind": "image_grid", "metric": "sample_grid", '
                           '"generations": [0, 1, 2], "name": "digits"}]')
    paths = figures(ds, tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["digits.png", "digits.pdf"]


def test_experiment_and_preset_are_registered():
    from collapse_jax.experiments import get_preset, resolve_config

    preset = get_preset("vae-digits")
    cfg = resolve_config("vae-digits", preset="vae-digits")
    assert cfg["points"] == ["replace", "retain_original", "accumulate"]
    assert cfg["num_chains"] >= 4 and cfg["num_generations"] >= 5
    assert preset.full["num_chains"] >= cfg["num_chains"]
    with pytest.raises(ValueError, match=r"--points"):
        resolve_config("vae-digits", overrides={"points": "replace,keep"},
                       where="run")
    with pytest.raises(ValueError, match=r"--real-fraction must be large enough"):
        resolve_config("vae-digits", overrides={"points": "fresh",
                                                "real_fraction": "0.0001"},
                       where="run")
