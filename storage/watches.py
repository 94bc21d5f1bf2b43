"""Release watches and the models each provider has been seen to list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.tables import SeenModel, Watch, utcnow


def create_watch(
    session: Session,
    *,
    channel: str,
    user_id: str | None,
    glob: str,
    suites: list[str],
    every_s: int,
    provider: str,
) -> Watch:
    watch = Watch(
        channel=channel,
        user_id=user_id,
        glob=glob,
        suites=suites,
        every_s=every_s,
        provider=provider,
    )
    session.add(watch)
    session.flush()
    return watch


def get_watch(session: Session, *, watch_id: int) -> Watch | None:
    return session.get(Watch, watch_id)


def list_watches(session: Session, *, channel: str | None = None) -> list[Watch]:
    query = select(Watch).order_by(col(Watch.id))
    if channel is not None:
        query = query.where(Watch.channel == channel)
    return list(session.exec(query))


def delete_watch(session: Session, *, watch_id: int) -> bool:
    watch = session.get(Watch, watch_id)
    if watch is None:
        return False
    session.delete(watch)
    return True


def set_paused(session: Session, *, watch_id: int, paused: bool) -> Watch | None:
    watch = session.get(Watch, watch_id)
    if watch is not None:
        watch.paused = paused
    return watch


def mark_checked(session: Session, *, watch_id: int, when: datetime | None = None) -> None:
    """Record a poll; the first one sets the baseline of what already existed."""
    watch = session.get(Watch, watch_id)
    if watch is not None:
        now = when or utcnow()
        watch.last_checked_at = now
        if not watch.initialized:
            watch.initialized, watch.baseline_at = True, now


def first_seen(session: Session, *, provider: str) -> dict[str, datetime]:
    """{model id: when it was first seen} for a provider."""
    rows = session.exec(select(SeenModel).where(SeenModel.provider == provider))
    return {r.model_id: r.first_seen_at for r in rows}


def seen_ids(session: Session, *, provider: str) -> dict[str, str | None]:
    """{model id: shutdown date} of every model the provider was seen to list."""
    rows = session.exec(select(SeenModel).where(SeenModel.provider == provider))
    return {r.model_id: r.shutdown_date for r in rows}


def record_seen(
    session: Session, *, provider: str, models: Iterable[tuple[str, str | None]]
) -> list[str]:
    """Record listed models; returns the ids this call saw first (a race loser sees none)."""
    known = seen_ids(session=session, provider=provider)
    fresh: list[str] = []
    for model_id, shutdown in models:
        if model_id in known:
            row = session.get(SeenModel, (provider, model_id))
            if row is not None and row.shutdown_date != shutdown:
                row.shutdown_date = shutdown
            continue
        try:
            with session.begin_nested():
                session.add(SeenModel(provider=provider, model_id=model_id, shutdown_date=shutdown))
        except IntegrityError:
            continue  # another process recorded it first: it is theirs to announce
        fresh.append(model_id)
    return fresh
