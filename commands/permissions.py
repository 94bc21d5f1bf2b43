"""Who may do what: start work (EVALBOT_RUNNERS) and stop or remove it.

Starting runs, watches and fine-tunes follows EVALBOT_RUNNERS: user ids, and user groups
(`S...`) whose members Slack lists (the Chat port caches them). Cancelling a run or a
fine-tune and removing, pausing or resuming a watch is for whoever started it, the
suite's owners and the approvers: a channel member who did neither cannot stop a
colleague's work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from commands.ports import Chat, ChatError
from commands.registry import UserFacingError
from commands.services import Policy

log = logging.getLogger(__name__)


class _Owned(Protocol):
    @property
    def owners(self) -> Sequence[str]: ...


class SuiteLookup(Protocol):
    """The suite catalog, as far as owners go."""

    def get(self, name: str) -> _Owned | None: ...


async def may_start(policy: Policy, chat: Chat, user_id: str) -> bool:
    """Whether `user_id` may start runs, watches and fine-tunes."""
    if not policy.runners or user_id in policy.runners:
        return True
    for group in sorted(g for g in policy.runners if g.startswith("S")):
        try:
            if user_id in await chat.group_members(group):
                return True
        except ChatError as exc:  # Slack unreachable: refuse rather than guess
            log.warning("cannot list user group %s: %s", group, exc.code)
    return False


def runners_refusal(policy: Policy) -> str:
    """The answer to someone not in EVALBOT_RUNNERS (nothing was started)."""
    people = [f"<@{u}>" for u in sorted(policy.runners) if not u.startswith("S")]
    # Groups as plain ids: a <!subteam^...> mention would notify the whole group.
    groups = [f"user group `{g}`" for g in sorted(policy.runners) if g.startswith("S")]
    who = ", ".join(people + groups)
    return (
        f"Only {who} may start runs, watches and fine-tunes here (EVALBOT_RUNNERS). "
        "Ask one of them, or ask an admin to add you. Nothing was started."
    )


def may_stop(policy: Policy, *, user_id: str, starter: str | None, owners: Iterable[str]) -> bool:
    """Whether `user_id` may cancel or remove something `starter` started on suites with
    these `owners`."""
    return user_id == starter or user_id in policy.approvers or user_id in set(owners)


def stop_refusal(what: str, starter: str | None) -> str:
    by = f"<@{starter}>, who started it," if starter else "evalbot, which started it,"
    return f"Only {by} the suite's owners and the approvers may stop {what}. Nothing was changed."


def refused_at_once(policy: Policy, user_id: str) -> str | None:
    """The refusal when it is certain without asking Slack (no user groups listed), so
    the acknowledgement itself can say it; None otherwise (`may_start` decides later)."""
    if not policy.runners or user_id in policy.runners:
        return None
    if any(g.startswith("S") for g in policy.runners):
        return None
    return runners_refusal(policy)


async def check_start(policy: Policy, chat: Chat, user_id: str) -> None:
    """Raise UserFacingError (nothing started) when `user_id` may not start work."""
    if not await may_start(policy, chat, user_id):
        raise UserFacingError(runners_refusal(policy))


def owners_of(suites: SuiteLookup, names: Iterable[str]) -> set[str]:
    """The owners (suite.yaml `owners:`) of these suites."""
    owners: set[str] = set()
    for name in names:
        suite = suites.get(name)
        if suite is not None:
            owners |= set(suite.owners)
    return owners


def check_stop(
    policy: Policy,
    suites: SuiteLookup,
    *,
    user_id: str,
    starter: str | None,
    suite_names: Iterable[str],
    what: str,
) -> None:
    """Raise UserFacingError unless `user_id` may stop `what` (see `may_stop`)."""
    if not may_stop(
        policy, user_id=user_id, starter=starter, owners=owners_of(suites, suite_names)
    ):
        raise UserFacingError(stop_refusal(what, starter))
