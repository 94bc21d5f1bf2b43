"""`complete_runs` / `latest_complete_run`: the suite's last full result on its data."""

from __future__ import annotations

from storage import runs as store
from storage.db import Database


def run(
    db: Database,
    models: list[str],
    *,
    status: str = "finished",
    suite: str = "s",
    data_version: str = "v2",
    sample_limit: int | None = None,
) -> int:
    row = db.call(
        store.create_run,
        suite=suite,
        data_version=data_version,
        models=models,
        total=sample_limit or 10,
        sample_limit=sample_limit,
    )
    assert row.id is not None
    if status != "queued":
        db.call(store.mark_running, run_id=row.id)
    if status in store.TERMINAL:
        assert db.call(store.finish, run_id=row.id, status=status)
    return row.id


def test_only_finished_full_runs_on_the_data_version_count(database: Database) -> None:
    full_a = run(database, ["a", "b"])
    full_b = run(database, ["b"])
    run(database, ["a"], sample_limit=3)  # sampled: says nothing about the suite
    run(database, ["a"], data_version="v1")  # older data
    run(database, ["a"], suite="other")
    run(database, ["a"], status="cancelled")
    run(database, ["a"], status="failed")
    run(database, ["a"], status="running")

    def latest(model: str | None) -> int | None:
        found = database.call(store.latest_complete_run, suite="s", data_version="v2", model=model)
        return found.id if found is not None else None

    assert latest(None) == full_b
    assert latest("b") == full_b
    assert latest("a") == full_a
    assert latest("c") is None
    assert database.call(store.latest_complete_run, suite="s", data_version="v1") is not None
    ids = [r.id for r in database.call(store.complete_runs, suite="s", data_version="v2")]
    assert ids == [full_b, full_a]  # newest first
    limited = database.call(store.complete_runs, suite="s", data_version="v2", model="b", limit=1)
    assert [r.id for r in limited] == [full_b]


async def test_latest_complete_run_through_the_thread_pool(database: Database) -> None:
    newest = run(database, ["a"])
    found = await database.run(store.latest_complete_run, suite="s", data_version="v2", model="a")
    assert found is not None and found.id == newest and found.models == ["a"]
