"""The categorical family: empirical frequencies refitted from integer counts.

Params carry both the probabilities and the integer counts they were fitted from, so
absorption (every draw in one category) is detected exactly on integers, never by float
equality (docs/theory.md §12.2). The sufficient sampler draws the multinomial counts
directly by conditional binomials (proofs/gc-7-sufficient-statistics.md).

Large vocabularies (``K >= LARGE_K``, a static rule, so smaller families keep their
bits) sample by inverse CDF: a cumulative sum of the probabilities (a fixed
Hillis–Steele tree of elementwise adds, batch invariant), ``searchsorted`` of uniform
draws, and counts by ``segment_sum``: O(n log K + K log K) per draw instead of the
O(n K) of Gumbel-max; the sufficient draw splits the counts by conditional binomials
down a binary tree (log2 K vectorised levels instead of a scan of K binomials).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, cast

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import random as cjr
from collapse_jax._reduce import sequential_cumsum, tree_sum
from collapse_jax.checks import as_float_array, check_positive_int, described, fail
from collapse_jax.families import _pooled
from collapse_jax.families.base import (
    Conjugate,
    Location,
    ModelFamily,
    PooledFit,
    ProbabilityVector,
    family,
    with_learner,
)
from collapse_jax.frame import grid_origin
from collapse_jax.status import Status

__all__ = ["CategoricalParams", "categorical", "categorical_params"]

TAIL_LEVEL = 0.10  # the truth's least probable 10 % of mass
#: From this many categories on, draws use the inverse-CDF sampler (static rule).
LARGE_K = 256
# A weighted fit whose float total is off the tree sum of its weights by more than
# this share has lost counts to rounding (a sequential float32 sum of n terms is
# off by about sqrt(n) 6e-8 when nothing saturates: 2.5e-4 at n = 2**24).
_LOSS = 2.0**-10
#: The largest sample size the float32 sufficient sampler draws: its binomials
#: (jax.random.binomial in float32) inflate the variance above it (measured over
#: 4e6 draws: +0.2 % at 2**20, +0.8 % at 2**22, +2 % at 2**24, +60 % at 2**30).
MAX_FLOAT32_SUFFICIENT = 2**20


class _CountStats(NamedTuple):
    """The pooled statistic of categorical data (``ModelFamily.pooled``)."""

    ints: jax.Array  # (K,) int32, integer-rounded weighted counts
    floats: Any  # (K,) compensated float weighted counts
    total: Any  # () compensated total weight
    fractional: jax.Array  # () bool, some weight is not an integer


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
    # NumPy on the host until cast_params; typed as the fields the compiled step sees.
    fields = (p / total, np.zeros(p.shape, np.int32))
    return CategoricalParams(*cast("tuple[jax.Array, ...]", fields))


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


def _top_k_mask(weights: jax.Array, k: int) -> jax.Array:
    """The ``k`` largest entries (ties to the lower index), as a bool mask."""
    _, idx = jax.lax.top_k(weights, k)
    return jnp.zeros(weights.shape, bool).at[idx].set(True)


def _make(
    num_categories: int, max_support: int | None, support: tuple[float, ...] | None
) -> ModelFamily:
    k = num_categories
    # At most `m` categories in the class (m = k: no truncation); an int, so the
    # compiled code below needs no None check.
    m = k if max_support is None else max_support
    truncate = m < k
    large = k >= LARGE_K
    values = np.arange(k, dtype=np.float64) if support is None else np.asarray(support)

    def restrict(wc):
        """Keep the ``max_support`` heaviest categories (proofs/sh-1b-expressivity.md).

        Every model of the class gives data outside its support likelihood 0, so the
        fit keeps the support that explains the most points and takes frequencies
        on it: the minimiser of ``KL(q || p_hat)`` over the class.
        """
        return jnp.where(_top_k_mask(wc, m), wc, 0) if truncate else wc

    def project(params):
        """The best model of the class for a distribution: its top categories.

        Among distributions on at most ``max_support`` categories, the reverse
        divergence ``KL(q || p)`` is least (``-log p(A)``) for ``q`` = ``p``
        restricted to its ``max_support`` most probable categories and renormalised
        (proofs/sh-1b-expressivity.md). A model already in the class is returned
        unchanged, bit for bit.
        """
        if not truncate:
            return params
        p = params.probs
        keep = _top_k_mask(p, m)
        inside = jnp.sum(p > 0, dtype=jnp.int32) <= m
        kept = jnp.where(keep, p, 0)
        probs = kept / tree_sum(kept)
        counts = jnp.where(keep, params.counts, 0)
        return CategoricalParams(
            jnp.where(inside, p, probs), jnp.where(inside, params.counts, counts)
        )

    def sample(key, params, n):
        if large:
            return _inverse_cdf_draws(key, params.probs, n)
        return jax.random.categorical(key, jnp.log(params.probs), shape=(n,))

    def stats(data, weights):
        w = weights.astype(_float_dtype(weights))
        # Integer weights (masks, replication) are counted in int32: exact up to
        # 2**31, where a float32 segment sum stops adding ones at 2**24 (a category
        # drawn 3e7 times would count 16,777,216). The same bits below 2**24.
        whole = jnp.round(w)
        integral = jnp.all(w == whole)
        ints = jax.ops.segment_sum(whole.astype(jnp.int32), data, num_segments=k)
        floats = jax.ops.segment_sum(w, data, num_segments=k)
        return _CountStats(
            ints,
            _pooled.compensated(floats),
            _pooled.compensated(tree_sum(w)),
            ~integral,
        )

    def merge(a, b):
        return _CountStats(
            a.ints + b.ints,
            _pooled.merge_sums(a.floats, b.floats),
            _pooled.merge_sums(a.total, b.total),
            a.fractional | b.fractional,
        )

    def fit_pooled(st, prev):
        del prev
        integral = ~st.fractional
        ints, floats = st.ints, _pooled.value(st.floats)
        wc = restrict(jnp.where(integral, ints.astype(floats.dtype), floats))
        total = tree_sum(wc)
        probs = wc / jnp.where(total > 0, total, 1)
        counts = jnp.where(
            integral, jnp.where(wc > 0, ints, 0), jnp.round(wc).astype(jnp.int32)
        )
        # Fractional weights are summed in the dtype: a total that no longer
        # matches the tree sum of the weights has lost its resolution (float32 past
        # 2**24 times the smallest weight). Counts -1 mark it (PRECISION_LOSS).
        total_w = _pooled.value(st.total)
        lost = ~integral & ~(jnp.abs(tree_sum(floats) - total_w) <= _LOSS * total_w)
        counts = jnp.where(lost, -1, counts)
        return CategoricalParams(probs, counts)

    def fit(key, data, weights, prev):
        del key
        return fit_pooled(stats(data, weights), prev)

    def log_prob(params, data):
        return jnp.log(params.probs)[data]

    def sample_fit(key, params, sample_size):
        if large:
            counts = _tree_multinomial(key, params.probs, sample_size)
        else:
            counts = cjr.multinomial(key, sample_size, params.probs)
        dtype = params.probs.dtype
        if truncate:
            counts = jnp.where(_top_k_mask(counts, m), counts, 0)
            total = jnp.sum(counts, dtype=jnp.int32)
        else:
            total = sample_size
        probs = counts.astype(dtype) / jnp.asarray(total, dtype)
        return CategoricalParams(probs, counts)

    def fit_population(params):
        # The empirical fit to the exact distribution is the distribution itself;
        # a truncated family keeps its top categories.
        return project(params)

    def fit_population_mixture(log_weights, params):
        # A mixture of categoricals is the categorical of the mixed probabilities.
        w = jnp.exp(log_weights).astype(params.probs.dtype)
        probs = tree_sum(w[:, None] * params.probs, 0)
        current = jax.tree.map(lambda x: x[0], params)
        return fit_population(current._replace(probs=probs))

    def check_source(fn, name, source_family):
        if source_family.name != "categorical" or source_family.event_shape != ():
            fail(
                fn,
                name,
                f"a categorical family over {k} categories",
                source_family.name,
                "A categorical can be fitted to categorical models only; fit a "
                "continuous family (e.g. cj.gaussian()) to a categorical on a "
                "numeric support instead.",
            )
        source_k = source_family.num_categories
        if source_k is not None and source_k != k:
            fail(
                fn,
                name,
                f"a categorical family over the same {k} categories",
                f"a categorical over {source_k} categories",
                f"Fit cj.categorical({source_k}, max_support=...) to it instead.",
            )

    def fit_population_from(source_family, source_params):
        del source_family  # a categorical over the same categories
        return project(source_params)

    def numeric(data):
        return jnp.asarray(values)[data][:, None]

    def view(params):
        return params.probs

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
            # The truth's mass on the categories the model has lost: the test error
            # of a memorisation learner trained on this model (TT-1 to TT-3).
            "lost_mass": tree_sum(jnp.where(p > 0, 0, truth.probs)),
        }

    def status(params):
        finite = jnp.all(jnp.isfinite(params.probs))
        positive = jnp.any(params.probs > 0)
        code = jnp.where(
            ~finite,
            Status.NONFINITE_PARAMS,
            jnp.where(
                jnp.any(params.counts < 0),
                Status.PRECISION_LOSS,
                jnp.where(~positive, Status.ZERO_TOTAL_WEIGHT, Status.OK),
            ),
        )
        return code.astype(jnp.int32)

    def check_params(fn, name, params):
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

    # refit and cast_params are the builder's defaults (draw then fit; probs to
    # the run's dtype, counts to int32).
    return family(
        name="categorical",
        params_type=CategoricalParams,
        event_shape=(),
        min_sample_size=1,
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        sample_fit=sample_fit,
        fit_population=fit_population,
        metrics=metrics,
        status=status,
        built_by="cj.categorical_params(probs)",
        int_fields=("counts",),
        check_params=check_params,
        probability_vector=_PROBABILITY_VECTOR,
        num_categories=k,
        metric_names=(
            "probs",
            "gini_simpson",
            "entropy",
            "support_size",
            "absorbed",
            "tail_mass",
            "lost_mass",
        ),
        min_sample_size_reason="to estimate frequencies",
        check_source=check_source,
        start_from=fit_population_from,  # the projection is also the start
        fit_population_from=fit_population_from,
        fit_population_mixture=fit_population_mixture,
        pooled=PooledFit(stats, merge, fit_pooled, fit),
        # A Dirichlet prior (collapse_jax.bayes); not for a truncated class.
        conjugate=None if truncate else Conjugate("categorical"),
        absorbing=_point_mass_of,
        numeric=numeric,
        view=view,
        view_kind="probs",
        location=_location(k, max_support, values),
        check_run=_check_run,
        # Below LARGE_K a Gumbel variate per category and draw, with its random
        # bits and uniform (key scheme 1 measured 2.2 k floats in float64, 4.2 k in
        # float32; scheme 2's counter words need about 1.2 k in float32 at K = 10,
        # M = 10^4, tests/test_memory.py); the inverse CDF's search above it.
        sample_temporaries=4 if large else 1.5 * k,
        fit_temporaries=3,  # the points' weights per category index, summed
    )


def _check_run(fn, name, params, schedule, num_generations, sampler, dtype):
    """Refuse float32 sufficient draws beyond the binomial sampler's accurate range."""
    del name, params, num_generations
    if sampler != "sufficient" or dtype != "float32" or schedule is None:
        return
    m = int(np.max(schedule))
    if m > MAX_FLOAT32_SUFFICIENT:
        fail(
            fn,
            "sample_size",
            f"<= {MAX_FLOAT32_SUFFICIENT:,} for a categorical with "
            "sampler='sufficient' in float32 (its float32 binomial draws distort "
            "the counts' law above that: variance +0.8 % at 2**22, +60 % at 2**30)",
            m,
            "Run with dtype='float64' (x64 enabled; exact binomials), or "
            "sampler='samples' (exact integer counts).",
        )


