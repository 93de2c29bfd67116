"""Bayesian learners: priors, exact conjugate posteriors and predictives (numpyro).

``cj.bayesian(family, learner=..., prior=...)`` (or the factories' ``learner=`` and
``prior=`` keywords) refits a conjugate family by a posterior draw, the posterior
mode or the posterior predictive instead of its plug-in fit. numpyro loads on the
first use of a Bayesian learner, not on ``import collapse_jax``.

Approximate inference inside the chain lives in :mod:`collapse_jax.bayes.inference`
(``cj.svi``, ``cj.nuts``) and any numpyro model becomes a chain family with
:mod:`collapse_jax.bayes.numpyro_family` (``cj.numpyro_family``); ``collapse_jax``
imports both on first use. (The function ``numpyro_family`` stays off this package:
its module has the same name.)
"""

from collapse_jax.bayes.learners import LEARNERS, bayesian
from collapse_jax.bayes.priors import (
    DirichletPrior,
    GammaPrior,
    Jeffreys,
    NormalInverseGamma,
    Prior,
    dirichlet_prior,
    gamma_prior,
    jeffreys,
    normal_inverse_gamma,
)

__all__ = [
    "LEARNERS",
    "bayesian",
    "Prior",
    "Jeffreys",
    "NormalInverseGamma",
    "DirichletPrior",
    "GammaPrior",
    "jeffreys",
    "normal_inverse_gamma",
    "dirichlet_prior",
    "gamma_prior",
]
