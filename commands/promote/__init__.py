"""`/promote` and the reactions that decide proposals.

A proposal names a suite's alias (production by default), the candidate model and the
evidence from the suite's runs. Approvers (EVALBOT_APPROVERS plus the suite's owners)
react :white_check_mark: to approve or :x: to reject; the decision is posted in the
proposal's thread, its message is updated, and the alias moves.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from commands.approvals import APPROVE, REJECT, approvers_for, judge_reaction
from commands.formats import clip
from commands.grammar import Parsed
from commands.model_shapes import check_model_name
from commands.ports import ChatError, Posted
from commands.promote.evidence import gather_evidence, missing_evidence
from commands.promote.message import proposal_report
from commands.registry import Family, Invocation, Started, UsageError, UserFacingError
from commands.reports import Code, Mention, MissingEvidence, ProposalReport, Title
from commands.services import Ports, Services
from storage import aliases as alias_store
from storage import proposals as store
from storage.tables import Proposal

log = logging.getLogger(__name__)

PROMOTE = Family("/promote", "propose a model for a suite's production alias; approvers react")

_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@PROMOTE.main("<suite> <model> [alias=production]", keys=("alias",))
def promote(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Propose `model` for the suite's production alias; approvers react to decide."""
    if len(parsed.words) != 2:
        raise UsageError("Give the suite and the model.")
    name, model = parsed.words
    check_model_name(model)
    suite = services.suites.get(name)
    if suite is None:
        raise UsageError(services.suites.unknown(name))
    alias = parsed.options.get("alias", "production").lower()
    if not _ALIAS.match(alias):
        raise UsageError(
            services.presenter.line(
                (Code(clip(alias, 40)), " is not an alias name (letters, digits, - and _).")
            )
        )
    approvers = approvers_for(services, name)
    if not approvers:
        return services.presenter.line(
            (
                "Nobody may approve promotions for ",
                Code(name),
                " yet: set EVALBOT_APPROVERS, or add `owners:` to its suite.yaml. "
                "Nothing was proposed.",
            )
        )

    async def work() -> None:
        await propose(
            services,
            suite=name,
            model=model,
            alias=alias,
            proposer=inv.user_id,
            channel=inv.channel_id,
        )

    said = services.presenter.line(("Proposing ", Code(model), " for ", Code(name), f" {alias}…"))
    return Started(said, work, "promote")


class NoEvidence(UserFacingError):
    """The candidate has no finished, complete run on the suite's current data."""


def evidence_gate(services: Ports) -> store.EvidenceGate:
    """The re-check made when the deciding approval arrives: the suite's data may have
    changed, the run been deleted, or production moved since the proposal was made."""

    def gate(session: Any, proposal: Proposal) -> dict[str, Any] | None:
        spec = services.suites.get(proposal.suite)
        if spec is None:
            return MissingEvidence(suite=proposal.suite).as_json()
        missing = missing_evidence(
            session,
            suite=proposal.suite,
            data_version=spec.data_version,
            candidate=proposal.candidate,
            current=alias_store.get_alias(
                session=session, suite=proposal.suite, alias=proposal.alias
            ),
        )
        return missing.as_json() if missing is not None else None

    return gate


async def propose(
    services: Ports,
    *,
    suite: str,
    model: str,
    alias: str = "production",
    proposer: str | None,
    channel: str,
    thread_ts: str | None = None,
) -> Proposal:
    """Create, post and open a proposal (used by /promote and by reports that find a
    better model)."""
    spec = services.suites.get(suite)
    needed = spec.approvals if spec is not None else 1
    lifetime = timedelta(days=services.policy.proposal_days)

    def create(session: Any) -> Proposal:
        current = alias_store.get_alias(session=session, suite=suite, alias=alias)
        if current == model:
            raise UserFacingError(
                services.presenter.line(
                    (Code(model), f" is already the {alias} model of ", Code(suite), ".")
                )
            )
        if spec is None:
            raise UserFacingError(
                services.presenter.line(("There is no suite ", Code(suite), " any more."))
            )
        missing = missing_evidence(
            session,
            suite=suite,
            data_version=spec.data_version,
            candidate=model,
            current=current,
        )
        if missing is not None:
            raise NoEvidence(services.presenter.line((*missing.words(), " Nothing was proposed.")))
        evidence = gather_evidence(
            session=session,
            suite=suite,
            data_version=spec.data_version,
            candidate=model,
            current=current,
        )
        return store.create_proposal(
            session=session,
            suite=suite,
            alias=alias,
            candidate=model,
            current=current,
            proposer=proposer,
            approvals_needed=needed,
            lifetime=lifetime,
            evidence=evidence,
            channel=channel,
        )

    proposal = await services.db.run(create)
    approvers = sorted(approvers_for(services, suite))
    text = services.presenter.proposal(proposal_report(proposal, approvers, []))
    try:
        posted = await services.chat.post(channel, text, thread_ts=thread_ts)
    except ChatError as exc:
        raise UserFacingError(exc.advice) from exc
    await services.db.run(
        store.set_message, proposal_id=proposal.id or 0, channel=posted.channel, ts=posted.ts
    )
    proposal.channel, proposal.message_ts = posted.channel, posted.ts
    for emoji in (APPROVE, REJECT):
        try:
            await services.chat.react(posted, emoji)
        except ChatError as exc:
            log.warning("could not add :%s: to p%s: %s", emoji, proposal.id, exc.code)
    return proposal


