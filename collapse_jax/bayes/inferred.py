"""Conjugate learners fitted by approximate inference (``cj.bayesian(...,
inference=cj.nuts(...) | cj.svi(...))``).

The exact learners of :func:`collapse_jax.bayesian` read a generation's data
through the closed-form posterior; here the same posterior is written as a
numpyro model of one data set and fitted by the engine of
:mod:`collapse_jax.bayes.inference` (:func:`~collapse_jax.bayes.inference.run_nuts`,
:func:`~collapse_jax.bayes.inference.run_svi`), so the only difference from the
exact learner of the same family and prior is the inference error. The family's
params type, sampler and metrics stay the family's own (the chain's state is the
drawn or fitted parameter), so results compare directly with the exact learner.

The models (one data set, the runner's frequency weights scale the observed
site's per-point log-likelihood):

* Gaussian (1-D): latents ``mu`` and ``var`` (the natural parameters, so a
  point guide's mode is the mode in ``(mu, sigma^2)`` as the exact MAP's).
  Jeffreys: ``mu`` flat (``ImproperUniform``), ``var`` flat on ``(0, inf)`` with
  a ``numpyro.factor`` ``-log var`` (``p ∝ 1 / sigma^2``); normal-inverse-gamma:
  ``var ~ InverseGamma(a0, b0)``, ``mu | var ~ Normal(m0, sqrt(var / k0))``.
* categorical: ``probs ~ Dirichlet(alpha)`` on the simplex (NUTS and
  ``AutoNormal`` work in numpyro's unconstrained stick-breaking space).
* Poisson: Jeffreys ``rate`` flat on ``(0, inf)`` with a factor ``-log(rate) /
  2``; a Gamma prior ``rate ~ Gamma(a, b)``.

Learners:

* ``"posterior_sample"``: NUTS's last kept draw (as ``cj.numpyro_family``), or one
  draw from the fitted SVI guide.
* ``"map"``: SVI with ``guide="delta"`` (``AutoDelta``: the maximiser of
  ``log p(x, z)`` in the natural parameters; a boundary mode, a Dirichlet or
  Gamma concentration plus count below 1, is approached, never reached). NUTS
  has no mode and is refused.
* ``"posterior_predictive"``: the categorical's predictive is Categorical of the
  posterior mean, approximated by the mean of NUTS's kept draws. The Gaussian's
  and Poisson's predictives (Student-t, GammaPoisson) are not of the family's
  params type, and SVI keeps no draws to average: both are refused and pointed
  at ``cj.numpyro_family(learner="posterior_predictive")``.

Warm start. NUTS starts each generation at the previous generation's parameter
(its latents; a categorical probability or Poisson rate of 0 starts at the
dtype's eps instead, the unconstrained map of 0 being -inf) and adapts
its step size and mass matrix afresh. SVI's guide state is NOT carried by the
family's params (they are the family's own): ``start="warm"`` initialises the
autoguide's location at the previous parameter (``AutoNormal``: its unconstrained
value; ``AutoDelta``: the value), with ``AutoNormal``'s scales at their initial
0.1 and the optimiser's state fresh, every generation. A user guide
(``cj.svi(guide=g)``) has parameters the family cannot derive from a parameter:
it starts from its own initial parameters every generation. ``start="fixed"`` is
refused: the family has no fixed starting parameter (the truth is passed to the
runner, not to the family).

As for the exact learners, ``sample_size=None`` runs the plug-in's population
chain (the posterior concentrates at the plug-in fit); the family has no exact
sufficient draw (``sample_fit``): the inference reads the data.
"""

from __future__ import annotations

import functools

import numpy as np

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

from collapse_jax.bayes import conjugate
from collapse_jax.bayes import inference as inf
from collapse_jax.bayes.priors import (
    GammaPrior,
    NormalInverseGamma,
    Prior,
)
from collapse_jax.checks import described, fail
from collapse_jax.families.base import ModelFamily, _default_refit, _float_leaf

