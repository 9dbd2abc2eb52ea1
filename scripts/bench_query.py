#!/usr/bin/env python3
"""Query benchmark: `search` and `ask` latency and memory at 1k to 1M chunks, against the floor.

    python scripts/bench_query.py [--sizes 1000,10000,100000,1000000] [--queries 200]
                                  [--real-up-to 10000] [--work DIR] [--json FILE]

The floor: embedding the question (one model call, no cache) plus an exact FAISS inner-product
search (IndexFlatIP, in RAM, on one OpenMP thread: faster here at every size than two, which
also slow the next embedding) over the same chunk vectors. It is measured in the same process as
the product, with the same model, question by question in rotating order (floor, search, ask),
so that load on the shared CPU hits all three alike; p50 and p95 over --queries dev questions.
Targets: ask p50 <= 1.3x the floor at 10k chunks and <= 1.5x at 1M; p95 <= 2x at every size;
1M chunks served in <= 4 GB resident; ANN recall@10 >= 0.98 against exact search.

How the indexes are made (said here because it matters): documents are real sentences from the
default corpus and the dev set (about 1,900), recombined: 4-6 sentences a chunk, 10 chunks a
document, each document on one topic (its sentences drawn from the 64 sentences nearest, by
the model, to a random seed sentence), as articles are; drawn at random from the whole pool
instead, every chunk would be a blend of unrelated sentences and every chunk vector would sit
near the mean of all of them: a flat, structureless cloud, unlike any real archive. At 1M chunks
each sentence still recurs in ~2,600 chunks, so neighbourhoods are denser than in real text (a
hard case for approximate search). Sentence vectors are the model's real embeddings of those
sentences. Chunk vectors are
real embeddings of the chunk texts up to --real-up-to chunks (default 10,000; cached in --work);
above that they are SYNTHESISED as the normalised mean of their sentences' vectors, so that a 1M
index does not take ~16 hours of embedding. Everything else -- SQLite, BM25, the dense index (with
the product's own size-based choice: exact below Settings.ann_threshold, IVF above), the manifest
-- is written by the product's own `store.write_generation`. Questions are the dev set's real
questions, embedded live. Each size runs in its own child process, so resident memory is that
size's alone; it is read after the product has answered every question and before the floor's
in-RAM exact index is built.

Indexes are kept in --work between runs (a 1M index is ~10 GB and takes ~30 min to write).
"""

from __future__ import annotations

import argparse
import json
import os
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
from benchdata import chunk_text, plan, synthetic_chunk_vectors, synthetic_rows  # noqa: E402


def memory_mb() -> dict[str, float]:
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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


def real_chunk_vectors(work: Path, texts: list[str], flat: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """The model's embeddings of the first ``n`` chunk texts (cached: grows as larger n are asked)."""
    from policyqa.embedding import Embedder

    cache = work / "chunk-vectors.npy"
    have = np.load(cache) if cache.exists() else np.zeros((0, 384), dtype=np.float32)
    if len(have) < n:
        todo = [chunk_text(texts, flat, offsets, c) for c in range(len(have), n)]
        print(f"embedding {len(todo)} chunk texts (cached in {cache})", file=sys.stderr, flush=True)
        have = np.concatenate([have, Embedder().encode(todo, batch_size=32)])
        np.save(cache, have)
    return have[:n]


def build(work: Path, index_dir: Path, n_chunks: int, texts: list[str], vectors: np.ndarray,
          real_up_to: int) -> dict[str, object]:
    """Write an index of ``n_chunks`` recombined chunks with the product's store."""
    from policyqa.store import files as store
    from policyqa.ingest.chunking import TOKENIZER_NAME
    from policyqa.config import ChunkSettings, Settings
    from policyqa.embedding import Embedder
    from policyqa.store.indexing import SEGMENTER

    started = time.perf_counter()
    emb = Embedder()
    flat, offsets = plan(n_chunks, vectors)
    real = n_chunks <= real_up_to
    if real:
        chunk_vecs = real_chunk_vectors(work, texts, flat, offsets, n_chunks)
    else:
        chunk_vecs = synthetic_chunk_vectors(vectors, flat, offsets)
    seg_file = work / f"segments-{n_chunks}.tmp.npy"
    seg_vecs = np.lib.format.open_memmap(seg_file, mode="w+", dtype=np.float16, shape=(len(flat), vectors.shape[1]))
    for i in range(0, len(flat), 1 << 18):
        seg_vecs[i:i + (1 << 18)] = vectors[flat[i:i + (1 << 18)]].astype(np.float16)
    documents, chunk_rows, segment_rows = synthetic_rows(texts, flat, offsets, n_chunks)
    manifest = store.make_manifest(
        model_id=emb.model_id, weights_sha256=emb.weights_sha256, dim=emb.dim, max_seq_length=emb.max_seq_length,
        tokenizer=TOKENIZER_NAME, segmenter=SEGMENTER, chunking=ChunkSettings(),
        documents={d.doc_id: d.content_hash for d in documents}, roots=["(synthetic)"],
        counts={"documents": len(documents), "chunks": len(chunk_rows), "segments": len(segment_rows)})
    # No contextual headers for synthetic chunks: one empty header shared by all (no vector, no term).
    data = store.GenerationData(documents=documents, chunk_rows=chunk_rows, segment_rows=segment_rows,
                                chunk_vectors=chunk_vecs, segment_vectors=seg_vecs, manifest=manifest,
                                header_texts=[""], header_vectors=np.zeros((1, emb.dim), dtype=np.float32),
                                chunk_headers=np.zeros(len(chunk_rows), dtype=np.int32))
    gen = store.write_generation(index_dir, data, ann_threshold=Settings().ann_threshold)
    store.publish(index_dir, gen)
    del data, seg_vecs
    seg_file.unlink()
    info = {"chunk_vectors": "real" if real else "synthetic (mean of real sentence vectors)",
            "segments": len(segment_rows), "documents": len(documents),
            "write_s": round(time.perf_counter() - started, 1), "dense": store.read_part_manifest(store.part_paths(index_dir)[0])["dense"],
            "disk_mb": round(sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20)}
    (index_dir / "bench-build.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return info


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, 100 * q)) if values else float("nan")


