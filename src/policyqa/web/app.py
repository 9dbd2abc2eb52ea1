"""The web chat (`policyqa serve`): a thin Gradio shell over LiveIndex, uploads and render.

Gradio is imported here and nowhere else. Every handler catches its own errors and shows them
as a message (in the chat, or in the upload result); a traceback only ever reaches the server's
stderr.
"""

from __future__ import annotations

import html
import inspect
import ipaddress
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before gradio is imported: otherwise it checks its version and sends analytics to outside hosts.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# Gradio's queue keeps a record of the last 10,000 events for its monitoring page (off here) and,
# after every event, summarises them all with pandas: 11% of the server's time under
# scripts/load_chat.py after a few thousand answers, and growing with every answer up to 10,000.
# One record, and a summary practically never recomputed, keep that cost flat (read by
# gradio.queueing.Queue when demo.queue() creates it; an operator's own setting wins).
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))

from . import render  # noqa: E402
from ..config import Settings  # noqa: E402
from ..errors import IndexBusyError, PolicyQAError  # noqa: E402
from .live_index import LiveIndex  # noqa: E402
from ..sanitize import check_date, printable  # noqa: E402
from ..ingest.uploads import UploadOutcome, UploadPolicy, save_uploads  # noqa: E402

ENV_AUTH = "POLICYQA_AUTH"

# Questions the shipped corpus answers: the first screen offers them.
# One per kind of thing it holds: summits, US-China talks, export controls, figures, who said what.
EXAMPLES = [
    "How many countries attended the AI Safety Summit?",
    "What did Biden and Xi agree about AI and nuclear weapons in Lima?",
    "What does the AI diffusion rule do to exports of advanced chips?",
    "What tariff rate did the US set on Chinese semiconductors in 2024?",
    "What did Sam Altman propose to the Senate about licensing AI models?",
]

# Answers run this many at a time (the rest wait in Gradio's queue, first come first served).
# Measured with scripts/load_chat.py (README, "Web chat under load"): 1 slot leaves the CPU idle
# while an answer's request and reply are handled; 4 or 8 answered no more a second and put
# more torch calls on the two cores at once.
ANSWER_SLOTS = 2
# Status polls: rare while nothing changes (the status only changes when someone adds articles),
# quick while a re-index runs so that its progress and its end show promptly.
IDLE_POLL_S = 30.0
BUSY_POLL_S = 2.0
# Seconds between the queue's position messages to waiting clients; Gradio's default ("auto")
# sends every waiting client a message whenever any answer finishes.
QUEUE_STATUS_S = 10.0
PENDING = "*Searching the articles…*"
# How often Gradio's queue looks for work to start and for progress to report (see _calm_queue).
# 5 ms against Gradio's 1 ms: as many answers a second or more under load (load_chat, 20 users,
# interleaved runs), a third less CPU with no one connected.
QUEUE_POLL_S = 0.005
PROGRESS_POLL_S = 0.5

CSS = """
#pqa-sources .pqa-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin-bottom: 10px; }
#pqa-sources .pqa-title { font-weight: 600; }
#pqa-sources .pqa-n { color: var(--color-accent); margin-right: 4px; }
#pqa-sources .pqa-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 6px; }
#pqa-sources .pqa-passage { margin: 0; padding-left: 8px; border-left: 3px solid var(--border-color-primary);
  font-size: 0.92em; max-height: 16em; overflow-y: auto; }
#pqa-sources mark { background: #ffe58a; color: #000; padding: 0 1px; }
#pqa-sources .pqa-note { font-style: italic; }
#pqa-compare table { width: 100%; font-size: 0.9em; border-collapse: collapse; }
#pqa-compare td, #pqa-compare th { border-bottom: 1px solid var(--border-color-primary); padding: 4px;
  vertical-align: top; text-align: left; }
#pqa-compare .pqa-meta { font-size: 0.85em; opacity: 0.8; }
#pqa-compare .pqa-silent-row { opacity: 0.6; }
#pqa-compare .pqa-differ { color: #b00020; }
"""


@dataclass(frozen=True)
class Turn:
    """One question and what came back, as the few strings the page and follow-ups need.

    Not the Answer itself: its passages and citations are tens of KB a turn, and a session's
    state lives as long as its page is open.
    """

    question: str
    view: render.AnswerView | None  # None for an error
    effective: str = ""  # the query actually searched
    said: str = ""  # the answer as plain quoted text, the conversation's history for follow-ups
    error: str | None = None


