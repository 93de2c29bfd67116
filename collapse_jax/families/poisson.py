"""The Poisson family: the rate refitted by the (weighted) sample mean.

With ``M`` draws per generation, ``N_n := M lambda_n`` is a critical Galton–Watson
process with Poisson(1) offspring (docs/theory.md SU-2, proofs/su-2-poisson.md): the
sum of
``M`` i.i.d. Poisson(lambda) draws is Poisson(M lambda). The rate is a martingale,
absorbed at 0 with probability 1. Params carry the integer total ``N_n`` beside the
rate, so absorption is read from an integer (and a chain at 0 stays at 0 exactly:
Poisson(0) draws are 0). The sufficient-statistic sampler draws ``N ~ Poisson(M
lambda)`` directly, O(1) in ``M``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, cast

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax import random as cjr
from collapse_jax._reduce import tree_sum
from collapse_jax.checks import as_float_array, described, fail
from collapse_jax.families import _pooled
from collapse_jax.families.base import (
    Conjugate,
    ModelFamily,
    PooledFit,
    family,
    with_learner,
)
from collapse_jax.status import Status

__all__ = ["PoissonParams", "poisson", "poisson_params"]

_MAX_COUNT = 2**31 - 1  # the integer total N_n is an int32
_OVERFLOW = -2  # the count of a fit whose total passed _MAX_COUNT (COUNT_OVERFLOW)
#: run_chains refuses a truth whose count is likely to overflow: when Doob's bound
#: on the probability that a chain's count ever reaches 2**31 exceeds this.
OVERFLOW_RISK = 0.01


class _CountStats(NamedTuple):
    """The pooled statistic of Poisson data (``ModelFamily.pooled``)."""

    weight: Any  # () compensated total weight
    total: Any  # () compensated weighted sum of the counts
    exact: jax.Array  # () int32, sum of integer-rounded weights times counts
    fractional: jax.Array  # () bool, some weight is not an integer
    saturated: jax.Array  # () bool, a weighted draw saturated (>= 2**31 - 1, < 0)


class PoissonParams(NamedTuple):
    """Parameters of a Poisson distribution."""

    rate: jax.Array  # () float, the rate lambda >= 0 (0: absorbed)
    count: jax.Array  # () int32, N = the (rounded weighted) sum of the fitted data;
    # 0 for a truth given by its rate; -1 after a fit that saw zero total weight;
    # -2 after a fit whose total passed 2**31 - 1 (status COUNT_OVERFLOW)


def poisson_params(rate) -> PoissonParams:
    """Build :class:`PoissonParams` from a rate (host, float64).

    Args:
      rate: a finite number ``> 0`` (a truth at 0 is absorbed already: every
        generation would be 0).

    Raises:
      ValueError: for a non-scalar, non-finite or non-positive rate.

    Examples:
      >>> float(poisson_params(2.5).rate)
      2.5
    """
    fn = "poisson_params"
    lam = as_float_array(fn, "rate", rate)
    if lam.ndim != 0:
        fail(fn, "rate", "a scalar", lam, "Pass one number, e.g. rate=2.0.")
    if not np.isfinite(lam):
        fail(fn, "rate", "finite", float(lam), "Pass a finite rate.")
    if lam <= 0:
        fail(
            fn,
            "rate",
            "> 0",
            float(lam),
            "Pass a positive rate (a truth at 0 is already absorbed).",
        )
    # NumPy on the host until cast_params; typed as the fields the compiled step sees.
    fields = (np.float64(lam), np.int32(0))
    return PoissonParams(*cast("tuple[jax.Array, ...]", fields))


def _make() -> ModelFamily:
    def sample(key, params, n):
        # cjr.poisson is prefix-stable along the leading axis (each element consumes
        # its own position of every uniform draw), so masking n_max draws to M_t
        # equals drawing M_t (tests/test_poisson.py). It is exact for large rates,
        # where jax.random.poisson is not, and gives -1 for a rate it cannot count.
        return cjr.poisson(key, params.rate, (n,))

    def stats(data, weights):
        dtype = _float_dtype(weights)
        w = weights.astype(dtype)
        whole = jnp.round(w)
        return _CountStats(
            _pooled.compensated(tree_sum(w)),
            _pooled.compensated(tree_sum(w * data.astype(dtype))),
            tree_sum(whole.astype(jnp.int32) * data.astype(jnp.int32)),
            ~jnp.all(w == whole),
            jnp.any((w > 0) & ((data >= _MAX_COUNT) | (data < 0))),
        )

    def merge(a, b):
        return _CountStats(
            _pooled.merge_sums(a.weight, b.weight),
            _pooled.merge_sums(a.total, b.total),
            a.exact + b.exact,
            a.fractional | b.fractional,
            a.saturated | b.saturated,
        )

    def fit_pooled(st, prev):
        del prev  # closed form
        total_w = _pooled.value(st.weight)
        s = _pooled.value(st.total)
        dtype = s.dtype
        ok = total_w > 0
        rate = jnp.where(ok, s / jnp.where(ok, total_w, 1), jnp.nan)
        # The count is the integer sum when the weights are integers (masks,
        # replication): exact beyond 2**24, where a float32 sum rounds. A total
        # from 2**31 on does not fit an int32, nor does a draw that saturated.
        count = jnp.where(st.fractional, jnp.round(s).astype(jnp.int32), st.exact)
        overflow = ~(s < 2.0**31) | st.saturated
        count = jnp.where(ok, jnp.where(overflow, _OVERFLOW, count), -1)
        return PoissonParams(rate.astype(dtype), count)

    def fit(key, data, weights, prev):
        del key
        return fit_pooled(stats(data, weights), prev)

    def log_prob(params, data):
        x = data.astype(params.rate.dtype)
        return (
            jax.scipy.special.xlogy(x, params.rate)
            - params.rate
            - jax.scipy.special.gammaln(x + 1)
        )

    def sample_fit(key, params, sample_size):
        # SU-2: the sum of M i.i.d. Poisson(lambda) draws is Poisson(M lambda).
        dtype = params.rate.dtype
        m = jnp.asarray(sample_size, dtype)
        n = cjr.poisson(key, m * params.rate, ())
        count = jnp.where((n < 0) | (n >= _MAX_COUNT), _OVERFLOW, n)
        return PoissonParams((n.astype(dtype) / m).astype(dtype), count)

    def fit_population(params):
        return params  # the mean of the exact distribution is its rate

    def metrics(params, truth):
        del truth
        rate = params.rate
        absorbed = rate == 0  # exact: a weighted sum of counts >= 0 is 0 iff all are
        return {
            "rate": rate,
            # -inf once absorbed, exactly: the log-rate of an absorbed chain has no
            # finite value, and averaging it would hide absorption (docs/theory.md
            # §12.2:
            # report P(absorbed) and quantiles instead).
            "log_rate": jnp.where(absorbed, -jnp.inf, jnp.log(rate)).astype(rate.dtype),
            "count": params.count,
            "absorbed": absorbed,
        }

    def status(params):
        finite = jnp.isfinite(params.rate) & (params.rate >= 0)
        code = jnp.where(
            params.count == _OVERFLOW,
            Status.COUNT_OVERFLOW,
            jnp.where(
                params.count < 0,
                Status.ZERO_TOTAL_WEIGHT,
                jnp.where(~finite, Status.NONFINITE_PARAMS, Status.OK),
            ),
        )
        return code.astype(jnp.int32)

    def check_params(fn, name, params):
        lam = np.asarray(params.rate)
        if lam.shape != () or not np.issubdtype(lam.dtype, np.floating):
            fail(
                fn,
                f"{name}.rate",
                "a float scalar",
                lam,
                "Build the truth with cj.poisson_params(rate).",
            )
        if not np.isfinite(lam) or lam <= 0:
            fail(
                fn,
                f"{name}.rate",
                "finite and > 0",
                float(lam),
                "Pass a positive rate (a truth at 0 is already absorbed).",
            )
        c = np.asarray(params.count)
        if c.shape != () or not np.issubdtype(c.dtype, np.integer) or c < 0:
            fail(
                fn,
                f"{name}.count",
                "a non-negative integer scalar",
                params.count,
                "Build the truth with cj.poisson_params(rate) (count 0).",
            )

    # refit and cast_params are the builder's defaults (draw then fit; the rate
    # to the run's dtype, the count to int32).
    return family(
        name="poisson",
        params_type=PoissonParams,
        event_shape=(),
        min_sample_size=1,
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        sample_fit=sample_fit,
        fit_population=fit_population,
        metrics=metrics,
        status=status,
        built_by="cj.poisson_params(rate)",
        int_fields=("count",),
        check_params=check_params,
        metric_names=("rate", "log_rate", "count", "absorbed"),
        min_sample_size_reason="to estimate a rate",
        check_run=_check_run,
        pooled=PooledFit(stats, merge, fit_pooled, fit),
        conjugate=Conjugate("poisson"),  # Gamma prior (collapse_jax.bayes)
        # Poisson(0) draws are 0 and refit to rate 0, count 0, whatever M.
        absorbing=lambda params, sample_size: params.rate == 0,
        # Two samplers per draw (small and large means), each a rejection loop.
        sample_temporaries=20,
        fit_temporaries=2,  # the weighted counts, tree-summed
    )


def overflow_bound(rate: float, schedule) -> float:
    """An upper bound on the probability that a chain's count ever reaches 2**31.

    The rate is a martingale (SU-2) with ``Var(lambda_{t+1} | lambda_t) =
    lambda_t / M_t``, and the newest draws' count is ``M_t lambda_{t+1} <= M_max
    lambda_{t+1}``, so the count reaches ``a = 2**31`` only if ``lambda`` reaches
    ``a / M_max``. Doob's maximal inequality for the non-negative martingale gives
    ``P <= lambda_0 M_max / a``; Kolmogorov's (Doob's L2 inequality for the
    centred martingale) gives ``P <= lambda_0 sum_t 1/M_t / (a / M_max -
    lambda_0)**2``, far smaller for short runs. The bound is the smaller of the
    two. Regimes that pool more than the newest draws count more points: for them
    this is a lower bound on the risk, and the run's COUNT_OVERFLOW status reports
    the rest.

    Args:
      rate: ``lambda_0 > 0``.
      schedule: the ``M_t``, one per generation.

    Examples:
      >>> overflow_bound(1.0, [1000] * 100) < 1e-13  # M lambda = 1000
      True
      >>> overflow_bound(1e30, [10] * 5)  # poisson_params(1e30): certain
      1.0
    """
    sizes = np.asarray(schedule, np.float64)
    m_max = float(np.max(sizes))
    a = 2.0**31
    doob = rate * m_max / a
    gap = a / m_max - rate
    kolmogorov = rate * float(np.sum(1.0 / sizes)) / gap**2 if gap > 0 else np.inf
    return float(min(doob, kolmogorov, 1.0))


def _check_run(fn, name, params, schedule, num_generations, sampler, dtype):
    """Refuse a truth whose integer count is likely to pass 2**31 - 1 (int32)."""
    del num_generations, sampler, dtype
    if schedule is None:
        return  # the population limit counts nothing
    rate = float(np.asarray(params.rate, np.float64))
    risk = overflow_bound(rate, schedule)
    if risk > OVERFLOW_RISK:
        m_max = int(np.max(schedule))
        fail(
            fn,
            name,
            f"a truth whose count M * rate stays below 2**31 (the int32 total of "
            f"a fit) with probability at least {1 - OVERFLOW_RISK:.0%}",
            described(
                f"rate {rate:.4g} with M = {m_max}: M * rate = {rate * m_max:.4g}, "
                f"and Doob's bound on P(count reaches 2**31) is {risk:.2g}"
            ),
            "Lower the rate or the sample size (the chain's law depends on M * rate "
            "only through its scale), or pass sample_size=None (the population "
            "limit counts nothing).",
        )


def _float_dtype(weights):
    """Weights as a float dtype (integer masks become float32)."""
    return weights.dtype if jnp.issubdtype(weights.dtype, jnp.floating) else jnp.float32


@functools.cache
def _cached() -> ModelFamily:
    return _make()


def poisson(*, learner: str = "plugin", prior=None) -> ModelFamily:
    """The Poisson family, refitted by the weighted sample mean (docs/theory.md SU-2).

    Data are non-negative integer counts (``int32``). ``sample_fit`` draws the
    fitted total ``N ~ Poisson(M lambda)`` exactly, for any ``M lambda`` below
    ``2**31 - 2**20`` (:func:`collapse_jax.random.poisson`). A total that does not
    fit an int32 stops the chain with status ``COUNT_OVERFLOW`` (its last exact
    count kept), and ``run_chains`` refuses a truth whose count is likely to get
    there (:func:`overflow_bound` above ``OVERFLOW_RISK``; docs/precision.md).

    Args:
      learner: ``"plugin"`` (the sample mean) or a Bayesian learner of
        :func:`collapse_jax.bayesian`.
      prior: None (Jeffreys for a Bayesian learner), ``cj.jeffreys()`` or
        ``cj.gamma_prior(concentration, rate)``.

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily`.

    Metrics (per chain and generation):
      ``rate`` () float; ``log_rate`` () float, ``-inf`` exactly once absorbed;
      ``count`` () int32, the integer total ``N_n = M lambda_n`` of the fit (0 for
      the truth); ``absorbed`` () bool, the rate is exactly 0 (an absorbing state).

    Examples:
      >>> poisson() is poisson()
      True
    """
    return with_learner("poisson", _cached(), learner, prior)
