"""The Gaussian-mixture family: EM against a NumPy oracle, recovery, runner contracts.

Oracles: an independent NumPy float64 EM written here (same start, iterations, floor
and dead-component rule) on small cases; population EM on a dense grid in NumPy; the
moment match of ``collapse_jax.metrics`` (itself tested against integration in
tests/test_metrics.py). Exact tests: bitwise batch, chunk and mask invariance through
``run_chains`` and ``refit``.

Budget: the Monte Carlo assertions (recovery at M = 20,000) go through
``tests.helpers.assert_within_se`` with ``K`` from the suite-wide false-failure budget
in ``tests/helpers.py``; SEs are the asymptotic sampling SDs of the per-component
estimators, which is what the mixture MLE reduces to for components 12 SDs apart
(the overlap is below 1e-30). This module makes 11 statistical assertions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import jax
import jax.numpy as jnp

import collapse_jax.metrics as cjm
from collapse_jax.chain import run_chains
from collapse_jax.families.categorical import categorical
from collapse_jax.families.gaussian import gaussian, gaussian_params
from collapse_jax.families.gmm import (
    GmmParams,
    em,
    gmm,
    gmm_params,
    gmm_weights_means_covs,
)
from collapse_jax.status import FailedChainsWarning, Status
from tests.helpers import assert_within_se

# ---------------------------------------------------------------- NumPy oracle ---


def _np_log_normal(x, mu, cov):
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mu[None, :]).T)
    d = x.shape[1]
    return (
        -0.5 * np.sum(z * z, axis=0)
        - np.sum(np.log(np.diag(chol)))
        - 0.5 * d * np.log(2 * np.pi)
    )


def np_em(x, w, weights, means, covs, num_iters, floor):
    """Plain EM in float64 (the textbook updates on raw data).

    M-step: ``N_j = sum_i w_i r_ij``, ``pi_j = N_j / sum N``, ``mu_j = sum w r x /
    N_j``, ``Sigma_j = sum w r (x - mu_j)(x - mu_j)^T / N_j + floor I``; a component
    with ``N_j = 0`` keeps its mean and covariance and gets weight 0.
    Returns (weights, means, covs, trace of the weighted mean log-likelihood).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    with np.errstate(divide="ignore"):
        log_pi = np.log(np.asarray(weights, np.float64))
    mu = np.array(means, np.float64)
    cov = np.array(covs, np.float64)
    k, d = mu.shape
    trace = []

    def estep():
        joint = log_pi[None, :] + np.stack(
            [_np_log_normal(x, mu[j], cov[j]) for j in range(k)], axis=1
        )
        lse = logsumexp(joint, axis=1)
        trace.append(float(np.sum(w * lse) / np.sum(w)))
        return np.exp(joint - lse[:, None])

    for _ in range(num_iters):
        r = estep()
        nk = np.sum(w[:, None] * r, axis=0)
        for j in range(k):
            if nk[j] == 0:
                continue
            rho = w * r[:, j] / nk[j]
            mu[j] = rho @ x
            dev = x - mu[j][None, :]
            cov[j] = (rho[:, None] * dev).T @ dev + floor * np.eye(d)
        with np.errstate(divide="ignore"):
            log_pi = np.log(nk / nk.sum())
    estep()
    return np.exp(log_pi), mu, cov, np.array(trace)


def _random_mixture(rng, k, d, spread=2.0, conc=4.0):
    w = rng.dirichlet(np.full(k, conc))
    mu = rng.normal(scale=spread, size=(k, d))
    a = rng.normal(scale=0.5, size=(k, d, d))
    cov = a @ np.swapaxes(a, -1, -2) + 0.4 * np.eye(d)[None]
    return w, mu, cov


def _draw_mixture(rng, w, mu, cov, n):
    c = rng.choice(len(w), size=n, p=w)
    z = rng.normal(size=(n, mu.shape[1]))
    chol = np.linalg.cholesky(cov)
    return mu[c] + np.einsum("nij,nj->ni", chol[c], z)


