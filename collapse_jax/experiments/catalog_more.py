"""More built-in experiments: word forgetting on real frequencies, and the monitor.

``word-forgetting`` runs the categorical chain whose truth is a language's ``V`` most
frequent words (wordfreq, or a synthetic Zipf law); ``monitor`` runs a Gaussian
replace chain watched by :func:`~collapse_jax.collapse_monitor`, with and without
:func:`~collapse_jax.adaptive` injection of real data. Both are registered with
presets on import (:func:`collapse_jax.experiments.core.experiments` loads it);
the stand-alone scripts are :mod:`collapse_jax.experiments.word_forgetting` and
:mod:`collapse_jax.experiments.monitor`.
"""

from __future__ import annotations

import functools

import numpy as np

from collapse_jax import datasets, regimes, theory
from collapse_jax.checks import fail
from collapse_jax.experiments.catalog import _spread, _zipf
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
from collapse_jax.monitor import STATISTICS, adaptive, collapse_monitor, monitored
from collapse_jax.wording import Wording

__all__: list[str] = []

_CLI = Wording("run", cli=True)  # the build's own calls (checked already)


# ---------------------------------------------------------------- word forgetting ---


class WordfreqMissing(ImportError, ValueError):  # noqa: N818 - an ImportError
    """wordfreq is not installed: an ImportError, and a ValueError so that the
    command line reports it like any other bad setting."""


_WF_FIELDS = (
    Field("source", "str", "wordfreq", "the truth: a language's word frequencies "
          "(wordfreq, `pip install 'collapse-jax[data]'`) or a synthetic Zipf law",
          choices=("wordfreq", "zipf")),
    Field("language", "str", "en", "wordfreq language code (source wordfreq), "
          "e.g. en, de, fr, ja", applies={"source": ("wordfreq",)}),
    Field("vocabulary", "int", 2000, "V: the V most frequent words (or Zipf "
          "ranks), renormalised", minimum=2, maximum=10**6),
    Field("zipf_exponent", "float", 1.0, "s of the synthetic truth p_k ∝ k^-s "
          "(source zipf)", minimum=0.0, maximum=10.0, applies={"source": ("zipf",)}),
    Field("sample_size", "ints", [1000, 10000], "M words drawn per generation; "
          "one point each", minimum=1, maximum=10**8),
    Field("sampler", "str", "samples", "'samples' (inverse-CDF draws, fast for "
          "large V) or 'sufficient' (multinomial counts, slow for large V)",
          choices=("samples", "sufficient")),
)


def _require_wordfreq(w=_CLI) -> None:
    try:
        import wordfreq  # noqa: F401
    except ImportError:
        missing = True
    else:
        missing = False
    if missing:
        fail(w.fn, w.field("source"),
             "'zipf' when the wordfreq package is not installed", "wordfreq",
             "Install it with `pip install 'collapse-jax[data]'` (or `pip install "
             "wordfreq`), or run the synthetic Zipf truth instead: "
             f"{w.field_value('source', 'zipf')}.", error=WordfreqMissing)


@functools.lru_cache(maxsize=16)
def _word_probs(vocabulary: int, language: str, w=_CLI) -> np.ndarray:
    """The truth from wordfreq (read-only; cached: check and build both need it)."""
    try:
        datasets.word_frequencies(1, language)
    except ValueError:
        import wordfreq

        known = sorted(wordfreq.available_languages())
        fail(w.fn, w.field("language"), "a language code wordfreq provides: "
             + ", ".join(known), language,
             f"Pass e.g. {w.field_value('language', 'en')}.")
    try:
        probs = datasets.word_frequencies(vocabulary, language).probs
    except ValueError:
        import wordfreq

        size = len(wordfreq.top_n_list(language, 10**7))
        fail(w.fn, w.field("vocabulary"),
             f"<= {size:,} (the size of wordfreq's list for {language!r})",
             vocabulary, f"Pass {w.field_value('vocabulary', size)} or less, or "
             f"{w.field_value('source', 'zipf')}.")
    probs = np.asarray(probs, np.float64)
    probs.setflags(write=False)
    return probs


def _wf_probs(cfg, w=_CLI) -> np.ndarray:
    v = cfg["vocabulary"]
    if cfg["source"] == "wordfreq":
        _require_wordfreq(w)
        return _word_probs(v, cfg["language"], w)
    return _zipf(v, cfg["zipf_exponent"])


