"""A release alert restated after a restart still leads with its proposal (issue 11).

The real engine and outcomes (`bot.wiring.build_services`) against the fake Slack and
fake OpenAI over real HTTP, on SQLite and PostgreSQL. A watch's run of a new model `m2`
beats production `m1` on every sample it was asked: the report compares, proposes `p1`
and restates the run's top message with the verdict. A bot that stopped after the
proposal step and before the verdict step (the state is the same: the proposal is
stored and its step recorded, the verdict's step is not, the run is not announced) is
started again: the new process finds the proposal in storage and restates the verdict
with it, posting nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from commands.origins import Release, stored
from commands.services import Services
from storage import aliases as alias_store
from storage import runs as store
from storage.db import Database
from storage.tables import Notice
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import build_stack, write_parity_suite

CHANNEL = "C1"
N = 20


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m1", "m2"]) as openai:
        for i in range(N):
            right = "yes" if i % 2 == 0 else "no"
            openai.answer("m1", f"Is {i} even?", right if i % 2 == 0 else "maybe")  # 10/20
            openai.answer("m2", f"Is {i} even?", right)  # 20/20
        yield slack, openai


@asynccontextmanager
async def bot_process(
    fakes: tuple[FakeSlack, FakeOpenAI],
    database: Database,
    suites: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: str,
) -> AsyncIterator[Services]:
    """One bot's services: what a process builds at start-up."""
    slack, openai = fakes
    env = {"EVALBOT_APPROVERS": "U0APP", "EVALBOT_CONCURRENCY": "4"}
    stack = build_stack(
        database, slack, openai, monkeypatch, suites=suites, instance=instance, env=env
    )
    try:
        yield stack.services
    finally:
        await stack.close()


def forget_the_verdict_step(session: object, *, key: str) -> None:
    """What a stop between the proposal step and the verdict step leaves behind."""
    from sqlmodel import Session

    assert isinstance(session, Session)
    notice = session.get(Notice, key)
    assert notice is not None, key
    session.delete(notice)


def updates_of(slack: FakeSlack, ts: str) -> list[str]:
    return [
        str(c.params.get("text", ""))
        for c in slack.calls_to("chat.update")
        if c.params.get("ts") == ts
    ]


async def test_a_restarted_release_alert_restates_its_verdict_with_the_stored_proposal(
    fakes: tuple[FakeSlack, FakeOpenAI],
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, _ = fakes
    suites = write_parity_suite(tmp_path / "suites", N)
    async with bot_process(fakes, database, suites, monkeypatch, "first") as first:
        version = first.suites.suites["parity"].data_version
        base = await database.run(
            store.create_run, suite="parity", data_version=version, models=["m1"], total=N
        )
        await asyncio.wait_for(first.engine.execute_and_announce(base.id or 0), timeout=60)
        await database.run(
            alias_store.set_alias,
            suite="parity",
            alias="production",
            model="m1",
            decided_by="U0APP",
        )
        origin, ref = stored(
            Release(watch=None, new="m2", baseline="m1", basis="production", base_run=base.id)
        )
        release = await database.run(
            store.create_run,
            suite="parity",
            data_version=version,
            models=["m2"],
            total=N,
            channel=CHANNEL,
            origin=origin,
            origin_ref=ref,
        )
        run_id = release.id or 0
        final = await asyncio.wait_for(first.engine.execute_and_announce(run_id), timeout=60)
        assert final is not None and final.status == "finished"
    run = await database.run(store.get_run, run_id=run_id)
    assert run is not None and run.announced and run.message_ts is not None
    top = run.message_ts
    restated = updates_of(slack, top)[-1]
    assert "proposal p1" in restated  # the first process led with it
    thread_before = [m.text for m in slack.thread(CHANNEL, top)]

    # The first process stopped after the proposal step, before the verdict step.
    await database.run(forget_the_verdict_step, key=f"run:{run_id}:verdict")
    await database.run(lambda s: setattr(s.get(type(run), run_id), "announced", False))
    seen = len(updates_of(slack, top))

    async with bot_process(fakes, database, suites, monkeypatch, "second") as second:
        await asyncio.wait_for(second.engine.execute_and_announce(run_id), timeout=60)
    after = updates_of(slack, top)
    assert len(after) == seen + 1, after[seen:]  # the verdict, restated once
    assert "proposal p1" in after[-1] and "m2" in after[-1]
    assert [m.text for m in slack.thread(CHANNEL, top)] == thread_before  # nothing twice
    assert (await database.run(store.get_run, run_id=run_id)).announced
