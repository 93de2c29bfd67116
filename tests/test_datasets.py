"""Word-frequency truths (collapse_jax.datasets) and the word-forgetting experiment."""

from __future__ import annotations

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax.datasets import load_word_counts, word_frequencies
from collapse_jax.experiments import word_forgetting


def test_wordfreq_top_words():
    pytest.importorskip("wordfreq")
    wf = word_frequencies(50)
    assert len(wf.words) == 50 and wf.words[0] == "the"
    assert abs(wf.probs.sum() - 1) < 1e-12 and np.all(np.diff(wf.probs) <= 0)
    cj.categorical_params(wf.probs)  # a valid truth


def test_wordfreq_bad_arguments():
    pytest.importorskip("wordfreq")
    with pytest.raises(ValueError, match=r"lang must be a language code"):
        word_frequencies(10, lang="xx-nope")
    with pytest.raises(ValueError, match=r"num_words must be a positive integer"):
        word_frequencies(0)


def test_missing_wordfreq_says_how_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "wordfreq":
            raise ImportError("no wordfreq")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"pip install wordfreq"):
        word_frequencies(5)


def test_load_word_counts_tsv_and_csv(tmp_path):
    tsv = tmp_path / "counts.tsv"
    tsv.write_text("word\tcount\nzebra\t1\napple\t6\n\nbanana\t3\napple\t0\nnil\t0\n")
    wf = load_word_counts(tsv)
    assert wf.words == ("apple", "banana", "zebra")
    np.testing.assert_allclose(wf.probs, [0.6, 0.3, 0.1])
    top = load_word_counts(tsv, num_words=2)
    np.testing.assert_allclose(top.probs, [2 / 3, 1 / 3])
    csv = tmp_path / "counts.csv"
    csv.write_text("a,2\nb,2\nc,4\n")
    wf = load_word_counts(csv)
    assert wf.words == ("c", "a", "b")  # ties keep the file order


@pytest.mark.parametrize(
    "text, match",
    [
        ("a\t1\nb\n", r"line 2 of bad.tsv must be two columns"),
        ("a\t1\nb\tx\n", r"the count on line 2 of bad.tsv must be a number"),
        ("a\t-1\n", r"must be finite and >= 0"),
        ("a\t0\n", r"path must be a file with at least one positive count"),
    ],
)
def test_load_word_counts_errors(tmp_path, text, match):
    f = tmp_path / "bad.tsv"
    f.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_word_counts(f)


def test_load_word_counts_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"path must be an existing file"):
        load_word_counts(tmp_path / "nope.tsv")


def test_word_forgetting_smoke(tmp_path):
    f = tmp_path / "w.tsv"
    f.write_text("".join(f"w{i}\t{1000 // (i + 1)}\n" for i in range(300)))
    words = load_word_counts(f)
    res = word_forgetting.run(
        sample_size=2000, num_chains=8, num_generations=30, words=words
    )
    assert res.forget_generation.shape == (8, 300)
    assert res.lost_mass.shape == (8, 31)
    assert np.all(np.diff(res.lost_mass, axis=1) >= 0)
    # rare words go first: median forgetting generation rises with the count
    g = np.median(res.forget_generation, axis=0)
    assert g[:10].mean() > g[-50:].mean()
    files = word_forgetting.plot(res, tmp_path / "wf")
    assert [x.rsplit(".", 1)[1] for x in files] == ["png", "pdf"]
