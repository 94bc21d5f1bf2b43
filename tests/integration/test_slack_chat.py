"""bot.slack_chat.SlackChat against the fake Slack at Slack's own limits: progress within
one budget and dropped rather than waited for, final updates that land whatever it takes,
joining before working in a channel, membership errors with the invite advice, and
every failure (a refusal, a 429, a failed raw upload, a dead host) as a ChatError."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bot.slack_budget import UpdateBudget
from bot.slack_chat import SlackChat, make_web_client
from commands.ports import ChatError, Posted, Upload
from tests.fakes.slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class Seen:
    """A SlackObserver that remembers outcomes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def slack_call(self, method: str, outcome: str) -> None:
        self.calls.append((method, outcome))


def chat_for(fake: FakeSlack, budget: UpdateBudget | None = None) -> tuple[SlackChat, Seen]:
    seen = Seen()
    client = make_web_client(fake.bot_token, fake.url, seen)
    return SlackChat(client, budget=budget, observer=seen), seen


async def test_progress_of_many_messages_shares_one_budget_and_never_waits(
    fake_slack: FakeSlack,
) -> None:
    chat, seen = chat_for(fake_slack)  # the default budget: 20 a minute, bursts of 5
    fake_slack.set_limit("chat.postMessage", None)
    messages = [await chat.post(f"C{i}", "running") for i in range(10)]
    started = time.monotonic()
    for tick in range(30):  # ten runs refreshing every 0.1 s
        for where in messages:
            await chat.update(where, f"{tick}", progress=True)
    assert time.monotonic() - started < 5.0
    sent = fake_slack.calls_to("chat.update")
    assert 1 <= len(sent) <= 6  # the burst, well under Slack's 50 a minute
    assert fake_slack.ratelimited == []
    assert seen.calls.count(("chat.update", "dropped")) == 300 - len(sent)


async def test_a_429_drops_progress_at_once_and_closes_the_budget(fake_slack: FakeSlack) -> None:
    chat, seen = chat_for(fake_slack, UpdateBudget(per_minute=600, burst=5))
    where = await chat.post("C1", "running")
    fake_slack.fail_next("chat.update", status=429, retry_after=30)
    started = time.monotonic()
    await chat.update(where, "1/10", progress=True)
    await chat.update(where, "2/10", progress=True)  # the budget is closed: not even sent
    assert time.monotonic() - started < 1.0  # nobody slept through Retry-After
    assert len(fake_slack.calls_to("chat.update")) == 1
    assert ("chat.update", "ratelimited") in seen.calls
    assert fake_slack.message("C1", where.ts).text == "running"


async def test_the_final_update_lands_after_any_number_of_refusals(fake_slack: FakeSlack) -> None:
    chat, _ = chat_for(fake_slack, UpdateBudget(per_minute=6000, burst=5))
    where = await chat.post("C1", "running")
    fake_slack.fail_next("chat.update", status=429, retry_after=0, count=8)
    fake_slack.fail_next("chat.update", status=503, count=1)
    fake_slack.fail_next("chat.update", status=429, retry_after=1, count=1)
    await asyncio.wait_for(chat.update(where, "*finished* 7/10 passed"), 15)
    assert len(fake_slack.calls_to("chat.update")) == 11  # more than slack_sdk's 5 retries
    assert fake_slack.message("C1", where.ts).text == "*finished* 7/10 passed"
    assert len(fake_slack.messages("C1")) == 1  # no second message


async def test_a_slow_progress_refresh_never_overwrites_the_final(fake_slack: FakeSlack) -> None:
    chat, _ = chat_for(fake_slack)
    where = await chat.post("C1", "running")
    fake_slack.latency_for["chat.update"] = 0.3
    refresh = asyncio.create_task(chat.update(where, "9/10", progress=True))
    await asyncio.sleep(0.05)  # the refresh is on the wire
    await chat.update(where, "finished")
    await chat.update(where, "10/10", progress=True)  # too late: dropped
    await refresh
    assert fake_slack.message("C1", where.ts).text == "finished"
    assert [c.params["text"] for c in fake_slack.calls_to("chat.update")] == ["9/10", "finished"]


