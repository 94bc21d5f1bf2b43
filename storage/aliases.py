"""The alias registry: which model each alias of a suite points at, and its history."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from storage.tables import Alias, AliasChange, utcnow


def all_aliases(session: Session) -> dict[str, dict[str, str]]:
    """{suite: {alias: model}} for every alias set."""
    out: dict[str, dict[str, str]] = {}
    for row in session.exec(select(Alias).order_by(col(Alias.suite), col(Alias.alias))):
        out.setdefault(row.suite, {})[row.alias] = row.model
    return out


def get_alias(session: Session, *, suite: str, alias: str = "production") -> str | None:
    row = session.get(Alias, (suite, alias))
    return row.model if row else None


def set_alias(
    session: Session,
    *,
    suite: str,
    alias: str,
    model: str,
    decided_by: str | None,
    proposal_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> AliasChange:
    """Point an alias at a model and record who did it on what evidence."""
    row = session.get(Alias, (suite, alias), with_for_update=True)
    previous = row.model if row else None
    if row is None:
        session.add(Alias(suite=suite, alias=alias, model=model))
    else:
        row.model, row.updated_at = model, utcnow()
    change = AliasChange(
        suite=suite,
        alias=alias,
        model=model,
        previous=previous,
        proposal_id=proposal_id,
        decided_by=decided_by,
        evidence=evidence or {},
    )
    session.add(change)
    session.flush()
    return change


def history(session: Session, *, suite: str, limit: int = 100) -> list[AliasChange]:
    query = (
        select(AliasChange)
        .where(AliasChange.suite == suite)
        .order_by(col(AliasChange.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))
