"""Storage on a real database: SQLite always, PostgreSQL (own schema per test) when up."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

import storage
from storage import aliases, events, notices
from storage import runs as store
from storage.db import Database, migrate
from storage.tables import SampleResult, utcnow

EXPECTED_TABLES = {
    "eval_runs",
    "sample_results",
    "finetune_jobs",
    "finetune_data",
    "watches",
    "seen_models",
    "notices",
    "proposals",
    "approvals",
    "aliases",
    "alias_changes",
    "handled_events",
    "alembic_version",
}


def result(run_id: int, model: str, index: int, status: str = "passed", **kw: Any) -> SampleResult:
    return SampleResult(run_id=run_id, model=model, item_index=index, status=status, **kw)


def new_run(db: Database, models: list[str] | None = None, total: int = 4) -> int:
    run = db.call(
        store.create_run,
        suite="s",
        data_version="sha256:x",
        models=models or ["m1", "m2"],
        total=total,
        channel="C1",
    )
    assert run.id is not None
    return run.id


def _head_revision() -> str:
    """The newest migration's id, so this test holds as migrations are added."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    folder = Path(storage.__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(folder))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrations_create_every_durable_table_and_are_idempotent(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    migrate(database.engine)  # a second start applies nothing and does not fail
    with database.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == _head_revision()


def test_run_results_are_stored_once_and_tallied(database: Database) -> None:
    run_id = new_run(database)
    batch = [
        result(
            run_id,
            "m1",
            0,
            "passed",
            input_tokens=10,
            output_tokens=2,
            cost_usd=0.5,
            latency_ms=100,
        ),
        result(run_id, "m1", 1, "failed", input_tokens=10, output_tokens=3, latency_ms=300),
        result(run_id, "m1", 2, "errored", error="server: boom"),
        result(run_id, "m2", 0, "passed", latency_ms=50),
    ]
    assert database.call(store.save_results, results=batch) == 4
    # A resumed run re-saving the same samples stores nothing twice.
    again = [result(run_id, "m1", 0, "failed"), result(run_id, "m2", 1, "passed")]
    assert database.call(store.save_results, results=again) == 1
    counts = database.call(store.tallies, run_id=run_id)
    m1 = counts["m1"]
    assert (m1.passed, m1.failed, m1.errored, m1.graded) == (1, 1, 1, 2)
    assert m1.input_tokens == 20 and m1.output_tokens == 5
    assert m1.cost_usd == pytest.approx(0.5)
    assert sorted(m1.latencies_ms) == [100, 300]  # errored samples have no latency
    assert counts["m2"].passed == 2
    assert database.call(store.done_items, run_id=run_id) == {
        ("m1", 0),
        ("m1", 1),
        ("m1", 2),
        ("m2", 0),
        ("m2", 1),
    }


def test_run_lifecycle_and_resume_queries(database: Database) -> None:
    a, b = new_run(database), new_run(database)
    database.call(store.mark_running, run_id=a)
    assert [r.id for r in database.call(store.active_runs)] == [a, b]
    assert database.call(store.finish, run_id=a, status="finished") is True
    assert database.call(store.finish, run_id=a, status="cancelled") is False  # already ended
    assert database.call(store.get_run, run_id=a).status == "finished"
    # a finished run not yet announced is still picked up, once nobody is on it
    later = utcnow() + timedelta(minutes=5)
    grace = timedelta(seconds=30)
    assert [r.id for r in database.call(store.orphaned_runs, now=later, grace=grace)] == [a, b]
    database.call(store.mark_announced, run_id=a)
    assert [r.id for r in database.call(store.orphaned_runs, now=later, grace=grace)] == [b]
    with pytest.raises(ValueError):
        database.call(store.finish, run_id=b, status="done")


def test_runs_are_leased_to_one_owner_at_a_time(database: Database) -> None:
    from datetime import timedelta

    from storage import leases
    from storage.tables import EvalRun, utcnow

    run_id = new_run(database)
    now, lease = utcnow(), timedelta(seconds=30)
    grace = timedelta(seconds=30)

    def claim(owner: str, at: Any) -> bool:
        return database.call(store.claim, run_id=run_id, owner=owner, now=at, until=at + lease)

    def renew(owner: str, until: Any, statuses: tuple[str, ...] = store.ACTIVE) -> bool:
        return database.call(
            leases.renew,
            table=EvalRun,
            row_id=run_id,
            statuses=statuses,
            owner=owner,
            until=until,
        )

    def orphans(at: Any) -> list[int | None]:
        return [r.id for r in database.call(store.orphaned_runs, now=at, grace=grace)]

    assert orphans(now) == []  # just created: its creator is about to start it
    assert orphans(now + grace + timedelta(seconds=1)) == [run_id]  # never started
    assert claim("a", now)
    assert not claim("b", now + timedelta(seconds=29))  # a's lease holds
    assert claim("a", now + timedelta(seconds=1))  # the owner may claim again
    assert renew("a", now + 2 * lease)
    assert not renew("b", now + 2 * lease)
    assert orphans(now + lease + timedelta(seconds=1)) == []  # renewed
    later = now + 2 * lease + timedelta(seconds=1)
    assert orphans(later) == [run_id]  # a stopped renewing: it crashed
    assert claim("b", later)
    assert not renew("a", later + lease)  # taken over
    database.call(store.release, run_id=run_id, owner="b", now=later)
    assert orphans(later) == [run_id]  # released at shutdown: no waiting
    assert claim("c", later)
    assert database.call(store.finish, run_id=run_id, status="finished")
    assert not renew("c", later + lease)  # no longer active...
    assert renew("c", later + lease, store.TERMINAL)  # ...but c still posts the summary
    assert orphans(later) == []
    assert not claim("d", later + timedelta(seconds=1))
    assert orphans(later + lease + timedelta(seconds=1)) == [run_id]  # c died announcing
    database.call(store.mark_announced, run_id=run_id)
    assert not claim("d", later + 2 * lease)  # announced: nothing left to do
    assert orphans(later + 2 * lease) == []
    assert not renew("c", later + 2 * lease, store.TERMINAL)


