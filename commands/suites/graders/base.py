"""What every grader shares: the sample it grades, the grade it returns, its errors.

A grader is compiled once from its spec (OpenAI grader schema) when the suite
loads, then graded many times. Load-time problems are `SuiteError`s that name the
file, line and field; grade-time problems are `GradeError`s, which make one sample
`errored` and never stop a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from commands.ports import Models
from commands.suites.templates import TemplateError, render

__all__ = [
    "Grade",
    "GradeError",
    "Grader",
    "Sample",
    "SuiteError",
    "display_path",
    "parse_output_json",
]


class GradeError(Exception):
    """One sample could not be graded; the message says why, for the person reading it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SuiteError(Exception):
    """A problem in a suite's files, found when the suite loads."""

    def __init__(
        self, file: Path, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.field = field
        self.message = message

    def __str__(self) -> str:
        where = display_path(self.file)
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f'{where}: field "{self.field}": {self.message}'
        return f"{where}: {self.message}"


def display_path(file: Path) -> str:
    """The path relative to the working directory when it is inside it, else as given."""
    if file.is_absolute():
        try:
            return str(file.relative_to(Path.cwd()))
        except ValueError:
            return str(file)
    return str(file)


_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(?P<body>.*?)\n?```$", re.DOTALL)


def parse_output_json(text: str) -> Any | None:
    """The JSON object or array in a model's answer, else None.

    A bare object/array is accepted, and so is one wrapped in a ```json fence,
    which chat models often add. Scalars ("42", "true") stay text.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group("body").strip()
    if not body.startswith(("{", "[")):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # A model can answer `[[[[...` thousands deep: the parser's recursion limit is
        # an answer that is not usable JSON, not a crash of the worker grading it.
        return None


_UNSET: Any = object()


@dataclass(frozen=True)
class Sample:
    """A model's answer to one item, as OpenAI's `sample` namespace has it.

    `output_json` is parsed from the text unless given. `output_tools` are the tool
    calls in Chat Completions' shape ({id, type: function, function: {name,
    arguments}}), whichever API answered; `choices` is Chat Completions' choice list,
    built from the text and the calls when not given.
    """

    output_text: str
    output_json: Any = field(default=_UNSET)
    output_tools: list[dict[str, Any]] = field(default_factory=list)
    choices: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.output_json is _UNSET:
            object.__setattr__(self, "output_json", parse_output_json(self.output_text))
        if not self.choices:
            message: dict[str, Any] = {"role": "assistant", "content": self.output_text}
            if self.output_tools:
                message["tool_calls"] = self.output_tools
            finish = "tool_calls" if self.output_tools else "stop"
            choice = {"index": 0, "message": message, "finish_reason": finish}
            object.__setattr__(self, "choices", [choice])

    def as_dict(self) -> dict[str, Any]:
        """The `sample` namespace of templates and python graders."""
        return {
            "output_text": self.output_text,
            "output_json": self.output_json,
            "output_tools": self.output_tools,
            "choices": self.choices,
        }


@dataclass(frozen=True)
class Grade:
    """A score in [0, 1]; the caller decides pass/fail against the threshold.

    `raw` is the score in the grader's own units where they differ (a score_model's
    `range`, a python grader's return value): a grader's own `pass_threshold` is
    written in those units, as in OpenAI's schema.
    """

    score: float
    detail: str | None = None
    sub_scores: dict[str, float] = field(default_factory=dict)
    raw: float | None = None

    @property
    def value(self) -> float:
        """The score in the grader's own units."""
        return self.score if self.raw is None else self.raw


class Grader(Protocol):
    """A compiled grader."""

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Grade one sample.

        Raises GradeError when the sample cannot be graded (the sample is `errored`);
        a model-based grader lets the port's ProviderError through unchanged, so the
        caller can report its kind (rate limit, timeout...).
        """
        ...


def template_context(item: Mapping[str, Any], sample: Sample) -> dict[str, Any]:
    """The namespaces a grader template can see."""
    return {"item": item, "sample": sample.as_dict()}


def render_pair(
    grader: str,
    input_template: str,
    reference_template: str,
    item: Mapping[str, Any],
    sample: Sample,
) -> tuple[str, str]:
    """A grader's `input` and `reference` rendered for one sample; GradeError if a field
    is missing."""
    context = template_context(item, sample)
    try:
        return render(input_template, context), render(reference_template, context)
    except TemplateError as exc:
        raise GradeError(f"grader {grader!r}: {exc.message}") from exc


def shorten(text: str, limit: int = 80) -> str:
    """`text` on one line, cut to `limit` characters, for details and error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
