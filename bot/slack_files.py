"""Training files from Slack: only the asker's own file, only from Slack's hosts.

A file object names its download URL, and a file shared by someone else (or an external
file: Google Drive, Dropbox) carries a URL of another host; sending the bot token there
would hand it away. So: the file must be one the asking person shared in that channel (by
name, or by its id `F...`), not external, downloaded from `files.slack.com` (or the host
SLACK_API_URL points at: a proxy, the tests' fake) with redirects refused, streamed and
capped at `max_bytes`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from commands.ports import ChatError

SLACK_FILE_HOSTS = frozenset({"files.slack.com"})
_FILE_ID = re.compile(r"^F[A-Z0-9]{6,}$")

Call = Callable[..., Awaitable[Any]]


def allowed_hosts(api_base_url: str) -> frozenset[str]:
    """files.slack.com, plus the Web API's own host when it is not slack.com (a proxy or
    a test server serves the files too)."""
    host = (urlsplit(api_base_url).hostname or "").lower()
    if host and host != "slack.com" and not host.endswith(".slack.com"):
        return SLACK_FILE_HOSTS | {host}
    return SLACK_FILE_HOSTS


def _shared_in(file: dict[str, Any], channel: str) -> bool:
    if channel in (file.get("channels") or []) or channel in (file.get("groups") or []):
        return True
    shares = file.get("shares") or {}
    return any(channel in (shares.get(kind) or {}) for kind in ("public", "private"))


async def find_file(call: Call, *, channel: str, user: str, name: str) -> dict[str, Any]:
    """The newest file `name` (or the file id `F...`) that `user` shared in `channel`."""
    if _FILE_ID.match(name):
        try:
            found = (await call("files_info", file=name)).get("file") or {}
        except ChatError as exc:
            raise ChatError("file_not_found", f"no file {name}") from exc
        if found.get("user") != user or not _shared_in(found, channel):
            raise ChatError("file_not_yours", f"{name} was not shared here by the asker")
        return dict(found)
    resp = await call("files_list", channel=channel, user=user, count=200)
    # Filtered again here: whatever the API did with `user`, another person's file of
    # the same name must never be taken.
    files = [
        f
        for f in resp.get("files", [])
        if f.get("name") == name and f.get("user") == user and _shared_in(f, channel)
    ]
    if not files:
        raise ChatError("file_not_found", f"no file named {name!r} shared here by the asker")
    return dict(files[0])


def download_url(file: dict[str, Any], hosts: frozenset[str]) -> str:
    """The URL the token may be sent to; ChatError file_not_hosted otherwise."""
    if file.get("is_external") or file.get("external_type"):
        raise ChatError("file_not_hosted", "an external file (not hosted by Slack)")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not url or host not in hosts:
        raise ChatError("file_not_hosted", f"the file is served by {host or 'no host'}")
    if parts.scheme != "https" and host in SLACK_FILE_HOSTS:
        raise ChatError("file_not_hosted", "not an https URL")
    return url


async def download(url: str, *, token: str, name: str, max_bytes: int) -> bytes:
    """The bytes at `url`, streamed, at most `max_bytes`; a redirect is refused (the
    token would follow it to wherever it points)."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers=headers, allow_redirects=False) as resp,
    ):
        if 300 <= resp.status < 400:
            raise ChatError("download_failed", f"redirected (HTTP {resp.status}): not followed")
        if resp.status != 200:
            raise ChatError("download_failed", f"HTTP {resp.status}")
        if resp.content_type == "text/html":
            # Slack answers a bad token with its sign-in page, not an error status.
            raise ChatError("download_failed", "Slack returned a sign-in page")
        data = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            data.extend(chunk)
            if len(data) > max_bytes:
                raise ChatError("file_too_large", f"{name} is over {max_bytes} bytes")
        return bytes(data)
