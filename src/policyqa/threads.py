"""Query-time numerical work on one thread.

A multi-threaded product or search leaves its threads spinning after it returns; on two cores
they then slow the next question's embedding about twofold (41 vs 17 ms a question beside a
10k-chunk search), and a single query gains nothing from a second thread: FAISS's exact search
of 10k vectors took 1.3 ms on one thread against 1.9 on two (scripts/bench_query.py).

BLAS's thread count is process-wide: searches from several threads (the web chat's users) take
turns, so that each restores the setting it found. The lock is re-entrant so that the storage
layer can limit its own libraries (FAISS's OpenMP) inside a block the query layer opened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache


@lru_cache(maxsize=1)
def _blas():  # type: ignore[no-untyped-def]
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


LOCK = threading.RLock()


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS limited to one thread for the block (blocks of other threads wait their turn)."""
    with LOCK:
        with _blas().limit(limits=1):
            yield
