"""Conjugate posteriors and predictives, built from numpyro distributions.

Each conjugate model maps a *fit* (the family's plug-in params of a generation's
data) and the data's total frequency weight ``W`` to the posterior under a prior,
and from it to the learners' outputs: a posterior draw, the posterior mode, the
posterior predictive. The plug-in fit carries the sufficient statistic of these
models exactly (Gaussian: the weighted mean and centred sum of squares ``S``;
categorical: the weighted counts ``W * probs``; Poisson: the weighted total ``W *
rate``), so a learner reads the data only through the family's own fit, and the
family's stable paths (the Gaussian's standardised refit, the exact sufficient
draws) carry over unchanged. Every function handles one chain (traced, vmapped
by the runner); the prior's numbers are static Python floats.

Draws and densities are numpyro's (``InverseGamma``, ``Normal``, ``StudentT``,
``Dirichlet``, ``Gamma``, ``GammaPoisson``): their ``sample`` and ``log_prob``.
Two places depart from a plain ``.sample`` call, for the house's numerics, with
the same law: the Gaussian's variance is drawn as ``rate * InverseGamma(a, 1)``
and kept in log space (a collapsed chain's ``S`` under- or overflows the dtype,
as the plug-in's log-Cholesky layout avoids: docs/precision.md), and the
predictive's Poisson counts come from the library's exact
:func:`collapse_jax.random.poisson` given numpyro's Gamma rates (numpyro's
``GammaPoisson.sample`` calls ``jax.random.poisson``, which refuses the run's
counter keys and is inexact for large means).

The posterior formulas (the standard conjugate updates):

* Gaussian (1-D), normal-inverse-gamma ``(m0, k0, a0, b0)`` (Jeffreys is the
  limit ``k0 = 0, a0 = -1/2, b0 = 0``): ``kn = k0 + W``, ``mn = xbar + k0 (m0 -
  xbar) / kn``, ``an = a0 + W / 2``, ``bn = b0 + S / 2 + k0 W (xbar - m0)^2 / (2
  kn)``; ``sigma^2 ~ InvGamma(an, bn)``, ``mu | sigma^2 ~ N(mn, sigma^2 / kn)``;
  the mode of the density in ``(mu, sigma^2)`` is ``(mn, bn / (an + 3/2))``; the
  predictive is ``StudentT(2 an, mn, sqrt(bn (kn + 1) / (an kn)))``.
* Categorical, Dirichlet ``alpha``: Dirichlet(``alpha + W probs``); mode
  ``(alpha + c - 1)_+`` normalised (a boundary mode where ``alpha_k + c_k < 1``);
  predictive Categorical(posterior mean).
* Poisson, Gamma ``(a, b)``: Gamma(``a + N, b + W``); mode ``(a + N - 1)_+ / (b +
  W)``; predictive GammaPoisson(``a + N, b + W``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from collapse_jax import random as cjr
from collapse_jax._gaussians import GaussianParams
from collapse_jax._reduce import tree_sum
from collapse_jax.bayes.priors import (
    DirichletPrior,
    GammaPrior,
    Jeffreys,
    NormalInverseGamma,
    Prior,
)

__all__ = ["NormalModel", "DirichletModel", "GammaModel", "model_for", "scoped"]


def scoped(fn, *where: int):
    """``fn`` run with x64 off when its params are not float64.

    numpyro's samplers and several densities draw or compute in the default float
    dtype (``jax.random.gamma(key, a)``, ``random.normal(key, shape)``), which is
    float64 whenever x64 is on: a float32 run would then mix dtypes (refused under
    strict promotion) and its bits would depend on the x64 setting. A float32 run
    traces its numpyro calls with x64 off, so they draw and compute in float32,
    bit for bit as in a process without x64 (tests/test_bayes_learners.py).
    ``where``: the positions of the arguments whose first float leaf gives the
    dtype (the first that is not None).
    """

    @functools.wraps(fn)
    def wrapped(*args):
        config: Any = jax.config  # its options are attributes made at runtime
        if not config.jax_enable_x64:
            return fn(*args)
        dtype = None
        for i in where:
            floats = [
                leaf
                for leaf in jax.tree.leaves(args[i])
                if jnp.issubdtype(jnp.result_type(leaf), jnp.floating)
            ]
            if floats:
                dtype = jnp.result_type(floats[0])
                break
        if dtype == jnp.float64:
            return fn(*args)
        with jax.enable_x64(False):
            return fn(*args)

    return wrapped


def _c(value, like):
    """A static number in the dtype of ``like``."""
    return jnp.asarray(value, jnp.result_type(like))


class NormalModel:
    """The 1-D Gaussian with a normal-inverse-gamma prior (Jeffreys the limit).

    ``ddof``: the family's estimator (``S = sigma_hat^2 (W - ddof)``).
    """

    priors = (Jeffreys, NormalInverseGamma)
    predictive_in_family = False

    def __init__(self, ddof: int):
        self.ddof = ddof

    @staticmethod
    def hyper(prior: Prior) -> tuple[float, float, float, float]:
        """``(m0, k0, a0, b0)`` of the prior (Jeffreys: ``(0, 0, -1/2, 0)``)."""
        if isinstance(prior, NormalInverseGamma):
            return prior.mean, prior.precision, prior.concentration, prior.rate
        return 0.0, 0.0, -0.5, 0.0

    @staticmethod
    def map_absorbs(prior) -> bool:
        """Whether the MAP learner keeps the family's absorbing states (none)."""
        del prior
        return False

    def posterior(self, prior, fit, weight):
        """``(mn, kn, an, log bn)`` of the posterior given a fit to weight ``W``."""
        m0, k0, a0, b0 = self.hyper(prior)
        xbar = fit.mean[0]
        s = fit.chol_log_diag[0]
        w = weight.astype(xbar.dtype)
        # log(S / 2), S = exp(2 s) (W - ddof): the scale stays in log space.
        log_half_s = 2 * s + jnp.log(w - self.ddof) - _c(math.log(2.0), w)
        if k0 == 0:  # static: Jeffreys' mean is the data's
            kn, mn, log_bn = w, xbar, log_half_s
        else:
            kn = _c(k0, w) + w
            mn = xbar + _c(k0, w) * (_c(m0, w) - xbar) / kn
            shrink = _c(k0, w) * w * (xbar - _c(m0, w)) ** 2 / (2 * kn)
            log_bn = jnp.logaddexp(log_half_s, jnp.log(shrink))
        if b0 > 0:
            log_bn = jnp.logaddexp(log_bn, _c(math.log(b0), w))
        an = _c(a0, w) + w / 2
        return mn, kn, an, log_bn

    def draw(self, key, prior, fit, weight):
        """One ``(mu, sigma^2)`` from the posterior, as GaussianParams."""
        mn, kn, an, log_bn = self.posterior(prior, fit, weight)
        k_var, k_mean = jax.random.split(key)
        one = jnp.ones_like(an)
        # sigma^2 ~ InvGamma(an, bn) = bn * InvGamma(an, 1), kept in log space.
        log_v = log_bn + jnp.log(dist.InverseGamma(an, one).sample(k_var))
        sd = jnp.exp(0.5 * (log_v - jnp.log(kn)))
        mu = dist.Normal(mn, sd).sample(k_mean)
        return _gaussian(mu, 0.5 * log_v, fit)

    def mode(self, prior, fit, weight):
        """The posterior mode ``(mn, bn / (an + 3/2))`` of the density in
        ``(mu, sigma^2)``, as GaussianParams."""
        mn, _, an, log_bn = self.posterior(prior, fit, weight)
        log_v = log_bn - jnp.log(an + _c(1.5, an))
        return _gaussian(mn, 0.5 * log_v, fit)

    def predictive(self, prior, fit, weight):
        """The posterior predictive ``StudentT(2 an, mn, scale)`` (numpyro), and
        ``log scale`` (the scale in log space, for collapsed chains)."""
        mn, kn, an, log_bn = self.posterior(prior, fit, weight)
        log_scale = 0.5 * (log_bn + jnp.log1p(kn) - jnp.log(an) - jnp.log(kn))
        return dist.StudentT(2 * an, mn, jnp.exp(log_scale)), log_scale


