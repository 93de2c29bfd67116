"""Training settings, the optax scan and the weights cache of the neural chains
(collapse_jax.neural.train, collapse_jax.neural.cache)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import jax
import jax.numpy as jnp
import optax

import collapse_jax as cj
from collapse_jax.io_utils import current_umask
from collapse_jax.neural import cache
from collapse_jax.neural.train import SCHEDULES, train_steps


def _objective(w, batch, key):
    del key
    return jnp.mean((w["x"] - batch) ** 2)


def _train(settings, steps_data=16):
    data = jnp.arange(steps_data, dtype=jnp.float32)
    weights = jnp.ones((steps_data,), jnp.float32)
    start = {"x": jnp.zeros((), jnp.float32)}
    run = jax.jit(
        lambda: train_steps(
            _objective, start, data, weights, jax.random.key(0), settings
        )
    )
    w, losses = run()
    return float(w["x"]), np.asarray(losses)


# ------------------------------------------------------------------- schedules ---

OPTAX = {
    "constant": lambda lr, n, w: optax.join_schedules(
        [optax.linear_schedule(0.0, lr, w), optax.constant_schedule(lr)], [w]
    ),
    "linear": lambda lr, n, w: optax.join_schedules(
        [optax.linear_schedule(0.0, lr, w), optax.linear_schedule(lr, 0.0, n - w)], [w]
    ),
    "cosine": lambda lr, n, w: optax.join_schedules(
        [optax.linear_schedule(0.0, lr, w), optax.cosine_decay_schedule(lr, n - w)], [w]
    ),
    "warmup_cosine": lambda lr, n, w: optax.warmup_cosine_decay_schedule(0.0, lr, w, n),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_named_schedules_are_optax_schedules(name):
    with jax.numpy_dtype_promotion("standard"):
        for warmup in (0, 3) if name != "warmup_cosine" else (3,):
            ours = SCHEDULES[name](0.1, 20, warmup)
            ref = OPTAX[name](0.1, 20, max(warmup, 1) if warmup else 0)
            steps = np.arange(25)
            got = np.array([float(ours(jnp.int32(s))) for s in steps])
            want = np.array([float(ref(s)) for s in steps])
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_schedule_reaches_the_optimiser():
    """A named schedule trains exactly as the optax schedule it names, passed as
    the learning rate, and differently from the constant rate."""
    steps = 12
    named = cj.training(
        steps=steps,
        learning_rate=0.1,
        schedule="cosine",
        optimizer="sgd",
        clip_norm=None,
    )
    given = cj.training(
        steps=steps,
        learning_rate=SCHEDULES["cosine"](0.1, steps, 0),
        optimizer="sgd",
        clip_norm=None,
    )
    constant = cj.training(
        steps=steps, learning_rate=0.1, optimizer="sgd", clip_norm=None
    )
    assert _train(named)[0] == _train(given)[0]
    assert _train(named)[0] != _train(constant)[0]


def test_clipping_reaches_the_optimiser():
    """A tiny clip norm slows sgd to ``lr * clip_norm`` per step."""
    free = cj.training(steps=10, learning_rate=0.1, optimizer="sgd", clip_norm=None)
    tight = cj.training(steps=10, learning_rate=0.1, optimizer="sgd", clip_norm=1e-3)
    assert abs(_train(tight)[0]) <= 10 * 0.1 * 1e-3 * (1 + 1e-5)
    assert abs(_train(free)[0]) > 100 * abs(_train(tight)[0])


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "momentum"])
def test_every_optimiser_trains_under_strict_promotion(optimizer):
    wd = 0.0 if optimizer == "adam" else 0.01
    settings = cj.training(
        steps=50,
        learning_rate=0.1,
        optimizer=optimizer,
        weight_decay=wd,
        schedule="warmup_cosine",
        warmup_steps=5,
    )
    x, losses = _train(settings)
    assert np.isfinite(x) and losses[-10:].mean() < losses[:5].mean()


def test_epochs_set_the_steps():
    settings = cj.training(epochs=2.5, batch_size=8)
    assert settings.num_steps(16) == 5 and settings.num_steps(17) == 6
    assert len(_train(settings)[1]) == 5


# ---------------------------------------------------------------------- errors ---


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"steps": 0}, ValueError, r"training\(\): steps must be a positive integer"),
        ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer"),
        ({"steps": 5, "epochs": 1.0}, ValueError, r"epochs must be None when steps"),
        (
            {"start": "resume"},
            ValueError,
            r"start must be one of 'generation0', 'previous', 'scratch'",
        ),
        ({"ewc": -0.5}, ValueError, r"ewc must be a number >= 0; got -0.5"),
        (
            {"schedule": "exponential"},
            ValueError,
            r"schedule must be one of 'constant', 'linear', 'cosine', 'warmup_cosine'",
        ),
        (
            {"schedule": "cosine", "learning_rate": optax.constant_schedule(0.1)},
            ValueError,
            r"schedule must be None when learning_rate is an optax",
        ),
        ({"warmup_steps": 3}, ValueError, r"warmup_steps must be 0 without a schedule"),
        (
            {"schedule": "warmup_cosine"},
            ValueError,
            r"warmup_steps must be a positive integer with schedule='warmup_cosine'",
        ),
        (
            {"steps": 10, "schedule": "cosine", "warmup_steps": 10},
            ValueError,
            r"warmup_steps must be fewer than steps \(10\)",
        ),
        ({"learning_rate": 0.0}, ValueError, r"learning_rate must be a number > 0"),
        ({"optimizer": "lion"}, ValueError, r"optimizer must be one of 'adam'"),
        ({"optimizer": 3}, TypeError, r"optimizer must be one of adam, adamw"),
        (
            {"schedule": "cosine", "optimizer": optax.sgd(0.1)},
            ValueError,
            r"schedule must be None with an optax.GradientTransformation",
        ),
        ({"clip_norm": 0.0}, ValueError, r"clip_norm must be a number > 0"),
    ],
)
def test_training_errors(kw, error, match):
    with pytest.raises(error, match=match):
        cj.training(**kw)


# ----------------------------------------------------------------------- cache ---


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "lin": {
            "kernel": rng.normal(size=(2, 3)).astype(np.float32),
            "bias": np.zeros(3, np.float32),
        },
        "layers": {0: {"w": np.ones(2, np.float32)}},
    }


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_JAX_CACHE", str(tmp_path))
    calls = []

    def build(seed=0):
        def run():
            calls.append(seed)
            return _weights(seed)

        return run

    return tmp_path, calls, build


def test_cache_loads_identical_bits_without_building(cache_env):
    _, calls, build = cache_env
    first = cache.cached_weights("toy", {"width": 3}, build())
    again = cache.cached_weights("toy", {"width": 3}, build())
    assert calls == [0]
    jax.tree.map(np.testing.assert_array_equal, first, _weights(0))
    jax.tree.map(np.testing.assert_array_equal, again, first)
    assert set(again["layers"]) == {0}  # int keys (list positions) stay ints


def test_cache_builds_again_for_another_config(cache_env):
    _, calls, build = cache_env
    cache.cached_weights("toy", {"width": 3}, build(0))
    other = cache.cached_weights("toy", {"width": 4}, build(1))
    assert calls == [0, 1]
    jax.tree.map(np.testing.assert_array_equal, other, _weights(1))


def test_cache_rebuilds_a_corrupted_file(cache_env):
    _, calls, build = cache_env
    cache.cached_weights("toy", {"width": 3}, build())
    path = cache.weights_path("toy", {"width": 3})
    path.write_bytes(path.read_bytes()[:40] + b"garbage")
    again = cache.cached_weights("toy", {"width": 3}, build())
    assert calls == [0, 0]
    jax.tree.map(np.testing.assert_array_equal, again, _weights(0))


def test_cache_file_mode_respects_umask(cache_env):
    _, _, build = cache_env
    old = os.umask(0o027)
    try:
        cache.cached_weights("toy", {"width": 3}, build())
        mode = stat.S_IMODE(cache.weights_path("toy", {"width": 3}).stat().st_mode)
        assert mode == 0o666 & ~current_umask() == 0o640
    finally:
        os.umask(old)
