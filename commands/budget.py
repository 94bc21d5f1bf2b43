"""EVALBOT_DAILY_USD: what the UTC day has spent and promised, whoever spent it.

Spent: every stored sample's cost since 00:00 UTC (runs from Slack, watches, drift
checks, fine-tunes' evaluations, the CLI) plus the estimates of fine-tuning jobs created
today. Promised: what the runs executing now will still cost, at their own mean cost per
sample so far. A run (commands.eval.admission) or a fine-tune that would take the sum
past the limit is refused, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from commands.services import Ports
from storage import admission as store
from storage import runs as run_store
from storage.tables import EvalRun


@dataclass(frozen=True)
class Budget:
    """The day's spend against EVALBOT_DAILY_USD, with what one more thing would add."""

    limit: float
    spent: float  # samples stored today plus fine-tuning estimates
    promised: float  # what the runs executing now are estimated to cost still
    wanted: float  # the estimate of the run or job asking

    @property
    def fits(self) -> bool:
        return self.spent + self.promised + self.wanted <= self.limit

    def refusal(
        self,
        what: str = "this run",
        hint: str = "run fewer samples (`limit=`) or wait until 00:00 UTC",
    ) -> str:
        """Why it may not start, in numbers, and what to do (our words only)."""
        left = max(0.0, self.limit - self.spent - self.promised)
        return (
            f"over the daily budget: {what} is estimated at ${self.wanted:.2f}, and "
            f"${self.spent:.2f} was spent today (UTC) with ${self.promised:.2f} more promised "
            f"to runs in progress, of ${self.limit:.2f} (EVALBOT_DAILY_USD); "
            f"${left:.2f} is left: {hint}"
        )


def midnight_utc(now: datetime | None = None) -> datetime:
    """The start of the UTC day."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _promised(session: Session, run: EvalRun) -> float:
    done = store.samples_done(session, run_id=run.id or 0)
    total = 0.0
    for model in run.models:
        left = max(0, run.total - done.get(model, 0))
        if left:
            each = run_store.cost_per_sample(session, suite=run.suite, model=model)
            total += left * (each or 0.0)
    return total


def budget_in(session: Session, *, limit: float, wanted: float, besides: int | None) -> Budget:
    """The day's budget with `wanted` more, read in the caller's transaction (so the
    admission of a run can check it and mark the run running in one transaction);
    `besides`: a run not to count as promised (the one asking)."""
    spent = store.spent_since(session, since=midnight_utc())
    promised = sum(
        _promised(session, other) for other in store.running_runs(session) if other.id != besides
    )
    return Budget(limit, spent, promised, wanted)


async def day_so_far(ports: Ports, limit: float, wanted: float, *, besides: int | None) -> Budget:
    """The day's budget with `wanted` more (see `budget_in`), in a transaction of its own."""
    return await ports.db.run(budget_in, limit=limit, wanted=wanted, besides=besides)


async def over_budget(ports: Ports, usd: float) -> Budget | None:
    """For spending that is not a run (a fine-tuning job's estimate): the budget when
    `usd` more would pass EVALBOT_DAILY_USD, else None."""
    limit = ports.policy.daily_usd
    if limit is None:
        return None
    budget = await day_so_far(ports, limit, usd, besides=None)
    return None if budget.fits else budget
