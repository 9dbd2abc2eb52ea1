"""Answer -> what a person reads: the chat message, the sources panel, a Markdown copy.

Pure functions of the Answer (no gradio here), so they are unit-tested without a server. Every
piece of document text is escaped before it is put into Markdown or HTML: the articles are
data, and a sentence that happens to contain "<script>" or "# " must print as written.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..ingest.documents import iso_date
from ..schema import Answer, AnswerSentence, Citation, Coverage, Hit

if TYPE_CHECKING:
    from .live_index import LiveStatus

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&$])")
_BULLET_START = re.compile(r"^([-+])(\s)")
_NUMBER_START = re.compile(r"^(\d+)([.)])(\s)")


@dataclass(frozen=True)
class Source:
    """One cited passage and the quoted sentences inside it; ``number`` is its marker [n]."""

    number: int
    citation: Citation  # the first sentence quoted from it: the passage's document metadata
    passage: str  # the passage's text (falls back to the quoted sentence alone)
    passage_start: int  # document offset of passage[0]
    quotes: tuple[tuple[int, int], ...]  # document offsets of the quoted sentences, in order
    # where those sentences lie in the source file itself (txt and md; empty when unknown)
    source_spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class AnswerView:
    chat: str  # Markdown for the chat message
    sources: str  # HTML for the sources panel
    markdown: str  # the answer with its citations, for copying


def md_escape(text: str) -> str:
    """Text that Markdown prints as written, on one line."""
    text = " ".join(text.split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _BULLET_START.sub(r"\\\1\2", text)  # "- x" and "1. x" would start a list
    return _NUMBER_START.sub(r"\1\\\2\3", text)


def number_sources(answer: Answer, doc_text: Callable[[str], str | None] | None = None) -> list[Source]:
    """Group the answer's sentences by the passage they were quoted from, numbered in answer order."""
    passages: dict[int, Hit] = {h.chunk_id: h for h in answer.hits + answer.related}
    order: list[int] = []
    quotes: dict[int, list[Citation]] = {}
    for s in answer.sentences:
        c = s.citation
        if c.chunk_id not in quotes:
            order.append(c.chunk_id)
            quotes[c.chunk_id] = []
        quotes[c.chunk_id].append(c)
    sources = []
    for n, chunk_id in enumerate(order, 1):
        cites = quotes[chunk_id]
        first = cites[0]
        hit = passages.get(chunk_id)
        if hit is not None and hit.doc_id == first.doc_id:
            text, start = hit.text, hit.start
        else:
            full = doc_text(first.doc_id) if doc_text else None
            text, start = (full[first.chunk_start:first.chunk_end], first.chunk_start) if full else ("", 0)
        quoted = {(c.start, c.end): c.quote for c in cites}
        spans = tuple(sorted(quoted))
        if not all(start <= a and text[a - start:b - start] == quoted[(a, b)] for a, b in spans):
            # The passage does not hold the quotes where the citations say: show the quotes alone.
            text = " … ".join(quoted[span] for span in spans)
            start, spans = -1, ()
        in_file = tuple(sorted({(c.source_start, c.source_end) for c in cites
                                if c.source_start is not None and c.source_end is not None}))
        sources.append(Source(number=n, citation=first, passage=text, passage_start=start, quotes=spans,
                              source_spans=in_file))
    return sources


def view(answer: Answer, doc_text: Callable[[str], str | None] | None = None) -> AnswerView:
    sources = number_sources(answer, doc_text)
    return AnswerView(chat=chat_markdown(answer, sources), sources=sources_html(answer, sources),
                      markdown=answer_markdown(answer, sources))


# ---- the chat message -------------------------------------------------------------------

def chat_markdown(answer: Answer, sources: list[Source]) -> str:
    lines: list[str] = []
    if answer.effective_query.strip() != answer.question.strip():
        lines += [f"*Searched for:* {md_escape(answer.effective_query)}", ""]
    if not answer.found:
        lines.append(f"**Not found** in the indexed articles: no sentence in them answers "
                     f"“{md_escape(answer.question)}” well enough to quote.")
        if answer.related:
            lines += ["", "Related passages you may want to check (see the sources panel):"]
            lines += [f"- {_dated(h.title, h.date)}" for h in answer.related]
        return "\n".join(lines)
    number = _numbers(sources)
    for s in answer.sentences:
        lines += [_quote_md(s, number[s.citation.chunk_id]), ""]
    if answer.figures:
        lines += _figures_table(answer, number) + [""]
    lines.append("Sources: " + "; ".join(f"\\[{src.number}\\] {_dated(src.citation.title, src.citation.date)}"
                                          for src in sources))
    return "\n".join(lines)


