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
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.checks import as_float_array, fail
from collapse_jax.families.base import ModelFamily
from collapse_jax.status import Status

__all__ = ["PoissonParams", "poisson", "poisson_params"]

_MAX_COUNT = 2**31 - 1  # the integer total N_n is an int32


class PoissonParams(NamedTuple):
    """Parameters of a Poisson distribution."""

    rate: jax.Array  # () float, the rate lambda >= 0 (0: absorbed)
    count: jax.Array  # () int32, N = the (rounded weighted) sum of the fitted data;
    # 0 for a truth given by its rate; -1 after a fit that saw zero total weight


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
    return PoissonParams(np.float64(lam), np.int32(0))


def _make() -> ModelFamily:
    def sample(key, params, n):
        # jax.random.poisson is prefix-stable along the leading axis (each element
        # consumes its own position of every uniform draw), so masking n_max draws to
        # M_t equals drawing M_t (tests/test_poisson.py).
        return jax.random.poisson(key, params.rate, shape=(n,), dtype=jnp.int32)

    def fit(key, data, weights, prev):
        del key, prev  # closed form
        dtype = _float_dtype(weights)
        w = weights.astype(dtype)
        x = data.astype(dtype)
        total_w = tree_sum(w)
        s = tree_sum(w * x)
        ok = total_w > 0
        rate = jnp.where(ok, s / jnp.where(ok, total_w, 1), jnp.nan)
        count = jnp.where(ok, jnp.round(s).astype(jnp.int32), -1)
        return PoissonParams(rate.astype(dtype), count)

    def log_prob(params, data):
        x = data.astype(params.rate.dtype)
        return (
            jax.scipy.special.xlogy(x, params.rate)
            - params.rate
            - jax.scipy.special.gammaln(x + 1)
        )

    def refit(sample_key, fit_key, params, weights):
        data = sample(sample_key, params, weights.shape[0])
        return fit(fit_key, data, weights.astype(params.rate.dtype), params)

    def sample_fit(key, params, sample_size):
        # SU-2: the sum of M i.i.d. Poisson(lambda) draws is Poisson(M lambda).
        dtype = params.rate.dtype
        m = jnp.asarray(sample_size, dtype)
        n = jax.random.poisson(key, m * params.rate, shape=(), dtype=jnp.int32)
        return PoissonParams((n.astype(dtype) / m).astype(dtype), n)

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
            params.count < 0,
            Status.ZERO_TOTAL_WEIGHT,
            jnp.where(~finite, Status.NONFINITE_PARAMS, Status.OK),
        )
        return code.astype(jnp.int32)

    def cast_params(params, dtype):
        return PoissonParams(
            jnp.asarray(np.asarray(params.rate), dtype),
            jnp.asarray(np.asarray(params.count), jnp.int32),
        )

    def validate_params(fn, name, params):
        if not isinstance(params, PoissonParams):
            fail(
                fn,
                name,
                "PoissonParams (from cj.poisson_params(rate))",
                type(params).__name__,
                "Build the truth with cj.poisson_params.",
                error=TypeError,
            )
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

    return ModelFamily(
        name="poisson",
        params_type=PoissonParams,
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
        metric_names=("rate", "log_rate", "count", "absorbed"),
        min_sample_size_reason="to estimate a rate",
    )


def _float_dtype(weights):
    """Weights as a float dtype (integer masks become float32)."""
    return weights.dtype if jnp.issubdtype(weights.dtype, jnp.floating) else jnp.float32


@functools.cache
def poisson() -> ModelFamily:
    """The Poisson family, refitted by the weighted sample mean (docs/theory.md SU-2).

    Data are non-negative integer counts (``int32``). ``sample_fit`` draws the
    fitted total ``N ~ Poisson(M lambda)`` exactly (``M lambda < 2**31``).

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
    return _make()
