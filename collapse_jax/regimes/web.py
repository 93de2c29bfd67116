"""The :func:`web` regime: each generation scrapes a web with a growing synthetic share.

Each of a generation's ``M_t`` items is synthetic with probability ``s_t`` (a
draw from the previous model, or from a uniformly chosen past model) and human
otherwise (a fresh draw from the truth); a :func:`~collapse_jax.detector` flags
items and a flagged item gets weight 0 before the fit. Provenance is per item, the
shapes static: the ``n_max`` items are drawn once, masked to ``M_t`` and dropped
through their weights. The share schedule, the recall and the false-positive rate
are traced (``hyper``): a sweep over them is one compiled program.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._util import static_partial as _static
from collapse_jax.checks import check_choice, described, fail
from collapse_jax.keys import register_stream
from collapse_jax.regimes._shares import (  # noqa: F401 - re-exported
    Detector,
    ShareSchedule,
    describe_share,
    detector,
    linear_share,
    logistic_share,
    rate_checker,
    share_at,
    share_checker,
    share_length,
    share_vector,
    watermark,
)
from collapse_jax.regimes.base import MIXING_SAMPLERS, Regime, StepContext
from collapse_jax.regimes.pipeline import (
    curate,
    distort,
    draw,
    fit,
    float_dtype,
    mask,
    stacked_population_fit,
    stream_key,
    truth_draws,
)

__all__ = [
    "web",
    "detector",
    "watermark",
    "linear_share",
    "logistic_share",
    "Detector",
    "ShareSchedule",
    "WEB_RECORDS",
    "SOURCES",
]

#: The records a web run keeps per generation (``regime.observed``; generation 0,
#: the truth, records 1 and 0): the share of the fit's ``M_t`` items the detector
#: (and the curation) kept, and the synthetic share among the kept items (NaN when
#: none is kept). In the population limit both are exact: ``s(1-r) + (1-s)(1-f)`` and
#: :func:`collapse_jax.theory.web.effective_share`.
WEB_RECORDS = ("kept_fraction", "kept_synthetic_share")
#: Where the synthetic items come from.
SOURCES = ("newest", "all")

# The regime's sub-streams of the generation's regime key (numbers derived from the
# names, collapse_jax.keys): which items are synthetic, which are flagged, the
# human items, and (source="all") which past model each item comes from and its
# draw.
_STREAMS = ("web_provenance", "web_detect", "web_human", "web_pick", "web_past")
for _name in _STREAMS:
    register_stream(_name)
del _name


class _WebState(NamedTuple):
    kept_fraction: jax.Array  # () the last fit's kept share of its items
    kept_synthetic_share: jax.Array  # () the synthetic share among them
    sources: Any  # source="all": models 1..t (distorted) stacked, slot k-1; else ()


def _dtype_of(data, reference):
    if reference is not None:
        return float_dtype(reference)
    return data.dtype if jnp.issubdtype(data.dtype, jnp.floating) else jnp.float32


def _web_init(source, family, data, num_generations, reference):
    del family
    dtype = _dtype_of(data, reference)
    # Generation 0 is the truth: all of its (human) data kept, none synthetic.
    one, zero = jnp.ones((), dtype), jnp.zeros((), dtype)
    sources: Any = ()
    if source == "all":
        cap = max(num_generations - 1, 1)  # models 1 .. N-1 are ever drawn from
        sources = jax.tree.map(
            lambda x: jnp.zeros((cap,) + jnp.shape(x), jnp.asarray(x).dtype),
            reference,
        )
    return _WebState(one, zero, sources)


def _observe(state: _WebState):
    return {
        "kept_fraction": state.kept_fraction,
        "kept_synthetic_share": state.kept_synthetic_share,
    }


def _settings(ctx: StepContext, dtype):
    s = share_at(ctx.hyper["synthetic_share"].astype(dtype), ctx.t, ctx.num_generations)
    r = ctx.hyper["recall"].astype(dtype)
    f = ctx.hyper["false_positive_rate"].astype(dtype)
    return s, r, f


def _remember(ctx: StepContext, params, sources):
    """The sources with model ``t`` (distorted) written to slot ``t - 1``."""
    t = ctx.t
    cap = jax.tree.leaves(sources)[0].shape[0]
    idx = jnp.clip(t - 1, 0, cap - 1)
    model = distort(ctx, params)

    def write(buf, x):
        new = jax.lax.dynamic_update_index_in_dim(buf, x.astype(buf.dtype), idx, 0)
        return jnp.where((t >= 1) & (t - 1 < cap), new, buf)

    return jax.tree.map(write, sources, model)


def _past_draws(ctx: StepContext, sources, n: int, dtype):
    """One draw per item from a uniformly chosen model among ``1 .. t``."""
    t = jnp.maximum(ctx.t, 1).astype(dtype)
    u = jax.random.uniform(stream_key(ctx, "web_pick"), (n,), dtype)
    cap = jax.tree.leaves(sources)[0].shape[0]
    pick = jnp.clip(jnp.floor(u * t).astype(jnp.int32), 0, cap - 1)
    keys = jax.random.split(stream_key(ctx, "web_past"), n)
    custom = ctx.sampling is not None and ctx.sampling.sample is not None

    def one(key, k):
        model = jax.tree.map(lambda m: m[k], sources)
        if custom:
            x = ctx.sampling.sample(ctx.family, key, model, 1, ctx.hyper)
        else:
            x = ctx.family.sample(key, model, 1)
        return jax.tree.map(lambda a: a[0], x)

    return jax.vmap(one)(keys, pick)


def _where_items(items, a, b):
    """Per item: ``a`` where ``items`` holds, else ``b`` (any event shape)."""

    def pick(x, y):
        cond = items.reshape(items.shape + (1,) * (jnp.ndim(x) - 1))
        return jnp.where(cond, x, y)

    return jax.tree.map(pick, a, b)


def _web_step(source, ctx: StepContext, params, state: _WebState):
    if ctx.sampler == "population":
        return _web_population(source, ctx, params, state)
    dtype = float_dtype(params)
    n = ctx.n_max
    s, r, f = _settings(ctx, dtype)
    sources = state.sources
    synth = draw(ctx, params)  # from model t (from the truth on a cross first fit)
    if source == "all":
        sources = _remember(ctx, params, sources)
        past = _past_draws(ctx, sources, n, dtype)
        synth = _where_items(jnp.broadcast_to(ctx.t >= 1, (n,)), past, synth)
    human = truth_draws(ctx, n, "web_human", dtype)
    # Provenance and detection per item, from uniforms drawn once per item
    # (prefix-stable: the first M_t items do not depend on n_max).
    is_synthetic = (
        jax.random.uniform(stream_key(ctx, "web_provenance"), (n,), dtype) < s
    )
    flag_p = jnp.where(is_synthetic, r, f)
    flagged = jax.random.uniform(stream_key(ctx, "web_detect"), (n,), dtype) < flag_p
    data = _where_items(is_synthetic, synth, human)
    weights = mask(n, ctx.sample_size, dtype) * (~flagged).astype(dtype)
    weights = curate(ctx, params, data, weights)
    kept = weights > 0
    count = jnp.sum(kept.astype(jnp.int32))
    synthetic_kept = jnp.sum((kept & is_synthetic).astype(jnp.int32))
    fitted = fit(ctx, data, weights, params)
    # Too few kept items to fit (all flagged, say): the previous model is kept.
    enough = count >= ctx.family.min_sample_size
    new = jax.tree.map(lambda a, b: jnp.where(enough, a, b), fitted, params)
    rdtype = state.kept_fraction.dtype
    m = ctx.sample_size.astype(rdtype)
    share = jnp.where(
        count > 0,
        synthetic_kept.astype(rdtype) / jnp.maximum(count, 1).astype(rdtype),
        jnp.nan,
    )
    return new, _WebState(count.astype(rdtype) / m, share, sources)


def _web_population(source, ctx: StepContext, params, state: _WebState):
    """The population fit to ``(1 - s_eff) · truth + s_eff · (synthetic source)``."""
    dtype = float_dtype(params)
    s, r, f = _settings(ctx, dtype)
    syn = s * (1 - r)
    kept = syn + (1 - s) * (1 - f)
    s_eff = jnp.where(kept > 0, syn / jnp.where(kept > 0, kept, 1), jnp.nan)
    w = jnp.where(kept > 0, s_eff, 0)
    newest = distort(ctx, params)
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), ctx.reference, newest)
    weights = jnp.stack([1 - w, w])
    sources = state.sources
    if source == "all":
        sources = _remember(ctx, params, sources)
        cap = jax.tree.leaves(sources)[0].shape[0]
        t = ctx.t
        # Models 1 .. t (slots 0 .. t - 1) share the synthetic mass; at t = 0 it
        # is model 0's (the newest).
        per = w / jnp.maximum(t, 1).astype(dtype)
        weights = jnp.concatenate(
            [
                jnp.stack([1 - w, jnp.where(t == 0, w, 0)]),
                jnp.where(jnp.arange(cap) < t, per, 0).astype(dtype),
            ]
        )
        stacked = jax.tree.map(
            lambda a, b: jnp.concatenate([a, b.astype(a.dtype)]), stacked, sources
        )
    fitted = stacked_population_fit(ctx, weights.astype(dtype), stacked)
    new = jax.tree.map(lambda a, b: jnp.where(kept > 0, a, b), fitted, params)
    rdtype = state.kept_fraction.dtype
    return new, _WebState(kept.astype(rdtype), s_eff.astype(rdtype), sources)


def _web_check(fn, family, data, schedule, num_generations, hyper):
    del family, data
    length = share_length(hyper["synthetic_share"])
    if length is not None and length != num_generations:
        # In a sweep the sequence is the regime's own or a swept value.
        where = "regime" if fn != "sweep" else "regime or over['synthetic_share']"
        fail(
            fn,
            where,
            f"web(synthetic_share=...) with a sequence of length "
            f"num_generations={num_generations} (one share per generation)",
            described(f"length {length}"),
            "Give one share per generation, or a number, or a schedule such as "
            "cj.linear_share(0.0, 0.9).",
        )
    del schedule


def _detector(fn: str, value) -> Detector:
    if value is None:
        return Detector(0.0, 0.0)
    if not isinstance(value, Detector):
        fail(
            fn,
            "detector",
            "None or a detector built by cj.detector(recall, false_positive_rate) "
            "or cj.watermark(recall)",
            value,
            "Pass e.g. detector=cj.watermark(0.9).",
            error=TypeError,
        )
    return Detector(
        rate_checker(fn, "detector.recall", value.recall),
        rate_checker(fn, "detector.false_positive_rate", value.false_positive_rate),
    )


def web(
    synthetic_share: Any,
    detector: Detector | None = None,
    source: str = "newest",
) -> Regime:
    """Each generation trains on a scrape of a web whose synthetic share grows.

    Each of the ``M_t`` items of fit ``t`` (the fit that makes model ``t + 1``) is
    synthetic with probability ``s_t``, else human (a fresh draw from the truth).
    A synthetic item is drawn from model ``t`` (``source="newest"``) or from a
    uniformly chosen model among ``1 .. t`` (``source="all"``: everything the
    models before have put on the web; at ``t = 0`` from model 0, the truth).
    A ``detector`` flags each synthetic item with probability ``recall`` and each
    human item with probability ``false_positive_rate``; flagged items get weight
    0 before the fit, so the kept items are synthetic with probability
    ``s (1 - r) / (s (1 - r) + (1 - s)(1 - f))``
    (:func:`collapse_jax.theory.web.effective_share`). The run's sampling bias
    applies to the synthetic draws and its curation to the kept items.

    A generation that keeps fewer items than the family needs to fit
    (``family.min_sample_size``; e.g. every item flagged) keeps the previous model;
    the records :data:`WEB_RECORDS` (``kept_fraction``,
    ``kept_synthetic_share``) show it per chain and generation. ``s = 0`` is the
    all-human chain (a fit to ``M_t`` fresh truth draws each generation), ``s = 1``
    without a detector the :func:`~collapse_jax.replace` chain in law, and
    ``r = 1, f = 0`` a fit to the human items only.

    In the population limit (``sample_size=None``, families with
    ``fit_population_mixture``) each fit is the exact fit to
    ``(1 - s_eff) · truth + s_eff · source``, and nothing kept keeps the model.
    ``source="all"`` keeps models ``1 .. N - 1`` per chain (memory grows with the
    run's length). The sampler ``"sufficient"`` has no items to mix or flag and is
    refused.

    Args:
      synthetic_share: ``s_t``: a number in ``[0, 1]``, a sequence of
        ``num_generations`` of them, or a schedule (:func:`~collapse_jax.
        linear_share`, :func:`~collapse_jax.logistic_share`). Traced, sweepable
        as ``"synthetic_share"`` (every number and schedule in one program).
      detector: None (nothing flagged) or :func:`~collapse_jax.detector` /
        :func:`~collapse_jax.watermark`; its numbers are sweepable as
        ``"recall"`` and ``"false_positive_rate"``.
      source: ``"newest"`` or ``"all"``.

    Examples:
      >>> import collapse_jax as cj
      >>> r = web(cj.logistic_share(5, 1.0), detector=cj.watermark(0.9))
      >>> r.name, r.describe["detector"]
      ('web', {'recall': 0.9, 'false_positive_rate': 0.0})
    """
    fn = "web"
    share = share_vector(fn, "synthetic_share", synthetic_share)
    det = _detector(fn, detector)
    source = check_choice(fn, "source", source, SOURCES)
    hyper = {
        "synthetic_share": share,
        "recall": np.float64(det.recall),
        "false_positive_rate": np.float64(det.false_positive_rate),
    }
    return Regime(
        "web",
        MIXING_SAMPLERS,
        _static(_web_init, source),
        _static(_web_step, source),
        hyper=hyper,
        check=_web_check,
        sweepable=("synthetic_share", "recall", "false_positive_rate"),
        checkers={
            "synthetic_share": share_checker,
            "recall": rate_checker,
            "false_positive_rate": rate_checker,
        },
        describe={
            "synthetic_share": describe_share(synthetic_share),
            "detector": None if detector is None else det._asdict(),
            "source": source,
        },
        observe=_observe,
        observed=WEB_RECORDS,
        mixes_models=True,
        init_reference=True,
    )
