"""The web chat's library parts without a browser: upload checks, rendering, background
re-indexing with a hot swap, the handlers, and the `serve` command's refusals."""

from __future__ import annotations

import html
from contextlib import contextmanager
from pathlib import Path

import pytest

from policyqa import build_index
from policyqa.web.render import md_escape, number_sources, status_markdown, view
from policyqa.schema import Answer, AnswerSentence, Citation, Figure, Hit
from policyqa.ingest.uploads import UploadPolicy, UploadRefused, clean_filename, save_uploads

LAKE = """---
title: "The Lake Varnholm Treaty"
date: "2031-06-14"
---

The Lake Varnholm treaty was signed by 14 nations in 2031 at a ceremony on the lake's northern shore.
A joint commission based in the town of Ostravik oversees the treaty.
"""


def tree(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


# ---- file names -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "..\\..\\boot.ini.txt", "a/b.md", "/etc/passwd.txt",
                                  "..", "notes\x00.md", ""])
def test_names_with_paths_or_control_characters_are_refused(name):
    with pytest.raises(UploadRefused):
        clean_filename(name)


@pytest.mark.parametrize("name", ["setup.exe", "report.pdf.exe", "README", "script.sh", "page.xml"])
def test_other_types_are_refused_naming_the_accepted_ones(name):
    with pytest.raises(UploadRefused, match=r"not an accepted type \(accepted: \.txt, \.md"):
        clean_filename(name)


@pytest.mark.parametrize("name, safe", [
    ("My Report (final).PDF", "My-Report-final.pdf"),
    (".hidden.md", "hidden.md"),
    ("--rf.txt", "rf.txt"),
    ("Zürich notes.md", "Zürich-notes.md"),
    ("---.html", "upload.html"),
    ("a" * 300 + ".txt", "a" * 80 + ".txt"),
    ("trailing dots....txt", "trailing-dots.txt"),
])
def test_names_are_reduced_to_one_safe_readable_file_name(name, safe):
    assert clean_filename(name) == safe


# ---- saving -----------------------------------------------------------------------------

@pytest.fixture()
def place(tmp_path):
    """A corpus folder inside an outer folder, so writes anywhere nearby would be seen."""
    corpus = tmp_path / "outer" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "existing.md").write_text("# Existing\n\nAn existing article about rivers.\n", encoding="utf-8")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    return corpus, incoming


def upload(incoming: Path, name: str, data: bytes) -> Path:
    path = incoming / f"f{len(list(incoming.iterdir()))}"
    path.write_bytes(data)
    return path


def test_the_three_refusals_of_the_issue_write_nothing_anywhere(place, tmp_path):
    corpus, incoming = place
    big = incoming / "big"
    with open(big, "wb") as fh:  # sparse: 200 MB long, no 200 MB on disk
        fh.truncate(200 * 1024 * 1024)
    before = tree(tmp_path / "outer")
    outcomes = save_uploads([(upload(incoming, "p", b"root:x:0:0\n"), "../../etc/passwd.txt"),
                             (big, "big.pdf"),
                             (upload(incoming, "e", b"MZ\x90\x00"), "tool.exe")], corpus)
    assert [o.ok for o in outcomes] == [False, False, False]
    assert "folder path" in outcomes[0].message
    assert "200.0 MB is over the 20 MB limit" in outcomes[1].message
    assert ".exe is not an accepted type" in outcomes[2].message
    assert all(o.message.startswith("refused: ") for o in outcomes)
    assert tree(tmp_path / "outer") == before  # not even a temporary file left behind
    assert not (tmp_path / "etc").exists()


def test_a_good_file_is_saved_under_its_clean_name(place):
    corpus, incoming = place
    (o,) = save_uploads([(upload(incoming, "x", LAKE.encode()), "Lake Varnholm.md")], corpus)
    assert o.ok and o.saved_as == "Lake-Varnholm.md" and o.message == "saved as Lake-Varnholm.md"
    assert (corpus / "Lake-Varnholm.md").read_text(encoding="utf-8") == LAKE
    assert sorted(tree(corpus)) == ["Lake-Varnholm.md", "existing.md"]


