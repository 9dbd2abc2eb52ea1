"""Corpora for the benchmarks, made from real sentences (the default corpus and the dev set),
recombined into as many documents as a benchmark needs. Deterministic for a given seed."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def real_sentences() -> list[str]:
    """Distinct sentences of 40-400 characters (about 1,900), in corpus order."""
    from policyqa.chunking import sentence_spans
    from policyqa.documents import iter_corpus_files, load_document

    texts = [load_document(f, r).text for f, r in iter_corpus_files([ROOT / "corpus"])]
    for line in (ROOT / "scripts" / "devset" / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        texts.append(json.loads(line)["text"])
    out = []
    for text in texts:
        out.extend(text[s:e] for s, e in sentence_spans(text) if 40 <= e - s <= 400)
    return list(dict.fromkeys(out))


def write_corpus(dest: Path, n_docs: int, sentences_per_doc: int, seed: int = 7,
                 sentences: list[str] | None = None) -> list[Path]:
    """``n_docs`` markdown files of paragraphs (4 sentences each) of real sentences.

    While the pool lasts, no sentence is used twice across the corpus (as in real articles, and
    so that every sentence is really embedded); beyond that, each document samples the pool anew.
    """
    rng = random.Random(seed)
    pool = sentences or real_sentences()
    dest.mkdir(parents=True, exist_ok=True)
    unique = n_docs * sentences_per_doc <= len(pool)
    drawn = rng.sample(pool, n_docs * sentences_per_doc) if unique else []
    paths = []
    for i in range(n_docs):
        picked = (drawn[i * sentences_per_doc:(i + 1) * sentences_per_doc] if unique
                  else rng.sample(pool, sentences_per_doc))
        paragraphs = [" ".join(picked[j:j + 4]) for j in range(0, len(picked), 4)]
        path = dest / f"doc-{seed}-{i:05d}.md"
        path.write_text(f"---\ntitle: \"Benchmark document {i}\"\ndate: \"2024-01-01\"\n---\n\n"
                        + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
