"""policyqa: cited extractive question answering over a corpus of tech-policy articles.

    from policyqa import build_index, Retriever
    report = build_index("corpus", "index")
    hits = Retriever.open("index").search("How many countries attended the AI Safety Summit?")

Importing this package is light: the model, FAISS, BM25 and the web app load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ChunkSettings, Settings
from .errors import (DocumentError, IndexBusyError, IndexCorruptError, IndexMismatchError,
                     IndexMissingError, IndexWriteError, ModelError, PolicyQAError, QueryError,
                     UnknownDocumentError)
from .schema import (Answer, AnswerSentence, Chunk, Citation, Coverage, Disagreement, Document, DocumentMeta,
                     FailedFile, Figure, FigureCell, FigureComparison, Hit, IndexReport, IndexStatus, Segment,
                     SourceView, Verification)

if TYPE_CHECKING:
    from .store.indexing import build_index
    from .query.retriever import Retriever
    from .query.answer import verify
    from .ingest.documents import load_document

__version__ = "0.1.0"

__all__ = [
    "Answer", "AnswerSentence", "Citation", "Coverage", "Disagreement", "Figure", "FigureCell", "FigureComparison",
    "SourceView", "Verification", "verify",
    "Chunk", "ChunkSettings", "Document", "DocumentError", "DocumentMeta", "FailedFile", "Hit",
    "IndexBusyError", "IndexCorruptError", "IndexMismatchError", "IndexMissingError", "IndexReport",
    "IndexStatus", "IndexWriteError", "ModelError", "PolicyQAError", "QueryError", "Retriever", "Segment",
    "Settings", "UnknownDocumentError", "build_index", "load_document",
]

_LAZY = {"build_index": "store.indexing", "Retriever": "query.retriever", "load_document": "ingest.documents",
         "verify": "query.answer"}


def __getattr__(name: str) -> Any:
    # numpy and friends load only when the index is built or opened, keeping `import policyqa` cheap.
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'policyqa' has no attribute {name!r}")
