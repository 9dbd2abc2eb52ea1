"""Hostile input (issue 10): every test makes the bad thing itself (real files, FIFOs, sockets,
symlink loops, undecodable names, YAML bombs, a full tmpfs, damaged index files) and checks
that policyqa neither crashes, hangs nor quietly misleads."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_DOCS
from policyqa import (DocumentError, IndexCorruptError, IndexMissingError, PolicyQAError, Retriever, build_index,
                      cli, load_document)
from policyqa.store import files as store
from policyqa.ingest.documents import iter_corpus_files, read_file
from policyqa.errors import IndexWriteError, QueryError

QUESTIONS = ["How many countries attended the AI Safety Summit?", "How much is tuition in the Netherlands?",
             "Which river flows through ten countries?"]


@contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``."""
    def boom(*_):  # type: ignore[no-untyped-def]
        raise TimeoutError(f"took more than {seconds} s (hung?)")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def answers(index_dir: Path, embedder) -> list[tuple]:
    r = Retriever.open(index_dir, embedder=embedder)
    try:
        return [tuple((h.doc_id, h.start, h.end) for h in r.search(q, k=3)) for q in QUESTIONS]
    finally:
        r.close()


@pytest.fixture(scope="module")
def clean(tmp_path_factory, embedder):
    """A clean build of the small corpus and its answers, to compare damaged-then-repaired ones with."""
    root = tmp_path_factory.mktemp("clean") / "corpus"
    root.mkdir()
    for name, text in SMALL_DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    index_dir = root.parent / "index"
    build_index(root, index_dir, embedder=embedder)
    return root, index_dir, answers(index_dir, embedder)


# ---- 1. one bad file never stops a build ------------------------------------------------

BILLION_LAUGHS = """---
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
title: *h
---

The laughing document has one sentence of body text.
"""


def make_hostile_files(root: Path) -> dict[str, str]:
    """Bad files beside good ones; returns {name fragment: reason fragment} for the refused ones."""
    (root / "loop").symlink_to(".", target_is_directory=True)  # a folder symlink loop
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    (root / "self.md").symlink_to("self.md")  # a file symlink loop
    fd = os.open(bytes(root) + b"/bad\xffname.md", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"# Undecodable name\n\nThis file's name is not UTF-8.\n")
    os.close(fd)
    (root / "new\nline.md").write_text("# Newline\n\nA name with a newline.\n", encoding="utf-8")
    (root / "esc\x1b[2Jname.txt").write_text("Escape\n\nA name with an escape sequence.\n", encoding="utf-8")
    (root / "surrogate.md").write_text('---\ntitle: "Bad \\ud800 title"\nauthor: "\\udfff"\n---\n\n'
                                       "The surrogate document talks about Bletchley.\n", encoding="utf-8")
    (root / "laughs.md").write_text(BILLION_LAUGHS, encoding="utf-8")
    (root / "types.md").write_text("---\ntitle: [Part one, Part two]\nauthor: {name: X, role: Y}\n"
                                   "date: 2023-11-03\npublisher: 42\nsource: [[nested]]\n---\n\n"
                                   "The typed document mentions the Danube.\n", encoding="utf-8")
    (root / "numdate.md").write_text("---\ntitle: 2024\ndate: 2021\n---\n\nA numeric title and date.\n",
                                     encoding="utf-8")
    return {"bad\\xffname.md": "not valid UTF-8", "new\\x0aline.md": "control characters",
            "esc\\x1b[2Jname.txt": "control characters", "self.md": "cannot read file",
            "loop": "loop", "up": "loop"}


