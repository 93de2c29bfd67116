"""The categorical family: empirical frequencies refitted from integer counts.

Params carry both the probabilities and the integer counts they were fitted from, so
absorption (every draw in one category) is detected exactly on integers, never by float
equality (THEORY §12.2). The sufficient-statistic sampler draws the multinomial counts
directly by conditional binomials (proofs/gc-7-sufficient-statistics.md).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import random as cjr
from collapse_jax._reduce import sequential_cumsum, tree_sum
from collapse_jax.checks import as_float_array, check_positive_int, fail
from collapse_jax.families.base import ModelFamily
from collapse_jax.status import Status

__all__ = ["CategoricalParams", "categorical", "categorical_params"]

TAIL_LEVEL = 0.10  # the truth's least probable 10 % of mass


class CategoricalParams(NamedTuple):
    """Parameters of a categorical distribution over K categories."""

    probs: jax.Array  # (K,) float, probabilities summing to 1
    counts: jax.Array  # (K,) int32, counts of the fit (rounded weighted counts for
    # fractional weights; all zero for a truth given by probabilities)


def categorical_params(probs) -> CategoricalParams:
    """Build :class:`CategoricalParams` from probabilities (host, float64).

    Args:
      probs: ``(K,)`` non-negative, finite, summing to 1 (within 1e-6; renormalised).

    Raises:
      ValueError: for a wrong shape, negative or non-finite entries, or a sum that is
        not 1.

    Examples:
      >>> categorical_params([0.25, 0.75]).probs.tolist()
      [0.25, 0.75]
    """
    fn = "categorical_params"
    p = as_float_array(fn, "probs", probs)
    if p.ndim != 1 or p.shape[0] < 1:
        fail(fn, "probs", "a non-empty vector of shape (K,)", p, "Pass a 1-D array.")
    if not np.all(np.isfinite(p)):
        fail(fn, "probs", "finite", p.tolist(), "Remove NaN or inf entries.")
    if np.any(p < 0):
        fail(fn, "probs", "non-negative", p.tolist(), "Clip or fix negative entries.")
    total = float(p.sum())
    if abs(total - 1.0) > 1e-6:
        fail(
            fn,
            "probs",
            "probabilities summing to 1",
            f"entries summing to {total!r}",
            "Divide by the sum (probs / probs.sum()).",
        )
    return CategoricalParams(p / total, np.zeros(p.shape, np.int32))


def _rare_mask(truth_probs: jax.Array) -> jax.Array:
    """The truth's least probable categories holding at most TAIL_LEVEL of mass.

    Among the categories the truth can produce (probability > 0), taken in increasing
    order of probability while the cumulative mass stays <= TAIL_LEVEL; if even the
    least probable one exceeds it, the set is that single category. Categories of
    probability 0 are never in the set (no model can lose them).
    """
    positive = truth_probs > 0
    order = jnp.argsort(jnp.where(positive, truth_probs, jnp.inf))
    sorted_probs = jnp.where(positive[order], truth_probs[order], 0)
    cum = sequential_cumsum(sorted_probs)
    rare_sorted = (cum <= TAIL_LEVEL * (1 + 1e-6)) & positive[order]
    rare_sorted = rare_sorted.at[0].set(positive[order][0])
    return jnp.zeros(truth_probs.shape, bool).at[order].set(rare_sorted)


def _make(num_categories: int) -> ModelFamily:
    k = num_categories

    def sample(key, params, n):
        return jax.random.categorical(key, jnp.log(params.probs), shape=(n,))

    def fit(key, data, weights, prev):
        del key, prev
        w = weights.astype(_float_dtype(weights))
        wc = jax.ops.segment_sum(w, data, num_segments=k)
        total = tree_sum(wc)
        probs = wc / jnp.where(total > 0, total, 1)
        return CategoricalParams(probs, jnp.round(wc).astype(jnp.int32))

    def log_prob(params, data):
        return jnp.log(params.probs)[data]

    def refit(sample_key, fit_key, params, weights):
        data = sample(sample_key, params, weights.shape[0])
        return fit(fit_key, data, weights.astype(params.probs.dtype), params)

    def sample_fit(key, params, sample_size):
        counts = cjr.multinomial(key, sample_size, params.probs)
        dtype = params.probs.dtype
        probs = counts.astype(dtype) / jnp.asarray(sample_size, dtype)
        return CategoricalParams(probs, counts)

    def fit_population(params):
        return params  # the empirical fit to the exact distribution is itself

    def metrics(params, truth):
        p = params.probs
        support = jnp.sum(p > 0, dtype=jnp.int32)
        # A point mass: exactly one category with positive probability. For a fit
        # from integer counts c / M > 0 iff c >= 1, so this is exact on the counts
        # (never a float comparison with 1), and it also holds for fractional weights.
        absorbed = support == 1
        return {
            "probs": p,
            "gini_simpson": 1 - tree_sum(p * p),
            "entropy": -tree_sum(jax.scipy.special.xlogy(p, p)),
            "support_size": support,
            "absorbed": absorbed,
            "tail_mass": tree_sum(jnp.where(_rare_mask(truth.probs), p, 0)),
        }

    def status(params):
        finite = jnp.all(jnp.isfinite(params.probs))
        positive = jnp.any(params.probs > 0)
        code = jnp.where(
            ~finite,
            Status.NONFINITE_PARAMS,
            jnp.where(~positive, Status.ZERO_TOTAL_WEIGHT, Status.OK),
        )
        return code.astype(jnp.int32)

    def cast_params(params, dtype):
        return CategoricalParams(
            jnp.asarray(np.asarray(params.probs), dtype),
            jnp.asarray(np.asarray(params.counts), jnp.int32),
        )

    def validate_params(fn, name, params):
        if not isinstance(params, CategoricalParams):
            fail(
                fn,
                name,
                "CategoricalParams (from cj.categorical_params(probs))",
                type(params).__name__,
                "Build the truth with cj.categorical_params.",
                error=TypeError,
            )
        p = np.asarray(params.probs)
        if p.shape != (k,):
            fail(
                fn,
                name,
                f"probabilities over {k} categories",
                p,
                f"Pass probs of shape ({k},), or use "
                f"cj.categorical(num_categories={p.shape[0] if p.ndim else '?'}).",
            )
        if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1) > 1e-6:
            fail(
                fn,
                f"{name}.probs",
                "finite, non-negative and summing to 1",
                p.tolist(),
                "Build the truth with cj.categorical_params(probs).",
            )
        counts = params.counts
        c = np.asarray(counts) if counts is not None else None
        if c is None or c.shape != (k,) or not np.issubdtype(c.dtype, np.integer):
            fail(
                fn,
                f"{name}.counts",
                f"an integer array of shape ({k},)",
                counts,
                "Build the truth with cj.categorical_params(probs) (zero counts).",
            )
        if np.any(c < 0):
            fail(
                fn,
                f"{name}.counts",
                "non-negative",
                c.tolist(),
                "Counts are numbers of draws.",
            )
        total = int(c.sum())
        if total > 0 and not np.allclose(c / total, p, rtol=0, atol=1e-6):
            fail(
                fn,
                f"{name}.counts",
                "all zero, or counts whose frequencies equal probs",
                c.tolist(),
                "Pass zero counts for a truth given by probabilities.",
            )

    return ModelFamily(
        name="categorical",
        params_type=CategoricalParams,
        event_shape=(),
        min_sample_size=1,
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        refit=refit,
        sample_fit=sample_fit,
        fit_population=fit_population,
        metrics=metrics,
        status=status,
        cast_params=cast_params,
        validate_params=validate_params,
        metric_names=(
            "probs",
            "gini_simpson",
            "entropy",
            "support_size",
            "absorbed",
            "tail_mass",
        ),
        min_sample_size_reason="to estimate frequencies",
    )


def _float_dtype(weights):
    """Weights as a float dtype (integer masks become float32)."""
    return weights.dtype if jnp.issubdtype(weights.dtype, jnp.floating) else jnp.float32


@functools.cache
def _cached(num_categories: int) -> ModelFamily:
    return _make(num_categories)


def categorical(num_categories: int) -> ModelFamily:
    """The categorical family, refitted by empirical frequencies.

    Args:
      num_categories: ``K >= 1``.

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily`.

    Metrics (per chain and generation):
      ``probs`` (K,); ``gini_simpson`` () = 1 - sum p^2; ``entropy`` () in nats;
      ``support_size`` () int32, categories with non-zero probability; ``absorbed``
      () bool, the model is a point mass (exact, from integer counts);
      ``tail_mass`` (), the fitted probability of the truth's rare set: its least
      probable categories that together hold at most 10 % of the truth's mass (the
      single least probable category if it alone holds more).

    Examples:
      >>> categorical(3) is categorical(3)
      True
    """
    check_positive_int("categorical", "num_categories", num_categories)
    return _cached(int(num_categories))
