"""Which runs may execute now: at most EVALBOT_MAX_ACTIVE_RUNS at once, first come first
served, across every process sharing the database (the order is the runs' ids)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
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