def _problem(seed, k, d, n=64):
    """Data from one random mixture; the start is another, nearby one. Frequency
    weights in {0, 1, 2} (about 15 % masked)."""
    rng = np.random.default_rng(seed)
    truth = _random_mixture(rng, k, d, conc=8.0)
    x = _draw_mixture(rng, *truth, n)
    w = rng.choice([0.0, 1.0, 2.0], size=n, p=[0.15, 0.6, 0.25])
    w[0] = 1.0
    start_w, start_mu, start_cov = truth
    start_mu = start_mu + rng.normal(scale=0.3, size=start_mu.shape)
    start_cov = start_cov * rng.uniform(0.7, 1.4, size=(k, 1, 1))
    return x, w, (start_w, start_mu, start_cov)


def _natural(params):
    return tuple(np.asarray(a, np.float64) for a in gmm_weights_means_covs(params))


_refit = jax.jit(gmm(2, 2).refit)
_sample = jax.jit(gmm(2, 2).sample, static_argnums=2)

TRUTH2 = gmm_params(
    [0.35, 0.65],
    [[-6.0, 0.0], [6.0, 1.0]],
    [[[1.0, 0.3], [0.3, 0.5]], [[0.5, -0.1], [-0.1, 0.8]]],
)

# ------------------------------------------------------------ EM vs the oracle ---

EM_CASES = [(1, 1), (2, 1), (2, 2), (3, 2)]
ITERS = 12  # float32 EM runs on _problem data share one compile per (k, d)


@pytest.mark.parametrize("floor", [0.0, 1e-2])
@pytest.mark.parametrize("shape", EM_CASES)
def test_em_matches_numpy_reference_float64(shape, floor, seed, x64):
    k, d = shape
    x, w, start = _problem(seed, k, d)
    num_iters = 7
    ref = np_em(x, w, *start, num_iters, floor)
    params, trace = em(
        jnp.asarray(x, x64), jnp.asarray(w, x64), gmm_params(*start), num_iters, floor
    )
    assert params.means.dtype == jnp.float64 and trace.dtype == jnp.float64
    for got, want in zip(_natural(params), ref[:3], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(trace), ref[3], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        float(params.em_gain), ref[3][-1] - ref[3][-2], atol=1e-10
    )


@pytest.mark.parametrize("shape", EM_CASES)
def test_em_matches_numpy_reference_float32(shape, seed):
    k, d = shape
    x, w, start = _problem(seed, k, d)
    ref = np_em(x, w, *start, ITERS, 1e-3)
    params, trace = em(
        jnp.asarray(x, jnp.float32),
        jnp.asarray(w, jnp.float32),
        gmm_params(*start),
        ITERS,
        1e-3,
    )
    assert params.means.dtype == jnp.float32
    for got, want in zip(_natural(params), ref[:3], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(trace), ref[3], rtol=1e-5, atol=1e-5)


def test_em_dead_component_matches_oracle_and_keeps_its_parameters(x64):
    """A start component of weight 0 stays dead: mean and covariance unchanged."""
    x, w, (sw, smu, scov) = _problem(3, 3, 2)
    sw = np.array([0.5, 0.0, 0.5])
    params, trace = em(
        jnp.asarray(x, x64), jnp.asarray(w, x64), gmm_params(sw, smu, scov), 5, 0.0
    )
    ref = np_em(x, w, sw, smu, scov, 5, 0.0)
    assert float(params.log_weights[1]) == -np.inf
    np.testing.assert_array_equal(np.asarray(params.means[1]), smu[1])
    got = _natural(params)
    np.testing.assert_allclose(got[2][1], scov[1], rtol=1e-14)
    for g, r in zip(got, ref[:3], strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)
    assert gmm(3, 2).status(params) == Status.OK


