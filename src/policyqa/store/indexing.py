"""The rebuild use case: corpus files -> a new index generation, embedding only what changed."""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import files as store
from ..ingest.chunking import TOKENIZER_NAME, TokenCounter, chunk, segment
from ..config import Settings
from ..ingest.documents import iter_corpus_files, load_document, read_file
from ..embedding import Embedder
from ..errors import DocumentError, IndexBusyError, IndexCorruptError, IndexMissingError
from ..ingest.attribution import ATTRIBUTION_VERSION, attribute_document, turn_speakers
from ..ingest.headers import header_text
from ..sanitize import printable
from ..schema import Document, FailedFile, IndexReport

# Names the sentence-splitting and chunk-packing code; bump it when boundaries change so that
# existing indexes are rebuilt instead of mixing old and new boundaries.
# v3: Markdown wraps joined by the reader, chunks within one speaker turn; the attribution rules
# version too, so that changed rules re-attribute every sentence.
SEGMENTER = f"pysbd-0.3+lines-v3+attribution-{ATTRIBUTION_VERSION}"
# Settings(attribution=False): the same sentences and chunks, speakers from turns only (evaluation).
SEGMENTER_TURNS_ONLY = "pysbd-0.3+lines-v3+turns-only"


def segmenter_for(settings: Settings) -> str:
    return SEGMENTER if settings.attribution else SEGMENTER_TURNS_ONLY


