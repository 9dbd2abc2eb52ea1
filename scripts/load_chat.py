"""Load test of the web chat against the library, in one run on one index.

    .venv/bin/python scripts/load_chat.py                  # starts `policyqa serve` on copies of index/ and corpus/
    .venv/bin/python scripts/load_chat.py --answer-slots 4 # the server's answer slots (default: its own)
    .venv/bin/python scripts/load_chat.py --url http://127.0.0.1:7860/ --skip-upload

It prints, in order:

1. the library: `Retriever.ask` on one thread, the same questions with the same conversation
   history as the chat passes, on the same index: asks/s, p50, p95;
2. 1 user: one page asking one question after another: the web round trip p50 and p95;
3. 20 users for 60 s: answers/s (and its ratio to the library's rate), p50, p95, errors;
4. an upload indexed with no users (the re-index time for reference), then the same while 20 users
   ask: errors, latency during the re-index, its time, and the upload answered with a citation to
   it once its re-index ends.

Each simulated user is one open page and makes the requests a browser makes: for each answer the
queue join and the event stream of its session (Gradio's sse_v3 protocol, the same endpoint and
session state as the page), and the page's status poll at the interval the page uses. The client
is plain httpx, not gradio_client: gradio_client spent about 160 ms of CPU an answer, as much as
several answers, on the same two cores as the server. Its own CPU time is printed too.

Loopback only and bounded in time (it refuses any other host). Exits 1 on any error or a missed
target; quote its figures with the load average it prints (other jobs on the machine skew them).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import resource
import shutil
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

# A conversation: a question, a follow-up, two more, an unanswerable one; then a new conversation.
CONVERSATION = [
    "How many countries attended the AI Safety Summit?",
    "And did China sign the declaration?",
    "How do tuition fees in China compare with the UK?",
    "What does the executive order require from developers of dual-use foundation models?",
    "What is the capital of Peru?",
]

# Targets of the issue "The web chat at the speed of the library".
ONE_USER_EXTRA_S = 0.100  # 1 user: web p50 <= library ask p50 + 100 ms
RATE_RATIO = 0.6  # 20 users: answers/s >= 0.6 x the library's single-thread rate
P95_S = 1.5  # 20 users: p95 <= 1.5 s

ARTICLES = [  # (file name stem, text, question, words the answer must quote)
    ("lake-varnholm", """---
title: "The Lake Varnholm Treaty"
author: "Load Test Desk"
date: "2031-06-14"
---

The Lake Varnholm treaty was signed by 14 nations in 2031 at a ceremony on the lake's northern shore.
It commits the signatories to share water-quality data every quarter.
A joint commission based in the town of Ostravik oversees the treaty.
""", "How many nations signed the Lake Varnholm treaty?", "14 nations"),
    ("orrin-valley", """---
title: "The Orrin Valley Water Accord"
author: "Load Test Desk"
date: "2032-03-02"
---

