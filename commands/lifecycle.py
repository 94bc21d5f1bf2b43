"""What the scheduler leader does when it takes over: pick up unfinished work."""

from __future__ import annotations

import logging

from commands import schedule
from commands.finetune.jobs import resume_all
from commands.services import Services

log = logging.getLogger(__name__)


async def on_start(services: Services) -> None:
    """Resume runs a previous process left unfinished or unannounced."""
    await services.scheduler.every(
        schedule.SWEEP_JOB_ID, schedule.SWEEP_PROPOSALS, 300, first_in_s=5
    )
    # Runs of a process that crashed are held until their lease lapses; look again
    # as often as a lease lasts, so they are taken over within about two leases.
    lease = max(1, round(services.policy.run_lease_s))
    await services.scheduler.every(schedule.RESUME_JOB_ID, schedule.RESUME_RUNS, lease)
    resumed = await services.engine.resume_all()
    if resumed:
        log.info("resumed %d runs", len(resumed))
    await resume_all(services)
