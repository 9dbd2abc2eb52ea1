"""Speaker accuracy of policyqa.ingest.attribution on the hand-labelled set, beside a baseline.

Reads scripts/attribution/sentences.jsonl, loads each document with the product's own loader and
sentence cutter (documents.load_document, chunking.segment as the indexer calls them, without the
embedding model's word-piece limit), finds every
labelled sentence in the cut, and prints, per part (dev, held-out) and kind of context (transcript
turns, remarks, reported speech, no speaker), how often the speaker is the right person:

- module: ``attribution.attribute_document``;
- baseline: the nearest capitalised name before the sentence's end (a run of two to four
  capitalised words, e.g. "Sam Altman", "President Biden"), or none if the text before has none.

A speaker is right when it names the same person as the label (titles, honorifics, party tags and
"Jr." ignored; one name's words within the other's, or the same surname and first initial: "Joe
Biden" = "Joseph R. Biden Jr." = "President Biden"); "Q" (an unnamed reporter) only matches "Q"; on
no-speaker sentences only None is right.

    PYTHONPATH=src python scripts/eval_attribution.py                 # both parts
    PYTHONPATH=src python scripts/eval_attribution.py --errors dev    # and the dev part's misses
    PYTHONPATH=src python scripts/eval_attribution.py --whosaid       # speakers of the who-said set's evidence

--whosaid: for each answerable question of scripts/policyset/whosaid.jsonl, the speaker given to its
evidence sentence (located in the product's own cut) by the module, by today's product (a sentence's
speaker is its turn's, ``Document.speaker_at``) and by the baseline, against the question's gold speaker.
This is not answer@1 (that needs the index and retrieval); it is the ceiling attribution puts on it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policyqa.ingest.attribution import attribute_document  # noqa: E402
from policyqa.ingest.chunking import segment  # noqa: E402
from policyqa.config import ChunkSettings  # noqa: E402
from policyqa.ingest.documents import load_document  # noqa: E402

SET = ROOT / "scripts" / "attribution" / "sentences.jsonl"
WHOSAID = ROOT / "scripts" / "policyset" / "whosaid.jsonl"
CORPUS = ROOT / "corpus"
KINDS = [("turn", "transcript turns"), ("remarks", "remarks"), ("reported", "readouts / reported speech"),
         ("none", "no speaker")]
TARGET = {"turn": 0.95, "remarks": 0.95, "reported": 0.85}

_TITLE = re.compile(r"\b(?:the|president|vice|prime|minister|sen|senator|rep|representative|mr|ms|mrs|dr|prof|"
                    r"secretary|chairman|chair|ceo|jr|sr|ii|iii|apnsa|national|security|advisor)\b")


def _words(name: str) -> list[str]:
    name = re.sub(r"\([^)]*\)", " ", name.lower())
    name = re.sub(r"[^\w\s-]", " ", name)
    return [w for w in _TITLE.sub(" ", name).split() if len(w) > 1 or w.isalpha()]


def same_person(gold: str | None, got: str | None) -> bool:
    if gold is None or got is None:
        return gold is None and got is None
    if gold == "Q" or got == "Q":
        return gold == got
    a, b = _words(gold), _words(got)
    if not a or not b:
        return False
    if set(a) <= set(b) or set(b) <= set(a):
        return True
    return a[-1] == b[-1] and a[0][0] == b[0][0]


_CAP = r"[A-Z][a-z’'.-]+|[A-Z]\."
_BASE = re.compile(rf"\b(?:{_CAP})(?:\s+(?:{_CAP})){{1,3}}")
_NOT_FIRST = {"The", "A", "An", "In", "On", "At", "And", "But", "Or", "So", "As", "For", "To", "Of", "By", "With",
              "From", "If", "When", "While", "Today", "This", "That", "We", "I", "It", "He", "She", "They", "You",
              "Our", "Their", "His", "Her", "Its", "My", "Your", "Thank", "Well", "Now", "Then", "There", "Here"}


def baseline(text: str, end: int) -> str | None:
    """The nearest capitalised name (two to four capitalised words) ending before ``end``."""
    window = text[max(0, end - 4000):end]
    best = None
    for m in _BASE.finditer(window):
        words = m.group().split()
        while words and words[0] in _NOT_FIRST:
            words.pop(0)
        if len(words) >= 2:
            best = " ".join(words)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["dev", "heldout", "all"], default="all", help="which part to score (default: both)")
    ap.add_argument("--errors", choices=["dev", "heldout", "all"], help="also list the module's misses in this part")
    ap.add_argument("--show", action="store_true", help="list every scored sentence with gold and module speaker")
    ap.add_argument("--whosaid", action="store_true", help="score the who-said set's evidence sentences instead")
    args = ap.parse_args()
    if args.whosaid:
        return whosaid()
    t0 = time.perf_counter()
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if args.part in ("all", r["part"])]
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_doc[r["doc_id"]].append(r)
    score = defaultdict(lambda: [0, 0, 0])  # (part, kind) -> [module right, baseline right, n]
    how_count = defaultdict(int)
    errors = []
    for doc_id, items in sorted(by_doc.items()):
        doc = load_document(CORPUS / doc_id, CORPUS)
        segs = segment(doc.text, ChunkSettings(), soft_wraps=doc.kind != "md")
        spans = [(s.start, s.end) for s in segs]
        attributions = attribute_document(doc, spans)
        texts = [s.text for s in segs]
        for r in items:
            hits = [i for i, t in enumerate(texts) if t == r["sentence"]]
            if len(hits) <= r["occurrence"]:
                print(f"{r['id']}: sentence not found in {doc_id} (set out of date?)", file=sys.stderr)
                return 2
            i = hits[r["occurrence"]]
            got = attributions[i]
            base = baseline(doc.text, segs[i].end)
            cell = score[(r["part"], r["kind"])]
            ok = same_person(r["speaker"], got.speaker)
            cell[0] += ok
            cell[1] += same_person(r["speaker"], base)
            cell[2] += 1
            how_count[(r["part"], got.how)] += 1
            if args.show:
                print(f"{'  ' if ok else 'XX'} {r['id']} {r['kind'][:4]:4} gold={r['speaker']!r} got={got.speaker!r} ({got.how})")
            if not ok and args.errors in (r["part"], "all"):
                errors.append(f"  {r['id']} [{r['part']}/{r['kind']}] gold={r['speaker']!r} got={got.speaker!r} "
                              f"({got.how}) baseline={base!r}\n      {r['sentence'][:150]}")
    print(f"speaker accuracy on {SET.relative_to(ROOT)} ({len(rows)} sentences; "
          f"module = policyqa.ingest.attribution, baseline = nearest preceding capitalised name)")
    for part in ("dev", "heldout"):
        if args.part not in ("all", part):
            continue
        print(f"\n{part}:")
        print(f"  {'kind':30} {'n':>4} {'module':>8} {'baseline':>9}  target")
        tot = [0, 0, 0]
        for kind, name in KINDS:
            m, b, n = score[(part, kind)]
            if not n:
                continue
            tot = [tot[0] + m, tot[1] + b, tot[2] + n]
            target = f">= {TARGET[kind]:.2f}" if kind in TARGET else ""
            print(f"  {name:30} {n:4d} {m / n:8.3f} {b / n:9.3f}  {target}")
        print(f"  {'all':30} {tot[2]:4d} {tot[0] / tot[2]:8.3f} {tot[1] / tot[2]:9.3f}")
        hows = ", ".join(f"{h} {how_count[(part, h)]}" for h in ("turn", "remarks", "reported", "quote", "coref", "none")
                         if how_count[(part, h)])
        print(f"  module's decisions: {hows}")
    if errors:
        print(f"\nmodule misses ({args.errors}):")
        print("\n".join(errors))
    print(f"\n{len(by_doc)} documents, {time.perf_counter() - t0:.1f} s")
    return 0


def whosaid() -> int:
    t0 = time.perf_counter()
    items = [json.loads(line) for line in WHOSAID.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [q for q in items if q["answerable"]]
    score = defaultdict(lambda: [0, 0, 0, 0])  # (part, form) -> module, today's product, baseline, n
    cache: dict[str, tuple] = {}
    for q in items:
        doc_id = q["doc_ids"][0]
        if doc_id not in cache:
            doc = load_document(CORPUS / doc_id, CORPUS)
            segs = segment(doc.text, ChunkSettings(), soft_wraps=doc.kind != "md")
            cache[doc_id] = (doc, segs, attribute_document(doc, [(s.start, s.end) for s in segs]))
        doc, segs, atts = cache[doc_id]
        hits = [i for i, s in enumerate(segs) if s.text == q["evidence"]]
        if not hits:
            print(f"{q['qid']}: evidence not found in {doc_id}", file=sys.stderr)
            return 2
        i = hits[0]
        cell = score[(q["part"], q["form"])]
        cell[0] += same_person(q["speaker"], atts[i].speaker)
        cell[1] += same_person(q["speaker"], doc.speaker_at(segs[i].start))
        cell[2] += same_person(q["speaker"], baseline(doc.text, segs[i].end))
        cell[3] += 1
    print(f"speaker of the evidence sentence, {WHOSAID.relative_to(ROOT)} ({len(items)} answerable questions)")
    print(f"  {'part':8} {'form':18} {'n':>3} {'module':>7} {'today':>6} {'baseline':>9}")
    for part in ("dev", "heldout", "all"):
        forms = sorted({f for p, f in score if part in ("all", p)})
        for form in forms + ["all"]:
            cells = [c for (p, f), c in score.items() if part in ("all", p) and form in ("all", f)]
            m, t, b, n = (sum(c[k] for c in cells) for k in range(4))
            if n and (form == "all" or part != "all"):
                print(f"  {part:8} {form:18} {n:3d} {m / n:7.3f} {t / n:6.3f} {b / n:9.3f}")
    print(f"({time.perf_counter() - t0:.1f} s; today = Document.speaker_at, the turn's speaker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
