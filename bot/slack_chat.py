"""The `Chat` port over slack_sdk's AsyncWebClient.

Slack's limits shape it (docs: PLATFORM-FACTS.md): progress refreshes of a message share
one chat.update budget for the whole app and are dropped rather than retried; an update
that must land (a run's summary) waits its turn and is retried for as long as Slack says
"later" instead of giving up and posting a second message. Before its first post into a
public channel the bot joins it (channels:join), so uploads there work and reactions there
reach it. Every failure, a refusal, a 429, a dropped connection or a failed raw upload,
comes out as a ChatError whose `retryable` tells the caller whether to try again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_files
from bot.slack_budget import UpdateBudget
from commands.ports import ChatError, Posted, Upload

log = logging.getLogger(__name__)

# Slack rejects texts over 40,000 characters; keep well inside, with room for blocks.
MAX_TEXT = 39_000
# Messages whose final update is under way or done: a late progress refresh must not
# overwrite a summary. Bounded: old entries matter only for a few seconds.
_SETTLED_MAX = 10_000
_MAX_BACKOFF_S = 30.0
GROUP_CACHE_S = 300.0  # how long a user group's members are trusted


class SlackObserver(Protocol):
    """Told of every Web API call's outcome (bot/metrics.py counts them)."""

    def slack_call(self, method: str, outcome: str) -> None: ...


