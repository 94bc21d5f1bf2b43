"""The real bot process in Socket Mode (the default of `make run`) against the fake Slack."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import BotProcess, start_bot
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, FakeSlack]]:
    tmp = tmp_path_factory.mktemp("socket")
    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini"]) as openai:
        bot = start_bot(tmp, slack, openai, mode="socket")
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


def test_reaction_event_is_acked_and_redelivery_ignored(
    world: tuple[BotProcess, FakeSlack],
) -> None:
    bot, slack = world
    event = slack.reaction_event("white_check_mark", "U2", "C1", "1700000000.000100")
    first = slack.send_event(event)
    again = slack.send_event(event, retry_attempt=1, retry_reason="timeout")
    assert first["envelope_id"] and again["envelope_id"]
    handled = slack.wait_for(lambda: bot.log().count("reaction white_check_mark") or None)
    time.sleep(0.5)
    assert handled == 1
    assert bot.log().count("reaction white_check_mark") == 1
    assert "redelivered event ignored" in bot.log()


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
