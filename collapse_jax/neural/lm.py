"""The language-model family: a character-level Transformer fine-tuned, generation
after generation, on its own text (Shumailov et al.'s OPT experiment at laptop scale).

:func:`language_model` builds a :func:`~collapse_jax.neural.learned_family` on a
:class:`~collapse_jax.neural.text.Corpus`:

* **data** are int32 blocks of ``context`` tokens (characters). The real training
  set is the training text cut into non-overlapping blocks; held-out blocks come
  from the held-out split (the text's last 10 % by default), so none overlaps a
  training block.
* **generation 0** is the Transformer pre-trained on random windows of the training
  text, cached on disk (:func:`collapse_jax.neural.cache.cached_weights`) under a
  key of everything that determines its weights (sizes, context, the corpus's name
  and SHA-256, steps, batch, learning rate, seed, this module's format version).
* **a generated point** is a real prompt (the first ``prompt_length`` tokens of a
  uniformly drawn training block) followed by the network's continuation, as in the
  paper. The training loss covers the continuation positions only: a generation
  learns the synthetic tokens, the real prompt only conditions them. Real blocks
  (the truth's draws, kept or fresh real data) are trained the same way.
* **decoding** is the family's :class:`~collapse_jax.neural.decoding.Decoding`
  (method, temperature, top-k, nucleus, repetition penalty, beam width); the
  family has the ``"decoder"`` capability, so ``cj.temperature``, ``cj.top_k``,
  ``cj.nucleus`` and ``cj.repetition_penalty`` passed as ``sampling=`` override one
  setting with a traced number (sweepable).

Metrics per generation and chain (:data:`LM_METRICS`), from the network alone; the
ones about generated text use a fixed evaluation sample of ``eval_sequences``
sequences decoded with the family's decoding and a fixed key (the truth's
"generated text" is real training blocks, its draws):

* ``held_out_nll``: mean negative log-likelihood of a held-out block (nats per
  block, positions 1 .. context-1); ``held_out_perplexity``: ``exp`` of it per
  token;
* ``gen0_log_ppl_hist``: the histogram (shares over :data:`LOG_PPL_EDGES`, the
  last bin open) of the evaluation sample's per-sequence log-perplexities under
  the generation-0 network (continuation positions: the paper's figure);
  ``gen0_log_ppl_mean``, ``gen0_log_ppl_q90`` (its 90 % quantile) and
  ``gen0_tail_share`` (the share above the 95 % quantile of real held-out blocks
  under generation 0: about 5 % for real text);
* ``distinct_1``, ``distinct_2``, ``distinct_3``: distinct character n-grams over
  all n-grams of the sample's continuations;
* ``vocabulary_share``: the share of the training text's words (maximal runs of
  ASCII letters, lower-cased) that the sample produces, and ``known_word_share``:
  the share of produced words that are training words (words are hashed inside
  the compiled program, FNV-1a 32-bit, and looked up in the sorted hashes of the
  training words; a word counts when both its ends are visible and it ends in the
  continuation);
* ``repetition_rate``: the share of the continuations' character 5-grams that
  already occur earlier in the same sequence (prompt included).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from collapse_jax.checks import check_choice, check_positive_int, fail
from collapse_jax.families.base import Decoder, ModelFamily
from collapse_jax.neural.cache import cached_weights
from collapse_jax.neural.decoding import Decoding, continue_prompts
from collapse_jax.neural.learned import learned_family
from collapse_jax.neural.text import Corpus, blocks, text_corpus
from collapse_jax.neural.train import (
    OPTIMIZERS,
    SCHEDULES,
    Training,
    check_training,
    training,
)
from collapse_jax.neural.transformer import Transformer

__all__ = [
    "LM_METRICS",
    "LOG_PPL_EDGES",
    "SIZES",
    "language_model",
    "pretrained_weights",
]

#: Bump when the architecture or pre-training changes: cached weights retrain.
LM_FORMAT = 2

#: Bin edges of the generation-0 log-perplexity histogram (the last bin is open).
LOG_PPL_EDGES = np.linspace(0.0, 4.0, 21)

#: The metrics the family records (besides none: ``held_out_nll`` is its own).
LM_METRICS = (
    "held_out_nll",
    "held_out_perplexity",
    "gen0_log_ppl_hist",
    "gen0_log_ppl_mean",
    "gen0_log_ppl_q90",
    "gen0_tail_share",
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "vocabulary_share",
    "known_word_share",
    "repetition_rate",
)

#: Sizes: network, pre-training and the per-generation fine-tuning defaults.
SIZES: dict[str, dict[str, Any]] = {
    # The test suite's model: pre-trains in seconds.
    "test": dict(
        num_layers=1,
        d_model=32,
        num_heads=2,
        context=32,
        prompt_length=16,
        pretrain_steps=400,
        pretrain_batch=32,
        pretrain_lr=3e-3,
        steps=20,
        batch_size=16,
        learning_rate=1e-3,
        held_out_blocks=64,
        eval_sequences=32,
    ),
    # The CPU default.
    "tiny": dict(
        num_layers=2,
        d_model=64,
        num_heads=4,
        context=64,
        prompt_length=32,
        pretrain_steps=1500,
        pretrain_batch=32,
        pretrain_lr=3e-3,
        steps=60,
        batch_size=32,
        learning_rate=1e-3,
        held_out_blocks=128,
        eval_sequences=64,
    ),
    # A GPU size.
    "full": dict(
        num_layers=4,
        d_model=256,
        num_heads=8,
        context=64,
        prompt_length=32,
        pretrain_steps=6000,
        pretrain_batch=64,
        pretrain_lr=1e-3,
        steps=300,
        batch_size=64,
        learning_rate=2e-4,
        held_out_blocks=512,
        eval_sequences=256,
    ),
}

_FN = "language_model"
_EVAL_KEY = 20240724  # the evaluation sample's fixed key (any fixed number)
_REPEAT_N = 5


# ------------------------------------------------------------------- losses ---


def _token_log_probs(model, tokens):
    """``(n, T-1)`` log p(x_t | x_<t) for t = 1 .. T-1."""
    logits = model(tokens[:, :-1]).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]


def _continuation_nll(model, tokens, prompt_length):
    """``(n,)`` mean NLL per token over the continuation positions."""
    lp = _token_log_probs(model, tokens)
    return -jnp.mean(lp[:, prompt_length - 1 :], axis=1)


# -------------------------------------------------------------- pre-training ---


def _pretrain(arch, tokens, context, steps, batch, lr, seed):
    model = Transformer(**arch, context=context, rngs=nnx.Rngs(seed))
    graphdef, state, rest = nnx.split(model, nnx.Param, ...)
    weights = nnx.to_pure_dict(state)
    schedule = SCHEDULES["warmup_cosine"](lr, steps, max(1, steps // 20))
    tx = optax.chain(optax.clip_by_global_norm(1.0), OPTIMIZERS["adam"](schedule, 0.0))
    data = jnp.asarray(tokens)

    def loss(w, key):
        starts = jax.random.randint(key, (batch,), 0, data.shape[0] - context + 1)
        x = data[starts[:, None] + jnp.arange(context)[None]]
        lp = _token_log_probs(nnx.merge(graphdef, w, rest), x)
        return -jnp.mean(lp)

    @jax.jit
    def run(w):
        def step(carry, s):
            w, opt = carry
            g = jax.grad(loss)(w, jax.random.fold_in(jax.random.key(seed), s))
            updates, opt = tx.update(g, opt, w)
            return (optax.apply_updates(w, updates), opt), None

        (w, _), _ = jax.lax.scan(step, (w, tx.init(w)), jnp.arange(steps))
        return w

    return jax.tree.map(np.asarray, run(weights))


def _arch(spec):
    return {k: spec[k] for k in ("num_layers", "d_model", "num_heads")} | {
        "vocab_size": spec["vocab_size"]
    }


def pretrained_weights(corpus: Corpus, spec: dict[str, Any]) -> dict:
    """The generation-0 weights for ``spec`` (from the cache, else pre-trained)."""
    config = {
        "format": LM_FORMAT,
        "corpus": corpus.name,
        "corpus_sha256": corpus.digest,
        "seed": spec["seed"],
        **{
            k: spec[k]
            for k in (
                "vocab_size",
                "num_layers",
                "d_model",
                "num_heads",
                "context",
                "pretrain_steps",
                "pretrain_batch",
                "pretrain_lr",
            )
        },
    }
    return cached_weights(
        "lm",
        config,
        lambda: _pretrain(
            _arch(spec),
            corpus.encode(corpus.train),
            spec["context"],
            spec["pretrain_steps"],
            spec["pretrain_batch"],
            spec["pretrain_lr"],
            spec["seed"],
        ),
    )


# ------------------------------------------------------------------- words ---

_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)


def _word_hashes(text: str) -> np.ndarray:
    """Sorted distinct FNV-1a hashes of the lower-cased ASCII-letter words."""
    out = set()
    for word in set(re.findall(r"[A-Za-z]+", text)):
        h = int(_FNV_OFFSET)
        for c in word.lower():
            h = ((h ^ ord(c)) * int(_FNV_PRIME)) & 0xFFFFFFFF
        out.add(h)
    return np.asarray(sorted(out), np.uint32)


def _letter_codes(chars: str) -> np.ndarray:
    """Per token: the lower-cased code of an ASCII letter, else 0 (unknown: 0)."""
    codes = [ord(c.lower()) if c.isascii() and c.isalpha() else 0 for c in chars]
    return np.asarray(codes + [0], np.uint32)


def _word_stats(tokens, codes, vocab_hashes, prompt_length):
    """``(vocabulary_share, known_word_share)`` of the words in ``tokens``."""
    c = codes[tokens]  # (E, T) uint32
    letter = c > 0
    n, t = tokens.shape

    def body(carry, j):
        h, start_ok, prev = carry
        new_word = letter[:, j] & ~prev
        base = jnp.where(new_word, _FNV_OFFSET, h)
        h = jnp.where(letter[:, j], (base ^ c[:, j]) * _FNV_PRIME, jnp.uint32(0))
        start_ok = jnp.where(new_word, j > 0, start_ok)
        return (h, start_ok, letter[:, j]), (h, start_ok)

    init = (jnp.zeros(n, jnp.uint32), jnp.zeros(n, bool), jnp.zeros(n, bool))
    _, (h, start_ok) = jax.lax.scan(body, init, jnp.arange(t))
    h, start_ok = h.T, start_ok.T
    ends = letter & jnp.pad(~letter[:, 1:], ((0, 0), (0, 1)), constant_values=False)
    count = ends & start_ok & (jnp.arange(t) >= prompt_length)[None]
    idx = jnp.clip(jnp.searchsorted(vocab_hashes, h), 0, vocab_hashes.shape[0] - 1)
    known = vocab_hashes[idx] == h
    words = jnp.sum(count)
    known_count = jnp.sum(count & known)
    top = jnp.uint32(0xFFFFFFFF)
    found = jnp.sort(jnp.where(count & known, h, top).reshape(-1))
    distinct = jnp.sum((found != top) & (found != jnp.roll(found, 1)).at[0].set(True))
    vocab_share = distinct / vocab_hashes.shape[0]
    return vocab_share, known_count / jnp.maximum(words, 1)


def _distinct(tokens, n, vocab):
    """Distinct n-grams over all n-grams of ``tokens`` ``(E, L)``."""
    ids = jnp.zeros(tokens[:, n - 1 :].shape, jnp.int32)
    for i in range(n):
        ids = ids * vocab + tokens[:, i : tokens.shape[1] - n + 1 + i]
    s = jnp.sort(ids.reshape(-1))
    return (1 + jnp.sum(s[1:] != s[:-1])) / s.shape[0]


def _repetition_rate(tokens, prompt_length, vocab):
    n = _REPEAT_N
    ids = jnp.zeros(tokens[:, n - 1 :].shape, jnp.int32)
    for i in range(n):
        ids = ids * vocab + tokens[:, i : tokens.shape[1] - n + 1 + i]
    m = ids.shape[1]
    earlier = jnp.tril(jnp.ones((m, m), bool), -1)
    repeat = jnp.any((ids[:, :, None] == ids[:, None, :]) & earlier[None], axis=2)
    in_cont = jnp.arange(m) + n - 1 >= prompt_length  # n-grams ending in it
    return jnp.sum(repeat & in_cont[None]) / (tokens.shape[0] * jnp.sum(in_cont))


# ------------------------------------------------------------------ factory ---


def _resolve(size, overrides):
    check_choice(_FN, "size", size, tuple(SIZES))
    spec = dict(SIZES[size])
    for name, value in overrides.items():
        if value is not None:
            spec[name] = check_positive_int(_FN, name, value)
    if spec["d_model"] % spec["num_heads"]:
        fail(
            _FN,
            "num_heads",
            f"a divisor of d_model={spec['d_model']}",
            spec["num_heads"],
            "Pick d_model a multiple of num_heads.",
        )
    if not 1 <= spec["prompt_length"] < spec["context"]:
        fail(
            _FN,
            "prompt_length",
            f"in [1, context) = [1, {spec['context']})",
            spec["prompt_length"],
            "Leave at least one token to generate after the prompt.",
        )
    return spec


@functools.cache
def language_model(
    corpus: Corpus | None = None,
    *,
    size: str = "tiny",
    context: int | None = None,
    prompt_length: int | None = None,
    num_layers: int | None = None,
    d_model: int | None = None,
    num_heads: int | None = None,
    pretrain_steps: int | None = None,
    held_out_blocks: int | None = None,
    eval_sequences: int | None = None,
    seed: int = 0,
    training: Training | None = None,
    decoding: Decoding | None = None,
) -> ModelFamily:
    """A character-level Transformer language model as a chain family.

    Every generation fine-tunes the pre-trained generation-0 network (by default;
    see ``training.start``) on the previous generation's text. Pass
    ``family.generation0()`` as the truth: its draws are real training blocks.

    Args:
      corpus: the text (:func:`collapse_jax.text_corpus`); default: Python's own
        ``pydoc_data`` help topics with the last 10 % held out.
      size: ``"test"`` (seconds to pre-train: the test suite's), ``"tiny"``
        (the CPU default: 2 layers, width 64, 4 heads, context 64, about two
        minutes to pre-train on two loaded cores) or ``"full"`` (4 layers, width
        256, 8 heads: a GPU size, not measured). The keywords below override its
        numbers.
      context: tokens per data point (block).
      prompt_length: real tokens that prompt each generated block.
      num_layers, d_model, num_heads: the network's shape.
      pretrain_steps: generation 0's pre-training steps.
      held_out_blocks: held-out blocks scored every generation (evenly spread
        over the held-out split).
      eval_sequences: size of the evaluation sample of the text metrics.
      seed: the initialisation and pre-training seed.
      training: how each generation trains (default: the size's steps, batch
        and learning rate, starting from generation 0).
      decoding: how the network generates (:func:`collapse_jax.decoding`);
        default: plain sampling.

    Returns:
      The family (cached: equal arguments give the same family).

    Examples:
      >>> lm = language_model(size="test")  # doctest: +SKIP
      >>> res = cj.run_chains(lm, lm.generation0(), key=0, num_chains=4,
      ...                     num_generations=5, sample_size=64)  # doctest: +SKIP
    """
    if corpus is None:
        corpus = text_corpus()
    elif not isinstance(corpus, Corpus):
        fail(
            _FN,
            "corpus",
            "a Corpus from cj.text_corpus(...)",
            type(corpus).__name__,
            "Build one with cj.text_corpus(path=...) or leave it out.",
            error=TypeError,
        )
    spec = _resolve(
        size,
        dict(
            context=context,
            prompt_length=prompt_length,
            num_layers=num_layers,
            d_model=d_model,
            num_heads=num_heads,
            pretrain_steps=pretrain_steps,
            held_out_blocks=held_out_blocks,
            eval_sequences=eval_sequences,
        ),
    )
    spec["seed"] = int(seed)
    spec["vocab_size"] = vocab = corpus.vocab_size
    ctx, plen = spec["context"], spec["prompt_length"]
    for arg, text in (("context", corpus.train), ("context", corpus.held_out)):
        if len(text) < ctx + 1:
            fail(
                _FN,
                arg,
                f"at most the length of each split of the text ({len(text)})",
                ctx,
                "Pass a smaller context or a longer text.",
            )
    if decoding is None:
        decoding_ = Decoding()
    elif not isinstance(decoding, Decoding):
        fail(
            _FN,
            "decoding",
            "settings from cj.decoding(...)",
            type(decoding).__name__,
            "Build them with cj.decoding(method=..., temperature=...).",
            error=TypeError,
        )
    else:
        decoding_ = decoding
    if decoding_.top_k is not None and decoding_.top_k > vocab:
        fail(
            _FN,
            "decoding.top_k",
            f"at most the vocabulary size {vocab}",
            decoding_.top_k,
            f"Pass top_k <= {vocab}, or None.",
        )
    if decoding_.method == "beam" and decoding_.beam_width > vocab:
        fail(
            _FN,
            "decoding.beam_width",
            f"at most the vocabulary size {vocab}",
            decoding_.beam_width,
            f"Pass beam_width <= {vocab}.",
        )
    training_ = check_training(_FN, training, lambda: _training_defaults(spec))

    train_tokens = corpus.encode(corpus.train)
    real = blocks(train_tokens, ctx)
    held_all = blocks(corpus.encode(corpus.held_out), ctx)
    pick = np.unique(
        np.linspace(0, len(held_all) - 1, spec["held_out_blocks"]).astype(int)
    )
    held = held_all[pick]
    arch = _arch(spec)
    module = Transformer(**arch, context=ctx, rngs=nnx.Rngs(spec["seed"]))
    graphdef, state, rest = nnx.split(module, nnx.Param, ...)
    nnx.replace_by_pure_dict(state, pretrained_weights(corpus, spec))
    module = nnx.merge(graphdef, state, rest)

    def merge(weights):
        return nnx.merge(graphdef, weights, rest)

    real_j = real  # a constant of the compiled program
    length = ctx - plen
    defaults = decoding_.settings(vocab)

    def prompts(key, n):
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
        rows = jax.vmap(lambda k: jax.random.randint(k, (), 0, real.shape[0]))(keys)
        return jnp.asarray(real_j)[rows], rows

    def decode(model, key, n, settings):
        prompt_key, decode_key = jax.random.split(key)
        starts, _ = prompts(prompt_key, n)
        return continue_prompts(
            model.prefill,
            model.step,
            decode_key,
            starts[:, :plen],
            length,
            settings,
            decoding_.method,
            decoding_.beam_width,
        )

    def merged_settings(overrides):
        out = dict(defaults)
        for name, value in overrides.items():
            out[name] = jnp.asarray(value, out[name].dtype)
        return out

    def generate(model, key, n):
        return decode(model, key, n, defaults)

    def decoder(key, params, n, overrides):
        settings = merged_settings(overrides)
        return jax.lax.cond(
            params.real > 0,
            lambda: prompts(key, n)[0],
            lambda: decode(merge(params.weights), key, n, settings),
        )

    def loss(model, batch, key):
        del key  # no dropout
        return _continuation_nll(model, batch, plen)

    def log_prob(model, data):
        return jnp.sum(_token_log_probs(model, jnp.asarray(data, jnp.int32)), axis=1)

    # The tail threshold: the 95 % quantile of real held-out blocks' continuation
    # log-perplexity under generation 0.
    held_lppl = np.asarray(jax.jit(lambda: _continuation_nll(module, held, plen))())
    tail = float(np.quantile(held_lppl, 0.95))
    codes = jnp.asarray(_letter_codes(corpus.chars))
    vocab_hashes = jnp.asarray(_word_hashes(corpus.train))
    num_eval = spec["eval_sequences"]
    real_eval = real[np.linspace(0, len(real) - 1, num_eval).astype(int)]
    edges = LOG_PPL_EDGES
    width = float(edges[1] - edges[0])

    def metrics(model, model0, params):
        held_lp = jnp.sum(_token_log_probs(model, jnp.asarray(held)), axis=1)
        nll = -jnp.mean(held_lp)
        sample = jax.lax.cond(
            params.real > 0,
            lambda: jnp.asarray(real_eval),
            lambda: decode(model, jax.random.key(_EVAL_KEY), num_eval, defaults),
        )
        lppl = _continuation_nll(model0, sample, plen)
        bins = jnp.clip(jnp.floor(lppl / width), 0, len(edges) - 2).astype(jnp.int32)
        hist = jnp.mean(jax.nn.one_hot(bins, len(edges) - 1, dtype=lppl.dtype), 0)
        cont = sample[:, plen:]
        vocab_share, known = _word_stats(sample, codes, vocab_hashes, plen)
        return {
            "held_out_nll": nll,
            "held_out_perplexity": jnp.exp(nll / (ctx - 1)),
            "gen0_log_ppl_hist": hist,
            "gen0_log_ppl_mean": jnp.mean(lppl),
            "gen0_log_ppl_q90": jnp.quantile(lppl, 0.9),
            "gen0_tail_share": jnp.mean(lppl > tail),
            "distinct_1": _distinct(cont, 1, vocab),
            "distinct_2": _distinct(cont, 2, vocab),
            "distinct_3": _distinct(cont, 3, vocab),
            "vocabulary_share": vocab_share,
            "known_word_share": known,
            "repetition_rate": _repetition_rate(sample, plen, vocab),
        }

    return learned_family(
        name="lm",
        module=module,
        loss=loss,
        generate=generate,
        log_prob=log_prob,
        real_data=real,
        training=training_,
        make=lambda rngs: Transformer(**arch, context=ctx, rngs=rngs),
        held_out=None,  # scored by metrics (held_out_nll), once
        metrics=metrics,
        metric_names=LM_METRICS,
        decoder=Decoder(decoder, vocab),
    )


def _training_defaults(spec):
    return training(
        steps=spec["steps"],
        batch_size=spec["batch_size"],
        learning_rate=spec["learning_rate"],
        fn=_FN,
    )
