"""Slack event ids already handled, so redeliveries are not acted on twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.tables import HandledEvent, utcnow


def claim_event(*, session: Session, event_id: str) -> bool:
    """Record `event_id`; True the first time, False for a redelivery."""
    if session.get(HandledEvent, event_id) is not None:
        return False
    session.add(HandledEvent(event_id=event_id))
    try:
        session.flush()
    except IntegrityError:  # another worker claimed it between our read and write
        session.rollback()
        return False
    return True


def forget_events_older_than(*, session: Session, days: int = 7) -> int:
    """Drop old event ids (Slack only redelivers within minutes); returns how many."""
    cutoff = utcnow() - timedelta(days=days)
    result = session.execute(delete(HandledEvent).where(col(HandledEvent.received_at) < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