def _location(k, max_support, values) -> Location:
    """A categorical on a numeric support, as the truth of a continuous fit.

    Its params have no location (the values live in the family), so a translated
    frame moves the support itself: ``rebase`` is the same categorical with its
    values moved (collapse_jax.frame). No metric of its own depends on the values.
    """

    def moments(params):
        p = np.asarray(params.probs, np.float64)
        center = float(np.sum(p * values))
        return center, float(np.sum(p * (values - center) ** 2))

    def origin(params):
        center, var = moments(params)
        with np.errstate(divide="ignore"):
            log_scale = 0.5 * np.log(var)
        return grid_origin(np.asarray([center]), np.asarray([log_scale]))

    def spread(params):
        center, var = moments(params)
        return np.asarray([abs(center)]), np.asarray([math.sqrt(var)])

    def rebase(offset):
        moved = np.asarray(values, np.float64) - float(np.asarray(offset)[0])
        return categorical(k, max_support=max_support, support=moved)

    return Location(
        origin=origin,
        shift=lambda params, offset: params,
        shift_data=lambda data, offset: data,  # category indices do not move
        spread=spread,
        rebase=rebase,
    )


def _cumsum(x: jax.Array) -> jax.Array:
    """Inclusive cumulative sum by a Hillis–Steele tree of elementwise adds.

    ``log2 K`` rounds of ``x[i] += x[i - 2^r]``: the association of every output
    depends on its position only, so a chain's bits do not depend on its batch (an
    XLA cumsum may vectorise differently), and it is O(K log K) with no sequential
    scan over ``K``. Each round adds in place (``x[i] += x[i - 2^r]`` for
    ``i >= 2^r``, the same sums as adding a zero-padded shift): one ``(K,)`` buffer
    of temporaries instead of one per round (``log2 K`` buffers, 31 GB for 1,024
    chains of K = 200,000 in float64).
    """
    x = jax.lax.optimization_barrier(x)
    n = x.shape[0]
    shift = 1
    while shift < n:
        x = x.at[shift:].add(x[:-shift])
        shift *= 2
    return x