__all__ = ["inferred", "numpyro_model"]

_PREDICTIVE_FIX = (
    "Fit the predictive learner of a Gaussian or Poisson by "
    "cj.numpyro_family(model, truth=..., inference=..., "
    "learner='posterior_predictive'), or use the exact learner (inference=None)."
)
# The latents' canonical values at build time (the autoguides' prototype is set
# up on them; every generation's start replaces them).
_BUILD_N = 4


def numpyro_model(likelihood: str, prior: Prior, num_categories: int | None = None):
    """The numpyro model of one data set for a conjugate family and prior.

    Args:
      likelihood: ``"normal"`` (data ``(n, 1)``), ``"categorical"`` (data ``(n,)``
        category indices) or ``"poisson"`` (data ``(n,)`` counts).
      prior: the family's Jeffreys prior or its conjugate prior.
      num_categories: ``K`` for the categorical.

    Returns:
      ``model(data=None, n=...)`` in the contract of
      :mod:`collapse_jax.bayes.inference` (one observed site ``"x"``).
    """
    return _model(likelihood, prior, num_categories)


@functools.cache
def _model(likelihood, prior, k):
    if likelihood == "normal":
        if isinstance(prior, NormalInverseGamma):
            m0, k0 = prior.mean, prior.precision
            a0, b0 = prior.concentration, prior.rate

            def normal(data=None, n=1):
                var = numpyro.sample("var", dist.InverseGamma(a0, b0))
                mu = numpyro.sample("mu", dist.Normal(m0, jnp.sqrt(var / k0)))
                _normal_obs(mu, var, data, n)

        else:  # Jeffreys: p(mu, var) ∝ 1 / var

            def normal(data=None, n=1):
                mu = numpyro.sample(
                    "mu", dist.ImproperUniform(constraints.real, (), ())
                )
                var = numpyro.sample(
                    "var", dist.ImproperUniform(constraints.positive, (), ())
                )
                numpyro.factor("jeffreys", -jnp.log(var))
                _normal_obs(mu, var, data, n)

        return normal
    if likelihood == "categorical":
        alpha = conjugate.DirichletModel(k).alpha(prior)

        def categorical(data=None, n=1):
            probs = numpyro.sample(
                "probs", dist.Dirichlet(jnp.asarray(alpha, jnp.result_type(float)))
            )
            likelihood = dist.Categorical(probs)
            numpyro.sample("x", likelihood.expand([n]), obs=data)  # type: ignore[union-attr]

        return categorical
    if isinstance(prior, GammaPrior):
        a, b = prior.concentration, prior.rate

        def poisson(data=None, n=1):
            rate = numpyro.sample("rate", dist.Gamma(a, b))
            numpyro.sample("x", dist.Poisson(rate).expand([n]), obs=data)

    else:  # Jeffreys: p(rate) ∝ rate^(-1/2)

        def poisson(data=None, n=1):
            rate = numpyro.sample(
                "rate", dist.ImproperUniform(constraints.positive, (), ())
            )
            numpyro.factor("jeffreys", -0.5 * jnp.log(rate))
            numpyro.sample("x", dist.Poisson(rate).expand([n]), obs=data)

    return poisson


def _normal_obs(mu, var, data, n):
    # One 1-D point per row: batch shape (n,), event shape (1,).
    sd = jnp.sqrt(var)
    numpyro.sample("x", dist.Normal(mu, sd).expand([n, 1]).to_event(1), obs=data)


# ----------------------------------------------------- latents <-> family params ---


def _latents(likelihood, params) -> dict:
    """The model's latents of a family parameter (the inference's start)."""
    if likelihood == "normal":
        mu = params.mean[0]
        return {"mu": mu, "var": jnp.exp(2 * params.chol_log_diag[0])}
    # A lost category or a rate of 0 is -inf in unconstrained coordinates; the
    # start is floored at the dtype's eps (about -16 there for float32): from the
    # smallest normal number (-87) a short warm-up does not get back (measured:
    # E p_1 of a lost category 0.031 against the exact 0.053, nuts(50, 10), M = 8).
    eps = jnp.finfo(_float_leaf(params).dtype).eps
    if likelihood == "categorical":
        p = jnp.maximum(params.probs, eps)
        return {"probs": p / jnp.sum(p)}
    return {"rate": jnp.maximum(params.rate, eps)}


