"""The steps of an announcement, each done until it has succeeded (issue 12, item 7).

A run's announcement is several Slack calls: the failures thread, the comparison, its
charts, the flipped samples, a proposal. Any of them can be refused while the others
would pass, so each one is a step of its own with a key in storage.notices:

- The key is taken when the step succeeded (or failed for good), never before: a Slack
  refusal that may pass later (rate limit, network, Slack's 5xx) leaves that step, and
  the run, unannounced. The run is picked up again at start-up and by the periodic
  resume job (commands.jobs), and only the steps not done are tried again.
- A refusal that will not pass (not_in_channel, no_permission, is_archived...) is told
  to the channel when Slack lets us (the invite advice, once per announcement), logged,
  and the step recorded as done so it is not retried forever.
- The price of claiming after success: a crash between Slack's "ok" and the claim
  posts that one step again on restart (at least once). Claiming before would lose the
  step for good on any refusal, which is what the channel saw before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from commands.ports import ChatError, Posted
from commands.services import Ports
from storage import notices

log = logging.getLogger(__name__)


def chat_error_of(exc: BaseException) -> ChatError | None:
    """The Slack refusal behind `exc` (itself, or what it was raised from), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ChatError):
            return seen
        seen = seen.__cause__
    return None


@dataclass
class Steps:
    """One announcement's steps. `prefix` keys them in storage.notices (`run:12`);
    None for a one-off (`/eval compare`) that records nothing."""

    ports: Ports
    prefix: str | None
    where: Posted | None = None  # the thread where advice is posted
    retry_later: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    advised: bool = False

    @property
    def complete(self) -> bool:
        """True when no step is left to retry (each succeeded or failed for good)."""
        return not self.retry_later

    def _key(self, name: str) -> str | None:
        return f"{self.prefix}:{name}" if self.prefix else None

    async def done(self, name: str) -> bool:
        """True when the step was already done (by this process or an earlier one)."""
        key = self._key(name)
        return key is not None and await self.ports.db.run(notices.claimed, key=key)

    async def run(self, name: str, action: Callable[[], Awaitable[object]]) -> bool:
        """Do the step unless it is done; True when it is done now (False: retry later
        or refused for good). Exceptions other than Slack refusals propagate."""
        if await self.done(name):
            return True
        ok = True
        try:
            await action()
        except Exception as exc:
            refusal = chat_error_of(exc)
            if refusal is None:
                raise
            ok = False
            if refusal.retryable:
                log.warning(
                    "%s %s: Slack said %s; tried again later", self.prefix, name, refusal.code
                )
                self.retry_later.append(name)
                return False
            log.warning("%s %s: Slack refused it (%s)", self.prefix, name, refusal.code)
            self.refused.append(name)
            await self._advise(refusal)
        key = self._key(name)
        if key is not None:
            await self.ports.db.run(notices.claim, key=key)
        return ok

    async def _advise(self, refusal: ChatError) -> None:
        """Tell the channel what to do about a refusal, once per announcement."""
        if self.advised or self.where is None:
            return
        self.advised = True
        try:
            await self.ports.chat.post(
                self.where.channel,
                f":warning: Part of this report could not be posted: {refusal.advice}",
                thread_ts=self.where.ts,
            )
        except ChatError as exc:
            log.warning("%s: the advice could not be posted either (%s)", self.prefix, exc.code)
