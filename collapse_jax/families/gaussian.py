"""The Gaussian family: full covariance carried as a log-diagonal Cholesky factor.

Parameterisation (proofs/gc-7-sufficient-statistics.md): the covariance is
``Sigma = L L^T`` with ``L = U diag(exp(s))``, ``U`` unit lower-triangular and ``s`` the
log-diagonal of the Cholesky factor. The scale lives in ``s`` alone, so a float32 chain
reaches ``log sigma^2 = -1000`` without underflow; ``U`` stays bounded because later
coordinates collapse faster (the Lyapunov exponents of SH-7 decrease with k).

Refits use standardised draws: ``z ~ N(0, I)`` is fitted (mean ``m_z``, Cholesky factor
``A`` of the sample covariance) and pushed through the affine map,
``mean' = mean + L m_z`` and ``L' = L A``. This has the law of fitting
``x = mean + L z`` (affine equivariance) and never forms ``x - mean(x)`` at a collapsed
scale. The sufficient-statistic sampler draws ``m_z ~ N(0, I/M)`` and ``A`` from the
Bartlett decomposition, at O(1) cost in M.
"""

from __future__ import annotations

import functools
from typing import cast

import numpy as np

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from collapse_jax import random as cjr
from collapse_jax._gaussians import GaussianParams
from collapse_jax._linalg import _bures_sq, _matmul
from collapse_jax._reduce import tree_logsumexp, tree_sum
from collapse_jax.checks import (
    as_float_array,
    check_choice,
    check_positive_int,
    fail,
)
from collapse_jax.families import _pooled
from collapse_jax.families._gaussian_approx import gaussian_cross_entropy, project
from collapse_jax.families.base import (
    ApproxHooks,
    Conjugate,
    Location,
    LocationScale,
    MixtureView,
    ModelFamily,
    PooledFit,
    family,
    with_learner,
)
from collapse_jax.frame import grid_origin, log_sd, shift_points
from collapse_jax.status import fit_status

__all__ = ["GaussianParams", "gaussian", "gaussian_params", "gaussian_mean_cov"]

ESTIMATORS = ("unbiased", "mle")
TAIL_LEVEL = 0.01  # the truth's outer 1 % two-sided region, per coordinate
_TAIL_Z = 2.5758293035489004  # Phi^{-1}(1 - TAIL_LEVEL / 2)


def gaussian_params(mean, cov) -> GaussianParams:
    """Build :class:`GaussianParams` from a mean and a covariance (host, float64).

    Args:
      mean: ``(d,)`` mean, or a scalar for ``d = 1``.
      cov: ``(d, d)`` symmetric positive definite covariance, or a positive scalar
        variance for ``d = 1``.

    Returns:
      ``GaussianParams`` of NumPy float64 arrays; :func:`~collapse_jax.run_chains`
      casts them to the run's dtype.

    Raises:
      ValueError: for non-finite entries, mismatched shapes, or a covariance that is
        not symmetric positive definite.

    Examples:
      >>> p = gaussian_params(0.0, 2.0)
      >>> p.mean.shape, float(np.exp(2 * p.chol_log_diag[0]))
      ((1,), 2.0)
    """
    fn = "gaussian_params"
    mean = np.atleast_1d(as_float_array(fn, "mean", mean))
    cov = as_float_array(fn, "cov", cov)
    if cov.ndim == 0:
        cov = cov.reshape(1, 1)
    if mean.ndim != 1:
        fail(fn, "mean", "a vector of shape (d,)", mean, "Pass a 1-D mean.")
    d = mean.shape[0]
    if cov.shape != (d, d):
        fail(
            fn,
            "cov",
            f"a matrix of shape ({d}, {d}) matching mean",
            cov,
            "Pass a (d, d) covariance for a (d,) mean.",
        )
    if not np.all(np.isfinite(mean)):
        fail(fn, "mean", "finite", mean.tolist(), "Remove NaN or inf entries.")
    if not np.all(np.isfinite(cov)):
        fail(fn, "cov", "finite", cov.tolist(), "Remove NaN or inf entries.")
    scale = max(float(np.max(np.abs(cov))), np.finfo(np.float64).tiny)
    if not np.allclose(cov, cov.T, rtol=1e-6, atol=1e-9 * scale):
        fail(fn, "cov", "symmetric", cov.tolist(), "Pass (cov + cov.T) / 2.")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = None
    if chol is None or not np.all(np.diag(chol) > 0):
        eig = float(np.linalg.eigvalsh((cov + cov.T) / 2).min())
        fail(
            fn,
            "cov",
            "positive definite",
            f"a matrix with smallest eigenvalue {eig:g}",
            "Pass a covariance with strictly positive eigenvalues.",
        )
    diag = np.diag(chol)
    # NumPy on the host until cast_params; typed as the fields the compiled step sees.
    fields = (mean, np.log(diag), chol / diag[None, :])
    return GaussianParams(*cast("tuple[jax.Array, ...]", fields))


