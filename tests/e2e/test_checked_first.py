"""What is checked before a run starts, and finding runs again (issue 13, items 1 and 2),
through the real bot process, the fake Slack and the fake OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    BotProcess,
    World,
    launch,
    parity_world,
    replies_with,
    top_messages,
    wait_status,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with parity_world(tmp_path, ["m-good", "m-bad", "o-reason"]) as world:
        yield world


def asked(openai: FakeOpenAI) -> set[str]:
    return {str((r.json or {}).get("model")) for r in openai.requests_to("/chat")}


def test_names_are_resolved_or_refused_privately_before_anything_starts(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot = launch(tmp, slack, openai)
    try:
        # A typo: refused with the nearest name, nothing posted, nothing asked.
        bot.slash(slack, "run parity m-god")
        refused = replies_with(slack, "m-god")
        assert "Did you mean `m-good`" in refused.body["text"]
        assert "Nothing was started" in refused.body["text"]
        assert refused.body["response_type"] == "ephemeral"
        # `key value` without `=`: caught in the acknowledgement itself.
        _, ack, _, _ = bot.slash(slack, "run parity m-good limit 5")
        assert "write `limit=5`" in ack["text"] and "Usage:" in ack["text"]
        bot.wait_idle()
        assert bot.get("/api/runs/r1")[0] == 404 and not top_messages(slack)
        assert not openai.requests_to("/chat")

        # Commas separate names and case does not matter: the provider's spelling is used.
        _, ack, _, _ = bot.slash(slack, "run parity M-GOOD, m-bad limit=4")
        body = wait_status(bot, "r1", {"finished"})
        assert sorted(body["models"]) == ["m-bad", "m-good"]
        assert asked(openai) == {"m-good", "m-bad"}
        # The lists are cached now: the next check is answered in the acknowledgement.
        _, ack, _, _ = bot.slash(slack, "run parity m-good limit=2")
        assert ack["text"].startswith("Starting `parity` on `m-good`")
        wait_status(bot, "r2", {"finished"})
        # A model released since the cache was filled is found (the miss refreshes it).
        openai.add_model("m-fresh")
        bot.slash(slack, "run parity m-fresh limit=1")
        wait_status(bot, "r3", {"finished"})
    finally:
        bot.stop()


def test_a_duplicate_in_flight_is_pointed_at_and_runs_are_listed(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot: BotProcess = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity m-good limit=3")
        wait_status(bot, "r1", {"finished"})
        openai.latency = 0.3
        bot.slash(slack, "run parity m-bad m-good")
        wait_status(bot, "r2", {"running"})
        bot.slash(slack, "run parity m-good m-bad", user="U2")  # same models, other order
        twin = replies_with(slack, "same run")
        assert "The same run is already running: `r2`" in twin.body["text"]
        assert "Nothing was started" in twin.body["text"]
        assert bot.get("/api/runs/r3")[0] == 404

        bot.slash(slack, "runs")
        listed = replies_with(slack, "Recent runs")
        text = listed.body["text"]
        lines = text.splitlines()
        assert lines[1].startswith("• `r2` `parity` · `m-bad`")  # newest first
        assert "running" in lines[1] and "by <@U1>" in lines[1]
        assert "`r1` `parity` · `m-good` 0/3 (0.0%) · finished · limit=3" in text
        wait_status(bot, "r2", {"finished"})
        bot.slash(slack, "runs nope")
        _, ack, _, _ = bot.slash(slack, "runs nope")
        assert "nope" in ack["text"]

        bot.slash(slack, "available", command="/models")
        served = replies_with(slack, "Models `default` serves")
        assert "• `m-bad`" in served.body["text"] and "• `o-reason`" in served.body["text"]
        _, ack, _, _ = bot.slash(slack, "available elsewhere", command="/models")
        assert "is not a configured provider" in ack["text"]
    finally:
        bot.stop()
