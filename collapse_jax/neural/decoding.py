"""Decoding an autoregressive network: sampling with temperature, top-k, nucleus and
repetition penalty, and beam search.

A decoder continues prompts ``(n, P)`` by ``length`` tokens. It talks to the network
through two pure functions (:class:`collapse_jax.neural.transformer.Transformer`
has both, and a toy model in a test can supply its own):

* ``prefill(prompts, cache_len) -> (logits (n, P, V), cache)``;
* ``step(tokens (n,), cache, pos) -> (logits (n, V), cache)``, the cache a pytree
  whose leaves have the batch as leading axis.

The four sampling settings are **traced** numbers (a dict :data:`SETTINGS`), so one
compiled program serves every value and :func:`collapse_jax.sweep` varies them.
Each position's next-token logits are processed in this order (as in common LM
libraries):

1. repetition penalty ``θ``: a token already in the sequence (prompt included) has
   its probability divided by ``θ`` (``log p − log θ``; the same rule as
   :func:`collapse_jax.repetition_penalty` for categorical families, and unlike
   CTRL's division of a logit, it does not depend on the logits' offset);
2. temperature ``T``: log-probabilities divided by ``T``;
3. top-k: only the ``k`` most probable tokens (rank masking, ties to the lower
   index), so ``k`` is traced;
4. nucleus: the smallest set of most probable tokens whose mass reaches ``top_p``
   (sorted cumulative mass; the most probable token is always kept).

Method ``"sample"`` draws each token from the result; method ``"beam"`` keeps the
``beam_width`` (static) continuations of highest total processed log-probability
and returns the best. Randomness: sequence ``i`` uses ``fold_in(key, i)`` and
position ``j`` of it ``fold_in(fold_in(key, i), j)``, so a sequence's random
numbers do not depend on how many sequences are decoded together.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from collapse_jax._util import ascending_rank
from collapse_jax.checks import check_choice, check_positive_int, fail
from collapse_jax.sampling import (
    _nucleus_check,
    _penalty_check,
    _temperature_check,
    _top_k_check,
)

__all__ = [
    "Decoding",
    "METHODS",
    "SETTINGS",
    "decoding",
    "process_logits",
    "continue_prompts",
]

#: Decoding methods.
METHODS = ("sample", "beam")

#: The traced settings, by name (the names of the matching sampling biases' hyper).
SETTINGS = ("temperature", "top_k", "top_p", "repetition_penalty")


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How a language model decodes (the method and width static, the rest traced).

    Attributes:
      method: ``"sample"`` or ``"beam"``.
      temperature: ``T > 0`` (1: unbiased).
      top_k: keep the ``k`` most probable tokens; None: all.
      top_p: nucleus mass in ``(0, 1]`` (1: all).
      repetition_penalty: ``θ > 0`` (1: none; > 1 discourages repeats).
      beam_width: beams of ``"beam"``.
    """

    method: str = "sample"
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    beam_width: int = 4

    def settings(self, vocab_size: int) -> dict[str, Any]:
        """The traced settings (``top_k = None`` becomes the vocabulary size)."""
        return {
            "temperature": jnp.float32(self.temperature),
            "top_k": jnp.int32(vocab_size if self.top_k is None else self.top_k),
            "top_p": jnp.float32(self.top_p),
            "repetition_penalty": jnp.float32(self.repetition_penalty),
        }

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        return dataclasses.asdict(self)


def decoding(
    method: str = "sample",
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    beam_width: int = 4,
    vocab_size: int | None = None,
    fn: str = "decoding",
) -> Decoding:
    """Validated :class:`Decoding` settings (see its attributes).

    ``vocab_size``, when given, bounds ``top_k`` and ``beam_width``.

    Examples:
      >>> decoding(temperature=0.8, top_k=20).top_k
      20
    """
    check_choice(fn, "method", method, METHODS)
    temperature = _temperature_check(fn, "temperature", temperature)
    if top_k is not None:
        top_k = _top_k_check(fn, "top_k", top_k)
        if vocab_size is not None and top_k > vocab_size:
            fail(
                fn,
                "top_k",
                f"at most the vocabulary size {vocab_size}",
                top_k,
                f"Pass top_k <= {vocab_size}, or None to keep every token.",
            )
    top_p = _nucleus_check(fn, "top_p", top_p)
    repetition_penalty = _penalty_check(fn, "repetition_penalty", repetition_penalty)
    beam_width = check_positive_int(
        fn, "beam_width", beam_width, "Pass a beam width >= 1 (1: greedy decoding)."
    )
    if vocab_size is not None and beam_width > vocab_size:
        fail(
            fn,
            "beam_width",
            f"at most the vocabulary size {vocab_size}",
            beam_width,
            f"Pass beam_width <= {vocab_size}.",
        )
    return Decoding(method, temperature, top_k, top_p, repetition_penalty, beam_width)


