"""The build use case: corpus files -> a new part and commit, embedding only what changed; merging."""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
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
                wait: float = 0.0, embedder: Embedder | None = None, optimize: bool = False) -> IndexReport:
    """Bring the index at ``index_dir`` in line with the files under ``paths``.

    New files are added, changed ones re-chunked (only chunks whose text changed are re-embedded),
    files no longer present are removed; unchanged files cost a hash. A file that cannot be read is
    reported in ``IndexReport.failed`` and, if an earlier version was indexed, that version stays.
    The new index replaces the old one atomically; if the build is interrupted the old one stays.

    The new and changed documents go into one new immutable part; the rows of changed and removed
    documents are marked deleted where they live. When parts of one size tier pile up they are
    merged (``MERGE_FACTOR``), after the change itself is committed; ``optimize`` merges every
    part into one (also when nothing changed).
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
            report = _build(roots, index_dir, settings, rebuild, progress, embedder)
        except IndexCorruptError as exc:
            if rebuild:
                raise
            # The previous generation turned out damaged while its vectors were being reused.
            report = _build(roots, index_dir, settings, True, progress, embedder,
                            note=f"the index was damaged ({exc}); everything was re-embedded")
        merged = merge_parts(index_dir, settings, everything=optimize, progress=progress)
        return replace(report, wrote=report.wrote or merged, merged=merged)
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
                # Cheap (no FAISS import): damage means a rebuild, never "index unchanged".
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
    sources: dict[str, store.IndexFiles] = {}  # parts holding documents being replaced
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

        def fail(doc_id: str, file: Path, reason: str) -> None:
            failed.append(FailedFile(printable(file), printable(reason), kept_previous=doc_id in old_hashes))

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

        # 2. Read the changed files; one bad file never stops the build (its indexed version, if
        # any, stays: it is neither replaced nor removed).
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

        # 3. Mark the rows of replaced and removed documents deleted where they live.
        parts = [index_dir / e["name"] for e in manifest["parts"]] if manifest else []
        locations: dict[str, str] = dict(manifest["locations"]) if manifest else {}
        deleted = _deletions(old_gen, manifest) if manifest and old_gen is not None else {}
        for doc_id in (*updated, *removed):
            name = locations.pop(doc_id)
            if name not in sources:
                sources[name] = store.IndexFiles(index_dir / name, embedder.dim)
            files = sources[name]
            gone = deleted.get(name) or store.Deleted(np.zeros(files.n_chunks, dtype=bool), 0)
            rows = [r[0] for r in files.db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
            gone.chunks[np.asarray(rows, dtype=np.int64)] = True
            n_sentences = files.db.execute("SELECT count(*) FROM segments WHERE doc_id = ?", (doc_id,)).fetchone()[0]
            deleted[name] = store.Deleted(gone.chunks, gone.sentences + n_sentences)

        # 4. The new and changed documents as one new part (vectors of unchanged texts reused).
        new_part = None
        embedded = 0
        if loaded:
            data, embedded = _assemble(sources, set(updated), loaded, embedder, settings, progress)
            data.manifest = {"model": {"dim": embedder.dim}}
            new_part = store.write_part(index_dir, data, ann_threshold=settings.ann_threshold)
            parts.append(new_part)
            locations.update({d.doc_id: new_part.name for d in loaded})
        documents = {**{d: h for d, h in old_hashes.items() if d in locations}, **{d.doc_id: d.content_hash for d in loaded}}
        # A part with every row deleted is dropped from the commit (and removed once unused).
        parts = [p for p in parts if not (p.name in deleted and deleted[p.name].chunks.all())]
        manifest_out = store.make_manifest(
            model_id=embedder.model_id, weights_sha256=embedder.weights_sha256, dim=embedder.dim,
            max_seq_length=embedder.max_seq_length, tokenizer=TOKENIZER_NAME, segmenter=segmenter_for(settings),
            chunking=settings.chunking, documents=dict(sorted(documents.items())),
            roots=[str(r.resolve()) for r in roots], counts={})
        try:
            gen = store.write_commit(index_dir, manifest_out, parts,
                                     {k: v for k, v in deleted.items() if k in {p.name for p in parts}},
                                     locations=locations)
        except BaseException:
            if new_part is not None:
                shutil.rmtree(new_part, ignore_errors=True)
            raise
    finally:
        for files in sources.values():
            files.close()
    try:
        store.publish(index_dir, gen)
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)
        if new_part is not None:
            shutil.rmtree(new_part, ignore_errors=True)
        raise
    counts = store.read_manifest(gen)["counts"]
    return IndexReport(added=added, updated=updated, removed=removed, unchanged=tuple(unchanged),
                       failed=tuple(failed), n_documents=counts["documents"], n_chunks=counts["chunks"],
                       n_segments=counts["segments"], embedded_texts=embedded,
                       seconds=time.perf_counter() - started, index_dir=str(index_dir), wrote=True,
                       note=rebuilt_because)


def _deletions(gen: Path, manifest: dict) -> dict[str, store.Deleted]:
    """The commit's deletion marks, by part (copies: the new commit adds to them)."""
    return {e["name"]: store.Deleted(np.load(gen / store.deleted_file(e["name"])).astype(bool, copy=True),
                                     e["deleted_sentences"])
            for e in manifest["parts"] if e["deleted"]}