def test_hostile_files_are_reported_and_the_rest_is_indexed(small_corpus, tmp_path, embedder, capsys):
    bad = make_hostile_files(small_corpus)
    index_dir = tmp_path / "index"
    with deadline(240):
        report = build_index(small_corpus, index_dir, embedder=embedder)
    assert report.wrote
    failed = {f.path.rsplit("/", 1)[-1]: f.reason for f in report.failed}
    for name, reason in bad.items():
        assert name in failed and reason in failed[name], (name, failed)
    for f in report.failed:  # what is reported can be printed and stored
        assert "\n" not in f.path and "\x1b" not in f.path
        f.path.encode("utf-8")
    assert set(report.added) == {"summit.md", "fees.txt", "rivers.md", "surrogate.md", "laughs.md", "types.md",
                                 "numdate.md"}
    r = Retriever.open(index_dir, embedder=embedder)
    meta = r.document("surrogate.md").meta
    assert meta.title == "Bad \ufffd title" and meta.author == "\ufffd"
    laughs = r.document("laughs.md")
    assert len(laughs.meta.title) <= 300 and "lol" not in laughs.meta.title  # the alias was not expanded
    typed = r.document("types.md").meta
    assert typed.title == "Part one; Part two" and typed.author is None and typed.source is None
    assert typed.date == "2023-11-03" and typed.published == "2023-11-03" and typed.publisher == "42"
    assert r.document("numdate.md").meta.title == "2024" and r.document("numdate.md").meta.published == "2021"
    assert r.search("Bletchley surrogate document", k=1)[0].doc_id == "surrogate.md"

    # The command prints every refused name escaped, on its own line.
    assert cli.main(["index", str(small_corpus), "--index", str(index_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "bad\\xffname.md" in out and "new\\x0aline.md" in out
    assert out.splitlines()[-1].startswith("index unchanged:")


def test_billion_laughs_front_matter_is_read_at_once(tmp_path):
    path = tmp_path / "laughs.md"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    assert len(BILLION_LAUGHS) < 600
    started = time.perf_counter()
    doc = load_document(path, tmp_path)
    assert time.perf_counter() - started < 2
    assert doc.text == "The laughing document has one sentence of body text."


# ---- 2. no special file is read ---------------------------------------------------------

def test_fifos_devices_and_sockets_are_refused_before_open(small_corpus, tmp_path, embedder):
    os.mkfifo(small_corpus / "pipe.txt")
    os.mkfifo(tmp_path / "outside-pipe")
    (small_corpus / "via-link.md").symlink_to(tmp_path / "outside-pipe")
    (small_corpus / "zero.txt").symlink_to("/dev/zero")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(small_corpus / "sock.md"))
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# Elsewhere\n\nA file outside the corpus folder.\n", encoding="utf-8")
    (small_corpus / "out.md").symlink_to(outside)
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "x.md").write_text("# X\n\nOutside folder file.\n", encoding="utf-8")
    (small_corpus / "outdir").symlink_to(tmp_path / "outdir", target_is_directory=True)
    try:
        for name, reason in (("pipe.txt", "a FIFO"), ("via-link.md", "a FIFO"), ("zero.txt", "a character device"),
                             ("sock.md", "a socket")):
            with deadline(10), pytest.raises(DocumentError, match=reason):
                read_file(small_corpus / name, small_corpus)
        with pytest.raises(DocumentError, match="outside the corpus folder"):
            read_file(small_corpus / "out.md", small_corpus)
        with deadline(240):
            report = build_index(small_corpus, tmp_path / "index", embedder=embedder)
        failed = {Path(f.path).name: f.reason for f in report.failed}
        assert set(failed) == {"pipe.txt", "via-link.md", "zero.txt", "sock.md", "out.md", "outdir"}
        assert "outside the corpus folder" in failed["outdir"] and "--follow-symlinks" in failed["out.md"]
        assert set(report.added) == set(SMALL_DOCS)
        # Opted in, symlinks leading outside are followed; special files are still refused.
        from policyqa import Settings

        with deadline(240):
            report = build_index(small_corpus, tmp_path / "index", embedder=embedder,
                                 settings=Settings(follow_symlinks=True))
        assert set(report.added) == {"out.md", "outdir/x.md"}
        assert {Path(f.path).name for f in report.failed} == {"pipe.txt", "via-link.md", "zero.txt", "sock.md"}
    finally:
        sock.close()


def test_a_fifo_swapped_in_after_the_check_does_not_hang(tmp_path, monkeypatch):
    # TOCTOU: stat says "plain file", then a FIFO is what gets opened. O_NONBLOCK + fstat refuse it.
    import policyqa.ingest.documents as documents

    plain = tmp_path / "plain.txt"
    plain.write_text("Plain.", encoding="utf-8")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(documents.os, "stat", lambda p, *a, **k: real_stat(plain) if str(p) == str(fifo)
                        else real_stat(p, *a, **k))
    with deadline(10), pytest.raises(DocumentError, match="not a regular file"):
        read_file(fifo, tmp_path)


def test_the_size_limit_applies_to_what_is_read(tmp_path, monkeypatch):
    # A file that grows after its size was checked: at most limit + 1 bytes are read.
    import policyqa.ingest.documents as documents

    path = tmp_path / "grows.txt"
    path.write_bytes(b"word " * 600_000)  # 3 MB
    real_stat = os.stat

    class Small:
        def __init__(self, st):  # type: ignore[no-untyped-def]
            self.st_mode, self.st_size = st.st_mode, 10

    monkeypatch.setattr(documents.os, "stat", lambda p, *a, **k: Small(real_stat(p, *a, **k)))
    reads = []
    real_read = os.read
    monkeypatch.setattr(documents.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(DocumentError, match="too large"):
        read_file(path, tmp_path, max_file_mb=1)
    assert sum(reads) <= 1024 * 1024 + 1


# ---- 3. cost linear in the input ------------------------------------------------------

def _sentences(n_chars: int) -> list[str]:
    rng = np.random.default_rng(0)
    words = ("the policy summit agreed that artificial intelligence Dr. Smith said in 2023 about 28 "
             "countries U.S. officials e.g. export controls").split()
    out, size = [], 0
    while size < n_chars:
        s = " ".join(rng.choice(words, rng.integers(8, 25))).capitalize() + "."
        out.append(s)
        size += len(s) + 1
    return out


def test_a_one_line_file_costs_what_an_ordinary_file_costs(tmp_path):
    from policyqa.ingest.chunking import chunk, segment

    sents = _sentences(300_000)
    files = {"ordinary.txt": "\n\n".join(" ".join(sents[i:i + 6]) for i in range(0, len(sents), 6)),
             "oneline.txt": " ".join(sents), "nospaces.txt": "x" * 300_000}
    seconds = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        started = time.perf_counter()
        with deadline(120):
            doc = load_document(tmp_path / name, tmp_path)
            segs = segment(doc.text)
            chunks = chunk(doc, segs)
        seconds[name] = time.perf_counter() - started
        assert chunks and all(doc.text[c.start:c.end] == c.text for c in chunks)
    # Before: the one-line file took minutes (pysbd over one 300 KB "line").
    assert seconds["oneline.txt"] <= 3 * seconds["ordinary.txt"] + 1, seconds
    assert seconds["nospaces.txt"] <= 3 * seconds["ordinary.txt"] + 1, seconds


def test_long_lines_are_split_as_pysbd_splits_them():
    from policyqa.ingest.chunking import _PYSBD_WINDOW, _pysbd_bounds, _sentence_bounds

    line = " ".join(_sentences(6 * _PYSBD_WINDOW))
    assert len(line) > 3 * _PYSBD_WINDOW
    assert _sentence_bounds(line) == _pysbd_bounds(line)


# ---- 4. a full disk is an error, not a crash -------------------------------------------

def _enospc(*_args, **_kwargs):  # type: ignore[no-untyped-def]
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_keeps_the_previous_index(small_corpus, tmp_path, embedder, monkeypatch, capsys):
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir, embedder=embedder)
    current = (index_dir / "CURRENT").read_text()
    before = answers(index_dir, embedder)
    (small_corpus / "new.md").write_text("# New\n\nThe new article is about the Rhine.\n", encoding="utf-8")
    # Simulated (a tmpfs is used in the next test): the vectors' writer fails with ENOSPC.
    monkeypatch.setattr(store, "_save_npy", _enospc)
    with pytest.raises(IndexWriteError, match="the disk is full.*previous index stays in use"):
        build_index(small_corpus, index_dir, embedder=embedder)
    assert (index_dir / "CURRENT").read_text() == current
    assert not list(index_dir.glob("*.partial")) and answers(index_dir, embedder) == before
    assert cli.main(["index", str(small_corpus), "--index", str(index_dir), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "disk is full" in err[0]
    # A half-written generation from a crash is removed by the next build.
    monkeypatch.undo()
    (index_dir / "gen-20000101-000000-deadbeef.partial").mkdir()
    (index_dir / "gen-20000101-000000-deadbeef.partial" / "chunks.npy").write_bytes(b"half")
    report = build_index(small_corpus, index_dir, embedder=embedder)
    assert report.wrote and report.added == ("new.md",) and not list(index_dir.glob("*.partial"))


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_really_full_disk(small_corpus, tmp_path, embedder):
    mnt = tmp_path / "tmpfs"
    if not _mount_tmpfs(mnt, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the ENOSPC test above simulates it")
    try:
        index_dir = mnt / "index"
        build_index(small_corpus, index_dir, embedder=embedder)
        before = answers(index_dir, embedder)
        current = (index_dir / "CURRENT").read_text()
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * max(0, free - 16 * 1024))
        (small_corpus / "new.md").write_text("# New\n\n" + "The new article is about the Rhine. " * 400,
                                             encoding="utf-8")
        with pytest.raises(IndexWriteError, match="disk is full"):
            build_index(small_corpus, index_dir, embedder=embedder)
        assert (index_dir / "CURRENT").read_text() == current and not list(index_dir.glob("*.partial"))
        assert answers(index_dir, embedder) == before
        (mnt / "filler").unlink()
        assert build_index(small_corpus, index_dir, embedder=embedder).added == ("new.md",)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_vectors_are_never_written_through_a_memory_map(tmp_path, monkeypatch):
    real = np.lib.format.open_memmap

    def read_only(*a, **k):  # type: ignore[no-untyped-def]
        assert k.get("mode", "r+") == "r", "a memory map opened for writing"
        return real(*a, **k)

    src = tmp_path / "src.npy"
    np.save(src, np.random.default_rng(0).random((70_000, 4), dtype=np.float32))
    monkeypatch.setattr(np.lib.format, "open_memmap", read_only)
    mapped = np.load(src, mmap_mode="r")
    store._save_npy(tmp_path / "out.npy", mapped, np.float16, 4)
    assert np.array_equal(np.load(tmp_path / "out.npy"), np.asarray(mapped, dtype=np.float16))


def test_live_index_reports_a_full_disk_and_keeps_answering(small_corpus, tmp_path, embedder, monkeypatch):
    from policyqa.web.live_index import LiveIndex
    from policyqa.web.render import status_markdown

    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir, embedder=embedder)
    live = LiveIndex(index_dir, small_corpus, embedder=embedder)
    (small_corpus / "new.md").write_text("# New\n\nThe new article is about the Rhine.\n", encoding="utf-8")
    monkeypatch.setattr(store, "_save_npy", _enospc)
    live.reindex(["new.md"])
    assert live.wait_idle(240)
    status = live.status()
    assert status.last_error and "disk is full" in status.last_error
    assert "Indexing failed" in status_markdown(status) and "previous index" in status_markdown(status)
    with live.use() as r:
        assert r.search(QUESTIONS[0], k=1)[0].doc_id == "summit.md"
    live.close()


# ---- 5. a damaged index is detected and repaired -------------------------------------------

def _truncate(p: Path) -> None:
    if p.is_dir():
        for f in p.iterdir():
            f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 2)])
    else:
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)])


