"""What the use cases are handed: ports, storage and the deployment's rules."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from commands.ports import Charts, Chat, FineTuneBackends, Posted, Presenter, Scheduler
from commands.throttle import ResilientModels
from storage.db import Database

if TYPE_CHECKING:
    from commands.prices import PriceTable
    from commands.reports import RunHeader
    from commands.suites.catalog import SuiteCatalog
    from storage.runs import ModelTally
    from storage.tables import EvalRun, FineTuneJob, Proposal

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


class LiveRun(Protocol):
    """A run executing in this process, as `/eval status` shows it."""

    @property
    def header(self) -> RunHeader: ...

    @property
    def stored(self) -> Mapping[str, ModelTally]: ...

    @property
    def remaining(self) -> int:
        """Samples of every model not yet answered (the queue depth /metrics shows)."""
        ...


class Engine(Protocol):
    """The run engine (commands.eval.runner.RunEngine), as the other use cases see it."""

    @property
    def live(self) -> Mapping[int, LiveRun]: ...

    def cancel(self, run_id: int) -> bool:
        """Ask a run executing here to stop; True if it was running here."""
        ...

    async def start(self, run_id: int) -> None:
        """Execute and announce a stored run in the background."""
        ...

    async def resume_all(self) -> list[int]:
        """Take over runs nobody executes any more; returns their ids."""
        ...

    async def execute_and_announce(self, run_id: int) -> EvalRun | None:
        """Execute a run to its end here and announce it; the final row."""
        ...


class Outcomes(Protocol):
    """What follows when something ends; implemented once, by commands.outcomes.

    Command families call these instead of importing each other: the engine when a run
    ends, the fine-tune poller when a job ends, the vote counter when a gate is decided.
    """

    async def run_finished(self, ports: Ports, run: EvalRun) -> Posted | None:
        """Announce a terminal run and do what its origin asks for (once)."""
        ...

    async def gate_decided(self, ports: Ports, proposal: Proposal) -> None:
        """A fine-tune's approval gate was approved, rejected or expired."""
        ...

    async def finetune_finished(self, services: Services, job: FineTuneJob) -> None:
        """A fine-tuning job reached a terminal state."""
        ...


@dataclass(frozen=True)
class Ports:
    """Everything a use case may be handed except the run engine: complete when built.

    The composition root (bot/app.py) fills every field; nothing is set afterwards, so no
    use case checks for a missing part. A process without a scheduler (the CLI) passes
    one that does nothing (`IdleScheduler`).
    """

    chat: Chat
    # Words reports for the medium (Slack mrkdwn, or a terminal's plain text): use cases
    # hand it reports and post what it returns, so they never escape or format text.
    presenter: Presenter
    models: ResilientModels
    db: Database
    suites: SuiteCatalog
    prices: PriceTable
    charts: Charts
    policy: Policy
    tasks: Tasks
    scheduler: Scheduler
    finetune: FineTuneBackends  # fine-tuning backends, by provider
    # What follows a finished run or a decided gate (commands.outcomes): families reach
    # it through this port, so none of them imports another.
    outcomes: Outcomes
    # This process, as the owner of the leases it holds (storage.leases), and the rows
    # it holds them on.
    instance: str
    held: set[tuple[str, int]]


@dataclass(frozen=True)
class Services(Ports):
    """The ports plus the run engine, which is built from the ports."""

    engine: Engine
