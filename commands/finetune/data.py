"""Training data for SFT, DPO and RFT jobs, checked before anything is uploaded.

Rows are built in the provider's JSONL format (OpenAI fine-tuning, which Azure OpenAI
and several gateways share):

- SFT: `{"messages": [..., {"role": "assistant", "content": "target"}]}`
- DPO: `{"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", ...}],
  "non_preferred_output": [{"role": "assistant", ...}]}`
- RFT: `{"messages": [...], <item fields the grader reads as {{ item.x }}>}`

They come from a suite's train/valid files, a file shared in Slack, the passing
outputs of a (teacher) run, the disagreements of two runs, or the suite's items.
`validate` reports every problem at once as a `DataError` whose issues name the
source, the line and the field, so the person in Slack knows what to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from commands.eval.graders.spec import did_you_mean
from commands.eval.suite import Suite
from commands.eval.templates import FieldPath, TemplateError, resolve, template_fields
from storage.tables import SampleResult

__all__ = [
    "MAX_ISSUES_SHOWN",
    "RFT_HOURLY_USD",
    "TRAINING_PRICES_USD",
    "DataError",
    "DataIssue",
    "Method",
    "TrainingSet",
    "count_duplicates",
    "dpo_from_runs",
    "estimate_tokens",
    "from_file",
    "from_suite_files",
    "grader_item_fields",
    "parse_jsonl",
    "rft_cost_note",
    "rft_from_suite",
    "sft_from_run",
    "training_cost_usd",
    "validate",
]

Method = Literal["sft", "dpo", "rft"]

MAX_ISSUES_SHOWN = 20
ROLES = ("system", "user", "assistant", "developer", "tool")
SFT_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
DPO_KEYS = ("input", "preferred_output", "non_preferred_output")
DPO_INPUT_KEYS = ("messages", "tools", "parallel_tool_calls")
# In an RFT row every other key is an item field for the grader.
RFT_RESERVED = ("messages", "tools")

# USD per 1M training tokens (SFT and DPO), by model family.
TRAINING_PRICES_USD: dict[str, float] = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
}
# RFT is billed per hour of training (wall clock of the core training loop), not per token.
RFT_HOURLY_USD: dict[str, float] = {"o4-mini": 100.0}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


# -- issues ------------------------------------------------------------------------


@dataclass(frozen=True)
class DataIssue:
    """One problem in training data: where it is (source, line, field) and what is wrong."""

    source: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.field:
            return f'{where}: field "{self.field}": {self.message}'
        return f"{where}: {self.message}"


class DataError(Exception):
    """Training data that cannot be used; `str()` is a message ready for Slack."""

    def __init__(self, issues: Sequence[DataIssue]) -> None:
        self.issues = list(issues)
        super().__init__(self._text())

    def _text(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        shown = self.issues[:MAX_ISSUES_SHOWN]
        lines = [f"The training data has {len(self.issues)} problems; nothing was uploaded:"]
        lines += [f"• {issue}" for issue in shown]
        hidden = len(self.issues) - len(shown)
        if hidden:
            lines.append(f"… and {hidden} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text()


# -- the result --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSet:
    """Validated rows ready to upload, with what they are estimated to cost."""

    method: Method
    train: list[dict[str, Any]]  # JSONL rows in the provider's format
    valid: list[dict[str, Any]] | None
    source: str  # e.g. "suite train.jsonl", "run r12 (passing outputs)", "file data.jsonl"
    tokens: int  # estimated tokens in the training rows, one epoch (see estimate_tokens)
    duplicates: int = 0  # rows of `train` that repeat an earlier row exactly (a warning)

    def jsonl(self, which: Literal["train", "valid"] = "train") -> bytes:
        """The rows as newline-delimited JSON in UTF-8, ready to upload."""
        rows = self.train if which == "train" else self.valid
        if rows is None:
            raise ValueError(f"this training set has no {which} rows")
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()

    @property
    def warnings(self) -> list[str]:
        """Things worth saying that do not stop the job (e.g. duplicated rows)."""
        if not self.duplicates:
            return []
        rows = "row repeats" if self.duplicates == 1 else "rows repeat"
        return [f"{self.duplicates} {rows} an earlier row exactly in {self.source}"]


# -- JSONL -------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "true/false" if isinstance(value, bool) else "a number"


def _parse_numbered(source: str, content: bytes) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows of a JSONL file and the line each came from; blank lines are skipped."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    issues: list[DataIssue] = []
    for number, raw in enumerate(content.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            issues.append(DataIssue(source, number, None, "not UTF-8 text"))
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            message = getattr(exc, "msg", None) or str(exc)
            issues.append(DataIssue(source, number, None, f"not valid JSON: {message}"))
            continue
        if not isinstance(value, dict):
            kind = _json_kind(value)
            issues.append(
                DataIssue(source, number, None, f"each line must be a JSON object, not {kind}")
            )
            continue
        rows.append(value)
        lines.append(number)
    if issues:
        raise DataError(issues)
    return rows, lines


def parse_jsonl(source: str, content: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file (blank lines skipped).

    Raises DataError naming each line that is not UTF-8, not JSON, or not an object.
    """
    return _parse_numbered(source, content)[0]


