"""Curation: re-weighting or filtering each generation's synthetic draws.

Practitioners propose to fight collapse by choosing what the next model learns from.
A :class:`Curation` turns the synthetic draws' weights into new weights before the
fit, in every regime (real data are never curated):

==============================  =====================================================
``tail_weighting(τ)``           weights ``∝ p(x)^(-τ)``: rare samples count more
``likelihood_filter(keep)``     keep the most plausible share, with a diversity quota
==============================  =====================================================

The likelihood is the current model's (the one that drew the samples) or the
reference's (the truth seen in the fitted family, a stand-in for a verifier); a
callable score replaces it (a verifier of your own). Numbers are traced
(sweepable). Their effects on collapse are measured in tests/test_mitigations.py and
summarised in the README: tail weighting slows the loss of variance (and overshoots
if τ is too large); likelihood filtering speeds collapse up, which a diversity quota
partly undoes.
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
from collapse_jax.checks import check_choice, check_real, described, fail
from collapse_jax.regimes._shares import misplaced_detector_fix

__all__ = ["Curation", "tail_weighting", "likelihood_filter"]

_UNDER = ("current", "reference")


class Curation(NamedTuple):
    """A transformation of the synthetic draws' weights before each fit.

    Attributes:
      name: short name.
      weigh: ``(family, key, params, reference, data, weights, hyper) -> weights``.
      hyper: ``{name: value}``, traced (sweepable) numbers.
      checkers: ``{name: (fn, name, value) -> value}`` validating one swept value.
      describe: JSON-serialisable settings.
      score: the user's score function (a function of points in absolute
        coordinates), or None.
      rebuild: ``(score) -> Curation`` or None: the same curation with another
        score function (the runner feeds a custom score absolute coordinates when
        it moves a run into a translated frame, collapse_jax.frame).
    """

    name: str
    weigh: Callable[..., jax.Array]
    hyper: Any
    checkers: Any = ()
    describe: Any = ()
    score: Any = None
    rebuild: Callable[..., Any] | None = None


def _score(family, under, score_fn, params, reference, data):
    if score_fn is not None:
        return score_fn(data)
    model = params if under == "current" else reference
    return family.log_prob(model, data)


# -------------------------------------------------------------- tail weighting ---


def _exponent_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        fix="Pass an exponent >= 0 (0: no re-weighting; about 1/M offsets the "
        "Gaussian chain's drift).",
    )


def _tail_weigh(under, family, key, params, reference, data, weights, hyper):
    del key
    tau = hyper["tail_exponent"].astype(weights.dtype)
    lp = family.log_prob(params if under == "current" else reference, data)
    lp = lp.astype(weights.dtype)
    valid = weights > 0
    # exp(-tau (lp - max)) <= ... is formed relative to the most probable valid
    # point, so it cannot overflow; weights keep their total.
    top = jnp.max(jnp.where(valid, lp, -jnp.inf))
    raw = jnp.where(valid, weights * jnp.exp(-tau * (lp - top)), 0)
    total = tree_sum(weights)
    return raw * (total / tree_sum(raw))


@functools.cache
def _tail(exponent: float, under: str) -> Curation:
    return Curation(
        "tail_weighting",
        _static(_tail_weigh, under),
        {"tail_exponent": np.float64(exponent)},
        {"tail_exponent": _exponent_check},
        {"tail_exponent": exponent, "under": under},
    )


def tail_weighting(exponent: float, *, under: str = "current") -> Curation:
    """A tail-weighted loss: sample ``x_i`` gets weight ``∝ p(x_i)^(-exponent)``.

    Low-probability samples (the tails the chain forgets first) count more in the
    fit. ``under`` picks the density: the current model's or the reference's. The
    weights keep their total, so an estimator's effective sample size is unchanged.
    For a Gaussian the population effect is exact: re-weighting ``N(μ, σ²)`` by
    ``p^(-τ)`` under the current model gives ``N(μ, σ²/(1 - τ))`` (τ < 1), so a
    small τ offsets the chain's downward drift of ``log σ²`` and a large one makes
    the variance grow.

    Examples:
      >>> tail_weighting(0.05).name
      'tail_weighting'
    """
    fn = "tail_weighting"
    return _tail(
        _exponent_check(fn, "exponent", exponent),
        check_choice(fn, "under", under, _UNDER),
    )


# ----------------------------------------------------------- likelihood filter ---


def _keep_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        high=1.0,
        low_open=True,
        fix="Pass the share of samples to keep, in (0, 1].",
    )


def _quota_check(fn, name, value):
    return check_real(
        fn,
        name,
        value,
        low=0.0,
        high=1.0,
        fix="Pass the share of kept slots filled at random, in [0, 1].",
    )


def _filter_weigh(
    under, score_fn, family, key, params, reference, data, weights, hyper
):
    valid = weights > 0
    n_valid = jnp.sum(valid, dtype=jnp.int32)
    keep = hyper["keep_fraction"].astype(jnp.float32)
    quota = hyper["diversity_quota"].astype(jnp.float32)
    k = jnp.maximum(jnp.round(keep * n_valid.astype(jnp.float32)).astype(jnp.int32), 1)
    k_random = jnp.round(quota * k.astype(jnp.float32)).astype(jnp.int32)
    score = _score(family, under, score_fn, params, reference, data)
    score = jnp.where(valid, score, -jnp.inf)
    by_score = ascending_rank(-score) < k - k_random
    # The diversity quota: k_random slots go to a uniform choice among the rest.
    rest = valid & ~by_score
    u = jax.random.uniform(key, weights.shape)
    u = jnp.where(rest, u, 2.0)
    by_chance = ascending_rank(u) < k_random
    chosen = by_score | (by_chance & rest)
    return jnp.where(chosen & valid, weights, 0)


@functools.cache
def _filter(keep: float, under: str, quota: float, score: Any) -> Curation:
    return Curation(
        "likelihood_filter",
        _static(_filter_weigh, under, score),
        {"keep_fraction": np.float64(keep), "diversity_quota": np.float64(quota)},
        {"keep_fraction": _keep_check, "diversity_quota": _quota_check},
        {
            "keep_fraction": keep,
            "under": under,
            "diversity_quota": quota,
            "score": None if score is None else getattr(score, "__name__", "custom"),
        },
        score,
        None if score is None else functools.partial(_filter, keep, under, quota),
    )


def likelihood_filter(
    keep_fraction: float,
    *,
    under: str = "current",
    diversity_quota: float = 0.0,
    score: Callable[[jax.Array], jax.Array] | None = None,
) -> Curation:
    """Keep only the most plausible share of each generation's synthetic draws.

    Of the ``M_t`` draws, ``round(keep_fraction · M_t)`` are kept: the highest
    scores, except that a share ``diversity_quota`` of the kept slots goes to a
    uniform random choice among the others (a diversity quota). The score is the
    log-likelihood under ``under`` (the current model, or the reference as a
    verifier), or ``score(data) -> (n,)`` if given (a pure JAX function; it is part
    of the compiled program's static configuration).

    Filtering by plausibility drops the tails: it speeds collapse up rather than
    slowing it, which the quota partly undoes (tests/test_mitigations.py).

    Examples:
      >>> likelihood_filter(0.8, diversity_quota=0.25).name
      'likelihood_filter'
    """
    fn = "likelihood_filter"
    if score is not None and not callable(score):
        fail(
            fn,
            "score",
            "None or a callable data -> (n,) scores",
            score,
            "Pass a pure JAX function of the data.",
            error=TypeError,
        )
    return _filter(
        _keep_check(fn, "keep_fraction", keep_fraction),
        check_choice(fn, "under", under, _UNDER),
        _quota_check(fn, "diversity_quota", diversity_quota),
        score,
    )


# Regimes whose first fit sees the curated synthetic draws alone (no real data): there
# a filter that keeps fewer draws than the family's minimum sample size fails every
# chain at generation 1, so it is refused before the run.
_SYNTHETIC_ONLY = ("replace", "accumulate", "accumulate_subsample", "adaptive")


def _kept_draws(keep: float, m: int) -> int:
    """The draws ``likelihood_filter`` keeps of ``m`` (as ``_filter_weigh``)."""
    return max(int(np.round(np.float32(keep) * np.float32(m))), 1)


def _check_filter_size(fn, curation, family, schedule, regime_name, sweep) -> None:
    base = regime_name
    while base.startswith("monitored(") and base.endswith(")"):
        base = base[len("monitored("):-1]
    if schedule is None or base not in _SYNTHETIC_ONLY:
        return
    keeps = [curation.hyper["keep_fraction"]]
    arg = "curation"
    if sweep is not None and "keep_fraction" in sweep[0]:
        keeps = np.asarray(sweep[1]["keep_fraction"]).tolist()
        arg = "over['keep_fraction']"
    m = int(np.min(schedule))
    need = family.min_sample_size
    for keep in keeps:
        kept = _kept_draws(float(keep), m)
        if kept < need:
            fail(
                fn,
                arg,
                f"a likelihood filter that keeps >= {need} of the M = {m} draws "
                f"({family.min_sample_size_reason}; regime {regime_name} fits them "
                "alone)",
                described(f"keep_fraction={float(keep):g}, which keeps {kept}"),
                f"Keep a share >= {need / m:.3g} (e.g. likelihood_filter("
                f"{min(1.0, max(need / m * 2, 0.1)):.2g})), or raise sample_size.",
            )


def check_curation(
    fn: str, curation, family, sampler: str, schedule=None, regime_name: str = "",
    sweep=None,
) -> None:
    """Host-side checks of a curation against the run.

    ``schedule``: the ``M_t`` (None: population limit); ``regime_name``: the run's
    regime; ``sweep``: ``(names, values)`` of a sweep, or None.
    """
    if curation is None:
        return
    if not isinstance(curation, Curation):
        fail(
            fn,
            "curation",
            "None or a curation such as cj.tail_weighting(0.05)",
            type(curation).__name__,
            misplaced_detector_fix(
                curation, "Build one with cj.tail_weighting or cj.likelihood_filter."
            ),
            error=TypeError,
        )
    if sampler != "samples":
        fail(
            fn,
            "sampler",
            f"'samples' with curation={curation.name}",
            sampler,
            "Curation weighs individual draws; use sampler='samples' and a finite "
            "sample_size.",
        )
    if curation.name == "likelihood_filter":
        _check_filter_size(fn, curation, family, schedule, regime_name, sweep)
