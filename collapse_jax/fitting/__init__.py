"""Optimiser-based fitting: the functional-approximation error as a switch (SH-1).

* :func:`approximate` wraps a family into one fitted by a finite optax run (warm or
  fixed start, sgd / momentum / adam or any elementwise transformation).
* :func:`pseudo_data` is a biased objective with a closed form: regularisation
  towards a fixed reference model (proofs/sh-1c-approximation-pseudo-data.md).
* :func:`minimise` is the shared ``lax.scan`` optimiser loop.
"""

from collapse_jax.fitting.approximate import (
    MOMENTUM,
    OPTIMIZERS,
    STARTS,
    PseudoData,
    adam,
    approximate,
    pseudo_data,
)
from collapse_jax.fitting.train import minimise

__all__ = [
    "MOMENTUM",
    "OPTIMIZERS",
    "STARTS",
    "PseudoData",
    "adam",
    "approximate",
    "minimise",
    "pseudo_data",
]
