"""The shared optimiser loop: a fixed number of optax steps under ``lax.scan``.

A fixed step count (not a tolerance) keeps the fit a pure, static-shaped function:
under ``vmap`` a ``while_loop`` would run every chain to the slowest anyway, and the
number of steps *is* the approximation error being studied (docs/theory.md SH-1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

__all__ = ["minimise"]


def minimise(
    objective: Callable[[Any], jax.Array],
    start: Any,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    project: Callable[[Any], Any],
) -> Any:
    """Run ``num_steps`` updates of ``optimizer`` on ``objective`` from ``start``.

    Each step is ``params <- project(params + update(grad objective(params)))``; the
    optimiser state starts fresh (``optimizer.init(start)``) at every call, so a fit
    is a function of its start and its objective only.

    Args:
      objective: ``params -> ()`` float, differentiable in every float leaf.
      start: the initial params pytree.
      optimizer: an optax transformation; it must act leaf by leaf without float
        reductions across entries (sgd, momentum and adam do), or a chain's bits
        would depend on how many chains run beside it.
      num_steps: static number of steps (``>= 1``).
      project: maps an iterate back to valid params.

    Returns:
      The params after ``num_steps`` steps (same structure and dtypes as ``start``).
    """

    def step(carry, _):
        params, state = carry
        grads = jax.grad(objective)(params)
        updates, state = optimizer.update(grads, state, params)
        params = project(optax.apply_updates(params, updates))
        return (params, state), None

    (params, _), _ = jax.lax.scan(
        step, (start, optimizer.init(start)), None, length=num_steps
    )
    return params
