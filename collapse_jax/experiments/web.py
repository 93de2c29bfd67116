r"""The web as a regime: minority erasure, detection and late entrants.

Three experiments, registered with their presets on import
(:mod:`collapse_jax.experiments`):

``minority-erasure``
    A categorical population of ``K`` categories in two groups: a minority of ``g``
    categories holding the share ``m_0`` (0.1: a 90/10 population) and a majority
    holding the rest, each group spread evenly. Each point runs the chain under one
    mitigation, common random numbers across the points: ``replace`` (no
    mitigation), ``mix`` (the generation-0 data kept, share ``real_fraction`` of
    each fit), ``fresh`` (``M`` fresh truth draws per fit at share
    ``real_fraction``), ``tail_weighting`` (the replace chain with each draw
    weighted by ``p(x)^(-tail_exponent)`` under the current model), ``web`` (a
    scrape of synthetic share ``synthetic_share``, :func:`collapse_jax.web`) and
    ``detection`` (the same scrape with a watermark of recall ``recall``). It
    records the minority's share (:func:`collapse_jax.minority`) and whether it
    has vanished (share 0) per generation. For ``replace`` the exact curves are
    drawn: the share is a martingale (WF-1) and the group vanishes by generation
    ``n`` with the two-type Wright–Fisher probability
    (:func:`collapse_jax.minority.vanished_by`, tending to ``1 - m_0``; WF-2,
    proofs/sh-3-discrete-absorption.md). Under the mixing regimes the human data
    bring the group back, so "vanished" is a state at generation ``n``, not an
    absorption.

``web``
    Distance to the truth against calendar time ``t`` (model ``t`` is trained on
    the scrape at time ``t``) for several detector recalls, one point each, the
    share a constant, a linear ramp or a logistic take-off
    (:func:`collapse_jax.linear_share`, :func:`collapse_jax.logistic_share`). The
    distance is the squared error of the model: ``sq_error = ||p_t - p*||^2`` for
    a categorical, ``mean_sq_error = (mu_t - mu*)^2`` and ``var = sigma_t^2`` for a
    1-D Gaussian, with the exact expectations of docs/theory.md WB-2 / WB-3
    (:func:`collapse_jax.theory.web.web_categorical_sq_error`,
    :func:`collapse_jax.theory.web.web_gaussian_moments`) at the share of each
    fit, for every schedule; each curve is one vectorised call over the
    generations. The synthetic share among the kept items
    (``kept_synthetic_share``, recorded by the regime) is drawn against
    :func:`collapse_jax.theory.web.effective_share` at the share of each
    generation: given ``k >= 1`` kept items, the synthetic ones are
    ``Bin(k, s_eff)``, so its expectation is exact.

``late-entrants``
    The first-mover advantage. An entrant at calendar time ``τ`` trains on the web
    as it is then: a share ``s_τ`` of its scrape is synthetic, drawn from the
    models of everyone before it (uniformly from models ``1 .. τ - 1``; model 0 is
    the truth), the rest human. That is the web regime with ``source="all"``: its
    chain's model ``τ`` IS the entrant at ``τ``, trained on a scrape that holds the
    output of the entrants before it, and the first mover is model 1, trained on the
    pre-synthetic web (the share at the first fit is ``s_0``, about 0 before a
    logistic take-off). The advantage of the first mover over an entrant at ``τ`` is

    .. math:: A(\tau) = E\,d(\text{model } \tau) - E\,d(\text{model } 1),

    ``d`` the squared error as in ``web``; :func:`advantage` computes it from a
    run's records with its standard error over the independent chains (the two
    means are of one chain each, so the SE is that of the per-chain difference).
    Points: one per recall; the figure of ``d`` against ``τ`` is the late-entrant
    curve, its rise above generation 1 the advantage. The chains start at the
    truth, so the web chains' ``source="all"`` moments give ``E d`` exactly at every
    ``τ`` (WB-2 part 6, WB-3 part 7), drawn as the theory curves; the exact
    advantage is the curve minus its value at ``τ = 1``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.checks import fail
from collapse_jax.curation import tail_weighting
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
)
from collapse_jax.minority import Minority, minority, vanished_by
from collapse_jax.regimes import fresh, mix, replace
from collapse_jax.regimes._shares import share_values, share_vector
from collapse_jax.regimes.web import detector, linear_share, logistic_share, web
from collapse_jax.theory import web as tw

__all__ = ["MITIGATIONS", "Vanished", "SquaredError", "advantage", "minority_truth"]

#: The points of ``minority-erasure``.
MITIGATIONS = ("replace", "mix", "fresh", "tail_weighting", "web", "detection")
_SCHEDULES = ("constant", "linear", "logistic")


# ------------------------------------------------------------ derived metrics ---


@dataclasses.dataclass(frozen=True)
class Vanished:
    """Derived metric: whether the group's share is exactly 0 (a bool)."""

    group: Minority

    def __call__(self, params):
        return self.group(params) == 0

    def check(self, fn, arg, family, init, init_family=None):
        self.group.check(fn, arg, family, init, init_family)


