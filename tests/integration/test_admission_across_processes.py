"""EVALBOT_MAX_ACTIVE_RUNS holds across processes sharing one database (issue 11).

Two bot processes on one PostgreSQL are a supported deployment; each has its own
`Database` (engine and pool). Here two independent `Database` objects on the same
database race for the last slot: three runs execute, the limit is four, and each
"process" admits a queued run of its own. Process B counts the running runs, then (held
by an engine event, the real statements untouched) waits while A admits its run and
commits, then reads the rest of its count. Without a claim shared by both processes B's
count is stale and both runs start: five running. With the claim (storage.admission
`hold_admissions`) A cannot admit while B counts, and exactly one run starts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from commands.eval.admission import admit_now
from storage import runs as store
from storage.admission import Admission
from storage.db import Database
from tests.conftest import PG_URL

LIMIT = 4
HOLD_S = 2.0  # how long B waits for A inside its count when A cannot go first


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Database, Database]]:
    """Two Database objects (two engines, two pools) on one database, as two processes."""
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'shared.db'}", None
    else:
        url, schema = PG_URL, request.getfixturevalue("pg_schema")
    first = Database.connect(url, schema=schema)
    second = Database.connect(url, schema=schema, run_migrations=False)
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def new_run(db: Database, *, running: bool) -> int:
    run = db.call(store.create_run, suite="s", data_version="v", models=["m"], total=1)
    assert run.id is not None
    if running:
        db.call(store.mark_running, run_id=run.id)
    return run.id


def statuses(db: Database, ids: list[int]) -> dict[int, str]:
    found = {}
    for run_id in ids:
        run = db.call(store.get_run, run_id=run_id)
        assert run is not None
        found[run_id] = run.status
    return found


def admit(db: Database, run_id: int) -> Admission | str:
    return db.call(admit_now, run_id=run_id, max_active=LIMIT, daily_usd=None, wanted=0.0)


def test_two_processes_racing_for_the_last_slot_start_one_run(
    two_databases: tuple[Database, Database],
) -> None:
    a, b = two_databases
    running = [new_run(a, running=True) for _ in range(LIMIT - 1)]
    run_a, run_b = new_run(a, running=False), new_run(b, running=False)

    b_counted, a_done = threading.Event(), threading.Event()

    def pause_between_counts(_conn: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        # B's second read (the queued runs ahead of it): A gets its chance in between.
        if "eval_runs.id <" in statement and not b_counted.is_set():
            b_counted.set()
            a_done.wait(HOLD_S)

    event.listen(b.engine, "before_cursor_execute", pause_between_counts)
    answers: dict[str, Admission | str] = {}

    def admit_b() -> None:
        answers["b"] = admit(b, run_b)

    def admit_a() -> None:
        answers["a"] = admit(a, run_a)
        a_done.set()

    try:
        racer = threading.Thread(target=admit_b)
        racer.start()
        assert b_counted.wait(10), "B never counted"
        first = threading.Thread(target=admit_a)
        first.start()
        first.join(60)
        racer.join(60)
    finally:
        event.remove(b.engine, "before_cursor_execute", pause_between_counts)
    assert set(answers) == {"a", "b"}

    after = statuses(a, [*running, run_a, run_b])
    assert sum(s == "running" for s in after.values()) == LIMIT, after
    # First come, first served: A (the older run) took the slot; B waits behind it.
    assert after[run_a] == "running" and after[run_b] == "queued"
    waiting = answers["b"]
    assert isinstance(waiting, Admission) and waiting.place is not None
    assert run_a in (*waiting.place.running, *waiting.place.ahead)


def test_a_run_admitted_by_one_process_is_not_admitted_again_by_another(
    two_databases: tuple[Database, Database],
) -> None:
    a, b = two_databases
    run = new_run(a, running=False)
    first = admit(a, run)
    assert isinstance(first, Admission) and first.status == "running"
    again = admit(b, run)
    assert isinstance(again, Admission) and again.status == "running"  # told, not redone
    assert statuses(b, [run]) == {run: "running"}
