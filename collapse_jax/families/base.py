"""The family contract: a NamedTuple of pure functions acting on one chain.

A family is built by a cached lowercase factory (``gaussian(dim=1)``), so equal
arguments give the same object and a jitted runner compiles once per static
configuration. Every function handles one chain; the runner adds chain and sweep
axes with ``vmap``.

New families are built with :func:`family`: a family states what it has (``sample``,
``fit``, ``log_prob``, its params type; optionally an exact sufficient draw, a
population fit, a mixture view, approximation hooks, a location-scale, a probability
vector) and gets the rest by default (``refit``, ``cast_params``,
``validate_params``, ``status``, ``metrics``). The rest of the library asks a family
for *capabilities* (:data:`CAPABILITIES`, :func:`has`, :func:`require`), never for
its name or params type. :func:`collapse_jax.testing.check_family` checks the
contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._gaussians import MixtureView
from collapse_jax.checks import described, fail
from collapse_jax.status import fit_status

__all__ = [
    "CAPABILITIES",
    "check_is_family",
    "family",
    "has",
    "pools",
    "require",
    "LocationScale",
    "ProbabilityVector",
    "Decoder",
    "PooledFit",
    "Conjugate",
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


class LocationScale(NamedTuple):
    """Capability: the model's covariances can be rescaled (a location-scale law).

    Attributes:
      rescale: ``(params, factor) -> params``: the model with every covariance
        multiplied by ``factor`` (a traced positive scalar), its locations kept
        (``cj.variance_scale``).
      center: ``(params) -> (d,)`` or None: the centre of a model that is exactly
        one Gaussian ``N(center, Sigma)``, whose central regions are ellipsoids
        with ``chi2_d`` mass (the monitor's ``"coverage"`` statistic); None for a
        mixture.
    """

    rescale: Callable[..., Params]
    center: Callable[..., jax.Array] | None = None


class ProbabilityVector(NamedTuple):
    """Capability: the model is a probability vector over ``K`` categories.

    Attributes:
      get: ``(params) -> (K,)`` the probabilities.
      put: ``(params, probs) -> params``: the model with probabilities ``probs``
        (a distorted model to sample from: ``cj.temperature``, ``cj.top_k``, ...).
    """

    get: Callable[..., jax.Array]
    put: Callable[..., Params]


class Decoder(NamedTuple):
    """Capability: the model generates sequences autoregressively, with decoding
    settings that are traced numbers.

    Attributes:
      decode: ``(key, params, n, settings) -> (n,) + event_shape``: ``n`` draws
        decoded with ``settings``, a dict of traced numbers overriding the
        family's own decoding (names of
        :data:`collapse_jax.neural.decoding.SETTINGS`: ``"temperature"``,
        ``"top_k"``, ``"top_p"``, ``"repetition_penalty"``); the sampling biases
        of those names (``cj.temperature``, ...) draw through it.
      vocab_size: the number of tokens (bounds ``top_k``).
    """

    decode: Callable[..., Data]
    vocab_size: int


class PooledFit(NamedTuple):
    """Capability: the fit reads its data only through a sufficient statistic that
    pools exactly (a data-keeping regime then keeps the statistic, not the points).

    The statistic ``S`` is a pytree of arrays of a fixed shape. The all-zeros
    statistic (of the shapes of ``stats``' output) is that of the empty data set,
    so a regime starts from zeros; ``merge`` is exact in real arithmetic and stable
    in floating point (Chan's update of weighted moments, compensated sums), so
    ``fit(merge(stats(a), stats(b)), prev)`` equals ``fit_of`` on the points of
    ``a`` and ``b`` together up to float rounding (tests/test_pooled.py).

    Attributes:
      stats: ``(data, weights) -> S``: the statistic of ``n`` weighted points
        (weights in the params' float dtype; weight 0 masks a point out).
      merge: ``(S, S) -> S``: the statistic of the union of two data sets.
      fit: ``(S, prev) -> params``: the fit to the data summarised by ``S``.
      fit_of: the family's ``fit`` that ``fit`` reproduces. A family whose
        ``fit`` is replaced (an approximate fit, a wrapper that adds data) no
        longer matches it, and regimes keep its points instead
        (:func:`pools`).
    """

    stats: Callable[..., Any]
    merge: Callable[..., Any]
    fit: Callable[..., Params]
    fit_of: Callable[..., Params]


class Conjugate(NamedTuple):
    """Capability: the likelihood has a conjugate prior, so the exact Bayesian
    learners of :func:`collapse_jax.bayesian` exist for the family.

    The family only declares which conjugate model it is; the maths (posteriors,
    modes, predictives as numpyro distributions) live in
    ``collapse_jax.bayes.conjugate``, which reads the posterior's sufficient
    statistic from the family's own plug-in fit.

    Attributes:
      likelihood: the conjugate model: ``"normal"`` (1-D Gaussian,
        normal-inverse-gamma prior), ``"categorical"`` (Dirichlet prior) or
        ``"poisson"`` (Gamma prior).
      ddof: the plug-in fit's variance divisor offset (``S = var * (W - ddof)``).
    """

    likelihood: str
    ddof: int = 0


def pools(family: ModelFamily) -> bool:
    """Whether ``family``'s own fit can be computed from pooled statistics."""
    pooled = family.pooled
    return pooled is not None and pooled.fit_of is family.fit


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
      fit_fixed_bytes: ``(dtype_name) -> int`` or None: bytes ``fit`` holds per
        chain at its peak whatever the number of points it reads (an optimiser's
        state, one minibatch's activations: a learned family's training step,
        measured with XLA's memory analysis), on top of ``fit_temporaries``.
      location_scale: :class:`LocationScale` or None (capability).
      probability_vector: :class:`ProbabilityVector` or None (capability).
      num_categories: ``K`` for a family over ``K`` categories (data are indices in
        ``[0, K)``), or None.
      population_tolerance: the population-limit claim, for the contract kit
        (:func:`collapse_jax.testing.check_family`): None when ``fit`` to
        ``sample(params, M)`` converges to ``fit_population(params)`` as ``M``
        grows, so the check compares them at a k·SE tolerance from replicates;
        or a string saying why the family makes no such claim (e.g. EM finds a
        local optimum) and the check is skipped.
      generation0: ``() -> params`` or None: the family's own generation-0 model,
        for a family that carries one (a learned family's pre-trained network,
        :func:`collapse_jax.neural.learned_family`).
      decoder: :class:`Decoder` or None (capability): an autoregressive family's
        decoding with traced settings (:func:`collapse_jax.language_model`).
      absorbing: ``(params, sample_size) -> bool`` or None: True where ``params``
        is an absorbing state that :func:`collapse_jax.replace`'s step with
        ``sample_size`` draws maps to itself bit for bit, under any key and with
        either sampler (a Poisson rate at 0, a categorical point mass whose count
        is the sample size). The runner then skips the chunks of generations
        in which every chain is absorbed or failed, repeating their records
        (tests/test_absorbed.py).
      pooled: :class:`PooledFit` or None (capability): the fit from a sufficient
        statistic that pools exactly (:func:`collapse_jax.accumulate` then keeps
        O(1) numbers per chain instead of every draw).
      conjugate: :class:`Conjugate` or None (capability): the likelihood has a
        conjugate prior; :func:`collapse_jax.bayesian` then builds the exact
        Bayesian learners (posterior sample, MAP, posterior predictive).
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
    fit_fixed_bytes: Callable[[str], int] | None = None
    location_scale: LocationScale | None = None
    probability_vector: ProbabilityVector | None = None
    num_categories: int | None = None
    population_tolerance: str | None = None
    generation0: Callable[[], Params] | None = None
    decoder: Decoder | None = None
    pooled: PooledFit | None = None
    absorbing: Callable[..., jax.Array] | None = None
    conjugate: Conjugate | None = None


# ----------------------------------------------------------------- capabilities ---

#: Capability name -> (what it is, for messages; the test on a family).
CAPABILITIES: dict[str, tuple[str, Callable[[ModelFamily], bool]]] = {
    "location_scale": (
        "a location-scale (ModelFamily.location_scale)",
        lambda f: f.location_scale is not None,
    ),
    "gaussian_center": (
        "a single-Gaussian location-scale (ModelFamily.location_scale.center)",
        lambda f: f.location_scale is not None and f.location_scale.center is not None,
    ),
    "probability_vector": (
        "a probability vector (ModelFamily.probability_vector)",
        lambda f: f.probability_vector is not None,
    ),
    "decoder": (
        "an autoregressive decoder (ModelFamily.decoder)",
        lambda f: f.decoder is not None,
    ),
    "mixture_view": (
        "a mixture view (ModelFamily.view with view_kind='mixture')",
        lambda f: f.view is not None and f.view_kind == "mixture",
    ),
    "exact_sufficient_draw": (
        "an exact sufficient-statistic draw (ModelFamily.sample_fit)",
        lambda f: f.sample_fit is not None,
    ),
    "population_fit": (
        "a population fit (ModelFamily.fit_population)",
        lambda f: f.fit_population is not None,
    ),
    "approximation_hooks": (
        "optimiser hooks (ModelFamily.approx)",
        lambda f: f.approx is not None,
    ),
    "conjugate": (
        "a conjugate prior (ModelFamily.conjugate)",
        lambda f: f.conjugate is not None,
    ),
    "numeric_support": (
        "a numeric support (ModelFamily.numeric)",
        lambda f: f.numeric is not None,
    ),
}


def has(family: ModelFamily, capability: str) -> bool:
    """Whether ``family`` has ``capability`` (a key of :data:`CAPABILITIES`)."""
    return CAPABILITIES[capability][1](family)


def check_is_family(fn: str, family: object, name: str = "family") -> None:
    """Raise the house TypeError unless ``family`` is a :class:`ModelFamily`."""
    if not isinstance(family, ModelFamily):
        fail(fn, name, "a model family such as cj.gaussian() or cj.categorical(K)",
             type(family).__name__, "Build one with a family factory.",
             error=TypeError)


def require(
    fn: str, name: str, family: ModelFamily, capability: str, fix: str, what: str = ""
) -> None:
    """Raise the house error naming ``capability`` unless ``family`` has it.

    Args:
      fn, name: the entry point and the argument the user passed (``name`` is what
        needs the capability, e.g. ``"sampling"``).
      family: the fitted family.
      capability: a key of :data:`CAPABILITIES`.
      fix: how to fix it.
      what: what was passed, for the message (e.g. the bias's name).

    Raises:
      ValueError: ``fn(): name must be for a family with <capability>; got <what>
        for the <family> family, which has none. <fix>``.
    """
    description, test = CAPABILITIES[capability]
    if not test(family):
        fail(
            fn,
            name,
            f"for a family with {description}",
            described(
                (f"{what} for " if what else "")
                + f"the {family.name} family, which has none"
            ),
            fix,
        )


# ------------------------------------------------------------ learner switch ---

# The builder of Bayesian learners, ``(family, learner, prior, fn=) -> ModelFamily``.
# collapse_jax.bayes builds on the families, so the families cannot import it; it
# registers itself here when the package is imported (collapse_jax/__init__.py).
_LEARNER_BUILDERS: list[Callable[..., ModelFamily]] = []


def register_learners(builder: Callable[..., ModelFamily]) -> None:
    """Register the builder the factories' ``learner=``/``prior=`` forward to."""
    _LEARNER_BUILDERS[:] = [builder]


def with_learner(fn: str, fam: ModelFamily, learner: str, prior: Any) -> ModelFamily:
    """``fam`` itself for ``learner="plugin"`` and no prior (the same object, so
    its bits are unchanged), else ``collapse_jax.bayesian(fam, learner, prior)``
    with errors worded for the factory ``fn``."""
    if learner == "plugin" and prior is None:
        return fam
    # collapse_jax/__init__.py imports collapse_jax.bayes, so the builder is there
    # whenever a factory can be called.
    return _LEARNER_BUILDERS[0](fam, learner, prior, fn=fn)


# ---------------------------------------------------------------------- builder ---


def _float_leaf(params):
    """The first floating leaf of ``params`` (its dtype is the model's dtype)."""
    for leaf in jax.tree.leaves(params):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            return leaf
    raise TypeError("params have no floating-point leaf")


def _default_refit(sample, fit):
    def refit(sample_key, fit_key, params, weights):
        data = sample(sample_key, params, weights.shape[0])
        return fit(fit_key, data, weights.astype(_float_leaf(params).dtype), params)

    return refit


def _default_cast(params_type, int_fields):
    unknown = set(int_fields) - set(params_type._fields)
    if unknown:
        raise TypeError(
            f"family(): int_fields {sorted(unknown)} are not fields of "
            f"{params_type.__name__} {params_type._fields}"
        )
    # Counts are int32 in every dtype; every other leaf takes the run's dtype.
    kinds = tuple(
        jnp.int32 if field in int_fields else None for field in params_type._fields
    )

    def cast_params(params, dtype):
        return params_type(
            *(
                jnp.asarray(np.asarray(x), dtype if kind is None else kind)
                for x, kind in zip(params, kinds, strict=True)
            )
        )

    return cast_params


def _default_validate(params_type, built_by, check_params):
    builder = built_by.split("(")[0] if built_by else None

    def validate_params(fn, name, params):
        if not isinstance(params, params_type):
            fail(
                fn,
                name,
                params_type.__name__ + (f" (from {built_by})" if built_by else ""),
                type(params).__name__,
                f"Build the truth with {builder}."
                if builder
                else f"Pass a {params_type.__name__}.",
                error=TypeError,
            )
        if check_params is not None:
            check_params(fn, name, params)
        for field, x in zip(params._fields, params, strict=True):
            x = np.asarray(x)
            if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
                fail(
                    fn,
                    f"{name}.{field}",
                    "finite",
                    x.tolist(),
                    "Remove NaN or inf entries.",
                )

    return validate_params


def _default_status(params):
    floats = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(params)
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    finite = jnp.all(jnp.stack(floats)) if floats else jnp.asarray(True)
    return fit_status(jnp.asarray(False), ~finite)


def _default_metrics(params, truth):
    del truth
    return dict(zip(params._fields, params, strict=True))


def family(
    *,
    name: str,
    params_type: type,
    sample: Callable[..., Data],
    fit: Callable[..., Params],
    log_prob: Callable[..., jax.Array],
    event_shape: tuple[int, ...] = (),
    min_sample_size: int = 1,
    metrics: Callable[..., dict[str, jax.Array]] | None = None,
    metric_names: tuple[str, ...] | None = None,
    built_by: str | None = None,
    check_params: Callable[..., None] | None = None,
    int_fields: tuple[str, ...] = (),
    **optional: Any,
) -> ModelFamily:
    """Build a :class:`ModelFamily` from what the family has; the rest by default.

    A family states its pure functions (one chain each) and gets:

    * ``refit``: ``fit(fit_key, sample(sample_key, params, n), weights, params)``
      with the weights cast to the params' float dtype (pass ``refit=`` for a stable
      refit, e.g. from standardised draws);
    * ``cast_params``: the ``int_fields`` to int32, every other leaf to the run's
      dtype;
    * ``validate_params``: the params type (TypeError naming ``built_by``), then
      ``check_params(fn, name, params)`` (the family's own checks: shapes, ranges),
      then finiteness of every float leaf, all in the house message;
    * ``status``: ``NONFINITE_PARAMS`` when a float leaf is not finite, else OK;
    * ``metrics``: the params' fields, one metric each (``metric_names`` their
      names).

    Every other :class:`ModelFamily` field (``sample_fit``, ``fit_population``,
    ``view`` and ``view_kind``, ``approx``, ``location_scale``,
    ``probability_vector``, ``num_categories``, ``location``, ...) may be passed by
    keyword and is None (unsupported) otherwise. Cache the factory that calls this
    (``functools.cache``): a family is a static jit argument and compares by
    identity.

    Args:
      name: short name, e.g. ``"von_mises"``.
      params_type: the ``<Family>Params`` NamedTuple class.
      sample: ``(key, params, n) -> (n,) + event_shape``; ``n`` is static.
      fit: ``(key, data, weights, prev) -> params``.
      log_prob: ``(params, data) -> (n,)``.
      event_shape: shape of one data point.
      min_sample_size: the smallest sample size ``fit`` accepts.
      metrics: ``(params, truth) -> dict``; default: the params' fields.
      metric_names: the names ``metrics`` returns; default: the params' fields.
      built_by: the public constructor of params, for messages, e.g.
        ``"cj.gaussian_params(mean, cov)"``.
      check_params: ``(fn, name, params) -> None``: host checks of a truth of the
        right type, raising the house error.
      int_fields: the params fields that are integer counts (int32 in every
        dtype).
      **optional: any other :class:`ModelFamily` field.

    Returns:
      The family (not cached: cache the factory).

    Raises:
      TypeError: for an unknown field.

    Examples:
      >>> from typing import NamedTuple
      >>> class RateParams(NamedTuple):
      ...     rate: jax.Array  # () float
      >>> fam = family(
      ...     name="exponential",
      ...     params_type=RateParams,
      ...     sample=lambda k, p, n: jax.random.exponential(k, (n,)) / p.rate,
      ...     fit=lambda k, x, w, prev: RateParams(w.sum() / (w * x).sum()),
      ...     log_prob=lambda p, x: jnp.log(p.rate) - p.rate * x,
      ... )
      >>> fam.metric_names
      ('rate',)
    """
    unknown = set(optional) - set(ModelFamily._fields)
    if unknown:
        raise TypeError(
            f"family(): unknown ModelFamily fields {sorted(unknown)}; "
            f"known: {ModelFamily._fields}"
        )
    if metrics is None:
        metrics = _default_metrics
        if metric_names is None:
            metric_names = tuple(params_type._fields)
    if metric_names is None:
        raise TypeError("family(): pass metric_names with metrics")
    defaults = {
        "refit": _default_refit(sample, fit),
        "sample_fit": None,
        "fit_population": None,
        "status": _default_status,
        "cast_params": _default_cast(params_type, tuple(int_fields)),
        "validate_params": _default_validate(params_type, built_by, check_params),
    }
    fields = {**defaults, **optional}
    return ModelFamily(
        name=name,
        params_type=params_type,
        event_shape=tuple(event_shape),
        min_sample_size=int(min_sample_size),
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        metrics=metrics,
        metric_names=tuple(metric_names),
        **fields,
    )
