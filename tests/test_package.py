"""The package surface: a light import, an honest ``__all__``, one exception tree."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

import policyqa

HEAVY = ("torch", "faiss", "gradio", "sentence_transformers", "transformers", "bm25s", "pypdf", "tiktoken",
         "trafilatura", "pysbd", "tokenizers", "numpy")
NEVER_BEFORE_A_QUERY = ("torch", "gradio", "sentence_transformers", "transformers")


def loaded_after(code: str) -> list[str]:
    """The heavy modules loaded in a fresh interpreter after running ``code``."""
    probe = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_policyqa_is_light():
    assert loaded_after("import policyqa") == []


def test_public_names_load_no_model_or_web_framework():
    loaded = loaded_after("from policyqa import Retriever, build_index, load_document, verify, Settings")
    assert not set(loaded) & {"torch", "faiss", "gradio", "sentence_transformers", "transformers"}, loaded


def test_opening_an_index_does_not_load_the_model(default_index):
    # The model (torch) loads on the first query, not when an index is opened or inspected.
    loaded = loaded_after(f"from policyqa import Retriever\nr = Retriever.open({str(default_index)!r})\n"
                          "s = r.status()\nd = r.document(s.documents[0])\nassert d.text")
    assert "faiss" in loaded  # it really opened the index
    assert not set(loaded) & set(NEVER_BEFORE_A_QUERY), loaded


def test_all_is_honest():
    names = policyqa.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(policyqa, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from policyqa import *", namespace)
    assert set(names) <= set(namespace)
    with pytest.raises(AttributeError):
        policyqa.no_such_name  # noqa: B018


def test_one_exception_tree():
    errors = [getattr(policyqa, n) for n in policyqa.__all__ if n.endswith("Error")]
    assert len(errors) >= 7
    for error in errors:
        assert issubclass(error, policyqa.PolicyQAError) and issubclass(error, Exception)


def test_version_matches_the_installed_distribution():
    assert policyqa.__version__ == importlib.metadata.version("policyqa")


def test_bundled_model_weights_hash(embedder):
    # embedding.py hashes model.safetensors when the Embedder is made and refuses other bytes.
    assert embedder.weights_sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
