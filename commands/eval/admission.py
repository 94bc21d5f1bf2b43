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
import logging
from collections.abc import Awaitable, Callable

from commands.budget import day_so_far
from commands.eval.estimate import estimate
from commands.services import Ports
from commands.waiting import wait_event
from storage import admission as store
from storage import runs as run_store
from storage.admission import QueuePlace
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


class Gate:
    """Admits runs one at a time in this process; see the module's docstring."""

    def __init__(self, services: Ports, *, poll_s: float = POLL_S) -> None:
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
        """Wait for the run's turn and mark it running. Returns None once it runs;
        CANCELLED (`cancel` was set) or ENDED (ended in another process) when it ended
        while it waited; otherwise why it may not run (over the daily budget)."""
        run_id, shown = run.id or 0, None
        db, policy = self.services.db, self.services.policy
        while True:
            async with self._lock:
                state = await db.run(
                    store.admission, run_id=run_id, max_active=policy.max_active_runs
                )
                if state.status != "queued":
                    return None if state.status == "running" else ENDED
                if cancel.is_set():
                    return CANCELLED
                if state.place is None:
                    if policy.daily_usd is not None:
                        wanted = await run_estimate(self.services, run)
                        budget = await day_so_far(
                            self.services, policy.daily_usd, wanted, besides=run_id
                        )
                        if not budget.fits:
                            return budget.refusal()
                    await db.run(run_store.mark_running, run_id=run_id)
                    return None
            if state.place != shown:
                shown = state.place
                log.info("r%s queued: position %s", run_id, shown.position)
                await on_queued(shown)
            await wait_event(cancel, self.poll_s)