# ---- merging ----------------------------------------------------------------------------

# Parts are grouped in size tiers (powers of MERGE_FACTOR above MERGE_FLOOR live chunks); when a
# tier holds MERGE_FACTOR parts, they are merged into one part of the next tier, as Lucene's
# log-structured merge policies do. Adding n documents one at a time thus rewrites each row about
# log(n) times, and a search visits at most MERGE_FACTOR parts per tier.
MERGE_FACTOR = 10
MERGE_FLOOR = 1000


def merge_policy(entries: list[dict]) -> list[str]:
    """The parts to merge now (names), or none."""
    tiers: dict[int, list[tuple[int, str]]] = {}
    for e in entries:
        live = max(e["chunks"] - e["deleted"], MERGE_FLOOR)
        tier = int(np.floor(np.log(live / MERGE_FLOOR) / np.log(MERGE_FACTOR) + 1e-9))
        tiers.setdefault(tier, []).append((live, e["name"]))
    for tier in sorted(tiers):
        if len(tiers[tier]) >= MERGE_FACTOR:
            return [name for _, name in sorted(tiers[tier])[:MERGE_FACTOR]]
    return []


def merge_parts(index_dir: Path, settings: Settings | None = None, *, everything: bool = False,
                progress: bool = False) -> bool:
    """Merge parts of the current commit (those ``merge_policy`` picks, or all of them and their
    deletions when ``everything``) into one, committed atomically; True when it merged. No model
    call: rows and vectors are copied. Readers keep reading the previous commit meanwhile. Call
    under the build lock (``build_index`` does)."""
    try:
        gen = store.read_current(index_dir)
    except IndexMissingError:
        return False
    manifest = store.read_manifest(gen)
    entries = manifest["parts"]
    if everything:
        picked = [e["name"] for e in entries] if len(entries) > 1 or any(e["deleted"] for e in entries) else []
    else:
        picked = merge_policy(entries)
    if not picked:
        return False
    deleted = _deletions(gen, manifest)
    dim = int(manifest["model"]["dim"])
    data = _copy_live(index_dir, picked, manifest["locations"], dim, progress)
    data.manifest = {"model": {"dim": dim}}
    merged = store.write_part(index_dir, data, ann_threshold=(settings or Settings()).ann_threshold)
    try:
        names = [e["name"] for e in entries]
        at = min(names.index(n) for n in picked)
        kept = [n for n in names if n not in picked]
        order = kept[:at] + [merged.name] + kept[at:]
        locations = {d: (merged.name if p in picked else p) for d, p in manifest["locations"].items()}
        out = {k: v for k, v in manifest.items() if k not in ("parts", "locations", "counts")}
        out["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        new_gen = store.write_commit(index_dir, out, [index_dir / n for n in order],
                                     {k: v for k, v in deleted.items() if k not in picked}, locations=locations)
    except BaseException:
        shutil.rmtree(merged, ignore_errors=True)
        raise
    try:
        store.publish(index_dir, new_gen)
    except BaseException:
        shutil.rmtree(new_gen, ignore_errors=True)
        shutil.rmtree(merged, ignore_errors=True)
        raise
    return True


def _copy_live(index_dir: Path, names: list[str], locations: dict[str, str], dim: int,
               progress: bool) -> store.GenerationData:
    """The live documents of the named parts, their rows, vectors and headers, as one part's data."""
    documents: list[Document] = []
    chunk_rows: list[tuple] = []
    segment_rows: list[tuple] = []
    chunk_vecs: list[np.ndarray] = []
    seg_vecs: list[np.ndarray] = []
    header_ids: dict[str, int] = {}
    header_vecs: list[np.ndarray] = []
    chunk_headers: list[int] = []
    for name in _bar(names, progress, "merging"):
        files = store.IndexFiles(index_dir / name, dim)
        try:
            old_chunks = files.chunk_vectors()
            for doc_id in sorted(d for d, p in locations.items() if p == name):
                doc = files.document(doc_id)
                if doc is None:
                    raise IndexCorruptError(f"part {name} lacks document {doc_id!r}; {store.REBUILD_HINT}")
                documents.append(doc)
                rows = files.db.execute(
                    'SELECT id, doc_id, start, "end", page, n_tokens, first_segment, last_segment, text, speaker '
                    "FROM chunks WHERE doc_id = ? ORDER BY id", (doc_id,)).fetchall()
                ids = [r[0] for r in rows]
                chunk_rows.extend(r[1:] for r in rows)
                chunk_vecs.append(np.asarray(old_chunks[ids], dtype=np.float32).reshape(-1, dim))
                for h in np.asarray(files.chunk_headers[ids], dtype=np.int64).tolist():
                    text = files.header_texts[h]
                    if text not in header_ids:
                        header_ids[text] = len(header_ids)
                        header_vecs.append(np.asarray(files.header_vectors[h], dtype=np.float32))
                    chunk_headers.append(header_ids[text])
                rows = files.db.execute('SELECT id, doc_id, seq, start, "end", n_tokens, speaker, attribution '
                                        "FROM segments WHERE doc_id = ? ORDER BY id", (doc_id,)).fetchall()
                segment_rows.extend(r[1:] for r in rows)
                seg_vecs.append(np.asarray(files.segment_vectors[[r[0] for r in rows]],
                                           dtype=np.float32).reshape(-1, dim))
        finally:
            files.close()
    empty = np.zeros((0, dim), dtype=np.float32)
    return store.GenerationData(
        documents=documents, chunk_rows=chunk_rows, segment_rows=segment_rows,
        chunk_vectors=np.concatenate(chunk_vecs) if chunk_vecs else empty,
        segment_vectors=np.concatenate(seg_vecs) if seg_vecs else empty, manifest={},
        header_texts=list(header_ids), header_vectors=np.stack(header_vecs) if header_vecs else empty,
        chunk_headers=np.asarray(chunk_headers, dtype=np.int32))


