"""A fake Slack on 127.0.0.1: Web API, file uploads and downloads, response_url, Socket Mode.

The real bot (slack_bolt + slack_sdk with `base_url=fake.url`) talks to it over real HTTP
and websockets, so code that passes here speaks Slack's wire format: replies are
`application/json` with `{"ok": ...}` and HTTP 200 even for errors; parameters are merged
from the query string, a form body and a JSON body; `files_upload_v2` takes three steps.

The server runs on its own event loop in a daemon thread, so synchronous tests can
use it; every inspection method is thread-safe and returns copies.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.slack_rules import Channel, Limit, RateLimiter
from tests.fakes.slack_socket import Ack, SlackToApp, SocketModeHub, sign_request
from tests.fakes.slack_web import ApiError, Ephemeral, Msg, Params, Upload, Workspace

__all__ = [
    "Ack",
    "Call",
    "Channel",
    "Ephemeral",
    "FakeSlack",
    "Limit",
    "Msg",
    "Response",
    "Upload",
    "sign_request",
]


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake received it (params merged)."""

    method: str
    params: Params
    headers: dict[str, str]
    time: float
    http_method: str


@dataclass(frozen=True)
class Response:
    """A body POSTed to a response_url."""

    id: str
    body: dict[str, Any]
    time: float


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str | None
    remaining: int


