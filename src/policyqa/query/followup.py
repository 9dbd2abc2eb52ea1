"""Follow-up questions -> a self-contained query, without a generative model.

"And what did she say about it?" means nothing to a search engine. When a question leans on
the conversation (it opens with "and"/"what about", points back with a pronoun, or names too
little to search for), the names and topic words of the previous turn are carried forward
and appended: ``effective_query = question + carried words``. A "he"/"she" is resolved to a
person named in the previous answer, because that is where a new person usually appears.

History may be Gradio-style ``{"role": "user"|"assistant", "content": str}`` dicts, earlier
``Answer`` objects, or a mix; each earlier user turn is itself resolved against the turns
before it, so a chain of follow-ups keeps its subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..schema import Answer

MAX_CARRIED_WORDS = 8

_CONNECTIVE = re.compile(r"^(and|but|also|so|then|what about|how about|and what about|or)\b", re.I)
_ANAPHOR = re.compile(r"\b(he|she|him|her|his|hers|it|its|they|them|their|theirs|this|that|these|those|"
                      r"there|the same|the latter|the former|such)\b", re.I)
_PERSONAL = re.compile(r"\b(he|she|him|her|his|hers)\b", re.I)
_WORD = re.compile(r"[^\W\d_][\w'’\-]*|\d[\d,.]*%?", re.U)
# Capitalised runs ("Liz Truss", "Prime Minister Rishi Sunak", "University of Oxford"), acronyms.
_NAME = re.compile(r"\b[A-Z][\w\-]*(?:['’]s)?(?:\s+(?:of|the|de|von|van)?\s*[A-Z][\w\-]*)*|\b[A-Z]{2,}\b")

_FUNCTION_WORDS = frozenset("""
a an the and or but if of in on at to for from by with about as into than then so such that this these those
there it its they them their he she him her his hers we our you your i me my is are was were be been being
do does did done has have had having can could would should may might must will shall not no yes what which
who whom whose when where why how whatever also very more most much many some any each every other another
say said says tell told think thought compare compared comparison versus vs same latter former own
""".split())


@dataclass(frozen=True)
class _Turn:
    effective: str  # the user question, already resolved
    answer: str  # the first quoted sentence (Answer) or the assistant's text, "" when none


def _content(text: str) -> list[str]:
    words = (re.sub(r"['’]s?$", "", w) for w in _WORD.findall(text))
    return [w for w in words if w.lower() not in _FUNCTION_WORDS and len(w) > 1]


def _names(text: str) -> list[str]:
    """Capitalised names in ``text``, sentence-initial function words excluded."""
    out = []
    for m in _NAME.finditer(text):
        name = re.sub(r"['’]s$", "", m.group().strip())
        words = name.split()
        while words and words[0].lower() in _FUNCTION_WORDS:
            words = words[1:]
        if words:
            out.append(" ".join(words))
    return list(dict.fromkeys(out))


def _turns(history: Iterable[object] | None) -> list[_Turn]:
    turns: list[_Turn] = []
    pending: str | None = None
    for item in history or ():
        if isinstance(item, Answer):
            answer = item.sentences[0].text if item.sentences else ""
            turns.append(_Turn(item.effective_query or item.question, answer))
            pending = None
            continue
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
        elif isinstance(item, (list, tuple)) and len(item) == 2:  # older Gradio [user, bot] pairs
            for role, content in (("user", item[0]), ("assistant", item[1])):
                pending = _add(turns, pending, role, content)
            continue
        else:
            continue
        pending = _add(turns, pending, role, content)
    if pending is not None:
        turns.append(_Turn(pending, ""))
    return turns


def _add(turns: list[_Turn], pending: str | None, role: object, content: object) -> str | None:
    text = content if isinstance(content, str) else ""
    if role == "user":
        if pending is not None:
            turns.append(_Turn(pending, ""))
        previous = turns[-1:] if turns else []
        return _resolve_one(text.strip(), previous[0] if previous else None) if text.strip() else None
    if role == "assistant" and pending is not None:
        turns.append(_Turn(pending, _first_quote(text)))
        return None
    return pending


def _first_quote(text: str) -> str:
    """The first quoted sentence of an assistant message (its first non-empty line otherwise)."""
    m = re.search(r"[“\"]([^”\"]{10,})[”\"]", text)
    if m:
        return m.group(1)
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def is_follow_up(question: str) -> bool:
    if _CONNECTIVE.search(question.strip()):
        return True
    content = _content(question)
    return len(content) < 2 or (bool(_ANAPHOR.search(question)) and len(content) < 4)


def _resolve_one(question: str, previous: _Turn | None) -> str:
    if previous is None or not is_follow_up(question):
        return question
    asked = {w.lower() for w in _WORD.findall(question)}
    carried: list[str] = []
    if _PERSONAL.search(question) and not any(len(n.split()) > 1 for n in _names(question)):
        # "she" is most often someone the last answer introduced; else someone the last question named.
        people = [n for n in _names(previous.answer) if len(n.split()) > 1] or \
                 [n for n in _names(previous.effective) if len(n.split()) > 1]
        carried += people[:1]
    carried += _names(previous.effective)
    carried += _content(previous.effective)
    words: list[str] = []
    for phrase in carried:
        for w in phrase.split():
            if w.lower() not in asked and w.lower() not in {x.lower() for x in words}:
                words.append(w)
    words = words[:MAX_CARRIED_WORDS]
    return f"{question} {' '.join(words)}" if words else question


def resolve(question: str, history: Iterable[object] | None = None) -> str:
    """The query to search for ``question`` given the conversation so far (see module doc)."""
    question = question.strip()
    turns = _turns(history)
    return _resolve_one(question, turns[-1] if turns else None)
