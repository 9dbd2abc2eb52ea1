"""Question -> hits: dense and lexical (BM25) search through the index's read interface, each
half also scoring the chunk's contextual header, fused by a setting chosen by cross-validation
(fusion_weights.py), with filters on documents, publication dates and speakers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import lexical
from ..config import Settings
from ..embedding import Embedder
from ..errors import QueryError, UnknownDocumentError
from ..ranking import best
from ..sanitize import check_date, check_k, check_question, has_unsafe_chars, printable
from ..schema import Document, Hit
from ..store import IndexReader
from ..threads import one_thread


def check_search(question: object, k: object, doc_ids: object, date_from: object, date_to: object
                 ) -> tuple[str, int, list[str] | None, str | None, str | None]:
    """The one validation of a search's inputs, for the library, the CLI and the web chat alike."""
    question = check_question(question)
    k = check_k(k)
    if doc_ids is not None:
        doc_ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)  # type: ignore[call-overload]
        if not all(isinstance(d, str) and not has_unsafe_chars(d) for d in doc_ids):
            raise QueryError("document ids must be plain text (as `policyqa status --json` lists them)")
    date_from, date_to = check_date(date_from, "date_from"), check_date(date_to, "date_to")
    return question, k, doc_ids, date_from, date_to  # type: ignore[return-value]