def _sampling_cdf(probs: jax.Array) -> jax.Array:
    """The cdf :func:`_inverse_cdf_draws` inverts: monotone, flat at zeros.

    The running maximum of the tree sums taken at positive probabilities only.
    """
    sums = _cumsum(probs)
    return jax.lax.cummax(jnp.where(probs > 0, sums, jnp.zeros_like(sums)), axis=0)


def _inverse_cdf_draws(key: jax.Array, probs: jax.Array, n: int) -> jax.Array:
    """``n`` exact categorical draws by inverse CDF, ``(n,) int32``.

    Category ``j`` is drawn iff ``cdf[j-1] <= u < cdf[j]`` with ``u`` uniform on
    ``[0, cdf[K-1])``. The tree sum rounds each position by its own association, so
    its raw output need not be flat over zero probabilities, nor monotone; the cdf
    used is the running maximum of the tree sums at positive probabilities, which
    is monotone, and exactly flat where ``probs[j] == 0``: such a category is never
    drawn (a forgotten word stays forgotten). The maximum is exact, so the bits do
    not depend on the batch. ``u`` rounding up to the total is mapped to the last
    category of positive probability. Uniforms are prefix-stable in ``n``.
    """
    cdf = _sampling_cdf(probs)
    total = cdf[-1]
    u = jax.random.uniform(key, (n,), probs.dtype) * total
    idx = jnp.searchsorted(cdf, u, side="right", method="scan").astype(jnp.int32)
    k = probs.shape[0]
    last = (k - 1 - jnp.argmax((probs > 0)[::-1])).astype(jnp.int32)
    return jnp.minimum(idx, last)


