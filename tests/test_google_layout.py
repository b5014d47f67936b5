"""The Google backend's layout (issue 10): one concern per module, data flowing one way.

The import graph is built from every import statement in the source, those inside
functions and ``TYPE_CHECKING`` blocks included, so a cycle cannot hide in a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "calsync.backends.google"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "calsync").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """calsync module -> the calsync modules it imports, anywhere in its source."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                # ``from pkg import mod`` imports the module pkg.mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles_through(graph: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """Every import cycle (as a path) through a module starting with ``prefix``."""
    found = []
    for start in sorted(m for m in graph if m.startswith(prefix)):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    found.append([*path, start])
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_no_import_cycle_through_the_google_backend() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.client" in graph[f"{PACKAGE}.docs"]  # the graph sees real edges
    assert cycles_through(graph, PACKAGE) == []


def test_docs_setup_and_the_client_never_import_the_provider() -> None:
    graph = import_graph()
    provider = f"{PACKAGE}.calendar"
    for name in ("docs", "setup", "client", "auth", "normalise", "cache", "freebusy"):
        assert provider not in graph[f"{PACKAGE}.{name}"], name
    # and the provider reaches the doc backend only one way
    assert f"{PACKAGE}.docs" in graph[provider]


def test_no_google_module_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "calsync" / "backends" / "google").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
