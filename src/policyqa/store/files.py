"""The index on disk: immutable parts (Lucene's segments), commits listing them, a CURRENT pointer.

    index/
      CURRENT                  name of the commit readers open (replaced atomically)
      .lock                    held by the one build or merge allowed at a time
      gen-.../manifest.json    a commit: what built the index (model and weights hash, tokenizer,
                               chunking, schema), each live document's content hash and part, and
                               the parts, in order, with their row counts
      gen-.../deleted-<part>.npy  bool per chunk row of that part: rows of documents removed or
                               replaced since the part was written (absent: none deleted)
      part-.../part.json       the part's own counts, documents and dense index description
      part-.../meta.sqlite     documents (with their text), chunks, segments (sentences)
      part-.../chunks.npy      float32 chunk vectors, row = chunk id within the part
      part-.../chunk_docs.npy  int32 per chunk: its document's row in meta.sqlite (rowid - 1)
      part-.../segments.npy    float16 sentence vectors, row = segment id (memory-mapped)
      part-.../dense.faiss     FAISS index over the chunk vectors: exact (IndexFlatIP) below
                               ``ann_threshold`` chunks, else IVF-Flat tuned at build time to a
                               recall@10 of ANN_RECALL against exact search (part.json "dense")
      part-.../lexical/        term postings of the chunk texts (postings.py: raw counts, so BM25
                               is scored with the statistics of the whole index)
      part-.../headers.json    each chunk's contextual header text (title, speaker, publisher, date;
                               ingest/headers.py), one entry per distinct header
      part-.../headers.npy     float32 header vectors, row = header id
      part-.../chunk_headers.npy int32 per chunk: its header id
      part-.../lexical_headers/ term postings of the header texts (a field of its own)

A part is written once and never changed. Adding documents writes one new part; removing or
updating a document marks its rows deleted in the part that holds them (the new version goes
into the new part); merging rewrites several parts' live rows as one. Every change is committed
by writing a new commit folder and swapping CURRENT, so a reader never sees a half-written index
and an interrupted build or merge leaves the previous commit in use.

Readers keep memory flat as the index grows: vectors, FAISS lists and postings are
memory-mapped (pages are read on use and can be dropped by the OS), texts and metadata stay in
SQLite; what is held in RAM per chunk is the 4-byte document row of ``chunk_docs.npy``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .. import lexical
from .postings import Postings, postings_problem, write_postings
from ..config import DEFAULT_ANN_THRESHOLD, SCHEMA_VERSION, ChunkSettings
from ..errors import IndexCorruptError, IndexMismatchError, IndexMissingError, IndexWriteError, PolicyQAError
from ..schema import Document, DocumentMeta, SourceMap, Turn

CURRENT = "CURRENT"
LOCK = ".lock"
MANIFEST = "manifest.json"
DB = "meta.sqlite"
CHUNK_VECTORS = "chunks.npy"
SEGMENT_VECTORS = "segments.npy"
CHUNK_DOCS = "chunk_docs.npy"
FAISS_FILE = "dense.faiss"
LEXICAL_DIR = "lexical"
HEADER_TEXTS = "headers.json"
HEADER_VECTORS = "headers.npy"
CHUNK_HEADERS = "chunk_headers.npy"
HEADER_LEXICAL_DIR = "lexical_headers"
PART_MANIFEST = "part.json"
PART_PREFIX = "part-"
GEN_PREFIX = "gen-"


def deleted_file(part_name: str) -> str:
    """The commit's file marking ``part_name``'s deleted chunk rows."""
    return f"deleted-{part_name}.npy"

ANN_RECALL = 0.99  # recall@10 against exact search that an IVF index is tuned to at build time
ANN_QUERIES = 500  # sentence vectors used as queries to tune it (real embeddings of other texts)
# Questions are harder than the index's own sentences (they are in no chunk; their neighbours
# are only topical): at the nprobe tuned on sentences, the dev set's questions reached 0.98 at
# 100k chunks and 0.955 at 1M (scripts/bench_query.py), 0.995 and 0.992 with three times as
# many lists probed, which costs about 1-2 ms a query at 1M.
ANN_PROBE_MARGIN = 3

_SCHEMA = """
CREATE TABLE documents (
  doc_id TEXT PRIMARY KEY, path TEXT, kind TEXT, content_hash TEXT, title TEXT, author TEXT,
  publisher TEXT, date TEXT, published TEXT, source TEXT, licence TEXT, page_starts TEXT, text TEXT,
  date_source TEXT, turns TEXT, source_map TEXT);
CREATE TABLE chunks (
  id INTEGER PRIMARY KEY, doc_id TEXT, start INTEGER, "end" INTEGER, page INTEGER,
  n_tokens INTEGER, first_segment INTEGER, last_segment INTEGER, text TEXT, speaker TEXT);
