"""The memory estimate of a run as a function of its chains, by tracing its step.

:func:`estimator` is called by the runner once a run's shapes are known and before
any chain-sized array exists: it traces one generation's step with shapes only
(``jax.eval_shape``) to count the points the family's sampler draws and its fits
read, and returns ``estimate(c)`` (:func:`collapse_jax._memory_model.estimate_run`)
for ``c`` chains per sweep point. :mod:`collapse_jax.memory` re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import jax

from collapse_jax import compiled
from collapse_jax import keys as cjk
from collapse_jax._memory_model import (
    FIT_COPIES,
    RUN_CHAINS,
    Estimate,
    Keep,
    estimate_run,
)


def _point_bytes(family, data_spec, dtype) -> tuple[int, int]:
    """Bytes of the sampler's temporaries per point it draws, and of the fit's per
    point it reads (``sample_temporaries``, ``fit_temporaries``)."""
    fit = family.fit_temporaries
    if fit is None:  # FIT_COPIES floats per float (or int) of one point
        fit = FIT_COPIES * math.prod(data_spec.shape[1:])
    size = np.dtype(dtype).itemsize
    return math.ceil((family.sample_temporaries or 0) * size), math.ceil(fit * size)


def _traced_points(config, family, source, regime, one, truth, reference, hyper):
    """``(drawn, fitted)``: the points one generation's step draws with the
    family's sampler and those its fits read, per chain (0, 0: no points).

    Traces one generation's step with shapes only (``jax.eval_shape``), with a
    family whose ``sample``, ``fit`` and ``refit`` note the points they are given:
    the draws, a regime's kept data, real data, whatever the regime passes.
    """
    if config.sampler != "samples":  # statistics or models, no points
        return 0, 0

    drawn, fitted = [], []

    def sample(key, params, n):
        drawn.append(n)
        return family.sample(key, params, n)

    def fit(key, data, weights, prev):
        fitted.append(weights.shape[0])
        return family.fit(key, data, weights, prev)

    def refit(sample_key, fit_key, params, weights):
        drawn.append(weights.shape[0])
        fitted.append(weights.shape[0])
        return family.refit(sample_key, fit_key, params, weights)

    pooled = family.pooled
    if pooled is not None and pooled.fit_of is family.fit:  # keep it pooling
        pooled = pooled._replace(fit_of=fit)
    noting = family._replace(sample=sample, fit=fit, refit=refit, pooled=pooled)

    def step(state, key, active):
        gkeys = cjk.generation_keys(key, state.t)
        return compiled._step(
            noting,
            regime,
            config,
            state,
            gkeys,
            state.t,
            hyper,
            active,
            truth,
            source,
            reference,
        )

    key = jax.eval_shape(lambda: jax.random.key(0))
    jax.eval_shape(step, one, key, jax.ShapeDtypeStruct((), np.bool_))
    # Several draws or fits in one generation may all be alive at once.
    return sum(drawn), sum(fitted)


def estimator(
    *,
    config,
    family,
    source,
    regime,
    reference,
    truth,
    truth_view,
    state_spec,
    data_spec,
    hyper,
    points: int,
    pad: int,
    block: int | None,
    keep: Keep | None = None,
) -> Callable[[int], Estimate]:
    """The estimate of a run as a function of its chains per sweep point.

    Called by the runner once the shapes are known (``jax.eval_shape``) and before
    any chain-sized array exists; :func:`check_run` compares it with the memory
    available, :func:`estimate_chains` returns it.

    Args:
      config: the run's ``ChainConfig``.
      family, source, regime, reference, truth, truth_view: as in the runner (one
        chain; ``source``: the truth's family).
      state_spec: the regime state of one chain (``ShapeDtypeStruct`` s).
      data_spec: one draw's ``ShapeDtypeStruct`` of the fitted family.
      hyper: the traced settings of one chain (regime, bias, curation).
      points: sweep points in the call; ``c`` chains per point make ``points * c``.
      pad: the chain axis is padded to a multiple of this.
      block: chains per compiled call, or None.
      keep: how the caller keeps the records (default: as run_chains does).

    Returns:
      ``estimate(c) -> Estimate`` for ``c`` chains per sweep point.
    """
    keep = RUN_CHAINS if keep is None else keep
    int32 = jax.ShapeDtypeStruct((), np.int32)
    params_spec = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), reference
    )
    # Abstract shapes for eval_shape, where ChainState holds arrays at run time.
    one = compiled.ChainState(params_spec, state_spec, int32, int32)  # pyright: ignore[reportArgumentType]
    record_spec = jax.eval_shape(  # shapes only: the truth is abstract too
        lambda st, ref: compiled._record(family, regime, config, st, ref, truth_view),
        one,
        params_spec,
    )
    draw_spec = None
    if config.sampler == "samples":
        draw_spec = compiled.data_spec_n(data_spec, config.n_max)
    sample_points, fit_points = _traced_points(
        config, family, source, regime, one, truth, reference, hyper
    )
    sample_point_bytes, fit_point_bytes = _point_bytes(family, data_spec, config.dtype)
    fixed = family.fit_fixed_bytes
    fixed_bytes = 0 if fixed is None else int(fixed(config.dtype))

    def estimate(c: int) -> Estimate:
        total = points * c
        return estimate_run(
            config=config,
            params_spec=params_spec,
            state_spec=state_spec,
            record_spec=record_spec,
            draw_spec=draw_spec,
            chains=total,
            padded=-(-total // pad) * pad,
            block=block,
            keep=keep,
            fit_points=fit_points,
            fit_point_bytes=fit_point_bytes,
            sample_points=sample_points,
            sample_point_bytes=sample_point_bytes,
            fit_fixed_bytes=fixed_bytes,
        )

    return estimate
