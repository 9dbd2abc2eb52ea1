"""Hybrid search: exact offsets, metadata on hits, filters, and dense search against a brute-force
numpy oracle over the stored vectors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from makefiles import make_pdf
from policyqa import Hit, Retriever, build_index
from conftest import DEFAULT_DOCS

QUESTIONS = [
    "How many countries attended the AI Safety Summit?",
    "What is the population of London?",
    "Which university is the oldest in the English-speaking world?",
    "red-teaming of dual-use foundation models",
    "semiconductor",
]


@pytest.fixture(scope="module")
def small_retriever(tmp_path_factory, embedder) -> Retriever:
    """The three small documents plus a two-page PDF, indexed once for this module."""
    from conftest import SMALL_DOCS

    root = tmp_path_factory.mktemp("small") / "corpus"
    root.mkdir()
    for name, text in SMALL_DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    make_pdf(root / "report.pdf", [["Page one is about tuition fees in Europe.", "It has two lines."],
                                   ["Page two: the Volga is the longest river in Europe."]],
             title="River report", invariant=True)  # dated 2000-01-01
    index_dir = root.parent / "index"
    build_index(root, index_dir, embedder=embedder)
    return Retriever.open(index_dir, embedder=embedder)


def assert_hits_exact(r: Retriever, hits: list[Hit], k: int) -> None:
    assert 0 < len(hits) <= k
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        doc = r.document(h.doc_id)
        assert doc.text[h.start:h.end] == h.text
        assert (h.title, h.source, h.date) == (doc.meta.title, doc.meta.source, doc.meta.date)
        assert h.page == doc.page_at(h.start)
        assert h.dense_score is not None or h.lexical_score is not None


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_hit_has_exact_offsets_and_its_documents_metadata(default_retriever, question):
    hits = default_retriever.search(question, k=10)
    assert_hits_exact(default_retriever, hits, 10)
    assert len({h.chunk_id for h in hits}) == len(hits)


def test_the_answer_passage_ranks_first(default_retriever):
    hits = default_retriever.search("What is the population of London?", k=3)
    assert hits[0].doc_id == "wp-summary-london.md" and "9.1 million" in hits[0].text


def test_front_matter_travels_with_hits(small_retriever):
    hit = small_retriever.search("How many countries attended the summit?", k=1)[0]
    assert (hit.doc_id, hit.title, hit.source, hit.date) == (
        "summit.md", "Notes on the summit", "https://example.org/summit", "2023-11-03")
    assert "28 countries" in hit.text


def test_pdf_hits_carry_their_page(small_retriever):
    hits = small_retriever.search("Which is the longest river in Europe?", k=5, doc_ids=["report.pdf"])
    assert_hits_exact(small_retriever, hits, 5)
    doc = small_retriever.document("report.pdf")
    assert doc.page_starts == (0, doc.text.index("Page two"))
    assert doc.title == "River report"
    pages = {h.page for h in hits}
    assert pages <= {1, 2} and pages


def test_filter_by_documents(default_retriever):
    wanted = ["wp-summary-london.md", "wp-summary-china.md"]
    hits = default_retriever.search("capital city population", k=20, doc_ids=wanted)
    assert hits and {h.doc_id for h in hits} <= set(wanted)
    assert_hits_exact(default_retriever, hits, 20)
    # One id given as a string means that document, not its characters.
    one = default_retriever.search("capital city population", k=5, doc_ids="wp-summary-london.md")
    assert one and {h.doc_id for h in one} == {"wp-summary-london.md"}
    assert default_retriever.search("capital", k=5, doc_ids=["no-such-doc.md"]) == []
    assert default_retriever.search("capital", k=5, doc_ids=[]) == []


def test_filter_by_date_range_excludes_unknown_dates(small_retriever, default_retriever):
    r = small_retriever  # summit 2023-11-03, rivers 2021-05-01, the PDF 2000-01-01, fees.txt: unknown
    docs = {d: r.document(d).meta.published for d in r.doc_ids()}
    assert docs == {"summit.md": "2023-11-03", "rivers.md": "2021-05-01", "report.pdf": "2000-01-01",
                    "fees.txt": None}
    query = "countries rivers fees Europe"
    by_range = {
        ("2022", None): {"summit.md"},
        (None, "2022"): {"rivers.md", "report.pdf"},
        ("2023-11", "2023-11"): {"summit.md"},
        ("2023-11-04", None): set(),
        ("2021", "2023-12-31"): {"summit.md", "rivers.md"},
        ("2000-01-01", "2000-01-01"): {"report.pdf"},
        ("1999", "2099"): {"summit.md", "rivers.md", "report.pdf"},  # never fees.txt: its date is unknown
    }
    for (date_from, date_to), expected in by_range.items():
        found = {h.doc_id for h in r.search(query, k=20, date_from=date_from, date_to=date_to)}
        assert found == expected, (date_from, date_to, found)
    # The default corpus: every hit's document was published in range, and undated ones never match.
    d = default_retriever
    hits = d.search("artificial intelligence", k=50, date_from="2023-01-01", date_to="2023-12-31")
    published = {h.doc_id: d.document(h.doc_id).meta.published for h in hits}
    assert hits and all(p is not None and p.startswith("2023") for p in published.values()), published
    assert "us-eo-14110-safe-secure-trustworthy-ai.md" in published
    later = {h.doc_id: d.document(h.doc_id).meta.published
             for h in d.search("artificial intelligence", k=50, date_from="2025")}
    assert later and all(p is not None and p >= "2025" for p in later.values()), later
    assert d.search("artificial intelligence", k=5, date_from="2027") == []


def test_dense_search_matches_a_numpy_oracle(default_retriever):
    r = default_retriever
    vectors = np.asarray(r.reader.files.chunk_vectors(), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)
    for question in QUESTIONS:
        q = r.embed_query(question)
        sims = vectors @ q
        oracle = np.argsort(-sims, kind="stable")[:10]
        hits = r.dense_search(question, k=10)
        assert [h.chunk_id for h in hits] == [int(i) for i in oracle] or np.allclose(
            [h.dense_score for h in hits], sims[oracle], atol=1e-5)  # equal up to ties
        assert np.allclose([h.dense_score for h in hits], sims[[h.chunk_id for h in hits]], atol=1e-5)
        # The hybrid search reports the same cosine for every chunk the dense side found.
        for h in r.search(question, k=10):
            if h.dense_score is not None:
                assert abs(h.dense_score - sims[h.chunk_id]) < 1e-5


def test_filtered_dense_search_matches_the_oracle_within_the_filter(default_retriever):
    r = default_retriever
    wanted = {"wp-summary-london.md", "wp-summary-united-kingdom.md", "us-eo-14110-safe-secure-trustworthy-ai.md"}
    rows = [cid for cid, doc in r.reader.files.db.execute("SELECT id, doc_id FROM chunks ORDER BY id") if doc in wanted]
    vectors = np.asarray(r.reader.files.chunk_vectors(), dtype=np.float32)
    question = "government of the United Kingdom"
    q = r.embed_query(question)
    # With a filter the dense side scores the allowed rows itself: its top 10 is the oracle's.
    mask = np.isin(np.arange(len(vectors)), rows)
    ranked = r.reader.dense_top(q, 10, mask)
    oracle = sorted(rows, key=lambda c: -float(vectors[c] @ q))[:10]
    assert [c for c, _ in ranked] == oracle
    assert np.allclose([s for _, s in ranked], [vectors[c] @ q for c in oracle], atol=1e-5)
    # Asked for every allowed passage, the search returns exactly those, with their true cosines.
    hits = r.search(question, k=len(rows), doc_ids=wanted)
    assert sorted(h.chunk_id for h in hits) == rows
    assert np.allclose([h.dense_score for h in hits], [vectors[h.chunk_id] @ q for h in hits], atol=1e-5)


def test_lexical_search_finds_the_rare_word(default_retriever):
    hits = default_retriever.lexical_search("Bletchley", k=10)
    assert hits and all("bletchley" in h.text.lower() for h in hits)
    assert all(h.lexical_score and h.lexical_score > 0 and h.dense_score is None for h in hits)


def test_degenerate_queries_return_nothing(default_retriever):
    assert default_retriever.search("", k=5) == []
    assert default_retriever.search("   ", k=5) == []
    assert default_retriever.search("London", k=0) == []
    assert default_retriever.dense_search("London", k=0) == []
    assert default_retriever.lexical_search("London", k=0) == []
    hits = default_retriever.search("the of and", k=3)  # only stopwords: dense side still answers
    assert len(hits) == 3 and all(h.lexical_score is None for h in hits)


def test_hit_is_a_plain_dataclass_for_json(default_retriever):
    hit = default_retriever.search("London", k=1)[0]
    data = dataclasses.asdict(hit)
    assert set(data) == {f.name for f in dataclasses.fields(Hit)}
    assert Hit(**data) == hit


def test_status_describes_the_index(default_retriever, default_index):
    status = default_retriever.status()
    assert status.index_dir == str(default_index)
    assert status.n_documents == len(status.documents) == DEFAULT_DOCS
    assert status.n_chunks == default_retriever.reader.files.n_chunks > 100
    assert status.model == "sentence-transformers/all-MiniLM-L6-v2"


def test_filter_by_speaker(default_retriever):
    r = default_retriever
    hits = r.search("human control over the decision to use nuclear weapons", k=5, speakers=["sullivan"])
    assert hits and all("Sullivan" in h.speaker for h in hits)
    assert_hits_exact(r, hits, 5)
    for h in hits:  # one speaker per passage, the one the document says
        assert h.speaker == r.document(h.doc_id).speaker_at(h.start)
    hits = r.search("licensing regime for AI models", k=5, speakers=["ALTMAN", "marcus"])
    assert hits and {h.speaker for h in hits} <= {"Sam Altman", "Gary Marcus"}
    assert r.search("licensing regime for AI models", speakers=["nobody at all"]) == []
    both = r.search("licensing", k=50, speakers="Sam Altman",
                    doc_ids=["tpp-2023-05-16-senate-judiciary-oversight-of-ai-altman-hearing.md"])
    assert both and all(h.speaker == "Sam Altman" for h in both)
    # passages of documents without speakers have none
    plain = r.search("population of London", k=3, doc_ids=["wp-summary-london.md"])
    assert plain and all(h.speaker is None for h in plain)
