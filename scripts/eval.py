#!/usr/bin/env python3
"""Score policyqa on the public dev set beside plain baselines, all in one run.

    python scripts/eval.py [--devset DIR] [--work DIR] [--limit N] [--json FILE]

The dev set (SQuAD v1.1 dev questions over 5 Wikipedia articles, CC BY-SA 4.0; see
scripts/devset/README.md) is written out as .txt files, indexed with the product's own
`build_index` (cached in --work, so only the first run embeds), and every system answers every
question in the same process.

Retrieval metrics, as the dev set's README defines them: a hit is gold when it comes from the gold
document, overlaps the gold paragraph and contains a gold answer (SQuAD normalisation).
recall@1/5/10, MRR@10 and document recall@5.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policyqa import Hit, Retriever, build_index  # noqa: E402
from policyqa.documents import normalise  # noqa: E402


# ---- dev set --------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    answers: tuple[str, ...]
    doc_id: str
    start: int  # gold paragraph span in the *indexed* (normalised) document text
    end: int


def squad_normalise(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    norm = squad_normalise(text)
    return any(squad_normalise(a) and squad_normalise(a) in norm for a in answers)


def load_devset(devset: Path, work: Path) -> tuple[list[Question], Path]:
    """Write the dev corpus as .txt files under work/corpus; return questions with gold spans
    mapped onto the normalised text that policyqa indexes (offsets shift where it folds spaces)."""
    corpus_dir = work / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    texts: dict[str, tuple[str, str]] = {}
    for line in (devset / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        path = corpus_dir / f"{doc['doc_id']}.txt"
        if not path.exists() or path.read_text(encoding="utf-8") != doc["text"]:
            path.write_text(doc["text"], encoding="utf-8")
        texts[doc["doc_id"]] = (doc["text"], normalise(doc["text"]))
    questions = []
    for line in (devset / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        raw, norm = texts[q["doc_id"]]
        passage = normalise(raw[q["passage_start"]:q["passage_end"]])
        start = norm.find(passage)
        if start < 0:
            raise SystemExit(f"gold passage of {q['qid']} not found in normalised text")
        questions.append(Question(q["qid"], q["question"], tuple(q["answers"]), f"{q['doc_id']}.txt",
                                  start, start + len(passage)))
    return questions, corpus_dir


# ---- metrics --------------------------------------------------------------------------

def is_gold_hit(hit: Hit, q: Question) -> bool:
    return (hit.doc_id == q.doc_id and hit.start < q.end and hit.end > q.start
            and contains_answer(hit.text, q.answers))


def retrieval_metrics(ranked: list[list[Hit]], questions: list[Question]) -> dict[str, float]:
    n = len(questions)
    first = []
    for hits, q in zip(ranked, questions):
        rank = next((i for i, h in enumerate(hits[:10], 1) if is_gold_hit(h, q)), None)
        first.append(rank)
    doc5 = sum(any(h.doc_id == q.doc_id for h in hits[:5]) for hits, q in zip(ranked, questions))
    return {
        "recall@1": sum(r is not None and r <= 1 for r in first) / n,
        "recall@5": sum(r is not None and r <= 5 for r in first) / n,
        "recall@10": sum(r is not None for r in first) / n,
        "mrr@10": sum(1 / r for r in first if r) / n,
        "doc_recall@5": doc5 / n,
    }


def run_search(name: str, search: Callable[[str], list[Hit]], questions: list[Question]) -> dict[str, float]:
    ranked, times = [], []
    for q in questions:
        t = time.perf_counter()
        ranked.append(search(q.question))
        times.append(time.perf_counter() - t)
    out = retrieval_metrics(ranked, questions)
    times.sort()
    out["search_p50_ms"] = 1000 * times[len(times) // 2]
    out["search_p95_ms"] = 1000 * times[min(len(times) - 1, int(len(times) * 0.95))]
    return out


def print_table(rows: dict[str, dict[str, float]]) -> None:
    columns = sorted({c for r in rows.values() for c in r}, key=lambda c: list(next(iter(rows.values()))).index(c)
                     if c in next(iter(rows.values())) else 99)
    width = max(len(n) for n in rows) + 2
    print("system".ljust(width) + "".join(c.rjust(14) for c in columns))
    for name, row in rows.items():
        print(name.ljust(width) + "".join((f"{row[c]:.3f}" if c in row else "-").rjust(14) for c in columns))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devset", type=Path, default=ROOT / "scripts" / "devset")
    p.add_argument("--work", type=Path, default=ROOT / ".eval-cache", help="where the dev index is kept")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()

    questions, corpus_dir = load_devset(args.devset, args.work)
    if args.limit:
        questions = questions[:args.limit]
    report = build_index(corpus_dir, args.work / "index", progress=True)
    print(f"dev index: {report.summary()}", file=sys.stderr)
    retriever = Retriever.open(args.work / "index")
    retriever.embed_query("warm up the model")

    rows = {
        "bm25": run_search("bm25", lambda q: retriever.lexical_search(q, k=10), questions),
        "dense": run_search("dense", lambda q: retriever.dense_search(q, k=10), questions),
        "policyqa": run_search("policyqa", lambda q: retriever.search(q, k=10), questions),
    }
    print(f"{len(questions)} questions, {report.n_chunks} chunks")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