class _CountingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (sleeps Retry-After and retries), counting each 429."""

    def __init__(self, observer: SlackObserver | None, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.observer = observer

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if self.observer is not None:
            self.observer.slack_call(_method_of(request.url), "ratelimited")
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def _method_of(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def make_web_client(
    token: str, base_url: str, observer: SlackObserver | None = None, *, retries: bool = True
) -> AsyncWebClient:
    """An AsyncWebClient that rides out Slack's 429s, 5xx and dropped connections
    (`retries=False`: one attempt, for calls whose caller decides)."""
    client = AsyncWebClient(token=token, base_url=base_url, timeout=15)
    handlers: list[AsyncRetryHandler] = []
    if retries:
        handlers = [
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            _CountingRateLimitHandler(observer, max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ]
    client.retry_handlers = handlers
    return client


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n…(truncated)"


class SlackChat:
    """Implements commands.ports.Chat; Slack's refusals become ChatError."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        budget: UpdateBudget | None = None,
        observer: SlackObserver | None = None,
        sleep: Any = asyncio.sleep,
    ) -> None:
        self.client = client
        # Same token and URL, no automatic retries: updates decide for themselves.
        self.bare = make_web_client(client.token or "", client.base_url, retries=False)
        self.budget = budget or UpdateBudget()
        self.observer = observer
        self._sleep = sleep
        self._joined: set[str] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._settled: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._group_locks: dict[str, asyncio.Lock] = {}

    async def _call(self, method: str, *, bare: bool = False, **kwargs: Any) -> Any:
        client = self.bare if bare else self.client
        name = method.replace("_", ".", 1)
        try:
            resp = await getattr(client, method)(**kwargs)
        except SlackApiError as exc:
            error = _classify(exc)
        except SlackClientError as exc:  # a failed raw upload of files_upload_v2, ...
            code = "upload_failed" if method == "files_upload_v2" else "network"
            error = ChatError(code, str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = ChatError("network", f"Slack could not be reached ({exc!r})")
        else:
            self._observe(name, "ok")
            return resp
        self._observe(name, error.code)
        raise error

    def _observe(self, method: str, outcome: str) -> None:
        if self.observer is not None:
            # The counting 429 handler already saw the retried ones; a bare call's 429
            # is seen here.
            self.observer.slack_call(method, outcome)

    async def _join(self, channel: str) -> None:
        """Join a public channel once per process before working in it. A private
        channel or a token without channels:join is left to the call itself, whose
        refusal carries the invite advice."""
        if not channel.startswith("C") or channel in self._joined:
            return
        self._joined.add(channel)
        try:
            await self._call("conversations_join", channel=channel)
        except ChatError as exc:
            if exc.retryable:
                self._joined.discard(channel)  # try again next time
            log.info("could not join %s: %s", channel, exc.code)

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        await self._join(channel)
        kwargs: dict[str, Any] = {"channel": channel, "text": clip(text)}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        resp = await self._call("chat_postMessage", **kwargs)
        return Posted(channel=str(resp["channel"]), ts=str(resp["ts"]))

    async def update(
        self,
        where: Posted,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        progress: bool = False,
    ) -> None:
        kwargs: dict[str, Any] = {"channel": where.channel, "ts": where.ts, "text": clip(text)}
        if blocks is not None:
            kwargs["blocks"] = blocks
        key = (where.channel, where.ts)
        lock = self._locks.setdefault(key, asyncio.Lock())
        if progress:
            await self._progress(key, lock, kwargs)
            return
        self._settled[key] = None
        while len(self._settled) > _SETTLED_MAX:
            self._settled.popitem(last=False)
        try:
            async with lock:  # after any refresh in flight, never before it
                await self._must_update(kwargs)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    async def _progress(
        self, key: tuple[str, str], lock: asyncio.Lock, kwargs: dict[str, Any]
    ) -> None:
        """One try, now or never: a refresh that cannot go out is superseded by the next."""
        if key in self._settled or lock.locked() or not self.budget.try_progress():
            self._observe("chat.update", "dropped")
            return
        async with lock:
            try:
                await self._call("chat_update", bare=True, **kwargs)
            except ChatError as exc:
                if exc.code == "ratelimited":
                    self.budget.close_for(_wait_of(exc))
                log.info("progress update dropped: %s", exc.code)

    async def _must_update(self, kwargs: dict[str, Any]) -> None:
        """Retry for as long as Slack says "later"; raise when it says "never"."""
        attempt = 0
        while True:
            await self.budget.take_final()
            try:
                await self._call("chat_update", bare=True, **kwargs)
                return
            except ChatError as exc:
                if not exc.retryable:
                    raise
                if exc.code == "ratelimited":
                    self.budget.close_for(_wait_of(exc))
                    log.info("final update rate limited; waiting %ss", exc.retry_after_s)
                    continue  # take_final waits out the Retry-After
                attempt += 1
                wait = min(_MAX_BACKOFF_S, 0.25 * 2 ** min(attempt, 7))
                log.warning("final update failed (%s); retrying in %.1fs", exc.code, wait)
                await self._sleep(wait)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call("chat_postEphemeral", channel=channel, user=user, text=clip(text))

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        await self._join(channel)
        # No alt_txt: with it Slack may answer ok and share the file nowhere
        # (python-slack-sdk#1818, open); the title says what the chart is.
        kwargs: dict[str, Any] = {
            "channel": channel,
            "content": upload.content,
            "filename": upload.filename,
            "title": upload.title or upload.filename,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if comment:
            kwargs["initial_comment"] = clip(comment)
        await self._call("files_upload_v2", **kwargs)

    async def react(self, where: Posted, emoji: str) -> None:
        await self._join(where.channel)
        try:
            await self._call("reactions_add", channel=where.channel, timestamp=where.ts, name=emoji)
        except ChatError as exc:
            if exc.code != "already_reacted":
                raise

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("views_publish", user_id=user, view={"type": "home", "blocks": blocks})

    async def group_members(self, group: str) -> frozenset[str]:
        # Cached for a few minutes: every `/eval run` asks, usergroups.users.list is Tier 2.
        # One lookup per group at a time: a burst of commands waits for the first answer
        # instead of each asking Slack (and meeting its limit).
        lock = self._group_locks.setdefault(group, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            cached = self._groups.get(group)
            if cached is not None and now - cached[0] < GROUP_CACHE_S:
                return cached[1]
            try:
                resp = await self._call("usergroups_users_list", usergroup=group)
                members = frozenset(str(u) for u in resp.get("users") or [])
            except ChatError as exc:
                if exc.retryable and cached is not None:
                    return cached[1]  # Slack is busy: the last answer is better than none
                if exc.retryable:
                    raise
                members = frozenset()  # no such group (deleted, disabled): nobody is in it
            self._groups[group] = (time.monotonic(), members)
            return members

    async def fetch_file(self, channel: str, name: str, max_bytes: int, *, user: str) -> bytes:
        found = await slack_files.find_file(self._call, channel=channel, user=user, name=name)
        if int(found.get("size") or 0) > max_bytes:
            raise ChatError("file_too_large", f"{name} is over {max_bytes} bytes")
        url = slack_files.download_url(found, slack_files.allowed_hosts(self.client.base_url))
        return await slack_files.download(
            url, token=self.client.token or "", name=name, max_bytes=max_bytes
        )


def _classify(exc: SlackApiError) -> ChatError:
    """Slack's answer as a ChatError; a 429 carries its Retry-After."""
    response = exc.response
    code = str(response.get("error", "unknown_error"))
    retry_after: float | None = None
    if response.status_code == 429:
        code = "ratelimited"
        raw = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        try:
            retry_after = float(raw) if raw is not None else 1.0
        except ValueError:
            retry_after = 1.0
    elif response.status_code >= 500 and code == "unknown_error":
        code = "internal_error"
    return ChatError(code, retry_after_s=retry_after)


def _wait_of(exc: ChatError) -> float:
    return exc.retry_after_s if exc.retry_after_s is not None else 1.0
