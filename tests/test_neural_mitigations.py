"""Mitigations of collapse measured on the neural chain of real digits (the VAE).

Each test runs the VAE chain (generation 0 pre-trained on scikit-learn's real
digits and cached; every generation trained on the previous generation's decoded
prior samples) under replace and under one mitigation, with the same chain ids
(common random numbers), and checks the direction: the spread of the generated
images' latent means under the generation-0 encoder (the paper's VAE metric),
averaged over generations 1..n, is larger with the mitigation, by more than K
standard errors of the chain-paired difference (tests/helpers.py: K from the
suite's false-failure budget; the SE from the independent chains' spread).

The mitigations: keeping 10 % of the original data (Shumailov et al.),
accumulating every generation's data (Gerstgrasser et al.), fresh real data every
generation (Alemohammad et al.), and an elastic weight consolidation penalty
towards generation 0 (Kirkpatrick et al.; Fisher diagonal from real data). The
change of architecture between generations is tested with
:func:`collapse_jax.run_stages` in tests/test_neural_learned.py.

Every run trains 4 chains x 5 generations x 1,000 Adam steps: ``slow``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

pytest.importorskip("sklearn")

import collapse_jax as cj  # noqa: E402
from tests.test_neural_vae import assert_exceeds  # noqa: E402

pytestmark = pytest.mark.slow

SEED = 5
RUN = dict(key=SEED, num_chains=4, num_generations=5, sample_size=1437)
METRIC = "latent_spread"


@functools.cache
def _run(name: str):
    """The runs the tests compare, each once per session."""
    if name.startswith("finetune"):  # EWC and its baseline fine-tune generation 0
        ewc = float(name.split(":")[1])
        fam = cj.vae(training=cj.vae_training(start="generation0", ewc=ewc))
        regime = cj.replace()
    else:
        fam = cj.vae()
        regime = {
            "replace": cj.replace(),
            "retain": cj.retain_original(0.1),
            "accumulate": cj.accumulate(),
            "fresh": cj.fresh(144),  # 10 % of the 1,437 real training digits
        }[name]
    res = cj.run_chains(fam, fam.generation0(), regime=regime, **RUN)
    return np.asarray(res.metrics[METRIC])


def _summary(values):
    """Per chain: the metric averaged over the trained generations 1..n."""
    return values[:, 1:].mean(axis=1)


def test_replace_collapses():
    rep = _run("replace")
    assert_exceeds(rep[:, 1], rep[:, -1], what="latent spread falls under replace",
                   seed=SEED)


@pytest.mark.parametrize("mitigation", ["retain", "accumulate", "fresh"])
def test_real_data_mitigations_keep_more_spread(mitigation):
    assert_exceeds(_summary(_run(mitigation)), _summary(_run("replace")),
                   what=f"latent spread: {mitigation} above replace", seed=SEED)


def test_accumulate_beats_keeping_ten_percent():
    # Accumulation keeps every real point and every generation's data: the
    # strongest of the three (Gerstgrasser et al.'s bounded error).
    assert_exceeds(_summary(_run("accumulate")), _summary(_run("retain")),
                   what="latent spread: accumulate above retain_original(0.1)",
                   seed=SEED)


def test_ewc_towards_generation0_keeps_more_spread():
    assert_exceeds(_summary(_run("finetune:30")), _summary(_run("finetune:0")),
                   what="latent spread: EWC(30) above plain fine-tuning", seed=SEED)
