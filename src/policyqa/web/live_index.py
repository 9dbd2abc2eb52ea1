"""A Retriever that a running server can re-index in the background and swap without a restart.

Questions always get the generation that was current when they started: a build runs in one
background thread and, when it has published a new generation, the new Retriever replaces the
old one in a single reference swap under a lock. The old one is closed when its last question
finishes, never under a question still using it.
"""

from __future__ import annotations

import threading
import time
import traceback
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..embedding import Embedder
from ..errors import PolicyQAError
from ..store.indexing import build_index
from ..query.retriever import Retriever
from ..schema import IndexReport, IndexStatus


@dataclass(frozen=True)
class LiveStatus:
    index: IndexStatus  # of the generation questions are answered from
    indexing: bool  # a background build is running (or queued)
    pending: tuple[str, ...]  # files the running build was asked to add
    started_at: float | None  # time.time() when the running build started
    last_report: IndexReport | None  # of the last finished build
    last_error: str | None  # of the last failed build; the previous index stays in use
    builds: int  # finished builds since the server started; changes whenever the index may have
    version: int = 0  # changes whenever anything above does: a page compares it to skip unchanged polls


class _Generation:
    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        # Read once per generation: a generation never changes, and its status lists every
        # document id (a SQLite scan), which a status poll must not repeat.
        self.status = retriever.status()
        self.users = 0
        self.retired = False


class LiveIndex:
    def __init__(self, index_dir: str | Path, corpus_dir: str | Path, *, settings: Settings | None = None,
                 embedder: Embedder | None = None, retriever: Retriever | None = None) -> None:
        self.settings = settings or Settings()
        self.index_dir = Path(index_dir)
        self.corpus_dir = Path(corpus_dir)
        self.embedder = embedder or Embedder(self.settings.model_path)
        self._lock = threading.Lock()
        self._gen = _Generation(retriever or Retriever.open(self.index_dir, settings=self.settings,
                                                            embedder=self.embedder))
        self._thread: threading.Thread | None = None
        self._again = False  # files arrived after the running build scanned the corpus
        self._pending: list[str] = []
        self._started_at: float | None = None
        self._last_report: IndexReport | None = None
        self._last_error: str | None = None
        self._builds = 0
        self._version = 0
        self._idle = threading.Event()
        self._idle.set()

    @contextmanager
    def use(self) -> Iterator[Retriever]:
        """The current Retriever, kept open until the ``with`` block ends even if a swap happens."""
        with self._lock:
            gen = self._gen
            gen.users += 1
        try:
            yield gen.retriever
        finally:
            with self._lock:
                gen.users -= 1
                close = gen.retired and gen.users == 0
            if close:
                gen.retriever.close()

    def status(self) -> LiveStatus:
        """Constant time: the generation's status is cached, the rest is a few fields."""
        with self._lock:
            return LiveStatus(index=self._gen.status, indexing=self._thread is not None,
                              pending=tuple(self._pending), started_at=self._started_at,
                              last_report=self._last_report, last_error=self._last_error, builds=self._builds,
                              version=self._version)

    def reindex(self, new_files: Sequence[str] = ()) -> None:
        """Bring the index in line with the corpus folder in the background; returns at once."""
        with self._lock:
            self._pending.extend(new_files)
            self._version += 1
            if self._thread is not None:
                self._again = True  # the running build may have scanned the folder already
                return
            self._idle.clear()
            self._started_at = time.time()
            self._thread = threading.Thread(target=self._run, name="policyqa-reindex", daemon=True)
            self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once no build is running (for tests and scripts)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._again = False
            try:
                # wait: a `policyqa index` run from a shell may hold the lock for a while.
                report = build_index(self.corpus_dir, self.index_dir, settings=self.settings,
                                     embedder=self.embedder, progress=True, wait=600)
                fresh = Retriever.open(self.index_dir, settings=self.settings, embedder=self.embedder)
                self._swap(fresh)
                error = None
            except PolicyQAError as exc:
                report, error = None, str(exc)
            except Exception as exc:  # a thread that dies silently would leave "indexing…" forever
                traceback.print_exc(file=sys.stderr)
                report, error = None, f"unexpected error while indexing: {exc.__class__.__name__}: {exc}"
            with self._lock:
                self._builds += 1
                self._version += 1
                self._last_report = report if report is not None else self._last_report
                self._last_error = error
                if not self._again:
                    self._thread = None
                    self._pending = []
                    self._started_at = None
                    self._idle.set()
                    return
                self._started_at = time.time()

    def _swap(self, fresh: Retriever) -> None:
        try:
            gen = _Generation(fresh)  # its status is read here, in the build thread, not under the lock
        except BaseException:
            fresh.close()  # a generation that cannot say what it holds is not swapped in
            raise
        with self._lock:
            old, self._gen = self._gen, gen
            self._version += 1
            old.retired = True
            close = old.users == 0
        if close:
            old.retriever.close()

    def close(self) -> None:
        with self._lock:
            self._gen.retired = True
            close = self._gen.users == 0
        if close:
            self._gen.retriever.close()
