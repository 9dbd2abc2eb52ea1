#!/usr/bin/env python3
"""Choose how the retriever fuses its dense and lexical halves, by leave-one-document-out CV.

    python scripts/fit_fusion.py [--work DIR] [--dry-run]

Questions: the public SQuAD dev set (300, 5 articles) and the policy dev set's answerable
questions (scripts/policyset/, over the default corpus). For each question the retriever's
candidate pool (the union of each half's top 50, with every raw score) is gathered once; each
setting of the grid below then ranks the pool as `retrieve.fuse` would. Grid: the method
("rrf": weighted reciprocal rank fusion, or "linear": min-max normalised scores), the dense
half's weight against the lexical half's (fixed at 1), and the weights of the contextual
header's dense and lexical scores (headers.py).

Folds are documents (an article of the dev set, or a policy question's first gold document):
each fold's setting is chosen on the other folds' questions, by the mean over both sets of
the reciprocal rank of the first gold passage in the top 10 (each set weighted equally), and
scored on its own questions. The cross-validated figures are printed per fold and pooled,
beside plain BM25, dense search, and equal-weight RRF without headers on the same questions;
the setting chosen on all folds is written to src/policyqa/fusion_weights.py.

Gold passage: SQuAD, from the gold article, overlapping the gold paragraph and holding an
answer; policy, from a listed document and holding an answer. Gold document (policy): the top
passage's document is one the question lists.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import policyset_lib  # noqa: E402
from devset_lib import PLAIN_RRF, ROOT, build_indexes, contains_answer  # noqa: E402

from policyqa import Retriever  # noqa: E402
from policyqa.config import Settings  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402
from policyqa.query.search import Pool, fuse  # noqa: E402

POOL = 50
GRID = [dict(fusion=m, rrf_k=k, dense_weight=wd, lexical_weight=1.0, header_dense_weight=a, header_lexical_weight=b)
        for m, k, wd, a, b in itertools.chain(
            itertools.product(["rrf"], [10, 60], [0.0, 0.25, 0.5, 0.75, 1.0, 1.5], [0.0, 0.5, 1.0],
                              [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]),
            itertools.product(["linear"], [60], [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0], [0.0, 0.5, 1.0],
                              [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]))]
BASE = Settings()


@dataclass
class Item:
    set: str  # "squad" or "policy"
    group: str  # fold
    pool: Pool
    gold: np.ndarray  # per pool member: a gold passage
    gold_doc: np.ndarray  # per pool member: from a gold document
    baselines: dict[str, tuple[list[bool], list[bool]]]  # name -> (gold, gold_doc) of its top 10


def gather(work: Path) -> list[Item]:
    embedder = Embedder()
    items: list[Item] = []
    wide = BASE.with_(header_lexical_weight=1.0)  # the pool's lexical half reaches the header field

    def add(kind: str, reader, question: str, group: str, is_gold, is_gold_doc) -> None:  # type: ignore[no-untyped-def]
        r, plain = retrievers(reader)
        pool = r.candidate_pool(question, POOL)
        if pool is None:
            return
        rows = reader.chunks(pool.ids.tolist())
        parts = [(rows[int(c)].doc_id, rows[int(c)].start, rows[int(c)].end, rows[int(c)].text) for c in pool.ids]
        gold = np.array([is_gold(d, int(s), int(e), t) for d, s, e, t in parts])
        gold_doc = np.array([is_gold_doc(d) for d, _, _, _ in parts])
        base = {}
        for name, hits in (("bm25", r.lexical_search(question, k=10)),
                           ("dense", r.dense_search(question, k=10)),
                           ("rrf-equal", plain.search(question, k=10))):
            base[name] = ([is_gold(h.doc_id, h.start, h.end, h.text) for h in hits],
                          [is_gold_doc(h.doc_id) for h in hits])
        items.append(Item(kind, group, pool, gold, gold_doc, base))

    made: dict[int, tuple[Retriever, Retriever]] = {}

    def retrievers(reader):  # type: ignore[no-untyped-def]
        """Per index, once: the pool's retriever (also serving the bm25 and dense baselines, which
        ignore fusion settings) and the rrf baseline's; each caches the question vectors it embeds."""
        if id(reader) not in made:
            made[id(reader)] = (Retriever(reader, embedder, wide), Retriever(reader, embedder, PLAIN_RRF))
        return made[id(reader)]

    questions, _, _ = build_indexes(ROOT / "scripts" / "devset", work, embedder=embedder)
    squad = Retriever.open(work / "index", embedder=embedder)
    for q in questions:
        add("squad", squad.reader, q.question, q.doc_id,
            lambda d, s, e, t, q=q: d == q.doc_id and s < q.end and e > q.start and contains_answer(t, q.answers),
            lambda d, q=q: d == q.doc_id)
    pqs = [q for q in policyset_lib.load_questions() if q.answerable]
    index, _ = policyset_lib.build_indexes(work, embedder, [], progress=True)
    policy = Retriever.open(index, embedder=embedder)
    for q in pqs:
        add("policy", policy.reader, q.question, q.doc_id,
            lambda d, s, e, t, q=q: d in q.doc_ids and contains_answer(t, q.answers),
            lambda d, q=q: d in q.doc_ids)
    return items


