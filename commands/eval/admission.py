"""The gate every run passes before it executes, whoever or whatever started it (a
person, a watch, a drift check, a fine-tune's evaluation, the CLI).

Two limits hold there: EVALBOT_MAX_ACTIVE_RUNS (more runs wait, queued, first come first
served, and their message says what they wait behind), and EVALBOT_DAILY_USD (a run
whose estimate would take the UTC day's spend past it is refused, and its message says
so). Counting, checking the budget and marking a run running are one transaction that
holds a claim shared by every process on the database (storage.admission
`hold_admissions`), so runs started in a burst, here or by another process on the same
PostgreSQL, are admitted one after another and never past the limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from commands.budget import budget_in
from commands.eval.estimate import estimate
from commands.services import Ports
from commands.waiting import wait_event
from storage import admission as store
from storage import runs as run_store
from storage.admission import Admission, QueuePlace
from storage.tables import EvalRun

log = logging.getLogger(__name__)

POLL_S = 1.0
# What `Gate.admit` answers besides None (admitted) and a budget refusal.
CANCELLED = "cancelled while queued"
ENDED = "ended elsewhere while queued"


async def run_estimate(ports: Ports, run: EvalRun) -> float:
    """What `run` will still cost: its samples not yet stored, at the estimate's rates."""
    suite = ports.suites.get(run.suite)
    if suite is None:
        return 0.0
    done = await ports.db.run(store.samples_done, run_id=run.id or 0)
    total = 0.0
    for model in run.models:
        left = max(0, run.total - done.get(model, 0))
        if left:
            total += (await estimate(ports, suite, [model], left)).total
    return total


def admit_now(
    session: Any, *, run_id: int, max_active: int, daily_usd: float | None, wanted: float
) -> Admission | str:
    """One try at admitting `run_id`, atomic across processes: the admission claim, the
    count, the budget (`wanted`: the run's estimate) and marking it running, in the one
    transaction. Returns the run's Admission (status "running" once admitted; a `place`
    while it must wait) or, over EVALBOT_DAILY_USD, why it may not run."""
    store.hold_admissions(session)
    state = store.admission(session, run_id=run_id, max_active=max_active)
    if state.status != "queued" or state.place is not None:
        return state
    if daily_usd is not None:
        budget = budget_in(session, limit=daily_usd, wanted=wanted, besides=run_id)
        if not budget.fits:
            return budget.refusal()
    run_store.mark_running(session, run_id=run_id)
    return Admission("running", None)


class Gate:
    """Admits runs one at a time, across processes; see the module's docstring."""

    def __init__(self, services: Ports, *, poll_s: float = POLL_S) -> None:
        self.services = services
        self.poll_s = poll_s
        # Admissions of this process wait here rather than each holding a database
        # connection while it waits for the claim.
        self._lock = asyncio.Lock()

    async def admit(
        self,
        run: EvalRun,
        *,
        cancel: asyncio.Event,
        on_queued: Callable[[QueuePlace], Awaitable[None]],
    ) -> str | None:
        """Wait for the run's turn and mark it running. Returns None once it runs;
        CANCELLED (`cancel` was set) or ENDED (ended in another process) when it ended
        while it waited; otherwise why it may not run (over the daily budget)."""
        run_id, shown = run.id or 0, None
        db, policy = self.services.db, self.services.policy
        # What it will cost does not change while it waits: estimated once.
        wanted = await run_estimate(self.services, run) if policy.daily_usd is not None else 0.0
        while True:
            # A plain read first: a run that must wait (most polls) takes no claim, so
            # queued runs polling do not hold the write lock SQLite's claim is.
            answer: Admission | str = await db.run(
                store.admission, run_id=run_id, max_active=policy.max_active_runs
            )
            if isinstance(answer, Admission) and answer.status == "queued":
                if cancel.is_set():
                    return CANCELLED
                if answer.place is None:  # its turn, it seems: decided under the claim
                    async with self._lock:
                        answer = await db.run(
                            admit_now,
                            run_id=run_id,
                            max_active=policy.max_active_runs,
                            daily_usd=policy.daily_usd,
                            wanted=wanted,
                        )
            if isinstance(answer, str):
                return answer
            if answer.status != "queued":
                return None if answer.status == "running" else ENDED
            if answer.place is not None and answer.place != shown:
                shown = answer.place
                log.info("r%s queued: position %s", run_id, shown.position)
                await on_queued(shown)
            await wait_event(cancel, self.poll_s)