class FakeSlack(SlackToApp):
    """Fake Slack server. Use `with FakeSlack() as fake:` (or the `fake_slack` fixture)
    and give the bot `fake.url` as SLACK_API_URL and the two tokens.

    Read: `calls`, `calls_to()`, `messages()`, `message()`, `thread()`, `ephemerals`,
    `uploads`, `published_views`, `responses`, `downloads`, `acks`; poll with `wait_for()`.
    Provoke: `fail_next()`, `latency`, `latency_for`, `drop_connections()`,
    `send_disconnect()`. Slack's rules: rate limits at Slack's published rates
    (`set_limit()`, `ratelimited`), membership (`add_channel()`, `scopes`,
    `delivers()`: events from channels the bot is not in never reach it).
    Drive the app: `send_slash_command()`, `send_event()`,
    `send_envelope()` with payloads from `slash_command_payload()`, `reaction_event()`,
    `app_home_opened_event()`; `add_shared_file()` for files people share.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        bot_user_id: str = "UBOT",
        team_id: str = "T1",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.app_id = "A1"
        self.latency: float = 0.0  # seconds added to every Web API answer
        self.latency_for: dict[str, float] = {}  # and to one method's
        self._lock = threading.RLock()
        self._hub = SocketModeHub(app_id=self.app_id)
        self._ws = Workspace(
            bot_user_id=bot_user_id,
            team_id=team_id,
            app_id=self.app_id,
            new_ticket=self._hub.new_ticket,
        )
        self._calls: list[Call] = []
        self._responses: list[Response] = []
        self._response_uses: dict[str, int] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._downloads: list[str] = []
        self._elsewhere: list[dict[str, str]] = []
        self._limiter = RateLimiter()
        self._ratelimited: list[Call] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        """Bind 127.0.0.1 on a free port and serve from a background thread."""
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"fake Slack did not start: {errors!r}")
        return self

    async def _serve(self) -> None:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/elsewhere/{name}", self._elsewhere_get)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/socket-mode/{ticket}", self._hub.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._ws.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        """Close the sockets, stop the server and join its thread."""
        loop, self._loop = self._loop, None
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            await self._hub.drop_all()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL to give slack_sdk (`SLACK_API_URL`)."""
        return f"{self.base}/api/"

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        """Every Web API request so far, failed ones included."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The Web API requests to one method, e.g. `calls_to("chat.update")`."""
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Msg]:
        """A channel's messages, oldest first: top level only (like conversations.history)
        unless include_replies."""
        with self._lock:
            msgs = self._ws.messages.get(channel, [])
            picked = [m for m in msgs if include_replies or m.thread_ts in (None, m.ts)]
            return copy.deepcopy(picked)

    def message(self, channel: str, ts: str) -> Msg:
        """One message by channel and ts (KeyError when absent)."""
        with self._lock:
            return copy.deepcopy(self._ws.find(channel, ts))

    def thread(self, channel: str, ts: str) -> list[Msg]:
        """The replies in the thread under message `ts`, oldest first."""
        with self._lock:
            msgs = self._ws.messages.get(channel, [])
            return copy.deepcopy([m for m in msgs if m.thread_ts == ts and m.ts != ts])

    @property
    def ephemerals(self) -> list[Ephemeral]:
        """Every chat.postEphemeral message."""
        with self._lock:
            return list(self._ws.ephemerals)

    @property
    def uploads(self) -> list[Upload]:
        """Files the app uploaded and completed (files.completeUploadExternal)."""
        with self._lock:
            return copy.deepcopy(self._ws.uploads)

    @property
    def published_views(self) -> dict[str, dict[str, Any]]:
        """The last view published (views.publish) per user id."""
        with self._lock:
            return copy.deepcopy(self._ws.views)

    @property
    def responses(self) -> list[Response]:
        """Every body POSTed to a response_url, oldest first."""
        with self._lock:
            return list(self._responses)

    def file_info(self, file_id: str) -> dict[str, Any]:
        """The file object as files.info shows it (to build events in tests)."""
        with self._lock:
            return self._ws.file_json(self._ws.files[file_id])

    # ----------------------------------------------------------------- test-side helpers

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next `count` calls to `method` fail: HTTP `status` (429 carries
        Retry-After), or HTTP 200 `{"ok": false, "error": error}` when `error` is given.
        `method` may also be "upload" (the raw file POST)."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(status, retry_after, error, count))

    def clear_faults(self) -> None:
        """Forget the faults queued by `fail_next` that have not fired yet."""
        with self._lock:
            self._faults.clear()

    def set_limit(self, method: str, per_minute: float | None, burst: int = 1) -> None:
        """Change one method's rate limit (None: unlimited); per channel for
        chat.postMessage as Slack counts it."""
        with self._lock:
            old = self._limiter.limits.get(method)
            per_channel = old.per_channel if old is not None else False
            limit = None if per_minute is None else Limit(per_minute, burst, per_channel)
            self._limiter.set(method, limit)

    @property
    def ratelimited(self) -> list[Call]:
        """The calls refused with HTTP 429 by the rate limits (not by `fail_next`)."""
        with self._lock:
            return list(self._ratelimited)

    def add_channel(
        self,
        channel: str,
        *,
        private: bool = False,
        member: bool = False,
        archived: bool = False,
        read_only: bool = False,
    ) -> None:
        """Declare a conversation; undeclared ids are public channels the bot is in."""
        with self._lock:
            self._ws.membership.channels[channel] = Channel(
                channel, private=private, member=member, archived=archived, read_only=read_only
            )

    def channel(self, channel: str) -> Channel:
        """A copy of the channel's state (is the bot a member now?)."""
        with self._lock:
            found = self._ws.membership.get(channel)
            if found is None:
                raise KeyError(channel)
            return copy.copy(found)

    @property
    def scopes(self) -> set[str]:
        """The bot token's scopes; tests may remove some (e.g. `chat:write.public`)."""
        return self._ws.membership.scopes

    def add_shared_file(
        self,
        name: str,
        content: bytes,
        channel: str,
        *,
        user: str = "U1",
        title: str = "",
        external: bool = False,
        url: str | None = None,
    ) -> str:
        """Register a file a person shared in `channel`; returns its file id. `url`
        points its download elsewhere (e.g. `redirect_url`, `elsewhere_url`)."""
        with self._lock:
            return self._ws.add_shared_file(
                name, content, channel, user=user, title=title, external=external, url=url
            )

    def set_usergroup(self, group: str, users: list[str]) -> None:
        """Declare (or change) a user group `S...` and its members."""
        with self._lock:
            self._ws.usergroups[group] = list(users)

    def redirect_url(self, to: str) -> str:
        """A URL on the fake that answers 302 to `to` (a download that redirects)."""
        return f"{self.base}/redirect?{urlencode({'to': to})}"

    @property
    def elsewhere_url(self) -> str:
        """A URL on the fake that stands for a host that is not Slack's; every request to
        it is kept with its headers (`elsewhere_requests`)."""
        # `localhost`, not the fake's 127.0.0.1: the same server under another host name.
        return f"http://localhost:{self._ws.port}/elsewhere/file.jsonl"

    @property
    def elsewhere_requests(self) -> list[dict[str, str]]:
        """The headers of every request that reached `elsewhere_url`."""
        with self._lock:
            return list(self._elsewhere)

    @property
    def downloads(self) -> list[str]:
        """File ids downloaded through url_private_download with the bot token."""
        with self._lock:
            return list(self._downloads)

    def response_url(self) -> str:
        """A fresh response_url on the fake (usable 5 times, like Slack's)."""
        rid = uuid.uuid4().hex[:16]
        with self._lock:
            self._response_uses[rid] = 0
        return f"{self.base}/response/{rid}"

    # ----------------------------------------------------------------- HTTP plumbing

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = dict(request.headers)
        with self._lock:
            call = Call(method, dict(params), headers, time.time(), request.method)
            self._calls.append(call)
            fault = self._take_fault(method)
        delay = self.latency + self.latency_for.get(method, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            return _fault_response(fault)
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.pop("token", "")
        if not self._ws.knows(method):
            return _ok_false("unknown_method")
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return _ok_false("not_authed")
        if token != wanted:
            other = self.bot_token if wanted == self.app_token else self.app_token
            return _ok_false("not_allowed_token_type" if token == other else "invalid_auth")
        with self._lock:
            channel = str(params.get("channel") or params.get("channel_id") or "")
            wait = self._limiter.take(method, channel)
            if wait is not None:
                self._ratelimited.append(call)
        if wait is not None:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(wait)},
            )
        try:
            with self._lock:
                body = self._ws.call(method, params)
        except ApiError as exc:
            return _ok_false(exc.code)
        return web.json_response(body)

    def _take_fault(self, key: str) -> _Fault | None:
        queue = self._faults.get(key)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        with self._lock:
            fault = self._take_fault("upload")
            file = self._ws.files.get(request.match_info["file_id"])
            if fault is None and file is not None and len(data) == file.length:
                file.content = data
        if fault is not None:
            return web.Response(
                status=fault.status, text="upload failed", content_type="text/plain"
            )
        if file is None:
            return web.Response(status=404, text="invalid upload url", content_type="text/plain")
        if len(data) != file.length:
            msg = f"length mismatch: got {len(data)} bytes, announced {file.length}"
            return web.Response(status=400, text=msg, content_type="text/plain")
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/"))

    async def _elsewhere_get(self, request: web.Request) -> web.Response:
        with self._lock:
            self._elsewhere.append(dict(request.headers))
        return web.Response(body=b'{"messages": []}\n', content_type="application/octet-stream")

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["team_file"].split("-", 1)[-1]
        with self._lock:
            file = self._ws.files.get(file_id)
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            # Slack answers a download without the token with its sign-in page, not an error.
            page = "<!DOCTYPE html><html><title>Slack</title><body>Sign in</body></html>"
            return web.Response(text=page, content_type="text/html")
        if file is None or file.content is None:
            return web.Response(status=404, text="file not found", content_type="text/plain")
        with self._lock:
            self._downloads.append(file_id)
        return web.Response(body=file.content, content_type="application/octet-stream")

    async def _response(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            form = await request.post()
            body = json.loads(str(form.get("payload", "{}")))
        with self._lock:
            uses = self._response_uses.get(rid)
            if uses is None or uses >= 5:
                error = "expired_url" if uses is None else "used_url"
                return web.json_response({"ok": False, "error": error}, status=404)
            self._response_uses[rid] = uses + 1
            self._responses.append(Response(rid, body, time.time()))
        return web.json_response({"ok": True})


async def _read_params(request: web.Request) -> Params:
    """Merge query string, form (urlencoded or multipart) and JSON body, as Slack does."""
    params: Params = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return params
        if isinstance(body, dict):
            params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            params[key] = value.file.read() if isinstance(value, web.FileField) else value
    return params


def _ok_false(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


def _fault_response(fault: _Fault) -> web.Response:
    if fault.error:
        return _ok_false(fault.error)
    headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
    error = "ratelimited" if fault.status == 429 else "fatal_error"
    return web.json_response({"ok": False, "error": error}, status=fault.status, headers=headers)
