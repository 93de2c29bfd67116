"""The VAE experiment on real digits: collapse of a neural chain, and its remedies.

``vae-digits`` runs :func:`collapse_jax.vae` (a small VAE pre-trained on
scikit-learn's 1,797 real 8x8 digits as generation 0; every generation trained on
images decoded from the previous generation's prior samples) under the regimes
named in ``--points``: ``replace`` (the paper's setting), ``retain_original``
(``--real-fraction`` of the original data kept, the paper's 10 %), ``accumulate``
and ``fresh`` (``round(real_fraction * sample_size)`` fresh real digits every
generation). Figures: the latent spread of generated images under the generation-0
encoder and the class-coverage entropy per generation (chains and band), the
held-out negative ELBO, and digit grids per generation. Registered with the preset
``vae-digits`` on import.
"""

from __future__ import annotations

from collapse_jax import regimes
from collapse_jax.checks import fail
from collapse_jax.experiments.catalog import _spread
from collapse_jax.experiments.core import (
    Design,
    Experiment,
    Field,
    Point,
    Preset,
    register,
    register_preset,
)
from collapse_jax.wording import Wording

__all__: list[str] = []

_POINTS = ("replace", "retain_original", "accumulate", "fresh")

_FIELDS = (
    Field("points", "strs", ["replace", "retain_original"], "regimes, one point "
          "each: replace; retain_original (real_fraction of the original data "
          "kept); accumulate; fresh (real_fraction * sample_size fresh real digits "
          "a generation)", choices=_POINTS),
    Field("real_fraction", "float", 0.1, "share of real data kept "
          "(retain_original) or added fresh (fresh)", minimum=0.0, maximum=1.0),
    Field("sample_size", "int", 1437, "images per generation (1437: the size of "
          "the real training split)", minimum=2, maximum=10**7),
    Field("latent_dim", "int", 4, "latent dimensions of the VAE", minimum=1,
          maximum=1024),
    Field("hidden", "int", 64, "hidden units of the encoder and decoder",
          minimum=1, maximum=65536),
    Field("steps", "int", 1000, "Adam steps per generation (batch 64)", minimum=1,
          maximum=10**7),
    Field("start", "str", "scratch", "where each generation's training starts "
          "(scratch: the paper's)", choices=("scratch", "generation0", "previous")),
    Field("ewc", "float", 0.0, "elastic weight consolidation strength towards "
          "generation 0 (0: off)", minimum=0.0, maximum=1e9),
    Field("pretrain_steps", "int", 3000, "generation 0's pre-training steps on the "
          "real digits (cached on disk)", minimum=1, maximum=10**7),
    # Neural chains are costly: smaller defaults than the common fields'.
    Field("num_chains", "int", 4, "independent chains per sweep point (trained "
          "together under vmap)", minimum=1, maximum=2**31 - 1),
    Field("num_generations", "int", 8, "fits per chain (generation 0 is the truth)",
          minimum=1, maximum=10**7),
)

_METRIC_LABELS = {
    "held_out_nll": "−ELBO of held-out real digits (nats)",
    "held_out_elbo": "ELBO of held-out real digits (nats)",
    "latent_spread": "spread of latent means (generation-0 encoder)",
    "class_entropy": "class-coverage entropy (nats; log 10 = 2.30)",
    "class_shares": "share of each digit class",
    "sample_grid": "generated digits",
}


def _check(cfg, w: Wording) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        from collapse_jax.neural.digits import ScikitLearnMissing

        fail(w.fn, "experiment", "one whose data are installed: 'vae-digits' reads "
             "scikit-learn's digits", "vae-digits",
             "Install them with `pip install 'collapse-jax[digits]'` (or `pip "
             "install scikit-learn`).", error=ScikitLearnMissing)
    if "fresh" in cfg["points"] and round(cfg["real_fraction"]
                                          * cfg["sample_size"]) < 1:
        fail(w.fn, w.field("real_fraction"), "large enough for one fresh real "
             "image a generation (real_fraction * sample_size >= 0.5)",
             cfg["real_fraction"], f"Pass e.g. {w.field_value('real_fraction', 0.1)}.")


def _regime(name: str, cfg):
    f, m = cfg["real_fraction"], cfg["sample_size"]
    if name == "replace":
        return regimes.replace()
    if name == "retain_original":
        return regimes.retain_original(f)
    if name == "accumulate":
        return regimes.accumulate()
    return regimes.fresh(max(1, round(f * m)))


def _design(cfg) -> Design:
    from collapse_jax.neural.vae import VAE_METRICS, vae, vae_training

    fam = vae(latent_dim=cfg["latent_dim"], hidden=cfg["hidden"],
              pretrain_steps=cfg["pretrain_steps"],
              training=vae_training(steps=cfg["steps"], start=cfg["start"],
                                    ewc=cfg["ewc"]))
    assert fam.generation0 is not None  # a learned family carries its truth
    points = tuple(
        Point(name, {"regime": name}, fam, fam.generation0(),
              {"sample_size": cfg["sample_size"],
               "regime": _regime(name, cfg)})
        for name in cfg["points"]
    )
    n_gen = cfg["num_generations"]
    # Every generation up to 10, else a spread of them: rows of the digit grid.
    grids = list(range(n_gen + 1)) if n_gen <= 10 else sorted(
        set(_spread(n_gen, 0)) | {1, 2, n_gen // 4})
    return Design(
        points, VAE_METRICS,
        title=f"VAE on real digits (latent {cfg['latent_dim']}, {cfg['steps']} "
        f"steps from {cfg['start']}, M = {cfg['sample_size']})",
        figures=(
            {"kind": "metric", "metric": "latent_spread", "name": "latent_spread"},
            {"kind": "metric", "metric": "class_entropy", "name": "class_entropy"},
            {"kind": "metric", "metric": "held_out_nll", "name": "held_out_nll"},
            {"kind": "image_grid", "metric": "sample_grid", "generations": grids,
             "name": "digit_grid"},
        ),
        metric_labels=_METRIC_LABELS,
    )


register(Experiment(
    "vae-digits",
    "A VAE refitted to its own decoded prior samples on real 8x8 digits: latent "
    "spread and class coverage collapse; real data kept slow it",
    _FIELDS, _design, _check,
    details="Generation 0: a VAE (MLP encoder/decoder, Bernoulli likelihood) "
    "pre-trained on scikit-learn's 1,797 real handwritten digits (`pip install "
    "'collapse-jax[digits]'`), cached on disk. Each generation trains on the "
    "previous one's decoded prior samples; metrics: held-out ELBO, spread of latent "
    "means under the generation-0 encoder, class shares and entropy by a logistic "
    "regression trained once on real digits, digit grids "
    "(collapse_jax.neural.vae). Shumailov et al. (2024), the VAE experiment.",
))
register_preset(Preset(
    "vae-digits", "vae-digits",
    "VAE on real digits: replace vs 10 % original data kept vs accumulate, latent "
    "spread, class entropy and digit grids per generation",
    {"points": ["replace", "retain_original", "accumulate"], "num_generations": 8,
     "num_chains": 4},
    full={"num_generations": 20, "num_chains": 64, "steps": 3000},
    source="Shumailov et al., Nature 2024 (VAE on MNIST, Fig. 'VAE'); "
    "collapse_jax.neural.vae",
))
