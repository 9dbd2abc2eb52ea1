#!/usr/bin/env python3
"""Score policyqa on its dev sets beside plain baselines, all in one run, one table per set.

    python scripts/eval.py [--sets squad,policy,heldout,whosaid,compare] [--devset DIR] [--work DIR] [--limit N]
                           [--no-cv] [--distractors N] [--json FILE]

Two dev sets: the public SQuAD one (below) and the policy dev set (scripts/policyset/README.md:
analysts' questions written by hand over 18 of the default corpus's primary sources, before any
tuning; answered over the whole default corpus). `heldout` is a second hand-written policy set
over the other 18 sources, for a final measurement: nothing is fitted on it.

The policy table: doc@1/doc@5 (a top passage from a document the question lists), mrr@10 (first
listed-document passage holding an answer), ans@1/ans@3, cited@1 (the top quote is from a listed
document and holds an answer), spk@1 (questions that name whose words answer them: the top
quote's speaker is that person), found, abstR (abstained when the question's only document was
removed and its answer occurs nowhere else), abstU (abstained on the hand-written unanswerable
questions). policyqa-cv answers each question with the model fitted without its fold.

`whosaid` (scripts/policyset/whosaid.jsonl: 52 questions about people, 37 dev / 15 held-out,
written before any attribution code) is asked of the product and of the same product whose index
was built with ``Settings(attribution=False)`` (speakers from transcript turns and remarks pages
only: what the index held before attribution), each part scored on its own: ans@1, spk@1 (the top
quote's speaker is the question's person), ans+spk@1 (both: the issue's "answer@1 with the right
speaker"), evid+spk@1 (the top quote is the very evidence sentence, with the right speaker),
ans@3, found, abstU. The -cv rows answer each dev question with weights fitted, on that row's own
kind of indexes, without the question's fold.

`compare` (scripts/policyset/compare.jsonl: questions several documents answer) scores the
coverage view (``ask(..., coverage=True)``): the share of the documents holding an answer
sentence that it lists as addressing the question.

The dev set (SQuAD v1.1 dev questions over 5 Wikipedia articles, CC BY-SA 4.0; see
scripts/devset/README.md) is written out as .txt files and indexed with the product's own
`build_index` (cached in --work, so only the first run embeds). Leave-one-document-out indexes
(copies without one article, nothing re-embedded) supply the abstention negatives: each
article's questions asked of an index that lacks it.

Systems
- bm25, dense, rrf (their reciprocal-rank fusion, equal weights, k=60) over the product's chunks;
- tutorial: the common recipe, 1000-character recursive splits (200 overlap) + MiniLM + FAISS;
  these four pick sentences naively: the top 3 sentences of the top 3 passages by cosine;
- policyqa: `Retriever.ask` as shipped (its weights were fitted on this dev set: in-sample);
- policyqa-f32: policyqa with its sentence vectors stored as float32 instead of float16;
- policyqa+100k-exact / policyqa+100k-ivf: policyqa on the dev index plus --distractors chunks
  of other real sentences (the default corpus's), with exact search / with the IVF index the
  product switches to at that size (nprobe tuned at build time). The largest difference on any
  answerable-question figure between each measure and the same pipeline without it is printed
  and checked (<= 0.005); abstention is not measured for these rows (it needs their own
  leave-one-out indexes).
- policyqa-cv: the same pipeline with leave-one-document-out weights (each question answered by
  a model fitted without its article): what to expect on unseen text. Not timed.

Metrics (the dev set's README; "gold" = the question's paragraph, mapped into our text)
- recall@1/5/10, MRR@10: a passage is gold when it is from the gold document, overlaps the gold
  paragraph and contains a gold answer (SQuAD normalisation).
- answer@1 / answer@3: the top (any of the top 3) quoted sentence contains a gold answer.
- cited@1: the top sentence's citation, resolved against the indexed document text (our offsets,
  not the returned quote), lies inside the gold paragraph and contains a gold answer. The
  README asks for the gold *document*; the issue for the gold *passage*: this is the stricter.
- faithful: share of quoted sentences that equal the document text at their offsets and lie
  inside the passage they cite.
- found: share of answerable questions answered (found=True); abstain P/R: precision and recall
  of found=False over answerable + removed-article questions.
- p50/p95: wall time per question, search + sentence choice, query-embedding caches cleared
  before every call (the index's sentence terms are computed once before timing, standing in
  for an index-time table); systems are interleaved question by question so load on the shared CPU
  hits them alike. "dense search" is the dense baseline's search alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset_lib import PLAIN_RRF, ROOT, Question, build_indexes, contains_answer, variant_indexes  # noqa: E402

from policyqa import Answer, Hit, Retriever  # noqa: E402
from policyqa.query.answer import DEFAULT_K, AnswerModel, build_answer, rescore, score  # noqa: E402
from policyqa.ingest.chunking import sentence_spans  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402
from policyqa.query.sentences import precompute_terms  # noqa: E402


@dataclass(frozen=True)
class Quote:
    doc_id: str
    start: int
    end: int
    text: str
    passage_start: int  # the passage the quote cites
    passage_end: int


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Run:
    passages: list[Passage]
    quotes: list[Quote]
    found: bool


# ---- baselines ---------------------------------------------------------------------------

def naive_quotes(question_vec: np.ndarray, passages: list[Passage],
                 sentences: Callable[[Passage], list[tuple[int, int, np.ndarray]]]) -> list[Quote]:
    """Top 3 sentences of the top 3 passages by cosine with the question."""
    cands = []
    for p in passages[:3]:
        for start, end, vec in sentences(p):
            cands.append((float(vec @ question_vec), p, start, end))
    seen, out = set(), []
    for sim, p, start, end in sorted(cands, key=lambda c: -c[0]):
        if (p.doc_id, start) in seen:
            continue
        seen.add((p.doc_id, start))
        out.append(Quote(p.doc_id, start, end, "", p.start, p.end))
        if len(out) == 3:
            break
    return out


class IndexSentences:
    """The index's own sentences (segments) of a passage, with their index-time vectors."""

    def __init__(self, retriever: Retriever) -> None:
        self.files = retriever.reader.files

    def __call__(self, p: Passage) -> list[tuple[int, int, np.ndarray]]:
        rows = self.files.segments_between(p.doc_id, p.start, p.end)
        if not rows:
            return []
        vecs = np.asarray(self.files.segment_vectors[[r[0] for r in rows]], dtype=np.float32)
        return [(s, e, v) for (_, s, e), v in zip(rows, vecs)]


