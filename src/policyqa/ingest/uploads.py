"""Uploaded files -> new files in the corpus folder, or a refusal a user can act on.

An upload's name comes from the client and cannot be trusted: a name holding a folder path is
refused outright (a browser never sends one, so it is a crafted request), and the rest is reduced
to one safe file name. A file is checked before anything is written (type and size), then
copied to a hidden temporary file inside the corpus (hidden files are never indexed), read once
by the same loader the indexer uses, and only then given its final name with a call that fails
instead of replacing an existing file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .documents import IGNORE_FILE, load_document
from ..errors import DocumentError

ACCEPTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_UNSAFE = re.compile(r"[^\w.\-]+")  # \w is Unicode-aware: "Zürich" stays readable
_DASHES = re.compile(r"-{2,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_STEM = 80


@dataclass(frozen=True)
class UploadPolicy:
    max_bytes: int = 20 * 1024 * 1024  # same default as Settings.max_file_mb: larger files take too long to embed
    max_files: int = 20  # per upload; a folder dropped by mistake should not start an hour of embedding
    suffixes: tuple[str, ...] = ACCEPTED_SUFFIXES

    @property
    def max_mb(self) -> float:
        return self.max_bytes / 1024 / 1024


@dataclass(frozen=True)
class UploadOutcome:
    name: str  # the name the client sent
    saved_as: str | None  # file name inside the corpus folder when saved, else None
    message: str  # why it was refused, or a note about how it was saved

    @property
    def ok(self) -> bool:
        return self.saved_as is not None


class UploadRefused(Exception):
    """Raised by the checks below; ``save_uploads`` turns it into an UploadOutcome."""


def clean_filename(name: str, policy: UploadPolicy = UploadPolicy()) -> str:
    """A safe, readable file name for ``name``, or UploadRefused with the reason."""
    if not name or not name.strip():
        raise UploadRefused("the file has no name")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise UploadRefused("the name contains a folder path; only plain file names are accepted")
    if _CONTROL.search(name):
        raise UploadRefused("the name contains control characters")
    name = unicodedata.normalize("NFC", name.strip())
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in policy.suffixes:
        shown = suffix or "files without an extension"
        raise UploadRefused(f"{shown} is not an accepted type (accepted: {', '.join(policy.suffixes)})")
    # Leading dots would hide the file from the indexer; leading dashes read as options in a shell.
    stem = _DASHES.sub("-", _UNSAFE.sub("-", stem)).strip(".-_ ")[:MAX_STEM].rstrip(".-_ ")
    return f"{stem or 'upload'}{suffix}"


def check_size(size: int, policy: UploadPolicy = UploadPolicy()) -> None:
    if size > policy.max_bytes:
        raise UploadRefused(f"{_size(size)} is over the {_size(policy.max_bytes, exact=True)} limit per file")
    if size == 0:
        raise UploadRefused("the file is empty")


def _size(n: int, exact: bool = False) -> str:
    """200.0 MB for a measured size; 20 MB for a limit (``exact``)."""
    value, unit = (n / 1024 / 1024, "MB") if n >= 1024 * 1024 else (n / 1024, "KB")
    return f"{value:g} {unit}" if exact else f"{value:.1f} {unit}"


def save_uploads(files: Iterable[tuple[str | Path, str]], corpus_dir: str | Path,
                 policy: UploadPolicy = UploadPolicy()) -> tuple[UploadOutcome, ...]:
    """Save each (temporary path, name sent by the client) into ``corpus_dir``.

    Every file gets its own outcome; one refusal never stops the others. Nothing is written
    outside ``corpus_dir``, and no existing file is replaced: a different file with the same
    name is saved as ``name-2.ext``, an identical one is refused as already present.
    """
    files = list(files)
    corpus = Path(corpus_dir).resolve()
    if len(files) > policy.max_files:
        return tuple(UploadOutcome(name, None, f"refused: at most {policy.max_files} files per upload")
                     for _, name in files)
    outcomes = []
    for src, name in files:
        try:
            saved, note = _save_one(Path(src), name, corpus, policy)
            outcomes.append(UploadOutcome(name, saved, note))
        except UploadRefused as exc:
            outcomes.append(UploadOutcome(name, None, f"refused: {exc}"))
    return tuple(outcomes)


def _save_one(src: Path, name: str, corpus: Path, policy: UploadPolicy) -> tuple[str, str]:
    safe = clean_filename(name, policy)
    try:
        check_size(src.stat().st_size, policy)  # before a byte is copied
    except FileNotFoundError:
        raise UploadRefused("the upload did not arrive completely; try again") from None
    try:
        corpus.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UploadRefused(f"the corpus folder cannot be created ({exc.strerror})") from None
    tmp = corpus / f".upload-{uuid.uuid4().hex}{Path(safe).suffix}"
    try:
        digest = _copy_capped(src, tmp, policy.max_bytes)
        try:
            load_document(tmp, corpus, max_file_mb=policy.max_mb)  # the indexer's own reader decides
        except DocumentError as exc:
            raise UploadRefused(exc.reason) from None
        same = _identical_file(corpus, tmp, digest)
        if same is not None:
            raise UploadRefused(f"identical to {same}, already in the corpus")
        final = _claim_name(corpus, safe, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    note = "saved" if final.name == name else f"saved as {final.name}"
    if final.name != safe:
        note += " (a different file already has that name)"
    return final.name, note


def _copy_capped(src: Path, dest: Path, max_bytes: int) -> str:
    """Copy at most ``max_bytes`` (the source may still be growing) and return the sha256."""
    digest = hashlib.sha256()
    copied = 0
    try:
        with open(src, "rb") as fin, open(dest, "xb") as fout:
            for block in iter(lambda: fin.read(1 << 20), b""):
                copied += len(block)
                if copied > max_bytes:
                    raise UploadRefused(f"the file is over the {_size(max_bytes, exact=True)} limit per file")
                digest.update(block)
                fout.write(block)
    except OSError as exc:
        raise UploadRefused(f"could not be saved into the corpus folder ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _identical_file(corpus: Path, tmp: Path, digest: str) -> str | None:
    size = tmp.stat().st_size
    for path in corpus.rglob("*"):
        if path == tmp or path.name.startswith(".") or not path.is_file():
            continue
        try:
            if path.stat().st_size == size and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                return path.relative_to(corpus).as_posix()
        except OSError:
            continue
    return None


def _claim_name(corpus: Path, safe: str, tmp: Path) -> Path:
    """Give ``tmp`` the first free name of safe, safe-2, ... without ever replacing a file."""
    stem, suffix = Path(safe).stem, Path(safe).suffix
    ignored = _ignore_patterns(corpus)
    for n in range(1, 1000):
        candidate = corpus / (safe if n == 1 else f"{stem}-{n}{suffix}")
        if candidate.resolve().parent != corpus:  # cannot happen after clean_filename; checked anyway
            raise UploadRefused("the name points outside the corpus folder")
        if any(fnmatch.fnmatch(candidate.name, p) for p in ignored):
            continue  # a name the indexer skips (e.g. SOURCES.md) would never be answered from
        try:
            os.link(tmp, candidate)  # atomic and fails if the name exists: no race with another upload
            return candidate
        except FileExistsError:
            continue
        except OSError:
            # No hard links on this file system: claim the name exclusively, then move the file in.
            try:
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                continue
            shutil.copyfile(tmp, candidate)
            return candidate
    raise UploadRefused("too many files with this name already")


def _ignore_patterns(corpus: Path) -> list[str]:
    try:
        lines = (corpus / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
