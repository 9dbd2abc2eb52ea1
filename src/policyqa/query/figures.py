"""Quoted sentences -> a figures table: each quantity with its unit, what it measures, for whom.

Only for questions that ask for figures or compare ("how many", "how much", fees, shares,
populations, rankings, "compare", "than"...). Parsing is by pattern, not by a model: a
quantity is a currency amount, a percentage, a number with a scale word or a counted noun,
or an ordinal ranking ("second-largest"); years and list numbering are not figures. What it
measures comes from the noun it counts, the "of ..." after a share, or the subject of the
clause ("Tuition fees are ..."); for whom from the phrase after the number ("for domestic
students in the UK") or the nearest name before it in the same clause ("in China").
Each figure keeps the exact span of its value in the document, so it is cited to the character.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from ..schema import AnswerSentence, Figure

_ASKS_FOR_FIGURES = re.compile(
    r"\b(how (many|much|large|big|high|low|long|old|expensive|cheap)|compare[sd]?|comparison|versus|vs\.?|than"
    r"|differ|difference|figures?|number of|amount|cost|costs|fee|fees|tuition|price|prices|salary|budget"
    r"|population|populations|share|percent|percentage|proportion|rank|ranking|ranked|count|statistics?)\b", re.I)

_CURRENCY = {"£": "GBP", "$": "USD", "US$": "USD", "€": "EUR", "¥": "CNY", "RMB": "CNY", "CNY": "CNY",
             "USD": "USD", "GBP": "GBP", "EUR": "EUR", "pounds": "GBP", "pound": "GBP", "dollars": "USD",
             "dollar": "USD", "euros": "EUR", "euro": "EUR", "yuan": "CNY", "renminbi": "CNY"}
_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9,
          "trillion": 1e12, "tn": 1e12}
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE_RX = r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn|mn|tn|k|m|b)\b)?"
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}

_PATTERNS = [
    ("money", re.compile(rf"(?P<cur>US\$|[£$€¥]|\b(?:RMB|CNY|USD|GBP|EUR)\s?)(?P<num>{_NUM}){_SCALE_RX}")),
    ("money", re.compile(rf"(?<![\w.,])(?P<num>{_NUM}){_SCALE_RX}\s(?P<cur>pounds?|dollars?|euros?|yuan|renminbi)\b")),
    ("percent", re.compile(rf"(?<![\w.,])(?P<num>{_NUM})\s?(?P<pct>%|per ?cent\b)")),
    ("rank", re.compile(r"\b(?P<ord>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th))"
                        r"[-\s](?P<sup>(?:most|largest|biggest|highest|lowest|smallest|best|worst|longest|richest|"
                        r"poorest|busiest|populous)[\w-]*)", re.I)),
    ("count", re.compile(rf"(?<![\w.,£$€¥])(?P<num>{_NUM}){_SCALE_RX}(?![\w%])")),
]

_STOP_AFTER = frozenset("""a an the and or but of in on at to for from by with as is are was were be been has have had
that which who this these those it its than per each every at last about around over under more less
will would can could may might should do does did not""".split())
_RATE = re.compile(r"^\s*(per (year|annum|month|week|day|person|head|capita|student|course)|a (year|month|week|day)"
                   r"|each (year|month)|annually|a head)\b", re.I)
_FOR_WHOM = re.compile(r"^[^,;.–—()]{0,40}?\b(?:for|among|in)\s+(?P<who>[^,;.–—()]+)")
_CLAUSE_START = re.compile(r"[,;:–—(]\s*|\.\s+|\b(?:with|while|whereas|compared to|compared with|and)\b\s*", re.I)
_COMPARED = frozenset({"after", "than", "behind", "like", "unlike", "from", "to", "over", "before"})
_VAGUE = frozenset({"region", "excess", "order", "neighbourhood", "neighborhood", "vicinity", "range", "tune",
                    "upwards", "total", "sum", "figure", "level"})
_PRONOUN_START = re.compile(r"\s*(it|they|this|these|he|she|its|their)\b", re.I)
_PEOPLE = re.compile(r"\b(students|people|residents|citizens|workers|users|children|adults|households|companies"
                     r"|firms|members|employees|patients|voters)\b")
_SUBJECT = re.compile(r"^\s*(?P<subj>(?:[\w’'\-]+\s+){0,4}?[\w’'\-]+?)\s+(?:is|are|was|were|has|have|had|costs?|"
                      r"stood|stands|reached|rose|fell|totals?|totalled|amounts? to|numbers?)\b", re.I)
_NAME = re.compile(r"\b(?:the\s+)?[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*)*")
# "a population of over 69 million", "an area of 9.6 million": the noun just before names the measure.
_NOUN_OF = re.compile(r"(?P<noun>[^\W\d_][\w\-]*)\s+(?:of|exceeding|at|reaching)(?:\s+(?:over|about|around|nearly|almost|"
                      r"roughly|some|approximately|more than|less than|fewer than|up to))?\s*$", re.I)
_PHRASE_END = frozenset("""is are was were be been has have had would will can could may might should which that who
whom whose and but or while whereas as than because so if when where""".split())


def _phrase(text: str, max_words: int = 6) -> str:
    """The leading noun phrase of ``text``: up to punctuation, a verb-like word or ``max_words``."""
    out = []
    for w in re.findall(r"[^\s,;.:!?()–—]+|[,;.:!?()–—]", text):
        if not re.match(r"[\w’'\-/&]+$", w) or w.lower() in _PHRASE_END or len(out) == max_words:
            break
        out.append(w)
    return " ".join(out)


def wants_figures(question: str) -> bool:
    return bool(_ASKS_FOR_FIGURES.search(question))


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _is_year(text: str, kind: str, scale: str | None, after: str) -> bool:
    value = _number(text)
    if kind != "count" or scale or value is None or "," in text or "." in text:
        return False
    return 1000 <= value <= 2100 and not re.match(r"\s+[a-z]+s\b", after)


def _counted_noun(after: str) -> str | None:
    """The noun a bare number counts: "28 countries", "22 Chinese universities"."""
    words = re.findall(r"[\w’'\-]+|[^\w\s]", after[:60])
    picked = []
    for w in words:
        if not re.match(r"[\w’'\-]+$", w) or w.lower() in _STOP_AFTER:
            break
        picked.append(w)
        if w.lower().endswith("s") and len(w) > 3 and not w[0].isupper():
            break  # a plural noun closes the phrase
        if len(picked) == 3:
            break
    if not picked or not any(p.lower().endswith("s") or p[0].isupper() for p in picked):
        return None
    return " ".join(picked)


def _clauses(text: str) -> list[str]:
    """``text`` cut at punctuation and clause-opening words; the last piece holds the number."""
    return [c for c in _CLAUSE_START.split(text) if c and c.strip()]


def _last_name(clause: str, sentence_start: bool) -> str | None:
    """The last name in ``clause``, skipping names compared against ("after India", "than the UK")
    and a lone capitalised first word of the sentence ("Tuition fees are ...")."""
    names = []
    for m in _NAME.finditer(clause):
        before = clause[:m.start()].split()[-1:]
        if before and before[0].lower() in _COMPARED:
            continue
        if m.start() == 0 and sentence_start and " " not in m.group() and not m.group().isupper():
            continue
        if _PRONOUN_START.fullmatch(m.group()):
            continue
        names.append(m.group())
    return names[-1] if names else None


def _subject_of(text: str) -> str | None:
    m = _SUBJECT.match(text)
    if not m:
        return None
    subj = m.group("subj").strip()
    return re.sub(r"^(the|a|an)\s+", "", subj, flags=re.I) or None


def _parse(sentence: AnswerSentence) -> list[Figure]:
    text = sentence.text
    taken: list[tuple[int, int]] = []
    rows: list[tuple[int, Figure]] = []
    for kind, rx in _PATTERNS:
        for m in rx.finditer(text):
            s, e = m.span()
            if any(s < b and e > a for a, b in taken):
                continue
            groups = m.groupdict()
            after = text[e:]
            scale = groups.get("scale")
            if kind == "count" and _is_year(groups["num"], kind, scale, after):
                continue
            if kind == "count" and not scale and re.match(r"\s*[.)]\s", after) and s == 0:
                continue  # list numbering
            unit: str | None
            measure: str | None = None
            if kind == "money":
                cur = groups["cur"].strip()
                unit = _CURRENCY.get(cur, _CURRENCY.get(cur.lower(), cur))
                number = _number(groups["num"])
            elif kind == "percent":
                unit, number = "%", _number(groups["num"])
                of = re.match(r"\s+of\s+", after)
                if of and _phrase(after[of.end():]):
                    measure = "share of " + _phrase(after[of.end():])
            elif kind == "rank":
                o = groups["ord"].lower()
                number = float(_ORDINALS.get(o, _number(re.sub(r"\D", "", o)) or 0)) or None
                unit = "rank"
                noun = _counted_noun(after)
                measure = f"{groups['sup']} {noun}".strip() if noun else groups["sup"]
            else:
                number = _number(groups["num"])
                noun = _counted_noun(after)
                if noun is None and not scale:
                    continue  # a bare number (a section, a page) is not a figure
                unit = noun
                measure = noun
            if number is not None and scale:
                number *= _SCALE[scale.lower()]
            rate = _RATE.match(after)
            noun_of = _NOUN_OF.search(text[:s])
            if noun_of and kind in ("count", "money") and noun_of.group("noun").lower() not in _VAGUE:
                measure = noun_of.group("noun")
            clauses = _clauses(text[:s])
            subject = next((x for x in (_subject_of(c) for c in reversed(clauses)) if x), None)
            who = None
            poss = re.match(r"(?P<who>[A-Z][\w\-]*(?:\s[A-Z][\w\-]*)*)['’]s\s+(?P<what>.+)$", subject or "")
            if poss:
                who, subject = poss.group("who"), poss.group("what")
            if measure is None:
                measure = subject or ""
            if rate:
                measure = f"{measure} {rate.group().strip()}".strip()
            tail = after[rate.end():] if rate else after
            fm = _FOR_WHOM.match(tail)
            if fm and kind != "percent":
                phrase = _phrase(fm.group("who"))
                # "for domestic students in the UK", "in China": a name or a group of people, not "in 2024"
                if phrase and not phrase[0].isdigit() and (re.search(r"\b[A-Z]", phrase) or _PEOPLE.search(phrase)):
                    who = phrase
            if who is None:
                who = _last_name(clauses[-1], len(clauses) == 1) if clauses else None
            if who is None and kind in ("money", "count") and len(clauses) > 1 and not _PRONOUN_START.match(text):
                who = _last_name(clauses[-2], len(clauses) == 2)
            taken.append((s, e))
            cite = sentence.citation
            rows.append((s, Figure(value=m.group().strip(), number=number, unit=unit,
                                   measure=measure.strip() or "", subject=who, sentence=sentence,
                                   start=cite.start + s, end=cite.start + s + len(m.group().rstrip()))))
    ordered = [f for _, f in sorted(rows, key=lambda r: r[0])]
    # "£2,600 per year, compared to more than £9,000 for ...": a later amount in the same currency,
    # with no measure of its own beyond the clause subject, is compared like for like.
    for i, fig in enumerate(ordered):
        earlier = [f for f in ordered[:i] if f.unit == fig.unit and f.unit and f.measure.startswith(fig.measure)]
        if earlier and fig.measure and earlier[-1].measure != fig.measure:
            ordered[i] = replace(fig, measure=earlier[-1].measure)
    return ordered


def figures_for(question: str, sentences: Sequence[AnswerSentence]) -> tuple[Figure, ...]:
    """The figures table for ``question`` from the quoted ``sentences`` (empty unless it asks for figures)."""
    if not wants_figures(question):
        return ()
    out: list[Figure] = []
    seen: set[tuple[str, str | None]] = set()
    for sentence in sentences:
        for fig in _parse(sentence):
            key = (fig.value, fig.subject)
            if key not in seen:
                seen.add(key)
                out.append(fig)
    return tuple(out)
