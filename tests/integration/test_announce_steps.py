"""A Slack failure at one step of an announcement loses nothing (issue 12, item 7).

The real engine and outcomes (`bot.wiring.build_services`) against the fake Slack over
real HTTP: a two-model run's announcement is a summary, a failures thread, a comparison,
a chart and the flipped samples. A chart upload Slack refuses for now is retried with
the run and nothing else is posted twice; one refused for good (not in the channel) is
told to the channel with the invite advice, and the rest is posted anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.services import Services
from storage import runs as store
from storage.db import Database
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import BuildStack, label, new_run, question, until, write_parity_suite

CHANNEL = "C1"
N = 8


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m1", "m2"]) as openai:
        for i in range(N):
            openai.answer("m1", question(i), label(i))
            openai.answer("m2", question(i), label(i) if i % 2 else "maybe")  # #0 fails
        yield slack, openai


@pytest.fixture
def services(fakes: tuple[FakeSlack, FakeOpenAI], stack: BuildStack, tmp_path: Path) -> Services:
    suites = write_parity_suite(tmp_path / "suites", N)
    return stack(*fakes, suites=suites, EVALBOT_CONCURRENCY="2").services


def two_model_run(services: Services) -> int:
    """A run of both models in the channel: its announcement has every step."""
    return new_run(services, models=("m1", "m2"), channel=CHANNEL)


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
    run_id = two_model_run(services)
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
    run_id = two_model_run(services)
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
    run_id = two_model_run(services)
    running = asyncio.create_task(services.engine.execute_and_announce(run_id))
    await until(lambda: len(openai.requests_to("/chat")) >= 4, timeout=20, what="4 requests")
    # The preflight answers are in (m2 failed #0), and two more at least.
    services.engine.cancel(run_id)
    final = await asyncio.wait_for(running, timeout=10)
    assert final is not None and final.status == "cancelled"
    top = slack.messages(CHANNEL)
    assert len(top) == 1 and "cancelled" in top[0].text
    assert slack.thread(CHANNEL, top[0].ts) == []