def test_a_different_file_with_a_taken_name_is_renamed_never_overwritten(place):
    corpus, incoming = place
    (o,) = save_uploads([(upload(incoming, "x", LAKE.encode()), "existing.md")], corpus)
    assert o.saved_as == "existing-2.md" and "a different file already has that name" in o.message
    assert "existing article about rivers" in (corpus / "existing.md").read_text(encoding="utf-8")


def test_an_identical_file_is_refused_as_already_present(place):
    corpus, incoming = place
    same = (corpus / "existing.md").read_bytes()
    (o,) = save_uploads([(upload(incoming, "x", same), "copy.md")], corpus)
    assert not o.ok and "identical to existing.md" in o.message
    assert sorted(tree(corpus)) == ["existing.md"]


def test_unreadable_content_is_refused_with_the_readers_reason(place):
    corpus, incoming = place
    outcomes = save_uploads([(upload(incoming, "a", b"\x00\x01\x02binary" * 50), "data.txt"),
                             (upload(incoming, "b", b"not a pdf at all"), "paper.pdf"),
                             (upload(incoming, "c", b""), "empty.md"),
                             (upload(incoming, "d", LAKE.encode()), "lake.md")], corpus)
    assert [o.ok for o in outcomes] == [False, False, False, True]
    assert "binary" in outcomes[0].message
    assert outcomes[2].message == "refused: the file is empty"
    assert sorted(tree(corpus)) == ["existing.md", "lake.md"]


def test_a_name_the_indexer_ignores_is_saved_under_one_it_reads(place):
    corpus, incoming = place
    (corpus / ".policyqaignore").write_text("SOURCES.md\n", encoding="utf-8")
    (o,) = save_uploads([(upload(incoming, "x", LAKE.encode()), "SOURCES.md")], corpus)
    assert o.saved_as == "SOURCES-2.md"


def test_limits_come_from_the_policy(place):
    corpus, incoming = place
    policy = UploadPolicy(max_bytes=100, max_files=2)
    files = [(upload(incoming, str(i), LAKE.encode()), f"l{i}.md") for i in range(3)]
    assert all("at most 2 files" in o.message for o in save_uploads(files, corpus, policy))
    (o,) = save_uploads(files[:1], corpus, policy)
    assert o.message == f"refused: {len(LAKE.encode()) / 1024:.1f} KB is over the 0.0976562 KB limit per file"
    assert sorted(tree(corpus)) == ["existing.md"]


# ---- rendering --------------------------------------------------------------------------

DOC = "Intro line.\nThe <b>summit</b> had 28 countries. It cost £2,600 per year. Unrelated tail."


def cite(start: int, end: int, chunk=(0, len(DOC)), chunk_id=7, **meta) -> Citation:
    fields = dict(title="Notes <on> the summit", source="https://example.org/a?x=1&y=2", date="2023-11-03",
                  author="A. Writer", publisher=None, page=None)
    fields.update(meta)
    return Citation(quote=DOC[start:end], doc_id="summit.md", path="/c/summit.md", start=start, end=end,
                    chunk_id=chunk_id, chunk_start=chunk[0], chunk_end=chunk[1], content_hash="h", **fields)


def hit(chunk_id=7, start=0, end=len(DOC), doc_id="summit.md", title="Notes <on> the summit") -> Hit:
    return Hit(doc_id=doc_id, title=title, source=None, date="2023-11-03", text=DOC[start:end], start=start,
               end=end, page=None, score=1.0, dense_score=0.5, lexical_score=1.0, rank=1, chunk_id=chunk_id)


def found_answer() -> Answer:
    a, b = DOC.index("The <b>"), DOC.index("It cost")
    s1 = AnswerSentence(text=DOC[a:b - 1], citation=cite(a, b - 1), score=0.9)
    s2 = AnswerSentence(text=DOC[b:DOC.index(" Unrelated")], citation=cite(b, DOC.index(" Unrelated")), score=0.8)
    fig = Figure(value="£2,600", number=2600.0, unit="£", measure="cost per year", subject=None, sentence=s2)
    return Answer(question="How many countries?", effective_query="How many countries attended the summit?",
                  found=True, sentences=(s1, s2), figures=(fig,), hits=(hit(),))


