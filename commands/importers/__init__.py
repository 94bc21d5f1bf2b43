"""`evalbot suites import`: eval definitions from elsewhere become evalbot suites.

An OpenAI eval object (with `--run` or `--data`), a promptfoo config, or an
openai/evals registry YAML is read, turned into a suite folder (suite.yaml, eval.jsonl,
and the checks grader when used), and loaded like any suite. The report says, line by
line, what each part became and what could not be carried over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from commands.importers.common import Draft, ImportRefused, slug, write_draft
from commands.importers.evals_registry import from_evals_registry, looks_like_evals_registry
from commands.importers.openai_eval import from_openai_eval, looks_like_openai_eval
from commands.importers.promptfoo import from_promptfoo, looks_like_promptfoo
from commands.suites.suite import InvalidSuite, load_suite

__all__ = ["ImportReport", "import_suite"]


@dataclass
class ImportReport:
    """What an import did: the lines to print, the folder, whether the suite loads."""

    ok: bool
    lines: list[str] = field(default_factory=list)
    folder: Path | None = None


def _read(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"cannot read {what} {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ImportRefused(f"{what} {path} is neither JSON nor YAML: {exc}") from exc


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"cannot read --data {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ImportRefused(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise ImportRefused(f"{path}:{number}: each line must be a JSON object")
        rows.append(row)
    return rows


def _draft(file: Path, run: Path | None, data: Path | None) -> Draft:
    doc = _read(file, "file")
    if looks_like_openai_eval(doc):
        run_doc = _read(run, "--run") if run is not None else None
        if run_doc is not None and not isinstance(run_doc, dict):
            raise ImportRefused(f"--run {run} is not a run object")
        return from_openai_eval(doc, run_doc, _jsonl(data) if data is not None else None)
    if run is not None:
        raise ImportRefused("--run belongs to an OpenAI eval; this file is not one")
    if looks_like_promptfoo(doc):
        if data is not None:
            raise ImportRefused("--data belongs to an OpenAI eval; a promptfoo config has tests")
        return from_promptfoo(doc)
    if looks_like_evals_registry(doc):
        return from_evals_registry(doc, file, data)
    raise ImportRefused(
        "not an OpenAI eval (testing_criteria), a promptfoo config (prompts and tests) "
        "or an openai/evals registry YAML (an eval with class:)"
    )


def import_suite(
    file: Path,
    *,
    to: Path,
    run: Path | None = None,
    data: Path | None = None,
    name: str | None = None,
) -> ImportReport:
    """Import `file` as a suite under `to`; never overwrites an existing suite folder."""
    try:
        draft = _draft(file, run, data)
    except ImportRefused as exc:
        return ImportReport(False, [f"error: {exc}"])
    if name:
        draft.name = slug(name)
    folder = to / draft.name
    if (folder / "suite.yaml").exists():
        lines = [*draft.lines, f"error: {folder} already holds a suite; give --name or --to"]
        return ImportReport(False, lines)
    write_draft(draft, folder)
    lines = [*draft.lines, f"wrote {folder}/suite.yaml and eval.jsonl"]
    try:
        suite = load_suite(folder)
    except InvalidSuite as exc:
        lines += [f"error: {error}" for error in exc.errors]
        lines.append(f"the suite does not load: fix {folder}/suite.yaml (it was kept)")
        return ImportReport(False, lines, folder)
    names = ", ".join(c.name for c in suite.criteria)
    lines.append(f"ok: suite {suite.name} loads: {len(suite.items)} items, criteria {names}")
    return ImportReport(True, lines, folder)
