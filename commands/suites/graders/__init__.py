"""Local implementations of the OpenAI grader schema.

grader = compile_grader(spec, folder=suite_folder, where="grader")
grade = await grader.grade(item, Sample("billing"), models)
passed = grade.score >= suite.pass_threshold
"""

from __future__ import annotations

from commands.suites.graders.base import Grade, GradeError, Grader, Sample, SuiteError
from commands.suites.graders.compile import GRADER_TYPES, build_grader, compile_grader
from commands.suites.graders.python_grader import PythonGrader
from commands.suites.graders.spec import MessageTemplate, SpecContext

__all__ = [
    "GRADER_TYPES",
    "Grade",
    "GradeError",
    "Grader",
    "MessageTemplate",
    "PythonGrader",
    "Sample",
    "SpecContext",
    "SuiteError",
    "build_grader",
    "close_grader",
    "compile_grader",
]


async def close_grader(grader: Grader) -> None:
    """Release what a grader holds (python graders' worker processes), if anything."""
    close = getattr(grader, "aclose", None)
    if close is not None:
        await close()
    for sub in getattr(grader, "graders", {}).values():
        await close_grader(sub)
