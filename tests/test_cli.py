"""The command line: documented commands, JSON output straight from the dataclasses, and every
error as one readable line with exit code 1."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from policyqa import Hit, IndexStatus, Retriever, cli
from conftest import DEFAULT_DOCS

VENV_BIN = Path(sys.executable).parent


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def test_every_command_and_option_is_documented(capsys):
    top = help_text(capsys)
    assert {"index", "search", "status"} <= set(commands())
    for name, parser in commands().items():
        # Listed with a one-line summary in `policyqa --help` ...
        assert any(line.split()[:1] == [name] and len(line.split()) > 1 for line in top.splitlines()), name
        # ... and `policyqa NAME --help` explains the command and every option it takes.
        text = help_text(capsys, name)
        assert text.startswith(f"usage: policyqa {name}")
        assert parser.description, f"`policyqa {name}` has no description"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"`policyqa {name}` option {action.option_strings or action.dest} has no help"
            for flag in action.option_strings:
                assert flag in text


def test_the_installed_command_and_python_m_run():
    for argv in ([str(VENV_BIN / "policyqa"), "--help"], [sys.executable, "-m", "policyqa", "--help"]):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "policyqa index corpus" in out.stdout
    out = subprocess.run([str(VENV_BIN / "policyqa")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "usage: policyqa" in out.stderr


def test_search_json_prints_the_hit_fields(default_index, capsys):
    code, out, err = run(capsys, "search", "How many countries attended the AI Safety Summit?", "--json",
                         "--k", "3", "--index", str(default_index))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    r = Retriever.open(default_index)
    for rank, line in enumerate(lines, 1):
        data = json.loads(line)
        assert set(data) == {f.name for f in dataclasses.fields(Hit)}
        hit = Hit(**data)
        assert hit.rank == rank
        assert r.document(hit.doc_id).text[hit.start:hit.end] == hit.text


def test_search_text_output_and_filters(default_index, capsys):
    code, out, _ = run(capsys, "search", "population of London", "--k", "2", "--index", str(default_index),
                       "--doc", "wp-summary-london.md")
    assert code == 0
    assert out.startswith("[1] London (Wikipedia lead-paragraph summary) (wp-summary-london.md, chars ")
    assert "[2]" in out and "9.1 million" in out
    code, out, _ = run(capsys, "search", "population", "--index", str(default_index), "--from", "2030")
    assert (code, out) == (0, "no passages found\n")


def test_status_plain_and_json(default_index, capsys, monkeypatch):
    monkeypatch.setenv("POLICYQA_INDEX", str(default_index))  # the environment names the index
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    status = IndexStatus(**{**json.loads(out), "documents": tuple(json.loads(out)["documents"])})
    assert status.n_documents == DEFAULT_DOCS and status.index_dir == str(default_index)
    code, out, _ = run(capsys, "status")
    assert code == 0 and f"{DEFAULT_DOCS} documents" in out and "sentence-transformers/all-MiniLM-L6-v2" in out


def test_errors_are_one_line_and_exit_1(tmp_path, capsys):
    missing = tmp_path / "no-index"
    for argv in (["search", "anything", "--index", str(missing)], ["status", "--index", str(missing)]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, "")
        assert err.count("\n") == 1 and err.startswith(f"policyqa: error: no index at {missing}")
        assert "policyqa index" in err
    code, _, err = run(capsys, "index", str(tmp_path / "no-corpus"), "--index", str(tmp_path / "i"), "--quiet")
    assert code == 1 and err.startswith("policyqa: error: ") and "no such file or directory" in err
    code, _, err = run(capsys, "search", "x", "--index", str(missing), "--model", str(tmp_path / "no-model"))
    assert code == 1 and err.count("\n") == 1


def test_index_command_reports_files_over_the_size_limit(small_corpus, tmp_path, capsys):
    (small_corpus / "big.txt").write_bytes(b"Lots of words here.\n" * 60_000)  # 1.2 MB
    index_dir = tmp_path / "index"
    code, out, _ = run(capsys, "index", str(small_corpus), "--index", str(index_dir), "--quiet",
                       "--max-file-mb", "1")
    assert code == 0
    lines = out.splitlines()
    assert f"  FAILED   {small_corpus / 'big.txt'}: file too large (1.1 MB > 1 MB limit; raise it with " \
           "--max-file-mb)" in lines
    assert sorted(line.split()[1] for line in lines if line.startswith("  added")) == [
        "fees.txt", "rivers.md", "summit.md"]
    assert lines[-1].startswith("index written: added 3, updated 0, removed 0, unchanged 0, failed 1")