# -- validation --------------------------------------------------------------------


class _Checker:
    """Collects the issues of one source; `where` gives the line of each row."""

    def __init__(self, source: str, lines: Sequence[int] | None) -> None:
        self.source = source
        self.lines = lines
        self.issues: list[DataIssue] = []

    def line(self, index: int) -> int:
        if self.lines is not None and index < len(self.lines):
            return self.lines[index]
        return index + 1

    def add(self, index: int | None, field: str | None, message: str) -> None:
        line = None if index is None else self.line(index)
        self.issues.append(DataIssue(self.source, line, field, message))


def _text_of(content: Any) -> str | None:
    """The text of a message's content (string or text parts), None if it has none."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return None


def _check_content(check: _Checker, i: int, where: str, message: Mapping[str, Any]) -> None:
    content = message.get("content")
    role = message.get("role")
    calls = message.get("tool_calls")
    if role == "assistant" and content is None and isinstance(calls, list) and calls:
        return  # an assistant turn that only calls tools
    if isinstance(content, str):
        if not content.strip():
            check.add(i, f"{where}.content", "must not be empty")
        return
    if isinstance(content, list) and content:
        for k, part in enumerate(content):
            here = f"{where}.content[{k}]"
            if not isinstance(part, dict):
                check.add(i, here, 'must be a content part like {"type": "text", "text": "..."}')
                continue
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str) or not text.strip():
                    check.add(i, f"{here}.text", "must be a non-empty string")
            elif kind == "image_url" and role == "user":
                image = part.get("image_url")
                if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                    check.add(i, f"{here}.image_url", 'must be {"url": "..."}')
            else:
                check.add(i, f"{here}.type", f"must be text, not {kind!r}")
        return
    if content is None:
        check.add(i, f"{where}.content", "missing")
    else:
        check.add(i, f"{where}.content", "must be a non-empty string or a list of text parts")


def _check_messages(
    check: _Checker, i: int, value: Any, where: str, *, last_assistant: bool
) -> None:
    """A conversation: roles, contents, one user turn at least, and who speaks last.

    `last_assistant` True: the last message must be the assistant's (the SFT target);
    False: it must not be (the model answers during training: DPO input, RFT).
    """
    if value is None:
        check.add(i, where, "missing: a list of {role, content} messages")
        return
    if not isinstance(value, list) or not value:
        check.add(i, where, "must be a non-empty list of {role, content} messages")
        return
    roles: list[Any] = []
    for k, message in enumerate(value):
        here = f"{where}[{k}]"
        if not isinstance(message, dict):
            check.add(i, here, 'must be a message like {"role": "user", "content": "..."}')
            roles.append(None)
            continue
        role = message.get("role")
        roles.append(role)
        if role not in ROLES:
            got = "missing" if role is None else f"not {role!r}"
            check.add(i, f"{here}.role", f"must be one of {', '.join(ROLES)} ({got})")
            continue
        _check_content(check, i, here, message)
        if "weight" in message:
            weight = message["weight"]
            if role != "assistant":
                check.add(i, f"{here}.weight", "only assistant messages take a weight")
            elif isinstance(weight, bool) or weight not in (0, 1):
                check.add(i, f"{here}.weight", f"must be 0 or 1, not {weight!r}")
    if "user" not in roles:
        check.add(i, where, "needs at least one user message")
    last = roles[-1]
    if last_assistant and last != "assistant":
        check.add(
            i,
            f"{where}[{len(value) - 1}].role",
            "the last message must be the assistant's: it is what the model learns to write",
        )
    if last_assistant and last == "assistant":
        weights = [
            m.get("weight", 1)
            for m in value
            if isinstance(m, dict) and m.get("role") == "assistant"
        ]
        if weights and all(w == 0 for w in weights):
            check.add(i, where, "every assistant message has weight 0: nothing to learn")
    if not last_assistant and last == "assistant":
        check.add(
            i,
            f"{where}[{len(value) - 1}].role",
            "must not end with an assistant message: the model writes the answer in training",
        )


def _check_keys(check: _Checker, i: int, row: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in row:
        if key not in allowed:
            check.add(
                i,
                str(key),
                f"unknown key{did_you_mean(str(key), allowed)}; expected {', '.join(allowed)}",
            )


def _check_sft(check: _Checker, i: int, row: Mapping[str, Any]) -> None:
    if "messages" not in row and "preferred_output" in row:
        check.add(i, None, "this is a DPO row (input, preferred_output...); SFT needs messages")
        return
    _check_keys(check, i, row, SFT_KEYS)
    _check_messages(check, i, row.get("messages"), "messages", last_assistant=True)


def _check_output(check: _Checker, i: int, value: Any, where: str) -> str | None:
    """A DPO output: a list of exactly one assistant message; returns its text."""
    if value is None:
        check.add(i, where, 'missing: a list with one {"role": "assistant", "content": ...}')
        return None
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        check.add(i, where, 'must be a list of exactly one {"role": "assistant", ...} message')
        return None
    message = value[0]
    if message.get("role") != "assistant":
        check.add(i, f"{where}[0].role", f"must be assistant, not {message.get('role')!r}")
    text = _text_of(message.get("content"))
    if text is None or not text.strip():
        check.add(i, f"{where}[0].content", "must be a non-empty string")
        return None
    return text


def _check_dpo(check: _Checker, i: int, row: Mapping[str, Any]) -> None:
    if "messages" in row and "input" not in row:
        check.add(
            i,
            None,
            "this is an SFT row (messages); DPO needs input, preferred_output "
            "and non_preferred_output",
        )
        return
    _check_keys(check, i, row, DPO_KEYS)
    given = row.get("input")
    if not isinstance(given, dict):
        what = "missing" if given is None else "must be an object"
        check.add(i, "input", f'{what}: {{"messages": [...]}}, the prompt both outputs answer')
    else:
        for key in given:
            if key not in DPO_INPUT_KEYS:
                check.add(
                    i,
                    f"input.{key}",
                    f"unknown key{did_you_mean(str(key), DPO_INPUT_KEYS)}; "
                    f"expected {', '.join(DPO_INPUT_KEYS)}",
                )
        _check_messages(check, i, given.get("messages"), "input.messages", last_assistant=False)
    good = _check_output(check, i, row.get("preferred_output"), "preferred_output")
    bad = _check_output(check, i, row.get("non_preferred_output"), "non_preferred_output")
    if good is not None and good == bad:
        check.add(i, "non_preferred_output", "is the same as preferred_output: nothing to prefer")


def grader_item_fields(grader: Any) -> set[FieldPath]:
    """Every `{{ item.x }}` path in a grader spec's strings, without the namespace.

    Python graders' `source` is code, not a template, and is not read.
    """
    found: set[FieldPath] = set()

    def walk(value: Any, key: str | None) -> None:
        if isinstance(value, str):
            if key == "source":
                return
            try:
                paths = template_fields(value)
            except TemplateError:
                return  # the suite loader reports malformed templates
            found.update(p[1:] for p in paths if p[0] == "item" and len(p) > 1)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)

    walk(grader, None)
    return found


def _grader_types(grader: Any) -> set[str]:
    types: set[str] = set()
    if isinstance(grader, dict):
        if isinstance(grader.get("type"), str):
            types.add(grader["type"])
        subs = grader.get("graders")
        if isinstance(subs, dict):
            for sub in subs.values():
                types |= _grader_types(sub)
    return types


def _check_rft(
    check: _Checker, i: int, row: Mapping[str, Any], fields: Sequence[FieldPath]
) -> None:
    _check_messages(check, i, row.get("messages"), "messages", last_assistant=False)
    if "tools" in row and not isinstance(row["tools"], list):
        check.add(i, "tools", "must be a list of tools")
    for path in fields:
        try:
            resolve(row, path)
        except TemplateError as exc:
            name = ".".join(path)
            check.add(i, name, f"{exc.reason}, used by the grader as {{{{ item.{name} }}}}")


def _count_issues(
    check: _Checker, count: int, min_examples: int, max_examples: int
) -> list[DataIssue]:
    out: list[DataIssue] = []
    if count < min_examples:
        out.append(
            DataIssue(
                check.source,
                None,
                None,
                f"needs at least {min_examples} examples, found {count}",
            )
        )
    if count > max_examples:
        out.append(
            DataIssue(
                check.source,
                None,
                None,
                f"has {count} examples; a job takes at most {max_examples}",
            )
        )
    return out


def _issues(
    method: Method,
    rows: Sequence[Any],
    *,
    source: str,
    suite: Suite | None,
    min_examples: int,
    max_examples: int,
    lines: Sequence[int] | None,
) -> list[DataIssue]:
    check = _Checker(source, lines)
    fields: list[FieldPath] = []
    if method == "rft" and suite is not None:
        fields = sorted(grader_item_fields(suite.grader))
        bad = _grader_types(suite.grader) & {"label_model"}
        if bad:
            check.issues.append(
                DataIssue(
                    f"{suite.name}/suite.yaml",
                    None,
                    "grader.type",
                    "label_model graders cannot train an RFT job; use score_model",
                )
            )
    elif method not in ("sft", "dpo", "rft"):
        raise ValueError(f"unknown fine-tuning method {method!r}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            check.add(i, None, "each row must be a JSON object")
        elif method == "sft":
            _check_sft(check, i, row)
        elif method == "dpo":
            _check_dpo(check, i, row)
        else:
            _check_rft(check, i, row, fields)
    return _count_issues(check, len(rows), min_examples, max_examples) + check.issues


def validate(
    method: Method,
    rows: Sequence[dict[str, Any]],
    *,
    source: str,
    suite: Suite | None = None,
    min_examples: int = 10,
    max_examples: int = 50_000,
    lines: Sequence[int] | None = None,
) -> None:
    """Check `rows` for `method`; raises DataError listing every issue.

    `lines` gives the file line of each row (default: row i is line i + 1). For RFT,
    `suite` supplies the grader whose `{{ item.x }}` fields every row must carry.
    Exact duplicate rows are not an error (see `count_duplicates`).
    """
    issues = _issues(
        method,
        rows,
        source=source,
        suite=suite,
        min_examples=min_examples,
        max_examples=max_examples,
        lines=lines,
    )
    if issues:
        raise DataError(issues)


def count_duplicates(rows: Iterable[Mapping[str, Any]]) -> int:
    """How many rows repeat an earlier row exactly (key order does not matter)."""
    seen: set[str] = set()
    duplicates = 0
    for row in rows:
        key = json.dumps(row, sort_keys=True, ensure_ascii=False)
        if key in seen:
            duplicates += 1
        seen.add(key)
    return duplicates


# -- tokens and cost ---------------------------------------------------------------


def _messages_of(row: Mapping[str, Any]) -> list[Any]:
    found: list[Any] = []
    for key in ("messages", "preferred_output", "non_preferred_output"):
        value = row.get(key)
        if isinstance(value, list):
            found += value
    given = row.get("input")
    if isinstance(given, dict) and isinstance(given.get("messages"), list):
        found += given["messages"]
    return found


def estimate_tokens(rows: Iterable[Mapping[str, Any]]) -> int:
    """An estimate of the tokens in `rows`, not a count: no tokenizer is available offline.

    Each message counts 4 tokens of overhead plus one token per 4 characters of its
    text (content, and tool calls as JSON), rounded up. English prose averages about
    4 characters a token, so expect the real count within a few tens of percent.
    """
    total = 0
    for row in rows:
        for message in _messages_of(row):
            if not isinstance(message, dict):
                continue
            text = _text_of(message.get("content")) or ""
            if message.get("tool_calls"):
                text += json.dumps(message["tool_calls"], ensure_ascii=False)
            total += 4 + (len(text) + 3) // 4
    return total


def _family(model: str) -> str:
    """gpt-4.1-mini for "openai:ft:gpt-4.1-mini-2025-04-14:org::id" and the like."""
    name = model.strip()
    if ":" in name and not name.startswith("ft:"):
        name = name.split(":", 1)[1]  # provider:model
    if name.startswith("ft:"):
        name = name.split(":")[1]  # ft:<base>:org:suffix:id
    name = name.rsplit("/", 1)[-1]  # openai/gpt-4o style gateway names
    return _SNAPSHOT.sub("", name)


def training_cost_usd(method: Method, base_model: str, tokens: int, epochs: int) -> float | None:
    """The training cost of an SFT or DPO job in USD; None when it is not priced by tokens.

    Billed tokens are the training tokens times the epochs. RFT is billed per hour of
    training, so it returns None (see RFT_HOURLY_USD and rft_cost_note); an unknown
    model returns None rather than a wrong price.
    """
    if method == "rft":
        return None
    price = TRAINING_PRICES_USD.get(_family(base_model))
    if price is None:
        return None
    return max(0, tokens) * max(1, epochs) * price / 1_000_000


def rft_cost_note(base: str) -> str:
    """What an RFT job on `base` costs, in words (it is billed by time, not tokens)."""
    hourly = RFT_HOURLY_USD.get(_family(base))
    if hourly is None:
        return (
            f"RFT is billed per hour of training, not per token; "
            f"no hourly price is known for {base}."
        )
    return (
        f"RFT is billed per hour of training, not per token: {base} costs "
        f"${hourly:,.2f} an hour, plus the grader's model calls if it uses a model."
    )


# -- building training sets --------------------------------------------------------


def _build(
    method: Method,
    train: list[dict[str, Any]],
    valid: list[dict[str, Any]] | None,
    source: str,
) -> TrainingSet:
    return TrainingSet(
        method=method,
        train=train,
        valid=valid,
        source=source,
        tokens=estimate_tokens(train),
        duplicates=count_duplicates(train),
    )


def _suite_file_name(suite: Suite, path: Path) -> str:
    try:
        return path.relative_to(suite.folder).as_posix()
    except ValueError:
        return path.name


def _read_suite_file(
    method: Method, suite: Suite, path: Path, *, min_examples: int
) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    name = _suite_file_name(suite, path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        return [], [DataIssue(name, None, None, f"cannot read: {exc.strerror or exc}")]
    try:
        rows, lines = _parse_numbered(name, content)
    except DataError as exc:
        return [], exc.issues
    issues = _issues(
        method,
        rows,
        source=name,
        suite=suite,
        min_examples=min_examples,
        max_examples=50_000,
        lines=lines,
    )
    return rows, issues


def from_suite_files(method: Method, suite: Suite) -> TrainingSet:
    """The suite's own training data: `train:` (and `valid:`) of suite.yaml.

    For RFT the data is the suite's items (see rft_from_suite). Raises DataError when
    the suite has no training file or when any row of either file is invalid.
    """
    if method == "rft":
        return rft_from_suite(suite)
    if suite.train_path is None:
        raise DataError(
            [
                DataIssue(
                    f"{suite.name}/suite.yaml",
                    None,
                    "train",
                    f"suite {suite.name} has no training data: add `train: train.jsonl` "
                    f"to suite.yaml, or pass data=<file> with a file shared in the channel",
                )
            ]
        )
    train, issues = _read_suite_file(method, suite, suite.train_path, min_examples=10)
    valid: list[dict[str, Any]] | None = None
    if suite.valid_path is not None:
        valid, more = _read_suite_file(method, suite, suite.valid_path, min_examples=1)
        issues += more
    if issues:
        raise DataError(issues)
    return _build(method, train, valid, f"suite {_suite_file_name(suite, suite.train_path)}")


def from_file(method: Method, name: str, content: bytes, suite: Suite) -> TrainingSet:
    """A JSONL file shared in Slack (`data=<file>`), checked for `method`."""
    rows, lines = _parse_numbered(name, content)
    validate(method, rows, source=name, suite=suite, lines=lines)
    return _build(method, rows, None, f"file {name}")


def _item(suite: Suite, result: SampleResult) -> dict[str, Any] | None:
    index = result.item_index
    return suite.items[index] if 0 <= index < len(suite.items) else None


def _run_label(results: Iterable[SampleResult]) -> str:
    ids = sorted({r.run_id for r in results})
    if not ids:
        return "no run"
    label = ", ".join(f"r{i}" for i in ids)
    return f"run {label}" if len(ids) == 1 else f"runs {label}"


def _one_model(results: Sequence[SampleResult]) -> str | None:
    models = sorted({r.model for r in results})
    if len(models) > 1:
        raise ValueError(f"results of several models ({', '.join(models)}): pass one model's")
    return models[0] if models else None


def sft_from_run(suite: Suite, results: Sequence[SampleResult]) -> TrainingSet:
    """SFT rows from a run's passing outputs: the suite's prompt, then the output.

    This distils a (teacher) model into the one being fine-tuned. `results` must be one
    model's samples; failed and errored samples are left out, as are samples whose
    item the suite no longer has.
    """
    _one_model(results)
    source = f"{_run_label(results)} (passing outputs)"
    rows: list[dict[str, Any]] = []
    for result in sorted(results, key=lambda r: r.item_index):
        item = _item(suite, result)
        if result.status != "passed" or not result.output or item is None:
            continue
        messages = [*suite.messages(item), {"role": "assistant", "content": result.output}]
        rows.append({"messages": messages})
    validate("sft", rows, source=source, suite=suite)
    return _build("sft", rows, None, source)


def dpo_from_runs(
    suite: Suite, a: Sequence[SampleResult], b: Sequence[SampleResult]
) -> TrainingSet:
    """DPO pairs from two runs (or two models) of the suite, item by item.

    Where exactly one of the two passed and the other failed, the passing output is
    preferred and the failing one is not. Errored samples, items both passed or both
    failed, and identical outputs give no pair.
    """
    model_a, model_b = _one_model(a), _one_model(b)
    by_item = {r.item_index: r for r in b}
    if model_a and model_b and model_a != model_b and _run_label(a) == _run_label(b):
        source = f"{_run_label(a)} ({model_a} vs {model_b})"
    else:
        runs = sorted({r.run_id for r in [*a, *b]})
        source = f"runs {' and '.join(f'r{i}' for i in runs)} (passing vs failing outputs)"
    rows: list[dict[str, Any]] = []
    for first in sorted(a, key=lambda r: r.item_index):
        second = by_item.get(first.item_index)
        item = _item(suite, first)
        if second is None or item is None:
            continue
        if {first.status, second.status} != {"passed", "failed"}:
            continue
        good, bad = (first, second) if first.status == "passed" else (second, first)
        if not good.output or not bad.output or good.output == bad.output:
            continue
        rows.append(
            {
                "input": {"messages": suite.messages(item)},
                "preferred_output": [{"role": "assistant", "content": good.output}],
                "non_preferred_output": [{"role": "assistant", "content": bad.output}],
            }
        )
    validate("dpo", rows, source=source, suite=suite)
    return _build("dpo", rows, None, source)


def rft_from_suite(suite: Suite) -> TrainingSet:
    """RFT rows from the suite's items: the rendered prompt plus the item's fields.

    Item fields go at the top level of each row, where the grader's `{{ item.x }}`
    finds them. An item with its own `messages` or `tools` field would collide with the
    reserved keys and is an error.
    """
    source = _suite_file_name(suite, suite.data_path)
    issues: list[DataIssue] = []
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(suite.items):
        for key in RFT_RESERVED:
            if key in item:
                issues.append(
                    DataIssue(
                        source,
                        index + 1,
                        key,
                        f"{key!r} is reserved in RFT rows; rename this item field",
                    )
                )
        rows.append({"messages": suite.messages(item), **item})
    if issues:
        raise DataError(issues)
    validate("rft", rows, source=source, suite=suite)
    return _build("rft", rows, None, f"suite {source}")
