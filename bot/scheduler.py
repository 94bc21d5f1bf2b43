"""Scheduled jobs: APScheduler with its SQLAlchemy job store in the project's database.

Every process keeps a scheduler started in *paused* mode, so `/watch add` in any process
writes its job to the shared job store at once. Only the leader runs jobs: on SQLite the
one process is the leader; on PostgreSQL the process holding a session-level advisory
lock is, and when it dies its connection closes, the lock frees, and another process
takes over within `LEADER_RETRY_S`. The leader also resumes unfinished runs.

The job functions live in commands.jobs and are referenced by name, so the job store
holds only "module:function" and plain arguments. The process's dependencies are not in
the store and not in a module global: `start(deps)` hands them to the executor, which
passes them to every job function as the keyword argument `services`. (APScheduler checks
a job's arguments against its function when the job is added, so the store keeps a
`services=None` placeholder that the executor replaces.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import run_coroutine_job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Connection, text

from storage.db import Database

log = logging.getLogger(__name__)

LEADER_RETRY_S = 5.0
WAKEUP_JOB = "evalbot-wakeup"


class LeaderLock:
    """A PostgreSQL advisory lock held on a dedicated connection; SQLite always leads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.key = (
            zlib.crc32(("evalbot:" + db.engine.url.render_as_string(hide_password=True)).encode())
            & 0x7FFFFFFF
        )
        self._conn: Connection | None = None

    @property
    def shared(self) -> bool:
        return self.db.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if not self.shared:
            return True
        if self._conn is not None:
            return True
        conn = self.db.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def still_held(self) -> bool:
        if not self.shared:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            log.warning("leader connection lost", exc_info=True)
            self._conn = None
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
                self._conn.close()
            except Exception:
                log.warning("could not release the leader lock", exc_info=True)
            self._conn = None


async def _wakeup(*, services: Any) -> None:
    """A no-op that makes the leader re-read the job store (jobs added elsewhere)."""


_PLACEHOLDER = {"services": None}  # replaced by the executor when the job runs


class _BoundJob:
    """A stored job seen with the process's dependencies as its `services` argument."""

    def __init__(self, job: Any, deps: Any) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "services": deps}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _DepsExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs coroutine jobs as `func(*args, services=deps)`; the store never holds deps."""

    def __init__(self) -> None:
        super().__init__()
        self.deps: Any = None

    def _do_submit_job(self, job: Any, run_times: Any) -> None:
        bound = _BoundJob(job, self.deps)

        def done(f: asyncio.Future[Any]) -> None:
            self._pending_futures.discard(f)
            try:
                events = f.result()
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

        coro = run_coroutine_job(bound, job._jobstore_alias, run_times, self._logger.name)
        f = self._eventloop.create_task(coro)
        f.add_done_callback(done)
        self._pending_futures.add(f)


class JobScheduler:
    """Implements commands.ports.Scheduler over AsyncIOScheduler, leader-aware."""

    def __init__(
        self,
        db: Database,
        *,
        on_leader: Callable[[], Awaitable[None]] | None = None,
        wakeup_s: int = 30,
    ) -> None:
        self.db = db
        self.lock = LeaderLock(db)
        self.on_leader = on_leader
        self.leader = False
        self.wakeup_s = wakeup_s
        self._executor = _DepsExecutor()
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=db.engine)},
            executors={"default": self._executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone="UTC",
        )
        self._task: asyncio.Task[None] | None = None
        self._running: dict[str, int] = {}  # job id -> instances submitted, not yet ended
        self.scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self.scheduler.add_listener(
            self._on_ended, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        )

    def _on_submitted(self, event: JobEvent) -> None:
        self._running[event.job_id] = self._running.get(event.job_id, 0) + 1

    def _on_ended(self, event: JobEvent) -> None:
        # A missed run may never have been submitted: never count below zero.
        left = self._running.get(event.job_id, 0) - 1
        if left > 0:
            self._running[event.job_id] = left
        else:
            self._running.pop(event.job_id, None)

    @property
    def running_jobs(self) -> int:
        """Scheduled jobs executing now (the `idle` of /healthz waits for them)."""
        return sum(self._running.values())

    async def start(
        self, deps: Any = None, *, on_leader: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Start paused; become leader now if possible, else keep trying in the background.

        `deps` (the composition root's Services) is passed to every job function;
        `on_leader` (if given) replaces the constructor's: what taking the lead does.
        """
        self._executor.deps = deps
        if on_leader is not None:
            self.on_leader = on_leader
        # Start-up only: creates the job table if missing (a brief blocking call).
        self.scheduler.start(paused=True)
        self.scheduler.add_job(
            _wakeup,
            "interval",
            seconds=self.wakeup_s,
            id=WAKEUP_JOB,
            replace_existing=True,
            kwargs=_PLACEHOLDER,
        )
        await self._campaign()
        self._task = asyncio.get_running_loop().create_task(self._keep_leading())

    async def _campaign(self) -> None:
        loop = asyncio.get_running_loop()
        if not self.leader:
            got = await loop.run_in_executor(None, self.lock.try_acquire)
            if got:
                self.leader = True
                log.info("this process is the scheduler leader")
                self.scheduler.resume()
                if self.on_leader is not None:
                    await self.on_leader()
        elif not await loop.run_in_executor(None, self.lock.still_held):
            self.leader = False
            self.scheduler.pause()
            log.warning("lost scheduler leadership; standing by")

    async def _keep_leading(self) -> None:
        while True:
            await asyncio.sleep(LEADER_RETRY_S)
            try:
                await self._campaign()
            except Exception:
                log.exception("leader election failed; will retry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await asyncio.to_thread(self.lock.release)

    # commands.ports.Scheduler --------------------------------------------------

    async def every(
        self,
        job_id: str,
        func: str,
        seconds: int,
        args: tuple[Any, ...] = (),
        *,
        first_in_s: int | None = None,
    ) -> None:
        first = datetime.now(UTC) + timedelta(seconds=seconds if first_in_s is None else first_in_s)
        # add_job writes the job store (the database): off the event loop. APScheduler's
        # asyncio scheduler wakes itself thread-safely.
        await asyncio.to_thread(
            self.scheduler.add_job,
            func,
            "interval",
            seconds=seconds,
            args=list(args),
            kwargs=_PLACEHOLDER,
            id=job_id,
            replace_existing=True,
            next_run_time=first,
        )

    async def cancel(self, job_id: str) -> None:
        await asyncio.to_thread(self._quietly, self.scheduler.remove_job, job_id)

    async def pause(self, job_id: str) -> None:
        await asyncio.to_thread(self._quietly, self.scheduler.pause_job, job_id)

    async def resume(self, job_id: str) -> None:
        await asyncio.to_thread(self._quietly, self.scheduler.resume_job, job_id)

    @staticmethod
    def _quietly(fn: Callable[[str], Any], job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            fn(job_id)

    def has(self, job_id: str) -> bool:
        return self.scheduler.get_job(job_id) is not None

    def run_now(self, job_id: str) -> bool:
        """Move a job's next run to now (tests and `/watch check` use the job function)."""
        job = self.scheduler.get_job(job_id)
        if job is None:
            return False
        job.modify(next_run_time=datetime.now(UTC))
        self.scheduler.wakeup()
        return True
