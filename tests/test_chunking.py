"""Segments and chunks: exact offsets, whole segments, bounded overlap, and token limits checked
with the real tokenizers (cl100k for the budget, the model's word pieces for what it reads)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from makefiles import DEFAULT_CORPUS, corpus_sentences
from policyqa import ChunkSettings, Document, DocumentMeta
from policyqa.ingest.chunking import chunk, count_tokens, segment
from policyqa.ingest.documents import load_document, normalise

REAL_WORDS = sorted({w for s in corpus_sentences() for w in s.split()})

_word = st.one_of(
    st.sampled_from(REAL_WORDS),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=10),  # any unicode
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=25, max_size=600),  # long words, URL-like runs
    st.text("中国人工智能安全峰会是的😀🚀é\u0301ß", min_size=1, max_size=400),  # no spaces, many tokens each
    st.sampled_from(["Mr.", "e.g.", "U.S.", "3.5", "“quoted”", "(a)", "§ 4.2", "—", "...", "https://x.org/a?b=c"]),
)
_sep = st.sampled_from([" "] * 6 + [". ", "? ", "! ", "\n", "\n\n", "\n\n\n", "  ", "\t", ".\n", "; ", " \n "])
texts = st.lists(st.tuples(_word, _sep), max_size=300).map(lambda pairs: "".join(w + s for w, s in pairs))
chunk_settings = st.builds(ChunkSettings, max_tokens=st.integers(20, 200), overlap_segments=st.integers(0, 3),
                           segment_max_tokens=st.integers(5, 120))


def check_segments(text, segs, cs, counter, limit):
    prev_end = 0
    for s in segs:
        assert text[s.start:s.end] == s.text
        assert s.text and s.text == s.text.strip()
        assert s.start >= prev_end  # in order, never overlapping
        prev_end = s.end
        assert s.n_tokens == count_tokens([s.text])[0]
        assert s.n_tokens <= cs.segment_max_tokens, (s.n_tokens, s.text[:80])
        assert counter([s.text])[0] <= limit, s.text[:80]
    # Nothing is lost: every non-space character lies in some segment.
    covered = set()
    for s in segs:
        covered.update(range(s.start, s.end))
    missing = [i for i, c in enumerate(text) if not c.isspace() and i not in covered]
    assert not missing, repr(text[missing[0]:missing[0] + 40])


def check_chunks(doc, segs, chunks, cs, counter, limit):
    text = doc.text
    if not segs:
        assert chunks == []
        return
    assert chunks[0].first_segment == 0
    assert chunks[-1].last_segment == len(segs) - 1
    for c in chunks:
        assert c.doc_id == doc.doc_id
        assert text[c.start:c.end] == c.text
        assert 0 <= c.first_segment <= c.last_segment < len(segs)
        # Made of whole segments.
        assert (c.start, c.end) == (segs[c.first_segment].start, segs[c.last_segment].end)
        assert c.n_tokens == count_tokens([c.text])[0]
        if c.first_segment == c.last_segment:
            assert c.n_tokens <= cs.segment_max_tokens
        else:
            assert c.n_tokens <= cs.max_tokens, (c.n_tokens, c.first_segment, c.last_segment)
        assert counter([c.text])[0] <= limit
        assert c.page == doc.page_at(c.start)
    for a, b in zip(chunks, chunks[1:]):
        # Each chunk advances at both ends and shares at most overlap_segments with the previous one.
        assert b.first_segment > a.first_segment and b.last_segment > a.last_segment
        assert b.first_segment <= a.last_segment + 1  # no segment skipped
        assert a.last_segment - b.first_segment + 1 <= cs.overlap_segments


def doc_of(text: str, page_starts: tuple[int, ...] = ()) -> Document:
    return Document(doc_id="d.txt", path="/d.txt", kind="txt", text=text, meta=DocumentMeta(title="d"),
                    content_hash="0", page_starts=page_starts)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=texts, cs=chunk_settings, normalised=st.booleans(), small_model_limit=st.booleans())
def test_chunk_offsets_and_token_limits_hold_for_any_text(embedder, raw, cs, normalised, small_model_limit):
    counter = embedder.count_wordpieces
    limit = 48 if small_model_limit else embedder.token_limit
    text = normalise(raw) if normalised else raw
    segs = segment(text, cs, counter, limit)
    check_segments(text, segs, cs, counter, limit)
    pages = tuple(sorted({0, len(text) // 3, len(text) // 2}))
    doc = doc_of(text, pages)
    chunks = chunk(doc, segs, cs, counter, limit)
    check_chunks(doc, segs, chunks, cs, counter, limit)


@pytest.mark.parametrize("name, text", [
    # Caught a bug: over-long "words" were cut every 2*limit characters, whatever their token count,
    # giving CJK segments of ~170 and emoji segments of ~480 tokens against a limit of 120.
    ("cjk", "中国是一个国家" * 300),
    ("emoji", "😀" * 1000),
    # Caught a bug: the line breaks between segments are tokens too; chunks of many short lines
    # reached 230 tokens against max_tokens 200.
    ("lines", "\n".join(f"Line {i} of a list" for i in range(80))),
    ("paragraphs", "\n\n".join(f"This is sentence number {i} here." for i in range(80))),
    ("unpunctuated", " ".join(random.Random(3).choice(REAL_WORDS) for _ in range(3000))),
])
def test_hard_texts_respect_the_limits(embedder, name, text):
    cs = ChunkSettings()
    segs = segment(text, cs, embedder.count_wordpieces, embedder.token_limit)
    check_segments(text, segs, cs, embedder.count_wordpieces, embedder.token_limit)
    doc = doc_of(text)
    check_chunks(doc, segs, chunk(doc, segs, cs, embedder.count_wordpieces, embedder.token_limit), cs,
                 embedder.count_wordpieces, embedder.token_limit)


def test_default_corpus_chunks_respect_the_limits_and_always_advance(embedder):
    # Caught a bug: when only the overlap segment fitted, a chunk repeated part of the previous
    # one (segments 274..274 after 271..274 in the executive order), a duplicate search hit.
    cs = ChunkSettings()
    doc = load_document(DEFAULT_CORPUS / "us-eo-14110-safe-secure-trustworthy-ai.md", DEFAULT_CORPUS)
    segs = segment(doc.text, cs, embedder.count_wordpieces, embedder.token_limit)
    chunks = chunk(doc, segs, cs, embedder.count_wordpieces, embedder.token_limit)
    check_segments(doc.text, segs, cs, embedder.count_wordpieces, embedder.token_limit)
    check_chunks(doc, segs, chunks, cs, embedder.count_wordpieces, embedder.token_limit)
    assert len(segs) > 500 and len(chunks) > 100


def test_a_text_that_crashes_the_sentence_splitter_is_kept_whole(embedder):
    # Caught by the property test: pysbd raises ValueError on "0\x1f0." (a control character in a
    # numbered list); one such file would have stopped the whole build.
    text = '"London" "London" "London" "London" 0\x1f0. '
    cs = ChunkSettings(max_tokens=20, overlap_segments=0, segment_max_tokens=5)
    segs = segment(text, cs, embedder.count_wordpieces, embedder.token_limit)
    check_segments(text, segs, cs, embedder.count_wordpieces, embedder.token_limit)


def test_sentences_are_split_and_pages_assigned():
    text = "Delegations from 28 countries attended. Mr. Smith spoke first.\nA new line starts here.\n\nPage two."
    segs = segment(text)
    assert [s.text for s in segs] == ["Delegations from 28 countries attended.", "Mr. Smith spoke first.",
                                      "A new line starts here.", "Page two."]
    doc = doc_of(text, (0, text.index("Page two.")))
    assert [s.n_tokens for s in segs] == [9, 6, 6, 3]
    chunks = chunk(doc, segs, ChunkSettings(max_tokens=15, overlap_segments=1))
    assert [(c.first_segment, c.last_segment, c.n_tokens, c.page) for c in chunks] == [(0, 1, 15, 1), (1, 3, 15, 1)]
    chunks = chunk(doc, segs, ChunkSettings(max_tokens=14, overlap_segments=1))
    assert [(c.first_segment, c.last_segment, c.n_tokens) for c in chunks] == [(0, 0, 9), (1, 2, 12), (2, 3, 9)]
    chunks = chunk(doc, segs, ChunkSettings(max_tokens=6, overlap_segments=0))
    assert [(c.first_segment, c.last_segment, c.page) for c in chunks] == [(0, 0, 1), (1, 1, 1), (2, 2, 1), (3, 3, 2)]


def test_soft_wrapped_lines_join_into_one_sentence():
    wrapped = ("The order directs agencies to develop standards for the safe development of\n"
               "artificial intelligence systems across the government.")
    assert [s.text for s in segment(wrapped)] == [wrapped]


def test_empty_text_gives_no_segments_or_chunks():
    assert segment("") == []
    assert segment(" \n\n \t") == []
    assert chunk(doc_of(""), []) == []
