"""The layout keeps its shape: one subpackage per part, imports point downward, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import assistant

PACKAGE = Path(assistant.__path__[0])

# Lowest first: a part may import only the parts before it.
PARTS = [
    "messages", "errors", "files", "telemetry", "providers", "local", "registry", "catalog", "free_models", "context",
    "toolcall_text", "router", "agent", "chat", "cli",
]


def _module_name(path: Path) -> str:
    parts = ["assistant", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every assistant module ``name`` imports, at any depth (lazy imports count; TYPE_CHECKING blocks don't)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("assistant"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.startswith("assistant"):
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: {t for t in _imports(name, path, known) if t in known} for name, path in modules.items()}


def _part(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else None


def test_every_module_lives_in_a_part() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert loose == [], f"modules outside any part: {loose}; move each into the subpackage that owns it"
    parts = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert parts == sorted(PARTS), "a new part needs a place in PARTS (and a docstring saying what it owns)"


def test_every_part_says_what_it_owns() -> None:
    for part in PARTS:
        doc = ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"assistant/{part}/__init__.py needs a docstring: what it owns, what it imports"


def _upward(graph: dict[str, set[str]]) -> list[str]:
    rank = {part: i for i, part in enumerate(PARTS)}
    found = []
    for module, targets in graph.items():
        here = _part(module)
        if here not in rank:
            continue
        for target in targets:
            there = _part(target)
            if there in rank and there != here and rank[there] > rank[here]:
                found.append(f"{module} -> {target}")
    return sorted(found)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_parts_import_only_downward() -> None:
    assert _upward(_graph()) == [], "upward imports between parts:\n" + "\n".join(_upward(_graph()))


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    graph = {"assistant.agent._steps": {"assistant.router._call"}, "assistant.router._call": {"assistant.agent._steps"},
             "assistant.errors._classify": {"assistant.messages"}}
    assert _cycles(graph) == [["assistant.agent._steps", "assistant.router._call"]]
    assert _upward(graph) == ["assistant.router._call -> assistant.agent._steps"]


def test_lazy_imports_count_and_type_checking_imports_do_not() -> None:
    known = set(_modules())
    found = _imports("assistant.agent._steps", PACKAGE / "agent" / "_steps.py", known)
    assert "assistant.agent.records" in found
    assert "assistant.agent" not in found  # only under TYPE_CHECKING
