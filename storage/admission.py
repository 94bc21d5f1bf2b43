"""Which runs may execute now: at most EVALBOT_MAX_ACTIVE_RUNS at once, first come first
served, across every process sharing the database (the order is the runs' ids).

Counting the running runs and marking one more running must be one step for every
process at once, or two processes could each count three of four and both start a
run. `hold_admissions` makes it so: the first statement of an admission's transaction,
it waits for (and holds until commit) a claim no other admission can share: a
transaction-level advisory lock on PostgreSQL, the database's write lock on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from storage.tables import EvalRun, FineTuneJob, SampleResult


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued run stands: the runs executing and the queued runs before it."""

    running: tuple[int, ...]
    ahead: tuple[int, ...]
    limit: int

    @property
    def position(self) -> int:
        """1 for the next run to start."""
        return len(self.ahead) + 1


@dataclass(frozen=True)
class Admission:
    """The answer for one run: `status` its stored status; `place` None means it may go."""

    status: str
    place: QueuePlace | None


def hold_admissions(session: Session) -> None:
    """Wait until no other transaction is admitting a run, in any process, and keep
    them waiting until this transaction ends. Must be the transaction's first statement.

    PostgreSQL: `pg_advisory_xact_lock`, keyed by the schema so deployments sharing a
    server in separate schemas do not wait on each other (the two-key form, apart from
    the scheduler's one-key leader lock). Reads after it see every admission committed
    before it (READ COMMITTED takes a snapshot per statement). SQLite: BEGIN IMMEDIATE
    takes the write lock before the count is read, so the count cannot go stale; another
    process's admission waits on the busy timeout.
    """
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(
            text(
                "SELECT pg_advisory_xact_lock("
                "hashtext('evalbot:admission'), hashtext(current_schema()))"
            )
        )
    elif dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:  # pragma: no cover - the two databases evalbot supports are above
        raise RuntimeError(f"admission across processes is not implemented for {dialect}")


def admission(session: Session, *, run_id: int, max_active: int) -> Admission:
    """May run `run_id` start now? Queued runs with a smaller id go first."""
    run = session.get(EvalRun, run_id)
    if run is None:
        return Admission("missing", None)
    if run.status != "queued":
        return Admission(run.status, None)
    running = tuple(
        int(i)
        for i in session.exec(
            select(EvalRun.id).where(EvalRun.status == "running").order_by(col(EvalRun.id))
        )
        if i is not None
    )
    ahead = tuple(
        int(i)
        for i in session.exec(
            select(EvalRun.id)
            .where(EvalRun.status == "queued", col(EvalRun.id) < run_id)
            .order_by(col(EvalRun.id))
        )
        if i is not None
    )
    if len(running) + len(ahead) < max_active:
        return Admission("queued", None)
    return Admission("queued", QueuePlace(running, ahead, max_active))


def running_runs(session: Session) -> list[EvalRun]:
    """Runs executing now (their remaining cost is already promised)."""
    return list(session.exec(select(EvalRun).where(EvalRun.status == "running")))


def spent_since(session: Session, *, since: datetime) -> float:
    """USD spent since `since`: stored samples' costs plus the estimates of fine-tuning
    jobs created since (their bill is not known until they end)."""
    samples = session.execute(
        select(func.sum(col(SampleResult.cost_usd))).where(col(SampleResult.created_at) >= since)
    ).scalar()
    jobs = session.execute(
        select(func.sum(col(FineTuneJob.estimated_cost_usd))).where(
            col(FineTuneJob.created_at) >= since,
            col(FineTuneJob.status).not_in(("refused", "rejected")),  # never started
        )
    ).scalar()
    return float(samples or 0.0) + float(jobs or 0.0)


def samples_done(session: Session, *, run_id: int) -> dict[str, int]:
    """Per model, the samples of a run already stored (their cost is counted already)."""
    rows = session.execute(
        select(SampleResult.model, func.count())
        .where(SampleResult.run_id == run_id)
        .group_by(SampleResult.model)
    ).all()
    return {str(model): int(n) for model, n in rows}