def build_index(paths: str | Path | list[str | Path] | None = None, index_dir: str | Path | None = None, *,
                settings: Settings | None = None, rebuild: bool = False, progress: bool = False,
                wait: float = 0.0, embedder: Embedder | None = None) -> IndexReport:
    """Bring the index at ``index_dir`` in line with the files under ``paths``.

    New files are added, changed ones re-chunked (only chunks whose text changed are re-embedded),
    files no longer present are removed; unchanged files cost a hash. A file that cannot be read is
    reported in ``IndexReport.failed`` and, if an earlier version was indexed, that version stays.
    The new index replaces the old one atomically; if the build is interrupted the old one stays.
    """
    settings = settings or Settings()
    roots = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths or [settings.corpus_dir])]
    index_dir = Path(index_dir) if index_dir is not None else settings.index_dir
    store.check_index_dir(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise store.write_error(index_dir, exc) from None

    from filelock import FileLock, Timeout

    lock = FileLock(str(index_dir / store.LOCK))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise IndexBusyError(f"another build is running on {index_dir} (it holds {index_dir / store.LOCK}); "
                             "wait for it to finish, or pass --wait SECONDS") from None
    except OSError as exc:
        raise store.write_error(index_dir, exc) from None
    try:
        store.remove_partials(index_dir)  # left by builds that crashed or were killed
        try:
            return _build(roots, index_dir, settings, rebuild, progress, embedder)
        except IndexCorruptError as exc:
            if rebuild:
                raise
            # The previous generation turned out damaged while its vectors were being reused.
            return _build(roots, index_dir, settings, True, progress, embedder,
                          note=f"the index was damaged ({exc}); everything was re-embedded")
    finally:
        lock.release()


def _build(roots: list[Path], index_dir: Path, settings: Settings, rebuild: bool, progress: bool,
           embedder: Embedder | None, note: str | None = None) -> IndexReport:
    started = time.perf_counter()
    embedder = embedder or Embedder(settings.model_path)
    # Only the manifest is read until something has changed: a no-change run opens no vectors,
    # FAISS or BM25 (importing those alone costs more than hashing a thousand files).
    old_gen: Path | None = None
    manifest: dict | None = None
    rebuilt_because = note
    if not rebuild:
        try:
            old_gen = store.read_current(index_dir)
            manifest = store.read_manifest(old_gen)
            if not _built_by_older_code(manifest, settings):
                # Cheap (no FAISS or bm25s import): damage means a rebuild, never "index unchanged".
                store.validate_generation(old_gen, manifest)
        except IndexMissingError:
            old_gen = manifest = None
        except IndexCorruptError as exc:
            old_gen = manifest = None
            rebuilt_because = f"the index was damaged ({exc}); everything was re-embedded"
    if manifest is not None and _built_by_older_code(manifest, settings):
        # Our own segmenter or layout changed: nothing the user chose differs, so rebuild rather
        # than make every upgrade fail. (Another model or chunk setting still raises below.)
        rebuilt_because = (f"index was built by an older policyqa (segmenter {manifest.get('segmenter')}, "
                           f"schema {manifest.get('schema_version')}); everything was re-embedded")
        old_gen = manifest = None
    previous: store.IndexFiles | None = None
    try:
        if manifest is not None:
            store.check_compatible(manifest, weights_sha256=embedder.weights_sha256,
                                   model_id=embedder.model_id, tokenizer=TOKENIZER_NAME,
                                   segmenter=segmenter_for(settings), chunking=settings.chunking)
        old_hashes: dict[str, str] = manifest["documents"] if manifest else {}

        # 1. Which files changed: a hash of the bytes decides, nothing is parsed for unchanged files.
        seen: dict[str, Path] = {}
        unchanged: list[str] = []
        changed: list[tuple[str, Path, Path]] = []
        failed: list[FailedFile] = []
        skipped: list[tuple[str, str]] = []  # folders not walked (symlink loops, outside the corpus)
        kept: list[str] = []

        def fail(doc_id: str, file: Path, reason: str) -> None:
            keep = doc_id in old_hashes
            failed.append(FailedFile(printable(file), printable(reason), kept_previous=keep))
            if keep:
                kept.append(doc_id)

        for file, root in iter_corpus_files(roots, skipped, follow_symlinks=settings.follow_symlinks):
            doc_id = _doc_id(file, root)
            if doc_id in seen:
                failed.append(FailedFile(printable(file), f"same document id {printable(doc_id)!r} as "
                                         f"{printable(seen[doc_id])}"))
                continue
            seen[doc_id] = file
            try:
                # Plain files only, at most the size limit read (a FIFO, /dev/zero or a file
                # larger than memory is refused here, before anything waits on it).
                data = read_file(file, root, max_file_mb=settings.max_file_mb,
                                 follow_symlinks=settings.follow_symlinks)
            except DocumentError as exc:
                fail(doc_id, file, exc.reason)
                continue
            digest = hashlib.sha256(data).hexdigest()
            if old_hashes.get(doc_id) == digest:
                unchanged.append(doc_id)
            else:
                changed.append((doc_id, file, root))  # read again below: not all held in memory
            del data
        failed.extend(FailedFile(path, reason) for path, reason in skipped)

        # 2. Read the changed files; one bad file never stops the build.
        loaded: list[Document] = []
        for doc_id, file, root in _bar(changed, progress, "reading"):
            try:
                loaded.append(load_document(file, root, max_file_mb=settings.max_file_mb,
                                            follow_symlinks=settings.follow_symlinks))
            except Exception as exc:  # a parser's own bug on one odd file must not stop the build either
                reason = exc.reason if isinstance(exc, DocumentError) else f"cannot read ({type(exc).__name__}: {exc})"
                fail(doc_id, file, reason)
        added = tuple(d.doc_id for d in loaded if d.doc_id not in old_hashes)
        updated = tuple(d.doc_id for d in loaded if d.doc_id in old_hashes)
        removed = tuple(sorted(set(old_hashes) - set(seen)))

        if manifest is not None and not (added or updated or removed):
            counts = manifest.get("counts", {})
            return IndexReport(unchanged=tuple(unchanged), failed=tuple(failed),
                               n_documents=len(old_hashes), n_chunks=int(counts.get("chunks", 0)),
                               n_segments=int(counts.get("segments", 0)),
                               seconds=time.perf_counter() - started, index_dir=str(index_dir), wrote=False)

        previous = store.IndexFiles(old_gen) if old_gen is not None else None
        data, embedded = _assemble(previous, set(unchanged) | set(kept), loaded, embedder, settings, progress)
        data.manifest = store.make_manifest(
            model_id=embedder.model_id, weights_sha256=embedder.weights_sha256, dim=embedder.dim,
            max_seq_length=embedder.max_seq_length, tokenizer=TOKENIZER_NAME, segmenter=segmenter_for(settings),
            chunking=settings.chunking, documents={d.doc_id: d.content_hash for d in data.documents},
            roots=[str(r.resolve()) for r in roots],
            counts={"documents": len(data.documents), "chunks": len(data.chunk_rows),
                    "segments": len(data.segment_rows)})
    finally:
        if previous is not None:
            previous.close()
    gen = store.write_generation(index_dir, data, ann_threshold=settings.ann_threshold)
    try:
        store.publish(index_dir, gen)
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)
        raise
    return IndexReport(added=added, updated=updated, removed=removed, unchanged=tuple(unchanged),
                       failed=tuple(failed), n_documents=len(data.documents), n_chunks=len(data.chunk_rows),
                       n_segments=len(data.segment_rows), embedded_texts=embedded,
                       seconds=time.perf_counter() - started, index_dir=str(index_dir), wrote=True,
                       note=rebuilt_because)