def recursive_split(text: str, size: int = 1000, overlap: int = 200,
                    seps: tuple[str, ...] = ("\n\n", "\n", " ", "")) -> list[tuple[int, int]]:
    """LangChain's RecursiveCharacterTextSplitter (keep_separator=True), as spans of ``text``."""

    def pieces(start: int, end: int, sep: str) -> list[tuple[int, int]]:
        """Split at every ``sep``, each separator kept at the start of the piece after it."""
        if sep == "":
            return [(i, i + 1) for i in range(start, end)]
        cuts = [start]
        pos = text.find(sep, start, end)
        while pos >= 0:
            if pos > cuts[-1]:
                cuts.append(pos)
            pos = text.find(sep, pos + len(sep), end)
        cuts.append(end)
        return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]

    def merge(parts: list[tuple[int, int]]) -> list[tuple[int, int]]:
        chunks, current = [], []
        total = 0
        for a, b in parts:
            n = b - a
            if current and total + n > size:
                chunks.append((current[0][0], current[-1][1]))
                while current and (total > overlap or total + n > size):
                    total -= current[0][1] - current[0][0]
                    current.pop(0)
            current.append((a, b))
            total += n
        if current:
            chunks.append((current[0][0], current[-1][1]))
        return chunks

    def split(start: int, end: int, seps: tuple[str, ...]) -> list[tuple[int, int]]:
        sep_i = next((i for i, s in enumerate(seps) if s == "" or s in text[start:end]), len(seps) - 1)
        sep, rest = seps[sep_i], seps[sep_i + 1:]
        good, out = [], []
        for a, b in pieces(start, end, sep):
            if b - a < size:
                good.append((a, b))
            else:
                if good:
                    out += merge(good)
                    good = []
                out += split(a, b, rest) if rest else [(a, b)]
        if good:
            out += merge(good)
        return out

    spans = []
    for a, b in split(0, len(text), seps):
        piece = text[a:b]
        a2 = a + len(piece) - len(piece.lstrip())
        b2 = a + len(piece.rstrip())
        if b2 > a2:
            spans.append((a2, b2))
    return spans


class Tutorial:
    """1000-character recursive splits + all-MiniLM-L6-v2 + FAISS IndexFlatIP (vectors cached)."""

    def __init__(self, retriever: Retriever, embedder: Embedder, work: Path) -> None:
        import faiss

        self.embedder = embedder
        self.chunks: list[Passage] = []
        for doc_id in retriever.doc_ids():
            text = retriever.document(doc_id).text
            self.chunks += [Passage(doc_id, a, b, text[a:b]) for a, b in recursive_split(text)]
        self.sentences: list[list[tuple[int, int]]] = []
        for p in self.chunks:
            self.sentences.append([(p.start + a, p.start + b) for a, b in sentence_spans(p.text)])
        texts = [p.text for p in self.chunks]
        sent_texts = [retriever.document(p.doc_id).text[a:b] for p, ss in zip(self.chunks, self.sentences)
                      for a, b in ss]
        key = hashlib.sha256("\x00".join(texts + sent_texts).encode()).hexdigest()[:16]
        cache = work / "tutorial" / f"{key}.npz"
        if cache.exists():
            data = np.load(cache)
            chunk_vecs, sent_vecs = data["chunks"], data["sentences"]
        else:
            print(f"tutorial baseline: embedding {len(texts)} chunks and {len(sent_texts)} sentences",
                  file=sys.stderr)
            chunk_vecs = embedder.encode(texts, batch_size=16)
            sent_vecs = embedder.encode(sent_texts, batch_size=64)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, chunks=chunk_vecs, sentences=sent_vecs)
        self.sent_vecs: list[np.ndarray] = []
        i = 0
        for ss in self.sentences:
            self.sent_vecs.append(sent_vecs[i:i + len(ss)])
            i += len(ss)
        self.index = faiss.IndexFlatIP(chunk_vecs.shape[1])
        self.index.add(np.ascontiguousarray(chunk_vecs, dtype=np.float32))
        self.row = {(p.doc_id, p.start): i for i, p in enumerate(self.chunks)}

    def run(self, question: str) -> Run:
        qvec = self.embedder.encode([question])[0]
        _, ids = self.index.search(qvec.reshape(1, -1), 10)
        passages = [self.chunks[i] for i in ids[0] if i >= 0]

        def sentences(p: Passage) -> list[tuple[int, int, np.ndarray]]:
            i = self.row[(p.doc_id, p.start)]
            return [(a, b, v) for (a, b), v in zip(self.sentences[i], self.sent_vecs[i])]

        return Run(passages, naive_quotes(qvec, passages, sentences), True)