def _garbage(p: Path) -> None:
    targets = list(p.iterdir()) if p.is_dir() else [p]
    for f in targets:
        f.write_bytes(os.urandom(max(64, f.stat().st_size)))


def _delete(p: Path) -> None:
    shutil.rmtree(p) if p.is_dir() else p.unlink()


DAMAGE = {"truncate": _truncate, "garbage": _garbage, "delete": _delete}
FILES = ["chunks.npy", "segments.npy", "chunk_docs.npy", "dense.faiss", "meta.sqlite", "lexical", "part.json",
         "manifest.json"]


def _file(index_dir: Path, name: str) -> Path:
    """``name`` in the current commit (its manifest) or in its one part (everything else)."""
    gen = store.read_current(index_dir)
    if name == store.MANIFEST:
        return gen
    (part,) = store.read_manifest(gen)["parts"]
    return index_dir / part["name"] / name


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("how", list(DAMAGE))
def test_each_damaged_file_is_detected_and_repaired(clean, tmp_path, embedder, name, how):
    _, clean_index, expected = clean
    root = clean[0]
    index_dir = tmp_path / "index"
    shutil.copytree(clean_index, index_dir)
    DAMAGE[how](_file(index_dir, name) / name if name == store.MANIFEST else _file(index_dir, name))
    with pytest.raises((IndexCorruptError, IndexMissingError)):
        Retriever.open(index_dir, embedder=embedder)
    report = build_index(root, index_dir, embedder=embedder)
    assert report.wrote and report.note and "damaged" in report.note
    assert answers(index_dir, embedder) == expected