def test_sentences_from_one_passage_share_a_marker_and_are_highlighted_in_it():
    answer = found_answer()
    (src,) = number_sources(answer)
    assert src.number == 1 and len(src.quotes) == 2
    v = view(answer)
    assert v.chat.count("**\\[1\\]**") == 2
    marks = [html.unescape(m.split("</mark>")[0]) for m in v.sources.split("<mark>")[1:]]
    assert marks == [s.text for s in answer.sentences]
    # Document text is data: it is escaped, never interpreted.
    assert "<b>summit</b>" not in v.sources and "&lt;b&gt;summit&lt;/b&gt;" in v.sources
    assert "Notes &lt;on&gt; the summit" in v.sources
    assert 'href="https://example.org/a?x=1&amp;y=2"' in v.sources and 'rel="noopener noreferrer"' in v.sources
    assert "summit.md, characters" in v.sources and "A. Writer" in v.sources and "2023-11-03" in v.sources


def test_follow_up_query_figures_and_markdown_copy():
    v = view(found_answer())
    assert "*Searched for:* How many countries attended the summit?" in v.chat
    assert "| £2,600 | cost per year |  | \\[1\\] |" in v.chat
    assert v.markdown.startswith("**Q:** How many countries?")
    assert "> The \\<b\\>summit\\</b\\> had 28 countries. [1]" in v.markdown
    assert "[1] “Notes \\<on\\> the summit”; A. Writer; 2023-11-03; summit.md, characters" in v.markdown


def test_passages_missing_from_hits_come_from_the_document_text():
    answer = found_answer()
    answer = Answer(**{**answer.__dict__, "hits": ()})
    (src,) = number_sources(answer, doc_text=lambda doc_id: DOC)
    assert src.passage == DOC and len(src.quotes) == 2
    (src,) = number_sources(answer, doc_text=lambda doc_id: None)  # document gone: the quotes alone
    assert src.passage == " … ".join(s.text for s in answer.sentences)


def test_not_found_says_so_and_lists_related_passages():
    answer = Answer(question="What is the capital of Peru?", effective_query="What is the capital of Peru?",
                    found=False, sentences=(), related=(hit(), hit(chunk_id=8, title="Other")))
    v = view(answer)
    assert v.chat.startswith("**Not found** in the indexed articles")
    assert "- Notes \\<on\\> the summit (2023-11-03)" in v.chat
    assert v.sources.count('class="pqa-source"') == 2 and "<mark>" not in v.sources
    assert "**Not found**" in v.markdown and "- Other (2023-11-03); summit.md, characters 0–" in v.markdown


def test_markdown_escaping_keeps_text_literal():
    assert md_escape("# Title *bold* [x](y) <i>\n1. item") == "\\# Title \\*bold\\* \\[x\\](y) \\<i\\> 1. item"
    assert md_escape("1. first") == "1\\. first"


# ---- background re-index with a hot swap ------------------------------------------------

@pytest.fixture()
def live(small_corpus, tmp_path, embedder):
    from policyqa.web.live_index import LiveIndex

    build_index(small_corpus, tmp_path / "index", embedder=embedder)
    live = LiveIndex(tmp_path / "index", small_corpus, embedder=embedder)
    yield live
    live.wait_idle(120)
    live.close()


def test_new_files_are_indexed_in_the_background_and_swapped_in(live, small_corpus, tmp_path):
    question = "How many nations signed the Lake Varnholm treaty?"
    assert live.status().index.n_documents == 3
    src = tmp_path / "upload.bin"
    src.write_text(LAKE, encoding="utf-8")
    (o,) = save_uploads([(src, "lake.md")], small_corpus)
    with live.use() as old:
        live.reindex([o.saved_as])
        assert live.status().indexing and live.status().pending == ("lake.md",)
        assert live.wait_idle(180)
        # A question that started before the swap finishes on the generation it started with.
        assert "lake.md" not in old.doc_ids()
        assert old.search(question, k=1)[0].doc_id != "lake.md"
    with pytest.raises(Exception):
        old.search(question, k=1)  # closed once its last user left
    status = live.status()
    assert not status.indexing and status.builds == 1 and status.last_error is None
    assert status.index.n_documents == 4 and status.last_report.added == ("lake.md",)
    assert "✓ Added to the index: lake.md" in status_markdown(status)
    with live.use() as new:  # search, not ask: this is about the swap, not the answer engine
        best = new.search(question, k=1)[0]
    assert best.doc_id == "lake.md" and "14 nations" in best.text


