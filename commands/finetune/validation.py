"""Training data checked before anything is uploaded: JSONL parsing and row validation.

Rows are in the provider's JSONL format (OpenAI fine-tuning, which Azure OpenAI and
several gateways share):

- SFT: `{"messages": [..., {"role": "assistant", "content": "target"}]}`
- DPO: `{"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", ...}],
  "non_preferred_output": [{"role": "assistant", ...}]}`
- RFT: `{"messages": [...], <item fields the grader reads as {{ item.x }}>}`

`validate` reports every problem at once as a `DataError` whose issues name the
source, the line and the field, so the person in Slack knows what to fix. Where the
rows come from is commands.finetune.sources; what they cost, commands.finetune.estimates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from commands.reports import Code, Title, title_text
from commands.suites.graders.spec import did_you_mean
from commands.suites.suite import Suite
from commands.suites.templates import FieldPath, TemplateError, resolve, template_fields

Method = Literal["sft", "dpo", "rft"]

MAX_ISSUES_SHOWN = 20
ROLES = ("system", "user", "assistant", "developer", "tool")
SFT_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
DPO_KEYS = ("input", "preferred_output", "non_preferred_output")
DPO_INPUT_KEYS = ("messages", "tools", "parallel_tool_calls")

# -- issues ------------------------------------------------------------------------


@dataclass(frozen=True)
class DataIssue:
    """One problem in training data: where it is (source, line, field) and what is wrong.

    The source (a file name someone typed or uploaded), the field (the file's own keys)
    and any value quoted from the file are the data's text, not ours: `parts` keeps them
    apart as `Code`, so a presenter shows them literally (escaped in Slack, as written in
    a terminal). `message` is the plain text; `said`, when the message quotes the file,
    the same words as a Title whose `Code` parts are the quotes.
    """

    source: str
    line: int | None
    field: str | None
    message: str
    said: Title | None = None

    def parts(self) -> Title:
        """The issue as a Title: source and line, field, then the message."""
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        said = self.said if self.said is not None else (self.message,)
        if self.field:
            return (Code(where), ": field ", Code(self.field), ": ", *said)
        return (Code(where), ": ", *said)

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.field:
            return f'{where}: field "{self.field}": {self.message}'
        return f"{where}: {self.message}"


def plain(parts: Title) -> str:
    """A Title as plain text: the quoted parts as written."""
    return title_text(parts)


def quoted(value: Any) -> Code:
    """A value from the file (`'human'`, `0.5`), to be shown as code."""
    return Code(repr(value))


class DataError(Exception):
    """Training data that cannot be used. `lines()` is the message as Titles for a
    presenter (what reaches Slack); `str()` is the same words as plain text."""

    def __init__(self, issues: Sequence[DataIssue]) -> None:
        self.issues = list(issues)
        super().__init__(self._text())

    def lines(self) -> list[Title]:
        """The message, a Title a line: the data's own text in `Code` parts."""
        if len(self.issues) == 1:
            return [self.issues[0].parts()]
        shown = self.issues[:MAX_ISSUES_SHOWN]
        lines: list[Title] = [
            (f"The training data has {len(self.issues)} problems; nothing was uploaded:",)
        ]
        lines += [("• ", *issue.parts()) for issue in shown]
        hidden = len(self.issues) - len(shown)
        if hidden:
            lines.append((f"… and {hidden} more",))
        return lines

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


def parse_numbered(source: str, content: bytes) -> tuple[list[dict[str, Any]], list[int]]:
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
    return parse_numbered(source, content)[0]


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

    def add(self, index: int | None, field: str | None, message: str | Title) -> None:
        """One issue; a Title message quotes the file in its `Code` parts."""
        line = None if index is None else self.line(index)
        if isinstance(message, str):
            self.issues.append(DataIssue(self.source, line, field, message))
        else:
            self.issues.append(DataIssue(self.source, line, field, plain(message), message))


def text_of(content: Any) -> str | None:
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
                check.add(i, f"{here}.type", ("must be text, not ", quoted(kind)))
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
            got: Title = ("missing",) if role is None else ("not ", quoted(role))
            check.add(i, f"{here}.role", (f"must be one of {', '.join(ROLES)} (", *got, ")"))
            continue
        _check_content(check, i, here, message)
        if "weight" in message:
            weight = message["weight"]
            if role != "assistant":
                check.add(i, f"{here}.weight", "only assistant messages take a weight")
            elif isinstance(weight, bool) or weight not in (0, 1):
                check.add(i, f"{here}.weight", ("must be 0 or 1, not ", quoted(weight)))
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
        check.add(i, f"{where}[0].role", ("must be assistant, not ", quoted(message.get("role"))))
    text = text_of(message.get("content"))
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
            used = Code(f"{{{{ item.{name} }}}}")
            check.add(i, name, (exc.reason, ", used by the grader as ", used))


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


def find_issues(
    method: Method,
    rows: Sequence[Any],
    *,
    source: str,
    suite: Suite | None,
    min_examples: int,
    max_examples: int,
    lines: Sequence[int] | None,
) -> list[DataIssue]:
    """Every issue of `rows` for `method` (see validate), without raising."""
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
    issues = find_issues(
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