def _quote_md(s: AnswerSentence, n: int) -> str:
    """A quoted sentence in the chat, led by who says it (turn, remarks, reported speech, quote)
    when that is known, so that a reader never takes a reported claim for the page's own."""
    who = f"**{md_escape(s.citation.speaker)}:** " if s.citation.speaker else ""
    return f"{who}{md_escape(s.text)} **\\[{n}\\]**"


def _dated(title: str, date: str | None) -> str:
    return md_escape(title) + (f" ({md_escape(_short_date(date))})" if date else "")


def _numbers(sources: list[Source]) -> dict[int, int]:
    return {src.citation.chunk_id: src.number for src in sources}


def _figures_table(answer: Answer, number: dict[int, int]) -> list[str]:
    rows = ["| Figure | Measure | For | Source |", "|---|---|---|---|"]
    for f in answer.figures:
        n = number.get(f.sentence.citation.chunk_id)
        rows.append(f"| {md_escape(f.value)} | {md_escape(f.measure)} | {md_escape(f.subject or '')} | "
                    + (f"\\[{n}\\] |" if n else "|"))
    return rows


# ---- the sources panel ------------------------------------------------------------------

def sources_html(answer: Answer, sources: list[Source]) -> str:
    if not answer.found:
        if not answer.related:
            return '<div class="pqa-sources pqa-empty">No related passages.</div>'
        cards = [_card(i, h.title, _hit_meta(h), h.source, _passage_html(h.text, h.start, ()), h.doc_id)
                 for i, h in enumerate(answer.related, 1)]
        return ('<div class="pqa-sources"><p class="pqa-note">Not found. Related passages '
                '(nothing in them was quoted as an answer):</p>' + "".join(cards) + "</div>")
    cards = []
    for src in sources:
        c = src.citation
        spans = ", ".join(f"{a}–{b}" for a, b in src.quotes) or f"{c.start}–{c.end}"
        meta = [f"Speaker: {c.speaker}"] if c.speaker else []
        meta += [x for x in (c.author, c.publisher) if x] + ([_short_date(c.date)] if c.date else [])
        meta += [f"p. {c.page}"] if c.page else []
        meta.append(f"{c.doc_id}, characters {spans}")
        in_file = ", ".join(f"{a}–{b}" for a, b in src.source_spans)
        cards.append(_card(src.number, c.title, meta, c.source,
                           _passage_html(src.passage, src.passage_start, src.quotes), c.doc_id, c.date,
                           source_chars=f"source chars {in_file}" if in_file else None))
    return '<div class="pqa-sources">' + "".join(cards) + "</div>"


def _hit_meta(h: Hit) -> list[str]:
    meta = [f"Speaker: {h.speaker}"] if h.speaker else []
    meta += [_short_date(h.date)] if h.date else []
    meta += [f"p. {h.page}"] if h.page else []
    return meta + [f"{h.doc_id}, characters {h.start}–{h.end}"]


def _card(n: int, title: str, meta: list[str], source: str | None, passage: str, doc_id: str,
          date: str | None = None, source_chars: str | None = None) -> str:
    e = html.escape
    meta_html = " · ".join(e(m) for m in meta)
    if date and _short_date(date) != date:  # the remark says how sure the date is: keep it visible
        meta_html += f'<br><span class="pqa-date">Date as recorded: {e(date)}</span>'
    if source:
        if re.match(r"https?://", source):
            link = (f'<a href="{e(source, quote=True)}" target="_blank" rel="noopener noreferrer">'
                    f'{e(_clip(source, 60))}</a>')
        else:
            link = f'<span title="{e(source, quote=True)}">{e(_clip(source, 80))}</span>'
        meta_html += f'<br><span class="pqa-link">Source: {link}</span>'
    if source_chars:  # where the quotes are in the file itself: "source chars 1234–1302"
        meta_html += (f'{" · " if source else "<br>"}<span class="pqa-source-chars">{e(source_chars)}</span>')
    return (f'<div class="pqa-source" data-doc-id="{e(doc_id, quote=True)}">'
            f'<div class="pqa-title"><span class="pqa-n">[{n}]</span> {e(title)}</div>'
            f'<div class="pqa-meta">{meta_html}</div>'
            f'<blockquote class="pqa-passage">{passage}</blockquote></div>')