CREATE TABLE segments (
  id INTEGER PRIMARY KEY, doc_id TEXT, seq INTEGER, start INTEGER, "end" INTEGER, n_tokens INTEGER,
  speaker TEXT, attribution TEXT);
"""
_INDEXES = """
CREATE INDEX chunks_doc ON chunks(doc_id);
CREATE INDEX segments_doc ON segments(doc_id, seq);
"""


# ---- manifest -------------------------------------------------------------------------

_GENERATION_NAME = re.compile(r"gen-[A-Za-z0-9_-]+")
_PART_NAME = re.compile(r"part-[A-Za-z0-9_-]+")
REBUILD_HINT = "run `policyqa index` to rebuild it"


def check_index_dir(index_dir: Path) -> None:
    """An index location that exists must be a folder (``--index`` naming a file is a mistake)."""
    if os.path.lexists(index_dir) and not index_dir.is_dir():
        raise IndexMissingError(f"{index_dir} is not an index folder (it is a file); "
                                "pass the folder the index is kept in (--index DIR)")


def read_current(index_dir: Path) -> Path:
    """The generation CURRENT names; IndexCorruptError when CURRENT is not a plain file naming
    an existing generation (garbage bytes, a folder, a missing or half-written generation)."""
    check_index_dir(index_dir)
    pointer = index_dir / CURRENT
    try:
        with open(pointer, "rb") as fh:
            raw = fh.read(256)
        name = raw.decode("utf-8").strip()
    except FileNotFoundError:
        raise IndexMissingError(f"no index at {index_dir}: build one with `policyqa index corpus "
                                f"--index {index_dir}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{pointer} is unreadable ({type(exc).__name__}: "
                                f"{getattr(exc, 'strerror', None) or exc}); {REBUILD_HINT}") from None
    gen = index_dir / name
    if not _GENERATION_NAME.fullmatch(name) or not (gen / MANIFEST).is_file():
        from ..sanitize import printable

        raise IndexCorruptError(f"{pointer} names generation {printable(name)[:80]!r}, which is missing; "
                                f"{REBUILD_HINT}")
    return gen


def part_paths(index_dir: Path) -> list[Path]:
    """The folders of the current commit's parts, in order (diagnostics, scripts and tests)."""
    gen = read_current(index_dir)
    return [index_dir / e["name"] for e in read_manifest(gen).get("parts", [])]


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable manifest in {gen}: {exc}; {REBUILD_HINT}") from exc
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexCorruptError(f"manifest in {gen} is damaged ({problem}); {REBUILD_HINT}")
    return manifest


def _manifest_problem(m: object) -> str | None:
    """What is wrong with the manifest's shape, or None."""
    if not isinstance(m, dict):
        return f"a JSON {type(m).__name__}, not an object"
    model, counts, documents = m.get("model"), m.get("counts"), m.get("documents")
    if not isinstance(model, dict) or not isinstance(model.get("dim"), int) or model["dim"] <= 0 \
            or not isinstance(model.get("weights_sha256"), str) or not isinstance(model.get("id"), str):
        return "no valid model entry"
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) and counts[k] >= 0
                                               for k in ("documents", "chunks", "segments")):
        return "no valid counts"
    if not isinstance(documents, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in documents.items()):
        return "no valid document list"
    if len(documents) != counts["documents"]:
        return f"{len(documents)} documents listed, counts say {counts['documents']}"
    if m.get("schema_version") != SCHEMA_VERSION:
        return None  # an older layout: check_compatible says so, and a build rebuilds it
    parts = m.get("parts")
    if not isinstance(parts, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) and _PART_NAME.fullmatch(p["name"])
            and all(isinstance(p.get(k), int) and p[k] >= 0
                    for k in ("chunks", "sentences", "deleted", "deleted_sentences"))
            for p in parts):
        return "no valid part list"
    locations = m.get("locations")
    names = {p["name"] for p in parts}
    if not isinstance(locations, dict) or set(locations) != set(documents) \
            or not all(v in names for v in locations.values()):
        return "no valid document locations"
    return None


def validate_generation(gen: Path, manifest: dict[str, Any], *, full_check_mb: float = 256.0) -> None:
    """Cheap checks that a commit's parts are all there and as large as their manifests say,
    without importing FAISS: .npy headers and sizes, the FAISS file's size, the postings, SQLite
    row counts (and ``PRAGMA quick_check`` when a database is under ``full_check_mb``), the
    deletion files. Raises IndexCorruptError naming the first problem."""
    def bad(what: str) -> IndexCorruptError:
        return IndexCorruptError(f"index generation {gen.name} is damaged: {what}; {REBUILD_HINT}")

    dim = manifest["model"]["dim"]
    for entry in manifest["parts"]:
        part = gen.parent / entry["name"]
        problem = part_problem(part, dim, full_check_mb=full_check_mb)
        if problem:
            raise bad(f"part {entry['name']}: {problem}")
        counts = read_part_manifest(part)["counts"]
        if counts["chunks"] != entry["chunks"] or counts["segments"] != entry["sentences"]:
            raise bad(f"part {entry['name']} holds {counts}, the commit says {entry}")
        if entry["deleted"]:
            problem = _npy_problem(gen / deleted_file(entry["name"]), (entry["chunks"],), np.dtype(bool))
            if problem:
                raise bad(f"{deleted_file(entry['name'])}: {problem}")


