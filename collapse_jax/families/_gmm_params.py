"""The Gaussian-mixture params type and its mixture view: the leaf of the gmm modules.

``gmm.py`` (the family), ``_gmm_em.py`` (EM) and ``_gmm_population.py`` (population
fits) all build and read :class:`GmmParams`; it lives here so that none of them
imports another one back.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from collapse_jax.families.base import MixtureView

__all__ = ["GmmParams"]


class GmmParams(NamedTuple):
    """Parameters of a k-component Gaussian mixture in d dimensions."""

    log_weights: jax.Array  # (k,) float, log mixture weights; -inf: a dead component
    means: jax.Array  # (k, d) float, component means
    chol_log_diag: jax.Array  # (k, d) float, log-diagonal of each Cholesky factor L_j
    chol_unit_lower: jax.Array  # (k, d, d) float, L_j diag(exp(-chol_log_diag_j))
    em_gain: jax.Array  # () float, mean log-likelihood gain per point of the last
    # EM iteration of the fit that produced these params (0 for a built truth)


def _view(params) -> MixtureView:
    return MixtureView(
        params.log_weights, params.means, params.chol_log_diag, params.chol_unit_lower
    )
