"""Lexical postings of one index part, scored with BM25 over the statistics of the whole index.

A part stores, per term, the rows holding it and how often (a CSC matrix: ``indptr`` per term,
``rows`` and ``tf`` per posting), each row's length, and its vocabulary. Scores are computed at
query time from those raw counts with the document frequencies and average length of every live
row of every part, so an index split into parts, with deletions, ranks exactly as one merged
index would. bm25s (which the first indexes used) bakes its one collection's statistics into the
stored scores, so it cannot do this; the formula below is its default ("lucene": Lucene's idf,
Robertson's term-frequency part, k1 1.5, b 0.75), and tests/test_segments.py checks that one
part scores exactly as bm25s does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

K1 = 1.5
B = 0.75
VOCAB = "vocab.json"
INDPTR = "indptr.npy"
ROWS = "rows.npy"
TF = "tf.npy"
LENGTHS = "lengths.npy"


def write_postings(folder: Path, token_lists: Sequence[Sequence[str]]) -> None:
    """The postings of ``token_lists`` (one list per row); a row without a term has length 0."""
    folder.mkdir()
    vocab: dict[str, int] = {}
    term_ids: list[np.ndarray] = []
    lengths = np.empty(len(token_lists), dtype=np.float32)
    for i, tokens in enumerate(token_lists):
        tokens = list(tokens)
        lengths[i] = len(tokens)
        term_ids.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int64,
                                    count=len(tokens)))
    n_terms = len(vocab)
    if term_ids:
        row_of = np.repeat(np.arange(len(term_ids), dtype=np.int64), [len(t) for t in term_ids])
        # One posting per distinct (term, row): sort by term then row, count repeats.
        keys = (np.concatenate(term_ids) if len(row_of) else np.zeros(0, dtype=np.int64)) * max(1, len(term_ids)) + row_of
        keys, tf = np.unique(keys, return_counts=True)
        terms, rows = np.divmod(keys, max(1, len(term_ids)))
    else:
        terms = rows = tf = np.zeros(0, dtype=np.int64)
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=n_terms), out=indptr[1:])
    (folder / VOCAB).write_text(json.dumps(list(vocab), ensure_ascii=False), encoding="utf-8")
    np.save(folder / INDPTR, indptr)
    np.save(folder / ROWS, rows.astype(np.int32))
    np.save(folder / TF, tf.astype(np.float32))
    np.save(folder / LENGTHS, lengths)


def postings_problem(folder: Path, n_rows: int) -> str | None:
    """What is wrong with a postings folder meant to cover ``n_rows`` rows, if anything."""
    try:
        vocab = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
        indptr = np.load(folder / INDPTR, mmap_mode="r")
        rows = np.load(folder / ROWS, mmap_mode="r")
        tf = np.load(folder / TF, mmap_mode="r")
        lengths = np.load(folder / LENGTHS, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        return str(exc) or type(exc).__name__
    if not isinstance(vocab, list) or len(indptr) != len(vocab) + 1:
        return f"{len(indptr)} term pointers for {len(vocab) if isinstance(vocab, list) else '?'} terms"
    if len(lengths) != n_rows:
        return f"covers {len(lengths)} rows, not {n_rows}"
    if len(rows) != len(tf) or (len(indptr) and int(indptr[-1]) != len(rows)):
        return "postings and their pointers differ in length"
    return None


class Postings:
    """One part's postings, memory-mapped."""

    def __init__(self, folder: Path) -> None:
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(json.loads((folder / VOCAB).read_text(encoding="utf-8")))}
        self.indptr = np.load(folder / INDPTR, mmap_mode="r")
        self.rows = np.load(folder / ROWS, mmap_mode="r")
        self.tf = np.load(folder / TF, mmap_mode="r")
        self.lengths = np.load(folder / LENGTHS, mmap_mode="r")
        self.n_rows = len(self.lengths)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding ``term`` and its count in each."""
        t = self.vocab.get(term)
        if t is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        a, b = int(self.indptr[t]), int(self.indptr[t + 1])
        return self.rows[a:b], self.tf[a:b]

    def df(self, term: str, live: np.ndarray | None) -> int:
        """Live rows holding ``term``."""
        rows, _ = self.postings(term)
        return len(rows) if live is None else int(np.count_nonzero(live[rows]))

    def length_sum(self, live: np.ndarray | None) -> tuple[float, int]:
        """Total length and count of the live rows."""
        if live is None:
            return float(np.sum(self.lengths, dtype=np.float64)), self.n_rows
        return float(np.sum(self.lengths[live], dtype=np.float64)), int(np.count_nonzero(live))

    def scores(self, tokens: Sequence[str], idf: dict[str, float], avg_length: float) -> np.ndarray:
        """BM25 of every row of this part for ``tokens`` (each occurrence counts, as in bm25s),
        under the whole index's ``idf`` per term and average row length."""
        out = np.zeros(self.n_rows, dtype=np.float32)
        if not self.n_rows or avg_length <= 0:
            return out
        for term in tokens:
            rows, tf = self.postings(term)
            if not len(rows) or idf.get(term, 0.0) == 0.0:
                continue
            norm = K1 * ((1 - B) + B * self.lengths[rows] / avg_length)
            out[rows] += (idf[term] * tf / (norm + tf)).astype(np.float32)  # rows of one term are distinct
        return out


def idf(df: float, n: int) -> float:
    """Lucene's BM25 idf (bm25s's "lucene"); 0 for a term no live row holds."""
    return float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if df > 0 else 0.0
