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
``source="all"`` (exact in :math:`O(n^2)`, :mod:`._web_all`), the stationary values
a constant ``s`` and ``source="newest"``; a generation
that keeps fewer items than the fit needs (1 for frequencies, 2 for a variance)
keeps its model, as the regime does. Proofs: ``proofs/wb-1-effective-share.md`` to
``proofs/wb-5-minority.md``; docs/theory.md §17.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from collapse_jax.checks import described, fail
from collapse_jax.theory._mixing_checks import _check_probs, _check_real
from collapse_jax.theory._schedule import (
    check_constant_size,
    check_estimator,
    check_int,
    check_positive_float,
)
from collapse_jax.theory._web_all import categorical_all, gaussian_all
from collapse_jax.theory._web_checks import _check_unit, _scalar_or_array

# A minority's loss has its own module; its names stay importable from here.
from collapse_jax.theory.minority_loss import (
    minority_mean_absorption_time,
    minority_mean_time_to_loss,
    minority_vanish_probability,
)
from collapse_jax.theory.stability_toy import stability_toy_path

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


def kept_fraction(
    synthetic_share: object, recall: object, false_positive_rate: object = 0.0
) -> float | np.ndarray:
    r"""The expected share of a generation's items that a detector keeps.

    An item is synthetic with probability ``s`` and then kept with probability
    ``1 - r``, or human and then kept with probability ``1 - f``:

    .. math:: \kappa = s(1-r) + (1-s)(1-f),

    the success probability of the kept count ``n ~ Binomial(M, κ)``.

    Args:
        synthetic_share: ``s`` in ``[0, 1]``, a number or an array.
        recall: ``r`` in ``[0, 1]``, a number or an array.
        false_positive_rate: ``f`` in ``[0, 1]``, a number or an array.

    Returns:
        :math:`\kappa` (broadcast over the arguments; a float for scalar input).

    Raises:
        ValueError: an argument outside ``[0, 1]``.
        TypeError: an argument that is not numeric.

    Examples:
        >>> round(kept_fraction(0.5, 0.8, 0.1), 12)
        0.55

    References:
        docs/theory.md WB-1; proof: ``proofs/wb-1-effective-share.md``.
    """
    caller = "kept_fraction"
    s = _check_unit(synthetic_share, "synthetic_share", caller, "a share of items")
    r = _check_unit(recall, "recall", caller, "the share of synthetic items flagged")
    f = _check_unit(
        false_positive_rate,
        "false_positive_rate",
        caller,
        "the share of human items flagged",
    )
    return _scalar_or_array(np.asarray(s * (1.0 - r) + (1.0 - s) * (1.0 - f)))


def effective_share(
    synthetic_share: object, recall: object, false_positive_rate: object = 0.0
) -> float | np.ndarray:
    r"""The synthetic share among the items that survive detection.

    An item is synthetic with probability ``s``; the detector keeps a synthetic item
    with probability ``1 - r`` and a human item with probability ``1 - f``, so a kept
    item is synthetic with probability

    .. math:: s_{\mathrm{eff}} = \frac{s(1-r)}{s(1-r) + (1-s)(1-f)}.

    This is the law of one kept item; the number of kept items out of ``M`` is
    Binomial(``M``, ``s(1-r) + (1-s)(1-f)``) and, given it, the synthetic count
    among them is Binomial with success probability ``s_eff`` (binomial thinning),
    so the composition of each fit is random (``proofs/wb-1-effective-share.md``).

    Args:
        synthetic_share: ``s`` in ``[0, 1]``, a number or an array.
        recall: ``r`` in ``[0, 1]``, a number or an array.
        false_positive_rate: ``f`` in ``[0, 1]``, a number or an array.

    Returns:
        ``s_eff`` (broadcast over the arguments; a float for scalar input). Where
        the detector keeps nothing (``s(1-r) + (1-s)(1-f) = 0``: ``s = r = 1``,
        ``s = 0`` with ``f = 1``, or ``r = f = 1``) no item survives and the share is
        undefined: NaN.

    Raises:
        ValueError: an argument outside ``[0, 1]``.
        TypeError: an argument that is not numeric.

    Examples:
        >>> round(effective_share(0.5, 0.9), 6)
        0.090909
        >>> effective_share(0.5, 0.0, 0.0)
        0.5

    References:
        docs/theory.md §11 WB-1; proof: ``proofs/wb-1-effective-share.md``.
    """
    caller = "effective_share"
    s = _check_unit(synthetic_share, "synthetic_share", caller, "a share of items")
    r = _check_unit(recall, "recall", caller, "the share of synthetic items flagged")
    f = _check_unit(
        false_positive_rate,
        "false_positive_rate",
        caller,
        "the share of human items flagged",
    )
    kept_synthetic = s * (1.0 - r)
    kept = kept_synthetic + (1.0 - s) * (1.0 - f)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(
            kept > 0.0, kept_synthetic / np.where(kept > 0, kept, 1.0), np.nan
        )
    return _scalar_or_array(np.asarray(out, dtype=np.float64))


