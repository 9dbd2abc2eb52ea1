"""``Retriever``: the library's entry point, a thin façade over search (``search.Searcher``) and
the answering layer (``answer``), opened on an index through the storage's read interface."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..embedding import Embedder
from ..schema import Answer, IndexStatus
from ..store import check_compatible, open_reader
from .answer import answer_question
from .search import Searcher


class Retriever(Searcher):
    """Search an index built by ``build_index``. Open with ``Retriever.open(index_dir)``.

    The model is loaded on the first query, not at open, and its weights are checked against the
    ones the index was built with before anything is searched.
    """

    @classmethod
    def open(cls, index_dir: str | Path | None = None, *, settings: Settings | None = None,
             embedder: Embedder | None = None) -> "Retriever":
        """Open the current generation of the index at ``index_dir``.

        Raises IndexMissingError when none was built, IndexMismatchError when it was built with
        another model, tokenizer or schema.
        """
        settings = settings or Settings()
        reader = open_reader(Path(index_dir) if index_dir is not None else settings.index_dir)
        try:
            embedder = embedder or Embedder(settings.model_path)
            check_compatible(reader, weights_sha256=embedder.weights_sha256, model_id=embedder.model_id)
        except Exception:
            reader.close()
            raise
        return cls(reader, embedder, settings)

    def close(self) -> None:
        self.reader.close()

    def status(self) -> IndexStatus:
        info = self.reader.info()
        doc_ids = self.doc_ids()
        return IndexStatus(index_dir=info.location, generation=info.generation, built_at=info.built_at,
                           n_documents=len(doc_ids), n_chunks=info.n_chunks, n_segments=info.n_sentences,
                           model=info.model_id, documents=tuple(doc_ids))

    def ask(self, question: str, history: list | None = None, **options: object) -> Answer:
        """A cited extractive answer: verbatim sentences, each with its exact citation.

        ``history`` is the conversation so far (a list of {"role", "content"} dicts or earlier
        Answers) used to resolve follow-up questions. Options: see ``answer.answer_question``.
        """
        return answer_question(self, question, history, **options)  # type: ignore[arg-type]