class Searcher:
    """Hybrid search over an ``IndexReader``: what ``Retriever`` (the façade) and the answering
    layer share. The model is loaded on the first query, not at construction."""

    def __init__(self, reader: IndexReader, embedder: Embedder, settings: Settings) -> None:
        self.reader = reader
        self.embedder = embedder
        self.settings = settings
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        # Per instance (an lru_cache on the method would keep every reader a server ever opened
        # alive in one class-wide cache).
        self._document = lru_cache(maxsize=256)(reader.document)
        self._n_chunks = reader.info().n_chunks  # a reader is a snapshot: its counts do not change

    # ---- documents ------------------------------------------------------------------

    def document(self, doc_id: str) -> Document:
        """The indexed document (with the exact text every offset points into)."""
        doc = self._document(doc_id)
        if doc is None:
            raise UnknownDocumentError(f"no document {printable(doc_id)!r} in the index")
        return doc

    def doc_ids(self) -> list[str]:
        return self.reader.doc_ids()

    # ---- search ---------------------------------------------------------------------

    def embed_query(self, question: str) -> np.ndarray:
        """The question's vector; repeated questions are served from a small cache."""
        with self._cache_lock:
            if question in self._cache:
                self._cache.move_to_end(question)
                return self._cache[question]
        vec = self.embedder.encode([question])[0]
        with self._cache_lock:
            self._cache[question] = vec
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return vec

    def search(self, question: str, k: int = 10, *, doc_ids: Iterable[str] | None = None,
               date_from: str | None = None, date_to: str | None = None,
               speakers: Iterable[str] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first.

        ``doc_ids`` keeps only those documents; ``date_from``/``date_to`` (ISO, inclusive, by
        prefix: "2023" or "2023-11") keep documents whose publication date is known and in range;
        ``speakers`` keeps passages whose speaker, or one of whose sentences' attributed speakers,
        contains one of the given names (case-insensitive substring: "sullivan" finds "Jake
        Sullivan", "blumenthal" "Sen. Richard Blumenthal (D-CT)").

        Raises QueryError for a question that is not text or longer than 2,000 characters,
        a date that is not YYYY[-MM[-DD]], or a ``k`` that is not a whole number >= 0 (a ``k``
        larger than the index returns every passage; control characters in the question are
        ignored).
        """
        question, k, doc_ids, date_from, date_to = check_search(question, k, doc_ids, date_from, date_to)
        if k <= 0:
            return []
        pool = self._candidate_pool(question, max(self.settings.candidates, k), doc_ids, date_from, date_to,
                                    speakers)
        if pool is None:
            return []
        fused, _, _ = fuse(pool, self.settings)
        top = best(fused, k)
        ids = [int(pool.ids[j]) for j in top]
        # A hit reports its passage's own cosine and BM25 (as documented on Hit); the header
        # scores enter only the fused score.
        return self._hits(ids, {c: float(fused[j]) for c, j in zip(ids, top)},
                          {c: float(pool.dense[j]) for c, j in zip(ids, top)},
                          {c: float(pool.lexical[j]) for c, j in zip(ids, top) if pool.lexical[j] > 0})

    def candidate_pool(self, question: str, n: int, *, doc_ids: Iterable[str] | None = None,
                       date_from: str | None = None, date_to: str | None = None,
                       speakers: Iterable[str] | None = None) -> "Pool | None":
        """The union of the ``n`` best chunks of each half, with every score fusion needs
        (validated as ``search`` validates); None when nothing can match.

        The lexical half ranks chunks by their BM25 plus the header field's times its weight, so
        a question naming its source ("in the Lima readout") reaches that document's chunks.
        """
        question, n, doc_ids, date_from, date_to = check_search(question, n, doc_ids, date_from, date_to)
        return self._candidate_pool(question, n, doc_ids, date_from, date_to, speakers)

    def _candidate_pool(self, question: str, n: int, doc_ids: list[str] | None, date_from: str | None,
                        date_to: str | None, speakers: Iterable[str] | None) -> "Pool | None":
        """``candidate_pool`` on inputs already validated by ``check_search``."""
        if not question or n <= 0 or self._n_chunks == 0:
            return None
        if isinstance(speakers, str):  # one name, not its characters
            speakers = [speakers]
        mask = self.reader.allowed(doc_ids, date_from, date_to, list(speakers) if speakers is not None else None)
        if mask is not None and not mask.any():
            return None
        qvec = np.ascontiguousarray(self.embed_query(question), dtype=np.float32).reshape(-1)
        tokens = lexical.tokens([question])[0]
        lexical_top = self.reader.lexical_top(tokens, n, header_weight=self.settings.header_lexical_weight,
                                              allowed=mask) if tokens else np.zeros(0, dtype=np.int64)
        with one_thread():
            dense_top = [c for c, _ in self.reader.dense_top(qvec, n, mask)]
            ids = np.array(list(dict.fromkeys([*dense_top, *lexical_top.tolist()])), dtype=np.int64)
            dense = self.reader.chunk_vectors(ids) @ qvec
            header_dense = self.reader.header_vectors(ids) @ qvec
        if tokens:
            body, header = self.reader.lexical_scores(tokens, ids)
        else:
            body = header = np.zeros(len(ids), dtype=np.float32)
        return Pool(ids=ids, dense=dense.astype(np.float64), header_dense=header_dense.astype(np.float64),
                    lexical=body.astype(np.float64), header_lexical=header.astype(np.float64))

    def dense_search(self, question: str, k: int = 10) -> list[Hit]:
        """Dense search alone (a baseline for evaluation)."""
        question, k = check_question(question), check_k(k)
        if k <= 0:
            return []
        ranked = self.reader.dense_top(self.embed_query(question), k)
        scores = dict(ranked)
        return self._hits([c for c, _ in ranked], scores, scores, {})

    def lexical_search(self, question: str, k: int = 10) -> list[Hit]:
        """BM25 alone, the chunk texts only (a baseline for evaluation)."""
        question, k = check_question(question), check_k(k)
        tokens = lexical.tokens([question])[0]
        if k <= 0 or not tokens:
            return []
        top = self.reader.lexical_top(tokens, k)
        body, _ = self.reader.lexical_scores(tokens, top)
        scores = {int(c): float(s) for c, s in zip(top, body)}
        return self._hits([int(c) for c in top], scores, {}, scores)

    def _hits(self, ids: list[int], score: dict[int, float], dense: dict[int, float],
              lexical: dict[int, float]) -> list[Hit]:
        rows = self.reader.chunks(ids)
        hits = []
        for rank, cid in enumerate(ids, 1):
            r = rows[cid]
            hits.append(Hit(doc_id=r.doc_id, title=r.title, source=r.source, date=r.date, text=r.text,
                            start=r.start, end=r.end, page=r.page, score=score[cid], dense_score=dense.get(cid),
                            lexical_score=lexical.get(cid), rank=rank, chunk_id=cid, speaker=r.speaker))
        return hits


@dataclass(frozen=True)
class Pool:
    """Candidate chunks of one question and their raw scores (what ``fuse`` combines).

    ``dense``: cosine with the chunk; ``header_dense``: cosine with its contextual header;
    ``lexical``/``header_lexical``: BM25 of the chunk text and of its header field.
    """

    ids: np.ndarray
    dense: np.ndarray
    header_dense: np.ndarray
    lexical: np.ndarray
    header_lexical: np.ndarray


def fuse(pool: Pool, s: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused score per pool member (higher is better), and the dense and lexical scores fused.

    Each half's score adds its header's times the header weight. "rrf" ranks the pool by each
    half's score and sums w / (rrf_k + rank), as reciprocal rank fusion does (a chunk with no
    query term gets no lexical share); "linear" sums the weighted min-max normalised scores.
    """
    dense = pool.dense + s.header_dense_weight * pool.header_dense
    lexical = pool.lexical + s.header_lexical_weight * pool.header_lexical
    if s.fusion == "rrf":
        fused = s.dense_weight / (s.rrf_k + _ranks(dense))
        fused = fused + np.where(lexical > 0, s.lexical_weight / (s.rrf_k + _ranks(lexical)), 0.0)
    elif s.fusion == "linear":
        span = dense.max() - dense.min() if len(dense) else 0.0
        d = (dense - dense.min()) / span if span > 0 else np.ones_like(dense)
        top = lexical.max() if len(lexical) else 0.0
        lx = lexical / top if top > 0 else np.zeros_like(lexical)
        fused = s.dense_weight * d + s.lexical_weight * lx
    else:
        raise ValueError(f"unknown fusion {s.fusion!r}: 'rrf' or 'linear'")
    return fused, dense, lexical


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each score, best first, ties by position."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks
