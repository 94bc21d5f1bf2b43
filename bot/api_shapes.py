"""Tools, tool calls and content parts between OpenAI's two API shapes.

evalbot writes tools as the Responses API takes them (`{type: function, name,
parameters}`) and keeps tool calls as Chat Completions returns them (`{id, type:
function, function: {name, arguments}}`, OpenAI's `sample.output_tools`). A provider
that speaks Chat Completions gets its own tool shape; one that speaks Responses gets
its own content parts; either way the calls come back in one shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from commands.ports import Message

__all__ = ["chat_tool_params", "responses_input", "responses_tool_calls"]


def _chat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or "function" in tool:
        return dict(tool)
    function = {k: v for k, v in tool.items() if k != "type"}
    return {"type": "function", "function": function}


def chat_tool_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with `tools` and a function `tool_choice` in Chat Completions' shape."""
    out = dict(params)
    tools = out.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_chat_tool(t) if isinstance(t, Mapping) else t for t in tools]
    choice = out.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "function" and "name" in choice:
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    return out


def responses_tool_calls(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `function_call` items of a Responses API answer, as Chat Completions calls."""
    calls: list[dict[str, Any]] = []
    for item in data.get("output") or []:
        if isinstance(item, Mapping) and item.get("type") == "function_call":
            calls.append(
                {
                    "id": str(item.get("call_id") or item.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(item.get("name") or ""),
                        "arguments": str(item.get("arguments") or ""),
                    },
                }
            )
    return calls


def _responses_part(part: Any) -> Any:
    if not isinstance(part, Mapping):
        return part
    if part.get("type") == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if part.get("type") == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return {"type": "input_image", "image_url": url}
    return dict(part)


def responses_input(messages: Sequence[Message]) -> list[Message]:
    """Chat messages as Responses input items: content parts renamed, text left as is."""
    out: list[Message] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            message = {**message, "content": [_responses_part(p) for p in content]}
        out.append(message)
    return out
