"""Distances between mixtures (collapse_jax.metrics) against independent oracles.

Oracles: numerical integration with SciPy (1-D ``quad``; 2-D trapezoid on a fine
grid, spectrally accurate for Gaussians), NumPy float64 closed forms written here
(moments, the L2 overlap sums with ``scipy.stats.multivariate_normal``, the Bures
term with ``scipy.linalg.sqrtm``), and exact properties (zero at identity, symmetry,
triangle inequality, dead components). No Monte Carlo: every tolerance is a rounding
tolerance (float32 ~1e-5 relative, float64 ~1e-10), stated per test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.linalg import sqrtm
from scipy.stats import multivariate_normal as mvn

import jax
import jax.numpy as jnp

import collapse_jax.metrics as cjm
from collapse_jax.families.base import MixtureView
from collapse_jax.families.gaussian import GaussianParams, gaussian_params

# ------------------------------------------------------------------- helpers ---


def _view(weights, means, covs, dtype=jnp.float32) -> MixtureView:
    """A MixtureView from natural parameters (host float64 -> dtype)."""
    w = np.asarray(weights, np.float64)
    mu = np.asarray(means, np.float64)
    cov = np.asarray(covs, np.float64)
    chol = np.linalg.cholesky(cov)
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return MixtureView(
        jnp.asarray(lw, dtype),
        jnp.asarray(mu, dtype),
        jnp.asarray(np.log(diag), dtype),
        jnp.asarray(chol / diag[:, None, :], dtype),
    )


def _random_mixture(rng, k, d, spread=1.5):
    w = rng.dirichlet(np.full(k, 3.0))
    mu = rng.normal(scale=spread, size=(k, d))
    a = rng.normal(scale=0.5, size=(k, d, d))
    cov = a @ np.swapaxes(a, -1, -2) + 0.3 * np.eye(d)[None]
    return w, mu, cov


def _arrays(mixture):
    return tuple(np.asarray(x, np.float64) for x in mixture)


def _density(weights, means, covs):
    weights, means, covs = _arrays((weights, means, covs))

    def p(x):
        return sum(
            w * mvn.pdf(x, m, c) for w, m, c in zip(weights, means, covs, strict=True)
        )

    return p


def _cross(x, y):
    """``sum_ij x_i y_j N(mu_i; nu_j, S_i + L_j)`` with SciPy densities."""
    x, y = _arrays(x), _arrays(y)
    return sum(
        x[0][i] * y[0][j] * mvn.pdf(x[1][i], y[1][j], x[2][i] + y[2][j])
        for i in range(len(x[0]))
        for j in range(len(y[0]))
    )


def _l2_sq_numpy(a, b):
    """The closed form with SciPy densities (an independent implementation)."""
    return _cross(a, a) + _cross(b, b) - 2 * _cross(a, b)


def _moments_numpy(weights, means, covs):
    w, mu, cov = (np.asarray(x, np.float64) for x in (weights, means, covs))
    m = w @ mu
    dev = mu - m[None]
    s = np.einsum("k,kij->ij", w, cov) + np.einsum("k,ki,kj->ij", w, dev, dev)
    return m, s


def _bures_w2_numpy(m0, s0, m1, s1):
    r = sqrtm(s0)
    cross = np.real(sqrtm(r @ s1 @ r))
    return float(
        np.sum((m0 - m1) ** 2) + np.trace(s0) + np.trace(s1) - 2 * np.trace(cross)
    )


def _natural(g: GaussianParams):
    chol = (
        np.asarray(g.chol_unit_lower, np.float64)
        * np.exp(np.asarray(g.chol_log_diag, np.float64))[None, :]
    )
    return np.asarray(g.mean, np.float64), chol @ chol.T


l2_sq = jax.jit(cjm.mixture_l2_sq)
log_l2_sq = jax.jit(cjm.mixture_log_l2_sq)
l2 = jax.jit(cjm.mixture_l2)
w2 = jax.jit(cjm.w2_moment_matched_sq)
moment_match = jax.jit(cjm.moment_match)

CASE_1D = (
    ([0.3, 0.7], [[-1.0], [2.0]], [[[0.5]], [[1.5]]]),
    ([1.0], [[0.5]], [[[2.0]]]),
)
CASE_2D = (
    (
        [0.4, 0.6],
        [[-1.0, 0.5], [1.5, -0.5]],
        [[[1.0, 0.3], [0.3, 0.6]], [[0.7, -0.2], [-0.2, 1.2]]],
    ),
    (
        [0.2, 0.5, 0.3],
        [[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]],
        [np.eye(2), [[0.5, 0.1], [0.1, 0.8]], [[1.5, -0.4], [-0.4, 0.9]]],
    ),
)


# --------------------------------------------------------- numerical integration ---


def _quad_l2_sq_1d(a, b):
    p, q = _density(*a), _density(*b)
    value, err = integrate.quad(
        lambda x: (p(np.array([x])) - q(np.array([x]))) ** 2,
        -30,
        30,
        limit=400,
        epsabs=1e-14,
        epsrel=1e-12,
    )
    return value


def _grid_l2_sq_2d(a, b, half=12.0, num=801):
    xs = np.linspace(-half, half, num)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], axis=-1)
    diff = _density(*a)(pts) - _density(*b)(pts)
    h = xs[1] - xs[0]
    # Trapezoid weights: the integrand vanishes at the edges of the grid.
    return float(np.sum(diff**2) * h * h)


def test_l2_matches_quad_1d():
    a, b = CASE_1D
    exact = _quad_l2_sq_1d(a, b)
    got = float(l2_sq(_view(*a), _view(*b)))
    np.testing.assert_allclose(got, exact, rtol=2e-5)  # float32 rounding
    np.testing.assert_allclose(_l2_sq_numpy(a, b), exact, rtol=1e-9)  # oracle agrees


def test_l2_matches_grid_integration_2d():
    a, b = CASE_2D
    exact = _grid_l2_sq_2d(a, b)
    got = float(l2_sq(_view(*a), _view(*b)))
    np.testing.assert_allclose(got, exact, rtol=2e-5)
    np.testing.assert_allclose(_l2_sq_numpy(a, b), exact, rtol=1e-9)


def test_l2_float64_matches_integration_to_1e10(x64):
    for a, b, exact in (
        (*CASE_1D, _quad_l2_sq_1d(*CASE_1D)),
        (*CASE_2D, _grid_l2_sq_2d(*CASE_2D)),
    ):
        got = float(l2_sq(_view(*a, dtype=x64), _view(*b, dtype=x64)))
        np.testing.assert_allclose(got, exact, rtol=1e-10)
        np.testing.assert_allclose(
            float(l2(_view(*a, dtype=x64), _view(*b, dtype=x64))),
            np.sqrt(exact),
            rtol=1e-10,
        )


def test_moment_match_matches_integrated_moments_1d():
    w, mu, cov = CASE_1D[0]
    p = _density(w, mu, cov)
    mass = integrate.quad(lambda x: p(np.array([x])), -30, 30, epsabs=1e-13)[0]
    m1 = integrate.quad(lambda x: x * p(np.array([x])), -30, 30, epsabs=1e-13)[0]
    m2 = integrate.quad(lambda x: x * x * p(np.array([x])), -30, 30, epsabs=1e-13)[0]
    np.testing.assert_allclose(mass, 1.0, rtol=1e-10)
    mean, var = _natural(moment_match(_view(w, mu, cov)))
    np.testing.assert_allclose(mean[0], m1, atol=1e-6)
    np.testing.assert_allclose(var[0, 0], m2 - m1**2, rtol=1e-6)


@pytest.mark.parametrize("case", [0, 1])
def test_moment_match_matches_numpy_2d(case):
    w, mu, cov = CASE_2D[case]
    m, s = _moments_numpy(w, mu, cov)
    got_m, got_s = _natural(moment_match(_view(w, mu, cov)))
    np.testing.assert_allclose(got_m, m, atol=1e-6)
    np.testing.assert_allclose(got_s, s, atol=2e-6, rtol=2e-6)


def test_moment_match_float64(x64):
    rng = np.random.default_rng(11)
    for k, d in ((1, 1), (3, 2), (2, 3)):
        w, mu, cov = _random_mixture(rng, k, d)
        m, s = _moments_numpy(w, mu, cov)
        g = moment_match(_view(w, mu, cov, dtype=x64))
        assert g.mean.dtype == jnp.float64
        got_m, got_s = _natural(g)
        np.testing.assert_allclose(got_m, m, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got_s, s, rtol=1e-12, atol=1e-12)


def test_w2_moment_matched_matches_bures_formula():
    rng = np.random.default_rng(5)
    for k, d in ((2, 1), (2, 2), (3, 3)):
        a, b = _random_mixture(rng, k, d), _random_mixture(rng, k + 1, d)
        exact = _bures_w2_numpy(*_moments_numpy(*a), *_moments_numpy(*b))
        got = float(w2(_view(*a), _view(*b)))
        np.testing.assert_allclose(got, exact, rtol=2e-5, atol=1e-6)


def test_w2_of_two_gaussians_is_their_w2_float64(x64):
    g0 = gaussian_params([0.0, 1.0], [[2.0, 0.5], [0.5, 1.0]])
    g1 = gaussian_params([1.0, -1.0], [[0.5, -0.1], [-0.1, 0.3]])
    v0 = jax.tree.map(lambda x: x.astype(x64), cjm.gaussian_view(g0))
    v1 = jax.tree.map(lambda x: x.astype(x64), cjm.gaussian_view(g1))
    exact = _bures_w2_numpy(
        g0.mean,
        np.array([[2.0, 0.5], [0.5, 1.0]]),
        g1.mean,
        np.array([[0.5, -0.1], [-0.1, 0.3]]),
    )
    np.testing.assert_allclose(float(w2(v0, v1)), exact, rtol=1e-10)


# -------------------------------------------------------------------- properties ---


def test_zero_at_identity_and_symmetric():
    a, b = _view(*CASE_2D[0]), _view(*CASE_2D[1])
    assert float(l2_sq(a, a)) == 0.0  # the three terms are bitwise equal
    assert float(log_l2_sq(a, a)) == -np.inf
    assert float(w2(a, a)) <= 1e-10
    np.testing.assert_allclose(float(l2_sq(a, b)), float(l2_sq(b, a)), rtol=1e-6)
    np.testing.assert_allclose(float(w2(a, b)), float(w2(b, a)), rtol=1e-5)


def test_gaussian_view_is_one_component():
    g = gaussian_params([1.0, 2.0], [[1.0, 0.2], [0.2, 0.5]])
    v = cjm.gaussian_view(g)
    assert v.log_weights.shape == (1,) and float(v.log_weights[0]) == 0.0
    assert v.means.shape == (1, 2) and v.chol_unit_lower.shape == (1, 2, 2)
    m, s = _natural(moment_match(jax.tree.map(lambda x: x.astype(jnp.float32), v)))
    np.testing.assert_allclose(m, [1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(s, [[1.0, 0.2], [0.2, 0.5]], atol=1e-6)


def test_dead_components_contribute_exactly_nothing():
    """A component with log weight -inf (and garbage parameters) changes nothing."""
    w, mu, cov = CASE_2D[0]
    live = _view(w, mu, cov)
    nan = jnp.float32(jnp.nan)
    with_dead = MixtureView(
        jnp.concatenate([live.log_weights, jnp.array([-jnp.inf], jnp.float32)]),
        jnp.concatenate([live.means, jnp.full((1, 2), nan)]),
        jnp.concatenate([live.chol_log_diag, jnp.full((1, 2), -jnp.inf)]),
        jnp.concatenate([live.chol_unit_lower, jnp.full((1, 2, 2), jnp.inf)]),
    )
    other = _view(*CASE_2D[1])
    for f in (l2_sq, w2):
        x, y = float(f(with_dead, other)), float(f(live, other))
        assert np.isfinite(x)
        np.testing.assert_allclose(x, y, rtol=1e-6)
    assert float(l2_sq(with_dead, with_dead)) == 0.0
    m0, s0 = _natural(moment_match(with_dead))
    m1, s1 = _natural(moment_match(live))
    np.testing.assert_allclose(m0, m1, rtol=1e-6)
    np.testing.assert_allclose(s0, s1, rtol=1e-6)


def test_collapsed_model_stays_finite_in_float32():
    """Covariances 1e-30 (sd 1e-15) in float32 2-D: the self-overlap ~1e29 is large
    but finite; at sd 1e-25 the squared distance overflows (documented) while its
    log stays finite and exact."""
    truth = _view(*CASE_2D[0])
    w = np.array([0.3, 0.7])
    means = np.array([[0.0, 1.0], [2.0, -1.0]])
    base = np.array([[1.0, 0.0], [0.5, 1.0]])
    for sd, finite in ((1e-15, True), (1e-25, False)):
        model = MixtureView(
            jnp.asarray(np.log(w), jnp.float32),
            jnp.asarray(means, jnp.float32),
            jnp.full((2, 2), np.log(sd), jnp.float32),
            jnp.asarray(np.broadcast_to(base, (2, 2, 2)), jnp.float32),
        )
        # float64 oracle in log space: the self term dominates (cross terms ~ 1).
        cov = base @ base.T
        log_self = (
            np.log(np.sum(w**2))
            - np.log(4 * np.pi)
            - 0.5 * np.linalg.slogdet(cov)[1]
            - 2 * np.log(sd)
        )
        assert np.isfinite(float(l2_sq(model, truth))) == finite
        np.testing.assert_allclose(float(log_l2_sq(model, truth)), log_self, rtol=1e-6)
        assert np.isfinite(float(w2(model, truth)))
        g = moment_match(model)
        assert np.all(np.isfinite(np.asarray(g.chol_log_diag)))


def test_total_variation():
    p = jnp.array([0.1, 0.2, 0.7], jnp.float32)
    q = jnp.array([0.3, 0.3, 0.4], jnp.float32)
    np.testing.assert_allclose(
        float(jax.jit(cjm.total_variation)(p, q)), 0.3, rtol=1e-6
    )
    assert float(cjm.total_variation(p, p)) == 0.0


SHAPES = st.sampled_from([(1, 1), (2, 1), (2, 2), (3, 2)])


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=SHAPES)
def test_l2_matches_numpy_closed_form_and_is_a_metric(seed, shape):
    """For random mixtures: the float32 result matches the float64 SciPy closed form
    (relative 1e-4 of the largest term, the cancellation scale), is symmetric and
    non-negative, and satisfies the triangle inequality (up to that rounding)."""
    k, d = shape
    rng = np.random.default_rng(seed)
    a, b, c = (_random_mixture(rng, k, d) for _ in range(3))
    va, vb, vc = _view(*a), _view(*b), _view(*c)
    exact = _l2_sq_numpy(a, b)
    scale = max(_cross(a, a), _cross(b, b))  # size of the cancelling terms
    got = float(l2_sq(va, vb))
    assert got >= 0.0
    assert abs(got - exact) <= 1e-5 * scale + 1e-5 * exact
    assert abs(got - float(l2_sq(vb, va))) <= 1e-5 * scale
    dab, dbc, dac = (float(l2(x, y)) for x, y in ((va, vb), (vb, vc), (va, vc)))
    assert dac <= dab + dbc + 1e-3 * np.sqrt(scale)
