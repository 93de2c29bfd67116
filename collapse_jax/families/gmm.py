r"""The Gaussian-mixture family: full covariances, fitted by maximum likelihood (EM).

Parameterisation: log-weights (``-inf`` for a dead component) and, per component, the
log-Cholesky layout of :class:`~collapse_jax.GaussianParams`:
``Sigma_j = L_j L_j^T`` with ``L_j = U_j diag(exp(s_j))``. Scales live in ``s`` alone,
so a collapsing chain reaches tiny variances without underflow.

This module is the public surface: :class:`GmmParams` and its host constructors,
the family factory :func:`gmm` (with its metrics, status and validation) and
:func:`em`. The EM core is in :mod:`collapse_jax.families._gmm_em`: every fit is
exactly EM on ``x``, run in the whitened frame of each previous component, which
keeps long chains stable at collapsed scales (its docstring gives the details).

**The exact fit is the maximum-likelihood fit** (the paper's scikit-learn
``GaussianMixture(tol=1e-5, max_iter=2000)``): EM from a k-means++/Lloyd start drawn
from the fit key (:mod:`collapse_jax.families._gmm_kmeans`), run until the mean
log-likelihood per point gains less than ``tol`` in one iteration (at most
``max_iters``; a fit that hits the cap is recorded by the ``em_converged`` metric).
A fixed number of warm-started iterations (``num_iters=I``) is a functional
approximation error, available as an explicit setting only.

Population fits by Gauss-Hermite quadrature and the start rules of
``start_from`` are in :mod:`collapse_jax.families._gmm_population`.

**Variance floor.** As scikit-learn's ``reg_covar``, the M-step covariance is
``S_j + variance_floor * I`` (weighted scatter over responsibility mass), in data
units. With ``variance_floor = 0`` this is plain EM, whose weighted mean
log-likelihood is non-decreasing at every iteration; a positive floor trades that
guarantee (the regularised M-step is not the maximiser) for never-singular
covariances.

**Dead components.** A component whose responsibility mass is zero (log weight
already ``-inf``, or a density that underflows at every point) or whose new weight
is below the dtype's smallest normal number (``exp`` of it is 0: it can never be
sampled, nor regain mass) keeps its previous mean and covariance and gets log weight
``-inf``: a lost mode, which is collapse, not a failure. It never comes back (EM
cannot revive a component of weight 0).

**Degenerate fits.** Without a variance floor, a component left with about ``d``
points has no maximum-likelihood covariance (EM drives it to singular). Once a
component's factor is singular or non-finite it is left out of the remaining
iterations and the fit is returned with that component's ``chol_log_diag`` NaN
(status ``DEGENERATE_FIT``, reported per chain); a point that no component can
explain makes the log weights NaN (``NONFINITE_PARAMS``). Neither is ever turned
into a silently dead component.

**Population limit.** ``fit_population`` is the identity (EM's fixed point, proved in
its docstring) and ``fit_population_from`` runs EM against the exact distribution of
another model (a Gaussian or a mixture) by tensor-product Gauss-Hermite quadrature.
Population fits are unregularised (no variance floor): the floor guards finite
samples against singular covariances, which the exact distribution never produces.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._linalg import (
    _logsumexp_small,
    _normalised_log_weights,
    _solve_unit_lower,
    _sum_small,
)
from collapse_jax._reduce import tree_sum
from collapse_jax.checks import (
    check_choice,
    check_positive_int,
    check_real,
    described,
    fail,
)
from collapse_jax.families._gmm_em import (
    _LOG_2PI,
    _em_frames,
    _em_jit,
    _estep,  # noqa: F401
    _fit_frames,
    _floor_block,  # noqa: F401
    _Iterate,  # noqa: F401
    _mstep,  # noqa: F401
    _sanitise,  # noqa: F401
    _whiten_data,
    _whiten_draws,
)

# The EM core and the population fits live in private modules (module docstring);
# the names marked F401 are re-exported for callers that reach in (benchmarks/).
from collapse_jax.families._gmm_params import (
    GmmParams,
    _validate_params,
    _view,
    gmm_params,
    gmm_weights_means_covs,
)
from collapse_jax.families._gmm_population import (
    MAX_QUADRATURE_NODES,  # noqa: F401
    _auto_order,
    _is_gaussian,
    _quadrature_target,
    _source_view,
    _start_from,
    _start_from_gaussian,
)
from collapse_jax.families.base import (
    ApproxHooks,
    Location,
    LocationScale,
    MixtureView,
    ModelFamily,
    family,
)
from collapse_jax.families.gaussian import GaussianParams, _log_diag_cov
from collapse_jax.frame import grid_origin, log_sd, shift_points
from collapse_jax.metrics import gaussian_view, mixture_l2, w2_moment_matched_sq
from collapse_jax.status import fit_status

__all__ = ["GmmParams", "gmm", "gmm_params", "gmm_weights_means_covs", "em"]

#: Starts of the family's EM fit (``gmm(..., init=...)``).
INITS = ("kmeans", "warm")


# ------------------------------------------------------------------- host side ---


def _as_view(model) -> MixtureView:
    """A truth of any continuous kind (mixture, Gaussian, view) as a mixture view."""
    if isinstance(model, MixtureView):
        return model
    if isinstance(model, GaussianParams):
        return gaussian_view(model)
    return _view(model)


def _draw(key, params: GmmParams, n: int):
    """Component labels ``(n,) int32`` and standard normals ``(n, d)``.

    Drawn per point from split keys, so prefix-stable: the first ``m`` of ``n`` draws
    do not depend on ``n`` (threefry partitionable). Materialised once, so every
    consumer sees the same bits whatever XLA fuses.
    """
    k_comp, k_noise = jax.random.split(key)
    dtype = params.means.dtype
    d = params.means.shape[1]
    c = jax.random.categorical(k_comp, params.log_weights, shape=(n,))
    z = jax.random.normal(k_noise, (n, d), dtype)
    return jax.lax.optimization_barrier((c.astype(jnp.int32), z))


def _sample(key, params: GmmParams, n: int) -> jax.Array:
    c, z = _draw(key, params, n)
    scaled = jnp.exp(params.chol_log_diag[c]) * z
    return params.means[c] + _sum_small(
        params.chol_unit_lower[c] * scaled[:, None, :], axis=-1
    )


def em(data, weights, init: GmmParams, num_iters: int, variance_floor=0.0):
    """Expectation-maximisation for a Gaussian mixture, a fixed number of iterations.

    The fit the family runs (see the module docstring): warm start from ``init``,
    frequency weights, log-space responsibilities, M-step covariance ``S_j +
    variance_floor * I``, dead components kept with log weight ``-inf``. With
    ``variance_floor = 0`` the trace is non-decreasing (EM's monotonicity).

    Args:
      data: ``(n, d)`` float points.
      weights: ``(n,)`` frequency weights (0 masks a point out; total > 0).
      init: :class:`GmmParams` to start from (cast to ``data.dtype``).
      num_iters: number of EM iterations (static, ``>= 1``).
      variance_floor: ``>= 0``, added to every covariance's diagonal (traced: a
        sweep over it does not recompile).

    Returns:
      ``(params, log_lik_trace)``: the fitted :class:`GmmParams` (``em_gain`` is
      ``trace[-1] - trace[-2]``) and the ``(num_iters + 1,)`` weighted mean
      log-likelihood per point, entry ``t`` after ``t`` iterations (entry 0 at
      ``init``).

    Examples:
      >>> import jax.numpy as jnp
      >>> init = gmm_params([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
      >>> x = jnp.array([[-2.0], [-1.5], [1.0], [2.5]])
      >>> params, trace = em(x, jnp.ones(4), init, num_iters=5)
      >>> trace.shape, bool(jnp.all(jnp.diff(trace) >= -1e-6))
      ((6,), True)
    """
    fn = "em"
    num_iters = check_positive_int(fn, "num_iters", num_iters)
    data = jnp.asarray(data)
    if data.ndim != 2:
        fail(fn, "data", "an array of shape (n, d)", data, "Pass points as rows.")
    if not jnp.issubdtype(data.dtype, jnp.floating):
        data = data.astype(jnp.float32)
    if not isinstance(init, GmmParams) or np.shape(init.means)[1:] != data.shape[1:]:
        fail(
            fn,
            "init",
            f"GmmParams of dimension {data.shape[1]} (as data)",
            type(init).__name__
            if not isinstance(init, GmmParams)
            else described(f"means of shape {np.shape(init.means)}"),
            "Build it with gmm_params(weights, means, covs).",
            error=TypeError if not isinstance(init, GmmParams) else ValueError,
        )
    weights = jnp.asarray(weights, data.dtype)
    if weights.shape != data.shape[:1]:
        fail(
            fn,
            "weights",
            f"an array of shape ({data.shape[0]},) matching data",
            weights,
            "Pass one weight per point.",
        )
    return _em_jit(data, weights, init, num_iters, jnp.asarray(variance_floor))


# ---------------------------------------------------------------------- family ---


def _make(
    k: int,
    dim: int,
    num_iters: int | None,
    kmeans: bool,
    tol: float,
    max_iters: int,
    variance_floor: float,
    quadrature_order: int,
    population_iters: int,
) -> ModelFamily:
    def sample(key, params, n):
        return _sample(key, params, n)

    settings = (num_iters, kmeans, tol, max_iters, variance_floor)

    def fit(key, data, weights, prev):
        # The key seeds the k-means start (a warm start uses none).
        y, bad = _whiten_data(prev, data)
        return _fit_frames(key, y, bad, weights, prev, *settings)[0]

    def refit(sample_key, fit_key, params, weights):
        c, z = _draw(sample_key, params, weights.shape[0])
        y, bad = _whiten_draws(params, c, z)
        return _fit_frames(fit_key, y, bad, weights, params, *settings)[0]

    def log_prob(params, data):
        return _log_prob(params, data)

    def fit_population(params):
        r"""The population EM fit of a mixture to its own distribution: ``params``.

        Proof (EM's fixed point). Let ``p = sum_j pi_j N_j`` and run one population
        EM step from ``theta`` itself: ``r_j(x) = pi_j N_j(x) / p(x)``, so
        ``r_j(x) p(x) = pi_j N_j(x)`` and
        ``pi_j' = E_p[r_j] = int pi_j N_j = pi_j``,
        ``mu_j' = E_p[r_j x] / pi_j' = int N_j(x) x dx = mu_j``,
        ``Sigma_j' = E_p[r_j (x - mu_j')(x - mu_j')^T] / pi_j' = Sigma_j``.
        Every iteration therefore returns ``theta``; it is moreover the global
        maximiser of ``E_p log p_theta'`` (Gibbs: ``KL(p || p_theta') >= 0`` with
        equality at ``theta' = theta``). The variance floor is not applied in the
        population limit (module docstring).
        """
        return params

    def fit_population_from(source_family, source_params):
        if isinstance(source_params, GmmParams) and np.shape(source_params.means) == (
            k,
            dim,
        ):
            return source_params  # in the model class: the projection is itself
        source = _source_view(source_family, source_params)
        pts, w = _quadrature_target(quadrature_order, source)
        start = start_from(source_family, source_params)
        y, bad = _whiten_data(start, pts)
        params, _ = _em_frames(y, bad, w, start, population_iters, 0.0)
        return params

    def start_from(source_family, source_params):
        if _is_gaussian(source_params):
            return _start_from_gaussian(k, source_params)
        view = _source_view(source_family, source_params)
        return _start_from(k, view, view.means.dtype)

    def check_source(fn, name, source_family):
        # Any family that shows itself as a Gaussian mixture (gmm, gaussian). Not a
        # categorical on a numeric support: the likelihood of a continuous mixture
        # on atoms is unbounded (a component collapses onto an atom), so its
        # population fit does not exist.
        ok = (
            isinstance(source_family, ModelFamily)
            and (
                source_family.name in ("gmm", "gaussian")
                or source_family.view_kind == "mixture"
            )
            and tuple(source_family.event_shape) == (dim,)
        )
        if not ok:
            got = (
                described(
                    f"{source_family.name} with event shape "
                    f"{tuple(source_family.event_shape)}"
                )
                if isinstance(source_family, ModelFamily)
                else type(source_family).__name__
            )
            fail(
                fn,
                name,
                f"a gmm (any number of components) or gaussian family of "
                f"dimension {dim}",
                got,
                f"Fit gmm({k}, dim={dim}) to a truth of the same dimension, built by "
                "cj.gmm_params or cj.gaussian_params.",
            )

    def metrics(params, truth):
        tv = _as_view(truth)
        pv = _view(params)

        return {
            "weights": jnp.exp(params.log_weights),
            "means": params.means,
            "log_vars": jax.vmap(_log_diag_cov)(
                params.chol_log_diag, params.chol_unit_lower
            ),
            "l2": mixture_l2(pv, tv),
            "w2_mm_sq": w2_moment_matched_sq(pv, tv),
            "em_gain": params.em_gain,
            "em_converged": jnp.abs(params.em_gain) < tol,
        }

    def status(params):
        lw = params.log_weights
        live = lw > -jnp.inf  # NaN is not live, but is caught below
        s = params.chol_log_diag
        # A singular covariance of a live component (Cholesky NaN or a zero pivot) is
        # a degenerate fit; any other non-finite entry of a live component, a NaN or
        # +inf log weight, no live component at all, or a non-finite gain is an
        # overflow or a NaN from elsewhere. Dead components may hold anything.
        degenerate = jnp.any(live[:, None] & (jnp.isnan(s) | (s == -jnp.inf)))
        bad_live = (
            jnp.any(live[:, None] & ~jnp.isfinite(params.means))
            | jnp.any(live[:, None] & ~jnp.isfinite(s))
            | jnp.any(live[:, None, None] & ~jnp.isfinite(params.chol_unit_lower))
        )
        bad = (
            bad_live
            | jnp.any(jnp.isnan(lw) | (lw == jnp.inf))
            | ~jnp.any(live)
            | ~jnp.isfinite(params.em_gain)
        )
        return fit_status(degenerate, bad)

    def validate_params(fn, name, params):
        _validate_params(fn, name, params, k, dim)

    # ----- optimiser-based fits (collapse_jax.fitting) -----

    def target_from_data(data, weights):
        return data, weights.astype(data.dtype)

    def refit_target(sample_key, params, weights):
        return _sample(sample_key, params, weights.shape[0]), weights

    def target_from_model(source_family, source_params):
        return _quadrature_target(
            quadrature_order, _source_view(source_family, source_params)
        )

    def loss(params, target):
        points, w = target
        lp = _log_prob(params, points)
        total = tree_sum(w)
        return -tree_sum(jnp.where(w > 0, w * lp, jnp.zeros_like(lp))) / total

    def project(params):
        d = params.means.shape[-1]
        eye = jnp.eye(d, dtype=params.means.dtype)
        unit = jnp.tril(params.chol_unit_lower, -1) + eye[None, :, :]
        return params._replace(
            log_weights=_normalised_log_weights(params.log_weights),
            chol_unit_lower=unit,
        )

    approx = ApproxHooks(
        target_from_data=target_from_data,
        refit_target=refit_target,
        sample_target=None,
        target_from_model=target_from_model,
        loss=loss,
        project=project,
    )

    if variance_floor > 0:
        min_size = 1
        reason = (
            "(the variance floor keeps every covariance non-singular; components "
            "without data die)"
        )
    else:
        min_size = k * (dim + 1)
        reason = (
            f"for {k} non-singular {dim}x{dim} covariances without a variance floor "
            f"(M >= k (d + 1); smaller samples give DEGENERATE_FIT chains)"
        )

    # cast_params is the builder's default (every leaf to the run's dtype); a
    # dead component's -inf log weight is valid, hence the family's own check.
    return family(
        name="gmm",
        params_type=GmmParams,
        event_shape=(dim,),
        min_sample_size=min_size,
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        refit=refit,
        sample_fit=None,  # no exact sufficient-statistic draw for EM fits
        fit_population=fit_population,
        metrics=metrics,
        status=status,
        validate_params=validate_params,
        location_scale=_LOCATION_SCALE,
        population_tolerance=(
            "EM from the model itself is a fixed point, but a finite sample's EM "
            "reaches a local optimum: no population-limit claim to check"
        ),
        metric_names=(
            "weights",
            "means",
            "log_vars",
            "l2",
            "w2_mm_sq",
            "em_gain",
            "em_converged",
        ),
        min_sample_size_reason=reason,
        check_source=check_source,
        start_from=start_from,
        fit_population_from=fit_population_from,
        view=_view,
        view_kind="mixture",
        approx=approx,
        location=_LOCATION,
        # EM's responsibilities and whitened residuals, per component and point.
        fit_temporaries=k * (4 * dim * dim + 2),
    )


def _rescale(params, factor):
    """Every component's covariance times ``factor`` (its log-diagonal moves)."""
    return params._replace(chol_log_diag=params.chol_log_diag + 0.5 * jnp.log(factor))


# A mixture is not one Gaussian: no centre for the monitor's coverage test.
_LOCATION_SCALE = LocationScale(rescale=_rescale)


# EM is translation-equivariant (responsibilities and M-steps see x - mu only), so a
# run is carried in the frame of the mixture's mean (collapse_jax.frame). The grid
# is the smallest live component's scale: that component keeps its resolution.


def _live_weights(params) -> np.ndarray:
    lw = np.asarray(params.log_weights, np.float64)
    w = np.exp(lw - np.max(lw, axis=-1, keepdims=True))
    return w / np.sum(w, axis=-1, keepdims=True)


def _origin(params) -> np.ndarray:
    w = _live_weights(params)
    means = np.asarray(params.means, np.float64)
    live = w > 0
    center = np.sum(np.where(live[:, None], w[:, None] * means, 0), axis=0)
    sd = log_sd(params.chol_log_diag, params.chol_unit_lower)
    smallest = np.min(np.where(live[:, None], sd, np.inf), axis=0)
    return grid_origin(center, smallest)


def _shift(params, offset):
    return params._replace(means=shift_points(params.means, offset))


def _spread(params):
    live = (_live_weights(params) > 0)[..., None]
    sd = np.exp(log_sd(params.chol_log_diag, params.chol_unit_lower))
    extent = np.abs(np.asarray(params.means, np.float64))
    return np.where(live, extent, 0.0), np.where(live, sd, 0.0)


def _restore(frame_metrics, offset):
    return {"means": shift_points(frame_metrics["means"], offset)}


_LOCATION = Location(
    origin=_origin,
    shift=_shift,
    shift_data=shift_points,
    spread=_spread,
    moved=("means",),
    restore=_restore,
)


def _log_prob(params: GmmParams, data: jax.Array) -> jax.Array:
    """``log sum_j pi_j N(x; mu_j, Sigma_j)`` per point, ``(n,)``; the log weights
    are normalised first (log-softmax), so unnormalised iterates are fine.
    Differentiable in every float leaf (reads the strictly lower part of
    ``chol_unit_lower`` only)."""
    d = data.shape[-1]
    r = data[:, None, :] - params.means[None, :, :]
    u = _solve_unit_lower(params.chol_unit_lower[None, :, :, :], r)
    t = u * jnp.exp(-params.chol_log_diag)[None, :, :]
    quad = _sum_small(t * t, axis=-1)
    log_n = (
        -0.5 * quad
        - _sum_small(params.chol_log_diag, axis=-1)[None, :]
        - 0.5 * d * _LOG_2PI
    )
    lw = _normalised_log_weights(params.log_weights)
    return _logsumexp_small(lw[None, :] + log_n, axis=1)


@functools.cache
def _cached(*args) -> ModelFamily:
    return _make(*args)


def gmm(
    num_components: int,
    dim: int = 1,
    *,
    num_iters: int | None = None,
    tol: float = 1e-5,
    max_iters: int = 2000,
    init: str | None = None,
    variance_floor: float = 1e-6,
    quadrature_order: int | None = None,
    population_iters: int = 500,
) -> ModelFamily:
    """The Gaussian-mixture family, refitted by maximum likelihood (EM to a tolerance).

    The exact fit (default) is scikit-learn's ``GaussianMixture(tol=1e-5,
    max_iter=2000)``, the fit of the paper's chain: per generation, EM from a fresh
    k-means start (k-means++ seeding and Lloyd iterations, random from the ``fit``
    role key; labels matched to the previous components so identities persist),
    until the mean log-likelihood per point gains less than ``tol`` in one
    iteration. It runs in the frames of the previous components (module docstring):
    stable at collapsed scales, batch-invariant (a ``while_loop`` whose per-chain
    state freezes once converged, so a chain's bits do not depend on how many
    iterations its batch neighbours need). Under ``vmap`` a batch runs as many
    iterations as its slowest chain: on the notebook chain (one 2-D blob, M =
    1,000) a fit needs about 30 iterations (median), a few need 150-300.

    Args:
      num_components: number of components ``k >= 1``.
      dim: dimension ``d >= 1``.
      num_iters: ``None`` (default): EM to ``tol``, the maximum-likelihood fit. An
        int ``>= 1``: exactly that many EM iterations, warm-started from the
        previous model unless ``init="kmeans"``: a truncated optimiser, i.e. a
        functional approximation error (docs/theory.md SH-1), kept as an explicit
        setting (and for the callers of earlier releases, whose default was 20
        warm-started iterations). Measured on the notebook chain (64 chains,
        mean of log L2^2 to generation 0, against 60 chains of scikit-learn's):
        5 warm-started iterations sit 0.8 below scikit-learn's chain at
        generation 1 and 0.3 at generation 50.
      tol: ``> 0``, the stopping rule's bound on ``|gain|`` of the mean
        log-likelihood per point (scikit-learn's ``tol``; float32 resolves the
        gain to about 1e-6 at M = 1,000, so 1e-5 is safe). Traced in the fit (no
        recompile per value, though the family is cached per value).
      max_iters: ``>= 1``, the cap on EM iterations per fit (scikit-learn's
        ``max_iter``); a fit that stops there has ``em_converged`` False.
      init: ``"kmeans"`` (default with ``num_iters=None``): the k-means start
        above. ``"warm"`` (default with an int ``num_iters``): start from the
        previous model. Warm starts bias the chain: EM stops on the flat
        likelihood near where it started, so the chain moves less per
        generation. Measured (notebook chain, 64 chains of ours against 60 of
        scikit-learn's, mean of log L2^2 to generation 0): EM converged from the
        warm start is 0.56 below (z = 4.7) at generation 1 and 0.42 (z = 4.0) at
        2, within 1 SE from generation 10; the k-means start is within 1 SE at
        generations 1, 2, 5, 10, 20 and 50 (benchmarks/gmm_chain.py
        ``--notebook-only`` for 256 chains to generation 200). The k-means start
        costs about twice the iterations (scikit-learn: 35 per fit on average
        from k-means, 17 warm).
      variance_floor: ``>= 0``, added to the diagonal of every fitted covariance
        (scikit-learn's ``reg_covar``, default 1e-6 as there; in data units). 0 is
        plain EM: monotone, but a component left with ``<= d`` points is singular
        (``DEGENERATE_FIT``).
      quadrature_order: Gauss-Hermite nodes ``q`` per dimension for population
        fits to another model (``sample_size=None`` with ``init_family``): ``K q^d``
        nodes for a ``K``-component source. Exact for polynomials of degree
        ``2q - 1`` per coordinate, so a 1-component fit (moment matching) is exact
        at any order; with several components the responsibilities are not
        polynomials and the error decays slowly in ``q``. Measured on a 3- to
        2-component fit in 2-D (tests/test_gmm.py, against EM on a dense grid):
        largest parameter error 1.7e-2 at q = 8, 1.3e-3 at 16, 3.7e-5 at 32,
        2.6e-7 at 64. Default (None): the largest ``q <= 64`` with ``q^d <=
        4096`` (64 for d <= 2, 16 for d = 3, 8 for d = 4). At most
        ``MAX_QUADRATURE_NODES`` nodes in all, else the population fit is refused
        with a message.
      population_iters: EM iterations of a population fit to another model (run
        once per run, for the reference model), from ``start_from``: EM must
        converge, because the chain then continues
        with ``fit_population``, the identity, which assumes EM's fixed point
        (a 3- to 2-component fit in 2-D moved its means by 0.8 between 20 and
        500 iterations; its last-iteration gain fell from 3e-4 to 1e-15).

    Returns:
      A cached :class:`~collapse_jax.families.base.ModelFamily` named ``"gmm"``;
      equal arguments give the same object, so jitted runs compile once.

    Metrics (per chain and generation; ``truth`` is the reference model):
      ``weights`` (k,), the mixture weights (0 for a dead component); ``means``
      (k, d); ``log_vars`` (k, d), log of the diagonal of each covariance;
      ``l2`` (), the closed-form L2 distance to the truth (docs/theory.md SH-E2);
      ``w2_mm_sq`` (), the squared W2 distance between the moment-matched Gaussians;
      ``em_gain`` (), the last measured gain of the mean log-likelihood per point
      (the stopping rule's; with ``num_iters``, the last iteration's);
      ``em_converged`` () bool, ``|em_gain| < tol`` (False: the fit stopped at
      ``max_iters``, or ran a fixed ``num_iters`` that was not enough).

    Other members: ``sample_fit`` is None (no exact sufficient-statistic draw);
    ``fit_population`` is the identity (EM's fixed point); ``fit_population_from``
    fits the exact distribution of a Gaussian or another mixture of dimension
    ``d`` by ``population_iters`` iterations of population EM (no floor) on
    Gauss-Hermite nodes (a mixture of the same ``k`` is returned as it is: it is
    its own projection), started from
    ``start_from``: from a ``K``-component mixture, its ``k`` heaviest components
    (ties by index, original order kept, weights renormalised) if ``k <= K``, else
    all ``K`` and then, ``k - K`` times, the currently heaviest component split in
    two copies at ``mu +- sd/2`` along its principal axis (weights halved; the new
    copy appended last); from a Gaussian, ``k`` equal-weight copies at offsets
    ``0.5 sd linspace(-1, 1, k)`` along its principal axis. ``min_sample_size`` is 1
    with a positive floor and ``k (d + 1)`` without. The ``approx`` hooks target a
    weighted point set ``(points (n, d), weights (n,))`` (a sample, or the
    quadrature nodes of a model); the loss is the weighted mean negative
    log-likelihood with log-weights normalised inside, and gradient steps treat
    ``log_weights``, ``means``, ``chol_log_diag`` and the strictly lower part of
    ``chol_unit_lower`` as free parameters (``project`` restores the unit diagonal
    and renormalises the weights).

    Examples:
      >>> fam = gmm(2, dim=2)
      >>> fam is gmm(2, dim=2), fam.name, fam.min_sample_size
      (True, 'gmm', 1)
    """
    fn = "gmm"
    k = check_positive_int(
        fn, "num_components", num_components, "Pass num_components >= 1, e.g. 2."
    )
    dim = check_positive_int(fn, "dim", dim, "Pass dim >= 1, e.g. dim=2.")
    if num_iters is not None:
        num_iters = check_positive_int(
            fn,
            "num_iters",
            num_iters,
            "Pass num_iters >= 1, e.g. num_iters=20, or num_iters=None for EM to "
            "convergence (the maximum-likelihood fit).",
        )
    tol = check_real(
        fn,
        "tol",
        tol,
        low=0.0,
        low_open=True,
        fix="Pass e.g. tol=1e-5 (scikit-learn's GaussianMixture default).",
    )
    max_iters = check_positive_int(
        fn, "max_iters", max_iters, "Pass max_iters >= 1, e.g. max_iters=2000."
    )
    if init is None:
        init = "kmeans" if num_iters is None else "warm"
    init = check_choice(fn, "init", init, INITS)
    population_iters = check_positive_int(
        fn, "population_iters", population_iters, "Pass e.g. population_iters=500."
    )
    if quadrature_order is None:
        quadrature_order = _auto_order(dim)
    quadrature_order = check_positive_int(
        fn, "quadrature_order", quadrature_order, "Pass e.g. quadrature_order=32."
    )
    if isinstance(variance_floor, bool) or not isinstance(variance_floor, numbers.Real):
        fail(
            fn,
            "variance_floor",
            "a real number >= 0",
            variance_floor,
            "Pass e.g. variance_floor=1e-6, or 0 for plain EM.",
            error=TypeError,
        )
    floor = float(variance_floor)
    if not (math.isfinite(floor) and floor >= 0):
        fail(
            fn,
            "variance_floor",
            "finite and >= 0",
            floor,
            "Pass e.g. variance_floor=1e-6 (scikit-learn's reg_covar), or 0 for "
            "plain EM.",
        )
    return _cached(
        k,
        dim,
        num_iters,
        init == "kmeans",
        tol,
        max_iters,
        floor,
        quadrature_order,
        population_iters,
    )
