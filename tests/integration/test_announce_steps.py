"""A Slack failure at one step of an announcement loses nothing (issue 12, item 7).

The real engine and outcomes (`bot.wiring.build_services`) against the fake Slack over
real HTTP: a two-model run's announcement is a summary, a failures thread, a comparison,
a chart and the flipped samples. A chart upload Slack refuses for now is retried with
the run and nothing else is posted twice; one refused for good (not in the channel) is
told to the channel with the invite advice, and the rest is posted anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.chart_port import ProcessCharts
from bot.settings import load_settings
from bot.wiring import build_services
from commands.ports import IdleScheduler
from commands.services import Services
from storage import runs as store
from storage.db import Database
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.integration.test_run_robustness import N, write_suite

CHANNEL = "C1"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m1", "m2"]) as openai:
        for i in range(N):
            right = "yes" if i % 2 == 0 else "no"
            openai.answer("m1", f"Is {i} even?", right)
            openai.answer("m2", f"Is {i} even?", right if i % 2 else "maybe")  # #0 fails
        yield slack, openai


@pytest.fixture
async def services(
    fakes: tuple[FakeSlack, FakeOpenAI],
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Services]:
    slack, openai = fakes
    for name, value in {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.url,
        "OPENAI_API_KEY": openai.api_key,
        "OPENAI_BASE_URL": openai.base_url,
        "EVALBOT_SUITES_DIR": str(write_suite(tmp_path / "suites")),
        "EVALBOT_CONCURRENCY": "2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(require_slack=False, env_file=None)
    built, gateway = build_services(settings, database, scheduler=IdleScheduler())
    try:
        yield built
    finally:
        await built.tasks.cancel_all()
        await gateway.close()
        if isinstance(built.charts, ProcessCharts):
            built.charts.close()


def new_run(services: Services) -> int:
    suite = services.suites.get("parity")
    assert suite is not None
    run = services.db.call(
        store.create_run,
        suite="parity",
        data_version=suite.data_version,
        models=["m1", "m2"],
        total=N,
        channel=CHANNEL,
    )
    assert run.id is not None
    return run.id


def thread_texts(slack: FakeSlack) -> list[str]:
    top = slack.messages(CHANNEL)
    assert len(top) == 1, [m.text for m in top]  # the run's one message, never a second
    return [m.text for m in slack.thread(CHANNEL, top[0].ts)]


def count(texts: list[str], needle: str) -> int:
    return sum(needle in text for text in texts)


async def test_a_chart_refused_for_now_is_retried_and_nothing_is_posted_twice(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    slack, _ = fakes
    slack.fail_next("upload", status=500, count=50)  # the chart's bytes: refused for now
    run_id = new_run(services)
    final = await asyncio.wait_for(services.engine.execute_and_announce(run_id), timeout=60)
    assert final is not None and final.status == "finished"
    first = thread_texts(slack)
    assert count(first, "Comparison r") == 1  # the steps after the chart went on
    assert slack.uploads == []
    run = await database.run(store.get_run, run_id=run_id)
    assert not run.announced  # the chart is still owed

    slack.clear_faults()  # Slack takes files again
    await asyncio.wait_for(services.engine.execute_and_announce(run_id), timeout=60)
    assert (await database.run(store.get_run, run_id=run_id)).announced
    assert len(slack.uploads) == 1 and slack.uploads[0].channel == CHANNEL
    second = thread_texts(slack)
    assert count(second, "Comparison r") == 1  # not posted again
    assert len(second) == len(first) + 1 and second[-1] == ""  # only the chart's file share


async def test_a_step_refused_for_good_is_told_with_the_invite_advice(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    slack, _ = fakes
    slack.fail_next("files.completeUploadExternal", error="not_in_channel", count=5)
    run_id = new_run(services)
    final = await asyncio.wait_for(services.engine.execute_and_announce(run_id), timeout=60)
    assert final is not None
    texts = thread_texts(slack)
    assert count(texts, "/invite @evalbot") == 1
    assert count(texts, "Comparison r") == 1
    run = await database.run(store.get_run, run_id=run_id)
    assert run.announced  # not retried forever: the channel was told what to do


async def test_a_cancelled_run_posts_no_failures_thread(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    slack, openai = fakes
    openai.latency = 1.0
    run_id = new_run(services)
    running = asyncio.create_task(services.engine.execute_and_announce(run_id))
    deadline = asyncio.get_running_loop().time() + 20
    while len(openai.requests_to("/chat")) < 4:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    # The preflight answers are in (m2 failed #0), and two more at least.
    services.engine.cancel(run_id)
    final = await asyncio.wait_for(running, timeout=10)
    assert final is not None and final.status == "cancelled"
    top = slack.messages(CHANNEL)
    assert len(top) == 1 and "cancelled" in top[0].text
    assert slack.thread(CHANNEL, top[0].ts) == []
