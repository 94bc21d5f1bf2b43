"""Engine, sessions and migrations for SQLite (the default) and PostgreSQL.

Storage functions are synchronous and take a session; the bot calls them through
`Database.run`, which executes them on a small thread pool so the event loop (and
Slack's 3-second acks) never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

P = ParamSpec("P")
T = TypeVar("T")


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args=connect_args
    )


def _alembic_config(conn: Connection) -> Any:
    # alembic is imported only when migrations really run: a fresh or up-to-date
    # database (every `evalbot eval run` in CI) starts without it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(engine: Engine) -> None:
    """Apply every alembic migration to the engine's database (idempotent)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")


_REVISION = re.compile(r"^revision(?:: str)? = [\"']([^\"']+)[\"']", re.M)
_DOWN = re.compile(r"^down_revision(?:: [^=]+)? = [\"']([^\"']+)[\"']", re.M)


def head_revision() -> str:
    """The newest migration's revision id, read from the migration files (what
    `alembic heads` says; tests/integration/test_schema.py checks they agree)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if found := _REVISION.search(source):
            revisions.add(found.group(1))
        if down := _DOWN.search(source):
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"expected one head migration, found {sorted(heads)}")
    return heads.pop()


# alembic's own version table, as `alembic stamp` creates it.
_VERSIONS = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def create_fresh(engine: Engine) -> None:
    """Build the latest schema on an empty database from the models in one pass, and
    stamp it at the head migration: the schema `migrate` builds (a test compares the
    two on SQLite and PostgreSQL), without replaying every migration's steps."""
    import storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

    with engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
        _VERSIONS.create(conn)
        conn.execute(_VERSIONS.insert().values(version_num=head_revision()))


def create_or_migrate(engine: Engine) -> None:
    """Bring the database to the latest schema: create an empty one, migrate one that
    is behind, leave one at the head migration alone."""
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        current = (
            conn.execute(select(_VERSIONS.c.version_num)).scalars().all()
            if _VERSIONS.name in tables
            else []
        )
    if not tables:
        create_fresh(engine)
    elif current != [head_revision()]:
        migrate(engine)


class Database:
    """The engine plus a thread pool to run storage functions off the event loop."""

    def __init__(self, engine: Engine, *, workers: int = 4) -> None:
        self.engine = engine
        # SQLite allows one writer at a time: more threads only queue on its lock.
        if engine.dialect.name == "sqlite":
            workers = 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")

    @classmethod
    def connect(
        cls, url: str, *, schema: str | None = None, run_migrations: bool = True
    ) -> Database:
        engine = make_engine(url, schema=schema)
        if run_migrations:
            create_or_migrate(engine)
        return cls(engine)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    # Storage functions take the session first (`def f(session: Session, *, ...)`), so
    # the ParamSpec lets mypy check every other argument at each `db.run(f, ...)` call.
    def call(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(session, *args, **kwargs)` in one transaction, synchronously."""
        with self.session() as session:
            return fn(session, *args, **kwargs)

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(session, *args, **kwargs)` in one transaction on the database thread pool."""
        loop = asyncio.get_running_loop()
        call = partial(self.call, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            log.warning("database ping failed", exc_info=True)
            return False

    async def aping(self) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.ping)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.engine.dispose()
