"""Exact Bayesian learners as a switch: :func:`bayesian`.

A *learner* is how a generation's data become the next generation's model:

* ``"plugin"``: the family's own fit (maximum likelihood or its unbiased variant):
  the family itself, bit for bit.
* ``"posterior_sample"``: one draw of the parameters from the posterior given the
  data (with the fit key); the next data are drawn from that parameter.
* ``"map"``: the posterior mode (of the density in the family's natural
  parameters: ``(mu, sigma^2)``, probabilities, rate; a boundary mode where a
  Dirichlet or Gamma concentration plus count is below 1).
* ``"posterior_predictive"``: the next model is the posterior predictive, every
  point an independent draw from it (Student-t for the Gaussian, Categorical of
  the posterior mean, GammaPoisson for the Poisson).

The learners exist for families with the conjugate capability
(``ModelFamily.conjugate``: ``cj.gaussian()`` in 1-D, ``cj.categorical(K)``,
``cj.poisson()``); the posteriors are numpyro distributions
(:mod:`collapse_jax.bayes.conjugate`). Any other model is fitted by NUTS or SVI
with ``cj.numpyro_family``.

Each learner reads the data only through the family's plug-in fit, which carries
the posterior's sufficient statistic exactly; so the family's stable refit (the
Gaussian's standardised draws), its exact sufficient draw (``sampler=
"sufficient"``) and its population limit carry over: with infinitely many points
the posterior concentrates at the plug-in fit, so ``sample_size=None`` runs the
plug-in's population chain. The weighted fits use frequency weights (a weight-0
point is absent; the posterior's data weight is the sum of the weights).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from collapse_jax._reduce import tree_sum
from collapse_jax.bayes.priors import (
    DirichletPrior,
    Jeffreys,
    NormalInverseGamma,
    Prior,
)
from collapse_jax.checks import check_choice, described, fail
from collapse_jax.families.base import (
    Location,
    ModelFamily,
    _float_leaf,
    check_is_family,
    register_learners,
    require,
)

__all__ = ["LEARNERS", "bayesian"]

#: The learners of :func:`bayesian` (``"plugin"`` is the family's own fit).
LEARNERS = ("plugin", "posterior_sample", "posterior_predictive", "map")

_SUPPORTED = (
    "Bayesian learners exist for cj.gaussian() (1-D), cj.categorical(K) and "
    "cj.poisson(); fit any other model by NUTS or SVI with "
    "cj.numpyro_family(model, ...)"
)
_PRIORS = {
    "normal": "cj.jeffreys() or cj.normal_inverse_gamma(mean, precision, "
    "concentration, rate)",
    "categorical": "cj.jeffreys() or cj.dirichlet_prior(concentration)",
    "poisson": "cj.jeffreys() or cj.gamma_prior(concentration, rate)",
}
_CACHE: dict[Any, ModelFamily] = {}


def bayesian(
    family: ModelFamily,
    learner: str = "posterior_sample",
    prior: Prior | None = None,
    inference: Any = None,
    *,
    fn: str = "bayesian",
) -> ModelFamily:
    """``family`` refitted by a Bayesian learner with an exact conjugate posterior.

    Args:
      family: a family with the conjugate capability: ``cj.gaussian()`` (1-D),
        ``cj.categorical(K)`` (without ``max_support``) or ``cj.poisson()``.
      learner: one of :data:`LEARNERS`; ``"plugin"`` returns ``family`` itself.
      prior: None (the family's Jeffreys prior, :func:`collapse_jax.jeffreys`), or
        the family's conjugate prior (``cj.normal_inverse_gamma``,
        ``cj.dirichlet_prior``, ``cj.gamma_prior``).
      inference: None (exact conjugate inference), or ``cj.nuts(...)`` /
        ``cj.svi(...)``: the same posterior fitted by NUTS or SVI inside the
        chain (:mod:`collapse_jax.bayes.inferred`; ``"posterior_sample"``,
        ``"map"`` with ``cj.svi(guide="delta")``, the categorical's
        ``"posterior_predictive"`` with NUTS).
      fn: the entry point named in error messages (the factories pass theirs).

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily`: equal arguments
      give the same object. For ``"posterior_sample"`` and ``"map"`` (and the
      categorical's ``"posterior_predictive"``, whose predictive is a
      categorical), the params type, sampler and metrics are the family's own;
      the Gaussian's and Poisson's ``"posterior_predictive"`` carry
      :class:`~collapse_jax.bayes.predictive.PredictiveParams` (the plug-in fit
      and its data weight; weight 0 is the family's own model, e.g. the truth),
      and a truth of the family's own params is accepted as is.

    Raises:
      ValueError: for an unknown learner, a family without a conjugate prior, a
        prior of the wrong kind or length, a Gaussian of ``dim > 1``; with
        ``inference``: NUTS with ``"map"``, an SVI guide that does not match the
        model or is not ``"delta"`` for ``"map"``, a predictive learner the
        inference cannot give, ``start="fixed"``, ``learner="plugin"``.
      TypeError: for a family, a prior or an inference of the wrong type.

    Examples:
      >>> import collapse_jax as cj
      >>> fam = cj.bayesian(cj.poisson(), "map", cj.gamma_prior(2.0, 1.0))
      >>> fam is cj.poisson(learner="map", prior=cj.gamma_prior(2.0, 1.0))
      True
    """
    check_is_family(fn, family)
    learner = check_choice(fn, "learner", learner, LEARNERS)
    if prior is not None and not isinstance(prior, Prior):
        fail(
            fn,
            "prior",
            "None or a prior such as cj.jeffreys()",
            type(prior).__name__,
            "Build one with cj.jeffreys(), cj.normal_inverse_gamma(...), "
            "cj.dirichlet_prior(...) or cj.gamma_prior(...).",
            error=TypeError,
        )
    if learner == "plugin":
        if inference is not None:
            fail(
                fn,
                "inference",
                "None with learner='plugin' (the plug-in fit is exact)",
                described(type(inference).__name__),
                "Pass a Bayesian learner, e.g. learner='posterior_sample', or "
                "drop inference=.",
            )
        if prior is not None:
            fail(
                fn,
                "prior",
                "None with learner='plugin' (the plug-in fit has no prior)",
                described(prior.kind),
                "Pass a Bayesian learner, e.g. learner='posterior_sample', or "
                "drop the prior.",
            )
        return family
    require(fn, "learner", family, "conjugate", _SUPPORTED + ".", what=repr(learner))
    conj = family.conjugate
    assert conj is not None  # require() checked it
    if family.exact_family is not None:
        fail(
            fn,
            "family",
            "a family with an exact fit (its plug-in fit is the posterior's "
            "sufficient statistic)",
            described(
                f"{family.name}, an approximate fit of {family.exact_family.name}"
            ),
            "Wrap the exact family: cj.bayesian(cj.gaussian(), ...).",
        )
    if conj.likelihood == "normal" and family.event_shape != (1,):
        d = family.event_shape[0]
        fail(
            fn,
            "learner",
            f"'plugin' for a {d}-dimensional Gaussian (the Bayesian learners are "
            "for dim=1: the normal-inverse-Wishart posterior is not implemented)",
            learner,
            "Use cj.gaussian(dim=1, learner=...), or fit a d-dimensional model by "
            "NUTS or SVI with cj.numpyro_family(model, ...).",
        )
    from collapse_jax.bayes import conjugate  # numpyro loads on first use

    model = conjugate.model_for(conj, family)
    prior = _check_prior(fn, family, conj, model, prior)
    key = (family, learner, prior, inference)
    cached = _CACHE.get(key)
    if cached is None:
        if inference is None:
            cached = _make(family, model, learner, prior)
        else:  # approximate inference of the same posterior (bayes/inferred.py)
            from collapse_jax.bayes.inferred import inferred

            cached = inferred(fn, family, conj.likelihood, learner, prior, inference)
        _CACHE[key] = cached
    return cached


def _check_prior(fn, family, conj, model, prior) -> Prior:
    if prior is None:
        return Jeffreys()
    if not isinstance(prior, model.priors):
        fail(
            fn,
            "prior",
            f"{_PRIORS[conj.likelihood]} for the {family.name} family",
            described(prior.kind),
            "Pass a conjugate prior of this family, or None for its Jeffreys prior.",
        )
    if isinstance(prior, DirichletPrior) and isinstance(prior.concentration, tuple):
        k = family.num_categories
        if len(prior.concentration) != k:
            fail(
                fn,
                "prior",
                f"a Dirichlet prior over the family's {k} categories",
                described(f"{len(prior.concentration)} concentrations"),
                f"Pass cj.dirichlet_prior with {k} numbers, or one number for a "
                "symmetric prior.",
            )
    return prior


def _make(inner: ModelFamily, model, learner: str, prior: Prior) -> ModelFamily:
    from collapse_jax.bayes import conjugate

    if learner == "posterior_predictive" and not model.predictive_in_family:
        from collapse_jax.bayes.predictive import predictive_family

        return predictive_family(inner, model, prior)
    if learner == "posterior_sample":
        learn = model.draw
    else:  # deterministic: the mode, or the predictive's (posterior mean) model
        point = model.mode if learner == "map" else model.mean

        def learn(key, prior, stat, weight):
            del key
            return point(prior, stat, weight)

    def fit(key, data, weights, prev):
        stat = inner.fit(key, data, weights, prev)  # closed form: key unused
        w = tree_sum(weights.astype(_float_leaf(stat).dtype))
        return learn(key, prior, stat, w)

    def refit(sample_key, fit_key, params, weights):
        # The family's stable refit (standardised draws) gives the statistic.
        stat = inner.refit(sample_key, fit_key, params, weights)
        w = tree_sum(weights.astype(_float_leaf(stat).dtype))
        return learn(fit_key, prior, stat, w)

    def sample_fit(key, params, sample_size):
        # The exact sufficient draw is the posterior's statistic; the posterior's
        # own randomness comes from a key derived from the sample key (a derived
        # counter key never meets the words the sufficient draw reads).
        assert inner.sample_fit is not None  # only installed when the family has one
        stat = inner.sample_fit(key, params, sample_size)
        w = jax.numpy.asarray(sample_size, _float_leaf(stat).dtype)
        return learn(jax.random.fold_in(key, 1), prior, stat, w)

    absorbing = None
    if learner == "map" and model.map_absorbs(prior):
        absorbing = inner.absorbing
    return inner._replace(
        name=f"{inner.name}[{learner}]",
        fit=conjugate.scoped(fit, 3, 2),  # the dtype of prev, else of the weights
        refit=conjugate.scoped(refit, 2),
        sample_fit=None
        if inner.sample_fit is None
        else conjugate.scoped(sample_fit, 1),
        pooled=None,  # the learner is not the plug-in fit of the pooled statistic
        approx=None,
        absorbing=absorbing,
        conjugate=None,  # already a Bayesian learner
        location=_location(inner, learner, prior),
    )


def _location(inner: ModelFamily, learner: str, prior: Prior) -> Location | None:
    """The inner family's frame, with the learner kept under ``rebase``.

    A Jeffreys posterior is translation-equivariant; a normal-inverse-gamma
    prior's mean moves with the frame (``rebase`` gives the learner with the prior
    mean moved by ``-offset``), and a family with absolute settings of its own (a
    categorical's numeric support) is rebased and wrapped again.
    """
    loc = inner.location
    if loc is None:
        return None
    moves_prior = isinstance(prior, NormalInverseGamma)
    inner_rebase = loc.rebase
    if inner_rebase is None and not moves_prior:
        return loc

    def rebase(offset):
        fam = inner if inner_rebase is None else inner_rebase(offset)
        moved = prior
        if isinstance(prior, NormalInverseGamma):
            moved = dataclasses.replace(prior, mean=prior.mean - float(offset[0]))
        return bayesian(fam, learner, moved)

    return loc._replace(rebase=rebase)


register_learners(bayesian)