def gaussian_mean_cov(params: GaussianParams) -> tuple[np.ndarray, np.ndarray]:
    """Natural parameters (mean, covariance) as NumPy arrays; exponentiates at the edge.

    Works on a single model or on any leading batch axes.
    """
    mean = np.asarray(params.mean)
    s = np.asarray(params.chol_log_diag)
    chol = np.asarray(params.chol_unit_lower) * np.exp(s)[..., None, :]
    return mean, chol @ np.swapaxes(chol, -1, -2)


# ---------------------------------------------------------------- pure functions ---


def _chol(params: GaussianParams) -> jax.Array:
    return params.chol_unit_lower * jnp.exp(params.chol_log_diag)[None, :]


def _split_chol(chol: jax.Array) -> tuple[jax.Array, jax.Array]:
    diag = jnp.diagonal(chol)
    return jnp.log(diag), chol / diag[None, :]


# Tiny products are written as multiply-and-reduce rather than dot_general: XLA's CPU
# dot kernels change with the batch size, which would make a chain's bits depend on
# how many chains run beside it (tests/test_keys.py).


def _wsum(weights, x):
    """``sum_i weights[i] * x[i]`` over the leading axis."""
    w = weights.reshape(weights.shape + (1,) * (x.ndim - 1))
    return tree_sum(w * x, 0)


def _matvec(a, v):
    return tree_sum(a * v[None, :], 1)


def _weighted_moments(x, weights, ddof):
    """Weighted mean and Cholesky factor (log-diag, unit-lower) of the covariance."""
    wsum = tree_sum(weights)
    m = _wsum(weights, x) / wsum
    xc = x - m[None, :]
    denom = wsum - ddof
    if x.shape[1] == 1:  # 1-D: no Cholesky needed; log keeps the scale exact
        var = tree_sum(weights * xc[:, 0] ** 2) / denom
        return m, 0.5 * jnp.log(var)[None], jnp.ones((1, 1), x.dtype)
    cov = _wsum(weights, xc[:, :, None] * xc[:, None, :]) / denom
    log_diag, unit = _split_chol(jnp.linalg.cholesky(cov))
    return m, log_diag, unit


def _compose(params: GaussianParams, m_z, a_log_diag, a_unit) -> GaussianParams:
    """Push a standardised fit (m_z, A = a_unit diag(exp(a_log_diag))) through L.

    ``L A = U diag(e^s) U_A diag(e^a) = U [diag(e^s) U_A diag(e^-s)] diag(e^(s+a))``:
    only ``exp(s_j - s_k)`` for ``j > k`` appears, which stays bounded in a
    collapsing chain.
    """
    s = params.chol_log_diag
    d = s.shape[0]
    lower = jnp.tril(jnp.ones((d, d), bool), -1)
    gap = jnp.where(lower, s[:, None] - s[None, :], 0)
    inner = jnp.where(lower, a_unit * jnp.exp(gap), jnp.eye(d, dtype=s.dtype))
    mean = params.mean + _matvec(params.chol_unit_lower, jnp.exp(s) * m_z)
    return GaussianParams(mean, s + a_log_diag, _matmul(params.chol_unit_lower, inner))


