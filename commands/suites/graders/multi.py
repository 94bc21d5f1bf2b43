"""multi: several named graders combined by an arithmetic `calculate_output`.

Each sub-grader's score is already in [0, 1] (score_model's is rescaled from its
range) before the formula sees it; the formula's result must be in [0, 1] too.
"""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commands.ports import Models
from commands.suites.graders.arithmetic import Formula, FormulaError, parse_formula
from commands.suites.graders.base import Grade, GradeError, Grader, Sample
from commands.suites.graders.spec import SpecContext

__all__ = ["MultiGrader", "build_multi"]

KEYS = ("type", "name", "graders", "calculate_output")


@dataclass(frozen=True)
class MultiGrader:
    """Runs its graders concurrently and combines their scores."""

    name: str
    graders: Mapping[str, Grader]
    formula: Formula

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Grade with every sub-grader the formula uses, then evaluate the formula."""
        names = [name for name in self.graders if name in self.formula.names]
        results = await asyncio.gather(
            *(self.graders[name].grade(item, sample, models) for name in names),
            return_exceptions=True,
        )
        scores: dict[str, float] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, GradeError):
                raise GradeError(f"grader {name!r}: {result.message}") from result
            if isinstance(result, BaseException):
                raise result
            scores[name] = result.score
        try:
            score = self.formula.evaluate(scores)
        except FormulaError as exc:
            raise GradeError(f"grader {self.name!r}: calculate_output failed: {exc}") from exc
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise GradeError(
                f"grader {self.name!r}: calculate_output gave {score:g}, outside [0, 1]"
            )
        detail = ", ".join(f"{name} {value:.3g}" for name, value in scores.items())
        return Grade(score, detail=detail, sub_scores=scores)


_WORD = re.compile(r"[^\W\d]\w*")


def _name_problem(name: Any) -> str | None:
    """Why `name` cannot be used in a formula, or None.

    A name must read the same in every Unicode normal form: a decomposed accent or a
    ligature (`ﬁ`) would look right in the YAML and never match in the formula.
    """
    if isinstance(name, str) and unicodedata.normalize("NFKC", name) != name:
        plain = unicodedata.normalize("NFKC", name)
        return (
            f"write the name as {plain!r}: ligatures and accents typed as two characters "
            "cannot be matched in the formula"
        )
    if not isinstance(name, str) or not _WORD.fullmatch(name):
        return "a grader name must be a word (letters, digits, _) to use in a formula"
    return None


def build_multi(spec: Mapping[str, Any], where: str, ctx: SpecContext) -> MultiGrader | None:
    """Check a multi spec and its sub-graders; None (errors in ctx) when invalid."""
    ctx.check_keys(spec, where, KEYS, "a multi grader")
    specs = spec.get("graders")
    if not isinstance(specs, dict) or not specs:
        ctx.error(f"{where}.graders", "must be a mapping of name: grader")
        specs = {}
    graders: dict[str, Grader] = {}
    complete = bool(specs)
    for name, sub in specs.items():
        here = f"{where}.graders.{name}"
        problem = _name_problem(name)
        if problem:
            ctx.error(here, problem)
            complete = False
            continue
        if isinstance(sub, dict) and sub.get("type") == "multi":
            ctx.error(f"{here}.type", "a multi grader may not contain another multi grader")
            complete = False
            continue
        assert ctx.build_nested is not None
        ctx.in_multi = True
        try:
            built = ctx.build_nested(sub, here, ctx)
        finally:
            ctx.in_multi = False
        if built is None:
            complete = False
        else:
            graders[name] = built
    text = ctx.string(spec, "calculate_output", where)
    formula: Formula | None = None
    if text is not None:
        try:
            formula = parse_formula(text, {str(name) for name in specs})
        except FormulaError as exc:
            ctx.error(f"{where}.calculate_output", str(exc))
    if formula is None or not complete:
        return None
    return MultiGrader(str(spec.get("name", "multi")), graders, formula)
