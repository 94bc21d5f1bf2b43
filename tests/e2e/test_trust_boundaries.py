"""Issue 11's reproductions, tried as an outsider would against the real bot process
(HTTP mode, signed requests, the fake Slack and fake OpenAI): all refused.

- samples of a run started in one channel asked for from another (`/eval show`,
  `/eval compare`): the numbers and where to look, never the samples;
- a backtick or markup in a model name, a bare `*` watch glob;
- someone not in EVALBOT_RUNNERS (user ids and a user group), someone cancelling another
  person's run;
- 15 two-model runs in about a second by one person: at most EVALBOT_MAX_ACTIVE_RUNS run,
  the rest wait and say so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BotProcess, World, launch, parity_world, question, wait_status
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

OWNER, MEMBER, OUTSIDER = "U0RUN1", "U0GRP1", "U0OUT1"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with parity_world(tmp_path, ["m-good", "m-bad"]) as world:
        _, slack, _ = world
        slack.set_usergroup("S0EVALS", [MEMBER])
        yield world


def reply(slack: FakeSlack, response_url: str) -> str:
    """The text sent back through one slash command's response_url."""
    rid = response_url.rsplit("/", 1)[-1]
    body: Any = slack.wait_for(lambda: next((r.body for r in slack.responses if r.id == rid), None))
    return str(body.get("text", ""))


def test_samples_stay_in_their_channel_and_names_are_checked(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    slack.add_channel("CPRIV", private=True, member=True)
    bot = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity m-good", channel="CPRIV")
        wait_status(bot, "r1", {"finished"})
        bot.slash(slack, "run parity m-bad", channel="CPRIV")
        wait_status(bot, "r2", {"finished"})
        bot.wait_idle()

        # Its own channel sees the failing samples ...
        _, _, _, url = bot.slash(slack, "show r1", channel="CPRIV")
        assert question(0) in reply(slack, url)
        # ... another channel the numbers and where to look, no item, no answer.
        _, _, _, url = bot.slash(slack, "show r1", channel="CPUB", user=OUTSIDER)
        text = reply(slack, url)
        assert "17/20 passed" in text and "<#CPRIV>" in text
        assert "Is " not in text and "an even number" not in text

        bot.slash(slack, "compare r1 r2", channel="CPUB", user=OUTSIDER)
        head = slack.wait_for(
            lambda: next((m for m in slack.messages("CPUB") if "r1 vs r2" in m.text), None)
        )
        bot.wait_idle()
        thread = slack.thread("CPUB", head.ts)
        assert thread and any("<#CPRIV>" in m.text for m in thread)
        assert not any("even number" in m.text for m in thread)  # no flipped samples

        for hostile in ("m`good", "<!here>", "m-good\u0060"):
            _, ack, _, _ = bot.slash(slack, f"run parity {hostile} m-bad")
            assert "is not a model name" in ack["text"]
            assert "<!here>" not in ack["text"]
        _, ack, _, _ = bot.slash(slack, "parity <!channel>", command="/promote")
        assert "is not a model name" in ack["text"] and "<!channel>" not in ack["text"]
        _, ack, _, _ = bot.slash(slack, "add * suites=parity every=5m", command="/watch")
        assert "nearly every model" in ack["text"]
    finally:
        bot.stop()


def test_who_may_start_and_stop_and_a_burst_is_queued(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot: BotProcess = launch(
        tmp,
        slack,
        openai,
        EVALBOT_RUNNERS=f"{OWNER},S0EVALS",
        EVALBOT_MAX_ACTIVE_RUNS="4",
        EVALBOT_APPROVERS="U0APPR",
    )
    try:
        _, _, _, url = bot.slash(slack, "run parity m-good", user=OUTSIDER)
        assert "EVALBOT_RUNNERS" in reply(slack, url)
        assert bot.get("/api/runs/r1")[0] == 404  # nothing was started

        openai.latency = 0.05
        started = time.monotonic()
        for i in range(15):
            # Each a different limit: an identical run in flight is pointed at, not started.
            bot.slash(slack, f"run parity m-good m-bad limit={20 - i}", user=MEMBER)
        assert time.monotonic() - started < 15
        _, _, _, url = bot.slash(slack, "cancel r15", user=OUTSIDER)
        assert "Only <@U0GRP1>, who started it" in reply(slack, url)

        most, deadline = 0, time.monotonic() + 120
        while True:
            statuses = [bot.get(f"/api/runs/r{i}")[1].get("status") for i in range(1, 16)]
            most = max(most, statuses.count("running"))
            if all(s in ("finished", "cancelled", "failed") for s in statuses):
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.05)
        assert most <= 4
        # A run whose first message Slack refused past the SDK's retries (chat.postMessage
        # allows about one a second per channel) failed before sending anything, and said
        # so; every other one finished.
        assert statuses.count("finished") >= 10, statuses
        queued = [m for m in slack.calls_to("chat.update") if "*Queued*" in str(m.params)]
        assert queued, "no queued run said it was queued"
        assert any("behind" in json.dumps(m.params) for m in queued)
    finally:
        bot.stop()