The Orrin Valley water accord was joined by 9 provinces in 2032 after two years of talks.
Each province must publish its river abstraction figures every month.
A tribunal seated in the city of Calmere settles disputes under the accord.
""", "How many provinces joined the Orrin Valley water accord?", "9 provinces"),
]


# ---- figures ----------------------------------------------------------------------------

def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---- the library ------------------------------------------------------------------------

def library(retriever: Any, questions: Iterable[tuple[str, bool]], asks: int) -> list[tuple[str, float]]:
    """Retriever.ask on this thread: (question, seconds) for each ask. Each question gets the
    history the chat passes (app._history: the conversation's earlier questions and quoted answers)."""
    times: list[tuple[str, float]] = []
    history: list[dict[str, str]] = []
    for question, fresh in itertools.islice(questions, asks):
        if fresh:
            history = []
        started = time.perf_counter()
        answer = retriever.ask(question, history=list(history))
        times.append((question, time.perf_counter() - started))
        said = " ".join(s.text for s in answer.sentences) if answer.found else "Not found."
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": said}]
    return times


def distinct_questions() -> list[str]:
    """The policy dev and held-out sets' questions (310, none repeated): none is in the query
    cache, as a real user's question usually is not."""
    out = []
    for name in ("questions.jsonl", "heldout.jsonl"):
        for line in (ROOT / "scripts" / "policyset" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return list(dict.fromkeys(out))


# ---- one open page ----------------------------------------------------------------------

class EventError(Exception):
    pass


@dataclass
class App:
    url: str  # ends with /
    fn: dict[str, int]  # api name (or handler name) -> fn index
    poll_s: float  # the page's status poll interval
    queued: set[str] = field(default_factory=set)  # the names of the events that go through the queue

    @classmethod
    def read(cls, url: str, http: Any) -> "App":
        config = http.get(url + "config", timeout=30).json()
        fn, queued = {}, set()
        for dep in config["dependencies"]:
            for key in (dep.get("api_name"), dep.get("name")):
                if key and key not in fn:
                    fn[key] = dep["id"]
                    if dep.get("queue", True):
                        queued.add(key)
        timers = [c["props"].get("value") for c in config["components"] if c.get("type") == "timer"]
        return cls(url, fn, float(timers[0]) if timers else 0.0, queued)


class Page:
    """One browser tab: its own session, and the requests the page makes for each event, on one
    kept-alive connection (http.client: a fraction of httpx's CPU a request, and every
    millisecond this client spends is one the server does not get on this machine)."""

    def __init__(self, app: App) -> None:
        u = urlparse(app.url)
        self.app = app
        self.conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=120)
        self.new_session()

    def new_session(self) -> None:  # "New conversation" as a fresh tab: empty chat state
        self.session = uuid.uuid4().hex[:11]

    def _send(self, method: str, path: str, body: dict | None = None) -> http.client.HTTPResponse:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: reconnect once
            try:
                self.conn.request(method, urlparse(self.app.url).path + path, body=data, headers=headers)
                return self.conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, body: dict | None = None) -> Any:
        r = self._send(method, path, body)
        text = r.read()
        if r.status != 200:
            raise EventError(f"{path} {r.status}: {text[:200]!r}")
        return json.loads(text)

    def queued(self, fn: str, data: list) -> list:  # type: ignore[type-arg]
        """An event through the queue: join, then read the session's stream until it completes."""
        event_id = self._json("POST", "gradio_api/queue/join", {
            "data": data, "fn_index": self.app.fn[fn], "session_hash": self.session, "event_data": None,
            "trigger_id": None})["event_id"]
        r = self._send("GET", f"gradio_api/queue/data?session_hash={self.session}")
        out: list | None = None  # type: ignore[type-arg]
        error = "the event stream ended before the answer"
        try:
            if r.status != 200:
                raise EventError(f"queue/data {r.status}: {r.read()[:200]!r}")
            for raw in r:  # the stream ends after the session's last pending event (close_stream)
                line = raw.decode("utf-8", "replace")
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed" and msg.get("event_id") == event_id:
                    if msg.get("success"):
                        out = msg["output"]["data"]
                    else:
                        error = str(msg.get("output"))[:300]
                elif msg.get("msg") == "unexpected_error":
                    error = f"stream error: {str(msg)[:300]}"
        finally:
            r.close()
        if out is None:
            raise EventError(error)
        return out

    def direct(self, fn: str, data: list) -> list:  # type: ignore[type-arg]
        """An event outside the queue (the page's status poll): one POST."""
        return self._json("POST", "gradio_api/run/predict",
                          {"data": data, "fn_index": self.app.fn[fn], "session_hash": self.session})["data"]

    def ask(self, question: str) -> tuple[str, str]:
        """(the answer's chat text, the sources panel's HTML)."""
        out = self.queued("chat", [question, None, [], "", ""])
        if isinstance(out[0], list):  # the new turn's messages, chat state (None), sources, query, Markdown
            reply, sources = out[0], out[2]
        else:  # a server from before the reply held one turn (for before/after figures): the whole chat
            reply, sources = out[1][-2:], out[3]
        said = "".join(part.get("text", "") for part in reply[-1]["content"]) if reply else ""
        if not said or said.startswith("⚠"):
            raise EventError(f"{question!r}: {said[:200]!r}")
        return said, sources if isinstance(sources, str) else ""

    def poll(self) -> None:
        (self.queued if "on_tick" in self.app.queued else self.direct)("on_tick", [None])

    def close(self) -> None:
        self.conn.close()


# ---- users ------------------------------------------------------------------------------

@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)  # time.time() each answer arrived
    asked: list[str] = field(default_factory=list)  # the question of each latency
    errors: list[str] = field(default_factory=list)
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def between(self, start: float, end: float) -> list[float]:
        return sorted(lat for lat, t in zip(self.latencies, self.ended) if start <= t <= end)


def conversation(offset: int) -> Iterator[tuple[str, bool]]:
    """The conversation over and over from ``offset``: (question, starts a new conversation)."""
    turn = offset
    while True:
        yield CONVERSATION[turn % len(CONVERSATION)], turn % len(CONVERSATION) == 0
        turn += 1


