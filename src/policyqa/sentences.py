"""Hits -> candidate sentences: every quotable segment of the retrieved passages, with its
neighbours, its index-time vector and its lexical terms.

One SQL query finds the segments of all hits (plus one neighbour on each side, for context),
one fancy-index gathers their float16 vectors from the memory-mapped array, and the stemmed
terms of each segment are cached per opened index, so a question costs no model call here.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .schema import Hit

if TYPE_CHECKING:
    from .retrieve import Retriever
    from .store import IndexFiles

# The same token pattern, stop words and stemmer as the BM25 index (bm25s defaults), so a
# sentence's terms and the question's terms meet the index's own document frequencies.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with"})


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(texts: list[str]) -> list[tuple[str, ...]]:
    """Stemmed, stop-word-free terms of each text, in order (one stemmer call for all texts)."""
    words = [[w for w in _TOKEN.findall(t.lower()) if w not in STOPWORDS] for t in texts]
    flat = _stemmer().stemWords([w for ws in words for w in ws])
    out, i = [], 0
    for ws in words:
        out.append(tuple(flat[i:i + len(ws)]))
        i += len(ws)
    return out


class _IndexCache:
    """Per opened index: segment terms (bounded LRU) and BM25 document frequencies."""

    def __init__(self, files: "IndexFiles") -> None:
        self.lock = threading.Lock()
        self.terms: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        bm25 = files.bm25
        if bm25 is not None:
            self.vocab: dict[str, int] = dict(bm25.vocab_dict)
            self.df = np.diff(np.asarray(bm25.scores["indptr"])).astype(np.float64)
            self.n_docs = int(bm25.scores.get("num_docs", files.n_chunks))
        else:
            self.vocab, self.df, self.n_docs = {}, np.zeros(0), max(1, files.n_chunks)

    def idf(self, words: tuple[str, ...]) -> np.ndarray:
        """BM25 (Lucene) idf per term over the passages; a term the index never saw gets df 0."""
        df = np.array([self.df[self.vocab[w]] if w in self.vocab else 0.0 for w in words])
        return np.log1p((self.n_docs - df + 0.5) / (df + 0.5))

    def segment_terms(self, ids: list[int], texts: list[str]) -> list[tuple[str, ...]]:
        with self.lock:
            missing = [(i, t) for i, t in zip(ids, texts) if i not in self.terms]
        fresh = terms([t for _, t in missing]) if missing else []
        with self.lock:
            for (i, _), ts in zip(missing, fresh):
                self.terms[i] = ts
            out = [self.terms[i] for i in ids]
            for i in ids:
                self.terms.move_to_end(i)
            while len(self.terms) > 200_000:
                self.terms.popitem(last=False)
        return out


_CACHES: "weakref.WeakKeyDictionary[IndexFiles, _IndexCache]" = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def index_cache(files: "IndexFiles") -> _IndexCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(files)
        if cache is None:
            cache = _CACHES[files] = _IndexCache(files)
        return cache


@dataclass(frozen=True)
class Candidates:
    """The sentences of the retrieved passages, one row each (arrays share the row order)."""

    seg_ids: np.ndarray  # int64 global segment ids
    doc_ids: tuple[str, ...]
    starts: np.ndarray  # offsets into the document text
    ends: np.ndarray
    texts: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]
    vectors: np.ndarray  # float32 (n, dim), L2-normalised at index time
    hit: np.ndarray  # index into ``hits`` of the best-ranked passage holding the sentence
    n_hits: np.ndarray  # how many retrieved passages hold it
    prev: np.ndarray  # row in ``context`` of the sentence before, -1 at the start of a document
    next: np.ndarray  # row in ``context`` of the sentence after, -1 at the end
    seq: np.ndarray  # position of the sentence in its document (0 = first line, usually the title)
    context_terms: tuple[tuple[str, ...], ...]  # terms of neighbours (rows of prev/next)
    context_vectors: np.ndarray
    members: tuple[np.ndarray, ...]  # per hit: candidate rows inside that passage

    def __len__(self) -> int:
        return len(self.seg_ids)


def gather(retriever: "Retriever", hits: list[Hit]) -> Candidates:
    """Every segment of ``hits`` (deduplicated across overlapping passages) and its neighbours."""
    files = retriever.files
    cache = index_cache(files)
    ids = [h.chunk_id for h in hits]
    marks = ",".join("?" * len(ids))
    rows = files.db.execute(
        f'SELECT c.id, s.id, s.doc_id, s.seq, s.start, s."end", c.first_segment, c.last_segment '
        f"FROM chunks c JOIN segments s ON s.doc_id = c.doc_id "
        f"AND s.seq BETWEEN c.first_segment - 1 AND c.last_segment + 1 "
        f"WHERE c.id IN ({marks}) ORDER BY s.id", ids).fetchall()
    rank_of = {cid: i for i, cid in enumerate(ids)}
    by_seg: dict[int, tuple[str, int, int, int]] = {}  # seg id -> (doc, seq, start, end)
    inside: dict[int, list[int]] = {}  # seg id -> hits (by rank) holding it
    for cid, sid, doc_id, seq, start, end, first, last in rows:
        by_seg[sid] = (doc_id, seq, start, end)
        if first <= seq <= last:
            inside.setdefault(sid, []).append(rank_of[cid])
    cand_ids = sorted(inside, key=lambda s: (min(inside[s]), s))
    ctx_ids = sorted(by_seg)
    ctx_row = {sid: i for i, sid in enumerate(ctx_ids)}

    def text_of(sid: int) -> str:
        doc_id, _, start, end = by_seg[sid]
        return retriever.document(doc_id).text[start:end]

    ctx_texts = [text_of(s) for s in ctx_ids]
    ctx_terms = cache.segment_terms(ctx_ids, ctx_texts)
    vectors = np.asarray(files.segment_vectors[np.asarray(ctx_ids, dtype=np.int64)], dtype=np.float32) \
        if ctx_ids else np.zeros((0, files.segment_vectors.shape[1]), dtype=np.float32)
    rows_of = np.array([ctx_row[s] for s in cand_ids], dtype=np.int64)

    at = {(doc_id, seq): sid for sid, (doc_id, seq, _, _) in by_seg.items()}

    def neighbour(sid: int, step: int) -> int:
        doc_id, seq = by_seg[sid][:2]
        other = at.get((doc_id, seq + step))
        return -1 if other is None else ctx_row[other]

    hit_of = np.array([min(inside[s]) for s in cand_ids], dtype=np.int64)
    members = tuple(np.array([i for i, s in enumerate(cand_ids) if h in inside[s]], dtype=np.int64)
                    for h in range(len(hits)))
    return Candidates(
        seg_ids=np.array(cand_ids, dtype=np.int64),
        doc_ids=tuple(by_seg[s][0] for s in cand_ids),
        starts=np.array([by_seg[s][2] for s in cand_ids], dtype=np.int64),
        ends=np.array([by_seg[s][3] for s in cand_ids], dtype=np.int64),
        texts=tuple(ctx_texts[r] for r in rows_of),
        terms=tuple(ctx_terms[r] for r in rows_of),
        vectors=vectors[rows_of] if len(rows_of) else vectors,
        hit=hit_of,
        n_hits=np.array([len(inside[s]) for s in cand_ids], dtype=np.int64),
        prev=np.array([neighbour(s, -1) for s in cand_ids], dtype=np.int64),
        next=np.array([neighbour(s, 1) for s in cand_ids], dtype=np.int64),
        seq=np.array([by_seg[s][1] for s in cand_ids], dtype=np.int64),
        context_terms=tuple(ctx_terms),
        context_vectors=vectors,
        members=members,
    )
