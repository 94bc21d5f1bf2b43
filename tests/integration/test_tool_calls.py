"""Tool-calling through bot.gateway against the fake OpenAI server, in both API shapes.

The suite writes tools once (the Responses API's shape); the gateway sends each API its
own shape and returns the calls as Chat Completions' tool calls (sample.output_tools).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.gateway import OpenAIGateway
from bot.settings import ProviderConfig
from commands.ports import ProviderError
from tests.fakes.openai_server import FakeOpenAI

PROMPT = "Refund the double charge on invoice 4411"
MESSAGES = [{"role": "user", "content": PROMPT}]
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "route_ticket",
        "description": "Send the ticket to a queue",
        "parameters": {
            "type": "object",
            "properties": {"queue": {"type": "string", "enum": ["billing", "bug"]}},
            "required": ["queue"],
        },
    },
    {"type": "function", "name": "escalate", "parameters": {"type": "object"}},
]


def gateway(fake: FakeOpenAI, style: str) -> OpenAIGateway:
    config = ProviderConfig("default", fake.base_url, fake.api_key)
    return OpenAIGateway({"default": config}, styles={"default": style})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("style", "path"), [("chat", "/chat/completions"), ("responses", "/responses")]
)
async def test_tools_go_out_in_each_apis_shape_and_calls_come_back_alike(
    fake_openai: FakeOpenAI, style: str, path: str
) -> None:
    fake_openai.answer_tool("*", PROMPT, "route_ticket", {"queue": "billing"})
    gw = gateway(fake_openai, style)
    try:
        params = {"tools": TOOLS, "tool_choice": {"type": "function", "name": "route_ticket"}}
        done = await gw.complete("gpt-4.1-mini", MESSAGES, params)
    finally:
        await gw.close()
    assert done.text == ""
    [call] = done.tool_calls
    assert call["type"] == "function" and call["id"].startswith("call")
    assert call["function"]["name"] == "route_ticket"
    assert json.loads(call["function"]["arguments"]) == {"queue": "billing"}
    body = fake_openai.requests_to(path)[0].json
    if style == "chat":
        assert body["tools"][0]["function"]["name"] == "route_ticket"
        assert body["tool_choice"] == {"type": "function", "function": {"name": "route_ticket"}}
    else:
        assert body["tools"][0]["name"] == "route_ticket"
        assert body["tool_choice"] == {"type": "function", "name": "route_ticket"}


async def test_without_tools_the_scripted_call_is_not_made(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer_tool("*", PROMPT, "route_ticket", {"queue": "billing"})
    gw = gateway(fake_openai, "chat")
    try:
        done = await gw.complete("gpt-4.1-mini", MESSAGES, {})
    finally:
        await gw.close()
    assert done.tool_calls == [] and done.text == PROMPT  # the fake echoes


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        # Each API refuses the other's tool shape, naming the missing field.
        ("chat/completions", {"messages": MESSAGES, "tools": TOOLS}, "tools[0].function"),
        (
            "responses",
            {"input": PROMPT, "tools": [{"type": "function", "function": {"name": "x"}}]},
            "tools[0].name",
        ),
        (
            "responses",
            {"input": PROMPT, "tools": TOOLS, "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice",
        ),
        ("chat/completions", {"messages": MESSAGES, "tool_choice": "required"}, "tool_choice"),
    ],
)
async def test_the_fake_refuses_malformed_tools_as_the_api_does(
    fake_openai: FakeOpenAI, path: str, body: dict[str, Any], param: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake_openai.base_url}/{path}",
            json={"model": "gpt-4.1-mini", **body},
            headers={"Authorization": f"Bearer {fake_openai.api_key}"},
        ) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"]["param"] == param


async def test_a_refused_tool_is_a_bad_request_for_the_caller(fake_openai: FakeOpenAI) -> None:
    gw = gateway(fake_openai, "chat")
    try:
        with pytest.raises(ProviderError) as caught:
            await gw.complete("gpt-4.1-mini", MESSAGES, {"tools": [{"type": "web_search"}]})
    finally:
        await gw.close()
    assert caught.value.kind == "bad_request"
