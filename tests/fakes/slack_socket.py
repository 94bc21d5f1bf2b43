"""What the fake Slack sends to the app: Socket Mode envelopes and the payloads in them.

`SocketModeHub` runs on the fake server's event loop; `SlackToApp`, mixed into
`FakeSlack` (tests/fakes/slack.py), bridges the synchronous test thread to it and builds
the payloads (slash commands, events) and HTTP-mode signatures. The wire format follows
Slack's: a `hello` on connect, envelopes `{"envelope_id", "type", "payload",
"accepts_response_payload"}`, acks `{"envelope_id", "payload"?}` back from the app, and
`disconnect` messages.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from tests.fakes.slack_web import Workspace

T = TypeVar("T")


def sign_request(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to an HTTP request: `v0=` HMAC-SHA256 of `v0:{ts}:{body}`."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(ts)}


@dataclass(frozen=True)
class Ack:
    """An acknowledgement the app sent back for one envelope."""

    envelope_id: str
    type: str
    payload: dict[str, Any] | None
    latency_s: float
    time: float


@dataclass
class _Pending:
    envelope_type: str
    sent_at: float
    future: asyncio.Future[Ack]


@dataclass
class SocketModeHub:
    """Accepts the app's websockets and delivers envelopes to them.

    Tickets come from `apps.connections.open`; an unknown ticket is refused with 401.
    All state a test may read is guarded by `lock`.
    """

    app_id: str = "A1"
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections_opened: int = 0
    acks: list[Ack] = field(default_factory=list)
    received: list[Any] = field(default_factory=list)
    _tickets: set[str] = field(default_factory=set)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict)

    def new_ticket(self) -> str:
        """Issue a ticket for one `ws://.../socket-mode/<ticket>` URL."""
        ticket = uuid.uuid4().hex
        with self.lock:
            self._tickets.add(ticket)
        return ticket

    @property
    def connection_count(self) -> int:
        """Websockets open right now."""
        with self.lock:
            return sum(1 for ws in self._sockets if not ws.closed)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for `GET /socket-mode/{ticket}`."""
        ticket = request.match_info["ticket"]
        with self.lock:
            known = ticket in self._tickets
        if not known:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        # A short close timeout: a bot killed mid-test must not stall the fake's shutdown.
        ws = web.WebSocketResponse(timeout=2.0, autoping=True)
        await ws.prepare(request)
        with self.lock:
            self._sockets.append(ws)
            self.connections_opened += 1
            open_now = sum(1 for s in self._sockets if not s.closed)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": open_now,
                "debug_info": {
                    "host": "applink-fake-1",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(msg.data)
        finally:
            with self.lock:
                if ws in self._sockets:
                    self._sockets.remove(ws)
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = data
        if not isinstance(message, dict) or "envelope_id" not in message:
            with self.lock:
                self.received.append(message)
            return
        envelope_id = str(message["envelope_id"])
        now = time.monotonic()
        with self.lock:
            pending = self._pending.pop(envelope_id, None)
            ack = Ack(
                envelope_id=envelope_id,
                type=pending.envelope_type if pending else "unknown",
                payload=message.get("payload"),
                latency_s=now - pending.sent_at if pending else 0.0,
                time=time.time(),
            )
            self.acks.append(ack)
        if pending is not None and not pending.future.done():
            pending.future.set_result(ack)

    async def _wait_socket(self, deadline: float) -> web.WebSocketResponse:
        while True:
            with self.lock:
                live = [ws for ws in self._sockets if not ws.closed]
            if live:
                return live[-1]  # the newest, as a refreshed app stops reading the old one
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "fake Slack: no Socket Mode connection is open "
                    f"({self.connections_opened} opened so far); is the app running?"
                )
            await asyncio.sleep(0.01)

    async def deliver(self, envelope: dict[str, Any], timeout: float) -> Ack:
        """Send one envelope to the newest open socket and wait for its ack."""
        deadline = time.monotonic() + timeout
        ws = await self._wait_socket(deadline)
        envelope_id = str(envelope["envelope_id"])
        loop = asyncio.get_running_loop()
        pending = _Pending(str(envelope["type"]), time.monotonic(), loop.create_future())
        with self.lock:
            self._pending[envelope_id] = pending
        await ws.send_json(envelope)
        try:
            return await asyncio.wait_for(pending.future, max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            with self.lock:
                self._pending.pop(envelope_id, None)
            raise AssertionError(
                f"fake Slack: no ack for {envelope['type']} envelope {envelope_id} within "
                f"{timeout:.1f}s (Slack wants one within 3s); envelope={envelope!r}"
            ) from None

    async def drop_all(self) -> None:
        """Close every socket from the server side, as Slack does on a deploy."""
        with self.lock:
            sockets = list(self._sockets)
        await asyncio.gather(*(ws.close(code=1001) for ws in sockets), return_exceptions=True)

    async def send_to_all(self, message: dict[str, Any]) -> None:
        """Send one control message (for example `disconnect`) to every open socket."""
        with self.lock:
            sockets = [ws for ws in self._sockets if not ws.closed]
        await asyncio.gather(*(ws.send_json(message) for ws in sockets), return_exceptions=True)


def envelope(
    kind: str,
    payload: dict[str, Any],
    *,
    accepts_response_payload: bool,
    retry_attempt: int | None = None,
    retry_reason: str | None = None,
) -> dict[str, Any]:
    """Wrap a payload in a Socket Mode envelope with a fresh envelope_id."""
    env: dict[str, Any] = {
        "envelope_id": str(uuid.uuid4()),
        "type": kind,
        "payload": payload,
        "accepts_response_payload": accepts_response_payload,
    }
    if retry_attempt is not None:
        env["retry_attempt"] = retry_attempt
        env["retry_reason"] = retry_reason or ""
    return env


def _ack_dict(ack: Ack) -> dict[str, Any]:
    out: dict[str, Any] = {"envelope_id": ack.envelope_id}
    if ack.payload is not None:
        out["payload"] = ack.payload
    return out


class SlackToApp:
    """Test-side, thread-safe API for what Slack sends to the app (mixed into FakeSlack)."""

    team_id: str
    app_id: str
    bot_user_id: str
    _hub: SocketModeHub
    _loop: asyncio.AbstractEventLoop | None
    _lock: threading.RLock
    _ws: Workspace

    def response_url(self) -> str:
        """A fresh response_url (FakeSlack implements it)."""
        raise NotImplementedError

    @staticmethod
    def wait_for(
        predicate: Callable[[], T],
        timeout: float = 10.0,
        *,
        message: str = "",
        interval: float = 0.02,
    ) -> T:
        """Poll `predicate` until it returns something truthy and return that value.

        Exceptions from the predicate count as "not yet" (so `lambda: fake.messages(c)[0]`
        works); on timeout raise AssertionError with the last value or exception.
        """
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
                last = value
            except Exception as exc:  # noqa: BLE001 - reported below
                last = exc
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s {message}: last={last!r}")
            time.sleep(interval)

    @property
    def acks(self) -> list[Ack]:
        """Every Socket Mode ack received, with its latency."""
        with self._hub.lock:
            return list(self._hub.acks)

    @property
    def connection_count(self) -> int:
        """Socket Mode websockets open now."""
        return self._hub.connection_count

    @property
    def connections_opened(self) -> int:
        """Socket Mode websockets opened since start."""
        with self._hub.lock:
            return self._hub.connections_opened

    def slash_command_payload(
        self,
        command: str = "/eval",
        text: str = "help",
        user_id: str = "U1",
        channel_id: str = "C1",
        user_name: str = "alice",
    ) -> dict[str, str]:
        """The form fields Slack sends for a slash command (with a fresh response_url)."""
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "team_domain": "fake-team",
            "channel_id": channel_id,
            "channel_name": f"channel-{channel_id.lower()}",
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.response_url(),
            "trigger_id": f"{self._ws.new_id('')}.{int(time.time())}.{uuid.uuid4().hex}",
        }

    def _event_callback(self, event: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        event.setdefault("event_ts", f"{now:.6f}")
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:16].upper(),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + uuid.uuid4().hex,
        }

    def reaction_event(
        self,
        reaction: str,
        user: str,
        channel: str,
        ts: str,
        added: bool = True,
        item_user: str | None = None,
    ) -> dict[str, Any]:
        """An events_api `event_callback` for reaction_added / reaction_removed on a message
        (item_user defaults to the bot: someone reacting to the bot's message)."""
        return self._event_callback(
            {
                "type": "reaction_added" if added else "reaction_removed",
                "user": user,
                "reaction": reaction,
                "item": {"type": "message", "channel": channel, "ts": ts},
                "item_user": item_user or self.bot_user_id,
            }
        )

    def app_home_opened_event(self, user: str) -> dict[str, Any]:
        """An events_api `event_callback` for app_home_opened on the Home tab."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user.lstrip("UW"),
            "tab": "home",
        }
        with self._lock:
            if user in self._ws.views:
                event["view"] = copy.deepcopy(self._ws.views[user])
        return self._event_callback(event)

    # ----------------------------------------------------------------- Socket Mode

    def _on_loop(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None:
            raise RuntimeError("fake Slack is not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout + 5)

    def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> Ack:
        """Push any Socket Mode envelope (e.g. "interactive") and return the app's ack."""
        env = envelope(
            kind,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        return self._on_loop(self._hub.deliver(env, timeout), timeout)

    def send_slash_command(self, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Deliver a slash command over Socket Mode; returns the ack
        `{"envelope_id": ..., "payload": ...}` (AssertionError when none comes)."""
        ack = self.send_envelope(
            "slash_commands", payload, timeout=timeout, accepts_response_payload=True
        )
        return _ack_dict(ack)

    def delivers(self, event_callback: dict[str, Any]) -> bool:
        """Whether Slack would send this event to the app at all: events from a
        conversation the bot is not a member of never reach it (chat:write.public lets it
        post there, but reactions to that post are not delivered)."""
        event = event_callback.get("event") or {}
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        channel = str(item.get("channel") or event.get("channel") or "")
        if not channel:
            return True
        with self._lock:
            return self._ws.membership.delivers(channel)

    def send_event(
        self,
        event_callback: dict[str, Any],
        timeout: float = 5.0,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> dict[str, Any]:
        """Deliver an events_api envelope (a redelivery when retry_attempt > 0); `{}` when
        Slack would not deliver it (see `delivers`)."""
        if not self.delivers(event_callback):
            return {}
        ack = self.send_envelope(
            "events_api",
            event_callback,
            timeout=timeout,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        return _ack_dict(ack)

    async def send_slash_command_async(
        self, payload: dict[str, Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        """`send_slash_command` for a test whose app runs on the test's own event loop."""
        return await asyncio.to_thread(self.send_slash_command, payload, timeout)

    async def send_event_async(
        self, event_callback: dict[str, Any], timeout: float = 5.0, retry_attempt: int = 0
    ) -> dict[str, Any]:
        """`send_event` for a test whose app runs on the test's own event loop."""
        return await asyncio.to_thread(self.send_event, event_callback, timeout, retry_attempt)

    def drop_connections(self) -> None:
        """Close every Socket Mode websocket from the server side."""
        self._on_loop(self._hub.drop_all(), 5.0)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` message to every open socket."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        self._on_loop(self._hub.send_to_all(message), 5.0)

    def wait_connected(self, timeout: float = 10.0, *, opened: int = 1) -> None:
        """Wait until a socket is open and at least `opened` were opened in total."""
        self.wait_for(
            lambda: self.connection_count > 0 and self.connections_opened >= opened,
            timeout,
            message=f"waiting for Socket Mode connection #{opened}",
        )
