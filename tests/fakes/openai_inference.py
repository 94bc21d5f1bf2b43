"""Chat completions, responses and embeddings endpoints of the fake OpenAI server.

A mixin of ``FakeOpenAI``. Answers come from a programmable responder (by default a table
of scripted answers, else an echo of the last user message); usage counts words, so token
numbers are deterministic.
"""

from __future__ import annotations

import array
import base64
import logging
import math
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_tools import (
    chat_tool_calls,
    planned_calls,
    responses_function_calls,
    tool_names,
)
from tests.fakes.openai_wire import (
    TOKENS_KEY,
    ApiError,
    content_text,
    count_words,
    json_object,
    json_response,
    missing,
    new_id,
)

log = logging.getLogger(__name__)

DEFAULT_REASONING = frozenset(
    {"o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"}
)
_WORDS = re.compile(r"\w+")


@dataclass
class Request:
    """What a responder sees of a chat or responses call.

    ``messages`` is a chat message list (``role``, ``content`` as text) for both endpoints:
    the responses API's ``instructions`` become a leading system message and its ``input``
    string or items become user/assistant messages. ``params`` holds every other field.
    """

    endpoint: str  # "chat" or "responses"
    model: str
    messages: list[dict[str, str]]
    params: dict[str, Any]

    @property
    def last_user(self) -> str:
        """The content of the last user message ('' if none)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""


Responder = Callable[[Request], "str | dict[str, Any]"]
"""Returns the answer text, or a dict with ``text`` and optional ``prompt_tokens``,
``completion_tokens``, ``cached_tokens``, ``finish_reason``, ``tool_calls`` (a list of
``{"name", "arguments"}``, answered in the endpoint's own shape); or ``{"status": 400,
"error": {...}}`` to answer with an error. Raising ``ApiError`` works too."""


def embed(text: str, dims: int = 64) -> list[float]:
    """A deterministic unit vector: a signed, hashed bag of words."""
    vec = [0.0] * dims
    for word in _WORDS.findall(text.lower()):
        h = zlib.crc32(word.encode())
        vec[h % dims] += 1.0 if (h >> 20) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0:
        vec[0] = 1.0
        return vec
    return [x / norm for x in vec]


class InferenceEndpoints:
    """``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``; mixed into FakeOpenAI."""

    answers: dict[tuple[str, str], str]
    tool_answers: dict[tuple[str, str], list[dict[str, Any]]]
    responder: Responder | None
    reasoning_models: set[str]
    cached_tokens: int
    embedding_dims: int

    def _check_model(self, model: Any) -> str:
        """Provided by FakeOpenAI."""
        raise NotImplementedError

    def _init_inference(self) -> None:
        self.reasoning_models = set(DEFAULT_REASONING)
        self.answers = {}
        self.tool_answers = {}
        self.responder = None
        self.cached_tokens = 0
        self.embedding_dims = 64

    def _inference_routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._chat),
            web.post("/v1/responses", self._responses),
            web.post("/v1/embeddings", self._embeddings),
        ]

    def is_reasoning_model(self, model: str) -> bool:
        """True for a reasoning model, or a fine-tune (``ft:base:...``) of one."""
        if model.startswith("ft:"):
            model = model.split(":")[1]
        return model in self.reasoning_models

    def answer(self, model: str, prompt: str, text: str) -> None:
        """Script ``model`` (or ``"*"`` for any) to answer ``text`` when the last user
        message is ``prompt`` (exactly, else the first scripted prompt it contains)."""
        self.answers[(model, prompt)] = text

    def answer_tool(self, model: str, prompt: str, name: str, arguments: Any) -> None:
        """Script ``model`` (or ``"*"``) to call function ``name`` with ``arguments`` when
        the last user message is ``prompt`` and that function is among the tools sent."""
        self.tool_answers.setdefault((model, prompt), []).append(
            {"name": name, "arguments": arguments}
        )

    def default_responder(self, request: Request) -> str | dict[str, Any]:
        """Scripted tool calls, then scripted answers; otherwise echo the last user message."""
        prompt = request.last_user
        calls = self.tool_answers.get((request.model, prompt)) or self.tool_answers.get(
            ("*", prompt)
        )
        if calls and request.params.get("tools") and request.params.get("tool_choice") != "none":
            return {"text": "", "tool_calls": calls}
        text = self.answers.get((request.model, prompt)) or self.answers.get(("*", prompt))
        if text is not None:
            return text
        if self.answers:
            for (model, scripted), reply in list(self.answers.items()):
                if model in (request.model, "*") and scripted and scripted in prompt:
                    return reply
        return prompt

    def _reply(self, req: Request, max_tokens: Any) -> dict[str, Any]:
        """Run the responder and settle text, usage and finish reason."""
        responder = self.responder or self.default_responder
        try:
            raw = responder(req)
        except ApiError:
            raise
        except Exception as exc:  # a broken responder is a 500, as a real outage would be
            log.exception("fake OpenAI responder failed")
            raise ApiError(500, f"responder failed: {exc!r}", type="server_error") from exc
        reply: dict[str, Any] = {"text": raw} if isinstance(raw, str) else dict(raw)
        if "error" in reply:
            error = reply["error"]
            raise ApiError(int(reply.get("status", 400)), **error)
        text = str(reply.get("text", ""))
        calls = planned_calls(reply, tool_names(req.endpoint, req.params))
        finish = reply.get("finish_reason", "tool_calls" if calls else "stop")
        words = text.split()
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            text, finish = " ".join(words[:max_tokens]), "length"
        prompt_tokens = reply.get("prompt_tokens")
        if prompt_tokens is None:
            prompt_tokens = sum(count_words(m["content"]) for m in req.messages)
        completion = reply.get("completion_tokens")
        return {
            "text": text,
            "calls": calls,
            "finish_reason": finish,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": max(1, count_words(text)) if completion is None else completion,
            "cached_tokens": min(prompt_tokens, reply.get("cached_tokens", self.cached_tokens)),
        }

    def _check_sampling(self, model: str, params: dict[str, Any], endpoint: str) -> None:
        if params.get("stream"):
            raise ApiError(400, "The fake OpenAI server does not stream.", param="stream")
        if not self.is_reasoning_model(model):
            return
        for name in ("temperature", "top_p"):
            value = params.get(name)
            if value is not None and value != 1:
                raise ApiError(
                    400,
                    f"Unsupported value: '{name}' does not support {value} with this model. "
                    "Only the default (1) value is supported.",
                    param=name,
                    code="unsupported_value",
                )
        if endpoint == "chat" and params.get("max_tokens") is not None:
            raise ApiError(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                param="max_tokens",
                code="unsupported_parameter",
            )

    async def _chat(self, request: web.Request) -> web.Response:
        body = json_object(request)
        model = self._check_model(body.get("model"))
        messages = body.get("messages")
        if not messages or not isinstance(messages, list):
            raise missing("messages")
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        self._check_sampling(model, params, "chat")
        tool_names("chat", params)
        chat = [
            {"role": str(m.get("role", "user")), "content": content_text(m.get("content"))}
            for m in messages
            if isinstance(m, dict)
        ]
        req = Request("chat", model, chat, params)
        reply = self._reply(req, params.get("max_completion_tokens") or params.get("max_tokens"))
        request[TOKENS_KEY] = reply["prompt_tokens"] + reply["completion_tokens"]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply["text"] if reply["text"] or not reply["calls"] else None,
            "refusal": None,
            "annotations": [],
        }
        if reply["calls"]:
            message["tool_calls"] = chat_tool_calls(reply["calls"])
        choices = [
            {
                "index": i,
                "message": message,
                "logprobs": None,
                "finish_reason": reply["finish_reason"],
            }
            for i in range(int(params.get("n") or 1))
        ]
        return json_response(
            {
                "id": new_id("chatcmpl"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": reply["prompt_tokens"],
                    "completion_tokens": reply["completion_tokens"],
                    "total_tokens": reply["prompt_tokens"] + reply["completion_tokens"],
                    "prompt_tokens_details": {
                        "cached_tokens": reply["cached_tokens"],
                        "audio_tokens": 0,
                    },
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
                },
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
            }
        )

    async def _responses(self, request: web.Request) -> web.Response:
        body = json_object(request)
        model = self._check_model(body.get("model"))
        if body.get("input") is None:
            raise missing("input")
        params = {k: v for k, v in body.items() if k not in ("model", "input", "instructions")}
        self._check_sampling(model, params, "responses")
        tool_names("responses", params)
        messages = _responses_messages(body.get("instructions"), body["input"])
        req = Request("responses", model, messages, params)
        reply = self._reply(req, params.get("max_output_tokens"))
        request[TOKENS_KEY] = reply["prompt_tokens"] + reply["completion_tokens"]
        truncated = reply["finish_reason"] == "length"
        return json_response(
            {
                "id": new_id("resp"),
                "object": "response",
                "created_at": int(time.time()),
                "status": "incomplete" if truncated else "completed",
                "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
                "error": None,
                "model": model,
                "instructions": body.get("instructions"),
                "output": _responses_output(reply),
                "usage": {
                    "input_tokens": reply["prompt_tokens"],
                    "input_tokens_details": {"cached_tokens": reply["cached_tokens"]},
                    "output_tokens": reply["completion_tokens"],
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": reply["prompt_tokens"] + reply["completion_tokens"],
                },
                "parallel_tool_calls": True,
                "tool_choice": params.get("tool_choice") or "auto",
                "tools": params.get("tools") or [],
                "temperature": params.get("temperature"),
                "top_p": params.get("top_p"),
                "max_output_tokens": params.get("max_output_tokens"),
                "metadata": params.get("metadata") or {},
                "text": {"format": {"type": "text"}},
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = json_object(request)
        model = self._check_model(body.get("model"))
        raw = body.get("input")
        if raw is None or raw == "" or raw == []:
            raise missing("input")
        if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
            raw = [raw]
        texts = [x if isinstance(x, str) else " ".join(f"t{t}" for t in x) for x in raw]
        dims = int(body.get("dimensions") or self.embedding_dims)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vec = embed(text, dims)
            # The SDK asks for base64 unless told otherwise, and decodes float32 bytes.
            value: Any = (
                base64.b64encode(array.array("f", vec).tobytes()).decode() if as_base64 else vec
            )
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(count_words(t) for t in texts)
        request[TOKENS_KEY] = tokens
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _responses_output(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """A message item for the text (unless the model only called tools), then the calls."""
    items: list[dict[str, Any]] = []
    if reply["text"] or not reply["calls"]:
        items.append(
            {
                "type": "message",
                "id": new_id("msg"),
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": reply["text"],
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            }
        )
    return items + responses_function_calls(reply["calls"])


def _responses_messages(instructions: Any, items: Any) -> list[dict[str, str]]:
    """The responses API's ``instructions`` and ``input`` as a chat message list."""
    messages = [{"role": "system", "content": str(instructions)}] if instructions else []
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "role" in item:
            messages.append(
                {"role": str(item["role"]), "content": content_text(item.get("content"))}
            )
    return messages


# -- a fake in its own process (benchmarks) ----------------------------------------------
