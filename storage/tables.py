"""Every table evalbot keeps: what the contract calls durable is written here first.

Ids shown to users are the integer primary key with a prefix (r12, f3, w2, p7); see
storage.ids. Times are aware UTC datetimes (sqlmodel's UTCDateTime stores them in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, LargeBinary, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, aware and in UTC, as every table stores it."""
    return datetime.now(UTC)


def _json(default: Any = None) -> Any:
    return Field(
        default_factory=(lambda: default() if callable(default) else default),
        sa_column=Column(JSON, nullable=True),
    )


class EvalRun(SQLModel, table=True):
    """One `/eval run`: a suite on one or more models."""

    __tablename__ = "eval_runs"

    id: int | None = Field(default=None, primary_key=True)
    suite: str = Field(index=True)
    data_version: str
    models: list[str] = _json(list)
    status: str = Field(default="queued", index=True)  # queued running finished cancelled failed
    sample_limit: int | None = None
    total: int = 0  # samples per model
    channel: str | None = None
    message_ts: str | None = None  # the one message kept up to date
    user_id: str | None = None
    origin: str = "slack"  # slack, cli, watch, finetune
    origin_ref: str | None = None  # e.g. the watch or job that started it
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    announced: bool = False  # the final summary has been posted
    # Sampling parameters a model refused and ran without: {model: ["temperature"]}.
    adjustments: dict[str, Any] = _json(dict)
    # The process executing the run and until when its claim holds; renewed while the
    # run goes on, so a crashed process's runs are taken over once the lease lapses.
    owner: str | None = None
    lease_until: datetime | None = None


class SampleResult(SQLModel, table=True):
    """One sample of one model in one run; unique so a resumed run never grades twice."""

    __tablename__ = "sample_results"
    __table_args__ = (UniqueConstraint("run_id", "model", "item_index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="eval_runs.id", index=True)
    model: str
    item_index: int
    status: str  # passed failed errored
    score: float | None = None
    output: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    # Each testing criterion's verdict: {name: {"score": float, "passed": bool}};
    # null for an errored sample (and for results stored before criteria existed).
    criteria: dict[str, Any] | None = _json(None)
    # The answer was cut at the output-token cap (finish_reason `length`): its grade
    # judged part of an answer, which the summary says. Last, as migration 0004 added it.
    truncated: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class FineTuneJob(SQLModel, table=True):
    """A fine-tuning request and the backend job it became.

    The training data itself is not here: it lives in FineTuneData, written once with the
    request and read only while it is uploaded, so loading a job (every poll) stays small.
    """

    __tablename__ = "finetune_jobs"

    id: int | None = Field(default=None, primary_key=True)
    request_key: str = Field(unique=True)  # idempotency key, also sent as job metadata
    suite: str
    method: str  # sft dpo rft
    provider: str = "default"
    # The FineTuneBackend that runs it (EVALBOT_FINETUNE_BACKENDS). The server defaults
    # are the ones migration 0002 needed to add these columns to existing rows.
    backend: str = Field(default="openai", sa_column_kwargs={"server_default": "openai"})
    base_model: str
    # The method's settings: n_epochs, batch_size, learning_rate_multiplier, beta, ...
    hyperparameters: dict[str, Any] = _json(dict)
    grader: dict[str, Any] | None = _json(None)  # rft: the suite's grader when requested
    suffix: str | None = None
    seed: int | None = None
    # What the data is: where it came from and its size, as shown in the job's message.
    data_source: str | None = None  # e.g. "suite train.jsonl", "run r12 (passing outputs)"
    examples: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    estimated_tokens: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    duplicates: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    cost_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="pending", index=True)
    provider_job_id: str | None = Field(default=None, index=True)
    fine_tuned_model: str | None = None  # the result's name at the backend
    serving_name: str | None = None  # the model name it is served and evaluated by
    training_file_id: str | None = None
    validation_file_id: str | None = None
    estimated_cost_usd: float | None = None
    trained_tokens: int | None = None
    # Progress, from the backend's latest metrics.
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    reward: float | None = None
    eta_s: int | None = None
    seen_events: list[str] = _json(list)  # event ids already posted in the thread
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    channel: str | None = None
    message_ts: str | None = None
    user_id: str | None = None
    eval_run_id: int | None = None
    # Held by the process submitting the job (see storage.leases).
    owner: str | None = None
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class FineTuneData(SQLModel, table=True):
    """A request's training (or validation) JSONL in chunks of at most CHUNK_BYTES.

    Kept apart from the job row so it is read only when uploaded, a chunk at a time, and
    deleted once the backend has the files.
    """

    __tablename__ = "finetune_data"
    __table_args__ = (UniqueConstraint("job_id", "part", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="finetune_jobs.id", index=True)
    part: str  # train valid
    seq: int
    chunk: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Watch(SQLModel, table=True):
    """A scheduled check of a provider for new models matching a glob."""

    __tablename__ = "watches"

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    user_id: str | None = None
    glob: str
    suites: list[str] = _json(list)
    every_s: int = 3600
    provider: str = "default"
    paused: bool = False
    initialized: bool = False  # the first poll only records what exists
    created_at: datetime = Field(default_factory=utcnow)
    # Models first seen at or before this moment (the first poll) are not releases.
    baseline_at: datetime | None = None
    last_checked_at: datetime | None = None


class SeenModel(SQLModel, table=True):
    """A model a provider has listed, so only later ones count as releases."""

    __tablename__ = "seen_models"

    provider: str = Field(primary_key=True)
    model_id: str = Field(primary_key=True)
    shutdown_date: str | None = None
    first_seen_at: datetime = Field(default_factory=utcnow)


class Notice(SQLModel, table=True):
    """A once-only announcement (release alert, retirement reminder) by a stable key."""

    __tablename__ = "notices"

    key: str = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    channel: str | None = None
    message_ts: str | None = None


class Proposal(SQLModel, table=True):
    """A proposal to point a suite's alias at a model; approvers decide by reaction."""

    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_message", "channel", "message_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "promotion"  # promotion (moves an alias) | finetune (starts a costly job)
    suite: str = Field(index=True)
    alias: str = "production"
    candidate: str
    current: str | None = None
    evidence: dict[str, Any] = _json(dict)
    proposer: str | None = None
    approvals_needed: int = 1
    status: str = Field(default="open", index=True)  # open approved rejected expired void
    channel: str | None = None
    message_ts: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None


class Approval(SQLModel, table=True):
    """One approver's vote on a proposal; withdrawn when the reaction is removed."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: str
    kind: str  # approve reject
    created_at: datetime = Field(default_factory=utcnow)
    withdrawn_at: datetime | None = None


class Alias(SQLModel, table=True):
    """Which model an alias of a suite points at now."""

    __tablename__ = "aliases"

    suite: str = Field(primary_key=True)
    alias: str = Field(primary_key=True)
    model: str
    updated_at: datetime = Field(default_factory=utcnow)


class AliasChange(SQLModel, table=True):
    """The history of an alias: who moved it, when, on what evidence."""

    __tablename__ = "alias_changes"

    id: int | None = Field(default=None, primary_key=True)
    suite: str = Field(index=True)
    alias: str
    model: str
    previous: str | None = None
    proposal_id: int | None = Field(default=None, foreign_key="proposals.id")
    decided_by: str | None = None
    evidence: dict[str, Any] = _json(dict)
    created_at: datetime = Field(default_factory=utcnow)


class HandledEvent(SQLModel, table=True):
    """A Slack event id already acted on: redeliveries are dropped."""

    __tablename__ = "handled_events"

    event_id: str = Field(primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
