"""Skipping the work of absorbed chains: a chunk in which nothing can change.

A family's ``absorbing(params, sample_size)`` (:class:`~collapse_jax.families.base.
ModelFamily`) marks states that :func:`~collapse_jax.replace`'s step maps to
themselves bit for bit (a Poisson rate at 0, a categorical point mass); a failed
chain is frozen by the runner. When every chain of the run is one or the other for
each sample size of the next chunk, running the chunk would only repeat the last
records: the runner (:meth:`collapse_jax.chain.Plan.chunks`) repeats them on the
host instead and advances the generation counter, with the same bits as running it
(tests/test_absorbed.py). The check is one small compiled reduction per chunk.
Inside the scan a ``lax.cond`` would not help: under ``vmap`` over chains it becomes
a select that runs both branches.
"""

from __future__ import annotations

import functools

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax.regimes import replace

__all__ = ["skippable", "settled", "repeat"]


def skippable(family, regime, config, cross: bool) -> bool:
    """Whether the run's chunks may be skipped once every chain is settled: the
    family marks absorbing states, and the step is :func:`replace`'s plain one (no
    sampling bias, curation or recorded regime state) on draws or statistics."""
    return (
        family.absorbing is not None
        and regime.step is replace().step
        and config.sampling is None
        and config.curation is None
        and not config.observed
        and config.sampler in ("samples", "sufficient")
        and not cross
    )


@functools.partial(jax.jit, static_argnames="family")
def _settled(family, params, status, sizes):
    def one(p, s):
        absorbed = jax.vmap(lambda m: family.absorbing(p, m))(sizes)
        return jnp.all(absorbed) | (s != 0)

    return jnp.all(jax.vmap(one)(params, status))


def settled(family, state, schedule, done: int, valid: int, length: int) -> bool:
    """Whether every chain of ``state`` stays as it is for generations ``done`` to
    ``done + valid`` (the sample sizes of ``schedule`` there; ``length`` pads them
    to one shape, so one program serves every chunk)."""
    sizes = np.asarray(schedule[done : done + valid])
    sizes = np.concatenate([sizes, np.repeat(sizes[-1:], length - valid)])
    return bool(_settled(family, state.params, state.status, jnp.asarray(sizes)))


def repeat(last, length: int):
    """Records ``(metrics, params, status)`` of one generation (axis 1 of length
    1) repeated ``length`` times along axis 1."""
    return jax.tree.map(lambda x: jnp.repeat(x, length, axis=1), last)
