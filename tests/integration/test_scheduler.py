"""The scheduler on a real database: jobs persist, time is moved forward, one leader."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.scheduler as scheduler_module
from bot.scheduler import JobScheduler
from storage.db import Database
from tests.conftest import PG_URL

CALLS: list[str] = []
DEPS = object()  # stands for the Services the composition root hands the scheduler


async def record(tag: str, *, services: object) -> None:
    """A job function referenced by name, as the job store keeps them; the scheduler
    passes the process's dependencies as `services`."""
    CALLS.append(tag if services is DEPS else f"{tag} without deps")


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_jobs_persist_and_run_when_time_is_moved_forward(tmp_path: Path) -> None:
    CALLS.clear()
    url = f"sqlite:///{tmp_path / 'sched.db'}"
    db = Database.connect(url)
    first = JobScheduler(db)
    await first.start(DEPS)
    assert first.leader  # SQLite: the one process leads
    await first.every("job-1", "tests.integration.test_scheduler:record", 3600, ("hourly",))
    job = first.scheduler.get_job("job-1")
    assert job is not None
    assert (job.next_run_time - datetime.now(UTC)).total_seconds() > 3500
    # A job due now runs; the hourly one, processed in the same pass, does not.
    await first.every(
        "probe", "tests.integration.test_scheduler:record", 3600, ("probe",), first_in_s=0
    )
    await wait_for(lambda: CALLS == ["probe"] and first.running_jobs == 0)
    assert CALLS == ["probe"]  # nothing runs before its time
    await first.cancel("probe")
    CALLS.clear()
    assert first.run_now("job-1")  # move time forward instead of sleeping an hour
    await wait_for(lambda: CALLS == ["hourly"])
    await first.pause("job-1")
    assert first.scheduler.get_job("job-1").next_run_time is None
    await first.resume("job-1")
    await first.stop()
    db.close()

    db2 = Database.connect(url)  # a restart: the job is still there, still hourly
    second = JobScheduler(db2)
    await second.start()
    try:
        restored = second.scheduler.get_job("job-1")
        assert restored is not None and restored.args == ("hourly",)
        await second.cancel("job-1")
        assert second.scheduler.get_job("job-1") is None
        await second.cancel("job-1")  # cancelling twice is harmless
    finally:
        await second.stop()
        db2.close()


async def test_one_postgres_leader_and_takeover(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "LEADER_RETRY_S", 0.2)
    led: list[str] = []
    dbs = [Database.connect(PG_URL, schema=pg_schema) for _ in range(2)]

    def on_leader(name: str) -> object:
        async def lead() -> None:
            led.append(name)

        return lead

    a = JobScheduler(dbs[0], on_leader=on_leader("a"))  # type: ignore[arg-type]
    b = JobScheduler(dbs[1], on_leader=on_leader("b"))  # type: ignore[arg-type]
    await a.start()
    await b.start()
    try:
        assert (a.leader, b.leader) == (True, False)
        assert led == ["a"]
        await b.every("job-2", "tests.integration.test_scheduler:record", 600, ("x",))
        assert a.scheduler.get_job("job-2") is not None  # a follower's job is shared
        await a.stop()  # the leader goes away: its lock frees
        await wait_for(lambda: b.leader, timeout=5)
        assert led == ["a", "b"]
    finally:
        await b.stop()
        for db in dbs:
            db.close()
