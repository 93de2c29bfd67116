"""The web chains' paths (``collapse_jax.theory.web``) in one vectorised call.

``web_categorical_sq_error`` and ``web_gaussian_moments`` evaluate their moment
recursions by an affine scan (``theory._web_paths``), and ``source="all"`` through
three sums of the Gram matrix of the deviations (O(T), proofs/wb-2-categorical-web.md
part 6, proofs/wb-3-gaussian-web.md part 7). These tests compare them with the
recursions written out generation by generation (the former implementation: the
full Gram matrix for ``source="all"``), to float64 rounding, and check that their
package Python calls and memory do not grow with the number of generations.
Deterministic: no Monte Carlo, no tolerance budget.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from collapse_jax.theory import _web_kept, _web_paths
from collapse_jax.theory import web as tw
from tests.theory._calls import python_calls_in_package

P_STAR = np.array([0.5, 0.3, 0.2])
H_STAR = 1.0 - float(P_STAR @ P_STAR)


# --- the recursions generation by generation (the reference) ----------------------


def _cat_newest(h, d0, lin, e, skip, nu):
    out = [d0]
    for t in range(e.size):
        fitted = e[t] ** 2 * (1 - nu[t]) * out[t] + nu[t] * (h - 2 * e[t] * lin)
        out.append(skip[t] * out[t] + (1 - skip[t]) * fitted)
        lin *= skip[t] + (1 - skip[t]) * e[t]
    return np.array(out)


def _gauss_newest(var, x0, e, skip, nu, c):
    out = [np.asarray(x0, float)]
    for t in range(e.size):
        z_row = np.array([e[t] * (1 - e[t]), e[t]])
        fitted = np.diag([e[t] ** 2, 0.0]) + np.outer([nu[t], c[t]], z_row)
        mat = skip[t] * np.eye(2) + (1 - skip[t]) * fitted
        forcing = (1 - skip[t]) * (1 - e[t]) * var * np.array([nu[t], c[t]])
        out.append(mat @ out[-1] + forcing)
    out = np.array(out)
    return out[:, 0], out[:, 1]


def _gram_all(h, var, e, skip, nu, c, gaussian):
    """The full Gram matrix G[j, k] of the deviations, fit by fit (O(T^2))."""
    gens = e.size
    gram = np.zeros((gens + 1, gens + 1))
    v = np.full(gens + 1, var)
    for t in range(gens):
        pool = slice(1, t + 1)
        pool_sq = gram[pool, pool].sum() / t**2 if t else 0.0
        pool_second = (v[pool] + np.diag(gram)[pool]).sum() / t if t else var
        cross = gram[pool, : t + 1].sum(0) / t if t else np.zeros(1)
        row = skip[t] * gram[t, : t + 1] + (1 - skip[t]) * e[t] * cross
        if gaussian:
            z = (1 - e[t]) * var + e[t] * pool_second - e[t] ** 2 * pool_sq
            fitted = e[t] ** 2 * pool_sq + nu[t] * z
            v[t + 1] = skip[t] * v[t] + (1 - skip[t]) * c[t] * z
        else:
            fitted = e[t] ** 2 * (1 - nu[t]) * pool_sq + nu[t] * h
        gram[t + 1, : t + 1] = gram[: t + 1, t + 1] = row
        gram[t + 1, t + 1] = skip[t] * gram[t, t] + (1 - skip[t]) * fitted
    return np.diag(gram).copy(), v


# (M, shares, r, f): a constant share, a ramp, random shares; small M makes fits
# that keep too few items (skip > 0), r = 1 at share 1 keeps nothing at all.
def _cases():
    rng = np.random.default_rng(16)
    for gens in (0, 1, 2, 3, 17, 64):
        yield 20, np.full(gens, 0.7), 0.5, 0.1
        yield 3, np.linspace(0.0, 1.0, gens), 0.5, 0.2
        yield 2, rng.random(gens), 0.9, 0.5
    yield 4, np.linspace(0.5, 1.0, 9), 1.0, 0.0


CASES = list(_cases())


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_categorical_paths_equal_the_recursion_written_out(case):
    m, shares, r, f = CASES[case]
    gens = shares.size
    e, skip, nu = _web_kept._path_setup(m, shares, r, f, "categorical", gens, "test")
    p0 = np.array([0.1, 0.1, 0.8])
    got = tw.web_categorical_sq_error(P_STAR, m, gens, shares, r, f, init_probs=p0)
    want = _cat_newest(
        H_STAR,
        float((p0 - P_STAR) @ (p0 - P_STAR)),
        float(P_STAR @ (p0 - P_STAR)),
        e,
        skip,
        nu,
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-16)
    got = tw.web_categorical_sq_error(P_STAR, m, gens, shares, r, f, source="all")
    want, _ = _gram_all(H_STAR, 1.0, e, skip, nu, None, gaussian=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_the_gaussian_paths_equal_the_recursion_written_out(case, estimator):
    m, shares, r, f = CASES[case]
    m, gens, var = max(m, 2), shares.size, 2.5
    e, skip, nu = _web_kept._path_setup(m, shares, r, f, "gaussian", gens, "test")
    c = np.ones(gens) if estimator == "unbiased" else 1.0 - nu
    got = tw.web_gaussian_moments(
        m,
        gens,
        shares,
        r,
        f,
        variance=var,
        estimator=estimator,
        init_mean_error=0.7,
        init_variance=3.0,
    )
    want = _gauss_newest(var, (0.49, 3.0), e, skip, nu, c)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-16)
    got = tw.web_gaussian_moments(
        m, gens, shares, r, f, variance=var, estimator=estimator, source="all"
    )
    want = _gram_all(None, var, e, skip, nu, c, gaussian=True)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("gens", [0, 1, 2, 3, 5, 8, 33])
def test_affine_scan_equals_the_sequential_maps(k, gens):
    rng = np.random.default_rng(k * 100 + gens)
    mats = rng.uniform(-0.6, 0.6, (gens, k, k)) / k
    forcing, x0 = rng.normal(size=(gens, k)), rng.normal(size=k)
    want = [x0]
    for t in range(gens):
        want.append(mats[t] @ want[-1] + forcing[t])
    got = _web_paths.affine_scan(mats, forcing, x0)
    assert got.shape == (gens + 1, k)
    np.testing.assert_allclose(got, np.array(want), rtol=1e-12, atol=1e-13)


def _paths(gens):
    shares = np.linspace(0.1, 0.9, gens)  # a distinct share per fit
    for source in ("newest", "all"):
        tw.web_categorical_sq_error(P_STAR, 6, gens, shares, 0.5, 0.1, source=source)
        tw.web_gaussian_moments(6, gens, shares, 0.5, 0.1, source=source)
        tw.web_gaussian_moments(6, gens, 0.8, 0.5, source=source, estimator="mle")


def test_the_paths_make_as_many_package_calls_at_every_horizon():
    # Formerly a Python step (and the kept count's law per distinct share) per
    # generation; now one vectorised call per path.
    _paths(4)
    calls = {n: python_calls_in_package(lambda n=n: _paths(n)) for n in (40, 400)}
    assert calls[400] == calls[40], calls


def test_source_all_takes_memory_linear_in_the_generations():
    # The Gram matrix of 5,000 generations alone is 200 MB; the three sums are a few
    # (T, 5, 5) arrays: about 6 MB at T = 5,000.
    gens = 5000
    tracemalloc.start()
    try:
        tw.web_gaussian_moments(10, gens, 0.8, 0.3, 0.1, source="all")
        tw.web_categorical_sq_error(P_STAR, 10, gens, 0.8, 0.3, 0.1, source="all")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, peak
