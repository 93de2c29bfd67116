r"""Closed forms for the linear-regression chain (docs/theory.md LR-0 to LR-6).

Setting (LR-0): ``y = x^T w* + eps``, ``eps ~ N(0, sigma^2)``, ``x in R^d``. Each
generation relabels a design ``X`` (``T x d``) with the current weights and refits
them by least squares. The test error is the excess risk with noise-free targets,
:math:`E_x (x^T\hat w - x^T w^*)^2 = \|\hat w - w^*\|_\Sigma^2`. Index ``n`` counts
fits (``n = 0`` is the truth, test error 0).

With :math:`e_i = X^+E_i \sim N(0, \sigma^2 (X^TX)^{-1})` i.i.d., the chain is
:math:`\hat w_n = w^* + \sum_{i\le n} e_i` (replace) or
:math:`w^* + \sum_{i\le n} e_i / i` (accumulate), and the inverse-Wishart mean
:math:`E (X^TX)^{-1} = \Sigma^{-1}/(T-d-1)` for Gaussian rows gives the unconditional
forms. Every function is a host-side float64 closed form (NumPy); the derivations are
in ``proofs/lr-*.md``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from collapse_jax.checks import described, fail

__all__ = [
    "fixed_design_chain",
    "expected_test_error_replace",
    "conditional_test_error_replace",
    "expected_test_error_accumulate",
    "conditional_test_error_accumulate",
    "accumulate_test_error_bound",
    "expected_test_error_steps",
    "expected_weights_overparameterised",
    "expected_test_error_overparameterised",
]

PI2_OVER_6 = math.pi**2 / 6  # sum_{i >= 1} 1/i^2, the accumulate bound (LR-2)


# ------------------------------------------------------------------ validation ---


def _int(fn: str, name: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool | np.bool_):
        fail(
            fn,
            name,
            f"an int >= {minimum}",
            described(f"{value!r} of type {type(value).__name__}"),
            "Pass an int.",
        )
    if value < minimum:
        fail(fn, name, f"an int >= {minimum}", int(value), f"Pass {name} >= {minimum}.")
    return int(value)


def _fits(fn: str, num_fits) -> np.ndarray:
    """``num_fits`` as a non-negative int64 array (scalar or 1-D)."""
    arr = np.asarray(num_fits)
    if arr.ndim > 1 or arr.dtype.kind not in "iu" or np.any(arr < 0):
        fail(
            fn,
            "num_fits",
            "a non-negative int or a 1-D array of them",
            num_fits,
            "Pass the number of fits n >= 0 (n = 0 is the truth).",
        )
    return arr.astype(np.int64)


def _out(arr: np.ndarray, scalar: bool):
    return float(arr) if scalar else arr


def _nonneg(fn: str, name: str, value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = None
    if out is None or not math.isfinite(out) or out < 0:
        fail(fn, name, "a finite number >= 0", value, f"Pass {name} >= 0.")
    return out


def _rows(fn: str, dim: int, num_rows: int) -> float:
    """``d / (T - d - 1)``, requiring ``T >= d + 2`` (a finite expectation)."""
    dim = _int(fn, "dim", dim, 1)
    num_rows = _int(fn, "num_rows", num_rows, 1)
    if num_rows < dim + 2:
        fail(
            fn,
            "num_rows",
            f">= dim + 2 = {dim + 2} (E (X^T X)^-1 is infinite for T <= d + 1)",
            num_rows,
            "Pass more rows, or condition on the design with the conditional_* "
            "functions.",
        )
    return dim / (num_rows - dim - 1)


def _design(fn: str, design) -> np.ndarray:
    try:
        x = np.asarray(design, np.float64)
    except (TypeError, ValueError):
        x = None
    if x is None or x.ndim != 2 or not np.all(np.isfinite(x)):
        fail(
            fn,
            "design",
            "a finite matrix of shape (T, d)",
            design,
            "Pass the fixed design X, one row per data point.",
        )
    if np.linalg.matrix_rank(x) < x.shape[1]:
        fail(
            fn,
            "design",
            f"of full column rank {x.shape[1]}",
            described(f"a design of rank {np.linalg.matrix_rank(x)}"),
            "Pass a design with linearly independent columns (T >= d).",
        )
    return x


def _feature_cov(fn: str, feature_cov, dim: int) -> np.ndarray:
    if feature_cov is None:
        return np.eye(dim)
    s = np.asarray(feature_cov, np.float64)
    if s.shape == (dim,):
        s = np.diag(s)
    ok = s.shape == (dim, dim) and np.all(np.isfinite(s)) and np.allclose(s, s.T)
    if not ok or np.linalg.eigvalsh((s + s.T) / 2).min() < 0:
        fail(
            fn,
            "feature_cov",
            f"None, {dim} variances, or a symmetric PSD ({dim}, {dim}) matrix",
            feature_cov,
            "Pass the feature covariance Sigma of the test error.",
        )
    return s


def _conditional_step(fn, design, noise_var, feature_cov) -> float:
    """``sigma^2 tr(Sigma (X^T X)^{-1})``: E ||e_i||_Sigma^2 given X."""
    x = _design(fn, design)
    s2 = _nonneg(fn, "noise_var", noise_var)
    sigma = _feature_cov(fn, feature_cov, x.shape[1])
    return s2 * float(np.trace(sigma @ np.linalg.inv(x.T @ x)))


def _inverse_square_sums(n: np.ndarray) -> np.ndarray:
    """``sum_{i=1}^{n} 1/i^2`` for each entry of ``n``."""
    top = int(n.max()) if n.size else 0
    cums = np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, top + 1) ** 2)))
    return cums[n]


# -------------------------------------------------------------------- LR-0 ---


def fixed_design_chain(weights, design, noise, regime: str = "replace") -> np.ndarray:
    r"""The fixed-design chain from its label noise, by the LR-0 identity.

    With :math:`e_i = X^+E_i`: replace :math:`\hat w_n = w^* + \sum_{i\le n} e_i`;
    accumulate (OLS on the stacked data) :math:`\hat w_n = w^* + \sum_{i\le n}
    e_i/i` (proofs/lr-0-identity.md). A deterministic float64 oracle for the
    library's chains under common random numbers.

    Args:
      weights: ``(d,)`` the truth ``w*``.
      design: ``(T, d)`` full-column-rank fixed design ``X``.
      noise: ``(n, T)`` the label noise ``E_i`` of fits ``1..n`` (already scaled
        by ``sigma``).
      regime: ``"replace"`` or ``"accumulate"``.

    Returns:
      ``(n + 1, d)`` float64 weights; row 0 is ``w*``.

    Examples:
      >>> x = np.eye(2)
      >>> fixed_design_chain([0.0, 0.0], x, [[1.0, 0.0], [1.0, 0.0]], "accumulate")
      array([[0. , 0. ],
             [1. , 0. ],
             [1.5, 0. ]])
    """
    fn = "fixed_design_chain"
    x = _design(fn, design)
    w = np.asarray(weights, np.float64)
    if w.shape != (x.shape[1],):
        fail(fn, "weights", f"of shape ({x.shape[1]},)", w, "Match the design.")
    e = np.asarray(noise, np.float64)
    if e.ndim != 2 or e.shape[1] != x.shape[0]:
        fail(
            fn,
            "noise",
            f"of shape (n, {x.shape[0]}): one noise vector per fit",
            e,
            "Pass the label noise of each fit as a row.",
        )
    if regime not in ("replace", "accumulate"):
        fail(
            fn,
            "regime",
            "'replace' or 'accumulate'",
            regime,
            "Pass one of the two.",
        )
    steps = np.linalg.lstsq(x, e.T, rcond=None)[0].T  # (n, d): e_i = X^+ E_i
    if regime == "accumulate":
        steps = steps / np.arange(1, e.shape[0] + 1, dtype=np.float64)[:, None]
    return np.concatenate([w[None, :], w[None, :] + np.cumsum(steps, axis=0)])


# -------------------------------------------------------------------- LR-1 ---


def expected_test_error_replace(num_fits, dim: int, num_rows: int, noise_var=1.0):
    r"""Replace chain: :math:`E\,\mathrm{err}_n = n\sigma^2 d/(T-d-1)` (LR-1).

    Gaussian rows ``N(0, Sigma)`` (any ``Sigma``), a fixed design averaged over its
    law or a fresh design every generation; the error is measured in the
    ``Sigma``-norm (proofs/lr-1-replace.md).

    Args:
      num_fits: ``n >= 0`` (int or 1-D int array).
      dim: ``d >= 1``.
      num_rows: ``T >= d + 2``.
      noise_var: ``sigma^2 >= 0``.

    Returns:
      float (or array for an array ``num_fits``).

    Examples:
      >>> expected_test_error_replace(10, 5, 20)
      3.5714285714285716
    """
    fn = "expected_test_error_replace"
    n = _fits(fn, num_fits)
    k = _rows(fn, dim, num_rows) * _nonneg(fn, "noise_var", noise_var)
    return _out(n * k, n.ndim == 0)


def conditional_test_error_replace(num_fits, design, noise_var=1.0, feature_cov=None):
    r"""Replace chain given the fixed design (LR-1, conditional form).

    :math:`E[\mathrm{err}_n \mid X] = n\sigma^2\operatorname{tr}(\Sigma(X^TX)^{-1})`:
    the LR-1 formula conditional on ``X`` (no Gaussian design needed, any ``T >=
    d``); proofs/lr-1-replace.md.

    Args:
      num_fits: ``n >= 0`` (int or 1-D int array).
      design: ``(T, d)`` full-column-rank design.
      noise_var: ``sigma^2 >= 0``.
      feature_cov: ``Sigma``: None (identity), ``(d,)`` variances or ``(d, d)``.

    Returns:
      float (or array).

    Examples:
      >>> conditional_test_error_replace(3, 2 * np.eye(2))
      1.5
    """
    fn = "conditional_test_error_replace"
    n = _fits(fn, num_fits)
    return _out(n * _conditional_step(fn, design, noise_var, feature_cov), n.ndim == 0)


# -------------------------------------------------------------------- LR-2 ---


def expected_test_error_accumulate(num_fits, dim: int, num_rows: int, noise_var=1.0):
    r"""Accumulate chain: the expected test error is bounded (LR-2).

    :math:`E\,\mathrm{err}_n = \sigma^2\frac{d}{T-d-1}\sum_{i\le n}i^{-2}`.
    Fixed Gaussian design (rows ``N(0, Sigma)``) reused every generation, OLS on all
    data so far; bounded by :func:`accumulate_test_error_bound`
    (proofs/lr-2-accumulate.md).

    Args:
      num_fits: ``n >= 0`` (int or 1-D int array).
      dim: ``d >= 1``.
      num_rows: ``T >= d + 2``.
      noise_var: ``sigma^2 >= 0``.

    Returns:
      float (or array).

    Examples:
      >>> round(expected_test_error_accumulate(2, 5, 20), 6)
      0.446429
    """
    fn = "expected_test_error_accumulate"
    n = _fits(fn, num_fits)
    k = _rows(fn, dim, num_rows) * _nonneg(fn, "noise_var", noise_var)
    return _out(k * _inverse_square_sums(n), n.ndim == 0)


def conditional_test_error_accumulate(
    num_fits, design, noise_var=1.0, feature_cov=None
):
    r"""Accumulate chain given the fixed design (LR-2, conditional form).

    :math:`E[\mathrm{err}_n \mid X] = \sigma^2\operatorname{tr}(\Sigma(X^TX)^{-1})
    \sum_{i\le n}i^{-2}` (proofs/lr-2-accumulate.md).

    Args:
      num_fits: ``n >= 0`` (int or 1-D int array).
      design: ``(T, d)`` full-column-rank design.
      noise_var: ``sigma^2 >= 0``.
      feature_cov: ``Sigma``: None (identity), ``(d,)`` variances or ``(d, d)``.

    Returns:
      float (or array).

    Examples:
      >>> conditional_test_error_accumulate(2, np.eye(2))
      2.5
    """
    fn = "conditional_test_error_accumulate"
    n = _fits(fn, num_fits)
    step = _conditional_step(fn, design, noise_var, feature_cov)
    return _out(step * _inverse_square_sums(n), n.ndim == 0)


def accumulate_test_error_bound(first_error: float) -> float:
    r"""The LR-2 bound :math:`(\pi^2/6)\times` the first model's expected error.

    ``sum_{i >= 1} 1/i^2 = pi^2/6``, so the accumulate chain's expected test error is
    at most about 1.645 times that of the model fitted to real data alone, for every
    ``n`` (proofs/lr-2-accumulate.md). Pass the first model's error, e.g.
    ``expected_test_error_replace(1, d, T, s2)`` or the conditional form.

    Examples:
      >>> round(accumulate_test_error_bound(1.0), 6)
      1.644934
    """
    return PI2_OVER_6 * _nonneg(
        "accumulate_test_error_bound", "first_error", first_error
    )


# -------------------------------------------------------------------- LR-5 ---


def expected_test_error_steps(dim: int, num_rows, noise_var) -> float:
    r"""Sum over label-generation steps: :math:`\sum_i \sigma_i^2 d/(T_i-d-1)` (LR-5).

    A chain whose step ``i`` fits ``T_i`` fresh Gaussian rows labelled by the
    previous model with noise ``sigma_i^2`` (the last step being the downstream fit)
    has this expected test error: the steps are independent, zero-mean and add
    (proofs/lr-5-two-noise-levels.md). With ``n`` generator steps ``(T_0,
    sigma_0^2)`` and one downstream step ``(T, sigma^2)`` it is Dohmatob et al.'s
    ``sigma^2 d/(T-d-1) + n sigma_0^2 d/(T_0-d-1)``.

    Args:
      dim: ``d >= 1``.
      num_rows: ``(k,)`` rows ``T_i >= d + 2`` of each step (or one int).
      noise_var: ``(k,)`` noise variances ``sigma_i^2 >= 0`` (or one number).

    Returns:
      float.

    Examples:
      >>> expected_test_error_steps(4, [10, 10, 10, 16], [0.5, 0.5, 0.5, 1.0])
      1.563636363636364
    """
    fn = "expected_test_error_steps"
    rows = np.atleast_1d(np.asarray(num_rows))
    var = np.atleast_1d(np.asarray(noise_var, np.float64))
    if rows.ndim != 1 or var.ndim != 1:
        fail(fn, "num_rows", "1-D (one entry per step)", rows, "Pass a 1-D list.")
    if rows.size == 1 and var.size > 1:
        rows = np.full(var.shape, rows[0])
    if var.size == 1 and rows.size > 1:
        var = np.full(rows.shape, var[0])
    if rows.shape != var.shape:
        fail(
            fn,
            "noise_var",
            f"one entry per step ({rows.size})",
            described(f"{var.size} entries"),
            "Pass num_rows and noise_var of equal length.",
        )
    total = 0.0
    for t, s2 in zip(rows.tolist(), var.tolist(), strict=True):
        total += _nonneg(fn, "noise_var", s2) * _rows(fn, dim, t)
    return float(total)


# -------------------------------------------------------------------- LR-6 ---


def _overparameterised(fn, dim, num_rows) -> float:
    dim = _int(fn, "dim", dim, 2)
    num_rows = _int(fn, "num_rows", num_rows, 1)
    if num_rows >= dim:
        fail(
            fn,
            "num_rows",
            f"< dim = {dim} (the over-parameterised case d > T)",
            num_rows,
            "Pass fewer rows than features; with T >= d the min-norm fit is OLS.",
        )
    return num_rows / dim


def expected_weights_overparameterised(num_fits, weights, num_rows: int):
    r"""Noise-free min-norm chain, fresh isotropic design: the mean weights (LR-6).

    :math:`E\hat w_n = (T/d)^n w^*`. Each fit projects the previous weights on the
    row space of a fresh ``T x d``
    Gaussian design, a uniformly random ``T``-dimensional subspace with
    :math:`E P = (T/d) I` (proofs/lr-6-overparameterised.md).

    Args:
      num_fits: ``n >= 0`` (int or 1-D int array).
      weights: ``(d,)`` the truth ``w*``.
      num_rows: ``T < d``.

    Returns:
      ``(d,)`` array (``(len(num_fits), d)`` for an array ``num_fits``).

    Examples:
      >>> expected_weights_overparameterised(2, [1.0, 0.0, 0.0, 0.0], 2)
      array([0.25, 0.  , 0.  , 0.  ])
    """
    fn = "expected_weights_overparameterised"
    w = np.asarray(weights, np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)):
        fail(fn, "weights", "a finite vector of shape (d,)", w, "Pass w*.")
    n = _fits(fn, num_fits)
    r = _overparameterised(fn, w.shape[0], num_rows)
    factor = r ** n.astype(np.float64)
    return factor[..., None] * w


def expected_test_error_overparameterised(
    num_fits, dim: int, num_rows: int, weight_norm_sq=1.0
):
    r""":math:`E\|\hat w_n - w^*\|^2 = \|w^*\|^2(1 - (T/d)^n)` (LR-6).

    Noise-free labels, min-norm interpolation, a fresh isotropic Gaussian design of
    ``T < d`` rows every generation: the chain collapses exponentially fast to the
    zero predictor, whose error is ``||w*||^2`` (proofs/lr-6-overparameterised.md).

    Args:
      num_fits: ``n >= 0`` (int or 1-D int array).
      dim: ``d``.
      num_rows: ``T < d``.
      weight_norm_sq: ``||w*||^2 >= 0``.

    Returns:
      float (or array).

    Examples:
      >>> expected_test_error_overparameterised(1, 20, 8)
      0.6
    """
    fn = "expected_test_error_overparameterised"
    n = _fits(fn, num_fits)
    r = _overparameterised(fn, dim, num_rows)
    norm = _nonneg(fn, "weight_norm_sq", weight_norm_sq)
    return _out(norm * (1.0 - r ** n.astype(np.float64)), n.ndim == 0)