# ---- handlers (plain functions of the LiveIndex, so they are testable without a browser) ----

def ask(live: LiveIndex, question: str, turns: list[Turn], doc_ids: list[str] | None = None,
        date_from: str = "", date_to: str = "", *, literal: bool = False) -> Turn:
    """Answer ``question`` as a follow-up of ``turns`` (or, ``literal``, exactly as written)."""
    try:
        filters = _filters(doc_ids, date_from, date_to)
        with live.use() as retriever:  # one generation for the answer and its rendering
            answer = retriever.ask(question, history=None if literal else _history(turns), **filters)
            view = render.view(answer, doc_text=lambda d: _doc_text(retriever, d))
        said = " ".join(s.text for s in answer.sentences) if answer.found else "Not found."
        return Turn(question, view, answer.effective_query, said)
    except Exception as exc:
        return Turn(question, None, error=_readable(exc))


def compare_sources(live: LiveIndex, turns: list[Turn], doc_ids: list[str] | None = None, date_from: str = "",
                    date_to: str = "") -> str:
    """The "Sources compared" view (render.coverage_html) for the last answered question: its
    effective query (a follow-up already resolved) asked of every relevant document in turn."""
    last = next((t for t in reversed(turns or []) if isinstance(t, Turn) and t.view is not None and t.effective),
                None)
    if last is None:
        return '<div class="pqa-compare pqa-empty">Ask a question first.</div>'
    try:
        filters = _filters(doc_ids, date_from, date_to)
        with live.use() as retriever:
            answer = retriever.ask(last.effective, coverage=True, **filters)
        return render.coverage_html(answer.coverage)
    except Exception as exc:
        return f'<div class="pqa-compare pqa-error">{html.escape(_readable(exc))}</div>'


def add_files(live: LiveIndex, payload: Any, policy: UploadPolicy, upload_dir: str) -> tuple[UploadOutcome, ...]:
    """Save uploaded files (Gradio FileData dicts) into the corpus and start indexing them."""
    items = payload if isinstance(payload, list) else [payload] if payload else []
    files: list[tuple[str, str]] = []
    refused: list[UploadOutcome] = []
    root = Path(upload_dir).resolve()
    for item in items:
        data = item if isinstance(item, dict) else getattr(item, "__dict__", {})
        path, name = data.get("path") or "", data.get("orig_name") or Path(data.get("path") or "").name
        # Gradio already refuses paths outside its upload folder; checked again because a path
        # from a client that is copied into the corpus would be a way to read any file.
        if not path or not Path(path).resolve().is_relative_to(root):
            refused.append(UploadOutcome(name, None, "refused: not a file uploaded to this server"))
            continue
        files.append((path, name))
    saved = save_uploads(files, live.corpus_dir, policy) if files else ()
    new = [o.saved_as for o in saved if o.ok and o.saved_as]
    if new:
        live.reindex(new)
    return tuple(refused) + saved


