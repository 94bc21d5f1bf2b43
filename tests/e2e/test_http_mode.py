"""The real bot process in HTTP mode: signed slash commands, refusals, the HTTP side."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import SIGNING_SECRET, BotProcess, start_bot
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, FakeSlack]]:
    tmp = tmp_path_factory.mktemp("http")
    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini"]) as openai:
        bot = start_bot(tmp, slack, openai)
        try:
            yield bot, slack
        finally:
            bot.stop()


def test_help_is_answered_within_slacks_three_seconds(world: tuple[BotProcess, FakeSlack]) -> None:
    bot, slack = world
    status, ack, took, _ = bot.slash(slack, "help")
    assert status == 200
    assert took < 3.0
    assert ack["response_type"] == "ephemeral"
    for sub in ("suites", "run <suite> <model>", "status", "show", "compare", "history", "cancel"):
        assert sub in ack["text"]


@pytest.mark.parametrize("command", ["/finetune", "/watch", "/promote", "/models"])
def test_every_family_has_help(world: tuple[BotProcess, FakeSlack], command: str) -> None:
    bot, slack = world
    status, ack, _, _ = bot.slash(slack, "help", command=command)
    assert status == 200
    assert ack["text"].startswith(f"*{command}*")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("frobnicate", "Unknown subcommand `frobnicate`"),
        ("rnu ticket-routing gpt-4.1-mini", "Did you mean `run`?"),
        ("run", "Missing the suite and the model"),
        ("run nosuch gpt-4.1-mini", "There is no suite `nosuch`"),
        ("run ticket-routing", "Name at least one model"),
        ("run ticket-routing gpt-4.1-mini limit=abc", "limit"),
        ("run ticket-routing gpt-4.1-mini limt=5", "limit"),
        ('run ticket-routing "gpt-4.1-mini', "quote"),
        ("show r", "is not a run id"),
        ("compare r1", "two run ids"),
    ],
)
def test_bad_input_gets_an_ephemeral_reason_and_the_usage(
    world: tuple[BotProcess, FakeSlack], text: str, expected: str
) -> None:
    bot, slack = world
    before = len(slack.calls_to("chat.postMessage"))
    status, ack, _, _ = bot.slash(slack, text)
    assert status == 200
    assert ack["response_type"] == "ephemeral"
    assert expected in ack["text"]
    assert "Usage" in ack["text"] or "/eval run" in ack["text"]
    assert len(slack.calls_to("chat.postMessage")) == before  # nothing was started


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "\x00\x01 run",
        "“unbalanced",
        "run " + "é" * 300,
        "<@U123|bob> &amp; <#C1|general>",
        "  ",
    ],
)
def test_any_text_gets_a_200(world: tuple[BotProcess, FakeSlack], text: str) -> None:
    bot, slack = world
    status, ack, _, _ = bot.slash(slack, text)
    assert status == 200
    assert ack["text"]


def test_unsigned_forged_and_stale_requests_get_401(world: tuple[BotProcess, FakeSlack]) -> None:
    bot, slack = world
    payload = slack.slash_command_payload(command="/eval", text="help")
    body = urllib.parse.urlencode(payload).encode()
    form = "application/x-www-form-urlencoded"
    assert bot.post_signed(body, content_type=form, sign=True)[0] == 200
    bot.wait_idle()
    calls_before, responses_before = len(slack.calls), len(slack.responses)
    assert bot.post_signed(body, content_type=form, sign=False)[0] == 401
    assert bot.post_signed(body, content_type=form, secret="not-the-secret")[0] == 401
    stale = int(time.time()) - 6 * 60
    assert bot.post_signed(body, content_type=form, timestamp=stale)[0] == 401
    from tests.fakes.slack import sign_request

    headers = sign_request(SIGNING_SECRET, body)
    tampered = body.replace(b"help", b"run+x")
    assert bot.post_signed(tampered, content_type=form, headers=headers, sign=False)[0] == 401
    bot.wait_idle()
    # the refused requests started nothing
    assert (len(slack.calls), len(slack.responses)) == (calls_before, responses_before)


def test_healthz_and_api(world: tuple[BotProcess, FakeSlack]) -> None:
    bot, _ = world
    bot.wait_idle()
    assert bot.get("/healthz") == (200, {"ok": True, "idle": True})
    assert bot.get("/api/aliases") == (200, {})
    status, body = bot.get("/api/runs/r999")
    assert status == 404 and "not found" in body["error"]
    assert bot.get("/api/runs/bogus")[0] == 404
    assert bot.get("/api/runs/r999/comparison")[0] == 404


def test_url_verification_and_event_dedupe(world: tuple[BotProcess, FakeSlack]) -> None:
    bot, slack = world
    challenge = json.dumps(
        {"type": "url_verification", "challenge": "abc123", "token": "x"}
    ).encode()
    status, raw, _ = bot.post_signed(challenge, content_type="application/json")
    assert status == 200 and b"abc123" in raw
    event = slack.app_home_opened_event("U7")
    body = json.dumps(event).encode()
    for retry in range(3):  # Slack's redeliveries carry the same event_id
        headers = {"X-Slack-Retry-Num": str(retry)} if retry else None
        status, _, took = bot.post_signed(body, content_type="application/json", headers=headers)
        assert status == 200 and took < 3.0
    views = slack.wait_for(lambda: slack.calls_to("views.publish") or None)
    bot.wait_idle()  # a wrongly repeated handler would have shown itself by now
    assert len(slack.calls_to("views.publish")) == 1
    assert views[0].params["user_id"] == "U7"


def test_secrets_never_reach_the_log(world: tuple[BotProcess, FakeSlack], tmp_path: Path) -> None:
    bot, slack = world
    bot.slash(slack, "run ticket-routing gpt-4.1-mini limit=2")
    log = bot.log()
    for secret in (slack.bot_token, SIGNING_SECRET, "sk-test"):
        assert secret not in log
