r"""The linear-regression family: the supervised chain of docs/theory.md LR-0.

A model is a linear-Gaussian conditional law ``y | x ~ N(x^T w, noise_sd^2)`` and a
data point is a row ``(x, y)`` of shape ``(dim + 1,)``. Each generation relabels a
design with the current weights and refits the weights by weighted least squares:

* ``design="fixed"``: the rows of one fixed design ``X`` (``params.design``, shape
  ``(num_rows, dim)``, carried unchanged from fit to fit) get fresh labels
  ``Y = X w + noise_sd * eps`` (Gerstgrasser et al., Dohmatob et al.; LR-0).
  ``sample(key, params, n)`` relabels the first ``n <= num_rows`` rows; the chain
  runner's ``sample_size`` must equal ``num_rows``.
* ``design="fresh"``: every generation draws a new design with i.i.d. rows
  ``x ~ N(0, Sigma)``, ``Sigma = diag(feature_scale^2)`` (isotropic by default).

Fits (frequency weights, weight 0 masks a row out):

* ``"ols"``: ``w = (X^T W X)^{-1} X^T W y``;
* ``"ridge"``: the penalty is on the weighted *mean* squared error,
  ``min_w sum_i W_i (y_i - x_i^T w)^2 / sum_i W_i + ridge * ||w||^2``, i.e.
  ``(X^T W X + ridge * sum_i W_i * I) w = X^T W y``. It is invariant to the scale of
  the weights, so a fit to the accumulated data (``n`` copies of the design) has the
  same per-point penalty as a fit to one copy. A penalty ``lambda`` on the *sum* of
  squares (scikit-learn's ``alpha``) is ``ridge = lambda / T`` (docs/theory.md LR-7);
* ``"min_norm"``: the minimum-norm least-squares solution
  ``w = (W^{1/2} X)^+ W^{1/2} y`` (pseudo-inverse), the interpolator of the
  over-parameterised case ``d > T`` (LR-6); equal to OLS for a full-rank design.

The fit reads the rows only, so the generic accumulate regime (the union of every
generation's rows, unit weights) is exactly LR-0's accumulate: OLS on the stacked
design ``(X; X; ...)`` with the labels of every generation
(proofs/lr-0-identity.md).

Metrics: ``test_error`` is the excess risk with noise-free targets,
``E_x (x^T w - x^T w*)^2 = ||w - w*||_Sigma^2`` against the truth's weights ``w*``.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, NamedTuple, cast

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.checks import (
    as_float_array,
    check_choice,
    check_positive_int,
    described,
    fail,
)
from collapse_jax.families import _pooled
from collapse_jax.families.base import Location, ModelFamily, PooledFit, family
from collapse_jax.frame import grid_origin
from collapse_jax.status import fit_status

__all__ = [
    "LinearRegressionParams",
    "linear_regression",
    "linear_regression_params",
]

FITS = ("ols", "ridge", "min_norm")
DESIGNS = ("fixed", "fresh")
_FAMILY = "linear_regression"


class _GramStats(NamedTuple):
    """The pooled statistic of regression rows for OLS and ridge fits."""

    gram: Any  # (d, d) compensated X^T W X
    xty: Any  # (d,) compensated X^T W y
    total: Any  # () compensated sum of the weights


class LinearRegressionParams(NamedTuple):
    """Parameters of a linear-Gaussian regression model ``y = x^T w + noise``."""

    weights: jax.Array  # (d,) float, the regression weights w
    design: jax.Array  # (T, d) float, the fixed design X (design="fixed");
    # (0, d) for design="fresh", whose designs are drawn every generation
    noise_sd: jax.Array  # () float, label-noise standard deviation sigma >= 0


def linear_regression_params(
    weights, *, design=None, noise_sd=1.0
) -> LinearRegressionParams:
    """Build :class:`LinearRegressionParams` (host, float64).

    Args:
      weights: ``(d,)`` finite regression weights ``w*`` (a scalar for ``d = 1``).
      design: ``(T, d)`` finite fixed design for ``linear_regression(...,
        design="fixed")``, or ``None`` for ``design="fresh"`` (stored as a
        ``(0, d)`` array).
      noise_sd: label-noise standard deviation ``sigma >= 0`` (0: noise-free
        labels, as in LR-6).

    Returns:
      ``LinearRegressionParams`` of NumPy float64 arrays;
      :func:`~collapse_jax.run_chains` casts them to the run's dtype.

    Raises:
      ValueError: for non-finite entries, a negative ``noise_sd``, or a design whose
        shape does not match the weights.

    Examples:
      >>> p = linear_regression_params([1.0, -2.0], design=np.eye(2), noise_sd=0.5)
      >>> p.weights.shape, p.design.shape, float(p.noise_sd)
      ((2,), (2, 2), 0.5)
    """
    fn = "linear_regression_params"
    w = np.atleast_1d(as_float_array(fn, "weights", weights))
    if w.ndim != 1:
        fail(fn, "weights", "a vector of shape (d,)", w, "Pass a 1-D array of weights.")
    if not np.all(np.isfinite(w)):
        fail(fn, "weights", "finite", w.tolist(), "Remove NaN or inf entries.")
    d = w.shape[0]
    if design is None:
        x = np.zeros((0, d), np.float64)
    else:
        x = as_float_array(fn, "design", design)
        if x.ndim != 2 or x.shape[1] != d:
            fail(
                fn,
                "design",
                f"a matrix of shape (T, {d}) matching the {d} weights",
                x,
                "Pass one row per data point and one column per weight.",
            )
        if not np.all(np.isfinite(x)):
            fail(fn, "design", "finite", x, "Remove NaN or inf entries.")
    sd = as_float_array(fn, "noise_sd", noise_sd)
    if sd.ndim != 0 or not np.isfinite(sd) or sd < 0:
        fail(
            fn,
            "noise_sd",
            "a finite number >= 0",
            noise_sd,
            "Pass the label-noise standard deviation, e.g. noise_sd=1.0.",
        )
    # NumPy on the host until cast_params; typed as the fields the compiled step sees.
    return LinearRegressionParams(*cast("tuple[jax.Array, ...]", (w, x, sd)))


# ---------------------------------------------------------------- pure functions ---

# Products are written as multiply-and-reduce with tree_sum rather than dot_general:
# XLA's CPU dot kernels change with the batch size, which would make a chain's bits
# depend on how many chains run beside it (tests/test_keys.py).


def _matvec(a, v):
    """``a @ v`` for ``a`` of shape ``(m, k)`` and ``v`` of shape ``(k,)``."""
    return tree_sum(a * v[None, :], 1)


def _gram(x, wts):
    """``X^T W X`` (d, d) by a tree sum over the rows."""
    xw = x * wts[:, None]
    return tree_sum(xw[:, :, None] * x[:, None, :], 0)


def _solve_spd(g, b):
    """Solve ``g w = b`` by Cholesky; NaN weights when ``g`` is numerically singular.

    A Gram matrix whose smallest Cholesky pivot is below ``10 d eps`` of its largest
    diagonal entry is singular to working precision (a rank-deficient design, or
    fewer weighted rows than columns): the fit is degenerate, reported by ``status``.
    """
    d = g.shape[0]
    chol = jnp.linalg.cholesky(g)
    diag = jnp.diagonal(chol)
    eps = jnp.finfo(g.dtype).eps
    scale = jnp.max(jnp.diagonal(g))
    finite = jnp.all(jnp.isfinite(chol))
    singular = ~finite | (jnp.min(diag) ** 2 <= 10 * d * eps * scale) | ~(scale > 0)
    safe = jnp.where(singular, jnp.eye(d, dtype=g.dtype), chol)
    z = jax.scipy.linalg.solve_triangular(safe, b, lower=True)
    w = jax.scipy.linalg.solve_triangular(safe.T, z, lower=False)
    return jnp.where(singular, jnp.full_like(w, jnp.nan), w)


def _make(
    dim: int,
    num_rows: int | None,
    fit_kind: str,
    ridge: float,
    design: str,
    feature_scale: tuple[float, ...],
) -> ModelFamily:
    scale_np = np.asarray(feature_scale, np.float64)
    var_np = scale_np**2
    fixed = design == "fixed"

    def _split(data):
        return data[:, :dim], data[:, dim]

    def sample(key, params, n):
        dtype = params.weights.dtype
        k_x, k_e = jax.random.split(key)
        if fixed:
            if n > num_rows:
                fail(
                    "linear_regression.sample",
                    "n",
                    f"<= num_rows = {num_rows}, the rows of the fixed design",
                    n,
                    f"Run the chain with sample_size={num_rows}; a fixed design is "
                    "relabelled, never enlarged.",
                )
            x = params.design[:n]  # a prefix (masking draws n_max and keeps M_t)
        else:
            z = jax.random.normal(k_x, (n, dim), dtype)
            x = z * jnp.asarray(scale_np, dtype)[None, :]
        eps = jax.random.normal(k_e, (n,), dtype)
        y = _matvec(x, params.weights) + params.noise_sd * eps
        return jnp.concatenate([x, y[:, None]], axis=1)

    def stats(data, weights):
        x, y = _split(data)
        wts = weights.astype(data.dtype)
        return _GramStats(
            _pooled.compensated(_gram(x, wts)),
            _pooled.compensated(tree_sum(x * (wts * y)[:, None], 0)),
            _pooled.compensated(tree_sum(wts)),
        )

    def merge(a, b):
        return _GramStats(
            *(_pooled.merge_sums(u, v) for u, v in zip(a, b, strict=True))
        )

    def fit_pooled(st, prev):
        # OLS and ridge read the rows through X^T W X, X^T W y and sum W only.
        g = _pooled.value(st.gram)
        if fit_kind == "ridge":
            total = _pooled.value(st.total)
            g = g + (ridge * total) * jnp.eye(dim, dtype=g.dtype)
        w = _solve_spd(g, _pooled.value(st.xty))
        return LinearRegressionParams(w, prev.design, prev.noise_sd)

    def fit(key, data, weights, prev):
        del key  # closed form
        if fit_kind != "min_norm":
            return fit_pooled(stats(data, weights), prev)
        x, y = _split(data)
        wts = weights.astype(data.dtype)
        total = tree_sum(wts)
        root = jnp.sqrt(wts)
        a = x * root[:, None]
        w = _matvec(jnp.linalg.pinv(a), y * root)
        w = jnp.where(total > 0, w, jnp.full_like(w, jnp.nan))
        return LinearRegressionParams(w, prev.design, prev.noise_sd)

    def refit(sample_key, fit_key, params, weights):
        data = sample(sample_key, params, weights.shape[0])
        return fit(fit_key, data, weights, params)

    def log_prob(params, data):
        x, y = _split(data)
        r = y - _matvec(x, params.weights)
        sd = params.noise_sd
        dtype = data.dtype
        safe = jnp.where(sd > 0, sd, jnp.ones_like(sd))
        lp = (
            -0.5 * (r / safe) ** 2
            - jnp.log(safe)
            - 0.5 * jnp.log(2 * jnp.pi).astype(dtype)
        )
        # Noise-free labels: a point mass at x^T w.
        point = jnp.where(r == 0, jnp.inf, -jnp.inf).astype(dtype)
        return jnp.where(sd > 0, lp, point)

    def fit_population(params):
        # The fit to infinitely many rows of the model. OLS (and min-norm on a
        # full-rank population Gram) recovers the weights: the population fit of a
        # well-specified linear model is the model. Ridge shrinks them by
        # (G + ridge I)^{-1} G with G the per-row Gram (X^T X / T, or Sigma); min-norm
        # on a fixed rank-deficient design projects them onto the row space of X.
        w = params.weights
        dtype = w.dtype
        if fit_kind == "ols" or (fit_kind == "min_norm" and not fixed):
            return params
        if fixed:
            x = params.design
            if fit_kind == "min_norm":
                new = _matvec(jnp.linalg.pinv(x), _matvec(x, w))
            else:
                assert num_rows is not None  # linear_regression() requires it here
                g = _gram(x, jnp.ones((num_rows,), dtype)) / num_rows
                g_ridge = g + ridge * jnp.eye(dim, dtype=dtype)
                new = _solve_spd(g_ridge, _matvec(g, w))
        else:
            var = jnp.asarray(var_np, dtype)
            new = var / (var + ridge) * w
        return params._replace(weights=new)

    def metrics(params, truth):
        var = jnp.asarray(var_np, params.weights.dtype)
        delta = params.weights - truth.weights
        return {
            "test_error": tree_sum(var * delta * delta),
            "weights": params.weights,
            "weight_norm_sq": tree_sum(params.weights * params.weights),
        }

    def status(params):
        # NaN weights mark a singular fit (_solve_spd, zero total weight); any other
        # non-finite entry is an overflow.
        degenerate = jnp.any(jnp.isnan(params.weights))
        finite = jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(params)])
        )
        return fit_status(degenerate, ~finite)

    rows = num_rows if fixed else 0

    def check_params(fn, name, params):
        shapes = tuple(np.shape(x) for x in params)
        if shapes[0] != (dim,) or shapes[2] != ():
            fail(
                fn,
                name,
                f"parameters of a {dim}-dimensional linear regression",
                described(f"weights of shape {shapes[0]}, noise_sd {shapes[2]}"),
                f"Pass cj.linear_regression_params(w) with w of shape ({dim},), or "
                "use the family of the truth's dimension.",
            )
        if shapes[1] != (rows, dim):
            fix = (
                f"Pass design=X with X of shape ({num_rows}, {dim}) to "
                "cj.linear_regression_params."
                if fixed
                else "A fresh-design family draws its designs; pass design=None to "
                "cj.linear_regression_params, or use design='fixed'."
            )
            fail(
                fn,
                f"{name}.design",
                f"of shape ({rows}, {dim})"
                + ("" if fixed else " (design='fresh' carries no design)"),
                described(f"shape {shapes[1]}"),
                fix,
            )
        for field, x in zip(params._fields, params, strict=True):
            if not np.all(np.isfinite(np.asarray(x))):
                fail(
                    fn,
                    f"{name}.{field}",
                    "finite",
                    np.asarray(x),
                    "Remove NaN or inf entries.",
                )
        if float(np.asarray(params.noise_sd)) < 0:
            fail(
                fn,
                f"{name}.noise_sd",
                ">= 0",
                float(np.asarray(params.noise_sd)),
                "Pass a non-negative noise standard deviation.",
            )
        if fixed and fit_kind == "ols":
            x = np.asarray(params.design, np.float64)
            rank = int(np.linalg.matrix_rank(x))
            if rank < dim:
                fail(
                    fn,
                    f"{name}.design",
                    f"of full column rank {dim} for fit='ols'",
                    described(f"a design of rank {rank}"),
                    "Pass a design with linearly independent columns, or use "
                    "fit='ridge' or fit='min_norm'.",
                )

    if fixed:
        assert num_rows is not None  # linear_regression() requires it for design=fixed
        minimum = num_rows
        reason = (
            f"(design='fixed' relabels the {num_rows} rows of its design: "
            f"sample_size must equal num_rows)"
        )
    else:
        minimum = num_rows or (dim if fit_kind == "ols" else 1)
        reason = (
            f"(num_rows = {num_rows}: the fewest rows a generation may draw)"
            if num_rows is not None
            else f"(fit='ols' needs at least d = {dim} rows)"
            if fit_kind == "ols"
            else "(at least one row)"
        )

    return family(
        name=_FAMILY,
        params_type=LinearRegressionParams,
        event_shape=(dim + 1,),
        min_sample_size=minimum,
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        refit=refit,
        fit_population=fit_population,
        metrics=metrics,
        status=status,
        built_by="cj.linear_regression_params(...)",
        check_params=check_params,
        metric_names=("test_error", "weights", "weight_norm_sq"),
        min_sample_size_reason=reason,
        location=_location(dim, fixed, fit_kind == "ols", scale_np),
        check_run=functools.partial(_check_run, dim, fixed, scale_np),
        # The minimum-norm fit solves through the rows' pseudo-inverse: it keeps them.
        pooled=None
        if fit_kind == "min_norm"
        else PooledFit(stats, merge, fit_pooled, fit),
        # The Gram matrix's per-row outer products, (n, d, d) before their tree
        # sum (padded to a power of two); min-norm's pseudo-inverse is (n, d).
        fit_temporaries=4 * (dim + 1) if fit_kind == "min_norm" else 2 * (dim + 1) ** 2,
    )


# ---------------------------------------------------------------- the frame ---
#
# Moving the weights by c moves a row (x, y) to (x, y + x^T c). OLS is equivariant
# under it (the fit of y - X c is w_hat - c), so an OLS run is carried in the frame
# of its truth's weights (collapse_jax.frame). Ridge shrinks towards 0 and the
# minimum-norm fit projects onto the row space, neither equivariant: those runs are
# not moved, and the runner checks that the dtype resolves their weights.


def _row_scale(params, fixed, scale_np) -> np.ndarray:
    """The root mean square of each feature: per-row size of ``x_k``."""
    if fixed:
        x = np.asarray(params.design, np.float64)
        return np.sqrt(np.mean(x * x, axis=0)) if x.shape[0] else np.ones(x.shape[1])
    return scale_np


def _location(dim, fixed, equivariant, scale_np) -> Location:
    def origin(params):
        noise = float(np.asarray(params.noise_sd, np.float64))
        rms = _row_scale(params, fixed, scale_np)
        with np.errstate(divide="ignore"):
            log_scale = np.log(noise) - np.log(rms)
        return grid_origin(np.asarray(params.weights, np.float64), log_scale)

    def shift(params, offset):
        w = np.asarray(params.weights, np.float64) + np.asarray(offset, np.float64)
        return params._replace(weights=w)

    def shift_data(data, offset):
        if isinstance(data, jax.Array):
            c = np.asarray(offset).reshape((1,) * (data.ndim - 1) + (dim,))
            x = data[..., :dim]
            y = data[..., dim] + tree_sum(x * jnp.asarray(c, data.dtype), data.ndim - 1)
            return jnp.concatenate([data[..., :dim], y[..., None]], axis=-1)
        data = np.asarray(data, np.float64)
        y = data[..., dim] + data[..., :dim] @ np.asarray(offset, np.float64)
        return np.concatenate([data[..., :dim], y[..., None]], axis=-1)

    def spread(params):
        # One fit's step: the OLS standard error of each weight, noise_sd times
        # sqrt((X^T X)^-1_kk) for M rows, i.e. noise_sd / rms_k / sqrt(M) per row.
        noise = float(np.asarray(params.noise_sd, np.float64))
        w = np.abs(np.asarray(params.weights, np.float64))
        if fixed:
            x = np.asarray(params.design, np.float64)
            try:
                inv = np.diag(np.linalg.inv(x.T @ x)) * x.shape[0]
            except np.linalg.LinAlgError:
                inv = np.full(w.shape, np.inf)
            per_row = noise * np.sqrt(np.maximum(inv, 0))
        else:
            per_row = noise / scale_np
        return w, per_row

    def restore(frame_metrics, offset):
        w = np.asarray(frame_metrics["weights"], np.float64) + np.asarray(
            offset, np.float64
        )
        return {"weights": w, "weight_norm_sq": np.sum(w * w, axis=-1)}

    return Location(
        origin=origin,
        shift=shift,
        shift_data=shift_data,
        spread=spread,
        moved=("weights", "weight_norm_sq"),
        restore=restore,
        inputs=("weights",),
        equivariant=equivariant,
    )


def _check_run(
    dim, fixed, scale_np, fn, name, params, schedule, num_generations, sampler, dtype
):
    """Refuse a problem whose normal equations overflow the run's dtype.

    The fit forms ``X^T W X`` (entries up to the largest column sum of squares)
    and ``X^T W y`` (up to ``sqrt(gram * T) * max |y|``); ``params`` is the truth
    as the chain carries it (in its frame, so large OLS weights are no concern).
    A fresh design's entries are taken below 8 standard deviations, its column
    sums of squares below twice their mean.
    """
    del num_generations, sampler
    big = float(np.finfo(np.dtype(dtype)).max) / dim
    w = np.asarray(params.weights, np.float64)
    if fixed:
        x = np.asarray(params.design, np.float64)
        rows = x.shape[0]
        gram = float(np.max(np.sum(x * x, axis=0)))
        label = float(np.max(np.abs(x @ w)))
    else:
        if schedule is None:
            return  # the population fit forms no sums
        rows = int(np.max(schedule))
        gram = 2.0 * rows * float(np.max(scale_np)) ** 2
        label = 8.0 * float(np.sqrt(np.sum((scale_np * w) ** 2)))
    label += 8.0 * float(np.asarray(params.noise_sd, np.float64))
    worst = max(gram, math.sqrt(gram * rows) * label)
    if not worst < big:
        fail(
            fn,
            f"{name}.design" if fixed else name,
            f"a problem whose normal equations X^T X w = X^T y fit in {dtype} "
            f"(entries below {big:.3g})",
            described(f"entries up to about {worst:.3g}"),
            "Rescale the features (or the weights), or run with dtype='float64' "
            "(x64 enabled).",
        )


@functools.cache
def _cached(dim, num_rows, fit_kind, ridge, design, feature_scale) -> ModelFamily:
    return _make(dim, num_rows, fit_kind, ridge, design, feature_scale)


def linear_regression(
    dim: int,
    num_rows: int | None = None,
    *,
    fit: str = "ols",
    ridge: float = 0.0,
    design: str = "fixed",
    feature_scale=None,
) -> ModelFamily:
    r"""The linear-regression family (docs/theory.md LR-0): relabel a design, refit.

    Args:
      dim: number of features ``d >= 1``.
      num_rows: rows ``T`` of the design. ``design="fixed"``: required, the rows of
        the fixed design, and every generation's ``sample_size`` must equal it.
        ``design="fresh"``: optional, the fewest rows a generation may draw (default:
        ``d`` for OLS, 1 otherwise); ``sample_size`` sets the rows drawn.
      fit: ``"ols"`` (needs ``T >= d`` and a full-rank design), ``"ridge"`` (penalty
        ``ridge`` on the weighted mean squared error, see the module docstring) or
        ``"min_norm"`` (pseudo-inverse; the interpolator when ``d > T``).
      ridge: the ridge penalty ``lambda >= 0``; only with ``fit="ridge"``.
      design: ``"fixed"`` (one design reused every generation, only the labels are
        redrawn: LR-0) or ``"fresh"`` (a new ``N(0, Sigma)`` design every
        generation: LR-1 unconditional form, LR-5, LR-6).
      feature_scale: ``None`` (isotropic, ``Sigma = I``) or ``d`` positive standard
        deviations: ``Sigma = diag(feature_scale^2)`` is the feature covariance of
        fresh designs and the norm of the ``test_error`` metric.

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily` named
      ``"linear_regression"``; equal arguments give the same object. Data points
      are rows ``(x, y)`` of shape ``(d + 1,)``; params are
      :class:`LinearRegressionParams` from :func:`linear_regression_params`.

    Metrics (per chain and generation):
      ``test_error`` (), the excess risk ``||w - w*||_Sigma^2`` with noise-free
      targets (proofs/lr-1-replace.md); ``weights`` (d,); ``weight_norm_sq`` (),
      ``||w||^2``.

    Raises:
      ValueError, TypeError: unknown ``fit`` or ``design``, a negative or
        non-finite ``ridge`` (or a non-zero one without ``fit="ridge"``),
        ``fit="ols"`` with ``num_rows < dim``, a fixed design without ``num_rows``,
        or a ``feature_scale`` that is not ``d`` positive finite numbers.

    Examples:
      >>> fam = linear_regression(3, 10)
      >>> fam is linear_regression(3, 10), fam.event_shape, fam.min_sample_size
      (True, (4,), 10)
    """
    fn = "linear_regression"
    dim = check_positive_int(fn, "dim", dim)
    fit = check_choice(fn, "fit", fit, FITS)
    design = check_choice(fn, "design", design, DESIGNS)
    if num_rows is None:
        if design == "fixed":
            fail(
                fn,
                "num_rows",
                "the number of rows of the fixed design (an int) for design='fixed'",
                None,
                "Pass num_rows=T, the rows of the design given to "
                "cj.linear_regression_params, or use design='fresh'.",
            )
    else:
        num_rows = check_positive_int(fn, "num_rows", num_rows)
        if fit == "ols" and num_rows < dim:
            fail(
                fn,
                "num_rows",
                f">= dim = {dim} for fit='ols' (X^T X is singular with fewer rows "
                "than columns)",
                num_rows,
                "Pass more rows, or use fit='min_norm' (the minimum-norm "
                "interpolator) or fit='ridge' for the over-parameterised case.",
            )
    if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real):
        fail(
            fn,
            "ridge",
            "a real number >= 0",
            ridge,
            "Pass e.g. ridge=0.1.",
            error=TypeError,
        )
    ridge = float(ridge)
    if not math.isfinite(ridge) or ridge < 0:
        fail(
            fn,
            "ridge",
            "a finite penalty >= 0",
            ridge,
            "Pass ridge >= 0 (0 is ordinary least squares).",
        )
    if ridge != 0 and fit != "ridge":
        fail(
            fn,
            "ridge",
            f"0 with fit={fit!r}",
            ridge,
            "Pass fit='ridge' to use a ridge penalty.",
        )
    if feature_scale is None:
        scale = (1.0,) * dim
    else:
        arr = np.atleast_1d(as_float_array(fn, "feature_scale", feature_scale))
        if arr.shape != (dim,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            fail(
                fn,
                "feature_scale",
                f"None or {dim} positive finite standard deviations",
                arr,
                f"Pass a sequence of {dim} numbers > 0, or None for Sigma = I.",
            )
        scale = tuple(float(s) for s in arr)
    return _cached(dim, num_rows, fit, ridge, design, scale)
