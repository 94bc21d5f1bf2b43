"""Checking a grader spec at load time: the shared context and field helpers.

Every check appends a `SuiteError` naming the field (and its YAML line when the
loader knows it) instead of raising, so one load reports all of a suite's
problems at once.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commands.suites.graders.base import Grader, SuiteError
from commands.suites.templates import FieldPath, TemplateError, format_path, template_fields

__all__ = ["MessageTemplate", "SpecContext", "did_you_mean"]

MESSAGE_ROLES = ("system", "developer", "user", "assistant")
# The keys of one message in an `input` list (OpenAI also writes `type: message`).
_MESSAGE_KEYS = ("role", "content", "type")
_TEXT_PARTS = ("input_text", "output_text")
_IMAGE_PART = "input_image"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """' (did you mean "grader"?)' when `word` is close to one of `choices`, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass(frozen=True)
class MessageTemplate:
    """One chat message whose content is a template.

    `content` is the text (text parts joined by newlines); `images` holds the
    `image_url` templates of OpenAI's `input_image` parts, in order after the text.
    """

    role: str
    content: str
    images: tuple[str, ...] = ()


@dataclass
class SpecContext:
    """Where a spec comes from and what checking it found."""

    folder: Path
    file: Path
    lines: Mapping[str, int] = field(default_factory=dict)
    errors: list[SuiteError] = field(default_factory=list)
    # (field, path) for every template path, so items can be checked before any call.
    fields_used: list[tuple[str, FieldPath]] = field(default_factory=list)
    # Files a grader reads (python `source_file`), part of the suite's data version.
    files: list[Path] = field(default_factory=list)
    build_nested: Callable[[Any, str, SpecContext], Grader | None] | None = None
    in_multi: bool = False  # building a multi grader's sub-graders

    def line_of(self, where: str) -> int | None:
        """The YAML line of `where`, else of its nearest parent that has one."""
        key = where
        while key:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None

    def error(self, where: str, message: str) -> None:
        """Record a problem with the field `where` (e.g. "grader.operation")."""
        self.errors.append(SuiteError(self.file, message, line=self.line_of(where), field=where))

    # -- field helpers; each returns None (after recording an error) when invalid --

    def check_keys(
        self, spec: Mapping[str, Any], where: str, allowed: Sequence[str], what: str
    ) -> None:
        """An error for every key of `spec` that is not in `allowed`."""
        for key in spec:
            if key not in allowed:
                self.error(
                    f"{where}.{key}",
                    f"unknown key in {what}{did_you_mean(str(key), allowed)}; "
                    f"expected one of {', '.join(allowed)}",
                )

    def string(self, spec: Mapping[str, Any], key: str, where: str) -> str | None:
        """A required non-empty string."""
        value = spec.get(key)
        if value is None:
            self.error(f"{where}.{key}", "missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(f"{where}.{key}", f"must be a non-empty string, not {value!r}")
            return None
        return value

    def optional_number(self, spec: Mapping[str, Any], key: str, where: str) -> float | None:
        """A finite number when `key` is present (else an error); None when absent."""
        if key not in spec:
            return None
        return self.number(spec, key, where, 0.0)

    def number(self, spec: Mapping[str, Any], key: str, where: str, default: float) -> float | None:
        """An optional finite number."""
        value = spec.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.error(f"{where}.{key}", f"must be a number, not {value!r}")
            return None
        return float(value)

    def choice(
        self, spec: Mapping[str, Any], key: str, where: str, choices: Sequence[str], what: str
    ) -> str | None:
        """A required string among `choices`."""
        value = self.string(spec, key, where)
        if value is None:
            return None
        if value not in choices:
            self.error(
                f"{where}.{key}",
                f"unknown {what} {value!r}{did_you_mean(value, choices)}; "
                f"expected one of {', '.join(choices)}",
            )
            return None
        return value

    def template(
        self, spec: Mapping[str, Any], key: str, where: str, *, allow_sample: bool = True
    ) -> str | None:
        """A required template string whose placeholders are well formed."""
        text = spec.get(key)
        if text is None:
            self.error(f"{where}.{key}", "missing")
            return None
        if not isinstance(text, str):
            self.error(f"{where}.{key}", f"must be a string template, not {text!r}")
            return None
        return self.template_text(text, f"{where}.{key}", allow_sample=allow_sample)

    def template_text(self, text: str, where: str, *, allow_sample: bool = True) -> str | None:
        """Check the placeholders of `text` and remember the item fields it uses."""
        try:
            paths = template_fields(text)
        except TemplateError as exc:
            self.error(where, exc.message)
            return None
        ok = True
        for path in sorted(paths):
            if path[0] == "sample":
                problem = _sample_path_problem(path, allow_sample)
                if problem:
                    self.error(where, problem)
                    ok = False
            else:
                self.fields_used.append((where, path))
        return text if ok else None

    def messages(
        self, value: Any, where: str, *, allow_sample: bool = True
    ) -> list[MessageTemplate] | None:
        """A non-empty list of {role, content} messages whose contents are templates."""
        if value is None:
            self.error(where, "missing")
            return None
        if not isinstance(value, list) or not value:
            self.error(where, "must be a non-empty list of {role, content} messages")
            return None
        out: list[MessageTemplate] = []
        for index, message in enumerate(value):
            here = f"{where}[{index}]"
            if not isinstance(message, dict):
                self.error(here, "must be a {role, content} message")
                continue
            self.check_keys(message, here, _MESSAGE_KEYS, "a message")
            role = self.choice(message, "role", here, MESSAGE_ROLES, "role")
            parts = _content_parts(message.get("content"))
            if parts is None:
                self.error(
                    f"{here}.content",
                    "missing or not text: write a string, or a list of parts "
                    "({type: input_text, text: ...}, {type: input_image, image_url: ...})",
                )
                continue
            texts, images, ok = [], [], True
            for kind, part in parts:
                checked = self.template_text(part, f"{here}.content", allow_sample=allow_sample)
                if checked is None:
                    ok = False
                elif kind == "image":
                    images.append(checked)
                else:
                    texts.append(checked)
            if role is not None and ok:
                out.append(MessageTemplate(role, "\n".join(texts), tuple(images)))
        return out if len(out) == len(value) else None


def _part(part: Any) -> tuple[str, str] | None:
    if isinstance(part, str):
        return "text", part
    if not isinstance(part, dict):
        return None
    if part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
        return "text", str(part["text"])
    if part.get("type") == _IMAGE_PART and isinstance(part.get("image_url"), str):
        return "image", str(part["image_url"])
    return None


def _content_parts(content: Any) -> list[tuple[str, str]] | None:
    """("text" | "image", template) for a message's content: a string, one part, or a
    list of parts as OpenAI's graders take them; None when it is none of these."""
    items = content if isinstance(content, list) else [content]
    if not items:
        return None
    parts = [_part(item) for item in items]
    if any(p is None for p in parts):
        return None
    return [p for p in parts if p is not None]


def _sample_path_problem(path: FieldPath, allow_sample: bool) -> str | None:
    name = format_path(path)
    if not allow_sample:
        return f"{{{{ {name} }}}}: the model's answer does not exist yet here; use item fields"
    if path[1:] == ("output_text",) or (
        len(path) >= 2 and path[1] in ("output_json", "output_tools", "choices")
    ):
        return None
    return (
        f"{{{{ {name} }}}}: a sample has output_text, output_json, output_tools and choices "
        "(e.g. {{ sample.output_text }}, {{ sample.output_tools[0].function.name }})"
    )
