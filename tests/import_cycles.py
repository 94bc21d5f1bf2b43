"""Count the circles of imports in bot/, commands/ and storage/.

Uses grimp (import-linter's graph), which records every import statement: module
level, inside functions, and under `if TYPE_CHECKING:`. Prints each strongly connected
component of more than one module (a circle), and the imports that cross from one
command family into another. Run from the repository root:

    .venv/bin/python tests/import_cycles.py
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import grimp

FAMILIES = ("eval", "finetune", "watch", "promote", "models")


def circles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Strongly connected components (Tarjan) with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def family(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "commands" and parts[1] in FAMILIES else None


def cross_family(graph: grimp.ImportGraph) -> Iterable[tuple[str, str]]:
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            a, b = family(importer), family(imported)
            if a and b and a != b:
                yield importer, imported


def main() -> int:
    graph = grimp.build_graph("bot", "commands", "storage", cache_dir=None)
    found = circles(graph)
    crossing = list(cross_family(graph))
    for component in found:
        print(f"circle of {len(component)}: {', '.join(sorted(component))}")  # noqa: T201
    for a, b in crossing:
        print(f"cross-family: {a} -> {b}")  # noqa: T201
    print(  # noqa: T201
        f"{len(found)} circles ({sum(len(c) for c in found)} modules), "
        f"{len(crossing)} cross-family imports"
    )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
