"""Slack event ids already handled, so redeliveries are not acted on twice."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.tables import HandledEvent


def claim_event(session: Session, *, event_id: str) -> bool:
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
