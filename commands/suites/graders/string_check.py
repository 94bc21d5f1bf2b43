"""string_check: compare the rendered `input` with the rendered `reference`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from commands.ports import Models
from commands.suites.graders.base import Grade, Sample, render_pair, shorten
from commands.suites.graders.spec import SpecContext

__all__ = ["OPERATIONS", "StringCheckGrader", "build_string_check"]

# As in OpenAI's grader: `like` is a case-sensitive substring test (the reference
# occurs in the input), `ilike` the same ignoring case. No wildcards.
OPERATIONS: Mapping[str, Callable[[str, str], bool]] = {
    "eq": lambda text, ref: text == ref,
    "ne": lambda text, ref: text != ref,
    "like": lambda text, ref: ref in text,
    "ilike": lambda text, ref: ref.casefold() in text.casefold(),
}

KEYS = ("type", "name", "input", "reference", "operation")


@dataclass(frozen=True)
class StringCheckGrader:
    """Scores 1 when `operation(input, reference)` holds, else 0."""

    name: str
    input: str
    reference: str
    operation: str

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Render both templates and compare them."""
        text, reference = render_pair(self.name, self.input, self.reference, item, sample)
        if OPERATIONS[self.operation](text, reference):
            return Grade(1.0)
        return Grade(
            0.0,
            detail=f"{self.operation} failed: got {shorten(text)!r}, reference "
            f"{shorten(reference)!r}",
        )


def build_string_check(
    spec: Mapping[str, Any], where: str, ctx: SpecContext
) -> StringCheckGrader | None:
    """Check a string_check spec; None (with errors recorded in ctx) when it is invalid."""
    ctx.check_keys(spec, where, KEYS, "a string_check grader")
    text = ctx.template(spec, "input", where)
    reference = ctx.template(spec, "reference", where)
    operation = ctx.choice(spec, "operation", where, list(OPERATIONS), "operation")
    if text is None or reference is None or operation is None:
        return None
    return StringCheckGrader(str(spec.get("name", "string_check")), text, reference, operation)
