"""Function tools in the fake OpenAI server, in both API shapes, as the real API has them.

Chat Completions takes `tools: [{type: function, function: {name, description,
parameters}}]` and `tool_choice: "auto"|"none"|"required"|{type: function, function:
{name}}`, and answers calls as `message.tool_calls` (content null, finish_reason
`tool_calls`, arguments a JSON string). The Responses API takes `tools: [{type:
function, name, parameters}]`, `tool_choice` `{type: function, name}`, and answers
`function_call` output items (`call_id`, `name`, `arguments`). A tool in the other
API's shape is refused with the 400 the real API gives (the missing field named).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.fakes.openai_wire import ApiError, invalid_value, missing, new_id

CHOICES = ("none", "auto", "required")


def tool_names(endpoint: str, params: Mapping[str, Any]) -> list[str]:
    """Check `tools` and `tool_choice` for `endpoint` ("chat" or "responses"); the names."""
    tools = params.get("tools")
    if tools is None:
        if params.get("tool_choice") not in (None, "none", "auto"):
            raise ApiError(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                "'tools' are specified.",
                param="tool_choice",
            )
        return []
    if not isinstance(tools, list):
        raise ApiError(400, "Invalid type for 'tools': expected an array.", param="tools")
    names: list[str] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping) or tool.get("type") is None:
            raise missing(f"{where}.type")
        if tool["type"] != "function":
            raise invalid_value(f"{where}.type", tool["type"], ("function",))
        spec = tool.get("function") if endpoint == "chat" else tool
        if endpoint == "chat" and not isinstance(spec, Mapping):
            raise missing(f"{where}.function")
        assert isinstance(spec, Mapping)
        name_where = f"{where}.function.name" if endpoint == "chat" else f"{where}.name"
        if not isinstance(spec.get("name"), str) or not spec["name"]:
            raise missing(name_where)
        names.append(str(spec["name"]))
    _check_choice(endpoint, params.get("tool_choice"), names)
    return names


def _check_choice(endpoint: str, choice: Any, names: list[str]) -> None:
    if choice is None or choice in CHOICES:
        return
    if isinstance(choice, str):
        raise invalid_value("tool_choice", choice, CHOICES)
    if not isinstance(choice, Mapping) or choice.get("type") != "function":
        raise ApiError(400, "Invalid value for 'tool_choice'.", param="tool_choice")
    inner = choice.get("function") if endpoint == "chat" else choice
    name = inner.get("name") if isinstance(inner, Mapping) else None
    if name is None:
        raise missing("tool_choice.function.name" if endpoint == "chat" else "tool_choice.name")
    if name not in names:
        raise ApiError(
            400,
            f"Invalid value for 'tool_choice': no function named '{name}' was specified "
            "in the 'tools' parameter.",
            param="tool_choice",
        )


def planned_calls(reply: Mapping[str, Any], names: list[str]) -> list[dict[str, str]]:
    """The responder's `tool_calls` ([{name, arguments}]) checked against the tools sent."""
    calls = []
    for call in reply.get("tool_calls") or []:
        name = str(call["name"])
        if name not in names:
            # The real model cannot call a function it was not given.
            raise ApiError(500, f"fake responder called unknown tool {name!r}", type="server_error")
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append({"name": name, "arguments": text, "call_id": new_id("call")})
    return calls


def chat_tool_calls(calls: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Chat Completions' `message.tool_calls`."""
    return [
        {
            "id": c["call_id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in calls
    ]


def responses_function_calls(calls: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The Responses API's `function_call` output items."""
    return [
        {
            "type": "function_call",
            "id": new_id("fc"),
            "call_id": c["call_id"],
            "name": c["name"],
            "arguments": c["arguments"],
            "status": "completed",
        }
        for c in calls
    ]
