"""Guards for text that comes from outside: file names, front matter, questions and filters.

One rule each, shared by the library, the command line and the web chat:

- ``printable``: any string shown on a terminal or a page, with control characters (ESC, CR,
  newlines...), bidi overrides and undecodable bytes escaped, so a file name or title cannot
  move the cursor, clear the screen or fake output lines.
- ``clean_field``: a metadata value (title, author, date...) from a file as one line of plain
  text, or None: non-text YAML types (dicts, nested lists) are dropped, lists joined, lone
  surrogates replaced, control characters removed, length bounded.
- ``check_question``, ``check_date``, ``check_k``: what a question, a date filter and a result
  count may be; anything else is a ``QueryError`` with a message saying what is accepted.
"""

from __future__ import annotations

import datetime as _dt
import re

from .errors import QueryError

MAX_QUESTION_CHARS = 2000
MAX_FIELD_CHARS = 300

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line/paragraph separators, and
# lone surrogates (file names that are not valid UTF-8 arrive as \udc80-\udcff).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(value: object) -> str:
    """``value`` as a single line safe to print or show: unsafe characters as \\xNN / \\uNNNN."""
    return _UNSAFE.sub(_escape, str(value))


def has_unsafe_chars(name: str) -> bool:
    return _UNSAFE.search(name) is not None


def scrub_text(text: str) -> str:
    """Lone surrogates (which no file can be written with) as U+FFFD, same length."""
    return _SURROGATE.sub("\ufffd", text)


def clean_field(value: object) -> str | None:
    """A metadata value as one line of text, or None when absent or not text-like."""
    if value is None or isinstance(value, (bool, dict, set)):
        return None
    if isinstance(value, (list, tuple)):
        parts = [clean_field(v) for v in value if not isinstance(v, (list, tuple, dict))]
        text = "; ".join(p for p in parts if p)
    elif isinstance(value, (_dt.date, _dt.datetime)):
        text = value.isoformat()
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        return None
    text = _SPACES.sub(" ", _CONTROL_IN_TEXT.sub("", scrub_text(text))).strip()
    if len(text) > MAX_FIELD_CHARS:
        text = text[:MAX_FIELD_CHARS - 1].rstrip() + "…"
    return text or None


def check_question(question: object) -> str:
    """The question with control characters removed; QueryError if it is not usable text."""
    if isinstance(question, bytes):
        try:
            question = question.decode("utf-8")
        except UnicodeDecodeError:
            raise QueryError("the question is not valid UTF-8 text") from None
    if not isinstance(question, str):
        raise QueryError(f"the question must be text, not {type(question).__name__}")
    if _SURROGATE.search(question):
        raise QueryError("the question holds characters that are not valid text "
                         "(unpaired surrogates, e.g. from bytes that are not UTF-8)")
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(f"the question is too long ({len(question):,} characters; at most "
                         f"{MAX_QUESTION_CHARS:,}): ask about one thing at a time")
    # Each control character becomes a space (tabs and newlines stay): the words around it are
    # read as before, and a question without any is searched exactly as written.
    return _CONTROL_IN_TEXT.sub(" ", question).strip()


def check_date(value: object, name: str = "date") -> str | None:
    """A date filter as YYYY, YYYY-MM or YYYY-MM-DD (a real calendar date), or None if empty."""
    if value is None:
        return None
    text = str(value).strip() if isinstance(value, (str, _dt.date)) else None
    if isinstance(value, _dt.date):
        text = value.isoformat()[:10]
    if text is None:
        raise QueryError(f"{name} must be a date like 2023, 2023-11 or 2023-11-03, not {type(value).__name__}")
    if not text:
        return None
    m = _DATE.match(text)
    ok = m is not None
    if m:
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        try:
            _dt.date(year, int(month or 1), int(day or 1))
        except ValueError:
            ok = False
    if not ok:
        raise QueryError(f"{name} {printable(text)[:40]!r} is not a date: use YYYY, YYYY-MM or YYYY-MM-DD "
                         "(e.g. 2023, 2023-11 or 2023-11-03)")
    return text


def check_k(k: object, name: str = "k") -> int:
    """How many results: a whole number, 0 (none) or more (more than the index holds: all)."""
    if isinstance(k, bool) or not isinstance(k, int):
        try:
            if isinstance(k, (bool, float)) and not float(k).is_integer():
                raise ValueError
            k = int(k)  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            raise QueryError(f"{name} must be a whole number (0 or more), not {printable(k)[:20]!r}") from None
    if k < 0:
        raise QueryError(f"{name} must be 0 or more, not {k}")
    return k
