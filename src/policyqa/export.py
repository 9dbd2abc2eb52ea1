"""An answer and its evidence as "quote cards" a reader can cite in a memo: Markdown, CSV, JSON.

A card is one quoted sentence with everything needed to find it again and check it: the quote
(verbatim, ``document.text[start:end]``), who says it and how that was decided, the document's
title, id, date and source, the page (PDFs), the character span in the document's text and in the
source file, and the sha256 of the file as indexed (``policyqa.verify`` re-checks a card's
citation against the file). Cards come from the answer's sentences first, then from the coverage
view's sources (``ask(..., coverage=True)``), each quote once.

Pure functions of an ``Answer``: the CLI (``policyqa ask --export md|csv|json``), the web chat
and library users share them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

from .errors import QueryError
from .schema import Answer, AnswerSentence

FORMATS = ("md", "csv", "json")


@dataclass(frozen=True)
class QuoteCard:
    n: int  # 1-based, in the order below
    role: str  # "answer" (a sentence of the answer) or "source" (a document's best sentence in the coverage view)
    quote: str
    speaker: str | None
    speaker_how: str | None  # turn, remarks, reported, quote, coref, none
    title: str
    doc_id: str
    date: str | None
    page: int | None
    start: int  # character span in the document's text as policyqa reads it
    end: int
    source_start: int | None  # character span in the decoded file (txt, md, xml)
    source_end: int | None
    content_hash: str  # sha256 of the file when it was indexed
    source: str | None  # URL or description of where the text came from
    path: str


def _card(n: int, role: str, s: AnswerSentence) -> QuoteCard:
    c = s.citation
    return QuoteCard(n=n, role=role, quote=c.quote, speaker=c.speaker, speaker_how=c.speaker_how, title=c.title,
                     doc_id=c.doc_id, date=c.date, page=c.page, start=c.start, end=c.end,
                     source_start=c.source_start, source_end=c.source_end, content_hash=c.content_hash,
                     source=c.source, path=c.path)


def quote_cards(answer: Answer) -> tuple[QuoteCard, ...]:
    """The answer's sentences, then each addressing source's sentences in timeline order; a
    sentence quoted twice (the answer's and a source's best) appears once, as the answer's."""
    seen: set[tuple[str, int, int]] = set()
    cards: list[QuoteCard] = []
    sources = [a for s in (answer.coverage.sources if answer.coverage else ()) for a in s.sentences]
    for role, sentences in (("answer", answer.sentences), ("source", sources)):
        for s in sentences:
            key = (s.citation.doc_id, s.citation.start, s.citation.end)
            if key not in seen:
                seen.add(key)
                cards.append(_card(len(cards) + 1, role, s))
    return tuple(cards)


def to_json(answer: Answer) -> str:
    return json.dumps({"question": answer.question, "found": answer.found,
                       "cards": [asdict(c) for c in quote_cards(answer)]}, ensure_ascii=False, indent=1)


def to_csv(answer: Answer) -> str:
    fields = list(QuoteCard.__dataclass_fields__)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["question", *fields], lineterminator="\n")
    writer.writeheader()
    for c in quote_cards(answer):
        writer.writerow({"question": answer.question, **asdict(c)})
    return out.getvalue()


def _md_escape(text: str) -> str:
    """Plain text inside Markdown: characters that would become markup are escaped, line breaks
    become spaces (a quote stays one paragraph of a block quote)."""
    text = " ".join(text.split())
    return "".join("\\" + ch if ch in "\\`*_[]<>#|" else ch for ch in text)


def to_markdown(answer: Answer) -> str:
    lines = [f"## {_md_escape(answer.question)}", ""]
    cards = quote_cards(answer)
    if not answer.found:
        lines += ["*Not found in the corpus.*", ""]
    for c in cards:
        who = f"**{_md_escape(c.speaker)}**" + (f" ({c.speaker_how})" if c.speaker_how else "") if c.speaker \
            else "*speaker not stated*"
        page = f", p. {c.page}" if c.page else ""
        source_span = (f"; source file chars {c.source_start}–{c.source_end}"
                       if c.source_start is not None and c.source_end is not None else "")
        link = f" — <{c.source}>" if c.source and c.source.startswith(("http://", "https://")) else ""
        lines += [f"### [{c.n}] {who}{' — from the coverage view' if c.role == 'source' else ''}", "",
                  f"> {_md_escape(c.quote)}", "",
                  f"- *{_md_escape(c.title)}*{', ' + _md_escape(c.date) if c.date else ''}{page}{link}",
                  f"- `{c.doc_id}`, chars {c.start}–{c.end}{source_span}",
                  f"- file sha256 `{c.content_hash}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def export(answer: Answer, fmt: str) -> str:
    """``answer`` as quote cards in ``fmt``: "md" (or "markdown"), "csv" or "json"."""
    fmt = {"markdown": "md"}.get(fmt.lower(), fmt.lower())
    if fmt not in FORMATS:
        raise QueryError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return {"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](answer)


__all__ = ["FORMATS", "QuoteCard", "export", "quote_cards", "to_csv", "to_json", "to_markdown"]
