"""A promotion proposal's messages: the proposal (open, then decided) and the decision
posted in its thread.

The suite, the models and the people come from outside (suite files, `/promote`, Slack
reactions): each is shown through the Style, as code or as a mention, never as markup.
"""

from __future__ import annotations

from bot.presenters.mrkdwn import Style, word
from commands.headline import p_text
from commands.reports import EvidenceRun, MissingEvidence, ProposalReport

NO_PRODUCTION = "no production model"  # the one wording of an alias not yet set


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _approvals(n: int) -> str:
    return f"{n} approval" if n == 1 else f"{n} approvals"


def _who(s: Style, users: list[str] | tuple[str, ...]) -> str:
    return ", ".join(s.mention(u) for u in users) or "nobody"


def _now(s: Style, r: ProposalReport) -> str:
    return s.code(r.current) if r.current else NO_PRODUCTION


def _run_line(s: Style, label: str, e: EvidenceRun) -> str:
    lo, hi = e.ci95
    return (
        f"• {label} {s.code(e.model)} in {s.esc(e.run)}: {e.passed}/{e.graded} passed "
        f"— {_pct(e.pass_rate)} (95% CI {lo * 100:.1f}–{hi * 100:.1f}%)"
    )


def evidence_lines(s: Style, r: ProposalReport) -> list[str]:
    """The runs the proposal rests on and the paired difference, one line each."""
    lines = []
    if r.candidate_run is not None:
        lines.append(_run_line(s, "candidate", r.candidate_run))
    if r.current_run is not None:
        lines.append(_run_line(s, "current", r.current_run))
    p = r.paired
    if p is not None:
        lo, hi = p.ci95_pp
        lines.append(
            f"• paired on {p.paired} samples of {s.esc(p.run)}: {p.diff_pp:+.1f} pp "
            f"(95% CI {lo:+.1f} to {hi:+.1f}), p = {p.p_value:.3g}, {p.improved} improved, "
            f"{p.regressed} regressed → {s.esc(p.verdict)}"
        )
    if not lines:
        lines.append(
            "• no finished run of this model on this suite yet: "
            "consider `/eval run` before approving"
        )
    return lines


def lead(s: Style, r: ProposalReport) -> str:
    """The proposal's lead line: what would change, on what evidence, and what to do."""
    head = (
        f":ballot_box_with_check: {s.bold(f'Proposal p{r.id}')}: {s.code(r.candidate)} as "
        f"{word(s, r.alias)} of {s.code(r.suite)} (now {_now(s, r)})"
    )
    cand, cur, paired = r.candidate_run, r.current_run, r.paired
    approve = f"react :white_check_mark: to approve ({_approvals(r.approvals_needed)} needed)"
    if paired is not None:
        rates = (
            f"{_pct(cand.pass_rate)} vs {_pct(cur.pass_rate)}, "
            if cand is not None and cur is not None
            else ""
        )
        said = {"better": "better", "worse": "worse"}.get(
            paired.verdict, "not significant at this size"
        )
        return (
            f"{head} — {rates}{paired.diff_pp:+.1f} pp, {p_text(paired.p_value)}, "
            f"{said} → {approve}"
        )
    if cand is not None:
        return (
            f"{head} — {_pct(cand.pass_rate)} in {s.esc(cand.run)}, no paired run with the "
            f"current model → {approve}"
        )
    return f"{head} — no finished run of {s.code(r.candidate)} on this suite yet: run it first"


def _change(s: Style, r: ProposalReport) -> str:
    return f"{s.code(r.suite)} {word(s, r.alias)}: {_now(s, r)} → {s.code(r.candidate)}"


def _void_reason(s: Style, void: MissingEvidence | str | None, default: str) -> str:
    if isinstance(void, MissingEvidence):
        return s.title(void.words())
    # Older rows kept the reason as text: shown with nothing in it live.
    return s.inert(void) if void else default


def opened(s: Style, r: ProposalReport) -> str:
    """The open proposal: candidate, current, evidence, who may approve and how many."""
    expires = f"{r.expires_at:%Y-%m-%d %H:%M} UTC" if r.expires_at else "never"
    approvals = tuple(r.approvals)
    lines = [
        lead(s, r),
        f"{_change(s, r)} · "
        + (f"proposed by {s.mention(r.proposer)}" if r.proposer else "proposed by evalbot"),
        s.bold("Evidence"),
        *evidence_lines(s, r),
        f"{s.bold('Approvers')}: {_who(s, tuple(r.approvers))} · needs "
        f"{_approvals(r.approvals_needed)}, {len(approvals)} so far"
        + (f" ({_who(s, approvals)})" if approvals else "")
        + f" · expires {expires}",
        "React :white_check_mark: to approve or :x: to reject.",
    ]
    return "\n".join(lines)


def decided(s: Style, r: ProposalReport) -> str:
    """The proposal once decided: the same evidence, with the outcome on top."""
    when = f"{r.decided_at:%Y-%m-%d %H:%M} UTC" if r.decided_at else ""
    approvals = tuple(r.approvals)
    if r.status == "approved":
        outcome = (
            f":white_check_mark: {s.bold('Approved')} by {_who(s, approvals)} {when} — "
            f"{s.code(r.suite)} {word(s, r.alias)} is now {s.code(r.candidate)}"
        )
    elif r.status == "rejected":
        outcome = f":x: {s.bold('Rejected')} by {s.mention(r.decided_by or '')} {when}"
    elif r.status == "expired":
        outcome = (
            f":hourglass: {s.bold('Expired')} {when} with {len(approvals)} of "
            f"{_approvals(r.approvals_needed)}"
        )
    elif r.status == "void":
        outcome = (
            f":no_entry: {s.bold('Not promoted')} {when}: the evidence no longer holds "
            f"({_void_reason(s, r.void, 'gone')})"
        )
    else:
        outcome = s.esc(r.status)
    lines = [
        outcome,
        f"{s.bold(f'Proposal p{r.id}')} · {_change(s, r)}",
        *evidence_lines(s, r),
    ]
    return "\n".join(lines)


def outcome(s: Style, r: ProposalReport) -> str:
    """The decision, posted in the proposal's thread."""
    stays = f"{s.code(r.suite)} {word(s, r.alias)} stays "
    if r.status == "approved":
        was = f" (was {s.code(r.current)})." if r.current else "."
        return (
            f":white_check_mark: Approved by {', '.join(s.mention(u) for u in r.approvals)}. "
            f"{s.code(r.suite)} "
            f"{word(s, r.alias)} is now {s.code(r.candidate)}{was}"
        )
    if r.status == "rejected":
        return f":x: Rejected by {s.mention(r.decided_by or '')}. {stays}" + (
            f"{s.code(r.current)}." if r.current else "without a production model."
        )
    if r.status == "void":
        reason = _void_reason(s, r.void, "the evidence is gone").rstrip(".")
        return (
            f":no_entry: Not promoted: {reason}. "
            + stays
            + (f"{s.code(r.current)}." if r.current else "unset.")
        )
    return (
        f":hourglass: Proposal p{r.id} expired before it had "
        + (f"{r.approvals_needed} approvals" if r.approvals_needed != 1 else "1 approval")
        + "; nothing changed."
    )