async def expire_due(services: Ports) -> int:
    """Expire due proposals now (the scheduler calls this every few minutes)."""
    expired = await services.db.run(store.expire_due)
    for p in expired:
        if p.kind == "finetune":
            await services.outcomes.gate_decided(services, p)
            continue
        if p.channel and p.message_ts:
            where = Posted(p.channel, p.message_ts)
            approvals = await services.db.run(store.approvers_of, proposal_id=p.id or 0)
            approvers = sorted(approvers_for(services, p.suite))
            report = proposal_report(p, approvers, approvals)
            await _update(services, where, services.presenter.proposal(report))
            await _thread(services, where, report)
    return len(expired)


async def on_reaction(services: Ports, event: dict[str, Any], *, added: bool) -> None:
    """A reaction on any message: counts only on a proposal, from an approver."""
    item = event.get("item") or {}
    reaction = str(event.get("reaction", ""))
    user = str(event.get("user", ""))
    channel, ts = str(item.get("channel", "")), str(item.get("ts", ""))
    if item.get("type") != "message" or reaction.split("::")[0] not in (APPROVE, REJECT):
        return  # not a vote on anything: no database read
    proposal = await services.db.run(store.by_message, channel=channel, ts=ts)
    if proposal is None:
        return
    where = Posted(channel, ts)
    approvers = approvers_for(services, proposal.suite)
    spec = services.suites.get(proposal.suite)
    judgement = judge_reaction(
        reaction=reaction,
        user=user,
        added=added,
        approvers=approvers,
        proposer=proposal.proposer,
        self_approval=spec is not None and spec.self_approval,
    )
    if judgement.kind == "not_approver":
        if added:
            who: Title = ()
            for n, u in enumerate(sorted(approvers)):
                who += (", ", Mention(u)) if n else (Mention(u),)
            await _note(
                services,
                channel,
                user,
                services.presenter.line(
                    (
                        f"Your reaction on proposal p{proposal.id} does not count: only ",
                        *who,
                        " may approve or reject it.",
                    )
                ),
            )
        return
    if judgement.kind == "self_approval":
        await _note(
            services,
            channel,
            user,
            f"You proposed p{proposal.id}, so your approval does not count: another "
            "approver has to approve it (a suite can allow this with "
            "`self_approval: true`).",
        )
        return
    kind = judgement.vote or "reject"
    outcome = await services.db.run(
        store.vote,
        proposal_id=proposal.id or 0,
        user_id=user,
        kind=kind,
        added=added,
        gate=evidence_gate(services),
    )
    log.info("proposal p%s: %s by %s -> %s", proposal.id, kind, user, outcome.result)
    p = outcome.proposal
    if p.kind == "finetune":  # the approval gate of a costly fine-tune
        if outcome.result in ("approved", "rejected"):
            await services.outcomes.gate_decided(services, p)
        elif outcome.result == "closed" and added:
            await _note(services, channel, user, f"That fine-tune was already {p.status}.")
        return
    report = proposal_report(p, sorted(approvers), outcome.approvals)
    if outcome.result in ("recorded", "withdrawn"):
        await _update(services, where, services.presenter.proposal(report))
    elif outcome.result in ("approved", "rejected", "expired", "void"):
        await _update(services, where, services.presenter.proposal(report))
        await _thread(services, where, report)
    elif outcome.result == "closed" and added:
        await _note(
            services,
            channel,
            user,
            services.presenter.line(
                (
                    f"Proposal p{p.id} is already {p.status}: it cannot be decided again. "
                    "Propose anew with ",
                    Code(f"/promote {p.suite} {p.candidate}"),
                    ".",
                )
            ),
        )


async def _thread(services: Ports, where: Posted, report: ProposalReport) -> None:
    try:
        await services.chat.post(
            where.channel, services.presenter.proposal_outcome(report), thread_ts=where.ts
        )
    except ChatError as exc:
        log.warning("decision post failed: %s", exc.code)


async def _update(services: Ports, where: Posted, text: str) -> None:
    try:
        await services.chat.update(where, text)
    except ChatError as exc:
        log.warning("proposal update failed: %s", exc.code)


async def _note(services: Ports, channel: str, user: str, text: str) -> None:
    try:
        await services.chat.ephemeral(channel, user, text)
    except ChatError as exc:
        log.warning("ephemeral note failed: %s", exc.code)
