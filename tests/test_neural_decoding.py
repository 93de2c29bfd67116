"""Decoding: the logit processors (temperature, top-k, nucleus, repetition
penalty), sampling and beam search on toy models whose answers are known, and the
Transformer's cached step against its full forward pass."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from flax import nnx

from collapse_jax.neural.decoding import Decoding, decoding
from collapse_jax.neural.decoding import continue_prompts as _continue
from collapse_jax.neural.decoding import process_logits as _process
from collapse_jax.neural.transformer import Transformer
from tests.helpers import K, binomial_se

V = 6

# Compiled once per toy model: op-by-op dispatch would dominate these tests.
process_logits = jax.jit(_process)
continue_prompts = jax.jit(_continue, static_argnums=(0, 1, 4, 6, 7))


def settings(**kw):
    return Decoding(**kw).settings(V)


LOGITS = jnp.log(jnp.asarray([0.05, 0.3, 0.1, 0.25, 0.2, 0.1]))
NONE_SEEN = jnp.zeros(V)


def test_unprocessed_is_the_model():
    out = process_logits(LOGITS, NONE_SEEN, settings())
    np.testing.assert_allclose(np.exp(out), np.exp(LOGITS), rtol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 6])
def test_top_k_keeps_exactly_k(k):
    out = np.exp(np.asarray(process_logits(LOGITS, NONE_SEEN, settings(top_k=k))))
    assert np.sum(out > 0) == k
    kept = np.argsort(-np.exp(np.asarray(LOGITS)), stable=True)[:k]
    assert set(np.flatnonzero(out > 0)) == set(kept)
    p = np.exp(np.asarray(LOGITS))
    np.testing.assert_allclose(out[kept], p[kept] / p[kept].sum(), rtol=1e-5)


def test_top_k_ties_keep_exactly_k():
    tied = jnp.zeros(V)  # all equal: ranks break ties towards the lower index
    out = np.exp(np.asarray(process_logits(tied, NONE_SEEN, settings(top_k=2))))
    np.testing.assert_array_equal(np.flatnonzero(out > 0), [0, 1])


@pytest.mark.parametrize("top_p", [0.2, 0.3, 0.31, 0.55, 0.56, 0.9, 1.0])
def test_nucleus_is_the_smallest_top_set_of_mass_p(top_p):
    out = np.exp(np.asarray(process_logits(LOGITS, NONE_SEEN, settings(top_p=top_p))))
    p = np.exp(np.asarray(LOGITS))
    order = np.argsort(-p, stable=True)
    mass = np.cumsum(p[order])
    size = int(np.searchsorted(mass, top_p - 1e-6) + 1)
    kept = order[:size]
    assert set(np.flatnonzero(out > 0)) == set(kept)
    assert p[kept].sum() >= top_p - 1e-6  # reaches the mass ...
    assert p[kept[:-1]].sum() < top_p  # ... and is the smallest such set
    np.testing.assert_allclose(out[kept], p[kept] / p[kept].sum(), rtol=1e-5)


def test_temperature_sharpens_and_its_limit_is_the_argmax():
    p = [
        np.exp(np.asarray(process_logits(LOGITS, NONE_SEEN, settings(temperature=t))))
        for t in (2.0, 1.0, 0.5, 0.01)
    ]
    top = [x.max() for x in p]
    assert top == sorted(top)  # the mode gains mass as T falls
    assert p[-1][1] > 1 - 1e-6  # T -> 0: all mass on the argmax
    expected = np.exp(np.asarray(LOGITS) / 0.5)
    np.testing.assert_allclose(p[2], expected / expected.sum(), rtol=1e-5)


def test_repetition_penalty_divides_the_probability_of_seen_tokens():
    seen = jnp.asarray([0, 1, 0, 1, 0, 0], jnp.float32)
    out = np.exp(
        np.asarray(process_logits(LOGITS, seen, settings(repetition_penalty=2.0)))
    )
    q = np.exp(np.asarray(LOGITS)) / np.where(np.asarray(seen) > 0, 2.0, 1.0)
    np.testing.assert_allclose(out, q / q.sum(), rtol=1e-5)


# ---------------------------------------------------------------- toy models ---


def table_model(table):
    """A toy network whose next-token logits are ``table[last token]`` (a Markov
    chain); its cache is the last token."""
    table = jnp.asarray(table, jnp.float32)

    def prefill(prompts, cache_len):
        del cache_len
        return table[prompts], prompts[:, -1]

    def step(tokens, cache, pos):
        del cache, pos
        return table[tokens], tokens

    return prefill, step


def test_sampling_follows_the_model():
    # A chain that stays with probability 0.7: the share of stays is binomial.
    stay = 0.7
    table = np.log(np.full((V, V), (1 - stay) / (V - 1)))
    np.fill_diagonal(table, np.log(stay))
    prefill, step = table_model(table)
    n, length = 400, 10
    out = np.asarray(
        continue_prompts(
            prefill,
            step,
            jax.random.key(3),
            jnp.zeros((n, 1), jnp.int32),
            length,
            settings(),
        )
    )
    assert out.shape == (n, length + 1)
    stays = np.mean(out[:, 1:] == out[:, :-1])
    # Pairs along a sequence are not independent draws of the stay indicator
    # (each is, given the previous token): Bernoulli(0.7) each, so the SE of the
    # mean of n*length of them is the binomial one.
    assert abs(stays - stay) <= K * binomial_se(stay, n * length)


def test_repetition_penalty_lowers_repeats():
    stay = 0.7
    table = np.log(np.full((V, V), (1 - stay) / (V - 1)))
    np.fill_diagonal(table, np.log(stay))
    prefill, step = table_model(table)
    prompts = jnp.zeros((300, 1), jnp.int32)

    def repeats(penalty):
        out = np.asarray(
            continue_prompts(
                prefill,
                step,
                jax.random.key(5),
                prompts,
                8,
                settings(repetition_penalty=penalty),
            )
        )
        distinct = np.asarray([len(set(row)) for row in out])
        return 1 - distinct / out.shape[1]  # share of repeated tokens per sequence

    plain, penalised = repeats(1.0), repeats(3.0)
    diff = plain.mean() - penalised.mean()
    se = np.sqrt(plain.var(ddof=1) / len(plain) + penalised.var(ddof=1) / len(plain))
    assert diff > K * se


def test_sampling_random_numbers_do_not_depend_on_how_many_decode_together():
    table = np.log(np.random.default_rng(0).dirichlet(np.ones(V), size=V))
    prefill, step = table_model(table)
    prompts = jnp.asarray(np.arange(8)[:, None] % V, jnp.int32)
    key = jax.random.key(11)
    many = continue_prompts(prefill, step, key, prompts, 6, settings())
    few = continue_prompts(prefill, step, key, prompts[:3], 6, settings())
    np.testing.assert_array_equal(np.asarray(many)[:3], np.asarray(few))


def position_model(first, second):
    """Two steps: logits ``first`` for the first token, then ``second[token]``."""
    first = jnp.asarray(first, jnp.float32)
    second = jnp.asarray(second, jnp.float32)

    def prefill(prompts, cache_len):
        del cache_len
        n, p = prompts.shape
        return jnp.broadcast_to(first, (n, p, first.shape[0])), jnp.zeros(n, jnp.int32)

    def step(tokens, cache, pos):
        del cache, pos
        return second[tokens], jnp.zeros(tokens.shape[0], jnp.int32)

    return prefill, step


def brute_force_best(first, second):
    lp1 = np.asarray(jax.nn.log_softmax(jnp.asarray(first)))
    lp2 = np.asarray(jax.nn.log_softmax(jnp.asarray(second), axis=-1))
    best = max(
        itertools.product(range(len(first)), repeat=2),
        key=lambda ab: lp1[ab[0]] + lp2[ab[0], ab[1]],
    )
    return list(best)


def test_beam_search_finds_the_argmax_sequence_greedy_misses():
    # Greedy takes token 0 first (p=0.4) but every continuation of it is flat;
    # token 1 (p=0.35) is followed by token 2 with probability 0.99.
    first = np.log([0.4, 0.35, 0.25 / 4, 0.25 / 4, 0.25 / 4, 0.25 / 4])
    second = np.log(np.full((V, V), 1 / V))
    second[1] = np.log(np.r_[0.002, 0.002, 0.99, 0.002, 0.002, 0.002])
    prefill, step = position_model(first, second)
    prompts = jnp.zeros((2, 1), jnp.int32)
    beam = np.asarray(
        continue_prompts(
            prefill,
            step,
            jax.random.key(0),
            prompts,
            2,
            settings(),
            method="beam",
            beam_width=3,
        )
    )
    greedy = np.asarray(
        continue_prompts(
            prefill,
            step,
            jax.random.key(0),
            prompts,
            2,
            settings(),
            method="beam",
            beam_width=1,
        )
    )
    assert brute_force_best(first, second) == [1, 2]
    np.testing.assert_array_equal(beam[:, 1:], [[1, 2], [1, 2]])
    assert greedy[0, 1] == 0  # width 1 is greedy, and misses it


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_is_exact_when_the_beam_covers_every_prefix(seed):
    rng = np.random.default_rng(seed)
    first = rng.normal(size=V) * 2
    second = rng.normal(size=(V, V)) * 2
    prefill, step = position_model(first, second)
    out = np.asarray(
        continue_prompts(
            prefill,
            step,
            jax.random.key(0),
            jnp.zeros((1, 1), jnp.int32),
            2,
            settings(),
            method="beam",
            beam_width=V,
        )
    )
    assert out[0, 1:].tolist() == brute_force_best(first, second)


def test_transformer_cached_step_matches_the_full_forward():
    graphdef, state = nnx.split(Transformer(11, 12, 2, 16, 2, rngs=nnx.Rngs(0)))
    tokens = jax.random.randint(jax.random.key(1), (3, 12), 0, 11)

    @jax.jit
    def both(state):
        model = nnx.merge(graphdef, state)
        logits, cache = model.prefill(tokens[:, :5], 12)

        def body(cache, pos):
            step, cache = model.step(tokens[:, pos], cache, pos)
            return cache, step

        _, steps = jax.lax.scan(body, cache, jnp.arange(5, 12))
        return model(tokens), logits, jnp.swapaxes(steps, 0, 1)

    full, prompt, steps = both(state)
    np.testing.assert_allclose(prompt, full[:, :5], atol=1e-5)
    np.testing.assert_allclose(steps, full[:, 5:], atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "greedy"}, r"decoding\(\): method must be one of 'sample', 'beam'"),
        ({"temperature": 0.0}, r"decoding\(\): temperature must be a number > 0"),
        ({"temperature": -1.0}, r"temperature must be a number > 0"),
        ({"top_k": 0}, r"decoding\(\): top_k must be a positive integer"),
        ({"top_k": 7, "vocab_size": 6}, r"top_k must be at most the vocabulary size 6"),
        ({"top_p": 0.0}, r"decoding\(\): top_p must be a number in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\]"),
        ({"beam_width": 0}, r"decoding\(\): beam_width must be a positive integer"),
        ({"repetition_penalty": 0}, r"repetition_penalty must be a number > 0"),
    ],
)
def test_bad_decoding_settings(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        decoding(**kwargs)
