"""Named experiments and presets: the papers' figures, runnable by name.

:func:`experiments` and :func:`presets` list what ``collapse-jax list`` prints;
:func:`collapse_jax.run_experiment` and :func:`collapse_jax.reproduce` run them.
Research forks add their own with :func:`register` and :func:`register_preset`
(see :mod:`collapse_jax.experiments.core`), or from their own package through the
entry-point group ``collapse_jax.experiments`` (:mod:`collapse_jax.plugins`). The
built-in ``catalog`` and ``catalog_more`` register on import, here: adding a
catalog module is one name in the import below. The modules ``gmm_collapse``,
``decomposition``, ``word_forgetting`` and ``monitor`` hold the experiments'
building blocks and stand-alone scripts.
"""

# The built-in catalogs register their experiments and presets on import.
from collapse_jax.experiments import (  # noqa: F401
    bayes_learners,
    catalog,
    catalog_more,
    neural_lm,
    neural_vae,
    web,
)
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
