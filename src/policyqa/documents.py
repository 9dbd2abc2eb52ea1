"""Files -> ``Document``: decoding, text extraction per format, normalisation, metadata.

Every format ends in one normalised string; all later offsets point into it. Heavy parsers
(pypdf, trafilatura) are imported only when a file of their kind is read.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from .errors import DocumentError
from .schema import Document, DocumentMeta, SourceMap, Turn

SUPPORTED = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
             ".pdf": "pdf", ".xml": "xml"}
IGNORE_FILE = ".policyqaignore"

_SPACES = re.compile(r"[^\S\n]+")  # any whitespace except newline
_MANY_NEWLINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_ISO_DATE = re.compile(r"\b((?:19|20)\d{2})(?:-(\d{2}))?(?:-(\d{2}))?\b")


def normalise(text: str) -> str:
    """NFC, LF line ends, one space between words, at most one blank line between paragraphs."""
    # Control characters go first: removed after NFC, one between a letter and its accent would
    # leave a decomposed pair behind.
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def iso_date(value: str | None) -> str | None:
    """First YYYY[-MM[-DD]] in a free-text date, for date filters; None when it is unknown."""
    if not value or "unknown" in value.lower():
        return None
    m = _ISO_DATE.search(value)
    if not m:
        return None
    return "-".join(part for part in m.groups() if part)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_document(path: str | Path, root: str | Path | None = None, *, max_file_mb: float = 20.0) -> Document:
    """Read one file into a Document. Raises DocumentError with a reason a user can act on."""
    path = Path(path)
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(str(path), f"unsupported file type {path.suffix or '(none)'!r}; "
                            f"supported: {', '.join(sorted(SUPPORTED))}")
    try:
        size = path.stat().st_size
        if size > max_file_mb * 1024 * 1024:
            raise DocumentError(str(path), f"file too large ({size / 1024 / 1024:.1f} MB > "
                                f"{max_file_mb:g} MB limit; raise it with --max-file-mb)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError(str(path), "file disappeared before it could be read") from None
    except OSError as exc:
        raise DocumentError(str(path), f"cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise DocumentError(str(path), "empty file")
    doc_id = _doc_id(path, root)
    reader = {"txt": _read_txt, "md": _read_md, "html": _read_html, "pdf": _read_pdf, "xml": _read_xml}[kind]
    text, meta, page_starts, *extra = reader(path, data)
    turns, source_map = extra if extra else ((), None)
    if not text.strip():
        raise DocumentError(str(path), "no text found in file")
    if not meta.title:
        meta = DocumentMeta(**{**meta.__dict__, "title": path.stem})
    return Document(doc_id=doc_id, path=str(path.resolve()), kind=kind, text=text, meta=meta,
                    content_hash=content_hash(data), page_starts=page_starts, turns=turns,
                    source_map=source_map)


def _doc_id(path: Path, root: str | Path | None) -> str:
    if root is not None:
        # The path as found under the root first: a symlinked file keeps its own name and folder.
        for p, r in ((path.absolute(), Path(root).absolute()), (path.resolve(), Path(root).resolve())):
            try:
                return p.relative_to(r).as_posix()
            except ValueError:
                pass
    return path.name


def iter_corpus_files(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, root) for every supported file under ``paths``, skipping ignored and hidden ones.

    A directory is its files' root (doc ids are relative to it); a file given directly is its
    own root's child. ``.policyqaignore`` in a root lists fnmatch patterns to skip.
    """
    for given in paths:
        if given.is_file():
            yield given, given.parent
            continue
        if not given.is_dir():
            raise DocumentError(str(given), "no such file or directory")
        patterns = _ignore_patterns(given)
        for file in sorted(given.rglob("*")):
            rel = file.relative_to(given).as_posix()
            if any(part.startswith(".") for part in file.relative_to(given).parts):
                continue
            # A dangling symlink is listed too, so the build reports it instead of skipping it silently.
            if not (file.is_file() or file.is_symlink()) or file.suffix.lower() not in SUPPORTED:
                continue
            if any(fnmatch.fnmatch(rel, pattern) for pattern in patterns):
                continue
            yield file, given


