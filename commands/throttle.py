"""Provider calls that survive 429s, 5xx, timeouts and dropped connections.

`ResilientModels` wraps the `Models` port: every call waits for a slot of its
provider's `AdaptiveLimiter` (at most EVALBOT_CONCURRENCY in flight per provider,
whatever the number of runs), and retries retryable failures with jittered exponential
backoff that honours retry-after. The limiter halves its window on a 429 or when the
x-ratelimit-remaining headers say the provider is nearly out, then grows it back one
slot per success run (AIMD), so a run settles just under the provider's limit instead
of hammering it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from commands.model_names import ModelDirectory
from commands.ports import Completion, Message, ModelInfo, Models, ProviderError, RateLimitState

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts for faults, a longer budget for rate limits."""

    max_attempts: int = 6  # 5xx, timeouts, connection errors
    max_rate_limited: int = 30  # 429s: the provider asked us to wait, not to give up
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0  # beyond this, give up (like the SDK)

    def delay(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Full-jitter exponential backoff, never shorter than the provider asked."""
        backoff = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        jittered = rng.uniform(0, backoff)
        if retry_after_s is not None:
            # A little spread so a burst of rate-limited workers does not return as one.
            return retry_after_s + rng.uniform(0, min(1.0, 0.1 + retry_after_s * 0.1))
        return jittered


class AttemptObserver(Protocol):
    """Told of every provider attempt and retry (bot/metrics.py counts them)."""

    def provider_attempt(self, provider: str, error: ProviderError | None) -> None: ...

    def provider_retry(self, provider: str, error: ProviderError) -> None: ...


class AdaptiveLimiter:
    """A concurrency window per provider that shrinks under pressure and regrows."""

    def __init__(self, limit: int, *, floor: int = 1) -> None:
        self.limit = limit
        self.floor = floor
        self.window = float(limit)
        self.in_flight = 0
        self._cond = asyncio.Condition()
        self._successes = 0

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < max(self.floor, int(self.window)))
            self.in_flight += 1

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def on_success(self, state: RateLimitState) -> None:
        rem, lim = state.remaining_requests, state.limit_requests
        if rem is not None and lim and rem < max(2, lim * 0.05):
            self._shrink("remaining requests low")
            return
        rem_t, lim_t = state.remaining_tokens, state.limit_tokens
        if rem_t is not None and lim_t and rem_t < lim_t * 0.05:
            self._shrink("remaining tokens low")
            return
        self._successes += 1
        if self.window < self.limit and self._successes >= max(1, int(self.window)):
            self._successes = 0
            self.window = min(float(self.limit), self.window + 1)
            self._wake()

    def on_rate_limited(self) -> None:
        self._shrink("rate limited")

    def _shrink(self, why: str) -> None:
        before = self.window
        self.window = max(float(self.floor), self.window / 2)
        self._successes = 0
        if int(before) != int(self.window):
            log.info("concurrency window %d -> %d (%s)", int(before), int(self.window), why)

    def _wake(self) -> None:
        async def notify() -> None:
            async with self._cond:
                self._cond.notify_all()

        with contextlib.suppress(RuntimeError):  # no loop: nobody is waiting
            asyncio.get_running_loop().create_task(notify())


class ResilientModels:
    """A `Models` that limits and retries; shared by every run of the process."""

    def __init__(
        self,
        inner: Models,
        *,
        concurrency: int,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
        observer: AttemptObserver | None = None,
    ) -> None:
        self.inner = inner
        self.observer = observer
        self.concurrency = concurrency
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._limiters: dict[str, AdaptiveLimiter] = {}
        # What each provider serves, cached for checking the names people type; listing
        # for releases (watches) calls list_models itself, never this cache.
        self.directory = ModelDirectory(inner)

    def in_flight(self) -> dict[str, int]:
        """Requests in flight per provider, now."""
        return {name: lim.in_flight for name, lim in self._limiters.items()}

    def limiter(self, provider: str) -> AdaptiveLimiter:
        found = self._limiters.get(provider)
        if found is None:
            found = self._limiters[provider] = AdaptiveLimiter(self.concurrency)
        return found

    # Models port --------------------------------------------------------------

    def providers(self) -> list[str]:
        return self.inner.providers()

    def split(self, model: str) -> tuple[str, str]:
        return self.inner.split(model)

    def rate_limit(self, provider: str) -> RateLimitState:
        return self.inner.rate_limit(provider)

    async def complete(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        completion, _ = await self.complete_counted(model, messages, params)
        return completion

    async def complete_counted(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> tuple[Completion, int]:
        """Like complete, also returning how many attempts it took."""
        return await self._call(model, lambda: self.inner.complete(model, messages, params))

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        result, _ = await self._call(model, lambda: self.inner.embed(model, texts))
        return result

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        return await self.inner.list_models(provider)

    async def _call(self, model: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        provider, _ = self.inner.split(model)
        limiter = self.limiter(provider)
        attempt = rate_limited = 0
        while True:
            attempt += 1
            await limiter.acquire()
            try:
                result = await fn()
            except ProviderError as exc:
                error = exc
                if self.observer is not None:
                    self.observer.provider_attempt(provider, exc)
            else:
                limiter.on_success(self.inner.rate_limit(provider))
                if self.observer is not None:
                    self.observer.provider_attempt(provider, None)
                return result, attempt
            finally:
                await limiter.release()
            if not error.retryable:
                raise error
            if error.kind == "rate_limit":
                limiter.on_rate_limited()
                rate_limited += 1
                spent = rate_limited > self.policy.max_rate_limited
            else:
                spent = attempt - rate_limited >= self.policy.max_attempts
            wait = error.retry_after_s
            if spent or (wait is not None and wait > self.policy.max_retry_after_s):
                raise ProviderError(
                    error.kind,
                    f"{error.message} (gave up after {attempt} attempts)",
                    status=error.status,
                    retry_after_s=wait,
                    param=error.param,
                )
            if self.observer is not None:
                self.observer.provider_retry(provider, error)
            await self._sleep(self.policy.delay(attempt - rate_limited or 1, wait, self._rng))
