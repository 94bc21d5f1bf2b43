"""Fine-tuning requests and the provider jobs they become.

A request is recorded (with its idempotency key) before any provider call, so a repeated
command, a redelivery or a restart finds it instead of creating a second job.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.tables import FineTuneJob, utcnow

# Before the provider knows the job; a restarted leader finishes submitting these.
LOCAL = ("awaiting_approval", "pending")
TERMINAL = ("succeeded", "failed", "cancelled", "refused", "rejected")


def record_request(
    session: Session, /, *, request_key: str, **fields: Any
) -> tuple[FineTuneJob, bool]:
    """Insert a request; (row, True) when new, (existing row, False) for a repeat.

    A repeat of a request whose job failed or was refused starts over: the old row keeps
    its history under a retired key.
    """
    existing = session.exec(
        select(FineTuneJob).where(FineTuneJob.request_key == request_key)
    ).first()
    if existing is not None:
        if existing.status not in ("failed", "refused", "cancelled", "rejected"):
            return existing, False
        existing.request_key = f"{request_key}:retired:{existing.id}"
        session.flush()
    job = FineTuneJob(request_key=request_key, **fields)
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:  # a concurrent duplicate won the race
        found = session.exec(
            select(FineTuneJob).where(FineTuneJob.request_key == request_key)
        ).one()
        return found, False
    return job, True


def get_job(session: Session, *, job_id: int) -> FineTuneJob | None:
    return session.get(FineTuneJob, job_id)


def by_provider_id(session: Session, *, provider_job_id: str) -> FineTuneJob | None:
    query = select(FineTuneJob).where(FineTuneJob.provider_job_id == provider_job_id)
    return session.exec(query).first()


def update(session: Session, /, *, job_id: int, **fields: Any) -> FineTuneJob | None:
    job = session.get(FineTuneJob, job_id, with_for_update=True)
    if job is None:
        return None
    for key, value in fields.items():
        setattr(job, key, value)
    job.updated_at = utcnow()
    return job


def conclude(session: Session, /, *, job_id: int, **fields: Any) -> tuple[FineTuneJob, bool]:
    """Record the job's end; (job, False) if it had already ended (recorded elsewhere)."""
    job = session.get(FineTuneJob, job_id, with_for_update=True)
    if job is None:
        raise LookupError(f"f{job_id}")
    if job.status in TERMINAL:
        return job, False
    for key, value in fields.items():
        setattr(job, key, value)
    job.updated_at = utcnow()
    return job, True


def set_option(session: Session, *, job_id: int, key: str, value: Any) -> None:
    job = session.get(FineTuneJob, job_id, with_for_update=True)
    if job is not None:
        job.options = {**(job.options or {}), key: value}


def list_jobs(
    session: Session, *, channel: str | None = None, limit: int = 20
) -> list[FineTuneJob]:
    query = select(FineTuneJob).order_by(col(FineTuneJob.id).desc()).limit(limit)
    if channel is not None:
        query = query.where(FineTuneJob.channel == channel)
    return list(session.exec(query))


def unfinished(session: Session) -> list[FineTuneJob]:
    """Jobs a restarted leader must pick up: submit, or follow."""
    query = (
        select(FineTuneJob)
        .where(col(FineTuneJob.status).not_in(TERMINAL))
        .order_by(col(FineTuneJob.id))
    )
    return list(session.exec(query))
