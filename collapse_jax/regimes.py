"""Regimes: what each fit sees.

A regime is a value with a pure ``step`` that turns the current model (and the
regime's own per-chain state, e.g. a buffer of past data) into the next model. The
runner never branches on the regime. Numbers one might sweep (fractions, weights) are
the regime's ``hyper``: the runner passes them as traced arguments, so a sweep over
them is one compiled program (:func:`collapse_jax.sweep`).

Every regime but :func:`replace` builds a weighted data set and calls the family's
weighted ``fit(key, data, weights, prev)``: the real, previous and synthetic parts of
a fit's data carry their shares through the weights. The regimes:

========================  ============================================================
:func:`replace`           the newest synthetic draws only (docs/theory.md SH-0, α = 1)
:func:`accumulate`        every generation's draws so far (LR-0, LR-3)
:func:`accumulate_subsample`  all draws kept, a uniform subsample of fixed size fitted
:func:`mix`               a fixed real set pooled with the synthetic draws (AL-1, BE-1)
:func:`fresh`             new real draws each generation plus synthetic (AL-3, SE-2)
:func:`retain_original`   a random share of the original data kept (Shumailov's 10 %)
:func:`general_mix`       SH-0: newest model, previous data, original data (α, β, γ)
========================  ============================================================

Samplers: :func:`replace` supports all three; the others draw samples, or run in the
population limit (``sample_size=None``) for families with
``fit_population_mixture`` (Gaussian, categorical), where each fit is the exact fit
to a mixture of models (SH-0's deterministic check: a well-specified truth is kept).

Data-keeping regimes hold their buffers in the scan carry: :func:`accumulate`,
:func:`accumulate_subsample` and :func:`general_mix` keep ``num_generations ×
max(sample_size)`` points per chain, so their memory and per-generation cost grow
with the length of the run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax._util import ascending_rank
from collapse_jax._util import static_partial as _static
from collapse_jax.checks import check_positive_int, check_real, described, fail
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.keys import GenerationKeys

__all__ = [
    "Regime",
    "StepContext",
    "replace",
    "accumulate",
    "accumulate_subsample",
    "mix",
    "fresh",
    "retain_original",
    "general_mix",
    "source_data",
    "SAMPLERS",
]

SAMPLERS = ("samples", "sufficient", "population")
_SAMPLES_ONLY = ("samples",)

# Sub-streams of the generation's ``regime`` key (GenerationKeys.regime).
_STREAM_FRESH = 1
_STREAM_SUBSAMPLE = 2
_STREAM_RETAIN = 3
_STREAM_CURATION = 4


class StepContext(NamedTuple):
    """What one generation of one chain knows besides its model and regime state.

    Attributes:
      family: the fitted family.
      keys: this generation's :class:`~collapse_jax.keys.GenerationKeys`.
      t: int32 (), the generation index (the fit makes model ``t + 1``).
      sample_size: int32 (), this generation's ``M_t`` (traced).
      n_max: static, the largest ``M_t`` (draws are masked down to ``M_t``).
      sampler: static, ``"samples"``, ``"sufficient"`` or ``"population"``.
      hyper: dict of traced numbers of the regime, sampling bias and curation.
      truth: the truth's params (of ``truth_family``), for fresh real data.
      truth_family: the truth's family (``family`` unless ``init_family`` differs).
      reference: the truth seen as a model of ``family`` (``ChainResult.reference``).
      first_source: static; True for the first fit of a cross-family run, whose
        draws come from the truth (``truth_family``) rather than from ``params``.
      sampling: a :class:`~collapse_jax.sampling.SamplingBias` or None.
      curation: a :class:`~collapse_jax.curation.Curation` or None.
      num_generations: static, the run's ``N``.
    """

    family: ModelFamily
    keys: GenerationKeys
    t: jax.Array
    sample_size: jax.Array
    n_max: int
    sampler: str
    hyper: Mapping[str, jax.Array]
    truth: Params
    truth_family: ModelFamily
    reference: Params
    first_source: bool = False
    sampling: Any = None
    curation: Any = None
    num_generations: int = 1


class Regime(NamedTuple):
    """A data regime.

    Attributes:
      name: short name.
      samplers: the samplers this regime supports (subset of ``SAMPLERS``).
      init: ``(family, data, num_generations) -> state``: the regime's per-chain
        state (``()`` when it keeps none); ``data`` is a ``ShapeDtypeStruct`` of one
        generation's ``n_max`` draws.
      step: ``(ctx: StepContext, params, state) -> (params, state)``: one
        generation of one chain.
      hyper: ``{name: value}``, the regime's traced (sweepable) numbers.
      check: ``(fn, family, data, schedule, num_generations, hyper) -> None`` or
        None: host-side validation against the run (``data``: a ``ShapeDtypeStruct``
        of one draw of the fitted family; ``schedule``: the ``M_t`` as an int array,
        or None for the population limit).
      sweepable: the names in ``hyper`` that :func:`collapse_jax.sweep` may vary.
      checkers: ``{name: (fn, name, value) -> value}``: validates one swept value.
      describe: a JSON-serialisable description of the settings.
      observe: ``(state) -> {name: array}`` or None: per-generation records the
        regime keeps in its state (e.g. a collapse monitor's statistic and alarm),
        recorded as metrics under the names ``observed``.
      observed: the names ``observe`` returns.
      mixes_models: True when, in the population limit, a fit is to a mixture of
        models (it then needs ``family.fit_population_mixture``).
      cpu_batch_limit: None, or the most chains one compiled call may hold on the
        CPU backend (the runner then loops over blocks of chains; results are
        unchanged, a chain's bits not depending on its batch). Works around an
        XLA:CPU runtime hang seen with the monitor's rank statistic.
      data_hyper: the names in ``hyper`` that hold data points given in the
        truth's coordinates (a real set, a held-out set): the runner moves them
        into a translated run's frame with the truth (collapse_jax.frame).
    """

    name: str
    samplers: tuple[str, ...]
    init: Callable[..., Any]
    step: Callable[..., tuple[Params, Any]]
    hyper: Any = ()
    check: Callable[..., None] | None = None
    sweepable: tuple[str, ...] = ()
    checkers: Any = ()
    describe: Any = ()
    observe: Callable[..., Any] | None = None
    observed: tuple[str, ...] = ()
    mixes_models: bool = False
    cpu_batch_limit: int | None = None
    data_hyper: tuple[str, ...] = ()


# ---------------------------------------------------------------- shared pieces ---


def _mask(n_max, sample_size, dtype):
    """Weights that keep the first ``sample_size`` of ``n_max`` draws."""
    float_dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32
    return (jnp.arange(n_max, dtype=jnp.int32) < sample_size).astype(float_dtype)


def _float_dtype(params):
    for leaf in jax.tree.leaves(params):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.dtype
    return jnp.float32


def source_data(family: ModelFamily, source_family: ModelFamily, data):
    """Draws of ``source_family`` as data ``family`` can fit.

    A categorical on a numeric support yields category indices; a continuous family
    fits their values (``source_family.numeric``).
    """
    if source_family.numeric is not None and family.numeric is None:
        return source_family.numeric(data)
    return data


def _as_family_data(family, source_family, data, dtype):
    data = source_data(family, source_family, data)
    if jnp.issubdtype(data.dtype, jnp.floating) and data.dtype != dtype:
        data = data.astype(dtype)
    return data


def _sampled_model(ctx, params):
    """The model the draws come from: ``params`` distorted by the sampling bias."""
    if ctx.sampling is None or ctx.sampling.distort is None:
        return params
    return ctx.sampling.distort(ctx.family, params, ctx.hyper)


def _synthetic(ctx: StepContext, params):
    """``n_max`` draws from the current model (the truth on a first cross-family
    fit), weights masking them to ``M_t``, after the sampling bias and curation."""
    dtype = _float_dtype(params)
    weights = _mask(ctx.n_max, ctx.sample_size, dtype)
    if ctx.first_source:
        source = ctx.truth_family
        raw = source.sample(ctx.keys.sample, ctx.truth, ctx.n_max)
        data = _as_family_data(ctx.family, source, raw, dtype)
    else:
        model = _sampled_model(ctx, params)
        if ctx.sampling is not None and ctx.sampling.sample is not None:
            data = ctx.sampling.sample(
                ctx.family, ctx.keys.sample, model, ctx.n_max, ctx.hyper
            )
        else:
            data = ctx.family.sample(ctx.keys.sample, model, ctx.n_max)
    # Materialise the draws once (XLA would otherwise recompute them inside several
    # fusions, each free to round differently).
    data = jax.lax.optimization_barrier(data)
    if ctx.curation is not None:
        weights = ctx.curation.weigh(
            ctx.family,
            jax.random.fold_in(ctx.keys.regime, _STREAM_CURATION),
            params,
            ctx.reference,
            data,
            weights,
            ctx.hyper,
        )
    return data, weights


def _fit(ctx, data, weights, prev):
    return ctx.family.fit(ctx.keys.fit, data, weights, prev)


def _concat(*parts):
    return jnp.concatenate(parts, axis=0)


def _shares(real_fraction, real_total, synthetic_total, pooled):
    """Per-point multipliers ``(a, b)`` for real and synthetic weights.

    The real points then carry the share ``real_fraction`` of the total weight, and
    the over-represented side is down-weighted, so no weight exceeds its input:
    ``real_fraction = 0`` fits the synthetic draws only, ``1`` the real set only, and
    ``real_total / (real_total + synthetic_total)`` is plain pooling (``a = b = 1``).
    """
    one = jnp.ones((), real_total.dtype)
    if pooled:
        return one, one
    f = real_fraction.astype(real_total.dtype)
    # a / b solves f = a R / (a R + b S); the larger of a, b is 1.
    num_a = f * synthetic_total
    num_b = (1 - f) * real_total
    big = jnp.maximum(num_a, num_b)
    safe = jnp.where(big > 0, big, one)
    return num_a / safe, num_b / safe


def _fit_with_real(ctx, params, real, real_w, data, weights, pooled, first=None):
    """Fit the real points with the synthetic draws, shares set by ``_shares``
    (``real_fraction`` from ``hyper``); where ``first``, the draws alone."""
    wdtype = weights.dtype
    a, b = _shares(
        ctx.hyper.get("real_fraction", jnp.zeros((), wdtype)),
        tree_sum(real_w),
        tree_sum(weights),
        pooled,
    )
    if first is not None:
        a = jnp.where(first, jnp.zeros((), wdtype), a)
        b = jnp.where(first, jnp.ones((), wdtype), b)
    w = _concat(a * real_w, b * weights)
    return _fit(ctx, _concat(real, data), w, params)


class _Pool(NamedTuple):
    """A fixed-capacity buffer of past draws with their weights."""

    data: jax.Array  # (num_generations * n_max,) + event shape
    weights: jax.Array  # (num_generations * n_max,)


def _empty_pool(data, num_generations, dtype):
    cap = num_generations * data.shape[0]
    return _Pool(
        jnp.zeros((cap,) + data.shape[1:], data.dtype), jnp.zeros((cap,), dtype)
    )


def _write(pool, t, data, weights):
    start = t * data.shape[0]
    idx = (start,) + (jnp.zeros_like(start),) * (data.ndim - 1)  # one index dtype
    return _Pool(
        jax.lax.dynamic_update_slice(pool.data, data, idx),
        jax.lax.dynamic_update_slice(pool.weights, weights, (start,)),
    )


class _Original(NamedTuple):
    """The generation-0 draws D_0 from the truth (the 'original data')."""

    data: jax.Array  # (n_max,) + event shape
    weights: jax.Array  # (n_max,) masks D_0 to M_0


def _empty_original(data, dtype):
    return _Original(
        jnp.zeros(data.shape, data.dtype), jnp.zeros(data.shape[:1], dtype)
    )


def _keep_first(t, original, data, weights):
    """Store the draws of generation 0 as the original data."""
    first = t == 0
    return _Original(
        jnp.where(first, data, original.data),
        jnp.where(first, weights, original.weights),
    )


def _random_subset(key, valid, k):
    """A uniform random subset of size ``k`` (traced) of the ``valid`` entries."""
    u = jax.random.uniform(key, valid.shape)
    score = jnp.where(valid, u, 2.0)
    return ascending_rank(score) < k


def _hyper_scalar(hyper, name, t):
    """A per-generation hyper value: a scalar, or entry ``t`` of a schedule."""
    v = hyper[name]
    if v.ndim == 0:
        return v
    return v[jnp.minimum(t, v.shape[0] - 1)]


# ------------------------------------------------------------ population limit ---
#
# With ``sample_size=None`` the data sets are distributions: each fit is the
# population fit to a mixture of models (``family.fit_population_mixture``), and
# a data-keeping regime's state is the pooled model itself (a moment match for a
# Gaussian, mixed probabilities for a categorical: both exact for the next fit).

_POP = ("samples", "population")


def _either_init(data_init):
    """``init`` that keeps the pooled model in the population limit."""
    return _static(_dispatch_init, data_init)


def _dispatch_init(data_init, family, data, num_generations, reference=None):
    if reference is not None:  # the population limit: the pooled model q
        return reference
    return data_init(family, data, num_generations)


def _pop_fit(ctx, weights, models):
    """The population fit to ``sum_j weights[j] * models[j]``."""
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *models)
    dtype = _float_dtype(models[0])
    w = jnp.stack([jnp.asarray(x, dtype) for x in weights])
    log_w = jnp.where(w > 0, jnp.log(jnp.where(w > 0, w, 1)), -jnp.inf)
    return ctx.family.fit_population_mixture(log_w, stacked)


def _real_share_pop(ctx, params, real_weight):
    """Population fit to ``f * truth + (1 - f) * (sampled model)``."""
    f = real_weight.astype(_float_dtype(params))
    return _pop_fit(ctx, [f, 1 - f], [ctx.reference, _sampled_model(ctx, params)])


# ---------------------------------------------------------------------- replace ---


def _no_state(family, data, num_generations, reference=None):
    del family, data, num_generations, reference
    return ()


def _replace_step(ctx: StepContext, params, state):
    family = ctx.family
    custom_draws = ctx.curation is not None or (
        ctx.sampling is not None and ctx.sampling.sample is not None
    )
    if ctx.first_source and ctx.sampler == "population":
        return family.fit_population_from(ctx.truth_family, ctx.truth), state
    if ctx.first_source or custom_draws:
        data, weights = _synthetic(ctx, params)
        return _fit(ctx, data, weights, params), state
    model = _sampled_model(ctx, params)
    if ctx.sampler == "population":
        return family.fit_population(model), state
    if ctx.sampler == "sufficient":
        return family.sample_fit(ctx.keys.sample, model, ctx.sample_size), state
    # Draw n_max points and mask to M_t through the weights: one compile serves every
    # schedule, and samplers are prefix-stable so the masked fit equals the unmasked
    # fit to M_t points (pinned by tests/test_keys.py). ``refit`` draws and fits in a
    # stable frame (the Gaussian refits standardised draws).
    weights = _mask(ctx.n_max, ctx.sample_size, _float_dtype(params))
    return family.refit(ctx.keys.sample, ctx.keys.fit, model, weights), state


@functools.cache
def replace() -> Regime:
    """Each model is fitted to the newest synthetic data only (docs/theory.md SH-0).

    Supports every sampler: sample-based, the exact sufficient-statistic draw and the
    population limit (``sample_size=None``).

    Examples:
      >>> replace().name
      'replace'
    """
    return Regime("replace", SAMPLERS, _no_state, _replace_step, describe={})


# ------------------------------------------------------------------- accumulate ---


def _pool_init(family, data, num_generations):
    del family
    return _empty_pool(data, num_generations, _weights_dtype(data))


def _weights_dtype(data):
    return data.dtype if jnp.issubdtype(data.dtype, jnp.floating) else jnp.float32


def _accumulate_pop(ctx, params, q):
    """q_{t+1} = (t q_t + p_t) / (t + 1): every generation's model, equal shares."""
    t = ctx.t.astype(_float_dtype(params))
    q = _pop_fit(ctx, [t / (t + 1), 1 / (t + 1)], [q, _sampled_model(ctx, params)])
    return q, q


def _accumulate_step(ctx: StepContext, params, pool):
    if ctx.sampler == "population":
        return _accumulate_pop(ctx, params, pool)
    data, weights = _synthetic(ctx, params)
    pool = _write(pool, ctx.t, data, weights.astype(pool.weights.dtype))
    return _fit(ctx, pool.data, pool.weights, params), pool


@functools.cache
def accumulate() -> Regime:
    """Each model is fitted to every generation's draws so far, with equal weights.

    Model ``t + 1`` sees ``D_0 ∪ D_1 ∪ … ∪ D_t`` (``D_0`` from the truth): the
    accumulation of Gerstgrasser et al. (docs/theory.md LR-0, LR-2, LR-3): it bounds the
    error where :func:`replace` lets it grow. Keeps ``num_generations ×
    max(sample_size)`` points per chain.

    Examples:
      >>> accumulate().name
      'accumulate'
    """
    return Regime(
        "accumulate",
        _POP,
        _either_init(_pool_init),
        _accumulate_step,
        describe={},
        mixes_models=True,
    )


def _subsample_step(size, ctx: StepContext, params, pool):
    if ctx.sampler == "population":  # a subsample of the pooled law is the law
        return _accumulate_pop(ctx, params, pool)
    data, weights = _synthetic(ctx, params)
    pool = _write(pool, ctx.t, data, weights.astype(pool.weights.dtype))
    key = jax.random.fold_in(ctx.keys.regime, _STREAM_SUBSAMPLE)
    u = jax.random.uniform(key, pool.weights.shape)
    score = jnp.where(pool.weights > 0, u, 2.0)
    _, idx = jax.lax.top_k(-score, size)
    return _fit(ctx, pool.data[idx], pool.weights[idx], params), pool


def _check_subsample(size, fn, family, data, schedule, num_generations, hyper):
    del family, data, num_generations, hyper
    if schedule is not None and size > int(schedule[0]):
        fail(
            fn,
            "regime",
            f"accumulate_subsample(size) with size <= the first sample size "
            f"M_0 = {int(schedule[0])} (the data available to the first fit)",
            described(f"size={size}"),
            "Lower the subsample size, or raise sample_size.",
        )


@functools.cache
def accumulate_subsample(size: int) -> Regime:
    """All draws are kept; each fit sees a uniform random subsample of ``size``.

    Kazdan et al.'s accumulate-subsample: the data pool grows as under
    :func:`accumulate`, but the training-set size stays fixed (drawn without
    replacement from every point drawn so far). ``size`` must not exceed the first
    generation's sample size.

    Examples:
      >>> accumulate_subsample(50).name
      'accumulate_subsample'
    """
    size = check_positive_int("accumulate_subsample", "size", size)
    return Regime(
        "accumulate_subsample",
        _POP,
        _either_init(_pool_init),
        functools.partial(_subsample_step, size),
        check=functools.partial(_check_subsample, size),
        describe={"size": size},
        mixes_models=True,
    )


# -------------------------------------------------------------- mix and fresh ---


def _fraction_checker(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        high=1.0,
        fix=f"Pass {name} between 0 (synthetic only) and 1 (real only).",
    )


def _real_fraction(fn, real_fraction, synthetic_ratio):
    if real_fraction is not None and synthetic_ratio is not None:
        fail(
            fn,
            "synthetic_ratio",
            "None when real_fraction is given (they are two names for one share)",
            synthetic_ratio,
            "Pass one of real_fraction or synthetic_ratio.",
        )
    if synthetic_ratio is not None:
        lam = check_real(
            fn,
            "synthetic_ratio",
            synthetic_ratio,
            low=0.0,
            fix="Pass the synthetic-to-real weight ratio λ >= 0.",
        )
        return 1.0 / (1.0 + lam)
    if real_fraction is None:
        return None
    return _fraction_checker(fn, "real_fraction", real_fraction)


class _MixState(NamedTuple):
    original: _Original


def _mix_init(has_real, family, data, num_generations):
    del family, num_generations
    if has_real:
        return ()
    return _MixState(_empty_original(data, _weights_dtype(data)))


def _mix_step(has_real, pooled, ctx: StepContext, params, state):
    if ctx.sampler == "population":
        return _real_share_pop(ctx, params, ctx.hyper["real_fraction"]), state
    data, weights = _synthetic(ctx, params)
    wdtype = weights.dtype
    if has_real:
        real = ctx.hyper["real_data"]
        real_w = jnp.ones(real.shape[:1], wdtype)
        first = jnp.bool_(False)
    else:
        original = _keep_first(ctx.t, state.original, data, weights)
        state = _MixState(original)
        real, real_w = original.data, original.weights
        first = ctx.t == 0  # the first fit sees D_0 once (it is the real set)
    fitted = _fit_with_real(ctx, params, real, real_w, data, weights, pooled, first)
    return fitted, state


def _check_real_data(fn, family, probe, real):
    """The real set must be data of the fitted family: shape and dtype."""
    event = family.event_shape
    arr = np.asarray(real)
    if arr.dtype == object or arr.ndim != 1 + len(event) or arr.shape[1:] != event:
        fail(
            fn,
            "real_data",
            f"an array of shape (N,) + {event} (N real points of the "
            f"{family.name} family)",
            described(f"shape {arr.shape}"),
            "Pass the real data set as an array with one row per point.",
        )
    if arr.shape[0] < 1:
        fail(
            fn,
            "real_data",
            "a non-empty array",
            described("0 points"),
            "Pass at least one real point.",
        )
    integer = jnp.issubdtype(probe.dtype, jnp.integer)
    if integer and not np.issubdtype(arr.dtype, np.integer):
        fail(
            fn,
            "real_data",
            f"integer data (category indices) for the {family.name} family",
            described(f"dtype {arr.dtype}"),
            "Pass integer category indices, e.g. np.asarray(x, np.int32).",
            error=TypeError,
        )
    if not integer and not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        fail(
            fn,
            "real_data",
            f"real numbers for the {family.name} family",
            described(f"dtype {arr.dtype}"),
            "Pass a float array.",
            error=TypeError,
        )
    if not integer and not np.all(np.isfinite(arr)):
        fail(
            fn,
            "real_data",
            "finite values",
            described("non-finite entries"),
            "Drop or repair the non-finite points.",
        )
    if integer:
        k = _num_categories(family)
        if k is not None and (arr.min() < 0 or arr.max() >= k):
            fail(
                fn,
                "real_data",
                f"category indices in [0, {k})",
                described(f"values in [{arr.min()}, {arr.max()}]"),
                "Pass indices of the family's categories.",
            )


def _num_categories(family):
    return family.num_categories


def _check_population_share(fn, schedule, hyper):
    if schedule is not None:
        return
    if "real_data" in hyper:
        fail(
            fn,
            "regime",
            "a real set drawn from the truth (real_data=None) in the population "
            "limit (sample_size=None)",
            described("a fixed real_data array"),
            "Drop real_data (the real data are then the truth itself), or pass a "
            "finite sample_size.",
        )
    if "real_fraction" not in hyper:
        fail(
            fn,
            "regime",
            "a real_fraction in the population limit (sample_size=None): plain "
            "pooling of N real and M synthetic points has no limit as M -> inf",
            described("real_fraction=None (pooling)"),
            "Pass real_fraction= (or synthetic_ratio=), or a finite sample_size.",
        )


def _mix_check(fn, family, data, schedule, num_generations, hyper):
    del num_generations
    _check_population_share(fn, schedule, hyper)
    if "real_data" in hyper:
        _check_real_data(fn, family, data, hyper["real_data"])


def mix(
    real_fraction: float | None = None,
    *,
    real_data: Any = None,
    synthetic_ratio: float | None = None,
) -> Regime:
    """A fixed real data set mixed into every fit (AL-1's augmentation loop, BE-1).

    Each fit sees the real set together with the ``M_t`` draws from the current
    model. The real set is ``real_data`` (one array, shared by every chain) or, when
    None, each chain's generation-0 draws ``D_0`` from the truth (the first model's
    training set, kept for good).

    With ``real_fraction=None`` every point has weight one (plain pooling: BE-2's
    "N real plus λN synthetic points" is ``sample_size=λN``). With ``real_fraction=f``
    the real points carry the share ``f`` of the total weight; the over-represented
    side is down-weighted so that no weight exceeds one (``f = 0`` is
    :func:`replace`, ``f = 1`` fits the real set only). ``synthetic_ratio=λ`` is the
    same share written as Bertrand et al.'s ratio of synthetic to real weight,
    ``f = 1 / (1 + λ)``. The fraction is traced: :func:`collapse_jax.sweep` varies it
    in one compiled program.

    Args:
      real_fraction: the real share of the weight in ``[0, 1]``, or None (pooling).
      real_data: the real set, shape ``(N,) + event_shape`` (category indices for a
        categorical), or None for each chain's ``D_0``.
      synthetic_ratio: ``λ >= 0``, an alternative to ``real_fraction``.

    Examples:
      >>> mix(0.5).name
      'mix'
    """
    fn = "mix"
    f = _real_fraction(fn, real_fraction, synthetic_ratio)
    has_real = real_data is not None
    hyper: dict[str, Any] = {}
    if f is not None:
        hyper["real_fraction"] = np.float64(f)
    if has_real:
        arr = np.asarray(real_data)
        if arr.dtype == object or arr.ndim < 1:
            fail(
                fn,
                "real_data",
                "an array of shape (N,) + event_shape",
                described(f"an object of shape {arr.shape}"),
                "Pass the real data set as an array with one row per point.",
            )
        hyper["real_data"] = arr
    return Regime(
        "mix",
        _POP,
        _either_init(_static(_mix_init, has_real)),
        _static(_mix_step, has_real, f is None),
        hyper=hyper,
        check=_mix_check,
        sweepable=("real_fraction",) if f is not None else (),
        checkers={"real_fraction": _fraction_checker},
        describe={
            "real_fraction": f,
            "real_data": None if not has_real else list(np.shape(real_data)),
        },
        mixes_models=True,
        data_hyper=("real_data",) if has_real else (),
    )


def _fresh_step(num_real, pooled, ctx: StepContext, params, state):
    if ctx.sampler == "population":
        return _real_share_pop(ctx, params, ctx.hyper["real_fraction"]), state
    data, weights = _synthetic(ctx, params)
    wdtype = weights.dtype
    key = jax.random.fold_in(ctx.keys.regime, _STREAM_FRESH)
    raw = ctx.truth_family.sample(key, ctx.truth, num_real)
    real = _as_family_data(ctx.family, ctx.truth_family, raw, _float_dtype(params))
    real_w = jnp.ones((num_real,), wdtype)
    return _fit_with_real(ctx, params, real, real_w, data, weights, pooled), state


def _fresh_check(fn, family, data, schedule, num_generations, hyper):
    del family, data, num_generations
    _check_population_share(fn, schedule, hyper)


def fresh(num_real: int, *, real_fraction: float | None = None) -> Regime:
    """New real data every generation, pooled with the synthetic draws (AL-1, AL-3).

    Each fit sees ``num_real`` fresh draws from the truth and the ``M_t`` draws from
    the current model: Alemohammad et al.'s fresh-data loop, whose error stays
    bounded (docs/theory.md AL-3, SE-2, BO-1). ``real_fraction`` re-weights the parts as
    in :func:`mix` (None: plain pooling).

    Examples:
      >>> fresh(10).name
      'fresh'
    """
    fn = "fresh"
    num_real = check_positive_int(fn, "num_real", num_real)
    f = _real_fraction(fn, real_fraction, None)
    hyper = {} if f is None else {"real_fraction": np.float64(f)}
    return Regime(
        "fresh",
        _POP,
        _either_init(_no_state),
        _static(_fresh_step, num_real, f is None),
        hyper=hyper,
        check=_fresh_check,
        sweepable=("real_fraction",) if f is not None else (),
        checkers={"real_fraction": _fraction_checker},
        describe={"num_real": num_real, "real_fraction": f},
        mixes_models=True,
    )


# ------------------------------------------------------------- retain_original ---


def _retain_init(family, data, num_generations):
    del family, num_generations
    return _MixState(_empty_original(data, _weights_dtype(data)))


def _retain_step(ctx: StepContext, params, state):
    if ctx.sampler == "population":
        share = jnp.where(ctx.t == 0, 0, ctx.hyper["fraction"])
        return _real_share_pop(ctx, params, share), state
    data, weights = _synthetic(ctx, params)
    original = _keep_first(ctx.t, state.original, data, weights)
    m = ctx.sample_size
    fraction = ctx.hyper["fraction"]
    k = jnp.round(fraction * m.astype(fraction.dtype)).astype(jnp.int32)
    k = jnp.where(ctx.t == 0, 0, k)  # the first fit sees D_0 itself
    key = jax.random.fold_in(ctx.keys.regime, _STREAM_RETAIN)
    keep = _random_subset(key, original.weights > 0, k)
    syn = (jnp.arange(ctx.n_max, dtype=jnp.int32) < m - k).astype(weights.dtype)
    w = _concat(jnp.where(keep, original.weights, 0), weights * syn)
    # At t = 0 the synthetic part is D_0 itself (drawn from the truth).
    return _fit(ctx, _concat(original.data, data), w, params), _MixState(original)


def _retain_check(fn, family, data, schedule, num_generations, hyper):
    del family, data, num_generations
    if schedule is None:
        return
    k = np.round(float(hyper["fraction"]) * schedule.astype(np.float64))
    if np.any(k > schedule[0]):
        fail(
            fn,
            "regime",
            f"retain_original(fraction) keeping at most M_0 = {int(schedule[0])} "
            f"original points per generation",
            described(f"{int(k.max())} points at fraction {float(hyper['fraction'])}"),
            "Lower the fraction, or use a schedule whose sizes do not exceed M_0 / "
            "fraction.",
        )


def retain_original(fraction: float) -> Regime:
    """A random share of the original data is kept in every generation.

    Shumailov et al.'s language-model setting (10 % of the original data kept):
    each fit after the first sees ``round(fraction · M_t)`` points drawn without
    replacement from the generation-0 draws ``D_0`` and ``M_t`` minus that many new
    synthetic draws. The fraction is traced (sweepable).

    Examples:
      >>> retain_original(0.1).name
      'retain_original'
    """
    f = _fraction_checker("retain_original", "fraction", fraction)
    return Regime(
        "retain_original",
        _POP,
        _either_init(_retain_init),
        _retain_step,
        hyper={"fraction": np.float64(f)},
        check=_retain_check,
        sweepable=("fraction",),
        checkers={"fraction": _fraction_checker},
        describe={"fraction": f},
        mixes_models=True,
    )


# ----------------------------------------------------------------- general_mix ---


class _GeneralState(NamedTuple):
    pool: _Pool  # every draw so far; its weights are the current data set's
    original: jax.Array  # (n_max,) the weights of D_0 (its points are pool slot 0)


def _general_init(family, data, num_generations):
    del family
    wdtype = _weights_dtype(data)
    return _GeneralState(
        _empty_pool(data, num_generations, wdtype), jnp.zeros(data.shape[:1], wdtype)
    )


def _slot(capacity, t, values):
    """A ``(capacity,)`` weight vector holding ``values`` in slot ``t``, else 0."""
    zeros = jnp.zeros((capacity,), values.dtype)
    return jax.lax.dynamic_update_slice(zeros, values, (t * values.shape[0],))


def _general_pop(ctx, params, q):
    t = ctx.t
    alpha = _hyper_scalar(ctx.hyper, "alpha", t)
    beta = _hyper_scalar(ctx.hyper, "beta", t)
    gamma = _hyper_scalar(ctx.hyper, "gamma", t)
    first = t == 0  # the first fit sees D_0: the truth
    zero, one = jnp.zeros_like(alpha), jnp.ones_like(alpha)
    q = _pop_fit(
        ctx,
        [
            jnp.where(first, zero, alpha),
            jnp.where(first, zero, beta),
            jnp.where(first, one, gamma),
        ],
        [_sampled_model(ctx, params), q, ctx.reference],
    )
    return q, q


def _general_step(ctx: StepContext, params, state):
    if ctx.sampler == "population":
        return _general_pop(ctx, params, state)
    data, weights = _synthetic(ctx, params)
    t = ctx.t
    cap = state.pool.weights.shape[0]
    pool_data = _write(state.pool, t, data, weights).data
    original = jnp.where(t == 0, weights, state.original)
    alpha = _hyper_scalar(ctx.hyper, "alpha", t).astype(weights.dtype)
    beta = _hyper_scalar(ctx.hyper, "beta", t).astype(weights.dtype)
    gamma = _hyper_scalar(ctx.hyper, "gamma", t).astype(weights.dtype)
    # Each part is scaled to the total weight M_t of the new draws.
    m = tree_sum(weights)
    prev = state.pool.weights
    prev_total = tree_sum(prev)
    prev_scale = m / jnp.where(prev_total > 0, prev_total, 1)
    orig_total = tree_sum(original)
    orig_scale = m / jnp.where(orig_total > 0, orig_total, 1)
    w = (
        beta * prev_scale * prev
        + _slot(cap, t, alpha * weights)
        + _slot(cap, jnp.zeros((), t.dtype), gamma * orig_scale * original)
    )
    # The first fit sees D_0 alone: the previous data and the original data are D_0.
    w = jnp.where(t == 0, _slot(cap, t, weights), w)
    return _fit(ctx, pool_data, w, params), _GeneralState(_Pool(pool_data, w), original)


def _weight_value(fn, name, value):
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 0:
        return np.float64(_fraction_checker(fn, name, value))
    if arr.ndim != 1 or arr.shape[0] < 1:
        fail(
            fn,
            name,
            "a number in [0, 1] or a 1-D schedule of them (one per generation)",
            described(f"shape {arr.shape}"),
            "Pass a scalar or a list with one weight per generation.",
        )
    return np.array([_fraction_checker(fn, name, v) for v in arr], np.float64)


def _general_check(fn, family, data, schedule, num_generations, hyper):
    del family, data, schedule
    vals = {k: np.asarray(hyper[k], np.float64) for k in ("alpha", "beta", "gamma")}
    for k, v in vals.items():
        if v.ndim == 1 and v.shape[0] != num_generations:
            fail(
                fn,
                "regime",
                f"general_mix({k}=...) with a schedule of length "
                f"num_generations={num_generations}",
                described(f"length {v.shape[0]}"),
                "Give one weight per generation, or a scalar.",
            )
    total = vals["alpha"] + vals["beta"] + vals["gamma"]
    if not np.allclose(total, 1.0, rtol=0, atol=1e-9):
        fail(
            fn,
            "regime",
            "general_mix weights with alpha + beta + gamma = 1 in every generation",
            described(f"sums {np.unique(np.round(total, 12)).tolist()}"),
            "Normalise the weights.",
        )


def general_mix(alpha, beta, gamma) -> Regime:
    """docs/theory.md SH-0's generational mixture, with per-generation weights.

    Model ``t + 1`` is fitted to the weighted data set
    ``α_t · (new draws from model t) + β_t · (the previous data set) + γ_t · D_0``,
    each part scaled to the total weight ``M_t`` (``D_0``: the generation-0 draws
    from the truth; the previous data set is itself such a mixture, so older draws
    carry geometrically smaller weights). ``α = 1`` is :func:`replace`; the weights
    are traced (sweepable) and may be schedules of length ``num_generations``.
    Keeps ``num_generations × max(sample_size)`` points per chain.

    Args:
      alpha, beta, gamma: numbers in ``[0, 1]`` or schedules of them with
        ``α_t + β_t + γ_t = 1``.

    Examples:
      >>> general_mix(0.8, 0.1, 0.1).name
      'general_mix'
    """
    fn = "general_mix"
    hyper = {
        "alpha": _weight_value(fn, "alpha", alpha),
        "beta": _weight_value(fn, "beta", beta),
        "gamma": _weight_value(fn, "gamma", gamma),
    }
    scalars = all(np.ndim(v) == 0 for v in hyper.values())
    if scalars:
        total = sum(float(v) for v in hyper.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            fail(
                fn,
                "alpha + beta + gamma",
                "1",
                total,
                "Normalise the weights, e.g. alpha=0.8, beta=0.1, gamma=0.1.",
            )
    return Regime(
        "general_mix",
        _POP,
        _either_init(_general_init),
        _general_step,
        hyper=hyper,
        check=_general_check,
        sweepable=("alpha", "beta", "gamma"),
        checkers=dict.fromkeys(hyper, _weight_value),
        describe={k: np.asarray(v).tolist() for k, v in hyper.items()},
        mixes_models=True,
    )


def regime_names() -> Sequence[str]:
    """The names of the built-in regimes."""
    return (
        "replace",
        "accumulate",
        "accumulate_subsample",
        "mix",
        "fresh",
        "retain_original",
        "general_mix",
    )
