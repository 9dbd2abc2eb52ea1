"""The read interface between an index and everything that queries it.

Search, sentence gathering, the answer signals and the façade (``query/``) see an index only
through ``IndexReader``: a few operations on rows, vectors, lexical scores and document
metadata. How and where those live (SQLite, memory-mapped arrays, FAISS and postings in immutable
parts, ``files.py`` and ``file_reader.py``; PostgreSQL with pgvector) is the storage package's
business.

Rows are internal: a chunk row or sentence row is a position in this opened index and means
nothing after a rebuild. What leaves the query layer (``Hit``, ``Citation``) names documents,
content hashes and character offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..schema import Document


@dataclass(frozen=True)
class IndexInfo:
    """What an opened index is: where, which build, how big, with which model."""

    location: str  # the index folder (or database) it was opened from
    generation: str  # the build it serves (changes with every commit)
    built_at: str
    n_documents: int
    n_chunks: int
    n_sentences: int
    model_id: str
    dim: int
    dense: dict  # the dense index's description (type, exact, nlist/nprobe for IVF)
    # What it was built with, checked against this policyqa and its model at open.
    weights_sha256: str = ""
    tokenizer: str = ""
    segmenter: str = ""
    schema_version: int | None = None
    n_rows: int = 0  # chunk rows, deleted ones included: the length of an allowed-rows mask
    n_parts: int = 1  # immutable parts (segments) the index is made of


@dataclass(frozen=True)
class ChunkRow:
    """A retrievable passage and the metadata a hit shows."""

    row: int
    doc_id: str
    start: int
    end: int
    page: int | None
    text: str
    title: str | None
    source: str | None
    date: str | None
    speaker: str | None


@dataclass(frozen=True)
class SentenceRow:
    """A sentence (segment) near a passage: ``chunk`` is the passage it was fetched for,
    ``first``/``last`` that passage's own sentence positions (seq), so a sentence is inside the
    passage when ``first <= seq <= last``."""

    chunk: int
    row: int
    doc_id: str
    seq: int
    start: int
    end: int
    first: int
    last: int
    speaker: str | None  # who says it (ingest/attribution.py), None when no one or unknown
    how: str | None = None  # how that was decided: turn, remarks, reported, quote, coref, none


@runtime_checkable
class IndexReader(Protocol):
    """The operations the query side needs. Masks are bool arrays with one entry per chunk row
    (``IndexInfo.n_rows``, deleted rows included); deleted rows are never returned."""

    def info(self) -> IndexInfo: ...

    def close(self) -> None: ...

    # ---- documents
    def doc_ids(self) -> list[str]: ...

    def document(self, doc_id: str) -> Document | None: ...

    def text_span(self, doc_id: str, start: int, end: int) -> str:
        """``document.text[start:end]`` without reading the whole (possibly long) text."""
        ...

    # ---- filters
    def allowed(self, doc_ids: Sequence[str] | None, date_from: str | None, date_to: str | None,
                speakers: Sequence[str] | None) -> np.ndarray | None:
        """Per chunk row, whether it passes the filters (None: no filter given). Dates compare by
        prefix (ISO); speakers match as case-insensitive substrings of a chunk's or one of its sentences' speaker."""
        ...

    # ---- dense
    def dense_top(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``n`` chunk rows nearest ``qvec`` (inner product), best first, among ``allowed``."""
        ...

    def chunk_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of the given chunk rows."""
        ...

    def header_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of the given chunk rows' contextual headers (title, speaker, date...)."""
        ...

    # ---- lexical
    def lexical_top(self, tokens: Sequence[str], n: int, *, header_weight: float = 0.0,
                    allowed: np.ndarray | None = None) -> np.ndarray:
        """Chunk rows holding a query term, best ``n`` by BM25 of the text plus ``header_weight``
        times BM25 of the header field, best first (ties by row)."""
        ...

    def lexical_scores(self, tokens: Sequence[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of the given chunk rows' texts and of their header fields."""
        ...

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        """How many chunks hold each term (0 for a term the index never saw)."""
        ...

    # ---- rows
    def chunks(self, rows: Sequence[int]) -> dict[int, ChunkRow]: ...

    def sentences_near(self, chunk_rows: Sequence[int], window: int) -> list[SentenceRow]:
        """The sentences of the given chunks and up to ``window`` more on each side."""
        ...

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 (index-time) vectors of the given sentence rows."""
        ...

    def sentence_texts(self, doc_ids: Iterable[str] | None = None) -> Iterator[tuple[int, str]]:
        """(sentence row, text) of every sentence (of ``doc_ids`` if given), in row order."""
        ...
