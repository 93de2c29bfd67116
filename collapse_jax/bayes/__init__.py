"""Bayesian learners with numpyro (issue 15).

Minimal package init of the i15/infer branch: it imports only the inference engine
and the numpyro family; the i15/learn branch adds priors, conjugate posteriors and
learners (the lead merges the two).
"""

from collapse_jax.bayes.inference import NUTS, SVI, nuts, svi
from collapse_jax.bayes.numpyro_family import numpyro_family

__all__ = ["NUTS", "SVI", "nuts", "svi", "numpyro_family"]
