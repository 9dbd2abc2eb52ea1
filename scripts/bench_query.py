#!/usr/bin/env python3
"""Query benchmark: `search` and `ask` latency and memory at 1k to 1M chunks, against the floor.

    python scripts/bench_query.py [--sizes 1000,10000,100000,1000000] [--queries 100]

The floor, measured in the same run on the same vectors: embedding the question (one model call,
no cache) plus an exact FAISS inner-product search (IndexFlatIP) over the chunk vectors.
Targets: ask p50 <= 1.3x the floor at 10k chunks and <= 1.5x at 1M; p95 <= 2x at every size;
1M chunks served in <= 4 GB resident.

How the indexes are made (said here because it matters): documents are real sentences from the
default corpus and the dev set, recombined (4-6 sentences a chunk, 10 chunks a document). The
sentence vectors are the model's real embeddings of those sentences; a chunk's vector is the
normalised mean of its sentences' vectors, synthesised instead of embedded so that a 1M-chunk
index does not take days to build. Everything else -- SQLite, BM25, FAISS (with the same
size-based choice of index type the product makes), the manifest -- is written by the product's
own `store.write_generation`. Questions are the dev set's real questions. Each size runs in its
own child process so that resident memory is that size's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def questions() -> list[str]:
    path = ROOT / "scripts" / "devset" / "questions.jsonl"
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()]


def sentence_pool(work: Path) -> tuple[list[str], np.ndarray]:
    """Real sentences and their real embeddings (cached in work/)."""
    from benchdata import real_sentences

    from policyqa.embedding import Embedder

    cache = work / "pool.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return [str(s) for s in data["texts"]], data["vectors"]
    texts = sorted(set(real_sentences()))
    vectors = Embedder().encode(texts, batch_size=64)
    np.savez(cache, texts=np.array(texts), vectors=vectors)
    return texts, vectors


def build(index_dir: Path, n_chunks: int, texts: list[str], vectors: np.ndarray, seed: int = 11) -> None:
    """Write an index of ``n_chunks`` recombined chunks with the product's store."""
    from policyqa import store
    from policyqa.chunking import TOKENIZER_NAME
    from policyqa.config import ChunkSettings
    from policyqa.embedding import Embedder
    from policyqa.indexing import SEGMENTER
    from policyqa.schema import Document, DocumentMeta

    rng = np.random.default_rng(seed)
    emb = Embedder()
    per_doc = 10
    documents, chunk_rows, segment_rows = [], [], []
    chunk_vecs = np.empty((n_chunks, vectors.shape[1]), dtype=np.float32)
    seg_ids: list[np.ndarray] = []
    cid = 0
    for d in range((n_chunks + per_doc - 1) // per_doc):
        doc_id = f"doc-{d:07d}.md"
        parts, pos, seq = [], 0, 0
        rows_c, rows_s = [], []
        for _ in range(min(per_doc, n_chunks - cid)):
            picks = rng.choice(len(texts), size=int(rng.integers(4, 7)), replace=False)
            start = pos
            first = seq
            for j, p in enumerate(picks):
                if j:
                    parts.append(" ")
                    pos += 1
                rows_s.append((doc_id, seq, pos, pos + len(texts[p]), len(texts[p]) // 4))
                parts.append(texts[p])
                pos += len(texts[p])
                seq += 1
            chunk_text = "".join(parts)[start:]
            rows_c.append((doc_id, start, pos, None, len(chunk_text) // 4, first, seq - 1, chunk_text))
            v = vectors[picks].mean(axis=0)
            chunk_vecs[cid] = v / np.linalg.norm(v)
            seg_ids.append(picks)
            cid += 1
            parts.append("\n\n")
            pos += 2
        text = "".join(parts).rstrip("\n")
        documents.append(Document(doc_id=doc_id, path=f"/bench/{doc_id}", kind="md", text=text,
                                  meta=DocumentMeta(title=f"Benchmark document {d}", date="2024-01-01",
                                                    published="2024-01-01"), content_hash=f"{d:064x}"))
        chunk_rows.extend(rows_c)
        segment_rows.extend(rows_s)
    seg_vecs = vectors[np.concatenate(seg_ids)].astype(np.float16)
    manifest = store.make_manifest(
        model_id=emb.model_id, weights_sha256=emb.weights_sha256, dim=emb.dim, max_seq_length=emb.max_seq_length,
        tokenizer=TOKENIZER_NAME, segmenter=SEGMENTER, chunking=ChunkSettings(),
        documents={d.doc_id: d.content_hash for d in documents}, roots=["(synthetic)"],
        counts={"documents": len(documents), "chunks": len(chunk_rows), "segments": len(segment_rows)})
    gen = store.write_generation(index_dir, store.GenerationData(
        documents=documents, chunk_rows=chunk_rows, segment_rows=segment_rows, chunk_vectors=chunk_vecs,
        segment_vectors=seg_vecs, manifest=manifest))
    store.publish(index_dir, gen)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure_product(index_dir: Path, qs: list[str]) -> dict[str, float]:
    from policyqa import Retriever

    t = time.perf_counter()
    r = Retriever.open(index_dir)
    open_s = time.perf_counter() - t
    r.ask("warm up the model and the page cache")
    out: dict[str, list[float]] = {"search": [], "ask": []}
    for q in qs:
        for name, fn in (("search", lambda: r.search(q, k=10)), ("ask", lambda: r.ask(q))):
            r._cache.clear()  # every call pays its own query embedding, as a new question does
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    return {"open_s": open_s, "search_p50": statistics.median(out["search"]), "search_p95": pct(out["search"], .95),
            "ask_p50": statistics.median(out["ask"]), "ask_p95": pct(out["ask"], .95), "rss_mb": rss_mb()}


def measure_floor(index_dir: Path, qs: list[str]) -> dict[str, float]:
    import faiss

    from policyqa import store
    from policyqa.embedding import Embedder

    vecs = np.load(store.read_current(index_dir) / store.CHUNK_VECTORS)
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    emb = Embedder()
    emb.encode(["warm up"])
    times = []
    for q in qs:
        t = time.perf_counter()
        v = emb.encode([q])
        flat.search(v, 10)
        times.append(time.perf_counter() - t)
    return {"floor_p50": statistics.median(times), "floor_p95": pct(times, .95)}


def child(args: argparse.Namespace) -> int:
    qs = questions()[: args.queries]
    res = measure_product(args.index, qs) if args.child == "product" else measure_floor(args.index, qs)
    print(json.dumps(res))
    return 0


def run_child(kind: str, index_dir: Path, n_queries: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--index", str(index_dir), "--queries",
                          str(n_queries)], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,100000,1000000")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--work", type=Path, help="keep pool and indexes here (default: a temp folder, removed)")
    p.add_argument("--json", type=Path)
    p.add_argument("--child", choices=["product", "floor"], help=argparse.SUPPRESS)
    p.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    work = args.work or Path(tempfile.mkdtemp(prefix="policyqa-bench-query-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = {}
    try:
        texts, vectors = sentence_pool(work)
        print(f"sentence pool: {len(texts)} real sentences, embedded", file=sys.stderr)
        for size in (int(s) for s in args.sizes.split(",")):
            index_dir = work / f"index-{size}"
            if not (index_dir / "CURRENT").exists():
                t = time.perf_counter()
                build(index_dir, size, texts, vectors)
                print(f"{size} chunks: index written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            floor = run_child("floor", index_dir, args.queries)
            product = run_child("product", index_dir, args.queries)
            rows[size] = {**product, **floor,
                          "ask_ratio_p50": product["ask_p50"] / floor["floor_p50"],
                          "ask_ratio_p95": product["ask_p95"] / floor["floor_p95"],
                          "search_ratio_p50": product["search_p50"] / floor["floor_p50"]}
            r = rows[size]
            print(f"{size:>8} chunks: floor p50 {1000 * r['floor_p50']:.1f} ms p95 {1000 * r['floor_p95']:.1f} | "
                  f"search p50 {1000 * r['search_p50']:.1f} p95 {1000 * r['search_p95']:.1f} | "
                  f"ask p50 {1000 * r['ask_p50']:.1f} p95 {1000 * r['ask_p95']:.1f} | ask/floor p50 "
                  f"{r['ask_ratio_p50']:.2f} p95 {r['ask_ratio_p95']:.2f} | open {r['open_s']:.2f} s | "
                  f"RSS {r['rss_mb']:.0f} MB", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
