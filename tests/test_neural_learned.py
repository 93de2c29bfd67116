"""Learned families on the chain engine (collapse_jax.neural.learned, .stages).

A tiny categorical network (tests/_neural_toy.py) stands in for a real model: the
claims here are about the mechanism (contract, regimes, compilation, start modes,
EWC, reproducibility, stages), which do not depend on the network's size.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from flax import nnx

import collapse_jax as cj
from collapse_jax import chain, runspec
from collapse_jax.neural import learned
from collapse_jax.testing import check_family
from collapse_jax.testing.family import CHECKS
from tests import _neural_toy as toys
from tests.helpers import K, assert_within_se

RUN = dict(key=3, num_chains=4, num_generations=3, sample_size=32)


def _weights(res):
    """Final weights of every chain, flattened: (chains, parameters)."""
    leaves = jax.tree.leaves(res.final_state.params.weights)
    return np.concatenate([np.asarray(x).reshape(x.shape[0], -1) for x in leaves], 1)


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


# -------------------------------------------------------------------- contract ---


#: The kit's slowest checks (two and three runs each) are in the slow pass; the
#: default pass keeps the bitwise tests below, which cover the same ground.
_SLOW_CHECKS = ("chunk_invariance", "masked_draws")


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(c, marks=pytest.mark.slow) if c in _SLOW_CHECKS else c
        for c in CHECKS
    ],
)
def test_contract_kit_passes(check):
    fam = toys.toy()
    report = check_family(fam, fam.generation0(), checks=[check])
    assert report[check].startswith(
        "skipped" if check == "population_limit" else "passed"
    ), report


def test_public_names():
    from collapse_jax.neural import NeuralParams, Training, learned_family, training

    assert cj.learned_family is learned_family and cj.training is training
    assert cj.Training is Training and cj.NeuralParams is NeuralParams
    assert callable(cj.run_stages)


@pytest.mark.parametrize(
    "regime",
    [
        cj.replace(),
        cj.accumulate(),
        cj.retain_original(0.1),
        cj.mix(0.1),
        cj.fresh(8),
    ],
    ids=lambda r: r.name,
)
def test_every_regime_runs(regime):
    fam = toys.toy()
    res = cj.run_chains(fam, fam.generation0(), regime=regime, **RUN)
    nll = res.metrics["held_out_nll"]
    assert nll.shape == (4, 4) and np.all(np.isfinite(nll)) and res.ok
    # Generation 1 fine-tunes generation 0 on real data: every chain moved.
    assert np.all(nll[:, 1] != nll[:, 0])


def test_training_is_compiled_once_per_configuration():
    """The loss is traced a fixed number of times per run, whatever the steps or
    chains (no Python loop over steps or chains): the runner's shape evaluation
    of the step, the memory estimate's measurement of one training step, and the
    compiled scan; a second run of the same configuration (another seed, other
    chains) compiles nothing new."""
    counts = {}
    for steps in (5, 40):
        fam = toys.toy(steps=steps, name=f"traced{steps}")
        toys.TRACES["loss"] = 0
        cj.run_chains(fam, fam.generation0(), **RUN)
        counts[steps] = toys.TRACES["loss"]
        compiled = chain._run_chunk._cache_size()
        toys.TRACES["loss"] = 0
        cj.run_chains(fam, fam.generation0(), **{**RUN, "num_chains": 3, "key": 9})
        assert chain._run_chunk._cache_size() == compiled  # no new compile
        assert toys.TRACES["loss"] <= 1  # the memory estimate's shape pass only
    assert counts[5] == counts[40] <= 3, counts


# ----------------------------------------------------------------- start modes ---


def _fit(fam, prev, key=0):
    data = jnp.asarray(toys.real_data()[:64])
    w = jnp.ones((64,), jnp.float32)
    fit = jax.jit(fam.fit)
    prev = fam.cast_params(prev, jnp.float32)
    return _flat(fit(jax.random.key(key), data, w, prev).weights)


def _other_prev(fam):
    g0 = fam.generation0()
    return g0._replace(weights=jax.tree.map(lambda x: x + 0.5, g0.weights))


@pytest.mark.parametrize("start", ["generation0", "previous", "scratch"])
def test_start_modes(start):
    fam = toys.toy(start=start)
    a = _fit(fam, fam.generation0())
    b = _fit(fam, _other_prev(fam))
    if start == "previous":
        assert not np.array_equal(a, b)  # continual training: depends on prev
    else:
        np.testing.assert_array_equal(a, b)  # independent of prev
    from_gen0 = _fit(toys.toy(start="generation0"), fam.generation0())
    if start == "scratch":  # neither prev nor generation 0: a fresh network
        assert not np.array_equal(a, from_gen0)
        assert not np.array_equal(a, _fit(fam, fam.generation0(), key=1))
    else:
        np.testing.assert_array_equal(a, from_gen0)


# ------------------------------------------------------------------------- EWC ---


@pytest.mark.slow
def test_ewc_keeps_weights_near_generation0():
    """With a strong penalty the chains' weights drift less from generation 0
    (continual training over 3 generations; paired chains, k·SE from their
    spread)."""
    run = {**RUN, "num_chains": 8, "sample_size": 16}
    dist = {}
    for ewc in (0.0, 100.0):
        fam = toys.toy(start="previous", ewc=ewc, learning_rate=0.1)
        res = cj.run_chains(fam, fam.generation0(), **run)
        w0 = _flat(fam.generation0().weights)
        dist[ewc] = np.linalg.norm(_weights(res) - w0, axis=1)
    diff = dist[0.0] - dist[100.0]
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.mean() > K * se, (dist, se)


def test_fisher_diagonal_is_the_mean_squared_per_example_gradient():
    fam_net = toys.Logits(nnx.Rngs(2))
    graphdef, state, rest = nnx.split(fam_net, nnx.Param, ...)
    weights = nnx.to_pure_dict(state)

    def merge(w):
        return nnx.merge(graphdef, w, rest)

    points = toys.real_data()[:20]
    got = learned._fisher_diagonal(merge, toys.loss, weights, points)
    grads = [
        jax.grad(lambda w, x=x: toys.loss(merge(w), jnp.asarray([x]), None)[0])(weights)
        for x in points
    ]
    want = jax.tree.map(lambda *g: np.mean(np.square(np.stack(g)), axis=0), *grads)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), got, want
    )


# ------------------------------------------------------------- reproducibility ---


def test_bitwise_run_to_run_and_across_num_chains_and_chunks():
    fam = toys.toy()
    a = cj.run_chains(fam, fam.generation0(), **RUN)
    b = cj.run_chains(fam, fam.generation0(), **RUN)
    np.testing.assert_array_equal(a.metrics["held_out_nll"], b.metrics["held_out_nll"])
    np.testing.assert_array_equal(_weights(a), _weights(b))
    # chains 1..2 alone (first_chain=1) are chains 1..2 of the batch of 4
    c = cj.run_chains(fam, fam.generation0(), **{**RUN, "num_chains": 2}, first_chain=1)
    np.testing.assert_array_equal(_weights(c), _weights(a)[1:3])
    d = cj.run_chains(fam, fam.generation0(), **RUN, chunk_size=1)
    np.testing.assert_array_equal(_weights(d), _weights(a))
    np.testing.assert_array_equal(d.metrics["held_out_nll"], a.metrics["held_out_nll"])


def test_bitwise_across_resume():
    """A run stopped after one chunk and resumed from its state (as a run
    directory's checkpoint does) ends with the same bits."""
    fam = toys.toy()
    spec = runspec.build(
        "run_chains", fam, fam.generation0(), chunk_size=1, runner=chain.execute, **RUN
    )
    plan = chain.prepare(spec)
    assert isinstance(plan, chain.Plan)
    states = [s for _, s, _ in plan.chunks(plan.state, 0)]
    saved = jax.tree.map(np.asarray, states[0])  # the checkpoint after generation 1
    plan2 = chain.prepare(spec)
    assert isinstance(plan2, chain.Plan)
    resumed = [s for _, s, _ in plan2.chunks(plan2.place(saved), 1)]
    jax.tree.map(np.testing.assert_array_equal, resumed[-1], states[-1])


@pytest.mark.slow
def test_batch_size_changes_bits_not_the_law():
    """Another batch size changes the optimisation path (not bitwise), but the
    held-out loss after 3 generations agrees within k·SE of the chains' spread."""
    run = {**RUN, "num_chains": 16}
    nll = {}
    for b in (8, 32):
        fam = toys.toy(batch_size=b, learning_rate=0.1)
        nll[b] = cj.run_chains(fam, fam.generation0(), **run).metrics["held_out_nll"]
    assert not np.array_equal(nll[8], nll[32])
    x, y = nll[8][:, -1], nll[32][:, -1]
    se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    assert_within_se(x.mean(), y.mean(), se, what="held_out_nll, batch 8 vs 32")


# ---------------------------------------------------------------------- stages ---


STAGED = dict(record_params=False, metrics=["held_out_nll"])  # run_stages' config


@pytest.mark.parametrize(
    "regime",
    [cj.replace(), pytest.param(cj.accumulate(), marks=pytest.mark.slow)],
    ids=lambda r: r.name,
)
def test_stages_of_one_family_are_the_plain_run(regime):
    """Two stages of the same family (start='generation0': the fit does not read
    prev) are the one-stage run bit for bit: the second stage's first fit draws
    from each chain's own last network, with the keys of the generation it is
    (the generation index goes on), and the regime's state carries over."""
    fam = toys.toy()
    one = cj.run_chains(
        fam, fam.generation0(), **{**RUN, "num_generations": 4}, regime=regime, **STAGED
    )
    two = cj.run_stages(
        [(fam, 2), (fam, 2)],
        key=RUN["key"],
        num_chains=4,
        sample_size=32,
        regime=regime,
    )
    np.testing.assert_array_equal(
        two.metrics["held_out_nll"], one.metrics["held_out_nll"]
    )
    assert two.config["stage_starts"] == [1, 3]


def test_stages_change_the_architecture_per_chain():
    small, large = toys.toy(), toys.toy(deep=True, name="toy_deep")
    res = cj.run_stages([(small, 2), (large, 2)], key=1, num_chains=4, sample_size=32)
    nll = res.metrics["held_out_nll"]
    assert nll.shape == (4, 5) and np.all(np.isfinite(nll))
    # the first stage is the plain run of the small network
    plain = cj.run_chains(
        small, small.generation0(), **{**RUN, "key": 1, "num_generations": 2}, **STAGED
    )
    np.testing.assert_array_equal(nll[:, :3], plain.metrics["held_out_nll"])
    # the last stage's networks are the large ones, one per chain
    final = res.final_state.params.weights
    assert (
        set(final) == {"a", "b"}
        and len(
            {
                _flat(w).tobytes()
                for w in [jax.tree.map(lambda x, i=i: x[i], final) for i in range(4)]
            }
        )
        == 4
    )
    # a chain's bits do not depend on the other chains
    two = cj.run_stages([(small, 2), (large, 2)], key=1, num_chains=2, sample_size=32)
    np.testing.assert_array_equal(two.metrics["held_out_nll"], nll[:2])


def test_stages_errors():
    fam = toys.toy()
    with pytest.raises(TypeError, match=r"run_stages\(\): stages must be a non-empty"):
        cj.run_stages([], key=0, num_chains=2, sample_size=8)
    with pytest.raises(TypeError, match=r"run_stages\(\): stages\[0\] must be a"):
        cj.run_stages([fam], key=0, num_chains=2, sample_size=8)
    with pytest.raises(ValueError, match=r"stages\[1\]\[1\] must be a positive"):
        cj.run_stages([(fam, 1), (fam, 0)], key=0, num_chains=2, sample_size=8)
    with pytest.raises(TypeError, match=r"stages\[0\] must be a learned family"):
        cj.run_stages([(cj.gaussian(), 2)], key=0, num_chains=2, sample_size=8)
    with pytest.raises(ValueError, match=r"metrics must be metrics every stage"):
        cj.run_stages([(fam, 1)], key=0, num_chains=2, sample_size=8, metrics=["x"])


# ---------------------------------------------------------------------- errors ---


def _make(**kw):
    real = toys.real_data()
    args = dict(
        name="bad",
        module=toys.Logits(nnx.Rngs(0)),
        loss=toys.loss,
        generate=toys.generate,
        log_prob=toys.log_prob,
        real_data=real,
        training=cj.training(steps=5),
    )
    return cj.learned_family(**{**args, **kw})


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"module": object()}, TypeError, r"learned_family\(\): module must be a flax"),
        ({"loss": 3}, TypeError, r"loss must be a function"),
        ({"training": {"steps": 3}}, TypeError, r"training must be Training settings"),
        (
            {"training": cj.Training(start="restart")},
            ValueError,
            r"training.start must be one of 'generation0', 'previous', 'scratch'",
        ),
        (
            {"training": cj.Training(ewc=-1.0)},
            ValueError,
            r"training.ewc must be a number >= 0",
        ),
        (
            {"training": cj.training(start="scratch")},
            TypeError,
            r"make must be a function \(rngs\) -> network with start='scratch'",
        ),
        (
            {"real_data": np.zeros((0,), np.int32)},
            ValueError,
            r"real_data must be a "
            r"non-empty array",
        ),
        (
            {"held_out": np.zeros((5, 2), np.int32)},
            ValueError,
            r"held_out must be a "
            r"non-empty array of points shaped like real_data's \(\)",
        ),
        ({"fisher_points": 0}, ValueError, r"fisher_points must be a positive"),
    ],
)
def test_learned_family_errors(kw, error, match):
    with pytest.raises(error, match=match):
        _make(**kw)


