"""An OpenAI Evals API eval object (and one of its runs) as a suite.

The eval's `testing_criteria` are graders in OpenAI's schema already: they become
`graders:` as they are. A run's `data_source` gives the input (`input_messages.template`,
whose `input_text` parts become text), the `sampling_params` and the items
(`source.file_content`); `--data` gives the items instead.
"""

from __future__ import annotations

from typing import Any

from commands.importers.common import Draft, ImportRefused, slug

__all__ = ["from_openai_eval", "looks_like_openai_eval"]

_SAMPLING = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "max_completion_tokens": "max_completion_tokens",
    "max_completions_tokens": "max_completion_tokens",
    "reasoning_effort": "reasoning_effort",
}


def looks_like_openai_eval(doc: Any) -> bool:
    return isinstance(doc, dict) and "testing_criteria" in doc


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return str(content["text"])
    if isinstance(content, list):
        return "\n".join(_text(part) for part in content)
    raise ImportRefused(f"a message content of {type(content).__name__} is not text")


def _items(rows: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise ImportRefused(f"{where} is not a list of items")
    items = []
    for row in rows:
        item = row.get("item", row) if isinstance(row, dict) else None
        if not isinstance(item, dict):
            raise ImportRefused(f"{where} has an entry that is not an object")
        items.append(item)
    return items


def from_openai_eval(
    doc: dict[str, Any], run: dict[str, Any] | None, data: list[dict[str, Any]] | None
) -> Draft:
    """A draft suite from the eval object `doc`, its `run`, and/or `data` items."""
    name = slug(str(doc.get("name") or doc.get("id") or "openai-eval"))
    criteria = doc.get("testing_criteria")
    if not isinstance(criteria, list) or not criteria:
        raise ImportRefused("the eval has no testing_criteria")
    draft = Draft(name=name, input=[], items=[])
    draft.say(f"eval {doc.get('name') or doc.get('id')!r} -> suite {name}")
    config = doc.get("data_source_config") or {}
    if config.get("type") == "custom" and config.get("item_schema"):
        fields = ", ".join(sorted((config["item_schema"].get("properties") or {}).keys()))
        draft.say(f"data_source_config custom item_schema ({fields}) -> items checked at load")
    for index, grader in enumerate(criteria):
        if not isinstance(grader, dict):
            raise ImportRefused(f"testing_criteria[{index}] is not a grader object")
        grader = dict(grader)
        grader.pop("id", None)  # the API's id of the criterion, not part of the schema
        draft.graders.append(grader)
        draft.say(
            f"testing_criteria[{index}] {grader.get('type')} {grader.get('name')!r} -> "
            f"graders[{index}] as is"
        )
    source = (run or {}).get("data_source") or {}
    if run is not None:
        messages = (source.get("input_messages") or {}).get("template")
        if not isinstance(messages, list) or not messages:
            raise ImportRefused("the run's data_source has no input_messages template")
        for message in messages:
            role = str(message.get("role", "user"))
            draft.input.append({"role": role, "content": _text(message.get("content"))})
        draft.say(f"run input_messages.template ({len(messages)} messages) -> input")
        params = source.get("sampling_params") or {}
        for key, value in params.items():
            target = _SAMPLING.get(key)
            if target is None:
                draft.say(f"run sampling_params.{key} -> not carried over (no such setting)")
            else:
                draft.sampling[target] = value
        if params:
            draft.say(f"run sampling_params -> sampling ({', '.join(draft.sampling)})")
        if source.get("model"):
            draft.say(
                f"run model {source['model']!r} -> not part of a suite: "
                f"/eval run {name} {source['model']}"
            )
    if data is not None:
        draft.items = _items(data, "--data")
        draft.say(f"--data ({len(draft.items)} items) -> eval.jsonl")
    else:
        file_source = source.get("source") or {}
        if file_source.get("type") == "file_content":
            draft.items = _items(file_source.get("content"), "the run's file_content")
            draft.say(f"run source file_content ({len(draft.items)} items) -> eval.jsonl")
        elif file_source.get("type") == "file_id":
            raise ImportRefused(
                f"the run's items are in file {file_source.get('id')!r} on OpenAI, which "
                "evalbot cannot download: give them with --data items.jsonl"
            )
        else:
            raise ImportRefused("no items: give --run with file_content, or --data items.jsonl")
    if not draft.input:
        raise ImportRefused("no input messages: give --run <run.json> with input_messages")
    return draft
