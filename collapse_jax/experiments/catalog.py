"""The built-in experiments and the presets that reproduce the literature.

``collapse-jax list`` prints them; each preset runs in minutes on a laptop CPU at
its default scale and at the paper's size with ``--scale full``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from collapse_jax import regimes, theory
from collapse_jax.checks import fail
from collapse_jax.decompose import ALL_COMBOS, combo_label
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
    gmm,
    gmm_params,
    gmm_weights_means_covs,
    linear_regression,
    linear_regression_params,
)

__all__: list[str] = []

_REGIMES = ("replace", "accumulate", "mix", "fresh")


def _schedule(growth: str, base: int, num_generations: int) -> np.ndarray:
    """Sample sizes ``M_0 .. M_{N-1}``: constant, linear or quadratic growth."""
    i = np.arange(num_generations, dtype=np.int64)
    if growth == "constant":
        return np.full(num_generations, base, np.int64)
    if growth == "linear":
        return base * (i + 1)
    return theory.quadratic_schedule(base, num_generations)


def _check_schedule(w, growth: str, base: int, num_generations: int) -> None:
    last = int(_schedule(growth, base, num_generations)[-1])
    if last > 10**8:
        fail(w.fn, w.field("growth"),
             "schedules with at most 1e8 draws per generation",
             f"{growth} growth reaching M = {last:,} at generation {num_generations}",
             f"Use fewer generations, a smaller {w.field('sample_size')} or "
             "constant growth.")


def _regime(name: str, real_fraction: float, num_real: int):
    """The registered regime ``name``, given the preset's settings it takes."""
    settings = {"real_fraction": real_fraction, "num_real": num_real}
    return regimes.make_regime(name, **regimes.options_of(name, settings))


def _labels(combos, names, short):
    """One label per point, naming only the fields that vary."""
    varying = [j for j in range(len(names)) if len({c[j] for c in combos}) > 1]
    varying = varying or [0]
    return [
        ", ".join(f"{short[names[j]]}={c[j]}" for j in varying) for c in combos
    ]


