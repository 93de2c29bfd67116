"""Neural generation chains: flax networks trained by optax on the chain engine.

:func:`learned_family` builds a family from any flax NNX network (a fork puts its
own network in the chain the same way); :class:`Training` says how each
generation trains.
"""

from collapse_jax.neural.learned import NeuralParams, learned_family, network_weights
from collapse_jax.neural.train import START_MODES, Training, training

__all__ = [
    "NeuralParams",
    "START_MODES",
    "Training",
    "learned_family",
    "network_weights",
    "training",
]
