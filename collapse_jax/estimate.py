"""What a ``run_chains`` call would need in memory, before it runs.

:func:`estimate_chains` validates a call as :func:`~collapse_jax.run_chains` does and
returns its memory estimate (:mod:`collapse_jax.memory`) as a function of the number
of chains, allocating nothing chain-sized; ``memory.chain_bytes`` turns it into the
bytes one more chain costs (verify sizes its blocks of chain ids with them). It
sits above both the runner and the memory model, so neither imports the other's
caller.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from collapse_jax import chain as _chain
from collapse_jax import memory
from collapse_jax.checks import described, fail

__all__ = ["estimate_chains"]


def estimate_chains(
    family, init, *, keep: memory.Keep | None = None, **kwargs: Any
) -> Callable[[int], memory.Estimate]:
    """The memory estimate of ``run_chains(family, init, **kwargs)``, not run.

    The run is validated as :func:`~collapse_jax.run_chains` validates it (its
    errors, in its words) up to its memory check; nothing chain-sized is
    allocated and nothing is refused.

    Args:
      family, init: as for :func:`~collapse_jax.run_chains`.
      keep: how the caller keeps the records (default: as run_chains does).
      **kwargs: the other arguments of :func:`~collapse_jax.run_chains`, its
        defaults for those not given; ``key`` and ``num_chains`` may be left out
        (neither changes the estimate).

    Returns:
      ``estimate(c) -> Estimate``, the estimate with ``c`` chains.

    Raises:
      TypeError: for an argument that run_chains does not take, or a missing one;
        ValueError, TypeError: the errors run_chains raises for these arguments.

    Examples:
      >>> import collapse_jax as cj
      >>> from collapse_jax.estimate import estimate_chains
      >>> est = estimate_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0),
      ...                       num_generations=10, sample_size=100)
      >>> est(16).total > est(8).total
      True
    """
    signature = inspect.signature(_chain.run_chains)
    try:
        bound = signature.bind(family, init, **{"key": 0, "num_chains": 1, **kwargs})
    except TypeError as err:
        fail(
            "estimate_chains",
            "kwargs",
            f"arguments of run_chains ({', '.join(list(signature.parameters)[2:])})",
            described(str(err)),
            "Pass the arguments of the run_chains call to estimate.",
            error=TypeError,
        )
    bound.apply_defaults()
    args = dict(bound.arguments)
    family, init = args.pop("family"), args.pop("init")
    # With estimate_only=True, _prepare returns the estimate function.
    return _chain._prepare(  # pyright: ignore[reportReturnType]
        _chain._FN, family, init, keep=keep, estimate_only=True, **args
    )