def child(index_dir: Path, n_queries: int) -> dict[str, object]:
    """Everything for one size, in one process: product, memory, floor, ANN recall."""
    import faiss

    from policyqa import Retriever
    from policyqa.embedding import Embedder

    qs = questions()
    measured, warm = qs[:n_queries], qs[-10:]
    embedder = Embedder()
    t = time.perf_counter()
    r = Retriever.open(index_dir, embedder=embedder)
    open_s = time.perf_counter() - t
    ask_error = None

    def ask(q: str) -> None:
        nonlocal ask_error
        if ask_error is None:
            try:
                r.ask(q)
            except Exception as exc:  # the answer engine may be mid-edit: report, keep measuring search
                ask_error = f"{type(exc).__name__}: {exc}"

    def cold() -> None:
        with r._cache_lock:
            r._cache.clear()  # every call pays its own query embedding, as a new question does

    for q in warm:  # the model loads, pages of the index come in
        r.search(q, k=10)
        ask(q)
    # 1. The product alone answers every question; then its memory is read.
    for q in measured:
        cold()
        r.search(q, k=10)
        cold()
        ask(q)
    memory = memory_mb()

    # 2. The floor's exact index (in RAM), then floor / search / ask interleaved per question.
    vectors = r.reader.files.chunk_vectors()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    for i in range(0, len(vectors), 65536):
        flat.add(np.ascontiguousarray(vectors[i:i + 65536], dtype=np.float32))

    threads = faiss.omp_get_max_threads()

    def exact_search(v: np.ndarray) -> None:
        # On one thread: two OpenMP threads leave one spinning after the search, which slows the
        # next embedding; the floor was 16 vs 29 ms at 10k chunks, 113 vs 182 ms at 1M.
        faiss.omp_set_num_threads(1)
        try:
            flat.search(v, 10)
        finally:
            faiss.omp_set_num_threads(threads)

    def floor(q: str) -> None:
        exact_search(embedder.encode([q]))

    for q in warm:
        floor(q)
    times: dict[str, list[float]] = {"floor": [], "search": [], "ask": []}
    calls = {"floor": floor, "search": lambda q: r.search(q, k=10), "ask": ask}
    names = list(calls)
    embed_times, exact_times = [], []
    for i, q in enumerate(measured):
        for name in names[i % 3:] + names[:i % 3]:
            if name == "ask" and ask_error is not None:
                continue
            cold()
            t = time.perf_counter()
            calls[name](q)
            times[name].append(time.perf_counter() - t)
        t = time.perf_counter()
        v = embedder.encode([q])
        t2 = time.perf_counter()
        exact_search(v)
        embed_times.append(t2 - t)
        exact_times.append(time.perf_counter() - t2)

    # 3. ANN recall@10 against exact search on every dev question's real embedding.
    qv = embedder.encode(qs, batch_size=64)
    _, exact = flat.search(qv, 10)
    _, approx = r.reader.files.faiss.search(qv, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact)]))

    out: dict[str, object] = {"open_s": open_s, "memory_mb": memory, "dense": r.reader.files.dense_info,
                              "ann_recall_at_10": recall, "recall_questions": len(qs), "queries": len(measured),
                              "embed_p50": statistics.median(embed_times), "exact_p50": statistics.median(exact_times),
                              "ask_error": ask_error}
    for name, values in times.items():
        out[f"{name}_p50"], out[f"{name}_p95"] = (statistics.median(values), pct(values, 0.95)) if values else (None, None)
    return out


