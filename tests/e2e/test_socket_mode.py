"""The real bot process in Socket Mode (the default of `make run`) against the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import BotProcess, start_bot
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, FakeSlack]]:
    tmp = tmp_path_factory.mktemp("socket")
    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini"]) as openai:
        bot = start_bot(tmp, slack, openai, mode="socket", extra={"EVALBOT_APPROVERS": "U0APR"})
        try:
            slack.wait_connected(timeout=15)
            yield bot, slack
        finally:
            bot.stop()


def test_slash_command_is_acked_with_help(world: tuple[BotProcess, FakeSlack]) -> None:
    _, slack = world
    ack = slack.send_slash_command(slack.slash_command_payload(text="help"))
    assert "/eval run <suite> <model>" in ack["payload"]["text"]
    assert slack.acks[-1].latency_s < 3.0


def test_bad_command_is_acked_with_the_reason(world: tuple[BotProcess, FakeSlack]) -> None:
    _, slack = world
    ack = slack.send_slash_command(slack.slash_command_payload(text="run nosuch gpt-4.1-mini"))
    assert "There is no suite `nosuch`" in ack["payload"]["text"]
    assert ack["payload"]["response_type"] == "ephemeral"


def test_reaction_promotes_and_redelivery_is_ignored(world: tuple[BotProcess, FakeSlack]) -> None:
    bot, slack = world
    slack.send_slash_command(slack.slash_command_payload(text="run ticket-routing gpt-4.1-mini"))
    slack.wait_for(  # a proposal needs a finished, complete run of the candidate
        lambda: (bot.get("/api/runs/r1")[1] or {}).get("status") == "finished" or None, timeout=60
    )
    ack = slack.send_slash_command(
        slack.slash_command_payload(command="/promote", text="ticket-routing gpt-4.1-mini")
    )
    assert "Proposing" in ack["payload"]["text"]
    msg = slack.wait_for(
        lambda: next((m for m in slack.messages("C1") if "*Proposal p1*" in m.text), None)
    )
    event = slack.reaction_event("white_check_mark", "U0APR", "C1", msg.ts)
    first = slack.send_event(event)
    again = slack.send_event(event, retry_attempt=1, retry_reason="timeout")
    assert first["envelope_id"] and again["envelope_id"]
    slack.wait_for(lambda: "*Approved*" in slack.message("C1", msg.ts).text or None)
    slack.wait_for(lambda: "redelivered event ignored" in bot.log() or None)
    status, body = bot.get("/api/aliases/ticket-routing")
    assert status == 200 and len(body["history"]) == 1
    assert len(slack.thread("C1", msg.ts)) == 1


def test_dropped_connection_is_reconnected(world: tuple[BotProcess, FakeSlack]) -> None:
    _, slack = world
    opened = slack.connections_opened
    slack.drop_connections()
    slack.wait_connected(timeout=15, opened=opened + 1)
    ack = slack.send_slash_command(slack.slash_command_payload(text="help"))
    assert "/eval" in ack["payload"]["text"]
    slack.send_disconnect()
    slack.wait_connected(timeout=15, opened=opened + 2)
    ack = slack.send_slash_command(slack.slash_command_payload(text="help", command="/models"))
    assert ack["payload"]["text"].startswith("*/models*")
