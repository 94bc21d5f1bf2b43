"""The fake Slack keeps Slack's rules, checked with the real slack_sdk client:
rate limits per method per app (and per channel for chat.postMessage), membership,
the errors Slack answers, conversations.join, and files shared nowhere with alt_txt."""

from __future__ import annotations

import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.url)  # no retry handlers


def error_of(call: object) -> tuple[int, str, str | None]:
    assert isinstance(call, SlackApiError)
    resp = call.response
    return resp.status_code, str(resp["error"]), resp.headers.get("Retry-After")


def test_chat_update_is_tier_3_for_the_whole_app(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    posted = [web.chat_postMessage(channel=f"C{i}", text="x")["ts"] for i in range(5)]
    refused: list[tuple[int, str, str | None]] = []
    for n in range(60):  # spread over five messages: the budget is the app's, not theirs
        try:
            web.chat_update(channel=f"C{n % 5}", ts=posted[n % 5], text=str(n))
        except SlackApiError as exc:
            refused.append(error_of(exc))
    # 50 at once, then 50 a minute (a slow machine may earn a token or two meanwhile).
    assert 7 <= len(refused) <= 10
    assert all(r[:2] == (429, "ratelimited") for r in refused)
    assert all(r[2] is not None and int(r[2]) >= 1 for r in refused)
    assert len(fake_slack.ratelimited) == len(refused)


def test_post_message_is_about_one_a_second_per_channel(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    for _ in range(5):  # a short burst is fine
        web.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel="C1", text="x")
    assert error_of(exc.value) == (429, "ratelimited", "1")
    web.chat_postMessage(channel="C2", text="another channel has its own budget")
    time.sleep(1.05)
    web.chat_postMessage(channel="C1", text="a second later it goes through")
    assert len(fake_slack.messages("C1")) == 6


def test_limits_are_configurable_per_test(fake_slack: FakeSlack) -> None:
    fake_slack.set_limit("chat.postMessage", None)
    web = client(fake_slack)
    for _ in range(30):
        web.chat_postMessage(channel="C1", text="x")
    fake_slack.set_limit("chat.update", 60, burst=1)
    ts = fake_slack.messages("C1")[0].ts
    web.chat_update(channel="C1", ts=ts, text="y")
    with pytest.raises(SlackApiError, match="ratelimited"):
        web.chat_update(channel="C1", ts=ts, text="z")


def test_a_public_channel_never_joined(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("CPUB")
    web = client(fake_slack)
    # chat:write.public: the post goes through...
    ts = web.chat_postMessage(channel="CPUB", text="hello")["ts"]
    # ...but files and reactions need membership, and events from there never arrive.
    with pytest.raises(SlackApiError, match="not_in_channel"):
        web.files_upload_v2(channel="CPUB", content=PNG, filename="c.png")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        web.reactions_add(channel="CPUB", timestamp=ts, name="eyes")
    assert not fake_slack.delivers(fake_slack.reaction_event("white_check_mark", "U1", "CPUB", ts))
    assert fake_slack.send_event(fake_slack.reaction_event("x", "U1", "CPUB", ts)) == {}
    info = web.conversations_info(channel="CPUB")["channel"]
    assert info["is_member"] is False

    joined = web.conversations_join(channel="CPUB")
    assert joined["channel"]["is_member"] is True
    assert web.conversations_join(channel="CPUB")["warning"] == "already_in_channel"
    web.files_upload_v2(channel="CPUB", content=PNG, filename="c.png")
    assert fake_slack.uploads[-1].channel == "CPUB"
    assert fake_slack.delivers(fake_slack.reaction_event("white_check_mark", "U1", "CPUB", ts))


def test_without_chat_write_public_posting_needs_membership(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("CPUB")
    fake_slack.scopes.discard("chat:write.public")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        client(fake_slack).chat_postMessage(channel="CPUB", text="hello")


def test_private_archived_read_only_and_invalid_channels(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("GSECRET", private=True)
    fake_slack.add_channel("CARCH", member=True, archived=True)
    fake_slack.add_channel("CANN", member=True, read_only=True)
    web = client(fake_slack)
    for channel, code in [
        ("GSECRET", "channel_not_found"),
        ("CARCH", "is_archived"),
        ("CANN", "restricted_action_read_only_channel"),
        ("not-a-channel", "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as exc:
            web.chat_postMessage(channel=channel, text="x")
        assert exc.value.response["error"] == code
    with pytest.raises(SlackApiError, match="channel_not_found"):  # invisible to the bot
        web.conversations_join(channel="GSECRET")
    fake_slack.add_channel("GTEAM", private=True, member=True)
    with pytest.raises(SlackApiError, match="method_not_supported_for_channel_type"):
        web.conversations_join(channel="GTEAM")
    with pytest.raises(SlackApiError, match="posting_to_channel_denied"):
        web.files_upload_v2(channel="CANN", content=PNG, filename="c.png")
    with pytest.raises(SlackApiError, match="invalid_channel"):
        web.files_upload_v2(channel="#general", content=PNG, filename="c.png")
    fake_slack.scopes.discard("channels:join")
    with pytest.raises(SlackApiError, match="missing_scope"):
        web.conversations_join(channel="C1")


def test_alt_txt_makes_slack_share_nothing_while_answering_ok(fake_slack: FakeSlack) -> None:
    """python-slack-sdk#1818, as Slack does it today."""
    web = client(fake_slack)
    reply = web.files_upload_v2(channel="C1", content=PNG, filename="c.png", alt_txt="chart")
    assert reply["ok"]
    assert fake_slack.uploads[-1].channel is None
    assert fake_slack.messages("C1") == []
