"""The Microsoft backend's import graph: no cycles, counting every import statement
(inside functions and under TYPE_CHECKING too), and the zone map imports no backend."""

from __future__ import annotations

import ast
from pathlib import Path

import calsync

ROOT = Path(calsync.__file__).parent


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the calsync modules it imports, from every import statement in it."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # imported only inside a function body of the registry: still an edge
    assert "calsync.backends.microsoft.calendar" in graph["calsync.backends.registry"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_cycle_through_the_microsoft_backend() -> None:
    bad = [c for c in cycles(import_graph())
           if any(m.startswith("calsync.backends.microsoft") or m == "calsync.ical.zones"
                  for m in c)]
    assert bad == []


def test_docs_and_the_client_never_import_the_provider() -> None:
    graph = import_graph()
    provider = "calsync.backends.microsoft.calendar"
    for name in ("docs", "graph", "auth", "sync", "normalise", "recurrence", "schedule"):
        assert provider not in graph[f"calsync.backends.microsoft.{name}"], name


def test_zone_map_is_pure() -> None:
    deps = import_graph()["calsync.ical.zones"]
    assert all(d.startswith(("calsync.core", "calsync.ical")) for d in deps), deps


def test_every_microsoft_module_is_short() -> None:
    for path in (ROOT / "backends" / "microsoft").glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name