class Shared:
    """Questions handed out once each to whichever user asks next, each in a new conversation."""

    def __init__(self, questions: list[str]) -> None:
        self._it, self._lock = iter(questions), threading.Lock()

    def __iter__(self) -> "Shared":
        return self

    def __next__(self) -> tuple[str, bool]:
        with self._lock:
            return next(self._it), True


def user(app: App, stop: threading.Event, results: Results, questions: Iterable[tuple[str, bool]],
         offset: int = 0, max_asks: int | None = None) -> None:
    page = Page(app)
    asked = 0
    next_poll = time.time() + (offset % 10) / 10 * app.poll_s if app.poll_s else float("inf")
    try:
        for question, fresh in questions:
            if stop.is_set() or (max_asks is not None and asked >= max_asks):
                break
            if time.time() >= next_poll:  # the page's timer
                try:
                    page.poll()
                    with results.lock:
                        results.polls += 1
                except Exception as exc:  # counted, not raised: one failure must not hide the rest
                    with results.lock:
                        results.errors.append(f"status poll: {exc.__class__.__name__}: {exc}")
                next_poll += app.poll_s
            if fresh and asked:
                page.new_session()
            started = time.perf_counter()
            try:
                page.ask(question)
                with results.lock:
                    results.latencies.append(time.perf_counter() - started)
                    results.ended.append(time.time())
                    results.asked.append(question)
            except Exception as exc:
                with results.lock:
                    results.errors.append(f"{question!r}: {exc.__class__.__name__}: {exc}")
            asked += 1
    finally:
        page.close()


def run_users(app: App, n: int, seconds: float, during: Any = None,
              shared: list[str] | None = None) -> tuple[Results, float, float, Any]:
    """n users asking the conversation (or the ``shared`` questions, once each) for ``seconds``
    (``during(results)`` runs meanwhile, on this thread; the users stop when both are done).
    Returns results, start, end, during's value."""
    results, stop = Results(), threading.Event()
    pool = Shared(shared) if shared is not None else None
    threads = [threading.Thread(target=user, args=(app, stop, results, pool or conversation(i), i), daemon=True)
               for i in range(n)]
    start = time.time()
    for t in threads:
        t.start()
    value = during(results) if during else None
    time.sleep(max(0.0, start + seconds - time.time()))
    if shared is not None:
        for t in threads:
            t.join(600)
        end = max(results.ended, default=time.time())
    else:
        end = time.time()
    stop.set()
    for t in threads:
        t.join(180)  # a question in flight finishes; not counted in the window's rate
    return results, start, end, value


# ---- uploads ----------------------------------------------------------------------------

def upload_and_wait(app: App, article: tuple[str, str, str, str]) -> dict[str, Any]:
    """Upload an article as the page does, wait for its re-index, ask it; returns what happened."""
    stem, text, question, expected = article
    page = Page(app)
    try:
        name = f"{stem}-{uuid.uuid4().hex[:6]}.md"
        before = page.queued("index_status", [])[0]["builds"]
        started = time.time()
        import httpx  # multipart, once per upload

        r = httpx.post(app.url + "gradio_api/upload", files={"files": (name, text.encode(), "text/markdown")},
                       timeout=60)
        r.raise_for_status()
        path = r.json()[0]
        out = page.queued("add_articles", [[{"path": path, "orig_name": name,
                                             "meta": {"_type": "gradio.FileData"}}]])
        if f"✓ **{name}**" not in out[0]:
            raise EventError(f"upload refused: {out[0][:300]}")
        while True:  # the page polls every BUSY_POLL_S while indexing; a script can look more often
            status = page.queued("index_status", [])[0]
            if status["builds"] > before and not status["indexing"]:
                break
            if time.time() - started > 600:
                raise EventError("the re-index did not end within 600 s")
            time.sleep(0.25)
        indexed = time.time()
        if status["last_error"] or name in status["failed"]:
            raise EventError(f"the re-index failed: {status['last_error'] or status['failed']}")
        page.new_session()
        said, sources = page.ask(question)
        cited = f'data-doc-id="{name}"' in sources and expected in said
        return {"name": name, "seconds": indexed - started, "started": started, "indexed": indexed,
                "cited": cited, "said": said}
    finally:
        page.close()