def test_a_failed_build_keeps_the_old_index_and_says_why(live, small_corpus):
    live.corpus_dir = small_corpus / "missing"  # the folder vanished: the build fails
    live.reindex()
    assert live.wait_idle(120)
    status = live.status()
    assert status.last_error and "no such file or directory" in status.last_error
    assert status.index.n_documents == 3
    assert "⚠ Indexing failed" in status_markdown(status)


# ---- handlers -------------------------------------------------------------------------

class FakeRetriever:
    def __init__(self, result):
        self.result = result
        self.calls = []

    def ask(self, question, history=None, **filters):
        self.calls.append((question, history, filters))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result

    def document(self, doc_id):
        raise KeyError(doc_id)


class FakeLive:
    def __init__(self, result=None, corpus_dir=None):
        self.retriever = FakeRetriever(result)
        self.corpus_dir = corpus_dir
        self.reindexed = []

    @contextmanager
    def use(self):
        yield self.retriever

    def reindex(self, files=()):
        self.reindexed.append(list(files))


def test_ask_passes_history_and_filters_and_turns_errors_into_messages(capsys):
    from policyqa.web.app import Turn, ask, messages
    from policyqa.errors import IndexMissingError

    live = FakeLive(found_answer())
    first = ask(live, "How many countries?", [], ["summit.md"], "2023", "2024-01")
    assert first.error is None and first.view is not None
    second = ask(live, "and who signed?", [first])
    (_, h1, f1), (_, h2, f2) = live.retriever.calls
    assert h1 == [] and f1 == {"doc_ids": ["summit.md"], "date_from": "2023", "date_to": "2024-01"}
    assert h2[0] == {"role": "user", "content": "How many countries?"} and h2[1]["role"] == "assistant"
    assert "28 countries" in h2[1]["content"] and f2 == {}
    assert ask(live, "literal", [first], literal=True) and live.retriever.calls[-1][1] is None

    bad_date = ask(live, "q", [], None, "last year")
    assert bad_date.error and "YYYY, YYYY-MM or YYYY-MM-DD" in bad_date.error
    assert ask(FakeLive(IndexMissingError("no index in /x; run policyqa index")), "q", []).error == \
        "no index in /x; run policyqa index"
    boom = ask(FakeLive(RuntimeError("secret internals")), "q", [])
    assert boom.error.startswith("something went wrong (RuntimeError)") and "secret" not in boom.error
    assert "Traceback" in capsys.readouterr().err  # the details go to the server log only
    # An error turn is shown but is no history: the next question follows up the last answer.
    ask(live, "and when?", [first, boom])
    assert [m["content"] for m in live.retriever.calls[-1][1]][0] == "How many countries?"
    assert len(live.retriever.calls[-1][1]) == 2
    chat = messages([first, boom])
    assert [m["role"] for m in chat] == ["user", "assistant"] * 2
    assert chat[3]["content"][0]["text"].startswith("⚠ something went wrong")
    assert isinstance(second, Turn)


def test_a_turn_keeps_a_few_strings_not_the_answer():
    """A session's state lives as long as its page: it holds what the page and follow-ups need."""
    import dataclasses

    from policyqa.web.app import ask

    answer = found_answer()
    turn = ask(FakeLive(answer), "How many countries?", [])
    assert turn.effective == answer.effective_query
    assert turn.said == " ".join(s.text for s in answer.sentences)
    for f in dataclasses.fields(turn):
        value = getattr(turn, f.name)
        assert isinstance(value, str) or value is None or f.name == "view", f.name
    assert all(isinstance(getattr(turn.view, f.name), str) for f in dataclasses.fields(turn.view))
    not_found = Answer(question="q", effective_query="q", found=False, sentences=(), related=(hit(),))
    assert ask(FakeLive(not_found), "q", []).said == "Not found."