def _built_by_older_code(manifest: dict, settings: Settings) -> bool:
    from ..config import SCHEMA_VERSION

    return (manifest.get("segmenter") != segmenter_for(settings) or manifest.get("tokenizer") != TOKENIZER_NAME
            or manifest.get("schema_version") != SCHEMA_VERSION)


def _doc_id(file: Path, root: Path) -> str:
    from ..ingest.documents import _doc_id as doc_id  # the one rule, so ids here match load_document's

    return doc_id(file, root)


def _assemble(previous: store.IndexFiles | None, carried: set[str], loaded: list[Document],
              embedder: Embedder, settings: Settings, progress: bool) -> tuple[store.GenerationData, int]:
    """Rows and vectors of the new generation: carried documents copied, loaded ones chunked."""
    dim = embedder.dim
    documents: list[Document] = []
    chunk_rows: list[tuple] = []
    segment_rows: list[tuple] = []
    chunk_vecs: list[np.ndarray] = []
    seg_vecs: list[np.ndarray] = []

    if previous is not None and carried:
        old_chunks = previous.chunk_vectors()
        for doc_id in sorted(carried):
            doc = previous.document(doc_id)
            assert doc is not None
            documents.append(doc)
            rows = previous.db.execute(
                'SELECT id, doc_id, start, "end", page, n_tokens, first_segment, last_segment, text, speaker '
                "FROM chunks WHERE doc_id = ? ORDER BY id", (doc_id,)).fetchall()
            chunk_rows.extend(r[1:] for r in rows)
            chunk_vecs.append(np.asarray(old_chunks[[r[0] for r in rows]], dtype=np.float32).reshape(-1, dim))
            rows = previous.db.execute('SELECT id, doc_id, seq, start, "end", n_tokens, speaker, attribution FROM segments '
                                       "WHERE doc_id = ? ORDER BY id", (doc_id,)).fetchall()
            segment_rows.extend(r[1:] for r in rows)
            seg_vecs.append(np.asarray(previous.segment_vectors[[r[0] for r in rows]],
                                       dtype=np.float32).reshape(-1, dim))

    # Chunk the new and changed documents; texts already embedded in the previous index are reused.
    new_chunk_texts: list[str] = []
    new_seg_texts: list[str] = []
    for doc in _bar(sorted(loaded, key=lambda d: d.doc_id), progress, "chunking"):
        counter = _memo(embedder.count_wordpieces)  # segment() and chunk() count the same sentences
        segs = segment(doc.text, settings.chunking, counter, embedder.token_limit, soft_wraps=doc.kind != "md")
        chunks = chunk(doc, segs, settings.chunking, counter, embedder.token_limit)
        documents.append(doc)
        for c in chunks:
            chunk_rows.append((doc.doc_id, c.start, c.end, c.page, c.n_tokens, c.first_segment,
                               c.last_segment, c.text, c.speaker))
            new_chunk_texts.append(c.text)
        # Who says each sentence: a transcript's turn, a remarks page's speaker, or the subject of
        # reported speech in a readout (ingest/attribution.py).
        said = (attribute_document if settings.attribution else turn_speakers)(doc, [(s.start, s.end) for s in segs])
        for seq, (s, a) in enumerate(zip(segs, said)):
            segment_rows.append((doc.doc_id, seq, s.start, s.end, s.n_tokens, a.speaker, a.how))
            new_seg_texts.append(s.text)

    reuse = _previous_vectors(previous, {d.doc_id for d in loaded}) if previous is not None else {}
    todo = sorted({t for t in new_chunk_texts + new_seg_texts if t not in reuse}, key=len)
    fresh = _encode(embedder, todo, settings.batch_size, progress)
    vectors = {**reuse, **dict(zip(todo, fresh))}
    if new_chunk_texts:
        chunk_vecs.append(np.stack([vectors[t] for t in new_chunk_texts]))
    if new_seg_texts:
        seg_vecs.append(np.stack([vectors[t] for t in new_seg_texts]))
    empty = np.zeros((0, dim), dtype=np.float32)
    header_texts, header_vectors, chunk_headers, n_headers = _headers(documents, chunk_rows, previous, embedder,
                                                                      settings.batch_size)
    data = store.GenerationData(
        documents=documents, chunk_rows=chunk_rows, segment_rows=segment_rows,
        chunk_vectors=np.concatenate(chunk_vecs) if chunk_vecs else empty,
        segment_vectors=np.concatenate(seg_vecs) if seg_vecs else empty, manifest={},
        header_texts=header_texts, header_vectors=header_vectors, chunk_headers=chunk_headers)
    return data, len(todo) + n_headers