def _ignore_patterns(root: Path) -> list[str]:
    ignore = root / IGNORE_FILE
    if not ignore.is_file():
        return []
    lines = ignore.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# ---- decoding -------------------------------------------------------------------------

def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 (or UTF-16/32 with a byte-order mark); bytes that are not valid UTF-8 are read as
    Windows-1252/Latin-1, so a Latin-1 file and a mostly-UTF-8 file with a few Latin-1 bytes both
    decode right. Binary files are refused."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:8192] or _looks_binary(data[:8192]):
        raise DocumentError(str(path), "binary file, not text (wrong extension?)")
    return data.decode("utf-8-sig", errors=_LEGACY_BYTES)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_LEGACY_BYTES = "policyqa-cp1252"


def _legacy_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: each byte that is not UTF-8 is read as Windows-1252 (or Latin-1)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in bad), exc.end


codecs.register_error(_LEGACY_BYTES, _legacy_bytes)


def _looks_binary(head: bytes) -> bool:
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return bool(head) and controls / len(head) > 0.05


# ---- formats --------------------------------------------------------------------------

Read = tuple[str, DocumentMeta, tuple[int, ...]] | tuple[str, DocumentMeta, tuple[int, ...], tuple[Turn, ...],
                                                         SourceMap | None]


def _read_txt(path: Path, data: bytes) -> Read:
    from .textmap import normalise_mapped

    text, source_map = normalise_mapped(decode_text(path, data))
    first = text.split("\n", 1)[0].strip()
    title = first if 0 < len(first) <= 150 else path.stem
    return text, DocumentMeta(title=title), (), (), source_map


def _read_md(path: Path, data: bytes) -> Read:
    from .textmap import read_markdown

    raw = decode_text(path, data)  # offsets of the source map point into this string
    front, body_start = _split_front_matter(raw)
    title = _str(front.get("title"))
    author = _str(front.get("author"))
    text, source_map, turns, heading = read_markdown(raw, body_start, author, title)
    title = title or heading
    date = _str(front.get("date"))
    meta = DocumentMeta(title=title or path.stem, author=author,
                        publisher=_str(front.get("publisher")), date=date, published=iso_date(date),
                        source=_str(front.get("source") or front.get("url")),
                        licence=_str(front.get("licence") or front.get("license")))
    return text, meta, (), turns, source_map


def _split_front_matter(raw: str) -> tuple[dict[str, object], int]:
    """The front matter's fields and where the body starts. Only a ``---`` block at the very
    start of the file is front matter; a ``---`` later on is a rule of the body."""
    opening = re.match(r"---[ \t]*\r?\n", raw)
    if not opening:
        return {}, 0
    closing = re.compile(r"\r?\n---").search(raw, opening.end() - 1)
    if closing is None:
        return {}, 0
    header = raw[opening.end():closing.start()].replace("\r\n", "\n")
    after = raw.find("\n", closing.end())
    body = len(raw) if after < 0 else after + 1
    try:
        import yaml

        parsed = yaml.safe_load(header)
        if isinstance(parsed, dict):
            return {str(k).lower(): v for k, v in parsed.items()}, body
    except Exception:  # malformed YAML: fall back to plain "key: value" lines
        pass
    fields: dict[str, object] = {}
    for line in header.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip().strip('"').strip("'")
    if not fields and header.strip():
        return {}, 0  # "---" was a horizontal rule, not front matter: keep the text
    return fields, body


def _str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_HTML_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _decode_html(path: Path, data: bytes) -> str:
    """As any text file, except that bytes which are not UTF-8 follow the charset the page declares
    in a <meta> tag (a GBK or Shift-JIS page); valid UTF-8 stays UTF-8 (declarations are often wrong)."""
    text = decode_text(path, data)  # refuses binary files; handles byte-order marks
    declared = _HTML_CHARSET.search(data[:8192])
    if declared and not any(data.startswith(bom) for bom, _ in _BOMS):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                return data.decode(declared.group(1).decode("ascii"))
            except (LookupError, UnicodeDecodeError):
                pass
    return text


