"""Learned families: a flax network trained by optax inside the generation chain.

:func:`learned_family` turns a flax NNX network into a :class:`ModelFamily` that
runs on the chain engine like every other family (one ``lax.scan`` over
generations, one ``vmap`` over chains):

* **params** are :class:`NeuralParams`: the network's parameters as a plain nested
  dict of arrays (``flax.nnx.to_pure_dict``; the graph is split off once, at factory
  time, and merged back inside the compiled functions), and a flag ``real``;
* **the truth** (``family.generation0()``) is the generation-0 network (a network
  pre-trained on the real data) with ``real = 1``: draws from the truth are the
  *real data* (points of the real training set, uniformly with replacement), so
  ``retain_original``, ``mix`` and ``fresh`` keep or add real data, as in the
  papers, and generation 1 is the generation-0 network fine-tuned on real data
  (Shumailov et al.'s "generation 0"); every later generation trains on draws from
  the previous network;
* **fit** trains for a fixed number of optax steps under ``lax.scan``
  (:func:`collapse_jax.neural.train.train_steps`), starting where
  :class:`~collapse_jax.neural.train.Training` says: the generation-0 network,
  the previous generation's, or a fresh initialisation;
* **sample** generates from the network (``generate``);
* **metrics** include the mean negative log-likelihood of held-out real data
  (``held_out_nll``) and whatever the family adds.

Reproducibility: a chain's training depends only on its key (minibatch and dropout
keys are ``fold_in(train_key, step)``), so a run is bitwise reproducible run to run,
across chunking and resumption, and across the number of chains within one padded
batch (the chain axis is padded to a multiple of 8). Across padded batch sizes (8
against 16 chains) XLA compiles another program whose fused kernels may round a
network's products differently: the chains agree to float32 rounding, not bit for
bit. A change of the training batch size changes the minibatches themselves, hence
the optimisation path: the trained networks then agree only in distribution. Both
are pinned by tests (tests/test_neural_reproducibility.py,
tests/test_neural_learned.py); docs/neural.md states them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import numpy as np

import jax
import jax.numpy as jnp
from flax import nnx

from collapse_jax._memory_model import compiled_bytes
from collapse_jax.checks import (
    check_choice,
    check_positive_int,
    check_real,
    described,
    fail,
)
from collapse_jax.families.base import ModelFamily, family
from collapse_jax.neural.train import START_MODES, Training, check_training, train_steps

__all__ = ["NeuralParams", "learned_family", "network_weights"]


class NeuralParams(NamedTuple):
    """Params of a learned family.

    Attributes:
      weights: the network's parameters: a nested dict of float arrays (the pure
        dict of its ``nnx.Param`` state).
      real: ``()`` int32: 1 for the truth, whose draws are the real data; 0 for a
        trained network, whose draws are generated.
    """

    weights: Any
    real: jax.Array


def network_weights(module: nnx.Module) -> dict:
    """The ``nnx.Param`` state of ``module`` as a pure nested dict of arrays."""
    return nnx.to_pure_dict(nnx.state(module, nnx.Param))


def _cast_tree(tree, like):
    return jax.tree.map(lambda a, b: jnp.asarray(a, b.dtype), tree, like)


def _shapes(tree):
    return jax.tree.map(lambda x: tuple(np.shape(x)), tree)


def learned_family(
    *,
    name: str,
    module: nnx.Module,
    loss: Callable[..., jax.Array],
    generate: Callable[..., Any],
    log_prob: Callable[..., jax.Array],
    real_data: Any,
    training: Training,
    make: Callable[[nnx.Rngs], nnx.Module] | None = None,
    held_out: Any = None,
    metrics: Callable[..., dict[str, jax.Array]] | None = None,
    metric_names: tuple[str, ...] = (),
    fisher_points: int = 256,
    **optional: Any,
) -> ModelFamily:
    """A :class:`ModelFamily` whose fit trains the flax network ``module``.

    Every callable takes the network as an ``nnx.Module`` (merged from the params
    inside the compiled program) and handles one chain.

    Args:
      name: short name, e.g. ``"lm"``.
      module: the generation-0 network (its parameters are the truth's weights;
        its graph, the architecture of every generation).
      loss: ``(model, batch, key) -> (b,)``: the per-point training loss (a
        negative log-likelihood or its bound); ``key`` drives dropout or the
        reparameterisation noise of the step.
      generate: ``(model, key, n) -> (n,) + event_shape``: ``n`` draws from the
        network (``n`` static).
      log_prob: ``(model, data) -> (n,)``: the log-likelihood (or its bound) of
        each point.
      real_data: the real training set, ``(N,) + event_shape``: what the truth's
        draws are taken from, and where the Fisher of ``training.ewc`` is
        measured.
      training: the :class:`~collapse_jax.neural.train.Training` of every
        generation.
      make: ``(rngs) -> module``, a fresh network; needed by ``start="scratch"``.
      held_out: held-out real data, ``(H,) + event_shape``, or None: recorded as
        ``held_out_nll`` (mean ``-log_prob``) every generation.
      metrics: ``(model, model0, params) -> dict``: more per-generation metrics
        (``model0``: the generation-0 network), named ``metric_names``.
      fisher_points: real points the EWC Fisher diagonal is averaged over.
      **optional: other :class:`ModelFamily` fields (e.g. ``sample_temporaries``).

    Returns:
      The family; ``family.generation0()`` is its truth.
    """
    real_np, held_np = _check_arguments(
        module,
        loss,
        generate,
        log_prob,
        real_data,
        training,
        make,
        held_out,
        metrics,
        fisher_points,
    )
    graphdef, params_state, rest = nnx.split(module, nnx.Param, ...)
    weights0 = jax.tree.map(np.asarray, nnx.to_pure_dict(params_state))

    def merge(weights):
        return nnx.merge(graphdef, weights, rest)

    def fresh_weights(key, like):
        return _cast_tree(network_weights(make(nnx.Rngs(key))), like)  # type: ignore[misc]

    fisher = None
    if training.ewc > 0:
        fisher = _fisher_diagonal(merge, loss, weights0, real_np[:fisher_points])

    def objective(weights, batch, key, anchor):
        value = jnp.mean(loss(merge(weights), batch, key))
        if fisher is not None:
            penalty = jax.tree.map(
                lambda f, w, a: jnp.sum(f * (w - a) ** 2), fisher, weights, anchor
            )
            value = value + 0.5 * training.ewc * sum(jax.tree.leaves(penalty))
        return value

    def real_draws(key, n, like):
        rows = jax.random.randint(key, (n,), 0, real_np.shape[0])
        data = jnp.asarray(real_np)[rows]
        if jnp.issubdtype(data.dtype, jnp.floating):
            data = data.astype(like.dtype)
        return data

    def sample(key, params, n):
        like = jax.tree.leaves(params.weights)[0]
        return jax.lax.cond(
            params.real > 0,
            lambda: real_draws(key, n, like),
            lambda: jnp.asarray(generate(merge(params.weights), key, n)).astype(
                real_draws(key, n, like).dtype
            ),
        )

    def fit(key, data, weights, prev):
        init_key, train_key = jax.random.split(key)
        gen0 = _cast_tree(weights0, prev.weights)
        if training.start == "generation0":
            start = gen0
        elif training.start == "previous":
            start = prev.weights
        else:
            start = fresh_weights(init_key, prev.weights)
        w = weights.astype(jax.tree.leaves(prev.weights)[0].dtype)
        trained, _ = train_steps(
            lambda p, batch, k: objective(p, batch, k, gen0),
            start,
            data,
            w,
            train_key,
            training,
        )
        return NeuralParams(trained, jnp.zeros((), jnp.int32))

    def family_log_prob(params, data):
        return log_prob(merge(params.weights), data)

    names = (("held_out_nll",) if held_np is not None else ()) + tuple(metric_names)

    def all_metrics(params, truth):
        del truth  # the family's own generation 0 is the reference network
        model = merge(params.weights)
        out = {}
        if held_np is not None:
            out["held_out_nll"] = -jnp.mean(log_prob(model, jnp.asarray(held_np)))
        if metrics is not None:
            model0 = merge(_cast_tree(weights0, params.weights))
            out.update(metrics(model, model0, params))
        return out

    def cast_params(params, dtype):
        return NeuralParams(
            jax.tree.map(lambda x: jnp.asarray(np.asarray(x), dtype), params.weights),
            jnp.asarray(np.asarray(params.real), jnp.int32),
        )

    expected = _shapes(weights0)

    def check_params(fn, arg, params):
        if _shapes(params.weights) != expected:
            fail(
                fn,
                f"{arg}.weights",
                f"the parameters of the {name} network",
                described("weights of another architecture"),
                f"Pass {name}.generation0() or params fitted by this family.",
            )

    def validate_params(fn, arg, params):
        if not isinstance(params, NeuralParams):
            fail(
                fn,
                arg,
                "NeuralParams",
                type(params).__name__,
                f"Pass {name}.generation0() (the generation-0 network).",
                error=TypeError,
            )
        check_params(fn, arg, params)
        for leaf in jax.tree.leaves(params.weights):
            if not np.all(np.isfinite(np.asarray(leaf))):
                fail(
                    fn,
                    f"{arg}.weights",
                    "finite",
                    described("NaN or inf entries"),
                    "Pass trained weights without NaN or inf.",
                )

    @functools.cache
    def fit_fixed_bytes(dtype: str) -> int:
        # One training step of one chain, measured by XLA's memory analysis: the
        # weights, gradients, optimiser state and one minibatch's activations.
        # The scan over steps holds one step's temporaries at a time.
        like = jax.tree.map(lambda x: jnp.asarray(x, dtype), weights0)
        tx = training.transform(1)
        batch = jnp.asarray(real_np[: training.batch_size])
        if jnp.issubdtype(batch.dtype, jnp.floating):
            batch = batch.astype(dtype)

        def one_step(w, opt_state, batch, key):
            value, grads = jax.value_and_grad(objective)(w, batch, key, w)
            updates, opt_state = tx.update(grads, opt_state, w)
            return jax.tree.map(jnp.add, w, updates), opt_state, value

        lowered = jax.jit(one_step).lower(like, tx.init(like), batch, jax.random.key(0))
        return compiled_bytes(lowered.compile())

    optional.setdefault("fit_fixed_bytes", fit_fixed_bytes)
    # Per point read, the minibatch draw holds its probability and cumulative sum.
    optional.setdefault("fit_temporaries", 4)
    # A host scalar, as other families' truths are (cast_params moves it).
    truth = NeuralParams(weights0, cast(jax.Array, np.int32(1)))
    return family(
        name=name,
        params_type=NeuralParams,
        sample=sample,
        fit=fit,
        log_prob=family_log_prob,
        event_shape=tuple(real_np.shape[1:]),
        metrics=all_metrics,
        metric_names=names,
        cast_params=cast_params,
        validate_params=validate_params,
        generation0=lambda: truth,
        population_tolerance=(
            "a network trained by a fixed number of optimiser steps has no "
            "population limit to converge to"
        ),
        **optional,
    )


_FN = "learned_family"


def _check_arguments(
    module,
    loss,
    generate,
    log_prob,
    real_data,
    training,
    make,
    held_out,
    metrics,
    fisher_points,
):
    """Refuse bad arguments of :func:`learned_family` in the house message.

    Returns:
      ``(real_data, held_out)`` as NumPy arrays (``held_out`` None when absent).
    """
    if not isinstance(module, nnx.Module):
        fail(
            _FN,
            "module",
            "a flax nnx.Module (the generation-0 network)",
            type(module).__name__,
            "Build the network with flax.nnx, e.g. MyNet(nnx.Rngs(0)).",
            error=TypeError,
        )
    callables = {"loss": loss, "generate": generate, "log_prob": log_prob}
    callables.update({} if metrics is None else {"metrics": metrics})
    callables.update({} if make is None else {"make": make})
    for arg, value in callables.items():
        if not callable(value):
            fail(
                _FN,
                arg,
                "a function",
                type(value).__name__,
                f"Pass {arg} as a function (see the learned_family docstring).",
                error=TypeError,
            )
    check_training(_FN, training)
    check_choice(_FN, "training.start", training.start, START_MODES)
    check_real(
        _FN,
        "training.ewc",
        training.ewc,
        low=0,
        fix="Pass a strength >= 0 (0 turns the penalty off).",
    )
    if training.start == "scratch" and make is None:
        fail(
            _FN,
            "make",
            "a function (rngs) -> network with start='scratch'",
            None,
            "Pass make= (e.g. the network's class), which builds the fresh "
            "network of every generation.",
            error=TypeError,
        )
    check_positive_int(_FN, "fisher_points", fisher_points)
    try:
        real_np = np.asarray(real_data)
    except (TypeError, ValueError):
        real_np = np.asarray(None)
    if real_np.ndim == 0 or real_np.shape[0] == 0 or real_np.dtype == object:
        fail(
            _FN,
            "real_data",
            "a non-empty array of real points (N,) + event_shape",
            described(f"shape {real_np.shape}"),
            "Pass the real training set, one point per row.",
        )
    held_np = None
    if held_out is not None:
        held_np = np.asarray(held_out)
        if (
            held_np.ndim == 0
            or held_np.shape[1:] != real_np.shape[1:]
            or (held_np.shape[0] == 0)
        ):
            fail(
                _FN,
                "held_out",
                f"a non-empty array of points shaped like real_data's "
                f"{real_np.shape[1:]} (H,) + event_shape",
                described(f"shape {held_np.shape}"),
                "Pass held-out real points, one per row, or None.",
            )
    return real_np, held_np


def _fisher_diagonal(merge, loss, weights, points):
    """The empirical Fisher diagonal ``E[(∇ log p(x))²]`` over real ``points``."""

    def point_grad(w, x, key):
        return jax.grad(lambda p: loss(merge(p), x[None], key)[0])(w)

    @jax.jit
    def diag(w, xs):
        keys = jax.random.split(jax.random.key(0), xs.shape[0])
        grads = jax.vmap(point_grad, in_axes=(None, 0, 0))(w, xs, keys)
        return jax.tree.map(lambda g: jnp.mean(g**2, axis=0), grads)

    return jax.tree.map(np.asarray, diag(jax.tree.map(jnp.asarray, weights), points))
