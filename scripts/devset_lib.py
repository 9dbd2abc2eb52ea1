"""The public dev set as eval.py and fit_answer_weights.py both need it.

- the corpus written out as .txt files and indexed with the product's own build_index;
- gold paragraph spans mapped onto the normalised text policyqa indexes (the raw corpus has one
  double space that normalisation folds, so raw offsets after it are off by one in our text);
- leave-one-document-out indexes: the negatives for abstention are a document's questions asked
  of an index built without that document;
- SQuAD answer matching and the per-sentence gold labels the answer model is fitted on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policyqa import Hit, Retriever, build_index  # noqa: E402
from policyqa.query.answer import AnswerModel, Scored, score  # noqa: E402
from policyqa.config import Settings  # noqa: E402
from policyqa.ingest.documents import normalise  # noqa: E402

# The rrf baseline of eval.py and fit_fusion.py: equal-weight reciprocal rank fusion of the
# product's own two halves, without the header fields.
PLAIN_RRF = Settings(fusion="rrf", rrf_k=60, dense_weight=1.0, lexical_weight=1.0, header_dense_weight=0.0,
                     header_lexical_weight=0.0)


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    answers: tuple[str, ...]
    doc_id: str
    start: int  # gold paragraph span in the *indexed* (normalised) document text
    end: int

    def gold_sentence(self, doc_id: str, start: int, end: int, text: str) -> bool:
        """A quoted sentence that cites the gold paragraph and holds an answer."""
        return doc_id == self.doc_id and self.start <= start and end <= self.end and contains_answer(text, self.answers)


def squad_normalise(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    norm = squad_normalise(text)
    return any(squad_normalise(a) and squad_normalise(a) in norm for a in answers)


def load_devset(devset: Path, work: Path) -> tuple[list[Question], Path]:
    """Write the dev corpus as .txt files under work/corpus; return questions with gold spans
    mapped onto the normalised text that policyqa indexes (offsets shift where it folds spaces)."""
    corpus_dir = work / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    texts: dict[str, tuple[str, str]] = {}
    for line in (devset / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        path = corpus_dir / f"{doc['doc_id']}.txt"
        if not path.exists() or path.read_text(encoding="utf-8") != doc["text"]:
            path.write_text(doc["text"], encoding="utf-8")
        texts[doc["doc_id"]] = (doc["text"], normalise(doc["text"]))
    questions = []
    for line in (devset / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        raw, norm = texts[q["doc_id"]]
        passage = normalise(raw[q["passage_start"]:q["passage_end"]])
        start = norm.find(passage)
        if start < 0:
            raise SystemExit(f"gold passage of {q['qid']} not found in normalised text")
        questions.append(Question(q["qid"], q["question"], tuple(q["answers"]), f"{q['doc_id']}.txt",
                                  start, start + len(passage)))
    return questions, corpus_dir


def build_indexes(devset: Path, work: Path, embedder=None, progress: bool = True,  # type: ignore[no-untyped-def]
                  attribution: bool = True) -> tuple[list[Question], Path, dict[str, Path]]:
    """The full dev index and one index per document without it (cached under ``work``).

    A leave-one-out index starts as a copy of the full one and is brought in line with a corpus
    folder lacking one document, so nothing is embedded again: build_index just drops it.
    """
    questions, corpus_dir = load_devset(devset, work)
    settings = Settings(attribution=attribution)  # False: speakers from turns only (eval.py --sets whosaid)
    report = build_index(corpus_dir, work / "index", settings=settings, progress=progress, embedder=embedder,
                         wait=600)
    print(f"dev index: {report.summary()}", file=sys.stderr)
    loo: dict[str, Path] = {}
    for doc in sorted({q.doc_id for q in questions}):
        base = work / "loo" / Path(doc).stem
        sub_corpus, sub_index = base / "corpus", base / "index"
        sub_corpus.mkdir(parents=True, exist_ok=True)
        for file in corpus_dir.glob("*.txt"):
            target = sub_corpus / file.name
            if file.name == doc:
                target.unlink(missing_ok=True)
            elif not target.exists() or target.read_bytes() != file.read_bytes():
                shutil.copyfile(file, target)
        # Re-copy when the full index was rebuilt (new code or corpus): then nothing is re-embedded.
        generation = (work / "index" / "CURRENT").read_text(encoding="utf-8").strip()
        marker = base / "copied-from"
        if not marker.exists() or marker.read_text(encoding="utf-8") != generation:
            shutil.rmtree(sub_index, ignore_errors=True)
            shutil.copytree(work / "index", sub_index)
            marker.write_text(generation, encoding="utf-8")
        build_index(sub_corpus, sub_index, settings=settings, progress=False, embedder=embedder, wait=600)
        loo[doc] = sub_index
    return questions, corpus_dir, loo


def labels(scored: Scored, q: Question) -> "list[int]":
    """Per candidate: 1 = in the gold paragraph and holds a gold answer; -1 = holds an answer but
    elsewhere (left out of fitting: neither clearly right nor wrong); 0 = no answer."""
    cands = scored.candidates
    out = []
    for doc_id, start, end, text in zip(cands.doc_ids, cands.starts, cands.ends, cands.texts):
        if not contains_answer(text, q.answers):
            out.append(0)
        elif doc_id == q.doc_id and q.start <= start and end <= q.end:
            out.append(1)
        else:
            out.append(-1)
    return out


def collect(retriever: Retriever, questions: list[Question], k: int) -> list[tuple[list[Hit], Scored | None]]:
    """Hits and scored candidates per question (features do not depend on the fitted weights)."""
    out = []
    for q in questions:
        hits = retriever.search(q.question, k=k)
        out.append((hits, score(retriever, q.question, hits, AnswerModel.neutral()) if hits else None))
    return out



def variant_indexes(work: Path, embedder, distractors: int) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """Indexes that each undo one speed or memory measure, to measure what it costs in answer
    quality (cached under ``work``; re-made when the dev index changes):

    - ``f32``: the dev index with its sentence vectors stored as float32 (re-embedded from the
      same sentence texts) instead of the shipped float16;
    - ``+Nk-ivf`` and ``+Nk-exact``: the dev index plus ``distractors`` chunks of other real
      sentences (the default corpus's, recombined by topic as scripts/benchdata.py does for the
      benchmarks), so that the dev set meets the ANN index the product switches to at that size
      (IVF, nprobe tuned at build time) -- and the same index with exact search instead. On the
      286-chunk dev index alone, IVF would have 7 lists and probe all of them: no test at all.
    """
    import numpy as np

    from policyqa.store import files as store

    generation = (work / "index" / "CURRENT").read_text(encoding="utf-8").strip()
    out: dict[str, Path] = {}

    def fresh(index: Path, key: str) -> bool:
        marker = index / "made-from"
        if marker.exists() and marker.read_text(encoding="utf-8") == key:
            return False
        shutil.rmtree(index, ignore_errors=True)
        index.mkdir(parents=True)
        return True

    def done(index: Path, key: str) -> None:
        (index / "made-from").write_text(key, encoding="utf-8")

    def one_part(index: Path) -> Path:
        (entry,) = store.read_manifest(store.read_current(index))["parts"]
        return index / entry["name"]

    out["f32"] = index = work / "variants" / "f32"
    if fresh(index, generation):
        shutil.copytree(work / "index", index, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".lock"))
        part = one_part(index)
        files = store.IndexFiles(part, int(store.read_manifest(store.read_current(index))["model"]["dim"]))
        rows = files.segment_texts()
        files.close()
        vectors = embedder.encode([text for _, text in rows], batch_size=32)
        np.save(part / store.SEGMENT_VECTORS, np.asarray(vectors, dtype=np.float32))
        done(index, generation)

    if distractors > 0:
        name = f"+{distractors // 1000}k" if distractors % 1000 == 0 else f"+{distractors}"
        ivf, exact = work / "variants" / f"{name}-ivf", work / "variants" / f"{name}-exact"
        key = f"{generation} {distractors} probe-margin {store.ANN_PROBE_MARGIN} recall {store.ANN_RECALL}"
        if fresh(ivf, key):
            gen = store.write_generation(ivf, _with_distractors(work, generation, embedder, distractors))
            store.publish(ivf, gen)
            done(ivf, key)
        if fresh(exact, key):
            gen, part = store.read_current(ivf), one_part(ivf)
            # Hard links: the same files but for the dense index and the part's manifest (written
            # anew, never through a link, which would change the IVF index's files too).
            shutil.copytree(gen, exact / gen.name, copy_function=os.link)
            shutil.copytree(part, exact / part.name, copy_function=os.link)
            files = store.IndexFiles(part, int(store.read_manifest(gen)["model"]["dim"]))
            dense, info = store.build_dense(files.chunk_vectors(), files.segment_vectors, files.chunk_vectors().shape[1],
                                            ann_threshold=len(files.chunk_vectors()) + 1)
            manifest = {**files.manifest, "dense": info}
            files.close()
            for f in (store.FAISS_FILE, store.PART_MANIFEST):
                (exact / part.name / f).unlink()
            import faiss

            faiss.write_index(dense, str(exact / part.name / store.FAISS_FILE))
            (exact / part.name / store.PART_MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False),
                                                                 encoding="utf-8")
            store.publish(exact, exact / gen.name)
            done(exact, key)
        out[f"{name}-exact"], out[f"{name}-ivf"] = exact, ivf
    return out


def _with_distractors(work: Path, generation: str, embedder, n_chunks: int):  # type: ignore[no-untyped-def]
    """The dev index's rows and vectors, followed by ``n_chunks`` distractor chunks."""
    import numpy as np

    from benchdata import plan, real_sentences, synthetic_chunk_vectors, synthetic_rows
    from policyqa.store import files as store

    print(f"writing the dev index with {n_chunks} distractor chunks (once)", file=sys.stderr, flush=True)
    texts = real_sentences(devset=False)  # none of the dev set's sentences: distractors, not answers
    vectors = np.asarray(embedder.encode(texts, batch_size=64), dtype=np.float32)
    flat, offsets = plan(n_chunks, vectors)
    documents, chunk_rows, segment_rows = synthetic_rows(texts, flat, offsets, n_chunks, prefix="distractor")
    gen = work / "index" / generation
    commit = store.read_manifest(gen)
    (entry,) = commit["parts"]
    dev = store.IndexFiles(work / "index" / entry["name"], int(commit["model"]["dim"]))
    try:
        dev_docs = [dev.document(d) for (d,) in dev.db.execute("SELECT doc_id FROM documents ORDER BY rowid")]
        dev_chunks = dev.db.execute('SELECT doc_id, start, "end", page, n_tokens, first_segment, last_segment, text, '
                                    "speaker FROM chunks ORDER BY id").fetchall()
        dev_segments = dev.db.execute('SELECT doc_id, seq, start, "end", n_tokens, speaker, attribution FROM segments '
                                      "ORDER BY id").fetchall()
        dev_headers = (dev.header_texts, np.asarray(dev.header_vectors, dtype=np.float32),
                       np.asarray(dev.chunk_headers, dtype=np.int32))
        chunk_vectors = np.concatenate([dev.chunk_vectors(), synthetic_chunk_vectors(vectors, flat, offsets)])
        segment_vectors = np.concatenate([dev.segment_vectors, vectors[flat].astype(np.float16)])
        documents = dev_docs + documents
        manifest = {**commit, "documents": {d.doc_id: d.content_hash for d in documents},
                    "counts": {"documents": len(documents), "chunks": len(chunk_vectors),
                               "segments": len(segment_vectors)}}
    finally:
        dev.close()
    # The dev chunks keep their headers; the distractors share one empty header (no vector, no term).
    header_texts = list(dev_headers[0]) + [""]
    header_vectors = np.concatenate([dev_headers[1], np.zeros((1, dev_headers[1].shape[1]), dtype=np.float32)])
    chunk_headers = np.concatenate([dev_headers[2], np.full(len(chunk_rows), len(header_texts) - 1, dtype=np.int32)])
    return store.GenerationData(documents=documents, chunk_rows=dev_chunks + chunk_rows,
                                segment_rows=dev_segments + segment_rows, chunk_vectors=chunk_vectors,
                                segment_vectors=segment_vectors, manifest=manifest, header_texts=header_texts,
                                header_vectors=header_vectors, chunk_headers=chunk_headers)
