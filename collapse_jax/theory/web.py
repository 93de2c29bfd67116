r"""Closed forms for the web regime: a synthetic share and detection.

The web regime (``cj.web``) trains generation ``t`` on ``M`` items, each synthetic
(drawn from the previous model) with probability ``s`` and human (a fresh draw from
the truth) otherwise; a detector flags each synthetic item with probability ``r``
(recall) and each human item with probability ``f`` (false-positive rate), and the
flagged items get weight 0 before the fit. Host-side float64 formulas (NumPy/SciPy):

* what a detector keeps (WB-1): :func:`effective_share`, :func:`kept_fraction`,
  :func:`kept_count_moments`;
* the categorical chain (WB-2): :func:`web_categorical_sq_error`,
  :func:`web_categorical_stationary`;
* the 1-D Gaussian chain (WB-3): :func:`web_gaussian_moments`,
  :func:`web_gaussian_stationary_moments`, :func:`web_population_path`;
* against the all-human error (WB-4): :func:`web_error_factor`,
  :func:`recall_needed`;
* a minority's loss (WB-5), re-exported from
  :mod:`collapse_jax.theory.minority_loss`.

Constant ``r``, ``f``, ``M``; the paths take a share schedule ``s_t`` and
``source="all"``, the stationary values a constant ``s`` and ``source="newest"``.
Each path is one vectorised call over its generations (the moment recursions of
:mod:`._web_paths`, scanned by recursive doubling; ``source="all"`` in O(n) through
three sums of the deviations' Gram matrix); a generation
that keeps fewer items than the fit needs (1 for frequencies, 2 for a variance)
keeps its model, as the regime does. Proofs: ``proofs/wb-1-effective-share.md`` to
``proofs/wb-5-minority.md``; docs/theory.md §17.
"""

from __future__ import annotations

# The web regime's closed forms live in one private module per concept; this
# module is their public home (``collapse_jax.theory.web.X``).
from collapse_jax.theory._web_categorical import (
    web_categorical_sq_error,
    web_categorical_stationary,
)
from collapse_jax.theory._web_factor import recall_needed, web_error_factor
from collapse_jax.theory._web_gaussian import (
    web_gaussian_moments,
    web_gaussian_stationary_moments,
    web_population_path,
)
from collapse_jax.theory._web_kept import (
    effective_share,
    kept_count_moments,
    kept_fraction,
)

# A minority's loss has its own module; its names stay importable from here.
from collapse_jax.theory.minority_loss import (
    minority_mean_absorption_time,
    minority_mean_time_to_loss,
    minority_vanish_probability,
)

__all__ = [
    "effective_share",
    "kept_count_moments",
    "kept_fraction",
    "minority_mean_absorption_time",
    "minority_mean_time_to_loss",
    "minority_vanish_probability",
    "recall_needed",
    "web_categorical_sq_error",
    "web_categorical_stationary",
    "web_error_factor",
    "web_gaussian_moments",
    "web_gaussian_stationary_moments",
    "web_population_path",
]