@pytest.mark.parametrize("damage", ["garbage", "directory", "missing-gen", "traversal", "wrong-shape",
                                    "list", "corrupt-sqlite-page"])
def test_current_and_manifest_damage(clean, tmp_path, embedder, damage):
    root, clean_index, expected = clean
    index_dir = tmp_path / "index"
    shutil.copytree(clean_index, index_dir)
    gen = store.read_current(index_dir)
    pointer = index_dir / "CURRENT"
    if damage == "garbage":
        pointer.write_bytes(b"\xff\xfe\x00garbage\x1b[2J")
    elif damage == "directory":
        pointer.unlink()
        pointer.mkdir()
    elif damage == "missing-gen":
        pointer.write_text("gen-20000101-000000-00000000\n")
    elif damage == "traversal":
        pointer.write_text("../../etc\n")
    elif damage == "wrong-shape":
        (gen / "manifest.json").write_text(json.dumps({"model": "x", "counts": [1, 2], "documents": 3}))
    elif damage == "list":
        (gen / "manifest.json").write_text("[1, 2, 3]")
    else:
        db = _file(index_dir, "meta.sqlite")
        data = bytearray(db.read_bytes())
        data[4096:8192] = os.urandom(4096)  # a page in the middle: the header still says SQLite
        db.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError) as info:
        r = Retriever.open(index_dir, embedder=embedder)
        for q in QUESTIONS:  # a damaged page may only show up when read
            r.search(q, k=3)
            r.ask(q)
    assert "policyqa index" in str(info.value) and "\x1b" not in str(info.value)
    report = build_index(root, index_dir, embedder=embedder)
    assert report.wrote and "damaged" in (report.note or "")
    assert answers(index_dir, embedder) == expected


