"""The one lexical rule set: tokens, stop words and stems, for the index writer and every reader.

The BM25 index is built from ``tokens`` of the chunk texts, and questions, sentences and term
statistics are looked up with the same function, so a term means the same thing on both sides
by construction (there is no second copy to keep identical by hand).

The rules are bm25s's English defaults, which the first indexes were built with: lower case,
tokens of two or more word characters, the 33-word English stop list (Lucene's), Snowball stems.
"""

from __future__ import annotations

import re
from functools import lru_cache

TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with"})


@lru_cache(maxsize=1)
def stemmer():  # type: ignore[no-untyped-def]
    """The Snowball English stemmer (PyStemmer; thread-safe for stemWords)."""
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """The unstemmed, stop-word-free tokens of ``text``, lower case, in order."""
    return [w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


def terms(texts: list[str]) -> list[tuple[str, ...]]:
    """The stemmed terms of each text, in order (one stemmer call for all of them)."""
    per_text = [words(t) for t in texts]
    flat = stemmer().stemWords([w for ws in per_text for w in ws])
    out, i = [], 0
    for ws in per_text:
        out.append(tuple(flat[i:i + len(ws)]))
        i += len(ws)
    return out


def tokens(texts: list[str]) -> list[list[str]]:
    """``terms`` as lists: what the BM25 index is built from and queried with."""
    return [list(t) for t in terms(texts)]
