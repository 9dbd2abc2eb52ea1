"""A document's contextual header: the words a question may use to name its source.

Questions name where something was said ("in Harris's London speech", "at the Brookings
Institution", "in the Lima readout", "in November 2023") with words that live in the title,
speaker, publisher and date, not in the quoted passage. Each chunk is searched together with
its header: the header is embedded once and scored lexically as a field of its own, and the
retriever adds both scores, with weights chosen by cross-validation (scripts/fit_fusion.py), to
the chunk's own. Headers are short and few (one per document and speaker), so they cost little.
"""

from __future__ import annotations

from ..schema import DocumentMeta

MAX_WORDS = 60  # a header is a label, not a passage: long publisher notes are cut

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def date_words(published: str | None) -> str:
    """"2023-11-01" -> "1 November 2023" (the words questions use); "" when unknown."""
    if not published:
        return ""
    parts = published.split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else None
        day = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        return ""
    if month is None or not 1 <= month <= 12:
        return str(year)
    return f"{day} {_MONTHS[month - 1]} {year}" if day else f"{_MONTHS[month - 1]} {year}"


def header_text(meta: DocumentMeta, speaker: str | None = None) -> str:
    """Title, speaker (or author), publisher and date, as one short line."""
    parts: list[str] = []
    for value in (meta.title, speaker, meta.author if meta.author != speaker else None, meta.publisher,
                  date_words(meta.published)):
        value = " ".join((value or "").split())
        if value and value not in parts:
            parts.append(value)
    words = ". ".join(parts).split()
    return " ".join(words[:MAX_WORDS])
