"""Fine-tune jobs on a real database: columns instead of a blob, training data in chunks,
and the migration that moves existing rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text
from sqlmodel import select

from storage import finetunes as store
from storage.db import MIGRATIONS, Database, make_engine
from storage.tables import FineTuneData, FineTuneJob
from tests.conftest import PG_URL


def _alembic(engine: Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database, migrations left to the test."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        engine = make_engine(PG_URL, schema=request.getfixturevalue("pg_schema"))
    try:
        yield engine
    finally:
        engine.dispose()


def _rows(n: int, width: int) -> str:
    pad = "x" * width
    return "".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"Q{i} {pad}"},
                    {"role": "assistant", "content": f"A{i}"},
                ]
            }
        )
        + "\n"
        for i in range(n)
    )


def test_the_migration_moves_the_options_blob_into_columns_and_chunks(
    bare_engine: Engine,
) -> None:
    _alembic(bare_engine, "upgrade", "0001")
    train = _rows(3000, 800)  # ~2.6 MB: three chunks
    assert len(train.encode()) > 2 * store.CHUNK_BYTES
    pending = {
        "method": {
            "type": "reinforcement",
            "reinforcement": {
                "hyperparameters": {"n_epochs": 2, "reasoning_effort": "low"},
                "grader": {"type": "string_check", "name": "g"},
            },
        },
        "suffix": "routing",
        "seed": 7,
        "source": "suite eval.jsonl",
        "examples": 3000,
        "tokens": 123456,
        "duplicates": 2,
        "train_jsonl": train,
        "valid_jsonl": "{}\n",
        "cost_note": "RFT is billed per hour",
    }
    running = {
        "method": {"type": "supervised", "supervised": {"hyperparameters": {}}},
        "source": "file data.jsonl",
        "examples": 12,
        "tokens": 900,
        "train_jsonl": None,
        "valid_jsonl": None,
        "seen_events": ["ev-1", "ev-2"],
        "progress": {
            "step": 5,
            "total_steps": 20,
            "train_loss": 1.25,
            "valid_loss": None,
            "eta_s": 60,
            "curve": [[5, 1.25, None]],
        },
    }
    insert = text(
        "INSERT INTO finetune_jobs (request_key, suite, method, provider, base_model, "
        "options, status, created_at, updated_at) VALUES (:key, 's', :method, 'default', "
        "'gpt-4.1-mini', :options, :status, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with bare_engine.begin() as conn:
        conn.execute(
            insert,
            {"key": "k1", "method": "rft", "options": json.dumps(pending), "status": "pending"},
        )
        conn.execute(
            insert,
            {"key": "k2", "method": "sft", "options": json.dumps(running), "status": "running"},
        )

    _alembic(bare_engine, "upgrade", "head")

    columns = {c["name"] for c in inspect(bare_engine).get_columns("finetune_jobs")}
    assert "options" not in columns and {"backend", "step", "hyperparameters"} <= columns
    db = Database(bare_engine)
    try:
        first = db.call(store.get_job, job_id=1)
        second = db.call(store.get_job, job_id=2)
        assert first is not None and second is not None
        assert first.backend == "openai" and second.backend == "openai"
        assert first.hyperparameters == {"n_epochs": 2, "reasoning_effort": "low"}
        assert first.grader == {"type": "string_check", "name": "g"}
        assert (first.suffix, first.seed, first.data_source) == ("routing", 7, "suite eval.jsonl")
        assert (first.examples, first.estimated_tokens, first.duplicates) == (3000, 123456, 2)
        assert first.cost_note == "RFT is billed per hour"
        assert (second.step, second.total_steps, second.train_loss) == (5, 20, 1.25)
        assert second.valid_loss is None and second.eta_s == 60
        assert second.seen_events == ["ev-1", "ev-2"]
        assert second.hyperparameters == {} and second.grader is None

        out = io.BytesIO()
        assert db.call(store.copy_data, job_id=1, part="train", into=out) == len(train.encode())
        assert out.getvalue() == train.encode()
        assert db.call(store.data_size, job_id=1, part="valid") == 3
        assert db.call(store.data_size, job_id=2, part="train") == 0

        # And back: the blob is rebuilt from the columns and the chunks.
        _alembic(bare_engine, "downgrade", "0001")
        with bare_engine.connect() as conn:
            raw = conn.execute(text("SELECT options FROM finetune_jobs WHERE id = 1")).scalar()
            tables = set(inspect(conn).get_table_names())
        options = json.loads(raw) if isinstance(raw, str) else raw
        assert "finetune_data" not in tables
        assert options["train_jsonl"] == train
        assert options["method"] == pending["method"]
        assert {k: options[k] for k in ("suffix", "seed", "source")} == {
            "suffix": "routing",
            "seed": 7,
            "source": "suite eval.jsonl",
        }
    finally:
        db.close()


def test_a_request_keeps_its_data_beside_the_row_until_it_is_dropped(database: Database) -> None:
    train = _rows(2000, 700).encode()  # over one chunk, given in odd-sized pieces
    pieces = [train[i : i + 333_333] for i in range(0, len(train), 333_333)]
    job, new = database.call(
        store.record_request,
        request_key="k1",
        train=pieces,
        valid=[b'{"a": 1}\n'],
        suite="s",
        method="sft",
        base_model="m",
        hyperparameters={"n_epochs": 3},
        examples=2000,
    )
    assert new and job.id is not None
    with database.session() as session:
        chunks = list(
            session.exec(
                select(FineTuneData).where(
                    FineTuneData.job_id == job.id, FineTuneData.part == "train"
                )
            )
        )
        assert len(chunks) == -(-len(train) // store.CHUNK_BYTES)
        assert all(len(c.chunk) <= store.CHUNK_BYTES for c in chunks)
    out = io.BytesIO()
    assert database.call(store.copy_data, job_id=job.id, part="train", into=out) == len(train)
    assert out.getvalue() == train
    assert database.call(store.data_size, job_id=job.id, part="valid") == len(b'{"a": 1}\n')

    # A repeat of the same request stores nothing more.
    again, new = database.call(
        store.record_request,
        request_key="k1",
        train=[b"x"],
        suite="s",
        method="sft",
        base_model="m",
    )
    assert not new and again.id == job.id
    assert database.call(store.data_size, job_id=job.id, part="train") == len(train)

    database.call(store.drop_data, job_id=job.id)
    assert database.call(store.data_size, job_id=job.id, part="train") == 0
    assert database.call(store.data_size, job_id=job.id, part="valid") == 0
    row = database.call(store.get_job, job_id=job.id)
    assert isinstance(row, FineTuneJob) and row.examples == 2000


def test_progress_is_kept_in_columns(database: Database) -> None:
    job, _ = database.call(
        store.record_request, request_key="k", suite="s", method="sft", base_model="m"
    )
    updated = database.call(
        store.update, job_id=job.id or 0, step=3, total_steps=9, train_loss=0.5, reward=0.75
    )
    assert updated is not None
    again = database.call(store.get_job, job_id=job.id or 0)
    assert again is not None
    assert (again.step, again.total_steps, again.train_loss, again.reward) == (3, 9, 0.5, 0.75)
