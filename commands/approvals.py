"""Who may decide a proposal or a fine-tune's gate, and what a reaction counts as.

Pure rules, shared by /promote (alias proposals) and /finetune (the approval gate of a
costly job), so neither family imports the other. The votes themselves are stored by
storage.proposals; these functions only decide whether a reaction is a vote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from commands.services import Ports

APPROVE, REJECT = "white_check_mark", "x"


def approvers_of(deployment: Iterable[str], owners: Iterable[str]) -> set[str]:
    """Who may decide on a suite's proposals: the deployment's approvers and its owners."""
    return set(deployment) | set(owners)


def approvers_for(ports: Ports, suite_name: str) -> set[str]:
    """The approvers of one suite in this deployment (its owners count too)."""
    suite = ports.suites.get(suite_name)
    return approvers_of(ports.policy.approvers, suite.owners if suite is not None else ())


@dataclass(frozen=True)
class Judgement:
    """What one reaction on a proposal's message amounts to.

    `kind` is "ignored" (not a voting emoji, or no user), "not_approver" (someone else:
    changes nothing, and they are told so when they added it), "self_approval" (the
    proposer approving their own proposal, which does not count unless the suite allows
    it), or "vote" with `vote` set to approve or reject.
    """

    kind: Literal["ignored", "not_approver", "self_approval", "vote"]
    vote: Literal["approve", "reject"] | None = None


def judge_reaction(
    *,
    reaction: str,
    user: str,
    added: bool,
    approvers: set[str],
    proposer: str | None,
    self_approval: bool,
) -> Judgement:
    """Decide whether a reaction is a vote, by the contract's approval rules."""
    emoji = reaction.split("::")[0]  # skin tones: "x::skin-tone-2"
    if emoji not in (APPROVE, REJECT) or not user:
        return Judgement("ignored")
    if user not in approvers:
        return Judgement("not_approver")
    if added and emoji == APPROVE and user == proposer and not self_approval:
        return Judgement("self_approval")
    return Judgement("vote", "approve" if emoji == APPROVE else "reject")


def needs_gate(estimate_usd: float | None, limit_usd: float) -> bool:
    """A fine-tune whose estimate is over the limit, or unknown, waits for an approver."""
    return estimate_usd is None or estimate_usd > limit_usd