def test_em_component_without_mass_dies_and_keeps_its_parameters():
    """A start component far from every point gets a weight below float32's
    smallest normal number: it is dead (log weight -inf), its mean and covariance
    are the start's, bit for bit, and the others fit the data."""
    x, w, (sw, smu, scov) = _problem(5, 3, 2)
    smu = smu.copy()
    smu[2] = [1e3, -1e3]
    start = gmm_params(sw, smu, scov)
    params, trace = em(
        jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), start, ITERS, 1e-6
    )
    assert float(params.log_weights[2]) == -np.inf
    np.testing.assert_array_equal(
        np.asarray(params.means[2]), np.asarray(smu[2], np.float32)
    )
    np.testing.assert_array_equal(
        np.asarray(params.chol_log_diag[2]),
        np.asarray(start.chol_log_diag[2], np.float32),
    )
    np.testing.assert_allclose(
        np.exp(np.asarray(params.log_weights[:2])).sum(), 1.0, rtol=1e-6
    )
    assert np.all(np.isfinite(np.asarray(trace)))
    assert gmm(3, 2).status(params) == Status.OK


@settings(deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(1, 1), (2, 1), (2, 2), (3, 2)]),
)
def test_em_log_likelihood_is_monotone(seed, shape):
    """Plain EM (floor 0) never decreases the weighted mean log-likelihood, up to
    float32 rounding: 16 ulp of |ll| per step (each trace entry is a mean of 64
    tree-summed terms)."""
    k, d = shape
    x, w, start = _problem(seed, k, d)
    try:  # plain EM can reach a singular covariance (~1 in 3000 of these problems)
        np_em(x, w, *start, ITERS, 0.0)
    except np.linalg.LinAlgError:
        assume(False)
    _, trace = em(
        jnp.asarray(x, jnp.float32),
        jnp.asarray(w, jnp.float32),
        gmm_params(*start),
        ITERS,
        0.0,
    )
    trace = np.asarray(trace, np.float64)
    assert np.all(np.isfinite(trace))
    slack = 16 * np.finfo(np.float32).eps * np.maximum(np.abs(trace[:-1]), 1.0)
    assert np.all(np.diff(trace) >= -slack), np.diff(trace)


@pytest.mark.slow  # ~20-40 s on 2 cores: the maximum-likelihood fit's compile
def test_fit_equals_em_and_refit_equals_fit_of_its_draws():
    """With ``num_iters=20``, ``fit`` is ``em`` with the family's settings; for it
    and for the default (maximum-likelihood) fit, ``refit`` (whitened draws, no
    ``x`` formed) agrees with fitting the same draws as data, to float32 rounding."""
    key = jax.random.key(4)
    n = 200
    for fam in (gmm(2, 2, num_iters=20), gmm(2, 2)):
        p32 = fam.cast_params(TRUTH2, jnp.float32)
        x = _sample(key, p32, n)
        ones = jnp.ones((n,), jnp.float32)
        via_fit = jax.jit(fam.fit)(key, x, ones, p32)
        via_refit = jax.jit(fam.refit)(key, key, p32, ones)
        for a, b in zip(via_fit, via_refit, strict=True):
            np.testing.assert_allclose(
                np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-5
            )
        if fam.name == "gmm" and fam is gmm(2, 2, num_iters=20):
            via_em, _ = em(x, ones, p32, 20, 1e-6)
            for a, c in zip(via_fit, via_em, strict=True):
                np.testing.assert_allclose(
                    np.asarray(a), np.asarray(c), rtol=1e-6, atol=1e-6
                )


# ------------------------------------------------------------------- recovery ---


