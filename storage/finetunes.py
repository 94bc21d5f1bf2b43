"""Fine-tuning requests and the provider jobs they become.

A request is recorded (with its idempotency key) before any provider call, so a repeated
command, a redelivery or a restart finds it instead of creating a second job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.tables import FineTuneData, FineTuneJob, utcnow

# Big enough that a 100 MB file is ~100 rows, small enough that one chunk in memory is cheap.
CHUNK_BYTES = 1024 * 1024

# Before the provider knows the job; a restarted leader finishes submitting these.
LOCAL = ("awaiting_approval", "pending")
TERMINAL = ("succeeded", "failed", "cancelled", "refused", "rejected")


def record_request(
    session: Session,
    /,
    *,
    request_key: str,
    train: Iterable[bytes] = (),
    valid: Iterable[bytes] = (),
    **fields: Any,
) -> tuple[FineTuneJob, bool]:
    """Insert a request and its data; (row, True) when new, (existing row, False) for a repeat.

    `train` and `valid` are the JSONL as pieces of bytes (any sizes); they are stored in
    chunks beside the row, in the same transaction, and only for a new request. A repeat
    of a request whose job failed or was refused starts over: the old row keeps its
    history under a retired key.
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
    assert job.id is not None
    _store(session, job.id, "train", train)
    _store(session, job.id, "valid", valid)
    return job, True


def _store(session: Session, job_id: int, part: str, pieces: Iterable[bytes]) -> None:
    buffer = bytearray()
    seq = 0
    for piece in pieces:
        buffer += piece
        while len(buffer) >= CHUNK_BYTES:
            session.add(
                FineTuneData(job_id=job_id, part=part, seq=seq, chunk=bytes(buffer[:CHUNK_BYTES]))
            )
            del buffer[:CHUNK_BYTES]
            seq += 1
            session.flush()  # hand the chunk to the database; keep no copy here
    if buffer:
        session.add(FineTuneData(job_id=job_id, part=part, seq=seq, chunk=bytes(buffer)))
        session.flush()


def data_size(session: Session, *, job_id: int, part: str) -> int:
    """Bytes stored for the request's `part` (train or valid); 0 when none (or dropped)."""
    query = select(func.coalesce(func.sum(func.length(FineTuneData.chunk)), 0)).where(
        FineTuneData.job_id == job_id, FineTuneData.part == part
    )
    return int(session.exec(query).one())


def copy_data(session: Session, *, job_id: int, part: str, into: IO[bytes]) -> int:
    """Write the request's `part` into `into`, one chunk in memory at a time; bytes written."""
    query = (
        select(FineTuneData.seq)
        .where(FineTuneData.job_id == job_id, FineTuneData.part == part)
        .order_by(col(FineTuneData.seq))
    )
    written = 0
    for seq in list(session.exec(query)):
        row = session.exec(
            select(FineTuneData).where(
                FineTuneData.job_id == job_id, FineTuneData.part == part, FineTuneData.seq == seq
            )
        ).one()
        written += into.write(row.chunk)
        session.expunge(row)  # let the chunk go
    return written


def drop_data(session: Session, *, job_id: int) -> None:
    """Forget the request's data: the backend has it (or the request will never run)."""
    session.execute(delete(FineTuneData).where(col(FineTuneData.job_id) == job_id))


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