def _built_by_older_code(manifest: dict, settings: Settings) -> bool:
    from ..config import SCHEMA_VERSION

    return (manifest.get("segmenter") != segmenter_for(settings) or manifest.get("tokenizer") != TOKENIZER_NAME
            or manifest.get("schema_version") != SCHEMA_VERSION)


def _doc_id(file: Path, root: Path) -> str:
    from ..ingest.documents import _doc_id as doc_id  # the one rule, so ids here match load_document's

    return doc_id(file, root)


def _assemble(sources: dict[str, store.IndexFiles], updated: set[str], loaded: list[Document],
              embedder: Embedder, settings: Settings, progress: bool) -> tuple[store.GenerationData, int]:
    """Rows and vectors of a new part holding ``loaded``: chunked, attributed, and embedded
    except for texts (and headers) the previous versions of ``updated`` documents already had."""
    dim = embedder.dim
    documents: list[Document] = []
    chunk_rows: list[tuple] = []
    segment_rows: list[tuple] = []
    chunk_vecs: list[np.ndarray] = []
    seg_vecs: list[np.ndarray] = []

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

    reuse: dict[str, np.ndarray] = {}
    known_headers: dict[str, np.ndarray] = {}
    for files in sources.values():
        reuse.update(_previous_vectors(files, updated))
        known_headers.update(zip(files.header_texts, files.header_vectors))
    todo = sorted({t for t in new_chunk_texts + new_seg_texts if t not in reuse}, key=len)
    fresh = _encode(embedder, todo, settings.batch_size, progress)
    vectors = {**reuse, **dict(zip(todo, fresh))}
    if new_chunk_texts:
        chunk_vecs.append(np.stack([vectors[t] for t in new_chunk_texts]))
    if new_seg_texts:
        seg_vecs.append(np.stack([vectors[t] for t in new_seg_texts]))
    empty = np.zeros((0, dim), dtype=np.float32)
    header_texts, header_vectors, chunk_headers, n_headers = _headers(documents, chunk_rows, known_headers,
                                                                      embedder, settings.batch_size)
    data = store.GenerationData(
        documents=documents, chunk_rows=chunk_rows, segment_rows=segment_rows,
        chunk_vectors=np.concatenate(chunk_vecs) if chunk_vecs else empty,
        segment_vectors=np.concatenate(seg_vecs) if seg_vecs else empty, manifest={},
        header_texts=header_texts, header_vectors=header_vectors, chunk_headers=chunk_headers)
    return data, len(todo) + n_headers


def _headers(documents: list[Document], chunk_rows: list[tuple], known: dict[str, np.ndarray],
             embedder: Embedder | None, batch_size: int) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Each chunk's contextual header (ingest/headers.py): distinct texts, their vectors (``known``
    ones reused by text), per-chunk header ids, and how many texts were embedded."""
    meta = {d.doc_id: d.meta for d in documents}
    ids: dict[str, int] = {}
    chunk_headers = np.empty(len(chunk_rows), dtype=np.int32)
    for i, row in enumerate(chunk_rows):
        speaker = row[8] if len(row) > 8 else None  # a transcript's chunk: its turn's speaker
        chunk_headers[i] = ids.setdefault(header_text(meta[row[0]], speaker), len(ids))
    texts = list(ids)
    todo = [t for t in texts if t not in known]
    if todo and embedder is None:
        raise ValueError("a header without a vector, and no model to embed it")
    vectors = {**known, **dict(zip(todo, embedder.encode(todo, batch_size=batch_size) if todo else []))}  # type: ignore[union-attr]
    dim = len(next(iter(vectors.values()))) if vectors else (embedder.dim if embedder else 0)
    stacked = (np.stack([np.asarray(vectors[t], dtype=np.float32) for t in texts]) if texts
               else np.zeros((0, dim), dtype=np.float32))
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
    doc_ids = {d for d, in previous.db.execute("SELECT doc_id FROM documents")} & doc_ids
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
