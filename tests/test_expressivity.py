"""The population limit and expressivity error (docs/theory.md SH-1; proofs/sh-1a/b).

Deterministic checks, no Monte Carlo tolerance:

* population limit + well-specified family + exact fit: every generation is the
  truth, bit for bit (proofs/sh-1a-population-limit.md);
* expressivity error alone: generation 1 is the projection of the truth onto the
  fitted class (checked against the NumPy oracles of
  ``collapse_jax.theory.expressivity``) and every later generation equals
  generation 1 bit for bit (proofs/sh-1b-expressivity.md).

The finite-sample cross-family fits are checked against NumPy recomputations of
the maximum-likelihood fit in the restricted class.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.theory import expressivity as thx

PROBS = np.array([0.04, 0.35, 0.06, 0.25, 0.2, 0.1])


def _equal_over_generations(tree, start=1):
    """Every generation from ``start`` on equals generation ``start``, bit for bit."""
    for leaf in [tree] if isinstance(tree, np.ndarray) else tree:
        leaf = np.asarray(leaf)
        ref = leaf[:, start : start + 1]
        assert np.array_equal(
            leaf[:, start:], np.broadcast_to(ref, leaf[:, start:].shape)
        )


# ------------------------------------------------------- population limit (SH-1a) ---


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_population_limit_keeps_a_gaussian_truth(estimator):
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    truth = cj.gaussian_params([1.0, -2.0, 0.5], cov)
    res = cj.run_chains(
        cj.gaussian(3, estimator),
        truth,
        key=0,
        num_chains=8,
        num_generations=20,
        sample_size=None,
    )
    cast = cj.gaussian(3).cast_params(truth, jnp.float32)
    for got, want in zip(res.params, cast, strict=True):
        want = np.asarray(want)
        assert np.array_equal(got, np.broadcast_to(want, got.shape))
    # W2 of a model to itself: the Procrustes SVD leaves rounding noise ~ eps^2 tr S
    assert np.all(res.metrics["w2_sq"] <= 1e-12)


def test_population_limit_keeps_a_categorical_truth():
    truth = cj.categorical_params(PROBS)
    res = cj.run_chains(
        cj.categorical(6),
        truth,
        key=0,
        num_chains=8,
        num_generations=20,
        sample_size=None,
    )
    want = np.asarray(PROBS, np.float32)
    assert np.array_equal(
        res.params.probs, np.broadcast_to(want, res.params.probs.shape)
    )


def test_population_limit_keeps_a_truth_already_in_the_top_k_class():
    truth = cj.categorical_params([0.0, 0.5, 0.0, 0.5])
    res = cj.run_chains(
        cj.categorical(4, max_support=2),
        truth,
        key=0,
        num_chains=8,
        num_generations=5,
        sample_size=None,
        init_family=cj.categorical(4),
    )
    want = np.asarray(truth.probs, np.float32)
    assert np.array_equal(
        res.params.probs, np.broadcast_to(want, res.params.probs.shape)
    )
    assert np.all(res.metrics["tv_to_truth"] == 0)


# ------------------------------------------------------- expressivity only (SH-1b) ---


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_expressivity_acts_once(k):
    truth = cj.categorical_params(PROBS)
    res = cj.run_chains(
        cj.categorical(6, max_support=k),
        truth,
        key=0,
        num_chains=8,
        num_generations=12,
        sample_size=None,
        init_family=cj.categorical(6),
    )
    probs = res.params.probs
    np.testing.assert_array_equal(
        probs[:, 0], np.broadcast_to(PROBS, (8, 6)).astype(np.float32)
    )
    np.testing.assert_allclose(
        probs[:, 1], np.broadcast_to(thx.top_k_projection(PROBS, k), (8, 6)), rtol=1e-6
    )
    _equal_over_generations(probs)
    tv = res.metrics["tv_to_truth"]
    assert np.all(tv[:, 0] == 0)
    np.testing.assert_allclose(
        tv[:, 1:], thx.top_k_tv_to_truth(PROBS, k), rtol=1e-5, atol=1e-7
    )
    assert np.all(res.metrics["support_size"][:, 1:] == k)


def test_gaussian_fitted_to_a_categorical_is_its_moment_match():
    support = [-1.0, 0.0, 0.5, 2.0, 3.0, 10.0]
    source = cj.categorical(6, support=support)
    truth = cj.categorical_params(PROBS)
    res = cj.run_chains(
        cj.gaussian(),
        truth,
        key=0,
        num_chains=8,
        num_generations=6,
        sample_size=None,
        init_family=source,
    )
    m, v = thx.moment_match_categorical(PROBS, support)
    np.testing.assert_allclose(res.params.mean[:, 1:, 0], m, rtol=1e-6)
    np.testing.assert_allclose(np.exp(res.metrics["log_var"][:, 1:, 0]), v, rtol=1e-5)
    _equal_over_generations(res.params)
    # generation 0 of params is the projection (ChainResult.reference)
    np.testing.assert_array_equal(res.params.mean[:, 0], res.params.mean[:, 1])


def test_a_point_mass_truth_has_no_gaussian_projection():
    truth = cj.categorical_params([0.0, 1.0, 0.0])
    with pytest.raises(
        ValueError,
        match=r"init must be a truth whose best fit in the "
        r"gaussian family is a valid model",
    ):
        cj.run_chains(
            cj.gaussian(),
            truth,
            key=0,
            num_chains=8,
            num_generations=2,
            sample_size=None,
            init_family=cj.categorical(3),
        )


# ------------------------------------------------------ finite samples, restricted ---


def _numpy_top_k_fit(data, weights, k, num):
    counts = np.bincount(data, weights=weights, minlength=num)
    order = np.argsort(-counts, kind="stable")[:k]
    kept = np.zeros(num)
    kept[order] = counts[order]
    return kept / kept.sum()


@given(
    k=st.sampled_from([1, 2, 3]),
    data=st.lists(st.integers(0, 5), min_size=16, max_size=16),
    mask=st.lists(st.booleans(), min_size=16, max_size=16),
)
def test_top_k_fit_is_the_restricted_mle(k, data, mask):
    mask = np.asarray(mask)
    mask[0] = True
    fam = cj.categorical(6, max_support=k)
    d = np.asarray(data, np.int32)
    got = fam.fit(None, jnp.asarray(d), jnp.asarray(mask, jnp.float32), None)
    want = _numpy_top_k_fit(d, mask.astype(float), k, 6)
    np.testing.assert_allclose(got.probs, want, rtol=1e-6)
    assert int(np.sum(np.asarray(got.probs) > 0)) <= k
    counts = np.bincount(d, mask.astype(float), 6)
    assert np.array_equal(got.counts, np.where(want > 0, counts, 0).astype(np.int32))


@pytest.mark.parametrize("sampler", ["samples", "sufficient"])
def test_top_k_chain_stays_in_its_class(sampler):
    truth = cj.categorical_params(PROBS)
    fam = cj.categorical(6, max_support=3)
    kw = dict(key=1, num_chains=64, num_generations=10, sample_size=30)
    if sampler == "sufficient":  # same family: the truth must lie in the class
        truth = cj.categorical_params(thx.top_k_projection(PROBS, 3))
        res = cj.run_chains(fam, truth, sampler=sampler, **kw)
    else:
        res = cj.run_chains(fam, truth, init_family=cj.categorical(6), **kw)
    assert np.all(res.metrics["support_size"][:, 1:] <= 3)
    np.testing.assert_allclose(res.params.probs.sum(-1), 1, rtol=1e-5)
    assert res.ok


def test_cross_family_first_fit_uses_the_same_keys_as_a_same_family_run():
    """Common random numbers: the restricted chain's first draw is the truth's draw.

    With max_support = K the restricted family is the full one, so a cross-family
    run must reproduce the same-family run bit for bit.
    """
    truth = cj.categorical_params(PROBS)
    kw = dict(key=3, num_chains=16, num_generations=6, sample_size=25)
    full = cj.run_chains(cj.categorical(6), truth, **kw)
    source = cj.categorical(6, support=[0, 1, 2, 3, 4, 5.5])  # another family object
    cross = cj.run_chains(cj.categorical(6), truth, init_family=source, **kw)
    np.testing.assert_array_equal(full.params.probs, cross.params.probs)


def test_cross_family_runs_are_batch_and_chunk_invariant():
    truth = cj.categorical_params(PROBS)
    src = cj.categorical(6, support=np.linspace(-1, 1, 6))
    kw = dict(
        key=5,
        num_generations=7,
        sample_size=40,
        init_family=src,
        metrics=["mean", "log_var", "w2_sq"],
    )
    batch = cj.run_chains(cj.gaussian(), truth, num_chains=16, **kw)
    alone = cj.run_chains(cj.gaussian(), truth, num_chains=1, first_chain=5, **kw)
    chunked = cj.run_chains(cj.gaussian(), truth, num_chains=16, chunk_size=2, **kw)
    for name in kw["metrics"]:
        np.testing.assert_array_equal(alone.metrics[name][0], batch.metrics[name][5])
        np.testing.assert_array_equal(chunked.metrics[name], batch.metrics[name])


# --------------------------------------------------------------------- decompose ---


def test_decompose_categorical_reads_off_each_source():
    truth = cj.categorical_params(PROBS)
    dec = cj.decompose(
        cj.categorical(6),
        truth,
        restricted_family=cj.categorical(6, max_support=3),
        approximation=None,
        sample_size=30,
        key=0,
        num_chains=64,
        num_generations=8,
        combos=["none", "S", "E", "S+E"],
    )
    tv = dec.distances["tv_to_truth"]
    assert tv.shape == (4, 64, 9)
    assert np.all(tv[0] == 0)  # well-specified, exact, population: no error at all
    np.testing.assert_allclose(tv[2, :, 1:], thx.top_k_tv_to_truth(PROBS, 3), rtol=1e-5)
    effects = dec.effects("tv_to_truth")
    assert set(effects) == {"none", "S", "E", "S+E"}
    total = effects["none"] + effects["S"] + effects["E"] + effects["S+E"]
    np.testing.assert_allclose(
        total, dec.mean("tv_to_truth")[3], rtol=1e-12, atol=1e-12
    )
    # the S run is exactly a same-family run with the same key (common random numbers)
    direct = cj.run_chains(
        cj.categorical(6),
        truth,
        key=0,
        num_chains=64,
        num_generations=8,
        sample_size=30,
        metrics=["tv_to_truth"],
    )
    np.testing.assert_array_equal(direct.metrics["tv_to_truth"], tv[1])


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(combos=["S", "X"]), ValueError, r"decompose\(\): combos must be labels"),
        (dict(combos="S"), TypeError, r"combos must be None or a sequence"),
        (dict(combos=["S", "S"]), ValueError, r"combos must be distinct"),
        (
            dict(restricted_family=None),
            TypeError,
            r"restricted_family must be a model family \(a combination switches "
            r"expressivity on\)",
        ),
        (dict(combos=["A"]), TypeError, r"approximation must be a callable"),
        (dict(sample_size=None), ValueError, r"sample_size must be the finite M"),
        (
            dict(metrics=["l2_to_truth"]),
            ValueError,
            r"metrics must be a sequence of "
            r"names from \('tv_to_truth',\)",
        ),
    ],
)
def test_decompose_bad_input(kwargs, error, pattern):
    args = dict(
        restricted_family=cj.categorical(6, max_support=3),
        approximation=None,
        sample_size=10,
        key=0,
        num_chains=8,
        num_generations=2,
        combos=["none", "S", "E"],
    )
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        cj.decompose(cj.categorical(6), cj.categorical_params(PROBS), **args)
