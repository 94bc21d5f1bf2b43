"""What every importer produces: a suite draft, and the lines saying what became what."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CHECKS_FILE", "Draft", "ImportRefused", "checks_grader", "slug", "write_draft"]

CHECKS_FILE = "imported_checks.py"
_CHECKS_SOURCE = Path(__file__).with_name("checks.py")


class ImportRefused(Exception):
    """The file cannot become a suite; the message says why and what to give instead."""


@dataclass
class Draft:
    """A suite about to be written."""

    name: str
    input: list[dict[str, Any]]
    items: list[dict[str, Any]]
    graders: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    sampling: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    needs_checks: bool = False  # copy the checks grader into the folder
    lines: list[str] = field(default_factory=list)  # what became what

    def say(self, line: str) -> None:
        self.lines.append(line)


def slug(text: str) -> str:
    """A suite name from free text: one word of letters, digits, '.', '_' or '-'."""
    word = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-._")[:64]
    return word or "imported"


def checks_grader() -> dict[str, Any]:
    """The python grader that runs each item's own checks (commands/importers/checks.py)."""
    return {
        "type": "python",
        "name": "checks",
        "source_file": CHECKS_FILE,
        "pass_threshold": 1.0,
    }


def write_draft(draft: Draft, folder: Path) -> None:
    """suite.yaml, eval.jsonl and (when used) the checks grader, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"name": draft.name}
    if draft.description:
        doc["description"] = draft.description
    doc["data"] = "eval.jsonl"
    doc["input"] = draft.input
    if len(draft.graders) == 1:
        doc["grader"] = draft.graders[0]
    else:
        doc["graders"] = draft.graders
    if draft.tools:
        doc["tools"] = draft.tools
    if draft.sampling:
        doc["sampling"] = draft.sampling
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    (folder / "suite.yaml").write_text(text, encoding="utf-8")
    with (folder / "eval.jsonl").open("w", encoding="utf-8") as out:
        for item in draft.items:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    if draft.needs_checks:
        shutil.copyfile(_CHECKS_SOURCE, folder / CHECKS_FILE)
