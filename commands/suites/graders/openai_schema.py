"""A suite's grader as OpenAI's fine-tuning API takes it (the reinforcement method's
`grader`), and why not when it cannot be.

A pure function of the spec: evalbot's own keys are stripped (`pass_threshold`, which
the fine-tuning schema does not have; `model` of cosine; a python grader's `timeout`
and `memory_mb`), a `source_file` becomes the inline `source` the API needs, a missing
`name` is filled in (a multi's sub-graders take their key), and sampling parameters
get OpenAI's spelling `max_completions_tokens`. label_model and the cosine metric are
refused with the reason, before anything is uploaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["RftGraderRefused", "suite_rft_grader", "to_rft_grader"]

# The keys OpenAI's fine-tuning grader schema has, per type (besides `type`).
_KEYS: Mapping[str, tuple[str, ...]] = {
    "string_check": ("name", "input", "reference", "operation"),
    "text_similarity": ("name", "input", "reference", "evaluation_metric"),
    "score_model": ("name", "input", "model", "range", "sampling_params"),
    "python": ("name", "source", "image_tag"),
    "multi": ("name", "graders", "calculate_output"),
}


class RftGraderRefused(Exception):
    """The grader cannot be sent to an RFT job; the message says why and what to do."""


def _refuse(where: str, spec: Mapping[str, Any]) -> None:
    kind = spec.get("type")
    if kind == "label_model":
        raise RftGraderRefused(
            f"{where} is a label_model grader, which OpenAI's reinforcement fine-tuning "
            "does not take (it takes string_check, text_similarity, python, score_model "
            "and multi). Grade with a score_model that scores 1 for a passing label."
        )
    if kind == "text_similarity" and spec.get("evaluation_metric") == "cosine":
        raise RftGraderRefused(
            f"{where} uses the cosine metric, which OpenAI's reinforcement fine-tuning "
            "does not compute. Use fuzzy_match, bleu, gleu, meteor or rouge_* instead."
        )
    if kind not in _KEYS:
        raise RftGraderRefused(f"{where} has type {kind!r}, which no RFT grader has.")


def _convert(
    spec: Mapping[str, Any], where: str, name: str, read_source: Callable[[str], str]
) -> dict[str, Any]:
    _refuse(where, spec)
    kind = str(spec["type"])
    out: dict[str, Any] = {"type": kind, "name": str(spec.get("name") or name)}
    for key in _KEYS[kind]:
        if key in spec and key != "name":
            out[key] = spec[key]
    if kind == "python" and "source" not in spec and "source_file" in spec:
        out["source"] = read_source(str(spec["source_file"]))
    if kind == "score_model" and isinstance(spec.get("sampling_params"), Mapping):
        params = dict(spec["sampling_params"])
        if "max_completion_tokens" in params:
            params["max_completions_tokens"] = params.pop("max_completion_tokens")
        out["sampling_params"] = params
    if kind == "multi":
        subs = spec.get("graders") or {}
        for key, sub in subs.items():
            if isinstance(sub, Mapping) and sub.get("type") == "multi":
                raise RftGraderRefused(
                    f"{where}.graders.{key} is a multi grader inside a multi grader, "
                    "which OpenAI does not allow."
                )
        out["graders"] = {
            str(key): _convert(sub, f"{where}.graders.{key}", str(key), read_source)
            for key, sub in subs.items()
        }
    return out


def to_rft_grader(
    spec: Mapping[str, Any], *, read_source: Callable[[str], str], name: str = "grader"
) -> dict[str, Any]:
    """`spec` (a suite's grader, OpenAI's schema plus evalbot's keys) as the fine-tuning
    API's `method.reinforcement.grader`; raises RftGraderRefused saying why not.

    `read_source` reads a python grader's `source_file` from the suite folder.
    """
    return _convert(spec, "the suite's grader", name, read_source)


def suite_rft_grader(spec: Mapping[str, Any], *, folder: Path, name: str) -> dict[str, Any]:
    """`to_rft_grader` for a suite in `folder`, reading python sources from it."""
    root = folder.resolve()

    def read_source(file: str) -> str:
        path = (root / file).resolve()
        if not path.is_relative_to(root):  # the loader refuses this already; be sure
            raise RftGraderRefused(f"{file} is outside the suite folder")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RftGraderRefused(f"cannot read {file}: {exc}") from exc

    return to_rft_grader(spec, read_source=read_source, name=name)
