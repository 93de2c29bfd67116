"""Bayesian learners: priors, exact conjugate posteriors and predictives (numpyro).

``cj.bayesian(family, learner=..., prior=...)`` (or the factories' ``learner=`` and
``prior=`` keywords) refits a conjugate family by a posterior draw, the posterior
mode or the posterior predictive instead of its plug-in fit. numpyro loads on the
first use of a Bayesian learner, not on ``import collapse_jax``.
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
