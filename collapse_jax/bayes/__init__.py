"""Bayesian learners with numpyro (issue 15).

Minimal package init of the i15/infer branch: nothing is imported here, so
``import collapse_jax`` does not load numpyro or optax. The numpyro engine lives in
:mod:`collapse_jax.bayes.inference` (``cj.svi``, ``cj.nuts``) and
:mod:`collapse_jax.bayes.numpyro_family` (``cj.numpyro_family``), which
``collapse_jax`` imports on first use. (The function ``numpyro_family`` stays off
this package: its module has the same name.)
"""