@dataclasses.dataclass(frozen=True)
class SquaredError:
    """Derived metric: the squared error of a model against fixed truth numbers.

    ``field`` names the params' field (``"probs"``: ``||p - p*||^2``; ``"mean"``:
    ``||mu - mu*||^2``); ``"var"`` gives the 1-D Gaussian's variance
    ``exp(2 chol_log_diag)`` (``truth`` unused). Summed by the fixed tree.
    """

    field: str
    truth: tuple[float, ...] = ()

    def __call__(self, params):
        if self.field == "var":
            return jnp.exp(2 * params.chol_log_diag[0])
        x = getattr(params, self.field)
        d = x - jnp.asarray(self.truth, x.dtype)
        return tree_sum(d * d)


def minority_truth(num_categories: int, group_size: int, share: float) -> np.ndarray:
    """``(K,)`` probabilities: the last ``group_size`` categories share ``share``
    evenly, the others ``1 - share``."""
    k, g = num_categories, group_size
    majority = np.full(k - g, (1 - share) / (k - g))
    return np.concatenate([majority, np.full(g, share / g)])


def advantage(distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first-mover advantage ``E d(model τ) - E d(model 1)`` and its SE.

    Args:
      distance: ``(chains, N + 1)`` the distance of each chain's model per
        generation (a ``late-entrants`` run's ``sq_error`` or ``mean_sq_error``).

    Returns:
      ``(advantage, se)``, each ``(N + 1,)``, 0 at ``τ = 1``; the SE is that of the
      per-chain difference ``d_τ - d_1`` across the independent chains.
    """
    d = np.asarray(distance, np.float64)
    diff = d - d[:, 1:2]
    c = diff.shape[0]
    return diff.mean(axis=0), diff.std(axis=0, ddof=1) / math.sqrt(c)


# ------------------------------------------------------------ minority-erasure ---

_MINORITY_FIELDS = (
    Field("num_categories", "int", 10, "K: categories of the population", minimum=3,
          maximum=10_000),
    Field("minority_categories", "int", 2, "g: categories in the minority group (the "
          "last g)", minimum=1, maximum=9_999),
    Field("minority_share", "float", 0.1, "m_0: the minority's share of the truth",
          minimum=1e-6, maximum=0.5),
    Field("sample_size", "int", 50, "M: draws per generation", minimum=2,
          maximum=10**7),
    Field("mitigations", "strs", list(MITIGATIONS), "the chains compared; one point "
          "each", choices=MITIGATIONS),
    Field("real_fraction", "float", 0.1, "the human (real) share of each fit for mix "
          "and fresh", minimum=0.0, maximum=1.0,
          applies={"mitigations": ("mix", "fresh")}),
    Field("tail_exponent", "float", 0.5, "tail weighting: each draw weighted by "
          "p(x)^(-exponent) under the current model", minimum=0.0, maximum=0.99,
          applies={"mitigations": ("tail_weighting",)}),
    Field("synthetic_share", "float", 0.9, "web and detection: the synthetic share "
          "of the scrape", minimum=0.0, maximum=1.0,
          applies={"mitigations": ("web", "detection")}),
    Field("recall", "float", 0.9, "detection: the watermark's recall", minimum=0.0,
          maximum=1.0, applies={"mitigations": ("detection",)}),
)


def _minority_check(cfg, w) -> None:
    if cfg["minority_categories"] >= cfg["num_categories"]:
        fail(w.fn, w.field("minority_categories"), "fewer than "
             f"{w.field('num_categories')} ({cfg['num_categories']})",
             cfg["minority_categories"], "Leave some categories to the majority.")


def _mitigation(cfg, name: str) -> dict[str, Any]:
    m, f = cfg["sample_size"], cfg["real_fraction"]
    s, r = cfg["synthetic_share"], cfg["recall"]
    return {
        "replace": {"regime": replace()},
        "mix": {"regime": mix(real_fraction=f)},
        "fresh": {"regime": fresh(m, real_fraction=f)},
        "tail_weighting": {"regime": replace(),
                           "curation": tail_weighting(cfg["tail_exponent"])},
        "web": {"regime": web(s)},
        "detection": {"regime": web(s, detector=detector(r))},
    }[name]


_MINORITY_LABELS = {"replace": "replace", "mix": "mix (D₀ kept)",
                    "fresh": "fresh human data", "tail_weighting": "tail weighting",
                    "web": "web scrape", "detection": "web + watermark"}


def _minority_design(cfg) -> Design:
    k, g, share = (cfg["num_categories"], cfg["minority_categories"],
                   cfg["minority_share"])
    m, n_gen = cfg["sample_size"], cfg["num_generations"]
    group = minority(categories=list(range(k - g, k)))
    extra = {group.metric: group, "minority_vanished": Vanished(group)}
    truth = categorical_params(minority_truth(k, g, share))
    fam = categorical(k)
    points, mean_curves, gone_curves = [], [], []
    nan = np.full(n_gen + 1, np.nan)
    for name in cfg["mitigations"]:
        opts = {"sample_size": m, "sampler": "samples", "extra_metrics": extra,
                **_mitigation(cfg, name)}
        points.append(Point(_MINORITY_LABELS[name], {"mitigation": name}, fam, truth,
                            opts))
        exact = name == "replace"
        mean_curves.append(np.full(n_gen + 1, share) if exact else nan)
        gone_curves.append(vanished_by(share, m, n_gen) if exact else nan)
    theory = {}
    if "replace" in cfg["mitigations"]:
        theory = {
            group.metric: TheoryCurve("E share, replace: m₀ (martingale, WF-1)",
                                      mean_curves, "mean"),
            "minority_vanished": TheoryCurve(
                "P(vanished by n), replace: exact two-type WF (→ 1 − m₀, WF-2)",
                gone_curves, "probability"),
        }
    metrics = (group.metric, "minority_vanished")
    return Design(
        tuple(points), metrics,
        title=f"Minority erasure: K = {k}, a minority of {g} categories with share "
              f"{share:g}, M = {m}",
        theory=theory,
        figures=(
            {"kind": "metric", "metric": group.metric, "name": "minority_share"},
            {"kind": "fraction", "metric": "minority_vanished",
             "name": "minority_vanished"},
            {"kind": "histogram", "metric": group.metric,
             "generations": _spread(n_gen, 1), "name": "minority_share_histogram"},
        ),
        metric_labels={group.metric: "minority share mₙ",
                       "minority_vanished": "minority vanished (mₙ = 0)"},
    )


register(Experiment(
    "minority-erasure",
    "A 90/10 two-group categorical population: the minority's share and its "
    "vanishing under replace, mix, fresh, tail weighting, the web and detection "
    "(WF-1, WF-2, WB-5)",
    _MINORITY_FIELDS, _minority_design, _minority_check,
    details="The minority is the last g of K categories, holding the share m_0 of "
    "the truth. In the replace chain its share is a two-type Wright-Fisher chain: a "
    "martingale that vanishes by generation n with an exact probability tending to "
    "1 - m_0 (WF-2; proofs/sh-3-discrete-absorption.md part 7). Human data (mix, "
    "fresh, the web's human share) bring it back; tail weighting up-weights its rare "
    "draws; a watermark keeps fewer items, so the fits are noisier.",
))

register_preset(Preset(
    "minority-erasure", "minority-erasure",
    "K = 10, a minority of 2 categories with 10 % of the mass, M = 50: share and "
    "P(vanished) under six mitigations",
    {"num_generations": 200, "num_chains": 1000},
    full={"num_generations": 1000, "num_chains": 10000},
    source="docs/theory.md WF-1, WF-2, WB-5 (a group: "
           "proofs/sh-3-discrete-absorption.md part 7, proofs/wb-5-minority.md)",
))


# ---------------------------------------------------------- web, late entrants ---

_WEB_FIELDS = (
    Field("family", "str", "categorical", "the chain: a categorical over K "
          "categories or a 1-D Gaussian", choices=("categorical", "gaussian")),
    Field("num_categories", "int", 10, "K (categorical): the truth is uniform",
          minimum=2, maximum=10_000, applies={"family": ("categorical",)}),
    Field("sample_size", "int", 50, "M: items per scrape (before detection)",
          minimum=2, maximum=10**7),
    Field("schedule", "str", "constant", "the synthetic share over calendar time",
          choices=_SCHEDULES),
    Field("synthetic_share", "float", 0.8, "the share (constant), or its end value "
          "(linear, logistic)", minimum=0.0, maximum=1.0),
    Field("start_share", "float", 0.0, "the share at t = 0 (linear) or long before "
          "the midpoint (logistic)", minimum=0.0, maximum=1.0,
          applies={"schedule": ("linear", "logistic")}),
    Field("midpoint", "float", 10.0, "logistic: the generation of the half-way share",
          minimum=-1e6, maximum=1e6, applies={"schedule": ("logistic",)}),
    Field("steepness", "float", 0.5, "logistic: the rate per generation",
          minimum=-1e3, maximum=1e3, applies={"schedule": ("logistic",)}),
    Field("recalls", "floats", [0.0, 0.5, 0.9, 0.99], "the detector's recall; one "
          "point each", minimum=0.0, maximum=1.0),
    Field("false_positive_rate", "float", 0.0, "the detector's false-positive rate "
          "(0: a watermark)", minimum=0.0, maximum=0.99),
)


def _share(cfg):
    s, s0 = cfg["synthetic_share"], cfg["start_share"]
    if cfg["schedule"] == "constant":
        return s
    if cfg["schedule"] == "linear":
        return linear_share(s0, s)
    return logistic_share(cfg["midpoint"], cfg["steepness"], start=s0, end=s)


def _share_path(cfg) -> np.ndarray:
    """``s_t`` of the fit that makes model ``t + 1``, ``t = 0 .. N - 1``: the
    regime's own evaluation of the schedule (``share_values``)."""
    vector = share_vector("run", "synthetic_share", _share(cfg))
    return share_values(vector, cfg["num_generations"])


def _web_design(cfg, source: str, title: str) -> Design:
    n_gen, m, f = cfg["num_generations"], cfg["sample_size"], cfg["false_positive_rate"]
    gauss = cfg["family"] == "gaussian"
    if gauss:
        fam, truth = gaussian(1), gaussian_params(np.zeros(1), np.eye(1))
        extra = {"mean_sq_error": SquaredError("mean", (0.0,)),
                 "var": SquaredError("var")}
        main = "mean_sq_error"
    else:
        k = cfg["num_categories"]
        probs = np.full(k, 1.0 / k)
        fam, truth = categorical(k), categorical_params(probs)
        extra = {"sq_error": SquaredError("probs", tuple(probs.tolist()))}
        main = "sq_error"
    share = _share(cfg)
    path = _share_path(cfg)
    points = []
    curves: dict[str, list[np.ndarray]] = {name: [] for name in extra}
    kept: list[np.ndarray] = []
    for r in cfg["recalls"]:
        regime = web(share, detector=detector(r, f), source=source)
        points.append(Point(f"recall={r:g}", {"recall": r}, fam, truth,
                            {"sample_size": m, "sampler": "samples",
                             "regime": regime, "extra_metrics": extra}))
        # Generation 0 is the truth: every item human, a kept synthetic share 0.
        kept.append(np.concatenate([[0.0], tw.effective_share(path, r, f)]))
        # The exact moments at the share of each fit, from the truth (where the
        # chains start, as source="all" needs): one vectorised call per curve.
        if gauss:
            mse, var = tw.web_gaussian_moments(m, n_gen, path, r, f, source=source)
            curves["mean_sq_error"].append(mse)
            curves["var"].append(var)
        else:
            curves["sq_error"].append(tw.web_categorical_sq_error(
                probs, m, n_gen, path, r, f, source=source))
    labels = {"sq_error": "‖pₜ − p*‖²", "mean_sq_error": "(μₜ − μ*)²", "var": "σₜ²",
              "kept_synthetic_share": "synthetic share of the kept items"}
    theory: dict[str, TheoryCurve] = {
        "kept_synthetic_share": TheoryCurve(
            "s(1 − r) / (s(1 − r) + (1 − s)(1 − f)), exact (WB-1)", kept, "mean")}
    where = ", every past model" if source == "all" else ""
    for name in extra:
        claim = "WB-2" if name == "sq_error" else "WB-3"
        theory[name] = TheoryCurve(f"E {labels[name]}, exact ({claim}{where})",
                                   curves[name], "mean")
    metrics = (*extra, "kept_synthetic_share")
    return Design(
        tuple(points), metrics, title=title, theory=theory,
        figures=(
            {"kind": "metric", "metric": main, "name": main},
            {"kind": "metric", "metric": "kept_synthetic_share",
             "name": "kept_synthetic_share"},
        ) + (({"kind": "metric", "metric": "var", "name": "var"},) if gauss else ()),
        metric_labels={k: labels[k] for k in metrics},
    )


def _web_title(cfg, what: str) -> str:
    fam = ("1-D Gaussian" if cfg["family"] == "gaussian"
           else f"categorical, K = {cfg['num_categories']}")
    sched = cfg["schedule"]
    if sched == "constant":
        s = f"share {cfg['synthetic_share']:g}"
    elif sched == "linear":
        s = f"share {cfg['start_share']:g} → {cfg['synthetic_share']:g} (linear)"
    else:
        s = (f"logistic share {cfg['start_share']:g} → {cfg['synthetic_share']:g}, "
             f"midpoint {cfg['midpoint']:g}, steepness {cfg['steepness']:g}")
    fpr = cfg["false_positive_rate"]
    return (f"{what}: {fam}, M = {cfg['sample_size']}, {s}"
            + (f", false-positive rate {fpr:g}" if fpr else ""))


register(Experiment(
    "web",
    "Distance to the truth against calendar time on a web with a synthetic share, "
    "for several detector recalls (WB)",
    _WEB_FIELDS,
    lambda cfg: _web_design(cfg, "newest", _web_title(cfg, "The web as a regime")),
    None,
    details="Each generation scrapes M items: synthetic (from the previous model) "
    "with probability s_t, else human (fresh from the truth); a detector flags "
    "synthetic items with probability recall and human ones with the false-positive "
    "rate, and flagged items are dropped before the fit. Exact curves: the kept "
    "synthetic share s_eff = s(1-r)/(s(1-r)+(1-s)(1-f)) at every generation, and "
    "the expected squared error for every share schedule (docs/theory.md WB-2, "
    "WB-3).",
))

register(Experiment(
    "late-entrants",
    "The first-mover advantage: the distance of a model trained at calendar time τ "
    "on the web of its time, against the first mover's (τ = 1)",
    _WEB_FIELDS,
    lambda cfg: _web_design(cfg, "all", _web_title(
        cfg, "Late entrants (web, synthetic items from every earlier model)")),
    None,
    details="The web regime with source='all': the chain's model τ is the entrant at "
    "calendar time τ, whose scrape holds the synthetic output of the entrants "
    "1 .. τ-1 at the share s_τ; the first mover is model 1. The advantage "
    "E d(model τ) - E d(model 1) comes from the records "
    "(collapse_jax.experiments.web.advantage); its exact value is the theory "
    "curve's (the source='all' moments, docs/theory.md WB-2, WB-3) minus its "
    "value at τ = 1.",
))

register_preset(Preset(
    "web-detection", "web",
    "Categorical K = 10, M = 50, synthetic share 0.8: squared error against "
    "calendar time for recalls 0, 0.5, 0.9, 0.99, with the exact curves",
    {"num_generations": 100, "num_chains": 1000},
    full={"num_generations": 500, "num_chains": 10000},
    source="docs/theory.md WB-1, WB-2 (the web regime's exact results)",
))

register_preset(Preset(
    "late-entrants", "late-entrants",
    "Categorical K = 10, M = 50, a logistic take-off of the synthetic share (0 → "
    "0.95, midpoint 20): the entrant at τ against the first mover, recalls 0, 0.5, "
    "0.9",
    {"schedule": "logistic", "synthetic_share": 0.95, "start_share": 0.0,
     "midpoint": 20.0, "steepness": 0.3, "recalls": [0.0, 0.5, 0.9],
     "num_generations": 60, "num_chains": 1000},
    full={"num_generations": 100, "num_chains": 10000},
    source="docs/theory.md WB-2 (the web chain with source='all', exact from the "
           "truth)",
))
