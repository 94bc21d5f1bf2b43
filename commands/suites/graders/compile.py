"""From a grader spec in OpenAI's schema to a `Grader`: one table of grader types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from commands.suites.graders.base import Grader, SuiteError
from commands.suites.graders.model_graders import build_label_model, build_score_model
from commands.suites.graders.multi import build_multi
from commands.suites.graders.python_grader import build_python
from commands.suites.graders.spec import SpecContext, did_you_mean
from commands.suites.graders.string_check import build_string_check
from commands.suites.graders.text_similarity import build_text_similarity

__all__ = ["GRADER_TYPES", "build_grader", "compile_grader"]

Builder = Callable[[Mapping[str, Any], str, SpecContext], Grader | None]

GRADER_TYPES: Mapping[str, Builder] = {
    "string_check": build_string_check,
    "text_similarity": build_text_similarity,
    "score_model": build_score_model,
    "label_model": build_label_model,
    "python": build_python,
    "multi": build_multi,
}


def build_grader(spec: Any, where: str, ctx: SpecContext) -> Grader | None:
    """Check `spec` and build its grader, recording every problem in `ctx.errors`.

    Returns None when the spec has errors. `where` is the spec's field path, e.g.
    "grader" or "grader.graders.accuracy", used in error messages.
    """
    if ctx.build_nested is None:
        ctx.build_nested = build_grader
    if not isinstance(spec, dict):
        ctx.error(where, "must be a mapping with a `type` (string_check, text_similarity, ...)")
        return None
    kind = spec.get("type")
    if kind is None:
        ctx.error(f"{where}.type", f"missing; expected one of {', '.join(GRADER_TYPES)}")
        return None
    builder = GRADER_TYPES.get(str(kind))
    if builder is None:
        ctx.error(
            f"{where}.type",
            f"unknown grader type {kind!r}{did_you_mean(str(kind), list(GRADER_TYPES))}; "
            f"expected one of {', '.join(GRADER_TYPES)}",
        )
        return None
    name = spec.get("name", kind)
    if not isinstance(name, str) or not name.strip():
        ctx.error(f"{where}.name", f"must be a non-empty string, not {name!r}")
        return None
    return builder(spec, where, ctx)


def compile_grader(spec: dict[str, Any], *, folder: Path, where: str = "grader") -> Grader:
    """Build the grader for `spec`; raises the first SuiteError found in it.

    `folder` is the suite folder (python graders' `source_file` must be inside it);
    errors name `folder/suite.yaml` and the field under `where`.
    """
    ctx = SpecContext(folder=folder, file=folder / "suite.yaml")
    grader = build_grader(spec, where, ctx)
    if ctx.errors:
        raise ctx.errors[0]
    if grader is None:  # pragma: no cover - a builder returned None without an error
        raise SuiteError(ctx.file, "invalid grader", field=where)
    return grader