def test_chat_messages_are_in_the_form_the_chatbot_postprocess_gives():
    """The answer event skips Gradio's postprocess, so its messages must already be in that form."""
    import gradio as gr

    from policyqa.web.app import ask, turn_messages

    turn = ask(FakeLive(found_answer()), "  1. How *many* countries?\n", [])
    ours = turn_messages(turn)
    theirs = gr.Chatbot().postprocess([{"role": "user", "content": turn_messages(turn)[0]["content"][0]["text"]},
                                       {"role": "assistant", "content": turn.view.chat}]).model_dump()
    assert ours == theirs
    assert ours[0]["content"][0]["text"] == "1\\. How \\*many\\* countries?"


def test_add_files_accepts_only_files_from_the_upload_folder(tmp_path):
    from policyqa.web.app import add_files, upload_markdown

    corpus, uploads = tmp_path / "corpus", tmp_path / "gradio"
    corpus.mkdir()
    (uploads / "abc").mkdir(parents=True)
    (uploads / "abc" / "lake.md").write_text(LAKE, encoding="utf-8")
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nA private note that must not reach the corpus.\n", encoding="utf-8")
    live = FakeLive(corpus_dir=corpus)
    outcomes = add_files(live, [{"path": str(uploads / "abc" / "lake.md"), "orig_name": "lake.md"},
                                {"path": str(secret), "orig_name": "secret.md"},
                                {"path": str(uploads / "abc" / "../../secret.md"), "orig_name": "x.md"}],
                         UploadPolicy(), str(uploads))
    assert [o.ok for o in outcomes] == [False, False, True]
    assert sorted(tree(corpus)) == ["lake.md"] and live.reindexed == [["lake.md"]]
    text = upload_markdown(outcomes)
    assert "✓ **lake.md**: saved; indexing in the background" in text
    assert text.count("not a file uploaded to this server") == 2


def test_build_app_exposes_chat_upload_and_status_endpoints(live):
    from policyqa.web.app import build_app

    demo = build_app(live, answer_slots=3)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"chat", "reask", "add_articles", "index_status"} <= names
    fns = {f.api_name: f for f in demo.fns.values()}
    for name in ("chat", "reask"):  # answers: a queue of their own, N at a time, wire-form outputs
        assert fns[name].concurrency_limit == 3 and fns[name].concurrency_id == "answer"
        assert fns[name].preprocess is False and fns[name].postprocess is False
        assert not fns[name].types_generator
    assert fns["add_articles"].concurrency_id == "upload" and fns["add_articles"].concurrency_limit == 1
    ticks = [f for f in demo.fns.values() if f.name == "on_tick"]
    assert ticks and all(f.queue is False for f in ticks)  # status polls stay out of the answers' queue


def handler(demo, name):  # type: ignore[no-untyped-def]
    return next(f.fn for f in demo.fns.values() if f.api_name == name)


def test_the_answer_event_sends_only_the_new_turn_however_long_the_conversation(live):
    from policyqa.web.app import build_app

    chat = handler(build_app(live), "chat")
    turns: list = []
    for question in ["How many countries attended the summit?", "And did China sign?",
                     "How much does tuition cost in the Netherlands?"]:
        reply, turns, sources, effective, markdown = chat(question, turns, [], "", "")
        assert [m["role"] for m in reply] == ["user", "assistant"]  # this turn's two messages only
        assert reply[0]["content"][0]["text"] == question
    assert len(turns) == 3 and "Netherlands" in effective and "€2,314" in reply[1]["content"][0]["text"]
    assert "class=\"pqa-source\"" in sources and markdown.startswith("**Q:**") and not markdown.endswith("\n")
    assert "China" in turns[1].effective and "summit" in turns[1].effective.lower()  # the follow-up was resolved
    # nothing asked: no reply, nothing else touched
    reply, *rest = chat("   ", turns, [], "", "")
    assert reply == [] and all(isinstance(r, dict) and r.get("__type__") == "update" for r in rest)
    # The inputs come as any client sent them (no Gradio preprocess): not text is nothing asked,
    # and a filter of the wrong shape is the library's message, never a traceback.
    assert chat(123, turns, {"a": 1}, 5, None)[0] == []
    reply, turns2, *_ = chat("How many countries attended?", turns, [1, 2], ["2023"], {"x": 1})
    assert reply[1]["content"][0]["text"].startswith("⚠ document ids must be plain text") and len(turns2) == 4
    reply, *_ = chat("How many countries attended?", turns, {"summit.md": 1}, 2023, [])
    assert "28 countries" in reply[1]["content"][0]["text"]  # shapes that are no filter are no filter


