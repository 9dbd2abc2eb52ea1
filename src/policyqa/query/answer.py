"""Question (+ history) -> Answer: verbatim sentences chosen from the retrieved passages.

    effective query (follow-up resolved)  ->  hits (hybrid search, one model call)
      -> candidate sentences of those passages (index-time vectors and terms)
      -> features (signals.py) -> linear score (weights fitted on the dev set, answer_weights.py)
      -> found? (a second fitted model, calibrated with negatives) -> diverse top sentences
      -> figures table for questions about quantities

Every quoted sentence is ``document.text[start:end]`` of the indexed document, so quotes are
verbatim by construction; ``verify`` re-checks one against the file on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..sanitize import MAX_QUESTION_CHARS
from ..schema import Answer, AnswerSentence, Citation, Coverage, Hit, SourceView, Verification
from . import answer_weights as W
from .coverage import COVERAGE_POOL, PER_DOCUMENT_HITS, SENTENCES_PER_SOURCE, build_coverage, source_view
from .figures import figures_for
from .followup import resolve
from .search import Searcher, check_search
from .sentences import Candidates, gather, term_cache
from .signals import FOUND_FEATURES, SENTENCE_FEATURES, Question, analyse, found_features, sentence_features

DEFAULT_K = 10  # passages whose sentences compete (and hits returned); chosen on the dev set
MAX_SENTENCES = 3
NEAR_DUPLICATE = 0.9  # cosine between two sentences above which the lower-ranked one is dropped


@dataclass(frozen=True)
class AnswerModel:
    """The fitted combination: sentence-score weights and the found/not-found classifier."""

    sentence_weights: tuple[float, ...]  # one per SENTENCE_FEATURES, in its order
    found_mean: tuple[float, ...]  # standardisation of FOUND_FEATURES
    found_scale: tuple[float, ...]
    found_weights: tuple[float, ...]
    found_bias: float
    found_threshold: float  # probability cut-off, calibrated on answerable and removed-article questions
    select_margin: float  # extra sentences must score within this of the best one

    @classmethod
    def neutral(cls) -> "AnswerModel":
        """All weights zero: candidates and features without a fitted model (what fitting starts from)."""
        n, m = len(SENTENCE_FEATURES), len(FOUND_FEATURES)
        return cls((0.0,) * n, (0.0,) * m, (1.0,) * m, (0.0,) * m, 0.0, 0.5, float("inf"))

    def found_probability(self, found_feats: np.ndarray) -> float:
        z = (found_feats - np.asarray(self.found_mean)) / np.asarray(self.found_scale)
        logit = float(z @ np.asarray(self.found_weights) + self.found_bias)
        return float(0.5 * (1.0 + np.tanh(logit / 2)))  # the logistic function, without overflow


def _by_name(weights: dict[str, float], names: tuple[str, ...], what: str) -> tuple[float, ...]:
    """``weights`` (a dict keyed by feature name) in the order ``names`` are computed; the two
    lists must name the same features, or the weights file belongs to other code."""
    if set(weights) != set(names):
        missing, extra = sorted(set(names) - set(weights)), sorted(set(weights) - set(names))
        raise ValueError(f"answer_weights.{what} does not match the features (missing {missing}, unknown "
                         f"{extra}): run scripts/fit_answer_weights.py")
    return tuple(float(weights[n]) for n in names)


DEFAULT_MODEL = AnswerModel(
    sentence_weights=_by_name(W.SENTENCE_WEIGHTS, SENTENCE_FEATURES, "SENTENCE_WEIGHTS"),
    found_mean=_by_name(W.FOUND_MEAN, FOUND_FEATURES, "FOUND_MEAN"),
    found_scale=_by_name(W.FOUND_SCALE, FOUND_FEATURES, "FOUND_SCALE"),
    found_weights=_by_name(W.FOUND_WEIGHTS, FOUND_FEATURES, "FOUND_WEIGHTS"),
    found_bias=W.FOUND_BIAS, found_threshold=W.FOUND_THRESHOLD, select_margin=W.SELECT_MARGIN)


@dataclass(frozen=True)
class Scored:
    """Every candidate sentence of one question, scored (what the fit script learns from)."""

    question: Question
    hits: tuple[Hit, ...]
    candidates: Candidates
    features: np.ndarray  # (n, len(SENTENCE_FEATURES))
    scores: np.ndarray  # linear score per candidate
    order: np.ndarray  # candidate rows, best first
    found_features: np.ndarray  # (len(FOUND_FEATURES),)
    found_probability: float


def score(searcher: Searcher, query: str, hits: list[Hit], model: AnswerModel = DEFAULT_MODEL) -> Scored | None:
    """Score every sentence of ``hits`` for ``query``; None when the passages hold no sentence."""
    q = analyse(query, term_cache(searcher.reader))
    cands = gather(searcher.reader, hits)
    if len(cands) == 0:
        return None
    qvec = searcher.embed_query(query)  # cached: the search just embedded the same text
    feats = sentence_features(q, qvec, cands, hits)
    return rescore(Scored(question=q, hits=tuple(hits), candidates=cands, features=feats,
                          scores=np.zeros(0), order=np.zeros(0, dtype=np.int64),
                          found_features=np.zeros(0), found_probability=0.0), model)


def rescore(scored: Scored, model: AnswerModel) -> Scored:
    """The same candidates and features under another model (the fit script's cross-validation)."""
    if len(model.sentence_weights) != scored.features.shape[1] or len(model.found_weights) != len(FOUND_FEATURES):
        raise ValueError("answer weights do not match the features: run scripts/fit_answer_weights.py")
    scores = scored.features @ np.asarray(model.sentence_weights)
    order = np.argsort(-scores, kind="stable")
    ff = found_features(scored.question, scored.features, scores, order, scored.candidates)
    return replace(scored, scores=scores, order=order, found_features=ff,
                   found_probability=model.found_probability(ff))


def select(scored: Scored, max_sentences: int = MAX_SENTENCES, margin: float = float("inf"),
           shown: Callable[[int], bool] | None = None) -> list[int]:
    """The best sentence, then up to ``max_sentences - 1`` more that each add something:
    not a near-duplicate of one already chosen (the same sentence in an overlapping passage, or
    a repeated boilerplate line), holding terms the chosen ones do not, and scoring within
    ``margin`` of the best. Sentences the conversation already showed (``shown``) are passed
    over while others qualify: a follow-up should move the answer on, not repeat it."""
    cands = scored.candidates
    for skip in ((shown,) if shown else ()) + (None,):
        chosen: list[int] = []
        seen_terms: set[str] = set()
        for row in scored.order:
            row = int(row)
            if len(chosen) >= max_sentences:
                break
            if skip is not None and skip(row):
                continue
            if chosen and scored.scores[row] < scored.scores[chosen[0]] - margin:
                break
            vec = cands.vectors[row]
            if any(float(vec @ cands.vectors[c]) >= NEAR_DUPLICATE for c in chosen):
                continue
            new = set(cands.terms[row]) - seen_terms
            if chosen and not new:
                continue
            chosen.append(row)
            seen_terms |= set(cands.terms[row])
        if chosen and (skip is None or scored.scores[chosen[0]] >= scored.scores[scored.order[0]] - margin):
            return chosen
    return []


def _shown(history: list | None) -> Callable[[Scored, int], bool]:
    """Whether a candidate was already quoted earlier in the conversation."""
    spans, texts = set(), []
    for item in history or ():
        if isinstance(item, Answer):
            spans |= {(s.citation.doc_id, s.citation.start) for s in item.sentences}
        elif isinstance(item, dict) and item.get("role") == "assistant" and isinstance(item.get("content"), str):
            texts.append(" ".join(item["content"].split()))

    def shown(scored: Scored, row: int) -> bool:
        c = scored.candidates
        if (c.doc_ids[row], int(c.starts[row])) in spans:
            return True
        quote = " ".join(c.texts[row].split())
        return any(quote in t for t in texts)

    return shown


def answer_question(searcher: Searcher, question: str, history: list | None = None, *, k: int = DEFAULT_K,
                    max_sentences: int = MAX_SENTENCES, doc_ids: list[str] | None = None,
                    date_from: str | None = None, date_to: str | None = None,
                    speakers: list[str] | None = None,
                    threshold: float | None = None, model: AnswerModel = DEFAULT_MODEL,
                    coverage: bool = False) -> Answer:
    """See ``Retriever.ask``. ``threshold`` overrides the calibrated found-probability cut-off;
    ``model`` the fitted weights (evaluation passes cross-validated ones); ``speakers`` keeps
    passages spoken by one of them (``Retriever.search``); ``coverage`` adds ``Answer.coverage``:
    every relevant document, whether it addresses the question, by date (coverage.py)."""
    question, k, doc_ids, date_from, date_to = check_search(question, k, doc_ids, date_from, date_to)
    effective = resolve(question, history)[:MAX_QUESTION_CHARS]
    hits = searcher.search(effective, k=k, doc_ids=doc_ids, date_from=date_from, date_to=date_to,
                            speakers=speakers)
    scored = score(searcher, effective, hits, model) if hits else None
    answer = build_answer(searcher, question, effective, hits, scored, model, threshold=threshold,
                          max_sentences=max_sentences, shown=_shown(history) if history else None)
    if coverage:
        answer = replace(answer, coverage=coverage_of(searcher, effective, model, threshold=threshold,
                                                      doc_ids=doc_ids, date_from=date_from, date_to=date_to,
                                                      speakers=speakers))
    return answer


def coverage_of(searcher: Searcher, query: str, model: AnswerModel = DEFAULT_MODEL, *,
                threshold: float | None = None, doc_ids: list[str] | None = None, date_from: str | None = None,
                date_to: str | None = None, speakers: list[str] | None = None) -> Coverage:
    """Every document a wide search finds for ``query``, each asked alone: its passages from that
    search scored as an answer is, and whether the found classifier says they answer (coverage.py)."""
    cut = model.found_threshold if threshold is None else threshold
    pool = searcher.search(query, k=COVERAGE_POOL, doc_ids=doc_ids, date_from=date_from, date_to=date_to,
                           speakers=speakers)
    by_doc: dict[str, list[Hit]] = {}
    for h in pool:
        by_doc.setdefault(h.doc_id, []).append(h)
    # The best sentence of the whole pool, for the answer model's own rule for further sentences:
    # a document addresses the question when its passages alone are answered (found) *and* its best
    # sentence scores within SELECT_MARGIN of the pool's best, as an extra sentence of an answer must.
    # Scores compared on one footing: every candidate of the pool scored together.
    overall = score(searcher, query, pool, model) if pool else None
    doc_best: dict[str, float] = {}
    if overall is not None:
        for d, sc in zip(overall.candidates.doc_ids, overall.scores.tolist()):
            doc_best[d] = max(doc_best.get(d, float("-inf")), sc)
    best = max(doc_best.values(), default=float("-inf"))
    views: list[SourceView] = []
    for doc_id, doc_hits in by_doc.items():
        doc_hits = doc_hits[:PER_DOCUMENT_HITS]
        doc = searcher.document(doc_id)
        scored = score(searcher, query, doc_hits, model)
        if scored is None:
            views.append(source_view(doc_id, doc.title, doc.meta.date, doc.meta.published, doc_hits, [], 0.0, False))
            continue
        answers = (scored.found_probability >= cut
                   and doc_best.get(doc_id, float("-inf")) >= best - model.select_margin)
        rows = select(scored, SENTENCES_PER_SOURCE, model.select_margin) if answers else []
        views.append(source_view(doc_id, doc.title, doc.meta.date, doc.meta.published, _rank_hits(scored),
                                 [_sentence(searcher, scored, r) for r in rows], scored.found_probability,
                                 answers and bool(rows)))
    return build_coverage(query, views)


def build_answer(searcher: Searcher, question: str, effective: str, hits: list[Hit], scored: Scored | None,
                 model: AnswerModel = DEFAULT_MODEL, *, threshold: float | None = None,
                 max_sentences: int = MAX_SENTENCES,
                 shown: Callable[[Scored, int], bool] | None = None) -> Answer:
    """Scored candidates -> Answer: abstain, or quote the chosen sentences with their citations."""
    if scored is None:
        return Answer(question=question, effective_query=effective, found=False, sentences=(),
                      hits=tuple(hits), related=tuple(hits[:3]))
    cut = model.found_threshold if threshold is None else threshold
    ranked = _rank_hits(scored)
    if scored.found_probability < cut:
        return Answer(question=question, effective_query=effective, found=False, sentences=(),
                      hits=ranked, related=ranked[:3], confidence=scored.found_probability)
    rows = select(scored, max_sentences, model.select_margin,
                  (lambda row: shown(scored, row)) if shown else None)
    sentences = tuple(_sentence(searcher, scored, row) for row in rows)
    return Answer(question=question, effective_query=effective, found=True, sentences=sentences,
                  figures=figures_for(effective, sentences), hits=ranked, related=(),
                  confidence=scored.found_probability)


def _rank_hits(scored: Scored) -> tuple[Hit, ...]:
    """The passages in the order of their best sentence: the one holding the answer first."""
    best = [float(scored.scores[rows].max()) if len(rows) else -np.inf for rows in scored.candidates.members]
    order = sorted(range(len(scored.hits)), key=lambda h: (-best[h], h))
    # Hit(**...) rather than dataclasses.replace, which re-reads the fields on every call.
    return tuple(Hit(**{**vars(scored.hits[h]), "rank": i}) for i, h in enumerate(order, 1))


def _sentence(searcher: Searcher, scored: Scored, row: int) -> AnswerSentence:
    cands = scored.candidates
    hit = scored.hits[int(cands.hit[row])]
    doc = searcher.document(hit.doc_id)
    start, end = int(cands.starts[row]), int(cands.ends[row])
    source_span = doc.source_span(start, end) or (None, None)
    cite = Citation(quote=doc.text[start:end], doc_id=doc.doc_id, path=doc.path, title=doc.title,
                    source=doc.meta.source, date=doc.meta.date, author=doc.meta.author,
                    publisher=doc.meta.publisher, page=doc.page_at(start), start=start, end=end,
                    chunk_id=hit.chunk_id, chunk_start=hit.start, chunk_end=hit.end,
                    content_hash=doc.content_hash,
                    speaker=cands.speakers[row] if cands.speakers else doc.speaker_at(start),
                    speaker_how=cands.speakers_how[row] if cands.speakers_how else None,
                    source_start=source_span[0], source_end=source_span[1])
    return AnswerSentence(text=cite.quote, citation=cite, score=float(scored.scores[row]))


def verify(citation: Citation) -> Verification:
    """Re-read the cited file and check the quote is still at its offsets.

    ``stale`` means the file changed (or vanished) since it was indexed; ``ok`` means the quote
    is still exactly at ``start:end`` of the file's text as policyqa reads it now and, when the
    citation has a source span (txt, md), that the file's own characters at
    ``source_start:source_end`` are the quote once markup is stripped and spaces squeezed.
    """
    from pathlib import Path

    from ..errors import DocumentError
    from ..ingest.documents import decode_text, load_document
    from ..ingest.textmap import source_matches

    try:
        doc = load_document(citation.path, max_file_mb=float("inf"))
    except DocumentError as exc:
        return Verification(ok=False, stale=True, reason=exc.reason)
    at_offsets = doc.text[citation.start:citation.end] == citation.quote
    in_source = True
    if at_offsets and citation.source_start is not None and citation.source_end is not None:
        path = Path(citation.path)
        try:
            source = decode_text(path, path.read_bytes())
        except (OSError, DocumentError) as exc:
            return Verification(ok=False, stale=True, reason=f"cannot re-read the file: {exc}")
        in_source = source_matches(source, citation.source_start, citation.source_end, citation.quote, doc.kind)
        at_offsets = in_source
    if doc.content_hash != citation.content_hash:
        return Verification(ok=at_offsets, stale=True, reason="file changed since it was indexed"
                            + ("; the quote is still at its offsets" if at_offsets
                               else "; the quote moved or changed: re-index with `policyqa index`"))
    if not at_offsets:
        return Verification(ok=False, stale=False, reason="quote not found at its offsets" if in_source
                            else "quote not found at its source span in the file")
    return Verification(ok=True, stale=False, reason="quote verified against the file")


__all__ = ["AnswerModel", "DEFAULT_MODEL", "FOUND_FEATURES", "SENTENCE_FEATURES", "Scored", "answer_question",
           "build_answer", "coverage_of", "rescore", "score", "select", "verify"]