def _params(likelihood, latents, fit):
    """The family's params with the parameter ``latents``; the other fields (the
    categorical's counts, the Poisson's count: statuses) are the plug-in fit's."""
    if likelihood == "normal":
        return conjugate._gaussian(latents["mu"], 0.5 * jnp.log(latents["var"]), fit)
    if likelihood == "categorical":
        return fit._replace(probs=latents["probs"].astype(fit.probs.dtype))
    return fit._replace(rate=latents["rate"].astype(fit.rate.dtype))


def _canonical(likelihood, k) -> dict:
    if likelihood == "normal":
        return {"mu": np.float32(0.0), "var": np.float32(1.0)}
    if likelihood == "categorical":
        return {"probs": np.full((k,), 1.0 / k, np.float32)}
    return {"rate": np.float32(1.0)}


# ------------------------------------------------------------------------ checks ---


def _check(fn, spec, learner, likelihood):
    if not isinstance(spec, inf.NUTS | inf.SVI):
        fail(
            fn,
            "inference",
            "None (exact), cj.nuts(...) or cj.svi(...)",
            type(spec).__name__,
            "Pass e.g. inference=cj.nuts(100, 100) or cj.svi(500), or None for "
            "the exact posterior.",
            error=TypeError,
        )
    if learner == "map":
        if isinstance(spec, inf.NUTS):
            fail(
                fn,
                "inference",
                "cj.svi(..., guide='delta') for learner='map'",
                described("cj.nuts(...), which has no mode"),
                "Pass inference=cj.svi(num_steps, guide='delta'), or "
                "learner='posterior_sample' with NUTS.",
            )
        if spec.guide != "delta":
            fail(
                fn,
                "inference",
                "cj.svi(..., guide='delta') for learner='map'",
                described(
                    "a user guide"
                    if callable(spec.guide)
                    else f"cj.svi(..., guide={spec.guide!r})"
                ),
                "Pass inference=cj.svi(num_steps, guide='delta'): its point is "
                "the posterior mode.",
            )
    if learner == "posterior_predictive" and (
        likelihood != "categorical" or isinstance(spec, inf.SVI)
    ):
        what = "cj.svi" if likelihood == "categorical" else f"a {likelihood} model"
        fail(
            fn,
            "learner",
            "'posterior_sample' or 'map' with approximate inference ("
            "'posterior_predictive' only for the categorical with cj.nuts: the "
            "mean of its kept draws; the Student-t and GammaPoisson predictives "
            "are not of the family's params, and SVI keeps no draws)",
            described(f"'posterior_predictive' with {what}"),
            _PREDICTIVE_FIX,
        )
    if isinstance(spec, inf.SVI) and spec.start == "fixed":
        fail(
            fn,
            "inference",
            "cj.svi(..., start='warm') for a conjugate family",
            described("start='fixed'"),
            "Pass start='warm' (each generation's guide starts at the previous "
            "parameter): the family has no fixed starting parameter.",
        )


def _check_guide(fn, guide, sites):
    """A user guide's sample sites must be the model's latents, of their shapes."""
    with inf.standard_promotion():
        tr = numpyro.handlers.trace(
            numpyro.handlers.seed(guide, jax.random.key(0))
        ).get_trace(data=None, n=_BUILD_N)
    names = sorted(k for k, s in tr.items() if s["type"] == "sample")
    shapes = {k: tuple(np.shape(tr[k]["value"])) for k in names}
    want = {k: sites.shapes[k] for k in sites.latent}
    if names != sorted(sites.latent) or any(shapes[k] != want[k] for k in names):
        fail(
            fn,
            "inference",
            f"cj.svi(guide=g) with g's sample sites the model's latents {want}",
            described(f"a guide with sample sites {shapes}"),
            "Give the guide one numpyro.sample site per latent, same names and "
            "shapes, or pass guide='normal' or 'delta'.",
        )