def _headers(documents: list[Document], chunk_rows: list[tuple], previous: store.IndexFiles | None,
             embedder: Embedder, batch_size: int) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Each chunk's contextual header (headers.py): distinct texts, their vectors (reused from
    the previous generation by text), per-chunk header ids, and how many texts were embedded."""
    meta = {d.doc_id: d.meta for d in documents}
    ids: dict[str, int] = {}
    chunk_headers = np.empty(len(chunk_rows), dtype=np.int32)
    for i, row in enumerate(chunk_rows):
        speaker = row[8] if len(row) > 8 else None  # a transcript's chunk: its turn's speaker
        chunk_headers[i] = ids.setdefault(header_text(meta[row[0]], speaker), len(ids))
    texts = list(ids)
    known = dict(zip(previous.header_texts, previous.header_vectors)) if previous is not None else {}
    todo = [t for t in texts if t not in known]
    vectors = {**known, **dict(zip(todo, embedder.encode(todo, batch_size=batch_size) if todo else []))}
    stacked = (np.stack([np.asarray(vectors[t], dtype=np.float32) for t in texts]) if texts
               else np.zeros((0, embedder.dim), dtype=np.float32))
    return texts, stacked, chunk_headers, len(todo)


def _memo(counter: TokenCounter) -> TokenCounter:
    """``counter`` remembering the counts of texts it has seen (for one document)."""
    seen: dict[str, int] = {}

    def count(texts: Sequence[str]) -> list[int]:
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            seen.update(zip(missing, counter(missing)))
        return [seen[t] for t in texts]

    return count


def _previous_vectors(previous: store.IndexFiles, doc_ids: set[str]) -> dict[str, np.ndarray]:
    """Vectors of the previous chunks and segments of documents being re-indexed, by text."""
    out: dict[str, np.ndarray] = {}
    if not doc_ids:
        return out
    marks = ",".join("?" * len(doc_ids))
    chunk_vectors = previous.chunk_vectors()
    for cid, text in previous.db.execute(f"SELECT id, text FROM chunks WHERE doc_id IN ({marks})",
                                         tuple(doc_ids)):
        out[text] = np.asarray(chunk_vectors[cid], dtype=np.float32)
    for sid, text in previous.segment_texts(doc_ids):
        # Sentence vectors are stored as float16; a chunk vector of the same text is more precise.
        out.setdefault(text, np.asarray(previous.segment_vectors[sid], dtype=np.float32))
    return out


def _encode(embedder: Embedder, texts: list[str], batch_size: int, progress: bool) -> list[np.ndarray]:
    if not texts:
        return []
    out: list[np.ndarray] = []
    block = batch_size * 8
    with _tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
        for i in range(0, len(texts), block):
            vecs = embedder.encode(texts[i:i + block], batch_size=batch_size)
            out.extend(vecs)
            bar.update(len(vecs))
    return out


def _tqdm(**kwargs):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, **kwargs)


def _bar(items, progress: bool, desc: str):  # type: ignore[no-untyped-def]
    if not progress or len(items) < 2:
        return items
    return _tqdm(iterable=items, desc=desc, unit="file")
