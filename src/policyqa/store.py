"""The index on disk: one immutable folder per build ("generation") and a CURRENT pointer.

    index/
      CURRENT               name of the generation readers open (replaced atomically)
      .lock                 held by the one build allowed at a time
      gen-.../manifest.json what built it: model and weights hash, tokenizer, chunking, schema,
                            and each document's content hash
      gen-.../meta.sqlite   documents (with their text), chunks, segments
      gen-.../chunks.npy    float32 chunk vectors, row = chunk id
      gen-.../segments.npy  float16 sentence vectors, row = segment id (memory-mapped)
      gen-.../dense.faiss   FAISS index over the chunk vectors
      gen-.../bm25/         bm25s index over the chunk texts

A build writes a new generation beside the old one and then swaps CURRENT, so a reader never
sees a half-written index and an interrupted build leaves the previous one in use.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .config import SCHEMA_VERSION, ChunkSettings
from .errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from .schema import Document, DocumentMeta

CURRENT = "CURRENT"
LOCK = ".lock"
MANIFEST = "manifest.json"
DB = "meta.sqlite"
CHUNK_VECTORS = "chunks.npy"
SEGMENT_VECTORS = "segments.npy"
FAISS_FILE = "dense.faiss"
BM25_DIR = "bm25"

_SCHEMA = """
CREATE TABLE documents (
  doc_id TEXT PRIMARY KEY, path TEXT, kind TEXT, content_hash TEXT, title TEXT, author TEXT,
  publisher TEXT, date TEXT, published TEXT, source TEXT, licence TEXT, page_starts TEXT, text TEXT);
CREATE TABLE chunks (
  id INTEGER PRIMARY KEY, doc_id TEXT, start INTEGER, "end" INTEGER, page INTEGER,
  n_tokens INTEGER, first_segment INTEGER, last_segment INTEGER, text TEXT);
CREATE TABLE segments (
  id INTEGER PRIMARY KEY, doc_id TEXT, seq INTEGER, start INTEGER, "end" INTEGER, n_tokens INTEGER);
