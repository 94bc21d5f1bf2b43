"""A suite's `tools:` and `tool_choice:`, checked at load time.

Written as the Responses API takes them (`{type: function, name, description,
parameters, strict}`; tool_choice `auto`, `none`, `required` or `{type: function,
name}`). Chat Completions' shape (`{type: function, function: {...}}`) is accepted
too and normalised, so definitions can be pasted from either API. The gateway turns
them into whichever shape the provider speaks.
"""

from __future__ import annotations

import re
from typing import Any

from commands.suites.graders.spec import SpecContext

__all__ = ["check_tool_choice", "check_tools", "shown_output", "tool_params"]

_FUNCTION_KEYS = ("type", "name", "description", "parameters", "strict")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for function names
CHOICES = ("auto", "none", "required")


def _normalise(tool: dict[str, Any]) -> dict[str, Any]:
    inner = tool.get("function")
    if tool.get("type") == "function" and isinstance(inner, dict):
        return {"type": "function", **inner}
    return dict(tool)


def check_tools(value: Any, where: str, ctx: SpecContext) -> list[dict[str, Any]] | None:
    """The function tools, in the Responses API's shape; None (errors in ctx) if invalid."""
    if not isinstance(value, list) or not value:
        ctx.error(where, "must be a non-empty list of function definitions")
        return None
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(raw, dict):
            ctx.error(here, "must be a mapping {type: function, name, parameters, ...}")
            continue
        tool = _normalise(raw)
        if tool.get("type") != "function":
            ctx.error(f"{here}.type", "only function tools can be given (type: function)")
            continue
        ctx.check_keys(tool, here, _FUNCTION_KEYS, "a function tool")
        name = tool.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            ctx.error(f"{here}.name", "must be 1-64 letters, digits, _ or -")
            continue
        if name in seen:
            ctx.error(f"{here}.name", f"{name!r} is defined twice")
            continue
        seen.add(name)
        parameters = tool.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            ctx.error(f"{here}.parameters", "must be a JSON schema object")
            continue
        if "description" in tool and not isinstance(tool["description"], str):
            ctx.error(f"{here}.description", "must be a string")
            continue
        if "strict" in tool and not isinstance(tool["strict"], bool):
            ctx.error(f"{here}.strict", "must be true or false")
            continue
        out.append({**tool, "parameters": parameters})
    return out if len(out) == len(value) else None


def check_tool_choice(
    value: Any, tools: list[dict[str, Any]] | None, where: str, ctx: SpecContext
) -> Any:
    """auto/none/required, or {type: function, name} naming one of the tools."""
    if not tools:
        ctx.error(where, "needs tools: to choose from")
        return None
    if isinstance(value, str):
        if value in CHOICES:
            return value
        ctx.error(where, f"must be one of {', '.join(CHOICES)} or {{type: function, name}}")
        return None
    if isinstance(value, dict):
        chosen = _normalise(value)
        name = chosen.get("name")
        names = [t["name"] for t in tools]
        if chosen.get("type") == "function" and isinstance(name, str):
            if name in names:
                return {"type": "function", "name": name}
            ctx.error(f"{where}.name", f"{name!r} is not one of the tools ({', '.join(names)})")
            return None
    ctx.error(where, f"must be one of {', '.join(CHOICES)} or {{type: function, name}}")
    return None


def tool_params(tools: list[dict[str, Any]], tool_choice: Any = None) -> dict[str, Any]:
    """The request parameters that give the model a suite's tools (none without)."""
    if not tools:
        return {}
    params: dict[str, Any] = {"tools": tools}
    if tool_choice is not None:
        params["tool_choice"] = tool_choice
    return params


def shown_output(text: str, tool_calls: list[dict[str, Any]]) -> str:
    """What is stored and shown of an answer: its text, then one line per tool call."""
    lines = [text] if text else []
    for call in tool_calls:
        function = call.get("function") or {}
        lines.append(f"-> {function.get('name', '?')}({function.get('arguments', '')})")
    return "\n".join(lines)
