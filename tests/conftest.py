"""Shared pytest fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack (Web API, response_url, Socket Mode) on 127.0.0.1, stopped after."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake OpenAI API on 127.0.0.1 (``fake_openai.base_url``), stopped after."""
    with FakeOpenAI() as fake:
        yield fake


PG_URL = os.environ.get("EVALBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    """True when the test PostgreSQL answers; in CI its absence is a failure, not a skip."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_ok() -> bool:
    ok = postgres_available()
    if not ok and os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL}; CI must run the PostgreSQL tests")
    return ok


@pytest.fixture
def pg_schema(pg_ok: bool) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped after."""
    if not pg_ok:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    from sqlalchemy import create_engine, text

    schema = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A migrated storage.db.Database on SQLite and on PostgreSQL (own schema)."""
    from storage.db import Database

    if request.param == "sqlite":
        db = Database.connect(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        schema = request.getfixturevalue("pg_schema")
        db = Database.connect(PG_URL, schema=schema)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(autouse=True)
def _scrub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Slack or OpenAI settings."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "OPENAI_", "EVALBOT_")) or name in ("DATABASE_URL", "PORT"):
            monkeypatch.delenv(name, raising=False)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """How `make test`'s parallel workers (pytest-xdist) share the tests: a module at a
    time, so its module-scoped fixtures (a bot, a server) are built once on one worker, and
    the training tier as one piece, so one Ray head and one model server serve all of it.
    (xdist's own `--dist loadgroup` marks do not group under pytest 9.2, which no longer
    reads the node id xdist rewrites.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/training" if path.startswith("tests/training/") else path

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The training tier first, as it is the longest stretch one worker takes; the slow
    process-starting e2e modules next; the quick tiers fill in."""

    def rank(item: pytest.Item) -> int:
        parts = Path(str(item.path)).parts
        tier = parts[parts.index("tests") + 1] if "tests" in parts else ""
        return {"training": 0, "e2e": 1}.get(tier, 2)

    items.sort(key=rank)  # stable: the order within each tier is kept
