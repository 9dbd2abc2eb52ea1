"""An index of immutable parts (Lucene's segments): adds write one part, removals and updates
mark rows deleted, merges fold parts together, and none of it changes what a question gets.

Real model, real files, real FAISS; the reference is always a fresh single-part build of the
same final corpus.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from policyqa import Retriever, UnknownDocumentError, build_index
from policyqa.store import files as store
from policyqa.store.indexing import MERGE_FACTOR, MERGE_FLOOR, merge_policy
from policyqa.store.postings import Postings, idf, write_postings

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FIRST = ["us-wh-2024-11-16-readout-biden-xi-lima.md", "us-wh-2023-11-15-readout-biden-xi-woodside.md",
         "wp-summary-london.md", "us-wh-2023-11-01-readout-harris-sunak-meeting.md"]
ADDED = "us-wh-2024-05-15-nsc-statement-us-prc-ai-talks-geneva.md"
QUESTIONS = ["What did Biden and Xi agree about nuclear weapons?", "AI talks between the US and China in Geneva",
             "What did Harris and Sunak discuss?", "population of London", "fentanyl precursor chemicals",
             "military-to-military communication"]


def _snapshot(index_dir: Path, embedder) -> list:
    """Hits (document, span, rounded scores) and answers (quotes, citations) for QUESTIONS."""
    r = Retriever.open(index_dir, embedder=embedder)
    try:
        out = []
        for q in QUESTIONS:
            hits = [(h.doc_id, h.start, h.end, round(h.score, 4), round(h.dense_score or 0, 4),
                     round(h.lexical_score or 0, 3)) for h in r.search(q, k=10)]
            a = r.ask(q)
            out.append((hits, a.found, [(s.citation.doc_id, s.citation.start, s.citation.end, s.citation.speaker)
                                        for s in a.sentences]))
        return out
    finally:
        r.close()


def _commit(index_dir: Path) -> dict:
    return store.read_manifest(store.read_current(index_dir))


@pytest.fixture()
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name in FIRST:
        shutil.copy(CORPUS / name, root / name)
    return root


def test_postings_score_exactly_as_bm25s(tmp_path):
    """One part's BM25, computed from raw counts, is bm25s's (the formula the first indexes used)."""
    import bm25s

    from policyqa import lexical

    texts = (CORPUS / FIRST[0]).read_text(encoding="utf-8").split("\n\n") + ["", "the of and"]
    tokens = lexical.tokens(texts)
    write_postings(tmp_path / "p", tokens)
    postings = Postings(tmp_path / "p")
    reference = bm25s.BM25()
    reference.index(bm25s.tokenize(texts, stopwords="en", stemmer=lexical.stemmer(), show_progress=False),
                    show_progress=False)
    n, avg = postings.n_rows, float(np.mean(postings.lengths))
    for query in ["Biden Xi nuclear weapons human control", "fentanyl fentanyl", "Peru", "unknownword"]:
        q = lexical.tokens([query])[0]
        weights = {t: idf(postings.df(t, None), n) for t in set(q)}
        ours = postings.scores(q, weights, avg)
        known = [t for t in q if t in reference.vocab_dict]
        theirs = reference.get_scores(known) if known else np.zeros(len(texts))
        assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-6), query
        assert ours.any() == bool(set(q) & set(reference.vocab_dict))


def test_adds_updates_and_removals_rank_as_a_fresh_build(corpus, tmp_path, embedder):
    index = tmp_path / "index"
    first = build_index(corpus, index, embedder=embedder)
    assert first.wrote and len(_commit(index)["parts"]) == 1
    old_part = index / _commit(index)["parts"][0]["name"]
    stamps = {f.name: f.stat().st_mtime_ns for f in old_part.iterdir() if f.is_file()}

    # Add one document: one new part, only its texts embedded, the old part untouched.
    shutil.copy(CORPUS / ADDED, corpus / ADDED)
    added = build_index(corpus, index, embedder=embedder)
    assert added.added == (ADDED,) and len(_commit(index)["parts"]) == 2
    assert 0 < added.embedded_texts < first.embedded_texts / 2
    assert {f.name: f.stat().st_mtime_ns for f in old_part.iterdir() if f.is_file()} == stamps

    # Update one (a paragraph appended) and remove another: rows marked deleted where they live.
    path = corpus / FIRST[1]
    path.write_text(path.read_text(encoding="utf-8") + "\n\nThe leaders also discussed a ferry across the "
                    "Danube with a capacity of 4,200 passengers.\n", encoding="utf-8")
    (corpus / FIRST[2]).unlink()
    changed = build_index(corpus, index, embedder=embedder)
    assert changed.updated == (FIRST[1],) and changed.removed == (FIRST[2],)
    commit = _commit(index)
    assert len(commit["parts"]) == 3 and commit["parts"][0]["deleted"] > 0
    assert (store.read_current(index) / store.deleted_file(commit["parts"][0]["name"])).is_file()
    assert changed.embedded_texts < 20  # the updated document's unchanged sentences were not re-embedded

    fresh = tmp_path / "fresh"
    build_index(corpus, fresh, embedder=embedder)
    segmented = _snapshot(index, embedder)
    assert segmented == _snapshot(fresh, embedder)

    r = Retriever.open(index, embedder=embedder)
    assert FIRST[2] not in r.doc_ids() and r.status().n_documents == len(FIRST)
    with pytest.raises(UnknownDocumentError):
        r.document(FIRST[2])
    assert r.search("London", k=5, doc_ids=[FIRST[2]]) == []
    assert all(h.doc_id != FIRST[2] for h in r.search("population of Greater London", k=50))
    assert any("Danube" in s.text for s in r.ask("How many passengers can the Danube ferry carry?").sentences)
    reference = Retriever.open(fresh, embedder=embedder).status()
    assert (r.status().n_chunks, r.status().n_segments) == (reference.n_chunks, reference.n_segments)

    # Merging everything (policyqa index --optimize) purges the deleted rows and changes nothing.
    optimized = build_index(corpus, index, embedder=embedder, optimize=True)
    assert optimized.merged and optimized.embedded_texts == 0
    commit = _commit(index)
    assert len(commit["parts"]) == 1 and commit["parts"][0]["deleted"] == 0
    assert _snapshot(index, embedder) == segmented
    # The replaced parts stay while the previous commit (kept for readers opening it) lists them,
    # and are gone after the next commit.
    (corpus / "note.md").write_text("# Note\n\nA note on export controls.\n", encoding="utf-8")
    build_index(corpus, index, embedder=embedder)
    assert sorted(p.name for p in index.glob("part-*")) == sorted(p["name"] for p in _commit(index)["parts"])
    assert len(list(index.glob("gen-*"))) == 2


def test_a_reader_keeps_answering_across_adds_and_merges(corpus, tmp_path, embedder):
    index = tmp_path / "index"
    build_index(corpus, index, embedder=embedder)
    held = Retriever.open(index, embedder=embedder)
    before = [[(h.doc_id, h.start) for h in held.search(q, k=5)] for q in QUESTIONS]
    for i in range(3):
        (corpus / f"note-{i}.md").write_text(f"# Note {i}\n\nA short note number {i} about export controls.\n",
                                             encoding="utf-8")
        build_index(corpus, index, embedder=embedder)
    build_index(corpus, index, embedder=embedder, optimize=True)
    build_index(corpus, index, embedder=embedder, optimize=True)
    assert [[(h.doc_id, h.start) for h in held.search(q, k=5)] for q in QUESTIONS] == before
    assert held.ask(QUESTIONS[0]).found
    latest = Retriever.open(index, embedder=embedder)
    assert "note-2.md" in latest.doc_ids() and len(_commit(index)["parts"]) == 1


def test_watching_a_folder_picks_up_new_changed_and_removed_files(corpus, tmp_path, embedder):
    import threading

    from policyqa.store.watch import watch_and_index

    index = tmp_path / "index"
    stop = threading.Event()
    reports = []
    worker = threading.Thread(target=watch_and_index, args=([corpus], index),
                              kwargs=dict(embedder=embedder, on_report=reports.append, stop=stop, debounce_ms=300),
                              daemon=True)
    worker.start()

    def wait_for(check, seconds=60.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                r = Retriever.open(index, embedder=embedder)
                if check(r):
                    return r
            except Exception:
                pass
            time.sleep(0.3)
        raise AssertionError("the watcher did not pick the change up")

    try:
        wait_for(lambda r: set(FIRST) <= set(r.doc_ids()))
        shutil.copy(CORPUS / ADDED, corpus / ADDED)
        started = time.monotonic()
        wait_for(lambda r: ADDED in r.doc_ids())
        added_after = time.monotonic() - started
        (corpus / FIRST[2]).unlink()
        wait_for(lambda r: FIRST[2] not in r.doc_ids())
        assert added_after < 60
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert [r.added for r in reports if r.added][-1] == (ADDED,) and reports[-1].removed == (FIRST[2],)


def test_merge_policy_folds_a_full_tier_only():
    small = [{"name": f"part-{i}", "chunks": 50 + i, "deleted": 0} for i in range(MERGE_FACTOR - 1)]
    big = [{"name": "part-big", "chunks": MERGE_FLOOR * MERGE_FACTOR * 3, "deleted": 0}]
    assert merge_policy(small + big) == []
    full = small + [{"name": "part-last", "chunks": 10, "deleted": 0}] + big
    assert sorted(merge_policy(full)) == sorted(p["name"] for p in full[:-1])
    # Deleted rows do not count: a part mostly deleted sits in a lower tier.
    shrunk = [{"name": f"part-{i}", "chunks": MERGE_FLOOR * MERGE_FACTOR * 2, "deleted": MERGE_FLOOR * MERGE_FACTOR * 2 - 5}
              for i in range(MERGE_FACTOR)]
    assert len(merge_policy(shrunk)) == MERGE_FACTOR


def test_adding_parts_one_at_a_time_merges_automatically(corpus, tmp_path, embedder):
    index = tmp_path / "index"
    build_index(corpus, index, embedder=embedder)
    merged = []
    for i in range(MERGE_FACTOR - 1):  # the first build's part and these: MERGE_FACTOR small parts
        (corpus / f"n{i}.md").write_text(f"# N {i}\n\nExport controls note {i}.\n", encoding="utf-8")
        merged.append(build_index(corpus, index, embedder=embedder).merged)
    assert merged[-1] and not any(merged[:-1])
    assert len(_commit(index)["parts"]) == 1
    r = Retriever.open(index, embedder=embedder)
    assert {f"n{i}.md" for i in range(MERGE_FACTOR - 1)} <= set(r.doc_ids())


CHILD = """
import sys
from policyqa import build_index
build_index(sys.argv[1], sys.argv[2], optimize=sys.argv[3] == "optimize")
"""


def _child(corpus: Path, index: Path, what: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(corpus), str(index),
                             "optimize" if what == "merge" else "add"], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("what", ["add", "merge"])
def test_kill_9_during_an_add_or_a_merge_leaves_the_state_before_or_after(corpus, tmp_path, embedder, what):
    """A build killed at a moment spread over its run: the index opens and answers as before or
    as after, and the next build completes it. (scripts/crash_segments.py does this at 20 points.)"""
    index = tmp_path / "index"
    build_index(corpus, index, embedder=embedder)
    shutil.copy(CORPUS / ADDED, corpus / ADDED)
    if what == "merge":
        build_index(corpus, index, embedder=embedder)  # two parts to merge
    before = _snapshot(index, embedder)
    reference = tmp_path / "after"
    shutil.copytree(index, reference)
    started = time.perf_counter()
    assert _child(corpus, reference, what).wait() == 0
    duration = time.perf_counter() - started
    after = _snapshot(reference, embedder)
    assert what == "merge" or before != after
    for fraction in (0.5, 0.9):
        trial = tmp_path / f"trial-{fraction}"
        shutil.copytree(index, trial)
        child = _child(corpus, trial, what)
        time.sleep(duration * fraction)
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = _snapshot(trial, embedder)
        assert state in (before, after), f"killed at {fraction:.0%} of the run: neither before nor after"
        # The next build finishes the job and cleans up what the killed one left.
        build_index(corpus, trial, embedder=embedder, optimize=what == "merge")
        assert _snapshot(trial, embedder) == after
        assert not list(trial.glob("*.partial"))
