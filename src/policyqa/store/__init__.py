"""Storage: the index on disk (``files``), how it is built from documents (``indexing``), and
the read interface every query goes through (``reader.IndexReader``, implemented for the files
by ``file_reader.FileIndexReader``).

Query code imports only this package's interface: ``IndexReader`` and its row types, and
``open_reader``. SQLite, FAISS and bm25s are imported nowhere else (tests/test_layers.py).
"""

from __future__ import annotations

from pathlib import Path

from .reader import ChunkRow, IndexInfo, IndexReader, SentenceRow

__all__ = ["ChunkRow", "IndexInfo", "IndexReader", "SentenceRow", "check_compatible", "index_exists", "open_reader"]


def index_exists(index_dir: Path) -> bool:
    """Whether a build has committed an index at ``index_dir`` (it may still be damaged)."""
    from .files import CURRENT

    return (Path(index_dir) / CURRENT).is_file()


def open_reader(index_dir: Path) -> IndexReader:
    """A reader of the index at ``index_dir`` (its current generation)."""
    from .file_reader import FileIndexReader

    return FileIndexReader.open(Path(index_dir))


def check_compatible(reader: IndexReader, *, weights_sha256: str, model_id: str) -> None:
    """Raise IndexMismatchError when ``reader``'s index was built with another model, tokenizer,
    sentence splitter or schema than this policyqa and the given model use."""
    from ..ingest.chunking import TOKENIZER_NAME
    from .files import check_compatible as check
    from .indexing import SEGMENTER, SEGMENTER_TURNS_ONLY

    info = reader.info()
    # An index built with Settings(attribution=False) has the same sentences, only fewer speakers.
    segmenter = info.segmenter if info.segmenter in (SEGMENTER, SEGMENTER_TURNS_ONLY) else SEGMENTER
    built = {"schema_version": info.schema_version, "tokenizer": info.tokenizer, "segmenter": info.segmenter,
             "model": {"id": info.model_id, "weights_sha256": info.weights_sha256}}
    check(built, weights_sha256=weights_sha256, model_id=model_id, tokenizer=TOKENIZER_NAME,
          segmenter=segmenter, chunking=None)
