"""Coverage across sources: which documents address a question, which stay silent, in date order,
and where their figures and statements differ.

A question is asked of every document that a wide search finds relevant, one document at a time:
the document's own passages from that search are scored by the answer model exactly as an
answer is (``answer.score``), and the document *addresses* the question when the fitted found /
not-found classifier says that those passages alone answer it (its calibrated threshold, the
one ``ask`` uses). So "addresses" means "``ask`` restricted to this document would answer", not
a new, separately tuned notion. Documents the search found relevant whose passages do not answer
are *silent*: useful to know when a source one would expect to speak says nothing.

Across the addressing documents (their best sentences):

- figures: the figures table (``figures.py``) of each document's sentences, grouped by kind
  (amounts of one currency, percentages, ranks, counts) into one comparison each, each cell cited; a comparison whose documents give different values
  is flagged ``differs`` (30, 31 or 56 endorsing nations);
- "sources differ": two sentences of different documents and not of one known speaker, about the
  same subject (sharing at least ``MIN_SHARED`` content terms, a share of ``MIN_OVERLAP`` of the
  smaller one's) where one is negated and the other is not ("“Small yard, high fences” is not what a major country should
  pursue" against "we are protecting our foundational technologies with a small yard and high
  fence"). A rule, not a model: it flags candidates for a reader to check, each side cited.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..schema import AnswerSentence, Coverage, Disagreement, FigureCell, FigureComparison, Hit, SourceView
from .figures import figures_for
from .sentences import terms

COVERAGE_POOL = 50  # passages searched for documents that may address the question
PER_DOCUMENT_HITS = 10  # a document's best passages from that search that its answer is chosen from
SENTENCES_PER_SOURCE = 2  # quoted per addressing document (the best first)
MIN_SHARED = 2
MIN_OVERLAP = 0.3

# Negation and rejection: a sentence saying the opposite of another usually says it with one of
# these (generic English, no word from any evaluation question).
_NEGATION = re.compile(r"\b(?:not(?! only\b| just\b| least\b)|no|never|neither|nor|cannot|nothing|none|without|reject(?:s|ed)?|oppose[sd]?"
                       r"|den(?:y|ies|ied)|refuse[sd]?)\b|n[’']t\b", re.I)


def order_by_date(sources: Sequence[SourceView]) -> tuple[SourceView, ...]:
    """A timeline: dated documents by their ISO publication date, undated ones last (by id)."""
    return tuple(sorted(sources, key=lambda s: (s.published is None, s.published or "", s.doc_id)))


def source_view(doc_id: str, title: str, date: str | None, published: str | None, hits: Sequence[Hit],
                sentences: Sequence[AnswerSentence], confidence: float, addresses: bool) -> SourceView:
    best = sentences[0] if sentences else None
    return SourceView(doc_id=doc_id, title=title, date=date, published=published, addresses=addresses,
                      sentences=tuple(sentences) if addresses else (),
                      speaker=best.citation.speaker if best and addresses else None,
                      confidence=confidence, passage=hits[0] if hits else None)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def disagreements(sources: Sequence[SourceView]) -> tuple[Disagreement, ...]:
    """Pairs of sentences from different addressing documents about the same subject, one negated
    and the other not (see the module's docstring); each pair once, in timeline order."""
    quoted = [(s, a) for s in sources if s.addresses for a in s.sentences]
    if len(quoted) < 2:
        return ()
    sets = [set(t) for t in terms([a.text for _, a in quoted])]
    out: list[Disagreement] = []
    for i in range(len(quoted)):
        for j in range(i + 1, len(quoted)):
            (si, ai), (sj, aj) = quoted[i], quoted[j]
            if si.doc_id == sj.doc_id or _negated(ai.text) == _negated(aj.text):
                continue
            # One person in two documents restating a position with an unrelated "not" ("nothing
            # surprising about ... small yard, high fence") is not two sources differing.
            if ai.citation.speaker and ai.citation.speaker == aj.citation.speaker:
                continue
            shared = sets[i] & sets[j]
            if len(shared) < MIN_SHARED or len(shared) < MIN_OVERLAP * min(len(sets[i]), len(sets[j])):
                continue
            # The shared words as the first sentence writes them, to name the subject for a reader.
            words = [w for w in re.findall(r"[\w’'-]+", ai.text) if terms([w])[0] and terms([w])[0][0] in shared]
            out.append(Disagreement(first=ai, second=aj, subject=" ".join(dict.fromkeys(w.lower() for w in words)),
                                    note="one is negated, the other is not: sources differ"))
    return tuple(out)


_CURRENCIES = {"USD", "GBP", "EUR", "CNY"}


def _kind(unit: str | None) -> str | None:
    """What can be compared: amounts of one currency, percentages, ranks, and counts whatever
    noun they count ("31 nations" and "30 countries" answer the same "how many countries")."""
    if unit in _CURRENCIES or unit in ("%", "rank"):
        return unit
    return "count"


def compare_figures(question: str, sources: Sequence[SourceView]) -> tuple[FigureComparison, ...]:
    """The figures of each addressing document side by side, one comparison per unit: every
    sentence answers the same question, so figures of one unit are taken as the same measure
    (the question's). Only where two or more documents give a figure of that unit."""
    cells: dict[str | None, list[FigureCell]] = {}
    for s in sources:
        if not s.addresses:
            continue
        for fig in figures_for(question, s.sentences):
            cells.setdefault(_kind(fig.unit), []).append(FigureCell(doc_id=s.doc_id, title=s.title, date=s.date,
                                                             published=s.published, figure=fig))
    out = []
    for unit, row in cells.items():
        if len({c.doc_id for c in row}) < 2:
            continue
        # Each document's values as a set: two documents differ when one states a value the other does not.
        by_doc: dict[str, set[float]] = {}
        for c in row:
            if c.figure.number is not None:
                by_doc.setdefault(c.doc_id, set()).add(c.figure.number)
        values = [frozenset(v) for v in by_doc.values()]
        measure = Counter(c.figure.measure for c in row if c.figure.measure).most_common(1)
        units = Counter(c.figure.unit for c in row).most_common(1)
        out.append(FigureComparison(measure=measure[0][0] if measure else "",
                                    unit=units[0][0] if unit == "count" else unit, cells=tuple(row),
                                    differs=len(set(values)) > 1))
    return tuple(out)


def build_coverage(question: str, sources: Sequence[SourceView]) -> Coverage:
    timeline = order_by_date(sources)
    return Coverage(sources=timeline, figures=compare_figures(question, timeline),
                    disagreements=disagreements(timeline))


__all__ = ["COVERAGE_POOL", "PER_DOCUMENT_HITS", "SENTENCES_PER_SOURCE", "build_coverage", "compare_figures",
           "disagreements", "order_by_date", "source_view"]

