"""Real long-tailed data: word frequencies as truths for the categorical chain.

:func:`word_frequencies` reads the English (or another language's) word-frequency
list shipped with the ``wordfreq`` package (install with ``pip install
'collapse-jax[data]'``); :func:`load_word_counts` reads any two-column word-count
file (the format of public frequency lists: ``word<TAB>count`` or ``word,count``),
so larger corpora can be used. Both return the words in decreasing order of
probability and the normalised probabilities (float64), ready for
``cj.categorical_params``.
"""

from __future__ import annotations

import csv
import pathlib
from typing import NamedTuple

import numpy as np

from collapse_jax.checks import check_positive_int, described, fail

__all__ = ["WordFrequencies", "word_frequencies", "load_word_counts"]


class WordFrequencies(NamedTuple):
    """Words in decreasing order of probability, and their probabilities."""

    words: tuple[str, ...]  # (V,) the words, most frequent first
    probs: np.ndarray  # (V,) float64, normalised over the V words


def _sorted(words, values) -> WordFrequencies:
    values = np.asarray(values, np.float64)
    # Stable sort, most frequent first; ties keep the source order.
    order = np.argsort(-values, kind="stable")
    probs = values[order] / values.sum()
    return WordFrequencies(tuple(words[i] for i in order), probs)


def word_frequencies(num_words: int = 1000, lang: str = "en") -> WordFrequencies:
    """The ``num_words`` most frequent words of ``lang`` and their probabilities.

    Frequencies are wordfreq's ``word_frequency`` (a blend of corpora: Wikipedia,
    subtitles, news, books, web text, ...), renormalised over the words kept: the
    truth of a chain over this vocabulary.

    Args:
      num_words: ``V >= 1`` words to keep (at most the size of wordfreq's list).
      lang: a language code wordfreq knows (``"en"``, ``"de"``, ``"fr"`` ...).

    Returns:
      :class:`WordFrequencies`, most frequent first.

    Raises:
      ImportError: wordfreq is not installed (the message says how to install it).
      ValueError: for an invalid ``num_words`` or a language wordfreq lacks.

    Examples:
      >>> wf = word_frequencies(3)  # doctest: +SKIP
      >>> wf.words  # doctest: +SKIP
      ('the', 'to', 'and')
    """
    fn = "word_frequencies"
    num_words = check_positive_int(fn, "num_words", num_words)
    try:
        import wordfreq
    except ImportError as err:
        raise ImportError(
            f"{fn}(): needs the wordfreq package, which is not installed. Install it "
            "with `pip install wordfreq` (or `pip install 'collapse-jax[data]'`), or "
            "load a word-count file with load_word_counts(path)."
        ) from err
    if not isinstance(lang, str) or lang not in wordfreq.available_languages():
        fail(
            fn,
            "lang",
            "a language code wordfreq provides",
            lang,
            f"Pass one of {sorted(wordfreq.available_languages())[:8]}..., e.g. 'en'.",
        )
    words = wordfreq.top_n_list(lang, num_words)
    if len(words) < num_words:
        fail(
            fn,
            "num_words",
            f"<= {len(words)} (the size of wordfreq's list for {lang!r})",
            num_words,
            f"Pass num_words <= {len(words)}, or use load_word_counts().",
        )
    freqs = [wordfreq.word_frequency(w, lang) for w in words]
    return _sorted(words, freqs)


def load_word_counts(
    path, num_words: int | None = None, *, delimiter: str | None = None
) -> WordFrequencies:
    """Read a two-column word-count file: ``word`` then a non-negative count.

    Lines are ``word<TAB>count`` (or ``word,count`` for ``.csv``; pass
    ``delimiter`` otherwise). A first line whose count is not a number is taken as
    a header and skipped; blank lines are skipped; a word listed twice has its
    counts added. Words with count 0 are dropped.

    Args:
      path: the file.
      num_words: keep the ``num_words`` most frequent words (default all).
      delimiter: the column separator (default ``","`` for ``.csv``, else tab).

    Returns:
      :class:`WordFrequencies`, most frequent first, normalised over the words kept.

    Raises:
      ValueError: for a missing file, a malformed line (saying which), a negative
        or non-finite count, or no positive count.

    Examples:
      >>> import pathlib, tempfile
      >>> f = pathlib.Path(tempfile.mkdtemp()) / "counts.tsv"
      >>> _ = f.write_text("word\\tcount\\nb\\t1\\na\\t3\\n")
      >>> wf = load_word_counts(f)
      >>> wf.words, wf.probs.tolist()
      (('a', 'b'), [0.75, 0.25])
    """
    fn = "load_word_counts"
    p = pathlib.Path(path)
    if not p.is_file():
        fail(fn, "path", "an existing file", str(p), "Check the path.")
    if num_words is not None:
        num_words = check_positive_int(fn, "num_words", num_words)
    if delimiter is None:
        delimiter = "," if p.suffix.lower() == ".csv" else "\t"
    counts: dict[str, float] = {}
    with p.open(newline="", encoding="utf-8") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter=delimiter), 1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < 2:
                fail(
                    fn,
                    f"line {lineno} of {p.name}",
                    f"two columns (word{delimiter!r}count)",
                    described(repr(delimiter.join(row))),
                    "Pass a word-count file, or the right delimiter=.",
                )
            word, raw = row[0].strip(), row[1].strip()
            try:
                value = float(raw)
            except ValueError:
                if lineno == 1 and not counts:
                    continue  # a header line
                fail(
                    fn,
                    f"the count on line {lineno} of {p.name}",
                    "a number",
                    raw,
                    "Fix the line, or pass the right delimiter=.",
                )
            if not np.isfinite(value) or value < 0:
                fail(
                    fn,
                    f"the count on line {lineno} of {p.name}",
                    "finite and >= 0",
                    value,
                    "Counts are numbers of occurrences.",
                )
            counts[word] = counts.get(word, 0.0) + value
    words = [w for w, c in counts.items() if c > 0]
    if not words:
        fail(
            fn,
            "path",
            "a file with at least one positive count",
            str(p),
            "Check the file's content and delimiter.",
        )
    out = _sorted(words, [counts[w] for w in words])
    if num_words is not None and num_words < len(out.words):
        kept = out.probs[:num_words]
        out = WordFrequencies(out.words[:num_words], kept / kept.sum())
    return out
