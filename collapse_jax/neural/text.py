"""Text corpora for the language-model chains: loaders, a character vocabulary,
blocks of tokens.

A :class:`Corpus` is a training text and a held-out text with a character-level
vocabulary: the distinct characters of the training text (sorted) plus one unknown
token, for characters of other text (the held-out split, a user's prompt) that the
training text lacks. No tokenizer is downloaded.

Sources (:func:`text_corpus`):

* ``"pydoc_data"`` (default): the help topics that ship with Python
  (``pydoc_data.topics``, about 465,000 characters of English and code, 103
  distinct characters), joined in sorted topic order;
* a text file (``path=``, any ``encoding``);
* ``"wikitext-2"``: WikiText-2 (raw) through the optional ``datasets`` package,
  only when it is installed and the data are already in its local cache: the
  loader forces offline mode and never downloads (its train split trains, its
  validation split is held out).

For the first two, the held-out split is the *last* ``held_out_fraction`` of the
text, contiguous, so no training block overlaps a held-out one.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import NamedTuple

import numpy as np

from collapse_jax.checks import check_positive_int, check_real, described, fail

__all__ = ["Corpus", "SOURCES", "UNKNOWN", "text_corpus", "blocks"]

#: Named sources besides a file path.
SOURCES = ("pydoc_data", "wikitext-2")

#: How the unknown token decodes.
UNKNOWN = "\ufffd"


class Corpus(NamedTuple):
    """A training text and a held-out text with their character vocabulary.

    Attributes:
      name: where the text came from (``"pydoc_data"``, ``"file:<name>"``,
        ``"wikitext-2"``).
      train: the training text.
      held_out: the held-out text.
      chars: the vocabulary's characters (sorted distinct characters of
        ``train``); token ``len(chars)`` is the unknown token.
      digest: SHA-256 of the training and held-out texts (the data's identity, in
        the generation-0 cache key).
    """

    name: str
    train: str
    held_out: str
    chars: str
    digest: str

    @property
    def vocab_size(self) -> int:
        """Characters plus the unknown token."""
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int32) of ``text``; characters outside the vocabulary map to
        the unknown token."""
        table = {c: i for i, c in enumerate(self.chars)}
        unknown = len(self.chars)
        return np.fromiter(
            (table.get(c, unknown) for c in text), dtype=np.int32, count=len(text)
        )

    def decode(self, tokens) -> str:
        """The text of token ids (the unknown token as U+FFFD)."""
        alphabet = self.chars + UNKNOWN
        return "".join(alphabet[int(t)] for t in np.asarray(tokens).reshape(-1))

    def __repr__(self) -> str:
        return (
            f"Corpus({self.name!r}: {len(self.train):,} training and "
            f"{len(self.held_out):,} held-out characters, vocabulary "
            f"{self.vocab_size})"
        )


def _pydoc_text() -> str:
    from pydoc_data import topics

    return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))


def _wikitext(fn: str) -> tuple[str, str]:
    # Offline for the duration of the call (the env for a first import of
    # datasets, its config flag for an already imported one), restored after.
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update(dict.fromkeys(saved, "1"))
    try:
        return _wikitext_offline(fn)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _wikitext_offline(fn: str) -> tuple[str, str]:
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        fail(
            fn,
            "source",
            "a source whose reader is installed",
            "wikitext-2",
            "Install the optional 'datasets' package and put WikiText-2 in its "
            "cache yourself (datasets.load_dataset('wikitext', "
            "'wikitext-2-raw-v1')); collapse_jax never downloads it. Or use "
            "source='pydoc_data' or path=.",
        )
    config = getattr(datasets, "config", None)
    was = getattr(config, "HF_DATASETS_OFFLINE", None)
    if config is not None:
        config.HF_DATASETS_OFFLINE = True
    try:
        data = datasets.load_dataset(  # pyright: ignore[reportAttributeAccessIssue]
            "wikitext", "wikitext-2-raw-v1", download_mode="reuse_cache_if_exists"
        )
    except Exception as error:  # noqa: BLE001 - any failure means: not cached
        fail(
            fn,
            "source",
            "data already in the datasets cache (loaded offline)",
            described(f"'wikitext-2', which failed offline: {error}"),
            "Load it once yourself with datasets.load_dataset('wikitext', "
            "'wikitext-2-raw-v1') while online; collapse_jax never downloads.",
        )
    finally:
        if config is not None:
            config.HF_DATASETS_OFFLINE = was
    return "".join(data["train"]["text"]), "".join(data["validation"]["text"])


