"""The `policyqa` command: a thin shell over the library. Errors become one line and exit 1."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .config import ENV_CORPUS, ENV_INDEX, ENV_MODEL, Settings
from .errors import PolicyQAError
from .schema import IndexReport
from .sanitize import printable


def _print(text: str = "", file=None) -> None:  # type: ignore[no-untyped-def]
    """Print text from files (titles, names, passages) with control characters escaped, line by
    line: a title holding ESC sequences or a file name holding a newline cannot drive the terminal
    or fake an output line."""
    print("\n".join(printable(line) for line in str(text).split("\n")), file=file or sys.stdout)

DESCRIPTION = """\
policyqa answers questions over a folder of tech-policy articles (txt, md, html, pdf) with
sentences quoted verbatim from them, each cited to its document, page and character span.

Typical use:
  policyqa index corpus            build or refresh the index (only changed files are embedded)
  policyqa search "question"       the best passages, with their offsets
  policyqa ask "question"          an answer quoted from the sources, each sentence cited, or "not found"
  policyqa status                  what the index holds
  policyqa serve                   the web chat on http://127.0.0.1:7860/ (indexes the corpus first)

Environment: {index} (index folder, default ./index), {corpus} (default ./corpus),
{model} (a local sentence-transformers model folder instead of the bundled all-MiniLM-L6-v2).
""".format(index=ENV_INDEX, corpus=ENV_CORPUS, model=ENV_MODEL)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policyqa", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--index", type=Path, help=f"index folder (default: ${ENV_INDEX} or ./index)")
        sp.add_argument("--model", type=Path, help="local sentence-transformers model folder "
                        "(default: the bundled all-MiniLM-L6-v2)")

    def filters(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--doc", action="append", dest="doc_ids", metavar="DOC_ID",
                        help="only this document (repeatable)")
        sp.add_argument("--from", dest="date_from", metavar="DATE", help="published on or after (YYYY[-MM[-DD]])")
        sp.add_argument("--to", dest="date_to", metavar="DATE", help="published on or before (YYYY[-MM[-DD]])")
        sp.add_argument("--speaker", action="append", dest="speakers", metavar="NAME",
                        help="only passages spoken by NAME (case-insensitive part of the speaker, e.g. "
                        "'sullivan' or 'blumenthal'; repeatable)")

    sp = sub.add_parser("index", help="build or refresh the index from files and folders",
                        description="Bring the index in line with PATHs: new files are added, changed ones "
                        "re-embedded, missing ones removed; unchanged files cost nothing. Files that cannot be "
                        "read are listed with the reason; the rest is indexed. New and changed files go into one "
                        "new part of the index and the old versions are marked deleted, so a change costs what "
                        "the changed files cost; small parts are merged as they pile up. Every change is "
                        "committed atomically, so an interrupted build leaves the old index in use.")
    sp.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                    help=f"files or folders to index (default: ${ENV_CORPUS} or ./corpus)")
    common(sp)
    sp.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything "
                    "(needed after changing the model or chunk settings)")
    sp.add_argument("--optimize", action="store_true", help="also merge every part of the index into one, "
                    "dropping deleted rows (no re-embedding; searches then visit one part)")
    sp.add_argument("--watch", action="store_true", help="keep running: re-index within seconds whenever files "
                    "under PATHs appear, change or disappear (Ctrl-C stops)")
    sp.add_argument("--max-file-mb", type=float, help="skip files larger than this (default 20)")
    sp.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                    help="wait this long for another running build instead of refusing at once")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.add_argument("--follow-symlinks", action="store_true", default=None,
                    help="also index files and folders that symlinks lead to outside the corpus folder "
                    "(by default they are reported and skipped)")

    sp = sub.add_parser("search", help="print the best passages for a question",
                        description="Hybrid search (dense + BM25, fused) over the index.")
    sp.add_argument("question", help="the question, or keywords (quote it)")
    sp.add_argument("--k", type=int, default=5, help="how many passages (default 5)")
    filters(sp)
    sp.add_argument("--json", action="store_true", help="print JSON (one object per hit)")
    common(sp)

    sp = sub.add_parser("ask", help="answer a question with cited sentences quoted from the sources",
                        description="Answer with sentences quoted verbatim from the indexed documents, each "
                        "cited to its document, page and character span, plus a figures table for "
                        "questions about quantities. When no sentence is a credible answer it says "
                        "\"Not found in the corpus\" and lists the nearest passages instead.")
    sp.add_argument("question", help="the question (quote it)")
    sp.add_argument("--k", type=int, default=10, help="how many passages the sentences are chosen from (default 10)")
    filters(sp)
    sp.add_argument("--json", action="store_true", help="print the whole Answer as JSON")
    sp.add_argument("--by-source", action="store_true",
                    help="also list every relevant document: those that address the question, each with its "
                    "best sentence, date and speaker, and those that say nothing on it; figures that differ "
                    "between documents and statements of opposite polarity are flagged")
    sp.add_argument("--timeline", action="store_true",
                    help="like --by-source, as one list in date order (how a position developed)")
    sp.add_argument("--export", choices=["md", "markdown", "csv", "json"], metavar="FORMAT",
                    help="print the answer and its evidence as quote cards (quote, speaker, document, date, page, "
                    "character span, file hash) in FORMAT: md, csv or json; with --by-source/--timeline the "
                    "sources' sentences too")
    common(sp)

    sp = sub.add_parser("serve", help="the web chat on http://127.0.0.1:7860/",
                        description="Start the web chat. The index is first brought in line with the corpus "
                        "folder (built from scratch on a fresh clone, with progress on stderr). Articles "
                        "uploaded in the browser are saved into the corpus folder and indexed in the "
                        "background; the chat switches to the new index when it is ready.")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine "
                    "only; any other address needs --auth or --no-auth)")
    sp.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    sp.add_argument("--corpus", type=Path, help=f"corpus folder to index and to save uploads into "
                    f"(default: ${ENV_CORPUS} or ./corpus)")
    sp.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (default: $POLICYQA_AUTH; "
                    "prefer the variable: command lines are visible to other users)")
    sp.add_argument("--no-auth", action="store_true", help="allow a non-loopback --host without a password")
    sp.add_argument("--max-upload-mb", type=float, default=20.0, help="largest file accepted by upload "
                    "(default 20)")
    sp.add_argument("--answer-slots", type=int, default=None, metavar="N",
                    help="answers computed at once; more questions wait in a first-come queue (default: "
                    "the measured best for a small machine, see the README)")
    common(sp)

    sp = sub.add_parser("status", help="what the index holds and what built it",
                        description="Show the current index: its generation, when it was built, how many "
                        "documents, passages and sentences it holds, and the model that embedded them.")
    sp.add_argument("--json", action="store_true", help="print JSON")
    common(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings().with_(index_dir=getattr(args, "index", None), model_path=getattr(args, "model", None),
                                max_file_mb=getattr(args, "max_file_mb", None),
                                follow_symlinks=getattr(args, "follow_symlinks", None))
    try:
        return {"index": _index, "search": _search, "status": _status, "serve": _serve,
                "ask": _ask}[args.command](args, settings)
    except PolicyQAError as exc:
        print(f"policyqa: error: {printable(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("policyqa: interrupted; the previous index is unchanged", file=sys.stderr)
        return 130


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from .store.indexing import build_index

    if args.watch:
        from .store.watch import watch_and_index

        roots = [Path(p) for p in (args.paths or [settings.corpus_dir])]
        _print(f"watching {', '.join(printable(str(r)) for r in roots)} (Ctrl-C stops)")
        watch_and_index(roots, settings.index_dir, settings=settings,
                        on_report=lambda report: _print_report(report),
                        on_error=lambda exc: print(f"policyqa: {printable(str(exc))}", file=sys.stderr))
        return 0

    report = build_index(args.paths or None, settings.index_dir, settings=settings, rebuild=args.rebuild,
                         progress=not args.quiet, wait=args.wait, optimize=args.optimize)
    _print_report(report)
    return 0


def _print_report(report: IndexReport) -> None:
    for name, docs in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for doc_id in docs:
            _print(f"  {name:8} {doc_id}")
    for f in report.failed:
        kept = " (previous version kept)" if f.kept_previous else ""
        _print(f"  FAILED   {printable(f.path)}: {printable(f.reason)}{kept}")
    if report.note:
        _print(f"  note: {printable(report.note)}")
    if report.merged:
        _print("  parts merged")
    _print(("index unchanged: " if not report.wrote else "index written: ") + report.summary())


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from .query.retriever import Retriever

    retriever = Retriever.open(settings=settings)
    hits = retriever.search(args.question, k=args.k, doc_ids=args.doc_ids, date_from=args.date_from,
                            date_to=args.date_to, speakers=args.speakers)
    if args.json:
        for hit in hits:
            print(json.dumps(asdict(hit), ensure_ascii=False))
        return 0
    if not hits:
        print("no passages found")
    for hit in hits:
        page = f", p. {hit.page}" if hit.page else ""
        speaker = f" — {printable(hit.speaker)}" if hit.speaker else ""
        _print(f"[{hit.rank}] {printable(hit.title)} ({printable(hit.doc_id)}{page}, chars {hit.start}-{hit.end})"
               f"{speaker} score {hit.score:.4f}")
        _print("    " + hit.text.replace("\n", "\n    "))
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from .query.retriever import Retriever

    status = Retriever.open(settings=settings).status()
    if args.json:
        print(json.dumps(asdict(status), ensure_ascii=False, indent=1))
    else:
        _print(f"index {status.index_dir} ({status.generation}, built {status.built_at})")
        print(f"{status.n_documents} documents, {status.n_chunks} chunks, {status.n_segments} sentences; "
              f"model {status.model}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.uploads import UploadPolicy
    from .web.app import ANSWER_SLOTS, ServeOptions, parse_auth, serve

    slots = ANSWER_SLOTS if args.answer_slots is None else args.answer_slots
    if not 1 <= slots <= 64:
        raise PolicyQAError("--answer-slots must be a whole number from 1 to 64")
    options = ServeOptions(host=args.host, port=args.port, auth=parse_auth(args.auth),
                           allow_no_auth=args.no_auth, answer_slots=slots,
                           upload=UploadPolicy(max_bytes=int(args.max_upload_mb * 1024 * 1024)))
    serve(settings.with_(corpus_dir=args.corpus), options)
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from .query.retriever import Retriever

    coverage = args.by_source or args.timeline
    answer = Retriever.open(settings=settings).ask(args.question, k=args.k, doc_ids=args.doc_ids,
                                                   date_from=args.date_from, date_to=args.date_to,
                                                   speakers=args.speakers, coverage=coverage)
    if args.export:
        from .export import export

        # Machine-readable: printed as is (CSV and JSON quote text verbatim; Markdown escapes markup).
        sys.stdout.write(export(answer, args.export))
        return 0
    if args.json:
        print(json.dumps(asdict(answer), ensure_ascii=False, indent=1))
        return 0
    from .plaintext import format_answer, format_coverage

    _print(format_answer(answer))
    if answer.coverage is not None:
        _print("")
        _print(format_coverage(answer.coverage, timeline=args.timeline))
    return 0
