"""Hits -> candidate sentences: every quotable segment of the retrieved passages, with its
neighbours, its index-time vector and its lexical terms.

One read of the index finds the sentences of all hits (plus ``WINDOW`` neighbours on each side,
for context), one more gathers their index-time vectors, and the stemmed terms of each sentence
are cached per opened index, so a question costs no model call here.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .. import lexical
from ..schema import Hit
from ..store import IndexReader

terms = lexical.terms  # the index's own rules: a sentence's terms meet its document frequencies


class TermCache:
    """Per opened index: segment terms (bounded LRU) and BM25 document frequencies."""

    def __init__(self, reader: IndexReader) -> None:
        self.lock = threading.Lock()
        self.terms: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        self.reader = reader
        self.n_docs = max(1, reader.info().n_chunks)
        self._df: dict[str, float] = {}

    def df(self, words: tuple[str, ...]) -> np.ndarray:
        """Document frequency per term (0 for a term the index never saw), memoised."""
        with self.lock:
            missing = [w for w in dict.fromkeys(words) if w not in self._df]
        if missing:
            fresh = self.reader.document_frequencies(missing)
            with self.lock:
                self._df.update(zip(missing, fresh.tolist()))
                if len(self._df) > 200_000:
                    self._df.clear()
                    self._df.update(zip(missing, fresh.tolist()))
        with self.lock:
            return np.array([self._df[w] for w in words], dtype=np.float64)

    def idf(self, words: tuple[str, ...]) -> np.ndarray:
        """BM25 (Lucene) idf per term over the passages; a term the index never saw gets df 0."""
        df = self.df(words)
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


def precompute_terms(reader: IndexReader) -> int:
    """Stem every sentence of the index now (what an index-time table of sentence terms would
    hold), so no query pays for it; returns how many. Without it, terms are memoised as queries
    first touch them. Costs about 15 ms per 1,000 sentences."""
    rows = list(reader.sentence_texts())
    term_cache(reader).segment_terms([r[0] for r in rows], [r[1] for r in rows])
    return len(rows)


_CACHES: "weakref.WeakKeyDictionary[IndexReader, TermCache]" = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def term_cache(reader: IndexReader) -> TermCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(reader)
        if cache is None:
            cache = _CACHES[reader] = TermCache(reader)
        return cache


# A segment that stops without closing punctuation, followed (across a single line break) by one
# that starts in lower case or with a digit, is one sentence cut by a hard line break in the
# source (a chemical formula's subscript, a wrapped line): quoted and scored as one unit.
_CLOSED = re.compile(r"[.!?:;\"'”’)\]]$")
WINDOW = 2  # neighbouring sentences fetched on each side of a passage, for context signals


def _continues(text: str, a: tuple[int, int], b: tuple[int, int]) -> bool:
    head = text[b[0]:b[0] + 1]
    return ((head.islower() or head.isdigit()) and "\n\n" not in text[a[1]:b[0]]
            and not _CLOSED.search(text[a[0]:a[1]]))


@dataclass(frozen=True)
class Candidates:
    """The quotable units (sentences) of the retrieved passages, one row each.

    The ``context_*`` arrays hold every fetched segment (the passages' own and up to ``WINDOW``
    neighbours on each side); ``prev``/``next``/``window`` point into them.
    """

    doc_ids: tuple[str, ...]
    starts: np.ndarray  # offsets into the document text: text[start:end] is the quote
    ends: np.ndarray
    texts: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]
    vectors: np.ndarray  # float32 (n, dim): the segment's index-time vector (normalised mean for a unit)
    hit: np.ndarray  # index into ``hits`` of the best-ranked passage wholly holding the unit
    n_hits: np.ndarray  # how many retrieved passages hold it
    prev: np.ndarray  # context row of the segment before the unit, -1 when not fetched
    next: np.ndarray  # context row of the segment after, -1 when not fetched
    seq: np.ndarray  # position of the unit's first segment in its document (0 = first line, the title)
    context_terms: tuple[tuple[str, ...], ...]
    context_vectors: np.ndarray
    first: np.ndarray  # context row of the unit's first segment
    last: np.ndarray  # context row of its last (= first unless a sentence was rejoined)
    members: tuple[np.ndarray, ...]  # per hit: candidate rows inside that passage
    window_lo: np.ndarray  # per unit: context rows window_lo..window_hi-1 lie within WINDOW segments
    window_hi: np.ndarray  # of it (itself included), in its run of directly following segments
    paragraph: np.ndarray  # per unit: paragraph number (units of one paragraph share it)
    context_paragraph: np.ndarray  # per context row: paragraph number
    speakers: tuple[str | None, ...] = ()  # per unit: who says it (turns, remarks, reported speech), None: unknown
    speakers_how: tuple[str | None, ...] = ()  # per unit: how the speaker was decided (ingest/attribution.py)

    def __len__(self) -> int:
        return len(self.starts)


class _Span:
    """The part of a document's text that a question needs, sliced with the document's offsets."""

    __slots__ = ("text", "offset")

    def __init__(self, text: str, offset: int) -> None:
        self.text, self.offset = text, offset

    def __getitem__(self, part: slice) -> str:
        return self.text[part.start - self.offset:part.stop - self.offset]


def _text_spans(reader: IndexReader, segments: "Iterable[tuple[str, int, int, int]]") -> dict[str, _Span]:
    """Per document, its text from the first to the last of ``segments`` (doc, seq, start, end):
    only that much is read, not whole (possibly long) documents."""
    bounds: dict[str, tuple[int, int]] = {}
    for doc, _, start, end in segments:
        lo, hi = bounds.get(doc, (start, end))
        bounds[doc] = (min(lo, start), max(hi, end))
    return {doc: _Span(reader.text_span(doc, lo, hi), lo) for doc, (lo, hi) in bounds.items()}


def gather(reader: IndexReader, hits: list[Hit]) -> Candidates:
    """Every sentence of ``hits`` (deduplicated across overlapping passages) and its neighbours."""
    cache = term_cache(reader)
    ids = [h.chunk_id for h in hits]
    rows = [(r.chunk, r.row, r.doc_id, r.seq, r.start, r.end, r.first, r.last, (r.speaker, r.how))
            for r in reader.sentences_near(ids, WINDOW)]
    rank_of = {cid: i for i, cid in enumerate(ids)}
    by_seg: dict[int, tuple[str, int, int, int]] = {}  # seg id -> (doc, seq, start, end)
    inside: dict[int, set[int]] = {}  # seg id -> hits (by rank) holding it
    speaker_of: dict[int, tuple[str | None, str | None]] = {}  # seg id -> (speaker, how decided)
    for cid, sid, doc_id, seq, start, end, first, last, speaker in rows:
        by_seg[sid] = (doc_id, seq, start, end)
        speaker_of[sid] = speaker
        if first <= seq <= last:
            inside.setdefault(sid, set()).add(rank_of[cid])
    ctx_ids = sorted(by_seg, key=lambda sid: (by_seg[sid][0], by_seg[sid][1]))
    texts = _text_spans(reader, by_seg.values())
    ctx_texts = [texts[by_seg[s][0]][by_seg[s][2]:by_seg[s][3]] for s in ctx_ids]
    ctx_terms = cache.segment_terms(ctx_ids, ctx_texts)
    ctx_vectors = (reader.sentence_vectors(np.asarray(ctx_ids, dtype=np.int64)) if ctx_ids
                   else np.zeros((0, reader.info().dim), dtype=np.float32))

    # Units: runs of consecutive segments joined where a sentence was cut by a line break, kept
    # only as long as one retrieved passage holds the whole run (a quote must lie in its passage).
    units: list[tuple[int, int, set[int]]] = []  # (first ctx row, last ctx row, hits holding all)
    for row, sid in enumerate(ctx_ids):
        held = inside.get(sid)
        if not held:
            continue
        if units:
            first, last, common = units[-1]
            psid = ctx_ids[last]
            doc, seq, pstart, pend = by_seg[psid]
            d2, seq2, start, end = by_seg[sid]
            if (last == row - 1 and d2 == doc and seq2 == seq + 1 and common & held
                    and _continues(texts[doc], (pstart, pend), (start, end))):
                units[-1] = (first, row, common & held)
                continue
        units.append((row, row, set(held)))
    units.sort(key=lambda u: (min(u[2]), u[0]))

    # Adjacency of fetched segments (same document, next in order), and paragraphs: a blank line
    # (or a gap in what was fetched) between two segments starts a new one.
    n_ctx = len(ctx_ids)
    seg = [by_seg[sid] for sid in ctx_ids]
    follows = np.zeros(n_ctx, dtype=bool)  # row follows row - 1 directly
    same = np.zeros(n_ctx, dtype=bool)  # ... and in the same paragraph
    for row in range(1, n_ctx):
        a, b = seg[row - 1], seg[row]
        if a[0] == b[0] and b[1] == a[1] + 1:
            follows[row] = True
            same[row] = "\n\n" not in texts[a[0]][a[3]:b[2]]
    para = np.cumsum(~same) - 1
    # The run of directly following segments each row belongs to: [run_start, run_end].
    idx = np.arange(n_ctx)
    run_start = np.maximum.accumulate(np.where(follows, 0, idx))
    breaks = np.flatnonzero(~follows)  # rows that start a run
    run_end = (np.r_[breaks[1:], n_ctx] - 1)[np.searchsorted(breaks, idx, side="right") - 1]

    first = np.array([u[0] for u in units], dtype=np.int64)
    last = np.array([u[1] for u in units], dtype=np.int64)
    prev = np.where(first - 1 >= run_start[first], first - 1, -1)
    nxt = np.where(last + 1 <= run_end[last], last + 1, -1)
    # A unit's vector: its segment's (re-normalised: stored as float16), or for a sentence
    # rejoined across a line break the normalised sum of its pieces.
    vectors = ctx_vectors[first]
    for i in np.flatnonzero(last > first):
        vectors[i] = ctx_vectors[first[i]:last[i] + 1].sum(0)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    docs = tuple(seg[f][0] for f in first)
    starts = np.array([seg[f][2] for f in first], dtype=np.int64)
    ends = np.array([seg[l][3] for l in last], dtype=np.int64)
    members: list[list[int]] = [[] for _ in hits]
    for i, u in enumerate(units):
        for h in u[2]:
            members[h].append(i)
    return Candidates(
        doc_ids=docs, starts=starts, ends=ends,
        texts=tuple(texts[d][s:e] for d, s, e in zip(docs, starts, ends)),
        terms=tuple(ctx_terms[f] if f == l else tuple(t for r in range(f, l + 1) for t in ctx_terms[r])
                    for f, l in zip(first.tolist(), last.tolist())),
        vectors=vectors,
        hit=np.array([min(u[2]) for u in units], dtype=np.int64),
        n_hits=np.array([len(u[2]) for u in units], dtype=np.int64),
        prev=prev, next=nxt,
        seq=np.array([seg[f][1] for f in first], dtype=np.int64),
        context_terms=tuple(ctx_terms),
        context_vectors=ctx_vectors,
        first=first, last=last,
        members=tuple(np.array(m, dtype=np.int64) for m in members),
        window_lo=np.maximum(run_start[first], first - WINDOW),
        window_hi=np.minimum(run_end[last], last + WINDOW) + 1,
        paragraph=para[first],
        context_paragraph=para,
        speakers=tuple(speaker_of[ctx_ids[f]][0] for f in first.tolist()),
        speakers_how=tuple(speaker_of[ctx_ids[f]][1] for f in first.tolist()),
    )