# ----------------------------------------------------------------------- family ---


def inferred(
    fn: str, inner: ModelFamily, likelihood: str, learner: str, prior: Prior, spec
) -> ModelFamily:
    """``inner`` refitted by ``learner`` under ``prior`` with ``spec``'s inference.

    Called by :func:`collapse_jax.bayesian` (which checks the family and prior and
    caches the result). ``fn`` words the errors.
    """
    _check(fn, spec, learner, likelihood)
    k = inner.num_categories
    model = _model(likelihood, prior, k)
    sites = inf.inspect_model(fn, model)
    if isinstance(spec, inf.SVI):
        fit_latents = _svi_fit(fn, spec, model, sites, likelihood, learner, k)
    else:
        fit_latents = _nuts_fit(spec, model, sites, learner)

    def fit(key, data, weights, prev):
        stat = inner.fit(key, data, weights, prev)  # closed form: key unused
        dtype = _float_leaf(prev).dtype
        lat = fit_latents(key, data, weights.astype(dtype), _latents(likelihood, prev))
        return _params(likelihood, lat, stat)

    scoped_fit = conjugate.scoped(fit, 3, 2)
    return inner._replace(
        name=f"{inner.name}[{learner}, {spec.kind}]",
        fit=scoped_fit,
        refit=_default_refit(inner.sample, scoped_fit),
        sample_fit=None,  # the inference reads the data, not a statistic
        pooled=None,
        approx=None,
        absorbing=None,  # an inferred draw or mode never sits at a boundary
        conjugate=None,
        location=None,  # a rebased prior would need a new model: no frame moves
    )


def _nuts_fit(spec, model, sites, learner):
    def fit_latents(key, data, weights, start):
        start = {s: start[s] for s in sites.latent}
        res = inf.run_nuts(spec, model, sites, data, weights, key, start)
        if learner == "posterior_predictive":  # the categorical's posterior mean
            return {s: jnp.mean(v, axis=0) for s, v in res.draws.items()}
        return {s: v[-1] for s, v in res.draws.items()}  # the last kept draw

    return fit_latents


def _svi_fit(fn, spec, model, sites, likelihood, learner, k):
    canonical = _canonical(likelihood, k)
    user = callable(spec.guide)
    if user:
        _check_guide(fn, spec.guide, sites)
    guide = inf.make_guide(spec, model, canonical, None)
    with inf.standard_promotion():
        data0 = numpyro.handlers.trace(
            numpyro.handlers.seed(
                numpyro.handlers.substitute(model, data=canonical), jax.random.key(0)
            )
        ).get_trace(data=None, n=_BUILD_N)[sites.observed]["value"]
    guide0 = inf.initial_guide_params(spec, model, guide, sites, np.asarray(data0))
    delta = spec.guide == "delta"

    def start_params(start, dtype):
        params = {p: jnp.asarray(v, dtype) for p, v in guide0.items()}
        if user:
            return params
        for s in sites.latent:
            value = start[s].astype(dtype)
            if not delta:  # AutoNormal's location is unconstrained
                with inf.standard_promotion():
                    value = biject_to(sites.supports[s]).inv(value).astype(dtype)
            params[f"{s}_auto_loc"] = value
        return params

    def fit_latents(key, data, weights, start):
        dtype = weights.dtype
        infer_key, draw_key = jax.random.split(key)
        res = inf.run_svi(
            spec,
            model,
            guide,
            sites,
            data,
            weights,
            infer_key,
            start_params(start, dtype),
        )
        return inf.guide_draw(guide, sites, res.params, draw_key, data, data.shape[0])

    del learner  # posterior_sample: a guide draw; map: AutoDelta's point
    return fit_latents