def test_run_json_matches_the_contract(database: Database) -> None:
    run_id = new_run(database, ["gpt-4.1-mini"], total=10)
    batch = [result(run_id, "gpt-4.1-mini", i, "passed") for i in range(7)]
    batch += [result(run_id, "gpt-4.1-mini", 7 + i, "failed") for i in range(2)]
    batch.append(result(run_id, "gpt-4.1-mini", 9, "errored"))
    database.call(store.save_results, results=batch)
    run = database.call(store.get_run, run_id=run_id)
    body = store.run_as_dict(run, database.call(store.tallies, run_id=run_id))
    assert body["id"] == f"r{run_id}" and body["status"] == "queued"
    assert body["created_at"].endswith("Z")
    assert body["models"]["gpt-4.1-mini"] | {} == {
        "passed": 7,
        "failed": 2,
        "errored": 1,
        "graded": 9,
        "total": 10,
        "pass_rate": 0.7778,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "criteria": {},
    }


def test_each_criterion_is_counted_beside_the_models_totals(database: Database) -> None:
    run_id = new_run(database, ["m1", "m2"], total=4)
    rows = []
    for model, verdicts in {
        "m1": [(True, True), (True, False), (False, False), None],
        "m2": [(True, True), (True, True), (True, True), (True, True)],
    }.items():
        for i, verdict in enumerate(verdicts):
            row = store.new_result_row(run_id, model, i)
            if verdict is not None:
                label, fmt = verdict
                row["status"] = "passed" if label and fmt else "failed"
                row["criteria"] = {
                    "label": {"score": float(label), "passed": label},
                    "format": {"score": float(fmt), "passed": fmt},
                }
            rows.append(row)
    database.call(store.save_result_rows, rows=rows)
    run = database.call(store.get_run, run_id=run_id)
    criteria = database.call(store.criteria_tallies, run_id=run_id)
    body = store.run_as_dict(run, database.call(store.tallies, run_id=run_id), criteria)
    m1 = body["models"]["m1"]
    assert (m1["passed"], m1["graded"], m1["errored"]) == (1, 3, 1)
    assert m1["criteria"] == {
        "label": {"passed": 2, "graded": 3, "pass_rate": 0.6667},
        "format": {"passed": 1, "graded": 3, "pass_rate": 0.3333},
    }
    assert body["models"]["m2"]["criteria"]["format"] == {
        "passed": 4,
        "graded": 4,
        "pass_rate": 1.0,
    }


def test_event_ids_are_claimed_once(database: Database) -> None:
    assert database.call(events.claim_event, event_id="Ev1") is True
    assert database.call(events.claim_event, event_id="Ev1") is False
    assert database.call(events.claim_event, event_id="Ev2") is True


def test_concurrent_event_claims_have_one_winner(database: Database) -> None:
    """Two deliveries of one event racing on two threads: exactly one acts."""
    wins: list[bool] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        try:
            wins.append(database.call(events.claim_event, event_id="EvRace"))
        except Exception:  # a loser may also see a serialization error
            wins.append(False)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_notices_are_claimed_once(database: Database) -> None:
    assert database.call(notices.claim, key="run:1:failures") is True
    assert database.call(notices.claim, key="run:1:failures") is False
    assert database.call(notices.claimed, key="run:1:failures") is True


def test_alias_moves_keep_their_history(database: Database) -> None:
    assert database.call(aliases.all_aliases) == {}
    database.call(
        aliases.set_alias,
        suite="s",
        alias="production",
        model="a",
        decided_by="U1",
        evidence={"runs": ["r1"]},
    )
    database.call(aliases.set_alias, suite="s", alias="production", model="b", decided_by="U2")
    database.call(aliases.set_alias, suite="s", alias="staging", model="c", decided_by="U2")
    assert database.call(aliases.all_aliases) == {"s": {"production": "b", "staging": "c"}}
    history = database.call(aliases.history, suite="s")
    assert [(c.model, c.previous, c.decided_by) for c in history] == [
        ("c", None, "U2"),
        ("b", "a", "U2"),
        ("a", None, "U1"),
    ]
    assert history[-1].evidence == {"runs": ["r1"]}


async def test_database_run_executes_off_the_event_loop(database: Database) -> None:
    seen: list[str] = []

    def where(session: Any) -> None:
        seen.append(threading.current_thread().name)

    await database.run(where)
    assert seen and seen[0].startswith("db")
    assert await database.aping() is True