def run_child(index_dir: Path, n_queries: int) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--child", "--index", str(index_dir), "--queries", str(n_queries)],
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode:
        raise SystemExit(f"child for {index_dir} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(size: int, r: dict, build_info: dict) -> str:
    ms = lambda v: "n/a" if v is None else f"{1000 * v:.1f}"  # noqa: E731
    ratio = lambda a, b: "n/a" if a is None else f"{a / b:.2f}"  # noqa: E731
    d = r["dense"]
    kind = "exact" if d["type"] == "flat" else f"IVF nlist={d['nlist']} nprobe={d['nprobe']}"
    m = r["memory_mb"]
    line = (f"{size:>8} chunks ({kind}; chunk vectors {build_info['chunk_vectors'].split(' ')[0]}): "
            f"floor p50 {ms(r['floor_p50'])} ms p95 {ms(r['floor_p95'])} (embed p50 {ms(r['embed_p50'])}, exact search "
            f"p50 {ms(r['exact_p50'])}) | search p50 {ms(r['search_p50'])} p95 {ms(r['search_p95'])} | ask p50 "
            f"{ms(r['ask_p50'])} p95 {ms(r['ask_p95'])} | ask/floor p50 {ratio(r['ask_p50'], r['floor_p50'])} "
            f"p95 {ratio(r['ask_p95'], r['floor_p95'])}; search/floor p50 {ratio(r['search_p50'], r['floor_p50'])} "
            f"p95 {ratio(r['search_p95'], r['floor_p95'])} | ANN recall@10 vs exact {r['ann_recall_at_10']:.3f} "
            f"({r['recall_questions']} dev questions) | open {r['open_s']:.2f} s | RSS {m['VmRSS']:.0f} MB "
            f"(anon {m['RssAnon']:.0f}, file-backed {m['RssFile']:.0f}; peak {m['VmHWM']:.0f}) | index on disk "
            f"{build_info['disk_mb']} MB")
    if r.get("ask_error"):
        line += f" | ask FAILED: {r['ask_error'][:200]}"
    return line


def checks(rows: dict[int, dict]) -> list[tuple[str, bool]]:
    out = []
    for size, r in rows.items():
        if r["ask_p50"] is None:
            out.append((f"ask measured at {size}", False))
            continue
        if size == 10_000:
            out.append(("ask p50 <= 1.3x floor at 10k", r["ask_p50"] <= 1.3 * r["floor_p50"]))
        if size == 1_000_000:
            out.append(("ask p50 <= 1.5x floor at 1M", r["ask_p50"] <= 1.5 * r["floor_p50"]))
            out.append(("1M served in <= 4 GB resident", r["memory_mb"]["VmRSS"] <= 4096))
        out.append((f"ask p95 <= 2x floor at {size}", r["ask_p95"] <= 2 * r["floor_p95"]))
        if r["dense"]["type"] != "flat":
            out.append((f"ANN recall@10 >= 0.98 at {size}", r["ann_recall_at_10"] >= 0.98))
        if size == 100_000:
            out.append(("100k-chunk index opens in < 1 s", r["open_s"] < 1.0))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,100000,1000000")
    p.add_argument("--queries", type=int, default=200, help="dev questions timed per size (of 300)")
    p.add_argument("--real-up-to", type=int, default=10_000,
                   help="sizes up to this many chunks get real chunk embeddings; larger ones synthesised")
    p.add_argument("--work", type=Path, help="keep pool and indexes here (default: a temp folder, removed)")
    p.add_argument("--build-only", action="store_true", help="write the missing indexes and stop")
    p.add_argument("--json", type=Path)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.index, args.queries)))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="policyqa-bench-query-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[int, dict] = {}
    try:
        texts, vectors = sentence_pool(work)
        print(f"sentence pool: {len(texts)} real sentences with their real embeddings", flush=True)
        for size in (int(s) for s in args.sizes.split(",")):
            index_dir = work / f"index-{size}"
            if not (index_dir / "bench-build.json").exists():
                shutil.rmtree(index_dir, ignore_errors=True)
                info = build(work, index_dir, size, texts, vectors, args.real_up_to)
                print(f"{size} chunks: index written in {info['write_s']} s ({info['disk_mb']} MB; dense "
                      f"{json.dumps(info['dense'])})", flush=True)
            if args.build_only:
                continue
            info = json.loads((index_dir / "bench-build.json").read_text(encoding="utf-8"))
            before = load_average()
            rows[size] = {**run_child(index_dir, args.queries), "build": info,
                          "load_before": before, "load_after": load_average()}
            print(report(size, rows[size], info) + f" | load {before} -> {rows[size]['load_after']}", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if rows:
        print("checks: " + "; ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks(rows)))
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in rows.items()}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
