"""An openai/evals registry YAML (an eval and its `class:` spec) as a suite.

Each sample's `input` (chat messages) becomes the input, by position, as templates over
the item (`{{ item.input[1].content }}`); every sample must have the same roles. The
basic matchers Match, Includes and FuzzyMatch become checks a python grader runs with
the sample's `ideal` answers; a model-graded spec is reported as not carried over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from commands.importers.common import Draft, ImportRefused, checks_grader, slug

__all__ = ["from_evals_registry", "looks_like_evals_registry"]

MATCHERS = {
    "evals.elsuite.basic.match:Match": "match",
    "evals.elsuite.basic.includes:Includes": "includes",
    "evals.elsuite.basic.fuzzy_match:FuzzyMatch": "fuzzy_match",
}


def looks_like_evals_registry(doc: Any) -> bool:
    return isinstance(doc, dict) and any(
        isinstance(v, dict) and ("class" in v or "id" in v) for v in doc.values()
    )


def _spec(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for key, value in doc.items():
        if isinstance(value, dict) and "id" in value and value["id"] in doc:
            return key, doc[value["id"]]
    for key, value in doc.items():
        if isinstance(value, dict) and "class" in value:
            return key, value
    raise ImportRefused("no eval with a `class:` in the registry file")


def from_evals_registry(doc: dict[str, Any], file: Path, data: Path | None) -> Draft:
    """A draft suite from a registry YAML; samples from its samples_jsonl (or `data`)."""
    key, spec = _spec(doc)
    name = slug(key)
    draft = Draft(name=name, input=[], items=[], description=str(doc[key].get("description", "")))
    draft.say(f"registry eval {key!r} -> suite {name}")
    cls = str(spec.get("class", ""))
    args = spec.get("args") or {}
    kind = MATCHERS.get(cls)
    if kind is None:
        what = "model-graded" if "modelgraded" in cls else "this class"
        raise ImportRefused(
            f"{cls} ({what}) -> not carried over: only Match, Includes and FuzzyMatch "
            "become graders here; write a score_model grader for it"
        )
    samples_path = data or (file.parent / str(args.get("samples_jsonl", "")))
    if not samples_path.is_file():
        raise ImportRefused(
            f"samples {samples_path} not found: give them with --data samples.jsonl"
        )
    samples = [json.loads(x) for x in samples_path.read_text("utf-8").splitlines() if x.strip()]
    if not samples:
        raise ImportRefused(f"{samples_path} has no samples")
    roles = None
    for index, sample in enumerate(samples):
        messages = sample.get("input")
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
            sample["input"] = messages
        these = [m.get("role") for m in messages] if isinstance(messages, list) else None
        if these is None or (roles is not None and these != roles):
            raise ImportRefused(
                f"sample {index + 1} has messages {these}, others {roles}: a suite has one "
                "input shape"
            )
        roles = these
        ideal = sample.get("ideal")
        ideals = ideal if isinstance(ideal, list) else [ideal]
        draft.items.append(
            {**sample, "checks": [{"type": kind, "value": [str(i) for i in ideals]}]}
        )
    assert roles is not None
    draft.input = [
        {"role": role, "content": f"{{{{ item.input[{i}].content }}}}"}
        for i, role in enumerate(roles)
    ]
    draft.say(f"samples input ({len(roles)} messages: {', '.join(roles)}) -> input by position")
    draft.say(f"samples ({len(samples)}) -> eval.jsonl, ideal answers kept")
    draft.say(f"class {cls} -> python grader 'checks' ({kind} against ideal)")
    draft.graders.append(checks_grader())
    draft.needs_checks = True
    for extra in sorted(set(args) - {"samples_jsonl"}):
        draft.say(f"args.{extra} -> not carried over")
    return draft