def _tree_multinomial(key: jax.Array, probs: jax.Array, total) -> jax.Array:
    """Multinomial counts by conditional binomials down a binary tree, ``(K,) int32``.

    The categories are padded to ``P = 2^L`` and paired level by level; a node's
    count splits as ``left ~ Bin(count, mass_left / mass_node)`` and ``right = count
    - left``, which is the multinomial law (the same argument as the sequential
    conditional binomials of :func:`collapse_jax.random.multinomial`, applied to a
    tree: proofs/gc-7-sufficient-statistics.md). ``L = log2 K`` vectorised levels
    instead of ``K`` sequential binomials; ``total`` may be traced. Level ``l`` is
    keyed by ``fold_in(key, l)``. Node masses are sums of pairs (elementwise adds),
    so a node of mass 0 gets count 0 and a right child of mass 0 gets none.
    """
    k = probs.shape[0]
    dtype = probs.dtype
    size = 1 << (k - 1).bit_length()
    mass = jnp.concatenate([probs, jnp.zeros((size - k,), dtype)])
    masses = [mass]
    while masses[-1].shape[0] > 1:
        pairs = masses[-1].reshape(-1, 2)
        masses.append(pairs[:, 0] + pairs[:, 1])
    counts = jnp.asarray(total, jnp.int32).reshape(1)
    for level in range(len(masses) - 2, -1, -1):
        child = masses[level].reshape(-1, 2)
        parent = masses[level + 1]
        ratio = jnp.where(parent > 0, child[:, 0] / jnp.where(parent > 0, parent, 1), 0)
        ratio = jnp.clip(ratio, 0, 1)
        draw = jax.random.binomial(
            jax.random.fold_in(key, level), counts.astype(dtype), ratio, dtype=dtype
        )
        left = jnp.clip(jnp.round(draw).astype(jnp.int32), 0, counts)
        right_empty = child[:, 1] <= 0
        left = jnp.where(right_empty | (ratio >= 1), counts, left)
        left = jnp.where(ratio <= 0, 0, left)
        counts = jnp.stack([left, counts - left], axis=1).reshape(-1)
    return counts[:k]


