"""The real bot's HTTP side as an outsider meets it: the API token, the bind address,
and OpenAI webhook replays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BotProcess, start_bot
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

TOKEN = "api-token-0123456789abcdef"
WEBHOOK_RAW = b"0123456789abcdef0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_RAW).decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, BotProcess]]:
    tmp = tmp_path_factory.mktemp("http-security")
    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini"]) as openai:
        extra = {"EVALBOT_API_TOKEN": TOKEN, "OPENAI_WEBHOOK_SECRET": WEBHOOK_SECRET}
        bot = start_bot(tmp, slack, openai, extra=extra)
        try:
            yield tmp, bot
        finally:
            bot.stop()


def request(
    bot: BotProcess, path: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, Any]:
    req = urllib.request.Request(bot.url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body) if body else None
        except ValueError:
            return exc.code, body.decode(errors="replace")


def test_healthz_stays_open(world: tuple[Path, BotProcess]) -> None:
    _, bot = world
    status, body = request(bot, "/healthz")
    assert status == 200 and body["ok"] is True


@pytest.mark.parametrize("path", ["/api/aliases", "/api/runs/r1", "/api/compare/r1/r2", "/metrics"])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
def test_api_and_metrics_refuse_a_missing_or_wrong_token(
    world: tuple[Path, BotProcess], path: str, authorization: str | None
) -> None:
    _, bot = world
    headers = {"Authorization": authorization} if authorization is not None else {}
    status, body = request(bot, path, headers=headers)
    assert status == 401
    assert "EVALBOT_API_TOKEN" in body["error"]


def test_the_right_token_opens_the_api(world: tuple[Path, BotProcess]) -> None:
    _, bot = world
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert request(bot, "/api/aliases", headers=auth) == (200, {})
    assert request(bot, "/api/runs/r999", headers=auth)[0] == 404
    lower = {"Authorization": f"bearer {TOKEN}"}
    assert request(bot, "/api/aliases", headers=lower)[0] == 200


def test_http_mode_listens_on_every_interface_by_default(world: tuple[Path, BotProcess]) -> None:
    _, bot = world
    assert f"listening on 0.0.0.0:{bot.port}" in bot.log()


def _signed(event: dict[str, Any], webhook_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    ts = str(int(time.time()))
    digest = hmac.new(WEBHOOK_RAW, f"{webhook_id}.{ts}.".encode() + body, hashlib.sha256)
    return body, {
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
        "content-type": "application/json",
    }


def test_a_replayed_webhook_is_refused_even_after_a_restart(
    world: tuple[Path, BotProcess],
) -> None:
    _, bot = world
    event = {
        "id": "evt_replay",
        "object": "event",
        "type": "fine_tuning.job.succeeded",
        "created_at": int(time.time()),
        "data": {"id": "ftjob-unknown"},
    }
    body, headers = _signed(event, "wh_replay_1")
    assert request(bot, "/webhooks/openai", headers=headers, data=body) == (200, {"ok": True})
    assert request(bot, "/webhooks/openai", headers=headers, data=body) == (
        200,
        {"ok": True, "duplicate": True},
    )
    other_body, other_headers = _signed(event, "wh_replay_2")
    assert request(bot, "/webhooks/openai", headers=other_headers, data=other_body) == (
        200,
        {"ok": True},
    )
    bot.stop()
    bot.start()
    status, answer = request(bot, "/webhooks/openai", headers=headers, data=body)
    assert (status, answer) == (200, {"ok": True, "duplicate": True})


def test_socket_mode_listens_on_loopback_unless_told(tmp_path: Path) -> None:
    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini"]) as openai:
        bot = start_bot(tmp_path, slack, openai, mode="socket")
        try:
            assert f"listening on 127.0.0.1:{bot.port}" in bot.log()
        finally:
            bot.stop()
