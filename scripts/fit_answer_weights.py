#!/usr/bin/env python3
"""Fit the answer model on the SQuAD and policy dev sets; write src/policyqa/answer_weights.py.

    python scripts/fit_answer_weights.py [--devset DIR] [--work DIR] [--dry-run]

Two small linear models, plain numpy, no question- or article-specific input:

1. Sentence scores: a listwise softmax over each question's candidate sentences (the sentences
   of its top passages), maximising the probability of the sentences that hold a gold answer
   in the gold paragraph, with an L2 penalty, then refined with a top-1 hinge loss (the best
   right sentence should beat the best wrong one by a margin). Linear because 300 questions
   support few parameters, and because its weights can be read: which signal matters how much.
2. Found or not: a logistic regression on question-level evidence (signals.FOUND_FEATURES),
   positives = answerable questions asked of the full index; negatives = the same questions
   asked of an index without their document, and the policy set's hand-written unanswerable
   questions. The cut-off is the TARGET_FOUND quantile of held-out (inner cross-validated)
   probabilities of answerable questions: on unseen documents it keeps answering about that
   share, and abstains wherever the evidence is weaker. (With the SQuAD set alone the cut-off
   was the lowest held-out probability; over two sets one badly retrieved policy question would
   set it for everybody.)

Both are cross-validated with folds of whole documents (fold_of: each SQuAD article, and the
policy documents in POLICY_FOLDS groups; a fold's questions, candidates and negatives never
inform its own weights or cut-off); the figures are printed per set beside the in-sample ones.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset_lib import ROOT, Question, build_indexes, collect, contains_answer, labels  # noqa: E402

from policyqa import Retriever  # noqa: E402
from policyqa.query.answer import DEFAULT_K, AnswerModel, Scored, rescore, select  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402
from policyqa.query.signals import FOUND_FEATURES, SENTENCE_FEATURES  # noqa: E402

SENTENCE_L2 = 1e-2  # per standardised weight, relative to the mean loss per question
FOUND_L2 = 1e-2
TARGET_FOUND = 0.96  # share of answerable questions (held-out probabilities) the cut-off keeps answering
SELECT_MARGIN = 5.0  # score gap within which further sentences join the answer (answer@3 levels off here)
HINGE_EPOCHS = 200  # top-1 hinge refinement after the softmax fit (see fit_sentence_weights)


# ---- sentence weights: listwise softmax -------------------------------------------------

def fit_sentence_weights(items: list[tuple[np.ndarray, np.ndarray]], l2: float | None = None,
                         iters: int = 1500) -> np.ndarray:
    """items: (features (n, F), labels (n,) in {1, 0, -1}) per question. Returns raw-feature weights."""
    l2 = SENTENCE_L2 if l2 is None else l2
    X, ys, groups = [], [], []
    for g, (feats, lab) in enumerate(items):
        keep = lab >= 0
        if not (lab[keep] == 1).any():
            continue  # no answer among the candidates: nothing to learn about ranking
        X.append(feats[keep])
        ys.append(lab[keep] == 1)
        groups.append(np.full(int(keep.sum()), len(groups)))
    X_all = np.concatenate(X)
    y = np.concatenate(ys).astype(float)
    grp = np.concatenate(groups)
    starts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
    n_q = len(starts)
    mu, sd = X_all.mean(0), X_all.std(0)
    sd[sd < 1e-9] = 1.0
    Z = (X_all - mu) / sd
    w = np.zeros(Z.shape[1])
    m, v = np.zeros_like(w), np.zeros_like(w)
    lr, b1, b2 = 0.05, 0.9, 0.999
    for t in range(1, iters + 1):  # Adam on a convex loss: converges to the same optimum
        s = Z @ w
        s = s - np.repeat(np.maximum.reduceat(s, starts), np.diff(np.r_[starts, len(s)]))
        e = np.exp(s)
        p = e / np.repeat(np.add.reduceat(e, starts), np.diff(np.r_[starts, len(s)]))
        ppos = p * y
        ppos_sum = np.repeat(np.add.reduceat(ppos, starts), np.diff(np.r_[starts, len(s)]))
        grad_s = p - ppos / ppos_sum
        g = Z.T @ grad_s / n_q + 2 * l2 * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-8)
    # The softmax fits every candidate's probability; what is shown is the top sentence. A few
    # epochs of a hinge loss on (best right, best wrong) per question push that margin directly.
    Xq = [Z[starts[i]:(starts[i + 1] if i + 1 < n_q else len(Z))] for i in range(n_q)]
    Yq = [y[starts[i]:(starts[i + 1] if i + 1 < n_q else len(Z))] > 0 for i in range(n_q)]
    for _ in range(HINGE_EPOCHS):
        g = 2 * l2 * w
        for x, pos in zip(Xq, Yq):
            s = x @ w
            best_pos = np.flatnonzero(pos)[np.argmax(s[pos])]
            wrong = np.where(pos, -np.inf, s)
            best_neg = int(np.argmax(wrong))
            if np.isfinite(wrong[best_neg]) and 1.0 + s[best_neg] - s[best_pos] > 0:
                g += (x[best_neg] - x[best_pos]) / n_q
        w -= 0.02 * g
    return w / sd  # scores on raw features (a constant shift per question changes no ranking)


# ---- found or not: logistic regression --------------------------------------------------

def fit_found(F: np.ndarray, y: np.ndarray, l2: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    l2 = FOUND_L2 if l2 is None else l2
    mu, sd = F.mean(0), F.std(0)
    sd[sd < 1e-9] = 1.0
    Z = np.c_[(F - mu) / sd, np.ones(len(F))]
    w = np.zeros(Z.shape[1])
    reg = np.r_[np.full(Z.shape[1] - 1, 2 * l2 * len(F)), 0.0]
    for _ in range(50):  # Newton steps
        p = 1 / (1 + np.exp(-(Z @ w)))
        g = Z.T @ (p - y) + reg * w
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mu, sd, w[:-1], float(w[-1])


def threshold_for(p_pos: np.ndarray, target: float | None = None) -> float:
    """The highest cut-off that still answers ``target`` of the answerable questions."""
    return float(np.quantile(p_pos, 1 - (TARGET_FOUND if target is None else target)))


# ---- the whole model --------------------------------------------------------------------

Item = tuple[Question, Scored | None, np.ndarray]  # question, its candidates, their labels


def fit_model(pos: list[Item], neg: list[tuple[Question, Scored | None]],
              threshold: float | None = None) -> AnswerModel:
    w = fit_sentence_weights([(s.features, lab) for _, s, lab in pos if s is not None])
    provisional = replace(AnswerModel.neutral(), sentence_weights=tuple(w))
    F, y = [], []
    for _, s, _ in pos:
        if s is not None:
            F.append(rescore(s, provisional).found_features)
            y.append(1.0)
    for _, s in neg:
        if s is not None:
            F.append(rescore(s, provisional).found_features)
            y.append(0.0)
    mu, sd, fw, fb = fit_found(np.array(F), np.array(y))
    model = AnswerModel(tuple(w), tuple(mu), tuple(sd), tuple(fw), fb, 0.5, SELECT_MARGIN)
    if threshold is None:
        threshold = threshold_for(np.array([rescore(s, model).found_probability for _, s, _ in pos
                                            if s is not None]))
    return AnswerModel(tuple(w), tuple(mu), tuple(sd), tuple(fw), fb, threshold, SELECT_MARGIN)


POLICY_FOLDS = 5  # the policy set's 18 documents fall into this many folds (whole documents each)


def fold_of(q) -> str:  # type: ignore[no-untyped-def]
    """A question's cross-validation fold: its SQuAD article, or one of POLICY_FOLDS groups of
    whole policy documents (a fold per policy document would mean hundreds of fits)."""
    import zlib

    if hasattr(q, "doc_ids"):
        return f"policy-{zlib.crc32(q.doc_id.encode()) % POLICY_FOLDS}"
    return q.doc_id


def lodo_models(pos: list[Item], neg: list[tuple[Question, Scored | None]]) -> dict[str, AnswerModel]:
    """One model per held-out fold (fold_of), its threshold set by an inner leave-one-fold-out."""
    folds = sorted({fold_of(q) for q, _, _ in pos})
    models = {}
    for held in folds:
        p_in = [it for it in pos if fold_of(it[0]) != held]
        n_in = [it for it in neg if fold_of(it[0]) != held]
        inner = []
        for d in sorted({fold_of(q) for q, _, _ in p_in}):
            m = fit_model([it for it in p_in if fold_of(it[0]) != d], [it for it in n_in if fold_of(it[0]) != d],
                          threshold=0.5)
            inner += [rescore(s, m).found_probability for q, s, _ in p_in if fold_of(q) == d and s is not None]
        models[held] = fit_model(p_in, n_in, threshold=threshold_for(np.array(inner)))
    return models


def evaluate(pos: list[Item], neg: list[tuple[Question, Scored | None]], model_of) -> dict[str, float]:  # type: ignore[no-untyped-def]
    a1 = a3 = cited = found = 0
    n_sent = []
    for q, s, _ in pos:
        if s is None:
            continue
        r = rescore(s, model_of(q))
        if r.found_probability < model_of(q).found_threshold:
            continue
        found += 1
        rows = select(r, 3, model_of(q).select_margin)
        n_sent.append(len(rows))
        texts = [r.candidates.texts[i] for i in rows]
        a1 += contains_answer(texts[0], q.answers)
        a3 += any(contains_answer(t, q.answers) for t in texts)
        top = rows[0]
        c = r.candidates
        cited += q.gold_sentence(c.doc_ids[top], int(c.starts[top]), int(c.ends[top]), texts[0])
    abstained = sum(s is None or rescore(s, model_of(q)).found_probability < model_of(q).found_threshold
                    for q, s in neg)
    n = max(len(pos), 1)
    return {"answer@1": a1 / n, "answer@3": a3 / n, "cited@1": cited / n, "found": found / n,
            "abstain_neg": abstained / max(len(neg), 1), "sentences": float(np.mean(n_sent)) if n_sent else 0.0}


def squad_work(work: Path, attribution: bool = True) -> Path:
    """Where the SQuAD dev indexes are cached; built with Settings(attribution=False) elsewhere."""
    return work if attribution else work / "squad-turns-only"


def gather_data(devset: Path, work: Path, k: int = DEFAULT_K, attribution: bool = True
                ) -> tuple[list[Item], list[tuple[Question, Scored | None]]]:
    embedder = Embedder()
    work = squad_work(work, attribution)
    questions, _, loo = build_indexes(devset, work, embedder=embedder, attribution=attribution)
    full = Retriever.open(work / "index", embedder=embedder)
    pos = []
    for q, (_, s) in zip(questions, collect(full, questions, k)):
        pos.append((q, s, np.array(labels(s, q)) if s is not None else np.zeros(0)))
    neg: list[tuple[Question, Scored | None]] = []
    for doc, index in loo.items():
        sub = Retriever.open(index, embedder=embedder)
        mine = [q for q in questions if q.doc_id == doc]
        neg += [(q, s) for q, (_, s) in zip(mine, collect(sub, mine, k))]
    return pos, neg


def gather_policy(work: Path, k: int = DEFAULT_K, attribution: bool = True
                  ) -> tuple[list[Item], list[tuple[Question, Scored | None]], list[tuple[Question, Scored | None]]]:
    """The policy dev set: answerable questions on the default corpus's index; negatives of two
    kinds, questions whose document was removed and the hand-written unanswerable ones.
    ``attribution=False``: on indexes built with speakers from turns only (the system before
    speaker attribution, which eval.py compares against)."""
    import policyset_lib

    embedder = Embedder()
    questions = policyset_lib.load_questions()
    index, loo = policyset_lib.build_indexes(work, embedder, questions, attribution=attribution)
    full = Retriever.open(index, embedder=embedder)
    texts = {d: full.document(d).text for d in full.doc_ids()}
    answerable = [q for q in questions if q.answerable]
    pos = [(q, s, np.array(policyset_lib.labels(s, q)) if s is not None else np.zeros(0))
           for q, (_, s) in zip(answerable, collect(full, answerable, k))]
    unanswerable = [q for q in questions if not q.answerable]
    written = [(q, s) for q, (_, s) in zip(unanswerable, collect(full, unanswerable, k))]
    removed: list[tuple[Question, Scored | None]] = []
    negatives = policyset_lib.removed_negatives(answerable, texts)
    for doc, path in loo.items():
        mine = [q for q in negatives if q.doc_ids[0] == doc]
        if mine:
            sub = Retriever.open(path, embedder=embedder)
            removed += [(q, s) for q, (_, s) in zip(mine, collect(sub, mine, k))]
    return pos, removed, written


def write_weights(model: AnswerModel, path: Path, figures: dict[str, tuple[dict[str, float], dict[str, float]]]) -> None:
    def tup(values) -> str:  # type: ignore[no-untyped-def]
        return "{\n" + "".join(f"    {name!r}: {v:+.6f},\n" for name, v in values) + "}"

    (sq, sq_in), (po, po_in), (un, _) = figures["squad"], figures["policy"], figures["policy-unanswerable"]
    text = f'''"""Fitted answer-model constants. GENERATED by scripts/fit_answer_weights.py: do not edit by hand.

