"""Scheduled job functions, referenced by name from the job store ("commands.jobs:...").

The job store keeps only the function's name and plain arguments; the services these
functions need are bound once at start-up with `bind`.
"""

from __future__ import annotations

import logging

from commands.logctx import log_context
from commands.services import Services

log = logging.getLogger(__name__)

_bound: list[Services] = []

POLL_WATCH = "commands.jobs:poll_watch"
POLL_FINETUNE = "commands.jobs:poll_finetune"
SWEEP_PROPOSALS = "commands.jobs:sweep_proposals"
SWEEP_JOB_ID = "proposal-sweep"
RESUME_RUNS = "commands.jobs:resume_runs"
RESUME_JOB_ID = "resume-runs"


def bind(services: Services) -> None:
    """Give the job functions the process's services (called by the composition root)."""
    _bound[:] = [services]


def bound() -> Services:
    if not _bound:
        raise RuntimeError("commands.jobs.bind() was not called")
    return _bound[0]


def watch_job_id(watch_id: int) -> str:
    return f"watch-{watch_id}"


def finetune_job_id(job_id: int) -> str:
    return f"finetune-{job_id}"


async def poll_watch(watch_id: int) -> None:
    """Poll one watch; errors are logged and the next tick tries again."""
    from commands.watch.poll import poll

    with log_context(watch=f"w{watch_id}"):
        try:
            await poll(bound(), watch_id)
        except Exception:
            log.exception("watch poll failed; retrying at the next tick")


async def poll_finetune(job_id: int) -> None:
    """Follow one fine-tuning job; errors are logged and the next tick tries again."""
    from commands.finetune.jobs import poll

    with log_context(job=f"f{job_id}"):
        try:
            await poll(bound(), job_id)
        except Exception:
            log.exception("fine-tune poll failed; retrying at the next tick")


async def sweep_proposals() -> None:
    """Expire proposals whose lifetime is over and show it on their messages."""
    from commands.promote import expire_due

    try:
        await expire_due(bound())
    except Exception:
        log.exception("proposal sweep failed; retrying at the next tick")


async def resume_runs() -> None:
    """Take over the work of a process that died: runs, and fine-tunes half submitted.

    Both are leased (commands.leases): they are taken once the dead process's lease has
    lapsed, never while a live process still holds them.
    """
    services = bound()
    try:
        resumed = await services.engine.resume_all()
        if services.finetune is not None:
            from commands.finetune.jobs import resume_pending

            resumed += await resume_pending(services)
    except Exception:
        log.exception("resuming orphaned work failed; retrying at the next tick")
        return
    if resumed:
        log.info("took over %d orphaned runs and requests", len(resumed))
