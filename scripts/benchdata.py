"""Corpora for the benchmarks, made from real sentences (the default corpus and the dev set),
recombined into as many documents as a benchmark needs. Deterministic for a given seed.

- ``write_corpus``: markdown files, for benchmarks that run the whole indexing pipeline;
- ``plan`` / ``synthetic_rows`` / ``synthetic_chunk_vectors``: the rows and vectors of an index
  of any size written directly with the product's store (bench_query.py; eval.py's distractors),
  without embedding every chunk.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def real_sentences(devset: bool = True) -> list[str]:
    """Distinct sentences of 40-400 characters (about 1,900; 1,000 without the dev set's), in
    corpus order."""
    from policyqa.ingest.chunking import sentence_spans
    from policyqa.ingest.documents import iter_corpus_files, load_document

    texts = [load_document(f, r).text for f, r in iter_corpus_files([ROOT / "corpus"])]
    for line in (ROOT / "scripts" / "devset" / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if devset else ():
        texts.append(json.loads(line)["text"])
    out = []
    for text in texts:
        out.extend(text[s:e] for s, e in sentence_spans(text) if 40 <= e - s <= 400)
    return list(dict.fromkeys(out))


def write_corpus(dest: Path, n_docs: int, sentences_per_doc: int, seed: int = 7,
                 sentences: list[str] | None = None) -> list[Path]:
    """``n_docs`` markdown files of paragraphs (4 sentences each) of real sentences.

    While the pool lasts, no sentence is used twice across the corpus (as in real articles, and
    so that every sentence is really embedded); beyond that, each document samples the pool anew.
    """
    rng = random.Random(seed)
    pool = sentences or real_sentences()
    dest.mkdir(parents=True, exist_ok=True)
    unique = n_docs * sentences_per_doc <= len(pool)
    drawn = rng.sample(pool, n_docs * sentences_per_doc) if unique else []
    paths = []
    for i in range(n_docs):
        picked = (drawn[i * sentences_per_doc:(i + 1) * sentences_per_doc] if unique
                  else rng.sample(pool, sentences_per_doc))
        paragraphs = [" ".join(picked[j:j + 4]) for j in range(0, len(picked), 4)]
        path = dest / f"doc-{seed}-{i:05d}.md"
        path.write_text(f"---\ntitle: \"Benchmark document {i}\"\ndate: \"2024-01-01\"\n---\n\n"
                        + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


# ---- synthetic indexes ---------------------------------------------------------------------

PER_DOC = 10  # chunks per document
BLOCK = 10_000  # chunks generated per random block (sizes share their first chunks); PER_DOC divides it
TOPIC = 64  # a document's sentences come from the TOPIC pool sentences nearest its seed sentence


def plan(n_chunks: int, vectors: np.ndarray, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Sentence picks of each chunk: (flat pool indices, offsets). 4-6 sentences a chunk, 10
    chunks a document, each document on one topic (its sentences drawn from the TOPIC sentences
    nearest, by the model, to a random seed sentence), as articles are. The first chunks of every
    size are the same (generated in seeded blocks), so smaller sizes are prefixes of larger ones."""
    sims = vectors @ vectors.T
    topics = np.argsort(-sims, axis=1, kind="stable")[:, :TOPIC]  # each sentence's nearest, itself first
    picks: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for b in range((n_chunks + BLOCK - 1) // BLOCK):
        rng = np.random.default_rng([seed, b])
        doc_topic = np.repeat(rng.integers(0, len(vectors), size=BLOCK // PER_DOC), PER_DOC)
        size = rng.integers(4, 7, size=BLOCK)
        draw = rng.integers(0, TOPIC, size=(BLOCK, 6))
        while True:  # no sentence twice in one chunk
            srt = np.sort(draw, axis=1)
            dup = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
            if not len(dup):
                break
            draw[dup] = rng.integers(0, TOPIC, size=(len(dup), 6))
        keep = np.arange(6)[None, :] < size[:, None]
        picks.append(topics[doc_topic[:, None], draw][keep])
        sizes.append(size)
    size = np.concatenate(sizes)[:n_chunks] if sizes else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(size)])
    flat = np.concatenate(picks)[:offsets[-1]] if picks else np.zeros(0, dtype=np.int64)
    return flat, offsets


def chunk_text(texts: list[str], flat: np.ndarray, offsets: np.ndarray, c: int) -> str:
    return " ".join(texts[p] for p in flat[offsets[c]:offsets[c + 1]])


def synthetic_chunk_vectors(vectors: np.ndarray, flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each chunk's vector SYNTHESISED as the normalised mean of its sentences' real vectors
    (embedding a million chunk texts would take ~16 hours here)."""
    n_chunks = len(offsets) - 1
    out = np.empty((n_chunks, vectors.shape[1]), dtype=np.float32)
    for c in range(0, n_chunks, 65536):  # in blocks: all sentence vectors at once would be ~8 GB
        end = min(n_chunks, c + 65536)
        lo, hi = offsets[c], offsets[end]
        sums = np.add.reduceat(vectors[flat[lo:hi]].astype(np.float32), offsets[c:end] - lo, axis=0)
        out[c:end] = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return out


def synthetic_rows(texts: list[str], flat: np.ndarray, offsets: np.ndarray, n_chunks: int, prefix: str = "doc"
                   ) -> tuple[list, list, list]:  # type: ignore[type-arg]
    """Documents, chunk rows and segment rows (store.GenerationData's) of the planned chunks:
    PER_DOC chunks a document, paragraphs separated by a blank line, offsets exact."""
    from policyqa.schema import Document, DocumentMeta

    lengths = np.array([len(t) for t in texts])
    documents, chunk_rows, segment_rows = [], [], []
    for d in range((n_chunks + PER_DOC - 1) // PER_DOC):
        doc_id = f"{prefix}-{d:07d}.md"
        parts: list[str] = []
        pos = 0
        for c in range(d * PER_DOC, min(n_chunks, (d + 1) * PER_DOC)):
            if parts:
                parts.append("\n\n")
                pos += 2
            start = pos
            first = int(offsets[c] - offsets[d * PER_DOC])
            for j, p in enumerate(flat[offsets[c]:offsets[c + 1]]):
                if j:
                    parts.append(" ")
                    pos += 1
                segment_rows.append((doc_id, first + j, pos, pos + int(lengths[p]), int(lengths[p]) // 4))
                parts.append(texts[p])
                pos += int(lengths[p])
            body = "".join(parts[-(2 * (offsets[c + 1] - offsets[c]) - 1):])
            assert len(body) == pos - start
            chunk_rows.append((doc_id, start, pos, None, len(body) // 4, first,
                               first + int(offsets[c + 1] - offsets[c]) - 1, body))
        documents.append(Document(doc_id=doc_id, path=f"/bench/{doc_id}", kind="md", text="".join(parts),
                                  meta=DocumentMeta(title=f"Benchmark document {d}", date="2024-01-01",
                                                    published="2024-01-01"), content_hash=f"{d:064x}"))
    return documents, chunk_rows, segment_rows
