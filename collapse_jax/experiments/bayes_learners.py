"""The Bayesian-learner experiment: does a learner that samples its parameters from a
posterior, or generates from its posterior predictive, collapse like a plug-in one?

``bayes-learners`` runs one chain family under several learners
(:data:`collapse_jax.LEARNERS`: ``plugin``, ``posterior_sample``,
``posterior_predictive``, ``map``) on one truth, common random numbers across the
learners, and draws them on one plot with the exact curves of docs/theory.md (GC-3
for the plug-in chain, the BL claims for the others) where they exist. Registered
with presets on import (:mod:`collapse_jax.experiments`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from collapse_jax import theory
from collapse_jax.bayes import (
    LEARNERS,
    dirichlet_prior,
    gamma_prior,
    jeffreys,
    normal_inverse_gamma,
)
from collapse_jax.checks import fail
from collapse_jax.experiments.catalog import _spread
from collapse_jax.experiments.core import (
    Design,
    Experiment,
    Field,
    Point,
    Preset,
    TheoryCurve,
    register,
    register_preset,
)
from collapse_jax.families import (
    categorical,
    categorical_params,
    gaussian,
    gaussian_params,
    poisson,
    poisson_params,
)
from collapse_jax.theory import bayes as tb

__all__: list[str] = []

_FAMILIES = ("gaussian", "categorical", "poisson")

_FIELDS = (
    Field("family", "str", "gaussian", "the chain: a 1-D Gaussian, a two-category "
          "categorical or a Poisson count", choices=_FAMILIES),
    Field("learners", "strs", list(LEARNERS), "the learners compared; one point "
          "each", choices=LEARNERS),
    Field("prior", "str", "jeffreys", "the reference prior, or the conjugate prior "
          "set by --concentration (and --rate, --precision)",
          choices=("jeffreys", "conjugate")),
    Field("concentration", "float", 2.0, "the conjugate prior's concentration: "
          "inverse-gamma shape (Gaussian), Dirichlet alpha per category, gamma shape "
          "(Poisson)", minimum=1e-6, maximum=1e6, applies={"prior": ("conjugate",)}),
    Field("rate", "float", 2.0, "the conjugate prior's rate: inverse-gamma rate "
          "(Gaussian), gamma rate (Poisson)", minimum=1e-12, maximum=1e12,
          applies={"prior": ("conjugate",), "family": ("gaussian", "poisson")}),
    Field("precision", "float", 1.0, "the Gaussian conjugate prior's precision of "
          "the mean, in units of sigma^2 (prior mean 0)", minimum=1e-12,
          maximum=1e12, applies={"prior": ("conjugate",), "family": ("gaussian",)}),
    Field("sample_size", "int", 20, "M: draws per generation", minimum=2,
          maximum=10**8),
    Field("truth", "float", 1.0, "the truth: the variance (Gaussian, mean 0), the "
          "first category's probability (categorical) or the rate (Poisson)",
          minimum=1e-12, maximum=1e12),
)

_METRICS = {
    "gaussian": ("mean", "log_var"),
    "categorical": ("probs", "gini_simpson", "absorbed"),
    "poisson": ("rate", "log_rate", "absorbed"),
}
_CLAIMS = {"gaussian": "GC-3, BL-1, BL-2", "categorical": "WF-3, BL-5",
           "poisson": "SU-2, BL-6"}
_MAIN = {"gaussian": "log_var", "categorical": "gini_simpson", "poisson": "rate"}
_LABELS = {"log_var": "log σ²ₙ", "mean": "μₙ", "gini_simpson": "Gini–Simpson 1 − Σp²",
           "probs": "p", "absorbed": "absorbed", "rate": "λₙ", "log_rate": "log λₙ"}


def _check(cfg, w) -> None:
    fam, truth = cfg["family"], cfg["truth"]
    if fam == "categorical" and not truth < 1.0:
        fail(w.fn, w.field("truth"), "a probability in (0, 1) for the categorical "
             "family", truth, f"Pass {w.field_value('truth', 0.3)}.")
    if fam == "gaussian" and cfg["sample_size"] < 4:
        # The Jeffreys posterior needs M >= 2 and the Student-t predictive a
        # variance (M > 3).
        fail(w.fn, w.field("sample_size"), "M >= 4 for the Gaussian learners",
             cfg["sample_size"], f"Pass {w.field_value('sample_size', 20)}.")
    if len(set(cfg["learners"])) != len(cfg["learners"]):
        fail(w.fn, w.field("learners"), "distinct learners", cfg["learners"],
             "Name each learner once.")


def _prior(cfg):
    if cfg["prior"] == "jeffreys":
        return jeffreys()
    a = cfg["concentration"]
    if cfg["family"] == "gaussian":
        return normal_inverse_gamma(0.0, cfg["precision"], a, cfg["rate"])
    if cfg["family"] == "categorical":
        return dirichlet_prior(a)
    return gamma_prior(a, cfg["rate"])


def _family(cfg, learner: str, prior):
    fam = cfg["family"]
    prior = None if learner == "plugin" else prior  # the plug-in fit has none
    if fam == "gaussian":
        return gaussian(1, learner=learner, prior=prior)
    if fam == "categorical":
        return categorical(2, learner=learner, prior=prior)
    return poisson(learner=learner, prior=prior)


def _truth(cfg):
    fam, t = cfg["family"], cfg["truth"]
    if fam == "gaussian":
        return gaussian_params(np.zeros(1), t * np.eye(1))
    if fam == "categorical":
        return categorical_params(np.array([t, 1.0 - t]))
    return poisson_params(t)


def _theory_curve(cfg, learner: str) -> np.ndarray:
    """E of the experiment's main metric at generations 0..N, NaN where no exact
    expectation exists (the predictive Gaussian's E log v_n has only a bound,
    BL-3; the MAP chains with a concentration below 1 clip at the boundary).
    Each curve is one closed-form call, whatever N."""
    n_gen, fam, m, t = (cfg["num_generations"], cfg["family"], cfg["sample_size"],
                        cfg["truth"])
    nan = np.full(n_gen + 1, np.nan)
    reference = cfg["prior"] == "jeffreys"
    a = 0.5 if reference else cfg["concentration"]
    if fam == "gaussian":
        if learner == "plugin":
            return theory.curves.expected_log_variance_curve(
                np.full(n_gen, m), n_gen, estimator="unbiased", variance=t)
        if not reference or learner == "posterior_predictive":
            return nan
        moments = (tb.gaussian_posterior_sample_log_var_moments
                   if learner == "posterior_sample"
                   else tb.gaussian_map_log_var_moments)
        # A random walk in log σ² (BL-1, BL-2): n times the one-step drift.
        return np.log(t) + moments(m, 1)[0] * np.arange(n_gen + 1)
    if fam == "categorical":
        p0 = np.array([t, 1.0 - t])
        if learner == "plugin":
            return theory.curves.expected_gini_simpson_curve(p0, m, n_gen)
        if learner == "map" and a < 1:
            return nan
        return 1.0 - tb.categorical_expected_homozygosity_curve(
            p0, a, m, n_gen, learner)
    if learner == "plugin":
        return np.full(n_gen + 1, t)  # the martingale (SU-2)
    if learner == "map" and a < 1:
        return nan
    b = 0.0 if reference else cfg["rate"]
    return tb.poisson_mean_curve(t, m, n_gen, learner, concentration=a, rate=b)


def _design(cfg) -> Design:
    n_gen, fam, m = cfg["num_generations"], cfg["family"], cfg["sample_size"]
    prior = _prior(cfg)
    truth = _truth(cfg)
    points = []
    main = _MAIN[fam]
    curves: list[np.ndarray] = []
    for learner in cfg["learners"]:
        points.append(Point(
            learner, {"learner": learner}, _family(cfg, learner, prior), truth,
            {"sample_size": m, "sampler": "samples"},
        ))
        curves.append(_theory_curve(cfg, learner))
    th: dict[str, TheoryCurve] = {}
    if any(np.isfinite(c).any() for c in curves):
        th[main] = TheoryCurve(
            f"E {_LABELS[main]}, exact ({_CLAIMS[fam]})", curves, "mean")
    figs: list[dict[str, Any]] = [
        {"kind": "metric", "metric": main, "name": main},
        {"kind": "histogram", "metric": main, "generations": _spread(n_gen),
         "name": f"{main}_histogram"},
    ]
    if "absorbed" in _METRICS[fam]:
        figs.append({"kind": "fraction", "metric": "absorbed", "name": "absorbed"})
    prior_text = ("reference prior" if cfg["prior"] == "jeffreys"
                  else "conjugate prior")
    return Design(
        tuple(points), _METRICS[fam],
        title=f"Learners compared: {fam} chain, M = {m}, {prior_text}",
        theory=th, figures=tuple(figs),
        # Linear axes: the posterior learners' chains touch 0 and leave it again.
        metric_labels={k: _LABELS[k] for k in _METRICS[fam]},
    )


register(Experiment(
    "bayes-learners",
    "Plug-in, posterior-sample, posterior-predictive and MAP learners on one chain "
    "(GC-3, BL)",
    _FIELDS, _design, _check,
    details="Each generation the learner sees the M draws of the previous model: the "
    "plug-in learner refits by maximum likelihood; the posterior-sample learner draws "
    "its parameter from the posterior; the posterior-predictive learner generates "
    "every point from the posterior predictive; the MAP learner takes the posterior "
    "mode. Under the reference prior the posterior-sample Gaussian chain has zero "
    "drift in log σ² (the plug-in chain's is negative); with a proper prior it is a "
    "Gibbs sampler whose stationary law is the prior.",
))

register_preset(Preset(
    "bayes-learners", "bayes-learners",
    "1-D Gaussian, M = 20, reference prior: log σ²ₙ under the four learners",
    {"family": "gaussian", "sample_size": 20, "num_generations": 200,
     "num_chains": 1000},
    full={"num_generations": 1000, "num_chains": 10000},
    source="docs/theory.md GC-3 and the BL claims",
))
register_preset(Preset(
    "bayes-learners-categorical", "bayes-learners",
    "Two categories, p = 0.3, M = 20, Dirichlet(1/2) prior: absorption (plug-in) "
    "against none (posterior learners)",
    {"family": "categorical", "truth": 0.3, "sample_size": 20,
     "num_generations": 300, "num_chains": 1000},
    full={"num_generations": 2000, "num_chains": 10000},
    source="docs/theory.md WF-3, WF-4 and the BL claims",
))
register_preset(Preset(
    "bayes-learners-poisson", "bayes-learners",
    "Poisson rate 0.5, M = 20: absorption at 0 (plug-in) against growth (posterior "
    "sample, reference prior)",
    {"family": "poisson", "truth": 0.5, "sample_size": 20, "num_generations": 200,
     "num_chains": 1000},
    full={"num_generations": 1000, "num_chains": 10000},
    source="docs/theory.md SU-2 and the BL claims",
))
