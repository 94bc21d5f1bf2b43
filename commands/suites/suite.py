"""Eval suites: a folder with suite.yaml and JSONL data, checked entirely at load time.

Every problem is a `SuiteError` naming the file, the line and the field, so that
`/eval suites` can show what to fix before any model is called. A suite's errors
are collected (up to MAX_ERRORS) rather than stopping at the first; a broken suite
never stops the others from loading.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from commands.ports import Message
from commands.suites.graders import Grader, SpecContext, SuiteError, build_grader
from commands.suites.graders.base import display_path
from commands.suites.graders.spec import did_you_mean
from commands.suites.grading import Criterion, criterion
from commands.suites.templates import FieldPath, TemplateError, render, resolve
from commands.suites.tools import check_tool_choice, check_tools

__all__ = ["InvalidSuite", "Suite", "SuiteError", "load_suite", "load_suites"]

SUITE_FILE = "suite.yaml"
MAX_ERRORS = 20
REQUIRED_KEYS = ("name", "data", "input")
TOP_LEVEL_KEYS = (
    *REQUIRED_KEYS,
    "grader",
    "graders",
    "tools",
    "tool_choice",
    "description",
    "train",
    "valid",
    "pass_threshold",
    "sampling",
    "owners",
    "approvals",
    "self_approval",
)
# Names are typed in slash commands: keep them to one plain word.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass(frozen=True, eq=False)
class Suite:
    """A loaded, fully checked eval suite."""

    name: str
    description: str
    folder: Path
    data_path: Path
    train_path: Path | None
    valid_path: Path | None
    input: list[dict[str, str]]  # {"role", "content"}; content is an item template
    # The one grader an RFT job gets, in OpenAI's grader schema: `grader:` as written,
    # or for `graders:` the only one, else a multi grader over them all (min).
    grader: dict[str, Any]
    grader_impl: Grader  # the first criterion's compiled grader
    items: list[dict[str, Any]]
    data_version: str  # "sha256:<hex>" over suite.yaml and every file it uses
    pass_threshold: float = 1.0
    sampling: dict[str, Any] = field(default_factory=dict)
    owners: list[str] = field(default_factory=list)
    approvals: int = 1
    self_approval: bool = False
    tags: list[str] = field(default_factory=list)  # every tag the items carry, sorted
    # The testing criteria, in order; a sample passes when every one passes.
    criteria: tuple[Criterion, ...] = ()
    tools: list[dict[str, Any]] = field(default_factory=list)  # Responses API shape
    tool_choice: Any = None

    def messages(self, item: dict[str, Any]) -> list[Message]:
        """The chat messages to send the model under test for `item`."""
        context = {"item": item}
        return [{"role": m["role"], "content": render(m["content"], context)} for m in self.input]


class InvalidSuite(Exception):
    """A suite that did not load; `errors` says everything that is wrong with it."""

    def __init__(self, errors: list[SuiteError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


class _Collector:
    """Collects SuiteErrors, keeping the first MAX_ERRORS."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.errors: list[SuiteError] = []
        self.dropped = 0

    def add(self, error: SuiteError) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)
        else:
            self.dropped += 1

    def result(self) -> list[SuiteError]:
        if not self.dropped:
            return list(self.errors)
        more = SuiteError(self.file, f"... and {self.dropped} more errors not shown")
        return [*self.errors, more]


def _yaml_lines(node: yaml.Node, path: str, lines: dict[str, int], errors: _Collector) -> None:
    """Record the line of every key and list element, and flag duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            here = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                errors.add(SuiteError(errors.file, "duplicate key", line=line, field=here))
            seen.add(key)
            lines.setdefault(here, line)
            _yaml_lines(value_node, here, lines, errors)
    elif isinstance(node, yaml.SequenceNode):
        for index, element in enumerate(node.value):
            here = f"{path}[{index}]"
            lines[here] = element.start_mark.line + 1
            _yaml_lines(element, here, lines, errors)


def _parse_yaml(text: str, errors: _Collector) -> tuple[Any, dict[str, int]]:
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        errors.add(SuiteError(errors.file, f"not valid YAML: {problem}", line=line))
        return None, lines
    if node is not None:
        _yaml_lines(node, "", lines, errors)
    return document, lines


def _iter_jsonl(path: Path, errors: _Collector) -> Iterator[tuple[int, Any]]:
    """(line number, object) for each non-blank line; bad lines become errors."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                message = getattr(exc, "msg", str(exc))
                errors.add(SuiteError(path, f"not valid JSON: {message}", line=number))
                continue
            if not isinstance(value, dict):
                kind = type(value).__name__.replace("dict", "object").replace("list", "array")
                errors.add(
                    SuiteError(path, f"each line must be a JSON object, not {kind}", line=number)
                )
                continue
            yield number, value