def _gaussian(mu, log_sd, like):
    dtype = like.mean.dtype
    return GaussianParams(
        jnp.reshape(mu, (1,)).astype(dtype),
        jnp.reshape(log_sd, (1,)).astype(dtype),
        jnp.ones((1, 1), dtype),
    )


class DirichletModel:
    """The categorical over ``K`` categories with a Dirichlet prior."""

    priors = (Jeffreys, DirichletPrior)
    predictive_in_family = True  # the predictive is Categorical(posterior mean)

    def __init__(self, num_categories: int):
        self.k = num_categories

    def alpha(self, prior) -> np.ndarray:
        """The prior's ``(K,)`` concentrations (Jeffreys: 1/2 each)."""
        if isinstance(prior, DirichletPrior):
            return np.broadcast_to(
                np.asarray(prior.concentration, np.float64), (self.k,)
            )
        return np.full((self.k,), 0.5)

    def map_absorbs(self, prior) -> bool:
        """A point mass stays one under the MAP iff every ``alpha_k <= 1``: the
        other categories' ``(alpha_k - 1)_+`` is then 0."""
        return bool(np.all(self.alpha(prior) <= 1))

    def posterior(self, prior, fit, weight):
        """The posterior Dirichlet (numpyro) given a fit to weight ``W``."""
        probs = fit.probs
        counts = probs * weight.astype(probs.dtype)
        return dist.Dirichlet(_c(self.alpha(prior), probs) + counts)

    def draw(self, key, prior, fit, weight):
        probs = self.posterior(prior, fit, weight).sample(key)
        return fit._replace(probs=probs.astype(fit.probs.dtype))

    def mode(self, prior, fit, weight):
        conc = self.posterior(prior, fit, weight).concentration
        top = jnp.maximum(conc - 1, 0)  # a boundary mode where alpha + c < 1
        return fit._replace(probs=top / tree_sum(top))

    def mean(self, prior, fit, weight):
        """The posterior mean: the predictive's probabilities."""
        post = self.posterior(prior, fit, weight)
        conc = post.concentration
        # numpyro's Dirichlet.mean, with a tree sum (batch-invariant bits).
        return fit._replace(probs=conc / tree_sum(conc))


