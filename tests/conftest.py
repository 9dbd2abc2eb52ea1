"""Shared fixtures: the real bundled model, real FAISS, real files.

Index builds cost real embedding time, so the default-corpus index is built once per session
and shared read-only; tests that change an index build their own small one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "corpus"


def _count_default_documents() -> int:
    from policyqa.ingest.documents import iter_corpus_files

    return sum(1 for _ in iter_corpus_files([DEFAULT_CORPUS]))


# The documents `policyqa index corpus` indexes (SOURCES.md and originals/ are ignored).
DEFAULT_DOCS = _count_default_documents()


@pytest.fixture(scope="session")
def embedder():
    from policyqa.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def default_index(tmp_path_factory, embedder) -> Path:
    """The shipped default corpus, indexed once per session. Treat as read-only."""
    from policyqa import build_index

    index_dir = tmp_path_factory.mktemp("default-index")
    build_index(DEFAULT_CORPUS, index_dir, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def default_retriever(default_index, embedder):
    from policyqa import Retriever

    return Retriever.open(default_index, embedder=embedder)


SMALL_DOCS = {
    "summit.md": """---
title: "Notes on the summit"
author: "A. Writer"
publisher: "Example Press"
date: "2023-11-03"
source: "https://example.org/summit"
---

# Notes on the summit

The AI Safety Summit took place at Bletchley Park in November 2023. Delegations from 28 countries attended the meeting.
The Bletchley Declaration was signed by all of them, China included.
""",
    "fees.txt": """University tuition fees

Tuition in the Netherlands costs about €2,314 a year for EU students. International students pay far more.

Café owners in Zürich say prices have risen — naïve estimates put the rise at 12%.
""",
    "rivers.md": """---
title: "Rivers of Europe"
date: "2021-05-01"
---

The Danube flows through ten countries. It is the second-longest river in Europe after the Volga.
""",
}


@pytest.fixture()
def small_corpus(tmp_path) -> Path:
    """A fresh three-document corpus (md with front matter, plain text with non-ASCII) per test."""
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in SMALL_DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture()
def copy_default_corpus(tmp_path) -> Path:
    dest = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, dest)
    return dest
