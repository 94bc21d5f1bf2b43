"""How a proposal reads in Slack, open and decided."""

from __future__ import annotations

from typing import Any

from commands.headline import p_text
from storage.tables import Proposal

NO_PRODUCTION = "no production model"  # the one wording of an alias not yet set


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def evidence_lines(evidence: dict[str, Any]) -> list[str]:
    lines = []
    for key, label in (("candidate", "candidate"), ("current", "current")):
        s = evidence.get(key)
        if s:
            lo, hi = s["ci95"]
            lines.append(
                f"• {label} `{s['model']}` in {s['run']}: {s['passed']}/{s['graded']} passed "
                f"— {_pct(s['pass_rate'])} (95% CI {lo * 100:.1f}–{hi * 100:.1f}%)"
            )
    p = evidence.get("paired")
    if p:
        lo, hi = p["ci95_pp"]
        lines.append(
            f"• paired on {p['paired']} samples of {p['run']}: {p['diff_pp']:+.1f} pp "
            f"(95% CI {lo:+.1f} to {hi:+.1f}), p = {p['p_value']:.3g}, {p['improved']} improved, "
            f"{p['regressed']} regressed → {p['verdict']}"
        )
    if not lines:
        lines.append(
            "• no finished run of this model on this suite yet: "
            "consider `/eval run` before approving"
        )
    return lines


def _who(users: list[str]) -> str:
    return ", ".join(f"<@{u}>" for u in users) or "nobody"


def _approvals(n: int) -> str:
    return f"{n} approval" if n == 1 else f"{n} approvals"


def _now(p: Proposal) -> str:
    return f"`{p.current}`" if p.current else NO_PRODUCTION


def verdict_of(p: Proposal) -> str:
    """The proposal's lead line: what would change, on what evidence, and what to do."""
    now = _now(p)
    head = (
        f":ballot_box_with_check: *Proposal p{p.id}*: `{p.candidate}` as {p.alias} of "
        f"`{p.suite}` (now {now})"
    )
    cand, cur, paired = (p.evidence.get(k) for k in ("candidate", "current", "paired"))
    if paired:
        rates = f"{_pct(cand['pass_rate'])} vs {_pct(cur['pass_rate'])}, " if cand and cur else ""
        said = {"better": "better", "worse": "worse"}.get(
            paired["verdict"], "not significant at this size"
        )
        return (
            f"{head} — {rates}{paired['diff_pp']:+.1f} pp, {p_text(paired['p_value'])}, "
            f"{said} → react :white_check_mark: to approve "
            f"({_approvals(p.approvals_needed)} needed)"
        )
    if cand:
        return (
            f"{head} — {_pct(cand['pass_rate'])} in {cand['run']}, no paired run with the "
            f"current model → react :white_check_mark: to approve "
            f"({_approvals(p.approvals_needed)} needed)"
        )
    return f"{head} — no finished run of `{p.candidate}` on this suite yet: run it first"


def proposal_text(p: Proposal, approvers: list[str], approvals: list[str]) -> str:
    """The open proposal: candidate, current, evidence, who may approve and how many."""
    expires = f"{p.expires_at:%Y-%m-%d %H:%M} UTC" if p.expires_at else "never"
    lines = [
        verdict_of(p),
        f"`{p.suite}` {p.alias}: {_now(p)} → `{p.candidate}` · "
        + (f"proposed by <@{p.proposer}>" if p.proposer else "proposed by evalbot"),
        "*Evidence*",
        *evidence_lines(p.evidence),
        f"*Approvers*: {_who(approvers)} · needs {_approvals(p.approvals_needed)}, "
        f"{len(approvals)} so far"
        + (f" ({_who(approvals)})" if approvals else "")
        + f" · expires {expires}",
        "React :white_check_mark: to approve or :x: to reject.",
    ]
    return "\n".join(lines)


def decision_text(p: Proposal, approvers: list[str], approvals: list[str]) -> str:
    """The proposal once decided: the same evidence, with the outcome on top."""
    when = f"{p.decided_at:%Y-%m-%d %H:%M} UTC" if p.decided_at else ""
    outcome = {
        "approved": f":white_check_mark: *Approved* by {_who(approvals)} {when} — "
        f"`{p.suite}` {p.alias} is now `{p.candidate}`",
        "rejected": f":x: *Rejected* by <@{p.decided_by}> {when}",
        "expired": f":hourglass: *Expired* {when} with {len(approvals)} of "
        f"{_approvals(p.approvals_needed)}",
        "void": f":no_entry: *Not promoted* {when}: the evidence no longer holds "
        f"({p.evidence.get('void_reason', 'gone')})",
    }.get(p.status, p.status)
    lines = [
        outcome,
        f"*Proposal p{p.id}* · `{p.suite}` {p.alias}: {_now(p)} → `{p.candidate}`",
        *evidence_lines(p.evidence),
    ]
    return "\n".join(lines)
