"""score_model and label_model: a model reads the rendered `input` and judges.

OpenAI enforces the judge's answer format with structured outputs; through the
`Models` port we cannot, so each grader appends one short system message saying
what to answer, and parses leniently: a bare number or label, or a JSON object
({"result": ...}, also "score" or "label"), optionally inside a ```json fence.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commands.ports import Message, Models
from commands.suites.graders.base import (
    Grade,
    GradeError,
    Sample,
    parse_output_json,
    shorten,
    template_context,
)
from commands.suites.graders.spec import MessageTemplate, SpecContext, did_you_mean
from commands.suites.templates import TemplateError, render

__all__ = [
    "LabelModelGrader",
    "ScoreModelGrader",
    "build_label_model",
    "build_score_model",
    "parse_score",
]

SCORE_KEYS = ("type", "name", "input", "model", "range", "sampling_params", "pass_threshold")
LABEL_KEYS = ("type", "name", "input", "model", "labels", "passing_labels")
# OpenAI's sampling_params key -> the chat-completions parameter we pass on.
# Note OpenAI's spelling `max_completions_tokens`; the correct one is accepted too.
SAMPLING_PARAMS: Mapping[str, str] = {
    "max_completions_tokens": "max_completion_tokens",
    "max_completion_tokens": "max_completion_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "reasoning_effort": "reasoning_effort",
}
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_TRAILING_OBJECT = re.compile(r"\{[^{}]*\}\s*$")


def _render_messages(
    name: str, messages: Sequence[MessageTemplate], item: dict[str, Any], sample: Sample
) -> list[Message]:
    context = template_context(item, sample)
    try:
        out: list[Message] = []
        for m in messages:
            text = render(m.content, context)
            if not m.images:
                out.append({"role": m.role, "content": text})
                continue
            # Images go as Chat Completions content parts (the gateway maps them).
            parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            parts += [
                {"type": "image_url", "image_url": {"url": render(url, context)}}
                for url in m.images
            ]
            out.append({"role": m.role, "content": parts})
        return out
    except TemplateError as exc:
        raise GradeError(f"grader {name!r}: {exc.message}") from exc


async def _ask(models: Models, model: str, messages: list[Message], params: dict[str, Any]) -> str:
    # A ProviderError propagates as it is: the caller knows how to report its kind.
    completion = await models.complete(model, messages, params)
    return completion.text


def _json_value(reply: str, keys: Sequence[str]) -> Any:
    """The value under the first of `keys` in a JSON object in the reply, else None."""
    parsed = parse_output_json(reply)
    if parsed is None:
        trailing = _TRAILING_OBJECT.search(reply)
        if trailing:
            try:
                parsed = json.loads(trailing.group(0))
            except ValueError:
                parsed = None
    if isinstance(parsed, dict):
        for key in keys:
            if key in parsed:
                return parsed[key]
    return None


def parse_score(reply: str) -> float | None:
    """A number from a judge's reply: "7", "7.5", {"result": 7} or {"score": 7}; else None."""
    text = reply.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    value = _json_value(text, ("result", "score"))
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True)
class ScoreModelGrader:
    """A model scores the sample within `range`; the score is rescaled to [0, 1]."""

    name: str
    model: str
    input: tuple[MessageTemplate, ...]
    low: float = 0.0
    high: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    pass_threshold: float | None = None  # in the range's units, as OpenAI's schema has it

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Ask the judge, parse its number and normalise it."""
        messages = _render_messages(self.name, self.input, item, sample)
        messages.append(
            {
                "role": "system",
                "content": f"Reply with only a number from {self.low:g} to {self.high:g}, "
                'or JSON {"result": <number>}.',
            }
        )
        reply = await _ask(models, self.model, messages, dict(self.params))
        raw = parse_score(reply)
        # A judgement is a verdict, never an error (OpenAI's rules): no number scores
        # the bottom of the range, a number outside the range is clipped into it.
        if raw is None or math.isnan(raw):
            return Grade(
                0.0, detail=f"no score in the judge's reply {shorten(reply)!r}", raw=self.low
            )
        clipped = min(self.high, max(self.low, raw))
        detail = f"judge scored {raw:g}"
        if clipped != raw:
            detail += f", clipped to {clipped:g}"
        score = (clipped - self.low) / (self.high - self.low)
        return Grade(score, detail=detail, raw=clipped)


@dataclass(frozen=True)
class LabelModelGrader:
    """A model labels the sample; 1 when the label is a passing one, else 0."""

    name: str
    model: str
    input: tuple[MessageTemplate, ...]
    labels: tuple[str, ...]
    passing_labels: frozenset[str]

    def parse_label(self, reply: str) -> str | None:
        """The label in a reply: exact, or ignoring case, quotes and a final full stop."""
        value = _json_value(reply, ("result", "label"))
        text = value if isinstance(value, str) else reply
        text = text.strip().strip("\"'`*").rstrip(".").strip()
        if text in self.labels:
            return text
        folded = {label.casefold(): label for label in self.labels}
        return folded.get(text.casefold())

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Ask the judge for a label and check it against passing_labels."""
        messages = _render_messages(self.name, self.input, item, sample)
        messages.append(
            {
                "role": "system",
                "content": "Reply with exactly one of these labels and nothing else: "
                + ", ".join(self.labels),
            }
        )
        reply = await _ask(models, self.model, messages, {})
        label = self.parse_label(reply)
        if label is None:  # a verdict, not an error: an unlabelled answer does not pass
            return Grade(
                0.0,
                detail=f"the reply {shorten(reply)!r} is not one of the labels "
                f"{', '.join(self.labels)}",
            )
        return Grade(1.0 if label in self.passing_labels else 0.0, detail=f"label {label}")


