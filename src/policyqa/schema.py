"""The typed records that cross module boundaries.

Data flows one way: files -> Document -> Segment/Chunk -> index, and question -> Hit -> Answer.
Every offset is a character offset into ``Document.text`` (the normalised text), so
``document.text[x.start:x.end] == x.text`` holds for chunks, segments and hits alike.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DocumentMeta:
    """What the file says about itself (front matter, HTML metadata, PDF info)."""

    title: str
    author: str | None = None
    publisher: str | None = None
    date: str | None = None  # as written by the source, e.g. "approx. 2023-12 (...)"
    published: str | None = None  # ISO date (YYYY, YYYY-MM or YYYY-MM-DD) parsed from date
    source: str | None = None  # URL or description of where the text came from
    licence: str | None = None
    # Where ``date`` was found: "front matter", "html metadata", "pdf info" (dates date filters
    # use), or "text" (guessed from the page's text: shown, but ``published`` stays None).
    date_source: str | None = None


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the corpus root, POSIX separators
    path: str  # absolute path of the file it was read from
    kind: str  # "txt", "md", "html", "pdf", "xml"
    text: str  # normalised text; every offset in the project points into it
    meta: DocumentMeta
    content_hash: str  # sha256 of the file's bytes
    page_starts: tuple[int, ...] = ()  # offset where each page begins (PDF only)

    @property
    def title(self) -> str:
        return self.meta.title

    def page_at(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for documents without pages."""
        if not self.page_starts:
            return None
        return bisect.bisect_right(self.page_starts, offset)


@dataclass(frozen=True)
class Segment:
    """A sentence (or a piece of an over-long sentence): the smallest quotable unit."""

    start: int
    end: int
    text: str
    n_tokens: int  # cl100k tokens


@dataclass(frozen=True)
class Chunk:
    """A run of whole segments, token-bounded, that is embedded and searched as one passage."""

    doc_id: str
    start: int
    end: int
    text: str
    n_tokens: int
    page: int | None
    first_segment: int  # index into the document's segments
    last_segment: int  # inclusive


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with where it lies in its document and why it ranked."""

    doc_id: str
    title: str
    source: str | None
    date: str | None
    text: str
    start: int
    end: int
    page: int | None
    score: float  # fused score: higher is better
    dense_score: float | None  # cosine similarity, None when the dense search missed it
    lexical_score: float | None  # BM25 score, None when the lexical search missed it
    rank: int  # 1-based
    chunk_id: int


@dataclass(frozen=True)
class FailedFile:
    path: str
    reason: str
    kept_previous: bool = False  # True when the last good version stays in the index


@dataclass(frozen=True)
class IndexReport:
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[FailedFile, ...] = ()
    n_documents: int = 0
    n_chunks: int = 0
    n_segments: int = 0
    embedded_texts: int = 0  # texts sent to the model in this build (0 when nothing changed)
    seconds: float = 0.0
    index_dir: str = ""
    wrote: bool = False  # False when nothing changed and the current index was kept
    note: str | None = None  # e.g. why everything was re-embedded

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
            f"unchanged {len(self.unchanged)}, failed {len(self.failed)}; "
            f"{self.n_documents} documents, {self.n_chunks} chunks; "
            f"embedded {self.embedded_texts} texts in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class IndexStatus:
    index_dir: str
    generation: str
    built_at: str
    n_documents: int
    n_chunks: int
    n_segments: int
    model: str
    documents: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Citation:
    """Where a quoted sentence lies: ``document.text[start:end]`` is the sentence, verbatim."""

    quote: str  # the sentence itself
    doc_id: str
    path: str  # the file it was indexed from
    title: str
    source: str | None
    date: str | None
    author: str | None
    publisher: str | None
    page: int | None
    start: int
    end: int
    chunk_id: int  # the passage it was found in
    chunk_start: int
    chunk_end: int
    content_hash: str  # of the file when it was indexed; verify() compares against the file now


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: Citation
    score: float


@dataclass(frozen=True)
class Figure:
    """A quantity quoted in the answer: one row of the figures table."""

    value: str  # as written in the source, e.g. "£2,600"
    number: float | None  # parsed magnitude, e.g. 2600.0
    unit: str | None  # currency, "%", "people", ...
    measure: str  # what it measures, e.g. "tuition fees per year"
    subject: str | None  # for whom or where, e.g. "China"
    sentence: AnswerSentence
    start: int | None = None  # the value's own span in the document text: text[start:end] == value
    end: int | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    effective_query: str  # what was searched after resolving a follow-up against the history
    found: bool
    sentences: tuple[AnswerSentence, ...]  # ranked; empty when not found
    figures: tuple[Figure, ...] = ()
    hits: tuple[Hit, ...] = ()  # the passages the sentences were chosen from, re-ranked by their best sentence
    related: tuple[Hit, ...] = ()  # offered when not found
    confidence: float = 0.0  # calibrated probability that the corpus answers the question


@dataclass(frozen=True)
class Verification:
    ok: bool
    stale: bool  # the file changed (or vanished) since it was indexed
    reason: str
