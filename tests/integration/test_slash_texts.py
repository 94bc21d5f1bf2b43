"""Any slash text through the real HTTP adapter: bolt, our listeners and bot/http.py served
on a port, driven with requests signed as Slack signs them, against the fake Slack and the
fake OpenAI. Every text is answered 200 within Slack's 3 seconds; bad input starts nothing;
a text that contains `payload` (slack_bolt's parse_body bug) works like any other.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from bot import http
from bot.app import Bot
from bot.settings import Settings
from storage.db import Database
from tests.e2e.harness import SIGNING_SECRET, free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack, sign_request

SUITE = "payload-extraction"
QUESTIONS = [f"Extract the payload of order {i}" for i in range(3)]


def write_suite(root: Path) -> Path:
    folder = root / SUITE
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        f"name: {SUITE}\n"
        "data: eval.jsonl\n"
        "input:\n"
        '  - role: user\n    content: "{{ item.q }}"\n'
        "grader:\n  type: string_check\n  name: label\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.label }}"\n'
        "  operation: eq\n"
    )
    lines = [json.dumps({"q": q, "label": "box"}) for q in QUESTIONS]
    (folder / "eval.jsonl").write_text("\n".join(lines) + "\n")
    return root


class InProcessBot:
    """The bot's HTTP side and bolt app on a port, on an event loop in a thread (so
    hypothesis can drive it from a plain test)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.port = free_port()
        self.spawned: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def _on_loop(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def start(self) -> InProcessBot:
        self._thread.start()
        self._on_loop(self._start())
        return self

    async def _start(self) -> None:
        self.bot = Bot.build(self.settings, self.db)
        tasks = self.bot.services.tasks
        spawn = tasks.spawn

        def counted(coro: Any, *, name: str, on_error: Any = None) -> Any:
            self.spawned.append(name)
            return spawn(coro, name=name, on_error=on_error)

        tasks.spawn = counted  # type: ignore[method-assign]
        app = http.build_web_app(self.bot.services, self.bot.bolt, None, self.bot.metrics)
        self._runner = await http.start_site(app, self.port, "127.0.0.1")

    def stop(self) -> None:
        async def stop() -> None:
            await self.bot.services.tasks.cancel_all()
            if self._runner is not None:
                await self._runner.cleanup()
            await self.bot.gateway.close()

        self._on_loop(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def slash(self, fake: FakeSlack, text: str, **fields: str) -> tuple[int, dict[str, Any], float]:
        payload = fake.slash_command_payload(command="/eval", text=text)
        payload.update(fields)
        body = urllib.parse.urlencode(payload).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers.update(sign_request(SIGNING_SECRET, body))
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/slack/events", data=body, headers=headers
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        took = time.perf_counter() - started
        ack = json.loads(raw) if raw.startswith(b"{") else {"text": raw.decode()}
        return status, ack, took


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessBot, FakeSlack]]:
    tmp = tmp_path_factory.mktemp("slash")
    with FakeSlack() as slack, FakeOpenAI(models=["m1"]) as openai:
        for q in QUESTIONS:
            openai.answer("m1", q, "box")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=slack.bot_token,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.url,
            evalbot_mode="http",
            openai_api_key=openai.api_key,
            openai_base_url=openai.base_url,
            evalbot_suites_dir=write_suite(tmp / "suites"),
        )
        db = Database.connect(f"sqlite:///{tmp / 'evalbot.db'}")
        bot = InProcessBot(settings, db).start()
        try:
            yield bot, slack
        finally:
            bot.stop()
            db.close()


def test_slack_bolt_still_loses_form_bodies_that_contain_payload() -> None:
    """The upstream bug our adapter works around (slack_bolt's aiohttp adapter builds
    exactly this request); when this fails, bolt fixed it and bot/bolt_request.py can go."""
    body = urllib.parse.urlencode({"command": "/eval", "text": f"run {SUITE} m1"})
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert AsyncBoltRequest(body=body, headers=form).body == {}
    fine = urllib.parse.urlencode({"command": "/eval", "text": "run parity m1"})
    assert AsyncBoltRequest(body=fine, headers=form).body["text"] == "run parity m1"


def test_a_slash_text_with_payload_starts_its_run(world: tuple[InProcessBot, FakeSlack]) -> None:
    bot, slack = world
    status, ack, took = bot.slash(slack, f"run {SUITE} m1")
    assert status == 200 and took < 3.0
    # "Starting", or "Checking `m1` with the provider, then starting" while the model
    # lists are still being read at start-up.
    assert f"starting `{SUITE}`" in ack["text"].lower()
    msg = slack.wait_for(
        lambda: next((m for m in slack.messages("C1") if "3/3 passed" in m.text), None),
        timeout=30,
    )
    assert SUITE in msg.text
    # a user called payload-bot is no different
    status, ack, _ = bot.slash(slack, "help", user_name="payload-bot")
    assert status == 200 and "run <suite> <model>" in ack["text"]


# Subcommands that may legitimately start background work with any arguments.
MAY_START = {"status", "suites", "history", "show", "compare", "cancel", "help"}
WORDS = [
    "run",
    "payload",
    "payload=1",
    "payloads",
    "limit=2",
    "limit=-1",
    "r1",
    "r999999999999",
    '"',
    "'",
    "“",
    "”",
    "&amp;",
    "<!channel>",
    "<@U1|bob>",
    "é",
    "🙂",
    "\u202e",
    "%",
    "+",
    "=",
    "\\",
]
TEXTS = st.one_of(
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=8).map(" ".join),
    st.text(max_size=300),
    st.text(min_size=2_900, max_size=3_000),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=TEXTS)
@example(text="run payload gpt-4.1-mini")
@example(text='run "payload')
@example(text="payload=" + "x" * 2_990)
@example(text="é" * 3_000)
def test_any_slash_text_is_answered_in_time_and_bad_input_starts_nothing(
    world: tuple[InProcessBot, FakeSlack], text: str
) -> None:
    bot, slack = world
    spawned, posts = len(bot.spawned), len(slack.calls_to("chat.postMessage"))
    status, ack, took = bot.slash(slack, text)
    assert status == 200, ack
    assert took < 3.0
    assert ack.get("text")
    first = text.split()[0].lower() if text.split() else ""
    if first not in MAY_START:
        assert len(bot.spawned) == spawned, (text, ack)
        assert len(slack.calls_to("chat.postMessage")) == posts