# ---------------------------------------------------------------------- memory ---


def test_memory_estimate_covers_the_training_step():
    """The runner's estimate of one generation's temporaries covers what XLA's
    memory analysis measures for the vmapped fit (weights, gradients, Adam state,
    a minibatch's activations), without overstating it by much."""
    from collapse_jax._memory_model import compiled_bytes

    fam = toys.toy(deep=True, name="toy_deep", batch_size=64)
    spec = runspec.build(
        "run_chains",
        fam,
        fam.generation0(),
        key=0,
        num_chains=8,
        num_generations=2,
        sample_size=256,
        runner=chain.execute,
    )
    estimate = chain.prepare(spec, estimate_only=True)
    assert callable(estimate)
    step = estimate(8).step
    params = fam.cast_params(fam.generation0(), jnp.float32)
    batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (8,) + x.shape), params)
    data, weights = jnp.zeros((8, 256), jnp.int32), jnp.ones((8, 256), jnp.float32)
    keys = jax.random.split(jax.random.key(0), 8)
    measured = compiled_bytes(
        jax.jit(jax.vmap(fam.fit)).lower(keys, data, weights, batched).compile()
    )
    assert measured <= step <= 4 * measured, (measured, step)


def test_save_and_load_round_trip_with_network_weights(tmp_path):
    """A neural run's results file holds one variable per network weight
    (``params__weights__<layer>__<name>``) and loads back the same values."""
    fam = toys.toy()
    res = cj.run_chains(fam, fam.generation0(), **RUN)
    ds = res.to_dataset()
    assert "params__weights__lin__kernel" in ds and "params__real" in ds
    cj.save(res, tmp_path / "run.nc")
    back = cj.load(tmp_path / "run.nc")
    for name in ds.data_vars:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    kernel = res.params.weights["lin"]["kernel"]
    np.testing.assert_array_equal(
        back["params__weights__lin__kernel"].values[0], kernel
    )


def test_docs_example_runs():
    """docs/neural.md's example of a fork's own network runs as written."""
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "neural.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})  # noqa: S102 - the docs' own code
