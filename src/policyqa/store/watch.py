"""Keep an index in line with a corpus folder as files appear, change or disappear.

The file system's own change notifications (watchfiles: inotify on Linux, with polling where
that is unavailable) are debounced, so that a burst of changes (an editor's save, a copy of
many files) becomes one build; each build costs what the changed files cost (one new part).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..embedding import Embedder
from ..errors import PolicyQAError
from ..schema import IndexReport
from .indexing import build_index

DEBOUNCE_MS = 1500  # changes arriving within this of each other are one build


def watch_and_index(paths: list[Path], index_dir: Path, *, settings: Settings | None = None,
                    embedder: Embedder | None = None, on_report: Callable[[IndexReport], None] | None = None,
                    on_error: Callable[[Exception], None] | None = None,
                    stop: threading.Event | None = None, debounce_ms: int = DEBOUNCE_MS,
                    force_polling: bool | None = None) -> None:
    """Build once, then rebuild after every debounced batch of changes under ``paths`` until
    ``stop`` is set (or KeyboardInterrupt). A failing build is reported to ``on_error`` and the
    watch goes on: the previous index keeps serving."""
    from watchfiles import watch

    settings = settings or Settings()
    embedder = embedder or Embedder(settings.model_path)
    index_dir = Path(index_dir).resolve()

    def build() -> None:
        try:
            report = build_index(paths, index_dir, settings=settings, embedder=embedder, wait=60.0)
        except PolicyQAError as exc:
            if on_error is not None:
                on_error(exc)
            return
        if on_report is not None:
            on_report(report)

    def relevant(_change: object, path: str) -> bool:
        # Never react to the index's own writes (an index folder inside the corpus folder).
        return not Path(path).resolve().is_relative_to(index_dir) and not Path(path).name.startswith(".")

    build()
    for _changes in watch(*paths, watch_filter=relevant, debounce=debounce_ms, stop_event=stop,
                          force_polling=force_polling, raise_interrupt=False):
        build()