CONTEXT = 300  # characters of the passage shown around the quoted sentences


def _passage_html(text: str, start: int, quotes: tuple[tuple[int, int], ...]) -> str:
    """The passage, escaped, with each quoted sentence in <mark>.

    Only about CONTEXT characters either side of the quotes are shown, so a quote at the end of
    a long passage is in view without scrolling; the citation's offsets say where the rest is.
    """
    lo, hi = 0, len(text)
    if quotes:
        first, last = quotes[0][0] - start, quotes[-1][1] - start
        lo = min(first, _word_boundary(text, max(0, first - CONTEXT), forward=True))
        hi = max(last, _word_boundary(text, min(len(text), last + CONTEXT), forward=False))
    out, pos = ["… " if lo > 0 else ""], lo
    for a, b in quotes:
        a, b = max(a - start, pos), b - start  # overlapping quotes: mark the overlap once
        out += [html.escape(text[pos:a]), f"<mark>{html.escape(text[a:b])}</mark>"]
        pos = b
    out += [html.escape(text[pos:hi]), " …" if hi < len(text) else ""]
    return "".join(out).strip().replace("\n", "<br>")


def _word_boundary(text: str, i: int, *, forward: bool) -> int:
    """``i`` moved to the nearest whitespace (inward), so the excerpt does not cut a word."""
    if i <= 0 or i >= len(text):
        return i
    if forward:
        j = text.find(" ", i)
        return i if j < 0 else j + 1
    j = text.rfind(" ", 0, i + 1)
    return i if j < 0 else j


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _short_date(date: str | None) -> str:
    """Dates are kept as written ("approx. 2023-12 (UNCERTAIN: ...)"); lists show the part before
    the remark, the sources panel shows the whole on hover."""
    if not date:
        return ""
    if iso_date(date) is None:  # e.g. "unknown revision; extract fetched via ..."
        return "date unknown"
    return _clip(date.split(" (", 1)[0], 40)


# ---- copy as Markdown -------------------------------------------------------------------

def answer_markdown(answer: Answer, sources: list[Source]) -> str:
    lines = [f"**Q:** {md_escape(answer.question)}", ""]
    if answer.effective_query.strip() != answer.question.strip():
        lines += [f"*Searched for:* {md_escape(answer.effective_query)}", ""]
    if not answer.found:
        lines.append("**Not found** in the indexed articles.")
        if answer.related:
            lines += ["", "Related passages:"]
            lines += [f"- {_dated(h.title, h.date)}; {md_escape(h.doc_id)}, characters {h.start}–{h.end}"
                      for h in answer.related]
        return "\n".join(lines) + "\n"
    number = _numbers(sources)
    for s in answer.sentences:
        lines += [f"> {md_escape(s.text)} [{number[s.citation.chunk_id]}]", ""]
    if answer.figures:
        lines += _figures_table(answer, number) + [""]
    for src in sources:
        c = src.citation
        parts = [f"“{c.title}”"] + [x for x in (c.author, c.publisher, c.date) if x]
        parts += [f"p. {c.page}"] if c.page else []
        spans = ", ".join(f"{a}–{b}" for a, b in src.quotes) or f"{c.start}–{c.end}"
        parts.append(f"{c.doc_id}, characters {spans}")
        if src.source_spans:
            parts.append("source chars " + ", ".join(f"{a}–{b}" for a, b in src.source_spans))
        if c.speaker:
            parts.insert(1, f"speaker {c.speaker}")
        parts += [c.source] if c.source else []
        # "[1] text" is no link in Markdown (that needs "[1]:" or "[1](...)"), so it stays readable.
        lines.append(f"[{src.number}] " + "; ".join(md_escape(p) for p in parts))
    return "\n".join(lines) + "\n"


# ---- index status -----------------------------------------------------------------------