def hit_passages(hits: list[Hit]) -> list[Passage]:
    return [Passage(h.doc_id, h.start, h.end, h.text) for h in hits]


def baseline(retriever: Retriever, search: Callable[[str], list[Hit]]) -> Callable[[str], Run]:
    sentences = IndexSentences(retriever)

    def run(question: str) -> Run:
        passages = hit_passages(search(question))
        return Run(passages, naive_quotes(retriever.embed_query(question), passages, sentences), True)

    return run


def answer_run(answer: Answer) -> Run:
    quotes = [Quote(s.citation.doc_id, s.citation.start, s.citation.end, s.text, s.citation.chunk_start,
                    s.citation.chunk_end) for s in answer.sentences]
    return Run(hit_passages(list(answer.hits)), quotes, answer.found)


# ---- metrics -----------------------------------------------------------------------------

def is_gold(p: Passage, q: Question) -> bool:
    return p.doc_id == q.doc_id and p.start < q.end and p.end > q.start and contains_answer(p.text, q.answers)


def score_runs(runs: list[Run], questions: list[Question], texts: dict[str, str],
               negatives: list[Run] | None) -> dict[str, float]:
    n = len(questions)
    first, a1, a3, cited, quotes, faithful = [], 0, 0, 0, 0, 0
    for run, q in zip(runs, questions):
        first.append(next((i for i, p in enumerate(run.passages[:10], 1) if is_gold(p, q)), None))
        # Every quote is re-read from the indexed document at its offsets: what a reader checks.
        resolved = [texts[x.doc_id][x.start:x.end] for x in run.quotes]
        for x, text in zip(run.quotes, resolved):
            quotes += 1
            faithful += bool(text) and (not x.text or x.text == text) and \
                x.passage_start <= x.start and x.end <= x.passage_end
        if run.found and resolved:
            a1 += contains_answer(resolved[0], q.answers)
            a3 += any(contains_answer(t, q.answers) for t in resolved[:3])
            top = run.quotes[0]
            cited += (top.doc_id == q.doc_id and q.start <= top.start and top.end <= q.end
                      and contains_answer(resolved[0], q.answers))
    out = {
        "r@1": sum(r == 1 for r in first) / n,
        "r@5": sum(r is not None and r <= 5 for r in first) / n,
        "r@10": sum(r is not None for r in first) / n,
        "mrr@10": sum(1 / r for r in first if r) / n,
        "ans@1": a1 / n, "ans@3": a3 / n, "cited@1": cited / n,
        "faithful": faithful / max(quotes, 1),
        "found": sum(r.found for r in runs) / n,
    }
    if negatives is not None:
        abstained_neg = sum(not r.found for r in negatives)
        abstained_pos = sum(not r.found for r in runs)
        out["abstP"] = abstained_neg / max(abstained_neg + abstained_pos, 1)
        out["abstR"] = abstained_neg / len(negatives)
    else:
        out["abstP"], out["abstR"] = float("nan"), 0.0
    return out


class DocumentTexts(dict):  # type: ignore[type-arg]
    """Document texts by id, read from ``retriever`` on first use (a distractor's, when quoted)."""

    def __init__(self, known: dict[str, str], retriever: Retriever) -> None:
        super().__init__(known)
        self.retriever = retriever

    def __missing__(self, doc_id: str) -> str:
        self[doc_id] = text = self.retriever.document(doc_id).text
        return text


def percentile(times: list[float], p: float) -> float:
    return 1000 * float(np.percentile(np.array(times), p)) if times else float("nan")


def print_table(rows: dict[str, dict[str, float]]) -> None:
    columns = ["r@1", "r@5", "r@10", "mrr@10", "ans@1", "ans@3", "cited@1", "faithful", "found", "abstP",
               "abstR", "p50_ms", "p95_ms"]
    width = max(len(n) for n in rows) + 2
    print("system".ljust(width) + "".join(c.rjust(9) for c in columns))
    for name, row in rows.items():
        cells = []
        for c in columns:
            v = row.get(c, float("nan"))
            cells.append(("-" if v != v else (f"{v:.1f}" if c.endswith("_ms") else f"{v:.3f}")).rjust(9))
        print(name.ljust(width) + "".join(cells))


