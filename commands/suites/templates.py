"""`{{ namespace.path }}` substitution, as in OpenAI's grader templates.

A template refers to the eval item (`{{ item.ticket }}`, `{{ item.meta.lang }}`) or to
the model's answer (`{{ sample.output_text }}`, `{{ sample.output_json.label }}`). Paths
are JSON-path-like, as in OpenAI's graders guide: dotted keys (any letters, so `città`
works), list indexes (`{{ sample.output_tools[0].function.name }}`, or `.0`), and quoted
keys for names with dots or spaces (`{{ item["a.b"] }}`, `{{ item['x y'] }}`).
Strings are inserted as they are; any other value is rendered as JSON. Templates
are parsed with a regular expression and looked up in plain dicts: nothing is ever
evaluated, so a template cannot run code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "NAMESPACES",
    "FieldPath",
    "TemplateError",
    "format_path",
    "render",
    "resolve",
    "template_fields",
]

NAMESPACES = ("item", "sample")

# `{{` then anything but braces then `}}`; whitespace inside the braces is ignored.
_PLACEHOLDER = re.compile(r"\{\{(?P<expr>[^{}]*)\}\}")
# One step of a path: `.key` (word characters of any script, and `-`), `[0]`, or a
# quoted key `["..."]` / `['...']` (backslash escapes the quote).
_FIRST = re.compile(r"\s*(?P<name>[\w-]+)")
_STEP = re.compile(
    r"""\.(?P<key>[\w-]+)|\[\s*(?P<index>\d+)\s*\]"""
    r"""|\[\s*(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)')\s*\]"""
)
_PLAIN = re.compile(r"[\w-]+")
_ESCAPE = re.compile(r"\\(.)")

FieldPath = tuple[str, ...]


class TemplateError(Exception):
    """A template that cannot be parsed, or a path that the data does not have."""

    def __init__(
        self, message: str, *, path: FieldPath | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.reason = reason or message  # the message without the path, e.g. "missing"


def format_path(path: FieldPath) -> str:
    """("item", "a", "b") -> "item.a.b"; a key that is not one plain word is quoted."""
    out = path[0] if path else ""
    for segment in path[1:]:
        out += f".{segment}" if _PLAIN.fullmatch(segment) else f"[{json.dumps(segment)}]"
    return out


def _parse_steps(text: str) -> FieldPath | None:
    first = _FIRST.match(text)
    if first is None:
        return None
    segments = [first.group("name")]
    at = first.end()
    end = len(text.rstrip())
    while at < end:
        step = _STEP.match(text, at)
        if step is None:
            return None
        if step.group("key") is not None:
            segments.append(step.group("key"))
        elif step.group("index") is not None:
            segments.append(str(int(step.group("index"))))
        else:
            quoted = step.group("dq") if step.group("dq") is not None else step.group("sq")
            segments.append(_ESCAPE.sub(r"\1", quoted))
        at = step.end()
    return tuple(segments)


def _parse_expr(expr: str) -> FieldPath:
    text = expr.strip()
    path = _parse_steps(text)
    if path is None or len(path) < 1:
        raise TemplateError(
            f"cannot read template {{{{{expr}}}}}: expected {{{{ item.<field> }}}}, "
            "{{ item.list[0] }} or {{ sample.output_text }}"
        )
    if path[0] not in NAMESPACES:
        raise TemplateError(
            f"unknown namespace {path[0]!r} in {{{{ {text} }}}}: use item or sample",
            path=path,
        )
    return path


def template_fields(text: str) -> set[FieldPath]:
    """Every path a template refers to, namespace first: {("item", "ticket"), ...}.

    Raises TemplateError for a placeholder that is not a plain dotted path, or
    whose namespace is neither `item` nor `sample`.
    """
    return {_parse_expr(match.group("expr")) for match in _PLACEHOLDER.finditer(text)}


def resolve(context: Mapping[str, Any], path: FieldPath) -> Any:
    """The value at `path` in `context`; raises TemplateError naming the path if absent.

    Dict keys are looked up by name, list elements by decimal index.
    """
    value: Any = context
    for depth, segment in enumerate(path):
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            where = format_path(path[: depth + 1])
            if value is None and depth > 0:
                reason = f"{format_path(path[:depth])} is null"
            elif depth > 0 and not isinstance(value, Mapping | list):
                reason = f"{format_path(path[:depth])} is not an object"
            else:
                reason = "missing"
            raise TemplateError(f"{where}: {reason}", path=path, reason=reason)
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Substitute every `{{ path }}` in `text` with its value from `context`.

    `context` maps namespaces to data, e.g. {"item": {...}, "sample": {...}}.
    Raises TemplateError for an unreadable placeholder or a missing path.
    """

    def substitute(match: re.Match[str]) -> str:
        return _to_text(resolve(context, _parse_expr(match.group("expr"))))

    return _PLACEHOLDER.sub(substitute, text)