def metrics(gold: list[bool], gold_doc: list[bool]) -> np.ndarray:
    """rr@10, r@1, r@5, doc@1 of one ranked top 10."""
    first = next((i for i, g in enumerate(gold[:10], 1) if g), None)
    return np.array([1 / first if first else 0.0, float(first == 1), float(first is not None and first <= 5),
                     float(bool(gold_doc) and gold_doc[0])])


def table(items: list[Item]) -> np.ndarray:
    """(settings, questions, 4) metrics of every grid setting."""
    out = np.zeros((len(GRID), len(items), 4))
    for g, params in enumerate(GRID):
        s = BASE.with_(**params)
        for i, it in enumerate(items):
            fused, _, _ = fuse(it.pool, s)
            order = np.lexsort((np.arange(len(fused)), -fused))[:10]
            out[g, i] = metrics(list(it.gold[order]), list(it.gold_doc[order]))
    return out


def objective(m: np.ndarray, sets: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Per setting: mean over the sets of the mean rr@10 of the kept questions."""
    parts = [m[:, keep & (sets == name), 0].mean(axis=1) for name in ("squad", "policy") if (keep & (sets == name)).any()]
    return np.mean(parts, axis=0)


def describe(params: dict) -> str:
    return (f"{params['fusion']} k={params['rrf_k']} dense={params['dense_weight']:g} "
            f"header_dense={params['header_dense_weight']:g} header_lexical={params['header_lexical_weight']:g}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / ".eval-cache")
    p.add_argument("--dry-run", action="store_true", help="print the figures, do not write fusion_weights.py")
    args = p.parse_args()
    items = gather(args.work)
    m = table(items)
    sets = np.array([it.set for it in items])
    groups = np.array([f"{it.set}:{it.group}" for it in items])
    cv = np.zeros((len(items), 4))
    print("fold                                                          n  chosen setting (on the other folds)"
          "                         rr@10  doc@1")
    for g in sorted(set(groups)):
        held = groups == g
        best = int(np.argmax(objective(m, sets, ~held)))
        cv[held] = m[best, held]
        print(f"{g[:60]:60} {held.sum():3}  {describe(GRID[best]):58} {cv[held, 0].mean():.3f}  "
              f"{cv[held, 3].mean():.3f}")
    chosen = int(np.argmax(objective(m, sets, np.ones(len(items), dtype=bool))))
    names = ["mrr@10", "r@1", "r@5", "doc@1"]
    print(f"\n{'system':28}" + "".join(f"{s + ' ' + n:>15}" for s in ("squad", "policy") for n in names))

    def row(name: str, values: np.ndarray) -> None:
        cells = [values[sets == s, j].mean() for s in ("squad", "policy") for j in range(4)]
        print(f"{name:28}" + "".join(f"{c:15.3f}" for c in cells))

    for base in ("bm25", "dense", "rrf-equal"):
        row(base, np.array([metrics(*it.baselines[base]) for it in items]))
    row("fused, CV (headline)", cv)
    row("fused, chosen, in-sample", m[chosen])
    print(f"\nchosen on all folds: {describe(GRID[chosen])}")
    if not args.dry_run:
        squad_cv = cv[sets == "squad"].mean(axis=0)
        policy_cv = cv[sets == "policy"].mean(axis=0)
        c = GRID[chosen]
        text = f'''"""Fusion settings for query/search.py. GENERATED by scripts/fit_fusion.py: do not edit by hand.

Chosen on the SQuAD dev set and the policy dev set by leave-one-document-out CV (each fold's
setting chosen on the other folds). Cross-validated: SQuAD mrr@10 {squad_cv[0]:.3f}, r@5 {squad_cv[2]:.3f};
policy mrr@10 {policy_cv[0]:.3f}, document recall@1 {policy_cv[3]:.3f}.
"""

METHOD = {c["fusion"]!r}
RRF_K = {c["rrf_k"]}
DENSE_WEIGHT = {c["dense_weight"]}
LEXICAL_WEIGHT = {c["lexical_weight"]}
HEADER_DENSE_WEIGHT = {c["header_dense_weight"]}
HEADER_LEXICAL_WEIGHT = {c["header_lexical_weight"]}
'''
        out = ROOT / "src" / "policyqa" / "fusion_weights.py"
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
