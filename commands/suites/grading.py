"""Grading one sample against a suite's criteria: the rule that turns grades into a verdict.

A suite has one or more criteria (`grader:` is one, `graders:` a list, as OpenAI's
`testing_criteria`). Each criterion passes when its score reaches its pass mark: the
grader's own `pass_threshold` (in the grader's own units: a score_model's range, a
python grader's return value) or else the suite's `pass_threshold` on the [0, 1]
score. A sample passes when every criterion passes. A criterion's verdict on an
answer is a score, never an error; the sample is `errored` only when it could not be
graded at all (a grader that could not start, a judge the provider never answered).

`grade_sample` is pure apart from the graders it calls: the eval runner uses it, and
so can anything else that needs the suite's verdict on one answer (a reward function).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from commands.ports import Models, ProviderError
from commands.suites.graders import Grade, GradeError, Grader, Sample

__all__ = ["Criterion", "Verdict", "grade_sample"]

Status = Literal["passed", "failed", "errored"]


@dataclass(frozen=True)
class Criterion:
    """One testing criterion: a named grader and its pass mark."""

    name: str
    grader: Grader
    spec: dict[str, Any]  # as written, in OpenAI's grader schema
    pass_threshold: float
    own_threshold: bool = False  # True: compared with the grade in the grader's units

    def passed(self, grade: Grade) -> bool:
        """Whether `grade` reaches this criterion's pass mark."""
        value = grade.value if self.own_threshold else grade.score
        return value >= self.pass_threshold


@dataclass(frozen=True)
class Verdict:
    """What the criteria made of one answer."""

    status: Status
    score: float | None = None  # the mean of the criteria's scores, in [0, 1]
    error: str | None = None
    # {criterion: {"score": float, "passed": bool}}; empty when errored
    criteria: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)


def criterion(
    name: str, grader: Grader, spec: Mapping[str, Any], suite_threshold: float
) -> Criterion:
    """A criterion whose pass mark is the grader's own `pass_threshold`, else the suite's."""
    own = getattr(grader, "pass_threshold", None)
    if isinstance(own, int | float):
        return Criterion(name, grader, dict(spec), float(own), own_threshold=True)
    return Criterion(name, grader, dict(spec), suite_threshold)


async def grade_sample(
    criteria: Sequence[Criterion], item: dict[str, Any], sample: Sample, models: Models
) -> Verdict:
    """Grade one answer with every criterion, one after the other (a sample is one unit
    of concurrency already); the first that cannot grade makes the sample errored."""
    results: dict[str, dict[str, Any]] = {}
    details: dict[str, str] = {}
    for each in criteria:
        try:
            grade = await each.grader.grade(item, sample, models)
        except GradeError as exc:
            prefix = f"{each.name}: " if len(criteria) > 1 else ""
            return Verdict("errored", error=f"grader: {prefix}{exc.message}")
        except ProviderError as exc:
            return Verdict("errored", error=f"grader model: {exc.kind}: {exc.message}")
        results[each.name] = {"score": grade.score, "passed": each.passed(grade)}
        if grade.detail:
            details[each.name] = grade.detail
    score = sum(r["score"] for r in results.values()) / len(results) if results else 0.0
    status: Status = "passed" if all(r["passed"] for r in results.values()) else "failed"
    return Verdict(status, score=score, criteria=results, details=details)
