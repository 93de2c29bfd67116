"""The Gaussian-mixture params: type, public constructors, validation, mixture view.

The leaf of the gmm modules: ``gmm.py`` (the family), ``_gmm_em.py`` (EM) and
``_gmm_population.py`` (population fits) all build and read :class:`GmmParams`; it
lives here so that none of them imports another one back. ``gmm_params`` and
``gmm_weights_means_covs`` are re-exported by :mod:`collapse_jax.families.gmm`.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np

import jax

from collapse_jax.checks import as_float_array, described, fail
from collapse_jax.families.base import MixtureView

__all__ = ["GmmParams", "gmm_params", "gmm_weights_means_covs"]


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


def gmm_params(weights, means, covs) -> GmmParams:
    """Build :class:`GmmParams` from weights, means and covariances (host, float64).

    Args:
      weights: ``(k,)`` non-negative, finite, summing to 1 (within 1e-6; they are
        renormalised). A zero weight is a dead component.
      means: ``(k, d)`` component means.
      covs: ``(k, d, d)`` symmetric positive definite covariances. A 1-D mixture
        may be given by ``(k,)`` variances, with means ``(k,)`` or ``(k, 1)``.

    Returns:
      ``GmmParams`` of NumPy float64 arrays (``em_gain = 0``);
      :func:`~collapse_jax.run_chains` casts them to the run's dtype.

    Raises:
      ValueError: for non-finite entries, negative weights or weights not summing to
        1, mismatched shapes, or a covariance that is not symmetric positive definite.

    Examples:
      >>> p = gmm_params([0.3, 0.7], [[-2.0], [2.0]], [[[1.0]], [[0.5]]])
      >>> p.means.shape, np.round(np.exp(p.log_weights), 6).tolist()
      ((2, 1), [0.3, 0.7])
    """
    fn = "gmm_params"
    w = as_float_array(fn, "weights", weights)
    mu = as_float_array(fn, "means", means)
    cov = as_float_array(fn, "covs", covs)
    if w.ndim != 1 or w.shape[0] < 1:
        fail(fn, "weights", "a non-empty vector of shape (k,)", w, "Pass a 1-D array.")
    k = w.shape[0]
    if cov.ndim == 1:  # a 1-D mixture given by variances (and means (k,) or (k, 1))
        cov = cov[:, None, None]
        if mu.ndim == 1:
            mu = mu[:, None]
    if mu.ndim != 2 or mu.shape[0] != k:
        fail(
            fn,
            "means",
            f"an array of shape ({k}, d) matching weights of shape ({k},)",
            mu,
            "Pass one mean per component, means[j] of shape (d,).",
        )
    d = mu.shape[1]
    if d < 1:
        fail(fn, "means", "of shape (k, d) with d >= 1", mu, "Pass non-empty means.")
    if cov.shape != (k, d, d):
        fail(
            fn,
            "covs",
            f"an array of shape ({k}, {d}, {d}) matching means of shape ({k}, {d})",
            cov,
            "Pass one (d, d) covariance per component.",
        )
    for name, x in (("weights", w), ("means", mu), ("covs", cov)):
        if not np.all(np.isfinite(x)):
            fail(fn, name, "finite", x.tolist(), "Remove NaN or inf entries.")
    if np.any(w < 0):
        fail(fn, "weights", "non-negative", w.tolist(), "Clip or fix negative weights.")
    total = float(w.sum())
    if abs(total - 1.0) > 1e-6:
        fail(
            fn,
            "weights",
            "the weights of a mixture, summing to 1",
            described(f"weights summing to {total!r}"),
            "Divide by the sum (weights / weights.sum()).",
        )
    log_diag = np.empty((k, d))
    unit = np.empty((k, d, d))
    for j in range(k):
        c = cov[j]
        scale = max(float(np.max(np.abs(c))), np.finfo(np.float64).tiny)
        if not np.allclose(c, c.T, rtol=1e-6, atol=1e-9 * scale):
            fail(
                fn,
                f"covs[{j}]",
                "symmetric",
                c.tolist(),
                f"Pass (covs[{j}] + covs[{j}].T) / 2.",
            )
        try:
            chol = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            chol = None
        if chol is None or not np.all(np.diag(chol) > 0):
            eig = float(np.linalg.eigvalsh((c + c.T) / 2).min())
            fail(
                fn,
                f"covs[{j}]",
                "positive definite",
                described(f"a matrix with smallest eigenvalue {eig:g}"),
                "Pass covariances with strictly positive eigenvalues.",
            )
        diag = np.diag(chol)
        log_diag[j] = np.log(diag)
        unit[j] = chol / diag[None, :]
    with np.errstate(divide="ignore"):
        log_w = np.log(w / total)
    # NumPy on the host until cast_params; typed as the fields the compiled step sees.
    fields = (log_w, mu, log_diag, unit, np.zeros((), np.float64))
    return GmmParams(*cast("tuple[jax.Array, ...]", fields))


def gmm_weights_means_covs(
    params: GmmParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Natural parameters (weights, means, covariances) as NumPy arrays.

    Exponentiates at the edge; works on one model or on any leading batch axes
    (e.g. ``result.params`` of a run, ``(num_chains, num_generations + 1, ...)``).

    Returns:
      ``weights (..., k)``, ``means (..., k, d)``, ``covs (..., k, d, d)``.
    """
    w = np.exp(np.asarray(params.log_weights))
    s = np.asarray(params.chol_log_diag)
    chol = np.asarray(params.chol_unit_lower) * np.exp(s)[..., None, :]
    return w, np.asarray(params.means), chol @ np.swapaxes(chol, -1, -2)


