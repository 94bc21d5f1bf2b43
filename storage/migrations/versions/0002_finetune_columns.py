"""fine-tune jobs: real columns instead of the options blob; training data apart

Revision ID: 0002_finetune_columns
Revises: 0001
Create Date: 2026-12-01

`finetune_jobs.options` carried the method, the data's description, the progress and the
whole training file in one JSON value, read back on every poll. Its parts move to
columns of their own, the training data to `finetune_data` (chunks, read only when
uploaded), and the blob goes. A job already past its upload has no data left to move.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002_finetune_columns"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK_BYTES = 1024 * 1024  # as storage.finetunes.CHUNK_BYTES, frozen for this migration
METHOD_TYPES = {"sft": "supervised", "dpo": "dpo", "rft": "reinforcement"}

_STR = sqlmodel.sql.sqltypes.AutoString


def _new_columns() -> list[sa.Column[Any]]:
    """Fresh Column objects each time: a Column belongs to one table once added."""
    return [
        sa.Column("backend", _STR(), nullable=False, server_default="openai"),
        sa.Column("hyperparameters", sa.JSON(), nullable=True),
        sa.Column("grader", sa.JSON(), nullable=True),
        sa.Column("suffix", _STR(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("data_source", _STR(), nullable=True),
        sa.Column("examples", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("estimated_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cost_note", sa.Text(), nullable=True),
        sa.Column("serving_name", _STR(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("valid_loss", sa.Float(), nullable=True),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("eta_s", sa.Integer(), nullable=True),
        sa.Column("seen_events", sa.JSON(), nullable=True),
    ]


NEW_COLUMNS = _new_columns()

jobs = sa.table(
    "finetune_jobs",
    sa.column("id", sa.Integer()),
    sa.column("method", sa.String()),
    sa.column("options", sa.JSON()),
    *(sa.column(c.name, c.type) for c in NEW_COLUMNS),
)
data = sa.table(
    "finetune_data",
    sa.column("job_id", sa.Integer()),
    sa.column("part", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("chunk", sa.LargeBinary()),
)


def _chunks(text: str) -> Iterator[bytes]:
    raw = text.encode()
    for start in range(0, len(raw), CHUNK_BYTES):
        yield raw[start : start + CHUNK_BYTES]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _columns(options: dict[str, Any]) -> dict[str, Any]:
    """The new columns of one job, from its options blob."""
    method = options.get("method") if isinstance(options.get("method"), dict) else {}
    body = method.get(str(method.get("type")), {}) if method else {}
    body = body if isinstance(body, dict) else {}
    progress = options.get("progress") if isinstance(options.get("progress"), dict) else {}
    seen = options.get("seen_events")
    return {
        "hyperparameters": dict(body.get("hyperparameters") or {}),
        "grader": body.get("grader"),
        "suffix": options.get("suffix"),
        "seed": _int(options.get("seed")),
        "data_source": options.get("source"),
        "examples": _int(options.get("examples")) or 0,
        "estimated_tokens": _int(options.get("tokens")) or 0,
        "duplicates": _int(options.get("duplicates")) or 0,
        "cost_note": options.get("cost_note"),
        "step": _int(progress.get("step")),
        "total_steps": _int(progress.get("total_steps")),
        "train_loss": _float(progress.get("train_loss")),
        "valid_loss": _float(progress.get("valid_loss")),
        "eta_s": _int(progress.get("eta_s")),
        "seen_events": [str(e) for e in seen] if isinstance(seen, list) else [],
    }


def _options(options: Any) -> dict[str, Any]:
    if isinstance(options, str):  # a driver that hands JSON back as text
        options = json.loads(options)
    return options if isinstance(options, dict) else {}


def upgrade() -> None:
    op.create_table(
        "finetune_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("part", _STR(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["finetune_jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "part", "seq"),
    )
    with op.batch_alter_table("finetune_data", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finetune_data_job_id"), ["job_id"], unique=False)
    # Plain ALTER TABLE, not a batch copy of the table: on SQLite a batch drops and
    # recreates finetune_jobs, which finetune_data's foreign key forbids once it has rows.
    for column in _new_columns():
        op.add_column("finetune_jobs", column)

    conn = op.get_bind()
    # One job at a time: a blob may hold a whole training file.
    ids = [row.id for row in conn.execute(sa.select(jobs.c.id).order_by(jobs.c.id))]
    for job_id in ids:
        options = _options(
            conn.execute(sa.select(jobs.c.options).where(jobs.c.id == job_id)).scalar()
        )
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(**_columns(options)))
        for part in ("train", "valid"):
            text = options.get(f"{part}_jsonl")
            if isinstance(text, str) and text:
                for seq, chunk in enumerate(_chunks(text)):
                    conn.execute(
                        data.insert().values(job_id=job_id, part=part, seq=seq, chunk=chunk)
                    )

    op.drop_column("finetune_jobs", "options")  # SQLite >= 3.35 drops it in place


def downgrade() -> None:
    op.add_column("finetune_jobs", sa.Column("options", sa.JSON(), nullable=True))
    conn = op.get_bind()
    ids = [row.id for row in conn.execute(sa.select(jobs.c.id).order_by(jobs.c.id))]
    for job_id in ids:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()
        kind = METHOD_TYPES.get(str(row["method"]), "supervised")
        body: dict[str, Any] = {"hyperparameters": row["hyperparameters"] or {}}
        if row["grader"] is not None:
            body["grader"] = row["grader"]
        options: dict[str, Any] = {
            "method": {"type": kind, kind: body},
            "suffix": row["suffix"],
            "seed": row["seed"],
            "source": row["data_source"],
            "examples": row["examples"],
            "tokens": row["estimated_tokens"],
            "duplicates": row["duplicates"],
            "cost_note": row["cost_note"],
            "seen_events": row["seen_events"] or [],
            "progress": {
                "step": row["step"],
                "total_steps": row["total_steps"],
                "train_loss": row["train_loss"],
                "valid_loss": row["valid_loss"],
                "eta_s": row["eta_s"],
            },
        }
        for part in ("train", "valid"):
            chunks = conn.execute(
                sa.select(data.c.chunk)
                .where(data.c.job_id == job_id, data.c.part == part)
                .order_by(data.c.seq)
            ).scalars()
            text = b"".join(chunks).decode()
            options[f"{part}_jsonl"] = text or None
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(options=options))
    # finetune_data first: nothing may refer to finetune_jobs while SQLite rebuilds it.
    with op.batch_alter_table("finetune_data", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finetune_data_job_id"))
    op.drop_table("finetune_data")
    with op.batch_alter_table("finetune_jobs", schema=None) as batch_op:
        for column in reversed(NEW_COLUMNS):
            batch_op.drop_column(column.name)
