"""Neural generation chains: flax networks trained by optax on the chain engine.

:func:`learned_family` builds a family from any flax NNX network (a fork puts its
own network in the chain the same way); :class:`Training` says how each
generation trains; :func:`run_stages` changes the architecture between
generations.
"""

from collapse_jax.neural.learned import NeuralParams, learned_family, network_weights
from collapse_jax.neural.stages import run_stages
from collapse_jax.neural.train import SCHEDULES, START_MODES, Training, training

__all__ = [
    "NeuralParams",
    "SCHEDULES",
    "START_MODES",
    "Training",
    "learned_family",
    "network_weights",
    "run_stages",
    "training",
]
