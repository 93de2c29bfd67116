"""The posterior-predictive learner of the Gaussian and the Poisson.

Their predictives (Student-t, GammaPoisson) are not models of the family, so the
learner's model is :class:`PredictiveParams`: the family's plug-in fit of the
generation's data (the posterior's sufficient statistic) and the data's total
frequency weight ``W``. Weight 0 means "the fit itself": the family's own model,
which is how a truth (generation 0, the real data of a mixing regime) is carried;
``run_chains`` accepts a truth of the family's own params (``cast_params`` wraps
it with weight 0). Every point of a generation is an independent draw from the
predictive (numpyro's ``StudentT``; ``Gamma`` rates then exact Poisson counts for
the GammaPoisson, :mod:`collapse_jax.bayes.conjugate`).

Metrics are the predictive's moments: ``mean``, ``log_var`` (``+inf`` where the
variance does not exist: Student-t with ``df <= 2``), ``rate``, ... and what the
state carries (``weight``; the Poisson's data ``count``).

The population limit (``sample_size=None``): the posterior of infinitely many
points concentrates at the plug-in fit, so ``fit_population`` is the family's
population fit of the predictive's law (its moment match: a Gaussian of the
predictive's mean and variance, a Poisson of its mean), at weight 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import ndtr

from collapse_jax._gaussians import GaussianParams
from collapse_jax._reduce import tree_sum
from collapse_jax.bayes.conjugate import scoped
from collapse_jax.checks import fail
from collapse_jax.families.base import ModelFamily, _float_leaf
from collapse_jax.families.gaussian import _TAIL_Z, _compose, _ratio, _weighted_moments
from collapse_jax.status import Status

__all__ = ["PredictiveParams", "predictive_family"]


@jax.custom_batching.custom_vmap
def _student_t_cdf(df, z):
    """The standard Student-t CDF of one number (numpyro's ``StudentT.cdf``).

    Its regularised incomplete beta runs one continued-fraction loop over every
    element of an array until all have converged, so a batched call gives a lane
    bits that depend on its neighbours (up to an ulp). Batched over chains, it is
    evaluated lane by lane instead (``lax.map``): a chain's ``tail_mass`` does not
    depend on its batch (tests/test_bayes_learners.py).
    """
    zero, one = jnp.zeros((), z.dtype), jnp.ones((), z.dtype)
    return dist.StudentT(df, zero, one).cdf(z)


@_student_t_cdf.def_vmap
def _student_t_cdf_vmap(axis_size, in_batched, df, z):
    df, z = (
        x if batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))
        for x, batched in zip((df, z), in_batched, strict=True)
    )
    # The rule runs when the runner batches the step, outside the metrics' x64
    # scope (conjugate.scoped): scope the per-lane calls again.
    return jax.lax.map(scoped(lambda args: _student_t_cdf(*args), 0), (df, z)), True


class PredictiveParams(NamedTuple):
    """The model of a posterior-predictive learner."""

    fit: Any  # the family's params: the plug-in fit of the data (the truth at W = 0)
    weight: jax.Array  # () float, the data's total frequency weight W (0: `fit`)


def predictive_family(inner: ModelFamily, model, prior) -> ModelFamily:
    """The ``"posterior_predictive"`` learner of ``inner`` (Gaussian or Poisson)."""
    assert inner.conjugate is not None  # bayesian() required the capability
    parts = (_normal if inner.conjugate.likelihood == "normal" else _poisson)(
        inner, model, prior
    )
    ptype = inner.params_type

    def fit(key, data, weights, prev):
        stat = inner.fit(key, data, weights, prev.fit)
        return PredictiveParams(stat, tree_sum(weights.astype(_float_leaf(stat).dtype)))

    def cast_params(params, dtype):
        if isinstance(params, ptype):
            fit0 = inner.cast_params(params, dtype)
            return PredictiveParams(fit0, jnp.zeros((), _float_leaf(fit0).dtype))
        fit1 = inner.cast_params(params.fit, dtype)
        return PredictiveParams(
            fit1, jnp.asarray(params.weight, _float_leaf(fit1).dtype)
        )

    def validate_params(fn, name, params):
        if isinstance(params, ptype):
            inner.validate_params(fn, name, params)
            return
        if not isinstance(params, PredictiveParams):
            fail(
                fn,
                name,
                f"{ptype.__name__} (the truth) or PredictiveParams",
                type(params).__name__,
                f"Pass the truth as the {inner.name} family's params.",
                error=TypeError,
            )
        inner.validate_params(fn, f"{name}.fit", params.fit)
        w = np.asarray(params.weight)
        if w.shape != () or not (np.isfinite(w) and w >= 0):
            fail(
                fn,
                f"{name}.weight",
                "a finite number >= 0",
                params.weight,
                "Pass weight 0 for the family's own model.",
            )

    def status(params):
        code = inner.status(params.fit)
        bad = ~jnp.isfinite(params.weight)
        return jnp.where(bad & (code == 0), Status.NONFINITE_PARAMS, code).astype(
            jnp.int32
        )

    def fit_population(params):
        return PredictiveParams(
            parts["moment_match"](params), jnp.zeros_like(params.weight)
        )

    def fit_population_from(source_family, source_params):
        assert inner.fit_population_from is not None  # Gaussian and Poisson have one
        fit0 = inner.fit_population_from(source_family, source_params)
        return PredictiveParams(fit0, jnp.zeros((), _float_leaf(fit0).dtype))

    inner_check = inner.check_run
    check_run = None
    if inner_check is not None:

        def check_run_fit(fn, name, params, *rest):
            inner_check(fn, name, params.fit, *rest)

        check_run = check_run_fit

    return inner._replace(
        name=f"{inner.name}[posterior_predictive]",
        params_type=PredictiveParams,
        sample=scoped(parts["sample"], 1),
        fit=fit,
        log_prob=scoped(parts["log_prob"], 0),
        refit=scoped(parts.get("refit") or _default_refit(parts["sample"], fit), 2),
        sample_fit=None
        if parts.get("sample_fit") is None
        else scoped(parts["sample_fit"], 1),
        fit_population=None
        if inner.fit_population is None
        else scoped(fit_population, 0),
        metrics=scoped(parts["metrics"], 0),
        metric_names=parts["metric_names"],
        status=status,
        cast_params=cast_params,
        validate_params=validate_params,
        start_from=None,
        fit_population_from=fit_population_from,
        view=None,
        view_kind=None,
        approx=None,
        exact_family=None,
        fit_population_mixture=None,
        location=None,
        check_run=check_run,
        location_scale=None,
        probability_vector=None,
        population_tolerance=(
            "the predictive's data weight W has no population value (the "
            "population fit is the family's own model, weight 0)"
        ),
        pooled=None,
        absorbing=None,
        conjugate=None,
    )


def _default_refit(sample, fit):
    def refit(sample_key, fit_key, params, weights):
        data = sample(sample_key, params, weights.shape[0])
        return fit(fit_key, data, weights.astype(params.weight.dtype), params)

    return refit


# -------------------------------------------------------------------- Gaussian ---


def _normal(inner, model, prior):
    ddof = model.ddof

    def parts(params):
        """``(is the fit itself, loc, log scale, df)`` of the model."""
        fit, w = params.fit, params.weight
        own = w == 0
        # Weight 0 is the fit itself; elsewhere the posterior needs W > ddof.
        safe = PredictiveParams(fit, jnp.where(own, 2 + ddof, w).astype(w.dtype))
        pred, log_scale = model.predictive(prior, safe.fit, safe.weight)
        loc = jnp.where(own, fit.mean[0], pred.loc)
        log_s = jnp.where(own, fit.chol_log_diag[0], log_scale)
        return own, loc, log_s, pred.df

    def standard(key, params, n):
        """Standardised draws ``(n, 1)``: normal for the fit itself, else t."""
        own, _, _, df = parts(params)
        dtype = params.weight.dtype
        zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
        t = dist.StudentT(df, zero, one).sample(key, (n, 1))
        z = dist.Normal(zero, one).sample(key, (n, 1))
        return jnp.where(own, z, t).astype(dtype)

    def sample(key, params, n):
        _, loc, log_s, _ = parts(params)
        return loc + jnp.exp(log_s) * standard(key, params, n)

    def log_prob(params, data):
        own, loc, log_s, df = parts(params)
        x = data[:, 0]
        t = dist.StudentT(df, loc, jnp.exp(log_s)).log_prob(x)
        normal = inner.log_prob(params.fit, data)
        return jnp.where(own, normal, t).astype(data.dtype)

    def refit(sample_key, fit_key, params, weights):
        # Fit standardised draws and push them through (loc, scale), as the
        # Gaussian's own refit: a collapsed scale never meets x - mean(x).
        del fit_key
        _, loc, log_s, _ = parts(params)
        dtype = params.weight.dtype
        u = jax.lax.optimization_barrier(standard(sample_key, params, weights.shape[0]))
        w = weights.astype(dtype)
        m_u, a_log_diag, a_unit = _weighted_moments(u, w, ddof)
        base = GaussianParams(loc[None], log_s[None], jnp.ones((1, 1), dtype))
        return PredictiveParams(_compose(base, m_u, a_log_diag, a_unit), tree_sum(w))

    def log_var(params):
        own, _, log_s, df = parts(params)
        exists = df > 2
        safe_df = jnp.where(exists, df, 3)
        pred = 2 * log_s + jnp.log(safe_df) - jnp.log(safe_df - 2)
        return jnp.where(own, 2 * log_s, jnp.where(exists, pred, jnp.inf))

    def moment_match(params):
        _, loc, _, _ = parts(params)
        lv = log_var(params)
        return params.fit._replace(mean=loc[None], chol_log_diag=(0.5 * lv)[None])

    def metrics(params, truth):
        own, loc, log_s, df = parts(params)
        lv = log_var(params)
        # The predictive's mass outside the truth's central 99 % interval, in
        # the truth's standardised units first (as the Gaussian's tail_mass).
        t_log_sd = truth.fit.chol_log_diag[0]
        q = _ratio(truth.fit.mean[0] - loc, t_log_sd)
        z_lo = _ratio(q - _TAIL_Z, log_s - t_log_sd)
        z_hi = _ratio(q + _TAIL_Z, log_s - t_log_sd)
        t_tail = _student_t_cdf(df, z_lo) + _student_t_cdf(df, -z_hi)
        dtype = params.weight.dtype
        tail = jnp.where(own, ndtr(z_lo) + ndtr(-z_hi), t_tail).astype(dtype)
        return {
            "mean": loc[None],
            "log_var": lv[None],
            "log_det_cov": lv,
            "tail_mass": tail[None],
            "log_scale": log_s[None],
            "weight": params.weight,
        }

    return {
        "sample": sample,
        "log_prob": log_prob,
        "refit": refit,
        "metrics": metrics,
        "metric_names": (
            "mean",
            "log_var",
            "log_det_cov",
            "tail_mass",
            "log_scale",
            "weight",
        ),
        "moment_match": moment_match,
    }


# --------------------------------------------------------------------- Poisson ---


def _poisson(inner, model, prior):
    def predictive(params):
        own = params.weight == 0
        return own, model.predictive(prior, params.fit, params.weight)

    def sample(key, params, n):
        own, pred = predictive(params)
        draws = model.predictive_draws(key, pred, (n,))
        return jnp.where(own, inner.sample(key, params.fit, n), draws)

    def log_prob(params, data):
        own, pred = predictive(params)
        dtype = params.weight.dtype
        gp = pred.log_prob(data).astype(dtype)
        return jnp.where(own, inner.log_prob(params.fit, data), gp)

    def sample_fit(key, params, sample_size):
        # The sum of M independent GammaPoisson(a, b) draws is GammaPoisson(M a,
        # b) (negative binomials with one success probability add their shapes):
        # a Gamma(M a, b) total rate, then the family's exact Poisson total.
        own, pred = predictive(params)
        dtype = params.weight.dtype
        m = jnp.asarray(sample_size, dtype)
        k_rate, k_count = jax.random.split(key)
        total = dist.Gamma(m * pred.concentration, pred.rate).sample(k_rate)
        rate = jnp.where(own, params.fit.rate, total / m).astype(dtype)
        stat = inner.sample_fit(k_count, params.fit._replace(rate=rate), sample_size)
        return PredictiveParams(stat, m)

    def mean_var(params):
        own, pred = predictive(params)
        mean = jnp.where(own, params.fit.rate, pred.mean)
        var = jnp.where(own, params.fit.rate, pred.variance)
        return mean.astype(params.weight.dtype), var.astype(params.weight.dtype)

    def moment_match(params):
        return params.fit._replace(rate=mean_var(params)[0])

    def metrics(params, truth):
        del truth
        mean, var = mean_var(params)
        absorbed = mean == 0
        return {
            "rate": mean,
            "log_rate": jnp.where(absorbed, -jnp.inf, jnp.log(mean)).astype(mean.dtype),
            "log_var": jnp.where(absorbed, -jnp.inf, jnp.log(var)).astype(mean.dtype),
            "count": params.fit.count,
            "absorbed": absorbed,
            "weight": params.weight,
        }

    return {
        "sample": sample,
        "log_prob": log_prob,
        "sample_fit": sample_fit,
        "metrics": metrics,
        "metric_names": ("rate", "log_rate", "log_var", "count", "absorbed", "weight"),
        "moment_match": moment_match,
    }
