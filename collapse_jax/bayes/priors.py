"""Priors of the exact Bayesian learners: frozen, hashable dataclasses.

A prior is a static setting of a family (families are cached and are static jit
arguments), so every prior is a frozen dataclass of Python floats (a Dirichlet's
vector is a tuple). Numbers are checked when the prior is built; whether a prior
suits a family (its kind, a Dirichlet's length against ``K``) is checked by
:func:`collapse_jax.bayesian`.

* :func:`jeffreys`: the family's reference prior, the default. Gaussian (1-D):
  ``p(mu, sigma^2) ∝ 1 / sigma^2``; categorical: Dirichlet(1/2, ..., 1/2); Poisson:
  ``p(lambda) ∝ lambda^(-1/2)``, i.e. Gamma(1/2, rate 0). It is improper for the
  Gaussian and the Poisson; their posteriors are proper once the fit has data
  (``M >= 2`` Gaussian points, any Poisson data).
* :func:`normal_inverse_gamma`: the Gaussian's conjugate prior
  ``mu | sigma^2 ~ N(mean, sigma^2 / precision)``, ``sigma^2 ~ InvGamma(
  concentration, rate)``.
* :func:`dirichlet_prior`: the categorical's.
* :func:`gamma_prior`: the Poisson's, ``lambda ~ Gamma(concentration, rate)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from collapse_jax.checks import as_float_array, fail

__all__ = [
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


@dataclasses.dataclass(frozen=True)
class Prior:
    """Base class of the priors (frozen and hashable)."""

    #: What the prior is, for messages (``"a Dirichlet prior"``).
    kind = "a prior"


@dataclasses.dataclass(frozen=True)
class Jeffreys(Prior):
    """The family's reference (Jeffreys) prior; build it with :func:`jeffreys`."""

    kind = "the Jeffreys prior"


@dataclasses.dataclass(frozen=True)
class NormalInverseGamma(Prior):
    """``mu | sigma^2 ~ N(mean, sigma^2 / precision)``, ``sigma^2 ~
    InvGamma(concentration, rate)``; build it with :func:`normal_inverse_gamma`."""

    mean: float
    precision: float
    concentration: float
    rate: float
    kind = "a normal-inverse-gamma prior"


@dataclasses.dataclass(frozen=True)
class DirichletPrior(Prior):
    """Dirichlet(concentration): a float (symmetric) or a tuple of ``K`` floats;
    build it with :func:`dirichlet_prior`."""

    concentration: float | tuple[float, ...]
    kind = "a Dirichlet prior"


@dataclasses.dataclass(frozen=True)
class GammaPrior(Prior):
    """``lambda ~ Gamma(concentration, rate)``; build it with :func:`gamma_prior`."""

    concentration: float
    rate: float
    kind = "a gamma prior"


def _positive(fn: str, name: str, value, fix: str) -> float:
    x = as_float_array(fn, name, value)
    if x.ndim != 0:
        fail(fn, name, "a number", x, fix)
    v = float(x)
    if not (math.isfinite(v) and v > 0):
        fail(fn, name, "finite and > 0", v, fix)
    return v


def jeffreys() -> Jeffreys:
    """The family's reference prior (the default of :func:`collapse_jax.bayesian`).

    Gaussian (1-D): ``p(mu, sigma^2) ∝ 1 / sigma^2`` (improper; the posterior of
    ``M >= 2`` points is ``sigma^2 ~ S / chi2_{M-1}``, ``mu | sigma^2 ~ N(xbar,
    sigma^2 / M)``); categorical: Dirichlet(1/2, ..., 1/2); Poisson:
    ``p(lambda) ∝ lambda^(-1/2)`` (Gamma(1/2, rate 0), improper; the posterior of
    ``M`` points with total ``N`` is Gamma(1/2 + N, M)).

    Examples:
      >>> jeffreys() == jeffreys()
      True
    """
    return Jeffreys()


def normal_inverse_gamma(mean, precision, concentration, rate) -> NormalInverseGamma:
    """The conjugate prior of a 1-D Gaussian's ``(mu, sigma^2)``.

    ``sigma^2 ~ InvGamma(concentration, rate)`` and ``mu | sigma^2 ~ N(mean,
    sigma^2 / precision)``: ``precision`` is the prior's weight in points for the
    mean, ``2 * concentration`` its weight for the variance.

    Args:
      mean: the prior mean of ``mu`` (finite).
      precision: ``> 0``.
      concentration: ``> 0``.
      rate: ``> 0`` (``rate = 0`` is improper: use :func:`jeffreys` for the
        reference prior).

    Raises:
      ValueError: for a non-finite mean or a non-positive precision,
        concentration or rate.

    Examples:
      >>> normal_inverse_gamma(0.0, 1.0, 2.0, 1.0).rate
      1.0
    """
    fn = "normal_inverse_gamma"
    m = as_float_array(fn, "mean", mean)
    if m.ndim != 0 or not math.isfinite(float(m)):
        fail(fn, "mean", "a finite number", m, "Pass the prior mean of mu.")
    return NormalInverseGamma(
        float(m),
        _positive(fn, "precision", precision, "Pass a precision > 0 (in points)."),
        _positive(fn, "concentration", concentration, "Pass a concentration > 0."),
        _positive(
            fn,
            "rate",
            rate,
            "Pass a rate > 0; for the improper reference prior use cj.jeffreys().",
        ),
    )


def dirichlet_prior(concentration) -> DirichletPrior:
    """A Dirichlet prior on a categorical's probabilities.

    Args:
      concentration: a number ``> 0`` (the symmetric Dirichlet) or ``K`` numbers
        ``> 0`` (checked against the family's ``K`` by :func:`collapse_jax.bayesian`).

    Raises:
      ValueError: for a non-positive or non-finite entry, or an empty vector.

    Examples:
      >>> dirichlet_prior([1, 2]).concentration
      (1.0, 2.0)
    """
    fn = "dirichlet_prior"
    a = as_float_array(fn, "concentration", concentration)
    fix = "Pass concentrations > 0, e.g. dirichlet_prior(0.5)."
    if a.ndim > 1 or a.size == 0:
        fail(fn, "concentration", "a number or a non-empty vector", a, fix)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        fail(fn, "concentration", "finite and > 0", a.tolist(), fix)
    if a.ndim == 0:
        return DirichletPrior(float(a))
    return DirichletPrior(tuple(float(v) for v in a))


def gamma_prior(concentration, rate) -> GammaPrior:
    """The conjugate prior ``lambda ~ Gamma(concentration, rate)`` of a Poisson.

    Args:
      concentration: ``> 0``.
      rate: ``> 0`` (``rate = 0`` is improper: use :func:`jeffreys` for the
        reference prior Gamma(1/2, 0)).

    Raises:
      ValueError: for a non-positive or non-finite number.

    Examples:
      >>> gamma_prior(2.0, 1.0)
      GammaPrior(concentration=2.0, rate=1.0)
    """
    fn = "gamma_prior"
    return GammaPrior(
        _positive(fn, "concentration", concentration, "Pass a concentration > 0."),
        _positive(
            fn,
            "rate",
            rate,
            "Pass a rate > 0; for the improper reference prior use cj.jeffreys().",
        ),
    )
