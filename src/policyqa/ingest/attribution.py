"""Who says each sentence: speaker attribution over a loaded document's sentences.

Pure: text, sentence spans, speaker turns and two metadata fields in, one ``Attribution`` per
sentence out; no index, model or file access, and the text is never changed (an attribution only
labels ``text[start:end]``).

How a sentence gets its speaker, in this order:

1. Not speech at all: stage directions ("(Applause.)", "<Laugh>.", "(As interpreted.)"), time
   stamps ("1:43 P.M. GMT", "END 1:59 P.M. GMT"), page markers ("END", "###", "AS DELIVERED") are
   ``none``, also inside a turn.
2. ``turn`` / ``remarks``: a sentence inside a speaker turn (``textmap.read_markdown``'s labels, or
   the one turn of a remarks page without labels) is its turn's speaker; reported speech inside a
   turn stays the turn's ("President Biden pointed out that ..." in Sullivan's answer is Sullivan's).
   The label is resolved to the person's full name where the document gives one ("Sen. Richard
   Blumenthal (D-CT)" -> "Richard Blumenthal"); a reporter's or audience member's turn ("Q") whose
   first sentences say who is speaking ("Weijia Jiang with CBS.") is that person.
3. Outside turns (readouts, fact sheets, reports, quote pages, articles):
   - ``quote``: "Name, Title, Org: “...”" and "Title Name: “...”"; a quotation followed by "said
     Name" / "says Name" / "Name said"; a sentence that carries on an open quotation of the same
     paragraph (a long quote the sentence cutter split, or the next sentence of it);
   - ``reported``: a person as the subject of a reporting verb ("President Biden underscored that",
     "Anthropic CEO Dario Amodei stated that", "Vice President Harris is announcing", "As President
     Biden says,", "according to Name", "... convened ... to underscore that"), or of an
     instruction with quoted words ("directed agencies to \"...\"");
   - ``coref``: "He" / "She" / "The President" / "the Vice President" / "the National Security
     Advisor" as that subject, resolved to the last person who was the subject of a sentence in
     the paragraph (or, failing that, the document), or to the one person the document gives that
     title; left unresolved (``none``) when it is ambiguous.
   Subjects that are not one person give no speaker: organisations and countries ("DOD announced",
   "The United States reiterated"), plural subjects ("The two leaders affirmed", "the Vice
   President and Prime Minister reiterated", "They welcomed"), and actions that are not speech
   ("President Biden is directing his Trade Representative to increase tariffs", "signed").

Names are resolved to the fullest form the document (or its title and author fields, or a list of
known names the caller passes) gives for the same person: "President Biden" -> "Joseph R. Biden
Jr.", "Sullivan" -> "Jake Sullivan", "President Xi" -> "Xi Jinping"; a name the document never gives
in full stays as written ("President Biden").

Rules, not a statistical model: no English model for spaCy or another maintained library ships as
a package on PyPI from its authors (only third-party re-uploads), and these documents' conventions
(White House readouts, hearing transcripts) are regular enough for rules.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..schema import Document, Turn
from .textmap import people as author_people

HOW = ("turn", "remarks", "reported", "quote", "coref", "none")


# Bump when the rules change: indexes record it and re-attribute (no re-embedding needed, but the
# build treats it as new sentence metadata and rebuilds).
ATTRIBUTION_VERSION = 1


@dataclass(frozen=True)
class Attribution:
    """Who says ``text[start:end]`` and how that was decided."""

    start: int
    end: int
    speaker: str | None  # the person's fullest name in the document; "Q" for an unnamed reporter
    how: str  # one of HOW
    label: str | None = None  # a turn's label as the document writes it, e.g. "Sen. Josh Hawley (R-MO)"
    cue: tuple[int, int] | None = None  # span of the text that named the speaker (name, pronoun, role)


# ---- vocabulary -----------------------------------------------------------------------

_REPORT = (r"said|says|stated|states|noted|notes|stressed|stresses|emphasi[sz]ed|emphasi[sz]es|underscored|"
           r"underscores|underlined|reiterated|reiterates|reaffirmed|reaffirms|welcomed|welcomes|condemned|"
           r"condemns|called for|called on|calls for|calls on|calling for|calling on|urged|urges|warned|warns|"
           r"argued|argues|added|adds|explained|explains|raised|raises|expressed|expresses|highlighted|"
           r"highlights|pointed out|points out|affirmed|affirms|acknowledged|acknowledges|announced|announces|"
           r"announcing|told|tells|wrote|writes|asked|asks|insisted|insists|cautioned|cautions|praised|praises|"
           r"criticized|criticised|criticizes|remarked|observed|conveyed|conveys|recalled|made clear|"
           r"makes clear|declared|declares|commended|commends|objected|complained|claimed|claims|suggested|"
           r"suggests|predicted|promised|pledged|vowed|replied|responded|answered|testified|tweeted|posted|"
           r"confirmed|denied|admitted")
_AUX = r"(?:(?:has|have|had|is|was|will|would|also|again|further|repeatedly|publicly|previously|then|once again|" \
       r"strongly|firmly|explicitly|clearly|directly)\s+)*"
_DIRECT = r"directed|directs|ordered|orders|instructed|instructs|told|asked|urged|called on"
_PURPOSE = r"to (?:underscore|stress|emphasi[sz]e|highlight|make clear|reiterate|reaffirm|argue|warn|note|announce)"

_TITLES = [
    "Vice President", "President-elect", "President", "Prime Minister", "Premier", "Chancellor", "Senator", "Sen.",
    "Representative", "Rep.", "Congressman", "Congresswoman", "Secretary", "Minister", "Ambassador", "Governor",
    "Mayor", "Speaker", "Leader", "Chairman", "Chairwoman", "Chair", "Director", "Advisor", "Adviser", "Czar",
    "Spokesperson", "Spokesman", "Spokeswoman", "CEO", "Founder", "Administrator", "Commissioner", "General",
    "Admiral", "Professor", "Prof.", "Dr.", "Mr.", "Ms.", "Mrs.", "Judge", "Justice", "King", "Queen", "Envoy",
    "APNSA",
]
_TITLE_WORDS = {w for t in _TITLES for w in t.split()} | {"Acting", "Former", "former", "Deputy", "Assistant",
                                                          "Special", "Chief", "Senior", "Executive"}
# words that make a capitalised run an organisation, place or thing rather than a person
_ORG = set("""
Department House Office Council Institute University College School Act Acts Order States United Nations National
Security Committee Senate Congress Administration Court Agency Commission Group Summit Plan Company Companies
Corporation Association Federation Center Centre Foundation Program Programme Law Bill Declaration Ministry Party
Republic Government Statement Union Guild Conference Lab Laboratory Project Initiative Forum Network Bank Fund
Board Service Services Inc Ltd LLC Co Corp Times Post Journal News Press Media Technology Technologies Policy
Studies Research Affairs Strait Sea Ocean Peninsula Plateau Island Islands River Lake Mountain Park Room Hotel
Garden Gardens Hall Street Avenue Square Building Tower Bridge Airport Station Embassy Kingdom Empire Province
State County City Region Artificial Intelligence Presidential Federal Defense Defence Force Forces Army Navy Capitol
Valley Framework Rule Rules Memorandum Strategy Process Code Principles Partnership Infrastructure Investment
Economic Economy Trade Tariff Tariffs Science Roundtable Chamber Coalition Alliance Caucus Campaign Council
Executive Legislative Judicial Supreme Department Agency Bureau Authority Organization Organisation Institution
Club Society Team Office Desk Unit Division Task Treaty Accord Agreement Convention Charter Resolution Report
Index Survey Review Dialogue Talks Meeting Forum Day Week Month Year Today Yesterday Monday Tuesday Wednesday
Thursday Friday Saturday Sunday January February March April May June July August September October November
December North South East West Northern Southern Eastern Western Central Global International World Internet Web
""".split())
# a capitalised word that starts a sentence or clause but is no name
_FUNCTION = set("""
The A An In On At And But Or So As For To Of By With From If When While Since After Before During Today This That
These Those We I It He She They You Our Their His Her Its My Your Yes No Not Now Then There Here Thank Thanks
Good Hello Hi Well Look Okay OK Madam Sir Both Each Every Some Many Most All Such Also However Indeed Meanwhile
Regarding Building Under Over Through Between Among Against Without Within Who What Which Where Why How Let Please
""".split())

_NAME_TOKEN = r"(?!(?:Jr|Sr)\b)(?:[A-Z][a-z]+(?:[-’'][A-Z]?[a-z]+)*|[A-Z]\.|Mc[A-Z][a-z]+|[A-Z][a-z]*[A-Z][a-z]+)"
_SUFFIX = r"(?:,?\s+(?:Jr\.|Sr\.|II|III|IV))"
_NAME = rf"{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,3}}{_SUFFIX}?"
_TITLE_RE = "|".join(re.escape(t) for t in sorted(_TITLES, key=len, reverse=True))
# "President Joseph R. Biden Jr.", "Secretary of Defense Pete Hegseth", "Anthropic CEO Dario Amodei"
_TITLED = re.compile(rf"\b((?:(?:Vice|Acting|Former|former|Deputy)\s+)*(?:{_TITLE_RE})"
                     rf"(?:\s+(?:of|for)(?:\s+(?:the\s+)?[A-Z][A-Za-z&]+){{1,3}}?(?:\s+and(?:\s+[A-Z][A-Za-z]+){{1,5}}?)?)?)"
                     rf"\s+({_NAME})")
_QUOTE_OPEN = "“\""


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[\s,]+", name) if t and t not in ("Jr.", "Sr.", "II", "III", "IV")]


def _person_shaped(name: str, *, single: bool = False) -> bool:
    """2-4 capitalised name tokens (1 if ``single``), none of them an organisation, place or
    function word, nor a title."""
    toks = _tokens(name)
    if not toks or len(toks) > 4 or (len(toks) < 2 and not single):
        return False
    if toks[0] in _FUNCTION or toks[0].rstrip("’'s") in _FUNCTION:
        return False
    for t in toks:
        bare = re.sub(r"[’']s?$", "", t)
        if not re.fullmatch(_NAME_TOKEN, bare) or bare in _ORG or bare in _TITLE_WORDS:
            return False
    return not all(re.fullmatch(r"[A-Z]\.", t) for t in toks)


def _strip_possessive(name: str) -> str:
    return re.sub(r"[’']s?$", "", name.strip())


# ---- the document's people --------------------------------------------------------------

@dataclass
class _Person:
    name: str  # fullest form seen
    titles: set[str]


class _Registry:
    """The people a document names, with the titles it gives them."""

    def __init__(self) -> None:
        self.people: list[_Person] = []

    def add(self, name: str, title: str | None = None) -> _Person | None:
        name = _strip_possessive(re.sub(r"\s+", " ", name)).strip(" ,")
        toks = _tokens(name)
        if not toks:
            return None
        title = _norm_title(title) if title else None
        found = self._match(toks)
        if found is None:
            found = _Person(name, set())
            self.people.append(found)
        elif len(toks) > len(_tokens(found.name)):
            found.name = name
        if title:
            found.titles.add(title)
        return found

    def _match(self, toks: list[str]) -> _Person | None:
        low = [t.lower() for t in toks]
        hits = []
        for p in self.people:
            ptoks = [t.lower() for t in _tokens(p.name)]
            if all(t in ptoks for t in low) or all(t in low for t in ptoks):
                if len(low) == 1 or len(ptoks) == 1 or low[-1] == ptoks[-1] or low[0] == ptoks[0]:
                    hits.append(p)
            elif len(low) > 1 and len(ptoks) > 1 and low[-1] == ptoks[-1] and low[0][0] == ptoks[0][0]:
                hits.append(p)  # "Joe Biden" and "Joseph R. Biden Jr."
        return hits[0] if len(hits) == 1 else None

    def resolve(self, mention: str) -> str | None:
        """The fullest name of the person a mention names ("Biden" -> "Joseph R. Biden Jr."), or
        None when the document gives no such person (or several)."""
        p = self._match(_tokens(_strip_possessive(mention)))
        return p.name if p else None

    def by_title(self, title: str) -> list[_Person]:
        t = _norm_title(title)
        return [p for p in self.people if t in p.titles]


def _norm_title(title: str) -> str:
    t = re.sub(r"\s+", " ", title.strip()).lower()
    t = re.sub(r"^(?:the|former|acting|deputy)\s+", "", t)
    return {"apnsa": "national security advisor", "sen.": "senator", "adviser": "advisor"}.get(t, t)


def _collect(registry: _Registry, text: str, body: str | None = None) -> None:
    """Register every "Title Name" of ``text``. A headline (``body`` given: the document's text)
    capitalises every word, so a name taken from it keeps only the words that the body also
    writes capitalised ("President Biden Takes Action" -> "Biden")."""
    pos = 0
    while True:
        m = _TITLED.search(text, pos)
        if m is None:
            break
        pos = m.start() + 1  # overlapping: "... and Acting National Security Advisor Marco Rubio"
        title, name = m.group(1), m.group(2)
        name = _trim_name(name)
        if body is not None:
            kept = []
            for t in name.split():
                if not re.search(rf"\b{re.escape(_strip_possessive(t))}\b", body):
                    break
                kept.append(t)
            name = " ".join(kept)
        if name and _person_shaped(name, single=True):
            last = title.split()[-1]
            role = title
            if " of " in title or " for " in title or " and " in title:
                role = re.split(r"\s+(?:of|for)\s+", title)[0]
            if last in ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.") or not _person_shaped(name):
                registry.add(name, None if last in ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.") else role)
            else:
                registry.add(name, role)


def _trim_name(name: str) -> str:
    """Cut a name run at the first organisation or function word ("Biden Administration" -> "Biden")."""
    out = []
    for t in name.split():
        bare = re.sub(r"[’']s?$", "", t)
        if bare in _ORG or bare in _FUNCTION or bare in _TITLE_WORDS:
            break
        out.append(t)
        if bare != t:  # a possessive ends the name
            break
    return " ".join(out).rstrip(",")


# ---- turns --------------------------------------------------------------------------

_HONORIFIC = re.compile(r"^(?:(?:Sen|Rep|Senator|Mr|Ms|Mrs|Dr|Prof|Chairman|Chair)\.?\s+)")
_PARTY = re.compile(r"\s*\([A-Z]-[A-Z]{2}\)\s*$")
_ANONYMOUS = {"q", "audience member", "audience members", "audience", "participant", "participants", "reporter",
              "aide", "aides", "staff", "interpreter", "operator", "moderator"}
# "Weijia Jiang with CBS." (also "from", "for", "at", or a comma before the outlet)
_INTRO = re.compile(rf"^({_NAME})(?:,\s*|\s+(?:with|from|for|at)\s+)(?:the\s+)?[A-Z][\w.&’'-]*"
                    rf"(?:\s+[A-Z][\w.&’'-]*){{0,4}}\.?$")


def _turn_speaker(label: str | None, registry: _Registry) -> str | None:
    if label is None:
        return None
    if label.strip().lower() in _ANONYMOUS:
        return label
    bare = _PARTY.sub("", _HONORIFIC.sub("", label.strip()))
    # the full name where the document gives one; else the label ("Ms. Jean-Pierre" stays)
    return registry.resolve(bare) or (bare if _person_shaped(bare) else _PARTY.sub("", label.strip()))


def _self_introduction(sentences: Sequence[str]) -> str | None:
    """The name a reporter or audience member gives in the first sentences of their turn."""
    for s in sentences[:4]:
        s = s.strip()
        m = _INTRO.search(s)
        if m and len(s.split()) <= 9:  # a short sentence of its own
            name = _trim_name(m.group(1))
            if _person_shaped(name):
                return name
    return None


# ---- not speech ---------------------------------------------------------------------

_STAGE = re.compile(r"^(?:\s*(?:\([^()]*\)|<[^<>]*>|\[[^\[\]]*\])\s*[.,;]?)+\s*$")
_TIME = re.compile(r"^(?:END\s*)?\d{1,2}:\d{2}\s*[AaPp]\.?\s?[Mm]\.?(?:\s+[A-Z]{2,5})?\.?$")
_MARKER = re.compile(r"^(?:END|###|\*\*\*|-30-|AS DELIVERED|As [Dd]elivered)\.?$")


def is_speech(sentence: str) -> bool:
    """False for stage directions, time stamps and page markers, which nobody says."""
    s = sentence.strip()
    return bool(s) and not (_STAGE.match(s) or _TIME.match(s) or _MARKER.match(s))


# ---- reported speech ------------------------------------------------------------------

_SUBJECT_VERB = re.compile(rf"\s+{_AUX}(?:{_REPORT})\b")
_DIRECTIVE = re.compile(rf"\s+{_AUX}(?:{_DIRECT})\b")
_COLON_QUOTE = re.compile(r"^([^:“”\"\n]{3,220}?):\s*[“\"]")
_QUOTE_SAID = re.compile(r"[”\"]\s*,?\s*(?:(said|says|added|stated|wrote|noted|explained|argued|warned)\s+"
                         r"([^.;:“”\"]{2,160}?)(?=[.;,]\s*$|[.;]\s|,\s|$)|"
                         rf"({_NAME})\s+(?:said|says|added|stated|wrote))")
_ACCORDING = re.compile(rf"\b[Aa]ccording to\s+((?:[A-Z][\w.’'-]*\s+){{0,6}}?{_NAME})")
_AS_SAYS = re.compile(rf"\b[Aa]s\s+((?:[A-Z][\w.’'-]*\s+){{0,4}}?{_NAME})\s+(?:has\s+)?(?:said|says|noted|put it|"
                      rf"argued|wrote|has argued|observed|warned)\b")
_PLURAL_BEFORE = re.compile(r"(?:\band|&|\bboth|\bwith|\btogether with)\s*(?:the\s+)?$", re.IGNORECASE)


_WINDOW = 240  # characters before a verb searched for its subject
_SUBJECT_END = re.compile(rf"((?:(?:{_TITLE_RE}|Vice|Acting|Former|former|Deputy|[A-Z][A-Za-z.&’'-]*)\s+){{0,8}}?)"
                          rf"({_NAME})[’']?s?$")


def _quoted(sentence: str) -> list[tuple[int, int]]:
    """Spans of the sentence inside quotation marks (an unclosed quote runs to the end)."""
    spans, i, n = [], 0, len(sentence)
    while i < n:
        c = sentence[i]
        if c == "“" or (c == '"' and (i == 0 or not sentence[i - 1].isalnum())):
            close = "”" if c == "“" else '"'
            j = sentence.find(close, i + 1)
            j = n if j < 0 else j
            spans.append((i, j + 1))
            i = j + 1
        else:
            i += 1
    return spans


def _open_quote(sentence: str) -> bool:
    """Whether a quotation opened in the sentence is still open at its end."""
    depth = 0
    for c in sentence:
        if c == "“":
            depth += 1
        elif c == "”":
            depth = max(0, depth - 1)
    straight = sentence.count('"') % 2
    return depth > 0 or bool(straight)


def _inside(pos: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def _name_in_np(np: str) -> tuple[str, int] | None:
    """The person an attribution noun phrase names and where the name starts in it: "White House
    OSTP Director Michael Kratsios" -> "Michael Kratsios"; "Dan Correa, CEO of FAS" -> "Dan Correa"."""
    np = np.strip().rstrip(".")
    head = np.split(",")[0].strip()
    words = head.split()
    last_title = max((i for i, w in enumerate(words) if w in _TITLE_WORDS or w.rstrip(".") + "." in _TITLE_WORDS),
                     default=-1)
    cand = " ".join(words[last_title + 1:])
    cand = _trim_name(cand) if last_title >= 0 else cand
    if last_title < 0 and not _person_shaped(cand):
        # no title word known: the name is the run of capitalised words the phrase ends with,
        # taken as "First Last" (with an initial or suffix) when the run is longer
        run = re.search(rf"((?:{_NAME_TOKEN}\s+)*{_NAME_TOKEN}{_SUFFIX}?)$", head)
        toks = run.group(1).split() if run else []
        while len(toks) > 2 and not (re.fullmatch(r"[A-Z]\.", toks[-2]) or toks[-1] in ("Jr.", "Sr.")):
            toks.pop(0)
        if len(toks) > 3:
            toks = toks[-3:]
        cand = " ".join(toks)
    if _person_shaped(cand):
        return cand, head.rfind(cand) if cand else 0
    return None


class _Attributor:
    def __init__(self, registry: _Registry) -> None:
        self.registry = registry
        self.last_subject: list[tuple[int, str, str | None]] = []  # (paragraph, name, title)

    # one person named at ``m``: (speaker, cue) or None
    def _person_at(self, sentence: str, start: int, name: str, title: str | None) -> str | None:
        name = _trim_name(_strip_possessive(name))
        if not name:
            return None
        known = self.registry.resolve(name)
        if known:
            return f"{title} {known}" if title and len(_tokens(known)) == 1 else known
        if _person_shaped(name) or (title and _person_shaped(name, single=True)):
            return f"{title} {name}" if title and len(_tokens(name)) == 1 else name
        return None

    def _subject_before(self, sentence: str, end: int) -> tuple[str, int, int, str | None] | None:
        """The single person named right before ``end`` (the subject of a verb there): (speaker,
        start, end of the mention, title), or None for organisations, plurals, unknown words."""
        base = max(0, end - _WINDOW)  # a subject is never longer: keeps the search linear
        m = _SUBJECT_END.search(sentence[base:end].rstrip())
        if not m:
            return None
        name = m.group(2)
        prefix = m.group(1).split()
        title_words = [w for w in prefix if w in _TITLE_WORDS or w.rstrip(".") + "." in _TITLE_WORDS]
        title = " ".join(prefix[prefix.index(title_words[0]):]) if title_words else None
        # the name run may have swallowed title words at its front ("Vice President Harris")
        toks = name.split()
        while toks and (toks[0] in _TITLE_WORDS or toks[0] in _FUNCTION):
            word = toks.pop(0)
            if word in _TITLE_WORDS:
                title = ((title + " ") if title else "") + word
            elif title:  # "As President Biden": a function word ends any title before it
                title = None
        name = " ".join(toks)
        if not name:
            return None
        if _trim_name(name) != _strip_possessive(name).rstrip(","):
            return None  # "The Biden-Harris Administration": a name modifying an organisation
        if _PLURAL_BEFORE.search(sentence[max(0, base + m.start() - _WINDOW):base + m.start()]):
            return None
        speaker = self._person_at(sentence, base + m.start(2), name, title)
        if speaker is None:
            return None
        return speaker, base + m.start(), base + m.end(), title

    def _coref(self, pronoun_or_role: str, paragraph: int) -> str | None:
        if pronoun_or_role.lower() in ("he", "she"):
            same = [s for p, s, _ in self.last_subject if p == paragraph]
            if same:
                return same[-1]
            if not self.last_subject:
                return None
            # an earlier paragraph: only if the last one that named anybody named one person
            last_para = self.last_subject[-1][0]
            names = {s for p, s, _ in self.last_subject if p == last_para}
            return names.pop() if len(names) == 1 else None
        role = _norm_title(pronoun_or_role)
        for p, s, t in reversed(self.last_subject):
            if t and _norm_title(t) == role:
                return s
        people = self.registry.by_title(role)
        return people[0].name if len(people) == 1 else None

    def reported(self, sentence: str, offset: int, paragraph: int,
                 previous: tuple[str | None, str, bool] | None) -> tuple[str | None, str, tuple[int, int] | None]:
        """(speaker, how, cue) for a sentence outside turns. ``previous``: the last sentence of
        the same paragraph (speaker, how, quote still open)."""
        quoted = _quoted(sentence)
        # 1. "Name, Title, Org: “...”" / "Title Name: “...”"
        m = _COLON_QUOTE.match(sentence)
        if m:
            found = _name_in_np(m.group(1))
            if found:
                name, at = found
                return self._named(name, paragraph, None), "quote", (offset + at, offset + at + len(name))
            return None, "none", None
        # 2. a quotation followed by "said Name" / "Name said"
        for m in _QUOTE_SAID.finditer(sentence):
            if m.group(2):
                found = _name_in_np(m.group(2))
                if found:
                    name, at = found
                    s = m.start(2) + at
                    return self._named(name, paragraph, None), "quote", (offset + s, offset + s + len(name))
            elif m.group(3) and _person_shaped(_trim_name(m.group(3)), single=bool(self.registry.resolve(m.group(3)))):
                name = _trim_name(m.group(3))
                return self._named(name, paragraph, None), "quote", (offset + m.start(3), offset + m.start(3) + len(name))
        # 3. "According to Name", "As President Biden says,"
        for pattern in (_ACCORDING, _AS_SAYS):
            m = pattern.search(sentence)
            if m and not _inside(m.start(), quoted):
                found = self._subject_before(sentence, m.end(1))
                if found:
                    speaker, a, b, title = found
                    self._remember(paragraph, speaker, title)
                    return speaker, "reported", (offset + a, offset + b)
        # 4. Subject + reporting verb (outside quotations)
        best = self._subject_verb(sentence, offset, paragraph, quoted)
        if best is not None:
            return best
        # 5. a sentence carrying on the same paragraph's open quotation
        if previous is not None:
            prev_speaker, prev_how, still_open = previous
            if prev_speaker and prev_how == "quote" and (still_open or sentence.lstrip()[:1] in _QUOTE_OPEN):
                return prev_speaker, "quote", None
        # no reporting: still note who the sentence is about, for "He ..." later
        self._note_subject(sentence, paragraph)
        return None, "none", None

    def _named(self, name: str, paragraph: int, title: str | None) -> str:
        speaker = self.registry.resolve(name) or name
        self._remember(paragraph, speaker, title)
        return speaker

    def _remember(self, paragraph: int, speaker: str, title: str | None) -> None:
        if title is None:
            titles = [p.titles for p in self.registry.people if p.name == speaker]
            title = next(iter(sorted(titles[0])), None) if titles and titles[0] else None
        self.last_subject.append((paragraph, speaker, title))

    def _subject_verb(self, sentence: str, offset: int, paragraph: int,
                      quoted: list[tuple[int, int]]) -> tuple[str | None, str, tuple[int, int] | None] | None:
        candidates: list[tuple[int, str, str, tuple[int, int], str | None]] = []
        verbs = [m for m in _SUBJECT_VERB.finditer(sentence) if not _inside(m.start(), quoted)]
        directive = [m for m in _DIRECTIVE.finditer(sentence) if not _inside(m.start(), quoted)
                     and any(a > m.start() for a, _ in quoted)]
        purpose = re.search(rf"\b{_PURPOSE} that\b", sentence)
        for m in verbs + directive:
            base = max(0, m.start() - _WINDOW)
            before = sentence[base:m.start()]
            # a pronoun or a role right before the verb
            p = re.search(r"\b(He|She|he|she)$", before)
            if p:
                if p.start() and _PLURAL_BEFORE.search(before[:p.start()]):
                    continue
                who = self._coref(p.group(1), paragraph)
                if who:
                    candidates.append((m.start(), who, "coref", (offset + base + p.start(), offset + base + p.end()), None))
                continue
            r = re.search(r"\b[Tt]he\s+((?:(?:Vice|Deputy|Acting)\s+)?(?:President|Prime Minister|"
                          r"National Security Advisor|Secretary(?: of [A-Z]\w+)?|Chancellor|Premier|Minister|"
                          r"Ambassador|Governor|Chairman|Chair|Senator|Spokesperson|Director|Administrator|Leader|"
                          r"Speaker))$", before)
            if r:
                if _PLURAL_BEFORE.search(before[:r.start()]):
                    continue
                who = self._coref(r.group(1), paragraph)
                if who:
                    candidates.append((m.start(), who, "coref", (offset + base + r.start(), offset + base + r.end()),
                                       r.group(1)))
                continue
            found = self._subject_before(sentence, m.start())
            if found:
                speaker, a, b, title = found
                candidates.append((m.start(), speaker, "reported", (offset + a, offset + b), title))
        if purpose and not candidates:
            # "In July, the Vice President convened ... to underscore that ...": the clause's subject
            head = sentence[:purpose.start()]
            lead = re.match(r"^(?:(?:In|On|At|During|After|Before|Since|Last|This|Earlier|Later)\b[^,]{0,60},\s*)?", head)
            rest = head[lead.end():] if lead else head
            r = re.match(r"[Tt]he\s+((?:Vice\s+)?President|Prime Minister|National Security Advisor)\b", rest)
            if r:
                who = self._coref(r.group(1), paragraph)
                if who:
                    s = (lead.end() if lead else 0) + r.start()
                    candidates.append((purpose.start(), who, "coref", (offset + s, offset + s + len(r.group(0))), r.group(1)))
            else:
                v = re.match(rf"((?:(?:{_TITLE_RE})\s+)*)({_NAME})\s+[a-z]", rest)
                if v:
                    found = self._subject_before(rest, v.end(2))
                    if found:
                        speaker, a, b, title = found
                        s = (lead.end() if lead else 0)
                        candidates.append((purpose.start(), speaker, "reported", (offset + s + a, offset + s + b), title))
        if not candidates:
            return None
        _, speaker, how, cue, title = min(candidates, key=lambda c: c[0])
        self._remember(paragraph, speaker, title)
        return speaker, how, cue

    def _note_subject(self, sentence: str, paragraph: int) -> None:
        """Remember the person a sentence opens with ("President Joseph R. Biden Jr. met with ..."),
        so that a later "He" or "The President" can refer to them."""
        lead = re.match(r"^(?:(?:In|On|At|During|After|Before|Since|Regarding|Building on)\b[^,]{0,80},\s*)?", sentence)
        rest = sentence[lead.end():] if lead else sentence
        m = re.match(rf"((?:(?:Vice|Acting|Former|former)\s+)*(?:{_TITLE_RE})\s+)?({_NAME})\s+(?:[a-z]|and\b)", rest)
        if not m:
            return
        if re.match(rf"{_NAME}\s+and\b", rest[m.start(2):]):
            return  # "President Xi and President Biden came together": plural
        name = _trim_name(m.group(2))
        title = m.group(1).strip() if m.group(1) else None
        speaker = self.registry.resolve(name) if name else None
        if speaker is None and name and (_person_shaped(name) or title):
            speaker = name if _person_shaped(name) else None
        if speaker:
            self._remember(paragraph, speaker, title)


# ---- entry points -------------------------------------------------------------------

def attribute(text: str, spans: Sequence[tuple[int, int]], turns: Sequence[Turn] = (), *,
              title: str | None = None, author: str | None = None,
              known_names: Iterable[str] = ()) -> tuple[Attribution, ...]:
    """One ``Attribution`` per sentence span (same order), for a document's normalised ``text``.

    ``turns``: the document's speaker turns (``Document.turns``); ``title`` and ``author``: its
    metadata (the author field names a remarks page's speaker and their role); ``known_names``:
    full names known from elsewhere (e.g. other documents), used only to complete a name this
    document gives in short.
    """
    registry = _Registry()
    for role, name in author_people(author):
        if _person_shaped(name):
            registry.add(name, role or None)
    _collect(registry, text)
    if title:
        _collect(registry, title, body=text)
    for t in turns:
        if t.speaker and t.speaker.strip().lower() not in _ANONYMOUS:
            bare = _PARTY.sub("", _HONORIFIC.sub("", t.speaker.strip()))
            if _person_shaped(bare):
                registry.add(bare)
    for name in known_names:
        if _person_shaped(name) and registry.resolve(name) is not None:
            registry.add(name)

    starts = [t.start for t in turns]
    remarks_page = len(turns) == 1 and turns[0].start == 0 and turns[0].end == len(text)
    # a reporter's or audience member's turn that says who is speaking
    turn_names: dict[int, str | None] = {}
    attributor = _Attributor(registry)
    out: list[Attribution] = []
    paragraph = -1
    last_para_start = -2
    previous: tuple[str | None, str, bool] | None = None
    for start, end in spans:
        sentence = text[start:end]
        para_start = text.rfind("\n", 0, start) + 1
        if para_start != last_para_start:
            paragraph += 1
            last_para_start = para_start
            previous = None
        i = bisect.bisect_right(starts, start) - 1
        turn = turns[i] if i >= 0 and start < turns[i].end else None
        if not is_speech(sentence):
            out.append(Attribution(start, end, None, "none", turn.speaker if turn else None))
            continue
        if turn is not None:
            label = turn.speaker
            if i not in turn_names:
                turn_names[i] = None
                if label and label.strip().lower() in _ANONYMOUS:
                    inside = [text[s:e] for s, e in spans if turn.start <= s < turn.end]
                    turn_names[i] = _self_introduction(inside)
            speaker = turn_names[i] or _turn_speaker(label, registry)
            if speaker is None:
                out.append(Attribution(start, end, None, "none"))
                continue
            out.append(Attribution(start, end, speaker, "remarks" if remarks_page else "turn", label))
            continue
        speaker, how, cue = attributor.reported(sentence, start, paragraph, previous)
        still_open = False
        if how == "quote":
            still_open = _open_quote(sentence)
            if cue is None and previous is not None and previous[2] and not re.search("[”\"]", sentence):
                still_open = True  # the middle of a quotation cut into several pieces
        previous = (speaker, how, still_open)
        out.append(Attribution(start, end, speaker, how if speaker else "none", None, cue if speaker else None))
    return tuple(out)


def attribute_document(doc: Document, spans: Sequence[tuple[int, int]],
                       known_names: Iterable[str] = ()) -> tuple[Attribution, ...]:
    """``attribute`` over a loaded ``Document`` and its sentence spans."""
    return attribute(doc.text, spans, doc.turns, title=doc.meta.title, author=doc.meta.author,
                     known_names=known_names)


def turn_speakers(doc: Document, spans: Sequence[tuple[int, int]]) -> tuple[Attribution, ...]:
    """Speakers without attribution: a sentence inside a speaker turn (a transcript label, a
    remarks page) is its turn's, as the Markdown reader labelled it; every other sentence has
    none. This is what the index held before ``attribute`` existed; ``Settings(attribution=False)``
    builds with it, so that evaluation can compare the same system with and without attribution."""
    remarks_page = len(doc.turns) == 1 and doc.turns[0].start == 0 and doc.turns[0].end == len(doc.text)
    out = []
    for start, end in spans:
        speaker = doc.speaker_at(start)
        out.append(Attribution(start, end, speaker, ("remarks" if remarks_page else "turn") if speaker else "none"))
    return tuple(out)
