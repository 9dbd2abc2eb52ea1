"""The web chat (`policyqa serve`): a thin Gradio shell over LiveIndex, uploads and render.

Gradio is imported here and nowhere else. Every handler catches its own errors and shows them
as a message (in the chat, or in the upload result); a traceback only ever reaches the server's
stderr.
"""

from __future__ import annotations

import html
import ipaddress
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before gradio is imported: otherwise it checks its version and sends analytics to outside hosts.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from . import render  # noqa: E402
from ..config import Settings  # noqa: E402
from ..errors import IndexBusyError, PolicyQAError  # noqa: E402
from .live_index import LiveIndex  # noqa: E402
from ..sanitize import check_date, printable  # noqa: E402
from ..schema import Answer  # noqa: E402
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
    """One question and what came back: an answer with its rendering, or an error message."""

    question: str
    answer: Answer | None
    view: render.AnswerView | None
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
        return Turn(question, answer, view)
    except Exception as exc:
        return Turn(question, None, None, error=_readable(exc))


def compare_sources(live: LiveIndex, turns: list[Turn], doc_ids: list[str] | None = None, date_from: str = "",
                    date_to: str = "") -> str:
    """The "Sources compared" view (render.coverage_html) for the last answered question: its
    effective query (a follow-up already resolved) asked of every relevant document in turn."""
    last = next((t for t in reversed(turns) if t.answer is not None), None)
    if last is None or last.answer is None:
        return '<div class="pqa-compare pqa-empty">Ask a question first.</div>'
    try:
        filters = _filters(doc_ids, date_from, date_to)
        with live.use() as retriever:
            answer = retriever.ask(last.answer.effective_query, coverage=True, **filters)
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
        if t.answer is None:
            continue
        said = " ".join(s.text for s in t.answer.sentences) if t.answer.found else "Not found."
        out += [{"role": "user", "content": t.question}, {"role": "assistant", "content": said}]
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


def messages(turns: list[Turn], waiting: str | None = None) -> list[dict[str, str]]:
    out = []
    for t in turns:
        out.append({"role": "user", "content": render.md_escape(t.question)})
        if t.view is not None:
            out.append({"role": "assistant", "content": t.view.chat})
        else:
            out.append({"role": "assistant", "content": f"⚠ {render.md_escape(t.error or 'no answer')}"})
    if waiting is not None:
        out += [{"role": "user", "content": render.md_escape(waiting)},
                {"role": "assistant", "content": "*Searching the articles…*"}]
    return out


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