def _make(dim: int, estimator: str) -> ModelFamily:
    ddof = 1 if estimator == "unbiased" else 0
    rows, cols = np.tril_indices(dim, -1)  # the Bartlett factor's normal entries
    n_off = rows.shape[0]

    def sample(key, params, n):
        z = cjr.normal(key, (n, dim), params.mean.dtype)
        return params.mean[None, :] + _matmul(
            z * jnp.exp(params.chol_log_diag)[None, :], params.chol_unit_lower.T
        )

    def fit(key, data, weights, prev):
        del key, prev  # closed form
        m, log_diag, unit = _weighted_moments(data, weights.astype(data.dtype), ddof)
        return GaussianParams(m, log_diag, unit)

    def log_prob(params, data):
        chol = _chol(params)
        y = jax.scipy.linalg.solve_triangular(
            chol, (data - params.mean[None, :]).T, lower=True
        )
        return (
            -0.5 * jnp.sum(y * y, axis=0)
            - jnp.sum(params.chol_log_diag)
            - 0.5 * dim * jnp.log(2 * jnp.pi).astype(data.dtype)
        )

    def refit(sample_key, fit_key, params, weights):
        del fit_key
        dtype = params.mean.dtype
        # Materialise the draws once: XLA would otherwise recompute them inside
        # several fusions, each free to round its polynomial (FMA) differently.
        # cjr.normal is jax.random.normal bit for bit, cheaper with role keys.
        z = jax.lax.optimization_barrier(
            cjr.normal(sample_key, (weights.shape[0], dim), dtype)
        )
        m_z, a_log_diag, a_unit = _weighted_moments(z, weights.astype(dtype), ddof)
        return _compose(params, m_z, a_log_diag, a_unit)

    def sample_fit(key, params, sample_size):
        # GC-7: mean of M standard normals ~ N(0, I/M); Cholesky factor of the sample
        # covariance = Bartlett factor C / sqrt(den), C_kk^2 ~ chi2(M - k),
        # C_jk ~ N(0, 1) for j > k, all independent (Cochran, Bartlett).
        # All of it from word pairs of the key (one threefry block each with a
        # chain's role keys): pairs 3k .. 3k + 2 are coordinate k's chi-square
        # attempts, whose spare word is m_z[k]'s normal; then the strictly lower
        # normals, two per pair.
        dtype = params.mean.dtype
        m = jnp.asarray(sample_size, dtype)
        den = m - ddof
        base = cjr.GAMMA_PAIRS * np.arange(dim)
        gamma_bits = [
            cjr.word_pair(key, base + j, dtype) for j in range(cjr.GAMMA_PAIRS)
        ]
        m_z = cjr.normal_from_bits(gamma_bits[2][1], dtype) * jax.lax.rsqrt(m)
        df = m - jnp.arange(1, dim + 1, dtype=dtype)
        log_c2 = jnp.log(jnp.asarray(2.0, dtype)) + cjr.log_gamma_from_bits(
            gamma_bits, key, df / 2, dtype
        )
        a_log_diag = 0.5 * (log_c2 - jnp.log(den))
        a_unit = jnp.eye(dim, dtype=dtype)
        if n_off:
            first = dim * cjr.GAMMA_PAIRS
            pairs = cjr.word_pair(key, first + np.arange(-(-n_off // 2)), dtype)
            off = cjr.normal_from_bits(jnp.concatenate(pairs)[:n_off], dtype)
            off = jnp.zeros((dim, dim), dtype).at[rows, cols].set(off)
            scaled = off * jnp.exp(-0.5 * log_c2)[None, :]
            a_unit = a_unit + jnp.tril(scaled, -1)  # 0 * inf stays out of the rest
        return _compose(params, m_z, a_log_diag, a_unit)

    def fit_population(params):
        return params  # the exact fit of a Gaussian to itself is itself (SH-1)

    def fit_pooled(stats, prev):
        # fit's moments from Chan-pooled (W, mean, M2): the same estimator.
        del prev
        cov = _pooled.value(stats.m2) / (_pooled.value(stats.weight) - ddof)
        m = _pooled.value(stats.mean)
        if dim == 1:
            return GaussianParams(m, 0.5 * jnp.log(cov[0]), jnp.ones_like(cov))
        log_diag, unit = _split_chol(jnp.linalg.cholesky(cov))
        return GaussianParams(m, log_diag, unit)

    def check_source(fn, name, source_family):
        ok = (
            source_family.name == "gaussian" or source_family.view_kind == "mixture"
        ) and source_family.event_shape == (dim,)
        numeric = source_family.numeric is not None and dim == 1
        if not (ok or numeric):
            fail(
                fn,
                name,
                f"a {dim}-dimensional Gaussian or Gaussian-mixture family"
                + (", or a categorical (numeric support)" if dim == 1 else ""),
                f"{source_family.name} with event shape {source_family.event_shape}",
                "Pass a truth a Gaussian can be moment-matched to.",
            )

    def fit_population_from(source_family, source_params):
        # The population MLE of a Gaussian minimises KL(p || N(m, S)): the moment
        # match m = E_p x, S = Cov_p x (proofs/sh-1b-expressivity.md).
        if source_family.name == "gaussian":
            return source_params
        if source_family.view_kind == "mixture":
            from collapse_jax.metrics import moment_match

            return moment_match(source_family.view(source_params))
        return _moments_of_discrete(source_family, source_params)

    def fit_population_mixture(log_weights, params):
        # The population MLE of a Gaussian for a mixture is its moment match.
        from collapse_jax.metrics import moment_match

        return moment_match(
            MixtureView(
                log_weights, params.mean, params.chol_log_diag, params.chol_unit_lower
            )
        )

    def view(params):
        from collapse_jax.metrics import gaussian_view

        return gaussian_view(params)

    def metrics(params, truth):
        s = params.chol_log_diag
        if dim == 1:  # the same bits as _log_diag_cov (log|U| = 0, exp(0) = 1)
            log_var = 2 * s
        else:
            log_var = _log_diag_cov(params.chol_log_diag, params.chol_unit_lower)
        log_det = 2 * tree_sum(s)
        delta = params.mean - truth.mean
        if dim == 1:
            sd0 = jnp.exp(truth.chol_log_diag[0])
            w2 = delta[0] ** 2 + (jnp.exp(s[0]) - sd0) ** 2
        else:
            w2 = tree_sum(delta**2) + _bures_sq(_chol(truth), _chol(params))
        # Tail mass: the fitted marginal's mass outside the truth's central 99 %
        # interval mu0 +- Z sd0. Standardised by the truth's scale first and then
        # carried to the fitted scale in log space, so neither a tiny truth scale
        # nor a collapsed fit under- or overflows.
        t_log_sd = 0.5 * _log_diag_cov(truth.chol_log_diag, truth.chol_unit_lower)
        log_sd = 0.5 * log_var
        q = _ratio(truth.mean - params.mean, t_log_sd)
        z_lo = _ratio(q - _TAIL_Z, log_sd - t_log_sd)
        z_hi = _ratio(q + _TAIL_Z, log_sd - t_log_sd)
        tail = ndtr(z_lo) + ndtr(-z_hi)
        return {
            "mean": params.mean,
            "log_var": log_var,
            "log_det_cov": log_det,
            "w2_sq": w2,
            "tail_mass": tail,
        }

    def status(params):
        s = params.chol_log_diag
        # A singular covariance (Cholesky NaN, or a zero variance) is a degenerate
        # fit; any other non-finite entry is an overflow or a NaN from elsewhere.
        degenerate = jnp.any(jnp.isnan(s) | (s == -jnp.inf))
        finite = jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(params)])
        )
        return fit_status(degenerate, ~finite)

    def check_params(fn, name, params):
        shapes = tuple(np.shape(x) for x in params)
        if shapes != ((dim,), (dim,), (dim, dim)):
            fail(
                fn,
                name,
                f"parameters of a {dim}-dimensional Gaussian",
                shapes,
                f"Pass cj.gaussian_params(mean, cov) with mean of shape ({dim},), "
                f"or use cj.gaussian(dim={shapes[0][0] if shapes[0] else '?'}).",
            )
        unit = np.asarray(params.chol_unit_lower)
        # A non-finite entry is reported as such by the builder's finiteness check.
        finite = all(np.all(np.isfinite(np.asarray(x))) for x in params)
        unit_lower = np.all(np.diag(unit) == 1) and np.all(np.triu(unit, 1) == 0)
        if finite and not unit_lower:
            fail(
                fn,
                f"{name}.chol_unit_lower",
                "unit lower-triangular",
                unit.tolist(),
                "Build params with cj.gaussian_params(mean, cov).",
            )

    return family(
        name="gaussian",
        params_type=GaussianParams,
        event_shape=(dim,),
        min_sample_size=dim + 1,  # a non-singular covariance needs M >= d + 1
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        refit=refit,
        sample_fit=sample_fit,
        fit_population=fit_population,
        metrics=metrics,
        status=status,
        built_by="cj.gaussian_params(mean, cov)",
        check_params=check_params,
        location_scale=_LOCATION_SCALE,
        metric_names=("mean", "log_var", "log_det_cov", "w2_sq", "tail_mass"),
        min_sample_size_reason=(
            "to estimate a variance"
            if dim == 1
            else f"to estimate a non-singular {dim}x{dim} covariance (M >= d + 1)"
        ),
        check_source=check_source,
        start_from=fit_population_from,
        fit_population_from=fit_population_from,
        view=view,
        view_kind="mixture",
        approx=gaussian_approx_hooks(dim),
        fit_population_mixture=fit_population_mixture,
        location=_LOCATION,
        pooled=PooledFit(_pooled.moments, _pooled.merge_moments, fit_pooled, fit),
        conjugate=Conjugate("normal", ddof),  # collapse_jax.bayes (1-D only)
        # Per-point products of the Cholesky factor in the sampler (tree sums
        # of (n, d, d)), and the moments' per-point outer products in the fit.
        sample_temporaries=2 * dim * dim,
        fit_temporaries=2 * dim * dim,
    )


