"""A fresh database built from the models (`create_fresh`) is the database the
migrations build (`migrate`), on SQLite and PostgreSQL: the fast path of a first start
(`evalbot eval run` in CI) may skip replaying migrations only because of this."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from storage.db import (
    MIGRATIONS,
    create_fresh,
    create_or_migrate,
    head_revision,
    make_engine,
    migrate,
)
from tests.conftest import PG_URL


def schema_of(engine: Engine) -> dict[str, Any]:
    """Everything reflection sees: columns (type, nullability, default), keys, indexes."""
    insp = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        tables[name] = {
            # By name: ALTER TABLE ADD COLUMN appends, and the order is not the schema.
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in insp.get_columns(name)
            ),
            "primary_key": insp.get_pk_constraint(name)["constrained_columns"],
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in insp.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in insp.get_indexes(name)
            ),
            "unique": sorted(
                (uc["name"] or "", tuple(uc["column_names"]))
                for uc in insp.get_unique_constraints(name)
            ),
        }
    with engine.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return {"tables": tables, "head": head}


@pytest.fixture(params=["sqlite", "postgresql"])
def two_engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two empty databases of one dialect."""
    if request.param == "sqlite":
        engines = (
            make_engine(f"sqlite:///{tmp_path / 'migrated.db'}"),
            make_engine(f"sqlite:///{tmp_path / 'created.db'}"),
        )
        yield engines
        for engine in engines:
            engine.dispose()
        return
    if not request.getfixturevalue("pg_ok"):
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    admin = create_engine(PG_URL)
    schemas = ["t_" + uuid.uuid4().hex[:12] for _ in range(2)]
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    engines = (make_engine(PG_URL, schema=schemas[0]), make_engine(PG_URL, schema=schemas[1]))
    try:
        yield engines
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_fresh_database_created_from_the_models_is_the_migrated_one(
    two_engines: tuple[Engine, Engine],
) -> None:
    migrated, created = two_engines
    migrate(migrated)
    create_fresh(created)
    expected = schema_of(migrated)
    assert expected["tables"] and expected["head"]
    assert schema_of(created) == expected


def test_the_migrations_build_exactly_the_tables_the_models_describe(
    two_engines: tuple[Engine, Engine],
) -> None:
    """A column added to storage/tables.py without a migration fails here, not in prod."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.tables  # noqa: F401  (registers the tables)

    engine, _ = two_engines
    migrate(engine)  # every migration replayed, not the fresh-database shortcut
    with engine.connect() as conn:
        opts: dict[str, Any] = {"compare_type": False}
        if conn.dialect.name != "sqlite":
            opts["include_schemas"] = False
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)
    assert diff == []


def test_an_existing_database_is_migrated_not_recreated(
    two_engines: tuple[Engine, Engine],
) -> None:
    engine, _ = two_engines
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO eval_runs (suite, data_version, models, status, total, origin,"
                " created_at, announced, adjustments)"
                " VALUES ('s', 'v', '[]', 'finished', 1, 'cli', CURRENT_TIMESTAMP, false, '{}')"
            )
        )
    before = schema_of(engine)
    create_or_migrate(engine)  # a restart: nothing to apply, nothing dropped
    assert schema_of(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM eval_runs")).scalar() == 1


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_a_database_behind_the_head_is_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate(engine)
        with engine.begin() as conn:  # as if written by an older evalbot
            conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        with pytest.raises(Exception, match="older"):  # alembic is asked, and knows no 'older'
            create_or_migrate(engine)
    finally:
        engine.dispose()
