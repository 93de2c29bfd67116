"""The log-Cholesky parameter layouts of a Gaussian and of a Gaussian mixture.

A leaf: plain NamedTuples of arrays, importing nothing of collapse_jax, so the
families (which build them) and :mod:`collapse_jax.metrics` (which measures them) both
sit above it without an import circle. The public names are
:class:`collapse_jax.GaussianParams` (also ``collapse_jax.families.gaussian``) and
:class:`collapse_jax.families.base.MixtureView`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

__all__ = ["GaussianParams", "MixtureView"]


class GaussianParams(NamedTuple):
    """Parameters of a d-dimensional Gaussian, ``Sigma = L L^T``."""

    mean: jax.Array  # (d,) float, the mean
    chol_log_diag: jax.Array  # (d,) float, log of the diagonal of the Cholesky factor L
    chol_unit_lower: jax.Array  # (d, d) float, L diag(exp(-chol_log_diag)): unit lower


class MixtureView(NamedTuple):
    """A continuous model seen as a Gaussian mixture (one component for a Gaussian).

    The common currency of cross-family metrics (``collapse_jax.metrics``): the
    closed-form L2 distance between mixtures and the W2 distance between
    moment-matched Gaussians. Covariances use the same log-Cholesky layout as
    :class:`~collapse_jax.GaussianParams`: ``Sigma_j = L_j L_j^T`` with
    ``L_j = U_j diag(exp(s_j))``.
    """

    log_weights: jax.Array  # (k,) log mixture weights (-inf for a dead component)
    means: jax.Array  # (k, d)
    chol_log_diag: jax.Array  # (k, d)
    chol_unit_lower: jax.Array  # (k, d, d)
