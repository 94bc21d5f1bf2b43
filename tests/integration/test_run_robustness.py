"""The engine under hostile answers, crashes and cancels (issue 12, items 2 to 5).

The real engine (`bot.wiring.build_services`) against the fake OpenAI and fake Slack
over real HTTP, on SQLite and PostgreSQL: any answer ends as a graded or errored sample
and the run ends; results are written as soon as a few are pending; a rambling answer
is capped and counted as cut; a cancel stops a run at once in every state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from commands.eval.runner import DEFAULT_MAX_OUTPUT_TOKENS
from commands.ports import Models
from commands.services import Services
from commands.suites.graders.base import Grade, Sample
from storage import runs as store
from storage.db import Database
from storage.tables import SampleResult
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import BuildStack, new_run, teach_parity, until, write_parity_suite

N = 8
DEEP = "[" * 200_000 + "]" * 200_000  # json.loads: RecursionError, not ValueError


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m1"]) as openai:
        teach_parity(openai, "m1", N)
        yield slack, openai


@pytest.fixture
def services(fakes: tuple[FakeSlack, FakeOpenAI], stack: BuildStack, tmp_path: Path) -> Services:
    suites = write_parity_suite(tmp_path / "suites", N)
    return stack(*fakes, suites=suites, EVALBOT_CONCURRENCY="2").services


def results(db: Database, run_id: int) -> list[SampleResult]:
    return sorted(db.call(store.results, run_id=run_id), key=lambda r: r.item_index)


async def test_a_deeply_nested_json_answer_is_graded_and_the_run_ends(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    _, openai = fakes
    openai.answer("m1", "Is 0 even?", DEEP)  # the preflight sample: it used to hang the run
    run_id = new_run(services)
    final = await asyncio.wait_for(services.engine.execute(run_id), timeout=90)
    assert final is not None and final.status == "finished"
    stored = results(database, run_id)
    assert [r.item_index for r in stored] == list(range(N))
    assert stored[0].status == "failed"  # graded as text: not "yes"
    assert all(r.status == "passed" for r in stored[1:])


@dataclasses.dataclass(frozen=True)
class BuggyGrader:
    """A grader with a bug on one item: what a worker must survive."""

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        if item["n"] == 3:
            raise KeyError("a bug, not a GradeError")
        return Grade(1.0 if sample.output_text == item["label"] else 0.0)


async def test_a_sample_that_crashes_its_grader_is_errored_and_the_rest_are_graded(
    services: Services, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    suite = services.suites.get("parity")
    assert suite is not None
    first = dataclasses.replace(suite.criteria[0], grader=BuggyGrader())
    buggy = dataclasses.replace(suite, grader_impl=BuggyGrader(), criteria=(first,))
    services.suites.suites["parity"] = buggy
    run_id = new_run(services)
    final = await asyncio.wait_for(services.engine.execute(run_id), timeout=90)
    assert final is not None and final.status == "finished"
    stored = results(database, run_id)
    assert len(stored) == N
    errored = [r for r in stored if r.status == "errored"]
    assert [r.item_index for r in errored] == [3]
    assert "KeyError" in (errored[0].error or "")
    assert "sample m1 #3 failed unexpectedly" in caplog.text


async def test_results_are_written_when_a_few_are_pending_not_only_on_the_timer(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    _, openai = fakes
    openai.latency = 1.0
    engine = services.engine
    engine.flush_every_s = 60.0  # the timer alone would write nothing during the run
    run_id = new_run(services)
    running = asyncio.create_task(engine.execute(run_id))
    # Five requests sent: three answered (the preflight, then two). They are in the
    # database well before the next answers come back, a second later.
    await until(lambda: len(openai.requests_to("/chat")) >= 5, what="five requests")
    await until(lambda: len(results(database, run_id)) >= 3, timeout=0.8, what="3 stored")
    final = await asyncio.wait_for(running, timeout=90)
    assert final is not None and final.status == "finished"


@contextlib.contextmanager
def results_locked(db: Database) -> Iterator[None]:
    """Another client holds the write lock of the results (SQLite: the database's;
    PostgreSQL: the table's) until the block ends: every write of the run waits."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        other = sqlite3.connect(url.database or "", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            yield
            other.execute("ROLLBACK")
        finally:
            other.close()
        return
    with db.engine.connect() as conn:
        conn.execute(text(f"LOCK TABLE {SampleResult.__tablename__} IN EXCLUSIVE MODE"))
        yield
        conn.rollback()


async def test_answers_not_yet_stored_never_outnumber_the_concurrency(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    # What `kill -9` loses is what was asked for and not yet stored: while writes are
    # held back, the run waits instead of asking on (it used to ask for all 8).
    _, openai = fakes
    # Each answer takes 1 s: the lock is surely taken before the preflight's comes back.
    openai.latency = 1.0
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with results_locked(database):
            locked.set()
            release.wait(20)

    run_id = new_run(services)
    running = asyncio.create_task(services.engine.execute(run_id))
    # Taken while the preflight is out: from its answer on, no result can be stored.
    await until(lambda: len(openai.requests_to("/chat")) >= 1, what="the preflight")
    holder = asyncio.ensure_future(asyncio.to_thread(hold))
    try:
        await until(locked.is_set, what="the lock")
        await asyncio.sleep(2.2)  # the old engine had asked for 5 by then
        assert results(database, run_id) == []  # the lock holds: nothing stored yet
        assert len(openai.requests_to("/chat")) <= 2  # the concurrency
    finally:
        release.set()
        await holder
    final = await asyncio.wait_for(running, timeout=90)
    assert final is not None and final.status == "finished"
    assert len(results(database, run_id)) == N
    assert len(openai.requests_to("/chat")) == N


async def test_a_run_whose_writes_are_slow_next_to_its_answers_stops_holding(
    stack: BuildStack, database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Answers in no time: waiting for each write would halve the run's throughput, so
    # after HOLD_SAMPLES waits the run writes in batches instead (and says so).
    n = 60
    with FakeSlack() as slack, FakeOpenAI(models=["m1"]) as openai:
        teach_parity(openai, "m1", n)
        suites = write_parity_suite(tmp_path / "suites", n)
        services = stack(slack, openai, suites=suites, EVALBOT_CONCURRENCY="2").services
        caplog.set_level(logging.INFO, logger="commands.eval.runner")
        run_id = new_run(services)
        final = await asyncio.wait_for(services.engine.execute(run_id), timeout=90)
    assert final is not None and final.status == "finished"
    assert len(results(database, run_id)) == n
    switched = [r for r in caplog.records if "written in batches from now on" in r.getMessage()]
    assert len(switched) == 1


async def test_an_answer_is_capped_by_default_and_counted_as_cut(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    _, openai = fakes
    openai.answer("m1", "Is 2 even?", "yes " * (DEFAULT_MAX_OUTPUT_TOKENS + 500))
    run_id = new_run(services)
    final = await asyncio.wait_for(services.engine.execute(run_id), timeout=90)
    assert final is not None and final.status == "finished"
    sent = [r.json for r in openai.requests_to("/chat") if r.json]
    assert {body.get("max_completion_tokens") for body in sent} == {DEFAULT_MAX_OUTPUT_TOKENS}
    stored = results(database, run_id)
    assert [r.item_index for r in stored if r.truncated] == [2]
    assert len((stored[2].output or "").split()) == DEFAULT_MAX_OUTPUT_TOKENS
    tally = database.call(store.tallies, run_id=run_id)["m1"]
    assert tally.truncated == 1 and tally.passed + tally.failed == N


async def test_cancelling_a_running_run_stops_it_at_once(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    _, openai = fakes
    openai.latency = 2.0  # each answer takes 2 s: the run would take 8 s
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
    run_id = new_run(services)
    running = asyncio.create_task(services.engine.execute(run_id))
    await until(lambda: len(openai.requests_to("/chat")) >= 1, what="the preflight request")
    await until(lambda: run_id in services.engine.live, what="the run to be live")
    assert services.engine.cancel(run_id)
    started = time.monotonic()
    final = await asyncio.wait_for(running, timeout=10)
    assert time.monotonic() - started < 1.0
    assert final is not None and final.status == "cancelled"
    sent = len(openai.requests_to("/chat"))
    assert sent <= 1  # the preflight was in flight; nothing after it
    await asyncio.sleep(0)  # let any orphaned future be collected and reported
    gc.collect()
    assert not [c for c in loop_errors if "never retrieved" in str(c.get("message"))]


async def test_cancelling_a_run_waiting_for_capacity_sends_nothing(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    _, openai = fakes
    openai.latency = 3.0
    busy, waiting = new_run(services), new_run(services)
    first = asyncio.create_task(services.engine.execute(busy))
    # Two at a time per provider: the busy run holds both slots for 3 s.
    await until(lambda: len(openai.requests_to("/chat")) >= 1, what="the busy run's preflight")
    second = asyncio.create_task(services.engine.execute(waiting))
    await until(lambda: waiting in services.engine.live, what="the second run to be live")
    await until(lambda: len(openai.requests_to("/chat")) >= 2, what="the busy run's workers")
    asked_before = len(openai.requests_to("/chat"))
    assert services.engine.cancel(waiting)
    started = time.monotonic()
    final = await asyncio.wait_for(second, timeout=10)
    assert time.monotonic() - started < 1.0  # not after the busy run frees a slot
    assert final is not None and final.status == "cancelled"
    assert results(database, waiting) == []
    services.engine.cancel(busy)
    await asyncio.wait_for(first, timeout=10)
    prompts = [r.json["messages"][-1]["content"] for r in openai.requests_to("/chat") if r.json]
    # Every request after the cancel belongs to the busy run's own slots, none to r-waiting:
    # both runs ask the same prompts, so count: the waiting run added none.
    assert len(prompts) <= asked_before + 2


async def test_cancelling_while_the_first_post_waits_on_slack_is_immediate(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    slack, openai = fakes
    # One post a minute in the channel, spent here: the run's first post is told to
    # come back in a minute (429, Retry-After) and waits.
    slack.set_limit("chat.postMessage", 1, burst=1)
    await services.chat.post("C1", "taken")
    run_id = new_run(services, channel="C1")
    running = asyncio.create_task(services.engine.execute(run_id))
    await until(lambda: bool(slack.ratelimited), what="the run's post to be refused")
    services.engine.cancel(run_id)
    final = await asyncio.wait_for(running, timeout=3)
    assert final is not None and final.status == "cancelled"
    assert openai.requests_to("/chat") == []