# ------------------------------------------------------------- argument checks ---


def _check_scalar_unit(value: object, name: str, caller: str, what: str) -> float:
    out = _check_unit(value, name, caller, what)
    if out.ndim != 0:
        fail(
            caller,
            name,
            f"one number in [0, 1] ({what})",
            described(f"an array of shape {out.shape}"),
            "Pass one float; loop over values (or use effective_share, which "
            "broadcasts).",
        )
    return float(out)


def _web_args(synthetic_share, recall, false_positive_rate, caller):
    s = _check_scalar_unit(synthetic_share, "synthetic_share", caller, "a share")
    r = _check_scalar_unit(recall, "recall", caller, "synthetic items flagged")
    f = _check_scalar_unit(
        false_positive_rate, "false_positive_rate", caller, "human items flagged"
    )
    kept_synthetic = s * (1.0 - r)
    kept = kept_synthetic + (1.0 - s) * (1.0 - f)
    return kept_synthetic, kept


def _family(family: object, caller: str) -> str:
    if family not in _FAMILIES:
        fail(
            caller,
            "family",
            "'categorical' or 'gaussian'",
            described(repr(family)),
            f"Pass one of {_FAMILIES}.",
        )
    return family  # type: ignore[return-value]


_FAMILIES = ("categorical", "gaussian")
#: The fewest kept items a fit needs: one for frequencies, two for a variance.
_MIN_KEPT = {"categorical": 1, "gaussian": 2}


# ------------------------------------------------------------ the kept count ---


def _kept_law(m: int, kept: float, min_kept: int) -> tuple[float, float]:
    """``(P(n < min_kept), E[1/n | n >= min_kept])`` for ``n ~ Bin(m, kept)``."""
    counts = np.arange(min_kept, m + 1)
    pmf = binom.pmf(counts, m, kept)
    fit_prob = float(pmf.sum())
    if fit_prob <= 0.0:
        return 1.0, np.nan
    return max(0.0, 1.0 - fit_prob), float(np.sum(pmf / counts) / fit_prob)