def test_a_missing_lexical_index_is_never_a_silent_dense_only_search(clean, tmp_path, embedder, capsys):
    root, clean_index, expected = clean
    index_dir = tmp_path / "index"
    shutil.copytree(clean_index, index_dir)
    shutil.rmtree(_file(index_dir, "lexical"))
    assert cli.main(["search", "Danube", "--index", str(index_dir)]) == 1
    assert "lexical (BM25) index is missing" in capsys.readouterr().err
    assert cli.main(["index", str(root), "--index", str(index_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "index written" in out and "damaged" in out
    assert answers(index_dir, embedder) == expected


# ---- 6. questions and filters are validated the same everywhere ---------------------------

BAD_QUERIES = [
    (dict(question="x" * 100_000), "too long"),
    (dict(question="bad \udcff bytes"), "not valid text"),
    (dict(question="ok", date_from="notadate"), "not a date"),
    (dict(question="ok", date_to="2023-13-45"), "not a date"),
    (dict(question="ok", date_from="2023-02-30"), "not a date"),
    (dict(question="ok", k=-1), "0 or more"),
    (dict(question="ok", k="many"), "whole number"),
    (dict(question="ok", k=2.5), "whole number"),
]


@pytest.mark.parametrize("kwargs,message", BAD_QUERIES)
def test_bad_questions_and_filters_are_one_clear_error(clean, embedder, kwargs, message):
    r = Retriever.open(clean[1], embedder=embedder)
    for call in (r.search, r.ask):
        with pytest.raises(QueryError, match=message):
            call(**kwargs)
    assert issubclass(QueryError, PolicyQAError)


def test_a_huge_k_returns_every_passage_once(clean, embedder):
    r = Retriever.open(clean[1], embedder=embedder)
    hits = r.search("Danube", k=10**9)
    assert len(hits) == r.reader.files.n_chunks == len({h.chunk_id for h in hits})
    assert r.ask("Which river flows through ten countries?", k=10**9).found


def test_control_characters_in_a_question_are_ignored(clean, embedder):
    r = Retriever.open(clean[1], embedder=embedder)
    plain = r.search("Which river flows through ten countries?", k=3)
    # The characters go (ESC, NUL, BEL, CR/LF as a space); the printable rest of a sequence is text.
    assert r.search("Which river\x1b flows\x00 through\r\nten countries?\x07", k=3) == plain


def test_the_cli_and_the_chat_apply_the_same_rules(clean, embedder, capsys):
    from policyqa.web.app import ask
    from policyqa.web.live_index import LiveIndex

    index_dir = str(clean[1])
    for argv, message in ((["search", "x" * 100_000], "too long"), (["ask", "ok", "--from", "notadate"], "not a date"),
                          (["search", "ok", "--to", "2023-13-45"], "not a date"), (["ask", "ok", "--k", "-3"], "0 or more"),
                          (["search", "bad \udcff"], "not valid text")):
        assert cli.main(argv + ["--index", index_dir]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv[:2], err)
    live = LiveIndex(clean[1], clean[0], embedder=embedder)
    assert "too long" in ask(live, "x" * 100_000, []).error
    assert "not a date" in ask(live, "ok", [], None, "2023-13-45").error
    assert "not a date" in ask(live, "ok", [], None, "", "notadate").error
    live.close()


# ---- 7. nothing from a file drives the terminal or the page ---------------------------

def test_titles_and_names_cannot_drive_the_terminal(small_corpus, tmp_path, embedder, capsys):
    (small_corpus / "evil.md").write_text('---\ntitle: "Evil \\e[2J\\e]0;pwned\\a title\\nFAKE LINE"\n'
                                          'author: "\\e[31mred"\n---\n\nThe evil document mentions Zanzibar.\n',
                                          encoding="utf-8")
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir, embedder=embedder)
    for argv in (["search", "Zanzibar evil document"], ["ask", "What does the evil document mention?"],
                 ["status"]):
        assert cli.main(argv + ["--index", str(index_dir)]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\nFAKE LINE" not in out
    title = Retriever.open(index_dir, embedder=embedder).document("evil.md").title
    assert title == "Evil [2J]0;pwned title FAKE LINE"  # control characters dropped, one line


def test_upload_names_are_shown_as_escaped_text():
    from policyqa.web.app import upload_markdown
    from policyqa.ingest.uploads import UploadOutcome

    name = "a`\n```\n<img src=x onerror=alert(1)>\x1b[2J.md"
    text = upload_markdown((UploadOutcome(name, None, "refused: bad name"),))
    assert text.count("\n") == 0 and "```" not in text and "\x1b" not in text
    assert "<img" not in text.replace("\\<img", "")  # Markdown-escaped: shown as text, not a tag


# ---- 8. no invented metadata ------------------------------------------------------------

def test_a_date_guessed_from_the_text_is_recorded_but_never_filtered_on(small_corpus, tmp_path, embedder):
    body = "<p>" + "The summit in 2019 was a big event for everyone involved in policy. " * 20 + "</p>"
    (small_corpus / "nodate.html").write_text(
        f"<html><head><title>No date</title></head><body><article>{body}<p>Posted on 12 March 2020. "
        "Copyright 2021.</p></article></body></html>", encoding="utf-8")
    (small_corpus / "dated.html").write_text(
        '<html><head><title>Dated</title><meta property="article:published_time" content="2022-05-04"></head>'
        f"<body><article>{body}</article></body></html>", encoding="utf-8")
    (small_corpus / "plain.md").write_text("# Plain\n\nWritten in 1999 about the 2024 elections.\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir, embedder=embedder)
    r = Retriever.open(index_dir, embedder=embedder)
    nodate = r.document("nodate.html").meta
    assert nodate.published is None and (nodate.date is None or nodate.date_source == "text")
    dated = r.document("dated.html").meta
    assert dated.published == "2022-05-04" and dated.date_source == "html metadata"
    plain = r.document("plain.md").meta
    assert plain.date is None and plain.published is None and plain.date_source is None
    assert r.document("summit.md").meta.date_source == "front matter"
    found = {h.doc_id for h in r.search("summit event policy", k=20, date_from="2019", date_to="2021")}
    assert "nodate.html" not in found and "plain.md" not in found


def test_impossible_dates_in_front_matter_keep_only_their_real_parts(tmp_path):
    path = tmp_path / "odd.md"
    path.write_text('---\ndate: "2023-13-45"\n---\n\nText.\n', encoding="utf-8")
    assert load_document(path, tmp_path).meta.published == "2023"
    path.write_text('---\ndate: "2023-02-30"\n---\n\nText.\n', encoding="utf-8")
    assert load_document(path, tmp_path).meta.published == "2023-02"


# ---- 9. loose ends --------------------------------------------------------------------

def test_a_policyqaignore_that_is_not_utf8(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "keep.md").write_text("Keep.", encoding="utf-8")
    (root / "caf\u00e9.md").write_text("Skip.", encoding="utf-8")
    fd = os.open(bytes(root) + b"/raw\xff.md", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    (root / ".policyqaignore").write_bytes(b"# caf\xe9 (Latin-1)\nraw\xff.md\ncaf\xc3\xa9.md\n")
    assert [f.name for f, _ in iter_corpus_files([root])] == ["keep.md"]


def test_index_paths_that_are_files(tmp_path, small_corpus, capsys):
    not_a_dir = tmp_path / "index-file"
    not_a_dir.write_text("I am a file")
    with pytest.raises(IndexMissingError, match="not an index folder"):
        Retriever.open(not_a_dir)
    with pytest.raises(PolicyQAError, match="not an index folder"):
        build_index(small_corpus, not_a_dir)
    for argv in (["index", str(small_corpus)], ["search", "q"], ["status"]):
        assert cli.main(argv + ["--index", str(not_a_dir)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not an index folder" in err[0]


def test_every_error_is_a_policyqa_error():
    import policyqa.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) >= 9 and all(issubclass(c, errors.PolicyQAError) for c in classes)


def test_fault_script_in_reduced_form(tmp_path):
    """scripts/faults.py (kill -9 during builds, full disk, damaged files) on a tiny corpus."""
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.run([sys.executable, str(root / "scripts" / "faults.py"), "--kills", "1", "--quick",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAIL" not in proc.stdout and proc.stdout.count("PASS") >= 6, proc.stdout