def _wf_check(cfg, w):
    _wf_probs(cfg, w)  # wordfreq installed, the language known, V within its list


def _word_forgetting_design(cfg) -> Design:
    n_gen, v = cfg["num_generations"], cfg["vocabulary"]
    p0 = _wf_probs(cfg)
    family, init = categorical(v), categorical_params(p0)
    points, lost, support, gs = [], [], [], []
    for m in cfg["sample_size"]:
        points.append(Point(f"M={m}", {"sample_size": m}, family, init,
                            {"sample_size": m, "sampler": cfg["sampler"]}))
        # TT-3 (branching approximation) for n >= 1; support exact at n <= 1.
        lost.append(theory.curves.lost_mass_curve(p0, m, n_gen))
        support.append(theory.curves.expected_support_size_curve(p0, m, n_gen))
        gs.append(theory.curves.expected_gini_simpson_curve(p0, m, n_gen))
    if cfg["source"] == "wordfreq":
        truth = f"top {v:,} '{cfg['language']}' words (wordfreq)"
    else:
        truth = f"Zipf s = {cfg['zipf_exponent']:g} over {v:,} ranks"
    return Design(
        tuple(points),
        ("lost_mass", "support_size", "entropy", "gini_simpson", "tail_mass"),
        title=f"Word forgetting, {truth}",
        theory={
            "lost_mass": TheoryCurve(
                "E lost mass ≈ Σᵢ pᵢ exp(−M pᵢ (1 − qₙ₋₁)) (TT-3)", lost, "mean"),
            "support_size": TheoryCurve(
                "E support: exact at n ≤ 1 (WF-9), TT-3 approx. after", support,
                "mean"),
            "gini_simpson": TheoryCurve("E Hₙ = H₀ (1 − 1/M)ⁿ (WF-3)", gs, "mean"),
        },
        figures=(
            {"kind": "metric", "metric": "lost_mass", "name": "lost_mass"},
            {"kind": "metric", "metric": "support_size", "name": "support_size"},
            {"kind": "histogram", "metric": "support_size",
             "generations": _spread(n_gen, 1), "name": "support_size_histogram"},
            {"kind": "metric", "metric": "entropy", "name": "entropy"},
        ),
        log_metrics=("lost_mass", "support_size", "gini_simpson"),
        metric_labels={
            "lost_mass": "truth's mass on forgotten words",
            "support_size": "words with p > 0",
            "entropy": "entropy (nats)",
            "gini_simpson": "Gini–Simpson 1 − Σp²",
            "tail_mass": "model's mass on the truth's rarest 10 %",
        },
    )


register(Experiment(
    "word-forgetting",
    "Categorical chain on a language's top-V word frequencies: rare words are "
    "forgotten first (SU-1, TT-3)",
    _WF_FIELDS, _word_forgetting_design, _wf_check,
    details="Truth: the V most frequent words of --language (wordfreq, `pip install "
    "'collapse-jax[data]'`), renormalised, or --source zipf for p_k ∝ k^-s. Each "
    "generation refits the frequencies to M draws (replace). A word is forgotten "
    "once its probability is 0; the truth's mass on forgotten words follows TT-3 "
    "(Galton–Watson approximation), E Gini–Simpson WF-3 exactly.",
))
register_preset(Preset(
    "word-forgetting", "word-forgetting",
    "Forgetting of rare English words: lost mass and support over 150 generations "
    "at M = 1,000 and 10,000",
    {"source": "wordfreq", "language": "en", "vocabulary": 2000,
     "sample_size": [1000, 10000], "num_generations": 150, "num_chains": 64},
    full={"vocabulary": 10000, "sample_size": [10000, 100000],
          "num_generations": 500, "num_chains": 512},
    source="docs/theory.md SU-1, TT-3 (Dohmatob et al., A Tale of Tails), WF-3, WF-9",
))


# ---------------------------------------------------------------- monitor ---

