#!/usr/bin/env python3
"""Indexing benchmark: the pipeline against the bare model on the same texts, in one run.

    python scripts/bench_index.py [--docs 40] [--sentences 24] [--repeat 3] [--small 1000]

1. Throughput: `build_index` of a fresh corpus (real sentences recombined) versus the bare
   model encoding the very same chunk and sentence texts that the build embedded, with the
   model loaded and warm for both; medians over --repeat runs, alternating. Ratio printed
   (target >= 0.85).
2. Peak memory of one build (resident set, from a child process).
3. No-change re-index of --small documents (target <= 2 s), in-process and as the CLI.
4. Adding 10 documents to the index of --small documents, versus the bare model on their texts.

Run it on an idle machine: the two vCPUs behave like one core and any other job skews torch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
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

from policyqa import build_index  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402
from policyqa.store import DB, read_current  # noqa: E402


def embedded_texts(index_dir: Path) -> list[str]:
    """The distinct chunk and sentence texts an index holds: exactly what its build embedded."""
    db = sqlite3.connect(read_current(index_dir) / DB)
    chunks = [r[0] for r in db.execute("SELECT text FROM chunks")]
    sentences = [r[0] for r in db.execute(
        'SELECT substr(d.text, s.start + 1, s."end" - s.start) FROM segments s JOIN documents d USING (doc_id)')]
    db.close()
    return sorted(set(chunks) | set(sentences), key=len)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def peak_rss_mb(corpus: Path, index_dir: Path) -> float:
    code = ("import resource, sys; sys.path.insert(0, %r); from policyqa import build_index; "
            "build_index(%r, %r); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
            % (str(ROOT / "src"), str(corpus), str(index_dir)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=40, help="documents in the throughput corpus")
    p.add_argument("--sentences", type=int, default=24, help="sentences per throughput document")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--small", type=int, default=1000, help="documents in the no-change/add corpus")
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="policyqa-bench-index-"))
    results: dict[str, float] = {}
    try:
        pool = real_sentences()
        embedder = Embedder()
        embedder.encode(["warm up"] * 8)

        corpus = work / "corpus"
        write_corpus(corpus, args.docs, args.sentences, seed=1, sentences=pool)
        build_index(corpus, work / "probe", embedder=embedder)
        texts = embedded_texts(work / "probe")
        tokens = sum(embedder.count_wordpieces(texts))
        pipeline, bare = [], []
        for i in range(args.repeat):
            bare.append(timed(lambda: embedder.encode(texts, batch_size=32)))
            dest = work / f"run{i}"
            pipeline.append(timed(lambda: build_index(corpus, dest, embedder=embedder)))
            shutil.rmtree(dest)
        tp, tb = statistics.median(pipeline), statistics.median(bare)
        results.update({"throughput_texts": len(texts), "throughput_wordpieces": tokens,
                        "pipeline_s": tp, "bare_model_s": tb, "pipeline_tokens_per_s": tokens / tp,
                        "bare_tokens_per_s": tokens / tb, "throughput_ratio": tb / tp})
        results["peak_rss_mb"] = peak_rss_mb(corpus, work / "rss")

        small = work / "small"
        write_corpus(small, args.small, 3, seed=2, sentences=pool)
        t_first = timed(lambda: build_index(small, work / "small-index", embedder=embedder))
        nochange = [timed(lambda: build_index(small, work / "small-index", embedder=embedder))
                    for _ in range(args.repeat)]
        cli = [timed(lambda: subprocess.run([sys.executable, "-m", "policyqa", "index", str(small), "--index",
                                             str(work / "small-index"), "--quiet"], check=True,
                                            capture_output=True, cwd=ROOT))
               for _ in range(args.repeat)]
        new = write_corpus(small, 10, 3, seed=3, sentences=pool)
        t_add = timed(lambda: build_index(small, work / "small-index", embedder=embedder))
        add_texts = embedded_texts(work / "small-index")
        new_docs = {p.name for p in new}
        db = sqlite3.connect(read_current(work / "small-index") / DB)
        only_new = [r[0] for r in db.execute("SELECT text FROM chunks WHERE doc_id IN (%s)"
                                             % ",".join("?" * len(new_docs)), tuple(new_docs))]
        only_new += [r[0] for r in db.execute(
            'SELECT substr(d.text, s.start + 1, s."end" - s.start) FROM segments s JOIN documents d USING (doc_id) '
            "WHERE doc_id IN (%s)" % ",".join("?" * len(new_docs)), tuple(new_docs))]
        db.close()
        del add_texts
        t_add_bare = timed(lambda: embedder.encode(sorted(set(only_new), key=len), batch_size=32))
        results.update({"small_docs": args.small, "small_first_build_s": t_first,
                        "nochange_reindex_s": statistics.median(nochange),
                        "nochange_reindex_cli_s": statistics.median(cli),
                        "add10_s": t_add, "add10_bare_model_s": t_add_bare,
                        "add10_ratio": t_add_bare / t_add})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    r = results
    print(f"throughput: {r['throughput_texts']:.0f} texts, {r['throughput_wordpieces']:.0f} word pieces; "
          f"pipeline {r['pipeline_s']:.2f} s ({r['pipeline_tokens_per_s']:.0f} tok/s), bare model "
          f"{r['bare_model_s']:.2f} s ({r['bare_tokens_per_s']:.0f} tok/s); ratio {r['throughput_ratio']:.3f} "
          f"(target >= 0.85)")
    print(f"peak resident memory of one build: {r['peak_rss_mb']:.0f} MB")
    print(f"{args.small} documents: first build {r['small_first_build_s']:.1f} s; no-change re-index "
          f"{r['nochange_reindex_s']:.2f} s in-process, {r['nochange_reindex_cli_s']:.2f} s as the CLI "
          f"(target <= 2 s)")
    print(f"add 10 documents to {args.small}: {r['add10_s']:.2f} s vs bare model {r['add10_bare_model_s']:.2f} s "
          f"(ratio {r['add10_ratio']:.3f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