def kept_count_moments(
    sample_size: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    min_kept: int = 1,
) -> tuple[float, float, float]:
    r"""The law of the number of items a detector keeps, as the web chains use it.

    Each of the ``M`` items is kept independently with probability
    :math:`\kappa = s(1-r) + (1-s)(1-f)`, so the kept count is
    :math:`n \sim \mathrm{Binomial}(M, \kappa)`; given ``n`` the kept items are i.i.d.
    draws of the mixture :math:`s_{\mathrm{eff}}\,P_t + (1-s_{\mathrm{eff}})P^*`
    (binomial thinning, ``proofs/wb-1-effective-share.md``). A generation with fewer
    than ``min_kept`` kept items cannot be fitted and keeps the previous model (the
    convention of these formulas; stationary values do not depend on it).

    Args:
        sample_size: ``M >= 1`` items per generation.
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        min_kept: the fewest kept items a fit needs (1 for frequencies, 2 for a
            variance).

    Returns:
        ``(kappa, skip, inv_mean)``: the keep probability :math:`\kappa`, the
        probability ``P(n < min_kept)`` that a generation keeps its model, and
        :math:`\nu = E[1/n \mid n \ge \mathrm{min\_kept}]` (NaN if no generation can
        be fitted).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> kappa, skip, nu = kept_count_moments(10, 0.5, 1.0)
        >>> kappa, round(skip, 6), round(nu, 4)
        (0.5, 0.000977, 0.2291)

    References:
        docs/theory.md WB-1; proof: ``proofs/wb-1-effective-share.md``.
    """
    caller = "kept_count_moments"
    m = check_constant_size(sample_size, caller, minimum=1)
    n0 = check_int(min_kept, "min_kept", caller, minimum=1)
    _, kept = _web_args(synthetic_share, recall, false_positive_rate, caller)
    skip, nu = _kept_law(m, kept, n0)
    return float(kept), skip, nu


def _setup(sample_size, synthetic_share, recall, false_positive_rate, fam, caller):
    """``(M, e, skip, nu)``: size, effective share, P(no fit), E[1/n | fit]."""
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    kept_synthetic, kept = _web_args(
        synthetic_share, recall, false_positive_rate, caller
    )
    skip, nu = _kept_law(m, kept, _MIN_KEPT[fam])
    e = kept_synthetic / kept if kept > 0.0 else np.nan
    return m, e, skip, nu


def _path_setup(sample_size, synthetic_share, recall, fpr, fam, gens, caller):
    """Per-fit ``(e_t, skip_t, nu_t)`` arrays of length ``gens``.

    ``synthetic_share`` is one number or a sequence of ``gens`` shares (``s_t`` for
    fit ``t``, as the regime's schedules give). A fit that can keep too few items
    (``nu_t`` NaN) keeps the model: ``skip_t = 1``.
    """
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    shares = _check_unit(synthetic_share, "synthetic_share", caller, "a share")
    if shares.ndim > 1 or (shares.ndim == 1 and shares.size != gens):
        fail(
            caller,
            "synthetic_share",
            f"one number or a sequence of num_generations={gens} shares (one per fit)",
            described(f"shape {shares.shape}"),
            "Pass one share per generation, or a number.",
        )
    per_fit = np.broadcast_to(shares, (gens,))
    cache: dict[float, tuple[float, float, float]] = {}
    out = np.empty((3, gens))
    for t, s in enumerate(per_fit):
        if float(s) not in cache:
            kept_synthetic, kept = _web_args(s, recall, fpr, caller)
            skip, nu = _kept_law(m, kept, _MIN_KEPT[fam])
            e = kept_synthetic / kept if kept > 0.0 else 0.0
            cache[float(s)] = (e, 1.0, 0.0) if np.isnan(nu) else (e, skip, nu)
        out[:, t] = cache[float(s)]
    return out[0], out[1], out[2]


_SOURCES = ("newest", "all")


def _source(source: object, moved: bool, init_name: str, caller: str) -> bool:
    """True for ``source="all"`` (checked: it needs the chain to start at the truth)."""
    if source not in _SOURCES:
        fail(
            caller,
            "source",
            "'newest' or 'all' (where the synthetic items come from)",
            described(repr(source)),
            f"Pass one of {_SOURCES}.",
        )
    if source == "all" and moved:
        fail(
            caller,
            init_name,
            "the default with source='all' (the chain starts at the truth, as the "
            "library's runs do)",
            described("a start away from the truth"),
            "Leave the start at its default, or use source='newest'.",
        )
    return source == "all"


# ----------------------------------------------------------------- categorical ---


