"""OpenAI's fine-tuning rows (what /finetune builds and validates) as TRL's dataset rows.

The bot validates and sends the rows in OpenAI's format, the one users know and one data
path serves both backends; the cluster turns them into what each TRL trainer reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from bot.training.spec import Method

# Keys of an RFT row that are not the item's own fields (commands.finetune.data).
RFT_RESERVED = ("messages", "tools")
ITEM_COLUMN = "evalbot_item"


def _text(content: Any) -> str:
    """A message's content as text: OpenAI allows a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return "" if content is None else str(content)


def _message(raw: Mapping[str, Any]) -> dict[str, str]:
    # Chat templates read role and content; OpenAI's `weight` and `name` mean nothing to them.
    return {"role": str(raw.get("role", "user")), "content": _text(raw.get("content"))}


def _messages(raw: Any) -> list[dict[str, str]]:
    return [_message(m) for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []


def sft_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"messages": _messages(row.get("messages"))}


def dpo_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's `input`/`preferred_output`/`non_preferred_output` as TRL's conversational
    prompt/chosen/rejected."""
    source = row.get("input")
    prompt = _messages(source.get("messages") if isinstance(source, Mapping) else None)
    return {
        "prompt": prompt,
        "chosen": _messages(row.get("preferred_output")),
        "rejected": _messages(row.get("non_preferred_output")),
    }


def rft_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The prompt, and the item (every other field) as JSON for the grader.

    One JSON column keeps items of any shape in an Arrow table whose columns must agree.
    """
    item = {k: v for k, v in row.items() if k not in RFT_RESERVED}
    return {"prompt": _messages(row.get("messages")), ITEM_COLUMN: json.dumps(item)}


CONVERT = {"sft": sft_row, "dpo": dpo_row, "rft": rft_row}


def convert(method: Method, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every row in TRL's shape for `method`."""
    to_trl = CONVERT[method]
    return [to_trl(row) for row in rows]


def read_jsonl(text: str) -> list[dict[str, Any]]:
    """The objects of a JSONL text (the bot validated it before sending)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
