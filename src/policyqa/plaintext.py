"""Answer -> readable plain text for the terminal (`policyqa ask`).

Numbered quoted sentences, each with its speaker (transcripts, remarks), title, document id,
page, character span and span in the source file; a figures
table when the question asked for quantities; "Not found in the corpus" and the nearest
passages when nothing answers. Pure function of the Answer, so the CLI keeps no logic.
"""

from __future__ import annotations

import textwrap

from .schema import Answer, Citation, Coverage, Hit, SourceView

WIDTH = 100


def _where(doc_id: str, page: int | None, start: int, end: int) -> str:
    page_part = f", p. {page}" if page else ""
    return f"{doc_id}{page_part}, chars {start}-{end}"


def _cite(c: Citation) -> str:
    date = f", {c.date}" if c.date and len(c.date) <= 12 else ""
    speaker = f"{c.speaker}, in " if c.speaker else ""
    source = (f"; source chars {c.source_start}-{c.source_end}"
              if c.source_start is not None and c.source_end is not None else "")
    return f"{speaker}{c.title}{date} ({_where(c.doc_id, c.page, c.start, c.end)}{source})"


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent)


def _related(hits: tuple[Hit, ...]) -> list[str]:
    lines = []
    for i, h in enumerate(hits, 1):
        speaker = f" — {h.speaker}" if h.speaker else ""
        lines.append(f"  [{i}] {h.title} ({_where(h.doc_id, h.page, h.start, h.end)}){speaker}")
        body = " ".join(h.text.split())
        lines.append(_wrap(body if len(body) <= 300 else body[:297] + "...", "      "))
    return lines


def format_answer(answer: Answer) -> str:
    lines = [f"Q: {answer.question}"]
    if answer.effective_query != answer.question:
        lines.append(f"   (searched for: {answer.effective_query})")
    lines.append("")
    if not answer.found:
        lines.append("Not found in the corpus.")
        if answer.related:
            lines += ["", "Related passages (they do not answer the question):"] + _related(answer.related)
        return "\n".join(lines)
    for i, s in enumerate(answer.sentences, 1):
        lines.append(_wrap(f"“{s.text}”", "    ").replace("    ", f"{i:>2}. ", 1))
        lines.append(f"      — {_cite(s.citation)}")
    if answer.figures:
        number = {id(s): i for i, s in enumerate(answer.sentences, 1)}
        rows = [("value", "unit", "measure", "for whom / where", "source")]
        for f in answer.figures:
            rows.append((f.value, f.unit or "", f.measure, f.subject or "", f"[{number.get(id(f.sentence), '?')}] "
                         f"chars {f.start}-{f.end}" if f.start is not None else ""))
        widths = [min(max(len(r[i]) for r in rows), 40) for i in range(5)]
        lines += ["", "Figures"]
        for r in rows:
            lines.append("  " + "  ".join(cell[:w].ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def _source_line(s: SourceView) -> str:
    when = s.published or "undated"
    return f"{when:10}  {s.title} ({s.doc_id})"


def format_coverage(coverage: Coverage, timeline: bool = False) -> str:
    """Which documents address the question (best sentence, speaker, date) and which are silent;
    grouped (by source) or as one list in date order (timeline); then figures compared across
    sources and statements flagged "sources differ"."""
    lines: list[str] = []

    def addressing(s: SourceView, indent: str) -> None:
        for a in s.sentences[:1]:
            who = f"{a.citation.speaker}: " if a.citation.speaker else ""
            lines.append(_wrap(f"{who}“{a.text}”", indent))
            lines.append(f"{indent}— chars {a.citation.start}-{a.citation.end}"
                         + (f", p. {a.citation.page}" if a.citation.page else ""))

    if timeline:
        lines.append(f"Timeline ({len(coverage.addressing)} documents address it, {len(coverage.silent)} relevant "
                     f"documents say nothing on it)")
        for s in coverage.sources:
            lines.append(f"  {_source_line(s)}" + ("" if s.addresses else "  — says nothing on it"))
            if s.addresses:
                addressing(s, "      ")
    else:
        lines.append(f"By source: {len(coverage.addressing)} documents address it")
        for s in coverage.addressing:
            lines.append(f"  {_source_line(s)}")
            addressing(s, "      ")
        lines += ["", f"Relevant documents that say nothing on it ({len(coverage.silent)})"]
        lines += [f"  {_source_line(s)}" for s in coverage.silent]
    for comp in coverage.figures:
        flag = "  SOURCES DIFFER" if comp.differs else ""
        unit = f" ({comp.unit})" if comp.unit and comp.unit != comp.measure else ""
        lines += ["", f"Compared across sources: {comp.measure or 'figures'}{unit}{flag}"]
        for c in comp.cells:
            cite = c.figure.sentence.citation
            lines.append(f"  {c.figure.value:>16}  {c.published or 'undated':10}  {c.title} ({c.doc_id}, chars "
                         f"{c.figure.start if c.figure.start is not None else cite.start}-"
                         f"{c.figure.end if c.figure.end is not None else cite.end})")
    for d in coverage.disagreements:
        lines += ["", f"Sources differ (about: {d.subject})"]
        for a in (d.first, d.second):
            who = f"{a.citation.speaker}, " if a.citation.speaker else ""
            lines.append(_wrap(f"“{a.text}”", "    "))
            lines.append(f"      — {who}{a.citation.title} ({_where(a.citation.doc_id, a.citation.page, a.citation.start, a.citation.end)})")
    return "\n".join(lines)
