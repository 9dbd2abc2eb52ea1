"""Contextual headers and fusion: metadata is searchable, and fusion behaves as documented."""

from __future__ import annotations

import numpy as np
import pytest

from policyqa import Retriever, build_index
from policyqa.config import Settings
from policyqa.ingest.headers import date_words, header_text
from policyqa.query.search import Pool, fuse
from policyqa.schema import DocumentMeta

DOCS = {
    "speech.md": """---
title: "Remarks at the Brookings Institution on industrial policy"
author: "National Security Advisor Jake Sullivan"
date: "2023-04-27"
---

We will build a coalition of partners around shared investment in energy.
Our approach is a small yard with a high fence around the most sensitive technologies.
""",
    "readout.md": """---
title: "Readout of the meeting in Lima"
date: "2024-11-16"
---

The two leaders discussed supply chains for clean energy and clean energy investment in supply chains.
They affirmed the need to keep human control over decisions to use nuclear weapons.
""",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, embedder) -> Retriever:
    root = tmp_path_factory.mktemp("fusion")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    build_index(corpus, root / "index", embedder=embedder)
    return Retriever.open(root / "index", embedder=embedder)


def test_headers_hold_title_author_and_date_in_words(retriever):
    texts = retriever.reader.files.header_texts
    assert any("Brookings Institution" in t and "Jake Sullivan" in t and "27 April 2023" in t for t in texts), texts
    assert len(retriever.reader.files.chunk_headers) == retriever.reader.files.n_chunks
    assert retriever.reader.files.header_vectors.shape == (len(texts), retriever.embedder.dim)


def test_a_question_naming_its_source_reaches_it_through_the_header(retriever):
    # The readout's text matches the question's topic best; only the speech's header says
    # Brookings: with the header fields the speech comes first, without them the readout.
    question = "supply chains and clean energy investment at Brookings"
    plain = Retriever(retriever.reader, retriever.embedder,
                      retriever.settings.with_(header_lexical_weight=0.0, header_dense_weight=0.0))
    assert plain.search(question, k=1)[0].doc_id == "readout.md"
    assert retriever.search(question, k=1)[0].doc_id == "speech.md"
    assert retriever.search("supply chains and clean energy investment in Lima", k=1)[0].doc_id == "readout.md"


def test_hits_report_their_own_cosine_and_bm25(retriever):
    q = np.asarray(retriever.embed_query("nuclear weapons"), dtype=np.float32)
    for hit in retriever.search("nuclear weapons", k=4):
        assert abs(hit.dense_score - float(retriever.reader.files.chunk_vectors()[hit.chunk_id] @ q)) < 1e-5


def _pool(dense, lexical, header_dense=None, header_lexical=None) -> Pool:
    n = len(dense)
    zero = np.zeros(n)
    return Pool(ids=np.arange(n), dense=np.array(dense, float), header_dense=np.array(header_dense or zero, float),
                lexical=np.array(lexical, float), header_lexical=np.array(header_lexical or zero, float))


def test_fusion_with_one_half_weighted_zero_ranks_as_the_other_half():
    pool = _pool(dense=[0.9, 0.1, 0.5], lexical=[0.0, 8.0, 3.0])
    for method in ("linear", "rrf"):
        dense_only, _, _ = fuse(pool, Settings(fusion=method, lexical_weight=0.0, dense_weight=1.0))
        lexical_only, _, _ = fuse(pool, Settings(fusion=method, lexical_weight=1.0, dense_weight=0.0))
        assert list(np.argsort(-dense_only)) == [0, 2, 1]
        assert list(np.argsort(-lexical_only))[:2] == [1, 2]  # chunk 0 holds no query term


def test_header_weights_add_the_header_scores():
    pool = _pool(dense=[0.5, 0.5], lexical=[2.0, 2.0], header_lexical=[0.0, 3.0])
    fused, _, lexical = fuse(pool, Settings(fusion="linear", header_lexical_weight=2.0))
    assert list(lexical) == [2.0, 8.0] and fused[1] > fused[0]
    with pytest.raises(ValueError):
        fuse(pool, Settings(fusion="nonsense"))


def test_date_words_and_header_text():
    assert date_words("2023-11-01") == "1 November 2023"
    assert date_words("2023-11") == "November 2023" and date_words("2023") == "2023" and date_words(None) == ""
    meta = DocumentMeta(title="Readout", author="The White House", published="2024-05-15")
    assert header_text(meta, "Jake Sullivan") == "Readout. Jake Sullivan. The White House. 15 May 2024"
