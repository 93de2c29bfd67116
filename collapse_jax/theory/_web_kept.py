r"""What a detector keeps (WB-1): the kept share, the kept count and its law.

An item is synthetic with probability ``s`` and human otherwise; a detector flags a
synthetic item with probability ``r`` (recall) and a human item with probability
``f`` (false-positive rate), and the flagged items are dropped. The public names are
re-exported by :mod:`collapse_jax.theory.web`; the private helpers give the web
chains (:mod:`._web_categorical`, :mod:`._web_gaussian`) the per-fit law of the
kept count, vectorised over a share schedule. Proof:
``proofs/wb-1-effective-share.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from collapse_jax.checks import described, fail
from collapse_jax.regimes._shares import ShareSchedule, share_values, share_vector
from collapse_jax.theory._schedule import check_constant_size, check_int
from collapse_jax.theory._web_checks import (
    _MIN_KEPT,
    _check_detector,
    _check_unit,
    _scalar_or_array,
    _web_args,
)

#: float64 entries per block of a (distinct shares x kept counts) pmf: 32 MiB.
_BLOCK_ELEMENTS = 2**22


def _unit_arrays(synthetic_share, recall, false_positive_rate, caller: str):
    """``(s, r, f)`` as float64 arrays in ``[0, 1]`` (they broadcast), or the error."""
    return (
        _check_unit(synthetic_share, "synthetic_share", caller, "a share of items"),
        _check_unit(recall, "recall", caller, "the share of synthetic items flagged"),
        _check_unit(
            false_positive_rate,
            "false_positive_rate",
            caller,
            "the share of human items flagged",
        ),
    )


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
    s, r, f = _unit_arrays(synthetic_share, recall, false_positive_rate, caller)
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
    s, r, f = _unit_arrays(synthetic_share, recall, false_positive_rate, caller)
    kept_synthetic = s * (1.0 - r)
    kept = kept_synthetic + (1.0 - s) * (1.0 - f)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(
            kept > 0.0, kept_synthetic / np.where(kept > 0, kept, 1.0), np.nan
        )
    return _scalar_or_array(np.asarray(out, dtype=np.float64))


# ------------------------------------------------------------ the kept count ---


def _kept_laws(m: int, kept: np.ndarray, min_kept: int):
    """``(P(n < min_kept), E[1/n | n >= min_kept])`` for ``n ~ Bin(m, kept)``.

    Vectorised over the keep probabilities ``kept`` (one pmf row each, in blocks of
    at most ``_BLOCK_ELEMENTS`` entries); NaN ``nu`` where no fit is possible.
    """
    kept = np.asarray(kept, np.float64)
    flat = kept.ravel()
    counts = np.arange(min_kept, m + 1)
    skip, nu = np.empty(flat.size), np.empty(flat.size)
    rows = max(1, _BLOCK_ELEMENTS // counts.size)
    for lo in range(0, flat.size, rows):
        pmf = binom.pmf(counts, m, flat[lo : lo + rows, None])
        fit_prob = pmf.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            nu_block = np.sum(pmf / counts, axis=1) / fit_prob
        skip[lo : lo + rows] = np.maximum(0.0, 1.0 - fit_prob)
        nu[lo : lo + rows] = np.where(fit_prob > 0.0, nu_block, np.nan)
    skip = np.where(np.isnan(nu), 1.0, skip)
    return skip.reshape(kept.shape), nu.reshape(kept.shape)


def _kept_law(m: int, kept: float, min_kept: int) -> tuple[float, float]:
    """:func:`_kept_laws` for one keep probability, as floats."""
    skip, nu = _kept_laws(m, np.asarray(kept), min_kept)
    return float(skip), float(nu)


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

    ``synthetic_share`` is one number, a sequence of ``gens`` shares (``s_t`` for
    fit ``t``) or a :class:`~collapse_jax.regimes.web.ShareSchedule`. The kept
    count's law is computed once per distinct share, all at once. A fit that can
    keep too few items (``nu_t`` NaN) keeps the model: ``skip_t = 1``,
    ``nu_t = 0``; one that keeps nothing has ``e_t = 0``.
    """
    m = check_constant_size(sample_size, caller, minimum=_MIN_KEPT[fam])
    if isinstance(synthetic_share, ShareSchedule):
        # The regime's schedule at the run's fits 0 .. gens - 1, as inside the chain
        # (share_at): the same object gives the run and its exact curve.
        vector = share_vector(caller, "synthetic_share", synthetic_share)
        synthetic_share = share_values(vector, gens)
    shares = _check_unit(synthetic_share, "synthetic_share", caller, "a share")
    if shares.ndim > 1 or (shares.ndim == 1 and shares.size != gens):
        fail(
            caller,
            "synthetic_share",
            f"one number or a sequence of num_generations={gens} shares (one per fit)",
            described(f"shape {shares.shape}"),
            "Pass one share per generation, or a number.",
        )
    r, f = _check_detector(recall, fpr, caller)
    unique, inverse = np.unique(np.broadcast_to(shares, (gens,)), return_inverse=True)
    kept_synthetic = unique * (1.0 - r)
    kept = kept_synthetic + (1.0 - unique) * (1.0 - f)
    skip, nu = _kept_laws(m, kept, _MIN_KEPT[fam])
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(kept > 0.0, kept_synthetic / np.where(kept > 0, kept, 1.0), 0.0)
    nu = np.where(np.isnan(nu), 0.0, nu)
    return e[inverse], skip[inverse], nu[inverse]