def _read_html(path: Path, data: bytes) -> Read:
    import trafilatura

    html = _decode_html(path, data)
    try:
        extracted = trafilatura.bare_extraction(html, include_comments=False, include_tables=True,
                                                with_metadata=True, url=None)
        text = getattr(extracted, "text", None) if extracted is not None else None
        if not text:
            # Pages too short for trafilatura's main-content heuristics: take the visible text.
            text = trafilatura.html2txt(html) or ""
    except Exception as exc:  # lxml/trafilatura on a broken page: report it, never stop the build
        raise DocumentError(str(path), f"cannot parse HTML ({type(exc).__name__}: {exc})") from None
    text = normalise(text)
    get = (lambda name: _str(getattr(extracted, name, None))) if extracted is not None else (lambda name: None)
    date = get("date")
    meta = DocumentMeta(title=get("title") or path.stem, author=get("author"),
                        publisher=get("sitename"), date=date, published=iso_date(date),
                        source=get("url"))
    return text, meta, ()


def _read_pdf(path: Path, data: bytes) -> Read:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password and open fine.
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise DocumentError(str(path), "encrypted PDF: it needs a password; save an unlocked copy")
        pages = [normalise(page.extract_text() or "") for page in reader.pages]
        info = reader.metadata or {}
    except DocumentError:
        raise
    except Exception as exc:  # a damaged PDF fails in many ways (NotImplementedError for a mangled filter...)
        raise DocumentError(str(path), f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from None
    if not any(pages):
        raise DocumentError(str(path), f"PDF has no text layer ({len(pages)} pages, image-only?); "
                            "run OCR on it first")
    text, starts = "", []
    for page in pages:
        if text and page:
            text += "\n\n"
        starts.append(len(text))
        text += page
    title = _pdf_info(info, "/Title")
    created = _str(info.get("/CreationDate")) if hasattr(info, "get") else None
    published = None
    if created:
        m = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", created)
        if m:
            published = "-".join(p for p in m.groups() if p)
    meta = DocumentMeta(title=title or pages[0].split("\n", 1)[0][:150] or path.stem,
                        author=_pdf_info(info, "/Author"),
                        date=published, published=published)
    return text, meta, tuple(starts)


_PDF_PLACEHOLDERS = {"untitled", "anonymous", "unknown", "none", "null", "n/a", "-"}


def _pdf_info(info: object, key: str) -> str | None:
    """A PDF info field, ignoring the placeholders PDF writers fill in ("untitled", "anonymous")."""
    value = _str(info.get(key)) if hasattr(info, "get") else None  # type: ignore[attr-defined]
    return None if value is None or value.lower() in _PDF_PLACEHOLDERS else value


def _read_xml(path: Path, data: bytes) -> Read:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
        text = normalise(_xml_text(root))
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: an unknown declared encoding
        raise DocumentError(str(path), f"malformed XML ({exc})") from None
    except RecursionError:
        raise DocumentError(str(path), "XML nested too deeply to read") from None
    title = root.findtext(".//SUBJECT") or root.findtext(".//title") or root.findtext(".//TITLE")
    from .textmap import xml_source_map

    try:  # offsets into the file from expat's byte positions; None when they cannot be had
        source_map = xml_source_map(data, decode_text(path, data), text)
    except (DocumentError, RecursionError):
        source_map = None
    return text, DocumentMeta(title=_SPACE_RUNS.sub(" ", title or path.stem).strip()), (), (), source_map


_SPACE_RUNS = re.compile(r"\s+")


def _xml_text(elem) -> str:  # type: ignore[no-untyped-def]
    """Element text: children of an element with running text (mixed content, e.g. <p>an
    <i>inline</i> word</p>) join inline with spaces; other children are blocks, one per line."""
    children = list(elem)
    if not children:
        return _SPACE_RUNS.sub(" ", elem.text or "")
    if (elem.text or "").strip() or any((c.tail or "").strip() for c in children):
        inline = (elem.text or "") + "".join(_xml_text(c) + (c.tail or "") for c in children)
        return _SPACE_RUNS.sub(" ", inline)
    return "\n".join(_xml_text(c) for c in children)
