#!/usr/bin/env python3
"""Start-up benchmark: how light `import policyqa` is, and how soon the web chat answers.

    python scripts/bench_startup.py [--repeat 3] [--work DIR]

1. `import policyqa` in a fresh interpreter: wall time (median of --repeat) and which heavy
   modules it loaded (none expected).
2. `policyqa serve` on the default corpus with its index already built (a restart): seconds from
   starting the process until the page answers HTTP, and until the first question is answered
   through the chat endpoint (that answer loads the model). Target: answered within 20 s.
   The index is built once into --work (default: a temp folder) from corpus/.

Run it on an idle machine; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many countries attended the AI Safety Summit?"
HEAVY = ("numpy", "torch", "faiss", "gradio", "sentence_transformers", "bm25s", "tiktoken", "pysbd")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def import_time() -> tuple[float, list[str]]:
    code = ("import time, json, sys; t = time.perf_counter(); import policyqa; "
            f"print(json.dumps([time.perf_counter() - t, [m for m in {HEAVY!r} if m in sys.modules]]))")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    total = time.perf_counter() - t
    inner, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    return total, heavy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_until_answered(index: Path, corpus: Path) -> tuple[float, float, str]:
    import httpx
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "policyqa", "serve", "--port", str(port), "--index", str(index),
                             "--corpus", str(corpus)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            if time.perf_counter() - started > 300:
                raise SystemExit("the server did not answer HTTP within 300 s")
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        page = time.perf_counter() - started
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        out = client.predict(QUESTION, [], "", "", api_name="/chat")
        answered = time.perf_counter() - started
        chat = out[1]
        reply = chat[-1]["content"] if chat else ""
        client.close()
        return page, answered, str(reply)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--work", type=Path, help="keep the default-corpus index here (default: a temp folder)")
    args = p.parse_args()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    work = args.work or Path(tempfile.mkdtemp(prefix="policyqa-bench-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        load_start = load_average()
        imports = [import_time() for _ in range(args.repeat)]
        heavy = sorted({m for _, h in imports for m in h})
        print(f"`import policyqa` in a fresh interpreter: median {statistics.median(t for t, _ in imports):.2f} s "
              f"(interpreter start included); heavy modules loaded: {', '.join(heavy) or 'none'}")
        corpus = work / "corpus"
        if not corpus.exists():
            shutil.copytree(ROOT / "corpus", corpus)
        index = work / "index"
        subprocess.run([sys.executable, "-m", "policyqa", "index", str(corpus), "--index", str(index), "--quiet"],
                       check=True, capture_output=True)
        runs = [serve_until_answered(index, corpus) for _ in range(args.repeat)]
        pages, answers = [r[0] for r in runs], [r[1] for r in runs]
        print(f"`policyqa serve` on the default corpus (index built): page answers HTTP after median "
              f"{statistics.median(pages):.1f} s, first question answered after median {statistics.median(answers):.1f} s "
              f"(runs: {', '.join(f'{a:.1f}' for a in answers)}; target <= 20 s) "
              f"{'PASS' if statistics.median(answers) <= 20 else 'FAIL'}")
        print(f"  first reply begins: {runs[0][2][:100]!r}")
        print(f"load average: start {load_start}, end {load_average()}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