def process_logits(logits: jax.Array, seen: jax.Array, settings) -> jax.Array:
    """Log-probabilities ``(..., V)`` after penalty, temperature, top-k and top-p.

    Args:
      logits: ``(..., V)`` next-token logits.
      seen: ``(..., V)`` 1 where the token is already in the sequence.
      settings: the traced settings (:data:`SETTINGS`).

    Returns:
      Normalised log-probabilities; removed tokens are ``-inf``.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    logp = logp - jnp.log(settings["repetition_penalty"]) * seen
    logp = jax.nn.log_softmax(logp / settings["temperature"], axis=-1)
    # The sorts of top-k and top-p cost as much as the network's step: skip them
    # when they keep every token (a real branch unless the settings are swept).
    keep_all = (settings["top_k"] >= logits.shape[-1]) & (settings["top_p"] >= 1)
    return jax.lax.cond(keep_all, lambda x, s: x, _truncate, logp, settings)


def _truncate(logp, settings):
    rank = jnp.vectorize(ascending_rank, signature="(v)->(v)")(-logp)
    logp = jax.nn.log_softmax(jnp.where(rank < settings["top_k"], logp, -jnp.inf))
    # Nucleus on the sorted (k-truncated, renormalised) distribution.
    p = jnp.exp(logp)
    sorted_p = jnp.take_along_axis(p, jnp.argsort(rank, axis=-1), axis=-1)
    before = jnp.cumsum(sorted_p, axis=-1) - sorted_p
    keep = jnp.take_along_axis(before < settings["top_p"], rank, axis=-1)
    return jax.nn.log_softmax(jnp.where(keep, logp, -jnp.inf), axis=-1)


def _seen(prompts, vocab_size):
    one_hot = jax.nn.one_hot(prompts, vocab_size, dtype=jnp.float32)
    return jnp.max(one_hot, axis=1)


def _sample(prefill, step, key, prompts, length, settings):
    n, p = prompts.shape
    logits, cache = prefill(prompts, p + length)
    vocab = logits.shape[-1]
    seq_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))

    def body(carry, j):
        last, cache, seen = carry
        logp = process_logits(last, seen, settings)
        keys = jax.vmap(lambda k: jax.random.fold_in(k, j))(seq_keys)
        token = jax.vmap(jax.random.categorical)(keys, logp).astype(jnp.int32)
        seen = jnp.maximum(seen, jax.nn.one_hot(token, vocab, dtype=seen.dtype))
        nxt, cache = step(token, cache, p + j)
        return (nxt, cache, seen), token

    carry = (logits[:, -1], cache, _seen(prompts, vocab))
    _, tokens = jax.lax.scan(body, carry, jnp.arange(length, dtype=jnp.int32))
    return jnp.concatenate([prompts, tokens.T], axis=1)


def _beam(prefill, step, prompts, length, settings, width):
    n, p = prompts.shape
    logits, cache = prefill(prompts, p + length)
    vocab = logits.shape[-1]
    seen = _seen(prompts, vocab)
    logp = process_logits(logits[:, -1], seen, settings)
    scores, tokens = jax.lax.top_k(logp, width)  # (n, W)
    rows = jnp.repeat(jnp.arange(n), width)
    cache = jax.tree.map(lambda c: c[rows], cache)
    seen = seen[rows]
    tokens = tokens.reshape(-1).astype(jnp.int32)
    seen = jnp.maximum(seen, jax.nn.one_hot(tokens, vocab, dtype=seen.dtype))
    out = jnp.zeros((n * width, length), jnp.int32).at[:, 0].set(tokens)

    def body(carry, j):
        scores, tokens, cache, seen, out = carry
        nxt, cache = step(tokens, cache, p + j - 1)
        logp = process_logits(nxt, seen, settings).reshape(n, width, vocab)
        total = (scores[:, :, None] + logp).reshape(n, width * vocab)
        scores, flat = jax.lax.top_k(total, width)
        parent = (jnp.arange(n)[:, None] * width + flat // vocab).reshape(-1)
        tokens = (flat % vocab).reshape(-1).astype(jnp.int32)
        cache = jax.tree.map(lambda c: c[parent], cache)
        seen = jnp.maximum(
            seen[parent], jax.nn.one_hot(tokens, vocab, dtype=seen.dtype)
        )
        out = out[parent].at[:, j].set(tokens)
        return (scores, tokens, cache, seen, out), None

    carry = (scores, tokens, cache, seen, out)
    steps = jnp.arange(1, length, dtype=jnp.int32)
    (scores, _, _, _, out), _ = jax.lax.scan(body, carry, steps)
    best = out.reshape(n, width, length)[:, 0]  # top_k sorts: beam 0 is the best
    return jnp.concatenate([prompts, best], axis=1)


def continue_prompts(
    prefill,
    step,
    key: jax.Array,
    prompts: jax.Array,
    length: int,
    settings,
    method: str = "sample",
    beam_width: int = 4,
) -> jax.Array:
    """Continue ``prompts`` ``(n, P)`` by ``length`` tokens.

    Args:
      prefill: ``(prompts, cache_len) -> (logits (n, P, V), cache)``.
      step: ``(tokens (n,), cache, pos) -> (logits (n, V), cache)``.
      key: the decoding key (unused by beam search).
      prompts: ``(n, P)`` int32, ``P >= 1``.
      length: static, tokens to add (``>= 1``).
      settings: the traced settings (:data:`SETTINGS`).
      method: ``"sample"`` or ``"beam"`` (static).
      beam_width: static beams of ``"beam"``.

    Returns:
      ``(n, P + length)`` int32: each prompt followed by its continuation.
    """
    prompts = jnp.asarray(prompts, jnp.int32)
    if method == "beam":
        return _beam(prefill, step, prompts, length, settings, beam_width)
    return _sample(prefill, step, key, prompts, length, settings)
