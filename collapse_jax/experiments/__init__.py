"""Named experiments and presets: the papers' figures, runnable by name.

:func:`experiments` and :func:`presets` list what ``collapse-jax list`` prints;
:func:`collapse_jax.run_experiment` and :func:`collapse_jax.reproduce` run them.
Research forks add their own with :func:`register` and :func:`register_preset`
(see :mod:`collapse_jax.experiments.core`). The modules ``gmm_collapse``,
``decomposition``, ``word_forgetting`` and ``monitor`` hold the experiments'
building blocks and stand-alone scripts.
"""

from collapse_jax.experiments.core import (
    SCALES,
    Design,
    Experiment,
    Field,
    Point,
    Preset,
    TheoryCurve,
    experiments,
    get_experiment,
    get_preset,
    presets,
    register,
    register_preset,
    resolve_config,
)

__all__ = [
    "SCALES",
    "Design",
    "Experiment",
    "Field",
    "Point",
    "Preset",
    "TheoryCurve",
    "experiments",
    "get_experiment",
    "get_preset",
    "presets",
    "register",
    "register_preset",
    "resolve_config",
]
