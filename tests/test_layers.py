"""The import graph keeps the layers the folder layout shows.

    base (config, errors, schema, sanitize, lexical, embedding, ...)   policyqa/*.py
      <- ingest (files -> documents -> sentences, chunks)               policyqa/ingest/
      <- store (the index: writing, and the IndexReader interface)      policyqa/store/
      <- query (search, sentences, signals, answers)                    policyqa/query/
      <- web (the chat)                                                 policyqa/web/
      <- cli, plaintext, the package's own __init__                     on top

A module imports only from its own layer or below; the query and web layers reach storage only
through the ``policyqa.store`` interface (``IndexReader``, ``open_reader``; web and CLI may also
run a build with ``store.indexing``); SQLite, FAISS and bm25s are imported inside ``store`` only;
and no two modules import each other, directly or round a longer loop (imports inside functions
count: a lazy import hides a cycle, it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "policyqa"
STORAGE_LIBRARIES = {"sqlite3", "faiss", "bm25s"}
TOP = {"policyqa", "policyqa.__main__", "policyqa.cli", "policyqa.plaintext"}
LAYERS = {"ingest": 1, "store": 2, "query": 3, "web": 4}
# What query and web code may import from the storage package: its interface, and the build.
STORE_INTERFACE = {"policyqa.store", "policyqa.store.reader"}
STORE_FOR_WRITERS = STORE_INTERFACE | {"policyqa.store.indexing"}


def module_name(path: Path) -> str:
    parts = ["policyqa", *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, as absolute names. ``from X import
    name`` counts as importing ``X.name`` when that is a module of the package, else ``X``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "__future__":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if _is_module(sub) else target)
    return out


def _is_module(name: str) -> bool:
    if not name.startswith("policyqa"):
        return False
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    if module in TOP:
        return 5
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 2 else (LAYERS.get(parts[1], 0) if len(parts) == 2 else 0)


def violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in graph.items():
        sub = module.split(".")[1] if module.count(".") >= 1 else ""
        for target in sorted(imported):
            root = target.split(".")[0]
            if root in STORAGE_LIBRARIES and not module.startswith("policyqa.store"):
                problems.append(f"{module} imports {target}: storage libraries belong to policyqa.store")
            if not target.startswith("policyqa"):
                continue
            if target not in graph:
                problems.append(f"{module} imports {target}, which is not a module of the package")
                continue
            if layer(target) > layer(module):
                problems.append(f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})")
            if target.startswith("policyqa.store") and sub == "query" and target not in STORE_INTERFACE:
                problems.append(f"{module} reaches into storage ({target}); use the IndexReader interface")
            if target.startswith("policyqa.store") and sub == "web" and target not in STORE_FOR_WRITERS:
                problems.append(f"{module} reaches into storage ({target})")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_layers_hold():
    graph = import_graph()
    assert {"policyqa.query.search", "policyqa.store.reader", "policyqa.ingest.documents",
            "policyqa.web.app"} <= set(graph)  # the walk found the package
    assert violations(graph) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_checks_catch_what_they_are_for():
    """The rules and the cycle finder, on graphs known to be wrong."""
    graph = import_graph()
    bad = {**graph, "policyqa.query.search": graph["policyqa.query.search"] | {"sqlite3", "policyqa.store.files"}}
    found = violations(bad)
    assert any("sqlite3" in p for p in found) and any("reaches into storage" in p for p in found)
    upward = {**graph, "policyqa.ingest.documents": graph["policyqa.ingest.documents"] | {"policyqa.query.answer"}}
    assert any("policyqa.ingest.documents (layer 1) imports policyqa.query.answer" in p for p in violations(upward))
    loop = {**graph, "policyqa.query.search": graph["policyqa.query.search"] | {"policyqa.query.answer"}}
    assert any({"policyqa.query.answer", "policyqa.query.search"} <= set(c) for c in cycles(loop))


def test_lazy_imports_are_seen():
    """An import inside a function is an edge like any other."""
    edges = imports_of(PACKAGE / "store" / "__init__.py")
    assert "policyqa.store.file_reader" in edges and "policyqa.store.indexing" in edges
