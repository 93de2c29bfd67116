"""Training settings and the optax training scan of a learned family's ``fit``.

A learned family's fit is a fixed number of optax steps under one ``lax.scan``
(no Python loop over steps, and one chain per call: the runner vmaps over chains).
Each step draws a minibatch with probabilities proportional to the fit's frequency
weights, so the weights that carry a regime (mixing shares, accumulated
generations, masked points) set what the network sees; the minibatch and dropout
keys of step ``s`` are ``fold_in(train_key, s)``, so a chain's training depends only
on its key, never on the other chains or the batch of chains it runs in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from collapse_jax.checks import check_choice, check_positive_int, check_real, fail

__all__ = ["Training", "training", "START_MODES", "OPTIMIZERS", "train_steps"]

#: Where each generation's training starts.
START_MODES = ("generation0", "previous", "scratch")

#: Optimisers by name: ``(learning_rate, weight_decay) -> GradientTransformation``.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": lambda lr, wd: (
        optax.adam(lr) if wd == 0 else optax.adamw(lr, weight_decay=wd)
    ),
    "adamw": lambda lr, wd: optax.adamw(lr, weight_decay=wd),
    "sgd": lambda lr, wd: optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr)),
    "momentum": lambda lr, wd: optax.chain(
        optax.add_decayed_weights(wd), optax.sgd(lr, momentum=0.9)
    ),
}


@dataclasses.dataclass(frozen=True)
class Training:
    """How each generation is trained (static: part of the compiled program).

    Attributes:
      steps: optimiser steps per generation, or None when ``epochs`` sets them.
      epochs: passes over the fit's data buffer (``ceil(epochs * n / batch_size)``
        steps for a buffer of ``n`` points), or None.
      batch_size: points per minibatch.
      learning_rate: a float or any optax schedule (``step -> rate``).
      optimizer: a name of :data:`OPTIMIZERS` or an ``optax.GradientTransformation``.
      weight_decay: decoupled weight decay (0: none).
      clip_norm: clip each gradient to this global norm, or None.
      start: ``"generation0"`` (fine-tune the generation-0 network, the paper's
        setting), ``"previous"`` (continual training from the previous
        generation's network) or ``"scratch"`` (a fresh initialisation per
        generation).
      ewc: elastic weight consolidation strength ``λ >= 0``: the loss gains
        ``λ/2 · Σ F_i (θ_i − θ0_i)²`` with ``F`` the diagonal Fisher information of
        the generation-0 network on real data (0: no penalty).
    """

    steps: int | None = 200
    epochs: float | None = None
    batch_size: int = 32
    learning_rate: float | Callable[..., Any] = 1e-3
    optimizer: str | optax.GradientTransformation = "adam"
    weight_decay: float = 0.0
    clip_norm: float | None = 1.0
    start: str = "generation0"
    ewc: float = 0.0

    def num_steps(self, n: int) -> int:
        """Optimiser steps per generation for a data buffer of ``n`` points."""
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        return max(1, math.ceil(self.epochs * n / self.batch_size))

    def transform(self) -> optax.GradientTransformation:
        """The optax transformation: clipping, then the optimiser."""
        if isinstance(self.optimizer, str):
            tx = OPTIMIZERS[self.optimizer](self.learning_rate, self.weight_decay)
        else:
            tx = self.optimizer
        if self.clip_norm is not None:
            tx = optax.chain(optax.clip_by_global_norm(self.clip_norm), tx)
        return tx

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable settings (a schedule or transformation by its name)."""
        out = dataclasses.asdict(self)
        for field in ("learning_rate", "optimizer"):
            value = out[field]
            if not isinstance(value, int | float | str):
                out[field] = getattr(value, "__name__", type(value).__name__)
        return out


