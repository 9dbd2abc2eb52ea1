"""The typed records that cross module boundaries.

Data flows one way: files -> Document -> Segment/Chunk -> index, and question -> Hit -> Answer.
Every offset is a character offset into ``Document.text`` (the normalised text), so
``document.text[x.start:x.end] == x.text`` holds for chunks, segments and hits alike.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property


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
class Turn:
    """A stretch of a document spoken by one speaker: ``text[start:end]``."""

    start: int
    end: int
    speaker: str | None


@dataclass(frozen=True)
class SourceMap:
    """Normalised text -> decoded source file, as sorted runs: output characters from ``out[i]``
    (up to ``out[i + 1]``) came from ``source[src[i]:src_end[i]]``, one to one when the lengths
    agree, else as a whole (a line break standing for several source characters, a decomposed
    word). Source characters between runs were removed (markup, escapes, labels, spaces)."""

    out: tuple[int, ...]
    src: tuple[int, ...]
    src_end: tuple[int, ...]

    def _at(self, offset: int, text_len: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.out, offset) - 1
        run_end = self.out[i + 1] if i + 1 < len(self.out) else text_len
        if self.src_end[i] - self.src[i] == run_end - self.out[i]:
            pos = self.src[i] + offset - self.out[i]
            return pos, pos + 1
        return self.src[i], self.src_end[i]

    def span(self, start: int, end: int, text_len: int) -> tuple[int, int] | None:
        """Source span of ``text[start:end]`` (``text_len`` = len(text)); None for an empty span."""
        if end <= start or not self.out or start < 0 or end > text_len:
            return None
        return self._at(start, text_len)[0], self._at(end - 1, text_len)[1]

    def to_json(self) -> list[list[int]]:
        return [list(self.out), list(self.src), list(self.src_end)]

    @classmethod
    def from_json(cls, data: object) -> "SourceMap | None":
        if not data:
            return None
        out, src, src_end = data  # type: ignore[misc]
        return cls(tuple(out), tuple(src), tuple(src_end))


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the corpus root, POSIX separators
    path: str  # absolute path of the file it was read from
    kind: str  # "txt", "md", "html", "pdf", "xml"
    text: str  # normalised text; every offset in the project points into it
    meta: DocumentMeta
    content_hash: str  # sha256 of the file's bytes
    page_starts: tuple[int, ...] = ()  # offset where each page begins (PDF only)
    # Who speaks where (transcripts, remarks); sorted, non-overlapping; text before the first
    # turn has no speaker.
    turns: tuple[Turn, ...] = ()
    # Offsets into the decoded source file (txt, md, UTF-8 xml; None for html and pdf).
    source_map: SourceMap | None = None

    @property
    def title(self) -> str:
        return self.meta.title

    def page_at(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for documents without pages."""
        if not self.page_starts:
            return None
        return bisect.bisect_right(self.page_starts, offset)

    @cached_property
    def _turn_starts(self) -> list[int]:
        return [t.start for t in self.turns]

    def turn_at(self, offset: int) -> int:
        """Index of the turn holding ``offset``, -1 outside every turn."""
        i = bisect.bisect_right(self._turn_starts, offset) - 1
        return i if i >= 0 and offset < self.turns[i].end else -1

    def speaker_at(self, offset: int) -> str | None:
        i = self.turn_at(offset)
        return self.turns[i].speaker if i >= 0 else None

    def source_span(self, start: int, end: int) -> tuple[int, int] | None:
        """Where ``text[start:end]`` lies in the decoded source file, or None when unknown."""
        if self.source_map is None:
            return None
        return self.source_map.span(start, end, len(self.text))


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
    speaker: str | None = None  # who speaks in it (a chunk never spans two turns)


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
    speaker: str | None = None  # who speaks in the passage (transcripts, remarks)


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
    merged: bool = False  # parts were merged after the change (or by --optimize)
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
    speaker: str | None = None  # who said it (turns, remarks, reported speech and quotes), None when unknown
    # How the speaker was decided: "turn" (a transcript's label), "remarks" (the page's speaker),
    # "reported" ("X said that ..."), "quote" ("“...,” said X"), "coref" ("He added ..."), or "none".
    speaker_how: str | None = None
    # The quote's span in the decoded source file (front matter included), txt, md and xml:
    # squeeze(strip_markup(source[source_start:source_end])) == squeeze(quote) (textmap.py).
    source_start: int | None = None
    source_end: int | None = None


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
class SourceView:
    """One document in the coverage of a question: whether it addresses it, with what."""

    doc_id: str
    title: str
    date: str | None  # as the source writes it
    published: str | None  # ISO date (what the timeline is ordered by); None when the file states none
    addresses: bool  # its own passages answer the question (the answer model's found / not-found)
    sentences: tuple[AnswerSentence, ...]  # its best sentences, best first; empty when silent
    speaker: str | None  # of its best sentence
    confidence: float  # the found probability from its passages alone
    passage: Hit | None  # its best passage (what a silent document has nearest the question)


@dataclass(frozen=True)
class FigureCell:
    """One document's figure in a comparison across sources: ``figure.sentence`` cites it."""

    doc_id: str
    title: str
    date: str | None
    published: str | None
    figure: Figure


@dataclass(frozen=True)
class FigureComparison:
    """The same measure from several documents side by side."""

    measure: str
    unit: str | None
    cells: tuple[FigureCell, ...]  # in timeline order
    differs: bool  # the documents state different values


@dataclass(frozen=True)
class Disagreement:
    """Two sentences of different documents about the same subject with opposite polarity."""

    first: AnswerSentence  # the earlier document's (timeline order)
    second: AnswerSentence
    subject: str  # the words they share
    note: str  # why they were flagged


@dataclass(frozen=True)
class Coverage:
    """Every document a question's search found relevant, by date: those that address it (with
    their best sentences) and those that say nothing on it; figures and statements that differ."""

    sources: tuple[SourceView, ...]  # timeline: by published date, undated last
    figures: tuple[FigureComparison, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()

    @property
    def addressing(self) -> tuple[SourceView, ...]:
        return tuple(s for s in self.sources if s.addresses)

    @property
    def silent(self) -> tuple[SourceView, ...]:
        return tuple(s for s in self.sources if not s.addresses)


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
    # Every relevant document and what it says, by date (ask(..., coverage=True); None otherwise).
    coverage: Coverage | None = None


@dataclass(frozen=True)
class Verification:
    ok: bool
    stale: bool  # the file changed (or vanished) since it was indexed
    reason: str
