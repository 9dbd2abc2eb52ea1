"""Question -> hits: dense (FAISS inner product on normalised vectors) and BM25, fused by
weighted reciprocal rank fusion, with filters on documents and publication dates."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import store
from .chunking import TOKENIZER_NAME
from .config import Settings
from .embedding import Embedder
from .indexing import SEGMENTER
from .errors import QueryError, UnknownDocumentError
from .sanitize import check_date, check_k, check_question, has_unsafe_chars, printable
from .schema import Answer, Document, Hit, IndexStatus


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


# Query-time numpy and FAISS run on one thread. A multi-threaded product or search leaves its
# threads spinning after it returns; on two cores they then slow the next question's embedding
# about twofold (41 vs 17 ms a question beside a 10k-chunk search), and a single query gains
# nothing from a second thread: FAISS's exact search of 10k vectors took 1.3 ms on one thread
# against 1.9 on two, and IVF searches the same (scripts/bench_query.py measures the result).
@lru_cache(maxsize=1)
def _blas():  # type: ignore[no-untyped-def]
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


# BLAS's thread count is process-wide: searches from several threads (the web chat's users) take
# turns, so that each restores the setting it found and none leaves another's in place.
_ONE_THREAD_LOCK = threading.Lock()


@contextmanager
def _one_thread() -> Iterator[None]:
    import faiss

    with _ONE_THREAD_LOCK:
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            with _blas().limit(limits=1):
                yield
        finally:
            faiss.omp_set_num_threads(threads)


def _best(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest ``scores``, best first, ties (at the cut too) by position."""
    top = np.arange(len(scores))
    if n <= 0:
        return top[:0]
    if len(scores) > n:
        cut = -np.partition(-scores, n - 1)[n - 1]  # the n-th best score
        top = np.flatnonzero(scores >= cut)
    return top[np.lexsort((top, -scores[top]))][:n]


