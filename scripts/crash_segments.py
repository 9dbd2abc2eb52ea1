"""kill -9 at random points during adds and during merges: the index must open and answer as
the state before or the state after, every time, and the next build must complete the change.

    python scripts/crash_segments.py [--points 20] [--work .crash-work]

An "add" is `build_index` adding one new article to an index of several articles (one new part,
a commit); a "merge" is `build_index(optimize=True)` folding two parts into one. Each trial copies
the index, runs the build in a child process, sends SIGKILL at a uniformly random moment of the
build's measured duration, then opens the index and compares every hit and answer of a fixed
question set with the states before and after. Prints one line per trial and a summary; exits
1 if any trial is neither.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policyqa import Retriever, build_index  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402

FIRST = ["us-wh-2024-11-16-readout-biden-xi-lima.md", "us-wh-2023-11-15-readout-biden-xi-woodside.md",
         "wp-summary-london.md", "us-wh-2023-11-01-readout-harris-sunak-meeting.md",
         "us-wh-2024-05-14-fact-sheet-section-301-tariffs-china.md"]
ADDED = "us-wh-2024-05-15-nsc-statement-us-prc-ai-talks-geneva.md"
QUESTIONS = ["What did Biden and Xi agree about nuclear weapons?", "AI talks between the US and China in Geneva",
             "What did Harris and Sunak discuss?", "population of London", "tariffs on electric vehicles"]
CHILD = "import sys\nfrom policyqa import build_index\nbuild_index(sys.argv[1], sys.argv[2], optimize=sys.argv[3] == 'merge')\n"


def snapshot(index: Path, embedder: Embedder) -> list:
    r = Retriever.open(index, embedder=embedder)
    try:
        return [([(h.doc_id, h.start, h.end, round(h.score, 4)) for h in r.search(q, k=10)],
                 [(s.citation.doc_id, s.citation.start) for s in r.ask(q).sentences]) for q in QUESTIONS]
    finally:
        r.close()


def child(corpus: Path, index: Path, what: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(corpus), str(index), what], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=20, help="kill points per kind (default 20)")
    ap.add_argument("--work", type=Path, default=ROOT / ".crash-work", help="scratch folder (replaced)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    corpus = args.work / "corpus"
    corpus.mkdir(parents=True)
    for name in FIRST:
        shutil.copy(ROOT / "corpus" / name, corpus / name)
    embedder = Embedder()
    rng = np.random.default_rng(args.seed)
    bad = 0
    for what in ("add", "merge"):
        index = args.work / f"index-{what}"
        build_index(corpus, index, embedder=embedder)
        if (corpus / ADDED).exists():
            (corpus / ADDED).unlink()
        shutil.copy(ROOT / "corpus" / ADDED, corpus / ADDED)
        if what == "merge":
            build_index(corpus, index, embedder=embedder)
        before = snapshot(index, embedder)
        reference = args.work / f"after-{what}"
        shutil.copytree(index, reference)
        started = time.perf_counter()
        if child(corpus, reference, what).wait() != 0:
            print(f"{what}: the reference build failed", file=sys.stderr)
            return 1
        duration = time.perf_counter() - started
        after = snapshot(reference, embedder)
        seen = {"before": 0, "after": 0, "neither": 0}
        for i, moment in enumerate(sorted(rng.uniform(0, duration, size=args.points))):
            trial = args.work / f"trial-{what}-{i}"
            shutil.copytree(index, trial)
            proc = child(corpus, trial, what)
            time.sleep(moment)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            state = snapshot(trial, embedder)
            outcome = "before" if state == before else "after" if state == after else "neither"
            build_index(corpus, trial, embedder=embedder, optimize=what == "merge")
            completed = snapshot(trial, embedder) == after and not list(trial.glob("*.partial"))
            seen[outcome] += 1
            bad += outcome == "neither" or not completed
            print(f"{what} killed at {moment:5.2f} s of {duration:.2f}: {outcome}; next build completes it: "
                  f"{'yes' if completed else 'NO'}", flush=True)
            shutil.rmtree(trial)
        print(f"{what}: {args.points} kills: {seen['before']} before, {seen['after']} after, "
              f"{seen['neither']} neither (build takes {duration:.1f} s as a child process)", flush=True)
    print("PASS" if not bad else f"FAIL: {bad} trials", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
