"""The `Chat` port over slack_sdk's AsyncWebClient."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from commands.ports import ChatError, Posted, Upload

log = logging.getLogger(__name__)

# Slack rejects texts over 40,000 characters; keep well inside, with room for blocks.
MAX_TEXT = 39_000


def make_web_client(token: str, base_url: str) -> AsyncWebClient:
    """An AsyncWebClient that rides out Slack's 429s, 5xx and dropped connections."""
    client = AsyncWebClient(token=token, base_url=base_url, timeout=15)
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    return client


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n…(truncated)"


class SlackChat:
    """Implements commands.ports.Chat; Slack's refusals become ChatError."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise ChatError(str(exc.response.get("error", "unknown_error"))) from exc

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        kwargs: dict[str, Any] = {"channel": channel, "text": clip(text)}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        resp = await self._call("chat_postMessage", **kwargs)
        return Posted(channel=str(resp["channel"]), ts=str(resp["ts"]))

    async def update(
        self, where: Posted, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        kwargs: dict[str, Any] = {"channel": where.channel, "ts": where.ts, "text": clip(text)}
        if blocks is not None:
            kwargs["blocks"] = blocks
        await self._call("chat_update", **kwargs)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call("chat_postEphemeral", channel=channel, user=user, text=clip(text))

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        kwargs: dict[str, Any] = {
            "channel": channel,
            "content": upload.content,
            "filename": upload.filename,
            "title": upload.title or upload.filename,
        }
        if upload.alt_text:
            kwargs["alt_txt"] = upload.alt_text
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if comment:
            kwargs["initial_comment"] = clip(comment)
        await self._call("files_upload_v2", **kwargs)

    async def react(self, where: Posted, emoji: str) -> None:
        try:
            await self._call("reactions_add", channel=where.channel, timestamp=where.ts, name=emoji)
        except ChatError as exc:
            if exc.code != "already_reacted":
                raise

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("views_publish", user_id=user, view={"type": "home", "blocks": blocks})

    async def fetch_file(self, channel: str, name: str, max_bytes: int) -> bytes:
        resp = await self._call("files_list", channel=channel, count=200)
        files = [f for f in resp.get("files", []) if f.get("name") == name]
        if not files:
            raise ChatError("file_not_found", f"no file named {name!r} in this channel")
        found = files[0]
        if int(found.get("size") or 0) > max_bytes:
            raise ChatError("file_too_large", f"{name} is over {max_bytes} bytes")
        url = found.get("url_private_download") or found.get("url_private")
        if not url:
            raise ChatError("file_not_found", f"{name} cannot be downloaded")
        headers = {"Authorization": f"Bearer {self.client.token}"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as resp_get,
        ):
            if resp_get.status != 200:
                raise ChatError("download_failed", f"HTTP {resp_get.status}")
            data = bytearray()
            async for chunk in resp_get.content.iter_chunked(65536):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise ChatError("file_too_large", f"{name} is over {max_bytes} bytes")
            if resp_get.content_type == "text/html":
                # Slack answers a bad token with its sign-in page, not an error status.
                raise ChatError("download_failed", "Slack returned a sign-in page")
            return bytes(data)