# ---- the server -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, corpus: Path, slots: int | None, work: Path) -> tuple[subprocess.Popen, str]:
    """`policyqa serve` on copies of the index and corpus (uploads land in the copy)."""
    import httpx

    shutil.copytree(index, work / "index")
    shutil.copytree(corpus, work / "corpus")
    for path in [work / "corpus", *(work / "corpus").rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    port = free_port()
    cmd = [sys.executable, "-m", "policyqa", "serve", "--port", str(port), "--index", str(work / "index"),
           "--corpus", str(work / "corpus")] + (["--answer-slots", str(slots)] if slots else [])
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_TEMP_DIR":
                                                                            str(work / "gradio-tmp")})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"load_chat: the server exited with {proc.returncode}:\n"
                     + (work / "server.log").read_text(errors="replace")[-2000:])
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(1)
    proc.terminate()
    sys.exit("load_chat: the server did not start within 300 s")


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by process ``pid`` (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- main -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running server on this machine (default: start one on copies)")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of the many-users run (default 60)")
    p.add_argument("--library-asks", type=int, default=100,
                   help="asks of the conversation for the library's rate (default 100)")
    p.add_argument("--one-user-asks", type=int, default=30)
    p.add_argument("--answer-slots", type=int, help="passed to the server this script starts")
    p.add_argument("--skip-distinct", action="store_true", help="no runs over the 310 distinct questions")
    p.add_argument("--skip-upload", action="store_true", help="no upload runs (implied by --url "
                   "unless --upload: they add files to that server's corpus)")
    p.add_argument("--upload", action="store_true", help="with --url: run the upload phase too")
    p.add_argument("--index", type=Path, default=ROOT / "index")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = p.parse_args(argv)
    if not 1 <= args.users <= 100 or not 0 < args.duration <= 600:
        p.error("--users must be 1..100 and --duration 1..600 s")
    if args.url and (urlparse(args.url).hostname or "") not in ("127.0.0.1", "localhost", "::1"):
        p.error("--url must point at this machine (127.0.0.1, localhost or ::1)")
    uploads = not args.skip_upload and (args.upload or not args.url)
    n, failed = args.users, []

    def verdict(name: str, ok: bool, target: str) -> str:
        if not ok:
            failed.append(name)
        return f"[{'PASS' if ok else 'FAIL'}: {target}]"

    # The library first, alone on the machine (the server is not started yet).
    from policyqa import Retriever

    print(f"load average at start: {loadavg()}")
    retriever = Retriever.open(args.index)
    retriever.ask("warm-up: load the model")
    conv = library(retriever, conversation(0), args.library_asks)
    distinct = [] if args.skip_distinct else distinct_questions()
    lib_distinct = dict(library(retriever, ((q, True) for q in distinct), len(distinct)))
    retriever.close()
    lib = sorted(t for _, t in conv)
    lib_rate, lib_p50 = len(lib) / sum(lib), percentile(lib, 50)
    print(f"library  the conversation ({len(CONVERSATION)} questions with follow-ups, repeated: their "
          f"vectors come from the query cache), {len(lib)} asks on 1 thread: {lib_rate:.1f} asks/s, "
          f"p50 {ms(lib_p50)}, p95 {ms(percentile(lib, 95))}  (load {loadavg()})")
    if distinct:
        d = sorted(lib_distinct.values())
        print(f"library  {len(d)} distinct questions, each asked once, on 1 thread: {len(d) / sum(d):.1f} asks/s, "
              f"p50 {ms(percentile(d, 50))}, p95 {ms(percentile(d, 95))}  (load {loadavg()})")

    import httpx

    work = Path(tempfile.mkdtemp(prefix="load-chat-"))
    proc = None
    try:
        if args.url:
            url = args.url if args.url.endswith("/") else args.url + "/"
        else:
            proc, url = start_server(args.index, args.corpus, args.answer_slots, work)
        app = App.read(url, httpx)
        Page(app).ask("warm-up: load the model")  # the server's first answer loads it; not counted

        def server_cpu() -> float:
            return process_cpu(proc.pid) if proc else float("nan")

        # 1 user
        results = Results()
        user(app, threading.Event(), results, conversation(0), max_asks=args.one_user_asks)
        lat = sorted(results.latencies)
        web_p50 = percentile(lat, 50) if lat else float("inf")
        print(f"web      1 user, the conversation, {len(lat)} answers: p50 {ms(web_p50)} (library p50 + "
              f"{ms(web_p50 - lib_p50)}), p95 {ms(percentile(lat, 95))}, {len(results.errors)} errors  "
              + verdict("1 user", not results.errors and web_p50 <= lib_p50 + ONE_USER_EXTRA_S,
                        f"p50 <= library p50 + {ms(ONE_USER_EXTRA_S)}") + f"  (load {loadavg()})")
        _errors(results)
        if distinct:
            one, rest = distinct[:args.one_user_asks], distinct[args.one_user_asks:]
            results = Results()
            user(app, threading.Event(), results, ((q, True) for q in one))
            lat, base = sorted(results.latencies), sorted(lib_distinct[q] for q in results.asked)
            web_p50, base_p50 = percentile(lat, 50), percentile(base, 50)
            print(f"web      1 user, {len(lat)} distinct questions: p50 {ms(web_p50)} (library p50 on them "
                  f"{ms(base_p50)} + {ms(web_p50 - base_p50)}), p95 {ms(percentile(lat, 95))}, "
                  f"{len(results.errors)} errors  "
                  + verdict("1 user, distinct", not results.errors and web_p50 <= base_p50 + ONE_USER_EXTRA_S,
                            f"p50 <= library p50 + {ms(ONE_USER_EXTRA_S)}") + f"  (load {loadavg()})")
            _errors(results)

        # many users
        cpu0, scpu0 = cpu_seconds(), server_cpu()
        results, start, end, _ = run_users(app, n, args.duration)
        window = results.between(start, end)
        rate = len(window) / (end - start)
        lat = sorted(results.latencies)
        ok = bool(lat) and not results.errors and rate >= RATE_RATIO * lib_rate and percentile(lat, 95) <= P95_S
        print(f"web      {n} users, the conversation, {end - start:.0f} s: {rate:.1f} answers/s "
              f"({rate / lib_rate:.2f} x library), p50 {percentile(lat, 50):.2f} s, p95 "
              f"{percentile(lat, 95):.2f} s, max {lat[-1]:.2f} s, {len(results.errors)} errors, "
              f"{results.polls} status polls  "
              + verdict(f"{n} users", ok, f">= {RATE_RATIO} x library, p95 <= {P95_S} s, 0 errors")
              + f"  (load {loadavg()})")
        answers = len(results.latencies)
        print(f"         CPU per answer: server {ms((server_cpu() - scpu0) / answers)}, this client "
              f"{ms((cpu_seconds() - cpu0) / answers)}")
        _errors(results)
        if distinct:
            results, start, end, _ = run_users(app, n, 0.0, shared=rest)
            lat, base = sorted(results.latencies), [lib_distinct[q] for q in results.asked]
            rate, base_rate = len(lat) / (end - start), len(base) / sum(base)
            ok = not results.errors and rate >= RATE_RATIO * base_rate and percentile(lat, 95) <= P95_S
            print(f"web      {n} users, {len(lat)} distinct questions, each asked once, {end - start:.0f} s: "
                  f"{rate:.1f} answers/s ({rate / base_rate:.2f} x library on them), p50 "
                  f"{percentile(lat, 50):.2f} s, p95 {percentile(lat, 95):.2f} s, {len(results.errors)} errors  "
                  + verdict(f"{n} users, distinct", ok, f">= {RATE_RATIO} x library, p95 <= {P95_S} s, 0 errors")
                  + f"  (load {loadavg()})")
            _errors(results)

        if uploads:
            idle = upload_and_wait(app, ARTICLES[0])
            print(f"upload   no users: re-indexed in {idle['seconds']:.1f} s, then answered "
                  + ("with a citation to it  " if idle["cited"] else "WITHOUT citing it: " + idle["said"][:120])
                  + verdict("upload, no users", idle["cited"], "answered with a citation")
                  + f"  (load {loadavg()})")
            results, start, end, busy = run_users(
                app, n, 0.0, during=lambda r: (time.sleep(2), upload_and_wait(app, ARTICLES[1]))[1])
            during = results.between(busy["started"], busy["indexed"])
            print(f"upload   {n} users: re-indexed in {busy['seconds']:.1f} s ({busy['seconds'] / idle['seconds']:.1f}"
                  f" x idle); while it ran {len(during)} answers"
                  + (f", {len(during) / busy['seconds']:.1f}/s, p50 {percentile(during, 50):.2f} s, "
                     f"p95 {percentile(during, 95):.2f} s" if during else "")
                  + f"; {len(results.errors)} errors; then answered "
                  + ("with a citation to it  " if busy["cited"] else "WITHOUT citing it: " + busy["said"][:120])
                  + verdict(f"upload, {n} users", not results.errors and busy["cited"],
                            "0 errors, answered with a citation") + f"  (load {loadavg()})")
            _errors(results)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("targets missed: " + ", ".join(failed) if failed else "all targets met")
    return 1 if failed else 0


def _errors(results: Results) -> None:
    for err in results.errors[:10]:
        print(f"  error: {err}")


if __name__ == "__main__":
    sys.exit(main())
