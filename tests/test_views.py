"""Analyst views (issue 12): speakers with and without attribution, coverage across sources in
date order, figures and statements compared across sources, quote-card export. Real model, real
default corpus, real files."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from conftest import DEFAULT_CORPUS
from policyqa import Answer, Coverage, Retriever, Settings, build_index, cli, load_document
from policyqa.export import export, quote_cards
from policyqa.ingest.attribution import attribute_document, turn_speakers
from policyqa.ingest.chunking import segment
from policyqa.query.coverage import disagreements, order_by_date
from policyqa.schema import AnswerSentence, Citation, SourceView

READOUT = "us-wh-2023-11-15-readout-biden-xi-woodside.md"
HEARING = "tpp-2023-05-16-senate-judiciary-oversight-of-ai-altman-hearing.md"
DECLARATION = "How many countries have endorsed the Political Declaration on the responsible military use of AI?"


# ---- attribution switched off: the system before attribution ---------------------------------

def test_turn_speakers_keep_turns_and_drop_reported_speech():
    readout = load_document(DEFAULT_CORPUS / READOUT, DEFAULT_CORPUS)
    spans = [(s.start, s.end) for s in segment(readout.text)]
    with_attr, turns_only = attribute_document(readout, spans), turn_speakers(readout, spans)
    # A readout has no turns: without attribution nobody speaks; with it, "President Biden stressed ..." is Biden's.
    assert all(a.speaker is None and a.how == "none" for a in turns_only)
    assert any(a.how == "reported" and "Biden" in (a.speaker or "") for a in with_attr)
    hearing = load_document(DEFAULT_CORPUS / HEARING, DEFAULT_CORPUS)
    spans = [(s.start, s.end) for s in segment(hearing.text)]
    turns = turn_speakers(hearing, spans)
    # In a transcript every sentence of a turn is its turn's, exactly as the reader labelled it.
    assert [a.speaker for a in turns] == [hearing.speaker_at(s) for s, _ in spans]
    assert {a.how for a in turns} <= {"turn", "none"} and sum(a.how == "turn" for a in turns) > 100


def test_an_index_built_without_attribution_opens_and_cites_no_reported_speaker(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(DEFAULT_CORPUS / READOUT, corpus / READOUT)
    question = "What did President Biden stress about the Taiwan Strait?"
    speakers = {}
    for attribution in (True, False):
        index = tmp_path / f"index-{attribution}"
        build_index(corpus, index, settings=Settings(attribution=attribution), embedder=embedder)
        answer = Retriever.open(index, embedder=embedder).ask(question, threshold=0.0)
        speakers[attribution] = [(s.citation.speaker, s.citation.speaker_how) for s in answer.sentences]
        # A build with the other setting is not an "unchanged" index: it re-attributes every sentence.
        report = build_index(corpus, index, settings=Settings(attribution=not attribution), embedder=embedder)
        assert report.wrote
        build_index(corpus, index, settings=Settings(attribution=attribution), embedder=embedder)
    assert any(how == "reported" and "Biden" in (who or "") for who, how in speakers[True])
    assert all(who is None for who, _ in speakers[False])


# ---- coverage across sources --------------------------------------------------------------

@pytest.fixture(scope="module")
def declaration(default_retriever) -> Answer:
    return default_retriever.ask(DECLARATION, coverage=True)


def test_coverage_lists_addressing_and_silent_documents_in_date_order(declaration, default_retriever):
    cov = declaration.coverage
    assert isinstance(cov, Coverage)
    dated = [s.published for s in cov.sources if s.published]
    assert dated == sorted(dated)
    assert len(cov.addressing) >= 2 and cov.silent
    for s in cov.addressing:
        assert s.sentences and s.speaker == s.sentences[0].citation.speaker
        for a in s.sentences:  # every quoted sentence is the document's text at its offsets
            assert a.citation.doc_id == s.doc_id
            assert default_retriever.document(s.doc_id).text[a.citation.start:a.citation.end] == a.text
    for s in cov.silent:
        assert not s.sentences and s.passage is not None and s.passage.doc_id == s.doc_id
    # The 2023 documents say 30 and 31 nations, the 2024 ones 56 and "more than 50": each cell cited.
    counts = [c for c in cov.figures if len({cell.doc_id for cell in c.cells}) >= 2]
    assert counts and any(c.differs for c in counts)
    for comp in counts:
        for cell in comp.cells:
            fig = cell.figure
            assert default_retriever.document(cell.doc_id).text[fig.start:fig.end] == fig.value


def _sentence(doc_id: str, text: str) -> AnswerSentence:
    cite = Citation(quote=text, doc_id=doc_id, path=doc_id, title=doc_id, source=None, date=None, author=None,
                    publisher=None, page=None, start=0, end=len(text), chunk_id=0, chunk_start=0,
                    chunk_end=len(text), content_hash="0" * 64)
    return AnswerSentence(text=text, citation=cite, score=1.0)


def _view(doc_id: str, published: str | None, text: str) -> SourceView:
    return SourceView(doc_id=doc_id, title=doc_id, date=published, published=published, addresses=True,
                      sentences=(_sentence(doc_id, text),), speaker=None, confidence=0.9, passage=None)


def test_sources_differ_flags_opposite_polarity_about_one_subject_only():
    sullivan = _view("a.md", "2023-04-27", "We are protecting our foundational technologies with a small yard and "
                     "high fence.")
    xi = _view("b.md", "2024-11-16", "“Small yard, high fences” is not what a major country should pursue.")
    other = _view("c.md", "2024-01-01", "The tariff rate on solar cells will not change this year.")
    same_side = _view("d.md", "2024-08-29", "I laid out our approach, rooted in the concept of small yard, high "
                      "fence.")
    timeline = order_by_date([xi, other, same_side, sullivan])
    assert [s.doc_id for s in timeline] == ["a.md", "c.md", "d.md", "b.md"]
    flagged = disagreements(timeline)
    pairs = {(d.first.citation.doc_id, d.second.citation.doc_id) for d in flagged}
    # Sullivan against Xi, and Sullivan's Beijing words against Xi; never the unrelated tariff
    # sentence, never two sentences that agree.
    assert pairs == {("a.md", "b.md"), ("d.md", "b.md")}
    assert all("yard" in d.subject for d in flagged)
    # The same person in two documents is one voice, not two sources that differ.
    from dataclasses import replace

    def spoken_by(view: SourceView, who: str) -> SourceView:
        s = view.sentences[0]
        return replace(view, sentences=(replace(s, citation=replace(s.citation, speaker=who)),))

    same = disagreements(order_by_date([spoken_by(sullivan, "Jake Sullivan"),
                                        spoken_by(replace(xi, doc_id="e.md"), "Jake Sullivan")]))
    assert same == ()


# ---- export -----------------------------------------------------------------------------

def test_quote_cards_in_markdown_csv_and_json(declaration, default_retriever):
    cards = quote_cards(declaration)
    assert [c.n for c in cards] == list(range(1, len(cards) + 1))
    assert cards[0].role == "answer" and any(c.role == "source" for c in cards)
    assert len({(c.doc_id, c.start) for c in cards}) == len(cards)
    rows = list(csv.DictReader(io.StringIO(export(declaration, "csv"))))
    data = json.loads(export(declaration, "json"))
    assert len(rows) == len(data["cards"]) == len(cards)
    for row, card in zip(rows, data["cards"]):
        doc = default_retriever.document(row["doc_id"])
        # What a reader checks: the quote is the file's text at the span, and the hash is the file's.
        assert doc.text[int(row["start"]):int(row["end"])] == row["quote"] == card["quote"]
        assert row["content_hash"] == doc.content_hash == card["content_hash"]
        assert set(card) >= {"quote", "speaker", "title", "doc_id", "date", "page", "start", "end", "content_hash"}
    md = export(declaration, "markdown")
    assert md.startswith("## How many countries") and md.count("> ") >= len(cards)
    assert all(c.content_hash in md for c in cards)
    with pytest.raises(ValueError):
        export(declaration, "docx")


def test_cli_timeline_by_source_and_export(default_index, capsys):
    code = cli.main(["ask", DECLARATION, "--index", str(default_index), "--timeline"])
    out = capsys.readouterr().out
    assert code == 0 and "Timeline (" in out and "says nothing on it" in out
    assert "Compared across sources" in out and "SOURCES DIFFER" in out
    code = cli.main(["ask", DECLARATION, "--index", str(default_index), "--by-source", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["coverage"]["sources"] and data["coverage"]["figures"]
    code = cli.main(["ask", DECLARATION, "--index", str(default_index), "--export", "csv"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("question,n,role,quote,speaker")
    assert cli.main(["ask", DECLARATION, "--index", str(default_index)]) == 0
    assert "Timeline" not in capsys.readouterr().out  # coverage only when asked for: it costs a search per document


def test_sources_compared_html_escapes_and_shows_speakers_and_silence():
    from dataclasses import replace

    from policyqa.schema import Coverage
    from policyqa.web.render import coverage_html

    said = _view("a.md", "2023-11-01", "We <script>alert(1)</script> will not pause.")
    said = replace(said, sentences=(replace(said.sentences[0], citation=replace(said.sentences[0].citation,
                                                                                speaker="Kamala Harris")),))
    silent = replace(_view("b.md", None, "unused"), addresses=False, sentences=())
    out = coverage_html(Coverage(sources=order_by_date([silent, said])))
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "Kamala Harris" in out and "says nothing on it" in out
    assert out.index("2023-11-01") < out.index("undated")  # dated first, undated last
    assert "No documents" in coverage_html(None)