def web_categorical_sq_error(
    probs,
    sample_size: int,
    num_generations: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    init_probs=None,
    source: str = "newest",
) -> np.ndarray:
    r"""Categorical chain under the web regime: exact :math:`E\lVert p_t - p^*\rVert^2`.

    Generation ``t`` fits the empirical frequencies of the ``n`` kept items, which
    given ``n`` are i.i.d. draws of :math:`q_t = e\,p_t + (1-e)p^*`
    (``e`` = :func:`effective_share`). With :math:`H = 1 - \lVert p^*\rVert^2`,
    :math:`\nu = E[1/n \mid n \ge 1]`, ``π = P(n = 0)`` (the model is kept),
    :math:`\rho = \pi + (1-\pi)e` and :math:`e_0 = p_0 - p^*`:

    .. math:: D_{t+1} = \pi D_t + (1-\pi)\bigl[e^2(1-\nu)D_t
       + \nu\bigl(H - 2e\rho^t\,p^*\cdot e_0\bigr)\bigr]

    (with a share schedule, per-fit ``e``, ``π``, ``ν`` and
    :math:`\rho^t \to \prod_{k<t}\rho_k`).

    Args:
        probs: ``(K,)`` truth :math:`p^*` (the human items' law).
        sample_size: ``M >= 1`` items per generation (before detection).
        num_generations: ``n >= 0``.
        synthetic_share: ``s`` in ``[0, 1]``, or a schedule: a sequence of
            ``num_generations`` shares, ``s_t`` for fit ``t`` (the recursion is
            per fit, with ``e``, ``π``, ``ν`` of that fit).
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        init_probs: ``(K,)`` :math:`p_0` (default :math:`p^*`).
        source: ``"newest"``, or ``"all"``: fit ``t >= 1`` draws each synthetic
            item from a uniformly chosen model among ``1 .. t``; exact in
            :math:`O(n^2)` through the Gram matrix of the deviations, from
            :math:`p_0 = p^*` only (``proofs/wb-2-categorical-web.md``, part 6).

    Returns:
        ``(n + 1,) float64`` array :math:`D_0, \dots, D_n` (constant :math:`D_0`
        when the detector keeps nothing).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> d = web_categorical_sq_error([0.5, 0.3, 0.2], 20, 100, 0.5, 0.5)
        >>> round(float(d[-1]), 5)
        0.04695

    References:
        docs/theory.md WB-2; proof: ``proofs/wb-2-categorical-web.md``.
    """
    caller = "web_categorical_sq_error"
    p = _check_probs(probs, "probs", caller)
    gens = check_int(num_generations, "num_generations", caller)
    p0 = p if init_probs is None else _check_probs(init_probs, "init_probs", caller)
    if p0.shape != p.shape:
        fail(
            caller,
            "init_probs",
            f"of shape {p.shape} like probs",
            described(f"shape {p0.shape}"),
            "Pass one probability per category.",
        )
    e, skip, nu = _path_setup(
        sample_size,
        synthetic_share,
        recall,
        false_positive_rate,
        "categorical",
        gens,
        caller,
    )
    all_past = _source(source, init_probs is not None, "init_probs", caller)
    h = 1.0 - float(p @ p)
    if all_past:
        return categorical_all(h, e, skip, nu, gens)
    e0 = p0 - p
    out = np.full(gens + 1, float(e0 @ e0))
    lin = float(p @ e0)  # p* . E e_t
    for t in range(gens):
        fitted = e[t] ** 2 * (1.0 - nu[t]) * out[t] + nu[t] * (h - 2.0 * e[t] * lin)
        out[t + 1] = skip[t] * out[t] + (1.0 - skip[t]) * fitted
        lin *= skip[t] + (1.0 - skip[t]) * e[t]
    return out


