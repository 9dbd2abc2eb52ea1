#!/usr/bin/env python3
"""Indexing benchmark: the pipeline against the bare model on the same texts, in one run.

    python scripts/bench_index.py [--docs 40] [--sentences 24] [--repeat 3]
                                  [--small 1000] [--small-sentences 12] [--json FILE]
    python scripts/bench_index.py --long-lines 20     # only section 5, on 20 MB files

1. Throughput: `build_index` of a fresh corpus (--docs markdown files of --sentences real
   sentences each, no sentence repeated) versus the bare model encoding the very same distinct
   chunk and sentence texts that the build embedded (`Embedder.encode`, same batch size), with the
   model loaded and warm for both; --repeat runs each, alternating; medians. Ratio printed
   (target >= 0.85). The pipeline's one-off costs per process (tiktoken and pysbd tables, imports)
   are paid by a first, untimed build, as they are once in a real build of many documents; the
   default corpus (40 x 24 sentences, ~25 s of model time on an idle machine) is large enough
   that the per-build costs (opening and writing the index) are about 1% of it.
2. Peak resident memory of one build of that corpus from a fresh process (ru_maxrss).
3. No-change re-index of --small documents (target <= 2 s): in-process, and as the CLI
   (`python -m policyqa index`, which also pays interpreter start-up, imports and the model
   weights' sha256).
4. Adding 10 documents to the index of --small documents (the whole generation is rewritten),
   versus the bare model on the new documents' texts; medians over --repeat fresh copies.

5. (--long-lines MB, run alone) Cost linear in the input: reading and chunking (load_document,
   sentences, chunks with the model's word-piece limit; no embedding) of an MB-sized text file
   that is one single line, of one without any space, and of an ordinary file of paragraphs made
   of the same sentences; seconds per MB of each and the ratios to the ordinary file (target <= 2).

Run it on an idle machine: the two vCPUs behave like one core and any other job skews torch.
The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
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

from benchdata import real_sentences, write_corpus  # noqa: E402

from policyqa import Settings, build_index  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402
from policyqa.store.file_reader import FileIndexReader  # noqa: E402


def embedded_texts(index_dir: Path, doc_ids: set[str] | None = None) -> list[str]:
    """The distinct chunk and sentence texts an index holds (of ``doc_ids`` if given): exactly
    what its build embedded."""
    reader = FileIndexReader.open(index_dir)
    where, params = "", ()
    if doc_ids is not None:
        where, params = f" WHERE doc_id IN ({','.join('?' * len(doc_ids))})", tuple(doc_ids)
    chunks = [r[0] for files in reader.parts for r in files.db.execute("SELECT text FROM chunks" + where, params)]
    sentences = [text for _, text in reader.sentence_texts(doc_ids)]
    reader.close()
    return sorted(set(chunks) | set(sentences), key=len)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def peak_rss_mb(corpus: Path, index_dir: Path) -> float:
    code = ("import resource, sys; sys.path.insert(0, %r); from policyqa import build_index; "
            "build_index(%r, %r); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
            % (str(ROOT / "src"), str(corpus), str(index_dir)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def long_lines(mb: float, json_out: Path | None) -> int:
    """Seconds per MB to read and chunk a one-line file, a file without spaces and an ordinary one."""
    from policyqa.ingest.chunking import chunk, segment
    from policyqa.ingest.documents import load_document
    from policyqa.store.indexing import _memo

    pool = real_sentences()
    size = int(mb * 1024 * 1024)
    picked, total, i = [], 0, 0
    while total < size:
        picked.append(pool[i % len(pool)])
        total += len(picked[-1]) + 1
        i += 1
    texts = {"ordinary": "\n\n".join(" ".join(picked[j:j + 4]) for j in range(0, len(picked), 4)),
             "one line": " ".join(picked),
             "no spaces": "".join(p.replace(" ", "") for p in picked)}
    embedder = Embedder()
    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="policyqa-bench-lines-"))
    results: dict[str, dict[str, float]] = {}
    try:
        for name, text in texts.items():
            path = work / f"{name.replace(' ', '-')}.txt"
            path.write_text(text[:size], encoding="utf-8")
            megabytes = path.stat().st_size / 1024 / 1024
            started = time.perf_counter()
            doc = load_document(path, work, max_file_mb=mb + 1)
            counter = _memo(embedder.count_wordpieces)
            segs = segment(doc.text, settings.chunking, counter, embedder.token_limit)
            chunks = chunk(doc, segs, settings.chunking, counter, embedder.token_limit)
            seconds = time.perf_counter() - started
            results[name] = {"mb": megabytes, "seconds": seconds, "s_per_mb": seconds / megabytes,
                             "segments": len(segs), "chunks": len(chunks)}
            print(f"{name:9}: {megabytes:.1f} MB, {len(segs)} sentences, {len(chunks)} chunks in {seconds:.1f} s "
                  f"= {seconds / megabytes:.2f} s/MB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = results["ordinary"]["s_per_mb"]
    checks = []
    for name in ("one line", "no spaces"):
        ratio = results[name]["s_per_mb"] / base
        results[name]["ratio_to_ordinary"] = ratio
        checks.append(f"{name} / ordinary = {ratio:.2f} {'PASS' if ratio <= 2 else 'FAIL'}")
    print("checks (target <= 2): " + "; ".join(checks) + f"; load average {load_average()}")
    if json_out:
        json_out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=40, help="documents in the throughput corpus")
    p.add_argument("--sentences", type=int, default=24, help="sentences per throughput document")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--small", type=int, default=1000, help="documents in the no-change/add corpus")
    p.add_argument("--small-sentences", type=int, default=12, help="sentences per no-change/add document")
    p.add_argument("--json", type=Path)
    p.add_argument("--long-lines", type=float, metavar="MB",
                   help="only measure reading and chunking of MB-sized one-line vs ordinary files")
    args = p.parse_args()
    if args.long_lines:
        return long_lines(args.long_lines, args.json)

    work = Path(tempfile.mkdtemp(prefix="policyqa-bench-index-"))
    results: dict[str, object] = {"load_start": load_average()}
    settings = Settings()
    try:
        pool = real_sentences()
        embedder = Embedder()
        embedder.encode(["warm up"] * 8)

        # 1. Throughput.
        corpus = work / "corpus"
        write_corpus(corpus, args.docs, args.sentences, seed=1, sentences=pool)
        build_index(corpus, work / "probe", embedder=embedder, settings=settings)  # one-off costs, untimed
        texts = embedded_texts(work / "probe")
        tokens = sum(embedder.count_wordpieces(texts))
        pipeline, bare = [], []
        for i in range(args.repeat):
            bare.append(timed(lambda: embedder.encode(texts, batch_size=settings.batch_size)))
            dest = work / f"run{i}"
            pipeline.append(timed(lambda: build_index(corpus, dest, embedder=embedder, settings=settings)))
            shutil.rmtree(dest)
        tp, tb = statistics.median(pipeline), statistics.median(bare)
        results.update({"docs": args.docs, "sentences_per_doc": args.sentences,
                        "throughput_texts": len(texts), "throughput_wordpieces": tokens,
                        "corpus_bytes": sum(f.stat().st_size for f in corpus.iterdir()),
                        "pipeline_runs_s": pipeline, "bare_runs_s": bare,
                        "pipeline_s": tp, "bare_model_s": tb, "pipeline_tokens_per_s": tokens / tp,
                        "bare_tokens_per_s": tokens / tb, "throughput_ratio": tb / tp,
                        "load_after_throughput": load_average()})

        # 2. Peak memory.
        results["peak_rss_mb"] = peak_rss_mb(corpus, work / "rss")

        # 3. No-change re-index.
        small = work / "small"
        write_corpus(small, args.small, args.small_sentences, seed=2, sentences=pool)
        base = work / "small-index"
        t_first = timed(lambda: build_index(small, base, embedder=embedder, settings=settings))
        nochange = [timed(lambda: build_index(small, base, embedder=embedder, settings=settings))
                    for _ in range(args.repeat)]
        cli = [timed(lambda: subprocess.run([sys.executable, "-m", "policyqa", "index", str(small), "--index",
                                             str(base), "--quiet"], check=True, capture_output=True, cwd=ROOT))
               for _ in range(args.repeat)]

        # 4. Add 10 documents, on fresh copies of the small index.
        new = write_corpus(small, 10, args.small_sentences, seed=3, sentences=pool)
        adds = []
        for i in range(args.repeat):
            copy = work / f"add{i}"
            shutil.copytree(base, copy)
            adds.append(timed(lambda: build_index(small, copy, embedder=embedder, settings=settings)))
        new_texts = embedded_texts(work / "add0", {p.name for p in new})
        t_add_bare = statistics.median(timed(lambda: embedder.encode(new_texts, batch_size=settings.batch_size))
                                       for _ in range(args.repeat))
        reader = FileIndexReader.open(base)
        small_chunks = reader.info().n_chunks
        reader.close()
        results.update({"small_docs": args.small, "small_sentences": args.small_sentences,
                        "small_chunks": small_chunks, "small_first_build_s": t_first,
                        "nochange_runs_s": nochange, "nochange_cli_runs_s": cli,
                        "nochange_reindex_s": statistics.median(nochange),
                        "nochange_reindex_cli_s": statistics.median(cli),
                        "add10_runs_s": adds, "add10_s": statistics.median(adds), "add10_texts": len(new_texts),
                        "add10_bare_model_s": t_add_bare, "add10_ratio": t_add_bare / statistics.median(adds),
                        "load_end": load_average()})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    r = results
    print(f"throughput ({r['docs']} docs x {r['sentences_per_doc']} sentences, {r['corpus_bytes'] / 1024:.0f} KiB): "
          f"{r['throughput_texts']} distinct texts, {r['throughput_wordpieces']} word pieces; pipeline "
          f"{r['pipeline_s']:.2f} s ({r['pipeline_tokens_per_s']:.0f} tok/s), bare model {r['bare_model_s']:.2f} s "
          f"({r['bare_tokens_per_s']:.0f} tok/s); ratio {r['throughput_ratio']:.3f} (target >= 0.85) "
          f"[runs: pipeline {', '.join(f'{x:.2f}' for x in r['pipeline_runs_s'])}; "
          f"bare {', '.join(f'{x:.2f}' for x in r['bare_runs_s'])}]")
    print(f"peak resident memory of one build of that corpus (fresh process): {r['peak_rss_mb']:.0f} MB")
    print(f"{r['small_docs']} documents ({r['small_sentences']} sentences each, {r['small_chunks']} chunks): "
          f"first build {r['small_first_build_s']:.1f} s; no-change re-index {r['nochange_reindex_s']:.3f} s "
          f"in-process, {r['nochange_reindex_cli_s']:.2f} s as the CLI (target <= 2 s)")
    print(f"add 10 documents to {r['small_docs']}: {r['add10_s']:.2f} s vs bare model {r['add10_bare_model_s']:.2f} s "
          f"on their {r['add10_texts']} texts (ratio {r['add10_ratio']:.3f})")
    print(f"load average: start {r['load_start']}, after throughput {r['load_after_throughput']}, end {r['load_end']}")
    ok = [("throughput ratio >= 0.85", r["throughput_ratio"] >= 0.85),
          ("no-change re-index <= 2 s (CLI)", r["nochange_reindex_cli_s"] <= 2.0)]
    print("checks: " + "; ".join(f"{name} {'PASS' if good else 'FAIL'}" for name, good in ok))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
