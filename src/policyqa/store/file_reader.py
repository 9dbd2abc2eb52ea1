"""``IndexReader`` over one generation on disk (``files.IndexFiles``): SQLite rows, memory-mapped
vectors, FAISS for dense search and bm25s for the lexical half. The only module that knows how
a generation is laid out for reading."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..ranking import best, best_held
from ..schema import Document
from ..threads import one_thread
from .files import IndexFiles, read_current
from .reader import ChunkRow, IndexInfo, SentenceRow


class FileIndexReader:
    """Read one index generation. Thread-safe: the web chat's users share one."""

    # Up to this many allowed chunks a filtered dense search scores them directly with numpy
    # (exact; at most ~30 MB of vectors read); beyond, FAISS searches with the filter as a bitmap.
    FILTER_BRUTE_FORCE_MAX = 20_000

    def __init__(self, files: IndexFiles) -> None:
        self.files = files
        # Per chunk, its document's row (int32, memory-mapped); document metadata stays in SQLite
        # and is read per query (a hit's title) or on the first filtered search (publication dates).
        self._chunk_doc = files.chunk_docs
        self._published: np.ndarray | None = None
        self._lock = threading.Lock()
        # The BM25 arrays of the last few token lists: a question's lexical top-n and the scores
        # of its dense candidates come from one pass over the postings.
        self._lexical: OrderedDict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._vocab: dict[str, int] | None = None
        self._df: np.ndarray | None = None

    @classmethod
    def open(cls, index_dir: Path) -> "FileIndexReader":
        return cls(IndexFiles(read_current(index_dir)))

    def close(self) -> None:
        self.files.close()

    def info(self) -> IndexInfo:
        m = self.files.manifest
        counts = m["counts"]
        return IndexInfo(location=str(self.files.path.parent), generation=self.files.path.name,
                         built_at=m.get("built_at", ""), n_documents=int(counts["documents"]),
                         n_chunks=self.files.n_chunks, n_sentences=int(counts.get("segments", 0)),
                         model_id=m["model"]["id"], dim=int(m["model"]["dim"]), dense=dict(self.files.dense_info),
                         weights_sha256=m["model"]["weights_sha256"], tokenizer=str(m.get("tokenizer")),
                         segmenter=str(m.get("segmenter")), schema_version=m.get("schema_version"))

    # ---- documents ------------------------------------------------------------------

    def doc_ids(self) -> list[str]:
        return [r[0] for r in self.files.db.execute("SELECT doc_id FROM documents ORDER BY doc_id")]

    def document(self, doc_id: str) -> Document | None:
        return self.files.document(doc_id)

    def text_span(self, doc_id: str, start: int, end: int) -> str:
        row = self.files.db.execute("SELECT substr(text, ?, ?) FROM documents WHERE doc_id = ?",
                                    (start + 1, end - start, doc_id)).fetchone()
        return row[0] if row else ""

    # ---- filters --------------------------------------------------------------------

    def allowed(self, doc_ids: Sequence[str] | None, date_from: str | None, date_to: str | None,
                speakers: Sequence[str] | None) -> np.ndarray | None:
        mask = self._doc_mask(doc_ids, date_from, date_to)
        if speakers is not None:
            by_speaker = self._speaker_mask(speakers)
            mask = by_speaker if mask is None else mask & by_speaker
        return mask

    def _doc_mask(self, doc_ids: Sequence[str] | None, date_from: str | None, date_to: str | None
                  ) -> np.ndarray | None:
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

    def _speaker_mask(self, speakers: Sequence[str]) -> np.ndarray:
        """Per chunk: does its speaker, or one of its sentences' speakers, contain one of
        ``speakers`` (case-insensitive)?"""
        if isinstance(speakers, str):  # one name, not its characters
            speakers = [speakers]
        names = [s.strip().lower() for s in speakers if s and s.strip()]
        allowed = np.zeros(self.files.n_chunks, dtype=bool)
        for name in names:
            # The passage's turn speaker, or any of its sentences attributed to the name (a
            # readout's "President Biden emphasized that ...").
            ids = [r[0] for r in self.files.db.execute(
                "SELECT id FROM chunks WHERE speaker IS NOT NULL AND instr(lower(speaker), ?) > 0 "
                "UNION SELECT c.id FROM segments s JOIN chunks c ON c.doc_id = s.doc_id "
                "AND s.seq BETWEEN c.first_segment AND c.last_segment "
                "WHERE s.speaker IS NOT NULL AND instr(lower(s.speaker), ?) > 0", (name, name))]
            allowed[np.asarray(ids, dtype=np.int64)] = True
        return allowed

    def _doc_rows(self, doc_ids: list[str]) -> list[int]:
        """Rows (documents.rowid - 1) of the given ids that the index holds."""
        rows: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = doc_ids[i:i + 500]
            rows += [r[0] for r in self.files.db.execute(
                f"SELECT rowid - 1 FROM documents WHERE doc_id IN ({','.join('?' * len(part))})", part)]
        return rows

    def _published_by_row(self) -> np.ndarray:
        """Each document's publication date (or None), by row; read on the first filtered search."""
        if self._published is None:
            rows = self.files.db.execute("SELECT rowid - 1, published FROM documents").fetchall()
            published = np.empty(len(rows), dtype=object)
            for row, date in rows:
                published[row] = date
            self._published = published
        return self._published

    # ---- dense ----------------------------------------------------------------------

    def dense_top(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        import faiss

        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(-1)
        if n <= 0 or self.files.n_chunks == 0:  # FAISS asserts on k == 0
            return []
        with one_thread():
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                return self._dense_search(q, n, allowed)
            finally:
                faiss.omp_set_num_threads(threads)

    def _dense_search(self, q: np.ndarray, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        import faiss

        index = self.files.faiss
        if mask is None:
            scores, ids = index.search(q[None, :], min(n, self.files.n_chunks))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return []
        if len(rows) <= self.FILTER_BRUTE_FORCE_MAX:
            sims = np.asarray(self.files.chunk_vectors()[rows], dtype=np.float32) @ q
            return [(int(rows[j]), float(sims[j])) for j in best(sims, n)]
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        if self.files.dense_info["type"] == "flat":
            params = faiss.SearchParameters(sel=selector)
        else:
            # The filter removes part of every probed list: probe proportionally more lists.
            nprobe = min(index.nlist, int(np.ceil(index.nprobe * len(mask) / len(rows))))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        scores, ids = index.search(q[None, :], min(n, len(rows)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def chunk_vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.files.chunk_vectors()[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def header_vectors(self, rows: np.ndarray) -> np.ndarray:
        heads = np.asarray(self.files.chunk_headers[np.asarray(rows, dtype=np.int64)], dtype=np.int64)
        if not len(self.files.header_vectors):
            return np.zeros((len(heads), self.files.manifest["model"]["dim"]), dtype=np.float32)
        return self.files.header_vectors[heads]

    # ---- lexical --------------------------------------------------------------------

    def _scores(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk's text and of every chunk's header field."""
        key = tuple(tokens)
        with self._lock:
            if key in self._lexical:
                self._lexical.move_to_end(key)
                return self._lexical[key]
        n = self.files.n_chunks
        body = header = np.zeros(n, dtype=np.float32)
        if key and self.files.bm25 is not None:
            body = np.asarray(self.files.bm25.get_scores(list(key)), dtype=np.float32)
            if self.files.header_bm25 is not None:
                per_header = np.asarray(self.files.header_bm25.get_scores(list(key)), dtype=np.float32)
                if per_header.any():
                    header = per_header[self.files.chunk_headers]
        with self._lock:
            self._lexical[key] = (body, header)
            while len(self._lexical) > 8:
                self._lexical.popitem(last=False)
        return body, header

    def lexical_top(self, tokens: Sequence[str], n: int, *, header_weight: float = 0.0,
                    allowed: np.ndarray | None = None) -> np.ndarray:
        body, header = self._scores(tokens)
        combined = body + header_weight * header if header_weight else body
        if allowed is not None:
            combined = np.where(allowed, combined, 0.0)
        return best_held(combined, n)

    def lexical_scores(self, tokens: Sequence[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        body, header = self._scores(tokens)
        rows = np.asarray(rows, dtype=np.int64)
        return body[rows], header[rows]

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        if self._vocab is None:
            bm25 = self.files.bm25
            if bm25 is not None:
                vocab = dict(bm25.vocab_dict)
                df = np.diff(np.asarray(bm25.scores["indptr"])).astype(np.float64)
            else:
                vocab, df = {}, np.zeros(0)
            self._df, self._vocab = df, vocab
        assert self._df is not None
        return np.array([self._df[self._vocab[t]] if t in self._vocab else 0.0 for t in terms], dtype=np.float64)

    # ---- rows -----------------------------------------------------------------------

    def chunks(self, rows: Sequence[int]) -> dict[int, ChunkRow]:
        ids = [int(r) for r in rows]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r[0]: ChunkRow(*r) for r in self.files.db.execute(
            f'SELECT c.id, c.doc_id, c.start, c."end", c.page, c.text, d.title, d.source, d.date, c.speaker '
            f"FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.id IN ({marks})", ids)}

    def sentences_near(self, chunk_rows: Sequence[int], window: int) -> list[SentenceRow]:
        ids = [int(r) for r in chunk_rows]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        w = int(window)
        return [SentenceRow(*r) for r in self.files.db.execute(
            f'SELECT c.id, s.id, s.doc_id, s.seq, s.start, s."end", c.first_segment, c.last_segment, s.speaker, '
            f"s.attribution FROM chunks c JOIN segments s ON s.doc_id = c.doc_id "
            f"AND s.seq BETWEEN c.first_segment - {w} AND c.last_segment + {w} "
            f"WHERE c.id IN ({marks})", ids)]

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.files.segment_vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def sentence_texts(self, doc_ids: Iterable[str] | None = None) -> Iterator[tuple[int, str]]:
        yield from self.files.segment_texts(doc_ids)