def web_categorical_stationary(
    probs,
    sample_size: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
) -> tuple[float, float]:
    r"""Stationary :math:`E\lVert p - p^*\rVert^2` and Gini–Simpson of the web chain.

    .. math:: D_\infty = \frac{\nu H}{1 - e^2(1 - \nu)},\qquad
       E\,G_\infty = H - D_\infty,

    the limit from every start when ``e < 1`` (:math:`E p_t \to p^*`), with
    :math:`\nu = E[1/n \mid n \ge 1]`, ``n ~ Binomial(M, κ)``. ``e = 0`` (all kept
    items human) gives :math:`\nu H` (``H/M`` with no detector: the all-human
    error); ``e = 1`` gives ``H``, the replace chain's absorption (SE-2r) from
    :math:`p_0 = p^*`. Web with
    a fixed composition (``(1-e)n`` human and ``en`` synthetic items) is SE-2's fresh
    chain with real fraction ``1 - e``; the random composition adds
    :math:`e(1-e)D_t/n` a generation (``proofs/wb-2-categorical-web.md``).

    Args:
        probs: ``(K,)`` truth :math:`p^*`.
        sample_size: ``M >= 1``.
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.

    Returns:
        ``(D_inf, G_inf)`` floats; NaN when the detector keeps nothing.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> d, g = web_categorical_stationary([0.5, 0.3, 0.2], 20, 0.5, 0.5)
        >>> round(d, 5), round(g, 5)
        (0.04695, 0.57305)

    References:
        docs/theory.md WB-2; proof: ``proofs/wb-2-categorical-web.md``.
    """
    caller = "web_categorical_stationary"
    p = _check_probs(probs, "probs", caller)
    _, e, _, nu = _setup(
        sample_size, synthetic_share, recall, false_positive_rate, "categorical", caller
    )
    h = 1.0 - float(p @ p)
    d = nu * h / (1.0 - e * e * (1.0 - nu))
    return float(d), float(h - d)


# -------------------------------------------------------------------- Gaussian ---


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
    synthetic_share: float,
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
        synthetic_share: ``s`` in ``[0, 1]``, or a sequence of ``num_generations``
            shares (``s_t`` for fit ``t``).
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
    if all_past:
        return gaussian_all(var, e, skip, nu, 1.0 if ddof == 1 else 1.0 - nu, gens)
    out = np.empty((gens + 1, 2))
    out[0] = (err0 * err0, v0)
    for t in range(gens):
        mat, forcing = _gauss_system(e[t], skip[t], nu[t], ddof, var)
        out[t + 1] = mat @ out[t] + forcing
    return out[:, 0], out[:, 1]


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


# ------------------------------------------------ against the all-human error ---


def _factor(fam, m, synthetic_share, recall, fpr, estimator, caller) -> float:
    if fam == "categorical":
        # D_inf is proportional to H: the factor does not depend on p*.
        d, _ = web_categorical_stationary([0.5, 0.5], m, synthetic_share, recall, fpr)
        return d / 0.5 * m
    err, _ = web_gaussian_stationary_moments(
        m, synthetic_share, recall, fpr, estimator=estimator
    )
    return err * m


def web_error_factor(
    sample_size: int,
    synthetic_share: float,
    recall: float = 0.0,
    false_positive_rate: float = 0.0,
    *,
    family: str = "categorical",
    estimator: str = "unbiased",
) -> float:
    r"""Stationary error of the web chain over the all-human error.

    The all-human error is that of a fit on ``M`` human items (``s = 0``, no
    detector): ``H/M`` for the categorical chain (:math:`E\lVert p - p^*\rVert^2`)
    and :math:`\sigma^2/M` for the Gaussian (:math:`E(\mu - \mu^*)^2`). The factor
    is :math:`M\nu/(1 - e^2(1-\nu))` (categorical) or
    :math:`M\nu/(1 - e^2 - \nu e)` (Gaussian, unbiased); to leading order in
    ``1/M`` with :math:`A = s(1-r)`, :math:`B = (1-s)(1-f)`, the categorical factor
    is :math:`(A + B)/(B(2A + B))`: it falls as ``A`` grows, so removing synthetic
    items (a higher recall) raises it, whereas false positives (a smaller ``B``)
    raise it too (``proofs/wb-4-detection.md``).

    Args:
        sample_size: ``M`` (>= 1 categorical, >= 2 Gaussian).
        synthetic_share: ``s`` in ``[0, 1]``.
        recall: ``r`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        family: ``"categorical"`` or ``"gaussian"``.
        estimator: the Gaussian refit, ``"unbiased"`` or ``"mle"``.

    Returns:
        The factor (>= 0; ``inf`` when the Gaussian has no stationary moments, NaN
        when nothing is kept).

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(web_error_factor(100, 0.5, 0.0), 4)
        1.3289
        >>> round(web_error_factor(100, 0.5, 1.0), 4)
        2.0206

    References:
        docs/theory.md WB-4; proof: ``proofs/wb-4-detection.md``.
    """
    caller = "web_error_factor"
    fam = _family(family, caller)
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    check_estimator(estimator, caller)
    return _factor(
        fam, m, synthetic_share, recall, false_positive_rate, estimator, caller
    )


