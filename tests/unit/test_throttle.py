"""The adaptive limiter and the retrying `Models` wrapper (commands/throttle.py)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.ports import Completion, Message, ModelInfo, ProviderError, RateLimitState
from commands.throttle import AdaptiveLimiter, ResilientModels, RetryPolicy

Outcome = Completion | ProviderError


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Let the loop run until `condition` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.001)


async def spin(turns: int = 20) -> None:
    """Give every ready task a few turns of the loop (no wall-clock wait)."""
    for _ in range(turns):
        await asyncio.sleep(0)


class FakeModels:
    """A hand-written `Models`: answers from a script, counts calls and concurrency."""

    def __init__(self, script: Sequence[Outcome] = (), *, default: Outcome | None = None) -> None:
        self.script = list(script)
        self.default = default or Completion("ok")
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None
        self.state = RateLimitState()

    def providers(self) -> list[str]:
        return ["default", "local"]

    def split(self, model: str) -> tuple[str, str]:
        provider, sep, name = model.partition(":")
        return (provider, name) if sep and provider == "local" else ("default", model)

    def rate_limit(self, provider: str) -> RateLimitState:
        return self.state

    async def complete(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            outcome = self.script.pop(0) if self.script else self.default
            if isinstance(outcome, ProviderError):
                raise outcome
            return outcome
        finally:
            self.in_flight -= 1

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        await self.complete(model, [], {})
        return [[float(len(t))] for t in texts]

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        return [ModelInfo("m", provider)]


class Sleeps:
    """An injected `sleep` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def resilient(
    inner: FakeModels, sleeps: Sleeps, *, concurrency: int = 4, **policy: Any
) -> ResilientModels:
    return ResilientModels(
        inner, concurrency=concurrency, policy=RetryPolicy(**policy), sleep=sleeps, seed=7
    )


MESSAGES: list[Message] = [{"role": "user", "content": "hi"}]


# -- AdaptiveLimiter ------------------------------------------------------------------------


async def hold_slots(limiter: AdaptiveLimiter, workers: int, expect: int) -> int:
    """Start `workers` holders; check exactly `expect` get in; release; return the max."""
    gate = asyncio.Event()
    inside = 0
    most = 0
    finished = 0

    async def worker() -> None:
        nonlocal inside, most, finished
        await limiter.acquire()
        try:
            inside += 1
            most = max(most, inside)
            await gate.wait()
            inside -= 1
        finally:
            await limiter.release()
            finished += 1

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await wait_until(lambda: inside == expect)
    await spin()
    assert inside == expect, "a worker got in beyond the window"
    gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert finished == workers
    assert limiter.in_flight == 0
    return most


async def test_limiter_never_lets_more_than_limit_in_flight() -> None:
    limiter = AdaptiveLimiter(3)
    assert await hold_slots(limiter, workers=12, expect=3) == 3


async def test_limiter_after_a_429_admits_only_the_halved_window() -> None:
    limiter = AdaptiveLimiter(8)
    limiter.on_rate_limited()
    assert limiter.window == 4
    assert await hold_slots(limiter, workers=16, expect=4) == 4


def test_limiter_halves_on_each_429_down_to_the_floor() -> None:
    limiter = AdaptiveLimiter(16)
    windows = []
    for _ in range(6):
        limiter.on_rate_limited()
        windows.append(limiter.window)
    assert windows == [8, 4, 2, 1, 1, 1]


def test_limiter_regrows_one_slot_per_window_of_successes() -> None:
    limiter = AdaptiveLimiter(8)
    limiter.on_rate_limited()  # 8 -> 4
    ok = RateLimitState(remaining_requests=900, limit_requests=1000)
    for _ in range(3):
        limiter.on_success(ok)
    assert limiter.window == 4, "grew before a full window of successes"
    limiter.on_success(ok)
    assert limiter.window == 5
    for _ in range(4):
        limiter.on_success(ok)
    assert limiter.window == 5, "growth is additive: 5 successes are needed at window 5"
    limiter.on_success(ok)
    assert limiter.window == 6
    for _ in range(100):
        limiter.on_success(ok)
    assert limiter.window == 8, "never beyond the configured limit"