_MON_FIELDS = (
    Field("points", "strs", ["replace", "adaptive"], "replace: monitored, alarms "
          "only; adaptive: real data injected while the alarm fires; one point each",
          choices=("replace", "adaptive")),
    Field("sample_size", "int", 100, "M draws per generation", minimum=2,
          maximum=10**7),
    Field("held_out", "int", 500, "held-out real points per chain (never fitted)",
          minimum=1, maximum=10**6),
    Field("level", "float", 0.01, "per-generation false-alarm level",
          minimum=1e-9, maximum=0.5),
    Field("statistic", "str", "coverage", "the monitor's test ('auto' is "
          "'coverage' for a Gaussian; 'tail' is for categoricals only)",
          choices=tuple(s for s in STATISTICS if s != "tail")),
    Field("alternative", "str", "two-sided", "'two-sided' (what adaptive needs to "
          "hold a chain near the truth) or 'collapse' (one-sided)",
          choices=("two-sided", "collapse")),
    Field("num_real", "int", 100, "real draws per injected fit (adaptive)",
          minimum=1, maximum=10**7, applies={"points": ("adaptive",)}),
)

_MON_METRICS = ("mean", "log_var", "w2_sq", "alarm", "monitor_pvalue",
                "monitor_stat")


def _monitor_design(cfg) -> Design:
    n_gen, m = cfg["num_generations"], cfg["sample_size"]
    # One monitor for both points: until the first alarm an adaptive chain is, bit
    # for bit, the replace chain with the same chain id (the monitor and the
    # injection use key streams of their own).
    mon = collapse_monitor(cfg["held_out"], level=cfg["level"],
                              statistic=cfg["statistic"],
                              alternative=cfg["alternative"])
    family, init = gaussian(), gaussian_params(0.0, 1.0)
    nan = np.full(n_gen + 1, np.nan)
    points, lv, w2 = [], [], []
    for name in cfg["points"]:
        regime = (monitored(regimes.replace(), mon) if name == "replace"
                  else adaptive(mon, cfg["num_real"]))
        points.append(Point(name, {"regime": name}, family, init,
                            {"sample_size": m, "sampler": "samples",
                             "regime": regime}))
        replace = name == "replace"
        lv.append(theory.curves.expected_log_variance_curve(m, n_gen)
                  if replace else nan)
        w2.append(theory.curves.expected_w2_sq_curve(m, n_gen) if replace else nan)
    return Design(
        tuple(points), _MON_METRICS,
        title=f"Monitored chain, M = {m} ({cfg['statistic']}, "
        f"{cfg['alternative']}, level {cfg['level']:g})",
        theory={"log_var": TheoryCurve("E log σ²ₙ, replace (GC-3)", lv, "mean"),
                "w2_sq": TheoryCurve("E W₂²ₙ, replace (SH-5, exact; heavy tail: the "
                                     "chains' mean falls short for n ≫ M)", w2,
                                     "mean")},
        figures=(
            {"kind": "metric", "metric": "log_var", "name": "log_var"},
            {"kind": "fraction", "metric": "alarm", "name": "alarm"},
            {"kind": "metric", "metric": "w2_sq", "name": "w2_sq"},
            {"kind": "histogram", "metric": "log_var",
             "generations": _spread(n_gen, 1), "name": "log_var_histogram"},
        ),
        log_metrics=("w2_sq",),
        metric_labels={"mean": "μₙ", "log_var": "log σ²ₙ",
                       "w2_sq": "W₂²(truth, model n)", "alarm": "alarm",
                       "monitor_pvalue": "monitor p-value",
                       "monitor_stat": "monitor statistic"},
    )


register(Experiment(
    "monitor",
    "A collapse monitor inside a Gaussian replace chain, and the adaptive regime "
    "that injects real data while it alarms",
    _MON_FIELDS, _monitor_design,
    details="Truth N(0, 1), refitted to M of its own draws. A monitor compares each "
    "model with held-out real points (per-generation false-alarm level under "
    "'model = truth'); 'replace' only records its alarms, 'adaptive' adds num_real "
    "fresh real draws to the next fit while the alarm fires "
    "(collapse_jax.monitor). Theory curves (GC-3, SH-5) are the replace chain's.",
))
register_preset(Preset(
    "monitor", "monitor",
    "Monitored replace vs adaptive Gaussian chains (M = 100, 500 held-out points, "
    "level 1 %): alarms, variance and W2 to the truth",
    {"num_generations": 300, "num_chains": 256},
    full={"num_generations": 1000, "num_chains": 4096},
    source="collapse_jax.monitor; docs/theory.md GC-3, SH-5",
))
