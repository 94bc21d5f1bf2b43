"""What the use cases are handed: ports, storage and the deployment's rules."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from commands.ports import Charts, Chat, FineTuneBackends, Scheduler
from commands.throttle import ResilientModels
from storage.db import Database

if TYPE_CHECKING:
    from commands.eval.catalog import SuiteCatalog
    from commands.eval.runner import RunEngine
    from commands.prices import PriceTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """Who may do what, and the knobs commands read."""

    approvers: frozenset[str] = frozenset()
    finetune_users: frozenset[str] = frozenset()  # empty: everyone
    concurrency: int = 32
    poll_seconds: int = 30
    proposal_days: float = 7.0
    finetune_approval_usd: float = 100.0  # estimates above this wait for an approval
    finetune_max_bytes: int = 100 * 1024 * 1024  # a data file shared in Slack
    # How long a run stays claimed by a process that stopped renewing it (a crash)
    # before another process resumes it.
    run_lease_s: float = 30.0
    max_run_usd: float | None = None  # `/eval run`s estimated above this are refused
    # Who may start runs, watches and fine-tunes: user ids and user-group ids (S...);
    # empty: everyone (commands/permissions.py resolves the groups).
    runners: frozenset[str] = frozenset()
    max_active_runs: int = 4  # runs executing at once; the rest wait, queued
    daily_usd: float | None = None  # spend per UTC day, everything included

    def may_finetune(self, user_id: str) -> bool:
        return not self.finetune_users or user_id in self.finetune_users


class Tasks:
    """Background work started after an ack: tracked, logged, cancelled at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str,
        on_error: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> asyncio.Task[Any]:
        async def guarded() -> Any:
            try:
                return await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("background task %s failed", name)
                if on_error is not None:
                    try:
                        await on_error(exc)
                    except Exception:
                        log.exception("error handler of %s failed", name)
                return None

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)


def new_instance_id() -> str:
    """host:pid:random, unique to one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Services:
    """The composition root hands one of these to every handler."""

    chat: Chat
    models: ResilientModels
    db: Database
    suites: SuiteCatalog
    prices: PriceTable
    charts: Charts
    policy: Policy = field(default_factory=Policy)
    tasks: Tasks = field(default_factory=Tasks)
    engine_: RunEngine | None = None
    scheduler: Scheduler | None = None
    finetune: FineTuneBackends | None = None  # fine-tuning backends, by provider
    # This process, as the owner of the leases it holds (storage.leases), and the rows
    # it holds them on.
    instance: str = field(default_factory=new_instance_id)
    held: set[tuple[str, int]] = field(default_factory=set)

    @property
    def engine(self) -> RunEngine:
        """The run engine (built after the services it uses)."""
        if self.engine_ is None:
            raise RuntimeError("the run engine is not wired")
        return self.engine_