def test_limiter_shrinks_when_remaining_requests_run_low() -> None:
    limiter = AdaptiveLimiter(8)
    limiter.on_success(RateLimitState(remaining_requests=500, limit_requests=1000))
    assert limiter.window == 8
    limiter.on_success(RateLimitState(remaining_requests=10, limit_requests=1000))
    assert limiter.window == 4
    limiter.on_success(RateLimitState(remaining_requests=1, limit_requests=10))
    assert limiter.window == 2
    # Unknown headroom (no headers) is not pressure.
    limiter.on_success(RateLimitState())
    assert limiter.window == 2


def test_limiter_shrinks_when_remaining_tokens_run_low() -> None:
    limiter = AdaptiveLimiter(8)
    plenty = RateLimitState(
        remaining_requests=900, limit_requests=1000, remaining_tokens=150_000, limit_tokens=200_000
    )
    limiter.on_success(plenty)
    assert limiter.window == 8
    limiter.on_success(
        RateLimitState(
            remaining_requests=900,
            limit_requests=1000,
            remaining_tokens=5_000,
            limit_tokens=200_000,
        )
    )
    assert limiter.window == 4


async def test_limiter_wakes_waiters_when_the_window_regrows() -> None:
    limiter = AdaptiveLimiter(2)
    limiter.on_rate_limited()  # window 1
    await limiter.acquire()  # the one slot, held
    waiter = asyncio.create_task(limiter.acquire())
    await spin()
    assert not waiter.done(), "a second call got in with a window of 1"
    limiter.on_success(RateLimitState())  # window 1 -> 2 without any release
    await wait_until(waiter.done)
    assert limiter.in_flight == 2
    await limiter.release()
    await limiter.release()


# -- ResilientModels ------------------------------------------------------------------------


async def test_resilient_models_keeps_calls_within_the_concurrency() -> None:
    inner = FakeModels()
    inner.gate = asyncio.Event()
    models = resilient(inner, Sleeps(), concurrency=3)
    calls = [asyncio.create_task(models.complete("m", MESSAGES, {})) for _ in range(10)]
    await wait_until(lambda: inner.in_flight == 3)
    await spin()
    assert inner.in_flight == 3
    inner.gate.set()
    results = await asyncio.wait_for(asyncio.gather(*calls), 5)
    assert [r.text for r in results] == ["ok"] * 10
    assert inner.max_in_flight == 3


async def test_a_429_is_retried_after_the_retry_after_it_asked_for() -> None:
    inner = FakeModels([ProviderError("rate_limit", "slow down", status=429, retry_after_s=2.5)])
    sleeps = Sleeps()
    models = resilient(inner, sleeps, concurrency=8)
    completion, attempts = await models.complete_counted("m", MESSAGES, {})
    assert completion.text == "ok"
    assert attempts == 2 and inner.calls == 2
    assert len(sleeps.delays) == 1
    assert 2.5 <= sleeps.delays[0] <= 3.5
    assert models.limiter("default").window == 4, "a 429 halves the provider's window"


async def test_429s_use_their_own_budget_then_give_up() -> None:
    limited = ProviderError("rate_limit", "slow down", status=429, retry_after_s=0.2)
    inner = FakeModels(default=limited)
    sleeps = Sleeps()
    models = resilient(inner, sleeps, max_attempts=2, max_rate_limited=4)
    with pytest.raises(ProviderError) as err:
        await models.complete("m", MESSAGES, {})
    assert err.value.kind == "rate_limit"
    assert inner.calls == 5, "four 429s are retried, the fifth gives up"
    assert len(sleeps.delays) == 4
    assert all(d >= 0.2 for d in sleeps.delays)
    assert "gave up after 5 attempts" in err.value.message


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("server", "overloaded", status=503),
        ProviderError("timeout", "the provider did not answer in time"),
        ProviderError("connection", "could not reach the provider"),
    ],
    ids=lambda e: e.kind,
)
async def test_faults_are_retried_until_one_succeeds(error: ProviderError) -> None:
    inner = FakeModels([error, error, error])
    sleeps = Sleeps()
    models = resilient(inner, sleeps, max_attempts=4, base_delay_s=0.5, max_delay_s=30)
    completion, attempts = await models.complete_counted("m", MESSAGES, {})
    assert completion.text == "ok"
    assert attempts == 4 and inner.calls == 4
    assert len(sleeps.delays) == 3
    for n, delay in enumerate(sleeps.delays, start=1):
        assert 0 <= delay <= 0.5 * 2 ** (n - 1)


