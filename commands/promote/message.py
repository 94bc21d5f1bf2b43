"""A proposal as a report (commands.reports.ProposalReport): the row, its evidence and who
may approve. bot/presenters/proposal.py words it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from commands.reports import EvidenceRun, MissingEvidence, PairedEvidence, ProposalReport
from storage.tables import Proposal


def _rate(value: Any) -> float | None:
    return None if value is None else float(value)


def _run(s: Mapping[str, Any] | None) -> EvidenceRun | None:
    if not s:
        return None
    lo, hi = s["ci95"]
    return EvidenceRun(
        model=str(s["model"]),
        run=str(s["run"]),
        passed=int(s["passed"]),
        graded=int(s["graded"]),
        pass_rate=_rate(s["pass_rate"]),
        ci95=(float(lo), float(hi)),
    )


def _paired(p: Mapping[str, Any] | None) -> PairedEvidence | None:
    if not p:
        return None
    lo, hi = p["ci95_pp"]
    return PairedEvidence(
        run=str(p["run"]),
        paired=int(p["paired"]),
        diff_pp=float(p["diff_pp"]),
        ci95_pp=(float(lo), float(hi)),
        p_value=float(p["p_value"]),
        improved=int(p["improved"]),
        regressed=int(p["regressed"]),
        verdict=str(p["verdict"]),
    )


def _void(evidence: Mapping[str, Any]) -> MissingEvidence | str | None:
    reason = evidence.get("void_reason")
    if isinstance(reason, Mapping):
        return MissingEvidence.from_json(reason)
    return str(reason) if reason is not None else None


def proposal_report(
    p: Proposal, approvers: Sequence[str], approvals: Sequence[str]
) -> ProposalReport:
    """The proposal as the presenters take it (evidence as gather_evidence stored it)."""
    evidence = p.evidence or {}
    return ProposalReport(
        id=p.id,
        suite=p.suite,
        alias=p.alias,
        candidate=p.candidate,
        current=p.current,
        proposer=p.proposer,
        status=p.status,
        approvals_needed=p.approvals_needed,
        approvers=tuple(approvers),
        approvals=tuple(approvals),
        candidate_run=_run(evidence.get("candidate")),
        current_run=_run(evidence.get("current")),
        paired=_paired(evidence.get("paired")),
        expires_at=p.expires_at,
        decided_at=p.decided_at,
        decided_by=p.decided_by,
        void=_void(evidence),
    )