def read_part_manifest(part: Path) -> dict[str, Any]:
    """A part's own manifest (counts, documents, dense index); IndexCorruptError when unreadable."""
    try:
        m = json.loads((part / PART_MANIFEST).read_text(encoding="utf-8"))
        counts = m["counts"]
        if not all(isinstance(counts.get(k), int) and counts[k] >= 0 for k in ("documents", "chunks", "segments")):
            raise ValueError("no valid counts")
        if not (isinstance(m.get("dense"), dict) and m["dense"].get("type") in ("flat", "ivf-flat")):
            raise ValueError("no valid dense index entry")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorruptError(f"part {part.name} has no readable {PART_MANIFEST} ({exc}); {REBUILD_HINT}") from None
    return m


def part_problem(part: Path, dim: int, *, full_check_mb: float = 256.0) -> str | None:
    """What is wrong with a part's files, or None (see ``validate_generation``)."""
    try:
        counts = read_part_manifest(part)["counts"]
    except IndexCorruptError as exc:
        return str(exc)
    n_chunks, n_segments = counts["chunks"], counts["segments"]
    try:
        headers = json.loads((part / HEADER_TEXTS).read_text(encoding="utf-8"))
        if not isinstance(headers, list):
            raise ValueError("not a list")
    except (OSError, ValueError) as exc:
        return f"{HEADER_TEXTS}: {exc}"
    for name, rows, cols, dtype in ((CHUNK_VECTORS, n_chunks, dim, np.float32),
                                    (SEGMENT_VECTORS, n_segments, dim, np.float16),
                                    (CHUNK_DOCS, n_chunks, None, np.int32),
                                    (CHUNK_HEADERS, n_chunks, None, np.int32),
                                    (HEADER_VECTORS, len(headers), dim, np.float32)):
        shape = (rows, cols) if cols is not None else (rows,)
        problem = _npy_problem(part / name, shape, np.dtype(dtype))
        if problem:
            return f"{name}: {problem}"
    try:
        size = (part / FAISS_FILE).stat().st_size
    except OSError as exc:
        return f"{FAISS_FILE}: {exc.strerror or exc}"
    with open(part / FAISS_FILE, "rb") as fh:
        magic = fh.read(4)
    if magic not in (b"IxFI", b"IwFl", b"IwF2", b"IvFl") or size < n_chunks * dim * 4:
        return f"{FAISS_FILE}: {size} bytes, too small or not a FAISS index for {n_chunks} vectors"
    for what, folder, n in (("lexical index", part / LEXICAL_DIR, n_chunks),
                            ("header field's lexical index", part / HEADER_LEXICAL_DIR, len(headers))):
        problem = postings_problem(folder, n) if n else None
        if problem:
            return f"{what}: {problem}"
    try:
        db = sqlite3.connect(f"file:{part / DB}?mode=ro", uri=True)
        try:
            if (part / DB).stat().st_size <= full_check_mb * 1024 * 1024:
                result = db.execute("PRAGMA quick_check").fetchone()
                if not result or result[0] != "ok":
                    return f"{DB}: {result[0] if result else 'quick_check failed'}"
            found = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("documents", "chunks", "segments")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"{DB}: {exc}"
    expected = {"documents": counts["documents"], "chunks": n_chunks, "segments": n_segments}
    if found != expected:
        return f"{DB} holds {found}, the part's manifest says {expected}"
    return None