@pytest.mark.parametrize("kind", ["server", "timeout", "connection"])
async def test_faults_give_up_after_max_attempts_saying_how_many(kind: Any) -> None:
    inner = FakeModels(default=ProviderError(kind, "it broke", status=500))
    sleeps = Sleeps()
    models = resilient(inner, sleeps, max_attempts=3)
    with pytest.raises(ProviderError) as err:
        await models.complete("m", MESSAGES, {})
    assert err.value.kind == kind
    assert inner.calls == 3
    assert len(sleeps.delays) == 2
    assert "it broke" in err.value.message
    assert "3 attempts" in err.value.message


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("bad_request", "temperature unsupported", status=400, param="temperature"),
        ProviderError("auth", "Incorrect API key", status=401),
        ProviderError("not_found", "no such model", status=404),
    ],
    ids=lambda e: e.kind,
)
async def test_client_errors_are_raised_at_once(error: ProviderError) -> None:
    inner = FakeModels([error])
    sleeps = Sleeps()
    models = resilient(inner, sleeps)
    with pytest.raises(ProviderError) as err:
        await models.complete("m", MESSAGES, {})
    assert err.value is error
    assert inner.calls == 1
    assert sleeps.delays == []
    assert models.limiter("default").in_flight == 0


async def test_a_retry_after_beyond_the_maximum_is_not_waited_for() -> None:
    inner = FakeModels([ProviderError("rate_limit", "come back tomorrow", retry_after_s=500)])
    sleeps = Sleeps()
    models = resilient(inner, sleeps, max_retry_after_s=120)
    with pytest.raises(ProviderError) as err:
        await models.complete("m", MESSAGES, {})
    assert err.value.kind == "rate_limit"
    assert err.value.retry_after_s == 500
    assert inner.calls == 1
    assert sleeps.delays == []
    assert "1 attempts" in err.value.message


async def test_embed_is_retried_and_limits_are_per_provider() -> None:
    inner = FakeModels([ProviderError("server", "boom", status=502)])
    sleeps = Sleeps()
    models = resilient(inner, sleeps)
    assert await models.embed("local:e5", ["ab", "abc"]) == [[2.0], [3.0]]
    assert inner.calls == 2 and len(sleeps.delays) == 1
    inner.script = [ProviderError("rate_limit", "slow", retry_after_s=0.1)]
    await models.complete("local:m", MESSAGES, {})
    assert models.limiter("local").window == 2
    assert models.limiter("default").window == 4, "a 429 on one provider slows only that one"


# -- RetryPolicy.delay ----------------------------------------------------------------------


@given(
    attempt=st.integers(min_value=1, max_value=60),
    base=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=0.01, max_value=120),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_delay_is_within_zero_and_the_capped_exponential(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(base_delay_s=base, max_delay_s=cap)
    backoff = min(cap, base * 2 ** (attempt - 1))
    delay = policy.delay(attempt, None, random.Random(seed))
    assert 0 <= delay <= backoff


@given(
    attempt=st.integers(min_value=1, max_value=60),
    retry_after=st.floats(min_value=0, max_value=120),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_never_shorter_than_retry_after(attempt: int, retry_after: float, seed: int) -> None:
    delay = RetryPolicy().delay(attempt, retry_after, random.Random(seed))
    assert retry_after <= delay <= retry_after + 1.0


def test_backoff_spreads_over_its_range() -> None:
    """Full jitter: the delays of one attempt are not all the same value."""
    policy = RetryPolicy(base_delay_s=1, max_delay_s=30)
    rng = random.Random(3)
    delays = [policy.delay(4, None, rng) for _ in range(200)]
    assert max(delays) > 6 and min(delays) < 2