Fitted on the public SQuAD dev set (300 questions, 5 articles) and the policy dev set
(scripts/policyset/: answerable questions over 18 primary sources, their removed-document
negatives and the hand-written unanswerable questions). Cross-validated, folds of whole documents:
SQuAD answer@1 {sq["answer@1"]:.3f}, answer@3 {sq["answer@3"]:.3f}, cited@1 {sq["cited@1"]:.3f}, found {sq["found"]:.3f},
abstained on removed articles {sq["abstain_neg"]:.3f} (in-sample cited@1 {sq_in["cited@1"]:.3f});
policy answer@1 {po["answer@1"]:.3f}, answer@3 {po["answer@3"]:.3f}, found {po["found"]:.3f}, abstained on removed
documents {po["abstain_neg"]:.3f}, on unanswerable questions {un["abstain_neg"]:.3f} (in-sample answer@1 {po_in["answer@1"]:.3f}).
"""

# Sentence score = features . SENTENCE_WEIGHTS (raw features, by name; answer.py checks the names).
SENTENCE_WEIGHTS = {tup(zip(SENTENCE_FEATURES, model.sentence_weights))}

# Found probability = sigmoid(((f - FOUND_MEAN) / FOUND_SCALE) . FOUND_WEIGHTS + FOUND_BIAS).
FOUND_MEAN = {tup(zip(FOUND_FEATURES, model.found_mean))}
FOUND_SCALE = {tup(zip(FOUND_FEATURES, model.found_scale))}
FOUND_WEIGHTS = {tup(zip(FOUND_FEATURES, model.found_weights))}
FOUND_BIAS = {model.found_bias:+.6f}
FOUND_THRESHOLD = {model.found_threshold:.6f}  # answers {TARGET_FOUND:.1%} of answerable questions (held-out)
SELECT_MARGIN = {model.select_margin:.6f}
'''
    path.write_text(text, encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devset", type=Path, default=ROOT / "scripts" / "devset")
    p.add_argument("--work", type=Path, default=ROOT / ".eval-cache")
    p.add_argument("--dry-run", action="store_true", help="print the figures, do not write the weights")
    args = p.parse_args()
    squad_pos, squad_neg = gather_data(args.devset, args.work)
    policy_pos, removed, written = gather_policy(args.work)
    pos, neg = squad_pos + policy_pos, squad_neg + removed + written
    models = lodo_models(pos, neg)
    held_out = np.array([rescore(s, models[fold_of(q)]).found_probability for q, s, _ in pos if s is not None])
    full = fit_model(pos, neg, threshold=threshold_for(held_out))
    figures = {}
    for name, p_, n_ in (("squad", squad_pos, squad_neg), ("policy", policy_pos, removed),
                         ("policy-unanswerable", [], written)):
        figures[name] = (evaluate(p_, n_, lambda q: models[fold_of(q)]), evaluate(p_, n_, lambda q: full))
    for name, (cv, insample) in figures.items():
        print(f"{name}: leave-folds-out CV: " + "  ".join(f"{k} {v:.3f}" for k, v in cv.items()))
        print(f"{name}: in-sample:          " + "  ".join(f"{k} {v:.3f}" for k, v in insample.items()))
    cv, insample = figures["squad"]
    for name, w in zip(SENTENCE_FEATURES, full.sentence_weights):
        print(f"  {name:14} {w:+.3f}")
    for name, w in zip(FOUND_FEATURES, full.found_weights):
        print(f"  found {name:20} {w:+.3f}")
    print(f"  found threshold {full.found_threshold:.3f}")
    if not args.dry_run:
        out = ROOT / "src" / "policyqa" / "answer_weights.py"
        write_weights(full, out, figures)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
