"""Fault injection for the index: kill -9 during builds, a full disk, damaged index files.

    .venv/bin/python scripts/faults.py [--kills 20] [--seed 0] [--quick] [--workdir DIR]

On a small corpus:
  (a) kill:   `policyqa index` (a subprocess) is killed with SIGKILL at --kills random points of
              a build; after each, the index must open, answer a few fixed questions exactly as a
              clean build of either the old or the new corpus does, and the next build must
              complete it (answers of the new corpus).
  (b) disk:   a build onto a nearly full tmpfs must fail with one clear message, leave the
              previous index in use and no half-written folder, and succeed once there is room
              (skipped with a message where a tmpfs cannot be mounted: it needs root).
  (c) damage: each index file in turn truncated, overwritten with garbage and deleted (and
              CURRENT and the manifest damaged): opening must raise IndexCorruptError (or
              answer as a clean build does), and the next plain `policyqa index` must rebuild it.

One line per run, PASS or FAIL; exit status 1 if anything failed. --quick (what the test suite
runs, with --kills 1): three damaged files and CURRENT, repaired by a build in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policyqa import IndexCorruptError, PolicyQAError, Retriever, build_index  # noqa: E402
from policyqa.store import files as store  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402

BEFORE = {
    "summit.md": "---\ntitle: Notes on the summit\ndate: 2023-11-03\n---\n\nThe AI Safety Summit took place at "
                 "Bletchley Park in November 2023. Delegations from 28 countries attended the meeting.\n"
                 "The Bletchley Declaration was signed by all of them, China included.\n",
    "fees.txt": "University tuition fees\n\nTuition in the Netherlands costs about 2,314 euros a year for EU "
                "students. International students pay far more.\n",
    "rivers.md": "---\ntitle: Rivers of Europe\n---\n\nThe Danube flows through ten countries. It is the "
                 "second-longest river in Europe after the Volga.\n",
    "chips.md": "# Chips\n\nThe CHIPS Act provides 52 billion dollars for semiconductor manufacturing. "
                "Export controls on advanced chips were tightened in October 2022.\n",
}
AFTER = {
    **BEFORE,
    "fees.txt": "University tuition fees\n\nTuition in the Netherlands costs about 2,530 euros a year for EU "
                "students from 2024. International students pay far more.\n",
    "moon.md": "# The Moon\n\nThe Moon is about 384,400 kilometres from the Earth. Twelve astronauts have "
               "walked on its surface.\n",
}
QUESTIONS = ["How many countries attended the AI Safety Summit?", "How much is tuition in the Netherlands?",
             "Which river flows through ten countries?", "How far away is the Moon?",
             "How much money does the CHIPS Act provide?"]
INDEX_FILES = ["chunks.npy", "segments.npy", "chunk_docs.npy", "dense.faiss", "meta.sqlite", "lexical", "manifest.json",
               store.PART_MANIFEST, store.HEADER_TEXTS, store.HEADER_VECTORS, store.CHUNK_HEADERS,
               store.HEADER_LEXICAL_DIR]


def index_file(index_dir: Path, name: str) -> Path:
    """``name`` in the current commit (its manifest) or in its one part (the other files)."""
    if name == store.MANIFEST:
        return store.read_current(index_dir) / name
    (part,) = store.part_paths(index_dir)
    return part / name

failures = 0


def report(ok: bool, name: str, detail: str = "") -> None:
    global failures
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def write_corpus(root: Path, docs: dict[str, str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for f in root.iterdir():
        if f.name not in docs:
            f.unlink()
    for name, text in docs.items():
        if not (root / name).exists() or (root / name).read_text(encoding="utf-8") != text:
            (root / name).write_text(text, encoding="utf-8")


def answers(index_dir: Path, embedder: Embedder) -> list[tuple]:
    r = Retriever.open(index_dir, embedder=embedder)
    try:
        out = []
        for q in QUESTIONS:
            a = r.ask(q)
            out.append((a.found, tuple((s.citation.doc_id, s.citation.start, s.citation.end) for s in a.sentences)))
        return out
    finally:
        r.close()


def index_command(corpus: Path, index_dir: Path) -> list[str]:
    return [sys.executable, "-m", "policyqa", "index", str(corpus), "--index", str(index_dir), "--quiet"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def kills(work: Path, n: int, rng: random.Random, embedder: Embedder, clean_before: Path,
          expected: dict[str, list]) -> None:
    corpus = work / "kill-corpus"
    index_dir = work / "kill-index"
    # How long one build takes as a subprocess (interpreter, model load, reading, embedding, writing).
    write_corpus(corpus, AFTER)
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.copytree(clean_before, index_dir)
    started = time.perf_counter()
    subprocess.run(index_command(corpus, index_dir), env=env(), capture_output=True, check=True)
    full = time.perf_counter() - started
    for i in range(n):
        write_corpus(corpus, BEFORE)
        shutil.rmtree(index_dir, ignore_errors=True)
        shutil.copytree(clean_before, index_dir)
        write_corpus(corpus, AFTER)
        # A third of the points anywhere in the build, a third in its last 40% (reading, embedding,
        # writing), a third while the new generation is being written (once its .partial folder
        # exists: a random moment of the write, or of the swap after it).
        mode = ("anywhere", "late", "writing")[i % 3]
        at = rng.uniform(0, full) if mode == "anywhere" else rng.uniform(0.6 * full, full * 1.05)
        proc = subprocess.Popen(index_command(corpus, index_dir), env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        started = time.perf_counter()
        if mode == "writing":
            while proc.poll() is None and not any(p.name.endswith(".partial") for p in index_dir.iterdir()):
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.15))
        else:
            time.sleep(at)
        at = time.perf_counter() - started
        finished = proc.poll() is not None
        mid_write = any(p.name.endswith(".partial") for p in index_dir.iterdir())
        proc.kill()
        proc.wait()
        name = (f"kill {i + 1:2d} ({mode}) at {at:5.2f}s of {full:.2f}s"
                + (" (had finished)" if finished else " (mid-write)" if mid_write else ""))
        try:
            got = answers(index_dir, embedder)
            state = "after" if got == expected["after"] else "before" if got == expected["before"] else None
            if state is None:
                report(False, name, f"answers match neither clean build: {got}")
                continue
            build_index(corpus, index_dir, embedder=embedder)
            leftovers = [p.name for p in index_dir.iterdir() if p.name.endswith(".partial")]
            ok = answers(index_dir, embedder) == expected["after"] and not leftovers
            report(ok, name, f"index in the {state} state; next build completed it"
                   + (f"; leftovers {leftovers}" if leftovers else ""))
        except Exception as exc:
            report(False, name, f"{type(exc).__name__}: {exc}")


def full_disk(work: Path, embedder: Embedder, expected: dict[str, list]) -> None:
    mnt = work / "tmpfs"
    mnt.mkdir(exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode == 0
    if not mounted:
        print("SKIP full disk: cannot mount a tmpfs here (needs root); tests/test_hostile.py simulates ENOSPC",
              flush=True)
        return
    try:
        corpus = work / "disk-corpus"
        index_dir = mnt / "index"
        write_corpus(corpus, BEFORE)
        build_index(corpus, index_dir, embedder=embedder)
        current = (index_dir / "CURRENT").read_text()
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * max(0, free - 24 * 1024))
        write_corpus(corpus, AFTER)
        proc = subprocess.run(index_command(corpus, index_dir), env=env(), capture_output=True, text=True)
        err = proc.stderr.strip().splitlines()
        kept = (index_dir / "CURRENT").read_text() == current
        partial = [p.name for p in index_dir.iterdir() if p.name.endswith(".partial")]
        same = answers(index_dir, embedder) == expected["before"]
        ok = proc.returncode == 1 and len(err) == 1 and "disk is full" in err[0] and kept and not partial and same
        report(ok, "full disk during a build", f"exit {proc.returncode}, message {err[-1] if err else ''!r}, "
               f"previous index kept: {kept and same}, partial folders left: {len(partial)}")
        (mnt / "filler").unlink()
        build_index(corpus, index_dir, embedder=embedder)
        report(answers(index_dir, embedder) == expected["after"], "full disk: the next build with room succeeds")
    except Exception as exc:
        report(False, "full disk", f"{type(exc).__name__}: {exc}")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _truncate(p: Path) -> None:
    for f in (sorted(p.iterdir()) if p.is_dir() else [p]):
        f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 2)])


def _garbage(p: Path) -> None:
    for f in (sorted(p.iterdir()) if p.is_dir() else [p]):
        f.write_bytes(os.urandom(max(64, f.stat().st_size)))


def _delete(p: Path) -> None:
    shutil.rmtree(p) if p.is_dir() else p.unlink()


def _current_garbage(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_bytes(b"\xff\xfe garbage \x1b[2J")


def _current_directory(index_dir: Path) -> None:
    (index_dir / "CURRENT").unlink()
    (index_dir / "CURRENT").mkdir()


def _current_missing_gen(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_text("gen-20000101-000000-00000000\n")


def _manifest_shape(index_dir: Path) -> None:
    (store.read_current(index_dir) / "manifest.json").write_text(json.dumps({"model": 1, "counts": []}))


def damage(work: Path, embedder: Embedder, clean_after: Path, corpus: Path, expected: list, quick: bool) -> None:
    cases: list[tuple[str, object]] = []
    kinds = [("truncate", _truncate), ("garbage", _garbage), ("delete", _delete)]
    quick_set = {("truncate", "chunks.npy"), ("garbage", "meta.sqlite"), ("delete", "lexical")}
    for name in INDEX_FILES:
        for how, fn in kinds:
            if quick and (how, name) not in quick_set:
                continue
            cases.append((f"{how} {name}", lambda d, fn=fn, name=name: fn(index_file(d, name))))
    for label, fn in (("CURRENT garbage", _current_garbage), ("CURRENT a folder", _current_directory),
                      ("CURRENT names a missing generation", _current_missing_gen),
                      ("manifest of the wrong shape", _manifest_shape)):
        if not quick or label.startswith("CURRENT garbage"):
            cases.append((label, fn))
    for label, fn in cases:
        index_dir = work / "damaged-index"
        shutil.rmtree(index_dir, ignore_errors=True)
        shutil.copytree(clean_after, index_dir)
        try:
            fn(index_dir)  # type: ignore[operator]
            try:
                opened = answers(index_dir, embedder)
                detected = "opened" + (" and answered as a clean build" if opened == expected else " WRONGLY")
                ok_open = opened == expected
            except IndexCorruptError:
                detected, ok_open = "IndexCorruptError", True
            except PolicyQAError as exc:
                detected, ok_open = f"{type(exc).__name__} (expected IndexCorruptError): {exc}", False
            if quick:  # the same build in this process (the model is loaded once)
                note = build_index(corpus, index_dir, embedder=embedder).note or ""
                code, last = 0, note[:200]
            else:
                proc = subprocess.run(index_command(corpus, index_dir), env=env(), capture_output=True, text=True)
                code, last = proc.returncode, (proc.stdout.strip().splitlines() or [""])[-1] + proc.stderr[-300:]
            rebuilt = code == 0 and answers(index_dir, embedder) == expected
            report(ok_open and rebuilt, f"damage: {label}",
                   f"open -> {detected}; `policyqa index` -> exit {code}, "
                   f"{'answers as a clean build' if rebuilt else 'NOT repaired: ' + last}")
        except Exception as exc:
            report(False, f"damage: {label}", f"{type(exc).__name__}: {exc}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=20, help="builds to kill with SIGKILL (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="four damage cases, repaired in-process (for the test suite)")
    p.add_argument("--workdir", type=Path, help="where to work (default: a temporary folder)")
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="policyqa-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    embedder = Embedder()
    # Clean builds of the old and the new corpus: what every faulted index must answer like.
    expected: dict[str, list] = {}
    clean: dict[str, Path] = {}
    for state, docs in (("before", BEFORE), ("after", AFTER)):
        corpus = work / f"clean-{state}-corpus"
        write_corpus(corpus, docs)
        clean[state] = work / f"clean-{state}-index"
        shutil.rmtree(clean[state], ignore_errors=True)
        build_index(corpus, clean[state], embedder=embedder)
        expected[state] = answers(clean[state], embedder)
    if expected["before"] == expected["after"]:
        print("FAIL setup: the old and new corpus answer alike; the kill test could not tell them apart")
        return 1
    kills(work, args.kills, random.Random(args.seed), embedder, clean["before"], expected)
    full_disk(work, embedder, expected)
    damage(work, embedder, clean["after"], work / "clean-after-corpus", expected["after"], args.quick)
    print(f"{'FAIL' if failures else 'PASS'} faults.py: {failures} failure(s)", flush=True)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
