"""The `Models` port over the openai SDK: one AsyncOpenAI client per provider.

Completions are single attempts (`max_retries=0`): the eval runner owns retries so it
can honour retry-after, count attempts and slow down near the rate limit. Listing
models and other control calls keep the SDK's own retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import openai
from openai import AsyncOpenAI

from bot.settings import ProviderConfig
from commands.ports import Completion, Message, ModelInfo, ProviderError, RateLimitState

log = logging.getLogger(__name__)

ApiStyle = Literal["responses", "chat"]

# Suite `sampling` keys as Chat Completions names them; Responses renames a few.
_RESPONSES_RENAMES = {
    "max_completion_tokens": "max_output_tokens",
    "max_tokens": "max_output_tokens",
}


def default_style(provider: ProviderConfig) -> ApiStyle:
    """Responses for OpenAI itself, Chat Completions for every other compatible server."""
    url = provider.base_url or ""
    return "responses" if not url or "api.openai.com" in url else "chat"


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait as the provider asked: retry-after-ms, then retry-after."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds:
        try:
            return max(0.0, float(seconds))
        except ValueError:
            return None
    return None


def classify(exc: Exception) -> ProviderError:
    """Turn an openai SDK exception into a ProviderError users and the runner understand."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("timeout", "the provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("connection", f"could not reach the provider ({exc})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error", body) if isinstance(body, dict) else {}
        message = str(err.get("message") or exc.message) if isinstance(err, dict) else exc.message
        param = err.get("param") if isinstance(err, dict) else None
        wait = retry_after(exc.response.headers if exc.response is not None else None)
        kind: Any
        if status == 429:
            kind = "rate_limit"
        elif status >= 500 or status in (408, 409):
            kind = "server"
        elif status in (401, 403):
            kind = "auth"
        elif status == 404:
            kind = "not_found"
        else:
            kind = "bad_request"
        return ProviderError(
            kind, message, status=status, retry_after_s=wait, param=str(param) if param else None
        )
    return ProviderError("connection", f"{type(exc).__name__}: {exc}")


class OpenAIGateway:
    """Implements commands.ports.Models for any OpenAI-compatible provider."""

    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        *,
        concurrency: int = 32,
        timeout_s: float = 60.0,
        styles: Mapping[str, ApiStyle] | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._concurrency = concurrency
        self._timeout = timeout_s
        self._styles = {name: default_style(p) for name, p in self._providers.items()}
        self._styles.update(styles or {})
        self._clients: dict[str, AsyncOpenAI] = {}
        self._limits: dict[str, RateLimitState] = {}

    # Providers ---------------------------------------------------------------

    def providers(self) -> list[str]:
        return list(self._providers)

    def split(self, model: str) -> tuple[str, str]:
        provider, sep, name = model.partition(":")
        # Fine-tuned ids contain colons too (ft:gpt-4.1-mini:org::abc): only a
        # configured provider name counts as a prefix.
        if sep and provider in self._providers and provider != "default":
            return provider, name
        return "default", model

    def client(self, provider: str) -> AsyncOpenAI:
        """The provider's client, created on first use (no network at start-up)."""
        client = self._clients.get(provider)
        if client is None:
            cfg = self._providers.get(provider)
            if cfg is None:
                raise ProviderError(
                    "not_found",
                    f"no provider named {provider!r}; configured: {', '.join(self._providers)}",
                )
            limits = openai.DEFAULT_CONNECTION_LIMITS
            http = openai.DefaultAioHttpClient(
                timeout=self._timeout,
                limits=type(limits)(
                    max_connections=max(self._concurrency * 2, 100),
                    max_keepalive_connections=max(self._concurrency * 2, 100),
                ),
            )
            client = AsyncOpenAI(
                api_key=cfg.api_key or "not-set",
                base_url=cfg.base_url,
                max_retries=2,
                timeout=self._timeout,
                http_client=http,
            )
            self._clients[provider] = client
        return client

    def style(self, provider: str) -> ApiStyle:
        return self._styles.get(provider, "chat")

    def rate_limit(self, provider: str) -> RateLimitState:
        return self._limits.setdefault(provider, RateLimitState())

    def _note_limits(self, provider: str, headers: Mapping[str, str]) -> None:
        state = self.rate_limit(provider)
        state.remaining_requests = _int_header(headers, "x-ratelimit-remaining-requests")
        state.limit_requests = _int_header(headers, "x-ratelimit-limit-requests")
        state.remaining_tokens = _int_header(headers, "x-ratelimit-remaining-tokens")
        state.limit_tokens = _int_header(headers, "x-ratelimit-limit-tokens")

    # Calls -------------------------------------------------------------------

    async def complete(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        provider, name = self.split(model)
        client = self.client(provider).with_options(max_retries=0)
        started = time.perf_counter()
        try:
            if self.style(provider) == "responses":
                kwargs = _responses_params(params)
                raw = await client.responses.with_raw_response.create(
                    model=name,
                    input=cast(Any, list(messages)),
                    **kwargs,
                )
                self._note_limits(provider, raw.headers)
                resp = raw.parse()
                usage = resp.usage
                details = getattr(usage, "input_tokens_details", None)
                return Completion(
                    text=resp.output_text or "",
                    input_tokens=usage.input_tokens if usage else 0,
                    cached_input_tokens=(getattr(details, "cached_tokens", 0) or 0),
                    output_tokens=usage.output_tokens if usage else 0,
                    latency_s=time.perf_counter() - started,
                )
            raw_chat = await client.chat.completions.with_raw_response.create(
                model=name,
                messages=cast(Any, list(messages)),
                **params,
            )
            self._note_limits(provider, raw_chat.headers)
            chat = raw_chat.parse()
            cusage = chat.usage
            cdetails = getattr(cusage, "prompt_tokens_details", None)
            text = chat.choices[0].message.content if chat.choices else ""
            return Completion(
                text=text or "",
                input_tokens=cusage.prompt_tokens if cusage else 0,
                cached_input_tokens=(getattr(cdetails, "cached_tokens", 0) or 0),
                output_tokens=cusage.completion_tokens if cusage else 0,
                latency_s=time.perf_counter() - started,
            )
        except openai.OpenAIError as exc:
            error = classify(exc)
            if error.kind == "rate_limit":
                state = self.rate_limit(provider)
                state.remaining_requests = 0
            raise error from exc

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        provider, name = self.split(model)
        try:
            resp = await self.client(provider).embeddings.create(model=name, input=list(texts))
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
        return [list(item.embedding) for item in sorted(resp.data, key=lambda d: d.index)]

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        try:
            found: list[ModelInfo] = []
            async for item in self.client(provider).models.list():
                extra = item.model_extra or {}
                found.append(
                    ModelInfo(
                        id=item.id,
                        provider=provider,
                        created=int(item.created or 0),
                        owned_by=str(item.owned_by or ""),
                        shutdown_date=extra.get("shutdown_date"),
                    )
                )
            return found
        except openai.OpenAIError as exc:
            raise classify(exc) from exc

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def _responses_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "reasoning_effort":
            out["reasoning"] = {"effort": value}
        elif key in ("seed", "stop", "n", "frequency_penalty", "presence_penalty"):
            continue  # not accepted by the Responses API
        else:
            out[_RESPONSES_RENAMES.get(key, key)] = value
    return out