CREATE INDEX chunks_doc ON chunks(doc_id);
CREATE INDEX segments_doc ON segments(doc_id, seq);
"""


# ---- stemming/tokenising for BM25: shared by writer and reader so queries match the index ----

@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def lexical_tokens(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)  # type: ignore[return-value]


# ---- manifest -------------------------------------------------------------------------

def read_current(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexMissingError(f"no index at {index_dir}: build one with `policyqa index corpus "
                                f"--index {index_dir}`") from None
    gen = index_dir / name
    if not name or not (gen / MANIFEST).is_file():
        raise IndexCorruptError(f"{pointer} names generation {name!r}, which is missing: "
                                "rebuild with `policyqa index --rebuild`")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        return json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable manifest in {gen}: {exc}; rebuild with "
                                "`policyqa index --rebuild`") from exc


def make_manifest(*, model_id: str, weights_sha256: str, dim: int, max_seq_length: int,
                  tokenizer: str, segmenter: str, chunking: ChunkSettings, documents: dict[str, str],
                  roots: list[str], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": {"id": model_id, "weights_sha256": weights_sha256, "dim": dim,
                  "max_seq_length": max_seq_length},
        "tokenizer": tokenizer,
        "segmenter": segmenter,
        "chunking": dict(chunking.__dict__),
        "roots": roots,
        "counts": counts,
        "documents": documents,
    }


def check_compatible(manifest: dict[str, Any], *, weights_sha256: str, model_id: str, tokenizer: str,
                     segmenter: str, chunking: ChunkSettings | None) -> None:
    """Raise IndexMismatchError naming what differs and the fix."""
    problems = []
    if manifest.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema version {manifest.get('schema_version')} (this policyqa writes {SCHEMA_VERSION})")
    model = manifest.get("model", {})
    if model.get("weights_sha256") != weights_sha256:
        problems.append(f"model {model.get('id')} (weights sha256 {str(model.get('weights_sha256'))[:12]}…), "
                        f"not the configured {model_id} ({weights_sha256[:12]}…)")
    if manifest.get("tokenizer") != tokenizer or manifest.get("segmenter") != segmenter:
        problems.append(f"tokenizer {manifest.get('tokenizer')}/{manifest.get('segmenter')}")
    if chunking is not None and manifest.get("chunking") != dict(chunking.__dict__):
        problems.append(f"chunk settings {manifest.get('chunking')}")
    if problems:
        raise IndexMismatchError("index was built with other settings: " + "; ".join(problems)
                                 + ". Rebuild it with `policyqa index --rebuild`, or open it with the "
                                 "model it was built with (--model / POLICYQA_MODEL)")


# ---- writing --------------------------------------------------------------------------

@dataclass
class GenerationData:
    """Everything a generation holds, as plain arrays and rows (built by indexing.py)."""

    documents: list[Document]
    chunk_rows: list[tuple[str, int, int, int | None, int, int, int, str]]  # doc,start,end,page,ntok,first,last,text
    segment_rows: list[tuple[str, int, int, int, int]]  # doc_id, seq, start, end, n_tokens
    chunk_vectors: np.ndarray  # float32 (n_chunks, dim)
    segment_vectors: np.ndarray  # (n_segments, dim), stored as float16
    manifest: dict[str, Any]


def write_generation(index_dir: Path, data: GenerationData) -> Path:
    """Write a complete generation into a fresh folder and return it; CURRENT is not touched."""
    import bm25s
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    gen = index_dir / f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = gen.with_name(gen.name + ".partial")
    tmp.mkdir()
    db = sqlite3.connect(tmp / DB)
    try:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            (d.doc_id, d.path, d.kind, d.content_hash, d.meta.title, d.meta.author, d.meta.publisher,
             d.meta.date, d.meta.published, d.meta.source, d.meta.licence, json.dumps(list(d.page_starts)),
             d.text) for d in data.documents])
        db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                       [(i, *row) for i, row in enumerate(data.chunk_rows)])
        db.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?)",
                       [(i, *row) for i, row in enumerate(data.segment_rows)])
        db.commit()
    finally:
        db.close()
    np.save(tmp / CHUNK_VECTORS, data.chunk_vectors.astype(np.float32))
    np.save(tmp / SEGMENT_VECTORS, data.segment_vectors.astype(np.float16))
    dim = data.manifest["model"]["dim"]
    flat = faiss.IndexFlatIP(dim)
    if len(data.chunk_vectors):
        flat.add(np.ascontiguousarray(data.chunk_vectors, dtype=np.float32))
    faiss.write_index(flat, str(tmp / FAISS_FILE))
    texts = [row[7] for row in data.chunk_rows]
    bm25 = bm25s.BM25()
    if texts:
        bm25.index(lexical_tokens(texts), show_progress=False)
        bm25.save(str(tmp / BM25_DIR))
    (tmp / MANIFEST).write_text(json.dumps(data.manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    _fsync_tree(tmp)
    os.replace(tmp, gen)
    return gen


def publish(index_dir: Path, gen: Path) -> None:
    """Point CURRENT at ``gen`` in one atomic step, then drop generations no reader needs."""
    previous = None
    try:
        previous = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    tmp = index_dir / f"{CURRENT}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(gen.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    # Keep the previous generation: a reader that read CURRENT a moment ago may be opening it.
    keep = {gen.name, previous}
    remove_stale(index_dir, keep)


def remove_stale(index_dir: Path, keep: set[str | None]) -> None:
    """Remove generations and leftovers of interrupted builds, except ``keep``."""
    for entry in index_dir.iterdir():
        if entry.name.startswith("gen-") and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f"{CURRENT}.") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


def _fsync_tree(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            with open(file, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- reading --------------------------------------------------------------------------

class IndexFiles:
    """An opened generation: metadata in SQLite, vectors memory-mapped, FAISS and BM25 loaded."""

    def __init__(self, gen: Path) -> None:
        import faiss

        self.path = gen
        self.manifest = read_manifest(gen)
        try:
            self.db = sqlite3.connect(f"file:{gen / DB}?mode=ro", uri=True, check_same_thread=False)
            # Mapped once at open: a long-lived reader keeps working after a later build deletes
            # this generation's files (the mapping holds them).
            self._chunk_vectors = np.load(gen / CHUNK_VECTORS, mmap_mode="r")
            self.segment_vectors = np.load(gen / SEGMENT_VECTORS, mmap_mode="r")
            self.faiss = faiss.read_index(str(gen / FAISS_FILE), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            self.bm25 = None
            if (gen / BM25_DIR).is_dir():
                import bm25s

                self.bm25 = bm25s.BM25.load(str(gen / BM25_DIR), mmap=True)
            self.n_chunks = int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])
        except (OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
            raise IndexCorruptError(f"index files in {gen} are unreadable ({exc}); rebuild with "
                                    "`policyqa index --rebuild`") from exc

    def close(self) -> None:
        self.db.close()

    def chunk_vectors(self) -> np.ndarray:
        return self._chunk_vectors

    def document(self, doc_id: str) -> Document | None:
        row = self.db.execute(
            "SELECT doc_id, path, kind, content_hash, title, author, publisher, date, published, source,"
            " licence, page_starts, text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        meta = DocumentMeta(title=row[4], author=row[5], publisher=row[6], date=row[7], published=row[8],
                            source=row[9], licence=row[10])
        return Document(doc_id=row[0], path=row[1], kind=row[2], text=row[12], meta=meta,
                        content_hash=row[3], page_starts=tuple(json.loads(row[11] or "[]")))

    def segments_between(self, doc_id: str, start: int, end: int) -> list[tuple[int, int, int]]:
        """(segment id, start, end) of the document's segments lying inside [start, end)."""
        return self.db.execute('SELECT id, start, "end" FROM segments WHERE doc_id = ? AND start >= ? '
                               'AND "end" <= ? ORDER BY seq', (doc_id, start, end)).fetchall()
