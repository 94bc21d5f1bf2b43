"""One budget of chat.update calls for the whole app.

Slack counts chat.update per app (Tier 3, about 50 a minute), not per message: ten runs
each refreshing their message once a second asked for ~600 a minute and had 83% refused.
Progress refreshes therefore share one token bucket well under the tier, and take a token
only when one is there: a refresh that finds none is dropped, since the next one a moment
later carries newer numbers anyway. Final updates (a summary, a job's outcome) wait for a
token and go first: progress leaves `reserve` tokens for them. A 429 from Slack closes the
budget until its Retry-After has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class UpdateBudget:
    """A token bucket shared by every chat.update of the process."""

    def __init__(
        self,
        per_minute: float = 20.0,
        *,
        burst: int = 5,
        reserve: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.reserve = float(reserve)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._closed_until = 0.0
        self._finals_waiting = 0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return now

    def try_progress(self) -> bool:
        """Take a token for a progress update if one is free now; never waits."""
        now = self._refill()
        if now < self._closed_until or self._finals_waiting:
            return False
        if self._tokens < 1.0 + self.reserve:  # the last tokens are kept for finals
            return False
        self._tokens -= 1.0
        return True

    async def take_final(self) -> None:
        """Wait for a token for an update that must land (waits out a 429 too)."""
        self._finals_waiting += 1
        try:
            while True:
                now = self._refill()
                if now >= self._closed_until and self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = max(self._closed_until - now, (1.0 - self._tokens) / self.rate, 0.01)
                await asyncio.sleep(wait)
        finally:
            self._finals_waiting -= 1

    def close_for(self, seconds: float) -> None:
        """Slack said 429: nothing goes out for `seconds`."""
        self._closed_until = max(self._closed_until, self._clock() + seconds)
        self._tokens = 0.0