def _best_held(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best positive ``scores``, best first. Only the chunks holding a
    query term are ranked: a partition over every chunk costs ~5 ms at 1M."""
    held = np.flatnonzero(scores > 0)
    return held[_best(scores[held], n)]


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
        # Per chunk, its document's row (int32, memory-mapped); document metadata stays in SQLite
        # and is read per query (a hit's title) or on the first filtered search (publication dates).
        self._chunk_doc = files.chunk_docs
        self._published: np.ndarray | None = None
        # Per instance (an lru_cache on the method would keep every Retriever a server ever
        # opened, and the mapped files of its generation, alive in one class-wide cache).
        self._document = lru_cache(maxsize=256)(files.document)

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
            raise UnknownDocumentError(f"no document {printable(doc_id)!r} in the index")
        return doc

    def doc_ids(self) -> list[str]:
        return [r[0] for r in self._files.db.execute("SELECT doc_id FROM documents ORDER BY doc_id")]

    def status(self) -> IndexStatus:
        m = self._files.manifest
        doc_ids = self.doc_ids()
        return IndexStatus(index_dir=str(self._files.path.parent), generation=self._files.path.name,
                           built_at=m.get("built_at", ""), n_documents=len(doc_ids),
                           n_chunks=self._files.n_chunks, n_segments=int(m["counts"].get("segments", 0)),
                           model=m["model"]["id"], documents=tuple(doc_ids))

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
               date_from: str | None = None, date_to: str | None = None,
               speakers: Iterable[str] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first.

        ``doc_ids`` keeps only those documents; ``date_from``/``date_to`` (ISO, inclusive, by
        prefix: "2023" or "2023-11") keep documents whose publication date is known and in range;
        ``speakers`` keeps passages whose speaker contains one of the given names (case-insensitive
        substring: "sullivan" finds "Jake Sullivan", "blumenthal" "Sen. Richard Blumenthal (D-CT)").

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
        best = _best(fused, k)
        ids = [int(pool.ids[j]) for j in best]
        # A hit reports its passage's own cosine and BM25 (as documented on Hit); the header
        # scores enter only the fused score.
        return self._hits(ids, {c: float(fused[j]) for c, j in zip(ids, best)},
                          {c: float(pool.dense[j]) for c, j in zip(ids, best)},
                          {c: float(pool.lexical[j]) for c, j in zip(ids, best) if pool.lexical[j] > 0})

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
        if not question or n <= 0 or self._files.n_chunks == 0:
            return None
        mask = self._mask(doc_ids, date_from, date_to)
        if speakers is not None:
            by_speaker = self._speaker_mask(speakers)
            mask = by_speaker if mask is None else mask & by_speaker
        if mask is not None and not mask.any():
            return None
        qvec = np.ascontiguousarray(self.embed_query(question), dtype=np.float32).reshape(-1)
        lexical_all, header_all = self._lexical_scores(question)
        beta = self.settings.header_lexical_weight
        combined = lexical_all + beta * header_all if beta else lexical_all
        if mask is not None:
            combined = np.where(mask, combined, 0.0)
        lexical_top = _best_held(combined, n)
        with _one_thread():
            dense_top = [c for c, _ in self._dense_search(qvec, n, mask)]
            ids = np.array(list(dict.fromkeys([*dense_top, *lexical_top.tolist()])), dtype=np.int64)
            dense = np.asarray(self._files.chunk_vectors()[ids], dtype=np.float32) @ qvec
            heads = np.asarray(self._files.chunk_headers[ids], dtype=np.int64)
            header_dense = (self._files.header_vectors[heads] @ qvec if len(self._files.header_vectors)
                            else np.zeros(len(ids), dtype=np.float32))
        return Pool(ids=ids, dense=dense.astype(np.float64), header_dense=header_dense.astype(np.float64),
                    lexical=lexical_all[ids].astype(np.float64), header_lexical=header_all[ids].astype(np.float64))

    def _lexical_scores(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk, and of every chunk's header field, for ``question``."""
        n = self._files.n_chunks
        tokens = store.lexical_tokens([question])[0]
        if not tokens or self._files.bm25 is None:
            zero = np.zeros(n, dtype=np.float32)
            return zero, zero
        body = np.asarray(self._files.bm25.get_scores(tokens), dtype=np.float32)
        header = np.zeros(n, dtype=np.float32)
        if self._files.header_bm25 is not None:
            per_header = np.asarray(self._files.header_bm25.get_scores(tokens), dtype=np.float32)
            if per_header.any():
                header = per_header[self._files.chunk_headers]
        return body, header

    def dense_search(self, question: str, k: int = 10) -> list[Hit]:
        """Dense search alone (a baseline for evaluation)."""
        question, k = check_question(question), check_k(k)
        if k <= 0 or self._files.n_chunks == 0:  # FAISS asserts on k == 0
            return []
        ranked = self._dense(self.embed_query(question), k, None)
        scores = dict(ranked)
        return self._hits([c for c, _ in ranked], scores, scores, {})

    def lexical_search(self, question: str, k: int = 10) -> list[Hit]:
        """BM25 alone (a baseline for evaluation)."""
        question, k = check_question(question), check_k(k)
        ranked = self._lexical(question, k)
        scores = dict(ranked)
        return self._hits([c for c, _ in ranked], scores, {}, scores)

    def _mask(self, doc_ids: Iterable[str] | None, date_from: str | None, date_to: str | None) -> np.ndarray | None:
        if doc_ids is None and not date_from and not date_to:
            return None
        if isinstance(doc_ids, str):  # one id, not the characters of one
            doc_ids = [doc_ids]
        published = self._published_by_row()
        if doc_ids is None:
            allowed = np.ones(len(published), dtype=bool)
        else:
            allowed = np.zeros(len(published), dtype=bool)
            allowed[self._doc_rows(list(dict.fromkeys(doc_ids)))] = True
        if date_from or date_to:
            def in_range(published: str | None) -> bool:
                if not published:
                    return False
                if date_from and published[:len(date_from)] < date_from[:len(published)]:
                    return False
                return not (date_to and published[:len(date_to)] > date_to[:len(published)])
            for row in np.flatnonzero(allowed):
                allowed[row] = in_range(published[row])
        return allowed[self._chunk_doc]  # per chunk: is its document allowed

    def _speaker_mask(self, speakers: Iterable[str]) -> np.ndarray:
        """Per chunk: does its speaker contain one of ``speakers`` (case-insensitive)?"""
        if isinstance(speakers, str):  # one name, not its characters
            speakers = [speakers]
        names = [s.strip().lower() for s in speakers if s and s.strip()]
        allowed = np.zeros(self._files.n_chunks, dtype=bool)
        for name in names:
            ids = [r[0] for r in self._files.db.execute(
                "SELECT id FROM chunks WHERE speaker IS NOT NULL AND instr(lower(speaker), ?) > 0", (name,))]
            allowed[np.asarray(ids, dtype=np.int64)] = True
        return allowed

    def _doc_rows(self, doc_ids: list[str]) -> list[int]:
        """Rows (documents.rowid - 1) of the given ids that the index holds."""
        rows: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = doc_ids[i:i + 500]
            rows += [r[0] for r in self._files.db.execute(
                f"SELECT rowid - 1 FROM documents WHERE doc_id IN ({','.join('?' * len(part))})", part)]
        return rows

    def _published_by_row(self) -> np.ndarray:
        """Each document's publication date (or None), by row; read on the first filtered search."""
        if self._published is None:
            rows = self._files.db.execute("SELECT rowid - 1, published FROM documents").fetchall()
            published = np.empty(len(rows), dtype=object)
            for row, date in rows:
                published[row] = date
            self._published = published
        return self._published

    # Up to this many allowed chunks a filtered dense search scores them directly with numpy
    # (exact; at most ~30 MB of vectors read); beyond, FAISS searches with the filter as a bitmap.
    FILTER_BRUTE_FORCE_MAX = 20_000

    def _dense(self, qvec: np.ndarray, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        with _one_thread():
            return self._dense_search(np.ascontiguousarray(qvec, dtype=np.float32).reshape(-1), n, mask)

    def _dense_search(self, q: np.ndarray, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        import faiss

        index = self._files.faiss
        if mask is None:
            scores, ids = index.search(q[None, :], min(n, self._files.n_chunks))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        rows = np.flatnonzero(mask)
        if len(rows) <= self.FILTER_BRUTE_FORCE_MAX:
            return self._exact(q, n, rows)
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        if self._files.dense_info["type"] == "flat":
            params = faiss.SearchParameters(sel=selector)
        else:
            # The filter removes part of every probed list: probe proportionally more lists.
            nprobe = min(index.nlist, int(np.ceil(index.nprobe * len(mask) / len(rows))))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        scores, ids = index.search(q[None, :], min(n, len(rows)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _exact(self, q: np.ndarray, n: int, rows: np.ndarray) -> list[tuple[int, float]]:
        """The ``n`` best of ``rows`` by inner product, best first, ties by id."""
        sims = np.asarray(self._files.chunk_vectors()[rows], dtype=np.float32) @ q
        return [(int(rows[j]), float(sims[j])) for j in _best(sims, n)]

    def _lexical(self, question: str, n: int) -> list[tuple[int, float]]:
        """BM25 alone, the chunk texts only (the baseline ``lexical_search`` serves)."""
        if self._files.bm25 is None or n <= 0:
            return []
        tokens = store.lexical_tokens([question])[0]
        if not tokens:
            return []
        scores = np.asarray(self._files.bm25.get_scores(tokens), dtype=np.float32)
        return [(int(c), float(scores[c])) for c in _best_held(scores, n)]

    def _hits(self, ids: list[int], score: dict[int, float], dense: dict[int, float],
              lexical: dict[int, float]) -> list[Hit]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = {r[0]: r[1:] for r in self._files.db.execute(
            f'SELECT c.id, c.doc_id, c.start, c."end", c.page, c.text, d.title, d.source, d.date, c.speaker '
            f"FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.id IN ({marks})", ids)}
        hits = []
        for rank, cid in enumerate(ids, 1):
            doc_id, start, end, page, text, title, source, date, speaker = rows[cid]
            hits.append(Hit(doc_id=doc_id, title=title, source=source, date=date, text=text, start=start,
                            end=end, page=page, score=score[cid], dense_score=dense.get(cid),
                            lexical_score=lexical.get(cid), rank=rank, chunk_id=cid, speaker=speaker))
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