def training(
    *,
    steps: int | None = None,
    epochs: float | None = None,
    batch_size: int = 32,
    learning_rate: float | Callable[..., Any] = 1e-3,
    optimizer: str | optax.GradientTransformation = "adam",
    weight_decay: float = 0.0,
    clip_norm: float | None = 1.0,
    start: str = "generation0",
    ewc: float = 0.0,
    fn: str = "training",
) -> Training:
    """Validated :class:`Training` settings (see its attributes).

    Pass ``steps`` or ``epochs``, not both (neither: 200 steps).

    Examples:
      >>> training(steps=100, batch_size=16, start="previous").start
      'previous'
    """
    if steps is not None and epochs is not None:
        fail(fn, "epochs", "None when steps is given", epochs, "Pass steps or epochs.")
    if steps is None and epochs is None:
        steps = 200
    if steps is not None:
        steps = check_positive_int(fn, "steps", steps)
    if epochs is not None:
        epochs = check_real(fn, "epochs", epochs, low=0, low_open=True)
    batch_size = check_positive_int(fn, "batch_size", batch_size)
    if not callable(learning_rate):
        learning_rate = check_real(
            fn,
            "learning_rate",
            learning_rate,
            low=0,
            low_open=True,
            fix="Pass a positive number or an optax schedule such as "
            "optax.cosine_decay_schedule(1e-3, 100).",
        )
    if isinstance(optimizer, str):
        check_choice(fn, "optimizer", optimizer, tuple(OPTIMIZERS))
    elif not isinstance(optimizer, optax.GradientTransformation):
        fail(
            fn,
            "optimizer",
            f"one of {', '.join(OPTIMIZERS)} or an optax.GradientTransformation",
            type(optimizer).__name__,
            "Pass a name or e.g. optax.adam(1e-3).",
            error=TypeError,
        )
    weight_decay = check_real(fn, "weight_decay", weight_decay, low=0)
    if clip_norm is not None:
        clip_norm = check_real(fn, "clip_norm", clip_norm, low=0, low_open=True)
    check_choice(fn, "start", start, START_MODES)
    ewc = check_real(
        fn, "ewc", ewc, low=0, fix="Pass a strength >= 0 (0 turns the penalty off)."
    )
    return Training(
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        optimizer=optimizer,
        weight_decay=weight_decay,
        clip_norm=clip_norm,
        start=start,
        ewc=ewc,
    )


def minibatch(key: jax.Array, data, weights: jax.Array, size: int):
    """``size`` points of ``data`` drawn with replacement, ``P(i) ∝ weights[i]``."""
    p = weights / jnp.sum(weights)
    idx = jax.random.choice(key, weights.shape[0], (size,), p=p)
    return jax.tree.map(lambda x: x[idx], data)


def train_steps(
    objective: Callable[[Any, Any, jax.Array], jax.Array],
    start: Any,
    data: Any,
    weights: jax.Array,
    key: jax.Array,
    settings: Training,
):
    """Train ``start`` for ``settings.num_steps(n)`` optax steps under ``lax.scan``.

    Args:
      objective: ``(weights, batch, key) -> ()`` the minibatch loss to minimise.
      start: the initial network weights (a pytree of float arrays).
      data: the fit's data, ``(n,) + event_shape`` (or a pytree of such arrays).
      weights: ``(n,)`` frequency weights; a minibatch draws ``i`` with probability
        ``weights[i] / sum(weights)``.
      key: the fit's training key; step ``s`` uses ``fold_in(key, s)``.
      settings: the :class:`Training`.

    Returns:
      ``(trained_weights, losses)`` with ``losses`` the ``(steps,)`` minibatch
      losses.
    """
    n = weights.shape[0]
    tx = settings.transform()

    def step(carry, s):
        w, opt_state = carry
        batch_key, loss_key = jax.random.split(jax.random.fold_in(key, s))
        batch = minibatch(batch_key, data, weights, settings.batch_size)
        loss, grads = jax.value_and_grad(objective)(w, batch, loss_key)
        updates, opt_state = tx.update(grads, opt_state, w)
        return (optax.apply_updates(w, updates), opt_state), loss

    steps = jnp.arange(settings.num_steps(n), dtype=jnp.int32)
    (trained, _), losses = jax.lax.scan(step, (start, tx.init(start)), steps)
    return trained, losses