def _string_list(
    ctx: SpecContext, spec: Mapping[str, Any], key: str, where: str
) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        ctx.error(f"{where}.{key}", "missing")
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        ctx.error(f"{where}.{key}", "must be a non-empty list of strings")
        return None
    return [str(v) for v in value]


def _range(ctx: SpecContext, spec: Mapping[str, Any], where: str) -> tuple[float, float] | None:
    value = spec.get("range", [0, 1])
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
        or not value[0] < value[1]
    ):
        ctx.error(f"{where}.range", f"must be [low, high] with low < high, not {value!r}")
        return None
    return float(value[0]), float(value[1])


def _sampling(ctx: SpecContext, spec: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    value = spec.get("sampling_params", {})
    if not isinstance(value, dict):
        ctx.error(f"{where}.sampling_params", "must be a mapping")
        return None
    params: dict[str, Any] = {}
    for key, setting in value.items():
        target = SAMPLING_PARAMS.get(str(key))
        if target is None:
            ctx.error(
                f"{where}.sampling_params.{key}",
                f"unknown sampling parameter{did_you_mean(str(key), list(SAMPLING_PARAMS))}; "
                f"expected one of {', '.join(SAMPLING_PARAMS)}",
            )
            return None
        params[target] = setting
    return params


def build_score_model(
    spec: Mapping[str, Any], where: str, ctx: SpecContext
) -> ScoreModelGrader | None:
    """Check a score_model spec; None (with errors recorded in ctx) when it is invalid."""
    ctx.check_keys(spec, where, SCORE_KEYS, "a score_model grader")
    messages = ctx.messages(spec.get("input"), f"{where}.input")
    model = ctx.string(spec, "model", where)
    bounds = _range(ctx, spec, where)
    params = _sampling(ctx, spec, where)
    threshold = ctx.optional_number(spec, "pass_threshold", where)
    if messages is None or model is None or bounds is None or params is None:
        return None
    name = str(spec.get("name", "score_model"))
    return ScoreModelGrader(name, model, tuple(messages), bounds[0], bounds[1], params, threshold)


def build_label_model(
    spec: Mapping[str, Any], where: str, ctx: SpecContext
) -> LabelModelGrader | None:
    """Check a label_model spec; None (with errors recorded in ctx) when it is invalid."""
    ctx.check_keys(spec, where, LABEL_KEYS, "a label_model grader")
    messages = ctx.messages(spec.get("input"), f"{where}.input")
    model = ctx.string(spec, "model", where)
    labels = _string_list(ctx, spec, "labels", where)
    passing = _string_list(ctx, spec, "passing_labels", where)
    if labels is not None and passing is not None:
        strays = [p for p in passing if p not in labels]
        if strays:
            ctx.error(
                f"{where}.passing_labels",
                f"{', '.join(map(repr, strays))} not in labels ({', '.join(labels)})",
            )
            return None
    if messages is None or model is None or labels is None or passing is None:
        return None
    name = str(spec.get("name", "label_model"))
    return LabelModelGrader(name, model, tuple(messages), tuple(labels), frozenset(passing))
