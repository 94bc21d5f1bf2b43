"""Scheduled job functions, referenced by name from the job store ("commands.jobs:...").

The job store keeps only the function's name and plain arguments (commands.schedule);
the scheduler (bot/scheduler.py) passes the process's services as the keyword argument
`services` when it runs one, so nothing here is a module global.
"""

from __future__ import annotations

import logging

from commands.finetune.jobs import poll as poll_job
from commands.finetune.jobs import resume_pending
from commands.logctx import log_context
from commands.promote import expire_due
from commands.services import Services
from commands.watch.poll import poll

log = logging.getLogger(__name__)


async def poll_watch(watch_id: int, *, services: Services) -> None:
    """Poll one watch; errors are logged and the next tick tries again."""
    with log_context(watch=f"w{watch_id}"):
        try:
            await poll(services, watch_id)
        except Exception:
            log.exception("watch poll failed; retrying at the next tick")


async def poll_finetune(job_id: int, *, services: Services) -> None:
    """Follow one fine-tuning job; errors are logged and the next tick tries again."""
    with log_context(job=f"f{job_id}"):
        try:
            await poll_job(services, job_id)
        except Exception:
            log.exception("fine-tune poll failed; retrying at the next tick")


async def sweep_proposals(*, services: Services) -> None:
    """Expire proposals whose lifetime is over and show it on their messages."""
    try:
        await expire_due(services)
    except Exception:
        log.exception("proposal sweep failed; retrying at the next tick")


async def resume_runs(*, services: Services) -> None:
    """Take over the work of a process that died: runs, and fine-tunes half submitted.

    Both are leased (commands.leases): they are taken once the dead process's lease has
    lapsed, never while a live process still holds them.
    """
    try:
        resumed = await services.engine.resume_all()
        resumed += await resume_pending(services)
    except Exception:
        log.exception("resuming orphaned work failed; retrying at the next tick")
        return
    if resumed:
        log.info("took over %d orphaned runs and requests", len(resumed))
