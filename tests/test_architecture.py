"""The layout's rules (issue 10), checked on the source: no import cycles, not even ones
hidden inside functions or ``TYPE_CHECKING`` blocks; a pure core; small modules.

The import graph is built from every import statement of every module (``ast.walk``
reaches the ones inside functions, methods and ``if`` blocks), plus
``importlib.import_module("calsync…")`` calls with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import calsync

PACKAGE = Path(calsync.__file__).parent
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = ("calsync", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.AST, here: str, is_package: bool, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = here.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, *([base] if base else [])])
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
          and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
          == "import_module"
          and node.args and isinstance(node.args[0], ast.Constant)
          and isinstance(node.args[0].value, str)):
        names = [node.args[0].value]
    else:
        return
    for name in names:
        while name and name not in known:  # `import calsync.a.b` names module calsync.a.b
            name = name.rpartition(".")[0]
        if name and name != here:
            yield name


def import_graph() -> dict[str, set[str]]:
    """Each calsync module → the calsync modules it imports anywhere in its text."""
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {t for node in ast.walk(tree) for t in _targets(node, name, is_package, known)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _in_core(name: str) -> bool:
    return name == "calsync.core" or name.startswith("calsync.core.")


# --- the checker itself, on graphs made up for it ----------------------------------------------


def test_cycles_finds_a_loop_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_type_checking() -> None:
    graph = import_graph()
    # registry imports each provider module only inside a factory function
    assert "calsync.backends.google.calendar" in graph["calsync.backends.registry"]
    # and its Provider type only under TYPE_CHECKING
    assert "calsync.backends.base" in graph["calsync.backends.registry"]
    # `from calsync.core import pulse` names the module, not the package
    assert "calsync.core.pulse" in graph["calsync.core.agenda"]


# --- the rules ---------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_core_imports_nothing_of_calsync_outside_the_core() -> None:
    graph = import_graph()
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if _in_core(m)
                 for t in ts if not _in_core(t))
    assert not bad, "calsync.core imports outside calsync.core:\n" + "\n".join(bad)


def test_no_module_over_400_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in modules().items()}
    over = sorted((n, s) for n, s in sizes.items() if s > MAX_LINES)
    assert not over, f"modules over {MAX_LINES} lines:\n" + "\n".join(f"{n}: {s}" for n, s in over)