@pytest.mark.statistical
def test_recovers_well_separated_components(seed):
    """M = 20,000 draws of a 2-D, 2-component mixture (components 12 SDs apart):
    weight SE sqrt(pi (1 - pi) / M); mean SE sqrt(Sigma_aa / (M pi)); covariance
    entry SE sqrt((Sigma_aa Sigma_bb + Sigma_ab^2) / (M pi)) (Gaussian fourth
    moments). Floor 1e-6 adds a bias far below the SEs (~1e-2). 11 assertions."""
    fam = gmm(2, 2)
    m = 20_000
    p32 = fam.cast_params(TRUTH2, jnp.float32)
    key = jax.random.key(seed)
    fitted = _refit(*jax.random.split(key), p32, jnp.ones((m,), jnp.float32))
    assert fam.status(fitted) == Status.OK
    w, mu, cov = _natural(fitted)
    w0, mu0, cov0 = _natural(TRUTH2)
    assert_within_se(
        w[0], w0[0], math.sqrt(w0[0] * w0[1] / m), what="weight", seed=seed
    )
    for j in range(2):
        mj = m * w0[j]
        se_mu = np.sqrt(np.diag(cov0[j]) / mj)
        assert_within_se(mu[j], mu0[j], se_mu, what=f"mean {j}", seed=seed)
        c = cov0[j]
        iu = np.triu_indices(2)
        se_cov = np.sqrt((np.outer(np.diag(c), np.diag(c)) + c**2)[iu] / mj)
        assert_within_se(cov[j][iu], c[iu], se_cov, what=f"cov {j}", seed=seed)


# ------------------------------------------------------------------- the runner ---


def _same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def batch16():
    return run_chains(
        gmm(2, 2), TRUTH2, key=11, num_chains=16, num_generations=5, sample_size=200
    )


@pytest.mark.slow  # ~20-40 s on 2 cores: the maximum-likelihood fit's compile
def test_runs_in_the_runner(batch16):
    res = run_chains(
        gmm(2, 2), TRUTH2, key=11, num_chains=8, num_generations=5, sample_size=200
    )
    assert res.ok
    assert res.metrics["weights"].shape == (8, 6, 2)
    assert res.metrics["means"].shape == (8, 6, 2, 2)
    assert res.metrics["log_vars"].shape == (8, 6, 2, 2)
    for name in ("l2", "w2_mm_sq", "em_gain"):
        assert res.metrics[name].shape == (8, 6)
        assert np.all(np.isfinite(res.metrics[name]))
    assert np.all(res.metrics["l2"][:, 0] == 0.0)  # generation 0 is the truth
    assert np.all(res.metrics["l2"][:, 1:] > 0.0)
    assert res.params.means.dtype == np.float32
    np.testing.assert_allclose(res.metrics["weights"].sum(-1), 1.0, rtol=1e-5)
    # The 8-chain batch is the first half of the 16-chain batch, bit for bit.
    _same(res.metrics, {m: v[:8] for m, v in batch16.metrics.items()})


def test_without_a_floor_degenerate_fits_are_reported_and_frozen():
    """No variance floor, M = 10, 1-D: a component left with about one point has no
    maximum-likelihood covariance (EM drives it to 0), so most chains end in
    DEGENERATE_FIT (measured over 3 x 32 chains under either key scheme: 82-90 %
    by generation 30, the rest not within 300; P(none of 8 fails) < 1e-6).
    The failure is reported (and warned about), the chain keeps its last good
    model, and every recorded metric is finite up to the failure and missing (NaN)
    from it on; nothing is hidden as a silently dead component."""
    truth = gmm_params([0.5, 0.5], [[-2.0], [2.0]], [1.0, 1.0])
    with pytest.warns(FailedChainsWarning, match=r"[1-8] of 8 chains failed"):
        res = run_chains(
            gmm(2, 1, variance_floor=0.0, num_iters=5),
            truth,
            key=3,
            num_chains=8,
            num_generations=100,
            sample_size=10,
            record_params=False,
        )
    failures = res.failures()
    assert len(failures) >= 1
    assert {f.status for f in failures} == {Status.DEGENERATE_FIT}
    for name, value in res.metrics.items():
        v = value.reshape(value.shape[:2] + (-1,))
        assert np.all(np.isfinite(v[res.valid])), name
        if np.issubdtype(value.dtype, np.floating):
            assert np.all(np.isnan(v[~res.valid])), name


