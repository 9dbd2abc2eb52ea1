"""Question -> hits: dense (FAISS inner product on normalised vectors) and BM25, fused by
weighted reciprocal rank fusion, with filters on documents and publication dates."""

from __future__ import annotations

import threading
from functools import lru_cache
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from . import store
from .chunking import TOKENIZER_NAME
from .config import Settings
from .embedding import Embedder
from .indexing import SEGMENTER
from .schema import Answer, Document, Hit, IndexStatus


class Retriever:
    """Search an index built by ``build_index``. Open with ``Retriever.open(index_dir)``.

    The model is loaded on the first query, not at open, and its weights are checked against the
    ones the index was built with before anything is searched.
    """

    def __init__(self, files: store.IndexFiles, embedder: Embedder, settings: Settings) -> None:
        self._files = files
        self.embedder = embedder
        self.settings = settings
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        rows = files.db.execute("SELECT doc_id, title, source, date, published FROM documents").fetchall()
        self._docs = {r[0]: r[1:] for r in rows}
        self._chunk_doc = np.array([r[0] for r in files.db.execute("SELECT doc_id FROM chunks ORDER BY id")],
                                   dtype=object)

    @classmethod
    def open(cls, index_dir: str | Path | None = None, *, settings: Settings | None = None,
             embedder: Embedder | None = None) -> "Retriever":
        """Open the current generation of the index at ``index_dir``.

        Raises IndexMissingError when none was built, IndexMismatchError when it was built with
        another model, tokenizer or schema.
        """
        settings = settings or Settings()
        index_dir = Path(index_dir) if index_dir is not None else settings.index_dir
        files = store.IndexFiles(store.read_current(index_dir))
        try:
            embedder = embedder or Embedder(settings.model_path)
            store.check_compatible(files.manifest, weights_sha256=embedder.weights_sha256,
                                   model_id=embedder.model_id, tokenizer=TOKENIZER_NAME,
                                   segmenter=SEGMENTER, chunking=None)
        except Exception:
            files.close()
            raise
        return cls(files, embedder, settings)

    def close(self) -> None:
        self._files.close()

    # ---- documents ------------------------------------------------------------------

    def document(self, doc_id: str) -> Document:
        """The indexed document (with the exact text every offset points into)."""
        doc = self._document(doc_id)
        if doc is None:
            raise KeyError(f"no document {doc_id!r} in the index")
        return doc

    @lru_cache(maxsize=256)
    def _document(self, doc_id: str) -> Document | None:
        return self._files.document(doc_id)

    def doc_ids(self) -> list[str]:
        return sorted(self._docs)

    def status(self) -> IndexStatus:
        m = self._files.manifest
        return IndexStatus(index_dir=str(self._files.path.parent), generation=self._files.path.name,
                           built_at=m.get("built_at", ""), n_documents=len(self._docs),
                           n_chunks=self._files.n_chunks, n_segments=int(m["counts"].get("segments", 0)),
                           model=m["model"]["id"], documents=tuple(self.doc_ids()))

    @property
    def files(self) -> store.IndexFiles:
        return self._files

    # ---- answers --------------------------------------------------------------------

    def ask(self, question: str, history: list | None = None, **options: object) -> "Answer":
        """A cited extractive answer: verbatim sentences, each with its exact citation.

        ``history`` is the conversation so far (a list of {"role", "content"} dicts or earlier
        Answers) used to resolve follow-up questions.
        """
        from .answer import answer_question

        return answer_question(self, question, history, **options)

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
               date_from: str | None = None, date_to: str | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first.

        ``doc_ids`` keeps only those documents; ``date_from``/``date_to`` (ISO, inclusive, by
        prefix: "2023" or "2023-11") keep documents whose publication date is known and in range.
        """
        question = question.strip()
        if not question or k <= 0 or self._files.n_chunks == 0:
            return []
        mask = self._mask(doc_ids, date_from, date_to)
        if mask is not None and not mask.any():
            return []
        n = max(self.settings.candidates, k)
        qvec = self.embed_query(question)
        dense = self._dense(qvec, n, mask)
        lexical = self._lexical(question, n, mask)
        fused: dict[int, float] = {}
        s = self.settings
        for weight, ranked in ((s.dense_weight, dense), (s.lexical_weight, lexical)):
            for rank, (cid, _) in enumerate(ranked, 1):
                fused[cid] = fused.get(cid, 0.0) + weight / (s.rrf_k + rank)
        dense_of, lex_of = dict(dense), dict(lexical)
        best = sorted(fused, key=lambda c: (-fused[c], c))[:k]
        return self._hits(best, fused, dense_of, lex_of)

    def dense_search(self, question: str, k: int = 10) -> list[Hit]:
        """Dense search alone (a baseline for evaluation)."""
        if k <= 0 or self._files.n_chunks == 0:  # FAISS asserts on k == 0
            return []
        ranked = self._dense(self.embed_query(question), k, None)
        scores = dict(ranked)
        return self._hits([c for c, _ in ranked], scores, scores, {})

    def lexical_search(self, question: str, k: int = 10) -> list[Hit]:
        """BM25 alone (a baseline for evaluation)."""
        ranked = self._lexical(question, k, None)
        scores = dict(ranked)
        return self._hits([c for c, _ in ranked], scores, {}, scores)

    def _mask(self, doc_ids: Iterable[str] | None, date_from: str | None, date_to: str | None) -> np.ndarray | None:
        if doc_ids is None and not date_from and not date_to:
            return None
        if isinstance(doc_ids, str):  # one id, not the characters of one
            doc_ids = [doc_ids]
        allowed = set(self._docs) if doc_ids is None else set(doc_ids) & set(self._docs)
        if date_from or date_to:
            def in_range(published: str | None) -> bool:
                if not published:
                    return False
                if date_from and published[:len(date_from)] < date_from[:len(published)]:
                    return False
                return not (date_to and published[:len(date_to)] > date_to[:len(published)])
            allowed = {d for d in allowed if in_range(self._docs[d][3])}
        return np.isin(self._chunk_doc, list(allowed))

    def _dense(self, qvec: np.ndarray, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        if mask is None:
            scores, ids = self._files.faiss.search(q, min(n, self._files.n_chunks))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        rows = np.flatnonzero(mask)
        sims = np.asarray(self._files.chunk_vectors()[rows], dtype=np.float32) @ q[0]
        top = np.argsort(-sims)[:n]
        return [(int(rows[i]), float(sims[i])) for i in top]

    def _lexical(self, question: str, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        if self._files.bm25 is None:
            return []
        tokens = store.lexical_tokens([question])[0]
        if not tokens:
            return []
        scores = np.asarray(self._files.bm25.get_scores(tokens), dtype=np.float32)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def _hits(self, ids: list[int], score: dict[int, float], dense: dict[int, float],
              lexical: dict[int, float]) -> list[Hit]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = {r[0]: r[1:] for r in self._files.db.execute(
            f'SELECT id, doc_id, start, "end", page, text FROM chunks WHERE id IN ({marks})', ids)}
        hits = []
        for rank, cid in enumerate(ids, 1):
            doc_id, start, end, page, text = rows[cid]
            title, source, date, _ = self._docs[doc_id]
            hits.append(Hit(doc_id=doc_id, title=title, source=source, date=date, text=text, start=start,
                            end=end, page=page, score=score[cid], dense_score=dense.get(cid),
                            lexical_score=lexical.get(cid), rank=rank, chunk_id=cid))
        return hits
