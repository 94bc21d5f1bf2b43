"""The gate every run passes before it executes, whoever or whatever started it (a
person, a watch, a drift check, a fine-tune's evaluation, the CLI).

Two limits hold there: EVALBOT_MAX_ACTIVE_RUNS (more runs wait, queued, first come first
served, and their message says what they wait behind), and EVALBOT_DAILY_USD (a run
whose estimate would take the UTC day's spend past it is refused, and its message says
so). Checking and marking a run as running happen under one lock, so runs started in a
burst in this process are counted one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from commands.eval.estimate import estimate
from commands.services import Services
from storage import admission as store
from storage import runs as run_store
from storage.admission import QueuePlace
from storage.tables import EvalRun

log = logging.getLogger(__name__)

POLL_S = 1.0


@dataclass(frozen=True)
class Budget:
    """What the UTC day has spent and promised, against EVALBOT_DAILY_USD."""

    limit: float
    spent: float  # samples stored today plus fine-tuning estimates
    promised: float  # what the runs executing now are estimated to cost still
    wanted: float  # this run's estimate

    @property
    def fits(self) -> bool:
        return self.spent + self.promised + self.wanted <= self.limit

    def refusal(
        self,
        what: str = "this run",
        hint: str = "run fewer samples (`limit=`) or wait until 00:00 UTC",
    ) -> str:
        left = max(0.0, self.limit - self.spent - self.promised)
        return (
            f"over the daily budget: {what} is estimated at ${self.wanted:.2f}, and "
            f"${self.spent:.2f} was spent today (UTC) with ${self.promised:.2f} more promised "
            f"to runs in progress, of ${self.limit:.2f} (EVALBOT_DAILY_USD); "
            f"${left:.2f} is left: {hint}"
        )


def midnight_utc(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)


async def remaining_cost(services: Services, run: EvalRun) -> float:
    """The estimate of what `run` will still spend (samples not yet stored)."""
    suite = services.suites.get(run.suite)
    if suite is None:
        return 0.0
    done = await services.db.run(store.samples_done, run_id=run.id or 0)
    total = 0.0
    for model in run.models:
        left = max(0, run.total - done.get(model, 0))
        if left:
            total += (await estimate(services, suite, [model], left)).total
    return total


async def budget_for(services: Services, run: EvalRun, limit: float) -> Budget:
    spent = await services.db.run(store.spent_since, since=midnight_utc())
    promised = 0.0
    for other in await services.db.run(store.running_runs):
        if other.id != run.id:
            promised += await remaining_cost(services, other)
    return Budget(limit, spent, promised, await remaining_cost(services, run))


async def fits_daily_budget(services: Services, usd: float) -> Budget | None:
    """For spending that is not a run (a fine-tuning job's estimate): the budget when
    `usd` more would pass EVALBOT_DAILY_USD, else None."""
    limit = services.policy.daily_usd
    if limit is None:
        return None
    spent = await services.db.run(store.spent_since, since=midnight_utc())
    promised = 0.0
    for other in await services.db.run(store.running_runs):
        promised += await remaining_cost(services, other)
    budget = Budget(limit, spent, promised, usd)
    return None if budget.fits else budget


class Gate:
    """Admits runs one at a time in this process; see the module's docstring."""

    def __init__(self, services: Services, *, poll_s: float = POLL_S) -> None:
        self.services = services
        self.poll_s = poll_s
        self._lock = asyncio.Lock()

    async def admit(
        self,
        run: EvalRun,
        *,
        cancel: asyncio.Event,
        on_queued: Callable[[QueuePlace], Awaitable[None]],
    ) -> str | None:
        """Wait for the run's turn and mark it running. Returns None once it runs, or
        why it may not (over the budget), or "cancelled"/its status when it ended while
        it waited (cancelled elsewhere)."""
        run_id, shown = run.id or 0, None
        db, policy = self.services.db, self.services.policy
        while True:
            async with self._lock:
                state = await db.run(
                    store.admission, run_id=run_id, max_active=policy.max_active_runs
                )
                if state.status != "queued":
                    return None if state.status == "running" else state.status
                if cancel.is_set():
                    return "cancelled"
                if state.place is None:
                    if policy.daily_usd is not None:
                        budget = await budget_for(self.services, run, policy.daily_usd)
                        if not budget.fits:
                            return budget.refusal()
                    await db.run(run_store.mark_running, run_id=run_id)
                    return None
            if state.place != shown:
                shown = state.place
                log.info("r%s queued: position %s", run_id, shown.position)
                await on_queued(shown)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), self.poll_s)


def queued_text(place: QueuePlace) -> str:
    """What a queued run's message says it waits for (our words and run ids only)."""

    def ids(runs: tuple[int, ...]) -> str:
        shown = ", ".join(f"r{i}" for i in runs[:6])
        return shown + (f" and {len(runs) - 6} more" if len(runs) > 6 else "")

    ahead = (
        f"behind {len(place.ahead)} queued run{'s' if len(place.ahead) != 1 else ''} "
        f"({ids(place.ahead)}) and "
        if place.ahead
        else "next, behind "
    )
    return (
        f":hourglass_flowing_sand: *Queued* {ahead}{len(place.running)} running "
        f"({ids(place.running)}): at most {place.limit} run at once "
        "(EVALBOT_MAX_ACTIVE_RUNS). It starts when one ends."
    )