def _point_mass_of(params, sample_size):
    """A point mass counted from ``sample_size`` draws: every draw and the refit
    give it back bit for bit (probability exactly 1, count ``M``)."""
    return (jnp.max(params.probs) == 1) & (
        jnp.sum(params.counts, dtype=jnp.int32) == sample_size
    )


def _float_dtype(weights):
    """Weights as a float dtype (integer masks become float32)."""
    return weights.dtype if jnp.issubdtype(weights.dtype, jnp.floating) else jnp.float32


_PROBABILITY_VECTOR = ProbabilityVector(
    get=lambda params: params.probs,
    put=lambda params, probs: params._replace(probs=probs),
)


@functools.cache
def _cached(num_categories: int, max_support, support) -> ModelFamily:
    return _make(num_categories, max_support, support)


def categorical(
    num_categories: int,
    *,
    max_support: int | None = None,
    support=None,
    learner: str = "plugin",
    prior=None,
) -> ModelFamily:
    """The categorical family, refitted by empirical frequencies.

    Args:
      num_categories: ``K >= 1``.
      max_support: ``None``, or ``k`` in ``1..K``: the class of distributions on at
        most ``k`` categories (support truncation, an expressivity error). The fit is
        the best model of the class: the ``k`` most frequent categories
        of the data (ties to the lower index), renormalised.
      support: ``None`` (the values ``0 .. K-1``) or ``K`` finite numbers: the value
        of each category, used when a continuous family is fitted to this one
        (``run_chains(cj.gaussian(), init, init_family=cj.categorical(K, ...))``).
      learner, prior: ``"plugin"`` (frequencies) or a Bayesian learner of
        :func:`collapse_jax.bayesian`, with a Dirichlet prior (None: Jeffreys).

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily`.

    Metrics (per chain and generation):
      ``probs`` (K,); ``gini_simpson`` () = 1 - sum p^2; ``entropy`` () in nats;
      ``support_size`` () int32, categories with non-zero probability; ``absorbed``
      () bool, the model is a point mass (exact, from integer counts);
      ``tail_mass`` (), the fitted probability of the truth's rare set: its least
      probable categories that together hold at most 10 % of the truth's mass (the
      single least probable category if it alone holds more); ``lost_mass`` (),
      the truth's probability on the categories the model gives probability 0 (the
      test error of a memorisation learner, docs/theory.md TT-1 to TT-3).

    Draws: ``K >= LARGE_K`` (256) categories use an exact inverse-CDF sampler
    (``searchsorted`` on a cumulative sum, counts by ``segment_sum``), fast for
    vocabularies of 1e4-1e5; smaller ``K`` use Gumbel-max and conditional binomials.

    Examples:
      >>> categorical(3) is categorical(3)
      True
    """
    fn = "categorical"
    check_positive_int(fn, "num_categories", num_categories)
    k = int(num_categories)
    if max_support is not None:
        max_support = check_positive_int(fn, "max_support", max_support)
        if max_support > k:
            fail(
                fn,
                "max_support",
                f"None or an int in 1..num_categories={k}",
                max_support,
                f"Pass max_support <= {k}, or None for no truncation.",
            )
        if max_support == k:
            max_support = None  # no truncation: the same family as categorical(K)
    if support is not None:
        values = as_float_array(fn, "support", support)
        if values.shape != (k,):
            fail(
                fn,
                "support",
                f"None or {k} numbers, one value per category",
                described(f"an array of shape {values.shape}"),
                f"Pass a sequence of length {k}.",
            )
        if not np.all(np.isfinite(values)):
            fail(fn, "support", "finite", values.tolist(), "Remove NaN or inf.")
        support = tuple(float(v) for v in values)
    return with_learner(fn, _cached(k, max_support, support), learner, prior)
