"""Theory curves (``collapse_jax.theory.curves``) equal the scalar closed forms.

Each curve function returns a closed form at every generation ``n = 0 .. N`` at
once, in O(N). These tests compare every entry with the scalar function called at
that ``n`` (what the experiments did before, in O(N^2)), to float64 rounding, and
check that building an experiment's design makes a number of Python calls that
does not grow with the number of generations (so no closed form is re-evaluated
per generation). Deterministic: no Monte Carlo, no tolerance budget.
"""

from __future__ import annotations

import inspect
import pathlib
import re
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom

from collapse_jax import theory
from collapse_jax.experiments import core
from collapse_jax.theory import curves
from tests.theory._calls import python_calls_in_package

PROOFS = pathlib.Path(__file__).resolve().parents[2] / "proofs"
SCHEDULES = [
    7,
    [2, 3, 50, 7, 4, 9, 12, 2, 30, 5, 6, 8],
    theory.quadratic_schedule(5, 12),
    np.arange(10, 22),
]
N = 12


def _per_n(fn, num_generations, at0=None):
    """The old way: the scalar closed form called once per generation."""
    first = [at0] if at0 is not None else [fn(0)]
    return np.asarray(first + [fn(n) for n in range(1, num_generations + 1)])


def _prefix(schedule, n):
    return schedule if np.ndim(schedule) == 0 else np.asarray(schedule)[:n]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=range(len(SCHEDULES)))
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_gaussian_curves_equal_the_scalar_forms(schedule, estimator):
    kw: dict[str, Any] = dict(estimator=estimator, variance=2.5)
    want = _per_n(
        lambda n: theory.expected_log_variance(
            _prefix(schedule, n), n, sampling_bias=1.1, **kw
        ),
        N,
    )
    got = curves.expected_log_variance_curve(schedule, N, sampling_bias=1.1, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    want = _per_n(lambda n: theory.expected_w2_sq(_prefix(schedule, n), n, **kw), N)
    got = curves.expected_w2_sq_curve(schedule, N, **kw)
    assert got[0] == 0.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dim", [1, 2, 5])
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_log_det_cov_curve_equals_the_scalar_form(dim, estimator):
    schedule = np.arange(dim + 1, dim + 1 + 3 * N, 3)
    for s in (schedule, dim + 4):
        want = _per_n(
            lambda n, s=s: theory.expected_log_det_cov(
                _prefix(s, n), n, dim, estimator=estimator, log_det_cov0=0.7
            ),
            N,
        )
        got = curves.expected_log_det_cov_curve(
            s, N, dim, estimator=estimator, log_det_cov0=0.7
        )
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    if dim == 1:  # d = 1 is the 1-D law
        np.testing.assert_allclose(
            curves.expected_log_det_cov_curve(schedule, N, 1, estimator=estimator),
            curves.expected_log_variance_curve(schedule, N, estimator=estimator),
            rtol=1e-14,
            atol=1e-15,
        )


@pytest.mark.parametrize("schedule", SCHEDULES, ids=range(len(SCHEDULES)))
def test_gini_simpson_curve_equals_the_scalar_form(schedule):
    p0 = np.array([0.5, 0.3, 0.2])
    want = _per_n(
        lambda n: theory.expected_gini_simpson(p0, _prefix(schedule, n), n), N
    )
    got = curves.expected_gini_simpson_curve(p0, schedule, N)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def _old_absorption(p0, m, num_generations):
    """The catalog's former WF-4 recursion, one matrix product per generation."""
    mat = theory.wright_fisher_matrix(m)
    dist = binom.pmf(np.arange(m + 1), m, p0)
    out = [0.0]
    for _ in range(num_generations):
        out.append(dist[0] + dist[-1])
        dist = dist @ mat
    return np.asarray(out)


@pytest.mark.parametrize(
    ("p0", "m", "n"), [(0.3, 2, 40), (0.3, 10, 1500), (0.5, 50, 300), (0.01, 7, 2000)]
)
def test_absorption_curve_equals_the_recursion_and_stops_when_absorbed(p0, m, n):
    # M = 10 and 7 run far past the early stop (~41 M generations): the constant
    # tail equals the recursion to rounding.
    got = curves.absorption_probability_curve(p0, m, n)
    np.testing.assert_allclose(got, _old_absorption(p0, m, n), rtol=0, atol=2e-16)
    assert np.all(np.diff(got) >= 0)


def test_absorption_curve_is_nan_past_its_step_bound_unless_absorbed():
    got = curves.absorption_probability_curve(0.3, 50, 100, max_steps=20)
    np.testing.assert_allclose(got[:22], _old_absorption(0.3, 50, 21), atol=2e-16)
    assert np.all(np.isnan(got[22:]))
    # Absorbed to rounding before the bound: the constant tail is exact.
    got = curves.absorption_probability_curve(0.3, 3, 10_000, max_steps=500)
    assert not np.any(np.isnan(got))
    np.testing.assert_allclose(got[:1001], _old_absorption(0.3, 3, 1000), atol=2e-16)


def test_lost_mass_and_support_curves_equal_the_per_generation_forms():
    p0 = theory.zipf_probs(300, 1.2)
    m, n_gen = 500, 40
    want = _per_n(
        lambda n: theory.lost_mass_after_generations(p0, m, n), n_gen, at0=0.0
    )
    np.testing.assert_allclose(curves.lost_mass_curve(p0, m, n_gen), want, rtol=1e-13)
    q = theory.galton_watson_extinction(n_gen - 1)
    want = [np.count_nonzero(p0 > 0), theory.expected_support_size(p0, m)]
    want += [
        float(-np.expm1(-m * p0 * (1.0 - q[n - 1])).sum()) for n in range(2, n_gen + 1)
    ]
    np.testing.assert_allclose(
        curves.expected_support_size_curve(p0, m, n_gen), want, rtol=1e-13
    )
    # Blocks of generations give the same values as one block (to rounding).
    whole = curves.lost_mass_curve(p0, m, n_gen)
    default = curves._BLOCK_ELEMENTS
    try:
        curves._BLOCK_ELEMENTS = 7 * p0.size
        np.testing.assert_allclose(
            curves.lost_mass_curve(p0, m, n_gen), whole, rtol=1e-14
        )
    finally:
        curves._BLOCK_ELEMENTS = default


def test_curves_handle_zero_generations_and_validate_like_the_scalar_forms():
    assert curves.expected_log_variance_curve(5, 0).tolist() == [0.0]
    assert curves.expected_w2_sq_curve(5, 0).tolist() == [0.0]
    assert curves.lost_mass_curve([0.5, 0.5], 3, 0).tolist() == [0.0]
    assert curves.expected_support_size_curve([0.5, 0.5], 3, 0).tolist() == [2.0]
    assert curves.absorption_probability_curve(0.5, 4, 0).tolist() == [0.0]
    with pytest.raises(
        ValueError,
        match=r"expected_log_variance_curve\(\): "
        r"sample_size must be >= 2 to estimate a variance",
    ):
        curves.expected_log_variance_curve(1, 3)
    with pytest.raises(
        ValueError,
        match=r"expected_log_det_cov_curve\(\): "
        r"sample_size must be >= 4",
    ):
        curves.expected_log_det_cov_curve(3, 3, 3)
    with pytest.raises(
        ValueError,
        match=r"expected_w2_sq_curve\(\): sample_size "
        r"must have one entry per generation",
    ):
        curves.expected_w2_sq_curve([5, 5], 3)
    with pytest.raises(ValueError, match=r"absorption_probability_curve\(\): prob"):
        curves.absorption_probability_curve(1.5, 4, 3)


def test_every_curve_cites_an_existing_proof():
    for name in curves.__all__:
        doc = inspect.getdoc(getattr(curves, name)) or ""
        cited = re.findall(r"proofs/([a-z0-9-]+\.md)", doc)
        assert cited, f"{name} cites no proof"
        assert all((PROOFS / f).exists() for f in cited), name


# Small configurations of every built-in experiment (the fields that size a run).
_SMALL = {
    "gaussian": {"sample_size": [10, 20], "growth": ["constant", "linear"]},
    "categorical": {"num_categories": 2, "sample_size": [5, 12]},
    "regression": {},
    "word-forgetting": {"source": "zipf", "vocabulary": 50, "sample_size": [100, 200]},
    "monitor": {},
    "gmm": {},
    "decomposition": {},
    "lm": {"size": "test"},
    "vae-digits": {"pretrain_steps": 200},
    "bayes-learners": {"family": "categorical", "truth": 0.3, "sample_size": 10},
    "minority-erasure": {
        "num_categories": 4,
        "minority_categories": 1,
        "sample_size": 6,
    },
    "web": {"num_categories": 3, "sample_size": 6, "recalls": [0.0, 0.9]},
    "late-entrants": {"num_categories": 3, "sample_size": 6, "recalls": [0.5]},
}
# Further configurations whose theory takes another path (a Gaussian's moments, a
# share schedule with a distinct share per fit, source="all").
_W = {"sample_size": 6, "recalls": [0.5], "synthetic_share": 0.9}
_MORE = [
    ("web", {**_W, "family": "gaussian"}),
    ("web", {**_W, "family": "gaussian", "schedule": "linear"}),
    ("web", {**_W, "num_categories": 3, "schedule": "logistic"}),
    ("late-entrants", {**_W, "family": "gaussian", "schedule": "logistic"}),
    ("late-entrants", {**_W, "num_categories": 3, "schedule": "linear"}),
]
def test_every_experiment_covers_the_table():
    assert set(_SMALL) == set(core.experiments())


@pytest.mark.parametrize(
    ("name", "overrides"),
    [(name, _SMALL[name]) for name in sorted(_SMALL)] + _MORE,
    ids=[*sorted(_SMALL), *(f"{n}-{i}" for i, (n, _) in enumerate(_MORE))],
)
def test_building_a_design_does_not_call_the_theory_once_per_generation(
    name, overrides
):
    # The theory curves of N generations used to be N calls of a closed form that
    # sums over i < n: O(N^2), over 15 minutes at N = 200,000 before a run
    # started. Now every closed form is evaluated once per curve, vectorised over
    # generations: the package's Python calls do not depend on N.
    exp = core.experiments()[name]

    def build(n):
        cfg = core.resolve_config(
            exp, overrides={**overrides, "num_chains": 8, "num_generations": n}
        )
        return lambda: exp.build(cfg)

    build(40)()  # warm the caches (family factories)
    calls = {n: python_calls_in_package(build(n)) for n in (40, 400)}
    assert calls[400] == calls[40], calls