@pytest.mark.slow
def test_shumailov_gmm_setting_stays_finite_for_2000_generations():
    """SH-E2: M = 1,000, 2,000 generations, floor 1e-6 (scikit-learn's reg_covar),
    float32: every chain stays valid and every metric finite (about a minute on
    two CPU cores)."""
    truth = gmm_params([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], [np.eye(2), np.eye(2)])
    res = run_chains(
        gmm(2, 2),
        truth,
        key=1,
        num_chains=8,
        num_generations=2000,
        sample_size=1000,
        record_params=False,
    )
    assert res.ok, res.failures()
    for name, value in res.metrics.items():
        assert np.all(np.isfinite(value)), name


# ---------------------------------------------------------- population limit ---


def test_fit_population_is_the_identity():
    fam = gmm(2, 2)
    p = fam.cast_params(TRUTH2, jnp.float32)
    assert fam.fit_population(p) is p
    assert fam.fit_population_from(gmm(2, 2, num_iters=3), p) is p


TRUTH3 = gmm_params(
    [0.2, 0.5, 0.3],
    [[-2.0, 0.0], [0.5, 1.0], [2.5, -1.0]],
    [[[0.6, 0.1], [0.1, 0.4]], [[1.0, -0.3], [-0.3, 0.7]], [[0.5, 0.0], [0.0, 0.5]]],
)


def test_population_fit_of_one_component_is_the_moment_match(x64):
    """GMM(3) -> GMM(1): EM with one component is moment matching, and
    Gauss-Hermite quadrature is exact for the polynomials involved. (One EM
    iteration already lands there; the family runs 2 to keep the test fast.)"""
    src = gmm(3, 2)
    one = gmm(1, 2, population_iters=2)
    truth = src.cast_params(TRUTH3, x64)
    fitted = jax.jit(one.fit_population_from, static_argnums=0)(src, truth)
    mm = jax.jit(cjm.moment_match)(src.view(truth))
    np.testing.assert_allclose(
        np.asarray(fitted.means[0]), np.asarray(mm.mean), atol=1e-12
    )
    _, _, cov = _natural(fitted)
    chol = np.asarray(mm.chol_unit_lower) * np.exp(np.asarray(mm.chol_log_diag))
    np.testing.assert_allclose(cov[0], chol @ chol.T, atol=1e-12)
    np.testing.assert_allclose(float(fitted.log_weights[0]), 0.0, atol=1e-15)
    # From a Gaussian, GMM(1) is the Gaussian itself.
    g = gaussian_params([1.0, -1.0], [[2.0, 0.3], [0.3, 0.5]])
    g = jax.tree.map(lambda a: jnp.asarray(a, x64), g)
    back = jax.jit(one.fit_population_from, static_argnums=0)(gaussian(2), g)
    np.testing.assert_allclose(
        np.asarray(back.means[0]), np.asarray(g.mean), atol=1e-12
    )
    np.testing.assert_allclose(
        _natural(back)[2][0], [[2.0, 0.3], [0.3, 0.5]], atol=1e-12
    )


def _grid_population_em(weights, means, covs, start, num_iters, half=10.0, num=201):
    """Population EM on a dense 2-D grid (NumPy float64): the oracle of the
    quadrature. The trapezoid rule is spectrally accurate here (a 201^2 and an
    801^2 grid agree to 1e-12)."""
    xs = np.linspace(-half, half, num)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], axis=-1)
    dens = sum(
        np.exp(np.log(w) + _np_log_normal(pts, m, c))
        for w, m, c in zip(weights, means, covs, strict=True)
    )
    return np_em(pts, dens, *start, num_iters, 0.0)


def test_population_quadrature_matches_grid_em(x64):
    """GMM(3) -> GMM(2): 20 EM iterations on the Gauss-Hermite target (64^2 nodes
    per source component, the 2-D default) against the same iterations on a grid.
    Measured agreement 2.6e-7 (1.3e-3 at q = 16, 3.7e-5 at q = 32: the
    responsibilities are not polynomials); tolerance 2e-6."""
    src, fam = gmm(3, 2), gmm(2, 2)
    truth = src.cast_params(TRUTH3, x64)
    start = jax.jit(fam.start_from, static_argnums=0)(src, truth)
    target = jax.jit(fam.approx.target_from_model, static_argnums=0)(src, truth)
    assert target[0].shape == (3 * 64**2, 2)
    fitted, trace = em(*target, start, 20, 0.0)
    ref = _grid_population_em(*_natural(truth), _natural(start), 20)
    for got, want in zip(_natural(fitted), ref[:3], strict=True):
        np.testing.assert_allclose(got, want, atol=2e-6)
    np.testing.assert_allclose(np.asarray(trace), ref[3], atol=1e-9)


