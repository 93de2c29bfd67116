"""Tiny learned families for the neural tests: a categorical over ``K`` outcomes
whose logits are a flax network (a linear layer of a constant input, or a small
MLP), trained on real draws of a fixed categorical. A run compiles in seconds."""

from __future__ import annotations

import functools

import numpy as np

import jax
import jax.numpy as jnp
from flax import nnx

import collapse_jax as cj

K = 8
PROBS = np.arange(1, K + 1) / (K * (K + 1) / 2)  # p(k) ∝ k + 1
TRACES = {"loss": 0}  # incremented when the loss is traced (not when it runs)


class Logits(nnx.Module):
    """The logits of a categorical: one linear layer of a constant input."""

    def __init__(self, rngs: nnx.Rngs):
        self.lin = nnx.Linear(1, K, rngs=rngs)

    def __call__(self):
        return self.lin(jnp.ones((1,)))


class Deep(nnx.Module):
    """Logits from a small MLP: another architecture for the same data."""

    def __init__(self, rngs: nnx.Rngs):
        self.a = nnx.Linear(1, 16, rngs=rngs)
        self.b = nnx.Linear(16, K, rngs=rngs)

    def __call__(self):
        return self.b(jnp.tanh(self.a(jnp.ones((1,)))))


def loss(model, batch, key):
    del key
    TRACES["loss"] += 1
    return -jax.nn.log_softmax(model())[batch]


def generate(model, key, n):
    return jax.random.categorical(key, model(), shape=(n,))


def log_prob(model, data):
    return jax.nn.log_softmax(model())[data]


@functools.cache
def real_data(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(K, size=n, p=PROBS).astype(np.int32)


@functools.cache
def toy(
    steps: int = 20,
    batch_size: int = 16,
    start: str = "generation0",
    ewc: float = 0.0,
    learning_rate: float = 0.05,
    clip_norm: float | None = 1.0,
    schedule: str | None = None,
    deep: bool = False,
    name: str = "toy",
):
    """A cached toy family (one object per settings, so runs share compiles)."""
    net = Deep if deep else Logits
    real = real_data()
    return cj.learned_family(
        name=name,
        module=net(nnx.Rngs(0)),
        loss=loss,
        generate=generate,
        log_prob=log_prob,
        real_data=real,
        held_out=real_data(200, 1),
        make=net,
        training=cj.training(
            steps=steps,
            batch_size=batch_size,
            start=start,
            ewc=ewc,
            learning_rate=learning_rate,
            clip_norm=clip_norm,
            schedule=schedule,
        ),
    )
