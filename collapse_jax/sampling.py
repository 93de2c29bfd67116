"""Sampling bias: drawing each generation's data from a distorted model.

Generative models are rarely sampled as fitted: truncation, guidance and temperature
trade diversity for quality (docs/theory.md AL-2). A :class:`SamplingBias` distorts the
model
the draws come from (never the fitted model itself), in every regime and sampler:

==========================  =========================  ================================
``variance_scale(λ)``       a location-scale           covariances × λ (AL-2's toy)
``temperature(T)``          a probability vector       ``p_i ∝ p_i^(1/T)``
``top_k(k)``                a probability vector       the ``k`` most probable only
``nucleus(p)``              a probability vector       the smallest top set of mass ≥ p
``repetition_penalty(θ)``   a probability vector       repeats within a sequence ÷ θ
==========================  =========================  ================================

A bias asks the fitted family for a *capability*
(:data:`collapse_jax.families.base.CAPABILITIES`), never for its name: Gaussians and
mixtures have a location-scale, categoricals a probability vector, and a family
wrapped by :func:`collapse_jax.approximate` keeps the capabilities of the family it
wraps.

Their numbers are traced (``hyper``), so :func:`collapse_jax.sweep` varies them in one
compiled program. Pass one as ``run_chains(..., sampling=...)``.

An autoregressive family (capability ``"decoder"``, e.g.
:func:`collapse_jax.language_model`) takes ``temperature``, ``top_k``, ``nucleus``
and ``repetition_penalty`` as decoding settings instead: its decoder applies them
at every position of every generated sequence (:func:`for_family`), with the
number still traced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax._util import ascending_rank
from collapse_jax._util import static_partial as _static
from collapse_jax.checks import check_positive_int, check_real, fail
from collapse_jax.families.base import has, require
from collapse_jax.regimes._shares import misplaced_detector_fix

__all__ = [
    "SamplingBias",
    "variance_scale",
    "temperature",
    "top_k",
    "nucleus",
    "repetition_penalty",
    "DECODER_SETTINGS",
    "for_family",
]


class SamplingBias(NamedTuple):
    """A distortion of the model that each generation's data are drawn from.

    Attributes:
      name: short name.
      requires: the capability (a key of
        :data:`collapse_jax.families.base.CAPABILITIES`) a family needs for it.
      distort: ``(family, params, hyper) -> params`` or None: the distorted model
        (same family); works with every sampler.
      sample: ``(family, key, params, n, hyper) -> data`` or None: a sampler that
        is not a distorted model (draws depend on each other); "samples" only.
      hyper: ``{name: value}``, traced (sweepable) numbers.
      checkers: ``{name: (fn, name, value) -> value}`` validating one swept value.
      describe: JSON-serialisable settings.
    """

    name: str
    requires: str
    distort: Callable[..., Any] | None
    sample: Callable[..., Any] | None
    hyper: Any
    checkers: Any = ()
    describe: Any = ()


@functools.cache
def _bias(name, requires, key, value, checker, distort=None, sample=None, extra=()):
    """One cached bias per settings: equal settings give the same (hashable) value,
    and its static part (name, capability, functions) is shared across values, so a
    new value of the traced ``key`` never recompiles."""
    cast = np.int32 if isinstance(value, int) else np.float64
    return SamplingBias(
        name,
        requires,
        distort,
        sample,
        {key: cast(value)},
        {key: checker},
        {key: value, **dict(extra)},
    )


# ------------------------------------------------------------------- Gaussian ---


def _scale_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        low_open=True,
        fix="Pass a variance scale > 0 (1: unbiased sampling, < 1: less diverse).",
    )


def _scale_distort(family, params, hyper):
    dtype = next(x.dtype for x in jax.tree.leaves(params) if x.dtype.kind == "f")
    lam = hyper["variance_scale"].astype(dtype)
    return family.location_scale.rescale(params, lam)


def variance_scale(scale: float) -> SamplingBias:
    """Draw from ``N(μ, λΣ)`` instead of ``N(μ, Σ)`` (docs/theory.md AL-2).

    ``λ < 1`` favours typical samples (quality) over diversity, like truncation or
    guidance: with an unbiased refit, ``E σ_t² = λ^t σ_0²`` and
    ``E log σ_t² = log σ_0² + t (log λ + g(M))``
    (:func:`collapse_jax.theory.gaussian.expected_log_variance` with
    ``sampling_bias=λ``). For a mixture,
    every component's covariance is scaled.

    Examples:
      >>> variance_scale(0.9).hyper["variance_scale"]
      np.float64(0.9)
    """
    value = _scale_check("variance_scale", "scale", scale)
    return _bias(
        "variance_scale",
        "location_scale",
        "variance_scale",
        value,
        _scale_check,
        distort=_scale_distort,
    )


# ---------------------------------------------------------------- categorical ---


def _renormalise(family, params, kept):
    total = tree_sum(kept)
    return family.probability_vector.put(params, kept / jnp.where(total > 0, total, 1))


def _temperature_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        low_open=True,
        fix="Pass a temperature > 0 (1: unbiased, < 1: sharper, > 1: flatter).",
    )


def _temperature_distort(family, params, hyper):
    p = family.probability_vector.get(params)
    temp = hyper["temperature"].astype(p.dtype)
    logits = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1)) / temp, -jnp.inf)
    top = jnp.max(logits)
    kept = jnp.where(p > 0, jnp.exp(logits - top), 0)
    return _renormalise(family, params, kept)


def temperature(value: float) -> SamplingBias:
    """Sample categories with probabilities ``∝ p_i^(1/T)``.

    ``T < 1`` sharpens the distribution (rare categories are drawn less and are
    forgotten sooner), ``T > 1`` flattens it; ``T = 1`` is unbiased sampling.
    Categories of probability 0 stay at 0.

    Examples:
      >>> temperature(0.7).name
      'temperature'
    """
    value = _temperature_check("temperature", "value", value)
    return _bias(
        "temperature",
        "probability_vector",
        "temperature",
        value,
        _temperature_check,
        distort=_temperature_distort,
    )


def _rank(p):
    """Rank of each entry by decreasing probability (ties: lower index first)."""
    return ascending_rank(-p)


def _top_k_check(fn, name, value):
    return check_positive_int(fn, name, value, "Pass k >= 1 categories to keep.")


def _top_k_distort(family, params, hyper):
    p = family.probability_vector.get(params)
    keep = _rank(p) < hyper["top_k"]
    return _renormalise(family, params, jnp.where(keep, p, 0))


def top_k(k: int) -> SamplingBias:
    """Sample only among the ``k`` most probable categories (renormalised).

    Ties are broken towards the lower index. ``k`` at least the support size is
    unbiased sampling.

    Examples:
      >>> top_k(5).hyper["top_k"]
      np.int32(5)
    """
    k = _top_k_check("top_k", "k", k)
    return _bias(
        "top_k", "probability_vector", "top_k", k, _top_k_check, _top_k_distort
    )


def _nucleus_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        high=1.0,
        low_open=True,
        fix="Pass a probability mass in (0, 1] (1: unbiased sampling).",
    )


def _nucleus_distort(family, params, hyper):
    p = family.probability_vector.get(params)
    mass = hyper["top_p"].astype(p.dtype)
    order = jnp.argsort(-p, stable=True)
    sorted_p = p[order]
    before = jnp.cumsum(sorted_p) - sorted_p  # mass of the more probable categories
    keep_sorted = before < mass  # the first category is always kept
    keep = jnp.zeros_like(keep_sorted).at[order].set(keep_sorted)
    return _renormalise(family, params, jnp.where(keep, p, 0))


def nucleus(top_p: float) -> SamplingBias:
    """Nucleus (top-p) sampling: the smallest set of most probable categories whose
    mass reaches ``top_p``, renormalised.

    Examples:
      >>> nucleus(0.9).name
      'nucleus'
    """
    mass = _nucleus_check("nucleus", "top_p", top_p)
    return _bias(
        "nucleus", "probability_vector", "top_p", mass, _nucleus_check, _nucleus_distort
    )


def _penalty_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        low_open=True,
        fix="Pass a penalty > 0 (1: none, > 1: repeats discouraged).",
    )


def _repetition_sample(length, family, key, params, n, hyper):
    """Sequences of ``length`` tokens; a token already in its sequence has its
    probability divided by the penalty (renormalised over the vocabulary)."""
    p = family.probability_vector.get(params)
    log_p = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1)), -jnp.inf)
    log_pen = jnp.log(hyper["repetition_penalty"].astype(p.dtype))
    num_seq = -(-n // length)

    def one_sequence(seq_key):
        def body(seen, pos_key):
            logits = log_p - log_pen * seen
            token = jax.random.categorical(pos_key, logits)
            return seen.at[token].set(1), token.astype(jnp.int32)

        keys = jax.random.split(seq_key, length)
        _, tokens = jax.lax.scan(body, jnp.zeros(p.shape, p.dtype), keys)
        return tokens

    tokens = jax.vmap(one_sequence)(jax.random.split(key, num_seq))
    return tokens.reshape(-1)[:n]


def repetition_penalty(penalty: float, sequence_length: int = 32) -> SamplingBias:
    """Sample token sequences with a repetition penalty (as in CTRL and LM decoding).

    Each generation's ``M`` draws are consecutive sequences of ``sequence_length``
    tokens; within a sequence, a token already drawn has its probability divided by
    ``penalty`` before renormalising. ``penalty > 1`` spreads each sequence over more
    distinct tokens. Unlike the other biases this is not a distorted model (the
    draws within a sequence depend on each other), so it needs the sample-based
    sampler.

    Examples:
      >>> repetition_penalty(1.5, 16).describe["sequence_length"]
      16
    """
    fn = "repetition_penalty"
    value = _penalty_check(fn, "penalty", penalty)
    length = check_positive_int(fn, "sequence_length", sequence_length)
    return _bias(
        "repetition_penalty",
        "probability_vector",
        "repetition_penalty",
        value,
        _penalty_check,
        sample=_static(_repetition_sample, length),
        extra=(("sequence_length", length),),
    )


#: The biases an autoregressive decoder takes as decoding settings, by hyper name.
DECODER_SETTINGS = ("temperature", "top_k", "top_p", "repetition_penalty")


def _decoder_sample(family, key, params, n, hyper):
    settings = {k: hyper[k] for k in DECODER_SETTINGS if k in hyper}
    return family.decoder.decode(key, params, n, settings)


def for_family(sampling: SamplingBias | None, family) -> SamplingBias | None:
    """The bias as it applies to ``family``.

    For a family with an autoregressive decoder (capability ``"decoder"``), a
    bias whose settings are decoding settings (:data:`DECODER_SETTINGS`) draws
    through the decoder with its number traced (a sampler of its own, so the
    draws of a generation are decoded sequences; ``repetition_penalty``'s
    ``sequence_length`` does not apply: the family's data points are the
    sequences); any other bias, or any other family, gets the bias unchanged.
    """
    if sampling is None:
        return None
    return _as_applied(sampling, family)


def _as_applied(sampling: SamplingBias, family) -> SamplingBias:
    if not has(family, "decoder"):
        return sampling
    if not sampling.hyper or not set(dict(sampling.hyper)) <= set(DECODER_SETTINGS):
        return sampling
    return sampling._replace(requires="decoder", distort=None, sample=_decoder_sample)


def check_sampling(
    fn: str, sampling, family, sampler: str, cross: bool
) -> SamplingBias | None:
    """Host-side checks of a sampling bias against the run.

    Returns:
      The bias as it applies to ``family`` (:func:`for_family`).
    """
    if sampling is None:
        return None
    if not isinstance(sampling, SamplingBias):
        fail(
            fn,
            "sampling",
            "None or a sampling bias such as cj.temperature(0.8)",
            type(sampling).__name__,
            misplaced_detector_fix(
                sampling,
                "Build one with cj.variance_scale, cj.temperature, cj.top_k, "
                "cj.nucleus or cj.repetition_penalty.",
            ),
            error=TypeError,
        )
    sampling = _as_applied(sampling, family)
    require(
        fn,
        "sampling",
        family,
        sampling.requires,
        "Choose a bias that applies to the fitted family.",
        what=sampling.name,
    )
    if sampling.sample is not None and sampler != "samples":
        fail(
            fn,
            "sampler",
            f"'samples' with sampling={sampling.name}",
            sampler,
            "Its draws depend on each other; use sampler='samples' and a finite "
            "sample_size.",
        )
    if cross:
        fail(
            fn,
            "sampling",
            "None when init_family differs from family",
            sampling.name,
            "Sampling bias distorts models of the fitted family; run without "
            "init_family or without the bias.",
        )
    hyper = dict(sampling.hyper)
    if sampling.requires == "decoder" and "top_k" in hyper:
        vocab = family.decoder.vocab_size
        if int(hyper["top_k"]) > vocab:
            fail(
                fn,
                "sampling",
                f"top_k at most the vocabulary size {vocab} of the {family.name} "
                "family",
                int(hyper["top_k"]),
                f"Pass cj.top_k(k) with k <= {vocab}.",
            )
    return sampling
