"""The web chat end to end: the real `policyqa serve` on 127.0.0.1, driven by Debian's headless
Chromium through Playwright (no browser download). Screenshots of each state go to
tests/artifacts/.

Skipped only when /usr/bin/chromium is missing; CI installs it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DEFAULT_DOCS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "corpus"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is missing (apt-get install chromium; CI installs it)")]

LAKE = """---
title: "The Lake Varnholm Treaty"
author: "Test Desk"
publisher: "Policyqa Test Gazette"
date: "2031-06-14"
source: "https://example.org/lake-varnholm-treaty"
---

# The Lake Varnholm Treaty

The Lake Varnholm treaty was signed by 14 nations in 2031 at a ceremony on the lake's northern shore.
It commits the signatories to share water-quality data every quarter and to ban new industrial outflows into the lake.
A joint commission based in the town of Ostravik oversees the treaty.
"""


@dataclass
class Server:
    url: str
    root: Path
    corpus: Path
    gradio_tmp: Path
    log: Path
    proc: subprocess.Popen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, index: Path, corpus: Path, *, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    gradio_tmp = root / "gradio-tmp"
    log = root / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "POLICYQA_AUTH"}
    env.update(GRADIO_TEMP_DIR=str(gradio_tmp), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", **(extra_env or {}))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "policyqa", "serve", "--port", str(port), "--index",
                                 str(index), "--corpus", str(corpus)], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=root)
    server = Server(f"http://127.0.0.1:{port}/", root, corpus, gradio_tmp, log, proc)
    import httpx

    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(server.url, timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(server)
    pytest.fail(f"the server did not answer GET / within 90 s:\n{log.read_text(errors='replace')}")


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


def writable_copy(src: Path, dest: Path) -> Path:
    """The shipped corpus is read-only; the server must be able to save uploads into its copy."""
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return dest


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def server(default_index, tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    corpus = writable_copy(DEFAULT_CORPUS, root / "corpus")
    index = root / "index"
    shutil.copytree(default_index, index)  # built once per session; the server finds it current
    server = start_server(root, index, corpus)
    yield server
    stop(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def bot_count(page) -> int:  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="bot"]').count()


def wait_answer(page, n: int) -> str:  # type: ignore[no-untyped-def]
    """Wait for the n-th bot message to hold an answer (not the 'Searching…' placeholder)."""
    page.wait_for_function(
        """n => { const b = document.querySelectorAll('[data-testid="bot"]');
                  return b.length >= n && !b[n - 1].innerText.includes('Searching the articles'); }""",
        arg=n, timeout=90_000)
    bubble = page.locator('[data-testid="bot"]').nth(n - 1)
    bubble.scroll_into_view_if_needed()  # the chat stops following once a test clicks an older answer
    return bubble.inner_text()


def ask(page, question: str) -> str:  # type: ignore[no-untyped-def]
    n = bot_count(page)
    box = page.locator("#pqa-question textarea")
    box.fill(question)
    box.press("Enter")
    return wait_answer(page, n + 1)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def squash(text: str) -> str:
    return " ".join(text.split())


def open_chat(server, browser, height: int):  # type: ignore[no-untyped-def]
    """A page on the chat, ready for a question, and the list of requests it makes elsewhere."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:")) else None)
    page.goto(server.url, wait_until="domcontentloaded", timeout=60_000)
    page.locator("#pqa-question textarea").wait_for(timeout=60_000)
    return page, outside


