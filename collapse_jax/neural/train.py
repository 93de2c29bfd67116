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

from collapse_jax.checks import (
    check_choice,
    check_nonnegative_int,
    check_positive_int,
    check_real,
    fail,
)
from collapse_jax.fitting.approximate import _scale_by_adam, adam

__all__ = [
    "check_training",
    "Training",
    "training",
    "START_MODES",
    "OPTIMIZERS",
    "SCHEDULES",
    "train_steps",
]

#: Where each generation's training starts.
START_MODES = ("generation0", "previous", "scratch")


def _adamw(lr, wd: float) -> optax.GradientTransformation:
    """``optax.adamw`` (``adam`` for ``wd = 0``) with the library's dtype-explicit
    Adam moments (collapse_jax.fitting.approximate.adam: float32 bits do not depend
    on the x64 flag, and it runs under strict dtype promotion)."""
    if wd == 0:
        return adam(lr)
    return optax.chain(
        _scale_by_adam(0.9, 0.999, 1e-8),
        optax.add_decayed_weights(wd),
        optax.scale_by_learning_rate(lr),
    )


#: Optimisers by name: ``(learning_rate, weight_decay) -> GradientTransformation``.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": _adamw,
    "adamw": _adamw,
    "sgd": lambda lr, wd: optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr)),
    "momentum": lambda lr, wd: optax.chain(
        optax.add_decayed_weights(wd), optax.sgd(lr, momentum=0.9)
    ),
}


#: Learning-rate schedules by name: ``(peak_rate, num_steps, warmup_steps) ->
#: schedule``. Each warms up linearly from 0 over ``warmup_steps`` (0: none),
#: then holds the rate (``constant``) or decays it to 0 over the remaining steps
#: (``linear``, ``cosine``); ``warmup_cosine`` is ``cosine`` that needs a warm-up.
#: They are optax's (``join_schedules`` of ``linear_schedule`` and
#: ``constant_schedule``/``linear_schedule``/``cosine_decay_schedule``, and
#: ``warmup_cosine_decay_schedule``), pinned to them by tests/test_neural_train.py,
#: written with explicit float32 casts so they run under strict dtype promotion.
SCHEDULES: dict[str, Callable[[float, int, int], Callable[..., Any]]] = {
    "constant": lambda lr, n, w: _schedule(lr, n, w, lambda f: 1.0 + 0.0 * f),
    "linear": lambda lr, n, w: _schedule(lr, n, w, lambda f: 1.0 - f),
    "cosine": lambda lr, n, w: _schedule(
        lr, n, w, lambda f: 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi) * f))
    ),
    "warmup_cosine": lambda lr, n, w: _schedule(
        lr, n, w, lambda f: 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi) * f))
    ),
}


def _schedule(lr: float, num_steps: int, warmup: int, shape: Callable[..., Any]):
    """``step -> rate``: a linear warm-up over ``warmup`` steps, then
    ``lr * shape(f)`` with ``f`` the fraction of the remaining steps done."""
    decay = max(num_steps - warmup, 1)

    def schedule(count):
        c = jnp.asarray(count).astype(jnp.float32)
        ramp = c / jnp.float32(max(warmup, 1))
        f = jnp.clip((c - jnp.float32(warmup)) / jnp.float32(decay), 0.0, 1.0)
        rate = jnp.where(c < warmup, ramp, shape(f))
        return jnp.float32(lr) * rate

    return schedule


