"""Scale by design, checked on small real indexes (real model, real FAISS; no timings here:
scripts/bench_index.py and scripts/bench_query.py measure speed).

- The dense index type is chosen by size: exact below ``Settings.ann_threshold`` chunks, IVF from
  there, tuned at build time to recall@10 >= 0.99 of exact search. A tiny threshold forces IVF.
- Filters stay exact (numpy over the allowed rows) or use FAISS with a bitmap; both agree with
  a brute-force oracle.
- Per-chunk metadata in memory is an int32 document row; indexes written before it still open.
- The cheaper sentence splitter and token counter give exactly the stock results.
- A no-change re-index reads the manifest only; repeated questions are embedded once; query
  terms are bm25s's own; a closed Retriever is freed (with its mapped files).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DEFAULT_CORPUS, DEFAULT_DOCS, ROOT
from policyqa import PolicyQAError, Retriever, Settings, build_index
from policyqa.store.files import ANN_RECALL, CHUNK_DOCS, MANIFEST, part_paths, read_current

DEV_QUESTIONS = [json.loads(line)["question"] for line in
                 (ROOT / "scripts" / "devset" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
QUESTIONS = DEV_QUESTIONS[::6] + [  # every sixth dev question (50) and a few about the default corpus
    "How many countries attended the AI Safety Summit?", "What is the population of London?",
    "red-teaming of dual-use foundation models", "semiconductor export controls"]


@pytest.fixture(scope="module")
def ann_index(tmp_path_factory, default_index, embedder) -> Path:
    """The default corpus plus one small document, built with a threshold that forces IVF.

    It starts as a copy of the session's default index, so only the new document is embedded."""
    root = tmp_path_factory.mktemp("ann")
    corpus = root / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    (corpus / "extra.md").write_text("---\ntitle: \"Extra\"\ndate: \"2024-02-01\"\n---\n\n"
                                     "The committee met twice in 2024 to review the export rules.\n", encoding="utf-8")
    index = root / "index"
    shutil.copytree(default_index, index)
    # optimize: the new part and the copied one merged into one part, big enough for IVF.
    report = build_index(corpus, index, settings=Settings(ann_threshold=50), embedder=embedder, optimize=True)
    assert report.added == ("extra.md",) and report.embedded_texts <= 4 and report.merged
    return index


@pytest.fixture(scope="module")
def ann_retriever(ann_index, embedder) -> Retriever:
    return Retriever.open(ann_index, embedder=embedder)


