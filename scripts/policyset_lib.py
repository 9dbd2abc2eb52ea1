"""The policy dev set (scripts/policyset/) as eval.py and the fit scripts need it.

- questions written by hand over 18 of the default corpus's primary sources, answerable ones
  with short answer strings and the documents that hold them, unanswerable ones written to
  sound related (see scripts/policyset/README.md);
- the index of the whole default corpus (corpus/), built with the product's own build_index;
- leave-one-document-out indexes for each dev-part document: a single-document question asked
  of an index without its document is a negative for abstention, unless its answer string
  still occurs in another document (some sources repeat a figure), which is then left out;
- per-sentence gold labels for fitting: a sentence of a listed document holding an answer.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from devset_lib import ROOT, contains_answer, squad_normalise

from policyqa import build_index

POLICYSET = ROOT / "scripts" / "policyset"
CORPUS = ROOT / "corpus"


@dataclass(frozen=True)
class PolicyQuestion:
    qid: str
    question: str
    kind: str
    answerable: bool
    doc_ids: tuple[str, ...]
    answers: tuple[str, ...]
    speaker: str | None
    part: str | None = None  # whosaid.jsonl: "dev" or "heldout" (its document's part)
    evidence: str | None = None  # the sentence the question was written from

    @property
    def doc_id(self) -> str:
        """The document a question is grouped by for leave-one-document-out folds."""
        return self.doc_ids[0] if self.doc_ids else ""

    def gold_sentence(self, doc_id: str, start: int, end: int, text: str) -> bool:
        return doc_id in self.doc_ids and contains_answer(text, self.answers)


def load_questions(name: str = "questions.jsonl") -> list[PolicyQuestion]:
    out = []
    for line in (POLICYSET / name).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        out.append(PolicyQuestion(q["qid"], q["question"], q["kind"], bool(q["answerable"]), tuple(q["doc_ids"]),
                                  tuple(q["answers"]), q.get("speaker"), q.get("part"), q.get("evidence")))
    return out


def speaker_matches(expected: str | None, got: str | None) -> bool:
    """Same person: every word of the expected name's surname appears in the cited speaker
    ("Jake Sullivan" ~ "MR. SULLIVAN" or "National Security Advisor Jake Sullivan")."""
    if not expected or not got:
        return False
    surname = squad_normalise(expected).split()[-1]
    return surname in squad_normalise(got).split()


def index_base(work: Path, attribution: bool = True) -> Path:
    """Where the default corpus's indexes are cached: with speaker attribution (the product), or
    built with Settings(attribution=False), speakers from transcript turns and remarks only."""
    return work / ("policy" if attribution else "policy-turns-only")


def build_full_index(work: Path, embedder, attribution: bool = True,  # type: ignore[no-untyped-def]
                     progress: bool = True) -> Path:
    """The default corpus's index (cached under ``work``)."""
    from policyqa import Settings

    index = index_base(work, attribution) / "index"
    report = build_index(CORPUS, index, settings=Settings(attribution=attribution), progress=progress,
                         embedder=embedder, wait=600)
    print(f"policy index{'' if attribution else ' (turns only)'}: {report.summary()}", file=sys.stderr)
    return index


def build_indexes(work: Path, embedder, questions: list[PolicyQuestion],  # type: ignore[no-untyped-def]
                  progress: bool = True, attribution: bool = True) -> tuple[Path, dict[str, Path]]:
    """The default corpus's index and one index per question document without it (cached)."""
    from policyqa import Settings

    settings = Settings(attribution=attribution)
    base = index_base(work, attribution)
    index = build_full_index(work, embedder, attribution, progress)
    generation = (index / "CURRENT").read_text(encoding="utf-8").strip()
    loo: dict[str, Path] = {}
    for doc in sorted({d for q in questions for d in q.doc_ids}):
        sub = base / "loo" / Path(doc).stem
        sub_corpus, sub_index = sub / "corpus", sub / "index"
        if sub_corpus.exists():
            shutil.rmtree(sub_corpus)
        shutil.copytree(CORPUS, sub_corpus, ignore=shutil.ignore_patterns(doc))
        marker = sub / "copied-from"
        if not marker.exists() or marker.read_text(encoding="utf-8") != generation:
            shutil.rmtree(sub_index, ignore_errors=True)
            shutil.copytree(index, sub_index)
            marker.write_text(generation, encoding="utf-8")
        build_index(sub_corpus, sub_index, settings=settings, progress=False, embedder=embedder, wait=600)
        loo[doc] = sub_index
    return index, loo


def removed_negatives(questions: list[PolicyQuestion], texts: dict[str, str]) -> list[PolicyQuestion]:
    """Single-document answerable questions whose answer occurs in no other indexed document:
    asked of the index without that document, "not found" is the right reply."""
    normalised = {d: squad_normalise(t) for d, t in texts.items()}
    out = []
    for q in questions:
        if not q.answerable or len(q.doc_ids) != 1:
            continue
        answers = [a for a in map(squad_normalise, q.answers) if a]
        if not any(a in t for d, t in normalised.items() if d != q.doc_ids[0] for a in answers):
            out.append(q)
    return out


def labels(scored, q: PolicyQuestion) -> list[int]:  # type: ignore[no-untyped-def]
    """Per candidate: 1 = a listed document's sentence holding an answer; -1 = holds an answer
    in another document (left out of fitting); 0 = no answer."""
    c = scored.candidates
    return [(1 if d in q.doc_ids else -1) if contains_answer(t, q.answers) else 0
            for d, t in zip(c.doc_ids, c.texts)]
