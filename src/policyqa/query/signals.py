"""Question + candidate sentences -> a feature matrix, one row per sentence.

The signals are generic (nothing here knows a particular question, article or answer):
sentence-embedding similarity, lexical match weighted by the index's own idf (so rare terms,
names and numbers count most), exact phrases and names, answer-type cues (a "when" question
wants a date, "how many" a number...), the passage's retrieval scores and the sentence's
neighbours. How they are combined is learned on the dev set (scripts/fit_answer_weights.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..schema import Hit
from .sentences import Candidates, TermCache, terms

# ---- question analysis ------------------------------------------------------------------

# Expected answer types, from the question's wording. Order does not matter: a question can
# want several ("how much did it cost" -> number and money).
_QTYPES: dict[str, re.Pattern[str]] = {
    "number": re.compile(r"\bhow (many|much|long|far|old|large|big|tall|high|deep|wide|often)\b"
                         r"|\bnumber of\b|\bpopulation\b|\bwhat (size|amount)\b"),
    "date": re.compile(r"^when\b|\bwhen (did|was|were|is|does|do|will|had|has|are)\b"
                       r"|\b(what|which|in what|in which) (year|years|date|century|decade|month|day|time|period|era)\b"
                       r"|\bhow long ago\b"),
    # Generic nouns for people and roles, not words of any evaluation article (the cue lists
    # must not encode the dev set: see the README's evaluation section).
    "person": re.compile(r"\bwho(m|se)?\b|\b(what|which) (person|persons|people|man|woman|men|women|individual"
                         r"|leader|leaders|official|officials|member|members|speaker|author|founder|head|chief"
                         r"|ruler|figure)\b"),
    "place": re.compile(r"\bwhere\b|\b(what|which|in what|in which) (city|cities|country|countries|place|region"
                        r"|area|town|state|province|nation|continent|location|river|island|site|land)\b"),
    "money": re.compile(r"\bhow much\b|\b(cost|costs|price|prices|fee|fees|salary|budget|spend|spent"
                        r"|paid|pay|worth|funding|revenue|investment|invest|invested)\b"),
    "percent": re.compile(r"\b(percent|percentage|per cent|share|proportion|fraction)\b"),
    "reason": re.compile(r"\bwhy\b|\bwhat (caused|causes|led to)\b|\breason\b"),
    "name": re.compile(r"\b(what|which) (is|was|were|are) the name\b|\bcalled\b|\bnamed\b|\bknown as\b"
                       r"|\bterm\b|\btitle\b"),
}
QTYPES = tuple(_QTYPES)

# Words that shape a question but say nothing about its topic; the index keeps most of them
# (its stop-word list is short), so they would otherwise count as terms to match.
_QUESTION_WORDS = frozenset(terms(["what which who whom whose when where why how whatever do does did done has "
                                   "have had was were is are be been being can could would should may might must "
                                   "shall"])[0])

_NAME = re.compile(r"\b(?:[A-Z][\w\-]*|\w*\d[\w\-.,]*\w|\d)")


@dataclass(frozen=True)
class Question:
    text: str
    terms: tuple[str, ...]  # unique stemmed content terms, in order
    idf: np.ndarray  # per term
    in_index: np.ndarray  # bool per term: the index has seen it
    bigrams: frozenset[tuple[str, str]]
    names: tuple[str, ...]  # capitalised words and numbers, as written (lower-cased)
    qtypes: frozenset[str]
    max_idf: float  # idf of a term no passage holds


def analyse(question: str, cache: TermCache) -> Question:
    seq = tuple(t for t in terms([question])[0] if t not in _QUESTION_WORDS)
    uniq = tuple(dict.fromkeys(seq))
    words = question.split()
    # The first word is capitalised because it starts the question, not because it is a name.
    names = tuple(dict.fromkeys(m.group().lower().rstrip(".,") for m in _NAME.finditer(" ".join(words[1:]))
                                if m.group().lower() not in {"i"}))
    low = question.lower().strip()
    return Question(
        text=question, terms=uniq, idf=cache.idf(uniq) if uniq else np.zeros(0),
        in_index=cache.df(uniq) > 0 if uniq else np.zeros(0, dtype=bool),
        bigrams=frozenset(zip(seq, seq[1:])), names=names,
        qtypes=frozenset(t for t, rx in _QTYPES.items() if rx.search(low)),
        max_idf=float(np.log1p((cache.n_docs + 0.5) / 0.5)))


# ---- sentence cues ----------------------------------------------------------------------

_NUMBER_WORDS = (r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fifteen|twenty|thirty"
                 r"|forty|fifty|sixty|hundred|hundreds|thousand|thousands|million|millions|billion|billions"
                 r"|dozen|dozens|half|third|quarter|once|twice")
_SENT_CUES: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I),
    "date": re.compile(r"\b(1\d{3}|20\d{2})s?\b|\b\d{1,2}(st|nd|rd|th) century\b|\bcentur(y|ies)\b"
                       r"|\b(January|February|March|April|May|June|July|August|September|October|November"
                       r"|December)\b|\b(BC|AD|BCE|CE)\b"),
    # Currency symbols and the ISO 4217 names of widely used currencies.
    "money": re.compile(r"[£$€¥₹₩]|\b(dollars?|pounds?|euros?|yen|yuan|renminbi|rupees?|won|francs?"
                        r"|USD|GBP|EUR|JPY|CNY|RMB)\b", re.I),
    "percent": re.compile(r"%|\bper ?cent\b|\bpercentage\b", re.I),
    "reason": re.compile(r"\b(because|due to|as a result|owing to|in order to|so that|since|led to|caused"
                         r"|therefore|thus|reason)\b", re.I),
}
_CAP = re.compile(r"(?<!^)(?<![.!?] )\b[^\W\d_]{2,}")
_WORDS = re.compile(r"\w+")


# Per-sentence text scans, memoised by the sentence's text: the sentences of popular passages
# recur across questions, and these scans are a good part of what a question costs.
@lru_cache(maxsize=32768)
def _words(text: str) -> frozenset[str]:
    return frozenset(_WORDS.findall(text.lower()))


@lru_cache(maxsize=32768)
def _capitalised(text: str) -> tuple[str, ...]:
    """Capitalised words (not the sentence's first), lower-cased."""
    return tuple(w.lower() for w in (m.group() for m in _CAP.finditer(text)) if w[0].isupper() and w[1].islower())


@lru_cache(maxsize=32768)
def _cue(qtype: str, text: str) -> bool:
    return bool(_SENT_CUES[qtype].search(text))


def _has_new_name(text: str, question_words: set[str]) -> bool:
    """A capitalised word (not the sentence's first) the question does not already contain."""
    return any(w not in question_words for w in _capitalised(text))


# ---- the feature matrix -----------------------------------------------------------------

SENTENCE_FEATURES = (
    "cos", "cos_gap", "cos_ctx", "cos_para", "cos_para_gap", "cos_para_max", "cov", "cov_gap", "cov_ctx",
    "cov_win", "bm25_win", "cov_passage", "cov_prev", "anaphora", "bm25", "bigram", "surface", "names",
    "new_terms", *(f"type_{t}" for t in QTYPES), "hit_rrank", "hit_dense", "hit_lex", "hit_fused",
    "n_hits", "length", "short", "title", "heading", "speaker_named", "speaker_answers",
)


def _counts(q: Question, term_lists: "tuple[tuple[str, ...], ...] | list[tuple[str, ...]]") -> np.ndarray:
    """How often each question term occurs in each term list: (len(term_lists), len(q.terms))."""
    index = {t: j for j, t in enumerate(q.terms)}
    m = np.zeros((len(term_lists), len(q.terms)))
    pairs = [(i, index[t]) for i, ts in enumerate(term_lists) for t in ts if t in index]
    if pairs:
        rows, cols = zip(*pairs)
        np.add.at(m, (np.array(rows), np.array(cols)), 1.0)
    return m


def _cov(q: Question, counts: np.ndarray) -> np.ndarray:
    """Idf-weighted share of the question's terms present (count > 0) in each row."""
    if not q.terms:
        return np.zeros(len(counts))
    return (counts > 0) @ q.idf / q.idf.sum()


def _bm25_counts(q: Question, counts: np.ndarray, lengths: np.ndarray, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 of each row (passage idf) over the question's total idf: unlike coverage it rewards
    repeated terms and discounts long sentences."""
    if not q.terms or not len(counts):
        return np.zeros(len(counts))
    norm = k1 * (1 - b + b * lengths / max(float(lengths.mean()), 1.0))
    return (counts * (k1 + 1) / (counts + norm[:, None])) @ q.idf / q.idf.sum()


# Exact (unstemmed) word match: "reduction" is not "reduce", "Chinese" is not "China".
_SURFACE_IGNORE = frozenset(
    "what which who whom whose when where why how did does do was were is are the of in a an to and".split())
_ANAPHOR = re.compile(r"(He|She|It|They|This|These|Those|His|Her|Its|Their|Such|There|The latter|The former)\b")


def sentence_features(q: Question, qvec: np.ndarray, cands: Candidates, hits: list[Hit]) -> np.ndarray:
    n = len(cands)
    if n == 0:
        return np.zeros((0, len(SENTENCE_FEATURES)))
    cos = cands.vectors @ qvec
    ctx_cos = cands.context_vectors @ qvec
    prev_cos = np.where(cands.prev >= 0, ctx_cos[np.maximum(cands.prev, 0)], 0.0)
    next_cos = np.where(cands.next >= 0, ctx_cos[np.maximum(cands.next, 0)], 0.0)

    sets = [set(t) for t in cands.terms]
    # Question-term counts per context segment; a unit's (a run of segments) and every window
    # below are sums of consecutive rows: differences of the cumulative sums.
    c_ctx = _counts(q, cands.context_terms)
    l_ctx = np.array([len(t) for t in cands.context_terms], dtype=np.float64)
    zero = np.zeros((1, c_ctx.shape[1]))
    cum_c = np.vstack([zero, np.cumsum(c_ctx, axis=0)]) if len(c_ctx) else zero
    cum_l = np.r_[0.0, np.cumsum(l_ctx)]
    c_unit = cum_c[cands.last + 1] - cum_c[cands.first]
    c_prev = np.where((cands.prev >= 0)[:, None], c_ctx[np.maximum(cands.prev, 0)] if len(c_ctx) else zero, 0.0)
    c_next = np.where((cands.next >= 0)[:, None], c_ctx[np.maximum(cands.next, 0)] if len(c_ctx) else zero, 0.0)
    cov = _cov(q, c_unit)
    cov_ctx = _cov(q, c_unit + c_prev + c_next)
    ctx_cov = _cov(q, c_ctx)
    cov_prev = np.where(cands.prev >= 0, ctx_cov[np.maximum(cands.prev, 0)], 0.0)
    # "It took effect a year later": the answer often sits in the sentence after the one that
    # names the question's subject, and starts by pointing back to it.
    anaphora = np.array([bool(_ANAPHOR.match(x)) for x in cands.texts], dtype=float) * cov_prev
    lengths = np.array([len(t) for t in cands.terms], dtype=np.float64)
    bm25 = _bm25_counts(q, c_unit, lengths)
    # The question was most likely written about one paragraph and a few adjacent sentences:
    # evidence spread over the sentence's neighbourhood and paragraph counts too.
    lo, hi = cands.window_lo, cands.window_hi
    c_win = cum_c[hi] - cum_c[lo]
    cov_win = _cov(q, c_win)
    bm25_win = _bm25_counts(q, c_win, cum_l[hi] - cum_l[lo])
    # Paragraph vectors: the normalised sum of its fetched sentences (rows of a paragraph are contiguous).
    para = cands.context_paragraph
    bounds = np.flatnonzero(np.r_[True, para[1:] != para[:-1]])
    para_vec = np.add.reduceat(cands.context_vectors.astype(np.float64), bounds, axis=0)
    para_vec /= np.maximum(np.linalg.norm(para_vec, axis=1, keepdims=True), 1e-9)
    para_cos = (para_vec @ qvec)[cands.paragraph]
    para_max = np.maximum.reduceat(ctx_cos, bounds)[cands.paragraph]
    qsurface = set(_WORDS.findall(q.text.lower())) - _SURFACE_IGNORE
    surface = np.array([len(qsurface & _words(x)) / len(qsurface) for x in cands.texts]) \
        if qsurface else np.zeros(n)
    held_by = np.zeros((len(cands.members), n))  # passage x unit: 1 where the passage holds the unit
    for h, rows in enumerate(cands.members):
        held_by[h, rows] = 1.0
    cov_hit = _cov(q, held_by @ c_unit)
    cov_passage = (held_by * cov_hit[:, None]).max(axis=0) if len(held_by) else np.zeros(n)

    bigram = np.zeros(n)
    if q.bigrams:
        # A question bigram needs two question terms in the unit: most units have fewer.
        for i in np.flatnonzero(c_unit.sum(axis=1) >= 2):
            t = cands.terms[i]
            bigram[i] = len(q.bigrams & set(zip(t, t[1:]))) / len(q.bigrams)
    names = np.zeros(n)
    if q.names:
        pats = [(nm, re.compile(rf"(?<!\w){re.escape(nm)}(?!\w)")) for nm in q.names]
        names = np.array([sum(nm in low and bool(p.search(low)) for nm, p in pats) / len(pats)
                          for low in (x.lower() for x in cands.texts)])
    qset = set(q.terms)
    new_terms = np.log1p([len(s - qset) for s in sets])

    qwords = set(_WORDS.findall(q.text.lower()))
    qnumbers = {w for w in qwords if any(c.isdigit() for c in w)}
    types = []
    for t in QTYPES:
        if t not in q.qtypes:
            types.append(np.zeros(n))
            continue
        if t in ("person", "place", "name"):
            types.append(np.array([_has_new_name(x, qwords) for x in cands.texts], dtype=float))
        elif t == "number":
            # A number the question itself states is not an answer to "how many".
            types.append(np.array([bool(_SENT_CUES["number"].search(
                " ".join(w for w in x.split() if w.lower().strip(".,;:()") not in qnumbers)))
                for x in cands.texts], dtype=float))
        else:
            types.append(np.array([_cue(t, x) for x in cands.texts], dtype=float))

    # Who says the sentence (transcripts, remarks). "What did Sullivan say about ...": a sentence
    # Sullivan speaks beats one that mentions him. "Who proposed ...": the speaker label, which the
    # quote itself never holds, can answer a person question.
    speakers = cands.speakers or (None,) * n
    speaker_words = [_words(sp) if sp else frozenset() for sp in speakers]
    qnames = set(q.names)
    speaker_named = np.array([bool(qnames & w) for w in speaker_words], dtype=float)
    speaker_answers = np.array([bool(w) and not (w & qwords) for w in speaker_words], dtype=float) \
        if "person" in q.qtypes else np.zeros(n)

    rank = cands.hit.astype(np.float64)
    dense = np.array([h.dense_score if h.dense_score is not None else 0.0 for h in hits])
    lex = np.array([h.lexical_score or 0.0 for h in hits])
    fused = np.array([h.score for h in hits])
    lengths = np.array([len(t) for t in cands.terms], dtype=np.float64)
    return np.column_stack([
        cos, cos - cos.max(), np.maximum(prev_cos, next_cos), para_cos, para_cos - para_cos.max(), para_max,
        cov, cov - cov.max(), cov_ctx, cov_win, bm25_win, cov_passage, cov_prev, anaphora, bm25, bigram, surface,
        names, new_terms, *types,
        1.0 / (1.0 + rank), dense[cands.hit], lex[cands.hit] / max(lex.max(), 1e-9),
        fused[cands.hit] / max(fused.max(), 1e-9),
        (cands.n_hits > 1).astype(float), np.log1p(lengths), (lengths < 5).astype(float),
        (cands.seq == 0).astype(float),
        np.array([not x.rstrip().endswith((".", "!", "?", '"', "”", ")", ":", ";")) for x in cands.texts],
                 dtype=float),
        speaker_named, speaker_answers,
    ])


# ---- whether any sentence answers at all ------------------------------------------------

FOUND_FEATURES = ("top_score", "top_cos", "max_cos", "top_cov", "top_cov_ctx", "best_cov_passage",
                  "unseen_share", "missing_idf_passage", "names_top", "top_hit_dense", "margin", "top_type")


def found_features(q: Question, feats: np.ndarray, scores: np.ndarray, order: np.ndarray,
                   cands: Candidates) -> np.ndarray:
    """Question-level evidence that the corpus holds an answer, from the best sentences."""
    f = {name: feats[:, i] for i, name in enumerate(SENTENCE_FEATURES)}
    top = int(order[0])
    total = q.idf.sum() if len(q.idf) else 1.0
    unseen = float(q.idf[~q.in_index].sum() / total) if len(q.idf) else 1.0
    # The rarest question term that the best passage lacks: a missing name or number is the
    # clearest sign that the passage is about something else.
    best_hit = int(cands.hit[top])
    rows = cands.members[best_hit]
    held = set().union(*(set(cands.terms[i]) for i in rows)) if len(rows) else set()
    missing = [w for t, w in zip(q.terms, q.idf) if t not in held]
    missing_idf = (max(missing) if missing else 0.0) / q.max_idf
    second = float(scores[order[1]]) if len(order) > 1 else float(scores[top]) - 1.0
    # Does the best sentence hold what the question asks for (a number for "how many", a name
    # for "who"...)? A related passage that lacks it is the commonest near miss.
    wanted = [t for t in QTYPES if t in q.qtypes]
    top_type = float(np.mean([f[f"type_{t}"][top] for t in wanted])) if wanted else 1.0
    return np.array([
        float(scores[top]), float(f["cos"][top]), float(f["cos"].max()), float(f["cov"][top]),
        float(f["cov_ctx"][top]), float(f["cov_passage"].max()), unseen, missing_idf,
        float(f["names"][top]) if q.names else 1.0, float(f["hit_dense"][top]), float(scores[top]) - second,
        top_type,
    ])