def exact_top(r: Retriever, q: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[int]:
    vectors = np.asarray(r.reader.files.chunk_vectors(), dtype=np.float32)
    rows = np.arange(len(vectors)) if rows is None else rows
    sims = vectors[rows] @ q
    return [int(rows[i]) for i in np.argsort(-sims, kind="stable")[:k]]


def test_index_type_is_chosen_by_size_and_tuned_at_build(default_retriever, ann_retriever):
    assert default_retriever.reader.files.dense_info["type"] == "flat"  # a small corpus: exact search
    assert type(default_retriever.reader.files.faiss).__name__ == "IndexFlatIP"
    info = ann_retriever.reader.files.dense_info
    assert info["type"] == "ivf-flat" and info == ann_retriever.reader.files.manifest["dense"]
    assert 1 <= info["nprobe"] <= info["nlist"] and info["tuned_on"] >= 50
    assert info["recall_at_10"] >= ANN_RECALL
    assert ann_retriever.reader.files.faiss.nprobe == info["nprobe"]
    assert ann_retriever.reader.files.faiss.ntotal == ann_retriever.reader.files.n_chunks


def test_ann_recall_against_exact_search_on_real_questions(ann_retriever):
    r = ann_retriever
    recalls = []
    for question in QUESTIONS:
        q = r.embed_query(question)
        found = [h.chunk_id for h in r.dense_search(question, k=10)]
        recalls.append(len(set(found) & set(exact_top(r, q, 10))) / 10)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_ann_hits_keep_exact_offsets_and_true_cosines(ann_retriever):
    r = ann_retriever
    vectors = np.asarray(r.reader.files.chunk_vectors(), dtype=np.float32)
    for question in QUESTIONS[-4:] + QUESTIONS[:4]:
        q = r.embed_query(question)
        for hits in (r.search(question, k=10), r.dense_search(question, k=10)):
            assert hits and [h.rank for h in hits] == list(range(1, len(hits) + 1))
            for h in hits:
                doc = r.document(h.doc_id)
                assert doc.text[h.start:h.end] == h.text
                assert (h.title, h.date) == (doc.meta.title, doc.meta.date)
                if h.dense_score is not None:
                    assert abs(h.dense_score - float(vectors[h.chunk_id] @ q)) < 1e-5
    answer = r.ask("How many countries attended the AI Safety Summit?")
    for s in answer.sentences:
        assert r.document(s.citation.doc_id).text[s.citation.start:s.citation.end] == s.text


@pytest.mark.parametrize("which", ["exact", "ann"])
def test_filtered_dense_search_agrees_with_the_oracle_on_both_paths(which, default_retriever, ann_retriever):
    r = default_retriever if which == "exact" else ann_retriever
    wanted = {"us-eo-14110-safe-secure-trustworthy-ai.md", "seed-uktn-china-ai-collaboration.md",
              "wp-summary-london.md"}
    rows = np.array([cid for cid, doc in r.reader.files.db.execute("SELECT id, doc_id FROM chunks ORDER BY id")
                     if doc in wanted])
    mask = r.reader.allowed(sorted(wanted), None, None, None)
    assert np.array_equal(np.flatnonzero(mask), rows) and len(rows) > 10
    recalls = []
    for question in ["safety testing of AI models", "population of the capital", "research cooperation with China"]:
        q = r.embed_query(question)
        oracle = exact_top(r, q, 10, rows)
        assert [c for c, _ in r.reader.dense_top(q, 10, mask)] == oracle  # few rows allowed: scored directly, exact
        try:
            r.reader.FILTER_BRUTE_FORCE_MAX = 0  # force the FAISS search with the filter as a bitmap
            ranked = r.reader.dense_top(q, 10, mask)
        finally:
            del r.reader.FILTER_BRUTE_FORCE_MAX
        assert {c for c, _ in ranked} <= set(rows.tolist())
        if which == "exact":
            assert [c for c, _ in ranked] == oracle
        recalls.append(len({c for c, _ in ranked} & set(oracle)) / len(oracle))
    assert np.mean(recalls) >= 0.9


def test_chunk_documents_are_int32_rows_matching_the_database(ann_retriever):
    r = ann_retriever
    chunk_docs = r.reader.files.chunk_docs
    assert chunk_docs.dtype == np.int32 and len(chunk_docs) == r.reader.files.n_chunks
    doc_of_row = {row: doc for row, doc in r.reader.files.db.execute("SELECT rowid - 1, doc_id FROM documents")}
    by_sql = [doc for (doc,) in r.reader.files.db.execute("SELECT doc_id FROM chunks ORDER BY id")]
    assert [doc_of_row[int(i)] for i in chunk_docs] == by_sql
    hits = r.search("export rules", k=5, date_from="2024-02", date_to="2024-02")  # only extra.md is of that month
    assert hits and {h.doc_id for h in hits} == {"extra.md"}


def test_an_index_part_without_its_chunk_documents_is_damaged(default_index, embedder, tmp_path):
    # chunk_docs.npy is part of every index of this schema (an index written before it existed has
    # an older schema version and is rebuilt): without it the index is damaged, not guessed at.
    old = tmp_path / "index"
    shutil.copytree(default_index, old)
    (part,) = part_paths(old)
    (part / CHUNK_DOCS).unlink()
    from policyqa import IndexCorruptError

    with pytest.raises(IndexCorruptError, match="chunk_docs.npy"):
        Retriever.open(old, embedder=embedder)


def test_sentence_splitter_gives_stock_pysbd_spans():
    import pysbd

    from policyqa.ingest.chunking import _splitter
    from policyqa.ingest.documents import iter_corpus_files, load_document

    texts = [load_document(f, r).text for f, r in iter_corpus_files([DEFAULT_CORPUS])]
    texts += [json.loads(line)["text"] for line in
              (ROOT / "scripts" / "devset" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:2]]
    lines = [line for t in texts for line in t.split("\n") if len(line) > 40]
    # Repeated sentences and odd spaces: the span search must pick the same occurrence as pysbd's.
    lines += [f"{a[:50]}. {a[:50]}.\u00a0 {b} {a[:50]}.\x1f x" for a, b in zip(lines[:40], lines[40:80])]
    stock = pysbd.Segmenter(language="en", clean=False, char_span=True)
    fast = _splitter()
    for line in lines:
        assert ([(s.sent, s.start, s.end) for s in fast.segment(line)]
                == [(s.sent, s.start, s.end) for s in stock.segment(line)]), line


def test_token_counts_match_tiktokens_batch_encoder():
    from policyqa.ingest.chunking import _encoding, count_tokens

    texts = ["", "Tuition costs €2,314 a year.", "line\nbreak  spaces", "naïve café " * 40]
    assert count_tokens(texts) == [len(ids) for ids in _encoding().encode_ordinary_batch(texts)]


def test_the_one_lexical_rule_is_bm25s_english_default():
    """lexical.tokens (what the index is built from and queried with) makes the terms bm25s's
    English defaults make, so indexes built before the rule moved into policyqa stay valid."""
    import bm25s

    from policyqa import lexical

    texts = DEV_QUESTIONS + ["", "the of and", "Naïve CAFÉ costs €2,314; x_y __ ab", "İstanbul straße ǅ 3rd"]
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=lexical.stemmer(), return_ids=False,
                              show_progress=False)
    assert lexical.tokens(texts) == [list(t) for t in expected]
    assert lexical.STOPWORDS == frozenset(bm25s.stopwords.STOPWORDS_EN)


