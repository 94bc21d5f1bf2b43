"""Counts an operator's dashboard reads at each scrape of /metrics: runs by status,
samples by status, and spend since a moment. Aggregates only: one GROUP BY each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.tables import EvalRun, SampleResult


def runs_by_status(session: Session) -> dict[str, int]:
    """How many runs are in each status (queued, running, finished, cancelled, failed)."""
    rows = session.execute(select(col(EvalRun.status), func.count()).group_by(col(EvalRun.status)))
    return {str(status): int(n) for status, n in rows}


def samples_by_status(session: Session) -> dict[str, int]:
    """How many sample results are stored in each status (passed, failed, errored)."""
    rows = session.execute(
        select(col(SampleResult.status), func.count()).group_by(col(SampleResult.status))
    )
    return {str(status): int(n) for status, n in rows}


def spend_since(session: Session, *, since: datetime) -> float:
    """USD the stored samples cost since `since` (UTC)."""
    total = session.execute(
        select(func.sum(col(SampleResult.cost_usd))).where(col(SampleResult.created_at) >= since)
    ).scalar()
    return float(total or 0.0)