async def test_a_final_update_refused_for_good_raises(fake_slack: FakeSlack) -> None:
    chat, _ = chat_for(fake_slack)
    with pytest.raises(ChatError) as exc:
        await chat.update(Posted("C1", "1.000001"), "finished")
    assert exc.value.code == "message_not_found" and not exc.value.retryable


async def test_the_bot_joins_a_public_channel_before_working_there(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("CPUB")  # public, never joined
    chat, _ = chat_for(fake_slack)
    where = await chat.post("CPUB", "run r1")
    await chat.upload("CPUB", Upload("chart.png", PNG, "Pass rate", "a chart"), thread_ts=where.ts)
    await chat.react(where, "eyes")
    assert fake_slack.channel("CPUB").member
    assert len(fake_slack.calls_to("conversations.join")) == 1  # once per channel
    [upload] = fake_slack.uploads
    assert upload.channel == "CPUB" and upload.thread_ts == where.ts  # shared, not lost
    assert all("alt_txt" not in c.params for c in fake_slack.calls)  # python-slack-sdk#1818
    approval = fake_slack.reaction_event("white_check_mark", "U1", "CPUB", where.ts)
    assert fake_slack.delivers(approval)  # a member now: reactions there reach the bot


@pytest.mark.parametrize(
    ("setup", "channel", "code"),
    [
        ({"private": True}, "GSECRET", "channel_not_found"),
        ({"member": True, "read_only": True}, "CANN", "restricted_action_read_only_channel"),
        ({}, "not-a-channel", "channel_not_found"),
    ],
)
async def test_membership_errors_carry_the_invite_advice(
    fake_slack: FakeSlack, setup: dict[str, bool], channel: str, code: str
) -> None:
    if setup:
        fake_slack.add_channel(channel, **setup)
    chat, _ = chat_for(fake_slack)
    with pytest.raises(ChatError) as exc:
        await chat.post(channel, "hello")
    assert exc.value.code == code and not exc.value.retryable
    assert "/invite @evalbot" in exc.value.advice


def test_every_membership_code_gets_the_invite_advice() -> None:
    for code in ("not_in_channel", "no_permission", "invalid_channel", "posting_to_channel_denied"):
        assert "/invite @evalbot" in ChatError(code).advice, code


async def test_without_channels_join_an_upload_there_fails_with_the_advice(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.add_channel("CPUB")
    fake_slack.scopes.discard("channels:join")
    chat, _ = chat_for(fake_slack)
    await chat.post("CPUB", "posted with chat:write.public")
    with pytest.raises(ChatError) as exc:
        await chat.upload("CPUB", Upload("chart.png", PNG))
    assert exc.value.code == "not_in_channel" and "/invite" in exc.value.advice


async def test_a_failed_raw_upload_and_a_dead_host_are_retryable_chat_errors(
    fake_slack: FakeSlack,
) -> None:
    chat, _ = chat_for(fake_slack)
    fake_slack.fail_next("upload", status=500, count=5)  # past the client's own retries
    with pytest.raises(ChatError) as exc:
        await chat.upload("C1", Upload("chart.png", PNG))
    assert exc.value.code == "upload_failed" and exc.value.retryable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/api/"
    nowhere = SlackChat(make_web_client(fake_slack.bot_token, dead))
    with pytest.raises(ChatError) as exc:
        await nowhere.post("C1", "hello")
    assert exc.value.code == "network" and exc.value.retryable


async def test_a_burst_asks_slack_for_a_groups_members_once(fake_slack: FakeSlack) -> None:
    """usergroups.users.list is Tier 2: fifteen commands arriving together (each checks
    EVALBOT_RUNNERS) share one lookup instead of meeting the limit and waiting out 429s."""
    fake_slack.set_usergroup("S0EVALS", ["U1", "U2"])
    chat, _ = chat_for(fake_slack)
    answers = await asyncio.gather(*(chat.group_members("S0EVALS") for _ in range(15)))
    assert all(a == frozenset({"U1", "U2"}) for a in answers)
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1
    assert not fake_slack.ratelimited
