"""No circle of imports in bot/, commands/ and storage/ (tests/import_cycles.py).

grimp records every import statement (module level, inside functions, under
TYPE_CHECKING), so a function-local import cannot hide a circle.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import grimp

TOOL = Path(__file__).resolve().parents[1] / "import_cycles.py"


def test_no_circle_of_imports_and_no_family_imports_another_for_follow_ups() -> None:
    tool = runpy.run_path(str(TOOL))
    graph = grimp.build_graph("bot", "commands", "storage", cache_dir=None)
    assert tool["circles"](graph) == []
    # No family imports another: the suite model they share lives in commands/suites.
    assert set(tool["cross_family"](graph)) == set()


def test_the_circle_finder_finds_a_circle() -> None:
    tool = runpy.run_path(str(TOOL))
    graph = grimp.ImportGraph()
    for a, b in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=a, imported=b)
    assert tool["circles"](graph) == [{"p.a", "p.b", "p.c"}]
