r"""Closed forms for the population limit and the expressivity error (SH-1).

With ``sample_size=None`` (M = ∞) a chain is a deterministic map of the previous
model: the population fit, the best model of the fitted class for the previous
model's exact distribution: the maximiser of E_p log q over the class (the M → ∞
limit of maximum likelihood; the minimiser of KL(p ‖ q) when p has a density), or,
for a class of distributions on k categories where every q has E_p log q = −∞, the
minimiser of the reverse divergence KL(q ‖ p). Two facts follow
(proofs/sh-1a-population-limit.md and proofs/sh-1b-expressivity.md):

* **Well-specified, exact fit** (the truth is in the class): the truth is its own
  best fit, so every generation equals the truth.
* **Expressivity only** (the truth is outside the class, fit exact): generation 1
  is the projection of the truth onto the class; it is in the class, so it is its
  own best fit, and every later generation equals generation 1. The error acts
  once.

The projections implemented here (NumPy, float64, host side) are the oracles the
tests and ``collapse-jax verify`` compare with: a Gaussian fitted to a Gaussian
mixture or to a categorical on numeric values is the moment match; a categorical
restricted to ``k`` categories keeps the ``k`` most probable categories and
renormalises.
"""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import described, fail
from collapse_jax.theory._schedule import check_int

__all__ = [
    "moment_match_mixture",
    "moment_match_categorical",
    "top_k_projection",
    "top_k_tv_to_truth",
    "top_k_kl_to_truth",
]


def _as_array(value, name, caller, ndim):
    try:
        x = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(caller, name, "numbers", described(repr(value)), "Pass floats.")
    if x.ndim != ndim:
        fail(
            caller,
            name,
            f"an array with {ndim} dimension(s)",
            described(f"shape {x.shape}"),
            "Check the layout in the docstring.",
        )
    if not np.all(np.isfinite(x)):
        fail(caller, name, "finite", x.tolist(), "Remove NaN or inf entries.")
    return x


def _check_weights(w, caller):
    if np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-6:
        fail(
            caller,
            "weights",
            "non-negative weights summing to 1",
            w.tolist(),
            "Divide by the sum (weights / weights.sum()).",
        )


def moment_match_mixture(weights, means, covs) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and covariance of a Gaussian mixture: the best Gaussian for it.

    :math:`m = \sum_j w_j \mu_j`,
    :math:`S = \sum_j w_j (\Sigma_j + (\mu_j - m)(\mu_j - m)^\top)`.
    Among Gaussians, :math:`\mathrm{KL}(p \,\|\, \mathcal N(m, S))` is least at these
    moments (proofs/sh-1b-expressivity.md).

    Args:
      weights: ``(k,)`` mixture weights summing to 1.
      means: ``(k, d)`` component means.
      covs: ``(k, d, d)`` component covariances.

    Returns:
      ``(mean (d,), cov (d, d))``.

    Examples:
      >>> m, s = moment_match_mixture([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
      >>> float(m[0]), float(s[0, 0])
      (0.0, 2.0)
    """
    fn = "moment_match_mixture"
    w = _as_array(weights, "weights", fn, 1)
    mu = _as_array(means, "means", fn, 2)
    cov = _as_array(covs, "covs", fn, 3)
    _check_weights(w, fn)
    k, d = mu.shape
    if w.shape != (k,) or cov.shape != (k, d, d):
        fail(
            fn,
            "covs",
            f"shapes weights ({k},), means ({k}, {d}), covs ({k}, {d}, {d})",
            described(f"weights {w.shape}, means {mu.shape}, covs {cov.shape}"),
            "Pass one weight, mean and covariance per component.",
        )
    m = w @ mu
    dev = mu - m[None, :]
    s = np.einsum("j,jab->ab", w, cov) + np.einsum("j,ja,jb->ab", w, dev, dev)
    return m, s


def moment_match_categorical(probs, support=None) -> tuple[float, float]:
    r"""Mean and variance of a categorical on numeric values: its best Gaussian.

    Args:
      probs: ``(K,)`` probabilities summing to 1.
      support: ``(K,)`` values of the categories (default ``0 .. K-1``).

    Returns:
      ``(mean, variance)`` as floats.

    Examples:
      >>> moment_match_categorical([0.5, 0.5])
      (0.5, 0.25)

    References:
      docs/theory.md SH-1; proof: ``proofs/sh-1b-expressivity.md``.
    """
    fn = "moment_match_categorical"
    p = _as_array(probs, "probs", fn, 1)
    _check_weights(p, fn)
    x = np.arange(p.size, dtype=np.float64) if support is None else support
    x = _as_array(x, "support", fn, 1)
    if x.shape != p.shape:
        fail(
            fn,
            "support",
            f"{p.size} values, one per category",
            described(f"shape {x.shape}"),
            "Pass one value per category.",
        )
    m = float(p @ x)
    return m, float(p @ (x - m) ** 2)


def top_k_projection(probs, k: int) -> np.ndarray:
    r"""The best distribution on at most ``k`` categories for ``probs``.

    Keeps the ``k`` most probable categories (ties to the lower index) and
    renormalises: this minimises the reverse divergence KL(q ‖ p) = −log p(A) over
    distributions supported on ``k`` categories (the forward KL(p ‖ q) is infinite
    for every such q when p has more categories; proofs/sh-1b-expressivity.md). A
    distribution already supported on ``k`` categories or fewer is returned
    unchanged.

    Examples:
      >>> top_k_projection([0.1, 0.6, 0.3], 2).round(6).tolist()
      [0.0, 0.666667, 0.333333]
    """
    fn = "top_k_projection"
    p = _as_array(probs, "probs", fn, 1)
    _check_weights(p, fn)
    k = check_int(k, "k", fn, minimum=1)
    if np.count_nonzero(p) <= k:
        return p.copy()
    order = np.argsort(-p, kind="stable")[:k]
    q = np.zeros_like(p)
    q[order] = p[order]
    return q / q.sum()


def top_k_tv_to_truth(probs, k: int) -> float:
    r"""Total variation between ``probs`` and its top-``k`` projection: ``1 - S``.

    ``S`` is the mass of the kept categories: the projection moves ``1 - S`` of
    mass from the dropped categories onto the kept ones.

    Examples:
      >>> round(top_k_tv_to_truth([0.1, 0.6, 0.3], 2), 12)
      0.1

    References:
      docs/theory.md SH-1; proof: ``proofs/sh-1b-expressivity.md``.
    """
    q = top_k_projection(probs, k)
    p = np.asarray(probs, dtype=np.float64)
    return float(1.0 - p[q > 0].sum())


def top_k_kl_to_truth(probs, k: int) -> float:
    r"""``KL(p ‖ q)`` for the top-``k`` projection ``q`` of ``p``: infinite.

    The projection puts zero mass where ``p`` has mass, so the forward KL is
    infinite unless ``p`` already lies in the class (then 0); the reverse
    ``KL(q ‖ p) = -log S`` is finite. Returned: the reverse divergence.

    Examples:
      >>> round(top_k_kl_to_truth([0.1, 0.6, 0.3], 2), 12)
      0.105360515658

    References:
      docs/theory.md SH-1; proof: ``proofs/sh-1b-expressivity.md``.
    """
    q = top_k_projection(probs, k)
    p = np.asarray(probs, dtype=np.float64)
    return float(-np.log(p[q > 0].sum()))