def _npy_problem(path: Path, shape: tuple[int, ...] | None, dtype: np.dtype | None) -> str | None:
    """Why ``path`` is not a complete .npy of ``shape``/``dtype`` (None: any), or None."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)(fh)
            offset = fh.tell()
        size = path.stat().st_size
    except OSError as exc:
        return exc.strerror or str(exc)
    except Exception as exc:  # not an .npy header
        return f"not a numpy array file ({exc})"
    got_shape, _, got_dtype = header
    if shape is not None and tuple(got_shape) != shape:
        return f"shape {tuple(got_shape)}, expected {shape}"
    if dtype is not None and got_dtype != dtype:
        return f"type {got_dtype}, expected {dtype}"
    need = offset + int(np.prod(got_shape)) * got_dtype.itemsize
    if size != need:
        return f"{size} bytes, expected {need} (truncated?)"
    return None


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
    # doc,start,end,page,ntok,first,last,text[,speaker]: the speaker may be left off (None)
    chunk_rows: list[tuple]
    segment_rows: list[tuple]  # doc_id, seq, start, end, n_tokens[, speaker[, how it was attributed]]
    chunk_vectors: np.ndarray  # float32 (n_chunks, dim)
    segment_vectors: np.ndarray  # (n_segments, dim), stored as float16
    manifest: dict[str, Any]
    # Contextual headers (headers.py): distinct texts, their vectors, and each chunk's header id.
    header_texts: list[str] = field(default_factory=list)
    header_vectors: np.ndarray | None = None  # float32 (n_headers, dim)
    chunk_headers: np.ndarray | None = None  # int32 (n_chunks,)


PARTIAL = ".partial"


def write_generation(index_dir: Path, data: GenerationData, *, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> Path:
    """A complete index of one part holding ``data``, committed under a new generation folder
    (CURRENT is not touched: ``publish`` it). ``data.manifest`` is the commit's manifest."""
    part = write_part(index_dir, data, ann_threshold=ann_threshold)
    try:
        return write_commit(index_dir, data.manifest, [part], {},
                            locations={d.doc_id: part.name for d in data.documents})
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise


def write_part(index_dir: Path, data: GenerationData, *, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> Path:
    """Write an immutable part holding ``data`` into a fresh folder and return it.

    The vectors may be memory-mapped arrays (they are copied in blocks); the dense index is
    exact below ``ann_threshold`` chunks and IVF from there (``build_dense``): small parts never
    train an IVF index.

    Any failure to write (a full disk, a read-only folder) removes the half-written folder and
    raises IndexWriteError; nothing else is touched. Files are written with plain writes, never
    through a writable memory map (where a full disk is a SIGBUS, not an error).
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    part = index_dir / f"{PART_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    return _write_folder(index_dir, part, lambda tmp: _write_files(tmp, data, ann_threshold))


@dataclass(frozen=True)
class Deleted:
    """A part's chunk rows deleted since it was written, and how many sentences they hold."""

    chunks: np.ndarray  # bool per chunk row of the part
    sentences: int


def write_commit(index_dir: Path, manifest: dict[str, Any], parts: list[Path], deleted: dict[str, Deleted],
                 *, locations: dict[str, str]) -> Path:
    """A commit (a generation folder) listing ``parts`` in order, with their deletions, and
    ``manifest`` (model, settings, each live document's content hash); ``locations`` names each
    live document's part. CURRENT is not touched: ``publish`` it."""
    entries, chunks, sentences = [], 0, 0
    for part in parts:
        counts = read_part_manifest(part)["counts"]
        gone = deleted.get(part.name)
        n_deleted = int(np.count_nonzero(gone.chunks)) if gone is not None else 0
        entries.append({"name": part.name, "chunks": counts["chunks"], "sentences": counts["segments"],
                        "documents": counts["documents"], "deleted": n_deleted,
                        "deleted_sentences": gone.sentences if gone is not None and n_deleted else 0})
        chunks += counts["chunks"] - n_deleted
        sentences += counts["segments"] - (gone.sentences if gone is not None else 0)
    full = {**manifest, "parts": entries, "locations": dict(sorted(locations.items())),
            "counts": {"documents": len(manifest["documents"]), "chunks": chunks, "segments": sentences}}
    problem = _manifest_problem(full)
    if problem:
        raise ValueError(f"inconsistent commit: {problem}")
    gen = index_dir / f"{GEN_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"

    def write(tmp: Path) -> None:
        for name, gone in deleted.items():
            if np.count_nonzero(gone.chunks):
                np.save(tmp / deleted_file(name), np.asarray(gone.chunks, dtype=bool))
        (tmp / MANIFEST).write_text(json.dumps(full, indent=1, ensure_ascii=False), encoding="utf-8")

    return _write_folder(index_dir, gen, write)


def _write_folder(index_dir: Path, final: Path, write) -> Path:  # type: ignore[no-untyped-def]
    """Write into ``final``.partial, fsync it, rename it to ``final``; on any failure remove it
    and raise IndexWriteError (or the PolicyQAError raised)."""
    tmp = final.with_name(final.name + PARTIAL)
    try:
        tmp.mkdir()
        write(tmp)
        _fsync_tree(tmp)
        os.replace(tmp, final)
        _fsync_dir(index_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, PolicyQAError) or not isinstance(exc, Exception):
            raise
        raise write_error(index_dir, exc) from exc
    return final


def write_error(index_dir: Path, exc: BaseException) -> IndexWriteError:
    """One message for every way writing an index fails (OSError, SQLite's, FAISS's)."""
    text = getattr(exc, "strerror", None) or str(exc)
    full = (getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc)
            or "disk is full" in str(exc) or "disk full" in str(exc).lower())
    what = "the disk is full" if full else f"{type(exc).__name__}: {text}"
    return IndexWriteError(f"cannot write the new index in {index_dir}: {what}; "
                           "the previous index stays in use" + ("; free some space and run `policyqa index` "
                                                                 "again" if full else ""))


