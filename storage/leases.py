"""Leases: one process at a time works on a row (a run, a fine-tune submission).

A lease is two columns, `owner` and `lease_until`. The owner renews it while it works
and clears it when done or at a clean shutdown; a process that crashes stops renewing,
and once `lease_until` has passed another process may claim the row. Claims are single
conditional UPDATEs, so two processes (or two tasks) can never both win one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from storage.tables import EvalRun, FineTuneJob

Leased = type[EvalRun] | type[FineTuneJob]


def _changed(session: Session, query: Any) -> bool:
    result: CursorResult[Any] = session.execute(query)  # type: ignore[assignment]
    return bool(result.rowcount)


def _rows(table: Leased, row_id: int, statuses: Sequence[str]) -> Any:
    query = update(table).where(col(table.id) == row_id)
    query = query.where(col(table.status).in_(list(statuses)))
    if table is EvalRun:  # a run's work ends when its summary is posted
        query = query.where(col(EvalRun.announced).is_(False))
    return query


def claim(
    session: Session,
    *,
    table: Leased,
    row_id: int,
    statuses: Sequence[str],
    owner: str,
    now: datetime,
    until: datetime,
) -> bool:
    """Take the row for `owner` unless another owner's lease on it still holds."""
    query = (
        _rows(table, row_id, statuses)
        .where(
            col(table.owner).is_(None)
            | (col(table.owner) == owner)
            | col(table.lease_until).is_(None)
            | (col(table.lease_until) < now)
        )
        .values(owner=owner, lease_until=until)
    )
    return _changed(session, query)


def renew(
    session: Session,
    *,
    table: Leased,
    row_id: int,
    statuses: Sequence[str],
    owner: str,
    until: datetime,
) -> bool:
    """Extend `owner`'s lease; False if the row left `statuses` or was taken over."""
    query = (
        _rows(table, row_id, statuses).where(col(table.owner) == owner).values(lease_until=until)
    )
    return _changed(session, query)


def release(session: Session, *, table: Leased, row_id: int, owner: str, now: datetime) -> None:
    """Let go of the row: another process may claim it at once."""
    query = (
        update(table)
        .where(col(table.id) == row_id)
        .where(col(table.owner) == owner)
        .values(owner=None, lease_until=now)
    )
    session.execute(query)