class GammaModel:
    """The Poisson rate with a Gamma prior (Jeffreys: Gamma(1/2, 0))."""

    priors = (Jeffreys, GammaPrior)
    predictive_in_family = False

    @staticmethod
    def hyper(prior) -> tuple[float, float]:
        if isinstance(prior, GammaPrior):
            return prior.concentration, prior.rate
        return 0.5, 0.0

    def map_absorbs(self, prior) -> bool:
        """Rate 0 (``N = 0``) stays 0 under the MAP iff ``a <= 1``."""
        return self.hyper(prior)[0] <= 1

    def posterior(self, prior, fit, weight):
        """The posterior ``Gamma(a + N, b + W)`` (numpyro)."""
        a, b = self.hyper(prior)
        rate = fit.rate
        w = weight.astype(rate.dtype)
        return dist.Gamma(_c(a, rate) + rate * w, _c(b, rate) + w)

    def draw(self, key, prior, fit, weight):
        rate = self.posterior(prior, fit, weight).sample(key)
        return fit._replace(rate=rate.astype(fit.rate.dtype))

    def mode(self, prior, fit, weight):
        post = self.posterior(prior, fit, weight)
        top = jnp.maximum(post.concentration - 1, 0)
        return fit._replace(rate=(top / post.rate).astype(fit.rate.dtype))

    def predictive(self, prior, fit, weight):
        """The posterior predictive ``GammaPoisson(a + N, b + W)`` (numpyro)."""
        post = self.posterior(prior, fit, weight)
        return dist.GammaPoisson(post.concentration, post.rate)

    @staticmethod
    def predictive_draws(key, predictive, shape):
        """Independent draws of the predictive: a Gamma rate each (numpyro), then
        the library's exact Poisson (see the module docstring)."""
        k_rate, k_count = jax.random.split(key)
        rates = dist.Gamma(predictive.concentration, predictive.rate).sample(
            k_rate, shape
        )
        return cjr.poisson(k_count, rates, shape)


@functools.cache
def _normal(ddof: int) -> NormalModel:
    return NormalModel(ddof)


@functools.cache
def _dirichlet(k: int) -> DirichletModel:
    return DirichletModel(k)


@functools.cache
def _gamma() -> GammaModel:
    return GammaModel()


def model_for(conjugate: Any, family) -> Any:
    """The conjugate model a family declares (``ModelFamily.conjugate``)."""
    likelihood = conjugate.likelihood
    if likelihood == "normal":
        return _normal(conjugate.ddof)
    if likelihood == "categorical":
        return _dirichlet(family.num_categories)
    if likelihood == "poisson":
        return _gamma()
    raise ValueError(f"unknown conjugate likelihood {likelihood!r}")
