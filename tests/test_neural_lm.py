"""The language-model family: generation 0 from the cache, a chain run and its
metrics, the decoder capability (sampling biases as traced decoding settings),
bad input; and (slow) the paper's directions with tolerances from the chains'
spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax.families.base import has
from collapse_jax.neural import lm as lm_module
from collapse_jax.neural.decoding import decoding
from collapse_jax.neural.lm import LM_METRICS, LOG_PPL_EDGES, language_model
from collapse_jax.neural.text import text_corpus
from tests.helpers import ASSERTION_COUNT, K, mean_and_se


@pytest.fixture(scope="module")
def lm():
    # The test size pre-trains in seconds, once per machine (the weights cache).
    return language_model(size="test")


@pytest.fixture(scope="module")
def run(lm):
    return cj.run_chains(
        lm, lm.generation0(), key=0, num_chains=2, num_generations=1, sample_size=16
    )


def test_family_is_cached_and_has_the_decoder(lm):
    assert language_model(size="test") is lm
    assert has(lm, "decoder")
    assert lm.decoder.vocab_size == text_corpus().vocab_size
    assert lm.event_shape == (32,)


@pytest.mark.slow  # pre-trains twice (tests/test_neural_train.py checks the cache)
def test_generation0_weights_come_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_JAX_CACHE", str(tmp_path))
    calls = []
    real = lm_module._pretrain

    def counting(*args):
        calls.append(args[2:])
        return real(*args)

    monkeypatch.setattr(lm_module, "_pretrain", counting)
    corpus = text_corpus()
    spec = lm_module._resolve("test", {"pretrain_steps": 2})
    spec.update(seed=0, vocab_size=corpus.vocab_size)
    first = lm_module.pretrained_weights(corpus, spec)
    again = lm_module.pretrained_weights(corpus, spec)
    assert len(calls) == 1
    jax.tree.map(np.testing.assert_array_equal, first, again)
    other = lm_module.pretrained_weights(corpus, {**spec, "seed": 1})
    assert len(calls) == 2  # a different configuration trains anew
    assert not np.array_equal(jax.tree.leaves(first)[0], jax.tree.leaves(other)[0])
    assert len(list((tmp_path / "weights").glob("lm-*.npz"))) == 2


@pytest.mark.slow
def test_chain_run_records_every_metric(run):
    assert tuple(run.metrics) == LM_METRICS
    hist = np.asarray(run.metrics["gen0_log_ppl_hist"])
    assert hist.shape == (2, 2, len(LOG_PPL_EDGES) - 1)
    np.testing.assert_allclose(hist.sum(-1), 1.0, rtol=1e-5)
    ppl = np.asarray(run.metrics["held_out_perplexity"])
    nll = np.asarray(run.metrics["held_out_nll"])
    np.testing.assert_allclose(ppl, np.exp(nll / 31), rtol=1e-5)
    assert np.all((ppl > 1) & (ppl < 104))
    # Generation 0 records real text: every word is a training word.
    np.testing.assert_array_equal(run.metrics["known_word_share"][:, 0], 1.0)
    for name in (
        "distinct_1",
        "distinct_2",
        "distinct_3",
        "vocabulary_share",
        "repetition_rate",
        "gen0_tail_share",
    ):
        x = np.asarray(run.metrics[name])
        assert np.all((x >= 0) & (x <= 1)), name
    assert np.all(np.asarray(run.status) == 0)
    ds = run.to_dataset()
    assert "gen0_log_ppl_hist" in ds
    from collapse_jax.experiments.neural_lm import plot_perplexity_histograms

    fig = plot_perplexity_histograms(ds)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2  # generations 0 and 1
    np.testing.assert_allclose(lines[1].get_ydata(), hist[:, 1].mean(0), rtol=1e-6)


def generated(lm, overrides, n=8):
    params = lm.generation0()._replace(real=np.int32(0))
    params = jax.tree.map(jnp.asarray, params)
    decode = jax.jit(lambda k, p, s: lm.decoder.decode(k, p, n, s))
    return np.asarray(decode(jax.random.key(1), params, overrides)), params


def network(params):
    """The test size's Transformer with ``params``' weights."""
    from flax import nnx

    from collapse_jax.neural.transformer import Transformer

    spec = lm_module.SIZES["test"]
    model = Transformer(
        text_corpus().vocab_size,
        spec["context"],
        spec["num_layers"],
        spec["d_model"],
        spec["num_heads"],
        rngs=nnx.Rngs(0),
    )
    graphdef, state, rest = nnx.split(model, nnx.Param, ...)
    nnx.replace_by_pure_dict(state, params.weights)
    return nnx.merge(graphdef, state, rest)


def test_decoder_takes_traced_settings(lm):
    plen = lm_module.SIZES["test"]["prompt_length"]
    # top_k = 1: every continuation token is the network's argmax.
    seqs, params = generated(lm, {"top_k": jnp.int32(1)})
    logits = np.asarray(jax.jit(lambda x: network(params)(x))(seqs[:, :-1]))
    np.testing.assert_array_equal(
        seqs[:, plen:], np.argmax(logits[:, plen - 1 :], axis=-1)
    )
    # A huge repetition penalty: no token of a sequence repeats one before it.
    seqs, _ = generated(lm, {"repetition_penalty": jnp.float32(1e30)})
    for row in seqs:
        cont = row[plen:]
        assert len(set(cont.tolist())) == len(cont)
        assert not set(cont.tolist()) & set(row[:plen].tolist())


@pytest.mark.slow
def test_sampling_biases_are_decoding_settings(lm):
    g0 = lm.generation0()
    res = cj.sweep(
        lm,
        g0,
        over={"repetition_penalty": [1.0, 1e30]},
        sampling=cj.repetition_penalty(1.0),
        key=0,
        num_chains=1,
        num_generations=2,
        sample_size=8,
        metrics=["held_out_nll"],
    )
    nll = np.asarray(res.metrics["held_out_nll"])
    assert nll.shape == (2, 1, 3)
    # Generation 1 trains on real blocks (the truth's draws): the bias does not
    # apply; generation 2 trains on decoded text: it does.
    np.testing.assert_array_equal(nll[0, :, :2], nll[1, :, :2])
    assert nll[0, 0, 2] != nll[1, 0, 2]
    plain = cj.run_chains(
        lm,
        g0,
        key=0,
        num_chains=1,
        num_generations=2,
        sample_size=8,
        metrics=["held_out_nll"],
        sampling=cj.repetition_penalty(1e30),
    )
    np.testing.assert_array_equal(plain.metrics["held_out_nll"], nll[1])


def test_bias_errors(lm):
    g0 = lm.generation0()
    with pytest.raises(
        ValueError,
        match=r"run_chains\(\): sampling must be top_k "
        r"at most the vocabulary size 104 of the lm family; got 500",
    ):
        cj.run_chains(
            lm,
            g0,
            key=0,
            num_chains=1,
            num_generations=1,
            sample_size=8,
            sampling=cj.top_k(500),
        )
    with pytest.raises(
        ValueError,
        match=r"sampling must be for a family with a "
        r"location-scale",
    ):
        cj.run_chains(
            lm,
            g0,
            key=0,
            num_chains=1,
            num_generations=1,
            sample_size=8,
            sampling=cj.variance_scale(0.5),
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"size": "huge"},
            ValueError,
            r"language_model\(\): size must be one of "
            r"'test', 'tiny', 'full'",
        ),
        (
            {"size": "test", "prompt_length": 32},
            ValueError,
            r"prompt_length must be in \[1, context\) = \[1, 32\)",
        ),
        (
            {"size": "test", "num_heads": 3},
            ValueError,
            r"num_heads must be a divisor of d_model=32",
        ),
        (
            {"size": "test", "decoding": decoding(top_k=105)},
            ValueError,
            r"language_model\(\): decoding.top_k must be at most the vocabulary size",
        ),
        (
            {"size": "test", "decoding": decoding("beam", beam_width=200)},
            ValueError,
            r"decoding.beam_width must be at most the vocabulary size 104",
        ),
        (
            {"size": "test", "decoding": "greedy"},
            TypeError,
            r"decoding must be settings from cj.decoding",
        ),
        (
            {"size": "test", "corpus": "some text"},
            TypeError,
            r"corpus must be a Corpus from cj.text_corpus",
        ),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        language_model(**kwargs)


def test_context_longer_than_the_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("a small text of a few words. " * 4)
    corpus = text_corpus(path=path, min_chars=8)
    with pytest.raises(
        ValueError,
        match=r"language_model\(\): context must be at "
        r"most the length of each split of the text \(\d+\); got 32",
    ):
        language_model(corpus, size="test")


# ------------------------------------------------------------- directions ---

# The paper's directions at the CPU size, as the lm-collapse preset runs it
# (decoding at temperature 0.7), with 8 chains and 5 generations. The tolerance is
# K standard errors from the chains' spread (independent chains); the
# multiplicative perplexity is compared on the log scale.
DIRECTION_RUN = dict(key=0, num_chains=8, num_generations=5, sample_size=256)


@pytest.fixture(scope="module")
def directions():
    lm = language_model(size="tiny", decoding=decoding(temperature=0.7))
    g0 = lm.generation0()
    out = {}
    regimes = (
        ("replace", cj.replace()),
        ("keep", cj.retain_original(0.1)),
        ("accumulate", cj.accumulate()),
        ("fresh", cj.fresh(26)),  # about 10 % fresh real blocks each generation
    )
    for name, regime in regimes:
        out[name] = cj.run_chains(lm, g0, regime=regime, **DIRECTION_RUN)
    return out


def rise(res, name="held_out_perplexity"):
    """Per chain: the log of the metric at the last generation over generation 1
    (the first fine-tuned network)."""
    x = np.asarray(res.metrics[name], np.float64)
    return np.log(x[:, -1]) - np.log(x[:, 1])


def assert_positive(values, what):
    ASSERTION_COUNT[0] += 1
    mean, se = mean_and_se(values)
    assert mean > K * se, f"{what}: mean {mean}, SE {se}, K {K}"


def assert_greater(a, b, what):
    ASSERTION_COUNT[0] += 1
    ma, sa = mean_and_se(a)
    mb, sb = mean_and_se(b)
    se = math.hypot(sa, sb)
    assert ma - mb > K * se, f"{what}: {ma} vs {mb}, SE {se}, K {K}"


@pytest.mark.slow
def test_held_out_perplexity_rises_under_replace(directions):
    assert_positive(rise(directions["replace"]), "log ppl(G5 / G1), replace")


@pytest.mark.slow
def test_keeping_ten_percent_real_data_rises_less(directions):
    assert_greater(
        rise(directions["replace"]),
        rise(directions["keep"]),
        "log ppl rise: replace against 10 % kept",
    )


@pytest.mark.slow
def test_accumulating_every_generation_rises_less(directions):
    assert_greater(
        rise(directions["replace"]),
        rise(directions["accumulate"]),
        "log ppl rise: replace against accumulate",
    )


@pytest.mark.slow
def test_fresh_real_data_rises_less(directions):
    assert_greater(rise(directions["replace"]), rise(directions["fresh"]),
                   "log ppl rise: replace against fresh(26)")


@pytest.mark.slow
def test_ewc_towards_generation0_rises_less(directions):
    from collapse_jax.neural.train import training

    spec = lm_module.SIZES["tiny"]
    ewc = training(
        steps=spec["steps"],
        batch_size=spec["batch_size"],
        learning_rate=spec["learning_rate"],
        ewc=300.0,
    )
    lm = language_model(size="tiny", decoding=decoding(temperature=0.7), training=ewc)
    res = cj.run_chains(lm, lm.generation0(), **DIRECTION_RUN)
    assert_greater(
        rise(directions["replace"]), rise(res), "log ppl rise: replace against EWC 300"
    )


@pytest.mark.slow
def test_generated_data_drift_to_low_perplexity(directions):
    mean = np.asarray(directions["replace"].metrics["gen0_log_ppl_mean"], np.float64)
    # Generation 0's "generated" data are the real blocks (one value for every
    # chain): the chains' spread at generation 5 is the SE.
    assert_positive(mean[:, 0] - mean[:, -1], "gen-0 log ppl: real - G5")


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured: at the tiny size and temperature "
    "0.7 the upper tail shrinks with the bulk (90 % quantile 1.58 on "
    "real text, 1.44 at G1, 1.29 at G5; tail share 1.6 % -> 0); at "
    "temperature 0.85-1 it grows but the bulk does not fall",
)
def test_generated_data_grow_a_longer_tail(directions):
    q90 = np.asarray(directions["replace"].metrics["gen0_log_ppl_q90"], np.float64)
    assert_positive(q90[:, -1] - q90[:, 1], "gen-0 log ppl 90 % quantile: G5 - G1")


@pytest.mark.slow
def test_docs_language_model_example_runs():
    """docs/neural.md's language-model example (its ``py`` block) runs as written."""
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "neural.md"
    section = page.read_text().split("## Language model", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```py\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(page), "exec"), {})  # noqa: S102 - the docs' code


@pytest.mark.slow
def test_beam_decoding_family():
    from collapse_jax.neural.decoding import continue_prompts

    beam = language_model(size="test", decoding=decoding("beam", beam_width=3))
    plen = lm_module.SIZES["test"]["prompt_length"]
    seqs, params = generated(beam, {})
    model = network(params)
    again = jax.jit(
        lambda p: continue_prompts(
            model.prefill,
            model.step,
            jax.random.key(0),
            p,
            seqs.shape[1] - plen,
            decoding().settings(beam.decoder.vocab_size),
            method="beam",
            beam_width=3,
        )
    )(jnp.asarray(seqs[:, :plen]))
    np.testing.assert_array_equal(seqs, np.asarray(again))


@pytest.mark.slow
def test_bitwise_across_batch_of_chains_and_chunking(lm):
    # A chain's training and decoding depend only on its key: running it alone,
    # or in generation chunks, gives the same bits (the engine's guarantee, which
    # the family must not break: its decoding keys are per sequence).
    kw = dict(key=3, num_generations=2, sample_size=16, metrics=["held_out_nll"])
    both = cj.run_chains(lm, lm.generation0(), num_chains=2, **kw)
    second = cj.run_chains(lm, lm.generation0(), num_chains=1, first_chain=1, **kw)
    chunked = cj.run_chains(lm, lm.generation0(), num_chains=2, chunk_size=1, **kw)
    np.testing.assert_array_equal(
        both.metrics["held_out_nll"][1:], second.metrics["held_out_nll"]
    )
    np.testing.assert_array_equal(
        both.metrics["held_out_nll"], chunked.metrics["held_out_nll"]
    )