# ---- main --------------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devset", type=Path, default=ROOT / "scripts" / "devset")
    p.add_argument("--work", type=Path, default=ROOT / ".eval-cache", help="where the dev indexes are kept")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--no-cv", action="store_true", help="skip the leave-one-document-out row (saves ~1 min)")
    p.add_argument("--distractors", type=int, default=100_000,
                   help="distractor chunks added for the ANN rows (0: leave those rows out)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--sets", default="squad,policy",
                   help="comma-separated: squad (the public SQuAD dev set), policy (scripts/policyset/"
                        "questions.jsonl over the default corpus), heldout (scripts/policyset/heldout.jsonl: "
                        "the untouched final measurement), whosaid (scripts/policyset/whosaid.jsonl: "
                        "questions about people, with and without speaker attribution), compare (scripts/policyset/"
                        "compare.jsonl: the coverage view's recall of documents holding an answer)")
    args = p.parse_args()
    sets = {x.strip() for x in args.sets.split(",") if x.strip()}
    unknown = sets - {"squad", "policy", "heldout", "whosaid", "compare"}
    if unknown:
        p.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    out: dict[str, object] = {}
    checks: list[tuple[str, bool]] = []
    if "squad" in sets:
        out["squad"], squad_checks = squad_main(args)
        checks += squad_checks
    for name, file in (("policy", "questions.jsonl"), ("heldout", "heldout.jsonl")):
        if name not in sets:
            continue
        # The held-out set is never fitted on: the shipped model is already out of sample there.
        rows = policy_rows(args.work, Embedder(), args.limit, not args.no_cv and name == "policy", file)
        print_policy_table(rows)
        out[name] = rows
        cv = rows.get("policyqa-cv", rows["policyqa"])
        label = "CV" if "policyqa-cv" in rows else ("never fitted on" if name == "heldout" else "in-sample")
        checks += [(f"{name}: answer@1 ({label}) >= 0.60", cv["ans@1"] >= 0.60),
                   (f"{name}: doc@1 >= bm25's", rows["policyqa"]["doc@1"] >= rows["bm25"]["doc@1"]),
                   (f"{name}: unanswerable abstained ({label}) >= 0.6", cv["abstU"] >= 0.6),
                   (f"{name}: found ({label}) >= 0.9", cv["found"] >= 0.9),
                   (f"{name}: faithful == 1.000", rows["policyqa"]["faithful"] == 1.0)]
    if "whosaid" in sets:
        rows = whosaid_rows(args.work, Embedder(), args.limit, not args.no_cv)
        print_whosaid_table(rows)
        out["whosaid"] = rows
        # The bar: answer@1 with the right speaker at least 0.15 above the same system
        # without attribution (cross-validated on the dev part; the held-out part never fitted on).
        for part, mine, base in (("dev", "policyqa-cv", "no-attribution-cv"), ("heldout", "policyqa", "no-attribution")):
            a, b = rows.get(f"{mine} {part}", rows[f"policyqa {part}"]), rows.get(f"{base} {part}",
                                                                                rows[f"no-attribution {part}"])
            checks.append((f"whosaid {part}: ans+spk@1 - without attribution ({a['ans+spk@1']:.3f} - "
                           f"{b['ans+spk@1']:.3f}) >= 0.15", a["ans+spk@1"] - b["ans+spk@1"] >= 0.15))
    if "compare" in sets:
        row = compare_rows(args.work, Embedder(), args.limit)
        print("coverage view on the comparison set: " + ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        out["compare"] = row
        checks.append((f"compare: coverage lists >= 0.90 of the answer-holding documents ({row['recall']:.3f})",
                       row["recall"] >= 0.90))
    print("checks: " + "; ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


def squad_main(args: argparse.Namespace) -> tuple[dict, list[tuple[str, bool]]]:
    """The SQuAD dev set: every system, the speed and memory variants, the CV row."""
    embedder = Embedder()
    questions, _, loo = build_indexes(args.devset, args.work, embedder=embedder)
    if args.limit:
        questions = questions[:args.limit]
    retriever = Retriever.open(args.work / "index", embedder=embedder)
    rrf = Retriever(retriever.reader, embedder, PLAIN_RRF)
    texts = {d: retriever.document(d).text for d in retriever.doc_ids()}
    tutorial = Tutorial(retriever, embedder, args.work)

    # Sentence terms are index data (like the BM25 vocabulary), computed here once before timing
    # as an index-time table would hold them; per-question caches are cleared before every call.
    precompute_terms(retriever.reader)
    variants = {f"policyqa{'' if name.startswith('+') else '-'}{name}": Retriever.open(path, embedder=embedder)
                for name, path in variant_indexes(args.work, embedder, args.distractors).items()}
    for r in variants.values():
        if r.reader.info().n_chunks <= 10_000:  # a distractor index's sentences would overflow the terms cache
            precompute_terms(r.reader)

    def cold() -> None:
        # A question must pay for its own embedding: clear the query-vector caches first.
        for r in (retriever, rrf, *variants.values()):
            with r._cache_lock:
                r._cache.clear()

    dense_search_times: list[float] = []

    def dense_search(question: str) -> list[Hit]:
        t = time.perf_counter()
        hits = retriever.dense_search(question, k=10)
        dense_search_times.append(time.perf_counter() - t)
        return hits

    systems: dict[str, Callable[[str], Run]] = {
        "bm25": baseline(retriever, lambda q: retriever.lexical_search(q, k=10)),
        "dense": baseline(retriever, dense_search),
        "rrf": baseline(rrf, lambda q: rrf.search(q, k=10)),
        "tutorial": tutorial.run,
        "policyqa": lambda q: answer_run(retriever.ask(q, k=DEFAULT_K)),
        **{name: (lambda q, r=r: answer_run(r.ask(q, k=DEFAULT_K))) for name, r in variants.items()},
    }
    for q in questions[:5]:  # warm up: model, SQLite pages, document texts
        for run in systems.values():
            run(q.question)
    dense_search_times.clear()

    runs: dict[str, list[Run]] = {name: [] for name in systems}
    times: dict[str, list[float]] = {name: [] for name in systems}
    names = list(systems)
    for i, q in enumerate(questions):
        for name in names[i % len(names):] + names[:i % len(names)]:  # rotate the order
            cold()
            t = time.perf_counter()
            runs[name].append(systems[name](q.question))
            times[name].append(time.perf_counter() - t)

    negatives = []
    for doc, index in loo.items():
        sub = Retriever.open(index, embedder=embedder)
        negatives += [answer_run(sub.ask(q.question, k=DEFAULT_K)) for q in questions if q.doc_id == doc]

    rows = {}
    for name in systems:
        quoted = DocumentTexts(texts, variants[name]) if name in variants else texts  # + distractors'
        rows[name] = score_runs(runs[name], questions, quoted, negatives if name == "policyqa" else None)
        rows[name]["p50_ms"] = percentile(times[name], 50)
        rows[name]["p95_ms"] = percentile(times[name], 95)
    for name in variants:  # no removed-article runs for the variants: abstention not measured
        rows[name]["abstP"] = rows[name]["abstR"] = float("nan")
    if not args.no_cv:
        rows["policyqa-cv"] = cross_validated(retriever, loo, questions, texts, embedder, args.work)

    dense_p50 = percentile(dense_search_times, 50)
    print(f"{len(questions)} questions, {retriever.status().n_chunks} chunks "
          f"({len(tutorial.chunks)} tutorial chunks); {len(negatives)} removed-article questions")
    print_table(rows)
    ratio = rows["policyqa"]["p50_ms"] / dense_p50
    print(f"dense search alone: p50 {dense_p50:.1f} ms, p95 {percentile(dense_search_times, 95):.1f} ms; "
          f"policyqa ask p50 / dense search p50 = {ratio:.2f}")
    row = rows["policyqa"]
    shared = ["r@1", "r@5", "r@10", "mrr@10", "ans@1", "ans@3", "cited@1", "faithful", "found"]
    # Each measure against the same pipeline without it: float16 sentence vectors against float32;
    # the ANN index against exact search over the same distractor-enlarged index.
    pairs = {"policyqa-f32": "policyqa", **{n: n.replace("-exact", "-ivf") for n in variants if n.endswith("-exact")}}
    drift = {f"{b} vs {a}": max(abs(rows[a][c] - rows[b][c]) for c in shared) for a, b in pairs.items()}
    print(f"speed and memory measures, largest change of any figure ({', '.join(shared)}): "
          + "; ".join(f"{name} {d:.3f}" for name, d in drift.items()))
    for name, r in variants.items():
        d = r.reader.info().dense
        if d["type"] != "flat":
            print(f"{name}: {r.reader.info().n_chunks} chunks, IVF nlist {d['nlist']} nprobe {d['nprobe']} "
                  f"(tuned recall@10 {d['recall_at_10']})")
    cv = rows.get("policyqa-cv", row)
    label = "CV" if "policyqa-cv" in rows else "in-sample"
    checks = [(f"squad: cited@1 ({label}) >= 0.78", cv["cited@1"] >= 0.78), ("squad: r@5 >= 0.95", row["r@5"] >= 0.95),
              ("squad: faithful == 1.000", row["faithful"] == 1.0),
              (f"squad: abstained on removed articles ({label}) >= 0.90", cv["abstR"] >= 0.9),
              (f"squad: found on answerable ({label}) >= 0.95", cv["found"] >= 0.95),
              ("squad: ask p50 <= 1.3x dense search", ratio <= 1.3),
              *((f"squad: {name} within 0.005", d <= 0.005) for name, d in drift.items())]
    return {"rows": rows, "dense_search_p50_ms": dense_p50, "ratio": ratio}, checks


_CV: dict = {}


def cv_models(work: Path, attribution: bool = True):  # type: ignore[no-untyped-def]
    """Answer models fitted without each fold (fit_answer_weights.fold_of: whole documents), on
    both dev sets as fit_answer_weights.py fits the shipped model; computed once per run.
    ``attribution=False``: fitted on indexes built without speaker attribution (turns only), so
    that the system without attribution is cross-validated the same way as the one with it."""
    if attribution not in _CV:
        from fit_answer_weights import fold_of, gather_data, gather_policy, lodo_models

        squad_pos, squad_neg = gather_data(ROOT / "scripts" / "devset", work, attribution=attribution)
        policy_pos, removed, written = gather_policy(work, attribution=attribution)
        _CV[attribution] = (lodo_models(squad_pos + policy_pos, squad_neg + removed + written), fold_of)
    return _CV[attribution]


def cv_answer(retriever: Retriever, question: str, q, work: Path,  # type: ignore[no-untyped-def]
              attribution: bool = True) -> Answer:
    """``question`` answered by the model fitted without ``q``'s fold."""
    models, fold_of = cv_models(work, attribution)
    m = models[fold_of(q)]
    hits = retriever.search(question, k=DEFAULT_K)
    s = score(retriever, question, hits, AnswerModel.neutral()) if hits else None
    return build_answer(retriever, question, question, hits, rescore(s, m) if s else None, m)


def cross_validated(retriever: Retriever, loo: dict[str, Path], questions: list[Question],
                    texts: dict[str, str], embedder: Embedder, work: Path) -> dict[str, float]:
    """policyqa with weights fitted without the question's own article (folds of whole documents)."""
    runs = [answer_run(cv_answer(retriever, q.question, q, work)) for q in questions]
    negatives = []
    for doc, index in loo.items():
        sub = Retriever.open(index, embedder=embedder)
        negatives += [answer_run(cv_answer(sub, q.question, q, work)) for q in questions if q.doc_id == doc]
    return score_runs(runs, questions, texts, negatives)


# ---- the policy dev set --------------------------------------------------------------------

POLICY_COLUMNS = ["doc@1", "doc@5", "mrr@10", "ans@1", "ans@3", "cited@1", "spk@1", "faithful", "found", "abstR",
                  "abstU"]


@dataclass(frozen=True)
class PolicyRun:
    run: Run
    speakers: tuple[str | None, ...]  # of the quotes, when the system knows them


def policy_rows(work: Path, embedder: Embedder, limit: int | None, with_cv: bool,
                name: str = "questions.jsonl") -> dict[str, dict[str, float]]:
    """Every system on the policy dev set (scripts/policyset/), over the whole default corpus."""
    import policyset_lib

    questions = policyset_lib.load_questions(name)
    index, loo = policyset_lib.build_indexes(work, embedder, questions)
    retriever = Retriever.open(index, embedder=embedder)
    plain = Retriever(retriever.reader, embedder, PLAIN_RRF)
    texts = {d: retriever.document(d).text for d in retriever.doc_ids()}
    answerable = [q for q in questions if q.answerable][:limit]
    unanswerable = [q for q in questions if not q.answerable][:limit]
    removed = policyset_lib.removed_negatives(answerable, texts)
    tutorial = Tutorial(retriever, embedder, work)

    def product(r: Retriever) -> Callable[[str], PolicyRun]:
        def run(question: str) -> PolicyRun:
            a = r.ask(question, k=DEFAULT_K)
            return PolicyRun(answer_run(a), tuple(getattr(s.citation, "speaker", None) for s in a.sentences))
        return run

    def plain_run(f: Callable[[str], Run]) -> Callable[[str], PolicyRun]:
        return lambda question: PolicyRun(f(question), ())

    systems: dict[str, Callable[[str], PolicyRun]] = {
        "bm25": plain_run(baseline(retriever, lambda q: retriever.lexical_search(q, k=10))),
        "dense": plain_run(baseline(retriever, lambda q: retriever.dense_search(q, k=10))),
        "rrf": plain_run(baseline(plain, lambda q: plain.search(q, k=10))),
        "tutorial": plain_run(tutorial.run),
        "policyqa": product(retriever),
    }
    subs = {doc: Retriever.open(path, embedder=embedder) for doc, path in loo.items()}
    rows: dict[str, dict[str, float]] = {}
    for sysname, run in systems.items():
        pos = [run(q.question) for q in answerable]
        neg_u = [run(q.question) for q in unanswerable] if sysname.startswith("policyqa") else None
        neg_r = None
        if sysname == "policyqa":
            neg_r = [product(subs[q.doc_ids[0]])(q.question) for q in removed]
        rows[sysname] = score_policy(pos, answerable, texts, neg_r, neg_u)
    if with_cv:
        def cv(r: Retriever, q) -> PolicyRun:  # type: ignore[no-untyped-def]
            a = cv_answer(r, q.question, q, work)
            return PolicyRun(answer_run(a), tuple(getattr(s.citation, "speaker", None) for s in a.sentences))
        rows["policyqa-cv"] = score_policy([cv(retriever, q) for q in answerable], answerable, texts,
                                           [cv(subs[q.doc_ids[0]], q) for q in removed],
                                           [cv(retriever, q) for q in unanswerable])
    print(f"policy set ({name}): {len(answerable)} answerable questions ({len(removed)} also asked without "
          f"their document), {len(unanswerable)} unanswerable; {retriever.status().n_documents} documents, "
          f"{retriever.status().n_chunks} chunks")
    return rows


def score_policy(runs: list[PolicyRun], questions: list, texts: dict[str, str], removed: list[PolicyRun] | None,
                 unanswerable: list[PolicyRun] | None) -> dict[str, float]:
    """doc@k: a top-k passage is from a listed document; mrr@10: of the first listed-document
    passage holding an answer; ans@k: a top-k quote holds an answer (a "who" question may be
    answered by the quote's speaker); cited@1: the top quote is from a listed document and holds
    an answer; spk@1: for questions naming the expected speaker, the top quote's speaker is that
    person; abstR / abstU: "not found" on removed-document / hand-written unanswerable questions."""
    import policyset_lib
    from devset_lib import contains_answer

    n = len(questions)
    out = dict.fromkeys(POLICY_COLUMNS, 0.0)
    quotes = faithful = n_spk = 0
    for pr, q in zip(runs, questions):
        run = pr.run
        docs = [p.doc_id for p in run.passages[:10]]
        out["doc@1"] += bool(docs) and docs[0] in q.doc_ids
        out["doc@5"] += any(d in q.doc_ids for d in docs[:5])
        first = next((i for i, p in enumerate(run.passages[:10], 1)
                      if p.doc_id in q.doc_ids and contains_answer(p.text, q.answers)), None)
        out["mrr@10"] += 1 / first if first else 0.0
        resolved = [texts[x.doc_id][x.start:x.end] for x in run.quotes]
        for x, text in zip(run.quotes, resolved):
            quotes += 1
            faithful += bool(text) and (not x.text or x.text == text) and x.passage_start <= x.start \
                and x.end <= x.passage_end
        speakers = list(pr.speakers) + [None] * (len(resolved) - len(pr.speakers))
        holds = [contains_answer(t, q.answers) or (q.kind == "who" and bool(sp) and contains_answer(sp, q.answers))
                 for t, sp in zip(resolved, speakers)]
        if run.found and resolved:
            out["found"] += 1
            out["ans@1"] += holds[0]
            out["ans@3"] += any(holds[:3])
            out["cited@1"] += holds[0] and run.quotes[0].doc_id in q.doc_ids
        if q.speaker:
            n_spk += 1
            out["spk@1"] += run.found and bool(speakers) and policyset_lib.speaker_matches(q.speaker, speakers[0])
    for key in ("doc@1", "doc@5", "mrr@10", "ans@1", "ans@3", "cited@1", "found"):
        out[key] /= max(n, 1)
    # Baselines know no speakers: not measured for them, rather than 0.
    knows_speakers = any(pr.speakers for pr in runs)
    out["spk@1"] = out["spk@1"] / n_spk if n_spk and knows_speakers else float("nan")
    out["faithful"] = faithful / max(quotes, 1)
    out["abstR"] = sum(not r.run.found for r in removed) / max(len(removed), 1) if removed is not None else float("nan")
    out["abstU"] = (sum(not r.run.found for r in unanswerable) / max(len(unanswerable), 1)
                    if unanswerable is not None else float("nan"))
    return out


def print_policy_table(rows: dict[str, dict[str, float]]) -> None:
    width = max(len(n) for n in rows) + 2
    print("system".ljust(width) + "".join(c.rjust(9) for c in POLICY_COLUMNS))
    for name, row in rows.items():
        print(name.ljust(width) + "".join(("-" if row[c] != row[c] else f"{row[c]:.3f}").rjust(9)
                                          for c in POLICY_COLUMNS))


# ---- the who-said set ------------------------------------------------------------------------

WHOSAID_COLUMNS = ["n", "ans@1", "spk@1", "ans+spk@1", "evid+spk@1", "ans@3", "found", "abstU"]


def whosaid_rows(work: Path, embedder: Embedder, limit: int | None, with_cv: bool) -> dict[str, dict[str, float]]:
    """The who-said set (scripts/policyset/whosaid.jsonl) on the product with speaker attribution
    and on the same product built without it (Settings(attribution=False): speakers from
    transcript turns and remarks pages only), each part (dev, held-out) scored on its own.
    The shipped weights were fitted on indexes without attribution; the -cv rows answer each dev
    question with weights fitted, on that row's own kind of index, without the question's fold."""
    import policyset_lib

    questions = policyset_lib.load_questions("whosaid.jsonl")
    answerable = [q for q in questions if q.answerable][:limit]
    unanswerable = [q for q in questions if not q.answerable][:limit]
    retrievers = {attr: Retriever.open(policyset_lib.build_full_index(work, embedder, attr), embedder=embedder)
                  for attr in (True, False)}
    texts = {d: retrievers[True].document(d).text for d in retrievers[True].doc_ids()}

    def policy_run(a: Answer) -> PolicyRun:
        return PolicyRun(answer_run(a), tuple(s.citation.speaker for s in a.sentences))

    systems: dict[str, tuple[bool, Callable[[Retriever, object], Answer]]] = {
        "policyqa": (True, lambda r, q: r.ask(q.question, k=DEFAULT_K)),
        "no-attribution": (False, lambda r, q: r.ask(q.question, k=DEFAULT_K)),
    }
    if with_cv:
        systems["policyqa-cv"] = (True, lambda r, q: cv_answer(r, q.question, q, work, True))
        systems["no-attribution-cv"] = (False, lambda r, q: cv_answer(r, q.question, q, work, False))
    rows: dict[str, dict[str, float]] = {}
    for part in ("dev", "heldout"):
        pos = [q for q in answerable if q.part == part]
        neg = [q for q in unanswerable if q.part == part]
        for name, (attr, ask) in systems.items():
            if name.endswith("-cv") and part != "dev":
                continue  # nothing is fitted on the held-out part: the shipped rows are out of sample there
            r = retrievers[attr]
            rows[f"{name} {part}"] = score_whosaid([policy_run(ask(r, q)) for q in pos], pos, texts,
                                                   [policy_run(ask(r, q)) for q in neg])
    print(f"who-said set: {len(answerable)} answerable ({sum(q.part == 'dev' for q in answerable)} dev, "
          f"{sum(q.part == 'heldout' for q in answerable)} held-out), {len(unanswerable)} unanswerable")
    return rows


def _same_sentence(quote: str, evidence: str | None) -> bool:
    """The quote is the question's evidence sentence (a quoted unit may join a sentence cut by a
    line break, or be one piece of an over-long one: containment either way, most of it shared)."""
    from devset_lib import squad_normalise

    if not evidence:
        return False
    a, b = squad_normalise(quote), squad_normalise(evidence)
    return bool(a and b) and (b in a or a in b) and min(len(a), len(b)) >= 0.5 * max(len(a), len(b))


def score_whosaid(runs: list[PolicyRun], questions: list, texts: dict[str, str],
                  unanswerable: list[PolicyRun]) -> dict[str, float]:
    """ans@1: the top quote holds an answer (a "who" question may be answered by the quote's
    speaker); spk@1: the top quote's speaker is the question's person; ans+spk@1: both (the
    issue's measure: the answer, with the right speaker in its citation); evid+spk@1: the top
    quote is the very sentence the question was written from, with the right speaker (stricter:
    a "who" question is not answered by any sentence of the right person); abstU: "not found" on
    the unanswerable ones."""
    import policyset_lib

    out = dict.fromkeys(WHOSAID_COLUMNS, 0.0)
    out["n"] = len(questions)
    for pr, q in zip(runs, questions):
        if not (pr.run.found and pr.run.quotes):
            continue
        resolved = [texts[x.doc_id][x.start:x.end] for x in pr.run.quotes]
        speakers = list(pr.speakers) + [None] * (len(resolved) - len(pr.speakers))
        holds = [contains_answer(t, q.answers) or (q.kind == "who" and bool(sp) and contains_answer(sp, q.answers))
                 for t, sp in zip(resolved, speakers)]
        right = policyset_lib.speaker_matches(q.speaker, speakers[0])
        out["found"] += 1
        out["ans@1"] += holds[0]
        out["spk@1"] += right
        out["ans+spk@1"] += holds[0] and right
        out["evid+spk@1"] += _same_sentence(resolved[0], q.evidence) and right
        out["ans@3"] += any(holds[:3])
    for key in WHOSAID_COLUMNS[1:-1]:
        out[key] /= max(len(questions), 1)
    out["abstU"] = sum(not r.run.found for r in unanswerable) / len(unanswerable) if unanswerable else float("nan")
    return out


def print_whosaid_table(rows: dict[str, dict[str, float]]) -> None:
    width = max(len(n) for n in rows) + 2
    print("system / part".ljust(width) + "".join(c.rjust(11) for c in WHOSAID_COLUMNS))
    for name, row in rows.items():
        print(name.ljust(width) + "".join(
            (f"{int(row[c])}" if c == "n" else "-" if row[c] != row[c] else f"{row[c]:.3f}").rjust(11)
            for c in WHOSAID_COLUMNS))


# ---- coverage across sources -------------------------------------------------------------------

def compare_rows(work: Path, embedder: Embedder, limit: int | None) -> dict[str, float]:
    """The comparison set (scripts/policyset/compare.jsonl: questions that several documents
    answer, each listing every document of the default corpus holding an answer sentence, written
    before the coverage view existed): the share of those documents the coverage view lists as
    addressing the question (recall), the share it mentions at all (addressing or silent), and
    how many documents it lists as addressing per question, of which how many are not listed
    (they may address it in other words: read, not scored)."""
    import policyset_lib
    from devset_lib import squad_normalise

    questions = policyset_lib.load_questions("compare.jsonl")[:limit]
    retriever = Retriever.open(policyset_lib.build_full_index(work, embedder, True), embedder=embedder)
    texts = {d: squad_normalise(retriever.document(d).text) for d in retriever.doc_ids()}
    gold = addressed = mentioned = listed = extra = 0
    differs = flagged = 0
    for q in questions:
        # The set's own check: every listed document holds an answer string.
        missing = [d for d in q.doc_ids if not any(squad_normalise(a) in texts[d] for a in q.answers)]
        assert not missing, f"{q.qid}: no answer string in {missing}"
        cov = retriever.ask(q.question, coverage=True).coverage
        assert cov is not None
        mine = {s.doc_id for s in cov.addressing}
        seen = {s.doc_id for s in cov.sources}
        gold += len(q.doc_ids)
        addressed += len(mine & set(q.doc_ids))
        mentioned += len(seen & set(q.doc_ids))
        listed += len(mine)
        extra += len(mine - set(q.doc_ids))
        differs += sum(c.differs for c in cov.figures)
        flagged += len(cov.disagreements)
        print(f"  {q.qid}: addressing {len(mine & set(q.doc_ids))}/{len(q.doc_ids)} listed documents "
              f"(+{len(mine - set(q.doc_ids))} others), silent {len(cov.silent)}; figure comparisons "
              f"{len(cov.figures)} ({sum(c.differs for c in cov.figures)} differ), sources-differ pairs "
              f"{len(cov.disagreements)}")
    n = max(len(questions), 1)
    return {"questions": len(questions), "documents": gold, "recall": addressed / max(gold, 1),
            "mentioned": mentioned / max(gold, 1), "addressing_per_q": listed / n, "unlisted_per_q": extra / n,
            "figures_differ": differs, "sources_differ": flagged}


if __name__ == "__main__":
    raise SystemExit(main())