def test_the_status_poll_is_cheap_and_sends_nothing_when_nothing_changed(live, small_corpus, monkeypatch):
    from policyqa.web.app import BUSY_POLL_S, IDLE_POLL_S, build_app
    from policyqa.query.retriever import Retriever

    demo = build_app(live)
    tick = next(f.fn for f in demo.fns.values() if f.name == "on_tick")
    status_md, docs, seen, poll = tick((-1, -1))  # a page that has shown nothing yet
    assert "3 documents" in status_md and docs["choices"] == ["fees.txt", "rivers.md", "summit.md"]
    assert poll.value == IDLE_POLL_S

    def no_scan(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a status poll read the document ids")
    monkeypatch.setattr(Retriever, "doc_ids", no_scan)
    monkeypatch.setattr(Retriever, "status", no_scan)
    unchanged = tick(seen)
    assert unchanged.get("__type__") == "update" and len(unchanged) == 1  # gr.skip(): nothing is sent
    monkeypatch.undo()

    import threading

    import policyqa.web.live_index as live_index

    gate, build = threading.Event(), live_index.build_index

    def held_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        gate.wait(120)  # the build runs while the page polls, however fast the machine
        return build(*args, **kwargs)
    monkeypatch.setattr(live_index, "build_index", held_build)
    (small_corpus / "lake.md").write_text(LAKE, encoding="utf-8")
    live.reindex(["lake.md"])
    status_md, docs, seen2, poll = tick(seen)
    assert "Indexing" in status_md and poll.value == BUSY_POLL_S  # polled quickly while it runs
    gate.set()
    assert live.wait_idle(180)
    status_md, docs, seen3, poll = tick(seen2)
    assert "4 documents" in status_md and "lake.md" in docs["choices"] and poll.value == IDLE_POLL_S
    assert tick(seen3).get("__type__") == "update"


# ---- the serve command ------------------------------------------------------------------

def test_serve_refuses_a_public_address_without_a_password(tmp_path, capsys, monkeypatch):
    from policyqa.cli import main

    monkeypatch.delenv("POLICYQA_AUTH", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "i"), "--corpus", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "lets anyone on the network" in err and "--auth USER:PASSWORD" in err and "Traceback" not in err
    assert main(["serve", "--auth", "nopassword", "--index", str(tmp_path / "i")]) == 1
    assert "USER:PASSWORD" in capsys.readouterr().err
    assert not (tmp_path / "i").exists()


def test_auth_and_loopback_parsing(monkeypatch):
    from policyqa.web.app import is_loopback, parse_auth
    from policyqa.errors import PolicyQAError

    monkeypatch.setenv("POLICYQA_AUTH", "ann:s3:cret")
    assert parse_auth(None) == ("ann", "s3:cret") and parse_auth("bob:pw") == ("bob", "pw")
    with pytest.raises(PolicyQAError):
        parse_auth(":pw")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_serve_builds_a_missing_index_and_refreshes_a_stale_one(small_corpus, tmp_path, embedder, capsys):
    from policyqa import Retriever, Settings
    from policyqa.web.app import prepare_index
    from policyqa.errors import PolicyQAError

    settings = Settings(index_dir=tmp_path / "index", corpus_dir=small_corpus)
    assert prepare_index(settings, embedder)  # a fresh clone: no index yet
    assert "first build" in capsys.readouterr().err
    (small_corpus / "lake.md").write_text(LAKE, encoding="utf-8")
    assert prepare_index(settings, embedder)  # stale: the new file is indexed before serving
    assert "index written: added 1" in capsys.readouterr().err
    assert "lake.md" in Retriever.open(tmp_path / "index", embedder=embedder).doc_ids()
    assert prepare_index(settings, embedder) and "index up to date" in capsys.readouterr().err
    # No corpus folder: serve the index as it is, with uploads off; neither: a clear error.
    assert not prepare_index(Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "nope"), embedder)
    with pytest.raises(PolicyQAError, match="no index in .* and no corpus folder"):
        prepare_index(Settings(index_dir=tmp_path / "none", corpus_dir=tmp_path / "nope"), embedder)