def build_app(live: LiveIndex, policy: UploadPolicy = UploadPolicy(), *,
              uploads: bool = True) -> Any:  # a gradio.Blocks; gradio is imported only when it is built
    import gradio as gr
    from gradio.utils import get_upload_folder

    def on_ask(question: str, turns: list[Turn], doc_ids: list[str], date_from: str, date_to: str,
               literal: bool = False):  # type: ignore[no-untyped-def]
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        yield "", messages(turns, waiting=question), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        turn = ask(live, question, turns, doc_ids, date_from, date_to, literal=literal)
        turns = turns + [turn]
        yield ("", messages(turns), turns) + _panels(turn)

    def on_reask(query: str, turns: list[Turn], doc_ids: list[str], date_from: str,
                 date_to: str):  # type: ignore[no-untyped-def]
        yield from on_ask(query, turns, doc_ids, date_from, date_to, literal=True)

    def _panels(turn: Turn) -> tuple[Any, Any, Any]:
        if turn.view is None or turn.answer is None:  # an error: the last answer's panels stay
            return gr.skip(), gr.skip(), gr.skip()
        return turn.view.sources, gr.update(value=turn.answer.effective_query), turn.view.markdown

    def on_select(turns: list[Turn], evt: gr.SelectData):  # type: ignore[no-untyped-def]
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(index, int) or not 0 <= index // 2 < len(turns):
            return gr.skip(), gr.skip(), gr.skip()
        return _panels(turns[index // 2])

    # Gradio finds the event-data parameter by its annotation; a string annotation (from
    # `from __future__ import annotations`) would not resolve to the class inside this function.
    on_select.__annotations__["evt"] = gr.SelectData

    def on_clear():  # type: ignore[no-untyped-def]
        return [], [], "", gr.update(value=""), ""

    def on_upload(payload: Any):  # type: ignore[no-untyped-def]
        try:
            outcomes = add_files(live, payload, policy, get_upload_folder())
        except Exception as exc:
            return f"✗ {render.md_escape(_readable(exc))}", None, render.status_markdown(live.status())
        if any(not o.ok for o in outcomes):
            gr.Warning("Some files were refused; the reasons are listed under the upload box.", duration=8)
        return upload_markdown(outcomes), None, render.status_markdown(live.status())

    def on_tick(seen: int):  # type: ignore[no-untyped-def]
        status = live.status()
        docs = gr.update(choices=list(status.index.documents)) if status.builds != seen else gr.skip()
        return render.status_markdown(status), docs, status.builds

    with gr.Blocks(title="policyqa", analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as demo:
        turns = gr.State([])
        seen_builds = gr.State(-1)
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

        asked = [question, turns, doc_filter, date_from, date_to]
        reasked = [effective, turns, doc_filter, date_from, date_to]
        # Answering is CPU-bound on a small machine: a few at a time keeps every answer moving.
        answering: dict[str, Any] = dict(outputs=[question, chat, turns, sources, effective, md_box],
                                         concurrency_limit=4, concurrency_id="answer", show_progress="hidden")
        question.submit(on_ask, asked, api_name="chat", **answering)
        ask_btn.click(on_ask, asked, api_visibility="private", **answering)
        reask_btn.click(on_reask, reasked, api_name="reask", **answering)
        effective.submit(on_reask, reasked, api_visibility="private", **answering)
        chat.select(on_select, [turns], [sources, effective, md_box], api_visibility="private")
        compare_btn.click(lambda t, d, f, to: compare_sources(live, t, d, f, to), [turns, doc_filter, date_from, date_to],
                          [compare_html], api_visibility="private", concurrency_limit=4, concurrency_id="answer")
        for clear in (clear_btn.click, chat.clear):
            clear(on_clear, None, [chat, turns, sources, effective, md_box], api_visibility="private")
        if uploads:
            files.upload(on_upload, [files], [upload_md, files, status_md], preprocess=False,
                         api_name="add_articles", concurrency_limit=1, concurrency_id="upload")
        ticking: dict[str, Any] = dict(inputs=[seen_builds], outputs=[status_md, doc_filter, seen_builds],
                                       show_progress="hidden", api_visibility="private")
        gr.Timer(1.5).tick(on_tick, concurrency_limit=None, **ticking)
        demo.load(on_tick, **ticking)

        def index_status() -> dict:
            """Index status for scripts and tests (gradio_client: api_name="/index_status")."""
            return _status_dict(live)

        gr.api(index_status, api_name="index_status")
    return demo


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


def serve(settings: Settings, options: ServeOptions) -> None:
    """Build or refresh the index, then serve the chat until interrupted."""
    if not is_loopback(options.host) and options.auth is None and not options.allow_no_auth:
        raise PolicyQAError(f"binding to {options.host} lets anyone on the network read and add articles; "
                            f"pass --auth USER:PASSWORD (or set ${ENV_AUTH}), or --no-auth to accept that")
    from ..embedding import Embedder

    embedder = Embedder(settings.model_path)
    uploads = prepare_index(settings, embedder)
    live = LiveIndex(settings.index_dir, settings.corpus_dir, settings=settings, embedder=embedder)
    demo = build_app(live, options.upload, uploads=uploads)
    demo.queue(default_concurrency_limit=4)
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
