"""The real bot process under faults: /metrics scraped during and after a run whose
provider answers 429 and 503 and whose Slack answers 429; results stored while Slack is
slow; a run in a public channel the bot never joined; runs at Slack's real limits."""

from __future__ import annotations

import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import (
    BotProcess,
    N,
    World,
    launch,
    parity_world,
    start_bot,
    top_messages,
    wait_status,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with parity_world(tmp_path, ["m-good", "m-bad"]) as world:
        yield world


def scrape(bot: BotProcess) -> Samples:
    with urllib.request.urlopen(bot.url + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_during_a_run_with_faults(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    tmp, slack, openai = world
    openai.latency = 0.05
    openai.fail_next("/chat", status=429, count=3, retry_after_ms=20)
    openai.fail_next("/chat", status=503, count=2)
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    prices = tmp / "prices.yaml"
    prices.write_text("m-good: {input: 1000, output: 1000}\n")
    bot = launch(tmp, slack, openai, EVALBOT_CONCURRENCY="2", EVALBOT_PRICES_FILE=str(prices))
    try:
        status, _, _, _ = bot.slash(slack, "run parity m-good m-bad")
        assert status == 200
        wait_status(bot, "r1", {"running"})
        during = scrape(bot)
        assert value(during, "evalbot_runs", status="running") == 1
        assert value(during, "evalbot_samples_queued") > 0
        assert value(during, "evalbot_ack_seconds_count", kind="http") >= 1

        body = wait_status(bot, "r1", {"finished"})
        slack.wait_for(lambda: any("finished" in m.text for m in top_messages(slack)))
        after = scrape(bot)
        assert value(after, "evalbot_runs", status="finished") == 1
        assert value(after, "evalbot_samples", status="passed") == 17
        assert value(after, "evalbot_samples", status="failed") == 3 + N
        assert value(after, "evalbot_samples_queued") == 0
        req = "evalbot_provider_requests_total"
        assert value(after, req, provider="default", status="429") == 3
        assert value(after, req, provider="default", status="503") == 2
        assert value(after, req, provider="default", status="200") == 2 * N
        retries = "evalbot_provider_retries_total"
        assert value(after, retries, provider="default", status="429") == 3
        assert value(after, retries, provider="default", status="503") == 2
        assert value(after, "evalbot_slack_ratelimited_total", method="chat.postMessage") == 1
        assert value(after, "evalbot_slack_calls_total", method="chat.postMessage", outcome="ok")
        spent = body["models"]["m-good"]["cost_usd"]
        assert spent > 0
        assert value(after, "evalbot_spend_usd_today") == pytest.approx(spent, rel=1e-3)
    finally:
        bot.stop()


def stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM sample_results").fetchone()[0])


def test_results_are_stored_while_slack_is_slow(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    """A progress update hanging on Slack must not hold back the database writes."""
    tmp, slack, openai = world
    openai.latency = 0.2
    slack.latency_for["chat.update"] = 5.0
    bot = launch(tmp, slack, openai, EVALBOT_CONCURRENCY="1")
    try:
        bot.slash(slack, "run parity m-good")
        wait_status(bot, "r1", {"running"})
        slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=10)  # one is hanging
        slack.wait_for(lambda: stored(tmp / "evalbot.db") >= 8, timeout=3.0)
        assert wait_status(bot, "r1", {"running", "finished"})["models"]["m-good"]["total"] == N
    finally:
        bot.stop()


def test_a_run_in_a_public_channel_the_bot_never_joined(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    slack.add_channel("CPUB")
    bot = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity m-good m-bad", channel="CPUB")
        wait_status(bot, "r1", {"finished"})
        upload = slack.wait_for(lambda: slack.uploads or None, timeout=20)[0]
        assert upload.channel == "CPUB"  # the chart is shared, not refused
        assert slack.channel("CPUB").member  # so reactions there reach the bot too
    finally:
        bot.stop()


def test_a_private_channel_gets_the_invite_advice_and_nothing_runs(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    slack.add_channel("GSECRET", private=True)
    bot = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity m-good", channel="GSECRET")
        note = slack.wait_for(
            lambda: next((r for r in slack.responses if "/invite" in str(r.body)), None)
        )
        assert "was not started" in note.body["text"]
        time.sleep(0.3)
        assert openai.requests_to("/chat") == []
    finally:
        bot.stop()


def test_runs_at_slacks_real_limits_keep_one_message_each(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    """Slack tighter than the bot's budget: progress is dropped, every final lands in the
    run's own message, none is posted twice."""
    tmp, slack, openai = world
    openai.latency = 0.1
    slack.set_limit("chat.update", 12, burst=2)  # a fifth of Tier 3: 429s will happen
    bot = launch(tmp, slack, openai, EVALBOT_CONCURRENCY="2")
    try:
        # Three different runs (an identical one in flight would be pointed at instead).
        for limit in ("", " limit=20", " limit=100"):
            assert bot.slash(slack, "run parity m-good" + limit)[0] == 200
        for run in ("r1", "r2", "r3"):
            wait_status(bot, run, {"finished"})
        finals = slack.wait_for(
            lambda: (
                len([m for m in top_messages(slack) if "17/20 passed" in m.text]) == 3
                and top_messages(slack)
            ),
            timeout=60,
        )
        assert len(finals) == 3  # one message per run, each holding its summary
        assert len(slack.calls_to("chat.update")) <= 12 + len(slack.ratelimited) + 2
    finally:
        bot.stop()


def test_socket_mode_acks_are_timed(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    tmp, slack, openai = world
    bot = start_bot(tmp, slack, openai, mode="socket")
    try:
        slack.wait_connected(timeout=15)
        for _ in range(3):
            slack.send_slash_command(slack.slash_command_payload(text="help"))
        samples = scrape(bot)
        assert value(samples, "evalbot_ack_seconds_count", kind="socket") == 3
        assert value(samples, "evalbot_ack_seconds_bucket", kind="socket", le="3.0") == 3
    finally:
        bot.stop()
