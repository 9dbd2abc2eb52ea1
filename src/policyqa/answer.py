"""Question (+ history) -> Answer: verbatim sentences chosen from the retrieved passages.

FIRST CUT: sentences ranked by cosine similarity to the question, from the top passages.
The answer-engine issue replaces the scoring; the shapes (Answer, Citation) stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .schema import Answer, AnswerSentence, Citation, Verification

if TYPE_CHECKING:
    from .retrieve import Retriever

FOUND_THRESHOLD = 0.35


def answer_question(retriever: "Retriever", question: str, history: list | None = None, *, k: int = 5,
                    max_sentences: int = 3, **filters: object) -> Answer:
    hits = retriever.search(question, k=k, **filters)  # type: ignore[arg-type]
    if not hits:
        return Answer(question=question, effective_query=question, found=False, sentences=())
    qvec = retriever.embed_query(question)
    files = retriever.files
    candidates: list[tuple[float, int, int, int, object]] = []
    for hit in hits:
        for sid, start, end in files.segments_between(hit.doc_id, hit.start, hit.end):
            sim = float(np.asarray(files.segment_vectors[sid], dtype=np.float32) @ qvec)
            candidates.append((sim, sid, start, end, hit))
    best: dict[int, tuple] = {}
    for cand in sorted(candidates, key=lambda c: -c[0]):
        best.setdefault(cand[1], cand)
    ranked = sorted(best.values(), key=lambda c: -c[0])[:max_sentences]
    sentences = []
    for sim, _sid, start, end, hit in ranked:
        doc = retriever.document(hit.doc_id)  # type: ignore[attr-defined]
        cite = Citation(quote=doc.text[start:end], doc_id=doc.doc_id, path=doc.path, title=doc.title,
                        source=doc.meta.source, date=doc.meta.date, author=doc.meta.author,
                        publisher=doc.meta.publisher, page=doc.page_at(start), start=start, end=end,
                        chunk_id=hit.chunk_id, chunk_start=hit.start, chunk_end=hit.end,  # type: ignore[attr-defined]
                        content_hash=doc.content_hash)
        sentences.append(AnswerSentence(text=cite.quote, citation=cite, score=sim))
    found = bool(sentences) and sentences[0].score >= FOUND_THRESHOLD
    return Answer(question=question, effective_query=question, found=found,
                  sentences=tuple(sentences) if found else (), hits=tuple(hits),
                  related=() if found else tuple(hits[:3]))


def verify(citation: Citation) -> Verification:
    """Re-read the cited file and check the quote is still at its offsets."""
    from .documents import load_document
    from .errors import DocumentError

    try:
        doc = load_document(citation.path, max_file_mb=float("inf"))
    except DocumentError as exc:
        return Verification(ok=False, stale=True, reason=exc.reason)
    if doc.content_hash != citation.content_hash:
        still = doc.text[citation.start:citation.end] == citation.quote
        return Verification(ok=still, stale=True, reason="file changed since it was indexed"
                            + ("; the quote is still at its offsets" if still else "; the quote moved or changed"))
    if doc.text[citation.start:citation.end] != citation.quote:
        return Verification(ok=False, stale=False, reason="quote not found at its offsets")
    return Verification(ok=True, stale=False, reason="quote verified against the file")
