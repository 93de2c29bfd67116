"""A fork adds a regime: one file outside the package, one registration line.

The module below is written to a temporary directory (not the package tree),
imported through ``sys.path``, registered with one line, and then must pass the
contract kit, run from ``cj.run_chains``, and be reachable by name.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax import keys
from collapse_jax.testing import check_regime
from tests.helpers import K

FORK_MODULE = '''
"""Keep the best half: each fit sees the likelier share of the newest draws."""

import functools

import numpy as np

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.keys import register_stream
from collapse_jax.regimes import pipeline
from collapse_jax.regimes.buffers import no_state

TIES = register_stream("fork_best_half_ties")  # ties broken at random, own stream


def _step(ctx, params, state):
    data, weights = pipeline.synthetic(ctx, params)  # draw, distort, mask, curate
    score = ctx.family.log_prob(params, data)
    u = jax.random.uniform(jax.random.fold_in(ctx.keys.regime, TIES), score.shape)
    score = jnp.where(weights > 0, score, -jnp.inf)
    order = jnp.lexsort((u, -score))  # likeliest first, ties at random
    rank = jnp.argsort(order)
    share = ctx.hyper["share"]
    k = jnp.round(share * ctx.sample_size.astype(share.dtype)).astype(jnp.int32)
    kept = jnp.where(rank < jnp.maximum(k, 2), weights, 0)
    return pipeline.fit(ctx, data, kept, params), state


@functools.cache
def best_half(share=0.5):
    """Each fit sees the likeliest ``round(share * M_t)`` of the newest draws."""
    return cj.Regime(
        "best_half",
        ("samples",),
        no_state,
        _step,
        hyper={"share": np.float64(share)},
        sweepable=("share",),
        describe={"share": share},
    )


cj.register_regime("best_half", best_half)
'''


@pytest.fixture(scope="module")
def fork(tmp_path_factory):
    root = tmp_path_factory.mktemp("fork")
    (root / "fork_best_half.py").write_text(textwrap.dedent(FORK_MODULE))
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("fork_best_half")
        yield module
    finally:
        sys.path.remove(str(root))


def test_a_regime_from_outside_the_package_keeps_the_contract(fork):
    package = Path(cj.__file__).resolve().parent
    assert package not in Path(fork.__file__).resolve().parents
    check_regime(
        fork.best_half(),
        expected_weight=lambda t, m: max(round(0.5 * m[t]), 2),
        population=False,
    )


def test_the_fork_regime_is_reachable_by_name_and_runs(fork):
    assert "best_half" in cj.regime_names()
    regime = cj.make_regime("best_half", share=0.5)
    assert regime == fork.best_half(0.5)
    res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=1,
                        num_chains=64, num_generations=4, sample_size=40,
                        regime=regime)
    assert res.ok
    # Keeping the likeliest half shrinks the variance faster than replace.
    rep = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=1,
                        num_chains=64, num_generations=4, sample_size=40)
    a, b = res.metrics["log_var"][:, -1], rep.metrics["log_var"][:, -1]
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert a.mean() - b.mean() < -K * se


def test_the_fork_stream_is_registered_and_stable(fork):
    assert keys.streams()["fork_best_half_ties"] == fork.TIES
    assert fork.TIES >= 2**16  # derived from the name: no built-in number
    with pytest.raises(ValueError, match="register_regime\\(\\): name must be a name "
                       "no other regime has; got 'best_half', registered by"):
        cj.register_regime("best_half", lambda: cj.replace())
