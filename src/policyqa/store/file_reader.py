"""``IndexReader`` over one commit on disk: its parts (``files.IndexFiles``: SQLite rows,
memory-mapped vectors, FAISS, postings) and their deletions. The only module that knows how an
index is laid out for reading.

Rows are numbered across the parts in the commit's order (part 0's chunks, then part 1's...);
deleted rows keep their numbers and are never returned. Search runs over every part and merges
the results; BM25 uses the statistics of every live row of every part, so an index of several
parts ranks as the same documents in one merged part would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SCHEMA_VERSION
from ..errors import IndexMismatchError
from ..ranking import best, best_held
from ..schema import Document
from ..threads import one_thread
from .files import IndexFiles, deleted_file, read_current, read_manifest
from .postings import Postings, idf
from .reader import ChunkRow, IndexInfo, SentenceRow


@dataclass
class _Part:
    files: IndexFiles
    chunk_offset: int
    sentence_offset: int
    live: np.ndarray | None  # bool per chunk row; None: nothing deleted
    live_headers: np.ndarray | None  # bool per header: some live chunk has it; None: all


class _Field:
    """One lexical field (chunk texts, or their headers) across the parts, with its statistics
    over live rows."""

    def __init__(self, postings: list[tuple[Postings | None, np.ndarray | None]]) -> None:
        self.postings = postings
        total, n = 0.0, 0
        for p, live in postings:
            if p is not None:
                t, c = p.length_sum(live)
                total, n = total + t, n + c
        self.n = n
        self.avg_length = total / n if n else 0.0
        self._df: dict[str, float] = {}
        self._lock = threading.Lock()

    def df(self, term: str) -> float:
        with self._lock:
            if term in self._df:
                return self._df[term]
        value = float(sum(p.df(term, live) for p, live in self.postings if p is not None))
        with self._lock:
            if len(self._df) > 100_000:
                self._df.clear()
            self._df[term] = value
        return value

    def scores(self, tokens: Sequence[str]) -> list[np.ndarray]:
        """Per part, BM25 of each of its rows (deleted rows included: the caller masks them)."""
        weights = {t: idf(self.df(t), self.n) for t in set(tokens)}
        return [p.scores(tokens, weights, self.avg_length) if p is not None else None  # type: ignore[misc]
                for p, _ in self.postings]


class FileIndexReader:
    """Read one commit. Thread-safe: the web chat's users share one."""

    # Up to this many allowed chunks a filtered dense search scores them directly with numpy
    # (exact; at most ~30 MB of vectors read); beyond, FAISS searches with the filter as a bitmap.
    FILTER_BRUTE_FORCE_MAX = 20_000

    def __init__(self, gen: Path) -> None:
        self.path = gen
        self.manifest = read_manifest(gen)
        if self.manifest.get("schema_version") != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"index at {gen.parent} was built with schema version {self.manifest.get('schema_version')} "
                f"(this policyqa reads {SCHEMA_VERSION}); rebuild it with `policyqa index`")
        self.dim = int(self.manifest["model"]["dim"])
        self._parts: list[_Part] = []
        chunks = sentences = 0
        try:
            for entry in self.manifest["parts"]:
                files = IndexFiles(gen.parent / entry["name"], self.dim)
                live = live_headers = None
                if entry["deleted"]:
                    live = ~np.load(gen / deleted_file(entry["name"]))
                    live_headers = np.zeros(len(files.header_texts), dtype=bool)
                    live_headers[np.asarray(files.chunk_headers[live], dtype=np.int64)] = True
                self._parts.append(_Part(files, chunks, sentences, live, live_headers))
                chunks += files.n_chunks
                sentences += len(files.segment_vectors)
        except BaseException:
            self.close()
            raise
        self.n_rows = chunks
        self._chunk_starts = np.array([p.chunk_offset for p in self._parts] + [chunks], dtype=np.int64)
        self._sentence_starts = np.array([p.sentence_offset for p in self._parts] + [sentences], dtype=np.int64)
        self._part_of = {name: i for i, name in enumerate(e["name"] for e in self.manifest["parts"])}
        self._locations: dict[str, int] = {d: self._part_of[p] for d, p in self.manifest["locations"].items()}
        self._live: np.ndarray | None = None
        if any(p.live is not None for p in self._parts):
            self._live = np.concatenate([p.live if p.live is not None else np.ones(p.files.n_chunks, dtype=bool)
                                         for p in self._parts]) if self._parts else np.zeros(0, dtype=bool)
        self._body = _Field([(p.files.lexical, p.live) for p in self._parts])
        self._headers = _Field([(p.files.header_lexical, p.live_headers) for p in self._parts])
        self._lock = threading.Lock()
        # The BM25 arrays of the last few token lists: a question's lexical top-n and the scores
        # of its dense candidates come from one pass over the postings.
        self._lexical: OrderedDict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._published: list[np.ndarray | None] = [None] * len(self._parts)

    @classmethod
    def open(cls, index_dir: Path) -> "FileIndexReader":
        return cls(read_current(index_dir))

    def close(self) -> None:
        for p in self._parts:
            p.files.close()

    @property
    def parts(self) -> list[IndexFiles]:
        """The opened parts, in order (diagnostics, benchmarks and tests)."""
        return [p.files for p in self._parts]

    @property
    def files(self) -> IndexFiles:
        """The one part of a single-part index (diagnostics, benchmarks and tests)."""
        if len(self._parts) != 1:
            raise ValueError(f"the index has {len(self._parts)} parts, not one")
        return self._parts[0].files

    def info(self) -> IndexInfo:
        m = self.manifest
        dense: dict[str, Any] = (dict(self._parts[0].files.dense_info) if len(self._parts) == 1 else
                                 {"type": "parts", "parts": [dict(p.files.dense_info) for p in self._parts]})
        return IndexInfo(location=str(self.path.parent), generation=self.path.name, built_at=m.get("built_at", ""),
                         n_documents=int(m["counts"]["documents"]), n_chunks=int(m["counts"]["chunks"]),
                         n_sentences=int(m["counts"]["segments"]), model_id=m["model"]["id"], dim=self.dim,
                         dense=dense, weights_sha256=m["model"]["weights_sha256"], tokenizer=str(m.get("tokenizer")),
                         segmenter=str(m.get("segmenter")), schema_version=m.get("schema_version"),
                         n_rows=self.n_rows, n_parts=len(self._parts))

    # ---- row bookkeeping ------------------------------------------------------------

    def _by_part(self, rows: Sequence[int] | np.ndarray, starts: np.ndarray
                 ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(part, positions in ``rows``, local rows) for each part some of ``rows`` lie in."""
        rows = np.asarray(rows, dtype=np.int64)
        which = np.searchsorted(starts, rows, side="right") - 1
        for p in np.unique(which):
            pos = np.flatnonzero(which == p)
            yield int(p), pos, rows[pos] - starts[p]

    # ---- documents ------------------------------------------------------------------

    def doc_ids(self) -> list[str]:
        return sorted(self._locations)

    def document(self, doc_id: str) -> Document | None:
        p = self._locations.get(doc_id)
        return self._parts[p].files.document(doc_id) if p is not None else None

    def text_span(self, doc_id: str, start: int, end: int) -> str:
        p = self._locations.get(doc_id)
        if p is None:
            return ""
        row = self._parts[p].files.db.execute("SELECT substr(text, ?, ?) FROM documents WHERE doc_id = ?",
                                              (start + 1, end - start, doc_id)).fetchone()
        return row[0] if row else ""

    # ---- filters --------------------------------------------------------------------

    def allowed(self, doc_ids: Sequence[str] | None, date_from: str | None, date_to: str | None,
                speakers: Sequence[str] | None) -> np.ndarray | None:
        if doc_ids is None and not date_from and not date_to and speakers is None:
            return None
        if isinstance(doc_ids, str):  # one id, not the characters of one
            doc_ids = [doc_ids]
        if isinstance(speakers, str):  # one name, not its characters
            speakers = [speakers]
        masks = []
        for i, part in enumerate(self._parts):
            mask = self._doc_mask(i, doc_ids, date_from, date_to)
            if speakers is not None:
                by_speaker = self._speaker_mask(part.files, speakers)
                mask = by_speaker if mask is None else mask & by_speaker
            masks.append(mask if mask is not None else np.ones(part.files.n_chunks, dtype=bool))
        allowed = np.concatenate(masks) if masks else np.zeros(0, dtype=bool)
        return allowed & self._live if self._live is not None else allowed

    def _doc_mask(self, i: int, doc_ids: Sequence[str] | None, date_from: str | None, date_to: str | None
                  ) -> np.ndarray | None:
        if doc_ids is None and not date_from and not date_to:
            return None
        files = self._parts[i].files
        published = self._published_by_row(i)
        if doc_ids is None:
            allowed = np.ones(len(published), dtype=bool)
        else:
            allowed = np.zeros(len(published), dtype=bool)
            allowed[self._doc_rows(files, list(dict.fromkeys(doc_ids)))] = True
        if date_from or date_to:
            def in_range(published: str | None) -> bool:
                if not published:
                    return False
                if date_from and published[:len(date_from)] < date_from[:len(published)]:
                    return False
                return not (date_to and published[:len(date_to)] > date_to[:len(published)])
            for row in np.flatnonzero(allowed):
                allowed[row] = in_range(published[row])
        return allowed[files.chunk_docs]  # per chunk: is its document allowed

    @staticmethod
    def _speaker_mask(files: IndexFiles, speakers: Sequence[str]) -> np.ndarray:
        """Per chunk: does its speaker, or one of its sentences' speakers, contain one of
        ``speakers`` (case-insensitive)?"""
        names = [s.strip().lower() for s in speakers if s and s.strip()]
        allowed = np.zeros(files.n_chunks, dtype=bool)
        for name in names:
            # The passage's turn speaker, or any of its sentences attributed to the name (a
            # readout's "President Biden emphasized that ...").
            ids = [r[0] for r in files.db.execute(
                "SELECT id FROM chunks WHERE speaker IS NOT NULL AND instr(lower(speaker), ?) > 0 "
                "UNION SELECT c.id FROM segments s JOIN chunks c ON c.doc_id = s.doc_id "
                "AND s.seq BETWEEN c.first_segment AND c.last_segment "
                "WHERE s.speaker IS NOT NULL AND instr(lower(s.speaker), ?) > 0", (name, name))]
            allowed[np.asarray(ids, dtype=np.int64)] = True
        return allowed

    @staticmethod
    def _doc_rows(files: IndexFiles, doc_ids: list[str]) -> list[int]:
        """Rows (documents.rowid - 1) of the given ids that the part holds."""
        rows: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = doc_ids[i:i + 500]
            rows += [r[0] for r in files.db.execute(
                f"SELECT rowid - 1 FROM documents WHERE doc_id IN ({','.join('?' * len(part))})", part)]
        return rows

    def _published_by_row(self, i: int) -> np.ndarray:
        """Each document's publication date (or None), by row; read on the first filtered search."""
        if self._published[i] is None:
            rows = self._parts[i].files.db.execute("SELECT rowid - 1, published FROM documents").fetchall()
            published = np.empty(len(rows), dtype=object)
            for row, date in rows:
                published[row] = date
            self._published[i] = published
        return self._published[i]  # type: ignore[return-value]

    # ---- dense ----------------------------------------------------------------------

    def dense_top(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        import faiss

        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(-1)
        if n <= 0 or self.n_rows == 0:  # FAISS asserts on k == 0
            return []
        if allowed is None:
            allowed = self._live
        elif self._live is not None:
            allowed = allowed & self._live
        found: list[tuple[int, float]] = []
        with one_thread():
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                for part in self._parts:
                    lo, hi = part.chunk_offset, part.chunk_offset + part.files.n_chunks
                    mask = allowed[lo:hi] if allowed is not None else None
                    if hi == lo or (mask is not None and not mask.any()):
                        continue
                    found += [(lo + c, s) for c, s in self._dense_search(part.files, q, n, mask)]
            finally:
                faiss.omp_set_num_threads(threads)
        if len(self._parts) > 1:
            found.sort(key=lambda cs: (-cs[1], cs[0]))
        return found[:n]

    def _dense_search(self, files: IndexFiles, q: np.ndarray, n: int, mask: np.ndarray | None
                      ) -> list[tuple[int, float]]:
        import faiss

        index = files.faiss
        if mask is None:
            scores, ids = index.search(q[None, :], min(n, files.n_chunks))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return []
        if len(rows) <= self.FILTER_BRUTE_FORCE_MAX:
            sims = np.asarray(files.chunk_vectors()[rows], dtype=np.float32) @ q
            return [(int(rows[j]), float(sims[j])) for j in best(sims, n)]
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        if files.dense_info["type"] == "flat":
            params = faiss.SearchParameters(sel=selector)
        else:
            # The filter removes part of every probed list: probe proportionally more lists.
            nprobe = min(index.nlist, int(np.ceil(index.nprobe * len(mask) / len(rows))))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        scores, ids = index.search(q[None, :], min(n, len(rows)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def chunk_vectors(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for p, pos, local in self._by_part(rows, self._chunk_starts):
            out[pos] = self._parts[p].files.chunk_vectors()[local]
        return out

    def header_vectors(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        for p, pos, local in self._by_part(rows, self._chunk_starts):
            files = self._parts[p].files
            if len(files.header_vectors):
                out[pos] = files.header_vectors[np.asarray(files.chunk_headers[local], dtype=np.int64)]
        return out

    # ---- lexical --------------------------------------------------------------------

    def _scores(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk row's text and of its header field (0 for deleted rows)."""
        key = tuple(tokens)
        with self._lock:
            if key in self._lexical:
                self._lexical.move_to_end(key)
                return self._lexical[key]
        if key and self.n_rows:
            body = np.concatenate([s if s is not None else np.zeros(p.files.n_chunks, dtype=np.float32)
                                   for s, p in zip(self._body.scores(key), self._parts)])
            per_chunk = []
            for s, p in zip(self._headers.scores(key), self._parts):
                per_chunk.append(s[p.files.chunk_headers] if s is not None and s.any()
                                 else np.zeros(p.files.n_chunks, dtype=np.float32))
            header = np.concatenate(per_chunk)
            if self._live is not None:
                body, header = body * self._live, header * self._live
        else:
            body = header = np.zeros(self.n_rows, dtype=np.float32)
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
        return np.array([self._body.df(t) for t in terms], dtype=np.float64)

    # ---- rows -----------------------------------------------------------------------

    def chunks(self, rows: Sequence[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        for p, _, local in self._by_part(rows, self._chunk_starts):
            offset = self._parts[p].chunk_offset
            ids = local.tolist()
            marks = ",".join("?" * len(ids))
            for r in self._parts[p].files.db.execute(
                    f'SELECT c.id, c.doc_id, c.start, c."end", c.page, c.text, d.title, d.source, d.date, c.speaker '
                    f"FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.id IN ({marks})", ids):
                out[offset + r[0]] = ChunkRow(offset + r[0], *r[1:])
        return out

    def sentences_near(self, chunk_rows: Sequence[int], window: int) -> list[SentenceRow]:
        out: list[SentenceRow] = []
        w = int(window)
        for p, _, local in self._by_part(chunk_rows, self._chunk_starts):
            part = self._parts[p]
            ids = local.tolist()
            marks = ",".join("?" * len(ids))
            out += [SentenceRow(part.chunk_offset + r[0], part.sentence_offset + r[1], *r[2:])
                    for r in part.files.db.execute(
                        f'SELECT c.id, s.id, s.doc_id, s.seq, s.start, s."end", c.first_segment, c.last_segment, '
                        f"s.speaker, s.attribution FROM chunks c JOIN segments s ON s.doc_id = c.doc_id "
                        f"AND s.seq BETWEEN c.first_segment - {w} AND c.last_segment + {w} "
                        f"WHERE c.id IN ({marks})", ids)]
        return out

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for p, pos, local in self._by_part(rows, self._sentence_starts):
            out[pos] = self._parts[p].files.segment_vectors[local]
        return out

    def sentence_texts(self, doc_ids: Iterable[str] | None = None) -> Iterator[tuple[int, str]]:
        wanted = None if doc_ids is None else set(doc_ids)
        for i, part in enumerate(self._parts):
            if wanted is None and part.live is None and len(self._parts) == 1:
                docs = None  # every document of the only part: one query
            else:
                docs = [d for d, p in self._locations.items() if p == i and (wanted is None or d in wanted)]
                if not docs:
                    continue
            for j in range(0, len(docs) if docs is not None else 1, 500):
                batch = docs[j:j + 500] if docs is not None else None
                for sid, text in part.files.segment_texts(batch):
                    yield part.sentence_offset + sid, text