def test_pdf_pages_and_unknown_dates_are_shown_as_such():
    a = DOC.index("It cost")
    s = AnswerSentence(text=DOC[a:DOC.index(" Unrelated")],
                       citation=cite(a, DOC.index(" Unrelated"), page=3,
                                     date="unknown revision; fetched (c. 2026)", source="Printed report, p. 3"),
                       score=0.9)
    v = view(Answer(question="q", effective_query="q", found=True, sentences=(s,), hits=(hit(),)))
    assert " · p. 3 · " in v.sources and "date unknown" in v.sources
    assert "Date as recorded: unknown revision; fetched (c. 2026)" in v.sources
    assert "Source: <span" in v.sources and "<a " not in v.sources  # no link for a non-URL source
    assert "(date unknown)" in v.chat and "p. 3" in v.markdown


def test_a_long_passage_is_cut_to_the_context_around_its_quotes():
    from policyqa.web.render import CONTEXT, _passage_html

    text = "word " * 200 + "THE QUOTE." + " tail" * 200
    a = text.index("THE QUOTE.")
    out = _passage_html(text, 1000, ((1000 + a, 1000 + a + 10),))
    assert out.startswith("… word") and out.endswith("tail …")
    assert "<mark>THE QUOTE.</mark>" in out and len(out) < 2 * CONTEXT + 60
    assert _passage_html("short <b> text", 0, ((6, 9),)) == "short <mark>&lt;b&gt;</mark> text"


def test_sources_panel_shows_the_speaker_and_the_span_in_the_source_file():
    a, b = DOC.index("The <b>"), DOC.index("It cost")
    c = cite(a, b - 1, speaker="Jake <Sullivan>", source_start=1234, source_end=1302)
    answer = Answer(question="q", effective_query="q", found=True,
                    sentences=(AnswerSentence(text=c.quote, citation=c, score=0.9),), hits=(hit(),))
    v = view(answer)
    assert "Speaker: Jake &lt;Sullivan&gt;" in v.sources
    assert '<span class="pqa-source-chars">source chars 1234–1302</span>' in v.sources
    assert "speaker Jake \\<Sullivan\\>" in v.markdown and "source chars 1234–1302" in v.markdown
    from policyqa.plaintext import format_answer

    text = format_answer(answer)
    assert "Jake <Sullivan>, in Notes <on> the summit" in text and "source chars 1234-1302" in text
    # no speaker and no source span (a PDF or HTML citation): nothing extra is shown
    plain = view(found_answer())
    assert "Speaker:" not in plain.sources and "source chars" not in plain.sources


def test_the_queue_polls_calmly_and_an_absent_matplotlib_fails_at_once(live):
    import importlib.util
    import sys

    from policyqa.web.app import PROGRESS_POLL_S, QUEUE_POLL_S, _calm_queue, _no_matplotlib_probe, build_app

    demo = build_app(live).queue()
    _calm_queue(demo)
    assert demo._queue.sleep_when_free == QUEUE_POLL_S and QUEUE_POLL_S > 0.001
    assert demo._queue.progress_update_sleep_when_free == PROGRESS_POLL_S
    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed: nothing to record")
    try:
        _no_matplotlib_probe()
        assert sys.modules["matplotlib"] is None
        with pytest.raises(ImportError):
            import matplotlib  # noqa: F401
    finally:
        sys.modules.pop("matplotlib", None)