def test_population_fit_converges_to_a_fixed_point(x64):
    """``fit_population_from`` runs ``population_iters`` (500) iterations: its last
    gain is ~0, and EM on the result's own quadrature target barely moves it. The
    move is the quadrature error amplified by the flat likelihood of overlapping
    components: measured 3.1e-5 in the parameters and 2.6e-10 in the mean
    log-likelihood at q = 64 (1.5e-3 and 1.8e-7 at q = 32); tolerances 1e-4 and
    1e-8."""
    src, fam = gmm(3, 2), gmm(2, 2)
    truth = src.cast_params(TRUTH3, x64)
    fitted = jax.jit(fam.fit_population_from, static_argnums=0)(src, truth)
    assert abs(float(fitted.em_gain)) < 1e-12
    assert fam.status(fitted) == Status.OK
    target = jax.jit(fam.approx.target_from_model, static_argnums=0)(fam, fitted)
    again, trace = em(*target, fitted, 50, 0.0)
    for a, b in zip(_natural(again), _natural(fitted), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert 0.0 <= float(trace[-1] - trace[0]) < 1e-8


def test_start_from_rules():
    src = gmm(3, 2)
    truth = src.cast_params(TRUTH3, jnp.float32)
    g = jax.tree.map(
        lambda a: jnp.asarray(a, jnp.float32),
        gaussian_params([0.0, 0.0], [[4.0, 0.0], [0.0, 1.0]]),
    )

    @jax.jit
    def starts(truth, g):  # one compile for the three rules
        return (
            gmm(2, 2).start_from(src, truth),
            gmm(4, 2).start_from(src, truth),
            gmm(3, 2).start_from(gaussian(2), g),
        )

    two, four, three = starts(truth, g)
    # k <= K: the heaviest components, original order, renormalised.
    np.testing.assert_allclose(
        np.exp(np.asarray(two.log_weights)), [0.5 / 0.8, 0.3 / 0.8], rtol=1e-6
    )
    np.testing.assert_array_equal(np.asarray(two.means), np.asarray(truth.means[1:]))
    # k > K: split the heaviest along its principal axis (+- sd / 2, weight halved).
    w = np.exp(np.asarray(four.log_weights))
    np.testing.assert_allclose(w, [0.2, 0.25, 0.3, 0.25], rtol=1e-6)
    _, _, cov = _natural(truth)
    lam, vec = np.linalg.eigh(cov[1])
    off = np.asarray(four.means[1] - truth.means[1])
    np.testing.assert_allclose(
        np.abs(off), 0.5 * np.sqrt(lam[-1]) * np.abs(vec[:, -1]), rtol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(four.means[3]), np.asarray(truth.means[1]) - off, rtol=1e-6
    )
    # From a Gaussian: k copies at 0.5 sd linspace(-1, 1, k) on the principal axis.
    np.testing.assert_allclose(
        np.abs(np.asarray(three.means)), [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], atol=1e-6
    )
    np.testing.assert_allclose(
        np.exp(np.asarray(three.log_weights)), [1 / 3] * 3, rtol=1e-6
    )


def test_check_source():
    fam = gmm(2, 2)
    fam.check_source("run_chains", "init_family", gmm(5, 2))
    fam.check_source("run_chains", "init_family", gaussian(2))
    with pytest.raises(ValueError, match=r"init_family must be a gmm .* dimension 2"):
        fam.check_source("run_chains", "init_family", gaussian(3))
    with pytest.raises(ValueError, match=r"dimension 1; got categorical with event"):
        gmm(2, 1).check_source("run_chains", "init_family", categorical(3))


# ------------------------------------------------------------ status and hooks ---


def test_status():
    fam = gmm(3, 2)
    p = fam.cast_params(TRUTH3, jnp.float32)
    status = jax.jit(fam.status)
    assert status(p) == Status.OK
    dead = p._replace(
        log_weights=p.log_weights.at[0].set(-jnp.inf),
        means=p.means.at[0].set(jnp.nan),
        chol_log_diag=p.chol_log_diag.at[0].set(-jnp.inf),
    )
    assert status(dead) == Status.OK  # dead components may hold anything
    assert status(p._replace(chol_log_diag=p.chol_log_diag.at[1, 1].set(-jnp.inf))) == (
        Status.DEGENERATE_FIT
    )
    assert status(p._replace(chol_log_diag=p.chol_log_diag.at[1, 1].set(jnp.nan))) == (
        Status.DEGENERATE_FIT
    )
    assert status(p._replace(means=p.means.at[2, 0].set(jnp.inf))) == (
        Status.NONFINITE_PARAMS
    )
    assert status(p._replace(log_weights=p.log_weights.at[2].set(jnp.nan))) == (
        Status.NONFINITE_PARAMS
    )
    all_dead = p._replace(log_weights=jnp.full((3,), -jnp.inf, jnp.float32))
    assert status(all_dead) == Status.NONFINITE_PARAMS


def test_approx_hooks():
    fam = gmm(2, 2)
    p = fam.cast_params(TRUTH2, jnp.float32)
    hooks = fam.approx
    n = 200
    key = jax.random.key(0)
    w = jnp.ones((n,), jnp.float32)
    shifted = p._replace(log_weights=p.log_weights + 3.0)
    messy = shifted._replace(chol_unit_lower=p.chol_unit_lower + 0.5)

    @jax.jit
    def run(p, shifted, messy):  # one compile for every hook
        x, w_target = hooks.refit_target(key, p, w)
        target = hooks.target_from_data(x, w_target)
        return dict(
            x=x,
            loss=hooks.loss(p, target),
            loss_shifted=hooks.loss(shifted, target),
            log_prob=fam.log_prob(p, x),
            grads=jax.grad(hooks.loss)(p, target),
            proj=hooks.project(messy),
            model_target=hooks.target_from_model(fam, p),
            moments=cjm.moment_match(fam.view(p)),
        )

    out = run(p, shifted, messy)
    np.testing.assert_array_equal(np.asarray(out["x"]), np.asarray(_sample(key, p, n)))
    loss = float(out["loss"])
    np.testing.assert_allclose(loss, -float(jnp.mean(out["log_prob"])), rtol=1e-6)
    # Unnormalised log-weights are normalised inside; gradients are finite.
    np.testing.assert_allclose(float(out["loss_shifted"]), loss, rtol=1e-6)
    grads = out["grads"]
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))
    np.testing.assert_array_equal(
        np.asarray(grads.chol_unit_lower)[:, [0, 0, 1], [0, 1, 1]], 0.0
    )  # only the strictly lower part is read
    proj = out["proj"]
    np.testing.assert_allclose(
        np.exp(np.asarray(proj.log_weights)).sum(), 1.0, rtol=1e-6
    )
    unit = np.asarray(proj.chol_unit_lower)
    np.testing.assert_array_equal(unit[:, [0, 1], [0, 1]], 1.0)
    np.testing.assert_array_equal(unit[:, 0, 1], 0.0)
    # The model target: Gauss-Hermite nodes, weights summing to 1, exact moments.
    pts, tw = out["model_target"]
    assert pts.shape == (2 * 64**2, 2) and tw.shape == (2 * 64**2,)
    np.testing.assert_allclose(float(jnp.sum(tw)), 1.0, rtol=1e-5)
    mean = np.asarray(tw, np.float64) @ np.asarray(pts, np.float64)
    np.testing.assert_allclose(mean, np.asarray(out["moments"].mean), atol=1e-5)
    assert hooks.sample_target is None and fam.sample_fit is None


