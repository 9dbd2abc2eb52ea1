"""Plain text and Markdown -> normalised text with a map back to the decoded source file.

Every character of a ``Document.text`` read from a txt or md file comes from a known place in
the decoded file, so a citation can point into the file itself (``SourceMap``). Markdown is read
by a small hand-written block/inline pass rather than a parser such as markdown-it-py: a parser
hands back tokens whose inline positions are lost (it maps tokens to *lines*, not characters),
and what is needed here is the exact source position of every character that stays, plus a
decision about each character that goes (tag, escape, emphasis marker, struck-out text,
speaker label). The pass covers the Markdown this corpus and typical exports use:

blocks: front matter (only a ``---`` block at the very start of the file), blank lines
  (paragraphs), ATX headings, bullet and ordered list items, block quotes, tables, fenced code,
  thematic breaks (``---``, never front matter inside a body), hard breaks (two trailing spaces
  or a trailing backslash). A file whose lines are hard-wrapped (scraped pages wrapped at ~72
  columns) joins a paragraph's lines with spaces; a file whose lines are whole paragraphs (a
  transcript, one paragraph per line) keeps every line (``_wrapped`` decides, per file).
inline: backslash escapes unescaped, code spans unquoted, known HTML tags removed (the content
  of ``<s>``/``<del>``/``<strike>`` too: struck-out text the page replaced with a bracketed
  correction), ``[text](url)`` reduced to its text, images dropped, ``*``/``_`` emphasis
  markers removed (a run of them is a marker unless it is a single one between spaces, as in
  "5 * 3", or an ``_`` inside a word; ``**`` is taken for markup even where CommonMark would
  print it, as in the scraped "**$4.2 billion **to"). Tag-like words that are not HTML (``<laugh>`` in a transcript) stay.
speakers: a label line alone on a line ("Sen. Richard Blumenthal (D-CT):", "Sam Altman:") in a
  file with at least three of them, or an inline label opening a paragraph ("THE PRESIDENT:",
  "MR. SULLIVAN:", "PRESIDENT XI:", "Q"), starts a turn; the label is removed from the text and
  becomes the turn's speaker (``resolve_speaker``: role labels resolved against the author).
"""

from __future__ import annotations

import re
import unicodedata

from ..schema import SourceMap, Turn

_CTRL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff"
_TOKEN = re.compile(rf"(\r\n|\r|\n)|([{_CTRL}]+)|([^\S\r\n\x0b\x0c\x1c-\x1f]+)|([^\s{_CTRL}]+)")


