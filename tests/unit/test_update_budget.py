"""The app-wide chat.update budget: progress takes a token or is dropped, finals wait."""

from __future__ import annotations

import asyncio

from bot.slack_budget import UpdateBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_capped_at_the_rate_and_keeps_a_reserve_for_finals() -> None:
    clock = Clock()
    budget = UpdateBudget(per_minute=20, burst=5, reserve=1, clock=clock)
    taken = 0
    for _ in range(600):  # ten runs refreshing once a second for a minute
        taken += budget.try_progress()
        clock.now += 0.1
    # 5 at once (less the reserve) then 20 a minute: far under Slack's Tier 3 (50).
    assert 19 <= taken <= 25
    assert budget._tokens >= 0.0


def test_a_429_closes_the_budget_for_its_retry_after() -> None:
    clock = Clock()
    budget = UpdateBudget(per_minute=600, burst=5, clock=clock)
    budget.close_for(3)
    assert not budget.try_progress()
    clock.now += 2.9
    assert not budget.try_progress()
    clock.now += 1.0
    assert budget.try_progress()


async def test_a_final_waits_for_a_token_and_progress_yields_to_it() -> None:
    budget = UpdateBudget(per_minute=600, burst=1, reserve=0)  # a token every 0.1 s
    assert budget.try_progress()
    waiter = asyncio.create_task(budget.take_final())
    await asyncio.sleep(0)
    assert not budget.try_progress()  # a final is waiting: progress stands back
    await asyncio.wait_for(waiter, 1.0)
    assert budget._finals_waiting == 0