def test_gmm_weights_means_covs_batched():
    w, mu, cov = gmm_weights_means_covs(
        jax.tree.map(lambda a: np.stack([a, a]), TRUTH2)
    )
    assert w.shape == (2, 2) and mu.shape == (2, 2, 2) and cov.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(cov[1, 0], [[1.0, 0.3], [0.3, 0.5]], rtol=1e-12)


# ----------------------------------------------------------------- bad input ---


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(num_components=0, dim=2), ValueError, r"gmm\(\): num_components must be"),
        (dict(num_components=2, dim=0), ValueError, r"gmm\(\): dim must be"),
        (dict(num_components=2.5, dim=1), TypeError, r"num_components must be a pos"),
        (dict(num_components=2, dim=1, num_iters=0), ValueError, r"num_iters must be"),
        (
            dict(num_components=2, dim=1, variance_floor=-1e-3),
            ValueError,
            r"variance_floor must be finite and >= 0; got -0.001\. Pass e\.g\.",
        ),
        (
            dict(num_components=2, dim=1, variance_floor=float("nan")),
            ValueError,
            r"variance_floor must be finite",
        ),
        (
            dict(num_components=2, dim=1, variance_floor="1e-6"),
            TypeError,
            r"variance_floor must be a real number",
        ),
    ],
)
def test_factory_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        gmm(**kwargs)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            ([0.5, 0.4], [[0.0], [1.0]], [1.0, 1.0]),
            r"gmm_params\(\): weights must be the weights of a mixture, summing to 1; "
            r"got weights summing to 0\.9.*Divide by the sum",
        ),
        (([-0.5, 1.5], [[0.0], [1.0]], [1.0, 1.0]), r"weights must be non-negative"),
        (
            ([0.5, 0.5], [[0.0], [1.0], [2.0]], [1.0, 1.0]),
            r"means must be an array of shape \(2, d\) matching weights",
        ),
        (
            ([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [np.eye(3), np.eye(3)]),
            r"covs must be an array of shape \(2, 2, 2\)",
        ),
        (
            (
                [0.5, 0.5],
                [[0.0, 0.0], [1.0, 1.0]],
                [np.eye(2), [[1.0, 2.0], [2.0, 1.0]]],
            ),
            r"covs\[1\] must be positive definite; got a matrix with smallest "
            r"eigenvalue -1.*strictly positive",
        ),
        (
            (
                [0.5, 0.5],
                [[0.0, 0.0], [1.0, 1.0]],
                [np.eye(2), [[1.0, 0.5], [0.0, 1.0]]],
            ),
            r"covs\[1\] must be symmetric",
        ),
        (([0.5, 0.5], [[0.0], [np.nan]], [1.0, 1.0]), r"means must be finite"),
    ],
)
def test_gmm_params_errors(args, match):
    with pytest.raises(ValueError, match=match):
        gmm_params(*args)


def test_gmm_params_accepts_1d_shorthand_and_dead_components():
    p = gmm_params([0.0, 1.0], [-1.0, 1.0], [2.0, 3.0])
    assert p.means.shape == (2, 1) and p.chol_unit_lower.shape == (2, 1, 1)
    assert p.log_weights[0] == -np.inf and float(p.em_gain) == 0.0
    gmm(2, 1).validate_params("f", "init", p)


def test_validate_params_names_k_and_d():
    with pytest.raises(
        ValueError,
        match=r"init must be parameters of a mixture of k=3 "
        r"components in d=2 dimensions.*\(k=2, d=2\).*cj\.gmm\(2, dim=2\)",
    ):
        gmm(3, 2).validate_params("run_chains", "init", TRUTH2)
    with pytest.raises(TypeError, match=r"init must be GmmParams"):
        gmm(2, 2).validate_params("run_chains", "init", gaussian_params(0.0, 1.0))
    bad = TRUTH2._replace(log_weights=np.log([0.5, 0.4]))
    with pytest.raises(ValueError, match=r"init\.log_weights must be .*summing to 1"):
        gmm(2, 2).validate_params("run_chains", "init", bad)
    assert isinstance(TRUTH2, GmmParams)