def _spread(num_generations: int, first: int = 0) -> list[int]:
    """A few generations to show: first, N/10, N/2 and N (distinct, >= first)."""
    n = num_generations
    return sorted({g for g in (first, n // 10, n // 2, n) if g >= first})


# E W₂² past n = M is carried by the rare chains whose variance has not collapsed: the
# mean of a few hundred chains falls short of it, and its SE from those chains is
# itself too small (docs/theory.md §12.3). The legend says so.
_W2_LABEL = "E W₂²ₙ (SH-5, exact; heavy tail: the chains' mean falls short for n ≫ M)"


def _zipf(num_ranks: int, exponent: float) -> np.ndarray:
    """``p_k ∝ k^-s`` on ranks 1..K (any ``s >= 0``; s = 0 is uniform)."""
    w = np.arange(1, num_ranks + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


# ---------------------------------------------------------------- gaussian ---

_GAUSS_FIELDS = (
    Field("dim", "ints", [1], "dimension d; several values: one point each",
          minimum=1, maximum=256),
    Field("sample_size", "ints", [100], "M: draws per generation (the base size "
          "when it grows); several values: one point each", minimum=2,
          maximum=10**8),
    Field("growth", "strs", ["constant"], "how M grows over generations",
          choices=("constant", "linear", "quadratic")),
    Field("estimator", "str", "unbiased", "covariance estimator",
          choices=("unbiased", "mle")),
    Field("sampler", "str", "sufficient", "draw M points ('samples') or the exact "
          "sufficient statistics (same law, O(1) per generation)",
          choices=("samples", "sufficient")),
    Field("regime", "str", "replace", "what each fit sees", choices=_REGIMES),
    Field("real_fraction", "float", 0.5, "share of real data (regime mix/fresh)",
          minimum=0.0, maximum=1.0, applies={"regime": ("mix", "fresh")}),
    Field("variance", "float", 1.0, "the truth's variance (isotropic)",
          minimum=1e-30),
)


def _gauss_check(cfg, w):
    for g in cfg["growth"]:
        for m in cfg["sample_size"]:
            _check_schedule(w, g, m, cfg["num_generations"])
    if cfg["regime"] in ("accumulate", "mix", "fresh") and cfg["sampler"] != "samples":
        fail(w.fn, w.field("sampler"), "samples with regime " + cfg["regime"],
             cfg["sampler"],
             f"Pass {w.field_value('sampler', 'samples')} (this regime keeps data).")
    for d in cfg["dim"]:
        if min(cfg["sample_size"]) <= d:
            fail(w.fn, w.field("sample_size"), f"M > d = {d} (a full-rank covariance)",
                 min(cfg["sample_size"]),
                 f"Use larger samples or a smaller {w.field('dim')}.")


def _gaussian_design(cfg) -> Design:
    n_gen = cfg["num_generations"]
    combos = list(itertools.product(cfg["dim"], cfg["sample_size"], cfg["growth"]))
    labels = _labels(combos, ("dim", "sample_size", "growth"),
                     {"dim": "d", "sample_size": "M", "growth": "growth"})
    dims = set(cfg["dim"])
    one_dim = dims == {1}
    if len(dims) > 1:
        metrics = ("log_det_cov", "w2_sq")
    elif one_dim:
        metrics = ("mean", "log_var", "w2_sq")
    else:
        metrics = ("mean", "log_var", "log_det_cov", "w2_sq")
    points, curves = [], {m: [] for m in ("log_var", "log_det_cov", "w2_sq")}
    var, est = cfg["variance"], cfg["estimator"]
    for (d, m, g), label in zip(combos, labels, strict=True):
        sched = _schedule(g, m, n_gen)
        init = gaussian_params(np.zeros(d), var * np.eye(d))
        points.append(Point(
            label, {"dim": d, "sample_size": m, "growth": g},
            gaussian(d, estimator=est), init,
            {"sample_size": sched, "sampler": cfg["sampler"],
             "regime": _regime(cfg["regime"], cfg["real_fraction"], m)},
        ))
        replace = cfg["regime"] == "replace"
        nan = np.full(n_gen + 1, np.nan)
        curves["log_var"].append(theory.curves.expected_log_variance_curve(
            sched, n_gen, estimator=est, variance=var) if replace else nan)
        curves["log_det_cov"].append(theory.curves.expected_log_det_cov_curve(
            sched, n_gen, d, estimator=est, log_det_cov0=d * np.log(var))
            if replace else nan)
        curves["w2_sq"].append(theory.curves.expected_w2_sq_curve(
            sched, n_gen, estimator=est, variance=var)
            if replace and d == 1 else nan)
    th = {}
    if "log_var" in metrics:
        th["log_var"] = TheoryCurve("E log σ²ₙ (GC-3)", curves["log_var"], "mean")
    if "log_det_cov" in metrics:
        th["log_det_cov"] = TheoryCurve("E log det Σₙ (SH-7)", curves["log_det_cov"],
                                        "mean")
    if one_dim:
        th["w2_sq"] = TheoryCurve(_W2_LABEL, curves["w2_sq"], "mean")
    main = "log_var" if one_dim else "log_det_cov"
    figs = [{"kind": "metric", "metric": main, "name": main},
            {"kind": "metric", "metric": "w2_sq", "name": "w2_sq"},
            {"kind": "histogram", "metric": main,
             "generations": _spread(n_gen),
             "name": f"{main}_histogram"}]
    if one_dim and len(points) == 1:
        figs.append({"kind": "snapshot", "name": "densities",
                     "generations": _spread(n_gen)})
    return Design(
        tuple(points), metrics,
        title=f"Gaussian chain ({cfg['regime']}, {est} estimator)",
        theory=th, figures=tuple(figs), log_metrics=("w2_sq",),
        metric_labels={"log_var": "log σ²ₙ", "log_det_cov": "log det Σₙ",
                       "w2_sq": "W₂²(truth, model n)", "mean": "μₙ"},
    )


register(Experiment(
    "gaussian",
    "Gaussian refitted to its own samples: variance collapse and drift "
    "(SH-3..SH-8, GC-1..GC-7)",
    _GAUSS_FIELDS, _gaussian_design, _gauss_check,
    details="Truth N(0, variance·I_d). Replace: E log σ²_n and E log det Σ_n fall "
    "linearly (GC-3, SH-7), E W2² grows (SH-5); quadratic growth of M keeps W2 "
    "bounded (SH-6). Theory curves are drawn for the replace regime.",
))

register_preset(Preset(
    "gaussian-drift", "gaussian",
    "1-D Gaussian over 1,000 generations at M = 100, 500, 1000, 10000 "
    "(Shumailov et al. Fig. SH-E3)",
    {"sample_size": [100, 500, 1000, 10000], "num_generations": 1000,
     "num_chains": 500},
    full={"num_chains": 10000, "sampler": "samples"},
    source="Shumailov et al. (Nature 2024) 1-D Gaussian; docs/theory.md SH-3..SH-5, "
           "GC-3",
))
register_preset(Preset(
    "theorem-3.1", "gaussian",
    "Theorem 3.1: d-dimensional Gaussian collapse, log det Σ_n for d = 1, 2, 5, 10",
    {"dim": [1, 2, 5, 10], "sample_size": [50], "num_generations": 200,
     "num_chains": 500},
    full={"dim": [1, 2, 5, 10, 20, 50], "sample_size": [100],
          "num_generations": 1000, "num_chains": 4096},
    source="Shumailov et al. Theorem 3.1; docs/theory.md SH-7",
))
register_preset(Preset(
    "sample-growth", "gaussian",
    "Constant vs quadratically growing sample size: W2 to the truth grows or "
    "stays bounded",
    {"sample_size": [20], "growth": ["constant", "quadratic"],
     "num_generations": 200, "num_chains": 1000},
    full={"num_generations": 1000, "num_chains": 10000},
    source="docs/theory.md SH-5, SH-6 (Σ 1/M_i < ∞)",
))


# ---------------------------------------------------------------- categorical ---

_CAT_FIELDS = (
    Field("num_categories", "int", 2, "K categories", minimum=2, maximum=10**6),
    Field("init", "str", "two-type", "the truth: p_0 = (p, 1-p) spread over K "
          "('two-type': p on category 0, the rest uniform), uniform, or Zipf",
          choices=("two-type", "uniform", "zipf")),
    Field("initial_prob", "float", 0.3, "p of category 0 ('two-type')",
          minimum=1e-9, maximum=1 - 1e-9, applies={"init": ("two-type",)}),
    Field("zipf_exponent", "float", 1.1, "Zipf exponent s (p_k ∝ k^-s; init zipf)",
          minimum=0.0, maximum=10.0, applies={"init": ("zipf",)}),
    Field("sample_size", "ints", [10, 50, 200], "M per generation; one point each",
          minimum=1, maximum=10**8),
    Field("sampler", "str", "sufficient", "'samples' or exact multinomial counts",
          choices=("samples", "sufficient")),
    Field("regime", "str", "replace", "what each fit sees", choices=_REGIMES),
    Field("real_fraction", "float", 0.5, "share of real data (regime mix/fresh)",
          minimum=0.0, maximum=1.0, applies={"regime": ("mix", "fresh")}),
)


def _cat_probs(cfg) -> np.ndarray:
    k = cfg["num_categories"]
    if cfg["init"] == "uniform":
        return np.full(k, 1.0 / k)
    if cfg["init"] == "zipf":
        return _zipf(k, cfg["zipf_exponent"])
    p = cfg["initial_prob"]
    return np.concatenate([[p], np.full(k - 1, (1 - p) / (k - 1))])


#: Multiply-adds spent on the exact absorption curve of one point (a few seconds):
#: each generation costs (M + 1)^2, and the curve is constant to rounding after
#: about 41 M generations (theory.curves.absorption_probability_curve); past the
#: budget the curve is NaN (no theory drawn there).
_ABSORPTION_BUDGET = 5 * 10**9


def _absorption_curve(p0: float, m: int, num_generations: int) -> np.ndarray:
    """P(a 2-type chain is a point mass by generation n), exactly (WF-4)."""
    return theory.curves.absorption_probability_curve(
        p0, m, num_generations, max_steps=_ABSORPTION_BUDGET // (m + 1) ** 2)


def _cat_check(cfg, w):
    if cfg["regime"] != "replace" and cfg["sampler"] != "samples":
        fail(w.fn, w.field("sampler"), "samples with regime " + cfg["regime"],
             cfg["sampler"],
             f"Pass {w.field_value('sampler', 'samples')} (this regime keeps data).")


def _categorical_design(cfg) -> Design:
    n_gen, k = cfg["num_generations"], cfg["num_categories"]
    p0 = _cat_probs(cfg)
    metrics = ("gini_simpson", "entropy", "support_size", "absorbed")
    if k <= 64:
        metrics = ("probs",) + metrics
    points, gs, ab = [], [], []
    is_replace = cfg["regime"] == "replace"
    for m in cfg["sample_size"]:
        points.append(Point(
            f"M={m}", {"sample_size": m}, categorical(k),
            categorical_params(p0),
            {"sample_size": m, "sampler": cfg["sampler"],
             "regime": _regime(cfg["regime"], cfg["real_fraction"], m)},
        ))
        gs.append(theory.curves.expected_gini_simpson_curve(p0, m, n_gen)
                  if is_replace else np.full(n_gen + 1, np.nan))
        ab.append(_absorption_curve(p0[0], m, n_gen) if is_replace and k == 2
                  and m <= 2000 else np.full(n_gen + 1, np.nan))
    th = {"gini_simpson": TheoryCurve("E Hₙ = H₀ Π(1 − 1/M) (WF-3)", gs, "mean")}
    if k == 2 and is_replace:
        th["absorbed"] = TheoryCurve("P(absorbed by n), exact (WF-4)", ab,
                                     "probability")
    figs: list[dict[str, Any]] = [
        {"kind": "metric", "metric": "gini_simpson", "name": "gini_simpson"},
        {"kind": "fraction", "metric": "absorbed", "name": "absorbed"},
        {"kind": "metric", "metric": "support_size", "name": "support_size"}]
    if "probs" in metrics:
        figs.append({"kind": "snapshot", "name": "probs",
                     "generations": sorted({0, 1, n_gen // 10, n_gen})})
    return Design(
        tuple(points), metrics,
        title=f"Categorical chain, K = {k} ({cfg['init']} truth, {cfg['regime']})",
        theory=th, figures=tuple(figs), log_metrics=("gini_simpson",),
        metric_labels={"gini_simpson": "Gini–Simpson 1 − Σp²",
                       "entropy": "entropy (nats)", "support_size": "support size",
                       "absorbed": "absorbed", "probs": "p"},
    )


register(Experiment(
    "categorical",
    "Discrete (Wright–Fisher) chain: absorption and Gini–Simpson decay "
    "(SH-3, WF-1..WF-5)",
    _CAT_FIELDS, _categorical_design, _cat_check,
    details="Empirical frequencies refitted to M draws. Replace: E p_n = p_0, "
    "E H_n = H_0 Π(1 − 1/M_i) (WF-3); every chain is absorbed in a point mass "
    "(SH-3), for K = 2 with the exact law of the absorption time (WF-4).",
))
register_preset(Preset(
    "discrete-absorption", "categorical",
    "Two categories, p = 0.3: absorption and Gini–Simpson decay at M = 10, 50, 200",
    {"num_categories": 2, "init": "two-type", "initial_prob": 0.3,
     "sample_size": [10, 50, 200], "num_generations": 1000, "num_chains": 2000},
    full={"num_generations": 5000, "num_chains": 100000},
    source="docs/theory.md SH-3, WF-3, WF-4, WF-5",
))


# ---------------------------------------------------------------- gmm ---

_GMM_FIELDS = (
    Field("sample_size", "int", 1000, "M draws per generation", minimum=4,
          maximum=10**7),
    Field("num_iters", "int", 5, "EM iterations per fit (warm-started)",
          minimum=1, maximum=1000),
)


def _gmm_design(cfg) -> Design:
    from collapse_jax.experiments import gmm_collapse as g

    n_gen = cfg["num_generations"]
    snaps = sorted({s for s in g.SNAPSHOTS if s <= n_gen} | {n_gen})
    point = Point("GMM", {"sample_size": cfg["sample_size"]},
                  g.family(cfg["num_iters"]), g.truth_params(),
                  {"sample_size": cfg["sample_size"]})
    return Design(
        (point,), tuple(g.METRICS), title="Two-component GMM refitted by EM "
        f"(M = {cfg['sample_size']})",
        figures=({"kind": "metric", "metric": "l2", "name": "l2"},
                 {"kind": "snapshot", "generations": snaps, "name": "samples"}),
        log_metrics=("l2",),
        metric_labels={"l2": "L2 distance to generation 0", "em_gain": "EM gain"},
        params=_gmm_params,
    )


def _gmm_params(params) -> dict[str, np.ndarray]:
    w, means, covs = gmm_weights_means_covs(params)
    return {"weights": w, "means": means, "covs": covs}


register(Experiment(
    "gmm",
    "Two-component 2-D Gaussian mixture refitted by EM (Shumailov et al. SH-E2)",
    _GMM_FIELDS, _gmm_design,
    details="The paper's GMM experiment: the L2 distance to generation 0 grows and "
    "the mixture's samples drift and shrink (collapse_jax.experiments.gmm_collapse).",
))
register_preset(Preset(
    "gmm", "gmm",
    "The GMM experiment: L2 distance to the truth and sample snapshots",
    {"num_generations": 200, "num_chains": 64},
    full={"num_generations": 2000, "num_chains": 256},
    source="Shumailov et al. (Nature 2024) GMM figure; docs/theory.md SH-E2",
))


# ---------------------------------------------------------------- regression ---

_LR_FIELDS = (
    Field("dim", "int", 5, "features d", minimum=1, maximum=1000),
    Field("num_rows", "int", 50, "rows T of the fixed design (T > d + 1)",
          minimum=3, maximum=10**6),
    Field("noise_sd", "float", 1.0, "label noise σ", minimum=0.0),
    Field("regimes", "strs", ["replace", "accumulate"], "one point each",
          choices=("replace", "accumulate")),
    Field("design_seed", "int", 0, "seed of the fixed Gaussian design X",
          minimum=0, maximum=2**32 - 1),
)


def _lr_check(cfg, w):
    if cfg["num_rows"] <= cfg["dim"] + 1:
        fail(w.fn, w.field("num_rows"), f"T > d + 1 = {cfg['dim'] + 1}",
             cfg["num_rows"],
             "Use more rows (OLS needs T > d; the theory T > d + 1).")


def _regression_design(cfg) -> Design:
    d, t, n_gen = cfg["dim"], cfg["num_rows"], cfg["num_generations"]
    rng = np.random.default_rng(cfg["design_seed"])
    x = rng.standard_normal((t, d))
    w = np.ones(d) / np.sqrt(d)
    truth = linear_regression_params(w, design=x, noise_sd=cfg["noise_sd"])
    fam = linear_regression(d, t)
    var = cfg["noise_sd"] ** 2
    points, curves = [], []
    n = np.arange(1, n_gen + 1)
    for r in cfg["regimes"]:
        points.append(Point(r, {"regime": r}, fam, truth,
                            {"sample_size": t, "regime": _regime(r, 0.0, t)}))
        f = (theory.conditional_test_error_replace if r == "replace"
             else theory.conditional_test_error_accumulate)
        curves.append(np.concatenate([[0.0], f(n, x, var)]))
    return Design(
        tuple(points), ("test_error", "weight_norm_sq"),
        title=f"Linear regression, d = {d}, T = {t}: replace vs accumulate",
        theory={"test_error": TheoryCurve("E errₙ | X (LR-1, LR-2)", curves, "mean")},
        figures=({"kind": "metric", "metric": "test_error", "name": "test_error"},),
        log_metrics=("test_error",),
        metric_labels={"test_error": "test error ‖wₙ − w‖²",
                       "weight_norm_sq": "‖wₙ‖²"},
    )


register(Experiment(
    "regression",
    "Linear regression refitted to its own labels: replace diverges, accumulate "
    "stays bounded (Gerstgrasser et al.; LR-1, LR-2)",
    _LR_FIELDS, _regression_design, _lr_check,
    details="OLS on a fixed Gaussian design X relabelled by the previous model. "
    "Theory curves are exact given X.",
))
register_preset(Preset(
    "regression-accumulate", "regression",
    "Replace vs accumulate for linear regression: test error over generations",
    {"num_generations": 100, "num_chains": 1000},
    full={"num_generations": 1000, "num_chains": 10000, "dim": 10,
          "num_rows": 100},
    source="Gerstgrasser et al. (2024); docs/theory.md LR-1, LR-2",
))


# ---------------------------------------------------------------- three errors ---

_DEC_FIELDS = (
    Field("sample_size", "int", 100, "M when the statistical error is on",
          minimum=2, maximum=10**7),
    Field("num_steps", "int", 20, "Adam steps per fit when approximation is on",
          minimum=1, maximum=10**5),
    Field("learning_rate", "float", 0.05, "Adam learning rate", minimum=1e-9,
          maximum=10.0),
    Field("combos", "strs", [combo_label(c) for c in ALL_COMBOS],
          "which of the eight on/off combinations to run (S, E, A joined by '+')",
          choices=tuple(combo_label(c) for c in ALL_COMBOS)),
)


def _decomposition_design(cfg) -> Design:
    from collapse_jax.experiments import decomposition as dec

    by_label = {combo_label(c): c for c in ALL_COMBOS}

    truth_family = gmm(2, 1)
    truth = gmm_params(**dec.TRUTH)
    points = []
    for label in cfg["combos"]:
        s, e, a = by_label[label]
        fam = gaussian(1) if e else truth_family
        if a:
            fam = dec.approximation(fam, num_steps=cfg["num_steps"],
                                    learning_rate=cfg["learning_rate"])
        points.append(Point(label, {"combo": label}, fam, truth, {
            "sample_size": cfg["sample_size"] if s else None,
            "init_family": truth_family,
        }))
    return Design(
        tuple(points), ("l2_to_truth", "w2_mm_sq_to_truth"),
        title="Errors on/off: S statistical, E expressivity, A approximation",
        figures=({"kind": "metric", "metric": "l2_to_truth", "name": "l2_to_truth",
                  "chains_shown": 0},
                 {"kind": "metric", "metric": "w2_mm_sq_to_truth",
                  "name": "w2_mm_sq_to_truth", "chains_shown": 0}),
        log_metrics=("l2_to_truth", "w2_mm_sq_to_truth"),
        metric_labels={"l2_to_truth": "L2 distance to the truth",
                       "w2_mm_sq_to_truth": "W₂² of moment-matched Gaussians"},
    )


register(Experiment(
    "decomposition",
    "The three error sources of Shumailov et al. switched on and off (SH-1)",
    _DEC_FIELDS, _decomposition_design,
    details="Truth 0.4 N(-2, 0.6²) + 0.6 N(1.5, 0.8²). S: M samples or the "
    "population limit; E: fit the mixture or one Gaussian; A: exact fits or "
    "Adam steps from a fixed start. Common random numbers across combinations.",
))
register_preset(Preset(
    "three-errors", "decomposition",
    "The three-error decomposition: distance to the truth for all eight "
    "combinations",
    {"num_generations": 100, "num_chains": 64},
    full={"num_generations": 1000, "num_chains": 1024},
    source="Shumailov et al. (Nature 2024) §3; docs/theory.md SH-1",
))