@dataclasses.dataclass(frozen=True)
class Training:
    """How each generation is trained (static: part of the compiled program).

    Attributes:
      steps: optimiser steps per generation, or None when ``epochs`` sets them.
      epochs: passes over the fit's data buffer (``ceil(epochs * n / batch_size)``
        steps for a buffer of ``n`` points), or None.
      batch_size: points per minibatch.
      learning_rate: a float (the peak rate of ``schedule``) or any optax
        schedule (``step -> rate``).
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
      schedule: a name of :data:`SCHEDULES` shaping a float ``learning_rate``
        over each generation's steps, or None (a constant rate, or the optax
        schedule given as ``learning_rate``).
      warmup_steps: steps of linear warm-up from 0 at the start of ``schedule``.
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
    schedule: str | None = None
    warmup_steps: int = 0

    def num_steps(self, n: int) -> int:
        """Optimiser steps per generation for a data buffer of ``n`` points."""
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        return max(1, math.ceil(self.epochs * n / self.batch_size))

    def rate(self, num_steps: int) -> float | Callable[..., Any]:
        """The learning rate (a float or an optax schedule) of ``num_steps`` steps."""
        if self.schedule is None:
            return self.learning_rate
        assert not callable(self.learning_rate)  # training() refuses both
        return SCHEDULES[self.schedule](
            float(self.learning_rate), num_steps, self.warmup_steps
        )

    def transform(self, num_steps: int = 1) -> optax.GradientTransformation:
        """The optax transformation: clipping, then the optimiser.

        Args:
          num_steps: the steps of one generation, which a named ``schedule``
            spans.
        """
        if isinstance(self.optimizer, str):
            rate = self.rate(num_steps)
            tx = OPTIMIZERS[self.optimizer](rate, self.weight_decay)
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
    schedule: str | None = None,
    warmup_steps: int = 0,
    fn: str = "training",
) -> Training:
    """Validated :class:`Training` settings (see its attributes).

    Pass ``steps`` or ``epochs``, not both (neither: 200 steps). A minibatch is
    drawn with replacement, so ``batch_size`` may exceed the data of a generation
    (each step then sees some points more than once).

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
    if callable(learning_rate) and schedule is not None:
        fail(
            fn,
            "schedule",
            "None when learning_rate is an optax schedule",
            schedule,
            "Pass a peak learning_rate (a number) with schedule=, or an optax "
            "schedule as learning_rate alone.",
        )
    if schedule is not None:
        check_choice(fn, "schedule", schedule, tuple(SCHEDULES))
        if not isinstance(optimizer, str):
            fail(
                fn,
                "schedule",
                "None with an optax.GradientTransformation optimizer",
                schedule,
                "Build the schedule into the transformation, or name the optimizer.",
            )
    warmup_steps = check_nonnegative_int(fn, "warmup_steps", warmup_steps)
    if warmup_steps and schedule is None:
        fail(
            fn,
            "warmup_steps",
            "0 without a schedule",
            warmup_steps,
            "Pass schedule= (e.g. 'warmup_cosine') with warmup_steps.",
        )
    if schedule == "warmup_cosine" and warmup_steps == 0:
        fail(
            fn,
            "warmup_steps",
            "a positive integer with schedule='warmup_cosine'",
            warmup_steps,
            "Pass warmup_steps >= 1, or schedule='cosine' for no warm-up.",
        )
    if steps is not None and warmup_steps >= steps:
        fail(
            fn,
            "warmup_steps",
            f"fewer than steps ({steps})",
            warmup_steps,
            "Warm up over a part of each generation's steps.",
        )
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
        schedule=schedule,
        warmup_steps=warmup_steps,
    )


def check_training(
    fn: str, value: Any, default: Callable[[], Training] | None = None
) -> Training:
    """``value`` if it is a :class:`Training`, ``default()`` for None (when there is
    a default); else the house TypeError of entry point ``fn`` (``cj.vae``, ...)."""
    if value is None and default is not None:
        return default()
    if not isinstance(value, Training):
        fail(
            fn,
            "training",
            "Training settings from cj.training(...)",
            type(value).__name__,
            "Build them with cj.training(steps=..., batch_size=...).",
            error=TypeError,
        )
    return value


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
    num_steps = settings.num_steps(n)
    tx = settings.transform(num_steps)

    def step(carry, s):
        w, opt_state = carry
        batch_key, loss_key = jax.random.split(jax.random.fold_in(key, s))
        batch = minibatch(batch_key, data, weights, settings.batch_size)
        loss, grads = jax.value_and_grad(objective)(w, batch, loss_key)
        updates, opt_state = tx.update(grads, opt_state, w)
        return (optax.apply_updates(w, updates), opt_state), loss

    steps = jnp.arange(num_steps, dtype=jnp.int32)
    (trained, _), losses = jax.lax.scan(step, (start, tx.init(start)), steps)
    return trained, losses