def _check_text(fn, arg, text, what):
    if not isinstance(text, str) or not text:
        fail(fn, arg, "a non-empty text", described(what), "Pass a text with content.")


def text_corpus(
    source: str = "pydoc_data",
    *,
    path: str | os.PathLike | None = None,
    encoding: str = "utf-8",
    held_out_fraction: float = 0.1,
    min_chars: int = 64,
    fn: str = "text_corpus",
) -> Corpus:
    """A :class:`Corpus`: training and held-out text with a character vocabulary.

    Args:
      source: ``"pydoc_data"`` or ``"wikitext-2"`` (ignored when ``path`` is
        given).
      path: a text file to read instead.
      encoding: the file's encoding.
      held_out_fraction: the share of the text, taken from its end, held out
        (not used by ``"wikitext-2"``, which has its own validation split).
      min_chars: the fewest characters each split must have (a block of the
        language model's context needs at least that many).
      fn: the entry point, for error messages.

    Returns:
      The corpus.

    Examples:
      >>> corpus = text_corpus()
      >>> corpus.vocab_size
      104
    """
    min_chars = check_positive_int(fn, "min_chars", min_chars)
    frac = check_real(
        fn,
        "held_out_fraction",
        held_out_fraction,
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        fix="Pass a share in (0, 1), e.g. 0.1.",
    )
    if path is not None:
        file = pathlib.Path(path)
        if not file.is_file():
            fail(fn, "path", "an existing text file", str(path), "Check the path.")
        try:
            text = file.read_text(encoding=encoding)
        except (UnicodeDecodeError, LookupError) as error:
            fail(
                fn,
                "encoding",
                f"the encoding of {file.name}",
                encoding,
                f"Pass the file's encoding ({error}).",
            )
        name = f"file:{file.name}"
        _check_text(fn, "path", text, f"the empty file {file.name}")
    else:
        check_choice_source(fn, source)
        name = source
        if source == "wikitext-2":
            train, held = _wikitext(fn)
            return _corpus(fn, name, train, held, min_chars)
        text = _pydoc_text()
    cut = len(text) - int(round(frac * len(text)))
    return _corpus(fn, name, text[:cut], text[cut:], min_chars)


def check_choice_source(fn: str, source) -> None:
    """Raise the house error unless ``source`` is a named source."""
    if source not in SOURCES:
        options = ", ".join(repr(s) for s in SOURCES)
        fail(
            fn,
            "source",
            f"one of {options}",
            source,
            f"Pass one of {options}, or path= for a text file.",
        )


def _corpus(fn, name, train, held, min_chars):
    for arg, text, split in (
        ("train", train, "training"),
        ("held_out", held, "held-out"),
    ):
        if len(text) < min_chars:
            fail(
                fn,
                "text" if arg == "train" else "held_out_fraction",
                f"long enough for a {split} split of at least {min_chars} characters",
                described(f"a {split} split of {len(text)} characters"),
                "Pass a longer text (or a smaller context)."
                if arg == "train"
                else "Hold out a larger share or pass a longer text.",
            )
    digest = hashlib.sha256((train + "\x00" + held).encode("utf-8")).hexdigest()
    return Corpus(name, train, held, "".join(sorted(set(train))), digest)


def blocks(tokens: np.ndarray, context: int, stride: int | None = None) -> np.ndarray:
    """Consecutive blocks ``(N, context)`` of ``tokens`` (``stride``: default
    ``context``, non-overlapping; a trailing partial block is dropped)."""
    stride = context if stride is None else stride
    starts = np.arange(0, len(tokens) - context + 1, stride)
    return np.stack([tokens[s : s + context] for s in starts]).astype(np.int32)