def recall_needed(
    factor: float,
    sample_size: int,
    synthetic_share: float,
    false_positive_rate: float = 0.0,
    *,
    family: str = "categorical",
    estimator: str = "unbiased",
    grid: int = 2001,
) -> float:
    r"""The smallest recall that keeps the stationary error within ``factor`` of the
    all-human error.

    Solves :func:`web_error_factor` ``(r) <= factor`` for ``r`` in ``[0, 1]``: a
    scan on ``grid`` points, then a root refined by bisection between the
    last failing and the first passing point. The factor is not monotone in ``r``
    in general (``proofs/wb-4-detection.md``): in the categorical chain it rises
    with ``r`` (detection never helps the stationary squared error, so the answer
    is 0 or none); in the Gaussian chain it falls with ``r`` when few human items
    are kept (``M B < 1`` to leading order), where the synthetic items' resampling
    noise outweighs their information.

    Args:
        factor: ``c >= 1``, the allowed multiple of the all-human error.
        sample_size: ``M``.
        synthetic_share: ``s`` in ``[0, 1]``.
        false_positive_rate: ``f`` in ``[0, 1]``.
        family: ``"categorical"`` or ``"gaussian"``.
        estimator: the Gaussian refit, ``"unbiased"`` or ``"mle"``.
        grid: scan points (>= 2).

    Returns:
        The recall as a float; NaN when no recall in ``[0, 1]`` reaches the factor.

    Raises:
        ValueError: invalid arguments.

    Examples:
        >>> round(recall_needed(10.0, 10, 0.95, family="gaussian"), 4)
        0.9343
        >>> recall_needed(1.5, 100, 0.5)
        0.0

    References:
        docs/theory.md WB-4; proof: ``proofs/wb-4-detection.md``.
    """
    caller = "recall_needed"
    c = check_positive_float(factor, "factor", caller)
    if c < 1.0:
        fail(
            caller,
            "factor",
            ">= 1 (a multiple of the all-human error)",
            c,
            "Pass a factor >= 1.",
        )
    fam = _family(family, caller)
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    check_estimator(estimator, caller)
    points = check_int(grid, "grid", caller, minimum=2)
    s = _check_scalar_unit(synthetic_share, "synthetic_share", caller, "a share")
    f = _check_scalar_unit(
        false_positive_rate, "false_positive_rate", caller, "human items flagged"
    )

    def excess(r: float) -> float:
        value = _factor(fam, m, s, r, f, estimator, caller)
        return (np.inf if np.isnan(value) else value) - c  # NaN: nothing kept

    recalls = np.linspace(0.0, 1.0, points)
    values = np.array([excess(r) for r in recalls])
    passing = np.flatnonzero(values <= 0.0)
    if passing.size == 0:
        return np.nan
    first = int(passing[0])
    if first == 0:
        return 0.0
    # Bisection between the last failing and the first passing point: robust where
    # the factor is infinite (no stationary moments) on the failing side.
    lo, hi = float(recalls[first - 1]), float(recalls[first])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if excess(mid) <= 0.0:
            hi = mid
        else:
            lo = mid
    return hi