def _data_file(doc: dict[str, Any], key: str, ctx: SpecContext) -> Path | None:
    """The file named by `key`, which must exist inside the suite folder."""
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        ctx.error(key, f"must be a file name in the suite folder, not {value!r}")
        return None
    path = ctx.folder / value
    if not path.resolve().is_relative_to(ctx.folder.resolve()):
        ctx.error(key, f"{value} is outside the suite folder")
        return None
    if not path.is_file():
        ctx.error(key, f"{value}: no such file in {ctx.folder}")
        return None
    return path


def _read_items(
    path: Path, ctx: SpecContext, errors: _Collector
) -> tuple[list[dict[str, Any]], list[str]]:
    """The eval items, each checked for the fields its templates use; and the tags."""
    used: dict[FieldPath, str] = {}
    for where, field_path in ctx.fields_used:
        used.setdefault(field_path, where)
    items: list[dict[str, Any]] = []
    tags: set[str] = set()
    try:
        for number, item in _iter_jsonl(path, errors):
            for field_path, where in used.items():
                try:
                    resolve({"item": item}, field_path)
                except TemplateError as exc:
                    name = ".".join(field_path[1:]) or "item"
                    message = f"{exc.reason}, used by {where}"
                    errors.add(SuiteError(path, message, line=number, field=name))
            item_tags = item.get("tags", [])
            if not isinstance(item_tags, list) or not all(isinstance(t, str) for t in item_tags):
                errors.add(SuiteError(path, "must be a list of strings", line=number, field="tags"))
            else:
                tags.update(item_tags)
            items.append(item)
    except UnicodeDecodeError:
        errors.add(SuiteError(path, "not UTF-8 text"))
        return [], []
    if not items and not any(e.file == path for e in errors.errors):
        errors.add(SuiteError(path, "no items: the dataset is empty"))
    return items, sorted(tags)


def _check_training_file(path: Path, errors: _Collector) -> None:
    try:
        count = sum(1 for _ in _iter_jsonl(path, errors))
    except UnicodeDecodeError:
        errors.add(SuiteError(path, "not UTF-8 text"))
        return
    if count == 0 and not any(e.file == path for e in errors.errors):
        errors.add(SuiteError(path, "no examples: the file is empty"))