# ---------------------------------------------------------------- pure functions ---


def _validate_params(fn, name, params, k, dim):
    if not isinstance(params, GmmParams):
        fail(
            fn,
            name,
            "GmmParams (from cj.gmm_params(weights, means, covs))",
            type(params).__name__,
            "Build the truth with cj.gmm_params.",
            error=TypeError,
        )
    shapes = tuple(np.shape(x) for x in params)
    expected = ((k,), (k, dim), (k, dim), (k, dim, dim), ())
    if shapes != expected:
        got_k = shapes[0][0] if shapes[0] else "?"
        got_d = shapes[1][1] if len(shapes[1]) == 2 else "?"
        fail(
            fn,
            name,
            f"parameters of a mixture of k={k} components in d={dim} dimensions "
            f"(shapes {expected})",
            described(f"shapes {shapes} (k={got_k}, d={got_d})"),
            f"Pass cj.gmm_params(weights, means, covs) with weights ({k},), means "
            f"({k}, {dim}) and covs ({k}, {dim}, {dim}), or use "
            f"cj.gmm({got_k}, dim={got_d}).",
        )
    lw = np.asarray(params.log_weights, np.float64)
    if np.any(np.isnan(lw)) or np.any(lw == np.inf):
        fail(
            fn,
            f"{name}.log_weights",
            "finite or -inf (a dead component)",
            lw.tolist(),
            "Build params with cj.gmm_params(weights, means, covs).",
        )
    live = lw > -np.inf
    if not np.any(live):
        fail(
            fn,
            f"{name}.log_weights",
            "the log weights of a mixture with at least one component",
            lw.tolist(),
            "Build params with cj.gmm_params(weights, means, covs).",
        )
    total = float(np.exp(lw[live]).sum())
    if abs(total - 1.0) > 1e-6:
        fail(
            fn,
            f"{name}.log_weights",
            "the log weights of a mixture, summing to 1 after exp",
            described(f"weights summing to {total!r}"),
            "Build params with cj.gmm_params(weights, means, covs).",
        )
    for field in ("means", "chol_log_diag", "chol_unit_lower"):
        x = np.asarray(getattr(params, field))
        if not np.all(np.isfinite(x[live])):
            fail(
                fn,
                f"{name}.{field}",
                "finite for every live component",
                x.tolist(),
                "Remove NaN or inf entries.",
            )
    unit = np.asarray(params.chol_unit_lower)[live]
    eye = np.eye(dim, dtype=bool)
    upper = np.triu(np.ones((dim, dim), bool), 1)
    if not (np.all(unit[:, eye] == 1) and np.all(unit[:, upper] == 0)):
        fail(
            fn,
            f"{name}.chol_unit_lower",
            "unit lower-triangular",
            unit.tolist(),
            "Build params with cj.gmm_params(weights, means, covs).",
        )
    if not np.all(np.isfinite(np.asarray(params.em_gain))):
        fail(
            fn,
            f"{name}.em_gain",
            "finite",
            np.asarray(params.em_gain).tolist(),
            "Build params with cj.gmm_params(weights, means, covs).",
        )