def test_chat_follow_up_sources_upload_and_not_found(server, browser, tmp_path):
    etc_passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() if Path("/etc/passwd").exists() else None
    before = files_under(server.root)
    page, outside = open_chat(server, browser, 900)

    # 1. First screen: example questions from the default corpus, and the index status.
    page.get_by_text("How many countries attended the AI Safety Summit?").first.wait_for()
    page.wait_for_function("document.querySelector('#pqa-status').innerText.includes('" + str(DEFAULT_DOCS) + " documents')",
                           timeout=30_000)
    shot(page, "01-first-screen.png")

    # 2. A question: quoted sentences with markers; the sources panel holds the cited sentence
    #    highlighted inside its passage, with title, date and source.
    answer = ask(page, "How many countries attended the AI Safety Summit?")
    assert "[1]" in answer, answer
    panel = page.locator("#pqa-sources")
    panel.locator("mark").first.wait_for()
    assert "The case for collaborating with China on tech and AI" in panel.inner_text()
    assert "Source:" in panel.inner_text() and "characters" in panel.inner_text()
    marked = [squash(m) for m in panel.locator("mark").all_inner_texts()]
    assert marked and all(m in squash(answer) for m in marked), (marked, answer)
    shot(page, "02-answer.png")

    # 3. A follow-up, then the effective query edited and re-asked.
    follow = ask(page, "And how do tuition fees in China compare with the UK?")
    assert "[1]" in follow, follow
    effective = page.locator("#pqa-effective textarea")
    assert effective.input_value().strip()
    shot(page, "03-follow-up.png")
    effective.fill("tuition fees China UK")
    n = bot_count(page)
    page.locator("#pqa-reask").click()
    again = wait_answer(page, n + 1)
    assert "[1]" in again or "Not found" in again
    assert "tuition fees China UK" in page.locator('[data-testid="user"]').last.inner_text()

    # The Markdown copy holds the answer with its citations.
    page.get_by_text("Copy the answer with its citations as Markdown").click()
    md = page.locator("#pqa-markdown").inner_text()
    assert "**Q:** tuition fees China UK" in md and "characters" in md

    # A mistake becomes a message in the chat, never a traceback.
    page.get_by_text("Filters").click()
    date_from = page.locator("#pqa-from textarea")
    date_from.fill("last year")
    oops = ask(page, "How many countries attended the AI Safety Summit?")
    assert "is not a date: use YYYY, YYYY-MM or YYYY-MM-DD" in oops and "Traceback" not in oops, oops
    date_from.fill("")

    # 4. Upload: a new article, an .exe and a name with a path, all at once.
    page.locator("#pqa-upload input[type=file]").set_input_files([
        {"name": "lake-varnholm.md", "mimeType": "text/markdown", "buffer": LAKE.encode()},
        {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00 not a program"},
        {"name": "../../etc/passwd.txt", "mimeType": "text/plain", "buffer": b"root:x:0:0:root:/root:/bin/sh\n"},
    ])
    result = page.locator("#pqa-upload-result")
    result.locator("li").first.wait_for(timeout=60_000)
    text = result.inner_text()
    assert "✓ lake-varnholm.md: saved" in text, text
    assert "✗ tool.exe: refused: .exe is not an accepted type" in text, text
    assert "✗ ../../etc/passwd.txt: refused: the name contains a folder path" in text, text
    shot(page, "04-upload.png")
    for close in page.locator('[data-testid="toast-close"]').all():  # the "some files were refused" toast
        close.click()
    page.wait_for_function("""n => { const s = document.querySelector('#pqa-status').innerText;
                                     return s.includes(n + ' documents') && !s.includes('Indexing'); }""",
                           arg=DEFAULT_DOCS + 1, timeout=180_000)
    assert "Added to the index: lake-varnholm.md" in page.locator("#pqa-status").inner_text()
    lake = ask(page, "How many nations signed the Lake Varnholm treaty?")
    assert "14 nations" in lake, lake
    assert "The Lake Varnholm Treaty" in panel.inner_text()
    assert any("14 nations" in m for m in panel.locator("mark").all_inner_texts())
    shot(page, "05-upload-answer.png")

    # Clicking an earlier answer brings its sources back.
    page.locator('[data-testid="bot"]').first.click()
    page.wait_for_function("document.querySelector('#pqa-sources').innerText.includes("
                           "'The case for collaborating with China on tech and AI')", timeout=30_000)

    # Nothing but the new article was written to the corpus, nothing outside it; no outside calls.
    assert outside == [], outside
    after = files_under(server.root)
    new = {p for p in after - before if not p.startswith(("gradio-tmp/", "index/")) and not p.endswith(".log")}
    assert new == {"corpus/lake-varnholm.md"}, new
    assert not any("passwd" in p for p in after if not p.startswith("gradio-tmp/"))
    if etc_passwd:
        assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == etc_passwd

    # 5. Last, so an answer-engine regression here does not hide the checks above: an
    #    unanswerable question says so and offers related passages.
    missing = ask(page, "Who won the 1998 football World Cup?")
    shot(page, "06-not-found.png")
    assert "Not found" in missing, missing
    assert "Related passages" in panel.inner_text()
    page.close()


WHO_SAID = "What did President Biden stress to President Xi about Taiwan?"
COMPARE = "How many countries have endorsed the Political Declaration on the responsible military use of AI?"


def test_who_said_speakers_and_sources_compared(server, browser):
    """Issue 12 in the browser: every quote led by its speaker (here reported speech in a readout,
    attributed to the President), and the "Sources compared" view: documents by date, those that
    say nothing, the endorsing-nations figures side by side flagged as differing."""
    page, outside = open_chat(server, browser, 1000)

    answer = ask(page, WHO_SAID)
    assert "[1]" in answer, answer
    first = squash(answer).split("[1]")[0]
    # The top quote is the readout's "President Biden underscored ...", cited to Biden, not to the page.
    assert "Biden" in first.split(":")[0] and "Taiwan" in first, answer
    shot(page, "07-who-said.png")

    answer = ask(page, COMPARE)
    assert "[1]" in answer, answer
    page.get_by_text("Sources compared").click()
    page.locator("#pqa-compare-btn").click()
    page.wait_for_function("document.querySelector('#pqa-compare table') !== null", timeout=90_000)
    view = page.locator("#pqa-compare")
    text = view.inner_text()
    assert "documents address the question" in text and "says nothing on it" in text, text
    dates = [d for d in (squash(t) for t in view.locator("table.pqa-timeline tr td:first-child").all_inner_texts())
             if d != "undated"]
    assert dates and dates == sorted(dates), dates
    assert view.locator(".pqa-figure-table").count() >= 1 and "sources differ" in text, text
    values = {squash(v) for v in view.locator(".pqa-figure-table b").all_inner_texts()}
    assert {"31", "56"} <= values, values
    view.scroll_into_view_if_needed()
    shot(page, "08-sources-compared.png")
    view.screenshot(path=str(ARTIFACTS / "08-sources-compared-view.png"))
    assert outside == [], outside
    page.close()


def call(server: Server, api: str, data: list) -> tuple[str, object]:  # type: ignore[type-arg]
    """One call of a Gradio endpoint over plain HTTP, as any client could make it: (event, data)."""
    import json

    import httpx

    base = server.url + "gradio_api"
    event = httpx.post(f"{base}/call/{api}", json={"data": data}, timeout=30).json()["event_id"]
    with httpx.stream("GET", f"{base}/call/{api}/{event}", timeout=120) as stream:
        lines = [line for line in stream.iter_lines() if line.strip()]
    last = max(i for i, line in enumerate(lines) if line.startswith("event: "))
    payload = lines[last + 1].removeprefix("data: ") if last + 1 < len(lines) else "null"
    return lines[last].removeprefix("event: "), json.loads(payload)


def page_event(server: Server, session: str, fn: str, data: list) -> list:  # type: ignore[type-arg]
    """One event as the page sends it: a queue join, then the session's event stream (sse_v3)."""
    import json

    import httpx

    config = httpx.get(server.url + "config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if fn in (d.get("api_name"), d.get("name")))
    base = server.url + "gradio_api/"
    event = httpx.post(base + "queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session},
                       timeout=30).json()["event_id"]
    with httpx.stream("GET", base + "queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            msg = json.loads(line[5:]) if line.startswith("data:") else {}
            if msg.get("msg") == "process_completed" and msg.get("event_id") == event:
                assert msg["success"], msg
                return msg["output"]["data"]
    raise AssertionError("the event stream ended without the answer")


def test_each_answer_sends_only_its_own_turn_and_follow_ups_use_the_session(server):
    """What the page receives per answer stays the size of one turn; the conversation lives in the
    session's state on the server (a follow-up is resolved against it) and is never sent back."""
    session = "t" + os.urandom(5).hex()
    for question in ["How many countries attended the AI Safety Summit?", "And did China sign the declaration?"]:
        reply, state, sources, effective, markdown = page_event(server, session, "chat", [question, None, [], "", ""])
        assert [m["role"] for m in reply] == ["user", "assistant"] and state is None
        assert "\\[1\\]" in reply[1]["content"][0]["text"] and "pqa-source" in sources
    assert "Summit" in effective and effective.startswith("And did China sign the declaration?")
    assert markdown.startswith("**Q:** And did China sign the declaration?")
    # Another session has its own (empty) conversation: the same follow-up is searched as written.
    reply, _, _, effective, _ = page_event(server, "u" + os.urandom(5).hex(), "chat",
                                           ["And did China sign the declaration?", None, [], "", ""])
    assert effective == "And did China sign the declaration?"


def test_upload_refusals_over_http(server, tmp_path):
    import httpx

    before = files_under(server.corpus)
    big = tmp_path / "big.pdf"
    with open(big, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: 200 MB long, nothing on disk
    with open(big, "rb") as fh:
        r = httpx.post(server.url + "gradio_api/upload", files={"files": ("big.pdf", fh, "application/pdf")},
                       timeout=120)
    assert r.status_code == 413 and "maximum allowed size of 20971520 bytes" in r.text
    cache = sum(p.stat().st_size for p in server.gradio_tmp.rglob("*") if p.is_file()) \
        if server.gradio_tmp.exists() else 0
    assert cache < 21 * 1024 * 1024  # stopped at the limit, not after 200 MB

    uploaded = {}
    for name, data in (("passwd.txt", b"root:x:0:0\n"), ("tool.exe", b"MZ\x90\x00")):
        r = httpx.post(server.url + "gradio_api/upload", files={"files": (name, data, "text/plain")}, timeout=30)
        uploaded[name] = r.json()[0]
    file = lambda path, orig: {"path": path, "orig_name": orig, "meta": {"_type": "gradio.FileData"}}  # noqa: E731
    event, out = call(server, "add_articles", [[file(uploaded["passwd.txt"], "../../etc/passwd.txt"),
                                                file(uploaded["tool.exe"], "tool.exe"),
                                                file(uploaded["passwd.txt"], "/etc/cron.d/evil.md")]])
    assert event == "complete", out
    assert "✗ **../../etc/passwd.txt**: refused: the name contains a folder path" in out[0]
    assert "✗ **tool.exe**: refused: .exe is not an accepted type" in out[0]
    assert "✗ **/etc/cron.d/evil.md**: refused: the name contains a folder path" in out[0]
    # A path outside Gradio's upload folder is refused by Gradio before our code sees it.
    event, out = call(server, "add_articles", [[file("/etc/passwd", "passwd.txt")]])
    assert event == "error", out
    assert files_under(server.corpus) == before


def test_password_protected_server(default_index, tmp_path_factory):
    import httpx

    root = tmp_path_factory.mktemp("auth")
    corpus = writable_copy(DEFAULT_CORPUS, root / "corpus")
    shutil.copytree(default_index, root / "index")
    server = start_server(root, root / "index", corpus, extra_env={"POLICYQA_AUTH": "reader:correct horse"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("config").status_code == 401
            assert client.post("login", data={"username": "reader", "password": "wrong"}).status_code == 400
            assert client.post("login", data={"username": "reader", "password": "correct horse"}).status_code == 200
            assert client.get("config").status_code == 200
    finally:
        stop(server)
