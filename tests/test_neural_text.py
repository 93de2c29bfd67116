"""Text corpora: the pydoc_data default, a user's text file, WikiText-2 through a
(fake) datasets module, the character vocabulary, blocks, and bad input."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from collapse_jax.neural.text import UNKNOWN, blocks, text_corpus


def test_pydoc_data_default():
    corpus = text_corpus()
    whole = len(corpus.train) + len(corpus.held_out)
    assert 400_000 < whole < 600_000
    assert abs(len(corpus.held_out) / whole - 0.1) < 1e-4
    assert corpus.chars == "".join(sorted(set(corpus.train)))
    assert corpus.vocab_size == len(corpus.chars) + 1
    assert corpus.digest == text_corpus().digest  # deterministic


def test_file_split_is_contiguous_and_held_out_last(tmp_path):
    text = "".join(f"line {i}: the quick brown fox\n" for i in range(50))
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    corpus = text_corpus(path=path, held_out_fraction=0.2)
    assert corpus.train + corpus.held_out == text
    assert len(corpus.held_out) == round(0.2 * len(text))
    assert corpus.name == "file:t.txt"


def test_encoding_round_trip_and_unknown(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(("abcabc caf\xe9 " * 20 + "zzz").encode("latin-1"))
    corpus = text_corpus(
        path=path, encoding="latin-1", held_out_fraction=0.05, min_chars=3
    )
    assert "\xe9" in corpus.chars
    tokens = corpus.encode(corpus.train)
    assert tokens.dtype == np.int32
    assert corpus.decode(tokens) == corpus.train
    # a character the training text lacks is the unknown token
    assert corpus.encode("q").tolist() == [corpus.vocab_size - 1]
    assert corpus.decode(corpus.encode("aq")) == "a" + UNKNOWN


def test_blocks():
    tokens = np.arange(10, dtype=np.int32)
    np.testing.assert_array_equal(blocks(tokens, 4), [[0, 1, 2, 3], [4, 5, 6, 7]])
    assert blocks(tokens, 4, stride=2).shape == (4, 4)


@pytest.fixture
def fake_datasets(monkeypatch):
    calls = []

    def load_dataset(name, config, download_mode=None):
        import os

        calls.append(
            (name, config, download_mode, os.environ.get("HF_DATASETS_OFFLINE"))
        )
        return {
            "train": {
                "text": [" = Valkyria = \n", "The game began development .\n" * 40]
            },
            "validation": {"text": ["Held out text of the validation split .\n" * 10]},
        }

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    return calls


def test_wikitext_reads_the_cache_offline(fake_datasets, monkeypatch):
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    corpus = text_corpus("wikitext-2")
    import os

    assert "HF_DATASETS_OFFLINE" not in os.environ  # restored
    assert corpus.train.startswith(" = Valkyria = \nThe game")
    assert corpus.held_out.startswith("Held out")
    assert fake_datasets == [
        ("wikitext", "wikitext-2-raw-v1", "reuse_cache_if_exists", "1")
    ]


def test_wikitext_not_cached(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'wikitext' on the Hub (offline mode)")

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    with pytest.raises(
        ValueError,
        match=r"text_corpus\(\): source must be data "
        r"already in the datasets cache .* never downloads",
    ):
        text_corpus("wikitext-2")


def test_wikitext_without_datasets(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    with pytest.raises(
        ValueError,
        match=r"source must be a source whose reader is "
        r"installed; got 'wikitext-2'. Install the optional 'datasets'",
    ):
        text_corpus("wikitext-2")


def test_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(
        ValueError,
        match=r"text_corpus\(\): path must be a non-empty "
        r"text; got the empty file empty.txt",
    ):
        text_corpus(path=empty)
    short = tmp_path / "short.txt"
    short.write_text("too short")
    with pytest.raises(
        ValueError,
        match=r"text_corpus\(\): text must be long enough "
        r"for a training split of at least 64 characters",
    ):
        text_corpus(path=short)
    with pytest.raises(ValueError, match=r"path must be an existing text file"):
        text_corpus(path=tmp_path / "missing.txt")
    with pytest.raises(
        ValueError,
        match=r"source must be one of 'pydoc_data', "
        r"'wikitext-2'",
    ):
        text_corpus("shakespeare")
    with pytest.raises(
        ValueError,
        match=r"held_out_fraction must be a number in "
        r"\(0, 1\)",
    ):
        text_corpus(held_out_fraction=1.0)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9 " * 100)
    with pytest.raises(ValueError, match=r"encoding must be the encoding of latin.txt"):
        text_corpus(path=latin)