def _filters(doc_ids: list[str] | None, date_from: str, date_to: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if doc_ids:
        out["doc_ids"] = list(doc_ids)
    for key, value in (("date_from", date_from), ("date_to", date_to)):
        # The library's own rule (a real calendar date), so the chat, the CLI and Python agree.
        checked = check_date(value if isinstance(value, str) else None, "published " + key[5:])
        if checked:
            out[key] = checked
    return out


def _history(turns: list[Turn]) -> list[dict[str, str]]:
    """The conversation as {"role", "content"} dicts, with the answers as plain quoted text."""
    out = []
    for t in turns:
        if t.view is None:
            continue
        out += [{"role": "user", "content": t.question}, {"role": "assistant", "content": t.said}]
    return out


def _doc_text(retriever: Any, doc_id: str) -> str | None:
    try:
        return retriever.document(doc_id).text
    except KeyError:
        return None


def _readable(exc: BaseException) -> str:
    if isinstance(exc, PolicyQAError):  # written for users; anything else is a bug to log
        return str(exc)
    traceback.print_exc(file=sys.stderr)
    return f"something went wrong ({exc.__class__.__name__}); the details are in the server log"


def chat_message(role: str, markdown: str) -> dict[str, Any]:
    """One chat message in the form gr.Chatbot's postprocess gives the page (a test holds the two
    equal), so the answer event sends it as it is instead of re-processing the conversation."""
    return {"role": role, "metadata": None, "content": [{"text": inspect.cleandoc(markdown), "type": "text"}],
            "options": None}


def turn_messages(turn: Turn) -> list[dict[str, Any]]:
    """The turn's two chat messages: the question, then the answer or the error."""
    said = turn.view.chat if turn.view is not None else f"⚠ {render.md_escape(turn.error or 'no answer')}"
    return [chat_message("user", render.md_escape(turn.question)), chat_message("assistant", said)]


def messages(turns: list[Turn]) -> list[dict[str, Any]]:
    return [m for t in turns for m in turn_messages(t)]


def upload_markdown(outcomes: tuple[UploadOutcome, ...]) -> str:
    if not outcomes:
        return ""
    lines = []
    for o in outcomes:
        mark = "✓" if o.ok else "✗"
        tail = "; indexing in the background" if o.ok else ""
        # The name is the client's: shown as escaped text (control characters as \xNN), never
        # inside a code span, which a newline or a backtick in the name could break out of.
        lines.append(f"- {mark} **{render.md_escape(printable(o.name))}**: {render.md_escape(o.message)}{tail}")
    return "\n".join(lines)


# ---- the page -------------------------------------------------------------------------

def build_app(live: LiveIndex, policy: UploadPolicy = UploadPolicy(), *, uploads: bool = True,
              answer_slots: int = ANSWER_SLOTS) -> Any:  # a gradio.Blocks; gradio is imported only when it is built
    import gradio as gr
    from gradio.utils import get_upload_folder

    def on_ask(question: Any, turns: list[Turn], doc_ids: Any, date_from: Any, date_to: Any,
               literal: bool = False):  # type: ignore[no-untyped-def]
        # The inputs arrive as the client sent them (these events skip Gradio's preprocess): any
        # JSON. Text that is not text counts as empty; the library checks the rest.
        question = question.strip() if isinstance(question, str) else ""
        if not question:  # nothing asked (or a second Enter while the page waits): no reply
            return [], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        turn = ask(live, question, turns, doc_ids if isinstance(doc_ids, list) else None,
                   date_from if isinstance(date_from, str) else "", date_to if isinstance(date_to, str) else "",
                   literal=literal)
        return (turn_messages(turn), turns + [turn]) + _panels(turn)

    def on_reask(query: str, turns: list[Turn], doc_ids: list[str], date_from: str,
                 date_to: str):  # type: ignore[no-untyped-def]
        return on_ask(query, turns, doc_ids, date_from, date_to, literal=True)

    def _panels(turn: Turn) -> tuple[Any, Any, Any]:
        if turn.view is None:  # an error: the last answer's panels stay
            return gr.skip(), gr.skip(), gr.skip()
        # As their postprocess would give them (these events skip it): Code strips its text.
        return turn.view.sources, turn.effective, turn.view.markdown.strip()

    def on_select(turns: list[Turn], evt: gr.SelectData):  # type: ignore[no-untyped-def]
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(index, int) or not 0 <= index // 2 < len(turns):
            return gr.skip(), gr.skip(), gr.skip()
        return _panels(turns[index // 2])

    # Gradio finds the event-data parameter by its annotation; a string annotation (from
    # `from __future__ import annotations`) would not resolve to the class inside this function.
    on_select.__annotations__["evt"] = gr.SelectData

    def on_clear():  # type: ignore[no-untyped-def]
        return [], [], "", "", ""

    def on_upload(payload: Any):  # type: ignore[no-untyped-def]
        try:
            outcomes = add_files(live, payload, policy, get_upload_folder())
        except Exception as exc:
            return f"✗ {render.md_escape(_readable(exc))}", None, render.status_markdown(live.status()), gr.skip()
        if any(not o.ok for o in outcomes):
            gr.Warning("Some files were refused; the reasons are listed under the upload box.", duration=8)
        status = live.status()
        # This page polls quickly until the new index is in; other pages notice at their next poll.
        poll = gr.Timer(BUSY_POLL_S) if status.indexing else gr.skip()
        return upload_markdown(outcomes), None, render.status_markdown(status), poll

    def on_tick(seen: tuple[int, int]):  # type: ignore[no-untyped-def]
        status = live.status()
        version, builds = seen
        if status.version == version and not status.indexing:
            return gr.skip()  # nothing changed: nothing is sent
        changed = status.version != version
        docs = gr.update(choices=list(status.index.documents)) if status.builds != builds else gr.skip()
        poll = gr.Timer(BUSY_POLL_S if status.indexing else IDLE_POLL_S) if changed else gr.skip()
        return render.status_markdown(status), docs, (status.version, status.builds), poll

    with gr.Blocks(title="policyqa", analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as demo:
        turns = gr.State([])
        seen = gr.State((-1, -1))  # (status version, builds) this page last showed
        with gr.Row():
            gr.Markdown("## policyqa\nAnswers quoted word for word from the articles, each sentence "
                        "cited to its source. Click an answer to see its sources.")
            status_md = gr.Markdown(render.status_markdown(live.status()), elem_id="pqa-status")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(elem_id="pqa-chat", height=460, label="Chat", buttons=["copy"],
                                  latex_delimiters=[], feedback_options=None, sanitize_html=True)
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False,
                                          elem_id="pqa-question", scale=6, max_lines=4, autofocus=True)
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="pqa-ask")
                gr.Examples(EXAMPLES, inputs=[question], label="Example questions (from the default corpus)")
                with gr.Row():
                    effective = gr.Textbox(label="Searched for (edit it and press Re-ask to search exactly this)",
                                           elem_id="pqa-effective", scale=6, max_lines=2)
                    reask_btn = gr.Button("Re-ask", scale=1, elem_id="pqa-reask")
                with gr.Accordion("Copy the answer with its citations as Markdown", open=False):
                    md_box = gr.Code(language="markdown", elem_id="pqa-markdown", buttons=["copy"],
                                     show_line_numbers=False, wrap_lines=True, interactive=False)
                clear_btn = gr.Button("New conversation", size="sm")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML("<div class='pqa-sources pqa-empty'>Sources of the answer appear here, "
                                  "with each quoted sentence highlighted in its passage.</div>",
                                  elem_id="pqa-sources", max_height=700, js_on_load=None)
                with gr.Accordion("Sources compared", open=False, elem_id="pqa-compare-box"):
                    compare_btn = gr.Button("Compare the sources on the last question", size="sm",
                                            elem_id="pqa-compare-btn")
                    compare_html = gr.HTML("<div class='pqa-compare pqa-empty'>Every document that addresses "
                                           "the question, by date, and those that say nothing on it.</div>",
                                           elem_id="pqa-compare")
                with gr.Accordion("Filters", open=False):
                    doc_filter = gr.Dropdown(choices=list(live.status().index.documents), multiselect=True,
                                             label="Only these documents", elem_id="pqa-docs")
                    with gr.Row():
                        date_from = gr.Textbox(label="Published from", placeholder="YYYY[-MM[-DD]]",
                                               elem_id="pqa-from")
                        date_to = gr.Textbox(label="to", placeholder="YYYY[-MM[-DD]]", elem_id="pqa-to")
                with gr.Accordion("Add articles", open=True):
                    if uploads:
                        files = gr.File(file_count="multiple", elem_id="pqa-upload",
                                        label=f"txt, md, html or pdf; up to {policy.max_mb:g} MB each, "
                                              f"{policy.max_files} at a time")
                        upload_md = gr.Markdown(elem_id="pqa-upload-result")
                    else:
                        gr.Markdown("Uploads are off: the corpus folder does not exist.")
        # The question being answered and the new turn's two messages: the page moves the one into
        # `asked` as it shows "Searching…", and appends the other to the chat itself, so the
        # server never sends (nor processes) the conversation so far.
        asked = gr.Textbox(visible=False)
        reply = gr.JSON(visible=False)
        poll = gr.Timer(IDLE_POLL_S)

        answering: dict[str, Any] = dict(
            outputs=[reply, turns, sources, effective, md_box], show_progress="hidden",
            # The outputs are made in their wire form above (chat_message, _panels) and on_ask
            # takes the inputs as sent: Gradio's pre- and postprocess would only repeat that work,
            # with one thread hand-off per input and per output.
            preprocess=False, postprocess=False, concurrency_limit=answer_slots, concurrency_id="answer")
        for trigger, source, handler, name in ((question.submit, question, on_ask, "chat"),
                                               (ask_btn.click, question, on_ask, None),
                                               (reask_btn.click, effective, on_reask, "reask"),
                                               (effective.submit, effective, on_reask, None)):
            clears = [question] if source is question else []  # a re-ask leaves its query in place
            api: dict[str, Any] = dict(api_name=name) if name else dict(api_visibility="private")
            (trigger(None, [source, chat], clears + [asked, chat], js=_show_pending_js(clear=bool(clears)),
                     api_visibility="private")
             .then(handler, [asked, turns, doc_filter, date_from, date_to], **api, **answering)
             .then(None, [reply, chat], [chat, reply], js=SHOW_REPLY_JS, api_visibility="private"))
        chat.select(on_select, [turns], [sources, effective, md_box], api_visibility="private",
                    postprocess=False)
        compare_btn.click(lambda t, d, f, to: compare_sources(live, t, d, f, to), [turns, doc_filter, date_from, date_to],
                          [compare_html], api_visibility="private", concurrency_limit=answer_slots,
                          concurrency_id="answer")
        for clear in (clear_btn.click, chat.clear):
            clear(on_clear, None, [chat, turns, sources, effective, md_box], api_visibility="private")
        if uploads:
            # Its own queue of one: questions never wait behind an upload, nor an upload behind them.
            files.upload(on_upload, [files], [upload_md, files, status_md, poll], preprocess=False,
                         api_name="add_articles", concurrency_limit=1, concurrency_id="upload")
        # Outside the queue: a status poll is a few fields (LiveIndex.status) and usually sends nothing.
        ticking: dict[str, Any] = dict(inputs=[seen], outputs=[status_md, doc_filter, seen, poll], queue=False,
                                       show_progress="hidden", api_visibility="private")
        poll.tick(on_tick, **ticking)
        demo.load(on_tick, **ticking)

        def index_status() -> dict:
            """Index status for scripts and tests (gradio_client: api_name="/index_status")."""
            return _status_dict(live)

        gr.api(index_status, api_name="index_status")
    return demo


# The page's side of an answer (run in the browser; see `asked` and `reply` above).
_MD_ESCAPE_JS = r"""
const esc = (t) => t.split(/\s+/).filter(Boolean).join(" ").replace(/([\\`*_{}\[\]<>#|~&$])/g, "\\$1")
  .replace(/^([-+])(\s)/, "\\$1$2").replace(/^(\d+)([.)])(\s)/, "$1\\$2$3");
"""
_MESSAGE_JS = r"""
const msg = (role, text) => ({role, metadata: null, content: [{text, type: "text"}], options: null});
const text_of = (m) => Array.isArray(m.content) ? m.content.map((c) => c.text || "").join("") : String(m.content || "");
const pending = (m) => m && m.role === "assistant" && text_of(m) === PENDING;
"""


def _show_pending_js(*, clear: bool) -> str:
    """[question box cleared when ``clear``,] asked, chat <- question, chat: the question and a
    "Searching…" line appear at once. One question at a time per page: while one is waiting,
    another Enter leaves the box as it is and asks nothing."""
    kept, cleared = ("q, ", '"", ') if clear else ("", "")
    return ("(q, chat) => { const PENDING = " + json.dumps(PENDING) + ";" + _MD_ESCAPE_JS + _MESSAGE_JS + """
  const msgs = chat || [];
  const text = (q || "").trim();
  if (!text || pending(msgs[msgs.length - 1])) return [""" + kept + """"", msgs];
  return [""" + cleared + """text, [...msgs, msg("user", esc(text)), msg("assistant", PENDING)]];
}""")


# chat, reply <- reply, chat: the "Searching…" line (and its question) replaced by the turn the
# server made; appended at the end if it is gone (the conversation was cleared meanwhile).
SHOW_REPLY_JS = ("(reply, chat) => { const PENDING = " + json.dumps(PENDING) + ";" + _MESSAGE_JS + """
  const msgs = chat || [];
  if (!Array.isArray(reply) || reply.length === 0) return [msgs, []];
  for (let i = msgs.length - 1; i > 0; i--) {
    if (pending(msgs[i])) return [[...msgs.slice(0, i - 1), ...reply, ...msgs.slice(i + 1)], []];
  }
  return [[...msgs, ...reply], []];
}""")


def _status_dict(live: LiveIndex) -> dict[str, Any]:
    s = live.status()
    return {"documents": s.index.n_documents, "chunks": s.index.n_chunks, "built_at": s.index.built_at,
            "generation": s.index.generation, "indexing": s.indexing, "pending": list(s.pending),
            "builds": s.builds, "last_error": s.last_error,
            "failed": [f.path for f in s.last_report.failed] if s.last_report else []}


# ---- serving --------------------------------------------------------------------------

@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[str, str] | None = None
    allow_no_auth: bool = False  # bind beyond loopback without a password (explicit opt-in)
    upload: UploadPolicy = UploadPolicy()
    answer_slots: int = ANSWER_SLOTS  # answers computed at once


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``USER:PASS`` (from --auth or $POLICYQA_AUTH) -> (user, password)."""
    value = value if value is not None else os.environ.get(ENV_AUTH)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PolicyQAError(f"--auth / ${ENV_AUTH} must look like USER:PASSWORD")
    return user, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare_index(settings: Settings, embedder: Any) -> bool:
    """Bring the index in line with the corpus before serving; True when uploads can be allowed.

    Unchanged files cost one hash each, so this is cheap when the index is current, and a fresh
    clone needs nothing but `policyqa serve`.
    """
    from ..store import index_exists
    from ..store.indexing import build_index

    corpus, index = settings.corpus_dir, settings.index_dir
    has_index = index_exists(index)
    if not corpus.is_dir():
        if not has_index:
            raise PolicyQAError(f"no index in {index} and no corpus folder {corpus} to build one from; "
                                "pass --corpus DIR")
        print(f"policyqa: corpus folder {corpus} not found; serving the index in {index} as it is "
              "(uploads are off)", file=sys.stderr)
        return False
    print(f"policyqa: checking the index in {index} against {corpus} "
          f"({'updating' if has_index else 'first build; this takes a minute'})…", file=sys.stderr)
    try:
        report = build_index(corpus, index, settings=settings, embedder=embedder, progress=True)
    except IndexBusyError:
        if not has_index:
            raise
        print("policyqa: another build is running; serving the current index meanwhile", file=sys.stderr)
        return True
    print(f"policyqa: {'index written' if report.wrote else 'index up to date'}: {report.summary()}",
          file=sys.stderr)
    for f in report.failed:
        print(f"policyqa:   could not index {f.path}: {f.reason}", file=sys.stderr)
    return True


def _calm_queue(demo: Any) -> None:
    """Gradio's queue looks for work every 1 ms and for progress to report every 10 ms, busy or
    idle: 7.5% of a CPU with no one connected, on the two cores the answers need. Every
    QUEUE_POLL_S and PROGRESS_POLL_S instead (these handlers report no progress). Private
    attributes of gradio.queueing.Queue: with a Gradio that lacks them this changes nothing."""
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = QUEUE_POLL_S
    if queue is not None and hasattr(queue, "progress_update_sleep_when_free"):
        queue.progress_update_sleep_when_free = PROGRESS_POLL_S


def _no_matplotlib_probe() -> None:
    """Gradio wraps every event in ``import matplotlib`` (to switch its plotting backend). Where
    matplotlib is not installed that import fails only after searching every folder of sys.path,
    on every event: 3% of the server's time under scripts/load_chat.py. Recording it as absent
    (None in sys.modules, which Python answers with ModuleNotFoundError at once) changes nothing
    else: it is not installed."""
    import importlib.util

    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]


def serve(settings: Settings, options: ServeOptions) -> None:
    """Build or refresh the index, then serve the chat until interrupted."""
    if not is_loopback(options.host) and options.auth is None and not options.allow_no_auth:
        raise PolicyQAError(f"binding to {options.host} lets anyone on the network read and add articles; "
                            f"pass --auth USER:PASSWORD (or set ${ENV_AUTH}), or --no-auth to accept that")
    from ..embedding import Embedder

    embedder = Embedder(settings.model_path)
    uploads = prepare_index(settings, embedder)
    live = LiveIndex(settings.index_dir, settings.corpus_dir, settings=settings, embedder=embedder)
    demo = build_app(live, options.upload, uploads=uploads, answer_slots=options.answer_slots)
    demo.queue(default_concurrency_limit=options.answer_slots, status_update_rate=QUEUE_STATUS_S)
    _calm_queue(demo)
    _no_matplotlib_probe()
    try:
        demo.launch(server_name=options.host, server_port=options.port, auth=options.auth,
                    auth_message="policyqa: sign in" if options.auth else None,
                    max_file_size=options.upload.max_bytes, show_error=False, quiet=True, ssr_mode=False,
                    mcp_server=False, pwa=False, enable_monitoring=False, share=False, css=CSS,
                    footer_links=["api"], prevent_thread_lock=True)
    except OSError as exc:  # Gradio reports a busy port as OSError("Cannot find empty port ...")
        raise PolicyQAError(f"cannot serve on {options.host}:{options.port} ({exc}); "
                            "pass another --port") from None
    print(f"policyqa: serving on http://{options.host}:{options.port}/ (Ctrl+C stops)", file=sys.stderr)
    demo.block_thread()
