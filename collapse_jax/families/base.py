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

from collapse_jax._gaussians import MixtureView

__all__ = [
    "ModelFamily",
    "MixtureView",
    "ApproxHooks",
    "Location",
    "Params",
    "Data",
    "Weights",
]

Params = Any  # a family's <Family>Params NamedTuple of arrays
Data = jax.Array  # (n,) + event_shape
Weights = jax.Array  # (n,) float, frequency weights (0 masks a point out)


class ApproxHooks(NamedTuple):
    """What an approximate (optimiser-based) fit needs from a family.

    The fitting procedure of ``collapse_jax.fitting`` minimises ``loss(params,
    target)`` with an optax optimiser for a fixed number of steps. A *target* is
    whatever the family's negative log-likelihood needs from the data: moments for a
    Gaussian, frequencies for a categorical, a weighted point set for a mixture.

    Attributes:
      target_from_data: ``(data, weights) -> target``, the weighted empirical target.
      refit_target: ``(sample_key, params, weights) -> target``: the target of
        ``len(weights)`` draws from ``params`` (computed stably, with the same law as
        ``target_from_data(sample(key, params, n), weights)``).
      sample_target: ``(key, params, sample_size) -> target`` or None: an exact
        sufficient-statistic draw of the target (traced ``sample_size``).
      target_from_model: ``(source_family, source_params) -> target``: the
        population target, i.e. the exact distribution of a model (of this family or
        of a source family the family accepts, see ``check_source``).
      loss: ``(params, target) -> ()``: the mean negative log-likelihood of the
        target under ``params`` (differentiable in every float leaf).
      project: ``(params) -> params``: map an optimiser iterate back to valid
        params (e.g. re-impose a unit-lower-triangular factor, renormalise weights).
    """

    target_from_data: Callable[..., Any]
    refit_target: Callable[..., Any]
    sample_target: Callable[..., Any] | None
    target_from_model: Callable[..., Any]
    loss: Callable[..., jax.Array]
    project: Callable[..., Params]


class Location(NamedTuple):
    """Where a family's models sit in space, and how they move: the run's frame.

    The fits of location families (Gaussian, mixture, OLS regression weights) are
    translation-equivariant: the chain of a truth at ``mu0`` is ``mu0`` plus the
    chain of the truth moved to the origin. The runner uses this to run every
    chain in a *frame* where the truth sits near the origin, so a float32 chain
    keeps its resolution wherever the truth is, and adds the frame's origin back
    on the host in float64 (``collapse_jax.frame``, docs/precision.md). Host
    functions take and return NumPy float64 arrays and accept any leading axes.

    Attributes:
      origin: ``(params) -> offset``: the frame's origin for a truth, a float64
        point of the family's location space (``(d,)``). It is the truth's centre
        rounded to a multiple of the largest power of two not above its scale, so
        the truth lands within half a scale of the origin, and a truth already
        that close to 0 is not moved (offset exactly 0: its bits are unchanged).
      shift: ``(params, offset) -> params``: the model moved by ``+offset``.
      shift_data: ``(data, offset) -> data``: data points moved by ``+offset``
        (NumPy on the host; also traced, in the data's dtype).
      spread: ``(params) -> (extent, scale)``: float64 arrays of one shape, the
        magnitude of each located coordinate and the scale of one draw along it
        (a fit to ``M`` draws moves it by about ``scale / sqrt(M)``); the runner
        checks that the run's dtype resolves that step (0: a deterministic step).
      moved: the metrics whose values depend on the location.
      restore: ``(frame_metrics, offset) -> metrics``: the absolute values of the
        ``moved`` metrics present, from the frame's values of those and of
        ``inputs`` (float64).
      inputs: the metrics ``restore`` reads besides the moved ones themselves.
      rebase: ``(offset) -> ModelFamily`` or None: this family with settings given
        in absolute coordinates (a fixed initialisation, a categorical's numeric
        support) moved by ``-offset``; None when it has none.
      equivariant: False when the fit is not translation-equivariant (a ridge
        penalty shrinks towards 0): runs are then not moved, and ``spread`` only
        checks the resolution of the truth where it is.
    """

    origin: Callable[..., Any]
    shift: Callable[..., Params]
    shift_data: Callable[..., Any]
    spread: Callable[..., tuple[Any, Any]]
    moved: tuple[str, ...] = ()
    restore: Callable[..., dict[str, Any]] | None = None
    inputs: tuple[str, ...] = ()
    rebase: Callable[..., Any] | None = None
    equivariant: bool = True


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
      check_source: ``(fn, name, source_family) -> None`` or None: raise the house
        error unless this family can be fitted to models of ``source_family`` (the
        expressivity error, ``run_chains(init_family=...)``). None: only itself.
      start_from: ``(source_family, source_params) -> params``: a model of this
        family to start iterative fits from when the previous model belongs to
        ``source_family`` (e.g. the heaviest components of a larger mixture).
      fit_population_from: ``(source_family, source_params) -> params``: the
        population fit (``sample_size=None``) to a model of ``source_family``: the
        best model of this family for that exact distribution.
      numeric: ``(data) -> (n, 1) float`` or None: the data of this family as points
        on the real line (a categorical on a numeric support), so continuous families
        can be fitted to it.
      view: ``(params) -> MixtureView`` (``view_kind="mixture"``) or
        ``(params) -> (K,) probs`` (``view_kind="probs"``), or None: the model in a
        family-independent form, for distances to a truth of another family.
      view_kind: ``"mixture"``, ``"probs"`` or None.
      approx: :class:`ApproxHooks` or None: what optimiser-based fits need.
      exact_family: None, or the family with the exact fit that this one wraps in
        an imperfect procedure (``collapse_jax.approximate``); the runner projects
        a truth of another family with the exact fit, so the reference of a run
        does not depend on the procedure.
      fit_population_mixture: ``(log_weights (k,), params) -> params`` or None:
        the population fit to the mixture ``sum_j w_j p_j`` of ``k`` models of this
        family (``params`` stacked on a leading axis; weight 0 is ``-inf``): how the
        mixing regimes (``mix``, ``fresh``, ``accumulate``, ``general_mix``) run in
        the population limit.
      sample_temporaries: floats (of the run's dtype) that ``sample`` holds per
        point it draws, at its peak, beyond the draws themselves (e.g. one Gumbel
        variate per category), or None for none. For the memory estimate
        (collapse_jax.memory), measured with XLA's memory analysis
        (tests/test_memory.py).
      fit_temporaries: floats (of the run's dtype) that ``fit`` holds per data
        point it reads, at its peak (weighted copies, per-point outer products,
        responsibilities), or None: ``collapse_jax.memory.FIT_COPIES`` per float of
        a point. For the memory estimate, as ``sample_temporaries``.
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
    check_source: Callable[..., None] | None = None
    start_from: Callable[..., Params] | None = None
    fit_population_from: Callable[..., Params] | None = None
    numeric: Callable[..., Data] | None = None
    view: Callable[..., Any] | None = None
    view_kind: str | None = None
    approx: ApproxHooks | None = None
    exact_family: Any = None
    fit_population_mixture: Callable[..., Params] | None = None
    location: Location | None = None
    check_run: Callable[..., None] | None = None
    sample_temporaries: float | None = None
    fit_temporaries: float | None = None
