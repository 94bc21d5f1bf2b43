"""Promotion proposals and the votes on them.

A vote and the decision it may trigger happen in one transaction with the proposal row
locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers), so reactions
arriving together promote exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session, col, select

from storage.aliases import set_alias
from storage.tables import Approval, Proposal, utcnow

VoteResult = Literal[
    "recorded",  # an approval counted, more are needed
    "approved",  # this approval reached the number: the alias moved
    "rejected",  # an approver rejected it
    "withdrawn",  # an approval was taken back
    "duplicate",  # the same person's same vote again: nothing changes
    "closed",  # the proposal was already decided or expired
    "expired",  # the proposal expired now, before this vote could count
    "void",  # the last approval came, but the evidence no longer holds: nothing moved
]

# Asked, in the deciding transaction, whether the evidence still holds; a reason if not
# (JSON, kept as evidence["void_reason"] for the message that says why).
EvidenceGate = Callable[[Session, Proposal], dict[str, Any] | None]


def create_proposal(
    session: Session,
    *,
    suite: str,
    candidate: str,
    current: str | None,
    proposer: str | None,
    approvals_needed: int,
    lifetime: timedelta,
    evidence: dict[str, Any],
    alias: str = "production",
    channel: str | None = None,
    kind: str = "promotion",
) -> Proposal:
    proposal = Proposal(
        kind=kind,
        suite=suite,
        alias=alias,
        candidate=candidate,
        current=current,
        proposer=proposer,
        approvals_needed=approvals_needed,
        evidence=evidence,
        channel=channel,
        expires_at=utcnow() + lifetime,
    )
    session.add(proposal)
    session.flush()
    return proposal


def set_message(session: Session, *, proposal_id: int, channel: str, ts: str) -> None:
    proposal = session.get(Proposal, proposal_id)
    if proposal is not None:
        proposal.channel, proposal.message_ts = channel, ts


def by_message(session: Session, *, channel: str, ts: str) -> Proposal | None:
    query = select(Proposal).where(Proposal.channel == channel, Proposal.message_ts == ts)
    return session.exec(query).first()


def proposed_from_run(session: Session, *, suite: str, run: str) -> Proposal | None:
    """The promotion proposal a run's report made (`run` like "r12"), None if it made none.

    A report's proposal is the bot's (no proposer), was posted (it has a message), and
    rests on the candidate's results in that run (evidence["candidate"]["run"], written by
    commands.promote.evidence). A restarted announcement finds it here after the step
    that made it was done by an earlier attempt.
    """
    query = (
        select(Proposal)
        .where(
            Proposal.suite == suite,
            Proposal.kind == "promotion",
            col(Proposal.proposer).is_(None),
            col(Proposal.message_ts).is_not(None),
        )
        .order_by(col(Proposal.id).desc())
    )
    for proposal in session.exec(query):
        candidate = (proposal.evidence or {}).get("candidate")
        if isinstance(candidate, dict) and candidate.get("run") == run:
            return proposal
    return None


def open_proposals(session: Session, *, suite: str | None = None) -> list[Proposal]:
    query = (
        select(Proposal)
        .where(Proposal.status == "open", Proposal.kind == "promotion")
        .order_by(col(Proposal.id))
    )
    if suite is not None:
        query = query.where(Proposal.suite == suite)
    return list(session.exec(query))


def approvers_of(session: Session, *, proposal_id: int) -> list[str]:
    """Users whose approval currently counts, in the order they gave it."""
    query = (
        select(Approval.user_id)
        .where(
            Approval.proposal_id == proposal_id,
            Approval.kind == "approve",
            col(Approval.withdrawn_at).is_(None),
        )
        .order_by(col(Approval.created_at))
    )
    return list(session.exec(query))


@dataclass(frozen=True)
class VoteOutcome:
    result: VoteResult
    proposal: Proposal
    approvals: list[str]


def _expired(proposal: Proposal, now: datetime) -> bool:
    return proposal.expires_at is not None and now >= proposal.expires_at


def expire_due(session: Session) -> list[Proposal]:
    """Mark every open proposal whose lifetime is over as expired; returns them."""
    now = utcnow()
    due = session.exec(
        select(Proposal)
        .where(Proposal.status == "open", col(Proposal.expires_at) <= now)
        .with_for_update()
    ).all()
    for proposal in due:
        proposal.status, proposal.decided_at = "expired", now
    return list(due)


def vote(
    session: Session,
    *,
    proposal_id: int,
    user_id: str,
    kind: str,
    added: bool,
    gate: EvidenceGate | None = None,
) -> VoteOutcome:
    """Apply one approver's reaction; decides the proposal when it should.

    The caller has checked that `user_id` may vote. `kind` is approve or reject. When
    the approvals are enough, `gate` (if given) re-checks the evidence in this same
    transaction: a reason makes the proposal `void` (kept as evidence["void_reason"]) and the
    alias stays.
    """
    proposal = session.get(Proposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise LookupError(proposal_id)
    now = utcnow()
    if proposal.status != "open":
        return VoteOutcome(
            "closed", proposal, approvers_of(session=session, proposal_id=proposal_id)
        )
    if _expired(proposal, now):
        proposal.status, proposal.decided_at = "expired", now
        return VoteOutcome(
            "expired", proposal, approvers_of(session=session, proposal_id=proposal_id)
        )
    existing = session.exec(
        select(Approval).where(
            Approval.proposal_id == proposal_id,
            Approval.user_id == user_id,
            Approval.kind == kind,
        )
    ).first()
    if not added:
        if existing is None or existing.withdrawn_at is not None or kind != "approve":
            return VoteOutcome(
                "duplicate", proposal, approvers_of(session=session, proposal_id=proposal_id)
            )
        existing.withdrawn_at = now
        session.flush()
        return VoteOutcome(
            "withdrawn", proposal, approvers_of(session=session, proposal_id=proposal_id)
        )
    if existing is not None and existing.withdrawn_at is None:
        return VoteOutcome(
            "duplicate", proposal, approvers_of(session=session, proposal_id=proposal_id)
        )
    if existing is None:
        session.add(Approval(proposal_id=proposal_id, user_id=user_id, kind=kind))
    else:
        existing.withdrawn_at, existing.created_at = None, now
    session.flush()
    approvals = approvers_of(session=session, proposal_id=proposal_id)
    if kind == "reject":
        proposal.status, proposal.decided_at, proposal.decided_by = "rejected", now, user_id
        return VoteOutcome("rejected", proposal, approvals)
    if len(approvals) < proposal.approvals_needed:
        return VoteOutcome("recorded", proposal, approvals)
    if proposal.kind == "promotion" and gate is not None:
        reason = gate(session, proposal)
        if reason is not None:
            proposal.status, proposal.decided_at, proposal.decided_by = "void", now, user_id
            proposal.evidence = {**proposal.evidence, "void_reason": reason}
            return VoteOutcome("void", proposal, approvals)
    proposal.status, proposal.decided_at, proposal.decided_by = "approved", now, user_id
    if proposal.kind != "promotion":
        return VoteOutcome("approved", proposal, approvals)
    set_alias(
        session=session,
        suite=proposal.suite,
        alias=proposal.alias,
        model=proposal.candidate,
        decided_by=",".join(approvals),
        proposal_id=proposal.id,
        evidence=proposal.evidence,
    )
    return VoteOutcome("approved", proposal, approvals)