# The fit is affine-equivariant, so a translation moves the mean alone: a run is
# carried in the frame of its truth's mean (collapse_jax.frame, docs/precision.md).


def _origin(params) -> np.ndarray:
    sd = log_sd(params.chol_log_diag, params.chol_unit_lower)
    return grid_origin(np.asarray(params.mean, np.float64), sd)


def _shift(params, offset):
    return params._replace(mean=shift_points(params.mean, offset))


def _spread(params):
    sd = np.exp(log_sd(params.chol_log_diag, params.chol_unit_lower))
    return np.abs(np.asarray(params.mean, np.float64)), sd


def _restore(frame_metrics, offset):
    return {"mean": shift_points(frame_metrics["mean"], offset)}


_LOCATION = Location(
    origin=_origin,
    shift=_shift,
    shift_data=shift_points,
    spread=_spread,
    moved=("mean",),
    restore=_restore,
)


def _rescale(params, factor):
    """Every variance times ``factor``: the scale lives in the log-diagonal."""
    return params._replace(chol_log_diag=params.chol_log_diag + 0.5 * jnp.log(factor))


_LOCATION_SCALE = LocationScale(rescale=_rescale, center=lambda params: params.mean)


def _moments_of_discrete(source_family: ModelFamily, source_params) -> GaussianParams:
    """Mean and variance of a categorical on a numeric support (1-D)."""
    # check_source admits a source that is neither Gaussian nor a mixture only with
    # a numeric support, whose probability vector is its view (a categorical's).
    assert source_family.view is not None and source_family.numeric is not None, (
        f"{source_family.name}: a numeric support needs a probability view"
    )
    probs = source_family.view(source_params)
    idx = jnp.arange(probs.shape[0], dtype=jnp.int32)
    x = source_family.numeric(idx)[:, 0].astype(probs.dtype)
    m = tree_sum(probs * x)
    var = tree_sum(probs * (x - m) ** 2)
    one = jnp.ones((1, 1), probs.dtype)
    return GaussianParams(m[None], 0.5 * jnp.log(var)[None], one)