class Builder:
    """Accumulates normalised text (one space between words, lines stripped, at most one blank
    line) and, for each run of output characters, the source range it came from."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n = 0
        self.out: list[int] = []
        self.src: list[int] = []
        self.src_end: list[int] = []
        self.nl = 0  # pending line breaks (0, 1 or 2)
        self.nl_pos = 0
        self.sp: int | None = None  # source position of a pending space
        self.turn: tuple[str | None] | None = None  # pending turn start (its speaker)
        self.turns: list[tuple[int, str | None]] = []

    # separators are only written when text follows them (so lines end stripped)
    def space(self, pos: int) -> None:
        if self.sp is None and not self.nl:
            self.sp = pos

    def newline(self, pos: int, k: int = 1) -> None:
        k = min(2, max(self.nl, k))
        if k > self.nl:
            self.nl, self.nl_pos = k, pos
        self.sp = None

    def mark_turn(self, speaker: str | None) -> None:
        self.turn = (speaker,)

    def add(self, text: str, s: int, e: int | None = None) -> None:
        """``text`` made of source[s:e] (one character per source character when ``e`` is None)."""
        if not text:
            return
        if self.n:
            if self.nl:
                self._put("\n" * self.nl, self.nl_pos, self.nl_pos + 1)
            elif self.sp is not None:
                self._put(" ", self.sp, self.sp + 1)
        self.nl, self.sp = 0, None
        if self.turn is not None:
            self.turns.append((self.n, self.turn[0]))
            self.turn = None
        self._put(text, s, s + len(text) if e is None else e)

    def _put(self, text: str, s: int, e: int) -> None:
        if (self.out and e - s == len(text) and s == self.src_end[-1]
                and self.src_end[-1] - self.src[-1] == self.n - self.out[-1]):
            self.src_end[-1] = e  # extends the previous one-to-one run
        else:
            self.out.append(self.n)
            self.src.append(s)
            self.src_end.append(e)
        self.parts.append(text)
        self.n += len(text)

    def add_source(self, source: str, a: int, b: int, *, newlines: bool = False) -> None:
        """Copy source[a:b]: words verbatim (NFC), whitespace runs as one space, control
        characters dropped; line ends become line breaks when ``newlines`` (plain text)."""
        for m in _TOKEN.finditer(source, a, b):
            if m.group(4):
                word = m.group(4)
                if word.isascii() or unicodedata.is_normalized("NFC", word):
                    self.add(word, m.start())
                else:  # a decomposed word: it maps as a whole to its source characters
                    self.add(unicodedata.normalize("NFC", word), m.start(), m.end())
            elif m.group(3):
                self.space(m.start())
            elif m.group(1):
                if newlines:
                    self.newline(m.start(), self.nl + 1)
                else:
                    self.space(m.start())

    def finish(self) -> tuple[str, SourceMap | None, tuple[Turn, ...]]:
        text = "".join(self.parts)
        smap: SourceMap | None = SourceMap(tuple(self.out), tuple(self.src), tuple(self.src_end))
        if not unicodedata.is_normalized("NFC", text):
            # A combining mark right after removed markup or a control character composes with
            # the letter before it: the text is still NFC as documented, but the map is given up.
            text, smap = unicodedata.normalize("NFC", text), None
            self.turns = []
        turns = tuple(Turn(start, self.turns[i + 1][0] if i + 1 < len(self.turns) else len(text), speaker)
                      for i, (start, speaker) in enumerate(self.turns))
        return text, smap, turns


def normalise_mapped(raw: str, offset: int = 0, end: int | None = None) -> tuple[str, SourceMap | None]:
    """``documents.normalise(raw[offset:end])`` and its map into ``raw``."""
    b = Builder()
    b.add_source(raw, offset, len(raw) if end is None else end, newlines=True)
    text, smap, _ = b.finish()
    return text, smap


# ---- Markdown -------------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_HEADING = re.compile(r"[ ]{0,3}(#{1,6})(?:[ \t]+|$)")
_BULLET = re.compile(r"[ \t]*[-*+][ \t]+(?=\S)")
_ORDERED = re.compile(r"[ \t]*(\d{1,9})[.)][ \t]+(?=\S)")
_QUOTE = re.compile(r"[ ]{0,3}>[ ]?")
_FENCE = re.compile(r"[ ]{0,3}(`{3,}|~{3,})")
_RULE = re.compile(r"[ ]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})$")
_TABLE_RULE = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
_MARKERS_ONLY = re.compile(r"[ \t]*[*_]{1,2}[ \t]*$")
_LABEL_LINE = re.compile(r"[ \t]*((?:(?:Sen|Rep|Senator|Mr|Ms|Mrs|Dr|Prof|Chairman|Chair)\.? )?"
                         r"[A-Z][\w.’'-]*(?: [A-Z][\w.’'-]*){0,3}(?: \([A-Z]-[A-Z]{2}\))?):\s*$")
_ROLE = (r"PRESIDENT|VICE PRESIDENT|PRIME MINISTER|SECRETARY|AMBASSADOR|SENATOR|GOVERNOR|MINISTER|"
         r"GENERAL|ADMIRAL|CHAIRMAN|CHAIRWOMAN|DIRECTOR|SPEAKER|LEADER|ADMINISTRATOR|COMMISSIONER")
_NAME = r"[A-Z][A-Z’'-]+"
_INLINE_LABEL = re.compile(
    rf"(?:(THE (?:{_ROLE}|MODERATOR|CHAIR)(?: OF [A-Z ]+)?|(?:MR|MS|MRS|DR)\. {_NAME}(?: {_NAME})?|"
    rf"(?:{_ROLE}) {_NAME}(?: {_NAME})?|AUDIENCE MEMBERS?|AUDIENCE|AIDES?|PARTICIPANTS?|MODERATOR|"
    rf"REPORTER|INTERPRETER|STAFF|OPERATOR):\s+|(Q)(?::\s*|\s+)(?=\S))")
_ESCAPABLE = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_HTML_INLINE = {"a", "abbr", "b", "bdi", "bdo", "big", "br", "cite", "code", "data", "dfn", "em", "font",
                "i", "img", "ins", "kbd", "mark", "q", "samp", "small", "span", "strong", "sub", "sup",
                "time", "tt", "u", "var", "wbr", "p", "div", "center", "hr", "figure", "figcaption"}
_HTML_STRUCK = {"s", "del", "strike"}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b(?:[^<>\"']|\"[^\"]*\"|'[^']*')*?(/?)>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>")


def read_markdown(raw: str, body_start: int, author: str | None = None,
                  title: str | None = None) -> tuple[str, SourceMap | None, tuple[Turn, ...], str | None]:
    """(text, map into ``raw``, speaker turns, first heading's text) of the Markdown body that
    starts at ``body_start``."""
    lines = [(m.start(), m.end()) for m in _LINE.finditer(raw, body_start) if m.end() > m.start()]
    lines = [(s, s + len(raw[s:e].rstrip("\r\n"))) for s, e in lines]
    wrapped = _wrapped(raw, lines)
    label_lines = sum(1 for s, e in lines if _LABEL_LINE.fullmatch(raw, s, e))
    people = _people(author)
    b = Builder()
    heading: str | None = None
    para: list[tuple[int, int]] = []  # the open paragraph's line contents
    hard: list[bool] = []  # after each of its lines: a hard break?
    fence: str | None = None
    any_label = False

    def flush() -> None:
        if para:
            _inline(raw, para, hard, b, people)
            para.clear()
            hard.clear()

    for s, e in lines:
        line = raw[s:e]
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                b.newline(s, 1)
            else:
                b.newline(s, 1)
                b.add_source(raw, s, e)
            continue
        if not line.strip():
            flush()
            b.newline(s, 2)
            continue
        m = _FENCE.match(line)
        if m:
            flush()
            fence = m.group(1)
            b.newline(s, 1)
            continue
        if _RULE.match(line) or _TABLE_RULE.match(line) or _MARKERS_ONLY.match(line):
            flush()
            b.newline(s, 2 if _RULE.match(line) else 1)
            continue
        if label_lines >= 3:
            m = _LABEL_LINE.match(line)
            if m and m.end() == len(line):
                flush()
                b.newline(s, 1)
                b.mark_turn(m.group(1))
                any_label = True
                continue
        m = _HEADING.match(line)
        if m:
            flush()
            b.newline(s, 1)
            content_end = len(line.rstrip())
            closing = re.search(r"(?:^|[ \t])#+[ \t]*$", line[m.end():])
            if closing:
                content_end = m.end() + closing.start()
            start_n = b.n
            _inline(raw, [(s + m.end(), s + content_end)], [True], b, people, labels=False)
            if heading is None and b.n > start_n:
                heading = "".join(b.parts)[start_n:].strip()
            b.newline(s, 1)
            continue
        content = s
        starts_block = False
        m = _QUOTE.match(line)
        if m:
            content += m.end()
            starts_block = not para
        if raw.startswith("|", content) or raw[content:e].lstrip().startswith("|"):
            starts_block = True  # a table row
        m = _BULLET.match(raw, content, e)
        if m:
            content, starts_block = m.end(), True
        else:
            m = _ORDERED.match(raw, content, e)
            if m and (not para or m.group(1) == "1" or not wrapped):
                starts_block = True  # the number stays: "1." is part of what the text says
        if para and (starts_block or hard[-1] or not wrapped or _INLINE_LABEL.match(raw, content)):
            flush()
            b.newline(s, 1)
        # hard break after this line: two trailing spaces, or a trailing backslash
        body_end = e
        stripped = line.rstrip(" \t")
        is_hard = len(line) - len(line.rstrip()) >= 2  # any spaces: pages use "\xa0 " too
        if stripped.endswith("\\") and not stripped.endswith("\\\\"):
            is_hard = True
            body_end = s + len(stripped) - 1
        para.append((content, body_end))
        hard.append(is_hard)
        if _INLINE_LABEL.match(raw, content):
            any_label = True
    flush()
    text, smap, turns = b.finish()
    if not any_label and people and _is_remarks(title):
        turns = (Turn(0, len(text), _default_speaker(author, people)),) if text else ()
    return text, smap, turns, heading


def _wrapped(raw: str, lines: list[tuple[int, int]]) -> bool:
    """True when the file's prose lines are hard-wrapped (a line end inside a paragraph is a
    space), False when its lines are whole paragraphs: fewer than a fifth of the non-blank lines
    (link targets not counted) are longer than 100 characters."""
    long = prose = 0
    for s, e in lines:
        line = re.sub(r"\]\([^)\s]*\)", "]", raw[s:e]).strip()
        if not line or line.startswith("|"):
            continue
        prose += 1
        long += len(line) > 100
    return prose == 0 or long < 0.2 * prose


def _inline(raw: str, para: list[tuple[int, int]], hard: list[bool], b: Builder,
            people: list[tuple[str, str]], *, labels: bool = True) -> None:
    """Emit one paragraph (its lines' source ranges) with its inline markup removed."""
    pieces: list[str] = []
    p2s: list[int] = []
    joins: dict[int, bool] = {}  # position in P of each line join -> hard break?
    for i, (s, e) in enumerate(para):
        if i:
            joins[len(p2s)] = hard[i - 1]
            pieces.append("\n")
            p2s.append(para[i - 1][1])
        pieces.append(raw[s:e])
        p2s.extend(range(s, e))
    p = "".join(pieces)
    n = len(p)
    gone = bytearray(n)  # 1 = removed
    literal = bytearray(n)  # 1 = escaped or code: not markup
    if labels:
        m = _INLINE_LABEL.match(p)
        if m:
            label = m.group(1) or m.group(2)
            gone[:m.end()] = b"\x01" * m.end()
            b.mark_turn(resolve_speaker(label, people))
    # escapes and code spans
    i = 0
    while i < n:
        c = p[i]
        if gone[i]:
            i += 1
        elif c == "\\" and i + 1 < n and p[i + 1] in _ESCAPABLE:
            gone[i] = 1
            literal[i + 1] = 1
            i += 2
        elif c == "`":
            j = i
            while j < n and p[j] == "`":
                j += 1
            ticks = p[i:j]
            close = p.find(ticks, j)
            while close >= 0 and close + len(ticks) < n and p[close + len(ticks)] == "`":
                close = p.find(ticks, close + len(ticks) + 1)
            if close < 0:  # an unpaired backtick is a code marker too: dropped
                gone[i:j] = b"\x01" * (j - i)
                i = j
                continue
            gone[i:j] = b"\x01" * (j - i)
            gone[close:close + len(ticks)] = b"\x01" * len(ticks)
            literal[j:close] = b"\x01" * (close - j)
            i = close + len(ticks)
        else:
            i += 1

    def free(a: int, z: int) -> bool:
        return not any(literal[a:z]) and not any(gone[a:z])

    # HTML comments, tags, autolinks
    for m in _COMMENT.finditer(p):
        if free(m.start(), m.start() + 4):
            gone[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    for m in _AUTOLINK.finditer(p):
        if free(m.start(), m.start() + 1):
            gone[m.start()] = gone[m.end() - 1] = 1
    for m in _TAG.finditer(p):
        name = m.group(2).lower()
        if not free(m.start(), m.start() + 1) or gone[m.start()]:
            continue
        if name in _HTML_STRUCK and not m.group(1):
            close = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(p, m.end())
            end = close.end() if close else m.end()
            gone[m.start():end] = b"\x01" * (end - m.start())
        elif name in _HTML_INLINE or name in _HTML_STRUCK:
            gone[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    # links [text](url) -> text; images ![alt](url) -> nothing
    i = 0
    while i < n:
        if p[i] == "[" and not literal[i] and not gone[i]:
            close = _matching(p, i, "[", "]", literal, gone)
            if close is not None and close + 1 < n and p[close + 1] == "(" and not literal[close + 1]:
                paren = _matching(p, close + 1, "(", ")", literal, gone)
                if paren is not None:
                    if i > 0 and p[i - 1] == "!" and not literal[i - 1] and not gone[i - 1]:
                        gone[i - 1:paren + 1] = b"\x01" * (paren + 2 - i)
                    else:
                        gone[i] = 1
                        gone[close:paren + 1] = b"\x01" * (paren + 1 - close)
                    i += 1
                    continue
        i += 1
    # what is left of a link whose text began before this paragraph: "](url)" is never prose
    for m in re.finditer(r"\]\((?:[^()\s]|\([^()\s]*\))*\)", p):
        if free(m.start(), m.start() + 2):
            gone[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    # emphasis markers
    i = 0
    while i < n:
        c = p[i]
        if c in "*_" and not literal[i] and not gone[i]:
            j = i
            while j < n and p[j] == c and not literal[j] and not gone[j]:
                j += 1
            before = _neighbour(p, gone, i - 1, -1)
            after = _neighbour(p, gone, j, 1)
            spaced = j - i == 1 and before.isspace() and after.isspace()  # "5 * 3"; "**" is markup
            inword = c == "_" and before.isalnum() and after.isalnum()
            if not spaced and not inword:
                gone[i:j] = b"\x01" * (j - i)
            i = j
        else:
            i += 1
    # emit
    i = 0
    while i < n:
        if i in joins:
            if not gone[i]:
                if joins[i]:
                    b.newline(p2s[i], 1)
                else:
                    b.space(p2s[i])
            i += 1
            continue
        if gone[i]:
            i += 1
            continue
        j = i
        while j < n and not gone[j] and j not in joins:
            j += 1
        b.add_source(raw, p2s[i], p2s[j - 1] + 1)
        i = j


def _matching(p: str, i: int, open_: str, close: str, literal: bytearray, gone: bytearray) -> int | None:
    depth = 0
    for j in range(i, min(len(p), i + 3000)):
        if literal[j] or gone[j]:
            continue
        if p[j] == open_:
            depth += 1
        elif p[j] == close:
            depth -= 1
            if depth == 0:
                return j
    return None


def _neighbour(p: str, gone: bytearray, i: int, step: int) -> str:
    while 0 <= i < len(p) and gone[i]:
        i += step
    return p[i] if 0 <= i < len(p) else " "


# ---- speakers -------------------------------------------------------------------------

_ROLES = ("vice president", "president", "prime minister", "national security advisor", "apnsa",
          "secretary", "ambassador", "senator", "sen.", "moderator", "spokesperson", "governor")
_REMARKS = re.compile(r"\b(remarks|speech|gaggle|press conference|press briefing|transcript|hearing|interview|"
                      r"q&a|statement from)\b", re.IGNORECASE)


def _people(author: str | None) -> list[tuple[str, str]]:
    """(role, name) of each person the author field names: "President Joseph R. Biden Jr.;
    Vice President Kamala Harris" -> [("president", "Joseph R. Biden Jr."), ("vice president",
    "Kamala Harris")]; "Jake Sullivan, National Security Advisor" -> [("national security
    advisor", "Jake Sullivan")]. Parenthesised notes are ignored."""
    if not author:
        return []
    out = []
    for part in re.split(r";| and ", re.sub(r"\([^)]*\)", "", author)):
        part = part.strip(" ,")
        if not part:
            continue
        name, _, role = part.partition(",")
        name, role = name.strip(), role.strip().lower()
        low = name.lower()
        for r in _ROLES:
            if low.startswith(r + " "):
                role, name = r, name[len(r) + 1:].strip()
                break
        if name:
            out.append((role, name))
    return out


def people(author: str | None) -> list[tuple[str, str]]:
    """Public form of ``_people``: (role, name) of each person an author field names (used by
    ``attribution`` to resolve roles such as "the National Security Advisor")."""
    return _people(author)


def resolve_speaker(label: str, people: list[tuple[str, str]]) -> str:
    """A speaker label as a name where the author field says who it is, else the label itself
    (title case; "Q" stays "Q", a reporter's question). "THE VICE PRESIDENT" with author "Vice
    President Kamala Harris" -> "Kamala Harris"; "MR. SULLIVAN" -> "Jake Sullivan"; "PRESIDENT
    XI" with author "...; President Xi Jinping" -> "Xi Jinping". A role two people share stays
    the label."""
    if label == "Q":
        return "Q"
    bare = re.sub(r"^THE ", "", label.strip()).lower()
    role_match = [name for role, name in people if role and role == bare]
    if len(role_match) == 1:
        return role_match[0]
    words = bare.split()
    if len(words) >= 2:
        surname = words[-1]
        named = [name for _, name in people if surname in [w.strip(".,").lower() for w in name.split()]]
        if len(named) == 1:
            return named[0]
    if label.isupper():  # "MS. JEAN-PIERRE" -> "Ms. Jean-Pierre"
        return re.sub(r"[A-Z]+", lambda m: m.group().capitalize(), label)
    return label


def _is_remarks(title: str | None) -> bool:
    return bool(title and _REMARKS.search(title))


def _default_speaker(author: str | None, people: list[tuple[str, str]]) -> str | None:
    """The speaker of a remarks page without labels: the one person its author names, else the
    author string as written."""
    if len(people) == 1:
        return people[0][1]
    return author


# ---- checking a source span -----------------------------------------------------------

_SQUEEZE = re.compile(r"\s+")


def squeeze(text: str) -> str:
    """Whitespace runs as one space, ends trimmed, control characters dropped, NFC."""
    text = re.sub(f"[{_CTRL}]", "", text)
    return _SQUEEZE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def strip_markup(fragment: str, kind: str = "md") -> str:
    """What the Markdown reader removes, removed from a slice of a source file: comments,
    struck-out text, known HTML tags, link targets and brackets, images, code backticks,
    emphasis markers and escapes. Independent of the reader (regular expressions over the
    slice), so comparing the two checks a citation's source span. XML: tags, comments and CDATA
    markers removed, entities decoded. Plain text: unchanged."""
    if kind == "xml":
        import html

        # CDATA content is text as written (a slice may start or end inside a section)
        parts = re.split(r"(<!\[CDATA\[.*?\]\]>)", fragment, flags=re.DOTALL)
        head = parts[0].split("]]>", 1) if "]]>" in parts[0] else None
        out = [head[0]] if head else []
        parts[0] = head[1] if head else parts[0]
        for i, part in enumerate(parts):
            if i % 2:
                out.append(part[9:-3])
                continue
            tail = ""
            if i == len(parts) - 1 and "<![CDATA[" in part:
                part, tail = part.split("<![CDATA[", 1)
            out.append(html.unescape(re.sub(r"<!--.*?-->|<[^<>]*>", "", part, flags=re.DOTALL)) + tail)
        return "".join(out)
    if kind != "md":
        return fragment
    protected: dict[str, str] = {}

    def protect(ch: str) -> str:
        key = f"\x00{len(protected)}\x00"
        protected[key] = ch
        return key

    if len(re.findall(r"`+", fragment)) % 2:
        # the slice starts inside a code span: its first backtick run closes it
        m = re.search(r"`+", fragment)
        assert m is not None
        fragment = protect(fragment[:m.start()]) + fragment[m.end():]
    # code spans and escapes first, left to right as the reader does: their content is literal
    text = re.sub(r"(`+)(.+?)\1|\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])",
                  lambda m: protect(m.group(2) if m.group(1) else m.group(3)), fragment, flags=re.DOTALL)
    text = text.replace("`", "")  # unpaired code markers (the reader drops them too)
    text = re.sub(r"\\(?=\s*$)", "", text)  # a hard-break backslash at a line end
    text = re.sub(r"\\(?=\r?\n)", "", text)
    text = _COMMENT.sub("", text)
    text = re.sub(r"<(s|del|strike)\b[^<>]*>.*?</\1\s*>", "", text, flags=re.IGNORECASE | re.DOTALL)
    text = _AUTOLINK.sub(r"\1", text)

    def tag(m: re.Match[str]) -> str:
        name = m.group(2).lower()
        return "" if name in _HTML_INLINE or name in _HTML_STRUCK else m.group(0)

    text = _TAG.sub(tag, text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[(?=[^\[\]]*\]\()", "", text)  # the opening bracket of a link
    text = re.sub(r"\]\((?:[^()\s]|\([^()\s]*\))*\)", "", text)  # "](url)": the end of a link
    # emphasis: a run of * or _ unless it stands between spaces or (for _) inside a word
    def marker(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if len(m.group(0)) == 1 and before.isspace() and after.isspace():
            return m.group(0)
        if m.group(0)[0] == "_" and before.isalnum() and after.isalnum():
            return m.group(0)
        return ""

    text = re.sub(r"\*+|_+", marker, text)
    for key, ch in protected.items():
        text = text.replace(key, ch)
    return text


def source_matches(source: str, start: int, end: int, quote: str, kind: str) -> bool:
    """The rule a source span keeps: squeeze(strip_markup(source[start:end])) == squeeze(quote)."""
    return squeeze(strip_markup(source[start:end], kind)) == squeeze(quote)



# ---- XML ------------------------------------------------------------------------------

def xml_source_map(data: bytes, source: str, expected: str) -> SourceMap | None:
    """The map of ``documents._read_xml``'s text into ``source`` (the decoded file), rebuilt from
    expat's byte positions (ElementTree keeps none): the same block/inline layout as
    ``documents._xml_text``, each character-data event mapped to its bytes (one to one when the
    bytes are the text itself, as a whole for an entity or a CRLF). UTF-8 files only; None
    when the rebuilt text is not exactly ``expected``."""
    import bisect
    from xml.parsers import expat

    try:
        if data.decode("utf-8-sig") != source:
            return None
    except UnicodeDecodeError:
        return None
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    char_starts = [i for i, byte in enumerate(data) if byte & 0xC0 != 0x80]

    def char_at(byte: int) -> int:
        return bisect.bisect_left(char_starts, byte) - (1 if bom else 0)

    # node = [children, text pieces, tail pieces]; a piece = [data, byte start, byte end]
    root: list = [[], [], []]
    stack = [root]
    open_piece: list = []

    def close(pos: int) -> None:
        if open_piece:
            open_piece.pop()[2] = pos

    def start(name, attrs):  # type: ignore[no-untyped-def]
        close(parser.CurrentByteIndex)
        node: list = [[], [], []]
        stack[-1][0].append(node)
        stack.append(node)

    def end(name):  # type: ignore[no-untyped-def]
        close(parser.CurrentByteIndex)
        stack.pop()

    def chars(text):  # type: ignore[no-untyped-def]
        close(parser.CurrentByteIndex)
        node = stack[-1]
        piece = [text, parser.CurrentByteIndex, parser.CurrentByteIndex]
        (node[0][-1][2] if node[0] else node[1]).append(piece)
        open_piece.append(piece)

    def other(*_):  # type: ignore[no-untyped-def]
        close(parser.CurrentByteIndex)

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    parser.CommentHandler = parser.ProcessingInstructionHandler = other
    parser.StartCdataSectionHandler = parser.EndCdataSectionHandler = other
    try:
        parser.Parse(data, True)
    except expat.ExpatError:
        return None
    close(len(data))
    if len(root[0]) != 1:
        return None
    b = Builder()

    def emit(pieces: list) -> None:
        for text, s, e in pieces:
            cs, ce = char_at(s), char_at(e)
            if source[cs:ce] == text:
                b.add_source(source, cs, ce)
            else:  # an entity, a character reference, a CRLF: its words map to the whole
                for m in _TOKEN.finditer(text):
                    if m.group(4):
                        b.add(unicodedata.normalize("NFC", m.group(4)), cs, max(ce, cs + 1))
                    elif m.group(1) or m.group(3):
                        b.space(cs)

    def walk(node: list) -> None:
        children, text, _ = node
        if not children:
            emit(text)
            return
        mixed = any(t.strip() for t, _, _ in text) or any(t.strip() for c in children for t, _, _ in c[2])
        if mixed:
            emit(text)
            for child in children:
                walk(child)
                emit(child[2])
            return
        for i, child in enumerate(children):
            if i:
                b.newline(0, b.nl + 1)
            walk(child)

    walk(root[0][0])
    text, smap, _ = b.finish()
    return smap if text == expected else None
