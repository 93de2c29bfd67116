r"""The 1-D Gaussian chain under the web regime (WB-3): exact moments.

Re-exported by :mod:`collapse_jax.theory.web`. Proof:
``proofs/wb-3-gaussian-web.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from collapse_jax.theory._mixing_checks import _check_real
from collapse_jax.theory._schedule import (
    check_estimator,
    check_int,
    check_positive_float,
)
from collapse_jax.theory._web_checks import _source, _web_args
from collapse_jax.theory._web_kept import _path_setup, _setup
from collapse_jax.theory._web_paths import gaussian_all, gaussian_newest
from collapse_jax.theory.stability_toy import stability_toy_path


def _gauss_system(e, skip, nu, ddof, var):
    """``x_{t+1} = A x_t + c`` for ``x = (E(mu_t - mu*)^2, E sigma_t^2)``.

    ``Z = (1-e)var + e v + e(1-e) E`` is the expected variance of the kept items'
    mixture; a fit gives ``E' = e^2 E + nu Z`` and ``v' = c Z`` with
    ``c = E[(n-1)/(n-ddof)] = 1 - ddof' nu`` (1 unbiased, ``1 - nu`` MLE).
    """
    c = 1.0 if ddof == 1 else 1.0 - nu
    z_row = np.array([e * (1.0 - e), e])
    fitted = np.array([[e * e, 0.0], [0.0, 0.0]]) + np.outer([nu, c], z_row)
    mat = skip * np.eye(2) + (1.0 - skip) * fitted
    forcing = (1.0 - skip) * (1.0 - e) * var * np.array([nu, c])
    return mat, forcing


def _gauss_args(sample_size, synthetic_share, recall, fpr, variance, estimator, caller):
    ddof = check_estimator(estimator, caller)
    var = check_positive_float(variance, "variance", caller)
    _, e, skip, nu = _setup(
        sample_size, synthetic_share, recall, fpr, "gaussian", caller
    )
    return e, skip, nu, ddof, var


def web_gaussian_moments(
    sample_size: int,
    num_generations: int,
    synthetic_share: ArrayLike,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    variance: float = 1.0,
    init_mean_error: float = 0.0,
    init_variance: float | None = None,
    estimator: str = "unbiased",
    source: str = "newest",
) -> tuple[np.ndarray, np.ndarray]:
    r"""1-D Gaussian chain under the web regime: exact mean error and variance.

    Given ``n >= 2`` kept items, they are i.i.d. draws of the mixture
    :math:`e\,N(\mu_t, \sigma_t^2) + (1-e)N(\mu^*, \sigma^2)`, whose variance is
    :math:`Z_t = (1-e)\sigma^2 + e\sigma_t^2 + e(1-e)(\mu_t - \mu^*)^2`. With
    :math:`E_t = E(\mu_t - \mu^*)^2`, :math:`v_t = E\sigma_t^2`,
    :math:`\nu = E[1/n \mid n \ge 2]`, ``π = P(n < 2)`` (the model is kept) and
    ``c = 1`` (unbiased) or :math:`1 - \nu` (MLE):

    .. math:: E_{t+1} = \pi E_t + (1-\pi)\bigl(e^2E_t + \nu\,EZ_t\bigr),\qquad
       v_{t+1} = \pi v_t + (1-\pi)\,c\,EZ_t.

    Args:
        sample_size: ``M >= 2`` items per generation (before detection).
        num_generations: ``n >= 0``.
        synthetic_share: ``s`` in ``[0, 1]``, a sequence of ``num_generations``
            shares (``s_t`` for fit ``t``), or the regime's own
            :func:`~collapse_jax.linear_share` / :func:`~collapse_jax.logistic_share`.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        variance: truth :math:`\sigma^2 > 0`.
        init_mean_error: :math:`\mu_0 - \mu^*`.
        init_variance: :math:`\sigma_0^2` (default the truth's).
        estimator: ``"unbiased"`` or ``"mle"``.
        source: ``"newest"``, or ``"all"`` (synthetic items from a uniformly
            chosen model among ``1 .. t``; exact in :math:`O(n^2)`, from the truth
            only: ``proofs/wb-3-gaussian-web.md``, part 7).

    Returns:
        ``(E(mu_t - mu*)^2, E sigma_t^2)``, two ``(n + 1,) float64`` arrays
        (constant when no generation keeps two items).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> err, v = web_gaussian_moments(20, 200, 0.5, 0.5)
        >>> round(float(err[-1]), 5), round(float(v[-1]), 5)
        (0.07836, 1.02612)

    References:
        docs/theory.md WB-3; proof: ``proofs/wb-3-gaussian-web.md``.
    """
    caller = "web_gaussian_moments"
    ddof = check_estimator(estimator, caller)
    var = check_positive_float(variance, "variance", caller)
    gens = check_int(num_generations, "num_generations", caller)
    e, skip, nu = _path_setup(
        sample_size,
        synthetic_share,
        recall,
        false_positive_rate,
        "gaussian",
        gens,
        caller,
    )
    err0 = _check_real(init_mean_error, "init_mean_error", caller)
    v0 = (
        var
        if init_variance is None
        else check_positive_float(init_variance, "init_variance", caller)
    )
    moved = err0 != 0.0 or init_variance is not None
    all_past = _source(source, moved, "init_mean_error", caller)
    c = np.ones_like(nu) if ddof == 1 else 1.0 - nu
    if all_past:
        return gaussian_all(var, e, skip, nu, c)
    return gaussian_newest(var, (err0 * err0, v0), e, skip, nu, c)


def web_gaussian_stationary_moments(
    sample_size: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    variance: float = 1.0,
    estimator: str = "unbiased",
) -> tuple[float, float]:
    r"""Limit of :func:`web_gaussian_moments`, or ``inf`` where there is none.

    Unbiased refit: :math:`v_\infty = \sigma^2 + eE_\infty` (the variance is
    inflated, not collapsed, in mean) and

    .. math:: E_\infty = \frac{\nu\sigma^2}{1 - e^2 - \nu e},

    finite if and only if :math:`e^2 + \nu e < 1`. Past that threshold (``e`` near
    1: few human items kept) the second moments grow without bound, as in the
    replace chain (``e = 1``, GC-5); ``(inf, inf)`` is returned. MLE refit: the
    fixed point of the same 2×2 recursion with ``c = 1 - ν``. ``e = 0``: a fit on
    human items only, :math:`E_\infty = \nu\sigma^2` (``σ²/M`` with no detector).

    Args:
        sample_size: ``M >= 2``.
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        variance: truth :math:`\sigma^2 > 0`.
        estimator: ``"unbiased"`` or ``"mle"``.

    Returns:
        ``(E_inf, v_inf)`` floats: ``inf`` when the recursion does not contract,
        NaN when no generation keeps two items.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> err, v = web_gaussian_stationary_moments(20, 0.5, 0.5)
        >>> round(err, 5), round(v, 5)
        (0.07836, 1.02612)

    References:
        docs/theory.md WB-3; proof: ``proofs/wb-3-gaussian-web.md``.
    """
    caller = "web_gaussian_stationary_moments"
    e, _, nu, ddof, var = _gauss_args(
        sample_size,
        synthetic_share,
        recall,
        false_positive_rate,
        variance,
        estimator,
        caller,
    )
    if not np.isfinite(nu):
        return np.nan, np.nan
    # The stationary point does not depend on P(n < 2) (skip = 0 here); the
    # recursion is a non-negative matrix, so it contracts iff its Perron root < 1.
    mat, forcing = _gauss_system(e, 0.0, nu, ddof, var)
    if float(np.max(np.abs(np.linalg.eigvals(mat)))) >= 1.0:
        return np.inf, np.inf
    x = np.linalg.solve(np.eye(2) - mat, forcing)
    return float(x[0]), float(x[1])


def web_population_path(
    init_mean: float,
    init_variance: float,
    num_generations: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    mean: float = 0.0,
    variance: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The web regime's population limit (``M = ∞``), 1-D Gaussian: BE-2's toy map.

    With infinitely many items the kept items' law is the mixture
    :math:`e\,N(\mu_t, \sigma_t^2) + (1-e)N(\mu^*, \sigma^2)` and the fit is its
    moment match, which is BE-2's toy map with synthetic-to-real ratio
    :math:`\lambda = e/(1-e)` (:func:`~collapse_jax.theory.mixing.stability_toy_path`):
    the mean error contracts by ``e`` a generation and the fixed point is the truth
    for every ``e < 1``.

    Args:
        init_mean: :math:`\mu_0`.
        init_variance: :math:`\sigma_0^2 > 0`.
        num_generations: ``n >= 0``.
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        mean: truth :math:`\mu^*`.
        variance: truth :math:`\sigma^2 > 0`.

    Returns:
        ``(means, variances)``, two ``(n + 1,) float64`` arrays (constant when
        ``e = 1``: the model reproduces itself; NaN when nothing is kept).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> m, v = web_population_path(1.0, 2.0, 2, 0.5, 0.0)
        >>> [round(float(x), 4) for x in m], [round(float(x), 4) for x in v]
        ([1.0, 0.5, 0.25], [2.0, 1.75, 1.4375])

    References:
        docs/theory.md WB-3, BE-2; proof: ``proofs/wb-3-gaussian-web.md``.
    """
    caller = "web_population_path"
    kept_synthetic, kept = _web_args(
        synthetic_share, recall, false_positive_rate, caller
    )
    gens = check_int(num_generations, "num_generations", caller)
    mu0 = _check_real(init_mean, "init_mean", caller)
    v0 = check_positive_float(init_variance, "init_variance", caller)
    mu_star = _check_real(mean, "mean", caller)
    var = check_positive_float(variance, "variance", caller)
    if kept <= 0.0:
        return np.full(gens + 1, np.nan), np.full(gens + 1, np.nan)
    if kept_synthetic >= kept:  # e = 1: the model refits to itself
        return np.full(gens + 1, mu0), np.full(gens + 1, v0)
    ratio = kept_synthetic / (kept - kept_synthetic)  # lambda = e / (1 - e)
    return stability_toy_path(
        mu0, v0, ratio, gens, real_mean=mu_star, real_variance=var
    )