def test_no_change_reindex_reads_the_manifest_only(default_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(default_index, index)
    code = ("import json, sys\nfrom policyqa import build_index\n"
            f"r = build_index({str(DEFAULT_CORPUS)!r}, {str(index)!r})\n"
            "print(json.dumps([r.wrote, r.n_chunks, len(r.unchanged), "
            "[m for m in ('faiss', 'bm25s', 'torch') if m in sys.modules]]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    wrote, n_chunks, unchanged, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    manifest = json.loads((read_current(index) / MANIFEST).read_text(encoding="utf-8"))
    assert (wrote, n_chunks, unchanged, heavy) == (False, manifest["counts"]["chunks"], DEFAULT_DOCS, [])


def test_repeated_questions_are_embedded_once(default_retriever, monkeypatch):
    r = default_retriever
    calls = []
    encode = r.embedder.encode
    monkeypatch.setattr(r.embedder, "encode", lambda texts, **kw: calls.append(list(texts)) or encode(texts, **kw))
    question = "Which body published the scale-test question about tuition?"
    first = r.search(question, k=5)
    again = r.search(question, k=5)
    r.ask(question)
    assert first == again and calls == [[question]]


def test_a_closed_retriever_is_not_kept_alive(default_index, embedder):
    # A server swaps in a new Retriever after every build: nothing may keep the old one (and the
    # mapped files of its deleted generation) alive, e.g. a class-wide cache of documents.
    import gc
    import weakref

    r = Retriever.open(default_index, embedder=embedder)
    r.document(r.doc_ids()[0])
    r.search("London", k=3)
    ref = weakref.ref(r)
    r.close()
    del r
    gc.collect()
    assert ref() is None


def test_ann_threshold_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("POLICYQA_ANN_THRESHOLD", "200_000")
    assert Settings().ann_threshold == 200_000
    assert Settings(ann_threshold=10).ann_threshold == 10
    monkeypatch.setenv("POLICYQA_ANN_THRESHOLD", "lots")
    with pytest.raises(PolicyQAError, match="POLICYQA_ANN_THRESHOLD"):
        Settings()


def test_query_time_thread_limits_are_restored(default_retriever):
    # Searches run numpy and FAISS on one thread (spinning helper threads slow the next
    # embedding); the process's own settings must come back unchanged afterwards.
    import faiss
    from threadpoolctl import threadpool_info

    before = (faiss.omp_get_max_threads(), [i["num_threads"] for i in threadpool_info()])
    assert default_retriever.search("AI Safety Summit", k=5)
    assert default_retriever.search("AI Safety Summit", k=5, doc_ids=default_retriever.doc_ids()[:2])
    assert (faiss.omp_get_max_threads(), [i["num_threads"] for i in threadpool_info()]) == before


def test_concurrent_searches_leave_thread_settings_as_they_found_them(default_retriever):
    # The web chat searches from several threads at once; BLAS's thread count is process-wide.
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info()]
    questions = ["AI Safety Summit", "tuition fees", "Tsinghua University", "population of London"] * 25
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: default_retriever.search(q, k=3), questions))
    assert all(results)
    assert [i["num_threads"] for i in threadpool_info()] == before
