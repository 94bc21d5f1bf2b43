"""Holding a lease while working on a row: claim, renew in the background, release.

See storage.leases. One `Lease` guards one piece of work (executing a run, submitting a
fine-tune) against a second copy of that work, in this process (a command and a resume
racing) or in another one (two replicas, or a leader taking over after a crash).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from commands.services import Ports
from storage import leases as store
from storage.tables import utcnow

log = logging.getLogger(__name__)


def dead_here(owner: str, me: str) -> bool:
    """True if `owner` was a process on this host that no longer runs.

    Owners are `host:pid:nonce` (Services.instance). A restarted bot on the same host (or
    in the same container) need not wait for its previous incarnation's leases to lapse:
    that process is gone if its pid is no longer alive, or is now ours under another
    nonce. Owners on other hosts cannot be checked and are left to their leases.
    """
    try:
        host, pid_text, nonce = owner.rsplit(":", 2)
        my_host, my_pid, my_nonce = me.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != my_host or owner == me:
        return False
    if pid_text == my_pid:
        return nonce != my_nonce
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by another user
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """True if `pid` has exited but its parent has not reaped it yet (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[:1]
    except OSError:
        return False
    return state in (["Z"], ["X"])


class Lease:
    """A claim on one row by this process, renewed until released."""

    def __init__(
        self,
        services: Ports,
        table: store.Leased,
        row_id: int,
        statuses: Sequence[str],
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.services = services
        self.table = table
        self.row_id = row_id
        self.statuses = tuple(statuses)
        self.on_lost = on_lost
        self.key = (str(table.__tablename__), row_id)
        self.lost = False
        self._keeper: asyncio.Task[None] | None = None

    @property
    def _seconds(self) -> float:
        return self.services.policy.run_lease_s

    def _until(self) -> tuple[datetime, datetime]:
        now = utcnow()
        return now, now + timedelta(seconds=self._seconds)

    async def acquire(self) -> bool:
        """Claim the row; False if this process or another live one already holds it."""
        if self.key in self.services.held:
            return False
        self.services.held.add(self.key)  # before any await: a second task sees it
        now, until = self._until()
        try:
            claimed = await self.services.db.run(
                store.claim,
                table=self.table,
                row_id=self.row_id,
                statuses=self.statuses,
                owner=self.services.instance,
                now=now,
                until=until,
            )
        except BaseException:
            self.services.held.discard(self.key)
            raise
        if not claimed:
            self.services.held.discard(self.key)
            return False
        self._keeper = asyncio.create_task(self._keep())
        return True

    async def _keep(self) -> None:
        every = max(0.5, self._seconds / 3)
        while True:
            await asyncio.sleep(every)
            _, until = self._until()
            try:
                held = await self.services.db.run(
                    store.renew,
                    table=self.table,
                    row_id=self.row_id,
                    statuses=self.statuses,
                    owner=self.services.instance,
                    until=until,
                )
            except Exception:
                log.exception("renewing the lease on %s %s failed; will retry", *self.key)
                continue
            if not held:
                log.info("%s %s moved on or was taken over: lease given up", *self.key)
                self.lost = True
                if self.on_lost is not None:
                    self.on_lost()
                return

    async def release(self) -> None:
        """Stop renewing and let go, so another process may take the row at once."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        try:
            await self.services.db.run(
                store.release,
                table=self.table,
                row_id=self.row_id,
                owner=self.services.instance,
                now=utcnow(),
            )
        finally:
            self.services.held.discard(self.key)