def _ratio(num, log_den):
    """``num / exp(log_den)`` without overflow to NaN when both are extreme."""
    return jnp.sign(num) * jnp.exp(jnp.log(jnp.abs(num)) - log_den)


def _log_diag_cov(chol_log_diag: jax.Array, chol_unit_lower: jax.Array) -> jax.Array:
    """``log Sigma_kk = log sum_j U_kj^2 exp(2 s_j)``, entirely in log space.

    ``s`` is ``chol_log_diag`` and ``U`` ``chol_unit_lower`` of one Gaussian's
    log-Cholesky layout (vmap it over a mixture's components).
    ``U_kj`` is of order ``exp(s_j - s_k)`` for very anisotropic covariances, so its
    square is taken as ``2 log|U_kj|`` rather than formed (zero entries give -inf and
    drop out).
    """
    log_abs = jnp.log(jnp.abs(chol_unit_lower))
    return tree_logsumexp(2 * chol_log_diag[None, :] + 2 * log_abs, axis=1)


@functools.cache
def _cached(dim: int, estimator: str) -> ModelFamily:
    return _make(dim, estimator)


def gaussian(
    dim: int = 1,
    estimator: str = "unbiased",
    *,
    learner: str = "plugin",
    prior=None,
) -> ModelFamily:
    """The Gaussian family with full covariance, refitted by mean and covariance.

    Args:
      dim: dimension ``d >= 1``.
      estimator: ``"unbiased"`` (covariance with ddof = 1, a martingale) or ``"mle"``
        (ddof = 0, as Shumailov et al.'s plotting code).
      learner: ``"plugin"`` (the fit above) or a Bayesian learner of
        :func:`collapse_jax.bayesian` (``"posterior_sample"``, ``"map"``,
        ``"posterior_predictive"``; 1-D only).
      prior: None (Jeffreys for a Bayesian learner), ``cj.jeffreys()`` or
        ``cj.normal_inverse_gamma(...)``.

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily`; equal arguments give
      the same object, so jitted runs compile once.

    Metrics (per chain and generation):
      ``mean`` (d,); ``log_var`` (d,), log of the diagonal of the covariance;
      ``log_det_cov`` (); ``w2_sq`` (), squared Wasserstein-2 distance to the truth;
      ``tail_mass`` (d,), the fitted marginal's probability of the truth's outer 1 %
      two-sided region of that coordinate (0.01 at generation 0).

    Examples:
      >>> fam = gaussian(dim=2)
      >>> fam is gaussian(dim=2), fam.min_sample_size
      (True, 3)
    """
    check_positive_int("gaussian", "dim", dim)
    check_choice("gaussian", "estimator", estimator, ESTIMATORS)
    return with_learner("gaussian", _cached(int(dim), estimator), learner, prior)


