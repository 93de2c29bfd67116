r"""The stability toy of Bertrand et al. (BE-2, docs/theory.md §11).

The infinite-sample map for a well-specified Gaussian family, its closed-form
iterates, the mean contraction :math:`\lambda/(1+\lambda)` and the paper's bound
:math:`\rho(\lambda)`, as exact host-side float64 formulas (NumPy). Proof:
``proofs/be-2-stability-toy.md``.
"""

from __future__ import annotations

import numpy as np

from collapse_jax.checks import fail
from collapse_jax.theory._mixing_checks import (
    _check_nonnegative,
    _check_real,
)
from collapse_jax.theory._schedule import (
    check_int,
    check_positive_float,
)

__all__ = [
    "stability_bound",
    "stability_toy_map",
    "stability_toy_path",
    "toy_mean_contraction",
]


def toy_mean_contraction(synthetic_ratio: float) -> float:
    r"""Mean contraction factor :math:`\lambda/(1+\lambda)` of the BE-2 toy map.

    Args:
        synthetic_ratio: :math:`\lambda \ge 0`, synthetic-to-real ratio.

    Returns:
        :math:`\lambda/(1+\lambda)` (always < 1).

    Raises:
        ValueError: ``synthetic_ratio`` negative or not finite.

    Examples:
        >>> toy_mean_contraction(0.25)
        0.2

    References:
        docs/theory.md BE-2; proof: ``proofs/be-2-stability-toy.md``.
    """
    lam = _check_nonnegative(synthetic_ratio, "synthetic_ratio", "toy_mean_contraction")
    return lam / (1.0 + lam)


def stability_bound(
    synthetic_ratio: float,
    *,
    epsilon: float = 0.0,
    lipschitz: float = 0.0,
    strong_concavity: float = 1.0,
) -> float:
    r"""Bertrand et al.'s contraction bound :math:`\rho(\lambda)` (BE-2).

    .. math:: \rho(\lambda) = \frac{\lambda(\alpha + \varepsilon L)}
       {\alpha - \lambda(\alpha + \varepsilon L)}
       \;\overset{\varepsilon = 0}{=}\; \frac{\lambda}{1 - \lambda},

    defined when :math:`\lambda(1 + L\varepsilon/\alpha) < 1/2` (then
    :math:`\rho < 1`). The form with :math:`\varepsilon > 0` is from the paper, not
    re-verified against the PDF (docs/theory.md §14 item 5).

    Args:
        synthetic_ratio: :math:`\lambda \ge 0`.
        epsilon: :math:`\varepsilon \ge 0`, distance of the best model to the data.
        lipschitz: :math:`L \ge 0`.
        strong_concavity: :math:`\alpha > 0`.

    Returns:
        :math:`\rho(\lambda)` as a float in ``[0, 1)``.

    Raises:
        ValueError: negative arguments, or the stability condition fails.

    Examples:
        >>> round(stability_bound(0.25), 6)
        0.333333

    References:
        docs/theory.md BE-2; proof: ``proofs/be-2-stability-toy.md``.
    """
    caller = "stability_bound"
    lam = _check_nonnegative(synthetic_ratio, "synthetic_ratio", caller)
    eps = _check_nonnegative(epsilon, "epsilon", caller)
    lip = _check_nonnegative(lipschitz, "lipschitz", caller)
    alpha = check_positive_float(strong_concavity, "strong_concavity", caller)
    kappa = alpha + eps * lip
    if lam * kappa / alpha >= 0.5:
        fail(
            caller,
            "synthetic_ratio",
            f"< 1/(2(1 + Lε/α)) = {alpha / (2 * kappa):.6g} for the bound to hold",
            lam,
            "The condition λ(1 + Lε/α) < 1/2 of BE-2 fails; pass a smaller ratio.",
        )
    return lam * kappa / (alpha - lam * kappa)


def stability_toy_map(
    mean: float,
    variance: float,
    synthetic_ratio: float,
    *,
    real_mean: float = 0.0,
    real_variance: float = 1.0,
) -> tuple[float, float]:
    r"""One step of the BE-2 toy map: the Gaussian fit of the real/model mixture.

    .. math:: \mu' = \frac{\mu^* + \lambda\mu}{1+\lambda},\qquad
       \sigma'^2 = \frac{\sigma^{*2} + \lambda\sigma^2}{1+\lambda}
       + \frac{\lambda(\mu - \mu^*)^2}{(1+\lambda)^2}.

    Args:
        mean: Current :math:`\mu`.
        variance: Current :math:`\sigma^2 > 0`.
        synthetic_ratio: :math:`\lambda \ge 0`.
        real_mean: :math:`\mu^*` of the data distribution.
        real_variance: :math:`\sigma^{*2} > 0`.

    Returns:
        ``(mean', variance')`` floats.

    Raises:
        ValueError: non-finite or out-of-range arguments.

    Examples:
        >>> stability_toy_map(3.0, 5.0, 1.0)
        (1.5, 5.25)

    References:
        docs/theory.md BE-1, BE-2; proof: ``proofs/be-2-stability-toy.md``.
    """
    caller = "stability_toy_map"
    mu = _check_real(mean, "mean", caller)
    var = check_positive_float(variance, "variance", caller)
    lam = _check_nonnegative(synthetic_ratio, "synthetic_ratio", caller)
    mu_s = _check_real(real_mean, "real_mean", caller)
    var_s = check_positive_float(real_variance, "real_variance", caller)
    w = 1.0 + lam
    return (
        (mu_s + lam * mu) / w,
        (var_s + lam * var) / w + lam * (mu - mu_s) ** 2 / w**2,
    )


def stability_toy_path(
    mean: float,
    variance: float,
    synthetic_ratio: float,
    num_generations: int,
    *,
    real_mean: float = 0.0,
    real_variance: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Iterates of the BE-2 toy map in closed form, ``t = 0..n``.

    With :math:`r = \lambda/(1+\lambda)`, :math:`e_0 = \mu_0 - \mu^*`:

    .. math:: \mu_t - \mu^* = r^t e_0,\qquad
       \sigma_t^2 - \sigma^{*2} = r^t(\sigma_0^2 - \sigma^{*2}) + r^t(1 - r^t)\,e_0^2.

    Args:
        mean: :math:`\mu_0`.
        variance: :math:`\sigma_0^2 > 0`.
        synthetic_ratio: :math:`\lambda \ge 0`.
        num_generations: ``n >= 0``.
        real_mean: :math:`\mu^*`.
        real_variance: :math:`\sigma^{*2} > 0`.

    Returns:
        ``(means, variances)``, two ``(n + 1,) float64`` arrays.

    Raises:
        ValueError: non-finite or out-of-range arguments.

    Examples:
        >>> m, v = stability_toy_path(3.0, 5.0, 1.0, 1)
        >>> float(m[1]), float(v[1])
        (1.5, 5.25)

    References:
        docs/theory.md BE-2; proof: ``proofs/be-2-stability-toy.md``.
    """
    caller = "stability_toy_path"
    mu = _check_real(mean, "mean", caller)
    var = check_positive_float(variance, "variance", caller)
    lam = _check_nonnegative(synthetic_ratio, "synthetic_ratio", caller)
    n = check_int(num_generations, "num_generations", caller)
    mu_s = _check_real(real_mean, "real_mean", caller)
    var_s = check_positive_float(real_variance, "real_variance", caller)
    r = lam / (1.0 + lam)
    rt = r ** np.arange(n + 1, dtype=np.float64)
    e0 = mu - mu_s
    return mu_s + rt * e0, var_s + rt * (var - var_s) + rt * (1.0 - rt) * e0**2
