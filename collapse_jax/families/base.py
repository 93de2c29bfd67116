"""The family contract: a NamedTuple of pure functions acting on one chain.

A family is built by a cached lowercase factory (``gaussian(dim=1)``), so equal
arguments give the same object and a jitted runner compiles once per static
configuration. Every function handles one chain; the runner adds chain and sweep
axes with ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

__all__ = ["ModelFamily", "Params", "Data", "Weights"]

Params = Any  # a family's <Family>Params NamedTuple of arrays
Data = jax.Array  # (n,) + event_shape
Weights = jax.Array  # (n,) float, frequency weights (0 masks a point out)


class ModelFamily(NamedTuple):
    """A model family: how to sample from, fit and measure one model.

    Attributes:
      name: short name, e.g. ``"gaussian"``.
      params_type: the ``<Family>Params`` NamedTuple class.
      event_shape: shape of one data point.
      min_sample_size: the smallest sample size the estimator accepts.
      sample: ``(key, params, n) -> (n,) + event_shape`` draws; ``n`` is static.
      fit: ``(key, data, weights, prev) -> params``: weighted fit to data with
        frequency weights ``(n,)``; ``prev`` warm-starts iterative fits.
      log_prob: ``(params, data) -> (n,)`` log density or mass per point.
      refit: ``(sample_key, fit_key, params, weights) -> params``: draw
        ``len(weights)`` points from ``params`` and fit them with ``weights``. Same
        law as ``fit(fit_key, sample(sample_key, params, n), weights, params)``, but
        computed stably (the Gaussian refits standardised draws).
      sample_fit: ``(key, params, sample_size) -> params`` or None: an exact
        sufficient-statistic draw of the fit to ``sample_size`` points (may be
        traced), O(1) in ``sample_size``.
      fit_population: ``(params) -> params`` or None: the fit to the model's exact
        distribution (the population limit, ``sample_size=None``).
      metrics: ``(params, truth) -> dict[str, Array]``, the per-generation metrics.
      status: ``(params) -> int32``, a :class:`~collapse_jax.status.Status` code.
      cast_params: ``(params, dtype) -> params`` on the host.
      validate_params: ``(fn, name, params) -> None`` host-side check that raises the
        house error message for invalid parameters.
      metric_names: the names ``metrics`` returns, in order.
      min_sample_size_reason: what ``min_sample_size`` is needed for, for messages.
    """

    name: str
    params_type: type
    event_shape: tuple[int, ...]
    min_sample_size: int
    sample: Callable[..., Data]
    fit: Callable[..., Params]
    log_prob: Callable[..., jax.Array]
    refit: Callable[..., Params]
    sample_fit: Callable[..., Params] | None
    fit_population: Callable[..., Params] | None
    metrics: Callable[..., dict[str, jax.Array]]
    status: Callable[..., jax.Array]
    cast_params: Callable[..., Params]
    validate_params: Callable[..., None]
    metric_names: tuple[str, ...]
    min_sample_size_reason: str = "to fit the model"
