"""The fake Slack against the real clients: slack_sdk (sync and async) and slack_bolt.

If these pass, the bot's Slack code meets the same wire format against the fake as
against Slack; the fake is only as good as this file.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import FakeSlack, sign_request

T = TypeVar("T")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def async_client(fake: FakeSlack, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token or fake.bot_token, base_url=fake.url)


def sync_client(fake: FakeSlack, token: str | None = None) -> WebClient:
    return WebClient(token=token or fake.bot_token, base_url=fake.url)


# --------------------------------------------------------------------------- Web API


def test_auth_test_with_both_clients(fake_slack: FakeSlack) -> None:
    sync = sync_client(fake_slack).auth_test()
    asynchronous = run(async_client(fake_slack).auth_test())

    for reply in (sync, asynchronous):
        assert reply["user_id"] == "UBOT"
        assert reply["team_id"] == "T1"
        assert reply["bot_id"]
    headers = {k.lower(): v for k, v in sync.headers.items()}
    assert headers["content-type"].startswith("application/json")


def test_bad_tokens_and_unknown_methods_answer_like_slack(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as bad:
        sync_client(fake_slack, token="xoxb-wrong").auth_test()
    assert bad.value.response.status_code == 200
    assert bad.value.response["error"] == "invalid_auth"

    with pytest.raises(SlackApiError) as missing:
        run(AsyncWebClient(base_url=fake_slack.url).auth_test())
    assert missing.value.response["error"] == "not_authed"

    with pytest.raises(SlackApiError) as app_token:
        run(
            async_client(fake_slack, token=fake_slack.app_token).chat_postMessage(
                channel="C1", text="x"
            )
        )
    assert app_token.value.response["error"] == "not_allowed_token_type"

    with pytest.raises(SlackApiError) as unknown:
        sync_client(fake_slack).api_call("chat.frobnicate")
    assert unknown.value.response["error"] == "unknown_method"


def test_post_update_and_thread(fake_slack: FakeSlack) -> None:
    async def scenario() -> tuple[str, str, str]:
        client = async_client(fake_slack)
        first = await client.chat_postMessage(channel="C1", text="run r1: 0/10")
        for done in (5, 10):
            await client.chat_update(channel="C1", ts=first["ts"], text=f"run r1: {done}/10")
        reply = await client.chat_postMessage(channel="C1", thread_ts=first["ts"], text="fail 3")
        # A reply to a reply lands in the root's thread, as in Slack.
        nested = await client.chat_postMessage(channel="C1", thread_ts=reply["ts"], text="fail 7")
        with pytest.raises(SlackApiError) as missing:
            await client.chat_update(channel="C1", ts="1.000000", text="x")
        assert missing.value.response["error"] == "message_not_found"
        with pytest.raises(SlackApiError) as no_channel:
            await client.chat_postMessage(channel="", text="x")
        assert no_channel.value.response["error"] == "channel_not_found"
        return first["ts"], reply["ts"], nested["ts"]

    root, reply, nested = run(scenario())

    assert float(root) < float(reply) < float(nested)
    [message] = fake_slack.messages("C1")
    assert (message.ts, message.text, message.updates) == (root, "run r1: 10/10", 2)
    assert [m.text for m in fake_slack.thread("C1", root)] == ["fail 3", "fail 7"]
    assert len(fake_slack.messages("C1", include_replies=True)) == 3
    assert len(fake_slack.calls_to("chat.update")) == 3


def test_sync_client_form_bodies_and_blocks(fake_slack: FakeSlack) -> None:
    client = sync_client(fake_slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*7/10 passed*"}}]
    posted = client.chat_postMessage(channel="C2", text="fallback", blocks=blocks)
    client.api_call("chat.update", data={"channel": "C2", "ts": posted["ts"], "text": "v2"})

    message = fake_slack.message("C2", posted["ts"])
    assert message.blocks == blocks  # kept: the update left blocks out
    assert message.text == "v2"
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as invalid:
        client.chat_postMessage(channel="C2", text="x", blocks=too_long)
    assert invalid.value.response["error"] == "invalid_blocks"


def test_post_ephemeral_and_permalink(fake_slack: FakeSlack) -> None:
    async def scenario() -> tuple[str, str]:
        client = async_client(fake_slack)
        eph = await client.chat_postEphemeral(channel="C1", user="U1", text="usage: /eval run")
        posted = await client.chat_postMessage(channel="C1", text="hello")
        link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
        return eph["message_ts"], link["permalink"]

    message_ts, permalink = run(scenario())

    [eph] = fake_slack.ephemerals
    assert (eph.channel, eph.user, eph.text, eph.message_ts) == (
        "C1",
        "U1",
        "usage: /eval run",
        message_ts,
    )
    assert fake_slack.messages("C1")[0].ts.replace(".", "") in permalink


@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_files_upload_v2_end_to_end(fake_slack: FakeSlack, flavour: str) -> None:
    parent = sync_client(fake_slack).chat_postMessage(channel="C1", text="comparison")["ts"]
    kwargs: dict[str, Any] = {
        "channel": "C1",
        "content": PNG,
        "filename": "c.png",
        "thread_ts": parent,
        "initial_comment": "pass rate by model",
    }
    reply: Any
    if flavour == "async":
        reply = run(async_client(fake_slack).files_upload_v2(**kwargs))
    else:
        reply = sync_client(fake_slack).files_upload_v2(**kwargs)

    [upload] = fake_slack.uploads
    assert upload.bytes == PNG
    assert (upload.filename, upload.channel, upload.thread_ts) == ("c.png", "C1", parent)
    assert (upload.title, upload.initial_comment) == ("c.png", "pass rate by model")
    assert reply["file"]["id"] == upload.file_id
    assert [c.method for c in fake_slack.calls[1:]] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    [shared] = fake_slack.thread("C1", parent)
    assert shared.files == [upload.file_id]
    assert shared.text == "pass rate by model"


def test_upload_with_wrong_length_is_refused(fake_slack: FakeSlack) -> None:
    client = sync_client(fake_slack)
    target = client.files_getUploadURLExternal(filename="a.png", length=10)
    request = urllib.request.Request(target["upload_url"], data=b"123", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    refused.value.close()
    with pytest.raises(SlackApiError) as incomplete:
        client.files_completeUploadExternal(files=[{"id": target["file_id"]}], channel_id="C1")
    assert incomplete.value.response["error"] == "file_not_found"


def test_shared_file_info_and_private_download(fake_slack: FakeSlack) -> None:
    data = b'{"messages": []}\n' * 3
    file_id = fake_slack.add_shared_file("train.jsonl", data, "C1")

    info = run(async_client(fake_slack).files_info(file=file_id))["file"]
    assert info["name"] == "train.jsonl"
    assert info["channels"] == ["C1"]

    url = info["url_private_download"]
    authed = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {fake_slack.bot_token}"}
    )
    with urllib.request.urlopen(authed, timeout=5) as resp:
        assert resp.read() == data
    with urllib.request.urlopen(url, timeout=5) as resp:  # no token: Slack's sign-in page
        assert resp.headers.get_content_type() == "text/html"
    assert fake_slack.downloads == [file_id]
    assert fake_slack.messages("C1")[0].files == [file_id]


def test_reactions_like_slack(fake_slack: FakeSlack) -> None:
    client = sync_client(fake_slack)
    ts = client.chat_postMessage(channel="C1", text="proposal p1")["ts"]
    client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")

    with pytest.raises(SlackApiError) as duplicate:
        client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")
    assert duplicate.value.response["error"] == "already_reacted"
    assert fake_slack.message("C1", ts).reactions == {"white_check_mark": ["UBOT"]}

    client.reactions_remove(channel="C1", timestamp=ts, name="white_check_mark")
    assert fake_slack.message("C1", ts).reactions == {}
    with pytest.raises(SlackApiError) as gone:
        client.reactions_remove(channel="C1", timestamp=ts, name="white_check_mark")
    assert gone.value.response["error"] == "no_reaction"


def test_views_publish_json_and_form(fake_slack: FakeSlack) -> None:
    view = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    run(async_client(fake_slack).views_publish(user_id="U1", view=view))
    sync_client(fake_slack).api_call(
        "views.publish", data={"user_id": "U2", "view": '{"type": "home", "blocks": []}'}
    )

    views = fake_slack.published_views
    assert views["U1"]["blocks"] == view["blocks"]
    assert views["U2"]["blocks"] == []
    assert fake_slack.app_home_opened_event("U1")["event"]["view"]["id"] == views["U1"]["id"]


def test_get_methods_read_the_query_string(fake_slack: FakeSlack) -> None:
    async def scenario() -> tuple[Any, Any]:
        client = async_client(fake_slack)
        return await client.users_info(user="U1"), await client.conversations_info(channel="C9")

    user, channel = run(scenario())

    assert user["user"]["id"] == "U1"
    assert channel["channel"]["id"] == "C9"
    [call] = fake_slack.calls_to("users.info")
    assert (call.http_method, call.params) == ("GET", {"user": "U1"})


def test_rate_limit_retried_by_async_and_sync_clients(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    client = async_client(fake_slack)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    assert run(client.chat_postMessage(channel="C1", text="x"))["ok"]

    fake_slack.fail_next("chat.update", status=429, retry_after=0)
    sync = sync_client(fake_slack)
    sync.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    ts = fake_slack.messages("C1")[0].ts
    assert sync.chat_update(channel="C1", ts=ts, text="y")["ok"]

    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert len(fake_slack.calls_to("chat.update")) == 2
    assert len(fake_slack.messages("C1")) == 1


def test_injected_errors_and_latency(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", error="fatal_error", count=2)
    client = sync_client(fake_slack)
    for _ in range(2):
        with pytest.raises(SlackApiError, match="fatal_error"):
            client.chat_postMessage(channel="C1", text="x")
    assert client.chat_postMessage(channel="C1", text="x")["ok"]

    fake_slack.latency_for["auth.test"] = 0.2
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2


def test_response_url_records_posts(fake_slack: FakeSlack) -> None:
    payload = fake_slack.slash_command_payload(text="run basic gpt-4.1-mini")

    async def scenario() -> int:
        hook = AsyncWebhookClient(payload["response_url"])
        await hook.send(text="started r1", response_type="ephemeral")
        return (await hook.send(text="done", replace_original=True)).status_code

    assert run(scenario()) == 200
    first, second = fake_slack.responses
    assert first.id == second.id == payload["response_url"].rsplit("/", 1)[1]
    assert first.body == {"text": "started r1", "response_type": "ephemeral"}
    assert second.body["replace_original"] is True


def test_sign_request_is_what_slack_sdk_verifies() -> None:
    body = b"command=%2Feval&text=help"
    headers = sign_request("s3cret", body)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)


# --------------------------------------------------------------------------- Socket Mode


class BoltApp:
    """A real AsyncApp + AsyncSocketModeHandler on its own loop, as in the bot process."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.retry_nums: list[str | None] = []
        self.reactions: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.handler: AsyncSocketModeHandler | None = None

    async def _start(self) -> None:
        web = AsyncWebClient(token=self.fake.bot_token, base_url=self.fake.url)
        app = AsyncApp(client=web)

        @app.command("/eval")
        async def eval_command(ack: Any, command: dict[str, Any]) -> None:
            await ack(text=f"got: {command['text']}")

        @app.event("reaction_added")
        async def reaction(event: dict[str, Any], request: Any) -> None:
            self.reactions.append(event["reaction"])
            self.retry_nums.append(request.headers.get("x-slack-retry-num", [None])[0])

        self.handler = AsyncSocketModeHandler(
            app, self.fake.app_token, web_client=AsyncWebClient(base_url=self.fake.url)
        )
        await self.handler.connect_async()

    def start(self) -> BoltApp:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        if self.handler is not None:
            asyncio.run_coroutine_threadsafe(self.handler.close_async(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def bolt_app(fake_slack: FakeSlack) -> Iterator[BoltApp]:
    app = BoltApp(fake_slack).start()
    try:
        yield app
    finally:
        app.stop()


def test_slash_command_acked_and_reconnect_after_drop(
    fake_slack: FakeSlack, bolt_app: BoltApp
) -> None:
    fake_slack.wait_connected(5)
    ack = fake_slack.send_slash_command(fake_slack.slash_command_payload(text="help"))
    assert ack["payload"] == {"text": "got: help"}
    assert fake_slack.acks[-1].latency_s < 3

    fake_slack.drop_connections()
    fake_slack.wait_connected(5, opened=2)
    ack = fake_slack.send_slash_command(fake_slack.slash_command_payload(text="suites"))
    assert ack["payload"] == {"text": "got: suites"}
    assert len(fake_slack.calls_to("apps.connections.open")) == 2

    fake_slack.send_disconnect()
    fake_slack.wait_connected(5, opened=3)
    ack = fake_slack.send_slash_command(fake_slack.slash_command_payload(text="status"))
    assert ack["payload"] == {"text": "got: status"}


def test_events_api_envelope_acked_with_retry_headers(
    fake_slack: FakeSlack, bolt_app: BoltApp
) -> None:
    event = fake_slack.reaction_event("white_check_mark", "U1", "C1", "1700000000.000100")
    ack = fake_slack.send_event(event)
    again = fake_slack.send_event(event, retry_attempt=1, retry_reason="timeout")

    assert set(ack) == set(again) == {"envelope_id"}
    fake_slack.wait_for(lambda: len(bolt_app.reactions) == 2)
    assert bolt_app.retry_nums == ["0", "1"]  # Bolt does not deduplicate: the app must


def test_no_ack_is_an_assertion_error(fake_slack: FakeSlack, bolt_app: BoltApp) -> None:
    # Bolt answers 404 for an event nobody listens to, and then sends no ack at all.
    event = fake_slack.app_home_opened_event("U1")
    with pytest.raises(AssertionError, match="no ack"):
        fake_slack.send_event(event, timeout=0.5)
