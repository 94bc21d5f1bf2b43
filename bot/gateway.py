"""The `Models` port over the openai SDK: one AsyncOpenAI client per provider.

Completions are single attempts (`max_retries=0`): the eval runner owns retries so it
can honour retry-after, count attempts and slow down near the rate limit. Listing
models and other control calls keep the SDK's own retries.

Completions, the one call an eval makes thousands of times, skip the SDK's request
machinery: they are posted with a plain aiohttp session per provider, carrying the
headers and base URL of that provider's SDK client, and the JSON answer is read
directly. The SDK's typed `create` cost about 2.4 ms of CPU per request here (params
transform, httpx2 request building, pydantic parsing) against 0.4 ms for the plain post,
which was the difference between 3.2x and 1.2x the latency-concurrency bound of a
2,000-sample run at concurrency 64 (docs/benchmarks.md). Errors are classified exactly
as `classify` does for the SDK's exceptions.

The SDK itself is imported only when a call needs it (listing models, embeddings,
fine-tuning): its import was most of `evalbot eval run`'s start-up, and completions'
headers and base URL come from bot/openai_headers.py, which computes what the SDK's
client would send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from bot import openai_headers
from bot.api_shapes import chat_tool_params, responses_input, responses_tool_calls
from bot.settings import ProviderConfig
from commands.ports import Completion, Message, ModelInfo, ProviderError, RateLimitState

if TYPE_CHECKING:  # imported when a call needs the SDK: see the module's docstring
    from openai import AsyncOpenAI

log = logging.getLogger(__name__)

ApiStyle = Literal["responses", "chat"]

# A completion body is refused past this size. The default output-token cap (see
# commands.eval.runner.DEFAULT_MAX_OUTPUT_TOKENS) keeps honest answers far below it:
# 8,192 tokens are ~40 KB of JSON; this leaves room for logprobs and tool calls.
MAX_BODY_BYTES = 8 * 1024 * 1024
# Listing models is retried as the SDK retries (max_retries=2): what a retry can cure.
LIST_ATTEMPTS = 3

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


def _dropped(exc: BaseException) -> bool:
    """True when the cause is a closed connection: the aiohttp transport reports a
    server that hangs up (ServerDisconnectedError) as a connect timeout."""
    cause = exc.__cause__ or exc.__context__
    for _ in range(10):  # a short chain; never loop on a cycle
        if cause is None:
            return False
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def status_error(
    status: int, body: Any, headers: Mapping[str, str] | None, fallback: str
) -> ProviderError:
    """The ProviderError of an HTTP error answer (`body`: its JSON, or the SDK's `exc.body`)."""
    err = body.get("error", body) if isinstance(body, dict) else {}
    message = str(err.get("message") or fallback) if isinstance(err, dict) else fallback
    param = err.get("param") if isinstance(err, dict) else None
    wait = retry_after(headers)
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


def classify(exc: Exception) -> ProviderError:
    """Turn an openai SDK exception into a ProviderError users and the runner understand."""
    if isinstance(exc, ProviderError):
        return exc
    import openai

    if isinstance(exc, openai.APITimeoutError):
        if _dropped(exc):
            return ProviderError("connection", "the provider closed the connection unanswered")
        return ProviderError("timeout", "the provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("connection", f"could not reach the provider ({exc})")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        headers = exc.response.headers if exc.response is not None else None
        return status_error(exc.status_code, body, headers, exc.message)
    return ProviderError("connection", f"{type(exc).__name__}: {exc}")


@contextmanager
def sdk_errors() -> Iterator[None]:
    """Around calls made with the openai SDK: its exceptions become ProviderErrors."""
    import openai

    try:
        yield
    except openai.OpenAIError as exc:
        raise classify(exc) from exc


class OpenAIGateway:
    """Implements commands.ports.Models for any OpenAI-compatible provider."""

    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        *,
        concurrency: int = 32,
        timeout_s: float = 60.0,
        styles: Mapping[str, ApiStyle] | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._providers = dict(providers)
        self.max_body_bytes = max_body_bytes
        self._concurrency = concurrency
        self._timeout = timeout_s
        self._styles = {name: default_style(p) for name, p in self._providers.items()}
        self._styles.update(styles or {})
        self._clients: dict[str, AsyncOpenAI] = {}
        self._sessions: dict[str, tuple[aiohttp.ClientSession, str]] = {}
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

    def _config(self, provider: str) -> ProviderConfig:
        cfg = self._providers.get(provider)
        if cfg is None:
            raise ProviderError(
                "not_found",
                f"no provider named {provider!r}; configured: {', '.join(self._providers)}",
            )
        return cfg

    def client(self, provider: str) -> AsyncOpenAI:
        """The provider's SDK client, created on first use (no network at start-up)."""
        client = self._clients.get(provider)
        if client is None:
            cfg = self._config(provider)
            import openai

            limits = openai.DEFAULT_CONNECTION_LIMITS
            http = openai.DefaultAioHttpClient(
                timeout=self._timeout,
                limits=type(limits)(
                    max_connections=max(self._concurrency * 2, 100),
                    max_keepalive_connections=max(self._concurrency * 2, 100),
                ),
            )
            client = openai.AsyncOpenAI(
                api_key=cfg.api_key or openai_headers.NO_KEY,
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
        started = time.perf_counter()
        if self.style(provider) == "responses":
            body = {"model": name, "input": responses_input(messages), **_responses_params(params)}
            data = await self._post(provider, "/responses", body)
            usage = data.get("usage") or {}
            details = usage.get("input_tokens_details") or {}
            return Completion(
                text=_output_text(data),
                input_tokens=int(usage.get("input_tokens") or 0),
                cached_input_tokens=int(details.get("cached_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
                latency_s=time.perf_counter() - started,
                truncated=data.get("status") == "incomplete"
                and (data.get("incomplete_details") or {}).get("reason") == "max_output_tokens",
                tool_calls=responses_tool_calls(data),
            )
        data = await self._post(
            provider,
            "/chat/completions",
            {"model": name, "messages": list(messages), **chat_tool_params(params)},
        )
        cusage = data.get("usage") or {}
        cdetails = cusage.get("prompt_tokens_details") or {}
        choices = data.get("choices") or []
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = first.get("message") or {}
        text = message.get("content")
        calls = message.get("tool_calls")
        return Completion(
            text=text if isinstance(text, str) else "",
            input_tokens=int(cusage.get("prompt_tokens") or 0),
            cached_input_tokens=int(cdetails.get("cached_tokens") or 0),
            output_tokens=int(cusage.get("completion_tokens") or 0),
            latency_s=time.perf_counter() - started,
            truncated=first.get("finish_reason") == "length",
            tool_calls=[c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else [],
        )

    def _session(self, provider: str) -> tuple[aiohttp.ClientSession, str]:
        """The provider's plain HTTP session for completions, with the headers (auth,
        organization, project, user agent) and base URL its SDK client would have."""
        found = self._sessions.get(provider)
        if found is None:
            cfg = self._config(provider)  # raises not_found for an unknown provider
            session = aiohttp.ClientSession(
                headers=openai_headers.request_headers(cfg),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=max(self._concurrency * 2, 100)),
            )
            found = self._sessions[provider] = (session, openai_headers.base_url(cfg))
        return found

    async def _post(self, provider: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one completion request, once; its JSON answer, or a classified ProviderError."""
        try:
            data = await self._request(provider, "POST", path, json.dumps(body))
        except ProviderError as error:
            if error.kind == "rate_limit":
                self.rate_limit(provider).remaining_requests = 0
            raise
        return data

    async def _request(
        self, provider: str, method: str, path: str, body: str | None = None
    ) -> dict[str, Any]:
        """One request over the provider's session; its JSON object, or a classified
        ProviderError (a 4xx/5xx, a timeout, a lost connection, no JSON object)."""
        session, base = self._session(provider)
        try:
            async with session.request(method, base + path, data=body) as resp:
                status, headers = resp.status, resp.headers
                raw = await _read_capped(resp, self.max_body_bytes)
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise ProviderError("timeout", "the provider did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError("connection", f"could not reach the provider ({exc})") from exc
        try:
            data: Any = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if status >= 400:
            fallback = f"Error code: {status} - {raw[:500].decode(errors='replace')}"
            raise status_error(status, data, headers, fallback)
        if method == "POST":
            self._note_limits(provider, headers)
        if not isinstance(data, dict):
            raise ProviderError("server", f"the provider answered {path} with no JSON object")
        return data

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        provider, name = self.split(model)
        with sdk_errors():
            resp = await self.client(provider).embeddings.create(model=name, input=list(texts))
        return [list(item.embedding) for item in sorted(resp.data, key=lambda d: d.index)]

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        """GET /models over the provider's plain session (as completions go), retried like
        the SDK's own calls (two more tries on 429, 5xx, timeouts and lost connections,
        after Retry-After or a short backoff). Not through the SDK: importing it is most of
        the bot's start-up, and the bot lists every provider's models as it starts."""
        for attempt in range(LIST_ATTEMPTS):
            try:
                data = await self._request(provider, "GET", "/models")
                break
            except ProviderError as exc:
                if not exc.retryable or attempt == LIST_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(min(exc.retry_after_s or 0.5 * 2**attempt, 8.0))
        items = data.get("data")
        found: list[ModelInfo] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            created = item.get("created")
            shutdown = item.get("shutdown_date")
            found.append(
                ModelInfo(
                    id=item["id"],
                    provider=provider,
                    created=int(created) if isinstance(created, int | float) else 0,
                    owned_by=str(item.get("owned_by") or ""),
                    shutdown_date=str(shutdown) if shutdown else None,
                )
            )
        return found

    async def warm(self) -> None:
        """Create every provider's completion session now (TLS context, headers), so the
        first eval sample does not pay for it. Makes no network call and builds no SDK
        client (those come with the first call that needs one)."""
        for provider in self._providers:
            self._session(provider)

    async def close(self) -> None:
        for session, _ in self._sessions.values():
            await session.close()
        self._sessions.clear()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The response body, refused once it passes `limit` bytes.

    A rambling model (or a broken proxy) can send a body of any size; reading it whole
    would hold it all in memory and then parse it on the event loop.
    """
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise ProviderError("too_large", _too_large(limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise ProviderError("too_large", _too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return (
        f"the provider's answer was over {limit // (1024 * 1024)} MB and was not read; "
        "set a smaller max_completion_tokens under `sampling` in suite.yaml"
    )


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


def _output_text(data: Mapping[str, Any]) -> str:
    """The Responses API's output text, as the SDK's `Response.output_text` joins it."""
    texts: list[str] = []
    for item in data.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message":
            for content in item.get("content") or []:
                if isinstance(content, dict) and content.get("type") == "output_text":
                    texts.append(str(content.get("text") or ""))
    return "".join(texts)