def remove_partials(index_dir: Path) -> None:
    """Remove half-written parts and commits left by builds that crashed (call under the lock)."""
    try:
        entries = list(index_dir.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith((GEN_PREFIX, PART_PREFIX)) and entry.name.endswith(PARTIAL):
            shutil.rmtree(entry, ignore_errors=True)


def _write_files(tmp: Path, data: GenerationData, ann_threshold: int) -> None:
    import faiss

    seconds: dict[str, float] = {}  # where a build's writing time goes, kept in the manifest
    clock = time.perf_counter()
    db = sqlite3.connect(tmp / DB)
    try:
        # A fresh file in a folder nobody reads until it is complete and fsynced (below): no journal.
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            (d.doc_id, d.path, d.kind, d.content_hash, d.meta.title, d.meta.author, d.meta.publisher,
             d.meta.date, d.meta.published, d.meta.source, d.meta.licence, json.dumps(list(d.page_starts)),
             d.text, d.meta.date_source, _turns_json(d.turns),
             json.dumps(d.source_map.to_json(), separators=(",", ":")) if d.source_map else None)
            for d in data.documents))
        db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                       ((i, *row[:8], row[8] if len(row) > 8 else None) for i, row in enumerate(data.chunk_rows)))
        db.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?)",
                       ((i, *row[:5], row[5] if len(row) > 5 else None, row[6] if len(row) > 6 else None)
                        for i, row in enumerate(data.segment_rows)))
        db.executescript(_INDEXES)  # after the rows: one sort instead of millions of index updates
        db.commit()
    finally:
        db.close()
    seconds["sqlite"], clock = time.perf_counter() - clock, time.perf_counter()
    dim = int(data.chunk_vectors.shape[1]) if data.chunk_vectors.ndim == 2 else data.manifest["model"]["dim"]
    _save_npy(tmp / CHUNK_VECTORS, data.chunk_vectors, np.float32, dim)
    _save_npy(tmp / SEGMENT_VECTORS, data.segment_vectors, np.float16, dim)
    doc_row = {d.doc_id: i for i, d in enumerate(data.documents)}  # = documents.rowid - 1
    np.save(tmp / CHUNK_DOCS, np.fromiter((doc_row[r[0]] for r in data.chunk_rows), dtype=np.int32,
                                          count=len(data.chunk_rows)))
    seconds["vectors"], clock = time.perf_counter() - clock, time.perf_counter()
    chunk_vectors = np.load(tmp / CHUNK_VECTORS, mmap_mode="r")
    dense, dense_info = build_dense(chunk_vectors, data.segment_vectors, dim, ann_threshold)
    faiss.write_index(dense, str(tmp / FAISS_FILE))
    del dense, chunk_vectors
    seconds["dense"], clock = time.perf_counter() - clock, time.perf_counter()
    write_postings(tmp / LEXICAL_DIR, lexical.tokens([row[7] for row in data.chunk_rows]))
    _write_headers(tmp, data, dim)
    seconds["lexical"] = time.perf_counter() - clock
    manifest = {"counts": {"documents": len(data.documents), "chunks": len(data.chunk_rows),
                           "segments": len(data.segment_rows)},
                "dim": dim, "dense": dense_info, "documents": sorted(d.doc_id for d in data.documents),
                "write_seconds": {k: round(v, 2) for k, v in seconds.items()}}
    (tmp / PART_MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")


def _write_headers(tmp: Path, data: GenerationData, dim: int) -> None:
    """The chunks' contextual headers: texts, vectors, per-chunk ids and their own lexical field."""
    n = len(data.chunk_rows)
    chunk_headers = data.chunk_headers if data.chunk_headers is not None else np.zeros(n, dtype=np.int32)
    vectors = data.header_vectors if data.header_vectors is not None else np.zeros((0, dim), dtype=np.float32)
    if len(chunk_headers) != n or (n and int(chunk_headers.max()) >= len(data.header_texts)) \
            or len(vectors) != len(data.header_texts):
        raise ValueError("every chunk needs a header, and every header a vector")
    (tmp / HEADER_TEXTS).write_text(json.dumps(data.header_texts, ensure_ascii=False), encoding="utf-8")
    np.save(tmp / HEADER_VECTORS, np.asarray(vectors, dtype=np.float32).reshape(-1, dim))
    np.save(tmp / CHUNK_HEADERS, np.asarray(chunk_headers, dtype=np.int32))
    write_postings(tmp / HEADER_LEXICAL_DIR, lexical.tokens(data.header_texts))


def _turns_json(turns: tuple[Turn, ...]) -> str | None:
    return json.dumps([[t.start, t.end, t.speaker] for t in turns], ensure_ascii=False) if turns else None


def _save_npy(path: Path, array: np.ndarray, dtype: type, dim: int) -> None:
    """``array`` as a .npy of ``dtype``, converted in blocks (it may be a large memory map)."""
    if len(array) == 0:
        np.save(path, np.zeros((0, dim), dtype=dtype))
        return
    if type(array) is np.ndarray and array.dtype == dtype:
        np.save(path, array)
        return
    # Plain writes, block by block (not a writable memory map: on a full disk its pages fail
    # with SIGBUS when flushed instead of an error we can report).
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": (len(array), dim)})
        for i in range(0, len(array), 65536):
            fh.write(np.ascontiguousarray(array[i:i + 65536], dtype=dtype).tobytes())


def build_dense(vectors: np.ndarray, queries: np.ndarray, dim: int,
                ann_threshold: int = DEFAULT_ANN_THRESHOLD):  # type: ignore[no-untyped-def]
    """The FAISS index over ``vectors`` (normalised, inner product) and its manifest entry.

    Below ``ann_threshold`` rows: IndexFlatIP, exact. From there: IVF-Flat with about 4*sqrt(n)
    lists, trained on a sample; ``nprobe`` is ANN_PROBE_MARGIN times the smallest number of lists
    whose recall@10 against exact search reaches ANN_RECALL on up to ANN_QUERIES rows of
    ``queries`` (sentence vectors: real embeddings of texts other than the chunks).
    """
    import faiss

    n = len(vectors)
    if n < max(1, ann_threshold):
        flat = faiss.IndexFlatIP(dim)
        for i in range(0, n, 65536):
            flat.add(np.ascontiguousarray(vectors[i:i + 65536], dtype=np.float32))
        return flat, {"type": "flat", "exact": True}

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    # Enough points per list for k-means (faiss warns below 39) without training on millions.
    nlist = int(max(1, min(round(4 * np.sqrt(n)), n // 39)))
    sample = np.sort(rng.choice(n, size=min(n, 50 * nlist), replace=False))
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = 10
    ivf.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for i in range(0, n, 65536):
        ivf.add(np.ascontiguousarray(vectors[i:i + 65536], dtype=np.float32))

    # Tune nprobe on query-like vectors against exact search over the same rows.
    pool = queries if len(queries) >= 50 else vectors
    picks = np.sort(rng.choice(len(pool), size=min(len(pool), ANN_QUERIES), replace=False))
    q = np.ascontiguousarray(pool[picks], dtype=np.float32)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    k = min(10, n)
    exact = np.empty((len(q), k), dtype=np.int64)
    for i in range(0, len(q), 128):  # exact top-k, in blocks of queries (one pass over vectors each)
        exact[i:i + 128] = _exact_topk(vectors, q[i:i + 128], k)

    def recall(nprobe: int) -> float:
        ivf.nprobe = nprobe
        _, found = ivf.search(q, k)
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact)]))

    lo, hi = 0, 1  # recall(lo) < target (lo = 0: none probed), find the smallest hi reaching it
    while hi < nlist and recall(hi) < ANN_RECALL:
        lo, hi = hi, min(nlist, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if recall(mid) >= ANN_RECALL else (mid, hi)
    tuned = hi
    nprobe = min(nlist, ANN_PROBE_MARGIN * tuned)
    reached = recall(nprobe)
    return ivf, {"type": "ivf-flat", "exact": False, "nlist": nlist, "nprobe": nprobe, "nprobe_tuned": tuned,
                 "train_rows": len(sample), "tuned_on": len(q), "recall_at_10": round(reached, 4),
                 "target_recall_at_10": ANN_RECALL, "seconds": round(time.perf_counter() - started, 1)}


def _exact_topk(vectors: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k ids of each row of ``q``, streaming over ``vectors`` in blocks."""
    best_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(q), k), -1, dtype=np.int64)
    for i in range(0, len(vectors), 262144):
        sims = q @ np.asarray(vectors[i:i + 262144], dtype=np.float32).T
        kk = min(k, sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(sims, top, 1)], axis=1)
        cand_i = np.concatenate([best_i, top + i], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
    return best_i


def publish(index_dir: Path, gen: Path) -> None:
    """Point CURRENT at ``gen`` in one atomic step, then drop generations no reader needs."""
    previous = None
    try:
        previous = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        pass
    tmp = index_dir / f"{CURRENT}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(gen.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if (index_dir / CURRENT).is_dir() and not (index_dir / CURRENT).is_symlink():
            shutil.rmtree(index_dir / CURRENT)  # a damaged index: CURRENT made a folder
        os.replace(tmp, index_dir / CURRENT)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(index_dir, exc) from exc
    _fsync_dir(index_dir)
    # Keep the previous commit (and its parts): a reader that read CURRENT a moment ago may be
    # opening it.
    keep = {gen.name, previous}
    remove_stale(index_dir, keep)


def remove_stale(index_dir: Path, keep: set[str | None]) -> None:
    """Remove commits other than ``keep``, parts none of those commits lists, and leftovers of
    interrupted builds. Call under the build lock (no build is writing a part meanwhile)."""
    live_parts: set[str] = set()
    for name in keep:
        if not name:
            continue
        try:
            live_parts |= {p["name"] for p in read_manifest(index_dir / name).get("parts", [])}
        except (IndexCorruptError, OSError, TypeError, KeyError):
            if (index_dir / name).exists():
                return  # a kept commit we cannot read: remove nothing it might need
    for entry in index_dir.iterdir():
        if entry.name.startswith(GEN_PREFIX) and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(PART_PREFIX) and entry.name not in live_parts:
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

class _GuardedDB:
    """The generation's SQLite connection; a damaged database raises IndexCorruptError (with
    the fix) from any query, not sqlite3.DatabaseError from deep inside a search."""

    def __init__(self, conn: sqlite3.Connection, gen: Path) -> None:
        self._conn = conn
        self._gen = gen

    def _error(self, exc: sqlite3.Error) -> IndexCorruptError:
        return IndexCorruptError(f"{self._gen / DB} is damaged ({exc}); {REBUILD_HINT}")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> "_GuardedCursor":
        try:
            return _GuardedCursor(self._conn.execute(sql, tuple(params)), self)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        self._conn.close()


class _GuardedCursor:
    def __init__(self, cursor: sqlite3.Cursor, db: _GuardedDB) -> None:
        self._cursor, self._db = cursor, db

    def _guard(self, fetch):  # type: ignore[no-untyped-def]
        try:
            return fetch()
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.Error as exc:
            raise self._db._error(exc) from exc

    def fetchone(self) -> Any:
        return self._guard(self._cursor.fetchone)

    def fetchall(self) -> list[Any]:
        return self._guard(self._cursor.fetchall)

    def __iter__(self) -> "_GuardedCursor":
        return self

    def __next__(self) -> Any:
        return self._guard(lambda: next(self._cursor))


class IndexFiles:
    """An opened part: metadata in SQLite, vectors memory-mapped, FAISS and postings loaded."""

    def __init__(self, gen: Path, dim: int) -> None:
        import faiss

        self.path = gen
        self.manifest = read_part_manifest(gen)
        self.db: _GuardedDB | None = None
        counts = self.manifest["counts"]
        try:
            if not (gen / DB).is_file():
                raise FileNotFoundError(f"{DB} is missing")
            self.db = _GuardedDB(sqlite3.connect(f"file:{gen / DB}?mode=ro", uri=True, check_same_thread=False),
                                 gen)
            # Mapped once at open: a long-lived reader keeps working after a later build deletes
            # this generation's files (the mapping holds them).
            # Plain array views of the maps: numpy.memmap's own indexing costs microseconds a call.
            self._chunk_vectors = np.load(gen / CHUNK_VECTORS, mmap_mode="r").view(np.ndarray)
            self.segment_vectors = np.load(gen / SEGMENT_VECTORS, mmap_mode="r").view(np.ndarray)
            # The dense index is mapped, not read: an exact index's vectors (IO_FLAG_MMAP_IFC) and
            # an IVF index's lists (IO_FLAG_MMAP) are paged in as searches touch them.
            self.dense_info: dict[str, Any] = self.manifest["dense"]
            ivf = self.dense_info["type"] != "flat"
            flags = faiss.IO_FLAG_READ_ONLY | (faiss.IO_FLAG_MMAP if ivf else faiss.IO_FLAG_MMAP_IFC)
            self.faiss = faiss.read_index(str(gen / FAISS_FILE), flags)
            if ivf:
                self.faiss.nprobe = int(self.dense_info["nprobe"])
                # Mapped lists prefetch with 32 new threads on every search by default: 8 ms a
                # query here, against under 1 ms to scan the lists themselves.
                faiss.downcast_InvertedLists(self.faiss.invlists).prefetch_nthread = 0
            self.chunk_docs = np.load(gen / CHUNK_DOCS, mmap_mode="r")
            self.n_chunks = len(self._chunk_vectors)
            self.lexical: Postings | None = None
            if self.n_chunks:
                # Required: without it search would quietly be dense-only.
                if not (gen / LEXICAL_DIR).is_dir():
                    raise FileNotFoundError("the lexical (BM25) index is missing")
                self.lexical = Postings(gen / LEXICAL_DIR)
            self.header_texts: list[str] = json.loads((gen / HEADER_TEXTS).read_text(encoding="utf-8"))
            self.header_vectors = np.load(gen / HEADER_VECTORS).astype(np.float32, copy=False)
            self.chunk_headers = np.load(gen / CHUNK_HEADERS, mmap_mode="r").view(np.ndarray)
            self.header_lexical: Postings | None = None
            if self.header_texts:
                self.header_lexical = Postings(gen / HEADER_LEXICAL_DIR)
            problem = self._shape_problem(counts, dim)
            if problem:
                raise ValueError(problem)
            self.db.execute("SELECT count(*) FROM documents").fetchone()  # "file is not a database"
        except PolicyQAError:
            self.close()
            raise
        except Exception as exc:  # numpy, FAISS, JSON and SQLite each fail their own way on damaged files
            self.close()
            raise IndexCorruptError(f"index files in {gen} are damaged or unreadable ({type(exc).__name__}: "
                                    f"{exc}); {REBUILD_HINT}") from exc

    def _shape_problem(self, counts: dict[str, int], dim: int) -> str | None:
        n = counts["chunks"]
        if self._chunk_vectors.shape != (n, dim):
            return f"{CHUNK_VECTORS} has shape {self._chunk_vectors.shape}, the manifest says ({n}, {dim})"
        if self.segment_vectors.shape != (counts["segments"], dim):
            return f"{SEGMENT_VECTORS} has shape {self.segment_vectors.shape}, expected ({counts['segments']}, {dim})"
        if len(self.chunk_docs) != n:
            return f"{CHUNK_DOCS} has {len(self.chunk_docs)} rows, expected {n}"
        if self.faiss.ntotal != n or self.faiss.d != dim:
            return f"{FAISS_FILE} holds {self.faiss.ntotal} vectors of {self.faiss.d}, expected {n} of {dim}"
        if self.lexical is not None and self.lexical.n_rows != n:
            return f"the lexical index covers {self.lexical.n_rows} passages, expected {n}"
        if len(self.chunk_headers) != n:
            return f"{CHUNK_HEADERS} has {len(self.chunk_headers)} rows, expected {n}"
        if self.header_vectors.shape != (len(self.header_texts), dim):
            return f"{HEADER_VECTORS} has shape {self.header_vectors.shape}, expected ({len(self.header_texts)}, {dim})"
        if n and int(self.chunk_headers.max()) >= len(self.header_texts):
            return f"{CHUNK_HEADERS} names a header that {HEADER_TEXTS} does not hold"
        if self.header_lexical is not None and self.header_lexical.n_rows != len(self.header_texts):
            return f"the header field's lexical index covers {self.header_lexical.n_rows} headers"
        return None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def chunk_vectors(self) -> np.ndarray:
        return self._chunk_vectors

    def document(self, doc_id: str) -> Document | None:
        row = self.db.execute(
            "SELECT doc_id, path, kind, content_hash, title, author, publisher, date, published, source,"
            " licence, page_starts, text, date_source, turns, source_map FROM documents WHERE doc_id = ?",
            (doc_id,)).fetchone()
        if row is None:
            return None
        meta = DocumentMeta(title=row[4], author=row[5], publisher=row[6], date=row[7], published=row[8],
                            source=row[9], licence=row[10], date_source=row[13])
        return Document(doc_id=row[0], path=row[1], kind=row[2], text=row[12], meta=meta,
                        content_hash=row[3], page_starts=tuple(json.loads(row[11] or "[]")),
                        turns=tuple(Turn(s, e, sp) for s, e, sp in json.loads(row[14] or "[]")),
                        source_map=SourceMap.from_json(json.loads(row[15]) if row[15] else None))

    def segment_texts(self, doc_ids: Iterable[str] | None = None) -> list[tuple[int, str]]:
        """(segment id, text) of every segment (of ``doc_ids`` if given), by id: the sentence texts
        a build embedded."""
        sql = 'SELECT s.id, substr(d.text, s.start + 1, s."end" - s.start) FROM segments s JOIN documents d USING (doc_id)'
        if doc_ids is None:
            return self.db.execute(sql + " ORDER BY s.id").fetchall()
        ids = tuple(doc_ids)
        return self.db.execute(sql + f" WHERE s.doc_id IN ({','.join('?' * len(ids))}) ORDER BY s.id", ids).fetchall()

    def segments_between(self, doc_id: str, start: int, end: int) -> list[tuple[int, int, int]]:
        """(segment id, start, end) of the document's segments lying inside [start, end)."""
        return self.db.execute('SELECT id, start, "end" FROM segments WHERE doc_id = ? AND start >= ? '
                               'AND "end" <= ? ORDER BY seq', (doc_id, start, end)).fetchall()