@functools.cache
def gaussian_approx_hooks(dim: int) -> ApproxHooks:
    """The :class:`~collapse_jax.families.base.ApproxHooks` of ``gaussian(dim)``.

    Targets are ddof-0 moments as :class:`~collapse_jax.GaussianParams`;
    ``refit_target`` and ``sample_target`` are those of ``gaussian(dim, "mle")``
    (standardised draws and the exact Bartlett draw: stable at collapsed scales);
    ``target_from_model`` accepts a Gaussian, or any family the Gaussian accepts
    as a source (``check_source``: mixtures, numeric categoricals), moment-matched
    as the exact fit ``fit_population_from`` does; the
    loss is :func:`gaussian_cross_entropy`. Cached: equal ``dim`` gives the same
    object.

    Examples:
      >>> gaussian_approx_hooks(2) is gaussian_approx_hooks(2)
      True
    """

    def mle():
        return gaussian(dim, "mle")

    def target_from_data(data, weights):
        m, log_diag, unit = _weighted_moments(data, weights.astype(data.dtype), 0)
        return GaussianParams(m, log_diag, unit)

    def refit_target(sample_key, params, weights):
        return mle().refit(sample_key, sample_key, params, weights)  # fit key unused

    def sample_target(key, params, sample_size):
        sample_fit = mle().sample_fit
        assert sample_fit is not None  # every Gaussian has the exact sufficient draw
        return sample_fit(key, params, sample_size)

    def target_from_model(source_family, source_params):
        if isinstance(source_params, GaussianParams):
            return source_params
        # Another family (a mixture, a categorical on a numeric support): the
        # population target is its moment match, which is exactly what the exact
        # Gaussian fit returns (proofs/sh-1b-expressivity.md).
        fit_population_from = mle().fit_population_from
        assert fit_population_from is not None  # every Gaussian has one
        return fit_population_from(source_family, source_params)

    return ApproxHooks(
        target_from_data=target_from_data,
        refit_target=refit_target,
        sample_target=sample_target,
        target_from_model=target_from_model,
        loss=gaussian_cross_entropy,
        project=project,
    )
