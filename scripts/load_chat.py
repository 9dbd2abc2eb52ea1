"""Load test of the web chat: N simultaneous chat users for S seconds against a local server.

    .venv/bin/python scripts/load_chat.py                       # starts `policyqa serve` itself
    .venv/bin/python scripts/load_chat.py --url http://127.0.0.1:7860/ --users 20 --duration 60

Each user is one browser-like session (gradio_client, the same /chat endpoint the page calls,
with the session's own chat state): a question, a follow-up, an unanswerable question, then a
new conversation. Loopback only and bounded in time: it refuses any other host. Prints the
answer latency p50/p95 and the error count; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
ROOT = Path(__file__).resolve().parents[1]

CONVERSATION = [
    "How many countries attended the AI Safety Summit?",
    "And did China sign the declaration?",
    "How do tuition fees in China compare with the UK?",
    "What does the executive order require from developers of dual-use foundation models?",
    "What is the capital of Peru?",
]


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def user(url: str, deadline: float, results: Results, offset: int) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    except Exception as exc:  # counted, not raised: one failed session must not hide the others
        with results.lock:
            results.errors.append(f"connect: {exc}")
        return
    turn = offset  # users start at different points of the conversation
    while time.time() < deadline:
        question = CONVERSATION[turn % len(CONVERSATION)]
        started = time.perf_counter()
        try:
            out = client.predict(question, [], "", "", api_name="/chat")
            elapsed = time.perf_counter() - started
            chat = out[1]
            reply = chat[-1]["content"] if chat else ""
            reply = reply if isinstance(reply, str) else str(reply)
            with results.lock:
                if reply.startswith("⚠") or not reply:
                    results.errors.append(f"{question!r}: {reply[:200]!r}")
                else:
                    results.latencies.append(elapsed)
        except Exception as exc:
            with results.lock:
                results.errors.append(f"{question!r}: {exc.__class__.__name__}: {exc}")
        turn += 1
        if turn % len(CONVERSATION) == 0:
            client.reset_session()  # a new conversation, so the chat state stays small
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, corpus: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "policyqa", "serve", "--port", str(port), "--index", str(index),
                             "--corpus", str(corpus)], stdout=subprocess.DEVNULL, stderr=sys.stderr)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.time() + 300  # a fresh clone builds the index first
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"load_chat: the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(1)
    proc.terminate()
    sys.exit("load_chat: the server did not start within 300 s")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running server on this machine (default: start one)")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--index", type=Path, default=ROOT / "index")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = p.parse_args(argv)
    if not 1 <= args.users <= 100 or not 0 < args.duration <= 600:
        p.error("--users must be 1..100 and --duration 1..600 s")
    proc = None
    if args.url:
        host = urlparse(args.url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error("--url must point at this machine (127.0.0.1, localhost or ::1)")
        url = args.url
    else:
        proc, url = start_server(args.index, args.corpus)
    try:
        from gradio_client import Client

        started = time.perf_counter()  # the first answer loads the model; not part of the figures
        Client(url, verbose=False, analytics_enabled=False, download_files=False).predict(
            CONVERSATION[0], [], "", "", api_name="/chat")
        print(f"warm-up answer: {time.perf_counter() - started:.1f} s")
        results = Results()
        deadline = time.time() + args.duration
        threads = [threading.Thread(target=user, args=(url, deadline, results, i), daemon=True)
                   for i in range(args.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.duration + 180)  # a request in flight at the deadline may finish late
        lat = sorted(results.latencies)
        print(f"{args.users} users, {args.duration:g} s: {len(lat)} answers, {len(results.errors)} errors, "
              f"{len(lat) / args.duration:.1f} answers/s")
        if lat:
            print(f"answer latency: p50 {percentile(lat, 50):.2f} s, p95 {percentile(lat, 95):.2f} s, "
                  f"max {lat[-1]:.2f} s")
        for err in results.errors[:10]:
            print(f"  error: {err}")
        return 1 if results.errors or not lat else 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    sys.exit(main())