def status_markdown(status: "LiveStatus", now: float | None = None) -> str:
    idx = status.index
    lines = [f"**Index:** {idx.n_documents} documents · {idx.n_chunks} chunks · built {_built(idx.built_at)}"]
    if status.indexing:
        waited = int((now or time.time()) - (status.started_at or time.time()))
        n = len(status.pending)
        what = f"{n} {_plural(n, 'file')} ({md_escape(', '.join(status.pending))})" if n else "changed files"
        lines.append(f"**Indexing** {what}… {waited} s. Questions are answered from the current index "
                     "until the new one is ready.")
    elif status.last_report is not None and status.last_report.added:
        lines.append("✓ Added to the index: " + ", ".join(md_escape(d) for d in status.last_report.added))
    if status.last_report is not None:
        for f in status.last_report.failed:
            lines.append(f"⚠ Could not index {md_escape(f.path.rsplit('/', 1)[-1])}: {md_escape(f.reason)}")
    if status.last_error:
        lines.append(f"⚠ Indexing failed: {md_escape(status.last_error)}. "
                     "Still answering from the previous index.")
    return "  \n".join(lines)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _built(stamp: str) -> str:
    try:
        built = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return stamp or "unknown"
    return built.strftime("%Y-%m-%d %H:%M UTC%z").replace("UTC+0000", "UTC")


# ---- sources compared -------------------------------------------------------------------

def coverage_html(coverage: Coverage | None) -> str:
    """The "Sources compared" view: every relevant document in date order, each with its best
    sentence and speaker or "says nothing on it"; figures side by side (differing values flagged);
    statements of opposite polarity flagged "sources differ". Every sentence escaped and cited."""
    e = html.escape
    if coverage is None or not coverage.sources:
        return '<div class="pqa-compare pqa-empty">No documents to compare.</div>'

    def cite(c: Citation) -> str:
        page = f", p. {c.page}" if c.page else ""
        return f'<span class="pqa-meta">{e(c.doc_id)}{e(page)}, characters {c.start}–{c.end}</span>'

    rows = []
    for src in coverage.sources:
        when = e(src.published or "undated")
        if src.addresses:
            best = src.sentences[0]
            who = f'<b class="pqa-speaker">{e(best.citation.speaker)}</b>: ' if best.citation.speaker else ""
            said = f"{who}“{e(best.text)}”<br>{cite(best.citation)}"
        else:
            said = '<i class="pqa-silent">says nothing on it</i>'
        rows.append(f'<tr class="{"pqa-addresses" if src.addresses else "pqa-silent-row"}" '
                    f'data-doc-id="{e(src.doc_id, quote=True)}"><td>{when}</td><td>{e(src.title)}</td>'
                    f"<td>{said}</td></tr>")
    out = [f'<div class="pqa-compare"><p class="pqa-note">{len(coverage.addressing)} documents address the '
           f"question, {len(coverage.silent)} relevant ones say nothing on it (by date).</p>"
           '<table class="pqa-timeline"><tr><th>Date</th><th>Document</th><th>What it says</th></tr>'
           + "".join(rows) + "</table>"]
    for comp in coverage.figures:
        flag = ' <b class="pqa-differ">sources differ</b>' if comp.differs else ""
        cells = "".join(f"<tr><td><b>{e(c.figure.value)}</b></td><td>{e(c.published or 'undated')}</td>"
                        f"<td>{e(c.title)}<br>{cite(c.figure.sentence.citation)}</td></tr>" for c in comp.cells)
        label = comp.measure or "Figures"
        unit = f" ({comp.unit})" if comp.unit and comp.unit != comp.measure else ""
        out.append(f'<h4 class="pqa-figures-compared">{e(label)}{e(unit)} across sources{flag}</h4>'
                   f'<table class="pqa-figure-table"><tr><th>Value</th><th>Date</th><th>Source</th></tr>{cells}</table>')
    for d in coverage.disagreements:
        sides = "".join(f"<li>{e(a.citation.speaker) + ': ' if a.citation.speaker else ''}“{e(a.text)}” "
                        f"— {e(a.citation.title)} {cite(a.citation)}</li>" for a in (d.first, d.second))
        out.append(f'<div class="pqa-disagreement"><b class="pqa-differ">Sources differ</b> '
                   f"(about: {e(d.subject)})<ul>{sides}</ul></div>")
    return "".join(out) + "</div>"