def _data_version(folder: Path, files: list[Path]) -> str:
    """sha256 over each file's name and bytes; CRLF counts as LF so checkouts agree."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    for path in files:
        name = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.name
        if name in seen:
            continue
        seen.add(name)
        content = path.read_bytes().replace(b"\r\n", b"\n")
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return "sha256:" + digest.hexdigest()


def _settings(doc: dict[str, Any], ctx: SpecContext) -> dict[str, Any]:
    """The optional settings, checked; invalid ones are left out (with an error)."""
    out: dict[str, Any] = {}
    description = doc.get("description", "")
    if not isinstance(description, str):
        ctx.error("description", "must be a string")
    out["description"] = str(description or "")
    threshold = doc.get("pass_threshold", 1.0)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or not 0 <= threshold <= 1
    ):
        ctx.error("pass_threshold", f"must be a number between 0 and 1, not {threshold!r}")
    else:
        out["pass_threshold"] = float(threshold)
    sampling = doc.get("sampling", {})
    if not isinstance(sampling, dict) or not all(isinstance(k, str) for k in sampling):
        ctx.error("sampling", "must be a mapping of parameter: value")
    else:
        out["sampling"] = dict(sampling)
    owners = doc.get("owners", [])
    if not isinstance(owners, list) or not all(
        isinstance(o, str) and _SLACK_USER.fullmatch(o) for o in owners
    ):
        ctx.error("owners", "must be a list of Slack user ids, like [U012ABCDEF]")
    else:
        out["owners"] = list(owners)
    approvals = doc.get("approvals", 1)
    if isinstance(approvals, bool) or not isinstance(approvals, int) or approvals < 1:
        ctx.error("approvals", f"must be a whole number of at least 1, not {approvals!r}")
    else:
        out["approvals"] = approvals
    self_approval = doc.get("self_approval", False)
    if not isinstance(self_approval, bool):
        ctx.error("self_approval", f"must be true or false, not {self_approval!r}")
    else:
        out["self_approval"] = self_approval
    return out


def _check_top_level(doc: dict[str, Any], ctx: SpecContext) -> None:
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            ctx.error(
                str(key),
                f"unknown key{did_you_mean(str(key), TOP_LEVEL_KEYS)}; "
                f"expected one of {', '.join(TOP_LEVEL_KEYS)}",
            )
    for key in REQUIRED_KEYS:
        if key not in doc:
            ctx.error(key, "missing; a suite needs name, data, input and grader")
    if ("grader" in doc) == ("graders" in doc):
        ctx.error(
            "grader",
            "give either grader (one) or graders (a list, OpenAI's testing_criteria)"
            if "grader" in doc
            else "missing; a suite needs name, data, input and grader",
        )
    name = doc.get("name")
    if "name" in doc and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        ctx.error("name", "must be one word of letters, digits, '.', '_' or '-'")


def _criteria(
    doc: dict[str, Any], ctx: SpecContext, suite_threshold: float
) -> list[Criterion] | None:
    """The testing criteria of `grader:` or `graders:`; None (errors in ctx) if invalid."""
    if "grader" in doc and "graders" not in doc:
        specs: list[tuple[str, Any]] = [("grader", doc["grader"])]
    elif "graders" in doc and "grader" not in doc:
        value = doc["graders"]
        if not isinstance(value, list) or not value:
            ctx.error("graders", "must be a non-empty list of graders")
            return None
        specs = [(f"graders[{i}]", spec) for i, spec in enumerate(value)]
    else:
        return None
    out: list[Criterion] = []
    names: dict[str, str] = {}
    for where, spec in specs:
        built = build_grader(spec, where, ctx)
        if built is None:
            continue
        name = str(spec.get("name") or spec.get("type"))
        if name in names:
            ctx.error(f"{where}.name", f"{name!r} is already the name of {names[name]}")
            continue
        names[name] = where
        out.append(criterion(name, built, spec, suite_threshold))
    return out if len(out) == len(specs) else None


def _rft_grader(name: str, criteria: list[Criterion]) -> dict[str, Any]:
    """The one grader an RFT job takes: the only criterion, else a multi over all."""
    if len(criteria) == 1:
        return criteria[0].spec
    words = {c.name: f"c{i}" for i, c in enumerate(criteria)}
    return {
        "type": "multi",
        "name": name,
        "graders": {words[c.name]: c.spec for c in criteria},
        "calculate_output": f"min({', '.join(words.values())})",
    }


def load_suite(folder: Path) -> Suite:
    """Load and check the suite in `folder`; raises InvalidSuite listing every problem."""
    file = folder / SUITE_FILE
    errors = _Collector(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSuite([SuiteError(file, f"cannot read: {exc}")]) from exc
    doc, lines = _parse_yaml(text, errors)
    if not errors.errors and not isinstance(doc, dict):
        errors.add(SuiteError(file, "must be a YAML mapping of settings (name, data, ...)"))
    if errors.errors:
        raise InvalidSuite(errors.result())
    assert isinstance(doc, dict)

    ctx = SpecContext(folder=folder, file=file, lines=lines)
    _check_top_level(doc, ctx)
    settings = _settings(doc, ctx)
    messages = (
        ctx.messages(doc.get("input"), "input", allow_sample=False) if "input" in doc else None
    )
    criteria = _criteria(doc, ctx, settings.get("pass_threshold", 1.0))
    tools = check_tools(doc.get("tools"), "tools", ctx) if "tools" in doc else []
    tool_choice = (
        check_tool_choice(doc.get("tool_choice"), tools, "tool_choice", ctx)
        if "tool_choice" in doc and tools is not None  # bad tools are reported already
        else None
    )
    if messages is not None and any(m.images for m in messages):
        ctx.error("input", "image parts are for graders' judge messages, not the suite input")
    data = _data_file(doc, "data", ctx) if "data" in doc else None
    extra = {key: _data_file(doc, key, ctx) for key in ("train", "valid") if key in doc}
    for error in ctx.errors:
        errors.add(error)

    items: list[dict[str, Any]] = []
    tags: list[str] = []
    if data is not None:
        items, tags = _read_items(data, ctx, errors)
    for path in extra.values():
        if path is not None:
            _check_training_file(path, errors)
    if errors.errors:
        raise InvalidSuite(errors.result())
    assert data is not None and messages is not None and criteria is not None

    files = [file, data, *(p for p in extra.values() if p is not None), *ctx.files]
    return Suite(
        name=str(doc["name"]),
        folder=folder,
        data_path=data,
        train_path=extra.get("train"),
        valid_path=extra.get("valid"),
        input=[{"role": m.role, "content": m.content} for m in messages],
        grader=_rft_grader(str(doc["name"]), criteria),
        grader_impl=criteria[0].grader,
        criteria=tuple(criteria),
        tools=tools or [],
        tool_choice=tool_choice,
        items=items,
        data_version=_data_version(folder, files),
        tags=tags,
        **settings,
    )


def load_suites(root: Path) -> tuple[dict[str, Suite], list[SuiteError]]:
    """Every suite under `root` (each subfolder with a suite.yaml), by name, and the errors.

    A broken suite adds its errors and is left out; the others still load. When two
    suites share a name, the first folder (in name order) keeps it.
    """
    if not root.is_dir():
        return {}, [SuiteError(root, "no such folder of eval suites")]
    suites: dict[str, Suite] = {}
    errors: list[SuiteError] = []
    for folder in sorted(p for p in root.iterdir() if (p / SUITE_FILE).is_file()):
        try:
            suite = load_suite(folder)
        except InvalidSuite as exc:
            errors.extend(exc.errors)
            continue
        other = suites.get(suite.name)
        if other is not None:
            file = folder / SUITE_FILE
            _, lines = _parse_yaml(file.read_text(encoding="utf-8"), _Collector(file))
            errors.append(
                SuiteError(
                    file,
                    f"{suite.name!r} is already the name of "
                    f"{display_path(other.folder / SUITE_FILE)}",
                    line=lines.get("name"),
                    field="name",
                )
            )
            continue
        suites[suite.name] = suite
    return suites, errors
