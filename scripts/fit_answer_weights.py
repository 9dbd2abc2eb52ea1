#!/usr/bin/env python3
"""Fit the answer model on the public dev set and write src/policyqa/answer_weights.py.

    python scripts/fit_answer_weights.py [--devset DIR] [--work DIR] [--dry-run]

Two small linear models, plain numpy, no question- or article-specific input:

1. Sentence scores: a listwise softmax over each question's candidate sentences (the sentences
   of its top passages), maximising the probability of the sentences that hold a gold answer
   in the gold paragraph, with an L2 penalty, then refined with a top-1 hinge loss (the best
   right sentence should beat the best wrong one by a margin). Linear because 300 questions
   support few parameters, and because its weights can be read: which signal matters how much.
2. Found or not: a logistic regression on question-level evidence (signals.FOUND_FEATURES),
   positives = the dev questions asked of the full index, negatives = the same questions asked
   of an index without their article. The cut-off is set on cross-validated probabilities so
   that TARGET_FOUND of answerable questions are answered. At 1.0 (the lowest held-out
   probability of an answerable question) CV still abstains on 0.92 of removed-article
   questions (the issue asks 0.8); at 0.99 it would abstain on 0.97 but leave 1% of
   answerable questions unanswered, most of which the sentence model had right.

Both are cross-validated leave-one-document-out (5 folds: a fold's questions, candidates and
negatives never inform its own weights); the figures are printed beside the in-sample ones.
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
from policyqa.answer import DEFAULT_K, AnswerModel, Scored, rescore, select  # noqa: E402
from policyqa.embedding import Embedder  # noqa: E402
from policyqa.signals import FOUND_FEATURES, SENTENCE_FEATURES  # noqa: E402

SENTENCE_L2 = 1e-2  # per standardised weight, relative to the mean loss per question
FOUND_L2 = 1e-2
TARGET_FOUND = 1.0  # quantile of answerable questions answered: the cut-off is the lowest CV probability of one
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


def lodo_models(pos: list[Item], neg: list[tuple[Question, Scored | None]]) -> dict[str, AnswerModel]:
    """One model per held-out document, its threshold set by an inner leave-one-document-out."""
    docs = sorted({q.doc_id for q, _, _ in pos})
    models = {}
    for held in docs:
        p_in = [it for it in pos if it[0].doc_id != held]
        n_in = [it for it in neg if it[0].doc_id != held]
        inner = []
        for d in sorted({q.doc_id for q, _, _ in p_in}):
            m = fit_model([it for it in p_in if it[0].doc_id != d], [it for it in n_in if it[0].doc_id != d],
                          threshold=0.5)
            inner += [rescore(s, m).found_probability for q, s, _ in p_in if q.doc_id == d and s is not None]
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
        cited += (r.candidates.doc_ids[top] == q.doc_id and q.start <= r.candidates.starts[top]
                  and r.candidates.ends[top] <= q.end and contains_answer(texts[0], q.answers))
    abstained = sum(s is None or rescore(s, model_of(q)).found_probability < model_of(q).found_threshold
                    for q, s in neg)
    n = len(pos)
    return {"answer@1": a1 / n, "answer@3": a3 / n, "cited@1": cited / n, "found": found / n,
            "abstain_neg": abstained / len(neg), "sentences": float(np.mean(n_sent)) if n_sent else 0.0}


def gather_data(devset: Path, work: Path, k: int = DEFAULT_K) -> tuple[list[Item], list[tuple[Question, Scored | None]]]:
    embedder = Embedder()
    questions, _, loo = build_indexes(devset, work, embedder=embedder)
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


def write_weights(model: AnswerModel, path: Path, cv: dict[str, float], insample: dict[str, float]) -> None:
    def tup(values) -> str:  # type: ignore[no-untyped-def]
        return "(\n" + "".join(f"    {v:+.6f},  # {name}\n" for name, v in values) + ")"

    text = f'''"""Fitted answer-model constants. GENERATED by scripts/fit_answer_weights.py: do not edit by hand.

Fitted on the public dev set (300 SQuAD questions over 5 articles); leave-one-document-out CV:
answer@1 {cv["answer@1"]:.3f}, answer@3 {cv["answer@3"]:.3f}, cited@1 {cv["cited@1"]:.3f}, found {cv["found"]:.3f},
abstained on removed-article questions {cv["abstain_neg"]:.3f} (in-sample: {insample["answer@1"]:.3f},
{insample["answer@3"]:.3f}, {insample["cited@1"]:.3f}, {insample["found"]:.3f}, {insample["abstain_neg"]:.3f}).
"""

# Sentence score = features . SENTENCE_WEIGHTS (raw features, signals.SENTENCE_FEATURES order).
SENTENCE_WEIGHTS = {tup(zip(SENTENCE_FEATURES, model.sentence_weights))}

# Found probability = sigmoid(((f - FOUND_MEAN) / FOUND_SCALE) . FOUND_WEIGHTS + FOUND_BIAS).
FOUND_MEAN = {tup(zip(FOUND_FEATURES, model.found_mean))}
FOUND_SCALE = {tup(zip(FOUND_FEATURES, model.found_scale))}
FOUND_WEIGHTS = {tup(zip(FOUND_FEATURES, model.found_weights))}
FOUND_BIAS = {model.found_bias:+.6f}
FOUND_THRESHOLD = {model.found_threshold:.6f}  # answers {TARGET_FOUND:.1%} of answerable dev questions (CV)
SELECT_MARGIN = {model.select_margin:.6f}
'''
    path.write_text(text, encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devset", type=Path, default=ROOT / "scripts" / "devset")
    p.add_argument("--work", type=Path, default=ROOT / ".eval-cache")
    p.add_argument("--dry-run", action="store_true", help="print the figures, do not write the weights")
    args = p.parse_args()
    pos, neg = gather_data(args.devset, args.work)
    models = lodo_models(pos, neg)
    cv = evaluate(pos, neg, lambda q: models[q.doc_id])
    held_out = np.array([rescore(s, models[q.doc_id]).found_probability for q, s, _ in pos if s is not None])
    full = fit_model(pos, neg, threshold=threshold_for(held_out))
    insample = evaluate(pos, neg, lambda q: full)
    print("leave-one-document-out CV: " + "  ".join(f"{k} {v:.3f}" for k, v in cv.items()))
    print("in-sample:                 " + "  ".join(f"{k} {v:.3f}" for k, v in insample.items()))
    for name, w in zip(SENTENCE_FEATURES, full.sentence_weights):
        print(f"  {name:14} {w:+.3f}")
    for name, w in zip(FOUND_FEATURES, full.found_weights):
        print(f"  found {name:20} {w:+.3f}")
    print(f"  found threshold {full.found_threshold:.3f}")
    if not args.dry_run:
        out = ROOT / "src" / "policyqa" / "answer_weights.py"
        write_weights(full, out, cv, insample)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
