"""Once-only announcements: a key is claimed before posting, so nothing posts twice."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.tables import Notice


def claim(session: Session, *, key: str, channel: str | None = None) -> bool:
    """True the first time `key` is claimed (by any process sharing the database)."""
    if session.get(Notice, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Notice(key=key, channel=channel))
    except IntegrityError:
        return False
    return True


def claimed(session: Session, *, key: str) -> bool:
    return session.get(Notice, key) is not None
