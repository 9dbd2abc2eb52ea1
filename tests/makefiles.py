"""Test data the tests make for themselves: real PDFs (reportlab), HTML, bad files, and larger
corpora recombined from the sentences of the shipped corpus."""

from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "corpus"


def make_pdf(path: Path, pages: list[list[str]], *, title: str | None = None, author: str | None = None,
             user_password: str | None = None, owner_password: str = "owner-secret",
             invariant: bool = False) -> Path:
    """A PDF with one text line per entry, one list per page (reportlab's built-in fonts: no system
    fonts needed; Latin-1 characters and curly quotes are drawn and extracted exactly).

    ``user_password``: None for no encryption; "" for a PDF encrypted with an empty user
    password (opens without one, like many bank and government PDFs); anything else locks it.
    ``invariant``: reportlab's reproducible mode (creation date 2000-01-01 instead of now).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    encrypt = None
    if user_password is not None:
        from reportlab.lib import pdfencrypt

        encrypt = pdfencrypt.StandardEncryption(user_password, ownerPassword=owner_password)
    c = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt, invariant=int(invariant))
    if title:
        c.setTitle(title)
    if author:
        c.setAuthor(author)
    for lines in pages:
        y = 800
        for line in lines:
            c.drawString(72, y, line)
            y -= 16
        c.showPage()
    c.save()
    return path


def make_image_only_pdf(path: Path, n_pages: int = 2) -> Path:
    """Pages with drawings and no text layer, like a scan."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for i in range(n_pages):
        c.rect(100 + 10 * i, 100, 300, 400, fill=1)
        c.circle(300, 600, 50, fill=0)
        c.showPage()
    c.save()
    return path


ARTICLE_HTML = """<!doctype html>
<html><head>
<title>Chip export rules tighten</title>
<meta name="author" content="Jane Roe">
<meta property="article:published_time" content="2023-10-17">
<script>var tracking = "SCRIPTJUNK"; function f() { return "SCRIPTJUNK"; }</script>
<style>body { font-family: STYLEJUNK; }</style>
</head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">NAVJUNK News</a></li><li><a href="/about">About NAVJUNK</a></li></ul></nav>
<header><div class="banner">Subscribe today! NAVJUNK offer</div></header>
<article>
<h1>Chip export rules tighten</h1>
<p>The Commerce Department announced new restrictions on advanced semiconductor exports to China on 17 October 2023. The rules close loopholes in last year’s controls and cover more chips.</p>
<p>Officials said the measures target chips used to train large AI models. Industry groups warned that the rules could hurt American firms’ sales abroad, while supporters said national security comes first.</p>
<p>The rules take effect in thirty days, after a public comment period. Café owners near the factories were not consulted.</p>
</article>
<footer><p>FOOTERJUNK Copyright 2023 Example News. All rights reserved.</p></footer>
<script>console.log("SCRIPTJUNK2")</script>
</body></html>
"""

ARTICLE_PARAGRAPHS = (
    "The Commerce Department announced new restrictions on advanced semiconductor exports to China on "
    "17 October 2023. The rules close loopholes in last year’s controls and cover more chips.",
    "Officials said the measures target chips used to train large AI models. Industry groups warned that "
    "the rules could hurt American firms’ sales abroad, while supporters said national security comes first.",
    "The rules take effect in thirty days, after a public comment period. Café owners near the factories "
    "were not consulted.",
)


def corpus_sentences() -> list[str]:
    """Real sentences from the shipped corpus (front matter and headings dropped)."""
    sentences: list[str] = []
    for path in sorted(DEFAULT_CORPUS.glob("*.md")):
        if path.name == "SOURCES.md":  # the licence table, not an article
            continue
        text = path.read_text(encoding="utf-8")
        if text.startswith("---\n"):
            text = text[text.index("\n---", 4) + 4:]
        for line in text.splitlines():
            line = " ".join(line.split())
            if len(line) < 40 or line.startswith("#"):
                continue
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", line):
                if 30 <= len(s) <= 400:
                    sentences.append(s)
    return sentences


def make_generated_corpus(root: Path, n_docs: int, *, seed: int = 7, doc_chars: int = 1500,
                          prefix: str = "gen") -> list[str]:
    """``n_docs`` text files of about ``doc_chars`` characters, each a new recombination of real
    corpus sentences in paragraphs. Returns the file names."""
    rng = random.Random(seed)
    pool = corpus_sentences()
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n_docs):
        paragraphs, size = [], 0
        while size < doc_chars:
            para = " ".join(rng.sample(pool, rng.randint(2, 4)))
            paragraphs.append(para)
            size += len(para)
        name = f"{prefix}-{i:03d}.txt"
        (root / name).write_text(f"Generated brief {i}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        names.append(name)
    return names
